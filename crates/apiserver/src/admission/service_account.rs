//! The ServiceAccount plugin: every new pod runs as an account that exists (`default` unless it
//! names one) and, unless it or its account opts out, gets the account's token, the cluster CA
//! and its namespace mounted at /var/run/secrets/kubernetes.io/serviceaccount through a
//! projected volume the kubelet keeps fresh.

use std::time::Duration;

use bosun_api::ApiError;
use serde_json::{Value, json};

use super::{Operation, Request, names};
use crate::registry::Registry;

/// Where containers find their credentials.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The projected volume's name prefix.
const VOLUME_PREFIX: &str = "kube-api-access-";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// The `default` account may be created a moment after its namespace; upstream retries it.
const DEFAULT_ACCOUNT_ATTEMPTS: u32 = 10;

fn applies(req: &Request<'_>, obj: &Value) -> bool {
    req.operation == Operation::Create
        && req.is_core("pods")
        && obj["metadata"]["annotations"][MIRROR_ANNOTATION].is_null()
}

/// Fills in the account, mounts its token and copies its image pull secrets.
pub async fn admit(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if !applies(req, obj) {
        return Ok(());
    }
    let named = obj["spec"]["serviceAccountName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            obj["spec"]["serviceAccount"]
                .as_str()
                .filter(|n| !n.is_empty())
        })
        .unwrap_or("default")
        .to_string();
    obj["spec"]["serviceAccountName"] = json!(named);
    obj["spec"]["serviceAccount"] = json!(named);
    let account = account(registry, obj, &named).await?;
    if enforces_mountable_secrets(&account)
        && let Err(reason) = limit_secret_references(&account, obj)
    {
        let (_, name) = names(obj);
        return Err(ApiError::forbidden_object("", "pods", name, &reason));
    }
    let automount = obj["spec"]["automountServiceAccountToken"]
        .as_bool()
        .or_else(|| account["automountServiceAccountToken"].as_bool())
        .unwrap_or(true);
    if automount {
        mount_token(obj);
    }
    let no_pull_secrets = obj["spec"]["imagePullSecrets"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if no_pull_secrets
        && let Some(secrets) = account["imagePullSecrets"]
            .as_array()
            .filter(|s| !s.is_empty())
    {
        let names: Vec<Value> = secrets.iter().map(|s| json!({"name": s["name"]})).collect();
        obj["spec"]["imagePullSecrets"] = Value::Array(names);
    }
    Ok(())
}

/// Refuses a mirror pod (one a kubelet reflects from a static manifest) that names an account:
/// such pods may not hold API credentials.
pub fn validate(req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    if req.operation != Operation::Create || !req.is_core("pods") {
        return Ok(());
    }
    let (_, name) = names(obj);
    if !obj["metadata"]["annotations"][MIRROR_ANNOTATION].is_null() {
        let projects_token = obj["spec"]["volumes"].as_array().is_some_and(|volumes| {
            volumes.iter().any(|v| {
                v.pointer("/projected/sources")
                    .and_then(Value::as_array)
                    .is_some_and(|s| s.iter().any(|s| s.get("serviceAccountToken").is_some()))
            })
        });
        let mirror_refusal = if obj["spec"]["serviceAccountName"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
        {
            Some("a mirror pod may not reference service accounts")
        } else if !bosun_api::pod_refs::references(obj).secrets.is_empty() {
            Some("a mirror pod may not reference secrets")
        } else if projects_token {
            Some("a mirror pod may not use ServiceAccountToken volume projections")
        } else {
            None
        };
        return match mirror_refusal {
            Some(reason) => Err(ApiError::forbidden_object("", "pods", name, reason)),
            None => Ok(()),
        };
    }
    Ok(())
}

/// The account annotation that limits its pods to the secrets it lists.
const ENFORCE_MOUNTABLE_SECRETS: &str = "kubernetes.io/enforce-mountable-secrets";

fn enforces_mountable_secrets(account: &Value) -> bool {
    account["metadata"]["annotations"][ENFORCE_MOUNTABLE_SECRETS]
        .as_str()
        .is_some_and(|v| matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True"))
}

/// A pod of an account that enforces mountable secrets may use only the secrets the account
/// lists (volumes, env, envFrom) and only its image pull secrets; upstream's wording.
fn limit_secret_references(account: &Value, pod: &Value) -> Result<(), String> {
    let listed = |key: &str| -> Vec<&str> {
        account[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .collect()
    };
    let (mountable, pull) = (listed("secrets"), listed("imagePullSecrets"));
    let sa = account["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &pod["spec"];
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        if let Some(secret) = volume.pointer("/secret/secretName").and_then(Value::as_str)
            && !mountable.contains(&secret)
        {
            return Err(format!(
                "volume with secret.secretName=\"{secret}\" is not allowed because service account {sa} does not reference that secret"
            ));
        }
    }
    for (kind, label) in [
        ("initContainers", "init container"),
        ("containers", "container"),
        ("ephemeralContainers", "ephemeral container"),
    ] {
        for container in spec[kind].as_array().into_iter().flatten() {
            let name = container["name"].as_str().unwrap_or_default();
            for env in container["env"].as_array().into_iter().flatten() {
                if let Some(secret) = env
                    .pointer("/valueFrom/secretKeyRef/name")
                    .and_then(Value::as_str)
                    && !mountable.contains(&secret)
                {
                    let var = env["name"].as_str().unwrap_or_default();
                    return Err(format!(
                        "{label} {name} with envVar {var} referencing secret.secretName=\"{secret}\" is not allowed because service account {sa} does not reference that secret"
                    ));
                }
            }
            for from in container["envFrom"].as_array().into_iter().flatten() {
                if let Some(secret) = from.pointer("/secretRef/name").and_then(Value::as_str)
                    && !mountable.contains(&secret)
                {
                    return Err(format!(
                        "{label} {name} with envFrom referencing secret.secretName=\"{secret}\" is not allowed because service account {sa} does not reference that secret"
                    ));
                }
            }
        }
    }
    for (i, secret) in spec["imagePullSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let secret = secret["name"].as_str().unwrap_or_default();
        if !pull.contains(&secret) {
            return Err(format!(
                "imagePullSecrets[{i}].name=\"{secret}\" is not allowed because service account {sa} does not reference that imagePullSecret"
            ));
        }
    }
    Ok(())
}

async fn account(registry: &Registry, pod: &Value, account: &str) -> Result<Value, ApiError> {
    let (namespace, name) = names(pod);
    let attempts = if account == "default" {
        DEFAULT_ACCOUNT_ATTEMPTS
    } else {
        1
    };
    for attempt in 0..attempts {
        if let Some(found) = registry
            .find_core_cached("serviceaccounts", Some(namespace), account)
            .await?
        {
            return Ok(found);
        }
        if attempt + 1 < attempts {
            let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 100;
            tokio::time::sleep(Duration::from_millis(100 + jitter)).await;
        }
    }
    Err(ApiError::forbidden_object(
        "",
        "pods",
        name,
        &format!(
            "error looking up service account {namespace}/{account}: serviceaccount {account:?} not found"
        ),
    ))
}

/// Adds the projected volume (or reuses one already there) and mounts it in every init and
/// regular container that has nothing at the mount path yet.
fn mount_token(pod: &mut Value) {
    let existing = pod["spec"]["volumes"].as_array().and_then(|volumes| {
        volumes
            .iter()
            .filter_map(|v| v["name"].as_str())
            .find(|n| n.starts_with(VOLUME_PREFIX))
            .map(String::from)
    });
    let volume = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{}", bosun_api::meta::random_suffix()));
    let mut mounted = false;
    for list in ["initContainers", "containers"] {
        // `get_mut`, not indexing: indexing a missing key would store a null there.
        let Some(containers) = pod
            .get_mut("spec")
            .and_then(|s| s.get_mut(list))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for container in containers {
            let has_mount = container["volumeMounts"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["mountPath"] == MOUNT_PATH));
            if has_mount {
                continue;
            }
            if !container["volumeMounts"].is_array() {
                container["volumeMounts"] = json!([]);
            }
            container["volumeMounts"]
                .as_array_mut()
                .expect("just made an array")
                .push(json!({"name": volume, "readOnly": true, "mountPath": MOUNT_PATH}));
            mounted = true;
        }
    }
    if !mounted || existing.is_some() {
        return;
    }
    if !pod["spec"]["volumes"].is_array() {
        pod["spec"]["volumes"] = json!([]);
    }
    pod["spec"]["volumes"]
        .as_array_mut()
        .expect("just made an array")
        .push(json!({
            "name": volume,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ],
            },
        }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_container_without_a_mount_gets_the_token_volume() {
        let mut pod = json!({"spec": {
            "initContainers": [{"name": "init"}],
            "containers": [
                {"name": "a"},
                {"name": "b", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]},
            ],
        }});
        mount_token(&mut pod);
        let volume = pod["spec"]["volumes"][0]["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(volume.starts_with("kube-api-access-") && volume.len() == 21);
        assert_eq!(
            pod["spec"]["initContainers"][0]["volumeMounts"][0]["name"],
            volume
        );
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"],
            true
        );
        assert_eq!(
            pod["spec"]["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(pod["spec"]["volumes"][0]["projected"]["defaultMode"], 420);
    }

    #[test]
    fn an_existing_projected_volume_is_reused() {
        let mut pod = json!({"spec": {
            "containers": [{"name": "a"}],
            "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": []}}],
        }});
        mount_token(&mut pod);
        assert_eq!(pod["spec"]["volumes"].as_array().unwrap().len(), 1);
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["name"],
            "kube-api-access-abcde"
        );
    }
}
