//! `bosun server`: opens the datastore, makes or reuses the cluster's certificates, writes the
//! admin kubeconfig and serves the Kubernetes API until SIGTERM or SIGINT.
//!
//! Also `bosun secrets-encrypt`, which reads and rotates the keys `--secrets-encryption`
//! encrypts Secrets with (see [`secrets_encrypt`]).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bosun_apiserver::{ApiServer, ApiServerConfig};
use bosun_pki::{ClusterPki, ServingNames, kubeconfig::Kubeconfig};
use bosun_store::encryption::{self, ProviderConfig};
use bosun_store::{
    DatastoreConfig, EncryptionConfig, EncryptionTransformer, ProviderKind, Store, StoreError,
    Transformed, open,
};

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
    /// Do not run the controller manager (k3s's flag): the API server alone.
    #[arg(long)]
    disable_controller_manager: bool,
    /// A kube-controller-manager flag as `name=value` (repeatable; k3s's pass-through), e.g.
    /// `node-monitor-grace-period=20s`.
    #[arg(long = "kube-controller-manager-arg")]
    kube_controller_manager_args: Vec<String>,
    /// Do not run the scheduler (k3s's flag).
    #[arg(long)]
    disable_scheduler: bool,
    /// A kube-scheduler flag as `name=value` (repeatable; k3s's pass-through). `config=FILE`
    /// takes a KubeSchedulerConfiguration whose `profiles` name the schedulers to run.
    #[arg(long = "kube-scheduler-arg")]
    kube_scheduler_args: Vec<String>,
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
    /// Treat requests without credentials as `system:anonymous`, authorized by RBAC (off, as
    /// in k3s: such requests get 401, except the public health and version endpoints).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    anonymous_auth: bool,
    /// Record every request in this file, as JSON lines of audit.k8s.io/v1 Events.
    #[arg(long)]
    audit_log_path: Option<PathBuf>,
    /// The audit Policy (audit.k8s.io/v1) choosing what is recorded; without one, every
    /// request at Metadata.
    #[arg(long)]
    audit_policy_file: Option<PathBuf>,
    /// Rotate the audit log when it reaches this many megabytes (0: never).
    #[arg(long, default_value_t = 0)]
    audit_log_maxsize: u64,
    /// Delete rotated audit logs older than this many days (0: keep).
    #[arg(long, default_value_t = 0)]
    audit_log_maxage: u64,
    /// Keep at most this many rotated audit logs (0: all).
    #[arg(long, default_value_t = 0)]
    audit_log_maxbackup: usize,
    /// Encrypt Secrets at rest. The first start writes
    /// `<data-dir>/server/cred/encryption-config.json` with a fresh AES-GCM key; later starts
    /// reuse it. Keep the flag on once Secrets were written with it.
    #[arg(long)]
    secrets_encryption: bool,
    /// Encrypt at rest as this kube-apiserver `EncryptionConfiguration` file says (aesgcm,
    /// secretbox and identity providers), instead of the file `--secrets-encryption` manages.
    #[arg(long)]
    encryption_provider_config: Option<PathBuf>,
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

/// The kube-controller-manager flags Bosun honours.
struct ControllerManagerArgs {
    node_monitor_grace_period: std::time::Duration,
}

impl ControllerManagerArgs {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut parsed = ControllerManagerArgs {
            node_monitor_grace_period: bosun_controllers::nodelifecycle::DEFAULT_GRACE_PERIOD,
        };
        for arg in args {
            let (name, value) = arg
                .trim_start_matches("--")
                .split_once('=')
                .ok_or_else(|| format!("kube-controller-manager arg {arg:?} is not name=value"))?;
            match name {
                "node-monitor-grace-period" => {
                    parsed.node_monitor_grace_period = parse_duration(value)?
                }
                _ => return Err(format!("unsupported kube-controller-manager arg {name:?}")),
            }
        }
        Ok(parsed)
    }
}

/// A Go duration of one unit (`40s`, `2m`, `500ms`, `1h`).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 40s or 2m");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_millis(millis))
}

/// The scheduler's profiles: the default one, or those a `config=FILE` (upstream's
/// KubeSchedulerConfiguration) names.
fn scheduler_config(args: &[String]) -> Result<bosun_kube_scheduler::SchedulerConfig, String> {
    let mut config = bosun_kube_scheduler::SchedulerConfig::default();
    for arg in args {
        let (name, value) = arg
            .trim_start_matches("--")
            .split_once('=')
            .ok_or_else(|| format!("kube-scheduler arg {arg:?} is not name=value"))?;
        match name {
            "config" => {
                let text =
                    std::fs::read_to_string(value).map_err(|e| format!("reading {value}: {e}"))?;
                let file: serde_yaml::Value =
                    serde_yaml::from_str(&text).map_err(|e| format!("{value}: {e}"))?;
                let names: Vec<String> = file["profiles"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        p["schedulerName"]
                            .as_str()
                            .unwrap_or(bosun_scheduler_default_name())
                            .to_string()
                    })
                    .collect();
                if !names.is_empty() {
                    config.profiles = names;
                }
            }
            _ => return Err(format!("unsupported kube-scheduler arg {name:?}")),
        }
    }
    Ok(config)
}

fn bosun_scheduler_default_name() -> &'static str {
    "default-scheduler"
}

/// Starts the controller manager against the API server at `url`, as
/// `system:kube-controller-manager` and, per controller, its own service account.
async fn start_controllers(
    pki: &ClusterPki,
    url: &str,
    data_dir: &std::path::Path,
    args: &ControllerManagerArgs,
) -> Result<bosun_controllers::Manager, String> {
    let identity = pki
        .component_certificate("controller-manager", "system:kube-controller-manager", &[])
        .map_err(|e| e.to_string())?;
    let key = &pki.service_account_key;
    let token_issuer = Arc::new(bosun_auth::service_account::TokenIssuer::new(
        &key.private_pem,
        &key.public_der,
        bosun_auth::service_account::DEFAULT_ISSUER,
        Vec::new(),
    )?);
    bosun_controllers::Manager::start(bosun_controllers::ManagerConfig {
        credentials: bosun_controllers::Credentials {
            server_url: url.to_string(),
            ca_pem: pki.server_ca.cert_pem().to_string(),
            cert_pem: identity.cert_pem,
            key_pem: identity.key_pem,
            token_dir: data_dir.join("server").join("cred").join("controllers"),
        },
        root_ca_pem: pki.server_ca.cert_pem().to_string(),
        token_issuer,
        node_monitor_grace_period: args.node_monitor_grace_period,
    })
    .await
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
    let encryption = encryption_at_rest(&args)?;

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
    let store: Arc<dyn Store> = match encryption {
        Some(t) => Arc::new(Transformed::new(datastore.store(), Arc::new(t))),
        None => datastore.store(),
    };

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
        store,
        service_cidr: args.service_cidr.clone(),
        service_node_port_range: args.service_node_port_range.clone(),
        token_auth_file: args.token_auth_file.clone(),
        anonymous_auth: args.anonymous_auth,
        audit: args
            .audit_log_path
            .clone()
            .map(|path| bosun_apiserver::AuditConfig {
                path,
                policy_file: args.audit_policy_file.clone(),
                retention: bosun_apiserver::audit::Retention {
                    max_bytes: args.audit_log_maxsize * 1024 * 1024,
                    max_age: (args.audit_log_maxage > 0)
                        .then(|| std::time::Duration::from_secs(args.audit_log_maxage * 86_400)),
                    max_backups: args.audit_log_maxbackup,
                },
            }),
    })
    .await?;

    let url = format!("https://127.0.0.1:{}", server.local_addr().port());
    let controllers = if args.disable_controller_manager {
        None
    } else {
        let manager_args = ControllerManagerArgs::parse(&args.kube_controller_manager_args)?;
        Some(start_controllers(&pki, &url, &args.data_dir, &manager_args).await?)
    };
    let (stop_scheduler, scheduler_stopped) = tokio::sync::watch::channel(false);
    let scheduler = if args.disable_scheduler {
        None
    } else {
        let config = scheduler_config(&args.kube_scheduler_args)?;
        let identity = pki
            .component_certificate("scheduler", bosun_kube_scheduler::USER, &[])
            .map_err(|e| e.to_string())?;
        let client = bosun_controllers::Credentials {
            server_url: url.clone(),
            ca_pem: pki.server_ca.cert_pem().to_string(),
            cert_pem: identity.cert_pem,
            key_pem: identity.key_pem,
            token_dir: args.data_dir.join("server").join("cred").join("scheduler"),
        }
        .manager_client()
        .await?;
        let mut stopped = scheduler_stopped;
        Some(tokio::spawn(bosun_kube_scheduler::run(
            client,
            config,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        )))
    };
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
    let _ = stop_scheduler.send(true);
    if let Some(scheduler) = scheduler {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), scheduler).await;
    }
    if let Some(controllers) = controllers {
        controllers.shutdown().await;
    }
    server.shutdown().await;
    drop(datastore);
    Ok(())
}

/// A store error as a message for the command line, without the "invalid argument" preamble
/// configuration errors carry.
fn config_error(e: StoreError) -> String {
    match e {
        StoreError::InvalidArgument(m) => m,
        e => e.to_string(),
    }
}

/// Where `--secrets-encryption` keeps its `EncryptionConfiguration`, as k3s does.
pub fn default_encryption_config_path(data_dir: &Path) -> PathBuf {
    data_dir
        .join("server")
        .join("cred")
        .join("encryption-config.json")
}

/// The transformer the encryption flags ask for: the `--encryption-provider-config` file, or
/// with `--secrets-encryption` the data dir's file, created with a fresh key if missing.
fn encryption_at_rest(args: &ServerArgs) -> Result<Option<EncryptionTransformer>, String> {
    let default_path = default_encryption_config_path(&args.data_dir);
    let (path, config) = if let Some(path) = &args.encryption_provider_config {
        (
            path.clone(),
            EncryptionConfig::load(path).map_err(config_error)?,
        )
    } else if args.secrets_encryption {
        if default_path.exists() {
            let config = EncryptionConfig::load(&default_path).map_err(config_error)?;
            (default_path, config)
        } else {
            let config = EncryptionConfig::generate(ProviderKind::AesGcm).map_err(config_error)?;
            config.save(&default_path).map_err(config_error)?;
            tracing::info!(
                path = %default_path.display(),
                "wrote a new secrets encryption configuration"
            );
            (default_path, config)
        }
    } else {
        if default_path.exists() {
            tracing::warn!(
                path = %default_path.display(),
                "a secrets encryption configuration exists but --secrets-encryption is off: \
                 Secrets encrypted with it will not be readable"
            );
        }
        return Ok(None);
    };
    let transformer = EncryptionTransformer::new(&config).map_err(config_error)?;
    match config.active_key() {
        Some((kind, name)) => tracing::info!(
            config = %path.display(),
            provider = %kind,
            key = name,
            resources = ?transformer.prefixes(),
            "encrypting at rest"
        ),
        None => tracing::warn!(
            config = %path.display(),
            "the encryption configuration lists identity first: values are written in the clear"
        ),
    }
    Ok(Some(transformer))
}

/// The configuration file and datastore `bosun secrets-encrypt` works on.
#[derive(clap::Args, Debug)]
pub struct SecretsEncryptTarget {
    /// Where Bosun keeps its state.
    #[arg(long, default_value = "/var/lib/bosun")]
    data_dir: PathBuf,
    /// The `EncryptionConfiguration` file the server was started with, if not the one
    /// `--secrets-encryption` manages in the data dir.
    #[arg(long)]
    encryption_provider_config: Option<PathBuf>,
}

impl SecretsEncryptTarget {
    fn config_path(&self) -> PathBuf {
        self.encryption_provider_config
            .clone()
            .unwrap_or_else(|| default_encryption_config_path(&self.data_dir))
    }
}

/// Flags of `bosun secrets-encrypt rotate-keys`.
#[derive(clap::Args, Debug)]
pub struct RotateKeysArgs {
    #[command(flatten)]
    target: SecretsEncryptTarget,
    /// Datastore: empty for the embedded SQLite in the data dir, or the etcd URLs the server
    /// uses.
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
}

/// `bosun secrets-encrypt`: what k3s's command of that name does, for the actions below.
#[derive(clap::Subcommand, Debug)]
pub enum SecretsEncryptCommand {
    /// Print whether Secrets are encrypted at rest, the active key and the providers.
    Status(SecretsEncryptTarget),
    /// Replace the encryption key and re-encrypt every Secret with it; run with the server
    /// stopped.
    ///
    /// Offline: run it with the server (every server, for an etcd datastore) stopped. It puts a
    /// fresh key first, rewrites every encrypted resource with it (Secrets stored in the clear
    /// get encrypted too), compacts the datastore's history so that no value under an old key
    /// remains there, and then drops the old keys from the configuration. With several
    /// servers, copy the new configuration to each before starting them again.
    RotateKeys(RotateKeysArgs),
}

fn key_type(p: &ProviderConfig) -> &'static str {
    match p.name() {
        "aesgcm" => "AES-GCM",
        "secretbox" => "Secretbox",
        "identity" => "Identity",
        "aescbc" => "AES-CBC",
        "kms" => "KMS",
        _ => "?",
    }
}

/// Runs a `bosun secrets-encrypt` action.
pub async fn secrets_encrypt(command: SecretsEncryptCommand) -> Result<(), String> {
    match command {
        SecretsEncryptCommand::Status(target) => {
            print!("{}", encryption_status(&target.config_path())?);
            Ok(())
        }
        SecretsEncryptCommand::RotateKeys(args) => rotate_keys(args).await,
    }
}

/// What `secrets-encrypt status` prints for the configuration at `path`.
fn encryption_status(path: &Path) -> Result<String, String> {
    use std::fmt::Write;
    if !path.exists() {
        return Ok(format!(
            "Encryption Status: Disabled, no configuration at {} \
             (start the server with --secrets-encryption)\n",
            path.display()
        ));
    }
    let config = EncryptionConfig::load(path).map_err(config_error)?;
    let mut out = String::new();
    let status = if config.encrypts() {
        "Enabled"
    } else {
        "Disabled, identity is the first provider"
    };
    let _ = writeln!(out, "Encryption Status: {status}");
    let _ = writeln!(out, "Encryption Config: {}", path.display());
    match config.active_key() {
        Some((kind, name)) => {
            let _ = writeln!(out, "Active Key: {name} ({kind})");
        }
        None => {
            let _ = writeln!(out, "Active Key: none");
        }
    }
    for list in &config.resources {
        let _ = writeln!(out, "\nResources: {}", list.resources.join(", "));
        let _ = writeln!(out, "Active  Key Type   Name");
        let _ = writeln!(out, "------  ---------  ----");
        for (i, provider) in list.providers.iter().enumerate() {
            let names: Vec<&str> = match provider.keys() {
                Some((_, keys)) => keys.iter().map(|k| k.name.as_str()).collect(),
                None => vec!["-"],
            };
            for (j, name) in names.into_iter().enumerate() {
                let active = if i == 0 && j == 0 { " *" } else { "" };
                let _ = writeln!(out, "{active:<6}  {:<9}  {name}", key_type(provider));
            }
        }
    }
    Ok(out)
}

async fn rotate_keys(args: RotateKeysArgs) -> Result<(), String> {
    let path = args.target.config_path();
    if !path.exists() {
        return Err(format!(
            "secrets encryption is not enabled: no configuration at {} \
             (start the server with --secrets-encryption first)",
            path.display()
        ));
    }
    let config = EncryptionConfig::load(&path).map_err(config_error)?;
    let (rotated, new_key) = config.with_new_key().map_err(config_error)?;
    // Opened before the configuration changes, so that a running server (which holds the
    // embedded database's lock) stops the rotation before it starts.
    let datastore = open(&DatastoreConfig {
        endpoint: args.datastore_endpoint.clone(),
        ca_file: args.datastore_cafile.clone(),
        cert_file: args.datastore_certfile.clone(),
        key_file: args.datastore_keyfile.clone(),
        data_dir: args.target.data_dir.clone(),
        compaction: Default::default(),
    })
    .await
    .map_err(|e| format!("opening the datastore (rotate-keys needs the server stopped): {e}"))?;
    let store = datastore.store();

    rotated.save(&path).map_err(config_error)?;
    println!("Added key {new_key} first in {}", path.display());
    let transformer = EncryptionTransformer::new(&rotated).map_err(config_error)?;
    let stats = encryption::rewrite(&*store, &transformer)
        .await
        .map_err(|e| {
            format!(
                "rewriting with key {new_key}: {e} (the configuration keeps the old keys: fix the \
                 cause and run rotate-keys again)"
            )
        })?;
    println!(
        "Rewrote {} stored value(s) with key {new_key} ({} already used it)",
        stats.rewritten, stats.unchanged
    );
    let revision = store.current_revision().await.map_err(config_error)?;
    store
        .compact(revision)
        .await
        .map_err(|e| format!("compacting history at revision {revision}: {e}"))?;
    let done = rotated.without_old_keys();
    done.save(&path).map_err(config_error)?;
    println!("Removed the old keys; {new_key} is the only key now");
    drop(store);
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
