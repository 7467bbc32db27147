//! The agent's dnsmasq: started in the foreground (`--keep-in-foreground`) with the
//! configuration [`super::config`] renders, supervised (restarted with a backoff when
//! it exits), reloaded by SIGHUP, stopped by its pid, and its log read for the clients
//! it ignored.
//!
//! Why a log file and not a pipe: dnsmasq must not depend on the agent process. It logs
//! to `log-facility=FILE` in the state directory and writes its own pid file there, so
//! an agent killed with SIGKILL leaves a working DHCP server behind, and the agent that
//! starts next adopts it by that pid file (the process must be `dnsmasq` started with
//! our `--conf-file`: a recycled pid never is) instead of starting a second one. Only a
//! clean stop (SIGTERM) of the agent stops its dnsmasq, as a service manager stopping
//! the unit would; bound clients keep their addresses for the rest of their lease.
//! It never signals any other dnsmasq: only the pid it started or adopted.

use super::config::Paths;
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The program, looked up on `PATH` like any other the agent runs.
pub const PROGRAM: &str = "dnsmasq";
/// Its Debian package, named in the health error when it is missing.
pub const PACKAGE: &str = "dnsmasq-base";

/// Longest pause between restarts of a dnsmasq that keeps exiting.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A dnsmasq that ran this long exited for a new reason: restart it at once.
const STEADY: Duration = Duration::from_secs(10);
/// The log is rotated (renamed to `.1`, dnsmasq told to reopen it) past this size.
const LOG_LIMIT: u64 = 1 << 20;

/// What dnsmasq's log says that the agent acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A DISCOVER from a MAC without a hosts-file line, on this interface.
    Unknown {
        /// The gateway interface it came in on.
        ifname: String,
        /// The client's MAC, lowercase.
        mac: String,
    },
    /// A lease was granted or renewed: its expiry is worth recording.
    Acked,
}

/// Reads one log line: `... DHCPDISCOVER(IF) MAC ignored` (dnsmasq's words for a MAC
/// that `dhcp-ignore=tag:!known` turns away; `no address available` in a static range
/// without that option), or `DHCPACK(IF) IP MAC ...`.
pub fn parse_line(line: &str) -> Option<Event> {
    let mut words = line.split_whitespace();
    let verb = words.find(|w| w.starts_with("DHCP") && w.ends_with(')'))?;
    let (name, rest) = verb.split_once('(')?;
    let ifname = rest.strip_suffix(')')?.to_string();
    match name {
        "DHCPDISCOVER" => {
            let mac = words.next()?.to_ascii_lowercase();
            let tail: Vec<&str> = words.collect();
            let tail = tail.join(" ");
            let refused = tail == "ignored" || tail == "no address available";
            (refused && is_mac(&mac)).then_some(Event::Unknown { ifname, mac })
        }
        "DHCPACK" => Some(Event::Acked),
        _ => None,
    }
}

fn is_mac(text: &str) -> bool {
    text.len() == 17
        && text
            .split(':')
            .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The program on `path` (the value of `PATH`), if there.
pub fn find_program(path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(PROGRAM))
        .find(|p| p.is_file())
}

/// A dnsmasq the agent started (a child it reaps) or adopted (by pid file).
struct Running {
    pid: u32,
    child: Option<Child>,
    since: Instant,
}

/// The supervised dnsmasq.
pub struct Dnsmasq {
    paths: Paths,
    running: Option<Running>,
    next_start: Instant,
    backoff: Duration,
    log_offset: u64,
    /// Why the last one exited, for the health.
    pub last_exit: Option<String>,
}

impl Dnsmasq {
    /// Supervises the dnsmasq of `paths`, adopting one that runs already.
    pub fn new(paths: Paths) -> Dnsmasq {
        let log_len = std::fs::metadata(&paths.log).map_or(0, |m| m.len());
        let mut me = Dnsmasq {
            running: None,
            next_start: Instant::now(),
            backoff: Duration::from_millis(500),
            log_offset: log_len,
            last_exit: None,
            paths,
        };
        if let Some(pid) = ours_by_pidfile(&me.paths) {
            log(&format!("adopting dnsmasq pid {pid}"));
            me.running = Some(Running {
                pid,
                child: None,
                since: Instant::now(),
            });
        }
        me
    }

    /// The pid of the running dnsmasq, if one runs (an exit is noticed and recorded).
    pub fn pid(&mut self) -> Option<u32> {
        let run = self.running.as_mut()?;
        let exited = match &mut run.child {
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(e) => Some(e.to_string()),
            },
            None => (!alive(run.pid)).then(|| "it is gone".to_string()),
        };
        let Some(status) = exited else {
            return Some(run.pid);
        };
        let ran = run.since.elapsed();
        self.running = None;
        self.backoff = if ran >= STEADY {
            Duration::from_millis(500)
        } else {
            (self.backoff * 2).min(MAX_BACKOFF)
        };
        self.next_start = Instant::now() + self.backoff;
        let why = format!(
            "dnsmasq exited ({status}): {}; restarting in {:?}",
            last_line(&self.paths.log),
            self.backoff
        );
        log(&why);
        self.last_exit = Some(why);
        None
    }

    /// Starts dnsmasq unless it runs or its backoff has not passed; `program` is its path.
    pub fn ensure_started(&mut self, program: &std::path::Path) -> Result<(), String> {
        if self.pid().is_some() || Instant::now() < self.next_start {
            return Ok(());
        }
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.paths.log)
            .map_err(|e| format!("cannot open `{}`: {e}", self.paths.log.display()))?;
        self.log_offset = log_file.metadata().map_or(0, |m| m.len());
        let child = Command::new(program)
            .arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", self.paths.conf.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            // Its own process group: a Ctrl-C meant for the agent never reaches it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", program.display()))?;
        let pid = child.id();
        log(&format!("started dnsmasq pid {pid}"));
        self.running = Some(Running {
            pid,
            child: Some(child),
            since: Instant::now(),
        });
        self.last_exit = None;
        Ok(())
    }

    /// SIGHUP: dnsmasq re-reads its hosts file, keeping its leases.
    pub fn reload(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, libc::SIGHUP);
        }
    }

    /// Stops it (SIGTERM, SIGKILL after 3 s) and waits for it to be gone.
    pub fn stop(&mut self) {
        let Some(mut run) = self.running.take() else {
            return;
        };
        signal(run.pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        let gone = |run: &mut Running| match &mut run.child {
            Some(child) => matches!(child.try_wait(), Ok(Some(_)) | Err(_)),
            None => !alive(run.pid),
        };
        while Instant::now() < deadline && !gone(&mut run) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !gone(&mut run) {
            signal(run.pid, libc::SIGKILL);
            if let Some(child) = &mut run.child {
                let _ = child.wait();
            }
        }
        log(&format!("stopped dnsmasq pid {}", run.pid));
    }

    /// The events in the log lines written since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        let Ok(mut file) = std::fs::File::open(&self.paths.log) else {
            return Vec::new();
        };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < self.log_offset {
            self.log_offset = 0; // truncated or replaced by someone
        }
        let mut text = Vec::new();
        if file.seek(SeekFrom::Start(self.log_offset)).is_err()
            || file.read_to_end(&mut text).is_err()
        {
            return Vec::new();
        }
        // Only whole lines: a line being written is read on the next call.
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.log_offset += whole as u64;
        let events = String::from_utf8_lossy(&text[..whole])
            .lines()
            .filter_map(parse_line)
            .collect();
        if self.log_offset > LOG_LIMIT {
            self.rotate_log();
        }
        events
    }

    /// Renames the log to `.1` and has dnsmasq reopen it (SIGUSR2).
    fn rotate_log(&mut self) {
        let old = self.paths.log.with_extension("log.1");
        if std::fs::rename(&self.paths.log, old).is_ok() {
            self.log_offset = 0;
            if let Some(pid) = self.pid() {
                signal(pid, libc::SIGUSR2);
            }
        }
    }
}

/// The pid in the pid file of `paths`, if that process is a dnsmasq started with that
/// configuration.
fn ours_by_pidfile(paths: &Paths) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(&paths.pid)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let conf = format!("--conf-file={}", paths.conf.display());
    let ours = cmdline.split(|b| *b == 0).any(|w| w == conf.as_bytes());
    (ours && alive(pid)).then_some(pid)
}

/// Stops the dnsmasq an agent with state directory `dir` left running (it was killed
/// and will not come back: `lab down`); whether there was one.
pub fn stop_left_running(dir: &std::path::Path) -> bool {
    let paths = Paths::new(dir);
    let Some(pid) = ours_by_pidfile(&paths) else {
        return false;
    };
    let mut d = Dnsmasq {
        running: Some(Running {
            pid,
            child: None,
            since: Instant::now(),
        }),
        next_start: Instant::now(),
        backoff: Duration::ZERO,
        log_offset: 0,
        last_exit: None,
        paths,
    };
    d.stop();
    true
}

/// The last line of the log (the reason a failed start gives).
fn last_line(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no log")
        .trim()
        .to_string()
}

/// Whether `pid` is a live dnsmasq (not a zombie).
fn alive(pid: u32) -> bool {
    crate::linux::process::live_named(pid, PROGRAM)
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(raw) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory effects; the pid is the dnsmasq we supervise.
        unsafe { libc::kill(raw, sig) };
    }
}

fn log(message: &str) {
    eprintln!("ovsnet agent: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ignored_discover_names_the_interface_and_the_mac() {
        let line = "Dec  2 13:45:53 dnsmasq-dhcp[16147]: 69720144 DHCPDISCOVER(ovsgw-10) FA:fb:96:fa:19:1e ignored";
        assert_eq!(
            parse_line(line),
            Some(Event::Unknown {
                ifname: "ovsgw-10".into(),
                mac: "fa:fb:96:fa:19:1e".into()
            })
        );
        let no_xid =
            "Dec  2 13:45:53 dnsmasq-dhcp[1]: DHCPDISCOVER(ovsgw-20) 02:00:00:00:00:01 no address available";
        assert!(matches!(parse_line(no_xid), Some(Event::Unknown { .. })));
    }

    #[test]
    fn other_lines_are_not_events_and_acks_are() {
        assert_eq!(
            parse_line("dnsmasq-dhcp[1]: 1 DHCPDISCOVER(ovsgw-10) 02:00:00:00:00:01"),
            None,
            "a discover that is answered"
        );
        assert_eq!(
            parse_line("dnsmasq-dhcp[1]: DHCP, static leases only on 10.10.0.0"),
            None
        );
        assert_eq!(
            parse_line("dnsmasq-dhcp[1]: 7 DHCPACK(ovsgw-10) 10.10.1.2 02:00:00:00:00:01"),
            Some(Event::Acked)
        );
    }
}
