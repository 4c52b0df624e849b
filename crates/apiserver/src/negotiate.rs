//! Content negotiation: request bodies in, responses out.

use axum::body::Body;
use bosun_api::ApiError;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::Value;

/// The largest request body accepted, as upstream's apiserver (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Decodes a request body by its content type: JSON, or YAML (the body of `kubectl create
/// --raw`, Python's `create_from_yaml` and curl users). A body labelled JSON that is not JSON
/// but is YAML is accepted too, as upstream's decoder does.
pub fn decode_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type.unwrap_or("application/json");
    let media = ct.split(';').next().unwrap_or("").trim();
    let parsed: Value = match media {
        "application/yaml" | "application/apply-patch+yaml" | "text/yaml" => {
            serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?
        }
        ""
        | "*/*"
        | "application/json"
        | "application/merge-patch+json"
        | "application/json-patch+json"
        | "application/strategic-merge-patch+json" => match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => serde_yaml::from_slice::<Value>(body)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "couldn't get version/kind; json parse error: {e}"
                    ))
                })?,
        },
        "application/vnd.kubernetes.protobuf" => {
            bosun_api::protobuf::decode_body(body).map_err(|e| {
                ApiError::bad_request(format!("failed to decode the protobuf body: {e}"))
            })?
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let is_json_patch = media == "application/json-patch+json";
    if parsed.is_object() || (is_json_patch && parsed.is_array()) {
        Ok(parsed)
    } else {
        Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ))
    }
}

/// What the client asked to receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The object or list as JSON.
    Json,
    /// The object or list as YAML.
    Yaml,
    /// A `meta.k8s.io/v1` Table.
    Table,
    /// `PartialObjectMetadata` (or its list).
    Metadata,
}

/// Reads the Accept header: the first acceptable alternative wins, as upstream negotiates.
pub fn output(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    for alt in accept.split(',') {
        let mut parts = alt.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        match media {
            "application/json" | "*/*" | "application/*" => match param("as") {
                Some("Table") if matches!(param("v"), Some("v1") | Some("v1beta1")) => {
                    return Ok(Output::Table);
                }
                Some("PartialObjectMetadata") | Some("PartialObjectMetadataList") => {
                    return Ok(Output::Metadata);
                }
                Some(_) => continue,
                None => return Ok(Output::Json),
            },
            "application/yaml" => return Ok(Output::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/yaml (asked for {accept:?})"
    )))
}

/// A JSON (or YAML) response with a status code and optional warnings.
pub fn respond(code: u16, body: &Value, output: Output, warnings: &[String]) -> Response<Body> {
    let (bytes, content_type) = match output {
        Output::Yaml => (
            serde_yaml::to_string(body).unwrap_or_default().into_bytes(),
            "application/yaml",
        ),
        _ => (
            serde_json::to_vec(body).unwrap_or_default(),
            "application/json",
        ),
    };
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    add_warnings(&mut resp, warnings);
    resp
}

/// Adds `Warning: 299 - "..."` headers, as upstream reports field-validation warnings.
pub fn add_warnings(resp: &mut Response<Body>, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
}

/// An error as a `Status` response.
pub fn error(e: &ApiError) -> Response<Body> {
    respond(e.code, &e.to_status(), Output::Json, &[])
}

/// A plain-text response.
pub fn text(code: u16, body: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(output(Some(accept)).unwrap(), Output::Table);
        assert_eq!(output(Some("application/json")).unwrap(), Output::Json);
        assert_eq!(output(None).unwrap(), Output::Json);
        assert_eq!(
            output(Some("application/vnd.kubernetes.protobuf, */*")).unwrap(),
            Output::Json
        );
        assert_eq!(
            output(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            ))
            .unwrap(),
            Output::Metadata
        );
        assert_eq!(
            output(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code,
            406
        );
    }

    #[test]
    fn yaml_and_json_bodies_decode_alike() {
        let y = decode_body(
            Some("application/yaml"),
            b"kind: ConfigMap\nmetadata:\n  name: a\n",
        )
        .unwrap();
        let j = decode_body(
            Some("application/json"),
            br#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#,
        )
        .unwrap();
        assert_eq!(y, j);
        assert_eq!(
            decode_body(Some("application/json"), b"{not json")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_body(Some("application/vnd.kubernetes.protobuf"), b"x")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_body(Some("application/x-unknown"), b"x")
                .unwrap_err()
                .code,
            415
        );
    }
}
