//! Restricted (from v1.23): containers must not run as UID 0 (`runAsUser: 0` is forbidden on
//! the pod and every container; unset is allowed).

use super::{Violation, containers_phrase};
use crate::pod::{PodParts, integer, name};

/// `runAsUser` from v1.23.
pub(super) fn run_as_user_1_23(pod: &PodParts) -> Option<Violation> {
    let root = |v| integer(v, &["securityContext", "runAsUser"]) == Some(0);
    let mut setters = Vec::new();
    if root(pod.spec) {
        setters.push("pod".to_string());
    }
    let bad: Vec<&str> = pod.containers().filter(|c| root(c)).map(name).collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    Violation::new(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn uid_zero_is_refused_wherever_it_is_set() {
        assert_table(
            run_as_user_1_23,
            vec![
                (
                    "non-zero or unset",
                    json!({"securityContext": {"runAsUser": 1000}, "containers": [
                        {"name": "a"},
                        {"name": "b", "securityContext": {"runAsUser": 1}},
                    ]}),
                    None,
                ),
                (
                    "pod",
                    json!({"securityContext": {"runAsUser": 0}, "containers": [{"name": "a"}]}),
                    Some(("runAsUser=0", "pod must not set runAsUser=0")),
                ),
                (
                    "pod and containers",
                    json!({"securityContext": {"runAsUser": 0}, "containers": [
                        {"name": "a", "securityContext": {"runAsUser": 0}},
                        {"name": "b", "securityContext": {"runAsUser": 0}},
                        {"name": "c", "securityContext": {"runAsUser": 1}},
                    ]}),
                    Some((
                        "runAsUser=0",
                        r#"pod and containers "a", "b" must not set runAsUser=0"#,
                    )),
                ),
                (
                    "one container",
                    json!({"containers": [{"name": "a", "securityContext": {"runAsUser": 0}}]}),
                    Some(("runAsUser=0", r#"container "a" must not set runAsUser=0"#)),
                ),
            ],
        );
    }
}
