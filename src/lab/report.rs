//! What `lab check` found, and its text form: what was tested (every pair or a sample,
//! and what a sample cannot see), a hosts × hosts matrix per VLAN (a summary line on big
//! labs), latency, retries, the isolation summary, the broadcast test and the broken
//! pairs by name. Pure data.

use super::gateway_report::GatewayReport;
use super::sample::{Coverage, Mode};
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
    /// The small ping's round trip as ping measured it, in microseconds (none without a
    /// reply).
    pub latency_us: Option<u32>,
    /// The pair failed in the paced round and was tested again alone, with longer
    /// deadlines; the result is that second test's.
    pub retried: bool,
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
    /// `cells[from][to]`; `None` on the diagonal and for a pair a sample left out.
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

/// How the check paced itself and what its retries found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pacing {
    /// Same-VLAN pairs tested at once.
    pub pairs_at_once: usize,
    /// Isolation and warm-up pings at once.
    pub idle_pings_at_once: usize,
    /// Pairs that failed in the paced round and were tested again alone.
    pub retried: usize,
    /// Of those, the ones that passed the second time (load, not a broken path).
    pub recovered: usize,
    /// Failing pairs not retried: more failed than [`Pacing::retry_limit`].
    pub not_retried: usize,
    /// At most this many failing pairs are retried, so a broken lab still ends in
    /// bounded time.
    pub retry_limit: usize,
    /// Wall time of the whole check, in milliseconds (reported, never judged).
    pub elapsed_ms: u64,
}

/// Everything `check` found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The overlay MTU the probes used.
    pub overlay_mtu: u32,
    /// Which pairs were tested: all of them or a sample, with the counts.
    pub coverage: Coverage,
    /// Pacing, retries and time taken.
    pub pacing: Pacing,
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

    /// Round trips of the same-VLAN pairs that answered, in microseconds, ascending.
    pub fn latencies_us(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self
            .vlans
            .iter()
            .flat_map(|m| m.cells.iter().flatten().flatten())
            .filter_map(|r| r.latency_us)
            .collect();
        all.sort_unstable();
        all
    }

    /// Same-VLAN pairs tested (cells with a result).
    pub fn pairs_tested(&self) -> usize {
        self.vlans
            .iter()
            .map(|m| m.cells.iter().flatten().flatten().count())
            .sum()
    }

    /// The report as JSON, with the verdict and the broken pairs by name on top.
    pub fn to_json(&self) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct WithVerdict<'a> {
            passed: bool,
            broken: Vec<String>,
            pairs_tested: usize,
            #[serde(flatten)]
            report: &'a CheckReport,
        }
        serde_json::to_string_pretty(&WithVerdict {
            passed: self.passed(),
            broken: self.broken_pairs(),
            pairs_tested: self.pairs_tested(),
            report: self,
        })
    }

    /// What was tested, the matrices (or a line per VLAN on big labs), latency, retries,
    /// the isolation summary and the broken pairs, as text.
    pub fn render(&self) -> String {
        let mut out = format!("overlay MTU {}\n", self.overlay_mtu);
        out.push_str(&render_coverage(&self.coverage));
        if self.traffic_skipped {
            out.push_str("traffic tests skipped: the overlay storms (a forwarding loop)\n");
        }
        for m in &self.vlans {
            if m.hosts.len() <= MATRIX_MAX_HOSTS {
                out.push_str(&render_matrix(m));
            } else {
                out.push_str(&render_vlan_line(m));
            }
        }
        out.push_str(&render_latency(&self.latencies_us()));
        out.push_str(&render_pacing(&self.pacing));
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

/// Above this many hosts in a VLAN, the text shows a line instead of the matrix.
const MATRIX_MAX_HOSTS: usize = 16;

/// What was tested and, for a sample, what it cannot see.
/// The lines `  web@host-a  MARKS` of results grouped by (VLAN, host), groups in
/// first-seen order, labels padded to one width; `marks` turns one group's results (in
/// list order) into its marks. The gateway and DHCP parts of the check print this way.
pub(crate) fn vlan_host_lines<T>(
    results: &[T],
    place: fn(&T) -> (&str, &str),
    marks: impl Fn(&[&T]) -> Vec<String>,
) -> String {
    let mut groups: Vec<((&str, &str), Vec<&T>)> = Vec::new();
    for r in results {
        let key = place(r);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let width = groups
        .iter()
        .map(|((vlan, host), _)| vlan.len() + host.len() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for ((vlan, host), members) in &groups {
        let label = format!("{vlan}@{host}");
        out.push_str(&format!(
            "  {label:width$}  {}\n",
            marks(members).join(", ")
        ));
    }
    out
}

fn render_coverage(c: &Coverage) -> String {
    match c.mode {
        Mode::Full => format!(
            "full check ({}): every pair, {} same-VLAN and {} cross-VLAN\n",
            c.reason, c.reach_tested, c.isolation_tested
        ),
        Mode::Sampled => {
            let mut out = format!(
                "sampled check ({}): {} of {} same-VLAN pairs (every host to {} peers in each \
                 VLAN, both ways across every tunnel of a sparse lab), {} of {} cross-VLAN pairs \
                 (every VLAN pair from every host); {} of {} tunnels join a tested pair\n",
                c.reason,
                c.reach_tested,
                c.reach_total,
                super::sample::SAMPLE_PEERS,
                c.isolation_tested,
                c.isolation_total,
                c.tunnels_covered,
                c.tunnels_total
            );
            out.push_str(
                "  it finds a host cut off, a VLAN missing on a host, a leak between VLANs and a \
                 cut tunnel between a tested pair; a broken pair outside the sample is not seen: \
                 `--full` tests every pair\n",
            );
            out
        }
    }
}

/// `VLAN web (10): 300 pairs tested, 299 passed` for a VLAN too big for a matrix.
fn render_vlan_line(m: &VlanMatrix) -> String {
    let tested: Vec<&PairResult> = m.cells.iter().flatten().flatten().collect();
    let passed = tested.iter().filter(|r| r.ok()).count();
    format!(
        "\nVLAN {} ({}): {} hosts, {} pairs tested, {} passed\n",
        m.vlan,
        m.vlan_id,
        m.hosts.len(),
        tested.len(),
        passed
    )
}

/// `latency (ICMP round trip, 6 pairs): min 0.101 ms, median 0.187 ms, max 0.412 ms`.
fn render_latency(sorted_us: &[u32]) -> String {
    let (Some(min), Some(max)) = (sorted_us.first(), sorted_us.last()) else {
        return String::new();
    };
    let ms = |us: u32| format!("{:.3} ms", f64::from(us) / 1000.0);
    format!(
        "\nlatency (ICMP round trip, {} pairs): min {}, median {}, max {}\n",
        sorted_us.len(),
        ms(*min),
        ms(sorted_us[(sorted_us.len() - 1) / 2]),
        ms(*max)
    )
}

/// Pacing, retries and the time taken.
fn render_pacing(p: &Pacing) -> String {
    let mut out = format!(
        "paced: {} pairs at once, {} idle pings at once; {:.1} s\n",
        p.pairs_at_once,
        p.idle_pings_at_once,
        p.elapsed_ms as f64 / 1000.0
    );
    if p.retried > 0 {
        out.push_str(&format!(
            "retried alone, with longer deadlines: {} failing pairs, {} passed then\n",
            p.retried, p.recovered
        ));
    }
    if p.not_retried > 0 {
        out.push_str(&format!(
            "not retried: {} more failing pairs (at most {} are retried)\n",
            p.not_retried, p.retry_limit
        ));
    }
    out
}

/// One VLAN's matrix as a text table, rows = from, columns = to; `.` is a pair a sample
/// left out.
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
        for (j, c) in row.iter().enumerate() {
            let mark = match c {
                None if i == j => "-",
                None => ".",
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
            latency_us: Some(187),
            retried: false,
        };
        let mtu_only = PairResult {
            mtu: false,
            retried: true,
            latency_us: Some(2412),
            ..ok
        };
        CheckReport {
            overlay_mtu: 1446,
            coverage: Coverage {
                mode: Mode::Full,
                reason: "3 hosts, at most 16".into(),
                reach_tested: 6,
                reach_total: 6,
                isolation_tested: 2,
                isolation_total: 2,
                tunnels_covered: 3,
                tunnels_total: 3,
            },
            pacing: Pacing {
                pairs_at_once: 4,
                idle_pings_at_once: 32,
                retried: 1,
                recovered: 0,
                not_retried: 0,
                retry_limit: 32,
                elapsed_ms: 4321,
            },
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
    fn a_sample_says_so_and_what_it_cannot_see() {
        let mut r = report();
        r.coverage.mode = Mode::Sampled;
        r.coverage.reason = "--sample".into();
        r.vlans[0].cells[0][2] = None;
        let text = r.render();
        assert!(
            text.contains("sampled check (--sample): 6 of 6 same-VLAN pairs"),
            "{text}"
        );
        assert!(text.contains("`--full` tests every pair"), "{text}");
        // A pair the sample left out is a dot, the diagonal a dash.
        assert!(
            text.contains("host-a            -                 pass              ."),
            "{text}"
        );
        // A VLAN too big for a matrix gets one line.
        let n = MATRIX_MAX_HOSTS + 1;
        let ok = r.vlans[0].cells[0][1];
        r.vlans[0].hosts = (0..n).map(|i| format!("h{i}")).collect();
        r.vlans[0].cells = (0..n)
            .map(|i| (0..n).map(|j| ok.filter(|_| j == (i + 1) % n)).collect())
            .collect();
        let text = r.render();
        assert!(
            text.contains("VLAN web (10): 17 hosts, 17 pairs tested, 17 passed"),
            "{text}"
        );
        assert!(!text.contains("from \\ to"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(json["pairs_tested"], 17);
        assert_eq!(json["coverage"]["mode"], "sampled");
        assert_eq!(json["vlans"][0]["cells"][0][1]["latency_us"], 187);
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
