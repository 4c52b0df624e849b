//! Baseline: host ports are forbidden (`ports[*].hostPort` must be unset or 0 on every
//! container).

use std::collections::BTreeSet;

use super::{Violation, containers_phrase, pluralize};
use crate::pod::{PodParts, array, integer, name};

/// `hostPorts` from v1.0.
pub(super) fn host_ports_1_0(pod: &PodParts) -> Option<Violation> {
    let mut bad = Vec::new();
    // Upstream keeps the ports as strings, so they sort as text ("8080" before "90").
    let mut ports = BTreeSet::new();
    for container in pod.containers() {
        let mut valid = true;
        for port in array(container, &["ports"]) {
            let host_port = integer(port, &["hostPort"]).unwrap_or(0);
            if host_port != 0 {
                valid = false;
                ports.insert(host_port.to_string());
            }
        }
        if !valid {
            bad.push(name(container));
        }
    }
    if bad.is_empty() {
        return None;
    }
    let ports: Vec<String> = ports.into_iter().collect();
    Violation::new(
        "hostPort",
        format!(
            "{} {} {} {}",
            containers_phrase(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn host_ports_are_listed_once_each_sorted_as_text() {
        assert_table(
            host_ports_1_0,
            vec![
                (
                    "container ports only",
                    json!({"containers": [{"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 0}]}]}),
                    None,
                ),
                (
                    "one",
                    json!({"containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}),
                    Some(("hostPort", r#"container "a" uses hostPort 8080"#)),
                ),
                (
                    "several",
                    json!({
                        "initContainers": [{"name": "a", "ports": [{"hostPort": 90}, {"hostPort": 8080}]}],
                        "containers": [{"name": "b", "ports": [{"hostPort": 8080}]}, {"name": "c"}],
                    }),
                    Some(("hostPort", r#"containers "a", "b" use hostPorts 8080, 90"#)),
                ),
            ],
        );
    }
}
