//! Who a client certificate names: the subject's CN is the user, each O a group, as upstream's
//! x509 authenticator reads it.

use crate::{PkiError, Result};

/// The user a client certificate authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// The subject's common name.
    pub user: String,
    /// The subject's organizations.
    pub groups: Vec<String>,
}

/// Reads the identity out of a DER certificate.
pub fn identity_from_der(der: &[u8]) -> Result<CertificateIdentity> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::Certificate {
            name: "client".into(),
            reason: e.to_string(),
        })?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Ok(CertificateIdentity { user, groups })
}

/// Seconds until a PEM certificate expires (negative once expired).
pub fn seconds_until_expiry(cert_pem: &str) -> Result<i64> {
    let bad = |reason: String| PkiError::Certificate {
        name: "certificate".into(),
        reason,
    };
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e: rustls_pki_types::pem::Error| bad(e.to_string()))
        .map(|c: rustls_pki_types::CertificateDer<'static>| c)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| bad(e.to_string()))?;
    let not_after = cert.validity().not_after.timestamp();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(not_after - now)
}
