//! `ovsnet agent`: parse the endpoint, stop on SIGTERM/SIGINT, run the reconciler.

use super::Exit;
use crate::agent::{self, Config};
use crate::ovsdb::Endpoint;
use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn agent(ovsdb: &str) -> anyhow::Result<Exit> {
    Endpoint::parse(ovsdb).map_err(|e| super::Coded::usage(e.to_string()))?;
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
    let config = Config {
        endpoint: ovsdb.to_string(),
        timeout: Duration::from_secs(10),
    };
    agent::run(&config, &STOP).context("the agent stopped")?;
    Ok(Exit::Success)
}
