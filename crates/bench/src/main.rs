//! Bosun's load generators. Each one measures Bosun and, where there is one, a peer in the same
//! run on the same machine, and prints a Markdown table ready for docs/benchmarks.md.
//!
//! - `bosun-bench store`: the embedded SQLite store against a local etcd ([`store`]).
//! - `bosun-bench api`: the API server through the real binary and kube-rs ([`api`]).
//! - `bosun-bench schedule`: scheduling throughput on simulated nodes ([`schedule`]).

mod api;
mod measure;
mod schedule;
mod store;

use clap::{Parser, Subcommand};

/// Command line of the benchmark program.
#[derive(Parser)]
#[command(name = "bosun-bench", about = "Bosun's load generators")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Datastore: embedded SQLite vs a local etcd, same workload, same run.
    Store(store::StoreArgs),
    /// API server: create rate, gets, table lists, watch fan-out, RSS.
    Api(api::ApiArgs),
    /// Scheduler: pods/s on simulated nodes, through the real binary.
    Schedule(schedule::ScheduleArgs),
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        match cli.command {
            Command::Store(args) => store::run(args).await,
            Command::Api(args) => api::run(args).await,
            Command::Schedule(args) => schedule::run(args).await,
        }
    });
    if let Err(e) = result {
        eprintln!("bosun-bench: {e}");
        std::process::exit(1);
    }
}
