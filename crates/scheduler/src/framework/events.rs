//! Cluster events that may make an unschedulable pod schedulable (upstream's `ClusterEvent`,
//! `EventResource`, `ActionType` and each plugin's `EventsToRegister`).
//!
//! The scheduling queue (not this crate) keeps unschedulable pods with the events registered by
//! the plugins that rejected them, and moves a pod back to the active queue when a matching event
//! happens. [`node_update_actions`] and [`pod_update_actions`] classify an update the way upstream
//! does, so the queue can match it against [`ClusterEvent::matches`]. Upstream's per-event
//! `QueueingHint` functions (which may skip an event after looking at the objects) are not
//! modelled: a matching event always requeues, which is what upstream does for plugins without
//! hints.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use k8s_openapi::api::core::v1::{Node, Pod};

use super::resource::Resource;

/// The kind of object an event is about (upstream's `EventResource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventResource {
    /// Any pod; matches [`EventResource::AssignedPod`] and [`EventResource::UnscheduledPod`].
    Pod,
    /// A pod bound to a node.
    AssignedPod,
    /// A pod not yet bound to a node.
    UnscheduledPod,
    /// A node.
    Node,
    /// A persistent volume.
    PersistentVolume,
    /// A persistent volume claim.
    PersistentVolumeClaim,
    /// A storage class.
    StorageClass,
    /// A CSI node object.
    CSINode,
    /// A resource claim (DRA).
    ResourceClaim,
    /// A resource slice (DRA).
    ResourceSlice,
    /// A device class (DRA).
    DeviceClass,
    /// Any resource (`*`).
    WildCard,
}

impl EventResource {
    /// Upstream's name (`"Node"`, `"AssignedPod"`, `"*"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventResource::Pod => "Pod",
            EventResource::AssignedPod => "AssignedPod",
            EventResource::UnscheduledPod => "UnscheduledPod",
            EventResource::Node => "Node",
            EventResource::PersistentVolume => "PersistentVolume",
            EventResource::PersistentVolumeClaim => "PersistentVolumeClaim",
            EventResource::StorageClass => "StorageClass",
            EventResource::CSINode => "CSINode",
            EventResource::ResourceClaim => "ResourceClaim",
            EventResource::ResourceSlice => "ResourceSlice",
            EventResource::DeviceClass => "DeviceClass",
            EventResource::WildCard => "*",
        }
    }
}

/// What happened to the object: a bit set of upstream's `ActionType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ActionType(u32);

impl ActionType {
    /// The object was created.
    pub const ADD: ActionType = ActionType(1);
    /// The object was deleted.
    pub const DELETE: ActionType = ActionType(1 << 1);
    /// A node's `status.allocatable` changed.
    pub const UPDATE_NODE_ALLOCATABLE: ActionType = ActionType(1 << 2);
    /// A node's labels changed.
    pub const UPDATE_NODE_LABEL: ActionType = ActionType(1 << 3);
    /// A node's taints changed, or it became schedulable (`spec.unschedulable` cleared).
    pub const UPDATE_NODE_TAINT: ActionType = ActionType(1 << 4);
    /// A node's conditions changed.
    pub const UPDATE_NODE_CONDITION: ActionType = ActionType(1 << 5);
    /// A node's annotations changed.
    pub const UPDATE_NODE_ANNOTATION: ActionType = ActionType(1 << 6);
    /// A pod's labels changed.
    pub const UPDATE_POD_LABEL: ActionType = ActionType(1 << 7);
    /// A pod's resource requests went down (in-place resize).
    pub const UPDATE_POD_SCALE_DOWN: ActionType = ActionType(1 << 8);
    /// A pod's tolerations changed.
    pub const UPDATE_POD_TOLERATION: ActionType = ActionType(1 << 9);
    /// A pod's last scheduling gate was removed.
    pub const UPDATE_POD_SCHEDULING_GATES_ELIMINATED: ActionType = ActionType(1 << 10);
    /// Any other pod update.
    pub const UPDATE_POD_OTHER: ActionType = ActionType(1 << 11);
    /// Any update.
    pub const UPDATE: ActionType = ActionType(((1 << 12) - 1) & !0b11);
    /// Anything.
    pub const ALL: ActionType = ActionType((1 << 12) - 1);

    /// No action.
    pub const fn empty() -> ActionType {
        ActionType(0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether any bit of `other` is set here.
    pub const fn intersects(self, other: ActionType) -> bool {
        self.0 & other.0 != 0
    }

    /// Upstream's names of the set bits, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        if self == ActionType::ALL {
            return vec!["All"];
        }
        if self == ActionType::UPDATE {
            return vec!["Update"];
        }
        const NAMES: [&str; 12] = [
            "Add",
            "Delete",
            "UpdateNodeAllocatable",
            "UpdateNodeLabel",
            "UpdateNodeTaint",
            "UpdateNodeCondition",
            "UpdateNodeAnnotation",
            "UpdatePodLabel",
            "UpdatePodScaleDown",
            "UpdatePodToleration",
            "UpdatePodSchedulingGatesEliminated",
            "UpdatePodOther",
        ];
        (0..12)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| NAMES[i])
            .collect()
    }
}

impl BitOr for ActionType {
    type Output = ActionType;
    fn bitor(self, rhs: ActionType) -> ActionType {
        ActionType(self.0 | rhs.0)
    }
}

impl BitOrAssign for ActionType {
    fn bitor_assign(&mut self, rhs: ActionType) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join("|"))
    }
}

/// An event a plugin registers interest in (upstream's `ClusterEvent`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterEvent {
    /// The kind of object.
    pub resource: EventResource,
    /// The actions, as a bit set.
    pub action_type: ActionType,
}

impl ClusterEvent {
    /// An event for `resource` with `action_type`.
    pub const fn new(resource: EventResource, action_type: ActionType) -> ClusterEvent {
        ClusterEvent {
            resource,
            action_type,
        }
    }

    /// Whether an `incoming` event (as specific as possible, e.g. `Node/UpdateNodeLabel`) is
    /// covered by this registered event (upstream's `MatchClusterEvents`): the resources match
    /// (`*` matches all, `Pod` matches assigned and unscheduled pods) and the incoming action is
    /// one of the registered ones.
    pub fn matches(&self, incoming: &ClusterEvent) -> bool {
        if self.resource == EventResource::WildCard && self.action_type == ActionType::ALL {
            return true;
        }
        let resource_matches = self.resource == EventResource::WildCard
            || self.resource == incoming.resource
            || (self.resource == EventResource::Pod
                && matches!(
                    incoming.resource,
                    EventResource::AssignedPod | EventResource::UnscheduledPod
                ));
        resource_matches && self.action_type.intersects(incoming.action_type)
    }

    /// Upstream's label, e.g. `"NodeAdd"` or `"AssignedPodDelete"`.
    pub fn label(&self) -> String {
        format!("{}{}", self.resource.as_str(), self.action_type)
    }
}

impl fmt::Display for ClusterEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The actions an update from `old` to `new` node amounts to, as upstream's
/// `NodeSchedulingPropertiesChange` classifies it (empty when nothing relevant changed).
pub fn node_update_actions(old: &Node, new: &Node) -> ActionType {
    let mut actions = ActionType::empty();
    let unschedulable = |n: &Node| {
        n.spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
    };
    if unschedulable(old) != unschedulable(new) && !unschedulable(new) {
        // Upstream reports a node becoming schedulable as a taint update on purpose.
        actions |= ActionType::UPDATE_NODE_TAINT;
    }
    let allocatable = |n: &Node| Resource::from_node_allocatable(n);
    if allocatable(old) != allocatable(new) {
        actions |= ActionType::UPDATE_NODE_ALLOCATABLE;
    }
    if old.metadata.labels != new.metadata.labels {
        actions |= ActionType::UPDATE_NODE_LABEL;
    }
    let taints = |n: &Node| {
        n.spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
    };
    if taints(old) != taints(new) {
        actions |= ActionType::UPDATE_NODE_TAINT;
    }
    let conditions = |n: &Node| {
        let mut c: Vec<(String, String)> = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| (c.type_.clone(), c.status.clone()))
                    .collect()
            })
            .unwrap_or_default();
        c.sort();
        c
    };
    if conditions(old) != conditions(new) {
        actions |= ActionType::UPDATE_NODE_CONDITION;
    }
    if old.metadata.annotations != new.metadata.annotations {
        actions |= ActionType::UPDATE_NODE_ANNOTATION;
    }
    actions
}

/// The actions an update from `old` to `new` pod amounts to, as upstream's
/// `PodSchedulingPropertiesChange` classifies it ([`ActionType::UPDATE_POD_OTHER`] when nothing
/// specific changed).
pub fn pod_update_actions(old: &Pod, new: &Pod) -> ActionType {
    let mut actions = ActionType::empty();
    if old.metadata.labels != new.metadata.labels {
        actions |= ActionType::UPDATE_POD_LABEL;
    }
    let old_req = super::resource::pod_requests_resource(old);
    let new_req = super::resource::pod_requests_resource(new);
    let decreased = new_req.milli_cpu < old_req.milli_cpu
        || new_req.memory < old_req.memory
        || new_req.ephemeral_storage < old_req.ephemeral_storage
        || old_req
            .scalar
            .iter()
            .any(|(k, v)| new_req.scalar.get(k).copied().unwrap_or(0) < *v);
    if decreased {
        actions |= ActionType::UPDATE_POD_SCALE_DOWN;
    }
    let gates = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_ref())
            .is_some_and(|g| !g.is_empty())
    };
    if gates(old) && !gates(new) {
        actions |= ActionType::UPDATE_POD_SCHEDULING_GATES_ELIMINATED;
    }
    let tolerations = |p: &Pod| p.spec.as_ref().and_then(|s| s.tolerations.clone());
    if tolerations(old) != tolerations(new) {
        actions |= ActionType::UPDATE_POD_TOLERATION;
    }
    if actions.is_empty() {
        actions = ActionType::UPDATE_POD_OTHER;
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_update_covers_a_specific_update() {
        let registered =
            ClusterEvent::new(EventResource::Node, ActionType::ADD | ActionType::UPDATE);
        let incoming = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_LABEL);
        assert!(registered.matches(&incoming));
    }

    #[test]
    fn specific_registration_does_not_match_another_specific_update() {
        let registered = ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_TAINT,
        );
        let incoming = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_LABEL);
        assert!(!registered.matches(&incoming));
    }

    #[test]
    fn an_update_touching_several_aspects_matches_a_registration_for_one() {
        let registered = ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_ALLOCATABLE,
        );
        let incoming = ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_ALLOCATABLE | ActionType::UPDATE_NODE_CONDITION,
        );
        assert!(registered.matches(&incoming));
    }

    #[test]
    fn pod_registration_matches_assigned_pod_events() {
        let registered = ClusterEvent::new(EventResource::Pod, ActionType::DELETE);
        let incoming = ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE);
        assert!(registered.matches(&incoming));
        let other = ClusterEvent::new(EventResource::Node, ActionType::DELETE);
        assert!(!registered.matches(&other));
    }

    #[test]
    fn labels_read_like_upstream() {
        assert_eq!(
            ClusterEvent::new(EventResource::Node, ActionType::ADD).label(),
            "NodeAdd"
        );
        assert_eq!(
            ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE).label(),
            "AssignedPodDelete"
        );
    }

    #[test]
    fn node_label_change_is_classified_as_label_update() {
        let old: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n", "labels": {"a": "1"}}
        }))
        .unwrap();
        let new: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n", "labels": {"a": "2"}}
        }))
        .unwrap();
        assert_eq!(
            node_update_actions(&old, &new),
            ActionType::UPDATE_NODE_LABEL
        );
    }

    #[test]
    fn node_becoming_schedulable_is_a_taint_update() {
        let old: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"}, "spec": {"unschedulable": true}
        }))
        .unwrap();
        let new: Node =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}})).unwrap();
        assert_eq!(
            node_update_actions(&old, &new),
            ActionType::UPDATE_NODE_TAINT
        );
        assert_eq!(node_update_actions(&new, &old), ActionType::empty());
    }
}
