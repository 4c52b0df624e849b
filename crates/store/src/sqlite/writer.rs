//! The single writer: group commit, compaction steps and lease expiry.
//!
//! All writes go through one thread that owns the write connection. It takes every request
//! waiting in its queue, applies them in order inside one transaction and commits once, so
//! concurrent writers share a single fsync. Only after the commit is durable are the batch's
//! events published to watchers and the writers answered. Between batches it removes a bounded
//! slice of compacted history and expires due leases, so neither stalls writers for long.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{broadcast, oneshot};

use super::schema::{self, meta};
use crate::error::{Result, StoreError};
use crate::store::{Event, EventKind, KeyValue};

/// A change the writer applies.
#[derive(Debug)]
pub(super) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
        lease: i64,
    },
    Update {
        key: String,
        value: Bytes,
        expected: i64,
        lease: i64,
    },
    Delete {
        key: String,
        expected: Option<i64>,
    },
    Compact {
        revision: i64,
    },
    GrantLease {
        ttl_seconds: i64,
    },
    RevokeLease {
        id: i64,
    },
}

/// What a successful write yields.
#[derive(Debug)]
pub(super) enum WriteOutcome {
    Revision(i64),
    Deleted(i64, KeyValue),
    Lease(i64),
    Done,
}

/// A queued write with the channel its answer goes to.
pub(super) struct WriteRequest {
    pub op: WriteOp,
    pub reply: Option<oneshot::Sender<Result<WriteOutcome>>>,
}

/// What the writer's queue carries.
pub(super) enum Message {
    Write(WriteRequest),
    Shutdown,
}

/// Events of one commit, in revision order.
pub(super) type CommitEvents = Arc<Vec<Event>>;

/// Tunables of the writer loop.
#[derive(Clone, Debug)]
pub(super) struct WriterTuning {
    pub max_batch: usize,
    pub compaction_step: i64,
    pub lease_check_interval: Duration,
}

/// Counters the writer keeps in memory, mirrored in `meta`.
#[derive(Clone, Copy, Debug)]
struct Counters {
    revision: i64,
    compact_rev: i64,
    compact_done: i64,
    lease_seq: i64,
}

/// The writer thread's state.
pub(super) struct Writer {
    conn: Connection,
    counters: Counters,
    hub: broadcast::Sender<CommitEvents>,
    tuning: WriterTuning,
    stats: Arc<super::SqliteStats>,
    /// Held for the writer's lifetime: the lock that keeps other processes off the file.
    _lock: std::fs::File,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        hub: broadcast::Sender<CommitEvents>,
        tuning: WriterTuning,
        lock: std::fs::File,
        stats: Arc<super::SqliteStats>,
    ) -> Result<Self> {
        let counters = Counters {
            revision: schema::read_meta(&conn, meta::REVISION, schema::INITIAL_REVISION)?,
            compact_rev: schema::read_meta(&conn, meta::COMPACT_REV, 0)?,
            compact_done: schema::read_meta(&conn, meta::COMPACT_DONE, 0)?,
            lease_seq: schema::read_meta(&conn, meta::LEASE_SEQ, 0)?,
        };
        Ok(Writer {
            conn,
            counters,
            hub,
            tuning,
            stats,
            _lock: lock,
        })
    }

    /// Serves the queue until it closes or asks to shut down.
    pub(super) fn run(mut self, queue: Receiver<Message>) {
        let mut next_lease_check = Instant::now();
        loop {
            let wait = if self.compaction_pending() {
                Duration::ZERO
            } else {
                next_lease_check.saturating_duration_since(Instant::now())
            };
            let mut batch = Vec::new();
            let mut shutdown = false;
            match queue.recv_timeout(wait) {
                Ok(Message::Write(r)) => batch.push(r),
                Ok(Message::Shutdown) | Err(RecvTimeoutError::Disconnected) => shutdown = true,
                Err(RecvTimeoutError::Timeout) => {}
            }
            while !shutdown && !batch.is_empty() && batch.len() < self.tuning.max_batch {
                match queue.try_recv() {
                    Ok(Message::Write(r)) => batch.push(r),
                    Ok(Message::Shutdown) => shutdown = true,
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit(batch);
            }
            if shutdown {
                break;
            }
            if Instant::now() >= next_lease_check {
                self.expire_leases();
                next_lease_check = Instant::now() + self.tuning.lease_check_interval;
            }
            if self.compaction_pending()
                && let Err(e) = self.compaction_step()
            {
                tracing::warn!(error = %e, "compaction step failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::debug!(error = %e, "final checkpoint");
        }
    }

    /// Applies a batch in one transaction, commits it durably, then publishes and answers.
    fn commit(&mut self, batch: Vec<WriteRequest>) {
        let before = self.counters;
        let mut counters = self.counters;
        let mut events = Vec::new();
        let mut results = Vec::with_capacity(batch.len());
        let committed: Result<()> = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for req in &batch {
                match apply(&tx, &mut counters, &req.op, &mut events) {
                    Err(StoreError::Unavailable(e)) => return Err(StoreError::Unavailable(e)),
                    r => results.push(r),
                }
            }
            if counters.revision != before.revision {
                schema::write_meta(&tx, meta::REVISION, counters.revision)?;
            }
            if counters.compact_rev != before.compact_rev {
                schema::write_meta(&tx, meta::COMPACT_REV, counters.compact_rev)?;
            }
            if counters.lease_seq != before.lease_seq {
                schema::write_meta(&tx, meta::LEASE_SEQ, counters.lease_seq)?;
            }
            tx.commit()?;
            Ok(())
        })();
        match committed {
            Ok(()) => {
                self.counters = counters;
                self.stats
                    .writes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                if !events.is_empty() {
                    // No receivers is fine: nobody watches.
                    let _ = self.hub.send(Arc::new(events));
                }
                for (req, result) in batch.into_iter().zip(results) {
                    if let Some(reply) = req.reply {
                        let _ = reply.send(result);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; batch rolled back");
                let msg = e.to_string();
                for req in batch {
                    if let Some(reply) = req.reply {
                        let _ = reply.send(Err(StoreError::Unavailable(msg.clone())));
                    }
                }
            }
        }
    }

    fn compaction_pending(&self) -> bool {
        self.counters.compact_done < self.counters.compact_rev
    }

    /// Physically removes one slice of compacted history: for every row in the slice, the
    /// version it superseded, and every tombstone. What remains below the compacted revision
    /// is exactly the latest live version of each key.
    fn compaction_step(&mut self) -> Result<()> {
        let from = self.counters.compact_done;
        let to = self
            .counters
            .compact_rev
            .min(from + self.tuning.compaction_step);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(
            "DELETE FROM log WHERE rev IN
             (SELECT prev_rev FROM log WHERE rev >= ?1 AND rev < ?2 AND prev_rev != 0)",
        )?
        .execute(params![from, to])?;
        tx.prepare_cached("DELETE FROM log WHERE rev >= ?1 AND rev < ?2 AND deleted = 1")?
            .execute(params![from, to])?;
        schema::write_meta(&tx, meta::COMPACT_DONE, to)?;
        tx.commit()?;
        self.counters.compact_done = to;
        self.stats.compaction_steps.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Revokes every lease whose deadline has passed, as one batch.
    fn expire_leases(&mut self) {
        let due: Result<Vec<i64>> = (|| {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT id FROM lease WHERE deadline_ms <= ?1 LIMIT 256")?;
            let ids = stmt
                .query_map([now_ms()], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok(ids)
        })();
        match due {
            Ok(ids) if !ids.is_empty() => {
                tracing::debug!(leases = ids.len(), "expiring leases");
                let batch = ids
                    .into_iter()
                    .map(|id| WriteRequest {
                        op: WriteOp::RevokeLease { id },
                        reply: None,
                    })
                    .collect();
                self.commit(batch);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading due leases"),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The current version of a key inside the write transaction.
fn current(tx: &Transaction<'_>, key: &str) -> Result<Option<KeyValue>> {
    Ok(tx
        .prepare_cached(
            "SELECT l.rev, l.create_rev, l.version, l.lease, l.value
             FROM current c JOIN log l ON l.rev = c.rev WHERE c.key = ?1",
        )?
        .query_row([key], |r| {
            Ok(KeyValue {
                key: key.to_string(),
                mod_revision: r.get(0)?,
                create_revision: r.get(1)?,
                version: r.get(2)?,
                lease: r.get(3)?,
                value: Bytes::from(r.get::<_, Vec<u8>>(4)?),
            })
        })
        .optional()?)
}

fn check_lease(tx: &Transaction<'_>, lease: i64) -> Result<()> {
    if lease == 0 {
        return Ok(());
    }
    let found = tx
        .prepare_cached("SELECT 1 FROM lease WHERE id = ?1")?
        .query_row([lease], |_| Ok(()))
        .optional()?;
    found.ok_or(StoreError::LeaseNotFound { id: lease })
}

/// Appends a version (or tombstone) to the log and points `current` at it.
fn put_row(tx: &Transaction<'_>, kv: &KeyValue, prev_rev: i64, deleted: bool) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO log (rev, key, deleted, create_rev, prev_rev, version, lease, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        kv.mod_revision,
        kv.key,
        deleted,
        kv.create_revision,
        prev_rev,
        kv.version,
        kv.lease,
        kv.value.as_ref()
    ])?;
    if deleted {
        tx.prepare_cached("DELETE FROM current WHERE key = ?1")?
            .execute([&kv.key])?;
    } else {
        tx.prepare_cached(
            "INSERT INTO current (key, rev, lease) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET rev = excluded.rev, lease = excluded.lease",
        )?
        .execute(params![kv.key, kv.mod_revision, kv.lease])?;
    }
    Ok(())
}

/// Deletes a key inside the write transaction, returning the deleted version.
fn delete_key(
    tx: &Transaction<'_>,
    counters: &mut Counters,
    key: &str,
    expected: Option<i64>,
    events: &mut Vec<Event>,
) -> Result<(i64, KeyValue)> {
    let old = current(tx, key)?.ok_or_else(|| StoreError::NotFound {
        key: key.to_string(),
    })?;
    if let Some(expected) = expected
        && old.mod_revision != expected
    {
        return Err(StoreError::Conflict {
            key: key.to_string(),
            expected,
            current: Box::new(old),
        });
    }
    let rev = counters.revision + 1;
    let tombstone = KeyValue {
        key: key.to_string(),
        value: Bytes::new(),
        create_revision: old.create_revision,
        mod_revision: rev,
        version: 0,
        lease: 0,
    };
    put_row(tx, &tombstone, old.mod_revision, true)?;
    counters.revision = rev;
    events.push(Event {
        kind: EventKind::Delete,
        kv: KeyValue {
            create_revision: 0,
            ..tombstone
        },
        prev: Some(old.clone()),
    });
    Ok((rev, old))
}

/// Applies one operation inside the batch's transaction. Refusals (conflicts, missing keys)
/// are decided before anything is written, so a refused operation leaves no trace.
fn apply(
    tx: &Transaction<'_>,
    counters: &mut Counters,
    op: &WriteOp,
    events: &mut Vec<Event>,
) -> Result<WriteOutcome> {
    match op {
        WriteOp::Create { key, value, lease } => {
            if current(tx, key)?.is_some() {
                return Err(StoreError::AlreadyExists { key: key.clone() });
            }
            check_lease(tx, *lease)?;
            let rev = counters.revision + 1;
            let kv = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: rev,
                mod_revision: rev,
                version: 1,
                lease: *lease,
            };
            put_row(tx, &kv, 0, false)?;
            counters.revision = rev;
            events.push(Event {
                kind: EventKind::Put,
                kv,
                prev: None,
            });
            Ok(WriteOutcome::Revision(rev))
        }
        WriteOp::Update {
            key,
            value,
            expected,
            lease,
        } => {
            let old = current(tx, key)?.ok_or_else(|| StoreError::NotFound { key: key.clone() })?;
            if old.mod_revision != *expected {
                return Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expected,
                    current: Box::new(old),
                });
            }
            check_lease(tx, *lease)?;
            let rev = counters.revision + 1;
            let kv = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: old.create_revision,
                mod_revision: rev,
                version: old.version + 1,
                lease: *lease,
            };
            put_row(tx, &kv, old.mod_revision, false)?;
            counters.revision = rev;
            events.push(Event {
                kind: EventKind::Put,
                kv,
                prev: Some(old),
            });
            Ok(WriteOutcome::Revision(rev))
        }
        WriteOp::Delete { key, expected } => {
            let (rev, old) = delete_key(tx, counters, key, *expected, events)?;
            Ok(WriteOutcome::Deleted(rev, old))
        }
        WriteOp::Compact { revision } => {
            if *revision > counters.revision {
                return Err(StoreError::FutureRevision {
                    requested: *revision,
                });
            }
            if *revision <= counters.compact_rev {
                return Err(StoreError::Compacted {
                    requested: *revision,
                });
            }
            counters.compact_rev = *revision;
            Ok(WriteOutcome::Done)
        }
        WriteOp::GrantLease { ttl_seconds } => {
            let id = counters.lease_seq + 1;
            tx.prepare_cached("INSERT INTO lease (id, ttl, deadline_ms) VALUES (?1, ?2, ?3)")?
                .execute(params![id, ttl_seconds, now_ms() + ttl_seconds * 1000])?;
            counters.lease_seq = id;
            Ok(WriteOutcome::Lease(id))
        }
        WriteOp::RevokeLease { id } => {
            let removed = tx
                .prepare_cached("DELETE FROM lease WHERE id = ?1")?
                .execute([id])?;
            if removed == 0 {
                return Err(StoreError::LeaseNotFound { id: *id });
            }
            let keys = tx
                .prepare_cached("SELECT key FROM current WHERE lease = ?1 ORDER BY key")?
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for key in keys {
                delete_key(tx, counters, &key, None, events)?;
            }
            Ok(WriteOutcome::Done)
        }
    }
}
