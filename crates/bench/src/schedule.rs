//! `bosun-bench schedule`: scheduling throughput through the real binary. A release `bosun
//! server` and a `bosun simulate` process with N nodes run side by side; P pods (one small
//! request each, no node) are created as fast as the API takes them, and the run lasts until
//! the last one is bound. Reported: pods/s from the first create to the last binding, the
//! create rate alone, and the server's RSS idle with the nodes, and after.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;

use crate::api::start;
use crate::measure::{mib, rss_bytes};

/// Options of the scheduling benchmark.
#[derive(clap::Args)]
pub struct ScheduleArgs {
    /// Simulated nodes (repeatable for several runs, e.g. `--nodes 1000 --nodes 5000`).
    #[arg(long, default_values_t = vec![1000usize])]
    nodes: Vec<usize>,
    /// Pods to schedule in each run.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Creates in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The bosun binary (default: next to this program).
    #[arg(long)]
    bosun: Option<PathBuf>,
}

struct Simulation(Child);

impl Drop for Simulation {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_nodes(client: &Client, n: usize) -> Result<(), String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let list = nodes
            .list_metadata(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        if list.items.len() >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("only {} of {n} nodes registered", list.items.len()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn one_run(
    binary: &PathBuf,
    nodes: usize,
    args: &ScheduleArgs,
) -> Result<Vec<(String, String)>, String> {
    let (server, client) = start(binary, &[]).await?;
    let pid = server.pid();
    let sim = Simulation(
        Command::new(binary)
            .args([
                "simulate",
                "--nodes",
                &nodes.to_string(),
                "--cpu",
                "32",
                "--memory",
                "256Gi",
                "--pods",
                "110",
            ])
            .arg("--kubeconfig")
            .arg(server.kubeconfig())
            .env("BOSUN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let registered = Instant::now();
    wait_for_nodes(&client, nodes).await?;
    let registration = registered.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = rss_bytes(Some(pid));

    // Count bindings as the watch reports them.
    let bound = Arc::new(AtomicUsize::new(0));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let watch = {
        let bound = bound.clone();
        let config = watcher::Config::default().labels("bench=schedule");
        let mut seen = std::collections::HashSet::new();
        let stream = watcher(pods.clone(), config).applied_objects();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Ok(Some(pod)) = stream.try_next().await {
                let assigned = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_ref())
                    .is_some();
                if assigned && seen.insert(pod.metadata.name.clone().unwrap_or_default()) {
                    bound.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    futures::stream::iter(0..args.pods)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("sched-{i}"), "labels": {"bench": "schedule"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx",
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
                }))
                .expect("a pod");
                pods.create(&PostParams::default(), &pod).await.map(|_| ())
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| e.to_string())?;
    let created = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(900);
    while bound.load(Ordering::Relaxed) < args.pods {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} pods bound",
                bound.load(Ordering::Relaxed),
                args.pods
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let scheduled = started.elapsed();
    watch.abort();
    let busy_rss = rss_bytes(Some(pid));
    drop(sim);
    drop(server);
    let rate = args.pods as f64 / scheduled.as_secs_f64();
    Ok(vec![
        (
            format!("{nodes} nodes: registration"),
            format!("{:.1} s", registration.as_secs_f64()),
        ),
        (
            format!("{nodes} nodes: server RSS with the nodes, idle"),
            mib(idle_rss),
        ),
        (
            format!("{nodes} nodes: {} pods created (API alone)", args.pods),
            format!(
                "{:.1} s, {:.0} pods/s",
                created.as_secs_f64(),
                args.pods as f64 / created.as_secs_f64()
            ),
        ),
        (
            format!("{nodes} nodes: {} pods scheduled and bound", args.pods),
            format!("{:.1} s, **{rate:.0} pods/s**", scheduled.as_secs_f64()),
        ),
        (format!("{nodes} nodes: server RSS after"), mib(busy_rss)),
    ])
}

/// Runs the benchmark and prints its table.
pub async fn run(args: ScheduleArgs) -> Result<(), String> {
    let binary = args.bosun.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("own path")
            .with_file_name("bosun")
    });
    println!("bosun-bench schedule: {}", binary.display());
    let mut rows = Vec::new();
    for &nodes in &args.nodes {
        for row in one_run(&binary, nodes, &args).await? {
            println!("  {:<55} {}", row.0, row.1);
            rows.push(row);
        }
    }
    println!("\n| measurement | value |\n|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    Ok(())
}
