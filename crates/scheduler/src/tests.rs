//! End-to-end scheduling scenarios: exact `FailedScheduling` messages, preemption, profiles,
//! requeue events, node rotation, and the throughput benchmark.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::framework::{ActionType, ClusterEvent, EventResource};
use crate::plugins::taint_toleration::TaintToleration;
use crate::plugins::testutil::{NodeBuilder, node, pod};
use crate::{Profile, ScheduleError, Scheduler, Snapshot};

fn snapshot(nodes: Vec<NodeBuilder>) -> Snapshot {
    let mut s = Snapshot::new();
    for n in nodes {
        s.upsert_node(n.build());
    }
    s
}

fn message(
    sched: &mut Scheduler,
    snap: &Snapshot,
    p: crate::plugins::testutil::PodBuilder,
) -> String {
    match sched.schedule(snap, &p.build()) {
        Ok(r) => panic!("unexpectedly scheduled on {}", r.suggested_host),
        Err(e) => e.to_string(),
    }
}

fn two_busy_one_unreachable() -> Snapshot {
    let mut s = snapshot(vec![
        node("n1").taint("node.kubernetes.io/unreachable", "", "NoSchedule"),
        node("n2"),
        node("n3"),
    ]);
    s.upsert_pod(
        pod("busy2")
            .node_name("n2")
            .req(json!({"cpu": "3500m"}))
            .build(),
    );
    s.upsert_pod(
        pod("busy3")
            .node_name("n3")
            .req(json!({"cpu": "3500m"}))
            .build(),
    );
    s
}

#[test]
fn the_failure_message_counts_sorts_and_joins_reasons_like_upstream_1_34() {
    let snap = two_busy_one_unreachable();
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 1);
    assert_eq!(
        message(&mut sched, &snap, pod("p").req(json!({"cpu": "1"}))),
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu. \
         no new claims to deallocate, preemption: 0/3 nodes are available: \
         1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
    );
}

#[test]
fn a_request_larger_than_every_node_makes_preemption_unhelpful_everywhere() {
    let snap = two_busy_one_unreachable();
    // The pre-1.34.2 taint wording and no DRA plugin reproduce the classic message.
    let profile = Profile::default_profile()
        .replace_plugin(Box::new(TaintToleration::with_taint_in_message()), 3)
        .without_plugin("DynamicResources");
    let mut sched = Scheduler::with_seed(vec![profile], 1);
    assert_eq!(
        message(&mut sched, &snap, pod("p").req(json!({"cpu": "5"}))),
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, \
         2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
}

#[test]
fn messages_for_common_failures_match_upstream() {
    let nodes = || snapshot(vec![node("n1"), node("n2").unschedulable(), node("n3")]);
    let cases = [
        (
            "node selector",
            pod("p").node_selector("disk", "ssd"),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector. \
             no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ),
        (
            "conflicting node names rejected in PreFilter",
            pod("p").affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": ["n1"]},
                    {"key": "metadata.name", "operator": "In", "values": ["n3"]}
                ]}
            ]}}})),
            "0/3 nodes are available: pod affinity terms conflict. \
             no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ),
        (
            "node name restriction leaves the other nodes absent",
            pod("p")
                .req(json!({"cpu": "5"}))
                .affinity(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
                ]}}})),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. \
             no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ),
        (
            "preemption disabled by policy",
            pod("p").req(json!({"memory": "9Gi"})).set(&["spec", "preemptionPolicy"], json!("Never")),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory. \
             no new claims to deallocate, preemption: not eligible due to preemptionPolicy=Never.",
        ),
    ];
    for (name, p, want) in cases {
        let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 1);
        assert_eq!(message(&mut sched, &nodes(), p), want, "{name}");
    }
}

#[test]
fn a_cluster_without_nodes_reports_upstreams_error() {
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 1);
    let err = sched
        .schedule(&Snapshot::new(), &pod("p").build())
        .unwrap_err();
    assert_eq!(err.to_string(), "no nodes available to schedule pods");
    assert_eq!(err.condition_reason(), "Unschedulable");
}

#[test]
fn unschedulable_pods_carry_the_events_of_the_plugins_that_rejected_them() {
    let snap = two_busy_one_unreachable();
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 1);
    let err = sched
        .schedule(&snap, &pod("p").req(json!({"cpu": "1"})).build())
        .unwrap_err();
    let fit = err.fit_error().unwrap();
    let plugins: Vec<&str> = fit.unschedulable_plugins.iter().copied().collect();
    assert_eq!(plugins, ["NodeResourcesFit", "TaintToleration"]);
    let events = err.requeue_events();
    let node_taint = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_TAINT);
    let pod_delete = ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE);
    let node_label = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_LABEL);
    assert!(events.iter().any(|e| e.matches(&node_taint)));
    assert!(events.iter().any(|e| e.matches(&pod_delete)));
    assert!(!events.iter().any(|e| e.matches(&node_label)));
}

#[test]
fn preemption_nominates_a_node_and_names_the_victims() {
    let mut snap = snapshot(vec![node("n1"), node("n2")]);
    snap.upsert_pod(
        pod("low1")
            .node_name("n1")
            .priority(0)
            .req(json!({"cpu": "2"}))
            .build(),
    );
    snap.upsert_pod(
        pod("low2")
            .node_name("n1")
            .priority(0)
            .req(json!({"cpu": "2"}))
            .build(),
    );
    snap.upsert_pod(
        pod("mid")
            .node_name("n2")
            .priority(5)
            .req(json!({"cpu": "4"}))
            .build(),
    );
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 1);
    let err = sched
        .schedule(
            &snap,
            &pod("high").priority(10).req(json!({"cpu": "2"})).build(),
        )
        .unwrap_err();
    // Preemption succeeded, so no postfix follows the filter reasons.
    assert_eq!(
        err.to_string(),
        "0/2 nodes are available: 2 Insufficient cpu."
    );
    let fit = err.fit_error().unwrap();
    assert_eq!(fit.nominated_node_name.as_deref(), Some("n1"));
    let victims: Vec<&str> = fit
        .victims
        .iter()
        .map(|v| v.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(victims.len(), 1);
    assert!(victims[0].starts_with("low"));
}

#[test]
fn pods_without_lower_priority_neighbours_find_no_victims() {
    let mut snap = snapshot(vec![node("n1")]);
    snap.upsert_pod(
        pod("same")
            .node_name("n1")
            .priority(10)
            .req(json!({"cpu": "4"}))
            .build(),
    );
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 1);
    assert_eq!(
        message(
            &mut sched,
            &snap,
            pod("p").priority(10).req(json!({"cpu": "1"}))
        ),
        "0/1 nodes are available: 1 Insufficient cpu. no new claims to deallocate, preemption: \
         0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
}

#[test]
fn pods_pick_their_profile_by_scheduler_name() {
    let snap = snapshot(vec![node("n1"), node("n2").label("gpu", "yes")]);
    let gpu_only = Profile::named("gpu-scheduler");
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile(), gpu_only], 1);
    let p = pod("p")
        .node_selector("gpu", "yes")
        .set(&["spec", "schedulerName"], json!("gpu-scheduler"))
        .build();
    assert_eq!(sched.schedule(&snap, &p).unwrap().suggested_host, "n2");
    let unknown = pod("q")
        .set(&["spec", "schedulerName"], json!("nobody"))
        .build();
    assert!(!sched.responsible_for(&unknown));
    assert!(matches!(
        sched.schedule(&snap, &unknown),
        Err(ScheduleError::NoProfile(name)) if name == "nobody"
    ));
}

#[test]
fn assumed_pods_spread_over_equal_nodes() {
    let mut snap = snapshot(vec![node("n1"), node("n2"), node("n3")]);
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 7);
    for i in 0..6 {
        let p = pod(&format!("p{i}"))
            .req(json!({"cpu": "1", "memory": "1Gi"}))
            .build();
        let r = sched.schedule(&snap, &p).unwrap();
        assert_eq!(r.feasible_nodes, 3);
        snap.assume_pod(&p, &r.suggested_host).unwrap();
    }
    for n in ["n1", "n2", "n3"] {
        assert_eq!(snap.node_info(n).unwrap().pods().len(), 2, "{n}");
    }
}

#[test]
fn large_clusters_are_sampled_and_the_search_rotates() {
    let nodes: Vec<NodeBuilder> = (0..1000).map(|i| node(&format!("n{i:04}"))).collect();
    let snap = snapshot(nodes);
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 1);
    let r = sched.schedule(&snap, &pod("p").build()).unwrap();
    // 50 - 1000/125 = 42% of 1000 nodes.
    assert_eq!(r.feasible_nodes, 420);
    assert_eq!(r.evaluated_nodes, 420);
    assert_eq!(sched.state.next_start_node_index, 420);
    sched.schedule(&snap, &pod("q").build()).unwrap();
    assert_eq!(sched.state.next_start_node_index, 840);
    sched.schedule(&snap, &pod("r").build()).unwrap();
    assert_eq!(sched.state.next_start_node_index, 260);
}

#[test]
fn the_nominated_node_is_tried_first() {
    let snap = snapshot(vec![node("n1"), node("n2"), node("n3")]);
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 1);
    let p = pod("p")
        .set(&["status", "nominatedNodeName"], json!("n3"))
        .build();
    let r = sched.schedule(&snap, &p).unwrap();
    assert_eq!(r.suggested_host, "n3");
    assert_eq!(r.evaluated_nodes, 1);
}

/// Schedules 10,000 pods onto 5,000 nodes (zones, hostname labels, a mix of NoSchedule and
/// PreferNoSchedule taints; pods with requests, some with node selectors or tolerations),
/// assuming each, and prints the rate. Run with
/// `cargo test -p bosun-scheduler --release -- --ignored --nocapture`.
#[test]
#[ignore]
fn benchmark_10000_pods_on_5000_nodes() {
    let mut snap = Snapshot::new();
    for i in 0..5000 {
        let mut n = node(&format!("node-{i:05}"))
            .allocatable(json!({"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}))
            .label("topology.kubernetes.io/zone", &format!("zone-{}", i % 10))
            .label("topology.kubernetes.io/region", "region-1")
            .label("node.kubernetes.io/instance-type", if i % 3 == 0 { "large" } else { "medium" });
        if i % 10 == 0 {
            n = n.taint("dedicated", "infra", "NoSchedule");
        }
        if i % 10 == 1 {
            n = n.taint("spot", "true", "PreferNoSchedule");
        }
        snap.upsert_node(n.build());
    }
    let pods: Vec<Arc<k8s_openapi::api::core::v1::Pod>> = (0..10000)
        .map(|i| {
            let mut p = pod(&format!("pod-{i:05}"))
                .label("app", &format!("app-{}", i % 50))
                .req(json!({"cpu": "100m", "memory": "128Mi"}));
            if i % 10 == 0 {
                p = p.node_selector("node.kubernetes.io/instance-type", "large");
            }
            if i % 10 == 1 {
                p = p.toleration(json!({"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}));
            }
            p.build()
        })
        .collect();
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 42);
    let start = Instant::now();
    for p in &pods {
        let r = sched.schedule(&snap, p).expect("schedulable");
        snap.assume_pod(p, &r.suggested_host).unwrap();
    }
    let elapsed = start.elapsed();
    let rate = pods.len() as f64 / elapsed.as_secs_f64();
    println!(
        "scheduled {} pods on {} nodes in {:.3}s: {:.0} pods/s",
        pods.len(),
        snap.num_nodes(),
        elapsed.as_secs_f64(),
        rate
    );
    assert_eq!(snap.num_pods(), 10000);
    // Sanity: taints were respected and the soft taint was avoided.
    let mut on_spot = 0;
    for n in snap.node_infos() {
        for p in n.pods() {
            if n.taints().iter().any(|t| t.key == "dedicated") {
                assert!(!p.tolerations().is_empty(), "{} on {}", p.name(), n.name());
            }
            if n.taints().iter().any(|t| t.key == "spot") {
                on_spot += 1;
            }
        }
    }
    assert!(
        on_spot < 1000 / 2,
        "{on_spot} pods on PreferNoSchedule nodes"
    );
}

/// Measures failing attempts on 5,000 full nodes (every node filtered, preemption dry run over
/// all of them finding no victims). Run with `--ignored --nocapture` in release mode.
#[test]
#[ignore]
fn benchmark_unschedulable_pods_on_5000_full_nodes() {
    let mut snap = Snapshot::new();
    for i in 0..5000 {
        let name = format!("node-{i:05}");
        snap.upsert_node(
            node(&name)
                .allocatable(json!({"cpu": "4", "memory": "8Gi", "pods": "110"}))
                .build(),
        );
        snap.upsert_pod(
            pod(&format!("full-{i}"))
                .node_name(&name)
                .req(json!({"cpu": "4"}))
                .build(),
        );
    }
    let mut sched = Scheduler::with_seed(vec![Profile::default_profile()], 42);
    let start = Instant::now();
    let n = 100;
    let mut last = String::new();
    for i in 0..n {
        let p = pod(&format!("p{i}")).req(json!({"cpu": "1"})).build();
        last = sched.schedule(&snap, &p).unwrap_err().to_string();
    }
    let elapsed = start.elapsed();
    println!(
        "{n} unschedulable attempts on 5000 nodes in {:.3}s: {:.0} attempts/s; message: {last}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
}
