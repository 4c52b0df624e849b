//! Admission rules every write passes, driven with the real kubectl.

mod common;

use common::Cluster;

#[test]
fn objects_are_created_only_in_namespaces_that_exist_and_are_not_terminating() {
    let c = Cluster::start();
    let err = c.fails(&[
        "create",
        "configmap",
        "cfg",
        "--from-literal=a=b",
        "-n",
        "nope",
    ]);
    assert!(err.contains(r#"namespaces "nope" not found"#), "{err}");

    c.ok(&["create", "namespace", "doomed"]);
    c.ok(&[
        "create",
        "configmap",
        "before",
        "--from-literal=a=b",
        "-n",
        "doomed",
    ]);
    c.ok(&["delete", "namespace", "doomed", "--wait=false"]);
    let err = c.fails(&[
        "create",
        "configmap",
        "after",
        "--from-literal=a=b",
        "-n",
        "doomed",
    ]);
    assert!(
        err.contains(
            r#"configmaps "after" is forbidden: unable to create new content in namespace doomed because it is being terminated"#
        ),
        "{err}"
    );
    let err = c.fails(&["run", "web", "--image=nginx:1.27", "-n", "doomed"]);
    assert!(err.contains("because it is being terminated"), "{err}");
    // Nothing was stored; what was there before can still be read and changed.
    assert_eq!(
        c.ok(&["get", "cm", "before", "-n", "doomed", "-o", "name"])
            .trim(),
        "configmap/before"
    );
    c.ok(&["label", "cm", "before", "x=y", "-n", "doomed"]);
    assert!(
        c.fails(&["get", "pod", "web", "-n", "doomed"])
            .contains("NotFound")
    );
}

#[test]
fn a_pod_outside_the_limit_range_or_over_quota_is_refused_and_nothing_is_stored() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "shop"]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: limits\n  namespace: shop\nspec:\n  limits:\n  - type: Container\n    default: {cpu: 500m, memory: 256Mi}\n    defaultRequest: {cpu: 250m, memory: 128Mi}\n    max: {cpu: \"1\"}\n    min: {cpu: 100m}\n",
    );
    c.ok(&[
        "create",
        "quota",
        "compute",
        "--hard=pods=2,requests.cpu=1,limits.cpu=2",
        "-n",
        "shop",
    ]);
    // The quota enforces once its status is counted.
    let began = std::time::Instant::now();
    while c
        .ok(&[
            "get",
            "quota",
            "compute",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.used.pods}",
        ])
        .trim()
        != "0"
    {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(30),
            "quota never synced"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Defaults fill what the pod leaves out, and say so.
    c.ok(&["run", "a", "--image=nginx:1.27", "-n", "shop"]);
    let resources = c.ok(&[
        "get",
        "pod",
        "a",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.containers[0].resources}",
    ]);
    assert_eq!(
        resources.trim(),
        r#"{"limits":{"cpu":"500m","memory":"256Mi"},"requests":{"cpu":"250m","memory":"128Mi"}}"#
    );
    let note = c.ok(&[
        "get",
        "pod",
        "a",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.annotations.kubernetes\\.io/limit-ranger}",
    ]);
    assert_eq!(
        note.trim(),
        "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a"
    );

    let too_big = "{\"spec\":{\"containers\":[{\"name\":\"big\",\"image\":\"nginx:1.27\",\"resources\":{\"limits\":{\"cpu\":\"2\"},\"requests\":{\"cpu\":\"50m\"}}}]}}";
    let err = c.fails(&[
        "run",
        "big",
        "--image=nginx:1.27",
        "-n",
        "shop",
        &format!("--overrides={too_big}"),
    ]);
    assert!(
        err.contains(r#"pods "big" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, maximum cpu usage per Container is 1, but limit is 2]"#),
        "{err}"
    );

    c.ok(&["run", "b", "--image=nginx:1.27", "-n", "shop"]);
    let err = c.fails(&["run", "c", "--image=nginx:1.27", "-n", "shop"]);
    assert!(
        err.contains(r#"pods "c" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"#),
        "{err}"
    );
    let table = c.ok(&["get", "quota", "-n", "shop"]);
    assert!(table.contains("pods: 2/2, requests.cpu: 500m/1"), "{table}");
    assert!(table.contains("limits.cpu: 1/2"), "{table}");
    let pods = c.ok(&["get", "pods", "-n", "shop", "-o", "name"]);
    assert_eq!(pods.lines().count(), 2, "{pods}");

    // Deleting a pod frees its share.
    c.ok(&[
        "delete",
        "pod",
        "a",
        "-n",
        "shop",
        "--grace-period=0",
        "--force",
    ]);
    let began = std::time::Instant::now();
    while !c
        .kubectl(&["run", "c", "--image=nginx:1.27", "-n", "shop"])
        .status
        .success()
    {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(30),
            "quota never released"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
