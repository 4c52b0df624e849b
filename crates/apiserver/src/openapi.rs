//! `/openapi/v3`: the index of group-version documents and the documents themselves.
//!
//! Documents are generated once from the resource table and cached with a content hash; the
//! index points at `?hash=` URLs so that clients (kubectl caches them on disk) refetch only
//! what changed.

use std::collections::{BTreeMap, hash_map::DefaultHasher};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use bosun_api::{ResourceTable, openapi};
use bytes::Bytes;
use serde_json::{Value, json};

/// Generated documents, keyed by group-version path (`api/v1`, `apis/apps/v1`).
#[derive(Default)]
pub struct OpenApiCache {
    docs: Mutex<Option<BTreeMap<String, (String, Bytes)>>>,
}

impl OpenApiCache {
    fn build(table: &ResourceTable) -> BTreeMap<String, (String, Bytes)> {
        let mut gvs: Vec<(String, String)> = vec![(String::new(), "v1".to_string())];
        for (g, versions) in table.groups() {
            for v in versions {
                gvs.push((g.clone(), v));
            }
        }
        let mut out = BTreeMap::new();
        for (g, v) in gvs {
            if let Some(doc) = openapi::document(table, &g, &v, &crate::git_version()) {
                let bytes = Bytes::from(serde_json::to_vec(&doc).expect("documents serialize"));
                let mut h = DefaultHasher::new();
                bytes.hash(&mut h);
                out.insert(
                    openapi::gv_path(&g, &v),
                    (format!("{:016X}", h.finish()), bytes),
                );
            }
        }
        out
    }

    fn with<R>(
        &self,
        table: &ResourceTable,
        f: impl FnOnce(&BTreeMap<String, (String, Bytes)>) -> R,
    ) -> R {
        let mut docs = self.docs.lock().expect("openapi cache lock");
        let docs = docs.get_or_insert_with(|| Self::build(table));
        f(docs)
    }

    /// Forgets the documents, after the resource table changed.
    pub fn invalidate(&self) {
        *self.docs.lock().expect("openapi cache lock") = None;
    }

    /// `/openapi/v3`.
    pub fn index(&self, table: &ResourceTable) -> Value {
        self.with(table, |docs| {
            let paths: serde_json::Map<String, Value> = docs
                .iter()
                .map(|(path, (hash, _))| {
                    (
                        path.clone(),
                        json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
                    )
                })
                .collect();
            json!({"paths": paths})
        })
    }

    /// `/openapi/v3/<path>`.
    pub fn document(&self, table: &ResourceTable, path: &str) -> Option<Bytes> {
        self.with(table, |docs| docs.get(path).map(|(_, b)| b.clone()))
    }
}

/// `/openapi/v2`: a minimal Swagger 2.0 document. Kinds are described in the v3 documents;
/// kubectl still asks v2 about kinds v3 cannot answer for (a `List` file) and, finding nothing
/// there, falls back to its own handling instead of failing. kubectl reads it as gnostic's
/// protobuf `openapi.v2.Document`, other clients as JSON.
pub fn v2_document(protobuf: bool) -> (Bytes, &'static str) {
    let version = crate::git_version();
    if !protobuf {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}, "definitions": {}});
        return (Bytes::from(doc.to_string()), "application/json");
    }
    fn field(tag: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(tag << 3 | 2);
        let mut len = body.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(body);
    }
    let mut info = Vec::new();
    field(1, b"Kubernetes", &mut info);
    field(2, version.as_bytes(), &mut info);
    let mut doc = Vec::new();
    field(1, b"2.0", &mut doc);
    field(2, &info, &mut doc);
    field(8, &[], &mut doc);
    field(9, &[], &mut doc);
    (
        Bytes::from(doc),
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
    )
}
