//! Rollout: many hosts converged with bounded parallelism, canaries first, stopping at
//! the first failure, and a host that fails after its commit restored to what it held.
//!
//! The contract, in the order a run meets it:
//! - The first `canary` hosts (file order) are converged before any other; if one of
//!   them fails, no other host is touched.
//! - Then the rest, at most `parallel` at once (the one [`crate::fanout`]); after a
//!   failure no new host starts, hosts already under way finish, and every host never
//!   started is reported [`Outcome::NotApplied`].
//! - A host whose transaction committed but that then failed (the switch did not catch
//!   up, it could not open the bridge on its datapath, an interface could not be set
//!   up, the plan after apply is not empty) is
//!   restored: the rows of this cluster it held before are planned as the desired state
//!   against what it holds now, and that plan is applied like any other (guarded, one
//!   transaction), then verified empty. `rollback: false` keeps the failed state for
//!   inspection. Rows ovsnet does not own were never changed, so nothing of theirs is
//!   restored either.
//!
//! Events are reported as they happen (`started` from the worker that starts a host,
//! the rest in file order) so a terminal can show progress and a pipeline can read
//! one JSON line per event. This module never renders; the caller does.

use super::{apply, Switch};
use super::{converge, ApplyError, ApplyOptions, ConvergeError, Converged, OvsdbExecutor, Start};
use crate::fanout::{self, Flow};
use crate::plan::{self, HostPlan};
use crate::state::{DesiredHost, HostState, ObservedHost, Ownership};

/// How to roll out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rollout {
    /// At most this many hosts are worked on at once (at least 1).
    pub parallel: usize,
    /// This many hosts, first in file order, go before all others.
    pub canary: usize,
    /// Restore a host that fails after its commit.
    pub rollback: bool,
}

/// The default number of hosts worked on at once.
pub const DEFAULT_PARALLEL: usize = 16;

impl Default for Rollout {
    fn default() -> Rollout {
        Rollout {
            parallel: DEFAULT_PARALLEL,
            canary: 0,
            rollback: true,
        }
    }
}

/// How one host ended.
#[derive(Debug)]
pub enum Outcome {
    /// Converged and verified.
    Converged(Box<Converged>),
    /// Failed; `rollback` says what became of a committed change.
    Failed {
        /// Why it failed (names the host).
        error: ConvergeError,
        /// What was done about the committed change.
        rollback: Rollback,
    },
    /// Never started, because an earlier host failed.
    NotApplied,
}

/// What became of a failed host's committed change.
#[derive(Debug)]
pub enum Rollback {
    /// Nothing was committed, so nothing needed restoring.
    NotNeeded,
    /// Rollback was turned off: the host keeps the failed state.
    Kept,
    /// The host's database holds again what it held before (verified), and its switch
    /// took it.
    Restored,
    /// The database holds again what it held before (verified), but ovs-vswitchd did
    /// not take it in time (typically the very switch that failed): it will when it runs.
    RestoredInDatabase,
    /// Restoring failed too; the host is in neither state.
    Failed(Box<ConvergeError>),
}

/// One thing that happened, for progress and machine output.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Work on the host began.
    Started(&'a str),
    /// The host's outcome is known.
    Finished(&'a str, &'a Outcome),
}

/// One host to roll out: its desired state and, when reviewed, the plan to apply.
pub type Work<'a> = (DesiredHost, Option<&'a HostPlan>);

/// Rolls `hosts` out as the module doc says; outcomes in input order.
pub fn rollout(
    hosts: &[Work<'_>],
    how: &Rollout,
    options: &ApplyOptions,
    events: &(dyn Fn(Event<'_>) + Sync),
) -> Vec<Outcome> {
    let canaries = how.canary.min(hosts.len());
    let mut outcomes = phase(&hosts[..canaries], how, options, events);
    let rest = &hosts[canaries..];
    if outcomes.iter().any(|o| matches!(o, Outcome::Failed { .. })) {
        outcomes.extend(rest.iter().map(|_| Outcome::NotApplied));
    } else {
        outcomes.extend(phase(rest, how, options, events));
    }
    outcomes
}

/// Converges `hosts`, stopping new starts after the first failure.
fn phase(
    hosts: &[Work<'_>],
    how: &Rollout,
    options: &ApplyOptions,
    events: &(dyn Fn(Event<'_>) + Sync),
) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(hosts.len());
    let work = |(desired, reviewed): &Work<'_>| {
        events(Event::Started(&desired.name));
        one_host(desired, *reviewed, how.rollback, options)
    };
    let ran = fanout::ordered::<_, _, std::convert::Infallible>(
        hosts,
        how.parallel,
        work,
        |i, outcome| {
            events(Event::Finished(&hosts[i].0.name, &outcome));
            let failed = matches!(outcome, Outcome::Failed { .. });
            outcomes.push(outcome);
            Ok(if failed { Flow::Stop } else { Flow::Continue })
        },
    );
    let started = match ran {
        Ok(ran) => ran.started,
        Err(never) => match never {},
    };
    for (desired, _) in &hosts[started..] {
        let outcome = Outcome::NotApplied;
        events(Event::Finished(&desired.name, &outcome));
        outcomes.push(outcome);
    }
    outcomes
}

/// Converges one host over one connection, restoring it when it fails after its commit.
fn one_host(
    desired: &DesiredHost,
    reviewed: Option<&HostPlan>,
    rollback: bool,
    options: &ApplyOptions,
) -> Outcome {
    let failed = |error: ConvergeError| Outcome::Failed {
        error,
        rollback: Rollback::NotNeeded,
    };
    let mut switch = match OvsdbExecutor::connect(&desired.endpoint, options.request_timeout) {
        Ok(switch) => switch,
        Err(error) => {
            return failed(ConvergeError::Apply(ApplyError::Ovsdb {
                host: desired.name.clone(),
                error: Box::new(error),
            }))
        }
    };
    // What to restore: read on the same connection just before converge reads it
    // again (a reviewed plan's fingerprint ties the two together).
    let before = match switch.observe() {
        Ok(before) => before,
        Err(error) => {
            return failed(ConvergeError::Observe {
                host: desired.name.clone(),
                error: Box::new(error),
            })
        }
    };
    let start = reviewed.map_or(Start::Fresh, Start::Reviewed);
    let error = match converge(desired, &mut switch, start, options) {
        Ok(done) => return Outcome::Converged(Box::new(done)),
        Err(error) => error,
    };
    let rollback = if !committed(&error) {
        Rollback::NotNeeded
    } else if !rollback {
        Rollback::Kept
    } else {
        match restore(desired, &before, &mut switch, options) {
            Ok(true) => Rollback::Restored,
            Ok(false) => Rollback::RestoredInDatabase,
            Err(e) => Rollback::Failed(Box::new(e)),
        }
    };
    Outcome::Failed { error, rollback }
}

/// Whether the failure came after the host's transaction committed.
fn committed(error: &ConvergeError) -> bool {
    matches!(
        error,
        ConvergeError::Unverified { .. }
            | ConvergeError::Apply(ApplyError::SwitchTimeout { .. })
            | ConvergeError::Apply(ApplyError::Interfaces { .. })
            | ConvergeError::Apply(ApplyError::Datapath { .. })
    )
}

/// Plans this cluster's rows of `before` as the desired state against what the host
/// holds now, applies that, and checks a second plan is empty; true when the switch
/// also took it in time.
fn restore(
    desired: &DesiredHost,
    before: &ObservedHost,
    switch: &mut dyn Switch,
    options: &ApplyOptions,
) -> Result<bool, ConvergeError> {
    let state = ours(&before.state, &desired.cluster);
    // What the host held is known to work there: only its own datapath is asked for,
    // so a requirement of the failed change cannot block the way back.
    let datapath_type = state
        .bridges
        .values()
        .find_map(|b| match b.row.attrs.get("datapath_type") {
            Some(crate::state::Value::Str(t)) => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_else(|| desired.requirements.datapath_type.clone());
    let previous = DesiredHost {
        name: desired.name.clone(),
        endpoint: desired.endpoint.clone(),
        cluster: desired.cluster.clone(),
        state,
        requirements: crate::state::Requirements {
            datapath_type,
            ..Default::default()
        },
    };
    let host = desired.name.clone();
    let observe = |switch: &mut dyn Switch| {
        switch.observe().map_err(|e| ConvergeError::Observe {
            host: host.clone(),
            error: Box::new(e),
        })
    };
    let planned = |observed: &ObservedHost| {
        plan::build_back(&previous, observed).map_err(|error| ConvergeError::Plan {
            host: host.clone(),
            error,
        })
    };
    let back = planned(&observe(switch)?)?;
    let mut caught_up = true;
    if !back.changes.is_empty() {
        match apply(&back, switch, options) {
            Ok(_) => {}
            // Committed; only the switch is behind, as it was for the failure itself.
            Err(ApplyError::SwitchTimeout { .. }) => caught_up = false,
            Err(e) => return Err(e.into()),
        }
    }
    let left = planned(&observe(switch)?)?;
    if !left.changes.is_empty() {
        return Err(ConvergeError::Unverified {
            host,
            left: Box::new(left),
        });
    }
    Ok(caught_up)
}

/// The rows of `cluster` in an observed state, as a desired state: no uuids, no
/// runtime columns, nothing another owner holds.
fn ours(state: &HostState, cluster: &str) -> HostState {
    let mut state = state.clone();
    state
        .bridges
        .retain(|_, b| b.row.ownership(cluster) == Ownership::Ours);
    for bridge in state.bridges.values_mut() {
        bridge.row.uuid = None;
        bridge
            .ports
            .retain(|_, p| p.row.ownership(cluster) == Ownership::Ours);
        for port in bridge.ports.values_mut() {
            port.row.uuid = None;
            for interface in port.interfaces.values_mut() {
                interface.row.uuid = None;
                interface.runtime = None;
            }
        }
    }
    state
}
