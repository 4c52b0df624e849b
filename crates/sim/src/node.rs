//! The simulated nodes' Node and Lease objects: registration as a kubelet registers, Lease
//! renewals every few seconds (what the node lifecycle controller watches), and node status
//! reports.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::{Error, SimConfig};

/// Where node Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How long a Lease vouches for its node (a kubelet's default is 40 s).
const LEASE_DURATION_SECONDS: i64 = 40;
/// Registration and renewal writes in flight at once.
const CONCURRENCY: usize = 16;

/// One registered node.
#[derive(Debug, Clone)]
pub struct SimNode {
    /// Its name.
    pub name: String,
    /// The address it reports (made up, stable for the name).
    pub ip: String,
}

/// Seconds-precision RFC 3339, as `Time` fields are written.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Microsecond-precision RFC 3339, as `MicroTime` fields (a Lease's renewTime) are written.
pub fn now_micro() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!("{}.{:06}Z", now().trim_end_matches('Z'), t.microsecond())
}

/// A stable made-up address for a node name, in 10.0.0.0/8.
fn address_of(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!(
        "10.{}.{}.{}",
        (hash >> 16) as u8,
        (hash >> 8) as u8,
        (hash as u8).max(1)
    )
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastHeartbeatTime": now, "lastTransitionTime": now})
}

/// The status a healthy node reports.
fn status(config: &SimConfig, node: &SimNode, version: &str) -> Value {
    let now = now();
    let resources = json!({"cpu": config.cpu, "memory": config.memory, "pods": config.pods,
                           "ephemeral-storage": config.ephemeral_storage});
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", &now),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", &now),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", &now),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", &now),
        ],
        "addresses": [{"type": "InternalIP", "address": node.ip}, {"type": "Hostname", "address": node.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "",
            "kernelVersion": "simulated", "osImage": "Bosun simulated node",
            "containerRuntimeVersion": "bosun-sim://0.1.0",
            "kubeletVersion": version, "kubeProxyVersion": "",
            "operatingSystem": "linux", "architecture": "amd64"
        }
    })
}

fn node_object(config: &SimConfig, node: &SimNode) -> Result<Node, Error> {
    let mut labels = serde_json::Map::new();
    for (k, v) in [
        ("kubernetes.io/hostname", node.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
    ] {
        labels.insert(k.into(), json!(v));
    }
    for (k, v) in &config.labels {
        labels.insert(k.clone(), json!(v));
    }
    let mut spec = json!({});
    if !config.taints.is_empty() {
        spec["taints"] =
            serde_json::to_value(&config.taints).map_err(|e| Error::Config(e.to_string()))?;
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "spec": spec,
    }))
    .map_err(|e| Error::Config(e.to_string()))
}

fn exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

async fn register_one(
    client: &Client,
    config: &SimConfig,
    version: &str,
    n: usize,
) -> Result<SimNode, Error> {
    let name = config.node_name(n);
    let node = SimNode {
        ip: address_of(&name),
        name,
    };
    let nodes: Api<Node> = Api::all(client.clone());
    let object = format!("node {}", node.name);
    match nodes
        .create(&PostParams::default(), &node_object(config, &node)?)
        .await
    {
        Ok(_) => {}
        Err(e) if exists(&e) => {}
        Err(e) => return Err(Error::api("creating", object)(e)),
    }
    let registered = nodes
        .patch_status(
            &node.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status(config, &node, version)})),
        )
        .await
        .map_err(Error::api("reporting status of", object.clone()))?;
    let uid = registered.metadata.uid.unwrap_or_default();
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let lease: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node.name, "namespace": LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": uid}]},
        "spec": {"holderIdentity": node.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                 "renewTime": now_micro()}
    }))
    .map_err(|e| Error::Config(e.to_string()))?;
    match leases.create(&PostParams::default(), &lease).await {
        Ok(_) => {}
        Err(e) if exists(&e) => renew(&leases, &node.name).await?,
        Err(e) => return Err(Error::api("creating lease", object)(e)),
    }
    Ok(node)
}

/// Registers every node (creating it, or taking over an existing one of the same name) with a
/// healthy status and a fresh Lease.
pub async fn register(
    client: &Client,
    config: &SimConfig,
    version: &str,
) -> Result<Vec<SimNode>, Error> {
    futures::stream::iter(0..config.nodes)
        .map(|n| register_one(client, config, version, n))
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

async fn renew(leases: &Api<Lease>, name: &str) -> Result<(), Error> {
    let patch = json!({"spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                                "renewTime": now_micro()}});
    leases
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(|_| ())
        .map_err(Error::api("renewing lease", name.to_string()))
}

/// Reports the node still healthy: each condition's heartbeat time moves, its transition time
/// stays (a strategic merge by condition type, as the kubelet's patch does).
async fn report(nodes: &Api<Node>, node: &SimNode) -> Result<(), Error> {
    let now = now();
    let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        .iter()
        .map(|kind| json!({"type": kind, "lastHeartbeatTime": now}))
        .collect();
    nodes
        .patch_status(
            &node.name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"status": {"conditions": conditions}})),
        )
        .await
        .map(|_| ())
        .map_err(Error::api("reporting status of", node.name.clone()))
}

/// Renews the Leases and re-reports node status, forever. A failed renewal is logged and
/// retried at the next tick, as a kubelet does.
pub async fn heartbeat(
    client: Client,
    config: Arc<SimConfig>,
    nodes: Vec<SimNode>,
) -> Result<(), Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let node_api: Api<Node> = Api::all(client);
    let mut lease_tick = tokio::time::interval(config.lease_interval);
    let mut status_tick = tokio::time::interval(config.status_interval);
    lease_tick.tick().await;
    status_tick.tick().await;
    loop {
        tokio::select! {
            _ = lease_tick.tick() => {
                let results: Vec<_> = futures::stream::iter(&nodes)
                    .map(|n| renew(&leases, &n.name))
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
                for e in results.into_iter().filter_map(Result::err) {
                    tracing::warn!(error = %e, "lease renewal failed");
                }
            }
            _ = status_tick.tick() => {
                let results: Vec<_> = futures::stream::iter(&nodes)
                    .map(|n| report(&node_api, n))
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
                for e in results.into_iter().filter_map(Result::err) {
                    tracing::warn!(error = %e, "node status report failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_stable_and_differ_between_nodes() {
        assert_eq!(address_of("sim-node-0"), address_of("sim-node-0"));
        assert_ne!(address_of("sim-node-0"), address_of("sim-node-1"));
        assert!(address_of("x").starts_with("10."));
    }

    #[test]
    fn micro_times_carry_six_fraction_digits() {
        let t = now_micro();
        let fraction = t.rsplit_once('.').unwrap().1;
        assert_eq!(fraction.len(), 7, "{t}");
        assert!(fraction.ends_with('Z'));
    }
}
