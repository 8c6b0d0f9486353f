//! The state file (`state_file`): the [`Ledger`] as versioned JSON,
//! written after every successful cycle by tmp + rename (a crash leaves the
//! old file or the new one, never half of one) and read at start. A file
//! that cannot be read or parsed is an error at start, one line naming it:
//! silently starting afresh would recount or lose counts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ledger::Ledger;

/// The format version written; others are refused.
pub const VERSION: u32 = 1;
/// A state file larger than this is refused (bounded read).
pub const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("state file {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path}: larger than {MAX_STATE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error(
        "state file {path}: not a valid state file ({reason}); move it away to start counting afresh"
    )]
    Parse { path: PathBuf, reason: String },
    #[error("state file {path}: version {found}, this exporter reads version {VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("state file {path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct File<L> {
    version: u32,
    /// The `[[sps]]` name it belongs to (checked at load).
    sps: String,
    ledger: L,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// Read the ledger of `sps` at `path`; `Ok(None)` if there is no file yet.
pub fn load(path: &Path, sps: &str) -> Result<Option<Ledger>, PersistError> {
    let p = || path.to_path_buf();
    let bytes = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(PersistError::Read {
                path: p(),
                source: e,
            });
        }
        Ok(m) if m.len() > MAX_STATE_BYTES => return Err(PersistError::TooLarge { path: p() }),
        Ok(_) => std::fs::read(path).map_err(|e| PersistError::Read {
            path: p(),
            source: e,
        })?,
    };
    let parse = |e: serde_json::Error| PersistError::Parse {
        path: p(),
        reason: crate::config::one_line(&e.to_string()),
    };
    let v: VersionOnly = serde_json::from_slice(&bytes).map_err(parse)?;
    if v.version != VERSION {
        return Err(PersistError::Version {
            path: p(),
            found: v.version,
        });
    }
    let f: File<Ledger> = serde_json::from_slice(&bytes).map_err(parse)?;
    if f.sps != sps {
        return Err(PersistError::Parse {
            path: p(),
            reason: format!(
                "it belongs to [[sps]] {:?}",
                crate::config::one_line(&f.sps)
            ),
        });
    }
    Ok(Some(f.ledger))
}

/// Write `ledger` to `path` atomically (tmp in the same directory + rename).
pub fn save(path: &Path, sps: &str, ledger: &Ledger) -> Result<(), PersistError> {
    let w = |e: std::io::Error| PersistError::Write {
        path: path.to_path_buf(),
        source: e,
    };
    let f = File {
        version: VERSION,
        sps: sps.to_string(),
        ledger,
    };
    let bytes = serde_json::to_vec(&f).map_err(|e| w(std::io::Error::other(e)))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&tmp).map_err(w)?;
        file.write_all(&bytes).map_err(w)?;
        file.sync_all().map_err(w)?;
    }
    std::fs::rename(&tmp, path).map_err(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sps::body::SessionBody;
    use crate::sps::time::SpsTime;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn round_trip() {
        let d = dir();
        let path = d.path().join("s.json");
        assert!(load(&path, "pam").unwrap().is_none());
        let mut l = Ledger::default();
        l.begin(
            SpsTime::parse_rfc3339("2026-12-01T10:05:00Z").unwrap(),
            std::time::Duration::from_secs(300),
        );
        let b: SessionBody = serde_json::from_value(serde_json::json!({"active": false,
            "start_time": "2026-12-01T10:01:00.5Z", "protocol": "SSH", "verdict": "ACCEPT",
            "duration": 12.5, "analytics": {"score": {"aggregated": 40}}}))
        .unwrap();
        l.see("k", &b, 10);
        l.commit(b.start(), std::time::Duration::from_secs(120));
        save(&path, "pam", &l).unwrap();
        assert_eq!(load(&path, "pam").unwrap(), Some(l.clone()));
        assert!(!d.path().join("s.json.tmp").exists());
        // Overwritten in place.
        l.counters.window_splits = 3;
        save(&path, "pam", &l).unwrap();
        assert_eq!(
            load(&path, "pam").unwrap().unwrap().counters.window_splits,
            3
        );
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        let d = dir();
        let path = d.path().join("s.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = load(&path, "pam").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "state file {}: not a valid state file (",
                path.display()
            )),
            "{e}"
        );
        assert!(
            e.ends_with("); move it away to start counting afresh"),
            "{e}"
        );
        std::fs::write(&path, r#"{"version": 9}"#).unwrap();
        assert_eq!(
            load(&path, "pam").unwrap_err().to_string(),
            format!(
                "state file {}: version 9, this exporter reads version 1",
                path.display()
            )
        );
        save(&path, "other", &Ledger::default()).unwrap();
        assert_eq!(
            load(&path, "pam").unwrap_err().to_string(),
            format!(
                "state file {}: not a valid state file (it belongs to [[sps]] \"other\"); move it away to start counting afresh",
                path.display()
            )
        );
    }
}
