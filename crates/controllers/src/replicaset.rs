//! The ReplicaSet and ReplicationController controllers (upstream's `replicaset`, which also
//! runs ReplicationControllers): as many active pods as `spec.replicas` say, created from the
//! template and deleted least-valuable first; matching orphans adopted and owned pods that no
//! longer match released; status counts kept current.
//!
//! A cache may lag the controller's own writes: pods it created are counted, and pods it
//! deleted are not, until the pod watch shows them (upstream's expectations), so a lagging
//! cache never makes it create or delete twice.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::events::{EventType, Recorder};
use crate::{Clients, Error, Shutdown};

/// The ReplicaSet controller's name and service account.
pub const REPLICASET: &str = "replicaset-controller";
/// The ReplicationController controller's name and service account.
pub const REPLICATION: &str = "replication-controller";
/// At most this many pods are created or deleted in one sync (upstream's `BurstReplicas`).
const BURST: usize = 500;
/// How long a write is expected to show up in the cache before it is no longer waited for.
const EXPECTATION_TTL: Duration = Duration::from_secs(300);

/// What the controller needs of a ReplicaSet or ReplicationController.
pub trait Replicated:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The desired number of pods.
    fn replicas(&self) -> i32;
    /// Whether `labels` are selected (an empty or missing selector selects nothing).
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool;
    /// The pod template.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// Seconds a pod must be ready to count as available.
    fn min_ready_seconds(&self) -> i32;
    /// The status this controller computed, set on a copy of the object.
    fn with_status(&self, counts: &Counts, failure: Option<&str>) -> Self;
    /// Whether the status already says `counts`.
    fn status_is(&self, counts: &Counts) -> bool;
}

/// Pod counts for status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Active pods.
    pub replicas: i32,
    /// Active pods whose labels match the template's.
    pub fully_labeled: i32,
    /// Active ready pods.
    pub ready: i32,
    /// Active pods ready for at least minReadySeconds.
    pub available: i32,
    /// The generation the counts are for.
    pub observed_generation: i64,
}

/// Whether `selector` selects `labels` (upstream's `LabelSelectorAsSelector`); an empty selector
/// selects nothing here, as controllers treat it.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector.match_labels.clone().unwrap_or_default();
    let expressions = selector.match_expressions.clone().unwrap_or_default();
    if match_labels.is_empty() && expressions.is_empty() {
        return false;
    }
    match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && expressions.iter().all(|e| {
            let values = e.values.clone().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

fn status_json(counts: &Counts, failure: Option<&str>) -> serde_json::Value {
    let mut status = json!({
        "replicas": counts.replicas,
        "fullyLabeledReplicas": counts.fully_labeled,
        "readyReplicas": counts.ready,
        "availableReplicas": counts.available,
        "observedGeneration": counts.observed_generation,
    });
    if let Some(message) = failure {
        status["conditions"] = json!([{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
            "message": message, "lastTransitionTime": bosun_api::meta::now_rfc3339()}]);
    }
    status
}

impl Replicated for ReplicaSet {
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.spec
            .as_ref()
            .is_some_and(|s| selector_matches(&s.selector, labels))
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().and_then(|s| s.template.as_ref())
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn with_status(&self, counts: &Counts, failure: Option<&str>) -> Self {
        let mut copy = self.clone();
        copy.status = serde_json::from_value(status_json(counts, failure)).ok();
        copy
    }
    fn status_is(&self, counts: &Counts) -> bool {
        let s = self.status.clone().unwrap_or_default();
        s.replicas == counts.replicas
            && s.fully_labeled_replicas.unwrap_or(0) == counts.fully_labeled
            && s.ready_replicas.unwrap_or(0) == counts.ready
            && s.available_replicas.unwrap_or(0) == counts.available
            && s.observed_generation.unwrap_or(0) == counts.observed_generation
            && s.conditions.as_ref().is_none_or(Vec::is_empty)
    }
}

impl Replicated for ReplicationController {
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        let selector = self
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().and_then(|s| s.template.as_ref())
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn with_status(&self, counts: &Counts, failure: Option<&str>) -> Self {
        let mut copy = self.clone();
        copy.status = serde_json::from_value(status_json(counts, failure)).ok();
        copy
    }
    fn status_is(&self, counts: &Counts) -> bool {
        let s = self.status.clone().unwrap_or_default();
        s.replicas == counts.replicas
            && s.fully_labeled_replicas.unwrap_or(0) == counts.fully_labeled
            && s.ready_replicas.unwrap_or(0) == counts.ready
            && s.available_replicas.unwrap_or(0) == counts.available
            && s.observed_generation.unwrap_or(0) == counts.observed_generation
            && s.conditions.as_ref().is_none_or(Vec::is_empty)
    }
}

/// Writes made but not yet seen in the cache, per owner (`namespace/name`): pods created (by
/// name) and pods deleted (by uid).
#[derive(Default)]
struct Expectations {
    created: Mutex<HashMap<String, Vec<(String, Instant)>>>,
    deleted: Mutex<HashMap<String, Vec<(String, Instant)>>>,
}

impl Expectations {
    fn expect(map: &Mutex<HashMap<String, Vec<(String, Instant)>>>, owner: &str, id: String) {
        map.lock()
            .expect("expectations lock")
            .entry(owner.to_string())
            .or_default()
            .push((id, Instant::now()));
    }

    /// Pods created but not yet cached, and uids deleted but still cached, after forgetting
    /// what the cache now shows (or what is too old to wait for).
    fn pending(&self, owner: &str, cached: &[Arc<Pod>]) -> (Vec<String>, Vec<String>) {
        let fresh = |t: &Instant| t.elapsed() < EXPECTATION_TTL;
        let mut created = self.created.lock().expect("expectations lock");
        let names = created.entry(owner.to_string()).or_default();
        names.retain(|(name, t)| fresh(t) && !cached.iter().any(|p| p.name_any() == *name));
        let mut deleted = self.deleted.lock().expect("expectations lock");
        let uids = deleted.entry(owner.to_string()).or_default();
        uids.retain(|(uid, t)| fresh(t) && cached.iter().any(|p| p.uid().as_deref() == Some(uid)));
        (
            names.iter().map(|(n, _)| n.clone()).collect(),
            uids.iter().map(|(u, _)| u.clone()).collect(),
        )
    }
}

struct Context {
    clients: Clients,
    pods: Store<Pod>,
    expectations: Expectations,
    recorder: Recorder,
}

/// Runs the controller for `K` until shutdown.
pub async fn run<K: Replicated>(clients: Clients, name: &'static str, shutdown: Shutdown) {
    let (pods, pod_writer) = reflector::store();
    let pod_events = watcher(
        Api::<Pod>::all(clients.read.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(pod_writer)
    .applied_objects();
    let recorder = Recorder::new(clients.write.clone(), name);
    let controller = Controller::new(
        Api::<K>::all(clients.read.clone()),
        watcher::Config::default(),
    );
    let owners = controller.store();
    let kind = K::kind(&()).to_string();
    controller
        // A pod's controller is told of it; an orphan, every owner that could adopt it.
        .watches_stream(pod_events, move |pod: Pod| {
            let namespace = pod.namespace().unwrap_or_default();
            if let Some(owner) = pod
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true))
            {
                return if owner.kind == kind {
                    vec![ObjectRef::new(&owner.name).within(&namespace)]
                } else {
                    Vec::new()
                };
            }
            owners
                .state()
                .into_iter()
                .filter(|o| {
                    o.namespace().as_deref() == Some(namespace.as_str()) && o.selects(pod.labels())
                })
                .map(|o| ObjectRef::from_obj(&*o))
                .collect()
        })
        .graceful_shutdown_on(shutdown.requested())
        .run(
            reconcile::<K>,
            error_policy::<K>,
            Arc::new(Context {
                clients,
                pods,
                expectations: Expectations::default(),
                recorder,
            }),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// When the pod became ready, if it is.
fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let ready = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(
        ready
            .last_transition_time
            .as_ref()
            .map(|t| t.0)
            .unwrap_or_else(Timestamp::now),
    )
}

fn ready_for(pod: &Pod) -> Option<Duration> {
    ready_since(pod).map(|t| {
        Timestamp::now()
            .duration_since(t)
            .try_into()
            .unwrap_or(Duration::ZERO)
    })
}

/// A pod's place in the deletion order, least valuable first: assigned to a node, phase
/// (Pending, Unknown, Running), ready, then ready for longer, fewer restarts, older.
type DeletionRank = (
    u8,
    u8,
    u8,
    std::cmp::Reverse<Option<Timestamp>>,
    std::cmp::Reverse<i32>,
    std::cmp::Reverse<Option<Timestamp>>,
);

/// Upstream's deletion order: the pod worth least goes first.
fn deletion_rank(pod: &Pod) -> DeletionRank {
    let spec_node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default();
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default();
    let restarts = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|c| c.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0);
    (
        u8::from(!spec_node.is_empty()),
        match phase {
            "Pending" => 0,
            "Unknown" => 1,
            "Running" => 2,
            _ => 0,
        },
        u8::from(ready_since(pod).is_some()),
        std::cmp::Reverse(ready_since(pod)),
        std::cmp::Reverse(restarts),
        std::cmp::Reverse(pod.metadata.creation_timestamp.as_ref().map(|t| t.0)),
    )
}

fn new_pod<K: Replicated>(owner: &K) -> Option<Pod> {
    let template = owner.template()?;
    let mut meta = template.metadata.clone().unwrap_or_default();
    meta.name = None;
    meta.generate_name = Some(format!("{}-", owner.name_any()));
    meta.namespace = owner.namespace();
    meta.owner_references = Some(vec![OwnerReference {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    Some(Pod {
        metadata: meta,
        spec: template.spec.clone(),
        status: None,
    })
}

async fn publish(
    ctx: &Context,
    owner: &impl Resource<DynamicType = ()>,
    type_: EventType,
    reason: &str,
    note: String,
) {
    ctx.recorder
        .record(&owner.object_ref(&()), type_, reason, &note)
        .await;
}

async fn reconcile<K: Replicated>(owner: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = owner.namespace().unwrap_or_default();
    let name = owner.name_any();
    let key = format!("{namespace}/{name}");
    let uid = owner.uid().unwrap_or_default();
    let pod_api: Api<Pod> = Api::namespaced(ctx.clients.write.clone(), &namespace);
    let in_namespace: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()))
        .collect();
    // Claim: owned pods that still match, plus matching orphans (adopted); release the rest.
    let mut owned = Vec::new();
    for pod in in_namespace {
        let controller = pod
            .owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
            .cloned();
        let matches = owner.selects(pod.labels());
        match controller {
            Some(c) if c.uid == uid => {
                if matches {
                    owned.push(pod);
                } else if owner.meta().deletion_timestamp.is_none() {
                    let refs: Vec<&OwnerReference> = pod
                        .owner_references()
                        .iter()
                        .filter(|o| o.uid != uid)
                        .collect();
                    let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.uid()}});
                    let _ = pod_api
                        .patch(
                            &pod.name_any(),
                            &PatchParams::default(),
                            &Patch::Merge(patch),
                        )
                        .await;
                }
            }
            None if matches
                && owner.meta().deletion_timestamp.is_none()
                && pod.metadata.deletion_timestamp.is_none() =>
            {
                let mut refs = pod.owner_references().to_vec();
                refs.push(OwnerReference {
                    api_version: K::api_version(&()).to_string(),
                    kind: K::kind(&()).to_string(),
                    name: name.clone(),
                    uid: uid.clone(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                });
                let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.uid()}});
                match pod_api
                    .patch(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(patch),
                    )
                    .await
                {
                    Ok(_) => owned.push(pod),
                    Err(e) => tracing::debug!(error = %e, "adoption failed"),
                }
            }
            _ => {}
        }
    }
    let (created, deleted) = ctx.expectations.pending(&key, &owned);
    let active: Vec<Arc<Pod>> = owned
        .iter()
        .filter(|p| is_active(p) && !p.uid().is_some_and(|u| deleted.contains(&u)))
        .cloned()
        .collect();
    let current = active.len() + created.len();
    let wanted = owner.replicas().max(0) as usize;
    let mut failure = None;
    if owner.meta().deletion_timestamp.is_none() {
        if current < wanted {
            let template_pod = new_pod(owner.as_ref());
            let mut remaining = (wanted - current).min(BURST);
            let mut batch = 1;
            'create: while remaining > 0 {
                let Some(template_pod) = &template_pod else {
                    break;
                };
                let this_batch = batch.min(remaining);
                let params = PostParams::default();
                let results = futures::future::join_all(
                    (0..this_batch).map(|_| pod_api.create(&params, template_pod)),
                )
                .await;
                for result in results {
                    match result {
                        Ok(pod) => {
                            let pod_name = pod.name_any();
                            Expectations::expect(&ctx.expectations.created, &key, pod_name.clone());
                            publish(
                                &ctx,
                                owner.as_ref(),
                                EventType::Normal,
                                "SuccessfulCreate",
                                format!("Created pod: {pod_name}"),
                            )
                            .await;
                        }
                        Err(e) => {
                            let message = match &e {
                                kube::Error::Api(s) => s.message.clone(),
                                other => other.to_string(),
                            };
                            publish(
                                &ctx,
                                owner.as_ref(),
                                EventType::Warning,
                                "FailedCreate",
                                format!("Error creating: {message}"),
                            )
                            .await;
                            failure = Some(message);
                            break 'create;
                        }
                    }
                }
                remaining -= this_batch;
                batch *= 2;
            }
        } else if current > wanted {
            let mut victims = active.clone();
            victims.sort_by_key(|p| deletion_rank(p));
            for pod in victims.into_iter().take((current - wanted).min(BURST)) {
                let pod_name = pod.name_any();
                Expectations::expect(
                    &ctx.expectations.deleted,
                    &key,
                    pod.uid().unwrap_or_default(),
                );
                match pod_api.delete(&pod_name, &DeleteParams::default()).await {
                    Ok(_) => {
                        publish(
                            &ctx,
                            owner.as_ref(),
                            EventType::Normal,
                            "SuccessfulDelete",
                            format!("Deleted pod: {pod_name}"),
                        )
                        .await;
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => {
                        return Err(Error::api(
                            "deleting",
                            format!("pod {namespace}/{pod_name}"),
                        )(e));
                    }
                }
            }
        }
    }
    // Status.
    let template_labels = owner
        .template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = Duration::from_secs(owner.min_ready_seconds().max(0) as u64);
    let mut next_check: Option<Duration> = None;
    let counts = Counts {
        replicas: active.len() as i32,
        fully_labeled: active
            .iter()
            .filter(|p| {
                template_labels
                    .iter()
                    .all(|(k, v)| p.labels().get(k) == Some(v))
            })
            .count() as i32,
        ready: active.iter().filter(|p| ready_since(p).is_some()).count() as i32,
        available: active
            .iter()
            .filter(|p| match ready_for(p) {
                Some(d) if d >= min_ready => true,
                Some(d) => {
                    let wait = min_ready - d;
                    next_check = Some(next_check.map_or(wait, |n| n.min(wait)));
                    false
                }
                None => false,
            })
            .count() as i32,
        observed_generation: owner.meta().generation.unwrap_or(0),
    };
    if failure.is_some() || !owner.status_is(&counts) {
        let updated = owner.with_status(&counts, failure.as_deref());
        let api: Api<K> = Api::namespaced(ctx.clients.write.clone(), &namespace);
        match api
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {}
            // A newer copy is on its way; it is reconciled in turn.
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {}
            Err(e) => return Err(Error::api("updating status of", key)(e)),
        }
    }
    if failure.is_some() {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    Ok(match next_check {
        Some(wait) => Action::requeue(wait + Duration::from_millis(100)),
        None if !created.is_empty() || !deleted.is_empty() => {
            Action::requeue(Duration::from_secs(5))
        }
        None => Action::await_change(),
    })
}

fn error_policy<K: Replicated>(_: Arc<K>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(%error, "replica sync failed");
    Action::requeue(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_labels_and_expressions_and_empty_ones_match_nothing() {
        let selector: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "edge"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        assert!(selector_matches(
            &selector,
            &labels(&[("app", "web"), ("tier", "edge")])
        ));
        assert!(!selector_matches(
            &selector,
            &labels(&[("app", "web"), ("tier", "back")])
        ));
        assert!(!selector_matches(
            &selector,
            &labels(&[("app", "web"), ("tier", "edge"), ("canary", "1")])
        ));
        assert!(!selector_matches(
            &LabelSelector::default(),
            &labels(&[("app", "web")])
        ));
    }

    #[test]
    fn unscheduled_pending_and_unready_pods_are_deleted_first() {
        let pod = |node: &str, phase: &str, ready: bool| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": format!("{node}-{phase}-{ready}"), "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"nodeName": node, "containers": []},
                "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                           "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
            }))
            .unwrap()
        };
        let mut pods = [
            pod("n1", "Running", true),
            pod("", "Pending", false),
            pod("n1", "Running", false),
            pod("n1", "Pending", false),
        ];
        pods.sort_by_key(deletion_rank);
        let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        assert_eq!(
            names,
            [
                "-Pending-false",
                "n1-Pending-false",
                "n1-Running-false",
                "n1-Running-true"
            ]
        );
    }
}
