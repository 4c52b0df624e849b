//! RBAC's escalation prevention on writes of Roles, ClusterRoles and their bindings: a user may
//! only grant what they already hold, unless RBAC gives them `escalate` (on roles) or `bind` (on
//! the role a binding names). Members of `system:masters` may grant anything.

use std::sync::Arc;

use bosun_api::{ApiError, ResourceDef};
use bosun_auth::rbac::escalation::{compact_string, uncovered};
use bosun_auth::rbac::{PolicySource, RbacAuthorizer};
use bosun_auth::user::SYSTEM_PRIVILEGED_GROUP;
use bosun_auth::{Attributes, Authorizer, AuthorizerChain, UserInfo};
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};
use serde_json::Value;

use crate::authz::RbacIndex;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Checks RBAC objects about to be written against what their writer holds.
pub struct EscalationGuard {
    authorizer: AuthorizerChain,
    policy: Arc<RbacIndex>,
}

impl EscalationGuard {
    /// A guard reading roles and bindings from `policy`, authorizing `escalate` and `bind`
    /// with the server's authorizers.
    pub fn new(policy: Arc<RbacIndex>, nodes: crate::node_graph::NodeGraphIndex) -> Self {
        EscalationGuard {
            authorizer: crate::authz::authorizer(policy.clone(), nodes),
            policy,
        }
    }

    /// Refuses `object` (of resource `def`, written by `user`) if it would grant `user` more than
    /// they hold; other resources pass.
    pub fn check(
        &self,
        def: &ResourceDef,
        object: &Value,
        user: &UserInfo,
    ) -> Result<(), ApiError> {
        if def.group != RBAC_GROUP || user.in_group(SYSTEM_PRIVILEGED_GROUP) {
            return Ok(());
        }
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let rules: Vec<PolicyRule> = match def.plural.as_str() {
            "roles" | "clusterroles" => {
                let escalate = Attributes::resource(
                    user.clone(),
                    "escalate",
                    RBAC_GROUP,
                    &def.plural,
                    namespace,
                    name,
                );
                if self.authorizer.authorize(&escalate).allowed() {
                    return Ok(());
                }
                parse(object.get("rules"))?
            }
            "rolebindings" | "clusterrolebindings" => {
                let role_ref: RoleRef = parse(object.get("roleRef"))?;
                let role_plural = if role_ref.kind == "Role" {
                    "roles"
                } else {
                    "clusterroles"
                };
                let bind = Attributes::resource(
                    user.clone(),
                    "bind",
                    RBAC_GROUP,
                    role_plural,
                    namespace,
                    &role_ref.name,
                );
                if self.authorizer.authorize(&bind).allowed() {
                    return Ok(());
                }
                match role_ref.kind.as_str() {
                    "Role" => self
                        .policy
                        .role(namespace, &role_ref.name)
                        .and_then(|r| r.rules.clone()),
                    "ClusterRole" => self
                        .policy
                        .cluster_role(&role_ref.name)
                        .and_then(|r| r.rules.clone()),
                    _ => None,
                }
                .ok_or_else(|| ApiError::not_found(RBAC_GROUP, role_plural, &role_ref.name))?
            }
            _ => return Ok(()),
        };
        let held = RbacAuthorizer::new(self.policy.clone()).rules_for(user, namespace);
        let owner: Vec<PolicyRule> = held.rules.into_iter().map(|(_, rule)| rule).collect();
        let missing = uncovered(&owner, &rules);
        if missing.is_empty() {
            return Ok(());
        }
        let mut lines: Vec<String> = compact(missing).iter().map(compact_string).collect();
        lines.sort();
        lines.dedup();
        let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
        let mut reason = format!(
            "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
            user.name,
            groups.join(" "),
            lines.join("\n")
        );
        if !held.errors.is_empty() {
            reason.push_str(&format!("; resolution errors: [{}]", held.errors.join(" ")));
        }
        Err(ApiError::forbidden_object(
            RBAC_GROUP,
            &def.plural,
            name,
            &reason,
        ))
    }
}

fn parse<T: serde::de::DeserializeOwned + Default>(value: Option<&Value>) -> Result<T, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| ApiError::bad_request(e.to_string()))
        }
    }
}

/// Merges the verbs of atomic resource rules that differ in nothing else, as upstream's
/// `CompactRules` does for its messages.
fn compact(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let simple = rule.resource_names.as_ref().is_none_or(Vec::is_empty)
            && rule.non_resource_urls.is_none();
        if simple
            && let Some(existing) = out.iter_mut().find(|r| {
                r.api_groups == rule.api_groups
                    && r.resources == rule.resources
                    && r.resource_names.as_ref().is_none_or(Vec::is_empty)
                    && r.non_resource_urls.is_none()
            })
        {
            for verb in rule.verbs {
                if !existing.verbs.contains(&verb) {
                    existing.verbs.push(verb);
                }
            }
            continue;
        }
        out.push(rule);
    }
    out
}
