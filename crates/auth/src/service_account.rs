//! ServiceAccount tokens: signed JWTs naming a service account, as upstream's
//! `pkg/serviceaccount` issues and checks them.
//!
//! Two shapes exist. Bound tokens (the TokenRequest API, projected volumes) carry the public
//! claims `iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti` and a private `kubernetes.io` claim
//! naming the namespace, the account and the object the token is bound to (pod, secret or
//! node), each with its uid. Legacy tokens (Secrets of type
//! `kubernetes.io/service-account-token`) carry `iss: kubernetes/serviceaccount`, never expire and
//! name the account and the Secret with `kubernetes.io/serviceaccount/...` claims.
//!
//! This module only signs and checks signatures, times and audiences. Whether the account, the
//! Secret or the bound object still exists is the API server's question: [`TokenClaims`] lists
//! what it must look up before the token's [`UserInfo`] may be used.
//!
//! Keys are ECDSA P-256 (ES256), which upstream accepts for `--service-account-key-file`; signing
//! and checking go through the `jsonwebtoken` crate (ring underneath).

use std::collections::BTreeMap;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::user::{
    ALL_AUTHENTICATED, ALL_SERVICE_ACCOUNTS, UserInfo, service_account_namespace_group,
    service_account_username,
};

/// The issuer of legacy Secret-based tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// The issuer (and default audience) of bound tokens, as k3s and kubeadm configure it.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Extra key naming the pod a bound token belongs to.
pub const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
/// Extra key with that pod's uid.
pub const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";
/// Extra key naming the node a bound token's pod runs on.
pub const EXTRA_NODE_NAME: &str = "authentication.kubernetes.io/node-name";
/// Extra key with that node's uid.
pub const EXTRA_NODE_UID: &str = "authentication.kubernetes.io/node-uid";
/// Extra key identifying the credential (`JTI=<id>`), for audit.
pub const EXTRA_CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

/// Clock skew tolerated on `exp`, `nbf` and `iat`, as upstream's `jwt.DefaultLeeway`.
const LEEWAY_SECONDS: i64 = 60;

/// Why a token was not accepted. The client only ever sees 401; this is for the log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT this server signed.
    #[error("invalid signature or malformed token: {0}")]
    Invalid(String),
    /// Signed by us but for another issuer.
    #[error("token issuer {0:?} is not accepted")]
    Issuer(String),
    /// Past its expiry.
    #[error("service account token has expired")]
    Expired,
    /// Not valid yet.
    #[error("service account token is not valid yet")]
    NotYetValid,
    /// Meant for another audience.
    #[error("token audiences {0:?} do not intersect the API audiences")]
    Audience(Vec<String>),
    /// Lacks a claim the shape requires.
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
}

/// A name and uid pair, as the `kubernetes.io` claim holds references.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The object's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The object's uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// The private `kubernetes.io` claim of a bound token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    /// The account's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The account.
    #[serde(default)]
    pub serviceaccount: ObjectRef,
    /// The pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    /// The Secret the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    /// The node the token is bound to, or its pod runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    /// When a token with an extended lifetime should have been refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

/// Every claim either shape may carry; unknown claims are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct WireClaims {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    iss: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sub: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aud: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    jti: String,
    #[serde(
        rename = "kubernetes.io",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kubernetes: Option<KubernetesClaim>,
    #[serde(
        rename = "kubernetes.io/serviceaccount/namespace",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    legacy_namespace: String,
    #[serde(
        rename = "kubernetes.io/serviceaccount/secret.name",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    legacy_secret_name: String,
    #[serde(
        rename = "kubernetes.io/serviceaccount/service-account.name",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    legacy_service_account_name: String,
    #[serde(
        rename = "kubernetes.io/serviceaccount/service-account.uid",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    legacy_service_account_uid: String,
}

/// What a valid signature vouches for, before the API server checks the objects still exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The account's namespace.
    pub namespace: String,
    /// The account's name.
    pub name: String,
    /// The account's uid as signed (legacy tokens may lack it).
    pub uid: String,
    /// The shape and what it is bound to.
    pub binding: TokenBinding,
    /// The token id (bound tokens).
    pub jti: String,
    /// The accepted audiences the token was issued for (bound tokens).
    pub audiences: Vec<String>,
}

/// What a token is tied to, whose deletion revokes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenBinding {
    /// A legacy token, valid while its Secret exists and still holds it.
    LegacySecret {
        /// The Secret's name.
        name: String,
    },
    /// A bound token, valid while the account and the object it names exist with those uids.
    Bound {
        /// The pod it is bound to.
        pod: Option<ObjectRef>,
        /// The Secret it is bound to.
        secret: Option<ObjectRef>,
        /// The node it is bound to (or its pod's node).
        node: Option<ObjectRef>,
    },
}

impl TokenClaims {
    /// The user the token authenticates as, with upstream's groups and extra.
    pub fn user(&self) -> UserInfo {
        let mut user = UserInfo {
            name: service_account_username(&self.namespace, &self.name),
            uid: self.uid.clone(),
            groups: vec![
                ALL_SERVICE_ACCOUNTS.to_string(),
                service_account_namespace_group(&self.namespace),
                ALL_AUTHENTICATED.to_string(),
            ],
            extra: BTreeMap::new(),
        };
        if let TokenBinding::Bound { pod, node, .. } = &self.binding {
            let mut put = |key: &str, value: &str| {
                if !value.is_empty() {
                    user.extra.insert(key.to_string(), vec![value.to_string()]);
                }
            };
            if let Some(pod) = pod {
                put(EXTRA_POD_NAME, &pod.name);
                put(EXTRA_POD_UID, &pod.uid);
            }
            if let Some(node) = node {
                put(EXTRA_NODE_NAME, &node.name);
                put(EXTRA_NODE_UID, &node.uid);
            }
            if !self.jti.is_empty() {
                put(EXTRA_CREDENTIAL_ID, &format!("JTI={}", self.jti));
            }
        }
        user
    }
}

/// What a bound token is asked for (TokenRequest's spec, resolved).
#[derive(Debug, Clone, Default)]
pub struct BoundTokenRequest {
    /// The account's namespace.
    pub namespace: String,
    /// The account's name.
    pub name: String,
    /// The account's uid.
    pub uid: String,
    /// Audiences; empty means the API audiences.
    pub audiences: Vec<String>,
    /// Lifetime in seconds.
    pub expiration_seconds: i64,
    /// The pod it is bound to.
    pub pod: Option<ObjectRef>,
    /// The Secret it is bound to.
    pub secret: Option<ObjectRef>,
    /// The node it is bound to.
    pub node: Option<ObjectRef>,
    /// When set, the token lives this long instead and carries `warnafter` at the requested
    /// expiry (upstream's extended expiration for projected tokens).
    pub extended_seconds: Option<i64>,
}

/// A token issued by [`TokenIssuer::issue_bound`].
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Unix seconds at which it expires.
    pub expires_at: i64,
}

/// Signs and checks service account tokens with one key pair.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    key_id: String,
    issuer: String,
    audiences: Vec<String>,
    public_der: Vec<u8>,
    /// Claims of tokens whose signature was already checked, by the token's SHA-256: an ES256
    /// verification costs more than the rest of a request's authorization, and clients send
    /// the same token again and again. Times, audiences and the objects named are still
    /// checked on every use, so a cached token expires and is revoked as any other.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], WireClaims>>,
}

/// Signature-checked tokens remembered at most; the cache starts over when full.
const VERIFIED_CACHE: usize = 4096;

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("key_id", &self.key_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer from an ECDSA P-256 private key (PKCS#8 PEM) and its public key (SPKI DER).
    /// The key id is upstream's: base64url of the SHA-256 of the public key's DER.
    pub fn new(
        private_key_pem: &str,
        public_key_der: &[u8],
        issuer: &str,
        audiences: Vec<String>,
    ) -> Result<Self, String> {
        let encoding = EncodingKey::from_ec_pem(private_key_pem.as_bytes())
            .map_err(|e| format!("service account signing key: {e}"))?;
        // ring wants the raw point, which is the tail of the SPKI for P-256 (65 bytes).
        let point = public_key_der
            .get(public_key_der.len().saturating_sub(65)..)
            .ok_or("service account public key is too short")?;
        let decoding = DecodingKey::from_ec_der(point);
        let digest = ring::digest::digest(&ring::digest::SHA256, public_key_der);
        let key_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        Ok(TokenIssuer {
            encoding,
            decoding,
            key_id,
            issuer: issuer.to_string(),
            audiences: if audiences.is_empty() {
                vec![issuer.to_string()]
            } else {
                audiences
            },
            public_der: public_key_der.to_vec(),
            verified: Default::default(),
        })
    }

    /// The token's claims once its signature is known good.
    fn signed_claims(&self, token: &str) -> Result<WireClaims, TokenError> {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(
            ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref(),
        );
        if let Some(claims) = self
            .verified
            .lock()
            .expect("verified tokens lock")
            .get(&digest)
        {
            return Ok(claims.clone());
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<WireClaims>(token, &self.decoding, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?
            .claims;
        let mut verified = self.verified.lock().expect("verified tokens lock");
        if verified.len() >= VERIFIED_CACHE {
            verified.clear();
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    /// The issuer bound tokens carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences the API server accepts, and the default for bound tokens.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The public key as a JSON Web Key Set (`/openid/v1/jwks`), so that other parties can
    /// check tokens this server issued.
    pub fn jwks(&self) -> serde_json::Value {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // An uncompressed P-256 point ends the SPKI: 0x04, then X and Y of 32 bytes each.
        let point = &self.public_der[self.public_der.len().saturating_sub(64)..];
        serde_json::json!({"keys": [{
            "use": "sig",
            "kty": "EC",
            "kid": self.key_id,
            "crv": "P-256",
            "alg": "ES256",
            "x": engine.encode(&point[..32.min(point.len())]),
            "y": engine.encode(point.get(32..).unwrap_or_default()),
        }]})
    }

    /// The OpenID provider configuration (`/.well-known/openid-configuration`) pointing at
    /// `jwks_uri`.
    pub fn openid_configuration(&self, jwks_uri: &str) -> serde_json::Value {
        serde_json::json!({
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }

    fn sign(&self, claims: &WireClaims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = None;
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// A bound token, issued at `now` (Unix seconds) with `jti` as its id.
    pub fn issue_bound(
        &self,
        request: &BoundTokenRequest,
        now: i64,
        jti: &str,
    ) -> Result<IssuedToken, String> {
        let lifetime = request
            .extended_seconds
            .unwrap_or(request.expiration_seconds);
        let expires_at = now + lifetime;
        let claims = WireClaims {
            iss: self.issuer.clone(),
            sub: service_account_username(&request.namespace, &request.name),
            aud: if request.audiences.is_empty() {
                self.audiences.clone()
            } else {
                request.audiences.clone()
            },
            exp: Some(expires_at),
            iat: Some(now),
            nbf: Some(now),
            jti: jti.to_string(),
            kubernetes: Some(KubernetesClaim {
                namespace: request.namespace.clone(),
                serviceaccount: ObjectRef {
                    name: request.name.clone(),
                    uid: request.uid.clone(),
                },
                pod: request.pod.clone(),
                secret: request.secret.clone(),
                node: request.node.clone(),
                warnafter: request
                    .extended_seconds
                    .map(|_| now + request.expiration_seconds),
            }),
            ..Default::default()
        };
        Ok(IssuedToken {
            token: self.sign(&claims)?,
            expires_at,
        })
    }

    /// A legacy token for the Secret `secret` of the account `namespace/name` (uid `uid`).
    pub fn issue_legacy(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        secret: &str,
    ) -> Result<String, String> {
        self.sign(&WireClaims {
            iss: LEGACY_ISSUER.to_string(),
            sub: service_account_username(namespace, name),
            legacy_namespace: namespace.to_string(),
            legacy_secret_name: secret.to_string(),
            legacy_service_account_name: name.to_string(),
            legacy_service_account_uid: uid.to_string(),
            ..Default::default()
        })
    }

    /// Checks a token's signature, issuer, times (at `now`, Unix seconds) and audiences, and
    /// says what it claims. `Ok(None)` means the token is not a JWT at all, so another
    /// authenticator may know it.
    pub fn verify(&self, token: &str, now: i64) -> Result<Option<TokenClaims>, TokenError> {
        self.verify_for(token, now, &self.audiences)
    }

    /// As [`Self::verify`], accepting bound tokens issued for any of `audiences`.
    pub fn verify_for(
        &self,
        token: &str,
        now: i64,
        audiences: &[String],
    ) -> Result<Option<TokenClaims>, TokenError> {
        if token.split('.').count() != 3 {
            return Ok(None);
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        if header.alg != Algorithm::ES256 {
            return Err(TokenError::Invalid(format!(
                "unexpected algorithm {:?}",
                header.alg
            )));
        }
        let claims = self.signed_claims(token)?;
        if claims.iss == LEGACY_ISSUER {
            return legacy_claims(claims).map(Some);
        }
        if claims.iss != self.issuer {
            return Err(TokenError::Issuer(claims.iss));
        }
        let exp = claims.exp.ok_or(TokenError::MissingClaim("exp"))?;
        if now > exp + LEEWAY_SECONDS {
            return Err(TokenError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) {
            return Err(TokenError::NotYetValid);
        }
        let shared: Vec<String> = claims
            .aud
            .iter()
            .filter(|a| audiences.contains(a))
            .cloned()
            .collect();
        if shared.is_empty() {
            return Err(TokenError::Audience(claims.aud));
        }
        let private = claims
            .kubernetes
            .ok_or(TokenError::MissingClaim("kubernetes.io"))?;
        if private.namespace.is_empty() || private.serviceaccount.name.is_empty() {
            return Err(TokenError::MissingClaim("kubernetes.io.serviceaccount"));
        }
        if claims.sub != service_account_username(&private.namespace, &private.serviceaccount.name)
        {
            return Err(TokenError::Invalid(
                "sub does not name the service account".into(),
            ));
        }
        Ok(Some(TokenClaims {
            namespace: private.namespace,
            name: private.serviceaccount.name,
            uid: private.serviceaccount.uid,
            binding: TokenBinding::Bound {
                pod: private.pod,
                secret: private.secret,
                node: private.node,
            },
            jti: claims.jti,
            audiences: shared,
        }))
    }
}

fn legacy_claims(claims: WireClaims) -> Result<TokenClaims, TokenError> {
    if claims.legacy_namespace.is_empty() {
        return Err(TokenError::MissingClaim(
            "kubernetes.io/serviceaccount/namespace",
        ));
    }
    if claims.legacy_secret_name.is_empty() {
        return Err(TokenError::MissingClaim(
            "kubernetes.io/serviceaccount/secret.name",
        ));
    }
    if claims.legacy_service_account_name.is_empty() {
        return Err(TokenError::MissingClaim(
            "kubernetes.io/serviceaccount/service-account.name",
        ));
    }
    if claims.sub
        != service_account_username(
            &claims.legacy_namespace,
            &claims.legacy_service_account_name,
        )
    {
        return Err(TokenError::Invalid(
            "sub does not name the service account".into(),
        ));
    }
    Ok(TokenClaims {
        namespace: claims.legacy_namespace,
        name: claims.legacy_service_account_name,
        uid: claims.legacy_service_account_uid,
        binding: TokenBinding::LegacySecret {
            name: claims.legacy_secret_name,
        },
        jti: String::new(),
        audiences: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> TokenIssuer {
        let key = rcgen::KeyPair::generate().unwrap();
        TokenIssuer::new(
            &key.serialize_pem(),
            &rcgen::PublicKeyData::subject_public_key_info(&key),
            DEFAULT_ISSUER,
            Vec::new(),
        )
        .unwrap()
    }

    fn request() -> BoundTokenRequest {
        BoundTokenRequest {
            namespace: "dev".into(),
            name: "robot".into(),
            uid: "sa-uid".into(),
            expiration_seconds: 3600,
            pod: Some(ObjectRef {
                name: "web".into(),
                uid: "pod-uid".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_bound_token_names_its_account_and_pod() {
        let issuer = issuer();
        let token = issuer.issue_bound(&request(), 1_000, "abc").unwrap();
        assert_eq!(token.expires_at, 4_600);
        let claims = issuer.verify(&token.token, 1_100).unwrap().unwrap();
        let user = claims.user();
        assert_eq!(user.name, "system:serviceaccount:dev:robot");
        assert_eq!(user.uid, "sa-uid");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:dev",
                "system:authenticated"
            ]
        );
        assert_eq!(user.extra[EXTRA_POD_NAME], ["web"]);
        assert_eq!(user.extra[EXTRA_CREDENTIAL_ID], ["JTI=abc"]);
    }

    #[test]
    fn an_expired_bound_token_is_refused_after_the_leeway() {
        let issuer = issuer();
        let token = issuer.issue_bound(&request(), 1_000, "abc").unwrap();
        assert!(issuer.verify(&token.token, 4_650).is_ok());
        // Its signature is now remembered; expiry is still checked on every use.
        assert_eq!(
            issuer.verify(&token.token, 4_661).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn a_token_for_another_audience_is_refused() {
        let issuer = issuer();
        let mut req = request();
        req.audiences = vec!["vault".into()];
        let token = issuer.issue_bound(&req, 1_000, "abc").unwrap();
        assert!(matches!(
            issuer.verify(&token.token, 1_000),
            Err(TokenError::Audience(_))
        ));
    }

    #[test]
    fn a_token_signed_by_another_key_is_refused() {
        let token = issuer().issue_bound(&request(), 1_000, "abc").unwrap();
        assert!(matches!(
            issuer().verify(&token.token, 1_000),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let issuer = issuer();
        let token = issuer.issue_bound(&request(), 1_000, "abc").unwrap().token;
        let parts: Vec<&str> = token.split('.').collect();
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(engine.decode(parts[1]).unwrap()).unwrap();
        let forged = engine.encode(payload.replace("robot", "admin"));
        let token = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert!(matches!(
            issuer.verify(&token, 1_000),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn a_legacy_token_names_its_secret_and_never_expires() {
        let issuer = issuer();
        let token = issuer
            .issue_legacy("dev", "robot", "sa-uid", "robot-token")
            .unwrap();
        let claims = issuer.verify(&token, i64::MAX / 2).unwrap().unwrap();
        assert_eq!(
            claims.binding,
            TokenBinding::LegacySecret {
                name: "robot-token".into()
            }
        );
        assert_eq!(claims.user().name, "system:serviceaccount:dev:robot");
        assert!(claims.user().extra.is_empty());
    }

    #[test]
    fn a_projected_token_with_extended_expiry_warns_at_the_requested_time() {
        let issuer = issuer();
        let mut req = request();
        req.expiration_seconds = 3607;
        req.extended_seconds = Some(365 * 24 * 3600);
        let token = issuer.issue_bound(&req, 0, "abc").unwrap();
        assert_eq!(token.expires_at, 365 * 24 * 3600);
        assert!(issuer.verify(&token.token, 30 * 24 * 3600).is_ok());
    }

    #[test]
    fn something_that_is_not_a_jwt_is_left_to_other_authenticators() {
        assert_eq!(issuer().verify("abcdef", 0).unwrap(), None);
    }
}
