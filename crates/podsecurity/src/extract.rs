//! Finding the pod spec inside the objects upstream evaluates (upstream's
//! `DefaultPodSpecExtractor`): pods themselves, and the pod templates of the built-in
//! workload resources.

use serde_json::Value;

use crate::pod::{NULL, PodParts, field};

/// The resources holding a pod spec, as `(group, plural)`.
pub const POD_SPEC_RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("", "podtemplates"),
    ("apps", "replicasets"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
];

/// Whether objects of `(group, resource)` hold a pod spec that PodSecurity evaluates.
pub fn has_pod_spec(group: &str, resource: &str) -> bool {
    POD_SPEC_RESOURCES.contains(&(group, resource))
}

/// Whether PodSecurity admission looks at requests for `(group, resource)` at all: the
/// pod-spec resources and namespaces.
pub fn applies_to(group: &str, resource: &str) -> bool {
    (group, resource) == ("", "namespaces") || has_pod_spec(group, resource)
}

/// The metadata and spec to evaluate for an object of `(group, resource)`.
///
/// `None` when the resource holds no pod spec, or when a replication controller has no
/// template (its template is optional; every other template is always present, so an
/// absent one evaluates as an empty pod).
pub fn extract_pod_spec<'a>(
    group: &str,
    resource: &str,
    object: &'a Value,
) -> Option<PodParts<'a>> {
    let template = match (group, resource) {
        ("", "pods") => return Some(PodParts::of_pod(object)),
        ("", "podtemplates") => object.get("template").unwrap_or(&NULL),
        ("", "replicationcontrollers") => field(object, &["spec", "template"])?,
        ("apps", "replicasets" | "deployments" | "statefulsets" | "daemonsets")
        | ("batch", "jobs") => object.pointer("/spec/template").unwrap_or(&NULL),
        ("batch", "cronjobs") => object
            .pointer("/spec/jobTemplate/spec/template")
            .unwrap_or(&NULL),
        _ => return None,
    };
    Some(PodParts::of_pod(template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({"metadata": {"name": "foo-pod"}, "spec": {"containers": [{"name": "foo-container"}]}})
    }

    #[test]
    fn every_pod_spec_resource_yields_the_template() {
        let t = template();
        let objects = [
            ("", "pods", t.clone()),
            ("", "podtemplates", json!({"template": t})),
            (
                "",
                "replicationcontrollers",
                json!({"spec": {"template": t}}),
            ),
            ("apps", "replicasets", json!({"spec": {"template": t}})),
            ("apps", "deployments", json!({"spec": {"template": t}})),
            ("apps", "statefulsets", json!({"spec": {"template": t}})),
            ("apps", "daemonsets", json!({"spec": {"template": t}})),
            ("batch", "jobs", json!({"spec": {"template": t}})),
            (
                "batch",
                "cronjobs",
                json!({"spec": {"jobTemplate": {"spec": {"template": t}}}}),
            ),
        ];
        for (group, resource, object) in &objects {
            let parts = extract_pod_spec(group, resource, object)
                .unwrap_or_else(|| panic!("{group}/{resource}"));
            assert_eq!(parts.metadata, &t["metadata"], "{group}/{resource}");
            assert_eq!(parts.spec, &t["spec"], "{group}/{resource}");
            assert!(has_pod_spec(group, resource));
            assert!(applies_to(group, resource));
        }
        assert_eq!(objects.len(), POD_SPEC_RESOURCES.len());
    }

    #[test]
    fn a_replication_controller_without_template_has_nothing_to_evaluate() {
        assert!(extract_pod_spec("", "replicationcontrollers", &json!({"spec": {}})).is_none());
        let deployment = json!({"spec": {}});
        let parts = extract_pod_spec("apps", "deployments", &deployment);
        assert!(parts.is_some_and(|p| p.spec.is_null()));
    }

    #[test]
    fn other_resources_hold_no_pod_spec() {
        for (group, resource) in [("", "services"), ("apps", "foobars"), ("", "namespaces")] {
            assert!(!has_pod_spec(group, resource));
            assert!(extract_pod_spec(group, resource, &json!({})).is_none());
        }
        assert!(applies_to("", "namespaces"));
        assert!(!applies_to("", "services"));
    }
}
