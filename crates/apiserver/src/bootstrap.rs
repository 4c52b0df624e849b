//! What exists from the first start: the system namespaces.

use bosun_api::ApiError;
use serde_json::json;

use crate::registry::{Registry, WriteOptions};

/// Namespaces every cluster has.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates what is missing; what exists is left alone, so restarts change nothing.
pub async fn ensure_system_objects(registry: &Registry) -> Result<(), ApiError> {
    let namespaces = registry
        .table
        .lookup("", "v1", "namespaces")
        .expect("namespaces are served");
    for ns in SYSTEM_NAMESPACES {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match registry
            .create(&namespaces, None, body, &WriteOptions::default())
            .await
        {
            Ok(_) => tracing::info!(namespace = ns, "created system namespace"),
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
