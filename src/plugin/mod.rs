//! The Docker plugin's behaviour: what a Docker network, pool, address and endpoint are
//! in ovsnet's terms. [`Plugin`] implements [`crate::docker::Driver`]; the protocol
//! module only carries its answers.
//!
//! Everything lives in the host's OVSDB (docs/host-side.md), so a restarted plugin loses
//! nothing: a network is a record `ovsnet-docker-network-<id>` = `{"vlan":...}` on the
//! `Open_vSwitch` row; an address handed out by the IPAM *is* a container port, plugged
//! by the attach library with the address committed in the same transaction (so twenty
//! concurrent `docker run`s get twenty addresses); CreateEndpoint and Join only mark that
//! port (`ovsnet-docker-endpoint`, `ovsnet-docker-network`, `ovsnet-docker-sandbox`) and
//! hand its inner veth end to Docker, which moves it into the container.
//!
//! | Docker call | what happens |
//! | --- | --- |
//! | RequestPool | the VLAN (see `network`), pool = its subnet, gateway = its gateway |
//! | RequestAddress (gateway) | the VLAN's gateway; nothing is allocated |
//! | RequestAddress | plug a port: veth, OVSDB port and address in one transaction |
//! | CreateNetwork / DeleteNetwork | write / remove the network record |
//! | CreateEndpoint | mark the port holding the address with the endpoint |
//! | Join | name the veth end for Docker to move; gateway; no `docker_gwbridge` |
//! | Program/RevokeExternalConnectivity | set / clear `ovsnet-publish` for the agent |
//! | DeleteEndpoint, ReleaseAddress | unplug the port (either may come first; both are idempotent) |
//!
//! Handlers never call the Docker Engine API (dockerd may be blocked on the very call
//! being served); reconciling with Docker happens outside them (`reconcile`).

pub mod attached;
pub mod engine_netns;
pub mod host;
pub mod network;
pub mod reconcile;

use crate::docker::api::*;
use crate::docker::Driver;
use crate::ovsdb::{Client, OvsdbError};
use host::{ContainerPort, HostError, HostView};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Why the plugin refused a request. Each message is shown by the `docker` command.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// Reading or writing the host's OVSDB failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The host declares no VLAN at all.
    #[error("no VLAN is declared on this host\nhelp: declare VLANs and ranges in the topology and run `ovsnet apply`")]
    NoVlans,
    /// A VLAN that is not declared on this host.
    #[error("VLAN `{vlan}` is not declared on this host (declared: {})\nhelp: use one of those, or declare it in the topology and run `ovsnet apply`", .declared.join(", "))]
    UnknownVlan {
        /// The name asked for.
        vlan: String,
        /// The names declared.
        declared: Vec<String>,
    },
    /// The IPAM driver cannot tell which VLAN a pool is for.
    #[error("several VLANs are declared on this host ({}) and the IPAM driver cannot see `-o vlan=`\nhelp: add `--ipam-opt vlan=NAME` or `--subnet SUBNET`", .declared.join(", "))]
    AmbiguousPool {
        /// `name subnet` of each VLAN.
        declared: Vec<String>,
    },
    /// `--subnet` is not the subnet of the VLAN asked for.
    #[error("subnet {subnet} is not VLAN `{vlan}`'s subnet ({vlan_subnet})\nhelp: leave `--subnet` out (ovsnet uses the VLAN's), or give {vlan_subnet}")]
    SubnetMismatch {
        /// The subnet given.
        subnet: Ipv4Net,
        /// The VLAN asked for.
        vlan: String,
        /// That VLAN's subnet.
        vlan_subnet: Ipv4Net,
    },
    /// `--subnet` is no VLAN's subnet.
    #[error("no VLAN on this host has subnet {subnet} (declared: {})\nhelp: leave `--subnet` out and say `-o vlan=NAME`", .declared.join(", "))]
    NoSuchSubnet {
        /// The subnet given.
        subnet: Ipv4Net,
        /// `name subnet` of each VLAN.
        declared: Vec<String>,
    },
    /// A subnet that does not parse.
    #[error("`{0}` is not an IPv4 subnet")]
    BadSubnet(String),
    /// An option ovsnet does not know.
    #[error("unknown option `{flag} {key}`\nhelp: ovsnet knows only `{flag} vlan=NAME`")]
    UnknownOption {
        /// `-o` or `--ipam-opt`.
        flag: &'static str,
        /// The key given.
        key: String,
    },
    /// IPv6 was asked for.
    #[error("ovsnet networks are IPv4 only\nhelp: leave out `--ipv6` and IPv6 subnets")]
    Ipv6,
    /// `--ip-range` was given.
    #[error("`--ip-range {0}` is not supported: each host hands out its own range of the VLAN\nhelp: leave `--ip-range` out")]
    IpRange(String),
    /// Not exactly one IPv4 pool.
    #[error(
        "an ovsnet network has exactly one IPv4 pool, not {0}\nhelp: give at most one `--subnet`"
    )]
    PoolCount(usize),
    /// The network's pool came from another IPAM driver.
    #[error("the network's addresses come from IPAM address space `{address_space}`, not ovsnet's\nhelp: add `--ipam-driver {plugin}` so addresses come from this host's range")]
    ForeignIpam {
        /// The address space Docker sent.
        address_space: String,
        /// This plugin's name (also its address space).
        plugin: String,
    },
    /// This host has no range in the VLAN.
    #[error("this host has no range in VLAN `{0}`, so it cannot give containers addresses\nhelp: add a range for it under this host's `ranges` and run `ovsnet apply`")]
    NoRange(String),
    /// A pool ID this plugin did not hand out.
    #[error("unknown pool `{0}`")]
    UnknownPool(String),
    /// A network this plugin has no record of.
    #[error("network `{0}` is not known to this ovsnet plugin (it has no record in OVSDB)\nhelp: remove it with `docker network rm` and create it again")]
    UnknownNetwork(String),
    /// An endpoint with no port.
    #[error("endpoint `{0}` has no ovsnet port")]
    NoEndpoint(String),
    /// No port holds the address Docker names.
    #[error("no ovsnet port holds address `{0}` in VLAN `{1}`\nhelp: the network must use `--ipam-driver` of the same plugin")]
    NoPortForAddress(String, String),
    /// An address that does not parse.
    #[error("`{0}` is not an IPv4 address")]
    BadAddress(String),
    /// `--gateway` differs from the VLAN's.
    #[error(
        "gateway {asked} is not VLAN `{vlan}`'s gateway ({gateway})\nhelp: leave `--gateway` out"
    )]
    GatewayMismatch {
        /// The gateway asked for.
        asked: String,
        /// The VLAN.
        vlan: String,
        /// Its gateway.
        gateway: Ipv4Addr,
    },
    /// A `-p` ovsnet cannot publish.
    #[error("cannot publish `{0}`: {1}")]
    Publish(String, &'static str),
    /// The attach library refused or failed.
    #[error("{0}")]
    Attach(String),
}

impl From<OvsdbError> for PluginError {
    fn from(e: OvsdbError) -> PluginError {
        PluginError::Host(HostError::Ovsdb(e))
    }
}

/// A port the attach library plugged for an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugged {
    /// The Port row's name.
    pub port: String,
    /// The address, CIDR with the subnet's prefix length.
    pub address: Ipv4Net,
    /// The veth end Docker moves into the container, in the engine's namespace.
    pub veth: String,
}

/// Plugging and unplugging ports: the attach library's job, behind a seam.
pub trait Ports: Send + Sync {
    /// Creates a veth whose outer end is an access port on `vlan` and whose inner end
    /// stays in the engine's network namespace for Docker to move, with an address from
    /// this host's range (`address` if given), committed with `marks` in one transaction.
    fn plug(
        &self,
        ovsdb: &str,
        vlan: &str,
        address: Option<Ipv4Addr>,
        marks: &BTreeMap<String, String>,
    ) -> Result<Plugged, String>;
    /// Removes port `port`, both veth ends and the address. A port already gone is fine.
    fn unplug(&self, ovsdb: &str, port: &str) -> Result<(), String>;
}

/// What a plugin serves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The plugin's name (`-d NAME`, `--ipam-driver NAME`); also its IPAM address space.
    pub name: String,
    /// The host's OVSDB endpoint.
    pub ovsdb: String,
    /// Deadline of every OVSDB request.
    pub timeout: Duration,
}

/// The mark holding the veth end's name until Docker moves it.
pub const VETH_MARK: &str = "ovsnet-docker-veth";

/// The plugin: a [`Config`] and the attach library.
pub struct Plugin {
    config: Config,
    ports: Box<dyn Ports>,
}

impl Plugin {
    /// A plugin for `config`, plugging ports through `ports`.
    pub fn new(config: Config, ports: Box<dyn Ports>) -> Plugin {
        Plugin { config, ports }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One OVSDB connection per request: requests run concurrently, and the allocator's
    /// guards (not a lock here) keep them apart.
    fn connect(&self) -> Result<Client, PluginError> {
        Ok(Client::connect(&self.config.ovsdb, self.config.timeout)?)
    }

    fn view(&self) -> Result<(Client, HostView), PluginError> {
        let mut client = self.connect()?;
        let view = host::read(&mut client)?;
        Ok((client, view))
    }

    /// Whether `port` is one this plugin plugged.
    fn ours(&self, port: &ContainerPort) -> bool {
        port.mark(host::PLUGIN_MARK) == Some(self.config.name.as_str())
    }

    fn endpoint_port<'a>(&self, view: &'a HostView, endpoint: &str) -> Option<&'a ContainerPort> {
        view.ports
            .iter()
            .find(|p| self.ours(p) && p.mark(host::ENDPOINT_MARK) == Some(endpoint))
    }

    fn unplug(&self, port: &str) -> Result<(), PluginError> {
        self.ports
            .unplug(&self.config.ovsdb, port)
            .map_err(PluginError::Attach)
    }
}

/// The address part of `ovsnet-address` (`10.10.1.2/16`).
fn port_address(port: &ContainerPort) -> Option<Ipv4Addr> {
    let text = port.mark("ovsnet-address")?;
    text.parse::<Ipv4Net>().ok().map(|n| n.addr())
}

/// An address Docker sent, bare or CIDR.
fn parse_ip(text: &str) -> Result<Ipv4Addr, PluginError> {
    let bare = text.split('/').next().unwrap_or_default();
    bare.parse()
        .map_err(|_| PluginError::BadAddress(text.to_string()))
}

/// `-p` bindings as `ovsnet-publish` spells them: `HOSTPORT:PORT/PROTO`, sorted, joined.
pub fn publish_value(ports: &[PortBinding]) -> Result<String, PluginError> {
    let mut out = Vec::new();
    for p in ports {
        let proto = match p.proto {
            6 => "tcp",
            17 => "udp",
            _ => {
                return Err(PluginError::Publish(
                    format!("{}/{}", p.port, p.proto),
                    "only tcp and udp can be published",
                ))
            }
        };
        let text = format!("{}:{}/{proto}", p.host_port, p.port);
        if p.host_port == 0 {
            return Err(PluginError::Publish(
                text,
                "ovsnet does not choose host ports; give `-p HOSTPORT:PORT`",
            ));
        }
        if p.host_port_end != 0 && p.host_port_end != p.host_port {
            return Err(PluginError::Publish(
                text,
                "host port ranges are not supported",
            ));
        }
        if !p.host_ip.is_empty() && p.host_ip != "0.0.0.0" {
            return Err(PluginError::Publish(
                text,
                "ports are published on the host's address; leave out the host IP",
            ));
        }
        out.push(text);
    }
    out.sort();
    out.dedup();
    Ok(out.join(","))
}

impl Driver for Plugin {
    type Error = PluginError;

    fn capabilities(&self) -> Capabilities {
        // Local: each host's plugin owns its own networks (a socket plugin cannot be
        // swarm-scoped anyway). Connectivity is global: the VLAN spans every host.
        Capabilities {
            scope: "local".into(),
            connectivity_scope: "global".into(),
            gw_alloc_checker: false,
        }
    }

    fn create_network(&self, req: CreateNetwork) -> Result<(), PluginError> {
        let (mut client, view) = self.view()?;
        let record = network::check_create(&view, &req, &self.config.name)?;
        host::put_network(&mut client, &req.network_id, &record)?;
        Ok(())
    }

    fn delete_network(&self, req: NetworkRef) -> Result<(), PluginError> {
        let (mut client, view) = self.view()?;
        for port in view
            .ports
            .iter()
            .filter(|p| self.ours(p) && p.mark(host::NETWORK_MARK) == Some(req.network_id.as_str()))
        {
            self.unplug(&port.name)?;
        }
        host::remove_network(&mut client, &req.network_id)?;
        Ok(())
    }

    fn create_endpoint(&self, req: CreateEndpoint) -> Result<CreateEndpointReply, PluginError> {
        let (mut client, view) = self.view()?;
        let record = view
            .networks
            .get(&req.network_id)
            .ok_or_else(|| PluginError::UnknownNetwork(req.network_id.clone()))?;
        let ip = parse_ip(&req.interface.address)?;
        let port = view
            .ports
            .iter()
            .find(|p| {
                self.ours(p)
                    && p.mark("ovsnet-vlan") == Some(record.vlan.as_str())
                    && port_address(p) == Some(ip)
                    && p.mark(host::ENDPOINT_MARK)
                        .is_none_or(|e| e.is_empty() || e == req.endpoint_id)
            })
            .ok_or_else(|| PluginError::NoPortForAddress(ip.to_string(), record.vlan.clone()))?;
        host::mark_port(
            &mut client,
            &port.name,
            &[
                (host::ENDPOINT_MARK, &req.endpoint_id),
                (host::NETWORK_MARK, &req.network_id),
            ],
            &[],
        )?;
        let mac = port.mark("ovsnet-mac").unwrap_or_default();
        let interface =
            (req.interface.mac_address.is_empty() && !mac.is_empty()).then(|| EndpointInterface {
                mac_address: mac.to_string(),
                ..EndpointInterface::default()
            });
        Ok(CreateEndpointReply { interface })
    }

    fn delete_endpoint(&self, req: EndpointRef) -> Result<(), PluginError> {
        let (_, view) = self.view()?;
        match self.endpoint_port(&view, &req.endpoint_id) {
            Some(port) => self.unplug(&port.name),
            None => Ok(()),
        }
    }

    fn endpoint_info(&self, req: EndpointRef) -> Result<EndpointInfo, PluginError> {
        let (_, view) = self.view()?;
        let mut value = BTreeMap::new();
        if let Some(port) = self.endpoint_port(&view, &req.endpoint_id) {
            value.insert("ovsnet-port".to_string(), port.name.clone());
        }
        Ok(EndpointInfo { value })
    }

    fn join(&self, req: Join) -> Result<JoinReply, PluginError> {
        let (mut client, view) = self.view()?;
        let port = self
            .endpoint_port(&view, &req.endpoint_id)
            .ok_or_else(|| PluginError::NoEndpoint(req.endpoint_id.clone()))?;
        let veth = port
            .mark(VETH_MARK)
            .ok_or_else(|| PluginError::NoEndpoint(req.endpoint_id.clone()))?;
        let vlan = port.mark("ovsnet-vlan").and_then(|v| view.vlans.get(v));
        host::mark_port(
            &mut client,
            &port.name,
            &[(host::SANDBOX_MARK, &req.sandbox_key)],
            &[],
        )?;
        Ok(JoinReply {
            interface_name: InterfaceName {
                src_name: veth.to_string(),
                dst_prefix: "eth".into(),
            },
            gateway: vlan
                .and_then(|v| v.gateway)
                .map(|g| g.to_string())
                .unwrap_or_default(),
            // The way out is the VLAN's own gateway (or none): never `docker_gwbridge`,
            // which would be a second interface and an engine network we did not make.
            disable_gateway_service: true,
            ..JoinReply::default()
        })
    }

    fn leave(&self, _req: EndpointRef) -> Result<(), PluginError> {
        // Docker moves the interface back out and calls DeleteEndpoint next, which
        // removes the port; a container whose namespace died took the veth with it.
        Ok(())
    }

    fn program_external(&self, req: ProgramExternal) -> Result<(), PluginError> {
        let bindings = port_map(&req.options).map_err(PluginError::Attach)?;
        let value = publish_value(&bindings)?;
        let (mut client, view) = self.view()?;
        let port = self
            .endpoint_port(&view, &req.endpoint_id)
            .ok_or_else(|| PluginError::NoEndpoint(req.endpoint_id.clone()))?;
        if value.is_empty() {
            host::mark_port(&mut client, &port.name, &[], &[host::PUBLISH_MARK])?;
        } else {
            host::mark_port(
                &mut client,
                &port.name,
                &[(host::PUBLISH_MARK, &value)],
                &[],
            )?;
        }
        Ok(())
    }

    fn revoke_external(&self, req: EndpointRef) -> Result<(), PluginError> {
        let (mut client, view) = self.view()?;
        if let Some(port) = self.endpoint_port(&view, &req.endpoint_id) {
            host::mark_port(&mut client, &port.name, &[], &[host::PUBLISH_MARK])?;
        }
        Ok(())
    }

    fn address_spaces(&self) -> AddressSpaces {
        AddressSpaces {
            local_default_address_space: self.config.name.clone(),
            global_default_address_space: self.config.name.clone(),
        }
    }

    fn request_pool(&self, req: RequestPool) -> Result<PoolReply, PluginError> {
        let (_, view) = self.view()?;
        let (name, vlan) = network::resolve_pool(&view, &req)?;
        let mut data = BTreeMap::new();
        data.insert(GATEWAY_DATA.to_string(), gateway_cidr(vlan));
        Ok(PoolReply {
            pool_id: network::pool_id(name),
            pool: vlan.subnet.to_string(),
            data,
        })
    }

    fn release_pool(&self, _req: ReleasePool) -> Result<(), PluginError> {
        // Pools are VLANs: nothing is held per pool.
        Ok(())
    }

    fn request_address(&self, req: RequestAddress) -> Result<AddressReply, PluginError> {
        let vlan_name = network::pool_vlan(&req.pool_id)?;
        let (_, view) = self.view()?;
        let vlan = network::vlan(&view, vlan_name)?;
        if req.is_gateway() {
            let gateway = gateway_cidr(vlan);
            if !req.address.is_empty() && parse_ip(&req.address)? != gateway_ip(vlan) {
                return Err(PluginError::GatewayMismatch {
                    asked: req.address.clone(),
                    vlan: vlan_name.to_string(),
                    gateway: gateway_ip(vlan),
                });
            }
            return Ok(AddressReply {
                address: gateway,
                data: BTreeMap::new(),
            });
        }
        let asked = match req.address.as_str() {
            "" => None,
            text => Some(parse_ip(text)?),
        };
        let marks = BTreeMap::from([
            (host::PLUGIN_MARK.to_string(), self.config.name.clone()),
            (host::REQUESTED_MARK.to_string(), unix_now().to_string()),
        ]);
        let plugged = self
            .ports
            .plug(&self.config.ovsdb, vlan_name, asked, &marks)
            .map_err(PluginError::Attach)?;
        let mut client = self.connect()?;
        // Attach records the address and the identity; the plugin's own marks follow at
        // once (a crash in between leaves a port `ovsnet gc`/`detach` can remove).
        let mut all: Vec<(&str, &str)> = marks
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.push((VETH_MARK, &plugged.veth));
        host::mark_port(&mut client, &plugged.port, &all, &[])?;
        Ok(AddressReply {
            address: plugged.address.to_string(),
            data: BTreeMap::new(),
        })
    }

    fn release_address(&self, req: ReleaseAddress) -> Result<(), PluginError> {
        let vlan_name = network::pool_vlan(&req.pool_id)?;
        let ip = parse_ip(&req.address)?;
        let (_, view) = self.view()?;
        let holder = view.ports.iter().find(|p| {
            self.ours(p) && p.mark("ovsnet-vlan") == Some(vlan_name) && port_address(p) == Some(ip)
        });
        match holder {
            Some(port) => self.unplug(&port.name),
            None => Ok(()),
        }
    }
}

/// The VLAN's gateway; a VLAN without one gets its network address as a placeholder
/// (Docker insists on a gateway; it is never a container's address, and Join then gives
/// no default route).
fn gateway_ip(vlan: &host::Vlan) -> Ipv4Addr {
    vlan.gateway.unwrap_or(vlan.subnet.network())
}

/// [`gateway_ip`] with the subnet's prefix length.
fn gateway_cidr(vlan: &host::Vlan) -> String {
    format!("{}/{}", gateway_ip(vlan), vlan.subnet.prefix_len())
}

/// Seconds since the epoch (0 if the clock is before it).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(proto: u8, port: u16, host_port: u16) -> PortBinding {
        PortBinding {
            proto,
            port,
            host_port,
            host_port_end: host_port,
            ..PortBinding::default()
        }
    }

    #[test]
    fn publish_values_are_sorted_and_refusals_named() {
        let v = publish_value(&[binding(17, 53, 5353), binding(6, 80, 8080)]).expect("ok");
        assert_eq!(v, "5353:53/udp,8080:80/tcp");
        assert_eq!(publish_value(&[]).expect("none"), "");
        let auto = publish_value(&[binding(6, 80, 0)]).expect_err("-P");
        assert!(auto.to_string().contains("HOSTPORT"), "{auto}");
        let mut local = binding(6, 80, 8080);
        local.host_ip = "127.0.0.1".into();
        assert!(publish_value(&[local]).is_err());
        assert!(publish_value(&[binding(132, 9, 9)]).is_err());
    }
}
