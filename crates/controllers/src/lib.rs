//! Bosun's controller manager: upstream's kube-controller-manager loops, each a kube-rs
//! [`Controller`](kube::runtime::Controller) (watch-fed cache, de-duplicating work queue,
//! reconcile → `Action`) talking to the API server like any other client.
//!
//! Each controller acts as its own service account in `kube-system`
//! (`system:serviceaccount:kube-system:<name>`), bound by the default policy to upstream's
//! `system:controller:<name>` role, as kube-controller-manager does with
//! `--use-service-account-credentials`: a controller can do only what its role allows.
//!
//! Layout:
//! - [`events`]: Events recorded and aggregated as upstream's controllers do.
//! - [`credentials`]: the manager's own client and the per-controller token clients.
//! - [`serviceaccounts`]: a `default` ServiceAccount in every active namespace.
//! - [`root_ca`]: the `kube-root-ca.crt` ConfigMap in every namespace.
//! - [`token_cleaner`]: deletes bootstrap token Secrets once they expire.
//! - [`tokens`]: fills legacy ServiceAccount token Secrets, deletes orphaned ones.
//! - [`resourcequota`]: ResourceQuota status: hard limits mirrored, usage recounted.
//! - [`replicaset`]: ReplicaSets and ReplicationControllers keep their number of pods.
//! - [`garbage_collector`]: dependents of deleted owners deleted; foreground and orphan deletion.
//! - [`namespace`]: a terminating namespace is emptied, then finalized.
//! - [`nodelifecycle`]: silent nodes marked Unknown, condition taints, NoExecute evictions.
//! - [`aggregation`]: ClusterRoles with an `aggregationRule` collect the rules of the roles they select.

pub mod aggregation;
pub mod credentials;
pub mod events;
pub mod garbage_collector;
pub mod namespace;
pub mod nodelifecycle;
pub mod replicaset;
pub mod resourcequota;
pub mod root_ca;
pub mod serviceaccounts;
pub mod token_cleaner;
pub mod tokens;

use std::sync::Arc;

use bosun_auth::service_account::TokenIssuer;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use credentials::Credentials;

/// What went wrong in a reconcile; the controller logs it and retries with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action} {object}: {source}")]
    Api {
        /// What the controller was doing.
        action: &'static str,
        /// The object it was doing it to.
        object: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// An object could not be converted to or from its API form.
    #[error("encoding {object}: {reason}")]
    Encoding {
        /// The object.
        object: String,
        /// Why.
        reason: String,
    },
    /// A token could not be signed.
    #[error("signing a token for {object}: {reason}")]
    Signing {
        /// The secret the token was for.
        object: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    fn api(action: &'static str, object: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let object = object.into();
        move |source| Error::Api {
            action,
            object,
            source,
        }
    }
}

/// A controller's two clients, split as upstream's controller-manager splits them: caches are
/// filled through the manager's own identity (it may list and watch everything), writes are
/// made as the controller's service account, so its role bounds what it changes.
#[derive(Clone)]
pub struct Clients {
    /// Lists, watches and reads, as `system:kube-controller-manager`.
    pub read: kube::Client,
    /// Writes, as `system:serviceaccount:kube-system:<controller>`.
    pub write: kube::Client,
}

/// What the controllers need besides their clients.
pub struct ManagerConfig {
    /// How to reach the API server, as which identities.
    pub credentials: Credentials,
    /// The cluster CA clients verify the API server with (published as `kube-root-ca.crt`,
    /// put into legacy token Secrets).
    pub root_ca_pem: String,
    /// Signs legacy ServiceAccount tokens.
    pub token_issuer: Arc<TokenIssuer>,
    /// How long a node may go without a heartbeat before it is Unknown
    /// (`--node-monitor-grace-period`).
    pub node_monitor_grace_period: std::time::Duration,
}

/// The running controllers; dropping the handle does not stop them, [`Manager::shutdown`] does.
pub struct Manager {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

type ControllerFuture = BoxFuture<'static, ()>;

/// A signal each controller stops on.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once shutdown is requested.
    pub async fn requested(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

impl Manager {
    /// Starts every controller, each with its own identity.
    pub async fn start(config: ManagerConfig) -> Result<Manager, String> {
        let (stop, stop_rx) = watch::channel(false);
        let shutdown = Shutdown(stop_rx);
        let config = Arc::new(config);
        let mut tasks = JoinSet::new();
        let manager = config.credentials.manager_client().await?;
        tasks.spawn(tokens::run(
            manager.clone(),
            config.clone(),
            shutdown.clone(),
        ));
        tracing::info!(controller = tokens::NAME, "started");
        for name in [
            serviceaccounts::NAME,
            root_ca::NAME,
            aggregation::NAME,
            resourcequota::NAME,
            token_cleaner::NAME,
            nodelifecycle::NAME,
            namespace::NAME,
            garbage_collector::NAME,
            replicaset::REPLICASET,
            replicaset::REPLICATION,
        ] {
            let write = config
                .credentials
                .controller_client(name, shutdown.clone())
                .await
                .map_err(|e| format!("credentials for {name}: {e}"))?;
            let clients = Clients {
                read: manager.clone(),
                write,
            };
            let stop = shutdown.clone();
            let run: ControllerFuture = match name {
                serviceaccounts::NAME => Box::pin(serviceaccounts::run(clients, stop)),
                root_ca::NAME => Box::pin(root_ca::run(clients, config.root_ca_pem.clone(), stop)),
                resourcequota::NAME => Box::pin(resourcequota::run(clients, stop)),
                token_cleaner::NAME => Box::pin(token_cleaner::run(clients, stop)),
                replicaset::REPLICASET => Box::pin(replicaset::run::<
                    k8s_openapi::api::apps::v1::ReplicaSet,
                >(clients, name, stop)),
                replicaset::REPLICATION => Box::pin(replicaset::run::<
                    k8s_openapi::api::core::v1::ReplicationController,
                >(clients, name, stop)),
                namespace::NAME => Box::pin(namespace::run(clients, stop)),
                garbage_collector::NAME => Box::pin(garbage_collector::run(clients, stop)),
                nodelifecycle::NAME => Box::pin(nodelifecycle::run(
                    clients,
                    config.node_monitor_grace_period,
                    stop,
                )),
                _ => Box::pin(aggregation::run(clients, stop)),
            };
            tasks.spawn(run);
            tracing::info!(controller = name, "started");
        }
        Ok(Manager { stop, tasks })
    }

    /// Stops the controllers and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}
