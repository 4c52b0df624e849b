//! Baseline (from v1.34): probes and lifecycle handlers may not name a `host`
//! (`httpGet.host` and `tcpSocket.host` of the liveness, readiness and startup probes and of
//! the postStart and preStop handlers must be unset or empty), on every container.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Violation, containers_phrase, join_quote, pluralize};
use crate::pod::{PodParts, field, name, text};

/// The hosts set by one probe or handler.
fn hosts(handler: Option<&Value>) -> impl Iterator<Item = &str> {
    ["httpGet", "tcpSocket"]
        .into_iter()
        .filter_map(move |action| {
            let host = text(handler?, &[action, "host"]);
            (!host.is_empty()).then_some(host)
        })
}

/// `hostProbesAndHostLifecycle` from v1.34.
pub(super) fn host_probes_and_host_lifecycle_1_34(pod: &PodParts) -> Option<Violation> {
    let mut bad_containers = BTreeSet::new();
    let mut forbidden = BTreeSet::new();
    for container in pod.containers() {
        let handlers = [
            field(container, &["livenessProbe"]),
            field(container, &["readinessProbe"]),
            field(container, &["startupProbe"]),
            field(container, &["lifecycle", "postStart"]),
            field(container, &["lifecycle", "preStop"]),
        ];
        for handler in handlers {
            for host in hosts(handler) {
                bad_containers.insert(name(container));
                forbidden.insert(host);
            }
        }
    }
    if bad_containers.is_empty() {
        return None;
    }
    let bad_containers: Vec<&str> = bad_containers.into_iter().collect();
    let forbidden: Vec<&str> = forbidden.into_iter().collect();
    Violation::new(
        "probe or lifecycle host",
        format!(
            "{} {} {} {}",
            containers_phrase(&bad_containers),
            pluralize("uses", "use", bad_containers.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                forbidden.len()
            ),
            join_quote(&forbidden)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    const REASON: &str = "probe or lifecycle host";

    #[test]
    fn hosts_in_probes_and_handlers_are_refused_even_loopback() {
        assert_table(
            host_probes_and_host_lifecycle_1_34,
            vec![
                (
                    "unset hosts",
                    json!({"containers": [{
                        "name": "a",
                        "livenessProbe": {"httpGet": {"port": 80}},
                        "readinessProbe": {"tcpSocket": {"port": 80, "host": ""}},
                        "lifecycle": {"postStart": {"httpGet": {"port": 80}}},
                    }]}),
                    None,
                ),
                (
                    "loopback hosts",
                    json!({"containers": [{
                        "name": "a",
                        "livenessProbe": {"httpGet": {"host": "127.0.0.1"}},
                        "readinessProbe": {"tcpSocket": {"host": "::1"}},
                        "startupProbe": {"httpGet": {"host": "localhost"}},
                    }]}),
                    Some((
                        REASON,
                        r#"container "a" uses probe or lifecycle hosts "127.0.0.1", "::1", "localhost""#,
                    )),
                ),
                (
                    "readiness tcp",
                    json!({"containers": [{"name": "b", "readinessProbe": {"tcpSocket": {"host": "invalid.host"}}}]}),
                    Some((
                        REASON,
                        r#"container "b" uses probe or lifecycle host "invalid.host""#,
                    )),
                ),
                (
                    "postStart tcp",
                    json!({"containers": [{"name": "d", "lifecycle": {"postStart": {"tcpSocket": {"host": "invalid.host"}}}}]}),
                    Some((
                        REASON,
                        r#"container "d" uses probe or lifecycle host "invalid.host""#,
                    )),
                ),
                (
                    "preStop http",
                    json!({"containers": [{"name": "e", "lifecycle": {"preStop": {"httpGet": {"host": "another.invalid.host"}}}}]}),
                    Some((
                        REASON,
                        r#"container "e" uses probe or lifecycle host "another.invalid.host""#,
                    )),
                ),
                (
                    "several containers, sorted and deduplicated",
                    json!({"containers": [
                        {"name": "valid"},
                        {"name": "invalid2", "lifecycle": {"preStop": {"tcpSocket": {"host": "b.com"}}},
                         "startupProbe": {"httpGet": {"host": "a.com"}}},
                        {"name": "invalid1", "livenessProbe": {"httpGet": {"host": "a.com"}}},
                    ]}),
                    Some((
                        REASON,
                        r#"containers "invalid1", "invalid2" use probe or lifecycle hosts "a.com", "b.com""#,
                    )),
                ),
                (
                    "init container",
                    json!({"initContainers": [{"name": "init", "livenessProbe": {"httpGet": {"host": "invalid.init.host"}}}]}),
                    Some((
                        REASON,
                        r#"container "init" uses probe or lifecycle host "invalid.init.host""#,
                    )),
                ),
            ],
        );
    }
}
