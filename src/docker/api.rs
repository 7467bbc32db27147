//! The JSON bodies of Docker's remote network driver (`NetworkDriver.*`) and remote IPAM
//! driver (`IpamDriver.*`) protocols, as libnetwork's `drivers/remote/api/api.go` and
//! `ipams/remote/api/api.go` spell them: Go field names in PascalCase, nil maps and
//! slices sent as `null`. Every request field is defaulted and null-tolerant, so a field
//! Docker leaves out or nulls never fails a request; replies always serialize to an
//! object (Docker decodes every 200 body and fails on an empty one).
//!
//! Types only: no I/O, no decisions.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The generic options map Docker sends (`Options`): string keys, any JSON values.
pub type Options = BTreeMap<String, Json>;

/// The key under which `docker network create -o k=v` options arrive in CreateNetwork.
pub const GENERIC_OPTIONS: &str = "com.docker.network.generic";
/// The key of the published ports (`-p`) in Join and ProgramExternalConnectivity options.
pub const PORT_MAP: &str = "com.docker.network.portmap";
/// The key in IPAM pool data that hands Docker the network's gateway.
pub const GATEWAY_DATA: &str = "com.docker.network.gateway";
/// The RequestAddress option that marks the gateway's request.
pub const REQUEST_ADDRESS_TYPE: &str = "RequestAddressType";

/// `null` (or a missing field) becomes the type's default.
fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reply to `Plugin.Activate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Manifest {
    /// The subsystems served: `NetworkDriver`, `IpamDriver`.
    pub implements: Vec<String>,
}

/// Reply to `NetworkDriver.GetCapabilities`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Capabilities {
    /// `local` or `global`.
    pub scope: String,
    /// `local` or `global`.
    pub connectivity_scope: String,
    /// Whether Docker should call `GwAllocCheck` (Docker 28 and later).
    pub gw_alloc_checker: bool,
}

/// One address family's IPAM result for a network (libnetwork's `IPAMData`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamData {
    /// The IPAM address space the pool came from.
    #[serde(deserialize_with = "null_default")]
    pub address_space: String,
    /// The pool, CIDR.
    #[serde(deserialize_with = "null_default")]
    pub pool: String,
    /// The gateway, CIDR; empty when none was allocated.
    #[serde(deserialize_with = "null_default")]
    pub gateway: String,
    /// `--aux-address` names to CIDRs.
    #[serde(deserialize_with = "null_default")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// `NetworkDriver.CreateNetwork`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateNetwork {
    /// Docker's network ID (64 hex digits).
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
    /// Options; `-o` values are under [`GENERIC_OPTIONS`].
    #[serde(deserialize_with = "null_default")]
    pub options: Options,
    /// IPv4 pools.
    #[serde(rename = "IPv4Data", deserialize_with = "null_default")]
    pub ipv4_data: Vec<IpamData>,
    /// IPv6 pools.
    #[serde(rename = "IPv6Data", deserialize_with = "null_default")]
    pub ipv6_data: Vec<IpamData>,
}

impl CreateNetwork {
    /// The `-o k=v` options. Docker sends them as strings; anything else is shown as JSON.
    pub fn generic_options(&self) -> BTreeMap<String, String> {
        let Some(Json::Object(map)) = self.options.get(GENERIC_OPTIONS) else {
            return BTreeMap::new();
        };
        map.iter()
            .map(|(k, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), text)
            })
            .collect()
    }
}

/// Requests naming only a network: `DeleteNetwork`, `FreeNetwork`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkRef {
    /// Docker's network ID.
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
}

/// An endpoint's interface addresses, in CreateEndpoint's request and reply.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointInterface {
    /// IPv4 address, CIDR; empty when none.
    #[serde(deserialize_with = "null_default")]
    pub address: String,
    /// IPv6 address, CIDR; empty when none.
    #[serde(rename = "AddressIPv6", deserialize_with = "null_default")]
    pub address_ipv6: String,
    /// MAC address; empty when Docker has none.
    #[serde(deserialize_with = "null_default")]
    pub mac_address: String,
}

/// `NetworkDriver.CreateEndpoint`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateEndpoint {
    /// Docker's network ID.
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
    /// Docker's endpoint ID (new on every container start).
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
    /// What Docker already decided (the IPAM address, a `--mac-address`).
    #[serde(deserialize_with = "null_default")]
    pub interface: EndpointInterface,
    /// Endpoint options.
    #[serde(deserialize_with = "null_default")]
    pub options: Options,
}

/// Reply to CreateEndpoint: only the fields Docker left empty may be filled.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateEndpointReply {
    /// Addresses or MAC the driver chose; `None` when Docker decided everything.
    pub interface: Option<EndpointInterface>,
}

/// Requests naming an endpoint: DeleteEndpoint, EndpointOperInfo, Leave,
/// RevokeExternalConnectivity.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointRef {
    /// Docker's network ID.
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
    /// Docker's endpoint ID.
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
}

/// Reply to EndpointOperInfo.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointInfo {
    /// Anything the driver wants `docker network inspect` to show.
    pub value: BTreeMap<String, String>,
}

/// `NetworkDriver.Join`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Join {
    /// Docker's network ID.
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
    /// Docker's endpoint ID.
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
    /// The container's network namespace file (`/var/run/docker/netns/<id>`).
    #[serde(deserialize_with = "null_default")]
    pub sandbox_key: String,
    /// Sandbox options (published ports under [`PORT_MAP`]).
    #[serde(deserialize_with = "null_default")]
    pub options: Options,
}

/// The interface Docker moves into the container.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InterfaceName {
    /// The interface's name in the engine's network namespace at reply time.
    pub src_name: String,
    /// Docker names it this plus an index (`eth` → `eth0`).
    pub dst_prefix: String,
}

/// A static route in a Join reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StaticRoute {
    /// Destination, CIDR.
    pub destination: String,
    /// 0 = via `next_hop`, 1 = connected.
    pub route_type: u8,
    /// The next hop for type 0.
    pub next_hop: String,
}

/// Reply to Join.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinReply {
    /// The interface to move.
    pub interface_name: InterfaceName,
    /// The IPv4 default gateway; empty for none.
    pub gateway: String,
    /// The IPv6 default gateway; empty for none.
    #[serde(rename = "GatewayIPv6")]
    pub gateway_ipv6: String,
    /// Extra routes.
    pub static_routes: Vec<StaticRoute>,
    /// True keeps Docker from adding a `docker_gwbridge` interface.
    pub disable_gateway_service: bool,
}

/// `NetworkDriver.ProgramExternalConnectivity`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProgramExternal {
    /// Docker's network ID.
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
    /// Docker's endpoint ID.
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
    /// Sandbox options (published ports under [`PORT_MAP`]).
    #[serde(deserialize_with = "null_default")]
    pub options: Options,
}

/// One `-p` binding as libnetwork's `types.PortBinding` encodes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// IP protocol number: 6 tcp, 17 udp, 132 sctp.
    pub proto: u8,
    /// The container address (often empty).
    #[serde(rename = "IP", deserialize_with = "null_default")]
    pub ip: String,
    /// The container port.
    pub port: u16,
    /// The host address asked for (empty: any).
    #[serde(rename = "HostIP", deserialize_with = "null_default")]
    pub host_ip: String,
    /// The first host port (0: Docker's choice, i.e. `-P`).
    pub host_port: u16,
    /// The last host port of a range (equal to `host_port` for one port, or 0).
    pub host_port_end: u16,
}

/// The published ports in a sandbox options map; a malformed entry is an error naming it.
pub fn port_map(options: &Options) -> Result<Vec<PortBinding>, String> {
    match options.get(PORT_MAP) {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| format!("cannot read `{PORT_MAP}` ({value}): {e}")),
    }
}

/// Reply to `IpamDriver.GetCapabilities`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamCapabilities {
    /// Whether Docker must pass a MAC in RequestAddress.
    #[serde(rename = "RequiresMACAddress")]
    pub requires_mac_address: bool,
    /// Whether Docker replays pools and addresses at start.
    pub requires_request_replay: bool,
}

/// Reply to `IpamDriver.GetDefaultAddressSpaces`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressSpaces {
    /// The space local-scope networks use.
    pub local_default_address_space: String,
    /// The space global-scope networks use.
    pub global_default_address_space: String,
}

/// `IpamDriver.RequestPool`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestPool {
    /// The address space asked for.
    #[serde(deserialize_with = "null_default")]
    pub address_space: String,
    /// `--subnet`, or empty.
    #[serde(deserialize_with = "null_default")]
    pub pool: String,
    /// `--ip-range`, or empty.
    #[serde(deserialize_with = "null_default")]
    pub sub_pool: String,
    /// `--ipam-opt k=v`.
    #[serde(deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
    /// Whether this is the IPv6 pool.
    #[serde(rename = "V6")]
    pub v6: bool,
}

/// Reply to RequestPool.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PoolReply {
    /// The driver's handle for the pool, given back in RequestAddress.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// The pool, CIDR.
    pub pool: String,
    /// Extra data ([`GATEWAY_DATA`]).
    pub data: BTreeMap<String, String>,
}

/// `IpamDriver.ReleasePool`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReleasePool {
    /// The pool's handle.
    #[serde(rename = "PoolID", deserialize_with = "null_default")]
    pub pool_id: String,
}

/// `IpamDriver.RequestAddress`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestAddress {
    /// The pool's handle.
    #[serde(rename = "PoolID", deserialize_with = "null_default")]
    pub pool_id: String,
    /// The address asked for (`--ip`, `--gateway`), or empty.
    #[serde(deserialize_with = "null_default")]
    pub address: String,
    /// Options ([`REQUEST_ADDRESS_TYPE`]).
    #[serde(deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
}

impl RequestAddress {
    /// Whether Docker asks for the network's gateway rather than an endpoint's address.
    pub fn is_gateway(&self) -> bool {
        self.options.get(REQUEST_ADDRESS_TYPE).map(String::as_str) == Some(GATEWAY_DATA)
    }
}

/// Reply to RequestAddress.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressReply {
    /// The address, CIDR (Docker refuses a bare address).
    pub address: String,
    /// Extra data.
    pub data: BTreeMap<String, String>,
}

/// `IpamDriver.ReleaseAddress`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReleaseAddress {
    /// The pool's handle.
    #[serde(rename = "PoolID", deserialize_with = "null_default")]
    pub pool_id: String,
    /// The address, bare.
    #[serde(deserialize_with = "null_default")]
    pub address: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_network_as_docker_sends_it() {
        let body = json!({
            "NetworkID": "abc",
            "Options": {"com.docker.network.enable_ipv6": false,
                        "com.docker.network.generic": {"vlan": "web"}},
            "IPv4Data": [{"AddressSpace": "ovsnet", "Pool": "10.10.0.0/16",
                          "Gateway": "10.10.0.1/16", "AuxAddresses": null}],
            "IPv6Data": null
        });
        let req: CreateNetwork = serde_json::from_value(body).expect("decodes");
        assert_eq!(req.network_id, "abc");
        assert_eq!(
            req.generic_options().get("vlan").map(String::as_str),
            Some("web")
        );
        assert_eq!(req.ipv4_data[0].pool, "10.10.0.0/16");
        assert!(req.ipv4_data[0].aux_addresses.is_empty());
        assert!(req.ipv6_data.is_empty());
    }

    #[test]
    fn nulls_and_missing_fields_default() {
        let req: CreateEndpoint =
            serde_json::from_value(json!({"NetworkID": null, "Interface": null})).expect("decodes");
        assert_eq!(req, CreateEndpoint::default());
        let req: RequestAddress =
            serde_json::from_value(json!({"PoolID": "p", "Options": null})).expect("decodes");
        assert!(!req.is_gateway());
    }

    #[test]
    fn port_map_reads_go_port_bindings() {
        let options: Options = serde_json::from_value(json!({PORT_MAP: [
            {"Proto": 6, "IP": "", "Port": 80, "HostIP": "", "HostPort": 8080, "HostPortEnd": 8080},
            {"Proto": 17, "IP": null, "Port": 53, "HostIP": "", "HostPort": 5353, "HostPortEnd": 0}
        ]}))
        .expect("decodes");
        let ports = port_map(&options).expect("ports");
        assert_eq!(ports.len(), 2);
        assert_eq!(
            (ports[1].proto, ports[1].port, ports[1].host_port),
            (17, 53, 5353)
        );
        let bad: Options = serde_json::from_value(json!({PORT_MAP: "x"})).expect("decodes");
        assert!(port_map(&bad).expect_err("bad").contains(PORT_MAP));
    }

    #[test]
    fn replies_use_docker_keys() {
        let reply = JoinReply {
            interface_name: InterfaceName {
                src_name: "v".into(),
                dst_prefix: "eth".into(),
            },
            gateway: "10.10.0.1".into(),
            disable_gateway_service: true,
            ..JoinReply::default()
        };
        let text = serde_json::to_value(&reply).expect("encodes");
        assert_eq!(text["InterfaceName"]["SrcName"], "v");
        assert_eq!(text["GatewayIPv6"], "");
        assert_eq!(text["DisableGatewayService"], true);
        let pool = serde_json::to_value(PoolReply::default()).expect("encodes");
        assert!(pool.get("PoolID").is_some());
        let caps = serde_json::to_value(IpamCapabilities::default()).expect("encodes");
        assert!(caps.get("RequiresMACAddress").is_some());
    }
}
