//! Plugin results: upstream's `fwk.Status` with its codes, reasons and the failing plugin.

use std::borrow::Cow;
use std::fmt;

/// What a plugin decided (upstream's `fwk.Code`). The codes tell "broken" ([`Code::Error`]) from
/// "does not fit" ([`Code::Unschedulable`], [`Code::UnschedulableAndUnresolvable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The plugin ran and the pod may proceed.
    Success,
    /// An internal error: the scheduling attempt is a failure of the scheduler, not of the pod.
    Error,
    /// The pod does not fit, but preemption might make it fit.
    Unschedulable,
    /// The pod does not fit and preemption would not help on this node.
    UnschedulableAndUnresolvable,
    /// The plugin has nothing to do for this pod; its coupled extension points are skipped.
    Skip,
    /// The pod waits for something outside the scheduler (upstream's `Pending`).
    Pending,
}

impl Code {
    /// Upstream's name of the code (`"Success"`, `"Unschedulable"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Success => "Success",
            Code::Error => "Error",
            Code::Unschedulable => "Unschedulable",
            Code::UnschedulableAndUnresolvable => "UnschedulableAndUnresolvable",
            Code::Skip => "Skip",
            Code::Pending => "Pending",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin's result: a code, the human-readable reasons (each counted separately in the
/// `FailedScheduling` message) and the plugin that produced it.
///
/// Success carries no reasons and allocates nothing, so the hot path stays allocation-free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Vec<Cow<'static, str>>,
    plugin: &'static str,
}

impl Default for Status {
    fn default() -> Self {
        Status::success()
    }
}

impl Status {
    /// A success status (upstream's `nil` status).
    pub const fn success() -> Status {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    /// A status with one reason.
    pub fn new(code: Code, reason: impl Into<Cow<'static, str>>) -> Status {
        Status {
            code,
            reasons: vec![reason.into()],
            plugin: "",
        }
    }

    /// A status with any number of reasons (upstream's `NewStatus(code, reasons...)`).
    pub fn with_reasons(code: Code, reasons: Vec<Cow<'static, str>>) -> Status {
        Status {
            code,
            reasons,
            plugin: "",
        }
    }

    /// A status with a code and no reason.
    pub fn code_only(code: Code) -> Status {
        Status {
            code,
            reasons: Vec::new(),
            plugin: "",
        }
    }

    /// `Skip`: the plugin does not apply to this pod.
    pub fn skip() -> Status {
        Status::code_only(Code::Skip)
    }

    /// `Unschedulable` with one reason.
    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Code::Unschedulable, reason)
    }

    /// `UnschedulableAndUnresolvable` with one reason.
    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }

    /// `Error` with a message (upstream's `AsStatus(err)`).
    pub fn error(message: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Code::Error, message)
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// Whether the status is a success.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }

    /// Whether the plugin asked to be skipped.
    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }

    /// Whether the pod was rejected (`Unschedulable`, `UnschedulableAndUnresolvable` or
    /// `Pending`), as opposed to success or an internal error (upstream's `IsRejected`).
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending
        )
    }

    /// The reasons, in order.
    pub fn reasons(&self) -> &[Cow<'static, str>] {
        &self.reasons
    }

    /// The reasons joined with `", "` (upstream's `Message`).
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }

    /// The plugin that produced the status (empty when not set).
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    /// Records the plugin that produced the status (upstream's `WithPlugin`).
    pub fn with_plugin(mut self, plugin: &'static str) -> Status {
        self.plugin = plugin;
        self
    }

    /// Records the plugin in place (upstream's `SetPlugin`).
    pub fn set_plugin(&mut self, plugin: &'static str) {
        self.plugin = plugin;
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_has_no_reasons_and_is_not_rejected() {
        let s = Status::success();
        assert!(s.is_success());
        assert!(!s.is_rejected());
        assert_eq!(s.message(), "");
    }

    #[test]
    fn message_joins_reasons_with_comma_space() {
        let s = Status::with_reasons(
            Code::Unschedulable,
            vec!["Insufficient cpu".into(), "Insufficient memory".into()],
        );
        assert_eq!(s.message(), "Insufficient cpu, Insufficient memory");
        assert!(s.is_rejected());
    }

    #[test]
    fn rejection_codes_are_told_from_errors() {
        assert!(Status::unresolvable("x").is_rejected());
        assert!(Status::code_only(Code::Pending).is_rejected());
        assert!(!Status::error("boom").is_rejected());
        assert!(!Status::skip().is_rejected());
    }
}
