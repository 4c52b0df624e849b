//! Helm 4 against `bosun server`: a chart's whole release life cycle.

mod common;

use std::process::Command;

use common::Cluster;

/// The helm binary under test (`BOSUN_HELM`, or `helm` on the PATH).
fn helm_binary() -> String {
    std::env::var("BOSUN_HELM").unwrap_or_else(|_| "helm".to_string())
}

fn helm(c: &Cluster, args: &[&str]) -> String {
    let out = Command::new(helm_binary())
        .args(args)
        .current_dir(c.dir())
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HELM_CACHE_HOME", c.dir().join("helm-cache"))
        .env("HELM_CONFIG_HOME", c.dir().join("helm-config"))
        .env("HELM_DATA_HOME", c.dir().join("helm-data"))
        .output()
        .expect("helm is installed (scripts/install-deps)");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_chart_installs_upgrades_rolls_back_and_uninstalls() {
    let c = Cluster::start();
    helm(&c, &["create", "demo"]);
    helm(&c, &["install", "web", "./demo"]);
    let list = helm(&c, &["list"]);
    assert!(list.contains("web") && list.contains("deployed"), "{list}");
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web-demo",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "1"
    );
    assert!(
        c.ok(&["get", "svc,sa", "-o", "name"])
            .contains("service/web-demo")
    );

    helm(&c, &["upgrade", "web", "./demo", "--set", "replicaCount=3"]);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web-demo",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
    // helm 4 writes with server-side apply: the release owns the fields it set.
    let managers = c.ok(&[
        "get",
        "deploy",
        "web-demo",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managers.contains("helm"), "{managers}");

    helm(&c, &["rollback", "web", "1"]);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web-demo",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "1"
    );
    let history = helm(&c, &["history", "web"]);
    assert_eq!(history.lines().count(), 4, "{history}");

    helm(&c, &["uninstall", "web"]);
    assert_eq!(
        helm(&c, &["list"]).lines().count(),
        1,
        "only the header is left"
    );
    let left = c.ok(&["get", "deploy,svc,secret,sa", "-o", "name"]);
    assert!(!left.contains("web"), "the release left {left}");
}
