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
pub(super) fn spawn(shared: Arc<Shared>, range: KeyRange, start: i64) -> WatchStream {
    let (tx, rx) = mpsc::channel(CATCH_UP_PAGE);
    tokio::spawn(run(shared, range, start, tx));
    Box::pin(ReceiverStream::new(rx))
}

type Out = mpsc::Sender<crate::Result<crate::Event>>;

async fn run(shared: Arc<Shared>, range: KeyRange, start: i64, out: Out) {
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
                break;
            }
        }
        // Follow live commits.
        loop {
            let received = tokio::select! {
                r = live.recv() => r,
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
                        if range.contains(&ev.kv.key) && out.send(Ok(ev.clone())).await.is_err() {
                            return;
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
