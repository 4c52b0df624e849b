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
    // A finalizer on its content holds the namespace in Terminating until it is removed.
    c.ok_stdin(
        &["apply", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"before","namespace":"doomed","finalizers":["example.com/hold"]},"data":{"a":"b"}}"#,
    );
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
    // The namespace controller reports what is left, and finishes once the finalizer goes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let remaining = c.ok(&[
            "get",
            "namespace",
            "doomed",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"NamespaceContentRemaining\")].message}",
        ]);
        if remaining == "Some resources are remaining: configmaps has 1 resource instances" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{remaining}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    c.ok(&[
        "patch",
        "cm",
        "before",
        "-n",
        "doomed",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while c.kubectl(&["get", "namespace", "doomed"]).status.success() {
        assert!(std::time::Instant::now() < deadline, "the namespace stayed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
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

#[test]
fn a_pods_priority_comes_from_its_priority_class_and_claims_get_the_default_storage_class() {
    let c = Cluster::start();
    // The built-in classes exist from the start.
    let value = c.ok(&[
        "get",
        "priorityclass",
        "system-node-critical",
        "-o",
        "jsonpath={.value}",
    ]);
    assert_eq!(value.trim(), "2000001000");

    c.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: high\nvalue: 1000\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: usual\nvalue: 10\nglobalDefault: true\n",
    );
    let err = c.fails_stdin(
        &["apply", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: also-default\nvalue: 20\nglobalDefault: true\n",
    );
    assert!(
        err.contains(r#"priorityclasses.scheduling.k8s.io "also-default" is forbidden: PriorityClass usual is already marked as default. Only one default can exist"#),
        "{err}"
    );

    c.ok(&[
        "run",
        "vip",
        "--image=nginx:1.27",
        "--overrides={\"spec\":{\"priorityClassName\":\"high\"}}",
    ]);
    assert_eq!(
        c.ok(&["get", "pod", "vip", "-o", "jsonpath={.spec.priority}"])
            .trim(),
        "1000"
    );
    c.ok(&["run", "plain", "--image=nginx:1.27"]);
    assert_eq!(
        c.ok(&[
            "get",
            "pod",
            "plain",
            "-o",
            "jsonpath={.spec.priorityClassName} {.spec.priority} {.spec.preemptionPolicy}"
        ])
        .trim(),
        "usual 10 PreemptLowerPriority"
    );
    let err = c.fails(&[
        "run",
        "ghost",
        "--image=nginx:1.27",
        "--overrides={\"spec\":{\"priorityClassName\":\"nope\"}}",
    ]);
    assert!(
        err.contains(r#"pods "ghost" is forbidden: no PriorityClass with name nope was found"#),
        "{err}"
    );
    let err = c.fails(&[
        "run",
        "cheat",
        "--image=nginx:1.27",
        "--overrides={\"spec\":{\"priorityClassName\":\"high\",\"priority\":5}}",
    ]);
    assert!(
        err.contains("the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"),
        "{err}"
    );

    c.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: local-path\n  annotations:\n    storageclass.kubernetes.io/is-default-class: \"true\"\nprovisioner: rancher.io/local-path\n",
    );
    let claim = |name: &str, class: &str| {
        format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n  accessModes: [ReadWriteOnce]\n{class}  resources:\n    requests:\n      storage: 1Gi\n"
        )
    };
    c.ok_stdin(&["apply", "-f", "-"], &claim("data", ""));
    c.ok_stdin(
        &["apply", "-f", "-"],
        &claim("none", "  storageClassName: \"\"\n"),
    );
    assert_eq!(
        c.ok(&[
            "get",
            "pvc",
            "data",
            "-o",
            "jsonpath={.spec.storageClassName}"
        ])
        .trim(),
        "local-path"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "pvc",
            "none",
            "-o",
            "jsonpath={.spec.storageClassName}"
        ])
        .trim(),
        ""
    );
}

#[test]
fn system_priority_class_names_are_reserved_and_user_classes_stay_below_a_billion() {
    let c = Cluster::start();
    let err = c.fails(&["create", "priorityclass", "system-mine", "--value=10"]);
    assert!(
        err.contains(r#"metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"#),
        "{err}"
    );
    let err = c.fails(&["create", "priorityclass", "huge", "--value=1000000001"]);
    assert!(
        err.contains(
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
        ),
        "{err}"
    );
    c.ok(&["create", "priorityclass", "high", "--value=1000000000"]);
    let err = c.fails(&[
        "patch",
        "priorityclass",
        "high",
        "--type=merge",
        "-p",
        r#"{"value":5}"#,
    ]);
    assert!(
        err.contains("value: Forbidden: may not be changed in an update."),
        "{err}"
    );
}
