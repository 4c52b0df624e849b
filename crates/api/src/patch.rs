//! Strategic merge patch, the patch kubectl sends for built-in kinds (label, annotate, edit,
//! scale, client-side apply).
//!
//! Maps merge key by key; a `null` deletes. Lists whose schema declares a merge key (a pod's
//! containers by `name`, container ports by `containerPort`, ...) merge element by element;
//! other lists are replaced. The directives `$patch` (`replace`, `delete`, `merge`),
//! `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` are
//! honoured. The merge keys are upstream's `x-kubernetes-patch-merge-key` extensions.

use serde_json::{Map, Value};

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// Elements are objects merged by this key.
    MergeByKey(&'static str),
    /// Elements are scalars; the patch's are added.
    MergePrimitives,
    /// The patch's list replaces the original.
    Replace,
}

/// Upstream's patch strategy for a list field, by the field's name and the names of the fields
/// above it.
pub(crate) fn list_strategy(parents: &[String], field: &str) -> ListStrategy {
    let in_container = parents.iter().any(|p| {
        matches!(
            p.as_str(),
            "containers" | "initContainers" | "ephemeralContainers"
        )
    });
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "schedulingGates"
        | "resourceClaims" => ListStrategy::MergeByKey("name"),
        "secrets" if parents.is_empty() => ListStrategy::MergeByKey("name"),
        "ports" if in_container => ListStrategy::MergeByKey("containerPort"),
        "ports" if parents.last().is_some_and(|p| p == "spec") => ListStrategy::MergeByKey("port"),
        "volumeMounts" => ListStrategy::MergeByKey("mountPath"),
        "volumeDevices" => ListStrategy::MergeByKey("devicePath"),
        "hostAliases" => ListStrategy::MergeByKey("ip"),
        "conditions" | "addresses" => ListStrategy::MergeByKey("type"),
        "ownerReferences" => ListStrategy::MergeByKey("uid"),
        "topologySpreadConstraints" => ListStrategy::MergeByKey("topologyKey"),
        "taints" => ListStrategy::MergeByKey("key"),
        "readinessGates" => ListStrategy::MergeByKey("conditionType"),
        "finalizers" if parents.last().is_some_and(|p| p == "metadata") => {
            ListStrategy::MergePrimitives
        }
        _ => ListStrategy::Replace,
    }
}

/// Applies a strategic merge patch to `doc` in place.
pub fn strategic_merge(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(p) = patch else {
        return Err("strategic merge patch must be a JSON object".into());
    };
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    merge_map(doc.as_object_mut().expect("object"), p, &mut Vec::new())
}

/// Removes directive keys from a value that is inserted as new.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        v => v.clone(),
    }
}

fn merge_map(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    parents: &mut Vec<String>,
) -> Result<(), String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *orig = strip(&Value::Object(patch.clone()))
                .as_object()
                .cloned()
                .unwrap_or_default();
            return Ok(());
        }
        Some("delete") => {
            orig.clear();
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other:?}")),
    }
    for (k, pv) in patch {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove: Vec<Value> = pv.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(list)) = orig.get_mut(field) {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        match pv {
            Value::Null => {
                orig.remove(k);
            }
            Value::Object(pm) => {
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    orig.remove(k);
                    continue;
                }
                match orig.get_mut(k) {
                    Some(Value::Object(om)) => {
                        parents.push(k.clone());
                        let r = merge_map(om, pm, parents);
                        parents.pop();
                        r?;
                    }
                    _ => {
                        orig.insert(k.clone(), strip(pv));
                    }
                }
            }
            Value::Array(pa) => {
                let merged = merge_list(orig.get(k), pa, parents, k)?;
                orig.insert(k.clone(), merged);
            }
            scalar => {
                orig.insert(k.clone(), scalar.clone());
            }
        }
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        orig.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(
    orig: Option<&Value>,
    patch: &[Value],
    parents: &mut Vec<String>,
    field: &str,
) -> Result<Value, String> {
    // A `{"$patch": "replace"}` element replaces the whole list with the other elements.
    if patch
        .iter()
        .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            patch
                .iter()
                .filter(|e| e.get("$patch").is_none())
                .map(strip)
                .collect(),
        ));
    }
    let original: Vec<Value> = orig.and_then(Value::as_array).cloned().unwrap_or_default();
    match list_strategy(parents, field) {
        ListStrategy::Replace => Ok(Value::Array(patch.iter().map(strip).collect())),
        ListStrategy::MergePrimitives => {
            let mut out = original;
            for v in patch {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        ListStrategy::MergeByKey(key) => {
            let mut out = original;
            for pe in patch {
                let Some(pm) = pe.as_object() else {
                    out.push(pe.clone());
                    continue;
                };
                let id = pm.get(key);
                let pos = id.and_then(|id| out.iter().position(|oe| oe.get(key) == Some(id)));
                let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        if let Some(om) = out[i].as_object_mut() {
                            parents.push(field.to_string());
                            let r = merge_map(om, pm, parents);
                            parents.pop();
                            r?;
                        }
                    }
                    (None, false) => out.push(strip(pe)),
                }
            }
            Ok(Value::Array(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(doc: Value, patch: Value) -> Value {
        let mut d = doc;
        strategic_merge(&mut d, &patch).unwrap();
        d
    }

    #[test]
    fn containers_merge_by_name_and_keep_what_the_patch_does_not_mention() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "image": "nginx:1", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "redis"}
        ]}});
        let out = apply(
            pod,
            json!({"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}}),
        );
        assert_eq!(out["spec"]["containers"][0]["image"], "nginx:2");
        assert_eq!(
            out["spec"]["containers"][0]["ports"][0]["containerPort"],
            80
        );
        assert_eq!(out["spec"]["containers"][1]["name"], "b");
    }

    #[test]
    fn null_deletes_and_labels_merge() {
        let obj = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let out = apply(obj, json!({"metadata": {"labels": {"a": null, "c": "3"}}}));
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    }

    #[test]
    fn directives_delete_and_replace_list_elements() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let out = apply(
            pod.clone(),
            json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name": "b"}]));
        let out = apply(
            pod,
            json!({"spec": {"containers": [{"name": "z"}, {"$patch": "replace"}]}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name": "z"}]));
    }

    #[test]
    fn lists_without_a_merge_key_are_replaced_and_finalizers_are_added() {
        let obj =
            json!({"metadata": {"finalizers": ["a"]}, "spec": {"tolerations": [{"key": "x"}]}});
        let out = apply(
            obj,
            json!({
                "metadata": {"finalizers": ["b"]},
                "spec": {"tolerations": [{"key": "y"}]},
                "$setElementOrder/spec": []
            }),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "y"}]));
        let out = apply(
            out,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn service_ports_merge_by_port() {
        let svc = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}]}});
        let out = apply(
            svc,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}),
        );
        assert_eq!(
            out["spec"]["ports"][0],
            json!({"port": 80, "name": "http", "targetPort": 8080})
        );
        assert_eq!(out["spec"]["ports"].as_array().unwrap().len(), 2);
    }
}
