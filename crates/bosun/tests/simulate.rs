//! `bosun simulate` and the Binding subresource, with the real kubectl: simulated nodes
//! register and heartbeat like kubelets, run the pods bound to them, finish Jobs' pods,
//! honour deletions, and stop heartbeating when the process stops.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn simulated_nodes_register_heartbeat_and_run_the_pods_bound_to_them() {
    let c = Cluster::start();
    let sim = c.simulate(&[
        "--nodes",
        "3",
        "--cpu",
        "8",
        "--memory",
        "16Gi",
        "--node-label",
        "zone=a",
        "--node-taint",
        "dedicated=batch:PreferNoSchedule",
        "--lease-interval",
        "1",
        "--job-duration",
        "1",
    ]);
    let nodes = c.ok(&["get", "nodes", "-l", "zone=a", "--no-headers"]);
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    assert!(nodes.lines().all(|l| l.contains(" Ready ")), "{nodes}");
    assert_eq!(
        c.ok(&[
            "get",
            "node",
            "sim-node-0",
            "-o",
            "jsonpath={.status.allocatable.cpu} {.status.allocatable.memory} {.spec.taints[0].key}={.spec.taints[0].value}:{.spec.taints[0].effect}",
        ]),
        "8 16Gi dedicated=batch:PreferNoSchedule"
    );
    // The node Lease is renewed.
    let renewed = || {
        c.ok(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            "sim-node-0",
            "-o",
            "jsonpath={.spec.renewTime}",
        ])
    };
    let first = renewed();
    eventually("the lease is renewed", || renewed() != first);

    // A pod bound by name runs at once, with an address.
    c.ok(&[
        "run",
        "web",
        "--image=nginx",
        r#"--overrides={"spec":{"nodeName":"sim-node-1"}}"#,
    ]);
    eventually("the pod runs", || {
        c.ok(&[
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.status.phase} {.status.containerStatuses[0].ready}",
        ]) == "Running true"
    });
    assert!(
        c.ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"])
            .starts_with("10.42.")
    );

    // A pending pod is assigned through the Binding subresource, once (it names a scheduler
    // nobody runs, so the binding below is the only one).
    c.ok(&[
        "run",
        "pending",
        "--image=nginx",
        r#"--overrides={"spec":{"schedulerName":"by-hand"}}"#,
    ]);
    let bind = |node: &str| {
        c.kubectl_stdin(
            &["create", "-f", "-", "--raw", "/api/v1/namespaces/default/pods/pending/binding"],
            &format!(
                r#"{{"apiVersion":"v1","kind":"Binding","metadata":{{"name":"pending"}},"target":{{"kind":"Node","name":"{node}"}}}}"#
            ),
        )
    };
    let out = bind("sim-node-2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bind("sim-node-0");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            r#"Operation cannot be fulfilled on pods/binding "pending": pod pending is already assigned to node "sim-node-2""#
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the bound pod runs", || {
        c.ok(&["get", "pod", "pending", "-o", "jsonpath={.spec.nodeName} {.status.phase} {.status.conditions[?(@.type==\"PodScheduled\")].status}"])
            == "sim-node-2 Running True"
    });

    // A Job's pod succeeds after the set time (the pod is made by hand, owned by a real Job
    // so that the garbage collector keeps it).
    c.ok(&["create", "job", "j", "--image=busybox"]);
    let job_uid = c.ok(&["get", "job", "j", "-o", "jsonpath={.metadata.uid}"]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: job-pod
  ownerReferences: [{{apiVersion: batch/v1, kind: Job, name: j, uid: {job_uid}, controller: true}}]
spec:
  nodeName: sim-node-0
  restartPolicy: Never
  containers: [{{name: c, image: busybox}}]
"#
        ),
    );
    eventually("the job's pod succeeds", || {
        c.ok(&["get", "pod", "job-pod", "-o", "jsonpath={.status.phase}"]) == "Succeeded"
    });

    // A deleted pod is gone once its containers stop, well within its grace period.
    let started = Instant::now();
    c.ok(&["delete", "pod", "web"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(c.fails(&["get", "pod", "web"]).contains("NotFound"));

    // Stopping the simulation stops the heartbeats.
    drop(sim);
    std::thread::sleep(Duration::from_millis(1500));
    let last = renewed();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        renewed(),
        last,
        "a lease was renewed after the simulation stopped"
    );
}

#[test]
fn a_node_that_stops_heartbeating_becomes_unknown_is_tainted_and_its_pods_are_evicted_in_time() {
    let c = Cluster::start_with(&["--kube-controller-manager-arg=node-monitor-grace-period=4s"]);
    let failing = c.simulate(&["--name-prefix", "a", "--lease-interval", "1"]);
    let _healthy = c.simulate(&["--name-prefix", "b", "--lease-interval", "1"]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        r#"apiVersion: v1
kind: Pod
metadata: {name: impatient}
spec:
  nodeName: a-0
  containers: [{name: c, image: nginx}]
  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}]
---
apiVersion: v1
kind: Pod
metadata: {name: patient}
spec:
  nodeName: a-0
  containers: [{name: c, image: nginx}]
"#,
    );
    eventually("both pods run", || {
        c.ok(&["get", "pods", "-o", "jsonpath={.items[*].status.phase}"]) == "Running Running"
    });
    drop(failing);
    eventually("the silent node is Unknown and tainted", || {
        c.ok(&[
            "get",
            "node",
            "a-0",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.spec.taints[*].key}",
        ]) == "Unknown node.kubernetes.io/unreachable node.kubernetes.io/unreachable"
    });
    assert_eq!(
        c.ok(&[
            "get",
            "node",
            "a-0",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
        ]),
        "Kubelet stopped posting node status."
    );
    eventually("the pod that tolerates it for 2 s is evicted", || {
        !c.ok(&[
            "get",
            "pod",
            "impatient",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .is_empty()
    });
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "impatient",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"DisruptionTarget\")].reason}",
        ]),
        "DeletionByTaintManager"
    );
    // The other pod tolerates it for the default five minutes: not ready, but staying.
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "patient",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}|{.status.conditions[?(@.type==\"Ready\")].status}",
        ]),
        "|False"
    );
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=TaintManagerEviction",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains("Marking for deletion Pod default/impatient"),
        "{events}"
    );
    // The healthy node is untouched.
    assert_eq!(
        c.ok(&[
            "get",
            "node",
            "b-0",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}|{.spec.taints}"
        ]),
        "True|"
    );
    // Back again, the node is Ready and its taints are gone.
    let _back = c.simulate(&["--name-prefix", "a", "--lease-interval", "1"]);
    eventually("the node recovers", || {
        c.ok(&[
            "get",
            "node",
            "a-0",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}|{.spec.taints}",
        ]) == "True|"
    });
}
