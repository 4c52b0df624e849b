//! The on-disk layout of the embedded store.
//!
//! `log` holds one row per revision: every version of every key, and a tombstone row for each
//! delete. It is the history that reads at a revision and resuming watches need; compaction
//! removes the rows no revision at or above the compacted one can see. `current` maps each live
//! key to its latest row, so reads at the current revision never scan history. `lease` holds
//! granted leases with their wall-clock deadline, and `meta` a few counters.

use rusqlite::{Connection, OptionalExtension};

use crate::error::Result;

/// Creates the tables and indexes if they are missing.
pub(super) fn create(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (
            name  TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS log (
            rev        INTEGER PRIMARY KEY,
            key        TEXT NOT NULL,
            deleted    INTEGER NOT NULL,
            create_rev INTEGER NOT NULL,
            prev_rev   INTEGER NOT NULL,
            version    INTEGER NOT NULL,
            lease      INTEGER NOT NULL,
            value      BLOB NOT NULL
        );
        CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev);
        CREATE TABLE IF NOT EXISTS current (
            key   TEXT PRIMARY KEY,
            rev   INTEGER NOT NULL,
            lease INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS current_lease ON current (lease) WHERE lease != 0;
        CREATE TABLE IF NOT EXISTS lease (
            id          INTEGER PRIMARY KEY,
            ttl         INTEGER NOT NULL,
            deadline_ms INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS lease_deadline ON lease (deadline_ms);",
    )?;
    Ok(())
}

/// Names of the counters kept in `meta`.
pub(super) mod meta {
    /// The store's current revision.
    pub const REVISION: &str = "revision";
    /// Reads and watches below this revision fail as compacted.
    pub const COMPACT_REV: &str = "compact_rev";
    /// History below this revision has been physically removed.
    pub const COMPACT_DONE: &str = "compact_done";
    /// The last lease id handed out.
    pub const LEASE_SEQ: &str = "lease_seq";
}

/// Reads one counter, with a default for a new store.
pub(super) fn read_meta(conn: &Connection, name: &str, default: i64) -> Result<i64> {
    let v = conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    Ok(v.unwrap_or(default))
}

/// Writes one counter.
pub(super) fn write_meta(conn: &Connection, name: &str, value: i64) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)")?
        .execute(rusqlite::params![name, value])?;
    Ok(())
}

/// The revision of an empty store, as etcd reports it.
pub(super) const INITIAL_REVISION: i64 = 1;
