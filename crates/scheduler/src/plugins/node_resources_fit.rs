//! NodeResourcesFit: filters out nodes without room for the pod's requests (cpu, memory,
//! ephemeral storage, the pods count and scalar resources; init containers, sidecars, overhead
//! and pod-level requests counted as upstream's `PodRequests` does) and scores nodes with the
//! `LeastAllocated` strategy by default (`MostAllocated` available).
//!
//! `RequestedToCapacityRatio` and DRA-backed extended resources are not supported.

use std::borrow::Cow;

use crate::framework::resource::{
    NonMissing, Resource, is_extended_resource_name, is_pod_level_requests_set,
    is_scalar_resource_name, pod_requests, scheduler_units,
};
use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE,
    NodeInfo, Plugin, PodInfo, PreScorePlugin, ScorePlugin, Snapshot, Status,
};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesFit";
const PRE_SCORE_KEY: &str = "PreScoreNodeResourcesFit";

/// How NodeResourcesFit scores nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScoringStrategy {
    /// Prefer nodes with more free resources (upstream's default).
    #[default]
    LeastAllocated,
    /// Prefer nodes with fewer free resources (bin packing).
    MostAllocated,
}

/// The NodeResourcesFit plugin and its arguments.
#[derive(Clone, Debug)]
pub struct NodeResourcesFit {
    /// Extended resources the filter ignores.
    pub ignored_resources: Vec<String>,
    /// Extended resource groups (the part before `/`) the filter ignores.
    pub ignored_resource_groups: Vec<String>,
    /// The scoring strategy.
    pub strategy: ScoringStrategy,
    /// Resources and weights used for scoring (default cpu 1, memory 1).
    pub resources: Vec<(String, i64)>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit {
            ignored_resources: Vec::new(),
            ignored_resource_groups: Vec::new(),
            strategy: ScoringStrategy::LeastAllocated,
            resources: default_scoring_resources(),
        }
    }
}

/// The default scoring resources: cpu and memory, weight 1 each.
pub fn default_scoring_resources() -> Vec<(String, i64)> {
    vec![("cpu".to_string(), 1), ("memory".to_string(), 1)]
}

/// A resource the node lacks for the pod (upstream's `InsufficientResource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsufficientResource {
    /// The resource name.
    pub resource: String,
    /// The filter reason, e.g. `Insufficient cpu` or `Too many pods`.
    pub reason: Cow<'static, str>,
    /// What the pod requests.
    pub requested: i64,
    /// What the node's pods already use.
    pub used: i64,
    /// The node's allocatable amount.
    pub capacity: i64,
    /// Whether the pod exceeds the node's whole allocatable, so preemption cannot help.
    pub unresolvable: bool,
}

/// The resources the node lacks for a pod requesting `request` (upstream's `fitsRequest`).
pub fn fits_request(
    request: &Resource,
    node: &NodeInfo,
    ignored_resources: &[String],
    ignored_groups: &[String],
) -> Vec<InsufficientResource> {
    let mut out = Vec::new();
    let alloc = node.allocatable();
    let used = node.requested();
    let pods = node.pods().len() as i64;
    if pods + 1 > alloc.allowed_pod_number {
        out.push(InsufficientResource {
            resource: "pods".into(),
            reason: Cow::Borrowed("Too many pods"),
            requested: 1,
            used: pods,
            capacity: alloc.allowed_pod_number,
            unresolvable: false,
        });
    }
    if request.is_zero_request() {
        return out;
    }
    let mut check = |name: &str, reason: Cow<'static, str>, req: i64, a: i64, u: i64| {
        if req > 0 && req > a - u {
            out.push(InsufficientResource {
                resource: name.to_string(),
                reason,
                requested: req,
                used: u,
                capacity: a,
                unresolvable: req > a,
            });
        }
    };
    check(
        "cpu",
        Cow::Borrowed("Insufficient cpu"),
        request.milli_cpu,
        alloc.milli_cpu,
        used.milli_cpu,
    );
    check(
        "memory",
        Cow::Borrowed("Insufficient memory"),
        request.memory,
        alloc.memory,
        used.memory,
    );
    check(
        "ephemeral-storage",
        Cow::Borrowed("Insufficient ephemeral-storage"),
        request.ephemeral_storage,
        alloc.ephemeral_storage,
        used.ephemeral_storage,
    );
    for (name, q) in &request.scalar {
        if *q == 0 {
            continue;
        }
        if is_extended_resource_name(name) {
            let group = name.split('/').next().unwrap_or("");
            if ignored_resources.iter().any(|r| r == name)
                || ignored_groups.iter().any(|g| g == group)
            {
                continue;
            }
        }
        let a = alloc.scalar.get(name).copied().unwrap_or(0);
        let u = used.scalar.get(name).copied().unwrap_or(0);
        if *q > a - u {
            out.push(InsufficientResource {
                resource: name.clone(),
                reason: Cow::Owned(format!("Insufficient {name}")),
                requested: *q,
                used: u,
                capacity: a,
                unresolvable: *q > a,
            });
        }
    }
    out
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Pod,
                ActionType::DELETE | ActionType::UPDATE_POD_SCALE_DOWN,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_ALLOCATABLE,
            ),
        ]
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

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let insufficient = fits_request(
            pod.requests(),
            node,
            &self.ignored_resources,
            &self.ignored_resource_groups,
        );
        if insufficient.is_empty() {
            return Status::success();
        }
        let code = if insufficient.iter().any(|r| r.unresolvable) {
            Code::UnschedulableAndUnresolvable
        } else {
            Code::Unschedulable
        };
        Status::with_reasons(code, insufficient.into_iter().map(|r| r.reason).collect())
    }
}

/// The pod's requests for the scoring resources (upstream's `calculatePodResourceRequestList`),
/// with 100m cpu / 200Mi memory assumed for containers without requests unless
/// `use_requested`.
pub(crate) fn pod_score_requests(
    pod: &PodInfo,
    resources: &[(String, i64)],
    use_requested: bool,
) -> Vec<i64> {
    if use_requested {
        return resources
            .iter()
            .map(|(r, _)| pod.requests().get(r))
            .collect();
    }
    let exact =
        is_pod_level_requests_set(pod.pod()).then(|| pod_requests(pod.pod(), NonMissing::DEFAULTS));
    resources
        .iter()
        .map(|(r, _)| match (&exact, r.as_str()) {
            (Some(list), name) => scheduler_units(name, list.get(name).copied().unwrap_or(0)),
            (None, "cpu") => pod.non0_cpu(),
            (None, "memory") => pod.non0_mem(),
            (None, name) => pod.requests().get(name),
        })
        .collect()
}

/// The node's allocatable and requested amounts of a resource including the pod (upstream's
/// `calculateResourceAllocatableRequest`); `(0, 0)` for scalar resources the pod does not
/// request or the node does not have.
pub(crate) fn allocatable_request(
    node: &NodeInfo,
    resource: &str,
    pod_request: i64,
    use_requested: bool,
) -> (i64, i64) {
    let requested = if use_requested {
        node.requested()
    } else {
        node.non_zero_requested()
    };
    if pod_request == 0 && is_scalar_resource_name(resource) {
        return (0, 0);
    }
    match resource {
        "cpu" => (
            node.allocatable().milli_cpu,
            requested.milli_cpu + pod_request,
        ),
        "memory" => (node.allocatable().memory, requested.memory + pod_request),
        "ephemeral-storage" => (
            node.allocatable().ephemeral_storage,
            node.requested().ephemeral_storage + pod_request,
        ),
        other => match node.allocatable().scalar.get(other) {
            Some(a) => (
                *a,
                node.requested().scalar.get(other).copied().unwrap_or(0) + pod_request,
            ),
            None => (0, 0),
        },
    }
}

fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

#[derive(Clone)]
struct PreScoreState {
    pod_requests: Vec<i64>,
}

impl PreScorePlugin for NodeResourcesFit {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        state.write(
            PRE_SCORE_KEY,
            PreScoreState {
                pod_requests: pod_score_requests(pod, &self.resources, false),
            },
        );
        Status::success()
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let computed;
        let requests = match state.read::<PreScoreState>(PRE_SCORE_KEY) {
            Some(s) => &s.pod_requests,
            None => {
                computed = pod_score_requests(pod, &self.resources, false);
                &computed
            }
        };
        let mut score = 0;
        let mut weight_sum = 0;
        for ((name, weight), req) in self.resources.iter().zip(requests) {
            let (alloc, requested) = allocatable_request(node, name, *req, false);
            if alloc == 0 {
                continue;
            }
            let s = match self.strategy {
                ScoringStrategy::LeastAllocated => least_requested_score(requested, alloc),
                ScoringStrategy::MostAllocated => most_requested_score(requested, alloc),
            };
            score += s * weight;
            weight_sum += weight;
        }
        Ok(if weight_sum == 0 {
            0
        } else {
            score / weight_sum
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, pod};
    use serde_json::json;
    use std::sync::Arc;

    fn node_with(alloc: serde_json::Value, used: &[serde_json::Value]) -> NodeInfo {
        let mut n = node("n").allocatable(alloc).info();
        for (i, r) in used.iter().enumerate() {
            n.add_pod(Arc::new(pod(&format!("u{i}")).req(r.clone()).info()));
        }
        n
    }

    #[test]
    fn the_filter_reports_each_missing_resource() {
        let alloc = json!({"cpu": "2", "memory": "2Gi", "pods": "3", "example.com/gpu": "2"});
        let cases: Vec<(&str, NodeInfo, serde_json::Value, Code, Vec<&str>)> = vec![
            (
                "fits",
                node_with(alloc.clone(), &[json!({"cpu": "1"})]),
                json!({"cpu": "1"}),
                Code::Success,
                vec![],
            ),
            (
                "cpu short but preemption could help",
                node_with(alloc.clone(), &[json!({"cpu": "1500m"})]),
                json!({"cpu": "1"}),
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                "more cpu than the node has",
                node_with(alloc.clone(), &[]),
                json!({"cpu": "3"}),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient cpu"],
            ),
            (
                "cpu and memory",
                node_with(alloc.clone(), &[json!({"cpu": "2", "memory": "2Gi"})]),
                json!({"cpu": "1", "memory": "1Gi"}),
                Code::Unschedulable,
                vec!["Insufficient cpu", "Insufficient memory"],
            ),
            (
                "too many pods",
                node_with(alloc.clone(), &[json!({}), json!({}), json!({})]),
                json!({}),
                Code::Unschedulable,
                vec!["Too many pods"],
            ),
            (
                "extended resource",
                node_with(alloc.clone(), &[json!({"example.com/gpu": "1"})]),
                json!({"example.com/gpu": "2"}),
                Code::Unschedulable,
                vec!["Insufficient example.com/gpu"],
            ),
            (
                "missing extended resource",
                node_with(json!({"cpu": "2", "pods": "10"}), &[]),
                json!({"example.com/fpga": "1"}),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient example.com/fpga"],
            ),
            (
                "ephemeral storage",
                node_with(
                    json!({"cpu": "2", "pods": "10", "ephemeral-storage": "1Gi"}),
                    &[],
                ),
                json!({"ephemeral-storage": "2Gi"}),
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient ephemeral-storage"],
            ),
        ];
        for (name, n, req, want, reasons) in cases {
            let s = NodeResourcesFit::default().filter(
                &CycleState::new(),
                &pod("p").req(req).info(),
                &n,
            );
            assert_eq!(s.code(), want, "{name}");
            let got: Vec<&str> = s.reasons().iter().map(|r| r.as_ref()).collect();
            assert_eq!(got, reasons, "{name}");
        }
    }

    #[test]
    fn ignored_extended_resources_are_not_checked() {
        let n = node_with(json!({"cpu": "2", "pods": "10"}), &[]);
        let p = pod("p").req(json!({"example.com/fpga": "1"})).info();
        let fit = NodeResourcesFit {
            ignored_resource_groups: vec!["example.com".into()],
            ..NodeResourcesFit::default()
        };
        assert!(fit.filter(&CycleState::new(), &p, &n).is_success());
    }

    #[test]
    fn least_allocated_prefers_free_nodes() {
        // Upstream's example: node 4000m/10000 bytes; pod 3000m/5000 → cpu (4000-3000)*100/4000=25,
        // memory (10000-5000)*100/10000=50 → (25+50)/2 = 37.
        let cases = [
            (
                json!({"cpu": "4", "memory": "10000"}),
                json!({"cpu": "3", "memory": "5000"}),
                37,
            ),
            (
                json!({"cpu": "4", "memory": "10000"}),
                json!({"cpu": "0", "memory": "0"}),
                100,
            ),
            (
                json!({"cpu": "4", "memory": "10000"}),
                json!({"cpu": "5", "memory": "5000"}),
                25,
            ),
        ];
        let snap = Snapshot::new();
        for (alloc, req, want) in cases {
            let n = node("n").allocatable(alloc.clone()).info();
            let p = pod("p").req(req.clone()).info();
            let fit = NodeResourcesFit::default();
            let mut st = CycleState::new();
            fit.pre_score(&mut st, &p, &[&n], &snap);
            assert_eq!(
                fit.score(&st, &p, &n, &snap).unwrap(),
                want,
                "{alloc} {req}"
            );
        }
    }

    #[test]
    fn pods_without_requests_count_the_defaults_when_scoring() {
        let n = node("n")
            .allocatable(json!({"cpu": "1", "memory": "1000Mi"}))
            .info();
        let p = pod("p").info();
        let fit = NodeResourcesFit::default();
        let snap = Snapshot::new();
        let mut st = CycleState::new();
        fit.pre_score(&mut st, &p, &[&n], &snap);
        // cpu (1000-100)*100/1000 = 90; memory (1000-200)*100/1000 = 80 → 85
        assert_eq!(fit.score(&st, &p, &n, &snap).unwrap(), 85);
    }

    #[test]
    fn most_allocated_prefers_busy_nodes() {
        let n = node("n")
            .allocatable(json!({"cpu": "4", "memory": "10000"}))
            .info();
        let p = pod("p").req(json!({"cpu": "3", "memory": "5000"})).info();
        let fit = NodeResourcesFit {
            strategy: ScoringStrategy::MostAllocated,
            ..NodeResourcesFit::default()
        };
        let snap = Snapshot::new();
        let mut st = CycleState::new();
        fit.pre_score(&mut st, &p, &[&n], &snap);
        // cpu 75, memory 50 → 62
        assert_eq!(fit.score(&st, &p, &n, &snap).unwrap(), 62);
    }
}
