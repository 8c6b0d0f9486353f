//! The API key and every session id the SMC issued (cookie value or token)
//! appear nowhere: not in the logs at trace level (text or JSON), not on
//! stdout, not in `/metrics`, `/`, `/-/ready`, `/-/healthy`, and not in any
//! error message (`--config.check` on bad configs, a refused login).
//!
//! The real binary runs against the simulator with churn and a forced
//! re-login; the simulator lists every session it issued (`GET /sim/sessions`).

use std::time::Duration;

use smc_lab::*;
use smc_sim::{SimOptions, SimServer};
use tokio::time::Instant;

/// Distinctive keys, so a hit cannot be a coincidence.
const FILE_KEY: &str = "FileKey-7c1d2e3f4a5b6c7d8e9f";
const ENV_KEY: &str = "EnvKey-0a9b8c7d6e5f4a3b2c1d";
const WRONG_KEY: &str = "WrongKey-5e4d3c2b1a0f9e8d";

#[derive(Clone, Copy)]
enum KeySource {
    File,
    Env,
}

fn config_text(sim: &SimServer, source: KeySource) -> String {
    let w = sim.world_info();
    let key_line = match source {
        KeySource::File => "api_key_file = \"key\"".to_string(),
        KeySource::Env => "api_key_env = \"SMC_TEST_API_KEY\"".to_string(),
    };
    format!(
        r#"
[subscription]
backoff_initial = "20ms"
backoff_max = "300ms"
snapshot_settle = "300ms"

[[smc]]
name = "sim"
url = "{}"
{key_line}
engines = {:?}
alert_domains = {:?}
"#,
        sim.url(),
        &w.engines[..4.min(w.engines.len())],
        w.alert_domains
    )
}

/// Every place a secret could surface, with what it is called.
struct Surfaces(Vec<(String, String)>);

impl Surfaces {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }

    fn assert_free_of(&self, secrets: &[String]) {
        for secret in secrets {
            assert!(secret.len() >= 16, "too short to search for: {secret:?}");
            for (what, text) in &self.0 {
                if let Some(i) = text.find(secret.as_str()) {
                    let from = text[..i].rfind('\n').map_or(0, |n| n + 1);
                    let to = text[i..].find('\n').map_or(text.len(), |n| i + n);
                    panic!("secret {secret:?} appears in {what}:\n{}", &text[from..to]);
                }
            }
        }
    }
}

async fn run_against_sim(token_auth: bool, source: KeySource, format: &str) {
    let key = match source {
        KeySource::File => FILE_KEY,
        KeySource::Env => ENV_KEY,
    };
    let sim = start_sim(SimOptions {
        seed: 31,
        api_key: Some(key.to_string()),
        token_auth,
        churn_per_second: 50.0,
        ..SimOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), format!("{FILE_KEY}\n")).unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, config_text(&sim, source)).unwrap();
    let cfg = cfg.display().to_string();
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            &cfg,
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            "trace",
            "--log.format",
            format,
        ],
        &[("SMC_TEST_API_KEY", ENV_KEY)],
    );
    let addr = p.metrics_addr().await;
    wait_ready(addr, Duration::from_secs(20)).await;

    // Churn flows; then the SMC forgets the session and drops the sockets:
    // every subscription is refused once and the exporter logs in again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.expire_sessions(), 1);
    sim.drop_connections();
    // A bound, not a wait: under a loaded CI machine (trace logging of
    // every frame) the re-login and the resync of every subscription once
    // took more than 20 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = http_get(&format!("http://{addr}/metrics")).await.1;
        let s = parse_samples(&body);
        let per_sub = |name: &str| -> Vec<f64> {
            s.iter()
                .filter(|((n, _), _)| n == name)
                .map(|(_, v)| *v)
                .collect()
        };
        let ups = per_sub("smc_subscription_up");
        let resynced = per_sub("smc_subscription_snapshots_total")
            .iter()
            .all(|n| *n >= 2.0);
        if sum_where(&s, "smc_logins_total", ("smc", "sim")) == 2.0
            && !ups.is_empty()
            && ups.iter().all(|v| *v == 1.0)
            && resynced
        {
            break;
        }
        assert!(Instant::now() < deadline, "no re-login and resync: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_ready(addr, Duration::from_secs(20)).await;

    let mut surfaces = Surfaces(Vec::new());
    for path in ["/metrics", "/", "/-/ready", "/-/healthy"] {
        let (_, body) = http_get(&format!("http://{addr}{path}")).await;
        surfaces.add(format!("GET {path}"), body);
    }
    let metrics = &surfaces.0[0].1;
    assert!(metrics.contains("smc_logins_total"), "{metrics}");

    p.sigterm();
    let status = p.wait_exit(Duration::from_secs(5)).await.expect("exits");
    assert!(status.success(), "{status:?}");
    let (stdout, stderr) = p.output();
    // The logs really are at trace level, including the HTTP and WebSocket
    // libraries that handled the secrets.
    let trace = if format == "json" {
        r#""level":"trace""#
    } else {
        " TRACE "
    };
    for needle in [trace, "logged in", "logged out", "hyper", "tungstenite"] {
        assert!(stderr.contains(needle), "stderr lacks {needle}");
    }
    surfaces.add("stdout", stdout);
    surfaces.add("stderr", stderr);

    let sessions = sim.sessions();
    assert_eq!(sessions.expired.len(), 1, "{sessions:?}");
    assert_eq!(sessions.logged_out.len(), 1, "{sessions:?}");
    assert_eq!(sessions.live.len(), 0, "{sessions:?}");
    let mut secrets = vec![key.to_string()];
    secrets.extend(sessions.expired);
    secrets.extend(sessions.logged_out);
    surfaces.assert_free_of(&secrets);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_mode_key_from_file_trace_text() {
    run_against_sim(false, KeySource::File, "text").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_mode_key_from_env_trace_json() {
    run_against_sim(true, KeySource::Env, "json").await;
}

/// `--config.check` on configs that hold the key (inline, in a file, in the
/// environment, or pasted where a variable name belongs) and have a mistake:
/// exit status 2, one error line, and the key in neither stream.
#[test]
fn config_check_errors_never_show_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), format!("{FILE_KEY}\n")).unwrap();
    std::fs::write(
        dir.path().join("two-lines.key"),
        format!("{FILE_KEY}\n{FILE_KEY}\n"),
    )
    .unwrap();
    let smc = |key_line: &str, extra: &str| {
        format!(
            "[[smc]]\nname = \"prod\"\nurl = \"https://smc.example.com:8082\"\n{key_line}\nengines = [\"fw1\"]\n{extra}"
        )
    };
    let inline = format!("api_key = \"{ENV_KEY}\"");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key next to an inline key",
            smc(&inline, "engnes = [\"fw2\"]\n"),
            "error: smc[0].engnes: unknown key; did you mean `engines`?",
        ),
        (
            "two key sources",
            smc(&format!("{inline}\napi_key_file = \"key\""), ""),
            "error: smc[0]: api_key_file and api_key are both set; set exactly one API key source",
        ),
        (
            "unterminated inline key",
            smc(&format!("api_key = \"{ENV_KEY}"), ""),
            "error: {dir}/config.toml:4:39: invalid TOML: invalid basic string, expected `\"`",
        ),
        (
            "inline key in an array",
            smc(&format!("api_key = [\"{ENV_KEY}\"]"), ""),
            "error: smc[0].api_key: expected a string, found array",
        ),
        (
            "key pasted as the variable name",
            smc(&format!("api_key_env = \"{ENV_KEY}\""), ""),
            "error: smc[0].api_key_env: is not an environment variable name (letters, digits and _, not starting with a digit); give the name of the variable that holds the key, not the key",
        ),
        (
            "key file with two lines",
            smc("api_key_file = \"two-lines.key\"", ""),
            "error: smc[0].api_key_file: {dir}/two-lines.key has more than one line; it must hold only the API key",
        ),
        (
            "key from the environment, bad url",
            smc("api_key_env = \"SMC_TEST_API_KEY\"", "")
                .replace("https://smc.example.com:8082", "ftp://smc.example.com"),
            "error: smc[0].url: scheme must be http or https, not \"ftp\"",
        ),
        (
            "key from a file, bad duration",
            format!(
                "[subscription]\nping_interval = \"5s\"\n{}",
                smc("api_key_file = \"key\"", "")
            ),
            "error: subscription.pong_timeout: 10s is not less than subscription.ping_interval (5s)",
        ),
    ];
    let path = dir.path().join("config.toml");
    let dir_text = dir.path().display().to_string();
    for (what, toml, want) in cases {
        std::fs::write(&path, toml).unwrap();
        let out = std::process::Command::new(crate::EXPORTER)
            .args(["--config.check", "-c"])
            .arg(&path)
            .env("SMC_TEST_API_KEY", ENV_KEY)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(
            stderr.trim_end().replace(&dir_text, "{dir}"),
            want,
            "{what}"
        );
        for secret in [FILE_KEY, ENV_KEY] {
            assert!(!stdout.contains(secret), "{what}: key on stdout: {stdout}");
            assert!(!stderr.contains(secret), "{what}: key on stderr: {stderr}");
        }
    }

    // A valid config with an inline key: the warning names the key path only.
    std::fs::write(&path, smc(&inline, "")).unwrap();
    let out = std::process::Command::new(crate::EXPORTER)
        .args(["--config.check", "--log.level", "trace", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("smc[0].api_key: API key inline in the config file"),
        "{stderr}"
    );
    assert!(!stdout.contains(ENV_KEY) && !stderr.contains(ENV_KEY));
}

/// A refused login (wrong key): the warn lines and /metrics name the failure,
/// never the key that was refused nor the right one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_login_errors_do_not_show_keys() {
    let sim = start_sim(SimOptions {
        seed: 32,
        api_key: Some(FILE_KEY.to_string()),
        ..SimOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), format!("{WRONG_KEY}\n")).unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, config_text(&sim, KeySource::File)).unwrap();
    let cfg = cfg.display().to_string();
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            &cfg,
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            "trace",
            "--log.format",
            "json",
        ],
        &[],
    );
    let addr = p.metrics_addr().await;
    let warn = p
        .wait_log(Duration::from_secs(10), |v| {
            v["level"] == "warn" && v["reason"] == "login_failed"
        })
        .await;
    assert_eq!(
        warn["detail"],
        format!("login to {}/7.1/login failed: HTTP status 401", sim.url())
    );
    let mut surfaces = Surfaces(Vec::new());
    for path in ["/metrics", "/", "/-/ready"] {
        let (_, body) = http_get(&format!("http://{addr}{path}")).await;
        surfaces.add(format!("GET {path}"), body);
    }
    p.sigterm();
    assert!(p.wait_exit(Duration::from_secs(5)).await.is_some());
    let (stdout, stderr) = p.output();
    surfaces.add("stdout", stdout);
    surfaces.add("stderr", stderr);
    surfaces.assert_free_of(&[WRONG_KEY.to_string(), FILE_KEY.to_string()]);
    assert_eq!(sim.sessions(), Default::default(), "no session was issued");
    sim.shutdown().await;
}
