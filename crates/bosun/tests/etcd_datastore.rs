//! `bosun server` on an etcd cluster (`--datastore-endpoint`), driven by kubectl.

mod common;

use bosun_store::etcd_process::EtcdProcess;
use common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_its_state_in_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdProcess::start(dir.path())
        .await
        .expect("etcd is installed (scripts/install-deps)");
    let endpoint = format!("--datastore-endpoint={}", etcd.endpoint());
    let mut c = tokio::task::spawn_blocking(move || Cluster::start_with(&[&endpoint]))
        .await
        .unwrap();
    let c2 = tokio::task::spawn_blocking(move || {
        c.ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
        ]);
        c.ok(&["create", "configmap", "cfg", "--from-literal=a=b"]);
        assert!(
            c.ok(&["get", "deploy,cm", "-o", "name"])
                .contains("deployment.apps/web")
        );
        assert_eq!(
            c.ok(&[
                "get",
                "svc",
                "kubernetes",
                "-o",
                "jsonpath={.spec.clusterIP}"
            ]),
            "10.43.0.1"
        );
        c.ok_stdin(
            &["apply", "-f", "-"],
            include_str!("fixtures/widget-crd.yaml"),
        );
        c.ok(&[
            "wait",
            "--for",
            "condition=established",
            "crd/widgets.example.com",
            "--timeout=10s",
        ]);
        c.ok_stdin(
            &["apply", "-f", "-"],
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}\n",
        );
        c.restart();
        assert_eq!(c.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.a}"]), "b");
        assert_eq!(
            c.ok(&["get", "widget", "w", "-o", "jsonpath={.spec.color}"]),
            "red"
        );
        c
    })
    .await
    .unwrap();
    assert!(c2.log().contains("serving custom resources"));
    // The objects are in etcd under upstream's keys.
    let store = etcd.store().await.unwrap();
    assert!(
        bosun_store::Store::get(&store, "/registry/deployments/default/web", None)
            .await
            .unwrap()
            .kv
            .is_some()
    );
}
