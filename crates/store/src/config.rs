//! Choosing and opening a backend from the server's `--datastore-*` flags.

use std::path::PathBuf;
use std::sync::Arc;

use crate::compactor::{CompactionPolicy, Compactor};
use crate::error::{Result, StoreError};
use crate::etcd::{EtcdStore, EtcdTls};
use crate::sqlite::{SqliteOptions, SqliteStore};
use crate::store::Store;

/// The datastore flags, named as k3s names them.
#[derive(Clone, Debug, Default)]
pub struct DatastoreConfig {
    /// `--datastore-endpoint`: empty for embedded SQLite, or comma-separated etcd URLs
    /// (`https://a:2379,https://b:2379`; `http://` too).
    pub endpoint: String,
    /// `--datastore-cafile`.
    pub ca_file: Option<PathBuf>,
    /// `--datastore-certfile`.
    pub cert_file: Option<PathBuf>,
    /// `--datastore-keyfile`.
    pub key_file: Option<PathBuf>,
    /// `--data-dir`: the embedded database lives at `<data-dir>/server/db/state.db`.
    pub data_dir: PathBuf,
    /// How much history the background compactor keeps.
    pub compaction: CompactionPolicy,
}

/// An opened datastore with its background compaction running; dropping it stops compaction.
pub struct Datastore {
    store: Arc<dyn Store>,
    _compactor: Compactor,
}

impl Datastore {
    /// The store, to share with every part of the server that reads or writes.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl DatastoreConfig {
    /// Where the embedded database lives.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("server").join("db").join("state.db")
    }
}

fn read(path: &Option<PathBuf>) -> Result<Option<Vec<u8>>> {
    path.as_ref()
        .map(|p| {
            std::fs::read(p)
                .map_err(|e| StoreError::InvalidArgument(format!("reading {}: {e}", p.display())))
        })
        .transpose()
}

/// Opens the backend the configuration names and starts compacting its history.
pub async fn open(config: &DatastoreConfig) -> Result<Datastore> {
    let store = open_backend(config).await?;
    let compactor = Compactor::spawn(store.clone(), config.compaction.clone());
    Ok(Datastore {
        store,
        _compactor: compactor,
    })
}

async fn open_backend(config: &DatastoreConfig) -> Result<Arc<dyn Store>> {
    let endpoint = config.endpoint.trim();
    if endpoint.is_empty() || endpoint.starts_with("sqlite://") {
        let path = match endpoint.strip_prefix("sqlite://") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => config.sqlite_path(),
        };
        let store =
            tokio::task::spawn_blocking(move || SqliteStore::open(SqliteOptions::new(path)))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))??;
        return Ok(Arc::new(store));
    }
    let endpoints: Vec<String> = endpoint
        .split(',')
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    if let Some(bad) = endpoints
        .iter()
        .find(|e| !(e.starts_with("http://") || e.starts_with("https://")))
    {
        return Err(StoreError::InvalidArgument(format!(
            "unsupported datastore endpoint {bad:?}: use https://host:2379 (etcd) or leave it empty for embedded SQLite"
        )));
    }
    let tls = if endpoints.iter().any(|e| e.starts_with("https://")) {
        let cert = read(&config.cert_file)?;
        let key = read(&config.key_file)?;
        let identity_pem = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(StoreError::InvalidArgument(
                    "--datastore-certfile and --datastore-keyfile go together".into(),
                ));
            }
        };
        Some(EtcdTls {
            ca_pem: read(&config.ca_file)?,
            identity_pem,
        })
    } else {
        None
    };
    Ok(Arc::new(EtcdStore::connect(&endpoints, tls).await?))
}
