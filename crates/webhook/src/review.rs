//! The AdmissionReview wire format (admission.k8s.io/v1 and v1beta1), checking a webhook's
//! answer as upstream's `request.VerifyAdmissionResponse` does, turning a refusal into the
//! `Status` upstream answers with (`errors.ToStatusErr`), and upstream's rules for writing
//! warnings into `Warning` headers.
//!
//! k8s-openapi has no admission.k8s.io types, so reviews are built and read as JSON.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use base64::Engine;
use bosun_api::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::attributes::Attributes;

/// The AdmissionReview version a webhook is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewVersion {
    /// `admission.k8s.io/v1`
    V1,
    /// `admission.k8s.io/v1beta1`
    V1beta1,
}

impl ReviewVersion {
    /// The first version of `versions` that upstream knows, as upstream picks it.
    pub fn choose(versions: &[String]) -> Option<Self> {
        versions.iter().find_map(|v| match v.as_str() {
            "v1" => Some(ReviewVersion::V1),
            "v1beta1" => Some(ReviewVersion::V1beta1),
            _ => None,
        })
    }

    fn api_version(self) -> &'static str {
        match self {
            ReviewVersion::V1 => "admission.k8s.io/v1",
            ReviewVersion::V1beta1 => "admission.k8s.io/v1beta1",
        }
    }
}

fn insert_nonempty(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.to_string(), json!(value));
    }
}

/// The AdmissionReview sent to a webhook for `attrs`, with request uid `uid`.
pub fn request_review(version: ReviewVersion, uid: &str, attrs: &Attributes) -> Value {
    let kind =
        json!({"group": attrs.kind.group, "version": attrs.kind.version, "kind": attrs.kind.kind});
    let resource = json!({
        "group": attrs.resource.group,
        "version": attrs.resource.version,
        "resource": attrs.resource.resource,
    });
    let mut user = Map::new();
    insert_nonempty(&mut user, "username", &attrs.user.username);
    insert_nonempty(&mut user, "uid", &attrs.user.uid);
    if !attrs.user.groups.is_empty() {
        user.insert("groups".into(), json!(attrs.user.groups));
    }
    if !attrs.user.extra.is_empty() {
        user.insert("extra".into(), json!(attrs.user.extra));
    }
    let mut request = Map::new();
    request.insert("uid".into(), json!(uid));
    request.insert("kind".into(), kind.clone());
    request.insert("resource".into(), resource.clone());
    insert_nonempty(&mut request, "subResource", &attrs.subresource);
    request.insert("requestKind".into(), kind);
    request.insert("requestResource".into(), resource);
    insert_nonempty(&mut request, "requestSubResource", &attrs.subresource);
    insert_nonempty(&mut request, "name", &attrs.name);
    insert_nonempty(&mut request, "namespace", &attrs.namespace);
    request.insert("operation".into(), json!(attrs.operation.as_str()));
    request.insert("userInfo".into(), Value::Object(user));
    request.insert("object".into(), attrs.object.clone().unwrap_or(Value::Null));
    request.insert(
        "oldObject".into(),
        attrs.old_object.clone().unwrap_or(Value::Null),
    );
    request.insert("dryRun".into(), json!(attrs.dry_run));
    request.insert(
        "options".into(),
        attrs.options.clone().unwrap_or(Value::Null),
    );
    json!({"kind": "AdmissionReview", "apiVersion": version.api_version(), "request": request})
}

/// A webhook's verified answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReviewResponse {
    /// Whether the webhook allowed the request.
    pub allowed: bool,
    /// `response.status`, the refusal's `Status`.
    pub status: Option<Value>,
    /// The decoded `response.patch` bytes; empty when none.
    pub patch: Vec<u8>,
    /// `response.patchType`; `JSONPatch` for a v1beta1 patch.
    pub patch_type: String,
    /// `response.auditAnnotations`.
    pub audit_annotations: BTreeMap<String, String>,
    /// `response.warnings`.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    allowed: Option<bool>,
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    patch: Option<String>,
    #[serde(default)]
    patch_type: Option<String>,
    #[serde(default)]
    audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

/// A decoded AdmissionReview body: its type and its `response`.
pub(crate) struct DecodedReview {
    api_version: String,
    response: Option<WireResponse>,
}

/// Decodes a webhook's 2xx body the way the client decodes it into an AdmissionReview; the
/// error is the text that follows `failed to call webhook: `.
pub(crate) fn decode_review(body: &[u8]) -> Result<DecodedReview, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("couldn't get version/kind; json parse error: {e}"))?;
    let shown = || String::from_utf8_lossy(body).into_owned();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.is_empty() {
        return Err(format!("Object 'Kind' is missing in '{}'", shown()));
    }
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "AdmissionReview"
        || !matches!(
            api_version,
            "admission.k8s.io/v1" | "admission.k8s.io/v1beta1"
        )
    {
        return Err(format!(
            "no kind {kind:?} is registered for version {api_version:?}"
        ));
    }
    let response = match value.get("response") {
        None | Some(Value::Null) => None,
        Some(r) => Some(
            WireResponse::deserialize(r)
                .map_err(|e| format!("json: cannot unmarshal AdmissionReview.response: {e}"))?,
        ),
    };
    let patch_bytes = response.as_ref().and_then(|r| r.patch.as_deref());
    if let Some(p) = patch_bytes
        && base64::engine::general_purpose::STANDARD.decode(p).is_err()
    {
        return Err(format!(
            "json: cannot unmarshal AdmissionReview.response.patch: illegal base64 data in {p:?}"
        ));
    }
    Ok(DecodedReview {
        api_version: api_version.to_string(),
        response,
    })
}

fn gvk_string(api_version: &str) -> String {
    format!("{api_version}, Kind=AdmissionReview")
}

/// Upstream's `VerifyAdmissionResponse`: the answer must carry a response, v1 answers must echo
/// the request uid and be v1, mutating webhooks must send patch and patchType together, and
/// validating webhooks may send neither. The error is the text that follows `received invalid
/// webhook response: `.
pub(crate) fn verify_response(
    sent: ReviewVersion,
    uid: &str,
    mutating: bool,
    review: DecodedReview,
) -> Result<ReviewResponse, String> {
    let Some(r) = review.response else {
        return Err("webhook response was absent".into());
    };
    let patch = r
        .patch
        .as_deref()
        .map(|p| {
            base64::engine::general_purpose::STANDARD
                .decode(p)
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let mut out = ReviewResponse {
        allowed: r.allowed.unwrap_or(false),
        status: r.status.filter(|s| !s.is_null()),
        patch: Vec::new(),
        patch_type: String::new(),
        audit_annotations: r.audit_annotations.unwrap_or_default(),
        warnings: r.warnings.unwrap_or_default(),
    };
    match sent {
        ReviewVersion::V1 => {
            let got_uid = r.uid.unwrap_or_default();
            if got_uid != uid {
                return Err(format!("expected response.uid={uid:?}, got {got_uid:?}"));
            }
            if review.api_version != "admission.k8s.io/v1" {
                return Err(format!(
                    "expected webhook response of {}, got {}",
                    gvk_string("admission.k8s.io/v1"),
                    gvk_string(&review.api_version)
                ));
            }
            if mutating {
                if !patch.is_empty() && r.patch_type.is_none() {
                    return Err("webhook returned response.patch but not response.patchType".into());
                }
                if patch.is_empty() && r.patch_type.is_some() {
                    return Err("webhook returned response.patchType but not response.patch".into());
                }
                if let Some(t) = &r.patch_type
                    && t.is_empty()
                {
                    return Err(format!(
                        "webhook returned invalid response.patchType of {t:?}"
                    ));
                }
                out.patch = patch;
                out.patch_type = r.patch_type.unwrap_or_default();
            } else {
                if !patch.is_empty() {
                    return Err("validating webhook may not return response.patch".into());
                }
                if r.patch_type.is_some() {
                    return Err("validating webhook may not return response.patchType".into());
                }
            }
        }
        ReviewVersion::V1beta1 => {
            // As upstream: v1beta1 answers were never checked for uid, type or patchType.
            if mutating && !patch.is_empty() {
                out.patch = patch;
                out.patch_type = "JSONPatch".into();
            }
        }
    }
    Ok(out)
}

const KNOWN_REASONS: &[&str] = &[
    "",
    "Unknown",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Gone",
    "Invalid",
    "ServerTimeout",
    "StoreReadError",
    "Timeout",
    "TooManyRequests",
    "BadRequest",
    "MethodNotAllowed",
    "NotAcceptable",
    "RequestEntityTooLarge",
    "UnsupportedMediaType",
    "InternalError",
    "Expired",
    "ServiceUnavailable",
];

/// A webhook's `status.reason` as the `&'static str` [`ApiError`] holds. Reasons outside
/// upstream's list are interned once each, up to 256 of them; beyond that they read `Unknown`.
fn static_reason(reason: &str) -> &'static str {
    if let Some(known) = KNOWN_REASONS.iter().find(|r| **r == reason) {
        return known;
    }
    static INTERNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut interned = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = interned.iter().find(|r| **r == reason) {
        return found;
    }
    if interned.len() >= 256 {
        return "Unknown";
    }
    let leaked: &'static str = Box::leak(reason.to_string().into_boxed_str());
    interned.push(leaked);
    leaked
}

/// Upstream's `ToStatusErr`: the error a refusal by webhook `name` answers with. The
/// webhook's code is kept but raised to 400 when below it; its message (or else its reason) is
/// prefixed with `admission webhook "<name>" denied the request`.
pub fn denied(name: &str, status: Option<&Value>) -> ApiError {
    let field = |k: &str| {
        status
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let code = status
        .and_then(|s| s.get("code"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let code = if code < 400 {
        400
    } else if code > 999 {
        500
    } else {
        code as u16
    };
    let denied_by = format!("admission webhook {name:?} denied the request");
    let (message, reason) = (field("message"), field("reason"));
    let message = if !message.is_empty() {
        format!("{denied_by}: {message}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    };
    ApiError {
        code,
        reason: static_reason(reason),
        message,
        details: status
            .and_then(|s| s.get("details"))
            .filter(|d| !d.is_null())
            .cloned(),
    }
}

/// Upstream's refusal of a dry run by a webhook that has side effects (400).
pub fn dry_run_unsupported(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "admission webhook {name:?} does not support dry run"
    ))
}

/// An `InternalError` as upstream's `NewInternalError`: the message prefixed with `Internal
/// error occurred: `, and the bare message as the one cause.
pub fn internal_error(message: impl Into<String>) -> ApiError {
    let message = message.into();
    let mut err = ApiError::internal(message.clone());
    err.details = Some(json!({"causes": [{"message": message}]}));
    err
}

const WARNINGS_TOTAL_RUNES: usize = 4 * 1024;
const WARNING_ITEM_RUNES: usize = 256;

fn warning_header(text: &str) -> Option<String> {
    if text.chars().any(char::is_control) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("299 - \"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

fn truncated(text: &str) -> (String, usize) {
    let runes = text.chars().count();
    if runes > WARNING_ITEM_RUNES {
        (
            text.chars().take(WARNING_ITEM_RUNES).collect(),
            WARNING_ITEM_RUNES,
        )
    } else {
        (text.to_string(), runes)
    }
}

/// The `Warning` header values for a request's warnings, as upstream's warning recorder writes
/// them: empty and repeated warnings dropped, warnings with control characters dropped, each
/// quoted as `299 - "text"`; once the texts pass 4096 characters all are cut to 256
/// characters and whatever still does not fit is left out.
pub fn warning_headers(warnings: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut ordered: Vec<&str> = Vec::new();
    let mut headers = Vec::new();
    let mut written = 0usize;
    let mut truncating = false;
    for text in warnings {
        if text.is_empty() || (truncating && written >= WARNINGS_TOTAL_RUNES) {
            continue;
        }
        if !seen.insert(text.as_str()) {
            continue;
        }
        ordered.push(text);
        let (text, runes) = if truncating {
            truncated(text)
        } else {
            (text.clone(), text.chars().count())
        };
        let Some(header) = warning_header(&text) else {
            continue;
        };
        if written + runes <= WARNINGS_TOTAL_RUNES || truncating {
            written += runes;
            headers.push(header);
            continue;
        }
        truncating = true;
        written = 0;
        headers.clear();
        for earlier in &ordered {
            let (text, runes) = truncated(earlier);
            if let Some(header) = warning_header(&text) {
                written += runes;
                headers.push(header);
            }
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{GroupVersionKind, GroupVersionResource, Operation, UserInfo};

    fn attrs() -> Attributes {
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
            object: Some(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}})),
            old_object: None,
            dry_run: false,
            options: Some(json!({"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"})),
        }
    }

    #[test]
    fn the_request_review_carries_the_attributes() {
        let r = request_review(ReviewVersion::V1, "u-1", &attrs());
        assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
        let req = &r["request"];
        assert_eq!(req["uid"], "u-1");
        assert_eq!(
            req["kind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(
            req["requestResource"],
            json!({"group": "", "version": "v1", "resource": "pods"})
        );
        assert!(req.get("subResource").is_none());
        assert_eq!(req["operation"], "CREATE");
        assert_eq!(
            req["userInfo"],
            json!({"username": "alice", "groups": ["system:authenticated"]})
        );
        assert_eq!(req["oldObject"], Value::Null);
        assert_eq!(req["dryRun"], false);
        assert_eq!(req["options"]["kind"], "CreateOptions");
    }

    #[test]
    fn the_first_known_review_version_is_chosen() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ReviewVersion::choose(&v(&["v2", "v1beta1", "v1"])),
            Some(ReviewVersion::V1beta1)
        );
        assert_eq!(ReviewVersion::choose(&v(&["v1"])), Some(ReviewVersion::V1));
        assert_eq!(ReviewVersion::choose(&v(&["v2"])), None);
    }

    fn verify(body: Value, mutating: bool) -> Result<ReviewResponse, String> {
        let decoded = decode_review(body.to_string().as_bytes())?;
        verify_response(ReviewVersion::V1, "u-1", mutating, decoded)
    }

    #[test]
    fn answers_are_verified_as_upstream_does() {
        let ok = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": "u-1", "allowed": true}});
        assert!(verify(ok.clone(), false).unwrap().allowed);
        let mut wrong_uid = ok.clone();
        wrong_uid["response"]["uid"] = json!("other");
        assert_eq!(
            verify(wrong_uid, false).unwrap_err(),
            "expected response.uid=\"u-1\", got \"other\""
        );
        let mut no_response = ok.clone();
        no_response.as_object_mut().unwrap().remove("response");
        assert_eq!(
            verify(no_response, false).unwrap_err(),
            "webhook response was absent"
        );
        let mut beta = ok.clone();
        beta["apiVersion"] = json!("admission.k8s.io/v1beta1");
        assert_eq!(
            verify(beta, false).unwrap_err(),
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, Kind=AdmissionReview"
        );
        let mut patched = ok.clone();
        patched["response"]["patch"] = json!("W10=");
        assert_eq!(
            verify(patched.clone(), false).unwrap_err(),
            "validating webhook may not return response.patch"
        );
        assert_eq!(
            verify(patched.clone(), true).unwrap_err(),
            "webhook returned response.patch but not response.patchType"
        );
        patched["response"]["patchType"] = json!("JSONPatch");
        assert_eq!(verify(patched, true).unwrap().patch, b"[]");
        let mut kindless = ok;
        kindless.as_object_mut().unwrap().remove("kind");
        assert!(
            verify(kindless, false)
                .unwrap_err()
                .starts_with("Object 'Kind' is missing in '")
        );
    }

    #[test]
    fn refusals_read_as_upstreams_to_status_err() {
        let e = denied(
            "deny.example.com",
            Some(&json!({"code": 403, "message": "no pods today", "reason": "Forbidden"})),
        );
        assert_eq!((e.code, e.reason), (403, "Forbidden"));
        assert_eq!(
            e.message,
            "admission webhook \"deny.example.com\" denied the request: no pods today"
        );
        let e = denied(
            "deny.example.com",
            Some(&json!({"code": 200, "reason": "NoReason"})),
        );
        assert_eq!((e.code, e.reason), (400, "NoReason"));
        assert_eq!(
            e.message,
            "admission webhook \"deny.example.com\" denied the request: NoReason"
        );
        let e = denied("deny.example.com", None);
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "admission webhook \"deny.example.com\" denied the request without explanation"
        );
    }

    #[test]
    fn warning_headers_are_deduplicated_quoted_and_limited() {
        let w = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            warning_headers(&w(&["a \"b\"", "", "a \"b\"", "bad\nline", "c\\d"])),
            ["299 - \"a \\\"b\\\"\"", "299 - \"c\\\\d\""]
        );
        let long: Vec<String> = (0..20)
            .map(|i| format!("{i:03}{}", "x".repeat(497)))
            .collect();
        let headers = warning_headers(&long);
        assert_eq!(headers.len(), 16);
        assert!(headers.iter().all(|h| h.len() == "299 - \"\"".len() + 256));
    }
}
