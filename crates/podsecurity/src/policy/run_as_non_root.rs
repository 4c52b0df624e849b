//! Restricted: containers must run as non-root (`runAsNonRoot=true` on the pod, with no
//! container setting it false, or on every container).

use super::{Violation, containers_phrase};
use crate::pod::{PodParts, flag, name};

/// `runAsNonRoot` from v1.0.
pub(super) fn run_as_non_root_1_0(pod: &PodParts) -> Option<Violation> {
    let mut setters = Vec::new();
    let mut pod_non_root = false;
    match flag(pod.spec, &["securityContext", "runAsNonRoot"]) {
        Some(false) => setters.push("pod".to_string()),
        Some(true) => pod_non_root = true,
        None => {}
    }
    let mut explicitly_bad = Vec::new();
    let mut implicitly_bad = Vec::new();
    for container in pod.containers() {
        match flag(container, &["securityContext", "runAsNonRoot"]) {
            Some(false) => explicitly_bad.push(name(container)),
            Some(true) => {}
            None if !pod_non_root => implicitly_bad.push(name(container)),
            None => {}
        }
    }
    if !explicitly_bad.is_empty() {
        setters.push(containers_phrase(&explicitly_bad));
    }
    if !setters.is_empty() {
        return Violation::new(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        );
    }
    if implicitly_bad.is_empty() {
        return None;
    }
    Violation::new(
        "runAsNonRoot != true",
        format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            containers_phrase(&implicitly_bad)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    const REASON: &str = "runAsNonRoot != true";

    #[test]
    fn run_as_non_root_must_hold_for_every_container() {
        assert_table(
            run_as_non_root_1_0,
            vec![
                (
                    "pod level",
                    json!({"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "a"}]}),
                    None,
                ),
                (
                    "every container",
                    json!({"containers": [{"name": "a", "securityContext": {"runAsNonRoot": true}}]}),
                    None,
                ),
                (
                    "no pod spec security",
                    json!({"containers": [
                        {"name": "a"},
                        {"name": "b", "securityContext": {}},
                        {"name": "c", "securityContext": {"runAsNonRoot": false}},
                        {"name": "d", "securityContext": {"runAsNonRoot": false}},
                        {"name": "e", "securityContext": {"runAsNonRoot": true}},
                    ]}),
                    Some((
                        REASON,
                        r#"containers "c", "d" must not set securityContext.runAsNonRoot=false"#,
                    )),
                ),
                (
                    "pod false",
                    json!({"securityContext": {"runAsNonRoot": false}, "containers": [
                        {"name": "a"},
                        {"name": "c", "securityContext": {"runAsNonRoot": false}},
                    ]}),
                    Some((
                        REASON,
                        r#"pod and container "c" must not set securityContext.runAsNonRoot=false"#,
                    )),
                ),
                (
                    "unset containers fall through",
                    json!({"containers": [
                        {"name": "a"},
                        {"name": "b", "securityContext": {}},
                        {"name": "d", "securityContext": {"runAsNonRoot": true}},
                    ]}),
                    Some((
                        REASON,
                        r#"pod or containers "a", "b" must set securityContext.runAsNonRoot=true"#,
                    )),
                ),
                (
                    "user namespaces do not relax it",
                    json!({"hostUsers": false, "containers": [{"name": "a"}]}),
                    Some((
                        REASON,
                        r#"pod or container "a" must set securityContext.runAsNonRoot=true"#,
                    )),
                ),
            ],
        );
    }
}
