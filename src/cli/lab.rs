//! `ovsnet lab up|down|status|check`: thin calls into `crate::lab`.

use super::args::{LabAction, ShowFormat};
use super::hosts::lab_root;
use super::load::load;
use super::Exit;

/// Runs one lab action.
pub fn lab(action: LabAction) -> anyhow::Result<Exit> {
    let root = lab_root();
    match action {
        LabAction::Up { topology, docker } => {
            let loaded = load(&topology, false, false)?;
            let options = crate::lab::UpOptions {
                agent: Some(crate::lab::AgentLaunch::this_binary()?),
                docker,
            };
            let status = crate::lab::up_with(&loaded.topology, &root, &options)?;
            print!("{}", status.render());
            if docker {
                let names: Vec<String> = loaded
                    .topology
                    .hosts
                    .iter()
                    .map(|h| crate::lab::docker::plugin_name(&h.name))
                    .collect();
                println!(
                    "Docker plugins (-d NAME --ipam-driver NAME): {}",
                    names.join(", ")
                );
            }
        }
        LabAction::Down { topology } => {
            let loaded = load(&topology, false, false)?;
            crate::lab::down(&loaded.topology, &root)?;
            println!(
                "lab `{}` is down: every process stopped, every namespace removed.",
                loaded.topology.cluster
            );
        }
        LabAction::Status { topology } => {
            let loaded = load(&topology, false, false)?;
            let status = crate::lab::status(&loaded.topology, &root)?;
            print!("{}", status.render());
            if !status.healthy() {
                return Ok(Exit::Failure);
            }
        }
        LabAction::Check {
            topology,
            keep_probes,
            full,
            sample,
            sample_above,
            format,
        } => {
            let loaded = load(&topology, false, false)?;
            let options = crate::lab::CheckOptions {
                keep_probes,
                pairs: match (full, sample) {
                    (true, _) => crate::lab::Pairs::Full,
                    (_, true) => crate::lab::Pairs::Sampled,
                    _ => crate::lab::Pairs::Auto,
                },
                sample_above,
            };
            let report =
                crate::lab::check_with(&loaded.topology, &loaded.analysis, &root, &options)?;
            match format {
                ShowFormat::Text => print!("{}", report.render()),
                ShowFormat::Json => println!("{}", report.to_json()?),
            }
            if !report.passed() {
                return Ok(Exit::Failure);
            }
        }
    }
    Ok(Exit::Success)
}
