//! Kubernetes URL paths: which endpoint a request is for.

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `/version`
    Version,
    /// `/metrics`
    Metrics,
    /// `/healthz`, `/livez`, `/readyz` and their sub-checks.
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    GroupVersion(String, String),
    /// `/openapi/v2`
    OpenApiV2,
    /// `/openapi/v3` and `/openapi/v3/...`
    OpenApiV3(String),
    /// `/.well-known/openid-configuration`: service account token issuer discovery.
    OpenIdConfiguration,
    /// `/openid/v1/jwks`: the keys service account tokens are signed with.
    Jwks,
    /// A resource path.
    Resource(ResourcePath),
    /// Anything else.
    Unknown,
}

/// A path under a group version naming a resource, collection or subresource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from `/namespaces/<ns>/...`.
    pub namespace: Option<String>,
    /// Resource plural.
    pub plural: String,
    /// Object name.
    pub name: Option<String>,
    /// Subresource.
    pub subresource: Option<String>,
    /// Reached through the legacy `/watch/` prefix.
    pub legacy_watch: bool,
}

/// Parses a path; `namespaced(group, version, plural)` tells whether a plural is a namespaced
/// resource, to tell `/namespaces/<ns>/<plural>` from `/namespaces/<name>/<subresource>`.
pub fn parse(path: &str, namespaced: impl Fn(&str, &str, &str) -> bool) -> Target {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segs.as_slice() {
        ["version"] => Target::Version,
        ["metrics"] => Target::Metrics,
        [".well-known", "openid-configuration"] => Target::OpenIdConfiguration,
        ["openid", "v1", "jwks"] => Target::Jwks,
        [h, ..] if matches!(*h, "healthz" | "livez" | "readyz") => Target::Health,
        ["api"] => Target::CoreVersions,
        ["apis"] => Target::Groups,
        ["openapi", "v2"] => Target::OpenApiV2,
        ["openapi", "v3", rest @ ..] => Target::OpenApiV3(rest.join("/")),
        ["api", v] => Target::GroupVersion(String::new(), v.to_string()),
        ["apis", g] => Target::Group(g.to_string()),
        ["apis", g, v] => Target::GroupVersion(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => resource("", v, rest, &namespaced),
        ["apis", g, v, rest @ ..] => resource(g, v, rest, &namespaced),
        _ => Target::Unknown,
    }
}

fn resource(
    group: &str,
    version: &str,
    rest: &[&str],
    namespaced: &impl Fn(&str, &str, &str) -> bool,
) -> Target {
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let mut p = ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        namespace: None,
        plural: String::new(),
        name: None,
        subresource: None,
        legacy_watch,
    };
    let rest: &[&str] = match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced(group, version, plural) => {
            p.namespace = Some(ns.to_string());
            p.plural = plural.to_string();
            tail
        }
        [plural, tail @ ..] => {
            p.plural = plural.to_string();
            tail
        }
        [] => return Target::Unknown,
    };
    match rest {
        [] => {}
        [name] => p.name = Some(name.to_string()),
        [name, sub] => {
            p.name = Some(name.to_string());
            p.subresource = Some(sub.to_string());
        }
        [name, sub, ..] if *sub == "proxy" => {
            p.name = Some(name.to_string());
            p.subresource = Some("proxy".into());
        }
        _ => return Target::Unknown,
    }
    if p.plural.is_empty() || p.name.as_deref() == Some("") {
        return Target::Unknown;
    }
    Target::Resource(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(_: &str, _: &str, plural: &str) -> bool {
        matches!(plural, "pods" | "configmaps" | "deployments")
    }

    fn res(path: &str) -> ResourcePath {
        match parse(path, ns) {
            Target::Resource(r) => r,
            t => panic!("{path}: {t:?}"),
        }
    }

    #[test]
    fn namespaced_paths_carry_their_namespace() {
        let r = res("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(
            (
                r.group.as_str(),
                r.namespace.as_deref(),
                r.plural.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("", Some("default"), "pods", Some("web"), Some("log"))
        );
        let r = res("/apis/apps/v1/namespaces/x/deployments");
        assert_eq!((r.group.as_str(), r.name), ("apps", None));
    }

    #[test]
    fn a_namespace_and_its_subresources_are_not_mistaken_for_collections() {
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let r = res("/api/v1/namespaces/kube-system/finalize");
        assert_eq!(
            (r.plural.as_str(), r.subresource.as_deref()),
            ("namespaces", Some("finalize"))
        );
        let r = res("/api/v1/pods");
        assert_eq!((r.plural.as_str(), r.namespace), ("pods", None));
    }

    #[test]
    fn legacy_watch_paths_are_recognised() {
        let r = res("/api/v1/watch/namespaces/default/pods");
        assert!(r.legacy_watch);
        assert_eq!(r.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(
            parse("/apis/apps/v1", ns),
            Target::GroupVersion("apps".into(), "v1".into())
        );
        assert_eq!(
            parse("/api/v1", ns),
            Target::GroupVersion("".into(), "v1".into())
        );
        assert_eq!(parse("/apis", ns), Target::Groups);
        assert_eq!(parse("/livez/ping", ns), Target::Health);
        assert_eq!(parse("/nope", ns), Target::Unknown);
    }
}
