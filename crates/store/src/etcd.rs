//! The HA backend: a client of an etcd v3 cluster.
//!
//! Each operation is one etcd request; guarded writes are transactions comparing the key's
//! create or mod revision, exactly as upstream's apiserver storage does, so several Bosun
//! servers can share one etcd cluster safely.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions,
    Identity, KvClient, LeaseClient, PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse,
    WatchClient, WatchOptions,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{Result, StoreError};
use crate::keys;
use crate::store::{
    self as contract, Event, EventKind, GetResult, KeyRange, KeyValue, LeaseId, ListOptions,
    ListResult, Revision, Store, WatchStream,
};

/// Client TLS material for `https://` endpoints, as PEM.
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    /// CA certificate(s) that signed the etcd servers' certificates.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key for mutual TLS.
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

/// Responses may be as large as the objects a list returns: upstream's apiserver lifts gRPC's
/// 4 MiB default for the same reason, or a list of a few thousand objects would fail.
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// A store backed by an etcd v3 cluster.
#[derive(Clone)]
pub struct EtcdStore {
    kv: KvClient,
    watch: WatchClient,
    lease: LeaseClient,
}

impl EtcdStore {
    /// Connects to the given endpoints (`http://host:port` or `https://host:port`).
    pub async fn connect(endpoints: &[String], tls: Option<EtcdTls>) -> Result<Self> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(10));
        if let Some(tls) = tls {
            let mut t = TlsOptions::new();
            if let Some(ca) = tls.ca_pem {
                t = t.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = tls.identity_pem {
                t = t.identity(Identity::from_pem(cert, key));
            }
            options = options.with_tls(t);
        }
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("connecting to etcd {endpoints:?}: {e}"))
            })?;
        Ok(EtcdStore {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES)
                .max_encoding_message_size(MAX_RESPONSE_BYTES),
            watch: client
                .watch_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            lease: client.lease_client(),
        })
    }

    fn kv(&self) -> KvClient {
        self.kv.clone()
    }
}

/// Maps etcd's errors onto the contract's, by the messages etcd's server defines.
fn map_err(e: etcd_client::Error, requested: Revision) -> StoreError {
    let msg = e.to_string();
    if msg.contains("required revision has been compacted") {
        StoreError::Compacted { requested }
    } else if msg.contains("required revision is a future revision") {
        StoreError::FutureRevision { requested }
    } else if msg.contains("request is too large") {
        StoreError::TooLarge {
            key: String::new(),
            size: 0,
            limit: contract::MAX_VALUE_BYTES,
        }
    } else if msg.contains("requested lease not found") {
        StoreError::LeaseNotFound { id: 0 }
    } else {
        StoreError::Unavailable(format!("etcd: {msg}"))
    }
}

fn convert(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    Ok(KeyValue {
        key: String::from_utf8(kv.key().to_vec())
            .map_err(|_| StoreError::Unavailable("etcd returned a key that is not UTF-8".into()))?,
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    })
}

fn header_revision(h: Option<&etcd_client::ResponseHeader>) -> Revision {
    h.map(|h| h.revision()).unwrap_or(0)
}

fn put_options(lease: Option<LeaseId>) -> Option<PutOptions> {
    lease
        .filter(|l| *l != 0)
        .map(|l| PutOptions::new().with_lease(l))
}

fn fix_lease_error(e: StoreError, lease: Option<LeaseId>) -> StoreError {
    match e {
        StoreError::LeaseNotFound { .. } => StoreError::LeaseNotFound {
            id: lease.unwrap_or(0),
        },
        e => e,
    }
}

fn fix_size_error(e: StoreError, key: &str, size: usize) -> StoreError {
    match e {
        StoreError::TooLarge { limit, .. } => StoreError::TooLarge {
            key: key.into(),
            size,
            limit,
        },
        e => e,
    }
}

/// The current value in a failed transaction's `get` branch.
fn current_from(resp: &etcd_client::TxnResponse) -> Result<Option<KeyValue>> {
    for op in resp.op_responses() {
        if let TxnOpResponse::Get(g) = op {
            return g.kvs().first().map(convert).transpose();
        }
    }
    Ok(None)
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult> {
        let rev = revision.unwrap_or(0).max(0);
        let resp = self
            .kv()
            .get(key, Some(GetOptions::new().with_revision(rev)))
            .await
            .map_err(|e| map_err(e, rev))?;
        let kv = resp.kvs().first().map(convert).transpose()?;
        let revision = if rev > 0 {
            rev
        } else {
            header_revision(resp.header())
        };
        Ok(GetResult { kv, revision })
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let prefix = keys::dir_prefix(prefix);
        let end = keys::prefix_end(&prefix);
        let start = match &options.start_key {
            Some(s) if s.as_str() > prefix.as_str() => s.clone(),
            _ => prefix.clone(),
        };
        let rev = options.revision.unwrap_or(0).max(0);
        let mut get = GetOptions::new().with_range(end).with_revision(rev);
        if let Some(limit) = options.limit {
            get = get.with_limit(limit as i64);
        }
        let resp = self
            .kv()
            .get(start, Some(get))
            .await
            .map_err(|e| map_err(e, rev))?;
        let kvs = resp.kvs().iter().map(convert).collect::<Result<Vec<_>>>()?;
        let revision = if rev > 0 {
            rev
        } else {
            header_revision(resp.header())
        };
        Ok(ListResult {
            kvs,
            revision,
            more: resp.more(),
            count: resp.count(),
        })
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let prefix = keys::dir_prefix(prefix);
        let end = keys::prefix_end(&prefix);
        let resp = self
            .kv()
            .get(
                prefix,
                Some(GetOptions::new().with_range(end).with_count_only()),
            )
            .await
            .map_err(|e| map_err(e, 0))?;
        Ok(resp.count())
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        contract::check_value_size(key, &value)?;
        let size = value.len();
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.to_vec(), put_options(lease))]);
        let resp = self
            .kv()
            .txn(txn)
            .await
            .map_err(|e| fix_size_error(fix_lease_error(map_err(e, 0), lease), key, size))?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists {
                key: key.to_string(),
            });
        }
        Ok(header_revision(resp.header()))
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        contract::check_value_size(key, &value)?;
        if expected <= 0 {
            return Err(StoreError::InvalidArgument(format!(
                "update of {key:?} needs the expected revision, got {expected}"
            )));
        }
        let size = value.len();
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, value.to_vec(), put_options(lease))])
            .or_else([TxnOp::get(key, None)]);
        let resp = self
            .kv()
            .txn(txn)
            .await
            .map_err(|e| fix_size_error(fix_lease_error(map_err(e, 0), lease), key, size))?;
        if !resp.succeeded() {
            return Err(match current_from(&resp)? {
                None => StoreError::NotFound {
                    key: key.to_string(),
                },
                Some(current) => StoreError::Conflict {
                    key: key.to_string(),
                    expected,
                    current: Box::new(current),
                },
            });
        }
        Ok(header_revision(resp.header()))
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        let compare = match expected {
            Some(rev) => Compare::mod_revision(key, CompareOp::Equal, rev),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::delete(
                key,
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.kv().txn(txn).await.map_err(|e| map_err(e, 0))?;
        if !resp.succeeded() {
            return Err(match (current_from(&resp)?, expected) {
                (Some(current), Some(expected)) => StoreError::Conflict {
                    key: key.to_string(),
                    expected,
                    current: Box::new(current),
                },
                _ => StoreError::NotFound {
                    key: key.to_string(),
                },
            });
        }
        for op in resp.op_responses() {
            if let TxnOpResponse::Delete(d) = op
                && let Some(prev) = d.prev_kvs().first()
            {
                return Ok((header_revision(resp.header()), convert(prev)?));
            }
        }
        Err(StoreError::NotFound {
            key: key.to_string(),
        })
    }

    async fn watch(&self, range: KeyRange, start: Option<Revision>) -> Result<WatchStream> {
        let start = match start {
            Some(s) if s > 0 => s,
            _ => self.current_revision().await? + 1,
        };
        let (from, end) = range.bounds();
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(start)
            .with_prev_key();
        let mut stream = self
            .watch
            .clone()
            .watch(from, Some(options))
            .await
            .map_err(|e| map_err(e, start))?;
        let (tx, rx) = mpsc::channel(512);
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = stream.message() => m,
                    _ = tx.closed() => return,
                };
                let resp = match message {
                    Ok(Some(resp)) => resp,
                    Ok(None) => {
                        let _ = tx
                            .send(Err(StoreError::Unavailable("etcd watch ended".into())))
                            .await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(map_err(e, start))).await;
                        return;
                    }
                };
                if resp.canceled() {
                    let err = if resp.compact_revision() > 0 {
                        StoreError::Compacted { requested: start }
                    } else {
                        StoreError::Unavailable(format!(
                            "etcd canceled the watch: {}",
                            resp.cancel_reason()
                        ))
                    };
                    let _ = tx.send(Err(err)).await;
                    return;
                }
                for ev in resp.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let event = convert(kv).and_then(|kv| {
                        Ok(Event {
                            kind: match ev.event_type() {
                                EventType::Put => EventKind::Put,
                                EventType::Delete => EventKind::Delete,
                            },
                            kv,
                            prev: ev.prev_kv().map(convert).transpose()?,
                        })
                    });
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(ReceiverStream::new(rx)))
    }

    async fn current_revision(&self) -> Result<Revision> {
        let resp = self
            .kv()
            .get("/", Some(GetOptions::new().with_count_only()))
            .await
            .map_err(|e| map_err(e, 0))?;
        Ok(header_revision(resp.header()))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.kv()
            .compact(revision, None)
            .await
            .map_err(|e| map_err(e, revision))?;
        Ok(())
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let resp = self
            .lease
            .clone()
            .grant(contract::ttl_seconds(ttl), None)
            .await
            .map_err(|e| map_err(e, 0))?;
        Ok(resp.id())
    }

    async fn revoke_lease(&self, id: LeaseId) -> Result<()> {
        self.lease
            .clone()
            .revoke(id)
            .await
            .map_err(|e| fix_lease_error(map_err(e, 0), Some(id)))?;
        Ok(())
    }
}
