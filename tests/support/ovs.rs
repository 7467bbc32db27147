//! A private, real Open vSwitch for one test: its own network namespace, temporary
//! directory, `ovsdb-server` and `ovs-vswitchd` (userspace datapath), stopped by pid and
//! cleaned up on drop, pass or fail. Tests may run in parallel: every name is unique.
//!
//! Stock `ovs-vsctl` is allowed here (and only in tests) as an independent reader and writer.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One running OVS: ovsdb-server and ovs-vswitchd inside a namespace of their own.
pub struct OvsHost {
    netns: String,
    dir: tempfile::TempDir,
    ovsdb: Option<Child>,
    vswitchd: Option<Child>,
}

impl OvsHost {
    /// Starts a fresh OVS with an initialised `Open_vSwitch` row and a running switch.
    pub fn start() -> OvsHost {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let netns = format!("ovsnet-t{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("ovsnet-t")
            .tempdir()
            .expect("temp dir");
        run(Command::new("ip").args(["netns", "add", &netns]));
        // From here on, Drop cleans up whatever was started.
        let mut host = OvsHost {
            netns,
            dir,
            ovsdb: None,
            vswitchd: None,
        };
        host.run_in_ns(&["ip", "link", "set", "lo", "up"]);
        let db = host.path("conf.db");
        run(Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(SCHEMA));
        host.start_ovsdb();
        // As ovs-ctl does at boot: init, then record the versions.
        let ovs_version = format!("ovs-version={}", ovs_version());
        let db_version = format!("db-version={}", schema_version());
        host.vsctl(&[
            "--no-wait",
            "init",
            "--",
            "set",
            "Open_vSwitch",
            ".",
            &ovs_version,
            &db_version,
        ]);
        host.start_vswitchd();
        host
    }

    /// The OVSDB endpoint (`unix:PATH`).
    pub fn endpoint(&self) -> String {
        format!("unix:{}", self.path("db.sock").display())
    }

    /// A second endpoint on which ovsdb-server sends `echo` probes after `probe_ms` of
    /// silence and drops clients that do not answer (a `Manager` row with `inactivity_probe`).
    pub fn probing_endpoint(&self, probe_ms: u32) -> String {
        let sock = self.path("probe.sock");
        let target = format!("target=\"punix:{}\"", sock.display());
        let probe = format!("inactivity_probe={probe_ms}");
        self.vsctl(&[
            "--no-wait",
            "--",
            "--id=@m",
            "create",
            "Manager",
            &target,
            &probe,
            "--",
            "set",
            "Open_vSwitch",
            ".",
            "manager_options=@m",
        ]);
        wait_for(&format!("{} to appear", sock.display()), || sock.exists());
        format!("unix:{}", sock.display())
    }

    /// Makes ovsdb-server also listen on `pssl:PORT:ADDR` with this key, certificate and
    /// CA (the CA its clients' certificates must be signed by), the way an operator
    /// configures a real host: `ovs-vsctl set-ssl` and a `Manager` row. Returns once the
    /// port is listening.
    pub fn listen_ssl(&self, key: &Path, cert: &Path, ca: &Path, addr: &str, port: u16) {
        let s = |p: &Path| p.to_str().expect("utf-8 path").to_string();
        self.vsctl(&["--no-wait", "set-ssl", &s(key), &s(cert), &s(ca)]);
        let target = format!("target=\"pssl:{port}:{addr}\"");
        self.vsctl(&[
            "--no-wait",
            "--",
            "--id=@m",
            "create",
            "Manager",
            &target,
            "--",
            "add",
            "Open_vSwitch",
            ".",
            "manager_options",
            "@m",
        ]);
        let needle = format!("{addr}:{port}");
        wait_for(&format!("ovsdb-server to listen on {needle}"), || {
            self.run_in_ns(&["ss", "-ltnH"]).contains(&needle)
        });
    }

    /// The namespace the switch runs in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// A file in the host's private directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs stock `ovs-vsctl` against this host's database and returns its stdout.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("ovs-vsctl");
        cmd.arg(format!("--db={}", self.endpoint()))
            .arg("--timeout=20")
            .args(args);
        self.ovs_env(&mut cmd);
        run(&mut cmd)
    }

    /// Like [`OvsHost::vsctl`] but returns the whole output on failure instead of panicking.
    pub fn try_vsctl(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("ovs-vsctl");
        cmd.arg(format!("--db={}", self.endpoint()))
            .arg("--timeout=20")
            .args(args);
        self.ovs_env(&mut cmd);
        let out = cmd.output().expect("spawn ovs-vsctl");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `ovs-vsctl --no-wait get TABLE RECORD COLUMN`, trimmed.
    pub fn get(&self, table: &str, record: &str, column: &str) -> String {
        self.vsctl(&["--no-wait", "get", table, record, column])
            .trim()
            .to_string()
    }

    /// Stops ovs-vswitchd (by pid), leaving ovsdb-server running.
    pub fn stop_vswitchd(&mut self) {
        if let Some(child) = self.vswitchd.take() {
            stop(child);
        }
    }

    /// Freezes ovs-vswitchd (SIGSTOP by pid): the database takes writes, the switch
    /// takes none until [`OvsHost::resume_vswitchd`].
    pub fn pause_vswitchd(&self) {
        self.signal_vswitchd("-STOP");
    }

    /// Lets a frozen ovs-vswitchd run again (SIGCONT by pid).
    pub fn resume_vswitchd(&self) {
        self.signal_vswitchd("-CONT");
    }

    fn signal_vswitchd(&self, signal: &str) {
        if let Some(child) = &self.vswitchd {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args([signal, &pid]).status();
        }
    }

    /// Runs stock `ovs-appctl` against this host's ovs-vswitchd and returns its stdout.
    pub fn appctl(&self, args: &[&str]) -> String {
        let ctl = self.path("ovs-vswitchd.ctl");
        let mut cmd = Command::new("ovs-appctl");
        cmd.arg(format!("--target={}", ctl.display()))
            .arg("--timeout=20")
            .args(args);
        self.ovs_env(&mut cmd);
        run(&mut cmd)
    }

    /// Stops ovsdb-server (by pid): the endpoint becomes unreachable.
    pub fn stop_ovsdb(&mut self) {
        if let Some(child) = self.ovsdb.take() {
            stop(child);
        }
    }

    /// Stops ovsdb-server (by pid) and starts it again on the same database and socket.
    pub fn restart_ovsdb(&mut self) {
        self.stop_ovsdb();
        self.start_ovsdb();
    }

    /// Stops ovs-vswitchd (by pid) and starts it again: flows and tap devices are lost.
    pub fn restart_vswitchd(&mut self) {
        self.stop_vswitchd();
        self.start_vswitchd();
    }

    /// Runs a command inside the namespace and returns its stdout.
    pub fn run_in_ns(&self, argv: &[&str]) -> String {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns]).args(argv);
        run(&mut cmd)
    }

    fn ovs_env(&self, cmd: &mut Command) {
        let dir = self.dir.path();
        cmd.env("OVS_RUNDIR", dir)
            .env("OVS_LOGDIR", dir)
            .env("OVS_DBDIR", dir)
            .env("OVS_SYSCONFDIR", dir);
    }

    fn start_ovsdb(&mut self) {
        let sock = self.path("db.sock");
        let mut cmd = self.ns_command("ovsdb-server");
        cmd.arg(self.path("conf.db"))
            .arg(format!("--remote=punix:{}", sock.display()))
            // Managers in the database add listeners (used for echo-probe tests), and
            // the SSL row their `pssl:` listeners use, as ovs-ctl starts a real host.
            .arg("--remote=db:Open_vSwitch,Open_vSwitch,manager_options")
            .arg("--private-key=db:Open_vSwitch,SSL,private_key")
            .arg("--certificate=db:Open_vSwitch,SSL,certificate")
            .arg("--ca-cert=db:Open_vSwitch,SSL,ca_cert")
            .arg(format!(
                "--pidfile={}",
                self.path("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                self.path("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.path("ovsdb-server.log").display()
            ));
        self.ovsdb = Some(cmd.spawn().expect("spawn ovsdb-server"));
        wait_for(&format!("{} to appear", sock.display()), || sock.exists());
    }

    fn start_vswitchd(&mut self) {
        let mut cmd = self.ns_command("ovs-vswitchd");
        cmd.arg(self.endpoint())
            .arg(format!(
                "--pidfile={}",
                self.path("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                self.path("ovs-vswitchd.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.path("ovs-vswitchd.log").display()
            ));
        self.vswitchd = Some(cmd.spawn().expect("spawn ovs-vswitchd"));
        wait_for("ovs-vswitchd to report its interface types", || {
            self.try_vsctl(&["--no-wait", "get", "Open_vSwitch", ".", "iface_types"])
                .map(|types| types.contains("vxlan"))
                .unwrap_or(false)
        });
    }

    /// `ip netns exec NS PROGRAM` with the OVS environment and quiet output. `ip netns
    /// exec` execs the program, so the child's pid is the daemon's pid.
    fn ns_command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.ovs_env(&mut cmd);
        cmd
    }

    /// The tail of a daemon's log, for failure messages.
    pub fn log(&self, daemon: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{daemon}.log"))).unwrap_or_default()
    }
}

impl Drop for OvsHost {
    fn drop(&mut self) {
        // A frozen switch would ignore SIGTERM until killed.
        self.resume_vswitchd();
        self.stop_vswitchd();
        self.stop_ovsdb();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .stderr(Stdio::null())
            .status();
    }
}

/// Asks a daemon to exit (SIGTERM by pid), then kills it if it lingers, and reaps it.
fn stop(mut child: Child) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The installed Open vSwitch version (`3.1.0`), from `ovs-vswitchd --version`.
pub fn ovs_version() -> String {
    let out = run(Command::new("ovs-vswitchd").arg("--version"));
    let first = out.lines().next().unwrap_or_default();
    first
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The installed vswitch schema version.
pub fn schema_version() -> String {
    run(Command::new("ovsdb-tool").arg("schema-version").arg(SCHEMA))
        .trim()
        .to_string()
}

fn wait_for(what: &str, ready: impl FnMut() -> bool) {
    super::wait_within(
        what,
        Duration::from_secs(20),
        Duration::from_millis(20),
        ready,
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `path` exists (helper for tests that check cleanup).
pub fn exists(path: &Path) -> bool {
    path.exists()
}
