//! The scheduling framework (upstream's `pkg/scheduler/framework` and
//! `k8s.io/kube-scheduler/framework`): extension-point traits, statuses, cycle state, the
//! per-node and per-pod precomputed data, and the snapshot of the cluster.
//!
//! A plugin implements [`Plugin`] and exposes the extension points it takes part in through the
//! `as_*` accessors; [`crate::profile::Profile`] runs the enabled plugins at each point in
//! order, as upstream's `frameworkImpl` does.

pub mod cycle_state;
pub mod events;
pub mod node_info;
pub mod pod_info;
pub mod resource;
pub mod selectors;
pub mod snapshot;
pub mod status;
pub mod taints;

use std::collections::BTreeSet;

pub use cycle_state::{CycleState, StateData};
pub use events::{ActionType, ClusterEvent, EventResource};
pub use node_info::NodeInfo;
pub use pod_info::PodInfo;
pub use snapshot::Snapshot;
pub use status::{Code, Status};

use crate::profile::Profile;

/// The highest score a plugin may give after normalization (upstream's `MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;
/// The lowest score a plugin may give after normalization (upstream's `MinNodeScore`).
pub const MIN_NODE_SCORE: i64 = 0;

/// A scheduling plugin: a name, the events that may make pods it rejected schedulable, and the
/// extension points it implements.
pub trait Plugin: Send + Sync {
    /// The plugin's name, as in `KubeSchedulerConfiguration` (e.g. `"NodeResourcesFit"`).
    fn name(&self) -> &'static str;

    /// Cluster events after which a pod this plugin rejected may fit (upstream's
    /// `EventsToRegister`, with scheduling queue hints enabled as in 1.34).
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        Vec::new()
    }

    /// The PreFilter extension point, if implemented.
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        None
    }

    /// The Filter extension point, if implemented.
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        None
    }

    /// The PostFilter extension point, if implemented.
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        None
    }

    /// The PreScore extension point, if implemented.
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        None
    }

    /// The Score extension point, if implemented.
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        None
    }
}

/// Which nodes PreFilter allows (upstream's `PreFilterResult`): `None` means all nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    /// The allowed node names, or `None` for all.
    pub node_names: Option<BTreeSet<String>>,
}

impl PreFilterResult {
    /// Whether every node is allowed.
    pub fn all_nodes(&self) -> bool {
        self.node_names.is_none()
    }

    /// Intersects two results (upstream's `Merge`).
    pub fn merge(self, other: Option<PreFilterResult>) -> PreFilterResult {
        match (self.node_names, other.and_then(|o| o.node_names)) {
            (None, n) | (n, None) => PreFilterResult { node_names: n },
            (Some(a), Some(b)) => PreFilterResult {
                node_names: Some(a.intersection(&b).cloned().collect()),
            },
        }
    }
}

/// PreFilter: checks the pod once per cycle and precomputes state for Filter. Returning `Skip`
/// skips the plugin's Filter for this cycle.
pub trait PreFilterPlugin {
    /// Runs the check; may restrict the nodes to consider.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status);

    /// Whether the plugin updates its state when pods are added or removed during preemption's
    /// simulations (upstream's `PreFilterExtensions` being non-nil).
    fn has_extensions(&self) -> bool {
        false
    }

    /// Updates the state as if `added` ran on `node` (upstream's `AddPod`).
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _added: &PodInfo,
        _node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        Status::success()
    }

    /// Updates the state as if `removed` no longer ran on `node` (upstream's `RemovePod`).
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &PodInfo,
        _removed: &PodInfo,
        _node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Status {
        Status::success()
    }
}

/// Filter: whether the pod can run on one node.
pub trait FilterPlugin {
    /// Checks one node; rejections carry the reasons shown in `FailedScheduling`.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

/// The nodes' filter results of a failed cycle (upstream's `NodeToStatus`): an explicit status
/// per evaluated node, and one status shared by all nodes not evaluated.
#[derive(Clone, Debug)]
pub struct NodeToStatus {
    /// Node name and status, for nodes that were filtered out.
    pub statuses: Vec<(String, Status)>,
    /// The status of every other node (upstream's default: `UnschedulableAndUnresolvable`).
    pub absent: Status,
}

impl Default for NodeToStatus {
    fn default() -> Self {
        NodeToStatus {
            statuses: Vec::new(),
            absent: Status::code_only(Code::UnschedulableAndUnresolvable),
        }
    }
}

impl NodeToStatus {
    /// The status of a node.
    pub fn get(&self, name: &str) -> &Status {
        self.statuses
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
            .unwrap_or(&self.absent)
    }
}

/// What a PostFilter plugin achieved (upstream's `PostFilterResult`).
#[derive(Clone, Debug, Default)]
pub struct PostFilterResult {
    /// The node the pod is nominated to (preemption), if any.
    pub nominated_node_name: Option<String>,
    /// Pods to evict so that the pod fits there (preemption victims).
    pub victims: Vec<std::sync::Arc<k8s_openapi::api::core::v1::Pod>>,
}

/// What PostFilter plugins get to work with after no node fit.
pub struct PostFilterContext<'a> {
    /// The cycle state after PreFilter.
    pub state: &'a CycleState,
    /// The pod.
    pub pod: &'a PodInfo,
    /// The cluster.
    pub snapshot: &'a Snapshot,
    /// Why each node was rejected.
    pub statuses: &'a NodeToStatus,
    /// The profile, to re-run filters in simulations.
    pub profile: &'a Profile,
    /// A random number source (preemption picks a random starting node).
    pub rng: &'a mut crate::rng::Rng,
}

/// PostFilter: runs when no node fits, e.g. to preempt lower-priority pods.
pub trait PostFilterPlugin {
    /// Tries to make the pod schedulable in a future cycle.
    fn post_filter(&self, ctx: &mut PostFilterContext<'_>) -> (Option<PostFilterResult>, Status);
}

/// PreScore: precomputes state for Score over the feasible nodes. Returning `Skip` skips the
/// plugin's Score for this cycle.
pub trait PreScorePlugin {
    /// Prepares scoring.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status;
}

/// Score: ranks feasible nodes; scores are normalized to `0..=100` and weighted.
pub trait ScorePlugin {
    /// Scores one node.
    fn score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Result<i64, Status>;

    /// Whether [`ScorePlugin::normalize_score`] is implemented (upstream's `ScoreExtensions`).
    fn has_normalize(&self) -> bool {
        false
    }

    /// Rescales the raw scores, aligned with `nodes`, to `0..=100`.
    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &PodInfo,
        _nodes: &[&NodeInfo],
        _scores: &mut [i64],
    ) -> Status {
        Status::success()
    }
}
