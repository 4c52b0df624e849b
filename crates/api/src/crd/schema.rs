//! Structural schemas of custom resources: pruning, defaulting and validation.
//!
//! A custom resource is checked against its version's `openAPIV3Schema`: fields the schema
//! does not declare are pruned (unless `x-kubernetes-preserve-unknown-fields`), `default`s
//! fill missing fields, and values are validated (type, required, enum, bounds, lengths,
//! pattern, items) with upstream's messages.

use serde_json::{Map, Value, json};

use crate::codec::Codec;
use crate::status::FieldError;

/// The codec of one custom resource version.
pub struct CrdCodec {
    /// The version's `openAPIV3Schema`.
    pub schema: Value,
}

impl Codec for CrdCodec {
    fn normalize(&self, object: &Value) -> Result<(Value, Vec<String>), String> {
        let mut obj = object.clone();
        let mut unknown = Vec::new();
        if let Value::Object(m) = &mut obj {
            // apiVersion, kind and metadata are the server's, whatever the schema says.
            let keep: Vec<(String, Value)> = ["apiVersion", "kind", "metadata"]
                .iter()
                .filter_map(|k| m.remove(*k).map(|v| (k.to_string(), v)))
                .collect();
            let mut rest = Value::Object(std::mem::take(m));
            prune(&mut rest, &self.schema, "", &mut unknown);
            default(&mut rest, &self.schema);
            if let Value::Object(r) = rest {
                *m = r;
            }
            for (k, v) in keep {
                m.insert(k, v);
            }
        }
        Ok((obj, unknown))
    }

    fn validate(&self, object: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Value::Object(m) = object {
            let body: Map<String, Value> = m
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut schema = self.schema.clone();
            if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                for k in ["apiVersion", "kind", "metadata"] {
                    props.remove(k);
                }
            }
            if let Some(req) = schema.get_mut("required").and_then(Value::as_array_mut) {
                req.retain(|r| !matches!(r.as_str(), Some("apiVersion" | "kind" | "metadata")));
            }
            validate(&Value::Object(body), &schema, "", &mut errs);
        }
        errs
    }
}

fn preserves(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// Drops fields the schema does not declare, recording their paths.
fn prune(v: &mut Value, schema: &Value, path: &str, unknown: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if schema.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
                && preserves(schema)
            {
                return;
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let p = join(path, &k);
                let child = props.and_then(|p| p.get(&k)).or(match additional {
                    Some(a) if a.is_object() => Some(a),
                    _ => None,
                });
                match child {
                    Some(s) => prune(m.get_mut(&k).expect("key exists"), s, &p, unknown),
                    None if preserves(schema) || additional == Some(&Value::Bool(true)) => {}
                    None => {
                        m.remove(&k);
                        unknown.push(p);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, s, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// Fills `default`s of missing properties, recursively.
fn default(v: &mut Value, schema: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    if !m.contains_key(k)
                        && let Some(d) = s.get("default")
                    {
                        m.insert(k.clone(), d.clone());
                    }
                    if let Some(child) = m.get_mut(k) {
                        default(child, s);
                    }
                }
            }
            if let Some(a) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in m.values_mut() {
                    default(child, a);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for item in items {
                    default(item, s);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shown(v: &Value) -> Value {
    match v {
        Value::Object(_) | Value::Array(_) => json!(type_name(v)),
        v => v.clone(),
    }
}

/// Validates a value against a schema, as upstream's OpenAPI validator words it.
fn validate(v: &Value, schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let shown_path = if path.is_empty() {
        "body".to_string()
    } else {
        path.to_string()
    };
    if v.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) && !path.is_empty() {
            errs.push(FieldError::invalid(
                path,
                &Value::Null,
                &format!(
                    "{shown_path} in body must be of type {}: \"null\"",
                    schema
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("object")
                ),
            ));
        }
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_name(v);
        let ok = want == got
            || (want == "number" && got == "integer")
            || (int_or_string && matches!(got, "integer" | "string"));
        if !ok && !int_or_string {
            errs.push(FieldError::invalid(
                path,
                &json!(got),
                &format!("{shown_path} in body must be of type {want}: {:?}", got),
            ));
            return;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(v)
    {
        let supported: Vec<String> = options
            .iter()
            .map(|o| {
                o.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| o.to_string())
            })
            .collect();
        let supported: Vec<&str> = supported.iter().map(String::as_str).collect();
        errs.push(FieldError::not_supported(path, v, &supported));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errs.push(FieldError::invalid(
                path,
                &shown(v),
                &format!(
                    "{shown_path} in body should be greater than or equal to {}",
                    schema["minimum"]
                ),
            ));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errs.push(FieldError::invalid(
                path,
                &shown(v),
                &format!(
                    "{shown_path} in body should be less than or equal to {}",
                    schema["maximum"]
                ),
            ));
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{shown_path} in body should be at least {min} chars long"),
            ));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            errs.push(FieldError {
                reason: "FieldValueTooLong",
                field: path.to_string(),
                body: format!("Too long: may not be more than {max} bytes"),
            });
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str)
            && let Ok(re) = regex::Regex::new(p)
            && !re.is_match(s)
        {
            errs.push(FieldError::invalid(
                path,
                v,
                &format!("{shown_path} in body should match '{p}'"),
            ));
        }
    }
    match v {
        Value::Object(m) => {
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !m.contains_key(r) {
                    errs.push(FieldError::required(join(path, r), ""));
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, child) in m {
                let s = props
                    .and_then(|p| p.get(k))
                    .or(schema.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(s) = s {
                    validate(child, s, &join(path, k), errs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                errs.push(FieldError {
                    reason: "FieldValueTooMany",
                    field: path.to_string(),
                    body: format!("Too many: {}: must have at most {max} items", items.len()),
                });
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errs.push(FieldError::invalid(
                    path,
                    &json!(items.len()),
                    &format!("{shown_path} in body should have at least {min} items"),
                ));
            }
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item, s, &format!("{path}[{i}]"), errs);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1},
                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }})
    }

    #[test]
    fn unknown_fields_are_pruned_and_defaults_filled() {
        let c = CrdCodec { schema: schema() };
        let (obj, unknown) = c
            .normalize(
                &json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"},
                "spec": {"size": 2, "bogus": 1, "free": {"anything": [1]}}, "extra": true}),
            )
            .unwrap();
        assert_eq!(unknown, vec!["extra", "spec.bogus"]);
        assert_eq!(obj["spec"]["color"], "red");
        assert_eq!(obj["spec"]["free"]["anything"], json!([1]));
        assert_eq!(obj["metadata"]["name"], "w");
    }

    #[test]
    fn values_are_validated_with_upstreams_messages() {
        let c = CrdCodec { schema: schema() };
        let errs = c.validate(&json!({"spec": {"size": "big", "color": "pink"}}));
        let msgs: Vec<String> = errs.iter().map(|e| e.message()).collect();
        assert_eq!(
            msgs,
            vec![
                "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"blue\"",
                "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"",
            ]
        );
        let errs = c.validate(&json!({"spec": {"size": 0}}));
        assert_eq!(
            errs[0].message(),
            "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
        );
        let errs = c.validate(&json!({"spec": {}}));
        assert_eq!(errs[0].message(), "spec.size: Required value");
    }
}
