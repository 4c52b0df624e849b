//! The scheduling queue (upstream's `PriorityQueue`): pods wait in the active queue (highest
//! priority first, then oldest), in backoff after a failed attempt (1 s doubling to 10 s), or
//! as unschedulable until a cluster event that could help them happens (or five minutes pass).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bosun_scheduler::ClusterEvent;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::Notify;

const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a pod stays unschedulable without an event before it is tried again.
const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Debug, PartialEq, Eq)]
struct Ready {
    priority: i32,
    seq: u64,
    key: String,
}

impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

enum Place {
    Active,
    Backoff(Instant),
    Unschedulable {
        events: Vec<ClusterEvent>,
        since: Instant,
    },
    /// Popped and being scheduled.
    InFlight,
}

struct Entry {
    pod: Arc<Pod>,
    attempts: u32,
    place: Place,
    /// A relevant event arrived while the pod was in flight.
    moved_meanwhile: bool,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<Ready>,
    backoff: BinaryHeap<Reverse<(Instant, String)>>,
    seq: u64,
}

/// The queue of pods waiting for a node.
#[derive(Default)]
pub struct Queue {
    inner: Mutex<Inner>,
    ready: Notify,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

fn backoff_for(attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(8);
    (INITIAL_BACKOFF * factor).min(MAX_BACKOFF)
}

impl Inner {
    fn activate(&mut self, key: &str) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        entry.place = Place::Active;
        self.seq += 1;
        let ready = Ready {
            priority: priority(&entry.pod),
            seq: self.seq,
            key: key.to_string(),
        };
        self.active.push(ready);
    }

    /// Moves a waiting pod on: to backoff if its backoff has not run out, else active.
    fn wake(&mut self, key: &str, now: Instant) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let until = now + backoff_for(entry.attempts);
        if entry.attempts > 0
            && matches!(entry.place, Place::Unschedulable { since, .. } if since + backoff_for(entry.attempts) > now)
        {
            entry.place = Place::Backoff(until);
            self.backoff.push(Reverse((until, key.to_string())));
        } else {
            self.activate(key);
        }
    }
}

impl Queue {
    /// Adds a pod waiting for a node, or updates the copy of one already queued (an update
    /// of an unschedulable pod may make it schedulable: it is tried again).
    pub fn add(&self, key: String, pod: Arc<Pod>) {
        let mut inner = self.inner.lock().expect("queue lock");
        match inner.entries.get_mut(&key) {
            Some(entry) => {
                let changed =
                    entry.pod.spec != pod.spec || entry.pod.metadata.labels != pod.metadata.labels;
                entry.pod = pod;
                if changed && matches!(entry.place, Place::Unschedulable { .. }) {
                    inner.wake(&key, Instant::now());
                }
            }
            None => {
                inner.entries.insert(
                    key.clone(),
                    Entry {
                        pod,
                        attempts: 0,
                        place: Place::Active,
                        moved_meanwhile: false,
                    },
                );
                inner.activate(&key);
            }
        }
        drop(inner);
        self.ready.notify_one();
    }

    /// Forgets a pod (deleted, or bound by someone else).
    pub fn remove(&self, key: &str) {
        self.inner.lock().expect("queue lock").entries.remove(key);
    }

    /// Waits for the next pod to schedule.
    pub async fn pop(&self) -> (String, Arc<Pod>) {
        loop {
            let notified = self.ready.notified();
            let next_backoff = {
                let mut inner = self.inner.lock().expect("queue lock");
                let now = Instant::now();
                // Backoffs that ran out, and pods unschedulable for too long, go active.
                while let Some(Reverse((until, _))) = inner.backoff.peek() {
                    if *until > now {
                        break;
                    }
                    let Reverse((until, key)) = inner.backoff.pop().expect("peeked");
                    if matches!(inner.entries.get(&key).map(|e| &e.place), Some(Place::Backoff(u)) if *u == until)
                    {
                        inner.activate(&key);
                    }
                }
                let stale: Vec<String> = inner
                    .entries
                    .iter()
                    .filter(|(_, e)| matches!(e.place, Place::Unschedulable { since, .. } if now.duration_since(since) > MAX_UNSCHEDULABLE))
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in stale {
                    inner.activate(&key);
                }
                while let Some(ready) = inner.active.pop() {
                    let Some(entry) = inner.entries.get_mut(&ready.key) else {
                        continue;
                    };
                    if !matches!(entry.place, Place::Active) {
                        continue;
                    }
                    entry.place = Place::InFlight;
                    entry.moved_meanwhile = false;
                    return (ready.key, entry.pod.clone());
                }
                inner.backoff.peek().map(|Reverse((until, _))| *until)
            };
            let wait = next_backoff
                .map(|until| until.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(30));
            let _ = tokio::time::timeout(wait, notified).await;
        }
    }

    /// A scheduled pod leaves the queue.
    pub fn done(&self, key: &str) {
        self.remove(key);
    }

    /// A pod that did not fit waits for one of `events` (or, if one already happened while it
    /// was being scheduled, only for its backoff).
    pub fn unschedulable(&self, key: &str, events: Vec<ClusterEvent>) {
        let mut inner = self.inner.lock().expect("queue lock");
        let now = Instant::now();
        let Some(entry) = inner.entries.get_mut(key) else {
            return;
        };
        entry.attempts += 1;
        if entry.moved_meanwhile {
            let until = now + backoff_for(entry.attempts);
            entry.place = Place::Backoff(until);
            inner.backoff.push(Reverse((until, key.to_string())));
        } else {
            entry.place = Place::Unschedulable { events, since: now };
        }
        drop(inner);
        self.ready.notify_one();
    }

    /// A pod whose attempt failed for the scheduler's own reasons (a failed binding) is
    /// retried after its backoff.
    pub fn retry(&self, key: &str, pod: Arc<Pod>) {
        let mut inner = self.inner.lock().expect("queue lock");
        let now = Instant::now();
        let attempts = inner.entries.get(key).map_or(0, |e| e.attempts) + 1;
        let until = now + backoff_for(attempts);
        inner.entries.insert(
            key.to_string(),
            Entry {
                pod,
                attempts,
                place: Place::Backoff(until),
                moved_meanwhile: false,
            },
        );
        inner.backoff.push(Reverse((until, key.to_string())));
        drop(inner);
        self.ready.notify_one();
    }

    /// A cluster event: unschedulable pods waiting for such an event are tried again.
    pub fn on_event(&self, event: &ClusterEvent) {
        let mut inner = self.inner.lock().expect("queue lock");
        let now = Instant::now();
        let mut woken = Vec::new();
        for (key, entry) in inner.entries.iter_mut() {
            match &entry.place {
                Place::Unschedulable { events, .. } if events.iter().any(|e| e.matches(event)) => {
                    woken.push(key.clone())
                }
                Place::InFlight => entry.moved_meanwhile = true,
                _ => {}
            }
        }
        for key in &woken {
            inner.wake(key, now);
        }
        drop(inner);
        if !woken.is_empty() {
            self.ready.notify_one();
        }
    }

    /// Pods waiting, by where: (active, backoff, unschedulable).
    pub fn lengths(&self) -> (usize, usize, usize) {
        let inner = self.inner.lock().expect("queue lock");
        let mut counts = (0, 0, 0);
        for entry in inner.entries.values() {
            match entry.place {
                Place::Active | Place::InFlight => counts.0 += 1,
                Place::Backoff(_) => counts.1 += 1,
                Place::Unschedulable { .. } => counts.2 += 1,
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_scheduler::{ActionType, EventResource};
    use serde_json::json;

    fn pod(name: &str, priority: i32) -> Arc<Pod> {
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [], "priority": priority}})).unwrap())
    }

    #[tokio::test]
    async fn higher_priority_pods_come_first_then_the_oldest() {
        let q = Queue::default();
        q.add("a".into(), pod("a", 0));
        q.add("b".into(), pod("b", 10));
        q.add("c".into(), pod("c", 0));
        let order: Vec<String> = vec![q.pop().await.0, q.pop().await.0, q.pop().await.0];
        assert_eq!(order, ["b", "a", "c"]);
    }

    #[tokio::test]
    async fn an_unschedulable_pod_waits_for_a_matching_event() {
        let q = Queue::default();
        q.add("a".into(), pod("a", 0));
        let (key, _) = q.pop().await;
        let node_add = ClusterEvent::new(EventResource::Node, ActionType::ADD);
        q.unschedulable(&key, vec![node_add]);
        assert_eq!(q.lengths(), (0, 0, 1));
        q.on_event(&ClusterEvent::new(
            EventResource::AssignedPod,
            ActionType::DELETE,
        ));
        assert_eq!(q.lengths(), (0, 0, 1));
        q.on_event(&node_add);
        // Tried once already: it backs off for a second first.
        assert_eq!(q.lengths(), (0, 1, 0));
        let started = Instant::now();
        let (again, _) = q.pop().await;
        assert_eq!(again, "a");
        assert!(started.elapsed() >= Duration::from_millis(500));
    }
}
