//! Bosun's Kubernetes API server.
//!
//! A request flows: TLS (the client certificate names the user) → authentication →
//! [`path`] (which resource, namespace, name, subresource) → authorization ([`authz`]) →
//! [`rest`] (the verb's generic handler) → [`registry`] (metadata rules, decoding, validation)
//! → [`cache`] for lists and watches, the datastore for everything else.
//! Nothing here is written per kind: every resource is served by the same handlers, driven by
//! its row in the resource table (`bosun_api::resources`).
//!
//! Layout, top-down:
//! - [`server`]: the HTTPS listener (HTTP/1.1 and HTTP/2) and graceful shutdown.
//! - [`tls`]: the serving certificate and client-certificate authentication.
//! - [`authz`]: bearer-token authentication and RBAC authorization of each request.
//! - [`service_account`]: ServiceAccount tokens: checking them and the TokenRequest API.
//! - [`path`]: parsing Kubernetes URL paths.
//! - [`crd`]: the controller that serves what CustomResourceDefinitions define.
//! - [`discovery`]: `/version`, `/api`, `/apis` and the per-group-version resource lists.
//! - [`rest`]: the generic verb handlers (get, list, watch, create, update, patch, delete).
//! - [`admission`]: the admission plugins writes pass (namespace lifecycle, service accounts, ...).
//! - [`audit`]: the audit log (upstream's Policy and Event formats, rotation).
//! - [`follow`]: in-memory views kept current from a resource (the authorizers' indexes).
//! - [`node_graph`]: which objects each node's pods use, for the Node authorizer.
//! - [`notes`]: warnings and audit annotations gathered while a request is handled.
//! - [`escalation`]: users may grant through RBAC objects only what they hold.
//! - [`review`]: access, rules and self reviews, answered without being stored.
//! - [`binding`]: assigning a pod to a node (the scheduler's Binding subresource).
//! - [`finalize`]: the namespace finalize subresource that ends a namespace's deletion.
//! - [`scale`]: the scale subresource's Scale view of workloads.
//! - [`cache`]: the watch cache lists and watches are served from.
//! - [`registry`]: object operations over the store, shared by every resource.
//! - [`openapi`]: the OpenAPI v3 documents kubectl validates and explains with.
//! - [`metrics`]: `/metrics` in Prometheus' text format.
//! - [`negotiate`]: request bodies in and responses out (JSON, YAML, tables).
//! - [`allocate`]: Service cluster IPs and node ports.
//! - [`bootstrap`]: what exists at first start (system namespaces, default RBAC roles).

pub mod admission;
pub mod allocate;
pub mod audit;
pub mod authz;
pub mod binding;
pub mod bootstrap;
pub mod cache;
pub mod crd;
pub mod discovery;
pub mod escalation;
pub mod finalize;
pub mod follow;
pub mod metrics;
pub mod negotiate;
pub mod node_graph;
pub mod notes;
pub mod openapi;
pub mod path;
pub mod registry;
pub mod rest;
pub mod review;
pub mod scale;
pub mod server;
pub mod service_account;
pub mod tls;
mod watch;

pub use server::{ApiServer, ApiServerConfig, AuditConfig};

/// The Kubernetes version this server speaks.
pub const KUBERNETES_VERSION: &str = "v1.34.1";

/// The version `/version` reports: upstream's, marked as Bosun's build.
pub fn git_version() -> String {
    format!("{KUBERNETES_VERSION}+bosun")
}
