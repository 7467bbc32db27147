//! The OVSDB client against a real ovsdb-server, and its framing and echo handling
//! against a scripted peer on a real socket.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ovsnet::ovsdb::{Atom, Client, Condition, Datum, Mutation, Op, OvsdbError, RowData, DB};
use serde_json::{json, Value as Json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
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

fn bridge_insert(name: &str, uuid_name: &str) -> Op {
    let mut row = RowData::new();
    row.insert("name".into(), Datum::atom(Atom::Str(name.into())));
    Op::Insert {
        table: "Bridge".into(),
        row,
        uuid_name: Some(uuid_name.into()),
    }
}

fn link_bridges(names: &[&str]) -> Op {
    Op::Mutate {
        table: "Open_vSwitch".into(),
        conditions: vec![],
        mutations: vec![Mutation::new(
            "bridges",
            "insert",
            Datum::Set(
                names
                    .iter()
                    .map(|n| Atom::NamedUuid(n.to_string()))
                    .collect(),
            ),
        )],
    }
}

#[test]
fn transact_returns_one_result_per_operation() {
    let host = OvsHost::start();
    let mut client = Client::connect(&host.endpoint(), T).expect("connect");
    let ops = [
        bridge_insert("br-x", "b"),
        link_bridges(&["b"]),
        Op::Select {
            table: "Bridge".into(),
            conditions: vec![Condition::name("br-x")],
            columns: Some(vec!["_uuid".into(), "name".into()]),
        },
    ];
    let results = client.transact(DB, &ops).expect("commit");
    assert_eq!(results.len(), 3);
    let uuid = Datum::from_json(&results[0]["uuid"]).expect("uuid");
    let rows = ovsnet::ovsdb::rows(&results[2]);
    assert_eq!(rows.len(), 1);
    assert_eq!(Datum::from_json(&rows[0]["_uuid"]), Some(uuid.clone()));
    assert_eq!(results[1]["count"], json!(1));
    let Some(Atom::Uuid(uuid)) = uuid.single() else {
        panic!("{uuid:?}")
    };
    assert_eq!(&host.get("Bridge", "br-x", "_uuid"), uuid);
}

#[test]
fn a_failed_wait_names_the_operation_and_commits_nothing() {
    let host = OvsHost::start();
    let mut client = Client::connect(&host.endpoint(), T).expect("connect");
    let mut row = RowData::new();
    row.insert("next_cfg".into(), Datum::atom(Atom::Int(12345)));
    let ops = [
        bridge_insert("br-x", "b"),
        link_bridges(&["b"]),
        Op::Wait {
            table: "Open_vSwitch".into(),
            conditions: vec![],
            columns: vec!["next_cfg".into()],
            equal: true,
            rows: vec![row],
            timeout_ms: 0,
        },
    ];
    let err = client.transact(DB, &ops).expect_err("wait fails");
    match &err {
        OvsdbError::Operation {
            index, op, error, ..
        } => {
            assert_eq!((*index, *op, error.as_str()), (2, "wait", "timed out"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&host.endpoint()), "{err}");
    assert_eq!(host.vsctl(&["list-br"]).trim(), "");
}

#[test]
fn a_commit_constraint_violation_is_the_trailing_error() {
    let host = OvsHost::start();
    let mut client = Client::connect(&host.endpoint(), T).expect("connect");
    // Two bridges with one name: every operation succeeds, the commit violates the index.
    let ops = [
        bridge_insert("br-dup", "a"),
        bridge_insert("br-dup", "b"),
        link_bridges(&["a", "b"]),
    ];
    let err = client.transact(DB, &ops).expect_err("duplicate name");
    match &err {
        OvsdbError::Commit { error, details, .. } => {
            assert_eq!(error, "constraint violation");
            assert!(
                details.as_deref().unwrap_or_default().contains("br-dup"),
                "{details:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(host.vsctl(&["list-br"]).trim(), "");
}

#[test]
fn a_json_rpc_error_is_reported_with_the_method() {
    let host = OvsHost::start();
    let mut client = Client::connect(&host.endpoint(), T).expect("connect");
    let err = client.transact("No_Such_Db", &[]).expect_err("unknown db");
    assert!(
        matches!(err, OvsdbError::Rpc { ref method, .. } if method == "transact"),
        "{err:?}"
    );
    assert!(err.to_string().contains("unknown database"), "{err}");
    // The connection is still usable.
    client.echo().expect("echo after error");
}

#[test]
fn ssl_endpoints_without_key_material_are_refused_by_name() {
    let err = Client::connect("ssl:198.18.0.1:6640", T).expect_err("no key material");
    assert!(
        matches!(err, OvsdbError::TlsNotConfigured { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("`ssl:198.18.0.1:6640`"), "{err}");
}

#[test]
fn a_missing_socket_is_a_connect_error_naming_the_endpoint() {
    let err = Client::connect("unix:/nonexistent/ovsnet/db.sock", T).expect_err("absent");
    assert!(matches!(err, OvsdbError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("`unix:/nonexistent/ovsnet/db.sock`"),
        "{err}"
    );
}

/// A scripted OVSDB peer on the other end of a real socket.
struct Peer<S: Read + Write> {
    reader: serde_json::StreamDeserializer<'static, serde_json::de::IoRead<S>, Json>,
    writer: S,
}

impl<S: Read + Write> Peer<S> {
    fn read(&mut self) -> Json {
        self.reader.next().expect("a message").expect("valid json")
    }

    /// Writes `bytes` in small pieces with pauses, so the client sees partial reads.
    fn dribble(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(7) {
            self.writer.write_all(chunk).expect("write");
            self.writer.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn unix_peer() -> (Client, Peer<UnixStream>) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    let peer = Peer {
        reader: serde_json::Deserializer::from_reader(theirs.try_clone().expect("clone"))
            .into_iter(),
        writer: theirs,
    };
    (Client::over("scripted", Box::new(ours), T), peer)
}

#[test]
fn echo_probes_are_answered_while_a_response_arrives_in_pieces() {
    let (mut client, mut peer) = unix_peer();
    let server = std::thread::spawn(move || {
        let request = peer.read();
        assert_eq!(request["method"], "list_dbs");
        let id = request["id"].clone();
        let response =
            serde_json::to_string(&json!({"id": id, "result": ["Open_vSwitch"], "error": null}))
                .expect("json");
        let (head, tail) = response.split_at(response.len() / 2);
        // An echo probe and half the response in one stream, dribbled.
        peer.dribble(
            format!("{{\"method\":\"echo\",\"params\":[\"probe\"],\"id\":\"e7\"}}{head}")
                .as_bytes(),
        );
        let reply = peer.read();
        // The rest of the response and a notification in one write.
        peer.writer
            .write_all(
                format!("{tail}{{\"method\":\"update\",\"params\":[null,{{}}],\"id\":null}}")
                    .as_bytes(),
            )
            .expect("write");
        reply
    });
    let dbs = client.list_dbs().expect("list_dbs");
    assert_eq!(dbs, ["Open_vSwitch"]);
    let reply = server.join().expect("peer");
    assert_eq!(
        reply,
        json!({"id": "e7", "result": ["probe"], "error": null})
    );
}

#[test]
fn a_silent_server_times_out_and_a_late_answer_is_ignored() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let endpoint = format!("tcp:{}", listener.local_addr().expect("addr"));
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut peer = Peer {
            reader: serde_json::Deserializer::from_reader(stream.try_clone().expect("clone"))
                .into_iter(),
            writer: stream,
        };
        let first = peer.read();
        let second = peer.read();
        // Answer the timed-out request late, then the second one.
        for req in [first, second] {
            let msg = json!({"id": req["id"], "result": [req["method"]], "error": null});
            peer.writer
                .write_all(msg.to_string().as_bytes())
                .expect("write");
        }
    });
    let mut client = Client::connect(&endpoint, Duration::from_millis(300)).expect("connect");
    let started = Instant::now();
    let err = client.call("first", json!([])).expect_err("no answer");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, OvsdbError::Timeout { ref method, .. } if method == "first"),
        "{err:?}"
    );
    assert!(err.to_string().contains(&endpoint), "{err}");
    let answer = client.call("second", json!([])).expect("second answered");
    assert_eq!(answer, json!(["second"]));
    server.join().expect("peer");
}

/// A `wait` that can never succeed, so the server holds the request for `ms`.
fn hold(ms: u64) -> Op {
    let mut row = RowData::new();
    row.insert("next_cfg".into(), Datum::atom(Atom::Int(-7)));
    Op::Wait {
        table: "Open_vSwitch".into(),
        conditions: vec![],
        columns: vec!["next_cfg".into()],
        equal: true,
        rows: vec![row],
        timeout_ms: ms,
    }
}

#[test]
fn the_real_servers_echo_probes_are_answered_during_a_long_request() {
    let host = OvsHost::start();
    // ovsdb-server probes after 500 ms of silence and drops us after another 500 ms
    // without an answer; the request it holds takes 2.5 s.
    let endpoint = host.probing_endpoint(500);
    let mut client = Client::connect(&endpoint, T).expect("connect");
    let started = Instant::now();
    let err = client
        .transact(DB, &[hold(2500)])
        .expect_err("the wait times out");
    assert!(
        matches!(err, OvsdbError::Operation { ref error, .. } if error == "timed out"),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(2400));
    client.echo().expect("still connected");
}
