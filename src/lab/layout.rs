//! Names and paths of everything the lab creates, derived from the cluster and host
//! names alone, so `down` can find it again even when the run directory is gone.

use std::path::{Path, PathBuf};

/// Every lab namespace starts with this, then the cluster name.
pub const NETNS_PREFIX: &str = "ovlab.";

/// The run directory the CLI uses unless told otherwise.
pub const DEFAULT_RUN_ROOT: &str = "/run/ovsnet-lab";

/// The Linux bridge in the underlay namespace that joins every host.
pub(crate) const UNDERLAY_BRIDGE: &str = "br-ul";
/// The OVS bridge in each host namespace that holds the underlay address.
pub(crate) const PHY_BRIDGE: &str = "br-phy";
/// The host end of the host's underlay veth (names are per namespace, so it never clashes).
pub(crate) const HOST_UPLINK: &str = "ul0";
/// Name of a probe's interface inside its own namespace.
pub(crate) const PROBE_INNER: &str = "eth0";
/// The lab's state record inside the cluster's run directory.
pub(crate) const RECORD_FILE: &str = "lab.json";

/// The underlay namespace of a cluster: `ovlab.<cluster>`. Cluster names hold no dot,
/// so this never collides with another cluster's namespaces.
pub fn underlay_netns(cluster: &str) -> String {
    format!("{NETNS_PREFIX}{cluster}")
}

/// A host's namespace: `ovlab.<cluster>.<host>`.
pub fn host_netns(cluster: &str, host: &str) -> String {
    format!("{NETNS_PREFIX}{cluster}.{host}")
}

/// A probe's namespace: `ovlab.<cluster>.<host>.v<vlan id>`.
pub fn probe_netns(cluster: &str, host: &str, vlan_id: u16) -> String {
    format!("{NETNS_PREFIX}{cluster}.{host}.v{vlan_id}")
}

/// The lab's "outside" (a stand-in for the world beyond the cluster, on the underlay):
/// `ovlab.<cluster>._outside`. Host names start with a letter or digit, so no host's
/// namespace is ever called that, and `down` finds it by the cluster's prefix.
pub fn outside_netns(cluster: &str) -> String {
    format!("{NETNS_PREFIX}{cluster}._outside")
}

/// The prefix shared by every host and probe namespace of a cluster.
pub(crate) fn cluster_netns_prefix(cluster: &str) -> String {
    format!("{NETNS_PREFIX}{cluster}.")
}

/// The underlay-side end of a host's veth: `h` plus 8 hex digits of a hash of the host
/// name, 9 bytes whatever the host is called, stable as hosts come and go.
pub(crate) fn underlay_port(host: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(host.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("h{hex}")
}

/// The run directory of a cluster.
pub fn cluster_dir(run_root: &Path, cluster: &str) -> PathBuf {
    run_root.join(cluster)
}

/// Files of one host's Open vSwitch instance.
#[derive(Clone, Debug)]
pub(crate) struct HostPaths {
    /// The host's directory (also its OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR).
    pub dir: PathBuf,
    pub db: PathBuf,
    pub db_sock: PathBuf,
    pub ovsdb_pid: PathBuf,
    pub ovsdb_ctl: PathBuf,
    pub ovsdb_log: PathBuf,
    pub vswitchd_pid: PathBuf,
    pub vswitchd_ctl: PathBuf,
    pub vswitchd_log: PathBuf,
    /// The host's `ovsnet agent`: pid file and log (its stderr).
    pub agent_pid: PathBuf,
    pub agent_log: PathBuf,
    /// The agent's `--state-dir` (its dnsmasq's files).
    pub agent_state: PathBuf,
}

impl HostPaths {
    /// The paths of `host` in `cluster` under `run_root`.
    pub fn new(run_root: &Path, cluster: &str, host: &str) -> HostPaths {
        let dir = cluster_dir(run_root, cluster).join("hosts").join(host);
        HostPaths {
            db: dir.join("conf.db"),
            db_sock: dir.join("db.sock"),
            ovsdb_pid: dir.join("ovsdb-server.pid"),
            ovsdb_ctl: dir.join("ovsdb-server.ctl"),
            ovsdb_log: dir.join("ovsdb-server.log"),
            vswitchd_pid: dir.join("ovs-vswitchd.pid"),
            vswitchd_ctl: dir.join("ovs-vswitchd.ctl"),
            vswitchd_log: dir.join("ovs-vswitchd.log"),
            agent_pid: dir.join("ovsnet-agent.pid"),
            agent_log: dir.join("ovsnet-agent.log"),
            agent_state: dir.join("dhcp"),
            dir,
        }
    }

    /// The longest socket path, which must fit `sun_path` (107 bytes plus NUL).
    #[allow(clippy::expect_used, reason = "max of a three-element array")]
    pub fn longest_socket(&self) -> &Path {
        [&self.db_sock, &self.ovsdb_ctl, &self.vswitchd_ctl]
            .into_iter()
            .max_by_key(|p| p.as_os_str().len())
            .expect("the array is not empty")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underlay_port_is_short_and_stable() {
        let a = underlay_port("a-very-long-host-name-indeed");
        assert_eq!(a.len(), 9);
        assert_eq!(a, underlay_port("a-very-long-host-name-indeed"));
        assert_ne!(a, underlay_port("host-b"));
    }

    #[test]
    fn cluster_namespaces_do_not_overlap_across_clusters() {
        let prefix = cluster_netns_prefix("demo");
        assert!(host_netns("demo", "a").starts_with(&prefix));
        assert!(!host_netns("demo-2", "a").starts_with(&prefix));
        assert!(!underlay_netns("demo").starts_with(&prefix));
    }
}
