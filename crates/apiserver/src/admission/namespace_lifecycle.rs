//! NamespaceLifecycle: new objects go only into namespaces that exist and are not being
//! deleted.

use bosun_api::ApiError;
use serde_json::{Value, json};

use super::{Operation, Request};
use crate::registry::Registry;

/// Refuses a create into a missing (404) or terminating (403) namespace.
pub async fn admit(registry: &Registry, req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    if req.operation != Operation::Create || !req.def.namespaced() {
        return Ok(());
    }
    let Some(namespace) = obj.pointer("/metadata/namespace").and_then(Value::as_str) else {
        return Ok(());
    };
    let ns_obj = registry
        .find_core("namespaces", None, namespace)
        .await?
        .ok_or_else(|| ApiError::not_found("", "namespaces", namespace))?;
    let terminating = ns_obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
        || ns_obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
    if !terminating {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reason = format!(
        "unable to create new content in namespace {namespace} because it is being terminated"
    );
    let mut error = ApiError::forbidden_object(&req.def.group, &req.def.plural, name, &reason);
    if let Some(details) = error.details.as_mut() {
        details["causes"] = json!([{"reason": "NamespaceTerminating", "message": reason, "field": "metadata.namespace"}]);
    }
    Err(error)
}
