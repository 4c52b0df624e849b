//! Per-node aggregated data (upstream's `NodeInfo`): the node with its labels, taints and
//! allocatable parsed once, the pods on it (assumed ones included), their summed requests and
//! non-zero requests, used host ports and the images present.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::pod_info::{HostPort, PodInfo};
use super::resource::Resource;
use super::selectors::{EMPTY_LABELS, Labels};
use super::taints::Taint;

/// The host ports in use on a node (upstream's `HostPortInfo`), as a multiset.
#[derive(Clone, Debug, Default)]
pub struct HostPortInfo {
    ports: Vec<HostPort>,
}

impl HostPortInfo {
    /// Records a used port.
    pub fn add(&mut self, port: &HostPort) {
        self.ports.push(port.clone());
    }

    /// Releases one use of a port.
    pub fn remove(&mut self, port: &HostPort) {
        if let Some(i) = self.ports.iter().position(|p| p == port) {
            self.ports.swap_remove(i);
        }
    }

    /// Whether `port` conflicts with a used one (upstream's `CheckConflict`): `0.0.0.0` conflicts
    /// with the same protocol/port on any IP, another IP with itself and `0.0.0.0`.
    pub fn conflicts(&self, port: &HostPort) -> bool {
        if port.port <= 0 {
            return false;
        }
        self.ports.iter().any(|used| {
            used.port == port.port
                && used.protocol == port.protocol
                && (port.ip == "0.0.0.0" || used.ip == "0.0.0.0" || used.ip == port.ip)
        })
    }

    /// Whether no port is used.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    /// Number of used ports.
    pub fn len(&self) -> usize {
        self.ports.len()
    }
}

/// Everything the plugins know about one node.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    name: String,
    node: Option<Arc<Node>>,
    taints: Vec<Taint>,
    unschedulable: bool,
    allocatable: Resource,
    requested: Resource,
    non_zero_requested: Resource,
    pods: Vec<Arc<PodInfo>>,
    pods_with_affinity: Vec<Arc<PodInfo>>,
    pods_with_required_anti_affinity: Vec<Arc<PodInfo>>,
    used_ports: HostPortInfo,
    images: Arc<HashMap<String, i64>>,
    generation: u64,
}

impl NodeInfo {
    /// An empty node entry (pods may arrive before their node).
    pub fn new(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.to_string(),
            node: None,
            taints: Vec::new(),
            unschedulable: false,
            allocatable: Resource::default(),
            requested: Resource::default(),
            non_zero_requested: Resource::default(),
            pods: Vec::new(),
            pods_with_affinity: Vec::new(),
            pods_with_required_anti_affinity: Vec::new(),
            used_ports: HostPortInfo::default(),
            images: Arc::new(HashMap::new()),
            generation: 0,
        }
    }

    /// A node entry for `node` with the given pods (for tests and simulations).
    pub fn with_node(node: Arc<Node>, pods: impl IntoIterator<Item = Arc<PodInfo>>) -> NodeInfo {
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut info = NodeInfo::new(&name);
        info.set_node(node);
        for p in pods {
            info.add_pod(p);
        }
        info
    }

    /// Sets (or replaces) the node object and reparses its labels, taints and allocatable.
    pub fn set_node(&mut self, node: Arc<Node>) {
        let spec = node.spec.as_ref();
        self.taints = spec
            .and_then(|s| s.taints.as_ref())
            .map(|ts| ts.iter().map(Taint::from_api).collect())
            .unwrap_or_default();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.allocatable = Resource::from_node_allocatable(&node);
        let mut images = HashMap::new();
        for image in node
            .status
            .as_ref()
            .and_then(|s| s.images.as_ref())
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            for name in image.names.as_deref().unwrap_or_default() {
                images.insert(name.clone(), image.size_bytes.unwrap_or(0));
            }
        }
        self.images = Arc::new(images);
        self.node = Some(node);
        self.generation += 1;
    }

    /// Forgets the node object, keeping the pods (upstream keeps such "ghost" entries until the
    /// last pod leaves).
    pub fn clear_node(&mut self) {
        self.node = None;
        self.taints.clear();
        self.unschedulable = false;
        self.allocatable = Resource::default();
        self.images = Arc::new(HashMap::new());
        self.generation += 1;
    }

    /// Adds a pod and its requests, ports and affinity bookkeeping.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.update(&pod, 1);
        if pod.has_affinity() {
            self.pods_with_affinity.push(pod.clone());
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity.push(pod.clone());
        }
        self.pods.push(pod);
    }

    /// Removes the pod with `key`, returning it.
    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.key() == key)?;
        let pod = self.pods.swap_remove(i);
        if let Some(i) = self.pods_with_affinity.iter().position(|p| p.key() == key) {
            self.pods_with_affinity.swap_remove(i);
        }
        if let Some(i) = self
            .pods_with_required_anti_affinity
            .iter()
            .position(|p| p.key() == key)
        {
            self.pods_with_required_anti_affinity.swap_remove(i);
        }
        self.update(&pod, -1);
        Some(pod)
    }

    fn update(&mut self, pod: &PodInfo, sign: i64) {
        self.requested.accumulate(pod.requests(), sign);
        // The pods count is the node's capacity, never a request.
        self.requested.allowed_pod_number -= sign * pod.requests().allowed_pod_number;
        self.requested.scalar.retain(|_, v| *v != 0);
        self.non_zero_requested.milli_cpu += sign * pod.non0_cpu();
        self.non_zero_requested.memory += sign * pod.non0_mem();
        for port in pod.host_ports() {
            if sign > 0 {
                self.used_ports.add(port);
            } else {
                self.used_ports.remove(port);
            }
        }
        self.generation += 1;
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node object, if known.
    pub fn node(&self) -> Option<&Arc<Node>> {
        self.node.as_ref()
    }

    /// The node's labels.
    pub fn labels(&self) -> &Labels {
        self.node
            .as_ref()
            .and_then(|n| n.metadata.labels.as_ref())
            .unwrap_or(&EMPTY_LABELS)
    }

    /// The node's taints.
    pub fn taints(&self) -> &[Taint] {
        &self.taints
    }

    /// `spec.unschedulable`.
    pub fn unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// `status.allocatable`.
    pub fn allocatable(&self) -> &Resource {
        &self.allocatable
    }

    /// Sum of the requests of the pods on the node.
    pub fn requested(&self) -> &Resource {
        &self.requested
    }

    /// Sum of the non-zero cpu/memory requests (defaults assumed for missing requests).
    pub fn non_zero_requested(&self) -> &Resource {
        &self.non_zero_requested
    }

    /// The pods on the node (assumed ones included).
    pub fn pods(&self) -> &[Arc<PodInfo>] {
        &self.pods
    }

    /// The pods with pod affinity or anti-affinity.
    pub fn pods_with_affinity(&self) -> &[Arc<PodInfo>] {
        &self.pods_with_affinity
    }

    /// The pods with required anti-affinity.
    pub fn pods_with_required_anti_affinity(&self) -> &[Arc<PodInfo>] {
        &self.pods_with_required_anti_affinity
    }

    /// Host ports in use.
    pub fn used_ports(&self) -> &HostPortInfo {
        &self.used_ports
    }

    /// Size in bytes of an image present on the node, by any of its names.
    pub fn image_size(&self, name: &str) -> Option<i64> {
        self.images.get(name).copied()
    }

    /// The image names present on the node.
    pub fn image_names(&self) -> impl Iterator<Item = &str> {
        self.images.keys().map(String::as_str)
    }

    /// A counter bumped on every change.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_info(v: serde_json::Value) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(serde_json::from_value(v).unwrap())))
    }

    #[test]
    fn adding_and_removing_pods_keeps_totals_exact() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n"},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}
        }))
        .unwrap();
        let mut n = NodeInfo::with_node(Arc::new(node), []);
        assert_eq!(n.allocatable().milli_cpu, 4000);
        assert_eq!(n.allocatable().allowed_pod_number, 110);
        let p = pod_info(json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m", "example.com/foo": "2"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
        }));
        n.add_pod(p);
        assert_eq!(n.requested().milli_cpu, 500);
        assert_eq!(n.requested().scalar.get("example.com/foo"), Some(&2));
        assert_eq!(n.non_zero_requested().memory, 200 * 1024 * 1024);
        assert_eq!(n.used_ports().len(), 1);
        assert!(n.remove_pod("u").is_some());
        assert_eq!(n.requested(), &Resource::default());
        assert_eq!(n.non_zero_requested(), &Resource::default());
        assert!(n.used_ports().is_empty());
    }

    #[test]
    fn port_conflicts_follow_the_wildcard_ip_rules() {
        let mut used = HostPortInfo::default();
        let hp = |ip: &str, proto: &str, port: i32| HostPort {
            ip: ip.into(),
            protocol: proto.into(),
            port,
        };
        used.add(&hp("10.0.0.1", "TCP", 80));
        assert!(used.conflicts(&hp("0.0.0.0", "TCP", 80)));
        assert!(used.conflicts(&hp("10.0.0.1", "TCP", 80)));
        assert!(!used.conflicts(&hp("10.0.0.2", "TCP", 80)));
        assert!(!used.conflicts(&hp("10.0.0.1", "UDP", 80)));
        used.add(&hp("0.0.0.0", "UDP", 53));
        assert!(used.conflicts(&hp("10.0.0.9", "UDP", 53)));
    }
}
