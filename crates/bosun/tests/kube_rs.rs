//! kube-rs against `bosun server`: typed CRUD, apply, paged lists, watches resumed from a
//! resourceVersion, and the runtime's watcher.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Cluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config};

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_creates_applies_pages_and_watches() {
    let c = Cluster::start();
    let kubeconfig = Kubeconfig::read_from(&c.kubeconfig).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = Client::try_from(config).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = api
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let mut got = api.get("a").await.unwrap();
    got.data = Some(BTreeMap::from([("k".to_string(), "2".to_string())]));
    api.replace("a", &PostParams::default(), &got)
        .await
        .unwrap();
    let stale = api
        .replace("a", &PostParams::default(), &got)
        .await
        .unwrap_err();
    assert!(
        matches!(stale, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{stale:?}"
    );

    let applied = api
        .patch("b", &PatchParams::apply("kube-rs-test"), &Patch::Apply(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"k": "applied"}
        })))
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["k"], "applied");
    let merged = api
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"x": "y"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.unwrap().len(), 2);

    for i in 0..12 {
        api.create(&PostParams::default(), &cm(&format!("p{i:02}"), "v"))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(5);
    loop {
        let page = api.list(&lp).await.unwrap();
        // Every namespace also holds the cluster CA, published by the root CA controller.
        names.extend(
            page.items
                .iter()
                .filter_map(|i| i.metadata.name.clone())
                .filter(|n| n != "kube-root-ca.crt"),
        );
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names.len(), 14, "{names:?}");

    // A raw watch from a resourceVersion, then a resumed one.
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&PostParams::default(), &cm("w1", "v"))
        .await
        .unwrap();
    api.delete("p00", &DeleteParams::default()).await.unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(o)) => seen.push((
                "ADDED",
                o.metadata.name.unwrap(),
                o.metadata.resource_version.unwrap(),
            )),
            Some(WatchEvent::Deleted(o)) => seen.push((
                "DELETED",
                o.metadata.name.unwrap(),
                o.metadata.resource_version.unwrap(),
            )),
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        (seen[0].0, seen[0].1.as_str(), seen[1].0, seen[1].1.as_str()),
        ("ADDED", "w1", "DELETED", "p00")
    );
    api.create(&PostParams::default(), &cm("w2", "v"))
        .await
        .unwrap();
    let mut resumed = api
        .watch(&WatchParams::default().timeout(10), &seen[1].2)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), resumed.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("w2")),
        other => panic!("unexpected {other:?}"),
    }

    // The runtime's watcher (list then watch) sees existing and new objects.
    let mut objects = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), objects.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(first.is_some());
    api.create(&PostParams::default(), &cm("late", "v"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let o = tokio::time::timeout_at(deadline, objects.try_next())
            .await
            .expect("the watcher saw the new object")
            .unwrap()
            .unwrap();
        if o.metadata.name.as_deref() == Some("late") {
            break;
        }
    }
}
