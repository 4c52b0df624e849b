//! Bootstrap tokens: short-lived `<id>.<secret>` bearer tokens kept as
//! `bootstrap.kubernetes.io/token` Secrets named `bootstrap-token-<id>` in kube-system, with
//! which a new node authenticates before it has credentials of its own
//! (`system:bootstrap:<id>` in `system:bootstrappers`). Upstream's bootstrap token
//! authenticator; the API server looks the Secret up and this module judges it.

use base64::Engine;
use serde_json::Value;

use crate::user::UserInfo;

/// The namespace bootstrap token Secrets live in.
pub const NAMESPACE: &str = "kube-system";
/// The Secret type of bootstrap tokens.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The group every bootstrap token user is in.
pub const GROUP: &str = "system:bootstrappers";

/// Splits a bearer token of the bootstrap form (`[a-z0-9]{6}.[a-z0-9]{16}`) into id and
/// secret; `None` for any other token.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let valid = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (valid(id, 6) && valid(secret, 16)).then_some((id, secret))
}

/// The name of the Secret holding token `id`.
pub fn secret_name(id: &str) -> String {
    format!("bootstrap-token-{id}")
}

fn data(secret: &Value, key: &str) -> Option<String> {
    let encoded = secret["data"][key].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// When a token whose Secret says `expiration` (RFC 3339) expires, in Unix seconds; `None`
/// when the value is not a time (such a token is refused and cleaned up).
pub fn expires_at(expiration: &str) -> Option<i64> {
    time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Compares without leaking where two strings differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The user token `id.token_secret` authenticates as, given its Secret as stored, at `now`
/// (Unix seconds); `None` when the Secret does not vouch for it: wrong type, being deleted,
/// another secret, not meant for authentication, expired, or with extra groups outside
/// `system:bootstrappers:`.
pub fn authenticate(id: &str, token_secret: &str, secret: &Value, now: i64) -> Option<UserInfo> {
    if secret["type"] != SECRET_TYPE || !secret["metadata"]["deletionTimestamp"].is_null() {
        return None;
    }
    if data(secret, "token-id").as_deref() != Some(id) {
        return None;
    }
    if !constant_time_eq(&data(secret, "token-secret")?, token_secret) {
        return None;
    }
    if data(secret, "usage-bootstrap-authentication").as_deref() != Some("true") {
        return None;
    }
    if let Some(expiration) = data(secret, "expiration")
        && expires_at(&expiration)? <= now
    {
        return None;
    }
    let mut groups = vec![GROUP.to_string()];
    if let Some(extra) = data(secret, "auth-extra-groups") {
        for group in extra.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            let valid = group
                .strip_prefix("system:bootstrappers:")
                .is_some_and(|rest| !rest.is_empty());
            if !valid {
                return None;
            }
            if !groups.iter().any(|g| g == group) {
                groups.push(group.to_string());
            }
        }
    }
    Some(UserInfo {
        name: format!("system:bootstrap:{id}"),
        groups,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret(extra: &[(&str, &str)]) -> Value {
        let mut data = serde_json::Map::new();
        for (k, v) in [
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "true"),
        ]
        .iter()
        .chain(extra)
        {
            data.insert(k.to_string(), json!(b64(v)));
        }
        json!({"type": SECRET_TYPE, "metadata": {"name": "bootstrap-token-abcdef"}, "data": data})
    }

    #[test]
    fn only_tokens_of_the_bootstrap_form_are_parsed() {
        assert_eq!(
            parse("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        for token in [
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcdef0123456789abcdef",
            "abc.def",
        ] {
            assert_eq!(parse(token), None, "{token}");
        }
    }

    #[test]
    fn a_valid_token_names_its_bootstrap_user_and_groups() {
        let user = authenticate(
            "abcdef",
            "0123456789abcdef",
            &secret(&[(
                "auth-extra-groups",
                "system:bootstrappers:worker,system:bootstrappers:worker",
            )]),
            0,
        )
        .unwrap();
        assert_eq!(user.name, "system:bootstrap:abcdef");
        assert_eq!(
            user.groups,
            ["system:bootstrappers", "system:bootstrappers:worker"]
        );
    }

    #[test]
    fn wrong_expired_unusable_or_overreaching_tokens_are_refused() {
        let now = 1_800_000_000; // 2027-01-15
        assert!(authenticate("abcdef", "ffffffffffffffff", &secret(&[]), now).is_none());
        assert!(
            authenticate(
                "abcdef",
                "0123456789abcdef",
                &secret(&[("expiration", "2026-01-01T00:00:00Z")]),
                now
            )
            .is_none()
        );
        assert!(
            authenticate(
                "abcdef",
                "0123456789abcdef",
                &secret(&[("expiration", "2030-01-01T00:00:00Z")]),
                now
            )
            .is_some()
        );
        let mut unusable = secret(&[]);
        unusable["data"]["usage-bootstrap-authentication"] = json!(b64("false"));
        assert!(authenticate("abcdef", "0123456789abcdef", &unusable, now).is_none());
        assert!(
            authenticate(
                "abcdef",
                "0123456789abcdef",
                &secret(&[("auth-extra-groups", "system:masters")]),
                now
            )
            .is_none()
        );
        let mut deleting = secret(&[]);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(authenticate("abcdef", "0123456789abcdef", &deleting, now).is_none());
        let mut opaque = secret(&[]);
        opaque["type"] = json!("Opaque");
        assert!(authenticate("abcdef", "0123456789abcdef", &opaque, now).is_none());
    }
}
