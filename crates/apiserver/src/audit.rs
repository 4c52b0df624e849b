//! The audit log: one JSON line per request stage, in upstream's `audit.k8s.io/v1` Event
//! format, at the level an audit Policy (`--audit-policy-file`) assigns; kept in
//! `--audit-log-path` and rotated by size with age and count limits, as kube-apiserver's
//! `--audit-log-maxsize`, `--audit-log-maxage` and `--audit-log-maxbackup` do.
//!
//! Lines are handed to one writer thread, so a request never waits on the disk; the writer
//! flushes whenever it has drained what is queued.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use bosun_auth::{Attributes, UserInfo};
use serde_json::{Map, Value, json};

/// How much of a request an event records, in upstream's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// No event.
    None,
    /// Who did what to which object, and the answer's status.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Metadata, the request body and the response body.
    RequestResponse,
}

impl Level {
    fn parse(s: &str) -> Result<Level, String> {
        match s {
            "None" => Ok(Level::None),
            "Metadata" => Ok(Level::Metadata),
            "Request" => Ok(Level::Request),
            "RequestResponse" => Ok(Level::RequestResponse),
            other => Err(format!("unknown audit level {other:?}")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// The stages upstream records.
pub const STAGES: [&str; 4] = [
    "RequestReceived",
    "ResponseStarted",
    "ResponseComplete",
    "Panic",
];

#[derive(Debug, Default, Clone)]
struct GroupResources {
    group: String,
    resources: Vec<String>,
    resource_names: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    level: Level,
    users: Vec<String>,
    user_groups: Vec<String>,
    verbs: Vec<String>,
    resources: Vec<GroupResources>,
    namespaces: Vec<String>,
    non_resource_urls: Vec<String>,
    omit_stages: Option<Vec<String>>,
    omit_managed_fields: Option<bool>,
}

/// An audit Policy (`audit.k8s.io/v1`): the first rule that matches a request sets its level;
/// no match means no event.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    omit_stages: Vec<String>,
    omit_managed_fields: bool,
}

/// What a policy decides for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// How much to record.
    pub level: Level,
    /// Stages not to record.
    pub omit_stages: Vec<String>,
    /// Whether request and response objects lose their managedFields.
    pub omit_managed_fields: bool,
}

fn strings(v: &Value) -> Vec<String> {
    bosun_api::meta::string_list(v)
}

impl Policy {
    /// Every request at Metadata: what a log without a policy file records.
    pub fn metadata_for_all() -> Policy {
        Policy {
            rules: vec![Rule {
                level: Level::Metadata,
                users: Vec::new(),
                user_groups: Vec::new(),
                verbs: Vec::new(),
                resources: Vec::new(),
                namespaces: Vec::new(),
                non_resource_urls: Vec::new(),
                omit_stages: None,
                omit_managed_fields: None,
            }],
            omit_stages: Vec::new(),
            omit_managed_fields: false,
        }
    }

    /// Parses a policy file (YAML or JSON).
    pub fn parse(text: &str) -> Result<Policy, String> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("audit policy: {e}"))?;
        if doc["kind"] != "Policy" {
            return Err("audit policy: kind must be Policy".into());
        }
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        if api_version != "audit.k8s.io/v1" {
            return Err(format!(
                "audit policy: unsupported apiVersion {api_version:?} (want audit.k8s.io/v1)"
            ));
        }
        let omit_stages = strings(&doc["omitStages"]);
        check_stages(&omit_stages)?;
        let mut rules = Vec::new();
        for (i, r) in doc["rules"].as_array().into_iter().flatten().enumerate() {
            let level = Level::parse(r["level"].as_str().unwrap_or_default())
                .map_err(|e| format!("audit policy: rules[{i}]: {e}"))?;
            let rule = Rule {
                level,
                users: strings(&r["users"]),
                user_groups: strings(&r["userGroups"]),
                verbs: strings(&r["verbs"]),
                resources: r["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| GroupResources {
                        group: g["group"].as_str().unwrap_or_default().to_string(),
                        resources: strings(&g["resources"]),
                        resource_names: strings(&g["resourceNames"]),
                    })
                    .collect(),
                namespaces: strings(&r["namespaces"]),
                non_resource_urls: strings(&r["nonResourceURLs"]),
                omit_stages: r.get("omitStages").map(strings),
                omit_managed_fields: r["omitManagedFields"].as_bool(),
            };
            if !rule.non_resource_urls.is_empty()
                && (!rule.resources.is_empty() || !rule.namespaces.is_empty())
            {
                return Err(format!(
                    "audit policy: rules[{i}]: rules cannot apply to both regular resources and non-resource URLs"
                ));
            }
            if let Some(stages) = &rule.omit_stages {
                check_stages(stages).map_err(|e| format!("{e} (rules[{i}])"))?;
            }
            rules.push(rule);
        }
        Ok(Policy {
            rules,
            omit_stages,
            omit_managed_fields: doc["omitManagedFields"].as_bool().unwrap_or(false),
        })
    }

    /// The level and options for a request.
    pub fn decide(&self, attributes: &Attributes) -> Decision {
        let Some(rule) = self.rules.iter().find(|r| rule_matches(r, attributes)) else {
            return Decision {
                level: Level::None,
                omit_stages: Vec::new(),
                omit_managed_fields: false,
            };
        };
        let mut omit_stages = self.omit_stages.clone();
        for stage in rule.omit_stages.iter().flatten() {
            if !omit_stages.contains(stage) {
                omit_stages.push(stage.clone());
            }
        }
        Decision {
            level: rule.level,
            omit_stages,
            omit_managed_fields: rule.omit_managed_fields.unwrap_or(self.omit_managed_fields),
        }
    }
}

fn check_stages(stages: &[String]) -> Result<(), String> {
    match stages.iter().find(|s| !STAGES.contains(&s.as_str())) {
        Some(bad) => Err(format!("audit policy: unknown stage {bad:?}")),
        None => Ok(()),
    }
}

/// Upstream's `ruleMatches`: every field the rule sets must match.
fn rule_matches(rule: &Rule, a: &Attributes) -> bool {
    if !rule.users.is_empty() && !rule.users.contains(&a.user.name) {
        return false;
    }
    if !rule.user_groups.is_empty() && !a.user.groups.iter().any(|g| rule.user_groups.contains(g)) {
        return false;
    }
    if !rule.verbs.is_empty() && !rule.verbs.contains(&a.verb) {
        return false;
    }
    if !rule.namespaces.is_empty() || !rule.resources.is_empty() {
        return a.resource_request && resource_matches(rule, a);
    }
    if !rule.non_resource_urls.is_empty() {
        return !a.resource_request
            && rule
                .non_resource_urls
                .iter()
                .any(|url| match url.strip_suffix('*') {
                    Some(prefix) => a.path.starts_with(prefix),
                    None => a.path == *url,
                });
    }
    true
}

fn resource_matches(rule: &Rule, a: &Attributes) -> bool {
    if !rule.namespaces.is_empty() && !rule.namespaces.contains(&a.namespace) {
        return false;
    }
    if rule.resources.is_empty() {
        return true;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    rule.resources.iter().any(|gr| {
        if gr.group != a.api_group {
            return false;
        }
        if gr.resources.is_empty() {
            return true;
        }
        gr.resources.iter().any(|res| {
            if !gr.resource_names.is_empty() && !gr.resource_names.contains(&a.name) {
                return false;
            }
            res == &combined
                || res == "*"
                || (!a.subresource.is_empty()
                    && res.strip_prefix("*/") == Some(a.subresource.as_str()))
                || res.strip_suffix("/*") == Some(a.resource.as_str())
        })
    })
}

/// Retention of the log files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Rotate once the file reaches this many bytes (0: never).
    pub max_bytes: u64,
    /// Keep rotated files at most this long (None: forever).
    pub max_age: Option<Duration>,
    /// Keep at most this many rotated files (0: all).
    pub max_backups: usize,
}

/// Where audit events go.
pub struct AuditLog {
    policy: Policy,
    lines: mpsc::Sender<String>,
}

impl AuditLog {
    /// Opens (appending to) the log at `path` and starts its writer.
    pub fn open(path: &Path, policy: Policy, retention: Retention) -> Result<AuditLog, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let file = open_append(path)?;
        let (lines, receiver) = mpsc::channel::<String>();
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_lines(path, file, receiver, retention))
            .map_err(|e| e.to_string())?;
        Ok(AuditLog { policy, lines })
    }

    /// What the policy decides for a request.
    pub fn decide(&self, attributes: &Attributes) -> Decision {
        self.policy.decide(attributes)
    }

    /// Queues one event.
    pub fn record(&self, event: &Value) {
        if let Ok(line) = serde_json::to_string(event) {
            let _ = self.lines.send(line);
        }
    }
}

fn open_append(path: &Path) -> Result<BufWriter<File>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(BufWriter::new)
        .map_err(|e| format!("opening {}: {e}", path.display()))
}

fn write_lines(
    path: PathBuf,
    mut file: BufWriter<File>,
    lines: mpsc::Receiver<String>,
    retention: Retention,
) {
    let mut size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(line) = next {
            if retention.max_bytes > 0
                && size > 0
                && size + line.len() as u64 + 1 > retention.max_bytes
            {
                let _ = file.flush();
                match rotate(&path, &retention) {
                    Ok(fresh) => {
                        file = fresh;
                        size = 0;
                    }
                    Err(e) => tracing::warn!(error = %e, "audit log rotation failed"),
                }
            }
            if file
                .write_all(line.as_bytes())
                .and_then(|_| file.write_all(b"\n"))
                .is_err()
            {
                tracing::warn!(path = %path.display(), "audit event lost: write failed");
            }
            size += line.len() as u64 + 1;
            next = lines.try_recv().ok();
        }
        let _ = file.flush();
    }
}

/// Renames the full log to `<stem>-<UTC time>.<ext>` (lumberjack's naming, which
/// kube-apiserver uses), starts a new one and drops backups past the age and count limits.
fn rotate(path: &Path, retention: &Retention) -> Result<BufWriter<File>, String> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}.{:03}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    let (stem, ext) = split_name(path);
    let backup = path.with_file_name(format!("{stem}-{stamp}{ext}"));
    std::fs::rename(path, &backup).map_err(|e| format!("rotating {}: {e}", path.display()))?;
    let fresh = open_append(path)?;
    prune(path, retention);
    Ok(fresh)
}

fn split_name(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    match name.rfind('.') {
        Some(dot) if dot > 0 => (name[..dot].to_string(), name[dot..].to_string()),
        _ => (name, String::new()),
    }
}

fn prune(path: &Path, retention: &Retention) {
    let (stem, ext) = split_name(path);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut backups: Vec<(String, PathBuf, SystemTime)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let middle = name
                .strip_prefix(&format!("{stem}-"))?
                .strip_suffix(&ext)?
                .to_string();
            let modified = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((middle, e.path(), modified))
        })
        .collect();
    // Newest first: the timestamps in the names sort as the rotations happened.
    backups.sort_by(|a, b| b.0.cmp(&a.0));
    for (i, (_, file, modified)) in backups.iter().enumerate() {
        let too_many = retention.max_backups > 0 && i >= retention.max_backups;
        let too_old = retention
            .max_age
            .is_some_and(|age| modified.elapsed().is_ok_and(|e| e > age));
        if too_many || too_old {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// The `user` field of an event.
pub fn user_json(user: &UserInfo) -> Value {
    let mut u = Map::new();
    u.insert("username".into(), json!(user.name));
    if !user.uid.is_empty() {
        u.insert("uid".into(), json!(user.uid));
    }
    u.insert("groups".into(), json!(user.groups));
    if !user.extra.is_empty() {
        u.insert("extra".into(), json!(user.extra));
    }
    Value::Object(u)
}

/// The `objectRef` of a resource request.
pub fn object_ref(a: &Attributes) -> Option<Value> {
    if !a.resource_request {
        return None;
    }
    let mut r = Map::new();
    r.insert("resource".into(), json!(a.resource));
    for (key, value) in [
        ("namespace", &a.namespace),
        ("name", &a.name),
        ("apiGroup", &a.api_group),
        ("apiVersion", &a.api_version),
        ("subresource", &a.subresource),
    ] {
        if !value.is_empty() {
            r.insert(key.into(), json!(value));
        }
    }
    Some(Value::Object(r))
}

/// Marks a response authorization refused, with the authorizer's reason (for the event's
/// `authorization.k8s.io/*` annotations).
#[derive(Clone, Debug)]
pub struct Forbidden(pub String);

/// The address a request came from, set by the listener.
#[derive(Clone, Copy, Debug)]
pub struct RemoteAddr(pub std::net::SocketAddr);

/// One request's events, from when it is received to its answer.
pub struct RequestEvent {
    decision: Decision,
    event: Map<String, Value>,
    watch: bool,
    id: String,
}

/// The body of a message, read whole (`None` if it could not be).
async fn read_whole(body: axum::body::Body) -> Option<bytes::Bytes> {
    use http_body_util::BodyExt;
    body.collect().await.ok().map(|c| c.to_bytes())
}

impl RequestEvent {
    /// Starts the event of a request the policy records (`decision.level` above None).
    pub fn begin(
        decision: Decision,
        attributes: &Attributes,
        authenticated: &UserInfo,
        watch: bool,
        req: &http::Request<axum::body::Body>,
    ) -> RequestEvent {
        let id = uuid::Uuid::new_v4().to_string();
        let mut e = Map::new();
        e.insert("kind".into(), json!("Event"));
        e.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
        e.insert("level".into(), json!(decision.level.as_str()));
        e.insert("auditID".into(), json!(id));
        let uri = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        e.insert("requestURI".into(), json!(uri));
        e.insert("verb".into(), json!(attributes.verb));
        e.insert("user".into(), user_json(authenticated));
        if attributes.user != *authenticated {
            e.insert("impersonatedUser".into(), user_json(&attributes.user));
        }
        if let Some(RemoteAddr(addr)) = req.extensions().get::<RemoteAddr>() {
            e.insert("sourceIPs".into(), json!([addr.ip().to_string()]));
        }
        if let Some(agent) = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            e.insert("userAgent".into(), json!(agent));
        }
        if let Some(object) = object_ref(attributes) {
            e.insert("objectRef".into(), object);
        }
        e.insert(
            "requestReceivedTimestamp".into(),
            json!(bosun_api::meta::now_rfc3339_micros()),
        );
        RequestEvent {
            decision,
            event: e,
            watch,
            id,
        }
    }

    fn emit(&self, log: &AuditLog, stage: &str, extra: Map<String, Value>) {
        if self.decision.omit_stages.iter().any(|s| s == stage) {
            return;
        }
        let mut event = self.event.clone();
        event.insert("stage".into(), json!(stage));
        event.insert(
            "stageTimestamp".into(),
            json!(bosun_api::meta::now_rfc3339_micros()),
        );
        event.extend(extra);
        log.record(&Value::Object(event));
    }

    fn object(&self, bytes: &[u8]) -> Option<Value> {
        let obj: Value = serde_json::from_slice(bytes).ok()?;
        Some(if self.decision.omit_managed_fields {
            without_managed_fields(obj)
        } else {
            obj
        })
    }

    /// Records the request, has `serve` answer it, and records the answer.
    pub async fn audit<F, Fut>(
        mut self,
        log: &AuditLog,
        req: http::Request<axum::body::Body>,
        serve: F,
    ) -> http::Response<axum::body::Body>
    where
        F: FnOnce(http::Request<axum::body::Body>) -> Fut,
        Fut: std::future::Future<Output = http::Response<axum::body::Body>>,
    {
        use axum::body::Body;
        self.emit(log, "RequestReceived", Map::new());
        let carries_body = matches!(
            *req.method(),
            http::Method::POST | http::Method::PUT | http::Method::PATCH | http::Method::DELETE
        );
        let req = if self.decision.level >= Level::Request && carries_body {
            let (parts, body) = req.into_parts();
            let limit = crate::negotiate::MAX_BODY_BYTES;
            let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
                // What the handler would have answered had it read the body itself.
                let too_large = bosun_api::ApiError::too_large(format!(
                    "Request entity too large: limit is {limit}"
                ));
                return crate::negotiate::error(&too_large);
            };
            let content_type = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            // Recorded as JSON whatever it arrived as (protobuf, YAML), as upstream does.
            if !bytes.is_empty()
                && let Ok(obj) = crate::negotiate::decode_body(content_type, &bytes)
            {
                let obj = if self.decision.omit_managed_fields {
                    without_managed_fields(obj)
                } else {
                    obj
                };
                self.event.insert("requestObject".into(), obj);
            }
            http::Request::from_parts(parts, Body::from(bytes))
        } else {
            req
        };
        let mut resp = serve(req).await;
        if let Ok(id) = http::HeaderValue::from_str(&self.id) {
            resp.headers_mut().insert("audit-id", id);
        }
        let code = resp.status().as_u16();
        let mut annotations = Map::new();
        match resp.extensions().get::<Forbidden>() {
            Some(Forbidden(reason)) => {
                annotations.insert("authorization.k8s.io/decision".into(), json!("forbid"));
                annotations.insert("authorization.k8s.io/reason".into(), json!(reason));
            }
            None if code != 401 => {
                annotations.insert("authorization.k8s.io/decision".into(), json!("allow"));
                annotations.insert("authorization.k8s.io/reason".into(), json!(""));
            }
            None => {}
        }
        for (key, value) in crate::notes::audit_annotations() {
            annotations.insert(key, json!(value));
        }
        self.event
            .insert("annotations".into(), Value::Object(annotations));
        let mut status = json!({"metadata": {}, "code": code});
        if self.watch && code < 300 {
            // The stream goes on; its start is what is recorded.
            self.event.insert("responseStatus".into(), status);
            self.emit(log, "ResponseStarted", Map::new());
            return resp;
        }
        let keep_body = code >= 400 || self.decision.level == Level::RequestResponse;
        if keep_body {
            let (parts, body) = resp.into_parts();
            let bytes = read_whole(body).await.unwrap_or_default();
            if let Some(obj) = self.object(&bytes) {
                if code >= 400 {
                    for key in ["status", "message", "reason"] {
                        if let Some(v) = obj.get(key) {
                            status[key] = v.clone();
                        }
                    }
                }
                if self.decision.level == Level::RequestResponse {
                    self.event.insert("responseObject".into(), obj);
                }
            }
            resp = http::Response::from_parts(parts, Body::from(bytes));
        }
        self.event.insert("responseStatus".into(), status);
        self.emit(log, "ResponseComplete", Map::new());
        resp
    }
}

/// Removes `metadata.managedFields` from an object recorded with `omitManagedFields`.
pub fn without_managed_fields(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(
        user: &str,
        verb: &str,
        group: &str,
        resource: &str,
        ns: &str,
        name: &str,
    ) -> Attributes {
        Attributes::resource(
            UserInfo::new(user, &["system:authenticated"]),
            verb,
            group,
            resource,
            ns,
            name,
        )
    }

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-proxy"]
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets", "configmaps"]
    resourceNames: ["quiet"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps", "pods/log"]
  omitStages: ["ResponseStarted"]
- level: Request
  verbs: ["create", "update"]
  namespaces: ["prod"]
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: Metadata
"#;

    #[test]
    fn the_first_matching_rule_sets_the_level() {
        let p = Policy::parse(POLICY).unwrap();
        let level = |a: &Attributes| p.decide(a).level;
        assert_eq!(
            level(&attrs(
                "system:kube-proxy",
                "get",
                "",
                "configmaps",
                "a",
                "x"
            )),
            Level::None
        );
        assert_eq!(
            level(&attrs("alice", "get", "", "configmaps", "a", "quiet")),
            Level::Metadata
        );
        assert_eq!(
            level(&attrs("alice", "get", "", "configmaps", "a", "loud")),
            Level::RequestResponse
        );
        assert_eq!(
            level(&attrs("alice", "create", "apps", "deployments", "prod", "")),
            Level::Request
        );
        assert_eq!(
            level(&attrs("alice", "create", "apps", "deployments", "dev", "")),
            Level::Metadata
        );
        let mut log = attrs("alice", "get", "", "pods", "a", "p");
        log.subresource = "log".into();
        assert_eq!(level(&log), Level::RequestResponse);
        let health = Attributes::non_resource(UserInfo::new("alice", &[]), "get", "/healthz/etcd");
        assert_eq!(level(&health), Level::None);
    }

    #[test]
    fn rule_stages_add_to_the_policys() {
        let p = Policy::parse(POLICY).unwrap();
        let d = p.decide(&attrs("alice", "get", "", "configmaps", "a", "loud"));
        assert_eq!(d.omit_stages, ["RequestReceived", "ResponseStarted"]);
    }

    #[test]
    fn bad_policies_are_refused_with_the_reason() {
        assert!(
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n")
                .unwrap_err()
                .contains("unknown audit level")
        );
        assert!(
            Policy::parse("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\n")
                .unwrap_err()
                .contains("unsupported apiVersion")
        );
        assert!(
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Later]\n")
                .unwrap_err()
                .contains("unknown stage")
        );
    }

    #[test]
    fn a_full_log_is_rotated_and_old_backups_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let retention = Retention {
            max_bytes: 200,
            max_age: None,
            max_backups: 2,
        };
        let log = AuditLog::open(&path, Policy::metadata_for_all(), retention).unwrap();
        for i in 0..40 {
            log.record(&json!({"n": i, "pad": "x".repeat(40)}));
            if i % 5 == 0 {
                // Rotations are named to the millisecond.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        drop(log);
        std::thread::sleep(Duration::from_millis(200));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert!(names.contains(&"audit.log".to_string()), "{names:?}");
        assert!(names.len() <= 3, "{names:?}");
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 200, "{current}");
        assert!(current.contains(r#""n":39"#), "{current}");
    }
}
