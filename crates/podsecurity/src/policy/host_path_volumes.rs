//! Baseline: hostPath volumes are forbidden (`spec.volumes[*].hostPath` must be unset).

use super::{Violation, join_quote, pluralize};
use crate::pod::{PodParts, array, field, name};

/// `hostPathVolumes` from v1.0.
pub(super) fn host_path_volumes_1_0(pod: &PodParts) -> Option<Violation> {
    let bad: Vec<&str> = array(pod.spec, &["volumes"])
        .filter(|v| field(v, &["hostPath"]).is_some())
        .map(name)
        .collect();
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn host_path_volumes_are_named_in_spec_order() {
        assert_table(
            host_path_volumes_1_0,
            vec![
                (
                    "other volumes",
                    json!({"volumes": [{"name": "a", "emptyDir": {}}]}),
                    None,
                ),
                (
                    "one",
                    json!({"volumes": [{"name": "a", "hostPath": {"path": "/"}}]}),
                    Some(("hostPath volumes", r#"volume "a""#)),
                ),
                (
                    "several",
                    json!({"volumes": [
                        {"name": "b", "hostPath": {"path": "/b"}},
                        {"name": "x", "emptyDir": {}},
                        {"name": "a", "hostPath": {"path": "/a"}},
                    ]}),
                    Some(("hostPath volumes", r#"volumes "b", "a""#)),
                ),
            ],
        );
    }
}
