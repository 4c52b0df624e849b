//! TLS: the serving certificate, and authentication by client certificate.
//!
//! Client certificates are optional at the TLS layer (so that health checks and bearer tokens
//! can reach the server). A presented certificate must prove its key during the handshake, but
//! its chain is checked against the cluster's client CA afterwards, as upstream's x509
//! authenticator does: one from another CA gets an HTTP 401 (or falls through to a bearer
//! token), not a failed handshake the client cannot explain.

use std::sync::Arc;

use bosun_auth::UserInfo;
use bosun_pki::{ClusterPki, identity_from_der};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

/// Builds the TLS configuration (TLS 1.2+ with rustls's strong suites, ALPN h2 and http/1.1)
/// and the verifier that judges client certificates against the client CA.
pub fn server_config(
    pki: &ClusterPki,
) -> Result<(Arc<ServerConfig>, Arc<dyn ClientCertVerifier>), String> {
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
        .with_client_cert_verifier(Arc::new(DeferredClientVerifier {
            inner: verifier.clone(),
        }))
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), verifier))
}

/// What a connection's client certificate says about the user.
#[derive(Clone, Debug)]
pub enum ClientCertificate {
    /// The client presented none.
    None,
    /// Signed by the client CA: the user it names (CN) with its groups (O).
    Valid(UserInfo),
    /// Presented but not acceptable (another CA, expired, ...): why.
    Rejected(String),
}

/// Accepts any client certificate during the handshake (still requiring proof of its key), so
/// that the chain can be judged afterwards by [`peer_certificate`].
#[derive(Debug)]
struct DeferredClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client CA's judgement of a connection's certificate.
pub fn peer_certificate(
    verifier: &dyn ClientCertVerifier,
    conn: &rustls::ServerConnection,
) -> ClientCertificate {
    let Some((end_entity, intermediates)) = conn.peer_certificates().and_then(|c| c.split_first())
    else {
        return ClientCertificate::None;
    };
    if let Err(e) = verifier.verify_client_cert(end_entity, intermediates, UnixTime::now()) {
        return ClientCertificate::Rejected(e.to_string());
    }
    match identity_from_der(end_entity.as_ref()) {
        Ok(id) => ClientCertificate::Valid(
            UserInfo {
                name: id.user,
                groups: id.groups,
                ..Default::default()
            }
            .with_authenticated_group(),
        ),
        Err(e) => ClientCertificate::Rejected(e.to_string()),
    }
}
