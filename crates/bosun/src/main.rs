//! `bosun`: Kubernetes in one binary.
//!
//! - `bosun server`: the control plane (API server on its datastore); see [`server`].
//! - `bosun simulate`: simulated nodes for tests and scale measurements; see [`simulate`].
//! - `bosun secrets-encrypt status|rotate-keys`: Secrets encryption at rest, as k3s's command.
//!
//! Flags follow k3s's names where k3s has one, so k3s users feel at home.

mod server;
mod simulate;

/// mimalloc instead of glibc's allocator: serving lists builds and frees many small JSON
/// values, and glibc's malloc spent about a fifth of a large list's time consolidating chunks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// The command line.
#[derive(Parser)]
#[command(name = "bosun", version, about = "Kubernetes in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: API server, datastore and (as they arrive) scheduler and controllers.
    Server(Box<server::ServerArgs>),
    /// Simulate nodes (kubelets without containers) for tests and scale measurements.
    Simulate(simulate::SimulateArgs),
    /// Inspect or rotate the keys Secrets are encrypted with at rest (`--secrets-encryption`).
    #[command(subcommand)]
    SecretsEncrypt(server::SecretsEncryptCommand),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BOSUN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async {
        match cli.command {
            Command::Server(args) => server::run(*args).await,
            Command::Simulate(args) => simulate::run(args).await,
            Command::SecretsEncrypt(command) => server::secrets_encrypt(command).await,
        }
    });
    if let Err(e) = result {
        eprintln!("bosun: {e}");
        std::process::exit(1);
    }
}
