//! Baseline: privileged containers are forbidden
//! (`securityContext.privileged` must be unset or false on every container).

use super::{Violation, containers_phrase};
use crate::pod::{PodParts, flag, name};

/// `privileged` from v1.0.
pub(super) fn privileged_1_0(pod: &PodParts) -> Option<Violation> {
    let bad: Vec<&str> = pod
        .containers()
        .filter(|c| flag(c, &["securityContext", "privileged"]) == Some(true))
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn privileged_containers_of_every_kind_are_named() {
        assert_table(
            privileged_1_0,
            vec![
                (
                    "unset or false",
                    json!({"containers": [
                        {"name": "a"},
                        {"name": "b", "securityContext": {}},
                        {"name": "c", "securityContext": {"privileged": false}},
                    ]}),
                    None,
                ),
                (
                    "one",
                    json!({"containers": [{"name": "a", "securityContext": {"privileged": true}}]}),
                    Some((
                        "privileged",
                        r#"container "a" must not set securityContext.privileged=true"#,
                    )),
                ),
                (
                    "init, regular and ephemeral",
                    json!({
                        "containers": [{"name": "b", "securityContext": {"privileged": true}}],
                        "initContainers": [{"name": "a", "securityContext": {"privileged": true}}],
                        "ephemeralContainers": [{"name": "c", "securityContext": {"privileged": true}}],
                    }),
                    Some((
                        "privileged",
                        r#"containers "a", "b", "c" must not set securityContext.privileged=true"#,
                    )),
                ),
            ],
        );
    }
}
