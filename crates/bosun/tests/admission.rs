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
        c.ok(&["get", "cm", "-n", "doomed", "-o", "name"]).trim(),
        "configmap/before"
    );
    c.ok(&["label", "cm", "before", "x=y", "-n", "doomed"]);
    assert!(
        c.fails(&["get", "pod", "web", "-n", "doomed"])
            .contains("NotFound")
    );
}
