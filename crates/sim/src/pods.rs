//! The pods bound to simulated nodes, driven as their kubelet would report them: Running and
//! Ready as soon as they are seen (no images to pull, nothing to start), a Job's pods
//! Succeeded after the configured time, and a deleted pod removed once its containers have
//! "stopped" (the configured stop time, at most its grace period).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::node::{SimNode, now};
use crate::{Error, SimConfig};

/// What has been done for one pod, so each step happens once.
#[derive(Default)]
struct Progress {
    started: bool,
    finishing: bool,
    stopping: bool,
}

struct Driver {
    api: Api<Pod>,
    config: Arc<SimConfig>,
    nodes: HashMap<String, SimNode>,
    /// By pod uid.
    progress: Mutex<HashMap<String, Progress>>,
    /// The next pod address on each node.
    next_address: Mutex<HashMap<String, u32>>,
}

fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

impl Driver {
    /// A made-up pod address in the node's /24 of 10.42.0.0/16 (the default cluster CIDR).
    fn pod_address(&self, node: &str) -> String {
        let mut next = self.next_address.lock().expect("address lock");
        let n = next.entry(node.to_string()).or_insert(0);
        *n += 1;
        format!("10.42.{}.{}", hash(node) as u8, (*n - 1) % 253 + 2)
    }

    fn owned_by_job(pod: &Pod) -> bool {
        pod.owner_references()
            .iter()
            .any(|o| o.kind == "Job" && o.controller == Some(true))
    }

    fn running_status(&self, pod: &Pod, node: &SimNode) -> Value {
        let now = now();
        let spec = pod.spec.clone().unwrap_or_default();
        let pod_ip = if spec.host_network == Some(true) {
            node.ip.clone()
        } else {
            self.pod_address(&node.name)
        };
        let uid = pod.uid().unwrap_or_default();
        let running = |c: &Container| {
            json!({"name": c.name, "image": c.image, "imageID": format!("sim://{}", c.image.as_deref().unwrap_or_default()),
                   "containerID": format!("sim://{uid}-{}", c.name), "ready": true, "started": true,
                   "restartCount": 0, "state": {"running": {"startedAt": now}}})
        };
        let init: Vec<Value> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| {
                if c.restart_policy.as_deref() == Some("Always") {
                    running(c)
                } else {
                    json!({"name": c.name, "image": c.image, "imageID": format!("sim://{}", c.image.as_deref().unwrap_or_default()),
                           "containerID": format!("sim://{uid}-{}", c.name), "ready": true, "started": false,
                           "restartCount": 0,
                           "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}})
                }
            })
            .collect();
        let containers: Vec<Value> = spec.containers.iter().map(running).collect();
        let condition = |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
        let conditions: Vec<Value> = [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        .iter()
        .map(|k| condition(k))
        .collect();
        let mut status = json!({
            "phase": "Running",
            "hostIP": node.ip, "hostIPs": [{"ip": node.ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "startTime": now,
            "conditions": conditions,
            "containerStatuses": containers,
        });
        if !init.is_empty() {
            status["initContainerStatuses"] = json!(init);
        }
        status
    }

    fn succeeded_status(pod: &Pod) -> Value {
        let now = now();
        let started = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| json!(t))
            .unwrap_or_else(|| json!(now));
        let uid = pod.uid().unwrap_or_default();
        let containers: Vec<Value> = pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .map(|c| {
                json!({"name": c.name, "image": c.image, "imageID": format!("sim://{}", c.image.as_deref().unwrap_or_default()),
                       "containerID": format!("sim://{uid}-{}", c.name), "ready": false, "started": false,
                       "restartCount": 0,
                       "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now}}})
            })
            .collect();
        let condition = |kind: &str, status: &str, reason: Option<&str>| {
            let mut c = json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
            if let Some(reason) = reason {
                c["reason"] = json!(reason);
            }
            c
        };
        json!({
            "phase": "Succeeded",
            "conditions": [
                condition("PodReadyToStartContainers", "False", None),
                condition("Initialized", "True", Some("PodCompleted")),
                condition("Ready", "False", Some("PodCompleted")),
                condition("ContainersReady", "False", Some("PodCompleted")),
                condition("PodScheduled", "True", None),
            ],
            "containerStatuses": containers,
        })
    }

    async fn patch_status(&self, pod: &Pod, status: Value) {
        let name = pod.name_any();
        let api = Api::<Pod>::namespaced(
            self.api.clone().into_client(),
            &pod.namespace().unwrap_or_default(),
        );
        if let Err(e) = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
        {
            tracing::debug!(pod = %name, error = %e, "pod status update failed");
        }
    }

    /// Acts on one observed pod.
    fn observe(self: &Arc<Self>, pod: Pod) {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .and_then(|n| self.nodes.get(n))
        else {
            return;
        };
        let uid = pod.uid().unwrap_or_default();
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        let mut progress = self.progress.lock().expect("progress lock");
        let entry = progress.entry(uid.clone()).or_default();
        if pod.metadata.deletion_timestamp.is_some() {
            if !entry.stopping {
                entry.stopping = true;
                let grace = pod
                    .metadata
                    .deletion_grace_period_seconds
                    .unwrap_or(0)
                    .max(0) as u64;
                let wait = self.config.stop_duration.min(Duration::from_secs(grace));
                let driver = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    driver.remove(&pod, &uid).await;
                });
            }
            return;
        }
        let terminal = matches!(phase.as_str(), "Succeeded" | "Failed");
        if !entry.started && !terminal {
            entry.started = true;
            let status = self.running_status(&pod, node);
            let driver = self.clone();
            let pod = pod.clone();
            tokio::spawn(async move { driver.patch_status(&pod, status).await });
        }
        if !entry.finishing && !terminal && Self::owned_by_job(&pod) {
            entry.finishing = true;
            let driver = self.clone();
            let wait = self.config.job_duration;
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let status = Self::succeeded_status(&pod);
                driver.patch_status(&pod, status).await;
            });
        }
    }

    async fn remove(&self, pod: &Pod, uid: &str) {
        let api = Api::<Pod>::namespaced(
            self.api.clone().into_client(),
            &pod.namespace().unwrap_or_default(),
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        if let Err(e) = api.delete(&pod.name_any(), &params).await {
            tracing::debug!(pod = %pod.name_any(), error = %e, "pod removal failed");
        }
    }

    fn forget(&self, pod: &Pod) {
        if let Some(uid) = pod.uid() {
            self.progress.lock().expect("progress lock").remove(&uid);
        }
    }
}

/// Watches every pod and drives those bound to `nodes`, until the watch ends.
pub async fn drive(
    client: Client,
    config: Arc<SimConfig>,
    nodes: Vec<SimNode>,
) -> Result<(), Error> {
    let api: Api<Pod> = Api::all(client);
    let driver = Arc::new(Driver {
        api: api.clone(),
        config,
        nodes: nodes.into_iter().map(|n| (n.name.clone(), n)).collect(),
        progress: Mutex::default(),
        next_address: Mutex::default(),
    });
    let mut seen_in_list: HashSet<String> = HashSet::new();
    let mut events = watcher(api, watcher::Config::default()).boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(pod)) | Ok(watcher::Event::InitApply(pod)) => {
                seen_in_list.insert(pod.uid().unwrap_or_default());
                driver.observe(pod);
            }
            Ok(watcher::Event::Delete(pod)) => driver.forget(&pod),
            Ok(watcher::Event::Init) => seen_in_list.clear(),
            Ok(watcher::Event::InitDone) => {
                // Pods deleted while the watch was down are forgotten.
                driver
                    .progress
                    .lock()
                    .expect("progress lock")
                    .retain(|uid, _| seen_in_list.contains(uid));
            }
            Err(e) => {
                tracing::warn!(error = %e, "pod watch interrupted");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Ok(())
}
