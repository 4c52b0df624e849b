//! What exists from the first start: the system namespaces and the `kubernetes` Service, with
//! its Endpoints and EndpointSlice pointing at this server, and upstream's default RBAC roles
//! and bindings.

use bosun_api::ApiError;
use serde_json::{Value, json};

use crate::registry::{Registry, WriteOptions};

/// Namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn ensure(
    registry: &Registry,
    group: &str,
    version: &str,
    plural: &str,
    ns: Option<&str>,
    body: Value,
) -> Result<(), ApiError> {
    let def = registry
        .table
        .lookup(group, version, plural)
        .expect("bootstrap kinds are served");
    let opts = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    };
    match registry.create(&def, ns, body, &opts).await {
        Ok(obj) => {
            tracing::info!(kind = %def.kind, name = obj.0["metadata"]["name"].as_str().unwrap_or_default(), "created");
            Ok(())
        }
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// [`ensure`] for one typed object of the bootstrap RBAC policy.
async fn ensure_rbac<T: serde::Serialize>(
    registry: &Registry,
    plural: &str,
    kind: &str,
    ns: Option<&str>,
    object: &T,
) -> Result<(), ApiError> {
    let mut body = serde_json::to_value(object).map_err(|e| ApiError::internal(e.to_string()))?;
    body["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    body["kind"] = json!(kind);
    ensure(
        registry,
        "rbac.authorization.k8s.io",
        "v1",
        plural,
        ns,
        body,
    )
    .await
}

/// Creates what is missing; what exists is left alone, so restarts change nothing.
/// `advertise` is the `ip:port` clients inside the cluster reach this server at.
pub async fn ensure_system_objects(registry: &Registry, advertise: &str) -> Result<(), ApiError> {
    for ns in SYSTEM_NAMESPACES {
        ensure(
            registry,
            "",
            "v1",
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    let (ip, port) = advertise.rsplit_once(':').unwrap_or((advertise, "6443"));
    let port: i64 = port.parse().unwrap_or(6443);
    let first_ip = registry.network.first_ip().to_string();
    let labels = json!({"component": "apiserver", "provider": "kubernetes"});
    ensure(registry, "", "v1", "services", Some("default"), json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "labels": labels},
        "spec": {"clusterIP": first_ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}], "sessionAffinity": "None", "type": "ClusterIP"},
    })).await?;
    ensure(registry, "", "v1", "endpoints", Some("default"), json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    })).await?;
    ensure(registry, "discovery.k8s.io", "v1", "endpointslices", Some("default"), json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "kube-apiserver"}},
        "addressType": if ip.contains(':') { "IPv6" } else { "IPv4" },
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })).await?;
    // Upstream's built-in PriorityClasses, for the cluster's own critical pods.
    for (name, value, description) in [
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        ensure(registry, "scheduling.k8s.io", "v1", "priorityclasses", None, json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value, "description": description, "preemptionPolicy": "PreemptLowerPriority",
        }))
        .await?;
    }
    use bosun_auth::rbac::bootstrap as policy;
    for role in policy::cluster_roles() {
        ensure_rbac(registry, "clusterroles", "ClusterRole", None, &role).await?;
    }
    for binding in policy::cluster_role_bindings() {
        ensure_rbac(
            registry,
            "clusterrolebindings",
            "ClusterRoleBinding",
            None,
            &binding,
        )
        .await?;
    }
    for role in policy::roles() {
        let ns = role.metadata.namespace.clone();
        ensure_rbac(registry, "roles", "Role", ns.as_deref(), &role).await?;
    }
    for binding in policy::role_bindings() {
        let ns = binding.metadata.namespace.clone();
        ensure_rbac(
            registry,
            "rolebindings",
            "RoleBinding",
            ns.as_deref(),
            &binding,
        )
        .await?;
    }
    Ok(())
}
