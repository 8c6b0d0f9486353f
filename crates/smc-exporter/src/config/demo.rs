//! The configuration `smc-exporter demo` (and the tests) give the exporter
//! for a simulator: built through the same validation as a file.

use std::net::SocketAddr;

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
    let figment = Figment::from(defaults()).merge(Serialized::defaults(serde_json::json!({
        "listen_address": listen.to_string(),
        "smc": [{
            "name": DEMO_SMC_NAME,
            "url": url,
            "api_key": api_key,
            "engines": engines,
            "alert_domains": alert_domains,
        }],
    })));
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
}
