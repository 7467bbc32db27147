//! End to end over the network: ovsnet runs in a namespace of its own and reaches real
//! switches only over an underlay, through `ssl:` (mutual TLS, `ovs-pki` certificates
//! and ordinary SAN ones) and `ssh://` (a real sshd in the host's namespace). Refusals
//! (a server not signed by the CA, a client certificate the server does not trust, an
//! unknown host key) each fail naming the host and the reason.

// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use support::cluster::{Cluster, Run, Spec, BRIDGE};
use support::pki::{s, Identity, Pki, SanCa};
use support::sshd::Sshd;
use support::underlay::Underlay;

const TLS_PORT: u16 = 6640;
const SSH_PORT: u16 = 2222;

fn addr(i: usize) -> String {
    format!("198.18.0.{}", i + 1)
}

/// Runs the real binary inside the runner namespace, with no terminal and no colour.
fn ovsnet_in(underlay: &Underlay, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = underlay.command(env!("CARGO_BIN_EXE_ovsnet"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("OVSNET_LAB_DIR")
        .env_remove("OVSNET_PRIVATE_KEY")
        .env_remove("OVSNET_CERTIFICATE")
        .env_remove("OVSNET_CA_CERT")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the ovsnet binary runs");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn tls_flags<'a>(client: &'a Identity, ca: &'a std::path::Path) -> Vec<&'a str> {
    vec![
        "--private-key",
        s(&client.key),
        "--certificate",
        s(&client.cert),
        "--ca-cert",
        s(ca),
    ]
}

/// `n` switches on an underlay; host 0 listens on `pssl:` with an `ovs-pki` switch
/// certificate and trusts the PKI's controller CA.
fn cluster_on_underlay(n: usize) -> (Cluster, Underlay, Pki) {
    let cluster = Cluster::start(n);
    let mut underlay = Underlay::new();
    for (i, host) in cluster.hosts.iter().enumerate() {
        underlay.attach(host, &addr(i));
    }
    let pki = Pki::new();
    let server = pki.switch("host-a");
    cluster.hosts[0].listen_ssl(
        &server.key,
        &server.cert,
        &pki.controller_ca(),
        &addr(0),
        TLS_PORT,
    );
    (cluster, underlay, pki)
}

fn ssl(i: usize) -> String {
    format!("ssl:{}:{TLS_PORT}", addr(i))
}

#[test]
fn a_cluster_mixing_ssl_and_ssh_hosts_applies_and_replans_empty() {
    let (cluster, underlay, pki) = cluster_on_underlay(3);
    // host-c: an ordinary CA whose server certificate carries an IP SAN.
    let san = SanCa::new();
    let c_server = san.leaf("host-c", &addr(2));
    cluster.hosts[2].listen_ssl(
        &c_server.key,
        &c_server.cert,
        &pki.controller_ca(),
        &addr(2),
        TLS_PORT,
    );
    // host-b: only sshd, forwarding to the switch's unix socket.
    let sshd = Sshd::start(&cluster.hosts[1], &addr(1), SSH_PORT);
    let ssh_endpoint = sshd.endpoint(&cluster.hosts[1]);
    let topo = cluster.topology_reaching("mixed", &Spec::mesh(3), |i| match i {
        1 => ssh_endpoint.clone(),
        i => ssl(i),
    });
    // One CA file trusting both server CAs, as a pipeline's secret would hold them.
    let cas = cluster.file("cas.pem");
    let both = std::fs::read_to_string(pki.switch_ca()).expect("switch ca")
        + &std::fs::read_to_string(san.ca()).expect("san ca");
    std::fs::write(&cas, both).expect("write cas");
    let client = pki.controller("ovsnet-ci");
    let ssh_command = sshd.ssh_command();
    let env = [("OVSNET_SSH_COMMAND", ssh_command.as_str())];

    let mut args = vec!["apply", topo.as_str(), "--auto-approve"];
    args.extend(tls_flags(&client, std::path::Path::new(&cas)));
    let run = ovsnet_in(&underlay, &args, &env);
    assert_eq!(
        run.code,
        0,
        "apply over ssl and ssh: {run}\n--- host-a ovsdb-server\n{}\n--- sshd\n{}",
        cluster.hosts[0].log("ovsdb-server"),
        sshd.log()
    );
    for (i, host) in cluster.hosts.iter().enumerate() {
        let ports = host.vsctl(&["list-ports", BRIDGE]);
        assert_eq!(
            ports.lines().count(),
            2,
            "host {i} holds its two tunnels, read by ovs-vsctl: {ports}\n{run}"
        );
    }

    // Re-planned empty, this time with the TLS material from the environment: the key
    // as PEM text (a pipeline secret), the others as paths.
    let key = std::fs::read_to_string(&client.key).expect("key");
    let env = [
        ("OVSNET_SSH_COMMAND", ssh_command.as_str()),
        ("OVSNET_PRIVATE_KEY", key.as_str()),
        ("OVSNET_CERTIFICATE", s(&client.cert)),
        ("OVSNET_CA_CERT", cas.as_str()),
    ];
    let plan = ovsnet_in(&underlay, &["plan", &topo, "--detailed-exitcode"], &env);
    plan.expect_code(0, "nothing left to change on any host");
}

#[test]
fn a_server_not_signed_by_the_ca_is_refused_naming_the_host() {
    let (cluster, underlay, _pki) = cluster_on_underlay(1);
    let topo = cluster.topology_reaching("one", &Spec::mesh(1), ssl);
    let other = Pki::new();
    let client = other.controller("ovsnet-ci");
    let mut args = vec!["plan", topo.as_str()];
    let wrong_ca = other.switch_ca();
    args.extend(tls_flags(&client, &wrong_ca));
    let run = ovsnet_in(&underlay, &args, &[]);
    run.expect_code(1, "the server's certificate is from another CA");
    eprintln!("DEBUG {}", run.stderr);
    assert!(run.stderr.contains(&format!("`{}`", ssl(0))), "{run}");
    assert!(run.stderr.contains("`host-a`"), "{run}");
    assert!(
        run.stderr
            .contains("the server's certificate is not signed by the CA in"),
        "{run}"
    );
}

#[test]
fn a_client_certificate_from_a_foreign_ca_is_refused_naming_the_host() {
    let (cluster, underlay, pki) = cluster_on_underlay(1);
    let topo = cluster.topology_reaching("one", &Spec::mesh(1), ssl);
    let elsewhere = Pki::new();
    let foreign = elsewhere.controller("intruder");
    let ca = pki.switch_ca();
    let mut args = vec!["plan", topo.as_str()];
    args.extend(tls_flags(&foreign, &ca));
    let run = ovsnet_in(&underlay, &args, &[]);
    run.expect_code(1, "the server refuses a client from another CA");
    eprintln!("DEBUG {}", run.stderr);
    assert!(run.stderr.contains(&format!("`{}`", ssl(0))), "{run}");
    assert!(
        run.stderr
            .contains("the server refused our client certificate"),
        "{run}"
    );
    // The switch was not touched.
    assert!(cluster.hosts[0].vsctl(&["list-br"]).is_empty());
}

#[test]
fn an_unknown_host_key_is_refused_naming_the_host() {
    let cluster = Cluster::start(1);
    let mut underlay = Underlay::new();
    underlay.attach(&cluster.hosts[0], &addr(0));
    let sshd = Sshd::start(&cluster.hosts[0], &addr(0), SSH_PORT);
    let endpoint = sshd.endpoint(&cluster.hosts[0]);
    let topo = cluster.topology_reaching("one", &Spec::mesh(1), |_| endpoint.clone());
    let ssh_command = sshd.ssh_command_unknown_host();
    let run = ovsnet_in(
        &underlay,
        &["plan", &topo],
        &[("OVSNET_SSH_COMMAND", &ssh_command)],
    );
    run.expect_code(1, "an unknown host key is refused");
    eprintln!("DEBUG {}", run.stderr);
    assert!(run.stderr.contains(&format!("`{endpoint}`")), "{run}");
    assert!(
        run.stderr.contains(&format!(
            "the host key of `{}` is unknown or has changed",
            addr(0)
        )),
        "{run}"
    );
}

#[test]
fn ssl_is_never_spoken_in_plaintext_and_tcp_off_the_machine_is_warned_about() {
    let (cluster, underlay, _pki) = cluster_on_underlay(1);
    // Plain tcp: to the TLS port: the server drops the non-TLS bytes; the client
    // reports a failure within its timeout, never a success.
    let tcp = format!("tcp:{}:{TLS_PORT}", addr(0));
    let topo = cluster.topology_reaching("tcp", &Spec::mesh(1), |_| tcp.clone());
    let run = ovsnet_in(&underlay, &["plan", &topo, "--timeout", "3"], &[]);
    run.expect_code(1, "plain tcp to a pssl listener fails");
    eprintln!("DEBUG {}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("host `host-a` is reached over plain `{tcp}`")),
        "warned: {run}"
    );
    let validate = Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .args(["validate", &topo])
        .env("NO_COLOR", "1")
        .output()
        .expect("validate runs");
    assert!(validate.status.success(), "a warning only");
}
