//! The `scale` subresource: a workload seen as an `autoscaling/v1` Scale.

use bosun_api::table::{label_selector_string, selector_string};
use bosun_api::{ApiError, ResourceDef, meta};
use serde_json::{Value, json};

/// The Scale view of a workload object.
pub fn scale_of(obj: &Value) -> Value {
    let selector = match obj.pointer("/spec/selector") {
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
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
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
    let _ = def;
    let mut out = obj.clone();
    out["spec"]["replicas"] = json!(replicas);
    match meta::meta_str(scale, "resourceVersion") {
        Some(rv) => meta::metadata_mut(&mut out).insert("resourceVersion".into(), json!(rv)),
        None => meta::metadata_mut(&mut out).remove("resourceVersion"),
    };
    Ok(out)
}
