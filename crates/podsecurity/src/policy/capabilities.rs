//! Capabilities. Baseline: `securityContext.capabilities.add` may only hold the container
//! runtime's default set. Restricted (from v1.22, replacing the baseline check): every
//! container must drop `ALL` and may add only `NET_BIND_SERVICE`; from v1.25 Windows pods
//! (`spec.os.name: windows`) are exempt.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Violation, containers_phrase, join_quote};
use crate::pod::{PodParts, array, field, name};

/// The capabilities baseline allows adding: the runtime's defaults.
const BASELINE_ALLOWED: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// A container's `securityContext.capabilities`, when set.
fn capabilities(container: &Value) -> Option<&Value> {
    field(container, &["securityContext", "capabilities"])
}

/// The names in a capability list.
fn names<'a>(capabilities: &'a Value, list: &str) -> impl Iterator<Item = &'a str> + use<'a> {
    array(capabilities, &[list]).map(|c| c.as_str().unwrap_or(""))
}

/// `capabilities_baseline` from v1.0.
pub(super) fn capabilities_baseline_1_0(pod: &PodParts) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut non_default = BTreeSet::new();
    for container in pod.containers() {
        let Some(caps) = capabilities(container) else {
            continue;
        };
        let mut valid = true;
        for cap in names(caps, "add") {
            if !BASELINE_ALLOWED.contains(&cap) {
                valid = false;
                non_default.insert(cap);
            }
        }
        if !valid {
            bad.push(name(container));
        }
    }
    if bad.is_empty() {
        return None;
    }
    let non_default: Vec<&str> = non_default.into_iter().collect();
    Violation::new(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad),
            join_quote(&non_default)
        ),
    )
}

/// `capabilities_restricted` from v1.22.
pub(super) fn capabilities_restricted_1_22(pod: &PodParts) -> Option<Violation> {
    let mut missing_drop_all = Vec::new();
    let mut adding_forbidden = Vec::new();
    let mut forbidden = BTreeSet::new();
    for container in pod.containers() {
        let Some(caps) = capabilities(container) else {
            missing_drop_all.push(name(container));
            continue;
        };
        if !names(caps, "drop").any(|c| c == "ALL") {
            missing_drop_all.push(name(container));
        }
        let mut added_forbidden = false;
        for cap in names(caps, "add") {
            if cap != "NET_BIND_SERVICE" {
                added_forbidden = true;
                forbidden.insert(cap);
            }
        }
        if added_forbidden {
            adding_forbidden.push(name(container));
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            r#"{} must set securityContext.capabilities.drop=["ALL"]"#,
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding_forbidden.is_empty() {
        let forbidden: Vec<&str> = forbidden.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding_forbidden),
            join_quote(&forbidden)
        ));
    }
    if details.is_empty() {
        return None;
    }
    Violation::new("unrestricted capabilities", details.join("; "))
}

/// `capabilities_restricted` from v1.25: as v1.22, but Windows pods are exempt.
pub(super) fn capabilities_restricted_1_25(pod: &PodParts) -> Option<Violation> {
    if pod.is_windows() {
        return None;
    }
    capabilities_restricted_1_22(pod)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn baseline_allows_only_default_capabilities_to_be_added() {
        assert_table(
            capabilities_baseline_1_0,
            vec![
                (
                    "defaults and drops",
                    json!({"containers": [
                        {"name": "a", "securityContext": {"capabilities": {"add": BASELINE_ALLOWED}}},
                        {"name": "b", "securityContext": {"capabilities": {"drop": ["ALL", "NET_RAW"]}}},
                        {"name": "c"},
                    ]}),
                    None,
                ),
                (
                    "one",
                    json!({"containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["NET_RAW", "CHOWN"]}}}]}),
                    Some((
                        "non-default capabilities",
                        r#"container "a" must not include "NET_RAW" in securityContext.capabilities.add"#,
                    )),
                ),
                (
                    "several, capabilities sorted and deduplicated",
                    json!({"containers": [
                        {"name": "a", "securityContext": {"capabilities": {"add": ["SYS_ADMIN", "NET_RAW"]}}},
                        {"name": "b", "securityContext": {"capabilities": {"add": ["NET_RAW"]}}},
                    ]}),
                    Some((
                        "non-default capabilities",
                        r#"containers "a", "b" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add"#,
                    )),
                ),
            ],
        );
    }

    fn mixed() -> serde_json::Value {
        json!({"containers": [
            {"name": "a", "securityContext": {"capabilities": {"add": ["FOO", "BAR"]}}},
            {"name": "b", "securityContext": {"capabilities": {"add": ["BAR", "BAZ"]}}},
            {"name": "c", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["ALL", "FOO"]}}},
        ]})
    }

    const MIXED_DETAIL: &str = r#"containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in securityContext.capabilities.add"#;

    #[test]
    fn restricted_requires_dropping_all_and_adding_at_most_net_bind_service() {
        for check in [capabilities_restricted_1_22, capabilities_restricted_1_25] {
            assert_table(
                check,
                vec![
                    (
                        "compliant",
                        json!({"containers": [{"name": "a", "securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}),
                        None,
                    ),
                    (
                        "no security context",
                        json!({"containers": [{"name": "a"}]}),
                        Some((
                            "unrestricted capabilities",
                            r#"container "a" must set securityContext.capabilities.drop=["ALL"]"#,
                        )),
                    ),
                    (
                        "mixed",
                        mixed(),
                        Some(("unrestricted capabilities", MIXED_DETAIL)),
                    ),
                ],
            );
        }
    }

    #[test]
    fn windows_pods_are_exempt_from_restricted_capabilities_from_1_25() {
        let windows = json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]});
        assert_table(
            capabilities_restricted_1_25,
            vec![("windows", windows.clone(), None)],
        );
        assert_table(
            capabilities_restricted_1_22,
            vec![(
                "windows before 1.25",
                windows,
                Some((
                    "unrestricted capabilities",
                    r#"container "a" must set securityContext.capabilities.drop=["ALL"]"#,
                )),
            )],
        );
        assert_table(
            capabilities_restricted_1_25,
            vec![(
                "linux",
                json!({"os": {"name": "linux"}, "containers": [{"name": "a"}]}),
                Some((
                    "unrestricted capabilities",
                    r#"container "a" must set securityContext.capabilities.drop=["ALL"]"#,
                )),
            )],
        );
    }
}
