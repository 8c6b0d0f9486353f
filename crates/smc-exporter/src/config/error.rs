//! `ConfigError`: one line, `<key path>: <reason>`, never a secret.
//!
//! Figment reports a path (`["smc", "0", "engnes"]`) and a serde error kind.
//! [`from_figment_error`] turns that into the operator-facing shape
//! (`smc[0].engnes: unknown key; did you mean \`engines\`?`). Values are never
//! echoed from a type error (an `api_key = 12345` must not show up in a log),
//! and TOML syntax errors are re-rendered without the source snippet that the
//! TOML parser would otherwise print (it could contain an inline key).

use std::fmt;
use std::path::Path;

use figment::error::{Actual, Kind};

/// What went wrong, coarsely; the binary may pick an exit code from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The config file (or a file it names) could not be read.
    Io,
    /// The config file is not valid TOML.
    Syntax,
    /// A key that the exporter does not know.
    UnknownKey,
    /// A value of the wrong type (string instead of array, ...).
    Type,
    /// A required key is absent.
    Missing,
    /// A value of the right type that is not acceptable.
    Invalid,
}

/// A configuration error. `Display` is one line: `<key path>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    key: String,
    reason: String,
    kind: ErrorKind,
}

impl ConfigError {
    /// A new error. Line breaks in `reason` are folded so the message stays one line.
    pub fn new(kind: ErrorKind, key: impl Into<String>, reason: impl fmt::Display) -> Self {
        ConfigError {
            key: one_line(&key.into()),
            reason: one_line(&reason.to_string()),
            kind,
        }
    }

    pub(crate) fn invalid(key: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Invalid, key, reason)
    }

    /// The key path, e.g. `smc[0].url`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The reason, without the key path.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Append a note to the reason (e.g. which environment variable set the value).
    pub(crate) fn with_note(mut self, note: &str) -> Self {
        self.reason = format!("{} ({})", self.reason, one_line(note));
        self
    }
}

/// `s` on one line: its lines trimmed, empty ones dropped, joined by spaces.
pub(crate) fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Render a figment path as a key path: `["smc","0","url"]` → `smc[0].url`.
pub(crate) fn key_path<S: AsRef<str>>(segments: &[S]) -> String {
    let mut out = String::new();
    for seg in segments {
        let seg = seg.as_ref();
        if !out.is_empty() && !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// The name of a value's type, without the value (it may be a secret).
fn actual_name(a: &Actual) -> &'static str {
    match a {
        Actual::Bool(_) => "boolean",
        Actual::Unsigned(_) => "integer",
        Actual::Signed(v) if *v < 0 => "negative integer",
        Actual::Signed(_) => "integer",
        Actual::Float(_) => "float",
        Actual::Char(_) | Actual::Str(_) => "string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "array",
        Actual::Map => "table",
        Actual::Unit | Actual::Option => "empty value",
        _ => "value of another kind",
    }
}

/// serde's "expected" text, in TOML words.
fn expected_name(path: &[String], exp: &str) -> String {
    let exp = exp.trim();
    if path.len() == 1 && path[0] == "smc" && exp == "a sequence" {
        return "an array of [[smc]] tables".into();
    }
    if path.len() == 1 && path[0] == "sps" && exp == "a sequence" {
        return "an array of [[sps]] tables".into();
    }
    match exp {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        e if e.starts_with("struct RelativePathBuf") => "a file path string".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e => e.into(),
    }
}

/// Known keys of the table at `path`, for unknown-key hints.
fn suggest(unknown: &str, expected: &[&str]) -> String {
    let best = expected
        .iter()
        .map(|e| (strsim::damerau_levenshtein(unknown, e), *e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 4))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, e)) => format!("unknown key; did you mean `{e}`?"),
        None if expected.is_empty() => "unknown key".into(),
        None => format!("unknown key; known keys: {}", expected.join(", ")),
    }
}

/// Convert the first error figment reports into a `ConfigError`.
pub(crate) fn from_figment_error(err: figment::Error) -> ConfigError {
    let path = err.path.clone();
    let key = key_path(&path);
    let key = if key.is_empty() {
        "config".to_string()
    } else {
        key
    };
    match &err.kind {
        Kind::Message(msg) => message_error(&err, &key, msg),
        kind => key_error(kind, &path, &key).unwrap_or_else(|| value_error(kind, &path, key)),
    }
}

/// Errors about the keys themselves: unknown, missing, given twice.
fn key_error(kind: &Kind, path: &[String], key: &str) -> Option<ConfigError> {
    Some(match kind {
        Kind::UnknownField(field, expected) => {
            // figment already put the unknown key at the end of the path.
            let key = if path.last().map(String::as_str) == Some(field.as_str()) {
                key.to_string()
            } else {
                key_path(&[key, field.as_str()])
            };
            ConfigError::new(ErrorKind::UnknownKey, key, suggest(field, expected))
        }
        Kind::MissingField(field) => {
            let key = if path.is_empty() {
                field.to_string()
            } else {
                key_path(&[key, field.as_ref()])
            };
            ConfigError::new(ErrorKind::Missing, key, "required key is missing")
        }
        Kind::DuplicateField(f) => {
            ConfigError::new(ErrorKind::Invalid, key_path(&[key, f]), "key given twice")
        }
        _ => return None,
    })
}

/// Errors about a value: its type, length, range or variant.
fn value_error(kind: &Kind, path: &[String], key: String) -> ConfigError {
    let (kind, reason) = match kind {
        Kind::InvalidType(actual, exp) | Kind::InvalidValue(actual, exp) => (
            ErrorKind::Type,
            format!(
                "expected {}, found {}",
                expected_name(path, exp),
                actual_name(actual)
            ),
        ),
        Kind::InvalidLength(n, exp) => (
            ErrorKind::Type,
            format!("expected {}, found {n} elements", expected_name(path, exp)),
        ),
        Kind::UnknownVariant(v, exp) => (
            ErrorKind::Invalid,
            format!("unknown value `{v}`; expected one of: {}", exp.join(", ")),
        ),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => {
            (ErrorKind::Type, "number out of range".to_string())
        }
        Kind::Unsupported(actual) => (
            ErrorKind::Type,
            format!("unsupported value: {}", actual_name(actual)),
        ),
        Kind::UnsupportedKey(actual, need) => (
            ErrorKind::Type,
            format!("unsupported key type {}, need {need}", actual_name(actual)),
        ),
        other => (ErrorKind::Invalid, other.to_string()),
    };
    ConfigError::new(kind, key, reason)
}

/// A free-form message: in practice a TOML syntax error from the file
/// provider. Its text embeds a snippet of the offending line, which may hold
/// an inline API key, so re-parse the file to get position and reason only.
fn message_error(err: &figment::Error, key: &str, msg: &str) -> ConfigError {
    let file = err
        .metadata
        .as_ref()
        .and_then(|m| m.source.as_ref())
        .and_then(|s| s.file_path());
    if let Some(file) = file {
        if let Some(e) = toml_syntax_error(file) {
            return e;
        }
        // Keep only the first line ("TOML parse error at line L, column C").
        let first = msg.lines().next().unwrap_or("invalid value");
        return ConfigError::new(ErrorKind::Syntax, file.display().to_string(), first);
    }
    // Messages from our own deserializers carry no values.
    let first = msg.lines().next().unwrap_or("invalid value");
    ConfigError::new(ErrorKind::Invalid, key, first)
}

/// Parse `file` as TOML; on a syntax error return `<file>:<line>:<col>: invalid TOML: <reason>`.
pub(crate) fn toml_syntax_error(file: &Path) -> Option<ConfigError> {
    let text = std::fs::read_to_string(file).ok()?;
    toml_syntax_error_in(file, &text)
}

/// As [`toml_syntax_error`], for text already read from `file`.
pub(crate) fn toml_syntax_error_in(file: &Path, text: &str) -> Option<ConfigError> {
    let e = toml::from_str::<toml::Table>(text).err()?;
    let loc = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("{}:{line}:{col}", file.display())
        }
        None => file.display().to_string(),
    };
    Some(ConfigError::new(
        ErrorKind::Syntax,
        loc,
        format!("invalid TOML: {}", e.message()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths() {
        assert_eq!(key_path(&["smc", "0", "url"]), "smc[0].url");
        assert_eq!(
            key_path(&["smc", "1", "group_by", "CONNECTIONS", "2"]),
            "smc[1].group_by.CONNECTIONS[2]"
        );
        assert_eq!(key_path(&["listen_address"]), "listen_address");
    }

    #[test]
    fn message_is_one_line() {
        let e = ConfigError::invalid("a", "x\ny\r\n z");
        assert_eq!(e.to_string(), "a: x y z");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("engnes", &["name", "engines"]),
            "unknown key; did you mean `engines`?"
        );
        assert_eq!(suggest("zzz", &["a", "b"]), "unknown key; known keys: a, b");
    }
}
