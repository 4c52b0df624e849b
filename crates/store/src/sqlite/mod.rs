//! The embedded store: SQLite, one writer thread, in-process watches.
//!
//! - [`schema`]: tables (`log` of every revision, `current` per key, `lease`, `meta`).
//! - [`writer`]: the writer thread (group commit, compaction steps, lease expiry).
//! - [`read`]: reads on a small pool of read connections (WAL lets them run beside the writer).
//! - [`watch`]: watchers that replay the log and then follow commits.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a commit returns only
//! after its WAL frames are fsynced; nothing is acknowledged before that. The WAL is
//! checkpointed by the writer between batches and truncated to a bounded size, and compaction
//! frees pages that later writes reuse, so the files do not grow under steady churn.

mod read;
mod schema;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, oneshot};

use crate::error::{Result, StoreError};
use crate::store::{
    self as contract, GetResult, KeyRange, KeyValue, LeaseId, ListOptions, ListResult, Revision,
    Store, WatchStream,
};
use writer::{CommitEvents, Message, WriteOp, WriteOutcome, WriteRequest, Writer, WriterTuning};

/// Settings of the embedded store.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// The database file; its directory is created if missing.
    pub path: PathBuf,
    /// The most writes committed together in one transaction (one fsync).
    pub max_batch: usize,
    /// Revisions of history removed per compaction step between write batches.
    pub compaction_step: i64,
    /// How often due leases are looked for.
    pub lease_check_interval: Duration,
    /// Idle read connections kept open.
    pub read_connections: usize,
    /// The WAL is truncated back to this size after checkpoints.
    pub wal_size_limit: i64,
}

impl SqliteOptions {
    /// Defaults for a database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteOptions {
            path: path.into(),
            max_batch: 1024,
            compaction_step: 1000,
            lease_check_interval: Duration::from_millis(250),
            read_connections: 8,
            wal_size_limit: 64 << 20,
        }
    }
}

/// Counters of the writer's work, for tests and benchmarks.
#[derive(Debug, Default)]
pub struct SqliteStats {
    /// Write requests handled (including refused ones).
    pub writes: AtomicU64,
    /// Transactions committed for them; fewer than `writes` when writers shared a commit.
    pub commits: AtomicU64,
    /// Compaction steps run.
    pub compaction_steps: AtomicU64,
}

/// What the store handle and its watchers share.
pub(crate) struct Shared {
    stats: Arc<SqliteStats>,
    writer: Mutex<mpsc::Sender<Message>>,
    readers: ReadPool,
    hub: broadcast::Sender<CommitEvents>,
    closed: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// Runs a read on a pooled connection off the async threads.
    async fn read<R, F>(self: &Arc<Self>, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || shared.readers.with(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("read task: {e}")))?
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOutcome> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .lock()
            .map_err(|_| StoreError::Closed)?
            .send(Message::Write(WriteRequest {
                op,
                reply: Some(reply),
            }))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Read connections kept open between reads.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl ReadPool {
    fn with<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path, 2 << 20)?,
        };
        let result = f(&mut conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(conn);
        }
        result
    }
}

fn open_connection(path: &Path, cache_bytes: i64) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "cache_size", -(cache_bytes / 1024))?;
    Ok(conn)
}

/// The embedded store. Dropping it finishes the writer's current batch and closes the file.
pub struct SqliteStore {
    shared: Arc<Shared>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (or creates) the database, refusing a file another process has open.
    pub fn open(options: SqliteOptions) -> Result<Self> {
        let path = options.path.clone();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                StoreError::Unavailable(format!("opening {}: {e}", lock_path.display()))
            })?;
        lock.try_lock().map_err(|e| {
            StoreError::Unavailable(format!(
                "{} is in use by another process: {e}",
                path.display()
            ))
        })?;

        let conn = open_connection(&path, 8 << 20)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "could not enable WAL (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "journal_size_limit", options.wal_size_limit)?;
        schema::create(&conn)?;

        let (hub, _) = broadcast::channel(1024);
        let (closed, _) = tokio::sync::watch::channel(false);
        let stats = Arc::new(SqliteStats::default());
        let writer = Writer::new(
            conn,
            hub.clone(),
            WriterTuning {
                max_batch: options.max_batch.max(1),
                compaction_step: options.compaction_step.max(1),
                lease_check_interval: options.lease_check_interval,
            },
            lock,
            stats.clone(),
        )?;
        let (queue, rx) = mpsc::channel();
        let writer_thread = std::thread::Builder::new()
            .name("bosun-store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Unavailable(format!("starting writer: {e}")))?;
        let shared = Arc::new(Shared {
            stats,
            writer: Mutex::new(queue),
            readers: ReadPool {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
                max_idle: options.read_connections,
            },
            hub,
            closed,
        });
        Ok(SqliteStore {
            shared,
            writer_thread: Mutex::new(Some(writer_thread)),
            path,
        })
    }

    /// The writer's counters.
    pub fn stats(&self) -> &SqliteStats {
        &self.shared.stats
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finishes queued writes, stops the writer and ends every watch. Later calls fail with
    /// [`StoreError::Closed`].
    pub fn close(&self) {
        if let Ok(queue) = self.shared.writer.lock() {
            let _ = queue.send(Message::Shutdown);
        }
        let handle = self.writer_thread.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        let _ = self.shared.closed.send(true);
        if let Ok(mut idle) = self.shared.readers.idle.lock() {
            idle.clear();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str, revision: Option<Revision>) -> Result<GetResult> {
        let key = key.to_string();
        self.shared
            .read(move |c| read::get(c, &key, revision))
            .await
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let prefix = prefix.to_string();
        self.shared
            .read(move |c| read::list(c, &prefix, &options))
            .await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        let prefix = prefix.to_string();
        self.shared.read(move |c| read::count(c, &prefix)).await
    }

    async fn create(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        contract::check_value_size(key, &value)?;
        let op = WriteOp::Create {
            key: key.to_string(),
            value,
            lease: lease.unwrap_or(0),
        };
        match self.shared.write(op).await? {
            WriteOutcome::Revision(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        contract::check_value_size(key, &value)?;
        let op = WriteOp::Update {
            key: key.to_string(),
            value,
            expected,
            lease: lease.unwrap_or(0),
        };
        match self.shared.write(op).await? {
            WriteOutcome::Revision(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        match self
            .shared
            .write(WriteOp::Delete {
                key: key.to_string(),
                expected,
            })
            .await?
        {
            WriteOutcome::Deleted(r, kv) => Ok((r, kv)),
            other => Err(unexpected(other)),
        }
    }

    async fn watch(&self, range: KeyRange, start: Option<Revision>) -> Result<WatchStream> {
        let start = match start {
            Some(s) if s > 0 => s,
            _ => self.current_revision().await? + 1,
        };
        Ok(watch::spawn(self.shared.clone(), range, start, false))
    }

    fn reports_progress(&self) -> bool {
        true
    }

    async fn watch_with_progress(
        &self,
        range: KeyRange,
        start: Option<Revision>,
    ) -> Result<WatchStream> {
        let start = match start {
            Some(s) if s > 0 => s,
            _ => self.current_revision().await? + 1,
        };
        Ok(watch::spawn(self.shared.clone(), range, start, true))
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.shared.read(read::current_revision).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.shared
            .write(WriteOp::Compact { revision })
            .await
            .map(|_| ())
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let op = WriteOp::GrantLease {
            ttl_seconds: contract::ttl_seconds(ttl),
        };
        match self.shared.write(op).await? {
            WriteOutcome::Lease(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn revoke_lease(&self, id: LeaseId) -> Result<()> {
        self.shared
            .write(WriteOp::RevokeLease { id })
            .await
            .map(|_| ())
    }
}

fn unexpected(outcome: WriteOutcome) -> StoreError {
    StoreError::Unavailable(format!("writer answered {outcome:?}"))
}
