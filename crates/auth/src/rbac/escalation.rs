//! Escalation prevention: a user may only grant rules they already hold. Upstream's
//! `validation.Covers` and `ConfirmNoEscalation`, used when Roles and bindings are written by
//! someone without the `escalate` or `bind` verb.

use k8s_openapi::api::rbac::v1::PolicyRule;

const ALL: &str = "*";

/// The parts of `requested` not covered by any of `owner`: empty when granting `requested` is no
/// escalation. Each requested rule is split into atomic rules (one verb, group, resource and
/// name, or one verb and URL) that must each be covered by one owner rule.
pub fn uncovered(owner: &[PolicyRule], requested: &[PolicyRule]) -> Vec<PolicyRule> {
    requested
        .iter()
        .flat_map(breakdown)
        .filter(|atom| !owner.iter().any(|rule| rule_covers(rule, atom)))
        .collect()
}

/// Upstream's compact rendering of a rule in escalation messages, e.g.
/// `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`.
pub fn compact_string(rule: &PolicyRule) -> String {
    let quoted = |values: &[String]| {
        let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        format!("[{}]", items.join(" "))
    };
    let mut parts = Vec::new();
    for (label, values) in [
        ("APIGroups", rule.api_groups.as_deref()),
        ("Resources", rule.resources.as_deref()),
        ("NonResourceURLs", rule.non_resource_urls.as_deref()),
        ("ResourceNames", rule.resource_names.as_deref()),
        ("Verbs", Some(rule.verbs.as_slice())),
    ] {
        if let Some(values) = values.filter(|v| !v.is_empty()) {
            parts.push(format!("{label}:{}", quoted(values)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| Some(vec![s.clone()]);
    let mut atoms = Vec::new();
    for group in rule.api_groups.iter().flatten() {
        for resource in rule.resources.iter().flatten() {
            for verb in &rule.verbs {
                let names = rule
                    .resource_names
                    .iter()
                    .flatten()
                    .map(Some)
                    .collect::<Vec<_>>();
                let names = if names.is_empty() { vec![None] } else { names };
                for name in names {
                    atoms.push(PolicyRule {
                        api_groups: one(group),
                        resources: one(resource),
                        resource_names: name.map(|n| vec![n.clone()]),
                        verbs: vec![verb.clone()],
                        non_resource_urls: None,
                    });
                }
            }
        }
    }
    for url in rule.non_resource_urls.iter().flatten() {
        for verb in &rule.verbs {
            atoms.push(PolicyRule {
                non_resource_urls: one(url),
                verbs: vec![verb.clone()],
                ..Default::default()
            });
        }
    }
    atoms
}

fn rule_covers(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let owner_names = list(&owner.resource_names);
    let atom_names = list(&atom.resource_names);
    let names_covered =
        owner_names.is_empty() || (!atom_names.is_empty() && has_all(owner_names, atom_names));
    (has(&owner.verbs, ALL) || has_all(&owner.verbs, &atom.verbs))
        && (has(list(&owner.api_groups), ALL)
            || has_all(list(&owner.api_groups), list(&atom.api_groups)))
        && list(&atom.resources)
            .iter()
            .all(|r| resource_covered(list(&owner.resources), r))
        && list(&atom.non_resource_urls)
            .iter()
            .all(|u| url_covered(list(&owner.non_resource_urls), u))
        && names_covered
}

fn resource_covered(owner: &[String], resource: &str) -> bool {
    if has(owner, ALL) || has(owner, resource) {
        return true;
    }
    resource
        .split_once('/')
        .is_some_and(|(_, subresource)| has(owner, &format!("*/{subresource}")))
}

fn url_covered(owner: &[String], url: &str) -> bool {
    owner.iter().any(|o| {
        o == url
            || o.strip_suffix('*')
                .is_some_and(|prefix| url.starts_with(prefix.trim_end_matches('*')))
    })
}

fn has(set: &[String], value: &str) -> bool {
    set.iter().any(|s| s == value)
}

fn has_all(set: &[String], values: &[String]) -> bool {
    values.iter().all(|v| has(set, v))
}

fn list(field: &Option<Vec<String>>) -> &[String] {
    field.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PolicyRule {
            api_groups: Some(strings(groups)),
            resources: Some(strings(resources)),
            resource_names: (!names.is_empty()).then(|| strings(names)),
            verbs: strings(verbs),
            non_resource_urls: None,
        }
    }

    fn url(urls: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            non_resource_urls: Some(urls.iter().map(|s| s.to_string()).collect()),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn coverage_follows_upstream() {
        let cases: &[(&str, Vec<PolicyRule>, PolicyRule, bool)] = &[
            (
                "same rule",
                vec![rule(&[""], &["pods"], &[], &["get", "list"])],
                rule(&[""], &["pods"], &[], &["get"]),
                true,
            ),
            (
                "more verbs",
                vec![rule(&[""], &["pods"], &[], &["get"])],
                rule(&[""], &["pods"], &[], &["get", "delete"]),
                false,
            ),
            (
                "split across owner rules",
                vec![
                    rule(&[""], &["pods"], &[], &["get"]),
                    rule(&[""], &["pods"], &[], &["list"]),
                ],
                rule(&[""], &["pods"], &[], &["get", "list"]),
                true,
            ),
            (
                "wildcards cover",
                vec![rule(&["*"], &["*"], &[], &["*"])],
                rule(&["apps"], &["deployments/scale"], &["d"], &["update"]),
                true,
            ),
            (
                "a wildcard needs a wildcard",
                vec![rule(&[""], &["pods"], &[], &["get"])],
                rule(&[""], &["*"], &[], &["get"]),
                false,
            ),
            (
                "*/sub covers any resource's sub",
                vec![rule(&[""], &["*/status"], &[], &["update"])],
                rule(&[""], &["pods/status"], &[], &["update"]),
                true,
            ),
            (
                "named owner does not cover all names",
                vec![rule(&[""], &["configmaps"], &["a"], &["get"])],
                rule(&[""], &["configmaps"], &[], &["get"]),
                false,
            ),
            (
                "named owner covers its names",
                vec![rule(&[""], &["configmaps"], &["a", "b"], &["get"])],
                rule(&[""], &["configmaps"], &["b"], &["get"]),
                true,
            ),
            (
                "url prefix",
                vec![url(&["/logs/*"], &["get"])],
                url(&["/logs/a"], &["get"]),
                true,
            ),
            (
                "url outside prefix",
                vec![url(&["/logs/*"], &["get"])],
                url(&["/metrics"], &["get"]),
                false,
            ),
        ];
        for (what, owner, requested, want) in cases {
            assert_eq!(
                uncovered(owner, std::slice::from_ref(requested)).is_empty(),
                *want,
                "{what}"
            );
        }
    }

    #[test]
    fn uncovered_rules_are_reported_atomically_and_compactly() {
        let missing = uncovered(
            &[rule(&[""], &["pods"], &[], &["get"])],
            &[rule(&[""], &["pods"], &[], &["get", "delete"])],
        );
        assert_eq!(missing.len(), 1);
        assert_eq!(
            compact_string(&missing[0]),
            r#"{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}"#
        );
    }
}
