//! The DHCP part of `lab check`: for every VLAN with `gateway:` and `dhcp: true` and
//! every host with a range in it, two independent clients, busybox `udhcpc` and ISC
//! `dhclient`, each in a namespace of its own on a port made by hand (a veth tagged into
//! the VLAN, no ovsnet mark: the agent must serve it from its log, not from attach's
//! records). Each must be offered an address of *that host's* range, the gateway as
//! router and the overlay MTU (option 26). All clients run at once.
//!
//! Each client's MAC is derived from (cluster, host, VLAN, client), so a second check
//! finds the lease the first one left and the range does not fill up run after run (a
//! lease is freed only an hour after its last use, docs/host-side.md "DHCP").
//! Everything it makes (namespace, port, the client's process) is removed afterwards.

use super::layout::{self, HostPaths};
use super::report::vlan_host_lines;
use super::sys::{self, ip, netns_exec, run};
use super::LabError;
use crate::attach::host;
use crate::ovsdb::txn::Txn;
use crate::ovsdb::{self, Atom, Client, Condition, Datum, Op, RowData};
use crate::topology::Topology;
use ipnet::Ipv4Net;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long OVSDB and the switch may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to be offered an address (a new MAC needs the client's
/// own retry, 1 to 8 s later for dhclient; on an RSTP ring a new port's topology change
/// also drops frames for 3 to 6 s, see `lab`'s notes, and dhclient's randomized backoff
/// then put its next try past 16 s twice in one run of the ring test).
const CLIENT_LIMIT: Duration = Duration::from_secs(40);

/// The two clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DhcpClient {
    /// busybox `udhcpc` (Debian `busybox-static`).
    Udhcpc,
    /// ISC `dhclient` (Debian `isc-dhcp-client`).
    Dhclient,
}

impl DhcpClient {
    /// Its name in the report.
    pub fn word(self) -> &'static str {
        match self {
            DhcpClient::Udhcpc => "udhcpc",
            DhcpClient::Dhclient => "dhclient",
        }
    }

    fn short(self) -> char {
        match self {
            DhcpClient::Udhcpc => 'u',
            DhcpClient::Dhclient => 'd',
        }
    }
}

/// One client on one host for one VLAN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DhcpResult {
    /// The host.
    pub host: String,
    /// The VLAN's name.
    pub vlan: String,
    /// Which client.
    pub client: DhcpClient,
    /// Whether it got the right offer.
    pub ok: bool,
    /// The address it got, when it got one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Addr>,
    /// What was wrong (filled on a failure).
    pub detail: String,
}

/// The DHCP tests of one check (empty without a DHCP VLAN).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DhcpReport {
    /// VLANs in file order, hosts in file order, udhcpc first.
    pub results: Vec<DhcpResult>,
}

impl DhcpReport {
    /// One line per failed client: `dhcp: web@host-b dhclient: no offer`.
    pub fn broken(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| !r.ok)
            .map(|r| {
                format!(
                    "dhcp: {}@{} {}: {}",
                    r.vlan,
                    r.host,
                    r.client.word(),
                    r.detail
                )
            })
            .collect()
    }

    /// A line per (VLAN, host) with each client's mark and address; empty without tests.
    pub fn render(&self) -> String {
        if self.results.is_empty() {
            return String::new();
        }
        let failed = self.results.iter().filter(|r| !r.ok).count();
        let mut out = format!(
            "\ndhcp: {} clients, {} served from their host's range\n",
            self.results.len(),
            self.results.len() - failed
        );
        out.push_str(&vlan_host_lines(
            &self.results,
            |r| (&r.vlan, &r.host),
            |clients| {
                clients
                    .iter()
                    .map(|r| match (r.ok, r.address) {
                        (true, Some(a)) => format!("{} {a}", r.client.word()),
                        _ => format!("{} FAIL", r.client.word()),
                    })
                    .collect()
            },
        ));
        out
    }
}

/// One client to run.
struct Job {
    host: String,
    vlan: String,
    vlan_id: u16,
    range: Ipv4Net,
    gateway: Ipv4Addr,
    client: DhcpClient,
    netns: String,
    host_netns: String,
    sock: PathBuf,
    bridge: String,
    port: String,
    mac: String,
    dir: PathBuf,
}

/// Runs both clients on every (DHCP VLAN, host with a range); `mtu` is the overlay MTU
/// they must be offered.
pub(crate) fn run_all(topology: &Topology, run_root: &Path, mtu: u32) -> DhcpReport {
    let jobs = plan(topology, run_root);
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = jobs
            .iter()
            .map(|job| scope.spawn(move || judge(job, mtu)))
            .collect();
        workers
            .into_iter()
            .zip(&jobs)
            .map(|(w, job)| {
                let outcome = w
                    .join()
                    .unwrap_or_else(|_| Err("the client's worker panicked".into()));
                DhcpResult {
                    host: job.host.clone(),
                    vlan: job.vlan.clone(),
                    client: job.client,
                    ok: outcome.is_ok(),
                    address: outcome.as_ref().ok().copied(),
                    detail: outcome.err().unwrap_or_default(),
                }
            })
            .collect()
    });
    DhcpReport { results }
}

fn plan(topology: &Topology, run_root: &Path) -> Vec<Job> {
    let mut jobs = Vec::new();
    for vlan in topology.vlans.iter().filter(|v| v.dhcp) {
        let Some(gateway) = vlan.gateway else {
            continue; // refused by validation; nothing would serve it
        };
        for h in &topology.hosts {
            let Some(range) = h.ranges.get(&vlan.name) else {
                continue;
            };
            for client in [DhcpClient::Udhcpc, DhcpClient::Dhclient] {
                let probe = layout::probe_netns(&topology.cluster, &h.name, vlan.id);
                let tag = format!("{}.{}.{}", h.name, vlan.id, client.word());
                jobs.push(Job {
                    host: h.name.clone(),
                    vlan: vlan.name.clone(),
                    vlan_id: vlan.id,
                    range: *range,
                    gateway,
                    client,
                    netns: format!("{probe}.{}", client.word()),
                    host_netns: layout::host_netns(&topology.cluster, &h.name),
                    sock: HostPaths::new(run_root, &topology.cluster, &h.name).db_sock,
                    bridge: topology.bridge.name.clone(),
                    port: format!("ovd{}{}", vlan.id, client.short()),
                    mac: stable_mac(&format!("{}.{tag}", topology.cluster)),
                    dir: layout::cluster_dir(run_root, &topology.cluster)
                        .join("dhcp-check")
                        .join(tag),
                });
            }
        }
    }
    jobs
}

/// Plugs the client in, runs it, removes everything; the address when the offer was
/// right, else what was wrong.
fn judge(job: &Job, mtu: u32) -> Result<Ipv4Addr, String> {
    let outcome = plug(job)
        .map_err(|e| format!("cannot plug the client in: {e}"))
        .and_then(|()| offer(job));
    unplug(job);
    let offer = outcome?;
    let want_mtu = mtu.to_string();
    if !job.range.contains(&offer.ip) {
        return Err(format!("offered {}, outside {}", offer.ip, job.range));
    }
    if offer.router != job.gateway.to_string() {
        return Err(format!("router `{}`, not {}", offer.router, job.gateway));
    }
    if offer.mtu != want_mtu {
        return Err(format!("MTU `{}`, not {want_mtu}", offer.mtu));
    }
    Ok(offer.ip)
}

/// A namespace, a veth whose outer end is a port tagged into the VLAN (no marks).
fn plug(job: &Job) -> Result<(), String> {
    unplug(job);
    std::fs::create_dir_all(&job.dir)
        .map_err(|e| format!("cannot create `{}`: {e}", job.dir.display()))?;
    links(job).map_err(|e| e.to_string())?;
    add_port(job).map_err(|e| format!("port `{}`: {e}", job.port))
}

fn links(job: &Job) -> Result<(), LabError> {
    sys::ensure_netns(&job.netns)?;
    let (h, c) = (job.host_netns.as_str(), job.netns.as_str());
    run(&mut ip(
        h,
        &[
            "link", "add", &job.port, "type", "veth", "peer", "name", "eth0", "netns", c,
        ],
    ))?;
    run(&mut ip(h, &["link", "set", &job.port, "up"]))?;
    run(&mut ip(
        c,
        &["link", "set", "eth0", "address", &job.mac, "up"],
    ))?;
    // The userspace datapath forwards a veth's frames with their checksums unfilled.
    run(&mut netns_exec(c, "ethtool", &["-K", "eth0", "tx", "off"]))
}

fn add_port(job: &Job) -> Result<(), String> {
    let mut client = connect(&job.sock)?;
    let snapshot = host::read(&mut client).map_err(|e| e.to_string())?;
    let bridge = snapshot
        .bridges
        .get(&job.bridge)
        .ok_or_else(|| format!("no overlay bridge `{}`", job.bridge))?;
    let mut txn = Txn::new();
    txn.wait_name_absent("Port", &job.port);
    let mut port = RowData::new();
    port.insert("tag".into(), Datum::atom(Atom::Int(i64::from(job.vlan_id))));
    // The client is an end host: on an RSTP bridge (a ring) its port forwards at once
    // instead of waiting through listening and learning, as attach's ports do.
    port.insert(
        "other_config".into(),
        Datum::str_map([("rstp-port-admin-edge", "true")]),
    );
    let id = txn.insert_port(&job.port, port, RowData::new());
    txn.add_ports(Condition::uuid(&bridge.uuid), vec![Atom::NamedUuid(id)]);
    txn.bump_cfg();
    let done =
        ovsdb::commit(&txn, |ops| client.transact(ovsdb::DB, ops)).map_err(|e| e.to_string())?;
    ovsdb::wait_for_cur_cfg(
        |ops: &[Op]| client.transact(ovsdb::DB, ops),
        done.cfg.unwrap_or(0),
        TIMEOUT,
    )
    .map_err(|e| e.to_string())?
    .map_err(|reached| format!("the switch stayed at configuration {reached}"))
}

/// Removes what [`plug`] made, whatever of it exists (the port by name from this
/// check's bridge; the namespace with its veth). The client was stopped by [`offer`].
fn unplug(job: &Job) {
    if let Ok(mut client) = connect(&job.sock) {
        let _ = remove_port(&mut client, job);
    }
    let _ = sys::delete_netns(&job.netns);
    let _ = sys::succeeds(&mut ip(&job.host_netns, &["link", "del", &job.port]));
}

fn remove_port(client: &mut Client, job: &Job) -> Result<(), String> {
    let select = Op::Select {
        table: "Port".into(),
        conditions: vec![Condition::name(&job.port)],
        columns: Some(vec!["_uuid".into()]),
    };
    let results = client
        .transact(ovsdb::DB, &[select])
        .map_err(|e| e.to_string())?;
    let uuids: Vec<String> = ovsdb::rows(&results[0])
        .iter()
        .filter_map(ovsdb::txn::uuid_of)
        .collect();
    if uuids.is_empty() {
        return Ok(());
    }
    let mut txn = Txn::new();
    txn.remove_ports(Condition::name(&job.bridge), uuids);
    ovsdb::commit(&txn, |ops| client.transact(ovsdb::DB, ops))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn connect(sock: &Path) -> Result<Client, String> {
    Client::connect(&format!("unix:{}", sock.display()), TIMEOUT).map_err(|e| e.to_string())
}

/// What a client was offered.
struct Offer {
    ip: Ipv4Addr,
    router: String,
    mtu: String,
}

/// Runs the client once, its script recording the environment it is given (and
/// configuring nothing); reads the bound offer back.
fn offer(job: &Job) -> Result<Offer, String> {
    let record = job.dir.join("offer.env");
    let _ = std::fs::remove_file(&record);
    let script = job.dir.join("record.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ echo \"reason=$1$reason\"; env; echo; }} >> '{}'\n",
            record.display()
        ),
    )
    .and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
    })
    .map_err(|e| format!("cannot write `{}`: {e}", script.display()))?;
    let started = Instant::now();
    let (mut cmd, package, keys) = match job.client {
        DhcpClient::Udhcpc => (udhcpc(job, &script), "busybox-static", UDHCPC),
        DhcpClient::Dhclient => (dhclient(job, &script)?, "isc-dhcp-client", DHCLIENT),
    };
    // In the foreground (dhclient `-d`), so the process to stop is the one started: no
    // daemon whose pid file may come too late. Stopped once the script saw a lease.
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run it ({e}); install the Debian package `{package}`"))?;
    let bound = || read_offer(&std::fs::read_to_string(&record).unwrap_or_default(), keys);
    let mut exited = None;
    let mut got = bound();
    while got.is_none() && exited.is_none() && started.elapsed() < CLIENT_LIMIT {
        std::thread::sleep(Duration::from_millis(20));
        exited = child.try_wait().ok().flatten();
        got = bound();
    }
    let _ = child.kill();
    let _ = child.wait();
    got.ok_or_else(|| {
        let why = exited.map_or("still trying".to_string(), |s| s.to_string());
        format!(
            "no offer in {:.1} s ({why})",
            started.elapsed().as_secs_f64()
        )
    })
}

fn udhcpc(job: &Job, script: &Path) -> Command {
    let script = script.to_string_lossy();
    netns_exec(
        &job.netns,
        "busybox",
        &[
            "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "20", "-T", "1", "-O", "mtu", "-s",
            &script,
        ],
    )
}

/// dhclient with its own config, pid and lease files in the client's directory.
fn dhclient(job: &Job, script: &Path) -> Result<Command, String> {
    let conf = job.dir.join("dhclient.conf");
    std::fs::write(
        &conf,
        "timeout 35;\nretry 1;\nrequest subnet-mask, routers, interface-mtu;\n",
    )
    .map_err(|e| format!("cannot write `{}`: {e}", conf.display()))?;
    let p = |f: &str| job.dir.join(f).to_string_lossy().into_owned();
    let (script, conf) = (script.to_string_lossy(), conf.to_string_lossy());
    Ok(netns_exec(
        &job.netns,
        "dhclient",
        &[
            "-d",
            "-1",
            "-4",
            "-sf",
            &script,
            "-pf",
            &p("dhclient.pid"),
            "-lf",
            &p("dhclient.leases"),
            "-cf",
            &conf,
            "eth0",
        ],
    ))
}

/// The names a client's script is given: the reasons that mean "bound" (a fresh lease,
/// or one the client had and the server confirmed), then the address, router and MTU.
type Keys = (
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static str,
);

const UDHCPC: Keys = (&["bound", "renew"], "ip", "router", "mtu");
const DHCLIENT: Keys = (
    &["BOUND", "REBOOT", "RENEW"],
    "new_ip_address",
    "new_routers",
    "new_interface_mtu",
);

/// The last block of `text` with a bound reason, as (ip, router, mtu).
fn read_offer(text: &str, keys: Keys) -> Option<Offer> {
    let (reasons, ip, router, mtu) = keys;
    let bound = |b: &&str| {
        b.lines().any(|l| {
            l.strip_prefix("reason=")
                .is_some_and(|r| reasons.contains(&r))
        })
    };
    let block = text.split("\n\n").filter(bound).last()?;
    let get = |key: &str| {
        block
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_default()
            .to_string()
    };
    Some(Offer {
        ip: get(ip).parse().ok()?,
        router: get(router),
        mtu: get(mtu),
    })
}

/// A locally administered unicast MAC derived from `seed`.
fn stable_mac(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    crate::gateway::mac_text(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_block_is_read_and_a_failed_run_has_none() {
        let text =
            "reason=deconfig\nip=\n\nreason=bound\nip=10.10.1.3\nrouter=10.10.0.1\nmtu=1446\n\n";
        let got = read_offer(text, UDHCPC).unwrap();
        assert_eq!(
            (got.ip.to_string(), got.router, got.mtu),
            ("10.10.1.3".into(), "10.10.0.1".into(), "1446".into())
        );
        assert!(read_offer("reason=deconfig\n\n", UDHCPC).is_none());
        let reboot = "reason=REBOOT\nnew_ip_address=10.10.1.3\nnew_routers=10.10.0.1\n\n";
        assert_eq!(read_offer(reboot, DHCLIENT).unwrap().router, "10.10.0.1");
    }

    #[test]
    fn macs_are_stable_unicast_and_local() {
        let a = stable_mac("c.host-a.10.udhcpc");
        assert_eq!(a, stable_mac("c.host-a.10.udhcpc"));
        assert_ne!(a, stable_mac("c.host-a.10.dhclient"));
        let first = u8::from_str_radix(&a[..2], 16).unwrap();
        assert_eq!(first & 0x03, 0x02, "{a}");
    }

    #[test]
    fn the_report_names_each_broken_client() {
        let r = DhcpReport {
            results: vec![
                DhcpResult {
                    host: "host-a".into(),
                    vlan: "web".into(),
                    client: DhcpClient::Udhcpc,
                    ok: true,
                    address: Some(Ipv4Addr::new(10, 10, 1, 2)),
                    detail: String::new(),
                },
                DhcpResult {
                    host: "host-a".into(),
                    vlan: "web".into(),
                    client: DhcpClient::Dhclient,
                    ok: false,
                    address: None,
                    detail: "no offer in 15.0 s (exit status: 2)".into(),
                },
            ],
        };
        assert_eq!(
            r.render(),
            "\ndhcp: 2 clients, 1 served from their host's range\n  web@host-a  udhcpc 10.10.1.2, dhclient FAIL\n"
        );
        assert_eq!(
            r.broken(),
            vec!["dhcp: web@host-a dhclient: no offer in 15.0 s (exit status: 2)"]
        );
    }
}
