//! Events as upstream's controllers record them (client-go's `record` package): core/v1
//! Events naming the object, a reason and a message, from a source component; a repeat of the
//! same event within ten minutes bumps the stored one's `count` and `lastTimestamp` (what
//! `kubectl describe` shows as `x3 over 2m`), and more than ten events of the same reason
//! about one object within ten minutes are folded into one
//! `(combined from similar events): ...` event, as upstream's EventCorrelator does.
//!
//! kube-rs has a recorder of its own, but it writes events.k8s.io series keyed without the
//! message, so distinct messages ("Created pod: a", "Created pod: b") would be merged; this
//! one keeps upstream's keys.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

/// How long a recorded event may be bumped instead of recorded again.
const WINDOW: Duration = Duration::from_secs(600);
/// Similar events about one object beyond which they are combined.
const SIMILAR_LIMIT: usize = 10;
/// Entries kept before the oldest are forgotten.
const CACHE_LIMIT: usize = 4096;

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something may need attention.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

struct Recorded {
    namespace: String,
    name: String,
    count: i32,
    at: Instant,
}

/// Records events for one component.
pub struct Recorder {
    client: Client,
    component: String,
    /// By (object, type, reason, message): the stored event to bump.
    recorded: Mutex<HashMap<String, Recorded>>,
    /// By (object, type, reason): when similar events were seen, to fold a flood.
    similar: Mutex<HashMap<String, Vec<Instant>>>,
}

fn object_key(object: &ObjectReference) -> String {
    format!(
        "{}/{}/{}/{}/{}",
        object.kind.as_deref().unwrap_or_default(),
        object.namespace.as_deref().unwrap_or_default(),
        object.name.as_deref().unwrap_or_default(),
        object.uid.as_deref().unwrap_or_default(),
        object.api_version.as_deref().unwrap_or_default(),
    )
}

impl Recorder {
    /// A recorder writing as `client`, naming `component` as the events' source.
    pub fn new(client: Client, component: &str) -> Self {
        Recorder {
            client,
            component: component.to_string(),
            recorded: Mutex::default(),
            similar: Mutex::default(),
        }
    }

    /// Records an event about `object`; failures are logged, never returned (an event is
    /// never worth failing a sync for).
    pub async fn record(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
    ) {
        if let Err(e) = self.try_record(object, type_, reason, message).await {
            tracing::debug!(error = %e, reason, "event not recorded");
        }
    }

    async fn try_record(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        let aggregate = format!("{}|{}|{reason}", object_key(object), type_.as_str());
        let flooded = {
            let mut similar = self.similar.lock().expect("events lock");
            let seen = similar.entry(aggregate.clone()).or_default();
            seen.retain(|t| t.elapsed() < WINDOW);
            seen.push(Instant::now());
            seen.len() > SIMILAR_LIMIT
        };
        let (key, message) = if flooded {
            (
                format!("{aggregate}|combined"),
                format!("(combined from similar events): {message}"),
            )
        } else {
            (format!("{aggregate}|{message}"), message.to_string())
        };
        let now = bosun_api::meta::now_rfc3339();
        let existing = {
            let recorded = self.recorded.lock().expect("events lock");
            recorded
                .get(&key)
                .filter(|r| r.at.elapsed() < WINDOW)
                .map(|r| (r.namespace.clone(), r.name.clone(), r.count))
        };
        if let Some((namespace, name, count)) = existing {
            let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
            let patch = json!({"count": count + 1, "lastTimestamp": now, "message": message});
            if api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .is_ok()
            {
                self.remember(key, namespace, name, count + 1);
                return Ok(());
            }
            // Gone (events expire): record it afresh.
        }
        let namespace = object
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let suffix = format!("{:x}", time_suffix());
        let event: Event = serde_json::from_value(json!({
            "metadata": {
                "name": format!("{}.{suffix}", object.name.as_deref().unwrap_or("event")),
                "namespace": namespace,
            },
            "involvedObject": object,
            "reason": reason,
            "message": message,
            "type": type_.as_str(),
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": "",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }))
        .expect("a well-formed event");
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let created = api.create(&PostParams::default(), &event).await?;
        let name = created.metadata.name.unwrap_or_default();
        self.remember(key, namespace, name, 1);
        Ok(())
    }

    fn remember(&self, key: String, namespace: String, name: String, count: i32) {
        let mut recorded = self.recorded.lock().expect("events lock");
        if recorded.len() >= CACHE_LIMIT {
            recorded.retain(|_, r| r.at.elapsed() < WINDOW);
            if recorded.len() >= CACHE_LIMIT {
                recorded.clear();
            }
        }
        recorded.insert(
            key,
            Recorded {
                namespace,
                name,
                count,
                at: Instant::now(),
            },
        );
    }
}

/// Nanoseconds since the epoch, as upstream's event names end (`<object>.<hex nanos>`).
fn time_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
