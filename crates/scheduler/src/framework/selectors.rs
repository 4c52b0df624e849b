//! Label selectors and node selectors as the scheduler evaluates them: apimachinery's
//! `labels.Selector` (from `metav1.LabelSelector`), and component-helpers' node affinity
//! (`RequiredNodeAffinity`, the lazy-error `NodeSelector`, `PreferredSchedulingTerms`).
//!
//! Selectors are compiled once per pod (PreFilter/PreScore or when a pod enters the snapshot) and
//! then matched against node or pod label maps without allocating.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeSelector as ApiNodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PreferredSchedulingTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A label map, as found in `metadata.labels`.
pub type Labels = BTreeMap<String, String>;

/// The empty label map, for objects without labels.
pub static EMPTY_LABELS: Labels = BTreeMap::new();

/// A requirement's operator (upstream's `selection.Operator`, as used by selectors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// The label is present and its value is one of the values (`=`/`==`/`in`).
    In,
    /// The label is absent or its value is none of the values (`!=`/`notin`).
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label is present and, as an integer, greater than the value.
    Gt,
    /// The label is present and, as an integer, less than the value.
    Lt,
}

/// One compiled requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
    int_value: i64,
}

impl Requirement {
    /// Builds a requirement with upstream's validation of the values (`labels.NewRequirement`):
    /// `In`/`NotIn` need values, `Exists`/`DoesNotExist` none, `Gt`/`Lt` exactly one integer.
    pub fn new(key: &str, op: Operator, values: Vec<String>) -> Result<Requirement, String> {
        let mut int_value = 0;
        match op {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    return Err("for 'in', 'notin' operators, values set can't be empty".into());
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err("values set must be empty for exists and does not exist".into());
                }
            }
            Operator::Gt | Operator::Lt => {
                if values.len() != 1 {
                    return Err("for 'Gt', 'Lt' operators, exactly one value is required".into());
                }
                int_value = values[0].parse::<i64>().map_err(|_| {
                    "for 'Gt', 'Lt' operators, the value must be an integer".to_string()
                })?;
            }
        }
        Ok(Requirement {
            key: key.to_string(),
            op,
            values,
            int_value,
        })
    }

    /// Whether the labels satisfy the requirement (upstream's `Requirement.Matches`).
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            Operator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > self.int_value),
            Operator::Lt => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < self.int_value),
        }
    }
}

/// A compiled label selector. `Nothing` matches no object (a nil `metav1.LabelSelector`);
/// `Requirements` with no requirement matches every object (an empty one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Matches nothing.
    Nothing,
    /// Matches objects satisfying all requirements (everything when empty).
    Requirements(Vec<Requirement>),
}

impl Selector {
    /// The selector matching everything.
    pub fn everything() -> Selector {
        Selector::Requirements(Vec::new())
    }

    /// Compiles a `metav1.LabelSelector` (upstream's `LabelSelectorAsSelector`): `None` matches
    /// nothing, an empty selector everything.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Selector, String> {
        let Some(selector) = selector else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        if let Some(labels) = &selector.match_labels {
            for (k, v) in labels {
                reqs.push(Requirement::new(k, Operator::In, vec![v.clone()])?);
            }
        }
        if let Some(exprs) = &selector.match_expressions {
            for e in exprs {
                let op = match e.operator.as_str() {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                };
                reqs.push(Requirement::new(
                    &e.key,
                    op,
                    e.values.clone().unwrap_or_default(),
                )?);
            }
        }
        Ok(Selector::Requirements(reqs))
    }

    /// A selector requiring every `key=value` of `set` (upstream's `SelectorFromSet`; an empty
    /// set matches everything).
    pub fn from_set(set: &Labels) -> Selector {
        Selector::Requirements(
            set.iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    op: Operator::In,
                    values: vec![v.clone()],
                    int_value: 0,
                })
                .collect(),
        )
    }

    /// Adds requirements `key In (value)` for each entry of `set` (upstream's
    /// `mergeLabelSetWithSelector`); a `Nothing` selector stays `Nothing`.
    pub fn merge_set(&mut self, set: &Labels) {
        if let Selector::Requirements(reqs) = self {
            for (k, v) in set.iter().rev() {
                reqs.insert(
                    0,
                    Requirement {
                        key: k.clone(),
                        op: Operator::In,
                        values: vec![v.clone()],
                        int_value: 0,
                    },
                );
            }
        }
    }

    /// Adds one requirement (no-op on `Nothing`).
    pub fn add(&mut self, req: Requirement) {
        if let Selector::Requirements(reqs) = self {
            reqs.push(req);
        }
    }

    /// Whether the labels satisfy the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// Whether the selector has no requirement, i.e. matches everything (upstream's `Empty`;
    /// `Nothing` is not empty).
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }
}

/// One parsed node selector term: its label part and its `metadata.name` field part, or the
/// errors that make it unusable.
#[derive(Clone, Debug)]
struct NodeSelectorTermParsed {
    labels: Option<Selector>,
    fields: Option<Vec<(bool, String)>>,
    errors: Vec<String>,
}

impl NodeSelectorTermParsed {
    fn parse(term: &NodeSelectorTerm) -> NodeSelectorTermParsed {
        let mut errors = Vec::new();
        let mut labels = None;
        let mut fields = None;
        if let Some(exprs) = term.match_expressions.as_ref().filter(|e| !e.is_empty()) {
            match node_requirements_as_selector(exprs) {
                Ok(s) => labels = Some(s),
                Err(e) => errors.extend(e),
            }
        }
        if let Some(exprs) = term.match_fields.as_ref().filter(|e| !e.is_empty()) {
            let mut out = Vec::new();
            for e in exprs {
                if e.key != "metadata.name" {
                    errors.push(format!("{:?}: field label not supported", e.key));
                    continue;
                }
                let values = e.values.as_deref().unwrap_or_default();
                match e.operator.as_str() {
                    "In" | "NotIn" if values.len() != 1 => {
                        errors.push("must have one element".to_string())
                    }
                    "In" => out.push((true, values[0].clone())),
                    "NotIn" => out.push((false, values[0].clone())),
                    other => errors.push(format!("Unsupported value: {other:?}")),
                }
            }
            if errors.is_empty() {
                fields = Some(out);
            }
        }
        NodeSelectorTermParsed {
            labels,
            fields,
            errors,
        }
    }

    fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if let Some(sel) = &self.labels
            && !sel.matches(labels)
        {
            return false;
        }
        if let Some(fields) = &self.fields
            && !node_name.is_empty()
        {
            for (equal, value) in fields {
                if (node_name == value) != *equal {
                    return false;
                }
            }
        }
        true
    }
}

fn node_requirements_as_selector(
    exprs: &[NodeSelectorRequirement],
) -> Result<Selector, Vec<String>> {
    let mut reqs = Vec::new();
    let mut errors = Vec::new();
    for e in exprs {
        let op = match e.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::Gt,
            "Lt" => Operator::Lt,
            other => {
                errors.push(format!("Unsupported value: {other:?}"));
                continue;
            }
        };
        match Requirement::new(&e.key, op, e.values.clone().unwrap_or_default()) {
            Ok(r) => reqs.push(r),
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(Selector::Requirements(reqs))
    } else {
        Err(errors)
    }
}

fn is_empty_term(term: &NodeSelectorTerm) -> bool {
    term.match_expressions.as_ref().is_none_or(|e| e.is_empty())
        && term.match_fields.as_ref().is_none_or(|e| e.is_empty())
}

/// A `v1.NodeSelector` (terms ORed) with upstream's lazy error handling: an invalid term never
/// matches, valid ones still can; empty terms select nothing.
#[derive(Clone, Debug)]
pub struct NodeSelector {
    terms: Vec<NodeSelectorTermParsed>,
}

impl NodeSelector {
    /// Parses the terms (upstream's `NewLazyErrorNodeSelector`).
    pub fn new(selector: &ApiNodeSelector) -> NodeSelector {
        NodeSelector {
            terms: selector
                .node_selector_terms
                .iter()
                .filter(|t| !is_empty_term(t))
                .map(NodeSelectorTermParsed::parse)
                .collect(),
        }
    }

    /// Whether any valid term matches the node.
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.terms
            .iter()
            .any(|t| t.errors.is_empty() && t.matches(node_name, labels))
    }
}

/// The pod's hard node constraints: `spec.nodeSelector` and required node affinity (upstream's
/// `nodeaffinity.RequiredNodeAffinity`).
#[derive(Clone, Debug, Default)]
pub struct RequiredNodeAffinity {
    label_selector: Option<Selector>,
    node_selector: Option<NodeSelector>,
}

impl RequiredNodeAffinity {
    /// Extracts the constraints of a pod (upstream's `GetRequiredNodeAffinity`).
    pub fn from_pod(pod: &Pod) -> RequiredNodeAffinity {
        let spec = pod.spec.as_ref();
        let label_selector = spec
            .and_then(|s| s.node_selector.as_ref())
            .filter(|m| !m.is_empty())
            .map(Selector::from_set);
        let node_selector = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(NodeSelector::new);
        RequiredNodeAffinity {
            label_selector,
            node_selector,
        }
    }

    /// Whether a node with this name and these labels satisfies both constraints.
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if let Some(sel) = &self.label_selector
            && !sel.matches(labels)
        {
            return false;
        }
        match &self.node_selector {
            Some(ns) => ns.matches(node_name, labels),
            None => true,
        }
    }
}

/// Weighted preferred node affinity terms (upstream's `PreferredSchedulingTerms`).
#[derive(Clone, Debug)]
pub struct PreferredSchedulingTerms {
    terms: Vec<(i64, NodeSelectorTermParsed)>,
}

impl PreferredSchedulingTerms {
    /// Parses the terms, skipping zero weights and empty terms; any invalid term is an error
    /// (upstream's `NewPreferredSchedulingTerms`).
    pub fn new(terms: &[PreferredSchedulingTerm]) -> Result<PreferredSchedulingTerms, String> {
        let mut parsed = Vec::new();
        let mut errors = Vec::new();
        for t in terms {
            if t.weight == 0 || is_empty_term(&t.preference) {
                continue;
            }
            let p = NodeSelectorTermParsed::parse(&t.preference);
            if p.errors.is_empty() {
                parsed.push((i64::from(t.weight), p));
            } else {
                errors.extend(p.errors);
            }
        }
        if errors.is_empty() {
            Ok(PreferredSchedulingTerms { terms: parsed })
        } else {
            Err(errors.join(", "))
        }
    }

    /// The sum of the weights of the terms the node matches.
    pub fn score(&self, node_name: &str, labels: &Labels) -> i64 {
        self.terms
            .iter()
            .filter(|(_, t)| t.matches(node_name, labels))
            .map(|(w, _)| *w)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selector(v: serde_json::Value) -> Selector {
        let ls: LabelSelector = serde_json::from_value(v).unwrap();
        Selector::from_label_selector(Some(&ls)).unwrap()
    }

    #[test]
    fn label_selector_operators_behave_like_apimachinery() {
        let cases = [
            (
                json!({"matchLabels": {"app": "web"}}),
                vec![("app", "web")],
                true,
            ),
            (
                json!({"matchLabels": {"app": "web"}}),
                vec![("app", "db")],
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}),
                vec![],
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                vec![("tier", "x")],
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
                vec![("tier", "x")],
                false,
            ),
            (json!({}), vec![("anything", "goes")], true),
        ];
        for (sel, l, want) in cases {
            let l: Vec<(&str, &str)> = l;
            assert_eq!(selector(sel.clone()).matches(&labels(&l)), want, "{sel}");
        }
    }

    #[test]
    fn nil_selector_matches_nothing_and_empty_matches_everything() {
        assert!(
            !Selector::from_label_selector(None)
                .unwrap()
                .matches(&EMPTY_LABELS)
        );
        assert!(selector(json!({})).is_empty());
        assert!(!Selector::Nothing.is_empty());
    }

    #[test]
    fn invalid_operator_is_an_error() {
        let ls: LabelSelector = serde_json::from_value(
            json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
        )
        .unwrap();
        assert!(Selector::from_label_selector(Some(&ls)).is_err());
    }

    fn node_selector(v: serde_json::Value) -> NodeSelector {
        let ns: ApiNodeSelector = serde_json::from_value(v).unwrap();
        NodeSelector::new(&ns)
    }

    #[test]
    fn node_selector_terms_are_ored_and_requirements_anded() {
        let ns = node_selector(json!({"nodeSelectorTerms": [
            {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]},
                {"key": "gpu", "operator": "Exists"}
            ]},
            {"matchExpressions": [{"key": "cpus", "operator": "Gt", "values": ["8"]}]}
        ]}));
        assert!(ns.matches("n", &labels(&[("zone", "a"), ("gpu", "1")])));
        assert!(!ns.matches("n", &labels(&[("zone", "a")])));
        assert!(ns.matches("n", &labels(&[("cpus", "16")])));
        assert!(!ns.matches("n", &labels(&[("cpus", "8")])));
        assert!(!ns.matches("n", &labels(&[("cpus", "many")])));
    }

    #[test]
    fn lt_compares_integers() {
        let ns = node_selector(json!({"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "v", "operator": "Lt", "values": ["10"]}]}
        ]}));
        assert!(ns.matches("n", &labels(&[("v", "9")])));
        assert!(!ns.matches("n", &labels(&[("v", "10")])));
        assert!(!ns.matches("n", &EMPTY_LABELS));
    }

    #[test]
    fn match_fields_select_the_node_name() {
        let ns = node_selector(json!({"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
        ]}));
        assert!(ns.matches("n1", &EMPTY_LABELS));
        assert!(!ns.matches("n2", &EMPTY_LABELS));
        let not_in = node_selector(json!({"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}
        ]}));
        assert!(!not_in.matches("n1", &EMPTY_LABELS));
        assert!(not_in.matches("n2", &EMPTY_LABELS));
    }

    #[test]
    fn invalid_term_never_matches_but_valid_terms_still_do() {
        let ns = node_selector(json!({"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            {"matchExpressions": [{"key": "b", "operator": "Exists"}]}
        ]}));
        assert!(!ns.matches("n", &labels(&[("a", "x")])));
        assert!(ns.matches("n", &labels(&[("b", "x")])));
    }

    #[test]
    fn empty_terms_select_nothing() {
        let ns = node_selector(json!({"nodeSelectorTerms": [{}]}));
        assert!(!ns.matches("n", &labels(&[("a", "x")])));
    }

    #[test]
    fn preferred_terms_sum_matching_weights() {
        let terms: Vec<PreferredSchedulingTerm> = serde_json::from_value(json!([
            {"weight": 5, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}},
            {"weight": 3, "preference": {"matchExpressions": [{"key": "b", "operator": "Exists"}]}},
            {"weight": 0, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}
        ]))
        .unwrap();
        let p = PreferredSchedulingTerms::new(&terms).unwrap();
        assert_eq!(p.score("n", &labels(&[("a", "1"), ("b", "2")])), 8);
        assert_eq!(p.score("n", &labels(&[("b", "2")])), 3);
    }
}
