//! Crash safety of the embedded store: a writer process is killed with SIGKILL at random
//! moments; every write it saw acknowledged must be there afterwards, revisions must only
//! grow, and a watcher resuming from its last revision must see each later change once.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bosun_store::{KeyRange, SqliteOptions, SqliteStore, Store};
use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;

const CHILD_ENV: &str = "BOSUN_CRASH_TEST_DB";

/// One acknowledged write: the revision, the key and the value written.
#[derive(Debug, Clone)]
struct Ack {
    rev: i64,
    key: String,
    value: String,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ack ")?.splitn(3, ' ');
    Some(Ack {
        rev: parts.next()?.parse().ok()?,
        key: parts.next()?.to_string(),
        value: parts.next()?.to_string(),
    })
}

/// Runs one writer child until it is killed; returns the acknowledgements it printed.
fn run_child_until_killed(db: &Path, round: usize) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, db)
        .env("BOSUN_CRASH_TEST_ROUND", round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(ack) = parse_ack(&line) {
                if acks.is_empty() {
                    let _ = tx.send(());
                }
                acks.push(ack);
            }
        }
        acks
    });
    // Kill at a random moment once writing is under way.
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the child acknowledged a first write");
    let delay = rand::rng().random_range(20..400);
    std::thread::sleep(Duration::from_millis(delay));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut last_seen = 0i64;
    let mut seen_revs = HashSet::new();
    let mut total_acks = 0;
    let rounds = 24;
    for round in 0..rounds {
        let acks = run_child_until_killed(&db, round);
        assert!(!acks.is_empty());
        total_acks += acks.len();
        rt.block_on(async {
            let store = SqliteStore::open(SqliteOptions::new(&db)).unwrap();
            let current = store.current_revision().await.unwrap();
            let mut revs = HashSet::new();
            for ack in &acks {
                assert!(
                    revs.insert(ack.rev),
                    "revision {} acknowledged twice",
                    ack.rev
                );
                assert!(
                    ack.rev > last_seen,
                    "revision {} does not grow past {last_seen}",
                    ack.rev
                );
                assert!(
                    ack.rev <= current,
                    "acknowledged {} but the store is at {current}",
                    ack.rev
                );
                let kv = store.get(&ack.key, Some(ack.rev)).await.unwrap().kv;
                let kv = kv.unwrap_or_else(|| panic!("acknowledged write lost: {ack:?}"));
                assert_eq!(
                    (kv.mod_revision, kv.value),
                    (ack.rev, Bytes::from(ack.value.clone()))
                );
            }
            // A watcher resuming from its last revision sees every later change exactly once.
            let mut w = store
                .watch(KeyRange::Prefix("/crash".into()), Some(last_seen + 1))
                .await
                .unwrap();
            let mut prev = last_seen;
            while prev < current {
                let e = tokio::time::timeout(Duration::from_secs(10), w.next())
                    .await
                    .expect("watch events up to the current revision")
                    .unwrap()
                    .unwrap();
                assert!(e.revision() > prev, "event {} after {prev}", e.revision());
                assert!(
                    seen_revs.insert(e.revision()),
                    "event {} delivered twice",
                    e.revision()
                );
                revs.remove(&e.revision());
                prev = e.revision();
            }
            assert!(
                revs.is_empty(),
                "acknowledged revisions missing from the watch: {revs:?}"
            );
            last_seen = current;
        });
    }
    assert!(
        total_acks > rounds * 10,
        "only {total_acks} writes were acknowledged in {rounds} rounds"
    );
}

/// The writer child: not a test of its own, started by `acknowledged_writes_survive_sigkill`.
#[test]
#[ignore = "runs only as the child process of the crash test"]
fn crash_child_writer() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round = std::env::var("BOSUN_CRASH_TEST_ROUND").unwrap_or_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let store = std::sync::Arc::new(SqliteStore::open(SqliteOptions::new(&db)).unwrap());
        let mut tasks = Vec::new();
        for w in 0..8 {
            let store = store.clone();
            let round = round.clone();
            tasks.push(tokio::spawn(async move {
                let counter = format!("/crash/counter-{w}");
                let mut counter_rev = store
                    .get(&counter, None)
                    .await
                    .unwrap()
                    .kv
                    .map(|kv| kv.mod_revision);
                for i in 0.. {
                    let key = format!("/crash/r{round}/w{w}/{i}");
                    let value = format!("v-{round}-{w}-{i}");
                    let rev = store
                        .create(&key, Bytes::from(value.clone()), None)
                        .await
                        .unwrap();
                    println!("ack {rev} {key} {value}");
                    let value = format!("c-{round}-{w}-{i}");
                    let rev = match counter_rev {
                        None => {
                            store
                                .create(&counter, Bytes::from(value.clone()), None)
                                .await
                        }
                        Some(r) => {
                            store
                                .update(&counter, Bytes::from(value.clone()), r, None)
                                .await
                        }
                    }
                    .unwrap();
                    counter_rev = Some(rev);
                    println!("ack {rev} {counter} {value}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}
