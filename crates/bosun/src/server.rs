//! `bosun server`: opens the datastore, makes or reuses the cluster's certificates, writes the
//! admin kubeconfig and serves the Kubernetes API until SIGTERM or SIGINT.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use bosun_apiserver::{ApiServer, ApiServerConfig};
use bosun_pki::{ClusterPki, ServingNames, kubeconfig::Kubeconfig};
use bosun_store::{DatastoreConfig, open};

/// Flags of `bosun server`.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// Where Bosun keeps its state.
    #[arg(long, default_value = "/var/lib/bosun")]
    data_dir: PathBuf,
    /// HTTPS port of the API server.
    #[arg(long, default_value_t = 6443)]
    https_listen_port: u16,
    /// Address the API server binds to.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// Address other nodes and clients reach this server at.
    #[arg(long)]
    advertise_address: Option<IpAddr>,
    /// Extra names and addresses for the serving certificate (repeatable).
    #[arg(long = "tls-san")]
    tls_san: Vec<String>,
    /// Where to write the admin kubeconfig.
    #[arg(long, short = 'o', default_value = "/etc/bosun/bosun.yaml")]
    write_kubeconfig: PathBuf,
    /// File mode of the admin kubeconfig, in octal.
    #[arg(long, default_value = "0600")]
    write_kubeconfig_mode: String,
    /// Datastore: empty for embedded SQLite, or etcd URLs (`https://a:2379,https://b:2379`).
    #[arg(long, default_value = "")]
    datastore_endpoint: String,
    /// CA file for the etcd datastore.
    #[arg(long)]
    datastore_cafile: Option<PathBuf>,
    /// Client certificate for the etcd datastore.
    #[arg(long)]
    datastore_certfile: Option<PathBuf>,
    /// Client key for the etcd datastore.
    #[arg(long)]
    datastore_keyfile: Option<PathBuf>,
    /// Pod network.
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// Service network; its first address is the `kubernetes` Service's.
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cidr: String,
    /// Cluster DNS service address.
    #[arg(long, default_value = "10.43.0.10")]
    cluster_dns: String,
    /// Cluster domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// NodePort range.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: String,
    /// Do not run a node agent beside the control plane.
    #[arg(long)]
    disable_agent: bool,
    /// Name of this node.
    #[arg(long)]
    node_name: Option<String>,
    /// Node labels (repeatable, `key=value`).
    #[arg(long = "node-label")]
    node_label: Vec<String>,
    /// Node taints (repeatable, `key=value:Effect`).
    #[arg(long = "node-taint")]
    node_taint: Vec<String>,
    /// Shared secret nodes join with.
    #[arg(long)]
    token: Option<String>,
    /// File holding the join token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Static bearer tokens for API users, one `token,user,uid,"group1,group2"` per line
    /// (kube-apiserver's format).
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
}

/// The first address of a CIDR, the `kubernetes` Service's (10.43.0.0/16 → 10.43.0.1).
fn first_service_ip(cidr: &str) -> Result<String, String> {
    let (net, _) = cidr
        .split_once('/')
        .ok_or_else(|| format!("invalid --service-cidr {cidr:?}"))?;
    match net
        .parse::<IpAddr>()
        .map_err(|e| format!("invalid --service-cidr {cidr:?}: {e}"))?
    {
        IpAddr::V4(v4) => Ok(std::net::Ipv4Addr::from(u32::from(v4) + 1).to_string()),
        IpAddr::V6(v6) => Ok(std::net::Ipv6Addr::from(u128::from(v6) + 1).to_string()),
    }
}

fn host_addresses() -> Vec<String> {
    if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the server until a termination signal.
pub async fn run(args: ServerArgs) -> Result<(), String> {
    let mode = u32::from_str_radix(args.write_kubeconfig_mode.trim_start_matches("0o"), 8)
        .map_err(|_| {
            format!(
                "invalid --write-kubeconfig-mode {:?}",
                args.write_kubeconfig_mode
            )
        })?;
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("creating {}: {e}", args.data_dir.display()))?;

    let datastore = open(&DatastoreConfig {
        endpoint: args.datastore_endpoint.clone(),
        ca_file: args.datastore_cafile.clone(),
        cert_file: args.datastore_certfile.clone(),
        key_file: args.datastore_keyfile.clone(),
        data_dir: args.data_dir.clone(),
        compaction: Default::default(),
    })
    .await
    .map_err(|e| format!("opening the datastore: {e}"))?;

    let mut addresses = host_addresses();
    if let Some(a) = args.advertise_address {
        addresses.insert(0, a.to_string());
    }
    let names = ServingNames::for_apiserver(
        &args.cluster_domain,
        &first_service_ip(&args.service_cidr)?,
        &addresses,
        &args.tls_san,
    );
    let tls_dir = args.data_dir.join("server").join("tls");
    let pki = Arc::new(ClusterPki::load_or_create(&tls_dir, &names).map_err(|e| e.to_string())?);

    let advertise_ip = args
        .advertise_address
        .map(|a| a.to_string())
        .or_else(|| addresses.first().cloned())
        .unwrap_or_else(|| "127.0.0.1".into());
    let server = ApiServer::start(ApiServerConfig {
        bind: SocketAddr::new(args.bind_address, args.https_listen_port),
        advertise: format!("{advertise_ip}:{}", args.https_listen_port),
        pki: pki.clone(),
        store: datastore.store(),
        service_cidr: args.service_cidr.clone(),
        service_node_port_range: args.service_node_port_range.clone(),
        token_auth_file: args.token_auth_file.clone(),
    })
    .await?;

    let url = format!("https://127.0.0.1:{}", server.local_addr().port());
    Kubeconfig {
        name: "default",
        server: &url,
        ca_pem: pki.server_ca.cert_pem(),
        client_cert_pem: &pki.admin.cert_pem,
        client_key_pem: &pki.admin.key_pem,
    }
    .write(&args.write_kubeconfig, mode)
    .map_err(|e| e.to_string())?;
    tracing::info!(kubeconfig = %args.write_kubeconfig.display(), "wrote the admin kubeconfig");
    println!("Bosun is serving the Kubernetes API at {url}");
    println!(
        "Use it with: export KUBECONFIG={}; kubectl get namespaces",
        args.write_kubeconfig.display()
    );

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    drop(datastore);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_service_takes_the_first_address_of_the_service_cidr() {
        assert_eq!(first_service_ip("10.43.0.0/16").unwrap(), "10.43.0.1");
        assert_eq!(first_service_ip("fd00::/108").unwrap(), "fd00::1");
        assert!(first_service_ip("nonsense").is_err());
    }
}
