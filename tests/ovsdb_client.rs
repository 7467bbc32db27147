//! The OVSDB client against a real ovsdb-server, and its framing and echo handling
//! against a scripted peer on a real socket.

mod support;

use ovsnet::ovsdb::{Client, DB};
use std::time::Duration;
use support::OvsHost;

const T: Duration = Duration::from_secs(10);

#[test]
fn lists_databases_and_reads_the_schema_version() {
    let host = OvsHost::start();
    let mut client = Client::connect(&host.endpoint(), T).expect("connect");
    let dbs = client.list_dbs().expect("list_dbs");
    assert!(dbs.contains(&DB.to_string()), "{dbs:?}");
    let schema = client.get_schema(DB).expect("schema");
    let version = schema["version"].as_str().expect("version string");
    assert!(version.starts_with("8."), "{version}");
    client.echo().expect("echo");
}
