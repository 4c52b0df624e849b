//! The Binding subresource (`POST .../pods/<name>/binding`): how a scheduler assigns a pod to a
//! node. The pod's `spec.nodeName` is otherwise immutable, so the assignment is its own write:
//! once only, by compare-and-swap, marking the pod `PodScheduled` (upstream's
//! `BindingREST.Create` and `assignPod`).

use bosun_api::status::FieldError;
use bosun_api::{ApiError, meta};
use serde_json::{Value, json};

use crate::registry::Registry;

/// Attempts before a binding racing other writes of the pod gives up.
const ATTEMPTS: usize = 10;

fn conflict(name: &str, why: &str) -> ApiError {
    ApiError::conflict("", "pods/binding", name, why)
}

/// Binds pod `namespace/name` to the node `binding.target.name`; answers upstream's 201
/// `Status`.
pub async fn bind(
    registry: &Registry,
    namespace: &str,
    name: &str,
    binding: Value,
) -> Result<Value, ApiError> {
    let named = binding["metadata"]["name"].as_str().unwrap_or_default();
    if !named.is_empty() && named != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Binding object",
        ));
    }
    let target = &binding["target"];
    let node = target["name"].as_str().unwrap_or_default();
    let mut errors = Vec::new();
    if node.is_empty() {
        errors.push(FieldError::required("target.name", ""));
    }
    let kind = target["kind"].as_str().unwrap_or_default();
    if !kind.is_empty() && kind != "Node" {
        errors.push(FieldError::not_supported(
            "target.kind",
            &json!(kind),
            &["Node", "<empty>"],
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid("", "Binding", name, errors));
    }
    let def = registry
        .table
        .lookup("", "v1", "pods")
        .expect("pods are served");
    for _ in 0..ATTEMPTS {
        let mut pod = registry.get(&def, Some(namespace), name).await?;
        if pod["metadata"]["deletionTimestamp"].is_string() {
            return Err(conflict(
                name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        if let Some(assigned) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(conflict(
                name,
                &format!("pod {name} is already assigned to node {assigned:?}"),
            ));
        }
        pod["spec"]["nodeName"] = json!(node);
        if let Some(annotations) = binding["metadata"]["annotations"].as_object() {
            let meta = meta::metadata_mut(&mut pod);
            let existing = meta.entry("annotations").or_insert_with(|| json!({}));
            if !existing.is_object() {
                *existing = json!({});
            }
            for (key, value) in annotations {
                existing[key] = value.clone();
            }
        }
        set_scheduled(&mut pod);
        match registry
            .replace_unchecked(&def, Some(namespace), &pod)
            .await
        {
            Ok(_) => {
                return Ok(
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                );
            }
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(conflict(
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    ))
}

/// Sets the `PodScheduled` condition to True (keeping its transition time if it already was).
fn set_scheduled(pod: &mut Value) {
    let now = meta::now_rfc3339();
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    let conditions = pod["status"]["conditions"]
        .as_array_mut()
        .expect("just made an array");
    match conditions.iter_mut().find(|c| c["type"] == "PodScheduled") {
        Some(c) if c["status"] == "True" => {}
        Some(c) => {
            *c = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
        }
        None => conditions.push(
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}),
        ),
    }
}
