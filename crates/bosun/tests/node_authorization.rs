//! Kubelet identities (`system:node:<name>` in `system:nodes`), driven with the real kubectl:
//! the Node authorizer lets a node read only what its own pods use, and NodeRestriction lets it
//! write only its own objects, with upstream's messages.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;

/// kubectl arguments that authenticate as node `name`'s kubelet: a kubeconfig holding a
/// certificate from the cluster's client CA.
fn kubelet(c: &Cluster, name: &str) -> Vec<String> {
    let tls = c.data_dir().join("server/tls");
    let ca = bosun_pki::CertificateAuthority::load_or_create(&tls, "client-ca", "bosun-client-ca")
        .unwrap();
    let cert = ca
        .issue_client(&format!("system:node:{name}"), &["system:nodes"])
        .unwrap();
    let dir = c.dir().join(format!("kubelet-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) = cert.write(&dir, "kubelet").unwrap();
    let kubeconfig = dir.join("kubeconfig.yaml");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{}', certificate-authority: '{}'}}}}]\n\
             users: [{{name: u, user: {{client-certificate: '{}', client-key: '{}'}}}}]\n\
             contexts: [{{name: x, context: {{cluster: c, user: u, namespace: default}}}}]\n\
             current-context: x\n",
            c.port,
            tls.join("server-ca.crt").display(),
            crt.display(),
            key.display()
        ),
    )
    .unwrap();
    vec![format!("--kubeconfig={}", kubeconfig.display())]
}

fn as_node(c: &Cluster, node: &[String], args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = node.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    c.kubectl(&all)
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SETUP: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: v1
kind: Secret
metadata: {name: web-env}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: other-env}
stringData: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {k: v}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: n1
  containers:
  - name: c
    image: nginx
    envFrom: [{secretRef: {name: web-env}}]
    volumeMounts: [{name: config, mountPath: /config}]
  volumes: [{name: config, configMap: {name: web-config}}]
---
apiVersion: v1
kind: Pod
metadata: {name: other}
spec:
  nodeName: n2
  containers:
  - name: c
    image: nginx
    envFrom: [{secretRef: {name: other-env}}]
"#;

#[test]
fn a_kubelet_reads_only_what_its_own_pods_use() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], SETUP);
    let n1 = kubelet(&c, "n1");

    for args in [
        ["get", "secret", "web-env"],
        ["get", "configmap", "web-config"],
        ["get", "pod", "web"],
        ["get", "node", "n1"],
    ] {
        let out = as_node(&c, &n1, &args);
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    }
    let out = as_node(&c, &n1, &["get", "secret", "other-env"]);
    assert_eq!(
        stderr_of(&out).trim(),
        r#"Error from server (Forbidden): secrets "other-env" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'n1' and this object"#
    );
    let out = as_node(&c, &n1, &["get", "node", "n2"]);
    assert!(
        stderr_of(&out).contains(
            r#"nodes "n2" is forbidden: User "system:node:n1" cannot get resource "nodes" in API group "" at the cluster scope: node 'n1' cannot read 'n2', only its own Node object"#
        ),
        "{}",
        stderr_of(&out)
    );
    // Pods only through the node's own field selector, as kubelets watch them.
    let out = as_node(&c, &n1, &["get", "pods", "-A"]);
    assert!(
        stderr_of(&out).contains("can only list/watch pods with spec.nodeName field selector"),
        "{}",
        stderr_of(&out)
    );
    let out = as_node(
        &c,
        &n1,
        &[
            "get",
            "pods",
            "-A",
            "--field-selector=spec.nodeName=n1",
            "-o",
            "name",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "pod/web",
        "{}",
        stderr_of(&out)
    );
    // A secret read through a single-object watch (`metadata.name` selector), as kubelets do.
    let out = as_node(
        &c,
        &n1,
        &[
            "get",
            "secrets",
            "--field-selector=metadata.name=web-env",
            "-o",
            "name",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "secret/web-env",
        "{}",
        stderr_of(&out)
    );

    // Once the pod is gone, so is the node's access to its secret.
    c.ok(&["delete", "pod", "web", "--grace-period=0", "--force"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = as_node(&c, &n1, &["get", "secret", "web-env"]);
        if !out.status.success() {
            assert!(
                stderr_of(&out).contains("no relationship found"),
                "{}",
                stderr_of(&out)
            );
            break;
        }
        assert!(Instant::now() < deadline, "access outlived the pod");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Impersonating the node's name without its group is no kubelet: RBAC decides, and the
    // empty system:node binding grants nothing.
    let err = c.fails(&["--as=system:node:n1", "get", "secret", "other-env"]);
    assert!(
        err.contains(r#"User "system:node:n1" cannot get resource "secrets""#),
        "{err}"
    );
}

#[test]
fn a_kubelet_writes_only_its_own_node_and_pods() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], SETUP);
    let n1 = kubelet(&c, "n1");
    let refused = |args: &[&str], message: &str| {
        let out = as_node(&c, &n1, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = stderr_of(&out);
        assert!(err.contains(message), "{args:?}: {err}");
    };

    let out = as_node(&c, &n1, &["label", "node", "n1", "example.com/team=a"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    refused(
        &["label", "node", "n1", "node-role.kubernetes.io/worker="],
        "is not allowed to modify labels: node-role.kubernetes.io/worker",
    );
    // kubectl reads a node before patching it, which the authorizer already refuses; the
    // write itself, sent directly, is NodeRestriction's to refuse.
    let dir = c.dir().join("kubelet-n1");
    let (code, body) = c.curl_with(
        "/api/v1/nodes/n2",
        None,
        &[
            "--cert",
            dir.join("kubelet.crt").to_str().unwrap(),
            "--key",
            dir.join("kubelet.key").to_str().unwrap(),
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/merge-patch+json",
            "-d",
            r#"{"metadata":{"labels":{"example.com/team":"a"}}}"#,
        ],
    );
    assert_eq!(code, "403", "{body}");
    assert!(
        body.contains(
            r#"nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""#
        ),
        "{body}"
    );
    refused(
        &["taint", "node", "n1", "dedicated=x:NoSchedule"],
        r#"node "n1" is not allowed to modify taints"#,
    );
    refused(
        &["run", "sneaky", "--image=nginx"],
        r#"pods "sneaky" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods"#,
    );
    refused(
        &["delete", "pod", "other"],
        r#"pods "other" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself"#,
    );
    c.ok(&["get", "pod", "other"]);
    // Tokens only for accounts of the node's own pods, bound to such a pod.
    refused(
        &["create", "token", "default"],
        "node requested token not bound to a pod",
    );
    let uid = c.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"]);
    let out = as_node(
        &c,
        &n1,
        &[
            "create",
            "token",
            "default",
            "--bound-object-kind=Pod",
            "--bound-object-name=web",
            &format!("--bound-object-uid={uid}"),
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let other_uid = c.ok(&["get", "pod", "other", "-o", "jsonpath={.metadata.uid}"]);
    refused(
        &[
            "create",
            "token",
            "default",
            "--bound-object-kind=Pod",
            "--bound-object-name=other",
            &format!("--bound-object-uid={other_uid}"),
        ],
        "node requested token bound to a pod scheduled on a different node",
    );
    // A mirror pod of its own, naming nothing else, is allowed.
    let node_uid = c.ok(&["get", "node", "n1", "-o", "jsonpath={.metadata.uid}"]);
    let mirror = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"static-web-n1","namespace":"default",
        "annotations":{{"kubernetes.io/config.mirror":"x"}},
        "ownerReferences":[{{"apiVersion":"v1","kind":"Node","name":"n1","uid":"{node_uid}","controller":true}}]}},
        "spec":{{"nodeName":"n1","automountServiceAccountToken":false,"containers":[{{"name":"c","image":"nginx"}}]}}}}"#
    );
    let mut args: Vec<&str> = n1.iter().map(String::as_str).collect();
    args.extend(["create", "-f", "-"]);
    let out = c.kubectl_stdin(&args, &mirror);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

/// Who a bearer token is, by a SelfSubjectReview over plain curl (no client certificate).
fn whoami(c: &Cluster, token: &str) -> (String, String) {
    c.curl_with(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Some(token),
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
        ],
    )
}

#[test]
fn a_bootstrap_token_authenticates_a_joining_node_until_it_expires() {
    let c = Cluster::start();
    let token = "abcdef.0123456789abcdef";
    let secret = |expiration: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Secret","type":"bootstrap.kubernetes.io/token",
            "metadata":{{"name":"bootstrap-token-abcdef","namespace":"kube-system"}},
            "stringData":{{"token-id":"abcdef","token-secret":"0123456789abcdef",
            "usage-bootstrap-authentication":"true","auth-extra-groups":"system:bootstrappers:worker",
            "expiration":"{expiration}"}}}}"#
        )
    };
    // Unknown until its Secret exists.
    assert_eq!(whoami(&c, token).0, "401");
    c.ok_stdin(&["apply", "-f", "-"], &secret("2099-01-01T00:00:00Z"));
    let (code, body) = whoami(&c, token);
    assert_eq!(code, "201", "{body}");
    let review: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        review["status"]["userInfo"],
        serde_json::json!({"username": "system:bootstrap:abcdef",
            "groups": ["system:bootstrappers", "system:bootstrappers:worker", "system:authenticated"]})
    );
    // What a joining node does with it, once bound as upstream's node bootstrap role.
    c.ok(&[
        "create",
        "clusterrolebinding",
        "node-bootstrap",
        "--clusterrole=system:node-bootstrapper",
        "--group=system:bootstrappers",
    ]);
    let (code, body) = c.curl_with(
        "/apis/certificates.k8s.io/v1/certificatesigningrequests",
        Some(token),
        &[],
    );
    assert_eq!(code, "200", "{body}");
    let (code, _) = c.curl("/api/v1/secrets", Some(token));
    assert_eq!(code, "403");
    // Another secret for the same id, or an expired token, is refused.
    let (code, body) = whoami(&c, "abcdef.ffffffffffffffff");
    assert_eq!(code, "401", "{body}\n{}", c.log());
    c.ok_stdin(&["apply", "-f", "-"], &secret("2020-01-01T00:00:00Z"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while whoami(&c, token).0 != "401" {
        assert!(
            Instant::now() < deadline,
            "an expired token still authenticates"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The token cleaner then deletes the expired Secret.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = c.kubectl(&[
            "get",
            "secret",
            "-n",
            "kube-system",
            "bootstrap-token-abcdef",
        ]);
        if !out.status.success() {
            assert!(stderr_of(&out).contains("NotFound"), "{}", stderr_of(&out));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the expired token Secret was not cleaned up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
