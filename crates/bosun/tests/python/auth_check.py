"""The Python `kubernetes` client as a ServiceAccount: a bearer token that RBAC denies until a
Role and RoleBinding grant it, only in that namespace; a wrong token is 401; access reviews
and SelfSubjectReview answer for the token's user. Run by tests/python_client.rs with the admin
kubeconfig's path."""

import json
import subprocess
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def as_token(admin, token):
    """An API client with the admin's server and CA but the given bearer token."""
    configuration = client.Configuration()
    configuration.host = admin.configuration.host
    configuration.ssl_ca_cert = admin.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": "Bearer " + token}
    return client.ApiClient(configuration)


def refused(call, status):
    try:
        call()
    except ApiException as e:
        assert e.status == status, (e.status, e.body)
        return json.loads(e.body) if e.body else {}
    raise AssertionError("the call succeeded")


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    admin = client.ApiClient()
    core = client.CoreV1Api(admin)
    rbac = client.RbacAuthorizationV1Api(admin)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team")))
    core.create_namespaced_service_account("team", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="bot")))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    token = core.create_namespaced_service_account_token("bot", "team", request).status.token

    bot = as_token(admin, token)
    bot_core = client.CoreV1Api(bot)
    status = refused(lambda: bot_core.list_namespaced_pod("team"), 403)
    assert status["reason"] == "Forbidden", status
    assert status["message"] == (
        'pods is forbidden: User "system:serviceaccount:team:bot" cannot list resource "pods" '
        'in API group "" in the namespace "team"'
    ), status["message"]

    rbac.create_namespaced_role("team", client.V1Role(
        metadata=client.V1ObjectMeta(name="pod-reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])]))
    rbac.create_namespaced_role_binding("team", client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="bot-reads-pods"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="bot", namespace="team")]))
    assert bot_core.list_namespaced_pod("team").items == []
    refused(lambda: bot_core.list_namespaced_pod("default"), 403)
    refused(lambda: bot_core.create_namespaced_config_map(
        "team", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"))), 403)

    review = client.AuthorizationV1Api(bot).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(namespace="team", verb="list", resource="pods"))))
    assert review.status.allowed, review.status
    me = client.AuthenticationV1Api(bot).create_self_subject_review(client.V1SelfSubjectReview())
    assert me.status.user_info.username == "system:serviceaccount:team:bot", me.status
    assert "system:serviceaccounts:team" in me.status.user_info.groups, me.status

    refused(lambda: client.CoreV1Api(as_token(admin, "not-a-token")).list_namespaced_pod("team"), 401)
    # A deleted account's token stops working.
    core.delete_namespaced_service_account("bot", "team")
    import time
    deadline = time.time() + 10
    while True:
        try:
            bot_core.list_namespaced_pod("team")
        except ApiException as e:
            assert e.status == 401, (e.status, e.body)
            break
        assert time.time() < deadline, "the token outlived its account"
        time.sleep(0.1)
    print("python auth: ok")


if __name__ == "__main__":
    main(sys.argv[1])
