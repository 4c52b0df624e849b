//! Restricted (from v1.8): every container must set
//! `securityContext.allowPrivilegeEscalation=false`; from v1.25 Windows pods are exempt.

use super::{Violation, containers_phrase};
use crate::pod::{PodParts, flag, name};

/// `allowPrivilegeEscalation` from v1.8.
pub(super) fn allow_privilege_escalation_1_8(pod: &PodParts) -> Option<Violation> {
    let bad: Vec<&str> = pod
        .containers()
        .filter(|c| flag(c, &["securityContext", "allowPrivilegeEscalation"]) != Some(false))
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    )
}

/// `allowPrivilegeEscalation` from v1.25: as v1.8, but Windows pods are exempt.
pub(super) fn allow_privilege_escalation_1_25(pod: &PodParts) -> Option<Violation> {
    if pod.is_windows() {
        return None;
    }
    allow_privilege_escalation_1_8(pod)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn privilege_escalation_must_be_explicitly_disabled() {
        for check in [
            allow_privilege_escalation_1_8,
            allow_privilege_escalation_1_25,
        ] {
            assert_table(
                check,
                vec![
                    (
                        "disabled",
                        json!({"containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": false}}]}),
                        None,
                    ),
                    (
                        "unset, empty or true",
                        json!({"containers": [
                            {"name": "a"},
                            {"name": "b", "securityContext": {}},
                            {"name": "c", "securityContext": {"allowPrivilegeEscalation": true}},
                            {"name": "d", "securityContext": {"allowPrivilegeEscalation": false}},
                        ]}),
                        Some((
                            "allowPrivilegeEscalation != false",
                            r#"containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false"#,
                        )),
                    ),
                ],
            );
        }
    }

    #[test]
    fn windows_pods_may_leave_privilege_escalation_unset_from_1_25() {
        let windows = json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]});
        assert_table(
            allow_privilege_escalation_1_25,
            vec![("windows", windows.clone(), None)],
        );
        assert_table(
            allow_privilege_escalation_1_8,
            vec![(
                "windows before 1.25",
                windows,
                Some((
                    "allowPrivilegeEscalation != false",
                    r#"container "a" must set securityContext.allowPrivilegeEscalation=false"#,
                )),
            )],
        );
    }
}
