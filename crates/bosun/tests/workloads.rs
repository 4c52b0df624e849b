//! Workload controllers on simulated nodes, driven with the real kubectl.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const REPLICA_SET: &str = r#"apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeName: sim-node-0
      containers: [{name: c, image: nginx}]
"#;

#[test]
fn a_replica_set_keeps_its_pods_adopts_orphans_and_releases_strays() {
    let c = Cluster::start();
    let _sim = c.simulate(&["--nodes", "1"]);
    // An orphan that matches is adopted rather than duplicated.
    c.ok(&[
        "run",
        "orphan",
        "--image=nginx",
        "--labels=app=web",
        r#"--overrides={"spec":{"nodeName":"sim-node-0"}}"#,
    ]);
    c.ok_stdin(&["apply", "-f", "-"], REPLICA_SET);
    let ready = |n: &str| {
        c.ok(&[
            "get",
            "rs",
            "web",
            "-o",
            "jsonpath={.status.replicas}/{.status.readyReplicas}/{.status.availableReplicas}",
        ]) == format!("{n}/{n}/{n}")
    };
    eventually("three ready replicas", || ready("3"));
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "orphan",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}"
        ]),
        "ReplicaSet/web"
    );
    let rows = c.ok(&["get", "rs", "web", "--no-headers"]);
    assert!(
        rows.split_whitespace().take(4).eq(["web", "3", "3", "3"]),
        "{rows}"
    );

    c.ok(&["scale", "rs", "web", "--replicas=5"]);
    eventually("five", || ready("5"));
    c.ok(&["scale", "rs", "web", "--replicas=2"]);
    eventually("two", || ready("2"));
    eventually("only two pods left", || {
        c.ok(&["get", "pods", "-l", "app=web", "--no-headers"])
            .lines()
            .count()
            == 2
    });

    // A pod relabelled out of the selector is released and replaced.
    let names = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    c.ok(&["label", "pod", &names, "app=stray", "--overwrite"]);
    eventually("the stray is released", || {
        c.ok(&[
            "get",
            "pod",
            &names,
            "-o",
            "jsonpath={.metadata.ownerReferences}",
        ])
        .is_empty()
    });
    eventually("and replaced", || {
        c.ok(&["get", "pods", "-l", "app=web", "--no-headers"])
            .lines()
            .count()
            == 2
            && ready("2")
    });

    // Each pod created is its own event, as upstream records them.
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=ReplicaSet,reason=SuccessfulCreate",
        "-o",
        "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
    ]);
    assert_eq!(events.lines().count(), 5, "{events}");
    assert!(
        events.lines().all(|l| l.starts_with("Created pod: web-")),
        "{events}"
    );
    let deleted = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=SuccessfulDelete",
        "-o",
        "jsonpath={.items[*].source.component}",
    ]);
    assert!(deleted.contains("replicaset-controller"), "{deleted}");
    let described = c.ok(&["describe", "rs", "web"]);
    assert!(described.contains("SuccessfulCreate"), "{described}");
}

#[test]
fn a_replication_controller_keeps_its_pods() {
    let c = Cluster::start();
    let _sim = c.simulate(&["--nodes", "1"]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        r#"apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      nodeName: sim-node-0
      containers: [{name: c, image: nginx}]
"#,
    );
    eventually("two ready", || {
        c.ok(&[
            "get",
            "rc",
            "legacy",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ]) == "2"
    });
    let pod = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=legacy",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    c.ok(&["delete", "pod", &pod, "--wait=false"]);
    eventually("a replacement", || {
        let names = c.ok(&[
            "get",
            "pods",
            "-l",
            "app=legacy",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        names.split_whitespace().count() == 2 && !names.contains(&pod)
    });
}

fn replica_set(name: &str) -> String {
    REPLICA_SET
        .replace("name: web", &format!("name: {name}"))
        .replace("app: web", &format!("app: {name}"))
}

#[test]
fn deleting_an_owner_cascades_in_the_background_the_foreground_or_not_at_all() {
    let c = Cluster::start();
    let _sim = c.simulate(&["--nodes", "1"]);
    let pods = |app: &str| c.ok(&["get", "pods", "-l", &format!("app={app}"), "-o", "name"]);
    for name in ["back", "fore", "orphans"] {
        c.ok_stdin(&["apply", "-f", "-"], &replica_set(name));
    }
    for name in ["back", "fore", "orphans"] {
        eventually("three pods each", || pods(name).lines().count() == 3);
    }

    c.ok(&["delete", "rs", "back"]);
    eventually("the background cascade removes the pods", || {
        pods("back").is_empty()
    });

    c.ok(&["delete", "rs", "orphans", "--cascade=orphan"]);
    assert!(c.fails(&["get", "rs", "orphans"]).contains("NotFound"));
    let kept = pods("orphans");
    assert_eq!(kept.lines().count(), 3, "{kept}");
    let owners = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=orphans",
        "-o",
        "jsonpath={.items[*].metadata.ownerReferences}",
    ]);
    assert!(owners.is_empty(), "{owners}");

    // Foreground: the owner stays, marked, until its pods are gone; a finalizer on one pod
    // holds it.
    let held = pods("fore")
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("pod/")
        .to_string();
    c.ok(&[
        "patch",
        "pod",
        &held,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    c.ok(&[
        "delete",
        "rs",
        "fore",
        "--cascade=foreground",
        "--wait=false",
    ]);
    eventually("the other pods go", || pods("fore").lines().count() == 1);
    assert_eq!(
        c.ok(&["get", "rs", "fore", "-o", "jsonpath={.metadata.finalizers}"]),
        r#"["foregroundDeletion"]"#
    );
    c.ok(&[
        "patch",
        "pod",
        &held,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    eventually("then the owner goes", || {
        !c.kubectl(&["get", "rs", "fore"]).status.success()
    });
}
