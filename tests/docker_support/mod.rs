//! Helpers for the tests that drive the real Docker engine: a test image built locally
//! (no registry: `docker import` of a busybox-static rootfs), guards that remove every
//! container, network and image a test created (pass or fail), and the `docker` CLI as
//! the independent client. Nothing here touches an object the test did not create:
//! docker0, the engine's own networks and other people's containers stay as they were.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::support::OvsHost;
use ovsnet::docker::server::socket_path;
use ovsnet::plugin::{Config, Plugin, Ports};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Debian's busybox-static (scripts/install-deps.sh installs it).
pub const BUSYBOX: &str = "/bin/busybox";

/// A name unique to this process and call: `ovsnet-t<pid>-<tag><n>`.
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("ovsnet-t{}-{tag}{n}", std::process::id())
}

/// What a `docker` command did.
#[derive(Debug)]
pub struct Ran {
    /// Exit status 0.
    pub ok: bool,
    /// Standard output, trimmed.
    pub stdout: String,
    /// Standard error, trimmed.
    pub stderr: String,
}

impl Ran {
    /// Panics with both streams unless the command succeeded; returns stdout.
    pub fn expect_ok(self, what: &str) -> String {
        assert!(self.ok, "{what} failed:\n{}\n{}", self.stdout, self.stderr);
        self.stdout
    }
}

fn ran(output: Output) -> Ran {
    Ran {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    }
}

/// Runs `docker ARGS`.
pub fn docker(args: &[&str]) -> Ran {
    ran(Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI runs (install docker.io)"))
}

/// Whether the engine answers; the Docker tests fail (never skip) when it does not.
pub fn require_engine() {
    let info = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        info.ok && !info.stdout.is_empty(),
        "the Docker engine must be running for this test: {}",
        info.stderr
    );
}

/// A local image made of busybox-static alone, tagged uniquely, removed on drop.
pub struct Image {
    /// `repo:tag`.
    pub tag: String,
}

impl Image {
    /// `docker import` of a rootfs holding `/bin/busybox` and a link per applet.
    pub fn build() -> Image {
        require_engine();
        let rootfs = tempfile::tempdir().expect("temp dir");
        let bin = rootfs.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir bin");
        std::fs::create_dir_all(rootfs.path().join("tmp")).expect("mkdir tmp");
        std::fs::create_dir_all(rootfs.path().join("www")).expect("mkdir www");
        std::fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox-static");
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" && !applet.is_empty() {
                std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
            }
        }
        std::fs::write(rootfs.path().join("www/index.html"), "ovsnet\n").expect("index");
        let tag = format!("{}:local", unique("img"));
        let image = Image { tag };
        import(rootfs.path(), &image.tag);
        image
    }
}

fn import(rootfs: &Path, tag: &str) {
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(rootfs)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar runs");
    let stdout = tar.stdout.take().expect("piped");
    let out = Command::new("docker")
        .args(["import", "-c", r#"CMD ["/bin/sh"]"#, "-", tag])
        .stdin(stdout)
        .output()
        .expect("docker import runs");
    assert!(tar.wait().expect("tar exits").success(), "tar failed");
    assert!(
        out.status.success(),
        "docker import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["image", "rm", "-f", &self.tag]);
    }
}

/// Every container and network a test created, removed on drop (containers first).
#[derive(Default)]
pub struct Objects {
    containers: Mutex<Vec<String>>,
    networks: Mutex<Vec<String>>,
}

impl Objects {
    /// A new, empty set.
    pub fn new() -> Objects {
        Objects::default()
    }

    /// A unique container name, remembered for removal.
    pub fn container(&self, tag: &str) -> String {
        let name = unique(tag);
        self.containers
            .lock()
            .expect("not poisoned")
            .push(name.clone());
        name
    }

    /// A unique network name, remembered for removal.
    pub fn network(&self, tag: &str) -> String {
        let name = unique(tag);
        self.networks
            .lock()
            .expect("not poisoned")
            .push(name.clone());
        name
    }

    /// Removes every remembered container now (they are forgotten).
    pub fn remove_containers(&self) {
        let names: Vec<String> = self
            .containers
            .lock()
            .expect("not poisoned")
            .drain(..)
            .collect();
        for chunk in names.chunks(32) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }

    /// Removes every remembered network now (they are forgotten).
    pub fn remove_networks(&self) {
        let names: Vec<String> = self
            .networks
            .lock()
            .expect("not poisoned")
            .drain(..)
            .collect();
        for name in names {
            let _ = docker(&["network", "rm", &name]);
        }
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        self.remove_containers();
        self.remove_networks();
    }
}

/// The engine's own networks and docker0 as they are now, to compare at the end.
pub fn engine_fingerprint() -> String {
    let networks = docker(&[
        "network",
        "ls",
        "--filter",
        "type=builtin",
        "--format",
        "{{.ID}} {{.Name}} {{.Driver}}",
    ])
    .expect_ok("docker network ls");
    let docker0 = Command::new("ip")
        .args(["-o", "addr", "show", "dev", "docker0"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    format!("{networks}\n{docker0}")
}

/// VLAN `web` as `apply` writes it on the bridge (docs/host-side.md): gateway, this host's range.
pub const WEB: &str =
    r#"{"gateway":"10.10.0.1","id":10,"range":"10.10.1.0/24","subnet":"10.10.0.0/16"}"#;
/// VLAN `db`, without a gateway.
pub const DB: &str = r#"{"id":20,"range":"10.20.1.0/24","subnet":"10.20.0.0/16"}"#;

/// A string as ovs-vsctl reads one (its quoting is JSON's).
pub fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string encodes")
}

/// A switch whose bridge carries what `apply` writes (docs/host-side.md), with the
/// VLANs given as (name, intent JSON).
pub fn ovsdb_host(vlans: &[(&str, &str)]) -> OvsHost {
    let host = OvsHost::start();
    let mut args: Vec<String> = [
        "--no-wait",
        "add-br",
        "br-ovsnet",
        "--",
        "set",
        "Bridge",
        "br-ovsnet",
        "datapath_type=netdev",
        "external_ids:ovsnet-cluster=tdocker",
        "external_ids:ovsnet-role=bridge",
        "external_ids:ovsnet-host=host-a",
        "external_ids:ovsnet-mtu=1446",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    for (name, intent) in vlans {
        args.push(format!(
            "external_ids:ovsnet-vlan-{name}={}",
            quoted(intent)
        ));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    host.vsctl(&args);
    host
}

/// The plugin for `host`, plugging through `ports`, served under a unique name.
pub fn serve(
    host: &OvsHost,
    ports: Box<dyn Ports>,
    timeout: Duration,
) -> (String, ovsnet::docker::Serving) {
    let name = unique("plugin");
    let config = Config {
        name: name.clone(),
        ovsdb: host.endpoint(),
        timeout,
    };
    let plugin = Plugin::new(config, ports);
    let serving = ovsnet::docker::serve(&socket_path(&name), Arc::new(plugin)).expect("serves");
    (name, serving)
}

/// The deadline of the plugin's OVSDB requests, switch waits and allocation races in
/// tests. Generous on purpose: on a loaded 2-core machine twenty concurrent `docker run`s
/// make ovs-vswitchd reconfigure twenty times while the allocator's losers retry, and a
/// deadline hit there fails the `docker run`, not the assertion under test.
pub const PLUG_TIMEOUT: Duration = Duration::from_secs(90);

/// Waits until a process in `container` listens on TCP `port` (busybox `netstat`), so a
/// client started next cannot race the listener. Panics if it never does.
pub fn wait_listening(container: &str, port: u16) {
    let script = format!(
        "i=0; until netstat -ltn | grep -q ':{port} '; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.1; done"
    );
    docker(&["exec", container, "sh", "-c", &script]).expect_ok(&format!(
        "waiting for a listener on port {port} in {container}"
    ));
}

/// Polls `done` until it holds; panics naming `what` (and the last `state`) if it does
/// not within `cap`. For eventual states (a reconcile pass, an exit handled by dockerd):
/// the cap is a liveness bound far above the expected time, never the thing under test.
pub fn eventually(
    what: &str,
    cap: Duration,
    mut state: impl FnMut() -> (bool, String),
) -> Duration {
    let start = std::time::Instant::now();
    loop {
        let (done, text) = state();
        if done {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < cap,
            "{what}: still not so after {cap:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `sh -c CMD` inside `container`; its output, or a panic naming the command.
pub fn exec(container: &str, cmd: &str) -> String {
    docker(&["exec", container, "sh", "-c", cmd]).expect_ok(cmd)
}

/// Pings `ip` from `container` until a reply comes back, one ping a second, at most 30:
/// on a loaded machine a just-started container's first packets can wait for
/// ovs-vswitchd to open its port (CI once lost both packets of a `ping -c 2 -W 5` at
/// load ~20). Reaching the peer is what is tested, not how soon.
pub fn ping_until_reply(container: &str, ip: &str) {
    exec(
        container,
        &format!("i=0; until ping -c 1 -W 1 {ip}; do i=$((i+1)); [ $i -lt 30 ] || exit 1; done"),
    );
}

/// `docker run -d` of `image` sleeping on `network` with `extra` flags; its name.
pub fn run(objects: &Objects, image: &Image, network: &str, extra: &[&str]) -> String {
    run_cmd(objects, image, network, extra, &["sleep", "600"])
}

/// `docker run -d` of `image` running `cmd` on `network` with `extra` flags; its name.
pub fn run_cmd(
    objects: &Objects,
    image: &Image,
    network: &str,
    extra: &[&str],
    cmd: &[&str],
) -> String {
    let name = objects.container("c");
    let mut args = vec![
        "run",
        "-d",
        "--pull=never",
        "--network",
        network,
        "--name",
        &name,
    ];
    args.extend_from_slice(extra);
    args.push(&image.tag);
    args.extend_from_slice(cmd);
    docker(&args).expect_ok("docker run");
    name
}

/// The IPv4 address (CIDR) of `eth0` inside `container`.
pub fn address(container: &str) -> String {
    exec(container, "ip -o -4 addr show eth0 | awk '{print $4}'")
}
