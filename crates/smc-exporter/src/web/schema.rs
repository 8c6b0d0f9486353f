//! The web config file's schema, exporter-toolkit's verbatim
//! (`tls_server_config`, `http_server_config`, `basic_auth_users`), read
//! from a YAML tree key by key so that every error names its key path and
//! no value of a secret key is ever echoed. Unknown keys are refused, as
//! exporter-toolkit's strict YAML does. Pure: no file is read here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::error::KeyError;

/// Where a PEM comes from: a file (relative paths are relative to the web
/// config file's directory) or inline text (`cert`, `key`, `client_ca`).
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

/// Inline text may be a private key: never shown.
impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pem::File(p) => f.debug_tuple("File").field(p).finish(),
            Pem::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

/// `client_auth_type`, Go's `tls.ClientAuthType` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// A certificate is checked against the client CA.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }

    /// A client without a certificate is refused.
    pub fn mandatory(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// A TLS protocol version rustls implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// A cipher suite named in `cipher_suites` (Go's names, which are the IANA
/// names rustls uses too).
pub type SuiteName = &'static str;

/// A curve named in `curve_preferences`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    X25519,
}

/// `tls_server_config`, when it configures TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    pub cipher_suites: Vec<SuiteName>,
    pub curves: Vec<Curve>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    pub prefer_server_cipher_suites: bool,
    pub client_allowed_sans: Option<Vec<String>>,
}

/// The whole file.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// `None`: plain HTTP (no TLS key set, as exporter-toolkit's `IsEnabled`).
    pub tls: Option<TlsSettings>,
    /// `http_server_config.headers`, validated.
    pub headers: Vec<(String, String)>,
    /// `http_server_config.http2` (default true); this server speaks
    /// HTTP/1.1 either way.
    pub http2: bool,
    /// `basic_auth_users`: user → bcrypt hash (each checked to be one).
    pub users: BTreeMap<String, String>,
}

/// The hashes are secrets: only the user names are shown.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("tls", &self.tls)
            .field("headers", &self.headers)
            .field("http2", &self.http2)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

type R<T> = Result<T, KeyError>;

const TOP: &[&str] = &[
    "tls_server_config",
    "http_server_config",
    "basic_auth_users",
    "rate_limit",
];
const TLS: &[&str] = &[
    "cert",
    "key",
    "client_ca",
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "cipher_suites",
    "curve_preferences",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
];
const HTTP: &[&str] = &["http2", "headers"];

const CLIENT_AUTH: &[(&str, ClientAuth)] = &[
    ("NoClientCert", ClientAuth::NoClientCert),
    ("RequestClientCert", ClientAuth::RequestClientCert),
    ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
    // exporter-toolkit's old name, still accepted there.
    ("RequireClientCert", ClientAuth::RequireAnyClientCert),
    (
        "VerifyClientCertIfGiven",
        ClientAuth::VerifyClientCertIfGiven,
    ),
    (
        "RequireAndVerifyClientCert",
        ClientAuth::RequireAndVerifyClientCert,
    ),
];

/// The suites rustls (ring) has, by their Go / IANA names.
pub const SUITES: &[SuiteName] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// Suites Go's `tls.CipherSuites()` offers that rustls does not implement
/// (CBC and static-RSA key exchange).
const GO_ONLY_SUITES: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

/// The headers exporter-toolkit lets a web config set, with the values it
/// allows (`None`: any).
const HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

/// Parse the file's text. `dir`: the file's directory (relative paths).
pub(crate) fn parse(text: &[u8], dir: &Path) -> R<Settings> {
    let root: Value = serde_yaml_ng::from_slice(text)
        .map_err(|e| KeyError::new("", format!("not valid YAML: {}", yaml_reason(&e))))?;
    let mut s = Settings {
        http2: true,
        ..Settings::default()
    };
    let Some(top) = mapping(&root, "")? else {
        return Ok(s); // an empty file: plain HTTP, no auth
    };
    let top = fields(top, "", TOP)?;
    if top.contains_key("rate_limit") {
        return Err(KeyError::new(
            "rate_limit",
            "not supported by smc-exporter (use --web.max-requests)",
        ));
    }
    if let Some(v) = top.get("tls_server_config") {
        s.tls = tls(v, dir)?;
    }
    if let Some(v) = top.get("http_server_config") {
        if let Some(m) = mapping(v, "http_server_config")? {
            let m = fields(m, "http_server_config", HTTP)?;
            if let Some(b) = opt(&m, "http2") {
                s.http2 = boolean(b, "http_server_config.http2")?;
            }
            if let Some(h) = opt(&m, "headers") {
                s.headers = headers(h)?;
            }
        }
    }
    if let Some(v) = top.get("basic_auth_users") {
        s.users = users(v)?;
    }
    Ok(s)
}

/// The parser's reason without anything quoted from the file (a line could
/// hold a password hash or a key).
fn yaml_reason(e: &serde_yaml_ng::Error) -> String {
    match e.location() {
        Some(l) => format!("syntax error at line {} column {}", l.line(), l.column()),
        None => "syntax error".into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A YAML type in words, never the value.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "an empty value",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn wrong(path: &str, expected: &str, v: &Value) -> KeyError {
    KeyError::new(path, format!("expected {expected}, found {}", kind(v)))
}

/// A mapping, or `None` for an empty value.
fn mapping<'a>(v: &'a Value, path: &str) -> R<Option<&'a Mapping>> {
    match v {
        Value::Null => Ok(None),
        Value::Mapping(m) => Ok(Some(m)),
        v => Err(wrong(
            if path.is_empty() { "" } else { path },
            "a mapping",
            v,
        )),
    }
}

/// The keys of `m` (each known), empty values left out.
fn fields<'a>(m: &'a Mapping, path: &str, known: &[&str]) -> R<BTreeMap<String, &'a Value>> {
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let Value::String(k) = k else {
            return Err(wrong(path, "string keys", k));
        };
        if !known.contains(&k.as_str()) {
            return Err(KeyError::new(join(path, k), unknown_key(k, known)));
        }
        if !v.is_null() {
            out.insert(k.clone(), v);
        }
    }
    Ok(out)
}

fn unknown_key(k: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|e| (strsim::damerau_levenshtein(k, e), *e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 4))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, e)) => format!("unknown key; did you mean `{e}`?"),
        None => format!("unknown key; known keys: {}", known.join(", ")),
    }
}

fn opt<'a>(m: &BTreeMap<String, &'a Value>, k: &str) -> Option<&'a Value> {
    m.get(k).copied()
}

fn string(v: &Value, path: &str) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        v => Err(wrong(path, "a string", v)),
    }
}

fn boolean(v: &Value, path: &str) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        v => Err(wrong(path, "true or false", v)),
    }
}

fn strings(v: &Value, path: &str) -> R<Vec<String>> {
    let Value::Sequence(items) = v else {
        return Err(wrong(path, "a list of strings", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &format!("{path}[{i}]")))
        .collect()
}

fn one_of<T: Copy>(v: &str, path: &str, table: &[(&str, T)], expected: &str) -> R<T> {
    table
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| KeyError::new(path, format!("unknown value {v:?} (expected {expected})")))
}

/// `cert` / `cert_file` (and `key`, `client_ca`): the file wins, as in
/// exporter-toolkit; "" is unset.
fn pem(m: &BTreeMap<String, &Value>, inline: &str, file: &str, dir: &Path) -> R<Option<Pem>> {
    let get = |k: &str| -> R<Option<String>> {
        opt(m, k)
            .map(|v| string(v, &join("tls_server_config", k)))
            .transpose()
            .map(|s| s.filter(|s| !s.is_empty()))
    };
    if let Some(f) = get(file)? {
        return Ok(Some(Pem::File(dir.join(f))));
    }
    Ok(get(inline)?.map(Pem::Inline))
}

fn tls(v: &Value, dir: &Path) -> R<Option<TlsSettings>> {
    const P: &str = "tls_server_config";
    let Some(m) = mapping(v, P)? else {
        return Ok(None);
    };
    let m = fields(m, P, TLS)?;
    let cert = pem(&m, "cert", "cert_file", dir)?;
    let key = pem(&m, "key", "key_file", dir)?;
    let client_ca = pem(&m, "client_ca", "client_ca_file", dir)?;
    let auth_name = opt(&m, "client_auth_type")
        .map(|v| string(v, &join(P, "client_auth_type")))
        .transpose()?
        .filter(|s| !s.is_empty());
    // exporter-toolkit's IsEnabled: any of these turns TLS on.
    if cert.is_none() && key.is_none() && client_ca.is_none() && auth_name.is_none() {
        return Ok(None);
    }
    let cert = cert.ok_or_else(|| KeyError::new(P, "missing one of cert or cert_file"))?;
    let key = key.ok_or_else(|| KeyError::new(P, "missing one of key or key_file"))?;
    let client_auth = match auth_name {
        None => ClientAuth::NoClientCert,
        Some(a) => one_of(
            &a,
            &join(P, "client_auth_type"),
            CLIENT_AUTH,
            "NoClientCert, RequestClientCert, RequireAnyClientCert, \
             VerifyClientCertIfGiven or RequireAndVerifyClientCert",
        )?,
    };
    let t = TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        cipher_suites: suites(&m)?,
        curves: curves(&m)?,
        min_version: version(&m, "min_version")?.unwrap_or(TlsVersion::Tls12),
        max_version: version(&m, "max_version")?.unwrap_or(TlsVersion::Tls13),
        prefer_server_cipher_suites: opt(&m, "prefer_server_cipher_suites")
            .map(|v| boolean(v, &join(P, "prefer_server_cipher_suites")))
            .transpose()?
            .unwrap_or(true),
        client_allowed_sans: opt(&m, "client_allowed_sans")
            .map(|v| strings(v, &join(P, "client_allowed_sans")))
            .transpose()?,
    };
    check_tls(&t)?;
    Ok(Some(t))
}

/// The rules between keys (exporter-toolkit's, and what rustls needs).
fn check_tls(t: &TlsSettings) -> R<()> {
    const P: &str = "tls_server_config";
    if t.min_version > t.max_version {
        return Err(KeyError::new(
            P,
            "min_version TLS13 is above max_version TLS12",
        ));
    }
    if t.client_ca.is_some() && t.client_auth == ClientAuth::NoClientCert {
        return Err(KeyError::new(
            join(P, "client_ca_file"),
            "client CA's have been configured without a Client Auth Policy (set client_auth_type)",
        ));
    }
    if t.client_auth.verifies() && t.client_ca.is_none() {
        return Err(KeyError::new(
            join(P, "client_auth_type"),
            "verifying client certificates needs client_ca_file or client_ca",
        ));
    }
    if t.client_allowed_sans.is_some() && !t.client_auth.mandatory() {
        return Err(KeyError::new(
            join(P, "client_allowed_sans"),
            "requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
        ));
    }
    Ok(())
}

fn version(m: &BTreeMap<String, &Value>, k: &str) -> R<Option<TlsVersion>> {
    let path = join("tls_server_config", k);
    let Some(v) = opt(m, k) else { return Ok(None) };
    let v = string(v, &path)?;
    match v.as_str() {
        "TLS12" => Ok(Some(TlsVersion::Tls12)),
        "TLS13" => Ok(Some(TlsVersion::Tls13)),
        "TLS10" | "TLS11" => Err(KeyError::new(
            path,
            format!(
                "{v} is not supported: rustls implements TLS 1.2 and 1.3 only \
                 (TLS 1.0 and 1.1 are deprecated, RFC 8996)"
            ),
        )),
        _ => Err(KeyError::new(
            path,
            format!("unknown value {v:?} (expected TLS12 or TLS13)"),
        )),
    }
}

fn suites(m: &BTreeMap<String, &Value>) -> R<Vec<SuiteName>> {
    const P: &str = "tls_server_config.cipher_suites";
    let Some(v) = opt(m, "cipher_suites") else {
        return Ok(Vec::new());
    };
    let names = strings(v, P)?;
    let mut out = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let path = format!("{P}[{i}]");
        match SUITES.iter().find(|s| **s == n.as_str()) {
            Some(s) => out.push(*s),
            None if GO_ONLY_SUITES.contains(&n.as_str()) => {
                return Err(KeyError::new(
                    path,
                    format!("{n} is not supported by rustls (no CBC or RSA key exchange suites)"),
                ));
            }
            None => {
                return Err(KeyError::new(
                    path,
                    format!(
                        "unknown cipher suite {n:?} (expected one of {})",
                        SUITES.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn curves(m: &BTreeMap<String, &Value>) -> R<Vec<Curve>> {
    const P: &str = "tls_server_config.curve_preferences";
    let Some(v) = opt(m, "curve_preferences") else {
        return Ok(Vec::new());
    };
    let names = strings(v, P)?;
    let mut out = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let path = format!("{P}[{i}]");
        out.push(match n.as_str() {
            "CurveP256" => Curve::P256,
            "CurveP384" => Curve::P384,
            "X25519" => Curve::X25519,
            "CurveP521" => {
                return Err(KeyError::new(
                    path,
                    "CurveP521 is not supported by rustls (expected CurveP256, CurveP384 or X25519)",
                ));
            }
            _ => {
                return Err(KeyError::new(
                    path,
                    format!("unknown curve {n:?} (expected CurveP256, CurveP384 or X25519)"),
                ));
            }
        });
    }
    Ok(out)
}

fn headers(v: &Value) -> R<Vec<(String, String)>> {
    const P: &str = "http_server_config.headers";
    let Some(m) = mapping(v, P)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (k, v) in m {
        let Value::String(name) = k else {
            return Err(wrong(P, "string keys", k));
        };
        let path = join(P, name);
        let Some((_, allowed)) = HEADERS.iter().find(|(h, _)| *h == name.as_str()) else {
            let names: Vec<&str> = HEADERS.iter().map(|(h, _)| *h).collect();
            return Err(KeyError::new(
                path,
                format!(
                    "this header can not be configured (allowed: {})",
                    names.join(", ")
                ),
            ));
        };
        let value = string(v, &path)?;
        if let Some(allowed) = allowed {
            if !allowed.contains(&value.as_str()) {
                return Err(KeyError::new(
                    path,
                    format!(
                        "invalid value {value:?} (expected {})",
                        allowed.join(" or ")
                    ),
                ));
            }
        }
        if http::HeaderValue::from_str(&value).is_err() {
            return Err(KeyError::new(path, "not a valid header value"));
        }
        out.push((name.clone(), value));
    }
    Ok(out)
}

fn users(v: &Value) -> R<BTreeMap<String, String>> {
    const P: &str = "basic_auth_users";
    let Some(m) = mapping(v, P)? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let Value::String(user) = k else {
            return Err(wrong(P, "user names (strings) as keys", k));
        };
        let path = join(P, user);
        if user.contains(':') {
            return Err(KeyError::new(path, "a user name cannot contain ':'"));
        }
        let hash = string(v, &path)?;
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(KeyError::new(path, "not a bcrypt hash"));
        }
        out.insert(user.clone(), hash);
    }
    Ok(out)
}
