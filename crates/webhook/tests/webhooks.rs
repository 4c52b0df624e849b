//! End-to-end webhook calls against a real HTTPS webhook server on 127.0.0.1, with its serving
//! certificate issued by a throwaway CA.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use bosun_api::ApiError;
use bosun_webhook::{
    Attributes, Dispatcher, Effects, GroupVersionKind, GroupVersionResource, Operation,
    Reinvocation, UserInfo, WebhookHost,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A CA and a serving certificate for 127.0.0.1 and `webhook.default.svc`.
struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn ca() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn pki() -> Pki {
    let ca = ca();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "webhook.default.svc".to_string(),
    ])
    .unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// One request the webhook server received.
#[derive(Clone, Debug)]
struct Received {
    path_and_query: String,
    content_type: String,
    review: Value,
}

type Handler = Arc<dyn Fn(&str, &Value) -> (Duration, Value) + Send + Sync>;

/// A running HTTPS webhook server.
struct Server {
    port: u16,
    ca_pem: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    fn calls(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path_and_query.split('?').next() == Some(path))
            .cloned()
            .collect()
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

fn answer(review: &Value, response: Value) -> Value {
    let mut response = response;
    response["uid"] = review["request"]["uid"].clone();
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

fn patch(ops: Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(ops.to_string())
}

/// The test webhooks, by path.
fn handle(path: &str, review: &Value) -> (Duration, Value) {
    let now = Duration::ZERO;
    match path {
        "/allow" | "/observe" => (now, answer(review, json!({"allowed": true}))),
        "/deny" => (
            now,
            answer(
                review,
                json!({"allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": "no pods today"}}),
            ),
        ),
        "/deny-slow" => (
            Duration::from_millis(300),
            answer(
                review,
                json!({"allowed": false, "status": {"message": "slow refusal"}}),
            ),
        ),
        "/deny-bare" => (
            now,
            answer(review, json!({"allowed": false, "status": {"code": 200}})),
        ),
        "/label" => {
            let labelled = review["request"]["object"]["metadata"]["labels"]["mutated"].is_string();
            let response = if labelled {
                json!({"allowed": true})
            } else {
                json!({
                    "allowed": true,
                    "patchType": "JSONPatch",
                    "patch": patch(json!([{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}])),
                })
            };
            (now, answer(review, response))
        }
        "/warn" => (
            now,
            answer(
                review,
                json!({"allowed": true, "warnings": ["first warning", "second"], "auditAnnotations": {"key": "value"}}),
            ),
        ),
        "/slow" => (
            Duration::from_secs(3),
            answer(review, json!({"allowed": true})),
        ),
        "/wronguid" => {
            let mut a = answer(review, json!({"allowed": true}));
            a["response"]["uid"] = json!("nope");
            (now, a)
        }
        "/patch" => (
            now,
            answer(
                review,
                json!({"allowed": true, "patchType": "JSONPatch", "patch": patch(json!([]))}),
            ),
        ),
        _ => (now, json!({"unexpected": path})),
    }
}

async fn start(pki: &Pki) -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = Arc::new(handle);
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, log, handler) = (acceptor.clone(), log.clone(), handler.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (log, handler) = (log.clone(), handler.clone());
                        async move {
                            let path_and_query = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            let content_type = req
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let review: Value =
                                serde_json::from_slice(&body).unwrap_or(Value::Null);
                            log.lock().unwrap().push(Received {
                                path_and_query: path_and_query.clone(),
                                content_type,
                                review: review.clone(),
                            });
                            let path = path_and_query
                                .split('?')
                                .next()
                                .unwrap_or_default()
                                .to_string();
                            let (delay, reply) = handler(&path, &review);
                            tokio::time::sleep(delay).await;
                            let response = hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(reply.to_string())))
                                .unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Server {
        port,
        ca_pem: pki.ca_pem.clone(),
        received,
    }
}

/// The API server's side: namespace labels and service endpoints.
#[derive(Default)]
struct Host {
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    services: BTreeMap<(String, String), String>,
}

#[async_trait]
impl WebhookHost for Host {
    async fn namespace_labels(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        Ok(self.namespaces.get(name).cloned())
    }

    async fn resolve_service(
        &self,
        namespace: &str,
        name: &str,
        _port: i32,
    ) -> Result<String, String> {
        self.services
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| format!("service \"{name}\" not found"))
    }
}

fn dispatcher(host: Host) -> Dispatcher {
    Dispatcher::new(Arc::new(host))
}

fn pod_attrs(labels: Value) -> Attributes {
    Attributes {
        resource: GroupVersionResource::new("", "v1", "pods"),
        subresource: String::new(),
        kind: GroupVersionKind::new("", "v1", "Pod"),
        name: "web".into(),
        namespace: "default".into(),
        operation: Operation::Create,
        user: UserInfo {
            username: "alice".into(),
            groups: vec!["system:authenticated".into()],
            ..UserInfo::default()
        },
        object: Some(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default", "labels": labels}}),
        ),
        old_object: None,
        dry_run: false,
        options: Some(json!({"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"})),
    }
}

fn ca_bundle(pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// A webhook for pods, defaulted as the API server stores it, with `extra` merged in.
fn hook(name: &str, client_config: Value, extra: Value) -> Value {
    let mut h = json!({
        "name": name,
        "clientConfig": client_config,
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE", "UPDATE", "DELETE"]}],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    });
    for (k, v) in extra.as_object().unwrap() {
        h[k] = v.clone();
    }
    h
}

fn url_hook(server: &Server, name: &str, path: &str, extra: Value) -> Value {
    hook(
        name,
        json!({"url": server.url(path), "caBundle": ca_bundle(&server.ca_pem)}),
        extra,
    )
}

fn validating(configs: &[(&str, Vec<Value>)]) -> Vec<ValidatingWebhookConfiguration> {
    configs
        .iter()
        .map(|(name, hooks)| {
            let mut obj = json!({"metadata": {"name": name}, "webhooks": hooks});
            bosun_webhook::default_configuration(bosun_webhook::WebhookKind::Validating, &mut obj);
            serde_json::from_value(obj).unwrap()
        })
        .collect()
}

fn mutating(configs: &[(&str, Vec<Value>)]) -> Vec<MutatingWebhookConfiguration> {
    configs
        .iter()
        .map(|(name, hooks)| {
            let mut obj = json!({"metadata": {"name": name}, "webhooks": hooks});
            bosun_webhook::default_configuration(bosun_webhook::WebhookKind::Mutating, &mut obj);
            serde_json::from_value(obj).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn an_allowing_webhook_receives_the_review_and_lets_the_request_through() {
    let server = start(&pki()).await;
    let configs = validating(&[(
        "c",
        vec![url_hook(&server, "allow.example.com", "/allow", json!({}))],
    )]);
    let mut effects = Effects::default();
    let attrs = pod_attrs(json!({"app": "web"}));
    dispatcher(Host::default())
        .validate(&configs, &attrs, &mut effects)
        .await
        .unwrap();
    let calls = server.calls("/allow");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path_and_query, "/allow?timeout=10s");
    assert_eq!(calls[0].content_type, "application/json");
    let req = &calls[0].review["request"];
    assert_eq!(calls[0].review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(req["operation"], "CREATE");
    assert_eq!(
        req["kind"],
        json!({"group": "", "version": "v1", "kind": "Pod"})
    );
    assert_eq!(req["namespace"], "default");
    assert_eq!(req["userInfo"]["username"], "alice");
    assert_eq!(req["object"]["metadata"]["labels"]["app"], "web");
    assert_eq!(req["dryRun"], false);
    assert_eq!(req["uid"].as_str().unwrap().len(), 36);
}

#[tokio::test]
async fn a_refusal_answers_with_the_webhooks_message_and_code() {
    let server = start(&pki()).await;
    let d = dispatcher(Host::default());
    let attrs = pod_attrs(json!({}));
    let configs = validating(&[(
        "c",
        vec![url_hook(&server, "deny.example.com", "/deny", json!({}))],
    )]);
    let err = d
        .validate(&configs, &attrs, &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!((err.code, err.reason), (403, "Forbidden"));
    assert_eq!(
        err.message,
        "admission webhook \"deny.example.com\" denied the request: no pods today"
    );
    let configs = validating(&[(
        "c",
        vec![url_hook(
            &server,
            "bare.example.com",
            "/deny-bare",
            json!({}),
        )],
    )]);
    let err = d
        .validate(&configs, &attrs, &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "admission webhook \"bare.example.com\" denied the request without explanation"
    );
}

#[tokio::test]
async fn the_first_refusal_in_configuration_order_wins() {
    let server = start(&pki()).await;
    let configs = validating(&[
        (
            "b-second",
            vec![url_hook(&server, "fast.example.com", "/deny", json!({}))],
        ),
        (
            "a-first",
            vec![url_hook(
                &server,
                "slow.example.com",
                "/deny-slow",
                json!({}),
            )],
        ),
    ]);
    let err = dispatcher(Host::default())
        .validate(&configs, &pod_attrs(json!({})), &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "admission webhook \"slow.example.com\" denied the request: slow refusal"
    );
    assert_eq!(server.calls("/deny").len(), 1);
}

#[tokio::test]
async fn a_json_patch_mutates_the_object() {
    let server = start(&pki()).await;
    let configs = mutating(&[(
        "m",
        vec![url_hook(&server, "label.example.com", "/label", json!({}))],
    )]);
    let mut attrs = pod_attrs(json!({"app": "web"}));
    let mut effects = Effects::default();
    let mut re = Reinvocation::new();
    dispatcher(Host::default())
        .mutate(&configs, &mut attrs, &mut re, &mut effects)
        .await
        .unwrap();
    assert_eq!(
        attrs.object.as_ref().unwrap()["metadata"]["labels"],
        json!({"mutated": "yes"})
    );
    assert_eq!(
        effects.audit_annotations["mutation.webhook.admission.k8s.io/round_0_index_0"],
        r#"{"configuration":"m","webhook":"label.example.com","mutated":true}"#
    );
    assert!(
        effects.request_audit_annotations["patch.webhook.admission.k8s.io/round_0_index_0"]
            .contains("\"patchType\":\"JSONPatch\"")
    );
    // As upstream, any change asks for a second round of the chain, even with no IfNeeded webhook.
    assert!(re.should_reinvoke());
}

#[tokio::test]
async fn warnings_and_audit_annotations_come_back_to_the_caller() {
    let server = start(&pki()).await;
    let configs = validating(&[(
        "c",
        vec![url_hook(&server, "warn.example.com", "/warn", json!({}))],
    )]);
    let mut effects = Effects::default();
    dispatcher(Host::default())
        .validate(&configs, &pod_attrs(json!({})), &mut effects)
        .await
        .unwrap();
    assert_eq!(effects.warnings, ["first warning", "second"]);
    assert_eq!(effects.audit_annotations["warn.example.com/key"], "value");
    assert_eq!(
        bosun_webhook::warning_headers(&effects.warnings),
        ["299 - \"first warning\"", "299 - \"second\""]
    );
}

#[tokio::test]
async fn a_timeout_fails_the_request_unless_the_failure_policy_is_ignore() {
    let server = start(&pki()).await;
    let d = dispatcher(Host::default());
    let attrs = pod_attrs(json!({}));
    let fail = validating(&[(
        "c",
        vec![url_hook(
            &server,
            "slow.example.com",
            "/slow",
            json!({"timeoutSeconds": 1}),
        )],
    )]);
    let err = d
        .validate(&fail, &attrs, &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!((err.code, err.reason), (500, "InternalError"));
    assert_eq!(
        err.message,
        format!(
            "Internal error occurred: failed calling webhook \"slow.example.com\": failed to call webhook: Post \"https://127.0.0.1:{}/slow?timeout=1s\": context deadline exceeded",
            server.port
        )
    );
    let ignore = validating(&[(
        "c",
        vec![url_hook(
            &server,
            "slow.example.com",
            "/slow",
            json!({"timeoutSeconds": 1, "failurePolicy": "Ignore"}),
        )],
    )]);
    let mut effects = Effects::default();
    d.validate(&ignore, &attrs, &mut effects).await.unwrap();
    assert_eq!(
        effects.audit_annotations["failed-open.validating.webhook.admission.k8s.io/round_0_index_0"],
        "slow.example.com"
    );
}

#[tokio::test]
async fn a_refused_connection_fails_the_request_unless_the_failure_policy_is_ignore() {
    let pki = pki();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let cc =
        json!({"url": format!("https://127.0.0.1:{port}/"), "caBundle": ca_bundle(&pki.ca_pem)});
    let d = dispatcher(Host::default());
    let mut attrs = pod_attrs(json!({}));
    let fail = mutating(&[("m", vec![hook("down.example.com", cc.clone(), json!({}))])]);
    let err = d
        .mutate(
            &fail,
            &mut attrs,
            &mut Reinvocation::new(),
            &mut Effects::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "Internal error occurred: failed calling webhook \"down.example.com\": failed to call webhook: Post \"https://127.0.0.1:{port}/?timeout=10s\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        )
    );
    assert_eq!(
        err.details.unwrap()["causes"][0]["message"],
        err.message.trim_start_matches("Internal error occurred: ")
    );
    let ignore = mutating(&[(
        "m",
        vec![hook(
            "down.example.com",
            cc,
            json!({"failurePolicy": "Ignore"}),
        )],
    )]);
    let mut effects = Effects::default();
    d.mutate(&ignore, &mut attrs, &mut Reinvocation::new(), &mut effects)
        .await
        .unwrap();
    assert_eq!(
        effects.audit_annotations["failed-open.mutation.webhook.admission.k8s.io/round_0_index_0"],
        "down.example.com"
    );
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    let server = start(&pki()).await;
    let other = ca().pem();
    let cc = json!({"url": server.url("/allow"), "caBundle": ca_bundle(&other)});
    let configs = validating(&[("c", vec![hook("tls.example.com", cc, json!({}))])]);
    let err = dispatcher(Host::default())
        .validate(&configs, &pod_attrs(json!({})), &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        format!(
            "Internal error occurred: failed calling webhook \"tls.example.com\": failed to call webhook: Post \"https://127.0.0.1:{}/allow?timeout=10s\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
            server.port
        )
    );
    assert!(server.calls("/allow").is_empty());
}

#[tokio::test]
async fn dry_runs_reach_only_webhooks_without_side_effects() {
    let server = start(&pki()).await;
    let d = dispatcher(Host::default());
    let mut attrs = pod_attrs(json!({}));
    attrs.dry_run = true;
    let some = validating(&[(
        "c",
        vec![url_hook(
            &server,
            "effects.example.com",
            "/allow",
            json!({"sideEffects": "Some"}),
        )],
    )]);
    let err = d
        .validate(&some, &attrs, &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!((err.code, err.reason), (400, "BadRequest"));
    assert_eq!(
        err.message,
        "admission webhook \"effects.example.com\" does not support dry run"
    );
    assert!(server.calls("/allow").is_empty());
    let none = validating(&[(
        "c",
        vec![url_hook(
            &server,
            "effects.example.com",
            "/allow",
            json!({"sideEffects": "NoneOnDryRun", "failurePolicy": "Ignore"}),
        )],
    )]);
    d.validate(&none, &attrs, &mut Effects::default())
        .await
        .unwrap();
    assert_eq!(server.calls("/allow")[0].review["request"]["dryRun"], true);
}

#[tokio::test]
async fn an_if_needed_webhook_is_reinvoked_once_after_a_later_webhook_changes_the_object() {
    let server = start(&pki()).await;
    let configs = mutating(&[
        (
            "b",
            vec![url_hook(&server, "label.example.com", "/label", json!({}))],
        ),
        (
            "a",
            vec![url_hook(
                &server,
                "observe.example.com",
                "/observe",
                json!({"reinvocationPolicy": "IfNeeded"}),
            )],
        ),
    ]);
    let d = dispatcher(Host::default());
    let mut attrs = pod_attrs(json!({}));
    let mut re = Reinvocation::new();
    let mut effects = Effects::default();
    d.mutate(&configs, &mut attrs, &mut re, &mut effects)
        .await
        .unwrap();
    assert!(re.should_reinvoke());
    re.begin_reinvocation();
    d.mutate(&configs, &mut attrs, &mut re, &mut effects)
        .await
        .unwrap();
    assert!(!re.should_reinvoke());
    let observed = server.calls("/observe");
    assert_eq!(observed.len(), 2);
    assert!(
        observed[0].review["request"]["object"]["metadata"]["labels"]
            .get("mutated")
            .is_none()
    );
    assert_eq!(
        observed[1].review["request"]["object"]["metadata"]["labels"]["mutated"],
        "yes"
    );
    assert_eq!(server.calls("/label").len(), 1);
    assert!(
        effects
            .audit_annotations
            .contains_key("mutation.webhook.admission.k8s.io/round_1_index_0")
    );

    // Nothing changes: no second round.
    let mut unchanged = Reinvocation::new();
    let observe_only = mutating(&[(
        "a",
        vec![url_hook(
            &server,
            "observe.example.com",
            "/observe",
            json!({"reinvocationPolicy": "IfNeeded"}),
        )],
    )]);
    d.mutate(
        &observe_only,
        &mut attrs,
        &mut unchanged,
        &mut Effects::default(),
    )
    .await
    .unwrap();
    assert!(!unchanged.should_reinvoke());
}

#[tokio::test]
async fn object_and_namespace_selectors_skip_webhooks() {
    let server = start(&pki()).await;
    let host = Host {
        namespaces: [
            (
                "default".to_string(),
                [("env".to_string(), "dev".to_string())].into(),
            ),
            (
                "prod".to_string(),
                [("env".to_string(), "prod".to_string())].into(),
            ),
        ]
        .into(),
        ..Host::default()
    };
    let d = dispatcher(host);
    let by_object = validating(&[(
        "c",
        vec![url_hook(
            &server,
            "deny.example.com",
            "/deny",
            json!({"objectSelector": {"matchLabels": {"app": "web"}}}),
        )],
    )]);
    d.validate(
        &by_object,
        &pod_attrs(json!({"app": "db"})),
        &mut Effects::default(),
    )
    .await
    .unwrap();
    assert!(server.calls("/deny").is_empty());
    assert!(
        d.validate(
            &by_object,
            &pod_attrs(json!({"app": "web"})),
            &mut Effects::default()
        )
        .await
        .is_err()
    );

    let by_namespace = validating(&[(
        "c",
        vec![url_hook(
            &server,
            "allow.example.com",
            "/allow",
            json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}),
        )],
    )]);
    d.validate(
        &by_namespace,
        &pod_attrs(json!({})),
        &mut Effects::default(),
    )
    .await
    .unwrap();
    assert!(server.calls("/allow").is_empty());
    let mut in_prod = pod_attrs(json!({}));
    in_prod.namespace = "prod".into();
    d.validate(&by_namespace, &in_prod, &mut Effects::default())
        .await
        .unwrap();
    assert_eq!(server.calls("/allow").len(), 1);
    let mut missing = pod_attrs(json!({}));
    missing.namespace = "missing".into();
    let err = d
        .validate(&by_namespace, &missing, &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"missing\" not found")
    );
}

#[tokio::test]
async fn a_service_reference_is_called_through_the_resolved_address() {
    let server = start(&pki()).await;
    let host = Host {
        services: [(
            ("default".to_string(), "webhook".to_string()),
            format!("127.0.0.1:{}", server.port),
        )]
        .into(),
        ..Host::default()
    };
    let cc = json!({"service": {"namespace": "default", "name": "webhook", "path": "/allow"}, "caBundle": ca_bundle(&server.ca_pem)});
    let configs = validating(&[("c", vec![hook("svc.example.com", cc, json!({}))])]);
    dispatcher(host)
        .validate(&configs, &pod_attrs(json!({})), &mut Effects::default())
        .await
        .unwrap();
    assert_eq!(
        server.calls("/allow")[0].path_and_query,
        "/allow?timeout=10s"
    );

    let cc = json!({"service": {"namespace": "default", "name": "gone"}, "caBundle": ca_bundle(&server.ca_pem)});
    let configs = validating(&[("c", vec![hook("svc.example.com", cc, json!({}))])]);
    let err = dispatcher(Host::default())
        .validate(&configs, &pod_attrs(json!({})), &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "Internal error occurred: failed calling webhook \"svc.example.com\": failed to call webhook: Post \"https://gone.default.svc:443/?timeout=10s\": service \"gone\" not found"
    );
}

#[tokio::test]
async fn malformed_answers_are_call_failures() {
    let server = start(&pki()).await;
    let d = dispatcher(Host::default());
    let attrs = pod_attrs(json!({}));
    let configs = validating(&[(
        "c",
        vec![url_hook(&server, "uid.example.com", "/wronguid", json!({}))],
    )]);
    let err = d
        .validate(&configs, &attrs, &mut Effects::default())
        .await
        .unwrap_err();
    assert!(err.message.starts_with(
        "Internal error occurred: failed calling webhook \"uid.example.com\": received invalid webhook response: expected response.uid="
    ));
    assert!(err.message.ends_with(", got \"nope\""));
    let configs = validating(&[(
        "c",
        vec![url_hook(&server, "patch.example.com", "/patch", json!({}))],
    )]);
    let err = d
        .validate(&configs, &attrs, &mut Effects::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "Internal error occurred: failed calling webhook \"patch.example.com\": received invalid webhook response: validating webhook may not return response.patch"
    );
}

#[tokio::test]
async fn a_patch_for_a_delete_is_an_internal_error() {
    let server = start(&pki()).await;
    let configs = mutating(&[(
        "m",
        vec![url_hook(
            &server,
            "label.example.com",
            "/label",
            json!({"failurePolicy": "Ignore"}),
        )],
    )]);
    let mut attrs = pod_attrs(json!({}));
    attrs.operation = Operation::Delete;
    attrs.old_object = attrs.object.take();
    let err = dispatcher(Host::default())
        .mutate(
            &configs,
            &mut attrs,
            &mut Reinvocation::new(),
            &mut Effects::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "Internal error occurred: admission webhook \"label.example.com\" attempted to modify the object, which is not supported for this operation"
    );
}

#[tokio::test]
async fn webhook_configurations_themselves_never_reach_webhooks() {
    let server = start(&pki()).await;
    let mut everything = url_hook(&server, "deny.example.com", "/deny", json!({}));
    everything["rules"] = json!([{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"]}]);
    let configs = validating(&[("c", vec![everything])]);
    let mut attrs = pod_attrs(json!({}));
    attrs.resource = GroupVersionResource::new(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
    );
    attrs.kind = GroupVersionKind::new(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
    );
    attrs.namespace.clear();
    dispatcher(Host::default())
        .validate(&configs, &attrs, &mut Effects::default())
        .await
        .unwrap();
    assert!(server.calls("/deny").is_empty());
}

#[tokio::test]
async fn dispatch_futures_can_run_on_a_multithreaded_server() {
    fn assert_send<T: Send>(_: &T) {}
    let d = dispatcher(Host::default());
    let mut attrs = pod_attrs(json!({}));
    let (m, v) = (mutating(&[]), validating(&[]));
    let (mut re, mut effects) = (Reinvocation::new(), Effects::default());
    let validate = d.validate(&v, &attrs, &mut effects);
    assert_send(&validate);
    validate.await.unwrap();
    let mutate = d.mutate(&m, &mut attrs, &mut re, &mut effects);
    assert_send(&mutate);
    mutate.await.unwrap();
}
