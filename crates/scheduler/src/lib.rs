//! Bosun's kube-scheduler core: the pure, I/O-free part of upstream's kube-scheduler
//! (`pkg/scheduler/framework`, `framework/plugins/*`, `schedule_one.go` and the scheduler cache),
//! behaving like Kubernetes 1.34.
//!
//! The runtime (another crate) owns the I/O: it feeds nodes, assigned pods and namespaces from
//! reflectors into a [`Snapshot`], pops pods from its scheduling queue, calls
//! [`Scheduler::schedule`], assumes the pod on the chosen node ([`Snapshot::assume_pod`]) and
//! binds it through the API, or posts `FailedScheduling` with [`ScheduleError::event_message`]
//! and parks the pod until one of [`ScheduleError::requeue_events`] happens.
//!
//! Layout, mirroring upstream's framework/plugins split:
//! - [`framework`]: extension-point traits ([`framework::Plugin`], PreFilter, Filter,
//!   PostFilter, PreScore, Score), [`framework::Status`] and its codes (Success, Error,
//!   Unschedulable, UnschedulableAndUnresolvable, Skip, Pending), the per-cycle
//!   [`framework::CycleState`], cluster events, and the precomputed data: [`framework::PodInfo`]
//!   (requests, ports, tolerations, compiled affinity terms), [`framework::NodeInfo`] (parsed
//!   labels, taints, allocatable, summed requests of its pods, used ports, images) and the
//!   incrementally updated [`Snapshot`] (upstream's cache and snapshot in one, with assumed pods).
//! - [`plugins`]: one module per in-tree plugin with its table-driven tests: NodeUnschedulable,
//!   NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
//!   NodeResourcesBalancedAllocation, PodTopologySpread, InterPodAffinity, ImageLocality,
//!   DefaultPreemption, and DynamicResources' PostFilter message.
//! - [`profile`]: [`Profile`] (a scheduler name and its plugins with score weights; the default
//!   is upstream's 1.34 `default-scheduler`) and the code running plugins at each extension point.
//! - [`mod@schedule`]: one scheduling attempt ([`schedule()`]): PreFilter, the sampled filter pass
//!   (`percentageOfNodesToScore`, adaptive by default, starting where the previous attempt
//!   stopped), scoring, random tie-breaking, and on failure PostFilter (preemption) and
//!   upstream's exact `FitError` message.
//!
//! Not implemented yet: the volume plugins (VolumeBinding will come with PV/PVC support),
//! DRA device allocation, scheduling gates and queue sorting (the queue's job), nominated pods of
//! other pods in the filters, PodDisruptionBudgets in preemption, and PodTopologySpread's
//! cluster-level default constraints.

pub mod framework;
pub mod plugins;
pub mod profile;
pub mod rng;
pub mod schedule;

pub use framework::events::{
    ActionType, ClusterEvent, EventResource, node_update_actions, pod_update_actions,
};
pub use framework::pod_info::pod_key;
pub use framework::{Snapshot, Status};
pub use profile::{DEFAULT_SCHEDULER_NAME, Profile};
pub use schedule::{FitError, ScheduleError, ScheduleResult, Scheduler, SchedulingState, schedule};

#[cfg(test)]
mod tests;
