//! NodeRestriction: a kubelet may write only what belongs to its own node: its Node (without
//! touching its taints or the labels that steer workloads), its Lease and CSINode, the status
//! of pods bound to it, and mirror pods that name nothing else in the cluster. Upstream's
//! plugin of the same name, with its messages; the Node authorizer lets these requests through
//! knowing this plugin narrows them.

use bosun_api::ApiError;
use bosun_api::pod_refs::references;
use bosun_auth::node::{NODE_LEASE_NAMESPACE, node_identity};
use serde_json::{Map, Value};

use super::{Operation, Request, names};
use crate::registry::Registry;

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Labels a kubelet may set on its Node although they are in a kubernetes.io namespace
/// (upstream's `kubeletapis.IsKubeletLabel`).
const KUBELET_LABELS: [&str; 11] = [
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];

fn label_namespace(key: &str) -> &str {
    key.split_once('/').map(|(ns, _)| ns).unwrap_or_default()
}

fn in_namespace(namespace: &str, domain: &str) -> bool {
    namespace == domain || namespace.ends_with(&format!(".{domain}"))
}

fn kubelet_label(key: &str) -> bool {
    let namespace = label_namespace(key);
    KUBELET_LABELS.contains(&key)
        || in_namespace(namespace, "kubelet.kubernetes.io")
        || in_namespace(namespace, "node.kubernetes.io")
}

/// Label keys set, changed or removed between two label maps that a kubelet may not touch,
/// sorted.
fn forbidden_labels(
    new: Option<&Map<String, Value>>,
    old: Option<&Map<String, Value>>,
) -> Vec<String> {
    let empty = Map::new();
    let (new, old) = (new.unwrap_or(&empty), old.unwrap_or(&empty));
    let mut modified: Vec<&String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, _)| k)
        .chain(old.keys().filter(|k| !new.contains_key(*k)))
        .collect();
    modified.sort();
    modified.dedup();
    modified
        .into_iter()
        .filter(|key| {
            let namespace = label_namespace(key);
            let kubernetes =
                in_namespace(namespace, "kubernetes.io") || in_namespace(namespace, "k8s.io");
            in_namespace(namespace, "node-restriction.kubernetes.io")
                || (kubernetes && !kubelet_label(key))
        })
        .cloned()
        .collect()
}

fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.pointer("/metadata/labels").and_then(Value::as_object)
}

fn node_of(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Refuses a create or update by a kubelet that reaches beyond its node.
pub async fn admit(registry: &Registry, req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    let Some(node) = req.user.and_then(node_identity) else {
        return Ok(());
    };
    let (_, name) = names(obj);
    let forbidden = |reason: String| {
        Err(ApiError::forbidden_object(
            &req.def.group,
            &req.def.plural,
            name,
            &reason,
        ))
    };
    if node.is_empty() {
        let user = req.user.map(|u| u.name.as_str()).unwrap_or_default();
        return forbidden(format!("could not determine node from user {user:?}"));
    }
    match (req.def.group.as_str(), req.def.plural.as_str()) {
        ("", "pods") => match (req.subresource, req.operation) {
            (None, Operation::Create) => admit_mirror_pod(registry, node, obj)
                .await
                .or_else(forbidden),
            (None, operation) => forbidden(format!(
                "unexpected operation {:?}, node {node:?} can only create and delete mirror pods",
                operation.name()
            )),
            (Some("status"), _) => {
                let old = req.old.unwrap_or(&Value::Null);
                if node_of(old) != node {
                    forbidden(format!(
                        "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
                    ))
                } else if labels(old) != labels(obj) {
                    forbidden(format!(
                        "node {node:?} cannot update labels through pod status"
                    ))
                } else if old.pointer("/status/resourceClaimStatuses")
                    != obj.pointer("/status/resourceClaimStatuses")
                {
                    forbidden(format!(
                        "node {node:?} cannot update resource claim statues"
                    ))
                } else {
                    Ok(())
                }
            }
            (Some(other), _) => forbidden(format!(
                "unexpected pod subresource {other:?}, only 'status' and 'eviction' are allowed"
            )),
        },
        ("", "nodes") => {
            if name != node {
                return forbidden(format!(
                    "node {node:?} is not allowed to modify node {name:?}"
                ));
            }
            admit_node(node, req, obj).or_else(forbidden)
        }
        ("", "persistentvolumeclaims") => match req.subresource {
            Some("status") => {
                admit_claim_status(node, req.old.unwrap_or(&Value::Null), obj).or_else(forbidden)
            }
            _ => forbidden("may only update PVC status".to_string()),
        },
        ("coordination.k8s.io", "leases") => {
            let namespace = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if namespace != NODE_LEASE_NAMESPACE {
                forbidden(format!(
                    "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
                ))
            } else if name != node {
                forbidden(
                    "can only access node lease with the same name as the requesting node".into(),
                )
            } else {
                Ok(())
            }
        }
        ("storage.k8s.io", "csinodes") if name != node => {
            forbidden("can only access CSINode with the same name as the requesting node".into())
        }
        _ => Ok(()),
    }
}

/// Refuses a kubelet's delete of a pod bound elsewhere, or of another node.
pub fn admit_delete(req: &Request<'_>, old: &Value) -> Result<(), ApiError> {
    let Some(node) = req.user.and_then(node_identity) else {
        return Ok(());
    };
    let (_, name) = names(old);
    let reason = match (req.def.group.as_str(), req.def.plural.as_str()) {
        ("", "pods") if node_of(old) != node => {
            format!("node {node:?} can only delete pods with spec.nodeName set to itself")
        }
        ("", "nodes") if name != node => {
            format!("node {node:?} is not allowed to modify node {name:?}")
        }
        ("coordination.k8s.io", "leases") if name != node => {
            "can only access node lease with the same name as the requesting node".into()
        }
        ("storage.k8s.io", "csinodes") if name != node => {
            "can only access CSINode with the same name as the requesting node".into()
        }
        _ => return Ok(()),
    };
    Err(ApiError::forbidden_object(
        &req.def.group,
        &req.def.plural,
        name,
        &reason,
    ))
}

/// Refuses a kubelet's TokenRequest unless it is bound to a pod on the kubelet's node.
pub fn admit_token_request(
    user: &bosun_auth::UserInfo,
    request: &Value,
    pod: Option<&Value>,
) -> Result<(), String> {
    let Some(node) = node_identity(user) else {
        return Ok(());
    };
    let bound = &request["spec"]["boundObjectRef"];
    if bound["apiVersion"] != "v1"
        || bound["kind"] != "Pod"
        || bound["name"].as_str().is_none_or(str::is_empty)
    {
        return Err("node requested token not bound to a pod".into());
    }
    let uid = bound["uid"].as_str().unwrap_or_default();
    if uid.is_empty() {
        return Err("node requested token with a pod binding without a uid".into());
    }
    let Some(pod) = pod else {
        return Ok(()); // the TokenRequest itself answers 404 for a missing pod
    };
    if pod.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
        return Err(format!(
            "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
        ));
    }
    if node_of(pod) != node {
        return Err("node requested token bound to a pod scheduled on a different node".into());
    }
    Ok(())
}

async fn admit_mirror_pod(registry: &Registry, node: &str, pod: &Value) -> Result<(), String> {
    if pod
        .pointer(&format!(
            "/metadata/annotations/{}",
            MIRROR_ANNOTATION.replace('/', "~1")
        ))
        .is_none()
    {
        return Err(format!(
            "pod does not have {MIRROR_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"
        ));
    }
    if node_of(pod) != node {
        return Err(format!(
            "node {node:?} can only create pods with spec.nodeName set to itself"
        ));
    }
    let owners = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    match owners {
        [] => {
            return Err(format!(
                "node {node:?} can only create pods with an owner reference set to itself"
            ));
        }
        [owner] => {
            if owner["apiVersion"] != "v1" || owner["kind"] != "Node" || owner["name"] != node {
                return Err(format!(
                    "node {node:?} can only create pods with an owner reference set to itself"
                ));
            }
            if owner["controller"] != true {
                return Err(format!(
                    "node {node:?} can only create pods with a controller owner reference set to itself"
                ));
            }
            if owner["blockOwnerDeletion"] == true {
                return Err(format!(
                    "node {node:?} must not set blockOwnerDeletion on an owner reference"
                ));
            }
            let found = registry
                .find_core_cached("nodes", None, node)
                .await
                .map_err(|e| {
                    format!("error looking up node {node} to verify uid: {}", e.message)
                })?;
            let Some(found) = found else {
                return Err(format!("nodes {node:?} not found"));
            };
            let uid = found["metadata"]["uid"].as_str().unwrap_or_default();
            let owner_uid = owner["uid"].as_str().unwrap_or_default();
            if owner_uid != uid {
                return Err(format!(
                    "node {node} UID mismatch: expected {owner_uid} got {uid}"
                ));
            }
        }
        _ => {
            return Err(format!(
                "node {node:?} can only create pods with a single owner reference set to itself"
            ));
        }
    }
    let refs = references(pod);
    if refs.service_account.is_some() {
        return Err(format!(
            "node {node:?} can not create pods that reference a service account"
        ));
    }
    if !refs.secrets.is_empty() {
        return Err(format!(
            "node {node:?} can not create pods that reference secrets"
        ));
    }
    if !refs.config_maps.is_empty() {
        return Err(format!(
            "node {node:?} can not create pods that reference configmaps"
        ));
    }
    let volumes = pod["spec"]["volumes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let trust_bundles = volumes.iter().any(|v| {
        v.pointer("/projected/sources")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|s| s.get("clusterTrustBundle").is_some()))
    });
    if trust_bundles {
        return Err(format!(
            "node {node:?} can not create pods that reference clustertrustbundles"
        ));
    }
    if volumes
        .iter()
        .any(|v| v.get("persistentVolumeClaim").is_some())
    {
        return Err(format!(
            "node {node:?} can not create pods that reference persistentvolumeclaims"
        ));
    }
    Ok(())
}

fn admit_node(node: &str, req: &Request<'_>, obj: &Value) -> Result<(), String> {
    let config_source = obj.pointer("/spec/configSource").filter(|c| !c.is_null());
    match (req.operation, req.old) {
        (Operation::Create, _) => {
            if config_source.is_some() {
                return Err(format!(
                    "node {node:?} is not allowed to create pods with a non-nil configSource"
                ));
            }
            let forbidden = forbidden_labels(labels(obj), None);
            if !forbidden.is_empty() {
                return Err(format!(
                    "node {node:?} is not allowed to set the following labels: {}",
                    forbidden.join(", ")
                ));
            }
        }
        (Operation::Update, Some(old)) => {
            if config_source.is_some() && config_source != old.pointer("/spec/configSource") {
                return Err(format!(
                    "node {node:?} is not allowed to update configSource to a new non-nil configSource"
                ));
            }
            let taints = |n: &Value| {
                n.pointer("/spec/taints")
                    .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
                    .cloned()
            };
            if taints(obj) != taints(old) {
                return Err(format!("node {node:?} is not allowed to modify taints"));
            }
            let forbidden = forbidden_labels(labels(obj), labels(old));
            if !forbidden.is_empty() {
                return Err(format!(
                    "is not allowed to modify labels: {}",
                    forbidden.join(", ")
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn admit_claim_status(node: &str, old: &Value, new: &Value) -> Result<(), String> {
    let comparable = |claim: &Value| {
        let mut claim = claim.clone();
        if let Some(meta) = claim.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            meta.remove("managedFields");
        }
        if let Some(status) = claim.get_mut("status").and_then(Value::as_object_mut) {
            for field in [
                "capacity",
                "conditions",
                "allocatedResources",
                "allocatedResourceStatuses",
            ] {
                status.remove(field);
            }
        }
        claim
    };
    let (old, new) = (comparable(old), comparable(new));
    if old == new {
        return Ok(());
    }
    let changed: Vec<String> = ["metadata", "spec", "status"]
        .into_iter()
        .filter(|part| old.get(*part) != new.get(*part))
        .map(String::from)
        .collect();
    Err(format!(
        "node {node:?} is not allowed to update fields other than status.capacity and status.conditions: {} changed",
        changed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubelets_keep_to_their_own_labels() {
        let new = json!({"kubernetes.io/hostname": "n1", "node-role.kubernetes.io/control-plane": "",
            "node.kubernetes.io/instance-type": "x", "example.com/team": "a",
            "node-restriction.kubernetes.io/pool": "gold", "feature.node.kubernetes.io/cpu": "1"});
        assert_eq!(
            forbidden_labels(new.as_object(), None),
            [
                "node-restriction.kubernetes.io/pool",
                "node-role.kubernetes.io/control-plane"
            ]
        );
        let old = json!({"example.k8s.io/removed": "x"});
        assert_eq!(
            forbidden_labels(Some(&Map::new()), old.as_object()),
            ["example.k8s.io/removed"]
        );
    }

    #[test]
    fn token_requests_from_nodes_must_bind_a_pod_on_that_node() {
        let kubelet = bosun_auth::UserInfo::new("system:node:n1", &["system:nodes"]);
        let unbound = json!({"spec": {"audiences": []}});
        assert_eq!(
            admit_token_request(&kubelet, &unbound, None),
            Err("node requested token not bound to a pod".into())
        );
        let bound = json!({"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "u1"}}});
        let here = json!({"metadata": {"uid": "u1"}, "spec": {"nodeName": "n1"}});
        let there = json!({"metadata": {"uid": "u1"}, "spec": {"nodeName": "n2"}});
        assert_eq!(admit_token_request(&kubelet, &bound, Some(&here)), Ok(()));
        assert_eq!(
            admit_token_request(&kubelet, &bound, Some(&there)),
            Err("node requested token bound to a pod scheduled on a different node".into())
        );
        let alice = bosun_auth::UserInfo::new("alice", &[]);
        assert_eq!(admit_token_request(&alice, &unbound, None), Ok(()));
    }

    #[test]
    fn a_node_may_change_only_claim_capacity_and_conditions() {
        let old = json!({"metadata": {"name": "c", "resourceVersion": "1"}, "spec": {"volumeName": "v"}, "status": {"phase": "Bound"}});
        let mut new = old.clone();
        new["status"]["capacity"] = json!({"storage": "2Gi"});
        new["metadata"]["resourceVersion"] = json!("2");
        assert_eq!(admit_claim_status("n1", &old, &new), Ok(()));
        new["status"]["phase"] = json!("Lost");
        assert!(
            admit_claim_status("n1", &old, &new)
                .unwrap_err()
                .ends_with("status changed")
        );
    }
}
