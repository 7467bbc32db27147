//! A cluster of private Open vSwitch instances for end-to-end tests of the real `ovsnet`
//! binary: one [`OvsHost`] per topology host, a temporary topology file whose hosts'
//! `ovsdb:` fields point at those instances, and helpers that run the binary and read
//! each host back with stock `ovs-vsctl` as an independent witness.
//!
//! Nothing here talks OVSDB itself: what ovsnet did is judged only through `ovs-vsctl`.

#![allow(dead_code)]

use super::OvsHost;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Host names, in file order; host `i` has underlay address 198.18.0.(i+1).
pub const NAMES: [&str; 5] = ["host-a", "host-b", "host-c", "host-d", "host-e"];

/// The overlay bridge every generated topology uses.
pub const BRIDGE: &str = "br-ovsnet";

/// Several private switches, each playing one host of the cluster.
pub struct Cluster {
    /// The switches, in [`NAMES`] order.
    pub hosts: Vec<OvsHost>,
    dir: tempfile::TempDir,
}

/// What a generated topology says: which hosts, which tunnel type and key.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Indices into the cluster's hosts, in file order.
    pub hosts: Vec<usize>,
    /// `vxlan`, `gre` or `geneve`.
    pub tunnel: &'static str,
    /// The tunnel key (VNI), if any.
    pub key: Option<u32>,
    /// The UDP destination port (vxlan, geneve), if any.
    pub dst_port: Option<u16>,
    /// `mesh` or `chain`.
    pub shape: &'static str,
    /// `netdev` (userspace, what these switches run) or `system` (kernel).
    pub datapath: &'static str,
}

impl Spec {
    /// A VXLAN mesh with key 5001 over the first `n` hosts.
    pub fn mesh(n: usize) -> Spec {
        Spec {
            hosts: (0..n).collect(),
            tunnel: "vxlan",
            key: Some(5001),
            dst_port: None,
            shape: "mesh",
            datapath: "netdev",
        }
    }
}

impl Cluster {
    /// Starts `n` switches in parallel.
    pub fn start(n: usize) -> Cluster {
        assert!(n <= NAMES.len());
        let hosts = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n).map(|_| scope.spawn(OvsHost::start)).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an OvsHost started"))
                .collect()
        });
        let dir = tempfile::Builder::new()
            .prefix("ovsnet-e2e")
            .tempdir()
            .expect("temp dir");
        Cluster { hosts, dir }
    }

    /// The switch playing host `name`.
    pub fn host(&self, name: &str) -> &OvsHost {
        &self.hosts[index(name)]
    }

    /// The switch playing host `name`, mutably (to stop its daemons).
    pub fn host_mut(&mut self, name: &str) -> &mut OvsHost {
        &mut self.hosts[index(name)]
    }

    /// A path in the cluster's private directory, as a string for the command line.
    pub fn file(&self, name: &str) -> String {
        self.dir
            .path()
            .join(name)
            .to_str()
            .expect("utf-8 temp path")
            .to_string()
    }

    /// Writes the topology `spec` describes to `FILE.yaml` and returns its path.
    pub fn topology(&self, file: &str, spec: &Spec) -> String {
        let path = self.file(&format!("{file}.yaml"));
        std::fs::write(&path, self.yaml(spec)).expect("write topology");
        path
    }

    /// Like [`Cluster::topology`], with host `i`'s `ovsdb:` endpoint from `endpoint(i)`.
    pub fn topology_reaching(
        &self,
        file: &str,
        spec: &Spec,
        endpoint: impl Fn(usize) -> String,
    ) -> String {
        let path = self.file(&format!("{file}.yaml"));
        std::fs::write(&path, self.yaml_reaching(spec, endpoint)).expect("write topology");
        path
    }

    fn yaml(&self, spec: &Spec) -> String {
        self.yaml_reaching(spec, |i| self.hosts[i].endpoint())
    }

    fn yaml_reaching(&self, spec: &Spec, endpoint: impl Fn(usize) -> String) -> String {
        let mut y = String::from("version: 1\ncluster: demo\n");
        y += &format!("bridge:\n  name: {BRIDGE}\n  datapath: {}\n", spec.datapath);
        y += &format!(
            "tunnel:\n  type: {}\n  topology: {}\n",
            spec.tunnel, spec.shape
        );
        if let Some(key) = spec.key {
            y += &format!("  key: {key}\n");
        }
        if let Some(port) = spec.dst_port {
            y += &format!("  dst_port: {port}\n");
        }
        y += "vlans:\n  - name: web\n    id: 10\n    subnet: 10.10.0.0/16\n";
        y += "  - name: db\n    id: 20\n    subnet: 10.20.0.0/16\nhosts:\n";
        for &i in &spec.hosts {
            y += &format!(
                "  - name: {}\n    underlay_ip: 198.18.0.{}\n    ovsdb: {}\n",
                NAMES[i],
                i + 1,
                endpoint(i)
            );
            y += &format!(
                "    ranges:\n      web: 10.10.{0}.0/24\n      db: 10.20.{0}.0/24\n",
                i + 1
            );
        }
        y
    }
}

fn index(name: &str) -> usize {
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

/// One finished run of the binary.
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Both streams, for searching a message wherever it was printed.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics unless the exit code is `code`.
    pub fn expect_code(&self, code: i32, what: &str) -> &Run {
        assert_eq!(self.code, code, "{what}: {self}");
        self
    }
}

/// Runs the real `ovsnet` binary with no terminal and no colour.
pub fn ovsnet(args: &[&str]) -> Run {
    ovsnet_with(args, |_| {})
}

/// Like [`ovsnet`], letting the caller adjust the command (environment, ...).
pub fn ovsnet_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ovsnet"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("OVSNET_LAB_DIR")
        .stdin(Stdio::null());
    adjust(&mut cmd);
    let out: Output = cmd.output().expect("the ovsnet binary runs");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ovsnet apply TOPOLOGY --auto-approve`, which must succeed.
pub fn converge(topology: &str) -> Run {
    let run = ovsnet(&["apply", topology, "--auto-approve"]);
    run.expect_code(0, "apply converges");
    run
}

/// `ovsnet plan ... --format json` (exit 0 expected), parsed.
pub fn plan_json(args: &[&str]) -> Value {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = ovsnet(&all);
    run.expect_code(0, "plan --format json");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("plan json: {e}\n{run}"))
}

/// The plan of `host` in a json plan document.
pub fn host_plan<'a>(plan: &'a Value, host: &str) -> &'a Value {
    plan["hosts"]
        .as_array()
        .expect("hosts array")
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no host {host} in the plan"))
}

/// Host names the plan covers, in order.
pub fn planned_hosts(plan: &Value) -> Vec<String> {
    plan["hosts"]
        .as_array()
        .expect("hosts array")
        .iter()
        .map(|h| h["host"].as_str().expect("host name").to_string())
        .collect()
}

/// One line per change of `host`: `ACTION KIND NAME` and, for updates, `KEY: OLD -> NEW`
/// per attribute.
pub fn change_lines(plan: &Value, host: &str) -> Vec<String> {
    let host = host_plan(plan, host);
    host["changes"]
        .as_array()
        .expect("changes array")
        .iter()
        .map(|c| {
            let head = format!(
                "{} {} {}",
                c["action"].as_str().expect("action"),
                c["kind"].as_str().expect("kind"),
                c["name"].as_str().expect("name")
            );
            if c["action"] != "update" {
                return head;
            }
            let attrs: Vec<String> = c["attrs"]
                .as_array()
                .expect("attrs")
                .iter()
                .map(|a| format!("{}: {} -> {}", str_of(&a["key"]), a["old"], a["new"]))
                .collect();
            format!("{head} {}", attrs.join(", "))
        })
        .collect()
}

fn str_of(v: &Value) -> &str {
    v.as_str().expect("a string")
}

/// Whether no host of the json plan has a change.
pub fn is_empty(plan: &Value) -> bool {
    plan["hosts"]
        .as_array()
        .expect("hosts array")
        .iter()
        .all(|h| h["changes"].as_array().is_some_and(|c| c.is_empty()))
}

/// One row as stock `ovs-vsctl` lists it: column (or `column:key` for maps) → value.
/// Sets become arrays, uuids become their text, a one-element set stays an atom (as
/// OVSDB encodes it).
pub type VsRow = BTreeMap<String, Value>;

/// Every row of `table` on `host` by name, read with `ovs-vsctl --format=json list`.
pub fn vs_rows(host: &OvsHost, table: &str) -> BTreeMap<String, VsRow> {
    let text = host.vsctl(&["--no-wait", "--format=json", "list", table]);
    let doc: Value = serde_json::from_str(&text).expect("ovs-vsctl json");
    let headings: Vec<&str> = doc["headings"]
        .as_array()
        .expect("headings")
        .iter()
        .map(|h| h.as_str().expect("heading"))
        .collect();
    let mut rows = BTreeMap::new();
    for data in doc["data"].as_array().expect("data") {
        let mut row = VsRow::new();
        for (column, cell) in headings.iter().zip(data.as_array().expect("row")) {
            flatten(column, cell, &mut row);
        }
        let name = row
            .get("name")
            .and_then(Value::as_str)
            .expect("a named row")
            .to_string();
        rows.insert(name, row);
    }
    rows
}

fn flatten(column: &str, cell: &Value, row: &mut VsRow) {
    match ovsdb_tag(cell) {
        Some(("map", pairs)) => {
            for pair in pairs.as_array().expect("map pairs") {
                let key = atom(&pair[0]);
                row.insert(
                    format!("{column}:{}", key.as_str().unwrap_or_default()),
                    atom(&pair[1]),
                );
            }
        }
        Some(("set", items)) => {
            let items = items.as_array().expect("set items");
            row.insert(column.to_string(), items.iter().map(atom).collect());
        }
        _ => {
            row.insert(column.to_string(), atom(cell));
        }
    }
}

fn ovsdb_tag(cell: &Value) -> Option<(&str, &Value)> {
    let pair = cell.as_array()?;
    match (pair.first()?.as_str()?, pair.get(1)?) {
        (tag @ ("map" | "set" | "uuid" | "named-uuid"), rest) if pair.len() == 2 => {
            Some((tag, rest))
        }
        _ => None,
    }
}

fn atom(v: &Value) -> Value {
    match ovsdb_tag(v) {
        Some(("uuid", u)) => u.clone(),
        _ => v.clone(),
    }
}

/// The names of the rows of `table` on `host`.
pub fn names(host: &OvsHost, table: &str) -> Vec<String> {
    vs_rows(host, table).into_keys().collect()
}

/// A column's value as a list (a one-element set is an atom in OVSDB's encoding).
pub fn as_list(v: Option<&Value>) -> Vec<Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// A snapshot of every Bridge, Port and Interface row on a host, to prove nothing changed.
pub fn snapshot(host: &OvsHost) -> Vec<BTreeMap<String, VsRow>> {
    ["Bridge", "Port", "Interface"]
        .iter()
        .map(|t| {
            let mut rows = vs_rows(host, t);
            // Runtime columns ovs-vswitchd keeps writing are not configuration.
            for row in rows.values_mut() {
                row.retain(|k, _| {
                    !k.starts_with("statistics")
                        && !k.starts_with("status")
                        && !k.starts_with("link_")
                        && !k.starts_with("mtu")
                        && !k.starts_with("rstp_st")
                        && k != "admin_state"
                        && k != "duplex"
                        && k != "ifindex"
                        && k != "lacp_current"
                        && k != "mac_in_use"
                        && k != "ofport"
                        && k != "datapath_id"
                        && k != "datapath_version"
                        && k != "cfm_fault"
                })
            }
            rows
        })
        .collect()
}

/// A shell script `name` in `dir`, executable.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}
