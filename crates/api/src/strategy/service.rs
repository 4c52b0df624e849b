//! Services: defaults, validation, immutability of the cluster IP, and what needs allocating.

use serde_json::{Value, json};

use super::{set_default, str_at};
use crate::status::FieldError;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn service_type(svc: &Value) -> &str {
    str_at(svc, &["spec", "type"]).unwrap_or("ClusterIP")
}

fn headless(svc: &Value) -> bool {
    str_at(svc, &["spec", "clusterIP"]) == Some("None")
}

pub(super) fn default(svc: &mut Value) {
    set_default(svc, &["spec", "type"], json!("ClusterIP"));
    set_default(svc, &["spec", "sessionAffinity"], json!("None"));
    let ty = service_type(svc).to_string();
    for p in svc
        .pointer_mut("/spec/ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        set_default(p, &["protocol"], json!("TCP"));
        if let Some(port) = p.get("port").cloned()
            && ty != "ExternalName"
        {
            set_default(p, &["targetPort"], port);
        }
    }
    if ty == "ExternalName" {
        return;
    }
    set_default(svc, &["spec", "internalTrafficPolicy"], json!("Cluster"));
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default(svc, &["spec", "externalTrafficPolicy"], json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(svc, &["spec", "allocateLoadBalancerNodePorts"], json!(true));
    }
    if headless(svc) {
        set_default(svc, &["spec", "clusterIPs"], json!(["None"]));
    }
    if str_at(svc, &["spec", "clusterIP"]).is_some() {
        set_default(svc, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
        set_default(svc, &["spec", "ipFamilies"], json!(["IPv4"]));
    }
}

/// What the registry must allocate for a service before storing it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllocationNeeds {
    /// A cluster IP from the service network.
    pub cluster_ip: bool,
    /// The indexes of ports that need a node port.
    pub node_ports: Vec<usize>,
}

/// What a service still needs allocated.
pub fn allocation_needs(svc: &Value) -> AllocationNeeds {
    let ty = service_type(svc);
    let cluster_ip =
        ty != "ExternalName" && str_at(svc, &["spec", "clusterIP"]).is_none_or(str::is_empty);
    let wants_node_ports = ty == "NodePort"
        || (ty == "LoadBalancer"
            && svc.pointer("/spec/allocateLoadBalancerNodePorts") != Some(&Value::Bool(false)));
    let node_ports = if wants_node_ports {
        svc.pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) == 0)
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    AllocationNeeds {
        cluster_ip,
        node_ports,
    }
}

pub(super) fn validate(svc: &Value, errs: &mut Vec<FieldError>) {
    let ty = service_type(svc);
    if !TYPES.contains(&ty) {
        errs.push(FieldError::not_supported("spec.type", &json!(ty), TYPES));
        return;
    }
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ty == "ExternalName" {
        if str_at(svc, &["spec", "externalName"]).is_none_or(str::is_empty) {
            errs.push(FieldError::required("spec.externalName", ""));
        }
    } else if ports.is_empty() && !headless(svc) {
        errs.push(FieldError::required("spec.ports", ""));
    }
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match p.get("port").and_then(Value::as_i64) {
            Some(n) if (1..=65535).contains(&n) => {}
            Some(n) => errs.push(FieldError::invalid(
                format!("{path}.port"),
                &json!(n),
                "must be between 1 and 65535, inclusive",
            )),
            None => errs.push(FieldError::required(format!("{path}.port"), "")),
        }
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(format!("{path}.name"), ""));
        } else if !name.is_empty() {
            if names.contains(&name) {
                errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
            }
            names.push(name);
        }
        let node_port = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
        if node_port != 0 && !(ty == "NodePort" || ty == "LoadBalancer") {
            errs.push(FieldError::forbidden(
                format!("{path}.nodePort"),
                &format!("may not be used when `type` is '{ty}'"),
            ));
        }
    }
}

pub(super) fn validate_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let old_ip = str_at(old, &["spec", "clusterIP"]).filter(|s| !s.is_empty());
    let new_ip = str_at(new, &["spec", "clusterIP"]).filter(|s| !s.is_empty());
    if let Some(ip) = old_ip
        && service_type(new) != "ExternalName"
        && new_ip.is_some_and(|n| n != ip)
    {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            &json!(new_ip.unwrap_or_default()),
            "may not change once set",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_service_is_a_cluster_ip_service_targeting_its_port() {
        let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
        default(&mut svc);
        assert_eq!(svc["spec"]["type"], "ClusterIP");
        assert_eq!(
            svc["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(svc["spec"]["sessionAffinity"], "None");
        assert_eq!(
            allocation_needs(&svc),
            AllocationNeeds {
                cluster_ip: true,
                node_ports: vec![]
            }
        );
    }

    #[test]
    fn node_ports_are_needed_only_where_not_given() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81, "nodePort": 30081}]}});
        assert_eq!(allocation_needs(&svc).node_ports, vec![0]);
        let ext = json!({"spec": {"type": "ExternalName", "externalName": "example.com"}});
        assert_eq!(allocation_needs(&ext), AllocationNeeds::default());
        let headless = json!({"spec": {"clusterIP": "None", "ports": [{"port": 80}]}});
        assert!(!allocation_needs(&headless).cluster_ip);
    }

    #[test]
    fn services_need_ports_and_external_names() {
        let mut errs = Vec::new();
        validate(&json!({"spec": {"type": "ClusterIP"}}), &mut errs);
        validate(&json!({"spec": {"type": "ExternalName"}}), &mut errs);
        validate(
            &json!({"spec": {"ports": [{"port": 80, "nodePort": 30000}]}}),
            &mut errs,
        );
        let msgs: Vec<String> = errs.iter().map(|e| e.message()).collect();
        assert_eq!(
            msgs,
            vec![
                "spec.ports: Required value",
                "spec.externalName: Required value",
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
            ]
        );
    }
}
