//! The PodSecurity admission decisions (upstream's `admission` package plus the in-tree
//! plugin's handling of the result), as pure functions over the request's objects.
//!
//! - Pods ([`validate_pod`]): the enforce level refuses (403), the audit level annotates, the
//!   warn level warns. Read-only subresources are skipped; an update is only evaluated when it
//!   changes something the checks depend on (container count, images, ephemeral containers).
//! - Workloads ([`validate_workload`]): their pod template gets audit annotations and
//!   warnings, never a refusal (the pods they create are enforced instead).
//! - Namespaces ([`validate_namespace`]): bad pod-security labels are refused (422); an update
//!   that tightens the enforce level is checked against the pods already there, as warnings.
//!
//! Audit annotation keys are returned with the plugin's `pod-security.kubernetes.io/` prefix,
//! sorted by key.

use std::collections::{BTreeMap, HashSet};

use bosun_api::status::ApiError;
use serde_json::Value;

use crate::api::{
    AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL, AUDIT_VIOLATIONS_ANNOTATION, ENFORCE_LEVEL_LABEL,
    ENFORCE_POLICY_ANNOTATION, ENFORCE_VERSION_LABEL, ERROR_ANNOTATION, EXEMPT_ANNOTATION,
    LabelError, Level, LevelVersion, Policy, Version, WARN_LEVEL_LABEL, WARN_VERSION_LABEL,
    aggregate_label_errors, object_labels, policy_to_evaluate,
};
use crate::extract::extract_pod_spec;
use crate::go_quote;
use crate::pod::{PodParts, array, flag, name, text};
use crate::policy::{Evaluation, evaluate_pod};

/// At most this many existing pods are checked when a namespace's enforce level tightens.
pub const MAX_PODS_TO_CHECK: usize = 3000;

/// Pod subresources that cannot change the pod spec, so are never evaluated.
const IGNORED_POD_SUBRESOURCES: &[&str] = &[
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

/// The warning when the pods of a namespace cannot be listed.
const LIST_FAILED_WARNING: &str =
    "failed to list pods while checking new PodSecurity enforce level";

/// The admission configuration (upstream's `PodSecurityConfiguration`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The policy of namespaces without pod-security labels (default: all `privileged:latest`).
    pub defaults: Policy,
    /// Requests never evaluated.
    pub exemptions: Exemptions,
}

/// Requests PodSecurity lets through unevaluated (none by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exemptions {
    /// Requesting users.
    pub usernames: Vec<String>,
    /// Namespaces.
    pub namespaces: Vec<String>,
    /// Pods' `spec.runtimeClassName`s.
    pub runtime_classes: Vec<String>,
}

impl Exemptions {
    /// Whether `value` (non-empty) is in `list`.
    fn listed(list: &[String], value: &str) -> bool {
        !value.is_empty() && list.iter().any(|v| v == value)
    }

    fn namespace(&self, namespace: &str) -> bool {
        Self::listed(&self.namespaces, namespace)
    }

    fn user(&self, username: &str) -> bool {
        Self::listed(&self.usernames, username)
    }

    fn runtime_class(&self, runtime_class: &str) -> bool {
        Self::listed(&self.runtime_classes, runtime_class)
    }
}

/// The operations PodSecurity looks at (others are always allowed: do not call for them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A create.
    Create,
    /// An update or patch (including subresource updates).
    Update,
}

/// What the admission functions need to know about a request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Create or update.
    pub operation: Operation,
    /// The object's name; for a create with `generateName`, the generated name.
    pub name: &'a str,
    /// The request's namespace (for a namespace, its own name).
    pub namespace: &'a str,
    /// The subresource (`""` for the object itself).
    pub subresource: &'a str,
    /// The requesting user's name.
    pub username: &'a str,
    /// The object as it would be stored (the whole object, also for subresource requests).
    pub object: &'a Value,
    /// The stored object, on updates.
    pub old_object: Option<&'a Value>,
}

/// The outcome of a request: a refusal, warnings for the client, and audit annotations.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// The error to answer with when the request is refused.
    pub denial: Option<ApiError>,
    /// Warnings for the `Warning` response headers, in order.
    pub warnings: Vec<String>,
    /// Annotations for the request's audit event, sorted by key.
    pub audit_annotations: Vec<(String, String)>,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        self.denial.is_none()
    }

    /// An allowed decision with one audit annotation.
    fn annotated(key: &str, value: impl Into<String>) -> Self {
        Decision {
            audit_annotations: vec![(key.to_string(), value.into())],
            ..Decision::default()
        }
    }

    /// Allowed because of an exemption (`user`, `namespace` or `runtimeClass`).
    fn exempt(reason: &str) -> Self {
        Decision::annotated(EXEMPT_ANNOTATION, reason)
    }

    /// An allowed decision with one warning.
    fn warning(warning: String) -> Self {
        Decision {
            warnings: vec![warning],
            ..Decision::default()
        }
    }

    /// Refused as a bad request (an object that cannot be read).
    fn bad_request(message: &str) -> Self {
        Decision {
            denial: Some(ApiError::bad_request(message)),
            ..Decision::annotated(ERROR_ANNOTATION, message)
        }
    }
}

/// Decides a pod create or update (including subresources such as `ephemeralcontainers`).
///
/// `namespace_labels` are the labels of the pod's namespace. Upstream answers 500
/// `Internal error occurred: failed to lookup namespace "<ns>"` when the namespace cannot be
/// read; that is left to the caller.
pub fn validate_pod(
    config: &Config,
    namespace_labels: &BTreeMap<String, String>,
    request: &Request<'_>,
) -> Decision {
    if IGNORED_POD_SUBRESOURCES.contains(&request.subresource) {
        return Decision::default();
    }
    if config.exemptions.namespace(request.namespace) {
        return Decision::exempt("namespace");
    }
    if config.exemptions.user(request.username) {
        return Decision::exempt("user");
    }
    let (policy, errors) = policy_to_evaluate(namespace_labels, &config.defaults);
    if errors.is_empty() && policy.fully_privileged() {
        let privileged = LevelVersion::new(Level::Privileged, Version::Latest);
        return Decision::annotated(ENFORCE_POLICY_ANNOTATION, privileged.to_string());
    }
    if request.operation == Operation::Update {
        let Some(old) = request.old_object else {
            return Decision::bad_request("failed to decode old object");
        };
        if !is_significant_pod_update(request.object, old) {
            return Decision::default();
        }
    }
    evaluate(
        config,
        &policy,
        &errors,
        PodParts::of_pod(request.object),
        Some(request.name),
    )
}

/// Decides a create or update of a pod-template-bearing workload of `(group, resource)`
/// (see [`POD_SPEC_RESOURCES`](crate::extract::POD_SPEC_RESOURCES)): warnings and audit
/// annotations only, never a refusal. Subresource requests are not evaluated.
pub fn validate_workload(
    config: &Config,
    group: &str,
    resource: &str,
    namespace_labels: &BTreeMap<String, String>,
    request: &Request<'_>,
) -> Decision {
    if !request.subresource.is_empty() {
        return Decision::default();
    }
    if config.exemptions.namespace(request.namespace) {
        return Decision::exempt("namespace");
    }
    if config.exemptions.user(request.username) {
        return Decision::exempt("user");
    }
    let (policy, errors) = policy_to_evaluate(namespace_labels, &config.defaults);
    if errors.is_empty()
        && policy.warn.level == Level::Privileged
        && policy.audit.level == Level::Privileged
    {
        return Decision::default();
    }
    let Some(pod) = extract_pod_spec(group, resource, request.object) else {
        return Decision::default();
    };
    evaluate(config, &policy, &errors, pod, None)
}

/// Evaluates a pod (or template) against a namespace's policy (upstream's `EvaluatePod`);
/// `enforce_name` is the pod's name when the enforce level applies.
fn evaluate(
    config: &Config,
    policy: &Policy,
    errors: &[LabelError],
    pod: PodParts<'_>,
    enforce_name: Option<&str>,
) -> Decision {
    if config.exemptions.runtime_class(pod.runtime_class()) {
        return Decision::exempt("runtimeClass");
    }
    let mut annotations = BTreeMap::new();
    if !errors.is_empty() {
        annotations.insert(
            ERROR_ANNOTATION,
            format!("Failed to parse policy: {}", aggregate_label_errors(errors)),
        );
    }
    let mut results: Vec<(LevelVersion, Evaluation)> = Vec::new();
    let mut evaluate_at = |lv: LevelVersion| -> Evaluation {
        if let Some((_, cached)) = results.iter().find(|(seen, _)| *seen == lv) {
            return cached.clone();
        }
        let result = evaluate_pod(lv, pod);
        results.push((lv, result.clone()));
        result
    };
    let mut denial = None;
    if let Some(name) = enforce_name {
        annotations.insert(ENFORCE_POLICY_ANNOTATION, policy.enforce.to_string());
        let result = evaluate_at(policy.enforce);
        if !result.is_allowed() {
            let message = format!(
                "violates PodSecurity {}: {}",
                go_quote(&policy.enforce.to_string()),
                result.forbidden_detail()
            );
            denial = Some(ApiError::forbidden_object("", "pods", name, &message));
        }
    }
    let audit = evaluate_at(policy.audit);
    if !audit.is_allowed() {
        annotations.insert(
            AUDIT_VIOLATIONS_ANNOTATION,
            would_violate(policy.audit, &audit),
        );
    }
    let mut warnings = Vec::new();
    // A request refused anyway gets no warnings.
    if denial.is_none() {
        let warn = evaluate_at(policy.warn);
        if !warn.is_allowed() {
            warnings.push(would_violate(policy.warn, &warn));
        }
    }
    Decision {
        denial,
        warnings,
        audit_annotations: annotations
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// `would violate PodSecurity "<level:version>": <details>`.
fn would_violate(lv: LevelVersion, result: &Evaluation) -> String {
    format!(
        "would violate PodSecurity {}: {}",
        go_quote(&lv.to_string()),
        result.forbidden_detail()
    )
}

/// Whether a pod update changes anything the checks look at: the number of containers or
/// init containers, any container's image (or its alpha seccomp annotation), or the
/// ephemeral containers (added, or image changed).
pub fn is_significant_pod_update(pod: &Value, old_pod: &Value) -> bool {
    let list = |p, key| array(p, &["spec", key]).collect::<Vec<_>>();
    let changed = |c: &Value, old_c: &Value| {
        if text(c, &["image"]) != text(old_c, &["image"]) {
            return true;
        }
        // The alpha seccomp annotation of the (new) container's name.
        let key = format!("container.seccomp.security.alpha.kubernetes.io/{}", name(c));
        let annotation = |p| text(p, &["metadata", "annotations", &key]);
        annotation(pod) != annotation(old_pod)
    };
    for key in ["containers", "initContainers"] {
        if list(pod, key).len() != list(old_pod, key).len() {
            return true;
        }
    }
    for key in ["containers", "initContainers"] {
        let old = list(old_pod, key);
        if list(pod, key).iter().zip(old).any(|(c, o)| changed(c, o)) {
            return true;
        }
    }
    let old_ephemeral = list(old_pod, "ephemeralContainers");
    list(pod, "ephemeralContainers").into_iter().any(|c| {
        match old_ephemeral.iter().find(|o| name(o) == name(c)) {
            None => true,
            Some(old) => changed(c, old),
        }
    })
}

/// Decides a namespace create or update: pod-security labels must be valid (422 otherwise),
/// and an update that tightens the enforce level warns about the existing pods that would
/// violate it.
///
/// `list_pods` is called only then; it returns the namespace's pods, or `None` when they
/// cannot be listed. Subresource requests are not evaluated.
pub fn validate_namespace(
    config: &Config,
    request: &Request<'_>,
    list_pods: impl FnOnce() -> Option<Vec<Value>>,
) -> Decision {
    if !request.subresource.is_empty() {
        return Decision::default();
    }
    let labels = object_labels(request.object);
    let (policy, errors) = policy_to_evaluate(&labels, &config.defaults);
    let exempt = config.exemptions.namespace(request.name);
    let exempt_warning = || {
        exempt_namespace_warning(config, request.name, &policy, &labels)
            .map(Decision::warning)
            .unwrap_or_default()
    };
    match request.operation {
        Operation::Create => {
            if !errors.is_empty() {
                return invalid_labels(request.name, &errors);
            }
            if exempt {
                return exempt_warning();
            }
            Decision::default()
        }
        Operation::Update => {
            let Some(old) = request.old_object else {
                return Decision::bad_request("failed to decode  old object");
            };
            let (old_policy, old_errors) =
                policy_to_evaluate(&object_labels(old), &config.defaults);
            if !errors.is_empty() && (old_errors.is_empty() || errors != old_errors) {
                return invalid_labels(request.name, &errors);
            }
            let (new, old) = (policy.enforce, old_policy.enforce);
            if new == old
                || new.level == Level::Privileged
                || (new.version == old.version && new.level <= old.level)
            {
                return Decision::default();
            }
            if exempt {
                return exempt_warning();
            }
            let warnings = match list_pods() {
                Some(pods) => evaluate_pods_in_namespace(config, request.name, new, &pods),
                None => vec![LIST_FAILED_WARNING.to_string()],
            };
            Decision {
                warnings,
                ..Decision::default()
            }
        }
    }
}

/// The 422 for bad labels: `Namespace "<name>" is invalid: <field errors>`.
fn invalid_labels(name: &str, errors: &[LabelError]) -> Decision {
    let fields = errors.iter().map(LabelError::to_field_error).collect();
    Decision {
        denial: Some(ApiError::invalid("", "Namespace", name, fields)),
        ..Decision::default()
    }
}

/// The warning for pod-security labels on an exempt namespace, naming the explicitly set
/// non-privileged modes; none when the policy is privileged or equivalent to the defaults.
fn exempt_namespace_warning(
    config: &Config,
    namespace: &str,
    policy: &Policy,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    if policy.fully_privileged() || policy.equivalent(&config.defaults) {
        return None;
    }
    let modes = [
        (
            "enforce",
            policy.enforce,
            ENFORCE_LEVEL_LABEL,
            ENFORCE_VERSION_LABEL,
        ),
        (
            "audit",
            policy.audit,
            AUDIT_LEVEL_LABEL,
            AUDIT_VERSION_LABEL,
        ),
        ("warn", policy.warn, WARN_LEVEL_LABEL, WARN_VERSION_LABEL),
    ];
    let set: Vec<String> = modes
        .into_iter()
        .filter(|(_, lv, level, version)| {
            lv.level != Level::Privileged
                && (labels.contains_key(*level) || labels.contains_key(*version))
        })
        .map(|(mode, lv, _, _)| format!("{mode}={lv}"))
        .collect();
    Some(format!(
        "namespace {} is exempt from Pod Security, and the policy ({}) will be ignored",
        go_quote(namespace),
        set.join(", ")
    ))
}

/// The UID of the pod's controller (its owner reference with `controller: true`).
fn controller_uid(pod: &Value) -> Option<&str> {
    array(pod, &["metadata", "ownerReferences"])
        .find(|r| flag(r, &["controller"]) == Some(true))
        .map(|r| text(r, &["uid"]))
}

/// Checks a namespace's existing pods against a new enforce level (upstream's
/// `EvaluatePodsInNamespace`), returning the warnings.
///
/// Pods of exempt runtime classes are skipped; one pod per controller is checked before the
/// other replicas, and at most [`MAX_PODS_TO_CHECK`] pods are checked. Pods failing with the
/// same reasons are grouped under the lexically first name, e.g.
/// `web-1 (and 2 other pods): allowPrivilegeEscalation != false, seccompProfile`; the groups
/// are sorted and follow `existing pods in namespace "<ns>" violate the new PodSecurity
/// enforce level "<level:version>"`.
pub fn evaluate_pods_in_namespace(
    config: &Config,
    namespace: &str,
    enforce: LevelVersion,
    pods: &[Value],
) -> Vec<String> {
    let mut prioritized = Vec::new();
    let mut replicas = Vec::new();
    let mut controllers = HashSet::new();
    for pod in pods {
        if config
            .exemptions
            .runtime_class(PodParts::of_pod(pod).runtime_class())
        {
            continue;
        }
        match controller_uid(pod) {
            Some(uid) if !controllers.insert(uid) => replicas.push(pod),
            _ => prioritized.push(pod),
        }
    }
    prioritized.extend(replicas);
    let total = prioritized.len();
    prioritized.truncate(MAX_PODS_TO_CHECK);
    let checked = prioritized.len();

    // Each distinct reason list, in first-seen order, with its first pod name and count.
    let mut groups: Vec<(String, String, usize)> = Vec::new();
    for pod in prioritized {
        let result = evaluate_pod(enforce, PodParts::of_pod(pod));
        if result.is_allowed() {
            continue;
        }
        let reason = result.forbidden_reason();
        let pod_name = text(pod, &["metadata", "name"]);
        match groups.iter_mut().find(|(r, _, _)| *r == reason) {
            Some((_, first, count)) => {
                if pod_name < first.as_str() {
                    *first = pod_name.to_string();
                }
                *count += 1;
            }
            None => groups.push((reason, pod_name.to_string(), 1)),
        }
    }

    let mut warnings = Vec::new();
    if checked < total {
        warnings.push(format!(
            "new PodSecurity enforce level only checked against the first {checked} of {total} existing pods"
        ));
    }
    if !groups.is_empty() {
        warnings.push(format!(
            "existing pods in namespace {} violate the new PodSecurity enforce level {}",
            go_quote(namespace),
            go_quote(&enforce.to_string())
        ));
    }
    let mut pod_warnings: Vec<String> = groups
        .into_iter()
        .map(|(reason, first, count)| match count {
            1 => format!("{first}: {reason}"),
            2 => format!("{first} (and 1 other pod): {reason}"),
            n => format!("{first} (and {} other pods): {reason}", n - 1),
        })
        .collect();
    pod_warnings.sort();
    warnings.extend(pod_warnings);
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ENFORCE_LEVEL_LABEL, WARN_LEVEL_LABEL};
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn create<'a>(object: &'a Value) -> Request<'a> {
        Request {
            operation: Operation::Create,
            name: object["metadata"]["name"].as_str().unwrap_or(""),
            namespace: "ns",
            subresource: "",
            username: "alice",
            object,
            old_object: None,
        }
    }

    fn update<'a>(object: &'a Value, old: &'a Value) -> Request<'a> {
        Request {
            operation: Operation::Update,
            old_object: Some(old),
            ..create(object)
        }
    }

    fn annotations(decision: &Decision) -> Vec<(&str, &str)> {
        decision
            .audit_annotations
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// A pod that passes baseline but not restricted.
    fn plain_pod(name: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    }

    /// A pod that fails baseline.
    fn privileged_pod(name: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"containers": [
            {"name": "c", "image": "nginx", "securityContext": {"privileged": true}},
        ]}})
    }

    const RESTRICTED_DETAIL: &str = r#"allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#;

    #[test]
    fn pods_in_unlabelled_namespaces_are_allowed_as_privileged() {
        let pod = privileged_pod("web");
        let decision = validate_pod(&Config::default(), &BTreeMap::new(), &create(&pod));
        assert!(decision.is_allowed());
        assert!(decision.warnings.is_empty());
        assert_eq!(
            annotations(&decision),
            [(
                "pod-security.kubernetes.io/enforce-policy",
                "privileged:latest"
            )]
        );
    }

    #[test]
    fn an_enforced_violation_refuses_the_pod_with_403() {
        let pod = plain_pod("web");
        let ns = labels(&[(ENFORCE_LEVEL_LABEL, "restricted")]);
        let decision = validate_pod(&Config::default(), &ns, &create(&pod));
        let denial = decision.denial.as_ref().expect("refused");
        assert_eq!(denial.code, 403);
        assert_eq!(denial.reason, "Forbidden");
        assert_eq!(
            denial.message,
            format!(
                r#"pods "web" is forbidden: violates PodSecurity "restricted:latest": {RESTRICTED_DETAIL}"#
            )
        );
        assert_eq!(
            denial.to_status()["details"],
            json!({"name": "web", "kind": "pods"})
        );
        // No warnings on a refused request; the enforced policy is recorded.
        assert!(decision.warnings.is_empty());
        assert_eq!(
            annotations(&decision),
            [(
                "pod-security.kubernetes.io/enforce-policy",
                "restricted:latest"
            )]
        );
    }

    #[test]
    fn warn_and_audit_levels_warn_and_annotate_without_refusing() {
        let pod = plain_pod("web");
        let ns = labels(&[
            (ENFORCE_LEVEL_LABEL, "baseline"),
            (ENFORCE_VERSION_LABEL, "v1.30"),
            (WARN_LEVEL_LABEL, "restricted"),
            (AUDIT_LEVEL_LABEL, "restricted"),
            (AUDIT_VERSION_LABEL, "v1.34"),
        ]);
        let decision = validate_pod(&Config::default(), &ns, &create(&pod));
        assert!(decision.is_allowed());
        assert_eq!(
            decision.warnings,
            [format!(
                r#"would violate PodSecurity "restricted:latest": {RESTRICTED_DETAIL}"#
            )]
        );
        assert_eq!(
            annotations(&decision),
            [
                (
                    "pod-security.kubernetes.io/audit-violations",
                    format!(r#"would violate PodSecurity "restricted:v1.34": {RESTRICTED_DETAIL}"#)
                        .as_str()
                ),
                (
                    "pod-security.kubernetes.io/enforce-policy",
                    "baseline:v1.30"
                ),
            ]
        );
    }

    #[test]
    fn bad_namespace_labels_are_reported_and_enforce_restricted() {
        let pod = plain_pod("web");
        let ns = labels(&[(ENFORCE_LEVEL_LABEL, "strict")]);
        let decision = validate_pod(&Config::default(), &ns, &create(&pod));
        assert!(!decision.is_allowed());
        assert_eq!(
            annotations(&decision),
            [
                (
                    "pod-security.kubernetes.io/enforce-policy",
                    "restricted:latest"
                ),
                (
                    "pod-security.kubernetes.io/error",
                    r#"Failed to parse policy: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#
                ),
            ]
        );
    }

    #[test]
    fn read_only_pod_subresources_are_not_evaluated() {
        let pod = privileged_pod("web");
        let ns = labels(&[(ENFORCE_LEVEL_LABEL, "baseline")]);
        for subresource in IGNORED_POD_SUBRESOURCES {
            let request = Request {
                subresource,
                ..update(&pod, &pod)
            };
            let decision = validate_pod(&Config::default(), &ns, &request);
            assert!(decision.is_allowed() && decision.audit_annotations.is_empty());
        }
    }

    #[test]
    fn adding_a_privileged_ephemeral_container_is_refused() {
        let old = plain_pod("web");
        let mut new = old.clone();
        new["spec"]["ephemeralContainers"] = json!([
            {"name": "debug", "image": "busybox", "securityContext": {"privileged": true}},
        ]);
        let ns = labels(&[(ENFORCE_LEVEL_LABEL, "baseline")]);
        let request = Request {
            subresource: "ephemeralcontainers",
            ..update(&new, &old)
        };
        let decision = validate_pod(&Config::default(), &ns, &request);
        assert_eq!(
            decision.denial.map(|d| d.message).as_deref(),
            Some(
                r#"pods "web" is forbidden: violates PodSecurity "baseline:latest": privileged (container "debug" must not set securityContext.privileged=true)"#
            )
        );
    }

    #[test]
    fn insignificant_pod_updates_are_allowed_unevaluated() {
        let old = privileged_pod("web");
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"a": "b"});
        let ns = labels(&[(ENFORCE_LEVEL_LABEL, "baseline")]);
        let decision = validate_pod(&Config::default(), &ns, &update(&new, &old));
        assert!(decision.is_allowed() && decision.audit_annotations.is_empty());
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        let decision = validate_pod(&Config::default(), &ns, &update(&new, &old));
        assert!(!decision.is_allowed());
    }

    #[test]
    fn significant_updates_are_image_count_seccomp_annotation_and_ephemeral_changes() {
        let old = json!({"metadata": {}, "spec": {
            "initContainers": [{"name": "i", "image": "a"}],
            "containers": [{"name": "c", "image": "a"}],
            "ephemeralContainers": [{"name": "e", "image": "a"}],
        }});
        assert!(!is_significant_pod_update(&old, &old));
        type Change = (&'static str, fn(&mut Value));
        let changes: [Change; 6] = [
            ("image", |p| {
                p["spec"]["containers"][0]["image"] = json!("b")
            }),
            ("init image", |p| {
                p["spec"]["initContainers"][0]["image"] = json!("b")
            }),
            ("ephemeral image", |p| {
                p["spec"]["ephemeralContainers"][0]["image"] = json!("b")
            }),
            ("container added", |p| {
                p["spec"]["containers"] = json!([{"name": "c", "image": "a"}, {"name": "d"}])
            }),
            (
                "ephemeral added",
                |p| {
                    p["spec"]["ephemeralContainers"] =
                        json!([{"name": "e", "image": "a"}, {"name": "f", "image": "a"}])
                },
            ),
            (
                "container seccomp annotation",
                |p| {
                    p["metadata"]["annotations"] =
                        json!({"container.seccomp.security.alpha.kubernetes.io/c": "unconfined"})
                },
            ),
        ];
        for (case, change) in changes {
            let mut new = old.clone();
            change(&mut new);
            assert!(is_significant_pod_update(&new, &old), "{case}");
        }
        // Other changes, such as the pod-level seccomp annotation, are not significant.
        let mut new = old.clone();
        new["metadata"]["annotations"] =
            json!({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"});
        assert!(!is_significant_pod_update(&new, &old));
    }

    #[test]
    fn exemptions_skip_evaluation_and_say_why() {
        let pod = privileged_pod("web");
        let ns = labels(&[(ENFORCE_LEVEL_LABEL, "restricted")]);
        let config = Config {
            exemptions: Exemptions {
                usernames: vec!["alice".into()],
                ..Exemptions::default()
            },
            ..Config::default()
        };
        let decision = validate_pod(&config, &ns, &create(&pod));
        assert!(decision.is_allowed());
        assert_eq!(
            annotations(&decision),
            [("pod-security.kubernetes.io/exempt", "user")]
        );

        let config = Config {
            exemptions: Exemptions {
                namespaces: vec!["ns".into()],
                ..Exemptions::default()
            },
            ..Config::default()
        };
        let decision = validate_pod(&config, &ns, &create(&pod));
        assert_eq!(
            annotations(&decision),
            [("pod-security.kubernetes.io/exempt", "namespace")]
        );

        let mut gvisor = pod.clone();
        gvisor["spec"]["runtimeClassName"] = json!("gvisor");
        let config = Config {
            exemptions: Exemptions {
                runtime_classes: vec!["gvisor".into()],
                ..Exemptions::default()
            },
            ..Config::default()
        };
        let decision = validate_pod(&config, &ns, &create(&gvisor));
        assert!(decision.is_allowed());
        assert_eq!(
            annotations(&decision),
            [("pod-security.kubernetes.io/exempt", "runtimeClass")]
        );
    }

    fn deployment(template: &Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"template": template}})
    }

    #[test]
    fn workloads_are_never_refused_but_warned_and_audited() {
        let template = plain_pod("ignored");
        let object = deployment(&template);
        let ns = labels(&[
            (ENFORCE_LEVEL_LABEL, "restricted"),
            (WARN_LEVEL_LABEL, "restricted"),
            (AUDIT_LEVEL_LABEL, "baseline"),
        ]);
        let decision = validate_workload(
            &Config::default(),
            "apps",
            "deployments",
            &ns,
            &create(&object),
        );
        assert!(decision.is_allowed());
        assert_eq!(
            decision.warnings,
            [format!(
                r#"would violate PodSecurity "restricted:latest": {RESTRICTED_DETAIL}"#
            )]
        );
        // Baseline passes, and workloads carry no enforce-policy annotation.
        assert!(decision.audit_annotations.is_empty());
    }

    #[test]
    fn workloads_in_namespaces_that_only_enforce_are_not_evaluated() {
        let object = deployment(&privileged_pod("x"));
        let ns = labels(&[(ENFORCE_LEVEL_LABEL, "restricted")]);
        let decision = validate_workload(
            &Config::default(),
            "apps",
            "deployments",
            &ns,
            &create(&object),
        );
        assert!(decision.is_allowed());
        assert!(decision.warnings.is_empty() && decision.audit_annotations.is_empty());
    }

    #[test]
    fn workload_subresources_and_templateless_controllers_are_not_evaluated() {
        let ns = labels(&[(WARN_LEVEL_LABEL, "restricted")]);
        let object = deployment(&privileged_pod("x"));
        let scale = Request {
            subresource: "scale",
            ..create(&object)
        };
        let decision = validate_workload(&Config::default(), "apps", "deployments", &ns, &scale);
        assert!(decision.warnings.is_empty());
        let rc = json!({"metadata": {"name": "rc"}, "spec": {}});
        let decision = validate_workload(
            &Config::default(),
            "",
            "replicationcontrollers",
            &ns,
            &create(&rc),
        );
        assert!(decision.warnings.is_empty());
    }

    #[test]
    fn a_cronjob_template_is_audited_with_bad_label_errors() {
        let object = json!({"metadata": {"name": "cj"}, "spec": {"jobTemplate": {"spec": {"template": privileged_pod("x")}}}});
        let ns = labels(&[(AUDIT_LEVEL_LABEL, "baseline"), (WARN_VERSION_LABEL, "v2")]);
        let decision = validate_workload(
            &Config::default(),
            "batch",
            "cronjobs",
            &ns,
            &create(&object),
        );
        assert!(decision.is_allowed());
        assert!(decision.warnings.is_empty());
        assert_eq!(
            annotations(&decision),
            [
                (
                    "pod-security.kubernetes.io/audit-violations",
                    r#"would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)"#
                ),
                (
                    "pod-security.kubernetes.io/error",
                    r#"Failed to parse policy: metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "v2": must be "latest" or "v1.x""#
                ),
            ]
        );
    }

    fn namespace(name: &str, pairs: &[(&str, &str)]) -> Value {
        json!({"metadata": {"name": name, "labels": labels(pairs)}})
    }

    fn ns_request<'a>(new: &'a Value, old: Option<&'a Value>) -> Request<'a> {
        let name = new["metadata"]["name"].as_str().unwrap_or("");
        Request {
            operation: if old.is_some() {
                Operation::Update
            } else {
                Operation::Create
            },
            name,
            namespace: name,
            subresource: "",
            username: "alice",
            object: new,
            old_object: old,
        }
    }

    fn no_listing() -> Option<Vec<Value>> {
        panic!("pods must not be listed")
    }

    #[test]
    fn a_namespace_with_bad_labels_is_refused_with_422() {
        let ns = namespace(
            "test",
            &[
                (ENFORCE_LEVEL_LABEL, "unknown"),
                (ENFORCE_VERSION_LABEL, "v1.x"),
            ],
        );
        let decision = validate_namespace(&Config::default(), &ns_request(&ns, None), no_listing);
        let denial = decision.denial.expect("refused");
        assert_eq!(denial.code, 422);
        assert_eq!(denial.reason, "Invalid");
        assert_eq!(
            denial.message,
            r#"Namespace "test" is invalid: [metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "unknown": must be one of privileged, baseline, restricted, metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "v1.x": must be "latest" or "v1.x"]"#
        );
        assert_eq!(
            denial.to_status()["details"],
            json!({"name": "test", "kind": "Namespace", "causes": [
                {"reason": "FieldValueInvalid", "message": r#"Invalid value: "unknown": must be one of privileged, baseline, restricted"#, "field": "metadata.labels[pod-security.kubernetes.io/enforce]"},
                {"reason": "FieldValueInvalid", "message": r#"Invalid value: "v1.x": must be "latest" or "v1.x""#, "field": "metadata.labels[pod-security.kubernetes.io/enforce-version]"},
            ]})
        );
    }

    #[test]
    fn valid_namespace_creates_are_allowed_without_listing_pods() {
        for pairs in [
            vec![
                (ENFORCE_LEVEL_LABEL, "privileged"),
                (ENFORCE_VERSION_LABEL, "v1.0"),
            ],
            vec![(ENFORCE_LEVEL_LABEL, "restricted")],
            vec![],
        ] {
            let ns = namespace("test", &pairs);
            let decision =
                validate_namespace(&Config::default(), &ns_request(&ns, None), no_listing);
            assert!(decision.is_allowed() && decision.warnings.is_empty());
        }
    }

    #[test]
    fn unchanged_bad_labels_do_not_block_namespace_updates() {
        let old = namespace("test", &[(ENFORCE_LEVEL_LABEL, "unknown")]);
        let mut new = old.clone();
        new["metadata"]["labels"]["other"] = json!("x");
        let decision = validate_namespace(
            &Config::default(),
            &ns_request(&new, Some(&old)),
            no_listing,
        );
        assert!(decision.is_allowed());
        let changed = namespace("test", &[(ENFORCE_LEVEL_LABEL, "other")]);
        let decision = validate_namespace(
            &Config::default(),
            &ns_request(&changed, Some(&old)),
            no_listing,
        );
        assert!(!decision.is_allowed());
    }

    #[test]
    fn relaxing_or_keeping_the_enforce_level_lists_no_pods() {
        let cases = [
            (
                vec![
                    (ENFORCE_LEVEL_LABEL, "restricted"),
                    (ENFORCE_VERSION_LABEL, "v1.0"),
                ],
                vec![
                    (ENFORCE_LEVEL_LABEL, "restricted"),
                    (ENFORCE_VERSION_LABEL, "v1.0"),
                ],
            ),
            (
                vec![
                    (ENFORCE_LEVEL_LABEL, "baseline"),
                    (ENFORCE_VERSION_LABEL, "v1.0"),
                ],
                vec![
                    (ENFORCE_LEVEL_LABEL, "restricted"),
                    (ENFORCE_VERSION_LABEL, "v1.0"),
                ],
            ),
            (
                vec![(ENFORCE_LEVEL_LABEL, "baseline")],
                vec![(ENFORCE_LEVEL_LABEL, "restricted")],
            ),
            (
                vec![(ENFORCE_LEVEL_LABEL, "privileged")],
                vec![(ENFORCE_LEVEL_LABEL, "restricted")],
            ),
            (vec![], vec![(ENFORCE_LEVEL_LABEL, "restricted")]),
        ];
        for (new, old) in cases {
            let (new, old) = (namespace("test", &new), namespace("test", &old));
            let decision = validate_namespace(
                &Config::default(),
                &ns_request(&new, Some(&old)),
                no_listing,
            );
            assert!(decision.is_allowed() && decision.warnings.is_empty());
        }
    }

    fn owned(mut pod: Value, uid: &str) -> Value {
        pod["metadata"]["ownerReferences"] = json!([
            {"uid": "other", "controller": false},
            {"uid": uid, "controller": true},
        ]);
        pod
    }

    #[test]
    fn tightening_enforce_warns_about_existing_pods_grouped_by_reasons() {
        let old = namespace("test", &[]);
        let new = namespace("test", &[(ENFORCE_LEVEL_LABEL, "restricted")]);
        let pods = vec![
            owned(plain_pod("web-b"), "rs1"),
            owned(plain_pod("web-a"), "rs1"),
            owned(plain_pod("web-c"), "rs1"),
            privileged_pod("admin"),
            plain_pod("api"),
            json!({"metadata": {"name": "good"}, "spec": {
                "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
            }}),
        ];
        let decision =
            validate_namespace(&Config::default(), &ns_request(&new, Some(&old)), || {
                Some(pods)
            });
        assert!(decision.is_allowed());
        assert_eq!(
            decision.warnings,
            [
                r#"existing pods in namespace "test" violate the new PodSecurity enforce level "restricted:latest""#,
                "admin: privileged, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile",
                "api (and 3 other pods): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile",
            ]
        );
    }

    #[test]
    fn two_pods_with_the_same_reasons_are_one_other_pod() {
        let pods = [plain_pod("b"), plain_pod("a"), privileged_pod("z")];
        let enforce = LevelVersion::new(Level::Baseline, Version::V1(30));
        assert_eq!(
            evaluate_pods_in_namespace(&Config::default(), "ns", enforce, &pods),
            [
                r#"existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:v1.30""#,
                "z: privileged",
            ]
        );
        let enforce = LevelVersion::new(Level::Restricted, Version::Latest);
        let warnings = evaluate_pods_in_namespace(&Config::default(), "ns", enforce, &pods[..2]);
        assert_eq!(
            warnings[1],
            "a (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
        );
    }

    #[test]
    fn at_most_3000_pods_are_checked_one_per_controller_first() {
        let mut pods: Vec<Value> = (0..MAX_PODS_TO_CHECK + 1)
            .map(|i| {
                owned(
                    json!({"metadata": {"name": format!("r{i:04}")}, "spec": {}}),
                    "rs",
                )
            })
            .collect();
        // The only violating pod has a controller of its own, so it is checked first.
        pods.push(owned(privileged_pod("zz-bad"), "ds"));
        let enforce = LevelVersion::new(Level::Baseline, Version::Latest);
        assert_eq!(
            evaluate_pods_in_namespace(&Config::default(), "ns", enforce, &pods),
            [
                "new PodSecurity enforce level only checked against the first 3000 of 3002 existing pods",
                r#"existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest""#,
                "zz-bad: privileged",
            ]
        );
    }

    #[test]
    fn exempt_runtime_class_pods_are_not_counted() {
        let mut sandboxed = privileged_pod("sandboxed");
        sandboxed["spec"]["runtimeClassName"] = json!("gvisor");
        let config = Config {
            exemptions: Exemptions {
                runtime_classes: vec!["gvisor".into()],
                ..Exemptions::default()
            },
            ..Config::default()
        };
        let enforce = LevelVersion::new(Level::Baseline, Version::Latest);
        assert!(evaluate_pods_in_namespace(&config, "ns", enforce, &[sandboxed]).is_empty());
    }

    #[test]
    fn a_failed_pod_listing_is_a_warning() {
        let old = namespace("test", &[(ENFORCE_LEVEL_LABEL, "baseline")]);
        let new = namespace("test", &[(ENFORCE_LEVEL_LABEL, "restricted")]);
        let decision =
            validate_namespace(&Config::default(), &ns_request(&new, Some(&old)), || None);
        assert_eq!(decision.warnings, [LIST_FAILED_WARNING]);
    }

    #[test]
    fn a_non_default_policy_on_an_exempt_namespace_is_warned_about() {
        let config = Config {
            exemptions: Exemptions {
                namespaces: vec!["kube-system".into()],
                ..Exemptions::default()
            },
            ..Config::default()
        };
        let new = namespace(
            "kube-system",
            &[
                (ENFORCE_LEVEL_LABEL, "baseline"),
                (WARN_VERSION_LABEL, "v1.30"),
                (AUDIT_LEVEL_LABEL, "restricted"),
            ],
        );
        let decision = validate_namespace(&config, &ns_request(&new, None), no_listing);
        assert_eq!(
            decision.warnings,
            [
                r#"namespace "kube-system" is exempt from Pod Security, and the policy (enforce=baseline:latest, audit=restricted:latest) will be ignored"#
            ]
        );
        let old = namespace("kube-system", &[]);
        let decision = validate_namespace(&config, &ns_request(&new, Some(&old)), no_listing);
        assert_eq!(decision.warnings.len(), 1);
        let privileged = namespace("kube-system", &[(ENFORCE_LEVEL_LABEL, "privileged")]);
        let decision = validate_namespace(&config, &ns_request(&privileged, None), no_listing);
        assert!(decision.warnings.is_empty());
    }

    #[test]
    fn namespace_subresources_are_not_evaluated() {
        let ns = namespace("test", &[(ENFORCE_LEVEL_LABEL, "bogus")]);
        let request = Request {
            subresource: "finalize",
            ..ns_request(&ns, None)
        };
        assert!(validate_namespace(&Config::default(), &request, no_listing).is_allowed());
    }
}
