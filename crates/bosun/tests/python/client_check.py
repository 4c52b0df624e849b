"""The Python `kubernetes` client against a Bosun server: CRUD, paged lists, watch resumed
from a resourceVersion. Run by tests/python_client.rs with the admin kubeconfig's path."""

import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    apps = client.AppsV1Api()

    # CRUD
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py")))
    cm = core.create_namespaced_config_map(
        "py", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c0", labels={"set": "a"}), data={"k": "v"})
    )
    assert cm.metadata.uid and cm.metadata.resource_version, cm
    got = core.read_namespaced_config_map("c0", "py")
    assert got.data == {"k": "v"}, got.data
    got.data["k"] = "w"
    replaced = core.replace_namespaced_config_map("c0", "py", got)
    assert replaced.data["k"] == "w"
    try:
        core.replace_namespaced_config_map("c0", "py", got)  # stale resourceVersion
        raise AssertionError("a stale update must conflict")
    except ApiException as e:
        assert e.status == 409 and "the object has been modified" in e.body, e.body
    patched = core.patch_namespaced_config_map("c0", "py", {"metadata": {"labels": {"set": "b"}}})
    assert patched.metadata.labels == {"set": "b"}
    try:
        core.read_namespaced_config_map("missing", "py")
        raise AssertionError("missing must 404")
    except ApiException as e:
        assert e.status == 404 and e.reason == "Not Found", (e.status, e.reason)

    # Typed objects with nested fields round-trip.
    dep = apps.create_namespaced_deployment(
        "py",
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels={"app": "web"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "web"}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1.27")]),
                ),
            ),
        ),
    )
    assert dep.spec.strategy.type == "RollingUpdate", dep.spec.strategy

    # Paged list.
    for i in range(1, 25):
        core.create_namespaced_config_map("py", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{i:02d}")))
    names, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map("py", limit=10, _continue=token)
        pages += 1
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    # The namespace also holds the cluster CA, published by the root CA controller.
    names = [n for n in names if n != "kube-root-ca.crt"]
    assert pages == 3 and len(names) == 25 and names == sorted(names), (pages, names)
    assert len(core.list_namespaced_config_map("py", label_selector="set=b").items) == 1

    # Watch from a resourceVersion, then resume after the last event seen.
    rv = core.list_namespaced_config_map("py").metadata.resource_version
    core.create_namespaced_config_map("py", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w1")))
    core.delete_namespaced_config_map("c01", "py")
    w = watch.Watch()
    seen = []
    for ev in w.stream(core.list_namespaced_config_map, "py", resource_version=rv, timeout_seconds=5):
        seen.append((ev["type"], ev["object"].metadata.name, ev["object"].metadata.resource_version))
        if len(seen) == 2:
            w.stop()
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "w1"), ("DELETED", "c01")], seen
    core.create_namespaced_config_map("py", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w2")))
    resumed = []
    for ev in w.stream(core.list_namespaced_config_map, "py", resource_version=seen[-1][2], timeout_seconds=5):
        resumed.append((ev["type"], ev["object"].metadata.name))
        w.stop()
    assert resumed == [("ADDED", "w2")], resumed

    apps.delete_namespaced_deployment("web", "py")
    print("python client: ok")


if __name__ == "__main__":
    main(sys.argv[1])
