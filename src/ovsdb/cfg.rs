//! Waiting for ovs-vswitchd: after a commit bumps `Open_vSwitch.next_cfg`, the switch
//! reports in `cur_cfg` how far it has applied the configuration.

use super::{rows, Op};
use serde_json::Value as Json;
use std::time::{Duration, Instant};

/// Longest pause between two polls: a slow switch is not hammered.
const MAX_PAUSE: Duration = Duration::from_millis(25);

/// Polls `cur_cfg` through `transact` until it reaches `target`.
///
/// Returns `Ok(Ok(()))` once caught up, `Ok(Err(reached))` when `timeout` passed first
/// (with the last `cur_cfg` seen), and `Err` when the database itself failed.
pub fn wait_for_cur_cfg<E>(
    mut transact: impl FnMut(&[Op]) -> Result<Vec<Json>, E>,
    target: i64,
    timeout: Duration,
) -> Result<Result<(), i64>, E> {
    let start = Instant::now();
    // The switch usually catches up within a few milliseconds: poll soon, then back off.
    let mut pause = Duration::from_millis(1);
    let query = [Op::Select {
        table: "Open_vSwitch".into(),
        conditions: Vec::new(),
        columns: Some(vec!["cur_cfg".into()]),
    }];
    loop {
        let results = transact(&query)?;
        let reached = results
            .first()
            .and_then(|r| rows(r).first())
            .and_then(|row| row.get("cur_cfg"))
            .and_then(Json::as_i64)
            .unwrap_or(0);
        if reached >= target {
            return Ok(Ok(()));
        }
        if start.elapsed() >= timeout {
            return Ok(Err(reached));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    }
}
