//! The agent's nftables table `inet ovsnet`, rendered as one `nft -f` file that replaces
//! the whole table in one kernel transaction (add, delete, define: the first line makes
//! the delete safe when the table does not exist yet).
//!
//! What it holds: masquerade of each NAT VLAN's subnet to whatever leaves the host by a
//! non-gateway interface (the host's underlay address), published ports as DNAT on the
//! host's own addresses, and a forward filter so that from outside only replies and
//! published ports reach a gateway interface. Nothing else: other tables (Docker's,
//! firewalld's) are never named, read or flushed. Pure: the text is built here, run by
//! the kernel seam.

use super::intent::HostIntent;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The table's family and name.
pub const TABLE: &str = "inet ovsnet";

/// The ruleset for `intent`, or `None` when the host needs no table (no NAT, nothing
/// published). The text carries its own digest as the table comment, which is how the
/// agent recognises a table that already says this.
pub fn render(intent: &HostIntent) -> Option<(String, String)> {
    let nat: Vec<_> = intent.gateways.values().filter(|g| g.nat).collect();
    if nat.is_empty() && intent.published.is_empty() {
        return None;
    }
    let mut body = String::new();
    let dnat = dnat_rules(intent);
    let _ = writeln!(body, "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{dnat}  }}");
    let _ = writeln!(
        body,
        "  chain output {{\n    type nat hook output priority -100; policy accept;\n{dnat}  }}"
    );
    let _ = writeln!(
        body,
        "  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;"
    );
    for g in &nat {
        let subnet = g.address.trunc();
        let _ = writeln!(
            body,
            "    ip saddr {subnet} ip daddr != {subnet} oifname != \"ovsgw-*\" masquerade"
        );
    }
    let _ = writeln!(body, "  }}");
    // Accept is not final across tables (nft(8)), drop is: this only ever drops what
    // comes from outside towards a container and was neither asked for nor published.
    let _ = writeln!(
        body,
        "  chain forward {{\n    type filter hook forward priority filter; policy accept;\n\
         \x20   oifname != \"ovsgw-*\" accept\n\
         \x20   iifname \"ovsgw-*\" accept\n\
         \x20   ct state established,related accept\n\
         \x20   ct status dnat accept\n\
         \x20   drop\n  }}"
    );
    let digest = digest(&body);
    let text = format!(
        "table {TABLE}\ndelete table {TABLE}\ntable {TABLE} {{\n  comment \"ovsnet {digest}\"\n{body}}}\n"
    );
    Some((text, digest))
}

fn dnat_rules(intent: &HostIntent) -> String {
    let mut out = String::new();
    for p in &intent.published {
        let _ = writeln!(
            out,
            "    fib daddr type local {} dport {} dnat ip to {}:{}",
            p.proto.word(),
            p.host_port,
            p.address,
            p.port
        );
    }
    out
}

fn digest(body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(body.as_bytes());
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest in the comment of our table as `nft list table inet ovsnet` prints it
/// (nft 1.0.6 leaves table comments out of its JSON output, so the text is read; it is
/// our own table's, never the whole ruleset).
pub fn listed_digest(listing: &str) -> Option<String> {
    listing.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("comment \"ovsnet ")?;
        Some(rest.strip_suffix('"')?.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::super::intent::{Gateway, Proto, Published};
    use super::*;

    fn intent(nat: bool, publish: bool) -> HostIntent {
        let mut i = HostIntent::default();
        i.gateways.insert(
            "ovsgw-10".into(),
            Gateway {
                ifname: "ovsgw-10".into(),
                vlan: "web".into(),
                id: 10,
                address: "10.10.0.1/16".parse().unwrap(),
                range: None,
                dhcp: false,
                nat,
            },
        );
        if publish {
            i.published.push(Published {
                proto: Proto::Tcp,
                host_port: 8080,
                address: "10.10.1.5".parse().unwrap(),
                port: 80,
            });
        }
        i
    }

    #[test]
    fn no_nat_and_nothing_published_means_no_table() {
        assert_eq!(render(&intent(false, false)), None);
    }

    #[test]
    fn the_ruleset_as_written() {
        let (text, _) = render(&intent(true, true)).unwrap();
        insta::assert_snapshot!(text);
    }

    #[test]
    fn the_digest_follows_the_content() {
        let a = render(&intent(true, false)).unwrap().1;
        let b = render(&intent(true, true)).unwrap().1;
        assert_ne!(a, b);
        let listed =
            format!("table inet ovsnet {{\n\tcomment \"ovsnet {a}\"\n\tchain x {{\n\t}}\n}}\n");
        assert_eq!(listed_digest(&listed), Some(a));
        assert_eq!(listed_digest("table inet ovsnet {\n}\n"), None);
    }
}
