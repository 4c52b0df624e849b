//! Upstream's default RBAC policy, created when the server starts: Kubernetes v1.34's
//! `plugin/pkg/auth/authorizer/rbac/bootstrappolicy`, as its golden files
//! (`testdata/cluster-roles.yaml`, `controller-roles.yaml`, `namespace-roles.yaml` and the three
//! matching `*-bindings.yaml`) record it with every feature gate at its default.
//!
//! * [`cluster_roles`] and [`cluster_role_bindings`]: `ClusterRoles()` and
//!   `ClusterRoleBindings()` of `policy.go`, then the `system:controller:*` roles of
//!   `controller_policy.go`, each bound to the kube-system service account its controller runs as.
//! * [`roles`] and [`role_bindings`]: the Roles and RoleBindings of `namespace_policy.go`, in
//!   kube-system and kube-public.
//!
//! Every object carries the `kubernetes.io/bootstrapping: rbac-defaults` label and the
//! `rbac.authorization.kubernetes.io/autoupdate: "true"` annotation. Rules are written in
//! upstream's order; within a rule the groups, resources, names and verbs are sorted, as upstream's
//! rule builder sorts them.
//!
//! Left out, as their feature gates are off by default in v1.34: the
//! `system:cluster-trust-bundle-discovery` role and binding and the node's
//! `clustertrustbundles` rule (`ClusterTrustBundle`), the node's `podcertificaterequests` rule
//! (`PodCertificateRequest`), the scheduler's `resourceclaims` create/delete
//! (`DRAExtendedResource`) and `devicetaintrules` rules (`DRADeviceTaintRules`), `/statusz` and
//! `/flagz` for `system:monitoring` (`ComponentStatusz`, `ComponentFlagz`), and the controllers
//! `device-taint-eviction-controller`, `podcertificaterequestcleaner`,
//! `kube-apiserver-serving-clustertrustbundle-publisher`, `storage-version-garbage-collector` and
//! `storage-version-migrator-controller`.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

/// Reading: upstream's `Read`.
const READ: &[&str] = &["get", "list", "watch"];
/// Reading and writing: upstream's `ReadWrite`.
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
/// Writing: upstream's `Write`, what `edit` adds to what `view` reads.
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
/// Writing a subresource such as `status`.
const UPDATE_PATCH: &[&str] = &["update", "patch"];

const CORE: &str = "";
const ADMISSION_REGISTRATION: &str = "admissionregistration.k8s.io";
const APPS: &str = "apps";
const AUTHENTICATION: &str = "authentication.k8s.io";
const AUTHORIZATION: &str = "authorization.k8s.io";
const AUTOSCALING: &str = "autoscaling";
const BATCH: &str = "batch";
const CERTIFICATES: &str = "certificates.k8s.io";
const COORDINATION: &str = "coordination.k8s.io";
const DISCOVERY: &str = "discovery.k8s.io";
const EVENTS: &str = "events.k8s.io";
const EXTENSIONS: &str = "extensions";
const NETWORKING: &str = "networking.k8s.io";
const NODE: &str = "node.k8s.io";
const POLICY: &str = "policy";
const RBAC: &str = "rbac.authorization.k8s.io";
const RESOURCE: &str = "resource.k8s.io";
const STORAGE: &str = "storage.k8s.io";

const KUBE_SYSTEM: &str = "kube-system";
const KUBE_PUBLIC: &str = "kube-public";

/// The name prefix of the roles of kube-controller-manager's controllers.
const CONTROLLER_PREFIX: &str = "system:controller:";
/// The label that marks every bootstrap object.
const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
/// The annotation that lets the server restore a bootstrap object at start.
const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn sorted(values: &[&str]) -> Vec<String> {
    let mut values = strings(values);
    values.sort();
    values
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(BTreeMap::from([(
            BOOTSTRAPPING_LABEL.to_string(),
            "rbac-defaults".to_string(),
        )])),
        annotations: Some(BTreeMap::from([(
            AUTOUPDATE_ANNOTATION.to_string(),
            "true".to_string(),
        )])),
        ..Default::default()
    }
}

fn namespaced_meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(namespace.to_string()),
        ..meta(name)
    }
}

/// `rbac.authorization.k8s.io/aggregate-to-<target>`: the label that folds a role into `target`.
fn aggregate_label(target: &str) -> String {
    format!("{RBAC}/aggregate-to-{target}")
}

fn resource_rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(sorted(groups)),
        resources: Some(sorted(resources)),
        verbs: sorted(verbs),
        ..Default::default()
    }
}

/// A rule limited to the objects called `names`.
fn named_rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        resource_names: Some(sorted(names)),
        ..resource_rule(groups, resources, verbs)
    }
}

fn url_rule(urls: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        non_resource_urls: Some(sorted(urls)),
        verbs: sorted(verbs),
        ..Default::default()
    }
}

/// Recording events through either events API: upstream's `eventsRule()`.
fn events_rule() -> PolicyRule {
    resource_rule(&[CORE, EVENTS], &["events"], &["create", "update", "patch"])
}

fn role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name),
        rules: Some(rules),
        aggregation_rule: None,
    }
}

/// `admin`, `edit` or `view`: no rules of its own, only those of the roles labelled
/// `aggregate-to-<name>`, which the ClusterRole aggregation controller copies in. `into` is the
/// role this one is in turn folded into.
fn aggregated_role(name: &str, into: Option<&str>) -> ClusterRole {
    let mut metadata = meta(name);
    if let Some(into) = into {
        let labels = metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(aggregate_label(into), "true".to_string());
    }
    ClusterRole {
        metadata,
        rules: None,
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    aggregate_label(name),
                    "true".to_string(),
                )])),
                ..Default::default()
            }]),
        }),
    }
}

/// `system:aggregate-to-<target>`: the rules that `target` aggregates.
fn aggregate_to(target: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    let mut role = role(&format!("system:aggregate-to-{target}"), rules);
    let labels = role.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(aggregate_label(target), "true".to_string());
    role
}

/// A `kubernetes.io/<signer>` signer's approval role.
fn approver_role(name: &str, signer: &str) -> ClusterRole {
    role(
        &format!("system:certificates.k8s.io:{name}"),
        vec![named_rule(
            &[CERTIFICATES],
            &["signers"],
            &[signer],
            &["approve"],
        )],
    )
}

fn namespaced_role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: namespaced_meta(namespace, name),
        rules: Some(rules),
    }
}

fn user(name: &str) -> Subject {
    Subject {
        api_group: Some(RBAC.to_string()),
        kind: "User".to_string(),
        name: name.to_string(),
        namespace: None,
    }
}

fn group(name: &str) -> Subject {
    Subject {
        api_group: Some(RBAC.to_string()),
        kind: "Group".to_string(),
        name: name.to_string(),
        namespace: None,
    }
}

fn service_account(namespace: &str, name: &str) -> Subject {
    Subject {
        api_group: None,
        kind: "ServiceAccount".to_string(),
        name: name.to_string(),
        namespace: Some(namespace.to_string()),
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: RBAC.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
    }
}

/// A ClusterRoleBinding named after the ClusterRole it grants; no subjects leaves it empty, as
/// upstream's `system:node` binding is.
fn cluster_binding(role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(role),
        role_ref: role_ref("ClusterRole", role),
        subjects: (!subjects.is_empty()).then_some(subjects),
    }
}

fn role_binding(namespace: &str, name: &str, role: &str, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: namespaced_meta(namespace, name),
        role_ref: role_ref("Role", role),
        subjects: Some(subjects),
    }
}

/// The default ClusterRoles: upstream's `ClusterRoles()` followed by the `system:controller:*`
/// roles, in the order of the golden files.
pub fn cluster_roles() -> Vec<ClusterRole> {
    let mut roles = vec![
        aggregated_role("admin", None),
        role(
            "cluster-admin",
            vec![
                resource_rule(&["*"], &["*"], &["*"]),
                url_rule(&["*"], &["*"]),
            ],
        ),
        aggregated_role("edit", Some("admin")),
        aggregate_to(
            "admin",
            vec![
                resource_rule(
                    &[AUTHORIZATION],
                    &["localsubjectaccessreviews"],
                    &["create"],
                ),
                resource_rule(&[RBAC], &["roles", "rolebindings"], READ_WRITE),
            ],
        ),
        aggregate_to("edit", aggregate_to_edit_rules()),
        aggregate_to("view", aggregate_to_view_rules()),
        role(
            "system:auth-delegator",
            vec![
                resource_rule(&[AUTHENTICATION], &["tokenreviews"], &["create"]),
                resource_rule(&[AUTHORIZATION], &["subjectaccessreviews"], &["create"]),
            ],
        ),
        role(
            "system:basic-user",
            vec![
                resource_rule(
                    &[AUTHORIZATION],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                resource_rule(&[AUTHENTICATION], &["selfsubjectreviews"], &["create"]),
            ],
        ),
        role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![resource_rule(
                &[CERTIFICATES],
                &["certificatesigningrequests/nodeclient"],
                &["create"],
            )],
        ),
        role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![resource_rule(
                &[CERTIFICATES],
                &["certificatesigningrequests/selfnodeclient"],
                &["create"],
            )],
        ),
        approver_role(
            "kube-apiserver-client-approver",
            "kubernetes.io/kube-apiserver-client",
        ),
        approver_role(
            "kube-apiserver-client-kubelet-approver",
            "kubernetes.io/kube-apiserver-client-kubelet",
        ),
        approver_role("kubelet-serving-approver", "kubernetes.io/kubelet-serving"),
        approver_role("legacy-unknown-approver", "kubernetes.io/legacy-unknown"),
        role(
            "system:discovery",
            vec![url_rule(
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                &["get"],
            )],
        ),
        role(
            "system:heapster",
            vec![
                resource_rule(&[CORE], &["events", "namespaces", "nodes", "pods"], READ),
                resource_rule(&[EXTENSIONS], &["deployments"], READ),
            ],
        ),
        role(
            "system:kube-aggregator",
            vec![resource_rule(&[CORE], &["endpoints", "services"], READ)],
        ),
        role(
            "system:kube-controller-manager",
            kube_controller_manager_rules(),
        ),
        role(
            "system:kube-dns",
            vec![resource_rule(
                &[CORE],
                &["endpoints", "services"],
                &["list", "watch"],
            )],
        ),
        role("system:kube-scheduler", kube_scheduler_rules()),
        role(
            "system:kubelet-api-admin",
            vec![
                resource_rule(&[CORE], &["nodes"], READ),
                resource_rule(&[CORE], &["nodes"], &["proxy"]),
                resource_rule(
                    &[CORE],
                    &["nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log"],
                    &["*"],
                ),
                resource_rule(
                    &[CORE],
                    &["nodes/pods", "nodes/healthz", "nodes/configz"],
                    &["*"],
                ),
            ],
        ),
        role(
            "system:monitoring",
            vec![
                url_rule(
                    &[
                        "/metrics",
                        "/metrics/slis",
                        "/livez",
                        "/readyz",
                        "/healthz",
                        "/livez/*",
                        "/readyz/*",
                        "/healthz/*",
                    ],
                    &["get"],
                ),
                resource_rule(&[CORE], &["nodes/metrics"], &["get"]),
            ],
        ),
        role("system:node", node_rules()),
        role(
            "system:node-bootstrapper",
            vec![resource_rule(
                &[CERTIFICATES],
                &["certificatesigningrequests"],
                &["create", "get", "list", "watch"],
            )],
        ),
        role(
            "system:node-problem-detector",
            vec![
                resource_rule(&[CORE], &["nodes"], &["get"]),
                resource_rule(&[CORE], &["nodes/status"], &["patch"]),
                events_rule(),
            ],
        ),
        role(
            "system:node-proxier",
            vec![
                resource_rule(&[CORE], &["services", "endpoints"], &["list", "watch"]),
                resource_rule(&[CORE], &["nodes"], READ),
                events_rule(),
                resource_rule(&[NETWORKING], &["servicecidrs"], &["list", "watch"]),
                resource_rule(&[DISCOVERY], &["endpointslices"], &["list", "watch"]),
            ],
        ),
        role(
            "system:persistent-volume-provisioner",
            vec![
                resource_rule(
                    &[CORE],
                    &["persistentvolumes"],
                    &["get", "list", "watch", "create", "delete"],
                ),
                resource_rule(
                    &[CORE],
                    &["persistentvolumeclaims"],
                    &["get", "list", "watch", "update"],
                ),
                resource_rule(&[STORAGE], &["storageclasses"], READ),
                resource_rule(&[CORE], &["events"], &["watch"]),
                events_rule(),
            ],
        ),
        role(
            "system:public-info-viewer",
            vec![url_rule(
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
                &["get"],
            )],
        ),
        role(
            "system:service-account-issuer-discovery",
            vec![url_rule(
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
                &["get"],
            )],
        ),
        role(
            "system:volume-scheduler",
            vec![
                resource_rule(
                    &[CORE],
                    &["persistentvolumes"],
                    &["get", "list", "watch", "update", "patch"],
                ),
                resource_rule(&[STORAGE], &["storageclasses"], READ),
                resource_rule(
                    &[CORE],
                    &["persistentvolumeclaims"],
                    &["get", "list", "watch", "update", "patch"],
                ),
            ],
        ),
        aggregated_role("view", Some("edit")),
    ];
    roles.extend(
        controller_policies()
            .into_iter()
            .map(|(name, rules)| role(&format!("{CONTROLLER_PREFIX}{name}"), rules)),
    );
    roles
}

/// What `edit` adds to `view`: writing workloads, configuration and secrets, but not roles,
/// quotas or limits.
fn aggregate_to_edit_rules() -> Vec<PolicyRule> {
    vec![
        resource_rule(
            &[CORE],
            &[
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        resource_rule(&[CORE], &["serviceaccounts"], &["impersonate"]),
        resource_rule(
            &[CORE],
            &[
                "pods",
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
            ],
            WRITE,
        ),
        resource_rule(&[CORE], &["pods/eviction"], &["create"]),
        resource_rule(
            &[CORE],
            &[
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
                "events",
            ],
            WRITE,
        ),
        resource_rule(&[CORE], &["serviceaccounts/token"], &["create"]),
        resource_rule(
            &[APPS],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
            WRITE,
        ),
        resource_rule(&[AUTOSCALING], &["horizontalpodautoscalers"], WRITE),
        resource_rule(&[BATCH], &["jobs", "cronjobs"], WRITE),
        resource_rule(
            &[EXTENSIONS],
            &[
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "ingresses",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
                "networkpolicies",
            ],
            WRITE,
        ),
        resource_rule(&[POLICY], &["poddisruptionbudgets"], WRITE),
        resource_rule(&[NETWORKING], &["networkpolicies", "ingresses"], WRITE),
        resource_rule(&[COORDINATION], &["leases"], READ_WRITE),
        resource_rule(
            &[RESOURCE],
            &["resourceclaims", "resourceclaimtemplates"],
            WRITE,
        ),
    ]
}

/// What `view` reads: everything in a namespace but secrets, roles and bindings.
fn aggregate_to_view_rules() -> Vec<PolicyRule> {
    vec![
        resource_rule(
            &[CORE],
            &[
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
            READ,
        ),
        resource_rule(
            &[CORE],
            &[
                "limitranges",
                "resourcequotas",
                "bindings",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "replicationcontrollers/status",
                "pods/log",
            ],
            READ,
        ),
        // Reading a namespace at namespace scope means reading that namespace only.
        resource_rule(&[CORE], &["namespaces"], READ),
        resource_rule(&[DISCOVERY], &["endpointslices"], READ),
        resource_rule(
            &[APPS],
            &[
                "controllerrevisions",
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
            READ,
        ),
        resource_rule(
            &[AUTOSCALING],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        resource_rule(
            &[BATCH],
            &["jobs", "cronjobs", "cronjobs/status", "jobs/status"],
            READ,
        ),
        resource_rule(
            &[EXTENSIONS],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
                "networkpolicies",
            ],
            READ,
        ),
        resource_rule(
            &[POLICY],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        resource_rule(
            &[NETWORKING],
            &["networkpolicies", "ingresses", "ingresses/status"],
            READ,
        ),
        resource_rule(
            &[RESOURCE],
            &[
                "resourceclaims",
                "resourceclaims/status",
                "resourceclaimtemplates",
            ],
            READ,
        ),
    ]
}

/// Enough for kube-controller-manager to start its informers and mint the service accounts its
/// controllers then run as.
fn kube_controller_manager_rules() -> Vec<PolicyRule> {
    vec![
        events_rule(),
        resource_rule(&[COORDINATION], &["leases"], &["create"]),
        named_rule(
            &[COORDINATION],
            &["leases"],
            &["kube-controller-manager"],
            &["get", "update"],
        ),
        resource_rule(&[CORE], &["secrets", "serviceaccounts"], &["create"]),
        resource_rule(&[CORE], &["secrets"], &["delete"]),
        resource_rule(
            &[CORE],
            &["namespaces", "secrets", "serviceaccounts", "configmaps"],
            &["get"],
        ),
        resource_rule(&[CORE], &["secrets", "serviceaccounts"], &["update"]),
        resource_rule(&[AUTHENTICATION], &["tokenreviews"], &["create"]),
        resource_rule(&[AUTHORIZATION], &["subjectaccessreviews"], &["create"]),
        resource_rule(&["*"], &["*"], &["list", "watch"]),
        resource_rule(&[CORE], &["serviceaccounts/token"], &["create"]),
    ]
}

fn kube_scheduler_rules() -> Vec<PolicyRule> {
    vec![
        events_rule(),
        resource_rule(&[COORDINATION], &["leases"], &["create"]),
        named_rule(
            &[COORDINATION],
            &["leases"],
            &["kube-scheduler"],
            &["get", "list", "update", "watch"],
        ),
        resource_rule(&[COORDINATION], &["leasecandidates"], READ_WRITE),
        resource_rule(&[CORE], &["nodes"], READ),
        resource_rule(&[CORE], &["pods"], &["get", "list", "watch", "delete"]),
        resource_rule(&[CORE], &["bindings", "pods/binding"], &["create"]),
        resource_rule(&[CORE], &["pods/status"], UPDATE_PATCH),
        resource_rule(&[CORE], &["replicationcontrollers", "services"], READ),
        resource_rule(&[APPS, EXTENSIONS], &["replicasets"], READ),
        resource_rule(&[APPS], &["statefulsets"], READ),
        resource_rule(&[POLICY], &["poddisruptionbudgets"], READ),
        resource_rule(
            &[CORE],
            &["persistentvolumeclaims", "persistentvolumes"],
            READ,
        ),
        resource_rule(&[AUTHENTICATION], &["tokenreviews"], &["create"]),
        resource_rule(&[AUTHORIZATION], &["subjectaccessreviews"], &["create"]),
        resource_rule(&[STORAGE], &["csinodes"], READ),
        resource_rule(&[STORAGE], &["volumeattachments"], READ),
        resource_rule(&[CORE], &["namespaces"], READ),
        resource_rule(&[STORAGE], &["csidrivers"], READ),
        resource_rule(&[STORAGE], &["csistoragecapacities"], READ),
        // Dynamic resource allocation.
        resource_rule(&[RESOURCE], &["deviceclasses"], READ),
        resource_rule(
            &[RESOURCE],
            &["resourceclaims"],
            &["get", "list", "watch", "update", "patch"],
        ),
        resource_rule(
            &[RESOURCE],
            &["resourceclaims/status"],
            &["get", "list", "watch", "update", "patch"],
        ),
        resource_rule(&[CORE], &["pods/finalizers"], &["update"]),
        resource_rule(&[RESOURCE], &["resourceslices"], READ),
    ]
}

/// What a kubelet may do; the node authorizer narrows it to the kubelet's own node.
pub fn node_rules() -> Vec<PolicyRule> {
    vec![
        // Checking API access; these creates change nothing.
        resource_rule(&[AUTHENTICATION], &["tokenreviews"], &["create"]),
        resource_rule(
            &[AUTHORIZATION],
            &["subjectaccessreviews", "localsubjectaccessreviews"],
            &["create"],
        ),
        // Service environment variables.
        resource_rule(&[CORE], &["services"], READ),
        // Registering and updating its node.
        resource_rule(&[CORE], &["nodes"], &["create", "get", "list", "watch"]),
        resource_rule(&[CORE], &["nodes/status"], UPDATE_PATCH),
        resource_rule(&[CORE], &["nodes"], UPDATE_PATCH),
        resource_rule(&[CORE], &["events"], &["create", "update", "patch"]),
        resource_rule(&[CORE], &["pods"], READ),
        // Mirror pods.
        resource_rule(&[CORE], &["pods"], &["create", "delete"]),
        resource_rule(&[CORE], &["pods/status"], UPDATE_PATCH),
        // Evicting pods under node pressure.
        resource_rule(&[CORE], &["pods/eviction"], &["create"]),
        // Volumes, image pull secrets and environment of the node's pods.
        resource_rule(&[CORE], &["secrets", "configmaps"], READ),
        resource_rule(
            &[CORE],
            &["persistentvolumeclaims", "persistentvolumes"],
            &["get"],
        ),
        resource_rule(&[CORE], &["endpoints"], &["get"]),
        // Client certificate rotation.
        resource_rule(
            &[CERTIFICATES],
            &["certificatesigningrequests"],
            &["create", "get", "list", "watch"],
        ),
        // Node heartbeat leases.
        resource_rule(
            &[COORDINATION],
            &["leases"],
            &["get", "create", "update", "patch", "delete"],
        ),
        resource_rule(&[STORAGE], &["volumeattachments"], &["get"]),
        resource_rule(&[CORE], &["serviceaccounts/token"], &["create"]),
        // Volume expansion on the node.
        resource_rule(
            &[CORE],
            &["persistentvolumeclaims/status"],
            &["get", "update", "patch"],
        ),
        resource_rule(&[STORAGE], &["csidrivers"], READ),
        resource_rule(
            &[STORAGE],
            &["csinodes"],
            &["create", "delete", "get", "patch", "update"],
        ),
        resource_rule(&[NODE], &["runtimeclasses"], READ),
        // Dynamic resource allocation.
        resource_rule(&[RESOURCE], &["resourceclaims"], &["get"]),
        resource_rule(&[RESOURCE], &["resourceslices"], &["deletecollection"]),
        // Service account tokens for image credential providers.
        resource_rule(&[CORE], &["serviceaccounts"], &["get"]),
    ]
}

/// kube-controller-manager's controllers, each by the name of the kube-system service account it
/// runs as (its role is `system:controller:<name>`), with their rules.
fn controller_policies() -> Vec<(&'static str, Vec<PolicyRule>)> {
    vec![
        (
            "attachdetach-controller",
            vec![
                resource_rule(
                    &[CORE],
                    &["persistentvolumes", "persistentvolumeclaims"],
                    &["list", "watch"],
                ),
                resource_rule(&[CORE], &["nodes"], READ),
                resource_rule(&[CORE], &["nodes/status"], UPDATE_PATCH),
                resource_rule(&[CORE], &["pods"], &["list", "watch"]),
                events_rule(),
                resource_rule(
                    &[STORAGE],
                    &["volumeattachments"],
                    &["create", "delete", "get", "list", "watch"],
                ),
                resource_rule(&[STORAGE], &["csidrivers"], READ),
                resource_rule(&[STORAGE], &["csinodes"], READ),
            ],
        ),
        (
            "certificate-controller",
            vec![
                resource_rule(
                    &[CERTIFICATES],
                    &["certificatesigningrequests"],
                    &["get", "list", "watch", "delete"],
                ),
                resource_rule(
                    &[CERTIFICATES],
                    &[
                        "certificatesigningrequests/status",
                        "certificatesigningrequests/approval",
                    ],
                    &["update"],
                ),
                named_rule(
                    &[CERTIFICATES],
                    &["signers"],
                    &["kubernetes.io/kube-apiserver-client-kubelet"],
                    &["approve"],
                ),
                named_rule(
                    &[CERTIFICATES],
                    &["signers"],
                    &[
                        "kubernetes.io/kube-apiserver-client",
                        "kubernetes.io/kube-apiserver-client-kubelet",
                        "kubernetes.io/kubelet-serving",
                        "kubernetes.io/legacy-unknown",
                    ],
                    &["sign"],
                ),
                resource_rule(&[AUTHORIZATION], &["subjectaccessreviews"], &["create"]),
                events_rule(),
            ],
        ),
        (
            "clusterrole-aggregation-controller",
            vec![resource_rule(
                &[RBAC],
                &["clusterroles"],
                &["escalate", "get", "list", "watch", "update", "patch"],
            )],
        ),
        (
            "cronjob-controller",
            vec![
                resource_rule(&[BATCH], &["cronjobs"], &["get", "list", "watch", "update"]),
                resource_rule(
                    &[BATCH],
                    &["jobs"],
                    &[
                        "get", "list", "watch", "create", "update", "delete", "patch",
                    ],
                ),
                resource_rule(&[BATCH], &["cronjobs/status"], &["update"]),
                resource_rule(&[BATCH], &["cronjobs/finalizers"], &["update"]),
                resource_rule(&[CORE], &["pods"], &["list", "watch", "delete"]),
                events_rule(),
            ],
        ),
        (
            "daemon-set-controller",
            vec![
                resource_rule(&[APPS, EXTENSIONS], &["daemonsets"], READ),
                resource_rule(&[APPS, EXTENSIONS], &["daemonsets/status"], &["update"]),
                resource_rule(&[APPS, EXTENSIONS], &["daemonsets/finalizers"], &["update"]),
                resource_rule(&[CORE], &["nodes"], &["list", "watch"]),
                resource_rule(
                    &[CORE],
                    &["pods"],
                    &["list", "watch", "create", "delete", "patch"],
                ),
                resource_rule(&[CORE], &["pods/binding"], &["create"]),
                resource_rule(
                    &[APPS],
                    &["controllerrevisions"],
                    &[
                        "get", "list", "watch", "create", "update", "patch", "delete",
                    ],
                ),
                events_rule(),
            ],
        ),
        (
            "deployment-controller",
            vec![
                resource_rule(
                    &[APPS, EXTENSIONS],
                    &["deployments"],
                    &["get", "list", "watch", "update"],
                ),
                resource_rule(&[APPS, EXTENSIONS], &["deployments/status"], &["update"]),
                resource_rule(
                    &[APPS, EXTENSIONS],
                    &["deployments/finalizers"],
                    &["update"],
                ),
                resource_rule(
                    &[APPS, EXTENSIONS],
                    &["replicasets"],
                    &[
                        "get", "list", "watch", "create", "update", "patch", "delete",
                    ],
                ),
                // Pods are only listed, and updated to add their owner reference.
                resource_rule(&[CORE], &["pods"], &["get", "list", "watch", "update"]),
                events_rule(),
            ],
        ),
        (
            "disruption-controller",
            vec![
                resource_rule(&[APPS, EXTENSIONS], &["deployments"], READ),
                resource_rule(&[APPS, EXTENSIONS], &["replicasets"], READ),
                resource_rule(&[CORE], &["replicationcontrollers"], READ),
                resource_rule(&[POLICY], &["poddisruptionbudgets"], READ),
                resource_rule(&[APPS], &["statefulsets"], READ),
                resource_rule(&[POLICY], &["poddisruptionbudgets/status"], &["update"]),
                resource_rule(&[CORE], &["pods/status"], UPDATE_PATCH),
                resource_rule(&["*"], &["*/scale"], &["get"]),
                events_rule(),
            ],
        ),
        (
            "endpoint-controller",
            vec![
                resource_rule(&[CORE], &["services", "pods"], READ),
                resource_rule(
                    &[CORE],
                    &["endpoints"],
                    &["get", "list", "watch", "create", "update", "delete"],
                ),
                resource_rule(&[CORE], &["endpoints/restricted"], &["create"]),
                events_rule(),
            ],
        ),
        (
            "endpointslice-controller",
            vec![
                resource_rule(&[CORE], &["services", "pods", "nodes"], READ),
                // Owner references on EndpointSlices point at their Service.
                resource_rule(&[CORE], &["services/finalizers"], &["update"]),
                resource_rule(
                    &[DISCOVERY],
                    &["endpointslices"],
                    &["get", "list", "watch", "create", "update", "delete"],
                ),
                resource_rule(&[DISCOVERY], &["endpointslices/restricted"], &["create"]),
                events_rule(),
            ],
        ),
        (
            "endpointslicemirroring-controller",
            vec![
                resource_rule(&[CORE], &["services", "endpoints"], READ),
                resource_rule(&[CORE], &["services/finalizers"], &["update"]),
                resource_rule(&[CORE], &["endpoints/finalizers"], &["update"]),
                resource_rule(
                    &[DISCOVERY],
                    &["endpointslices"],
                    &["get", "list", "watch", "create", "update", "delete"],
                ),
                resource_rule(&[DISCOVERY], &["endpointslices/restricted"], &["create"]),
                events_rule(),
            ],
        ),
        (
            "ephemeral-volume-controller",
            vec![
                resource_rule(&[CORE], &["pods"], READ),
                resource_rule(&[CORE], &["pods/finalizers"], &["update"]),
                resource_rule(
                    &[CORE],
                    &["persistentvolumeclaims"],
                    &["get", "list", "watch", "create"],
                ),
                events_rule(),
            ],
        ),
        (
            "expand-controller",
            vec![
                resource_rule(
                    &[CORE],
                    &["persistentvolumes"],
                    &["get", "list", "watch", "update", "patch"],
                ),
                resource_rule(&[CORE], &["persistentvolumeclaims/status"], UPDATE_PATCH),
                resource_rule(&[CORE], &["persistentvolumeclaims"], READ),
                events_rule(),
                resource_rule(&[CORE], &["services"], &["get"]),
            ],
        ),
        (
            "generic-garbage-collector",
            vec![
                resource_rule(
                    &["*"],
                    &["*"],
                    &["get", "list", "watch", "patch", "update", "delete"],
                ),
                events_rule(),
            ],
        ),
        (
            "horizontal-pod-autoscaler",
            vec![
                resource_rule(&[AUTOSCALING], &["horizontalpodautoscalers"], READ),
                resource_rule(
                    &[AUTOSCALING],
                    &["horizontalpodautoscalers/status"],
                    &["update"],
                ),
                resource_rule(&["*"], &["*/scale"], &["get", "update"]),
                resource_rule(&[CORE], &["pods"], &["list", "watch"]),
                resource_rule(&["metrics.k8s.io"], &["pods"], &["list", "watch"]),
                resource_rule(&["custom.metrics.k8s.io"], &["*"], READ),
                resource_rule(&["external.metrics.k8s.io"], &["*"], READ),
                events_rule(),
            ],
        ),
        (
            "job-controller",
            vec![
                resource_rule(
                    &[BATCH],
                    &["jobs"],
                    &["get", "list", "watch", "update", "patch"],
                ),
                resource_rule(&[BATCH], &["jobs/status"], &["update"]),
                resource_rule(&[BATCH], &["jobs/finalizers"], &["update"]),
                resource_rule(
                    &[CORE],
                    &["pods"],
                    &["list", "watch", "create", "delete", "patch"],
                ),
                events_rule(),
            ],
        ),
        (
            "legacy-service-account-token-cleaner",
            vec![
                named_rule(
                    &[CORE],
                    &["configmaps"],
                    &["kube-apiserver-legacy-service-account-token-tracking"],
                    &["get"],
                ),
                resource_rule(&[CORE], &["secrets"], &["delete", "patch"]),
            ],
        ),
        (
            "namespace-controller",
            vec![
                resource_rule(
                    &[CORE],
                    &["namespaces"],
                    &["get", "list", "watch", "delete"],
                ),
                resource_rule(
                    &[CORE],
                    &["namespaces/finalize", "namespaces/status"],
                    &["update"],
                ),
                resource_rule(
                    &["*"],
                    &["*"],
                    &["get", "list", "watch", "delete", "deletecollection"],
                ),
            ],
        ),
        (
            "node-controller",
            vec![
                resource_rule(
                    &[CORE],
                    &["nodes"],
                    &["get", "list", "watch", "update", "patch", "delete"],
                ),
                resource_rule(&[CORE], &["nodes/status"], UPDATE_PATCH),
                // Marking pods not ready, and evicting them.
                resource_rule(&[CORE], &["pods/status"], UPDATE_PATCH),
                resource_rule(&[CORE], &["pods"], &["get", "list", "watch", "delete"]),
                events_rule(),
            ],
        ),
        (
            "persistent-volume-binder",
            vec![
                resource_rule(
                    &[CORE],
                    &["persistentvolumes"],
                    &["get", "list", "watch", "update", "create", "delete"],
                ),
                resource_rule(&[CORE], &["persistentvolumes/status"], &["update"]),
                resource_rule(
                    &[CORE],
                    &["persistentvolumeclaims"],
                    &["get", "list", "watch", "update"],
                ),
                resource_rule(&[CORE], &["persistentvolumeclaims/status"], &["update"]),
                resource_rule(
                    &[CORE],
                    &["pods"],
                    &["get", "list", "watch", "create", "delete"],
                ),
                resource_rule(&[STORAGE], &["storageclasses"], READ),
                resource_rule(&[CORE], &["nodes"], &["list", "watch"]),
                events_rule(),
                resource_rule(&[CORE], &["events"], &["watch"]),
                resource_rule(&[CORE], &["services"], &["get"]),
            ],
        ),
        (
            "pod-garbage-collector",
            vec![
                resource_rule(&[CORE], &["pods"], &["list", "watch", "delete"]),
                resource_rule(&[CORE], &["nodes"], READ),
                resource_rule(&[CORE], &["pods/status"], &["patch"]),
            ],
        ),
        (
            "pv-protection-controller",
            vec![
                resource_rule(
                    &[CORE],
                    &["persistentvolumes"],
                    &["get", "list", "watch", "update"],
                ),
                events_rule(),
            ],
        ),
        (
            "pvc-protection-controller",
            vec![
                resource_rule(
                    &[CORE],
                    &["persistentvolumeclaims"],
                    &["get", "list", "watch", "update"],
                ),
                resource_rule(&[CORE], &["pods"], READ),
                events_rule(),
            ],
        ),
        (
            "replicaset-controller",
            vec![
                resource_rule(
                    &[APPS, EXTENSIONS],
                    &["replicasets"],
                    &["get", "list", "watch", "update"],
                ),
                resource_rule(&[APPS, EXTENSIONS], &["replicasets/status"], &["update"]),
                resource_rule(
                    &[APPS, EXTENSIONS],
                    &["replicasets/finalizers"],
                    &["update"],
                ),
                resource_rule(
                    &[CORE],
                    &["pods"],
                    &["list", "watch", "patch", "create", "delete"],
                ),
                events_rule(),
            ],
        ),
        (
            "replication-controller",
            vec![
                resource_rule(
                    &[CORE],
                    &["replicationcontrollers"],
                    &["get", "list", "watch", "update"],
                ),
                resource_rule(&[CORE], &["replicationcontrollers/status"], &["update"]),
                resource_rule(&[CORE], &["replicationcontrollers/finalizers"], &["update"]),
                resource_rule(
                    &[CORE],
                    &["pods"],
                    &["list", "watch", "patch", "create", "delete"],
                ),
                events_rule(),
            ],
        ),
        (
            "resource-claim-controller",
            vec![
                resource_rule(&[CORE], &["pods"], READ),
                resource_rule(&[CORE], &["pods/finalizers"], &["update"]),
                resource_rule(
                    &[RESOURCE],
                    &["resourceclaims"],
                    &["get", "list", "watch", "create", "delete"],
                ),
                resource_rule(
                    &[RESOURCE],
                    &["resourceclaims", "resourceclaims/status"],
                    UPDATE_PATCH,
                ),
                resource_rule(&[CORE], &["pods/status"], UPDATE_PATCH),
                events_rule(),
            ],
        ),
        (
            "resourcequota-controller",
            vec![
                // Quota is counted over every resource.
                resource_rule(&["*"], &["*"], &["list", "watch"]),
                resource_rule(&[CORE], &["resourcequotas/status"], &["update"]),
                events_rule(),
            ],
        ),
        (
            "root-ca-cert-publisher",
            vec![
                resource_rule(&[CORE], &["configmaps"], &["create", "update"]),
                events_rule(),
            ],
        ),
        (
            "route-controller",
            vec![
                resource_rule(&[CORE], &["nodes"], &["list", "watch"]),
                resource_rule(&[CORE], &["nodes/status"], &["patch"]),
                events_rule(),
            ],
        ),
        (
            "selinux-warning-controller",
            vec![
                events_rule(),
                resource_rule(&[CORE], &["persistentvolumes"], READ),
                resource_rule(&[CORE], &["persistentvolumeclaims"], READ),
                resource_rule(&[CORE], &["pods"], READ),
                resource_rule(&[STORAGE], &["csidrivers"], READ),
            ],
        ),
        (
            "service-account-controller",
            vec![
                resource_rule(&[CORE], &["serviceaccounts"], &["create"]),
                events_rule(),
            ],
        ),
        (
            "service-cidrs-controller",
            vec![
                resource_rule(
                    &[NETWORKING],
                    &["servicecidrs"],
                    &["get", "list", "watch", "patch", "update"],
                ),
                resource_rule(&[NETWORKING], &["servicecidrs/finalizers"], UPDATE_PATCH),
                resource_rule(&[NETWORKING], &["servicecidrs/status"], UPDATE_PATCH),
                resource_rule(&[NETWORKING], &["ipaddresses"], READ),
                events_rule(),
            ],
        ),
        (
            "service-controller",
            vec![
                resource_rule(&[CORE], &["services"], READ),
                resource_rule(&[CORE], &["services/status"], UPDATE_PATCH),
                resource_rule(&[CORE], &["nodes"], &["list", "watch"]),
                events_rule(),
            ],
        ),
        (
            "statefulset-controller",
            vec![
                resource_rule(&[CORE], &["pods"], &["list", "watch"]),
                resource_rule(&[APPS], &["statefulsets"], READ),
                resource_rule(&[APPS], &["statefulsets/status"], &["update"]),
                resource_rule(&[APPS], &["statefulsets/finalizers"], &["update"]),
                resource_rule(
                    &[CORE],
                    &["pods"],
                    &["get", "create", "delete", "update", "patch"],
                ),
                resource_rule(
                    &[APPS],
                    &["controllerrevisions"],
                    &[
                        "get", "list", "watch", "create", "update", "patch", "delete",
                    ],
                ),
                resource_rule(
                    &[CORE],
                    &["persistentvolumeclaims"],
                    &["get", "list", "watch", "create"],
                ),
                events_rule(),
                // Deleting or re-owning claims under a PersistentVolumeClaimRetentionPolicy.
                resource_rule(&[CORE], &["persistentvolumeclaims"], &["update", "delete"]),
                resource_rule(&[CORE], &["pods/finalizers"], &["update"]),
            ],
        ),
        (
            "ttl-after-finished-controller",
            vec![
                resource_rule(&[BATCH], &["jobs"], &["get", "list", "watch", "delete"]),
                events_rule(),
            ],
        ),
        (
            "ttl-controller",
            vec![
                resource_rule(&[CORE], &["nodes"], &["update", "patch", "list", "watch"]),
                events_rule(),
            ],
        ),
        (
            "validatingadmissionpolicy-status-controller",
            vec![
                resource_rule(
                    &[ADMISSION_REGISTRATION],
                    &["validatingadmissionpolicies"],
                    READ,
                ),
                resource_rule(
                    &[ADMISSION_REGISTRATION],
                    &["validatingadmissionpolicies/status"],
                    &["get", "patch", "update"],
                ),
                events_rule(),
            ],
        ),
        (
            "volumeattributesclass-protection-controller",
            vec![
                resource_rule(&[CORE], &["persistentvolumeclaims"], READ),
                resource_rule(&[CORE], &["persistentvolumes"], READ),
                resource_rule(
                    &[STORAGE],
                    &["volumeattributesclasses"],
                    &["get", "list", "watch", "update"],
                ),
                events_rule(),
            ],
        ),
    ]
}

/// The default ClusterRoleBindings: upstream's `ClusterRoleBindings()`, then one binding per
/// controller role to the kube-system service account of the same name.
pub fn cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    let mut bindings = vec![
        cluster_binding("cluster-admin", vec![group("system:masters")]),
        cluster_binding("system:basic-user", vec![group("system:authenticated")]),
        cluster_binding("system:discovery", vec![group("system:authenticated")]),
        cluster_binding(
            "system:kube-controller-manager",
            vec![user("system:kube-controller-manager")],
        ),
        cluster_binding(
            "system:kube-dns",
            vec![service_account(KUBE_SYSTEM, "kube-dns")],
        ),
        cluster_binding("system:kube-scheduler", vec![user("system:kube-scheduler")]),
        cluster_binding("system:monitoring", vec![group("system:monitoring")]),
        // Bound to no one: the node authorizer grants kubelets this role's rules.
        cluster_binding("system:node", vec![]),
        cluster_binding("system:node-proxier", vec![user("system:kube-proxy")]),
        cluster_binding(
            "system:public-info-viewer",
            vec![
                group("system:authenticated"),
                group("system:unauthenticated"),
            ],
        ),
        cluster_binding(
            "system:service-account-issuer-discovery",
            vec![group("system:serviceaccounts")],
        ),
        cluster_binding(
            "system:volume-scheduler",
            vec![user("system:kube-scheduler")],
        ),
    ];
    bindings.extend(controller_policies().into_iter().map(|(name, _)| {
        cluster_binding(
            &format!("{CONTROLLER_PREFIX}{name}"),
            vec![service_account(KUBE_SYSTEM, name)],
        )
    }));
    bindings
}

/// The default Roles of kube-system and kube-public (upstream's `NamespaceRoles()`), each with
/// its namespace set.
pub fn roles() -> Vec<Role> {
    vec![
        namespaced_role(
            KUBE_PUBLIC,
            "system:controller:bootstrap-signer",
            vec![
                resource_rule(&[CORE], &["configmaps"], READ),
                named_rule(&[CORE], &["configmaps"], &["cluster-info"], &["update"]),
                events_rule(),
            ],
        ),
        namespaced_role(
            KUBE_SYSTEM,
            "extension-apiserver-authentication-reader",
            vec![named_rule(
                &[CORE],
                &["configmaps"],
                &["extension-apiserver-authentication"],
                READ,
            )],
        ),
        namespaced_role(
            KUBE_SYSTEM,
            "system::leader-locking-kube-controller-manager",
            leader_locking_rules(),
        ),
        namespaced_role(
            KUBE_SYSTEM,
            "system::leader-locking-kube-scheduler",
            leader_locking_rules(),
        ),
        namespaced_role(
            KUBE_SYSTEM,
            "system:controller:bootstrap-signer",
            vec![resource_rule(&[CORE], &["secrets"], READ)],
        ),
        // Deprecated upstream since 1.10, still bootstrapped.
        namespaced_role(
            KUBE_SYSTEM,
            "system:controller:cloud-provider",
            vec![resource_rule(
                &[CORE],
                &["configmaps"],
                &["create", "get", "list", "watch"],
            )],
        ),
        namespaced_role(
            KUBE_SYSTEM,
            "system:controller:token-cleaner",
            vec![
                resource_rule(&[CORE], &["secrets"], &["delete", "get", "list", "watch"]),
                events_rule(),
            ],
        ),
    ]
}

/// Leader election through Leases, and coordinated leader election through LeaseCandidates.
fn leader_locking_rules() -> Vec<PolicyRule> {
    let verbs = &["get", "watch", "list", "create", "update"];
    vec![
        resource_rule(&[COORDINATION], &["leases"], verbs),
        resource_rule(&[COORDINATION], &["leasecandidates"], verbs),
    ]
}

/// The default RoleBindings of kube-system and kube-public (upstream's
/// `NamespaceRoleBindings()`), each with its namespace set.
pub fn role_bindings() -> Vec<RoleBinding> {
    vec![
        role_binding(
            KUBE_PUBLIC,
            "system:controller:bootstrap-signer",
            "system:controller:bootstrap-signer",
            vec![service_account(KUBE_SYSTEM, "bootstrap-signer")],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system::extension-apiserver-authentication-reader",
            "extension-apiserver-authentication-reader",
            vec![
                user("system:kube-controller-manager"),
                user("system:kube-scheduler"),
            ],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system::leader-locking-kube-controller-manager",
            "system::leader-locking-kube-controller-manager",
            vec![
                user("system:kube-controller-manager"),
                service_account(KUBE_SYSTEM, "kube-controller-manager"),
                service_account(KUBE_SYSTEM, "leader-election-controller"),
            ],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system::leader-locking-kube-scheduler",
            "system::leader-locking-kube-scheduler",
            vec![
                user("system:kube-scheduler"),
                service_account(KUBE_SYSTEM, "kube-scheduler"),
            ],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system:controller:bootstrap-signer",
            "system:controller:bootstrap-signer",
            vec![service_account(KUBE_SYSTEM, "bootstrap-signer")],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system:controller:cloud-provider",
            "system:controller:cloud-provider",
            vec![service_account(KUBE_SYSTEM, "cloud-provider")],
        ),
        role_binding(
            KUBE_SYSTEM,
            "system:controller:token-cleaner",
            "system:controller:token-cleaner",
            vec![service_account(KUBE_SYSTEM, "token-cleaner")],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::attributes::Attributes;
    use crate::rbac::rule_allows;
    use crate::user::UserInfo;

    /// Items in v1.34's `testdata/cluster-roles.yaml` plus `testdata/controller-roles.yaml`.
    const UPSTREAM_CLUSTER_ROLES: usize = 31 + 37;
    /// Items in `testdata/cluster-role-bindings.yaml` plus `testdata/controller-role-bindings.yaml`.
    const UPSTREAM_CLUSTER_ROLE_BINDINGS: usize = 12 + 37;
    /// Items in `testdata/namespace-roles.yaml`.
    const UPSTREAM_ROLES: usize = 7;
    /// Items in `testdata/namespace-role-bindings.yaml`.
    const UPSTREAM_ROLE_BINDINGS: usize = 7;

    fn cluster_role(name: &str) -> ClusterRole {
        cluster_roles()
            .into_iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no ClusterRole {name}"))
    }

    /// A role's rules with those it aggregates, as the aggregation controller would settle them.
    fn effective_rules(name: &str) -> Vec<PolicyRule> {
        let all = cluster_roles();
        let role = all
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no ClusterRole {name}"));
        let mut rules = role.rules.clone().unwrap_or_default();
        let selectors = role
            .aggregation_rule
            .as_ref()
            .and_then(|a| a.cluster_role_selectors.clone())
            .unwrap_or_default();
        for selector in selectors {
            let wanted = selector.match_labels.unwrap_or_default();
            for other in &all {
                let labels = other.metadata.labels.clone().unwrap_or_default();
                if wanted.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                    rules.extend(effective_rules(other.metadata.name.as_deref().unwrap()));
                }
            }
        }
        rules
    }

    fn allows(rules: &[PolicyRule], verb: &str, group: &str, resource: &str) -> bool {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let attributes =
            Attributes::resource(UserInfo::new("u", &[]), verb, group, resource, "ns", "")
                .with_subresource(subresource);
        rules.iter().any(|rule| rule_allows(&attributes, rule))
    }

    fn label(role: &ClusterRole, key: &str) -> Option<String> {
        role.metadata.labels.as_ref()?.get(key).cloned()
    }

    #[test]
    fn admin_edit_and_view_aggregate_their_rules_from_labelled_roles() {
        for (name, folded_into) in [
            ("admin", None),
            ("edit", Some("admin")),
            ("view", Some("edit")),
        ] {
            let role = cluster_role(name);
            assert!(
                role.rules.unwrap_or_default().is_empty(),
                "{name} has rules of its own"
            );
            let selectors = role
                .aggregation_rule
                .unwrap()
                .cluster_role_selectors
                .unwrap();
            assert_eq!(
                selectors[0].match_labels,
                Some(BTreeMap::from([(
                    aggregate_label(name),
                    "true".to_string()
                )]))
            );
            let source = cluster_role(&format!("system:aggregate-to-{name}"));
            assert_eq!(
                label(&source, &aggregate_label(name)).as_deref(),
                Some("true")
            );
            assert!(!source.rules.unwrap().is_empty());
            if let Some(into) = folded_into {
                assert_eq!(
                    label(&cluster_role(name), &aggregate_label(into)).as_deref(),
                    Some("true")
                );
            }
        }
        let admin = effective_rules("admin");
        assert!(allows(&admin, "create", RBAC, "rolebindings"));
        assert!(allows(&admin, "get", CORE, "pods"));
    }

    #[test]
    fn view_cannot_read_secrets_but_edit_can() {
        let view = effective_rules("view");
        assert!(allows(&view, "list", CORE, "pods"));
        assert!(!allows(&view, "get", CORE, "secrets"));
        assert!(!allows(&view, "list", CORE, "secrets"));
        assert!(allows(&effective_rules("edit"), "get", CORE, "secrets"));
    }

    #[test]
    fn edit_can_create_deployments_in_group_apps_but_not_roles() {
        let edit = effective_rules("edit");
        assert!(allows(&edit, "create", APPS, "deployments"));
        assert!(allows(&edit, "patch", APPS, "deployments/scale"));
        assert!(allows(&edit, "watch", APPS, "deployments"));
        assert!(!allows(&edit, "create", RBAC, "roles"));
        assert!(!allows(&edit, "update", CORE, "resourcequotas"));
    }

    #[test]
    fn the_node_role_may_evict_pods_and_update_its_status() {
        let node = cluster_role("system:node").rules.unwrap();
        assert!(allows(&node, "create", CORE, "pods/eviction"));
        assert!(allows(&node, "patch", CORE, "nodes/status"));
        assert!(allows(&node, "get", CORE, "serviceaccounts"));
        assert!(!allows(&node, "delete", CORE, "nodes"));
    }

    #[test]
    fn controllers_hold_the_rights_they_work_with() {
        let gc = cluster_role("system:controller:generic-garbage-collector")
            .rules
            .unwrap();
        assert!(allows(&gc, "delete", "example.com", "widgets"));
        let rs = cluster_role("system:controller:replicaset-controller")
            .rules
            .unwrap();
        assert!(allows(&rs, "create", CORE, "pods"));
        assert!(allows(&rs, "update", APPS, "replicasets/status"));
        assert!(!allows(&rs, "create", APPS, "deployments"));
        let signer = cluster_role("system:controller:certificate-controller")
            .rules
            .unwrap();
        let sign = |name: &str| {
            let attributes = Attributes::resource(
                UserInfo::new("u", &[]),
                "sign",
                CERTIFICATES,
                "signers",
                "",
                name,
            );
            signer.iter().any(|rule| rule_allows(&attributes, rule))
        };
        assert!(sign("kubernetes.io/kubelet-serving"));
        assert!(!sign("example.com/other"));
    }

    #[test]
    fn counts_match_upstream_golden_files() {
        assert_eq!(cluster_roles().len(), UPSTREAM_CLUSTER_ROLES);
        assert_eq!(
            cluster_role_bindings().len(),
            UPSTREAM_CLUSTER_ROLE_BINDINGS
        );
        assert_eq!(roles().len(), UPSTREAM_ROLES);
        assert_eq!(role_bindings().len(), UPSTREAM_ROLE_BINDINGS);
    }

    #[test]
    fn names_are_unique_within_their_scope() {
        let cluster: BTreeSet<_> = cluster_roles()
            .into_iter()
            .map(|r| r.metadata.name)
            .collect();
        assert_eq!(cluster.len(), cluster_roles().len());
        let bindings: BTreeSet<_> = cluster_role_bindings()
            .into_iter()
            .map(|b| b.metadata.name)
            .collect();
        assert_eq!(bindings.len(), cluster_role_bindings().len());
        let roles: BTreeSet<_> = roles()
            .into_iter()
            .map(|r| (r.metadata.namespace, r.metadata.name))
            .collect();
        assert_eq!(roles.len(), UPSTREAM_ROLES);
        let role_bindings: BTreeSet<_> = role_bindings()
            .into_iter()
            .map(|b| (b.metadata.namespace, b.metadata.name))
            .collect();
        assert_eq!(role_bindings.len(), UPSTREAM_ROLE_BINDINGS);
    }

    #[test]
    fn every_binding_names_a_role_that_exists() {
        let cluster: BTreeSet<String> = cluster_roles()
            .into_iter()
            .filter_map(|r| r.metadata.name)
            .collect();
        for binding in cluster_role_bindings() {
            assert_eq!(binding.role_ref.kind, "ClusterRole");
            assert_eq!(binding.role_ref.api_group, RBAC);
            assert!(
                cluster.contains(&binding.role_ref.name),
                "{:?}",
                binding.metadata.name
            );
        }
        let namespaced: BTreeSet<(String, String)> = roles()
            .into_iter()
            .map(|r| (r.metadata.namespace.unwrap(), r.metadata.name.unwrap()))
            .collect();
        for binding in role_bindings() {
            assert_eq!(binding.role_ref.kind, "Role");
            let key = (
                binding.metadata.namespace.clone().unwrap(),
                binding.role_ref.name.clone(),
            );
            assert!(namespaced.contains(&key), "{key:?}");
        }
    }

    #[test]
    fn every_object_is_labelled_and_annotated_for_autoupdate() {
        let metas = cluster_roles()
            .into_iter()
            .map(|r| r.metadata)
            .chain(cluster_role_bindings().into_iter().map(|b| b.metadata))
            .chain(roles().into_iter().map(|r| r.metadata))
            .chain(role_bindings().into_iter().map(|b| b.metadata));
        for meta in metas {
            let labels = meta.labels.unwrap_or_default();
            assert_eq!(
                labels.get(BOOTSTRAPPING_LABEL).map(String::as_str),
                Some("rbac-defaults")
            );
            let annotations = meta.annotations.unwrap_or_default();
            assert_eq!(
                annotations.get(AUTOUPDATE_ANNOTATION).map(String::as_str),
                Some("true")
            );
        }
    }

    #[test]
    fn controllers_are_bound_to_their_kube_system_service_accounts() {
        let bindings = cluster_role_bindings();
        let controller_bindings: Vec<_> = bindings
            .iter()
            .filter(|b| b.role_ref.name.starts_with(CONTROLLER_PREFIX))
            .collect();
        assert_eq!(controller_bindings.len(), 37);
        for binding in controller_bindings {
            let subjects = binding.subjects.as_ref().unwrap();
            let name = binding
                .role_ref
                .name
                .strip_prefix(CONTROLLER_PREFIX)
                .unwrap();
            assert_eq!(subjects, &vec![service_account(KUBE_SYSTEM, name)]);
        }
    }

    #[test]
    fn subjects_carry_an_api_group_only_when_they_are_users_or_groups() {
        let subjects = cluster_role_bindings()
            .into_iter()
            .flat_map(|b| b.subjects.unwrap_or_default())
            .chain(
                role_bindings()
                    .into_iter()
                    .flat_map(|b| b.subjects.unwrap_or_default()),
            );
        for subject in subjects {
            if subject.kind == "ServiceAccount" {
                assert_eq!(subject.api_group, None);
                assert!(subject.namespace.is_some());
            } else {
                assert_eq!(subject.api_group.as_deref(), Some(RBAC));
                assert_eq!(subject.namespace, None);
            }
        }
        let node = cluster_role_bindings()
            .into_iter()
            .find(|b| b.metadata.name.as_deref() == Some("system:node"))
            .unwrap();
        assert_eq!(node.subjects, None);
    }

    #[test]
    fn rules_are_sorted_as_upstream_builds_them() {
        let rule = &cluster_role("system:kube-scheduler").rules.unwrap()[0];
        assert_eq!(rule.api_groups, Some(strings(&["", "events.k8s.io"])));
        assert_eq!(rule.verbs, strings(&["create", "patch", "update"]));
    }
}
