//! Seccomp. Baseline: a profile, when set, must be `RuntimeDefault` or `Localhost` (before
//! v1.19 the alpha annotations are checked instead: `runtime/default`, `docker/default` or
//! `localhost/*`). Restricted (from v1.19, replacing the baseline check): the pod, or every
//! container, must set one of those two types; from v1.25 Windows pods are exempt.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Violation, containers_phrase, join_quote, pluralize};
use crate::go_quote;
use crate::pod::{PodParts, field, name, text};

/// The pod-wide alpha annotation.
const POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
/// The per-container alpha annotation prefix (followed by the container name).
const CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// Whether a profile type is allowed.
fn valid_type(kind: &str) -> bool {
    matches!(kind, "Localhost" | "RuntimeDefault")
}

/// Whether an alpha annotation value is allowed.
fn valid_annotation(value: &str) -> bool {
    value == "runtime/default" || value == "docker/default" || value.starts_with("localhost/")
}

/// The profile type under `securityContext` of `value`, when a profile is set.
fn profile_type(value: &Value) -> Option<&str> {
    field(value, &["securityContext", "seccompProfile"]).map(|p| text(p, &["type"]))
}

/// `seccompProfile_baseline` from v1.0: the alpha annotations.
pub(super) fn seccomp_profile_baseline_1_0(pod: &PodParts) -> Option<Violation> {
    let mut forbidden = BTreeSet::new();
    if let Some(value) = pod.annotation(POD_ANNOTATION)
        && !valid_annotation(value)
    {
        forbidden.insert(format!("{POD_ANNOTATION}={}", go_quote(value)));
    }
    for container in pod.containers() {
        let key = format!("{CONTAINER_ANNOTATION_PREFIX}{}", name(container));
        if let Some(value) = pod.annotation(&key)
            && !valid_annotation(value)
        {
            forbidden.insert(format!("{key}={}", go_quote(value)));
        }
    }
    if forbidden.is_empty() {
        return None;
    }
    let forbidden: Vec<String> = forbidden.into_iter().collect();
    Violation::new(
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", forbidden.len()),
            forbidden.join(", ")
        ),
    )
}

/// Explicitly bad settings: who set them and which types.
struct BadSettings<'a> {
    /// `pod` and/or `container(s) "..."`.
    setters: Vec<String>,
    /// The disallowed types.
    values: BTreeSet<&'a str>,
}

impl BadSettings<'_> {
    /// The `... must not set securityContext.seccompProfile.type to ...` violation, if any.
    fn violation(&self) -> Option<Violation> {
        if self.setters.is_empty() {
            return None;
        }
        let values: Vec<&str> = self.values.iter().copied().collect();
        Violation::new(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                self.setters.join(" and "),
                join_quote(&values)
            ),
        )
    }
}

/// Scans the pod for explicitly bad profiles; also returns whether the pod sets a valid
/// one, and the containers that set none.
fn scan<'a>(pod: &PodParts<'a>) -> (BadSettings<'a>, bool, Vec<&'a str>) {
    let mut bad = BadSettings {
        setters: Vec::new(),
        values: BTreeSet::new(),
    };
    let mut pod_valid = false;
    if let Some(kind) = profile_type(pod.spec) {
        if valid_type(kind) {
            pod_valid = true;
        } else {
            bad.setters.push("pod".to_string());
            bad.values.insert(kind);
        }
    }
    let mut explicitly_bad = Vec::new();
    let mut unset = Vec::new();
    for container in pod.containers() {
        match profile_type(container) {
            Some(kind) if !valid_type(kind) => {
                explicitly_bad.push(name(container));
                bad.values.insert(kind);
            }
            Some(_) => {}
            None => unset.push(name(container)),
        }
    }
    if !explicitly_bad.is_empty() {
        bad.setters.push(containers_phrase(&explicitly_bad));
    }
    (bad, pod_valid, unset)
}

/// `seccompProfile_baseline` from v1.19: the `seccompProfile` fields.
pub(super) fn seccomp_profile_baseline_1_19(pod: &PodParts) -> Option<Violation> {
    scan(pod).0.violation()
}

/// `seccompProfile_restricted` from v1.19.
pub(super) fn seccomp_profile_restricted_1_19(pod: &PodParts) -> Option<Violation> {
    let (bad, pod_valid, unset) = scan(pod);
    if let Some(violation) = bad.violation() {
        return Some(violation);
    }
    if pod_valid || unset.is_empty() {
        return None;
    }
    Violation::new(
        "seccompProfile",
        format!(
            r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
            containers_phrase(&unset)
        ),
    )
}

/// `seccompProfile_restricted` from v1.25: as v1.19, but Windows pods are exempt.
pub(super) fn seccomp_profile_restricted_1_25(pod: &PodParts) -> Option<Violation> {
    if pod.is_windows() {
        return None;
    }
    seccomp_profile_restricted_1_19(pod)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_table, run_pod};
    use super::*;
    use serde_json::json;

    fn profile(kind: &str) -> Value {
        json!({"seccompProfile": {"type": kind}})
    }

    #[test]
    fn baseline_annotations_allow_runtime_docker_and_localhost_profiles() {
        let pod = |annotations: Value| {
            json!({"metadata": {"annotations": annotations}, "spec": {
                "initContainers": [{"name": "i"}],
                "containers": [{"name": "a"}, {"name": "b"}],
            }})
        };
        let allowed = pod(json!({
            "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
            "container.seccomp.security.alpha.kubernetes.io/a": "docker/default",
            "container.seccomp.security.alpha.kubernetes.io/b": "localhost/x",
            "container.seccomp.security.alpha.kubernetes.io/other": "unconfined",
        }));
        assert_eq!(run_pod(seccomp_profile_baseline_1_0, allowed), None);
        let one = pod(json!({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}));
        assert_eq!(
            run_pod(seccomp_profile_baseline_1_0, one),
            Some((
                "seccompProfile".into(),
                r#"forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined""#
                    .into()
            ))
        );
        let several = pod(json!({
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
            "container.seccomp.security.alpha.kubernetes.io/i": "",
            "container.seccomp.security.alpha.kubernetes.io/b": "bogus",
        }));
        assert_eq!(
            run_pod(seccomp_profile_baseline_1_0, several),
            Some((
                "seccompProfile".into(),
                r#"forbidden annotations container.seccomp.security.alpha.kubernetes.io/b="bogus", container.seccomp.security.alpha.kubernetes.io/i="", seccomp.security.alpha.kubernetes.io/pod="unconfined""#.into()
            ))
        );
    }

    #[test]
    fn baseline_fields_allow_unset_runtime_default_and_localhost() {
        assert_table(
            seccomp_profile_baseline_1_19,
            vec![
                (
                    "unset and allowed",
                    json!({"securityContext": profile("RuntimeDefault"), "containers": [
                        {"name": "a"},
                        {"name": "b", "securityContext": profile("Localhost")},
                    ]}),
                    None,
                ),
                (
                    "pod unconfined",
                    json!({"securityContext": profile("Unconfined")}),
                    Some((
                        "seccompProfile",
                        r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#,
                    )),
                ),
                (
                    "pod and containers",
                    json!({"securityContext": profile("Unconfined"), "containers": [
                        {"name": "a", "securityContext": profile("Unconfined")},
                        {"name": "b", "securityContext": profile("Bogus")},
                        {"name": "c", "securityContext": profile("RuntimeDefault")},
                    ]}),
                    Some((
                        "seccompProfile",
                        r#"pod and containers "a", "b" must not set securityContext.seccompProfile.type to "Bogus", "Unconfined""#,
                    )),
                ),
            ],
        );
    }

    #[test]
    fn restricted_requires_a_profile_on_the_pod_or_every_container() {
        for check in [
            seccomp_profile_restricted_1_19,
            seccomp_profile_restricted_1_25,
        ] {
            assert_table(
                check,
                vec![
                    (
                        "pod level",
                        json!({"securityContext": profile("RuntimeDefault"), "containers": [{"name": "a"}]}),
                        None,
                    ),
                    (
                        "every container",
                        json!({"containers": [
                            {"name": "a", "securityContext": profile("Localhost")},
                            {"name": "b", "securityContext": profile("RuntimeDefault")},
                        ]}),
                        None,
                    ),
                    (
                        "some containers unset",
                        json!({"containers": [
                            {"name": "a"},
                            {"name": "b", "securityContext": profile("RuntimeDefault")},
                            {"name": "c", "securityContext": {}},
                        ]}),
                        Some((
                            "seccompProfile",
                            r#"pod or containers "a", "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                        )),
                    ),
                    (
                        "explicitly bad wins over unset",
                        json!({"securityContext": profile("Unconfined"), "containers": [
                            {"name": "a"},
                            {"name": "b", "securityContext": profile("Unconfined")},
                        ]}),
                        Some((
                            "seccompProfile",
                            r#"pod and container "b" must not set securityContext.seccompProfile.type to "Unconfined""#,
                        )),
                    ),
                    (
                        "bad pod does not cover unset containers",
                        json!({"securityContext": profile("Unconfined")}),
                        Some((
                            "seccompProfile",
                            r#"pod must not set securityContext.seccompProfile.type to "Unconfined""#,
                        )),
                    ),
                ],
            );
        }
    }

    #[test]
    fn windows_pods_may_omit_seccomp_from_1_25() {
        let windows = json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]});
        assert_table(
            seccomp_profile_restricted_1_25,
            vec![("windows", windows.clone(), None)],
        );
        assert_table(
            seccomp_profile_restricted_1_19,
            vec![(
                "windows before 1.25",
                windows,
                Some((
                    "seccompProfile",
                    r#"pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                )),
            )],
        );
    }
}
