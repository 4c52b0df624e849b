//! Watches on the embedded store.
//!
//! A watcher first replays history from its start revision out of the log, then follows the
//! commits the writer publishes. It subscribes before it reads history, so no commit falls
//! between the two; revisions it already delivered are skipped. A watcher too slow for the
//! in-memory feed loses nothing: it goes back to the log from where it was.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::Shared;
use super::read;
use crate::error::StoreError;
use crate::store::{KeyRange, WatchStream};

/// Events read from the log per query while catching up.
const CATCH_UP_PAGE: usize = 512;

/// Starts a watcher task and returns its stream.
pub(super) fn spawn(
    shared: Arc<Shared>,
    range: KeyRange,
    start: i64,
    progress: bool,
) -> WatchStream {
    let (tx, rx) = mpsc::channel(CATCH_UP_PAGE);
    tokio::spawn(run(shared, range, start, tx, progress));
    Box::pin(ReceiverStream::new(rx))
}

type Out = mpsc::Sender<crate::Result<crate::Event>>;

/// A progress notice: everything in range up to `revision` has been delivered.
fn progress(revision: i64) -> crate::Event {
    crate::Event {
        kind: crate::EventKind::Progress,
        kv: crate::KeyValue {
            key: String::new(),
            value: bytes::Bytes::new(),
            create_revision: 0,
            mod_revision: revision,
            version: 0,
            lease: 0,
        },
        prev: None,
    }
}

/// How long a watch waits after skipping other keys' changes before reporting progress, so a
/// busy store does not flood watchers with notices.
const PROGRESS_DELAY: std::time::Duration = std::time::Duration::from_millis(20);

async fn run(shared: Arc<Shared>, range: KeyRange, start: i64, out: Out, report_progress: bool) {
    let mut next = start;
    let mut closed = shared.closed.subscribe();
    loop {
        let mut live = shared.hub.subscribe();
        // Catch up from the log.
        loop {
            let r = range.clone();
            let page = shared
                .read(move |conn| read::events(conn, &r, next, CATCH_UP_PAGE))
                .await;
            let (events, snapshot) = match page {
                Ok(p) => p,
                Err(e) => {
                    let _ = out.send(Err(e)).await;
                    return;
                }
            };
            let full = events.len() == CATCH_UP_PAGE;
            for ev in events {
                next = ev.revision() + 1;
                if out.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            if !full {
                next = next.max(snapshot + 1);
                if report_progress && out.send(Ok(progress(next - 1))).await.is_err() {
                    return;
                }
                break;
            }
        }
        let mut owed_progress = false;
        // Follow live commits.
        loop {
            let received = tokio::select! {
                r = live.recv() => r,
                _ = tokio::time::sleep(PROGRESS_DELAY), if owed_progress => {
                    owed_progress = false;
                    if out.send(Ok(progress(next - 1))).await.is_err() {
                        return;
                    }
                    continue;
                }
                _ = out.closed() => return,
                _ = closed.changed() => {
                    let _ = out.send(Err(StoreError::Closed)).await;
                    return;
                }
            };
            match received {
                Ok(events) => {
                    for ev in events.iter() {
                        if ev.revision() < next {
                            continue;
                        }
                        next = ev.revision() + 1;
                        if range.contains(&ev.kv.key) {
                            owed_progress = false;
                            if out.send(Ok(ev.clone())).await.is_err() {
                                return;
                            }
                        } else {
                            owed_progress = report_progress;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = out.send(Err(StoreError::Closed)).await;
                    return;
                }
            }
        }
    }
}
