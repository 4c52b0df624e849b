//! The generic registry: object operations over the store, the same for every resource.
//!
//! Upstream serves every kind through one generic `Store` specialised by a per-kind strategy;
//! this is Bosun's equivalent. Objects are stored as JSON without `resourceVersion`, which is
//! the store's mod revision and is set on the way out.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bosun_api::selectors::{FieldSelector, LabelSelector};
use bosun_api::status::success_status;
use bosun_api::{ApiError, ResourceDef, ResourceTable};
use bosun_api::{apply, meta, strategy};

use crate::admission;
use crate::allocate::ServiceNetwork;
use crate::cache::WatchCache;
use bosun_store::{KeyValue, ListOptions, Store, StoreError};
use bytes::Bytes;
use serde_json::{Value, json};

/// How unknown fields in a request body are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn (upstream's default).
    #[default]
    Warn,
    /// Refuse the request.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter.
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other:?}; supported values are \"Ignore\", \"Warn\" and \"Strict\""
            ))),
        }
    }
}

/// What a delete asks for (upstream's `DeleteOptions`).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// Delete only while the object is at this resourceVersion.
    pub precondition_rv: Option<i64>,
    /// `Background` (the default), `Foreground` or `Orphan`.
    pub propagation: Option<String>,
    /// Seconds a pod on a node gets to stop; 0 deletes at once.
    pub grace_period: Option<i64>,
}

/// Options of a write.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// Who is writing (`fieldManager`, or the client's user agent): recorded in managedFields.
    pub field_manager: String,
    /// `force`: an apply takes conflicting fields from their owners.
    pub force: bool,
    /// Who is writing, for checks that depend on it (RBAC escalation); `None` for the server's
    /// own writes.
    pub user: Option<bosun_auth::UserInfo>,
}

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 = none).
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
}

/// A page of a list.
pub struct ListPage {
    /// The objects, with their resourceVersion set.
    pub items: Vec<Value>,
    /// The revision the list reflects.
    pub revision: i64,
    /// A token for the next page.
    pub continue_token: Option<String>,
    /// How many objects remain after this page (when no selector filtered).
    pub remaining: Option<i64>,
}

impl ListPage {
    /// The list's `metadata`.
    pub fn list_meta(&self) -> Value {
        let mut m = json!({"resourceVersion": self.revision.to_string()});
        if let Some(c) = &self.continue_token {
            m["continue"] = json!(c);
        }
        if let Some(r) = self.remaining {
            m["remainingItemCount"] = json!(r);
        }
        m
    }
}

/// Turns the stored object into the patched one.
pub type PatchFn = dyn Fn(&Value) -> Result<Value, ApiError> + Send + Sync;

/// The generic registry.
#[derive(Clone)]
pub struct Registry {
    /// The datastore.
    pub store: Arc<dyn Store>,
    /// The resource table.
    pub table: Arc<ResourceTable>,
    /// The service network cluster IPs and node ports come from.
    pub network: Arc<ServiceNetwork>,
    /// Lists and watches served from memory.
    pub cache: Arc<WatchCache>,
    /// The lease new Events are attached to, and when it was granted.
    pub event_lease: Arc<std::sync::Mutex<Option<(i64, std::time::Instant)>>>,
    /// Refuses RBAC objects that grant their writer more than they hold; set once the RBAC
    /// index is loaded.
    pub escalation: Arc<std::sync::OnceLock<crate::escalation::EscalationGuard>>,
    /// What admission plugins keep between requests.
    pub admission: Arc<admission::AdmissionState>,
}

/// How long Events live (upstream's `--event-ttl` default).
pub const EVENT_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Events created within this long share one lease, as upstream's lease manager does, so that
/// a busy cluster does not hold a lease per Event.
const EVENT_LEASE_REUSE: std::time::Duration = std::time::Duration::from_secs(60);

/// Maps a store error to the API error upstream answers with.
pub fn store_error(def: &ResourceDef, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists { .. } => ApiError::already_exists(&def.group, &def.plural, name),
        StoreError::NotFound { .. } => ApiError::not_found(&def.group, &def.plural, name),
        StoreError::Conflict { .. } => {
            ApiError::conflict(&def.group, &def.plural, name, ApiError::MODIFIED)
        }
        StoreError::Compacted { requested } => {
            ApiError::expired(format!("too old resource version: {requested}"))
        }
        StoreError::FutureRevision { requested } => {
            ApiError::timeout(format!("Too large resource version: {requested}"))
        }
        StoreError::TooLarge { .. } => ApiError::too_large("etcdserver: request is too large"),
        e => ApiError::internal(e.to_string()),
    }
}

/// An object as stored, with its resourceVersion set from the store, in `def`'s version.
pub fn from_kv(def: &ResourceDef, kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is not JSON: {e}", kv.key)))?;
    meta::set_resource_version(&mut obj, kv.mod_revision);
    if let Some(c) = &def.conversion {
        obj = c.to_served(obj);
    }
    // Custom resource versions convert by relabelling (conversion strategy None).
    if def.custom.is_some() {
        obj["apiVersion"] = json!(def.api_version());
    }
    Ok(obj)
}

fn to_bytes(def: &ResourceDef, obj: &Value) -> Bytes {
    let mut stored = match &def.conversion {
        Some(c) => c.to_storage(obj.clone()),
        None => obj.clone(),
    };
    if let Some(m) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    Bytes::from(serde_json::to_vec(&stored).expect("objects serialize"))
}

/// The continue token's content, as upstream encodes it.
fn encode_continue(revision: i64, start_suffix: &str) -> String {
    STANDARD
        .encode(json!({"v": "meta.k8s.io/v1", "rv": revision, "start": start_suffix}).to_string())
}

fn decode_continue(token: &str) -> Result<(i64, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = STANDARD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    if start.contains("..") || start.starts_with('/') {
        return Err(bad());
    }
    Ok((rv, start.to_string()))
}

impl Registry {
    /// Decodes a request body into `def`'s schema: checks apiVersion and kind, drops (or
    /// refuses) unknown fields. Returns the object and the warnings to send.
    pub fn decode(
        &self,
        def: &ResourceDef,
        mut body: Value,
        validation: FieldValidation,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let api_version = def.api_version();
        match body.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => body["apiVersion"] = json!(api_version),
            Some(v) if v == api_version => {}
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                )));
            }
        }
        match body.get("kind").and_then(Value::as_str) {
            None | Some("") => body["kind"] = json!(def.kind),
            Some(k) if k == def.kind => {}
            Some(k) => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    def.kind
                )));
            }
        }
        let cannot = |why: String| {
            ApiError::bad_request(format!(
                "{} in version {:?} cannot be handled as a {}: {why}",
                def.kind, def.version, def.kind
            ))
        };
        let (normal, unknown) = def.codec.normalize(&body).map_err(cannot)?;
        let messages: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        match validation {
            FieldValidation::Strict if !messages.is_empty() => Err(cannot(format!(
                "strict decoding error: {}",
                messages.join(", ")
            ))),
            FieldValidation::Warn => Ok((normal, messages)),
            _ => Ok((normal, Vec::new())),
        }
    }

    /// Reads one object.
    pub async fn get(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let kv = self.get_kv(def, ns, name).await?;
        from_kv(def, &kv)
    }

    /// Reads one object of a core (`v1`) resource from the store, `None` when it does not
    /// exist: for lookups where acting on a copy even milliseconds old would be wrong (a
    /// namespace just set terminating, the object a new token is bound to).
    pub async fn find_core(
        &self,
        plural: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        let def = self
            .table
            .lookup("", "v1", plural)
            .expect("core kinds are served");
        self.find(&def, ns, name).await
    }

    /// As [`Self::find_core`], answered by the watch cache when it holds the object (a miss is
    /// confirmed with the store, so an object created a moment ago is found), for lookups
    /// where a copy milliseconds old does no harm, as upstream's admission reads its informers.
    pub async fn find_core_cached(
        &self,
        plural: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        let def = self
            .table
            .lookup("", "v1", plural)
            .expect("core kinds are served");
        if let Some(Some(kv)) = self.cache.get(&def.prefix(None), &def.key(ns, name)) {
            return from_kv(&def, &kv).map(Some);
        }
        self.find(&def, ns, name).await
    }

    async fn find(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        match self.get(def, ns, name).await {
            Ok(obj) => Ok(Some(obj)),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every object of `group/plural` in `ns`: the lists admission makes. `fresh` reads
    /// consistently (waiting for the watch cache to reach the store's revision); otherwise the
    /// cache answers at once, milliseconds behind, as an informer would.
    pub async fn list_all(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        ns: Option<&str>,
        fresh: bool,
    ) -> Result<Vec<Value>, ApiError> {
        let def = self
            .table
            .lookup(group, version, plural)
            .ok_or_else(|| ApiError::internal(format!("{plural}.{group} is not served")))?;
        let query = ListQuery {
            resource_version: (!fresh).then(|| "0".to_string()),
            ..Default::default()
        };
        Ok(self.list(&def, ns, &query).await?.items)
    }

    /// Replaces an object exactly as given, only while it is still at the resourceVersion it
    /// carries, returning its new resourceVersion: for the server's own bookkeeping writes made from inside admission (a quota's
    /// usage), which must not pass admission again.
    pub async fn replace_unchecked(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        obj: &Value,
    ) -> Result<i64, ApiError> {
        let name = meta::name(obj).unwrap_or_default().to_string();
        let expected: i64 = obj["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
            .ok_or_else(|| ApiError::internal(format!("{name} carries no resourceVersion")))?;
        self.store
            .update(&def.key(ns, &name), to_bytes(def, obj), expected, None)
            .await
            .map_err(|e| store_error(def, &name, e))
    }

    async fn get_kv(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
    ) -> Result<KeyValue, ApiError> {
        let key = def.key(ns, name);
        let got = self
            .store
            .get(&key, None)
            .await
            .map_err(|e| store_error(def, name, e))?;
        got.kv
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))
    }

    /// Lists objects, filtered by selectors, paged by limit and continue.
    pub async fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage, ApiError> {
        if let Some(page) = self.list_from_cache(def, ns, q).await? {
            return Ok(page);
        }
        let prefix = def.prefix(ns);
        let (mut revision, mut start) = match &q.continue_token {
            Some(t) if !t.is_empty() => {
                let (rv, suffix) = decode_continue(t)?;
                (Some(rv), Some(format!("{prefix}{suffix}")))
            }
            _ => (None, None),
        };
        if revision.is_none()
            && q.resource_version_match.as_deref() == Some("Exact")
            && let Some(rv) = q.resource_version.as_deref()
        {
            revision =
                Some(rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv}"))
                })?);
        }
        let filtered = !q.labels.is_empty() || !q.fields.is_empty();
        let limit = q.limit.filter(|l| *l > 0);
        let mut items = Vec::new();
        loop {
            let page = self
                .store
                .list(
                    &prefix,
                    ListOptions {
                        revision,
                        limit: limit.map(|l| l.max(64)),
                        start_key: start.clone(),
                    },
                )
                .await
                .map_err(|e| store_error(def, "", e))?;
            revision = Some(page.revision);
            let mut last_key = None;
            let mut consumed = 0;
            for kv in &page.kvs {
                consumed += 1;
                last_key = Some(kv.key.clone());
                let obj = from_kv(def, kv)?;
                if q.labels.matches(meta::labels(&obj)) && q.fields.matches(&obj) {
                    items.push(obj);
                    if limit.is_some_and(|l| items.len() >= l) {
                        break;
                    }
                }
            }
            let more_in_store = page.more || consumed < page.kvs.len();
            let full = limit.is_some_and(|l| items.len() >= l);
            if full && more_in_store {
                let last = last_key.unwrap_or_default();
                let suffix = format!("{}\0", &last[prefix.len()..]);
                let remaining = if filtered {
                    None
                } else {
                    Some(page.count - consumed as i64)
                };
                return Ok(ListPage {
                    items,
                    revision: page.revision,
                    continue_token: Some(encode_continue(page.revision, &suffix)),
                    remaining,
                });
            }
            if !more_in_store {
                return Ok(ListPage {
                    items,
                    revision: page.revision,
                    continue_token: None,
                    remaining: None,
                });
            }
            start = last_key.map(|k| format!("{k}\0"));
        }
    }

    /// A list's first page served from the watch cache, when the cache can vouch for the
    /// revision the request needs: the store's current one without a resourceVersion, any
    /// with "0", at least N with N. Later pages and exact revisions are the store's.
    async fn list_from_cache(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        q: &ListQuery,
    ) -> Result<Option<ListPage>, ApiError> {
        if q.continue_token.as_deref().is_some_and(|t| !t.is_empty())
            || q.resource_version_match.as_deref() == Some("Exact")
        {
            return Ok(None);
        }
        let at_least =
            match q.resource_version.as_deref() {
                None | Some("") => Some(
                    self.store
                        .current_revision()
                        .await
                        .map_err(|e| store_error(def, "", e))?,
                ),
                Some("0") => None,
                Some(rv) => Some(rv.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv}"))
                })?),
            };
        let prefix = def.prefix(ns);
        let Some((kvs, revision)) = self.cache.list(&def.prefix(None), &prefix, at_least).await
        else {
            return Ok(None);
        };
        let filtered = !q.labels.is_empty() || !q.fields.is_empty();
        let limit = q.limit.filter(|l| *l > 0);
        let mut items = Vec::new();
        let mut consumed = 0;
        for kv in &kvs {
            if limit.is_some_and(|l| items.len() >= l) {
                break;
            }
            consumed += 1;
            let obj = from_kv(def, kv)?;
            if q.labels.matches(meta::labels(&obj)) && q.fields.matches(&obj) {
                items.push(obj);
            }
        }
        let (continue_token, remaining) = if consumed < kvs.len() {
            let last = &kvs[consumed - 1].key;
            let suffix = format!("{}\0", &last[prefix.len()..]);
            (
                Some(encode_continue(revision, &suffix)),
                (!filtered).then_some((kvs.len() - consumed) as i64),
            )
        } else {
            (None, None)
        };
        Ok(Some(ListPage {
            items,
            revision,
            continue_token,
            remaining,
        }))
    }

    /// The lease for a new Event: the current one while it is young, else a fresh one.
    async fn event_lease(&self) -> Result<i64, StoreError> {
        if let Some((id, granted)) = *self.event_lease.lock().expect("event lease lock")
            && granted.elapsed() < EVENT_LEASE_REUSE
        {
            return Ok(id);
        }
        // The lease outlives its last Event's TTL by the reuse window.
        let id = self
            .store
            .grant_lease(EVENT_TTL + EVENT_LEASE_REUSE)
            .await?;
        *self.event_lease.lock().expect("event lease lock") = Some((id, std::time::Instant::now()));
        Ok(id)
    }

    /// Creates an object from a decoded body.
    pub async fn create(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let (obj, warnings) = self.decode(def, body, opts.field_validation)?;
        let obj = self.store_new(def, ns, obj, opts, None).await?;
        Ok((obj, warnings))
    }

    /// RBAC escalation prevention for writes made on behalf of a user.
    fn check_escalation(
        &self,
        def: &ResourceDef,
        obj: &Value,
        opts: &WriteOptions,
    ) -> Result<(), ApiError> {
        match (self.escalation.get(), &opts.user) {
            (Some(guard), Some(user)) => guard.check(def, obj, user),
            _ => Ok(()),
        }
    }

    /// Stores a new, decoded object: metadata, the kind's defaults and validation, namespace
    /// and allocations, then the store. `managed` carries an apply's managedFields; without it
    /// the write is recorded as an update by `opts.field_manager`.
    async fn store_new(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
        managed: Option<Value>,
    ) -> Result<Value, ApiError> {
        meta::prepare_create(&mut obj, def, ns)?;
        let admission = admission::Request {
            def,
            operation: admission::Operation::Create,
            subresource: None,
            old: None,
            user: opts.user.as_ref(),
            dry_run: opts.dry_run,
        };
        strategy_create(def, &mut obj);
        strategy::default(def, &mut obj);
        admission::webhooks::default_configuration(def, &mut obj);
        admission::mutate(self, &admission, &mut obj).await?;
        // What admission added (a token volume, tolerations) gets its defaults too, so that a
        // later update, defaulted again, does not look like a change to immutable fields.
        strategy::default(def, &mut obj);
        match managed {
            Some(mf) => {
                meta::metadata_mut(&mut obj).insert("managedFields".into(), mf);
            }
            None => {
                meta::metadata_mut(&mut obj).remove("managedFields");
                apply::record_update(
                    None,
                    &mut obj,
                    &opts.field_manager,
                    None,
                    &def.api_version(),
                    &meta::now_rfc3339(),
                );
            }
        }
        let name = meta::name(&obj).unwrap_or_default().to_string();
        let mut errs = meta::validate_metadata(&obj, def);
        errs.extend(strategy::validate(def, &obj));
        errs.extend(admission::webhooks::validate_configuration(def, &obj, None));
        if !errs.is_empty() {
            return Err(ApiError::invalid(&def.group, &def.kind, &name, errs));
        }
        self.check_escalation(def, &obj, opts)?;
        admission::validate(self, &admission, &obj).await?;
        let key = def.key(ns, &name);
        if opts.dry_run {
            if self
                .store
                .get(&key, None)
                .await
                .map_err(|e| store_error(def, &name, e))?
                .kv
                .is_some()
            {
                return Err(ApiError::already_exists(&def.group, &def.plural, &name));
            }
            return Ok(obj);
        }
        let is_service = def.group.is_empty() && def.plural == "services";
        if is_service {
            self.allocate_service(&mut obj, &self.network).await?;
        }
        let lease = if matches!(
            (def.group.as_str(), def.plural.as_str()),
            ("", "events") | ("events.k8s.io", "events")
        ) {
            Some(
                self.event_lease()
                    .await
                    .map_err(|e| store_error(def, &name, e))?,
            )
        } else {
            None
        };
        match self.store.create(&key, to_bytes(def, &obj), lease).await {
            Ok(rev) => {
                meta::set_resource_version(&mut obj, rev);
                Ok(obj)
            }
            Err(e) => {
                if is_service {
                    self.release_service(&obj, None).await;
                }
                Err(store_error(def, &name, e))
            }
        }
    }

    /// Replaces an object (or its status, with `subresource = Some("status")`). A body without
    /// resourceVersion updates unconditionally; one with a stale resourceVersion conflicts.
    pub async fn update(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        body: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let (new, warnings) = self.decode(def, body, opts.field_validation)?;
        if let Some(body_name) = meta::name(&new)
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let precondition: Option<i64> = match meta::meta_str(&new, "resourceVersion") {
            Some(rv) => Some(rv.parse().map_err(|_| {
                ApiError::invalid(
                    &def.group,
                    &def.kind,
                    name,
                    vec![bosun_api::FieldError::invalid(
                        "metadata.resourceVersion",
                        &json!(rv),
                        "must be specified for an update",
                    )],
                )
            })?),
            None => None,
        };
        loop {
            let kv = self.get_kv(def, ns, name).await?;
            if let Some(p) = precondition
                && p != kv.mod_revision
            {
                return Err(ApiError::conflict(
                    &def.group,
                    &def.plural,
                    name,
                    ApiError::MODIFIED,
                ));
            }
            let old = from_kv(def, &kv)?;
            match self
                .write_update(
                    def,
                    ns,
                    name,
                    &kv,
                    &old,
                    new.clone(),
                    subresource,
                    opts,
                    Ownership::Record,
                )
                .await
            {
                Err(UpdateError::Retry) if precondition.is_none() => continue,
                Err(UpdateError::Retry) => {
                    return Err(ApiError::conflict(
                        &def.group,
                        &def.plural,
                        name,
                        ApiError::MODIFIED,
                    ));
                }
                Err(UpdateError::Api(e)) => return Err(e),
                Ok(obj) => return Ok((obj, warnings)),
            }
        }
    }

    /// Applies a patch to the stored object and writes the result, retrying on races unless
    /// the patch itself names a resourceVersion.
    pub async fn patch(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        patch: &PatchFn,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<(Value, Vec<String>), ApiError> {
        for _ in 0..16 {
            let kv = self.get_kv(def, ns, name).await?;
            let old = from_kv(def, &kv)?;
            let patched = patch(&old)?;
            let pinned = meta::meta_str(&patched, "resourceVersion").map(str::to_string);
            if let Some(rv) = &pinned
                && *rv != kv.mod_revision.to_string()
            {
                return Err(ApiError::conflict(
                    &def.group,
                    &def.plural,
                    name,
                    ApiError::MODIFIED,
                ));
            }
            let (new, warnings) = self.decode(def, patched, opts.field_validation)?;
            match self
                .write_update(
                    def,
                    ns,
                    name,
                    &kv,
                    &old,
                    new,
                    subresource,
                    opts,
                    Ownership::Record,
                )
                .await
            {
                Err(UpdateError::Retry) if pinned.is_none() => continue,
                Err(UpdateError::Retry) => {
                    return Err(ApiError::conflict(
                        &def.group,
                        &def.plural,
                        name,
                        ApiError::MODIFIED,
                    ));
                }
                Err(UpdateError::Api(e)) => return Err(e),
                Ok(obj) => return Ok((obj, warnings)),
            }
        }
        Err(ApiError::conflict(
            &def.group,
            &def.plural,
            name,
            ApiError::MODIFIED,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_update(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        kv: &KeyValue,
        old: &Value,
        new: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
        ownership: Ownership,
    ) -> Result<Value, UpdateError> {
        let mut obj = match subresource {
            // A status write changes only the status.
            Some("status") => {
                let mut o = old.clone();
                match new.get("status") {
                    Some(s) => o["status"] = s.clone(),
                    None => {
                        if let Some(m) = o.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                o
            }
            // A write of the main resource cannot change a status served as a subresource.
            _ if def.has_subresource("status") => {
                let mut o = new;
                match old.get("status") {
                    Some(s) => o["status"] = s.clone(),
                    None => {
                        if let Some(m) = o.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                o
            }
            _ => new,
        };
        meta::prepare_update(&mut obj, old);
        if ownership == Ownership::Record {
            // Ownership is the server's to keep: start from what is stored, then record this write.
            match old.get("metadata").and_then(|m| m.get("managedFields")) {
                Some(mf) => meta::metadata_mut(&mut obj).insert("managedFields".into(), mf.clone()),
                None => meta::metadata_mut(&mut obj).remove("managedFields"),
            };
            apply::record_update(
                Some(old),
                &mut obj,
                &opts.field_manager,
                subresource,
                &def.api_version(),
                &meta::now_rfc3339(),
            );
        }
        if subresource.is_none() {
            strategy::default(def, &mut obj);
            admission::webhooks::default_configuration(def, &mut obj);
        }
        let admission = admission::Request {
            def,
            operation: admission::Operation::Update,
            subresource,
            old: Some(old),
            user: opts.user.as_ref(),
            dry_run: opts.dry_run,
        };
        admission::mutate_update(self, &admission, &mut obj)
            .await
            .map_err(UpdateError::Api)?;
        if subresource.is_none() {
            strategy::default(def, &mut obj);
        }
        let is_service = def.group.is_empty() && def.plural == "services";
        if is_service {
            // The cluster IP stays unless the update names one (which validation then checks).
            for f in ["clusterIP", "clusterIPs"] {
                if obj.pointer(&format!("/spec/{f}")).is_none()
                    && let Some(v) = old.pointer(&format!("/spec/{f}")).cloned()
                    && obj["spec"]["type"] != "ExternalName"
                {
                    obj["spec"][f] = v;
                }
            }
        }
        let mut errs = meta::validate_metadata(&obj, def);
        errs.extend(strategy::validate_update(def, &obj, old));
        errs.extend(admission::webhooks::validate_configuration(
            def,
            &obj,
            Some(old),
        ));
        if !errs.is_empty() {
            return Err(UpdateError::Api(ApiError::invalid(
                &def.group, &def.kind, name, errs,
            )));
        }
        self.check_escalation(def, &obj, opts)
            .map_err(UpdateError::Api)?;
        // An update that changes nothing is not written (and keeps its resourceVersion).
        let mut unchanged = obj.clone();
        meta::set_resource_version(&mut unchanged, kv.mod_revision);
        if unchanged == *old {
            return Ok(old.clone());
        }
        admission::validate(self, &admission, &obj)
            .await
            .map_err(UpdateError::Api)?;
        if opts.dry_run {
            return Ok(unchanged);
        }
        let key = def.key(ns, name);
        // An object marked for deletion goes once its last finalizer is removed (a
        // namespace's `spec.finalizers` too: the namespace controller empties it).
        let none_left = |pointer: &str| {
            obj.pointer(pointer)
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        };
        let is_namespace = def.group.is_empty() && def.plural == "namespaces";
        let finalized = obj.pointer("/metadata/deletionTimestamp").is_some()
            && none_left("/metadata/finalizers")
            && (!is_namespace || none_left("/spec/finalizers"));
        if finalized {
            return match self.store.delete(&key, Some(kv.mod_revision)).await {
                Ok((rev, _)) => {
                    if is_service {
                        self.release_service(old, None).await;
                    }
                    meta::set_resource_version(&mut obj, rev);
                    Ok(obj)
                }
                Err(StoreError::Conflict { .. }) => Err(UpdateError::Retry),
                Err(e) => Err(UpdateError::Api(store_error(def, name, e))),
            };
        }
        if is_service {
            self.allocate_service(&mut obj, &self.network)
                .await
                .map_err(UpdateError::Api)?;
        }
        match self
            .store
            .update(
                &key,
                to_bytes(def, &obj),
                kv.mod_revision,
                (kv.lease != 0).then_some(kv.lease),
            )
            .await
        {
            Ok(rev) => {
                if is_service {
                    self.release_service(old, Some(&obj)).await;
                }
                meta::set_resource_version(&mut obj, rev);
                Ok(obj)
            }
            Err(StoreError::Conflict { .. }) => Err(UpdateError::Retry),
            Err(e) => Err(UpdateError::Api(store_error(def, name, e))),
        }
    }

    /// Deletes an object. An object with finalizers is only marked for deletion
    /// (`deletionTimestamp`) and returned; otherwise it is removed and returned as it was.
    pub async fn delete(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        del: &DeleteOptions,
        opts: &WriteOptions,
    ) -> Result<(Value, bool), ApiError> {
        loop {
            let kv = self.get_kv(def, ns, name).await?;
            if let Some(p) = del.precondition_rv
                && p != kv.mod_revision
            {
                return Err(ApiError::conflict(
                    &def.group,
                    &def.plural,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {p}, ResourceVersion in object meta: {}",
                        kv.mod_revision
                    ),
                ));
            }
            let obj = from_kv(def, &kv)?;
            let admission = admission::Request {
                def,
                operation: admission::Operation::Delete,
                subresource: None,
                old: Some(&obj),
                user: opts.user.as_ref(),
                dry_run: opts.dry_run,
            };
            admission::admit_delete(self, &admission, &obj).await?;
            // Foreground and Orphan deletion leave the dependents to the garbage collector,
            // which finds the object marked with upstream's finalizers.
            let added: Vec<&str> = match del.propagation.as_deref() {
                Some("Foreground") => vec!["foregroundDeletion"],
                Some("Orphan") => vec!["orphan"],
                _ => Vec::new(),
            };
            // A pod on a node is given its grace period to stop; its kubelet then deletes it
            // with none. A pod on no node has nothing to stop.
            let is_pod = def.group.is_empty() && def.plural == "pods";
            let grace = if is_pod
                && obj
                    .pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty())
            {
                del.grace_period
                    .or_else(|| {
                        obj.pointer("/spec/terminationGracePeriodSeconds")
                            .and_then(Value::as_i64)
                    })
                    .unwrap_or(30)
                    .max(0)
            } else {
                0
            };
            let existing = obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            let namespace = def.group.is_empty() && def.plural == "namespaces";
            let marked_already = obj.pointer("/metadata/deletionTimestamp").is_some();
            if marked_already {
                let forced = is_pod && del.grace_period == Some(0);
                // A terminating namespace whose finalizers (spec and metadata) are done goes.
                let namespace_finalized = namespace
                    && obj
                        .pointer("/spec/finalizers")
                        .and_then(Value::as_array)
                        .is_none_or(Vec::is_empty);
                if existing || (namespace && !namespace_finalized) || (!namespace && !forced) {
                    return Ok((obj, false));
                }
            } else if existing || namespace || !added.is_empty() || grace > 0 {
                let mut marked = obj.clone();
                let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(grace);
                let at = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                    at.year(),
                    u8::from(at.month()),
                    at.day(),
                    at.hour(),
                    at.minute(),
                    at.second()
                );
                let m = meta::metadata_mut(&mut marked);
                m.insert("deletionTimestamp".into(), json!(at));
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                if !added.is_empty() {
                    let list = m.entry("finalizers").or_insert_with(|| json!([]));
                    if let Some(list) = list.as_array_mut() {
                        for f in &added {
                            if !list.iter().any(|x| x == f) {
                                list.push(json!(f));
                            }
                        }
                    }
                }
                if namespace {
                    marked["status"] = json!({"phase": "Terminating"});
                }
                if opts.dry_run {
                    return Ok((marked, false));
                }
                match self
                    .store
                    .update(
                        &kv.key,
                        to_bytes(def, &marked),
                        kv.mod_revision,
                        (kv.lease != 0).then_some(kv.lease),
                    )
                    .await
                {
                    Ok(rev) => {
                        meta::set_resource_version(&mut marked, rev);
                        return Ok((marked, false));
                    }
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(store_error(def, name, e)),
                }
            }
            if opts.dry_run {
                return Ok((obj, true));
            }
            match self.store.delete(&kv.key, Some(kv.mod_revision)).await {
                Ok(_) => {
                    if def.group.is_empty() && def.plural == "services" {
                        self.release_service(&obj, None).await;
                    }
                    return Ok((obj, true));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(store_error(def, name, e)),
            }
        }
    }

    /// Server-side apply: creates the object from the configuration, or merges the
    /// configuration into it, as `opts.field_manager`.
    pub async fn apply(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        name: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<(Value, Vec<String>), ApiError> {
        if opts.field_manager.is_empty() {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                vec![bosun_api::FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )],
            ));
        }
        let (config, warnings) = self.decode(def, body, opts.field_validation)?;
        if let Some(body_name) = meta::name(&config)
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let api_version = def.api_version();
        for _ in 0..16 {
            let key = def.key(ns, name);
            let current = self
                .store
                .get(&key, None)
                .await
                .map_err(|e| store_error(def, name, e))?;
            let Some(kv) = current.kv else {
                let mut obj = apply::apply(
                    None,
                    &config,
                    &opts.field_manager,
                    opts.force,
                    &api_version,
                    &meta::now_rfc3339(),
                )?;
                meta::metadata_mut(&mut obj).insert("name".into(), json!(name));
                let managed = obj["metadata"]
                    .get("managedFields")
                    .cloned()
                    .unwrap_or(Value::Null);
                match self.store_new(def, ns, obj, opts, Some(managed)).await {
                    Ok(obj) => return Ok((obj, warnings)),
                    Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
                    Err(e) => return Err(e),
                }
            };
            let old = from_kv(def, &kv)?;
            if let Some(rv) = meta::meta_str(&config, "resourceVersion")
                && rv != kv.mod_revision.to_string()
            {
                return Err(ApiError::conflict(
                    &def.group,
                    &def.plural,
                    name,
                    ApiError::MODIFIED,
                ));
            }
            let merged = apply::apply(
                Some(&old),
                &config,
                &opts.field_manager,
                opts.force,
                &api_version,
                &meta::now_rfc3339(),
            )?;
            match self
                .write_update(
                    def,
                    ns,
                    name,
                    &kv,
                    &old,
                    merged,
                    None,
                    opts,
                    Ownership::SetByApply,
                )
                .await
            {
                Err(UpdateError::Retry) => continue,
                Err(UpdateError::Api(e)) => return Err(e),
                Ok(obj) => return Ok((obj, warnings)),
            }
        }
        Err(ApiError::conflict(
            &def.group,
            &def.plural,
            name,
            ApiError::MODIFIED,
        ))
    }

    /// The `Status` upstream answers a delete of an object that is gone at once, for kinds that
    /// answer with a Status rather than the object.
    pub fn deleted_status(def: &ResourceDef, obj: &Value) -> Value {
        success_status(
            &def.group,
            &def.plural,
            meta::name(obj).unwrap_or_default(),
            meta::meta_str(obj, "uid"),
        )
    }
}

/// Whether a write records its manager's ownership, or an apply already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ownership {
    Record,
    SetByApply,
}

enum UpdateError {
    Retry,
    Api(ApiError),
}

/// Kind-specific preparation of a new object (upstream's PrepareForCreate).
fn strategy_create(def: &ResourceDef, obj: &mut Value) {
    if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
        let finalizers = meta::metadata_mut(obj)
            .entry("finalizers")
            .or_insert_with(|| json!([]));
        if let Some(list) = finalizers.as_array_mut()
            && !list.iter().any(|f| f == bosun_api::crd::CLEANUP_FINALIZER)
        {
            list.push(json!(bosun_api::crd::CLEANUP_FINALIZER));
        }
    }
    // A status served as a subresource is not the creator's to set; nodes register with theirs.
    if def.has_subresource("status") && !(def.group.is_empty() && def.plural == "nodes") {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
        if def.group.is_empty()
            && matches!(
                def.plural.as_str(),
                "pods" | "persistentvolumes" | "persistentvolumeclaims"
            )
        {
            obj["status"] = json!({"phase": "Pending"});
        }
    }
    if def.group.is_empty() && def.plural == "namespaces" {
        if obj.get("spec").and_then(|s| s.get("finalizers")).is_none() {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
        }
        obj["status"] = json!({"phase": "Active"});
        meta::metadata_mut(obj).remove("generation");
        let name = meta::name(obj).unwrap_or_default().to_string();
        let labels = meta::metadata_mut(obj)
            .entry("labels")
            .or_insert_with(|| json!({}));
        labels["kubernetes.io/metadata.name"] = json!(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_refuse_tampering() {
        let t = encode_continue(42, "b\0");
        assert_eq!(decode_continue(&t).unwrap(), (42, "b\0".to_string()));
        assert_eq!(decode_continue("garbage").unwrap_err().code, 400);
        let escape = STANDARD.encode(r#"{"v":"meta.k8s.io/v1","rv":1,"start":"../x"}"#);
        assert!(decode_continue(&escape).is_err());
    }
}
