//! The configuration `smc-exporter demo` (and the tests) give the exporter
//! for a simulator: built through the same validation as a file.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::Serialized;

use super::{Config, ConfigError, defaults, from_figment};

/// The `smc` label of the demo's one SMC.
pub const DEMO_SMC_NAME: &str = "demo";

/// A config monitoring every given engine and alert domain of one SMC at
/// `url`, with the API version discovered. The inline key and plain-http
/// warnings are dropped: the demo's SMC is a local simulator.
pub fn demo(
    url: &str,
    api_key: &str,
    engines: &[String],
    alert_domains: &[String],
    listen: SocketAddr,
) -> Result<Config, ConfigError> {
    demo_config(url, api_key, (engines, alert_domains), listen, (None, None))
}

/// What `smc-lab demo` runs: [`demo`] plus the SMC-wide streams, so every
/// dashboard has data: element changes of [`DEMO_NOTIFY`], the log stream
/// `all` (by engine, action and service, with rule hits) and `discards`
/// (Discard and Refuse records only, by engine and action); with `sps`, the
/// SPS appliance `pam` too.
pub fn demo_with_streams(
    url: &str,
    api_key: &str,
    engines: &[String],
    alert_domains: &[String],
    listen: SocketAddr,
    sps: Option<DemoSps>,
) -> Result<Config, ConfigError> {
    let streams = serde_json::json!({
        "notify": DEMO_NOTIFY,
        "log_stream": [
            {"name": "all", "group_by": ["engine", "action", "service"], "rule_hits": true},
            {"name": "discards", "filter": "$Action == \"Discard\" OR $Action == \"Refuse\""},
        ],
    });
    demo_config(
        url,
        api_key,
        (engines, alert_domains),
        listen,
        (Some(streams), sps.map(demo_sps)),
    )
}

/// The `sps` label of the demo's one SPS appliance.
const DEMO_SPS_NAME: &str = "pam";

/// The demo's SPS appliance: its url, the account, and the file holding the
/// account's password (the config schema has no inline password).
pub type DemoSps<'a> = (&'a str, &'a str, &'a Path);

/// The `[[sps]]` table of [`DemoSps`]: polled every 5 s, counting the hour
/// before the appliance's clock, so the dashboards fill at once.
fn demo_sps((url, username, password_file): DemoSps) -> serde_json::Value {
    serde_json::json!([{
        "name": DEMO_SPS_NAME,
        "url": url,
        "username": username,
        "password_file": password_file,
        "poll_interval": "5s",
        "lookback": "1h",
    }])
}

/// The element types the demo counts changes of.
pub const DEMO_NOTIFY: [&str; 4] = ["host", "network", "single_fw", "fw_cluster"];

fn demo_config(
    url: &str,
    api_key: &str,
    (engines, alert_domains): (&[String], &[String]),
    listen: SocketAddr,
    (extra, sps): (Option<serde_json::Value>, Option<serde_json::Value>),
) -> Result<Config, ConfigError> {
    let mut smc = serde_json::json!({
        "name": DEMO_SMC_NAME,
        "url": url,
        "api_key": api_key,
        "engines": engines,
        "alert_domains": alert_domains,
    });
    if let (Some(serde_json::Value::Object(extra)), Some(smc)) = (extra, smc.as_object_mut()) {
        smc.extend(extra);
    }
    let mut top = serde_json::json!({
        "listen_address": listen.to_string(),
        "smc": [smc],
    });
    if let (Some(sps), Some(top)) = (sps, top.as_object_mut()) {
        top.insert("sps".into(), sps);
    }
    let figment = Figment::from(defaults()).merge(Serialized::defaults(top));
    let mut cfg = from_figment(figment)?;
    cfg.warnings.clear();
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smc_protocol::Definition;

    #[test]
    fn demo_config_validates_and_subscribes_everything() {
        let cfg = demo(
            "http://127.0.0.1:8082",
            "k",
            &["fw".into()],
            &["Shared Domain".into()],
            "127.0.0.1:9791".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(cfg.smc[0].name, "demo");
        assert_eq!(
            cfg.smc[0].definitions,
            Definition::engine_scoped().collect::<Vec<_>>()
        );
        assert_eq!(cfg.smc[0].api_version, None);
        assert!(cfg.warnings.is_empty());
        assert!(cfg.smc[0].notify.is_empty() && cfg.smc[0].log_streams.is_empty());
        let full = demo_with_streams(
            "http://127.0.0.1:8082",
            "k",
            &["fw".into()],
            &[],
            "127.0.0.1:9791".parse().unwrap(),
            None,
        )
        .unwrap();
        assert!(cfg.sps.is_empty() && full.sps.is_empty());
        assert_eq!(full.smc[0].notify, DEMO_NOTIFY);
        let names: Vec<&str> = full.smc[0]
            .log_streams
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["all", "discards"]);
        assert!(full.smc[0].log_streams[0].rule_hits);
        assert!(full.smc[0].log_streams[1].filter.is_some());
        let e = demo(
            "ftp://x:1",
            "k",
            &["fw".into()],
            &[],
            "127.0.0.1:1".parse().unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "smc[0].url: scheme must be http or https, not \"ftp\""
        );
    }

    #[test]
    fn demo_with_sps_polls_the_appliance_with_the_password_from_its_file() {
        let dir = std::env::temp_dir().join(format!("demo-sps-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("password");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let sps = ("http://127.0.0.1:8443", "monitor", pw.as_path());
        let cfg = demo_with_streams(
            "http://127.0.0.1:8082",
            "k",
            &["fw".into()],
            &[],
            "127.0.0.1:9791".parse().unwrap(),
            Some(sps),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let cfg = cfg.unwrap();
        assert_eq!(cfg.sps.len(), 1);
        let s = &cfg.sps[0];
        assert_eq!(s.name, "pam");
        assert_eq!(s.url.as_str(), "http://127.0.0.1:8443/");
        assert_eq!(s.username, "monitor");
        assert_eq!(s.password.expose(), "s3cret");
        assert_eq!(s.poll_interval, std::time::Duration::from_secs(5));
        assert_eq!(s.lookback, std::time::Duration::from_secs(3600));
        assert!(cfg.warnings.is_empty());
        assert_eq!(cfg.smc[0].log_streams.len(), 2);
        let missing = (sps.0, sps.1, Path::new("/nonexistent/demo-sps-password"));
        let e = demo_with_streams(
            "http://127.0.0.1:8082",
            "k",
            &["fw".into()],
            &[],
            "127.0.0.1:9791".parse().unwrap(),
            Some(missing),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "sps[0].password_file: cannot read /nonexistent/demo-sps-password: No such file or directory (os error 2)"
        );
    }
}
