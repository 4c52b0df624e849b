//! PodSecurity: pods must meet the Pod Security Standard their namespace's
//! `pod-security.kubernetes.io/*` labels name; workloads whose pod template would not get a
//! warning; namespaces get their labels checked and, when tightened, a warning naming the pods
//! already there that would now be refused. The decisions are `bosun_podsecurity`'s; this
//! plugin supplies the namespace, the pods and the request.

use std::collections::BTreeMap;

use bosun_api::ApiError;
use bosun_podsecurity::{self as psa, Config, Decision};
use serde_json::Value;

use super::{Operation, Request, names};
use crate::registry::Registry;

const ENFORCE_LABELS: [&str; 2] = [
    "pod-security.kubernetes.io/enforce",
    "pod-security.kubernetes.io/enforce-version",
];

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    psa::api::object_labels(obj)
}

/// Refuses a pod its namespace's enforce level forbids; warns and annotates otherwise.
pub async fn validate(registry: &Registry, req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    let (group, plural) = (req.def.group.as_str(), req.def.plural.as_str());
    let operation = match req.operation {
        Operation::Create => psa::Operation::Create,
        Operation::Update => psa::Operation::Update,
        Operation::Delete => return Ok(()),
    };
    if !psa::applies_to(group, plural) {
        return Ok(());
    }
    let (namespace, name) = names(obj);
    let is_namespace = group.is_empty() && plural == "namespaces";
    let request = psa::Request {
        operation,
        name,
        namespace: if is_namespace { name } else { namespace },
        subresource: req.subresource.unwrap_or_default(),
        username: req.user.map(|u| u.name.as_str()).unwrap_or_default(),
        object: obj,
        old_object: req.old,
    };
    let config = Config::default();
    let decision = if is_namespace {
        // The namespace's pods matter only when its enforce level changes.
        let tightened = req.old.is_some_and(|old| {
            let (new, old) = (labels_of(obj), labels_of(old));
            ENFORCE_LABELS.iter().any(|l| new.get(*l) != old.get(*l))
        });
        let pods = if tightened {
            registry
                .list_all("", "v1", "pods", Some(name), false)
                .await
                .ok()
        } else {
            None
        };
        psa::validate_namespace(&config, &request, move || pods)
    } else {
        let Some(ns) = registry
            .find_core_cached("namespaces", None, namespace)
            .await?
        else {
            return Err(ApiError::internal(format!(
                "failed to lookup namespace {namespace:?}"
            )));
        };
        let ns_labels = labels_of(&ns);
        if group.is_empty() && plural == "pods" {
            psa::validate_pod(&config, &ns_labels, &request)
        } else {
            psa::validate_workload(&config, group, plural, &ns_labels, &request)
        }
    };
    let Decision {
        denial,
        warnings,
        audit_annotations,
    } = decision;
    if !req.dry_run {
        for (key, value) in audit_annotations {
            crate::notes::annotate(key, value);
        }
    }
    if let Some(denial) = denial {
        return Err(denial);
    }
    for warning in warnings {
        crate::notes::warn(warning);
    }
    Ok(())
}
