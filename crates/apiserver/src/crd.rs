//! The CRD controller inside the API server: serves what CustomResourceDefinitions define.
//!
//! It lists CRDs from the store and then follows their changes with a store watch: each CRD's
//! served versions become rows of the resource table (discovery, OpenAPI and REST follow at
//! once), its status records the names as accepted and the CRD as Established, and when a CRD
//! is deleted its custom resources are removed before the cleanup finalizer is released. Every
//! server runs one, so each serves every CRD.

use std::sync::Arc;
use std::time::Duration;

use bosun_api::crd::{self, CLEANUP_FINALIZER};
use bosun_api::{ApiError, ResourceDef, meta};
use bosun_store::{EventKind, KeyRange, ListOptions};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::openapi::OpenApiCache;
use crate::registry::{ListQuery, Registry, WriteOptions, from_kv};

/// Starts the controller; it runs until the process ends.
pub fn spawn(registry: Registry, openapi: Arc<OpenApiCache>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = run(&registry, &openapi).await {
                tracing::warn!(error = %e, "CRD controller restarting");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

fn crd_def(registry: &Registry) -> Arc<ResourceDef> {
    registry
        .table
        .lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("CRDs are served")
}

/// Lists every CRD, then follows changes until the watch ends.
pub async fn run(registry: &Registry, openapi: &OpenApiCache) -> Result<(), ApiError> {
    let def = crd_def(registry);
    let page = registry.list(&def, None, &ListQuery::default()).await?;
    for crd in &page.items {
        sync(registry, openapi, crd).await;
    }
    let mut events = registry
        .store
        .watch(KeyRange::Prefix(def.prefix(None)), Some(page.revision + 1))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| ApiError::internal(e.to_string()))?;
        match event.kind {
            EventKind::Put => sync(registry, openapi, &from_kv(&def, &event.kv)?).await,
            EventKind::Progress => {}
            EventKind::Delete => {
                if let Some(prev) = event.prev {
                    let crd = from_kv(&def, &prev)?;
                    unserve(registry, openapi, &crd);
                }
            }
        }
    }
    Ok(())
}

fn unserve(registry: &Registry, openapi: &OpenApiCache, crd: &Value) {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if registry
        .table
        .all()
        .iter()
        .any(|d| d.group == group && d.plural == plural && d.custom.is_some())
    {
        registry.table.remove(group, plural);
        openapi.invalidate();
        tracing::info!(group, plural, "stopped serving custom resources");
    }
}

/// Brings the table and the CRD's status in line with one CRD.
async fn sync(registry: &Registry, openapi: &OpenApiCache, crd: &Value) {
    let name = meta::name(crd).unwrap_or_default().to_string();
    if crd.pointer("/metadata/deletionTimestamp").is_some() {
        if let Err(e) = cleanup(registry, openapi, crd).await {
            tracing::warn!(crd = %name, error = %e, "removing custom resources");
        }
        return;
    }
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // Built-in resources are never shadowed.
    if registry
        .table
        .all()
        .iter()
        .any(|d| d.group == group && d.plural == plural && d.custom.is_none())
    {
        tracing::warn!(crd = %name, "a CRD may not redefine a built-in resource");
        return;
    }
    let rows = crd::resource_defs(crd);
    let served: Vec<String> = rows.iter().map(|r| r.version.clone()).collect();
    registry.table.remove(&group, &plural);
    for row in rows {
        registry.table.upsert(row);
    }
    openapi.invalidate();
    tracing::info!(crd = %name, versions = ?served, "serving custom resources");
    if !established(crd) {
        let def = crd_def(registry);
        let storage = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v.get("storage") == Some(&Value::Bool(true)))
            })
            .and_then(|v| v.get("name").cloned())
            .unwrap_or(Value::Null);
        let now = meta::now_rfc3339();
        let status = json!({
            "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(Value::Null),
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
            "storedVersions": [storage],
        });
        let opts = WriteOptions {
            field_manager: "kube-apiserver".into(),
            ..Default::default()
        };
        let set_status = move |old: &Value| -> Result<Value, ApiError> {
            let mut o = old.clone();
            o["status"] = status.clone();
            Ok(o)
        };
        if let Err(e) = registry
            .patch(&def, None, &name, &set_status, Some("status"), &opts)
            .await
        {
            tracing::warn!(crd = %name, error = %e, "recording the CRD as established");
        }
    }
}

fn established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

/// Deletes every custom resource of a deleted CRD, stops serving them, then releases the
/// CRD's cleanup finalizer so that its deletion completes.
async fn cleanup(registry: &Registry, openapi: &OpenApiCache, crd: &Value) -> Result<(), ApiError> {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let prefix = format!("/registry/{group}/{plural}/");
    loop {
        let page = registry
            .store
            .list(
                &prefix,
                ListOptions {
                    limit: Some(500),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for kv in &page.kvs {
            let _ = registry.store.delete(&kv.key, None).await;
        }
        if !page.more {
            break;
        }
    }
    unserve(registry, openapi, crd);
    let name = meta::name(crd).unwrap_or_default().to_string();
    let def = crd_def(registry);
    let opts = WriteOptions {
        field_manager: "kube-apiserver".into(),
        ..Default::default()
    };
    let release = |old: &Value| -> Result<Value, ApiError> {
        let mut o = old.clone();
        if let Some(list) = o
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            list.retain(|f| f != CLEANUP_FINALIZER);
        }
        Ok(o)
    };
    match registry
        .patch(&def, None, &name, &release, None, &opts)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
