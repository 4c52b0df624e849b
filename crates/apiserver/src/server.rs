//! The HTTPS listener: TLS, HTTP/1.1 and HTTP/2 on one port, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bosun_api::ResourceTable;
use bosun_pki::ClusterPki;
use bosun_store::Store;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::allocate::ServiceNetwork;
use crate::authz::{Authenticator, RbacIndex};
use crate::registry::Registry;
use crate::rest::{self, ApiState};
use crate::service_account::ServiceAccountTokens;
use crate::{bootstrap, tls};
use bosun_auth::service_account::{DEFAULT_ISSUER, TokenIssuer};
use bosun_auth::token_file::TokenFile;

/// How to run the API server.
pub struct ApiServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// `host:port` clients use to reach this server.
    pub advertise: String,
    /// The cluster's certificates.
    pub pki: Arc<ClusterPki>,
    /// The datastore.
    pub store: Arc<dyn Store>,
    /// `--service-cidr`.
    pub service_cidr: String,
    /// `--service-node-port-range`.
    pub service_node_port_range: String,
    /// `--token-auth-file`: static bearer tokens.
    pub token_auth_file: Option<std::path::PathBuf>,
    /// `--anonymous-auth`: requests without credentials act as `system:anonymous` (and are
    /// authorized like anyone else) instead of being refused.
    pub anonymous_auth: bool,
    /// `--audit-log-path` and its policy and retention, if requests are to be recorded.
    pub audit: Option<AuditConfig>,
}

/// The audit log's settings.
pub struct AuditConfig {
    /// `--audit-log-path`.
    pub path: std::path::PathBuf,
    /// `--audit-policy-file`; without one every request is recorded at Metadata.
    pub policy_file: Option<std::path::PathBuf>,
    /// `--audit-log-maxsize`, `--audit-log-maxage`, `--audit-log-maxbackup`.
    pub retention: crate::audit::Retention,
}

/// A running API server; [`ApiServer::shutdown`] stops it.
pub struct ApiServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ApiServer {
    /// Binds, creates the system objects and starts serving.
    pub async fn start(config: ApiServerConfig) -> Result<Self, String> {
        let (tls_config, client_verifier) = tls::server_config(&config.pki)?;
        let acceptor = TlsAcceptor::from(tls_config);
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|e| format!("binding {}: {e}", config.bind))?;
        let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
        let table = Arc::new(ResourceTable::builtin());
        let network = Arc::new(ServiceNetwork::parse(
            &config.service_cidr,
            &config.service_node_port_range,
        )?);
        let cache = Arc::new(crate::cache::WatchCache::new(config.store.clone()));
        let registry = Registry {
            store: config.store.clone(),
            table: table.clone(),
            network,
            cache,
            event_lease: Default::default(),
            escalation: Default::default(),
            admission: Default::default(),
        };
        bootstrap::ensure_system_objects(&registry, &config.advertise)
            .await
            .map_err(|e| e.message)?;
        let tokens = match &config.token_auth_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                TokenFile::parse(&path.display().to_string(), &text)?
            }
            None => TokenFile::default(),
        };
        let key = &config.pki.service_account_key;
        let token_issuer = Arc::new(TokenIssuer::new(
            &key.private_pem,
            &key.public_der,
            DEFAULT_ISSUER,
            Vec::new(),
        )?);
        let policy = RbacIndex::start(&registry).await.map_err(|e| e.message)?;
        let nodes = crate::node_graph::NodeGraphIndex::start(&registry)
            .await
            .map_err(|e| e.message)?;
        let _ = registry
            .escalation
            .set(crate::escalation::EscalationGuard::new(
                policy.clone(),
                nodes.clone(),
            ));
        let audit = match &config.audit {
            Some(audit) => {
                let policy = match &audit.policy_file {
                    Some(file) => crate::audit::Policy::parse(
                        &std::fs::read_to_string(file)
                            .map_err(|e| format!("reading {}: {e}", file.display()))?,
                    )
                    .map_err(|e| format!("{}: {e}", file.display()))?,
                    None => crate::audit::Policy::metadata_for_all(),
                };
                Some(crate::audit::AuditLog::open(
                    &audit.path,
                    policy,
                    audit.retention,
                )?)
            }
            None => None,
        };
        let openapi = Arc::new(crate::openapi::OpenApiCache::default());
        let metrics = Arc::new(crate::metrics::Metrics::new(registry.cache.clone()));
        let state = Arc::new(ApiState {
            registry,
            table,
            advertise: config.advertise.clone(),
            openapi: openapi.clone(),
            metrics,
            authenticator: Authenticator {
                anonymous: config.anonymous_auth,
                tokens,
                service_accounts: Some(ServiceAccountTokens {
                    issuer: token_issuer.clone(),
                }),
            },
            authorizer: crate::authz::authorizer(policy.clone(), nodes),
            policy,
            audit,
        });
        crate::crd::spawn(state.registry.clone(), openapi);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            client_verifier,
            state,
            shutdown_rx,
        ));
        tracing::info!(address = %local_addr, "API server listening");
        Ok(ApiServer {
            local_addr,
            shutdown,
            task,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets requests in flight finish (up to a few seconds), and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    client_verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    state: Arc<ApiState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let client_verifier = client_verifier.clone();
        let state = state.clone();
        let mut stop = shutdown.clone();
        connections.spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let user = tls::peer_certificate(client_verifier.as_ref(), tls.get_ref().1);
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(crate::audit::RemoteAddr(peer));
                let state = state.clone();
                let metrics = state.metrics.clone();
                let user = user.clone();
                async move {
                    let method = req.method().clone();
                    let uri = req.uri().clone();
                    let began = std::time::Instant::now();
                    let resp = rest::handle(state, user, req.map(Body::new)).await;
                    metrics.observe(method.as_str(), resp.status().as_u16(), began.elapsed().as_secs_f64());
                    tracing::debug!(%method, %uri, status = resp.status().as_u16(), micros = began.elapsed().as_micros() as u64, "request");
                    Ok::<_, Infallible>(resp)
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(6), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}
