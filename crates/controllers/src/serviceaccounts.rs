//! The ServiceAccounts controller: every active namespace has a `default` ServiceAccount, made
//! again if deleted (upstream's `serviceaccounts_controller.go`).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::{Clients, Error, Shutdown};

/// The controller's name and service account.
pub const NAME: &str = "service-account-controller";
/// The accounts every namespace gets.
const ENSURED: &str = "default";

/// Runs until shutdown.
pub async fn run(clients: Clients, shutdown: Shutdown) {
    let namespaces: Api<Namespace> = Api::all(clients.read.clone());
    let accounts: Api<ServiceAccount> = Api::all(clients.read.clone());
    Controller::new(namespaces, watcher::Config::default())
        .watches(accounts, watcher::Config::default(), |sa| {
            sa.namespace().map(|ns| ObjectRef::new(&ns))
        })
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile, error_policy, Arc::new(clients))
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(namespace: Arc<Namespace>, clients: Arc<Clients>) -> Result<Action, Error> {
    let phase = namespace.status.as_ref().and_then(|s| s.phase.as_deref());
    if namespace.metadata.deletion_timestamp.is_some() || phase.is_some_and(|p| p != "Active") {
        return Ok(Action::await_change());
    }
    let ns = namespace.name_any();
    let accounts: Api<ServiceAccount> = Api::namespaced(clients.read.clone(), &ns);
    if accounts
        .get_opt(ENSURED)
        .await
        .map_err(Error::api(
            "reading",
            format!("serviceaccount {ns}/{ENSURED}"),
        ))?
        .is_some()
    {
        return Ok(Action::await_change());
    }
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(ENSURED.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    let accounts: Api<ServiceAccount> = Api::namespaced(clients.write.clone(), &ns);
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => tracing::info!(namespace = %ns, "created the default service account"),
        // Already there, or the namespace began terminating meanwhile: nothing to do.
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 403 || e.code == 404 => {}
        Err(e) => {
            return Err(Error::api(
                "creating",
                format!("serviceaccount {ns}/{ENSURED}"),
            )(e));
        }
    }
    Ok(Action::await_change())
}

fn error_policy(_: Arc<Namespace>, error: &Error, _: Arc<Clients>) -> Action {
    tracing::warn!(%error, "service account sync failed");
    Action::requeue(Duration::from_secs(1))
}
