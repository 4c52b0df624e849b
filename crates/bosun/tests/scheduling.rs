//! The scheduler on simulated nodes, driven with the real kubectl: the notes' placement
//! scenarios (nodeSelector, node affinity, taints and tolerations, requests that do not fit, a
//! second scheduler), upstream's FailedScheduling message, and pods placed once a node that
//! fits them arrives.

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

fn node_of(c: &Cluster, pod: &str) -> String {
    c.ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"])
}

#[test]
fn pods_land_where_selectors_affinity_and_taints_allow() {
    let c = Cluster::start();
    let _plain = c.simulate(&["--nodes", "2", "--cpu", "2"]);
    let _ssd = c.simulate(&[
        "--name-prefix",
        "ssd",
        "--cpu",
        "2",
        "--node-label",
        "disktype=ssd",
    ]);
    let _gpu = c.simulate(&[
        "--name-prefix",
        "gpu",
        "--cpu",
        "2",
        "--node-label",
        "gpu=true",
        "--node-taint",
        "gpu=true:NoSchedule",
    ]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        r#"apiVersion: v1
kind: Pod
metadata: {name: selected}
spec:
  nodeSelector: {disktype: ssd}
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: affine}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: disktype, operator: Exists}]
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: tolerant}
spec:
  nodeSelector: {gpu: "true"}
  tolerations: [{key: gpu, operator: Equal, value: "true", effect: NoSchedule}]
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: intolerant}
spec:
  nodeSelector: {gpu: "true"}
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: greedy}
spec:
  containers:
  - name: c
    image: nginx
    resources: {requests: {cpu: "3"}}
"#,
    );
    eventually("the placeable pods run", || {
        ["selected", "affine", "tolerant"]
            .iter()
            .all(|p| c.ok(&["get", "pod", p, "-o", "jsonpath={.status.phase}"]) == "Running")
    });
    assert_eq!(node_of(&c, "selected"), "ssd-0");
    assert_eq!(node_of(&c, "affine"), "ssd-0");
    assert_eq!(node_of(&c, "tolerant"), "gpu-0");
    let scheduled = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=selected,reason=Scheduled",
        "-o",
        "jsonpath={.items[0].message}",
    ]);
    assert_eq!(scheduled, "Successfully assigned default/selected to ssd-0");

    // Upstream's FailedScheduling wording, on the pod's condition and in its events.
    let failed = |pod: &str| {
        c.ok(&[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={pod},reason=FailedScheduling"),
            "-o",
            "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
        ])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
    };
    eventually("the greedy pod is refused", || !failed("greedy").is_empty());
    assert_eq!(
        failed("greedy"),
        "0/4 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 3 Insufficient cpu. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );
    eventually("the intolerant pod is refused", || {
        !failed("intolerant").is_empty()
    });
    assert_eq!(
        failed("intolerant"),
        "0/4 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    );
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "greedy",
            "-o",
            "jsonpath={.status.phase} {.status.conditions[?(@.type==\"PodScheduled\")].reason}",
        ]),
        "Pending Unschedulable"
    );
    let described = c.ok(&["describe", "pod", "greedy"]);
    assert!(described.contains("FailedScheduling"), "{described}");
    assert!(described.contains("default-scheduler"), "{described}");

    // A node big enough arrives: the waiting pod is placed on it.
    let _big = c.simulate(&["--name-prefix", "big", "--cpu", "8"]);
    eventually("the greedy pod is placed on the new node", || {
        node_of(&c, "greedy") == "big-0"
    });
}

#[test]
fn a_pod_naming_another_scheduler_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scheduler.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n- schedulerName: my-scheduler\n",
    )
    .unwrap();
    let c = Cluster::start_with(&[&format!("--kube-scheduler-arg=config={}", config.display())]);
    let _sim = c.simulate(&["--nodes", "2"]);
    c.ok(&[
        "run",
        "mine",
        "--image=nginx",
        r#"--overrides={"spec":{"schedulerName":"my-scheduler"}}"#,
    ]);
    c.ok(&[
        "run",
        "nobodys",
        "--image=nginx",
        r#"--overrides={"spec":{"schedulerName":"no-such-scheduler"}}"#,
    ]);
    eventually("the second profile schedules its pod", || {
        !node_of(&c, "mine").is_empty()
    });
    let from = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=mine,reason=Scheduled",
        "-o",
        "jsonpath={.items[0].source.component}",
    ]);
    assert_eq!(from, "my-scheduler");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        node_of(&c, "nobodys"),
        "",
        "a pod for an unknown scheduler stays pending"
    );
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=nobodys",
        "-o",
        "name",
    ]);
    assert!(events.is_empty(), "{events}");
}

#[test]
fn a_replica_sets_pods_are_spread_over_the_nodes() {
    let c = Cluster::start();
    // Requests large enough against the nodes' 2 CPUs that LeastAllocated tells them apart.
    let _sim = c.simulate(&["--nodes", "3", "--cpu", "2"]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        r#"apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx, resources: {requests: {cpu: 500m}}}]
"#,
    );
    eventually("six ready", || {
        c.ok(&["get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}"]) == "6"
    });
    let nodes = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let mut used: Vec<&str> = nodes.split_whitespace().collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 3, "pods not spread: {nodes}");
}
