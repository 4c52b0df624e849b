//! The `scale` subresource: a workload seen as an `autoscaling/v1` Scale.

use bosun_api::table::{label_selector_string, selector_string};
use bosun_api::{ApiError, ResourceDef, meta};
use serde_json::{Value, json};

/// Where a kind keeps its replicas and selector: upstream's fixed paths for built-in
/// workloads, the CRD's `subresources.scale` paths for custom resources.
struct ScalePaths {
    spec_replicas: String,
    status_replicas: String,
    selector: Option<String>,
}

fn pointer(json_path: &str) -> String {
    json_path
        .trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, p| format!("{acc}/{p}"))
}

fn paths(def: &ResourceDef) -> ScalePaths {
    match def.custom.as_ref().and_then(|c| c.scale.as_ref()) {
        Some(s) => ScalePaths {
            spec_replicas: pointer(
                s.get("specReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".spec.replicas"),
            ),
            status_replicas: pointer(
                s.get("statusReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".status.replicas"),
            ),
            selector: s
                .get("labelSelectorPath")
                .and_then(Value::as_str)
                .map(pointer),
        },
        None => ScalePaths {
            spec_replicas: "/spec/replicas".into(),
            status_replicas: "/status/replicas".into(),
            selector: Some("/spec/selector".into()),
        },
    }
}

/// The Scale view of a workload object.
pub fn scale_of(def: &ResourceDef, obj: &Value) -> Value {
    let p = paths(def);
    let selector = match p.selector.as_deref().and_then(|s| obj.pointer(s)) {
        Some(Value::String(s)) => s.clone(),
        Some(s) if s.get("matchLabels").is_some() || s.get("matchExpressions").is_some() => {
            label_selector_string(Some(s))
        }
        Some(s) => selector_string(Some(s)),
        None => String::new(),
    };
    let m = &obj["metadata"];
    let mut metadata = json!({});
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(f) {
            metadata[f] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer(&p.spec_replicas).cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer(&p.status_replicas).cloned().unwrap_or(json!(0)),
            "selector": if selector == "<none>" { String::new() } else { selector },
        },
    })
}

/// Applies a Scale's replica count (and its resourceVersion precondition) to the object.
pub fn apply_scale(def: &ResourceDef, obj: &Value, scale: &Value) -> Result<Value, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            meta::name(obj).unwrap_or_default(),
            vec![bosun_api::FieldError::invalid(
                "spec.replicas",
                &json!(replicas),
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut out = obj.clone();
    let path = paths(def).spec_replicas;
    match out.pointer_mut(&path) {
        Some(v) => *v = json!(replicas),
        None => {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            bosun_api::strategy::set_default(&mut out, &segments, json!(replicas));
        }
    }
    match meta::meta_str(scale, "resourceVersion") {
        Some(rv) => meta::metadata_mut(&mut out).insert("resourceVersion".into(), json!(rv)),
        None => meta::metadata_mut(&mut out).remove("resourceVersion"),
    };
    Ok(out)
}
