//! Calling the webhooks a request matches, as upstream's mutating and validating dispatchers
//! (admission/plugin/webhook/{generic,mutating,validating}).
//!
//! Mutating webhooks run one after another in configuration-name order and each sees the
//! previous one's patched object; validating webhooks run concurrently and the first refusal in
//! configuration order is the answer. A failure to call a webhook (connection, TLS, timeout, a
//! malformed answer) refuses the request with a 500 unless the webhook's failurePolicy is
//! `Ignore`, in which case it is logged and skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bosun_api::ApiError;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use serde_json::Value;

use crate::attributes::{Attributes, Operation};
use crate::client::{CallError, ClientPool};
use crate::config::qualified_name_problems;
use crate::matching::{
    Hook, is_exempt, mutating_hooks, selector_is_empty, selector_matches, validating_hooks,
};
use crate::review::{
    ReviewResponse, ReviewVersion, decode_review, denied, dry_run_unsupported, internal_error,
    request_review, verify_response,
};

/// The user agent webhooks see, as upstream's API server sends it.
pub const DEFAULT_USER_AGENT: &str = "kube-apiserver/v1.34.1 (linux/amd64) kubernetes/bosun";

/// What the dispatcher needs from the API server.
#[async_trait]
pub trait WebhookHost: Send + Sync + 'static {
    /// The labels of namespace `name`, for namespaceSelectors; `Ok(None)` when it does not
    /// exist (the request is then refused with upstream's 404 `namespaces "<name>" not found`).
    async fn namespace_labels(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ApiError>;

    /// Where to connect for a `service` clientConfig, as `host:port` (usually a pod or cluster
    /// IP). TLS still verifies the name `<name>.<namespace>.svc`. An error is reported as the
    /// transport error after `Post "<url>": `.
    async fn resolve_service(
        &self,
        namespace: &str,
        name: &str,
        port: i32,
    ) -> Result<String, String>;

    /// Called with each object a mutating webhook patched, before it replaces
    /// `Attributes::object`. Upstream decodes the patched JSON into the kind's type (dropping
    /// unknown fields) and applies the kind's defaults; the server can do the same here. The
    /// default keeps the object as patched.
    fn normalize_patched_object(
        &self,
        _attrs: &Attributes,
        object: Value,
    ) -> Result<Value, ApiError> {
        Ok(object)
    }
}

/// What webhooks add to a request besides their verdict. Pass the same value to
/// [`Dispatcher::mutate`] and [`Dispatcher::validate`] for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Warnings in the order webhooks sent them, verbatim; [`crate::warning_headers`] writes
    /// them as upstream does.
    pub warnings: Vec<String>,
    /// Audit annotations at level Metadata: each webhook's `auditAnnotations` as
    /// `<webhook name>/<key>`, plus upstream's `mutation.webhook.admission.k8s.io/…` and
    /// `failed-open.…` records.
    pub audit_annotations: BTreeMap<String, String>,
    /// Audit annotations only logged at level Request and above: the patches mutating webhooks
    /// applied (`patch.webhook.admission.k8s.io/round_<r>_index_<i>`).
    pub request_audit_annotations: BTreeMap<String, String>,
}

impl Effects {
    fn add(map: &mut BTreeMap<String, String>, key: String, value: String) {
        let bad_format = key.split('/').count() != 2 || !qualified_name_problems(&key).is_empty();
        if bad_format {
            tracing::warn!(key, "admission annotation key has invalid format, dropped");
            return;
        }
        match map.get(&key) {
            Some(old) if *old != value => {
                tracing::warn!(
                    key,
                    old,
                    new = value,
                    "admission annotations are not allowed to be overwritten"
                );
            }
            _ => {
                map.insert(key, value);
            }
        }
    }

    fn annotate(&mut self, key: String, value: String) {
        Self::add(&mut self.audit_annotations, key, value);
    }

    fn merge(&mut self, other: Effects) {
        self.warnings.extend(other.warnings);
        for (k, v) in other.audit_annotations {
            self.annotate(k, v);
        }
        for (k, v) in other.request_audit_annotations {
            Self::add(&mut self.request_audit_annotations, k, v);
        }
    }
}

/// Reinvocation bookkeeping for one request, kept across the two rounds of the mutating
/// admission chain (upstream's `reinvocationPolicy: IfNeeded`).
#[derive(Clone, Debug, Default)]
pub struct Reinvocation {
    reinvoking: bool,
    should_reinvoke: bool,
    previously_invoked: BTreeSet<(String, usize)>,
    to_reinvoke: BTreeSet<(String, usize)>,
    last_output: Option<Option<Value>>,
}

impl Reinvocation {
    /// Fresh bookkeeping for a new request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether, after the first round, a webhook changed the object so that the mutating chain
    /// (built-in plugins and webhooks) must run once more.
    pub fn should_reinvoke(&self) -> bool {
        self.should_reinvoke && !self.reinvoking
    }

    /// Marks the start of the second and last round.
    pub fn begin_reinvocation(&mut self) {
        self.reinvoking = true;
    }

    fn require_reinvoking_previous(&mut self) {
        self.to_reinvoke.append(&mut self.previously_invoked);
    }
}

/// Why a webhook call did not end in an allowed answer.
enum HookError {
    /// Upstream's `ErrCallingWebhook`: the webhook could not be asked; its failurePolicy
    /// decides. Holds the reason after `failed calling webhook "<name>": `.
    Calling(String),
    /// A refusal or an error upstream answers with regardless of failurePolicy.
    Status(ApiError),
}

/// The namespace labels of one request, looked up at most once.
#[derive(Default)]
struct NamespaceLabels(Option<Result<BTreeMap<String, String>, ApiError>>);

/// Calls admission webhooks for the API server.
pub struct Dispatcher {
    host: Arc<dyn WebhookHost>,
    clients: ClientPool,
}

fn annotation_json(configuration: &str, webhook: &str, tail: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "{{\"configuration\":{},\"webhook\":{}{tail}}}",
        quote(configuration),
        quote(webhook)
    )
}

/// A patch as Go's JSON encoder writes it, when it is not a JSON array.
fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Array(_) => "array",
    }
}

impl Dispatcher {
    /// A dispatcher that asks `host` what it cannot know itself.
    pub fn new(host: Arc<dyn WebhookHost>) -> Self {
        Self::with_user_agent(host, DEFAULT_USER_AGENT)
    }

    /// As [`Dispatcher::new`], sending `user_agent` to webhooks.
    pub fn with_user_agent(host: Arc<dyn WebhookHost>, user_agent: &str) -> Self {
        Dispatcher {
            clients: ClientPool::new(host.clone(), user_agent.to_string()),
            host,
        }
    }

    /// Runs the mutating webhooks `configs` on the request, replacing `attrs.object` with each
    /// patched copy. Call it after the built-in mutating plugins; if afterwards
    /// `reinvocation.should_reinvoke()`, call `begin_reinvocation`, run the built-in mutating
    /// plugins again and call this once more with the same `reinvocation`.
    pub async fn mutate(
        &self,
        configs: &[MutatingWebhookConfiguration],
        attrs: &mut Attributes,
        reinvocation: &mut Reinvocation,
        effects: &mut Effects,
    ) -> Result<(), ApiError> {
        if is_exempt(attrs) {
            return Ok(());
        }
        if reinvocation.reinvoking && reinvocation.last_output.as_ref() != Some(&attrs.object) {
            // Built-in plugins changed the object since the webhooks last saw it.
            reinvocation.require_reinvoking_previous();
        }
        let result = self
            .mutate_round(configs, attrs, reinvocation, effects)
            .await;
        reinvocation.last_output = Some(attrs.object.clone());
        result
    }

    async fn mutate_round(
        &self,
        configs: &[MutatingWebhookConfiguration],
        attrs: &mut Attributes,
        reinvocation: &mut Reinvocation,
        effects: &mut Effects,
    ) -> Result<(), ApiError> {
        let round = usize::from(reinvocation.reinvoking);
        let mut namespace = NamespaceLabels::default();
        for (i, hook) in mutating_hooks(configs).iter().enumerate() {
            if !self.should_call(hook, attrs, &mut namespace).await? {
                continue;
            }
            let id = (hook.configuration.to_string(), hook.index);
            // A webhook skipped in the first round is never called for the first time here.
            if reinvocation.reinvoking && !reinvocation.to_reinvoke.contains(&id) {
                continue;
            }
            let (changed, result) = self.call_mutating(hook, attrs, effects, round, i).await;
            if changed {
                reinvocation.require_reinvoking_previous();
                reinvocation.should_reinvoke = true;
            }
            if hook.reinvocation_policy == Some("IfNeeded") {
                reinvocation.previously_invoked.insert(id);
            }
            match result {
                Ok(()) => {}
                Err(HookError::Calling(reason)) => {
                    let message = format!("failed calling webhook {:?}: {reason}", hook.name);
                    if hook.ignores_failures() {
                        tracing::warn!(
                            "Failed calling webhook, failing open {}: {message}",
                            hook.name
                        );
                        effects.annotate(
                            format!("failed-open.mutation.webhook.admission.k8s.io/round_{round}_index_{i}"),
                            hook.name.to_string(),
                        );
                        continue;
                    }
                    tracing::warn!(
                        "Failed calling webhook, failing closed {}: {message}",
                        hook.name
                    );
                    return Err(internal_error(message));
                }
                Err(HookError::Status(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Calls one mutating webhook and applies its patch; says whether the object changed.
    async fn call_mutating(
        &self,
        hook: &Hook<'_>,
        attrs: &mut Attributes,
        effects: &mut Effects,
        round: usize,
        index: usize,
    ) -> (bool, Result<(), HookError>) {
        let mut changed = false;
        let result = match self.call(hook, attrs, true, effects).await {
            Ok(response) => {
                self.apply_patch(hook, attrs, effects, response, round, index, &mut changed)
            }
            Err(e) => Err(e),
        };
        let tail = format!(",\"mutated\":{changed}");
        effects.annotate(
            format!("mutation.webhook.admission.k8s.io/round_{round}_index_{index}"),
            annotation_json(hook.configuration, hook.name, &tail),
        );
        (changed, result)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_patch(
        &self,
        hook: &Hook<'_>,
        attrs: &mut Attributes,
        effects: &mut Effects,
        response: ReviewResponse,
        round: usize,
        index: usize,
        changed: &mut bool,
    ) -> Result<(), HookError> {
        if response.patch.is_empty() {
            return Ok(());
        }
        let undecodable = |e: String| {
            HookError::Calling(format!(
                "received undecodable patch in webhook response: {e}"
            ))
        };
        let ops = match serde_json::from_slice::<Value>(&response.patch) {
            Ok(Value::Array(ops)) => ops,
            Ok(other) => {
                return Err(undecodable(format!(
                    "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                    go_json_type(&other)
                )));
            }
            Err(e) => return Err(undecodable(e.to_string())),
        };
        if ops.is_empty() {
            return Ok(());
        }
        let Some(object) = attrs.object.as_ref() else {
            return Err(HookError::Status(internal_error(format!(
                "admission webhook {:?} attempted to modify the object, which is not supported for this operation",
                hook.name
            ))));
        };
        if response.patch_type != "JSONPatch" {
            return Err(HookError::Calling(format!(
                "unsupported patch type {:?}",
                response.patch_type
            )));
        }
        let ops_value = Value::Array(ops);
        let patch: json_patch::Patch = serde_json::from_value(ops_value.clone())
            .map_err(|e| HookError::Status(internal_error(e.to_string())))?;
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch)
            .map_err(|e| HookError::Status(internal_error(e.to_string())))?;
        let patched = self
            .host
            .normalize_patched_object(attrs, patched)
            .map_err(HookError::Status)?;
        *changed = Some(&patched) != attrs.object.as_ref();
        let tail = format!(",\"patch\":{ops_value},\"patchType\":\"JSONPatch\"");
        Effects::add(
            &mut effects.request_audit_annotations,
            format!("patch.webhook.admission.k8s.io/round_{round}_index_{index}"),
            annotation_json(hook.configuration, hook.name, &tail),
        );
        attrs.object = Some(patched);
        Ok(())
    }

    /// Runs the validating webhooks `configs` on the request, concurrently. Call it after the
    /// built-in validating plugins.
    pub async fn validate(
        &self,
        configs: &[ValidatingWebhookConfiguration],
        attrs: &Attributes,
        effects: &mut Effects,
    ) -> Result<(), ApiError> {
        if is_exempt(attrs) {
            return Ok(());
        }
        let mut namespace = NamespaceLabels::default();
        let mut relevant = Vec::new();
        for hook in validating_hooks(configs) {
            if self.should_call(&hook, attrs, &mut namespace).await? {
                relevant.push(hook);
            }
        }
        let calls = relevant.iter().map(|hook| async move {
            let mut local = Effects::default();
            let result = self.call(hook, attrs, false, &mut local).await;
            (local, result)
        });
        let outcomes = futures::future::join_all(calls).await;
        let mut first = None;
        for (idx, (hook, (local, result))) in relevant.iter().zip(outcomes).enumerate() {
            effects.merge(local);
            match result {
                Ok(_) => {}
                Err(HookError::Calling(reason)) => {
                    let message = format!("failed calling webhook {:?}: {reason}", hook.name);
                    if hook.ignores_failures() {
                        tracing::warn!(
                            "Failed calling webhook, failing open {}: {message}",
                            hook.name
                        );
                        effects.annotate(
                            format!("failed-open.validating.webhook.admission.k8s.io/round_0_index_{idx}"),
                            hook.name.to_string(),
                        );
                    } else {
                        tracing::warn!(
                            "Failed calling webhook, failing closed {}: {message}",
                            hook.name
                        );
                        first.get_or_insert(internal_error(message));
                    }
                }
                Err(HookError::Status(e)) => {
                    tracing::warn!("rejected by webhook {:?}: {}", hook.name, e.message);
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Upstream's `ShouldCallHook`: rules, then namespace and object selectors. Errors from
    /// the selectors count only for webhooks whose rules match.
    async fn should_call(
        &self,
        hook: &Hook<'_>,
        attrs: &Attributes,
        namespace: &mut NamespaceLabels,
    ) -> Result<bool, ApiError> {
        if !hook.rules_match(attrs) {
            return Ok(false);
        }
        if !self.namespace_matches(hook, attrs, namespace).await? {
            return Ok(false);
        }
        if !object_matches(hook, attrs)? {
            return Ok(false);
        }
        if hook.match_conditions > 0 {
            // Bosun has no CEL: match conditions are treated as matching, so the webhook is
            // called and decides for itself.
            tracing::debug!(
                webhook = hook.name,
                "matchConditions not evaluated, treated as matching"
            );
        }
        Ok(true)
    }

    async fn namespace_matches(
        &self,
        hook: &Hook<'_>,
        attrs: &Attributes,
        cache: &mut NamespaceLabels,
    ) -> Result<bool, ApiError> {
        let is_namespaces = attrs.resource.resource == "namespaces";
        if attrs.namespace.is_empty() && !is_namespaces {
            // Cluster-scoped objects other than namespaces are never exempted.
            return Ok(true);
        }
        if selector_is_empty(hook.namespace_selector) {
            return Ok(true);
        }
        let labels = if is_namespaces
            && attrs.subresource.is_empty()
            && matches!(attrs.operation, Operation::Create | Operation::Update)
        {
            // The namespace being written: its new labels count.
            Attributes::labels_of(attrs.object.as_ref()).unwrap_or_default()
        } else {
            let name = if attrs.namespace.is_empty() {
                &attrs.name
            } else {
                &attrs.namespace
            };
            if cache.0.is_none() {
                let found = match self.host.namespace_labels(name).await {
                    Ok(Some(labels)) => Ok(labels),
                    Ok(None) => Err(ApiError::not_found("", "namespaces", name)),
                    Err(e) => Err(e),
                };
                cache.0 = Some(found);
            }
            match cache.0.as_ref() {
                Some(Ok(labels)) => labels.clone(),
                Some(Err(e)) => return Err(e.clone()),
                None => BTreeMap::new(),
            }
        };
        selector_matches(hook.namespace_selector, &labels).map_err(internal_error)
    }

    /// Asks one webhook; `Ok` only for an allowed answer.
    async fn call(
        &self,
        hook: &Hook<'_>,
        attrs: &Attributes,
        mutating: bool,
        effects: &mut Effects,
    ) -> Result<ReviewResponse, HookError> {
        if attrs.dry_run {
            if hook.side_effects.is_empty() {
                return Err(HookError::Calling("Webhook SideEffects is nil".into()));
            }
            if !matches!(hook.side_effects, "None" | "NoneOnDryRun") {
                return Err(HookError::Status(dry_run_unsupported(hook.name)));
            }
        }
        let Some(version) = ReviewVersion::choose(hook.admission_review_versions) else {
            return Err(HookError::Calling(
                "could not create admission objects: webhook does not accept known AdmissionReview versions (v1, v1beta1)"
                    .into(),
            ));
        };
        let uid = uuid::Uuid::new_v4().to_string();
        let body = serde_json::to_vec(&request_review(version, &uid, attrs)).unwrap_or_default();
        let seconds = hook.timeout_seconds.unwrap_or(10).max(1) as u64;
        let answer = self
            .clients
            .post(hook.client_config, Duration::from_secs(seconds), body)
            .await
            .map_err(|e| match e {
                CallError::Setup(m) => {
                    HookError::Calling(format!("could not get REST client: {m}"))
                }
                CallError::Call(m) => HookError::Calling(format!("failed to call webhook: {m}")),
            })?;
        let decoded = decode_review(&answer)
            .map_err(|m| HookError::Calling(format!("failed to call webhook: {m}")))?;
        let response = verify_response(version, &uid, mutating, decoded)
            .map_err(|m| HookError::Calling(format!("received invalid webhook response: {m}")))?;
        for (k, v) in &response.audit_annotations {
            effects.annotate(format!("{}/{k}", hook.name), v.clone());
        }
        effects.warnings.extend(response.warnings.iter().cloned());
        if !response.allowed {
            return Err(HookError::Status(denied(
                hook.name,
                response.status.as_ref(),
            )));
        }
        Ok(response)
    }
}

/// Upstream's object matcher: the selector must select the new or the old object.
fn object_matches(hook: &Hook<'_>, attrs: &Attributes) -> Result<bool, ApiError> {
    if selector_is_empty(hook.object_selector) {
        return Ok(true);
    }
    for obj in [attrs.object.as_ref(), attrs.old_object.as_ref()] {
        if let Some(labels) = Attributes::labels_of(obj)
            && selector_matches(hook.object_selector, &labels).map_err(internal_error)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
