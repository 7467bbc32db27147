//! Gateway isolation on relaying topologies: the OpenFlow rules that keep the
//! distributed gateway's frames, its ARP and its DHCP off the tunnels, as pure data
//! (docs/host-side.md, "Gateway isolation").
//!
//! Why rules at all: in a full mesh every tunnel port is `protected`, like the gateway
//! port, and OVS never forwards between two protected ports, so OVSDB alone keeps the
//! gateway local. A chain, a star or an RSTP ring must relay between tunnels, so their
//! tunnel ports are not protected and the gateway's frames would flood over them: a
//! neighbour learns the gateway MAC on its tunnel port (the MAC flaps), answers ARP for
//! the gateway a second time, and serves DHCP to another host's clients.
//!
//! What the rules do: the bridge runs the `NORMAL` action, which gives no control over
//! where a frame leaves, so the rules filter where a frame *enters*: on every tunnel port
//! that is not protected together with the gateway port, for the gateway's VLAN, drop
//! - frames whose source is the gateway MAC (a neighbour's gateway: its ARP, its replies,
//!   its DHCP answers) before `NORMAL` can learn them,
//! - frames for the gateway MAC (a remote container whose host lost its FDB entry must
//!   not be routed by this host),
//! - ARP asking for the gateway address (the asker's own host answers),
//! - DHCP, both directions (`udp` to 67, and 67 to 68): each host serves its own clients.
//!
//! Every host runs the same rules, so a gateway frame is dropped at the first tunnel it
//! enters and is never learned, answered or relayed. All rules carry [`COOKIE`] and
//! priority [`PRIORITY`]; everything they do not match falls through to the bridge's
//! own flows (the `priority=0 actions=NORMAL` the switch installs), which are not ours.
//!
//! The pair matrix, per bridge:
//!
//! | rules with our cookie | desired and observed | only desired | only observed |
//! | --- | --- | --- | --- |
//! | the set, compared as canonical text | equal: nothing; different: replace ours atomically (one OpenFlow bundle) | add them, then re-teach the gateway MAC | delete by cookie |
//! | flows with any other cookie | – | – | never matched, never changed |
//!
//! Pure: no I/O, ordered sets; [`build`] is property-tested like the kernel's plan.

use super::intent::HostIntent;
use crate::state::{HostState, Port, Role, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The cookie of every rule the agent programs: "ovsn" in ASCII.
pub const COOKIE: u64 = 0x6f76_736e;

/// Above the switch's `priority=0 NORMAL`, and rarely used by hand.
pub const PRIORITY: u16 = 40_000;

/// `Interface.type` values that are tunnels.
const TUNNEL_TYPES: &[&str] = &[
    "vxlan",
    "geneve",
    "gre",
    "stt",
    "erspan",
    "ip6erspan",
    "ip6gre",
    "gtpu",
    "bareudp",
    "lisp",
];

/// A gateway port as the switch has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayPort {
    /// The OpenFlow port number, when the switch has given one.
    pub ofport: Option<u32>,
    /// The MAC every host's gateway of this VLAN carries (`Interface.mac`).
    pub mac: String,
}

/// What the rules of one bridge should be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeRules {
    /// The rules, each as `ovs-ofctl dump-flows --no-stats --no-names` prints it without
    /// the cookie: `priority=…,<match> actions=drop`.
    pub flows: BTreeSet<String>,
    /// The gateway ports whose MAC must be re-taught after the rules change.
    pub gateways: Vec<GatewayPort>,
}

/// The rules of every ovsnet bridge (bridges needing none map to an empty set), and what
/// could not be read, as (row, why).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// By bridge name.
    pub bridges: BTreeMap<String, BridgeRules>,
    /// Rows that stop a rule from being written, and why.
    pub problems: Vec<(String, String)>,
}

/// One change to the switch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FlowStep {
    /// Replace our rules on the bridge by these, atomically, then re-teach the MACs.
    Replace(String),
    /// Delete our rules on the bridge.
    Delete(String),
}

impl FlowStep {
    /// The bridge the step changes.
    pub fn bridge(&self) -> &str {
        match self {
            FlowStep::Replace(b) | FlowStep::Delete(b) => b,
        }
    }
}

/// Our rules as the switch holds them, by bridge (a bridge whose rules could not be read
/// is absent).
pub type Observed = BTreeMap<String, BTreeSet<String>>;

/// The rules the intent needs on every ovsnet bridge of `state`.
pub fn desired(state: &HostState, intent: &HostIntent) -> Desired {
    let mut out = Desired::default();
    for (name, bridge) in &state.bridges {
        if bridge.row.role() != Some(Role::Bridge) {
            continue;
        }
        let tunnels: Vec<(u32, bool)> = bridge.ports.values().filter_map(tunnel).collect();
        let mut rules = BridgeRules::default();
        for port in bridge.ports.values() {
            if port.row.role() != Some(Role::Gateway) {
                continue;
            }
            let Some(gw) = intent.gateways.get(&port.row.name) else {
                continue;
            };
            let Some(mac) = gateway_mac(port, &mut out.problems) else {
                continue;
            };
            let port_protected = protected(port);
            for (ofport, tunnel_protected) in &tunnels {
                // Two protected ports never exchange a frame: OVSDB already isolates them.
                if !(port_protected && *tunnel_protected) {
                    rules
                        .flows
                        .extend(ingress_rules(*ofport, gw.id, &mac, gw.address.addr()));
                }
            }
            let ofport = port
                .interfaces
                .get(&port.row.name)
                .and_then(|i| i.runtime.as_ref()?.ofport)
                .and_then(|p| u32::try_from(p).ok());
            rules.gateways.push(GatewayPort { ofport, mac });
        }
        out.bridges.insert(name.clone(), rules);
    }
    out
}

/// The steps that turn `observed` into `desired`. A bridge whose rules could not be
/// observed is replaced when it needs rules (the replace is idempotent) and skipped when
/// it needs none.
pub fn build(desired: &Desired, observed: &Observed) -> Vec<FlowStep> {
    let mut steps = Vec::new();
    for (bridge, want) in &desired.bridges {
        match observed.get(bridge) {
            Some(have) if *have == want.flows => {}
            Some(have) if want.flows.is_empty() && !have.is_empty() => {
                steps.push(FlowStep::Delete(bridge.clone()))
            }
            None if want.flows.is_empty() => {}
            Some(_) | None => steps.push(FlowStep::Replace(bridge.clone())),
        }
    }
    steps
}

/// The drop rules on tunnel port `ofport` for the gateway of VLAN `vlan`.
fn ingress_rules(ofport: u32, vlan: u16, mac: &str, ip: std::net::Ipv4Addr) -> [String; 5] {
    let p = PRIORITY;
    let on = format!("in_port={ofport},dl_vlan={vlan}");
    [
        format!("priority={p},{on},dl_src={mac} actions=drop"),
        format!("priority={p},{on},dl_dst={mac} actions=drop"),
        format!("priority={p},arp,{on},arp_tpa={ip} actions=drop"),
        format!("priority={p},udp,{on},tp_dst=67 actions=drop"),
        format!("priority={p},udp,{on},tp_src=67,tp_dst=68 actions=drop"),
    ]
}

/// A tunnel port (ours, or any port whose interface is a tunnel) with an OpenFlow port
/// number: (ofport, protected). One without a number cannot be named yet; the switch
/// writes it soon and the monitor brings that update.
fn tunnel(port: &Port) -> Option<(u32, bool)> {
    let iface = port.interfaces.values().next()?;
    let typed = matches!(iface.row.attrs.get("type"), Some(Value::Str(t)) if TUNNEL_TYPES.contains(&t.as_str()));
    if !(typed || port.row.role() == Some(Role::Tunnel)) {
        return None;
    }
    let ofport = u32::try_from(iface.runtime.as_ref()?.ofport?).ok()?;
    Some((ofport, protected(port)))
}

fn protected(port: &Port) -> bool {
    matches!(port.row.attrs.get("protected"), Some(Value::Bool(true)))
}

/// The gateway's configured MAC, lowercase; a gateway without one, or whose switch uses
/// another, breaks the "same MAC on every host" promise and is reported.
fn gateway_mac(port: &Port, problems: &mut Vec<(String, String)>) -> Option<String> {
    let name = &port.row.name;
    let iface = port.interfaces.get(name);
    let configured = iface.and_then(|i| match i.row.attrs.get("mac") {
        Some(Value::Str(m)) if !m.is_empty() => Some(m.to_ascii_lowercase()),
        _ => None,
    });
    let Some(mac) = configured.filter(|m| parse_mac(m).is_some()) else {
        let why =
            "the gateway interface has no valid `mac`: hosts would answer with different MACs";
        problems.push((name.clone(), why.to_string()));
        return None;
    };
    let in_use = iface
        .and_then(|i| i.runtime.as_ref()?.mac_in_use.clone())
        .map(|m| m.to_ascii_lowercase());
    if let Some(used) = in_use.filter(|u| *u != mac) {
        let why = format!("the switch uses MAC {used}, not the gateway MAC {mac}");
        problems.push((name.clone(), why));
    }
    Some(mac)
}

/// The six bytes of `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut out {
        let part = parts.next().filter(|p| p.len() == 2)?;
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The frame that re-teaches the bridge where the gateway MAC lives: sent as if from the
/// gateway port through `NORMAL`, source and destination both the gateway MAC, so
/// `NORMAL` learns it on the gateway port and then drops it (its destination is the port
/// it came from). An FDB entry a neighbour's frame left on a tunnel port while the rules
/// were missing (ovs-vswitchd just restarted) is corrected at once instead of after the
/// 300 s ageing. The frame leaves on the tunnel only when the entry was wrong, and the
/// neighbour's first rule drops it. Ethertype 0x88b5 (IEEE local experimental), padded
/// to the 60-byte minimum; hex, as `ovs-ofctl packet-out` takes it.
pub fn teach_frame(mac: &str) -> Option<String> {
    let bytes = parse_mac(mac)?;
    let mac_hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{mac_hex}{mac_hex}88b5{}", "00".repeat(46)))
}

/// What a step does, for the log.
pub fn describe(step: &FlowStep) -> String {
    match step {
        FlowStep::Replace(b) => format!("replace the gateway isolation rules on `{b}`"),
        FlowStep::Delete(b) => format!("delete the gateway isolation rules on `{b}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::intent::Gateway;
    use crate::state::{Bridge, Interface, InterfaceRuntime, Row, MARK_ROLE};
    use proptest::prelude::*;

    const MAC: &str = "02:00:00:00:0a:01";

    fn marked(name: &str, role: &str) -> Row {
        Row::named(name).with(format!("external_ids:{MARK_ROLE}"), Value::Str(role.into()))
    }

    fn port(row: Row, iface: Row, ofport: i64, mac_in_use: Option<&str>) -> Port {
        let name = row.name.clone();
        let runtime = InterfaceRuntime {
            ofport: Some(ofport),
            mac_in_use: mac_in_use.map(str::to_string),
            ..InterfaceRuntime::default()
        };
        Port {
            row,
            interfaces: BTreeMap::from([(
                name,
                Interface {
                    row: iface,
                    runtime: Some(runtime),
                },
            )]),
        }
    }

    /// A bridge with a gateway (ofport 1) and tunnels (ofport 2, 3), protected or not.
    fn host(gw_protected: bool, tunnels_protected: bool) -> (HostState, HostIntent) {
        let gw_row = marked("ovsgw-10", "gateway").with("protected", Value::Bool(gw_protected));
        let gw_iface = marked("ovsgw-10", "gateway")
            .with("type", Value::Str("internal".into()))
            .with("mac", Value::Str(MAC.into()));
        let mut ports =
            BTreeMap::from([("ovsgw-10".to_string(), port(gw_row, gw_iface, 1, Some(MAC)))]);
        for (name, ofport) in [("vx-b", 2), ("vx-c", 3)] {
            let row = marked(name, "tunnel").with("protected", Value::Bool(tunnels_protected));
            let iface = marked(name, "tunnel").with("type", Value::Str("vxlan".into()));
            ports.insert(name.into(), port(row, iface, ofport, None));
        }
        let bridge = Bridge {
            row: marked("br-ovsnet", "bridge"),
            ports,
        };
        let state = HostState {
            bridges: BTreeMap::from([("br-ovsnet".to_string(), bridge)]),
        };
        let gw = Gateway {
            ifname: "ovsgw-10".into(),
            vlan: "web".into(),
            id: 10,
            address: "10.10.0.1/16".parse().unwrap(),
            range: None,
            dhcp: true,
            nat: false,
        };
        let intent = HostIntent {
            gateways: BTreeMap::from([("ovsgw-10".to_string(), gw)]),
            ..HostIntent::default()
        };
        (state, intent)
    }

    #[test]
    fn a_protected_mesh_needs_no_rule() {
        let (state, intent) = host(true, true);
        let d = desired(&state, &intent);
        assert!(d.bridges["br-ovsnet"].flows.is_empty());
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert!(
            build(&d, &Observed::new()).is_empty(),
            "nothing to read or write"
        );
    }

    #[test]
    fn a_relaying_bridge_drops_gateway_traffic_entering_each_tunnel() {
        let (state, intent) = host(true, false);
        let d = desired(&state, &intent);
        let flows: Vec<&str> = d.bridges["br-ovsnet"]
            .flows
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(flows.len(), 10, "{flows:#?}");
        assert!(flows.contains(
            &"priority=40000,in_port=2,dl_vlan=10,dl_src=02:00:00:00:0a:01 actions=drop"
        ));
        assert!(flows
            .contains(&"priority=40000,arp,in_port=3,dl_vlan=10,arp_tpa=10.10.0.1 actions=drop"));
        assert!(flows
            .contains(&"priority=40000,udp,in_port=3,dl_vlan=10,tp_src=67,tp_dst=68 actions=drop"));
        assert_eq!(d.bridges["br-ovsnet"].gateways[0].ofport, Some(1));
    }

    #[test]
    fn an_unprotected_gateway_needs_rules_even_on_protected_tunnels() {
        let (state, intent) = host(false, true);
        assert_eq!(
            desired(&state, &intent).bridges["br-ovsnet"].flows.len(),
            10
        );
    }

    #[test]
    fn a_gateway_using_another_mac_is_a_problem() {
        let (mut state, intent) = host(true, false);
        let gw = state
            .bridges
            .get_mut("br-ovsnet")
            .unwrap()
            .ports
            .get_mut("ovsgw-10")
            .unwrap();
        let rt = gw
            .interfaces
            .get_mut("ovsgw-10")
            .unwrap()
            .runtime
            .as_mut()
            .unwrap();
        rt.mac_in_use = Some("02:11:22:33:44:55".into());
        let d = desired(&state, &intent);
        assert_eq!(d.problems.len(), 1);
        assert!(
            d.problems[0].1.contains("02:11:22:33:44:55"),
            "{:?}",
            d.problems
        );
    }

    #[test]
    fn the_teach_frame_is_from_and_to_the_gateway_mac() {
        let frame = teach_frame(MAC).unwrap();
        assert_eq!(frame.len(), 120, "60 bytes");
        assert!(frame.starts_with("020000000a01020000000a0188b5"));
        assert_eq!(teach_frame("02:00:00"), None);
        assert_eq!(parse_mac("02:00:00:00:0a:01:ff"), None);
    }

    fn rule_sets() -> impl Strategy<Value = BTreeSet<String>> {
        prop::collection::btree_set("[a-d]", 0..4)
    }

    fn desired_strategy() -> impl Strategy<Value = Desired> {
        prop::collection::btree_map("br-[xy]", rule_sets(), 0..3).prop_map(|m| Desired {
            bridges: m
                .into_iter()
                .map(|(b, flows)| {
                    (
                        b,
                        BridgeRules {
                            flows,
                            gateways: Vec::new(),
                        },
                    )
                })
                .collect(),
            problems: Vec::new(),
        })
    }

    fn observed_strategy() -> impl Strategy<Value = Observed> {
        prop::collection::btree_map("br-[xyz]", rule_sets(), 0..3)
    }

    /// A model switch: a replace leaves exactly the desired rules, a delete none.
    fn apply(observed: &mut Observed, desired: &Desired, steps: &[FlowStep]) {
        for step in steps {
            match step {
                FlowStep::Replace(b) => {
                    observed.insert(b.clone(), desired.bridges[b].flows.clone());
                }
                FlowStep::Delete(b) => {
                    observed.insert(b.clone(), BTreeSet::new());
                }
            }
        }
    }

    proptest! {
        #[test]
        fn a_state_planned_against_itself_is_empty(d in desired_strategy()) {
            let observed = d.bridges.iter().map(|(b, r)| (b.clone(), r.flows.clone())).collect();
            prop_assert!(build(&d, &observed).is_empty());
        }

        #[test]
        fn applying_the_steps_then_planning_again_is_empty(d in desired_strategy(), mut o in observed_strategy()) {
            let steps = build(&d, &o);
            apply(&mut o, &d, &steps);
            prop_assert!(build(&d, &o).is_empty());
        }

        #[test]
        fn only_ovsnet_bridges_are_touched(d in desired_strategy(), o in observed_strategy()) {
            for step in build(&d, &o) {
                let (FlowStep::Replace(b) | FlowStep::Delete(b)) = step;
                prop_assert!(d.bridges.contains_key(&b));
            }
        }
    }
}
