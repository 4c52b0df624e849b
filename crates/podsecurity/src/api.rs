//! Levels, policy versions and the namespace labels that select them (upstream's `api`
//! package): parsing with upstream's error texts and the fallbacks it applies to bad labels.

use std::collections::BTreeMap;
use std::fmt;

use bosun_api::status::FieldError;
use serde_json::Value;

use crate::go_quote;

/// The prefix shared by the namespace labels and the audit annotations.
pub const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";
/// Namespace label naming the level enforced on pods.
pub const ENFORCE_LEVEL_LABEL: &str = "pod-security.kubernetes.io/enforce";
/// Namespace label naming the policy version enforced on pods.
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
/// Namespace label naming the level recorded in audit annotations.
pub const AUDIT_LEVEL_LABEL: &str = "pod-security.kubernetes.io/audit";
/// Namespace label naming the policy version recorded in audit annotations.
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";
/// Namespace label naming the level that produces client warnings.
pub const WARN_LEVEL_LABEL: &str = "pod-security.kubernetes.io/warn";
/// Namespace label naming the policy version that produces client warnings.
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";

/// Audit annotation saying why a request was exempt (`user`, `namespace`, `runtimeClass`).
pub const EXEMPT_ANNOTATION: &str = "pod-security.kubernetes.io/exempt";
/// Audit annotation with the audit level's violations (`would violate PodSecurity ...`).
pub const AUDIT_VIOLATIONS_ANNOTATION: &str = "pod-security.kubernetes.io/audit-violations";
/// Audit annotation naming the enforced `level:version` of a pod request.
pub const ENFORCE_POLICY_ANNOTATION: &str = "pod-security.kubernetes.io/enforce-policy";
/// Audit annotation describing a failure (bad namespace labels, undecodable objects).
pub const ERROR_ANNOTATION: &str = "pod-security.kubernetes.io/error";

/// The newest policy version with checks of its own: what `latest` (and any newer version)
/// means on a 1.34 server.
pub const MAX_POLICY_MINOR: u64 = 34;

/// A Pod Security Standards level, ordered from least to most strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// No restrictions.
    Privileged,
    /// Prevents known privilege escalations.
    Baseline,
    /// Current pod hardening best practices.
    Restricted,
}

/// Upstream's error for a level label outside the three levels.
const LEVEL_ERROR: &str = "must be one of privileged, baseline, restricted";
/// Upstream's error for a malformed version label.
const VERSION_ERROR: &str = r#"must be "latest" or "v1.x""#;

impl Level {
    /// The label value: `privileged`, `baseline` or `restricted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// Parses a level label value, with upstream's error text for anything else.
    pub fn parse(value: &str) -> Result<Level, &'static str> {
        match value {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err(LEVEL_ERROR),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy version: `latest` or `v1.<minor>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// Always the newest checks, whatever the server's version.
    Latest,
    /// The checks as of Kubernetes `v1.<minor>`.
    V1(u64),
}

impl Version {
    /// Parses a version label value (`latest` or `v1.N` without leading zeros), with
    /// upstream's error text otherwise.
    pub fn parse(value: &str) -> Result<Version, &'static str> {
        if value == "latest" {
            return Ok(Version::Latest);
        }
        let digits = value.strip_prefix("v1.").ok_or(VERSION_ERROR)?;
        let well_formed = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !well_formed {
            return Err(VERSION_ERROR);
        }
        // Upstream parses into a signed 64-bit int; larger numbers are errors.
        match digits.parse::<u64>() {
            Ok(minor) if minor <= i64::MAX as u64 => Ok(Version::V1(minor)),
            _ => Err(VERSION_ERROR),
        }
    }

    /// Whether this version is older than `other`; `latest` is newer than every version.
    pub fn older(self, other: Version) -> bool {
        match (self, other) {
            (Version::Latest, _) => false,
            (Version::V1(_), Version::Latest) => true,
            (Version::V1(a), Version::V1(b)) => a < b,
        }
    }

    /// The minor version whose checks apply: `latest` and anything newer than
    /// [`MAX_POLICY_MINOR`] are clamped to it.
    pub fn effective_minor(self) -> u64 {
        match self {
            Version::V1(minor) if minor < MAX_POLICY_MINOR => minor,
            _ => MAX_POLICY_MINOR,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::V1(minor) => write!(f, "v1.{minor}"),
        }
    }
}

/// A level at a policy version, written `level:version` (e.g. `restricted:latest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    /// The level.
    pub level: Level,
    /// The policy version.
    pub version: Version,
}

impl LevelVersion {
    /// Builds a level at a version.
    pub fn new(level: Level, version: Version) -> Self {
        LevelVersion { level, version }
    }

    /// Upstream's `Equivalent`: both privileged (whatever the versions), or equal.
    pub fn equivalent(&self, other: &LevelVersion) -> bool {
        (self.level == Level::Privileged && other.level == Level::Privileged) || self == other
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

/// The three modes of a namespace's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Violations refuse pods.
    pub enforce: LevelVersion,
    /// Violations are recorded in audit annotations.
    pub audit: LevelVersion,
    /// Violations are returned to the client as warnings.
    pub warn: LevelVersion,
}

impl Default for Policy {
    /// Upstream's default configuration: `privileged:latest` for all three modes.
    fn default() -> Self {
        let privileged = LevelVersion::new(Level::Privileged, Version::Latest);
        Policy {
            enforce: privileged,
            audit: privileged,
            warn: privileged,
        }
    }
}

impl Policy {
    /// Whether all three modes are privileged (nothing to evaluate).
    pub fn fully_privileged(&self) -> bool {
        self.enforce.level == Level::Privileged
            && self.audit.level == Level::Privileged
            && self.warn.level == Level::Privileged
    }

    /// Upstream's `Equivalent`: every mode equivalent.
    pub fn equivalent(&self, other: &Policy) -> bool {
        self.enforce.equivalent(&other.enforce)
            && self.audit.equivalent(&other.audit)
            && self.warn.equivalent(&other.warn)
    }
}

/// One bad pod-security label, as upstream's `field.Invalid` on `metadata.labels[<label>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelError {
    /// The label key.
    pub label: &'static str,
    /// The rejected value.
    pub value: String,
    /// Why: `must be one of privileged, baseline, restricted` or `must be "latest" or "v1.x"`.
    pub detail: &'static str,
}

impl LabelError {
    /// The field path: `metadata.labels[<label>]`.
    pub fn field(&self) -> String {
        format!("metadata.labels[{}]", self.label)
    }

    /// The error as a `Status` cause.
    pub fn to_field_error(&self) -> FieldError {
        FieldError::invalid(
            self.field(),
            &Value::String(self.value.clone()),
            self.detail,
        )
    }
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: Invalid value: {}: {}",
            self.field(),
            go_quote(&self.value),
            self.detail
        )
    }
}

/// Upstream's `ErrorList.ToAggregate().Error()`: one message alone, several in `[a, b]`.
pub fn aggregate_label_errors(errors: &[LabelError]) -> String {
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    match messages.len() {
        1 => messages.into_iter().next().unwrap_or_default(),
        _ => format!("[{}]", messages.join(", ")),
    }
}

/// Resolves a namespace's labels to its policy (upstream's `PolicyToEvaluate`).
///
/// Absent labels take the defaults. A policy is always returned, with the bad labels listed
/// (in the order enforce, enforce-version, audit, audit-version, warn, warn-version): a bad
/// enforce level falls back to `restricted`, a bad audit or warn level to `privileged` (fail
/// open), and a bad version to `latest`.
pub fn policy_to_evaluate(
    labels: &BTreeMap<String, String>,
    defaults: &Policy,
) -> (Policy, Vec<LabelError>) {
    let mut policy = *defaults;
    let mut errors = Vec::new();
    let modes: [(&mut LevelVersion, &'static str, &'static str, Level); 3] = [
        (
            &mut policy.enforce,
            ENFORCE_LEVEL_LABEL,
            ENFORCE_VERSION_LABEL,
            Level::Restricted,
        ),
        (
            &mut policy.audit,
            AUDIT_LEVEL_LABEL,
            AUDIT_VERSION_LABEL,
            Level::Privileged,
        ),
        (
            &mut policy.warn,
            WARN_LEVEL_LABEL,
            WARN_VERSION_LABEL,
            Level::Privileged,
        ),
    ];
    for (mode, level_label, version_label, fallback) in modes {
        if let Some(value) = labels.get(level_label) {
            mode.level = Level::parse(value).unwrap_or_else(|detail| {
                errors.push(LabelError {
                    label: level_label,
                    value: value.clone(),
                    detail,
                });
                fallback
            });
        }
        if let Some(value) = labels.get(version_label) {
            mode.version = Version::parse(value).unwrap_or_else(|detail| {
                errors.push(LabelError {
                    label: version_label,
                    value: value.clone(),
                    detail,
                });
                Version::Latest
            });
        }
    }
    (policy, errors)
}

/// An object's `metadata.labels` as a map (non-string values are skipped).
pub fn object_labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn levels_parse_only_the_three_names() {
        assert_eq!(Level::parse("privileged"), Ok(Level::Privileged));
        assert_eq!(Level::parse("baseline"), Ok(Level::Baseline));
        assert_eq!(Level::parse("restricted"), Ok(Level::Restricted));
        for bad in ["", "Restricted", "unknown", " baseline"] {
            assert_eq!(
                Level::parse(bad),
                Err("must be one of privileged, baseline, restricted")
            );
        }
    }

    #[test]
    fn levels_order_by_strictness() {
        assert!(Level::Privileged < Level::Baseline);
        assert!(Level::Baseline < Level::Restricted);
    }

    #[test]
    fn versions_parse_latest_and_v1_minors_without_leading_zeros() {
        assert_eq!(Version::parse("latest"), Ok(Version::Latest));
        assert_eq!(Version::parse("v1.0"), Ok(Version::V1(0)));
        assert_eq!(Version::parse("v1.25"), Ok(Version::V1(25)));
        assert_eq!(Version::parse("v1.999"), Ok(Version::V1(999)));
        for bad in [
            "",
            "Latest",
            "v1",
            "v1.",
            "v1.01",
            "v2.0",
            "1.25",
            "v1.25.0",
            "v1.-1",
            "v1.99999999999999999999",
        ] {
            assert_eq!(
                Version::parse(bad),
                Err(r#"must be "latest" or "v1.x""#),
                "{bad}"
            );
        }
    }

    #[test]
    fn latest_is_newer_than_every_version() {
        assert!(Version::V1(99).older(Version::Latest));
        assert!(!Version::Latest.older(Version::V1(99)));
        assert!(!Version::Latest.older(Version::Latest));
        assert!(Version::V1(1).older(Version::V1(2)));
        assert!(!Version::V1(2).older(Version::V1(2)));
    }

    #[test]
    fn versions_beyond_the_newest_checks_clamp_to_them() {
        assert_eq!(Version::Latest.effective_minor(), 34);
        assert_eq!(Version::V1(40).effective_minor(), 34);
        assert_eq!(Version::V1(33).effective_minor(), 33);
        assert_eq!(Version::V1(0).effective_minor(), 0);
    }

    #[test]
    fn level_versions_display_as_level_colon_version() {
        let lv = LevelVersion::new(Level::Restricted, Version::Latest);
        assert_eq!(lv.to_string(), "restricted:latest");
        let lv = LevelVersion::new(Level::Baseline, Version::V1(23));
        assert_eq!(lv.to_string(), "baseline:v1.23");
    }

    #[test]
    fn absent_labels_take_the_defaults() {
        let (policy, errors) = policy_to_evaluate(&BTreeMap::new(), &Policy::default());
        assert!(errors.is_empty());
        assert_eq!(policy, Policy::default());
        assert!(policy.fully_privileged());
    }

    #[test]
    fn labels_set_each_mode_independently() {
        let (policy, errors) = policy_to_evaluate(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "baseline"),
                (ENFORCE_VERSION_LABEL, "v1.22"),
                (WARN_LEVEL_LABEL, "restricted"),
            ]),
            &Policy::default(),
        );
        assert!(errors.is_empty());
        assert_eq!(policy.enforce.to_string(), "baseline:v1.22");
        assert_eq!(policy.audit.to_string(), "privileged:latest");
        assert_eq!(policy.warn.to_string(), "restricted:latest");
    }

    #[test]
    fn bad_labels_fall_back_and_are_reported_in_label_order() {
        let (policy, errors) = policy_to_evaluate(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "bogus"),
                (ENFORCE_VERSION_LABEL, "v1.x"),
                (AUDIT_LEVEL_LABEL, "bogus"),
                (WARN_LEVEL_LABEL, "bogus"),
                (WARN_VERSION_LABEL, "v1.20"),
            ]),
            &Policy::default(),
        );
        assert_eq!(policy.enforce.to_string(), "restricted:latest");
        assert_eq!(policy.audit.to_string(), "privileged:latest");
        assert_eq!(policy.warn.to_string(), "privileged:v1.20");
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "v1.x": must be "latest" or "v1.x""#,
                r#"metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#,
            ]
        );
    }

    #[test]
    fn one_label_error_aggregates_bare_and_several_in_brackets() {
        let (_, one) =
            policy_to_evaluate(&labels(&[(ENFORCE_LEVEL_LABEL, "x")]), &Policy::default());
        assert_eq!(
            aggregate_label_errors(&one),
            r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "x": must be one of privileged, baseline, restricted"#
        );
        let (_, two) = policy_to_evaluate(
            &labels(&[(ENFORCE_LEVEL_LABEL, "x"), (AUDIT_VERSION_LABEL, "y")]),
            &Policy::default(),
        );
        assert_eq!(
            aggregate_label_errors(&two),
            r#"[metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "x": must be one of privileged, baseline, restricted, metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: "y": must be "latest" or "v1.x"]"#
        );
    }

    #[test]
    fn label_errors_become_invalid_field_errors() {
        let error = LabelError {
            label: ENFORCE_LEVEL_LABEL,
            value: "x".into(),
            detail: LEVEL_ERROR,
        };
        let field = error.to_field_error();
        assert_eq!(field.reason, "FieldValueInvalid");
        assert_eq!(
            field.field,
            "metadata.labels[pod-security.kubernetes.io/enforce]"
        );
        assert_eq!(
            field.body,
            r#"Invalid value: "x": must be one of privileged, baseline, restricted"#
        );
    }

    #[test]
    fn equivalence_ignores_versions_of_privileged_modes() {
        let a = LevelVersion::new(Level::Privileged, Version::V1(1));
        let b = LevelVersion::new(Level::Privileged, Version::Latest);
        assert!(a.equivalent(&b));
        let c = LevelVersion::new(Level::Baseline, Version::V1(1));
        let d = LevelVersion::new(Level::Baseline, Version::Latest);
        assert!(!c.equivalent(&d));
    }

    #[test]
    fn object_labels_reads_string_labels() {
        let ns = serde_json::json!({"metadata": {"labels": {"a": "b", "n": 1}}});
        assert_eq!(object_labels(&ns), labels(&[("a", "b")]));
        assert!(object_labels(&serde_json::json!({})).is_empty());
    }
}
