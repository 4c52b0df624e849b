//! NodePorts: filters out nodes where a host port the pod asks for is already in use.

use crate::framework::pod_info::HostPort;
use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, FilterPlugin, NodeInfo, Plugin, PodInfo,
    PreFilterPlugin, PreFilterResult, Snapshot, Status,
};

/// The plugin's name.
pub const NAME: &str = "NodePorts";
/// The filter reason (upstream's `ErrReason`).
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The NodePorts plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
            ClusterEvent::new(EventResource::Node, ActionType::ADD),
        ]
    }

    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }

    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        if pod.host_ports().is_empty() {
            return (None, Status::skip());
        }
        (None, Status::success())
    }
}

/// Whether all wanted ports are free on the node (upstream's `fitsPorts`).
pub fn fits_ports(wanted: &[HostPort], node: &NodeInfo) -> bool {
    !wanted.iter().any(|p| node.used_ports().conflicts(p))
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if fits_ports(pod.host_ports(), node) {
            Status::success()
        } else {
            Status::unschedulable(ERR_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::{node, pod};
    use std::sync::Arc;

    #[test]
    fn used_host_ports_reject_the_node() {
        let with_port = |port: i32| {
            let mut n = node("n").info();
            n.add_pod(Arc::new(pod("other").host_port(port).info()));
            n
        };
        let cases = [
            ("no ports wanted", pod("p"), node("n").info(), Code::Success),
            (
                "free port",
                pod("p").host_port(80),
                with_port(81),
                Code::Success,
            ),
            (
                "used port",
                pod("p").host_port(80),
                with_port(80),
                Code::Unschedulable,
            ),
        ];
        for (name, p, n, want) in cases {
            let p = p.info();
            let mut state = CycleState::new();
            let (_, s) = NodePorts.pre_filter(&mut state, &p, &Snapshot::new());
            let got = if s.is_skip() {
                Status::success()
            } else {
                NodePorts.filter(&state, &p, &n)
            };
            assert_eq!(got.code(), want, "{name}");
            if want != Code::Success {
                assert_eq!(
                    got.message(),
                    "node(s) didn't have free ports for the requested pod ports"
                );
            }
        }
    }
}
