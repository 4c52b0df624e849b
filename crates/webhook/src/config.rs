//! Defaulting and validation of admissionregistration.k8s.io/v1 Mutating- and
//! ValidatingWebhookConfigurations, as upstream's `pkg/apis/admissionregistration/v1/defaults.go`
//! and `pkg/apis/admissionregistration/validation/validation.go`.
//!
//! Both work on the JSON object the API server decoded, so the server can call them from its
//! generic create and update paths. Object metadata is validated by the server's generic
//! metadata rules, not here. CEL match conditions are checked for shape (name, expression,
//! count) but not compiled: Bosun has no CEL.

use std::collections::{BTreeMap, HashSet};

use bosun_api::FieldError;
use bosun_api::meta::{NameRule, name_problems};
use serde_json::{Value, json};

use crate::url;

/// Which kind of configuration an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookKind {
    /// `MutatingWebhookConfiguration`
    Mutating,
    /// `ValidatingWebhookConfiguration`
    Validating,
}

fn set_if_missing(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut()
        && map.get(key).is_none_or(Value::is_null)
    {
        map.insert(key.to_string(), value);
    }
}

/// Applies upstream's v1 defaults to a configuration in place: per webhook `failurePolicy:
/// Fail`, `matchPolicy: Equivalent`, `namespaceSelector: {}`, `objectSelector: {}`,
/// `timeoutSeconds: 10` (and `reinvocationPolicy: Never` for mutating webhooks); per rule
/// `scope: "*"`; per service reference `port: 443`.
pub fn default_configuration(kind: WebhookKind, obj: &mut Value) {
    let Some(hooks) = obj.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return;
    };
    for hook in hooks.iter_mut().filter(|h| h.is_object()) {
        set_if_missing(hook, "failurePolicy", json!("Fail"));
        set_if_missing(hook, "matchPolicy", json!("Equivalent"));
        set_if_missing(hook, "namespaceSelector", json!({}));
        set_if_missing(hook, "objectSelector", json!({}));
        set_if_missing(hook, "timeoutSeconds", json!(10));
        if kind == WebhookKind::Mutating {
            set_if_missing(hook, "reinvocationPolicy", json!("Never"));
        }
        if let Some(rules) = hook.get_mut("rules").and_then(Value::as_array_mut) {
            for rule in rules.iter_mut() {
                set_if_missing(rule, "scope", json!("*"));
            }
        }
        if let Some(service) = hook.pointer_mut("/clientConfig/service")
            && service.is_object()
        {
            set_if_missing(service, "port", json!(443));
        }
    }
}

/// What an update may keep that a create may not (upstream's `validationOptions`).
#[derive(Clone, Copy, Debug)]
struct Options {
    ignore_match_conditions: bool,
    require_no_side_effects: bool,
    require_recognized_review_version: bool,
    require_unique_names: bool,
    allow_invalid_label_value: bool,
}

const CREATE: Options = Options {
    ignore_match_conditions: false,
    require_no_side_effects: true,
    require_recognized_review_version: true,
    require_unique_names: true,
    allow_invalid_label_value: false,
};

/// Validates a configuration about to be created; the errors carry upstream's field paths
/// (`webhooks[0].name`) and messages, ready for a 422 Invalid answer.
pub fn validate_configuration(kind: WebhookKind, obj: &Value) -> Vec<FieldError> {
    validate_with(kind, obj, CREATE)
}

/// Validates an update. As upstream, problems the old object already had (side effects,
/// unknown review versions, duplicate names, invalid selector values, unchanged match
/// conditions) do not block the update.
pub fn validate_configuration_update(
    kind: WebhookKind,
    new: &Value,
    old: &Value,
) -> Vec<FieldError> {
    let old_hooks = hooks(old);
    let new_hooks = hooks(new);
    let same_conditions = old_hooks.len() == new_hooks.len()
        && old_hooks
            .iter()
            .zip(new_hooks.iter())
            .all(|(o, n)| o.get("matchConditions") == n.get("matchConditions"));
    let opts = Options {
        ignore_match_conditions: same_conditions,
        require_no_side_effects: old_hooks.iter().all(|h| {
            h.get("sideEffects")
                .and_then(Value::as_str)
                .is_some_and(|s| NO_SIDE_EFFECTS.contains(&s))
        }),
        require_recognized_review_version: old_hooks.iter().all(|h| {
            let versions = strings(h.get("admissionReviewVersions"));
            versions.is_empty()
                || versions
                    .iter()
                    .any(|v| ACCEPTED_REVIEW_VERSIONS.contains(&v.as_str()))
        }),
        require_unique_names: {
            let mut seen = HashSet::new();
            old_hooks.iter().all(|h| seen.insert(str_of(h, "name")))
        },
        allow_invalid_label_value: old_hooks.iter().any(|h| {
            ["namespaceSelector", "objectSelector"].iter().any(|sel| {
                h.get(*sel).is_some_and(|s| {
                    !s.is_null() && !validate_label_selector(s, false, "").is_empty()
                })
            })
        }),
    };
    validate_with(kind, new, opts)
}

const ACCEPTED_REVIEW_VERSIONS: [&str; 2] = ["v1", "v1beta1"];
const FAILURE_POLICIES: [&str; 2] = ["Fail", "Ignore"];
const MATCH_POLICIES: [&str; 2] = ["Equivalent", "Exact"];
const NO_SIDE_EFFECTS: [&str; 2] = ["None", "NoneOnDryRun"];
const ALL_SIDE_EFFECTS: [&str; 4] = ["None", "NoneOnDryRun", "Some", "Unknown"];
const OPERATIONS: [&str; 5] = ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const REINVOCATION_POLICIES: [&str; 2] = ["IfNeeded", "Never"];
const SCOPES: [&str; 3] = ["*", "Cluster", "Namespaced"];

fn hooks(obj: &Value) -> &[Value] {
    obj.get("webhooks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn str_of<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A string list field; `None` when absent or null (Go's nil slice).
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Go's `%#v` of a string slice: `[]string{"a", "b"}` (`[]string(nil)` for nil).
fn go_slice(type_name: &str, v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => format!("{type_name}(nil)"),
        Some(items) => {
            let shown: Vec<String> = items
                .iter()
                .map(|s| format!("{:?}", s.as_str().unwrap_or_default()))
                .collect();
            format!("{type_name}{{{}}}", shown.join(", "))
        }
    }
}

fn too_many(field: String, actual: usize, max: usize) -> FieldError {
    FieldError {
        reason: "FieldValueTooMany",
        field,
        body: format!("Too many: {actual}: must have at most {max} items"),
    }
}

fn validate_with(kind: WebhookKind, obj: &Value, opts: Options) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, hook) in hooks(obj).iter().enumerate() {
        let path = format!("webhooks[{i}]");
        validate_webhook(kind, hook, opts, &path, &mut errs);
        validate_review_versions(
            hook.get("admissionReviewVersions"),
            opts.require_recognized_review_version,
            &format!("{path}.admissionReviewVersions"),
            &mut errs,
        );
        let name = str_of(hook, "name");
        if opts.require_unique_names && !name.is_empty() && !names.insert(name) {
            errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
        }
    }
    errs
}

fn validate_webhook(
    kind: WebhookKind,
    hook: &Value,
    opts: Options,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    validate_fully_qualified_name(str_of(hook, "name"), &format!("{path}.name"), errs);
    if let Some(rules) = hook.get("rules").and_then(Value::as_array) {
        for (j, rule) in rules.iter().enumerate() {
            validate_rule_with_operations(rule, &format!("{path}.rules[{j}]"), errs);
        }
    }
    enum_field(hook, "failurePolicy", &FAILURE_POLICIES, path, errs);
    enum_field(hook, "matchPolicy", &MATCH_POLICIES, path, errs);
    let allowed: &[&str] = if opts.require_no_side_effects {
        &NO_SIDE_EFFECTS
    } else {
        &ALL_SIDE_EFFECTS
    };
    // An empty string is an absent field: the server's typed decoding writes required strings
    // it did not receive as "", where upstream's optional pointer stays nil.
    match hook
        .get("sideEffects")
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
    {
        None => errs.push(FieldError::required(
            format!("{path}.sideEffects"),
            &format!("must specify one of {}", allowed.join(", ")),
        )),
        Some(v) if !allowed.contains(&v.as_str().unwrap_or_default()) => errs.push(
            FieldError::not_supported(format!("{path}.sideEffects"), v, allowed),
        ),
        Some(_) => {}
    }
    if let Some(t) = hook.get("timeoutSeconds").and_then(Value::as_i64)
        && !(1..=30).contains(&t)
    {
        errs.push(FieldError::invalid(
            format!("{path}.timeoutSeconds"),
            &json!(t),
            "the timeout value must be between 1 and 30 seconds",
        ));
    }
    for sel in ["namespaceSelector", "objectSelector"] {
        if let Some(s) = hook.get(sel).filter(|s| !s.is_null()) {
            errs.extend(validate_label_selector(
                s,
                opts.allow_invalid_label_value,
                &format!("{path}.{sel}"),
            ));
        }
    }
    if kind == WebhookKind::Mutating {
        enum_field(
            hook,
            "reinvocationPolicy",
            &REINVOCATION_POLICIES,
            path,
            errs,
        );
    }
    validate_client_config(
        hook.get("clientConfig"),
        &format!("{path}.clientConfig"),
        errs,
    );
    if !opts.ignore_match_conditions {
        validate_match_conditions(
            hook.get("matchConditions"),
            &format!("{path}.matchConditions"),
            errs,
        );
    }
}

fn enum_field(obj: &Value, key: &str, supported: &[&str], path: &str, errs: &mut Vec<FieldError>) {
    if let Some(v) = obj.get(key).filter(|v| !v.is_null())
        && !supported.contains(&v.as_str().unwrap_or_default())
    {
        errs.push(FieldError::not_supported(
            format!("{path}.{key}"),
            v,
            supported,
        ));
    }
}

/// Upstream's `IsFullyQualifiedName`: a DNS subdomain with at least three segments.
fn validate_fully_qualified_name(name: &str, field: &str, errs: &mut Vec<FieldError>) {
    if name.is_empty() {
        errs.push(FieldError::required(field, ""));
        return;
    }
    let problems = name_problems(name, NameRule::Subdomain);
    if !problems.is_empty() {
        errs.push(FieldError::invalid(
            field,
            &json!(name),
            &problems.join(","),
        ));
    } else if name.split('.').count() < 3 {
        errs.push(FieldError::invalid(
            field,
            &json!(name),
            "should be a domain with at least three segments separated by dots",
        ));
    }
}

fn has_wildcard(items: &[String]) -> bool {
    items.iter().any(|s| s == "*")
}

fn validate_rule_with_operations(rule: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let ops = strings(rule.get("operations"));
    if ops.is_empty() {
        errs.push(FieldError::required(format!("{path}.operations"), ""));
    }
    if ops.len() > 1 && has_wildcard(&ops) {
        errs.push(FieldError::invalid_shown(
            format!("{path}.operations"),
            &go_slice(
                "[]admissionregistration.OperationType",
                rule.get("operations"),
            ),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (k, op) in ops.iter().enumerate() {
        if !OPERATIONS.contains(&op.as_str()) {
            errs.push(FieldError::not_supported(
                format!("{path}.operations[{k}]"),
                &json!(op),
                &OPERATIONS,
            ));
        }
    }
    let groups = strings(rule.get("apiGroups"));
    if groups.is_empty() {
        errs.push(FieldError::required(format!("{path}.apiGroups"), ""));
    }
    if groups.len() > 1 && has_wildcard(&groups) {
        errs.push(FieldError::invalid_shown(
            format!("{path}.apiGroups"),
            &go_slice("[]string", rule.get("apiGroups")),
            "if '*' is present, must not specify other API groups",
        ));
    }
    let versions = strings(rule.get("apiVersions"));
    if versions.is_empty() {
        errs.push(FieldError::required(format!("{path}.apiVersions"), ""));
    }
    if versions.len() > 1 && has_wildcard(&versions) {
        errs.push(FieldError::invalid_shown(
            format!("{path}.apiVersions"),
            &go_slice("[]string", rule.get("apiVersions")),
            "if '*' is present, must not specify other API versions",
        ));
    }
    for (k, v) in versions.iter().enumerate() {
        if v.is_empty() {
            errs.push(FieldError::required(format!("{path}.apiVersions[{k}]"), ""));
        }
    }
    validate_resources(rule.get("resources"), &format!("{path}.resources"), errs);
    if let Some(scope) = rule.get("scope").filter(|v| !v.is_null())
        && !SCOPES.contains(&scope.as_str().unwrap_or_default())
    {
        errs.push(FieldError::not_supported(
            format!("{path}.scope"),
            scope,
            &SCOPES,
        ));
    }
}

fn validate_resources(value: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let resources = strings(value);
    if resources.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    let mut with_wildcard_sub: HashSet<&str> = HashSet::new();
    let mut sub_with_wildcard_res: HashSet<&str> = HashSet::new();
    let mut double_wildcard = false;
    let mut single_wildcard = false;
    let mut without_subresource = false;
    for (i, res_sub) in resources.iter().enumerate() {
        if res_sub.is_empty() {
            errs.push(FieldError::required(format!("{path}[{i}]"), ""));
            continue;
        }
        double_wildcard |= res_sub == "*/*";
        single_wildcard |= res_sub == "*";
        let Some((res, sub)) = res_sub.split_once('/') else {
            // As upstream: the last plain entry decides.
            without_subresource = res_sub != "*";
            continue;
        };
        if with_wildcard_sub.contains(res) {
            errs.push(FieldError::invalid(
                format!("{path}[{i}]"),
                &json!(res_sub),
                &format!("if '{res}/*' is present, must not specify {res_sub}"),
            ));
        }
        if sub_with_wildcard_res.contains(sub) {
            errs.push(FieldError::invalid(
                format!("{path}[{i}]"),
                &json!(res_sub),
                &format!("if '*/{sub}' is present, must not specify {res_sub}"),
            ));
        }
        if sub == "*" {
            with_wildcard_sub.insert(res);
        }
        if res == "*" {
            sub_with_wildcard_res.insert(sub);
        }
    }
    if resources.len() > 1 && double_wildcard {
        errs.push(FieldError::invalid_shown(
            path,
            &go_slice("[]string", value),
            "if '*/*' is present, must not specify other resources",
        ));
    }
    if single_wildcard && without_subresource {
        errs.push(FieldError::invalid_shown(
            path,
            &go_slice("[]string", value),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
}

fn validate_review_versions(
    value: Option<&Value>,
    require_recognized: bool,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let versions = strings(value);
    if versions.is_empty() {
        errs.push(FieldError::required(
            path,
            &format!(
                "must specify one of {}",
                ACCEPTED_REVIEW_VERSIONS.join(", ")
            ),
        ));
        return;
    }
    let mut seen = HashSet::new();
    let mut has_accepted = false;
    for (i, v) in versions.iter().enumerate() {
        if !seen.insert(v.as_str()) {
            errs.push(FieldError::invalid(
                format!("{path}[{i}]"),
                &json!(v),
                "duplicate version",
            ));
            continue;
        }
        for problem in name_problems(v, NameRule::Dns1035) {
            errs.push(FieldError::invalid(
                format!("{path}[{i}]"),
                &json!(v),
                &problem,
            ));
        }
        has_accepted |= ACCEPTED_REVIEW_VERSIONS.contains(&v.as_str());
    }
    if require_recognized && !has_accepted {
        errs.push(FieldError::invalid_shown(
            path,
            &go_slice("[]string", value),
            &format!(
                "must include at least one of {}",
                ACCEPTED_REVIEW_VERSIONS.join(", ")
            ),
        ));
    }
}

fn validate_client_config(cc: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let get = |k: &str| cc.and_then(|c| c.get(k)).filter(|v| !v.is_null());
    match (get("url"), get("service")) {
        (Some(_), Some(_)) | (None, None) => errs.push(FieldError::required(
            path,
            "exactly one of url or service is required",
        )),
        (Some(u), None) => {
            validate_url(u.as_str().unwrap_or_default(), &format!("{path}.url"), errs)
        }
        (None, Some(s)) => validate_service(s, &format!("{path}.service"), errs),
    }
}

/// Upstream's `ValidateWebhookURL` with `forceHttps`.
fn validate_url(raw: &str, path: &str, errs: &mut Vec<FieldError>) {
    const FORM: &str = "; desired format: https://host[/path]";
    let u = match url::parse(raw) {
        Ok(u) => u,
        Err(e) => {
            errs.push(FieldError::required(
                path,
                &format!("url must be a valid URL: {e}{FORM}"),
            ));
            return;
        }
    };
    if u.scheme != "https" {
        errs.push(FieldError::invalid(
            path,
            &json!(u.scheme),
            &format!("'https' is the only allowed URL scheme{FORM}"),
        ));
    }
    if u.host.is_empty() {
        errs.push(FieldError::invalid(
            path,
            &json!(u.host),
            &format!("host must be provided{FORM}"),
        ));
    }
    if let Some(user) = &u.user {
        errs.push(FieldError::invalid(
            path,
            &json!(user),
            "user information is not permitted in the URL",
        ));
    }
    if !u.fragment.is_empty() {
        errs.push(FieldError::invalid(
            path,
            &json!(u.fragment),
            "fragments are not permitted in the URL",
        ));
    }
    if !u.raw_query.is_empty() {
        errs.push(FieldError::invalid(
            path,
            &json!(u.raw_query),
            "query parameters are not permitted in the URL",
        ));
    }
}

/// Upstream's `ValidateWebhookService`.
fn validate_service(svc: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if str_of(svc, "name").is_empty() {
        errs.push(FieldError::required(
            format!("{path}.name"),
            "service name is required",
        ));
    }
    if str_of(svc, "namespace").is_empty() {
        errs.push(FieldError::required(
            format!("{path}.namespace"),
            "service namespace is required",
        ));
    }
    // An absent port is defaulted to 443 before validation.
    let port = svc.get("port").and_then(Value::as_i64).unwrap_or(443);
    if !(1..=65535).contains(&port) {
        errs.push(FieldError::invalid(
            format!("{path}.port"),
            &json!(port),
            "port is not valid: must be between 1 and 65535, inclusive",
        ));
    }
    let Some(url_path) = svc.get("path").and_then(Value::as_str) else {
        return;
    };
    let field = format!("{path}.path");
    if url_path.is_empty() || url_path == "/" {
        return;
    }
    if url_path == "//" {
        errs.push(FieldError::invalid(
            &field,
            &json!(url_path),
            "segment[0] may not be empty",
        ));
        return;
    }
    if !url_path.starts_with('/') {
        errs.push(FieldError::invalid(
            &field,
            &json!(url_path),
            "must start with a '/'",
        ));
    }
    // As upstream: the first byte is dropped whatever it is, then one trailing slash.
    let mut to_check = url_path.get(1..).unwrap_or_default();
    to_check = to_check.strip_suffix('/').unwrap_or(to_check);
    for (i, step) in to_check.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(
                &field,
                &json!(url_path),
                &format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for problem in name_problems(step, NameRule::Subdomain) {
            errs.push(FieldError::invalid(
                &field,
                &json!(url_path),
                &format!("segment[{i}]: {problem}"),
            ));
        }
    }
}

fn validate_match_conditions(value: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let conditions = value
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if conditions.len() > 64 {
        errs.push(too_many(path.to_string(), conditions.len(), 64));
    }
    let mut names = HashSet::new();
    for (i, c) in conditions.iter().enumerate() {
        let item = format!("{path}[{i}]");
        if str_of(c, "expression").trim().is_empty() {
            errs.push(FieldError::required(format!("{item}.expression"), ""));
        }
        let name = str_of(c, "name");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{item}.name"), ""));
        } else {
            for problem in qualified_name_problems(name) {
                errs.push(FieldError::invalid(
                    format!("{item}.name"),
                    &json!(name),
                    &problem,
                ));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(format!("{item}.name"), &json!(name)));
            }
        }
    }
}

const QUALIFIED_NAME_REGEX_ERROR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn qualified_name_part_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Upstream's `IsQualifiedName`, message for message.
///
/// Written here rather than taken from `bosun_api::meta` because upstream reports an empty name
/// part twice (empty and pattern) and has its own message for more than one `/`, which the
/// metadata helper does not reproduce.
pub(crate) fn qualified_name_problems(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                out.push("prefix part must be non-empty".to_string());
            } else {
                out.extend(
                    name_problems(prefix, NameRule::Subdomain)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            out.push(format!(
                "a qualified name {QUALIFIED_NAME_REGEX_ERROR} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return out;
        }
    };
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        out.push("name part must be no more than 63 characters".to_string());
    }
    if !qualified_name_part_ok(name) {
        out.push(format!("name part {QUALIFIED_NAME_REGEX_ERROR}"));
    }
    out
}

fn label_value_problems(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    if v.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    if !v.is_empty() && !qualified_name_part_ok(v) {
        out.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string());
    }
    out
}

/// Upstream's `metav1validation.ValidateLabelSelector`.
fn validate_label_selector(sel: &Value, allow_invalid_values: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        let field = format!("{path}.matchLabels");
        let sorted: BTreeMap<&String, &Value> = labels.iter().collect();
        for (k, v) in sorted {
            for problem in qualified_name_problems(k) {
                errs.push(FieldError::invalid(&field, &json!(k), &problem));
            }
            let v = v.as_str().unwrap_or_default();
            for problem in label_value_problems(v) {
                errs.push(FieldError::invalid(&field, &json!(v), &problem));
            }
        }
    }
    let exprs = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, expr) in exprs.iter().enumerate() {
        let item = format!("{path}.matchExpressions[{i}]");
        let values = strings(expr.get("values"));
        let operator = str_of(expr, "operator");
        match operator {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                format!("{item}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                format!("{item}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                format!("{item}.operator"),
                &json!(other),
                "not a valid selector operator",
            )),
        }
        let key = str_of(expr, "key");
        for problem in qualified_name_problems(key) {
            errs.push(FieldError::invalid(
                format!("{item}.key"),
                &json!(key),
                &problem,
            ));
        }
        if !allow_invalid_values {
            for (j, v) in values.iter().enumerate() {
                for problem in label_value_problems(v) {
                    errs.push(FieldError::invalid(
                        format!("{item}.values[{j}]"),
                        &json!(v),
                        &problem,
                    ));
                }
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_hook() -> Value {
        json!({
            "name": "pods.policy.example.com",
            "clientConfig": {"url": "https://hook.example.com/validate"},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        })
    }

    fn config_with(changes: &[(&str, Value)]) -> Value {
        let mut hook = valid_hook();
        for (pointer, value) in changes {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = if parent.is_empty() {
                &mut hook
            } else {
                hook.pointer_mut(parent).unwrap()
            };
            if value.is_null() {
                target.as_object_mut().unwrap().remove(key);
            } else {
                target[key] = value.clone();
            }
        }
        json!({"metadata": {"name": "c"}, "webhooks": [hook]})
    }

    fn messages(kind: WebhookKind, obj: &Value) -> Vec<String> {
        validate_configuration(kind, obj)
            .iter()
            .map(FieldError::message)
            .collect()
    }

    #[test]
    fn a_valid_configuration_has_no_errors() {
        assert!(messages(WebhookKind::Validating, &config_with(&[])).is_empty());
        let mut obj = config_with(&[]);
        default_configuration(WebhookKind::Mutating, &mut obj);
        assert!(messages(WebhookKind::Mutating, &obj).is_empty());
    }

    #[test]
    fn invalid_webhooks_get_upstreams_messages() {
        let cases: Vec<(Vec<(&str, Value)>, &str)> = vec![
            (
                vec![("/name", json!(""))],
                "webhooks[0].name: Required value",
            ),
            (
                vec![("/name", json!("hook.example"))],
                "webhooks[0].name: Invalid value: \"hook.example\": should be a domain with at least three segments separated by dots",
            ),
            (
                vec![("/name", json!("Hook.Example.com"))],
                "webhooks[0].name: Invalid value: \"Hook.Example.com\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ),
            (
                vec![("/sideEffects", Value::Null)],
                "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
            ),
            (
                vec![("/sideEffects", json!("Some"))],
                "webhooks[0].sideEffects: Unsupported value: \"Some\": supported values: \"None\", \"NoneOnDryRun\"",
            ),
            (
                vec![("/admissionReviewVersions", Value::Null)],
                "webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1",
            ),
            (
                vec![("/admissionReviewVersions", json!(["v2"]))],
                "webhooks[0].admissionReviewVersions: Invalid value: []string{\"v2\"}: must include at least one of v1, v1beta1",
            ),
            (
                vec![("/admissionReviewVersions", json!(["v1", "v1"]))],
                "webhooks[0].admissionReviewVersions[1]: Invalid value: \"v1\": duplicate version",
            ),
            (
                vec![("/clientConfig", json!({}))],
                "webhooks[0].clientConfig: Required value: exactly one of url or service is required",
            ),
            (
                vec![("/clientConfig", json!({"url": "http://hook.example.com"}))],
                "webhooks[0].clientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
            ),
            (
                vec![(
                    "/clientConfig",
                    json!({"url": "https://hook.example.com/?a=b"}),
                )],
                "webhooks[0].clientConfig.url: Invalid value: \"a=b\": query parameters are not permitted in the URL",
            ),
            (
                vec![("/clientConfig", json!({"url": "https:///path"}))],
                "webhooks[0].clientConfig.url: Invalid value: \"\": host must be provided; desired format: https://host[/path]",
            ),
            (
                vec![(
                    "/clientConfig",
                    json!({"service": {"namespace": "ns", "name": "svc", "port": 0}}),
                )],
                "webhooks[0].clientConfig.service.port: Invalid value: 0: port is not valid: must be between 1 and 65535, inclusive",
            ),
            (
                vec![(
                    "/clientConfig",
                    json!({"service": {"namespace": "ns", "name": "", "path": "/a//b"}}),
                )],
                "webhooks[0].clientConfig.service.name: Required value: service name is required",
            ),
            (
                vec![(
                    "/clientConfig",
                    json!({"service": {"namespace": "ns", "name": "s", "path": "foo"}}),
                )],
                "webhooks[0].clientConfig.service.path: Invalid value: \"foo\": must start with a '/'",
            ),
            (
                vec![("/timeoutSeconds", json!(31))],
                "webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds",
            ),
            (
                vec![("/failurePolicy", json!("Sometimes"))],
                "webhooks[0].failurePolicy: Unsupported value: \"Sometimes\": supported values: \"Fail\", \"Ignore\"",
            ),
            (
                vec![("/matchPolicy", json!("Fuzzy"))],
                "webhooks[0].matchPolicy: Unsupported value: \"Fuzzy\": supported values: \"Equivalent\", \"Exact\"",
            ),
            (
                vec![("/rules/0/operations", json!(["*", "CREATE"]))],
                "webhooks[0].rules[0].operations: Invalid value: []admissionregistration.OperationType{\"*\", \"CREATE\"}: if '*' is present, must not specify other operations",
            ),
            (
                vec![("/rules/0/operations", json!(["PATCH"]))],
                "webhooks[0].rules[0].operations[0]: Unsupported value: \"PATCH\": supported values: \"*\", \"CONNECT\", \"CREATE\", \"DELETE\", \"UPDATE\"",
            ),
            (
                vec![("/rules/0/apiVersions", json!([]))],
                "webhooks[0].rules[0].apiVersions: Required value",
            ),
            (
                vec![("/rules/0/resources", json!(["*/*", "pods"]))],
                "webhooks[0].rules[0].resources: Invalid value: []string{\"*/*\", \"pods\"}: if '*/*' is present, must not specify other resources",
            ),
            (
                vec![("/rules/0/resources", json!(["pods/*", "pods/status"]))],
                "webhooks[0].rules[0].resources[1]: Invalid value: \"pods/status\": if 'pods/*' is present, must not specify pods/status",
            ),
            (
                vec![("/rules/0/resources", json!(["*/status", "pods/status"]))],
                "webhooks[0].rules[0].resources[1]: Invalid value: \"pods/status\": if '*/status' is present, must not specify pods/status",
            ),
            (
                vec![("/rules/0/resources", json!(["*", "pods"]))],
                "webhooks[0].rules[0].resources: Invalid value: []string{\"*\", \"pods\"}: if '*' is present, must not specify other resources without subresources",
            ),
            (
                vec![("/rules/0/scope", json!("Global"))],
                "webhooks[0].rules[0].scope: Unsupported value: \"Global\": supported values: \"*\", \"Cluster\", \"Namespaced\"",
            ),
            (
                vec![(
                    "/objectSelector",
                    json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                )],
                "webhooks[0].objectSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            ),
            (
                vec![(
                    "/matchConditions",
                    json!([{"name": "a", "expression": " "}]),
                )],
                "webhooks[0].matchConditions[0].expression: Required value",
            ),
        ];
        for (changes, want) in cases {
            let got = messages(WebhookKind::Validating, &config_with(&changes));
            assert!(got.iter().any(|m| m == want), "want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn reinvocation_policy_is_checked_only_for_mutating_webhooks() {
        let obj = config_with(&[("/reinvocationPolicy", json!("Always"))]);
        assert_eq!(
            messages(WebhookKind::Mutating, &obj),
            [
                "webhooks[0].reinvocationPolicy: Unsupported value: \"Always\": supported values: \"IfNeeded\", \"Never\""
            ]
        );
        assert!(messages(WebhookKind::Validating, &obj).is_empty());
    }

    #[test]
    fn duplicate_webhook_names_are_refused_on_create_but_kept_on_update() {
        let hook = valid_hook();
        let obj = json!({"webhooks": [hook, hook]});
        assert_eq!(
            messages(WebhookKind::Validating, &obj),
            ["webhooks[1].name: Duplicate value: \"pods.policy.example.com\""]
        );
        assert!(validate_configuration_update(WebhookKind::Validating, &obj, &obj).is_empty());
    }

    #[test]
    fn side_effects_some_stays_allowed_on_update_when_already_there() {
        let old = config_with(&[("/sideEffects", json!("Some"))]);
        assert!(validate_configuration_update(WebhookKind::Validating, &old, &old).is_empty());
        let fine = config_with(&[]);
        assert_eq!(
            validate_configuration_update(WebhookKind::Validating, &old, &fine).len(),
            1
        );
    }

    #[test]
    fn defaults_fill_upstreams_v1_values() {
        let mut obj = json!({"webhooks": [{
            "name": "a.b.c",
            "clientConfig": {"service": {"namespace": "n", "name": "s"}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["*"]}],
        }]});
        default_configuration(WebhookKind::Mutating, &mut obj);
        let h = &obj["webhooks"][0];
        assert_eq!(h["failurePolicy"], "Fail");
        assert_eq!(h["matchPolicy"], "Equivalent");
        assert_eq!(h["namespaceSelector"], json!({}));
        assert_eq!(h["objectSelector"], json!({}));
        assert_eq!(h["timeoutSeconds"], 10);
        assert_eq!(h["reinvocationPolicy"], "Never");
        assert_eq!(h["rules"][0]["scope"], "*");
        assert_eq!(h["clientConfig"]["service"]["port"], 443);
        let mut v = json!({"webhooks": [{"failurePolicy": "Ignore"}]});
        default_configuration(WebhookKind::Validating, &mut v);
        assert_eq!(v["webhooks"][0]["failurePolicy"], "Ignore");
        assert!(v["webhooks"][0].get("reinvocationPolicy").is_none());
    }

    #[test]
    fn qualified_names_report_like_upstream() {
        assert!(qualified_name_problems("example.com/name").is_empty());
        assert_eq!(
            qualified_name_problems("/x"),
            ["prefix part must be non-empty"]
        );
        assert_eq!(qualified_name_problems("a/").len(), 2);
        assert!(qualified_name_problems("a/b/c")[0].starts_with("a qualified name must consist"));
    }
}
