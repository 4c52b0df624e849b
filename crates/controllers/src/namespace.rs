//! The namespace controller: a terminating namespace has everything in it deleted, resource by
//! resource as discovery lists them, and once nothing remains its `kubernetes` finalizer is
//! removed so the namespace goes (upstream's `namespace` controller and its deleter). Its
//! status conditions say what is holding it up meanwhile.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use crate::{Clients, Error, Shutdown};

/// The controller's name and service account.
pub const NAME: &str = "namespace-controller";
/// The finalizer this controller owns on `spec.finalizers`.
const FINALIZER: &str = "kubernetes";
/// How soon a namespace with content still going away is looked at again.
const RECHECK: Duration = Duration::from_secs(2);

/// Runs until shutdown.
pub async fn run(clients: Clients, shutdown: Shutdown) {
    let namespaces: Api<Namespace> = Api::all(clients.read.clone());
    Controller::new(namespaces, watcher::Config::default())
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile, error_policy, Arc::new(clients))
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> serde_json::Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": bosun_api::meta::now_rfc3339()})
}

async fn reconcile(namespace: Arc<Namespace>, clients: Arc<Clients>) -> Result<Action, Error> {
    if namespace.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let finalizers = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = namespace.name_any();
    let discovery = Discovery::new(clients.write.clone())
        .run()
        .await
        .map_err(Error::api(
            "discovering resources for",
            format!("namespace {name}"),
        ))?;
    let mut remaining: Vec<(String, usize)> = Vec::new();
    let mut failures = Vec::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced || !caps.supports_operation(verbs::LIST) {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(clients.write.clone(), &name, &resource);
            let listed = match api.list_metadata(&ListParams::default()).await {
                Ok(list) => list.items,
                Err(e) => {
                    failures.push(format!("{}: {e}", resource.plural));
                    continue;
                }
            };
            if listed.is_empty() {
                continue;
            }
            let live = listed
                .iter()
                .filter(|o| o.metadata.deletion_timestamp.is_none())
                .count();
            if live > 0 {
                let deleted = if caps.supports_operation(verbs::DELETE_COLLECTION) {
                    api.delete_collection(&DeleteParams::background(), &ListParams::default())
                        .await
                        .map(|_| ())
                } else {
                    let mut result = Ok(());
                    for object in &listed {
                        if let Err(e) = api
                            .delete(&object.name_any(), &DeleteParams::background())
                            .await
                            && !matches!(&e, kube::Error::Api(s) if s.code == 404)
                        {
                            result = Err(e);
                        }
                    }
                    result
                };
                if let Err(e) = deleted {
                    failures.push(format!("{}: {e}", resource.plural));
                }
            }
            let label = if resource.group.is_empty() {
                resource.plural.clone()
            } else {
                format!("{}.{}", resource.plural, resource.group)
            };
            remaining.push((label, listed.len()));
        }
    }
    if remaining.is_empty() && failures.is_empty() {
        let api: Api<Namespace> = Api::all(clients.write.clone());
        let mut finalized = (*namespace).clone();
        let left: Vec<String> = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
        finalized
            .spec
            .get_or_insert_with(Default::default)
            .finalizers = Some(left);
        return match api
            .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
            .await
        {
            Ok(_) => Ok(Action::await_change()),
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => Ok(Action::requeue(RECHECK)),
            Err(e) => Err(Error::api("finalizing", format!("namespace {name}"))(e)),
        };
    }
    // Say what is left, as upstream's conditions do, and look again shortly.
    let mut conditions = vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
    ];
    conditions.push(if failures.is_empty() {
        condition(
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        )
    } else {
        condition(
            "NamespaceDeletionContentFailure",
            "True",
            "ContentDeletionFailed",
            &format!(
                "Failed to delete all resource types, {} remaining: {}",
                failures.len(),
                failures.join(", ")
            ),
        )
    });
    if !remaining.is_empty() {
        remaining.sort();
        let counts: Vec<String> = remaining
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        conditions.push(condition(
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            &format!("Some resources are remaining: {}", counts.join(", ")),
        ));
    }
    let mut status = (*namespace).clone();
    let merged = serde_json::from_value(json!(conditions)).ok();
    status
        .status
        .get_or_insert_with(Default::default)
        .conditions = merged;
    let api: Api<Namespace> = Api::all(clients.write.clone());
    if let Err(e) = api
        .replace_status(&name, &PostParams::default(), &status)
        .await
    {
        tracing::debug!(namespace = %name, error = %e, "namespace status not updated");
    }
    Ok(Action::requeue(RECHECK))
}

fn error_policy(_: Arc<Namespace>, error: &Error, _: Arc<Clients>) -> Action {
    tracing::warn!(%error, "namespace deletion failed");
    Action::requeue(Duration::from_secs(2))
}
