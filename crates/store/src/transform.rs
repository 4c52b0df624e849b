//! Transforming values on their way to and from storage (encryption at rest).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::error::{Result, StoreError};
use crate::store::{
    Event, GetResult, KeyRange, KeyValue, LeaseId, ListOptions, ListResult, Revision, Store,
    WatchStream,
};

/// Turns a plain value into its stored form and back. Implementations may choose per key,
/// e.g. to encrypt only `/registry/secrets/`.
pub trait ValueTransformer: Send + Sync + 'static {
    /// The form written to storage.
    fn encode(&self, key: &str, plain: Bytes) -> Result<Bytes>;
    /// The plain value of a stored one.
    fn decode(&self, key: &str, stored: Bytes) -> Result<Bytes>;
}

/// A store whose values pass through a [`ValueTransformer`]; the backend below sees only
/// stored forms, callers only plain values.
pub struct Transformed<S> {
    inner: S,
    transformer: Arc<dyn ValueTransformer>,
}

impl<S: Store> Transformed<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, transformer: Arc<dyn ValueTransformer>) -> Self {
        Transformed { inner, transformer }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

fn decode(t: &dyn ValueTransformer, mut kv: KeyValue) -> Result<KeyValue> {
    if !kv.value.is_empty() || kv.create_revision != 0 {
        kv.value = t.decode(&kv.key, kv.value)?;
    }
    Ok(kv)
}

fn decode_event(t: &dyn ValueTransformer, ev: Event) -> Result<Event> {
    let kv = match ev.kind {
        crate::EventKind::Put => decode(t, ev.kv)?,
        crate::EventKind::Delete | crate::EventKind::Progress => ev.kv,
    };
    let prev = ev.prev.map(|p| decode(t, p)).transpose()?;
    Ok(Event {
        kind: ev.kind,
        kv,
        prev,
    })
}

fn decode_error(t: &dyn ValueTransformer, e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict {
            key,
            expected,
            current,
        } => match decode(t, *current) {
            Ok(kv) => StoreError::Conflict {
                key,
                expected,
                current: Box::new(kv),
            },
            Err(e) => e,
        },
        e => e,
    }
}

#[async_trait]
impl<S: Store> Store for Transformed<S> {
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult> {
        let r = self.inner.get(key, revision).await?;
        let kv = r.kv.map(|kv| decode(&*self.transformer, kv)).transpose()?;
        Ok(GetResult {
            kv,
            revision: r.revision,
        })
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let mut r = self.inner.list(prefix, options).await?;
        r.kvs = r
            .kvs
            .into_iter()
            .map(|kv| decode(&*self.transformer, kv))
            .collect::<Result<_>>()?;
        Ok(r)
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        self.inner.count(prefix).await
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        let stored = self.transformer.encode(key, value)?;
        self.inner.create(key, stored, lease).await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        let stored = self.transformer.encode(key, value)?;
        self.inner
            .update(key, stored, expected, lease)
            .await
            .map_err(|e| decode_error(&*self.transformer, e))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        let (rev, kv) = self
            .inner
            .delete(key, expected)
            .await
            .map_err(|e| decode_error(&*self.transformer, e))?;
        Ok((rev, decode(&*self.transformer, kv)?))
    }

    fn reports_progress(&self) -> bool {
        self.inner.reports_progress()
    }

    async fn watch_with_progress(
        &self,
        range: KeyRange,
        start: Option<Revision>,
    ) -> Result<WatchStream> {
        let t = self.transformer.clone();
        let stream = self.inner.watch_with_progress(range, start).await?;
        Ok(Box::pin(
            stream.map(move |ev| ev.and_then(|ev| decode_event(&*t, ev))),
        ))
    }

    async fn watch(&self, range: KeyRange, start: Option<Revision>) -> Result<WatchStream> {
        let t = self.transformer.clone();
        let stream = self.inner.watch(range, start).await?;
        Ok(Box::pin(
            stream.map(move |ev| ev.and_then(|ev| decode_event(&*t, ev))),
        ))
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        self.inner.grant_lease(ttl).await
    }

    async fn revoke_lease(&self, id: LeaseId) -> Result<()> {
        self.inner.revoke_lease(id).await
    }
}
