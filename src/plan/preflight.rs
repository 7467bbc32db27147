//! Preflight: does a host's Open vSwitch offer what the desired state needs?
//!
//! A switch that never ran reports no datapath or interface types; then nothing can be
//! judged and nothing is refused (apply's own checks catch a missing feature later).

use super::Preflight;
use crate::state::{Requirements, SystemInfo};

/// `Port.protected` arrived in OVS 2.9 with schema 7.15.0.
const PROTECTED_SCHEMA: (u64, u64, u64) = (7, 15, 0);

/// Every requirement the host does not meet.
pub fn preflight(needs: &Requirements, system: &SystemInfo) -> Vec<Preflight> {
    let mut missing = Vec::new();
    let offers =
        |list: &[String], wanted: &str| list.is_empty() || list.iter().any(|t| t == wanted);
    if !offers(&system.datapath_types, &needs.datapath_type) {
        missing.push(Preflight {
            requirement: "datapath_type".into(),
            wanted: needs.datapath_type.clone(),
            offered: system.datapath_types.join(", "),
        });
    }
    if let Some(tunnel) = &needs.tunnel_type {
        if !offers(&system.iface_types, tunnel) {
            missing.push(Preflight {
                requirement: "tunnel_type".into(),
                wanted: tunnel.clone(),
                offered: system.iface_types.join(", "),
            });
        }
    }
    if needs.needs_protected {
        if let Some(version) = parse_version(&system.schema_version) {
            if version < PROTECTED_SCHEMA {
                missing.push(Preflight {
                    requirement: "protected".into(),
                    wanted: "schema 7.15.0 (OVS 2.9)".into(),
                    offered: format!("schema {}", system.schema_version),
                });
            }
        }
    }
    missing
}

fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(datapaths: &[&str], ifaces: &[&str], schema: &str) -> SystemInfo {
        SystemInfo {
            datapath_types: datapaths.iter().map(|s| s.to_string()).collect(),
            iface_types: ifaces.iter().map(|s| s.to_string()).collect(),
            schema_version: schema.into(),
            ..SystemInfo::default()
        }
    }

    fn needs(datapath: &str, tunnel: &str, protected: bool) -> Requirements {
        Requirements {
            datapath_type: datapath.into(),
            tunnel_type: Some(tunnel.into()),
            needs_protected: protected,
        }
    }

    #[test]
    fn a_switch_offering_everything_passes() {
        let sys = system(&["netdev", "system"], &["vxlan", "gre"], "8.3.1");
        assert!(preflight(&needs("netdev", "vxlan", true), &sys).is_empty());
    }

    #[test]
    fn missing_datapath_tunnel_and_old_schema_are_each_reported() {
        let sys = system(&["system"], &["gre"], "7.14.0");
        let found = preflight(&needs("netdev", "geneve", true), &sys);
        let what: Vec<&str> = found.iter().map(|p| p.requirement.as_str()).collect();
        assert_eq!(what, ["datapath_type", "tunnel_type", "protected"]);
    }

    #[test]
    fn a_switch_that_never_ran_is_not_judged() {
        let sys = system(&[], &[], "");
        assert!(preflight(&needs("netdev", "vxlan", true), &sys).is_empty());
    }
}
