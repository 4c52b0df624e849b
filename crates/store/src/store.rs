//! The store contract: etcd v3 semantics, spoken by every backend.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::error::Result;
use crate::keys;

/// A store revision: a counter that every successful write advances by one.
pub type Revision = i64;

/// A lease's id; keys attached to a lease are deleted when it expires or is revoked.
pub type LeaseId = i64;

/// The largest value the store accepts: 1.5 MiB, etcd's default request limit.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

/// One stored key with its value and revision bookkeeping, as etcd reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (empty in a delete event's `kv`).
    pub value: Bytes,
    /// The revision at which the key was created (0 in a delete event's `kv`).
    pub create_revision: Revision,
    /// The revision of the last change to the key.
    pub mod_revision: Revision,
    /// How many times the key was written since it was created (1 on create).
    pub version: i64,
    /// The lease the key is attached to, 0 for none.
    pub lease: LeaseId,
}

/// What happened to a key in a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted (by a client, or by its lease expiring).
    Delete,
    /// Not a change: the watch has seen every change in its range up to `kv.mod_revision`.
    /// Only [`Store::watch_with_progress`] delivers these.
    Progress,
}

/// One change delivered by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the change; for a delete only `key` and `mod_revision` are set.
    pub kv: KeyValue,
    /// The value the change replaced: none for a create.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which the change happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }

    /// Whether this put created the key (rather than updating it).
    pub fn is_create(&self) -> bool {
        self.kind == EventKind::Put && self.kv.create_revision == self.kv.mod_revision
    }
}

/// Which keys a watch follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    /// Exactly one key.
    Key(String),
    /// Every key below a directory prefix (see [`keys::dir_prefix`]).
    Prefix(String),
}

impl KeyRange {
    /// The half-open byte range `[start, end)` this range covers.
    pub fn bounds(&self) -> (String, Vec<u8>) {
        match self {
            KeyRange::Key(k) => {
                let mut end = k.as_bytes().to_vec();
                end.push(0);
                (k.clone(), end)
            }
            KeyRange::Prefix(p) => {
                let p = keys::dir_prefix(p);
                let end = keys::prefix_end(&p);
                (p, end)
            }
        }
    }

    /// Whether `key` falls in this range.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeyRange::Key(k) => k == key,
            KeyRange::Prefix(p) => {
                let b = key.as_bytes();
                let p = p.as_bytes();
                if p.ends_with(b"/") {
                    b.starts_with(p)
                } else {
                    b.len() > p.len() && b.starts_with(p) && b[p.len()] == b'/'
                }
            }
        }
    }
}

/// How to read a prefix.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Read at this revision instead of the current one.
    pub revision: Option<Revision>,
    /// Return at most this many keys (`more` tells whether any were left out).
    pub limit: Option<usize>,
    /// Start at this key (inclusive) instead of the prefix's beginning: the continuation of
    /// a previous page, read at that page's revision.
    pub start_key: Option<String>,
}

/// The answer to a get.
#[derive(Clone, Debug)]
pub struct GetResult {
    /// The key, if it exists at the revision read.
    pub kv: Option<KeyValue>,
    /// The revision the read reflects.
    pub revision: Revision,
}

/// The answer to a list.
#[derive(Clone, Debug)]
pub struct ListResult {
    /// The keys in key order.
    pub kvs: Vec<KeyValue>,
    /// The revision the read reflects (the one asked for, or the current one).
    pub revision: Revision,
    /// Whether keys beyond `limit` remain.
    pub more: bool,
    /// How many keys the range held from the start key on, ignoring the limit.
    pub count: i64,
}

/// A stream of watch events in revision order. A watch that cannot continue ends with one
/// error: [`crate::StoreError::Compacted`] when its start revision (or the point it fell
/// behind to) has been compacted, [`crate::StoreError::Unavailable`] when the backend is lost.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Event>> + Send>>;

/// The datastore contract, with etcd v3 semantics.
///
/// Every write advances the store's revision by one and returns it; the revision never goes
/// back, across restarts too. Reads at an older revision and watches from one work until that
/// revision is compacted. Prefixes are directories: `/a` covers `/a/x`, never `/ab`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key at the current revision or at `revision`.
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult>;

    /// Reads the keys below a prefix in key order, optionally paged and at a revision.
    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult>;

    /// Counts the keys below a prefix at the current revision.
    async fn count(&self, prefix: &str) -> Result<i64>;

    /// Creates a key that must not exist yet; returns the new revision.
    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision>;

    /// Replaces a key's value if its mod revision is still `expected`; returns the new
    /// revision, or [`crate::StoreError::Conflict`] carrying the current value.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Revision>;

    /// Deletes a key, if `expected` is given only while its mod revision is still that;
    /// returns the new revision and the value deleted.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)>;

    /// Follows changes in `range`, from `start` (inclusive) or, with `None`, from the next
    /// revision on. Each event carries the value it replaced.
    async fn watch(&self, range: KeyRange, start: Option<Revision>) -> Result<WatchStream>;

    /// Like [`Store::watch`], and also reports progress ([`EventKind::Progress`]) shortly after
    /// the store moves past revisions with no change in `range`, so a cache fed by the watch
    /// can tell that it is current. Backends that cannot tell deliver changes only.
    async fn watch_with_progress(
        &self,
        range: KeyRange,
        start: Option<Revision>,
    ) -> Result<WatchStream> {
        self.watch(range, start).await
    }

    /// Whether [`Store::watch_with_progress`] reports progress, so a cache fed by it can wait
    /// to become current instead of giving up at once.
    fn reports_progress(&self) -> bool {
        false
    }

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision>;

    /// Discards history older than `revision`: reads and watches below it then fail with
    /// [`crate::StoreError::Compacted`]. The latest value of every key is kept.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// Creates a lease that expires after `ttl` (rounded up to whole seconds).
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId>;

    /// Revokes a lease at once, deleting every key attached to it.
    async fn revoke_lease(&self, id: LeaseId) -> Result<()>;
}

/// Refuses values over [`MAX_VALUE_BYTES`] before they reach a backend.
pub(crate) fn check_value_size(key: &str, value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(crate::StoreError::TooLarge {
            key: key.to_string(),
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    if key.is_empty() {
        return Err(crate::StoreError::InvalidArgument("empty key".into()));
    }
    Ok(())
}

/// Whole seconds of a lease TTL, at least one.
pub(crate) fn ttl_seconds(ttl: Duration) -> i64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    secs.max(1) as i64
}

/// A shared store is a store: lets `Arc<dyn Store>` stand wherever a `Store` is expected.
#[async_trait]
impl<T: Store + ?Sized> Store for std::sync::Arc<T> {
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult> {
        (**self).get(key, revision).await
    }
    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        (**self).list(prefix, options).await
    }
    async fn count(&self, prefix: &str) -> Result<i64> {
        (**self).count(prefix).await
    }
    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        (**self).create(key, value, lease).await
    }
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        (**self).update(key, value, expected, lease).await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        (**self).delete(key, expected).await
    }
    async fn watch(&self, range: KeyRange, start: Option<Revision>) -> Result<WatchStream> {
        (**self).watch(range, start).await
    }
    async fn watch_with_progress(
        &self,
        range: KeyRange,
        start: Option<Revision>,
    ) -> Result<WatchStream> {
        (**self).watch_with_progress(range, start).await
    }
    fn reports_progress(&self) -> bool {
        (**self).reports_progress()
    }
    async fn current_revision(&self) -> Result<Revision> {
        (**self).current_revision().await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        (**self).compact(revision).await
    }
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        (**self).grant_lease(ttl).await
    }
    async fn revoke_lease(&self, id: LeaseId) -> Result<()> {
        (**self).revoke_lease(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_does_not_contain_a_sibling_with_a_longer_name() {
        let r = KeyRange::Prefix("/a".into());
        assert!(r.contains("/a/x"));
        assert!(!r.contains("/ab"));
        assert!(!r.contains("/ab/x"));
        assert!(!r.contains("/a"));
        let r = KeyRange::Prefix("/a/".into());
        assert!(r.contains("/a/x"));
        assert!(!r.contains("/ab"));
    }

    #[test]
    fn a_key_range_contains_only_its_key() {
        let r = KeyRange::Key("/a/x".into());
        assert!(r.contains("/a/x"));
        assert!(!r.contains("/a/xy"));
        assert_eq!(r.bounds(), ("/a/x".to_string(), b"/a/x\0".to_vec()));
    }

    #[test]
    fn lease_ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(ttl_seconds(Duration::ZERO), 1);
        assert_eq!(ttl_seconds(Duration::from_secs(3600)), 3600);
    }
}
