//! Resource amounts as the scheduler counts them (upstream's `framework.Resource`) and a pod's
//! effective requests (component-helpers' `PodRequests`): containers summed, init containers
//! maxed with restartable (sidecar) init containers accumulated, pod-level requests overriding
//! cpu and memory, and overhead added.
//!
//! Quantities are summed exactly (in nano-units, with [`bosun_api::quantity`]) and only the
//! per-pod totals are rounded up to milli-cpu and whole units, as upstream does.

use std::collections::BTreeMap;

use bosun_api::quantity::{Format, Quantity};
use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

/// The CPU request the scheduler assumes for a container without one, in milli-cpu (upstream's
/// `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory request the scheduler assumes for a container without one, in bytes (upstream's
/// `DefaultMemoryRequest`, 200Mi).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

const NANOS_PER_MILLI: i128 = 1_000_000;
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Amounts of compute resources: milli-cpu, bytes of memory and ephemeral storage, a pod count,
/// and scalar resources (extended resources, hugepages, attachable volumes) in whole units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// CPU in milli-cores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// The `pods` resource (a node's pod capacity).
    pub allowed_pod_number: i64,
    /// Scalar resources by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// A node's `status.allocatable` as a resource.
    pub fn from_node_allocatable(node: &Node) -> Resource {
        let mut r = Resource::default();
        if let Some(alloc) = node.status.as_ref().and_then(|s| s.allocatable.as_ref()) {
            let mut list = NanoList::new();
            add_api_list(&mut list, alloc);
            r.add_list(&list);
        }
        r
    }

    /// Adds a resource list (upstream's `Resource.Add`): cpu in milli-units, other resources
    /// rounded up to whole units, unknown non-scalar names ignored.
    pub fn add_list(&mut self, list: &NanoList) {
        for (name, nanos) in list {
            match name.as_str() {
                "cpu" => self.milli_cpu += scale(*nanos, NANOS_PER_MILLI),
                "memory" => self.memory += scale(*nanos, NANOS_PER_UNIT),
                "pods" => self.allowed_pod_number += scale(*nanos, NANOS_PER_UNIT),
                "ephemeral-storage" => self.ephemeral_storage += scale(*nanos, NANOS_PER_UNIT),
                _ => {
                    if is_scalar_resource_name(name) {
                        *self.scalar.entry(name.clone()).or_insert(0) +=
                            scale(*nanos, NANOS_PER_UNIT);
                    }
                }
            }
        }
    }

    /// Adds (`sign` = 1) or subtracts (`sign` = -1) another resource.
    pub fn accumulate(&mut self, other: &Resource, sign: i64) {
        self.milli_cpu += sign * other.milli_cpu;
        self.memory += sign * other.memory;
        self.ephemeral_storage += sign * other.ephemeral_storage;
        self.allowed_pod_number += sign * other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) += sign * v;
        }
    }

    /// Whether no compute resource is requested (the pods count is not a request).
    pub fn is_zero_request(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.is_empty()
    }

    /// The amount of a resource by name, in the scheduler's units (0 when absent).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.allowed_pod_number,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }
}

/// `nanos / per`, rounded away from zero (upstream's `ScaledValue` rounding).
fn scale(nanos: i128, per: i128) -> i64 {
    let q = nanos / per;
    let q = if nanos % per != 0 {
        q + nanos.signum()
    } else {
        q
    };
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

/// Whether a resource is counted as a scalar resource (upstream's `IsScalarResourceName`):
/// extended resources, hugepages, attachable volumes and `kubernetes.io/`-prefixed native ones.
pub fn is_scalar_resource_name(name: &str) -> bool {
    is_extended_resource_name(name)
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || name.contains("kubernetes.io/")
}

/// Whether a resource is an extended resource (upstream's `IsExtendedResourceName`): a
/// domain-qualified name outside `kubernetes.io/` and not starting with `requests.`.
pub fn is_extended_resource_name(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    if native || name.starts_with("requests.") {
        return false;
    }
    bosun_api::meta::qualified_name_problems(&format!("requests.{name}")).is_empty()
}

/// A resource list in exact nano-units, by resource name.
pub type NanoList = BTreeMap<String, i128>;

/// A Kubernetes quantity in nano-units; an unparsable quantity (never accepted by the API
/// server) counts as zero.
pub fn quantity_nanos(q: &ApiQuantity) -> i128 {
    Quantity::parse(&q.0).map(|q| q.nanos()).unwrap_or(0)
}

fn add_api_list(dst: &mut NanoList, src: &BTreeMap<String, ApiQuantity>) {
    for (k, v) in src {
        *dst.entry(k.clone()).or_insert(0) += quantity_nanos(v);
    }
}

fn add_nano_list(dst: &mut NanoList, src: &NanoList) {
    for (k, v) in src {
        *dst.entry(k.clone()).or_insert(0) += v;
    }
}

fn max_nano_list(dst: &mut NanoList, src: &NanoList) {
    for (k, v) in src {
        let e = dst.entry(k.clone()).or_insert(*v);
        if *v > *e {
            *e = *v;
        }
    }
}

/// Requests the scheduler assumes for containers that do not set cpu/memory (upstream's
/// `NonMissingContainerRequests`), in nano-units.
#[derive(Clone, Copy, Debug, Default)]
pub struct NonMissing {
    /// Default cpu, if any.
    pub cpu: Option<i128>,
    /// Default memory, if any.
    pub memory: Option<i128>,
}

impl NonMissing {
    /// No defaults: the actual requests.
    pub const NONE: NonMissing = NonMissing {
        cpu: None,
        memory: None,
    };
    /// The defaults of 100m cpu and 200Mi memory.
    pub const DEFAULTS: NonMissing = NonMissing {
        cpu: Some(DEFAULT_MILLI_CPU_REQUEST as i128 * NANOS_PER_MILLI),
        memory: Some(DEFAULT_MEMORY_REQUEST as i128 * NANOS_PER_UNIT),
    };

    fn is_none(&self) -> bool {
        self.cpu.is_none() && self.memory.is_none()
    }
}

fn container_requests(c: &Container, defaults: NonMissing) -> NanoList {
    let mut list = NanoList::new();
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    if let Some(r) = requests {
        add_api_list(&mut list, r);
    }
    if !defaults.is_none() {
        let has = |k: &str| requests.is_some_and(|r| r.contains_key(k));
        if let Some(cpu) = defaults.cpu
            && !has("cpu")
        {
            *list.entry("cpu".to_string()).or_insert(0) += cpu;
        }
        if let Some(mem) = defaults.memory
            && !has("memory")
        {
            *list.entry("memory".to_string()).or_insert(0) += mem;
        }
    }
    list
}

/// Whether pod-level cpu or memory requests are set (upstream's `IsPodLevelRequestsSet`).
pub fn is_pod_level_requests_set(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .is_some_and(|r| r.keys().any(|k| k == "cpu" || k == "memory"))
}

/// Whether an init container is a sidecar (`restartPolicy: Always`).
pub fn is_restartable_init_container(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// A pod's effective requests (upstream's `resourcehelper.PodRequests` with pod-level resources
/// enabled, as in 1.34), with `defaults` applied to containers missing cpu or memory.
pub fn pod_requests(pod: &Pod, defaults: NonMissing) -> NanoList {
    let mut reqs = NanoList::new();
    let Some(spec) = pod.spec.as_ref() else {
        return reqs;
    };
    for c in &spec.containers {
        add_nano_list(&mut reqs, &container_requests(c, defaults));
    }
    let mut restartable = NanoList::new();
    let mut init_max = NanoList::new();
    for c in spec.init_containers.as_deref().unwrap_or_default() {
        let r = container_requests(c, defaults);
        if is_restartable_init_container(c) {
            add_nano_list(&mut reqs, &r);
            add_nano_list(&mut restartable, &r);
            max_nano_list(&mut init_max, &restartable);
        } else {
            let mut tmp = r;
            add_nano_list(&mut tmp, &restartable);
            max_nano_list(&mut init_max, &tmp);
        }
    }
    max_nano_list(&mut reqs, &init_max);
    if is_pod_level_requests_set(pod)
        && let Some(r) = spec.resources.as_ref().and_then(|r| r.requests.as_ref())
    {
        for (k, v) in r {
            if k == "cpu" || k == "memory" {
                reqs.insert(k.clone(), quantity_nanos(v));
            }
        }
    }
    if let Some(overhead) = &spec.overhead {
        add_api_list(&mut reqs, overhead);
    }
    reqs
}

/// A pod's requests as a [`Resource`] (upstream's `PodInfo.CalculateResource().Resource`).
pub fn pod_requests_resource(pod: &Pod) -> Resource {
    let mut r = Resource::default();
    r.add_list(&pod_requests(pod, NonMissing::NONE));
    r
}

/// A nano-unit amount of `resource` in the scheduler's unit (milli-cpu for cpu, whole units
/// otherwise), rounded up.
pub fn scheduler_units(resource: &str, nanos: i128) -> i64 {
    if resource == "cpu" {
        scale(nanos, NANOS_PER_MILLI)
    } else {
        scale(nanos, NANOS_PER_UNIT)
    }
}

/// Formats milli-cpu as a quantity string (for messages and tests).
pub fn milli_cpu_string(milli: i64) -> String {
    Quantity::from_milli(milli, Format::DecimalSI).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    fn c(name: &str, req: serde_json::Value) -> serde_json::Value {
        json!({"name": name, "resources": {"requests": req}})
    }

    #[test]
    fn requests_sum_containers_and_max_init_containers() {
        // Upstream's documented example: init 2cpu/1G and 2cpu/3G, containers 2cpu/1G + 1cpu/1G.
        let p = pod(json!({
            "initContainers": [c("i1", json!({"cpu": "2", "memory": "1G"})), c("i2", json!({"cpu": "2", "memory": "3G"}))],
            "containers": [c("c1", json!({"cpu": "2", "memory": "1G"})), c("c2", json!({"cpu": "1", "memory": "1G"}))]
        }));
        let r = pod_requests_resource(&p);
        assert_eq!(r.milli_cpu, 3000);
        assert_eq!(r.memory, 3_000_000_000);
    }

    #[test]
    fn sidecars_add_to_containers_and_to_later_init_containers() {
        let p = pod(json!({
            "initContainers": [
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
                c("i", json!({"cpu": "3"}))
            ],
            "containers": [c("c", json!({"cpu": "1"}))]
        }));
        // containers+sidecar = 2, init i runs beside the sidecar = 4.
        assert_eq!(pod_requests_resource(&p).milli_cpu, 4000);
    }

    #[test]
    fn overhead_is_added_and_pod_level_requests_override() {
        let p = pod(json!({
            "overhead": {"cpu": "250m"},
            "resources": {"requests": {"cpu": "2"}},
            "containers": [c("c", json!({"cpu": "1", "memory": "1Gi"}))]
        }));
        let r = pod_requests_resource(&p);
        assert_eq!(r.milli_cpu, 2250);
        assert_eq!(r.memory, 1 << 30);
    }

    #[test]
    fn fractions_are_summed_before_rounding() {
        let p = pod(
            json!({"containers": [c("a", json!({"cpu": "0.5m"})), c("b", json!({"cpu": "0.5m"}))]}),
        );
        assert_eq!(pod_requests_resource(&p).milli_cpu, 1);
    }

    #[test]
    fn defaults_apply_only_to_missing_cpu_and_memory() {
        let p = pod(json!({"containers": [c("a", json!({"cpu": "0"})), c("b", json!({}))]}));
        let mut r = Resource::default();
        r.add_list(&pod_requests(&p, NonMissing::DEFAULTS));
        assert_eq!(r.milli_cpu, 100);
        assert_eq!(r.memory, 2 * DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn extended_resources_are_scalars_but_unknown_native_names_are_ignored() {
        assert!(is_scalar_resource_name("nvidia.com/gpu"));
        assert!(is_scalar_resource_name("hugepages-2Mi"));
        assert!(!is_scalar_resource_name("foo"));
        assert!(!is_extended_resource_name("kubernetes.io/foo"));
    }
}
