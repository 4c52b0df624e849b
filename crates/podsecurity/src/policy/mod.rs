//! The Pod Security Standards checks and their registry (upstream's `policy` package).
//!
//! Each check has an ID, a level and one or more versions, each applying from a minimum
//! policy version. Evaluating a `level:version` runs, for every check of that level or below,
//! the newest version not newer than the requested one (`latest`, and anything newer than
//! [`MAX_POLICY_MINOR`](crate::api::MAX_POLICY_MINOR), means v1.34). At `restricted`, a
//! restricted check may override baseline checks it supersedes (restricted volume types
//! replace hostPath volumes, restricted capabilities and seccomp replace their baseline
//! forms). Checks run, and their violations are listed, in upstream's order: baseline check
//! IDs sorted, then restricted check IDs sorted.

use crate::api::{Level, LevelVersion};
use crate::pod::PodParts;

mod allow_privilege_escalation;
mod app_armor;
mod capabilities;
mod host_namespaces;
mod host_path_volumes;
mod host_ports;
mod host_probes;
mod privileged;
mod proc_mount;
mod restricted_volumes;
mod run_as_non_root;
mod run_as_user;
mod se_linux_options;
mod seccomp;
mod sysctls;
mod windows_host_process;

/// Why a check refused a pod: a short reason and, optionally, the specifics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The succinct reason, e.g. `allowPrivilegeEscalation != false`.
    pub reason: String,
    /// The specifics, e.g. `container "c" must set securityContext.allowPrivilegeEscalation=false`.
    pub detail: String,
}

impl Violation {
    /// Builds a violation from its reason and detail.
    pub(crate) fn new(reason: impl Into<String>, detail: impl Into<String>) -> Option<Self> {
        Some(Violation {
            reason: reason.into(),
            detail: detail.into(),
        })
    }
}

/// A check body: `None` allows the pod.
type CheckFn = fn(&PodParts) -> Option<Violation>;

/// One version of a check.
struct VersionedCheck {
    /// The first policy minor version (`v1.<min_minor>`) it applies to.
    min_minor: u64,
    /// The check.
    check: CheckFn,
    /// Baseline check IDs this (restricted) check replaces.
    overrides: &'static [&'static str],
}

/// A check with all its versions.
struct Check {
    /// Upstream's check ID.
    id: &'static str,
    /// The level it belongs to.
    level: Level,
    /// Versions in increasing `min_minor` order.
    versions: &'static [VersionedCheck],
}

/// A version without overrides.
const fn v(min_minor: u64, check: CheckFn) -> VersionedCheck {
    VersionedCheck {
        min_minor,
        check,
        overrides: &[],
    }
}

/// Every check, baseline IDs sorted then restricted IDs sorted (the order results are listed).
static CHECKS: &[Check] = &[
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        versions: &[v(0, app_armor::app_armor_profile_1_0)],
    },
    Check {
        id: "capabilities_baseline",
        level: Level::Baseline,
        versions: &[v(0, capabilities::capabilities_baseline_1_0)],
    },
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        versions: &[v(0, host_namespaces::host_namespaces_1_0)],
    },
    Check {
        id: "hostPathVolumes",
        level: Level::Baseline,
        versions: &[v(0, host_path_volumes::host_path_volumes_1_0)],
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        versions: &[v(0, host_ports::host_ports_1_0)],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        versions: &[v(34, host_probes::host_probes_and_host_lifecycle_1_34)],
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        versions: &[v(0, privileged::privileged_1_0)],
    },
    Check {
        id: "procMount",
        level: Level::Baseline,
        versions: &[v(0, proc_mount::proc_mount_1_0)],
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        versions: &[
            v(0, se_linux_options::se_linux_options_1_0),
            v(31, se_linux_options::se_linux_options_1_31),
        ],
    },
    Check {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        versions: &[
            v(0, seccomp::seccomp_profile_baseline_1_0),
            v(19, seccomp::seccomp_profile_baseline_1_19),
        ],
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        versions: &[
            v(0, sysctls::sysctls_1_0),
            v(27, sysctls::sysctls_1_27),
            v(29, sysctls::sysctls_1_29),
            v(32, sysctls::sysctls_1_32),
        ],
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        versions: &[v(0, windows_host_process::windows_host_process_1_0)],
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        versions: &[
            v(
                8,
                allow_privilege_escalation::allow_privilege_escalation_1_8,
            ),
            v(
                25,
                allow_privilege_escalation::allow_privilege_escalation_1_25,
            ),
        ],
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        versions: &[
            VersionedCheck {
                min_minor: 22,
                check: capabilities::capabilities_restricted_1_22,
                overrides: &["capabilities_baseline"],
            },
            VersionedCheck {
                min_minor: 25,
                check: capabilities::capabilities_restricted_1_25,
                overrides: &["capabilities_baseline"],
            },
        ],
    },
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        versions: &[VersionedCheck {
            min_minor: 0,
            check: restricted_volumes::restricted_volumes_1_0,
            overrides: &["hostPathVolumes"],
        }],
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        versions: &[v(0, run_as_non_root::run_as_non_root_1_0)],
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        versions: &[v(23, run_as_user::run_as_user_1_23)],
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        versions: &[
            VersionedCheck {
                min_minor: 19,
                check: seccomp::seccomp_profile_restricted_1_19,
                overrides: &["seccompProfile_baseline"],
            },
            VersionedCheck {
                min_minor: 25,
                check: seccomp::seccomp_profile_restricted_1_25,
                overrides: &["seccompProfile_baseline"],
            },
        ],
    },
];

/// The checks that apply at `lv`, in evaluation order, with the version chosen for each.
fn applicable(lv: LevelVersion) -> Vec<(&'static str, CheckFn)> {
    if lv.level == Level::Privileged {
        return Vec::new();
    }
    let minor = lv.version.effective_minor();
    let selected: Vec<(&Check, &VersionedCheck)> = CHECKS
        .iter()
        .filter(|c| c.level == Level::Baseline || lv.level == Level::Restricted)
        .filter_map(|c| {
            let version = c.versions.iter().rev().find(|v| v.min_minor <= minor)?;
            Some((c, version))
        })
        .collect();
    let overridden: Vec<&str> = selected
        .iter()
        .flat_map(|(_, version)| version.overrides.iter().copied())
        .collect();
    selected
        .into_iter()
        .filter(|(c, _)| c.level != Level::Baseline || !overridden.contains(&c.id))
        .map(|(c, version)| (c.id, version.check))
        .collect()
}

/// The IDs of the checks evaluated at `lv`, in evaluation order.
pub fn check_ids(lv: LevelVersion) -> Vec<&'static str> {
    applicable(lv).into_iter().map(|(id, _)| id).collect()
}

/// The outcome of evaluating a pod at one `level:version`: its violations, in check order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Every failed check's violation.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    /// Whether every check allowed the pod.
    pub fn is_allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The reasons joined with `, ` (used for the per-pod namespace warnings), e.g.
    /// `host namespaces, privileged`.
    pub fn forbidden_reason(&self) -> String {
        self.violations
            .iter()
            .map(|v| v.reason.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Each reason followed by its detail in parentheses (when it has one), joined with
    /// `, `, e.g. `host namespaces (hostNetwork=true), privileged (container "c" must not set
    /// securityContext.privileged=true)`.
    pub fn forbidden_detail(&self) -> String {
        self.violations
            .iter()
            .map(|v| {
                if v.detail.is_empty() {
                    v.reason.clone()
                } else {
                    format!("{} ({})", v.reason, v.detail)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Evaluates a pod (or pod template) against `lv`; `privileged` always allows.
pub fn evaluate_pod(lv: LevelVersion, pod: PodParts<'_>) -> Evaluation {
    Evaluation {
        violations: applicable(lv)
            .into_iter()
            .filter_map(|(_, check)| check(&pod))
            .collect(),
    }
}

/// Upstream's `joinQuote`: `"a", "b"` (no escaping), `""`-free for an empty list.
fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let inner: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("\"{}\"", inner.join("\", \""))
}

/// Upstream's `pluralize`.
fn pluralize<'a>(singular: &'a str, plural: &'a str, count: usize) -> &'a str {
    if count == 1 { singular } else { plural }
}

/// `container "a"` or `containers "a", "b"`.
fn containers_phrase<S: AsRef<str>>(names: &[S]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

#[cfg(test)]
mod test_support {
    use super::{CheckFn, Violation};
    use crate::pod::PodParts;
    use serde_json::{Value, json};

    /// Runs `check` on a pod built from `spec` (and no metadata).
    pub(super) fn run_spec(check: CheckFn, spec: Value) -> Option<(String, String)> {
        run_pod(check, json!({ "spec": spec }))
    }

    /// Runs `check` on a whole pod object.
    pub(super) fn run_pod(check: CheckFn, pod: Value) -> Option<(String, String)> {
        check(&PodParts::of_pod(&pod)).map(|Violation { reason, detail }| (reason, detail))
    }

    /// One table row: the case, the pod spec, and the expected `(reason, detail)`.
    pub(super) type Row<'a> = (&'a str, Value, Option<(&'a str, &'a str)>);

    /// Asserts a table of rows.
    pub(super) fn assert_table(check: CheckFn, table: Vec<Row<'_>>) {
        for (case, spec, expected) in table {
            let got = run_spec(check, spec);
            let expected = expected.map(|(r, d)| (r.to_string(), d.to_string()));
            assert_eq!(got, expected, "{case}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Version;
    use serde_json::json;

    fn lv(level: Level, version: Version) -> LevelVersion {
        LevelVersion::new(level, version)
    }

    #[test]
    fn checks_are_ordered_baseline_ids_sorted_then_restricted_ids_sorted() {
        let baseline: Vec<&str> = CHECKS
            .iter()
            .filter(|c| c.level == Level::Baseline)
            .map(|c| c.id)
            .collect();
        let restricted: Vec<&str> = CHECKS
            .iter()
            .filter(|c| c.level == Level::Restricted)
            .map(|c| c.id)
            .collect();
        let mut sorted = baseline.clone();
        sorted.sort_unstable();
        assert_eq!(baseline, sorted);
        let mut sorted = restricted.clone();
        sorted.sort_unstable();
        assert_eq!(restricted, sorted);
        let all: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        assert_eq!(all, [baseline, restricted].concat());
    }

    #[test]
    fn check_versions_increase() {
        for check in CHECKS {
            let minors: Vec<u64> = check.versions.iter().map(|v| v.min_minor).collect();
            assert!(minors.windows(2).all(|w| w[0] < w[1]), "{}", check.id);
        }
    }

    #[test]
    fn privileged_runs_no_checks() {
        assert!(check_ids(lv(Level::Privileged, Version::Latest)).is_empty());
    }

    #[test]
    fn latest_baseline_runs_every_baseline_check() {
        assert_eq!(
            check_ids(lv(Level::Baseline, Version::Latest)),
            [
                "appArmorProfile",
                "capabilities_baseline",
                "hostNamespaces",
                "hostPathVolumes",
                "hostPorts",
                "hostProbesAndHostLifecycle",
                "privileged",
                "procMount",
                "seLinuxOptions",
                "seccompProfile_baseline",
                "sysctls",
                "windowsHostProcess",
            ]
        );
    }

    #[test]
    fn latest_restricted_drops_the_overridden_baseline_checks() {
        assert_eq!(
            check_ids(lv(Level::Restricted, Version::Latest)),
            [
                "appArmorProfile",
                "hostNamespaces",
                "hostPorts",
                "hostProbesAndHostLifecycle",
                "privileged",
                "procMount",
                "seLinuxOptions",
                "sysctls",
                "windowsHostProcess",
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "restrictedVolumes",
                "runAsNonRoot",
                "runAsUser",
                "seccompProfile_restricted",
            ]
        );
    }

    #[test]
    fn older_versions_run_only_the_checks_they_had() {
        assert!(
            !check_ids(lv(Level::Baseline, Version::V1(33)))
                .contains(&"hostProbesAndHostLifecycle")
        );
        assert_eq!(
            check_ids(lv(Level::Restricted, Version::V1(0))),
            [
                "appArmorProfile",
                "capabilities_baseline",
                "hostNamespaces",
                "hostPorts",
                "privileged",
                "procMount",
                "seLinuxOptions",
                "seccompProfile_baseline",
                "sysctls",
                "windowsHostProcess",
                "restrictedVolumes",
                "runAsNonRoot",
            ]
        );
        // Restricted capabilities (and its override) start at v1.22.
        let v21 = check_ids(lv(Level::Restricted, Version::V1(21)));
        assert!(v21.contains(&"capabilities_baseline"));
        assert!(!v21.contains(&"capabilities_restricted"));
        assert!(!v21.contains(&"runAsUser"));
        let v23 = check_ids(lv(Level::Restricted, Version::V1(23)));
        assert!(!v23.contains(&"capabilities_baseline"));
        assert!(v23.contains(&"runAsUser"));
    }

    #[test]
    fn versions_newer_than_the_newest_checks_behave_as_latest() {
        assert_eq!(
            check_ids(lv(Level::Restricted, Version::V1(99))),
            check_ids(lv(Level::Restricted, Version::Latest))
        );
    }

    #[test]
    fn a_bare_pod_passes_baseline_and_fails_restricted_in_check_order() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let parts = PodParts::of_pod(&pod);
        assert!(evaluate_pod(lv(Level::Baseline, Version::Latest), parts).is_allowed());
        let result = evaluate_pod(lv(Level::Restricted, Version::Latest), parts);
        assert_eq!(
            result.forbidden_reason(),
            "allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
        );
        assert_eq!(
            result.forbidden_detail(),
            r#"allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        );
    }

    #[test]
    fn a_hardened_pod_passes_restricted() {
        let pod = json!({"spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            }}],
            "volumes": [{"name": "v", "emptyDir": {}}, {"name": "i", "image": {"reference": "x"}}],
        }});
        let result = evaluate_pod(
            lv(Level::Restricted, Version::Latest),
            PodParts::of_pod(&pod),
        );
        assert_eq!(result, Evaluation::default());
    }

    #[test]
    fn a_host_pod_lists_baseline_reasons_before_restricted_ones() {
        let pod = json!({"spec": {
            "hostNetwork": true,
            "containers": [{"name": "c", "securityContext": {"privileged": true}}],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        }});
        let parts = PodParts::of_pod(&pod);
        assert_eq!(
            evaluate_pod(lv(Level::Baseline, Version::Latest), parts).forbidden_reason(),
            "host namespaces, hostPath volumes, privileged"
        );
        // At restricted, restricted volume types replace hostPath volumes.
        assert_eq!(
            evaluate_pod(lv(Level::Restricted, Version::Latest), parts).forbidden_reason(),
            "host namespaces, privileged, allowPrivilegeEscalation != false, unrestricted capabilities, restricted volume types, runAsNonRoot != true, seccompProfile"
        );
    }

    #[test]
    fn details_are_omitted_when_empty() {
        let result = Evaluation {
            violations: vec![
                Violation {
                    reason: "a".into(),
                    detail: String::new(),
                },
                Violation {
                    reason: "b".into(),
                    detail: "x".into(),
                },
            ],
        };
        assert_eq!(result.forbidden_detail(), "a, b (x)");
        assert_eq!(result.forbidden_reason(), "a, b");
    }

    #[test]
    fn join_quote_quotes_each_item_without_escaping() {
        assert_eq!(join_quote::<&str>(&[]), "");
        assert_eq!(join_quote(&["a"]), r#""a""#);
        assert_eq!(join_quote(&["a", "b\"c"]), r#""a", "b"c""#);
    }
}
