//! Allocating Service cluster IPs and node ports, conflict-free across servers and restarts.
//!
//! A cluster IP is taken by creating upstream's `IPAddress` object named after it (the store's
//! create either succeeds or finds it taken), so allocations persist, survive restarts, and
//! show in `kubectl get ipaddresses`. A node port is taken by creating one store key per port.
//! Both are released when the Service no longer needs them.

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use bosun_api::strategy::allocation_needs;
use bosun_api::{ApiError, FieldError};
use bosun_store::StoreError;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::registry::Registry;

/// The service network, from `--service-cidr` and `--service-node-port-range`.
#[derive(Clone, Debug)]
pub struct ServiceNetwork {
    /// Network address of the service CIDR.
    pub network: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// Node ports that may be handed out.
    pub node_ports: RangeInclusive<u16>,
}

impl ServiceNetwork {
    /// Parses `10.43.0.0/16` and `30000-32767`.
    pub fn parse(cidr: &str, node_ports: &str) -> Result<Self, String> {
        let (net, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("invalid service CIDR {cidr:?}"))?;
        let network: Ipv4Addr = net
            .parse()
            .map_err(|_| format!("only IPv4 service CIDRs are supported, got {cidr:?}"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("invalid service CIDR {cidr:?}"))?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "service CIDR {cidr:?}: the prefix must be between /8 and /30"
            ));
        }
        let (lo, hi) = node_ports
            .split_once('-')
            .ok_or_else(|| format!("invalid node port range {node_ports:?}"))?;
        let lo: u16 = lo
            .trim()
            .parse()
            .map_err(|_| format!("invalid node port range {node_ports:?}"))?;
        let hi: u16 = hi
            .trim()
            .parse()
            .map_err(|_| format!("invalid node port range {node_ports:?}"))?;
        if lo > hi {
            return Err(format!("invalid node port range {node_ports:?}"));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(ServiceNetwork {
            network: Ipv4Addr::from(u32::from(network) & mask),
            prefix,
            node_ports: lo..=hi,
        })
    }

    /// The first usable address: the `kubernetes` Service's.
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Usable addresses (network and broadcast excluded).
    fn size(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 2
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        let off = u32::from(ip).wrapping_sub(u32::from(self.network));
        (1..=self.size()).contains(&off)
    }
}

fn random_u32() -> u32 {
    let b = uuid::Uuid::new_v4();
    u32::from_le_bytes(b.as_bytes()[..4].try_into().expect("four bytes"))
}

fn node_port_key(port: i64) -> String {
    format!("/registry/bosun/servicenodeports/{port}")
}

impl Registry {
    /// Gives a service what it still needs: a cluster IP and node ports. Explicit values are
    /// reserved (refused if taken); missing ones are picked at random from the ranges.
    pub async fn allocate_service(
        &self,
        svc: &mut Value,
        net: &ServiceNetwork,
    ) -> Result<(), ApiError> {
        let ns = svc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = svc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let invalid = |errs: Vec<FieldError>| ApiError::invalid("", "Service", &name, errs);
        let needs = allocation_needs(svc);
        let explicit_ip = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && *s != "None")
            .map(str::to_string);
        if let Some(ip) = explicit_ip {
            let parsed: Ipv4Addr = ip.parse().map_err(|_| {
                invalid(vec![FieldError::invalid(
                    "spec.clusterIPs[0]",
                    &json!(ip),
                    "must be a valid IP address",
                )])
            })?;
            if !net.contains(parsed) {
                return Err(invalid(vec![FieldError::invalid_shown(
                    "spec.clusterIPs",
                    &format!("[]string{{{ip:?}}}"),
                    &format!(
                        "failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}/{}",
                        net.network, net.prefix
                    ),
                )]));
            }
            match self.reserve_ip(&ip, &ns, &name).await? {
                true => {}
                false => {
                    return Err(invalid(vec![FieldError::invalid_shown(
                        "spec.clusterIPs",
                        &format!("[]string{{{ip:?}}}"),
                        &format!("failed to allocate IP {ip}: provided IP is already allocated"),
                    )]));
                }
            }
        } else if needs.cluster_ip {
            let size = net.size();
            // Random in the upper part of the range; the lower sixteenth is kept for explicit IPs.
            let low = (size / 16).clamp(1, size);
            let span = size - low + 1;
            let start = random_u32() % span;
            let mut found = None;
            for i in 0..span.min(4096) {
                let off = low + (start + i) % span;
                let ip = Ipv4Addr::from(u32::from(net.network) + off).to_string();
                if self.reserve_ip(&ip, &ns, &name).await? {
                    found = Some(ip);
                    break;
                }
            }
            let ip = found.ok_or_else(|| {
                ApiError::internal("failed to allocate a service IP: range is full")
            })?;
            svc["spec"]["clusterIP"] = json!(ip);
            svc["spec"]["clusterIPs"] = json!([ip]);
        }
        if let Some(ip) = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .map(str::to_string)
        {
            if svc.pointer("/spec/clusterIPs").is_none() {
                svc["spec"]["clusterIPs"] = json!([ip]);
            }
            if svc["spec"].get("ipFamilyPolicy").is_none() {
                svc["spec"]["ipFamilyPolicy"] = json!("SingleStack");
            }
            if svc["spec"].get("ipFamilies").is_none() {
                svc["spec"]["ipFamilies"] = json!(["IPv4"]);
            }
        }
        // Node ports: reserve the given ones, allocate the missing ones.
        let owner = Bytes::from(json!({"namespace": ns, "name": name}).to_string());
        let ports = svc
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, p) in ports.iter().enumerate() {
            let given = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
            if given != 0
                && !needs.node_ports.contains(&i)
                && (svc["spec"]["type"] == "NodePort" || svc["spec"]["type"] == "LoadBalancer")
            {
                if !net.node_ports.contains(&(given as u16)) || given > u16::MAX as i64 {
                    return Err(invalid(vec![FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(given),
                        &format!(
                            "provided port is not in the valid range. The range of valid ports is {}-{}",
                            net.node_ports.start(),
                            net.node_ports.end()
                        ),
                    )]));
                }
                if !self.reserve_node_port(given, &owner).await? {
                    return Err(invalid(vec![FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(given),
                        "provided port is already allocated",
                    )]));
                }
            }
        }
        for i in needs.node_ports {
            let lo = *net.node_ports.start() as u32;
            let span = *net.node_ports.end() as u32 - lo + 1;
            let start = random_u32() % span;
            let mut found = None;
            for k in 0..span {
                let port = (lo + (start + k) % span) as i64;
                if self.reserve_node_port(port, &owner).await? {
                    found = Some(port);
                    break;
                }
            }
            let port = found.ok_or_else(|| {
                ApiError::internal("failed to allocate a node port: range is full")
            })?;
            svc["spec"]["ports"][i]["nodePort"] = json!(port);
        }
        Ok(())
    }

    /// Takes an IP for a service; false if another service holds it.
    async fn reserve_ip(&self, ip: &str, ns: &str, name: &str) -> Result<bool, ApiError> {
        let def = self
            .table
            .lookup("networking.k8s.io", "v1", "ipaddresses")
            .expect("ipaddresses are served");
        let body = json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IPAddress",
            "metadata": {"name": ip, "labels": {"ipaddress.kubernetes.io/ip-family": "IPv4", "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}},
            "spec": {"parentRef": {"group": "", "resource": "services", "namespace": ns, "name": name}},
        });
        // Stored directly, not through create(): an IPAddress needs no strategy, and create()
        // of a Service is what calls this.
        let mut obj = body;
        bosun_api::meta::prepare_create(&mut obj, &def, None)?;
        let bytes = Bytes::from(serde_json::to_vec(&obj).expect("objects serialize"));
        match self.store.create(&def.key(None, ip), bytes, None).await {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => {
                // Held already: by this very service (a retried write) counts as ours.
                let held = self.get(&def, None, ip).await?;
                Ok(
                    held.pointer("/spec/parentRef/namespace") == Some(&json!(ns))
                        && held.pointer("/spec/parentRef/name") == Some(&json!(name)),
                )
            }
            Err(e) => Err(ApiError::internal(e.to_string())),
        }
    }

    async fn reserve_node_port(&self, port: i64, owner: &Bytes) -> Result<bool, ApiError> {
        match self
            .store
            .create(&node_port_key(port), owner.clone(), None)
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::AlreadyExists { .. }) => {
                let held = self
                    .store
                    .get(&node_port_key(port), None)
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(held.kv.is_some_and(|kv| kv.value == *owner))
            }
            Err(e) => Err(ApiError::internal(e.to_string())),
        }
    }

    /// Gives back what `old` held and `new` (if any) no longer uses.
    pub async fn release_service(&self, old: &Value, new: Option<&Value>) {
        let ip_of = |s: &Value| {
            s.pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .filter(|ip| !ip.is_empty() && *ip != "None")
                .map(str::to_string)
        };
        let ports_of = |s: &Value| -> Vec<i64> {
            s.pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.get("nodePort")?.as_i64())
                        .filter(|p| *p != 0)
                        .collect()
                })
                .unwrap_or_default()
        };
        let keep_ip = new.and_then(ip_of);
        if let Some(ip) = ip_of(old)
            && keep_ip.as_deref() != Some(ip.as_str())
            && let Some(def) = self.table.lookup("networking.k8s.io", "v1", "ipaddresses")
        {
            let _ = self.store.delete(&def.key(None, &ip), None).await;
        }
        let keep: Vec<i64> = new.map(ports_of).unwrap_or_default();
        for p in ports_of(old).into_iter().filter(|p| !keep.contains(p)) {
            let _ = self.store.delete(&node_port_key(p), None).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_network_parses_and_reserves_its_first_address() {
        let n = ServiceNetwork::parse("10.43.7.9/16", "30000-32767").unwrap();
        assert_eq!(n.network, Ipv4Addr::new(10, 43, 0, 0));
        assert_eq!(n.first_ip(), Ipv4Addr::new(10, 43, 0, 1));
        assert!(n.contains(Ipv4Addr::new(10, 43, 255, 254)));
        assert!(!n.contains(Ipv4Addr::new(10, 43, 255, 255)));
        assert!(!n.contains(Ipv4Addr::new(10, 44, 0, 1)));
        assert_eq!(*n.node_ports.start(), 30000);
        assert!(ServiceNetwork::parse("fd00::/108", "30000-32767").is_err());
        assert!(ServiceNetwork::parse("10.43.0.0/16", "32767-30000").is_err());
    }
}
