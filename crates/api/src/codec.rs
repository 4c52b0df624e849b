//! Decoding objects the way upstream does: into the kind's schema, reporting unknown fields.
//!
//! Built-in kinds decode through k8s-openapi's types, which are generated from upstream's
//! OpenAPI schema. An object that round-trips through its type comes back with exactly the
//! fields the schema knows (upstream's decoder drops the others too); comparing the two tells
//! which fields were unknown, for `fieldValidation=Strict` (an error) and `Warn` (a warning).

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Turns a decoded JSON object into the kind's normal form.
pub trait Codec: Send + Sync + 'static {
    /// The object as the schema sees it, and the paths of fields the schema does not know.
    fn normalize(&self, object: &Value) -> Result<(Value, Vec<String>), String>;

    /// Problems the schema itself finds (custom resources); built-in kinds are validated by
    /// their strategies instead.
    fn validate(&self, _object: &Value) -> Vec<crate::status::FieldError> {
        Vec::new()
    }
}

/// The codec of a built-in kind: a round trip through its k8s-openapi type.
pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Typed(PhantomData)
    }
}

impl<T: DeserializeOwned + Serialize + 'static> Codec for Typed<T> {
    fn normalize(&self, object: &Value) -> Result<(Value, Vec<String>), String> {
        let typed: T = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
        let normal = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
        let mut unknown = Vec::new();
        unknown_fields(object, &normal, "", &mut unknown);
        Ok((normal, unknown))
    }
}

/// The codec of a kind without a compiled-in schema: the object as it is.
pub struct Unstructured;

impl Codec for Unstructured {
    fn normalize(&self, object: &Value) -> Result<(Value, Vec<String>), String> {
        Ok((object.clone(), Vec::new()))
    }
}

/// Collects the paths present (and not null) in `input` but missing from `normal`, written as
/// upstream writes them: `spec.containers[0].foo`.
pub fn unknown_fields(input: &Value, normal: &Value, path: &str, out: &mut Vec<String>) {
    match (input, normal) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(nv) => unknown_fields(v, nv, &p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                unknown_fields(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_reported_with_their_paths() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "b"}, "bogus": 1},
            "spec": {"containers": [{"name": "c", "image": "nginx", "imagee": "typo"}], "nodeName": null}
        });
        let (normal, unknown) = Typed::<Pod>::default().normalize(&pod).unwrap();
        assert_eq!(unknown, vec!["metadata.bogus", "spec.containers[0].imagee"]);
        assert_eq!(normal["spec"]["containers"][0]["image"], "nginx");
        assert!(normal["metadata"].get("bogus").is_none());
    }

    #[test]
    fn a_value_of_the_wrong_type_cannot_be_decoded() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "nope"}});
        assert!(Typed::<Pod>::default().normalize(&pod).is_err());
    }
}
