//! The tokens controller: a Secret of type `kubernetes.io/service-account-token` that names a
//! ServiceAccount gets a legacy token, the cluster CA and its namespace filled in; one whose
//! account is gone (or was replaced, by uid) is deleted (upstream's `tokens_controller.go`).
//! It runs as the manager itself, as upstream's does, since it holds the signing key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};

use crate::{Error, ManagerConfig, Shutdown};

/// The controller's name.
pub const NAME: &str = "serviceaccount-token-controller";
/// The Secret type legacy tokens live in.
pub const TOKEN_SECRET_TYPE: &str = "kubernetes.io/service-account-token";
const NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
const UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

struct Context {
    client: Client,
    config: Arc<ManagerConfig>,
}

/// Runs until shutdown.
pub async fn run(client: Client, config: Arc<ManagerConfig>, shutdown: Shutdown) {
    let secrets: Api<Secret> = Api::all(client.clone());
    let accounts: Api<ServiceAccount> = Api::all(client.clone());
    let tokens_only = watcher::Config::default().fields(&format!("type={TOKEN_SECRET_TYPE}"));
    let controller = Controller::new(secrets, tokens_only);
    let cache = controller.store();
    controller
        // An account's deletion or replacement revisits the Secrets that name it.
        .watches(accounts, watcher::Config::default(), move |sa| {
            let ns = sa.namespace().unwrap_or_default();
            let name = sa.name_any();
            cache
                .state()
                .into_iter()
                .filter(|s| {
                    s.namespace().as_deref() == Some(ns.as_str())
                        && s.annotations().get(NAME_ANNOTATION) == Some(&name)
                })
                .map(|s| ObjectRef::from_obj(&*s))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown.requested())
        .run(
            reconcile,
            error_policy,
            Arc::new(Context { client, config }),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(secret: Arc<Secret>, ctx: Arc<Context>) -> Result<Action, Error> {
    if secret.type_.as_deref() != Some(TOKEN_SECRET_TYPE)
        || secret.metadata.deletion_timestamp.is_some()
    {
        return Ok(Action::await_change());
    }
    let ns = secret.namespace().unwrap_or_default();
    let name = secret.name_any();
    let object = format!("secret {ns}/{name}");
    let Some(account_name) = secret.annotations().get(NAME_ANNOTATION).cloned() else {
        return Ok(Action::await_change());
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let accounts: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    let account = accounts.get_opt(&account_name).await.map_err(Error::api(
        "reading",
        format!("serviceaccount {ns}/{account_name}"),
    ))?;
    let wanted_uid = secret
        .annotations()
        .get(UID_ANNOTATION)
        .filter(|u| !u.is_empty());
    let account =
        account.filter(|a| wanted_uid.is_none_or(|uid| a.metadata.uid.as_ref() == Some(uid)));
    let Some(account) = account else {
        let delete = DeleteParams {
            preconditions: Some(Preconditions {
                uid: secret.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        return match secrets.delete(&name, &delete).await {
            Ok(_) => {
                tracing::info!(secret = %object, "deleted a token secret whose service account is gone");
                Ok(Action::await_change())
            }
            Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => Ok(Action::await_change()),
            Err(e) => Err(Error::api("deleting", object)(e)),
        };
    };
    let data = secret.data.clone().unwrap_or_default();
    let ca = ctx.config.root_ca_pem.as_bytes();
    let complete = data.get("ca.crt").is_some_and(|v| v.0 == ca)
        && data.get("namespace").is_some_and(|v| !v.0.is_empty())
        && data.get("token").is_some_and(|v| !v.0.is_empty());
    if complete {
        return Ok(Action::await_change());
    }
    let account_uid = account.metadata.uid.clone().unwrap_or_default();
    let token = ctx
        .config
        .token_issuer
        .issue_legacy(&ns, &account_name, &account_uid, &name)
        .map_err(|reason| Error::Signing {
            object: object.clone(),
            reason,
        })?;
    let mut filled = (*secret).clone();
    let mut data: BTreeMap<String, ByteString> = data;
    data.insert("ca.crt".into(), ByteString(ca.to_vec()));
    data.insert("namespace".into(), ByteString(ns.clone().into_bytes()));
    data.insert("token".into(), ByteString(token.into_bytes()));
    filled.data = Some(data);
    filled
        .annotations_mut()
        .insert(UID_ANNOTATION.to_string(), account_uid);
    match secrets
        .replace(&name, &PostParams::default(), &filled)
        .await
    {
        Ok(_) => {
            tracing::info!(secret = %object, "filled a service account token secret");
            Ok(Action::await_change())
        }
        // Changed or deleted meanwhile: the watch brings the new state.
        Err(kube::Error::Api(e)) if matches!(e.code, 404 | 409) => Ok(Action::await_change()),
        Err(e) => Err(Error::api("updating", object)(e)),
    }
}

fn error_policy(_: Arc<Secret>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(%error, "token secret sync failed");
    Action::requeue(Duration::from_secs(1))
}
