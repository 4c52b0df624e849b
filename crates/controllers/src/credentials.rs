//! How controllers reach the API server and as whom.
//!
//! The manager itself authenticates with its client certificate (`system:kube-controller-manager`).
//! Each controller gets a client of its own that authenticates as the service account
//! `kube-system/<controller>` with a bound token from the TokenRequest API, refreshed well
//! before it expires: kube-rs re-reads the token file the refresher keeps current.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;

use crate::Shutdown;

/// Namespace controller accounts live in.
pub const SYSTEM_NAMESPACE: &str = "kube-system";
/// Lifetime of a controller token (upstream's controller-manager asks for an hour too).
const TOKEN_SECONDS: i64 = 3600;
/// How long a token is used before a fresh one replaces it.
const REFRESH_AFTER: Duration = Duration::from_secs(40 * 60);

/// The API server's address, its CA, and the manager's own certificate.
#[derive(Clone)]
pub struct Credentials {
    /// `https://host:port`.
    pub server_url: String,
    /// The CA the server's certificate chains to.
    pub ca_pem: String,
    /// The manager's client certificate.
    pub cert_pem: String,
    /// Its key.
    pub key_pem: String,
    /// Where controller tokens are kept (readable by the owner only).
    pub token_dir: PathBuf,
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Credentials {
    async fn client_from(&self, user: serde_json::Value) -> Result<Client, String> {
        let kubeconfig = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "bosun", "cluster": {"server": self.server_url, "certificate-authority-data": base64(&self.ca_pem)}}],
            "users": [{"name": "controller", "user": user}],
            "contexts": [{"name": "bosun", "context": {"cluster": "bosun", "user": "controller"}}],
            "current-context": "bosun",
        });
        let kubeconfig: Kubeconfig =
            serde_json::from_value(kubeconfig).map_err(|e| e.to_string())?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        Client::try_from(config).map_err(|e| e.to_string())
    }

    /// A client acting as the manager (`system:kube-controller-manager`).
    pub async fn manager_client(&self) -> Result<Client, String> {
        self.client_from(json!({
            "client-certificate-data": base64(&self.cert_pem),
            "client-key-data": base64(&self.key_pem),
        }))
        .await
    }

    /// A client acting as the service account `kube-system/<name>`, created if missing, whose
    /// token stays fresh until `shutdown`.
    pub async fn controller_client(
        &self,
        name: &str,
        shutdown: Shutdown,
    ) -> Result<Client, String> {
        let manager = self.manager_client().await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(manager, SYSTEM_NAMESPACE);
        let account = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match accounts.create(&PostParams::default(), &account).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(format!("creating service account {name}: {e}")),
        }
        std::fs::create_dir_all(&self.token_dir)
            .map_err(|e| format!("creating {}: {e}", self.token_dir.display()))?;
        let path = self.token_dir.join(format!("{name}.token"));
        write_token(&path, &request_token(&accounts, name).await?)?;
        let refresher_path = path.clone();
        let account_name = name.to_string();
        tokio::spawn(async move {
            let stop = shutdown.requested();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(REFRESH_AFTER) => {}
                }
                match request_token(&accounts, &account_name).await {
                    Ok(token) => {
                        if let Err(e) = write_token(&refresher_path, &token) {
                            tracing::warn!(account = %account_name, error = %e, "keeping the old token");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(account = %account_name, error = %e, "token refresh failed")
                    }
                }
            }
        });
        self.client_from(json!({"tokenFile": path.display().to_string()}))
            .await
    }
}

async fn request_token(accounts: &Api<ServiceAccount>, name: &str) -> Result<String, String> {
    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(TOKEN_SECONDS),
            ..Default::default()
        },
        ..Default::default()
    };
    accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(|e| format!("requesting a token for {name}: {e}"))?
        .status
        .map(|s| s.token)
        .ok_or_else(|| format!("the token request for {name} returned no token"))
}

/// Replaces the token file in one rename, so a reader never sees half a token.
fn write_token(path: &std::path::Path, token: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let partial = path.with_extension("token.new");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| format!("writing {}: {e}", partial.display()))?;
    file.write_all(token.as_bytes())
        .map_err(|e| format!("writing {}: {e}", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| format!("renaming to {}: {e}", path.display()))
}
