//! Baseline: AppArmor may not be disabled or overridden. The `appArmorProfile.type` of the
//! pod and of each container must be unset, `RuntimeDefault` or `Localhost`; the deprecated
//! `container.apparmor.security.beta.kubernetes.io/*` annotations must be empty,
//! `runtime/default` or `localhost/*`. Both rules apply from v1.0.

use std::collections::BTreeSet;

use super::{Violation, containers_phrase, join_quote, pluralize};
use crate::go_quote;
use crate::pod::{PodParts, field, name, text};

/// The deprecated per-container AppArmor annotation prefix.
const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Whether a deprecated annotation value is allowed.
fn allowed_annotation_value(profile: &str) -> bool {
    profile.is_empty() || profile == "runtime/default" || profile.starts_with("localhost/")
}

/// Whether an `appArmorProfile.type` is allowed.
fn allowed_profile_type(profile: &str) -> bool {
    matches!(profile, "RuntimeDefault" | "Localhost")
}

/// The profile type set under `securityContext` of `value`, when a profile is set.
fn profile_type(value: &serde_json::Value) -> Option<&str> {
    field(value, &["securityContext", "appArmorProfile"]).map(|p| text(p, &["type"]))
}

/// `appArmorProfile` from v1.0.
pub(super) fn app_armor_profile_1_0(pod: &PodParts) -> Option<Violation> {
    let mut setters = Vec::new();
    let mut bad_values = BTreeSet::new();
    if let Some(profile) = profile_type(pod.spec).filter(|p| !allowed_profile_type(p)) {
        setters.push("pod".to_string());
        bad_values.insert(profile.to_string());
    }
    let mut bad_containers = Vec::new();
    for container in pod.containers() {
        if let Some(profile) = profile_type(container).filter(|p| !allowed_profile_type(p)) {
            bad_containers.push(name(container));
            bad_values.insert(profile.to_string());
        }
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers));
    }
    let mut annotations: Vec<String> = pod
        .annotations()
        .filter(|(k, v)| k.starts_with(ANNOTATION_PREFIX) && !allowed_annotation_value(v))
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    let mut bad_values: Vec<String> = bad_values.into_iter().collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        bad_values.extend(annotations);
    }
    if setters.is_empty() {
        return None;
    }
    Violation::new(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            bad_values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&bad_values)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_table, run_pod};
    use super::*;
    use serde_json::json;

    #[test]
    fn allowed_profiles_pass() {
        let annotated = json!({"metadata": {"annotations": {
            "container.apparmor.security.beta.kubernetes.io/a": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/b": "localhost/sec-profile01",
            "container.apparmor.security.beta.kubernetes.io/c": "",
            "env": "prod",
        }}, "spec": {}});
        assert_eq!(run_pod(app_armor_profile_1_0, annotated), None);
        assert_table(
            app_armor_profile_1_0,
            vec![
                ("nothing", json!({}), None),
                (
                    "runtime default pod",
                    json!({"securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}),
                    None,
                ),
                (
                    "localhost container",
                    json!({"containers": [{"name": "a", "securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "p"}}}]}),
                    None,
                ),
            ],
        );
    }

    #[test]
    fn unconfined_profiles_name_their_setters() {
        let unconfined = json!({"appArmorProfile": {"type": "Unconfined"}});
        let runtime_default = json!({"appArmorProfile": {"type": "RuntimeDefault"}});
        assert_table(
            app_armor_profile_1_0,
            vec![
                (
                    "pod",
                    json!({"securityContext": unconfined}),
                    Some((
                        "forbidden AppArmor profile",
                        r#"pod must not set AppArmor profile type to "Unconfined""#,
                    )),
                ),
                (
                    "container",
                    json!({"securityContext": runtime_default, "containers": [{"name": "foo", "securityContext": unconfined}]}),
                    Some((
                        "forbidden AppArmor profile",
                        r#"container "foo" must not set AppArmor profile type to "Unconfined""#,
                    )),
                ),
                (
                    "init container",
                    json!({"containers": [{"name": "foo"}], "initContainers": [{"name": "bar", "securityContext": unconfined}]}),
                    Some((
                        "forbidden AppArmor profile",
                        r#"container "bar" must not set AppArmor profile type to "Unconfined""#,
                    )),
                ),
                (
                    "pod and containers share one value",
                    json!({"securityContext": unconfined, "containers": [
                        {"name": "a", "securityContext": unconfined},
                        {"name": "b", "securityContext": unconfined},
                    ]}),
                    Some((
                        "forbidden AppArmor profile",
                        r#"pod and containers "a", "b" must not set AppArmor profile type to "Unconfined""#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn bad_annotations_are_listed_sorted_with_quoted_values() {
        let pod = json!({"metadata": {"annotations": {
            "container.apparmor.security.beta.kubernetes.io/": "bogus",
            "container.apparmor.security.beta.kubernetes.io/a": "",
            "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/c": "localhost/",
            "container.apparmor.security.beta.kubernetes.io/d": "localhost/foo",
            "container.apparmor.security.beta.kubernetes.io/e": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/f": "unknown",
        }}});
        let expected = [
            r#""container.apparmor.security.beta.kubernetes.io/="bogus"""#,
            r#""container.apparmor.security.beta.kubernetes.io/e="unconfined"""#,
            r#""container.apparmor.security.beta.kubernetes.io/f="unknown"""#,
        ]
        .join(", ");
        assert_eq!(
            run_pod(app_armor_profile_1_0, pod),
            Some((
                "forbidden AppArmor profiles".into(),
                format!("annotations must not set AppArmor profile type to {expected}")
            ))
        );
        let both = json!({
            "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}},
            "spec": {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
        });
        assert_eq!(
            run_pod(app_armor_profile_1_0, both),
            Some((
                "forbidden AppArmor profiles".into(),
                r#"pod and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a="unconfined"""#.into()
            ))
        );
    }
}
