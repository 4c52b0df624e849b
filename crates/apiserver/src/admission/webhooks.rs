//! MutatingAdmissionWebhook and ValidatingAdmissionWebhook: the webhooks that
//! admissionregistration.k8s.io/v1 configurations register are called for the writes they
//! match, after the built-in plugins of the same phase. Matching, calling and judging the
//! answers is `bosun_webhook`'s; this plugin describes the request, reads the configurations
//! from the watch cache, and answers the dispatcher's questions about namespaces and services.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bosun_api::status::FieldError;
use bosun_api::{ApiError, ResourceDef};
use bosun_webhook::{
    Attributes, Dispatcher, Effects, GroupVersionKind, GroupVersionResource, Reinvocation,
    WebhookHost, WebhookKind,
};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Operation, Request, names};
use crate::registry::Registry;

const GROUP: &str = "admissionregistration.k8s.io";
const MUTATING: &str = "mutatingwebhookconfigurations";
const VALIDATING: &str = "validatingwebhookconfigurations";

/// What the dispatcher asks of the server, answered from a registry that shares the server's
/// store and caches (but not its admission state, which holds the dispatcher).
struct Host {
    registry: Registry,
}

#[async_trait]
impl WebhookHost for Host {
    async fn namespace_labels(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let namespace = self
            .registry
            .find_core_cached("namespaces", None, name)
            .await?;
        Ok(namespace.map(|ns| {
            ns.pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|labels| {
                    labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    /// A ready endpoint of the service for `port` (there is no service proxy on the server's
    /// host to reach a cluster IP through), else the cluster IP.
    async fn resolve_service(
        &self,
        namespace: &str,
        name: &str,
        port: i32,
    ) -> Result<String, String> {
        let found = |r: Result<Option<Value>, ApiError>| r.map_err(|e| e.message);
        let Some(service) = found(
            self.registry
                .find_core_cached("services", Some(namespace), name)
                .await,
        )?
        else {
            return Err(format!("service \"{name}\" not found"));
        };
        let ports = service["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let Some(service_port) = ports
            .iter()
            .find(|p| p["port"].as_i64() == Some(port.into()))
        else {
            return Err(format!("service \"{name}\" has no port {port}"));
        };
        let endpoints = found(
            self.registry
                .find_core_cached("endpoints", Some(namespace), name)
                .await,
        )?;
        let port_name = service_port["name"].as_str().unwrap_or_default();
        for subset in endpoints
            .as_ref()
            .and_then(|e| e["subsets"].as_array())
            .into_iter()
            .flatten()
        {
            let target = subset["ports"].as_array().and_then(|ports| {
                ports
                    .iter()
                    .find(|p| p["name"].as_str().unwrap_or_default() == port_name)
                    .and_then(|p| p["port"].as_i64())
            });
            let ip = subset.pointer("/addresses/0/ip").and_then(Value::as_str);
            if let (Some(ip), Some(target)) = (ip, target) {
                return Ok(host_port(ip, target));
            }
        }
        match service["spec"]["clusterIP"].as_str() {
            Some(ip) if !ip.is_empty() && ip != "None" => Ok(host_port(ip, port.into())),
            _ => Err(format!("no endpoints available for service \"{name}\"")),
        }
    }

    fn normalize_patched_object(
        &self,
        attrs: &Attributes,
        object: Value,
    ) -> Result<Value, ApiError> {
        let mut object = object;
        if let Some(def) = self.registry.table.lookup(
            &attrs.resource.group,
            &attrs.resource.version,
            &attrs.resource.resource,
        ) {
            bosun_api::strategy::default(&def, &mut object);
        }
        Ok(object)
    }
}

fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The server's dispatcher, made on first use.
fn dispatcher(registry: &Registry) -> Arc<Dispatcher> {
    registry
        .admission
        .webhooks
        .get_or_init(|| {
            let registry = Registry {
                admission: Default::default(),
                ..registry.clone()
            };
            Arc::new(Dispatcher::new(Arc::new(Host { registry })))
        })
        .clone()
}

async fn configurations<T: DeserializeOwned>(
    registry: &Registry,
    plural: &str,
) -> Result<Vec<T>, ApiError> {
    let items = registry.list_all(GROUP, "v1", plural, None, false).await?;
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value(item)
                .map_err(|e| ApiError::internal(format!("reading a webhook configuration: {e}")))
        })
        .collect()
}

fn options(operation: Operation, dry_run: bool) -> Value {
    let kind = match operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
        Operation::Delete => "DeleteOptions",
    };
    let mut options = json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
    if dry_run {
        options["dryRun"] = json!(["All"]);
    }
    options
}

fn with_type(def: &ResourceDef, obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(map) = obj.as_object_mut() {
        map.insert("apiVersion".into(), json!(def.api_version()));
        map.insert("kind".into(), json!(def.kind));
    }
    obj
}

fn attributes(req: &Request<'_>, obj: Option<&Value>, old: Option<&Value>) -> Attributes {
    let def = req.def;
    let subject = obj.or(old).unwrap_or(&Value::Null);
    let (namespace, name) = names(subject);
    let is_namespace = def.group.is_empty() && def.plural == "namespaces";
    let user = req.user.map(|u| bosun_webhook::UserInfo {
        username: u.name.clone(),
        uid: u.uid.clone(),
        groups: u.groups.clone(),
        extra: u.extra.clone(),
    });
    Attributes {
        resource: GroupVersionResource::new(&def.group, &def.version, &def.plural),
        subresource: req.subresource.unwrap_or_default().to_string(),
        kind: GroupVersionKind::new(&def.group, &def.version, &def.kind),
        name: name.to_string(),
        namespace: if is_namespace { name } else { namespace }.to_string(),
        operation: match req.operation {
            Operation::Create => bosun_webhook::Operation::Create,
            Operation::Update => bosun_webhook::Operation::Update,
            Operation::Delete => bosun_webhook::Operation::Delete,
        },
        user: user.unwrap_or_default(),
        object: obj.map(|o| with_type(def, o)),
        old_object: old.map(|o| with_type(def, o)),
        dry_run: req.dry_run,
        options: Some(options(req.operation, req.dry_run)),
    }
}

/// Hands what the webhooks said besides their verdict to the response and the audit event.
fn publish(effects: Effects) {
    for warning in effects.warnings {
        crate::notes::warn(warning);
    }
    for (key, value) in effects
        .audit_annotations
        .into_iter()
        .chain(effects.request_audit_annotations)
    {
        crate::notes::annotate(key, value);
    }
}

/// Runs the mutating webhooks on `obj`, then (if one asks for it) the built-in mutating
/// plugins and the webhooks once more, as upstream's reinvocation does.
pub async fn mutate(
    registry: &Registry,
    req: &Request<'_>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    let configs: Vec<MutatingWebhookConfiguration> = configurations(registry, MUTATING).await?;
    if configs.is_empty() {
        return Ok(());
    }
    let dispatcher = dispatcher(registry);
    let mut attrs = attributes(req, Some(obj), req.old);
    let mut reinvocation = Reinvocation::new();
    let mut effects = Effects::default();
    let mut result = dispatcher
        .mutate(&configs, &mut attrs, &mut reinvocation, &mut effects)
        .await;
    if result.is_ok() && reinvocation.should_reinvoke() {
        reinvocation.begin_reinvocation();
        if let Some(patched) = attrs.object.take() {
            *obj = patched;
        }
        result = match Box::pin(super::mutate_builtin(registry, req, obj)).await {
            Ok(()) => {
                attrs.object = Some(with_type(req.def, obj));
                dispatcher
                    .mutate(&configs, &mut attrs, &mut reinvocation, &mut effects)
                    .await
            }
            Err(e) => Err(e),
        };
    }
    publish(effects);
    result?;
    if let Some(patched) = attrs.object {
        *obj = patched;
    }
    Ok(())
}

/// Runs the validating webhooks on `obj` (the object as it will be stored).
pub async fn validate(
    registry: &Registry,
    req: &Request<'_>,
    obj: Option<&Value>,
) -> Result<(), ApiError> {
    let configs: Vec<ValidatingWebhookConfiguration> = configurations(registry, VALIDATING).await?;
    if configs.is_empty() {
        return Ok(());
    }
    let attrs = attributes(req, obj, req.old);
    let mut effects = Effects::default();
    let result = dispatcher(registry)
        .validate(&configs, &attrs, &mut effects)
        .await;
    publish(effects);
    result
}

/// Runs the mutating webhooks on a delete (they may refuse it; there is nothing to patch).
pub async fn mutate_delete(registry: &Registry, req: &Request<'_>) -> Result<(), ApiError> {
    let configs: Vec<MutatingWebhookConfiguration> = configurations(registry, MUTATING).await?;
    if configs.is_empty() {
        return Ok(());
    }
    let mut attrs = attributes(req, None, req.old);
    let mut effects = Effects::default();
    let result = dispatcher(registry)
        .mutate(&configs, &mut attrs, &mut Reinvocation::new(), &mut effects)
        .await;
    publish(effects);
    result
}

fn kind_of(def: &ResourceDef) -> Option<WebhookKind> {
    match (def.group.as_str(), def.plural.as_str()) {
        (GROUP, MUTATING) => Some(WebhookKind::Mutating),
        (GROUP, VALIDATING) => Some(WebhookKind::Validating),
        _ => None,
    }
}

/// Upstream's defaults for webhook configurations (failurePolicy, matchPolicy, selectors,
/// timeouts, rule scope); other kinds are left alone.
pub fn default_configuration(def: &ResourceDef, obj: &mut Value) {
    if let Some(kind) = kind_of(def) {
        bosun_webhook::default_configuration(kind, obj);
    }
}

/// Upstream's validation of a webhook configuration being created (`old` = `None`) or
/// updated; other kinds pass.
pub fn validate_configuration(
    def: &ResourceDef,
    obj: &Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    match (kind_of(def), old) {
        (Some(kind), None) => bosun_webhook::validate_configuration(kind, obj),
        (Some(kind), Some(old)) => bosun_webhook::validate_configuration_update(kind, obj, old),
        (None, _) => Vec::new(),
    }
}
