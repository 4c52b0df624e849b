//! Whether one RBAC policy rule covers a request: upstream's evaluation helpers.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::attributes::Attributes;

const ALL: &str = "*";

/// Whether `rule` allows the request described by `attributes`.
pub fn rule_allows(attributes: &Attributes, rule: &PolicyRule) -> bool {
    if !verb_matches(rule, &attributes.verb) {
        return false;
    }
    if attributes.resource_request {
        api_group_matches(rule, &attributes.api_group)
            && resource_matches(
                rule,
                &attributes.combined_resource(),
                &attributes.subresource,
            )
            && resource_name_matches(rule, &attributes.name)
    } else {
        non_resource_url_matches(rule, &attributes.path)
    }
}

/// The rule names the verb or `*`.
pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || v == verb)
}

/// The rule names the API group or `*`.
pub fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    list(&rule.api_groups)
        .iter()
        .any(|g| g == ALL || g == group)
}

/// The rule names `resource/subresource` (or the resource alone when there is no
/// subresource), `*`, or `*/subresource`.
pub fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    list(&rule.resources).iter().any(|r| {
        r == ALL
            || r == combined
            || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
    })
}

/// The rule names no resources (so all), or this one.
pub fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    let names = list(&rule.resource_names);
    names.is_empty() || names.iter().any(|n| n == name)
}

/// The rule names the path, `*`, or a prefix of it ending in `*`.
pub fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    list(&rule.non_resource_urls).iter().any(|url| {
        url == ALL
            || url == path
            || url
                .strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix.trim_end_matches('*')))
    })
}

fn list(field: &Option<Vec<String>>) -> &[String] {
    field.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::UserInfo;

    fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
        PolicyRule {
            api_groups: strings(groups),
            resources: strings(resources),
            resource_names: if names.is_empty() {
                None
            } else {
                strings(names)
            },
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            non_resource_urls: None,
        }
    }

    fn url_rule(urls: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            non_resource_urls: Some(urls.iter().map(|s| s.to_string()).collect()),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn request(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes::resource(UserInfo::default(), verb, group, resource, "ns", name)
            .with_subresource(sub)
    }

    #[test]
    fn resource_rules_match_as_upstream() {
        let cases: &[(&str, PolicyRule, Attributes, bool)] = &[
            (
                "exact",
                rule(&[""], &["pods"], &[], &["get"]),
                request("get", "", "pods", "", "p"),
                true,
            ),
            (
                "other verb",
                rule(&[""], &["pods"], &[], &["get"]),
                request("list", "", "pods", "", ""),
                false,
            ),
            (
                "verb wildcard",
                rule(&[""], &["pods"], &[], &["*"]),
                request("delete", "", "pods", "", "p"),
                true,
            ),
            (
                "other group",
                rule(&["apps"], &["pods"], &[], &["get"]),
                request("get", "", "pods", "", "p"),
                false,
            ),
            (
                "group wildcard",
                rule(&["*"], &["deployments"], &[], &["get"]),
                request("get", "apps", "deployments", "", "d"),
                true,
            ),
            (
                "resource wildcard",
                rule(&[""], &["*"], &[], &["get"]),
                request("get", "", "pods", "log", "p"),
                true,
            ),
            (
                "resource does not cover subresource",
                rule(&[""], &["pods"], &[], &["get"]),
                request("get", "", "pods", "log", "p"),
                false,
            ),
            (
                "named subresource",
                rule(&[""], &["pods/log"], &[], &["get"]),
                request("get", "", "pods", "log", "p"),
                true,
            ),
            (
                "any resource's subresource",
                rule(&[""], &["*/status"], &[], &["update"]),
                request("update", "", "pods", "status", "p"),
                true,
            ),
            (
                "*/sub needs that subresource",
                rule(&[""], &["*/status"], &[], &["update"]),
                request("update", "", "pods", "", "p"),
                false,
            ),
            (
                "*/sub is not a suffix match",
                rule(&[""], &["*/status"], &[], &["update"]),
                request("update", "", "pods", "xstatus", "p"),
                false,
            ),
            (
                "resource name listed",
                rule(&[""], &["configmaps"], &["a"], &["get"]),
                request("get", "", "configmaps", "", "a"),
                true,
            ),
            (
                "resource name not listed",
                rule(&[""], &["configmaps"], &["a"], &["get"]),
                request("get", "", "configmaps", "", "b"),
                false,
            ),
            (
                "names never cover lists",
                rule(&[""], &["configmaps"], &["a"], &["list"]),
                request("list", "", "configmaps", "", ""),
                false,
            ),
            (
                "resource rules never cover paths",
                rule(&["*"], &["*"], &[], &["*"]),
                Attributes::non_resource(UserInfo::default(), "get", "/healthz"),
                false,
            ),
        ];
        for (what, rule, attrs, want) in cases {
            assert_eq!(rule_allows(attrs, rule), *want, "{what}");
        }
    }

    #[test]
    fn non_resource_rules_match_as_upstream() {
        let get = |path: &str| Attributes::non_resource(UserInfo::default(), "get", path);
        let cases: &[(&str, PolicyRule, &str, bool)] = &[
            ("exact", url_rule(&["/healthz"], &["get"]), "/healthz", true),
            (
                "other path",
                url_rule(&["/healthz"], &["get"]),
                "/livez",
                false,
            ),
            ("wildcard", url_rule(&["*"], &["get"]), "/anything", true),
            (
                "prefix",
                url_rule(&["/healthz/*"], &["get"]),
                "/healthz/etcd",
                true,
            ),
            (
                "prefix needs the slash",
                url_rule(&["/healthz/*"], &["get"]),
                "/healthz",
                false,
            ),
            (
                "bare prefix",
                url_rule(&["/api*"], &["get"]),
                "/apis/apps",
                true,
            ),
            (
                "wrong verb",
                url_rule(&["/healthz"], &["post"]),
                "/healthz",
                false,
            ),
        ];
        for (what, rule, path, want) in cases {
            assert_eq!(rule_allows(&get(path), rule), *want, "{what}");
        }
    }
}
