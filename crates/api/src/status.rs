//! Errors as upstream's `Status` objects: the same `reason`, `code` and message wording that
//! kubectl and client libraries recognise (k8s.io/apimachinery/pkg/api/errors).

use serde_json::{Value, json};

/// One field's problem, as upstream's `field.Error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The cause's reason: `FieldValueRequired`, `FieldValueInvalid`, ...
    pub reason: &'static str,
    /// The field's path, e.g. `metadata.name`.
    pub field: String,
    /// The message body (without the field), e.g. `Required value`.
    pub body: String,
}

impl FieldError {
    /// A required field is missing.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let body = if detail.is_empty() {
            "Required value".into()
        } else {
            format!("Required value: {detail}")
        };
        FieldError {
            reason: "FieldValueRequired",
            field: field.into(),
            body,
        }
    }

    /// A field holds a value that is not allowed.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            Value::Null => "null".into(),
            v => v.to_string(),
        };
        let body = if detail.is_empty() {
            format!("Invalid value: {shown}")
        } else {
            format!("Invalid value: {shown}: {detail}")
        };
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            body,
        }
    }

    /// A field holds a value that is not allowed, shown as upstream prints it (Go syntax).
    pub fn invalid_shown(field: impl Into<String>, shown: &str, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            body: format!("Invalid value: {shown}: {detail}"),
        }
    }

    /// A field may not be set or changed.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueForbidden",
            field: field.into(),
            body: format!("Forbidden: {detail}"),
        }
    }

    /// A value outside an enumeration.
    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let list = supported
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            v => v.to_string(),
        };
        FieldError {
            reason: "FieldValueNotSupported",
            field: field.into(),
            body: format!("Unsupported value: {shown}: supported values: {list}"),
        }
    }

    /// A value that appears twice where it must be unique.
    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        FieldError {
            reason: "FieldValueDuplicate",
            field: field.into(),
            body: format!("Duplicate value: {value}"),
        }
    }

    /// The text upstream prints for this error: `<field>: <body>`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.field, self.body)
    }
}

/// An API error: everything needed to answer with a `Status`.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Upstream's `StatusReason`.
    pub reason: &'static str,
    /// The human-readable message.
    pub message: String,
    /// `details`, when upstream sends them.
    pub details: Option<Value>,
}

/// A resource named for messages: `pods`, `deployments.apps`.
fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404: `pods "web" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", qualified(resource, group)),
        )
        .with_details(status_details(group, resource, name))
    }

    /// 404 for a path that names no resource.
    pub fn no_such_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// 409: `pods "web" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", qualified(resource, group)),
        )
        .with_details(status_details(group, resource, name))
    }

    /// 409: the write raced another one.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                qualified(resource, group)
            ),
        )
        .with_details(status_details(group, resource, name))
    }

    /// 409 with a message and details of its own (server-side apply conflicts).
    pub fn conflict_with_details(message: impl Into<String>, details: Value) -> Self {
        Self::new(409, "Conflict", message).with_details(details)
    }

    /// The conflict message for a stale resourceVersion.
    pub const MODIFIED: &'static str = "the object has been modified; please apply your changes to the latest version and try again";

    /// 422: `Pod "web" is invalid: spec.containers: Required value`.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: Vec<FieldError>) -> Self {
        let qualified_kind = qualified(kind, group);
        let list = if errors.len() == 1 {
            errors[0].message()
        } else {
            format!(
                "[{}]",
                errors
                    .iter()
                    .map(|e| e.message())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.body, "field": e.field}))
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} {name:?} is invalid: {list}"),
        )
        .with_details({
            let mut d = status_details(group, kind, name);
            d["causes"] = json!(causes);
            d
        })
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    /// 410: a resourceVersion older than the retained history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, "RequestEntityTooLarge", message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 422 for a request whose content cannot be applied (a failing JSON patch).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 403 for one object, as upstream's `NewForbidden` words it:
    /// `<resource>[.<group>] ["<name>"] is forbidden: <reason>`.
    pub fn forbidden_object(group: &str, resource: &str, name: &str, reason: &str) -> Self {
        let qualified = qualified(resource, group);
        let message = if name.is_empty() {
            format!("{qualified} is forbidden: {reason}")
        } else {
            format!("{qualified} {name:?} is forbidden: {reason}")
        };
        Self::new(403, "Forbidden", message).with_details(status_details(group, resource, name))
    }

    /// 406.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    /// 415.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
            ),
        )
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// 503 while the server starts or its storage is unreachable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }

    /// 504: the operation did not finish in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    /// The `Status` object sent as the response body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            status["details"] = d.clone();
        }
        status
    }
}

/// The `Status` a successful delete answers with when the object is gone at once.
pub fn success_status(group: &str, resource: &str, name: &str, uid: Option<&str>) -> Value {
    let mut details = json!({"name": name, "group": group, "kind": resource});
    if let Some(uid) = uid {
        details["uid"] = Value::String(uid.to_string());
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// Upstream's StatusDetails: name, group and kind, each left out when empty.
pub fn status_details(group: &str, kind: &str, name: &str) -> Value {
    let mut details = serde_json::Map::new();
    for (key, value) in [("name", name), ("group", group), ("kind", kind)] {
        if !value.is_empty() {
            details.insert(key.to_string(), json!(value));
        }
    }
    Value::Object(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_group_qualified_resource() {
        assert_eq!(
            ApiError::not_found("", "pods", "web").message,
            "pods \"web\" not found"
        );
        assert_eq!(
            ApiError::not_found("apps", "deployments", "d").message,
            "deployments.apps \"d\" not found"
        );
    }

    #[test]
    fn a_conflict_reads_as_upstreams() {
        let e = ApiError::conflict("", "configmaps", "c", ApiError::MODIFIED);
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!((e.code, e.reason), (409, "Conflict"));
    }

    #[test]
    fn invalid_lists_one_error_bare_and_several_in_brackets() {
        let one = ApiError::invalid(
            "",
            "Pod",
            "p",
            vec![FieldError::required("spec.containers", "")],
        );
        assert_eq!(
            one.message,
            "Pod \"p\" is invalid: spec.containers: Required value"
        );
        let two = ApiError::invalid(
            "apps",
            "Deployment",
            "d",
            vec![
                FieldError::required("spec.selector", ""),
                FieldError::invalid("metadata.name", &json!("A"), "bad"),
            ],
        );
        assert_eq!(
            two.message,
            "Deployment.apps \"d\" is invalid: [spec.selector: Required value, metadata.name: Invalid value: \"A\": bad]"
        );
        assert_eq!(
            two.to_status()["details"]["causes"][1]["field"],
            "metadata.name"
        );
    }
}
