//! The token cleaner: bootstrap token Secrets are deleted once their `expiration` passes
//! (upstream's `tokencleaner`), so a join token handed out for a day does not linger.

use std::sync::Arc;
use std::time::Duration;

use bosun_auth::bootstrap_token::{NAMESPACE, SECRET_TYPE, expires_at};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::{Clients, Error, Shutdown};

/// The controller's name and service account.
pub const NAME: &str = "token-cleaner";

/// Runs until shutdown.
pub async fn run(clients: Clients, shutdown: Shutdown) {
    let secrets: Api<Secret> = Api::namespaced(clients.read.clone(), NAMESPACE);
    let tokens_only = watcher::Config::default().fields(&format!("type={SECRET_TYPE}"));
    Controller::new(secrets, tokens_only)
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile, error_policy, Arc::new(clients))
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(secret: Arc<Secret>, clients: Arc<Clients>) -> Result<Action, Error> {
    let expiration = secret
        .data
        .as_ref()
        .and_then(|d| d.get("expiration"))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned());
    let Some(expiration) = expiration else {
        return Ok(Action::await_change());
    };
    let now = bosun_api::meta::now_unix();
    // An unreadable expiration is treated as passed, as upstream's cleaner does.
    let expires = expires_at(&expiration).unwrap_or(now);
    if expires > now {
        let wait = (expires - now) as u64;
        return Ok(Action::requeue(Duration::from_secs(wait)));
    }
    let name = secret.name_any();
    let api: Api<Secret> = Api::namespaced(clients.write.clone(), NAMESPACE);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: secret.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    tracing::info!(secret = %name, %expiration, "deleting expired bootstrap token");
    match api.delete(&name, &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => Ok(Action::await_change()),
        Err(e) => Err(Error::api("deleting", format!("secret {NAMESPACE}/{name}"))(e)),
    }
}

fn error_policy(_: Arc<Secret>, error: &Error, _: Arc<Clients>) -> Action {
    tracing::warn!(%error, "bootstrap token cleanup failed");
    Action::requeue(Duration::from_secs(5))
}
