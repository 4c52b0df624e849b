//! Shared test harness: a store of each backend in its own temp dir, cleaned up on drop.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bosun_store::etcd_process::EtcdProcess;
use bosun_store::{Event, SqliteOptions, SqliteStore, Store, StoreError, WatchStream};
use futures::StreamExt;

/// A store under test and whatever must live as long as it.
pub struct Backend {
    pub store: Arc<dyn Store>,
    _etcd: Option<EtcdProcess>,
    _dir: tempfile::TempDir,
}

pub fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SqliteOptions::new(dir.path().join("db/state.db"));
    options.lease_check_interval = Duration::from_millis(100);
    let store = SqliteStore::open(options).unwrap();
    Backend {
        store: Arc::new(store),
        _etcd: None,
        _dir: dir,
    }
}

pub async fn etcd() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdProcess::start(dir.path())
        .await
        .expect("etcd must be installed for the contract suite");
    let store = etcd.store().await.unwrap();
    Backend {
        store: Arc::new(store),
        _etcd: Some(etcd),
        _dir: dir,
    }
}

/// The next item of a watch, failing the test if none comes within 10 s.
pub async fn next(stream: &mut WatchStream) -> Result<Event, StoreError> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a watch event within 10 s")
        .expect("the watch stream stays open")
}

/// Asserts that nothing arrives on a watch for a short while.
pub async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        panic!("expected no event, got {item:?}");
    }
}
