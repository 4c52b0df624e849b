//! Resource usage as ResourceQuota counts it (upstream's quota evaluators,
//! `pkg/quota/v1/evaluator/core`): what one object uses of each quota resource, which quota
//! resources an object kind can use, and whether a quota's scopes select an object. Shared by the
//! ResourceQuota admission plugin and the quota controller, so both count alike.

use serde_json::Value;

use crate::quantity::{Quantity, ResourceList, resource_list};

/// The quota resource counting objects of `group/plural` (`count/pods`, `count/deployments.apps`).
pub fn count_resource(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// Core kinds also counted under their bare plural (`configmaps`, ...), as upstream's aliases.
const LEGACY_COUNTS: [&str; 4] = [
    "configmaps",
    "secrets",
    "replicationcontrollers",
    "resourcequotas",
];

/// Kinds quota never looks at.
pub fn ignored(group: &str, plural: &str) -> bool {
    matches!(
        (group, plural),
        ("", "bindings" | "componentstatuses" | "events")
            | ("events.k8s.io", "events")
            | ("authentication.k8s.io", _)
            | ("authorization.k8s.io", _)
    )
}

const POD_COMPUTE: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// Whether the quota resource `name` is one objects of `group/plural` can use.
pub fn matches_resource(group: &str, plural: &str, name: &str) -> bool {
    if name == count_resource(group, plural) {
        return true;
    }
    if !group.is_empty() {
        return false;
    }
    match plural {
        "pods" => {
            name == "pods"
                || POD_COMPUTE.contains(&name)
                || POD_COMPUTE
                    .iter()
                    .any(|r| name == format!("requests.{r}") || name == format!("limits.{r}"))
                || name.starts_with("hugepages-")
                || name.starts_with("requests.hugepages-")
                || (name.starts_with("requests.") && name.contains('/'))
        }
        "services" => matches!(
            name,
            "services" | "services.nodeports" | "services.loadbalancers"
        ),
        "persistentvolumeclaims" => {
            matches!(name, "persistentvolumeclaims" | "requests.storage")
                || name.ends_with(".storageclass.storage.k8s.io/persistentvolumeclaims")
                || name.ends_with(".storageclass.storage.k8s.io/requests.storage")
        }
        other => LEGACY_COUNTS.contains(&other) && name == other,
    }
}

fn list(v: &Value) -> ResourceList {
    resource_list(v).unwrap_or_default()
}

/// Adds every quantity of `from` into `into`.
pub fn add_into(into: &mut ResourceList, from: &ResourceList) {
    for (k, v) in from {
        into.entry(k.clone()).or_insert_with(Quantity::zero).add(v);
    }
}

/// Raises each quantity of `into` to `from`'s where that is larger.
pub fn max_into(into: &mut ResourceList, from: &ResourceList) {
    for (k, v) in from {
        match into.get(k) {
            Some(current) if current >= v => {}
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A pod's effective requests and limits: the sum over its containers, or the largest init
/// container's (plus the restartable sidecars started before it) where that is more
/// (upstream's `PodRequests`/`PodLimits`).
pub fn pod_totals(pod: &Value) -> (ResourceList, ResourceList) {
    let mut totals = (ResourceList::new(), ResourceList::new());
    for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
        add_into(&mut totals.0, &list(&container["resources"]["requests"]));
        add_into(&mut totals.1, &list(&container["resources"]["limits"]));
    }
    let mut sidecars = (ResourceList::new(), ResourceList::new());
    let mut init_max = (ResourceList::new(), ResourceList::new());
    for container in pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let requests = list(&container["resources"]["requests"]);
        let limits = list(&container["resources"]["limits"]);
        if container["restartPolicy"] == "Always" {
            add_into(&mut totals.0, &requests);
            add_into(&mut totals.1, &limits);
            add_into(&mut sidecars.0, &requests);
            add_into(&mut sidecars.1, &limits);
            max_into(&mut init_max.0, &sidecars.0);
            max_into(&mut init_max.1, &sidecars.1);
        } else {
            let mut with_sidecars = requests;
            add_into(&mut with_sidecars, &sidecars.0);
            max_into(&mut init_max.0, &with_sidecars);
            let mut with_sidecars = limits;
            add_into(&mut with_sidecars, &sidecars.1);
            max_into(&mut init_max.1, &with_sidecars);
        }
    }
    max_into(&mut totals.0, &init_max.0);
    max_into(&mut totals.1, &init_max.1);
    totals
}

/// Whether a pod still counts against compute quota: not finished, not past its deletion grace.
fn pod_counts(pod: &Value, now_unix: i64) -> bool {
    if matches!(
        pod["status"]["phase"].as_str(),
        Some("Failed" | "Succeeded")
    ) {
        return false;
    }
    let deadline = pod["metadata"]["deletionTimestamp"]
        .as_str()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| {
            t.unix_timestamp()
                + pod["metadata"]["deletionGracePeriodSeconds"]
                    .as_i64()
                    .unwrap_or(0)
        });
    deadline.is_none_or(|d| d >= now_unix)
}

fn one() -> Quantity {
    Quantity::from_value(1, crate::quantity::Format::DecimalSI)
}

/// What one object uses, by quota resource name (only resources it uses at all).
pub fn usage(group: &str, plural: &str, obj: &Value, now_unix: i64) -> ResourceList {
    let mut used = ResourceList::new();
    used.insert(count_resource(group, plural), one());
    if !group.is_empty() {
        return used;
    }
    if LEGACY_COUNTS.contains(&plural) {
        used.insert(plural.to_string(), one());
    }
    match plural {
        "pods" if pod_counts(obj, now_unix) => {
            used.insert("pods".into(), one());
            let (requests, limits) = pod_totals(obj);
            for (name, q) in requests {
                if POD_COMPUTE.contains(&name.as_str()) || name.starts_with("hugepages-") {
                    used.insert(name.clone(), q.clone());
                    used.insert(format!("requests.{name}"), q);
                } else if name.contains('/') {
                    used.insert(format!("requests.{name}"), q);
                }
            }
            for (name, q) in limits {
                if POD_COMPUTE.contains(&name.as_str()) {
                    used.insert(format!("limits.{name}"), q);
                }
            }
        }
        "services" => {
            used.insert("services".into(), one());
            let ports = obj["spec"]["ports"].as_array().map_or(0, Vec::len) as i64;
            let (node_ports, balancers) = match obj["spec"]["type"].as_str() {
                Some("NodePort") => (ports, 0),
                Some("LoadBalancer") => {
                    let explicit_only = obj["spec"]["allocateLoadBalancerNodePorts"] == false;
                    let counted = if explicit_only {
                        obj["spec"]["ports"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|p| p["nodePort"].as_i64().unwrap_or(0) != 0)
                            .count() as i64
                    } else {
                        ports
                    };
                    (counted, 1)
                }
                _ => (0, 0),
            };
            used.insert(
                "services.nodeports".into(),
                Quantity::from_value(node_ports, crate::quantity::Format::DecimalSI),
            );
            used.insert(
                "services.loadbalancers".into(),
                Quantity::from_value(balancers, crate::quantity::Format::DecimalSI),
            );
        }
        "persistentvolumeclaims" => {
            used.insert("persistentvolumeclaims".into(), one());
            let class = obj["spec"]["storageClassName"]
                .as_str()
                .filter(|c| !c.is_empty());
            if let Some(class) = class {
                used.insert(
                    format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
                    one(),
                );
            }
            let mut storage = list(&obj["spec"]["resources"]["requests"]).remove("storage");
            if let Some(allocated) = list(&obj["status"]["allocatedResources"]).remove("storage")
                && storage.as_ref().is_none_or(|s| &allocated > s)
            {
                storage = Some(allocated);
            }
            if let Some(storage) = storage {
                let whole = Quantity::from_value(storage.value(), storage.format());
                if let Some(class) = class {
                    used.insert(
                        format!("{class}.storageclass.storage.k8s.io/requests.storage"),
                        whole.clone(),
                    );
                }
                used.insert("requests.storage".into(), whole);
            }
        }
        _ => {}
    }
    used
}

fn pod_is_best_effort(pod: &Value) -> bool {
    let (requests, limits) = pod_totals(pod);
    !requests
        .keys()
        .chain(limits.keys())
        .any(|k| k == "cpu" || k == "memory")
}

fn scope_matches(scope: &str, operator: &str, values: &[String], pod: &Value) -> bool {
    let terminating = pod["spec"]["activeDeadlineSeconds"]
        .as_i64()
        .is_some_and(|s| s >= 0);
    match scope {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => pod_is_best_effort(pod),
        "NotBestEffort" => !pod_is_best_effort(pod),
        "PriorityClass" => {
            let class = pod["spec"]["priorityClassName"]
                .as_str()
                .unwrap_or_default();
            match operator {
                "Exists" => !class.is_empty(),
                "DoesNotExist" => class.is_empty(),
                "In" => !class.is_empty() && values.iter().any(|v| v == class),
                "NotIn" => class.is_empty() || !values.iter().any(|v| v == class),
                _ => false,
            }
        }
        "CrossNamespacePodAffinity" => {
            let affinity = &pod["spec"]["affinity"];
            ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
                [
                    "requiredDuringSchedulingIgnoredDuringExecution",
                    "preferredDuringSchedulingIgnoredDuringExecution",
                ]
                .iter()
                .flat_map(|k| affinity[kind][k].as_array().into_iter().flatten())
                .any(|term| {
                    let term = if term["podAffinityTerm"].is_object() {
                        &term["podAffinityTerm"]
                    } else {
                        term
                    };
                    term["namespaces"].as_array().is_some_and(|n| !n.is_empty())
                        || term["namespaceSelector"].is_object()
                })
            })
        }
        _ => false,
    }
}

/// Whether every scope of `quota` selects `obj` (scopes only ever select pods; a scoped quota
/// never counts other kinds).
pub fn scopes_match(quota: &Value, group: &str, plural: &str, obj: &Value) -> bool {
    let mut selectors: Vec<(String, String, Vec<String>)> = quota["spec"]["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| (s.to_string(), "Exists".to_string(), Vec::new()))
        .collect();
    for expr in quota["spec"]["scopeSelector"]["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let values = expr["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        selectors.push((
            expr["scopeName"].as_str().unwrap_or_default().to_string(),
            expr["operator"].as_str().unwrap_or_default().to_string(),
            values,
        ));
    }
    if selectors.is_empty() {
        return true;
    }
    if !(group.is_empty() && plural == "pods") {
        return false;
    }
    selectors
        .iter()
        .all(|(scope, operator, values)| scope_matches(scope, operator, values, obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_uses_its_requests_limits_and_one_pod() {
        let pod = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "1"}}}]}});
        let used = usage("", "pods", &pod, 0);
        let shown: Vec<String> = used.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            shown,
            [
                "count/pods=1",
                "cpu=500m",
                "limits.cpu=1",
                "memory=256Mi",
                "pods=1",
                "requests.cpu=500m",
                "requests.memory=256Mi"
            ]
        );
    }

    #[test]
    fn a_finished_pod_counts_only_as_an_object() {
        let pod = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}, "status": {"phase": "Succeeded"}});
        assert_eq!(
            usage("", "pods", &pod, 0).keys().collect::<Vec<_>>(),
            ["count/pods"]
        );
    }

    #[test]
    fn a_node_port_service_uses_a_node_port_per_port() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        assert_eq!(
            usage("", "services", &svc, 0)["services.nodeports"].to_string(),
            "2"
        );
    }

    #[test]
    fn scoped_quotas_select_pods_by_best_effort_and_priority_class() {
        let quota = json!({"spec": {"scopes": ["BestEffort"]}});
        let best_effort = json!({"spec": {"containers": [{}]}});
        let burstable =
            json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}});
        assert!(scopes_match(&quota, "", "pods", &best_effort));
        assert!(!scopes_match(&quota, "", "pods", &burstable));
        assert!(!scopes_match(&quota, "", "services", &json!({})));
        let by_class = json!({"spec": {"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}});
        assert!(scopes_match(
            &by_class,
            "",
            "pods",
            &json!({"spec": {"priorityClassName": "high"}})
        ));
        assert!(!scopes_match(&by_class, "", "pods", &json!({"spec": {}})));
    }

    #[test]
    fn object_counts_name_their_group() {
        assert!(matches_resource(
            "apps",
            "deployments",
            "count/deployments.apps"
        ));
        assert!(matches_resource("", "configmaps", "configmaps"));
        assert!(!matches_resource("", "configmaps", "pods"));
    }
}
