//! Who may do what: bearer-token users from `--token-auth-file`, refused until RBAC Roles and
//! bindings grant them, driven with the real kubectl.

mod common;

use common::Cluster;

/// A cluster with a token file holding `dev-user` (group `developers`), and kubeconfig users
/// `dev` (its token), and `bad` (a token nobody has).
fn cluster_with_token_users() -> (Cluster, tempfile::TempDir) {
    let tokens = tempfile::tempdir().unwrap();
    let file = tokens.path().join("tokens.csv");
    std::fs::write(&file, "dev-token,dev-user,1001,\"developers\"\n").unwrap();
    let c = Cluster::start_with(&[&format!("--token-auth-file={}", file.display())]);
    c.ok(&["config", "set-credentials", "dev", "--token=dev-token"]);
    c.ok(&["config", "set-credentials", "bad", "--token=not-a-token"]);
    (c, tokens)
}

fn forbidden(c: &Cluster, args: &[&str]) -> String {
    let err = c.fails(args);
    assert!(err.contains("(Forbidden)"), "{args:?}: {err}");
    err
}

#[test]
fn a_token_user_is_refused_until_a_role_binding_grants_it_and_only_in_that_namespace() {
    let (c, _tokens) = cluster_with_token_users();
    c.ok(&["create", "namespace", "team-a"]);
    c.ok(&["create", "namespace", "team-b"]);

    let err = forbidden(&c, &["--user=dev", "get", "pods", "-n", "team-a"]);
    assert!(
        err.contains(r#"pods is forbidden: User "dev-user" cannot list resource "pods" in API group "" in the namespace "team-a""#),
        "{err}"
    );

    c.ok(&[
        "create",
        "role",
        "pod-reader",
        "--verb=get,list,watch",
        "--resource=pods",
        "-n",
        "team-a",
    ]);
    c.ok(&[
        "create",
        "rolebinding",
        "dev-reads",
        "--role=pod-reader",
        "--user=dev-user",
        "-n",
        "team-a",
    ]);
    c.ok(&["run", "web", "--image=nginx:1.27", "-n", "team-a"]);
    assert_eq!(
        c.ok(&["--user=dev", "get", "pods", "-n", "team-a", "-o", "name"])
            .trim(),
        "pod/web"
    );
    assert_eq!(
        c.ok(&[
            "--user=dev",
            "get",
            "pod",
            "web",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.metadata.name}"
        ]),
        "web"
    );

    let err = forbidden(&c, &["--user=dev", "get", "pods", "-n", "team-b"]);
    assert!(err.contains(r#"in the namespace "team-b""#), "{err}");
    let err = forbidden(&c, &["--user=dev", "delete", "pod", "web", "-n", "team-a"]);
    assert!(
        err.contains(r#"pods "web" is forbidden: User "dev-user" cannot delete resource "pods" in API group "" in the namespace "team-a""#),
        "{err}"
    );
    let err = forbidden(&c, &["--user=dev", "get", "nodes"]);
    assert!(
        err.contains(r#"cannot list resource "nodes" in API group "" at the cluster scope"#),
        "{err}"
    );
    assert!(
        c.ok(&["get", "pod", "web", "-n", "team-a", "-o", "name"])
            .contains("pod/web"),
        "a refused delete stores nothing"
    );

    c.ok(&["delete", "rolebinding", "dev-reads", "-n", "team-a"]);
    let mut revoked = false;
    for _ in 0..50 {
        if !c
            .kubectl(&["--user=dev", "get", "pods", "-n", "team-a"])
            .status
            .success()
        {
            revoked = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(revoked, "deleting the binding takes the access away");
}

#[test]
fn a_cluster_role_bound_by_a_role_binding_grants_only_in_the_binding_namespace() {
    let (c, _tokens) = cluster_with_token_users();
    c.ok(&["create", "namespace", "team-a"]);
    c.ok(&["create", "namespace", "team-b"]);
    c.ok(&[
        "create",
        "clusterrole",
        "cm-reader",
        "--verb=get,list",
        "--resource=configmaps",
    ]);
    c.ok(&[
        "create",
        "rolebinding",
        "devs-read-cm",
        "--clusterrole=cm-reader",
        "--group=developers",
        "-n",
        "team-b",
    ]);
    c.ok(&[
        "create",
        "configmap",
        "cfg",
        "--from-literal=a=b",
        "-n",
        "team-b",
    ]);
    assert_eq!(
        c.ok(&[
            "--user=dev",
            "get",
            "cm",
            "cfg",
            "-n",
            "team-b",
            "-o",
            "jsonpath={.data.a}"
        ]),
        "b"
    );
    forbidden(&c, &["--user=dev", "get", "cm", "-n", "team-a"]);
    forbidden(&c, &["--user=dev", "get", "cm", "-A"]);

    c.ok(&[
        "create",
        "clusterrolebinding",
        "devs-read-cm-everywhere",
        "--clusterrole=cm-reader",
        "--group=developers",
    ]);
    c.ok(&["--user=dev", "get", "cm", "-A"]);
    c.ok(&["--user=dev", "get", "cm", "-n", "team-a"]);
}

#[test]
fn wrong_or_missing_credentials_are_unauthorized_but_version_and_health_are_public() {
    let (c, _tokens) = cluster_with_token_users();
    // A certificate claiming system:masters from a CA the cluster does not trust: 401, and a
    // valid token beside it still works, as with upstream's authenticator union.
    let other = c.dir().join("other-ca");
    std::fs::create_dir_all(&other).unwrap();
    let ca =
        bosun_pki::CertificateAuthority::load_or_create(&other, "other-ca", "other-ca").unwrap();
    let forged = ca
        .issue_client("system:admin", &["system:masters"])
        .unwrap();
    let (crt, key) = forged.write(&other, "forged").unwrap();
    let cert_args = [
        "--cert",
        crt.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let (code, body) = c.curl_with("/api/v1/namespaces", None, &cert_args);
    assert_eq!(code, "401", "{body}");
    assert!(body.contains(r#""reason":"Unauthorized""#), "{body}");
    let (code, body) = c.curl_with(
        "/api/v1/namespaces/default/pods",
        Some("dev-token"),
        &cert_args,
    );
    assert_eq!(
        code, "403",
        "the token's user, not the certificate's: {body}"
    );
    assert!(body.contains(r#"User \"dev-user\" cannot list"#), "{body}");

    let err = c.fails(&["--user=bad", "get", "pods"]);
    assert!(
        err.contains("error: You must be logged in to the server"),
        "{err}"
    );
    // Without credentials (kubectl would prompt for a password here, so plain HTTPS).
    let (code, body) = c.curl("/api/v1/namespaces/default/pods", None);
    assert_eq!(code, "401", "{body}");
    assert!(body.contains(r#""reason":"Unauthorized""#), "{body}");
    let (code, body) = c.curl("/api/v1/namespaces/default/pods", Some("not-a-token"));
    assert_eq!(code, "401", "{body}");
    assert_eq!(
        c.curl("/healthz", None),
        ("200".to_string(), "ok".to_string())
    );
    assert!(c.curl("/version", None).1.contains("gitVersion"));
    let err = c.fails(&["--user=bad", "get", "--raw", "/version"]);
    assert!(
        err.contains("Unauthorized"),
        "a wrong token is refused even where anonymous is not: {err}"
    );
    // Authenticated users may discover the API (system:discovery) but not read /metrics.
    assert!(
        c.ok(&["--user=dev", "api-versions"])
            .contains("rbac.authorization.k8s.io/v1")
    );
    let err = forbidden(&c, &["--user=dev", "get", "--raw", "/metrics"]);
    assert!(
        err.contains(r#"User "dev-user" cannot get path "/metrics""#),
        "{err}"
    );
}

#[test]
fn the_default_roles_and_bindings_exist() {
    let c = Cluster::start();
    let roles = c.ok(&["get", "clusterroles", "-o", "name"]);
    for role in [
        "cluster-admin",
        "system:discovery",
        "system:basic-user",
        "system:public-info-viewer",
    ] {
        assert!(
            roles.contains(&format!("clusterrole.rbac.authorization.k8s.io/{role}\n")),
            "{role}: {roles}"
        );
    }
    assert_eq!(
        c.ok(&[
            "get",
            "clusterrolebinding",
            "cluster-admin",
            "-o",
            "jsonpath={.subjects[0].name}"
        ]),
        "system:masters"
    );
}

#[test]
fn auth_can_i_and_whoami_answer_for_the_caller_and_for_impersonated_users() {
    let (c, _tokens) = cluster_with_token_users();
    c.ok(&["create", "namespace", "team-a"]);

    let whoami = c.ok(&["auth", "whoami"]);
    assert!(
        whoami.contains("system:admin") && whoami.contains("system:masters"),
        "{whoami}"
    );
    let whoami = c.ok(&["--user=dev", "auth", "whoami"]);
    assert!(
        whoami.contains("dev-user") && whoami.contains("developers"),
        "{whoami}"
    );

    let can_i = |args: &[&str]| {
        let out = c.kubectl(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    assert_eq!(
        can_i(&["auth", "can-i", "create", "deployments", "-n", "team-a"]),
        (true, "yes".into())
    );
    assert_eq!(
        can_i(&[
            "auth",
            "can-i",
            "create",
            "deployment",
            "--as",
            "dev-user",
            "-n",
            "team-a"
        ]),
        (false, "no".into())
    );
    assert_eq!(
        can_i(&[
            "--user=dev",
            "auth",
            "can-i",
            "create",
            "deployment",
            "-n",
            "team-a"
        ]),
        (false, "no".into())
    );
    c.ok(&[
        "create",
        "role",
        "deployer",
        "--verb=create,get,list",
        "--resource=deployments.apps",
        "-n",
        "team-a",
    ]);
    c.ok(&[
        "create",
        "rolebinding",
        "dev-deploys",
        "--role=deployer",
        "--user=dev-user",
        "-n",
        "team-a",
    ]);
    let mut granted = false;
    for _ in 0..50 {
        if can_i(&[
            "auth",
            "can-i",
            "create",
            "deployment",
            "--as",
            "dev-user",
            "-n",
            "team-a",
        ]) == (true, "yes".into())
        {
            granted = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(granted, "the binding grants dev-user deployments in team-a");
    assert_eq!(
        can_i(&[
            "auth",
            "can-i",
            "create",
            "deployment",
            "--as",
            "dev-user",
            "-n",
            "default"
        ]),
        (false, "no".into())
    );
    assert_eq!(
        can_i(&[
            "--user=dev",
            "auth",
            "can-i",
            "create",
            "deployment",
            "-n",
            "team-a"
        ]),
        (true, "yes".into())
    );
    let list = c.ok(&["--user=dev", "auth", "can-i", "--list", "-n", "team-a"]);
    assert!(
        list.contains("deployments.apps")
            && list.contains("selfsubjectaccessreviews.authorization.k8s.io"),
        "{list}"
    );

    // Acting as dev-user through impersonation, and dev-user may not impersonate anyone.
    c.ok(&[
        "--as=dev-user",
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "-n",
        "team-a",
    ]);
    let err = forbidden(&c, &["--as=dev-user", "get", "pods", "-n", "team-a"]);
    assert!(
        err.contains(r#"User "dev-user" cannot list resource "pods""#),
        "{err}"
    );
    let err = forbidden(
        &c,
        &["--user=dev", "--as=someone", "get", "pods", "-n", "team-a"],
    );
    assert!(
        err.contains(r#"users "someone" is forbidden: User "dev-user" cannot impersonate resource "users" in API group "" at the cluster scope"#),
        "{err}"
    );
}

#[test]
fn users_may_grant_only_what_they_hold_unless_allowed_to_escalate_or_bind() {
    let (c, _tokens) = cluster_with_token_users();
    c.ok(&["create", "namespace", "team-a"]);
    c.ok(&[
        "create",
        "role",
        "rbac-manager",
        "--verb=create,get,list,update,patch,delete",
        "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io",
        "-n",
        "team-a",
    ]);
    c.ok(&[
        "create",
        "role",
        "pod-reader",
        "--verb=get,list",
        "--resource=pods",
        "-n",
        "team-a",
    ]);
    c.ok(&[
        "create",
        "rolebinding",
        "dev-manages",
        "--role=rbac-manager",
        "--user=dev-user",
        "-n",
        "team-a",
    ]);
    c.ok(&[
        "create",
        "rolebinding",
        "dev-reads",
        "--role=pod-reader",
        "--user=dev-user",
        "-n",
        "team-a",
    ]);
    // `--user` is also `create rolebinding`'s subject flag, so dev-user acts through a context.
    let cluster = c.ok(&["config", "view", "-o", "jsonpath={.clusters[0].name}"]);
    c.ok(&[
        "config",
        "set-context",
        "dev",
        &format!("--cluster={cluster}"),
        "--user=dev",
    ]);
    let dev = |args: &[&str]| {
        let mut all = vec!["--context=dev", "-n", "team-a"];
        all.extend_from_slice(args);
        all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| c.kubectl(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // Wait for the bindings to reach the authorizer.
    for _ in 0..50 {
        if run(dev(&["get", "pods"])).status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // What dev-user holds, it may grant.
    assert!(
        run(dev(&[
            "create",
            "role",
            "my-pods",
            "--verb=get",
            "--resource=pods"
        ]))
        .status
        .success()
    );
    assert!(
        run(dev(&[
            "create",
            "rolebinding",
            "share",
            "--role=pod-reader",
            "--user=someone"
        ]))
        .status
        .success()
    );

    let out = run(dev(&[
        "create",
        "role",
        "secret-reader",
        "--verb=get,list",
        "--resource=secrets",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(r#"roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "dev-user" (groups=["developers" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#)
            && err.contains(r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}"#),
        "{err}"
    );
    let out = run(dev(&[
        "create",
        "rolebinding",
        "take-over",
        "--clusterrole=cluster-admin",
        "--user=dev-user",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("is attempting to grant RBAC permissions not currently held"),
        "{err}"
    );
    // A patch that widens a role is refused just the same, and nothing changes.
    let out = run(dev(&[
        "patch",
        "role",
        "my-pods",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}}]"#,
    ]));
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        c.ok(&[
            "get",
            "role",
            "my-pods",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.rules[*].resources[*]}"
        ]),
        "pods"
    );
    assert!(
        c.fails(&["get", "role", "secret-reader", "-n", "team-a"])
            .contains("NotFound")
    );

    // With `escalate` on roles, it may.
    c.ok(&[
        "create",
        "role",
        "escalator",
        "--verb=escalate",
        "--resource=roles.rbac.authorization.k8s.io",
        "-n",
        "team-a",
    ]);
    c.ok(&[
        "create",
        "rolebinding",
        "dev-escalates",
        "--role=escalator",
        "--user=dev-user",
        "-n",
        "team-a",
    ]);
    let mut allowed = false;
    for _ in 0..50 {
        if run(dev(&[
            "create",
            "role",
            "secret-reader",
            "--verb=get,list",
            "--resource=secrets",
        ]))
        .status
        .success()
        {
            allowed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        allowed,
        "escalate lets dev-user create a role it does not hold"
    );
}

#[test]
fn a_token_review_says_whom_a_token_names() {
    let (c, _tokens) = cluster_with_token_users();
    let review = |token: &str| {
        c.ok_stdin(
            &["create", "-f", "-", "-o", "json"],
            &format!(
                r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":"{token}"}}}}"#
            ),
        )
    };
    let good: serde_json::Value = serde_json::from_str(&review("dev-token")).unwrap();
    assert_eq!(good["status"]["authenticated"], true, "{good}");
    assert_eq!(good["status"]["user"]["username"], "dev-user");
    assert_eq!(good["status"]["user"]["uid"], "1001");
    let bad: serde_json::Value = serde_json::from_str(&review("nope")).unwrap();
    assert_eq!(bad["status"]["authenticated"], false, "{bad}");
    assert!(
        c.ok(&["get", "--raw", "/apis/authentication.k8s.io/v1"])
            .contains("tokenreviews")
    );
}

#[test]
fn with_anonymous_auth_requests_without_credentials_are_system_anonymous_and_authorized_by_rbac() {
    let c = Cluster::start_with(&["--anonymous-auth=true"]);
    let (code, body) = c.curl("/api/v1/namespaces/default/pods", None);
    assert_eq!(code, "403", "{body}");
    assert!(
        body.contains(r#"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""#),
        "{body}"
    );
    assert_eq!(c.curl("/healthz", None).0, "200");
    assert_eq!(c.curl("/version", None).0, "200");
    // Wrong credentials are still refused, never treated as anonymous.
    assert_eq!(
        c.curl("/api/v1/namespaces/default/pods", Some("not-a-token"))
            .0,
        "401"
    );
    c.ok(&[
        "create",
        "clusterrolebinding",
        "anonymous-view",
        "--clusterrole=view",
        "--group=system:unauthenticated",
    ]);
    let (code, body) = c.curl("/api/v1/namespaces/default/pods", None);
    assert_eq!(code, "200", "{body}");
}
