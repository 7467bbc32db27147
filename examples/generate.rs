//! Writes a large topology for benchmarks: `cargo run --release --example generate -- SHAPE HOSTS [TUNNEL]`.
//!
//! SHAPE is mesh, chain or star; hosts get underlay addresses 198.18.x.y (inside
//! 198.18.0.0/15, so at most 130,000 hosts) and a /24 of each of two VLANs.

use std::fmt::Write as _;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(shape), Some(count)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u32>().ok()),
    ) else {
        eprintln!("usage: generate (mesh|chain|star) HOSTS [vxlan|gre|geneve]");
        std::process::exit(64);
    };
    let tunnel = args.get(2).map_or("vxlan", String::as_str);
    print!("{}", topology(shape, count, tunnel));
}

/// The topology text: SHAPE of COUNT hosts joined by TUNNEL tunnels (the benches reuse it).
pub fn topology(shape: &str, count: u32, tunnel: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "version: 1\ncluster: bench\ntunnel:\n  type: {tunnel}\n  topology: {shape}"
    );
    if shape == "star" {
        let _ = writeln!(out, "  hub: h0");
    }
    // Ranges are /24s of a /8 per VLAN, so 65,536 hosts fit.
    let _ = writeln!(
        out,
        "vlans:\n  - name: web\n    id: 10\n    subnet: 10.0.0.0/8"
    );
    let _ = writeln!(
        out,
        "  - name: db\n    id: 20\n    subnet: 11.0.0.0/8\nhosts:"
    );
    for i in 0..count {
        let (hi, lo) = (i / 250, i % 250 + 1);
        let _ = writeln!(
            out,
            "  - name: h{i}\n    underlay_ip: 198.{}.{}.{lo}",
            18 + hi / 256,
            hi % 256
        );
        let _ = writeln!(
            out,
            "    ranges:\n      web: 10.{}.{}.0/24\n      db: 11.{}.{}.0/24",
            i / 256,
            i % 256,
            i / 256,
            i % 256
        );
    }
    out
}
