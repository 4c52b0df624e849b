//! A throwaway local etcd server, for the contract tests and the benchmarks.
//!
//! It runs Debian's `etcd` binary (package `etcd-server`) on free loopback ports with its data
//! in a directory the caller owns, and is killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::etcd::{EtcdStore, EtcdTls};
use crate::store::Store;

/// Serving certificates for an etcd that requires client certificates, and the client's side.
#[derive(Clone, Debug)]
pub struct EtcdServerTls {
    /// The server's certificate (PEM file), valid for 127.0.0.1.
    pub cert_file: PathBuf,
    /// The server's private key (PEM file).
    pub key_file: PathBuf,
    /// The CA whose client certificates the server accepts (PEM file).
    pub client_ca_file: PathBuf,
    /// What a client presents to this server.
    pub client: EtcdTls,
}

/// A running etcd child process.
pub struct EtcdProcess {
    child: Child,
    endpoint: String,
    data_dir: PathBuf,
    client_tls: Option<EtcdTls>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdProcess {
    /// Starts etcd with its data under `dir` and waits until it answers.
    pub async fn start(dir: &Path) -> Result<Self, String> {
        Self::start_with(dir, None).await
    }

    /// Starts etcd serving HTTPS and requiring client certificates.
    pub async fn start_tls(dir: &Path, tls: EtcdServerTls) -> Result<Self, String> {
        Self::start_with(dir, Some(tls)).await
    }

    async fn start_with(dir: &Path, tls: Option<EtcdServerTls>) -> Result<Self, String> {
        let binary = std::env::var("BOSUN_ETCD_BIN").unwrap_or_else(|_| "etcd".into());
        let data_dir = dir.join("etcd-data");
        let client_port = free_port().map_err(|e| e.to_string())?;
        let peer_port = free_port().map_err(|e| e.to_string())?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client_url = format!("{scheme}://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.join("etcd.log")).map_err(|e| e.to_string())?;
        let mut command = Command::new(&binary);
        if let Some(tls) = &tls {
            command
                .arg(format!("--cert-file={}", tls.cert_file.display()))
                .arg(format!("--key-file={}", tls.key_file.display()))
                .arg(format!(
                    "--trusted-ca-file={}",
                    tls.client_ca_file.display()
                ))
                .arg("--client-cert-auth");
        }
        let child = command
            .arg("--name=bosun-test")
            .arg(format!("--data-dir={}", data_dir.display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=bosun-test={peer_url}"))
            .arg("--logger=zap")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!("starting {binary:?} (install Debian's etcd-server package): {e}")
            })?;
        let mut process = EtcdProcess {
            child,
            endpoint: client_url,
            data_dir,
            client_tls: tls.map(|t| t.client),
        };
        process.wait_ready(Duration::from_secs(30)).await?;
        Ok(process)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("etcd exited during start-up: {status}"));
            }
            if let Ok(store) = self.store().await
                && store.current_revision().await.is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "etcd at {} did not answer within {timeout:?}",
                    self.endpoint
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The client URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Where etcd keeps its data.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process id, for reading its memory use.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Connects a store client to this server.
    pub async fn store(&self) -> crate::Result<EtcdStore> {
        EtcdStore::connect(
            std::slice::from_ref(&self.endpoint),
            self.client_tls.clone(),
        )
        .await
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
