//! Admission: the plugins every create and update passes after authorization, in upstream's
//! order. Mutating plugins may change the object (a pod's service account, LimitRange defaults);
//! validating plugins only accept or refuse it (quota). A refusal is the whole answer, and
//! nothing is stored.
//!
//! Plugins see the object after the kind's defaults are applied and, for validation, after the
//! kind's own validation passed, as upstream's admission chain does.

mod default_tolerations;
mod limit_ranger;
mod namespace_lifecycle;
mod resource_quota;
mod service_account;

use bosun_api::{ApiError, ResourceDef};
use serde_json::Value;

use crate::registry::Registry;

/// Which write is being admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to a stored object.
    Update,
}

/// What a plugin knows about a write.
pub struct Request<'a> {
    /// The resource written.
    pub def: &'a ResourceDef,
    /// Create or update.
    pub operation: Operation,
    /// The subresource written (`status`), if any.
    pub subresource: Option<&'a str>,
    /// The stored object, for updates.
    pub old: Option<&'a Value>,
    /// Who writes; `None` for the server's own writes.
    pub user: Option<&'a bosun_auth::UserInfo>,
    /// Nothing will be stored (`dryRun`); plugins must not record side effects.
    pub dry_run: bool,
}

impl Request<'_> {
    /// Whether this is a write of the core resource `plural` itself (no subresource).
    pub fn is_core(&self, plural: &str) -> bool {
        self.def.group.is_empty() && self.def.plural == plural && self.subresource.is_none()
    }
}

/// The object's namespace and the name refusals quote (the generateName when no name is set
/// yet, as upstream's `admission.NewForbidden` does).
pub fn names(obj: &Value) -> (&str, &str) {
    let namespace = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or_else(|| obj["metadata"]["generateName"].as_str())
        .unwrap_or_default();
    (namespace, name)
}

/// Runs the mutating plugins, in upstream's order.
pub async fn mutate(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    namespace_lifecycle::admit(registry, req, obj).await?;
    limit_ranger::admit(registry, req, obj).await?;
    service_account::admit(registry, req, obj).await?;
    default_tolerations::admit(req, obj);
    Ok(())
}

/// Runs the validating plugins, in upstream's order.
pub async fn validate(registry: &Registry, req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    limit_ranger::validate(registry, req, obj).await?;
    service_account::validate(req, obj)?;
    resource_quota::validate(registry, req, obj).await?;
    Ok(())
}
