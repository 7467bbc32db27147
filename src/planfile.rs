//! Saved plans (`ovsnet plan -o FILE`, `ovsnet apply FILE`): the whole [`Plan`] as one
//! JSON document, so apply carries out exactly what was reviewed.
//!
//! The document is
//! `{"document": "ovsnet-plan", "format_version": 1, "checksum": "sha256:…", "topology_name": …, "topology_source": …, "plan": {…}}`:
//! the topology it was planned from (its file name and text, so apply can reach the same
//! hosts and verify with the same desired state), and `plan`, the serde form of [`Plan`]:
//! the context with the topology digest, and per host the observed fingerprint, the
//! changes with uuids and values, and the guards. `checksum` is the sha256 of the
//! serialized topology name, text and plan: a plan edited after it was saved (and so
//! after it was reviewed) is refused, whatever was changed in what apply reads (an edit
//! that changes nothing apply reads, such as spacing or an unknown key, leaves the plan
//! as it was saved). Reading checks the marker and the
//! version before the body, so a wrong file is named as such rather than as a parse error
//! deep inside. This module only reads and writes; whether a plan is stale is apply's business.

use crate::plan::{Plan, FORMAT_VERSION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The value of the `document` field that marks a saved plan.
pub const DOCUMENT: &str = "ovsnet-plan";

/// A saved plan as read back: the plan and the topology it was made from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SavedPlan {
    /// The plan, exactly as it was written (guards included).
    pub plan: Plan,
    /// Name of the topology file the plan was made from (for messages and spans).
    pub topology_name: String,
    /// Text of that topology file.
    pub topology_source: String,
}

/// Why a saved plan could not be written or read (the CLI maps read errors to exit 65).
///
/// Apart from `Io`, messages do not name the file: the caller knows it and says
/// "`FILE` is not a usable plan file: <message>".
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The file could not be opened, read or written. (The system's error is part of the
    /// message, not a `source`, so an error chain prints it once.)
    #[error("cannot access `{}`: {error}", crate::terminal::escape(&path.display().to_string()))]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// `-o` names a directory.
    #[error("`{}` is a directory\nhelp: name a file, such as `{}/plan.json`", crate::terminal::escape(&path.display().to_string()), crate::terminal::escape(&path.display().to_string()))]
    IsDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The text is not JSON or has no `"document": "ovsnet-plan"` marker.
    #[error("it is not an ovsnet plan file ({reason})\nhelp: save one with `ovsnet plan TOPOLOGY -o FILE`")]
    NotAPlanFile {
        /// What was found instead.
        reason: String,
    },
    /// The plan was written in a format version this ovsnet does not read.
    #[error("it has format_version {found} and this ovsnet reads {expected}\nhelp: plan again with this version of ovsnet")]
    WrongVersion {
        /// Version found in the file.
        found: u64,
        /// Version this build reads.
        expected: u32,
    },
    /// The marker and version are right but the content is damaged.
    #[error("it is damaged: {error}")]
    Malformed {
        /// The parse error, with line and column.
        error: serde_json::Error,
    },
    /// The content parses but is not what was saved: the checksum is missing or differs.
    #[error("it was edited after it was saved ({reason}); apply carries out only the plan as it was reviewed\nhelp: run `ovsnet plan TOPOLOGY -o FILE` again and review the new plan")]
    Edited {
        /// Missing or different.
        reason: &'static str,
    },
}

/// What is written: marker, version, checksum, topology, plan.
#[derive(Serialize)]
struct Out<'p> {
    document: &'static str,
    format_version: u32,
    checksum: &'p str,
    #[serde(flatten)]
    body: Body<'p>,
}

/// What the checksum covers: everything apply acts on.
#[derive(Serialize)]
struct Body<'p> {
    topology_name: &'p str,
    topology_source: &'p str,
    plan: &'p Plan,
}

/// What is read first: only the marker, version and checksum, so a wrong file is named early.
#[derive(Deserialize)]
struct Header {
    document: Option<String>,
    format_version: Option<u64>,
    checksum: Option<String>,
}

/// `sha256:` and the hex digest of `body` serialized (streamed into the hash: a plan of a
/// large cluster is not held twice).
fn checksum(body: &Body) -> io::Result<String> {
    struct Hashing(Sha256);
    impl Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(Sha256::new());
    serde_json::to_writer(&mut hashing, body)?;
    let digest = hashing.0.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256:{hex}"))
}

/// Writes a saved plan document to `out`.
pub fn to_writer(
    out: &mut dyn Write,
    plan: &Plan,
    topology_name: &str,
    topology_source: &str,
) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let body = Body {
        topology_name,
        topology_source,
        plan,
    };
    let checksum = checksum(&body)?;
    let doc = Out {
        document: DOCUMENT,
        format_version: FORMAT_VERSION,
        checksum: &checksum,
        body,
    };
    serde_json::to_writer(&mut out, &doc)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes a saved plan to `path`, through a temporary file renamed into place so a reader
/// never sees half a plan.
pub fn write(
    path: &Path,
    plan: &Plan,
    topology_name: &str,
    topology_source: &str,
) -> Result<(), PlanFileError> {
    let io_err = |error| PlanFileError::Io {
        path: path.to_path_buf(),
        error,
    };
    if path.is_dir() {
        return Err(PlanFileError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        to_writer(&mut file, plan, topology_name, topology_source)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        // Whatever failed, no half-written temporary file is left behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io_err)
}

/// Whether `text` is meant as a saved plan rather than a topology: a JSON object whose
/// first field is the `document` marker (as [`write`] puts it). Anything else is read as
/// a topology. Cheap: looks only at the start.
pub fn looks_like_plan(text: &str) -> bool {
    let start = text.trim_start();
    if !start.starts_with('{') {
        return false;
    }
    let rest = start[1..].trim_start();
    rest.starts_with("\"document\"")
}

/// Parses a saved plan document.
pub fn parse(text: &str) -> Result<SavedPlan, PlanFileError> {
    let not_plan = |reason: String| PlanFileError::NotAPlanFile { reason };
    let header: Header =
        serde_json::from_str(text).map_err(|e| not_plan(format!("not a JSON object: {e}")))?;
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
            found,
            expected: FORMAT_VERSION,
        });
    }
    let saved: SavedPlan =
        serde_json::from_str(text).map_err(|error| PlanFileError::Malformed { error })?;
    if saved.plan.format_version != FORMAT_VERSION {
        let found = u64::from(saved.plan.format_version);
        return Err(PlanFileError::WrongVersion {
            found,
            expected: FORMAT_VERSION,
        });
    }
    let Some(written) = header.checksum else {
        let reason = "it has no `checksum`";
        return Err(PlanFileError::Edited { reason });
    };
    let body = Body {
        topology_name: &saved.topology_name,
        topology_source: &saved.topology_source,
        plan: &saved.plan,
    };
    let now = checksum(&body).map_err(|e| PlanFileError::Malformed {
        error: serde_json::Error::io(e),
    })?;
    if now != written {
        let reason = "its content does not match its `checksum`";
        return Err(PlanFileError::Edited { reason });
    }
    Ok(saved)
}

/// Reads a saved plan from `path`.
pub fn read(path: &Path) -> Result<SavedPlan, PlanFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| PlanFileError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse(&text)
}
