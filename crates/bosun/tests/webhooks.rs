//! Dynamic admission webhooks with the real kubectl against a real HTTPS webhook (a Python
//! server on loopback, its certificate from a test CA given as the configurations' caBundle):
//! mutation by JSONPatch with a warning, refusal with the webhook's message, selectors,
//! failurePolicy Fail and Ignore for an unreachable webhook, timeouts, and configuration
//! validation.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use base64::Engine;
use common::Cluster;

/// The Python webhook server, stopped when dropped.
struct Webhook {
    child: Child,
    port: u16,
    ca_bundle: String,
    log: PathBuf,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Webhook {
    fn start(c: &Cluster) -> Webhook {
        let dir = c.dir().join("webhook");
        std::fs::create_dir_all(&dir).unwrap();
        let ca = bosun_pki::CertificateAuthority::load_or_create(&dir, "webhook-ca", "webhook-ca")
            .unwrap();
        let serving = ca
            .issue_serving("webhook", &["127.0.0.1".to_string()])
            .unwrap();
        let (crt, key) = serving.write(&dir, "serving").unwrap();
        let port_file = dir.join("port");
        let log = dir.join("requests.jsonl");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/webhook_server.py"
        );
        let child = Command::new("python3")
            .arg(script)
            .args([&crt, &key, &port_file, &log])
            .spawn()
            .expect("python3 runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !port_file.exists() {
            assert!(Instant::now() < deadline, "the webhook did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(ca.cert_pem());
        Webhook {
            child,
            port,
            ca_bundle,
            log,
        }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// One webhook configuration of `kind` calling `path` for pod creates in namespaces labelled
/// `webhooks=on`.
fn configuration(kind: &str, name: &str, url: &str, ca_bundle: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: {kind}
metadata: {{name: {name}}}
webhooks:
- name: {name}
  clientConfig: {{url: "{url}", caBundle: "{ca_bundle}"}}
  rules: [{{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}}]
  namespaceSelector: {{matchLabels: {{webhooks: "on"}}}}
  sideEffects: None
  admissionReviewVersions: [v1]
{extra}"#
    )
}

#[test]
fn webhooks_mutate_and_refuse_the_writes_they_select() {
    let c = Cluster::start();
    let hook = Webhook::start(&c);
    let base = format!("https://127.0.0.1:{}", hook.port);
    c.ok_stdin(
        &["apply", "-f", "-"],
        &configuration(
            "MutatingWebhookConfiguration",
            "label.bosun.test",
            &format!("{base}/mutate"),
            &hook.ca_bundle,
            "",
        ),
    );
    c.ok_stdin(
        &["apply", "-f", "-"],
        &configuration(
            "ValidatingWebhookConfiguration",
            "deny.bosun.test",
            &format!("{base}/validate"),
            &hook.ca_bundle,
            "",
        ),
    );
    // Defaults as upstream's.
    let stored = c.ok(&[
        "get",
        "validatingwebhookconfiguration",
        "deny.bosun.test",
        "-o",
        "jsonpath={.webhooks[0].failurePolicy} {.webhooks[0].matchPolicy} {.webhooks[0].timeoutSeconds} {.webhooks[0].rules[0].scope}",
    ]);
    assert_eq!(stored, "Fail Equivalent 10 *");
    c.ok(&["create", "namespace", "hooked"]);
    c.ok(&["label", "namespace", "hooked", "webhooks=on"]);

    let out = c.kubectl(&["run", "web", "-n", "hooked", "--image=nginx"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Warning: mutated by the test webhook"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "web",
            "-n",
            "hooked",
            "-o",
            "jsonpath={.metadata.labels.mutated-by}"
        ]),
        "webhook"
    );
    let err = c.fails(&[
        "run",
        "bad",
        "-n",
        "hooked",
        "--image=nginx",
        "--labels=deny=true",
    ]);
    // The mutating webhook's warning comes with the refusal; the refusal has no reason, as
    // the webhook gave none (kubectl then prints no reason either).
    assert_eq!(
        err.trim(),
        "Warning: mutated by the test webhook\n\
         Error from server: admission webhook \"deny.bosun.test\" denied the request: objects labelled deny are not welcome"
    );
    assert!(
        c.fails(&["get", "pod", "bad", "-n", "hooked"])
            .contains("NotFound")
    );

    // What the webhook was told.
    let requests = hook.requests();
    let review = requests
        .iter()
        .find(|r| r["path"].as_str().unwrap().starts_with("/validate"))
        .unwrap();
    let request = &review["request"];
    assert_eq!(request["operation"], "CREATE");
    assert_eq!(
        request["kind"],
        serde_json::json!({"group": "", "version": "v1", "kind": "Pod"})
    );
    assert_eq!(request["namespace"], "hooked");
    assert_eq!(request["userInfo"]["username"], "system:admin");
    assert_eq!(
        request["object"]["metadata"]["labels"]["mutated-by"],
        "webhook"
    );
    assert!(review["path"].as_str().unwrap().ends_with("?timeout=10s"));

    // Namespaces the selector leaves out are not sent.
    let before = hook.requests().len();
    c.ok(&["run", "plain", "--image=nginx"]);
    assert_eq!(hook.requests().len(), before);
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "plain",
            "-o",
            "jsonpath={.metadata.labels.mutated-by}"
        ]),
        ""
    );
}

#[test]
fn an_unreachable_webhook_fails_closed_or_open_as_its_policy_says() {
    let c = Cluster::start();
    let hook = Webhook::start(&c);
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("https://127.0.0.1:{port}/validate");
    c.ok_stdin(
        &["apply", "-f", "-"],
        &configuration(
            "ValidatingWebhookConfiguration",
            "down.bosun.test",
            &url,
            &hook.ca_bundle,
            "  timeoutSeconds: 2\n",
        ),
    );
    c.ok(&["create", "namespace", "hooked"]);
    c.ok(&["label", "namespace", "hooked", "webhooks=on"]);
    let err = c.fails(&["run", "web", "-n", "hooked", "--image=nginx"]);
    assert_eq!(
        err.trim(),
        format!(
            r#"Error from server (InternalError): Internal error occurred: failed calling webhook "down.bosun.test": failed to call webhook: Post "{url}?timeout=2s": dial tcp 127.0.0.1:{port}: connect: connection refused"#
        )
    );
    c.ok(&[
        "patch",
        "validatingwebhookconfiguration",
        "down.bosun.test",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]"#,
    ]);
    c.ok(&["run", "web", "-n", "hooked", "--image=nginx"]);

    // A webhook slower than its timeout: refused with Fail.
    c.ok_stdin(
        &["apply", "-f", "-"],
        &configuration(
            "ValidatingWebhookConfiguration",
            "slow.bosun.test",
            &format!("https://127.0.0.1:{}/slow", hook.port),
            &hook.ca_bundle,
            "  timeoutSeconds: 1\n",
        ),
    );
    let started = Instant::now();
    let err = c.fails(&["run", "slow", "-n", "hooked", "--image=nginx"]);
    assert!(
        err.contains(r#"failed calling webhook "slow.bosun.test": failed to call webhook: Post "https://127.0.0.1:"#)
            && err.contains("/slow?timeout=1s\": context deadline exceeded"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout was not kept"
    );
}

#[test]
fn webhook_configurations_are_validated_as_upstream_does() {
    let c = Cluster::start();
    let err = c.fails_stdin(
        &["apply", "-f", "-"],
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: bad}
webhooks:
- name: bad
  clientConfig: {url: "http://127.0.0.1/x"}
  admissionReviewVersions: [v1]
"#,
    );
    for expected in [
        r#"webhooks[0].name: Invalid value: "bad": should be a domain with at least three segments separated by dots"#,
        "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
        r#"webhooks[0].clientConfig.url: Invalid value: "http": 'https' is the only allowed URL scheme; desired format: https://host[/path]"#,
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
    assert!(
        err.contains(r#"The ValidatingWebhookConfiguration "bad" is invalid"#),
        "{err}"
    );
    assert!(
        c.fails(&["get", "validatingwebhookconfiguration", "bad"])
            .contains("NotFound")
    );
}
