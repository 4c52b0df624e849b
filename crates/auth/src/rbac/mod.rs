//! The RBAC authorizer: Roles and ClusterRoles granted through RoleBindings and
//! ClusterRoleBindings, evaluated as upstream's `plugin/pkg/auth/authorizer/rbac` does.
//!
//! ClusterRoleBindings grant everywhere; RoleBindings grant only in their own namespace, whether
//! they point at a Role of that namespace or at a ClusterRole. Rules only add: there is no deny.
//! A binding whose role is missing grants nothing, and the missing role is named in the refusal.

pub mod bootstrap;
pub mod escalation;
pub mod rules;

use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use crate::attributes::Attributes;
use crate::authorizer::{Authorizer, Decision};
use crate::user::{UserInfo, service_account_username};

pub use rules::rule_allows;

/// Where the authorizer reads RBAC objects from; the API server answers from its watch cache, so
/// a decision costs no store round trip.
pub trait PolicySource: Send + Sync {
    /// Every ClusterRoleBinding.
    fn cluster_role_bindings(&self) -> Vec<Arc<ClusterRoleBinding>>;
    /// The RoleBindings of one namespace.
    fn role_bindings(&self, namespace: &str) -> Vec<Arc<RoleBinding>>;
    /// A Role by namespace and name.
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>>;
    /// A ClusterRole by name.
    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>>;
}

impl<T: PolicySource + ?Sized> PolicySource for Arc<T> {
    fn cluster_role_bindings(&self) -> Vec<Arc<ClusterRoleBinding>> {
        (**self).cluster_role_bindings()
    }
    fn role_bindings(&self, namespace: &str) -> Vec<Arc<RoleBinding>> {
        (**self).role_bindings(namespace)
    }
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>> {
        (**self).role(namespace, name)
    }
    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>> {
        (**self).cluster_role(name)
    }
}

/// Called with each rule found (and where it came from) or with a binding that could not be
/// resolved; returns false to stop the walk.
pub type RuleVisitor<'a> = dyn FnMut(Result<(&RuleSource, &PolicyRule), String>) -> bool + 'a;

/// Where a rule came from, for "allowed by" explanations and rule reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    /// `ClusterRoleBinding "name"` or `RoleBinding "name/namespace"`.
    pub binding: String,
    /// The role the binding points at, as `Kind "name"`.
    pub role: String,
    /// The subject that matched the user, as upstream describes it.
    pub subject: String,
}

impl std::fmt::Display for RuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} to {}", self.binding, self.role, self.subject)
    }
}

/// The rules that apply to a user in a namespace, and the problems met collecting them.
#[derive(Debug, Default, Clone)]
pub struct ResolvedRules {
    /// Each rule with where it came from.
    pub rules: Vec<(RuleSource, PolicyRule)>,
    /// Bindings that could not be resolved, e.g. `role.rbac.authorization.k8s.io "r" not found`.
    pub errors: Vec<String>,
}

/// Resolves and evaluates RBAC rules from a [`PolicySource`].
pub struct RbacAuthorizer<S> {
    source: S,
}

impl<S: PolicySource> RbacAuthorizer<S> {
    /// An authorizer reading its objects from `source`.
    pub fn new(source: S) -> Self {
        RbacAuthorizer { source }
    }

    /// Calls `visit` for each rule that applies to `user` in `namespace` (cluster-wide rules
    /// first, then the namespace's), or with an error for a binding that cannot be resolved;
    /// stops when `visit` returns false.
    pub fn visit_rules_for(&self, user: &UserInfo, namespace: &str, visit: &mut RuleVisitor<'_>) {
        for binding in self.source.cluster_role_bindings() {
            let Some(subject) = matching_subject(user, binding.subjects.as_deref(), "") else {
                continue;
            };
            let source = RuleSource {
                binding: format!(
                    "ClusterRoleBinding {:?}",
                    binding.metadata.name.as_deref().unwrap_or_default()
                ),
                role: describe_role(&binding.role_ref),
                subject: describe_subject(subject, ""),
            };
            if !self.visit_role(&binding.role_ref, "", &source, visit) {
                return;
            }
        }
        if namespace.is_empty() {
            return;
        }
        for binding in self.source.role_bindings(namespace) {
            let Some(subject) = matching_subject(user, binding.subjects.as_deref(), namespace)
            else {
                continue;
            };
            let name = binding.metadata.name.as_deref().unwrap_or_default();
            let source = RuleSource {
                binding: format!("RoleBinding {:?}", format!("{name}/{namespace}")),
                role: describe_role(&binding.role_ref),
                subject: describe_subject(subject, namespace),
            };
            if !self.visit_role(&binding.role_ref, namespace, &source, visit) {
                return;
            }
        }
    }

    /// Every rule that applies to `user` in `namespace`, as SelfSubjectRulesReview reports them.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> ResolvedRules {
        let mut resolved = ResolvedRules::default();
        self.visit_rules_for(user, namespace, &mut |found| {
            match found {
                Ok((source, rule)) => resolved.rules.push((source.clone(), rule.clone())),
                Err(error) => resolved.errors.push(error),
            }
            true
        });
        resolved
    }

    fn visit_role(
        &self,
        role_ref: &RoleRef,
        namespace: &str,
        source: &RuleSource,
        visit: &mut RuleVisitor<'_>,
    ) -> bool {
        let role = match self.resolve(role_ref, namespace) {
            Ok(role) => role,
            Err(error) => return visit(Err(error)),
        };
        role.rules().iter().all(|rule| visit(Ok((source, rule))))
    }

    /// The role a binding names, shared rather than copied: this runs on every request.
    fn resolve(&self, role_ref: &RoleRef, namespace: &str) -> Result<ResolvedRole, String> {
        let not_found = |resource: &str| {
            format!(
                "{resource}.rbac.authorization.k8s.io {:?} not found",
                role_ref.name
            )
        };
        match role_ref.kind.as_str() {
            "Role" => {
                let role = self
                    .source
                    .role(namespace, &role_ref.name)
                    .ok_or_else(|| not_found("role"))?;
                Ok(ResolvedRole::Role(role))
            }
            "ClusterRole" => {
                let role = self
                    .source
                    .cluster_role(&role_ref.name)
                    .ok_or_else(|| not_found("clusterrole"))?;
                Ok(ResolvedRole::ClusterRole(role))
            }
            kind => Err(format!("unsupported role reference kind: {kind:?}")),
        }
    }
}

impl<S: PolicySource> Authorizer for RbacAuthorizer<S> {
    fn authorize(&self, attributes: &Attributes) -> Decision {
        let mut allowed_by = None;
        let mut errors = Vec::new();
        self.visit_rules_for(
            &attributes.user,
            &attributes.namespace,
            &mut |found| match found {
                Ok((source, rule)) => {
                    if rule_allows(attributes, rule) {
                        allowed_by = Some(source.clone());
                        return false;
                    }
                    true
                }
                Err(error) => {
                    errors.push(error);
                    true
                }
            },
        );
        if allowed_by.is_some() {
            return Decision::Allow;
        }
        let reason = match errors.len() {
            0 => String::new(),
            1 => format!("RBAC: {}", errors[0]),
            _ => format!("RBAC: [{}]", errors.join(", ")),
        };
        Decision::NoOpinion(reason)
    }
}

impl<S: PolicySource> RbacAuthorizer<S> {
    /// The binding that allows the request, as upstream words it in a SubjectAccessReview's
    /// reason (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"`).
    pub fn allowed_by(&self, attributes: &Attributes) -> Option<String> {
        let mut allowed_by = None;
        self.visit_rules_for(&attributes.user, &attributes.namespace, &mut |found| {
            if let Ok((source, rule)) = found
                && rule_allows(attributes, rule)
            {
                allowed_by = Some(format!("RBAC: allowed by {source}"));
                return false;
            }
            true
        });
        allowed_by
    }
}

/// A Role or ClusterRole found for a binding.
enum ResolvedRole {
    Role(Arc<Role>),
    ClusterRole(Arc<ClusterRole>),
}

impl ResolvedRole {
    fn rules(&self) -> &[PolicyRule] {
        match self {
            ResolvedRole::Role(role) => role.rules.as_deref().unwrap_or_default(),
            ResolvedRole::ClusterRole(role) => role.rules.as_deref().unwrap_or_default(),
        }
    }
}

/// The first subject of a binding that names this user, if any. A ServiceAccount subject without
/// a namespace means one in the binding's own namespace.
fn matching_subject<'a>(
    user: &UserInfo,
    subjects: Option<&'a [Subject]>,
    namespace: &str,
) -> Option<&'a Subject> {
    subjects?
        .iter()
        .find(|subject| match subject.kind.as_str() {
            "User" => user.name == subject.name,
            "Group" => user.in_group(&subject.name),
            "ServiceAccount" => {
                let sa_namespace = subject
                    .namespace
                    .as_deref()
                    .filter(|ns| !ns.is_empty())
                    .unwrap_or(namespace);
                !sa_namespace.is_empty()
                    && user.name == service_account_username(sa_namespace, &subject.name)
            }
            _ => false,
        })
}

fn describe_role(role_ref: &RoleRef) -> String {
    format!("{} {:?}", role_ref.kind, role_ref.name)
}

fn describe_subject(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == "ServiceAccount" {
        let namespace = subject
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(binding_namespace);
        format!(
            "{} {:?}",
            subject.kind,
            format!("{}/{namespace}", subject.name)
        )
    } else {
        format!("{} {:?}", subject.kind, subject.name)
    }
}

#[cfg(test)]
mod tests;
