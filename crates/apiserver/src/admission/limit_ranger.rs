//! LimitRanger: a namespace's LimitRanges fill in container requests and limits a new pod does
//! not set (`default`, `defaultRequest`), then refuse pods and PersistentVolumeClaims outside
//! their `min`, `max` and `maxLimitRequestRatio`, with upstream's messages
//! (`plugin/pkg/admission/limitranger`).

use bosun_api::ApiError;
use bosun_api::quantity::{Quantity, ResourceList, resource_list};
use bosun_api::quota::pod_totals;
use serde_json::{Map, Value, json};

use super::{Operation, Request, names};
use crate::registry::Registry;

const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// Pods are defaulted and checked when created; claims when created or updated.
fn applies(req: &Request<'_>, old: Option<&Value>) -> bool {
    if req.subresource.is_some()
        || old.is_some_and(|o| !o["metadata"]["deletionTimestamp"].is_null())
    {
        return false;
    }
    (req.is_core("pods") && req.operation == Operation::Create)
        || req.is_core("persistentvolumeclaims")
}

async fn limit_ranges(registry: &Registry, obj: &Value) -> Result<Vec<Value>, ApiError> {
    let (namespace, _) = names(obj);
    registry
        .list_all("", "v1", "limitranges", Some(namespace), false)
        .await
}

fn items<'a>(range: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    range["spec"]["limits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |item| item["type"] == kind)
}

fn list(v: &Value) -> ResourceList {
    resource_list(v).unwrap_or_default()
}

/// Fills in each container's missing requests and limits from every LimitRange,
/// recording what it set in the `kubernetes.io/limit-ranger` annotation.
pub async fn admit(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if !applies(req, req.old) || !req.is_core("pods") {
        return Ok(());
    }
    let mut changed = false;
    for range in limit_ranges(registry, obj).await? {
        let mut default_requests = Map::new();
        let mut default_limits = Map::new();
        for item in items(&range, "Container") {
            if let Some(d) = item["defaultRequest"].as_object() {
                default_requests.extend(d.clone());
            }
            if let Some(d) = item["default"].as_object() {
                default_limits.extend(d.clone());
            }
        }
        if default_requests.is_empty() && default_limits.is_empty() {
            continue;
        }
        let mut fragments = Vec::new();
        for (list_name, prefix) in [
            ("containers", "container"),
            ("initContainers", "init container"),
        ] {
            // `get_mut`, not indexing: indexing a missing key would store a null there.
            let Some(containers) = obj
                .get_mut("spec")
                .and_then(|s| s.get_mut(list_name))
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for container in containers {
                let name = container["name"].as_str().unwrap_or_default().to_string();
                let mut set = |field: &str, defaults: &Map<String, Value>| -> Vec<String> {
                    let mut set = Vec::new();
                    for (resource, value) in defaults {
                        if container["resources"][field][resource].is_null() {
                            if !container["resources"].is_object() {
                                container["resources"] = json!({});
                            }
                            if !container["resources"][field].is_object() {
                                container["resources"][field] = json!({});
                            }
                            container["resources"][field][resource] = value.clone();
                            set.push(resource.clone());
                        }
                    }
                    set.sort();
                    set
                };
                let requests = set("requests", &default_requests);
                let limits = set("limits", &default_limits);
                if !requests.is_empty() {
                    fragments.push(format!(
                        "{} request for {prefix} {name}",
                        requests.join(", ")
                    ));
                }
                if !limits.is_empty() {
                    fragments.push(format!("{} limit for {prefix} {name}", limits.join(", ")));
                }
            }
        }
        if !fragments.is_empty() {
            if !obj["metadata"]["annotations"].is_object() {
                obj["metadata"]["annotations"] = json!({});
            }
            obj["metadata"]["annotations"][ANNOTATION] =
                json!(format!("LimitRanger plugin set: {}", fragments.join("; ")));
            changed = true;
        }
    }
    if changed {
        // The QoS class follows the requests and limits just set (defaulting runs again after
        // admission and recomputes it).
        if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
            status.remove("qosClass");
        }
    }
    Ok(())
}

/// Refuses a pod or claim outside a LimitRange: 403 naming every violation of the first range
/// that has one.
pub async fn validate(registry: &Registry, req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    if !applies(req, req.old) {
        return Ok(());
    }
    for range in limit_ranges(registry, obj).await? {
        let errors = if req.is_core("pods") {
            pod_violations(&range, obj)
        } else {
            claim_violations(&range, obj)
        };
        if errors.is_empty() {
            continue;
        }
        let (_, name) = names(obj);
        let message = if errors.len() == 1 {
            errors[0].clone()
        } else {
            format!("[{}]", errors.join(", "))
        };
        return Err(ApiError::forbidden_object(
            "",
            &req.def.plural,
            name,
            &message,
        ));
    }
    Ok(())
}

fn push_unique(errors: &mut Vec<String>, found: Vec<String>) {
    for e in found {
        if !errors.contains(&e) {
            errors.push(e);
        }
    }
}

fn pod_violations(range: &Value, pod: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    for item in items(range, "Container") {
        for list_name in ["containers", "initContainers"] {
            for container in pod["spec"][list_name].as_array().into_iter().flatten() {
                let requests = list(&container["resources"]["requests"]);
                let limits = list(&container["resources"]["limits"]);
                push_unique(&mut errors, check(item, "Container", &requests, &limits));
            }
        }
    }
    for item in items(range, "Pod") {
        let (requests, limits) = pod_totals(pod);
        push_unique(&mut errors, check(item, "Pod", &requests, &limits));
    }
    errors
}

fn claim_violations(range: &Value, claim: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let requests = list(&claim["spec"]["resources"]["requests"]);
    for item in items(range, "PersistentVolumeClaim") {
        let kind = "PersistentVolumeClaim";
        for (resource, enforced) in sorted(&item["min"]) {
            push_unique(
                &mut errors,
                min_constraint(&resource, kind, &enforced, requests.get(&resource), None)
                    .into_iter()
                    .collect(),
            );
        }
        for (resource, enforced) in sorted(&item["max"]) {
            let found = match requests.get(&resource) {
                None => Some(format!(
                    "maximum {resource} usage per {kind} is {enforced}.  No request is specified"
                )),
                Some(request) if request > &enforced => Some(format!(
                    "maximum {resource} usage per {kind} is {enforced}, but request is {request}"
                )),
                _ => None,
            };
            push_unique(&mut errors, found.into_iter().collect());
        }
    }
    errors
}

/// A range item's constraint map, keys sorted (upstream walks a Go map; sorting keeps answers
/// stable).
fn sorted(v: &Value) -> Vec<(String, Quantity)> {
    list(v).into_iter().collect()
}

/// min, then max, then ratio, each resource in name order.
fn check(item: &Value, kind: &str, requests: &ResourceList, limits: &ResourceList) -> Vec<String> {
    let mut errors = Vec::new();
    for (resource, enforced) in sorted(&item["min"]) {
        errors.extend(min_constraint(
            &resource,
            kind,
            &enforced,
            requests.get(&resource),
            limits.get(&resource),
        ));
    }
    for (resource, enforced) in sorted(&item["max"]) {
        let request = requests.get(&resource);
        let found = match limits.get(&resource) {
            None => Some(format!(
                "maximum {resource} usage per {kind} is {enforced}.  No limit is specified"
            )),
            Some(limit) if limit > &enforced => Some(format!(
                "maximum {resource} usage per {kind} is {enforced}, but limit is {limit}"
            )),
            _ => match request {
                Some(request) if request > &enforced => Some(format!(
                    "maximum {resource} usage per {kind} is {enforced}, but request is {request}"
                )),
                _ => None,
            },
        };
        errors.extend(found);
    }
    for (resource, enforced) in sorted(&item["maxLimitRequestRatio"]) {
        let request = requests.get(&resource).filter(|q| !q.is_zero());
        let limit = limits.get(&resource).filter(|q| !q.is_zero());
        let found = match (request, limit) {
            (None, _) => Some(format!(
                "{resource} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
            )),
            (_, None) => Some(format!(
                "{resource} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
            )),
            (Some(request), Some(limit)) => {
                let observed = limit.as_f64() / request.as_f64();
                (observed > enforced.as_f64() + f64::EPSILON).then(|| {
                    format!("{resource} max limit to request ratio per {kind} is {enforced}, but provided ratio is {observed:.6}")
                })
            }
        };
        errors.extend(found);
    }
    errors
}

fn min_constraint(
    resource: &str,
    kind: &str,
    enforced: &Quantity,
    request: Option<&Quantity>,
    limit: Option<&Quantity>,
) -> Option<String> {
    match request {
        None => Some(format!(
            "minimum {resource} usage per {kind} is {enforced}.  No request is specified"
        )),
        Some(request) if request < enforced => Some(format!(
            "minimum {resource} usage per {kind} is {enforced}, but request is {request}"
        )),
        _ => match limit {
            Some(limit) if limit < enforced => Some(format!(
                "minimum {resource} usage per {kind} is {enforced}, but limit is {limit}"
            )),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(limits: Value) -> Value {
        json!({"spec": {"limits": limits}})
    }

    #[test]
    fn container_limits_over_the_max_are_reported_with_upstreams_words() {
        let r = range(json!([{"type": "Container", "max": {"cpu": "1", "memory": "1Gi"}}]));
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "2", "memory": "2Gi"}}}]}});
        assert_eq!(
            pod_violations(&r, &pod),
            [
                "maximum cpu usage per Container is 1, but limit is 2",
                "maximum memory usage per Container is 1Gi, but limit is 2Gi"
            ]
        );
    }

    #[test]
    fn a_request_under_the_min_and_a_missing_limit_are_both_reported() {
        let r = range(json!([{"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"}}]));
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "50m"}}}]}});
        assert_eq!(
            pod_violations(&r, &pod),
            [
                "minimum cpu usage per Container is 100m, but request is 50m",
                "maximum cpu usage per Container is 1.  No limit is specified"
            ]
        );
    }

    #[test]
    fn the_limit_to_request_ratio_is_printed_with_six_decimals() {
        let r = range(json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]));
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}}]}});
        assert_eq!(
            pod_violations(&r, &pod),
            ["cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"]
        );
    }

    #[test]
    fn pod_totals_take_the_larger_of_the_sum_and_the_biggest_init_container() {
        let pod = json!({"spec": {
            "containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"requests": {"cpu": "200m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "500m"}}}],
        }});
        assert_eq!(pod_totals(&pod).0["cpu"].to_string(), "500m");
    }

    #[test]
    fn a_claim_over_the_max_storage_is_refused() {
        let r = range(json!([{"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}}]));
        let claim = json!({"spec": {"resources": {"requests": {"storage": "5Gi"}}}});
        assert_eq!(
            claim_violations(&r, &claim),
            ["maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"]
        );
    }
}
