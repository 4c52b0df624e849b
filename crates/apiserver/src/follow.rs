//! Keeping an in-memory view current from one resource: the server's own informer, for the
//! indexes its authorizers read on every request (RBAC objects, the node graph), which must
//! answer without a store round trip and without awaiting.

use std::sync::Arc;
use std::time::Duration;

use bosun_api::{ApiError, ResourceDef};
use bosun_store::{EventKind, KeyRange};
use futures::StreamExt;
use serde_json::Value;

use crate::registry::{ListQuery, Registry, from_kv};

/// One change to the followed resource.
pub enum Change {
    /// Every object as of now: replace whatever was known (first load and re-lists).
    Reset(Vec<Value>),
    /// An object created or changed.
    Put(Value),
    /// An object deleted, as it last was.
    Delete(Value),
}

/// Lists `def`'s objects into `apply` before returning, then follows their changes in the
/// background, re-listing after any interruption, for as long as the process runs.
pub async fn follow<F>(registry: &Registry, def: Arc<ResourceDef>, apply: F) -> Result<(), ApiError>
where
    F: Fn(Change) + Send + Sync + 'static,
{
    let revision = load(registry, &def, &apply).await?;
    let registry = registry.clone();
    tokio::spawn(async move {
        let mut revision = revision;
        loop {
            if let Err(e) = watch(&registry, &def, &apply, revision).await {
                tracing::warn!(resource = %def.plural, error = %e.message, "re-listing a followed resource");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            match load(&registry, &def, &apply).await {
                Ok(r) => revision = r,
                Err(e) => {
                    tracing::warn!(resource = %def.plural, error = %e.message, "listing a followed resource failed")
                }
            }
        }
    });
    Ok(())
}

async fn load(
    registry: &Registry,
    def: &ResourceDef,
    apply: &impl Fn(Change),
) -> Result<i64, ApiError> {
    let page = registry.list(def, None, &ListQuery::default()).await?;
    apply(Change::Reset(page.items));
    Ok(page.revision)
}

async fn watch(
    registry: &Registry,
    def: &ResourceDef,
    apply: &impl Fn(Change),
    revision: i64,
) -> Result<(), ApiError> {
    let mut events = registry
        .store
        .watch(KeyRange::Prefix(def.prefix(None)), Some(revision + 1))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| ApiError::internal(e.to_string()))?;
        match event.kind {
            EventKind::Put => apply(Change::Put(from_kv(def, &event.kv)?)),
            EventKind::Delete => {
                if let Some(prev) = event.prev {
                    apply(Change::Delete(from_kv(def, &prev)?));
                }
            }
            EventKind::Progress => {}
        }
    }
    Ok(())
}
