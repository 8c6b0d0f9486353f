//! The binary's command line: `--config.check` exit codes and messages,
//! `demo` printing a working /metrics URL, and a graceful SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_smc-exporter");

fn check(toml: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let out = Command::new(BIN)
        .args(["--config.check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_accepts_a_valid_file() {
    let (code, stdout, _) = check(
        "[[smc]]\nname = \"p\"\nurl = \"https://smc.example:8082\"\napi_key = \"k\"\nengines = [\"fw\"]\n",
    );
    assert_eq!(code, Some(0));
    assert!(
        stdout.ends_with("configuration is valid (1 SMC)\n"),
        "{stdout}"
    );
}

#[test]
fn config_check_rejects_with_status_2_and_one_line() {
    let (code, _, stderr) = check(
        "[[smc]]\nname = \"p\"\nurl = \"ftp://smc.example:8082\"\napi_key = \"topsecret\"\nengines = [\"fw\"]\n",
    );
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "error: smc[0].url: scheme must be http or https, not \"ftp\"\n"
    );
    assert!(!stderr.contains("topsecret"));
}

#[test]
fn missing_config_is_a_usage_error() {
    let out = Command::new(BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: no configuration: pass -c FILE (or try `smc-exporter demo`)\n"
    );
}

#[test]
fn demo_serves_metrics_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--web.listen-address",
            "127.0.0.1:0",
            "--churn",
            "50",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut metrics_url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(u) = line.trim().strip_prefix("metrics:") {
            metrics_url = Some(u.trim().to_string());
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    let url = metrics_url.expect("demo printed the metrics URL");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ready_url = url.replace("/metrics", "/-/ready");
    let body = rt.block_on(async {
        smc_exporter::smc::tls::install_default_provider();
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = http.get(&ready_url).send().await.unwrap();
            if r.status() == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "demo not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        http.get(&url).send().await.unwrap().text().await.unwrap()
    });
    assert!(
        body.contains("smc_connections{smc=\"demo\",engine="),
        "{}",
        &body[..body.len().min(2000)]
    );
    assert!(body.contains("smc_subscription_up{smc=\"demo\""));

    let started = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no exit within 5 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
