//! TLS: the serving certificate, and authentication by client certificate.
//!
//! Client certificates are optional at the TLS layer (so that health checks and, later, bearer
//! tokens can reach the server) and verified against the cluster's client CA when presented;
//! the HTTP layer refuses requests that carry no identity.

use std::sync::Arc;

use bosun_auth::UserInfo;
use bosun_pki::{ClusterPki, identity_from_der};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Builds the TLS configuration: TLS 1.2+ with rustls's strong suites, ALPN h2 and http/1.1,
/// client certificates checked against the client CA.
pub fn server_config(pki: &ClusterPki) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(pki.client_ca.cert_pem().as_bytes())
        .map_err(|e| e.to_string())?;
    roots.add(ca).map_err(|e| e.to_string())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.serving.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
    let key =
        PrivateKeyDer::from_pem_slice(pki.serving.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The user named by a connection's verified client certificate, if it presented one.
pub fn peer_user(conn: &rustls::ServerConnection) -> Option<UserInfo> {
    let cert = conn.peer_certificates()?.first()?;
    identity_from_der(cert.as_ref()).ok().map(|id| {
        UserInfo {
            name: id.user,
            groups: id.groups,
            ..Default::default()
        }
        .with_authenticated_group()
    })
}
