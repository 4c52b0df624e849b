use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

/// RBAC objects held in memory.
#[derive(Default)]
struct StaticPolicy {
    roles: Vec<Arc<Role>>,
    cluster_roles: Vec<Arc<ClusterRole>>,
    role_bindings: Vec<Arc<RoleBinding>>,
    cluster_role_bindings: Vec<Arc<ClusterRoleBinding>>,
}

impl PolicySource for StaticPolicy {
    fn cluster_role_bindings(&self) -> Vec<Arc<ClusterRoleBinding>> {
        self.cluster_role_bindings.clone()
    }
    fn role_bindings(&self, namespace: &str) -> Vec<Arc<RoleBinding>> {
        self.role_bindings
            .iter()
            .filter(|b| b.metadata.namespace.as_deref() == Some(namespace))
            .cloned()
            .collect()
    }
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>> {
        self.roles
            .iter()
            .find(|r| {
                r.metadata.namespace.as_deref() == Some(namespace)
                    && r.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }
    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>> {
        self.cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .cloned()
    }
}

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        ..Default::default()
    }
}

fn pod_reader_rules() -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec!["".into()]),
        resources: Some(vec!["pods".into()]),
        verbs: vec!["get".into(), "list".into(), "watch".into()],
        ..Default::default()
    }]
}

fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
    Subject {
        kind: kind.into(),
        name: name.into(),
        namespace: namespace.map(Into::into),
        api_group: (kind != "ServiceAccount").then(|| "rbac.authorization.k8s.io".into()),
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

fn role_binding(
    namespace: &str,
    name: &str,
    role: RoleRef,
    subjects: Vec<Subject>,
) -> Arc<RoleBinding> {
    Arc::new(RoleBinding {
        metadata: meta(Some(namespace), name),
        role_ref: role,
        subjects: Some(subjects),
    })
}

fn list_pods(user: &UserInfo, namespace: &str) -> Attributes {
    Attributes::resource(user.clone(), "list", "", "pods", namespace, "")
}

fn service_account(namespace: &str, name: &str) -> UserInfo {
    UserInfo::new(
        service_account_username(namespace, name),
        &[
            "system:serviceaccounts",
            &format!("system:serviceaccounts:{namespace}"),
            "system:authenticated",
        ],
    )
}

#[test]
fn a_service_account_is_denied_until_a_role_and_binding_grant_it_in_that_namespace_only() {
    let sa = service_account("dev", "reader");
    let mut policy = StaticPolicy::default();
    policy.roles.push(Arc::new(Role {
        metadata: meta(Some("dev"), "pod-reader"),
        rules: Some(pod_reader_rules()),
    }));
    assert!(
        !RbacAuthorizer::new(StaticPolicy {
            roles: policy.roles.clone(),
            ..Default::default()
        })
        .authorize(&list_pods(&sa, "dev"))
        .allowed()
    );

    policy.role_bindings.push(role_binding(
        "dev",
        "read-pods",
        role_ref("Role", "pod-reader"),
        vec![subject("ServiceAccount", "reader", None)],
    ));
    let rbac = RbacAuthorizer::new(policy);
    assert!(rbac.authorize(&list_pods(&sa, "dev")).allowed());
    assert!(!rbac.authorize(&list_pods(&sa, "prod")).allowed());
    assert!(
        !rbac.authorize(&list_pods(&sa, "")).allowed(),
        "a namespaced grant is not cluster-wide"
    );
    let delete = Attributes::resource(sa.clone(), "delete", "", "pods", "dev", "p");
    assert!(!rbac.authorize(&delete).allowed());
    assert_eq!(
        rbac.allowed_by(&list_pods(&sa, "dev")).as_deref(),
        Some(
            r#"RBAC: allowed by RoleBinding "read-pods/dev" of Role "pod-reader" to ServiceAccount "reader/dev""#
        )
    );
}

#[test]
fn a_cluster_role_bound_by_a_role_binding_grants_only_in_the_binding_namespace() {
    let alice = UserInfo::new("alice", &["system:authenticated"]);
    let policy = StaticPolicy {
        cluster_roles: vec![Arc::new(ClusterRole {
            metadata: meta(None, "pod-reader"),
            rules: Some(pod_reader_rules()),
            aggregation_rule: None,
        })],
        role_bindings: vec![role_binding(
            "team-a",
            "alice-reads",
            role_ref("ClusterRole", "pod-reader"),
            vec![subject("User", "alice", None)],
        )],
        ..Default::default()
    };
    let rbac = RbacAuthorizer::new(policy);
    assert!(rbac.authorize(&list_pods(&alice, "team-a")).allowed());
    assert!(!rbac.authorize(&list_pods(&alice, "team-b")).allowed());
    assert!(!rbac.authorize(&list_pods(&alice, "")).allowed());
}

#[test]
fn a_cluster_role_binding_grants_in_every_namespace_and_at_cluster_scope() {
    let policy = StaticPolicy {
        cluster_roles: vec![Arc::new(ClusterRole {
            metadata: meta(None, "pod-reader"),
            rules: Some(pod_reader_rules()),
            aggregation_rule: None,
        })],
        cluster_role_bindings: vec![Arc::new(ClusterRoleBinding {
            metadata: meta(None, "ops-read"),
            role_ref: role_ref("ClusterRole", "pod-reader"),
            subjects: Some(vec![subject("Group", "ops", None)]),
        })],
        ..Default::default()
    };
    let rbac = RbacAuthorizer::new(policy);
    let bob = UserInfo::new("bob", &["ops"]);
    for namespace in ["a", "b", ""] {
        assert!(
            rbac.authorize(&list_pods(&bob, namespace)).allowed(),
            "{namespace:?}"
        );
    }
    assert!(
        !rbac
            .authorize(&list_pods(&UserInfo::new("carol", &["dev"]), "a"))
            .allowed()
    );
}

#[test]
fn a_binding_to_a_missing_role_grants_nothing_and_names_it_in_the_reason() {
    let policy = StaticPolicy {
        role_bindings: vec![
            role_binding(
                "dev",
                "b1",
                role_ref("Role", "gone"),
                vec![subject("User", "alice", None)],
            ),
            role_binding(
                "dev",
                "b2",
                role_ref("ClusterRole", "also-gone"),
                vec![subject("User", "alice", None)],
            ),
        ],
        ..Default::default()
    };
    let rbac = RbacAuthorizer::new(policy);
    let decision = rbac.authorize(&list_pods(&UserInfo::new("alice", &[]), "dev"));
    assert_eq!(
        decision,
        Decision::NoOpinion(
            r#"RBAC: [role.rbac.authorization.k8s.io "gone" not found, clusterrole.rbac.authorization.k8s.io "also-gone" not found]"#
                .into()
        )
    );
}

#[test]
fn service_account_subjects_match_only_their_own_namespace() {
    let policy = StaticPolicy {
        cluster_roles: vec![Arc::new(ClusterRole {
            metadata: meta(None, "pod-reader"),
            rules: Some(pod_reader_rules()),
            aggregation_rule: None,
        })],
        role_bindings: vec![role_binding(
            "dev",
            "ci-reads",
            role_ref("ClusterRole", "pod-reader"),
            vec![subject("ServiceAccount", "ci", Some("tools"))],
        )],
        ..Default::default()
    };
    let rbac = RbacAuthorizer::new(policy);
    assert!(
        rbac.authorize(&list_pods(&service_account("tools", "ci"), "dev"))
            .allowed()
    );
    assert!(
        !rbac
            .authorize(&list_pods(&service_account("dev", "ci"), "dev"))
            .allowed()
    );
}

#[test]
fn rules_for_lists_cluster_rules_then_namespace_rules() {
    let policy = StaticPolicy {
        roles: vec![Arc::new(Role {
            metadata: meta(Some("dev"), "r"),
            rules: Some(pod_reader_rules()),
        })],
        cluster_roles: vec![Arc::new(ClusterRole {
            metadata: meta(None, "basic"),
            rules: Some(vec![PolicyRule {
                non_resource_urls: Some(vec!["/version".into()]),
                verbs: vec!["get".into()],
                ..Default::default()
            }]),
            aggregation_rule: None,
        })],
        role_bindings: vec![role_binding(
            "dev",
            "rb",
            role_ref("Role", "r"),
            vec![subject("Group", "system:authenticated", None)],
        )],
        cluster_role_bindings: vec![Arc::new(ClusterRoleBinding {
            metadata: meta(None, "crb"),
            role_ref: role_ref("ClusterRole", "basic"),
            subjects: Some(vec![subject("Group", "system:authenticated", None)]),
        })],
    };
    let rbac = RbacAuthorizer::new(policy);
    let user = UserInfo::new("u", &["system:authenticated"]);
    let resolved = rbac.rules_for(&user, "dev");
    assert!(resolved.errors.is_empty());
    let bindings: Vec<_> = resolved
        .rules
        .iter()
        .map(|(source, _)| source.binding.as_str())
        .collect();
    assert_eq!(
        bindings,
        [r#"ClusterRoleBinding "crb""#, r#"RoleBinding "rb/dev""#]
    );
    assert_eq!(rbac.rules_for(&user, "").rules.len(), 1);
}
