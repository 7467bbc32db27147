//! `cargo bench --bench plan [FILTER]`: the pure core at scale, without a process around it.
//!
//! For a full mesh of 100, 300 and 1,000 hosts and a 10,000-host chain it times, host by
//! host as `ovsnet plan --offline` does: desire alone, desire + `plan::build`, and the whole
//! offline plan rendered as text and json into a byte counter (no file, no terminal).
//! Every figure is the median of several runs (`OVSNET_BENCH_RUNS`, default 5, 3 for the
//! largest cases) and is also given per tunnel port, so linear growth shows as a flat
//! column. Whole-process numbers (peak memory, stdout) come from `scripts/bench.sh`.
//!
//! This is a report, not a test: nothing here asserts a time.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/generate.rs"]
#[allow(dead_code)] // its `main` is the example's, not ours
mod generate;

use ovsnet::desire::desire_host;
use ovsnet::offline::{self, HostRef};
use ovsnet::plan::{self, Mode};
use ovsnet::render::{self, Format};
use ovsnet::state::ObservedHost;
use ovsnet::topology::{self, Loaded};
use std::io::{self, Write};
use std::time::{Duration, Instant};

// The same allocator as the `ovsnet` binary, so the figures are the CLI's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A topology to plan: shape and host count.
struct Case {
    shape: &'static str,
    hosts: u32,
}

const CASES: [Case; 4] = [
    Case {
        shape: "mesh",
        hosts: 100,
    },
    Case {
        shape: "mesh",
        hosts: 300,
    },
    Case {
        shape: "mesh",
        hosts: 1000,
    },
    Case {
        shape: "chain",
        hosts: 10_000,
    },
];

fn main() {
    // `cargo bench` passes `--bench`; any other word filters cases (`mesh`, `1000`).
    // Without `--bench` we run as a test (`cargo test --benches`): one small case, once.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let filter: Vec<String> = args.into_iter().filter(|a| !a.starts_with("--")).collect();
    let selected = |name: &str| {
        if smoke {
            name == "mesh-100"
        } else {
            filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()))
        }
    };
    println!(
        "{:<12} {:<14} {:>10} {:>10} {:>14} {:>10}",
        "case", "stage", "median ms", "min ms", "ns/tunnel port", "output MB"
    );
    for case in &CASES {
        let name = format!("{}-{}", case.shape, case.hosts);
        if !selected(&name) {
            continue;
        }
        let runs = if smoke { 1 } else { runs(case.hosts) };
        run_case(&name, case, runs);
    }
}

fn run_case(name: &str, case: &Case, runs: usize) {
    let text = generate::topology(case.shape, case.hosts, "vxlan");
    let mut loaded = None;
    let load = measure(runs, || {
        loaded = Some(topology::load("bench.yaml", &text).expect("generated topologies are valid"));
        0
    });
    let loaded = loaded.expect("measured at least once");
    // Every edge is two tunnel ports, one on each end.
    let ports = 2 * loaded.analysis.tunnels() as u64;
    report(name, "load", &load, ports);
    let desire = measure(runs, || {
        for i in 0..loaded.topology.hosts.len() {
            drop(desire_host(&loaded.topology, &loaded.analysis, i));
        }
        0
    });
    report(name, "desire", &desire, ports);
    let build = measure(runs, || {
        let empty = ObservedHost::default();
        for i in 0..loaded.topology.hosts.len() {
            let desired = desire_host(&loaded.topology, &loaded.analysis, i);
            drop(plan::build_owned(desired, &empty).expect("offline plans build"));
        }
        0
    });
    report(name, "desire+build", &build, ports);
    for (format, word) in [(Format::Text, "text"), (Format::Json, "json")] {
        let times = measure(runs, || sequential_plan(&loaded, format));
        report(name, &format!("{word} 1 thread"), &times, ports);
        let times = measure(runs, || offline_plan(&loaded, format));
        report(name, &format!("{word} plan"), &times, ports);
    }
}

/// The offline plan as `ovsnet plan --offline` makes it (planning and rendering on worker
/// threads, sections written in order), into a byte counter.
fn offline_plan(loaded: &Loaded, format: Format) -> u64 {
    let mut out = Counter(0);
    let context = plan::context(
        &loaded.topology,
        &loaded.analysis,
        Mode::Offline,
        Vec::new(),
    );
    let hosts: Vec<HostRef> = loaded
        .topology
        .hosts
        .iter()
        .enumerate()
        .map(|(index, host)| HostRef {
            index,
            endpoint: host.ovsdb.to_string(),
        })
        .collect();
    let mut writer = render::writer(format, &mut out, false);
    writer.begin(&context).expect("counting never fails");
    offline::render_each_host::<_, anyhow::Error>(
        &loaded.topology,
        &loaded.analysis,
        &hosts,
        writer.as_mut(),
        |_| (),
        |()| {},
    )
    .expect("offline plans build");
    writer.finish().expect("counting never fails");
    drop(writer);
    out.0
}

/// The same plan on one thread: desire, build and render one host after the other.
fn sequential_plan(loaded: &Loaded, format: Format) -> u64 {
    let mut out = Counter(0);
    let context = plan::context(
        &loaded.topology,
        &loaded.analysis,
        Mode::Offline,
        Vec::new(),
    );
    let mut writer = render::writer(format, &mut out, false);
    writer.begin(&context).expect("counting never fails");
    let empty = ObservedHost::default();
    for (i, host) in loaded.topology.hosts.iter().enumerate() {
        let mut desired = desire_host(&loaded.topology, &loaded.analysis, i);
        desired.endpoint = host.ovsdb.to_string();
        let host = plan::build_owned(desired, &empty).expect("offline plans build");
        writer.host(&host).expect("counting never fails");
    }
    writer.finish().expect("counting never fails");
    drop(writer);
    out.0
}

fn runs(hosts: u32) -> usize {
    let default = if hosts >= 1000 { 3 } else { 5 };
    std::env::var("OVSNET_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Times `runs` calls of `f`; returns the sorted durations and what the last call returned.
fn measure(runs: usize, mut f: impl FnMut() -> u64) -> (Vec<Duration>, u64) {
    let mut times = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        bytes = std::hint::black_box(f());
        times.push(start.elapsed());
    }
    times.sort();
    (times, bytes)
}

fn report(case: &str, stage: &str, (times, bytes): &(Vec<Duration>, u64), ports: u64) {
    let median = times[times.len() / 2];
    let per_port = median.as_nanos() as f64 / ports.max(1) as f64;
    let output = if *bytes > 0 {
        format!("{:.1}", *bytes as f64 / 1e6)
    } else {
        "-".to_string()
    };
    println!(
        "{:<12} {:<14} {:>10.1} {:>10.1} {:>14.0} {:>10}",
        case,
        stage,
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        per_port,
        output
    );
}

/// A writer that only counts bytes, so rendering is measured without any I/O.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
