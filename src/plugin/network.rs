//! Which VLAN a Docker network is, decided from what Docker sends and what the host's
//! OVSDB declares. Pure: no I/O, so every refusal is unit-tested.
//!
//! The IPAM driver is asked for the pool *before* the network driver sees `-o vlan=`
//! (Docker passes `-o` options to the network driver only, `--ipam-opt` to the IPAM
//! driver only). So the pool's VLAN is found, in this order, from `--ipam-opt vlan=NAME`,
//! from `--subnet` (the VLAN whose subnet it is), or from the host's only VLAN. Then
//! CreateNetwork checks that `-o vlan=` (when given) names that same VLAN. A pool ID
//! is `vlan:<name>`, so RequestAddress needs no state to find its VLAN.

use super::host::{HostView, NetworkRecord, Vlan};
use super::PluginError;
use crate::docker::api::{CreateNetwork, RequestPool};
use ipnet::Ipv4Net;

/// The only `-o` option (and `--ipam-opt`) ovsnet knows.
pub const VLAN_OPTION: &str = "vlan";

const POOL_PREFIX: &str = "vlan:";

/// The pool ID of a VLAN.
pub fn pool_id(vlan: &str) -> String {
    format!("{POOL_PREFIX}{vlan}")
}

/// The VLAN of a pool ID.
pub fn pool_vlan(pool_id: &str) -> Result<&str, PluginError> {
    pool_id
        .strip_prefix(POOL_PREFIX)
        .ok_or_else(|| PluginError::UnknownPool(pool_id.to_string()))
}

/// The VLAN named `name`, with a did-you-mean list when it is not declared.
pub fn vlan<'a>(view: &'a HostView, name: &str) -> Result<&'a Vlan, PluginError> {
    view.vlans
        .get(name)
        .ok_or_else(|| PluginError::UnknownVlan {
            vlan: name.to_string(),
            declared: view.vlans.keys().cloned().collect(),
        })
}

/// The VLAN a RequestPool means (see the module doc for the order).
pub fn resolve_pool<'a>(
    view: &'a HostView,
    req: &RequestPool,
) -> Result<(&'a str, &'a Vlan), PluginError> {
    if req.v6 {
        return Err(PluginError::Ipv6);
    }
    if !req.sub_pool.is_empty() {
        return Err(PluginError::IpRange(req.sub_pool.clone()));
    }
    if let Some(key) = req.options.keys().find(|k| k.as_str() != VLAN_OPTION) {
        return Err(PluginError::UnknownOption {
            flag: "--ipam-opt",
            key: key.clone(),
        });
    }
    let subnet = parse_subnet(&req.pool)?;
    let (name, vlan) = match (req.options.get(VLAN_OPTION), subnet) {
        (Some(name), _) => {
            vlan(view, name)?;
            view.vlans
                .get_key_value(name.as_str())
                .map(|(n, v)| (n.as_str(), v))
                .ok_or(PluginError::NoVlans)?
        }
        (None, Some(subnet)) => view
            .vlans
            .iter()
            .find(|(_, v)| v.subnet == subnet)
            .map(|(n, v)| (n.as_str(), v))
            .ok_or_else(|| PluginError::NoSuchSubnet {
                subnet,
                declared: declared(view),
            })?,
        (None, None) => match view.vlans.len() {
            0 => return Err(PluginError::NoVlans),
            1 => view
                .vlans
                .iter()
                .next()
                .map(|(n, v)| (n.as_str(), v))
                .ok_or(PluginError::NoVlans)?,
            _ => {
                return Err(PluginError::AmbiguousPool {
                    declared: declared(view),
                })
            }
        },
    };
    if let Some(subnet) = subnet {
        if subnet != vlan.subnet {
            return Err(PluginError::SubnetMismatch {
                subnet,
                vlan: name.to_string(),
                vlan_subnet: vlan.subnet,
            });
        }
    }
    Ok((name, vlan))
}

/// `--subnet` as given (empty: none).
fn parse_subnet(text: &str) -> Result<Option<Ipv4Net>, PluginError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| PluginError::BadSubnet(text.to_string()))
}

/// `name subnet` for every declared VLAN, for messages.
fn declared(view: &HostView) -> Vec<String> {
    view.vlans
        .iter()
        .map(|(n, v)| format!("{n} {}", v.subnet))
        .collect()
}

/// Checks a CreateNetwork against the host and returns what to record. `address_space`
/// is this plugin's IPAM address space: a pool from any other IPAM is refused, since
/// only ovsnet's allocator keeps to this host's range.
pub fn check_create(
    view: &HostView,
    req: &CreateNetwork,
    address_space: &str,
) -> Result<NetworkRecord, PluginError> {
    let options = req.generic_options();
    if let Some(key) = options.keys().find(|k| k.as_str() != VLAN_OPTION) {
        return Err(PluginError::UnknownOption {
            flag: "-o",
            key: key.clone(),
        });
    }
    if !req.ipv6_data.is_empty() {
        return Err(PluginError::Ipv6);
    }
    let [pool] = req.ipv4_data.as_slice() else {
        return Err(PluginError::PoolCount(req.ipv4_data.len()));
    };
    if pool.address_space != address_space {
        return Err(PluginError::ForeignIpam {
            address_space: pool.address_space.clone(),
            plugin: address_space.to_string(),
        });
    }
    let subnet = parse_subnet(&pool.pool)?.ok_or(PluginError::PoolCount(0))?;
    let (pool_vlan, vlan_def) = view
        .vlans
        .iter()
        .find(|(_, v)| v.subnet == subnet)
        .ok_or_else(|| PluginError::NoSuchSubnet {
            subnet,
            declared: declared(view),
        })?;
    let name = match options.get(VLAN_OPTION) {
        Some(asked) => {
            let asked_vlan = vlan(view, asked)?;
            if asked != pool_vlan {
                return Err(PluginError::SubnetMismatch {
                    subnet,
                    vlan: asked.clone(),
                    vlan_subnet: asked_vlan.subnet,
                });
            }
            asked.clone()
        }
        None => pool_vlan.clone(),
    };
    if vlan_def.range.is_none() {
        return Err(PluginError::NoRange(name));
    }
    Ok(NetworkRecord { vlan: name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::api::IpamData;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn view(vlans: &[(&str, u16, &str, Option<&str>)]) -> HostView {
        let mut v = HostView {
            bridge: "br-ovsnet".into(),
            cluster: "c".into(),
            ..HostView::default()
        };
        for (name, id, subnet, range) in vlans {
            v.vlans.insert(
                name.to_string(),
                Vlan {
                    dhcp: None,
                    gateway: None,
                    id: *id,
                    nat: None,
                    range: range.map(|r| r.parse().expect("range")),
                    subnet: subnet.parse().expect("subnet"),
                },
            );
        }
        v
    }

    fn two() -> HostView {
        view(&[
            ("web", 10, "10.10.0.0/16", Some("10.10.1.0/24")),
            ("db", 20, "10.20.0.0/16", None),
        ])
    }

    fn pool(subnet: &str, opts: &[(&str, &str)]) -> RequestPool {
        RequestPool {
            address_space: "ovsnet".into(),
            pool: subnet.into(),
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..RequestPool::default()
        }
    }

    #[test]
    fn the_pool_is_found_by_option_subnet_or_the_only_vlan() {
        let v = two();
        let by_opt = resolve_pool(&v, &pool("", &[("vlan", "web")])).expect("by option");
        assert_eq!(by_opt.0, "web");
        let by_subnet = resolve_pool(&v, &pool("10.20.0.0/16", &[])).expect("by subnet");
        assert_eq!(by_subnet.0, "db");
        let one = view(&[("web", 10, "10.10.0.0/16", Some("10.10.1.0/24"))]);
        assert_eq!(resolve_pool(&one, &pool("", &[])).expect("only").0, "web");
    }

    #[test]
    fn pool_refusals_say_what_to_do() {
        let v = two();
        let msg = |r: Result<(&str, &Vlan), PluginError>| r.expect_err("refused").to_string();
        assert!(msg(resolve_pool(&v, &pool("", &[]))).contains("--ipam-opt vlan=NAME"));
        let undeclared = msg(resolve_pool(&v, &pool("", &[("vlan", "wbe")])));
        assert!(
            undeclared.contains("`wbe`") && undeclared.contains("db, web"),
            "{undeclared}"
        );
        let mismatch = msg(resolve_pool(&v, &pool("10.20.0.0/16", &[("vlan", "web")])));
        assert!(
            mismatch.contains("10.20.0.0/16") && mismatch.contains("10.10.0.0/16"),
            "{mismatch}"
        );
        assert!(msg(resolve_pool(&v, &pool("10.99.0.0/16", &[]))).contains("no VLAN"));
        assert!(msg(resolve_pool(&v, &pool("", &[("mtu", "1400")]))).contains("`--ipam-opt mtu`"));
        assert!(msg(resolve_pool(&v, &pool("nonsense", &[]))).contains("`nonsense`"));
        let mut v6 = pool("", &[("vlan", "web")]);
        v6.v6 = true;
        assert!(msg(resolve_pool(&v, &v6)).contains("IPv6"));
        assert!(msg(resolve_pool(&HostView::default(), &pool("", &[]))).contains("no VLAN"));
    }

    fn create(space: &str, subnet: &str, opts: serde_json::Value) -> CreateNetwork {
        CreateNetwork {
            network_id: "n1".into(),
            options: serde_json::from_value(json!({"com.docker.network.generic": opts}))
                .expect("options"),
            ipv4_data: vec![IpamData {
                address_space: space.into(),
                pool: subnet.into(),
                gateway: String::new(),
                aux_addresses: BTreeMap::new(),
            }],
            ipv6_data: vec![],
        }
    }

    #[test]
    fn create_network_checks_vlan_pool_and_ipam() {
        let v = two();
        let ok = check_create(
            &v,
            &create("ovsnet", "10.10.0.0/16", json!({"vlan": "web"})),
            "ovsnet",
        )
        .expect("web");
        assert_eq!(ok.vlan, "web");
        let inferred = check_create(&v, &create("ovsnet", "10.10.0.0/16", json!({})), "ovsnet")
            .expect("inferred");
        assert_eq!(inferred.vlan, "web");
        let err = |req: CreateNetwork| {
            check_create(&v, &req, "ovsnet")
                .expect_err("refused")
                .to_string()
        };
        assert!(
            err(create("LocalDefault", "10.10.0.0/16", json!({}))).contains("--ipam-driver ovsnet")
        );
        assert!(err(create("ovsnet", "10.10.0.0/16", json!({"vlan": "db"}))).contains("`db`"));
        assert!(err(create("ovsnet", "10.10.0.0/16", json!({"vlan": "nope"}))).contains("`nope`"));
        assert!(
            err(create("ovsnet", "10.10.0.0/16", json!({"colour": "red"}))).contains("`-o colour`")
        );
        // db has no range on this host: no container could get an address.
        assert!(err(create("ovsnet", "10.20.0.0/16", json!({}))).contains("no range"));
    }

    #[test]
    fn pool_ids_carry_their_vlan() {
        assert_eq!(pool_vlan(&pool_id("web")).expect("ours"), "web");
        assert!(pool_vlan("LocalDefault/10.0.0.0/8").is_err());
    }
}
