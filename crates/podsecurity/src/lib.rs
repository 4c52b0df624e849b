//! Pod Security Standards and the PodSecurity admission controller, as upstream's
//! `k8s.io/pod-security-admission` implements them in Kubernetes 1.34.
//!
//! Namespaces choose a level (`privileged`, `baseline`, `restricted`) and a policy version
//! (`latest` or `v1.N`) for each of three modes through the `pod-security.kubernetes.io/*`
//! labels: `enforce` refuses violating pods, `audit` annotates the audit event, `warn`
//! returns warnings. Pods are checked directly; workloads' pod templates are checked for
//! audit and warn only. Every user-visible text (reasons, details, warnings, errors, audit
//! annotations) is upstream's.
//!
//! Layout, following upstream's packages:
//! - [`api`]: levels, versions, policies, and parsing the namespace labels.
//! - [`policy`]: the check registry and evaluation, one module per check family as in
//!   upstream's `policy/check_*.go` (host namespaces, privileged, capabilities, hostPath
//!   volumes, host ports, AppArmor, SELinux, /proc mount, seccomp, sysctls, Windows host
//!   process, probe and lifecycle hosts, restricted volume types, privilege escalation,
//!   runAsNonRoot, runAsUser).
//! - [`extract`]: which resources hold a pod spec, and where.
//! - [`admission`]: the decisions for pod, workload and namespace requests.
//!
//! Objects are read as JSON ([`serde_json::Value`]) with Go's zero-value semantics, so any
//! object the API server stores can be evaluated without a typed decode.

pub mod admission;
pub mod api;
pub mod extract;
pub mod pod;
pub mod policy;

pub use admission::{
    Config, Decision, Exemptions, Operation, Request, validate_namespace, validate_pod,
    validate_workload,
};
pub use api::{Level, LevelVersion, Policy, Version};
pub use extract::{applies_to, has_pod_spec};
pub use pod::PodParts;
pub use policy::{Evaluation, Violation, evaluate_pod};

/// Go's `%q` for a string: double-quoted, with `"` and `\` escaped, control characters as
/// `\n`, `\t`, ... or `\xNN`, and other non-printable characters as `\uNNNN`/`\UNNNNNNNN`.
/// Printability approximates Go's `unicode.IsPrint` (controls, non-ASCII spaces, format
/// characters and private-use characters are escaped).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint`.
fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let format_or_private = matches!(
        c as u32,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xE000..=0xF8FF
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xF0000..=0x10FFFF
    );
    !(c.is_control() || c.is_whitespace() || format_or_private)
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn strings_are_quoted_as_go_does() {
        assert_eq!(go_quote("plain"), r#""plain""#);
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\nnl"), r#""tab\there\nnl""#);
        assert_eq!(go_quote("\u{1}\u{7f}"), r#""\x01\x7f""#);
        assert_eq!(go_quote("é日本"), "\"é日本\"");
        assert_eq!(go_quote("\u{a0}\u{200b}"), r#""\u00a0\u200b""#);
        assert_eq!(go_quote(""), r#""""#);
    }
}
