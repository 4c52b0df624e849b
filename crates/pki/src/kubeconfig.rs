//! Kubeconfig files, in the format kubectl, helm and client libraries read.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

/// A kubeconfig with one cluster, one user and one context, all named `name`.
pub struct Kubeconfig<'a> {
    /// Name of the cluster, user and context (`default` for the admin kubeconfig).
    pub name: &'a str,
    /// The API server's URL.
    pub server: &'a str,
    /// The CA that signed the server's certificate, PEM.
    pub ca_pem: &'a str,
    /// The client certificate, PEM.
    pub client_cert_pem: &'a str,
    /// The client key, PEM.
    pub client_key_pem: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct File<'a> {
    api_version: &'a str,
    kind: &'a str,
    clusters: Vec<Named<Cluster>>,
    users: Vec<Named<User>>,
    contexts: Vec<Named<Context<'a>>>,
    current_context: &'a str,
    preferences: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Named<T> {
    name: String,
    #[serde(flatten)]
    value: T,
}

#[derive(Serialize)]
struct Cluster {
    cluster: ClusterBody,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterBody {
    certificate_authority_data: String,
    server: String,
}

#[derive(Serialize)]
struct User {
    user: UserBody,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct UserBody {
    client_certificate_data: String,
    client_key_data: String,
}

#[derive(Serialize)]
struct Context<'a> {
    context: ContextBody<'a>,
}

#[derive(Serialize)]
struct ContextBody<'a> {
    cluster: &'a str,
    user: &'a str,
}

impl Kubeconfig<'_> {
    /// The file's YAML text.
    pub fn to_yaml(&self) -> String {
        let file = File {
            api_version: "v1",
            kind: "Config",
            clusters: vec![Named {
                name: self.name.to_string(),
                value: Cluster {
                    cluster: ClusterBody {
                        certificate_authority_data: STANDARD.encode(self.ca_pem),
                        server: self.server.to_string(),
                    },
                },
            }],
            users: vec![Named {
                name: self.name.to_string(),
                value: User {
                    user: UserBody {
                        client_certificate_data: STANDARD.encode(self.client_cert_pem),
                        client_key_data: STANDARD.encode(self.client_key_pem),
                    },
                },
            }],
            contexts: vec![Named {
                name: self.name.to_string(),
                value: Context {
                    context: ContextBody {
                        cluster: self.name,
                        user: self.name,
                    },
                },
            }],
            current_context: self.name,
            preferences: Default::default(),
        };
        serde_yaml::to_string(&file).expect("a kubeconfig always serializes")
    }

    /// Writes the file with the given permission bits (k3s's `--write-kubeconfig-mode`).
    pub fn write(&self, path: &std::path::Path, mode: u32) -> crate::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(crate::io_err(dir))?;
        }
        crate::ca::write_private(path, &self.to_yaml())?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(crate::io_err(path))
    }
}
