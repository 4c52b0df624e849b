//! The node lifecycle controller (upstream's `nodelifecycle` with its taint-based eviction):
//! a node whose kubelet stops heartbeating (node Lease and status) for the grace period is
//! marked Unknown and its pods not ready; nodes carry the `node.kubernetes.io/*` taints their
//! conditions call for (NoSchedule for the scheduler, NoExecute for eviction); and pods on a
//! node with a NoExecute taint they do not tolerate are evicted, at once or after their
//! `tolerationSeconds`.
//!
//! Each node is reconciled when it changes, when a pod lands on it, and again when its
//! heartbeat would go stale; Leases are only read from a cache (their renewals every ten
//! seconds per node would otherwise be that many reconciles).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::events::{EventType, Recorder};
use crate::{Clients, Error, Shutdown};

/// The controller's name and service account.
pub const NAME: &str = "node-controller";
/// Where node Leases live.
const LEASE_NAMESPACE: &str = "kube-node-lease";
const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// Condition types whose True status gives a NoSchedule taint (upstream's
/// `nodeConditionToTaintKeyStatusMap`).
const PRESSURE_TAINTS: [(&str, &str); 3] = [
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
];
/// The taints this controller owns.
const MANAGED: [&str; 6] = [
    NOT_READY,
    UNREACHABLE,
    UNSCHEDULABLE,
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
];

/// How long a node may go without a heartbeat before it is Unknown (upstream's
/// `--node-monitor-grace-period`, 50 s since 1.32).
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(50);

struct Context {
    clients: Clients,
    leases: Store<Lease>,
    pods: Store<Pod>,
    grace: Duration,
    recorder: Recorder,
}

/// Runs until shutdown; `grace` is the node monitor grace period.
pub async fn run(clients: Clients, grace: Duration, shutdown: Shutdown) {
    let (leases, lease_writer) = reflector::store();
    let lease_api: Api<Lease> = Api::namespaced(clients.read.clone(), LEASE_NAMESPACE);
    let lease_feed = watcher(lease_api, watcher::Config::default())
        .default_backoff()
        .reflect(lease_writer)
        .for_each(|_| futures::future::ready(()));
    let (pods, pod_writer) = reflector::store();
    let pod_api: Api<Pod> = Api::all(clients.read.clone());
    let pod_events = watcher(pod_api, watcher::Config::default())
        .default_backoff()
        .reflect(pod_writer)
        .applied_objects();
    let recorder = Recorder::new(clients.write.clone(), NAME);
    let context = Arc::new(Context {
        clients: clients.clone(),
        leases,
        pods,
        grace,
        recorder,
    });
    let nodes: Api<Node> = Api::all(clients.read.clone());
    let controller = Controller::new(nodes, watcher::Config::default())
        // A pod landing on a node is checked against the node's NoExecute taints.
        .watches_stream(pod_events, |pod: Pod| {
            pod.spec
                .and_then(|s| s.node_name)
                .map(|node| ObjectRef::new(&node))
        })
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile, error_policy, context)
        .for_each(|_| futures::future::ready(()));
    tokio::select! {
        _ = controller => {}
        _ = lease_feed => {}
    }
}

fn condition<'a>(node: &'a Node, kind: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

/// The newest sign of life: the Lease's renewal or the Ready condition's heartbeat, else the
/// node's creation.
fn last_heartbeat(node: &Node, lease: Option<&Lease>) -> Timestamp {
    let renewed = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let reported = condition(node, "Ready")
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    let created = node
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now);
    [renewed, reported]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(created)
}

fn elapsed_since(t: Timestamp) -> Duration {
    Timestamp::now()
        .duration_since(t)
        .try_into()
        .unwrap_or(Duration::ZERO)
}

/// The taints this controller wants on `node`, given its conditions and spec.
fn wanted_taints(node: &Node, now: &str) -> Vec<Taint> {
    let taint = |key: &str, effect: &str| Taint {
        key: key.into(),
        effect: effect.into(),
        value: None,
        time_added: (effect == "NoExecute")
            .then(|| serde_json::from_value(json!(now)).expect("an RFC 3339 time")),
    };
    let mut wanted = Vec::new();
    match condition(node, "Ready").map(|c| c.status.as_str()) {
        Some("True") => {}
        Some("False") => {
            wanted.push(taint(NOT_READY, "NoSchedule"));
            wanted.push(taint(NOT_READY, "NoExecute"));
        }
        // A node that has not reported yet is left alone until its grace period says more.
        None => {}
        _ => {
            wanted.push(taint(UNREACHABLE, "NoSchedule"));
            wanted.push(taint(UNREACHABLE, "NoExecute"));
        }
    }
    for (kind, key) in PRESSURE_TAINTS {
        if condition(node, kind).is_some_and(|c| c.status == "True") {
            wanted.push(taint(key, "NoSchedule"));
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        wanted.push(taint(UNSCHEDULABLE, "NoSchedule"));
    }
    wanted
}

/// The node's taints with this controller's brought in line with `wanted`; `None` when they
/// already are (a taint kept keeps its `timeAdded`).
fn reconciled_taints(node: &Node, wanted: Vec<Taint>) -> Option<Vec<Taint>> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let same = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
    let managed = |t: &Taint| MANAGED.contains(&t.key.as_str());
    let wanted_here = |t: &Taint| wanted.iter().any(|w| same(w, t));
    let missing: Vec<Taint> = wanted
        .iter()
        .filter(|w| !current.iter().any(|t| same(w, t)))
        .cloned()
        .collect();
    let stale = current.iter().any(|t| managed(t) && !wanted_here(t));
    if missing.is_empty() && !stale {
        return None;
    }
    // Taints kept keep their timeAdded; the controller's unwanted ones go.
    let mut taints: Vec<Taint> = current
        .iter()
        .filter(|t| !managed(t) || wanted_here(t))
        .cloned()
        .collect();
    taints.extend(missing);
    Some(taints)
}

fn pods_on(store: &Store<Pod>, node: &str) -> Vec<Arc<Pod>> {
    store
        .state()
        .into_iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .collect()
}

/// Whether `toleration` tolerates `taint` (upstream's `Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// When a pod must leave a node with `taints` (NoExecute ones): `Some(Duration::ZERO)` at once
/// (a taint it does not tolerate), `Some(d)` after `d` (the shortest tolerationSeconds,
/// counted from when the taint was added), `None` never.
fn eviction_delay(pod: &Pod, taints: &[&Taint]) -> Option<Duration> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let mut delay: Option<Duration> = None;
    for taint in taints {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(Duration::ZERO);
        }
        // Tolerated for ever unless every matching toleration limits it.
        if matching.iter().any(|t| t.toleration_seconds.is_none()) {
            continue;
        }
        let seconds = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .min()
            .unwrap_or(0)
            .max(0) as u64;
        let added = taint
            .time_added
            .as_ref()
            .map(|t| elapsed_since(t.0))
            .unwrap_or(Duration::ZERO);
        let remaining = Duration::from_secs(seconds).saturating_sub(added);
        delay = Some(delay.map_or(remaining, |d| d.min(remaining)));
    }
    delay
}

async fn evict(ctx: &Context, pod: &Pod) -> Result<(), Error> {
    let namespace = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let object = format!("pod {namespace}/{name}");
    let api: Api<Pod> = Api::namespaced(ctx.clients.write.clone(), &namespace);
    let now = bosun_api::meta::now_rfc3339();
    let condition = json!({"status": {"conditions": [{"type": "DisruptionTarget", "status": "True",
        "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint",
        "lastTransitionTime": now}]}});
    let _ = api
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(condition))
        .await;
    ctx.recorder
        .record(
            &pod.object_ref(&()),
            EventType::Normal,
            "TaintManagerEviction",
            &format!("Marking for deletion Pod {namespace}/{name}"),
        )
        .await;
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::api("evicting", object)(e)),
    }
}

/// Marks a node's conditions Unknown, as upstream does when its kubelet goes silent, and its
/// pods not ready.
async fn mark_unknown(ctx: &Context, node: &Node) -> Result<(), Error> {
    let name = node.name_any();
    let now = bosun_api::meta::now_rfc3339();
    let conditions: Vec<serde_json::Value> =
        ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
            .iter()
            .filter(|kind| condition(node, kind).is_some_and(|c| c.status != "Unknown"))
            .map(|kind| {
                json!({"type": kind, "status": "Unknown", "reason": "NodeStatusUnknown",
                   "message": "Kubelet stopped posting node status.", "lastTransitionTime": now})
            })
            .collect();
    let api: Api<Node> = Api::all(ctx.clients.write.clone());
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Strategic(json!({"status": {"conditions": conditions}})),
    )
    .await
    .map_err(Error::api("marking unknown", format!("node {name}")))?;
    ctx.recorder
        .record(
            &node.object_ref(&()),
            EventType::Normal,
            "NodeNotReady",
            &format!("Node {name} status is now: NodeNotReady"),
        )
        .await;
    for pod in pods_on(&ctx.pods, &name) {
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        if !ready {
            continue;
        }
        let api: Api<Pod> = Api::namespaced(
            ctx.clients.write.clone(),
            &pod.namespace().unwrap_or_default(),
        );
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}]}});
        if let Err(e) = api
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(patch),
            )
            .await
        {
            tracing::debug!(error = %e, "marking a pod not ready failed");
        }
    }
    Ok(())
}

async fn reconcile(node: Arc<Node>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = node.name_any();
    let lease = ctx
        .leases
        .get(&ObjectRef::new(&name).within(LEASE_NAMESPACE));
    let silent_for = elapsed_since(last_heartbeat(&node, lease.as_deref()));
    let ready = condition(&node, "Ready").map(|c| c.status.clone());
    if silent_for > ctx.grace && ready.as_deref() != Some("Unknown") && ready.is_some() {
        tracing::info!(node = %name, ?silent_for, "node stopped posting status");
        mark_unknown(&ctx, &node).await?;
        // The update brings the node back with its new conditions.
        return Ok(Action::await_change());
    }
    let now = bosun_api::meta::now_rfc3339();
    if let Some(taints) = reconciled_taints(&node, wanted_taints(&node, &now)) {
        let api: Api<Node> = Api::all(ctx.clients.write.clone());
        // No taints at all is no field at all, as upstream's `omitempty` writes it.
        let taints = if taints.is_empty() {
            serde_json::Value::Null
        } else {
            json!(taints)
        };
        let patch = json!({"spec": {"taints": taints}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(Error::api("tainting", format!("node {name}")))?;
        return Ok(Action::await_change());
    }
    let no_execute: Vec<&Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoExecute")
        .collect();
    let mut next_eviction: Option<Duration> = None;
    if !no_execute.is_empty() {
        for pod in pods_on(&ctx.pods, &name) {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match eviction_delay(&pod, &no_execute) {
                Some(d) if d.is_zero() => evict(&ctx, &pod).await?,
                Some(d) => next_eviction = Some(next_eviction.map_or(d, |n| n.min(d))),
                None => {}
            }
        }
    }
    // Look again when the heartbeat would go stale, or the next eviction is due.
    let stale_in = if ready.as_deref() == Some("True") {
        ctx.grace.saturating_sub(silent_for) + Duration::from_secs(1)
    } else {
        ctx.grace
    };
    let wait = next_eviction.map_or(stale_in, |e| e.min(stale_in));
    Ok(Action::requeue(wait.max(Duration::from_millis(200))))
}

fn error_policy(_: Arc<Node>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(%error, "node lifecycle reconcile failed");
    Action::requeue(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: &str, taints: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n"},
            "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}
        }))
        .unwrap()
    }

    fn keys(taints: &[Taint]) -> Vec<String> {
        taints
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect()
    }

    #[test]
    fn an_unknown_node_is_tainted_unreachable_and_a_ready_one_untainted() {
        let now = "2026-01-01T00:00:00Z";
        let unknown = node(
            "Unknown",
            json!([{"key": "team", "value": "a", "effect": "NoSchedule"}]),
        );
        let taints = reconciled_taints(&unknown, wanted_taints(&unknown, now)).unwrap();
        assert_eq!(
            keys(&taints),
            [
                "team:NoSchedule",
                "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute"
            ]
        );
        let back = node("True", serde_json::to_value(&taints).unwrap());
        assert_eq!(
            keys(&reconciled_taints(&back, wanted_taints(&back, now)).unwrap()),
            ["team:NoSchedule"]
        );
        let fine = node("True", json!([]));
        assert!(reconciled_taints(&fine, wanted_taints(&fine, now)).is_none());
    }

    #[test]
    fn pods_leave_at_once_unless_tolerating_and_then_after_their_seconds() {
        let taint: Taint =
            serde_json::from_value(json!({"key": UNREACHABLE, "effect": "NoExecute",
            "timeAdded": bosun_api::meta::now_rfc3339()}))
            .unwrap();
        let pod = |tolerations: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"spec": {"containers": [], "tolerations": tolerations}}))
                .unwrap()
        };
        assert_eq!(
            eviction_delay(&pod(json!([])), &[&taint]),
            Some(Duration::ZERO)
        );
        let limited = pod(
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
        );
        let delay = eviction_delay(&limited, &[&taint]).unwrap();
        assert!(
            delay > Duration::from_secs(290) && delay <= Duration::from_secs(300),
            "{delay:?}"
        );
        let forever = pod(json!([{"operator": "Exists"}]));
        assert_eq!(eviction_delay(&forever, &[&taint]), None);
    }
}
