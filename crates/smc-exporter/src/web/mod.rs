//! The web config file (`--web.config.file`): exporter-toolkit's YAML
//! schema, for TLS, basic authentication and response headers of the HTTP
//! server.
//!
//! As exporter-toolkit does, the file is read again on every request and
//! every TLS handshake (and so are the certificate, key and client CA files
//! it names): a changed file takes effect without a restart. What was built
//! is kept while the bytes stay the same. A file that turns bad while the
//! exporter runs fails requests (500) and handshakes, with one error line per
//! change, and never lets a request through unauthenticated. Whether the
//! listener speaks TLS is decided at start (a file that drops TLS later
//! fails handshakes; one that adds it needs a restart), as exporter-toolkit.

mod auth;
mod error;
pub mod schema;
mod tls;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use auth::{MAX_CONCURRENT_VERIFY, Users};
pub use error::WebConfigError;
use schema::{Pem, Settings};

/// Largest web config, certificate, key or CA file read.
pub const MAX_FILE: u64 = 1 << 20;

/// What one version of the file means, built.
#[derive(Debug)]
pub struct Active {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `None`: no authentication.
    pub users: Option<Arc<Users>>,
    /// Added to every response.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// The file, followed.
#[derive(Debug)]
pub struct LiveWebConfig {
    path: PathBuf,
    /// The listener speaks TLS (decided at start).
    tls_mode: bool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// xxh3 of the file's bytes: the parsed settings are for these.
    text_digest: u128,
    settings: Result<Settings, WebConfigError>,
    /// xxh3 of the file and every file it names: `current` is for these.
    digest: u128,
    current: Result<Arc<Active>, WebConfigError>,
}

impl LiveWebConfig {
    /// Read and check the file; `Err` is the one line to print (exit 2).
    pub fn open(path: &Path) -> Result<Arc<LiveWebConfig>, WebConfigError> {
        let (text_digest, settings) = read_settings(path);
        let settings = settings?;
        let (digest, loaded) = load(path, text_digest, &settings);
        let current = build(path, &settings, &loaded?)?;
        Ok(Arc::new(LiveWebConfig {
            path: path.to_path_buf(),
            tls_mode: current.tls.is_some(),
            state: Mutex::new(State {
                text_digest,
                settings: Ok(settings),
                digest,
                current: Ok(current),
            }),
        }))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener speaks TLS.
    pub fn tls_mode(&self) -> bool {
        self.tls_mode
    }

    /// The file as it is now: re-read, rebuilt if anything changed. `Err`:
    /// it is bad now (already logged once for this content).
    pub fn current(&self) -> Result<Arc<Active>, WebConfigError> {
        let Ok(mut st) = self.state.lock() else {
            return Err(WebConfigError::new(&self.path, "", "internal error"));
        };
        let (text_digest, settings) = read_settings(&self.path);
        if text_digest != st.text_digest {
            st.text_digest = text_digest;
            st.settings = settings;
        }
        let (digest, loaded) = match &st.settings {
            Ok(s) => load(&self.path, text_digest, s),
            Err(e) => (text_digest, Err(e.clone())),
        };
        if digest != st.digest {
            st.digest = digest;
            st.current = match (&st.settings, loaded) {
                (Ok(s), Ok(l)) => build(&self.path, s, &l).and_then(|a| self.check_mode(a)),
                (_, Err(e)) => Err(e),
                (Err(e), _) => Err(e.clone()),
            };
            match &st.current {
                Ok(_) => tracing::info!(file = %self.path.display(), "web config loaded"),
                Err(e) => tracing::error!(
                    error = %e,
                    "web config is invalid; requests fail until it is fixed"
                ),
            }
        }
        st.current.clone()
    }

    fn check_mode(&self, a: Arc<Active>) -> Result<Arc<Active>, WebConfigError> {
        match (self.tls_mode, a.tls.is_some()) {
            (true, false) => Err(WebConfigError::new(
                &self.path,
                "tls_server_config",
                "TLS was configured at start and cannot be turned off without a restart",
            )),
            (false, true) => {
                tracing::warn!(
                    file = %self.path.display(),
                    "web config now configures TLS: restart the exporter to serve TLS"
                );
                Ok(a)
            }
            _ => Ok(a),
        }
    }
}

/// Check a web config file (`--config.check`).
pub fn check(path: &Path) -> Result<(), WebConfigError> {
    LiveWebConfig::open(path).map(|_| ())
}

/// Read a file of at most [`MAX_FILE`] bytes.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE} bytes"
        )));
    }
    Ok(buf)
}

fn digest_err(e: &WebConfigError) -> u128 {
    xxhash_rust::xxh3::xxh3_128(e.to_string().as_bytes())
}

fn read_settings(path: &Path) -> (u128, Result<Settings, WebConfigError>) {
    match read_bounded(path) {
        Ok(text) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let s = schema::parse(&text, dir).map_err(|e| e.in_file(path));
            (xxhash_rust::xxh3::xxh3_128(&text), s)
        }
        Err(e) => {
            let e = WebConfigError::new(path, "", format!("cannot read it: {e}"));
            (digest_err(&e), Err(e))
        }
    }
}

/// The PEM texts the settings name, read now.
#[derive(Default)]
struct Loaded {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

/// Read the files `s` names; the digest covers the file's text (`seed`)
/// and them.
fn load(path: &Path, seed: u128, s: &Settings) -> (u128, Result<Loaded, WebConfigError>) {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&seed.to_le_bytes());
    let result = load_into(path, s, &mut h);
    if let Err(e) = &result {
        h.update(e.to_string().as_bytes());
    }
    (h.digest128(), result)
}

fn load_into(
    path: &Path,
    s: &Settings,
    h: &mut xxhash_rust::xxh3::Xxh3,
) -> Result<Loaded, WebConfigError> {
    let Some(t) = &s.tls else {
        return Ok(Loaded::default());
    };
    let mut read = |p: &Pem, key: &str| -> Result<Vec<u8>, WebConfigError> {
        let bytes = match p {
            Pem::Inline(text) => text.clone().into_bytes(),
            Pem::File(f) => read_bounded(f).map_err(|e| {
                WebConfigError::new(
                    path,
                    format!("tls_server_config.{key}_file"),
                    format!("{}: {e}", f.display()),
                )
            })?,
        };
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
        Ok(bytes)
    };
    Ok(Loaded {
        cert: read(&t.cert, "cert")?,
        key: read(&t.key, "key")?,
        client_ca: t
            .client_ca
            .as_ref()
            .map(|c| read(c, "client_ca"))
            .transpose()?,
    })
}

/// Build what `s` and the files it names mean.
fn build(path: &Path, s: &Settings, l: &Loaded) -> Result<Arc<Active>, WebConfigError> {
    let tls = match &s.tls {
        None => None,
        Some(t) => {
            let m = tls::Material {
                cert: &l.cert,
                key: &l.key,
                client_ca: l.client_ca.as_deref(),
            };
            Some(tls::server_config(t, &m).map_err(|e| e.in_file(path))?)
        }
    };
    let headers = s
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                http::HeaderValue::from_str(v).ok()?,
            ))
        })
        .collect();
    Ok(Arc::new(Active {
        tls,
        users: Users::new(s.users.clone()),
        headers,
    }))
}
