//! HTTPS calls to webhooks, as upstream's webhook client (k8s.io/apiserver/pkg/util/webhook and
//! client-go's REST client): a JSON POST over HTTP/1.1 and TLS, verified against the
//! configuration's `caBundle` (the system roots when it is empty), with `?timeout=Ns` in the
//! URL, and errors worded as Go's HTTP client words them.
//!
//! Connections are pooled: one hyper-util client per distinct client configuration (URL or
//! service reference plus CA bundle), as upstream caches one REST client per configuration,
//! with idle connections kept for 90 seconds as Go's transport does.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use k8s_openapi::api::admissionregistration::v1::WebhookClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::dispatch::WebhookHost;
use crate::url;

/// Where upstream's Go runtime finds the system trust roots on Debian-like systems.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Upstream caches up to 200 webhook clients.
const MAX_CLIENTS: usize = 200;

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The client could not be built (follows `could not get REST client: `).
    Setup(String),
    /// The request failed (follows `failed to call webhook: `).
    Call(String),
}

/// Where a webhook's connections go.
#[derive(Clone)]
enum Target {
    /// To the URL's own host and port.
    Url,
    /// To whatever the API server resolves the service to.
    Service {
        host: Arc<dyn WebhookHost>,
        namespace: String,
        name: String,
        port: i32,
    },
}

/// Opens TCP+TLS connections for one webhook client.
#[derive(Clone)]
struct Connector {
    tls: TlsConnector,
    server_name: ServerName<'static>,
    target: Target,
}

/// A connection failure, already worded as Go's dialer and TLS stack word it.
#[derive(Debug)]
struct ConnectError(String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for ConnectError {}

/// A TLS connection as hyper wants it.
struct TlsIo(TokioIo<tokio_rustls::client::TlsStream<TcpStream>>);

impl hyper::rt::Read for TlsIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TlsIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl Connection for TlsIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// An OS error as Go prints it: `connection refused`, not `Connection refused (os error 111)`.
fn go_errno(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return "EOF".into();
    }
    if e.kind() == io::ErrorKind::TimedOut {
        return "i/o timeout".into();
    }
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Lower-cases a rustls alert name into Go's wording (`HandshakeFailure` → `handshake failure`).
fn alert_words(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn hostname_error(expected: &ServerName<'_>, presented: &[String]) -> String {
    let strip = |p: &str, prefix: &str, suffix: &str| {
        p.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .map(str::to_string)
    };
    let host = expected.to_str();
    let valid = match expected {
        ServerName::IpAddress(_) => {
            let ips: Vec<String> = presented
                .iter()
                .filter_map(|p| strip(p, "IpAddress(", ")"))
                .collect();
            if ips.is_empty() {
                return format!(
                    "x509: cannot validate certificate for {host} because it doesn't contain any IP SANs"
                );
            }
            ips.join(", ")
        }
        _ => presented
            .iter()
            .filter_map(|p| strip(p, "DnsName(\"", "\")"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    if valid.is_empty() {
        return format!("x509: certificate is not valid for any names, but wanted to match {host}");
    }
    format!("x509: certificate is valid for {valid}, not {host}")
}

/// A TLS handshake failure as Go's `crypto/tls` words it.
fn tls_error(e: &io::Error) -> String {
    let Some(err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return go_errno(e);
    };
    const VERIFY: &str = "tls: failed to verify certificate: ";
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                format!("{VERIFY}x509: certificate signed by unknown authority")
            }
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => {
                format!("{VERIFY}{}", hostname_error(expected, presented))
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                format!("{VERIFY}x509: certificate has expired or is not yet valid")
            }
            other => format!("{VERIFY}x509: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("remote error: tls: {}", alert_words(&format!("{alert:?}")))
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "tls: first record does not look like a TLS handshake".into()
        }
        other => format!("tls: {other}"),
    }
}

async fn dial(addr: &str) -> Result<TcpStream, ConnectError> {
    let (host, _) = addr.rsplit_once(':').unwrap_or((addr, ""));
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host(addr).await {
        Ok(a) => a.collect(),
        Err(_) => {
            return Err(ConnectError(format!(
                "dial tcp: lookup {}: no such host",
                host.trim_start_matches('[').trim_end_matches(']')
            )));
        }
    };
    let mut last = ConnectError(format!("dial tcp: lookup {host}: no such host"));
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = ConnectError(format!("dial tcp {a}: connect: {}", go_errno(&e))),
        }
    }
    Err(last)
}

impl tower::Service<Uri> for Connector {
    type Response = TlsIo;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let addr = match &this.target {
                Target::Url => {
                    let host = uri.host().unwrap_or_default();
                    format!("{host}:{}", uri.port_u16().unwrap_or(443))
                }
                Target::Service {
                    host,
                    namespace,
                    name,
                    port,
                } => host
                    .resolve_service(namespace, name, *port)
                    .await
                    .map_err(ConnectError)?,
            };
            let tcp = dial(&addr).await?;
            let tls = this
                .tls
                .connect(this.server_name.clone(), tcp)
                .await
                .map_err(|e| ConnectError(tls_error(&e)))?;
            Ok(TlsIo(TokioIo::new(tls)))
        })
    }
}

/// A pooled client for one webhook client configuration.
struct HookClient {
    http: Client<Connector, Full<Bytes>>,
    /// `https://host[:port]/path`, without the query.
    base: String,
}

/// The webhook clients of one API server, keyed by client configuration.
pub(crate) struct ClientPool {
    host: Arc<dyn WebhookHost>,
    user_agent: String,
    clients: Mutex<HashMap<String, Arc<HookClient>>>,
    system_roots: OnceLock<Arc<RootCertStore>>,
}

fn load_roots(pem: &[u8]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem).flatten() {
        let _ = roots.add(cert);
    }
    roots
}

impl ClientPool {
    pub fn new(host: Arc<dyn WebhookHost>, user_agent: String) -> Self {
        ClientPool {
            host,
            user_agent,
            clients: Mutex::new(HashMap::new()),
            system_roots: OnceLock::new(),
        }
    }

    fn roots(&self, ca_bundle: &[u8]) -> Result<Arc<RootCertStore>, String> {
        if ca_bundle.is_empty() {
            let system = self.system_roots.get_or_init(|| {
                Arc::new(
                    std::fs::read(SYSTEM_ROOTS)
                        .map(|b| load_roots(&b))
                        .unwrap_or_else(|_| RootCertStore::empty()),
                )
            });
            return Ok(system.clone());
        }
        let roots = load_roots(ca_bundle);
        if roots.is_empty() {
            return Err(
                "unable to load root certificates: unable to parse bytes as PEM block".into(),
            );
        }
        Ok(Arc::new(roots))
    }

    fn build(&self, cc: &WebhookClientConfig) -> Result<HookClient, String> {
        let (base, server_name, target) = if let Some(svc) = &cc.service {
            // As upstream, an unset (or zero) port means 443.
            let port = svc.port.filter(|p| *p != 0).unwrap_or(443);
            let server_name = format!("{}.{}.svc", svc.name, svc.namespace);
            let base = format!(
                "https://{server_name}:{port}{}",
                url::clean_path(svc.path.as_deref().unwrap_or_default())
            );
            let target = Target::Service {
                host: self.host.clone(),
                namespace: svc.namespace.clone(),
                name: svc.name.clone(),
                port,
            };
            (base, server_name, target)
        } else {
            let Some(raw) = cc.url.as_deref() else {
                return Err("webhook configuration must have either service or URL".into());
            };
            let u = url::parse(raw).map_err(|e| format!("Unparsable URL: {e}"))?;
            let base = format!("{}://{}{}", u.scheme, u.host, url::clean_path(&u.path));
            (base, u.hostname().to_string(), Target::Url)
        };
        let server_name = ServerName::try_from(server_name.clone())
            .map_err(|_| format!("invalid server name {server_name:?}"))?;
        let roots = self.roots(
            cc.ca_bundle
                .as_ref()
                .map(|b| b.0.as_slice())
                .unwrap_or_default(),
        )?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // HTTP/1.1 only, as upstream: HTTP/2 would pin all calls to one backend.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = Connector {
            tls: TlsConnector::from(Arc::new(tls)),
            server_name,
            target,
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(HookClient { http, base })
    }

    fn client(&self, cc: &WebhookClientConfig) -> Result<Arc<HookClient>, String> {
        let key = serde_json::to_string(cc).unwrap_or_default();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = Arc::new(self.build(cc)?);
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// POSTs `body` to the webhook and returns the body of its 2xx answer.
    pub async fn post(
        &self,
        cc: &WebhookClientConfig,
        timeout: Duration,
        body: Vec<u8>,
    ) -> Result<Bytes, CallError> {
        let client = self.client(cc).map_err(CallError::Setup)?;
        let url = format!("{}?timeout={}s", client.base, timeout.as_secs());
        let uri: Uri = url
            .parse()
            .map_err(|e| CallError::Call(format!("parse {url:?}: {e}")))?;
        let request = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, */*")
            .header(http::header::USER_AGENT, &self.user_agent)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| CallError::Call(e.to_string()))?;
        let exchange = async {
            let response = client
                .http
                .request(request)
                .await
                .map_err(|e| format!("Post {url:?}: {}", describe(&e)))?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map(|b| b.to_bytes()).map_err(|e| {
                format!(
                    "unexpected error when reading response body. Please retry. Original error: {e}"
                )
            })?;
            Ok::<_, String>((parts, bytes))
        };
        let (parts, bytes) = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                return Err(CallError::Call(format!(
                    "Post {url:?}: context deadline exceeded"
                )));
            }
            Ok(Err(e)) => return Err(CallError::Call(e)),
            Ok(Ok(answer)) => answer,
        };
        let code = parts.status.as_u16();
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !(200..=206).contains(&code) {
            return Err(CallError::Call(error_response(code, content_type, &bytes)));
        }
        if bytes.is_empty() {
            let shown = if content_type.is_empty() {
                "application/json"
            } else {
                content_type
            };
            return Err(CallError::Call(format!(
                "0-length response with status code: {code} and content type: {shown}"
            )));
        }
        Ok(bytes)
    }
}

/// A failed exchange as Go's transport reports it after `Post "<url>": `.
fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(c) = e.downcast_ref::<ConnectError>() {
            return c.0.clone();
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return "EOF".into();
            }
            if let Some(io) = h.source().and_then(|s| s.downcast_ref::<io::Error>()) {
                return format!("read: {}", go_errno(io));
            }
            return h.to_string();
        }
        current = e.source();
    }
    err.to_string()
}

/// A non-2xx answer as client-go reports it: the `Status` message when the body is a failed
/// `Status`, otherwise upstream's generic text for the code.
fn error_response(code: u16, content_type: &str, body: &[u8]) -> String {
    if let Ok(status) = serde_json::from_slice::<Value>(body)
        && status.get("kind").and_then(Value::as_str) == Some("Status")
        && status.get("status").and_then(Value::as_str) == Some("Failure")
    {
        return status
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
    }
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_text = content_type.is_empty() || media.starts_with("text/");
    let server_message = if is_text {
        String::from_utf8_lossy(&body[..body.len().min(2048)])
            .trim()
            .to_string()
    } else {
        "unknown".to_string()
    };
    match code {
        409 => "the server reported a conflict".into(),
        404 => "the server could not find the requested resource".into(),
        400 => "the server rejected our request for an unknown reason".into(),
        401 => "the server has asked for the client to provide credentials".into(),
        403 | 415 => server_message,
        406 if server_message.is_empty() || server_message == "unknown" => {
            "the server was unable to respond with a content type that the client supports".into()
        }
        406 => server_message,
        405 => "the server does not allow this method on the requested resource".into(),
        422 => "the server rejected our request due to an error in our request".into(),
        503 => "the server is currently unable to handle the request".into(),
        504 => "the server was unable to return a response in the time allotted, but may still be processing the request".into(),
        429 => "the server has received too many requests and has asked us to try again later".into(),
        c if c >= 500 => format!("an error on the server ({server_message:?}) has prevented the request from succeeding"),
        c => format!("the server responded with the status code {c} but did not return more information"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_like_go() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(go_errno(&refused), "connection refused");
        assert_eq!(
            go_errno(&io::Error::from(io::ErrorKind::UnexpectedEof)),
            "EOF"
        );
    }

    #[test]
    fn hostname_mismatches_read_like_go() {
        let ip = ServerName::try_from("127.0.0.1").unwrap();
        assert_eq!(
            hostname_error(&ip, &["DnsName(\"a.example.com\")".into()]),
            "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"
        );
        let dns = ServerName::try_from("b.example.com").unwrap();
        assert_eq!(
            hostname_error(
                &dns,
                &[
                    "DnsName(\"a.example.com\")".into(),
                    "IpAddress(10.0.0.1)".into()
                ]
            ),
            "x509: certificate is valid for a.example.com, not b.example.com"
        );
    }

    #[test]
    fn error_answers_read_like_client_go() {
        assert_eq!(
            error_response(500, "text/plain", b" boom \n"),
            "an error on the server (\"boom\") has prevented the request from succeeding"
        );
        assert_eq!(
            error_response(500, "application/json", b"{}"),
            "an error on the server (\"unknown\") has prevented the request from succeeding"
        );
        assert_eq!(
            error_response(
                400,
                "application/json",
                br#"{"kind":"Status","status":"Failure","message":"nope"}"#
            ),
            "nope"
        );
        assert_eq!(
            error_response(302, "", b""),
            "the server responded with the status code 302 but did not return more information"
        );
    }
}
