//! The cluster's certificates, created on first start and reused by restarts.

use std::path::{Path, PathBuf};

use crate::ca::{CertificateAuthority, IssuedCertificate};
use crate::identity::seconds_until_expiry;
use crate::signing_key::SigningKey;
use crate::{Result, io_err};

/// Leaf certificates are reissued at start when they expire within this many seconds.
const RENEW_BEFORE_SECS: i64 = 90 * 24 * 3600;

/// The names the serving certificate must cover.
#[derive(Clone, Debug, Default)]
pub struct ServingNames {
    /// DNS names and IP addresses, in the order given.
    pub names: Vec<String>,
}

impl ServingNames {
    /// Upstream's names for the API server: loopback, `kubernetes` and its service names in
    /// `domain`, the first service IP, the host's addresses, and every extra `--tls-san`.
    pub fn for_apiserver(
        domain: &str,
        first_service_ip: &str,
        host_addresses: &[String],
        extra: &[String],
    ) -> Self {
        let mut names: Vec<String> = vec![
            "127.0.0.1".into(),
            "::1".into(),
            "localhost".into(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            format!("kubernetes.default.svc.{domain}"),
            first_service_ip.to_string(),
        ];
        names.extend(host_addresses.iter().cloned());
        names.extend(extra.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
        ServingNames { names }
    }
}

/// The cluster's CAs and the certificates the server itself uses.
pub struct ClusterPki {
    /// Signs the serving certificate.
    pub server_ca: CertificateAuthority,
    /// Signs client certificates.
    pub client_ca: CertificateAuthority,
    /// The API server's serving certificate.
    pub serving: IssuedCertificate,
    /// The admin's client certificate (`system:admin`, group `system:masters`).
    pub admin: IssuedCertificate,
    /// Signs ServiceAccount tokens.
    pub service_account_key: SigningKey,
    dir: PathBuf,
}

impl ClusterPki {
    /// Loads the cluster's certificates from `dir`, creating what is missing; the serving
    /// certificate is reissued when the names it must cover changed or it nears expiry.
    pub fn load_or_create(dir: &Path, serving_names: &ServingNames) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let server_ca = CertificateAuthority::load_or_create(dir, "server-ca", "bosun-server-ca")?;
        let client_ca = CertificateAuthority::load_or_create(dir, "client-ca", "bosun-client-ca")?;

        let names_file = dir.join("serving-kube-apiserver.names");
        let wanted = serving_names.names.join("\n");
        let recorded = std::fs::read_to_string(&names_file).unwrap_or_default();
        let serving = match IssuedCertificate::read(dir, "serving-kube-apiserver")? {
            Some(c) if recorded == wanted && fresh(&c) => c,
            _ => {
                let c = server_ca.issue_serving("kube-apiserver", &serving_names.names)?;
                c.write(dir, "serving-kube-apiserver")?;
                std::fs::write(&names_file, &wanted).map_err(io_err(&names_file))?;
                tracing::info!(names = ?serving_names.names, "issued the serving certificate");
                c
            }
        };
        let admin = client_certificate(
            &client_ca,
            dir,
            "admin",
            "system:admin",
            &["system:masters"],
        )?;
        let service_account_key = SigningKey::load_or_create(dir, "service")?;
        Ok(ClusterPki {
            server_ca,
            client_ca,
            serving,
            admin,
            service_account_key,
            dir: dir.to_path_buf(),
        })
    }

    /// The client certificate of a component that runs inside Bosun (`client-<file>.crt`), issued
    /// once for `user` in `groups` and reused until it nears expiry, so each component talks to
    /// the API server as itself rather than as an administrator.
    pub fn component_certificate(
        &self,
        file: &str,
        user: &str,
        groups: &[&str],
    ) -> Result<IssuedCertificate> {
        client_certificate(&self.client_ca, &self.dir, file, user, groups)
    }

    /// Where the files live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn client_certificate(
    ca: &CertificateAuthority,
    dir: &Path,
    file: &str,
    user: &str,
    groups: &[&str],
) -> Result<IssuedCertificate> {
    let name = format!("client-{file}");
    match IssuedCertificate::read(dir, &name)? {
        Some(c) if fresh(&c) => Ok(c),
        _ => {
            let c = ca.issue_client(user, groups)?;
            c.write(dir, &name)?;
            Ok(c)
        }
    }
}

fn fresh(c: &IssuedCertificate) -> bool {
    seconds_until_expiry(&c.cert_pem)
        .map(|s| s > RENEW_BEFORE_SECS)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity_from_der;

    fn der(pem: &str) -> Vec<u8> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn a_restart_reuses_the_certificates_of_the_first_start() {
        let dir = tempfile::tempdir().unwrap();
        let names = ServingNames::for_apiserver("cluster.local", "10.43.0.1", &[], &[]);
        let first = ClusterPki::load_or_create(dir.path(), &names).unwrap();
        let second = ClusterPki::load_or_create(dir.path(), &names).unwrap();
        assert_eq!(first.server_ca.cert_pem(), second.server_ca.cert_pem());
        assert_eq!(first.serving.cert_pem, second.serving.cert_pem);
        assert_eq!(first.admin.cert_pem, second.admin.cert_pem);
    }

    #[test]
    fn a_new_tls_san_reissues_only_the_serving_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let names = ServingNames::for_apiserver("cluster.local", "10.43.0.1", &[], &[]);
        let first = ClusterPki::load_or_create(dir.path(), &names).unwrap();
        let more = ServingNames::for_apiserver(
            "cluster.local",
            "10.43.0.1",
            &[],
            &["bosun.example".into()],
        );
        let second = ClusterPki::load_or_create(dir.path(), &more).unwrap();
        assert_ne!(first.serving.cert_pem, second.serving.cert_pem);
        assert_eq!(first.server_ca.cert_pem(), second.server_ca.cert_pem());
        assert_eq!(first.admin.cert_pem, second.admin.cert_pem);
    }

    #[test]
    fn the_admin_certificate_names_system_admin_in_system_masters() {
        let dir = tempfile::tempdir().unwrap();
        let names = ServingNames::for_apiserver("cluster.local", "10.43.0.1", &[], &[]);
        let pki = ClusterPki::load_or_create(dir.path(), &names).unwrap();
        let id = identity_from_der(&der(&pki.admin.cert_pem)).unwrap();
        assert_eq!(id.user, "system:admin");
        assert_eq!(id.groups, vec!["system:masters".to_string()]);
    }

    #[test]
    fn serving_names_cover_upstreams_list_without_repeats() {
        let n = ServingNames::for_apiserver(
            "example.org",
            "10.0.0.1",
            &["192.0.2.7".into()],
            &["127.0.0.1".into()],
        );
        assert!(
            n.names
                .contains(&"kubernetes.default.svc.example.org".to_string())
        );
        assert!(n.names.contains(&"10.0.0.1".to_string()));
        assert!(n.names.contains(&"192.0.2.7".to_string()));
        assert_eq!(n.names.iter().filter(|x| *x == "127.0.0.1").count(), 1);
    }
}
