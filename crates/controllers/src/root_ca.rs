//! The root CA publisher: a `kube-root-ca.crt` ConfigMap in every namespace holding the CA that
//! signs the API server's certificate, for pods' projected service account volumes
//! (upstream's `rootcacertpublisher`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::{Clients, Error, Shutdown};

/// The controller's name and service account.
pub const NAME: &str = "root-ca-cert-publisher";
/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
const KEY: &str = "ca.crt";
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct Context {
    clients: Clients,
    ca_pem: String,
}

/// Runs until shutdown.
pub async fn run(clients: Clients, ca_pem: String, shutdown: Shutdown) {
    let namespaces: Api<Namespace> = Api::all(clients.read.clone());
    let config_maps: Api<ConfigMap> = Api::all(clients.read.clone());
    let only_ours = watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP}"));
    Controller::new(namespaces, watcher::Config::default())
        .watches(config_maps, only_ours, |cm| {
            cm.namespace().map(|ns| ObjectRef::new(&ns))
        })
        .graceful_shutdown_on(shutdown.requested())
        .run(
            reconcile,
            error_policy,
            Arc::new(Context { clients, ca_pem }),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(namespace: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if namespace.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = namespace.name_any();
    let api: Api<ConfigMap> = Api::namespaced(ctx.clients.read.clone(), &ns);
    let object = format!("configmap {ns}/{CONFIG_MAP}");
    let wanted = BTreeMap::from([(KEY.to_string(), ctx.ca_pem.clone())]);
    let existing = api
        .get_opt(CONFIG_MAP)
        .await
        .map_err(Error::api("reading", object.clone()))?;
    let api: Api<ConfigMap> = Api::namespaced(ctx.clients.write.clone(), &ns);
    let result = match existing {
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(CONFIG_MAP.to_string()),
                    annotations: Some(BTreeMap::from([(
                        DESCRIPTION_ANNOTATION.to_string(),
                        DESCRIPTION.to_string(),
                    )])),
                    ..Default::default()
                },
                data: Some(wanted),
                ..Default::default()
            };
            api.create(&PostParams::default(), &cm).await.map(|_| ())
        }
        Some(mut cm) => {
            let described = cm
                .annotations()
                .get(DESCRIPTION_ANNOTATION)
                .is_some_and(|d| !d.is_empty());
            if cm.data.as_ref() == Some(&wanted) && described {
                return Ok(Action::await_change());
            }
            cm.data = Some(wanted);
            cm.binary_data = None;
            cm.annotations_mut()
                .entry(DESCRIPTION_ANNOTATION.to_string())
                .or_insert_with(|| DESCRIPTION.to_string());
            api.replace(CONFIG_MAP, &PostParams::default(), &cm)
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(Action::await_change()),
        // The namespace is going away, or someone else wrote first (the watch brings us back).
        Err(kube::Error::Api(e)) if matches!(e.code, 403 | 404 | 409) => Ok(Action::await_change()),
        Err(e) => Err(Error::api("writing", object)(e)),
    }
}

fn error_policy(_: Arc<Namespace>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(%error, "root CA publish failed");
    Action::requeue(Duration::from_secs(1))
}
