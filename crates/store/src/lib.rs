//! Bosun's cluster datastore: one contract with etcd v3 semantics, two backends.
//!
//! Everything the API server keeps lives here as key → JSON value under upstream's key layout
//! (`/registry/<resource>/<namespace>/<name>`, see [`keys`]). The contract is the [`Store`]
//! trait: a single, ever-growing revision numbers every change; writes are guarded by the
//! revision a client last saw (compare-and-swap); watches replay history from any revision that
//! has not been compacted away and then follow live changes, each event carrying the value it
//! replaced.
//!
//! Layout, top-down:
//! - [`store`]: the [`Store`] trait and the data it speaks ([`KeyValue`], [`Event`], ...).
//! - [`error`]: the one error enum, [`StoreError`], naming the key or revision that failed.
//! - [`keys`]: upstream's key layout and the directory-prefix rule (`/a` never sees `/ab`).
//! - [`sqlite`]: the default backend, embedded SQLite with group commit and in-process watches.
//! - [`etcd`]: the HA backend, a client of an etcd v3 cluster.
//! - [`compactor`]: the background task that compacts history on either backend.
//! - [`transform`]: a wrapper that transforms values on their way to and from storage, so that
//!   encryption at rest can be added without touching the backends.
//! - [`encryption`]: encryption at rest in kube-apiserver's formats (`EncryptionConfiguration`,
//!   `k8s:enc:aesgcm:v1:<key>:` values), the [`ValueTransformer`] that [`transform`] applies.
//! - [`config`]: turns `--datastore-*` flags into an opened backend.
//! - [`etcd_process`]: a throwaway local etcd server for tests and benchmarks.

pub mod compactor;
pub mod config;
pub mod encryption;
pub mod error;
pub mod etcd;
pub mod etcd_process;
pub mod keys;
pub mod sqlite;
pub mod store;
pub mod transform;

pub use compactor::{CompactionPolicy, Compactor};
pub use config::{Datastore, DatastoreConfig, open};
pub use encryption::{EncryptionConfig, EncryptionTransformer, ProviderKind};
pub use error::{Result, StoreError};
pub use etcd::{EtcdStore, EtcdTls};
pub use sqlite::{SqliteOptions, SqliteStats, SqliteStore};
pub use store::{
    Event, EventKind, GetResult, KeyRange, KeyValue, LeaseId, ListOptions, ListResult,
    MAX_VALUE_BYTES, Revision, Store, WatchStream,
};
pub use transform::{Transformed, ValueTransformer};
