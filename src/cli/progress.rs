//! What `apply` prints about each host as the rollout goes: text lines (and, on a
//! terminal, a line when a host starts) or one JSON event per line for pipelines.
//!
//! JSON events (`format_version` 1), one object per line on stdout:
//! `{"format_version":1,"event":E,"host":H,...}` where E is `started`, `applied`
//! (`changes`: how many), `verified`, `failed` (`error`: the message, `rollback`:
//! `not_needed`, `kept`, `restored`, `restored_in_database` or `failed`), `rolled_back`, `not_applied`; the
//! last line is `{"format_version":1,"event":"done","converged":N,"failed":N,"not_applied":N}`.

use crate::apply::rollout::{Event, Outcome, Rollback};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Mutex;

/// Where events go.
pub struct Progress {
    json: bool,
    terminal: bool,
    // Events come from worker threads; one line is written whole.
    out: Mutex<()>,
}

impl Progress {
    /// JSON lines, or text with start lines when stderr is a terminal.
    pub fn new(json: bool, terminal: bool) -> Progress {
        Progress {
            json,
            terminal,
            out: Mutex::new(()),
        }
    }

    /// Reports one event.
    pub fn event(&self, event: Event<'_>) {
        let _line = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Event::Started(host) => {
                if self.json {
                    emit(json!({"event": "started", "host": host}));
                } else if self.terminal {
                    eprintln!("{host}: applying…");
                }
            }
            Event::Finished(host, outcome) if self.json => finished_json(host, outcome),
            Event::Finished(host, outcome) => finished_text(host, outcome),
        }
    }

    /// The closing line.
    pub fn done(&self, outcomes: &[Outcome]) {
        if !self.json {
            return;
        }
        let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        emit(json!({
            "event": "done",
            "converged": count(|o| matches!(o, Outcome::Converged(_))),
            "failed": count(|o| matches!(o, Outcome::Failed { .. })),
            "not_applied": count(|o| matches!(o, Outcome::NotApplied)),
        }));
    }
}

fn emit(mut event: Value) {
    if let Value::Object(map) = &mut event {
        map.insert("format_version".into(), json!(1));
    }
    // A closed stdout is not worth failing the rollout over; the exit code still tells.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{event}");
    let _ = out.flush();
}

fn finished_json(host: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Converged(done) => {
            if !done.plan.changes.is_empty() {
                emit(json!({"event": "applied", "host": host, "changes": done.plan.changes.len()}));
            }
            emit(json!({"event": "verified", "host": host}));
        }
        Outcome::Failed { error, rollback } => {
            let word = match rollback {
                Rollback::NotNeeded => "not_needed",
                Rollback::Kept => "kept",
                Rollback::Restored => "restored",
                Rollback::RestoredInDatabase => "restored_in_database",
                Rollback::Failed(_) => "failed",
            };
            let mut event = json!({"event": "failed", "host": host, "error": format!("{error:#}"), "rollback": word});
            if let (Rollback::Failed(why), Value::Object(map)) = (rollback, &mut event) {
                map.insert("rollback_error".into(), json!(format!("{why:#}")));
            }
            emit(event);
            if matches!(rollback, Rollback::Restored | Rollback::RestoredInDatabase) {
                emit(json!({"event": "rolled_back", "host": host}));
            }
        }
        Outcome::NotApplied => emit(json!({"event": "not_applied", "host": host})),
    }
}

fn finished_text(host: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Converged(done) if done.plan.changes.is_empty() => {}
        Outcome::Converged(done) => println!(
            "{host}: applied {} change(s); verified: the plan is now empty",
            done.plan.changes.len()
        ),
        Outcome::Failed { error, rollback } => {
            eprintln!(
                "error: {}",
                crate::terminal::display(format_args!("{error:#}"))
            );
            match rollback {
                Rollback::NotNeeded => {}
                Rollback::Kept => eprintln!(
                    "{host}: not rolled back (--no-rollback): the failed state is kept for inspection"
                ),
                Rollback::Restored => {
                    eprintln!("{host}: rolled back: it holds again what it held before (verified)")
                }
                Rollback::RestoredInDatabase => eprintln!(
                    "{host}: rolled back: its database holds again what it held before (verified); ovs-vswitchd has not caught up yet"
                ),
                Rollback::Failed(why) => {
                    eprintln!("error: {host}: rollback failed too; the host is in neither state: {}", crate::terminal::display(format_args!("{why:#}")))
                }
            }
        }
        Outcome::NotApplied => {}
    }
}
