//! Baseline: the default /proc masks are required (`securityContext.procMount` must be
//! unset or `Default` on every container).

use std::collections::BTreeSet;

use super::{Violation, containers_phrase, join_quote};
use crate::pod::{PodParts, field, name};

/// `procMount` from v1.0.
pub(super) fn proc_mount_1_0(pod: &PodParts) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for container in pod.containers() {
        let Some(proc_mount) = field(container, &["securityContext", "procMount"]) else {
            continue;
        };
        let proc_mount = proc_mount.as_str().unwrap_or("");
        if proc_mount != "Default" {
            bad.push(name(container));
            types.insert(proc_mount);
        }
    }
    if bad.is_empty() {
        return None;
    }
    let types: Vec<&str> = types.into_iter().collect();
    Violation::new(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&types)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_default_proc_mount_is_allowed() {
        assert_table(
            proc_mount_1_0,
            vec![
                (
                    "unset or default",
                    json!({"containers": [
                        {"name": "a"},
                        {"name": "b", "securityContext": {}},
                        {"name": "c", "securityContext": {"procMount": "Default"}},
                    ]}),
                    None,
                ),
                (
                    "unmasked",
                    json!({"containers": [
                        {"name": "a", "securityContext": {"procMount": "Unmasked"}},
                        {"name": "b", "securityContext": {"procMount": "Default"}},
                    ], "ephemeralContainers": [{"name": "e", "securityContext": {"procMount": "Unmasked"}}]}),
                    Some((
                        "procMount",
                        r#"containers "a", "e" must not set securityContext.procMount to "Unmasked""#,
                    )),
                ),
                (
                    "user namespaces do not relax it",
                    json!({"hostUsers": false, "containers": [{"name": "a", "securityContext": {"procMount": "Unmasked"}}]}),
                    Some((
                        "procMount",
                        r#"container "a" must not set securityContext.procMount to "Unmasked""#,
                    )),
                ),
            ],
        );
    }
}
