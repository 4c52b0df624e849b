//! Bosun's kube-scheduler: the component around the scheduling framework (`bosun-scheduler`).
//! It follows nodes, pods and namespaces with kube-rs watches into the framework's snapshot,
//! queues the pods its profiles are responsible for, schedules them one at a time, assumes
//! each on its node and binds it through the `pods/binding` subresource without waiting, and
//! reports as upstream does: a `Scheduled` event, or a `FailedScheduling` event and a
//! `PodScheduled=False` condition with the framework's message, the pod then waiting for a
//! cluster event that could help it.
//!
//! Layout:
//! - [`queue`]: the scheduling queue (active, backoff, unschedulable).
//! - this module: the informers feeding snapshot and queue, the scheduling loop, binding,
//!   events and preemption's evictions.

pub mod queue;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bosun_controllers::events::{EventType, Recorder};
use bosun_scheduler::plugins::taint_toleration::TaintToleration;
use bosun_scheduler::{
    ActionType, ClusterEvent, EventResource, Profile, ScheduleError, Scheduler, Snapshot,
    node_update_actions, pod_key,
};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::queue::Queue;

/// The identity the scheduler acts as.
pub const USER: &str = "system:kube-scheduler";
/// Bindings in flight at once.
const BINDINGS_IN_FLIGHT: usize = 64;

/// Which profiles to run: upstream's default one, and any further scheduler names given.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Scheduler names; each gets upstream's default plugins.
    pub profiles: Vec<String>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            profiles: vec![bosun_scheduler::DEFAULT_SCHEDULER_NAME.to_string()],
        }
    }
}

/// A profile as v1.34.1 runs it: upstream's default plugins, taint reasons naming the taint
/// (`node(s) had untolerated taint {key: value}`), and no DRA PostFilter prefix for pods
/// without claims (both came in later 1.34 patch releases).
fn profile(name: &str) -> Profile {
    Profile::named(name)
        .replace_plugin(Box::new(TaintToleration::with_taint_in_message()), 3)
        .without_plugin("DynamicResources")
}

struct Shared {
    client: Client,
    state: Mutex<State>,
    queue: Queue,
    /// One recorder per profile: events name the scheduler that acted.
    recorders: HashMap<String, Recorder>,
    bindings: Arc<Semaphore>,
}

struct State {
    snapshot: Snapshot,
    scheduler: Scheduler,
    nodes: HashMap<String, Arc<Node>>,
}

fn assigned(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl Shared {
    /// The recorder of the profile scheduling `pod`.
    fn recorder(&self, pod: &Pod) -> &Recorder {
        let name = bosun_scheduler::schedule::pod_scheduler_name(pod);
        self.recorders
            .get(name)
            .or_else(|| self.recorders.values().next())
            .expect("at least one profile")
    }

    fn on_pod(&self, pod: Pod, deleted: bool) {
        let key = pod_key(&pod);
        let pod = Arc::new(pod);
        if assigned(&pod) {
            self.queue.remove(&key);
            let mut state = self.state.lock().expect("scheduler state");
            let event = if deleted || finished(&pod) {
                state.snapshot.remove_pod_by_key(&key);
                ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE)
            } else {
                let known = state.snapshot.contains_pod(&key) && !state.snapshot.is_assumed(&key);
                state.snapshot.upsert_pod(pod);
                let action = if known {
                    ActionType::UPDATE
                } else {
                    ActionType::ADD
                };
                ClusterEvent::new(EventResource::AssignedPod, action)
            };
            drop(state);
            self.queue.on_event(&event);
            return;
        }
        let responsible = self
            .state
            .lock()
            .expect("scheduler state")
            .scheduler
            .responsible_for(&pod);
        if deleted || pod.metadata.deletion_timestamp.is_some() || finished(&pod) || !responsible {
            self.queue.remove(&key);
        } else {
            self.queue.add(key, pod);
        }
    }

    fn on_node(&self, node: Node, deleted: bool) {
        let name = node.name_any();
        let mut state = self.state.lock().expect("scheduler state");
        let event = if deleted {
            state.snapshot.remove_node(&name);
            state.nodes.remove(&name);
            ClusterEvent::new(EventResource::Node, ActionType::DELETE)
        } else {
            let node = Arc::new(node);
            let action = match state.nodes.insert(name, node.clone()) {
                Some(old) => node_update_actions(&old, &node),
                None => ActionType::ADD,
            };
            state.snapshot.upsert_node(node);
            ClusterEvent::new(EventResource::Node, action)
        };
        drop(state);
        if !event.action_type.is_empty() {
            self.queue.on_event(&event);
        }
    }

    fn on_namespace(&self, namespace: Namespace, deleted: bool) {
        let name = namespace.name_any();
        let mut state = self.state.lock().expect("scheduler state");
        if deleted {
            state.snapshot.remove_namespace(&name);
        } else {
            state
                .snapshot
                .upsert_namespace(&name, namespace.labels().clone());
        }
    }

    /// One scheduling attempt for the next pod in the queue.
    async fn schedule_next(self: &Arc<Self>) {
        let (key, pod) = self.queue.pop().await;
        let result = {
            let mut state = self.state.lock().expect("scheduler state");
            if state.snapshot.contains_pod(&key) {
                None
            } else {
                let State {
                    snapshot,
                    scheduler,
                    ..
                } = &mut *state;
                let result = scheduler.schedule(snapshot, &pod);
                if let Ok(chosen) = &result
                    && let Err(e) = state.snapshot.assume_pod(&pod, &chosen.suggested_host)
                {
                    tracing::warn!(pod = %key, error = %e, "assuming a pod failed");
                }
                Some(result)
            }
        };
        match result {
            None => self.queue.done(&key),
            Some(Ok(chosen)) => {
                self.queue.done(&key);
                let permit = self
                    .bindings
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the binding semaphore is never closed");
                let shared = self.clone();
                tokio::spawn(async move {
                    shared.bind(key, pod, chosen.suggested_host).await;
                    drop(permit);
                });
            }
            Some(Err(error)) => {
                self.queue.unschedulable(&key, error.requeue_events());
                let shared = self.clone();
                tokio::spawn(async move { shared.report_failure(&pod, &error).await });
            }
        }
    }

    async fn bind(&self, key: String, pod: Arc<Pod>, node: String) {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let binding = json!({"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": pod.uid()},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
        let result = api
            .create_subresource::<serde_json::Value, serde_json::Value>(
                "binding",
                &name,
                &PostParams::default(),
                &binding,
            )
            .await;
        match result {
            Ok(_) => {
                self.state
                    .lock()
                    .expect("scheduler state")
                    .snapshot
                    .finish_binding(&key);
                self.recorder(&pod)
                    .record(
                        &pod.object_ref(&()),
                        EventType::Normal,
                        "Scheduled",
                        &format!("Successfully assigned {namespace}/{name} to {node}"),
                    )
                    .await;
            }
            Err(e) => {
                tracing::info!(pod = %key, error = %e, "binding failed");
                let _ = self
                    .state
                    .lock()
                    .expect("scheduler state")
                    .snapshot
                    .forget_pod(&key);
                // Gone, or bound by someone else: nothing to retry.
                if !matches!(&e, kube::Error::Api(s) if matches!(s.code, 404 | 409)) {
                    self.queue.retry(&key, pod);
                }
            }
        }
    }

    async fn report_failure(&self, pod: &Pod, error: &ScheduleError) {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        if let Some(fit) = error.fit_error() {
            for victim in &fit.victims {
                self.preempt(victim, pod).await;
            }
        }
        self.recorder(pod)
            .record(
                &pod.object_ref(&()),
                EventType::Warning,
                "FailedScheduling",
                &error.event_message(),
            )
            .await;
        let mut status = json!({"conditions": [{"type": "PodScheduled", "status": "False",
            "reason": error.condition_reason(), "message": error.to_string(),
            "lastProbeTime": null, "lastTransitionTime": bosun_api::meta::now_rfc3339()}]});
        if let Some(nominated) = error
            .fit_error()
            .and_then(|f| f.nominated_node_name.clone())
        {
            status["nominatedNodeName"] = if nominated.is_empty() {
                serde_json::Value::Null
            } else {
                json!(nominated)
            };
        }
        let unchanged = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
            .is_some_and(|c| {
                c.status == "False" && c.message.as_deref() == Some(error.to_string().as_str())
            });
        if unchanged && status.get("nominatedNodeName").is_none() {
            return;
        }
        if let Err(e) = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Strategic(json!({"status": status})),
            )
            .await
        {
            tracing::debug!(pod = %name, error = %e, "pod condition not updated");
        }
    }

    /// Evicts a lower-priority pod so that `preemptor` fits (upstream's preemption victims).
    async fn preempt(&self, victim: &Pod, preemptor: &Pod) {
        let namespace = victim.namespace().unwrap_or_default();
        let name = victim.name_any();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let scheduler = preemptor
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.clone())
            .unwrap_or_else(|| bosun_scheduler::DEFAULT_SCHEDULER_NAME.to_string());
        let condition = json!({"status": {"conditions": [{"type": "DisruptionTarget", "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{scheduler}: preempting to accommodate a higher priority pod"),
            "lastTransitionTime": bosun_api::meta::now_rfc3339()}]}});
        let _ = api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(condition))
            .await;
        let node = victim
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        self.recorder(preemptor)
            .record(
                &victim.object_ref(&()),
                EventType::Normal,
                "Preempted",
                &format!(
                    "Preempted by pod {} on node {node}",
                    preemptor.uid().unwrap_or_default()
                ),
            )
            .await;
        if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
            tracing::debug!(pod = %name, error = %e, "preemption victim not deleted");
        }
    }
}

/// Runs the scheduler until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: SchedulerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let profiles = config.profiles.iter().map(|name| profile(name)).collect();
    let shared = Arc::new(Shared {
        client: client.clone(),
        state: Mutex::new(State {
            snapshot: Snapshot::new(),
            scheduler: Scheduler::new(profiles),
            nodes: HashMap::new(),
        }),
        queue: Queue::default(),
        recorders: config
            .profiles
            .iter()
            .map(|name| (name.clone(), Recorder::new(client.clone(), name)))
            .collect(),
        bindings: Arc::new(Semaphore::new(BINDINGS_IN_FLIGHT)),
    });
    let pods = {
        let shared = shared.clone();
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .for_each(move |event| {
                match event {
                    Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                        shared.on_pod(p, false)
                    }
                    Ok(watcher::Event::Delete(p)) => shared.on_pod(p, true),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pod watch interrupted"),
                }
                futures::future::ready(())
            })
    };
    let nodes = {
        let shared = shared.clone();
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .for_each(move |event| {
                match event {
                    Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) => {
                        shared.on_node(n, false)
                    }
                    Ok(watcher::Event::Delete(n)) => shared.on_node(n, true),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "node watch interrupted"),
                }
                futures::future::ready(())
            })
    };
    let namespaces = {
        let shared = shared.clone();
        watcher(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .for_each(move |event| {
            match event {
                Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) => {
                    shared.on_namespace(n, false)
                }
                Ok(watcher::Event::Delete(n)) => shared.on_namespace(n, true),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "namespace watch interrupted"),
            }
            futures::future::ready(())
        })
    };
    let scheduling = {
        let shared = shared.clone();
        async move {
            loop {
                shared.schedule_next().await;
            }
        }
    };
    tokio::select! {
        _ = pods => {}
        _ = nodes => {}
        _ = namespaces => {}
        _ = scheduling => {}
        _ = shutdown => {}
    }
}
