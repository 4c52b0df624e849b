//! `bosun server` driven by the real kubectl, as a user would.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Cluster, kubectl_binary};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80}]
";

#[test]
fn kubectl_reaches_the_server_and_sees_the_system_namespaces() {
    let c = Cluster::start();
    let version = c.ok(&["version"]);
    assert!(version.contains("Server Version: v1.34"), "{version}");
    let names = c.ok(&["get", "namespaces", "-o", "name"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(&format!("namespace/{ns}")), "{names}");
    }
    let table = c.ok(&["get", "ns"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("kube-system") && table.contains("Active"),
        "{table}"
    );
    let metrics = c.ok(&["get", "--raw", "/metrics"]);
    assert!(
        metrics.contains("apiserver_request_total{") && metrics.contains("bosun_watch_cache_hits"),
        "{metrics}"
    );
    let resources = c.ok(&["api-resources"]);
    assert!(
        resources.contains("deployments")
            && resources.contains("deploy")
            && resources.contains("apps/v1"),
        "{resources}"
    );
}

#[test]
fn apply_twice_merges_the_change_and_bumps_the_generation() {
    let c = Cluster::start();
    assert!(
        c.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT)
            .contains("deployment.apps/web created")
    );
    let changed = DEPLOYMENT.replace("nginx:1.25", "nginx:1.26");
    assert!(
        c.ok_stdin(&["apply", "-f", "-"], &changed)
            .contains("deployment.apps/web configured")
    );
    let out = c.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.metadata.generation}",
    ]);
    assert_eq!(out, "nginx:1.26 80 2");
    let wide = c.ok(&["get", "deploy", "-o", "wide"]);
    assert!(
        wide.contains("CONTAINERS") && wide.contains("nginx:1.26") && wide.contains("app=web"),
        "{wide}"
    );
}

#[test]
fn labels_and_annotations_are_added_overwritten_and_removed() {
    let c = Cluster::start();
    c.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: '1', b: '2'}\n",
    );
    c.ok(&["label", "configmap", "app", "tier=web"]);
    let err = c.fails(&["label", "configmap", "app", "tier=db"]);
    assert!(err.contains("already has a value"), "{err}");
    c.ok(&["label", "configmap", "app", "tier=db", "--overwrite"]);
    c.ok(&["annotate", "configmap", "app", "note=hello"]);
    let shown = c.ok(&["get", "cm", "--show-labels"]);
    assert!(
        shown.contains("tier=db") && shown.contains("DATA"),
        "{shown}"
    );
    assert!(
        c.ok(&["get", "cm", "-l", "tier=db", "-o", "name"])
            .contains("configmap/app")
    );
    // Only configmaps without tier=db (such as the published cluster CA) match `!=`.
    assert!(
        !c.ok(&["get", "cm", "-l", "tier!=db", "-o", "name"])
            .contains("configmap/app")
    );
    c.ok(&["label", "configmap", "app", "tier-"]);
    assert_eq!(
        c.ok(&["get", "cm", "app", "-o", "jsonpath={.metadata.labels}"]),
        ""
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "app",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ]),
        "hello"
    );
}

#[test]
fn errors_read_as_upstreams() {
    let c = Cluster::start();
    let err = c.fails(&["get", "configmap", "missing"]);
    assert!(
        err.contains("Error from server (NotFound): configmaps \"missing\" not found"),
        "{err}"
    );
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dup}\n";
    c.ok_stdin(&["create", "-f", "-"], cm);
    let err = c.fails_stdin(&["create", "-f", "-"], cm);
    assert!(
        err.contains("(AlreadyExists)") && err.contains("configmaps \"dup\" already exists"),
        "{err}"
    );
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n";
    let err = c.fails_stdin(&["create", "-f", "-"], bad);
    // kubectl words 422 answers itself, from the Status details.
    assert!(err.contains("The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{err}");
    let err = c.fails_stdin(&["create", "-n", "nowhere", "-f", "-"], cm);
    assert!(err.contains("namespaces \"nowhere\" not found"), "{err}");
    let strict = c.dir().join("strict.json");
    std::fs::write(&strict, r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s"},"bogus":1,"data":{"k":"v","n":"m"}}"#).unwrap();
    let path = "/api/v1/namespaces/default/configmaps?fieldValidation=Strict";
    let err = c.fails(&["create", "--raw", path, "-f", strict.to_str().unwrap()]);
    assert!(
        err.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus""#),
        "{err}"
    );
    assert!(
        c.kubectl(&["get", "cm", "s"]).status.code() != Some(0),
        "a refused object must not be stored"
    );
    // Without Strict the unknown field is dropped and the object stored.
    c.ok(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore",
        "-f",
        strict.to_str().unwrap(),
    ]);
    assert_eq!(c.ok(&["get", "cm", "s", "-o", "jsonpath={.data.k}"]), "v");
}

#[test]
fn explain_describes_kinds_and_fields_from_the_openapi_documents() {
    let c = Cluster::start();
    let pv = c.ok(&["explain", "pv", "--recursive"]);
    assert!(
        pv.contains("KIND:       PersistentVolume") && pv.contains("persistentVolumeReclaimPolicy"),
        "{pv}"
    );
    assert!(!pv.contains("metadata\t<ObjectMeta> -required-"), "{pv}");
    let replicas = c.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        replicas.contains("GROUP:      apps") && replicas.contains("Number of desired pods"),
        "{replicas}"
    );
}

#[test]
fn requests_without_a_client_certificate_are_refused() {
    let c = Cluster::start();
    let out = Command::new("curl")
        .args([
            "-sk",
            &format!("https://127.0.0.1:{}/api/v1/namespaces", c.port),
        ])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        body.contains("\"reason\":\"Unauthorized\"") && body.contains("\"code\":401"),
        "{body}"
    );
    // Health and version stay open, as upstream's public-info-viewer role allows.
    let out = Command::new("curl")
        .args(["-sk", &format!("https://127.0.0.1:{}/readyz", c.port)])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
}

#[test]
fn watching_prints_changes_as_they_happen() {
    let c = Cluster::start();
    let mut watcher = Command::new(kubectl_binary())
        .args(["get", "configmaps", "-w", "--output-watch-events"])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("KUBECACHEDIR", c.dir().join("kube-cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    c.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\n",
    );
    c.ok(&["label", "cm", "watched", "x=y"]);
    c.ok(&["delete", "cm", "watched"]);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("watch output so far: {seen:?}"));
        if line.contains("watched") {
            seen.push(line);
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(seen[0].starts_with("ADDED"), "{seen:?}");
    assert!(seen[1].starts_with("MODIFIED"), "{seen:?}");
    assert!(seen[2].starts_with("DELETED"), "{seen:?}");
}

#[test]
fn a_restart_keeps_every_object_and_the_certificates() {
    let mut c = Cluster::start();
    c.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept}\ndata: {k: v}\n",
    );
    let ca_before = std::fs::read(c.data_dir().join("server/tls/server-ca.crt")).unwrap();
    c.restart();
    assert_eq!(
        c.ok(&["get", "cm", "kept", "-o", "jsonpath={.data.k}"]),
        "v"
    );
    assert_eq!(
        std::fs::read(c.data_dir().join("server/tls/server-ca.crt")).unwrap(),
        ca_before
    );
    assert!(c.stop(), "SIGTERM must shut the server down cleanly");
}

#[test]
fn kubectl_create_generators_send_protobuf_that_reads_back_as_json() {
    let c = Cluster::start();
    for args in [
        vec![
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=3",
            "--port=80",
        ],
        vec![
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=1",
            "--from-literal=b=2",
        ],
        vec![
            "create",
            "secret",
            "generic",
            "sec",
            "--from-literal=password=s3cr3t",
        ],
        vec!["create", "namespace", "team"],
        vec!["create", "serviceaccount", "robot"],
        vec![
            "create",
            "job",
            "once",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
        vec![
            "create",
            "cronjob",
            "tick",
            "--image=busybox",
            "--schedule=*/30 * * * *",
            "--",
            "date",
        ],
        vec![
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods",
        ],
        vec![
            "create",
            "rolebinding",
            "read",
            "--role=reader",
            "--serviceaccount=default:robot",
        ],
        vec!["create", "service", "nodeport", "np", "--tcp=80:8080"],
        vec!["create", "quota", "q", "--hard=pods=10,cpu=2"],
        vec![
            "create",
            "poddisruptionbudget",
            "pdb",
            "--selector=app=web",
            "--min-available=1",
        ],
        vec!["create", "priorityclass", "high", "--value=1000"],
        vec!["create", "ingress", "ing", "--rule=foo.com/bar=np:80"],
    ] {
        c.ok(&args);
    }
    let get = |args: &[&str]| c.ok(args);
    assert_eq!(
        get(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"
        ]),
        "3 nginx:1.27 80"
    );
    // Zero values Go writes in protobuf but omits in JSON do not appear.
    let container = get(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0]}",
    ]);
    assert!(
        !container.contains("stdin") && !container.contains("hostPort"),
        "{container}"
    );
    assert!(get(&["get", "deploy", "web", "-o", "yaml"]).contains("creationTimestamp"));
    assert_eq!(
        get(&["get", "cm", "cfg", "-o", "jsonpath={.data.a}{.data.b}"]),
        "12"
    );
    assert_eq!(
        get(&["get", "secret", "sec", "-o", "jsonpath={.data.password}"]),
        "czNjcjN0"
    );
    assert_eq!(
        get(&["get", "cj", "tick", "-o", "jsonpath={.spec.schedule}"]),
        "*/30 * * * *"
    );
    assert_eq!(
        get(&[
            "get",
            "job",
            "once",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].command}"
        ]),
        r#"["echo","hi"]"#
    );
    assert_eq!(
        get(&[
            "get",
            "rolebinding",
            "read",
            "-o",
            "jsonpath={.subjects[0].name}"
        ]),
        "robot"
    );
    assert_eq!(
        get(&["get", "quota", "q", "-o", "jsonpath={.spec.hard.cpu}"]),
        "2"
    );
    assert_eq!(
        get(&["get", "pdb", "pdb", "-o", "jsonpath={.spec.minAvailable}"]),
        "1"
    );
    assert_eq!(
        get(&["get", "pc", "high", "-o", "jsonpath={.value}"]),
        "1000"
    );
    assert_eq!(
        get(&[
            "get",
            "ingress",
            "ing",
            "-o",
            "jsonpath={.spec.rules[0].http.paths[0].backend.service.port.number}"
        ]),
        "80"
    );
    assert!(get(&["get", "ns", "team", "-o", "name"]).contains("namespace/team"));
}

#[test]
fn server_side_apply_reports_conflicts_and_forces_them() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], DEPLOYMENT);
    let scaled = DEPLOYMENT.replace("replicas: 2", "replicas: 4");
    let err = c.fails_stdin(&["apply", "--server-side", "-f", "-"], &scaled);
    assert!(
        err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#),
        "{err}"
    );
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );
    c.ok_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        &scaled,
    );
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "4"
    );
    // The same values again: no conflict, nothing changes.
    let rv = c.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    c.ok_stdin(&["apply", "--server-side", "-f", "-"], &scaled);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ]),
        rv
    );
    // A field the applier stops setting goes away.
    let labelled = scaled.replace(
        "  labels: {app: web}\n",
        "  labels: {app: web, tier: front}\n",
    );
    c.ok_stdin(&["apply", "--server-side", "-f", "-"], &labelled);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.labels.tier}"
        ]),
        "front"
    );
    c.ok_stdin(&["apply", "--server-side", "-f", "-"], &scaled);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.labels.tier}"
        ]),
        ""
    );
}

#[test]
fn services_get_cluster_ips_and_node_ports_that_are_never_shared() {
    let c = Cluster::start();
    assert_eq!(
        c.ok(&[
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP} {.spec.ports[0].port}"
        ]),
        "10.43.0.1 443"
    );
    assert!(
        c.ok(&[
            "get",
            "endpoints",
            "kubernetes",
            "-o",
            "jsonpath={.subsets[0].ports[0].port}"
        ])
        .parse::<u16>()
        .is_ok()
    );
    c.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--port=80",
    ]);
    c.ok(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--type=NodePort",
    ]);
    let ip = c.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(ip.starts_with("10.43.") && ip != "10.43.0.1", "{ip}");
    let node_port: u16 = c
        .ok(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .unwrap();
    assert!((30000..=32767).contains(&node_port));
    assert_eq!(
        c.ok(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].targetPort} {.spec.ports[0].protocol} {.spec.type}"
        ]),
        "80 TCP NodePort"
    );
    let table = c.ok(&["get", "svc", "web"]);
    assert!(table.contains(&format!("80:{node_port}/TCP")), "{table}");
    // Taken addresses and ports are refused with upstream's words.
    let err = c.fails(&[
        "create",
        "service",
        "clusterip",
        "dup",
        "--tcp=80:80",
        "--clusterip=10.43.0.1",
    ]);
    assert!(
        err.contains("failed to allocate IP 10.43.0.1: provided IP is already allocated"),
        "{err}"
    );
    let np = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: np2}}\nspec: {{type: NodePort, ports: [{{port: 80, nodePort: {node_port}}}]}}\n"
    );
    let err = c.fails_stdin(&["apply", "-f", "-"], &np);
    assert!(err.contains("provided port is already allocated"), "{err}");
    // Headless and ExternalName services get no address; a deleted service frees its own.
    c.ok_stdin(&["apply", "-f", "-"], "apiVersion: v1\nkind: Service\nmetadata: {name: hl}\nspec: {clusterIP: None, selector: {app: web}, ports: [{port: 80}]}\n");
    assert_eq!(
        c.ok(&["get", "svc", "hl", "-o", "jsonpath={.spec.clusterIP}"]),
        "None"
    );
    c.ok(&[
        "create",
        "service",
        "externalname",
        "ext",
        "--external-name=example.com",
    ]);
    assert_eq!(
        c.ok(&["get", "svc", "ext", "-o", "jsonpath={.spec.clusterIP}"]),
        ""
    );
    c.ok(&["delete", "svc", "web"]);
    assert!(!c.ok(&["get", "ipaddresses", "-o", "name"]).contains(&ip));
    c.ok_stdin(&["apply", "-f", "-"], &np);
    // The cluster IP may not change.
    let err = c.fails(&[
        "patch",
        "svc",
        "np2",
        "-p",
        r#"{"spec":{"clusterIP":"10.43.200.200"}}"#,
    ]);
    assert!(
        err.contains("spec.clusterIPs[0]: Invalid value")
            && err.contains("may not change once set"),
        "{err}"
    );
}

#[test]
fn built_in_kinds_are_defaulted_and_validated_as_upstream_does() {
    let c = Cluster::start();
    c.ok(&["run", "p", "--image=nginx"]);
    assert_eq!(
        c.ok(&["get", "pod", "p", "-o", "jsonpath={.spec.restartPolicy} {.spec.dnsPolicy} {.spec.containers[0].imagePullPolicy} {.spec.terminationGracePeriodSeconds} {.status.phase} {.status.qosClass}"]),
        "Always ClusterFirst Always 30 Pending BestEffort"
    );
    c.ok(&["create", "deployment", "d", "--image=nginx:1.27"]);
    assert_eq!(
        c.ok(&["get", "deploy", "d", "-o", "jsonpath={.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} {.spec.template.spec.containers[0].imagePullPolicy}"]),
        "RollingUpdate 25% 10 IfNotPresent"
    );
    let err = c.fails_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: c}]}\n",
    );
    assert!(
        err.contains("The Pod \"bad\" is invalid: spec.containers[0].image: Required value"),
        "{err}"
    );
    let err = c.fails_stdin(
        &["apply", "-f", "-"],
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: c}}, spec: {containers: [{name: c, image: x}]}}}\n",
    );
    assert!(err.contains(r#"spec.template.metadata.labels: Invalid value: map[string]string{"a":"c"}: `selector` does not match template `labels`"#), "{err}");
    let err = c.fails(&[
        "patch",
        "deploy",
        "d",
        "-p",
        r#"{"spec":{"selector":{"matchLabels":{"app":"other"}}}}"#,
    ]);
    assert!(
        err.contains("spec.selector: Invalid value") && err.contains("field is immutable"),
        "{err}"
    );
    let err = c.fails(&[
        "patch",
        "pod",
        "p",
        "-p",
        r#"{"spec":{"containers":[{"name":"p","command":["sh"]}]}}"#,
    ]);
    assert!(
        err.contains("pod updates may not change fields other than"),
        "{err}"
    );
    c.ok(&["set", "image", "pod/p", "p=nginx:1.27"]);
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "p",
            "-o",
            "jsonpath={.spec.containers[0].image}"
        ]),
        "nginx:1.27"
    );
    c.ok(&["create", "secret", "generic", "s", "--from-literal=k=v"]);
    assert_eq!(
        c.ok(&["get", "secret", "s", "-o", "jsonpath={.type}"]),
        "Opaque"
    );
}

#[test]
fn scale_reads_and_writes_replicas_through_the_scale_subresource() {
    let c = Cluster::start();
    c.ok(&["create", "deployment", "web", "--image=nginx:1.27"]);
    c.ok(&["scale", "deployment", "web", "--replicas=5"]);
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
    let scale: serde_json::Value = serde_json::from_str(&c.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
    ]))
    .unwrap();
    assert_eq!(
        (scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()),
        (Some("Scale"), Some(5))
    );
    assert_eq!(scale["status"]["selector"], "app=web");
    let err = c.fails(&[
        "scale",
        "deployment",
        "web",
        "--replicas=3",
        "--current-replicas=9",
    ]);
    assert!(err.contains("Expected replicas to be 9, was 5"), "{err}");
    c.ok_stdin(&["apply", "-f", "-"], "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {serviceName: db, selector: {matchLabels: {app: db}}, template: {metadata: {labels: {app: db}}, spec: {containers: [{name: c, image: redis}]}}}\n");
    c.ok(&["scale", "statefulset", "db", "--replicas=3"]);
    assert_eq!(
        c.ok(&["get", "sts", "db", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
}

#[test]
fn everyday_commands_from_the_notes_work() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "team"]);
    c.ok(&[
        "-n",
        "team",
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ]);
    c.ok(&["-n", "team", "expose", "deployment", "web", "--port=80"]);
    let all = c.ok(&["get", "all", "-n", "team"]);
    assert!(
        all.contains("service/web") && all.contains("deployment.apps/web"),
        "{all}"
    );
    assert!(c.ok(&["api-versions"]).lines().any(|l| l == "apps/v1"));
    let client = c.ok(&[
        "run",
        "dry",
        "--image=nginx",
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    assert!(client.contains("name: dry"), "{client}");
    let server = c.ok(&[
        "run",
        "dry",
        "--image=nginx",
        "--dry-run=server",
        "-o",
        "yaml",
    ]);
    assert!(
        server.contains("restartPolicy: Always") && server.contains("uid:"),
        "{server}"
    );
    assert!(
        !c.kubectl(&["get", "pod", "dry"]).status.success(),
        "a dry run stores nothing"
    );
    let cols = c.ok(&[
        "-n",
        "team",
        "get",
        "svc",
        "web",
        "-o",
        "custom-columns=NAME:.metadata.name,TYPE:.spec.type",
    ]);
    assert!(cols.contains("web") && cols.contains("ClusterIP"), "{cols}");
    let described = c.ok(&["-n", "team", "describe", "deployment", "web"]);
    assert!(
        described.contains("RollingUpdateStrategy:  25% max unavailable, 25% max surge"),
        "{described}"
    );
    let edited = std::process::Command::new(common::kubectl_binary())
        .args(["-n", "team", "edit", "deployment", "web"])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("KUBECACHEDIR", c.dir().join("kube-cache"))
        .env("EDITOR", "sed -i s/replicas:\\ 2/replicas:\\ 4/")
        .output()
        .unwrap();
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        c.ok(&[
            "-n",
            "team",
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "4"
    );
    c.ok(&["run", "x", "--image=nginx", "--labels=app=x"]);
    let forced = c.ok(&[
        "delete",
        "pod",
        "-l",
        "app=x",
        "--grace-period=0",
        "--force",
    ]);
    assert!(forced.contains("pod \"x\" force deleted"), "{forced}");
    c.ok(&["run", "y", "--image=nginx"]);
    let waiter = std::process::Command::new(common::kubectl_binary())
        .args(["wait", "--for=delete", "pod/y", "--timeout=20s"])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("KUBECACHEDIR", c.dir().join("kube-cache"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    c.ok(&["delete", "pod", "y"]);
    let out = waiter.wait_with_output().unwrap();
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("pod/y condition met")
    );
    let deleted = c.ok(&["-n", "team", "delete", "all", "--all"]);
    assert!(
        deleted.contains("deployment.apps \"web\" deleted")
            && deleted.contains("service \"web\" deleted"),
        "{deleted}"
    );
}

#[test]
fn bad_input_gets_upstreams_status_and_stores_nothing() {
    let c = Cluster::start();
    let path = "/api/v1/namespaces/default/configmaps";
    let file = |name: &str, body: &[u8]| {
        let p = c.dir().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_string_lossy().to_string()
    };
    let err = c.fails(&[
        "create",
        "--raw",
        path,
        "-f",
        &file("bad.json", b"{\"apiVersion\": \"v1\", \"kind\": "),
    ]);
    assert!(err.contains("Error from server (BadRequest)"), "{err}");
    let err = c.fails(&[
        "create",
        "--raw",
        path,
        "-f",
        &file(
            "wrongkind.json",
            br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}"#,
        ),
    ]);
    assert!(
        err.contains("BadRequest") && err.contains("does not match the expected kind"),
        "{err}"
    );
    // Over the store's 1.5 MiB value limit, and over the 3 MiB request limit.
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let err = c.fails(&[
        "create",
        "--raw",
        path,
        "-f",
        &file("big.json", big.as_bytes()),
    ]);
    assert!(err.contains("request is too large"), "{err}");
    let huge = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"huge"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(4 << 20)
    );
    let err = c.fails(&[
        "create",
        "--raw",
        path,
        "-f",
        &file("huge.json", huge.as_bytes()),
    ]);
    assert!(
        err.contains("Request entity too large: limit is 3145728"),
        "{err}"
    );
    let err = c.fails(&["get", "--raw", "/api/v1/namespaces/default/widgets"]);
    assert!(
        err.contains("the server could not find the requested resource"),
        "{err}"
    );
    let err = c.fails(&["get", "widgets"]);
    assert!(
        err.contains("the server doesn't have a resource type \"widgets\""),
        "{err}"
    );
    let names = c.ok(&["get", "cm", "-o", "name"]);
    assert!(
        !names.contains("big") && !names.contains("huge") && !names.contains("configmap/s"),
        "{names}"
    );
}

#[test]
fn kubectl_get_prints_upstreams_columns_for_each_kind() {
    let c = Cluster::start();
    c.ok(&["create", "job", "j", "--image=busybox", "--", "echo", "hi"]);
    c.ok(&[
        "create",
        "cronjob",
        "cj",
        "--image=busybox",
        "--schedule=*/5 * * * *",
        "--",
        "date",
    ]);
    c.ok(&["create", "quota", "q", "--hard=pods=10,limits.cpu=2"]);
    c.ok(&[
        "create",
        "rolebinding",
        "rb",
        "--clusterrole=view",
        "--user=dev",
    ]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv1}\nspec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /tmp/pv1}}\n---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast, annotations: {storageclass.kubernetes.io/is-default-class: \"true\"}}\nprovisioner: rancher.io/local-path\n",
    );
    let header = |kind: &str| {
        c.ok(&["get", kind])
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(header("jobs"), "NAME STATUS COMPLETIONS DURATION AGE");
    assert_eq!(
        header("cronjobs"),
        "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE"
    );
    assert_eq!(header("quota"), "NAME AGE REQUEST LIMIT");
    assert_eq!(header("rolebindings"), "NAME ROLE AGE");
    assert_eq!(
        header("pv"),
        "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE"
    );
    assert!(c.ok(&["get", "sc"]).contains("fast (default)"));
    assert!(c.ok(&["get", "quota", "q"]).contains("limits.cpu: 0/2"));
    assert!(c.ok(&["get", "pv"]).contains("RWO"));
    assert!(c.ok(&["get", "job", "j"]).contains("0/1"));
}

#[test]
fn exported_lists_apply_with_default_validation() {
    let c = Cluster::start();
    c.ok(&["create", "deployment", "web", "--image=nginx:1.27"]);
    c.ok(&["create", "configmap", "cfg", "--from-literal=a=b"]);
    let exported = c.ok(&["get", "deploy/web", "cm/cfg", "-o", "yaml"]);
    assert!(exported.starts_with("apiVersion: v1\nitems:"), "{exported}");
    c.ok(&["delete", "deploy/web", "cm/cfg"]);
    // What `get -o yaml` printed is a List; it applies as it is, resourceVersions aside.
    let cleaned: String = exported
        .lines()
        .filter(|l| !l.contains("resourceVersion:") && !l.contains("uid:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = c.ok_stdin(&["apply", "-f", "-"], &cleaned);
    assert!(
        out.contains("deployment.apps/web created") && out.contains("configmap/cfg created"),
        "{out}"
    );
    let err = c.fails_stdin(&["apply", "-f", "-"], "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: l1}\n  bogus: 1\n");
    assert!(
        err.contains(r#"strict decoding error: unknown field "bogus""#),
        "{err}"
    );
}

#[test]
fn deletion_honours_grace_periods_and_propagation_policies() {
    let c = Cluster::start();
    c.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bound}\nspec: {nodeName: n1, terminationGracePeriodSeconds: 20, containers: [{name: c, image: nginx}]}\n",
    );
    // A pod on a node is given its grace period; nothing else happens until its kubelet acts.
    c.ok(&["delete", "pod", "bound", "--wait=false"]);
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "bound",
            "-o",
            "jsonpath={.metadata.deletionGracePeriodSeconds}"
        ]),
        "20"
    );
    assert!(c.ok(&["get", "pod", "bound"]).contains("Terminating"));
    c.ok(&["delete", "pod", "bound", "--grace-period=0", "--force"]);
    assert!(!c.kubectl(&["get", "pod", "bound"]).status.success());
    // A pod on no node goes at once.
    c.ok(&["run", "free", "--image=nginx"]);
    c.ok(&["delete", "pod", "free"]);
    assert!(!c.kubectl(&["get", "pod", "free"]).status.success());
    // Foreground and orphan deletion mark the object with their finalizer, which the garbage
    // collector releases (at once here: nothing depends on these).
    for (name, cascade) in [("fg", "--cascade=foreground"), ("or", "--cascade=orphan")] {
        c.ok(&["create", "deployment", name, "--image=nginx"]);
        c.ok(&["delete", "deployment", name, cascade, "--wait=false"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while c.kubectl(&["get", "deploy", name]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "{name} was never released by the garbage collector"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[test]
fn more_of_the_notes_commands_behave_as_upstream() {
    let c = Cluster::start();
    let file = c.dir().join("app.properties");
    std::fs::write(&file, "color=blue\n").unwrap();
    let from_file = format!("--from-file={}", file.display());
    c.ok(&["create", "configmap", "props", &from_file]);
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "props",
            "-o",
            "jsonpath={.data.app\\.properties}"
        ]),
        "color=blue\n"
    );
    c.ok(&["create", "secret", "generic", "file-secret", &from_file]);
    assert_eq!(
        c.ok(&[
            "get",
            "secret",
            "file-secret",
            "-o",
            "jsonpath={.data.app\\.properties}"
        ]),
        "Y29sb3I9Ymx1ZQo="
    );
    c.ok(&["label", "cm", "props", "tier=front"]);
    let columns = c.ok(&["get", "cm", "-L", "tier"]);
    assert!(
        columns.lines().next().unwrap().contains("TIER") && columns.contains("front"),
        "{columns}"
    );
    c.ok(&[
        "patch",
        "cm",
        "props",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/size","value":"L"}]"#,
    ]);
    assert_eq!(
        c.ok(&["get", "cm", "props", "-o", "jsonpath={.data.size}"]),
        "L"
    );
    let err = c.fails(&[
        "patch",
        "cm",
        "props",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/data/size","value":"XL"}]"#,
    ]);
    assert!(
        err.contains("the server rejected our request due to an error in our request"),
        "{err}"
    );
    let err = c.fails_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: broken\n",
    );
    assert!(
        err.to_lowercase().contains("yaml") || err.contains("error"),
        "{err}"
    );
}

#[test]
fn a_horizontal_pod_autoscaler_is_served_in_v1_and_v2() {
    let c = Cluster::start();
    c.ok(&["create", "deployment", "web", "--image=nginx"]);
    // kubectl 1.32 writes autoscaling/v1, 1.34 writes v2; both read the same object.
    c.ok(&[
        "autoscale",
        "deployment",
        "web",
        "--min=1",
        "--max=3",
        "--cpu-percent=50",
    ]);
    assert_eq!(
        c.ok(&[
            "get",
            "horizontalpodautoscalers.v1.autoscaling",
            "web",
            "-o",
            "jsonpath={.spec.targetCPUUtilizationPercentage}"
        ]),
        "50"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "horizontalpodautoscalers.v2.autoscaling",
            "web",
            "-o",
            "jsonpath={.spec.metrics[0].resource.target.averageUtilization}"
        ]),
        "50"
    );
    let table = c.ok(&["get", "hpa"]);
    assert!(
        table.contains("Deployment/web") && table.contains("cpu: <unknown>/50%"),
        "{table}"
    );
}
