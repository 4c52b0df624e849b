//! Read-only access to a pod's metadata and spec held as JSON, with Go's zero-value
//! semantics: an absent or `null` field reads as unset, a missing string as `""`.

use serde_json::Value;

/// `null`, the stand-in for an absent object.
pub(crate) static NULL: Value = Value::Null;

/// The metadata and spec of a pod, or of a workload's pod template.
#[derive(Clone, Copy, Debug)]
pub struct PodParts<'a> {
    /// `metadata` (annotations are read from it).
    pub metadata: &'a Value,
    /// `spec`.
    pub spec: &'a Value,
}

impl<'a> PodParts<'a> {
    /// The metadata and spec of a pod object.
    pub fn of_pod(pod: &'a Value) -> Self {
        PodParts {
            metadata: pod.get("metadata").unwrap_or(&NULL),
            spec: pod.get("spec").unwrap_or(&NULL),
        }
    }

    /// Every container in upstream's visiting order: init, regular, then ephemeral.
    pub(crate) fn containers(&self) -> impl Iterator<Item = &'a Value> {
        let spec = self.spec;
        ["initContainers", "containers", "ephemeralContainers"]
            .into_iter()
            .flat_map(move |key| array(spec, &[key]))
    }

    /// The string annotations, in key order.
    pub(crate) fn annotations(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        field(self.metadata, &["annotations"])
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
    }

    /// One string annotation, when present.
    pub(crate) fn annotation(&self, key: &str) -> Option<&'a str> {
        field(self.metadata, &["annotations", key]).and_then(Value::as_str)
    }

    /// Whether `spec.os.name` is `windows` (the 1.25+ checks skip Linux-only rules then).
    pub(crate) fn is_windows(&self) -> bool {
        text(self.spec, &["os", "name"]) == "windows"
    }

    /// `spec.runtimeClassName`, `""` when unset.
    pub(crate) fn runtime_class(&self) -> &'a str {
        text(self.spec, &["runtimeClassName"])
    }
}

/// The value at `path`, treating `null` as absent.
pub(crate) fn field<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    (!current.is_null()).then_some(current)
}

/// The string at `path`, `""` when unset (Go's zero value).
pub(crate) fn text<'v>(value: &'v Value, path: &[&str]) -> &'v str {
    field(value, path).and_then(Value::as_str).unwrap_or("")
}

/// The boolean at `path`, `None` when unset (a nil `*bool`).
pub(crate) fn flag(value: &Value, path: &[&str]) -> Option<bool> {
    field(value, path).and_then(Value::as_bool)
}

/// The integer at `path`, `None` when unset (a nil `*int64`).
pub(crate) fn integer(value: &Value, path: &[&str]) -> Option<i64> {
    field(value, path).and_then(Value::as_i64)
}

/// The array at `path`, empty when unset.
pub(crate) fn array<'v>(
    value: &'v Value,
    path: &[&str],
) -> impl Iterator<Item = &'v Value> + use<'v> {
    field(value, path)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A container's (or volume's) `name`.
pub(crate) fn name(value: &Value) -> &str {
    text(value, &["name"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_visited_init_then_regular_then_ephemeral() {
        let pod = json!({"spec": {
            "containers": [{"name": "c1"}, {"name": "c2"}],
            "ephemeralContainers": [{"name": "e"}],
            "initContainers": [{"name": "i"}],
        }});
        let parts = PodParts::of_pod(&pod);
        let names: Vec<&str> = parts.containers().map(name).collect();
        assert_eq!(names, ["i", "c1", "c2", "e"]);
    }

    #[test]
    fn null_fields_read_as_unset() {
        let v = json!({"a": null, "b": {"c": false}});
        assert!(field(&v, &["a"]).is_none());
        assert_eq!(flag(&v, &["b", "c"]), Some(false));
        assert_eq!(text(&v, &["missing"]), "");
        assert!(PodParts::of_pod(&json!({})).containers().next().is_none());
    }
}
