//! `bosun-bench api`: the API server under load, through the real binary and a real client.
//!
//! Starts `bosun server` (the release binary next to this one) on a free loopback port, then
//! measures with kube-rs: creates at a fixed rate with objects already stored, gets, a table
//! list of many pods (what `kubectl get pods` asks for), watch fan-out, and the server's RSS
//! idle and with many ConfigMaps stored.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

use crate::measure::{Latencies, mib, rss_bytes};

/// Options of the API benchmark.
#[derive(clap::Args)]
pub struct ApiArgs {
    /// Objects stored before the create-rate run.
    #[arg(long, default_value_t = 5000)]
    stored: usize,
    /// Creates per second in the fixed-rate run.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Seconds the fixed-rate run lasts.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Pods in the table-list run.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Watchers in the fan-out run.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// ConfigMaps stored for the largest RSS figure.
    #[arg(long, default_value_t = 100_000)]
    configmaps: usize,
    /// The bosun binary (default: next to this program).
    #[arg(long)]
    bosun: Option<PathBuf>,
    /// Extra flags for `bosun server` (repeatable), e.g. `--server-arg=--disable-controller-manager`
    /// to see what the controllers cost.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

/// A `bosun server` started for a benchmark, stopped when dropped.
pub struct Server {
    child: Child,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The server's process id (for RSS).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin kubeconfig it wrote.
    pub fn kubeconfig(&self) -> &PathBuf {
        &self.kubeconfig
    }
}

/// The bearer token of the unprivileged user the authorization run measures.
const BENCH_TOKEN: &str = "bench-token";
/// Gets per row of the authentication comparison: long enough (about a second each) that the
/// rows are not at the mercy of a moment's noise.
const GETS: usize = 20_000;

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bosun server` (no agent, on a free loopback port, in a temp dir) and returns it with
/// an admin client once it answers.
pub async fn start(binary: &PathBuf, extra: &[String]) -> Result<(Server, Client), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        format!("{BENCH_TOKEN},bench-user,1000,\"bench\"\n"),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new(binary)
        .args(["server", "--disable-agent", "--bind-address", "127.0.0.1"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--https-listen-port")
        .arg(port.to_string())
        .arg("-o")
        .arg(&kubeconfig)
        .arg("--token-auth-file")
        .arg(&tokens)
        .args(extra)
        .env("BOSUN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let server = Server {
        child,
        kubeconfig: kubeconfig.clone(),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if kubeconfig.exists()
            && let Ok(kc) = Kubeconfig::read_from(&kubeconfig)
            && let Ok(config) =
                Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await
            && let Ok(client) = Client::try_from(config)
            && client.apiserver_version().await.is_ok()
        {
            return Ok((server, client));
        }
        if Instant::now() > deadline {
            return Err("the server did not become ready".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client that authenticates with a bearer token instead of the admin certificate, so its
/// requests go through token authentication and RBAC.
async fn token_client(kubeconfig: &PathBuf, token: &str) -> Result<Client, String> {
    let text = std::fs::read_to_string(kubeconfig).map_err(|e| e.to_string())?;
    let text: String = text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if trimmed.starts_with("client-certificate-data:") {
                format!("{indent}token: {token}\n")
            } else if trimmed.starts_with("client-key-data:") {
                String::new()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let kc = Kubeconfig::from_yaml(&text).map_err(|e| e.to_string())?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Client::try_from(config).map_err(|e| e.to_string())
}

/// Lets `bench-user` read ConfigMaps in `bench` through a ClusterRole bound by a RoleBinding,
/// with 50 unrelated bindings beside it so the authorizer has something to search.
async fn grant_bench_user(client: &Client) -> Result<(), String> {
    use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "bench-reader"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}))
            .unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), "bench");
    for i in 0..=50 {
        let user = if i == 50 {
            "bench-user".to_string()
        } else {
            format!("someone-{i}")
        };
        bindings
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": format!("read-{i}")},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bench-reader"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}))
                .unwrap(),
            )
            .await
            .map_err(|e| e.to_string())?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

/// A namespace with its `default` ServiceAccount, made here when no controller manager runs
/// to make it, so that pods can be admitted either way.
async fn create_namespace(client: &Client, ns: &str) -> Result<(), String> {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let account = serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// A ServiceAccount in `bench` that may read ConfigMaps, and a bound token for it.
async fn bench_service_account(client: &Client) -> Result<String, String> {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::RoleBinding;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "bench");
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "bench-sa"}})).unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), "bench");
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "read-sa"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bench-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "bench-sa", "namespace": "bench"}]}))
            .unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let issued = accounts
        .create_token_request("bench-sa", &PostParams::default(), &TokenRequest::default())
        .await
        .map_err(|e| e.to_string())?;
    issued
        .status
        .map(|s| s.token)
        .ok_or_else(|| "no token issued".to_string())
}

/// A LimitRange with container defaults and bounds and a ResourceQuota with room for every pod
/// the run creates, synced by the quota controller before returning.
async fn limit_and_quota(client: &Client, ns: &str) -> Result<(), String> {
    use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), ns);
    ranges
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "limits"}, "spec": {"limits": [
                {"type": "Container", "default": {"cpu": "200m", "memory": "128Mi"},
                 "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "10m"}}]}}))
            .unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), ns);
    quotas
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "room"},
                "spec": {"hard": {"pods": "100000", "requests.cpu": "10000", "limits.memory": "10000Gi"}}}))
            .unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while quotas
        .get("room")
        .await
        .map_err(|e| e.to_string())?
        .status
        .and_then(|s| s.used)
        .is_none()
    {
        if Instant::now() > deadline {
            return Err("the quota was never synced (no controller manager?)".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `n` pod creates, 16 at a time: p50, p99 and throughput.
async fn creates(api: &Api<Pod>, n: usize, prefix: &str) -> (f64, f64, f64) {
    let begin = Instant::now();
    let lats: Vec<Duration> = futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let name = format!("c-{prefix}-{i:05}");
            async move {
                let t = Instant::now();
                api.create(&PostParams::default(), &pod(name))
                    .await
                    .expect("create");
                t.elapsed()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut lat = Latencies::new();
    lats.into_iter().for_each(|d| lat.record(d));
    (
        lat.percentile_ms(50.0),
        lat.percentile_ms(99.0),
        n as f64 / begin.elapsed().as_secs_f64(),
    )
}

/// `n` gets of stored ConfigMaps, 16 at a time: p50, p99 and throughput.
async fn gets(api: &Api<ConfigMap>, n: usize, stored: usize) -> (f64, f64, f64) {
    let begin = Instant::now();
    let lats: Vec<Duration> = futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let t = Instant::now();
                api.get(&format!("seed-{:06}", i % stored.max(1)))
                    .await
                    .expect("get");
                t.elapsed()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut lat = Latencies::new();
    lats.into_iter().for_each(|d| lat.record(d));
    (
        lat.percentile_ms(50.0),
        lat.percentile_ms(99.0),
        n as f64 / begin.elapsed().as_secs_f64(),
    )
}

fn configmap(name: String) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name),
            labels: Some(BTreeMap::from([("bench".into(), "api".into())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("key".to_string(), "x".repeat(256))])),
        ..Default::default()
    }
}

fn pod(name: String) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "bench", "tier": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    }))
    .expect("a valid pod")
}

/// Creates `n` objects with `name(i)` using 32 concurrent requests.
async fn fill<K, F>(api: &Api<K>, n: usize, make: F)
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    F: Fn(usize) -> K + Send + Sync + 'static,
{
    let make = Arc::new(make);
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let make = make.clone();
            async move {
                api.create(&PostParams::default(), &make(i))
                    .await
                    .expect("create")
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: ApiArgs) -> Result<(), String> {
    let binary = args.bosun.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("own path")
            .with_file_name("bosun")
    });
    let (server, client) = start(&binary, &args.server_args).await?;
    let pid = server.child.id();
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |name: String, value: String| {
        println!("  {name:<52} {value}");
        rows.push((name, value));
    };
    println!("bosun-bench api: {}", binary.display());

    tokio::time::sleep(Duration::from_secs(2)).await;
    row("server RSS, idle".into(), mib(rss_bytes(Some(pid))));

    for ns in ["bench", "pods"] {
        create_namespace(&client, ns).await?;
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "bench");
    fill(&cms, args.stored, |i| configmap(format!("seed-{i:06}"))).await;

    // Creates at a fixed rate, each on its own schedule (open loop).
    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let begin = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total {
        let api = cms.clone();
        let due = begin + interval * i as u32;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let t = Instant::now();
            api.create(&PostParams::default(), &configmap(format!("rate-{i:06}")))
                .await
                .expect("create");
            t.elapsed()
        }));
    }
    let mut lat = Latencies::new();
    for t in tasks {
        lat.record(t.await.map_err(|e| e.to_string())?);
    }
    let took = begin.elapsed();
    row(
        format!(
            "create at {}/s with {} stored: p50 / p99",
            args.rate, args.stored
        ),
        format!(
            "{:.2} / {:.2} ms ({} creates in {:.1} s)",
            lat.percentile_ms(50.0),
            lat.percentile_ms(99.0),
            total,
            took.as_secs_f64()
        ),
    );

    // Gets, 16 at a time: as the admin (system:masters, allowed at once), then as a token
    // user allowed by a RoleBinding among 50 others, for the price of authn + RBAC.
    let (p50, p99, rate) = gets(&cms, GETS, args.stored).await;
    row(
        "get, 16 concurrent: p50 / p99, throughput".into(),
        format!("{p50:.2} / {p99:.2} ms, {rate:.0}/s"),
    );
    grant_bench_user(&client).await?;
    let user_cms: Api<ConfigMap> = Api::namespaced(
        token_client(&server.kubeconfig, BENCH_TOKEN).await?,
        "bench",
    );
    let (p50, p99, rate) = gets(&user_cms, GETS, args.stored).await;
    row(
        "get as an RBAC user (token), 16 concurrent".into(),
        format!("{p50:.2} / {p99:.2} ms, {rate:.0}/s"),
    );
    let sa_token = bench_service_account(&client).await?;
    let sa_cms: Api<ConfigMap> =
        Api::namespaced(token_client(&server.kubeconfig, &sa_token).await?, "bench");
    let (p50, p99, rate) = gets(&sa_cms, GETS, args.stored).await;
    row(
        "get as a ServiceAccount (bound token), 16 concurrent".into(),
        format!("{p50:.2} / {p99:.2} ms, {rate:.0}/s"),
    );
    let (p50, p99, rate) = gets(&cms, GETS, args.stored).await;
    row(
        "get as admin again (same run, for comparison)".into(),
        format!("{p50:.2} / {p99:.2} ms, {rate:.0}/s"),
    );

    // Pod creates through admission: in a namespace with nothing to apply, then in one with a
    // LimitRange (defaults to fill in, limits to check) and a ResourceQuota (usage to charge).
    for ns in ["plain", "admitted"] {
        create_namespace(&client, ns).await?;
    }
    let passes = match limit_and_quota(&client, "admitted").await {
        Ok(()) => vec!["plain", "admitted", "plain"],
        Err(e) => {
            row("pod create in \"admitted\"".into(), format!("skipped: {e}"));
            vec!["plain"]
        }
    };
    for (pass, ns) in passes.into_iter().enumerate() {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let (p50, p99, rate) = creates(&api, 2000, &format!("pass{pass}")).await;
        row(
            format!("pod create in {ns:?}, 16 concurrent"),
            format!("{p50:.2} / {p99:.2} ms, {rate:.0}/s"),
        );
    }
    // Gone again, so that the memory figures below hold what they name.
    for ns in ["plain", "admitted"] {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
    }

    // A table list of many pods, as kubectl get pods asks for it.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "pods");
    fill(&pods, args.pods, |i| pod(format!("pod-{i:06}"))).await;
    let mut lat = Latencies::new();
    for _ in 0..10 {
        let req = http::Request::get("/api/v1/namespaces/pods/pods")
            .header(
                "Accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .body(Vec::new())
            .expect("request");
        let t = Instant::now();
        let body = client.request_text(req).await.map_err(|e| e.to_string())?;
        lat.record(t.elapsed());
        assert!(body.len() > args.pods * 50);
    }
    row(
        format!("table list of {} pods: p50 / p99", args.pods),
        format!(
            "{:.1} / {:.1} ms",
            lat.percentile_ms(50.0),
            lat.percentile_ms(99.0)
        ),
    );
    let mut lat = Latencies::new();
    for _ in 0..10 {
        let t = Instant::now();
        let list = pods
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        lat.record(t.elapsed());
        assert_eq!(list.items.len(), args.pods);
    }
    row(
        format!("JSON list of {} pods (kube-rs, decoded): p50", args.pods),
        format!("{:.1} ms", lat.percentile_ms(50.0)),
    );

    // Watch fan-out: every watcher sees every create.
    let rv = cms
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|e| e.to_string())?
        .metadata
        .resource_version
        .unwrap_or_default();
    let events = 1000usize;
    let mut watchers = Vec::new();
    for _ in 0..args.watchers {
        let stream = cms
            .watch(&WatchParams::default().labels("fanout=yes"), &rv)
            .await
            .map_err(|e| e.to_string())?;
        watchers.push(tokio::spawn(async move {
            let mut stream = stream.boxed();
            let mut n = 0;
            while n < events {
                match stream.try_next().await {
                    Ok(Some(WatchEvent::Added(_))) => n += 1,
                    Ok(Some(_)) => {}
                    other => panic!("watch ended: {other:?}"),
                }
            }
            Instant::now()
        }));
    }
    let begin = Instant::now();
    fill(&cms, events, |i| {
        let mut c = configmap(format!("fan-{i:06}"));
        c.metadata.labels = Some(BTreeMap::from([("fanout".into(), "yes".into())]));
        c
    })
    .await;
    let mut last = begin;
    for w in watchers {
        last = last.max(w.await.map_err(|e| e.to_string())?);
    }
    let took = last - begin;
    row(
        format!(
            "watch fan-out: {events} creates to {} watchers",
            args.watchers
        ),
        format!(
            "{:.0} ms, {:.0} deliveries/s",
            took.as_secs_f64() * 1000.0,
            (events * args.watchers) as f64 / took.as_secs_f64()
        ),
    );

    // Memory with many objects stored.
    let stored_now = args.stored + total as usize + events;
    for target in [10_000usize, args.configmaps] {
        if target > stored_now {
            let have = cms
                .list(&ListParams::default().limit(1))
                .await
                .map_err(|e| e.to_string())?;
            let n = have.metadata.remaining_item_count.unwrap_or(0) as usize + have.items.len();
            if target > n {
                fill(&cms, target - n, move |i| {
                    configmap(format!("mem-{target}-{i:07}"))
                })
                .await;
            }
        }
        // Lists warm the cache the way controllers would.
        cms.list(&ListParams::default().limit(1))
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        row(
            format!("server RSS with {target} ConfigMaps (+{} pods)", args.pods),
            mib(rss_bytes(Some(pid))),
        );
    }

    println!("\n| measurement | value |\n|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    drop(server);
    Ok(())
}
