//! NodeResourcesBalancedAllocation: prefers nodes whose resource usage stays balanced across
//! resources (score = (1 - standard deviation of the usage fractions) × 100). Pods requesting
//! nothing skip it, so that they do not all pile onto one node.

use crate::framework::{
    CycleState, MAX_NODE_SCORE, NodeInfo, Plugin, PodInfo, PreScorePlugin, ScorePlugin, Snapshot,
    Status,
};

use super::node_resources_fit::{
    allocatable_request, default_scoring_resources, pod_score_requests,
};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";
const PRE_SCORE_KEY: &str = "PreScoreNodeResourcesBalancedAllocation";

/// The NodeResourcesBalancedAllocation plugin and its resources (default cpu and memory).
#[derive(Clone, Debug)]
pub struct BalancedAllocation {
    /// The resources to balance, with weights (weights are unused by the formula, as upstream).
    pub resources: Vec<(String, i64)>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation {
            resources: default_scoring_resources(),
        }
    }
}

#[derive(Clone)]
struct PreScoreState {
    pod_requests: Vec<i64>,
}

/// The balance score of usage fractions `requested[i] / allocatable[i]` (upstream's
/// `balancedResourceScorer`); resources the node lacks are left out.
pub fn balanced_score(requested: &[i64], allocatable: &[i64]) -> i64 {
    let mut fractions = Vec::with_capacity(requested.len());
    let mut total = 0.0;
    for (r, a) in requested.iter().zip(allocatable) {
        if *a == 0 {
            continue;
        }
        let f = (*r as f64 / *a as f64).min(1.0);
        total += f;
        fractions.push(f);
    }
    let std = match fractions.len() {
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n if n > 2 => {
            let mean = total / n as f64;
            (fractions
                .iter()
                .map(|f| (f - mean) * (f - mean))
                .sum::<f64>()
                / n as f64)
                .sqrt()
        }
        _ => 0.0,
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }

    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        let pod_requests = pod_score_requests(pod, &self.resources, true);
        if pod_requests.iter().all(|r| *r == 0) {
            return Status::skip();
        }
        state.write(PRE_SCORE_KEY, PreScoreState { pod_requests });
        Status::success()
    }
}

impl ScorePlugin for BalancedAllocation {
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
                computed = pod_score_requests(pod, &self.resources, true);
                &computed
            }
        };
        let n = self.resources.len();
        let mut requested = Vec::with_capacity(n);
        let mut allocatable = Vec::with_capacity(n);
        for ((name, _), req) in self.resources.iter().zip(requests) {
            let (a, r) = allocatable_request(node, name, *req, true);
            if a == 0 {
                requested.push(0);
                allocatable.push(0);
            } else {
                requested.push(r);
                allocatable.push(a);
            }
        }
        Ok(balanced_score(&requested, &allocatable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, pod};
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn balanced_usage_scores_higher() {
        let cases: [(&[i64], &[i64], i64); 4] = [
            (&[3000, 5000], &[4000, 10000], 87), // fractions .75/.5 → std .125
            (&[2000, 5000], &[4000, 10000], 100),
            (&[5000, 0], &[4000, 10000], 50), // capped at 1 → std .5
            (&[1, 2, 3], &[10, 10, 10], 91),  // std of .1/.2/.3 ≈ .0816
        ];
        for (req, alloc, want) in cases {
            assert_eq!(balanced_score(req, alloc), want, "{req:?} / {alloc:?}");
        }
    }

    #[test]
    fn the_score_counts_what_the_node_already_runs() {
        let mut n = node("n")
            .allocatable(json!({"cpu": "4", "memory": "10000"}))
            .info();
        n.add_pod(Arc::new(
            pod("u").req(json!({"cpu": "1", "memory": "0"})).info(),
        ));
        let p = pod("p").req(json!({"cpu": "1", "memory": "5000"})).info();
        let pl = BalancedAllocation::default();
        let snap = Snapshot::new();
        let mut st = CycleState::new();
        assert!(pl.pre_score(&mut st, &p, &[&n], &snap).is_success());
        // cpu 2000/4000 = .5, memory 5000/10000 = .5 → 100
        assert_eq!(pl.score(&st, &p, &n, &snap).unwrap(), 100);
    }

    #[test]
    fn best_effort_pods_skip_the_score() {
        let p = pod("p").info();
        assert!(
            BalancedAllocation::default()
                .pre_score(&mut CycleState::new(), &p, &[], &Snapshot::new())
                .is_skip()
        );
    }
}
