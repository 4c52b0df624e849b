//! NodeUnschedulable: filters out cordoned nodes (`spec.unschedulable`) unless the pod tolerates
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use crate::framework::taints::{Taint, tolerations_tolerate};
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin, PodInfo,
    Status,
};

/// The plugin's name.
pub const NAME: &str = "NodeUnschedulable";
/// The filter reason (upstream's `ErrReasonUnschedulable`).
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";

/// The NodeUnschedulable plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
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
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if !node.unschedulable() {
            return Status::success();
        }
        let taint = Taint::new("node.kubernetes.io/unschedulable", "", "NoSchedule");
        if tolerations_tolerate(pod.tolerations(), &taint) {
            return Status::success();
        }
        Status::unresolvable(ERR_REASON_UNSCHEDULABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::{node, pod};
    use serde_json::json;

    #[test]
    fn cordoned_nodes_are_rejected_unless_tolerated() {
        let cases = [
            ("schedulable node", node("n").info(), pod("p").info(), Code::Success),
            (
                "cordoned node",
                node("n").unschedulable().info(),
                pod("p").info(),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "cordoned node, tolerated",
                node("n").unschedulable().info(),
                pod("p")
                    .toleration(json!({"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}))
                    .info(),
                Code::Success,
            ),
        ];
        for (name, n, p, want) in cases {
            let s = NodeUnschedulable.filter(&CycleState::new(), &p, &n);
            assert_eq!(s.code(), want, "{name}");
            if want != Code::Success {
                assert_eq!(s.message(), "node(s) were unschedulable");
            }
        }
    }
}
