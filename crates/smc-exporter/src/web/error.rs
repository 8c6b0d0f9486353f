//! `WebConfigError`: one line, `web config FILE: key.path: reason`, never a
//! secret (no password hash, key or certificate text is ever echoed).

use crate::config::one_line;
use std::path::{Path, PathBuf};

/// A web config file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("web config {}: {}", file.display(), self.what())]
pub struct WebConfigError {
    file: PathBuf,
    key: String,
    reason: String,
}

impl WebConfigError {
    pub(crate) fn new(file: &Path, key: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        WebConfigError {
            file: file.to_path_buf(),
            key: key.into(),
            reason: one_line(&reason.to_string()),
        }
    }

    /// The key path (`tls_server_config.client_auth_type`), empty for the
    /// file as a whole (unreadable, not YAML).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The reason, without file and key.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    fn what(&self) -> String {
        if self.key.is_empty() {
            self.reason.clone()
        } else {
            format!("{}: {}", self.key, self.reason)
        }
    }
}

/// Errors found while reading the YAML, before the file name is known to
/// them: `(key path, reason)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyError {
    pub key: String,
    pub reason: String,
}

impl KeyError {
    pub(crate) fn new(key: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        KeyError {
            key: key.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn in_file(self, file: &Path) -> WebConfigError {
        WebConfigError::new(file, self.key, self.reason)
    }
}
