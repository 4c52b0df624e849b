//! A certificate authority: created once, kept as PEM files, used to issue leaf certificates.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::{Result, cert_err, io_err};

/// How long a CA is valid.
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a leaf certificate is valid (renewed at start when close to expiry).
pub const LEAF_VALIDITY: Duration = Duration::days(365);

/// A certificate and its private key, as PEM.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl IssuedCertificate {
    /// Writes `<dir>/<name>.crt` and `<dir>/<name>.key` (the key readable by its owner only).
    pub fn write(&self, dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
        let crt = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&crt, &self.cert_pem).map_err(io_err(&crt))?;
        write_private(&key, &self.key_pem)?;
        Ok((crt, key))
    }

    /// Reads `<dir>/<name>.crt` and `.key` if both exist.
    pub fn read(dir: &Path, name: &str) -> Result<Option<Self>> {
        let crt = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        if !crt.exists() || !key.exists() {
            return Ok(None);
        }
        Ok(Some(IssuedCertificate {
            cert_pem: std::fs::read_to_string(&crt).map_err(io_err(&crt))?,
            key_pem: std::fs::read_to_string(&key).map_err(io_err(&key))?,
        }))
    }
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(contents.as_bytes()).map_err(io_err(path))
}

/// A certificate authority that can issue certificates.
pub struct CertificateAuthority {
    name: String,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    /// Loads `<dir>/<name>.crt/.key`, or creates a new CA with common name `common_name`.
    pub fn load_or_create(dir: &Path, name: &str, common_name: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let pair = match IssuedCertificate::read(dir, name)? {
            Some(existing) => existing,
            None => {
                let created = Self::create(name, common_name)?;
                created.write(dir, name)?;
                tracing::info!(ca = name, "created certificate authority");
                created
            }
        };
        let key = KeyPair::from_pem(&pair.key_pem).map_err(cert_err(name))?;
        let issuer = Issuer::from_ca_cert_pem(&pair.cert_pem, key).map_err(cert_err(name))?;
        Ok(CertificateAuthority {
            name: name.to_string(),
            cert_pem: pair.cert_pem,
            issuer,
        })
    }

    fn create(name: &str, common_name: &str) -> Result<IssuedCertificate> {
        let key = KeyPair::generate().map_err(cert_err(name))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err(name))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key).map_err(cert_err(name))?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a serving certificate for the given DNS names and IP addresses.
    pub fn issue_serving(&self, common_name: &str, names: &[String]) -> Result<IssuedCertificate> {
        let sans = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n.clone().try_into().map(SanType::DnsName),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(cert_err(common_name))?;
        self.issue(common_name, &[], sans, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// Issues a client certificate: `user` as the common name, each group as an organization.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<IssuedCertificate> {
        self.issue(
            user,
            groups,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn issue(
        &self,
        common_name: &str,
        organizations: &[&str],
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<IssuedCertificate> {
        let key = KeyPair::generate().map_err(cert_err(common_name))?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for o in organizations {
            params.distinguished_name.push(DnType::OrganizationName, *o);
        }
        params.subject_alt_names = sans;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + LEAF_VALIDITY;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(cert_err(&self.name))?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
