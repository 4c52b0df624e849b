//! The watch cache: lists and watches served from memory.
//!
//! One cache per resource (storage prefix), started on first use: it lists the prefix from
//! the store, then follows one store watch, keeping the current objects, a ring of recent
//! events and a broadcast to live watchers, all updated under one lock so that a snapshot and
//! a subscription taken together miss nothing. Many watchers of a resource thus cost one
//! store watch, and lists do not reach the store. A cache knows how current it is from the
//! store's progress notices; a read that needs more than the cache can vouch for, or a watch
//! older than its ring, goes to the store instead.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bosun_store::{
    Event, EventKind, KeyRange, KeyValue, ListOptions, Revision, Store, StoreError, WatchStream,
};
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

/// Events kept for watchers that start a little in the past.
const RING: usize = 2048;
/// Events buffered per live watcher before it is cut off as too slow.
const WATCHER_BUFFER: usize = 4096;

/// Every resource's cache.
pub struct WatchCache {
    store: Arc<dyn Store>,
    resources: Mutex<HashMap<String, Arc<ResourceCache>>>,
    /// Lists and watches served from memory.
    pub hits: AtomicU64,
    /// Lists and watches the cache passed to the store.
    pub misses: AtomicU64,
}

struct ResourceCache {
    state: Mutex<State>,
    /// The revision the cache has seen everything up to, for waiting readers.
    seen: watch::Sender<Option<Revision>>,
}

struct State {
    ready: bool,
    objects: BTreeMap<String, KeyValue>,
    /// Every change in the prefix up to here is applied.
    progress: Revision,
    ring: VecDeque<Event>,
    /// Every event from this revision on is in the ring (or yet to come).
    ring_start: Revision,
    /// Shared events: a broadcast channel allocates every slot up front, so slots hold a
    /// pointer rather than an event (a resource nobody watches then costs 32 KiB, not 1 MiB).
    live: broadcast::Sender<Arc<Event>>,
}

impl WatchCache {
    /// A cache over `store`; resources are cached as they are first read.
    pub fn new(store: Arc<dyn Store>) -> Self {
        WatchCache {
            store,
            resources: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn resource(&self, prefix: &str) -> Arc<ResourceCache> {
        let mut all = self.resources.lock().expect("watch cache lock");
        if let Some(r) = all.get(prefix) {
            return r.clone();
        }
        let (seen, _) = watch::channel(None);
        let rc = Arc::new(ResourceCache {
            state: Mutex::new(State {
                ready: false,
                objects: BTreeMap::new(),
                progress: 0,
                ring: VecDeque::new(),
                ring_start: i64::MAX,
                live: broadcast::channel(WATCHER_BUFFER).0,
            }),
            seen,
        });
        all.insert(prefix.to_string(), rc.clone());
        tokio::spawn(follow(
            self.store.clone(),
            prefix.to_string(),
            Arc::downgrade(&rc),
        ));
        rc
    }

    /// Waits (up to `wait`) until the resource's cache has seen everything up to `at_least`
    /// (or is merely ready, with `None`); false if it has not.
    async fn current(rc: &ResourceCache, at_least: Option<Revision>, wait: Duration) -> bool {
        let mut seen = rc.seen.subscribe();
        let ok = |s: &Option<Revision>| match (s, at_least) {
            (Some(p), Some(want)) => *p >= want,
            (Some(_), None) => true,
            (None, _) => false,
        };
        tokio::time::timeout(wait, seen.wait_for(ok))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The keys below `range_prefix` (within the resource at `resource_prefix`) as of a
    /// revision no older than `at_least`, or `None` if the cache cannot vouch for that soon.
    pub async fn list(
        &self,
        resource_prefix: &str,
        range_prefix: &str,
        at_least: Option<Revision>,
    ) -> Option<(Vec<KeyValue>, Revision)> {
        let rc = self.resource(resource_prefix);
        // A store that reports progress lets the cache catch up on a busy store; one that does not
        // (etcd here) would leave the read waiting for nothing, so it goes to the store at once.
        let wait = match at_least {
            None => Duration::from_secs(3),
            Some(_) if self.store.reports_progress() => Duration::from_millis(100),
            Some(_) => Duration::ZERO,
        };
        if !Self::current(&rc, at_least, wait).await {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let state = rc.state.lock().expect("resource cache lock");
        if !state.ready {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        let items = state
            .objects
            .range(range_prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(range_prefix))
            .map(|(_, v)| v.clone())
            .collect();
        Some((items, state.progress))
    }

    /// The object at `key` (within the resource at `resource_prefix`) as the cache holds it,
    /// without waiting for the cache to catch up: `Some(None)` when the cache has no such
    /// object, `None` when the cache is not loaded yet. As fresh as an informer's lister
    /// (milliseconds behind the store); callers that must not act on a miss read the store.
    pub fn get(&self, resource_prefix: &str, key: &str) -> Option<Option<KeyValue>> {
        let rc = self.resource(resource_prefix);
        let state = rc.state.lock().expect("resource cache lock");
        state.ready.then(|| state.objects.get(key).cloned())
    }

    /// Changes in `range` (within the resource at `resource_prefix`) from `start` on, or
    /// `None` if the cache does not hold them (the caller then asks the store).
    pub async fn watch(
        &self,
        resource_prefix: &str,
        range: KeyRange,
        start: Revision,
    ) -> Option<WatchStream> {
        let rc = self.resource(resource_prefix);
        if !Self::current(&rc, None, Duration::from_secs(3)).await {
            return None;
        }
        let (replay, mut live) = {
            let state = rc.state.lock().expect("resource cache lock");
            if !state.ready || start < state.ring_start {
                self.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            self.hits.fetch_add(1, Ordering::Relaxed);
            let replay: Vec<Event> = state
                .ring
                .iter()
                .filter(|e| e.revision() >= start && range.contains(&e.kv.key))
                .cloned()
                .collect();
            (replay, state.live.subscribe())
        };
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut next = start;
            for e in replay {
                next = e.revision() + 1;
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            loop {
                let received = tokio::select! {
                    r = live.recv() => r,
                    _ = tx.closed() => return,
                };
                match received {
                    Ok(e) if e.revision() >= next && range.contains(&e.kv.key) => {
                        next = e.revision() + 1;
                        if tx.send(Ok(Event::clone(&e))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Too slow, or the cache started over: the client must list again.
                    Err(_) => {
                        let _ = tx
                            .send(Err(StoreError::Compacted { requested: next }))
                            .await;
                        return;
                    }
                }
            }
        });
        Some(Box::pin(ReceiverStream::new(rx)))
    }
}

/// Keeps one resource's cache current for as long as the cache exists.
async fn follow(store: Arc<dyn Store>, prefix: String, rc: std::sync::Weak<ResourceCache>) {
    loop {
        let Some(cache) = rc.upgrade() else { return };
        match fill(&*store, &prefix, &cache).await {
            Ok(mut events) => {
                drop(cache);
                while let Some(item) = events.next().await {
                    let Some(cache) = rc.upgrade() else { return };
                    match item {
                        Ok(e) => apply(&cache, e),
                        Err(e) => {
                            tracing::debug!(prefix, error = %e, "watch cache starts over");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(prefix, error = %e, "watch cache could not list"),
        }
        if let Some(cache) = rc.upgrade() {
            cache.state.lock().expect("resource cache lock").ready = false;
            let _ = cache.seen.send(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Lists the prefix at one revision and starts following it from there.
async fn fill(
    store: &dyn Store,
    prefix: &str,
    cache: &ResourceCache,
) -> Result<WatchStream, StoreError> {
    let mut objects = BTreeMap::new();
    let mut start = None;
    let mut revision = None;
    loop {
        let page = store
            .list(
                prefix,
                ListOptions {
                    revision,
                    limit: Some(10_000),
                    start_key: start.clone(),
                },
            )
            .await?;
        revision = Some(page.revision);
        let more = page.more;
        let last = page.kvs.last().map(|kv| format!("{}\0", kv.key));
        for kv in page.kvs {
            objects.insert(kv.key.clone(), kv);
        }
        if !more {
            break;
        }
        start = last;
    }
    let revision = revision.unwrap_or(0);
    let events = store
        .watch_with_progress(KeyRange::Prefix(prefix.to_string()), Some(revision + 1))
        .await?;
    {
        let mut state = cache.state.lock().expect("resource cache lock");
        state.objects = objects;
        state.progress = revision;
        state.ring.clear();
        state.ring_start = revision + 1;
        // Watchers of the previous generation end and relist.
        state.live = broadcast::channel(WATCHER_BUFFER).0;
        state.ready = true;
    }
    let _ = cache.seen.send(Some(revision));
    Ok(events)
}

fn apply(cache: &ResourceCache, e: Event) {
    let progress = {
        let mut state = cache.state.lock().expect("resource cache lock");
        match e.kind {
            EventKind::Progress => {}
            EventKind::Put => {
                state.objects.insert(e.kv.key.clone(), e.kv.clone());
            }
            EventKind::Delete => {
                state.objects.remove(&e.kv.key);
            }
        }
        state.progress = state.progress.max(e.revision());
        if e.kind != EventKind::Progress {
            let _ = state.live.send(Arc::new(e.clone()));
            state.ring.push_back(e);
            if state.ring.len() > RING
                && let Some(old) = state.ring.pop_front()
            {
                state.ring_start = old.revision() + 1;
            }
        }
        state.progress
    };
    let _ = cache.seen.send(Some(progress));
}
