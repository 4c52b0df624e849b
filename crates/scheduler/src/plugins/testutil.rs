//! Builders for nodes and pods in tests.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use crate::framework::{NodeInfo, PodInfo};

/// Builds a node from JSON pieces.
pub struct NodeBuilder(Value);

/// A node with 4 cpu, 8Gi memory and 110 pods allocatable.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}
    }))
}

impl NodeBuilder {
    pub fn allocatable(mut self, res: Value) -> Self {
        self.0["status"]["allocatable"] = res;
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0["metadata"]["labels"][k] = json!(v);
        self
    }
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        let t = &mut self.0["spec"]["taints"];
        if t.is_null() {
            *t = json!([]);
        }
        let mut taint = json!({"key": key, "effect": effect});
        if !value.is_empty() {
            taint["value"] = json!(value);
        }
        t.as_array_mut().unwrap().push(taint);
        self
    }
    pub fn unschedulable(mut self) -> Self {
        self.0["spec"]["unschedulable"] = json!(true);
        self
    }
    pub fn image(mut self, names: &[&str], size: i64) -> Self {
        let imgs = &mut self.0["status"]["images"];
        if imgs.is_null() {
            *imgs = json!([]);
        }
        imgs.as_array_mut()
            .unwrap()
            .push(json!({"names": names, "sizeBytes": size}));
        self
    }
    pub fn build(self) -> Arc<Node> {
        Arc::new(serde_json::from_value(self.0).unwrap())
    }
    pub fn info(self) -> NodeInfo {
        NodeInfo::with_node(self.build(), [])
    }
}

/// Builds a pod from JSON pieces.
pub struct PodBuilder(Value);

/// A pod in namespace `default` with one container and no requests.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(json!({
        "metadata": {"name": name, "namespace": "default", "uid": name},
        "spec": {"containers": [{"name": "c"}]},
        "status": {}
    }))
}

impl PodBuilder {
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0["metadata"]["namespace"] = json!(ns);
        self
    }
    pub fn req(mut self, res: Value) -> Self {
        self.0["spec"]["containers"][0]["resources"] = json!({"requests": res});
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0["metadata"]["labels"][k] = json!(v);
        self
    }
    pub fn node_name(mut self, n: &str) -> Self {
        self.0["spec"]["nodeName"] = json!(n);
        self
    }
    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.0["spec"]["nodeSelector"][k] = json!(v);
        self
    }
    pub fn toleration(mut self, t: Value) -> Self {
        let ts = &mut self.0["spec"]["tolerations"];
        if ts.is_null() {
            *ts = json!([]);
        }
        ts.as_array_mut().unwrap().push(t);
        self
    }
    pub fn host_port(mut self, port: i32) -> Self {
        self.0["spec"]["containers"][0]["ports"] =
            json!([{"containerPort": port, "hostPort": port}]);
        self
    }
    pub fn image(mut self, image: &str) -> Self {
        self.0["spec"]["containers"][0]["image"] = json!(image);
        self
    }
    pub fn affinity(mut self, a: Value) -> Self {
        self.0["spec"]["affinity"] = a;
        self
    }
    pub fn spread(mut self, c: Value) -> Self {
        let cs = &mut self.0["spec"]["topologySpreadConstraints"];
        if cs.is_null() {
            *cs = json!([]);
        }
        cs.as_array_mut().unwrap().push(c);
        self
    }
    pub fn priority(mut self, p: i32) -> Self {
        self.0["spec"]["priority"] = json!(p);
        self
    }
    pub fn set(mut self, path: &[&str], v: Value) -> Self {
        let mut cur = &mut self.0;
        for p in path {
            cur = &mut cur[*p];
        }
        *cur = v;
        self
    }
    pub fn build(self) -> Arc<Pod> {
        Arc::new(serde_json::from_value(self.0).unwrap())
    }
    pub fn info(self) -> PodInfo {
        PodInfo::new(self.build())
    }
}
