//! Conversion between versions of a built-in kind that share storage.
//!
//! A kind served in several versions is stored in one (the storage version); the other
//! versions' rows carry a [`Conversion`] that turns their objects into the stored form on the
//! way in and back on the way out, as upstream's conversion functions do.

use serde_json::{Value, json};

/// Converts objects of one served version to and from the storage version.
pub trait Conversion: Send + Sync + 'static {
    /// The served version's object in the storage version.
    fn to_storage(&self, obj: Value) -> Value;
    /// A stored object in the served version.
    fn to_served(&self, obj: Value) -> Value;
}

/// autoscaling/v1 HorizontalPodAutoscalers, stored as autoscaling/v2: the CPU utilization
/// target is the v2 Resource metric on `cpu`.
pub struct HpaV1;

impl Conversion for HpaV1 {
    fn to_storage(&self, mut obj: Value) -> Value {
        obj["apiVersion"] = json!("autoscaling/v2");
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
            && let Some(target) = spec.remove("targetCPUUtilizationPercentage")
        {
            spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]),
            );
        }
        if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut)
            && let Some(current) = status.remove("currentCPUUtilizationPercentage")
        {
            status.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}]),
            );
        }
        obj
    }

    fn to_served(&self, mut obj: Value) -> Value {
        obj["apiVersion"] = json!("autoscaling/v1");
        let cpu = |metrics: Option<&Value>, field: &str| -> Option<Value> {
            metrics?.as_array()?.iter().find_map(|m| {
                (m.get("type")? == "Resource" && m.pointer("/resource/name")? == "cpu").then(
                    || {
                        m.pointer(&format!("/resource/{field}/averageUtilization"))
                            .cloned()
                    },
                )?
            })
        };
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            let target = cpu(spec.get("metrics"), "target");
            spec.remove("metrics");
            spec.remove("behavior");
            if let Some(t) = target {
                spec.insert("targetCPUUtilizationPercentage".into(), t);
            }
        }
        if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
            let current = cpu(status.get("currentMetrics"), "current");
            status.remove("currentMetrics");
            status.remove("conditions");
            if let Some(c) = current {
                status.insert("currentCPUUtilizationPercentage".into(), c);
            }
        }
        obj
    }
}

/// events.k8s.io/v1 Events, stored as core/v1 Events (upstream keeps both in one place, so
/// `kubectl describe` shows what controllers record through either API).
pub struct EventsV1;

/// Fields renamed between events.k8s.io/v1 and core/v1, as upstream's conversion maps them.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(
    mut obj: Value,
    pairs: impl Iterator<Item = (&'static str, &'static str)>,
    api_version: &str,
) -> Value {
    obj["apiVersion"] = json!(api_version);
    if let Some(m) = obj.as_object_mut() {
        for (from, to) in pairs {
            if let Some(v) = m.remove(from) {
                m.insert(to.to_string(), v);
            }
        }
    }
    obj
}

impl Conversion for EventsV1 {
    fn to_storage(&self, obj: Value) -> Value {
        rename(obj, EVENT_FIELDS.iter().copied(), "v1")
    }

    fn to_served(&self, obj: Value) -> Value {
        rename(
            obj,
            EVENT_FIELDS.iter().map(|(a, b)| (*b, *a)),
            "events.k8s.io/v1",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_cpu_target_is_stored_as_a_v2_resource_metric_and_read_back() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 3, "targetCPUUtilizationPercentage": 50}});
        let stored = HpaV1.to_storage(v1.clone());
        assert_eq!(stored["apiVersion"], "autoscaling/v2");
        assert_eq!(
            stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            50
        );
        assert_eq!(HpaV1.to_served(stored), v1);
    }

    #[test]
    fn an_events_v1_event_is_a_core_event_with_upstreams_field_names() {
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "pulled", "reason": "Pulled", "reportingController": "kubelet"});
        let core = EventsV1.to_storage(ev.clone());
        assert_eq!(
            (
                core["involvedObject"]["name"].as_str(),
                core["message"].as_str()
            ),
            (Some("p"), Some("pulled"))
        );
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(EventsV1.to_served(core), ev);
    }
}
