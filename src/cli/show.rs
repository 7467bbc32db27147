//! `ovsnet show` (what hosts hold now, classified by owner) and `ovsnet graph`.

use super::args::{GraphFormat, ShowFormat, TargetArgs};
use super::hosts::{observe_all, targets};
use super::load::load;
use super::{Coded, Exit};
use crate::state::{ObservedHost, Ownership, Row};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// One host as `show --format json` prints it.
#[derive(Serialize)]
struct ShownHost<'a> {
    /// Host name.
    host: &'a str,
    /// Endpoint contacted.
    endpoint: &'a str,
    /// What it holds, or why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    observed: Option<&'a ObservedHost>,
    /// The error, when unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `ovsnet show`.
pub fn show(path: &Path, args: &TargetArgs, format: ShowFormat) -> anyhow::Result<Exit> {
    let loaded = load(path, false, false)?;
    let targets = targets(&loaded.topology, args)?;
    let observed = observe_all(&targets, Duration::from_secs(args.timeout));
    let cluster = &loaded.topology.cluster;
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    let mut shown = Vec::new();
    for (target, result) in targets.iter().zip(&observed) {
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        failed += usize::from(error.is_some());
        shown.push(ShownHost {
            host: &target.name,
            endpoint: &target.endpoint,
            observed: result.as_ref().ok(),
            error,
        });
    }
    match format {
        ShowFormat::Json => {
            let doc =
                serde_json::json!({ "format_version": 1, "cluster": cluster, "hosts": shown });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        ShowFormat::Text => {
            // Names and values come from the hosts, foreign rows included.
            let mut out = crate::terminal::Sanitized::new(&mut out);
            for host in &shown {
                write_host_text(&mut out, host, cluster)?;
            }
            out.flush()?;
        }
    }
    if failed > 0 {
        return Err(Coded {
            exit: Exit::Failure,
            message: format!("{failed} host(s) unreachable"),
        }
        .into());
    }
    Ok(Exit::Success)
}

fn write_host_text(out: &mut dyn Write, host: &ShownHost, cluster: &str) -> std::io::Result<()> {
    writeln!(out, "host {} ({})", host.host, host.endpoint)?;
    let Some(observed) = host.observed else {
        return writeln!(
            out,
            "  unreachable: {}",
            host.error.as_deref().unwrap_or("?")
        );
    };
    let sys = &observed.system;
    writeln!(
        out,
        "  ovs {} schema {}, cfg {}/{}",
        sys.ovs_version.as_deref().unwrap_or("?"),
        sys.schema_version,
        sys.cur_cfg,
        sys.next_cfg
    )?;
    write_agent(out, host.host, sys.agent.as_deref())?;
    for bridge in observed.state.bridges.values() {
        writeln!(
            out,
            "  bridge {} [{}]",
            bridge.row.name,
            owner(&bridge.row, cluster)
        )?;
        for port in bridge.ports.values() {
            writeln!(
                out,
                "    port {} [{}]{}",
                port.row.name,
                owner(&port.row, cluster),
                attrs(&port.row)
            )?;
            for iface in port.interfaces.values() {
                let ofport = iface
                    .runtime
                    .as_ref()
                    .and_then(|r| r.ofport)
                    .map_or("-".into(), |o| o.to_string());
                let error = iface
                    .runtime
                    .as_ref()
                    .and_then(|r| r.error.clone())
                    .map_or(String::new(), |e| format!(" error: {e}"));
                writeln!(
                    out,
                    "      interface {} ofport {ofport}{}{error}",
                    iface.row.name,
                    attrs(&iface.row)
                )?;
            }
        }
    }
    Ok(())
}

/// The agent's health line, and a warning when it is down or failing.
fn write_agent(out: &mut dyn Write, host: &str, health: Option<&str>) -> std::io::Result<()> {
    let Some(text) = health else {
        return writeln!(out, "  agent: none has reported");
    };
    let Some(h) = crate::agent::health::parse(text) else {
        return writeln!(
            out,
            "  warning: the agent's health key is unreadable: {text}"
        );
    };
    let state = if h.up { "up" } else { "down" };
    writeln!(
        out,
        "  agent: {state}, version {}, pid {}, last reconcile {} (unix time)",
        h.version, h.pid, h.last_reconcile
    )?;
    if !h.up {
        writeln!(out, "  warning: the agent on `{host}` is down")?;
    }
    if let Some(error) = &h.error {
        let error = error.replace('\n', " ");
        writeln!(out, "  warning: the agent on `{host}` is failing: {error}")?;
    }
    Ok(())
}

fn owner(row: &Row, cluster: &str) -> String {
    match row.ownership(cluster) {
        Ownership::Ours => "ours".into(),
        Ownership::OtherCluster(c) => format!("cluster {c}"),
        Ownership::Foreign => "foreign".into(),
    }
}

fn attrs(row: &Row) -> String {
    row.attrs
        .iter()
        .filter(|(k, _)| !k.starts_with("external_ids:"))
        .map(|(k, v)| format!(" {k}={v}"))
        .collect()
}

/// `ovsnet graph`.
pub fn graph(path: &Path, format: GraphFormat) -> anyhow::Result<Exit> {
    let loaded = load(path, false, false)?;
    let text = match format {
        GraphFormat::Text => crate::render::graph::text(&loaded.topology, &loaded.analysis),
        GraphFormat::Mermaid => crate::render::graph::mermaid(&loaded.topology, &loaded.analysis),
        GraphFormat::Dot => crate::render::graph::dot(&loaded.topology, &loaded.analysis),
    };
    let mut out = crate::terminal::Sanitized::new(std::io::stdout().lock());
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(Exit::Success)
}
