//! Per-kind strategies: upstream's defaulting and validation of built-in kinds.
//!
//! The generic registry calls [`default`] on every object it is about to store and
//! [`validate`] / [`validate_update`] before storing it; each dispatches on the resource to the
//! module for that kind. Kinds without rules pass through. Messages follow upstream's
//! `field.Error` wording so kubectl prints what users know.

mod pod;
mod service;
mod workloads;

use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;
use crate::status::FieldError;

pub use service::{AllocationNeeds, allocation_needs};

/// Sets `obj[path]` to `value` unless it is already set (not null), creating objects on the way.
pub fn set_default(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in parents {
        if !cur.get(*p).is_some_and(Value::is_object) {
            if !cur.is_object() {
                return;
            }
            cur[*p] = json!({});
        }
        cur = cur.get_mut(*p).expect("just ensured");
    }
    if let Some(m) = cur.as_object_mut()
        && m.get(*last).is_none_or(Value::is_null)
    {
        m.insert(last.to_string(), value);
    }
}

/// The string at a path.
pub(crate) fn str_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(obj, |cur, p| cur.get(p))?.as_str()
}

/// The object at a path, mutably, if there is one.
pub(crate) fn at_mut<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(obj, |cur, p| cur.get_mut(*p))
}

/// Where a kind keeps its pod template's spec.
fn pod_spec_path(def: &ResourceDef) -> Option<&'static [&'static str]> {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => Some(&["spec"]),
        ("", "podtemplates") => Some(&["template", "spec"]),
        ("", "replicationcontrollers")
        | ("apps", "replicasets" | "deployments" | "daemonsets" | "statefulsets")
        | ("batch", "jobs") => Some(&["spec", "template", "spec"]),
        ("batch", "cronjobs") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// Container items of a LimitRange: `default` from `max`, `defaultRequest` from `default`, then
/// from `min` (upstream's `SetDefaults_LimitRangeItem`), so reads show the effective defaults.
fn default_limit_range(obj: &mut Value) {
    let Some(items) = obj
        .pointer_mut("/spec/limits")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for item in items.iter_mut().filter(|i| i["type"] == "Container") {
        for (from, to) in [
            ("max", "default"),
            ("default", "defaultRequest"),
            ("min", "defaultRequest"),
        ] {
            let Some(source) = item[from].as_object().cloned() else {
                continue;
            };
            for (resource, value) in source {
                if item[to][&resource].is_null() {
                    if !item[to].is_object() {
                        item[to] = json!({});
                    }
                    item[to][&resource] = value;
                }
            }
        }
    }
}

/// Fills in upstream's defaults.
pub fn default(def: &ResourceDef, obj: &mut Value) {
    if let Some(path) = pod_spec_path(def)
        && let Some(spec) = at_mut(obj, path)
    {
        pod::default_spec(spec);
    }
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => pod::default_pod(obj),
        ("", "services") => service::default(obj),
        ("", "secrets") => {
            set_default(obj, &["type"], json!("Opaque"));
            fold_string_data(obj);
        }
        ("", "persistentvolumes") => {
            set_default(
                obj,
                &["spec", "persistentVolumeReclaimPolicy"],
                json!("Retain"),
            );
            set_default(obj, &["spec", "volumeMode"], json!("Filesystem"));
        }
        ("", "persistentvolumeclaims") => {
            set_default(obj, &["spec", "volumeMode"], json!("Filesystem"))
        }
        ("", "limitranges") => default_limit_range(obj),
        ("", "endpoints") => {
            if let Some(Value::Array(subsets)) = obj.get_mut("subsets") {
                for s in subsets {
                    for p in s
                        .get_mut("ports")
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        set_default(p, &["protocol"], json!("TCP"));
                    }
                }
            }
        }
        ("storage.k8s.io", "storageclasses") => {
            set_default(obj, &["reclaimPolicy"], json!("Delete"));
            set_default(obj, &["volumeBindingMode"], json!("Immediate"));
        }
        ("scheduling.k8s.io", "priorityclasses") => {
            set_default(obj, &["preemptionPolicy"], json!("PreemptLowerPriority"))
        }
        ("", "replicationcontrollers") => workloads::default_replication_controller(obj),
        ("apiextensions.k8s.io", "customresourcedefinitions") => crate::crd::default(obj),
        ("apps", _) | ("batch", _) => workloads::default(def, obj),
        _ => {}
    }
}

/// Secret `stringData` is write-only: folded into `data` as base64, then dropped.
fn fold_string_data(obj: &mut Value) {
    use base64::Engine;
    let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData"))
    else {
        return;
    };
    let data = obj
        .as_object_mut()
        .expect("secrets are objects")
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(d) = data {
        for (k, v) in string_data {
            let plain = v.as_str().unwrap_or_default();
            d.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(plain)),
            );
        }
    }
}

/// Validates an object about to be created (or the new state of an update).
pub fn validate(def: &ResourceDef, obj: &Value) -> Vec<FieldError> {
    // A custom resource is checked against its CRD's schema.
    let mut errs = def.codec.validate(obj);
    if let Some(path) = pod_spec_path(def) {
        let prefix = path.join(".");
        match path.iter().try_fold(obj, |cur, p| cur.get(p)) {
            Some(spec) => pod::validate_spec(spec, &prefix, &mut errs),
            None if def.plural != "deployments" || obj.get("spec").is_some() => {
                errs.push(FieldError::required(
                    prefix.trim_end_matches(".spec").to_string(),
                    "",
                ));
            }
            None => {}
        }
    }
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "services") => service::validate(obj, &mut errs),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            errs.extend(crate::crd::validate(obj))
        }
        ("apps", _) | ("batch", _) | ("", "replicationcontrollers") => {
            workloads::validate(def, obj, &mut errs)
        }
        ("scheduling.k8s.io", "priorityclasses") => validate_priority_class(obj, &mut errs),
        _ => {}
    }
    errs
}

/// Upstream's built-in PriorityClasses: name, value, globalDefault.
const SYSTEM_PRIORITY_CLASSES: [(&str, i64, bool); 2] = [
    ("system-node-critical", 2_000_001_000, false),
    ("system-cluster-critical", 2_000_000_000, false),
];
/// The highest priority a class outside the `system-` names may have.
const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;

/// `system-` names belong to the built-in classes (with their values); other classes stay at
/// or below one billion.
fn validate_priority_class(obj: &Value, errs: &mut Vec<FieldError>) {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let value = obj["value"].as_i64().unwrap_or_default();
    let global_default = obj["globalDefault"].as_bool().unwrap_or(false);
    if name.starts_with("system-") {
        let problem = match SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _, _)| *n == name) {
            None => Some(format!("{name} is not a known system priority class")),
            Some((_, v, _)) if *v != value => {
                Some(format!("value of {name} PriorityClass must be {v}"))
            }
            Some((_, _, g)) if *g != global_default => {
                Some(format!("globalDefault of {name} PriorityClass must be {g}"))
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            errs.push(FieldError::forbidden(
                "metadata.name",
                &format!(
                    "priority class names with 'system-' prefix are reserved for system use only. error: {problem}"
                ),
            ));
        }
    } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
        errs.push(FieldError::forbidden(
            "value",
            &format!(
                "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
            ),
        ));
    }
}

/// Validates an update against the stored object: what may not change.
pub fn validate_update(def: &ResourceDef, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate(def, new);
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => pod::validate_update(new, old, &mut errs),
        ("", "services") => service::validate_update(new, old, &mut errs),
        ("apps", _) | ("batch", _) => workloads::validate_update(def, new, old, &mut errs),
        ("scheduling.k8s.io", "priorityclasses") => {
            if new.get("value") != old.get("value") {
                errs.push(FieldError::forbidden(
                    "value",
                    "may not be changed in an update.",
                ));
            }
            if new.get("preemptionPolicy") != old.get("preemptionPolicy") {
                errs.push(FieldError::invalid(
                    "preemptionPolicy",
                    &new["preemptionPolicy"],
                    "field is immutable",
                ));
            }
        }
        ("", "configmaps" | "secrets")
            if old.get("immutable") == Some(&Value::Bool(true))
                && (new.get("data") != old.get("data")
                    || new.get("binaryData") != old.get("binaryData")) =>
        {
            errs.push(FieldError::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
        _ => {}
    }
    errs
}
