//! The agent's pure core: what the kernel should hold for a host's intent, what it
//! holds, and the steps between them.
//!
//! The pair matrix (STYLE.md), per managed object:
//!
//! | object | desired and observed | only desired | only observed |
//! | --- | --- | --- | --- |
//! | gateway interface link | up: nothing; down: set up | interface missing: wait (reported, retried on the next OVSDB update) | not a gateway: never looked at |
//! | IPv4 address on a gateway interface | nothing | add | delete (the interface is ours, so is every IPv4 address on it) |
//! | address on any other interface, IPv6 | – | – | left alone |
//! | table `inet ovsnet` | same digest: nothing; other: replace atomically | create | delete (ours by name) |
//! | any other nftables table | – | – | never listed, never touched |
//!
//! No clock, no I/O: `build(desired, observed)` is a function, property-tested to be
//! empty for a state planned against itself and after its own steps are applied to a
//! model kernel, and independent of input order.

use super::intent::HostIntent;
use super::nft;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};

/// What the kernel should hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Per gateway interface, the addresses it must carry (one today).
    pub addresses: BTreeMap<String, BTreeSet<Ipv4Net>>,
    /// The nftables table, as (text, digest), or `None` for no table.
    pub table: Option<(String, String)>,
}

/// One kernel link as the agent sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// Administratively up.
    pub up: bool,
    /// Its IPv4 addresses.
    pub addresses: BTreeSet<Ipv4Net>,
}

/// What the kernel holds, for the objects the agent manages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The gateway interfaces that exist, by name.
    pub links: BTreeMap<String, Link>,
    /// The digest of our table, `Some("")` when it exists without our comment, `None`
    /// when it does not exist.
    pub table: Option<String>,
}

/// One idempotent change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The interface is not there yet (ovs-vswitchd has not made it).
    Missing(String),
    /// Set the link up.
    Up(String),
    /// Add an address.
    AddAddress(String, Ipv4Net),
    /// Delete an address.
    DelAddress(String, Ipv4Net),
    /// Replace (or create) the table with this text.
    ReplaceTable(String),
    /// Delete the table.
    DeleteTable,
}

/// The desired kernel state of `intent`.
pub fn desired(intent: &HostIntent) -> Desired {
    let addresses = intent
        .gateways
        .values()
        .map(|g| (g.ifname.clone(), BTreeSet::from([g.address])))
        .collect();
    Desired {
        addresses,
        table: nft::render(intent),
    }
}

/// The steps that turn `observed` into `desired`, in a fixed order: links, addresses
/// (deletes first, so a changed gateway never has two), then the table.
pub fn build(desired: &Desired, observed: &Observed) -> Vec<Step> {
    let mut steps = Vec::new();
    for (ifname, want) in &desired.addresses {
        let Some(link) = observed.links.get(ifname) else {
            steps.push(Step::Missing(ifname.clone()));
            continue;
        };
        if !link.up {
            steps.push(Step::Up(ifname.clone()));
        }
        for stale in link.addresses.difference(want) {
            steps.push(Step::DelAddress(ifname.clone(), *stale));
        }
        for new in want.difference(&link.addresses) {
            steps.push(Step::AddAddress(ifname.clone(), *new));
        }
    }
    match (&desired.table, &observed.table) {
        (Some((_, want)), Some(have)) if want == have => {}
        (Some((text, _)), _) => steps.push(Step::ReplaceTable(text.clone())),
        (None, Some(_)) => steps.push(Step::DeleteTable),
        (None, None) => {}
    }
    steps
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn net() -> impl Strategy<Value = Ipv4Net> {
        (1u8..4, 1u8..4, 16u8..25).prop_map(|(a, b, p)| {
            Ipv4Net::new(std::net::Ipv4Addr::new(10, a, 0, b), p).expect("prefix in range")
        })
    }

    fn names() -> impl Strategy<Value = String> {
        (10u16..13).prop_map(|id| format!("ovsgw-{id}"))
    }

    fn desired_strategy() -> impl Strategy<Value = Desired> {
        (
            prop::collection::btree_map(names(), prop::collection::btree_set(net(), 1..2), 0..3),
            prop::option::of("[a-c]{1}"),
        )
            .prop_map(|(addresses, table)| Desired {
                addresses,
                table: table.map(|d| (format!("text {d}"), d)),
            })
    }

    fn observed_strategy() -> impl Strategy<Value = Observed> {
        (
            prop::collection::btree_map(
                names(),
                (any::<bool>(), prop::collection::btree_set(net(), 0..3))
                    .prop_map(|(up, addresses)| Link { up, addresses }),
                0..3,
            ),
            prop::option::of("[a-c]{0,1}"),
        )
            .prop_map(|(links, table)| Observed { links, table })
    }

    /// A model kernel: applies steps the way the real one would.
    fn apply(observed: &mut Observed, desired: &Desired, steps: &[Step]) {
        for step in steps {
            match step {
                Step::Missing(_) => {}
                Step::Up(i) => observed.links.get_mut(i).expect("exists").up = true,
                Step::AddAddress(i, a) => {
                    observed
                        .links
                        .get_mut(i)
                        .expect("exists")
                        .addresses
                        .insert(*a);
                }
                Step::DelAddress(i, a) => {
                    observed
                        .links
                        .get_mut(i)
                        .expect("exists")
                        .addresses
                        .remove(a);
                }
                Step::ReplaceTable(_) => {
                    observed.table = desired.table.as_ref().map(|(_, d)| d.clone())
                }
                Step::DeleteTable => observed.table = None,
            }
        }
    }

    fn only_waits(steps: &[Step]) -> bool {
        steps.iter().all(|s| matches!(s, Step::Missing(_)))
    }

    proptest! {
        #[test]
        fn a_state_planned_against_itself_is_empty(d in desired_strategy()) {
            let observed = Observed {
                links: d.addresses.iter().map(|(n, a)| (n.clone(), Link { up: true, addresses: a.clone() })).collect(),
                table: d.table.as_ref().map(|(_, digest)| digest.clone()),
            };
            prop_assert!(build(&d, &observed).is_empty());
        }

        #[test]
        fn applying_the_steps_then_planning_again_is_empty(d in desired_strategy(), mut o in observed_strategy()) {
            let steps = build(&d, &o);
            apply(&mut o, &d, &steps);
            let again = build(&d, &o);
            prop_assert!(only_waits(&again), "{again:?}");
            prop_assert_eq!(again.len(), d.addresses.keys().filter(|n| !o.links.contains_key(*n)).count());
        }

        #[test]
        fn foreign_links_are_never_touched(d in desired_strategy(), o in observed_strategy()) {
            for step in build(&d, &o) {
                match step {
                    Step::Up(i) | Step::AddAddress(i, _) | Step::DelAddress(i, _) | Step::Missing(i) => {
                        prop_assert!(d.addresses.contains_key(&i));
                    }
                    Step::ReplaceTable(_) | Step::DeleteTable => {}
                }
            }
        }
    }
}
