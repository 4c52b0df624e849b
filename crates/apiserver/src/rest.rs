//! The generic verb handlers: every resource's requests end here, whatever its kind.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bosun_api::selectors::{FieldSelector, LabelSelector, supported_fields};
use bosun_api::table::{self, IncludeObject};
use bosun_api::{ApiError, ResourceDef, ResourceTable, meta};
use http::{Method, Request, Response, header};
use serde_json::{Value, json};

use crate::authz::{self, Authenticator};
use crate::negotiate::{self, MAX_BODY_BYTES, Output};
use crate::openapi::OpenApiCache;
use crate::path::{self, ResourcePath, Target};
use crate::registry::{DeleteOptions, FieldValidation, ListQuery, PatchFn, Registry, WriteOptions};
use crate::{discovery, watch};
use bosun_auth::{Authorizer, AuthorizerChain, UserInfo};

/// What every request handler shares.
pub struct ApiState {
    /// The generic registry.
    pub registry: Registry,
    /// The resource table.
    pub table: Arc<ResourceTable>,
    /// `host:port` clients reach the server at, for `/api`'s server addresses.
    pub advertise: String,
    /// Generated OpenAPI documents, shared with the CRD controller that invalidates them.
    pub openapi: Arc<OpenApiCache>,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Who a request is from.
    pub authenticator: Authenticator,
    /// Whether they may do what they ask.
    pub authorizer: AuthorizerChain,
    /// The RBAC objects the authorizer reads, for rule reviews.
    pub policy: Arc<authz::RbacIndex>,
    /// `--audit-log-path`: where requests are recorded, if anywhere.
    pub audit: Option<crate::audit::AuditLog>,
}

type Query = HashMap<String, String>;

fn query_of(req: &Request<Body>) -> Query {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn truthy(q: &Query, key: &str) -> bool {
    matches!(q.get(key).map(String::as_str), Some("true") | Some("1"))
}

/// Answers one request, with the warnings its handling gathered.
pub async fn handle(
    state: Arc<ApiState>,
    certificate: crate::tls::ClientCertificate,
    req: Request<Body>,
) -> Response<Body> {
    let (mut resp, notes) = crate::notes::scope(answer(state, certificate, req)).await;
    negotiate::add_warnings(&mut resp, &notes.warnings);
    resp
}

async fn answer(
    state: Arc<ApiState>,
    certificate: crate::tls::ClientCertificate,
    req: Request<Body>,
) -> Response<Body> {
    let table = state.table.clone();
    let target = path::parse(req.uri().path(), |g, v, p| {
        table.lookup(g, v, p).is_some_and(|d| d.namespaced())
    });
    let user = match state
        .authenticator
        .authenticate(&state.registry, &certificate, req.headers())
        .await
    {
        Ok(user) => user,
        Err(e) => return refuse(req, &e).await,
    };
    let authenticated = user.clone();
    let user = match user {
        Some(user) => match authz::impersonate(&state.authorizer, user, req.headers()) {
            Ok(user) => Some(user),
            Err(e) => return refuse(req, &e).await,
        },
        None => None,
    };
    // Health and version are public, as upstream's system:public-info-viewer makes them.
    let attributes = match (&target, &user) {
        (Target::Version | Target::Health, _) => None,
        (_, None) => return refuse(req, &ApiError::unauthorized()).await,
        (Target::Resource(rp), Some(user)) => Some(authz::resource_attributes(
            user,
            req.method(),
            rp,
            &query_of(&req),
        )),
        (_, Some(user)) => Some(authz::path_attributes(user, req.method(), req.uri().path())),
    };
    if let (Some(log), Some(attributes), Some(authenticated)) =
        (&state.audit, &attributes, &authenticated)
    {
        let decision = log.decide(attributes);
        if decision.level > crate::audit::Level::None {
            let event = crate::audit::RequestEvent::begin(
                decision,
                attributes,
                authenticated,
                req.method() == http::Method::GET && truthy(&query_of(&req), "watch"),
                &req,
            );
            return event
                .audit(log, req, |req| {
                    authorize_and_serve(state.clone(), target, user, Some(attributes.clone()), req)
                })
                .await;
        }
    }
    authorize_and_serve(state, target, user, attributes, req).await
}

/// Answers a request refused before its body was read. The body is read first (up to a limit,
/// as Go's server does), so that the client sees the answer rather than a reset connection
/// while it is still sending.
async fn refuse(req: Request<Body>, error: &ApiError) -> Response<Body> {
    const DRAINED_BYTES: usize = 256 * 1024;
    let body = axum::body::to_bytes(req.into_body(), DRAINED_BYTES);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), body).await;
    negotiate::error(error)
}

/// Authorizes a request (when it is not public) and answers it.
async fn authorize_and_serve(
    state: Arc<ApiState>,
    target: Target,
    user: Option<UserInfo>,
    attributes: Option<bosun_auth::Attributes>,
    req: Request<Body>,
) -> Response<Body> {
    if let Some(attributes) = &attributes {
        let decision = state.authorizer.authorize(attributes);
        if !decision.allowed() {
            let mut resp = refuse(req, &authz::forbidden(attributes, decision.reason())).await;
            resp.extensions_mut()
                .insert(crate::audit::Forbidden(decision.reason().to_string()));
            return resp;
        }
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let aggregated = discovery::wants_aggregated(accept.as_deref());
    let result = match target {
        Target::CoreVersions | Target::Groups if aggregated && user.is_some() => {
            let body = discovery::aggregated(&state.table, target == Target::CoreVersions);
            let mut resp = negotiate::respond(200, &body, Output::Json, &[]);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(discovery::AGGREGATED_MEDIA_TYPE),
            );
            Ok(resp)
        }
        Target::Version => Ok(negotiate::respond(
            200,
            &discovery::version(),
            Output::Json,
            &[],
        )),
        Target::Health => Ok(negotiate::text(200, "ok")),
        _ if user.is_none() => Err(ApiError::unauthorized()),
        Target::Metrics => {
            let mut resp = negotiate::text(200, &state.metrics.render());
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Ok(resp)
        }
        Target::CoreVersions => Ok(negotiate::respond(
            200,
            &discovery::core_versions(&state.advertise),
            Output::Json,
            &[],
        )),
        Target::Groups => Ok(negotiate::respond(
            200,
            &discovery::groups(&state.table),
            Output::Json,
            &[],
        )),
        Target::Group(g) => discovery::group(&state.table, &g)
            .map(|v| negotiate::respond(200, &v, Output::Json, &[])),
        Target::GroupVersion(g, v) => discovery::resources(&state.table, &g, &v)
            .map(|v| negotiate::respond(200, &v, Output::Json, &[])),
        Target::OpenApiV3(p) if p.is_empty() => Ok(negotiate::respond(
            200,
            &state.openapi.index(&state.table),
            Output::Json,
            &[],
        )),
        Target::OpenApiV3(p) => match state.openapi.document(&state.table, &p) {
            Some(bytes) => {
                let mut resp = Response::new(Body::from(bytes));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                Ok(resp)
            }
            None => Err(ApiError::no_such_path()),
        },
        Target::OpenApiV2 => {
            let protobuf = accept.as_deref().is_some_and(|a| a.contains("protobuf"));
            let (bytes, content_type) = crate::openapi::v2_document(protobuf);
            let mut resp = Response::new(Body::from(bytes));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static(content_type),
            );
            Ok(resp)
        }
        Target::OpenIdConfiguration | Target::Jwks => match &state.authenticator.service_accounts {
            Some(accounts) => {
                let (body, content_type) = if target == Target::Jwks {
                    (accounts.issuer.jwks(), "application/jwk-set+json")
                } else {
                    let jwks_uri = format!("https://{}/openid/v1/jwks", state.advertise);
                    (
                        accounts.issuer.openid_configuration(&jwks_uri),
                        "application/json",
                    )
                };
                let mut resp = negotiate::respond(200, &body, Output::Json, &[]);
                let headers = resp.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    http::HeaderValue::from_static(content_type),
                );
                headers.insert(
                    header::CACHE_CONTROL,
                    http::HeaderValue::from_static("public, max-age=3600"),
                );
                Ok(resp)
            }
            None => Err(ApiError::no_such_path()),
        },
        Target::Unknown => Err(ApiError::no_such_path()),
        Target::Resource(rp) => resource(&state, rp, user.as_ref(), req).await,
    };
    result.unwrap_or_else(|e| negotiate::error(&e))
}

/// The field manager of a write: the `fieldManager` parameter, or the client's user agent up
/// to its first `/`, as upstream defaults it.
fn field_manager(q: &Query, user_agent: Option<&str>) -> Result<String, ApiError> {
    match q.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) if m.len() > 128 => Err(ApiError::bad_request(format!(
            "fieldManager: Too long: may not be more than 128 bytes, got {}",
            m.len()
        ))),
        Some(m) => Ok(m.clone()),
        None => Ok(user_agent
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()),
    }
}

fn write_options(
    q: &Query,
    user_agent: Option<&str>,
    user: Option<&UserInfo>,
) -> Result<WriteOptions, ApiError> {
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value {other:?}: valid values are [All]"
            )));
        }
    };
    Ok(WriteOptions {
        dry_run,
        field_validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
        field_manager: field_manager(q, user_agent)?,
        force: truthy(q, "force"),
        user: user.cloned(),
    })
}

/// DeleteOptions from the request body, or from query parameters as kubectl sends them.
fn delete_options(body: &Value, q: &Query) -> DeleteOptions {
    let propagation = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| q.get("propagationPolicy").cloned())
        .or_else(|| {
            (body.get("orphanDependents") == Some(&Value::Bool(true))).then(|| "Orphan".to_string())
        });
    DeleteOptions {
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        propagation,
        grace_period: body
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .or_else(|| q.get("gracePeriodSeconds").and_then(|g| g.parse().ok())),
    }
}

fn list_query(def: &ResourceDef, q: &Query) -> Result<ListQuery, ApiError> {
    let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))?;
    let fields = FieldSelector::parse(
        q.get("fieldSelector").map(String::as_str).unwrap_or(""),
        supported_fields(&def.group, &def.plural),
    )?;
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        ),
        None => None,
    };
    Ok(ListQuery {
        labels,
        fields,
        limit,
        continue_token: q.get("continue").cloned(),
        resource_version: q.get("resourceVersion").cloned(),
        resource_version_match: q.get("resourceVersionMatch").cloned(),
    })
}

async fn read_body(req: Request<Body>) -> Result<(Option<String>, Value), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::too_large(format!(
                "Request entity too large: limit is {MAX_BODY_BYTES}"
            ))
        })?;
    if bytes.is_empty() {
        return Ok((content_type, Value::Null));
    }
    let body = negotiate::decode_body(content_type.as_deref(), &bytes)?;
    Ok((content_type, body))
}

fn object_response(
    def: &ResourceDef,
    code: u16,
    obj: &Value,
    output: Output,
    warnings: &[String],
) -> Response<Body> {
    match output {
        Output::Table => {
            let t = table::table(
                def,
                vec![obj.clone()],
                IncludeObject::Metadata,
                json!({"resourceVersion": meta::meta_str(obj, "resourceVersion")}),
            );
            negotiate::respond(code, &t, Output::Json, warnings)
        }
        Output::Metadata => {
            let m = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]});
            negotiate::respond(code, &m, Output::Json, warnings)
        }
        o => negotiate::respond(code, obj, o, warnings),
    }
}

async fn resource(
    state: &ApiState,
    rp: ResourcePath,
    user: Option<&UserInfo>,
    req: Request<Body>,
) -> Result<Response<Body>, ApiError> {
    let def = state
        .table
        .lookup(&rp.group, &rp.version, &rp.plural)
        .ok_or_else(ApiError::no_such_path)?;
    if !def.namespaced() && rp.namespace.is_some() {
        return Err(ApiError::no_such_path());
    }
    if def.namespaced() && rp.name.is_some() && rp.namespace.is_none() {
        return Err(ApiError::no_such_path());
    }
    let ns = rp.namespace.clone();
    let ns = ns.as_deref();
    let q = query_of(&req);
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let output = negotiate::output(accept.as_deref())?;
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let registry = &state.registry;
    let method = req.method().clone();

    if let Some(sub) = rp.subresource.as_deref() {
        if !def.has_subresource(sub) {
            return Err(ApiError::no_such_path());
        }
        let name = rp.name.clone().unwrap_or_default();
        return match (sub, &method) {
            ("status", &Method::GET) => Ok(object_response(
                &def,
                200,
                &registry.get(&def, ns, &name).await?,
                output,
                &[],
            )),
            ("status", &Method::PUT) => {
                let opts = write_options(&q, user_agent.as_deref(), user)?;
                let (_, body) = read_body(req).await?;
                let (obj, warnings) = registry
                    .update(&def, ns, &name, body, Some("status"), &opts)
                    .await?;
                Ok(object_response(&def, 200, &obj, output, &warnings))
            }
            ("status", &Method::PATCH) => {
                patch(
                    state,
                    &def,
                    ns,
                    &name,
                    Some("status"),
                    &q,
                    output,
                    user,
                    req,
                )
                .await
            }
            ("token", &Method::POST) if def.plural == "serviceaccounts" => {
                let accounts = state
                    .authenticator
                    .service_accounts
                    .as_ref()
                    .ok_or_else(|| {
                        ApiError::unavailable("service account tokens are not configured")
                    })?;
                let (_, body) = read_body(req).await?;
                let answered = accounts
                    .token_request(registry, ns.unwrap_or_default(), &name, body, user)
                    .await?;
                Ok(negotiate::respond(201, &answered, Output::Json, &[]))
            }
            ("finalize", &Method::PUT) if def.plural == "namespaces" && def.group.is_empty() => {
                let opts = write_options(&q, user_agent.as_deref(), user)?;
                let (_, body) = read_body(req).await?;
                let namespace = crate::finalize::finalize(registry, &name, body, &opts).await?;
                Ok(object_response(&def, 200, &namespace, output, &[]))
            }
            ("binding", &Method::POST) if def.plural == "pods" && def.group.is_empty() => {
                let (_, body) = read_body(req).await?;
                let status =
                    crate::binding::bind(registry, ns.unwrap_or_default(), &name, body).await?;
                Ok(negotiate::respond(201, &status, Output::Json, &[]))
            }
            ("scale", &Method::GET) => {
                let obj = registry.get(&def, ns, &name).await?;
                Ok(negotiate::respond(
                    200,
                    &crate::scale::scale_of(&def, &obj),
                    Output::Json,
                    &[],
                ))
            }
            ("scale", &Method::PUT | &Method::PATCH) => {
                let patch_media = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
                let is_put = method == Method::PUT;
                let mut opts = write_options(&q, user_agent.as_deref(), user)?;
                opts.field_validation = FieldValidation::Ignore;
                let (_, body) = read_body(req).await?;
                let d = def.clone();
                let change = move |old: &Value| -> Result<Value, ApiError> {
                    let mut scale = crate::scale::scale_of(&d, old);
                    if is_put {
                        scale = body.clone();
                    } else {
                        match patch_media.as_deref() {
                            Some("application/json-patch+json") => {
                                let ops: json_patch::Patch = serde_json::from_value(body.clone())
                                    .map_err(|e| {
                                    ApiError::bad_request(format!("error decoding patch: {e}"))
                                })?;
                                json_patch::patch(&mut scale, &ops.0)
                                    .map_err(|e| ApiError::unprocessable(e.to_string()))?;
                            }
                            Some("application/strategic-merge-patch+json") => {
                                bosun_api::patch::strategic_merge(&mut scale, &body)
                                    .map_err(ApiError::bad_request)?;
                            }
                            _ => json_patch::merge(&mut scale, &body),
                        }
                    }
                    crate::scale::apply_scale(&d, old, &scale)
                };
                let (obj, _) = registry
                    .patch(&def, ns, &name, &change, None, &opts)
                    .await?;
                Ok(negotiate::respond(
                    200,
                    &crate::scale::scale_of(&def, &obj),
                    Output::Json,
                    &[],
                ))
            }
            ("log" | "exec" | "attach" | "portforward" | "proxy", _) if def.plural == "pods" => {
                let pod = registry.get(&def, ns, &name).await?;
                let node = pod
                    .get("spec")
                    .and_then(|s| s.get("nodeName"))
                    .and_then(Value::as_str);
                Err(ApiError::bad_request(match node {
                    None => format!("pod {name} does not have a host assigned"),
                    Some(node) => {
                        format!("no kubelet is serving node {node:?} for the {sub} of pod {name}")
                    }
                }))
            }
            _ => Err(ApiError::method_not_allowed()),
        };
    }

    let watching = rp.legacy_watch || truthy(&q, "watch");
    match (method, rp.name.as_deref()) {
        (Method::GET, _) if watching => {
            if !def.allows("watch") {
                return Err(ApiError::method_not_allowed());
            }
            let mut query = list_query(&def, &q)?;
            // A name selector narrows the watch to one key, unless the watch spans every
            // namespace (the key then depends on the namespace of each object).
            let across_namespaces = def.namespaced() && rp.namespace.is_none();
            let name = rp.name.clone().or_else(|| {
                (!across_namespaces)
                    .then(|| query.fields.exact("metadata.name").map(str::to_string))
                    .flatten()
            });
            if rp.name.is_some() {
                query.fields = FieldSelector::default();
            }
            let timeout = q
                .get("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(1800));
            watch::serve(
                registry.clone(),
                watch::WatchRequest {
                    def: def.clone(),
                    namespace: rp.namespace.clone(),
                    name,
                    query,
                    timeout,
                    bookmarks: truthy(&q, "allowWatchBookmarks"),
                    send_initial_events: truthy(&q, "sendInitialEvents"),
                    output,
                },
            )
            .await
        }
        (Method::GET, Some(name)) => {
            if !def.allows("get") {
                return Err(ApiError::method_not_allowed());
            }
            Ok(object_response(
                &def,
                200,
                &registry.get(&def, ns, name).await?,
                output,
                &[],
            ))
        }
        (Method::GET, None) => {
            if !def.allows("list") {
                return Err(ApiError::method_not_allowed());
            }
            let query = list_query(&def, &q)?;
            let page = registry.list(&def, ns, &query).await?;
            let list_meta = page.list_meta();
            let body = match output {
                Output::Table => {
                    let include = match q.get("includeObject").map(String::as_str) {
                        Some("None") => IncludeObject::None,
                        Some("Object") => IncludeObject::Object,
                        _ => IncludeObject::Metadata,
                    };
                    table::table(&def, page.items, include, list_meta)
                }
                Output::Metadata => meta::object([
                    ("kind", json!("PartialObjectMetadataList")),
                    ("apiVersion", json!("meta.k8s.io/v1")),
                    ("metadata", list_meta),
                    (
                        "items",
                        Value::Array(
                            page.items
                                .into_iter()
                                .map(|mut o| {
                                    let metadata = o["metadata"].take();
                                    meta::object([
                                        ("kind", json!("PartialObjectMetadata")),
                                        ("apiVersion", json!("meta.k8s.io/v1")),
                                        ("metadata", metadata),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                ]),
                _ => meta::object([
                    ("kind", json!(def.list_kind)),
                    ("apiVersion", json!(def.api_version())),
                    ("metadata", list_meta),
                    ("items", Value::Array(page.items)),
                ]),
            };
            let out = if output == Output::Yaml {
                Output::Yaml
            } else {
                Output::Json
            };
            Ok(negotiate::respond(200, &body, out, &[]))
        }
        (Method::POST, None) if crate::review::is_review(&def.group, &def.plural) => {
            let (_, body) = read_body(req).await?;
            let user = user.cloned().unwrap_or_else(UserInfo::anonymous);
            let answered = crate::review::answer(state, &def.plural, ns, &user, body).await?;
            Ok(object_response(&def, 201, &answered, output, &[]))
        }
        (Method::POST, None) => {
            if !def.allows("create") {
                return Err(ApiError::method_not_allowed());
            }
            let opts = write_options(&q, user_agent.as_deref(), user)?;
            let (_, body) = read_body(req).await?;
            let (obj, warnings) = registry.create(&def, ns, body, &opts).await?;
            Ok(object_response(&def, 201, &obj, output, &warnings))
        }
        (Method::PUT, Some(name)) => {
            if !def.allows("update") {
                return Err(ApiError::method_not_allowed());
            }
            let opts = write_options(&q, user_agent.as_deref(), user)?;
            let name = name.to_string();
            let (_, body) = read_body(req).await?;
            let (obj, warnings) = registry.update(&def, ns, &name, body, None, &opts).await?;
            Ok(object_response(&def, 200, &obj, output, &warnings))
        }
        (Method::PATCH, Some(name)) => {
            if !def.allows("patch") {
                return Err(ApiError::method_not_allowed());
            }
            let name = name.to_string();
            patch(state, &def, ns, &name, None, &q, output, user, req).await
        }
        (Method::DELETE, Some(name)) => {
            if !def.allows("delete") {
                return Err(ApiError::method_not_allowed());
            }
            let name = name.to_string();
            let mut opts = write_options(&q, user_agent.as_deref(), user)?;
            let (_, body) = read_body(req).await?;
            if body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|v| v == "All"))
            {
                opts.dry_run = true;
            }
            let del = delete_options(&body, &q);
            let (obj, gone) = registry.delete(&def, ns, &name, &del, &opts).await?;
            if gone {
                Ok(negotiate::respond(
                    200,
                    &Registry::deleted_status(&def, &obj),
                    Output::Json,
                    &[],
                ))
            } else {
                Ok(object_response(&def, 202, &obj, output, &[]))
            }
        }
        (Method::DELETE, None) => {
            if !def.allows("deletecollection") {
                return Err(ApiError::method_not_allowed());
            }
            let opts = write_options(&q, user_agent.as_deref(), user)?;
            let query = list_query(&def, &q)?;
            let page = registry
                .list(
                    &def,
                    ns,
                    &ListQuery {
                        limit: None,
                        continue_token: None,
                        ..query
                    },
                )
                .await?;
            let mut deleted = Vec::new();
            for obj in page.items {
                let name = meta::name(&obj).unwrap_or_default().to_string();
                let obj_ns = meta::namespace(&obj).map(str::to_string);
                match registry
                    .delete(
                        &def,
                        obj_ns.as_deref(),
                        &name,
                        &delete_options(&Value::Null, &q),
                        &opts,
                    )
                    .await
                {
                    Ok((o, _)) => deleted.push(o),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let list = json!({"kind": def.list_kind, "apiVersion": def.api_version(), "metadata": {}, "items": deleted});
            Ok(negotiate::respond(200, &list, Output::Json, &[]))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn patch(
    state: &ApiState,
    def: &Arc<ResourceDef>,
    ns: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    q: &Query,
    output: Output,
    user: Option<&UserInfo>,
    req: Request<Body>,
) -> Result<Response<Body>, ApiError> {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut opts = write_options(q, user_agent.as_deref(), user)?;
    let (content_type, body) = read_body(req).await?;
    let media = content_type
        .as_deref()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if media == "application/apply-patch+yaml" {
        if subresource.is_some() {
            return Err(ApiError::method_not_allowed());
        }
        // An apply names its manager explicitly; there is no user-agent default.
        opts.field_manager = q.get("fieldManager").cloned().unwrap_or_default();
        let (obj, warnings) = state.registry.apply(def, ns, name, body, &opts).await?;
        return Ok(object_response(def, 200, &obj, output, &warnings));
    }
    let apply: Box<PatchFn> = match media.as_str() {
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_value(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            Box::new(move |old: &Value| {
                let mut doc = old.clone();
                json_patch::patch(&mut doc, &ops.0).map_err(|e| {
                    ApiError::unprocessable(format!(
                        "the server rejected our request due to an error in our request: {e}"
                    ))
                })?;
                Ok(doc)
            })
        }
        "application/merge-patch+json" => Box::new(move |old: &Value| {
            let mut doc = old.clone();
            json_patch::merge(&mut doc, &body);
            Ok(doc)
        }),
        "application/strategic-merge-patch+json" => Box::new(move |old: &Value| {
            let mut doc = old.clone();
            bosun_api::patch::strategic_merge(&mut doc, &body).map_err(ApiError::bad_request)?;
            Ok(doc)
        }),
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let (obj, warnings) = state
        .registry
        .patch(def, ns, name, &*apply, subresource, &opts)
        .await?;
    Ok(object_response(def, 200, &obj, output, &warnings))
}
