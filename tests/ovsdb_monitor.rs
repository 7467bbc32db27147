//! The OVSDB monitor against a real ovsdb-server: the initial rows, an update per
//! change made by an independent writer (stock ovs-vsctl), and a clear error when the
//! server goes away, after which a new session sees the restarted server.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ovsnet::ovsdb::monitor::{Monitor, Watch};
use ovsnet::ovsdb::OvsdbError;
use std::time::{Duration, Instant};
use support::OvsHost;

const T: Duration = Duration::from_secs(10);
const WATCH: &[Watch] = &[Watch {
    table: "Bridge",
    columns: &["name", "external_ids"],
}];

/// Waits (bounded) for an update that mentions `needle`.
fn update_mentioning(monitor: &mut Monitor, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(update) = monitor.wait(Duration::from_millis(500)).expect("monitor") {
            let text = update.to_string();
            if text.contains(needle) {
                return text;
            }
        }
    }
    panic!("no update mentioning {needle}");
}

#[test]
fn updates_follow_changes_and_a_restarted_server_needs_a_new_session() {
    let mut host = OvsHost::start();
    host.vsctl(&["--no-wait", "add-br", "br-one"]);
    let (mut monitor, initial) = Monitor::start(&host.endpoint(), T, WATCH).expect("monitor");
    assert!(initial.to_string().contains("br-one"), "{initial}");

    host.vsctl(&["--no-wait", "add-br", "br-two"]);
    update_mentioning(&mut monitor, "br-two");
    host.vsctl(&["--no-wait", "br-set-external-id", "br-one", "k", "v"]);
    update_mentioning(&mut monitor, "\"k\"");

    host.restart_ovsdb();
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        match monitor.wait(Duration::from_millis(500)) {
            Err(e) => break e,
            Ok(_) if Instant::now() < deadline => {}
            Ok(_) => panic!("the monitor never noticed the server going away"),
        }
    };
    assert!(
        matches!(err, OvsdbError::Closed { .. } | OvsdbError::Io { .. }),
        "{err:?}"
    );
    let (_, initial) = Monitor::start(&host.endpoint(), T, WATCH).expect("a new session");
    let text = initial.to_string();
    assert!(text.contains("br-one") && text.contains("br-two"), "{text}");
}
