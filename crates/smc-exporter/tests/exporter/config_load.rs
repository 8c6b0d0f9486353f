//! Positive paths: defaults, layering, key sources, warnings, redaction and
//! the shipped example.

#![allow(
    clippy::result_large_err,
    reason = "figment::Jail closures must return figment::Result"
)]

use smc_exporter::labels::StateFamily;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};
use smc_exporter::config::{self, Config};
use smc_protocol::Definition;

const FILE_KEY: &str = "secret-key-123";

const MINIMAL: &str = r#"
[[smc]]
name = "prod"
url = "https://smc.example.com:8082"
api_key_file = "key"
engines = ["fw1", "fw2"]
"#;

fn load_str(toml: &str) -> (tempfile::TempDir, Config) {
    load_with_key_mode(toml, 0o600)
}

/// Load `toml` beside a key file of permission bits `mode`.
fn load_with_key_mode(toml: &str, mode: u32) -> (tempfile::TempDir, Config) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, format!("{FILE_KEY}\n")).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let f = Figment::from(config::defaults()).merge(Toml::file_exact(&path));
    let c = config::from_figment(f).unwrap();
    (dir, c)
}

#[test]
fn defaults_are_filled() {
    let (dir, c) = load_str(MINIMAL);
    assert_eq!(
        c.listen_address,
        smc_exporter::http::listen::ListenAddress::Addr(
            "0.0.0.0:9791".parse::<SocketAddr>().unwrap()
        )
    );
    assert_eq!(c.max_series_per_family, 10_000);
    let s = &c.subscription;
    assert_eq!(s.connect_timeout, Duration::from_secs(10));
    assert_eq!(s.backoff_initial, Duration::from_millis(500));
    assert_eq!(s.backoff_max, Duration::from_secs(60));
    assert_eq!(s.snapshot_settle, Duration::from_secs(3));
    assert_eq!(s.max_frame_bytes, 16 * 1024 * 1024);
    assert_eq!(s.ping_interval, Duration::from_secs(30));
    assert_eq!(s.pong_timeout, Duration::from_secs(10));
    assert_eq!(s.silence_limit, Some(Duration::from_secs(600)));
    assert_eq!(s.healthy_reset, Duration::from_secs(60));

    assert_eq!(c.smc.len(), 1);
    let smc = &c.smc[0];
    assert_eq!(smc.name, "prod");
    assert_eq!(smc.url.as_str(), "https://smc.example.com:8082/");
    assert_eq!(smc.api_version, None);
    assert_eq!(smc.domain, "Shared Domain");
    assert_eq!(smc.ca_file, None);
    assert!(!smc.insecure_skip_verify);
    assert_eq!(smc.engines, ["fw1", "fw2"]);
    assert_eq!(
        smc.definitions,
        Definition::engine_scoped().collect::<Vec<_>>()
    );
    assert!(smc.alert_domains.is_empty());
    for d in Definition::ALL {
        let labels: Vec<&str> = smc.group_fields(d).iter().map(|g| g.label).collect();
        assert_eq!(labels, d.default_group_by(), "{d}");
        assert!(smc.group_by.contains_key(&d), "{d}");
    }
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    drop(dir);
}

#[test]
fn everything_set_explicitly() {
    let toml = r#"
listen_address = ":9100"
max_series_per_family = 5
[subscription]
connect_timeout = "2s"
backoff_initial = "1s"
backoff_max = "1m 30s"
snapshot_settle = "250ms"
max_frame_bytes = 1024
ping_interval = "15s"
pong_timeout = "5s"
silence_limit = "0s"
healthy_reset = "2m"

[[smc]]
name = "prod"
url = "https://smc.example.com"
api_version = "7.01"
domain = "Branches"
api_key_file = "key"
ca_file = "key"
engines = ["fw1"]
definitions = ["connections", "blacklist", "SSLVPN"]
alert_domains = ["Shared Domain", "Branches"]
[smc.group_by]
CONNECTIONS = ["service", "src_zone"]
ACTIVE_ALERTS = ["severity", "node"]
ROUTING = []
"#;
    let (dir, c) = load_str(toml);
    assert_eq!(
        c.listen_address,
        smc_exporter::http::listen::ListenAddress::Any(9100)
    );
    assert_eq!(c.max_series_per_family, 5);
    assert_eq!(c.subscription.backoff_max, Duration::from_secs(90));
    assert_eq!(c.subscription.snapshot_settle, Duration::from_millis(250));
    assert_eq!(c.subscription.max_frame_bytes, 1024);
    assert_eq!(c.subscription.ping_interval, Duration::from_secs(15));
    assert_eq!(c.subscription.pong_timeout, Duration::from_secs(5));
    assert_eq!(c.subscription.silence_limit, None, "\"0s\" turns it off");
    assert_eq!(c.subscription.healthy_reset, Duration::from_secs(120));
    let smc = &c.smc[0];
    assert_eq!(smc.url.port_or_known_default(), Some(443));
    assert_eq!(smc.api_version.as_deref(), Some("7.1"));
    assert_eq!(smc.domain, "Branches");
    assert_eq!(
        smc.ca_file.as_deref(),
        Some(dir.path().join("key").as_path())
    );
    assert_eq!(
        smc.definitions,
        [
            Definition::Connections,
            Definition::BlockList,
            Definition::SslVpn
        ]
    );
    assert_eq!(smc.alert_domains, ["Shared Domain", "Branches"]);
    let labels = |d| -> Vec<&str> { smc.group_fields(d).iter().map(|g| g.label).collect() };
    assert_eq!(labels(Definition::Connections), ["service", "src_zone"]);
    assert_eq!(labels(Definition::ActiveAlerts), ["severity", "node"]);
    assert!(labels(Definition::Routing).is_empty());
    // ROUTING is configured but not subscribed: allowed, with a warning.
    assert_eq!(
        c.warnings,
        [
            "smc[0].group_by.ROUTING: ROUTING is not subscribed for this SMC; the entry has no effect"
        ]
    );
}

#[test]
fn env_overrides_top_level_and_nested_keys() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("key", "k\n")?;
        jail.create_file(
            "config.toml",
            &format!("listen_address = \"0.0.0.0:1\"\n{MINIMAL}"),
        )?;
        jail.set_env("SMC_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:9000");
        jail.set_env("SMC_EXPORTER_SUBSCRIPTION__BACKOFF_MAX", "2m");
        jail.set_env("SMC_EXPORTER_MAX_SERIES_PER_FAMILY", "42");
        // Not config keys (e.g. the binary's own flags): ignored, not errors.
        jail.set_env("SMC_EXPORTER_CONFIG", "/etc/smc-exporter.toml");
        jail.set_env("SMC_EXPORTER_SMC__0__NAME", "ignored");
        let c = config::load(&jail.directory().join("config.toml")).unwrap();
        assert_eq!(
            c.listen_address,
            smc_exporter::http::listen::ListenAddress::Addr(
                "127.0.0.1:9000".parse::<SocketAddr>().unwrap()
            )
        );
        assert_eq!(c.subscription.backoff_max, Duration::from_secs(120));
        assert_eq!(c.subscription.backoff_initial, Duration::from_millis(500));
        assert_eq!(c.max_series_per_family, 42);
        assert_eq!(c.smc[0].name, "prod");
        Ok(())
    });
}

#[test]
fn env_listen_address_forms() {
    use smc_exporter::http::listen::ListenAddress;
    // `:PORT` is every interface, IPv4 and IPv6, as for the flag.
    for (value, want) in [
        (
            "[::1]:9791",
            ListenAddress::Addr("[::1]:9791".parse().unwrap()),
        ),
        (":9100", ListenAddress::Any(9100)),
        (
            "127.0.0.1:1",
            ListenAddress::Addr("127.0.0.1:1".parse().unwrap()),
        ),
        (
            "localhost:9791",
            ListenAddress::Host("localhost".into(), 9791),
        ),
    ] {
        figment::Jail::expect_with(|jail| {
            jail.create_file("key", "k\n")?;
            jail.create_file("config.toml", MINIMAL)?;
            jail.set_env("SMC_EXPORTER_LISTEN_ADDRESS", value);
            let c = config::load(&jail.directory().join("config.toml")).unwrap();
            assert_eq!(c.listen_address, want, "{value}");
            Ok(())
        });
    }
}

#[test]
fn key_file_trailing_newline_is_trimmed() {
    let (_dir, c) = load_str(MINIMAL);
    assert_eq!(c.smc[0].api_key.expose(), FILE_KEY);
}

#[test]
fn world_readable_key_file_is_warned() {
    for mode in [0o644, 0o604, 0o666, 0o444] {
        let (dir, c) = load_with_key_mode(MINIMAL, mode);
        let key = dir.path().join("key");
        assert_eq!(
            c.warnings,
            [format!(
                "smc[0].api_key_file: {} is readable by every user of this host (mode {mode:04o}); restrict it, e.g. chmod 600 {}",
                key.display(),
                key.display()
            )],
            "mode {mode:o}"
        );
        assert_eq!(c.smc[0].api_key.expose(), FILE_KEY);
    }
}

/// Owner-only, and group-readable (the shipped Kubernetes manifest mounts
/// the key 0440 with `fsGroup`; `root:group 0640` is the usual systemd way).
#[test]
fn owner_or_group_readable_key_file_is_not_warned() {
    for mode in [0o600, 0o400, 0o640, 0o440] {
        let (_dir, c) = load_with_key_mode(MINIMAL, mode);
        assert!(c.warnings.is_empty(), "mode {mode:o}: {:?}", c.warnings);
    }
}

#[test]
fn key_from_env() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SMC_TEST_PROD_KEY", "env-key-9\n");
        let toml = MINIMAL.replace(
            "api_key_file = \"key\"",
            "api_key_env = \"SMC_TEST_PROD_KEY\"",
        );
        let (_dir, c) = load_str(&toml);
        assert_eq!(c.smc[0].api_key.expose(), "env-key-9");
        assert!(c.warnings.is_empty());
        Ok(())
    });
}

#[test]
fn inline_key_is_allowed_with_a_warning() {
    let toml = MINIMAL.replace("api_key_file = \"key\"", "api_key = \"inline-key-7\"");
    let (_dir, c) = load_str(&toml);
    assert_eq!(c.smc[0].api_key.expose(), "inline-key-7");
    assert_eq!(
        c.warnings,
        ["smc[0].api_key: API key inline in the config file; prefer api_key_file or api_key_env"]
    );
}

#[test]
fn insecure_skip_verify_warns_loudly() {
    let toml = format!("{MINIMAL}insecure_skip_verify = true\n");
    let (_dir, c) = load_str(&toml);
    assert!(c.smc[0].insecure_skip_verify);
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].starts_with(
            "smc[0].insecure_skip_verify: TLS CERTIFICATE VERIFICATION IS DISABLED for SMC \"prod\""
        ),
        "{}",
        c.warnings[0]
    );
}

#[test]
fn debug_never_shows_the_key() {
    let toml = MINIMAL.replace("api_key_file = \"key\"", "api_key = \"inline-key-7\"");
    let (_dir, c) = load_str(&toml);
    let dbg = format!("{c:?} {c:#?}");
    assert!(!dbg.contains("inline-key-7"));
    assert!(dbg.contains("<redacted>"));
    for w in &c.warnings {
        assert!(!w.contains("inline-key-7"));
    }
    let (_dir, c) = load_str(MINIMAL);
    assert!(!format!("{c:?}").contains(FILE_KEY));
}

fn example_path() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("config.example.toml")
}

#[test]
fn example_config_loads() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SMC_API_KEY", "example-key");
        let c = config::load(&example_path()).unwrap();
        assert_eq!(
            c.listen_address,
            smc_exporter::http::listen::ListenAddress::Addr(
                "0.0.0.0:9791".parse::<SocketAddr>().unwrap()
            )
        );
        assert_eq!(c.max_series_per_family, 10_000);
        assert_eq!(c.smc.len(), 1);
        let smc = &c.smc[0];
        assert_eq!(smc.api_key.expose(), "example-key");
        assert_eq!(
            smc.definitions,
            Definition::engine_scoped().collect::<Vec<_>>()
        );
        assert_eq!(smc.alert_domains, ["Shared Domain"]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        Ok(())
    });
}

/// The example's `group_by` table documents the defaults and allowed labels;
/// keep it in step with the model.
#[test]
fn example_documents_every_groupable_label() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    for d in Definition::ALL {
        let row = text
            .lines()
            .find(|l| {
                l.trim_start_matches('#').split_whitespace().next() == Some(d.wire_name(false))
            })
            .unwrap_or_else(|| panic!("no row for {d}"));
        let cols: Vec<&str> = row
            .trim_start_matches('#')
            .split("  ")
            .filter(|c| !c.trim().is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(cols.len(), 3, "{row}");
        assert_eq!(cols[1], d.default_group_by().join(", "), "{d}");
        let allowed: Vec<&str> = d.groupable().iter().map(|g| g.label).collect();
        assert_eq!(cols[2], allowed.join(" "), "{d}");
    }
}

#[test]
fn engines_may_be_omitted_for_discovery_with_anchored_filters() {
    let toml = MINIMAL.replace(
        "engines = [\"fw1\", \"fw2\"]",
        "engines_match = \"fw-.*\"\nengines_exclude = \"fw-lab\\\\d\"\ndiscovery_interval = \"30s\"",
    );
    let (_dir, c) = load_str(&toml);
    let s = &c.smc[0];
    assert!(s.discovers_engines());
    assert!(s.alert_domains.is_empty());
    assert_eq!(s.discovery_interval, Duration::from_secs(30));
    // Both regexes match the whole name.
    assert!(s.engine_selected("fw-001"));
    assert!(!s.engine_selected("xfw-001"));
    assert!(!s.engine_selected("fw-lab1"));
    assert!(s.engine_selected("fw-lab12"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Default interval: 5 minutes.
    let (_dir, c) = load_str(&MINIMAL.replace("engines = [\"fw1\", \"fw2\"]", ""));
    assert_eq!(c.smc[0].discovery_interval, Duration::from_secs(300));
    assert!(c.smc[0].engine_selected("anything"));
}

#[test]
fn engine_filters_beside_a_listed_engines_are_warned() {
    let (_dir, c) = load_str(&format!("{MINIMAL}engines_match = \"fw1\"\n"));
    assert_eq!(
        c.warnings,
        [
            "smc[0].engines_match: has no effect: engines is listed, so the SMC's engines are not discovered"
        ]
    );
}

#[test]
fn filters_are_kept_in_the_json_form_the_query_sends() {
    let toml = format!(
        "{MINIMAL}definitions = [\"CONNECTIONS\", \"VPN_SA\"]\n\
         [smc.filters]\n\
         CONNECTIONS = '$Service == \"HTTP\" AND $Dst IN union(ipv4_net(\"10.0.0.0/8\"))'\n\
         ROUTING = \"$Dport == 22\"\n\
         [smc.filters.VPN_SA]\n\
         type = \"in\"\n\
         left = {{ type = \"field\", id = 7 }}\n\
         right = [{{ type = \"ip\", value = \"10.0.0.1\" }}]\n"
    );
    let (_dir, c) = load_str(&toml);
    let smc = &c.smc[0];
    assert_eq!(
        smc.filter(Definition::Connections).as_deref(),
        Some(&serde_json::json!({
            "type": "translated",
            "value": "$Service == \"HTTP\" AND $Dst IN union(ipv4_net(\"10.0.0.0/8\"))"
        }))
    );
    assert_eq!(
        smc.filter(Definition::VpnSa).as_deref(),
        Some(&serde_json::json!({
            "type": "in",
            "left": {"type": "field", "id": 7},
            "right": [{"type": "ip", "value": "10.0.0.1"}]
        }))
    );
    assert_eq!(smc.filter(Definition::Users), None);
    assert_eq!(
        c.warnings,
        ["smc[0].filters.ROUTING: ROUTING is not subscribed for this SMC; the entry has no effect"]
    );
}
