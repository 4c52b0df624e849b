//! ServiceAccount tokens on the API server: authenticating requests that carry one, and the
//! TokenRequest subresource (`POST .../serviceaccounts/<name>/token`, `kubectl create token`).
//!
//! A valid signature is not enough: as upstream's validator does, a token stops working once
//! its account, its Secret (legacy tokens) or the object it is bound to is deleted or replaced
//! by one with another uid. Those objects are read as upstream reads them, from the watch cache
//! (its informers) with the store asked on a miss, so checking costs no store round trip;
//! a deletion takes effect as soon as the cache has applied it, within milliseconds.

use std::sync::Arc;

use bosun_api::{ApiError, FieldError};
use bosun_auth::UserInfo;
use bosun_auth::service_account::{
    BoundTokenRequest, ObjectRef, TokenBinding, TokenClaims, TokenIssuer,
};
use serde_json::{Value, json};

use crate::registry::Registry;

/// Lifetime of a requested token when the request names none (upstream's default).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a TokenRequest may ask for.
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The lifetime projected volumes ask for; such pod-bound tokens live a year instead and carry
/// `warnafter`, so that clients that never reload their token keep working (upstream's
/// `--service-account-extend-token-expiration`, on by default).
const PROJECTED_EXPIRATION_SECONDS: i64 = 3607;
const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 3600;
/// A pod being deleted keeps its tokens this long past its deletion timestamp.
const DELETION_GRACE_SECONDS: i64 = 60;

/// Issues and checks ServiceAccount tokens against the objects they name.
#[derive(Clone)]
pub struct ServiceAccountTokens {
    /// Signs and verifies.
    pub issuer: Arc<TokenIssuer>,
}

fn uid_of(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or_default()
}

fn deletion_timestamp(obj: &Value) -> Option<i64> {
    let ts = obj["metadata"]["deletionTimestamp"].as_str()?;
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

impl ServiceAccountTokens {
    /// The user a token meant for one of `audiences` names, with the audiences the token and
    /// the request share: `Ok(None)` when it is not a service account token at all, 401 when it
    /// is one that is invalid, expired or revoked.
    pub async fn authenticate_for(
        &self,
        registry: &Registry,
        token: &str,
        audiences: &[String],
    ) -> Result<Option<(UserInfo, Vec<String>)>, ApiError> {
        let claims = match self
            .issuer
            .verify_for(token, bosun_api::meta::now_unix(), audiences)
        {
            Ok(Some(claims)) => claims,
            Ok(None) => return Ok(None),
            Err(why) => {
                tracing::debug!(reason = %why, "service account token refused");
                return Err(ApiError::unauthorized());
            }
        };
        if let Err(why) = self.still_valid(registry, &claims, token).await? {
            tracing::debug!(reason = %why, "service account token revoked");
            return Err(ApiError::unauthorized());
        }
        let shared = match claims.binding {
            TokenBinding::LegacySecret { .. } => audiences.to_vec(),
            TokenBinding::Bound { .. } => claims.audiences.clone(),
        };
        Ok(Some((claims.user(), shared)))
    }

    /// Whether the objects a token names are still there; `Ok(Err(why))` when not.
    async fn still_valid(
        &self,
        registry: &Registry,
        claims: &TokenClaims,
        token: &str,
    ) -> Result<Result<(), String>, ApiError> {
        let ns = Some(claims.namespace.as_str());
        let Some(account) = registry
            .find_core_cached("serviceaccounts", ns, &claims.name)
            .await?
        else {
            return Ok(Err(format!(
                "service account {}/{} has been deleted",
                claims.namespace, claims.name
            )));
        };
        if !claims.uid.is_empty() && uid_of(&account) != claims.uid {
            return Ok(Err(format!(
                "service account uid ({}) does not match claim ({})",
                uid_of(&account),
                claims.uid
            )));
        }
        if account["metadata"]["deletionTimestamp"].is_string() {
            return Ok(Err("service account is being deleted".into()));
        }
        match &claims.binding {
            TokenBinding::LegacySecret { name } => {
                let Some(secret) = registry.find_core_cached("secrets", ns, name).await? else {
                    return Ok(Err(format!("secret {}/{name} not found", claims.namespace)));
                };
                let owner = secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
                    .as_str();
                if owner != Some(claims.name.as_str()) {
                    return Ok(Err(format!(
                        "secret {name} does not reference service account {}",
                        claims.name
                    )));
                }
                let stored = secret["data"]["token"]
                    .as_str()
                    .and_then(|t| base64_decode(t).ok());
                if stored.as_deref() != Some(token.as_bytes()) {
                    return Ok(Err(format!("token does not match secret {name}")));
                }
                if secret["metadata"]["deletionTimestamp"].is_string() {
                    return Ok(Err(format!("secret {name} is being deleted")));
                }
            }
            TokenBinding::Bound { pod, secret, .. } => {
                for (plural, reference) in [("pods", pod), ("secrets", secret)] {
                    let Some(reference) = reference else { continue };
                    let Some(obj) = registry
                        .find_core_cached(plural, ns, &reference.name)
                        .await?
                    else {
                        return Ok(Err(format!("{plural} {:?} not found", reference.name)));
                    };
                    if uid_of(&obj) != reference.uid {
                        return Ok(Err(format!(
                            "{plural} {:?} uid ({}) does not match claim ({})",
                            reference.name,
                            uid_of(&obj),
                            reference.uid
                        )));
                    }
                    if deletion_timestamp(&obj)
                        .is_some_and(|t| t + DELETION_GRACE_SECONDS < bosun_api::meta::now_unix())
                    {
                        return Ok(Err(format!(
                            "{plural} {:?} is being deleted",
                            reference.name
                        )));
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    /// Answers a TokenRequest for the account `namespace/name`: 201 with `status.token` and
    /// `status.expirationTimestamp`.
    pub async fn token_request(
        &self,
        registry: &Registry,
        namespace: &str,
        name: &str,
        mut request: Value,
        user: Option<&bosun_auth::UserInfo>,
    ) -> Result<Value, ApiError> {
        if let Some(user) = user
            && bosun_auth::node::node_identity(user).is_some()
        {
            let pod_name = request
                .pointer("/spec/boundObjectRef/name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty());
            let pod = match pod_name {
                Some(pod) => Some(
                    registry
                        .find_core_cached("pods", Some(namespace), pod)
                        .await?
                        .ok_or_else(|| ApiError::not_found("", "pods", pod))?,
                ),
                None => None,
            };
            crate::admission::admit_token_request(user, name, &request, pod.as_ref())?;
        }
        let account = registry
            .find_core("serviceaccounts", Some(namespace), name)
            .await?
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
        let spec = request.get("spec").cloned().unwrap_or(Value::Null);
        let expiration = spec["expirationSeconds"]
            .as_i64()
            .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
        let mut errors = Vec::new();
        if expiration < MIN_EXPIRATION_SECONDS {
            errors.push(FieldError::invalid(
                "spec.expirationSeconds",
                &json!(expiration),
                "may not specify a duration less than 10 minutes",
            ));
        }
        if expiration > 1i64 << 32 {
            errors.push(FieldError::invalid(
                "spec.expirationSeconds",
                &json!(expiration),
                "may not specify a duration larger than 2^32 seconds",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(
                "authentication.k8s.io",
                "TokenRequest",
                "",
                errors,
            ));
        }
        let audiences = bosun_api::meta::string_list(&spec["audiences"]);
        let mut bound = BoundTokenRequest {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid_of(&account).to_string(),
            audiences: if audiences.is_empty() {
                self.issuer.audiences().to_vec()
            } else {
                audiences
            },
            expiration_seconds: expiration,
            ..Default::default()
        };
        if let Some(reference) = spec.get("boundObjectRef").filter(|r| r.is_object()) {
            self.bind(registry, namespace, name, reference, &mut bound)
                .await?;
        }
        let api_audiences = self.issuer.audiences();
        if bound.pod.is_some()
            && expiration == PROJECTED_EXPIRATION_SECONDS
            && bound.audiences.iter().all(|a| api_audiences.contains(a))
        {
            bound.extended_seconds = Some(EXTENDED_EXPIRATION_SECONDS);
        }
        let issued_at = bosun_api::meta::now_unix();
        let jti = uuid::Uuid::new_v4().to_string();
        let issued = self
            .issuer
            .issue_bound(&bound, issued_at, &jti)
            .map_err(ApiError::internal)?;
        // The response reports the requested expiry even when the token lives longer.
        let reported_expiry = issued_at + expiration;
        let expires = rfc3339(reported_expiry)?;
        request["apiVersion"] = json!("authentication.k8s.io/v1");
        request["kind"] = json!("TokenRequest");
        let metadata = request
            .get("metadata")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        request["metadata"] = metadata;
        request["metadata"]["name"] = json!(name);
        request["metadata"]["namespace"] = json!(namespace);
        request["metadata"]["uid"] = json!(uid_of(&account));
        request["metadata"]["creationTimestamp"] = json!(rfc3339(issued_at)?);
        request["spec"]["audiences"] = json!(bound.audiences);
        request["spec"]["expirationSeconds"] = json!(expiration);
        if request["spec"]["boundObjectRef"].is_null() {
            request["spec"]["boundObjectRef"] = Value::Null;
        }
        request["status"] = json!({"token": issued.token, "expirationTimestamp": expires});
        Ok(request)
    }

    /// Resolves `spec.boundObjectRef`: the object must exist (with the uid given, if any) and,
    /// for a pod, run as this account.
    async fn bind(
        &self,
        registry: &Registry,
        namespace: &str,
        account: &str,
        reference: &Value,
        bound: &mut BoundTokenRequest,
    ) -> Result<(), ApiError> {
        let kind = reference["kind"].as_str().unwrap_or_default();
        let api_version = reference["apiVersion"].as_str().unwrap_or("v1");
        let name = reference["name"].as_str().unwrap_or_default();
        let uid = reference["uid"].as_str().unwrap_or_default();
        let (plural, ns) = match (api_version, kind) {
            ("v1", "Pod") => ("pods", Some(namespace)),
            ("v1", "Secret") => ("secrets", Some(namespace)),
            ("v1", "Node") => ("nodes", None),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {api_version}, Kind={kind}"
                )));
            }
        };
        let obj = registry
            .find_core(plural, ns, name)
            .await?
            .ok_or_else(|| ApiError::not_found("", plural, name))?;
        if !uid.is_empty() && uid != uid_of(&obj) {
            return Err(ApiError::conflict(
                "",
                kind,
                name,
                &format!(
                    "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
        let reference = ObjectRef {
            name: name.to_string(),
            uid: uid_of(&obj).to_string(),
        };
        match plural {
            "pods" => {
                let runs_as = obj["spec"]["serviceAccountName"]
                    .as_str()
                    .unwrap_or("default");
                if runs_as != account {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {account:?} to pod running with different serviceaccount name."
                    )));
                }
                if let Some(node) = obj["spec"]["nodeName"].as_str() {
                    let node_uid = registry
                        .find_core("nodes", None, node)
                        .await?
                        .map(|n| uid_of(&n).to_string())
                        .unwrap_or_default();
                    bound.node = Some(ObjectRef {
                        name: node.to_string(),
                        uid: node_uid,
                    });
                }
                bound.pod = Some(reference);
            }
            "secrets" => bound.secret = Some(reference),
            _ => bound.node = Some(reference),
        }
        Ok(())
    }
}

fn rfc3339(unix: i64) -> Result<String, ApiError> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn base64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s)
}
