//! Baseline: Windows HostProcess containers are forbidden
//! (`securityContext.windowsOptions.hostProcess` must be unset or false, pod and containers).

use super::{Violation, containers_phrase};
use crate::pod::{PodParts, flag, name};

/// The hostProcess field under a security context.
const HOST_PROCESS: [&str; 3] = ["securityContext", "windowsOptions", "hostProcess"];

/// `windowsHostProcess` from v1.0.
pub(super) fn windows_host_process_1_0(pod: &PodParts) -> Option<Violation> {
    let bad: Vec<&str> = pod
        .containers()
        .filter(|c| flag(c, &HOST_PROCESS) == Some(true))
        .map(name)
        .collect();
    let mut setters = Vec::new();
    if flag(pod.spec, &HOST_PROCESS) == Some(true) {
        setters.push("pod".to_string());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    Violation::new(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::assert_table;
    use super::*;
    use serde_json::json;

    #[test]
    fn host_process_is_refused_on_the_pod_and_its_containers() {
        let on = json!({"windowsOptions": {"hostProcess": true}});
        let off = json!({"windowsOptions": {"hostProcess": false}});
        assert_table(
            windows_host_process_1_0,
            vec![
                (
                    "false everywhere",
                    json!({"securityContext": off, "containers": [{"name": "a", "securityContext": off}]}),
                    None,
                ),
                (
                    "pod",
                    json!({"securityContext": on, "containers": [{"name": "a"}]}),
                    Some((
                        "hostProcess",
                        "pod must not set securityContext.windowsOptions.hostProcess=true",
                    )),
                ),
                (
                    "pod and containers",
                    json!({"securityContext": on, "containers": [
                        {"name": "a", "securityContext": on},
                        {"name": "b", "securityContext": on},
                        {"name": "c", "securityContext": off},
                    ]}),
                    Some((
                        "hostProcess",
                        r#"pod and containers "a", "b" must not set securityContext.windowsOptions.hostProcess=true"#,
                    )),
                ),
            ],
        );
    }
}
