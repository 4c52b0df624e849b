//! Discovery documents: what the server serves, as kubectl and client libraries read it.

use bosun_api::{ApiError, ResourceDef, ResourceTable};
use serde_json::{Value, json};

/// `/version`.
pub fn version() -> Value {
    let minor = crate::KUBERNETES_VERSION
        .trim_start_matches("v1.")
        .split('.')
        .next()
        .unwrap_or("0")
        .to_string();
    json!({
        "major": "1",
        "minor": minor,
        "gitVersion": crate::git_version(),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
    })
}

/// `/api`.
pub fn core_versions(advertise: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": advertise}],
    })
}

fn group_entry(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs[0]})
}

/// `/apis`.
pub fn groups(table: &ResourceTable) -> Value {
    let groups: Vec<Value> = table
        .groups()
        .iter()
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(table: &ResourceTable, name: &str) -> Result<Value, ApiError> {
    let (g, vs) = table
        .groups()
        .into_iter()
        .find(|(g, _)| g == name)
        .ok_or_else(ApiError::no_such_path)?;
    let mut v = group_entry(&g, &vs);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Ok(v)
}

/// The discovery entry of a subresource: its kind (and group/version where it differs) and verbs.
fn subresource_entry(def: &ResourceDef, sub: &str) -> Value {
    let (group, version, kind, verbs): (Option<&str>, Option<&str>, &str, &[&str]) = match sub {
        "status" | "ephemeralcontainers" | "resize" | "approval" => {
            (None, None, &def.kind, &["get", "patch", "update"])
        }
        "scale" => (
            Some("autoscaling"),
            Some("v1"),
            "Scale",
            &["get", "patch", "update"],
        ),
        "binding" => (None, None, "Binding", &["create"]),
        "eviction" => (Some("policy"), Some("v1"), "Eviction", &["create"]),
        "log" => (None, None, "Pod", &["get"]),
        "exec" => (None, None, "PodExecOptions", &["create", "get"]),
        "attach" => (None, None, "PodAttachOptions", &["create", "get"]),
        "portforward" => (None, None, "PodPortForwardOptions", &["create", "get"]),
        "proxy" => (
            None,
            None,
            match def.kind.as_str() {
                "Pod" => "PodProxyOptions",
                "Service" => "ServiceProxyOptions",
                _ => "NodeProxyOptions",
            },
            &["create", "delete", "get", "patch", "update"],
        ),
        "finalize" => (None, None, &def.kind, &["update"]),
        "token" => (
            Some("authentication.k8s.io"),
            Some("v1"),
            "TokenRequest",
            &["create"],
        ),
        _ => (None, None, &def.kind, &["get"]),
    };
    let mut e = json!({
        "name": format!("{}/{sub}", def.plural),
        "singularName": "",
        "namespaced": def.namespaced(),
        "kind": kind,
        "verbs": verbs,
    });
    if let Some(g) = group {
        e["group"] = json!(g);
    }
    if let Some(v) = version {
        e["version"] = json!(v);
    }
    e
}

/// `/api/v1`, `/apis/<group>/<version>`.
pub fn resources(table: &ResourceTable, group: &str, version: &str) -> Result<Value, ApiError> {
    let rows = table.in_group_version(group, version);
    if rows.is_empty() {
        return Err(ApiError::no_such_path());
    }
    let mut resources = Vec::new();
    for def in &rows {
        let mut e = json!({
            "name": def.plural,
            "singularName": def.singular,
            "namespaced": def.namespaced(),
            "kind": def.kind,
            "verbs": def.verbs,
        });
        if !def.short_names.is_empty() {
            e["shortNames"] = json!(def.short_names);
        }
        if !def.categories.is_empty() {
            e["categories"] = json!(def.categories);
        }
        resources.push(e);
        for sub in &def.subresources {
            resources.push(subresource_entry(def, sub));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// The media type of aggregated discovery, which clients check on the response.
pub const AGGREGATED_MEDIA_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an Accept header asks for aggregated discovery (v2).
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|alt| {
            let params: Vec<&str> = alt.split(';').map(str::trim).collect();
            params.contains(&"g=apidiscovery.k8s.io")
                && params.contains(&"v=v2")
                && params.contains(&"as=APIGroupDiscoveryList")
        })
    })
}

fn aggregated_resource(def: &ResourceDef) -> Value {
    let subresources: Vec<Value> = def
        .subresources
        .iter()
        .map(|sub| {
            let legacy = subresource_entry(def, sub);
            json!({
                "subresource": sub,
                "responseKind": {
                    "group": legacy.get("group").and_then(Value::as_str).unwrap_or(&def.group),
                    "version": legacy.get("version").and_then(Value::as_str).unwrap_or(&def.version),
                    "kind": legacy["kind"],
                },
                "verbs": legacy["verbs"],
            })
        })
        .collect();
    let mut r = json!({
        "resource": def.plural,
        "responseKind": {"group": def.group, "version": def.version, "kind": def.kind},
        "scope": if def.namespaced() { "Namespaced" } else { "Cluster" },
        "singularResource": def.singular,
        "verbs": def.verbs,
    });
    if !def.short_names.is_empty() {
        r["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        r["categories"] = json!(def.categories);
    }
    if !subresources.is_empty() {
        r["subresources"] = json!(subresources);
    }
    r
}

/// `/api` or `/apis` as aggregated discovery: every group, version and resource in one answer.
pub fn aggregated(table: &ResourceTable, core: bool) -> Value {
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        table.groups()
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = table
                        .in_group_version(g, v)
                        .iter()
                        .map(|d| aggregated_resource(d))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
