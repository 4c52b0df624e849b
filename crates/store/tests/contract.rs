//! The datastore contract, run unchanged against embedded SQLite and a real etcd.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bosun_store::{
    CompactionPolicy, Compactor, EventKind, KeyRange, ListOptions, MAX_VALUE_BYTES, Store,
    StoreError,
};
use bytes::Bytes;
use common::{assert_quiet, next};

type S = Arc<dyn Store>;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn revisions_only_grow_and_each_write_reports_its_own(s: S) {
    let r0 = s.current_revision().await.unwrap();
    let r1 = s.create("/t/a", b("1"), None).await.unwrap();
    let r2 = s.update("/t/a", b("2"), r1, None).await.unwrap();
    let r3 = s.create("/t/b", b("x"), None).await.unwrap();
    let (r4, deleted) = s.delete("/t/a", None).await.unwrap();
    assert!(
        r0 < r1 && r1 < r2 && r2 < r3 && r3 < r4,
        "{r0} {r1} {r2} {r3} {r4}"
    );
    assert_eq!(s.current_revision().await.unwrap(), r4);
    assert_eq!(deleted.value, b("2"));
    assert_eq!(
        (
            deleted.create_revision,
            deleted.mod_revision,
            deleted.version
        ),
        (r1, r2, 2)
    );
    let got = s.get("/t/b", None).await.unwrap();
    assert_eq!(got.revision, r4);
    let kv = got.kv.unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version, kv.value),
        (r3, r3, 1, b("x"))
    );
    assert!(s.get("/t/a", None).await.unwrap().kv.is_none());
    // A key re-created after a delete starts a new life.
    let r5 = s.create("/t/a", b("again"), None).await.unwrap();
    let kv = s.get("/t/a", None).await.unwrap().kv.unwrap();
    assert_eq!((kv.create_revision, kv.version), (r5, 1));
}

async fn writes_to_the_wrong_state_are_refused_and_change_nothing(s: S) {
    let r1 = s.create("/t/k", b("v"), None).await.unwrap();
    assert!(matches!(
        s.create("/t/k", b("other"), None).await,
        Err(StoreError::AlreadyExists { key }) if key == "/t/k"
    ));
    assert!(matches!(
        s.update("/t/missing", b("v"), r1, None).await,
        Err(StoreError::NotFound { key }) if key == "/t/missing"
    ));
    assert!(matches!(
        s.delete("/t/missing", None).await,
        Err(StoreError::NotFound { .. })
    ));
    match s.update("/t/k", b("stale"), r1 - 1, None).await {
        Err(StoreError::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!((key.as_str(), expected), ("/t/k", r1 - 1));
            assert_eq!((current.mod_revision, current.value.clone()), (r1, b("v")));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    match s.delete("/t/k", Some(r1 + 100)).await {
        Err(StoreError::Conflict { current, .. }) => assert_eq!(current.mod_revision, r1),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        s.current_revision().await.unwrap(),
        r1,
        "refused writes take no revision"
    );
    assert_eq!(s.get("/t/k", None).await.unwrap().kv.unwrap().value, b("v"));
    let (_, old) = s.delete("/t/k", Some(r1)).await.unwrap();
    assert_eq!(old.value, b("v"));
}

async fn concurrent_writers_serialize_through_compare_and_swap(s: S) {
    let rev = s.create("/t/counter", b("0"), None).await.unwrap();
    assert!(rev > 0);
    let writers = 16;
    let increments = 20;
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..increments {
                let mut kv = s.get("/t/counter", None).await.unwrap().kv.unwrap();
                loop {
                    let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                    match s
                        .update("/t/counter", b(&(n + 1).to_string()), kv.mod_revision, None)
                        .await
                    {
                        Ok(_) => break,
                        Err(StoreError::Conflict { current, .. }) => {
                            conflicts += 1;
                            kv = *current;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let kv = s.get("/t/counter", None).await.unwrap().kv.unwrap();
    assert_eq!(kv.value, b(&(writers * increments).to_string()));
    assert_eq!(kv.version, (writers * increments + 1) as i64);
    assert!(
        conflicts > 0,
        "16 concurrent writers on one key must have collided"
    );
}

async fn reads_at_an_older_revision_see_the_past(s: S) {
    let r1 = s.create("/t/p/x", b("v1"), None).await.unwrap();
    let r2 = s.update("/t/p/x", b("v2"), r1, None).await.unwrap();
    let r3 = s.create("/t/p/y", b("y1"), None).await.unwrap();
    let (r4, _) = s.delete("/t/p/x", None).await.unwrap();
    assert_eq!(
        s.get("/t/p/x", Some(r1)).await.unwrap().kv.unwrap().value,
        b("v1")
    );
    assert_eq!(
        s.get("/t/p/x", Some(r2)).await.unwrap().kv.unwrap().value,
        b("v2")
    );
    assert!(s.get("/t/p/x", Some(r4)).await.unwrap().kv.is_none());
    assert_eq!(s.get("/t/p/x", Some(r3)).await.unwrap().revision, r3);
    let keys = |l: bosun_store::ListResult| l.kvs.into_iter().map(|kv| kv.key).collect::<Vec<_>>();
    let at = |r| ListOptions {
        revision: Some(r),
        ..Default::default()
    };
    assert_eq!(keys(s.list("/t/p", at(r1)).await.unwrap()), ["/t/p/x"]);
    assert_eq!(
        keys(s.list("/t/p", at(r3)).await.unwrap()),
        ["/t/p/x", "/t/p/y"]
    );
    assert_eq!(keys(s.list("/t/p", at(r4)).await.unwrap()), ["/t/p/y"]);
    let l = s.list("/t/p", at(r2)).await.unwrap();
    assert_eq!((l.revision, l.kvs[0].value.clone()), (r2, b("v2")));
    assert!(matches!(
        s.get("/t/p/x", Some(r4 + 1000)).await,
        Err(StoreError::FutureRevision { .. })
    ));
}

async fn lists_page_by_limit_and_start_key_at_one_revision(s: S) {
    for i in 0..25 {
        s.create(&format!("/t/page/{i:03}"), b("v"), None)
            .await
            .unwrap();
    }
    let first = s
        .list(
            "/t/page/",
            ListOptions {
                limit: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((first.kvs.len(), first.more, first.count), (10, true, 25));
    let at = first.revision;
    // Writes between pages must not show up in later pages of the same list.
    s.create("/t/page/0105", b("late"), None).await.unwrap();
    s.delete("/t/page/020", None).await.unwrap();
    let mut seen: Vec<String> = first.kvs.iter().map(|kv| kv.key.clone()).collect();
    let mut last = first;
    while last.more {
        let start = format!("{}\0", last.kvs.last().unwrap().key);
        last = s
            .list(
                "/t/page/",
                ListOptions {
                    limit: Some(10),
                    revision: Some(at),
                    start_key: Some(start),
                },
            )
            .await
            .unwrap();
        assert_eq!(last.revision, at);
        seen.extend(last.kvs.iter().map(|kv| kv.key.clone()));
    }
    let expected: Vec<String> = (0..25).map(|i| format!("/t/page/{i:03}")).collect();
    assert_eq!(seen, expected);
    // The current view has the late writes; count counts from the start key on.
    let now = s.list("/t/page", ListOptions::default()).await.unwrap();
    assert_eq!((now.kvs.len(), now.more, now.count), (25, false, 25));
    assert!(now.kvs.iter().any(|kv| kv.key == "/t/page/0105"));
    assert_eq!(s.count("/t/page").await.unwrap(), 25);
    let tail = s
        .list(
            "/t/page",
            ListOptions {
                limit: Some(2),
                start_key: Some("/t/page/020".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((tail.kvs.len(), tail.more, tail.count), (2, true, 4));
}

async fn a_prefix_never_sees_a_sibling_with_a_longer_name(s: S) {
    let mut w = s.watch(KeyRange::Prefix("/a".into()), None).await.unwrap();
    s.create("/a/x", b("in"), None).await.unwrap();
    s.create("/ab", b("out"), None).await.unwrap();
    s.create("/ab/y", b("out"), None).await.unwrap();
    s.create("/a", b("the key itself is not below the directory"), None)
        .await
        .unwrap();
    s.create("/a/deeper/z", b("in"), None).await.unwrap();
    let l = s.list("/a", ListOptions::default()).await.unwrap();
    let keys: Vec<_> = l.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/a/deeper/z", "/a/x"]);
    assert_eq!(s.count("/a").await.unwrap(), 2);
    assert_eq!(s.count("/ab").await.unwrap(), 1);
    assert_eq!(next(&mut w).await.unwrap().kv.key, "/a/x");
    assert_eq!(next(&mut w).await.unwrap().kv.key, "/a/deeper/z");
    assert_quiet(&mut w).await;
}

async fn a_watch_delivers_each_later_change_in_order_with_what_it_replaced(s: S) {
    let before = s
        .create("/t/w/unrelated-earlier", b("e"), None)
        .await
        .unwrap();
    let mut w = s
        .watch(KeyRange::Prefix("/t/w".into()), Some(before + 1))
        .await
        .unwrap();
    let r1 = s.create("/t/w/a", b("1"), None).await.unwrap();
    let r2 = s.update("/t/w/a", b("2"), r1, None).await.unwrap();
    let (r3, _) = s.delete("/t/w/a", Some(r2)).await.unwrap();
    s.create("/t/other", b("not watched"), None).await.unwrap();

    let e = next(&mut w).await.unwrap();
    assert_eq!(
        (e.kind, e.revision(), e.is_create(), e.prev.is_none()),
        (EventKind::Put, r1, true, true)
    );
    assert_eq!(e.kv.value, b("1"));
    let e = next(&mut w).await.unwrap();
    assert_eq!(
        (e.kind, e.revision(), e.is_create()),
        (EventKind::Put, r2, false)
    );
    assert_eq!((e.kv.value.clone(), e.kv.version), (b("2"), 2));
    assert_eq!(e.prev.unwrap().value, b("1"));
    let e = next(&mut w).await.unwrap();
    assert_eq!(
        (e.kind, e.revision(), e.kv.key.as_str()),
        (EventKind::Delete, r3, "/t/w/a")
    );
    assert_eq!(e.prev.unwrap().value, b("2"));
    assert_quiet(&mut w).await;

    // A one-key watch sees only that key.
    let mut one = s.watch(KeyRange::Key("/t/w/b".into()), None).await.unwrap();
    s.create("/t/w/bb", b("no"), None).await.unwrap();
    s.create("/t/w/b", b("yes"), None).await.unwrap();
    assert_eq!(next(&mut one).await.unwrap().kv.key, "/t/w/b");
    assert_quiet(&mut one).await;
}

async fn a_watcher_that_restarts_resumes_from_its_last_revision(s: S) {
    let start = s.current_revision().await.unwrap() + 1;
    for i in 0..50 {
        s.create(&format!("/t/r/{i:02}"), b("v"), None)
            .await
            .unwrap();
    }
    // A first watcher reads 20 events of history, then goes away.
    let mut w = s
        .watch(KeyRange::Prefix("/t/r".into()), Some(start))
        .await
        .unwrap();
    let mut last = 0;
    for i in 0..20 {
        let e = next(&mut w).await.unwrap();
        assert_eq!(e.kv.key, format!("/t/r/{i:02}"));
        assert!(e.revision() > last);
        last = e.revision();
    }
    drop(w);
    for i in 50..60 {
        s.create(&format!("/t/r/{i:02}"), b("v"), None)
            .await
            .unwrap();
    }
    // Its successor resumes right after the last revision seen: no gap, no repeat.
    let mut w = s
        .watch(KeyRange::Prefix("/t/r".into()), Some(last + 1))
        .await
        .unwrap();
    for i in 20..60 {
        let e = next(&mut w).await.unwrap();
        assert_eq!(e.kv.key, format!("/t/r/{i:02}"));
        assert!(e.revision() > last);
        last = e.revision();
    }
    // ... and then follows live writes.
    let live = s.create("/t/r/live", b("v"), None).await.unwrap();
    let e = next(&mut w).await.unwrap();
    assert_eq!((e.kv.key.as_str(), e.revision()), ("/t/r/live", live));
    assert_quiet(&mut w).await;
}

async fn compaction_forgets_old_revisions_and_says_so(s: S) {
    let r1 = s.create("/t/c/k", b("v1"), None).await.unwrap();
    let mut rev = r1;
    for i in 2..=10 {
        rev = s
            .update("/t/c/k", b(&format!("v{i}")), rev, None)
            .await
            .unwrap();
    }
    let kept = s.create("/t/c/other", b("o"), None).await.unwrap();
    let (gone_rev, _) = {
        let r = s.create("/t/c/gone", b("g"), None).await.unwrap();
        let d = s.delete("/t/c/gone", None).await.unwrap();
        (r, d)
    };
    s.compact(rev).await.unwrap();

    assert!(
        matches!(s.get("/t/c/k", Some(r1)).await, Err(StoreError::Compacted { requested }) if requested == r1)
    );
    let old = ListOptions {
        revision: Some(rev - 1),
        ..Default::default()
    };
    assert!(matches!(
        s.list("/t/c", old).await,
        Err(StoreError::Compacted { .. })
    ));
    let mut w = s
        .watch(KeyRange::Prefix("/t/c".into()), Some(r1))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut w).await,
        Err(StoreError::Compacted { .. })
    ));

    // Everything at or after the compacted revision is intact.
    assert_eq!(
        s.get("/t/c/k", Some(rev)).await.unwrap().kv.unwrap().value,
        b("v10")
    );
    assert_eq!(
        s.get("/t/c/k", None).await.unwrap().kv.unwrap().value,
        b("v10")
    );
    assert_eq!(
        s.get("/t/c/other", None)
            .await
            .unwrap()
            .kv
            .unwrap()
            .mod_revision,
        kept
    );
    assert!(s.get("/t/c/gone", None).await.unwrap().kv.is_none());
    let mut w = s
        .watch(KeyRange::Prefix("/t/c".into()), Some(rev + 1))
        .await
        .unwrap();
    assert_eq!(next(&mut w).await.unwrap().revision(), kept);
    let e = next(&mut w).await.unwrap();
    assert_eq!((e.revision(), e.kind), (gone_rev, EventKind::Put));
    let e = next(&mut w).await.unwrap();
    assert_eq!((e.kind, e.prev.unwrap().value), (EventKind::Delete, b("g")));

    assert!(matches!(
        s.compact(rev).await,
        Err(StoreError::Compacted { .. })
    ));
    assert!(matches!(
        s.compact(rev + 10_000).await,
        Err(StoreError::FutureRevision { .. })
    ));
}

async fn the_compactor_compacts_by_itself(s: S) {
    let first = s.create("/t/auto/k", b("0"), None).await.unwrap();
    let mut rev = first;
    for i in 0..60 {
        rev = s
            .update("/t/auto/k", b(&i.to_string()), rev, None)
            .await
            .unwrap();
    }
    let policy = CompactionPolicy {
        interval: Duration::from_millis(100),
        min_age: Duration::ZERO,
        min_revisions: 10,
    };
    let _compactor = Compactor::spawn(s.clone(), policy);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match s.get("/t/auto/k", Some(first)).await {
            Err(StoreError::Compacted { .. }) => break,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            other => panic!("history was not compacted by itself: {other:?}"),
        }
    }
    // The newest revisions are kept.
    assert!(s.get("/t/auto/k", Some(rev - 5)).await.is_ok());
}

async fn leases_take_their_keys_with_them(s: S) {
    let short = s.grant_lease(Duration::from_secs(2)).await.unwrap();
    let long = s.grant_lease(Duration::from_secs(3600)).await.unwrap();
    assert_ne!(short, long);
    let mut w = s
        .watch(KeyRange::Prefix("/t/l".into()), None)
        .await
        .unwrap();
    s.create("/t/l/event", b("expires"), Some(short))
        .await
        .unwrap();
    s.create("/t/l/keep", b("stays"), None).await.unwrap();
    s.create("/t/l/revoked-1", b("x"), Some(long))
        .await
        .unwrap();
    s.create("/t/l/revoked-2", b("x"), Some(long))
        .await
        .unwrap();
    assert_eq!(
        s.get("/t/l/event", None).await.unwrap().kv.unwrap().lease,
        short
    );
    for _ in 0..4 {
        next(&mut w).await.unwrap();
    }

    s.revoke_lease(long).await.unwrap();
    assert!(s.get("/t/l/revoked-1", None).await.unwrap().kv.is_none());
    assert!(s.get("/t/l/revoked-2", None).await.unwrap().kv.is_none());
    let mut deleted = BTreeSet::new();
    for _ in 0..2 {
        let e = next(&mut w).await.unwrap();
        assert_eq!(e.kind, EventKind::Delete);
        deleted.insert(e.kv.key);
    }
    assert_eq!(
        deleted,
        BTreeSet::from(["/t/l/revoked-1".to_string(), "/t/l/revoked-2".to_string()])
    );

    // The short lease expires by itself, and its key goes with a delete event.
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.get("/t/l/event", None).await.unwrap().kv.is_some() {
        assert!(
            Instant::now() < deadline,
            "a 2 s lease did not expire in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e = next(&mut w).await.unwrap();
    assert_eq!(
        (e.kind, e.kv.key.as_str()),
        (EventKind::Delete, "/t/l/event")
    );
    assert!(s.get("/t/l/keep", None).await.unwrap().kv.is_some());

    assert!(
        matches!(s.revoke_lease(long).await, Err(StoreError::LeaseNotFound { id }) if id == long)
    );
    assert!(matches!(
        s.create("/t/l/orphan", b("x"), Some(short)).await,
        Err(StoreError::LeaseNotFound { .. })
    ));
    assert!(s.get("/t/l/orphan", None).await.unwrap().kv.is_none());
}

async fn values_over_the_size_limit_are_refused(s: S) {
    let big = Bytes::from(vec![b'x'; 1024 * 1024]);
    let rev = s.create("/t/size/ok", big.clone(), None).await.unwrap();
    assert_eq!(
        s.get("/t/size/ok", None)
            .await
            .unwrap()
            .kv
            .unwrap()
            .value
            .len(),
        big.len()
    );
    let too_big = Bytes::from(vec![b'x'; MAX_VALUE_BYTES + 1]);
    match s.create("/t/size/big", too_big.clone(), None).await {
        Err(StoreError::TooLarge { key, size, limit }) => {
            assert_eq!(
                (key.as_str(), size, limit),
                ("/t/size/big", MAX_VALUE_BYTES + 1, MAX_VALUE_BYTES)
            );
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        s.update("/t/size/ok", too_big, rev, None).await,
        Err(StoreError::TooLarge { .. })
    ));
    assert!(s.get("/t/size/big", None).await.unwrap().kv.is_none());
    assert_eq!(s.current_revision().await.unwrap(), rev);
}

async fn a_list_larger_than_four_mebibytes_comes_back_whole(s: S) {
    // gRPC's default 4 MiB message limit must not cap what a list returns.
    let value = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (s, value) = (s.clone(), value.clone());
        tasks.push(tokio::spawn(async move {
            s.create(&format!("/t/big/{i:03}"), value, None).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let l = s.list("/t/big", ListOptions::default()).await.unwrap();
    assert_eq!(l.kvs.len(), 100);
    assert!(l.kvs.iter().all(|kv| kv.value.len() == 64 * 1024));
}

macro_rules! contract_suite {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let backend = crate::common::sqlite();
                    super::$scenario(backend.store.clone()).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let backend = crate::common::etcd().await;
                    super::$scenario(backend.store.clone()).await;
                }
            )*
        }
    };
}

contract_suite!(
    revisions_only_grow_and_each_write_reports_its_own,
    writes_to_the_wrong_state_are_refused_and_change_nothing,
    concurrent_writers_serialize_through_compare_and_swap,
    reads_at_an_older_revision_see_the_past,
    lists_page_by_limit_and_start_key_at_one_revision,
    a_prefix_never_sees_a_sibling_with_a_longer_name,
    a_watch_delivers_each_later_change_in_order_with_what_it_replaced,
    a_watcher_that_restarts_resumes_from_its_last_revision,
    compaction_forgets_old_revisions_and_says_so,
    the_compactor_compacts_by_itself,
    leases_take_their_keys_with_them,
    values_over_the_size_limit_are_refused,
    a_list_larger_than_four_mebibytes_comes_back_whole,
);
