//! What `lab check` found, and its text form: a hosts × hosts matrix per VLAN, the
//! isolation summary, the broadcast test and the broken pairs by name. Pure data.

use super::gateway_report::GatewayReport;
use super::storm::StormReport;
use serde::Serialize;
use std::net::Ipv4Addr;

/// One probe, as reports name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeRef {
    /// Host the probe hangs off.
    pub host: String,
    /// VLAN name.
    pub vlan: String,
    /// VLAN id (the probe port's tag).
    pub vlan_id: u16,
    /// The probe's address (first usable of the host's range).
    pub address: Ipv4Addr,
}

/// Traffic from one probe to another of the same VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PairResult {
    /// A small ping got an answer.
    pub icmp: bool,
    /// A TCP exchange of 256 KiB completed, with the byte count echoed back.
    pub tcp: bool,
    /// A don't-fragment ping of the full overlay MTU got an answer.
    pub mtu: bool,
}

impl PairResult {
    /// Whether every test passed.
    pub fn ok(&self) -> bool {
        self.icmp && self.tcp && self.mtu
    }

    fn failures(&self) -> String {
        let failed: Vec<&str> = [(self.icmp, "icmp"), (self.tcp, "tcp"), (self.mtu, "mtu")]
            .into_iter()
            .filter(|(ok, _)| !ok)
            .map(|(_, name)| name)
            .collect();
        failed.join(", ")
    }
}

/// The hosts × hosts matrix of one VLAN: row = from, column = to.
#[derive(Clone, Debug, Serialize)]
pub struct VlanMatrix {
    /// VLAN name.
    pub vlan: String,
    /// VLAN id.
    pub vlan_id: u16,
    /// Hosts with a range in this VLAN, topology order.
    pub hosts: Vec<String>,
    /// `cells[from][to]`; `None` on the diagonal.
    pub cells: Vec<Vec<Option<PairResult>>>,
}

/// One cross-VLAN pair and whether they stayed apart.
#[derive(Clone, Debug, Serialize)]
pub struct Isolation {
    /// One probe.
    pub a: ProbeRef,
    /// The other, in a different VLAN.
    pub b: ProbeRef,
    /// True when `a` could not reach `b` even with a route on its own link.
    pub isolated: bool,
}

/// Everything `check` found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The overlay MTU the probes used.
    pub overlay_mtu: u32,
    /// One matrix per VLAN that has probes.
    pub vlans: Vec<VlanMatrix>,
    /// Every cross-VLAN probe pair.
    pub isolation: Vec<Isolation>,
    /// Datapath work caused by one broadcast: the proof there is no forwarding loop.
    pub broadcast: StormReport,
    /// True when the traffic tests were skipped because the overlay storms (then
    /// `vlans` and `isolation` are empty).
    pub traffic_skipped: bool,
    /// Probe namespaces left in place (`keep_probes`), else empty.
    pub kept_probes: Vec<String>,
    /// The gateway, NAT and published-port tests (empty without a gateway VLAN).
    pub gateway: GatewayReport,
    /// Two DHCP clients per host of each DHCP VLAN (empty without one).
    pub dhcp: super::DhcpReport,
}

impl CheckReport {
    /// Whether every same-VLAN pair passed and every cross-VLAN pair stayed isolated.
    pub fn passed(&self) -> bool {
        self.broken_pairs().is_empty()
    }

    /// One line per failure: `web: host-a -> host-c (icmp, tcp)` or
    /// `leak: web@host-a <-> db@host-b`.
    pub fn broken_pairs(&self) -> Vec<String> {
        let mut broken = Vec::new();
        for m in &self.vlans {
            for (i, row) in m.cells.iter().enumerate() {
                for (j, cell) in row.iter().enumerate() {
                    if let Some(r) = cell.filter(|r| !r.ok()) {
                        broken.push(format!(
                            "{}: {} -> {} ({})",
                            m.vlan,
                            m.hosts[i],
                            m.hosts[j],
                            r.failures()
                        ));
                    }
                }
            }
        }
        if self.broadcast.is_storm() {
            broken.push(format!(
                "storm: {} datapath packets in {} ms, a forwarding loop",
                self.broadcast.total, self.broadcast.window_ms
            ));
        }
        for iso in self.isolation.iter().filter(|i| !i.isolated) {
            broken.push(format!(
                "leak: {}@{} <-> {}@{}",
                iso.a.vlan, iso.a.host, iso.b.vlan, iso.b.host
            ));
        }
        broken.extend(self.gateway.broken());
        broken.extend(self.dhcp.broken());
        broken
    }

    /// The matrices, the isolation summary and the broken pairs, as text.
    pub fn render(&self) -> String {
        let mut out = format!("overlay MTU {}\n", self.overlay_mtu);
        if self.traffic_skipped {
            out.push_str("traffic tests skipped: the overlay storms (a forwarding loop)\n");
        }
        for m in &self.vlans {
            out.push_str(&render_matrix(m));
        }
        let leaks = self.isolation.iter().filter(|i| !i.isolated).count();
        out.push_str(&format!(
            "\nisolation: {} cross-VLAN pairs, {} isolated\n",
            self.isolation.len(),
            self.isolation.len() - leaks
        ));
        out.push_str(&self.gateway.render());
        out.push_str(&self.dhcp.render());
        out.push_str(&self.broadcast.render());
        out.push('\n');
        let broken = self.broken_pairs();
        if broken.is_empty() {
            out.push_str("\ncheck passed\n");
        } else {
            out.push_str(&format!("\ncheck FAILED: {} broken\n", broken.len()));
            for b in broken {
                out.push_str(&format!("  {b}\n"));
            }
        }
        out
    }
}

/// One VLAN's matrix as a text table, rows = from, columns = to.
fn render_matrix(m: &VlanMatrix) -> String {
    const CORNER: &str = "from \\ to";
    let label = m
        .hosts
        .iter()
        .map(|h| h.len())
        .max()
        .unwrap_or(0)
        .max(CORNER.len());
    let cell = m.hosts.iter().map(|h| h.len()).max().unwrap_or(0).max(4);
    let mut out = format!("\nVLAN {} ({})\n", m.vlan, m.vlan_id);
    let mut header = format!("  {CORNER:label$}");
    for h in &m.hosts {
        header.push_str(&format!("  {h:cell$}"));
    }
    out.push_str(header.trim_end());
    out.push('\n');
    for (i, row) in m.cells.iter().enumerate() {
        let mut line = format!("  {:label$}", m.hosts[i]);
        for c in row {
            let mark = match c {
                None => "-",
                Some(r) if r.ok() => "pass",
                Some(_) => "FAIL",
            };
            line.push_str(&format!("  {mark:cell$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(host: &str, vlan: &str, id: u16, last: u8) -> ProbeRef {
        ProbeRef {
            host: host.into(),
            vlan: vlan.into(),
            vlan_id: id,
            address: Ipv4Addr::new(10, 10, last, 1),
        }
    }

    fn report() -> CheckReport {
        let ok = PairResult {
            icmp: true,
            tcp: true,
            mtu: true,
        };
        let mtu_only = PairResult { mtu: false, ..ok };
        CheckReport {
            overlay_mtu: 1446,
            vlans: vec![VlanMatrix {
                vlan: "web".into(),
                vlan_id: 10,
                hosts: vec!["host-a".into(), "host-b".into(), "a-long-host-name".into()],
                cells: vec![
                    vec![None, Some(ok), Some(ok)],
                    vec![Some(ok), None, Some(mtu_only)],
                    vec![Some(ok), Some(ok), None],
                ],
            }],
            isolation: vec![
                Isolation {
                    a: probe("host-a", "web", 10, 1),
                    b: probe("host-a", "db", 20, 1),
                    isolated: true,
                },
                Isolation {
                    a: probe("host-a", "web", 10, 1),
                    b: probe("host-b", "db", 20, 2),
                    isolated: false,
                },
            ],
            broadcast: StormReport {
                triggered: true,
                window_ms: 700,
                per_host: vec![("host-a".into(), 12), ("host-b".into(), 9)],
                total: 21,
            },
            traffic_skipped: false,
            kept_probes: vec![],
            gateway: GatewayReport::default(),
            dhcp: Default::default(),
        }
    }

    #[test]
    fn failed_check_names_every_broken_pair() {
        let r = report();
        assert!(!r.passed());
        assert_eq!(
            r.broken_pairs(),
            [
                "web: host-b -> a-long-host-name (mtu)",
                "leak: web@host-a <-> db@host-b"
            ]
        );
        insta::assert_snapshot!("failed_check", r.render());
    }

    #[test]
    fn storm_alone_fails_the_check() {
        let mut r = report();
        r.vlans[0].cells[1][2] = r.vlans[0].cells[1][0];
        r.isolation.truncate(1);
        assert!(r.passed(), "{}", r.render());
        r.broadcast.total = 140_000;
        assert!(!r.passed());
        assert_eq!(
            r.broken_pairs(),
            ["storm: 140000 datapath packets in 700 ms, a forwarding loop"]
        );
    }
}
