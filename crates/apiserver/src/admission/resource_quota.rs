//! ResourceQuota: a write that would take a namespace past one of its quotas is refused with
//! upstream's message, and an accepted one is charged to the quotas' `status.used` at once
//! (compare-and-swap on each quota, retried on conflict) so concurrent writes cannot overshoot.
//! The quota controller recounts usage from scratch, which also releases what deletions free.
//!
//! Like upstream's plugin this works from `status.hard` and `status.used` only: a quota the
//! controller has not synced yet enforces nothing.

use std::collections::BTreeSet;

use bosun_api::ApiError;
use bosun_api::quantity::{Quantity, ResourceList, resource_list};
use bosun_api::quota;
use serde_json::{Value, json};

use super::{Operation, Request, names};
use crate::registry::Registry;

/// Attempts at charging the quotas before giving up on write conflicts.
const ATTEMPTS: usize = 5;

/// Whether quota looks at this write: namespaced objects other than namespaces, creates of
/// every kind, updates only of kinds whose usage can change (services and claims).
fn applies(req: &Request<'_>, obj: &Value) -> bool {
    let (group, plural) = (req.def.group.as_str(), req.def.plural.as_str());
    if !req.def.namespaced() || req.subresource.is_some() || quota::ignored(group, plural) {
        return false;
    }
    if names(obj).0.is_empty() {
        return false;
    }
    match req.operation {
        Operation::Create => true,
        Operation::Update => {
            group.is_empty() && matches!(plural, "services" | "persistentvolumeclaims")
        }
        Operation::Delete => false,
    }
}

fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn mask(list: &ResourceList, keys: &BTreeSet<String>) -> ResourceList {
    list.iter()
        .filter(|(k, _)| keys.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The compute resources a container must state when a quota constrains them.
const CONSTRAINED: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// `must specify limits.cpu for: a,b; requests.memory for: b`, or `None`.
fn missing_compute(pod: &Value, restricted: &BTreeSet<String>) -> Option<String> {
    let required: Vec<&str> = CONSTRAINED
        .iter()
        .copied()
        .filter(|r| restricted.contains(*r))
        .collect();
    if required.is_empty() {
        return None;
    }
    let mut missing: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for list_name in ["containers", "initContainers"] {
        for container in pod["spec"][list_name].as_array().into_iter().flatten() {
            let single = json!({"spec": {"containers": [container]}});
            let has: ResourceList = quota::usage("", "pods", &single, 0);
            for resource in &required {
                if !has.contains_key(*resource) {
                    missing
                        .entry(resource)
                        .or_default()
                        .push(container["name"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    let parts: Vec<String> = missing
        .into_iter()
        .map(|(resource, mut containers)| {
            containers.sort();
            format!("{resource} for: {}", containers.join(","))
        })
        .collect();
    Some(format!("must specify {}", parts.join("; ")))
}

/// What the write adds to a quota's usage.
fn delta(req: &Request<'_>, obj: &Value) -> ResourceList {
    let (group, plural) = (req.def.group.as_str(), req.def.plural.as_str());
    let mut new = quota::usage(group, plural, obj, bosun_api::meta::now_unix());
    if let Some(old) = req.old {
        let old = quota::usage(group, plural, old, bosun_api::meta::now_unix());
        for (k, v) in new.iter_mut() {
            if let Some(before) = old.get(k) {
                v.sub(before);
                if v.sign() < 0 {
                    *v = Quantity::zero();
                }
            }
        }
    }
    new.retain(|_, v| !v.is_zero());
    new
}

/// Checks the write against every quota of its namespace and charges them.
pub async fn validate(registry: &Registry, req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    if !applies(req, obj) {
        return Ok(());
    }
    let (namespace, name) = names(obj);
    let (group, plural) = (req.def.group.as_str(), req.def.plural.as_str());
    let forbidden = |reason: String| ApiError::forbidden_object(group, plural, name, &reason);
    let quota_def = registry
        .table
        .lookup("", "v1", "resourcequotas")
        .expect("resourcequotas are served");
    // A namespace without quotas costs one read of the cache.
    if registry
        .list_all("", "v1", "resourcequotas", Some(namespace), false)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    // Writes into one namespace are charged one at a time (upstream queues them per
    // namespace); compare-and-swap still guards against the quota controller and other servers.
    let state = &registry.admission;
    let _turn = state.quota_turn(namespace).await;
    let requested_all = delta(req, obj);
    for attempt in 0..ATTEMPTS {
        let mut quotas = registry
            .list_all("", "v1", "resourcequotas", Some(namespace), attempt > 0)
            .await?;
        for q in &mut quotas {
            state.newest_charge(q);
        }
        let mut charges = Vec::new();
        for q in &quotas {
            let quota_name = q["metadata"]["name"].as_str().unwrap_or_default();
            let hard = resource_list(&q["status"]["hard"]).unwrap_or_default();
            let restricted: BTreeSet<String> = hard
                .keys()
                .filter(|k| quota::matches_resource(group, plural, k))
                .cloned()
                .collect();
            if restricted.is_empty() || !quota::scopes_match(q, group, plural, obj) {
                continue;
            }
            if group.is_empty()
                && plural == "pods"
                && req.operation == Operation::Create
                && let Some(missing) = missing_compute(obj, &restricted)
            {
                return Err(forbidden(format!("failed quota: {quota_name}: {missing}")));
            }
            let used = resource_list(&q["status"]["used"]).unwrap_or_default();
            let unknown: Vec<&str> = restricted
                .iter()
                .filter(|k| !used.contains_key(*k))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(forbidden(format!(
                    "status unknown for quota: {quota_name}, resources: {}",
                    unknown.join(",")
                )));
            }
            let requested = mask(&requested_all, &restricted);
            if requested.is_empty() {
                continue;
            }
            let mut new_used = used.clone();
            quota::add_into(&mut new_used, &requested);
            let exceeded: BTreeSet<String> = requested
                .keys()
                .filter(|k| {
                    new_used
                        .get(*k)
                        .zip(hard.get(*k))
                        .is_some_and(|(u, h)| u > h)
                })
                .cloned()
                .collect();
            if !exceeded.is_empty() {
                return Err(forbidden(format!(
                    "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
                    pretty(&mask(&requested, &exceeded)),
                    pretty(&mask(&used, &exceeded)),
                    pretty(&mask(&hard, &exceeded)),
                )));
            }
            charges.push((q.clone(), new_used));
        }
        if req.dry_run || charges.is_empty() {
            return Ok(());
        }
        let mut conflicted = false;
        for (mut q, new_used) in charges {
            q["status"]["used"] =
                serde_json::to_value(&new_used).map_err(|e| ApiError::internal(e.to_string()))?;
            match registry
                .replace_unchecked(&quota_def, Some(namespace), &q)
                .await
            {
                Ok(revision) => {
                    bosun_api::meta::set_resource_version(&mut q, revision);
                    state.remember_charge(q);
                }
                Err(e) if e.code == 409 => {
                    conflicted = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if !conflicted {
            return Ok(());
        }
    }
    Err(ApiError::internal(format!(
        "unable to charge the quotas of namespace {namespace}: too many concurrent writes"
    )))
}
