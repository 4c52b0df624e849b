//! Baseline: only namespaced, node-isolated ("safe") sysctls may be set in
//! `spec.securityContext.sysctls`. The safe set grows in v1.27, v1.29 and v1.32.

use super::Violation;
use crate::pod::{PodParts, array, name};

/// Safe from v1.0.
const SAFE_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
/// Added in v1.27.
const ADDED_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
/// Added in v1.29.
const ADDED_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
/// Added in v1.32.
const ADDED_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];

/// `sysctls` from v1.0.
pub(super) fn sysctls_1_0(pod: &PodParts) -> Option<Violation> {
    sysctls(pod, &[SAFE_1_0])
}

/// `sysctls` from v1.27.
pub(super) fn sysctls_1_27(pod: &PodParts) -> Option<Violation> {
    sysctls(pod, &[SAFE_1_0, ADDED_1_27])
}

/// `sysctls` from v1.29.
pub(super) fn sysctls_1_29(pod: &PodParts) -> Option<Violation> {
    sysctls(pod, &[SAFE_1_0, ADDED_1_27, ADDED_1_29])
}

/// `sysctls` from v1.32.
pub(super) fn sysctls_1_32(pod: &PodParts) -> Option<Violation> {
    sysctls(pod, &[SAFE_1_0, ADDED_1_27, ADDED_1_29, ADDED_1_32])
}

/// The check with the safe sets of its version; names are listed in spec order.
fn sysctls(pod: &PodParts, safe: &[&[&str]]) -> Option<Violation> {
    let forbidden: Vec<&str> = array(pod.spec, &["securityContext", "sysctls"])
        .map(name)
        .filter(|n| !safe.iter().any(|set| set.contains(n)))
        .collect();
    if forbidden.is_empty() {
        return None;
    }
    Violation::new("forbidden sysctls", forbidden.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    fn with(names: &[&str]) -> serde_json::Value {
        let sysctls: Vec<_> = names
            .iter()
            .map(|n| json!({"name": n, "value": "1"}))
            .collect();
        json!({"securityContext": {"sysctls": sysctls}})
    }

    #[test]
    fn unsafe_sysctls_are_listed_in_spec_order() {
        assert_table(
            sysctls_1_32,
            vec![
                ("none", json!({}), None),
                ("safe", with(SAFE_1_0), None),
                (
                    "forbidden",
                    with(&["b", "a"]),
                    Some(("forbidden sysctls", "b, a")),
                ),
                (
                    "mixed",
                    with(&["kernel.shm_rmid_forced", "kernel.msgmax"]),
                    Some(("forbidden sysctls", "kernel.msgmax")),
                ),
            ],
        );
    }

    #[test]
    fn the_safe_set_grows_with_the_policy_version() {
        type Check = fn(&PodParts) -> Option<Violation>;
        let checks: [(Check, &[&str], &[&str]); 4] = [
            (sysctls_1_0, SAFE_1_0, ADDED_1_27),
            (sysctls_1_27, ADDED_1_27, ADDED_1_29),
            (sysctls_1_29, ADDED_1_29, ADDED_1_32),
            (sysctls_1_32, ADDED_1_32, &[]),
        ];
        for (check, newly_safe, still_unsafe) in checks {
            assert_table(check, vec![("newly safe", with(newly_safe), None)]);
            if !still_unsafe.is_empty() {
                let detail = still_unsafe.join(", ");
                assert_table(
                    check,
                    vec![(
                        "not yet safe",
                        with(still_unsafe),
                        Some(("forbidden sysctls", &detail)),
                    )],
                );
            }
        }
    }
}
