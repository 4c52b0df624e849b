//! NodeName: a pod with `spec.nodeName` only fits that node.

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin, PodInfo,
    Status,
};

/// The plugin's name.
pub const NAME: &str = "NodeName";
/// The filter reason (upstream's `ErrReason`).
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The NodeName plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(EventResource::Node, ActionType::ADD)]
    }

    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let wanted = pod.node_name();
        if wanted.is_empty() || wanted == node.name() {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::{node, pod};

    #[test]
    fn only_the_requested_node_fits() {
        let cases = [
            ("no node name", pod("p"), "n1", Code::Success),
            (
                "matching name",
                pod("p").node_name("n1"),
                "n1",
                Code::Success,
            ),
            (
                "other name",
                pod("p").node_name("n2"),
                "n1",
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (name, p, n, want) in cases {
            let s = NodeName.filter(&CycleState::new(), &p.info(), &node(n).info());
            assert_eq!(s.code(), want, "{name}");
        }
        let s = NodeName.filter(
            &CycleState::new(),
            &pod("p").node_name("x").info(),
            &node("n").info(),
        );
        assert_eq!(s.message(), "node(s) didn't match the requested node name");
    }
}
