//! Simulated nodes: what `bosun simulate` runs. Each node registers and heartbeats like a
//! kubelet (a Node with capacity, labels, taints and Ready conditions; a Lease in
//! kube-node-lease renewed every few seconds) and drives the pods bound to it as a kubelet
//! would report them, without running anything: Running and Ready at once, Jobs' pods
//! Succeeded after a set time, deleted pods gone once their containers "stop". Stopping the
//! process stops the heartbeats, which is how a test makes its nodes fail.
//!
//! Layout:
//! - [`config`]: what the nodes look like (capacity, labels, taints) and how they behave.
//! - [`node`]: the Node and Lease objects, registration and heartbeats.
//! - [`pods`]: one watch over all pods, acting for the pods bound to these nodes.
//!
//! One process simulates many nodes through one client and one pod watch (a real kubelet
//! watches its own pods; thousands of watches would measure the simulation, not the cluster).

pub mod config;
pub mod node;
pub mod pods;

pub use config::SimConfig;

use std::sync::Arc;

/// What stops a simulation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action} {object}: {source}")]
    Api {
        /// What the simulation was doing.
        action: &'static str,
        /// The object it was doing it to.
        object: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// A closure wrapping a client error with what was being done to which object.
    pub fn api(
        action: &'static str,
        object: impl Into<String>,
    ) -> impl FnOnce(kube::Error) -> Error {
        let object = object.into();
        move |source| Error::Api {
            action,
            object,
            source,
        }
    }
}

/// Registers the nodes, then heartbeats and drives their pods until `shutdown` resolves.
pub async fn run(
    client: kube::Client,
    config: SimConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let config = Arc::new(config);
    let version = client
        .apiserver_version()
        .await
        .map_err(Error::api("reading", "/version"))?
        .git_version;
    let nodes = node::register(&client, &config, &version).await?;
    tracing::info!(nodes = nodes.len(), "simulated nodes registered");
    let heartbeats = node::heartbeat(client.clone(), config.clone(), nodes.clone());
    let pods = pods::drive(client, config, nodes);
    tokio::select! {
        r = heartbeats => r,
        r = pods => r,
        _ = shutdown => Ok(()),
    }
}
