//! Every configuration mistake gets exactly one line: `<key path>: <reason>`.
//!
//! Each case writes its TOML to a fresh temp dir next to a key file `key`
//! (content `secret-key-123\n`) and an empty file `empty.key`; `{dir}` in the
//! TOML and in the expected message stands for that directory. The figment is
//! built without the environment layer so parallel tests cannot see each
//! other's variables; environment cases run inside `figment::Jail`.

#![allow(
    clippy::result_large_err,
    reason = "figment::Jail closures must return figment::Result"
)]

use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Toml};
use smc_exporter::config::{self, Config, ConfigError, ErrorKind};

const FILE_KEY: &str = "secret-key-123";
const INLINE_KEY: &str = "INLINE-SECRET-0xdeadbeef";

const SMC: &str = r#"
[[smc]]
name = "prod"
url = "https://smc.example.com:8082"
api_key_file = "key"
engines = ["fw1"]
"#;

fn write_dir(toml: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), format!("{FILE_KEY}\n")).unwrap();
    std::fs::write(dir.path().join("empty.key"), " \n\n").unwrap();
    let d = dir.path().display().to_string();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml.replace("{dir}", &d)).unwrap();
    (dir, path)
}

fn figment(path: &Path) -> Figment {
    Figment::from(config::defaults()).merge(Toml::file_exact(path))
}

fn check(toml: &str) -> (Result<Config, ConfigError>, String) {
    let (dir, path) = write_dir(toml);
    let r = config::from_figment(figment(&path));
    (r, dir.path().display().to_string())
}

fn error_of(toml: &str) -> String {
    let (r, dir) = check(toml);
    match r {
        Ok(_) => panic!("expected an error for:\n{toml}"),
        Err(e) => e.to_string().replace(&dir, "{dir}"),
    }
}

/// `SMC` with one line replaced (or removed when `to` is empty).
fn smc_with(from: &str, to: &str) -> String {
    assert!(SMC.contains(from), "{from}");
    SMC.replacen(from, to, 1)
}

#[test]
fn each_mistake_gets_its_exact_message() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown top-level key",
            format!("listen_adress = \"0.0.0.0:1\"\n{SMC}"),
            "listen_adress: unknown key; did you mean `listen_address`?",
        ),
        (
            "unknown top-level key, nothing close",
            format!("colour = \"blue\"\n{SMC}"),
            "colour: unknown key; known keys: listen_address, max_series_per_family, subscription, smc",
        ),
        (
            "unknown smc key",
            smc_with("engines = [\"fw1\"]", "engnes = [\"fw1\"]"),
            "smc[0].engnes: unknown key; did you mean `engines`?",
        ),
        (
            "unknown subscription key",
            format!("[subscription]\nbackof_max = \"1m\"\n{SMC}"),
            "subscription.backof_max: unknown key; did you mean `backoff_max`?",
        ),
        (
            "wrong type: string for a list",
            smc_with("engines = [\"fw1\"]", "engines = \"fw1\""),
            "smc[0].engines: expected an array, found string",
        ),
        (
            "wrong type: string for an integer",
            format!("max_series_per_family = \"lots\"\n{SMC}"),
            "max_series_per_family: expected a non-negative integer, found string",
        ),
        (
            "wrong type: negative integer",
            format!("max_series_per_family = -1\n{SMC}"),
            "max_series_per_family: expected a non-negative integer, found negative integer",
        ),
        (
            "wrong type: duration as a number",
            format!("[subscription]\nbackoff_max = 60\n{SMC}"),
            "subscription.backoff_max: expected a duration string such as \"500ms\" or \"1m\", found integer",
        ),
        (
            "wrong type: [smc] instead of [[smc]]",
            "[smc]\nname = \"prod\"\n".to_string(),
            "smc: expected an array of [[smc]] tables, found table",
        ),
        (
            "wrong type: inline api_key is not echoed",
            smc_with("api_key_file = \"key\"", "api_key = 123456789"),
            "smc[0].api_key: expected a string, found integer",
        ),
        (
            "no [[smc]] at all",
            "listen_address = \"0.0.0.0:9791\"\n".to_string(),
            "smc: at least one [[smc]] table is required",
        ),
        (
            "missing name",
            smc_with("name = \"prod\"", ""),
            "smc[0].name: required key is missing",
        ),
        (
            "missing url",
            smc_with("url = \"https://smc.example.com:8082\"", ""),
            "smc[0].url: required key is missing",
        ),
        (
            "bad url",
            smc_with("https://smc.example.com:8082", "smc.example.com:8082"),
            "smc[0].url: scheme must be http or https, not \"smc.example.com\"",
        ),
        (
            "unparsable url",
            smc_with("https://smc.example.com:8082", "not a url"),
            "smc[0].url: not a valid URL (relative URL without a base); expected e.g. \"https://smc.example.com:8082\"",
        ),
        (
            "non-http scheme",
            smc_with("https://smc.example.com:8082", "ftp://smc.example.com:8082"),
            "smc[0].url: scheme must be http or https, not \"ftp\"",
        ),
        (
            "url with a path",
            smc_with(
                "https://smc.example.com:8082",
                "https://smc.example.com:8082/7.1/api",
            ),
            "smc[0].url: must not have a path (found \"/7.1/api\"); give only scheme, host and port, e.g. \"https://smc.example.com:8082\"",
        ),
        (
            "url with a query",
            smc_with(
                "https://smc.example.com:8082",
                "https://smc.example.com:8082/?x=1",
            ),
            "smc[0].url: must not have a query string",
        ),
        (
            "url with userinfo (password not echoed)",
            smc_with(
                "https://smc.example.com:8082",
                "https://admin:hunter2@smc.example.com:8082",
            ),
            "smc[0].url: must not contain a user name or password; use api_key_file or api_key_env",
        ),
        (
            "api_version not MAJOR.MINOR",
            smc_with("engines", "api_version = \"7\"\nengines"),
            "smc[0].api_version: \"7\" is not MAJOR.MINOR (e.g. \"7.1\"); omit it to discover the version",
        ),
        (
            "api_version unsupported",
            smc_with("engines", "api_version = \"6.2\"\nengines"),
            "smc[0].api_version: 6.2 is not supported (supported: 6.3 to 7.99)",
        ),
        (
            "api_version as a TOML float",
            smc_with("engines", "api_version = 7.1\nengines"),
            "smc[0].api_version: expected a quoted \"MAJOR.MINOR\" string such as \"7.1\", found float",
        ),
        (
            "missing key file",
            smc_with("api_key_file = \"key\"", "api_key_file = \"nope.key\""),
            "smc[0].api_key_file: cannot read {dir}/nope.key: No such file or directory (os error 2)",
        ),
        (
            "empty key file",
            smc_with(
                "api_key_file = \"key\"",
                "api_key_file = \"{dir}/empty.key\"",
            ),
            "smc[0].api_key_file: {dir}/empty.key is empty",
        ),
        (
            "no key source",
            smc_with("api_key_file = \"key\"", ""),
            "smc[0]: no API key; set one of api_key_file, api_key_env or api_key",
        ),
        (
            "two key sources",
            smc_with(
                "api_key_file = \"key\"",
                &format!("api_key_file = \"key\"\napi_key = \"{INLINE_KEY}\""),
            ),
            "smc[0]: api_key_file and api_key are both set; set exactly one API key source",
        ),
        (
            "api_key_env unset",
            smc_with(
                "api_key_file = \"key\"",
                "api_key_env = \"SMC_EXPORTER_TEST_SURELY_UNSET_VAR\"",
            ),
            "smc[0].api_key_env: environment variable SMC_EXPORTER_TEST_SURELY_UNSET_VAR is not set",
        ),
        (
            "api_key_env holding the key itself",
            smc_with(
                "api_key_file = \"key\"",
                &format!("api_key_env = \"{INLINE_KEY}\""),
            ),
            "smc[0].api_key_env: is not an environment variable name (letters, digits and _, not starting with a digit); give the name of the variable that holds the key, not the key",
        ),
        (
            "empty inline key",
            smc_with("api_key_file = \"key\"", "api_key = \"\""),
            "smc[0].api_key: must not be empty",
        ),
        (
            "bad engines_match regex",
            smc_with("engines = [\"fw1\"]", "engines_match = \"fw-(\""),
            "smc[0].engines_match: invalid regex: error: unclosed group",
        ),
        (
            "bad engines_exclude regex",
            smc_with("engines = [\"fw1\"]", "engines_exclude = \"*lab\""),
            "smc[0].engines_exclude: invalid regex: error: repetition operator missing expression",
        ),
        (
            "zero discovery_interval",
            smc_with("engines = [\"fw1\"]", "discovery_interval = \"0s\""),
            "smc[0].discovery_interval: must be greater than 0",
        ),
        (
            "empty engines",
            smc_with("engines = [\"fw1\"]", "engines = []"),
            "smc[0].engines: must list at least one engine or cluster name (omit it to discover the SMC's engines)",
        ),
        (
            "duplicate engine",
            smc_with(
                "engines = [\"fw1\"]",
                "engines = [\"fw1\", \"fw2\", \"fw1\"]",
            ),
            "smc[0].engines[2]: duplicate engine \"fw1\" (also at [0])",
        ),
        (
            "empty engine name",
            smc_with("engines = [\"fw1\"]", "engines = [\"fw1\", \" \"]"),
            "smc[0].engines[1]: engine name must not be empty",
        ),
        (
            "unknown definition",
            format!("{SMC}definitions = [\"CONNECTIONS\", \"SESSIONS\"]\n"),
            "smc[0].definitions[1]: unknown definition \"SESSIONS\"; known: CONNECTIONS, BLOCK_LIST, VPN_SA, USERS, ROUTING, SSLVPNV2, NEIGHBORS",
        ),
        (
            "ACTIVE_ALERTS in definitions",
            format!("{SMC}definitions = [\"active_alerts\"]\n"),
            "smc[0].definitions[0]: ACTIVE_ALERTS is subscribed per admin domain, not per engine; list the domains in alert_domains instead",
        ),
        (
            "duplicate definition through an alias",
            format!("{SMC}definitions = [\"BLOCK_LIST\", \"blacklist\"]\n"),
            "smc[0].definitions[1]: duplicate definition BLOCK_LIST (also at [0])",
        ),
        (
            "unknown group_by definition",
            format!("{SMC}[smc.group_by]\nSESSIONS = [\"node\"]\n"),
            "smc[0].group_by.SESSIONS: unknown definition; known: CONNECTIONS, BLOCK_LIST, VPN_SA, USERS, ROUTING, SSLVPNV2, ACTIVE_ALERTS, NEIGHBORS",
        ),
        (
            "unknown group_by label",
            format!("{SMC}[smc.group_by]\nCONNECTIONS = [\"node\", \"state\", \"src_ip\"]\n"),
            "smc[0].group_by.CONNECTIONS[2]: unknown label \"src_ip\" for CONNECTIONS; allowed: node, protocol, state, service, src_zone, dst_zone, src_if, dst_if",
        ),
        (
            "unknown filters definition",
            format!("{SMC}[smc.filters]\nSESSIONS = \"$Dport == 22\"\n"),
            "smc[0].filters.SESSIONS: unknown definition; known: CONNECTIONS, BLOCK_LIST, VPN_SA, USERS, ROUTING, SSLVPNV2, ACTIVE_ALERTS, NEIGHBORS",
        ),
        (
            "filter expression with an error, and its offset",
            format!("{SMC}[smc.filters]\nCONNECTIONS = \"$Dport == 22 AND $Service ==\"\n"),
            "smc[0].filters.CONNECTIONS: translated filter: expected a value at offset 28",
        ),
        (
            "filter expression naming an unknown field",
            format!("{SMC}[smc.filters]\nCONNECTIONS = \"$Nope == 1\"\n"),
            "smc[0].filters.CONNECTIONS: translated filter: unknown field $Nope at offset 0",
        ),
        (
            "empty filter expression",
            format!("{SMC}[smc.filters]\nCONNECTIONS = \" \"\n"),
            "smc[0].filters.CONNECTIONS: empty filter (leave the key out to subscribe to every row)",
        ),
        (
            "filter of the wrong type",
            format!("{SMC}[smc.filters]\nCONNECTIONS = 22\n"),
            "smc[0].filters.CONNECTIONS: expected a filter expression (string) or a filter table, got a number",
        ),
        (
            "filter table of an unknown type",
            format!("{SMC}[smc.filters.CONNECTIONS]\ntype = \"regex\"\n"),
            "smc[0].filters.CONNECTIONS: unknown filter type \"regex\"",
        ),
        (
            "filter table without its operands",
            format!("{SMC}[smc.filters.CONNECTIONS]\ntype = \"in\"\n"),
            "smc[0].filters.CONNECTIONS: in filter needs \"left\" (one value)",
        ),
        (
            "notify type that is not an entry-point name",
            smc_with(
                "engines = [\"fw1\"]",
                "engines = [\"fw1\"]\nnotify = [\"host\", \"Single FW\"]",
            ),
            "smc[0].notify[1]: \"Single FW\" is not an element type: an entry-point name such as \"host\" or \"single_fw\" (a-z, 0-9, _; at most 64 bytes)",
        ),
        (
            "duplicate notify type",
            smc_with(
                "engines = [\"fw1\"]",
                "engines = [\"fw1\"]\nnotify = [\"host\", \"network\", \"host\"]",
            ),
            "smc[0].notify[2]: duplicate element type \"host\" (also at [0])",
        ),
        (
            "log stream without a name",
            format!("{SMC}[[smc.log_stream]]\nfilter = \"$Action == 1\"\n"),
            "smc[0].log_stream[0].name: required key is missing",
        ),
        (
            "log stream name that is not plain",
            format!("{SMC}[[smc.log_stream]]\nname = \"all logs\"\n"),
            "smc[0].log_stream[0].name: \"all logs\" is not a stream name: letters, digits, '_', '-' and '.', at most 64 bytes",
        ),
        (
            "duplicate log stream name",
            format!(
                "{SMC}[[smc.log_stream]]\nname = \"all\"\n[[smc.log_stream]]\nname = \"all\"\n"
            ),
            "smc[0].log_stream[1].name: duplicate log stream name \"all\" (also at [0])",
        ),
        (
            "log stream group_by label that is not low-cardinality",
            format!("{SMC}[[smc.log_stream]]\nname = \"all\"\ngroup_by = [\"engine\", \"src\"]\n"),
            "smc[0].log_stream[0].group_by[1]: unknown label \"src\" for a log stream; allowed: engine, node, action, event, service, protocol, src_zone, dst_zone, rule_tag, nat_rule_tag, facility, situation, severity, domain",
        ),
        (
            "duplicate log stream group_by label",
            format!(
                "{SMC}[[smc.log_stream]]\nname = \"all\"\ngroup_by = [\"action\", \"action\"]\n"
            ),
            "smc[0].log_stream[0].group_by[1]: duplicate label \"action\"",
        ),
        (
            "bad log stream filter",
            format!("{SMC}[[smc.log_stream]]\nname = \"d\"\nfilter = \"$Action ==\"\n"),
            "smc[0].log_stream[0].filter: translated filter: expected a value at offset 10",
        ),
        (
            "unknown log stream key",
            format!("{SMC}[[smc.log_stream]]\nname = \"d\"\nrule_hit = true\n"),
            "smc[0].log_stream[0].rule_hit: unknown key; did you mean `rule_hits`?",
        ),
        (
            "duplicate group_by label",
            format!("{SMC}[smc.group_by]\nROUTING = [\"route_type\", \"route_type\"]\n"),
            "smc[0].group_by.ROUTING[1]: duplicate label \"route_type\"",
        ),
        (
            "duplicate smc names",
            format!("{SMC}{SMC}"),
            "smc[1].name: duplicate SMC name \"prod\" (also smc[0].name)",
        ),
        (
            "backoff_initial > backoff_max",
            format!("[subscription]\nbackoff_initial = \"2m\"\nbackoff_max = \"1m\"\n{SMC}"),
            "subscription.backoff_max: 1m is less than subscription.backoff_initial (2m)",
        ),
        (
            "bad duration",
            format!("[subscription]\nconnect_timeout = \"10\"\n{SMC}"),
            "subscription.connect_timeout: invalid duration \"10\": time unit needed, for example 10sec or 10ms (examples: \"500ms\", \"10s\", \"1m\")",
        ),
        (
            "zero duration",
            format!("[subscription]\nsnapshot_settle = \"0s\"\n{SMC}"),
            "subscription.snapshot_settle: must be greater than 0",
        ),
        (
            "zero ping_interval",
            format!("[subscription]\nping_interval = \"0s\"\n{SMC}"),
            "subscription.ping_interval: must be greater than 0",
        ),
        (
            "zero pong_timeout",
            format!("[subscription]\npong_timeout = \"0ms\"\n{SMC}"),
            "subscription.pong_timeout: must be greater than 0",
        ),
        (
            "pong_timeout equal to ping_interval",
            format!("[subscription]\nping_interval = \"10s\"\npong_timeout = \"10s\"\n{SMC}"),
            "subscription.pong_timeout: 10s is not less than subscription.ping_interval (10s)",
        ),
        (
            "pong_timeout above the default ping_interval",
            format!("[subscription]\npong_timeout = \"1m\"\n{SMC}"),
            "subscription.pong_timeout: 1m is not less than subscription.ping_interval (30s)",
        ),
        (
            "ping_interval below the default pong_timeout",
            format!("[subscription]\nping_interval = \"5s\"\n{SMC}"),
            "subscription.pong_timeout: 10s is not less than subscription.ping_interval (5s)",
        ),
        (
            "silence_limit within the SMC's quiet period",
            format!("[subscription]\nsilence_limit = \"90s\"\n{SMC}"),
            "subscription.silence_limit: 1m 30s is too short: an SMC may send nothing for about 2m on an unchanged table; use more than 2m (default 10m), or \"0s\" to turn it off",
        ),
        (
            "silence_limit exactly the SMC's quiet period",
            format!("[subscription]\nsilence_limit = \"2m\"\n{SMC}"),
            "subscription.silence_limit: 2m is too short: an SMC may send nothing for about 2m on an unchanged table; use more than 2m (default 10m), or \"0s\" to turn it off",
        ),
        (
            "bad silence_limit",
            format!("[subscription]\nsilence_limit = \"off\"\n{SMC}"),
            "subscription.silence_limit: invalid duration \"off\": expected number at 0 (examples: \"500ms\", \"10s\", \"1m\")",
        ),
        (
            "zero healthy_reset",
            format!("[subscription]\nhealthy_reset = \"0s\"\n{SMC}"),
            "subscription.healthy_reset: must be greater than 0",
        ),
        (
            "bad listen_address",
            format!("listen_address = \"[::1:9791\"\n{SMC}"),
            "listen_address: \"[::1:9791\": an IPv6 address goes in brackets: [IPv6]:PORT",
        ),
        (
            "max_series_per_family = 0",
            format!("max_series_per_family = 0\n{SMC}"),
            "max_series_per_family: must be greater than 0",
        ),
        (
            "max_frame_bytes = 0",
            format!("[subscription]\nmax_frame_bytes = 0\n{SMC}"),
            "subscription.max_frame_bytes: must be greater than 0",
        ),
        (
            "missing ca_file",
            format!("{SMC}ca_file = \"ca.pem\"\n"),
            "smc[0].ca_file: cannot read {dir}/ca.pem: No such file or directory (os error 2)",
        ),
        (
            "client_cert_file without its key",
            format!("{SMC}client_cert_file = \"client.crt\"\n"),
            "smc[0].client_key_file: required when client_cert_file is set",
        ),
        (
            "client_key_file without its certificate",
            format!("{SMC}client_key_file = \"client.key\"\n"),
            "smc[0].client_cert_file: required when client_key_file is set",
        ),
        (
            "missing client_cert_file",
            format!("{SMC}client_cert_file = \"client.crt\"\nclient_key_file = \"client.key\"\n"),
            "smc[0].client_cert_file: No such file or directory (os error 2)",
        ),
        (
            "bad server_name",
            format!("{SMC}server_name = \"smc example\"\n"),
            "smc[0].server_name: not a DNS name or IP address: \"smc example\"",
        ),
        (
            "TOML syntax error on a line holding the inline key",
            smc_with(
                "api_key_file = \"key\"",
                &format!("api_key = \"{INLINE_KEY}\" oops"),
            ),
            "{dir}/config.toml:5:38: invalid TOML: unexpected key or value, expected newline, `#`",
        ),
    ];

    assert!(cases.len() >= 14);
    let mut failures = Vec::new();
    for (what, toml, want) in &cases {
        let got = error_of(toml);
        for secret in [FILE_KEY, INLINE_KEY, "123456789", "hunter2"] {
            assert!(!got.contains(secret), "{what}: secret in message: {got}");
        }
        assert!(
            !got.contains('\n'),
            "{what}: message is not one line: {got:?}"
        );
        if got != *want {
            failures.push(format!("{what}:\n   got: {got}\n  want: {want}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn error_exposes_key_reason_and_kind() {
    let (r, _dir) = check(&smc_with("engines = [\"fw1\"]", "engnes = [\"fw1\"]"));
    let e = r.unwrap_err();
    assert_eq!(e.key(), "smc[0].engnes");
    assert_eq!(e.reason(), "unknown key; did you mean `engines`?");
    assert_eq!(e.kind(), ErrorKind::UnknownKey);
}

#[test]
fn second_smc_gets_its_index() {
    let second = SMC.replace("prod", "lab").replace("fw1", "fw-lab");
    let second = second.replace(
        "engines = [\"fw-lab\"]",
        "engines = [\"fw-lab\"]\n[smc.group_by]\nCONNECTIONS = [\"node\", \"state\", \"src_ip\"]",
    );
    let got = error_of(&format!("{SMC}{second}"));
    assert_eq!(
        got,
        "smc[1].group_by.CONNECTIONS[2]: unknown label \"src_ip\" for CONNECTIONS; allowed: node, protocol, state, service, src_zone, dst_zone, src_if, dst_if"
    );
}

#[test]
fn env_values_are_checked_and_named() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("key", "k\n")?;
        jail.create_file("config.toml", SMC)?;
        jail.set_env("SMC_EXPORTER_SUBSCRIPTION__BACKOFF_MAX", "soon");
        let e = config::load(&jail.directory().join("config.toml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "subscription.backoff_max: invalid duration \"soon\": expected number at 0 (examples: \"500ms\", \"10s\", \"1m\") (set by environment variable SMC_EXPORTER_SUBSCRIPTION__BACKOFF_MAX)"
        );
        Ok(())
    });
}

#[test]
fn env_connection_life_values_are_checked_and_named() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("key", "k\n")?;
        jail.create_file("config.toml", SMC)?;
        jail.set_env("SMC_EXPORTER_SUBSCRIPTION__SILENCE_LIMIT", "1m");
        let e = config::load(&jail.directory().join("config.toml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "subscription.silence_limit: 1m is too short: an SMC may send nothing for about 2m on an unchanged table; use more than 2m (default 10m), or \"0s\" to turn it off (set by environment variable SMC_EXPORTER_SUBSCRIPTION__SILENCE_LIMIT)"
        );
        jail.set_env("SMC_EXPORTER_SUBSCRIPTION__SILENCE_LIMIT", "0s");
        jail.set_env("SMC_EXPORTER_SUBSCRIPTION__PING_INTERVAL", "8s");
        let e = config::load(&jail.directory().join("config.toml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "subscription.pong_timeout: 10s is not less than subscription.ping_interval (8s)"
        );
        jail.set_env("SMC_EXPORTER_SUBSCRIPTION__PONG_TIMEOUT", "2s");
        let c = config::load(&jail.directory().join("config.toml")).unwrap();
        assert_eq!(c.subscription.silence_limit, None);
        assert_eq!(c.subscription.ping_interval.as_secs(), 8);
        assert_eq!(c.subscription.pong_timeout.as_secs(), 2);
        Ok(())
    });
}

#[test]
fn env_unknown_subscription_key_is_an_error() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("key", "k\n")?;
        jail.create_file("config.toml", SMC)?;
        jail.set_env("SMC_EXPORTER_SUBSCRIPTION__BACKOF_MAX", "1m");
        let e = config::load(&jail.directory().join("config.toml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "subscription.backof_max: unknown key; did you mean `backoff_max`? (set by environment variable SMC_EXPORTER_SUBSCRIPTION__BACKOF_MAX)"
        );
        Ok(())
    });
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let e = config::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read config file: No such file or directory (os error 2)",
            path.display()
        )
    );
    assert_eq!(e.kind(), ErrorKind::Io);
}

#[test]
fn config_path_is_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let e = config::load(dir.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot read config file: Is a directory (os error 21)",
            dir.path().display()
        )
    );
}

#[test]
fn load_reports_syntax_errors_without_the_line() {
    let (dir, path) = write_dir(&format!("{SMC}api_key = \"{INLINE_KEY}\n"));
    let e = config::load(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    let msg = e
        .to_string()
        .replace(&dir.path().display().to_string(), "{dir}");
    assert!(!msg.contains(INLINE_KEY), "{msg}");
    assert!(msg.starts_with("{dir}/config.toml:7:"), "{msg}");
    assert!(msg.contains(": invalid TOML: "), "{msg}");
}

#[test]
fn api_key_env_empty() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SMC_TEST_EMPTY_KEY", "");
        let toml = smc_with(
            "api_key_file = \"key\"",
            "api_key_env = \"SMC_TEST_EMPTY_KEY\"",
        );
        assert_eq!(
            error_of(&toml),
            "smc[0].api_key_env: environment variable SMC_TEST_EMPTY_KEY is empty"
        );
        Ok(())
    });
}
