//! Server-side tables: the columns `kubectl get` prints, per kind, as upstream's printers
//! (pkg/printers/internalversion) define them. Columns with priority 1 appear with `-o wide`.

use serde_json::{Value, json};

use crate::meta;
use crate::resources::ResourceDef;

/// One column: name, type, and priority (0 always shown, 1 only with `-o wide`).
pub struct Column {
    /// Header as upstream spells it (kubectl upper-cases it).
    pub name: &'static str,
    /// `string`, `integer`, `date`, ...
    pub kind: &'static str,
    /// `name` for the name column.
    pub format: &'static str,
    /// 0 or 1.
    pub priority: u8,
}

const fn col(name: &'static str, kind: &'static str, priority: u8) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority,
    }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
};
const AGE: Column = col("Age", "string", 0);

/// Formats a duration as upstream's `HumanDuration` (`45s`, `3m12s`, `5h`, `12d`, `2y3d`).
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let d = (hours / 24) % 365;
        return if d == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{d}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of an object from its creation time, as a table cell.
pub fn age(obj: &Value) -> Value {
    let created = meta::meta_str(obj, "creationTimestamp").and_then(meta::parse_rfc3339);
    match created {
        Some(t) => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            Value::String(human_duration(now - t))
        }
        None => Value::String("<unknown>".into()),
    }
}

fn s<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |cur, p| cur.get(p))
}

fn str_or<'a>(obj: &'a Value, path: &[&str], default: &'a str) -> &'a str {
    s(obj, path)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or(default)
}

fn int(obj: &Value, path: &[&str]) -> i64 {
    s(obj, path).and_then(Value::as_i64).unwrap_or(0)
}

fn count(obj: &Value, path: &[&str]) -> usize {
    match s(obj, path) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// A plain label map as selector text, `<none>` when empty.
pub fn selector_string(sel: Option<&Value>) -> String {
    let Some(Value::Object(m)) = sel else {
        return "<none>".into();
    };
    if m.is_empty() {
        return "<none>".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A `LabelSelector` object as selector text (`app=web,tier in (a,b)`), `<none>` when empty.
pub fn label_selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel else {
        return "<none>".into();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(Value::Object(m)) = sel.get("matchLabels") {
        parts.extend(
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())),
        );
    }
    if let Some(Value::Array(exprs)) = sel.get("matchExpressions") {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default()
            {
                "In" => parts.push(format!("{key} in ({})", values.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

fn containers_and_images(template_spec: Option<&Value>) -> (String, String) {
    let containers = template_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let names: Vec<&str> = containers
        .map(|c| c.iter().filter_map(|c| c.get("name")?.as_str()).collect())
        .unwrap_or_default();
    let images: Vec<&str> = containers
        .map(|c| c.iter().filter_map(|c| c.get("image")?.as_str()).collect())
        .unwrap_or_default();
    (names.join(","), images.join(","))
}

fn pod_row(p: &Value) -> Vec<Value> {
    let total = count(p, &["spec", "containers"]);
    let statuses = s(p, &["status", "containerStatuses"]).and_then(Value::as_array);
    let ready = statuses
        .map(|st| {
            st.iter()
                .filter(|c| c.get("ready") == Some(&Value::Bool(true)))
                .count()
        })
        .unwrap_or(0);
    let restarts: i64 = statuses
        .map(|st| {
            st.iter()
                .filter_map(|c| c.get("restartCount")?.as_i64())
                .sum()
        })
        .unwrap_or(0);
    let mut reason = str_or(
        p,
        &["status", "reason"],
        str_or(p, &["status", "phase"], ""),
    )
    .to_string();
    if let Some(st) = statuses {
        for c in st.iter().rev() {
            if let Some(r) = s(c, &["state", "waiting", "reason"])
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(r) = s(c, &["state", "terminated", "reason"])
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            }
        }
    }
    if s(p, &["metadata", "deletionTimestamp"]).is_some() {
        reason = "Terminating".into();
    }
    let gates = count(p, &["spec", "readinessGates"]);
    vec![
        json!(meta::name(p)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        age(p),
        json!(str_or(p, &["status", "podIP"], "<none>")),
        json!(str_or(p, &["spec", "nodeName"], "<none>")),
        json!(str_or(p, &["status", "nominatedNodeName"], "<none>")),
        json!(if gates == 0 {
            "<none>".to_string()
        } else {
            format!("0/{gates}")
        }),
    ]
}

fn service_ports(svc: &Value) -> String {
    let Some(ports) = s(svc, &["spec", "ports"]).and_then(Value::as_array) else {
        return "<none>".into();
    };
    if ports.is_empty() {
        return "<none>".into();
    }
    ports
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) if np != 0 => format!("{port}:{np}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn service_external_ip(svc: &Value) -> String {
    let ty = str_or(svc, &["spec", "type"], "ClusterIP");
    let external: Vec<&str> = s(svc, &["spec", "externalIPs"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match ty {
        "ExternalName" => str_or(svc, &["spec", "externalName"], "<none>").to_string(),
        "LoadBalancer" => {
            let ingress: Vec<String> = s(svc, &["status", "loadBalancer", "ingress"])
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|i| {
                            i.get("ip")
                                .or_else(|| i.get("hostname"))?
                                .as_str()
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut all: Vec<String> = ingress;
            all.extend(external.iter().map(|s| s.to_string()));
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        _ if !external.is_empty() => external.join(","),
        _ => "<none>".into(),
    }
}

fn node_row(n: &Value) -> Vec<Value> {
    let conditions = s(n, &["status", "conditions"]).and_then(Value::as_array);
    let ready = conditions
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .map(|c| match c.get("status").and_then(Value::as_str) {
            Some("True") => "Ready",
            _ => "NotReady",
        })
        .unwrap_or("Unknown");
    let mut status = ready.to_string();
    if s(n, &["spec", "unschedulable"]) == Some(&Value::Bool(true)) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = meta::labels(n)
        .map(|l| {
            l.keys()
                .filter_map(|k| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_string)
                })
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let address = |kind: &str| {
        s(n, &["status", "addresses"])
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|x| x.get("type").and_then(Value::as_str) == Some(kind))
            })
            .and_then(|x| x.get("address")?.as_str())
            .unwrap_or("<none>")
            .to_string()
    };
    vec![
        json!(meta::name(n)),
        json!(status),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        age(n),
        json!(str_or(n, &["status", "nodeInfo", "kubeletVersion"], "")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(str_or(n, &["status", "nodeInfo", "osImage"], "<unknown>")),
        json!(str_or(
            n,
            &["status", "nodeInfo", "kernelVersion"],
            "<unknown>"
        )),
        json!(str_or(
            n,
            &["status", "nodeInfo", "containerRuntimeVersion"],
            "<unknown>"
        )),
    ]
}

/// Access modes as upstream abbreviates them (`RWO,ROX`).
fn access_modes(modes: Option<&Value>) -> String {
    modes
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|m| match m {
                    "ReadWriteOnce" => "RWO",
                    "ReadOnlyMany" => "ROX",
                    "ReadWriteMany" => "RWX",
                    "ReadWriteOncePod" => "RWOP",
                    other => other,
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn job_row(o: &Value) -> Vec<Value> {
    let (c, i) = containers_and_images(s(o, &["spec", "template", "spec"]));
    let succeeded = int(o, &["status", "succeeded"]);
    let completions = match s(o, &["spec", "completions"]).and_then(Value::as_i64) {
        Some(n) => format!("{succeeded}/{n}"),
        None => match int(o, &["spec", "parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let condition = |t: &str| {
        s(o, &["status", "conditions"])
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    let status = if condition("Complete") {
        "Complete"
    } else if condition("Failed") {
        "Failed"
    } else if condition("Suspended") {
        "Suspended"
    } else {
        "Running"
    };
    let start = s(o, &["status", "startTime"])
        .and_then(Value::as_str)
        .and_then(meta::parse_rfc3339);
    let end = s(o, &["status", "completionTime"])
        .and_then(Value::as_str)
        .and_then(meta::parse_rfc3339)
        .unwrap_or_else(crate::meta::now_unix);
    vec![
        json!(meta::name(o)),
        json!(status),
        json!(completions),
        json!(start.map(|s| human_duration(end - s)).unwrap_or_default()),
        age(o),
        json!(c),
        json!(i),
        json!(label_selector_string(s(o, &["spec", "selector"]))),
    ]
}

/// Prints one object's cells.
pub type RowPrinter = fn(&Value) -> Vec<Value>;

/// The columns and the row printer for a resource.
pub fn printer(def: &ResourceDef) -> (Vec<Column>, RowPrinter) {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "pods") => (
            vec![
                NAME,
                col("Ready", "string", 0),
                col("Status", "string", 0),
                col("Restarts", "string", 0),
                AGE,
                col("IP", "string", 1),
                col("Node", "string", 1),
                col("Nominated Node", "string", 1),
                col("Readiness Gates", "string", 1),
            ],
            pod_row,
        ),
        ("", "namespaces") => (vec![NAME, col("Status", "string", 0), AGE], |o| {
            vec![
                json!(meta::name(o)),
                json!(str_or(o, &["status", "phase"], "")),
                age(o),
            ]
        }),
        ("", "configmaps") => (vec![NAME, col("Data", "integer", 0), AGE], |o| {
            vec![
                json!(meta::name(o)),
                json!(count(o, &["data"]) + count(o, &["binaryData"])),
                age(o),
            ]
        }),
        ("", "secrets") => (
            vec![
                NAME,
                col("Type", "string", 0),
                col("Data", "string", 0),
                AGE,
            ],
            |o| {
                vec![
                    json!(meta::name(o)),
                    json!(str_or(o, &["type"], "")),
                    json!(count(o, &["data"])),
                    age(o),
                ]
            },
        ),
        ("", "serviceaccounts") => (vec![NAME, col("Secrets", "string", 0), AGE], |o| {
            vec![json!(meta::name(o)), json!(count(o, &["secrets"])), age(o)]
        }),
        ("", "services") => (
            vec![
                NAME,
                col("Type", "string", 0),
                col("Cluster-IP", "string", 0),
                col("External-IP", "string", 0),
                col("Port(s)", "string", 0),
                AGE,
                col("Selector", "string", 1),
            ],
            |o| {
                vec![
                    json!(meta::name(o)),
                    json!(str_or(o, &["spec", "type"], "ClusterIP")),
                    json!(str_or(o, &["spec", "clusterIP"], "<none>")),
                    json!(service_external_ip(o)),
                    json!(service_ports(o)),
                    age(o),
                    json!(selector_string(s(o, &["spec", "selector"]))),
                ]
            },
        ),
        ("", "endpoints") => (vec![NAME, col("Endpoints", "string", 0), AGE], |o| {
            let mut eps = Vec::new();
            for subset in s(o, &["subsets"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<i64> = subset
                    .get("ports")
                    .and_then(Value::as_array)
                    .map(|p| p.iter().filter_map(|p| p.get("port")?.as_i64()).collect())
                    .unwrap_or_default();
                for a in subset
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let ip = a.get("ip").and_then(Value::as_str).unwrap_or_default();
                    if ports.is_empty() {
                        eps.push(ip.to_string());
                    }
                    for p in &ports {
                        eps.push(format!("{ip}:{p}"));
                    }
                }
            }
            let shown = if eps.is_empty() {
                "<none>".to_string()
            } else if eps.len() > 3 {
                format!("{} + {} more...", eps[..3].join(","), eps.len() - 3)
            } else {
                eps.join(",")
            };
            vec![json!(meta::name(o)), json!(shown), age(o)]
        }),
        ("", "nodes") => (
            vec![
                NAME,
                col("Status", "string", 0),
                col("Roles", "string", 0),
                AGE,
                col("Version", "string", 0),
                col("Internal-IP", "string", 1),
                col("External-IP", "string", 1),
                col("OS-Image", "string", 1),
                col("Kernel-Version", "string", 1),
                col("Container-Runtime", "string", 1),
            ],
            node_row,
        ),
        ("apps", "deployments") => (
            vec![
                NAME,
                col("Ready", "string", 0),
                col("Up-to-date", "string", 0),
                col("Available", "string", 0),
                AGE,
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            |o| {
                let (c, i) = containers_and_images(s(o, &["spec", "template", "spec"]));
                vec![
                    json!(meta::name(o)),
                    json!(format!(
                        "{}/{}",
                        int(o, &["status", "readyReplicas"]),
                        int(o, &["spec", "replicas"])
                    )),
                    json!(int(o, &["status", "updatedReplicas"])),
                    json!(int(o, &["status", "availableReplicas"])),
                    age(o),
                    json!(c),
                    json!(i),
                    json!(label_selector_string(s(o, &["spec", "selector"]))),
                ]
            },
        ),
        ("apps", "replicasets") | ("", "replicationcontrollers") => (
            vec![
                NAME,
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                AGE,
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            |o| {
                let (c, i) = containers_and_images(s(o, &["spec", "template", "spec"]));
                let sel = s(o, &["spec", "selector"]);
                let sel = if sel.is_some_and(|v| {
                    v.get("matchLabels").is_some() || v.get("matchExpressions").is_some()
                }) {
                    label_selector_string(sel)
                } else {
                    selector_string(sel)
                };
                vec![
                    json!(meta::name(o)),
                    json!(int(o, &["spec", "replicas"])),
                    json!(int(o, &["status", "replicas"])),
                    json!(int(o, &["status", "readyReplicas"])),
                    age(o),
                    json!(c),
                    json!(i),
                    json!(sel),
                ]
            },
        ),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            (vec![NAME, col("Created At", "date", 0)], |o| {
                vec![
                    json!(meta::name(o)),
                    json!(meta::meta_str(o, "creationTimestamp")),
                ]
            })
        }
        ("batch", "jobs") => (
            vec![
                NAME,
                col("Status", "string", 0),
                col("Completions", "string", 0),
                col("Duration", "string", 0),
                AGE,
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            job_row,
        ),
        ("batch", "cronjobs") => (
            vec![
                NAME,
                col("Schedule", "string", 0),
                col("Timezone", "string", 0),
                col("Suspend", "boolean", 0),
                col("Active", "integer", 0),
                col("Last Schedule", "string", 0),
                AGE,
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            |o| {
                let (c, i) = containers_and_images(s(
                    o,
                    &["spec", "jobTemplate", "spec", "template", "spec"],
                ));
                let last = s(o, &["status", "lastScheduleTime"])
                    .and_then(Value::as_str)
                    .and_then(meta::parse_rfc3339);
                vec![
                    json!(meta::name(o)),
                    json!(str_or(o, &["spec", "schedule"], "")),
                    json!(str_or(o, &["spec", "timeZone"], "<none>")),
                    json!(s(o, &["spec", "suspend"]) == Some(&Value::Bool(true))),
                    json!(count(o, &["status", "active"])),
                    json!(
                        last.map(|t| human_duration(crate::meta::now_unix() - t))
                            .unwrap_or_else(|| "<none>".into())
                    ),
                    age(o),
                    json!(c),
                    json!(i),
                    json!(label_selector_string(s(
                        o,
                        &["spec", "jobTemplate", "spec", "selector"]
                    ))),
                ]
            },
        ),
        ("apps", "daemonsets") => (
            vec![
                NAME,
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                col("Node Selector", "string", 0),
                AGE,
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            |o| {
                let (c, i) = containers_and_images(s(o, &["spec", "template", "spec"]));
                vec![
                    json!(meta::name(o)),
                    json!(int(o, &["status", "desiredNumberScheduled"])),
                    json!(int(o, &["status", "currentNumberScheduled"])),
                    json!(int(o, &["status", "numberReady"])),
                    json!(int(o, &["status", "updatedNumberScheduled"])),
                    json!(int(o, &["status", "numberAvailable"])),
                    json!(selector_string(s(
                        o,
                        &["spec", "template", "spec", "nodeSelector"]
                    ))),
                    age(o),
                    json!(c),
                    json!(i),
                    json!(label_selector_string(s(o, &["spec", "selector"]))),
                ]
            },
        ),
        ("apps", "statefulsets") => (
            vec![
                NAME,
                col("Ready", "string", 0),
                AGE,
                col("Containers", "string", 1),
                col("Images", "string", 1),
            ],
            |o| {
                let (c, i) = containers_and_images(s(o, &["spec", "template", "spec"]));
                vec![
                    json!(meta::name(o)),
                    json!(format!(
                        "{}/{}",
                        int(o, &["status", "readyReplicas"]),
                        int(o, &["spec", "replicas"])
                    )),
                    age(o),
                    json!(c),
                    json!(i),
                ]
            },
        ),
        ("", "persistentvolumes") => (
            vec![
                NAME,
                col("Capacity", "string", 0),
                col("Access Modes", "string", 0),
                col("Reclaim Policy", "string", 0),
                col("Status", "string", 0),
                col("Claim", "string", 0),
                col("StorageClass", "string", 0),
                col("VolumeAttributesClass", "string", 0),
                col("Reason", "string", 0),
                AGE,
                col("VolumeMode", "string", 1),
            ],
            |o| {
                let claim = match (
                    s(o, &["spec", "claimRef", "namespace"]).and_then(Value::as_str),
                    s(o, &["spec", "claimRef", "name"]).and_then(Value::as_str),
                ) {
                    (Some(ns), Some(n)) => format!("{ns}/{n}"),
                    _ => String::new(),
                };
                vec![
                    json!(meta::name(o)),
                    json!(str_or(o, &["spec", "capacity", "storage"], "")),
                    json!(access_modes(s(o, &["spec", "accessModes"]))),
                    json!(str_or(o, &["spec", "persistentVolumeReclaimPolicy"], "")),
                    json!(str_or(o, &["status", "phase"], "")),
                    json!(claim),
                    json!(str_or(o, &["spec", "storageClassName"], "")),
                    json!(str_or(o, &["spec", "volumeAttributesClassName"], "<unset>")),
                    json!(str_or(o, &["status", "reason"], "")),
                    age(o),
                    json!(str_or(o, &["spec", "volumeMode"], "Filesystem")),
                ]
            },
        ),
        ("", "persistentvolumeclaims") => (
            vec![
                NAME,
                col("Status", "string", 0),
                col("Volume", "string", 0),
                col("Capacity", "string", 0),
                col("Access Modes", "string", 0),
                col("StorageClass", "string", 0),
                col("VolumeAttributesClass", "string", 0),
                AGE,
                col("VolumeMode", "string", 1),
            ],
            |o| {
                vec![
                    json!(meta::name(o)),
                    json!(str_or(o, &["status", "phase"], "")),
                    json!(str_or(o, &["spec", "volumeName"], "")),
                    json!(str_or(o, &["status", "capacity", "storage"], "")),
                    json!(access_modes(s(o, &["status", "accessModes"]))),
                    json!(str_or(o, &["spec", "storageClassName"], "")),
                    json!(str_or(o, &["spec", "volumeAttributesClassName"], "<unset>")),
                    age(o),
                    json!(str_or(o, &["spec", "volumeMode"], "Filesystem")),
                ]
            },
        ),
        ("storage.k8s.io", "storageclasses") => (
            vec![
                NAME,
                col("Provisioner", "string", 0),
                col("ReclaimPolicy", "string", 0),
                col("VolumeBindingMode", "string", 0),
                col("AllowVolumeExpansion", "string", 0),
                AGE,
            ],
            |o| {
                let default = [
                    "storageclass.kubernetes.io/is-default-class",
                    "storageclass.beta.kubernetes.io/is-default-class",
                ]
                .iter()
                .any(|a| {
                    s(o, &["metadata", "annotations", a]).and_then(Value::as_str) == Some("true")
                });
                let name = meta::name(o).unwrap_or_default();
                vec![
                    json!(if default {
                        format!("{name} (default)")
                    } else {
                        name.to_string()
                    }),
                    json!(str_or(o, &["provisioner"], "")),
                    json!(str_or(o, &["reclaimPolicy"], "Delete")),
                    json!(str_or(o, &["volumeBindingMode"], "Immediate")),
                    json!(s(o, &["allowVolumeExpansion"]) == Some(&Value::Bool(true))),
                    age(o),
                ]
            },
        ),
        ("", "events") => (
            vec![
                col("Last Seen", "string", 0),
                col("Type", "string", 0),
                col("Reason", "string", 0),
                col("Object", "string", 0),
                col("Subobject", "string", 1),
                col("Source", "string", 1),
                col("Message", "string", 0),
                col("First Seen", "string", 1),
                col("Count", "string", 1),
                col("Name", "string", 1),
            ],
            |o| {
                let since = |f: &str| {
                    s(o, &[f])
                        .and_then(Value::as_str)
                        .and_then(meta::parse_rfc3339)
                        .map(|t| human_duration(crate::meta::now_unix() - t))
                        .unwrap_or_else(|| "<unknown>".into())
                };
                let last = s(o, &["lastTimestamp"])
                    .and_then(Value::as_str)
                    .map(|_| since("lastTimestamp"))
                    .unwrap_or_else(|| since("eventTime"));
                let object = format!(
                    "{}/{}",
                    str_or(o, &["involvedObject", "kind"], "").to_lowercase(),
                    str_or(o, &["involvedObject", "name"], "")
                );
                vec![
                    json!(last),
                    json!(str_or(o, &["type"], "")),
                    json!(str_or(o, &["reason"], "")),
                    json!(object),
                    json!(str_or(o, &["involvedObject", "fieldPath"], "")),
                    json!(str_or(
                        o,
                        &["source", "component"],
                        str_or(o, &["reportingComponent"], "")
                    )),
                    json!(str_or(o, &["message"], "")),
                    json!(since("firstTimestamp")),
                    json!(int(o, &["count"])),
                    json!(meta::name(o)),
                ]
            },
        ),
        ("networking.k8s.io", "ingresses") => (
            vec![
                NAME,
                col("Class", "string", 0),
                col("Hosts", "string", 0),
                col("Address", "string", 0),
                col("Ports", "string", 0),
                AGE,
            ],
            |o| {
                let hosts: Vec<&str> = s(o, &["spec", "rules"])
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(|x| x.get("host")?.as_str()).collect())
                    .unwrap_or_default();
                let ports = if s(o, &["spec", "tls"])
                    .and_then(Value::as_array)
                    .is_some_and(|t| !t.is_empty())
                {
                    "80, 443"
                } else {
                    "80"
                };
                let addresses: Vec<&str> = s(o, &["status", "loadBalancer", "ingress"])
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|i| i.get("ip").or_else(|| i.get("hostname"))?.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                vec![
                    json!(meta::name(o)),
                    json!(str_or(o, &["spec", "ingressClassName"], "<none>")),
                    json!(if hosts.is_empty() {
                        "*".to_string()
                    } else {
                        hosts.join(",")
                    }),
                    json!(addresses.join(",")),
                    json!(ports),
                    age(o),
                ]
            },
        ),
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => (
            vec![
                NAME,
                col("Role", "string", 0),
                AGE,
                col("Users", "string", 1),
                col("Groups", "string", 1),
                col("ServiceAccounts", "string", 1),
            ],
            |o| {
                let subjects = |kind: &str| -> String {
                    s(o, &["subjects"])
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter(|x| x.get("kind").and_then(Value::as_str) == Some(kind))
                                .map(
                                    |x| match (kind, x.get("namespace").and_then(Value::as_str)) {
                                        ("ServiceAccount", Some(ns)) => format!(
                                            "{ns}/{}",
                                            x.get("name")
                                                .and_then(Value::as_str)
                                                .unwrap_or_default()
                                        ),
                                        _ => x
                                            .get("name")
                                            .and_then(Value::as_str)
                                            .unwrap_or_default()
                                            .to_string(),
                                    },
                                )
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default()
                };
                vec![
                    json!(meta::name(o)),
                    json!(format!(
                        "{}/{}",
                        str_or(o, &["roleRef", "kind"], ""),
                        str_or(o, &["roleRef", "name"], "")
                    )),
                    age(o),
                    json!(subjects("User")),
                    json!(subjects("Group")),
                    json!(subjects("ServiceAccount")),
                ]
            },
        ),
        ("rbac.authorization.k8s.io", "roles" | "clusterroles") | ("", "limitranges") => {
            (vec![NAME, col("Created At", "date", 0)], |o| {
                vec![
                    json!(meta::name(o)),
                    json!(meta::meta_str(o, "creationTimestamp")),
                ]
            })
        }
        ("policy", "poddisruptionbudgets") => (
            vec![
                NAME,
                col("Min Available", "string", 0),
                col("Max Unavailable", "string", 0),
                col("Allowed Disruptions", "integer", 0),
                AGE,
            ],
            |o| {
                let shown = |f: &str| match s(o, &["spec", f]) {
                    Some(Value::String(x)) => x.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => "N/A".into(),
                };
                vec![
                    json!(meta::name(o)),
                    json!(shown("minAvailable")),
                    json!(shown("maxUnavailable")),
                    json!(int(o, &["status", "disruptionsAllowed"])),
                    age(o),
                ]
            },
        ),
        ("scheduling.k8s.io", "priorityclasses") => (
            vec![
                NAME,
                col("Value", "integer", 0),
                col("Global-Default", "boolean", 0),
                AGE,
                col("Preemption-Policy", "string", 0),
            ],
            |o| {
                vec![
                    json!(meta::name(o)),
                    json!(int(o, &["value"])),
                    json!(s(o, &["globalDefault"]) == Some(&Value::Bool(true))),
                    age(o),
                    json!(str_or(o, &["preemptionPolicy"], "PreemptLowerPriority")),
                ]
            },
        ),
        ("", "resourcequotas") => (
            vec![
                NAME,
                AGE,
                col("Request", "string", 0),
                col("Limit", "string", 0),
            ],
            |o| {
                let (mut req, mut lim) = (Vec::new(), Vec::new());
                if let Some(Value::Object(hard)) = s(o, &["spec", "hard"]) {
                    for (k, v) in hard {
                        let used = s(o, &["status", "used", k])
                            .and_then(Value::as_str)
                            .unwrap_or("0");
                        let entry = format!("{}: {used}/{}", k, v.as_str().unwrap_or_default());
                        if k.starts_with("limits.") {
                            lim.push(entry)
                        } else {
                            req.push(entry)
                        }
                    }
                }
                vec![
                    json!(meta::name(o)),
                    age(o),
                    json!(req.join(", ")),
                    json!(lim.join(", ")),
                ]
            },
        ),
        ("coordination.k8s.io", "leases") => (vec![NAME, col("Holder", "string", 0), AGE], |o| {
            vec![
                json!(meta::name(o)),
                json!(str_or(o, &["spec", "holderIdentity"], "")),
                age(o),
            ]
        }),
        ("discovery.k8s.io", "endpointslices") => (
            vec![
                NAME,
                col("AddressType", "string", 0),
                col("Ports", "string", 0),
                col("Endpoints", "string", 0),
                AGE,
            ],
            |o| {
                let ports: Vec<String> = s(o, &["ports"])
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| p.get("port")?.as_i64().map(|n| n.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let addrs: Vec<String> = s(o, &["endpoints"])
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .flat_map(|e| {
                                e.get("addresses")
                                    .and_then(Value::as_array)
                                    .into_iter()
                                    .flatten()
                                    .filter_map(|x| x.as_str().map(str::to_string))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let shown = if addrs.len() > 3 {
                    format!("{} + {} more...", addrs[..3].join(","), addrs.len() - 3)
                } else if addrs.is_empty() {
                    "<unset>".into()
                } else {
                    addrs.join(",")
                };
                vec![
                    json!(meta::name(o)),
                    json!(str_or(o, &["addressType"], "")),
                    json!(if ports.is_empty() {
                        "<unset>".to_string()
                    } else {
                        ports.join(",")
                    }),
                    json!(shown),
                    age(o),
                ]
            },
        ),
        ("autoscaling", "horizontalpodautoscalers") => (
            vec![
                NAME,
                col("Reference", "string", 0),
                col("Targets", "string", 0),
                col("MinPods", "string", 0),
                col("MaxPods", "integer", 0),
                col("Replicas", "integer", 0),
                AGE,
            ],
            |o| {
                let mut targets: Vec<String> = Vec::new();
                if let Some(t) =
                    s(o, &["spec", "targetCPUUtilizationPercentage"]).and_then(Value::as_i64)
                {
                    let current = s(o, &["status", "currentCPUUtilizationPercentage"])
                        .and_then(Value::as_i64)
                        .map(|c| format!("{c}%"))
                        .unwrap_or_else(|| "<unknown>".into());
                    targets.push(format!("cpu: {current}/{t}%"));
                }
                for m in s(o, &["spec", "metrics"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if m.get("type").and_then(Value::as_str) == Some("Resource") {
                        let name = m
                            .pointer("/resource/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let target = m
                            .pointer("/resource/target/averageUtilization")
                            .map(|v| format!("{v}%"))
                            .or_else(|| {
                                m.pointer("/resource/target/averageValue")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                            })
                            .unwrap_or_default();
                        targets.push(format!("{name}: <unknown>/{target}"));
                    }
                }
                vec![
                    json!(meta::name(o)),
                    json!(format!(
                        "{}/{}",
                        str_or(o, &["spec", "scaleTargetRef", "kind"], ""),
                        str_or(o, &["spec", "scaleTargetRef", "name"], "")
                    )),
                    json!(if targets.is_empty() {
                        "<none>".to_string()
                    } else {
                        targets.join(", ")
                    }),
                    json!(
                        s(o, &["spec", "minReplicas"])
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                    ),
                    json!(int(o, &["spec", "maxReplicas"])),
                    json!(int(o, &["status", "currentReplicas"])),
                    age(o),
                ]
            },
        ),
        ("networking.k8s.io", "networkpolicies") => {
            (vec![NAME, col("Pod-Selector", "string", 0), AGE], |o| {
                let sel = label_selector_string(s(o, &["spec", "podSelector"]));
                vec![
                    json!(meta::name(o)),
                    json!(if sel == "<none>" {
                        "<none>".to_string()
                    } else {
                        sel
                    }),
                    age(o),
                ]
            })
        }
        _ => (vec![NAME, AGE], |o| vec![json!(meta::name(o)), age(o)]),
    }
}

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default; kubectl reads labels from it).
    Metadata,
    /// The whole object.
    Object,
}

/// Builds a `meta.k8s.io/v1` Table of `objects`.
pub fn table(
    def: &ResourceDef,
    objects: Vec<Value>,
    include: IncludeObject,
    list_meta: Value,
) -> Value {
    if let Some(custom) = &def.custom {
        return custom_table(&custom.printer_columns, objects, include, list_meta);
    }
    let (columns, row) = printer(def);
    let column_definitions: Vec<Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": "", "priority": c.priority}))
        .collect();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| table_row(row(&o), o, include))
        .collect();
    meta::object([
        ("kind", json!("Table")),
        ("apiVersion", json!("meta.k8s.io/v1")),
        ("metadata", list_meta),
        ("columnDefinitions", Value::Array(column_definitions)),
        ("rows", Value::Array(rows)),
    ])
}

/// One table row: its cells and, as asked, the object or its metadata (moved, not copied).
fn table_row(cells: Vec<Value>, mut o: Value, include: IncludeObject) -> Value {
    let object = match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => {
            let metadata = o
                .get_mut("metadata")
                .map(Value::take)
                .unwrap_or_else(|| json!({}));
            Some(meta::object([
                ("kind", json!("PartialObjectMetadata")),
                ("apiVersion", json!("meta.k8s.io/v1")),
                ("metadata", metadata),
            ]))
        }
        IncludeObject::Object => Some(o),
    };
    match object {
        Some(object) => meta::object([("cells", Value::Array(cells)), ("object", object)]),
        None => meta::object([("cells", Value::Array(cells))]),
    }
}

/// A custom resource's table: Name, then its `additionalPrinterColumns` (or Age when it has
/// none), as upstream's CRD table convertor builds it; `date` columns print as ages.
fn custom_table(
    columns: &[crate::crd::PrinterColumn],
    objects: Vec<Value>,
    include: IncludeObject,
    list_meta: Value,
) -> Value {
    let default_columns;
    let columns = if columns.is_empty() {
        default_columns = vec![crate::crd::PrinterColumn {
            name: "Age".into(),
            kind: "date".into(),
            json_path: ".metadata.creationTimestamp".into(),
            priority: 0,
            description: String::new(),
        }];
        &default_columns
    } else {
        columns
    };
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}),
    ];
    defs.extend(columns.iter().map(|c| json!({"name": c.name, "type": if c.kind == "date" { "string" } else { c.kind.as_str() }, "format": "", "description": c.description, "priority": c.priority})));
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| {
            let mut cells = vec![json!(meta::name(&o))];
            for c in columns {
                let found = crate::crd::jsonpath::select(&o, &c.json_path);
                let cell = match (c.kind.as_str(), found.first()) {
                    (_, None) => Value::Null,
                    ("date", Some(Value::String(t))) => match meta::parse_rfc3339(t) {
                        Some(ts) => json!(human_duration(
                            time::OffsetDateTime::now_utc().unix_timestamp() - ts
                        )),
                        None => json!(t),
                    },
                    (_, Some(_)) if found.len() > 1 => json!(
                        found
                            .iter()
                            .map(|v| v
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    (_, Some(v)) => (*v).clone(),
                };
                cells.push(cell);
            }
            table_row(cells, o, include)
        })
        .collect();
    meta::object([
        ("kind", json!("Table")),
        ("apiVersion", json!("meta.k8s.io/v1")),
        ("metadata", list_meta),
        ("columnDefinitions", Value::Array(defs)),
        ("rows", Value::Array(rows)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_upstream() {
        for (secs, want) in [
            (5, "5s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (10 * 3600, "10h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn service_ports_show_node_ports() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}});
        assert_eq!(service_ports(&svc), "80:30080/TCP");
        assert_eq!(service_external_ip(&svc), "<none>");
        let lb = json!({"spec": {"type": "LoadBalancer"}});
        assert_eq!(service_external_ip(&lb), "<pending>");
    }

    #[test]
    fn a_pending_pod_without_statuses_reads_zero_of_n_ready() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": {"phase": "Pending"}});
        let row = pod_row(&pod);
        assert_eq!(row[1], "0/2");
        assert_eq!(row[2], "Pending");
        assert_eq!(row[6], "<none>");
    }
}
