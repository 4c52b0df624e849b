//! One scheduling attempt for one pod (upstream's `schedulePod` and the failure half of
//! `schedulingCycle`): PreFilter, filtering a sample of the nodes starting where the last
//! attempt stopped, PreScore/Score/normalize/weights, picking the best node at random among
//! ties, and on failure PostFilter (preemption) and the `FailedScheduling` message.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    ActionType, ClusterEvent, Code, CycleState, EventResource, NodeInfo, NodeToStatus, PodInfo,
    PostFilterContext, Snapshot, Status,
};
use crate::profile::{DEFAULT_SCHEDULER_NAME, Profile};
use crate::rng::Rng;

/// The fewest nodes a cycle evaluates when the cluster has at least that many (upstream's
/// `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The smallest adaptive percentage of nodes to score (upstream's
/// `minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;
/// Upstream's limit on event messages (`NoteLengthLimit`).
pub const EVENT_MESSAGE_LIMIT: usize = 1024;

/// Where the pod should go (upstream's `ScheduleResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleResult {
    /// The chosen node.
    pub suggested_host: String,
    /// Nodes filtered in this cycle (feasible or not).
    pub evaluated_nodes: usize,
    /// Nodes that passed the filters.
    pub feasible_nodes: usize,
}

/// Why no node could be chosen (upstream's `FitError` and its `Diagnosis`).
#[derive(Clone, Debug)]
pub struct FitError {
    /// The pod's `namespace/name`.
    pub pod: String,
    /// Nodes in the snapshot.
    pub num_all_nodes: usize,
    /// Why each node was rejected.
    pub node_to_status: NodeToStatus,
    /// Plugins that rejected the pod (Unschedulable or UnschedulableAndUnresolvable).
    pub unschedulable_plugins: BTreeSet<&'static str>,
    /// Plugins that returned `Pending`.
    pub pending_plugins: BTreeSet<&'static str>,
    /// The message of the PreFilter rejection, if PreFilter rejected the pod.
    pub pre_filter_msg: String,
    /// The message of the PostFilter plugins (e.g. `preemption: ...`).
    pub post_filter_msg: String,
    /// The events that may make the pod schedulable (see [`FitError::requeue_events`]).
    pub events: Vec<ClusterEvent>,
    /// What to set the pod's `status.nominatedNodeName` to: the node preemption found room on,
    /// `Some("")` to clear a stale nomination (preemption cannot help), `None` to leave it.
    pub nominated_node_name: Option<String>,
    /// The pods to evict so that the pod fits on the nominated node.
    pub victims: Vec<Arc<Pod>>,
}

impl FitError {
    /// The message upstream's `FitError.Error()` produces:
    /// `0/N nodes are available: <PreFilterMsg>. <counted filter reasons>. <PostFilterMsg>`.
    /// Filter reasons are counted per node, written `"<count> <reason>"`, sorted as strings and
    /// joined with `", "`; nodes never evaluated count under the shared absent status.
    pub fn message(&self) -> String {
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        if !self.pre_filter_msg.is_empty() {
            msg.push_str(&format!(" {}.", self.pre_filter_msg));
        } else {
            let mut counts: Vec<(String, usize)> = Vec::new();
            let mut add =
                |reason: &str, n: usize| match counts.iter_mut().find(|(r, _)| r == reason) {
                    Some(e) => e.1 += n,
                    None => counts.push((reason.to_string(), n)),
                };
            for (_, status) in &self.node_to_status.statuses {
                for r in status.reasons() {
                    add(r, 1);
                }
            }
            let explicit = self.node_to_status.statuses.len();
            if explicit < self.num_all_nodes {
                for r in self.node_to_status.absent.reasons() {
                    add(r, self.num_all_nodes - explicit);
                }
            }
            let mut parts: Vec<String> = counts
                .into_iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect();
            parts.sort();
            if !parts.is_empty() {
                msg.push_str(&format!(" {}.", parts.join(", ")));
            }
        }
        if !self.post_filter_msg.is_empty() {
            msg.push_str(&format!(" {}", self.post_filter_msg));
        }
        msg
    }

    /// The events after which the queue should retry the pod. Empty plugin sets mean any event
    /// (upstream moves such pods on every event), reported as the wildcard event.
    pub fn requeue_events(&self) -> &[ClusterEvent] {
        &self.events
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// Why [`schedule`] returned no node.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The snapshot has no node (upstream's `ErrNoNodesAvailable`).
    #[error("no nodes available to schedule pods")]
    NoNodesAvailable,
    /// The pod fits no node.
    #[error("{0}")]
    Unschedulable(Box<FitError>),
    /// No profile handles the pod's `spec.schedulerName`.
    #[error("profile not found for scheduler name {0:?}")]
    NoProfile(String),
    /// A plugin failed (upstream's `Error` status): a scheduler problem, not the pod's.
    #[error("{0}")]
    Internal(String),
}

/// The wildcard event: any change may help.
const ANY_EVENT: ClusterEvent = ClusterEvent::new(EventResource::WildCard, ActionType::ALL);

impl ScheduleError {
    /// The `FailedScheduling` event message: the error text, truncated to upstream's 1024-byte
    /// limit with `" ..."`.
    pub fn event_message(&self) -> String {
        truncate_message(&self.to_string())
    }

    /// The reason for the pod's `PodScheduled=False` condition: `Unschedulable` when the pod
    /// does not fit, `SchedulerError` when the scheduler failed.
    pub fn condition_reason(&self) -> &'static str {
        match self {
            ScheduleError::NoNodesAvailable | ScheduleError::Unschedulable(_) => "Unschedulable",
            ScheduleError::NoProfile(_) | ScheduleError::Internal(_) => "SchedulerError",
        }
    }

    /// Events after which the queue should retry the pod (the wildcard when any event may
    /// help, as for a cluster without nodes or an internal error followed by backoff).
    pub fn requeue_events(&self) -> Vec<ClusterEvent> {
        match self {
            ScheduleError::Unschedulable(fit) => fit.events.clone(),
            _ => vec![ANY_EVENT],
        }
    }

    /// The fit error, if the pod simply did not fit.
    pub fn fit_error(&self) -> Option<&FitError> {
        match self {
            ScheduleError::Unschedulable(f) => Some(f),
            _ => None,
        }
    }
}

/// Truncates an event message to upstream's `NoteLengthLimit`.
pub fn truncate_message(message: &str) -> String {
    if message.len() <= EVENT_MESSAGE_LIMIT {
        return message.to_string();
    }
    let suffix = " ...";
    let mut end = EVENT_MESSAGE_LIMIT - suffix.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &message[..end], suffix)
}

/// State carried from one cycle to the next: where the next node search starts (upstream's
/// `nextStartNodeIndex`, so every node gets its turn), the random source for tie-breaking, and
/// the global `percentageOfNodesToScore` (0 = adaptive, upstream's default).
#[derive(Clone, Debug, Default)]
pub struct SchedulingState {
    /// Index in the node list where the next search starts.
    pub next_start_node_index: usize,
    /// Random source.
    pub rng: Rng,
    /// Global `percentageOfNodesToScore`.
    pub percentage_of_nodes_to_score: i32,
}

impl SchedulingState {
    /// A state with a seeded random source (reproducible tie-breaking).
    pub fn with_seed(seed: u64) -> SchedulingState {
        SchedulingState {
            rng: Rng::with_seed(seed),
            ..SchedulingState::default()
        }
    }
}

/// How many feasible nodes to find before stopping the search (upstream's
/// `numFeasibleNodesToFind`): all nodes below 100; otherwise the configured percentage, or
/// adaptively `50 - nodes/125` percent (at least 5%), but never fewer than 100 nodes.
pub fn num_feasible_nodes_to_find(percentage: i32, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut pct = i64::from(percentage);
    if pct == 0 {
        pct = (50 - num_all_nodes as i64 / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let n = (num_all_nodes as i64 * pct / 100) as usize;
    n.max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Schedules pods across profiles, keeping the [`SchedulingState`] (upstream's `Scheduler`).
#[derive(Debug)]
pub struct Scheduler {
    profiles: Vec<Profile>,
    /// The state carried across cycles.
    pub state: SchedulingState,
}

impl Scheduler {
    /// A scheduler with these profiles (their scheduler names should differ).
    pub fn new(profiles: Vec<Profile>) -> Scheduler {
        Scheduler {
            profiles,
            state: SchedulingState::default(),
        }
    }

    /// A scheduler with a seeded random source.
    pub fn with_seed(profiles: Vec<Profile>, seed: u64) -> Scheduler {
        Scheduler {
            profiles,
            state: SchedulingState::with_seed(seed),
        }
    }

    /// The profiles.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The profile for a scheduler name.
    pub fn profile(&self, scheduler_name: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.scheduler_name() == scheduler_name)
    }

    /// The profile for a pod, by `spec.schedulerName` (`default-scheduler` when unset).
    pub fn profile_for(&self, pod: &Pod) -> Option<&Profile> {
        self.profile(pod_scheduler_name(pod))
    }

    /// Whether some profile handles the pod (the queue should only take such pods).
    pub fn responsible_for(&self, pod: &Pod) -> bool {
        self.profile_for(pod).is_some()
    }

    /// Runs one scheduling attempt for the pod with its profile. See [`schedule`].
    pub fn schedule(
        &mut self,
        snapshot: &Snapshot,
        pod: &Arc<Pod>,
    ) -> Result<ScheduleResult, ScheduleError> {
        let name = pod_scheduler_name(pod);
        let Some(profile) = self.profiles.iter().find(|p| p.scheduler_name() == name) else {
            return Err(ScheduleError::NoProfile(name.to_string()));
        };
        schedule(profile, &mut self.state, snapshot, pod)
    }
}

/// The pod's scheduler name (`default-scheduler` when unset).
pub fn pod_scheduler_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SCHEDULER_NAME)
}

struct Diagnosis<'a> {
    statuses: Vec<(&'a NodeInfo, Status)>,
    absent: Status,
    unschedulable_plugins: BTreeSet<&'static str>,
    pending_plugins: BTreeSet<&'static str>,
    pre_filter_msg: String,
}

impl Diagnosis<'_> {
    fn add_plugin_status(&mut self, s: &Status) {
        if s.plugin().is_empty() {
            return;
        }
        if s.is_rejected() {
            self.unschedulable_plugins.insert(s.plugin());
        }
        if s.code() == Code::Pending {
            self.pending_plugins.insert(s.plugin());
        }
    }
}

/// Schedules one pod with a profile against the snapshot (upstream's `schedulePod`, plus
/// PostFilter and the failure message of `schedulingCycle`). On success the caller assumes the
/// pod on [`ScheduleResult::suggested_host`] ([`Snapshot::assume_pod`]) and binds it.
pub fn schedule(
    profile: &Profile,
    sched: &mut SchedulingState,
    snapshot: &Snapshot,
    pod: &Arc<Pod>,
) -> Result<ScheduleResult, ScheduleError> {
    let num_all = snapshot.num_nodes();
    if num_all == 0 {
        return Err(ScheduleError::NoNodesAvailable);
    }
    let pod_info = PodInfo::new(pod.clone());
    let mut state = CycleState::new();
    let mut diagnosis = Diagnosis {
        statuses: Vec::new(),
        absent: Status::code_only(Code::UnschedulableAndUnresolvable),
        unschedulable_plugins: BTreeSet::new(),
        pending_plugins: BTreeSet::new(),
        pre_filter_msg: String::new(),
    };

    let feasible = find_nodes_that_fit(
        profile,
        sched,
        snapshot,
        &mut state,
        &pod_info,
        &mut diagnosis,
    )?;

    if feasible.is_empty() {
        return Err(fit_error(
            profile, sched, snapshot, &state, &pod_info, diagnosis,
        ));
    }
    let evaluated = feasible.len() + diagnosis.statuses.len();
    if feasible.len() == 1 {
        return Ok(ScheduleResult {
            suggested_host: feasible[0].name().to_string(),
            evaluated_nodes: evaluated,
            feasible_nodes: 1,
        });
    }
    let totals = if profile.has_score_plugins() {
        let s = profile.run_pre_score(&mut state, &pod_info, &feasible, snapshot);
        if !s.is_success() {
            return Err(ScheduleError::Internal(s.message()));
        }
        profile
            .run_score(&state, &pod_info, &feasible, snapshot)
            .map_err(|s| ScheduleError::Internal(s.message()))?
    } else {
        vec![1; feasible.len()]
    };
    let host = select_host(&totals, &mut sched.rng);
    Ok(ScheduleResult {
        suggested_host: feasible[host].name().to_string(),
        evaluated_nodes: evaluated,
        feasible_nodes: feasible.len(),
    })
}

/// The index of the highest total, ties broken uniformly at random (upstream's `selectHost`
/// reservoir sampling).
pub fn select_host(totals: &[i64], rng: &mut Rng) -> usize {
    let mut best = 0;
    let mut count = 0usize;
    for (i, t) in totals.iter().enumerate() {
        if i == 0 || *t > totals[best] {
            best = i;
            count = 1;
        } else if *t == totals[best] {
            count += 1;
            if rng.below(count) == 0 {
                best = i;
            }
        }
    }
    best
}

fn find_nodes_that_fit<'a>(
    profile: &Profile,
    sched: &mut SchedulingState,
    snapshot: &'a Snapshot,
    state: &mut CycleState,
    pod: &PodInfo,
    diagnosis: &mut Diagnosis<'a>,
) -> Result<Vec<&'a NodeInfo>, ScheduleError> {
    let (pre_res, s, restricting) = profile.run_pre_filter(state, pod, snapshot);
    diagnosis.unschedulable_plugins = restricting.clone();
    if !s.is_success() {
        if !s.is_rejected() {
            return Err(ScheduleError::Internal(s.message()));
        }
        diagnosis.pre_filter_msg = s.message();
        diagnosis.add_plugin_status(&s);
        diagnosis.absent = s;
        return Ok(Vec::new());
    }

    // A node nominated by an earlier preemption is tried first.
    let nominated = pod
        .pod()
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty());
    if let Some(name) = nominated
        && let Some(node) = snapshot.listed_node(name)
    {
        let s = profile.run_filter(state, pod, node);
        if s.is_success() {
            return Ok(vec![node]);
        }
        if !s.is_rejected() {
            return Err(ScheduleError::Internal(s.message()));
        }
    }

    let all_count = snapshot.num_nodes();
    let restricted: Option<Vec<&NodeInfo>> = pre_res
        .as_ref()
        .and_then(|r| r.node_names.as_ref())
        .map(|names| {
            names
                .iter()
                .filter_map(|n| snapshot.listed_node(n))
                .collect()
        });
    if restricted.is_some() {
        let list: Vec<&str> = restricting.iter().copied().collect();
        diagnosis.absent = Status::unresolvable(format!(
            "node(s) didn't satisfy plugin(s) [{}]",
            list.join(" ")
        ));
    }
    let num_nodes = restricted.as_ref().map_or(all_count, Vec::len);
    let node_at = |i: usize| -> &'a NodeInfo {
        match &restricted {
            Some(v) => v[i],
            None => snapshot.node_at(i),
        }
    };
    let pct = profile
        .percentage_of_nodes_to_score()
        .unwrap_or(sched.percentage_of_nodes_to_score);
    let mut to_find = num_feasible_nodes_to_find(pct, num_nodes);
    if !profile.has_score_plugins() {
        to_find = to_find.min(1);
    }
    let mut feasible: Vec<&'a NodeInfo> = Vec::with_capacity(to_find);
    if num_nodes > 0 {
        let start = sched.next_start_node_index;
        if !profile.has_filter_plugins() {
            for i in 0..to_find {
                feasible.push(node_at((start + i) % num_nodes));
            }
        } else {
            for i in 0..num_nodes {
                if feasible.len() >= to_find {
                    break;
                }
                let pos = (start + i) % num_nodes;
                let node = node_at(pos);
                let s = profile.run_filter(state, pod, node);
                if s.is_success() {
                    feasible.push(node);
                } else if s.code() == Code::Error {
                    let processed = feasible.len() + diagnosis.statuses.len();
                    sched.next_start_node_index = (start + processed) % all_count;
                    return Err(ScheduleError::Internal(s.message()));
                } else {
                    diagnosis.add_plugin_status(&s);
                    diagnosis.statuses.push((node, s));
                }
            }
        }
        let processed = feasible.len() + diagnosis.statuses.len();
        sched.next_start_node_index = (start + processed) % all_count;
    }
    Ok(feasible)
}

fn fit_error(
    profile: &Profile,
    sched: &mut SchedulingState,
    snapshot: &Snapshot,
    state: &CycleState,
    pod: &PodInfo,
    diagnosis: Diagnosis,
) -> ScheduleError {
    let node_to_status = NodeToStatus {
        statuses: diagnosis
            .statuses
            .into_iter()
            .map(|(node, s)| (node.name().to_string(), s))
            .collect(),
        absent: diagnosis.absent,
    };
    let mut fit = FitError {
        pod: format!("{}/{}", pod.namespace(), pod.name()),
        num_all_nodes: snapshot.num_nodes(),
        node_to_status,
        unschedulable_plugins: diagnosis.unschedulable_plugins,
        pending_plugins: diagnosis.pending_plugins,
        pre_filter_msg: diagnosis.pre_filter_msg,
        post_filter_msg: String::new(),
        events: Vec::new(),
        nominated_node_name: None,
        victims: Vec::new(),
    };
    if profile.has_post_filter_plugins() {
        let mut ctx = PostFilterContext {
            state,
            pod,
            snapshot,
            statuses: &fit.node_to_status,
            profile,
            rng: &mut sched.rng,
        };
        let (result, status) = profile.run_post_filter(&mut ctx);
        fit.post_filter_msg = status.message();
        if let Some(r) = result {
            fit.nominated_node_name = r.nominated_node_name;
            fit.victims = r.victims;
        }
    }
    let plugins = fit
        .unschedulable_plugins
        .iter()
        .chain(fit.pending_plugins.iter())
        .copied();
    fit.events = profile.events_for(plugins);
    if fit.unschedulable_plugins.is_empty() && fit.pending_plugins.is_empty() {
        fit.events = vec![ANY_EVENT];
    }
    ScheduleError::Unschedulable(Box::new(fit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_clusters_are_searched_entirely() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 99), 99);
    }

    #[test]
    fn the_adaptive_percentage_shrinks_with_cluster_size() {
        // 50 - 1000/125 = 42% of 1000
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        // 50 - 5000/125 = 10% of 5000
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        // floored at 5%
        assert_eq!(num_feasible_nodes_to_find(0, 10000), 500);
        // never below 100 nodes
        assert_eq!(num_feasible_nodes_to_find(0, 150), 100);
        assert_eq!(num_feasible_nodes_to_find(10, 500), 100);
        assert_eq!(num_feasible_nodes_to_find(100, 500), 500);
    }

    #[test]
    fn ties_are_broken_at_random_but_the_best_always_wins() {
        let mut rng = Rng::with_seed(3);
        assert_eq!(select_host(&[1, 5, 3], &mut rng), 1);
        let mut seen = [0; 3];
        for _ in 0..300 {
            seen[select_host(&[7, 7, 7], &mut rng)] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
    }

    #[test]
    fn long_event_messages_are_truncated_like_upstream() {
        let long = "x".repeat(2000);
        let t = truncate_message(&long);
        assert_eq!(t.len(), 1024);
        assert!(t.ends_with(" ..."));
        assert_eq!(truncate_message("short"), "short");
    }
}
