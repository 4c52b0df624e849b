//! The Node authorizer: a kubelet (`system:node:<name>` in `system:nodes`) may read only the
//! objects its own node's pods need and write only its own node's objects, as upstream's Node
//! authorizer decides. Which objects a node's pods need is the API server's to know; it
//! answers through [`NodeGraph`]. Everything else a kubelet does is checked against the
//! `system:node` rules, which no binding grants any more.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::attributes::Attributes;
use crate::authorizer::{Authorizer, Decision};
use crate::user::{NODES_GROUP, UserInfo};

const NODE_PREFIX: &str = "system:node:";
/// Where node Leases live (upstream's `NamespaceNodeLease`).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node a user acts for: `Some(name)` for a kubelet identity (possibly an empty name, which
/// identifies no node), `None` for anyone else. Upstream's default node identifier.
pub fn node_identity(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_PREFIX)?;
    user.in_group(NODES_GROUP).then_some(name)
}

/// The kinds of object a node may reach through its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vertex {
    /// A pod bound to the node.
    Pod,
    /// A secret one of its pods (or their volumes) names.
    Secret,
    /// A config map one of its pods names.
    ConfigMap,
    /// A claim one of its pods mounts.
    PersistentVolumeClaim,
    /// The volume bound to such a claim.
    PersistentVolume,
    /// The service account one of its pods runs as.
    ServiceAccount,
    /// A ResourceClaim one of its pods uses.
    ResourceClaim,
    /// A VolumeAttachment for the node.
    VolumeAttachment,
}

impl Vertex {
    /// The name upstream's graph gives the kind in its messages.
    pub fn name(self) -> &'static str {
        match self {
            Vertex::Pod => "pod",
            Vertex::Secret => "secret",
            Vertex::ConfigMap => "configmap",
            Vertex::PersistentVolumeClaim => "pvc",
            Vertex::PersistentVolume => "pv",
            Vertex::ServiceAccount => "serviceAccount",
            Vertex::ResourceClaim => "resourceclaim",
            Vertex::VolumeAttachment => "volumeattachment",
        }
    }
}

/// Whether an object is related to a node: the API server keeps this from its caches.
pub trait NodeGraph: Send + Sync {
    /// Whether `node` reaches `kind` `namespace/name` through its pods (or directly).
    fn has_path(&self, node: &str, kind: Vertex, namespace: &str, name: &str) -> bool;
}

/// Upstream's Node authorizer over a [`NodeGraph`].
pub struct NodeAuthorizer<G> {
    graph: G,
    rules: Vec<PolicyRule>,
}

impl<G: NodeGraph> NodeAuthorizer<G> {
    /// An authorizer answering from `graph`, with upstream's `system:node` rules for the rest.
    pub fn new(graph: G) -> Self {
        NodeAuthorizer {
            graph,
            rules: crate::rbac::bootstrap::node_rules(),
        }
    }

    fn no(reason: impl Into<String>) -> Decision {
        Decision::NoOpinion(reason.into())
    }

    fn related(&self, node: &str, kind: Vertex, attrs: &Attributes) -> Decision {
        if attrs.name.is_empty() {
            return Self::no("No Object name found");
        }
        if self
            .graph
            .has_path(node, kind, &attrs.namespace, &attrs.name)
        {
            Decision::Allow
        } else {
            Self::no(format!(
                "no relationship found between node '{node}' and this object"
            ))
        }
    }

    fn get(&self, node: &str, kind: Vertex, attrs: &Attributes) -> Decision {
        if attrs.verb != "get" {
            return Self::no("can only get individual resources of this type");
        }
        if !attrs.subresource.is_empty() {
            return Self::no("cannot get subresource");
        }
        self.related(node, kind, attrs)
    }

    fn read_namespaced(&self, node: &str, kind: Vertex, attrs: &Attributes) -> Decision {
        if !matches!(attrs.verb.as_str(), "get" | "list" | "watch") {
            return Self::no("can only read resources of this type");
        }
        if !attrs.subresource.is_empty() {
            return Self::no("cannot read subresource");
        }
        if attrs.namespace.is_empty() {
            return Self::no("can only read namespaced object of this type");
        }
        self.related(node, kind, attrs)
    }

    fn status_update(&self, node: &str, kind: Vertex, attrs: &Attributes) -> Decision {
        if !matches!(attrs.verb.as_str(), "update" | "patch") {
            return Self::no("can only get/update/patch this type");
        }
        self.related(node, kind, attrs)
    }

    fn create_token(&self, node: &str, attrs: &Attributes) -> Decision {
        if attrs.verb != "create" || attrs.name.is_empty() {
            return Self::no("can only create tokens for individual service accounts");
        }
        if attrs.subresource != "token" {
            return Self::no("can only create token subresource of serviceaccount");
        }
        self.related(node, Vertex::ServiceAccount, attrs)
    }

    /// Leases and CSINodes: a node's own object only (its name is checked at create by
    /// NodeRestriction, as the authorizer cannot see it).
    fn own_object(node: &str, attrs: &Attributes, what: &str, namespace: Option<&str>) -> Decision {
        if !matches!(
            attrs.verb.as_str(),
            "get" | "create" | "update" | "patch" | "delete"
        ) {
            return Self::no(format!(
                "can only get, create, update, patch, or delete a {what}"
            ));
        }
        if let Some(namespace) = namespace {
            if attrs.namespace != namespace {
                return Self::no(format!(
                    "can only access leases in the {namespace:?} system namespace"
                ));
            }
        } else if !attrs.subresource.is_empty() {
            return Self::no(format!("cannot authorize {what} subresources"));
        }
        if attrs.verb != "create" && attrs.name != node {
            return Self::no(format!(
                "can only access {what} with the same name as the requesting node"
            ));
        }
        Decision::Allow
    }

    fn node(node: &str, attrs: &Attributes) -> Decision {
        match (attrs.subresource.as_str(), attrs.verb.as_str()) {
            ("", "create" | "update" | "patch") | ("status", "update" | "patch") => Decision::Allow,
            ("", "get" | "list" | "watch") => match attrs.name.as_str() {
                name if name == node => Decision::Allow,
                "" => Self::no(format!(
                    "node '{node}' cannot read all nodes, only its own Node object"
                )),
                other => Self::no(format!(
                    "node '{node}' cannot read '{other}', only its own Node object"
                )),
            },
            _ => Self::no(""),
        }
    }

    fn pod(&self, node: &str, attrs: &Attributes) -> Decision {
        match (attrs.subresource.as_str(), attrs.verb.as_str()) {
            ("", "get") => self.get(node, Vertex::Pod, attrs),
            ("", "list" | "watch") => {
                if attrs.field_requires("spec.nodeName") == Some(node) {
                    Decision::Allow
                } else if !attrs.name.is_empty() {
                    self.related(node, Vertex::Pod, attrs)
                } else {
                    Self::no("can only list/watch pods with spec.nodeName field selector")
                }
            }
            ("", "create" | "delete") | ("status", "update" | "patch") | ("eviction", "create") => {
                Decision::Allow
            }
            _ => Self::no(""),
        }
    }
}

impl<G: NodeGraph> Authorizer for NodeAuthorizer<G> {
    fn authorize(&self, attrs: &Attributes) -> Decision {
        let Some(node) = node_identity(&attrs.user) else {
            return Self::no("");
        };
        if node.is_empty() {
            return Self::no(format!("unknown node for user {:?}", attrs.user.name));
        }
        if attrs.resource_request {
            match (attrs.api_group.as_str(), attrs.resource.as_str()) {
                ("", "secrets") => return self.read_namespaced(node, Vertex::Secret, attrs),
                ("", "configmaps") => return self.read_namespaced(node, Vertex::ConfigMap, attrs),
                ("", "persistentvolumeclaims") if attrs.subresource == "status" => {
                    return self.status_update(node, Vertex::PersistentVolumeClaim, attrs);
                }
                ("", "persistentvolumeclaims") => {
                    return self.get(node, Vertex::PersistentVolumeClaim, attrs);
                }
                ("", "persistentvolumes") => {
                    return self.get(node, Vertex::PersistentVolume, attrs);
                }
                ("resource.k8s.io", "resourceclaims") => {
                    return self.get(node, Vertex::ResourceClaim, attrs);
                }
                ("storage.k8s.io", "volumeattachments") => {
                    return self.get(node, Vertex::VolumeAttachment, attrs);
                }
                ("", "serviceaccounts") => return self.create_token(node, attrs),
                ("coordination.k8s.io", "leases") => {
                    return Self::own_object(node, attrs, "node lease", Some(NODE_LEASE_NAMESPACE));
                }
                ("storage.k8s.io", "csinodes") => {
                    return Self::own_object(node, attrs, "CSINode", None);
                }
                ("", "nodes") => return Self::node(node, attrs),
                ("", "pods") => return self.pod(node, attrs),
                _ => {}
            }
        }
        if self
            .rules
            .iter()
            .any(|rule| crate::rbac::rule_allows(attrs, rule))
        {
            Decision::Allow
        } else {
            Self::no("")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node `n1` runs pod `default/web`, which uses secret `default/token` and account
    /// `default/builder`.
    struct Fixture;
    impl NodeGraph for Fixture {
        fn has_path(&self, node: &str, kind: Vertex, namespace: &str, name: &str) -> bool {
            node == "n1"
                && namespace == "default"
                && matches!(
                    (kind, name),
                    (Vertex::Pod, "web")
                        | (Vertex::Secret, "token")
                        | (Vertex::ServiceAccount, "builder")
                )
        }
    }

    fn kubelet(node: &str) -> UserInfo {
        UserInfo::new(
            format!("system:node:{node}"),
            &["system:nodes", "system:authenticated"],
        )
    }

    fn ask(
        user: UserInfo,
        verb: &str,
        group: &str,
        resource: &str,
        ns: &str,
        name: &str,
    ) -> Decision {
        NodeAuthorizer::new(Fixture)
            .authorize(&Attributes::resource(user, verb, group, resource, ns, name))
    }

    #[test]
    fn a_node_reads_the_secrets_of_its_own_pods_only() {
        assert!(ask(kubelet("n1"), "get", "", "secrets", "default", "token").allowed());
        assert_eq!(
            ask(kubelet("n2"), "get", "", "secrets", "default", "token"),
            Decision::NoOpinion("no relationship found between node 'n2' and this object".into())
        );
        assert_eq!(
            ask(kubelet("n1"), "list", "", "secrets", "default", ""),
            Decision::NoOpinion("No Object name found".into())
        );
        assert_eq!(
            ask(kubelet("n1"), "update", "", "secrets", "default", "token"),
            Decision::NoOpinion("can only read resources of this type".into())
        );
    }

    #[test]
    fn a_node_reads_only_its_own_node_object() {
        assert!(ask(kubelet("n1"), "get", "", "nodes", "", "n1").allowed());
        assert_eq!(
            ask(kubelet("n1"), "get", "", "nodes", "", "n2"),
            Decision::NoOpinion("node 'n1' cannot read 'n2', only its own Node object".into())
        );
        assert_eq!(
            ask(kubelet("n1"), "list", "", "nodes", "", ""),
            Decision::NoOpinion("node 'n1' cannot read all nodes, only its own Node object".into())
        );
        assert!(ask(kubelet("n1"), "patch", "", "nodes", "", "n2").allowed());
    }

    #[test]
    fn pods_are_listed_only_with_the_nodes_own_field_selector() {
        let authorizer = NodeAuthorizer::new(Fixture);
        let mut attrs = Attributes::resource(kubelet("n1"), "watch", "", "pods", "", "");
        assert_eq!(
            authorizer.authorize(&attrs),
            Decision::NoOpinion(
                "can only list/watch pods with spec.nodeName field selector".into()
            )
        );
        attrs.field_selector = vec![("spec.nodeName".into(), "n1".into())];
        assert!(authorizer.authorize(&attrs).allowed());
        attrs.field_selector = vec![("spec.nodeName".into(), "n2".into())];
        assert!(!authorizer.authorize(&attrs).allowed());
        assert!(ask(kubelet("n1"), "get", "", "pods", "default", "web").allowed());
        assert!(!ask(kubelet("n2"), "get", "", "pods", "default", "web").allowed());
    }

    #[test]
    fn tokens_only_for_accounts_of_the_nodes_pods() {
        let authorizer = NodeAuthorizer::new(Fixture);
        let token = |node: &str, name: &str| {
            authorizer.authorize(
                &Attributes::resource(
                    kubelet(node),
                    "create",
                    "",
                    "serviceaccounts",
                    "default",
                    name,
                )
                .with_subresource("token"),
            )
        };
        assert!(token("n1", "builder").allowed());
        assert!(!token("n1", "default").allowed());
        assert!(!token("n2", "builder").allowed());
    }

    #[test]
    fn leases_only_in_the_node_lease_namespace_and_by_own_name() {
        assert!(
            ask(
                kubelet("n1"),
                "update",
                "coordination.k8s.io",
                "leases",
                "kube-node-lease",
                "n1"
            )
            .allowed()
        );
        assert!(
            ask(
                kubelet("n1"),
                "create",
                "coordination.k8s.io",
                "leases",
                "kube-node-lease",
                ""
            )
            .allowed()
        );
        assert_eq!(
            ask(
                kubelet("n1"),
                "update",
                "coordination.k8s.io",
                "leases",
                "kube-node-lease",
                "n2"
            ),
            Decision::NoOpinion(
                "can only access node lease with the same name as the requesting node".into()
            )
        );
        assert_eq!(
            ask(
                kubelet("n1"),
                "get",
                "coordination.k8s.io",
                "leases",
                "default",
                "n1"
            ),
            Decision::NoOpinion(
                "can only access leases in the \"kube-node-lease\" system namespace".into()
            )
        );
    }

    #[test]
    fn other_requests_follow_the_system_node_rules() {
        assert!(ask(kubelet("n1"), "list", "", "services", "", "").allowed());
        assert!(ask(kubelet("n1"), "create", "", "events", "default", "").allowed());
        assert!(!ask(kubelet("n1"), "create", "", "services", "default", "").allowed());
    }

    #[test]
    fn users_that_are_not_nodes_get_no_opinion() {
        let alice = UserInfo::new("alice", &["system:authenticated"]);
        assert_eq!(
            ask(alice, "get", "", "secrets", "default", "token"),
            Decision::NoOpinion(String::new())
        );
        let impostor = UserInfo::new("system:node:n1", &["system:authenticated"]);
        assert!(!ask(impostor, "get", "", "nodes", "", "n1").allowed());
        let nameless = UserInfo::new("system:node:", &["system:nodes"]);
        assert_eq!(
            ask(nameless, "get", "", "nodes", "", "n1"),
            Decision::NoOpinion("unknown node for user \"system:node:\"".into())
        );
    }
}
