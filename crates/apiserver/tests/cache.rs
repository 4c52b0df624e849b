//! The watch cache over a real embedded store.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bosun_apiserver::cache::WatchCache;
use bosun_store::{EventKind, KeyRange, SqliteOptions, SqliteStore, Store, StoreError};
use bytes::Bytes;
use futures::StreamExt;

fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(SqliteOptions::new(dir.path().join("state.db"))).unwrap();
    (dir, Arc::new(s))
}

async fn next_event(w: &mut bosun_store::WatchStream) -> bosun_store::Event {
    tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .expect("an event")
        .expect("open")
        .expect("no error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_list_is_served_from_memory_once_the_cache_is_current() {
    let (_dir, store) = store();
    for i in 0..5 {
        store
            .create(
                &format!("/registry/pods/ns1/p{i}"),
                Bytes::from_static(b"{}"),
                None,
            )
            .await
            .unwrap();
    }
    store
        .create("/registry/pods/ns2/q", Bytes::from_static(b"{}"), None)
        .await
        .unwrap();
    store
        .create(
            "/registry/configmaps/ns1/c",
            Bytes::from_static(b"{}"),
            None,
        )
        .await
        .unwrap();
    let cache = WatchCache::new(store.clone());
    let current = store.current_revision().await.unwrap();
    let (items, rev) = cache
        .list("/registry/pods/", "/registry/pods/ns1/", Some(current))
        .await
        .expect("served from the cache");
    assert_eq!(items.len(), 5);
    assert!(rev >= current);
    // Writes elsewhere move the store on; progress notices keep the cache current.
    store
        .create(
            "/registry/configmaps/ns1/d",
            Bytes::from_static(b"{}"),
            None,
        )
        .await
        .unwrap();
    let current = store.current_revision().await.unwrap();
    // The notice comes about 20 ms later and a read waits up to 100 ms for it; on a loaded
    // machine a read may give up first (and go to the store), so ask until one is served.
    let began = std::time::Instant::now();
    let items = loop {
        if let Some((items, _)) = cache
            .list("/registry/pods/", "/registry/pods/", Some(current))
            .await
        {
            break items;
        }
        assert!(
            began.elapsed() < std::time::Duration::from_secs(10),
            "never current"
        );
    };
    assert_eq!(items.len(), 6);
    assert_eq!(cache.hits.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_replay_recent_events_from_the_ring_and_follow_live_ones() {
    let (_dir, store) = store();
    let cache = WatchCache::new(store.clone());
    let (_, start) = cache
        .list("/registry/pods/", "/registry/pods/", None)
        .await
        .unwrap();
    let r1 = store
        .create("/registry/pods/a/p1", Bytes::from_static(b"{}"), None)
        .await
        .unwrap();
    store
        .create("/registry/pods/b/p2", Bytes::from_static(b"{}"), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut w = cache
        .watch(
            "/registry/pods/",
            KeyRange::Prefix("/registry/pods/a/".into()),
            start + 1,
        )
        .await
        .expect("in the ring");
    let e = next_event(&mut w).await;
    assert_eq!((e.kind, e.revision()), (EventKind::Put, r1));
    let (r3, _) = store.delete("/registry/pods/a/p1", None).await.unwrap();
    let e = next_event(&mut w).await;
    assert_eq!((e.kind, e.revision()), (EventKind::Delete, r3));
    // A start older than the ring is left to the store.
    assert!(
        cache
            .watch(
                "/registry/pods/",
                KeyRange::Prefix("/registry/pods/".into()),
                1
            )
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_too_slow_for_the_cache_is_told_to_list_again() {
    let (_dir, store) = store();
    let cache = WatchCache::new(store.clone());
    let (_, start) = cache
        .list("/registry/pods/", "/registry/pods/", None)
        .await
        .unwrap();
    let mut w = cache
        .watch(
            "/registry/pods/",
            KeyRange::Prefix("/registry/pods/".into()),
            start + 1,
        )
        .await
        .unwrap();
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..800 {
                    store
                        .create(
                            &format!("/registry/pods/n/{t}-{i}"),
                            Bytes::from_static(b"{}"),
                            None,
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in writers {
        t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut outcome = None;
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_secs(5), w.next()).await {
        if let Err(e) = item {
            outcome = Some(e);
            break;
        }
    }
    assert!(
        matches!(outcome, Some(StoreError::Compacted { .. })),
        "{outcome:?}"
    );
}
