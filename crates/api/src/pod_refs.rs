//! The API objects a pod refers to: the secrets, config maps, claims and service account its
//! kubelet must read to run it. The node authorizer grants a kubelet exactly these, and
//! NodeRestriction forbids mirror pods from naming any (upstream's `VisitPodSecretNames`,
//! `VisitPodConfigmapNames` and the node graph's pod edges).

use serde_json::Value;

/// What one pod refers to, by name within its namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodReferences {
    /// Secrets: image pull secrets, secret volumes and projections, env and envFrom, and the
    /// secret references of volume plugins (CSI, Ceph, iSCSI ...).
    pub secrets: Vec<String>,
    /// Config maps: volumes and projections, env and envFrom.
    pub config_maps: Vec<String>,
    /// PersistentVolumeClaims: claim volumes and the claims generic ephemeral volumes make
    /// (`<pod>-<volume>`).
    pub claims: Vec<String>,
    /// ResourceClaims the pod's status names.
    pub resource_claims: Vec<String>,
    /// The service account, when set.
    pub service_account: Option<String>,
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn push(list: &mut Vec<String>, name: Option<&str>) {
    if let Some(name) = name
        && !list.iter().any(|n| n == name)
    {
        list.push(name.to_string());
    }
}

fn items(value: &Value, key: &str) -> impl Iterator<Item = Value> {
    value[key]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
}

/// Volume plugins that name a secret, and where: upstream's list in `VisitPodSecretNames`.
const SECRET_REFS: [&str; 9] = [
    "/azureFile/secretName",
    "/cephfs/secretRef/name",
    "/cinder/secretRef/name",
    "/flexVolume/secretRef/name",
    "/rbd/secretRef/name",
    "/secret/secretName",
    "/scaleIO/secretRef/name",
    "/storageos/secretRef/name",
    "/csi/nodePublishSecretRef/name",
];

/// Everything `pod` refers to, in every init, regular and ephemeral container.
pub fn references(pod: &Value) -> PodReferences {
    let mut refs = PodReferences::default();
    let spec = &pod["spec"];
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    for secret in items(spec, "imagePullSecrets") {
        push(&mut refs.secrets, str_at(&secret, "/name"));
    }
    for kind in ["initContainers", "containers", "ephemeralContainers"] {
        for container in items(spec, kind) {
            for from in items(&container, "envFrom") {
                push(&mut refs.secrets, str_at(&from, "/secretRef/name"));
                push(&mut refs.config_maps, str_at(&from, "/configMapRef/name"));
            }
            for env in items(&container, "env") {
                push(
                    &mut refs.secrets,
                    str_at(&env, "/valueFrom/secretKeyRef/name"),
                );
                push(
                    &mut refs.config_maps,
                    str_at(&env, "/valueFrom/configMapKeyRef/name"),
                );
            }
        }
    }
    for volume in items(spec, "volumes") {
        for pointer in SECRET_REFS {
            push(&mut refs.secrets, str_at(&volume, pointer));
        }
        push(&mut refs.secrets, str_at(&volume, "/iscsi/secretRef/name"));
        push(&mut refs.config_maps, str_at(&volume, "/configMap/name"));
        for source in volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(&mut refs.secrets, str_at(source, "/secret/name"));
            push(&mut refs.config_maps, str_at(source, "/configMap/name"));
        }
        push(
            &mut refs.claims,
            str_at(&volume, "/persistentVolumeClaim/claimName"),
        );
        if volume.get("ephemeral").is_some_and(|e| !e.is_null())
            && let Some(name) = str_at(&volume, "/name")
        {
            push(&mut refs.claims, Some(&format!("{pod_name}-{name}")));
        }
    }
    for status in items(&pod["status"], "resourceClaimStatuses") {
        push(
            &mut refs.resource_claims,
            str_at(&status, "/resourceClaimName"),
        );
    }
    refs.service_account = str_at(spec, "/serviceAccountName").map(String::from);
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_of_reference_is_found_once() {
        let pod = json!({
            "metadata": {"name": "web"},
            "spec": {
                "serviceAccountName": "builder",
                "imagePullSecrets": [{"name": "pull"}],
                "initContainers": [{"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "init-env", "key": "k"}}}]}],
                "containers": [{
                    "envFrom": [{"secretRef": {"name": "from"}}, {"configMapRef": {"name": "cm-from"}}],
                    "env": [{"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "k"}}},
                            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "pull", "key": "k"}}}]
                }],
                "volumes": [
                    {"name": "s", "secret": {"secretName": "vol"}},
                    {"name": "c", "configMap": {"name": "cm-vol"}},
                    {"name": "p", "projected": {"sources": [{"secret": {"name": "proj"}}, {"configMap": {"name": "cm-proj"}}]}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                    {"name": "x", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi"}}}
                ]
            }
        });
        let refs = references(&pod);
        assert_eq!(
            refs.secrets,
            ["pull", "init-env", "from", "vol", "proj", "csi"]
        );
        assert_eq!(refs.config_maps, ["cm-from", "cm-env", "cm-vol", "cm-proj"]);
        assert_eq!(refs.claims, ["data", "web-scratch"]);
        assert_eq!(refs.service_account.as_deref(), Some("builder"));
    }

    #[test]
    fn a_bare_pod_refers_to_nothing() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}});
        assert_eq!(references(&pod), PodReferences::default());
    }
}
