//! `--web.listen-address` repeated, `--web.telemetry-path` and
//! `--web.max-requests` on the real binary (issue 12, item 1). Loopback only.

use std::time::Duration;

use smc_lab::*;

/// The addresses of the "serving /metrics" lines, once there are `n`.
async fn serving(p: &Proc, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let addrs: Vec<String> = p
            .json_logs()
            .iter()
            .filter(|v| v["msg"] == "serving /metrics")
            .map(|v| v["addr"].as_str().unwrap().to_string())
            .collect();
        if addrs.len() >= n {
            return addrs;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", p.stderr());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listen_address_serves_the_telemetry_path() {
    let (_dir, cfg) = crate::unreachable_smc_dir();
    let p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.listen-address",
            "[::1]:0",
            "--web.telemetry-path",
            "/smc/metrics",
            "--web.max-requests",
            "3",
            "--log.format",
            "json",
        ],
        &[],
    );
    let addrs = serving(&p, 2).await;
    assert!(addrs[0].starts_with("127.0.0.1:"), "{addrs:?}");
    assert!(addrs[1].starts_with("[::1]:"), "{addrs:?}");
    for a in &addrs {
        let (status, body) = http_get(&format!("http://{a}/smc/metrics")).await;
        assert_eq!(status, 200, "{a}");
        assert!(body.contains("smc_up{smc=\"hq\"} 0"), "{body}");
        assert_eq!(http_get(&format!("http://{a}/metrics")).await.0, 404);
        let (status, page) = http_get(&format!("http://{a}/")).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("<a href=\"/smc/metrics\">/smc/metrics</a>"),
            "{page}"
        );
    }
}

/// The binary with `args` and a valid config; (exit code, stderr).
async fn run(args: &[&str]) -> (Option<i32>, String) {
    let (_dir, cfg) = crate::unreachable_smc_dir();
    let mut all = vec!["-c", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut p = Proc::spawn(crate::EXPORTER, &all, &[]);
    let status = p.wait_exit(Duration::from_secs(20)).await.unwrap();
    (status.code(), p.output().1)
}

#[tokio::test]
async fn bad_listen_addresses_and_paths_exit_2_with_the_reason() {
    let cases = [
        (
            &["--web.listen-address", "9791"][..],
            "error: invalid value '9791' for '--web.listen-address <HOST:PORT>': \"9791\": \
             expected :PORT, HOST:PORT, IP:PORT or [IPv6]:PORT (e.g. \":9791\")",
        ),
        (
            &["--web.listen-address", "::1:9791"][..],
            "error: invalid value '::1:9791' for '--web.listen-address <HOST:PORT>': \
             \"::1:9791\": an IPv6 address goes in brackets: [IPv6]:PORT",
        ),
        (
            &["--web.listen-address", ":99999"][..],
            "error: invalid value ':99999' for '--web.listen-address <HOST:PORT>': \
             \":99999\": port \"99999\" is not a number from 0 to 65535",
        ),
        (
            &["--web.telemetry-path", "metrics"][..],
            "error: invalid value 'metrics' for '--web.telemetry-path <PATH>': \"metrics\": \
             expected a path such as /metrics",
        ),
        (
            &["--web.telemetry-path", "/-/ready"][..],
            "error: invalid value '/-/ready' for '--web.telemetry-path <PATH>': \"/-/ready\": \
             that path is another endpoint's",
        ),
    ];
    for (args, want) in cases {
        let (code, err) = run(args).await;
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().next(), Some(want), "{args:?}");
    }
}
