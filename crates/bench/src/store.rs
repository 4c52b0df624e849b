//! `bosun-bench store`: the embedded store against a local etcd, same workload, same run.
//!
//! Workloads, each run on both backends in turn:
//! - create and update throughput with 1, 16 and 64 concurrent writers, p50/p99 latency;
//! - a list of 10,000 keys of 1 KiB;
//! - watch fan-out: 1,000 events delivered to each of 100 watchers;
//! - disk bytes and RSS with 100,000 objects of 1 KiB stored.
//!
//! Both backends fsync every acknowledged write (SQLite `synchronous=FULL` in WAL mode, etcd
//! by default), so throughput compares like with like.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bosun_store::etcd_process::EtcdProcess;
use bosun_store::{KeyRange, ListOptions, SqliteOptions, SqliteStore, Store};
use bytes::Bytes;
use futures::StreamExt;

use crate::measure::{Latencies, RunResult, disk_bytes, mib, rss_bytes};

/// Options of the store benchmark.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Seconds each throughput run lasts.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Objects stored for the disk and memory figures.
    #[arg(long, default_value_t = 100_000)]
    objects: usize,
    /// Keys in the list benchmark.
    #[arg(long, default_value_t = 10_000)]
    list_keys: usize,
    /// Watchers in the fan-out benchmark.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Events written in the fan-out benchmark.
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// Measure only the embedded store.
    #[arg(long)]
    skip_etcd: bool,
}

/// One backend's figures.
#[derive(Default)]
struct Figures {
    rows: Vec<(String, f64, String)>,
}

impl Figures {
    fn add(&mut self, name: impl Into<String>, value: f64, shown: impl Into<String>) {
        let name = name.into();
        let shown = shown.into();
        println!("  {name:<44} {shown}");
        self.rows.push((name, value, shown));
    }
}

const VALUE_SIZE: usize = 1024;

fn value() -> Bytes {
    Bytes::from(vec![b'v'; VALUE_SIZE])
}

/// Creates fresh keys from `writers` tasks for `seconds`.
async fn create_run(
    store: Arc<dyn Store>,
    prefix: &str,
    writers: usize,
    seconds: u64,
) -> RunResult {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::new();
            let v = value();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                store
                    .create(&format!("{prefix}/{w}/{i}"), v.clone(), None)
                    .await
                    .expect("create");
                lat.record(t.elapsed());
                i += 1;
            }
            lat
        }));
    }
    collect(tasks, start).await
}

/// Rewrites one key per writer, guarded by its last revision, for `seconds`.
async fn update_run(
    store: Arc<dyn Store>,
    prefix: &str,
    writers: usize,
    seconds: u64,
) -> RunResult {
    let mut revs = Vec::new();
    for w in 0..writers {
        revs.push(
            store
                .create(&format!("{prefix}/{w}"), value(), None)
                .await
                .expect("seed"),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (w, mut rev) in revs.into_iter().enumerate() {
        let store = store.clone();
        let key = format!("{prefix}/{w}");
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::new();
            let v = value();
            while Instant::now() < deadline {
                let t = Instant::now();
                rev = store
                    .update(&key, v.clone(), rev, None)
                    .await
                    .expect("update");
                lat.record(t.elapsed());
            }
            lat
        }));
    }
    collect(tasks, start).await
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Latencies>>, start: Instant) -> RunResult {
    let mut latencies = Latencies::new();
    for t in tasks {
        latencies.merge(&t.await.expect("writer task"));
    }
    RunResult {
        ops: latencies.count(),
        elapsed: start.elapsed(),
        latencies,
    }
}

/// Writes `n` objects under `prefix` with 64 concurrent writers.
async fn load(store: &Arc<dyn Store>, prefix: &str, n: usize) {
    let writers = 64.min(n.max(1));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let v = value();
            let mut i = w;
            while i < n {
                store
                    .create(&format!("{prefix}/{i:08}"), v.clone(), None)
                    .await
                    .expect("load");
                i += writers;
            }
        }));
    }
    for t in tasks {
        t.await.expect("load task");
    }
}

/// Runs every workload on one backend. `server_pid` is etcd's process for its RSS; `None`
/// measures this process (the embedded store), relative to `baseline_rss`.
async fn measure(
    store: Arc<dyn Store>,
    args: &StoreArgs,
    data_dir: &std::path::Path,
    server_pid: Option<u32>,
    baseline_rss: u64,
) -> Figures {
    let mut f = Figures::default();
    for writers in [1, 16, 64] {
        let r = create_run(
            store.clone(),
            &format!("/bench/create-{writers}"),
            writers,
            args.seconds,
        )
        .await;
        f.add(
            format!("create, {writers} writers: throughput"),
            r.throughput(),
            format!("{:.0}/s", r.throughput()),
        );
        f.add(
            format!("create, {writers} writers: p50 / p99"),
            r.latencies.percentile_ms(99.0),
            format!(
                "{:.2} / {:.2} ms",
                r.latencies.percentile_ms(50.0),
                r.latencies.percentile_ms(99.0)
            ),
        );
    }
    for writers in [1, 16, 64] {
        let r = update_run(
            store.clone(),
            &format!("/bench/update-{writers}"),
            writers,
            args.seconds,
        )
        .await;
        f.add(
            format!("update, {writers} writers: throughput"),
            r.throughput(),
            format!("{:.0}/s", r.throughput()),
        );
        f.add(
            format!("update, {writers} writers: p50 / p99"),
            r.latencies.percentile_ms(99.0),
            format!(
                "{:.2} / {:.2} ms",
                r.latencies.percentile_ms(50.0),
                r.latencies.percentile_ms(99.0)
            ),
        );
    }

    load(&store, "/bench/list", args.list_keys).await;
    let mut lat = Latencies::new();
    for _ in 0..20 {
        let t = Instant::now();
        let l = store
            .list("/bench/list", ListOptions::default())
            .await
            .expect("list");
        lat.record(t.elapsed());
        assert_eq!(l.kvs.len(), args.list_keys);
    }
    f.add(
        format!("list {} keys: p50", args.list_keys),
        lat.percentile_ms(50.0),
        format!(
            "{:.1} ms (p99 {:.1} ms)",
            lat.percentile_ms(50.0),
            lat.percentile_ms(99.0)
        ),
    );

    let (elapsed, deliveries) = fan_out(&store, args.watchers, args.events).await;
    f.add(
        format!(
            "watch fan-out {} events x {} watchers",
            args.events, args.watchers
        ),
        deliveries as f64 / elapsed.as_secs_f64(),
        format!(
            "{:.0} ms, {:.0} deliveries/s",
            elapsed.as_secs_f64() * 1000.0,
            deliveries as f64 / elapsed.as_secs_f64()
        ),
    );

    let disk_before = disk_bytes(data_dir);
    let rss_before = rss_bytes(server_pid);
    let t = Instant::now();
    load(&store, "/bench/objects", args.objects).await;
    let load_time = t.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let disk = disk_bytes(data_dir);
    let rss = rss_bytes(server_pid);
    f.add(
        format!("load {} objects (64 writers)", args.objects),
        args.objects as f64 / load_time.as_secs_f64(),
        format!(
            "{:.1} s, {:.0}/s",
            load_time.as_secs_f64(),
            args.objects as f64 / load_time.as_secs_f64()
        ),
    );
    let per_100k = 100_000.0 / args.objects as f64;
    let disk_growth = disk.saturating_sub(disk_before) as f64 * per_100k;
    f.add(
        "disk per 100,000 objects of 1 KiB",
        disk_growth,
        mib(disk_growth as u64),
    );
    f.add("disk, whole data dir at the end", disk as f64, mib(disk));
    let rss_growth = rss.saturating_sub(rss_before) as f64 * per_100k;
    f.add(
        "RSS growth per 100,000 objects",
        rss_growth,
        mib(rss_growth as u64),
    );

    // Writers keep going while the whole history but the last 1,000 revisions is compacted.
    let current = store.current_revision().await.expect("revision");
    let compaction = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let t = Instant::now();
            store.compact(current - 1000).await.expect("compact");
            t.elapsed()
        })
    };
    let r = update_run(store.clone(), "/bench/update-compacting", 16, args.seconds).await;
    let compact_call = compaction.await.expect("compaction task");
    f.add(
        format!(
            "update, 16 writers, compacting {} revisions: p99",
            current - 1000
        ),
        r.latencies.percentile_ms(99.0),
        format!(
            "{:.0}/s, p50 {:.2} / p99 {:.2} / max {:.1} ms (compact call {:.0} ms)",
            r.throughput(),
            r.latencies.percentile_ms(50.0),
            r.latencies.percentile_ms(99.0),
            r.latencies.max_ms(),
            compact_call.as_secs_f64() * 1000.0
        ),
    );

    let total_rss = if server_pid.is_some() {
        rss
    } else {
        rss.saturating_sub(baseline_rss)
    };
    f.add(
        "RSS of the store at the end",
        total_rss as f64,
        mib(total_rss),
    );
    f
}

/// Starts `watchers` watches, writes `events` keys, and times until every watcher has them all.
async fn fan_out(store: &Arc<dyn Store>, watchers: usize, events: usize) -> (Duration, u64) {
    let start_rev = store.current_revision().await.expect("revision") + 1;
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(watchers);
    for _ in 0..watchers {
        let mut w = store
            .watch(KeyRange::Prefix("/bench/fanout".into()), Some(start_rev))
            .await
            .expect("watch");
        let ready = ready_tx.clone();
        tasks.push(tokio::spawn(async move {
            let _ = ready.send(()).await;
            let mut n = 0;
            while n < events {
                match w.next().await {
                    Some(Ok(_)) => n += 1,
                    other => panic!("watch ended early: {other:?}"),
                }
            }
            Instant::now()
        }));
    }
    for _ in 0..watchers {
        ready_rx.recv().await;
    }
    let start = Instant::now();
    load(store, "/bench/fanout", events).await;
    let mut last = start;
    for t in tasks {
        last = last.max(t.await.expect("watcher"));
    }
    (last - start, (watchers * events) as u64)
}

/// Runs the benchmark and prints the comparison.
pub async fn run(args: StoreArgs) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    println!(
        "bosun-bench store: {} s per throughput run, values of {VALUE_SIZE} bytes",
        args.seconds
    );

    let baseline_rss = rss_bytes(None);
    println!("\nembedded SQLite");
    let sqlite_dir = dir.path().join("sqlite");
    let sqlite = Arc::new(
        SqliteStore::open(SqliteOptions::new(sqlite_dir.join("state.db")))
            .map_err(|e| e.to_string())?,
    );
    let sqlite_figures = measure(sqlite.clone(), &args, &sqlite_dir, None, baseline_rss).await;
    let stats = sqlite.stats();
    println!(
        "  (group commit: {} writes in {} commits)",
        stats.writes.load(std::sync::atomic::Ordering::Relaxed),
        stats.commits.load(std::sync::atomic::Ordering::Relaxed)
    );
    drop(sqlite);

    let etcd_figures = if args.skip_etcd {
        None
    } else {
        println!("\netcd (local, {})", etcd_version());
        let etcd_dir = dir.path().join("etcd");
        std::fs::create_dir_all(&etcd_dir).map_err(|e| e.to_string())?;
        let etcd = EtcdProcess::start(&etcd_dir).await?;
        let client = Arc::new(etcd.store().await.map_err(|e| e.to_string())?);
        Some(measure(client, &args, etcd.data_dir(), Some(etcd.pid()), 0).await)
    };

    println!("\n| workload | embedded SQLite | etcd | SQLite / etcd |\n|---|---|---|---|");
    for (i, (name, value, shown)) in sqlite_figures.rows.iter().enumerate() {
        match &etcd_figures {
            Some(e) => {
                let (_, ev, es) = &e.rows[i];
                let ratio = if *ev > 0.0 {
                    format!("{:.2}", value / ev)
                } else {
                    "-".into()
                };
                println!("| {name} | {shown} | {es} | {ratio} |");
            }
            None => println!("| {name} | {shown} | - | - |"),
        }
    }
    Ok(())
}

fn etcd_version() -> String {
    std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
        .unwrap_or_else(|| "version unknown".into())
}
