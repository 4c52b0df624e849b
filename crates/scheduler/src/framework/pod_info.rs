//! A pod with everything the plugins need precomputed once (upstream's `PodInfo` plus the
//! cached `PodResource`): requests, non-zero requests, host ports, tolerations and compiled
//! (anti-)affinity terms. The snapshot keeps one per assigned pod; the pod being scheduled gets
//! one per scheduling cycle, sharing the `Pod` through an `Arc` (no deep copy).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

use super::resource::{NonMissing, Resource, is_pod_level_requests_set, pod_requests};
use super::selectors::{EMPTY_LABELS, Labels, Selector};
use super::taints::Toleration;

/// A host port a pod uses, with upstream's defaults applied (`0.0.0.0`, `TCP`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host IP (`0.0.0.0` when unset).
    pub ip: String,
    /// The protocol (`TCP` when unset).
    pub protocol: String,
    /// The port (always positive).
    pub port: i32,
}

/// A compiled pod (anti-)affinity term (upstream's `fwk.AffinityTerm`).
#[derive(Clone, Debug)]
pub struct AffinityTerm {
    /// Namespaces named by the term (the pod's own when neither namespaces nor a namespace
    /// selector is given).
    pub namespaces: Vec<String>,
    /// Which pods the term selects.
    pub selector: Selector,
    /// The topology key.
    pub topology_key: String,
    /// Namespaces selected by labels (`Nothing` when unset).
    pub namespace_selector: Selector,
}

impl AffinityTerm {
    fn new(pod: &Pod, term: &PodAffinityTerm) -> Result<AffinityTerm, String> {
        let mut label_selector = term.label_selector.clone();
        // matchLabelKeys / mismatchLabelKeys: upstream's API server merges them into the
        // selector at creation; doing it again here is idempotent and keeps Bosun correct if the
        // API server did not.
        if let Some(ls) = label_selector.as_mut() {
            let labels = pod.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS);
            let exprs = ls.match_expressions.get_or_insert_with(Vec::new);
            for (keys, op) in [
                (&term.match_label_keys, "In"),
                (&term.mismatch_label_keys, "NotIn"),
            ] {
                for key in keys.as_deref().unwrap_or_default() {
                    if let Some(v) = labels.get(key) {
                        exprs.push(LabelSelectorRequirement {
                            key: key.clone(),
                            operator: op.to_string(),
                            values: Some(vec![v.clone()]),
                        });
                    }
                }
            }
        }
        let selector = Selector::from_label_selector(label_selector.as_ref())?;
        let namespace_selector = Selector::from_label_selector(term.namespace_selector.as_ref())?;
        let names = term.namespaces.clone().unwrap_or_default();
        let namespaces = if names.is_empty() && term.namespace_selector.is_none() {
            vec![pod.metadata.namespace.clone().unwrap_or_default()]
        } else {
            names
        };
        Ok(AffinityTerm {
            namespaces,
            selector,
            topology_key: term.topology_key.clone(),
            namespace_selector,
        })
    }

    /// Whether a pod in `namespace` with `labels` matches the term, `ns_labels` being the labels
    /// of the pod's namespace (upstream's `AffinityTerm.Matches`).
    pub fn matches(&self, namespace: &str, labels: &Labels, ns_labels: Option<&Labels>) -> bool {
        (self.namespaces.iter().any(|n| n == namespace)
            || self
                .namespace_selector
                .matches(ns_labels.unwrap_or(&EMPTY_LABELS)))
            && self.selector.matches(labels)
    }

    /// Whether the pod matches the term.
    pub fn matches_pod(&self, pod: &PodInfo, ns_labels: Option<&Labels>) -> bool {
        self.matches(pod.namespace(), pod.labels(), ns_labels)
    }
}

/// An affinity term with its weight.
#[derive(Clone, Debug)]
pub struct WeightedAffinityTerm {
    /// The term.
    pub term: AffinityTerm,
    /// Its weight (1-100).
    pub weight: i64,
}

/// A pod and its precomputed scheduling data.
#[derive(Debug)]
pub struct PodInfo {
    pod: Arc<Pod>,
    key: String,
    requests: Resource,
    non0_cpu: i64,
    non0_mem: i64,
    host_ports: Vec<HostPort>,
    tolerations: Vec<Toleration>,
    required_affinity_terms: Vec<AffinityTerm>,
    required_anti_affinity_terms: Vec<AffinityTerm>,
    preferred_affinity_terms: Vec<WeightedAffinityTerm>,
    preferred_anti_affinity_terms: Vec<WeightedAffinityTerm>,
    parse_error: Option<String>,
    priority: i32,
}

/// The key the scheduler tracks a pod by: its UID, or `namespace/name` when it has none.
pub fn pod_key(pod: &Pod) -> String {
    match pod.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() => uid.to_string(),
        _ => format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or("")
        ),
    }
}

fn terms<T>(
    pod: &Pod,
    list: Option<&Vec<T>>,
    term: impl Fn(&T) -> &PodAffinityTerm,
    errors: &mut Vec<String>,
) -> Vec<AffinityTerm> {
    let mut out = Vec::new();
    for t in list.map(Vec::as_slice).unwrap_or_default() {
        match AffinityTerm::new(pod, term(t)) {
            Ok(a) => out.push(a),
            Err(e) => {
                // Upstream drops the whole list when one term fails to parse.
                errors.push(e);
                return Vec::new();
            }
        }
    }
    out
}

fn weighted(
    pod: &Pod,
    list: Option<&Vec<WeightedPodAffinityTerm>>,
    errors: &mut Vec<String>,
) -> Vec<WeightedAffinityTerm> {
    let mut out = Vec::new();
    for t in list.map(Vec::as_slice).unwrap_or_default() {
        match AffinityTerm::new(pod, &t.pod_affinity_term) {
            Ok(term) => out.push(WeightedAffinityTerm {
                term,
                weight: i64::from(t.weight),
            }),
            Err(e) => {
                errors.push(e);
                return Vec::new();
            }
        }
    }
    out
}

impl PodInfo {
    /// Precomputes a pod's scheduling data (upstream's `NewPodInfo` + `CalculateResource`).
    /// Affinity terms that fail to parse are dropped and the error kept for
    /// [`PodInfo::parse_error`], as upstream does.
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let mut requests = Resource::default();
        requests.add_list(&pod_requests(&pod, NonMissing::NONE));
        // Non-zero requests: defaults for missing cpu/memory (with pod-level resources, only
        // for what is missing at both levels).
        let defaults = if is_pod_level_requests_set(&pod) {
            let reqs = pod_requests(&pod, NonMissing::NONE);
            NonMissing {
                cpu: (!reqs.contains_key("cpu"))
                    .then_some(NonMissing::DEFAULTS.cpu)
                    .flatten(),
                memory: (!reqs.contains_key("memory"))
                    .then_some(NonMissing::DEFAULTS.memory)
                    .flatten(),
            }
        } else {
            NonMissing::DEFAULTS
        };
        let mut non0 = Resource::default();
        non0.add_list(&pod_requests(&pod, defaults));

        let spec = pod.spec.as_ref();
        let mut host_ports = Vec::new();
        if let Some(spec) = spec {
            let sidecars = spec
                .init_containers
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter(|c| super::resource::is_restartable_init_container(c));
            for c in sidecars.chain(spec.containers.iter()) {
                for p in c.ports.as_deref().unwrap_or_default() {
                    let port = p.host_port.unwrap_or(0);
                    if port <= 0 {
                        continue;
                    }
                    host_ports.push(HostPort {
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".to_string()),
                        protocol: p
                            .protocol
                            .clone()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "TCP".to_string()),
                        port,
                    });
                }
            }
        }
        let tolerations = spec
            .and_then(|s| s.tolerations.as_ref())
            .map(|ts| ts.iter().map(Toleration::from_api).collect())
            .unwrap_or_default();

        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let mut errors = Vec::new();
        let required_affinity_terms = terms(
            &pod,
            pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            |t| t,
            &mut errors,
        );
        let required_anti_affinity_terms = terms(
            &pod,
            paa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            |t| t,
            &mut errors,
        );
        let preferred_affinity_terms = weighted(
            &pod,
            pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let preferred_anti_affinity_terms = weighted(
            &pod,
            paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            }),
            &mut errors,
        );
        let priority = spec.and_then(|s| s.priority).unwrap_or(0);
        PodInfo {
            key: pod_key(&pod),
            requests,
            non0_cpu: non0.milli_cpu,
            non0_mem: non0.memory,
            host_ports,
            tolerations,
            required_affinity_terms,
            required_anti_affinity_terms,
            preferred_affinity_terms,
            preferred_anti_affinity_terms,
            parse_error: (!errors.is_empty()).then(|| errors.join(", ")),
            priority,
            pod,
        }
    }

    /// The pod.
    pub fn pod(&self) -> &Arc<Pod> {
        &self.pod
    }

    /// The key the scheduler tracks the pod by (see [`pod_key`]).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or("")
    }

    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("")
    }

    /// The pod's labels.
    pub fn labels(&self) -> &Labels {
        self.pod.metadata.labels.as_ref().unwrap_or(&EMPTY_LABELS)
    }

    /// `spec.nodeName` (empty when unset).
    pub fn node_name(&self) -> &str {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("")
    }

    /// The pod's effective requests.
    pub fn requests(&self) -> &Resource {
        &self.requests
    }

    /// CPU requested, with 100m assumed for containers that set none (milli-cpu).
    pub fn non0_cpu(&self) -> i64 {
        self.non0_cpu
    }

    /// Memory requested, with 200Mi assumed for containers that set none (bytes).
    pub fn non0_mem(&self) -> i64 {
        self.non0_mem
    }

    /// Host ports of containers and sidecars.
    pub fn host_ports(&self) -> &[HostPort] {
        &self.host_ports
    }

    /// Tolerations.
    pub fn tolerations(&self) -> &[Toleration] {
        &self.tolerations
    }

    /// Required pod affinity terms.
    pub fn required_affinity_terms(&self) -> &[AffinityTerm] {
        &self.required_affinity_terms
    }

    /// Required pod anti-affinity terms.
    pub fn required_anti_affinity_terms(&self) -> &[AffinityTerm] {
        &self.required_anti_affinity_terms
    }

    /// Preferred pod affinity terms.
    pub fn preferred_affinity_terms(&self) -> &[WeightedAffinityTerm] {
        &self.preferred_affinity_terms
    }

    /// Preferred pod anti-affinity terms.
    pub fn preferred_anti_affinity_terms(&self) -> &[WeightedAffinityTerm] {
        &self.preferred_anti_affinity_terms
    }

    /// Why some affinity terms could not be parsed, if any.
    pub fn parse_error(&self) -> Option<&str> {
        self.parse_error.as_deref()
    }

    /// `spec.priority` (0 when unset).
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// Whether the pod has pod affinity or anti-affinity (upstream's `podWithAffinity`).
    pub fn has_affinity(&self) -> bool {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
    }

    /// Whether the pod has required anti-affinity terms (upstream's
    /// `podWithRequiredAntiAffinity`).
    pub fn has_required_anti_affinity(&self) -> bool {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some_and(|t| !t.is_empty())
    }

    /// Whether the pod is being deleted.
    pub fn is_terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Arc<Pod> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn non_zero_requests_assume_defaults_for_missing_values() {
        let p = PodInfo::new(pod(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": "a"}, {"name": "b", "resources": {"requests": {"cpu": "1"}}}]}
        })));
        assert_eq!(p.requests().milli_cpu, 1000);
        assert_eq!(p.requests().memory, 0);
        assert_eq!(p.non0_cpu(), 1100);
        assert_eq!(p.non0_mem(), 2 * 200 * 1024 * 1024);
        assert_eq!(p.key(), "u1");
    }

    #[test]
    fn host_ports_get_upstream_defaults_and_include_sidecars() {
        let p = PodInfo::new(pod(json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [
                    {"name": "s", "restartPolicy": "Always", "ports": [{"containerPort": 1, "hostPort": 81}]},
                    {"name": "i", "ports": [{"containerPort": 1, "hostPort": 82}]}
                ],
                "containers": [{"name": "c", "ports": [
                    {"containerPort": 80, "hostPort": 80, "protocol": "UDP", "hostIP": "10.0.0.1"},
                    {"containerPort": 90}
                ]}]
            }
        })));
        let ports: Vec<_> = p
            .host_ports()
            .iter()
            .map(|h| (h.ip.as_str(), h.protocol.as_str(), h.port))
            .collect();
        assert_eq!(ports, vec![("0.0.0.0", "TCP", 81), ("10.0.0.1", "UDP", 80)]);
    }

    #[test]
    fn affinity_terms_default_to_the_pods_namespace() {
        let p = PodInfo::new(pod(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
            "spec": {"containers": [], "affinity": {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
                ]
            }}}
        })));
        let t = &p.required_anti_affinity_terms()[0];
        assert_eq!(t.namespaces, vec!["ns".to_string()]);
        assert!(t.matches_pod(&p, None));
        assert!(p.has_required_anti_affinity());
        assert!(p.has_affinity());
    }

    #[test]
    fn match_label_keys_are_merged_into_the_selector() {
        let p = PodInfo::new(pod(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "rev": "1"}},
            "spec": {"containers": [], "affinity": {"podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["rev"], "topologyKey": "zone"}
                ]
            }}}
        })));
        let t = &p.required_affinity_terms()[0];
        let mut other: Labels = [("app", "web"), ("rev", "2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(!t.matches("ns", &other, None));
        other.insert("rev".into(), "1".into());
        assert!(t.matches("ns", &other, None));
    }
}
