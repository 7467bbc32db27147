//! DHCP leases as OVSDB holds them, and every decision about them, pure.
//!
//! A lease is the key `ovsnet-lease-<ip>` on the `Open_vSwitch` row, its value the JSON
//! `{"expires":SECS,"mac":"..","vlan":".."}` (docs/host-side.md). attach counts every
//! such key as taken ([`crate::attach::host::taken`]), and the agent picks a new lease's
//! address with attach's own [`allocate`], committed under attach's two guards (the
//! bridge's `ports`, the root's `external_ids`): a racing attach and a new lease can
//! never both commit, so DHCP and attach never hand out one address twice.
//!
//! Life of a lease:
//! - **recorded** when dnsmasq logs an unknown MAC on a served gateway and no container
//!   port or lease already holds an address for that MAC in that VLAN;
//! - **extended** when dnsmasq's lease file shows a later expiry for the same MAC and
//!   address (the client renewed);
//! - **freed** once its expiry is [`GRACE_SECS`] in the past and dnsmasq holds no live
//!   lease for it. A DHCPRELEASE is not taken at its word: the address stays reserved
//!   until the recorded expiry, so a client that released and comes back finds it, and
//!   nothing can hand it out while a misbehaving client still uses it.
//!
//! Every change is one mutation that deletes the exact old key-value pair and inserts
//! the new one; OVSDB's map `insert` never overwrites a key, so a change computed from a
//! stale read does nothing instead of clobbering.

use super::config::{Binding, Served, LEASE_SECS};
use crate::attach::host::{self, marks, Snapshot, Unavailable};
use crate::ovsdb::txn::{Txn, ROOT};
use crate::ovsdb::{Atom, Condition, Datum, Mutation};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// How long after its expiry an unrenewed lease is kept before its address is free.
pub const GRACE_SECS: u64 = 60;

/// One lease recorded by the agent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// The client's MAC, lowercase.
    pub mac: String,
    /// The VLAN's name.
    pub vlan: String,
    /// When it ends, unix seconds.
    pub expires: u64,
}

/// The JSON value (fields in key order, so serde writes them sorted).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    expires: u64,
    mac: String,
    vlan: String,
}

impl Lease {
    /// Its `external_ids` key.
    pub fn key(&self) -> String {
        format!("{}{}", marks::LEASE_PREFIX, self.ip)
    }

    /// Its `external_ids` value.
    pub fn value(&self) -> String {
        let record = Record {
            expires: self.expires,
            mac: self.mac.clone(),
            vlan: self.vlan.clone(),
        };
        serde_json::to_string(&record).unwrap_or_default()
    }

    /// The lease of one `external_ids` entry: `None` for another key, an error naming
    /// the key for a lease key that cannot be read.
    pub fn parse(key: &str, value: &str) -> Option<Result<Lease, String>> {
        let ip = key.strip_prefix(marks::LEASE_PREFIX)?;
        let parsed = ip
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("`{key}`: `{ip}` is not an IPv4 address"))
            .and_then(|ip| {
                let r: Record = serde_json::from_str(value)
                    .map_err(|e| format!("`{key}`: {e} in `{value}`"))?;
                Ok(Lease {
                    ip,
                    mac: r.mac.to_ascii_lowercase(),
                    vlan: r.vlan,
                    expires: r.expires,
                })
            });
        Some(parsed)
    }
}

/// Every lease of the snapshot, and the keys that could not be read (their addresses
/// stay taken for attach, which counts keys; here they are only reported).
pub fn read(snapshot: &Snapshot) -> (Vec<Lease>, Vec<String>) {
    let mut leases = Vec::new();
    let mut problems = Vec::new();
    for (k, v) in &snapshot.root_ids {
        match Lease::parse(k, v) {
            Some(Ok(lease)) => leases.push(lease),
            Some(Err(why)) => problems.push(why),
            None => {}
        }
    }
    leases.sort();
    (leases, problems)
}

/// What to do about a client the server did not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Something already holds an address for it (a container port or a lease): the
    /// hosts file has, or is about to have, its line.
    Bound(Ipv4Addr),
    /// Record this new lease.
    New(Lease),
    /// No address of the range is free.
    Full,
}

/// The answer for `mac` on `served`, now.
pub fn answer(
    snapshot: &Snapshot,
    leases: &[Lease],
    served: &Served,
    mac: &str,
    now: u64,
) -> Answer {
    if let Some(b) = bindings(snapshot, leases, std::slice::from_ref(served))
        .into_iter()
        .find(|b| b.mac == mac)
    {
        return Answer::Bound(b.ip);
    }
    match host::allocate(
        served.range,
        served.subnet,
        Some(served.gateway),
        &host::taken(snapshot),
        None,
    ) {
        Ok(ip) => Answer::New(Lease {
            ip,
            mac: mac.to_string(),
            vlan: served.vlan.clone(),
            expires: now + LEASE_SECS,
        }),
        Err(Unavailable::Full) | Err(_) => Answer::Full,
    }
}

/// The addresses DHCP hands out on `served`: container ports first (a DHCP client in
/// an attached container gets the address attach gave it), then leases, each only
/// within its VLAN's subnet.
pub fn bindings(snapshot: &Snapshot, leases: &[Lease], served: &[Served]) -> Vec<Binding> {
    let mut out = Vec::new();
    for s in served {
        for port in snapshot.containers.values() {
            if port.mark(marks::VLAN) != Some(s.vlan.as_str()) {
                continue;
            }
            let (Some(mac), Some(net)) = (port.mark(marks::MAC), port.address()) else {
                continue;
            };
            if s.subnet.contains(&net.addr()) {
                out.push(Binding {
                    mac: mac.to_ascii_lowercase(),
                    ip: net.addr(),
                });
            }
        }
        for lease in leases
            .iter()
            .filter(|l| l.vlan == s.vlan && s.subnet.contains(&l.ip))
        {
            out.push(Binding {
                mac: lease.mac.clone(),
                ip: lease.ip,
            });
        }
    }
    out
}

/// A lease as dnsmasq's lease file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// Expiry, unix seconds (0: never).
    pub expires: u64,
    /// Client MAC, lowercase.
    pub mac: String,
    /// Address.
    pub ip: Ipv4Addr,
}

/// Reads dnsmasq's lease file (`EXPIRY MAC IP HOSTNAME CLIENT-ID` per line; DHCPv6
/// lines and anything unreadable are skipped: the file is dnsmasq's, not ours).
pub fn parse_lease_file(text: &str) -> Vec<Held> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let expires = words.next()?.parse().ok()?;
            let mac = words.next()?.to_ascii_lowercase();
            let ip = words.next()?.parse().ok()?;
            Some(Held { expires, mac, ip })
        })
        .collect()
}

/// One change to a recorded lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The client renewed: the same lease with a later expiry.
    Extend(Lease, u64),
    /// Expired and not renewed: the address is free again.
    Free(Lease),
}

/// The changes that bring the recorded `leases` in line with what dnsmasq `held`, now.
pub fn changes(leases: &[Lease], held: &[Held], now: u64) -> Vec<Change> {
    let mut out = Vec::new();
    for lease in leases {
        let live = held
            .iter()
            .filter(|h| h.mac == lease.mac && h.ip == lease.ip)
            .map(|h| if h.expires == 0 { u64::MAX } else { h.expires })
            .max();
        match live {
            Some(u64::MAX) => {} // an infinite lease: never ours to extend or free
            Some(until) if until > lease.expires => out.push(Change::Extend(lease.clone(), until)),
            Some(until) if until > now => {}
            _ if lease.expires.saturating_add(GRACE_SECS) <= now => {
                out.push(Change::Free(lease.clone()))
            }
            _ => {}
        }
    }
    out
}

/// The transaction that records `lease`, guarded as attach guards its port (see the
/// module doc); the first two operations are the guards.
pub fn record_txn(snapshot: &Snapshot, bridge: &host::OverlayBridge, lease: &Lease) -> Txn {
    let mut txn = Txn::new();
    let (ports_row, root_row) = snapshot.guard_rows(bridge);
    txn.wait_unchanged("Bridge", &bridge.uuid, ports_row);
    txn.wait_unchanged(ROOT, &snapshot.root_uuid, root_row);
    let (key, value) = (lease.key(), lease.value());
    txn.mutate(
        ROOT,
        vec![Condition::uuid(&snapshot.root_uuid)],
        Mutation::new(
            "external_ids",
            "insert",
            Datum::str_map([(key.as_str(), value.as_str())]),
        ),
    );
    txn
}

/// The transaction for one change: delete the old pair (only if it is still exactly
/// that), insert the new one (only if the key is then absent).
pub fn change_txn(root_uuid: &str, change: &Change) -> Txn {
    let mut txn = Txn::new();
    let old = match change {
        Change::Extend(l, _) | Change::Free(l) => l,
    };
    let pair = |l: &Lease| Datum::Map(vec![(Atom::Str(l.key()), Atom::Str(l.value()))]);
    txn.mutate(
        ROOT,
        vec![Condition::uuid(root_uuid)],
        Mutation::new("external_ids", "delete", pair(old)),
    );
    if let Change::Extend(l, until) = change {
        let new = Lease {
            expires: *until,
            ..l.clone()
        };
        txn.mutate(
            ROOT,
            vec![Condition::uuid(root_uuid)],
            Mutation::new("external_ids", "insert", pair(&new)),
        );
    }
    txn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::host::ContainerPort;
    use std::collections::{BTreeMap, BTreeSet};

    fn served() -> Served {
        Served {
            ifname: "ovsgw-10".into(),
            vlan: "web".into(),
            id: 10,
            subnet: "10.10.0.0/16".parse().unwrap(),
            range: "10.10.1.0/29".parse().unwrap(),
            gateway: "10.10.0.1".parse().unwrap(),
            mtu: 1446,
        }
    }

    fn lease(ip: &str, mac: &str, expires: u64) -> Lease {
        Lease {
            ip: ip.parse().unwrap(),
            mac: mac.into(),
            vlan: "web".into(),
            expires,
        }
    }

    fn snapshot(leases: &[Lease], ports: &[(&str, &str, &str)]) -> Snapshot {
        let containers = ports
            .iter()
            .map(|(name, mac, addr)| {
                let marks = BTreeMap::from([
                    (marks::VLAN.to_string(), "web".to_string()),
                    (marks::MAC.to_string(), mac.to_string()),
                    (marks::ADDRESS.to_string(), addr.to_string()),
                ]);
                let port = ContainerPort {
                    name: name.to_string(),
                    uuid: String::new(),
                    bridge: "br-ovsnet".into(),
                    marks,
                    ofport: Some(1),
                    error: None,
                    ifindex: Some(3),
                };
                (name.to_string(), port)
            })
            .collect();
        Snapshot {
            bridges: BTreeMap::new(),
            containers,
            port_names: BTreeSet::new(),
            root_uuid: "root".into(),
            root_ids: leases.iter().map(|l| (l.key(), l.value())).collect(),
        }
    }

    #[test]
    fn a_lease_round_trips_and_a_broken_one_is_named() {
        let l = lease("10.10.1.2", "02:00:00:00:00:01", 100);
        assert_eq!(
            l.value(),
            r#"{"expires":100,"mac":"02:00:00:00:00:01","vlan":"web"}"#
        );
        assert_eq!(Lease::parse(&l.key(), &l.value()), Some(Ok(l)));
        assert_eq!(Lease::parse("ovsnet-agent", "{}"), None);
        let bad = Lease::parse("ovsnet-lease-10.10.1.2", "{nope").unwrap();
        assert!(bad.unwrap_err().starts_with("`ovsnet-lease-10.10.1.2`: "));
    }

    #[test]
    fn a_new_mac_gets_the_lowest_address_attach_and_leases_left() {
        let leases = [lease("10.10.1.1", "02:00:00:00:00:01", 100)];
        let snap = snapshot(&leases, &[("ovc-a", "02:00:00:00:00:0a", "10.10.1.2/16")]);
        assert_eq!(
            answer(&snap, &leases, &served(), "02:00:00:00:00:02", 10),
            Answer::New(Lease {
                expires: 10 + LEASE_SECS,
                ..lease("10.10.1.3", "02:00:00:00:00:02", 0)
            })
        );
    }

    #[test]
    fn a_known_mac_keeps_its_address_whether_leased_or_attached() {
        let leases = [lease("10.10.1.1", "02:00:00:00:00:01", 100)];
        let snap = snapshot(&leases, &[("ovc-a", "02:00:00:00:00:0a", "10.10.1.2/16")]);
        let ask = |mac| answer(&snap, &leases, &served(), mac, 10);
        assert_eq!(
            ask("02:00:00:00:00:01"),
            Answer::Bound("10.10.1.1".parse().unwrap())
        );
        assert_eq!(
            ask("02:00:00:00:00:0a"),
            Answer::Bound("10.10.1.2".parse().unwrap())
        );
    }

    #[test]
    fn a_full_range_is_full() {
        // 10.10.1.0/29: .1 to .6 usable.
        let leases: Vec<Lease> = (1..=6)
            .map(|i| lease(&format!("10.10.1.{i}"), &format!("02:00:00:00:00:0{i}"), 9))
            .collect();
        let snap = snapshot(&leases, &[]);
        assert_eq!(
            answer(&snap, &leases, &served(), "02:00:00:00:00:99", 1),
            Answer::Full
        );
    }

    #[test]
    fn renewals_extend_and_only_expired_unheld_leases_are_freed() {
        let leases = [
            lease("10.10.1.1", "02:00:00:00:00:01", 1000),
            lease("10.10.1.2", "02:00:00:00:00:02", 1000),
            lease("10.10.1.3", "02:00:00:00:00:03", 1000),
        ];
        let held = parse_lease_file(
            "5000 02:00:00:00:00:01 10.10.1.1 * 01:02:00:00:00:00:01\n\
             900 02:00:00:00:00:02 10.10.1.2 * *\n\
             duid 00:01:00:01\n",
        );
        assert_eq!(held.len(), 2);
        let at = |now| changes(&leases, &held, now);
        assert_eq!(at(500), vec![Change::Extend(leases[0].clone(), 5000)]);
        assert_eq!(
            at(1000 + GRACE_SECS),
            vec![
                Change::Extend(leases[0].clone(), 5000),
                Change::Free(leases[1].clone()),
                Change::Free(leases[2].clone()),
            ]
        );
    }
}
