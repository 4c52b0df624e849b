//! CustomResourceDefinitions with the real kubectl: served at once, validated against their
//! schema, shown with their printer columns, scaled, explained, and cleaned up on deletion.

mod common;

use common::Cluster;

const CRD: &str = include_str!("fixtures/widget-crd.yaml");

fn widget(name: &str, spec: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: {name}}}\nspec: {spec}\n")
}

#[test]
fn a_crd_is_served_validated_and_cleaned_up() {
    let c = Cluster::start();
    c.ok_stdin(&["apply", "-f", "-"], CRD);
    c.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/widgets.example.com",
        "--timeout=5s",
    ]);
    let table = c.ok(&["get", "crd"]);
    assert!(
        table.contains("CREATED AT") && table.contains("widgets.example.com"),
        "{table}"
    );
    let resources = c.ok(&["api-resources", "--api-group=example.com"]);
    assert!(
        resources.contains("widgets") && resources.contains("wg") && resources.contains("Widget"),
        "{resources}"
    );

    c.ok_stdin(
        &["apply", "-f", "-"],
        &widget("w1", "{size: 3, replicas: 1}"),
    );
    let listed = c.ok(&["get", "widgets"]);
    assert!(
        listed.contains("SIZE") && listed.contains("COLOR") && listed.contains("red"),
        "{listed}"
    );
    assert_eq!(
        c.ok(&["get", "wg", "w1", "-o", "jsonpath={.spec.color}"]),
        "red",
        "the schema's default"
    );
    let err = c.fails_stdin(
        &["apply", "-f", "-"],
        &widget("w2", "{size: big, color: pink}"),
    );
    assert!(
        err.contains(r#"spec.color: Unsupported value: "pink": supported values: "red", "blue""#),
        "{err}"
    );
    assert!(err.contains(r#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#), "{err}");
    let err = c.fails_stdin(&["apply", "-f", "-"], &widget("w3", "{size: 2, bogus: 1}"));
    assert!(
        err.contains(r#"strict decoding error: unknown field "spec.bogus""#),
        "{err}"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "widgets.v1beta1.example.com",
            "w1",
            "-o",
            "jsonpath={.apiVersion}"
        ]),
        "example.com/v1beta1"
    );
    c.ok(&["scale", "widget", "w1", "--replicas=4"]);
    assert_eq!(
        c.ok(&["get", "wg", "w1", "-o", "jsonpath={.spec.replicas}"]),
        "4"
    );
    // The status subresource is split from the main object.
    c.ok(&[
        "patch",
        "wg",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":4}}"#,
    ]);
    c.ok(&[
        "patch",
        "wg",
        "w1",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":9}}"#,
    ]);
    assert_eq!(
        c.ok(&["get", "wg", "w1", "-o", "jsonpath={.status.replicas}"]),
        "4"
    );
    let explained = c.ok(&["explain", "widget.spec.size"]);
    assert!(
        explained.contains("KIND:       Widget") && explained.contains("<integer>"),
        "{explained}"
    );
    assert!(
        c.ok(&["get", "all"]).contains("widget.example.com/w1"),
        "widgets are in the all category"
    );

    c.ok(&["delete", "crd", "widgets.example.com"]);
    assert!(!c.ok(&["get", "crd", "-o", "name"]).contains("widgets"));
    let err = c.fails(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets",
    ]);
    assert!(
        err.contains("NotFound") || err.contains("could not find"),
        "{err}"
    );
    // Recreated, it starts empty: the old widgets were removed with it.
    c.ok_stdin(&["apply", "-f", "-"], CRD);
    c.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/widgets.example.com",
        "--timeout=5s",
    ]);
    assert!(c.ok(&["get", "widgets", "-o", "name"]).trim().is_empty());
}

#[test]
fn a_cluster_scoped_crd_serves_objects_without_namespaces() {
    let c = Cluster::start();
    let crd = CRD
        .replace("scope: Namespaced", "scope: Cluster")
        .replace("widgets", "gadgets")
        .replace("widget", "gadget")
        .replace("Widget", "Gadget")
        .replace("shortNames: [wg]", "shortNames: [gd]");
    c.ok_stdin(&["apply", "-f", "-"], &crd);
    c.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/gadgets.example.com",
        "--timeout=5s",
    ]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1}\nspec: {size: 1}\n",
    );
    assert_eq!(
        c.ok(&[
            "get",
            "gadget",
            "g1",
            "-o",
            "jsonpath={.metadata.namespace}"
        ]),
        ""
    );
    assert!(
        c.ok(&["api-resources", "--namespaced=false"])
            .contains("gadgets")
    );
}
