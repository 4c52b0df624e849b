//! InterPodAffinity: required pod affinity and anti-affinity (the pod's own terms and existing
//! pods' anti-affinity against it) as a filter, and preferred terms (both ways, plus existing
//! pods' required affinity with the hard-affinity weight) as a score.
//!
//! Namespace selectors are evaluated against the namespace labels the runtime reports to the
//! [`Snapshot`] ([`Snapshot::upsert_namespace`]); namespaces it never reported have no labels.
//! The `ignorePreferredTermsOfExistingPods` argument is not supported (false by default).

use std::collections::HashMap;

use crate::framework::pod_info::{AffinityTerm, WeightedAffinityTerm};
use crate::framework::selectors::{Labels, Selector};
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE, NodeInfo,
    Plugin, PodInfo, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Snapshot,
    Status,
};

/// The plugin's name.
pub const NAME: &str = "InterPodAffinity";
/// Filter reason: an existing pod's anti-affinity forbids the pod here.
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Filter reason: the pod's affinity is not satisfied.
pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Filter reason: the pod's anti-affinity is not satisfied.
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
const PRE_FILTER_KEY: &str = "PreFilterInterPodAffinity";
const PRE_SCORE_KEY: &str = "PreScoreInterPodAffinity";

/// The InterPodAffinity plugin and its argument.
#[derive(Clone, Copy, Debug)]
pub struct InterPodAffinity {
    /// Score weight of existing pods' required affinity terms matching the pod (default 1).
    pub hard_pod_affinity_weight: i64,
}

impl Default for InterPodAffinity {
    fn default() -> Self {
        InterPodAffinity {
            hard_pod_affinity_weight: 1,
        }
    }
}

/// Counts per topology key and value.
type TopologyCounts = HashMap<String, HashMap<String, i64>>;

fn count(m: &TopologyCounts, key: &str, value: &str) -> i64 {
    m.get(key).and_then(|v| v.get(value)).copied().unwrap_or(0)
}

fn update(m: &mut TopologyCounts, node: &NodeInfo, key: &str, delta: i64) {
    let Some(value) = node.labels().get(key) else {
        return;
    };
    let values = m.entry(key.to_string()).or_default();
    let c = values.entry(value.clone()).or_insert(0);
    *c += delta;
    if *c == 0 {
        values.remove(value);
        if values.is_empty() {
            m.remove(key);
        }
    }
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches_pod(pod, None))
}

/// Adds the namespaces a term's namespace selector selects to its namespaces and drops the
/// selector (upstream's `mergeAffinityTermNamespacesIfNotEmpty`); a selector matching every
/// namespace is kept as is.
fn merge_namespaces(term: &mut AffinityTerm, snapshot: &Snapshot) {
    if term.namespace_selector.is_empty() {
        return;
    }
    let found: Vec<String> = snapshot
        .namespaces_matching(&term.namespace_selector)
        .map(str::to_string)
        .collect();
    for ns in found {
        if !term.namespaces.contains(&ns) {
            term.namespaces.push(ns);
        }
    }
    term.namespace_selector = Selector::Nothing;
}

#[derive(Clone)]
struct PreFilterState {
    existing_anti_affinity_counts: TopologyCounts,
    affinity_counts: TopologyCounts,
    anti_affinity_counts: TopologyCounts,
    affinity_terms: Vec<AffinityTerm>,
    anti_affinity_terms: Vec<AffinityTerm>,
    namespace_labels: Option<Labels>,
}

impl PreFilterState {
    fn update_with_pod(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        for t in other.required_anti_affinity_terms() {
            if t.matches_pod(pod, self.namespace_labels.as_ref()) {
                update(
                    &mut self.existing_anti_affinity_counts,
                    node,
                    &t.topology_key,
                    delta,
                );
            }
        }
        if matches_all(&self.affinity_terms, other) {
            for t in &self.affinity_terms {
                update(&mut self.affinity_counts, node, &t.topology_key, delta);
            }
        }
        for t in &self.anti_affinity_terms {
            if t.matches_pod(other, None) {
                update(&mut self.anti_affinity_counts, node, &t.topology_key, delta);
            }
        }
    }

    fn satisfies_existing_anti_affinity(&self, node: &NodeInfo) -> bool {
        if self.existing_anti_affinity_counts.is_empty() {
            return true;
        }
        !node
            .labels()
            .iter()
            .any(|(k, v)| count(&self.existing_anti_affinity_counts, k, v) > 0)
    }

    fn satisfies_anti_affinity(&self, node: &NodeInfo) -> bool {
        if self.anti_affinity_counts.is_empty() {
            return true;
        }
        !self.anti_affinity_terms.iter().any(|t| {
            node.labels()
                .get(&t.topology_key)
                .is_some_and(|v| count(&self.anti_affinity_counts, &t.topology_key, v) > 0)
        })
    }

    fn satisfies_affinity(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        let mut pods_exist = true;
        for t in &self.affinity_terms {
            match node.labels().get(&t.topology_key) {
                Some(v) => {
                    if count(&self.affinity_counts, &t.topology_key, v) <= 0 {
                        pods_exist = false;
                    }
                }
                // All topology labels must exist on the node.
                None => return false,
            }
        }
        if pods_exist {
            return true;
        }
        // The first pod of a group with affinity to itself may go anywhere with the topology.
        self.affinity_counts.is_empty() && matches_all(&self.affinity_terms, pod)
    }
}

impl Plugin for InterPodAffinity {
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
                ActionType::ADD | ActionType::UPDATE_NODE_LABEL,
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

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        if let Some(err) = pod.parse_error() {
            return (None, Status::unresolvable(format!("parsing pod: {err}")));
        }
        let mut affinity_terms = pod.required_affinity_terms().to_vec();
        let mut anti_affinity_terms = pod.required_anti_affinity_terms().to_vec();
        for t in affinity_terms
            .iter_mut()
            .chain(anti_affinity_terms.iter_mut())
        {
            merge_namespaces(t, snapshot);
        }
        let mut s = PreFilterState {
            existing_anti_affinity_counts: TopologyCounts::new(),
            affinity_counts: TopologyCounts::new(),
            anti_affinity_counts: TopologyCounts::new(),
            affinity_terms,
            anti_affinity_terms,
            namespace_labels: snapshot.namespace_labels(pod.namespace()).cloned(),
        };
        if snapshot.has_pods_with_required_anti_affinity() {
            for node in snapshot.node_infos() {
                for existing in node.pods_with_required_anti_affinity() {
                    for t in existing.required_anti_affinity_terms() {
                        if t.matches_pod(pod, s.namespace_labels.as_ref()) {
                            update(
                                &mut s.existing_anti_affinity_counts,
                                node,
                                &t.topology_key,
                                1,
                            );
                        }
                    }
                }
            }
        }
        if !s.affinity_terms.is_empty() || !s.anti_affinity_terms.is_empty() {
            for node in snapshot.node_infos() {
                for existing in node.pods() {
                    if matches_all(&s.affinity_terms, existing) {
                        for t in &s.affinity_terms {
                            update(&mut s.affinity_counts, node, &t.topology_key, 1);
                        }
                    }
                    for t in &s.anti_affinity_terms {
                        if t.matches_pod(existing, None) {
                            update(&mut s.anti_affinity_counts, node, &t.topology_key, 1);
                        }
                    }
                }
            }
        }
        if s.existing_anti_affinity_counts.is_empty()
            && s.affinity_terms.is_empty()
            && s.anti_affinity_terms.is_empty()
        {
            return (None, Status::skip());
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
            None => Status::error(format!("error reading {PRE_FILTER_KEY:?} from cycleState")),
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
            None => Status::error(format!("error reading {PRE_FILTER_KEY:?} from cycleState")),
        }
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Status::error(format!("error reading {PRE_FILTER_KEY:?} from cycleState"));
        };
        if !s.satisfies_affinity(pod, node) {
            return Status::unresolvable(ERR_REASON_AFFINITY);
        }
        if !s.satisfies_anti_affinity(node) {
            return Status::unschedulable(ERR_REASON_ANTI_AFFINITY);
        }
        if !s.satisfies_existing_anti_affinity(node) {
            return Status::unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY);
        }
        Status::success()
    }
}

#[derive(Clone)]
struct PreScoreState {
    topology_score: TopologyCounts,
}

fn process_term(
    m: &mut TopologyCounts,
    term: &AffinityTerm,
    weight: i64,
    pod: &PodInfo,
    ns_labels: Option<&Labels>,
    node: &NodeInfo,
    multiplier: i64,
) {
    if term.matches_pod(pod, ns_labels)
        && let Some(v) = node.labels().get(&term.topology_key)
    {
        *m.entry(term.topology_key.clone())
            .or_default()
            .entry(v.clone())
            .or_insert(0) += weight * multiplier;
    }
}

fn process_terms(
    m: &mut TopologyCounts,
    terms: &[WeightedAffinityTerm],
    pod: &PodInfo,
    ns_labels: Option<&Labels>,
    node: &NodeInfo,
    multiplier: i64,
) {
    for t in terms {
        process_term(m, &t.term, t.weight, pod, ns_labels, node, multiplier);
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        let has_constraints = !pod.preferred_affinity_terms().is_empty()
            || !pod.preferred_anti_affinity_terms().is_empty();
        if !has_constraints && !snapshot.has_pods_with_affinity() {
            return Status::skip();
        }
        let mut preferred = pod.preferred_affinity_terms().to_vec();
        let mut preferred_anti = pod.preferred_anti_affinity_terms().to_vec();
        for t in preferred.iter_mut().chain(preferred_anti.iter_mut()) {
            merge_namespaces(&mut t.term, snapshot);
        }
        let ns_labels = snapshot.namespace_labels(pod.namespace());
        let mut scores = TopologyCounts::new();
        for node in snapshot.node_infos() {
            if node.labels().is_empty() {
                continue;
            }
            let existing_pods = if has_constraints {
                node.pods()
            } else {
                node.pods_with_affinity()
            };
            for existing in existing_pods {
                process_terms(&mut scores, &preferred, existing, None, node, 1);
                process_terms(&mut scores, &preferred_anti, existing, None, node, -1);
                if self.hard_pod_affinity_weight > 0 {
                    for t in existing.required_affinity_terms() {
                        process_term(
                            &mut scores,
                            t,
                            self.hard_pod_affinity_weight,
                            pod,
                            ns_labels,
                            node,
                            1,
                        );
                    }
                }
                process_terms(
                    &mut scores,
                    existing.preferred_affinity_terms(),
                    pod,
                    ns_labels,
                    node,
                    1,
                );
                process_terms(
                    &mut scores,
                    existing.preferred_anti_affinity_terms(),
                    pod,
                    ns_labels,
                    node,
                    -1,
                );
            }
        }
        if scores.is_empty() {
            return Status::skip();
        }
        state.write(
            PRE_SCORE_KEY,
            PreScoreState {
                topology_score: scores,
            },
        );
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let s = state.read::<PreScoreState>(PRE_SCORE_KEY).ok_or_else(|| {
            Status::error(format!("failed to read {PRE_SCORE_KEY:?} from cycleState"))
        })?;
        Ok(s.topology_score
            .iter()
            .filter_map(|(k, values)| node.labels().get(k).and_then(|v| values.get(v)))
            .sum())
    }

    fn has_normalize(&self) -> bool {
        true
    }

    fn normalize_score(
        &self,
        state: &CycleState,
        _pod: &PodInfo,
        _nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Status {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return Status::error(format!("failed to read {PRE_SCORE_KEY:?} from cycleState"));
        };
        if s.topology_score.is_empty() || scores.is_empty() {
            return Status::success();
        }
        let min = *scores.iter().min().unwrap_or(&0);
        let max = *scores.iter().max().unwrap_or(&0);
        let diff = max - min;
        for v in scores.iter_mut() {
            let f = if diff > 0 {
                MAX_NODE_SCORE as f64 * ((*v - min) as f64 / diff as f64)
            } else {
                0.0
            };
            *v = f as i64;
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::{node, pod};
    use serde_json::{Value, json};

    fn term(selector: Value, key: &str) -> Value {
        json!({"labelSelector": {"matchLabels": selector}, "topologyKey": key})
    }

    fn snapshot(
        nodes: Vec<crate::plugins::testutil::NodeBuilder>,
        pods: Vec<crate::plugins::testutil::PodBuilder>,
    ) -> Snapshot {
        let mut s = Snapshot::new();
        for n in nodes {
            s.upsert_node(n.build());
        }
        for p in pods {
            s.upsert_pod(p.build());
        }
        s
    }

    fn filter_all(snap: &Snapshot, p: &PodInfo) -> Vec<(String, Code, String)> {
        let pl = InterPodAffinity::default();
        let mut state = CycleState::new();
        let (_, s) = pl.pre_filter(&mut state, p, snap);
        snap.node_infos()
            .map(|n| {
                let st = if s.is_skip() {
                    Status::success()
                } else {
                    pl.filter(&state, p, n)
                };
                (n.name().to_string(), st.code(), st.message())
            })
            .collect()
    }

    fn zones() -> Vec<crate::plugins::testutil::NodeBuilder> {
        vec![
            node("a1").label("zone", "a"),
            node("a2").label("zone", "a"),
            node("b1").label("zone", "b"),
        ]
    }

    #[test]
    fn required_affinity_needs_a_matching_pod_in_the_topology() {
        let snap = snapshot(zones(), vec![pod("db").label("app", "db").node_name("a1")]);
        let p = pod("web")
            .affinity(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(json!({"app": "db"}), "zone")]}}))
            .info();
        let got = filter_all(&snap, &p);
        assert_eq!(got[0].1, Code::Success);
        assert_eq!(got[1].1, Code::Success);
        assert_eq!(got[2].1, Code::UnschedulableAndUnresolvable);
        assert_eq!(got[2].2, "node(s) didn't match pod affinity rules");
    }

    #[test]
    fn the_first_pod_of_a_self_affine_group_may_go_anywhere() {
        let snap = snapshot(zones(), vec![]);
        let p = pod("web")
            .label("app", "web")
            .affinity(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(json!({"app": "web"}), "zone")]}}))
            .info();
        assert!(
            filter_all(&snap, &p)
                .iter()
                .all(|(_, c, _)| *c == Code::Success)
        );
    }

    #[test]
    fn required_anti_affinity_keeps_pods_apart_both_ways() {
        let cases = [
            (
                "incoming anti-affinity",
                vec![pod("w1").label("app", "web").node_name("a1")],
                pod("w2")
                    .label("app", "web")
                    .affinity(json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(json!({"app": "web"}), "zone")]}})),
                vec![Code::Unschedulable, Code::Unschedulable, Code::Success],
                "node(s) didn't match pod anti-affinity rules",
            ),
            (
                "existing pod's anti-affinity",
                vec![pod("w1")
                    .label("app", "web")
                    .node_name("b1")
                    .affinity(json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(json!({"app": "web"}), "kubernetes.io/hostname")]}}))],
                pod("w2").label("app", "web"),
                vec![Code::Success, Code::Success, Code::Unschedulable],
                "node(s) didn't satisfy existing pods anti-affinity rules",
            ),
            (
                "other namespace does not count",
                vec![pod("w1").namespace("other").label("app", "web").node_name("a1")],
                pod("w2")
                    .label("app", "web")
                    .affinity(json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term(json!({"app": "web"}), "zone")]}})),
                vec![Code::Success, Code::Success, Code::Success],
                "",
            ),
        ];
        for (name, existing, p, want, reason) in cases {
            let snap = snapshot(zones(), existing);
            let got = filter_all(&snap, &p.info());
            let codes: Vec<Code> = got.iter().map(|g| g.1).collect();
            assert_eq!(codes, want, "{name}");
            for (_, c, m) in &got {
                if *c != Code::Success {
                    assert_eq!(m, reason, "{name}");
                }
            }
        }
    }

    #[test]
    fn namespace_selectors_use_the_reported_namespace_labels() {
        let mut snap = snapshot(
            zones(),
            vec![
                pod("w1")
                    .namespace("team-a")
                    .label("app", "web")
                    .node_name("a1"),
            ],
        );
        snap.upsert_namespace("team-a", [("team".to_string(), "a".to_string())].into());
        let p = pod("w2").affinity(json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "namespaceSelector": {"matchLabels": {"team": "a"}}, "topologyKey": "zone"}
        ]}}));
        let codes: Vec<Code> = filter_all(&snap, &p.info()).iter().map(|g| g.1).collect();
        assert_eq!(
            codes,
            [Code::Unschedulable, Code::Unschedulable, Code::Success]
        );
    }

    #[test]
    fn preferred_affinity_attracts_and_anti_affinity_repels() {
        let snap = snapshot(
            zones(),
            vec![
                pod("db").label("app", "db").node_name("a1"),
                pod("cache").label("app", "cache").node_name("b1"),
            ],
        );
        let p = pod("web")
            .affinity(json!({
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "podAffinityTerm": term(json!({"app": "db"}), "zone")}
                ]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "podAffinityTerm": term(json!({"app": "cache"}), "zone")}
                ]}
            }))
            .info();
        let pl = InterPodAffinity::default();
        let nodes: Vec<&NodeInfo> = snap.node_infos().collect();
        let mut state = CycleState::new();
        assert!(pl.pre_score(&mut state, &p, &nodes, &snap).is_success());
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| pl.score(&state, &p, n, &snap).unwrap())
            .collect();
        let names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
        assert_eq!(names, ["a1", "a2", "b1"]);
        assert_eq!(scores, [10, 10, -5]);
        pl.normalize_score(&state, &p, &nodes, &mut scores);
        assert_eq!(scores, [100, 100, 0]);
    }

    #[test]
    fn pods_without_terms_skip_when_no_pod_has_affinity() {
        let snap = snapshot(zones(), vec![pod("x").node_name("a1")]);
        let p = pod("p").info();
        let pl = InterPodAffinity::default();
        assert!(pl.pre_filter(&mut CycleState::new(), &p, &snap).1.is_skip());
        assert!(
            pl.pre_score(&mut CycleState::new(), &p, &[], &snap)
                .is_skip()
        );
    }
}
