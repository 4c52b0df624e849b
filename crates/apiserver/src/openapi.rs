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
