//! The lab's own OVSDB plumbing, spoken over RFC 7047 with ovsnet's client (never
//! `ovs-vsctl`): making sure a fresh database has its `Open_vSwitch` row, building the
//! `br-phy` underlay bridge, and asking whether a bridge exists. (Probes are plugged in
//! by `crate::attach`, like every container.) Writes that the switch must act on bump
//! `next_cfg` in the same transaction and then wait until `cur_cfg` catches up, as
//! `ovs-vsctl` does without `--no-wait`.

use crate::ovsdb::txn::{named, uuid_of, Txn, ROOT};
use crate::ovsdb::{self, Atom, Client, Condition, Datum, Mutation, Op, OvsdbError, RowData};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one request, and the wait for the switch, may take (`ovs-vsctl --timeout=10`).
const TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong in the lab's OVSDB plumbing. Every variant names the host's socket.
#[derive(Debug, thiserror::Error)]
pub enum PlumbingError {
    /// Talking to the host's `ovsdb-server` failed.
    #[error("lab OVSDB at `{}`: {error}", .sock.display())]
    Ovsdb {
        /// The host's database socket.
        sock: PathBuf,
        /// The client's error; part of the message, not a `source()`, so a printed
        /// chain says it once.
        error: Box<OvsdbError>,
    },
    /// `ovs-vswitchd` did not reach the configuration just written.
    #[error("ovs-vswitchd behind `{}` did not catch up within {:?} (cur_cfg {reached}, waiting for {target})", .sock.display(), TIMEOUT)]
    SwitchTimeout {
        /// The host's database socket.
        sock: PathBuf,
        /// `next_cfg` after the write.
        target: i64,
        /// Last `cur_cfg` seen.
        reached: i64,
    },
    /// The bridge a port was to be added to does not exist.
    #[error("lab OVSDB at `{}`: no bridge `{bridge}`", .sock.display())]
    NoBridge {
        /// The host's database socket.
        sock: PathBuf,
        /// The bridge.
        bridge: String,
    },
    /// A port of that name already exists (on `bridge` or elsewhere).
    #[error("lab OVSDB at `{}`: a port `{port}` already exists", .sock.display())]
    PortExists {
        /// The host's database socket.
        sock: PathBuf,
        /// The port.
        port: String,
    },
    /// The server answered something the plumbing cannot read.
    #[error("lab OVSDB at `{}`: unexpected answer: {detail}", .sock.display())]
    Unexpected {
        /// The host's database socket.
        sock: PathBuf,
        /// What was wrong.
        detail: String,
    },
}

/// One connection to a lab host's `ovsdb-server`.
struct Db {
    sock: PathBuf,
    client: Client,
}

impl Db {
    fn open(sock: &Path) -> Result<Db, PlumbingError> {
        let endpoint = format!("unix:{}", sock.display());
        let client = Client::connect(&endpoint, TIMEOUT).map_err(|error| PlumbingError::Ovsdb {
            sock: sock.to_path_buf(),
            error: Box::new(error),
        })?;
        Ok(Db {
            sock: sock.to_path_buf(),
            client,
        })
    }

    fn transact(&mut self, ops: &[Op]) -> Result<Vec<Json>, PlumbingError> {
        self.client
            .transact(ovsdb::DB, ops)
            .map_err(|error| PlumbingError::Ovsdb {
                sock: self.sock.clone(),
                error: Box::new(error),
            })
    }

    fn unexpected(&self, detail: impl Into<String>) -> PlumbingError {
        PlumbingError::Unexpected {
            sock: self.sock.clone(),
            detail: detail.into(),
        }
    }

    /// Commits `txn` with `next_cfg += 1`, then waits for the switch to catch up.
    fn commit_and_wait(&mut self, mut txn: Txn) -> Result<(), PlumbingError> {
        txn.bump_cfg();
        let committed = ovsdb::commit(&txn, |ops| self.transact(ops))?;
        let target = committed
            .cfg
            .ok_or_else(|| self.unexpected("the commit did not return next_cfg"))?;
        self.wait_for_switch(target)
    }

    /// Polls `cur_cfg` until it reaches `target` or [`TIMEOUT`] passes.
    fn wait_for_switch(&mut self, target: i64) -> Result<(), PlumbingError> {
        let outcome = ovsdb::wait_for_cur_cfg(|ops: &[Op]| self.transact(ops), target, TIMEOUT)?;
        outcome.map_err(|reached| PlumbingError::SwitchTimeout {
            sock: self.sock.clone(),
            target,
            reached,
        })
    }

    /// The `_uuid` (and other `columns`) of the rows of `table` named `name`.
    fn select_named(
        &mut self,
        table: &str,
        name: &str,
        columns: &[&str],
    ) -> Result<Vec<Json>, PlumbingError> {
        let mut cols = vec!["_uuid".to_string()];
        cols.extend(columns.iter().map(|c| c.to_string()));
        let results = self.transact(&[Op::Select {
            table: table.into(),
            conditions: vec![Condition::name(name)],
            columns: Some(cols),
        }])?;
        Ok(results.first().map(ovsdb::rows).unwrap_or(&[]).to_vec())
    }
}

fn int(i: i64) -> Datum {
    Datum::atom(Atom::Int(i))
}

fn string(s: &str) -> Datum {
    Datum::atom(Atom::Str(s.to_string()))
}

/// The index of the operation that failed, when a transaction failed on one.
fn failed_operation(error: &PlumbingError) -> Option<usize> {
    match error {
        PlumbingError::Ovsdb { error, .. } => match **error {
            OvsdbError::Operation { index, .. } => Some(index),
            _ => None,
        },
        _ => None,
    }
}

/// Makes sure the database has its single `Open_vSwitch` row (`ovs-vsctl --no-wait init`):
/// inserted only while the table is empty, so running it again changes nothing.
pub(crate) fn init(sock: &Path) -> Result<(), PlumbingError> {
    let mut db = Db::open(sock)?;
    let mut txn = Txn::new();
    txn.wait_none(ROOT, Vec::new());
    txn.insert(ROOT, RowData::new());
    match db.transact(txn.ops()) {
        Ok(_) => Ok(()),
        // The guard failed: the row is already there.
        Err(e) if failed_operation(&e) == Some(0) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `bridge` (netdev datapath, its internal port) with `uplink` as a port and
/// `mtu_request` on its internal interface, in one transaction; then waits for the switch
/// (which creates the bridge's tap). Parts already present are kept, so it is idempotent.
pub(crate) fn ensure_phy_bridge(
    sock: &Path,
    bridge: &str,
    uplink: &str,
    mtu: u32,
) -> Result<(), PlumbingError> {
    let mut db = Db::open(sock)?;
    let bridges = db.select_named("Bridge", bridge, &["ports"])?;
    let uplinks = db.select_named("Port", uplink, &[])?;
    let mut txn = Txn::new();
    let bridge_exists = !bridges.is_empty();
    let mut new_ports = Vec::new();
    if !bridge_exists {
        txn.wait_none("Bridge", vec![Condition::name(bridge)]);
        let mut iface = RowData::new();
        iface.insert("type".into(), string("internal"));
        new_ports.push(Atom::NamedUuid(txn.insert_port(
            bridge,
            RowData::new(),
            iface,
        )));
    }
    match uplinks.first() {
        None => {
            txn.wait_none("Port", vec![Condition::name(uplink)]);
            let port = txn.insert_port(uplink, RowData::new(), RowData::new());
            new_ports.push(Atom::NamedUuid(port));
        }
        Some(row) => {
            let uuid = uuid_of(row).ok_or_else(|| db.unexpected("a Port row without _uuid"))?;
            let on_bridge = bridges
                .first()
                .and_then(|b| b.get("ports"))
                .is_some_and(|p| {
                    Datum::from_json(p)
                        .is_some_and(|d| d.atoms().iter().any(|a| a.as_uuid() == Some(&uuid)))
                });
            if !on_bridge {
                return Err(PlumbingError::PortExists {
                    sock: sock.to_path_buf(),
                    port: uplink.to_string(),
                });
            }
        }
    }
    if bridge_exists {
        if !new_ports.is_empty() {
            txn.add_ports(Condition::name(bridge), new_ports);
        }
    } else {
        let mut row = RowData::new();
        row.insert("name".into(), string(bridge));
        row.insert("ports".into(), Datum::Set(new_ports));
        let id = txn.insert("Bridge", row);
        txn.mutate(
            ROOT,
            Vec::new(),
            Mutation::new("bridges", "insert", named(&id)),
        );
    }
    let mut settings = RowData::new();
    settings.insert("datapath_type".into(), string("netdev"));
    txn.update("Bridge", vec![Condition::name(bridge)], settings);
    let mut mtu_row = RowData::new();
    mtu_row.insert("mtu_request".into(), int(i64::from(mtu)));
    txn.update("Interface", vec![Condition::name(bridge)], mtu_row);
    db.commit_and_wait(txn)
}

/// Whether a bridge named `bridge` exists.
pub(crate) fn bridge_exists(sock: &Path, bridge: &str) -> Result<bool, PlumbingError> {
    let mut db = Db::open(sock)?;
    Ok(!db.select_named("Bridge", bridge, &[])?.is_empty())
}

#[cfg(test)]
mod tests {
    //! Against a real `ovsdb-server` alone (no switch, so nothing creates interfaces):
    //! the paths that never wait for `cur_cfg`. The switch-facing paths (br-phy, probe
    //! ports) are exercised by the lab tests under `tests/`.
    use super::*;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// An `ovsdb-server` on a fresh database in a temporary directory, killed on drop.
    struct Server {
        dir: PathBuf,
        child: Child,
    }

    impl Server {
        fn start() -> Server {
            let dir = std::env::temp_dir().join(format!("ovsnet-plumb-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let db = dir.join("conf.db");
            let created = Command::new("ovsdb-tool")
                .arg("create")
                .arg(&db)
                .arg("/usr/share/openvswitch/vswitch.ovsschema")
                .status()
                .expect("run ovsdb-tool");
            assert!(created.success(), "ovsdb-tool create");
            let child = Command::new("ovsdb-server")
                .arg(&db)
                .arg(format!("--remote=punix:{}", dir.join("db.sock").display()))
                .arg(format!("--unixctl={}", dir.join("ovsdb.ctl").display()))
                .arg("--no-chdir")
                .env("OVS_RUNDIR", &dir)
                .env("OVS_LOGDIR", &dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn ovsdb-server");
            let server = Server { dir, child };
            let sock = server.sock();
            let start = Instant::now();
            while Client::connect(&format!("unix:{}", sock.display()), TIMEOUT).is_err() {
                assert!(start.elapsed() < TIMEOUT, "ovsdb-server never listened");
                std::thread::sleep(Duration::from_millis(10));
            }
            server
        }

        fn sock(&self) -> PathBuf {
            self.dir.join("db.sock")
        }

        fn count(&self, table: &str) -> usize {
            let mut db = Db::open(&self.sock()).expect("open");
            let results = db
                .transact(&[Op::Select {
                    table: table.into(),
                    conditions: Vec::new(),
                    columns: Some(vec!["_uuid".into()]),
                }])
                .expect("select");
            ovsdb::rows(&results[0]).len()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn plumbing_without_a_switch() {
        let server = Server::start();
        let sock = server.sock();
        assert_eq!(server.count(ROOT), 0);
        init(&sock).expect("init");
        init(&sock).expect("init again");
        assert_eq!(server.count(ROOT), 1, "init is idempotent");

        assert!(!bridge_exists(&sock, "br0").expect("select"));

        // A bridge holding p0, written directly (a commit without next_cfg: no switch).
        let mut txn = Txn::new();
        let p = txn.insert_port("p0", RowData::new(), RowData::new());
        let mut bridge = RowData::new();
        bridge.insert("name".into(), string("br0"));
        bridge.insert("ports".into(), named(&p));
        let b = txn.insert("Bridge", bridge);
        txn.mutate(
            ROOT,
            Vec::new(),
            Mutation::new("bridges", "insert", named(&b)),
        );
        Db::open(&sock)
            .expect("open")
            .transact(txn.ops())
            .expect("seed");

        assert!(bridge_exists(&sock, "br0").expect("select"));
        assert!(!bridge_exists(&sock, "br1").expect("select"));
    }

    #[test]
    fn unreachable_database_is_an_ovsdb_error_naming_the_socket() {
        let err =
            bridge_exists(Path::new("/nonexistent/ovsnet/db.sock"), "br0").expect_err("no server");
        assert!(matches!(err, PlumbingError::Ovsdb { .. }));
        assert!(
            err.to_string().contains("/nonexistent/ovsnet/db.sock"),
            "{err}"
        );
    }
}
