//! Kubernetes protobuf bodies, decoded into the JSON objects the rest of Bosun handles.
//!
//! client-go's generated clients always send built-in kinds as protobuf (kubectl's
//! `create configmap`, `create deployment`, `auth can-i`, ...), so the API server must read
//! it. A body is upstream's envelope: the magic `k8s\0`, then a `runtime.Unknown` message
//! holding the object's apiVersion and kind and its encoded bytes. The bytes are decoded by
//! walking `fields.json`, a table of every message's field numbers, wire types and JSON names
//! generated from k8s-pb and k8s-openapi (`scripts/gen-protobuf-table`). Upstream's types with
//! their own JSON form (Time, Quantity, IntOrString, RawExtension, ...) are converted here.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8] = b"k8s\0";

/// One field of a message, as the table describes it; an empty JSON name marks an embedded
/// struct whose fields JSON inlines into the parent.
#[derive(Debug)]
struct Field {
    tag: u64,
    json: String,
    kind: String,
    target: Option<String>,
    repeated: bool,
}

type Table = HashMap<String, Vec<Field>>;

/// A field as `fields.json` spells it: tag, JSON name, kind, target type, repeated.
type RawField = (u64, String, String, Option<String>, bool);

fn table() -> &'static (Table, HashMap<String, String>) {
    static TABLE: OnceLock<(Table, HashMap<String, String>)> = OnceLock::new();
    TABLE.get_or_init(|| {
        let raw: HashMap<String, Vec<RawField>> =
            serde_json::from_str(include_str!("fields.json")).expect("fields.json is valid");
        let lower = raw.keys().map(|k| (k.to_lowercase(), k.clone())).collect();
        let table = raw
            .into_iter()
            .map(|(name, fields)| {
                let fields = fields
                    .into_iter()
                    .map(|(tag, json, kind, target, repeated)| Field {
                        tag,
                        json,
                        kind,
                        target,
                        repeated,
                    })
                    .collect();
                (name, fields)
            })
            .collect();
        (table, lower)
    })
}

/// The protobuf package upstream keeps a group version's types in.
fn package(api_version: &str) -> String {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let g = match group {
        "" => "core",
        "internal.apiserver.k8s.io" => "apiserverinternal",
        "apiextensions.k8s.io" => {
            return format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}");
        }
        "apiregistration.k8s.io" => {
            return format!("io.k8s.kube-aggregator.pkg.apis.apiregistration.{version}");
        }
        "metrics.k8s.io" => return format!("io.k8s.metrics.pkg.apis.metrics.{version}"),
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{g}.{version}")
}

/// The message name of a kind, e.g. `apps/v1` `Deployment` → `io.k8s.api.apps.v1.Deployment`.
pub fn message_name(api_version: &str, kind: &str) -> Option<String> {
    let lower = &table().1;
    let name = format!("{}.{kind}", package(api_version));
    lower.get(&name.to_lowercase()).cloned().or_else(|| {
        // Options and Status travel under any group's version (`v1` DeleteOptions).
        let meta = format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}");
        lower.get(&meta.to_lowercase()).cloned()
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn fixed(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// The next field's number and wire type.
    fn key(&mut self) -> Result<(u64, u64), String> {
        let k = self.varint()?;
        Ok((k >> 3, k & 7))
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed(8).map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => self.fixed(4).map(|_| ()),
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

/// Splits the envelope into apiVersion, kind and the object's bytes.
pub fn decode_envelope(body: &[u8]) -> Result<(String, String, Vec<u8>), String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("missing the k8s protobuf prefix")?;
    let mut r = Reader { buf: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), Vec::new());
    while !r.done() {
        match r.key()? {
            (1, 2) => {
                let mut t = Reader {
                    buf: r.bytes()?,
                    pos: 0,
                };
                while !t.done() {
                    match t.key()? {
                        (1, 2) => api_version = utf8(t.bytes()?)?,
                        (2, 2) => kind = utf8(t.bytes()?)?,
                        (_, w) => t.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = r.bytes()?.to_vec(),
            (3, 2) => {
                let encoding = utf8(r.bytes()?)?;
                if !encoding.is_empty() {
                    return Err(format!("unsupported content encoding {encoding:?}"));
                }
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok((api_version, kind, raw))
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string field is not UTF-8".to_string())
}

/// Decodes a whole protobuf body into a JSON object with apiVersion and kind set.
pub fn decode_body(body: &[u8]) -> Result<Value, String> {
    let (api_version, kind, raw) = decode_envelope(body)?;
    let name = message_name(&api_version, &kind)
        .ok_or_else(|| format!("no protobuf schema for {api_version} {kind}"))?;
    let mut obj = decode_message(&name, &raw)?;
    if let Value::Object(m) = &mut obj {
        m.insert("apiVersion".into(), Value::String(api_version));
        m.insert("kind".into(), Value::String(kind));
    }
    Ok(obj)
}

const ZERO_TIME_SECONDS: i64 = -62_135_596_800;

fn timestamp(seconds: i64, nanos: i64, micro: bool) -> Value {
    if seconds == ZERO_TIME_SECONDS && nanos == 0 {
        return Value::Null;
    }
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
        return Value::Null;
    };
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Value::String(if micro {
        format!("{base}.{:06}Z", nanos / 1000)
    } else {
        format!("{base}Z")
    })
}

/// Formats nanoseconds as Go's `time.Duration.String` does (`1h0m0s`, `1.5s`, `300ms`).
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let s = if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        format!("{}{unit}", trim_fraction(u, div))
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let secs = trim_fraction(u % 60_000_000_000, 1_000_000_000);
        if h > 0 {
            format!("{h}h{m}m{secs}s")
        } else if m > 0 {
            format!("{m}m{secs}s")
        } else {
            format!("{secs}s")
        }
    };
    if neg { format!("-{s}") } else { s }
}

fn trim_fraction(v: u64, div: u64) -> String {
    let whole = v / div;
    let frac = v % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

fn raw_json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|_| Value::String(STANDARD.encode(b)))
}

/// Decodes one message of the named type.
fn decode_message(name: &str, buf: &[u8]) -> Result<Value, String> {
    let mut r = Reader { buf, pos: 0 };
    // Types whose JSON form is not an object of their fields.
    match name {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => {
            // Upstream writes a zero time as an empty message.
            if buf.is_empty() {
                return Ok(Value::Null);
            }
            let (mut seconds, mut nanos) = (0i64, 0i64);
            while !r.done() {
                match r.key()? {
                    (1, 0) => seconds = r.varint()? as i64,
                    (2, 0) => nanos = r.varint()? as i64,
                    (_, w) => r.skip(w)?,
                }
            }
            return Ok(timestamp(seconds, nanos, name.ends_with("MicroTime")));
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            let mut s = String::new();
            while !r.done() {
                match r.key()? {
                    (1, 2) => s = utf8(r.bytes()?)?,
                    (_, w) => r.skip(w)?,
                }
            }
            return Ok(Value::String(s));
        }
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            let (mut ty, mut int, mut string) = (0u64, 0i64, String::new());
            while !r.done() {
                match r.key()? {
                    (1, 0) => ty = r.varint()?,
                    (2, 0) => int = r.varint()? as i32 as i64,
                    (3, 2) => string = utf8(r.bytes()?)?,
                    (_, w) => r.skip(w)?,
                }
            }
            return Ok(if ty == 1 {
                Value::String(string)
            } else {
                Value::from(int)
            });
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.Duration" => {
            let mut ns = 0i64;
            while !r.done() {
                match r.key()? {
                    (1, 0) => ns = r.varint()? as i64,
                    (_, w) => r.skip(w)?,
                }
            }
            return Ok(Value::String(go_duration(ns)));
        }
        "io.k8s.apimachinery.pkg.runtime.RawExtension"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON" => {
            let mut v = Value::Null;
            while !r.done() {
                match r.key()? {
                    (1, 2) => v = raw_json(r.bytes()?),
                    (_, w) => r.skip(w)?,
                }
            }
            return Ok(v);
        }
        _ => {}
    }
    let fields = table()
        .0
        .get(name)
        .ok_or_else(|| format!("no protobuf schema for {name}"))?;
    let mut obj = Map::new();
    while !r.done() {
        let (tag, wire) = r.key()?;
        let Some(f) = fields.iter().find(|f| f.tag == tag) else {
            r.skip(wire)?;
            continue;
        };
        if f.kind == "map" {
            let entry = r.bytes()?;
            let (k, v) = map_entry(entry, f.target.as_deref().unwrap_or("string"))?;
            let m = obj
                .entry(f.json.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = m {
                m.insert(k, v);
            }
            continue;
        }
        // Repeated scalars may arrive packed (one length-delimited run of values).
        if f.repeated && wire == 2 && matches!(f.kind.as_str(), "int32" | "int64" | "bool") {
            let mut p = Reader {
                buf: r.bytes()?,
                pos: 0,
            };
            let list = obj
                .entry(f.json.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            while !p.done() {
                let v = scalar(&f.kind, p.varint()?);
                if let Value::Array(a) = list {
                    a.push(v);
                }
            }
            continue;
        }
        let value = match (f.kind.as_str(), wire) {
            ("string", 2) => Value::String(utf8(r.bytes()?)?),
            ("bytes", 2) => Value::String(STANDARD.encode(r.bytes()?)),
            ("int32" | "int64" | "bool", 0) => scalar(&f.kind, r.varint()?),
            ("double", 1) => {
                let b: [u8; 8] = r.fixed(8)?.try_into().expect("eight bytes");
                serde_json::Number::from_f64(f64::from_le_bytes(b))
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
            ("float", 5) => {
                let b: [u8; 4] = r.fixed(4)?.try_into().expect("four bytes");
                serde_json::Number::from_f64(f64::from(f32::from_le_bytes(b)))
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
            ("message", 2) => decode_message(f.target.as_deref().unwrap_or_default(), r.bytes()?)?,
            (kind, w) => {
                return Err(format!(
                    "field {} of {name}: {kind} arrived with wire type {w}",
                    f.json
                ));
            }
        };
        if f.json.is_empty() {
            // An embedded struct that JSON inlines into its parent.
            if let Value::Object(inner) = value {
                obj.extend(inner);
            }
        } else if f.repeated {
            let list = obj
                .entry(f.json.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(value);
            }
        } else if !omitted_zero(&f.json, &value) {
            obj.insert(f.json.clone(), value);
        }
    }
    Ok(Value::Object(obj))
}

/// Non-pointer fields whose zero value upstream's JSON omits (`omitempty`) but its protobuf
/// encoding always writes. Pointer fields are not listed: their zero (`replicas: 0`,
/// `runAsUser: 0`, `automountServiceAccountToken: false`) is meaningful and kept.
const OMITTED_WHEN_ZERO: &[&str] = &[
    "stdin",
    "stdinOnce",
    "tty",
    "hostPort",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "minReadySeconds",
    "paused",
    "generation",
    "observedGeneration",
    "readOnly",
    "publishNotReadyAddresses",
    "nodePort",
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
    "unschedulable",
];

/// Whether a decoded value is one Go writes in protobuf but omits in JSON: an empty string, an
/// unset time, or a listed non-pointer field at zero.
fn omitted_zero(field: &str, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(false) => OMITTED_WHEN_ZERO.contains(&field),
        Value::Number(n) => n.as_i64() == Some(0) && OMITTED_WHEN_ZERO.contains(&field),
        _ => false,
    }
}

fn scalar(kind: &str, v: u64) -> Value {
    match kind {
        "bool" => Value::Bool(v != 0),
        "int32" => Value::from(v as i64 as i32),
        _ => Value::from(v as i64),
    }
}

fn map_entry(buf: &[u8], value_kind: &str) -> Result<(String, Value), String> {
    let mut r = Reader { buf, pos: 0 };
    let (mut k, mut v) = (String::new(), Value::Null);
    while !r.done() {
        match r.key()? {
            (1, 2) => k = utf8(r.bytes()?)?,
            (2, 2) => {
                let b = r.bytes()?;
                v = match value_kind {
                    "string" => Value::String(utf8(b)?),
                    "bytes" => Value::String(STANDARD.encode(b)),
                    message => decode_message(message, b)?,
                };
            }
            (_, w) => r.skip(w)?,
        }
    }
    if v.is_null() && value_kind == "string" {
        v = Value::String(String::new());
    }
    Ok((k, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Minimal protobuf writer for building test bodies.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field_bytes(tag: u64, b: &[u8], out: &mut Vec<u8>) {
        varint(tag << 3 | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
    fn field_varint(tag: u64, v: u64, out: &mut Vec<u8>) {
        varint(tag << 3, out);
        varint(v, out);
    }
    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut tm = Vec::new();
        field_bytes(1, api_version.as_bytes(), &mut tm);
        field_bytes(2, kind.as_bytes(), &mut tm);
        let mut u = MAGIC.to_vec();
        field_bytes(1, &tm, &mut u);
        field_bytes(2, raw, &mut u);
        field_bytes(3, b"", &mut u);
        field_bytes(4, b"", &mut u);
        u
    }

    #[test]
    fn a_config_map_decodes_with_its_metadata_and_data() {
        let mut meta = Vec::new();
        field_bytes(1, b"app", &mut meta);
        field_bytes(2, b"", &mut meta); // generateName, empty: omitted as in JSON
        let mut created = Vec::new();
        field_varint(1, ZERO_TIME_SECONDS as u64, &mut created);
        field_bytes(8, &created, &mut meta); // zero creationTimestamp: omitted
        let mut label = Vec::new();
        field_bytes(1, b"tier", &mut label);
        field_bytes(2, b"web", &mut label);
        field_bytes(11, &label, &mut meta);
        let mut cm = Vec::new();
        field_bytes(1, &meta, &mut cm);
        let mut entry = Vec::new();
        field_bytes(1, b"a", &mut entry);
        field_bytes(2, b"1", &mut entry);
        field_bytes(2, &entry, &mut cm);
        let obj = decode_body(&envelope("v1", "ConfigMap", &cm)).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "labels": {"tier": "web"}}, "data": {"a": "1"}})
        );
    }

    #[test]
    fn special_types_take_their_json_forms() {
        assert_eq!(timestamp(0, 0, false), json!("1970-01-01T00:00:00Z"));
        assert_eq!(
            timestamp(1, 5_000, true),
            json!("1970-01-01T00:00:01.000005Z")
        );
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(300_000_000), "300ms");
        let mut ios = Vec::new();
        field_varint(1, 1, &mut ios);
        field_bytes(3, b"http", &mut ios);
        assert_eq!(
            decode_message("io.k8s.apimachinery.pkg.util.intstr.IntOrString", &ios).unwrap(),
            json!("http")
        );
        let mut q = Vec::new();
        field_bytes(1, b"500m", &mut q);
        assert_eq!(
            decode_message("io.k8s.apimachinery.pkg.api.resource.Quantity", &q).unwrap(),
            json!("500m")
        );
    }

    #[test]
    fn kinds_resolve_to_upstreams_message_names() {
        assert_eq!(
            message_name("apps/v1", "Deployment").as_deref(),
            Some("io.k8s.api.apps.v1.Deployment")
        );
        assert_eq!(
            message_name("storage.k8s.io/v1", "CSIDriver").as_deref(),
            Some("io.k8s.api.storage.v1.CSIDriver")
        );
        assert_eq!(
            message_name("rbac.authorization.k8s.io/v1", "Role").as_deref(),
            Some("io.k8s.api.rbac.v1.Role")
        );
        assert_eq!(
            message_name("apiextensions.k8s.io/v1", "CustomResourceDefinition").as_deref(),
            Some(
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
            )
        );
        assert!(message_name("v1", "Nope").is_none());
        assert_eq!(
            message_name("v1", "DeleteOptions").as_deref(),
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        );
    }

    #[test]
    fn every_message_a_field_refers_to_is_in_the_table() {
        let (t, _) = table();
        let scalars = ["string", "bytes"];
        for (name, fields) in t {
            for f in fields {
                if let Some(target) = &f.target
                    && !scalars.contains(&target.as_str())
                {
                    assert!(
                        t.contains_key(target),
                        "{name}.{} refers to unknown {target}",
                        f.json
                    );
                }
            }
        }
        assert!(t.len() > 1000);
    }

    #[test]
    fn zero_values_go_omits_in_json_are_dropped_and_meaningful_ones_kept() {
        assert!(omitted_zero("stdin", &json!(false)));
        assert!(omitted_zero("hostPort", &json!(0)));
        assert!(!omitted_zero("replicas", &json!(0)));
        assert!(!omitted_zero("runAsUser", &json!(0)));
        assert!(!omitted_zero("automountServiceAccountToken", &json!(false)));
        assert!(omitted_zero("generateName", &json!("")));
        assert_eq!(
            decode_message("io.k8s.apimachinery.pkg.apis.meta.v1.Time", &[]).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_body(b"k8s\0\x0a\xff").is_err());
        assert!(decode_body(b"not protobuf").is_err());
    }
}
