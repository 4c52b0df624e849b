//! DynamicResources (DRA), reduced to what a cluster without resource claims observes: its
//! PostFilter's `no new claims to deallocate`, which Kubernetes 1.34 (DRA enabled by default)
//! puts before the preemption message of every unschedulable pod without claims.
//!
//! Device allocation is not implemented: pods with `spec.resourceClaims` are rejected with an
//! `UnschedulableAndUnresolvable` status rather than scheduled without their devices.

use crate::framework::{
    ActionType, ClusterEvent, CycleState, EventResource, Plugin, PodInfo, PostFilterContext,
    PostFilterPlugin, PostFilterResult, PreFilterPlugin, PreFilterResult, Snapshot, Status,
};

/// The plugin's name.
pub const NAME: &str = "DynamicResources";
/// The PostFilter reason for pods without claims.
pub const NO_CLAIMS_TO_DEALLOCATE: &str = "no new claims to deallocate";
/// Bosun's PreFilter reason for pods with resource claims.
pub const CLAIMS_NOT_SUPPORTED: &str = "resource claims are not supported by this scheduler";

/// The DynamicResources plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct DynamicResources;

fn has_claims(pod: &PodInfo) -> bool {
    pod.pod()
        .spec
        .as_ref()
        .and_then(|s| s.resource_claims.as_ref())
        .is_some_and(|c| !c.is_empty())
}

impl Plugin for DynamicResources {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![
            ClusterEvent::new(
                EventResource::ResourceClaim,
                ActionType::ADD | ActionType::UPDATE,
            ),
            ClusterEvent::new(
                EventResource::ResourceSlice,
                ActionType::ADD | ActionType::UPDATE,
            ),
            ClusterEvent::new(
                EventResource::DeviceClass,
                ActionType::ADD | ActionType::UPDATE,
            ),
        ]
    }

    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }

    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for DynamicResources {
    fn pre_filter(
        &self,
        _state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status) {
        if has_claims(pod) {
            return (None, Status::unresolvable(CLAIMS_NOT_SUPPORTED));
        }
        (None, Status::skip())
    }
}

impl PostFilterPlugin for DynamicResources {
    fn post_filter(&self, _ctx: &mut PostFilterContext<'_>) -> (Option<PostFilterResult>, Status) {
        (None, Status::unschedulable(NO_CLAIMS_TO_DEALLOCATE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::pod;
    use serde_json::json;

    #[test]
    fn pods_with_claims_are_rejected_and_others_skip() {
        let cases = [
            (pod("p"), Code::Skip),
            (
                pod("p").set(
                    &["spec", "resourceClaims"],
                    json!([{"name": "gpu", "resourceClaimName": "c"}]),
                ),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (p, want) in cases {
            let (_, s) =
                DynamicResources.pre_filter(&mut CycleState::new(), &p.info(), &Snapshot::new());
            assert_eq!(s.code(), want);
        }
    }
}
