//! The `smc-lab demo` command line: it prints a working /metrics URL,
//! serves the demo SMC's state, and stops gracefully on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_serves_metrics_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smc-lab"))
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
        let http = smc_lab::http::client();
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
