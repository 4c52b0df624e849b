//! DefaultPreemption: when no node fits, looks for a node where evicting lower-priority pods
//! would make room, and nominates the pod there (upstream's `DefaultPreemption` plugin and
//! `preemption.Evaluator`).
//!
//! The dry run is upstream's: nodes rejected as `Unschedulable` (not `UnschedulableAndUnresolvable`)
//! are tried from a random offset; on each, all lower-priority pods are removed, the filters
//! re-run, and pods are reprieved from the most important down as long as the pod still fits.
//! The best candidate is picked by upstream's criteria (fewest PDB violations, lowest highest
//! victim priority, lowest priority sum, fewest victims, latest start time).
//!
//! Differences: PodDisruptionBudgets are not known to the scheduler core, so no victim counts as
//! violating one; nominated pods of other pods are not considered in the filters; evicting the
//! victims (with the `DisruptionTarget` condition) and setting `status.nominatedNodeName` is the
//! runtime's job, from [`crate::FitError::victims`] and
//! [`crate::FitError::nominated_node_name`].

use std::collections::HashMap;
use std::sync::Arc;

use crate::framework::{
    Code, NodeInfo, NodeToStatus, Plugin, PodInfo, PostFilterContext, PostFilterPlugin,
    PostFilterResult, Status,
};
use crate::schedule::FitError;

/// The plugin's name.
pub const NAME: &str = "DefaultPreemption";
/// The status of nodes where preemption cannot help.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// The status of nodes without lower-priority pods.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// The DefaultPreemption plugin and its arguments.
#[derive(Clone, Copy, Debug)]
pub struct DefaultPreemption {
    /// Minimum share of the candidate nodes to dry-run, in percent (default 10).
    pub min_candidate_nodes_percentage: i64,
    /// Minimum number of candidate nodes to dry-run (default 100).
    pub min_candidate_nodes_absolute: i64,
}

impl Default for DefaultPreemption {
    fn default() -> Self {
        DefaultPreemption {
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        }
    }
}

struct Candidate<'a> {
    node: &'a NodeInfo,
    victims: Vec<Arc<PodInfo>>,
}

fn start_time(p: &PodInfo) -> i128 {
    p.pod()
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or(i128::MAX, |t| t.0.as_nanosecond())
}

/// Whether `a` should be reprieved before `b`: higher priority first, then the one running
/// longer (upstream's `MoreImportantPod`).
fn more_important(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    b.priority()
        .cmp(&a.priority())
        .then(start_time(a).cmp(&start_time(b)))
}

fn terminating_by_preemption(p: &PodInfo) -> bool {
    p.is_terminating()
        && p.pod()
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionTarget"))
            .is_some_and(|c| {
                c.status == "True" && c.reason.as_deref() == Some("PreemptionByScheduler")
            })
}

impl DefaultPreemption {
    fn num_candidates(&self, nodes: usize) -> usize {
        let n = nodes as i64 * self.min_candidate_nodes_percentage / 100;
        n.max(self.min_candidate_nodes_absolute).min(nodes as i64) as usize
    }

    /// Upstream's `PodEligibleToPreemptOthers`.
    fn eligible(&self, ctx: &PostFilterContext<'_>) -> Result<(), &'static str> {
        let pod = ctx.pod;
        let spec = pod.pod().spec.as_ref();
        if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
            return Err("not eligible due to preemptionPolicy=Never.");
        }
        let nominated = pod
            .pod()
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .unwrap_or("");
        if !nominated.is_empty() {
            if ctx.statuses.get(nominated).code() == Code::UnschedulableAndUnresolvable {
                return Ok(());
            }
            if let Some(node) = ctx.snapshot.listed_node(nominated)
                && node
                    .pods()
                    .iter()
                    .any(|p| p.priority() < pod.priority() && terminating_by_preemption(p))
            {
                return Err("not eligible due to a terminating pod on the nominated node.");
            }
        }
        Ok(())
    }

    /// Upstream's `SelectVictimsOnNode` (without PodDisruptionBudgets).
    fn select_victims(
        &self,
        ctx: &PostFilterContext<'_>,
        node: &NodeInfo,
    ) -> (Vec<Arc<PodInfo>>, Status) {
        let pod = ctx.pod;
        let mut lower: Vec<Arc<PodInfo>> = node
            .pods()
            .iter()
            .filter(|p| p.priority() < pod.priority())
            .cloned()
            .collect();
        if lower.is_empty() {
            return (Vec::new(), Status::unresolvable(NO_VICTIMS));
        }
        let mut info = node.clone();
        let mut state = ctx.state.clone();
        for p in &lower {
            info.remove_pod(p.key());
            let s = ctx
                .profile
                .run_pre_filter_remove_pod(&mut state, pod, p, &info, ctx.snapshot);
            if !s.is_success() {
                return (Vec::new(), s);
            }
        }
        let s = ctx.profile.run_filter(&state, pod, &info);
        if !s.is_success() {
            return (Vec::new(), s);
        }
        lower.sort_by(|a, b| more_important(a, b));
        let mut victims = Vec::new();
        for p in lower {
            info.add_pod(p.clone());
            let s = ctx
                .profile
                .run_pre_filter_add_pod(&mut state, pod, &p, &info, ctx.snapshot);
            if !s.is_success() {
                return (Vec::new(), s);
            }
            if !ctx.profile.run_filter(&state, pod, &info).is_success() {
                info.remove_pod(p.key());
                let s =
                    ctx.profile
                        .run_pre_filter_remove_pod(&mut state, pod, &p, &info, ctx.snapshot);
                if !s.is_success() {
                    return (Vec::new(), s);
                }
                victims.push(p);
            }
        }
        (victims, Status::success())
    }

    fn preempt(&self, ctx: &mut PostFilterContext<'_>) -> (Option<PostFilterResult>, Status) {
        if let Err(msg) = self.eligible(ctx) {
            return (None, Status::unschedulable(msg));
        }
        // Nodes rejected as Unschedulable, in list order (upstream's `NodesForStatusCode`).
        let explicit: HashMap<&str, Code> = ctx
            .statuses
            .statuses
            .iter()
            .map(|(n, s)| (n.as_str(), s.code()))
            .collect();
        let absent = ctx.statuses.absent.code();
        let potential: Vec<&NodeInfo> = ctx
            .snapshot
            .node_infos()
            .filter(|n| explicit.get(n.name()).copied().unwrap_or(absent) == Code::Unschedulable)
            .collect();
        let clear = PostFilterResult {
            nominated_node_name: Some(String::new()),
            victims: Vec::new(),
        };
        let mut statuses = NodeToStatus::default();
        let mut candidates: Vec<Candidate<'_>> = Vec::new();
        let mut errors = Vec::new();
        if !potential.is_empty() {
            let offset = ctx.rng.below(potential.len());
            let wanted = self.num_candidates(potential.len());
            for i in 0..potential.len() {
                let node = potential[(offset + i) % potential.len()];
                let (victims, mut s) = self.select_victims(ctx, node);
                if s.is_success() && !victims.is_empty() {
                    candidates.push(Candidate { node, victims });
                    if candidates.len() >= wanted {
                        break;
                    }
                    continue;
                }
                if s.is_success() {
                    s = Status::error(format!(
                        "expected at least one victim pod on node {:?}",
                        node.name()
                    ));
                }
                if s.code() == Code::Error {
                    errors.push(s.message());
                }
                statuses.statuses.push((node.name().to_string(), s));
            }
        }
        if candidates.is_empty() {
            if !errors.is_empty() {
                return (None, Status::error(errors.join(", ")));
            }
            statuses.absent = Status::unresolvable(NOT_HELPFUL);
            let fit = FitError {
                pod: String::new(),
                num_all_nodes: ctx.snapshot.num_nodes(),
                node_to_status: statuses,
                unschedulable_plugins: Default::default(),
                pending_plugins: Default::default(),
                pre_filter_msg: String::new(),
                post_filter_msg: String::new(),
                events: Vec::new(),
                nominated_node_name: None,
                victims: Vec::new(),
            };
            return (Some(clear), Status::unschedulable(fit.message()));
        }
        let best = pick_one(&candidates);
        let c = &candidates[best];
        (
            Some(PostFilterResult {
                nominated_node_name: Some(c.node.name().to_string()),
                victims: c.victims.iter().map(|v| v.pod().clone()).collect(),
            }),
            Status::success(),
        )
    }
}

/// Upstream's `pickOneNodeForPreemption` without PDB information: each criterion keeps the best
/// candidates, the next one breaks ties, and the first remaining candidate wins.
fn pick_one(candidates: &[Candidate<'_>]) -> usize {
    let highest = |c: &Candidate<'_>| c.victims.iter().map(|v| v.priority()).max().unwrap_or(0);
    let criteria: [&dyn Fn(&Candidate<'_>) -> i128; 4] = [
        &|c| -i128::from(highest(c)),
        &|c| {
            -c.victims
                .iter()
                .map(|v| i128::from(v.priority()) + i128::from(i32::MAX) + 1)
                .sum::<i128>()
        },
        &|c| -(c.victims.len() as i128),
        &|c| {
            // The earliest start time among the highest-priority victims; later is better.
            let top = highest(c);
            c.victims
                .iter()
                .filter(|v| v.priority() == top)
                .map(|v| start_time(v))
                .min()
                .unwrap_or(i128::MIN)
        },
    ];
    let mut remaining: Vec<usize> = (0..candidates.len()).collect();
    for f in criteria {
        let best = remaining
            .iter()
            .map(|i| f(&candidates[*i]))
            .max()
            .unwrap_or(0);
        remaining.retain(|i| f(&candidates[*i]) == best);
        if remaining.len() == 1 {
            break;
        }
    }
    remaining[0]
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }

    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        Some(self)
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(&self, ctx: &mut PostFilterContext<'_>) -> (Option<PostFilterResult>, Status) {
        let (result, status) = self.preempt(ctx);
        let msg = status.message();
        if msg.is_empty() {
            return (result, status);
        }
        (
            result,
            Status::new(status.code(), format!("preemption: {msg}")),
        )
    }
}
