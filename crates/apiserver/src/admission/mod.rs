//! Admission: the plugins every create and update passes after authorization, in upstream's
//! order. Mutating plugins may change the object (a pod's service account, LimitRange defaults);
//! validating plugins only accept or refuse it (quota). A refusal is the whole answer, and
//! nothing is stored.
//!
//! Plugins see the object after the kind's defaults are applied and, for validation, after the
//! kind's own validation passed, as upstream's admission chain does.

mod default_storage_class;
mod default_tolerations;
mod limit_ranger;
mod namespace_lifecycle;
mod node_restriction;
mod pod_security;
mod priority;
mod resource_quota;
mod service_account;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bosun_api::{ApiError, ResourceDef};
use serde_json::Value;

use crate::registry::Registry;

/// What admission keeps between requests: ResourceQuota's per-namespace turn and the quotas
/// it charged last, which may be newer than the watch cache's copy (upstream's look-aside
/// cache in its quota plugin).
#[derive(Default)]
pub struct AdmissionState {
    quota_turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    charged: Mutex<HashMap<(String, String), Value>>,
    /// Calls admission webhooks (keeping connections to them), made on first use.
    webhooks: std::sync::OnceLock<Arc<bosun_webhook::Dispatcher>>,
}

fn revision(obj: &Value) -> i64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or_default()
}

fn quota_key(quota: &Value) -> (String, String) {
    let (namespace, name) = names(quota);
    (namespace.to_string(), name.to_string())
}

impl AdmissionState {
    /// Waits for the namespace's turn to charge its quotas.
    pub async fn quota_turn(&self, namespace: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = self
            .quota_turns
            .lock()
            .expect("quota turns lock")
            .entry(namespace.to_string())
            .or_default()
            .clone();
        turn.lock_owned().await
    }

    /// Replaces `quota` with the copy this server last wrote, when that is newer.
    pub fn newest_charge(&self, quota: &mut Value) {
        let charged = self.charged.lock().expect("charged quotas lock");
        if let Some(newer) = charged.get(&quota_key(quota))
            && revision(newer) > revision(quota)
        {
            *quota = newer.clone();
        }
    }

    /// Remembers a quota as just written.
    pub fn remember_charge(&self, quota: Value) {
        let mut charged = self.charged.lock().expect("charged quotas lock");
        // Bounded like upstream's look-aside cache: old entries only save a retry.
        if charged.len() >= 1024 {
            charged.clear();
        }
        charged.insert(quota_key(&quota), quota);
    }
}

/// Which write is being admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to a stored object.
    Update,
    /// The removal of a stored object.
    Delete,
}

impl Operation {
    /// Upstream's name for the operation (`CREATE`), as admission messages and reviews use it.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
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

/// Runs the mutating plugins, in upstream's order: the built-in ones, then the mutating
/// webhooks (which may have the built-in ones run again).
pub async fn mutate(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    mutate_builtin(registry, req, obj).await?;
    webhooks::mutate(registry, req, obj).await
}

/// Runs the mutating plugins that apply to updates: the mutating webhooks.
pub async fn mutate_update(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    webhooks::mutate(registry, req, obj).await
}

/// The built-in mutating plugins.
async fn mutate_builtin(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    namespace_lifecycle::admit(registry, req, obj).await?;
    limit_ranger::admit(registry, req, obj).await?;
    service_account::admit(registry, req, obj).await?;
    priority::admit(registry, req, obj).await?;
    default_tolerations::admit(req, obj);
    default_storage_class::admit(registry, req, obj).await?;
    Ok(())
}

/// Runs the validating plugins, in upstream's order.
pub async fn validate(registry: &Registry, req: &Request<'_>, obj: &Value) -> Result<(), ApiError> {
    node_restriction::admit(registry, req, obj).await?;
    limit_ranger::validate(registry, req, obj).await?;
    service_account::validate(req, obj)?;
    pod_security::validate(registry, req, obj).await?;
    priority::validate(registry, req, obj).await?;
    webhooks::validate(registry, req, Some(obj)).await?;
    resource_quota::validate(registry, req, obj).await?;
    Ok(())
}

/// Runs the plugins that look at deletes, with the object as stored.
pub async fn admit_delete(
    registry: &Registry,
    req: &Request<'_>,
    old: &Value,
) -> Result<(), ApiError> {
    node_restriction::admit_delete(req, old)?;
    webhooks::mutate_delete(registry, req).await?;
    webhooks::validate(registry, req, None).await
}

/// Refuses a TokenRequest a kubelet may not make (NodeRestriction), with the TokenRequest's
/// 403 wording.
pub fn admit_token_request(
    user: &bosun_auth::UserInfo,
    account: &str,
    request: &Value,
    pod: Option<&Value>,
) -> Result<(), ApiError> {
    node_restriction::admit_token_request(user, request, pod)
        .map_err(|reason| ApiError::forbidden_object("", "serviceaccounts", account, &reason))
}
