//! The review resources, answered and never stored: SubjectAccessReview and its local and self
//! forms, SelfSubjectRulesReview (`kubectl auth can-i [--list]`), SelfSubjectReview
//! (`kubectl auth whoami`) and TokenReview (whom a bearer token names).

use bosun_api::{ApiError, FieldError};
use bosun_auth::rbac::RbacAuthorizer;
use bosun_auth::{Attributes, Authorizer, UserInfo};
use serde_json::{Value, json};

use crate::authz::RbacIndex;
use crate::rest::ApiState;

/// Whether `group`/`plural` is a review answered by [`answer`].
pub fn is_review(group: &str, plural: &str) -> bool {
    matches!(
        (group, plural),
        (
            "authorization.k8s.io",
            "subjectaccessreviews"
                | "localsubjectaccessreviews"
                | "selfsubjectaccessreviews"
                | "selfsubjectrulesreviews"
        ) | (
            "authentication.k8s.io",
            "selfsubjectreviews" | "tokenreviews"
        )
    )
}

/// Whom a token names, for the audiences the review asks about (the API's when it names none).
async fn token_review(state: &ApiState, token: &str, spec: &Value) -> Result<Value, ApiError> {
    let asked = bosun_api::meta::string_list(&spec["audiences"]);
    let refused = json!({"authenticated": false, "error": "invalid bearer token"});
    match state
        .authenticator
        .authenticate_token_for(&state.registry, token, &asked)
        .await
    {
        Ok(Some((user, shared))) => {
            Ok(json!({"authenticated": true, "user": user_info_json(&user), "audiences": shared}))
        }
        Ok(None) => Ok(refused),
        Err(e) if e.code == 401 => Ok(refused),
        Err(e) => Err(e),
    }
}

/// The review with its status filled in, for `user` who posted it (in `namespace` for the local
/// form).
pub async fn answer(
    state: &ApiState,
    plural: &str,
    namespace: Option<&str>,
    user: &UserInfo,
    mut review: Value,
) -> Result<Value, ApiError> {
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let status = match plural {
        "selfsubjectreviews" => json!({"userInfo": user_info_json(user)}),
        "tokenreviews" => {
            let token = spec
                .get("token")
                .and_then(Value::as_str)
                .unwrap_or_default();
            token_review(state, token, &spec).await?
        }
        "selfsubjectrulesreviews" => {
            let namespace = spec
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            rules_review(&state.policy, user, namespace)
        }
        "selfsubjectaccessreviews" => access_review(state, user.clone(), &spec)?,
        "subjectaccessreviews" | "localsubjectaccessreviews" => {
            let subject = subject_of(&spec)?;
            if plural == "localsubjectaccessreviews" {
                let asked = spec
                    .pointer("/resourceAttributes/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if Some(asked) != namespace {
                    return Err(ApiError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {}",
                        namespace.unwrap_or_default()
                    )));
                }
            }
            access_review(state, subject, &spec)?
        }
        _ => return Err(ApiError::no_such_path()),
    };
    review["status"] = status;
    if review.get("metadata").is_none_or(Value::is_null) {
        review["metadata"] = json!({});
    }
    review["metadata"]["creationTimestamp"] = Value::Null;
    Ok(review)
}

fn user_info_json(user: &UserInfo) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    info
}

/// The user a SubjectAccessReview asks about.
fn subject_of(spec: &Value) -> Result<UserInfo, ApiError> {
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let name = spec
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let groups = strings(spec.get("groups"));
    if name.is_empty() && groups.is_empty() {
        return Err(ApiError::invalid(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "",
            vec![FieldError::invalid(
                "spec.user",
                &json!(""),
                "at least one of user or group must be specified",
            )],
        ));
    }
    let extra = spec
        .get("extra")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), strings(Some(v))))
                .collect()
        })
        .unwrap_or_default();
    Ok(UserInfo {
        name,
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        groups,
        extra,
    })
}

fn access_review(state: &ApiState, user: UserInfo, spec: &Value) -> Result<Value, ApiError> {
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let attributes = if let Some(ra) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        let mut a = Attributes::resource(
            user,
            &text(ra, "verb"),
            &text(ra, "group"),
            &text(ra, "resource"),
            &text(ra, "namespace"),
            &text(ra, "name"),
        )
        .with_subresource(&text(ra, "subresource"));
        a.api_version = text(ra, "version");
        a
    } else if let Some(nra) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        Attributes::non_resource(user, &text(nra, "verb"), &text(nra, "path"))
    } else {
        return Err(ApiError::invalid(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "",
            vec![FieldError::required(
                "spec.resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )],
        ));
    };
    let decision = state.authorizer.authorize(&attributes);
    let mut status = json!({"allowed": decision.allowed()});
    let reason = if decision.allowed() {
        RbacAuthorizer::new(state.policy.clone())
            .allowed_by(&attributes)
            .unwrap_or_default()
    } else {
        decision.reason().to_string()
    };
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    Ok(status)
}

fn rules_review(policy: &std::sync::Arc<RbacIndex>, user: &UserInfo, namespace: &str) -> Value {
    let resolved = RbacAuthorizer::new(policy.clone()).rules_for(user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for (_, rule) in &resolved.rules {
        if rule.resources.as_ref().is_some_and(|r| !r.is_empty()) {
            let mut r = json!({"verbs": rule.verbs, "apiGroups": rule.api_groups, "resources": rule.resources});
            if let Some(names) = rule.resource_names.as_ref().filter(|n| !n.is_empty()) {
                r["resourceNames"] = json!(names);
            }
            resource_rules.push(r);
        }
        if let Some(urls) = rule.non_resource_urls.as_ref().filter(|u| !u.is_empty()) {
            non_resource_rules.push(json!({"verbs": rule.verbs, "nonResourceURLs": urls}));
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !resolved.errors.is_empty(),
    });
    if !resolved.errors.is_empty() {
        status["evaluationError"] = json!(resolved.errors.join(", "));
    }
    status
}
