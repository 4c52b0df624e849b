//! The store's one error type.

use crate::store::{KeyValue, Revision};

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a store operation failed; each variant names the key or revision it concerns, so the
/// API server can map it to the matching Kubernetes Status (409, 404, 410, 413, ...).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create found the key already present.
    #[error("key {key:?} already exists")]
    AlreadyExists {
        /// The key that exists.
        key: String,
    },
    /// An update or delete named a key that does not exist.
    #[error("key {key:?} not found")]
    NotFound {
        /// The missing key.
        key: String,
    },
    /// A guarded write expected another mod revision; `current` is what is stored now.
    #[error("key {key:?} was modified: expected revision {expected}, found {}", current.mod_revision)]
    Conflict {
        /// The contested key.
        key: String,
        /// The mod revision the caller expected.
        expected: Revision,
        /// The value stored now, so the caller can retry without another read.
        current: Box<KeyValue>,
    },
    /// The requested revision is older than the compacted revision (the API's 410 Gone).
    #[error("revision {requested} has been compacted")]
    Compacted {
        /// The revision that was asked for.
        requested: Revision,
    },
    /// The requested revision is newer than the store's current revision.
    #[error("revision {requested} is a future revision")]
    FutureRevision {
        /// The revision that was asked for.
        requested: Revision,
    },
    /// A value exceeds [`crate::MAX_VALUE_BYTES`] (the API's 413 Request Entity Too Large).
    #[error("request too large: value of key {key:?} is {size} bytes, the limit is {limit}")]
    TooLarge {
        /// The key being written.
        key: String,
        /// The value's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A write or revoke named a lease that does not exist (or has expired).
    #[error("lease {id} not found")]
    LeaseNotFound {
        /// The lease's id.
        id: i64,
    },
    /// A key or argument the store cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The backend could not be reached or failed; the operation may be retried.
    #[error("datastore unavailable: {0}")]
    Unavailable(String),
    /// The store was closed.
    #[error("datastore closed")]
    Closed,
    /// A value transformer could not encode or decode a stored value.
    #[error("transforming the value of key {key:?}: {reason}")]
    Transform {
        /// The key whose value failed.
        key: String,
        /// What the transformer reported.
        reason: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Unavailable(format!("sqlite: {e}"))
    }
}
