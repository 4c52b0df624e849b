//! Authentication and authorization of each request: who is asking (client certificate or
//! bearer token) and whether RBAC lets them (with `system:masters` always allowed).
//!
//! RBAC objects are read from an in-memory index that follows the four RBAC resources with one
//! store watch each, so a decision costs no store round trip.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use bosun_api::ApiError;
use bosun_auth::rbac::{PolicySource, RbacAuthorizer};
use bosun_auth::token_file::TokenFile;
use bosun_auth::{Attributes, Authorizer, AuthorizerChain, PrivilegedGroups, UserInfo};
use http::{HeaderMap, Method};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::follow::Change;
use crate::path::ResourcePath;
use crate::registry::Registry;
use crate::tls::ClientCertificate;

/// Turns credentials into a user: the verified client certificate first, then a bearer token
/// (the token file, bootstrap tokens, then ServiceAccount tokens, in upstream's order).
/// A token that names nobody, or a certificate the client CA did not sign with no token beside
/// it, is refused (401), never treated as anonymous.
#[derive(Default)]
pub struct Authenticator {
    /// `--anonymous-auth`: a request without credentials is `system:anonymous`.
    pub anonymous: bool,
    /// `--token-auth-file`.
    pub tokens: TokenFile,
    /// ServiceAccount tokens.
    pub service_accounts: Option<crate::service_account::ServiceAccountTokens>,
}

impl Authenticator {
    /// The user behind a request: `system:anonymous` or `None` (as `--anonymous-auth` says)
    /// when it carried no credentials at all.
    pub async fn authenticate(
        &self,
        registry: &Registry,
        certificate: &ClientCertificate,
        headers: &HeaderMap,
    ) -> Result<Option<UserInfo>, ApiError> {
        if let ClientCertificate::Valid(user) = certificate {
            return Ok(Some(user.clone()));
        }
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return match certificate {
                ClientCertificate::Rejected(why) => {
                    tracing::debug!(reason = %why, "client certificate rejected");
                    Err(ApiError::unauthorized())
                }
                _ => Ok(self.anonymous.then(UserInfo::anonymous)),
            };
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        self.authenticate_token(registry, token)
            .await?
            .map(Some)
            .ok_or_else(ApiError::unauthorized)
    }

    /// The user a bearer token names, `None` when no authenticator knows it; 401 for a token an
    /// authenticator recognises as its own but refuses (expired, revoked).
    pub async fn authenticate_token(
        &self,
        registry: &Registry,
        token: &str,
    ) -> Result<Option<UserInfo>, ApiError> {
        Ok(self
            .authenticate_token_for(registry, token, &[])
            .await?
            .map(|(user, _)| user))
    }

    /// As [`Self::authenticate_token`], for a token meant for one of `audiences` (the API's
    /// when empty), also returning the audiences it is good for (TokenReview reports them).
    /// Static tokens are good for whatever was asked.
    pub async fn authenticate_token_for(
        &self,
        registry: &Registry,
        token: &str,
        audiences: &[String],
    ) -> Result<Option<(UserInfo, Vec<String>)>, ApiError> {
        if let Some(user) = self.tokens.authenticate(token) {
            return Ok(Some((user, audiences.to_vec())));
        }
        if let Some((id, secret)) = bosun_auth::bootstrap_token::parse(token) {
            let stored = registry
                .find_core_cached(
                    "secrets",
                    Some(bosun_auth::bootstrap_token::NAMESPACE),
                    &bosun_auth::bootstrap_token::secret_name(id),
                )
                .await?;
            let now = bosun_api::meta::now_unix();
            if let Some(user) =
                stored.and_then(|s| bosun_auth::bootstrap_token::authenticate(id, secret, &s, now))
            {
                return Ok(Some((user.with_authenticated_group(), audiences.to_vec())));
            }
            // Upstream's authenticator refuses silently; no other authenticator knows the form.
            return Ok(None);
        }
        let Some(accounts) = &self.service_accounts else {
            return Ok(None);
        };
        let audiences = if audiences.is_empty() {
            accounts.issuer.audiences()
        } else {
            audiences
        };
        accounts.authenticate_for(registry, token, audiences).await
    }
}

/// The user a request acts as: the authenticated one, or the one named by the `Impersonate-*`
/// headers when the authenticated user may `impersonate` that user, each group, the uid and
/// each extra (upstream's impersonation filter).
pub fn impersonate(
    authorizer: &dyn Authorizer,
    user: UserInfo,
    headers: &HeaderMap,
) -> Result<UserInfo, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(String::from)
            .collect()
    };
    let name = values("impersonate-user").into_iter().next();
    let groups = values("impersonate-group");
    let uid = values("impersonate-uid").into_iter().next();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (header, value) in headers {
        if let Some(key) = header.as_str().strip_prefix("impersonate-extra-")
            && let Ok(value) = value.to_str()
        {
            let key = percent_decode(key);
            extra.entry(key).or_default().push(value.to_string());
        }
    }
    let Some(name) = name else {
        if !groups.is_empty() || uid.is_some() || !extra.is_empty() {
            return Err(ApiError::bad_request(
                "requested impersonation of groups, uid or extra without impersonating a user",
            ));
        }
        return Ok(user);
    };
    let mut checks = Vec::new();
    let mut new_groups = Vec::new();
    if let Some((namespace, sa)) = bosun_auth::user::split_service_account_username(&name) {
        checks.push(Attributes::resource(
            user.clone(),
            "impersonate",
            "",
            "serviceaccounts",
            namespace,
            sa,
        ));
        new_groups.push(bosun_auth::user::ALL_SERVICE_ACCOUNTS.to_string());
        new_groups.push(bosun_auth::user::service_account_namespace_group(namespace));
    } else {
        checks.push(Attributes::resource(
            user.clone(),
            "impersonate",
            "",
            "users",
            "",
            &name,
        ));
    }
    for group in &groups {
        checks.push(Attributes::resource(
            user.clone(),
            "impersonate",
            "",
            "groups",
            "",
            group,
        ));
    }
    if let Some(uid) = &uid {
        checks.push(Attributes::resource(
            user.clone(),
            "impersonate",
            "authentication.k8s.io",
            "uids",
            "",
            uid,
        ));
    }
    for (key, values) in &extra {
        for value in values {
            checks.push(
                Attributes::resource(
                    user.clone(),
                    "impersonate",
                    "authentication.k8s.io",
                    "userextras",
                    "",
                    value,
                )
                .with_subresource(key),
            );
        }
    }
    for check in &checks {
        let decision = authorizer.authorize(check);
        if !decision.allowed() {
            return Err(forbidden(check, decision.reason()));
        }
    }
    new_groups.extend(groups);
    let anonymous = name == bosun_auth::user::ANONYMOUS;
    let marker = if anonymous {
        bosun_auth::user::ALL_UNAUTHENTICATED
    } else {
        bosun_auth::user::ALL_AUTHENTICATED
    };
    if !new_groups.iter().any(|g| {
        g == bosun_auth::user::ALL_AUTHENTICATED || g == bosun_auth::user::ALL_UNAUTHENTICATED
    }) {
        new_groups.push(marker.to_string());
    }
    Ok(UserInfo {
        name,
        uid: uid.unwrap_or_default(),
        groups: new_groups,
        extra,
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The verb a request on a resource path means, as upstream's request-info resolver names it.
pub fn resource_verb(method: &Method, path: &ResourcePath, watch_param: bool) -> &'static str {
    let named = path.name.is_some();
    match *method {
        Method::GET | Method::HEAD if path.legacy_watch || watch_param => "watch",
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "",
    }
}

/// What a resource request asks to do. A list or watch narrowed by a field selector on
/// `metadata.name` names that object, as upstream's request info does (so `resourceNames`
/// rules and the Node authorizer can allow it).
pub fn resource_attributes(
    user: &UserInfo,
    method: &Method,
    path: &ResourcePath,
    query: &HashMap<String, String>,
) -> Attributes {
    let watch_param = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let mut attributes = Attributes::resource(
        user.clone(),
        resource_verb(method, path, watch_param),
        &path.group,
        &path.plural,
        path.namespace.as_deref().unwrap_or_default(),
        path.name.as_deref().unwrap_or_default(),
    )
    .with_subresource(path.subresource.as_deref().unwrap_or_default());
    attributes.api_version = path.version.clone();
    if matches!(attributes.verb.as_str(), "list" | "watch")
        && let Some(selector) = query.get("fieldSelector")
    {
        attributes.field_selector = equality_requirements(selector);
        if attributes.name.is_empty()
            && let Some(name) = attributes.field_requires("metadata.name")
            && !name.is_empty()
            && !name.contains('/')
            && name != "."
            && name != ".."
        {
            attributes.name = name.to_string();
        }
    }
    // A namespace is itself named by the namespace segment (`/api/v1/namespaces/x`).
    if path.group.is_empty()
        && path.plural == "namespaces"
        && path.namespace.is_some()
        && path.name.is_none()
    {
        attributes.name = attributes.namespace.clone();
    }
    attributes
}

/// The `field=value` (or `==`) terms of a field selector; other terms are left out.
fn equality_requirements(selector: &str) -> Vec<(String, String)> {
    selector
        .split(',')
        .filter(|term| !term.contains("!="))
        .filter_map(|term| {
            let (field, value) = term.split_once("==").or_else(|| term.split_once('='))?;
            Some((field.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// What a request for a path outside the resource tree asks to do.
pub fn path_attributes(user: &UserInfo, method: &Method, path: &str) -> Attributes {
    Attributes::non_resource(user.clone(), &method.as_str().to_ascii_lowercase(), path)
}

/// The 403 for a refused request, in upstream's words.
pub fn forbidden(attributes: &Attributes, reason: &str) -> ApiError {
    let mut error = ApiError::forbidden(attributes.forbidden_message(reason));
    if attributes.resource_request {
        error.details = Some(bosun_api::status::status_details(
            &attributes.api_group,
            &attributes.resource,
            &attributes.name,
        ));
    }
    error
}

/// The server's authorizer: `system:masters`, then Node, then RBAC (k3s'
/// `--authorization-mode=Node,RBAC`).
pub fn authorizer(
    policy: Arc<RbacIndex>,
    nodes: crate::node_graph::NodeGraphIndex,
) -> AuthorizerChain {
    AuthorizerChain::new()
        .with(PrivilegedGroups::default())
        .with(bosun_auth::node::NodeAuthorizer::new(nodes))
        .with(RbacAuthorizer::new(policy))
}

/// RBAC objects kept in memory, keyed `namespace/name` (or `name`).
#[derive(Default)]
pub struct RbacIndex {
    roles: RwLock<BTreeMap<String, Arc<Role>>>,
    role_bindings: RwLock<BTreeMap<String, Arc<RoleBinding>>>,
    cluster_roles: RwLock<BTreeMap<String, Arc<ClusterRole>>>,
    cluster_role_bindings: RwLock<BTreeMap<String, Arc<ClusterRoleBinding>>>,
}

impl RbacIndex {
    /// Loads every RBAC object and keeps following changes until the process ends.
    pub async fn start(registry: &Registry) -> Result<Arc<Self>, ApiError> {
        let index = Arc::new(RbacIndex::default());
        follow::<Role>(registry, "roles", index.clone(), |i| &i.roles).await?;
        follow::<RoleBinding>(registry, "rolebindings", index.clone(), |i| {
            &i.role_bindings
        })
        .await?;
        follow::<ClusterRole>(registry, "clusterroles", index.clone(), |i| {
            &i.cluster_roles
        })
        .await?;
        follow::<ClusterRoleBinding>(registry, "clusterrolebindings", index.clone(), |i| {
            &i.cluster_role_bindings
        })
        .await?;
        Ok(index)
    }
}

impl PolicySource for RbacIndex {
    fn cluster_role_bindings(&self) -> Vec<Arc<ClusterRoleBinding>> {
        self.cluster_role_bindings
            .read()
            .expect("rbac index")
            .values()
            .cloned()
            .collect()
    }

    fn role_bindings(&self, namespace: &str) -> Vec<Arc<RoleBinding>> {
        let prefix = format!("{namespace}/");
        let bindings = self.role_bindings.read().expect("rbac index");
        bindings
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Role>> {
        self.roles
            .read()
            .expect("rbac index")
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    fn cluster_role(&self, name: &str) -> Option<Arc<ClusterRole>> {
        self.cluster_roles
            .read()
            .expect("rbac index")
            .get(name)
            .cloned()
    }
}

/// How the index reaches the map one kind is kept in.
type MapOf<K> = fn(&RbacIndex) -> &RwLock<BTreeMap<String, Arc<K>>>;

fn index_key(object: &Value) -> String {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name.to_string(),
    }
}

/// Keeps one kind's map current (see [`crate::follow`]).
async fn follow<K>(
    registry: &Registry,
    plural: &'static str,
    index: Arc<RbacIndex>,
    map: MapOf<K>,
) -> Result<(), ApiError>
where
    K: DeserializeOwned + Send + Sync + 'static,
{
    let def = registry
        .table
        .lookup("rbac.authorization.k8s.io", "v1", plural)
        .expect("RBAC kinds are served");
    let read = |object: &Value| match serde_json::from_value::<K>(object.clone()) {
        Ok(value) => Some((index_key(object), Arc::new(value))),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable RBAC object skipped");
            None
        }
    };
    crate::follow::follow(registry, def, move |change| {
        let mut objects = map(&index).write().expect("rbac index");
        match change {
            Change::Reset(all) => *objects = all.iter().filter_map(read).collect(),
            Change::Put(object) => objects.extend(read(&object)),
            Change::Delete(object) => {
                objects.remove(&index_key(&object));
            }
        }
    })
    .await
}
