//! What simulated nodes look like and how they behave.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;

use crate::Error;

/// A simulation: how many nodes, their shape, and their timings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How many nodes.
    pub nodes: usize,
    /// Node names are `<prefix>-<n>`, n from 0.
    pub name_prefix: String,
    /// Capacity (and allocatable) CPU, as a quantity (`32`, `4000m`).
    pub cpu: String,
    /// Capacity memory (`256Gi`).
    pub memory: String,
    /// How many pods a node takes.
    pub pods: String,
    /// Capacity ephemeral storage.
    pub ephemeral_storage: String,
    /// Extra node labels (besides hostname, os and arch).
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    pub taints: Vec<Taint>,
    /// How often Leases are renewed (a kubelet's default is 10 s).
    pub lease_interval: Duration,
    /// How often node status is reported when nothing changed (a kubelet's default is 5 min).
    pub status_interval: Duration,
    /// How long a Job's pod runs before it succeeds.
    pub job_duration: Duration,
    /// How long a deleted pod's containers take to stop (at most its grace period).
    pub stop_duration: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 1,
            name_prefix: "sim-node".into(),
            cpu: "32".into(),
            memory: "256Gi".into(),
            pods: "110".into(),
            ephemeral_storage: "100Gi".into(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            lease_interval: Duration::from_secs(10),
            status_interval: Duration::from_secs(60),
            job_duration: Duration::from_secs(5),
            stop_duration: Duration::from_secs(1),
        }
    }
}

/// Parses `key=value` (the value may be empty) as `--node-label` takes it.
pub fn parse_label(text: &str) -> Result<(String, String), Error> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("node label {text:?} is not key=value")))?;
    if key.is_empty() {
        return Err(Error::Config(format!("node label {text:?} has no key")));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Parses `key[=value]:Effect` as `--node-taint` (and kubectl taint) takes it.
pub fn parse_taint(text: &str) -> Result<Taint, Error> {
    let bad = || Error::Config(format!("node taint {text:?} is not key[=value]:Effect"));
    let (key_value, effect) = text.rsplit_once(':').ok_or_else(bad)?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(Error::Config(format!(
            "node taint {text:?}: effect must be NoSchedule, PreferNoSchedule or NoExecute"
        )));
    }
    let (key, value) = match key_value.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (key_value, None),
    };
    if key.is_empty() {
        return Err(bad());
    }
    Ok(Taint {
        key: key.to_string(),
        value: value.filter(|v| !v.is_empty()),
        effect: effect.to_string(),
        time_added: None,
    })
}

impl SimConfig {
    /// The name of node `n`.
    pub fn node_name(&self, n: usize) -> String {
        format!("{}-{n}", self.name_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_parse_as_kubectl_writes_them() {
        let t = parse_taint("dedicated=gpu:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_deref(), t.effect.as_str()),
            ("dedicated", Some("gpu"), "NoSchedule")
        );
        let t = parse_taint("spot:PreferNoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value, t.effect.as_str()),
            ("spot", None, "PreferNoSchedule")
        );
        assert!(parse_taint("x=y:Sometimes").is_err());
        assert!(parse_taint("novalue").is_err());
    }

    #[test]
    fn labels_need_a_key_and_may_have_an_empty_value() {
        assert_eq!(
            parse_label("role=").unwrap(),
            ("role".into(), String::new())
        );
        assert!(parse_label("=x").is_err());
        assert!(parse_label("plain").is_err());
    }
}
