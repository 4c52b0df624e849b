//! The scheduler's view of the cluster (upstream's scheduler cache and its `Snapshot`, merged):
//! one [`NodeInfo`] per node, kept up to date incrementally as the runtime reports nodes, assigned
//! pods and namespaces, plus pods *assumed* on a node while their binding is in flight.
//!
//! Upstream keeps a mutable cache and copies changed `NodeInfo`s into a read-only snapshot before
//! each cycle; Bosun schedules one pod at a time against `&Snapshot` and applies updates between
//! cycles, so a single structure serves both roles without copying.
//!
//! Nodes are listed in upstream's node-tree order: zones (region + zone labels) in the order they
//! appeared, round-robin across zones, so that the sampled subset of nodes a cycle looks at is
//! spread over zones exactly as upstream's.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::node_info::NodeInfo;
use super::pod_info::{PodInfo, pod_key};
use super::selectors::{Labels, Selector};

/// Why a snapshot update was refused (upstream's cache errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The pod is already in the snapshot, assumed or assigned.
    #[error("pod {0} is in the cache, so can't be assumed")]
    AlreadyPresent(String),
    /// The pod is not assumed, so it cannot be forgotten.
    #[error("pod {0} wasn't assumed so cannot be forgotten")]
    NotAssumed(String),
}

#[derive(Clone, Debug)]
struct PodState {
    node: usize,
    assumed: bool,
    binding_finished: bool,
}

/// Nodes grouped by zone, listed round-robin across zones (upstream's `nodeTree`).
#[derive(Clone, Debug, Default)]
struct NodeTree {
    zones: Vec<String>,
    tree: HashMap<String, Vec<usize>>,
    count: usize,
}

impl NodeTree {
    fn add(&mut self, zone: &str, idx: usize) {
        match self.tree.get_mut(zone) {
            Some(nodes) => {
                if nodes.contains(&idx) {
                    return;
                }
                nodes.push(idx);
            }
            None => {
                self.zones.push(zone.to_string());
                self.tree.insert(zone.to_string(), vec![idx]);
            }
        }
        self.count += 1;
    }

    fn remove(&mut self, zone: &str, idx: usize) {
        if let Some(nodes) = self.tree.get_mut(zone)
            && let Some(i) = nodes.iter().position(|n| *n == idx)
        {
            nodes.remove(i);
            self.count -= 1;
            if nodes.is_empty() {
                self.tree.remove(zone);
                self.zones.retain(|z| z != zone);
            }
        }
    }

    fn list(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.count);
        let zones: Vec<&Vec<usize>> = self.zones.iter().map(|z| &self.tree[z]).collect();
        let mut i = 0;
        while out.len() < self.count {
            for z in &zones {
                if let Some(n) = z.get(i) {
                    out.push(*n);
                }
            }
            i += 1;
        }
        out
    }
}

/// The zone key of a node (upstream's `utilnode.GetZoneKey`): region and zone labels (GA names
/// first, then the deprecated beta ones), empty when neither is set.
pub fn zone_key(node: &Node) -> String {
    let Some(labels) = node.metadata.labels.as_ref() else {
        return String::new();
    };
    let get = |ga: &str, beta: &str| {
        labels
            .get(ga)
            .or_else(|| labels.get(beta))
            .cloned()
            .unwrap_or_default()
    };
    let zone = get(
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
    );
    let region = get(
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/region",
    );
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

/// The cluster as the scheduler sees it. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    slots: Vec<Option<NodeInfo>>,
    free: Vec<usize>,
    by_name: HashMap<String, usize>,
    zones: HashMap<usize, String>,
    tree: NodeTree,
    list: Vec<usize>,
    pods: HashMap<String, PodState>,
    image_nodes: HashMap<String, usize>,
    namespaces: HashMap<String, Labels>,
    pods_with_affinity: usize,
    pods_with_required_anti_affinity: usize,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(i) = self.by_name.get(name) {
            return *i;
        }
        let info = NodeInfo::new(name);
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(info);
                i
            }
            None => {
                self.slots.push(Some(info));
                self.slots.len() - 1
            }
        };
        self.by_name.insert(name.to_string(), idx);
        idx
    }

    fn info_mut(&mut self, idx: usize) -> &mut NodeInfo {
        self.slots[idx].as_mut().expect("live slot")
    }

    fn info(&self, idx: usize) -> &NodeInfo {
        self.slots[idx].as_ref().expect("live slot")
    }

    fn count_images(&mut self, idx: usize, delta: isize) {
        let names: Vec<String> = self.info(idx).image_names().map(str::to_string).collect();
        for name in names {
            let e = self.image_nodes.entry(name.clone()).or_insert(0);
            *e = e.saturating_add_signed(delta);
            if *e == 0 {
                self.image_nodes.remove(&name);
            }
        }
    }

    /// Adds a node, or replaces it when known (upstream's `AddNode`/`UpdateNode`).
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let idx = self.slot(&name);
        let zone = zone_key(&node);
        let had_node = self.info(idx).node().is_some();
        if had_node {
            self.count_images(idx, -1);
        }
        self.info_mut(idx).set_node(node);
        self.count_images(idx, 1);
        match self.zones.get(&idx) {
            Some(old) if *old == zone => {}
            Some(old) => {
                let old = old.clone();
                self.tree.remove(&old, idx);
                self.tree.add(&zone, idx);
                self.zones.insert(idx, zone);
                self.list = self.tree.list();
            }
            None => {
                self.tree.add(&zone, idx);
                self.zones.insert(idx, zone);
                self.list = self.tree.list();
            }
        }
    }

    /// Removes a node (upstream's `RemoveNode`). Its pods stay accounted until they are
    /// removed, but the node is no longer listed. Returns whether the node was known.
    pub fn remove_node(&mut self, name: &str) -> bool {
        let Some(&idx) = self.by_name.get(name) else {
            return false;
        };
        if self.info(idx).node().is_none() {
            return false;
        }
        self.count_images(idx, -1);
        if let Some(zone) = self.zones.remove(&idx) {
            self.tree.remove(&zone, idx);
            self.list = self.tree.list();
        }
        if self.info(idx).pods().is_empty() {
            self.drop_slot(idx);
        } else {
            self.info_mut(idx).clear_node();
        }
        true
    }

    fn drop_slot(&mut self, idx: usize) {
        if let Some(info) = self.slots[idx].take() {
            self.by_name.remove(info.name());
            self.free.push(idx);
        }
    }

    fn add_pod_to(&mut self, idx: usize, info: Arc<PodInfo>) {
        if info.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if info.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity += 1;
        }
        self.info_mut(idx).add_pod(info);
    }

    fn remove_pod_from(&mut self, idx: usize, key: &str) {
        if let Some(info) = self.info_mut(idx).remove_pod(key) {
            if info.has_affinity() {
                self.pods_with_affinity -= 1;
            }
            if info.has_required_anti_affinity() {
                self.pods_with_required_anti_affinity -= 1;
            }
        }
        let ghost = {
            let n = self.info(idx);
            n.node().is_none() && n.pods().is_empty()
        };
        if ghost {
            self.drop_slot(idx);
        }
    }

    /// Adds or updates an assigned pod (one with `spec.nodeName`), as reported by the API
    /// (upstream's `AddPod`/`UpdatePod`). An assumed pod is confirmed (and moved if it was bound
    /// elsewhere). Pods without `spec.nodeName` are ignored; returns whether the pod was taken.
    pub fn upsert_pod(&mut self, pod: Arc<Pod>) -> bool {
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if node_name.is_empty() {
            return false;
        }
        let info = Arc::new(PodInfo::new(pod));
        let key = info.key().to_string();
        if let Some(state) = self.pods.remove(&key) {
            self.remove_pod_from(state.node, &key);
        }
        let idx = self.slot(&node_name);
        self.add_pod_to(idx, info);
        self.pods.insert(
            key,
            PodState {
                node: idx,
                assumed: false,
                binding_finished: false,
            },
        );
        true
    }

    /// Removes a pod (upstream's `RemovePod`); returns whether it was known.
    pub fn remove_pod(&mut self, pod: &Pod) -> bool {
        self.remove_pod_by_key(&pod_key(pod))
    }

    /// Removes a pod by its key (see [`pod_key`]); returns whether it was known.
    pub fn remove_pod_by_key(&mut self, key: &str) -> bool {
        match self.pods.remove(key) {
            Some(state) => {
                self.remove_pod_from(state.node, key);
                true
            }
            None => false,
        }
    }

    /// Accounts `pod` on `node_name` before its binding is confirmed (upstream's `AssumePod`),
    /// so the next cycles see its resources. Follow with [`Snapshot::forget_pod`] if binding
    /// fails, or let the API's update confirm it through [`Snapshot::upsert_pod`].
    pub fn assume_pod(&mut self, pod: &Arc<Pod>, node_name: &str) -> Result<(), SnapshotError> {
        let key = pod_key(pod);
        if self.pods.contains_key(&key) {
            return Err(SnapshotError::AlreadyPresent(key));
        }
        let info = Arc::new(PodInfo::new(pod.clone()));
        let idx = self.slot(node_name);
        self.add_pod_to(idx, info);
        self.pods.insert(
            key,
            PodState {
                node: idx,
                assumed: true,
                binding_finished: false,
            },
        );
        Ok(())
    }

    /// Records that the binding request for an assumed pod completed (upstream's
    /// `FinishBinding`). Upstream 1.34 never expires assumed pods, so this is bookkeeping only.
    pub fn finish_binding(&mut self, key: &str) {
        if let Some(state) = self.pods.get_mut(key)
            && state.assumed
        {
            state.binding_finished = true;
        }
    }

    /// Drops an assumed pod whose binding failed (upstream's `ForgetPod`).
    pub fn forget_pod(&mut self, key: &str) -> Result<(), SnapshotError> {
        match self.pods.get(key) {
            Some(state) if state.assumed => {
                let node = state.node;
                self.pods.remove(key);
                self.remove_pod_from(node, key);
                Ok(())
            }
            _ => Err(SnapshotError::NotAssumed(key.to_string())),
        }
    }

    /// Whether the pod with `key` is assumed (not yet confirmed by the API).
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|s| s.assumed)
    }

    /// Whether the pod with `key` is in the snapshot (assumed or assigned).
    pub fn contains_pod(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// Name of the node the pod with `key` is accounted on.
    pub fn pod_node(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|s| self.info(s.node).name())
    }

    /// Records a namespace's labels (for namespace selectors in pod affinity terms).
    pub fn upsert_namespace(&mut self, name: &str, labels: Labels) {
        self.namespaces.insert(name.to_string(), labels);
    }

    /// Forgets a namespace.
    pub fn remove_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
    }

    /// The labels of a namespace, if known.
    pub fn namespace_labels(&self, name: &str) -> Option<&Labels> {
        self.namespaces.get(name)
    }

    /// Names of the known namespaces whose labels match `selector`.
    pub fn namespaces_matching<'a>(
        &'a self,
        selector: &'a Selector,
    ) -> impl Iterator<Item = &'a str> {
        self.namespaces
            .iter()
            .filter(|(_, l)| selector.matches(l))
            .map(|(n, _)| n.as_str())
    }

    /// Number of listed nodes (those with a node object).
    pub fn num_nodes(&self) -> usize {
        self.list.len()
    }

    /// Number of pods accounted (assumed ones included).
    pub fn num_pods(&self) -> usize {
        self.pods.len()
    }

    /// The `i`-th listed node, in node-tree order.
    pub fn node_at(&self, i: usize) -> &NodeInfo {
        self.info(self.list[i])
    }

    /// The listed nodes, in node-tree order.
    pub fn node_infos(&self) -> impl ExactSizeIterator<Item = &NodeInfo> + Clone {
        self.list.iter().map(|i| self.info(*i))
    }

    /// A node by name (listed or a ghost entry holding pods of a deleted node).
    pub fn node_info(&self, name: &str) -> Option<&NodeInfo> {
        self.by_name.get(name).map(|i| self.info(*i))
    }

    /// A listed node by name (upstream's `NodeInfos().Get`).
    pub fn listed_node(&self, name: &str) -> Option<&NodeInfo> {
        self.node_info(name).filter(|n| n.node().is_some())
    }

    /// Number of listed nodes that have an image (upstream's `ImageStateSummary.NumNodes`).
    pub fn image_num_nodes(&self, name: &str) -> usize {
        self.image_nodes.get(name).copied().unwrap_or(0)
    }

    /// Whether any pod has pod affinity or anti-affinity.
    pub fn has_pods_with_affinity(&self) -> bool {
        self.pods_with_affinity > 0
    }

    /// Whether any pod has required anti-affinity.
    pub fn has_pods_with_required_anti_affinity(&self) -> bool {
        self.pods_with_required_anti_affinity > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: Option<&str>) -> Arc<Node> {
        let mut v = json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "10"}}});
        if let Some(z) = zone {
            v["metadata"]["labels"] = json!({"topology.kubernetes.io/zone": z});
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn pod(name: &str, node: &str, cpu: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "uid": name},
                "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
            }))
            .unwrap(),
        )
    }

    fn names(s: &Snapshot) -> Vec<String> {
        s.node_infos().map(|n| n.name().to_string()).collect()
    }

    #[test]
    fn nodes_are_listed_round_robin_across_zones() {
        let mut s = Snapshot::new();
        for (n, z) in [
            ("a1", "a"),
            ("a2", "a"),
            ("a3", "a"),
            ("b1", "b"),
            ("c1", "c"),
            ("b2", "b"),
        ] {
            s.upsert_node(node(n, Some(z)));
        }
        assert_eq!(names(&s), ["a1", "b1", "c1", "a2", "b2", "a3"]);
        s.remove_node("b1");
        assert_eq!(names(&s), ["a1", "b2", "c1", "a2", "a3"]);
    }

    #[test]
    fn assumed_pods_count_until_forgotten() {
        let mut s = Snapshot::new();
        s.upsert_node(node("n1", None));
        let p = pod("p", "", "1");
        s.assume_pod(&p, "n1").unwrap();
        assert!(s.is_assumed("p"));
        assert_eq!(s.node_info("n1").unwrap().requested().milli_cpu, 1000);
        assert!(s.assume_pod(&p, "n1").is_err());
        s.forget_pod("p").unwrap();
        assert_eq!(s.node_info("n1").unwrap().requested().milli_cpu, 0);
        assert!(s.forget_pod("p").is_err());
    }

    #[test]
    fn the_api_add_confirms_an_assumed_pod_and_moves_it_if_needed() {
        let mut s = Snapshot::new();
        s.upsert_node(node("n1", None));
        s.upsert_node(node("n2", None));
        s.assume_pod(&pod("p", "", "1"), "n1").unwrap();
        s.upsert_pod(pod("p", "n2", "1"));
        assert!(!s.is_assumed("p"));
        assert_eq!(s.node_info("n1").unwrap().requested().milli_cpu, 0);
        assert_eq!(s.node_info("n2").unwrap().requested().milli_cpu, 1000);
        assert_eq!(s.num_pods(), 1);
    }

    #[test]
    fn pods_may_arrive_before_their_node_and_survive_its_removal() {
        let mut s = Snapshot::new();
        s.upsert_pod(pod("p", "n1", "1"));
        assert_eq!(s.num_nodes(), 0);
        s.upsert_node(node("n1", None));
        assert_eq!(s.num_nodes(), 1);
        assert_eq!(s.node_at(0).requested().milli_cpu, 1000);
        s.remove_node("n1");
        assert_eq!(s.num_nodes(), 0);
        assert!(s.node_info("n1").is_some());
        s.remove_pod_by_key("p");
        assert!(s.node_info("n1").is_none());
    }

    #[test]
    fn updating_a_node_keeps_its_pods() {
        let mut s = Snapshot::new();
        s.upsert_node(node("n1", Some("a")));
        s.upsert_pod(pod("p", "n1", "500m"));
        s.upsert_node(node("n1", Some("b")));
        assert_eq!(s.node_at(0).requested().milli_cpu, 500);
        assert_eq!(s.num_nodes(), 1);
    }

    #[test]
    fn image_counts_follow_nodes() {
        let mut s = Snapshot::new();
        let with_image = |name: &str| -> Arc<Node> {
            Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name}, "status": {"images": [
                    {"names": ["nginx:1.25"], "sizeBytes": 100}
                ]}}))
                .unwrap(),
            )
        };
        s.upsert_node(with_image("a"));
        s.upsert_node(with_image("b"));
        s.upsert_node(with_image("b"));
        assert_eq!(s.image_num_nodes("nginx:1.25"), 2);
        s.remove_node("a");
        assert_eq!(s.image_num_nodes("nginx:1.25"), 1);
    }
}
