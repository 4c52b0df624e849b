//! Pods and pod templates: defaults, validation, and what an update may change.

use serde_json::{Value, json};

use super::set_default;
use crate::meta::{NameRule, name_problems};
use crate::status::FieldError;

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise.
fn pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last.split_once(':') {
        Some((_, "latest")) | None if !image.contains('@') => "Always",
        _ => "IfNotPresent",
    }
}

fn default_probe(p: &mut Value) {
    set_default(p, &["timeoutSeconds"], json!(1));
    set_default(p, &["periodSeconds"], json!(10));
    set_default(p, &["successThreshold"], json!(1));
    set_default(p, &["failureThreshold"], json!(3));
    if p.get("httpGet").is_some() {
        set_default(p, &["httpGet", "scheme"], json!("HTTP"));
        set_default(p, &["httpGet", "path"], json!("/"));
    }
}

fn default_container(c: &mut Value) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set_default(c, &["imagePullPolicy"], json!(pull_policy(&image)));
    set_default(
        c,
        &["terminationMessagePath"],
        json!("/dev/termination-log"),
    );
    set_default(c, &["terminationMessagePolicy"], json!("File"));
    set_default(c, &["resources"], json!({}));
    for port in c
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        set_default(port, &["protocol"], json!("TCP"));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe) {
            default_probe(p);
        }
    }
    // Limits without requests request what they limit.
    if let Some(limits) = c
        .get("resources")
        .and_then(|r| r.get("limits"))
        .and_then(Value::as_object)
        .cloned()
    {
        for (k, v) in limits {
            set_default(c, &["resources", "requests", &k], v);
        }
    }
    for env in c
        .get_mut("env")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if env
            .get("valueFrom")
            .and_then(|v| v.get("fieldRef"))
            .is_some()
        {
            set_default(env, &["valueFrom", "fieldRef", "apiVersion"], json!("v1"));
        }
    }
}

/// Defaults of a pod spec, wherever it stands (pods and every pod template).
pub(super) fn default_spec(spec: &mut Value) {
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["securityContext"], json!({}));
    set_default(spec, &["enableServiceLinks"], json!(true));
    for list in ["containers", "initContainers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_container(c);
        }
    }
    for v in spec
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for source in ["configMap", "secret", "projected", "downwardAPI"] {
            if v.get(source).is_some() {
                set_default(v, &[source, "defaultMode"], json!(420));
            }
        }
    }
}

/// The QoS class upstream computes from requests and limits.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let req = c
            .get("resources")
            .and_then(|r| r.get("requests"))
            .and_then(Value::as_object);
        let lim = c
            .get("resources")
            .and_then(|r| r.get("limits"))
            .and_then(Value::as_object);
        for r in ["cpu", "memory"] {
            let rq = req.and_then(|m| m.get(r));
            let lm = lim.and_then(|m| m.get(r));
            if rq.is_some() || lm.is_some() {
                any = true;
            }
            if lm.is_none() || rq.is_some_and(|q| Some(q) != lm) {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Pod-only defaults: status the server owns.
pub(super) fn default_pod(pod: &mut Value) {
    let qos = pod.get("spec").map(qos_class).unwrap_or("BestEffort");
    if pod
        .get("status")
        .is_some_and(|s| s.get("qosClass").is_none())
    {
        pod["status"]["qosClass"] = json!(qos);
    }
}

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn validate_container(c: &Value, path: &str, names: &mut Vec<String>, errs: &mut Vec<FieldError>) {
    match c
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        None => errs.push(FieldError::required(format!("{path}.name"), "")),
        Some(n) => {
            for m in name_problems(n, NameRule::Label) {
                errs.push(FieldError::invalid(format!("{path}.name"), &json!(n), &m));
            }
            if names.iter().any(|x| x == n) {
                errs.push(FieldError::duplicate(format!("{path}.name"), &json!(n)));
            }
            names.push(n.to_string());
        }
    }
    if c.get("image")
        .and_then(Value::as_str)
        .is_none_or(|i| i.trim().is_empty())
    {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    }
    if let Some(p) = c.get("imagePullPolicy").and_then(Value::as_str)
        && !PULL_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.imagePullPolicy"),
            &json!(p),
            PULL_POLICIES,
        ));
    }
    for (i, port) in c
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pp = format!("{path}.ports[{i}]");
        match port.get("containerPort").and_then(Value::as_i64) {
            Some(n) if (1..=65535).contains(&n) => {}
            Some(n) => errs.push(FieldError::invalid(
                format!("{pp}.containerPort"),
                &json!(n),
                "must be between 1 and 65535, inclusive",
            )),
            None => errs.push(FieldError::required(format!("{pp}.containerPort"), "")),
        }
        if let Some(p) = port.get("protocol").and_then(Value::as_str)
            && !PROTOCOLS.contains(&p)
        {
            errs.push(FieldError::not_supported(
                format!("{pp}.protocol"),
                &json!(p),
                PROTOCOLS,
            ));
        }
    }
}

/// Validates a pod spec found at `path` (`spec`, `spec.template.spec`, ...).
pub(super) fn validate_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let mut names = Vec::new();
    match spec.get("containers").and_then(Value::as_array) {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                validate_container(c, &format!("{path}.containers[{i}]"), &mut names, errs);
            }
        }
        _ => errs.push(FieldError::required(format!("{path}.containers"), "")),
    }
    for (i, c) in spec
        .get("initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        validate_container(c, &format!("{path}.initContainers[{i}]"), &mut names, errs);
    }
    if let Some(p) = spec.get("restartPolicy").and_then(Value::as_str)
        && !RESTART_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            &json!(p),
            RESTART_POLICIES,
        ));
    }
    if let Some(p) = spec.get("dnsPolicy").and_then(Value::as_str)
        && !DNS_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.dnsPolicy"),
            &json!(p),
            DNS_POLICIES,
        ));
    }
    let mut volumes = Vec::new();
    for (i, v) in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.volumes[{i}].name"),
                "",
            ));
        } else if volumes.contains(&name) {
            errs.push(FieldError::duplicate(
                format!("{path}.volumes[{i}].name"),
                &json!(name),
            ));
        }
        volumes.push(name);
    }
}

/// What an update of a running pod may change: images, activeDeadlineSeconds, added
/// tolerations and terminationGracePeriodSeconds; anything else is refused with upstream's
/// message.
pub(super) fn validate_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let strip = |spec: Option<&Value>| -> Value {
        let mut s = spec.cloned().unwrap_or(Value::Null);
        for list in ["containers", "initContainers"] {
            for c in s
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(m) = c.as_object_mut() {
                    m.remove("image");
                }
            }
        }
        if let Some(m) = s.as_object_mut() {
            for f in [
                "activeDeadlineSeconds",
                "tolerations",
                "terminationGracePeriodSeconds",
                "nodeName",
            ] {
                m.remove(f);
            }
        }
        s
    };
    if strip(new.get("spec")) != strip(old.get("spec")) {
        errs.push(FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
    let node = |o: &Value| o.get("spec").and_then(|s| s.get("nodeName")).cloned();
    if node(old).is_some_and(|n| !n.is_null()) && node(new) != node(old) {
        errs.push(FieldError::forbidden(
            "spec.nodeName",
            "field is immutable once set",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(pull_policy("registry:5000/app"), "Always");
        assert_eq!(pull_policy("registry:5000/app:v1"), "IfNotPresent");
        assert_eq!(pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn a_pod_spec_gets_upstreams_defaults() {
        let mut spec = json!({"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
            "resources": {"limits": {"cpu": "1"}}}]});
        default_spec(&mut spec);
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(spec["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["containers"][0]["resources"]["requests"]["cpu"], "1");
        assert_eq!(qos_class(&spec), "Burstable");
        assert_eq!(
            qos_class(&json!({"containers": [{"name": "c"}]})),
            "BestEffort"
        );
    }

    #[test]
    fn a_pod_without_containers_or_images_is_invalid() {
        let mut errs = Vec::new();
        validate_spec(
            &json!({"containers": [{"name": "c"}, {"name": "c", "image": "x"}]}),
            "spec",
            &mut errs,
        );
        let msgs: Vec<String> = errs.iter().map(|e| e.message()).collect();
        assert_eq!(
            msgs,
            vec![
                "spec.containers[0].image: Required value",
                "spec.containers[1].name: Duplicate value: \"c\""
            ]
        );
        let mut errs = Vec::new();
        validate_spec(&json!({}), "spec", &mut errs);
        assert_eq!(errs[0].message(), "spec.containers: Required value");
    }

    #[test]
    fn only_images_of_a_pod_may_change() {
        let old = json!({"spec": {"containers": [{"name": "c", "image": "a"}], "nodeName": "n1"}});
        let mut ok = old.clone();
        ok["spec"]["containers"][0]["image"] = json!("b");
        let mut errs = Vec::new();
        validate_update(&ok, &old, &mut errs);
        assert!(errs.is_empty());
        let mut bad = old.clone();
        bad["spec"]["containers"][0]["name"] = json!("d");
        validate_update(&bad, &old, &mut errs);
        assert!(
            errs[0]
                .message()
                .starts_with("spec: Forbidden: pod updates may not change fields")
        );
    }
}
