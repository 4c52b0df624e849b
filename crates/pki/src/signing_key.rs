//! The key ServiceAccount tokens are signed with (`<data-dir>/server/tls/service.key`, as k3s
//! keeps it): an ECDSA P-256 key, created once and kept across restarts so issued tokens stay
//! valid.

use std::path::Path;

use rcgen::{KeyPair, PublicKeyData};

use crate::ca::write_private;
use crate::{Result, cert_err, io_err};

/// A signing key pair.
#[derive(Clone, Debug)]
pub struct SigningKey {
    /// The private key, PKCS#8 PEM.
    pub private_pem: String,
    /// The public key, SubjectPublicKeyInfo DER.
    pub public_der: Vec<u8>,
    /// The public key, PEM.
    pub public_pem: String,
}

impl SigningKey {
    /// Loads `<dir>/<name>.key`, or creates it.
    pub fn load_or_create(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(format!("{name}.key"));
        let key = if path.exists() {
            let pem = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            KeyPair::from_pem(&pem).map_err(cert_err(name))?
        } else {
            let key = KeyPair::generate().map_err(cert_err(name))?;
            write_private(&path, &key.serialize_pem())?;
            tracing::info!(key = name, "created signing key");
            key
        };
        Ok(SigningKey {
            private_pem: key.serialize_pem(),
            public_der: key.subject_public_key_info(),
            public_pem: key.public_key_pem(),
        })
    }
}
