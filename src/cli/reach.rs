//! How this run reaches hosts: the TLS material from `--private-key`, `--certificate`
//! and `--ca-cert` (else `OVSNET_PRIVATE_KEY`, `OVSNET_CERTIFICATE`, `OVSNET_CA_CERT`,
//! each a path or the PEM text itself, as pipeline secrets often are) and the ssh
//! command (`OVSNET_SSH_COMMAND`), installed once for every connection of the process.
//! TLS material is only loaded when a host is reached over `ssl:`.

use super::args::TargetArgs;
use super::hosts::Target;
use super::Coded;
use crate::ovsdb::ssh::SshCommand;
use crate::ovsdb::tls::{Pem, Tls, TlsFiles};
use crate::ovsdb::{Endpoint, Reach};
use std::path::PathBuf;

/// Builds this run's [`Reach`] for `targets` and installs it.
pub fn install(args: &TargetArgs, targets: &[Target]) -> anyhow::Result<()> {
    let needs_tls = targets
        .iter()
        .any(|t| matches!(Endpoint::parse(&t.endpoint), Ok(Endpoint::Ssl(_))));
    let tls = if needs_tls { tls(args)? } else { None };
    let ssh = SshCommand {
        command: std::env::var("OVSNET_SSH_COMMAND")
            .ok()
            .filter(|c| !c.trim().is_empty()),
    };
    // A second install in one process (never done by the CLI) keeps the first.
    Reach { tls, ssh }.install();
    Ok(())
}

/// The TLS material, when any of it was given; all three parts or none.
fn tls(args: &TargetArgs) -> anyhow::Result<Option<Tls>> {
    let parts = [
        ("--private-key", "OVSNET_PRIVATE_KEY", &args.private_key),
        ("--certificate", "OVSNET_CERTIFICATE", &args.certificate),
        ("--ca-cert", "OVSNET_CA_CERT", &args.ca_cert),
    ];
    let mut found = Vec::new();
    for (flag, var, given) in parts {
        found.push(pem(flag, var, given.as_ref())?);
    }
    let missing: Vec<&str> = parts
        .iter()
        .zip(&found)
        .filter(|(_, pem)| pem.is_none())
        .map(|((flag, _, _), _)| *flag)
        .collect();
    if missing.len() == parts.len() {
        // Each ssl: host then fails naming itself and what is missing.
        return Ok(None);
    }
    let mut found = found.into_iter().flatten();
    let (Some(private_key), Some(certificate), Some(ca_cert)) =
        (found.next(), found.next(), found.next())
    else {
        return Err(Coded::usage(format!(
            "TLS needs a key, a certificate and a CA; missing {}",
            missing.join(", ")
        )));
    };
    let files = TlsFiles {
        private_key,
        certificate,
        ca_cert,
    };
    Ok(Some(Tls::load(&files)?))
}

/// One PEM part: the flag's file, else the variable (a path, or PEM text itself).
fn pem(flag: &'static str, var: &str, given: Option<&PathBuf>) -> anyhow::Result<Option<Pem>> {
    if let Some(path) = given {
        return Ok(Some(Pem::read(flag, path)?));
    }
    let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    if text.trim_start().starts_with("-----BEGIN") {
        return Ok(Some(Pem {
            origin: var.to_string(),
            text: text.into_owned().into_bytes(),
        }));
    }
    let mut pem = Pem::read(flag, &PathBuf::from(&value))?;
    pem.origin = format!("{} (from {var})", pem.origin);
    Ok(Some(pem))
}
