//! The resource table: one row per served resource, driving every generic handler.
//!
//! Built-in rows come from k8s-openapi's types (group, version, kind, plural and scope are the
//! types' own constants); what the types do not carry (short names, categories, subresources,
//! upstream's storage prefix) is tabled here as upstream's discovery reports it.
//! CustomResourceDefinitions add and remove rows at run time.

use std::any::TypeId;
use std::sync::{Arc, RwLock};

use k8s_openapi::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, Typed};

/// Whether a resource lives in namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `/namespaces/<ns>/<plural>/<name>`.
    Namespaced,
    /// `/<plural>/<name>`.
    Cluster,
}

/// Everything the generic handlers need to know about one resource.
pub struct ResourceDef {
    /// API group, empty for the core group.
    pub group: String,
    /// API version within the group.
    pub version: String,
    /// Kind of the objects.
    pub kind: String,
    /// Kind of lists of them.
    pub list_kind: String,
    /// URL path segment (`pods`).
    pub plural: String,
    /// Singular name (`pod`).
    pub singular: String,
    /// Namespaced or cluster-wide.
    pub scope: Scope,
    /// Short names (`po`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Verbs discovery advertises.
    pub verbs: Vec<String>,
    /// Subresources served (`status`, `scale`, ...).
    pub subresources: Vec<String>,
    /// Key prefix under `/registry/` (upstream's etcd layout).
    pub storage_prefix: String,
    /// How request bodies decode.
    pub codec: Arc<dyn Codec>,
    /// Registers the kind's OpenAPI schema (and those it refers to) with a generator.
    pub schema: Option<SchemaFn>,
    /// The kind's schema name, e.g. `io.k8s.api.core.v1.Pod`.
    pub schema_name: String,
    /// What a custom resource's row carries besides (its CRD's schema and columns).
    pub custom: Option<CustomResource>,
    /// For a version that is not the storage version: how its objects convert.
    pub conversion: Option<Arc<dyn crate::convert::Conversion>>,
}

/// A custom resource version's schema, printer columns and scale subresource.
#[derive(Clone, Debug)]
pub struct CustomResource {
    /// The `openAPIV3Schema`.
    pub schema: serde_json::Value,
    /// `additionalPrinterColumns`.
    pub printer_columns: Vec<crate::crd::PrinterColumn>,
    /// The scale subresource's paths (`specReplicasPath`, ...).
    pub scale: Option<serde_json::Value>,
}

/// Registers a type's schema with a generator, returning a reference to it.
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema_of<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

impl ResourceDef {
    /// `v1` for the core group, `<group>/<version>` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the resource lives in namespaces.
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// Whether `sub` is served.
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.iter().any(|s| s == sub)
    }

    /// Whether `verb` is allowed on the main resource.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => {
                format!("/registry/{}/{ns}/{name}", self.storage_prefix)
            }
            _ => format!("/registry/{}/{name}", self.storage_prefix),
        }
    }

    /// The store prefix of a collection, in one namespace or across all.
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match (self.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => format!("/registry/{}/{ns}/", self.storage_prefix),
            _ => format!("/registry/{}/", self.storage_prefix),
        }
    }
}

/// The verbs of an ordinary resource.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A row for a built-in kind, from its k8s-openapi type.
pub struct Builtin {
    def: ResourceDef,
}

impl Builtin {
    /// Starts a row from `T`'s constants with the standard verbs.
    pub fn of<T>() -> Self
    where
        T: Resource + DeserializeOwned + Serialize + schemars::JsonSchema + 'static,
    {
        let scope =
            if TypeId::of::<T::Scope>() == TypeId::of::<k8s_openapi::NamespaceResourceScope>() {
                Scope::Namespaced
            } else {
                Scope::Cluster
            };
        Builtin {
            def: ResourceDef {
                group: T::GROUP.to_string(),
                version: T::VERSION.to_string(),
                kind: T::KIND.to_string(),
                list_kind: format!("{}List", T::KIND),
                plural: T::URL_PATH_SEGMENT.to_string(),
                singular: T::KIND.to_lowercase(),
                scope,
                short_names: Vec::new(),
                categories: Vec::new(),
                verbs: STANDARD_VERBS.iter().map(|s| s.to_string()).collect(),
                subresources: Vec::new(),
                storage_prefix: T::URL_PATH_SEGMENT.to_string(),
                codec: Arc::new(Typed::<T>::default()),
                schema: Some(schema_of::<T>),
                schema_name: T::schema_name().into_owned(),
                custom: None,
                conversion: None,
            },
        }
    }

    /// Short names.
    pub fn short(mut self, names: &[&str]) -> Self {
        self.def.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Categories.
    pub fn categories(mut self, c: &[&str]) -> Self {
        self.def.categories = c.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Subresources.
    pub fn subresources(mut self, s: &[&str]) -> Self {
        self.def.subresources = s.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Verbs other than the standard ones.
    pub fn verbs(mut self, v: &[&str]) -> Self {
        self.def.verbs = v.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Upstream's storage prefix where it differs from the plural.
    pub fn storage(mut self, prefix: &str) -> Self {
        self.def.storage_prefix = prefix.to_string();
        self
    }

    /// Served in this version, stored in another through `conversion`.
    pub fn converted(mut self, conversion: impl crate::convert::Conversion) -> Self {
        self.def.conversion = Some(Arc::new(conversion));
        self
    }

    /// The finished row.
    pub fn build(self) -> ResourceDef {
        self.def
    }
}

/// Every served resource; rows for custom resources come and go at run time.
pub struct ResourceTable {
    rows: RwLock<Vec<Arc<ResourceDef>>>,
}

impl ResourceTable {
    /// A table of the given rows.
    pub fn new(rows: Vec<ResourceDef>) -> Self {
        ResourceTable {
            rows: RwLock::new(rows.into_iter().map(Arc::new).collect()),
        }
    }

    /// Every built-in resource Bosun serves.
    pub fn builtin() -> Self {
        Self::new(crate::resources::builtin_rows())
    }

    /// The row for `group/version` and `plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.rows
            .read()
            .expect("resource table lock")
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    }

    /// All rows, in registration order.
    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        self.rows.read().expect("resource table lock").clone()
    }

    /// The rows of one group version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.all()
            .into_iter()
            .filter(|r| r.group == group && r.version == version)
            .collect()
    }

    /// Groups in registration order, each with its versions, preferred first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.all() {
            if r.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out
    }

    /// Adds a row, replacing one with the same group, version and plural.
    pub fn upsert(&self, def: ResourceDef) {
        let mut rows = self.rows.write().expect("resource table lock");
        rows.retain(|r| {
            !(r.group == def.group && r.version == def.version && r.plural == def.plural)
        });
        rows.push(Arc::new(def));
    }

    /// Removes the rows of a group and plural (every version).
    pub fn remove(&self, group: &str, plural: &str) {
        self.rows
            .write()
            .expect("resource table lock")
            .retain(|r| !(r.group == group && r.plural == plural));
    }
}

fn builtin_rows() -> Vec<ResourceDef> {
    use k8s_openapi::api::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    let all = &["all"];
    vec![
        // core/v1
        Builtin::of::<core::v1::Binding>()
            .verbs(&["create"])
            .build(),
        Builtin::of::<core::v1::ConfigMap>().short(&["cm"]).build(),
        Builtin::of::<core::v1::Endpoints>()
            .short(&["ep"])
            .storage("services/endpoints")
            .build(),
        Builtin::of::<core::v1::Event>().short(&["ev"]).build(),
        Builtin::of::<core::v1::LimitRange>()
            .short(&["limits"])
            .build(),
        Builtin::of::<core::v1::Namespace>()
            .short(&["ns"])
            .verbs(&[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ])
            .subresources(&["finalize", "status"])
            .build(),
        Builtin::of::<core::v1::Node>()
            .short(&["no"])
            .subresources(&["proxy", "status"])
            .storage("minions")
            .build(),
        Builtin::of::<core::v1::PersistentVolumeClaim>()
            .short(&["pvc"])
            .subresources(&["status"])
            .build(),
        Builtin::of::<core::v1::PersistentVolume>()
            .short(&["pv"])
            .subresources(&["status"])
            .build(),
        Builtin::of::<core::v1::Pod>()
            .short(&["po"])
            .categories(all)
            .subresources(&[
                "attach",
                "binding",
                "ephemeralcontainers",
                "eviction",
                "exec",
                "log",
                "portforward",
                "proxy",
                "resize",
                "status",
            ])
            .build(),
        Builtin::of::<core::v1::PodTemplate>().build(),
        Builtin::of::<core::v1::ReplicationController>()
            .short(&["rc"])
            .categories(all)
            .subresources(&["scale", "status"])
            .storage("controllers")
            .build(),
        Builtin::of::<core::v1::ResourceQuota>()
            .short(&["quota"])
            .subresources(&["status"])
            .build(),
        Builtin::of::<core::v1::Secret>().build(),
        Builtin::of::<core::v1::ServiceAccount>()
            .short(&["sa"])
            .subresources(&["token"])
            .build(),
        Builtin::of::<core::v1::Service>()
            .short(&["svc"])
            .categories(all)
            .subresources(&["proxy", "status"])
            .verbs(&[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ])
            .storage("services/specs")
            .build(),
        // apps/v1
        Builtin::of::<apps::v1::ControllerRevision>().build(),
        Builtin::of::<apps::v1::DaemonSet>()
            .short(&["ds"])
            .categories(all)
            .subresources(&["status"])
            .build(),
        Builtin::of::<apps::v1::Deployment>()
            .short(&["deploy"])
            .categories(all)
            .subresources(&["scale", "status"])
            .build(),
        Builtin::of::<apps::v1::ReplicaSet>()
            .short(&["rs"])
            .categories(all)
            .subresources(&["scale", "status"])
            .build(),
        Builtin::of::<apps::v1::StatefulSet>()
            .short(&["sts"])
            .categories(all)
            .subresources(&["scale", "status"])
            .build(),
        // events.k8s.io/v1
        Builtin::of::<events::v1::Event>()
            .short(&["ev"])
            .converted(crate::convert::EventsV1)
            .build(),
        // autoscaling
        Builtin::of::<autoscaling::v2::HorizontalPodAutoscaler>()
            .short(&["hpa"])
            .categories(all)
            .subresources(&["status"])
            .build(),
        Builtin::of::<autoscaling::v1::HorizontalPodAutoscaler>()
            .short(&["hpa"])
            .categories(all)
            .subresources(&["status"])
            .converted(crate::convert::HpaV1)
            .build(),
        // batch/v1
        Builtin::of::<batch::v1::CronJob>()
            .short(&["cj"])
            .categories(all)
            .subresources(&["status"])
            .build(),
        Builtin::of::<batch::v1::Job>()
            .categories(all)
            .subresources(&["status"])
            .build(),
        // certificates.k8s.io/v1
        Builtin::of::<certificates::v1::CertificateSigningRequest>()
            .short(&["csr"])
            .subresources(&["approval", "status"])
            .build(),
        // networking.k8s.io/v1
        Builtin::of::<networking::v1::IngressClass>().build(),
        Builtin::of::<networking::v1::Ingress>()
            .short(&["ing"])
            .subresources(&["status"])
            .storage("ingress")
            .build(),
        Builtin::of::<networking::v1::NetworkPolicy>()
            .short(&["netpol"])
            .build(),
        Builtin::of::<networking::v1::IPAddress>()
            .short(&["ip"])
            .build(),
        Builtin::of::<networking::v1::ServiceCIDR>()
            .subresources(&["status"])
            .build(),
        // policy/v1
        Builtin::of::<policy::v1::PodDisruptionBudget>()
            .short(&["pdb"])
            .subresources(&["status"])
            .build(),
        // authentication.k8s.io/v1 and authorization.k8s.io/v1: reviews, answered, never stored
        Builtin::of::<authentication::v1::SelfSubjectReview>()
            .verbs(&["create"])
            .build(),
        Builtin::of::<authentication::v1::TokenReview>()
            .verbs(&["create"])
            .build(),
        Builtin::of::<authorization::v1::LocalSubjectAccessReview>()
            .verbs(&["create"])
            .build(),
        Builtin::of::<authorization::v1::SelfSubjectAccessReview>()
            .verbs(&["create"])
            .build(),
        Builtin::of::<authorization::v1::SelfSubjectRulesReview>()
            .verbs(&["create"])
            .build(),
        Builtin::of::<authorization::v1::SubjectAccessReview>()
            .verbs(&["create"])
            .build(),
        // rbac.authorization.k8s.io/v1
        Builtin::of::<rbac::v1::ClusterRoleBinding>().build(),
        Builtin::of::<rbac::v1::ClusterRole>().build(),
        Builtin::of::<rbac::v1::RoleBinding>().build(),
        Builtin::of::<rbac::v1::Role>().build(),
        // storage.k8s.io/v1
        Builtin::of::<storage::v1::CSIDriver>().build(),
        Builtin::of::<storage::v1::CSINode>().build(),
        Builtin::of::<storage::v1::CSIStorageCapacity>().build(),
        Builtin::of::<storage::v1::StorageClass>()
            .short(&["sc"])
            .build(),
        Builtin::of::<storage::v1::VolumeAttachment>()
            .subresources(&["status"])
            .build(),
        Builtin::of::<storage::v1::VolumeAttributesClass>()
            .short(&["vac"])
            .build(),
        // admissionregistration.k8s.io/v1
        Builtin::of::<admissionregistration::v1::MutatingWebhookConfiguration>()
            .categories(&["api-extensions"])
            .build(),
        Builtin::of::<admissionregistration::v1::ValidatingAdmissionPolicy>()
            .categories(&["api-extensions"])
            .subresources(&["status"])
            .build(),
        Builtin::of::<admissionregistration::v1::ValidatingAdmissionPolicyBinding>()
            .categories(&["api-extensions"])
            .build(),
        Builtin::of::<admissionregistration::v1::ValidatingWebhookConfiguration>()
            .categories(&["api-extensions"])
            .build(),
        // apiextensions.k8s.io/v1
        Builtin::of::<apiext::CustomResourceDefinition>()
            .short(&["crd", "crds"])
            .categories(&["api-extensions"])
            .subresources(&["status"])
            .storage("apiextensions.k8s.io/customresourcedefinitions")
            .build(),
        // scheduling.k8s.io/v1
        Builtin::of::<scheduling::v1::PriorityClass>()
            .short(&["pc"])
            .build(),
        // coordination.k8s.io/v1
        Builtin::of::<coordination::v1::Lease>().build(),
        // node.k8s.io/v1
        Builtin::of::<node::v1::RuntimeClass>().build(),
        // discovery.k8s.io/v1
        Builtin::of::<discovery::v1::EndpointSlice>().build(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_from_the_types_constants() {
        let t = ResourceTable::builtin();
        let pods = t.lookup("", "v1", "pods").unwrap();
        assert_eq!(
            (pods.kind.as_str(), pods.list_kind.as_str(), pods.scope),
            ("Pod", "PodList", Scope::Namespaced)
        );
        assert_eq!(pods.api_version(), "v1");
        let deploy = t.lookup("apps", "v1", "deployments").unwrap();
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(t.lookup("", "v1", "nodes").unwrap().scope, Scope::Cluster);
        assert!(t.lookup("apps", "v1", "pods").is_none());
    }

    #[test]
    fn keys_follow_upstreams_etcd_layout() {
        let t = ResourceTable::builtin();
        assert_eq!(
            t.lookup("", "v1", "pods")
                .unwrap()
                .key(Some("default"), "web"),
            "/registry/pods/default/web"
        );
        assert_eq!(
            t.lookup("", "v1", "services").unwrap().key(Some("a"), "s"),
            "/registry/services/specs/a/s"
        );
        assert_eq!(
            t.lookup("", "v1", "nodes").unwrap().key(None, "n1"),
            "/registry/minions/n1"
        );
        assert_eq!(
            t.lookup("apps", "v1", "deployments")
                .unwrap()
                .prefix(Some("x")),
            "/registry/deployments/x/"
        );
    }

    #[test]
    fn groups_list_each_group_once_with_its_versions() {
        let groups = ResourceTable::builtin().groups();
        let apps: Vec<_> = groups.iter().filter(|(g, _)| g == "apps").collect();
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].1, vec!["v1".to_string()]);
        assert!(groups.iter().all(|(g, _)| !g.is_empty()));
    }
}
