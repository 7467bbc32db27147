//! What was typed: the clap types. Nothing outside `cli` sees them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The version `--version` prints: the crate's, and the git commit it was built from
/// (`unknown` when built outside a git checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("OVSNET_GIT_COMMIT"),
    ")"
);

/// Declarative Open vSwitch overlays: plan, apply, verify.
#[derive(Debug, Parser)]
#[command(name = "ovsnet", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a topology file; exit 0 when valid, 65 when not.
    Validate {
        /// Topology file.
        topology: PathBuf,
        #[command(flatten)]
        color: ColorArgs,
    },
    /// Show what would change on every host.
    Plan(PlanArgs),
    /// Make the hosts match a topology or a saved plan, then verify.
    Apply(ApplyArgs),
    /// Show what the hosts hold now.
    Show {
        /// Topology file.
        topology: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Draw the tunnel graph.
    Graph {
        /// Topology file.
        topology: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// The plan that turning BASE into HEAD would give, with no host contacted.
    Diff {
        /// The topology hosts hold now.
        base: PathBuf,
        /// The topology they should hold.
        head: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Run the host agent in the foreground: gateway addresses, NAT, published ports, DHCP.
    Agent {
        /// The local OVSDB endpoint.
        #[arg(long, value_name = "ENDPOINT", default_value = crate::topology::DEFAULT_OVSDB)]
        ovsdb: String,
        /// Also serve the Docker network and IPAM plugin on
        /// `/run/docker/plugins/NAME.sock` (`-d NAME --ipam-driver NAME`).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "ovsnet")]
        docker_plugin: Option<String>,
        /// The Docker Engine API socket the plugin reconciles with.
        #[arg(long, value_name = "PATH", default_value = crate::docker::engine::DEFAULT_SOCKET)]
        docker_socket: std::path::PathBuf,
        /// Where the Docker engine's network namespace is, when it is not the agent's:
        /// `engine` (the namespace of the process serving `--docker-socket`) or a
        /// namespace file (`/proc/PID/ns/net`, `/run/netns/NAME`). The interface Docker
        /// moves into a container is handed over there. The lab says `engine`.
        #[arg(long, value_name = "same|engine|PATH", default_value = "same", value_parser = crate::plugin::engine_netns::EngineNetns::parse)]
        docker_netns: crate::plugin::engine_netns::EngineNetns,
        /// Where the agent keeps its dnsmasq's configuration, hosts file, lease file,
        /// pid file and log (DHCP); one directory per agent.
        #[arg(long, value_name = "DIR", default_value = crate::agent::DEFAULT_STATE_DIR)]
        state_dir: std::path::PathBuf,
    },
    /// Publish a container's port on the host's addresses (like `docker run -p`).
    Publish(PublishArgs),
    /// Stop publishing a container's port.
    Unpublish(PublishArgs),
    /// Plug a container (a netns or a pid) into the overlay, from this host's range.
    Attach(AttachArgs),
    /// Unplug containers: their ports and both veth ends.
    Detach(DetachArgs),
    /// List the containers on hosts, with their state (`ok` or `stale`).
    Containers {
        #[command(flatten)]
        on: OnHost,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Remove stale container ports (their namespace is gone) and free their addresses.
    Gc {
        #[command(flatten)]
        on: OnHost,
    },
    /// A whole cluster on this machine, in network namespaces.
    Lab {
        /// What to do.
        #[command(subcommand)]
        action: LabAction,
    },
    /// Print a shell completion script (e.g. `ovsnet completions bash > /etc/bash_completion.d/ovsnet`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the manual page (roff) documenting every command (`ovsnet man | man -l -`).
    Man,
}

/// Shells `ovsnet completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// `ovsnet lab` actions.
#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Start one namespace with its own Open vSwitch per host.
    Up {
        /// Topology file.
        topology: PathBuf,
        /// Each host's agent also serves the Docker plugin `ovsnet-<host>`
        /// (`docker network create -d ovsnet-<host> --ipam-driver ovsnet-<host> ...`).
        #[arg(long)]
        docker: bool,
    },
    /// Stop everything `up` started and remove it.
    Down {
        /// Topology file.
        topology: PathBuf,
    },
    /// List each lab host with its namespace, pids, socket and health.
    Status {
        /// Topology file.
        topology: PathBuf,
    },
    /// Send real traffic between probes on every host and VLAN.
    Check {
        /// Topology file.
        topology: PathBuf,
        /// Leave the probe namespaces and ports in place afterwards.
        #[arg(long)]
        keep_probes: bool,
        /// Test every pair, however big the lab (the default up to --sample-above hosts).
        #[arg(long, conflicts_with = "sample")]
        full: bool,
        /// Test a sample: every host to a few peers per VLAN, every VLAN pair for
        /// isolation (the default above --sample-above hosts).
        #[arg(long)]
        sample: bool,
        /// Sample by default when the lab has more hosts than this.
        #[arg(long, value_name = "HOSTS", default_value_t = crate::lab::sample::SAMPLE_ABOVE)]
        sample_above: usize,
        /// Output format (json: the whole report, every tested pair with its latency, and
        /// every gateway test).
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
}

/// Which hosts to talk to, and where.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Point every host at the one-machine lab (`ovsnet lab up`).
    #[arg(long)]
    pub lab: bool,
    /// Only these hosts (repeatable); no other host is contacted.
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,
    /// Seconds to wait for each OVSDB request.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,
    /// Private key for `ssl:` hosts (PEM; else OVSNET_PRIVATE_KEY: a path or the PEM text).
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// Certificate for `ssl:` hosts, signed by the CA the switches trust (else OVSNET_CERTIFICATE).
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// CA the switches' certificates must be signed by (else OVSNET_CA_CERT).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// How to print a plan.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when there are changes, 0 when there are none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub color: ColorArgs,
}

/// Colour control.
#[derive(Debug, Args, Clone, Default)]
pub struct ColorArgs {
    /// Never colour the output (also: NO_COLOR set, or not a terminal).
    #[arg(long)]
    pub no_color: bool,
}

/// `ovsnet plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Topology file.
    pub topology: PathBuf,
    /// Plan against hosts that hold nothing; contact no host.
    #[arg(long, conflicts_with = "lab")]
    pub offline: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Also save the plan for `ovsnet apply PLANFILE`.
    #[arg(short = 'o', long = "out", value_name = "PLANFILE")]
    pub out: Option<PathBuf>,
}

/// `ovsnet apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Topology file, or a plan saved by `plan -o`.
    pub input: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Seconds to wait for ovs-vswitchd to take the new configuration.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub switch_timeout: u64,
    /// Work on at most N hosts at once.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub parallel: u64,
    /// Apply and verify the first N hosts of the file before any other; if one fails,
    /// no other host is touched.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub canary: u64,
    /// Keep a host that fails after its commit as it is, instead of restoring it.
    #[arg(long)]
    pub no_rollback: bool,
    /// Output format: `json` prints one JSON event per line per host (needs
    /// `--auto-approve`).
    #[arg(long, value_enum, default_value_t = ApplyFormat::Text)]
    pub format: ApplyFormat,
    #[command(flatten)]
    pub color: ColorArgs,
}

/// Plan output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For people at a terminal.
    Text,
    /// Versioned machine-readable document.
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// `apply` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplyFormat {
    /// The plan, then one line per host.
    Text,
    /// One JSON event per line: started, applied, verified, failed, rolled_back,
    /// not_applied, then done.
    Json,
}

/// `show` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// For people.
    Text,
    /// Machine-readable.
    Json,
}

/// `graph` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Adjacency list with the analysis.
    Text,
    /// A mermaid flowchart.
    Mermaid,
    /// Graphviz.
    Dot,
}

/// `publish` and `unpublish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The host's local OVSDB endpoint.
    #[arg(long, value_name = "ENDPOINT", default_value = crate::topology::DEFAULT_OVSDB)]
    pub ovsdb: String,
    /// The container's network namespace (as attached).
    #[arg(long, value_name = "NAME")]
    pub netns: String,
    /// `HOSTPORT:PORT` or `HOSTPORT:PORT/udp`.
    #[arg(value_name = "HOSTPORT:PORT[/udp]")]
    pub mapping: String,
}

/// Which host's OVSDB a host-side command works on: `--ovsdb` on the host itself, or a
/// topology with `--lab --host NAME` in the lab.
#[derive(Debug, Args, Clone, Default)]
pub struct OnHost {
    /// Topology file (with `--lab`; then `--host` picks the host).
    pub topology: Option<PathBuf>,
    /// The local OVSDB endpoint (`unix:/var/run/openvswitch/db.sock`).
    #[arg(long, value_name = "ENDPOINT", conflicts_with = "topology")]
    pub ovsdb: Option<String>,
    /// Point at the one-machine lab (`ovsnet lab up`).
    #[arg(long, requires = "topology")]
    pub lab: bool,
    /// The lab host (repeatable for `containers`).
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,
    /// Seconds to wait for OVSDB and the switch.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,
}

/// `ovsnet attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub on: OnHost,
    /// The VLAN's name.
    #[arg(long)]
    pub vlan: String,
    /// The container's named network namespace.
    #[arg(long, conflicts_with_all = ["pid", "docker"], required_unless_present_any = ["pid", "docker"])]
    pub netns: Option<String>,
    /// A process whose network namespace is the container's.
    #[arg(long, conflicts_with = "docker")]
    pub pid: Option<u32>,
    /// A running Docker container (name or ID), resolved through the Docker Engine API;
    /// start it with `--network none`.
    #[arg(long, value_name = "CONTAINER")]
    pub docker: Option<String>,
    /// The Docker Engine API socket (with `--docker`).
    #[arg(long, value_name = "PATH", default_value = crate::docker::engine::DEFAULT_SOCKET)]
    pub docker_socket: std::path::PathBuf,
    /// A wanted address (in this host's range, free).
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// A wanted MAC (`02:00:00:00:00:01`).
    #[arg(long)]
    pub mac: Option<String>,
    /// The interface name inside the container.
    #[arg(long, default_value = "eth0")]
    pub ifname: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

/// `ovsnet detach`.
#[derive(Debug, Args)]
pub struct DetachArgs {
    #[command(flatten)]
    pub on: OnHost,
    /// Every port of this named namespace.
    #[arg(long, conflicts_with_all = ["pid", "port", "docker"], required_unless_present_any = ["pid", "port", "docker"])]
    pub netns: Option<String>,
    /// Every port of this process.
    #[arg(long, conflicts_with_all = ["port", "docker"])]
    pub pid: Option<u32>,
    /// Every port `attach --docker` gave this Docker container (name or ID).
    #[arg(long, value_name = "CONTAINER", conflicts_with = "port")]
    pub docker: Option<String>,
    /// The Docker Engine API socket (with `--docker`).
    #[arg(long, value_name = "PATH", default_value = crate::docker::engine::DEFAULT_SOCKET)]
    pub docker_socket: std::path::PathBuf,
    /// One port by name.
    #[arg(long)]
    pub port: Option<String>,
}
