//! TaintToleration: filters out nodes with `NoSchedule`/`NoExecute` taints the pod does not
//! tolerate, and prefers nodes with fewer untolerated `PreferNoSchedule` taints.

use crate::framework::taints::{TaintEffect, Toleration, find_untolerated_do_not_schedule};
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin, PodInfo,
    PreScorePlugin, ScorePlugin, Snapshot, Status,
};

use super::helper::normalize;

/// The plugin's name.
pub const NAME: &str = "TaintToleration";
/// The filter reason of Kubernetes 1.34 patch releases since the backport of kubernetes#134740,
/// which stopped exposing taint keys and values in pod statuses.
pub const ERR_REASON_UNTOLERATED: &str = "node(s) had untolerated taint(s)";
const PRE_SCORE_KEY: &str = "PreScoreTaintToleration";

/// The TaintToleration plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaintToleration {
    /// Write the first untolerated taint into the reason, as Kubernetes up to 1.34.1 did:
    /// `node(s) had untolerated taint {key: value}`.
    pub taint_in_message: bool,
}

impl TaintToleration {
    /// The plugin with the pre-1.34.2 message naming the taint.
    pub fn with_taint_in_message() -> TaintToleration {
        TaintToleration {
            taint_in_message: true,
        }
    }
}

#[derive(Clone)]
struct PreScoreState {
    tolerations_prefer_no_schedule: Vec<Toleration>,
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_TAINT,
            ),
            ClusterEvent::new(EventResource::Pod, ActionType::UPDATE_POD_TOLERATION),
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

impl FilterPlugin for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match find_untolerated_do_not_schedule(node.taints(), pod.tolerations()) {
            None => Status::success(),
            Some(t) if self.taint_in_message => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key, t.value
            )),
            Some(_) => Status::unresolvable(ERR_REASON_UNTOLERATED),
        }
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        let tolerations = pod
            .tolerations()
            .iter()
            .filter(|t| t.effect.is_empty() || t.effect == "PreferNoSchedule")
            .cloned()
            .collect();
        state.write(
            PRE_SCORE_KEY,
            PreScoreState {
                tolerations_prefer_no_schedule: tolerations,
            },
        );
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
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
        Ok(node
            .taints()
            .iter()
            .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
            .filter(|t| {
                !s.tolerations_prefer_no_schedule
                    .iter()
                    .any(|tol| tol.tolerates(t))
            })
            .count() as i64)
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
        normalize(true, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::{node, pod};
    use serde_json::json;

    #[test]
    fn untolerated_no_schedule_and_no_execute_taints_reject_the_node() {
        let cases = [
            ("no taints", node("n"), pod("p"), Code::Success),
            (
                "NoSchedule untolerated",
                node("n").taint("dedicated", "gpu", "NoSchedule"),
                pod("p"),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "NoExecute untolerated",
                node("n").taint("node.kubernetes.io/unreachable", "", "NoExecute"),
                pod("p"),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "PreferNoSchedule is not filtered",
                node("n").taint("soft", "", "PreferNoSchedule"),
                pod("p"),
                Code::Success,
            ),
            (
                "tolerated",
                node("n").taint("dedicated", "gpu", "NoSchedule"),
                pod("p").toleration(
                    json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
                ),
                Code::Success,
            ),
            (
                "value mismatch",
                node("n").taint("dedicated", "gpu", "NoSchedule"),
                pod("p").toleration(json!({"key": "dedicated", "value": "cpu"})),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (name, n, p, want) in cases {
            let s = TaintToleration::default().filter(&CycleState::new(), &p.info(), &n.info());
            assert_eq!(s.code(), want, "{name}");
            if want != Code::Success {
                assert_eq!(s.message(), "node(s) had untolerated taint(s)", "{name}");
            }
        }
    }

    #[test]
    fn the_legacy_message_names_the_first_untolerated_taint() {
        let n = node("n")
            .taint("soft", "", "PreferNoSchedule")
            .taint("node.kubernetes.io/unreachable", "", "NoSchedule")
            .info();
        let s = TaintToleration::with_taint_in_message().filter(
            &CycleState::new(),
            &pod("p").info(),
            &n,
        );
        assert_eq!(
            s.message(),
            "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"
        );
        let n = node("n").taint("dedicated", "gpu", "NoSchedule").info();
        let s = TaintToleration::with_taint_in_message().filter(
            &CycleState::new(),
            &pod("p").info(),
            &n,
        );
        assert_eq!(
            s.message(),
            "node(s) had untolerated taint {dedicated: gpu}"
        );
    }

    #[test]
    fn fewer_untolerated_prefer_no_schedule_taints_score_higher() {
        let nodes = [
            node("a").info(),
            node("b").taint("x", "", "PreferNoSchedule").info(),
            node("c")
                .taint("x", "", "PreferNoSchedule")
                .taint("y", "", "PreferNoSchedule")
                .info(),
            node("d").taint("y", "", "PreferNoSchedule").info(),
        ];
        let p = pod("p")
            .toleration(json!({"key": "y", "operator": "Exists", "effect": "PreferNoSchedule"}))
            .info();
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let pl = TaintToleration::default();
        let mut state = CycleState::new();
        let snap = Snapshot::new();
        assert!(pl.pre_score(&mut state, &p, &refs, &snap).is_success());
        let mut scores: Vec<i64> = refs
            .iter()
            .map(|n| pl.score(&state, &p, n, &snap).unwrap())
            .collect();
        assert_eq!(scores, [0, 1, 1, 0]);
        pl.normalize_score(&state, &p, &refs, &mut scores);
        assert_eq!(scores, [100, 0, 0, 100]);
    }
}
