//! The in-tree plugins (upstream's `pkg/scheduler/framework/plugins/*`), one module each with
//! its table-driven tests, and the default plugin set of Kubernetes 1.34.
//!
//! Left out for now: the volume plugins (VolumeBinding, VolumeRestrictions, NodeVolumeLimits,
//! VolumeZone; VolumeBinding will be added with PV/PVC support), SchedulingGates and PrioritySort
//! (they belong to the scheduling queue), DefaultBinder (binding is the runtime's API call), and
//! DynamicResources' allocation (only its PostFilter message is reproduced; pods with resource
//! claims are rejected).

pub mod default_preemption;
pub mod dynamic_resources;
pub mod helper;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;

use crate::framework::Plugin;

/// Upstream's default plugins for 1.34 that Bosun implements, in multi-point order, with the
/// default score weights (`TaintToleration` 3, `NodeAffinity` 2, `NodeResourcesFit` 1,
/// `PodTopologySpread` 2, `InterPodAffinity` 2, `NodeResourcesBalancedAllocation` 1,
/// `ImageLocality` 1).
pub fn default_plugins() -> Vec<(Box<dyn Plugin>, i64)> {
    vec![
        (Box::new(node_unschedulable::NodeUnschedulable), 1),
        (Box::new(node_name::NodeName), 1),
        (Box::new(taint_toleration::TaintToleration::default()), 3),
        (Box::new(node_affinity::NodeAffinity), 2),
        (Box::new(node_ports::NodePorts), 1),
        (Box::new(node_resources_fit::NodeResourcesFit::default()), 1),
        (Box::new(pod_topology_spread::PodTopologySpread), 2),
        (Box::new(inter_pod_affinity::InterPodAffinity::default()), 2),
        (Box::new(dynamic_resources::DynamicResources), 1),
        (
            Box::new(default_preemption::DefaultPreemption::default()),
            1,
        ),
        (
            Box::new(node_resources_balanced_allocation::BalancedAllocation::default()),
            1,
        ),
        (Box::new(image_locality::ImageLocality), 1),
    ]
}

#[cfg(test)]
pub(crate) mod testutil;
