//! Bosun's public-key infrastructure: the cluster's certificate authorities, the certificates
//! issued from them, and kubeconfig files that carry them.
//!
//! Like k3s, a cluster has two CAs, kept under `<data-dir>/server/tls/`:
//! - the **server CA** signs the API server's serving certificate; clients trust it through the
//!   `certificate-authority-data` of their kubeconfig;
//! - the **client CA** signs client certificates; the API server accepts a client whose
//!   certificate it signed, taking the subject's CN as the user name and each O as a group.
//!
//! Layout:
//! - [`ca`]: creating, loading and issuing from a CA.
//! - [`cluster`]: the cluster's set of CAs and certificates, created on first start and reused.
//! - [`kubeconfig`]: writing kubeconfig files.
//! - [`signing_key`]: the ServiceAccount token signing key.
//! - [`identity`]: reading the user and groups out of a client certificate.

pub mod ca;
pub mod cluster;
pub mod identity;
pub mod kubeconfig;
pub mod signing_key;

pub use ca::{CertificateAuthority, IssuedCertificate};
pub use cluster::{ClusterPki, ServingNames};
pub use identity::{CertificateIdentity, identity_from_der};
pub use signing_key::SigningKey;

/// What can go wrong with certificates and their files.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A certificate or key could not be made or parsed.
    #[error("certificate {name}: {reason}")]
    Certificate {
        /// Which certificate.
        name: String,
        /// What failed.
        reason: String,
    },
}

/// Result of a PKI operation.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn cert_err(name: &str) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |e| PkiError::Certificate {
        name: name.to_string(),
        reason: e.to_string(),
    }
}
