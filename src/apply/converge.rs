//! `converge`: the whole of one host's apply, as a library function, over one connection:
//! observe, plan (or check that a reviewed plan still matches), transact, wait for the
//! switch, check the interfaces, then observe and plan again: an empty plan is the proof.
//!
//! Policy lives here, not in the CLI, so the agent, the Docker plugin and any rollout
//! logic (canaries, rollback) get it for free: each call returns one host's
//! [`Converged`] or a [`ConvergeError`] naming the host, and [`converge_all`] runs many
//! hosts in parallel, results in input order. It never renders or prompts.

use super::{apply, check_not_blocked, empty_report, settle, ApplyError, ApplyOptions};
use super::{ApplyReport, Executor, OvsdbExecutor, Recorder};
use crate::observe::{observe_with, ObserveError};
use crate::plan::{self, HostPlan, PlanError};
use crate::state::{DesiredHost, ObservedHost};

/// A switch converge can drive: an executor that can also observe the whole host.
pub trait Switch: Executor {
    /// Reads what the host holds now.
    fn observe(&mut self) -> Result<ObservedHost, ObserveError>;
}

impl Switch for OvsdbExecutor {
    fn observe(&mut self) -> Result<ObservedHost, ObserveError> {
        observe_with(self.client_mut())
    }
}

impl Switch for Recorder {
    /// The scripted observations, in order; the last one repeats once the script is used up.
    fn observe(&mut self) -> Result<ObservedHost, ObserveError> {
        self.observations_made += 1;
        if self.observations.len() > 1 {
            Ok(self.observations.remove(0))
        } else {
            Ok(self.observations.first().cloned().unwrap_or_default())
        }
    }
}

/// What converge starts from.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// Plan now against what is observed, and apply that.
    Fresh,
    /// Apply exactly this reviewed plan (shown to a person, or saved with `plan -o`),
    /// refused when the host's fingerprint no longer matches the one it was planned on.
    Reviewed(&'a HostPlan),
}

/// One host converged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Converged {
    /// The plan that was applied (empty when the host only had to settle).
    pub plan: HostPlan,
    /// What apply did.
    pub report: ApplyReport,
}

/// Why a host did not converge. Every variant names the host.
#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    /// The host could not be observed (before or after the change).
    #[error("host `{host}`: {error}")]
    Observe {
        /// Host.
        host: String,
        /// Why (names the endpoint).
        error: Box<ObserveError>,
    },
    /// Planning failed (a bug in the desired state).
    #[error("host `{host}`: {error}")]
    Plan {
        /// Host.
        host: String,
        /// Why.
        error: PlanError,
    },
    /// The reviewed plan no longer describes the host; nothing was applied.
    #[error("host `{host}`: the plan is stale: the host changed since it was planned; nothing applied\nhelp: run `ovsnet plan` again and review the new plan")]
    Stale {
        /// Host.
        host: String,
    },
    /// Applying failed (names the host).
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// After apply the plan is not empty: what is left over.
    #[error("host `{host}`: verification failed: after apply the plan is not empty:\n{}", crate::render::host_text(.left))]
    Unverified {
        /// Host.
        host: String,
        /// The plan made after apply.
        left: Box<HostPlan>,
    },
}

/// Converges one host through `switch` (one connection): see the module doc.
pub fn converge(
    desired: &DesiredHost,
    switch: &mut dyn Switch,
    start: Start<'_>,
    options: &ApplyOptions,
) -> Result<Converged, ConvergeError> {
    let host = desired.name.clone();
    let observe = |switch: &mut dyn Switch| {
        switch.observe().map_err(|e| ConvergeError::Observe {
            host: host.clone(),
            error: Box::new(e),
        })
    };
    let planned = |observed: &ObservedHost| {
        plan::build(desired, observed).map_err(|error| ConvergeError::Plan {
            host: host.clone(),
            error,
        })
    };
    let observed = observe(switch)?;
    let plan = match start {
        Start::Fresh => planned(&observed)?,
        Start::Reviewed(reviewed) => {
            if reviewed.fingerprint.as_deref() != Some(plan::fingerprint(&observed).as_str()) {
                return Err(ConvergeError::Stale { host });
            }
            reviewed.clone()
        }
    };
    check_not_blocked(&plan)?;
    let report = if plan.changes.is_empty() {
        // Nothing to write: the switch must still have taken what the database holds.
        settle(&plan, switch, options)?;
        empty_report(&plan, switch.endpoint())
    } else {
        apply(&plan, switch, options)?
    };
    if !plan.changes.is_empty() {
        let again = planned(&observe(switch)?)?;
        if !again.changes.is_empty() {
            return Err(ConvergeError::Unverified {
                host,
                left: Box::new(again),
            });
        }
    }
    Ok(Converged { plan, report })
}

/// Connects to `desired.endpoint` (one connection for the whole run) and converges it.
pub fn converge_host(
    desired: &DesiredHost,
    start: Start<'_>,
    options: &ApplyOptions,
) -> Result<Converged, ConvergeError> {
    let mut switch =
        OvsdbExecutor::connect(&desired.endpoint, options.request_timeout).map_err(|error| {
            ApplyError::Ovsdb {
                host: desired.name.clone(),
                error: Box::new(error),
            }
        })?;
    converge(desired, &mut switch, start, options)
}

/// Converges every host, at most `parallel` at once (one connection each, through
/// [`crate::fanout`]); results in input order. One host's failure never stops another.
pub fn converge_all(
    hosts: &[(DesiredHost, Option<&HostPlan>)],
    parallel: usize,
    options: &ApplyOptions,
) -> Vec<Result<Converged, ConvergeError>> {
    let mut results = Vec::with_capacity(hosts.len());
    let ran = crate::fanout::ordered::<_, _, std::convert::Infallible>(
        hosts,
        parallel,
        |(desired, reviewed)| {
            let start = reviewed.map_or(Start::Fresh, Start::Reviewed);
            converge_host(desired, start, options)
        },
        |_, result| {
            results.push(result);
            Ok(crate::fanout::Flow::Continue)
        },
    );
    if let Err(never) = ran {
        match never {}
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Bridge, HostState, Row, Value};
    use std::collections::BTreeMap;

    fn desired() -> DesiredHost {
        let row = Row::named("br0")
            .with("external_ids:ovsnet-cluster", Value::Str("demo".into()))
            .with("rstp_enable", Value::Bool(false));
        DesiredHost {
            name: "a".into(),
            endpoint: "recorder".into(),
            cluster: "demo".into(),
            state: HostState {
                bridges: BTreeMap::from([(
                    "br0".to_string(),
                    Bridge {
                        row,
                        ports: BTreeMap::new(),
                    },
                )]),
            },
            ..DesiredHost::default()
        }
    }

    fn holding(state: &HostState) -> ObservedHost {
        let mut state = state.clone();
        for bridge in state.bridges.values_mut() {
            bridge.row.uuid = Some("u-br0".into());
        }
        ObservedHost {
            state,
            ..ObservedHost::default()
        }
    }

    #[test]
    fn observes_plans_commits_waits_and_proves_the_plan_empty() {
        let want = desired();
        let mut recorder = Recorder {
            observations: vec![ObservedHost::default(), holding(&want.state)],
            ..Recorder::default()
        };
        let done = converge(&want, &mut recorder, Start::Fresh, &ApplyOptions::default())
            .expect("converges");
        assert_eq!(done.plan.changes.len(), 1);
        assert_eq!(done.report.cfg, Some(1));
        assert_eq!(recorder.observations_made, 2, "observed before and after");
        // commit, the cur_cfg poll, then the new bridge's datapath check.
        assert_eq!(recorder.transactions.len(), 3);
        assert_eq!(recorder.transactions[2][0].table(), "Bridge");
    }

    #[test]
    fn a_host_that_does_not_take_the_change_fails_verification() {
        let want = desired();
        let mut recorder = Recorder::default();
        let err = converge(&want, &mut recorder, Start::Fresh, &ApplyOptions::default())
            .expect_err("nothing sticks");
        assert!(matches!(err, ConvergeError::Unverified { .. }), "{err}");
        assert!(err.to_string().starts_with("host `a`: verification failed"));
    }

    #[test]
    fn a_reviewed_plan_on_a_changed_host_is_stale_and_sends_nothing() {
        let want = desired();
        let reviewed = plan::build(&want, &ObservedHost::default()).expect("plan");
        let mut recorder = Recorder {
            observations: vec![holding(&want.state)],
            ..Recorder::default()
        };
        let err = converge(
            &want,
            &mut recorder,
            Start::Reviewed(&reviewed),
            &ApplyOptions::default(),
        )
        .expect_err("stale");
        assert!(matches!(err, ConvergeError::Stale { .. }));
        assert!(recorder.transactions.is_empty());
    }

    #[test]
    fn a_converged_host_only_settles() {
        let want = desired();
        let mut recorder = Recorder {
            observations: vec![holding(&want.state)],
            ..Recorder::default()
        };
        let done = converge(&want, &mut recorder, Start::Fresh, &ApplyOptions::default())
            .expect("settles");
        assert!(done.plan.changes.is_empty());
        assert_eq!(done.report.cfg, None);
        assert_eq!(recorder.observations_made, 1);
    }
}
