//! From [`RawConfig`] to [`Config`]: defaults, checks, key resolution, warnings.
//!
//! The first problem found wins; checks run in file order (top-level keys,
//! then each `[[smc]]` key by key) so the message points at the first thing
//! an operator would read.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use figment::value::magic::RelativePathBuf;

use super::error::{ConfigError, ErrorKind};
use super::raw::*;
use super::{Config, Secret, SmcConfig, SubscriptionConfig};
use crate::labels::{GroupField, StateFamily};
use smc_protocol::{Definition, SUPPORTED_API_VERSIONS, api_version_supported, parse_api_version};

type Result<T> = std::result::Result<T, ConfigError>;

pub(crate) fn validate(raw: RawConfig) -> Result<Config> {
    let mut warnings = Vec::new();

    let listen_address = listen_address(raw.listen_address.as_deref())?;

    let max_series_per_family = raw
        .max_series_per_family
        .unwrap_or(DEFAULT_MAX_SERIES_PER_FAMILY);
    if max_series_per_family == 0 {
        return Err(ConfigError::invalid(
            "max_series_per_family",
            "must be greater than 0",
        ));
    }

    let subscription = subscription(raw.subscription)?;

    let raw_smcs = raw.smc.unwrap_or_default();
    let no_sps = raw.sps.as_ref().is_none_or(Vec::is_empty);
    if raw_smcs.is_empty() && no_sps {
        return Err(ConfigError::new(
            ErrorKind::Missing,
            "smc",
            "at least one [[smc]] or [[sps]] table is required",
        ));
    }
    let mut smc = Vec::with_capacity(raw_smcs.len());
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, r) in raw_smcs.into_iter().enumerate() {
        let s = smc_config(i, r, &mut warnings)?;
        if let Some(first) = names.insert(s.name.clone(), i) {
            return Err(ConfigError::invalid(
                format!("smc[{i}].name"),
                format!("duplicate SMC name {:?} (also smc[{first}].name)", s.name),
            ));
        }
        smc.push(s);
    }
    let sps = super::sps::sps_configs(raw.sps, &mut warnings)?;

    Ok(Config {
        listen_address,
        max_series_per_family,
        subscription,
        smc,
        sps,
        warnings,
    })
}

/// `listen_address`: the forms of `--web.listen-address` (like
/// node_exporter, `:9791` means every interface, IPv4 and IPv6).
fn listen_address(s: Option<&str>) -> Result<crate::http::listen::ListenAddress> {
    let s = s.unwrap_or(DEFAULT_LISTEN_ADDRESS).trim();
    crate::http::listen::parse(s).map_err(|why| ConfigError::invalid("listen_address", why))
}

pub(super) fn duration(key: &str, v: Option<DurationText>, default: &str) -> Result<Duration> {
    let d = duration_or_zero(key, v, default)?;
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "must be greater than 0"));
    }
    Ok(d)
}

/// A duration where `0s` is allowed (it means "off" for the caller).
fn duration_or_zero(key: &str, v: Option<DurationText>, default: &str) -> Result<Duration> {
    let text = v.map(|d| d.0).unwrap_or_else(|| default.to_string());
    humantime::parse_duration(text.trim()).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("invalid duration {text:?}: {e} (examples: \"500ms\", \"10s\", \"1m\")"),
        )
    })
}

fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

fn subscription(r: RawSubscription) -> Result<SubscriptionConfig> {
    // In key order: the first bad key is the one reported.
    let connect_timeout = duration(
        "subscription.connect_timeout",
        r.connect_timeout,
        DEFAULT_CONNECT_TIMEOUT,
    )?;
    let (backoff_initial, backoff_max) = backoff(r.backoff_initial, r.backoff_max)?;
    let snapshot_settle = duration(
        "subscription.snapshot_settle",
        r.snapshot_settle,
        DEFAULT_SNAPSHOT_SETTLE,
    )?;
    let max_frame_bytes = r.max_frame_bytes.unwrap_or(DEFAULT_MAX_FRAME_BYTES);
    if max_frame_bytes == 0 {
        return Err(ConfigError::invalid(
            "subscription.max_frame_bytes",
            "must be greater than 0",
        ));
    }
    let (ping_interval, pong_timeout) = ping(r.ping_interval, r.pong_timeout)?;
    let silence_limit = silence_limit(r.silence_limit)?;
    let healthy_reset = duration(
        "subscription.healthy_reset",
        r.healthy_reset,
        DEFAULT_HEALTHY_RESET,
    )?;
    let staleness = duration_or_zero(
        "subscription.state_max_staleness",
        r.state_max_staleness,
        DEFAULT_STATE_MAX_STALENESS,
    )?;
    Ok(SubscriptionConfig {
        connect_timeout,
        backoff_initial,
        backoff_max,
        snapshot_settle,
        max_frame_bytes,
        ping_interval,
        pong_timeout,
        silence_limit,
        healthy_reset,
        state_max_staleness: (!staleness.is_zero()).then_some(staleness),
    })
}

/// `backoff_initial` and `backoff_max`, the second not below the first.
fn backoff(
    initial: Option<DurationText>,
    max: Option<DurationText>,
) -> Result<(Duration, Duration)> {
    let initial = duration(
        "subscription.backoff_initial",
        initial,
        DEFAULT_BACKOFF_INITIAL,
    )?;
    let max = duration("subscription.backoff_max", max, DEFAULT_BACKOFF_MAX)?;
    if max < initial {
        return Err(ConfigError::invalid(
            "subscription.backoff_max",
            format!(
                "{} is less than subscription.backoff_initial ({})",
                human(max),
                human(initial)
            ),
        ));
    }
    Ok((initial, max))
}

/// `ping_interval` and `pong_timeout`, the second shorter than the first.
fn ping(
    interval: Option<DurationText>,
    pong: Option<DurationText>,
) -> Result<(Duration, Duration)> {
    let interval = duration(
        "subscription.ping_interval",
        interval,
        DEFAULT_PING_INTERVAL,
    )?;
    let pong = duration("subscription.pong_timeout", pong, DEFAULT_PONG_TIMEOUT)?;
    if pong >= interval {
        return Err(ConfigError::invalid(
            "subscription.pong_timeout",
            format!(
                "{} is not less than subscription.ping_interval ({})",
                human(pong),
                human(interval)
            ),
        ));
    }
    Ok((interval, pong))
}

/// `silence_limit`: off with `"0s"`, otherwise above [`MIN_SILENCE_LIMIT`].
fn silence_limit(raw: Option<DurationText>) -> Result<Option<Duration>> {
    let limit = duration_or_zero("subscription.silence_limit", raw, DEFAULT_SILENCE_LIMIT)?;
    if !limit.is_zero() && limit <= MIN_SILENCE_LIMIT {
        return Err(ConfigError::invalid(
            "subscription.silence_limit",
            format!(
                "{} is too short: an SMC may send nothing for about {} on an unchanged table; use more than {} (default {DEFAULT_SILENCE_LIMIT}), or \"0s\" to turn it off",
                human(limit),
                human(MIN_SILENCE_LIMIT),
                human(MIN_SILENCE_LIMIT),
            ),
        ));
    }
    Ok((!limit.is_zero()).then_some(limit))
}

fn required_string(key: String, v: Option<String>) -> Result<String> {
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

fn smc_config(i: usize, r: RawSmc, warnings: &mut Vec<String>) -> Result<SmcConfig> {
    let p = format!("smc[{i}]");
    let k = |key: &str| format!("{p}.{key}");

    let name = required_string(k("name"), r.name)?;
    let url = smc_url_warned(&k("url"), r.url, warnings)?;

    let api_version = r
        .api_version
        .map(|v| api_version(&k("api_version"), &v.0))
        .transpose()?;

    let domain = domain(&k("domain"), r.domain)?;
    let api_key = api_key(&p, r.api_key_file, r.api_key_env, r.api_key, warnings)?;

    let raw_tls = RawTls {
        ca_file: r.ca_file,
        insecure_skip_verify: r.insecure_skip_verify,
        client_cert_file: r.client_cert_file,
        client_key_file: r.client_key_file,
        server_name: r.server_name,
    };
    let tls = smc_tls(&k, &name, &url, raw_tls, warnings)?;

    let raw_sel = (r.engines, r.engines_match, r.engines_exclude);
    let sel = engine_selection(&k, raw_sel, r.discovery_interval, warnings)?;

    let (definitions, alert_domains, group_by) =
        subscriptions_of(&k, r.definitions, r.alert_domains, r.group_by, warnings)?;
    let (filters, notify) = filters_and_notify(
        &k,
        (r.filters, r.notify),
        (&definitions, &alert_domains),
        warnings,
    )?;
    let log_streams = super::log_stream::log_streams(&k("log_stream"), r.log_stream)?;

    Ok(SmcConfig {
        name,
        url,
        api_version,
        domain,
        api_key,
        ca_file: tls.ca_file,
        insecure_skip_verify: tls.insecure_skip_verify,
        client_identity: tls.client_identity,
        server_name: tls.server_name,
        engines: sel.engines,
        engines_match: sel.matching,
        engines_exclude: sel.excluding,
        discovery_interval: sel.interval,
        definitions,
        alert_domains,
        group_by,
        filters,
        notify,
        log_streams,
    })
}

type GroupBy = BTreeMap<Definition, Vec<GroupField>>;

/// `filters` and `notify` of one `[[smc]]`, given what it subscribes.
fn filters_and_notify(
    k: &dyn Fn(&str) -> String,
    (filters, notify): (
        Option<BTreeMap<String, serde_json::Value>>,
        Option<Vec<String>>,
    ),
    (definitions, alert_domains): (&[Definition], &[String]),
    warnings: &mut Vec<String>,
) -> Result<(super::filters::Filters, Vec<String>)> {
    let subscribed = |d: Definition| match d {
        Definition::ActiveAlerts => !alert_domains.is_empty(),
        d => definitions.contains(&d),
    };
    let filters = super::filters::smc_filters(
        &k("filters"),
        filters.unwrap_or_default(),
        subscribed,
        warnings,
    )?;
    let notify = super::notify::notify_types(&k("notify"), notify)?;
    Ok((filters, notify))
}

/// `definitions`, `alert_domains` and `group_by` of one `[[smc]]`.
fn subscriptions_of(
    k: &dyn Fn(&str) -> String,
    definitions: Option<Vec<String>>,
    alert_domains: Option<Vec<String>>,
    group_by: Option<BTreeMap<String, Vec<String>>>,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Definition>, Vec<String>, GroupBy)> {
    let definitions = self::definitions(&k("definitions"), definitions)?;
    let alert_domains = names_list(
        &k("alert_domains"),
        "domain",
        alert_domains.unwrap_or_default(),
    )?;
    let group_by = smc_group_by(
        &k("group_by"),
        group_by.unwrap_or_default(),
        &definitions,
        &alert_domains,
        warnings,
    )?;
    Ok((definitions, alert_domains, group_by))
}

/// The TLS keys of one `[[smc]]`, as read.
struct RawTls {
    ca_file: Option<RelativePathBuf>,
    insecure_skip_verify: Option<bool>,
    client_cert_file: Option<RelativePathBuf>,
    client_key_file: Option<RelativePathBuf>,
    server_name: Option<String>,
}

/// The TLS keys of one `[[smc]]`, checked.
struct SmcTls {
    ca_file: Option<std::path::PathBuf>,
    insecure_skip_verify: bool,
    client_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    server_name: Option<String>,
}

fn smc_tls(
    k: &dyn Fn(&str) -> String,
    name: &str,
    url: &url::Url,
    r: RawTls,
    warnings: &mut Vec<String>,
) -> Result<SmcTls> {
    let ca_file = r.ca_file.map(|f| ca_file(&k("ca_file"), f)).transpose()?;
    let insecure_skip_verify = r.insecure_skip_verify.unwrap_or(false);
    if insecure_skip_verify {
        insecure_warnings(k, name, url, ca_file.is_some(), warnings);
    }
    let client_identity = client_identity(k, r.client_cert_file, r.client_key_file)?;
    let server_name = r
        .server_name
        .map(|n| server_name(&k("server_name"), n))
        .transpose()?;
    Ok(SmcTls {
        ca_file,
        insecure_skip_verify,
        client_identity,
        server_name,
    })
}

/// The SMC administrative domain; absent means "Shared Domain".
fn domain(key: &str, d: Option<String>) -> Result<String> {
    match d {
        None => Ok(DEFAULT_DOMAIN.to_string()),
        Some(d) if d.trim().is_empty() => Err(ConfigError::invalid(
            key,
            "must not be empty (omit it for \"Shared Domain\")",
        )),
        Some(d) => Ok(d),
    }
}

/// `engines`, `engines_match`, `engines_exclude` of one `[[smc]]`.
/// and `discovery_interval`.
struct EngineSelection {
    engines: Vec<String>,
    matching: Option<regex::Regex>,
    excluding: Option<regex::Regex>,
    interval: Duration,
}

type RawSelection = (Option<Vec<String>>, Option<String>, Option<String>);

fn engine_selection(
    k: &dyn Fn(&str) -> String,
    (engines_raw, matching, excluding): RawSelection,
    interval: Option<DurationText>,
    warnings: &mut Vec<String>,
) -> Result<EngineSelection> {
    let engines = engines(&k("engines"), engines_raw)?;
    let matching = engine_regex(&k("engines_match"), matching)?;
    let excluding = engine_regex(&k("engines_exclude"), excluding)?;
    if !engines.is_empty() {
        for (key, set) in [
            ("engines_match", matching.is_some()),
            ("engines_exclude", excluding.is_some()),
        ] {
            if set {
                warnings.push(format!(
                    "{}: has no effect: engines is listed, so the SMC's engines are not discovered",
                    k(key)
                ));
            }
        }
    }
    let interval = duration(
        &k("discovery_interval"),
        interval,
        DEFAULT_DISCOVERY_INTERVAL,
    )?;
    Ok(EngineSelection {
        engines,
        matching,
        excluding,
        interval,
    })
}

/// `url`: required and valid; plain http is warned about.
fn smc_url_warned(key: &str, v: Option<String>, warnings: &mut Vec<String>) -> Result<url::Url> {
    let text = required_string(key.to_string(), v)?;
    let url = smc_url(key, &text)?;
    if url.scheme() == "http" {
        warnings.push(format!(
            "{key}: plain http: the API key and session cookie cross the network unencrypted"
        ));
    }
    Ok(url)
}

/// The engine (or cluster) names. Omitted: discovered from the SMC (an
/// empty list here); given, at least one.
fn engines(key: &str, v: Option<Vec<String>>) -> Result<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(v) => names_list(key, "engine", v),
    }
}

/// `engines_match` / `engines_exclude`: a bounded regex matched against the
/// whole engine name.
fn engine_regex(key: &str, v: Option<String>) -> Result<Option<regex::Regex>> {
    let Some(text) = v else { return Ok(None) };
    if text.len() > MAX_ENGINE_REGEX_LEN {
        return Err(ConfigError::invalid(
            key,
            format!(
                "is {} bytes long; at most {MAX_ENGINE_REGEX_LEN}",
                text.len()
            ),
        ));
    }
    regex::RegexBuilder::new(&format!("^(?:{text})$"))
        .size_limit(1 << 20)
        .build()
        .map(Some)
        .map_err(|e| {
            // The regex crate's message spans lines (a caret diagram): one line here.
            let reason = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            ConfigError::invalid(key, format!("invalid regex: {reason}"))
        })
}

/// Read the CA file once so that a directory or an unreadable file fails
/// here, at startup, rather than at the first TLS handshake.
pub(super) fn ca_file(key: &str, f: RelativePathBuf) -> Result<std::path::PathBuf> {
    let path = f.relative();
    std::fs::read(&path).map_err(|e| {
        ConfigError::new(
            ErrorKind::Io,
            key,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    Ok(path)
}

/// `client_cert_file` and `client_key_file`: both or neither, each a
/// readable PEM file (the certificate chain, its private key).
fn client_identity(
    k: &dyn Fn(&str) -> String,
    cert: Option<RelativePathBuf>,
    key: Option<RelativePathBuf>,
) -> Result<Option<(std::path::PathBuf, std::path::PathBuf)>> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c.relative(), k.relative()),
        (Some(_), None) => {
            return Err(ConfigError::new(
                ErrorKind::Missing,
                k("client_key_file"),
                "required when client_cert_file is set",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                ErrorKind::Missing,
                k("client_cert_file"),
                "required when client_key_file is set",
            ));
        }
    };
    crate::smc::tls::client_identity(&cert, &key).map_err(|e| {
        let key_name = match e {
            crate::smc::tls::TlsError::ClientKey { .. } => "client_key_file",
            _ => "client_cert_file",
        };
        let reason = e.to_string();
        let reason = reason.split_once(": ").map_or(reason.as_str(), |(_, r)| r);
        ConfigError::new(ErrorKind::Io, k(key_name), reason)
    })?;
    Ok(Some((cert, key)))
}

/// `server_name`: a DNS name or an IP address.
fn server_name(key: &str, name: String) -> Result<String> {
    match crate::smc::tls::server_name(&name) {
        Ok(_) => Ok(name),
        Err(_) => Err(ConfigError::new(
            ErrorKind::Invalid,
            key,
            format!("not a DNS name or IP address: {name:?}"),
        )),
    }
}

/// The warnings of `insecure_skip_verify = true`.
fn insecure_warnings(
    k: &dyn Fn(&str) -> String,
    name: &str,
    url: &url::Url,
    has_ca_file: bool,
    warnings: &mut Vec<String>,
) {
    warnings.push(format!(
        "{}: TLS CERTIFICATE VERIFICATION IS DISABLED for SMC {name:?}; anyone on the network path can impersonate the SMC and capture its API key. Use ca_file instead",
        k("insecure_skip_verify")
    ));
    if url.scheme() == "http" {
        warnings.push(format!(
            "{}: has no effect on a plain http url",
            k("insecure_skip_verify")
        ));
    }
    if has_ca_file {
        warnings.push(format!(
            "{}: is ignored because insecure_skip_verify = true",
            k("ca_file")
        ));
    }
}

/// `group_by` of one SMC: a warning for each entry of a definition it does
/// not subscribe, and every definition's default where none is given.
fn smc_group_by(
    key: &str,
    raw: BTreeMap<String, Vec<String>>,
    definitions: &[Definition],
    alert_domains: &[String],
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<Definition, Vec<GroupField>>> {
    let mut group_by = group_by(key, raw)?;
    for d in group_by.keys() {
        let subscribed = if *d == Definition::ActiveAlerts {
            !alert_domains.is_empty()
        } else {
            definitions.contains(d)
        };
        if !subscribed {
            warnings.push(format!(
                "{key}.{d}: {d} is not subscribed for this SMC; the entry has no effect"
            ));
        }
    }
    for d in Definition::ALL {
        group_by.entry(d).or_insert_with(|| {
            d.default_group_by()
                .iter()
                .filter_map(|l| d.group_field(l))
                .collect()
        });
    }
    Ok(group_by)
}

fn smc_url(key: &str, text: &str) -> Result<url::Url> {
    let example = "https://smc.example.com:8082";
    let url = base_url(key, text, example, "api_key_file or api_key_env")?;
    if url.port_or_known_default().is_none() {
        return Err(ConfigError::invalid(key, "has no port"));
    }
    Ok(url)
}

/// The checks every source's `url` shares: a valid http(s) URL with a host,
/// no user name or password (`credentials`: what to use instead), and no
/// path, query or fragment (`example`: what to write).
pub(crate) fn base_url(
    key: &str,
    text: &str,
    example: &str,
    credentials: &str,
) -> Result<url::Url> {
    let bad = |reason: String| ConfigError::invalid(key, reason);
    let url = url::Url::parse(text.trim()).map_err(|e| {
        bad(format!(
            "not a valid URL ({e}); expected e.g. \"{example}\""
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme must be http or https, not {:?}",
            url.scheme()
        )));
    }
    // Userinfo is checked before anything that could echo parts of the URL.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(format!(
            "must not contain a user name or password; use {credentials}"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host".into()));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(bad(format!(
            "must not have a path (found {:?}); give only scheme, host and port, e.g. \"{example}\"",
            url.path()
        )));
    }
    if url.query().is_some() {
        return Err(bad("must not have a query string".into()));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment".into()));
    }
    Ok(url)
}

fn api_version(key: &str, text: &str) -> Result<String> {
    let Some((major, minor)) = parse_api_version(text) else {
        return Err(ConfigError::invalid(
            key,
            format!("{text:?} is not MAJOR.MINOR (e.g. \"7.1\"); omit it to discover the version"),
        ));
    };
    if !api_version_supported((major, minor)) {
        let ((a, b), (c, d)) = SUPPORTED_API_VERSIONS;
        return Err(ConfigError::invalid(
            key,
            format!("{major}.{minor} is not supported (supported: {a}.{b} to {c}.{d})"),
        ));
    }
    Ok(format!("{major}.{minor}"))
}

fn api_key(
    p: &str,
    file: Option<RelativePathBuf>,
    env: Option<String>,
    inline: Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Secret> {
    let set: Vec<&str> = [
        file.as_ref().map(|_| "api_key_file"),
        env.as_ref().map(|_| "api_key_env"),
        inline.as_ref().map(|_| "api_key"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if set.len() > 1 {
        let verb = if set.len() == 2 {
            "are both"
        } else {
            "are all"
        };
        return Err(ConfigError::invalid(
            p,
            format!(
                "{} {verb} set; set exactly one API key source",
                set.join(" and ")
            ),
        ));
    }
    if let Some(f) = file {
        return key_from_file(&format!("{p}.api_key_file"), &f.relative(), warnings);
    }
    if let Some(var) = env {
        return key_from_env(&format!("{p}.api_key_env"), &var);
    }
    if let Some(k) = inline {
        let key = format!("{p}.api_key");
        if k.trim().is_empty() {
            return Err(ConfigError::invalid(key, "must not be empty"));
        }
        warnings.push(format!(
            "{key}: API key inline in the config file; prefer api_key_file or api_key_env"
        ));
        return Ok(Secret::new(k));
    }
    Err(ConfigError::new(
        ErrorKind::Missing,
        p,
        "no API key; set one of api_key_file, api_key_env or api_key",
    ))
}

fn key_from_file(key: &str, path: &Path, warnings: &mut Vec<String>) -> Result<Secret> {
    let io_err = |e: std::io::Error| {
        ConfigError::new(
            ErrorKind::Io,
            key,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    // The io::Error text never contains file content. Mode and content come
    // from the same open file.
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    if let Some(w) = world_readable(key, path, &file) {
        warnings.push(w);
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(io_err)?;
    let k = text.trim_end();
    if k.trim_start().is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("{} is empty", path.display()),
        ));
    }
    if k.contains(['\n', '\r']) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "{} has more than one line; it must hold only the API key",
                path.display()
            ),
        ));
    }
    Ok(Secret::new(k))
}

/// A warning if others than the owner and group may read the key file.
/// Group read is not warned about: the shipped Kubernetes manifest mounts
/// the key 0440 with `fsGroup`, and `root:exporter 0640` is the usual way to
/// give a service user a root-owned file.
#[cfg(unix)]
pub(super) fn world_readable(key: &str, path: &Path, file: &std::fs::File) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file.metadata().ok()?.permissions().mode() & 0o7777;
    (mode & 0o004 != 0).then(|| {
        format!(
            "{key}: {} is readable by every user of this host (mode {mode:04o}); restrict it, e.g. chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
pub(super) fn world_readable(_key: &str, _path: &Path, _file: &std::fs::File) -> Option<String> {
    None
}

fn key_from_env(key: &str, var: &str) -> Result<Secret> {
    let var = var.trim();
    if var.is_empty() {
        return Err(ConfigError::invalid(
            key,
            "must name an environment variable",
        ));
    }
    let v = env_value(key, var, "key")?;
    if v.trim().is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("environment variable {var} is empty"),
        ));
    }
    Ok(Secret::new(v.trim_end()))
}

/// The value of environment variable `var`, for a secret (`what`: `key`,
/// `password`). `var` must be a variable name; a value that is none is not
/// echoed: it may be the secret itself, pasted in the wrong place.
pub(crate) fn env_value(key: &str, var: &str, what: &str) -> Result<String> {
    let is_name = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_name {
        return Err(ConfigError::invalid(
            key,
            format!(
                "is not an environment variable name (letters, digits and _, not starting with a digit); give the name of the variable that holds the {what}, not the {what}"
            ),
        ));
    }
    std::env::var(var).map_err(|e| match e {
        std::env::VarError::NotPresent => ConfigError::new(
            ErrorKind::Missing,
            key,
            format!("environment variable {var} is not set"),
        ),
        std::env::VarError::NotUnicode(_) => ConfigError::invalid(
            key,
            format!("environment variable {var} is not valid UTF-8"),
        ),
    })
}
/// A non-empty list of non-empty, unique names.
fn names_list(key: &str, what: &str, v: Vec<String>) -> Result<Vec<String>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (j, n) in v.iter().enumerate() {
        if n.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}[{j}]"),
                format!("{what} name must not be empty"),
            ));
        }
        if let Some(first) = seen.insert(n.as_str(), j) {
            return Err(ConfigError::invalid(
                format!("{key}[{j}]"),
                format!("duplicate {what} {n:?} (also at [{first}])"),
            ));
        }
    }
    if v.is_empty() && what == "engine" {
        return Err(ConfigError::invalid(
            key,
            "must list at least one engine or cluster name (omit it to discover the SMC's engines)",
        ));
    }
    Ok(v)
}

fn engine_scoped_names() -> String {
    Definition::engine_scoped()
        .map(|d| d.wire_name(false))
        .collect::<Vec<_>>()
        .join(", ")
}

fn definitions(key: &str, v: Option<Vec<String>>) -> Result<Vec<Definition>> {
    let Some(v) = v else {
        return Ok(Definition::engine_scoped().collect());
    };
    if v.is_empty() {
        return Err(ConfigError::invalid(
            key,
            "must not be empty; omit it to subscribe every engine definition",
        ));
    }
    let mut out: Vec<Definition> = Vec::with_capacity(v.len());
    for (j, name) in v.iter().enumerate() {
        let k = format!("{key}[{j}]");
        let d = Definition::parse(name).ok_or_else(|| {
            ConfigError::invalid(
                &k,
                format!(
                    "unknown definition {name:?}; known: {}",
                    engine_scoped_names()
                ),
            )
        })?;
        if d == Definition::ActiveAlerts {
            return Err(ConfigError::invalid(
                k,
                "ACTIVE_ALERTS is subscribed per admin domain, not per engine; list the domains in alert_domains instead",
            ));
        }
        if let Some(first) = out.iter().position(|x| *x == d) {
            return Err(ConfigError::invalid(
                k,
                format!("duplicate definition {d} (also at [{first}])"),
            ));
        }
        out.push(d);
    }
    Ok(out)
}

fn group_by(
    key: &str,
    raw: BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<Definition, Vec<GroupField>>> {
    let all = Definition::ALL
        .iter()
        .map(|d| d.wire_name(false))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = BTreeMap::new();
    let mut written: HashMap<Definition, String> = HashMap::new();
    for (def_name, labels) in raw {
        let k = format!("{key}.{def_name}");
        let d = Definition::parse(&def_name)
            .ok_or_else(|| ConfigError::invalid(&k, format!("unknown definition; known: {all}")))?;
        if let Some(first) = written.insert(d, def_name.clone()) {
            return Err(ConfigError::invalid(
                &k,
                format!("{d} is already configured as {key}.{first}"),
            ));
        }
        let mut fields: Vec<GroupField> = Vec::with_capacity(labels.len());
        for (j, label) in labels.iter().enumerate() {
            let lk = format!("{k}[{j}]");
            let Some(f) = d.group_field(label) else {
                let allowed = d
                    .groupable()
                    .iter()
                    .map(|g| g.label)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ConfigError::invalid(
                    lk,
                    format!("unknown label {label:?} for {d}; allowed: {allowed}"),
                ));
            };
            if fields.iter().any(|g| g.label == f.label) {
                return Err(ConfigError::invalid(
                    lk,
                    format!("duplicate label {label:?}"),
                ));
            }
            fields.push(f);
        }
        out.insert(d, fields);
    }
    Ok(out)
}
