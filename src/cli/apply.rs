//! `ovsnet apply`: plan (or read a saved plan and prove it is still current), confirm,
//! then hand every host's reviewed plan to the library's `converge` in parallel (which
//! re-checks the fingerprint, applies, waits, checks interfaces and verifies).
//! A host without changes is still settled: its switch must have taken what its database holds.

use super::args::{ApplyArgs, ApplyFormat};
use super::hosts::{observe_all, targets, Target};
use super::load::{force_lab_datapath, load_text, read_source, Loaded};
use super::plan::{header, plan_hosts, select_mode};
use super::progress::Progress;
use super::{use_color, Coded, Exit};
use crate::apply::rollout::{rollout, Outcome, Rollout, Work};
use crate::apply::ApplyOptions;
use crate::desire::desire_host;
use crate::plan::{self, HostPlan, Mode, Plan};
use crate::terminal;
use crate::topology::source::Kind;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// `ovsnet apply TOPOLOGY|PLANFILE`.
pub fn apply(args: ApplyArgs) -> anyhow::Result<Exit> {
    let json = args.format == ApplyFormat::Json;
    let color = use_color(&args.color, true) && !json;
    if json && !args.auto_approve {
        return Err(Coded::usage(
            "`--format json` cannot ask for confirmation\nhelp: pass `--auto-approve`",
        ));
    }
    let timeout = Duration::from_secs(args.target.timeout);
    let text = read_source(&args.input, Kind::Plan, use_color(&args.color, false))?;
    let size = u64::try_from(text.len()).unwrap_or(u64::MAX);
    if !crate::planfile::looks_like_plan(&text) && size > Kind::Topology.limit() {
        // Read under the plan limit; as a topology it is still over its own.
        let name = args.input.display().to_string();
        let refused = crate::topology::source::too_large(&name, Some(size), Kind::Topology);
        eprint!("{}", refused.diagnostics.render("", false));
        return Err(Coded::invalid(""));
    }
    let (loaded, targets, plan, mut failures) = if crate::planfile::looks_like_plan(&text) {
        saved_plan(&args, &text, timeout)?
    } else {
        fresh_plan(&args, text, timeout)?
    };
    if !json {
        let mut out = std::io::stdout().lock();
        crate::render::render_to(crate::render::Format::Text, &plan, &mut out, color)?;
        out.flush()?;
    }
    if let Some(blocked) = plan.hosts.iter().find(|h| h.is_blocked()) {
        failures.push(anyhow::anyhow!(
            "host `{}` has conflicts or lacks features; nothing applied there",
            blocked.host
        ));
    }
    // Hosts without changes are still visited: their switch must have caught up too.
    let ready: Vec<&HostPlan> = plan.hosts.iter().filter(|h| !h.is_blocked()).collect();
    let work = ready.iter().filter(|h| !h.changes.is_empty()).count();
    if work > 0 && !args.auto_approve {
        confirm(work)?;
    }
    let options = ApplyOptions {
        cfg_timeout: Duration::from_secs(args.switch_timeout),
        request_timeout: timeout,
    };
    let how = Rollout {
        parallel: usize::try_from(args.parallel).unwrap_or(usize::MAX),
        canary: usize::try_from(args.canary).unwrap_or(usize::MAX),
        rollback: !args.no_rollback,
    };
    let progress = Progress::new(json, std::io::stderr().is_terminal());
    let hosts = work_of(&loaded, &targets, &ready)?;
    let outcomes = rollout(&hosts, &how, &options, &|e| progress.event(e));
    progress.done(&outcomes);
    let mut not_applied = Vec::new();
    for ((desired, _), outcome) in hosts.iter().zip(&outcomes) {
        match outcome {
            Outcome::Converged(_) => {}
            // Already printed, naming the host, as it happened.
            Outcome::Failed { .. } => failures.push(anyhow::anyhow!("")),
            Outcome::NotApplied => not_applied.push(format!("`{}`", desired.name)),
        }
    }
    if !not_applied.is_empty() {
        eprintln!(
            "error: not applied (the rollout stopped after a failure): {}",
            not_applied.join(", ")
        );
    }
    finish(
        failures,
        if work == 0 {
            "nothing to apply"
        } else {
            "apply complete"
        },
    )
}

type Prepared = (Loaded, Vec<Target>, Plan, Vec<anyhow::Error>);

/// Plans the topology whose `text` was read from `args.input` (read once: the file
/// is not opened again, so what was validated is what gets planned).
fn fresh_plan(args: &ApplyArgs, text: String, timeout: Duration) -> anyhow::Result<Prepared> {
    let name = args.input.display().to_string();
    let mut loaded = load_text(&name, text, true, use_color(&args.color, false))?;
    let mode = select_mode(&mut loaded, false, args.target.lab);
    let targets = targets(&loaded.topology, &args.target)?;
    let context = header(&loaded, mode);
    let (plan, failures) = plan_hosts(&loaded, &targets, context, timeout)?;
    Ok((loaded, targets, plan, failures))
}

/// A saved plan applies exactly what was reviewed, or nothing: every host it names is
/// observed again and must still have the fingerprint the plan was computed from.
/// Everything wrong with the file itself is refused (exit 65) naming the plan file,
/// before any host is contacted.
fn saved_plan(args: &ApplyArgs, text: &str, timeout: Duration) -> anyhow::Result<Prepared> {
    let file = terminal::escape(&args.input.display().to_string()).into_owned();
    let unusable =
        |why: String| Coded::invalid(format!("`{file}` is not a usable plan file: {why}"));
    let saved = crate::planfile::parse(text).map_err(|e| unusable(e.to_string()))?;
    let limit = Kind::Topology.limit();
    if u64::try_from(saved.topology_source.len()).unwrap_or(u64::MAX) > limit {
        return Err(unusable(format!(
            "its embedded topology is larger than the {limit} bytes ovsnet reads as a topology"
        )));
    }
    // Positions in the embedded topology are positions in the plan file's copy of it,
    // so its diagnostics name the plan file (and the topology it was made from).
    let embedded = format!(
        "{} (embedded {})",
        args.input.display(),
        saved.topology_name
    );
    let color = use_color(&args.color, false);
    let mut loaded = load_text(&embedded, saved.topology_source, false, color).map_err(|_| {
        unusable("the topology embedded in it no longer validates (see above)\nhelp: plan again from the topology file".into())
    })?;
    let mut plan = saved.plan;
    if plan.context.mode == Mode::Lab {
        force_lab_datapath(&mut loaded.topology);
    }
    // The embedded topology is what desire and verification run on: it must be the one
    // the plan was computed from, or verification would judge against the wrong target.
    if loaded.topology.digest() != plan.context.topology_digest {
        return Err(unusable(
            "its topology does not match its digest; the file was edited after planning".into(),
        ));
    }
    if plan.context.mode == Mode::Offline || plan.context.mode == Mode::Diff {
        return Err(unusable(
            "it is an offline or diff plan: it describes no real host and cannot be applied".into(),
        ));
    }
    unknown_or_repeated_hosts(&plan, &loaded).map_err(unusable)?;
    let target_args = super::args::TargetArgs {
        lab: plan.context.mode == Mode::Lab,
        ..args.target.clone()
    };
    let mut targets = targets(&loaded.topology, &target_args)?;
    // Selecting a host the plan does not cover would otherwise apply nothing, silently.
    if let Some(name) = args
        .target
        .hosts
        .iter()
        .find(|name| !plan.hosts.iter().any(|h| &&h.host == name))
    {
        let covered: Vec<String> = plan
            .hosts
            .iter()
            .map(|h| terminal::escape(&h.host).into_owned())
            .collect();
        let covered = if covered.is_empty() {
            "no host".to_string()
        } else {
            covered.join(", ")
        };
        return Err(Coded::usage(format!(
            "`--host {}` is not in the saved plan `{file}`\nhelp: it covers {covered}",
            terminal::escape(name),
        )));
    }
    targets.retain(|t| plan.hosts.iter().any(|h| h.host == t.name));
    plan.hosts
        .retain(|h| targets.iter().any(|t| t.name == h.host));
    // Both in topology order, so each target meets its own host plan below.
    plan.hosts
        .sort_by_key(|h| targets.iter().position(|t| t.name == h.host));
    let observed = observe_all(&targets, timeout);
    let mut stale = Vec::new();
    for ((target, observed), host) in targets.iter().zip(observed).zip(&plan.hosts) {
        let now = plan::fingerprint(&observed?);
        if host.fingerprint.as_deref() != Some(now.as_str()) {
            stale.push(target.name.clone());
        }
    }
    if !stale.is_empty() {
        let names: Vec<String> = stale
            .iter()
            .map(|n| format!("`{}`", terminal::escape(n)))
            .collect();
        anyhow::bail!(
            "the plan is stale: {} changed since it was planned; nothing applied\nhelp: run `ovsnet plan` again and review the new plan",
            names.join(", ")
        );
    }
    Ok((loaded, targets, plan, Vec::new()))
}

/// Refuses a plan naming a host its own topology does not declare, or a host twice: such
/// a plan was not made by `ovsnet plan` from that topology, and dropping the extra hosts
/// would apply less than was reviewed without saying so.
fn unknown_or_repeated_hosts(plan: &Plan, loaded: &Loaded) -> Result<(), String> {
    let declared: std::collections::HashSet<&str> = loaded
        .topology
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut unknown = Vec::new();
    for host in &plan.hosts {
        if !declared.contains(host.host.as_str()) {
            unknown.push(format!("`{}`", terminal::escape(&host.host)));
        } else if !seen.insert(host.host.as_str()) {
            return Err(format!(
                "it plans host `{}` twice",
                terminal::escape(&host.host)
            ));
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(format!(
        "it plans {} not declared in its own topology\nhelp: a saved plan covers only hosts of the topology it embeds; plan again",
        if unknown.len() == 1 {
            format!("host {}", unknown[0])
        } else {
            format!("hosts {}", unknown.join(", "))
        }
    ))
}

fn confirm(hosts: usize) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Coded::usage(
            "refusing to apply without confirmation: no terminal to ask on\nhelp: pass `--auto-approve` in pipelines",
        ));
    }
    print!("Apply these changes on {hosts} host(s)? Only `yes` is accepted: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        return Err(Coded {
            exit: Exit::Failure,
            message: "apply cancelled; nothing changed".into(),
        }
        .into());
    }
    Ok(())
}

/// Each ready host's desired state (pointed at its target's endpoint) and reviewed plan.
fn work_of<'a>(
    loaded: &Loaded,
    targets: &[Target],
    ready: &[&'a HostPlan],
) -> anyhow::Result<Vec<Work<'a>>> {
    ready
        .iter()
        .map(|host| {
            let target = targets
                .iter()
                .find(|t| t.name == host.host)
                .ok_or_else(|| anyhow::anyhow!("bug: no target for host `{}`", host.host))?;
            let mut desired = desire_host(&loaded.topology, &loaded.analysis, target.index);
            desired.endpoint = target.endpoint.clone();
            Ok((desired, Some(*host)))
        })
        .collect()
}

fn finish(failures: Vec<anyhow::Error>, done: &str) -> anyhow::Result<Exit> {
    if failures.is_empty() {
        println!("{done}.");
        return Ok(Exit::Success);
    }
    for failure in &failures {
        let text = terminal::display(format_args!("{failure:#}"));
        // Empty: already printed as it happened.
        if !text.is_empty() {
            eprintln!("error: {text}");
        }
    }
    Err(Coded {
        exit: Exit::Failure,
        message: format!("{} host(s) failed", failures.len()),
    }
    .into())
}
