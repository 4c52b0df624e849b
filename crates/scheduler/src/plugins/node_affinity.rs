//! NodeAffinity: filters nodes by the pod's `nodeSelector` and required node affinity (all
//! operators, and `matchFields` on `metadata.name`, which also narrows the nodes to evaluate in
//! PreFilter), and scores by preferred node affinity.
//!
//! The plugin's `addedAffinity` argument is not supported (it is unset by default).

use std::collections::BTreeSet;

use crate::framework::selectors::{PreferredSchedulingTerms, RequiredNodeAffinity};
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin, PodInfo,
    PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Snapshot, Status,
};

use super::helper::normalize;

/// The plugin's name.
pub const NAME: &str = "NodeAffinity";
/// The filter reason (upstream's `ErrReasonPod`).
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// The PreFilter reason when the terms' `metadata.name` requirements exclude every node.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";
const PRE_FILTER_KEY: &str = "PreFilterNodeAffinity";
const PRE_SCORE_KEY: &str = "PreScoreNodeAffinity";

/// The NodeAffinity plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeAffinity;

#[derive(Clone)]
struct PreFilterState(RequiredNodeAffinity);

#[derive(Clone)]
struct PreScoreState(PreferredSchedulingTerms);

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_LABEL,
        )]
    }

    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }

    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }

    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }

    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let spec = pod.pod().spec.as_ref();
        let required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let has_selector = spec.is_some_and(|s| s.node_selector.is_some());
        if required.is_none() && !has_selector {
            return (None, Status::skip());
        }
        state.write(
            PRE_FILTER_KEY,
            PreFilterState(RequiredNodeAffinity::from_pod(pod.pod())),
        );
        let Some(required) = required.filter(|r| !r.node_selector_terms.is_empty()) else {
            return (None, Status::success());
        };
        // Affinity to specific node names narrows the nodes to evaluate.
        let mut node_names: Option<BTreeSet<String>> = None;
        for term in &required.node_selector_terms {
            let mut term_names: Option<BTreeSet<String>> = None;
            for r in term.match_fields.as_deref().unwrap_or_default() {
                if r.key == "metadata.name" && r.operator == "In" {
                    let s: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                    term_names = Some(match term_names {
                        None => s,
                        Some(t) => t.intersection(&s).cloned().collect(),
                    });
                }
            }
            let Some(term_names) = term_names else {
                // A term without a name requirement allows every node (terms are ORed).
                return (None, Status::success());
            };
            node_names
                .get_or_insert_with(BTreeSet::new)
                .extend(term_names);
        }
        match node_names {
            Some(n) if n.is_empty() => (None, Status::unresolvable(ERR_REASON_CONFLICT)),
            Some(n) => (
                Some(PreFilterResult {
                    node_names: Some(n),
                }),
                Status::success(),
            ),
            None => (None, Status::success()),
        }
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let matched = match state.read::<PreFilterState>(PRE_FILTER_KEY) {
            Some(s) => s.0.matches(node.name(), node.labels()),
            None => RequiredNodeAffinity::from_pod(pod.pod()).matches(node.name(), node.labels()),
        };
        if matched {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_POD)
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        let preferred = pod
            .pod()
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let Some(preferred) = preferred else {
            return Status::skip();
        };
        match PreferredSchedulingTerms::new(preferred) {
            Ok(terms) => {
                state.write(PRE_SCORE_KEY, PreScoreState(terms));
                Status::success()
            }
            Err(e) => Status::error(e),
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let s = state
            .read::<PreScoreState>(PRE_SCORE_KEY)
            .ok_or_else(|| Status::error(format!("reading {PRE_SCORE_KEY:?} from cycleState")))?;
        Ok(s.0.score(node.name(), node.labels()))
    }

    fn has_normalize(&self) -> bool {
        true
    }

    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        _nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Status {
        normalize(false, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::{node, pod};
    use serde_json::json;

    fn required(terms: serde_json::Value) -> serde_json::Value {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}})
    }

    fn run(p: &PodInfo, n: &NodeInfo) -> Status {
        let mut state = CycleState::new();
        let (_, s) = NodeAffinity.pre_filter(&mut state, p, &Snapshot::new());
        if s.is_skip() {
            return Status::success();
        }
        NodeAffinity.filter(&state, p, n)
    }

    #[test]
    fn selectors_and_required_affinity_filter_nodes() {
        let zone_a = node("n").label("zone", "a").label("cpus", "16");
        let cases = [
            ("nothing required", pod("p"), Code::Success),
            ("selector matches", pod("p").node_selector("zone", "a"), Code::Success),
            (
                "selector mismatch",
                pod("p").node_selector("zone", "b"),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "In matches",
                pod("p").affinity(required(json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]))),
                Code::Success,
            ),
            (
                "NotIn rejects",
                pod("p").affinity(required(json!([{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}]))),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "DoesNotExist rejects",
                pod("p").affinity(required(json!([{"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}]))),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "Gt matches",
                pod("p").affinity(required(json!([{"matchExpressions": [{"key": "cpus", "operator": "Gt", "values": ["8"]}]}]))),
                Code::Success,
            ),
            (
                "Lt rejects",
                pod("p").affinity(required(json!([{"matchExpressions": [{"key": "cpus", "operator": "Lt", "values": ["8"]}]}]))),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "second term matches",
                pod("p").affinity(required(json!([
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}
                ]))),
                Code::Success,
            ),
            (
                "selector and affinity both needed",
                pod("p").node_selector("zone", "b").affinity(required(json!([{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]))),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "empty term list matches nothing",
                pod("p").affinity(required(json!([]))),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        let n = zone_a.info();
        for (name, p, want) in cases {
            let s = run(&p.info(), &n);
            assert_eq!(s.code(), want, "{name}");
            if want != Code::Success {
                assert_eq!(
                    s.message(),
                    "node(s) didn't match Pod's node affinity/selector"
                );
            }
        }
    }

    #[test]
    fn match_fields_on_the_name_narrow_the_nodes_in_pre_filter() {
        let cases = [
            (
                json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]}]),
                Some(vec!["n1", "n2"]),
                Code::Success,
            ),
            (
                json!([
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}
                ]),
                None,
                Code::Success,
            ),
            (
                json!([{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": ["n1"]},
                    {"key": "metadata.name", "operator": "In", "values": ["n2"]}
                ]}]),
                None,
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (terms, want_names, want_code) in cases {
            let p = pod("p").affinity(required(terms.clone())).info();
            let (r, s) = NodeAffinity.pre_filter(&mut CycleState::new(), &p, &Snapshot::new());
            assert_eq!(s.code(), want_code, "{terms}");
            let names = r
                .and_then(|r| r.node_names)
                .map(|n| n.into_iter().collect::<Vec<_>>());
            assert_eq!(
                names,
                want_names.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>()),
                "{terms}"
            );
        }
        let p = pod("p")
            .affinity(required(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])))
            .info();
        assert!(run(&p, &node("n1").info()).is_success());
        assert_eq!(
            run(&p, &node("n2").info()).code(),
            Code::UnschedulableAndUnresolvable
        );
    }

    #[test]
    fn preferred_terms_score_by_matched_weight() {
        let p = pod("p")
            .affinity(json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 2, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
                {"weight": 8, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}
            ]}}))
            .info();
        let nodes = [
            node("a").label("zone", "a").info(),
            node("b").label("ssd", "1").info(),
            node("c").label("zone", "a").label("ssd", "1").info(),
            node("d").info(),
        ];
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let snap = Snapshot::new();
        let mut state = CycleState::new();
        assert!(
            NodeAffinity
                .pre_score(&mut state, &p, &refs, &snap)
                .is_success()
        );
        let mut scores: Vec<i64> = refs
            .iter()
            .map(|n| NodeAffinity.score(&state, &p, n, &snap).unwrap())
            .collect();
        assert_eq!(scores, [2, 8, 10, 0]);
        NodeAffinity.normalize_score(&state, &p, &refs, &mut scores);
        assert_eq!(scores, [20, 80, 100, 0]);
        // Without preferred terms the score is skipped.
        assert!(
            NodeAffinity
                .pre_score(&mut CycleState::new(), &pod("q").info(), &refs, &snap)
                .is_skip()
        );
    }
}
