//! The generic registry over a real embedded store.

use std::sync::Arc;

use bosun_api::ResourceTable;
use bosun_apiserver::allocate::ServiceNetwork;
use bosun_apiserver::cache::WatchCache;
use bosun_apiserver::registry::{Registry, WriteOptions};
use bosun_store::{SqliteOptions, SqliteStore, Store};
use serde_json::json;

fn registry() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(dir.path().join("state.db"))).unwrap());
    let r = Registry {
        store: store.clone(),
        table: Arc::new(ResourceTable::builtin()),
        network: Arc::new(ServiceNetwork::parse("10.43.0.0/16", "30000-32767").unwrap()),
        cache: Arc::new(WatchCache::new(store)),
        event_lease: Default::default(),
    };
    (dir, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_expire_with_a_lease_that_updates_keep() {
    let (_dir, r) = registry();
    let opts = WriteOptions {
        field_manager: "test".into(),
        ..Default::default()
    };
    let ns = r.table.lookup("", "v1", "namespaces").unwrap();
    r.create(&ns, None, json!({"metadata": {"name": "default"}}), &opts)
        .await
        .unwrap();
    let events = r.table.lookup("", "v1", "events").unwrap();
    let ev = json!({"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "message": "m"});
    r.create(&events, Some("default"), ev, &opts).await.unwrap();
    let key = events.key(Some("default"), "e1");
    let lease = r.store.get(&key, None).await.unwrap().kv.unwrap().lease;
    assert_ne!(lease, 0, "an Event is attached to a lease");
    let updated = json!({"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "message": "m2", "count": 2});
    r.update(&events, Some("default"), "e1", updated, None, &opts)
        .await
        .unwrap();
    assert_eq!(
        r.store.get(&key, None).await.unwrap().kv.unwrap().lease,
        lease,
        "an update keeps the lease"
    );
    // Events created close together share a lease; other kinds have none.
    r.create(
        &events,
        Some("default"),
        json!({"metadata": {"name": "e2"}, "involvedObject": {"kind": "Pod", "name": "p"}}),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(
        r.store
            .get(&events.key(Some("default"), "e2"), None)
            .await
            .unwrap()
            .kv
            .unwrap()
            .lease,
        lease
    );
    let cms = r.table.lookup("", "v1", "configmaps").unwrap();
    r.create(
        &cms,
        Some("default"),
        json!({"metadata": {"name": "c"}}),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(
        r.store
            .get(&cms.key(Some("default"), "c"), None)
            .await
            .unwrap()
            .kv
            .unwrap()
            .lease,
        0
    );
}
