//! The JSON Schema (draft 2020-12) of the topology file, `docs/topology.schema.json`,
//! which editors use to complete and check a file as it is typed.
//!
//! Generated, so it cannot drift from the loader: every mapping's property names come
//! from the very lists the schema walk accepts (`schema::MAPPINGS`), and every mapping is
//! closed (`additionalProperties: false`), as the walk refuses unknown fields. Only the
//! words (descriptions, types, bounds, defaults) are written here; a field the walk
//! accepts but this module does not describe still appears, unconstrained, and
//! [`undescribed`] names it so a test fails until it is described. The schema checks
//! structure (names, types, ranges, which fields go together); semantic rules (overlaps,
//! references between hosts and VLANs, the tunnel graph) stay the loader's alone.
//! Pure: builds a value, reads nothing.

use super::model::DEFAULT_OVSDB;
use super::schema::MAPPINGS;
use serde_json::{json, Map, Value};

/// The `$id` editors and tools know the schema by.
pub const ID: &str = "https://ovsnet.invalid/schema/topology/1";

/// The whole schema document.
pub fn generate() -> Value {
    let mut defs = Map::new();
    for (mapping, _) in MAPPINGS.iter().filter(|(m, _)| *m != "topology") {
        defs.insert((*mapping).to_string(), object(mapping));
    }
    let mut root = object("topology");
    let extra = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ID,
        "title": "ovsnet topology",
        "$defs": defs,
    });
    merge(&mut root, extra);
    root
}

/// Fields the loader accepts that this module has no description for, as `mapping.field`.
pub fn undescribed() -> Vec<String> {
    MAPPINGS
        .iter()
        .flat_map(|(mapping, fields)| {
            fields
                .iter()
                .filter(|f| field(mapping, f).is_none())
                .map(move |f| format!("{mapping}.{f}"))
        })
        .collect()
}

/// A closed object schema for `mapping`, its properties in the loader's order.
fn object(mapping: &str) -> Value {
    let fields = MAPPINGS
        .iter()
        .find(|(m, _)| *m == mapping)
        .map_or(&[][..], |(_, f)| *f);
    let mut properties = Map::new();
    let mut required = Vec::new();
    for name in fields {
        let Some(Field {
            schema,
            required: needed,
        }) = field(mapping, name)
        else {
            properties.insert((*name).to_string(), json!({}));
            continue;
        };
        if needed {
            required.push(*name);
        }
        properties.insert((*name).to_string(), schema);
    }
    let mut object = json!({
        "type": "object",
        "description": about(mapping),
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    let rules = rules(mapping);
    if !rules.is_empty() {
        merge(&mut object, json!({ "allOf": rules }));
    }
    object
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(into), Value::Object(extra)) = (into, extra) {
        into.extend(extra);
    }
}

/// One described field.
struct Field {
    schema: Value,
    required: bool,
}

fn req(schema: Value) -> Option<Field> {
    Some(Field {
        schema,
        required: true,
    })
}

fn opt(schema: Value) -> Option<Field> {
    Some(Field {
        schema,
        required: false,
    })
}

// The patterns restate the loader's name rules (validate.rs) for editors; the corpus
// test holds them to the loader's verdicts.
const CLUSTER: &str = "^[a-z][a-z0-9-]{0,30}$";
const HOST: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";
const VLAN: &str = "^[A-Za-z][A-Za-z0-9_-]{0,31}$";
const IFNAME: &str = "^[A-Za-z0-9_][A-Za-z0-9._-]{0,14}$";
const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

fn ipv4() -> String {
    format!("^{OCTET}(\\.{OCTET}){{3}}$")
}

fn cidr() -> String {
    format!("^{OCTET}(\\.{OCTET}){{3}}/(3[0-2]|[12]?[0-9])$")
}

fn about(mapping: &str) -> &'static str {
    match mapping {
        "topology" => "An ovsnet topology: one Open vSwitch overlay across a cluster of hosts (schema version 1).",
        "bridge" => "The overlay bridge every host gets. Optional; the defaults are shown.",
        "tunnel" => "How hosts are joined: the encapsulation and the shape of the tunnel graph.",
        "underlay" => "The network the tunnels run over.",
        "vlan" => "A VLAN: an OVS access tag on container ports, trunked by every tunnel port.",
        "host" => "A host of the cluster, with its own Open vSwitch.",
        _ => "",
    }
}

/// The description of `mapping.name`, `None` when there is none.
fn field(mapping: &str, name: &str) -> Option<Field> {
    match mapping {
        "topology" => top_field(name),
        "bridge" => bridge_field(name),
        "tunnel" => tunnel_field(name),
        "underlay" => underlay_field(name),
        "vlan" => vlan_field(name),
        "host" => host_field(name),
        _ => None,
    }
}

fn top_field(name: &str) -> Option<Field> {
    match name {
        "version" => req(json!({
            "description": "Schema version of the file; only 1 exists.",
            "const": 1,
        })),
        "cluster" => req(json!({
            "description": "Cluster name, stamped as `external_ids:ovsnet-cluster` on every bridge, port and interface ovsnet creates: a lowercase letter, then at most 30 of a-z, 0-9 and -.",
            "type": "string",
            "pattern": CLUSTER,
        })),
        "bridge" | "tunnel" | "underlay" => {
            let schema = json!({ "$ref": format!("#/$defs/{name}") });
            if name == "tunnel" {
                req(schema)
            } else {
                opt(schema)
            }
        }
        "vlans" => req(json!({
            "description": "The VLANs, each referenced by `hosts[].ranges`. At least one.",
            "type": "array",
            "minItems": 1,
            "items": { "$ref": "#/$defs/vlan" },
        })),
        "hosts" => req(json!({
            "description": "The hosts; their order matters for `topology: chain`. At least one.",
            "type": "array",
            "minItems": 1,
            "items": { "$ref": "#/$defs/host" },
        })),
        _ => None,
    }
}

fn bridge_field(name: &str) -> Option<Field> {
    match name {
        "name" => opt(json!({
            "description": "Name of the overlay bridge on every host: 1 to 15 bytes (the Linux interface name limit) of A-Z, a-z, 0-9, ., _ and -, not starting with . or -.",
            "type": "string",
            "pattern": IFNAME,
            "default": "br-ovsnet",
        })),
        "datapath" => opt(json!({
            "description": "`system` (the kernel module) or `netdev` (userspace); `--lab` forces `netdev`.",
            "enum": ["system", "netdev"],
            "default": "system",
        })),
        _ => None,
    }
}

fn tunnel_field(name: &str) -> Option<Field> {
    match name {
        "type" => req(json!({
            "description": "Encapsulation: `vxlan`, `gre` or `geneve`.",
            "enum": ["vxlan", "gre", "geneve"],
        })),
        "topology" => req(json!({
            "description": "`mesh`: a tunnel between every pair. `chain`: host i to host i+1 in file order (middle hosts relay). `star`: every host to `hub`. `custom`: the listed `links`.",
            "enum": ["mesh", "chain", "star", "custom"],
        })),
        "hub" => opt(json!({
            "description": "The hub host's name (`topology: star` only).",
            "type": "string",
            "pattern": HOST,
        })),
        "links" => opt(json!({
            "description": "Undirected host pairs like `[host-a, host-b]` (`topology: custom` only).",
            "type": "array",
            "items": {
                "type": "array",
                "prefixItems": [
                    { "type": "string", "pattern": HOST },
                    { "type": "string", "pattern": HOST },
                ],
                "items": false,
                "minItems": 2,
            },
        })),
        "key" => opt(json!({
            "description": "Written as `options:key`: the VNI (24-bit, vxlan and geneve) or the GRE key (32-bit).",
            "type": "integer",
            "minimum": 0,
            "maximum": u32::MAX,
        })),
        "dst_port" => opt(json!({
            "description": "UDP destination port, written as `options:dst_port` (vxlan and geneve only).",
            "type": "integer",
            "minimum": 1,
            "maximum": 65535,
        })),
        "loop_protection" => opt(json!({
            "description": "`auto` picks from the graph: a tree needs nothing, a full mesh gets split horizon (`Port.protected=true` on tunnel ports), any other cycle is refused unless set to `rstp`. `protected`: split horizon (full mesh only). `none`: nothing, at your own risk.",
            "enum": ["auto", "protected", "rstp", "none"],
            "default": "auto",
        })),
        _ => None,
    }
}

fn underlay_field(name: &str) -> Option<Field> {
    match name {
        "mtu" => opt(json!({
            "description": "Underlay MTU, for the overlay MTU budget: overlay MTU = this - encapsulation overhead (VXLAN and Geneve 50, GRE 38, keyed GRE 42) - 4 for the inner VLAN tag; an overlay MTU under 1280 is refused.",
            "type": "integer",
            "minimum": 68,
            "maximum": 65535,
            "default": 1500,
        })),
        _ => None,
    }
}

fn vlan_field(name: &str) -> Option<Field> {
    match name {
        "name" => req(json!({
            "description": "VLAN name, the key in `hosts[].ranges`: a letter, then at most 31 of A-Z, a-z, 0-9, _ and -.",
            "type": "string",
            "pattern": VLAN,
        })),
        "id" => req(json!({
            "description": "802.1Q VLAN id.",
            "type": "integer",
            "minimum": 1,
            "maximum": 4094,
        })),
        "subnet" => req(json!({
            "description": "The VLAN's IPv4 subnet, `a.b.c.d/n` without host bits; subnets of different VLANs must not overlap.",
            "type": "string",
            "pattern": cidr(),
        })),
        "gateway" => opt(json!({
            "description": "The VLAN's gateway address, served on every host: inside the subnet, outside every host's range.",
            "type": "string",
            "pattern": ipv4(),
        })),
        "dhcp" => opt(json!({
            "description": "Every host answers DHCP on this VLAN, from its own range only. Needs `gateway`.",
            "type": "boolean",
            "default": false,
        })),
        "nat" => opt(json!({
            "description": "Containers on this VLAN reach the outside through their own host (masquerade). Needs `gateway`.",
            "type": "boolean",
            "default": false,
        })),
        _ => None,
    }
}

fn host_field(name: &str) -> Option<Field> {
    match name {
        "name" => req(json!({
            "description": "Unique host name, used in tunnel port names and `ovsnet-peer` marks: a letter or digit, then at most 62 of A-Z, a-z, 0-9, ., _ and -.",
            "type": "string",
            "pattern": HOST,
        })),
        "underlay_ip" => req(json!({
            "description": "The IPv4 address peers use as `remote_ip`; unique in the cluster.",
            "type": "string",
            "pattern": ipv4(),
        })),
        "ovsdb" => opt(json!({
            "description": "How to reach the host's OVSDB: `unix:PATH`, `tcp:IP:PORT` (labs only: unauthenticated), `ssl:IP:PORT`, or `ssh://[user@]host[:port][/socket]`.",
            "type": "string",
            "pattern": "^(unix:.+|(tcp|ssl):.+|ssh://.+)$",
            "default": DEFAULT_OVSDB,
        })),
        "ranges" => opt(json!({
            "description": "This host's share of each VLAN's subnet, for its containers: VLAN name to `a.b.c.d/n`. Ranges of one VLAN must not overlap between hosts.",
            "type": ["object", "null"],
            "propertyNames": { "pattern": VLAN },
            "additionalProperties": { "type": "string", "pattern": cidr() },
        })),
        _ => None,
    }
}

/// Rules between fields of one mapping, as `allOf` entries.
fn rules(mapping: &str) -> Vec<Value> {
    let when = |field: &str, value: Value| json!({ "properties": { field: { "const": value } }, "required": [field] });
    let when_in = |field: &str, values: Value| json!({ "properties": { field: { "enum": values } }, "required": [field] });
    let needs_gateway =
        |flag: &str| json!({ "if": when(flag, json!(true)), "then": { "required": ["gateway"] } });
    match mapping {
        "tunnel" => vec![
            json!({ "if": when_in("type", json!(["vxlan", "geneve"])), "then": { "properties": { "key": { "maximum": (1u32 << 24) - 1 } } } }),
            json!({ "if": when("type", json!("gre")), "then": { "properties": { "dst_port": false } } }),
            json!({ "if": when("topology", json!("star")), "then": { "required": ["hub"] }, "else": { "properties": { "hub": false } } }),
            json!({ "if": when("topology", json!("custom")), "then": { "required": ["links"] }, "else": { "properties": { "links": false } } }),
        ],
        "vlan" => vec![needs_gateway("dhcp"), needs_gateway("nat")],
        _ => Vec::new(),
    }
}
