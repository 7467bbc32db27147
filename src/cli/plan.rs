//! `ovsnet plan` and `ovsnet diff`: load, observe (or not), `plan::build` per host,
//! render. An offline plan is produced and written one host at a time, so a cluster of
//! a thousand hosts never sits in memory whole.

use super::args::{OutputArgs, PlanArgs, PlanFormat};
use super::hosts::{observe_all, targets, Target};
use super::load::{force_lab_datapath, load, Loaded};
use super::{use_color, Coded, Exit};
use crate::desire::desire_host;
use crate::diff::Side;
use crate::offline::{self, HostRef};
use crate::plan::{self, Context, HostPlan, Mode, Plan};
use crate::render::PlanWriter;
use crate::state::ObservedHost;
use anyhow::Context as _;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// `ovsnet plan`.
pub fn plan(args: PlanArgs) -> anyhow::Result<Exit> {
    if args.offline && args.out.is_some() {
        // Apply refuses every offline plan (it describes hosts that hold nothing, not the
        // real ones): saving one would only produce a file that fails later.
        return Err(Coded::usage(
            "`--offline` plans cannot be saved with `-o`: apply refuses a plan made against \
             hosts that hold nothing\nhelp: plan against the hosts (drop `--offline`), or \
             against the lab with `--lab`",
        ));
    }
    let color = use_color(&args.output.color, true);
    let mut loaded = load(&args.topology, true, use_color(&args.output.color, false))?;
    let mode = select_mode(&mut loaded, args.offline, args.target.lab);
    let targets = targets(&loaded.topology, &args.target)?;
    let context = header(&loaded, mode);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut writer = crate::render::writer(args.output.format.into(), &mut out, color);
    let outcome = if mode == Mode::Offline && args.out.is_none() {
        stream_offline(&loaded, &targets, &context, writer.as_mut())?
    } else {
        let timeout = Duration::from_secs(args.target.timeout);
        let (plan, failures) = plan_hosts(&loaded, &targets, context, timeout)?;
        crate::render::render_with(&plan, writer.as_mut())?;
        let mut outcome = Outcome::of(&plan, failures);
        if let Some(path) = &args.out {
            // A saved plan that silently lacks a host would apply as if that host were
            // fine: save only a plan that covers every selected host.
            if outcome.failures.is_empty() {
                let name = args.topology.display().to_string();
                crate::planfile::write(path, &plan, &name, &loaded.source).with_context(|| {
                    let shown = crate::terminal::escape(&path.display().to_string()).into_owned();
                    format!("cannot save the plan to `{shown}`")
                })?;
            } else {
                outcome.unsaved = Some(path.display().to_string());
            }
        }
        outcome
    };
    drop(writer);
    out.flush()?;
    outcome.exit(args.output.detailed_exitcode)
}

/// `ovsnet diff BASE HEAD`: the plan on hosts that hold BASE, contacting none, streamed
/// host by host and built from what differs (see [`crate::diff`]).
pub fn diff(base_path: &Path, head_path: &Path, output: &OutputArgs) -> anyhow::Result<Exit> {
    let color = use_color(&output.color, true);
    let base = load(base_path, false, use_color(&output.color, false))?;
    let head = load(head_path, true, use_color(&output.color, false))?;
    let context = header(&head, Mode::Diff);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (base_name, head_name) = (
        base_path.display().to_string(),
        head_path.display().to_string(),
    );
    let mut writer: Box<dyn PlanWriter> = if output.format == PlanFormat::Markdown {
        // The reviewer sees the YAML change next to what it does to the hosts.
        Box::new(
            crate::render::markdown::MarkdownRenderer::new(&mut out)
                .with_topology_change((&base_name, &base.source), (&head_name, &head.source)),
        )
    } else {
        crate::render::writer(output.format.into(), &mut out, color)
    };
    writer.begin(&context)?;
    let mut outcome = Outcome::default();
    crate::diff::each_host(side(&base), side(&head), |host| {
        outcome.add(&host);
        writer.host(&host).map_err(anyhow::Error::from)
    })?;
    writer.finish()?;
    drop(writer);
    out.flush()?;
    outcome.exit(output.detailed_exitcode)
}

fn side(loaded: &Loaded) -> Side<'_> {
    Side {
        topology: &loaded.topology,
        analysis: &loaded.analysis,
    }
}

/// The mode a plan runs in; `--lab` also switches every host to the userspace datapath.
pub fn select_mode(loaded: &mut Loaded, offline: bool, lab: bool) -> Mode {
    if offline {
        Mode::Offline
    } else if lab {
        force_lab_datapath(&mut loaded.topology);
        Mode::Lab
    } else {
        Mode::Live
    }
}

/// The plan header for `loaded` in `mode`.
pub fn header(loaded: &Loaded, mode: Mode) -> Context {
    plan::context(
        &loaded.topology,
        &loaded.analysis,
        mode,
        loaded.warnings.clone(),
    )
}

/// Observes every target and plans it; unreachable hosts are reported and left out.
pub fn plan_hosts(
    loaded: &Loaded,
    targets: &[Target],
    context: Context,
    timeout: Duration,
) -> anyhow::Result<(Plan, Vec<anyhow::Error>)> {
    let observed = if context.mode == Mode::Offline {
        targets
            .iter()
            .map(|_| Ok(ObservedHost::default()))
            .collect()
    } else {
        observe_all(targets, timeout)
    };
    let mut plan = Plan {
        format_version: plan::FORMAT_VERSION,
        context,
        hosts: Vec::new(),
    };
    let mut failures = Vec::new();
    for (target, observed) in targets.iter().zip(observed) {
        match observed {
            Ok(observed) => plan.hosts.push(plan_one(loaded, target, &observed)?),
            Err(err) => failures.push(err),
        }
    }
    Ok((plan, failures))
}

/// Plans one host against what it was observed to hold.
pub fn plan_one(
    loaded: &Loaded,
    target: &Target,
    observed: &ObservedHost,
) -> anyhow::Result<HostPlan> {
    let mut desired = desire_host(&loaded.topology, &loaded.analysis, target.index);
    desired.endpoint = target.endpoint.clone();
    Ok(plan::build_owned(desired, observed)?)
}

fn stream_offline(
    loaded: &Loaded,
    targets: &[Target],
    context: &Context,
    writer: &mut dyn PlanWriter,
) -> anyhow::Result<Outcome> {
    writer.begin(context)?;
    let hosts: Vec<HostRef> = targets
        .iter()
        .map(|t| HostRef {
            index: t.index,
            endpoint: t.endpoint.clone(),
        })
        .collect();
    let mut outcome = Outcome::default();
    offline::render_each_host::<_, anyhow::Error>(
        &loaded.topology,
        &loaded.analysis,
        &hosts,
        writer,
        Outcome::of_host,
        |host| outcome.merge(host),
    )?;
    writer.finish()?;
    Ok(outcome)
}

/// What a plan run found, for the exit code.
#[derive(Default)]
struct Outcome {
    changes: bool,
    blocked: Vec<String>,
    failures: Vec<anyhow::Error>,
    /// The `-o` path not written because some host could not be planned.
    unsaved: Option<String>,
}

impl Outcome {
    fn of(plan: &Plan, failures: Vec<anyhow::Error>) -> Outcome {
        let mut outcome = Outcome {
            failures,
            ..Outcome::default()
        };
        for host in &plan.hosts {
            outcome.add(host);
        }
        outcome
    }

    fn add(&mut self, host: &HostPlan) {
        self.merge(Outcome::of_host(host));
    }

    /// What one host adds: whether it changes anything, and its name when it is blocked.
    fn of_host(host: &HostPlan) -> (bool, Option<String>) {
        (
            !host.changes.is_empty(),
            host.is_blocked().then(|| host.host.clone()),
        )
    }

    fn merge(&mut self, (changes, blocked): (bool, Option<String>)) {
        self.changes |= changes;
        self.blocked.extend(blocked);
    }

    /// Failures first (1), then blocked hosts (1), then changes (2 when asked) or 0.
    fn exit(self, detailed: bool) -> anyhow::Result<Exit> {
        for failure in &self.failures {
            eprintln!(
                "error: {}",
                crate::terminal::display(format_args!("{failure:#}"))
            );
        }
        if !self.failures.is_empty() {
            let unsaved = self.unsaved.map_or_else(String::new, |path| {
                format!("; the plan was not saved to `{path}`")
            });
            return Err(Coded {
                exit: Exit::Failure,
                message: format!(
                    "{} host(s) could not be planned{unsaved}",
                    self.failures.len()
                ),
            }
            .into());
        }
        if !self.blocked.is_empty() {
            return Err(anyhow::anyhow!(
                "the plan cannot be applied on {}: see the conflicts above",
                self.blocked
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(if detailed && self.changes {
            Exit::Changes
        } else {
            Exit::Success
        })
    }
}

impl From<PlanFormat> for crate::render::Format {
    fn from(format: PlanFormat) -> Self {
        match format {
            PlanFormat::Text => crate::render::Format::Text,
            PlanFormat::Json => crate::render::Format::Json,
            PlanFormat::Markdown => crate::render::Format::Markdown,
        }
    }
}
