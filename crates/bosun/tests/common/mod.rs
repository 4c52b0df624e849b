//! End-to-end harness: the real `bosun` binary on a free loopback port in a temp dir, driven
//! by the real kubectl. Everything is stopped and removed when the harness is dropped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The kubectl binary under test (`BOSUN_KUBECTL`, or `kubectl` on the PATH).
pub fn kubectl_binary() -> String {
    std::env::var("BOSUN_KUBECTL").unwrap_or_else(|_| "kubectl".to_string())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `bosun server`.
pub struct Cluster {
    child: Option<Child>,
    extra_args: Vec<String>,
    dir: tempfile::TempDir,
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    /// Its HTTPS port.
    pub port: u16,
}

impl Cluster {
    /// Starts a server in a new temp dir and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra flags (e.g. `--datastore-endpoint`).
    pub fn start_with(extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cluster {
            child: None,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            port: free_port(),
            dir,
        };
        c.spawn();
        c
    }

    /// `GET path` over HTTPS without a client certificate, optionally with a bearer token;
    /// returns the status code and body.
    pub fn curl(&self, path: &str, token: Option<&str>) -> (String, String) {
        self.curl_with(path, token, &[])
    }

    /// [`Cluster::curl`] with extra arguments (e.g. a client certificate).
    pub fn curl_with(&self, path: &str, token: Option<&str>, extra: &[&str]) -> (String, String) {
        let ca = self.data_dir().join("server/tls/server-ca.crt");
        assert!(ca.exists(), "{}", ca.display());
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-s", "-w", "\n%{http_code}", "--cacert"])
            .arg(&ca)
            .args(extra);
        if let Some(token) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let out = cmd
            .arg(format!("https://127.0.0.1:{}{path}", self.port))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The temp dir, for files tests write.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bosun"))
            .arg("server")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--https-listen-port")
            .arg(self.port.to_string())
            .arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--disable-agent")
            .arg("-o")
            .arg(&self.kubeconfig)
            .args(&self.extra_args)
            .env("BOSUN_LOG", "info,bosun_apiserver=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.kubeconfig.exists() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "bosun server exited during start-up ({status}):\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "bosun server did not become ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the server again on the same data dir and port.
    pub fn restart(&mut self) {
        assert!(
            self.stop(),
            "the server did not exit cleanly on SIGTERM:\n{}",
            self.log()
        );
        std::fs::remove_file(&self.kubeconfig).unwrap();
        self.spawn();
    }

    /// Runs kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, "")
    }

    /// Runs kubectl with `stdin` as its input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(kubectl_binary())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs kubectl, asserting success; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_stdin(args, "")
    }

    /// Runs kubectl with input, asserting success; returns its stdout.
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_stdin(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs kubectl, asserting failure; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_stdin(args, "")
    }

    /// Runs kubectl with input, asserting failure; returns its stderr.
    pub fn fails_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_stdin(args, stdin);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running `bosun simulate`, killed (its nodes' heartbeats stopping) when dropped.
pub struct Simulation {
    child: Child,
    log: PathBuf,
}

impl Simulation {
    /// What the simulation has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cluster {
    /// Starts `bosun simulate` against this cluster with `args` (`--nodes 3`, ...) and waits
    /// until its `--nodes` nodes (default 1) with its `--name-prefix` (default `sim-node`) are
    /// registered.
    pub fn simulate(&self, args: &[&str]) -> Simulation {
        let flag = |name: &str| {
            args.iter()
                .position(|a| *a == name)
                .and_then(|i| args.get(i + 1))
                .map(|v| v.to_string())
        };
        let nodes: usize = flag("--nodes").map_or(1, |n| n.parse().unwrap());
        let prefix = flag("--name-prefix").unwrap_or_else(|| "sim-node".into());
        let log = self.dir.path().join(format!("simulate-{prefix}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bosun"))
            .arg("simulate")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let sim = Simulation { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        let last = format!("node/{prefix}-{}", nodes - 1);
        loop {
            let out = self.kubectl(&["get", &last, "-o", "name"]);
            if out.status.success() && sim.log().contains("simulated nodes registered") {
                return sim;
            }
            assert!(
                Instant::now() < deadline,
                "the simulated nodes did not register:\n{}",
                sim.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
