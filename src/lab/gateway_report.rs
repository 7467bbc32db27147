//! What the gateway part of `lab check` found, and its text form. Pure data: one result
//! per (host, VLAN, test), each naming what it saw when it failed.

use super::report::vlan_host_lines;
use serde::Serialize;
use std::net::Ipv4Addr;

/// The gateway tests, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayTest {
    /// The probe pings its VLAN's gateway address.
    Gateway,
    /// The probe pings the outside (NAT VLANs).
    Outside,
    /// The outside saw the probe's host underlay address as source (NAT VLANs).
    NatSource,
    /// A port published by the probe (`ovsnet publish`) is reached from the outside.
    Published,
    /// The outside, routed to the host, cannot reach the probe unpublished (NAT VLANs).
    Unpublished,
    /// `ovs-appctl fdb/show` of the host has the gateway MAC on no tunnel port.
    Fdb,
    /// The host's gateway port uses the cluster's one gateway MAC of the VLAN.
    Mac,
    /// The host's gateway device has the overlay MTU.
    Mtu,
}

impl GatewayTest {
    /// The test's short name, as the text report shows it.
    pub fn word(self) -> &'static str {
        match self {
            GatewayTest::Gateway => "gateway",
            GatewayTest::Outside => "outside",
            GatewayTest::NatSource => "nat-source",
            GatewayTest::Published => "published",
            GatewayTest::Unpublished => "unpublished",
            GatewayTest::Fdb => "fdb",
            GatewayTest::Mac => "mac",
            GatewayTest::Mtu => "mtu",
        }
    }
}

/// One test on one host for one VLAN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewayResult {
    /// The host.
    pub host: String,
    /// The VLAN's name.
    pub vlan: String,
    /// Which test.
    pub test: GatewayTest,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen (always filled on a failure).
    pub detail: String,
}

/// The gateway tests of one check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GatewayReport {
    /// The outside's address, when the outside took part.
    pub outside: Option<Ipv4Addr>,
    /// Every result, grouped by VLAN then host (probe order).
    pub results: Vec<GatewayResult>,
}

impl GatewayReport {
    /// One line per failed test: `gateway: web@host-b nat-source: the outside saw ...`.
    pub fn broken(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| !r.ok)
            .map(|r| {
                format!(
                    "gateway: {}@{} {}: {}",
                    r.vlan,
                    r.host,
                    r.test.word(),
                    r.detail
                )
            })
            .collect()
    }

    /// A line per (VLAN, host) with each test's mark; empty when there were none.
    pub fn render(&self) -> String {
        if self.results.is_empty() {
            return String::new();
        }
        let failed = self.results.iter().filter(|r| !r.ok).count();
        let mut out = format!(
            "\ngateway: {} tests, {} passed{}\n",
            self.results.len(),
            self.results.len() - failed,
            self.outside
                .map(|o| format!(" (outside {o})"))
                .unwrap_or_default()
        );
        out.push_str(&vlan_host_lines(
            &self.results,
            |r| (&r.vlan, &r.host),
            |tests| {
                let mut tests = tests.to_vec();
                tests.sort_by_key(|r| r.test);
                tests
                    .iter()
                    .map(|r| format!("{} {}", r.test.word(), if r.ok { "pass" } else { "FAIL" }))
                    .collect()
            },
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(host: &str, test: GatewayTest, ok: bool, detail: &str) -> GatewayResult {
        GatewayResult {
            host: host.into(),
            vlan: "web".into(),
            test,
            ok,
            detail: detail.into(),
        }
    }

    #[test]
    fn a_failure_names_host_vlan_test_and_what_was_seen() {
        let report = GatewayReport {
            outside: Some(Ipv4Addr::new(198, 19, 255, 254)),
            results: vec![
                result("host-a", GatewayTest::Gateway, true, ""),
                result("host-a", GatewayTest::Mac, true, ""),
                result("host-b", GatewayTest::Gateway, true, ""),
                result(
                    "host-b",
                    GatewayTest::NatSource,
                    false,
                    "the outside saw 10.10.2.1, not host-b's underlay 198.18.0.2",
                ),
            ],
        };
        assert_eq!(
            report.broken(),
            ["gateway: web@host-b nat-source: the outside saw 10.10.2.1, not host-b's underlay 198.18.0.2"]
        );
        insta::assert_snapshot!(report.render(), @r"
        gateway: 4 tests, 3 passed (outside 198.19.255.254)
          web@host-a  gateway pass, mac pass
          web@host-b  gateway pass, nat-source FAIL
        ");
    }

    #[test]
    fn no_gateway_vlan_renders_nothing() {
        assert!(GatewayReport::default().render().is_empty());
        assert!(GatewayReport::default().broken().is_empty());
    }
}
