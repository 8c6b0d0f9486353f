//! `[[sps]]` tables: One Identity Safeguard for Privileged Sessions
//! appliances polled over REST (issue 14, `docs/sps-api.md` §4).
//!
//! Validation has the quality of `[[smc]]`: the first problem wins, one line
//! `sps[i].key: reason`, and the password is never in an error or `Debug`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::value::magic::RelativePathBuf;
use serde::Deserialize;

use super::Secret;
use super::error::{ConfigError, ErrorKind};
use super::raw::DurationText;

type Result<T> = std::result::Result<T, ConfigError>;

pub const DEFAULT_SPS_LOGIN_METHOD: &str = "local";
pub const DEFAULT_SPS_POLL_INTERVAL: &str = "60s";
pub const DEFAULT_SPS_LOOKBACK: &str = "5m";
pub const DEFAULT_SPS_OVERLAP: &str = "2m";
pub const DEFAULT_SPS_REQUEST_TIMEOUT: &str = "15s";
pub const DEFAULT_SPS_MAX_TRACKED_SESSIONS: usize = 10_000;
pub const DEFAULT_SPS_LOGIN_BACKOFF_INITIAL: &str = "1m";
pub const DEFAULT_SPS_LOGIN_BACKOFF_MAX: &str = "30m";
/// `poll_interval` below this is refused (the issue: "down to 1s for tests").
pub const MIN_SPS_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// `login_backoff_initial` below this is refused: a wrong password must not
/// lock the account.
pub const MIN_SPS_LOGIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest accepted `username` / `login_method` (bytes).
pub const MAX_SPS_NAME_BYTES: usize = 256;

/// One `[[sps]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSps {
    pub name: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<RelativePathBuf>,
    pub password_env: Option<String>,
    pub login_method: Option<String>,
    pub ca_file: Option<RelativePathBuf>,
    pub insecure_skip_verify: Option<bool>,
    pub poll_interval: Option<DurationText>,
    pub lookback: Option<DurationText>,
    pub overlap: Option<DurationText>,
    pub request_timeout: Option<DurationText>,
    pub state_file: Option<RelativePathBuf>,
    pub max_tracked_sessions: Option<usize>,
    pub login_backoff_initial: Option<DurationText>,
    pub login_backoff_max: Option<DurationText>,
}

/// One validated `[[sps]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct SpsConfig {
    /// `name`: the `sps` label value. Unique among `[[sps]]`.
    pub name: String,
    /// `url`: `http(s)://host[:port]`, no path.
    pub url: url::Url,
    /// `username`: the (read-only, Search-rights) account.
    pub username: String,
    /// From `password_file` or `password_env`.
    pub password: Secret,
    /// `login_method`: `local` (default) or a configured LDAP/RADIUS backend.
    pub login_method: String,
    /// `ca_file`: extra PEM CA bundle (read at load).
    pub ca_file: Option<PathBuf>,
    /// `insecure_skip_verify`: do not verify the appliance's certificate.
    pub insecure_skip_verify: bool,
    /// `poll_interval`: one cycle this often (±10 % jitter), at least 1s.
    pub poll_interval: Duration,
    /// `lookback`: at the first cycle, sessions started this long before the
    /// appliance's clock count.
    pub lookback: Duration,
    /// `overlap`: each search starts this long before the watermark.
    pub overlap: Duration,
    /// `request_timeout`: per HTTP request (cut to what is left of the cycle).
    pub request_timeout: Duration,
    /// `state_file`: where counters, watermark and tracked sessions persist.
    pub state_file: Option<PathBuf>,
    /// `max_tracked_sessions`: active sessions followed at once.
    pub max_tracked_sessions: usize,
    /// `login_backoff_initial` / `login_backoff_max`: the delay after a
    /// failed login doubles from the first to the second.
    pub login_backoff: (Duration, Duration),
}

impl SpsConfig {
    /// What a client is made of: a change of any of these restarts the poller.
    pub fn same_poller(&self, other: &SpsConfig) -> bool {
        self == other
    }

    /// The whole-cycle deadline: 80 % of the interval, so a cycle ends
    /// before the next is due.
    pub fn cycle_deadline(&self) -> Duration {
        self.poll_interval.mul_f64(0.8)
    }
}

/// Every `[[sps]]` table, names unique.
pub(super) fn sps_configs(
    raw: Option<Vec<RawSps>>,
    warnings: &mut Vec<String>,
) -> Result<Vec<SpsConfig>> {
    let mut out: Vec<SpsConfig> = Vec::new();
    for (i, r) in raw.unwrap_or_default().into_iter().enumerate() {
        let s = sps_config(i, r, warnings)?;
        if let Some(first) = out.iter().position(|o| o.name == s.name) {
            return Err(ConfigError::invalid(
                format!("sps[{i}].name"),
                format!("duplicate SPS name {:?} (also sps[{first}].name)", s.name),
            ));
        }
        out.push(s);
    }
    Ok(out)
}

fn sps_config(i: usize, mut r: RawSps, warnings: &mut Vec<String>) -> Result<SpsConfig> {
    let p = format!("sps[{i}]");
    let k = |key: &str| format!("{p}.{key}");
    let name = bounded(&k("name"), required(&k("name"), r.name.take())?)?;
    let url = sps_url(&k("url"), required(&k("url"), r.url.take())?)?;
    if url.scheme() == "http" {
        warnings.push(format!(
            "{}: plain http: the password and session cookie cross the network unencrypted",
            k("url")
        ));
    }
    let username = bounded(&k("username"), required(&k("username"), r.username.take())?)?;
    let password = password(&p, r.password_file.take(), r.password_env.take(), warnings)?;
    let login_method = match r.login_method.take() {
        None => DEFAULT_SPS_LOGIN_METHOD.to_string(),
        Some(m) => login_method(&k("login_method"), m)?,
    };
    let ca_file = r
        .ca_file
        .take()
        .map(|f| super::validate::ca_file(&k("ca_file"), f))
        .transpose()?;
    let insecure_skip_verify = r.insecure_skip_verify.unwrap_or(false);
    if insecure_skip_verify {
        warnings.push(format!(
            "{}: TLS CERTIFICATE VERIFICATION IS DISABLED for SPS {name:?}; anyone on the network path can impersonate the appliance and capture its password. Use ca_file instead",
            k("insecure_skip_verify")
        ));
    }
    let timing = timing(&k, &r)?;
    let state_file = r
        .state_file
        .map(|f| state_file(&k("state_file"), &f.relative()))
        .transpose()?;
    let max_tracked_sessions = r
        .max_tracked_sessions
        .unwrap_or(DEFAULT_SPS_MAX_TRACKED_SESSIONS);
    if max_tracked_sessions == 0 {
        return Err(ConfigError::invalid(
            k("max_tracked_sessions"),
            "must be greater than 0",
        ));
    }
    Ok(SpsConfig {
        name,
        url,
        username,
        password,
        login_method,
        ca_file,
        insecure_skip_verify,
        poll_interval: timing.0,
        lookback: timing.1,
        overlap: timing.2,
        request_timeout: timing.3,
        state_file,
        max_tracked_sessions,
        login_backoff: timing.4,
    })
}

type Timing = (Duration, Duration, Duration, Duration, (Duration, Duration));

/// The durations of one table, in key order.
fn timing(k: &dyn Fn(&str) -> String, r: &RawSps) -> Result<Timing> {
    let d = |key: &str, v: &Option<DurationText>, default: &str| {
        let v = v.as_ref().map(|t| DurationText(t.0.clone()));
        super::validate::duration(&k(key), v, default)
    };
    let poll_interval = d("poll_interval", &r.poll_interval, DEFAULT_SPS_POLL_INTERVAL)?;
    if poll_interval < MIN_SPS_POLL_INTERVAL {
        return Err(ConfigError::invalid(
            k("poll_interval"),
            format!(
                "{} is too short; at least 1s",
                humantime::format_duration(poll_interval)
            ),
        ));
    }
    let lookback = d("lookback", &r.lookback, DEFAULT_SPS_LOOKBACK)?;
    let overlap = d("overlap", &r.overlap, DEFAULT_SPS_OVERLAP)?;
    let request_timeout = d(
        "request_timeout",
        &r.request_timeout,
        DEFAULT_SPS_REQUEST_TIMEOUT,
    )?;
    let initial = d(
        "login_backoff_initial",
        &r.login_backoff_initial,
        DEFAULT_SPS_LOGIN_BACKOFF_INITIAL,
    )?;
    if initial < MIN_SPS_LOGIN_BACKOFF {
        return Err(ConfigError::invalid(
            k("login_backoff_initial"),
            format!(
                "{} is too short; at least 1s (a retried bad password can lock the account)",
                humantime::format_duration(initial)
            ),
        ));
    }
    let max = d(
        "login_backoff_max",
        &r.login_backoff_max,
        DEFAULT_SPS_LOGIN_BACKOFF_MAX,
    )?;
    if max < initial {
        return Err(ConfigError::invalid(
            k("login_backoff_max"),
            format!(
                "{} is less than {} ({})",
                humantime::format_duration(max),
                k("login_backoff_initial"),
                humantime::format_duration(initial)
            ),
        ));
    }
    Ok((
        poll_interval,
        lookback,
        overlap,
        request_timeout,
        (initial, max),
    ))
}

fn required(key: &str, v: Option<String>) -> Result<String> {
    match v {
        None => Err(ConfigError::new(
            ErrorKind::Missing,
            key,
            "required key is missing",
        )),
        Some(s) if s.trim().is_empty() => Err(ConfigError::invalid(key, "must not be empty")),
        Some(s) => Ok(s),
    }
}

fn bounded(key: &str, s: String) -> Result<String> {
    if s.len() > MAX_SPS_NAME_BYTES {
        return Err(ConfigError::invalid(
            key,
            format!("is {} bytes long; at most {MAX_SPS_NAME_BYTES}", s.len()),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ConfigError::invalid(
            key,
            "must not contain control characters",
        ));
    }
    Ok(s)
}

fn login_method(key: &str, m: String) -> Result<String> {
    let m = bounded(key, required(key, Some(m))?)?;
    if !m
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(ConfigError::invalid(
            key,
            "may hold only letters, digits, '_', '-' and '.' (e.g. \"local\")",
        ));
    }
    Ok(m)
}

fn sps_url(key: &str, text: String) -> Result<url::Url> {
    super::validate::base_url(
        key,
        &text,
        "https://sps.example.com",
        "username and password_file or password_env",
    )
}

fn password(
    p: &str,
    file: Option<RelativePathBuf>,
    env: Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Secret> {
    match (file, env) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            p,
            "password_file and password_env are both set; set exactly one password source",
        )),
        (Some(f), None) => {
            password_from_file(&format!("{p}.password_file"), &f.relative(), warnings)
        }
        (None, Some(var)) => password_from_env(&format!("{p}.password_env"), &var),
        (None, None) => Err(ConfigError::new(
            ErrorKind::Missing,
            p,
            "no password; set one of password_file or password_env",
        )),
    }
}

fn password_from_file(key: &str, path: &Path, warnings: &mut Vec<String>) -> Result<Secret> {
    let io_err = |e: std::io::Error| {
        ConfigError::new(
            ErrorKind::Io,
            key,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    if let Some(w) = super::validate::world_readable(key, path, &file) {
        warnings.push(w);
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(io_err)?;
    let pw = text.trim_end_matches(['\r', '\n']);
    if pw.is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("{} is empty", path.display()),
        ));
    }
    if pw.contains(['\n', '\r']) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "{} has more than one line; it must hold only the password",
                path.display()
            ),
        ));
    }
    Ok(Secret::new(pw))
}

fn password_from_env(key: &str, var: &str) -> Result<Secret> {
    let var = var.trim();
    let v = super::validate::env_value(key, var, "password")?;
    if v.is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("environment variable {var} is empty"),
        ));
    }
    Ok(Secret::new(v))
}

/// `state_file`: its directory must exist (the file itself may not yet).
fn state_file(key: &str, path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        return Err(ConfigError::invalid(
            key,
            format!("{} is a directory", path.display()),
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(ConfigError::new(
            ErrorKind::Io,
            key,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    fn load(toml: &str) -> Result<crate::config::Config, String> {
        let f = Figment::from(crate::config::defaults()).merge(Toml::string(toml));
        crate::config::from_figment(f).map_err(|e| e.to_string())
    }

    /// A password file shared by the tests (same content every time).
    fn pw_file() -> String {
        static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        PATH.get_or_init(|| {
            let p = std::env::temp_dir().join(format!("sps-cfg-pw-{}", std::process::id()));
            std::fs::write(&p, "s3cr3t-pw\n").unwrap();
            p.display().to_string()
        })
        .clone()
    }

    fn sps(extra: &str) -> String {
        format!(
            "[[sps]]\nname = \"pam\"\nurl = \"https://sps.example.com\"\nusername = \"mon\"\npassword_file = {:?}\n{extra}",
            pw_file()
        )
    }

    #[test]
    fn only_sps_is_valid_with_defaults() {
        let c = load(&sps("")).unwrap();
        assert!(c.smc.is_empty());
        let s = &c.sps[0];
        assert_eq!(s.name, "pam");
        assert_eq!(s.login_method, "local");
        assert_eq!(s.poll_interval, std::time::Duration::from_secs(60));
        assert_eq!(s.lookback, std::time::Duration::from_secs(300));
        assert_eq!(s.overlap, std::time::Duration::from_secs(120));
        assert_eq!(s.request_timeout, std::time::Duration::from_secs(15));
        assert_eq!(s.max_tracked_sessions, 10_000);
        assert_eq!(
            s.login_backoff,
            (
                std::time::Duration::from_secs(60),
                std::time::Duration::from_secs(1800)
            )
        );
        assert_eq!(s.password.expose(), "s3cr3t-pw");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert_eq!(s.cycle_deadline(), std::time::Duration::from_secs(48));
    }

    #[test]
    fn neither_smc_nor_sps() {
        assert_eq!(
            load("listen_address = \":9791\"\n").unwrap_err(),
            "smc: at least one [[smc]] or [[sps]] table is required"
        );
    }

    #[test]
    fn exact_errors() {
        let cases: &[(&str, String, &str)] = &[
            (
                "name missing",
                "[[sps]]\nurl = \"https://a\"\n".into(),
                "sps[0].name: required key is missing",
            ),
            (
                "unknown key with a hint",
                sps("pasword_file = \"X\""),
                "sps[0].pasword_file: unknown key; did you mean `password_file`?",
            ),
            (
                "inline password is an unknown key and not echoed",
                sps("password = \"hunter2\""),
                "sps[0].password: unknown key; known keys: name, url, username, password_file, password_env, login_method, ca_file, insecure_skip_verify, poll_interval, lookback, overlap, request_timeout, state_file, max_tracked_sessions, login_backoff_initial, login_backoff_max",
            ),
            (
                "url scheme",
                sps("").replace("https://sps.example.com", "ftp://sps"),
                "sps[0].url: scheme must be http or https, not \"ftp\"",
            ),
            (
                "url userinfo",
                sps("").replace("https://sps.example.com", "https://u:hunter2@sps"),
                "sps[0].url: must not contain a user name or password; use username and password_file or password_env",
            ),
            (
                "url path",
                sps("").replace("https://sps.example.com", "https://sps/api"),
                "sps[0].url: must not have a path (found \"/api\"); give only scheme, host and port, e.g. \"https://sps.example.com\"",
            ),
            (
                "both password sources",
                sps("password_env = \"X\""),
                "sps[0]: password_file and password_env are both set; set exactly one password source",
            ),
            (
                "no password",
                sps("").replace(&format!("password_file = {:?}\n", pw_file()), ""),
                "sps[0]: no password; set one of password_file or password_env",
            ),
            (
                "env not set",
                sps("").replace(
                    &format!("password_file = {:?}", pw_file()),
                    "password_env = \"SPS_TEST_PW_UNSET_XYZ\"",
                ),
                "sps[0].password_env: environment variable SPS_TEST_PW_UNSET_XYZ is not set",
            ),
            (
                "env value pasted instead of name",
                sps("").replace(
                    &format!("password_file = {:?}", pw_file()),
                    "password_env = \"hunter2!\"",
                ),
                "sps[0].password_env: is not an environment variable name (letters, digits and _, not starting with a digit); give the name of the variable that holds the password, not the password",
            ),
            (
                "poll interval too short",
                sps("poll_interval = \"500ms\""),
                "sps[0].poll_interval: 500ms is too short; at least 1s",
            ),
            (
                "bad duration",
                sps("lookback = \"5 parsecs\""),
                "sps[0].lookback: invalid duration \"5 parsecs\": unknown time unit \"parsecs\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations) (examples: \"500ms\", \"10s\", \"1m\")",
            ),
            (
                "login backoff floor",
                sps("login_backoff_initial = \"100ms\""),
                "sps[0].login_backoff_initial: 100ms is too short; at least 1s (a retried bad password can lock the account)",
            ),
            (
                "login backoff order",
                sps("login_backoff_initial = \"2m\"\nlogin_backoff_max = \"1m\""),
                "sps[0].login_backoff_max: 1m is less than sps[0].login_backoff_initial (2m)",
            ),
            (
                "max tracked zero",
                sps("max_tracked_sessions = 0"),
                "sps[0].max_tracked_sessions: must be greater than 0",
            ),
            (
                "login method",
                sps("login_method = \"a b\""),
                "sps[0].login_method: may hold only letters, digits, '_', '-' and '.' (e.g. \"local\")",
            ),
            (
                "state file dir",
                sps("state_file = \"/nonexistent-dir-xyz/state.json\""),
                "sps[0].state_file: directory /nonexistent-dir-xyz does not exist",
            ),
            (
                "duplicate name",
                format!("{}{}", sps(""), sps("")),
                "sps[1].name: duplicate SPS name \"pam\" (also sps[0].name)",
            ),
            (
                "table instead of array",
                "[sps]\nname = \"pam\"\n".into(),
                "sps: expected an array of [[sps]] tables, found table",
            ),
        ];
        for (what, toml, want) in cases {
            let got = load(toml).unwrap_err();
            assert_eq!(&got, want, "{what}");
            assert!(!got.contains("hunter2"), "{what}");
            assert!(!got.contains('\n'), "{what}");
        }
    }

    #[test]
    fn password_file_and_warnings() {
        let dir = std::env::temp_dir().join(format!("sps-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("pw");
        std::fs::write(&pw, "p4ss\n").unwrap();
        let toml = format!(
            "[[sps]]\nname = \"pam\"\nurl = \"http://127.0.0.1:9\"\nusername = \"mon\"\npassword_file = {:?}\ninsecure_skip_verify = true\nstate_file = {:?}\n",
            pw.display().to_string(),
            dir.join("state.json").display().to_string()
        );
        let c = load(&toml).unwrap();
        assert_eq!(c.sps[0].password.expose(), "p4ss");
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with("sps[0].url: plain http"))
        );
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with("sps[0].insecure_skip_verify: TLS CERTIFICATE"))
        );
        std::fs::write(&pw, "a\nb\n").unwrap();
        assert_eq!(
            load(&toml).unwrap_err(),
            format!(
                "sps[0].password_file: {} has more than one line; it must hold only the password",
                pw.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
