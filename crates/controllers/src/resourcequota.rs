//! The ResourceQuota controller: keeps each quota's `status.hard` equal to `spec.hard` and
//! `status.used` equal to what the namespace's objects use, recounted from scratch when the
//! quota changes, when tracked objects change or go, and every five minutes (upstream's
//! `resource_quota_controller.go`). Admission charges writes at once; this releases what
//! deletions and finished pods free, and corrects any drift.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bosun_api::quantity::{Quantity, ResourceList, resource_list};
use bosun_api::quota;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota, Secret, Service,
};
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::{Clients, Error, Shutdown};

/// The controller's name and service account.
pub const NAME: &str = "resourcequota-controller";
/// Full recount period (upstream's `--resource-quota-sync-period`).
const RESYNC: Duration = Duration::from_secs(300);
/// How long changes are gathered before a namespace's quotas are recounted.
const DEBOUNCE: Duration = Duration::from_millis(500);

struct Context {
    clients: Clients,
}

/// Maps a change to any object to the quotas of its namespace, which must be recounted.
fn quotas_in_namespace_of<K: ResourceExt>(
    store: &Store<ResourceQuota>,
) -> impl Fn(K) -> Vec<ObjectRef<ResourceQuota>> + Send + Sync + 'static {
    let store = store.clone();
    move |changed| {
        let namespace = changed.namespace();
        store
            .state()
            .into_iter()
            .filter(|q| q.namespace() == namespace)
            .map(|q| ObjectRef::from_obj(&*q))
            .collect()
    }
}

/// The changes to every object of kind `K`, as metadata only.
fn changes<K>(
    client: &Client,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    PartialObjectMeta<K>: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    watcher(
        Api::<PartialObjectMeta<K>>::all(client.clone()),
        watcher::Config::default(),
    )
    .touched_objects()
}

/// Runs until shutdown.
pub async fn run(clients: Clients, shutdown: Shutdown) {
    let client = clients.read.clone();
    let controller = Controller::new(
        Api::<ResourceQuota>::all(client.clone()),
        watcher::Config::default(),
    );
    // A burst of changes in a namespace (a Deployment scaling up) becomes one recount.
    let controller = controller.with_config(controller::Config::default().debounce(DEBOUNCE));
    let store = controller.store();
    // Changes elsewhere only say which namespace to recount, so they are followed as metadata:
    // the recount lists what it needs, and no full object is decoded per event.
    controller
        .watches_stream(changes::<Pod>(&client), quotas_in_namespace_of(&store))
        .watches_stream(changes::<Service>(&client), quotas_in_namespace_of(&store))
        .watches_stream(
            changes::<PersistentVolumeClaim>(&client),
            quotas_in_namespace_of(&store),
        )
        .watches_stream(
            changes::<ConfigMap>(&client),
            quotas_in_namespace_of(&store),
        )
        .watches_stream(changes::<Secret>(&client), quotas_in_namespace_of(&store))
        .watches_stream(
            changes::<ReplicationController>(&client),
            quotas_in_namespace_of(&store),
        )
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile, error_policy, Arc::new(Context { clients }))
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The objects of `group/plural` in `namespace`, as JSON.
async fn objects(
    client: &Client,
    group: &str,
    plural: &str,
    namespace: &str,
) -> Result<Vec<Value>, Error> {
    let object = format!("{plural}.{group} in {namespace}");
    let version = if group.is_empty() {
        "v1".to_string()
    } else {
        let found = kube::discovery::group(client, group)
            .await
            .map_err(Error::api("discovering", object.clone()))?;
        found.preferred_version_or_latest().to_string()
    };
    let resource = ApiResource {
        group: group.to_string(),
        version: version.clone(),
        api_version: if group.is_empty() {
            version
        } else {
            format!("{group}/{version}")
        },
        kind: String::new(),
        plural: plural.to_string(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(Error::api("listing", object))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect())
}

/// Which `group/plural` kinds the quota's hard resources are about.
fn tracked_kinds(hard: &ResourceList) -> BTreeSet<(String, String)> {
    let mut kinds = BTreeSet::new();
    for name in hard.keys() {
        if let Some(counted) = name.strip_prefix("count/") {
            let (plural, group) = counted.split_once('.').unwrap_or((counted, ""));
            kinds.insert((group.to_string(), plural.to_string()));
            continue;
        }
        for plural in [
            "pods",
            "services",
            "persistentvolumeclaims",
            "configmaps",
            "secrets",
            "replicationcontrollers",
            "resourcequotas",
        ] {
            if quota::matches_resource("", plural, name) {
                kinds.insert((String::new(), plural.to_string()));
            }
        }
    }
    kinds
}

async fn reconcile(q: Arc<ResourceQuota>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = q.namespace().unwrap_or_default();
    let name = q.name_any();
    let quota_json = serde_json::to_value(&*q).unwrap_or_default();
    let hard = resource_list(&quota_json["spec"]["hard"]).unwrap_or_default();
    let mut used = ResourceList::new();
    for (group, plural) in tracked_kinds(&hard) {
        let matched: BTreeSet<&String> = hard
            .keys()
            .filter(|k| quota::matches_resource(&group, &plural, k))
            .collect();
        for key in &matched {
            used.entry((*key).clone()).or_insert_with(Quantity::zero);
        }
        for obj in objects(&ctx.clients.read, &group, &plural, &namespace).await? {
            if !quota::scopes_match(&quota_json, &group, &plural, &obj) {
                continue;
            }
            let usage: ResourceList =
                quota::usage(&group, &plural, &obj, bosun_api::meta::now_unix())
                    .into_iter()
                    .filter(|(k, _)| matched.contains(k))
                    .collect();
            quota::add_into(&mut used, &usage);
        }
    }
    let status = json!({"hard": quota_json["spec"]["hard"], "used": used});
    if quota_json["status"] == status {
        return Ok(Action::requeue(RESYNC));
    }
    let mut updated = quota_json.clone();
    updated["status"] = status;
    let api: Api<ResourceQuota> = Api::namespaced(ctx.clients.write.clone(), &namespace);
    let updated: ResourceQuota = serde_json::from_value(updated).map_err(|e| Error::Encoding {
        object: format!("resourcequota {namespace}/{name}"),
        reason: e.to_string(),
    })?;
    match api
        .replace_status(&name, &PostParams::default(), &updated)
        .await
    {
        Ok(_) => {}
        // Admission charged it meanwhile: the watch brings the quota back for a recount.
        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => {}
        Err(e) => {
            return Err(Error::api(
                "updating the status of",
                format!("resourcequota {namespace}/{name}"),
            )(e));
        }
    }
    Ok(Action::requeue(RESYNC))
}

fn error_policy(_: Arc<ResourceQuota>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(%error, "resource quota sync failed");
    Action::requeue(Duration::from_secs(2))
}
