//! Baseline: SELinux options may only pick an allowed container type and may not set a user
//! or role, on the pod or any container. `container_engine_t` is allowed from v1.31.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Violation, containers_phrase, join_quote, pluralize};
use crate::pod::{PodParts, field, text};

/// Types allowed from v1.0 (`""` is the runtime's default).
const TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
/// Types allowed from v1.31.
const TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// `seLinuxOptions` from v1.0.
pub(super) fn se_linux_options_1_0(pod: &PodParts) -> Option<Violation> {
    se_linux_options(pod, TYPES_1_0)
}

/// `seLinuxOptions` from v1.31.
pub(super) fn se_linux_options_1_31(pod: &PodParts) -> Option<Violation> {
    se_linux_options(pod, TYPES_1_31)
}

/// What was wrong across all the options checked.
#[derive(Default)]
struct Findings<'a> {
    /// Disallowed types.
    types: BTreeSet<&'a str>,
    /// Whether any options set a user.
    user: bool,
    /// Whether any options set a role.
    role: bool,
}

impl<'a> Findings<'a> {
    /// Records the problems of one `seLinuxOptions`, saying whether it was valid.
    fn record(&mut self, options: &'a Value, allowed_types: &[&str]) -> bool {
        let mut valid = true;
        let kind = text(options, &["type"]);
        if !allowed_types.contains(&kind) {
            valid = false;
            self.types.insert(kind);
        }
        if !text(options, &["user"]).is_empty() {
            valid = false;
            self.user = true;
        }
        if !text(options, &["role"]).is_empty() {
            valid = false;
            self.role = true;
        }
        valid
    }
}

/// The check, with the allowed types of its version.
fn se_linux_options(pod: &PodParts, allowed_types: &[&str]) -> Option<Violation> {
    let options = |v| field(v, &["securityContext", "seLinuxOptions"]);
    let mut findings = Findings::default();
    let mut setters = Vec::new();
    if let Some(opts) = options(pod.spec)
        && !findings.record(opts, allowed_types)
    {
        setters.push("pod".to_string());
    }
    let mut bad_containers = Vec::new();
    for container in pod.containers() {
        if let Some(opts) = options(container)
            && !findings.record(opts, allowed_types)
        {
            bad_containers.push(crate::pod::name(container));
        }
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !findings.types.is_empty() {
        let types: Vec<&str> = findings.types.iter().copied().collect();
        data.push(format!(
            "{} {}",
            pluralize("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if findings.user {
        data.push("user may not be set".to_string());
    }
    if findings.role {
        data.push("role may not be set".to_string());
    }
    Violation::new(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    fn se(options: Value) -> Value {
        json!({"seLinuxOptions": options})
    }

    fn allowed_containers() -> Vec<Value> {
        [
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
        ]
        .iter()
        .zip(["a", "b", "c", "d"])
        .map(|(t, n)| json!({"name": n, "securityContext": se(json!({"type": t}))}))
        .collect()
    }

    #[test]
    fn se_linux_options_list_setters_types_user_and_role() {
        let mut bad = allowed_containers();
        bad.push(json!({"name": "e", "securityContext": se(json!({"type": "bar"}))}));
        bad.push(json!({"name": "f", "securityContext": se(json!({"user": "bar"}))}));
        bad.push(json!({"name": "g", "securityContext": se(json!({"role": "baz"}))}));
        let bad_pod = se(json!({"type": "foo", "user": "bar", "role": "baz"}));
        assert_table(
            se_linux_options_1_31,
            vec![
                (
                    "allowed types",
                    json!({"securityContext": se(json!({})), "containers": allowed_containers()}),
                    None,
                ),
                (
                    "pod and containers",
                    json!({"securityContext": bad_pod, "containers": bad}),
                    Some((
                        "seLinuxOptions",
                        r#"pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set"#,
                    )),
                ),
                (
                    "pod",
                    json!({"securityContext": bad_pod, "containers": allowed_containers()}),
                    Some((
                        "seLinuxOptions",
                        r#"pod set forbidden securityContext.seLinuxOptions: type "foo"; user may not be set; role may not be set"#,
                    )),
                ),
                (
                    "containers",
                    json!({"securityContext": se(json!({})), "containers": bad}),
                    Some((
                        "seLinuxOptions",
                        r#"containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: type "bar"; user may not be set; role may not be set"#,
                    )),
                ),
                (
                    "bad type",
                    json!({"securityContext": se(json!({"type": "bad"}))}),
                    Some((
                        "seLinuxOptions",
                        r#"pod set forbidden securityContext.seLinuxOptions: type "bad""#,
                    )),
                ),
                (
                    "bad user",
                    json!({"securityContext": se(json!({"user": "bad"}))}),
                    Some((
                        "seLinuxOptions",
                        "pod set forbidden securityContext.seLinuxOptions: user may not be set",
                    )),
                ),
                (
                    "bad role",
                    json!({"securityContext": se(json!({"role": "bad"}))}),
                    Some((
                        "seLinuxOptions",
                        "pod set forbidden securityContext.seLinuxOptions: role may not be set",
                    )),
                ),
            ],
        );
    }

    #[test]
    fn container_engine_t_is_allowed_only_from_1_31() {
        let spec = json!({"containers": [{"name": "d", "securityContext": se(json!({"type": "container_engine_t"}))}]});
        assert_table(se_linux_options_1_31, vec![("1.31", spec.clone(), None)]);
        assert_table(
            se_linux_options_1_0,
            vec![(
                "1.0",
                spec,
                Some((
                    "seLinuxOptions",
                    r#"container "d" set forbidden securityContext.seLinuxOptions: type "container_engine_t""#,
                )),
            )],
        );
    }
}
