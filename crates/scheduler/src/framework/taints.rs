//! Taints and tolerations, parsed once (upstream's `ToleratesTaint` and
//! `FindMatchingUntoleratedTaint`).

use k8s_openapi::api::core::v1::{Taint as ApiTaint, Toleration as ApiToleration};

/// A taint's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaintEffect {
    /// `NoSchedule`: new pods must tolerate it.
    NoSchedule,
    /// `PreferNoSchedule`: new pods should tolerate it (scoring only).
    PreferNoSchedule,
    /// `NoExecute`: new and running pods must tolerate it.
    NoExecute,
    /// Any other value (never filtered).
    Other,
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    /// The key.
    pub key: String,
    /// The value (empty when unset).
    pub value: String,
    /// The effect as written.
    pub effect_name: String,
    /// The effect, parsed.
    pub effect: TaintEffect,
}

impl Taint {
    /// Parses an API taint.
    pub fn from_api(t: &ApiTaint) -> Taint {
        Taint::new(&t.key, t.value.as_deref().unwrap_or(""), &t.effect)
    }

    /// A taint from its parts.
    pub fn new(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.to_string(),
            effect_name: effect.to_string(),
            effect: match effect {
                "NoSchedule" => TaintEffect::NoSchedule,
                "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
                "NoExecute" => TaintEffect::NoExecute,
                _ => TaintEffect::Other,
            },
        }
    }

    /// Whether the filter (TaintToleration, NodeInclusionPolicy) considers the taint: only
    /// `NoSchedule` and `NoExecute` (upstream's `DoNotScheduleTaintsFilterFunc`).
    pub fn is_do_not_schedule(&self) -> bool {
        matches!(
            self.effect,
            TaintEffect::NoSchedule | TaintEffect::NoExecute
        )
    }
}

/// A toleration's operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TolerationOperator {
    /// `Equal` (or unset): the values must be equal.
    Equal,
    /// `Exists`: any value.
    Exists,
    /// Anything else: tolerates nothing.
    Other,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    /// The key (empty matches every key).
    pub key: String,
    /// The operator.
    pub operator: TolerationOperator,
    /// The value.
    pub value: String,
    /// The effect (empty matches every effect).
    pub effect: String,
}

impl Toleration {
    /// Parses an API toleration.
    pub fn from_api(t: &ApiToleration) -> Toleration {
        Toleration {
            key: t.key.clone().unwrap_or_default(),
            operator: match t.operator.as_deref() {
                None | Some("") | Some("Equal") => TolerationOperator::Equal,
                Some("Exists") => TolerationOperator::Exists,
                Some(_) => TolerationOperator::Other,
            },
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone().unwrap_or_default(),
        }
    }

    /// Whether the toleration tolerates the taint (upstream's `Toleration.ToleratesTaint`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect_name {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Equal => self.value == taint.value,
            TolerationOperator::Exists => true,
            TolerationOperator::Other => false,
        }
    }
}

/// Whether any toleration tolerates the taint (upstream's `TolerationsTolerateTaint`).
pub fn tolerations_tolerate(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// The first `NoSchedule`/`NoExecute` taint no toleration tolerates (upstream's
/// `FindMatchingUntoleratedTaint` with `DoNotScheduleTaintsFilterFunc`).
pub fn find_untolerated_do_not_schedule<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.is_do_not_schedule())
        .find(|t| !tolerations_tolerate(tolerations, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        Toleration::from_api(&ApiToleration {
            key: (!key.is_empty()).then(|| key.to_string()),
            operator: (!op.is_empty()).then(|| op.to_string()),
            value: (!value.is_empty()).then(|| value.to_string()),
            effect: (!effect.is_empty()).then(|| effect.to_string()),
            toleration_seconds: None,
        })
    }

    #[test]
    fn tolerations_match_like_upstream() {
        let taint = Taint::new("dedicated", "gpu", "NoSchedule");
        let cases = [
            (tol("dedicated", "Equal", "gpu", "NoSchedule"), true),
            (tol("dedicated", "", "gpu", ""), true),
            (tol("dedicated", "Equal", "cpu", "NoSchedule"), false),
            (tol("dedicated", "Exists", "", ""), true),
            (tol("", "Exists", "", ""), true),
            (tol("", "Exists", "", "NoExecute"), false),
            (tol("other", "Exists", "", ""), false),
            (tol("dedicated", "Gt", "gpu", ""), false),
        ];
        for (t, want) in cases {
            assert_eq!(t.tolerates(&taint), want, "{t:?}");
        }
    }

    #[test]
    fn prefer_no_schedule_taints_are_not_filtered() {
        let taints = vec![
            Taint::new("a", "", "PreferNoSchedule"),
            Taint::new("b", "", "NoExecute"),
        ];
        let found = find_untolerated_do_not_schedule(&taints, &[]).unwrap();
        assert_eq!(found.key, "b");
    }
}
