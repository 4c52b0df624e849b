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
    for role in bosun_auth::rbac::bootstrap::cluster_roles() {
        let mut body =
            serde_json::to_value(&role).map_err(|e| ApiError::internal(e.to_string()))?;
        body["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
        body["kind"] = json!("ClusterRole");
        ensure(
            registry,
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            None,
            body,
        )
        .await?;
    }
    for binding in bosun_auth::rbac::bootstrap::cluster_role_bindings() {
        let mut body =
            serde_json::to_value(&binding).map_err(|e| ApiError::internal(e.to_string()))?;
        body["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
        body["kind"] = json!("ClusterRoleBinding");
        ensure(
            registry,
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            None,
            body,
        )
        .await?;
    }
    for role in bosun_auth::rbac::bootstrap::roles() {
        let ns = role.metadata.namespace.clone();
        let mut body =
            serde_json::to_value(&role).map_err(|e| ApiError::internal(e.to_string()))?;
        body["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
        body["kind"] = json!("Role");
        ensure(
            registry,
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            ns.as_deref(),
            body,
        )
        .await?;
    }
    for binding in bosun_auth::rbac::bootstrap::role_bindings() {
        let ns = binding.metadata.namespace.clone();
        let mut body =
            serde_json::to_value(&binding).map_err(|e| ApiError::internal(e.to_string()))?;
        body["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
        body["kind"] = json!("RoleBinding");
        ensure(
            registry,
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            ns.as_deref(),
            body,
        )
        .await?;
    }
    Ok(())
}
