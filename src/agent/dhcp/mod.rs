//! DHCP served by the agent (docs/host-side.md, "DHCP"): one dnsmasq per host, DHCP
//! only, on the gateway ports of the VLANs with `dhcp: true` in which this host has a
//! range, answering only from that range and only clients the agent gave an address.
//!
//! The loop, and why:
//! 1. Every reconcile renders dnsmasq's configuration ([`config`]) from the intent and
//!    its hosts file from OVSDB: container ports (so a DHCP client in an attached
//!    container gets attach's address) and the leases the agent recorded ([`lease`]).
//!    A changed configuration restarts dnsmasq (SIGHUP does not re-read it); a changed
//!    hosts file is a SIGHUP.
//! 2. A MAC without a line is turned away by dnsmasq and logged; the agent reads the log
//!    ([`dnsmasq`]), picks an address with attach's allocator and records the lease in
//!    a transaction guarded like attach's, rewrites the hosts file and sends SIGHUP.
//!    The client's next DISCOVER (its own retry, 1 to 4 s later) gets the address.
//! 3. dnsmasq's lease file tells when a client renewed: the recorded expiry follows it,
//!    and a lease neither renewed nor live past its expiry is freed ([`lease`]).
//! 4. OVSDB is the record: a restarted agent (or dnsmasq, or host) rebuilds the same
//!    hosts file from it, so a MAC keeps its address and no address is handed out twice.
//!
//! The gateway's tx checksum offload is switched off before dnsmasq serves it: the
//! userspace datapath forwards the tap's frames with their UDP checksums never filled
//! in, and clients drop such replies (DESIGN.md §5).

pub mod config;
pub mod dnsmasq;
pub mod lease;

use super::intent::HostIntent;
use crate::attach::host::{self, Snapshot};
use crate::linux::{self, Netns};
use crate::ovsdb::{self, Client, OvsdbError};
use config::{Paths, Served};
use dnsmasq::{Dnsmasq, Event};
use lease::{Answer, Lease};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often leases are compared with dnsmasq's lease file without a reason to.
const SWEEP: Duration = Duration::from_secs(30);
/// Rounds a new lease may lose to racing writers before the client's retry is awaited.
const ROUNDS: u32 = 20;

/// The DHCP side of one agent.
pub struct Dhcp {
    paths: Paths,
    /// Created on first need, so an agent serving no DHCP never touches its state dir.
    dnsmasq: Option<Dnsmasq>,
    served: Vec<Served>,
    error: Option<String>,
    last_sweep: Instant,
    /// MACs already logged as finding their range full (a client retries every second).
    full: std::collections::BTreeSet<String>,
    /// Whether a dnsmasq left by a killed agent was looked for (once, with no DHCP).
    looked_for_leftover: bool,
}

impl Dhcp {
    /// The DHCP side keeping its files under `state_dir`.
    pub fn new(state_dir: &Path) -> Dhcp {
        Dhcp {
            paths: Paths::new(state_dir),
            dnsmasq: None,
            served: Vec::new(),
            error: None,
            last_sweep: Instant::now(),
            full: std::collections::BTreeSet::new(),
            looked_for_leftover: false,
        }
    }

    /// The last DHCP error, as the health reports it.
    pub fn error(&self) -> Option<String> {
        self.error.clone()
    }

    /// Brings dnsmasq in line with `intent` (see the module doc, step 1).
    pub fn reconcile(
        &mut self,
        client: &mut Client,
        intent: &HostIntent,
    ) -> Result<(), OvsdbError> {
        self.served = config::served(intent);
        self.error = self.realize(client)?.err();
        Ok(())
    }

    fn realize(&mut self, client: &mut Client) -> Result<Result<(), String>, OvsdbError> {
        if self.served.is_empty() {
            match &mut self.dnsmasq {
                Some(d) => d.stop(),
                // DHCP was turned off while no agent ran: what a killed agent left goes.
                None if !self.looked_for_leftover => {
                    dnsmasq::stop_left_running(&self.paths.dir);
                }
                None => {}
            }
            self.looked_for_leftover = true;
            return Ok(Ok(()));
        }
        let Some(program) = dnsmasq::find_program(std::env::var_os("PATH").as_deref()) else {
            let vlans: Vec<String> = self
                .served
                .iter()
                .map(|s| format!("`{}`", s.vlan))
                .collect();
            return Ok(Err(format!(
                "`{}` is not installed (DHCP on VLAN {})\nhelp: install the Debian package `{}`",
                dnsmasq::PROGRAM,
                vlans.join(", "),
                dnsmasq::PACKAGE
            )));
        };
        if let Err(e) = std::fs::create_dir_all(&self.paths.dir) {
            return Ok(Err(format!(
                "cannot create `{}`: {e}",
                self.paths.dir.display()
            )));
        }
        for s in &self.served {
            // A device not there yet is reported by the gateway step and retried.
            let _ = linux::tx_offload_off(&Netns::Current, &s.ifname);
        }
        // First, so a dnsmasq left running by a killed agent is adopted and reloaded.
        if self.dnsmasq.is_none() {
            self.dnsmasq = Some(Dnsmasq::new(self.paths.clone()));
        }
        let problems = self.write_hosts(client)?;
        let conf = config::render_conf(&self.paths, &self.served);
        let Some(d) = self.dnsmasq.as_mut() else {
            return Ok(Ok(()));
        };
        match write_if_changed(&self.paths.conf, &conf) {
            Ok(true) => d.stop(), // a new configuration needs a new process
            Ok(false) => {}
            Err(e) => return Ok(Err(e)),
        }
        if let Err(e) = d.ensure_started(&program) {
            return Ok(Err(e));
        }
        if let Some(why) = problems.into_iter().next() {
            return Ok(Err(why));
        }
        Ok(d.last_exit.clone().map_or(Ok(()), Err))
    }

    /// Between reconciles: records leases for the clients dnsmasq turned away, follows
    /// renewals, restarts a dnsmasq that exited. Returns whether the error changed.
    pub fn poll(&mut self, client: &mut Client) -> Result<bool, OvsdbError> {
        let Some(d) = &mut self.dnsmasq else {
            return Ok(false);
        };
        if self.served.is_empty() {
            return Ok(false);
        }
        let events = d.events();
        let mut refresh = self.last_sweep.elapsed() >= SWEEP;
        for event in events {
            match event {
                Event::Unknown { ifname, mac } => refresh |= self.unknown(client, &ifname, &mac)?,
                Event::Acked => refresh = true,
            }
        }
        let before = self.error.clone();
        let exited = self.dnsmasq.as_mut().is_some_and(|d| d.pid().is_none());
        if exited {
            // Restart when the backoff allows; the error says why it is down meanwhile.
            self.error = self.realize(client)?.err();
        } else if refresh {
            match self.write_hosts(client)?.into_iter().next() {
                Some(why) => self.error = Some(why),
                None if self.error.is_some() => self.error = self.realize(client)?.err(),
                None => {}
            }
        }
        Ok(before != self.error)
    }

    /// A client dnsmasq did not know, on `ifname`: record a lease for it (step 2).
    /// Returns whether the hosts file must be rewritten.
    fn unknown(
        &mut self,
        client: &mut Client,
        ifname: &str,
        mac: &str,
    ) -> Result<bool, OvsdbError> {
        let Some(served) = self.served.iter().find(|s| s.ifname == ifname).cloned() else {
            return Ok(false); // not a gateway we serve (the config is being replaced)
        };
        for _ in 0..ROUNDS {
            let snapshot = host::read(client)?;
            let (leases, _) = lease::read(&snapshot);
            let lease = match lease::answer(&snapshot, &leases, &served, mac, now()) {
                Answer::Bound(_) => return Ok(true),
                Answer::Full => {
                    if !self.full.insert(mac.to_string()) {
                        return Ok(false);
                    }
                    log(&format!(
                        "no address left in {} of VLAN `{}` for {mac}",
                        served.range, served.vlan
                    ));
                    return Ok(false);
                }
                Answer::New(lease) => lease,
            };
            self.full.remove(mac);
            let Some(bridge) = snapshot
                .bridges
                .values()
                .find(|b| b.intent.vlans.contains_key(&served.vlan))
            else {
                return Ok(false);
            };
            let txn = lease::record_txn(&snapshot, bridge, &lease);
            match ovsdb::commit(&txn, |ops| client.transact(ovsdb::DB, ops)) {
                Ok(_) => {
                    log(&format!(
                        "lease {} to {mac} on VLAN `{}`",
                        lease.ip, served.vlan
                    ));
                    return Ok(true);
                }
                // A guard failed: someone allocated meanwhile; read again and retry.
                Err(OvsdbError::Operation {
                    index, op: "wait", ..
                }) if index < 2 => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Follows dnsmasq's lease file, then writes the hosts file from OVSDB (SIGHUP when
    /// it changed). Returns the lease keys that could not be read.
    fn write_hosts(&mut self, client: &mut Client) -> Result<Vec<String>, OvsdbError> {
        self.last_sweep = Instant::now();
        let mut snapshot = host::read(client)?;
        if self.sweep(client, &snapshot)? {
            snapshot = host::read(client)?;
        }
        let (leases, problems) = lease::read(&snapshot);
        let text = config::render_hosts(&lease::bindings(&snapshot, &leases, &self.served));
        match write_if_changed(&self.paths.hosts, &text) {
            Ok(true) => {
                if let Some(d) = &mut self.dnsmasq {
                    d.reload();
                }
            }
            Ok(false) => {}
            Err(e) => return Ok(vec![e]),
        }
        Ok(problems)
    }

    /// Extends renewed leases and frees expired ones (step 3); whether anything changed.
    fn sweep(&mut self, client: &mut Client, snapshot: &Snapshot) -> Result<bool, OvsdbError> {
        let (leases, _) = lease::read(snapshot);
        let held = std::fs::read_to_string(&self.paths.leases)
            .map(|t| lease::parse_lease_file(&t))
            .unwrap_or_default();
        let changes = lease::changes(&leases, &held, now());
        for change in &changes {
            if let lease::Change::Free(Lease { ip, mac, .. }) = change {
                log(&format!("lease {ip} of {mac} expired: freed"));
            }
            let txn = lease::change_txn(&snapshot.root_uuid, change);
            ovsdb::commit(&txn, |ops| client.transact(ovsdb::DB, ops))?;
        }
        Ok(!changes.is_empty())
    }

    /// The agent stops cleanly: so does its dnsmasq (see [`dnsmasq`] for why).
    pub fn stop(&mut self) {
        if let Some(d) = &mut self.dnsmasq {
            d.stop();
        }
    }
}

/// Writes `text` to `path` (through a temporary file and a rename, so dnsmasq never
/// reads half a file) unless it holds it already; whether it wrote.
fn write_if_changed(path: &Path, text: &str) -> Result<bool, String> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(false);
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    Ok(true)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn log(message: &str) {
    eprintln!("ovsnet agent: {message}");
}
