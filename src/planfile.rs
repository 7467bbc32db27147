//! Saved plans (`ovsnet plan -o FILE`, `ovsnet apply FILE`): the whole [`Plan`] as one
//! JSON document, so apply carries out exactly what was reviewed.
//!
//! The document is `{"document": "ovsnet-plan", "format_version": 1, "plan": {...}}`,
//! where `plan` is the serde form of [`Plan`]: the context with the topology digest, and
//! per host the observed fingerprint, the changes with uuids and values, and the guards.
//! Reading checks the marker and the version before the body, so a wrong file is named
//! as such rather than as a parse error deep inside. This module only reads and writes
//! files; whether a plan is stale is apply's business.

use crate::plan::{Plan, FORMAT_VERSION};
use serde::{Deserialize, Serialize};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The value of the `document` field that marks a saved plan.
pub const DOCUMENT: &str = "ovsnet-plan";

/// Why a saved plan could not be written or read (the CLI maps read errors to exit 65).
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The file could not be opened, read or written.
    #[error("cannot access plan file `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The file is not JSON or has no `"document": "ovsnet-plan"` marker.
    #[error("`{path}` is not an ovsnet plan file ({reason})\nhelp: write one with `ovsnet plan TOPOLOGY -o {path}`")]
    NotAPlanFile {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The plan was written in a format version this ovsnet does not read.
    #[error("plan file `{path}` has format_version {found}, this ovsnet reads {expected}\nhelp: plan again with this version of ovsnet")]
    WrongVersion {
        /// The file.
        path: PathBuf,
        /// Version found in the file.
        found: u64,
        /// Version this build reads.
        expected: u32,
    },
    /// The marker and version are right but the plan inside is damaged.
    #[error("plan file `{path}` is damaged: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        source: serde_json::Error,
    },
}

/// What is written: marker, version, plan.
#[derive(Serialize)]
struct Out<'p> {
    document: &'static str,
    format_version: u32,
    plan: &'p Plan,
}

/// What is read first: only the marker and version, so a wrong file is named early.
#[derive(Deserialize)]
struct Header {
    document: Option<String>,
    format_version: Option<u64>,
}

/// What is read second: the plan itself.
#[derive(Deserialize)]
struct In {
    plan: Plan,
}

/// Writes `plan` as a saved plan document to `out`.
pub fn to_writer(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let doc = Out {
        document: DOCUMENT,
        format_version: FORMAT_VERSION,
        plan,
    };
    serde_json::to_writer(&mut out, &doc)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes `plan` to `path`, through a temporary file renamed into place so a reader
/// never sees half a plan.
pub fn write(plan: &Plan, path: &Path) -> Result<(), PlanFileError> {
    let io_err = |source| PlanFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(io_err)?;
    to_writer(plan, &mut file).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_err)
}

/// Parses a saved plan document; `path` is only used to name the file in errors.
pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Plan, PlanFileError> {
    let not_plan = |reason: String| PlanFileError::NotAPlanFile {
        path: path.to_path_buf(),
        reason,
    };
    let header: Header =
        serde_json::from_slice(bytes).map_err(|e| not_plan(format!("not a JSON object: {e}")))?;
    match header.document.as_deref() {
        Some(DOCUMENT) => {}
        Some(other) => return Err(not_plan(format!("its document is `{other}`"))),
        None => return Err(not_plan("no `document` field".to_string())),
    }
    let found = header
        .format_version
        .ok_or_else(|| not_plan("no `format_version` field".to_string()))?;
    if found != u64::from(FORMAT_VERSION) {
        return Err(PlanFileError::WrongVersion {
            path: path.to_path_buf(),
            found,
            expected: FORMAT_VERSION,
        });
    }
    let body: In = serde_json::from_slice(bytes).map_err(|source| PlanFileError::Malformed {
        path: path.to_path_buf(),
        source,
    })?;
    if body.plan.format_version != FORMAT_VERSION {
        return Err(PlanFileError::WrongVersion {
            path: path.to_path_buf(),
            found: u64::from(body.plan.format_version),
            expected: FORMAT_VERSION,
        });
    }
    Ok(body.plan)
}

/// Reads a saved plan from `path`.
pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
    let bytes = std::fs::read(path).map_err(|source| PlanFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_slice(&bytes, path)
}
