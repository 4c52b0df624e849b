//! ServiceAccounts and their tokens, end to end with the real kubectl and curl: bound tokens
//! from `kubectl create token`, legacy token Secrets, the `default` account and CA ConfigMap in
//! every namespace, pods running as an account with its token mounted, and aggregated roles.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;

/// Waits up to 30 s for `check` to hold.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let began = Instant::now();
    while !check() {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "timed out waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn token(c: &Cluster, args: &[&str]) -> String {
    let mut all = vec!["create", "token"];
    all.extend_from_slice(args);
    c.ok(&all).trim().to_string()
}

#[test]
fn a_service_account_token_is_denied_until_a_role_binding_grants_it_and_never_reads_another_namespace()
 {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "team-a"]);
    c.ok(&["create", "namespace", "team-b"]);
    c.ok(&["create", "serviceaccount", "robot", "-n", "team-a"]);
    let robot = token(&c, &["robot", "-n", "team-a"]);

    let (code, body) = c.curl("/api/v1/namespaces/team-a/pods", Some(&robot));
    assert_eq!(code, "403", "{body}");
    assert!(
        body.contains(r#"pods is forbidden: User \"system:serviceaccount:team-a:robot\" cannot list resource \"pods\" in API group \"\" in the namespace \"team-a\""#),
        "{body}"
    );

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
        "robot-reads-pods",
        "--role=pod-reader",
        "--serviceaccount=team-a:robot",
        "-n",
        "team-a",
    ]);
    eventually("the binding to take effect", || {
        c.curl("/api/v1/namespaces/team-a/pods", Some(&robot)).0 == "200"
    });
    let (code, _) = c.curl("/api/v1/namespaces/team-b/pods", Some(&robot));
    assert_eq!(code, "403");

    // The token names the account by uid: deleting the account revokes it, and an account made
    // again under the same name does not bring it back.
    c.ok(&["delete", "serviceaccount", "robot", "-n", "team-a"]);
    let (code, body) = c.curl("/api/v1/namespaces/team-a/pods", Some(&robot));
    assert_eq!(code, "401", "{body}");
    assert!(body.contains(r#""message":"Unauthorized""#), "{body}");
    c.ok(&["create", "serviceaccount", "robot", "-n", "team-a"]);
    assert_eq!(
        c.curl("/api/v1/namespaces/team-a/pods", Some(&robot)).0,
        "401"
    );
    let fresh = token(&c, &["robot", "-n", "team-a"]);
    assert_eq!(
        c.curl("/api/v1/namespaces/team-a/pods", Some(&fresh)).0,
        "200"
    );
}

#[test]
fn forged_expired_and_malformed_tokens_get_401() {
    use base64::Engine;
    let c = Cluster::start();
    let good = token(&c, &["default"]);
    assert_eq!(c.curl("/apis", Some(&good)).0, "200");

    // The payload changed after signing: the signature no longer matches.
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = good.split('.').collect();
    let payload = String::from_utf8(engine.decode(parts[1]).unwrap()).unwrap();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(payload.replace(":default\"", ":admin\"")),
        parts[2]
    );
    assert_eq!(c.curl("/apis", Some(&forged)).0, "401");

    // Signed with the cluster's own key, but expired an hour ago.
    let key = std::fs::read(c.data_dir().join("server/tls/service.key")).unwrap();
    let uid = c.ok(&["get", "sa", "default", "-o", "jsonpath={.metadata.uid}"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!({
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": "system:serviceaccount:default:default",
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600,
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "default", "uid": uid}},
    });
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(&key).unwrap(),
    )
    .unwrap();
    assert_eq!(c.curl("/apis", Some(&expired)).0, "401");

    // Shaped like a JWT but not one, and for another audience.
    assert_eq!(c.curl("/apis", Some("aaa.bbb.ccc")).0, "401");
    let vault = token(&c, &["default", "--audience=vault"]);
    assert_eq!(c.curl("/apis", Some(&vault)).0, "401");
    // TokenRequest's own validation.
    let err = c.fails(&["create", "token", "default", "--duration=5m"]);
    assert!(
        err.contains(r#"spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"#),
        "{err}"
    );
    let err = c.fails(&["create", "token", "nobody"]);
    assert!(
        err.contains(r#"serviceaccounts "nobody" not found"#),
        "{err}"
    );
}

#[test]
fn every_namespace_gets_a_default_account_and_the_cluster_ca() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "fresh"]);
    eventually("the default account", || {
        c.kubectl(&["get", "sa", "default", "-n", "fresh"])
            .status
            .success()
    });
    eventually("the CA ConfigMap", || {
        c.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", "fresh"])
            .status
            .success()
    });
    let published = c.ok(&[
        "get",
        "cm",
        "kube-root-ca.crt",
        "-n",
        "fresh",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    let ca = std::fs::read_to_string(c.data_dir().join("server/tls/server-ca.crt")).unwrap();
    assert_eq!(published.trim(), ca.trim());

    // Deleted, both come back.
    c.ok(&["delete", "sa", "default", "-n", "fresh"]);
    c.ok(&["delete", "cm", "kube-root-ca.crt", "-n", "fresh"]);
    eventually("the default account again", || {
        c.kubectl(&["get", "sa", "default", "-n", "fresh"])
            .status
            .success()
    });
    eventually("the CA ConfigMap again", || {
        c.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", "fresh"])
            .status
            .success()
    });
}

#[test]
fn pods_run_as_an_account_with_its_token_mounted_and_pod_bound_tokens_die_with_the_pod() {
    let c = Cluster::start();
    c.ok(&["run", "web", "--image=nginx:1.27"]);
    let spec = c.ok(&["get", "pod", "web", "-o", "json"]);
    let pod: serde_json::Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    let volume = &pod["spec"]["volumes"][0];
    assert!(
        volume["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-"),
        "{volume}"
    );
    assert_eq!(
        volume["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
        3607
    );
    assert_eq!(
        volume["projected"]["sources"][1]["configMap"]["name"],
        "kube-root-ca.crt"
    );
    let mount = &pod["spec"]["containers"][0]["volumeMounts"][0];
    assert_eq!(
        mount["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(mount["readOnly"], true);

    let err = c.fails(&[
        "run",
        "ghost",
        "--image=nginx:1.27",
        "--overrides={\"spec\":{\"serviceAccountName\":\"nobody\"}}",
    ]);
    assert!(
        err.contains(r#"pods "ghost" is forbidden: error looking up service account default/nobody: serviceaccount "nobody" not found"#),
        "{err}"
    );
    assert!(c.fails(&["get", "pod", "ghost"]).contains("NotFound"));

    c.ok(&[
        "run",
        "quiet",
        "--image=nginx:1.27",
        "--overrides={\"spec\":{\"automountServiceAccountToken\":false}}",
    ]);
    let volumes = c.ok(&["get", "pod", "quiet", "-o", "jsonpath={.spec.volumes}"]);
    assert!(volumes.trim().is_empty(), "{volumes}");

    let bound = token(
        &c,
        &[
            "default",
            "--bound-object-kind=Pod",
            "--bound-object-name=web",
        ],
    );
    assert_eq!(c.curl("/apis", Some(&bound)).0, "200");
    c.ok(&["delete", "pod", "web", "--grace-period=0", "--force"]);
    assert_eq!(c.curl("/apis", Some(&bound)).0, "401");
}

#[test]
fn legacy_token_secrets_are_filled_in_and_removed_with_their_account() {
    let c = Cluster::start();
    c.ok(&["create", "serviceaccount", "builder"]);
    c.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: builder-token\n  annotations:\n    kubernetes.io/service-account.name: builder\ntype: kubernetes.io/service-account-token\n",
    );
    eventually("the token to be filled in", || {
        !c.ok(&[
            "get",
            "secret",
            "builder-token",
            "-o",
            "jsonpath={.data.token}",
        ])
        .trim()
        .is_empty()
    });
    let encoded = c.ok(&[
        "get",
        "secret",
        "builder-token",
        "-o",
        "jsonpath={.data.token}",
    ]);
    use base64::Engine;
    let legacy = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .unwrap(),
    )
    .unwrap();
    let namespace = c.ok(&[
        "get",
        "secret",
        "builder-token",
        "-o",
        "jsonpath={.data.namespace}",
    ]);
    assert_eq!(namespace.trim(), "ZGVmYXVsdA==");
    let (code, body) = c.curl("/apis", Some(&legacy));
    assert_eq!(code, "200", "{body}");

    c.ok(&["delete", "serviceaccount", "builder"]);
    assert_eq!(c.curl("/apis", Some(&legacy)).0, "401");
    eventually("the orphaned token secret to go", || {
        !c.kubectl(&["get", "secret", "builder-token"])
            .status
            .success()
    });
}

#[test]
fn view_edit_and_admin_aggregate_the_rules_of_labelled_roles() {
    let c = Cluster::start();
    c.ok(&["create", "serviceaccount", "viewer"]);
    c.ok(&[
        "create",
        "rolebinding",
        "viewer-views",
        "--clusterrole=view",
        "--serviceaccount=default:viewer",
    ]);
    let viewer = token(&c, &["viewer"]);
    eventually("view to allow listing pods", || {
        c.curl("/api/v1/namespaces/default/pods", Some(&viewer)).0 == "200"
    });
    assert_eq!(
        c.curl("/api/v1/namespaces/default/secrets", Some(&viewer))
            .0,
        "403"
    );
    let edit_rules = c.ok(&[
        "get",
        "clusterrole",
        "edit",
        "-o",
        "jsonpath={.rules[*].resources}",
    ]);
    assert!(edit_rules.contains("deployments"), "{edit_rules}");

    c.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: secret-viewer\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\nrules:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"list\"]\n",
    );
    eventually("view to pick up the labelled role", || {
        c.curl("/api/v1/namespaces/default/secrets", Some(&viewer))
            .0
            == "200"
    });
}

#[test]
fn service_accounts_discover_the_issuer_and_its_keys_and_the_keys_verify_their_tokens() {
    let c = Cluster::start();
    let robot = token(&c, &["default"]);
    eventually("the discovery role to be loaded", || {
        c.curl("/.well-known/openid-configuration", Some(&robot)).0 == "200"
    });
    let (_, body) = c.curl("/.well-known/openid-configuration", Some(&robot));
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        config["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert!(
        config["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/openid/v1/jwks")
    );
    assert_eq!(config["id_token_signing_alg_values_supported"][0], "ES256");

    let (code, body) = c.curl("/openid/v1/jwks", Some(&robot));
    assert_eq!(code, "200", "{body}");
    let jwks: serde_json::Value = serde_json::from_str(&body).unwrap();
    let key = &jwks["keys"][0];
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        key["x"].as_str().unwrap(),
        key["y"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["https://kubernetes.default.svc.cluster.local"]);
    let header = jsonwebtoken::decode_header(&robot).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let claims = jsonwebtoken::decode::<serde_json::Value>(&robot, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");

    // Not public: no credentials, no keys.
    assert_eq!(c.curl("/openid/v1/jwks", None).0, "401");
}

#[test]
fn an_account_that_enforces_mountable_secrets_limits_its_pods_to_its_secrets() {
    let c = Cluster::start();
    c.ok_stdin(
        &["apply", "-f", "-"],
        r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: locked
  annotations: {kubernetes.io/enforce-mountable-secrets: "true"}
secrets: [{name: allowed}]
---
apiVersion: v1
kind: Secret
metadata: {name: allowed}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: other}
stringData: {k: v}
"#,
    );
    let pod = |name: &str, secret: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  serviceAccountName: locked\n  \
             containers: [{{name: c, image: nginx, envFrom: [{{secretRef: {{name: {secret}}}}}]}}]\n"
        )
    };
    c.ok_stdin(&["apply", "-f", "-"], &pod("fine", "allowed"));
    let err = c.fails_stdin(&["apply", "-f", "-"], &pod("sneaky", "other"));
    assert!(
        err.contains(r#"pods "sneaky" is forbidden: container c with envFrom referencing secret.secretName="other" is not allowed because service account locked does not reference that secret"#),
        "{err}"
    );
    assert!(c.fails(&["get", "pod", "sneaky"]).contains("NotFound"));
}
