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
        escalation: Default::default(),
        admission: Default::default(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_through_either_api_read_through_both() {
    let (_dir, r) = registry();
    let opts = WriteOptions {
        field_manager: "test".into(),
        ..Default::default()
    };
    let ns = r.table.lookup("", "v1", "namespaces").unwrap();
    r.create(&ns, None, json!({"metadata": {"name": "default"}}), &opts)
        .await
        .unwrap();
    let new_api = r.table.lookup("events.k8s.io", "v1", "events").unwrap();
    let core = r.table.lookup("", "v1", "events").unwrap();
    let recorded = json!({"metadata": {"name": "e1"}, "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "bosun/controllers",
        "reportingInstance": "i", "action": "Scaling", "reason": "ScalingReplicaSet", "regarding": {"kind": "Deployment", "name": "web"}, "note": "scaled up", "type": "Normal"});
    r.create(&new_api, Some("default"), recorded, &opts)
        .await
        .unwrap();
    let seen = r.get(&core, Some("default"), "e1").await.unwrap();
    assert_eq!(seen["apiVersion"], "v1");
    assert_eq!(
        (
            seen["involvedObject"]["name"].as_str(),
            seen["message"].as_str()
        ),
        (Some("web"), Some("scaled up"))
    );
    r.create(&core, Some("default"), json!({"metadata": {"name": "e2"}, "involvedObject": {"kind": "Pod", "name": "p"}, "message": "pulled"}), &opts).await.unwrap();
    let back = r.get(&new_api, Some("default"), "e2").await.unwrap();
    assert_eq!(
        (
            back["apiVersion"].as_str(),
            back["note"].as_str(),
            back["regarding"]["name"].as_str()
        ),
        (Some("events.k8s.io/v1"), Some("pulled"), Some("p"))
    );
}
