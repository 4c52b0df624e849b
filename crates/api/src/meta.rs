//! Object metadata rules every kind shares: names, generateName, namespaces, uid, timestamps,
//! generation, labels and annotations, as upstream's `ObjectMeta` validation and strategies
//! apply them.

use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;
use crate::status::{ApiError, FieldError};

/// The strings of a JSON array (`["a", "b"]`); anything else reads as empty.
pub fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

/// The current time in Unix seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The current time as upstream writes it (`2026-01-02T03:04:05Z`).
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc(), "")
}

/// The current time with microseconds (`2026-01-02T03:04:05.123456Z`), as upstream's
/// `MicroTime` fields and audit events carry it.
pub fn now_rfc3339_micros() -> String {
    let now = time::OffsetDateTime::now_utc();
    rfc3339(now, &format!(".{:06}", now.microsecond()))
}

fn rfc3339(t: time::OffsetDateTime, fraction: &str) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an RFC 3339 UTC timestamp into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let f = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &f)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Builds a JSON object from owned values. Unlike `json!`, which serializes every embedded
/// `Value` into a fresh copy, this moves them: lists of thousands of objects stay cheap.
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The object's `metadata`, created if missing.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?
        .get(field)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The object's name.
pub fn name(obj: &Value) -> Option<&str> {
    meta_str(obj, "name")
}

/// The object's namespace.
pub fn namespace(obj: &Value) -> Option<&str> {
    meta_str(obj, "namespace")
}

/// The object's labels.
pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.get("labels")?.as_object()
}

/// Characters upstream draws generateName suffixes from (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random five-character suffix for `generateName`.
pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| SUFFIX_ALPHABET[*b as usize % SUFFIX_ALPHABET.len()] as char)
        .collect()
}

/// Which name rule a kind follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
    /// RFC 1035 label (services).
    Dns1035,
    /// Any path segment (RBAC objects).
    PathSegment,
}

/// The name rule upstream applies to a kind.
pub fn name_rule(def: &ResourceDef) -> NameRule {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => NameRule::Label,
        ("", "services") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns_label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower)
}

/// Upstream's messages for names that break a rule; empty when the name is fine.
pub fn name_problems(name: &str, rule: NameRule) -> Vec<String> {
    let mut out = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                out.push("must be no more than 253 characters".to_string());
            }
            if !name.split('.').all(dns_label_ok) {
                out.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                out.push("must be no more than 63 characters".to_string());
            }
            if !dns_label_ok(name) {
                out.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string());
            }
        }
        NameRule::Dns1035 => {
            if name.len() > 63 {
                out.push("must be no more than 63 characters".to_string());
            }
            if !(dns_label_ok(name) && name.starts_with(|c: char| c.is_ascii_lowercase())) {
                out.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string());
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                out.push(format!("may not be '{name}'"));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    out.push(format!("may not contain '{bad}'"));
                }
            }
        }
    }
    out
}

fn label_value_ok(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Upstream's messages for a label or annotation key that is not a qualified name.
pub fn qualified_name_problems(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".to_string());
        } else {
            out.extend(
                name_problems(p, NameRule::Subdomain)
                    .into_iter()
                    .map(|m| format!("prefix part {m}")),
            );
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else {
        if name.len() > 63 {
            out.push("name part must be no more than 63 characters".to_string());
        }
        let ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            out.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".to_string());
        }
    }
    out
}

/// Validates `metadata` of an object about to be stored.
pub fn validate_metadata(obj: &Value, def: &ResourceDef) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = name(obj).unwrap_or_default();
    for m in name_problems(name, name_rule(def)) {
        errs.push(FieldError::invalid("metadata.name", &json!(name), &m));
    }
    if let Some(labels) = labels(obj) {
        for (k, v) in labels {
            for m in qualified_name_problems(k) {
                errs.push(FieldError::invalid("metadata.labels", &json!(k), &m));
            }
            match v.as_str() {
                Some(s) if label_value_ok(s) => {}
                Some(s) => errs.push(FieldError::invalid("metadata.labels", &json!(s), "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")),
                None => errs.push(FieldError::invalid("metadata.labels", v, "label values must be strings")),
            }
        }
    }
    if let Some(annotations) = obj
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in annotations {
            for m in qualified_name_problems(k) {
                errs.push(FieldError::invalid("metadata.annotations", &json!(k), &m));
            }
            total += k.len() + v.as_str().map(str::len).unwrap_or(0);
        }
        if total > 256 * 1024 {
            errs.push(FieldError {
                reason: "FieldValueTooLong",
                field: "metadata.annotations".into(),
                body: "Too long: may not be more than 262144 bytes".into(),
            });
        }
    }
    errs
}

/// Fills the metadata of an object being created: name from generateName, namespace from the
/// request, a fresh uid, the creation time, generation 1 for objects with a spec; refuses a
/// resourceVersion. `namespace` is the request's namespace for namespaced resources.
pub fn prepare_create(
    obj: &mut Value,
    def: &ResourceDef,
    namespace: Option<&str>,
) -> Result<(), ApiError> {
    let has_spec = obj.get("spec").is_some();
    let meta = metadata_mut(obj);
    if meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let name_missing = meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if name_missing {
        match meta
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|g| !g.is_empty())
        {
            Some(g) => {
                let generated = format!("{g}{}", random_suffix());
                meta.insert("name".into(), Value::String(generated));
            }
            None => {
                return Err(ApiError::invalid(
                    &def.group,
                    &def.kind,
                    "",
                    vec![FieldError::required(
                        "metadata.name",
                        "name or generateName is required",
                    )],
                ));
            }
        }
    }
    match (def.namespaced(), namespace) {
        (true, Some(ns)) => {
            if let Some(body_ns) = meta
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                && body_ns != ns
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta.insert("namespace".into(), Value::String(ns.to_string()));
        }
        (true, None) => {
            return Err(ApiError::bad_request(
                "the namespace of the object is required",
            ));
        }
        (false, _) => {
            meta.remove("namespace");
        }
    }
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    meta.remove("resourceVersion");
    meta.remove("selfLink");
    if has_spec {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    drop_empty_metadata(obj);
    Ok(())
}

/// Carries what an update may not change from the stored object to the new one (uid,
/// creation time, deletion marks), and bumps generation when the spec changed.
pub fn prepare_update(new: &mut Value, old: &Value) {
    let spec_changed = new.get("spec") != old.get("spec");
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let meta = metadata_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
    ] {
        match old_meta.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    meta.remove("selfLink");
    let old_generation = old_meta.get("generation").and_then(Value::as_i64);
    match old_generation {
        Some(g) => {
            let g = if spec_changed { g + 1 } else { g };
            meta.insert("generation".into(), json!(g));
        }
        None => {
            meta.remove("generation");
        }
    }
    drop_empty_metadata(new);
}

/// Drops empty `labels`, `annotations`, `finalizers`, `ownerReferences` and `managedFields`,
/// as upstream's encoding omits them (`omitempty`), so an object whose last label was removed
/// reads back without a `labels` field.
pub fn drop_empty_metadata(obj: &mut Value) {
    let meta = metadata_mut(obj);
    for field in [
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "managedFields",
    ] {
        let empty = match meta.get(field) {
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            meta.remove(field);
        }
    }
}

/// Sets `metadata.resourceVersion` to the store revision the object was read at.
pub fn set_resource_version(obj: &mut Value, revision: i64) {
    metadata_mut(obj).insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_names_allow_dots_and_refuse_capitals() {
        assert!(name_problems("web.example-1", NameRule::Subdomain).is_empty());
        assert_eq!(name_problems("Web", NameRule::Subdomain).len(), 1);
        assert!(name_problems("-web", NameRule::Subdomain)[0].contains("RFC 1123 subdomain"));
        assert!(name_problems(&"a".repeat(254), NameRule::Subdomain)[0].contains("253"));
    }

    #[test]
    fn service_names_must_start_with_a_letter() {
        assert!(name_problems("web", NameRule::Dns1035).is_empty());
        assert!(name_problems("1web", NameRule::Dns1035)[0].contains("DNS-1035"));
        assert!(name_problems("a.b", NameRule::Label)[0].contains("RFC 1123 label"));
        assert!(name_problems("system:admin", NameRule::PathSegment).is_empty());
        assert_eq!(
            name_problems("a/b", NameRule::PathSegment),
            vec!["may not contain '/'"]
        );
    }

    #[test]
    fn label_keys_may_carry_a_dns_prefix() {
        assert!(qualified_name_problems("app.kubernetes.io/name").is_empty());
        assert!(qualified_name_problems("tier").is_empty());
        assert!(!qualified_name_problems("bad key").is_empty());
        assert!(!qualified_name_problems("/x").is_empty());
        assert!(label_value_ok("") && label_value_ok("v1.2_x") && !label_value_ok("-x"));
    }

    #[test]
    fn generated_names_have_five_character_suffixes() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.bytes().all(|b| SUFFIX_ALPHABET.contains(&b)));
    }

    #[test]
    fn timestamps_round_trip() {
        let now = now_rfc3339();
        assert!(now.ends_with('Z') && now.len() == 20);
        assert!(parse_rfc3339(&now).is_some());
    }
}
