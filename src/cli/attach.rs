//! `ovsnet attach`, `detach`, `containers` and `gc`: which host (its OVSDB and the
//! namespace its switch runs in), then the library's `attach` functions, then printing.

use super::args::{AttachArgs, DetachArgs, OnHost, ShowFormat};
use super::hosts::lab_root;
use super::load::load;
use super::{Coded, Exit};
use crate::attach::{self, AttachRequest, Identity, Placement, Selector};
use crate::linux::Netns;
use crate::ovsdb::Client;
use std::time::Duration;

/// One host a host-side command works on.
struct HostRef {
    name: Option<String>,
    endpoint: String,
    /// Where the host's switch (and so the outer veth ends) lives; `None` when it cannot
    /// be looked into from here (a remote host).
    netns: Option<Netns>,
}

fn hosts(on: &OnHost) -> anyhow::Result<Vec<HostRef>> {
    if let Some(endpoint) = &on.ovsdb {
        return Ok(vec![HostRef {
            name: None,
            endpoint: endpoint.clone(),
            netns: Some(Netns::Current),
        }]);
    }
    let Some(path) = &on.topology else {
        return Err(Coded::usage(
            "say which host: `--ovsdb ENDPOINT`, or `TOPOLOGY --lab --host NAME`",
        ));
    };
    let loaded = load(path, false, false)?;
    let topology = &loaded.topology;
    for name in &on.hosts {
        if topology.host_index(name).is_none() {
            return Err(Coded::usage(format!(
                "`--host {name}` names no host of cluster `{}`",
                topology.cluster
            )));
        }
    }
    let root = lab_root();
    Ok(topology
        .hosts
        .iter()
        .filter(|h| on.hosts.is_empty() || on.hosts.contains(&h.name))
        .map(|h| HostRef {
            name: Some(h.name.clone()),
            endpoint: if on.lab {
                crate::lab::endpoint(topology, &h.name, &root)
            } else {
                h.ovsdb.to_string()
            },
            netns: on
                .lab
                .then(|| Netns::Named(crate::lab::host_netns(&topology.cluster, &h.name))),
        })
        .collect())
}

fn one_host(on: &OnHost) -> anyhow::Result<HostRef> {
    let mut all = hosts(on)?;
    if all.len() != 1 {
        return Err(Coded::usage("name exactly one host: `--host NAME`"));
    }
    Ok(all.remove(0))
}

fn connect(host: &HostRef, timeout: Duration) -> anyhow::Result<Client> {
    Ok(Client::connect(&host.endpoint, timeout)?)
}

/// `ovsnet attach`.
pub fn attach(args: AttachArgs) -> anyhow::Result<Exit> {
    let host = one_host(&args.on)?;
    let timeout = Duration::from_secs(args.on.timeout);
    let (identity, target, who) = match (&args.netns, args.pid, &args.docker) {
        (Some(name), _, _) => (
            Identity::Netns(name.clone()),
            Netns::Named(name.clone()),
            format!("netns {name}"),
        ),
        (None, Some(pid), _) => (Identity::Pid(pid), Netns::Pid(pid), format!("pid {pid}")),
        (None, None, Some(container)) => {
            let found = engine(&args.docker_socket).container(container)?;
            (
                docker_identity(&found.id),
                Netns::Pid(found.pid),
                format!(
                    "Docker container {} ({})",
                    found.name,
                    &found.id[..12.min(found.id.len())]
                ),
            )
        }
        (None, None, None) => {
            return Err(Coded::usage(
                "give `--netns NAME`, `--pid PID` or `--docker CONTAINER`",
            ))
        }
    };
    let mac = args.mac.as_deref().map(parse_mac).transpose()?;
    if args.ifname.is_empty() || args.ifname.len() > 15 || args.ifname.contains(['/', ' ']) {
        return Err(Coded::usage(format!(
            "`--ifname {}` is not an interface name (1 to 15 bytes, no `/` or space)",
            args.ifname
        )));
    }
    let request = AttachRequest {
        vlan: args.vlan.clone(),
        identity,
        placement: Placement::Into(target),
        host_netns: host.netns.clone().unwrap_or(Netns::Current),
        ip: args.ip,
        mac,
        ifname: args.ifname.clone(),
        timeout,
    };
    let mut client = connect(&host, timeout)?;
    let attached = attach::attach(&mut client, &request)?;
    match args.format {
        ShowFormat::Json => println!("{}", serde_json::to_string(&attached)?),
        ShowFormat::Text => println!(
            "attached {who} as port {} on VLAN {} (tag {}): {} mac {}{}",
            attached.port,
            attached.vlan,
            attached.vlan_id,
            attached.address,
            attached.mac,
            attached
                .gateway
                .map_or_else(String::new, |g| format!(", default route via {g}")),
        ),
    }
    Ok(Exit::Success)
}

/// The engine client of `--docker`.
fn engine(socket: &std::path::Path) -> crate::docker::engine::Engine {
    crate::docker::engine::Engine::new(socket, Duration::from_secs(10))
}

/// A container plugged in by `attach --docker` (not through the plugin: no endpoint).
fn docker_identity(id: &str) -> Identity {
    Identity::Docker {
        container: id.to_string(),
        endpoint: String::new(),
        network: String::new(),
    }
}

fn parse_mac(text: &str) -> anyhow::Result<[u8; 6]> {
    let bytes: Option<Vec<u8>> = text
        .split(':')
        .map(|p| {
            (p.len() == 2)
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect();
    match bytes.as_deref() {
        Some(&[a, b, c, d, e, f]) if a & 1 == 0 => Ok([a, b, c, d, e, f]),
        _ => Err(Coded::usage(format!(
            "`--mac {text}` is not a unicast MAC (write six hex pairs: 02:00:00:00:00:01)"
        ))),
    }
}

/// `ovsnet detach`.
pub fn detach(args: DetachArgs) -> anyhow::Result<Exit> {
    let host = one_host(&args.on)?;
    let selector = match (&args.netns, args.pid, &args.port, &args.docker) {
        (Some(name), _, _, _) => Selector::Identity(Identity::Netns(name.clone())),
        (_, Some(pid), _, _) => Selector::Identity(Identity::Pid(pid)),
        (_, _, Some(port), _) => Selector::Port(port.clone()),
        (_, _, _, Some(container)) => {
            // A stopped container still has its ID; only a removed one must be named by ID.
            let id = engine(&args.docker_socket)
                .container_id(container)
                .unwrap_or_else(|_| container.clone());
            Selector::Identity(docker_identity(&id))
        }
        _ => {
            return Err(Coded::usage(
                "give `--netns`, `--pid`, `--port` or `--docker`",
            ))
        }
    };
    let mut client = connect(&host, Duration::from_secs(args.on.timeout))?;
    let netns = host.netns.clone().unwrap_or(Netns::Current);
    for port in attach::detach(&mut client, &netns, &selector)? {
        println!("detached port {port}");
    }
    Ok(Exit::Success)
}

/// `ovsnet containers`.
pub fn containers(on: OnHost, format: ShowFormat) -> anyhow::Result<Exit> {
    let timeout = Duration::from_secs(on.timeout);
    let mut all = Vec::new();
    for host in hosts(&on)? {
        let mut client = connect(&host, timeout)?;
        let snapshot = attach::host::read(&mut client)?;
        let mut list = attach::list(&snapshot, host.netns.as_ref());
        for c in &mut list {
            if c.host.is_none() {
                c.host.clone_from(&host.name);
            }
        }
        all.extend(list);
    }
    match format {
        ShowFormat::Json => println!("{}", serde_json::to_string_pretty(&all)?),
        ShowFormat::Text => {
            for c in &all {
                println!(
                    "{}  {}  {}  {}  {}  {}  {:?}{}",
                    c.host.as_deref().unwrap_or("-"),
                    c.port,
                    c.vlan,
                    c.address,
                    c.mac,
                    c.container,
                    c.state,
                    c.reason
                        .as_deref()
                        .map_or_else(String::new, |r| format!(" ({r})")),
                );
            }
            println!("{} container(s)", all.len());
        }
    }
    Ok(Exit::Success)
}

/// `ovsnet gc`.
pub fn gc(on: OnHost) -> anyhow::Result<Exit> {
    let host = one_host(&on)?;
    let mut client = connect(&host, Duration::from_secs(on.timeout))?;
    let netns = host.netns.clone().unwrap_or(Netns::Current);
    let removed = attach::gc(&mut client, &netns)?;
    for c in &removed {
        println!(
            "removed stale port {} ({} {}, {})",
            c.port,
            c.container,
            c.address,
            c.reason.as_deref().unwrap_or("stale")
        );
    }
    println!("{} stale container port(s) removed", removed.len());
    Ok(Exit::Success)
}
