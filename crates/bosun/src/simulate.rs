//! `bosun simulate`: simulated nodes for control-plane tests and scale measurements.

use std::path::PathBuf;
use std::time::Duration;

use bosun_sim::SimConfig;
use bosun_sim::config::{parse_label, parse_taint};

/// `bosun simulate` flags.
#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The kubeconfig to reach the API server with.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Node names are `<prefix>-<n>`.
    #[arg(long, default_value = "sim-node")]
    name_prefix: String,
    /// Each node's CPU capacity.
    #[arg(long, default_value = "32")]
    cpu: String,
    /// Each node's memory capacity.
    #[arg(long, default_value = "256Gi")]
    memory: String,
    /// How many pods each node takes.
    #[arg(long, default_value = "110")]
    pods: String,
    /// A label for every node (`key=value`, repeatable).
    #[arg(long = "node-label")]
    node_labels: Vec<String>,
    /// A taint for every node (`key[=value]:Effect`, repeatable).
    #[arg(long = "node-taint")]
    node_taints: Vec<String>,
    /// Seconds between Lease renewals.
    #[arg(long, default_value_t = 10)]
    lease_interval: u64,
    /// Seconds a Job's pod runs before it succeeds.
    #[arg(long, default_value_t = 5)]
    job_duration: u64,
    /// Seconds a deleted pod's containers take to stop (at most its grace period).
    #[arg(long, default_value_t = 1)]
    stop_duration: u64,
}

/// Runs the simulated nodes until interrupted.
pub async fn run(args: SimulateArgs) -> Result<(), String> {
    let mut config = SimConfig {
        nodes: args.nodes,
        name_prefix: args.name_prefix,
        cpu: args.cpu,
        memory: args.memory,
        pods: args.pods,
        lease_interval: Duration::from_secs(args.lease_interval.max(1)),
        job_duration: Duration::from_secs(args.job_duration),
        stop_duration: Duration::from_secs(args.stop_duration),
        ..SimConfig::default()
    };
    for label in &args.node_labels {
        let (k, v) = parse_label(label).map_err(|e| e.to_string())?;
        config.labels.insert(k, v);
    }
    for taint in &args.node_taints {
        config
            .taints
            .push(parse_taint(taint).map_err(|e| e.to_string())?);
    }
    let kubeconfig = kube::config::Kubeconfig::read_from(&args.kubeconfig)
        .map_err(|e| format!("reading {}: {e}", args.kubeconfig.display()))?;
    let client_config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| format!("{}: {e}", args.kubeconfig.display()))?;
    let client = kube::Client::try_from(client_config).map_err(|e| e.to_string())?;
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    bosun_sim::run(client, config, stop)
        .await
        .map_err(|e| e.to_string())
}
