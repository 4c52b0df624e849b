//! PodTopologySpread: `whenUnsatisfiable: DoNotSchedule` constraints as a filter (skew, with
//! `minDomains`, `nodeAffinityPolicy`, `nodeTaintsPolicy` and `matchLabelKeys`), and
//! `ScheduleAnyway` constraints as a score.
//!
//! Upstream's cluster-level default constraints (`defaultingType: System`, derived from the
//! services and controllers selecting the pod) are not applied: pods without constraints of
//! their own are not spread by this plugin.

use std::collections::HashMap;

use crate::framework::selectors::{Labels, RequiredNodeAffinity, Selector};
use crate::framework::taints::find_untolerated_do_not_schedule;
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE, NodeInfo,
    Plugin, PodInfo, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Snapshot,
    Status,
};

/// The plugin's name.
pub const NAME: &str = "PodTopologySpread";
/// Filter reason: placing the pod here would exceed `maxSkew`.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Filter reason: the node lacks a constraint's topology label.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const PRE_FILTER_KEY: &str = "PreFilterPodTopologySpread";
const PRE_SCORE_KEY: &str = "PreScorePodTopologySpread";
const HOSTNAME: &str = "kubernetes.io/hostname";

/// The PodTopologySpread plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct PodTopologySpread;

#[derive(Clone, Debug)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Selector,
    min_domains: usize,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

impl Constraint {
    /// Whether the node counts for the constraint (upstream's `matchNodeInclusionPolicies`).
    fn includes(&self, pod: &PodInfo, node: &NodeInfo, affinity: &RequiredNodeAffinity) -> bool {
        if self.honor_node_affinity && !affinity.matches(node.name(), node.labels()) {
            return false;
        }
        if self.honor_node_taints
            && find_untolerated_do_not_schedule(node.taints(), pod.tolerations()).is_some()
        {
            return false;
        }
        true
    }
}

fn constraints(pod: &PodInfo, action: &str) -> Result<Vec<Constraint>, String> {
    let mut out = Vec::new();
    let list = pod
        .pod()
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref());
    for c in list.map(Vec::as_slice).unwrap_or_default() {
        if c.when_unsatisfiable != action {
            continue;
        }
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref())?;
        let keys: Labels = c
            .match_label_keys
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|k| pod.labels().get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        if !keys.is_empty() {
            selector.merge_set(&keys);
        }
        out.push(Constraint {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: c.min_domains.unwrap_or(1).max(0) as usize,
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        });
    }
    Ok(out)
}

fn has_all_keys(labels: &Labels, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| labels.contains_key(&c.topology_key))
}

/// Pods in `namespace` matching `selector`, terminating pods excluded; an empty selector counts
/// nothing (upstream's `countPodsMatchSelector`).
fn count_matching(node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
    if selector.is_empty() {
        return 0;
    }
    node.pods()
        .iter()
        .filter(|p| {
            !p.is_terminating() && p.namespace() == namespace && selector.matches(p.labels())
        })
        .count() as i64
}

#[derive(Clone)]
struct PreFilterState {
    constraints: Vec<Constraint>,
    match_num: Vec<HashMap<String, i64>>,
    min_match: Vec<i64>,
    affinity: RequiredNodeAffinity,
}

impl PreFilterState {
    fn recompute_min(&mut self, i: usize) {
        self.min_match[i] = self.match_num[i]
            .values()
            .copied()
            .min()
            .unwrap_or(i64::from(i32::MAX));
    }

    fn min_match_num(&self, i: usize) -> i64 {
        if self.match_num[i].len() < self.constraints[i].min_domains {
            0
        } else {
            self.min_match[i]
        }
    }

    fn update_with_pod(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        if other.namespace() != pod.namespace() || !has_all_keys(node.labels(), &self.constraints) {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.selector.matches(other.labels()) || !c.includes(pod, node, &self.affinity) {
                continue;
            }
            let v = node.labels()[&c.topology_key].clone();
            *self.match_num[i].entry(v).or_insert(0) += delta;
            self.recompute_min(i);
        }
    }
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Pod,
                ActionType::ADD | ActionType::UPDATE_POD_LABEL | ActionType::DELETE,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD
                    | ActionType::DELETE
                    | ActionType::UPDATE_NODE_LABEL
                    | ActionType::UPDATE_NODE_TAINT,
            ),
        ]
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

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        let constraints = match constraints(pod, "DoNotSchedule") {
            Ok(c) => c,
            Err(e) => {
                return (
                    None,
                    Status::error(format!("get constraints from pod: {e}")),
                );
            }
        };
        if constraints.is_empty() {
            return (None, Status::skip());
        }
        let affinity = RequiredNodeAffinity::from_pod(pod.pod());
        let mut match_num = vec![HashMap::new(); constraints.len()];
        for node in snapshot.node_infos() {
            if !has_all_keys(node.labels(), &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes(pod, node, &affinity) {
                    continue;
                }
                let v = &node.labels()[&c.topology_key];
                let n = count_matching(node, &c.selector, pod.namespace());
                *match_num[i].entry(v.clone()).or_insert(0) += n;
            }
        }
        let mut s = PreFilterState {
            min_match: vec![0; constraints.len()],
            constraints,
            match_num,
            affinity,
        };
        for i in 0..s.constraints.len() {
            s.recompute_min(i);
        }
        state.write(PRE_FILTER_KEY, s);
        (None, Status::success())
    }

    fn has_extensions(&self) -> bool {
        true
    }

    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        match state.read_mut::<PreFilterState>(PRE_FILTER_KEY) {
            Some(s) => {
                s.update_with_pod(pod, added, node, 1);
                Status::success()
            }
            None => Status::error(format!("reading {PRE_FILTER_KEY:?} from cycleState")),
        }
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        match state.read_mut::<PreFilterState>(PRE_FILTER_KEY) {
            Some(s) => {
                s.update_with_pod(pod, removed, node, -1);
                Status::success()
            }
            None => Status::error(format!("reading {PRE_FILTER_KEY:?} from cycleState")),
        }
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Status::error(format!("reading {PRE_FILTER_KEY:?} from cycleState"));
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.labels().get(&c.topology_key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let min = s.min_match_num(i);
            let self_match = i64::from(c.selector.matches(pod.labels()));
            let matched = s.match_num[i].get(value).copied().unwrap_or(0);
            if matched + self_match - min > c.max_skew {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

#[derive(Clone)]
struct PreScoreState {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        if snapshot.num_nodes() == 0 {
            return Status::skip();
        }
        let constraints = match constraints(pod, "ScheduleAnyway") {
            Ok(c) => c,
            Err(e) => {
                return Status::error(format!(
                    "calculating preScoreState: obtaining pod's soft topology spread constraints: {e}"
                ));
            }
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        let mut ignored = 0usize;
        for node in nodes {
            if !has_all_keys(node.labels(), &constraints) {
                ignored += 1;
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME {
                    continue;
                }
                counts[i]
                    .entry(node.labels()[&c.topology_key].clone())
                    .or_insert(0);
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == HOSTNAME {
                    nodes.len() - ignored
                } else {
                    counts[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        let affinity = RequiredNodeAffinity::from_pod(pod.pod());
        for node in snapshot.node_infos() {
            if !has_all_keys(node.labels(), &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes(pod, node, &affinity) {
                    continue;
                }
                if let Some(total) = counts[i].get_mut(&node.labels()[&c.topology_key]) {
                    *total += count_matching(node, &c.selector, pod.namespace());
                }
            }
        }
        state.write(
            PRE_SCORE_KEY,
            PreScoreState {
                constraints,
                counts,
                weights,
            },
        );
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let s = state
            .read::<PreScoreState>(PRE_SCORE_KEY)
            .ok_or_else(|| Status::error(format!("reading {PRE_SCORE_KEY:?} from cycleState")))?;
        if !has_all_keys(node.labels(), &s.constraints) {
            return Ok(0);
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.labels().get(&c.topology_key) else {
                continue;
            };
            let cnt = if c.topology_key == HOSTNAME {
                count_matching(node, &c.selector, pod.namespace())
            } else {
                s.counts[i].get(value).copied().unwrap_or(0)
            };
            score += cnt as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        Ok(score.round() as i64)
    }

    fn has_normalize(&self) -> bool {
        true
    }

    fn normalize_score(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Status {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return Status::error(format!("reading {PRE_SCORE_KEY:?} from cycleState"));
        };
        let ignored: Vec<bool> = nodes
            .iter()
            .map(|n| !has_all_keys(n.labels(), &s.constraints))
            .collect();
        let mut min = i64::MAX;
        let mut max = 0;
        for (score, ign) in scores.iter().zip(&ignored) {
            if *ign {
                continue;
            }
            min = min.min(*score);
            max = max.max(*score);
        }
        for (score, ign) in scores.iter_mut().zip(&ignored) {
            if *ign {
                *score = 0;
            } else if max == 0 {
                *score = MAX_NODE_SCORE;
            } else {
                *score = MAX_NODE_SCORE * (max + min - *score) / max;
            }
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::{NodeBuilder, PodBuilder, node, pod};
    use serde_json::{Value, json};

    fn spread(key: &str, skew: i32, when: &str) -> Value {
        json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
               "labelSelector": {"matchLabels": {"app": "web"}}})
    }

    fn snapshot(nodes: Vec<NodeBuilder>, pods: Vec<PodBuilder>) -> Snapshot {
        let mut s = Snapshot::new();
        for n in nodes {
            s.upsert_node(n.build());
        }
        for p in pods {
            s.upsert_pod(p.build());
        }
        s
    }

    fn web(name: &str, node: &str) -> PodBuilder {
        pod(name).label("app", "web").node_name(node)
    }

    fn filter_codes(snap: &Snapshot, p: &PodInfo) -> Vec<Code> {
        let mut state = CycleState::new();
        let (_, s) = PodTopologySpread.pre_filter(&mut state, p, snap);
        snap.node_infos()
            .map(|n| {
                if s.is_skip() {
                    Code::Success
                } else {
                    PodTopologySpread.filter(&state, p, n).code()
                }
            })
            .collect()
    }

    #[test]
    fn hard_constraints_bound_the_skew() {
        let nodes = || {
            vec![
                node("a1").label("zone", "a"),
                node("b1").label("zone", "b"),
                node("x"),
            ]
        };
        let cases = [
            (
                "balanced zones",
                vec![web("w1", "a1"), web("w2", "b1")],
                spread("zone", 1, "DoNotSchedule"),
                vec![
                    Code::Success,
                    Code::Success,
                    Code::UnschedulableAndUnresolvable,
                ],
            ),
            (
                "zone a is ahead",
                vec![web("w1", "a1")],
                spread("zone", 1, "DoNotSchedule"),
                vec![
                    Code::Unschedulable,
                    Code::Success,
                    Code::UnschedulableAndUnresolvable,
                ],
            ),
            (
                "larger skew tolerated",
                vec![web("w1", "a1")],
                spread("zone", 2, "DoNotSchedule"),
                vec![
                    Code::Success,
                    Code::Success,
                    Code::UnschedulableAndUnresolvable,
                ],
            ),
            (
                "soft constraints do not filter",
                vec![web("w1", "a1")],
                spread("zone", 1, "ScheduleAnyway"),
                vec![Code::Success, Code::Success, Code::Success],
            ),
            (
                "minDomains counts missing domains as empty",
                vec![web("w1", "a1"), web("w2", "b1")],
                {
                    let mut c = spread("zone", 1, "DoNotSchedule");
                    c["minDomains"] = json!(3);
                    c
                },
                vec![
                    Code::Unschedulable,
                    Code::Unschedulable,
                    Code::UnschedulableAndUnresolvable,
                ],
            ),
        ];
        for (name, pods, c, want) in cases {
            let snap = snapshot(nodes(), pods);
            let p = pod("new").label("app", "web").spread(c).info();
            assert_eq!(filter_codes(&snap, &p), want, "{name}");
        }
    }

    #[test]
    fn filter_reasons_read_like_upstream() {
        let snap = snapshot(
            vec![node("a1").label("zone", "a"), node("x")],
            vec![web("w1", "a1"), web("w2", "a1")],
        );
        let p = pod("new")
            .label("app", "web")
            .spread(spread("zone", 1, "DoNotSchedule"))
            .info();
        let mut state = CycleState::new();
        PodTopologySpread.pre_filter(&mut state, &p, &snap);
        let msgs: Vec<String> = snap
            .node_infos()
            .map(|n| PodTopologySpread.filter(&state, &p, n).message())
            .collect();
        assert_eq!(
            msgs,
            [
                "",
                "node(s) didn't match pod topology spread constraints (missing required label)",
            ]
        );
    }

    #[test]
    fn node_affinity_policy_excludes_unselected_nodes_from_the_count() {
        let nodes = vec![
            node("a1").label("zone", "a").label("pool", "x"),
            node("b1").label("zone", "b").label("pool", "x"),
            node("c1").label("zone", "c").label("pool", "y"),
        ];
        let snap = snapshot(nodes, vec![web("w1", "a1"), web("w2", "b1")]);
        let p = pod("new")
            .label("app", "web")
            .node_selector("pool", "x")
            .spread(spread("zone", 1, "DoNotSchedule"))
            .info();
        // Zone c is outside the pod's node selector, so it does not pull the minimum to 0.
        assert_eq!(
            filter_codes(&snap, &p),
            [Code::Success, Code::Success, Code::Success]
        );
        let ignore = {
            let mut c = spread("zone", 1, "DoNotSchedule");
            c["nodeAffinityPolicy"] = json!("Ignore");
            c
        };
        let p = pod("new")
            .label("app", "web")
            .node_selector("pool", "x")
            .spread(ignore)
            .info();
        assert_eq!(
            filter_codes(&snap, &p),
            [Code::Unschedulable, Code::Unschedulable, Code::Success]
        );
    }

    #[test]
    fn soft_constraints_prefer_emptier_domains() {
        let snap = snapshot(
            vec![
                node("a1").label("zone", "a"),
                node("a2").label("zone", "a"),
                node("b1").label("zone", "b"),
            ],
            vec![web("w1", "a1"), web("w2", "a2")],
        );
        let p = pod("new")
            .label("app", "web")
            .spread(spread("zone", 1, "ScheduleAnyway"))
            .info();
        let nodes: Vec<&NodeInfo> = snap.node_infos().collect();
        let mut state = CycleState::new();
        assert!(
            PodTopologySpread
                .pre_score(&mut state, &p, &nodes, &snap)
                .is_success()
        );
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| PodTopologySpread.score(&state, &p, n, &snap).unwrap())
            .collect();
        // two zones → weight ln(4) ≈ 1.386; zone a has 2 pods → round(2.77) = 3, zone b → 0
        let names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
        assert_eq!(names, ["a1", "a2", "b1"]);
        assert_eq!(scores, [3, 3, 0]);
        PodTopologySpread.normalize_score(&state, &p, &nodes, &mut scores);
        assert_eq!(scores, [0, 0, 100]);
    }

    #[test]
    fn match_label_keys_narrow_the_selector_to_the_pods_own_values() {
        let snap = snapshot(
            vec![node("a1").label("zone", "a"), node("b1").label("zone", "b")],
            vec![
                web("w1", "a1").label("rev", "1"),
                web("w2", "a1").label("rev", "1"),
            ],
        );
        let mut c = spread("zone", 1, "DoNotSchedule");
        c["matchLabelKeys"] = json!(["rev"]);
        let p = pod("new")
            .label("app", "web")
            .label("rev", "2")
            .spread(c)
            .info();
        assert_eq!(filter_codes(&snap, &p), [Code::Success, Code::Success]);
    }
}
