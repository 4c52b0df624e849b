//! The garbage collector (upstream's `garbagecollector`): objects whose owners are all gone
//! are deleted (background propagation); an owner deleted in the foreground keeps its
//! `foregroundDeletion` finalizer until its blocking dependents are gone, and one deleted
//! with `orphan` propagation has its dependents' references to it removed before its
//! `orphan` finalizer is.
//!
//! It follows the metadata of every resource discovery lists (re-discovering every minute,
//! for resources that CRDs add) in an owner graph, and checks an object again whenever
//! something that could change its fate happens: it appears, its owners change, an owner
//! goes, or it is itself being deleted with a finalizer this controller owns.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::core::PartialObjectMeta;
use kube::discovery::{ApiResource, Discovery, Scope, verbs};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use crate::{Clients, Shutdown};

/// The controller's name and service account.
pub const NAME: &str = "generic-garbage-collector";
const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";
const REDISCOVERY: Duration = Duration::from_secs(60);

/// One object in the owner graph.
#[derive(Clone)]
struct GraphNode {
    resource: Arc<ApiResource>,
    namespaced: bool,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerReference>,
    deleting: bool,
    finalizers: Vec<String>,
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<String, GraphNode>,
    /// Owner uid → dependent uids.
    dependents: HashMap<String, HashSet<String>>,
    /// Uids to look at, each once until looked at.
    queue: VecDeque<String>,
    queued: HashSet<String>,
}

impl Graph {
    fn enqueue(&mut self, uid: &str) {
        if self.queued.insert(uid.to_string()) {
            self.queue.push_back(uid.to_string());
        }
    }

    fn put(&mut self, uid: String, node: GraphNode) {
        let changed = self.nodes.get(&uid).is_none_or(|old| {
            old.owners != node.owners
                || old.deleting != node.deleting
                || old.finalizers != node.finalizers
        });
        if let Some(old) = self.nodes.get(&uid) {
            for owner in &old.owners {
                if let Some(set) = self.dependents.get_mut(&owner.uid) {
                    set.remove(&uid);
                }
            }
        }
        for owner in &node.owners {
            self.dependents
                .entry(owner.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        let interesting = !node.owners.is_empty()
            || (node.deleting
                && node
                    .finalizers
                    .iter()
                    .any(|f| f == FOREGROUND || f == ORPHAN));
        self.nodes.insert(uid.clone(), node);
        if changed && interesting {
            self.enqueue(&uid);
        }
    }

    fn remove(&mut self, uid: &str) {
        if let Some(old) = self.nodes.remove(uid) {
            for owner in &old.owners {
                if let Some(set) = self.dependents.get_mut(&owner.uid) {
                    set.remove(uid);
                    // An owner in foreground deletion may be done now.
                    self.enqueue(&owner.uid.clone());
                }
            }
        }
        let dependents: Vec<String> = self
            .dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        for dependent in dependents {
            self.enqueue(&dependent);
        }
    }
}

struct Collector {
    client: Client,
    graph: Mutex<Graph>,
    work: Notify,
    /// Resources by (apiVersion, kind), for owners named by reference.
    kinds: Mutex<HashMap<(String, String), ServedKind>>,
}

/// A served resource and whether it is namespaced.
type ServedKind = (Arc<ApiResource>, bool);

type MetaEvents = BoxStream<
    'static,
    (
        Arc<ApiResource>,
        bool,
        watcher::Event<PartialObjectMeta<DynamicObject>>,
    ),
>;

fn follow(client: &Client, resource: ApiResource, namespaced: bool) -> MetaEvents {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client.clone(), &resource);
    let resource = Arc::new(resource);
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| {
            let resource = resource.clone();
            futures::future::ready(event.ok().map(|e| (resource, namespaced, e)))
        })
        .boxed()
}

impl Collector {
    fn observe(
        &self,
        resource: Arc<ApiResource>,
        namespaced: bool,
        object: PartialObjectMeta<DynamicObject>,
        deleted: bool,
    ) {
        let Some(uid) = object.metadata.uid.clone() else {
            return;
        };
        let mut graph = self.graph.lock().expect("graph lock");
        if deleted {
            graph.remove(&uid);
        } else {
            graph.put(
                uid,
                GraphNode {
                    resource,
                    namespaced,
                    namespace: object.metadata.namespace.clone(),
                    name: object.name_any(),
                    owners: object.metadata.owner_references.clone().unwrap_or_default(),
                    deleting: object.metadata.deletion_timestamp.is_some(),
                    finalizers: object.metadata.finalizers.clone().unwrap_or_default(),
                },
            );
        }
        drop(graph);
        self.work.notify_one();
    }

    fn api(&self, node: &GraphNode) -> Api<DynamicObject> {
        match (&node.namespace, node.namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &*node.resource),
            _ => Api::all_with(self.client.clone(), &*node.resource),
        }
    }

    /// Whether `owner` (referenced by a dependent in `namespace`) still exists with its uid.
    async fn owner_exists(&self, owner: &OwnerReference, namespace: Option<&str>) -> bool {
        if self
            .graph
            .lock()
            .expect("graph lock")
            .nodes
            .contains_key(&owner.uid)
        {
            return true;
        }
        let found = self
            .kinds
            .lock()
            .expect("kinds lock")
            .get(&(owner.api_version.clone(), owner.kind.clone()))
            .cloned();
        // An owner of a kind nobody serves cannot exist.
        let Some((resource, namespaced)) = found else {
            return false;
        };
        let api: Api<DynamicObject> = match (namespace, namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &*resource),
            _ => Api::all_with(self.client.clone(), &*resource),
        };
        match api.get_metadata_opt(&owner.name).await {
            Ok(Some(found)) => found.metadata.uid.as_deref() == Some(owner.uid.as_str()),
            Ok(None) => false,
            // Unsure: keep the dependent.
            Err(_) => true,
        }
    }

    async fn delete(&self, node: &GraphNode, policy: PropagationPolicy, uid: &str) {
        let params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.api(node).delete(&node.name, &params).await {
            Ok(_) => {
                tracing::info!(object = %node.name, kind = %node.resource.kind, "deleting an object whose owners are gone")
            }
            Err(e) => {
                tracing::debug!(object = %node.name, error = %e, "garbage collection delete failed")
            }
        }
    }

    async fn patch(&self, node: &GraphNode, patch: serde_json::Value) {
        if let Err(e) = self
            .api(node)
            .patch(&node.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            tracing::debug!(object = %node.name, error = %e, "garbage collection patch failed");
        }
    }

    async fn process(&self, uid: &str) {
        let (node, dependents) = {
            let graph = self.graph.lock().expect("graph lock");
            let Some(node) = graph.nodes.get(uid).cloned() else {
                return;
            };
            let dependents: Vec<(String, GraphNode)> = graph
                .dependents
                .get(uid)
                .into_iter()
                .flatten()
                .filter_map(|d| graph.nodes.get(d).map(|n| (d.clone(), n.clone())))
                .collect();
            (node, dependents)
        };
        if node.deleting && node.finalizers.iter().any(|f| f == ORPHAN) {
            for (_, dependent) in &dependents {
                let owners: Vec<&OwnerReference> =
                    dependent.owners.iter().filter(|o| o.uid != uid).collect();
                self.patch(dependent, json!({"metadata": {"ownerReferences": owners}}))
                    .await;
            }
            let left: Vec<&String> = node.finalizers.iter().filter(|f| *f != ORPHAN).collect();
            self.patch(&node, json!({"metadata": {"finalizers": left}}))
                .await;
            return;
        }
        if node.deleting && node.finalizers.iter().any(|f| f == FOREGROUND) {
            let blocking: Vec<&(String, GraphNode)> = dependents
                .iter()
                .filter(|(_, d)| {
                    d.owners
                        .iter()
                        .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
                })
                .collect();
            if blocking.is_empty() {
                let left: Vec<&String> = node
                    .finalizers
                    .iter()
                    .filter(|f| *f != FOREGROUND)
                    .collect();
                self.patch(&node, json!({"metadata": {"finalizers": left}}))
                    .await;
            } else {
                for (dependent_uid, dependent) in &dependents {
                    if !dependent.deleting {
                        self.delete(dependent, PropagationPolicy::Foreground, dependent_uid)
                            .await;
                    }
                }
            }
            return;
        }
        if node.owners.is_empty() || node.deleting {
            return;
        }
        let mut alive = Vec::new();
        for owner in &node.owners {
            if self.owner_exists(owner, node.namespace.as_deref()).await {
                alive.push(owner.clone());
            }
        }
        if alive.is_empty() {
            self.delete(&node, PropagationPolicy::Background, uid).await;
        }
    }

    async fn discover(&self, known: &mut HashSet<(String, String)>) -> Vec<MetaEvents> {
        let discovery = match Discovery::new(self.client.clone()).run().await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "garbage collector discovery failed");
                return Vec::new();
            }
        };
        let mut streams = Vec::new();
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                let usable = [verbs::LIST, verbs::WATCH, verbs::DELETE]
                    .iter()
                    .all(|v| caps.supports_operation(v));
                if !usable {
                    continue;
                }
                let namespaced = caps.scope == Scope::Namespaced;
                self.kinds.lock().expect("kinds lock").insert(
                    (resource.api_version.clone(), resource.kind.clone()),
                    (Arc::new(resource.clone()), namespaced),
                );
                if known.insert((resource.group.clone(), resource.plural.clone())) {
                    streams.push(follow(&self.client, resource, namespaced));
                }
            }
        }
        streams
    }
}

/// Runs until shutdown.
pub async fn run(clients: Clients, shutdown: Shutdown) {
    let collector = Arc::new(Collector {
        client: clients.write.clone(),
        graph: Mutex::default(),
        work: Notify::new(),
        kinds: Mutex::default(),
    });
    let worker = {
        let collector = collector.clone();
        async move {
            loop {
                let next = {
                    let mut graph = collector.graph.lock().expect("graph lock");
                    let next = graph.queue.pop_front();
                    if let Some(uid) = &next {
                        graph.queued.remove(uid);
                    }
                    next
                };
                match next {
                    Some(uid) => collector.process(&uid).await,
                    None => collector.work.notified().await,
                }
            }
        }
    };
    let watching = {
        let collector = collector.clone();
        async move {
            let mut known = HashSet::new();
            let mut events = futures::stream::select_all(collector.discover(&mut known).await);
            let mut rediscover = tokio::time::interval(REDISCOVERY);
            rediscover.tick().await;
            loop {
                tokio::select! {
                    Some((resource, namespaced, event)) = events.next() => match event {
                        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                            collector.observe(resource, namespaced, o, false)
                        }
                        watcher::Event::Delete(o) => collector.observe(resource, namespaced, o, true),
                        watcher::Event::Init | watcher::Event::InitDone => {}
                    },
                    _ = rediscover.tick() => {
                        for stream in collector.discover(&mut known).await {
                            events.push(stream);
                        }
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = worker => {}
        _ = watching => {}
        _ = shutdown.requested() => {}
    }
}
