//! The ClusterRole aggregation controller: a ClusterRole with an `aggregationRule` holds the
//! union of the rules of every ClusterRole its selectors match (how `admin`, `edit` and `view`
//! pick up rules from `aggregate-to-*` roles and from CRD installers), upstream's
//! `clusterroleaggregation_controller.go`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::{Clients, Error, Shutdown};

/// The controller's name and service account.
pub const NAME: &str = "clusterrole-aggregation-controller";

struct Context {
    clients: Clients,
    roles: Store<ClusterRole>,
}

/// Runs until shutdown.
pub async fn run(clients: Clients, shutdown: Shutdown) {
    let api: Api<ClusterRole> = Api::all(clients.read.clone());
    let controller = Controller::new(api.clone(), watcher::Config::default());
    let roles = controller.store();
    let aggregators = roles.clone();
    controller
        // Any role's change may change what an aggregating role collects.
        .watches(api, watcher::Config::default(), move |_changed| {
            aggregators
                .state()
                .into_iter()
                .filter(|r| r.aggregation_rule.is_some())
                .map(|r| ObjectRef::from_obj(&*r))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.requested())
        .run(
            reconcile,
            error_policy,
            Arc::new(Context { clients, roles }),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_match = selector
        .match_labels
        .as_ref()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let expressions_match = selector.match_expressions.as_ref().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let value = labels.get(&e.key);
            let values = e.values.clone().unwrap_or_default();
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
    });
    labels_match && expressions_match
}

/// The rules `role` should hold: those of every other role a selector matches, in name order,
/// each once.
fn aggregate(role: &ClusterRole, all: &[Arc<ClusterRole>]) -> Vec<PolicyRule> {
    let Some(rule) = &role.aggregation_rule else {
        return Vec::new();
    };
    let selectors = rule.cluster_role_selectors.clone().unwrap_or_default();
    let mut sources: Vec<&Arc<ClusterRole>> = all
        .iter()
        .filter(|r| r.name_any() != role.name_any())
        .filter(|r| selectors.iter().any(|s| selects(s, r.labels())))
        .collect();
    sources.sort_by_key(|r| r.name_any());
    let mut rules: Vec<PolicyRule> = Vec::new();
    for source in sources {
        for rule in source.rules.iter().flatten() {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
    }
    rules
}

async fn reconcile(role: Arc<ClusterRole>, ctx: Arc<Context>) -> Result<Action, Error> {
    if role.aggregation_rule.is_none() {
        return Ok(Action::await_change());
    }
    let rules = aggregate(&role, &ctx.roles.state());
    if role.rules.clone().unwrap_or_default() == rules {
        return Ok(Action::await_change());
    }
    let name = role.name_any();
    let api: Api<ClusterRole> = Api::all(ctx.clients.write.clone());
    let patch = json!({"rules": rules});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::api(
            "aggregating rules into",
            format!("clusterrole {name}"),
        ))?;
    tracing::info!(role = %name, rules = rules.len(), "aggregated rules");
    Ok(Action::await_change())
}

fn error_policy(_: Arc<ClusterRole>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(%error, "cluster role aggregation failed");
    Action::requeue(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::AggregationRule;
    use kube::api::ObjectMeta;

    fn role(name: &str, labels: &[(&str, &str)], verbs: &[&str]) -> Arc<ClusterRole> {
        Arc::new(ClusterRole {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec!["".into()]),
                resources: Some(vec!["pods".into()]),
                verbs: verbs.iter().map(|v| v.to_string()).collect(),
                ..Default::default()
            }]),
            aggregation_rule: None,
        })
    }

    #[test]
    fn an_aggregating_role_collects_each_selected_rule_once_in_name_order() {
        let mut view = (*role("view", &[], &[])).clone();
        view.rules = None;
        view.aggregation_rule = Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(BTreeMap::from([("agg".to_string(), "true".to_string())])),
                ..Default::default()
            }]),
        });
        let all = vec![
            role("b", &[("agg", "true")], &["list"]),
            role("a", &[("agg", "true")], &["get"]),
            role("c", &[("agg", "true")], &["get"]),
            role("other", &[], &["delete"]),
        ];
        let rules = aggregate(&view, &all);
        let verbs: Vec<_> = rules.iter().map(|r| r.verbs.join(",")).collect();
        assert_eq!(verbs, ["get", "list"]);
    }
}
