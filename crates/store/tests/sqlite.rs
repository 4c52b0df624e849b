//! Properties of the embedded SQLite backend beyond the shared contract.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bosun_store::{
    KeyRange, ListOptions, SqliteOptions, SqliteStore, Store, StoreError, Transformed,
    ValueTransformer,
};
use bytes::Bytes;
use common::next;

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(SqliteOptions::new(path)).unwrap()
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    p.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_reopen_and_revisions_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let last = {
        let s = open(&db);
        let mut rev = 0;
        for i in 0..100 {
            rev = s
                .create(&format!("/r/{i}"), Bytes::from(format!("v{i}")), None)
                .await
                .unwrap();
        }
        s.delete("/r/7", None).await.unwrap();
        rev + 1
    };
    let s = open(&db);
    assert_eq!(s.current_revision().await.unwrap(), last);
    assert_eq!(s.count("/r").await.unwrap(), 99);
    assert_eq!(
        s.get("/r/42", None).await.unwrap().kv.unwrap().value,
        Bytes::from("v42")
    );
    let next_rev = s.create("/r/new", Bytes::from("x"), None).await.unwrap();
    assert_eq!(next_rev, last + 1);
}

#[tokio::test]
async fn a_database_in_use_cannot_be_opened_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let _first = open(&db);
    match SqliteStore::open(SqliteOptions::new(&db)) {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("in use"), "{msg}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second open of a database in use must fail"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&dir.path().join("state.db")));
    let mut tasks = Vec::new();
    for w in 0..64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                s.create(&format!("/g/{w}/{i}"), Bytes::from_static(b"v"), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let writes = s.stats().writes.load(Ordering::Relaxed);
    let commits = s.stats().commits.load(Ordering::Relaxed);
    assert_eq!(writes, 64 * 20);
    assert!(
        commits * 2 < writes,
        "{writes} writes took {commits} commits: no group commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_use_levels_off_under_steady_churn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut options = SqliteOptions::new(&db);
    options.wal_size_limit = 4 << 20;
    let s = Arc::new(SqliteStore::open(options).unwrap());
    let keys = 400;
    let value = Bytes::from(vec![b'x'; 1024]);
    let mut revs = Vec::new();
    for k in 0..keys {
        revs.push(
            s.create(&format!("/churn/{k}"), value.clone(), None)
                .await
                .unwrap(),
        );
    }
    let mut sizes = Vec::new();
    for _round in 0..30 {
        // Every key is rewritten once per round by 16 concurrent writers.
        let mut tasks = Vec::new();
        for w in 0..16 {
            let s = s.clone();
            let value = value.clone();
            let mine: Vec<(usize, i64)> = revs
                .iter()
                .copied()
                .enumerate()
                .filter(|(k, _)| k % 16 == w)
                .collect();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for (k, rev) in mine {
                    let r = s
                        .update(&format!("/churn/{k}"), value.clone(), rev, None)
                        .await
                        .unwrap();
                    out.push((k, r));
                }
                out
            }));
        }
        for t in tasks {
            for (k, r) in t.await.unwrap() {
                revs[k] = r;
            }
        }
        // Keep one round of history, as the compactor would.
        let current = s.current_revision().await.unwrap();
        s.compact(current - keys as i64).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        sizes.push((file_size(&db), file_size(&wal_path(&db))));
    }
    let (db_early, _) = sizes[9];
    let (db_late, _) = sizes[29];
    let wal_max = sizes.iter().map(|(_, w)| *w).max().unwrap();
    assert!(
        db_late <= db_early + db_early / 4 + (256 << 10),
        "the database kept growing under churn: {sizes:?}"
    );
    assert!(
        wal_max <= 24 << 20,
        "the WAL grew to {wal_max} bytes: {sizes:?}"
    );
    // History of one round is still readable; older is compacted.
    let current = s.current_revision().await.unwrap();
    assert!(s.get("/churn/0", Some(current - 10)).await.is_ok());
    assert!(matches!(
        s.get("/churn/0", Some(10)).await,
        Err(StoreError::Compacted { .. })
    ));
    assert!(s.stats().compaction_steps.load(Ordering::Relaxed) > 0);
}

/// A reversible toy cipher: enough to see that the backend stores only what it is given.
struct Rot;

impl ValueTransformer for Rot {
    fn encode(&self, _key: &str, plain: Bytes) -> bosun_store::Result<Bytes> {
        let mut v = b"rot:".to_vec();
        v.extend(plain.iter().map(|b| b.wrapping_add(13)));
        Ok(v.into())
    }
    fn decode(&self, key: &str, stored: Bytes) -> bosun_store::Result<Bytes> {
        let body = stored
            .strip_prefix(b"rot:")
            .ok_or_else(|| StoreError::Transform {
                key: key.into(),
                reason: "missing prefix".into(),
            })?;
        Ok(body
            .iter()
            .map(|b| b.wrapping_sub(13))
            .collect::<Vec<_>>()
            .into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_can_be_transformed_on_their_way_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let secret = "correct-horse-battery-staple";
    {
        let s = Transformed::new(open(&db), Arc::new(Rot));
        let mut w = s
            .watch(KeyRange::Prefix("/registry/secrets".into()), None)
            .await
            .unwrap();
        let r = s
            .create("/registry/secrets/default/s", Bytes::from(secret), None)
            .await
            .unwrap();
        assert_eq!(next(&mut w).await.unwrap().kv.value, Bytes::from(secret));
        let got = s
            .get("/registry/secrets/default/s", None)
            .await
            .unwrap()
            .kv
            .unwrap();
        assert_eq!(got.value, Bytes::from(secret));
        let listed = s
            .list("/registry/secrets", ListOptions::default())
            .await
            .unwrap();
        assert_eq!(listed.kvs[0].value, Bytes::from(secret));
        match s
            .update(
                "/registry/secrets/default/s",
                Bytes::from("new"),
                r - 1,
                None,
            )
            .await
        {
            Err(StoreError::Conflict { current, .. }) => {
                assert_eq!(current.value, Bytes::from(secret))
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let raw = s
            .inner()
            .get("/registry/secrets/default/s", None)
            .await
            .unwrap()
            .kv
            .unwrap();
        assert!(raw.value.starts_with(b"rot:"));
    }
    let mut on_disk = std::fs::read(&db).unwrap();
    on_disk.extend(std::fs::read(wal_path(&db)).unwrap_or_default());
    assert!(
        !on_disk
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "the plain value reached the disk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_too_slow_for_the_live_feed_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir.path().join("state.db"));
    let mut w = s
        .watch(KeyRange::Prefix("/slow".into()), None)
        .await
        .unwrap();
    // More separate commits than the in-memory feed holds, while nobody reads the watch.
    let total = 2500;
    let mut revs = Vec::new();
    for i in 0..total {
        revs.push(
            s.create(&format!("/slow/{i}"), Bytes::from_static(b"v"), None)
                .await
                .unwrap(),
        );
    }
    for (i, rev) in revs.iter().enumerate() {
        let e = next(&mut w).await.unwrap();
        assert_eq!(
            (e.kv.key.clone(), e.revision()),
            (format!("/slow/{i}"), *rev)
        );
    }
}
