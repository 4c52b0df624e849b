//! Which webhooks a request reaches: upstream's rule matcher
//! (admission/plugin/webhook/predicates/rules), namespace and object selectors
//! (predicates/namespace, predicates/object), and the resources never sent to webhooks.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhook,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::attributes::{Attributes, Operation};

/// Whether upstream exempts the request from webhooks altogether: admission of the
/// admissionregistration objects themselves, so a broken webhook can always be removed.
pub fn is_exempt(attrs: &Attributes) -> bool {
    attrs.kind.group == "admissionregistration.k8s.io"
        && matches!(
            attrs.kind.kind.as_str(),
            "ValidatingWebhookConfiguration"
                | "MutatingWebhookConfiguration"
                | "ValidatingAdmissionPolicy"
                | "ValidatingAdmissionPolicyBinding"
                | "MutatingAdmissionPolicy"
                | "MutatingAdmissionPolicyBinding"
        )
}

fn exact_or_wildcard(items: Option<&Vec<String>>, requested: &str) -> bool {
    items
        .into_iter()
        .flatten()
        .any(|item| item == "*" || item == requested)
}

fn is_namespace_resource(attrs: &Attributes) -> bool {
    attrs.resource.group.is_empty()
        && attrs.resource.version == "v1"
        && attrs.resource.resource == "namespaces"
}

fn scope_matches(rule: &RuleWithOperations, attrs: &Attributes) -> bool {
    match rule.scope.as_deref() {
        None | Some("*") => true,
        // Namespace objects are cluster-scoped even though their requests carry a namespace.
        Some("Namespaced") => !is_namespace_resource(attrs) && !attrs.namespace.is_empty(),
        Some("Cluster") => is_namespace_resource(attrs) || attrs.namespace.is_empty(),
        Some(_) => false,
    }
}

fn operation_matches(rule: &RuleWithOperations, op: Operation) -> bool {
    rule.operations
        .iter()
        .flatten()
        .any(|o| o == "*" || o == op.as_str())
}

fn resource_matches(rule: &RuleWithOperations, attrs: &Attributes) -> bool {
    rule.resources.iter().flatten().any(|entry| {
        let (res, sub) = entry.split_once('/').unwrap_or((entry.as_str(), ""));
        (res == "*" || res == attrs.resource.resource) && (sub == "*" || sub == attrs.subresource)
    })
}

/// Whether one rule matches the request exactly (matchPolicy `Exact`), as upstream's
/// `rules.Matcher`: scope, operation, group, version and resource/subresource, each with `*`.
pub fn rule_matches(rule: &RuleWithOperations, attrs: &Attributes) -> bool {
    scope_matches(rule, attrs)
        && operation_matches(rule, attrs.operation)
        && exact_or_wildcard(rule.api_groups.as_ref(), &attrs.resource.group)
        && exact_or_wildcard(rule.api_versions.as_ref(), &attrs.resource.version)
        && resource_matches(rule, attrs)
}

/// Whether one rule matches the request under matchPolicy `Equivalent`.
///
/// Limit: upstream asks the server which other versions serve the same resource and converts
/// the object to the matched version. Bosun cannot convert here, so any version of the same
/// group and resource counts as equivalent and the webhook receives the request's own version.
pub fn rule_matches_equivalent(rule: &RuleWithOperations, attrs: &Attributes) -> bool {
    scope_matches(rule, attrs)
        && operation_matches(rule, attrs.operation)
        && exact_or_wildcard(rule.api_groups.as_ref(), &attrs.resource.group)
        && rule.api_versions.as_ref().is_some_and(|v| !v.is_empty())
        && resource_matches(rule, attrs)
}

/// Whether a label selector selects `labels`, as upstream's `LabelSelectorAsSelector`.
///
/// An absent selector selects everything: the API server defaults webhook selectors to `{}`
/// before storing them. A selector with an unknown operator is an error, worded as upstream.
pub fn selector_matches(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    let Some(selector) = selector else {
        return Ok(true);
    };
    // As upstream, the whole selector is parsed (and refused) before anything is matched.
    if let Some(bad) = selector.match_expressions.iter().flatten().find(|e| {
        !matches!(
            e.operator.as_str(),
            "In" | "NotIn" | "Exists" | "DoesNotExist"
        )
    }) {
        return Err(format!(
            "{:?} is not a valid label selector operator",
            bad.operator
        ));
    }
    for (key, value) in selector.match_labels.iter().flatten() {
        if labels.get(key) != Some(value) {
            return Ok(false);
        }
    }
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or_default();
        let found = labels.get(&expr.key);
        let ok = match expr.operator.as_str() {
            "In" => found.is_some_and(|v| values.contains(v)),
            "NotIn" => found.is_none_or(|v| !values.contains(v)),
            "Exists" => found.is_some(),
            _ => found.is_none(),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether a selector selects everything (no labels and no expressions).
pub(crate) fn selector_is_empty(selector: Option<&LabelSelector>) -> bool {
    selector.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && s.match_expressions.as_ref().is_none_or(Vec::is_empty)
    })
}

/// One webhook of either flavour, with the fields dispatching needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hook<'a> {
    /// The configuration holding the webhook.
    pub configuration: &'a str,
    /// The webhook's position in its configuration (its identity for reinvocation).
    pub index: usize,
    pub name: &'a str,
    pub client_config: &'a WebhookClientConfig,
    pub rules: &'a [RuleWithOperations],
    pub failure_policy: Option<&'a str>,
    pub match_policy: Option<&'a str>,
    pub namespace_selector: Option<&'a LabelSelector>,
    pub object_selector: Option<&'a LabelSelector>,
    pub side_effects: &'a str,
    pub timeout_seconds: Option<i32>,
    pub admission_review_versions: &'a [String],
    pub reinvocation_policy: Option<&'a str>,
    pub match_conditions: usize,
}

impl Hook<'_> {
    /// Whether call failures are ignored (failurePolicy `Ignore`; the default is `Fail`).
    pub fn ignores_failures(&self) -> bool {
        self.failure_policy == Some("Ignore")
    }

    /// Whether any rule matches, exactly or (matchPolicy `Equivalent`) by equivalence.
    pub fn rules_match(&self, attrs: &Attributes) -> bool {
        self.rules.iter().any(|r| rule_matches(r, attrs))
            || (self.match_policy == Some("Equivalent")
                && self.rules.iter().any(|r| rule_matches_equivalent(r, attrs)))
    }
}

fn slice<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or_default()
}

fn mutating_hook<'a>(configuration: &'a str, index: usize, h: &'a MutatingWebhook) -> Hook<'a> {
    Hook {
        configuration,
        index,
        name: &h.name,
        client_config: &h.client_config,
        rules: slice(&h.rules),
        failure_policy: h.failure_policy.as_deref(),
        match_policy: h.match_policy.as_deref(),
        namespace_selector: h.namespace_selector.as_ref(),
        object_selector: h.object_selector.as_ref(),
        side_effects: &h.side_effects,
        timeout_seconds: h.timeout_seconds,
        admission_review_versions: &h.admission_review_versions,
        reinvocation_policy: h.reinvocation_policy.as_deref(),
        match_conditions: slice(&h.match_conditions).len(),
    }
}

fn validating_hook<'a>(configuration: &'a str, index: usize, h: &'a ValidatingWebhook) -> Hook<'a> {
    Hook {
        configuration,
        index,
        name: &h.name,
        client_config: &h.client_config,
        rules: slice(&h.rules),
        failure_policy: h.failure_policy.as_deref(),
        match_policy: h.match_policy.as_deref(),
        namespace_selector: h.namespace_selector.as_ref(),
        object_selector: h.object_selector.as_ref(),
        side_effects: &h.side_effects,
        timeout_seconds: h.timeout_seconds,
        admission_review_versions: &h.admission_review_versions,
        reinvocation_policy: None,
        match_conditions: slice(&h.match_conditions).len(),
    }
}

fn config_name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

/// Every mutating webhook in upstream's order: configurations sorted by name, webhooks in the
/// order their configuration lists them.
pub(crate) fn mutating_hooks(configs: &[MutatingWebhookConfiguration]) -> Vec<Hook<'_>> {
    let mut sorted: Vec<&MutatingWebhookConfiguration> = configs.iter().collect();
    sorted.sort_by(|a, b| config_name(&a.metadata).cmp(config_name(&b.metadata)));
    sorted
        .into_iter()
        .flat_map(|c| {
            let name = config_name(&c.metadata);
            slice(&c.webhooks)
                .iter()
                .enumerate()
                .map(move |(i, h)| mutating_hook(name, i, h))
        })
        .collect()
}

/// Every validating webhook in upstream's order (configurations sorted by name).
pub(crate) fn validating_hooks(configs: &[ValidatingWebhookConfiguration]) -> Vec<Hook<'_>> {
    let mut sorted: Vec<&ValidatingWebhookConfiguration> = configs.iter().collect();
    sorted.sort_by(|a, b| config_name(&a.metadata).cmp(config_name(&b.metadata)));
    sorted
        .into_iter()
        .flat_map(|c| {
            let name = config_name(&c.metadata);
            slice(&c.webhooks)
                .iter()
                .enumerate()
                .map(move |(i, h)| validating_hook(name, i, h))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{GroupVersionKind, GroupVersionResource, UserInfo};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn attrs(group: &str, version: &str, resource: &str, sub: &str, ns: &str) -> Attributes {
        Attributes {
            resource: GroupVersionResource::new(group, version, resource),
            subresource: sub.into(),
            kind: GroupVersionKind::new(group, version, "Thing"),
            name: "x".into(),
            namespace: ns.into(),
            operation: Operation::Create,
            user: UserInfo::default(),
            object: None,
            old_object: None,
            dry_run: false,
            options: None,
        }
    }

    fn rule(
        groups: &[&str],
        versions: &[&str],
        resources: &[&str],
        ops: &[&str],
    ) -> RuleWithOperations {
        let v = |xs: &[&str]| Some(xs.iter().map(|s| s.to_string()).collect());
        RuleWithOperations {
            api_groups: v(groups),
            api_versions: v(versions),
            resources: v(resources),
            operations: v(ops),
            scope: None,
        }
    }

    #[test]
    fn rules_match_groups_versions_resources_and_subresources_like_upstream() {
        let pods = attrs("", "v1", "pods", "", "default");
        let status = attrs("", "v1", "pods", "status", "default");
        let deploy = attrs("apps", "v1", "deployments", "", "default");
        let cases: Vec<(RuleWithOperations, &Attributes, bool)> = vec![
            (rule(&[""], &["v1"], &["pods"], &["CREATE"]), &pods, true),
            (rule(&["*"], &["*"], &["*"], &["*"]), &pods, true),
            (rule(&["*"], &["*"], &["*"], &["*"]), &status, false),
            (rule(&["*"], &["*"], &["*/*"], &["*"]), &status, true),
            (rule(&[""], &["v1"], &["pods/*"], &["*"]), &status, true),
            (rule(&[""], &["v1"], &["pods/*"], &["*"]), &pods, true),
            (rule(&[""], &["v1"], &["*/status"], &["*"]), &status, true),
            (
                rule(&[""], &["v1"], &["pods/status"], &["*"]),
                &status,
                true,
            ),
            (rule(&[""], &["v1"], &["pods"], &["UPDATE"]), &pods, false),
            (rule(&["apps"], &["v1"], &["pods"], &["*"]), &pods, false),
            (
                rule(&["apps"], &["v1beta1"], &["deployments"], &["*"]),
                &deploy,
                false,
            ),
            (
                rule(&["apps", "batch"], &["v1"], &["deployments"], &["CREATE"]),
                &deploy,
                true,
            ),
            (rule(&[], &["v1"], &["pods"], &["CREATE"]), &pods, false),
        ];
        for (i, (r, a, want)) in cases.iter().enumerate() {
            assert_eq!(rule_matches(r, a), *want, "case {i}");
        }
    }

    #[test]
    fn scopes_treat_namespaces_as_cluster_scoped() {
        let mut r = rule(&["*"], &["*"], &["*"], &["*"]);
        let namespaced = attrs("", "v1", "pods", "", "default");
        let cluster = attrs("", "v1", "nodes", "", "");
        let namespace = attrs("", "v1", "namespaces", "", "default");
        r.scope = Some("Namespaced".into());
        assert!(rule_matches(&r, &namespaced));
        assert!(!rule_matches(&r, &cluster));
        assert!(!rule_matches(&r, &namespace));
        r.scope = Some("Cluster".into());
        assert!(!rule_matches(&r, &namespaced));
        assert!(rule_matches(&r, &cluster));
        assert!(rule_matches(&r, &namespace));
        r.scope = Some("*".into());
        assert!(rule_matches(&r, &namespaced) && rule_matches(&r, &cluster));
    }

    #[test]
    fn equivalent_matching_ignores_the_version() {
        let deploy = attrs("apps", "v1", "deployments", "", "default");
        let r = rule(&["apps"], &["v1beta1"], &["deployments"], &["*"]);
        assert!(!rule_matches(&r, &deploy));
        assert!(rule_matches_equivalent(&r, &deploy));
    }

    #[test]
    fn the_admission_configuration_kinds_are_exempt() {
        let mut a = attrs(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "",
            "",
        );
        a.kind.kind = "ValidatingWebhookConfiguration".into();
        assert!(is_exempt(&a));
        a.kind.kind = "MutatingWebhookConfiguration".into();
        assert!(is_exempt(&a));
        a.kind.kind = "ValidatingAdmissionPolicyBinding".into();
        assert!(is_exempt(&a));
        assert!(!is_exempt(&attrs("", "v1", "pods", "", "default")));
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".into(), "front".into()),
        ]
        .into();
        let sel = |ml: &[(&str, &str)], exprs: &[(&str, &str, &[&str])]| LabelSelector {
            match_labels: Some(
                ml.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: Some(
                exprs
                    .iter()
                    .map(|(k, op, vs)| LabelSelectorRequirement {
                        key: k.to_string(),
                        operator: op.to_string(),
                        values: Some(vs.iter().map(|s| s.to_string()).collect()),
                    })
                    .collect(),
            ),
        };
        assert_eq!(selector_matches(None, &labels), Ok(true));
        assert_eq!(selector_matches(Some(&sel(&[], &[])), &labels), Ok(true));
        assert_eq!(
            selector_matches(Some(&sel(&[("app", "web")], &[])), &labels),
            Ok(true)
        );
        assert_eq!(
            selector_matches(Some(&sel(&[("app", "db")], &[])), &labels),
            Ok(false)
        );
        let cases: [(&str, &str, &[&str], bool); 6] = [
            ("tier", "In", &["front", "back"], true),
            ("tier", "NotIn", &["front"], false),
            ("missing", "NotIn", &["x"], true),
            ("app", "Exists", &[], true),
            ("missing", "DoesNotExist", &[], true),
            ("app", "DoesNotExist", &[], false),
        ];
        for (k, op, vs, want) in cases {
            assert_eq!(
                selector_matches(Some(&sel(&[], &[(k, op, vs)])), &labels),
                Ok(want),
                "{k} {op}"
            );
        }
        assert_eq!(
            selector_matches(Some(&sel(&[], &[("a", "Like", &[])])), &labels),
            Err("\"Like\" is not a valid label selector operator".to_string())
        );
    }
}
