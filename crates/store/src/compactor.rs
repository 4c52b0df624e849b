//! Background compaction, the same for every backend.
//!
//! The store's history is what lets watches resume and reads run at an older revision; it must
//! not grow forever. The compactor samples the current revision at a fixed interval and
//! compacts to the newest sample that is both older than `min_age` and at least
//! `min_revisions` behind, so recent history always survives. Several servers sharing one etcd
//! may each run one: compacting to a revision already compacted is not an error here.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::StoreError;
use crate::store::{Revision, Store};

/// How much history to keep and how often to check.
#[derive(Clone, Debug)]
pub struct CompactionPolicy {
    /// How often the revision is sampled and compaction considered.
    pub interval: Duration,
    /// History younger than this is kept.
    pub min_age: Duration,
    /// At least this many latest revisions are kept.
    pub min_revisions: i64,
}

impl Default for CompactionPolicy {
    /// Keep five minutes and 1,000 revisions, checking every 30 seconds.
    fn default() -> Self {
        CompactionPolicy {
            interval: Duration::from_secs(30),
            min_age: Duration::from_secs(300),
            min_revisions: 1000,
        }
    }
}

/// A running compaction task; dropping it stops the task.
pub struct Compactor {
    task: JoinHandle<()>,
}

impl Compactor {
    /// Starts compacting `store` under `policy`.
    pub fn spawn(store: Arc<dyn Store>, policy: CompactionPolicy) -> Self {
        Compactor {
            task: tokio::spawn(run(store, policy)),
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The revision to compact to, given the samples taken so far: the newest one at least
/// `min_age` old, capped to keep `min_revisions`. Samples it passes over are dropped.
fn target(
    samples: &mut VecDeque<(Instant, Revision)>,
    now: Instant,
    current: Revision,
    policy: &CompactionPolicy,
) -> Option<Revision> {
    let mut chosen = None;
    while let Some(&(at, rev)) = samples.front() {
        if now.duration_since(at) < policy.min_age {
            break;
        }
        chosen = Some(rev);
        samples.pop_front();
    }
    chosen
        .map(|rev| rev.min(current - policy.min_revisions))
        .filter(|r| *r > 1)
}

async fn run(store: Arc<dyn Store>, policy: CompactionPolicy) {
    let mut samples = VecDeque::new();
    let mut compacted: Revision = 0;
    let mut tick = tokio::time::interval(policy.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let current = match store.current_revision().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "compactor could not read the revision");
                continue;
            }
        };
        let now = Instant::now();
        samples.push_back((now, current));
        let Some(rev) = target(&mut samples, now, current, &policy) else {
            continue;
        };
        if rev <= compacted {
            continue;
        }
        match store.compact(rev).await {
            Ok(()) => {
                tracing::debug!(revision = rev, "compacted");
                compacted = rev;
            }
            // Another server compacted at or past this revision already.
            Err(StoreError::Compacted { .. }) => compacted = rev,
            Err(e) => tracing::warn!(error = %e, revision = rev, "compaction failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min_age_secs: u64, min_revisions: i64) -> CompactionPolicy {
        CompactionPolicy {
            interval: Duration::from_secs(1),
            min_age: Duration::from_secs(min_age_secs),
            min_revisions,
        }
    }

    #[test]
    fn compaction_waits_until_a_sample_is_old_enough() {
        let t0 = Instant::now();
        let mut s = VecDeque::from([(t0, 5000)]);
        assert_eq!(
            target(
                &mut s,
                t0 + Duration::from_secs(10),
                9000,
                &policy(300, 1000)
            ),
            None
        );
        assert_eq!(s.len(), 1);
        assert_eq!(
            target(
                &mut s,
                t0 + Duration::from_secs(301),
                9000,
                &policy(300, 1000)
            ),
            Some(5000)
        );
        assert!(s.is_empty());
    }

    #[test]
    fn compaction_always_keeps_the_minimum_number_of_revisions() {
        let t0 = Instant::now();
        let mut s = VecDeque::from([(t0, 5000)]);
        assert_eq!(
            target(
                &mut s,
                t0 + Duration::from_secs(400),
                5500,
                &policy(300, 1000)
            ),
            Some(4500)
        );
    }

    #[test]
    fn the_newest_old_enough_sample_wins() {
        let t0 = Instant::now();
        let mut s = VecDeque::from([
            (t0, 100),
            (t0 + Duration::from_secs(10), 200),
            (t0 + Duration::from_secs(500), 300),
        ]);
        assert_eq!(
            target(
                &mut s,
                t0 + Duration::from_secs(320),
                10_000,
                &policy(300, 10)
            ),
            Some(200)
        );
        assert_eq!(s.len(), 1);
    }
}
