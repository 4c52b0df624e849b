//! Reads: at the current revision through `current`, at older ones through `log`.
//!
//! Each read runs in one SQLite read transaction, so the revision it reports and the rows it
//! returns come from the same snapshot.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row, Transaction};

use super::schema::{self, meta};
use crate::error::{Result, StoreError};
use crate::keys;
use crate::store::{Event, EventKind, GetResult, KeyRange, KeyValue, ListOptions, ListResult};

/// The columns every row read selects, in this order.
const KV_COLUMNS: &str = "l.rev, l.key, l.create_rev, l.version, l.lease, l.value";

fn kv_from_row(r: &Row<'_>, offset: usize) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        mod_revision: r.get(offset)?,
        key: r.get(offset + 1)?,
        create_revision: r.get(offset + 2)?,
        version: r.get(offset + 3)?,
        lease: r.get(offset + 4)?,
        value: Bytes::from(r.get::<_, Vec<u8>>(offset + 5)?),
    })
}

/// The revision and compaction bounds of one snapshot.
struct Snapshot {
    revision: i64,
    compact_rev: i64,
}

fn snapshot(tx: &Transaction<'_>) -> Result<Snapshot> {
    Ok(Snapshot {
        revision: schema::read_meta(tx, meta::REVISION, schema::INITIAL_REVISION)?,
        compact_rev: schema::read_meta(tx, meta::COMPACT_REV, 0)?,
    })
}

/// Decides whether a read at `requested` is served from `current` (true) or from history,
/// refusing compacted and future revisions.
fn reads_current(snap: &Snapshot, requested: Option<i64>) -> Result<bool> {
    match requested {
        None => Ok(true),
        Some(r) if r <= 0 => Ok(true),
        Some(r) if r > snap.revision => Err(StoreError::FutureRevision { requested: r }),
        Some(r) if r < snap.compact_rev => Err(StoreError::Compacted { requested: r }),
        Some(r) => Ok(r == snap.revision),
    }
}

/// Reads one key.
pub(super) fn get(conn: &mut Connection, key: &str, revision: Option<i64>) -> Result<GetResult> {
    let tx = conn.transaction()?;
    let snap = snapshot(&tx)?;
    let kv = if reads_current(&snap, revision)? {
        tx.prepare_cached(&format!(
            "SELECT {KV_COLUMNS} FROM current c JOIN log l ON l.rev = c.rev WHERE c.key = ?1"
        ))?
        .query_row([key], |r| kv_from_row(r, 0))
        .optional()?
    } else {
        let at = revision.unwrap_or(snap.revision);
        tx.prepare_cached(&format!(
            "SELECT {KV_COLUMNS}, l.deleted FROM log l WHERE l.key = ?1 AND l.rev <= ?2
             ORDER BY l.rev DESC LIMIT 1"
        ))?
        .query_row(rusqlite::params![key, at], |r| {
            Ok((kv_from_row(r, 0)?, r.get::<_, bool>(6)?))
        })
        .optional()?
        .and_then(|(kv, deleted)| (!deleted).then_some(kv))
    };
    let revision = match revision {
        Some(r) if r > 0 => r,
        _ => snap.revision,
    };
    Ok(GetResult { kv, revision })
}

/// Reads the keys below a directory prefix.
pub(super) fn list(conn: &mut Connection, prefix: &str, opts: &ListOptions) -> Result<ListResult> {
    let prefix = keys::dir_prefix(prefix);
    let end = keys::prefix_end_string(&prefix);
    let start = match &opts.start_key {
        Some(s) if s.as_str() > prefix.as_str() => s.clone(),
        _ => prefix.clone(),
    };
    let tx = conn.transaction()?;
    let snap = snapshot(&tx)?;
    let current = reads_current(&snap, opts.revision)?;
    let at = match opts.revision {
        Some(r) if r > 0 => r,
        _ => snap.revision,
    };
    // One more row than the limit tells whether more remain.
    let fetch = opts.limit.map(|l| l as i64 + 1).unwrap_or(-1);
    let mut kvs: Vec<KeyValue> =
        if current {
            tx.prepare_cached(&format!(
                "SELECT {KV_COLUMNS} FROM current c JOIN log l ON l.rev = c.rev
             WHERE c.key >= ?1 AND c.key < ?2 ORDER BY c.key LIMIT ?3"
            ))?
            .query_map(rusqlite::params![start, end, fetch], |r| kv_from_row(r, 0))?
            .collect::<rusqlite::Result<_>>()?
        } else {
            tx.prepare_cached(&format!(
            "SELECT {KV_COLUMNS} FROM ({HISTORY_AT}) l WHERE l.deleted = 0 ORDER BY l.key LIMIT ?4"
        ))?
        .query_map(rusqlite::params![start, end, at, fetch], |r| kv_from_row(r, 0))?
        .collect::<rusqlite::Result<_>>()?
        };
    let more = opts.limit.is_some_and(|l| kvs.len() > l);
    let count = if more {
        kvs.truncate(opts.limit.unwrap_or(0));
        if current {
            tx.prepare_cached("SELECT count(*) FROM current WHERE key >= ?1 AND key < ?2")?
                .query_row(rusqlite::params![start, end], |r| r.get(0))?
        } else {
            tx.prepare_cached(&format!(
                "SELECT count(*) FROM ({HISTORY_AT}) l WHERE l.deleted = 0"
            ))?
            .query_row(rusqlite::params![start, end, at], |r| r.get(0))?
        }
    } else {
        kvs.len() as i64
    };
    Ok(ListResult {
        kvs,
        revision: at,
        more,
        count,
    })
}

/// The latest row of each key in `[?1, ?2)` at revision `?3` (SQLite returns the bare columns
/// of the row holding the maximum).
const HISTORY_AT: &str = "SELECT rev, key, deleted, create_rev, version, lease, value, max(rev)
     FROM log WHERE key >= ?1 AND key < ?2 AND rev <= ?3 GROUP BY key";

/// Counts the keys below a directory prefix at the current revision.
pub(super) fn count(conn: &mut Connection, prefix: &str) -> Result<i64> {
    let prefix = keys::dir_prefix(prefix);
    let end = keys::prefix_end_string(&prefix);
    Ok(conn
        .prepare_cached("SELECT count(*) FROM current WHERE key >= ?1 AND key < ?2")?
        .query_row(rusqlite::params![prefix, end], |r| r.get(0))?)
}

/// The current revision.
pub(super) fn current_revision(conn: &mut Connection) -> Result<i64> {
    let tx = conn.transaction()?;
    Ok(snapshot(&tx)?.revision)
}

/// Up to `limit` events in `range` from revision `from` on, with the values they replaced, and
/// the revision of the snapshot they were read from.
pub(super) fn events(
    conn: &mut Connection,
    range: &KeyRange,
    from: i64,
    limit: usize,
) -> Result<(Vec<Event>, i64)> {
    let tx = conn.transaction()?;
    let snap = snapshot(&tx)?;
    if from < snap.compact_rev {
        return Err(StoreError::Compacted { requested: from });
    }
    let select = "SELECT l.rev, l.key, l.create_rev, l.version, l.lease, l.value, l.deleted,
                  p.rev, p.key, p.create_rev, p.version, p.lease, p.value
                  FROM log l LEFT JOIN log p ON p.rev = l.prev_rev";
    let map = |r: &Row<'_>| -> rusqlite::Result<Event> {
        let kv = kv_from_row(r, 0)?;
        let deleted: bool = r.get(6)?;
        let prev = match r.get::<_, Option<i64>>(7)? {
            Some(_) => Some(kv_from_row(r, 7)?),
            None => None,
        };
        Ok(if deleted {
            Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: kv.key,
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: kv.mod_revision,
                    version: 0,
                    lease: 0,
                },
                prev,
            }
        } else {
            Event {
                kind: EventKind::Put,
                kv,
                prev,
            }
        })
    };
    let events = match range {
        KeyRange::Key(k) => tx
            .prepare_cached(&format!(
                "{select} WHERE l.rev >= ?1 AND l.key = ?2 ORDER BY l.rev LIMIT ?3"
            ))?
            .query_map(rusqlite::params![from, k, limit as i64], map)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        KeyRange::Prefix(p) => {
            let p = keys::dir_prefix(p);
            let end = keys::prefix_end_string(&p);
            tx.prepare_cached(&format!(
                "{select} WHERE l.rev >= ?1 AND l.key >= ?2 AND l.key < ?3 ORDER BY l.rev LIMIT ?4"
            ))?
            .query_map(rusqlite::params![from, p, end, limit as i64], map)?
            .collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    Ok((events, snap.revision))
}
