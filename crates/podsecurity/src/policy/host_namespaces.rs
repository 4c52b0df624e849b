//! Baseline: sharing the host's network, PID or IPC namespace is forbidden
//! (`spec.hostNetwork`, `spec.hostPID`, `spec.hostIPC` must be unset or false).

use super::Violation;
use crate::pod::{PodParts, flag};

/// `hostNamespaces` from v1.0.
pub(super) fn host_namespaces_1_0(pod: &PodParts) -> Option<Violation> {
    let shared: Vec<&str> = [
        ("hostNetwork", "hostNetwork=true"),
        ("hostPID", "hostPID=true"),
        ("hostIPC", "hostIPC=true"),
    ]
    .into_iter()
    .filter(|(key, _)| flag(pod.spec, &[key]) == Some(true))
    .map(|(_, shown)| shown)
    .collect();
    if shared.is_empty() {
        return None;
    }
    Violation::new("host namespaces", shared.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn host_namespaces_are_listed_network_pid_ipc() {
        assert_table(
            host_namespaces_1_0,
            vec![
                ("none", json!({}), None),
                (
                    "explicit false",
                    json!({"hostNetwork": false, "hostPID": false, "hostIPC": false}),
                    None,
                ),
                (
                    "network",
                    json!({"hostNetwork": true}),
                    Some(("host namespaces", "hostNetwork=true")),
                ),
                (
                    "all",
                    json!({"hostIPC": true, "hostPID": true, "hostNetwork": true}),
                    Some((
                        "host namespaces",
                        "hostNetwork=true, hostPID=true, hostIPC=true",
                    )),
                ),
            ],
        );
    }
}
