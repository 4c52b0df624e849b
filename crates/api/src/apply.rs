//! Server-side apply: who owns which field (`managedFields`), and applying a configuration.
//!
//! Every write records field ownership. A create, update or patch makes its field manager the
//! owner (operation `Update`) of the fields it set or changed, taking them from others; an
//! apply makes the applier the owner (operation `Apply`) of exactly the fields in its
//! configuration. Applying merges the configuration into the live object, removes fields the
//! applier owned before but no longer sets (unless someone else owns them too), and refuses to
//! change a field another manager owns, naming each conflict as upstream does, unless forced.
//!
//! Field sets use upstream's `FieldsV1` path syntax: `f:<field>`, `k:<keys as JSON>` for items
//! of keyed lists, `v:<value as JSON>` for items of sets, and `.` for the item itself. List
//! semantics (keyed, set or atomic) come from the same table strategic merge patch uses.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::patch::{ListStrategy, list_strategy, strategic_merge};
use crate::status::ApiError;

/// One path, as `FieldsV1` elements (`f:spec`, `k:{"name":"web"}`, `.`).
pub type FieldPath = Vec<String>;

/// A set of field paths.
pub type FieldSet = BTreeSet<FieldPath>;

/// Metadata that belongs to the server, never to a field manager.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The fields an object sets, as ownership sees them. `status` is included only when
/// `with_status` (a write of the status subresource).
pub fn field_set(obj: &Value, with_status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    let Value::Object(m) = obj else { return out };
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if !with_status => {}
            "metadata" => {
                if let Value::Object(meta) = v {
                    for (mk, mv) in meta {
                        if !SERVER_METADATA.contains(&mk.as_str()) {
                            collect_field(
                                mk,
                                mv,
                                &mut vec!["metadata".into()],
                                &mut vec!["f:metadata".into()],
                                &mut out,
                            );
                        }
                    }
                }
            }
            _ => collect_field(k, v, &mut Vec::new(), &mut Vec::new(), &mut out),
        }
    }
    out
}

fn key_of(item: &Value, key: &str) -> Option<String> {
    let id = item.get(key)?;
    let mut keys = BTreeMap::new();
    keys.insert(key.to_string(), id.clone());
    Some(format!("k:{}", serde_json::to_string(&keys).ok()?))
}

fn collect_field(
    name: &str,
    v: &Value,
    parents: &mut Vec<String>,
    path: &mut FieldPath,
    out: &mut FieldSet,
) {
    path.push(format!("f:{name}"));
    match v {
        Value::Object(m) if !m.is_empty() => {
            parents.push(name.to_string());
            for (k, child) in m {
                collect_field(k, child, parents, path, out);
            }
            parents.pop();
        }
        Value::Array(items) if !items.is_empty() => match list_strategy(parents, name) {
            ListStrategy::MergeByKey(key) if items.iter().all(|i| i.get(key).is_some()) => {
                parents.push(name.to_string());
                for item in items {
                    let Some(k) = key_of(item, key) else { continue };
                    path.push(k);
                    path.push(".".into());
                    out.insert(path.clone());
                    path.pop();
                    if let Value::Object(fields) = item {
                        for (f, fv) in fields {
                            collect_field(f, fv, parents, path, out);
                        }
                    }
                    path.pop();
                }
                parents.pop();
            }
            ListStrategy::MergePrimitives => {
                for item in items {
                    path.push(format!(
                        "v:{}",
                        serde_json::to_string(item).unwrap_or_default()
                    ));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
    path.pop();
}

/// Renders a set as `FieldsV1` JSON.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for elem in path {
            node = node
                .entry(elem.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
    }
    Value::Object(root)
}

/// Reads a `FieldsV1` JSON tree back into a set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn walk(node: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        let Value::Object(m) = node else { return };
        for (k, child) in m {
            path.push(k.clone());
            match child {
                Value::Object(c) if !c.is_empty() => walk(child, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// The value at a path, if the object has one there.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for elem in path {
        if elem == "." {
            continue;
        }
        if let Some(f) = elem.strip_prefix("f:") {
            cur = cur.get(f)?;
        } else if let Some(k) = elem.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur = cur
                .as_array()?
                .iter()
                .find(|item| keys.iter().all(|(kk, kv)| item.get(kk) == Some(kv)))?;
        } else if let Some(v) = elem.strip_prefix("v:") {
            let want: Value = serde_json::from_str(v).ok()?;
            cur = cur.as_array()?.iter().find(|item| **item == want)?;
        } else {
            return None;
        }
    }
    Some(cur)
}

/// Removes what a path names from an object (a field, a keyed item, a set value).
fn remove_at(obj: &mut Value, path: &[String]) {
    let path: Vec<&String> = path.iter().filter(|e| *e != ".").collect();
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for elem in parents {
        let next = if let Some(f) = elem.strip_prefix("f:") {
            cur.get_mut(f)
        } else if let Some(k) = elem.strip_prefix("k:") {
            let Ok(keys) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|i| keys.iter().all(|(kk, kv)| i.get(kk) == Some(kv)))
            })
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(k) = last.strip_prefix("k:") {
        if let (Ok(keys), Some(a)) = (
            serde_json::from_str::<Map<String, Value>>(k),
            cur.as_array_mut(),
        ) {
            a.retain(|i| !keys.iter().all(|(kk, kv)| i.get(kk) == Some(kv)));
        }
    } else if let Some(v) = last.strip_prefix("v:")
        && let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut())
    {
        a.retain(|i| *i != want);
    }
}

/// Upstream's spelling of a path in conflict messages: `.spec.containers[name="web"].image`.
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for elem in path {
        if let Some(f) = elem.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = elem.strip_prefix("k:") {
            if let Ok(keys) = serde_json::from_str::<Map<String, Value>>(k) {
                let inner: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", inner.join(",")));
            }
        } else if let Some(v) = elem.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        }
    }
    s
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Manager {
    /// The field manager's name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The API version the fields were written in.
    pub api_version: String,
    /// When the entry last changed.
    pub time: String,
    /// `status` for writes of the status subresource.
    pub subresource: Option<String>,
    /// The fields owned.
    pub fields: FieldSet,
}

/// Reads an object's `managedFields`.
pub fn managers(obj: &Value) -> Vec<Manager> {
    let Some(Value::Array(entries)) = obj.get("metadata").and_then(|m| m.get("managedFields"))
    else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|e| Manager {
            manager: e
                .get("manager")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            operation: e
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("Update")
                .to_string(),
            api_version: e
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            time: e
                .get("time")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_string),
            fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
        })
        .collect()
}

/// Writes `managedFields`, dropping entries that own nothing.
pub fn set_managers(obj: &mut Value, managers: &[Manager]) {
    let entries: Vec<Value> = managers
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            let mut e = json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": m.api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            });
            if let Some(s) = &m.subresource {
                e["subresource"] = json!(s);
            }
            e
        })
        .collect();
    let meta = crate::meta::metadata_mut(obj);
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries));
    }
}

fn entry<'a>(
    managers: &'a mut Vec<Manager>,
    name: &str,
    operation: &str,
    subresource: Option<&str>,
    api_version: &str,
    now: &str,
) -> &'a mut Manager {
    let pos = managers.iter().position(|m| {
        m.manager == name && m.operation == operation && m.subresource.as_deref() == subresource
    });
    match pos {
        Some(i) => &mut managers[i],
        None => {
            managers.push(Manager {
                manager: name.to_string(),
                operation: operation.to_string(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: subresource.map(str::to_string),
                fields: FieldSet::new(),
            });
            managers.last_mut().expect("just pushed")
        }
    }
}

/// Records a create, update or patch by `manager`: it owns what it set or changed, others
/// lose what it changed, and everybody loses what it removed.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    api_version: &str,
    now: &str,
) {
    let with_status = subresource == Some("status");
    let new_set = field_set(new, with_status);
    let (old_set, mut managers) = match old {
        Some(o) => (field_set(o, with_status), managers(o)),
        None => (FieldSet::new(), Vec::new()),
    };
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| old.is_none_or(|o| value_at(o, p) != value_at(new, p)))
        .cloned()
        .collect();
    let removed: FieldSet = old_set.difference(&new_set).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        set_managers(new, &managers);
        return;
    }
    for m in managers.iter_mut() {
        m.fields
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    if !changed.is_empty() {
        let e = entry(
            &mut managers,
            manager,
            "Update",
            subresource,
            api_version,
            now,
        );
        e.fields.extend(changed);
        e.time = now.to_string();
        e.api_version = api_version.to_string();
    }
    set_managers(new, &managers);
}

/// Applies `config` (already decoded and normalised) as `manager` onto `live`, or onto nothing
/// for a create. Returns the new object, with its managedFields, or the conflicts.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
) -> Result<Value, ApiError> {
    let applied = field_set(config, false);
    let Some(live) = live else {
        let mut obj = config.clone();
        let mut managers = Vec::new();
        entry(&mut managers, manager, "Apply", None, api_version, now).fields = applied;
        set_managers(&mut obj, &managers);
        return Ok(obj);
    };
    let mut managers = managers(live);
    let previous: FieldSet = managers
        .iter()
        .find(|m| m.manager == manager && m.operation == "Apply" && m.subresource.is_none())
        .map(|m| m.fields.clone())
        .unwrap_or_default();

    // Fields the configuration changes that somebody else owns.
    let mut conflicts: Vec<(String, String, FieldPath)> = Vec::new();
    for p in &applied {
        if p.last().is_some_and(|e| e == ".") {
            continue;
        }
        let (Some(now_value), Some(want)) = (value_at(live, p), value_at(config, p)) else {
            continue;
        };
        if now_value == want {
            continue;
        }
        for m in managers
            .iter()
            .filter(|m| !(m.manager == manager && m.operation == "Apply"))
        {
            if m.fields.contains(p) {
                conflicts.push((m.manager.clone(), m.api_version.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    let taken: FieldSet = conflicts.into_iter().map(|(_, _, p)| p).collect();

    let mut obj = live.clone();
    strategic_merge(&mut obj, &strip_nulls(config)).map_err(ApiError::bad_request)?;
    // What the applier owned before and dropped goes, unless someone else still owns it.
    for p in previous.difference(&applied) {
        let owned_elsewhere = managers
            .iter()
            .any(|m| !(m.manager == manager && m.operation == "Apply") && m.fields.contains(p));
        if !owned_elsewhere {
            remove_at(&mut obj, p);
        }
    }
    for m in managers.iter_mut() {
        if !(m.manager == manager && m.operation == "Apply") {
            m.fields.retain(|p| !taken.contains(p));
        }
    }
    let e = entry(&mut managers, manager, "Apply", None, api_version, now);
    if e.fields != applied {
        e.time = now.to_string();
    }
    e.fields = applied;
    e.api_version = api_version.to_string();
    set_managers(&mut obj, &managers);
    Ok(obj)
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        v => v.clone(),
    }
}

/// Upstream's conflict error: `Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.replicas`.
fn conflict_error(conflicts: &[(String, String, FieldPath)]) -> ApiError {
    let n = conflicts.len();
    let mut by_manager: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (m, v, p) in conflicts {
        by_manager
            .entry((m.clone(), v.clone()))
            .or_default()
            .push(path_string(p));
    }
    let plural = if n == 1 { "" } else { "s" };
    let mut message = format!("Apply failed with {n} conflict{plural}: ");
    let parts: Vec<String> = by_manager
        .iter()
        .map(|((m, v), paths)| {
            if paths.len() == 1 {
                format!("conflict with {m:?} using {v}: {}", paths[0])
            } else {
                format!(
                    "conflicts with {m:?} using {v}:\n{}",
                    paths
                        .iter()
                        .map(|p| format!("- {p}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            }
        })
        .collect();
    message.push_str(&parts.join("\n"));
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, v, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m:?} using {v}"), "field": path_string(p)}))
        .collect();
    let mut e = ApiError::conflict_with_details(message, json!({"causes": causes}));
    e.reason = "Conflict";
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}
        })
    }

    #[test]
    fn field_sets_use_upstreams_path_syntax() {
        let set = field_set(&deployment(2, "nginx"), false);
        let v1 = to_fields_v1(&set);
        assert_eq!(v1["f:metadata"]["f:labels"]["f:app"], json!({}));
        let c = &v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:image"], json!({}));
        assert!(v1["f:metadata"].get("f:name").is_none());
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn applying_a_field_another_manager_set_conflicts_unless_forced() {
        let mut live = deployment(2, "nginx");
        record_update(
            None,
            &mut live,
            "kubectl-client-side-apply",
            None,
            "apps/v1",
            "t0",
        );
        let err = apply(
            Some(&live),
            &deployment(3, "nginx"),
            "kubectl",
            false,
            "apps/v1",
            "t1",
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        let forced = apply(
            Some(&live),
            &deployment(3, "nginx"),
            "kubectl",
            true,
            "apps/v1",
            "t1",
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let owners = managers(&forced);
        let csa = owners
            .iter()
            .find(|m| m.manager == "kubectl-client-side-apply")
            .unwrap();
        assert!(
            !csa.fields
                .contains(&vec!["f:spec".to_string(), "f:replicas".to_string()])
        );
    }

    #[test]
    fn applying_the_same_values_shares_ownership_without_conflict() {
        let mut live = deployment(2, "nginx");
        record_update(None, &mut live, "other", None, "apps/v1", "t0");
        let out = apply(
            Some(&live),
            &deployment(2, "nginx"),
            "helm",
            false,
            "apps/v1",
            "t1",
        )
        .unwrap();
        assert_eq!(managers(&out).len(), 2);
    }

    #[test]
    fn fields_an_applier_drops_are_removed_unless_others_own_them() {
        let mut first = deployment(2, "nginx");
        first["metadata"]["labels"]["extra"] = json!("x");
        let live = apply(None, &first, "helm", false, "apps/v1", "t0").unwrap();
        let next = apply(
            Some(&live),
            &deployment(2, "nginx"),
            "helm",
            false,
            "apps/v1",
            "t1",
        )
        .unwrap();
        assert!(next["metadata"]["labels"].get("extra").is_none());
        assert_eq!(next["metadata"]["labels"]["app"], "web");
    }

    #[test]
    fn an_update_takes_the_fields_it_changes_from_their_owners() {
        let live = apply(
            None,
            &deployment(2, "nginx"),
            "helm",
            false,
            "apps/v1",
            "t0",
        )
        .unwrap();
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(
            Some(&live),
            &mut scaled,
            "kubectl-scale",
            None,
            "apps/v1",
            "t1",
        );
        let owners = managers(&scaled);
        let replicas = vec!["f:spec".to_string(), "f:replicas".to_string()];
        assert!(
            owners
                .iter()
                .find(|m| m.manager == "kubectl-scale")
                .unwrap()
                .fields
                .contains(&replicas)
        );
        assert!(
            !owners
                .iter()
                .find(|m| m.manager == "helm")
                .unwrap()
                .fields
                .contains(&replicas)
        );
        assert_eq!(
            path_string(&[
                "f:spec".into(),
                "f:containers".into(),
                "k:{\"name\":\"a\"}".into(),
                "f:image".into()
            ]),
            ".spec.containers[name=\"a\"].image"
        );
    }
}
