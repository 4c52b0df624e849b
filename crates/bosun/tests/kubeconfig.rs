//! The notes' ways of reaching the API server, with the real kubectl and curl: a client
//! certificate given to curl, one kubeconfig holding two clusters, two users and two contexts
//! switched with `kubectl config use-context`, and `kubectl proxy` serving plain HTTP.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{Cluster, kubectl_binary};

fn tls_file(c: &Cluster, name: &str) -> String {
    c.data_dir()
        .join("server/tls")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn curl_with_the_client_certificate_and_key_lists_nodes() {
    let c = Cluster::start();
    let (code, body) = c.curl_with(
        "/api/v1/nodes",
        None,
        &[
            "--cert",
            &tls_file(&c, "client-admin.crt"),
            "--key",
            &tls_file(&c, "client-admin.key"),
        ],
    );
    assert_eq!(code, "200", "{body}");
    assert!(body.contains(r#""kind":"NodeList""#), "{body}");
    // The same request without the certificate is refused.
    assert_eq!(c.curl("/api/v1/nodes", None).0, "401");
}

#[test]
fn one_kubeconfig_holds_two_clusters_and_use_context_switches_between_them() {
    let a = Cluster::start();
    let b = Cluster::start();
    a.ok(&["create", "namespace", "only-in-a"]);
    b.ok(&["create", "namespace", "only-in-b"]);

    let dir = tempfile::tempdir().unwrap();
    let merged = dir.path().join("config").display().to_string();
    let kc = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", merged.as_str()];
        all.extend_from_slice(args);
        a.ok(&all)
    };
    for (c, name) in [(&a, "a"), (&b, "b")] {
        kc(&[
            "config",
            "set-cluster",
            &format!("cluster-{name}"),
            &format!("--server=https://127.0.0.1:{}", c.port),
            &format!("--certificate-authority={}", tls_file(c, "server-ca.crt")),
            "--embed-certs",
        ]);
        kc(&[
            "config",
            "set-credentials",
            &format!("admin-{name}"),
            &format!("--client-certificate={}", tls_file(c, "client-admin.crt")),
            &format!("--client-key={}", tls_file(c, "client-admin.key")),
            "--embed-certs",
        ]);
        kc(&[
            "config",
            "set-context",
            &format!("context-{name}"),
            &format!("--cluster=cluster-{name}"),
            &format!("--user=admin-{name}"),
        ]);
    }
    let contexts = kc(&["config", "get-contexts", "-o", "name"]);
    assert_eq!(
        contexts.lines().collect::<Vec<_>>(),
        ["context-a", "context-b"]
    );

    kc(&["config", "use-context", "context-a"]);
    assert_eq!(kc(&["config", "current-context"]).trim(), "context-a");
    assert_eq!(
        kc(&["get", "namespace", "only-in-a", "-o", "name"]).trim(),
        "namespace/only-in-a"
    );
    let out = a.kubectl(&["--kubeconfig", &merged, "get", "namespace", "only-in-b"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(r#"namespaces "only-in-b" not found"#));

    kc(&["config", "use-context", "context-b"]);
    assert_eq!(
        kc(&["get", "namespace", "only-in-b", "-o", "name"]).trim(),
        "namespace/only-in-b"
    );
    let out = a.kubectl(&["--kubeconfig", &merged, "get", "namespace", "only-in-a"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(r#"namespaces "only-in-a" not found"#));
    // A context can also be named for one command.
    assert_eq!(
        kc(&[
            "--context",
            "context-a",
            "get",
            "namespace",
            "only-in-a",
            "-o",
            "name"
        ])
        .trim(),
        "namespace/only-in-a"
    );
}

/// A `kubectl proxy` process, stopped when dropped.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kubectl_proxy_serves_the_api_over_plain_http_with_the_kubeconfigs_credentials() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "nm-01"]);
    let mut child = Command::new(kubectl_binary())
        .args([
            "proxy",
            "--port=0",
            "--address=127.0.0.1",
            "--accept-hosts=^.*$",
        ])
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl is installed");
    let stdout = child.stdout.take().unwrap();
    let proxy = Proxy(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let address = first
        .trim()
        .strip_prefix("Starting to serve on ")
        .unwrap_or_else(|| panic!("unexpected proxy output: {first}"))
        .to_string();

    let get = |path: &str| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-w",
                "\n%{http_code}",
                &format!("http://{address}{path}"),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    };
    let (code, body) = get("/api/v1/nodes");
    assert_eq!(code, "200", "{body}");
    assert!(
        body.contains(r#""kind": "NodeList""#) || body.contains(r#""kind":"NodeList""#),
        "{body}"
    );
    let (code, body) = get("/api/v1/namespaces/nm-01/pods");
    assert_eq!(code, "200", "{body}");
    let (code, body) = get("/api/v1/namespaces/nope/pods/missing");
    assert_eq!(code, "404", "{body}");
    drop(proxy);
}

#[test]
fn the_server_speaks_only_tls_1_2_and_up_with_strong_ciphers() {
    let c = Cluster::start();
    let handshake = |args: &[&str]| {
        Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", c.port)])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(handshake(&["-tls1_3"]));
    assert!(handshake(&[
        "-tls1_2",
        "-cipher",
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    ]));
    assert!(!handshake(&["-tls1_1"]), "TLS 1.1 was accepted");
    for weak in [
        "AES128-SHA",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA384",
        "DES-CBC3-SHA",
    ] {
        assert!(
            !handshake(&["-tls1_2", "-cipher", weak]),
            "{weak} was accepted"
        );
    }
}
