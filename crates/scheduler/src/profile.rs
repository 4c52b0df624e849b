//! Scheduling profiles (upstream's `KubeSchedulerProfile` and the framework runtime): a
//! scheduler name and its enabled plugins with score weights, and the code that runs them at
//! each extension point.
//!
//! [`Profile::default_profile`] is `default-scheduler` with the plugins and weights of the v1
//! `KubeSchedulerConfiguration` defaults of Kubernetes 1.34, minus the volume plugins (see the
//! crate documentation). Pods pick a profile by `spec.schedulerName`.

use std::collections::BTreeSet;

use crate::framework::{
    ClusterEvent, Code, CycleState, MAX_NODE_SCORE, MIN_NODE_SCORE, NodeInfo, Plugin, PodInfo,
    PostFilterContext, PostFilterResult, PreFilterResult, Snapshot, Status,
};
use crate::plugins;

/// The scheduler name of the default profile.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

struct Entry {
    plugin: Box<dyn Plugin>,
    weight: i64,
}

/// A scheduler name and its plugins, in upstream's multi-point order.
pub struct Profile {
    scheduler_name: String,
    entries: Vec<Entry>,
    percentage_of_nodes_to_score: Option<i32>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("scheduler_name", &self.scheduler_name)
            .field(
                "plugins",
                &self
                    .entries
                    .iter()
                    .map(|e| (e.plugin.name(), e.weight))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Profile {
    /// A profile with the given plugins and score weights, in the order their extension points
    /// run. Weights only matter for score plugins (upstream's default weight is 1).
    pub fn new(scheduler_name: impl Into<String>, plugins: Vec<(Box<dyn Plugin>, i64)>) -> Profile {
        Profile {
            scheduler_name: scheduler_name.into(),
            entries: plugins
                .into_iter()
                .map(|(plugin, weight)| Entry { plugin, weight })
                .collect(),
            percentage_of_nodes_to_score: None,
        }
    }

    /// `default-scheduler` with upstream's default plugins.
    pub fn default_profile() -> Profile {
        Profile::named(DEFAULT_SCHEDULER_NAME)
    }

    /// A profile with upstream's default plugins under another scheduler name.
    pub fn named(scheduler_name: impl Into<String>) -> Profile {
        Profile::new(scheduler_name, plugins::default_plugins())
    }

    /// Disables a plugin at every extension point.
    pub fn without_plugin(mut self, name: &str) -> Profile {
        self.entries.retain(|e| e.plugin.name() != name);
        self
    }

    /// Appends a plugin (out-of-tree plugins go last, as upstream's custom `multiPoint` ones).
    pub fn with_plugin(mut self, plugin: Box<dyn Plugin>, weight: i64) -> Profile {
        self.entries.push(Entry { plugin, weight });
        self
    }

    /// Replaces a plugin in place, keeping its position (e.g. a differently configured
    /// `NodeResourcesFit`).
    pub fn replace_plugin(mut self, plugin: Box<dyn Plugin>, weight: i64) -> Profile {
        match self
            .entries
            .iter()
            .position(|e| e.plugin.name() == plugin.name())
        {
            Some(i) => self.entries[i] = Entry { plugin, weight },
            None => self.entries.push(Entry { plugin, weight }),
        }
        self
    }

    /// Sets a score plugin's weight.
    pub fn with_weight(mut self, name: &str, weight: i64) -> Profile {
        for e in &mut self.entries {
            if e.plugin.name() == name {
                e.weight = weight;
            }
        }
        self
    }

    /// Sets the profile's `percentageOfNodesToScore` (0 means adaptive).
    pub fn with_percentage_of_nodes_to_score(mut self, percentage: i32) -> Profile {
        self.percentage_of_nodes_to_score = Some(percentage);
        self
    }

    /// The scheduler name pods select the profile with.
    pub fn scheduler_name(&self) -> &str {
        &self.scheduler_name
    }

    /// The profile's own `percentageOfNodesToScore`, if set.
    pub fn percentage_of_nodes_to_score(&self) -> Option<i32> {
        self.percentage_of_nodes_to_score
    }

    /// The enabled plugins' names, in order.
    pub fn plugin_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.plugin.name())
    }

    /// The plugin with this name.
    pub fn plugin(&self, name: &str) -> Option<&dyn Plugin> {
        self.entries
            .iter()
            .find(|e| e.plugin.name() == name)
            .map(|e| e.plugin.as_ref())
    }

    /// The events registered by the named plugins (deduplicated, sorted).
    pub fn events_for<'a>(
        &self,
        plugin_names: impl IntoIterator<Item = &'a str>,
    ) -> Vec<ClusterEvent> {
        let names: BTreeSet<&str> = plugin_names.into_iter().collect();
        let mut events: BTreeSet<ClusterEvent> = BTreeSet::new();
        for e in &self.entries {
            if names.contains(e.plugin.name()) {
                events.extend(e.plugin.events_to_register());
            }
        }
        events.into_iter().collect()
    }

    /// Whether any plugin scores nodes.
    pub fn has_score_plugins(&self) -> bool {
        self.entries.iter().any(|e| e.plugin.as_score().is_some())
    }

    /// Whether any plugin filters nodes.
    pub fn has_filter_plugins(&self) -> bool {
        self.entries.iter().any(|e| e.plugin.as_filter().is_some())
    }

    /// Whether any plugin runs after filtering failed.
    pub fn has_post_filter_plugins(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.plugin.as_post_filter().is_some())
    }

    /// Runs PreFilter plugins (upstream's `RunPreFilterPlugins`): the merged node restriction,
    /// the status, and the plugins that restricted the nodes.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (Option<PreFilterResult>, Status, BTreeSet<&'static str>) {
        let mut result: Option<PreFilterResult> = None;
        let mut with_nodes: BTreeSet<&'static str> = BTreeSet::new();
        let mut returned = Status::success();
        for e in &self.entries {
            let Some(pl) = e.plugin.as_pre_filter() else {
                continue;
            };
            let name = e.plugin.name();
            let (r, mut s) = pl.pre_filter(state, pod, snapshot);
            if s.is_skip() {
                state.skip_filter(name);
                continue;
            }
            if !s.is_success() {
                s.set_plugin(name);
                match s.code() {
                    Code::UnschedulableAndUnresolvable => return (None, s, BTreeSet::new()),
                    Code::Unschedulable => {
                        returned = s;
                        continue;
                    }
                    _ => {
                        let err = Status::error(format!(
                            "running PreFilter plugin {name:?}: {}",
                            s.message()
                        ))
                        .with_plugin(name);
                        return (None, err, BTreeSet::new());
                    }
                }
            }
            if r.as_ref().is_some_and(|r| !r.all_nodes()) {
                with_nodes.insert(name);
            }
            result = match (result, r) {
                (None, r) => r.filter(|r| !r.all_nodes()),
                (Some(acc), r) => Some(acc.merge(r)),
            };
            if let Some(res) = &result
                && res.node_names.as_ref().is_some_and(|n| n.is_empty())
            {
                let list: Vec<&str> = with_nodes.iter().copied().collect();
                let msg = if list.len() == 1 {
                    format!("node(s) didn't satisfy plugin {}", list[0])
                } else {
                    format!(
                        "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                        list.join(" ")
                    )
                };
                return (result, Status::unresolvable(msg), with_nodes);
            }
        }
        (result, returned, with_nodes)
    }

    /// Runs the PreFilter extensions after a pod was added to a node in a simulation.
    pub fn run_pre_filter_add_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        added: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        for e in &self.entries {
            let name = e.plugin.name();
            let Some(pl) = e.plugin.as_pre_filter() else {
                continue;
            };
            if !pl.has_extensions() || state.is_filter_skipped(name) {
                continue;
            }
            let s = pl.add_pod(state, pod, added, node, snapshot);
            if !s.is_success() {
                return Status::error(format!(
                    "running AddPod on PreFilter plugin {name:?}: {}",
                    s.message()
                ));
            }
        }
        Status::success()
    }

    /// Runs the PreFilter extensions after a pod was removed from a node in a simulation.
    pub fn run_pre_filter_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        for e in &self.entries {
            let name = e.plugin.name();
            let Some(pl) = e.plugin.as_pre_filter() else {
                continue;
            };
            if !pl.has_extensions() || state.is_filter_skipped(name) {
                continue;
            }
            let s = pl.remove_pod(state, pod, removed, node, snapshot);
            if !s.is_success() {
                return Status::error(format!(
                    "running RemovePod on PreFilter plugin {name:?}: {}",
                    s.message()
                ));
            }
        }
        Status::success()
    }

    /// Runs Filter plugins on one node, stopping at the first rejection (upstream's
    /// `RunFilterPlugins`).
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        for e in &self.entries {
            let Some(pl) = e.plugin.as_filter() else {
                continue;
            };
            let name = e.plugin.name();
            if state.is_filter_skipped(name) {
                continue;
            }
            let s = pl.filter(state, pod, node);
            if !s.is_success() {
                let s = if s.is_rejected() {
                    s
                } else {
                    Status::error(format!("running {name:?} filter plugin: {}", s.message()))
                };
                return s.with_plugin(name);
            }
        }
        Status::success()
    }

    /// Runs PostFilter plugins until one succeeds or fails hard (upstream's
    /// `RunPostFilterPlugins`); rejections' reasons are collected in order.
    pub fn run_post_filter(
        &self,
        ctx: &mut PostFilterContext<'_>,
    ) -> (Option<PostFilterResult>, Status) {
        let mut result = None;
        let mut reasons = Vec::new();
        let mut rejector = "";
        for e in &self.entries {
            let Some(pl) = e.plugin.as_post_filter() else {
                continue;
            };
            let name = e.plugin.name();
            let (r, s) = pl.post_filter(ctx);
            if s.is_success() {
                return (r, s);
            }
            if s.code() == Code::UnschedulableAndUnresolvable {
                return (r, s.with_plugin(name));
            }
            if !s.is_rejected() {
                return (None, Status::error(s.message()).with_plugin(name));
            }
            if r.is_some() {
                result = r;
            }
            reasons.extend(s.reasons().iter().cloned());
            if rejector.is_empty() {
                rejector = name;
            }
        }
        (
            result,
            Status::with_reasons(Code::Unschedulable, reasons).with_plugin(rejector),
        )
    }

    /// Runs PreScore plugins (upstream's `RunPreScorePlugins`).
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        for e in &self.entries {
            let Some(pl) = e.plugin.as_pre_score() else {
                continue;
            };
            let name = e.plugin.name();
            let s = pl.pre_score(state, pod, nodes, snapshot);
            if s.is_skip() {
                state.skip_score(name);
                continue;
            }
            if !s.is_success() {
                return Status::error(format!("running PreScore plugin {name:?}: {}", s.message()));
            }
        }
        Status::success()
    }

    /// Runs Score plugins, normalizes and weights their scores, and returns each node's total
    /// (upstream's `RunScorePlugins`).
    pub fn run_score(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Result<Vec<i64>, Status> {
        let mut totals = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        for e in &self.entries {
            let Some(pl) = e.plugin.as_score() else {
                continue;
            };
            let name = e.plugin.name();
            if state.is_score_skipped(name) {
                continue;
            }
            for (i, node) in nodes.iter().enumerate() {
                scores[i] = pl.score(state, pod, node, snapshot).map_err(|s| {
                    Status::error(format!(
                        "running Score plugins: plugin {name:?} failed with: {}",
                        s.message()
                    ))
                })?;
            }
            if pl.has_normalize() {
                let s = pl.normalize_score(state, pod, nodes, &mut scores);
                if !s.is_success() {
                    return Err(Status::error(format!(
                        "running Normalize on Score plugins: plugin {name:?} failed with: {}",
                        s.message()
                    )));
                }
            }
            for (total, score) in totals.iter_mut().zip(&scores) {
                if !(MIN_NODE_SCORE..=MAX_NODE_SCORE).contains(score) {
                    return Err(Status::error(format!(
                        "applying score defaultWeights on Score plugins: plugin {name:?} returns an invalid score {score}, it should in the range of [{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing"
                    )));
                }
                *total += score * e.weight;
            }
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_has_upstreams_plugins_and_weights() {
        let p = Profile::default_profile();
        assert_eq!(p.scheduler_name(), "default-scheduler");
        let names: Vec<_> = p.plugin_names().collect();
        assert_eq!(
            names,
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "PodTopologySpread",
                "InterPodAffinity",
                "DynamicResources",
                "DefaultPreemption",
                "NodeResourcesBalancedAllocation",
                "ImageLocality",
            ]
        );
        let weights: Vec<_> = p
            .entries
            .iter()
            .filter(|e| e.plugin.as_score().is_some())
            .map(|e| (e.plugin.name(), e.weight))
            .collect();
        assert_eq!(
            weights,
            [
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1),
            ]
        );
    }

    #[test]
    fn disabling_a_plugin_removes_it_everywhere() {
        let p = Profile::named("other").without_plugin("ImageLocality");
        assert!(p.plugin("ImageLocality").is_none());
        assert_eq!(p.scheduler_name(), "other");
    }
}
