//! DefaultTolerationSeconds: new pods tolerate a node being not-ready or unreachable for five
//! minutes before eviction, unless they say otherwise.

use serde_json::{Value, json};

use super::{Operation, Request};

/// Upstream's `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`.
const DEFAULT_SECONDS: i64 = 300;

const TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Adds the two NoExecute tolerations a pod lacks.
pub fn admit(req: &Request<'_>, obj: &mut Value) {
    if req.operation != Operation::Create || !req.is_core("pods") {
        return;
    }
    let tolerations = &obj["spec"]["tolerations"];
    let tolerates = |key: &str| {
        tolerations.as_array().is_some_and(|list| {
            list.iter().any(|t| {
                let effect = t["effect"].as_str().unwrap_or_default();
                let matches_effect = effect.is_empty() || effect == "NoExecute";
                let exists_all =
                    t["operator"] == "Exists" && t["key"].as_str().unwrap_or_default().is_empty();
                matches_effect && (exists_all || t["key"] == key)
            })
        })
    };
    let missing: Vec<&str> = TAINTS.into_iter().filter(|k| !tolerates(k)).collect();
    if missing.is_empty() {
        return;
    }
    if !obj["spec"]["tolerations"].is_array() {
        obj["spec"]["tolerations"] = json!([]);
    }
    let list = obj["spec"]["tolerations"]
        .as_array_mut()
        .expect("just made an array");
    for key in missing {
        list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": DEFAULT_SECONDS}));
    }
}
