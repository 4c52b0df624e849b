//! Which objects each node's pods need: the relation the Node authorizer checks a kubelet's
//! reads against (upstream's node authorizer graph). Kept in memory from pods, persistent
//! volumes and volume attachments, so that a decision never waits.
//!
//! Upstream keeps an explicit graph with edges object → pod → node; here each pod keeps its
//! references and each node its pods, which answers the same questions by looking at the
//! node's pods only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use bosun_api::ApiError;
use bosun_api::pod_refs::{PodReferences, references};
use bosun_auth::node::{NodeGraph, Vertex};
use serde_json::Value;

use crate::follow::{Change, follow};
use crate::registry::Registry;

type Key = (String, String);

#[derive(Default)]
struct State {
    /// Pods bound to a node: their node and what they refer to.
    pods: HashMap<Key, (String, PodReferences)>,
    /// Each node's pods.
    by_node: HashMap<String, HashSet<Key>>,
    /// Persistent volumes: the claim bound to them and the secrets they name.
    volumes: HashMap<String, (Option<Key>, Vec<Key>)>,
    /// The volume bound to each claim, from the volumes' claimRef.
    claim_volume: HashMap<Key, String>,
    /// VolumeAttachments and the node each is for.
    attachments: HashMap<String, String>,
}

/// The node graph, shared between the authorizer and the followers that keep it.
#[derive(Default, Clone)]
pub struct NodeGraphIndex {
    state: Arc<RwLock<State>>,
}

fn key_of(object: &Value) -> Key {
    let meta = &object["metadata"];
    (
        meta["namespace"].as_str().unwrap_or_default().to_string(),
        meta["name"].as_str().unwrap_or_default().to_string(),
    )
}

/// Secret references of a persistent volume's plugins, as upstream's `VisitPVSecretNames`.
fn volume_secrets(pv: &Value) -> Vec<Key> {
    let spec = &pv["spec"];
    let claim_namespace = spec
        .pointer("/claimRef/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut secrets = Vec::new();
    let mut add = |reference: Option<&Value>, default_namespace: &str| {
        if let Some(reference) = reference
            && let Some(name) = reference["name"].as_str().filter(|n| !n.is_empty())
        {
            let namespace = reference["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(default_namespace);
            secrets.push((namespace.to_string(), name.to_string()));
        }
    };
    for plugin in [
        "cephfs",
        "cinder",
        "flexVolume",
        "iscsi",
        "rbd",
        "scaleIO",
        "storageos",
    ] {
        add(spec[plugin].get("secretRef"), claim_namespace);
    }
    for reference in [
        "controllerPublishSecretRef",
        "nodePublishSecretRef",
        "nodeStageSecretRef",
        "controllerExpandSecretRef",
        "nodeExpandSecretRef",
    ] {
        add(spec["csi"].get(reference), "");
    }
    if let Some(name) = spec
        .pointer("/azureFile/secretName")
        .and_then(Value::as_str)
    {
        let namespace = spec
            .pointer("/azureFile/secretNamespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        secrets.push((namespace.to_string(), name.to_string()));
    }
    secrets
}

impl State {
    fn remove_pod(&mut self, key: &Key) {
        if let Some((node, _)) = self.pods.remove(key)
            && let Some(pods) = self.by_node.get_mut(&node)
        {
            pods.remove(key);
            if pods.is_empty() {
                self.by_node.remove(&node);
            }
        }
    }

    fn put_pod(&mut self, pod: &Value) {
        let key = key_of(pod);
        self.remove_pod(&key);
        let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
            return;
        };
        self.by_node
            .entry(node.to_string())
            .or_default()
            .insert(key.clone());
        self.pods.insert(key, (node.to_string(), references(pod)));
    }

    fn remove_volume(&mut self, name: &str) {
        if let Some((Some(claim), _)) = self.volumes.remove(name)
            && self.claim_volume.get(&claim).is_some_and(|v| v == name)
        {
            self.claim_volume.remove(&claim);
        }
    }

    fn put_volume(&mut self, pv: &Value) {
        let name = key_of(pv).1;
        self.remove_volume(&name);
        let claim = pv["spec"]["claimRef"]["name"].as_str().map(|claim| {
            let namespace = pv["spec"]["claimRef"]["namespace"]
                .as_str()
                .unwrap_or_default();
            (namespace.to_string(), claim.to_string())
        });
        if let Some(claim) = &claim {
            self.claim_volume.insert(claim.clone(), name.clone());
        }
        self.volumes.insert(name, (claim, volume_secrets(pv)));
    }

    /// The references of `node`'s pods in `namespace` (any namespace when `None`).
    fn pods_on<'a>(
        &'a self,
        node: &str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a PodReferences)> + 'a {
        self.by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter(move |key| namespace.is_none_or(|ns| key.0 == ns))
            .filter_map(|key| self.pods.get(key).map(|(_, refs)| (key, refs)))
    }

    fn has_path(&self, node: &str, kind: Vertex, namespace: &str, name: &str) -> bool {
        let named = |list: &[String]| list.iter().any(|n| n == name);
        let mut pods = self.pods_on(node, Some(namespace));
        match kind {
            Vertex::Pod => self
                .pods
                .get(&(namespace.to_string(), name.to_string()))
                .is_some_and(|(n, _)| n == node),
            Vertex::Secret => {
                let wanted = (namespace.to_string(), name.to_string());
                pods.any(|(_, refs)| named(&refs.secrets))
                    || self.pods_on(node, None).any(|((ns, _), refs)| {
                        refs.claims.iter().any(|claim| {
                            self.claim_volume
                                .get(&(ns.clone(), claim.clone()))
                                .and_then(|pv| self.volumes.get(pv))
                                .is_some_and(|(_, secrets)| secrets.contains(&wanted))
                        })
                    })
            }
            Vertex::ConfigMap => pods.any(|(_, refs)| named(&refs.config_maps)),
            Vertex::PersistentVolumeClaim => pods.any(|(_, refs)| named(&refs.claims)),
            Vertex::ResourceClaim => pods.any(|(_, refs)| named(&refs.resource_claims)),
            Vertex::ServiceAccount => {
                pods.any(|(_, refs)| refs.service_account.as_deref() == Some(name))
            }
            Vertex::PersistentVolume => match self.volumes.get(name) {
                Some((Some((claim_ns, claim)), _)) => self
                    .pods_on(node, Some(claim_ns))
                    .any(|(_, refs)| refs.claims.contains(claim)),
                _ => false,
            },
            Vertex::VolumeAttachment => self.attachments.get(name).is_some_and(|n| n == node),
        }
    }
}

impl NodeGraph for NodeGraphIndex {
    fn has_path(&self, node: &str, kind: Vertex, namespace: &str, name: &str) -> bool {
        self.state
            .read()
            .expect("node graph lock")
            .has_path(node, kind, namespace, name)
    }
}

impl NodeGraphIndex {
    /// Loads pods, persistent volumes and volume attachments, and keeps following them.
    pub async fn start(registry: &Registry) -> Result<Self, ApiError> {
        let index = NodeGraphIndex::default();
        let def = |group: &str, plural: &str| {
            registry
                .table
                .lookup(group, "v1", plural)
                .expect("built-in kinds are served")
        };
        let state = index.state.clone();
        follow(registry, def("", "pods"), move |change| {
            let mut state = state.write().expect("node graph lock");
            match change {
                Change::Reset(pods) => {
                    state.pods.clear();
                    state.by_node.clear();
                    pods.iter().for_each(|pod| state.put_pod(pod));
                }
                Change::Put(pod) => state.put_pod(&pod),
                Change::Delete(pod) => state.remove_pod(&key_of(&pod)),
            }
        })
        .await?;
        let state = index.state.clone();
        follow(registry, def("", "persistentvolumes"), move |change| {
            let mut state = state.write().expect("node graph lock");
            match change {
                Change::Reset(volumes) => {
                    state.volumes.clear();
                    state.claim_volume.clear();
                    volumes.iter().for_each(|pv| state.put_volume(pv));
                }
                Change::Put(pv) => state.put_volume(&pv),
                Change::Delete(pv) => state.remove_volume(&key_of(&pv).1),
            }
        })
        .await?;
        let state = index.state.clone();
        follow(
            registry,
            def("storage.k8s.io", "volumeattachments"),
            move |change| {
                let mut state = state.write().expect("node graph lock");
                let entry = |va: &Value| {
                    (
                        key_of(va).1,
                        va["spec"]["nodeName"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                };
                match change {
                    Change::Reset(all) => state.attachments = all.iter().map(entry).collect(),
                    Change::Put(va) => {
                        let (name, node) = entry(&va);
                        state.attachments.insert(name, node);
                    }
                    Change::Delete(va) => {
                        state.attachments.remove(&key_of(&va).1);
                    }
                }
            },
        )
        .await?;
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph() -> State {
        let mut state = State::default();
        state.put_pod(&json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {
                "nodeName": "n1",
                "serviceAccountName": "builder",
                "containers": [{"envFrom": [{"secretRef": {"name": "env"}}]}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
            }
        }));
        state.put_pod(&json!({
            "metadata": {"namespace": "default", "name": "pending"},
            "spec": {"containers": [{"envFrom": [{"secretRef": {"name": "unbound"}}]}]}
        }));
        state.put_volume(&json!({
            "metadata": {"name": "pv1"},
            "spec": {
                "claimRef": {"namespace": "default", "name": "data"},
                "csi": {"driver": "d", "volumeHandle": "h", "nodePublishSecretRef": {"namespace": "storage", "name": "csi-creds"}}
            }
        }));
        state
    }

    #[test]
    fn a_node_reaches_what_its_pods_use() {
        let state = graph();
        assert!(state.has_path("n1", Vertex::Pod, "default", "web"));
        assert!(state.has_path("n1", Vertex::Secret, "default", "env"));
        assert!(state.has_path("n1", Vertex::ServiceAccount, "default", "builder"));
        assert!(state.has_path("n1", Vertex::PersistentVolumeClaim, "default", "data"));
        assert!(state.has_path("n1", Vertex::PersistentVolume, "", "pv1"));
        assert!(state.has_path("n1", Vertex::Secret, "storage", "csi-creds"));
    }

    #[test]
    fn other_nodes_and_unbound_pods_reach_nothing() {
        let state = graph();
        assert!(!state.has_path("n2", Vertex::Secret, "default", "env"));
        assert!(!state.has_path("n2", Vertex::PersistentVolume, "", "pv1"));
        assert!(!state.has_path("n1", Vertex::Secret, "default", "unbound"));
        assert!(!state.has_path("n1", Vertex::Secret, "other", "env"));
    }

    #[test]
    fn a_deleted_or_moved_pod_takes_its_references_along() {
        let mut state = graph();
        state.remove_pod(&("default".into(), "web".into()));
        assert!(!state.has_path("n1", Vertex::Secret, "default", "env"));
        assert!(!state.by_node.contains_key("n1"));
        state.put_pod(&json!({
            "metadata": {"namespace": "default", "name": "pending"},
            "spec": {"nodeName": "n2", "containers": [{"envFrom": [{"secretRef": {"name": "unbound"}}]}]}
        }));
        assert!(state.has_path("n2", Vertex::Secret, "default", "unbound"));
    }
}
