//! `--web.systemd-socket` (issue 12, item 1): the exporter serves on the
//! socket systemd passes, run under `systemd-socket-activate` (package
//! `systemd`) on a loopback port; without such a socket it exits 1 with
//! one line.

use std::time::Duration;

use smc_lab::*;

const ACTIVATE: &str = "/usr/bin/systemd-socket-activate";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_the_socket_systemd_passes() {
    assert!(
        std::path::Path::new(ACTIVATE).exists(),
        "{ACTIVATE} is missing: apt-get install systemd"
    );
    let (_dir, cfg) = crate::unreachable_smc_dir();
    // A free loopback port for the activator to bind.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let p = Proc::spawn(
        ACTIVATE,
        &[
            "-l",
            &listen,
            crate::EXPORTER,
            "-c",
            cfg.to_str().unwrap(),
            "--web.systemd-socket",
            "--log.format",
            "json",
        ],
        &[],
    );
    // The first connection starts the exporter, which answers it.
    let url = format!("http://{listen}/metrics");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let body = loop {
        match smc_lab::http::client().get(&url).send().await {
            Ok(r) if r.status() == 200 => break r.text().await.unwrap(),
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{other:?}; stderr:\n{}",
                    p.stderr()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(body.contains("smc_up{smc=\"hq\"} 0"), "{body}");
    let addr = p.metrics_addr().await;
    assert_eq!(addr.to_string(), listen);
}

#[tokio::test]
async fn without_a_passed_socket_it_exits_with_one_line() {
    let (_dir, cfg) = crate::unreachable_smc_dir();
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &["-c", cfg.to_str().unwrap(), "--web.systemd-socket"],
        &[("LISTEN_FDS", "1"), ("LISTEN_PID", "1")],
    );
    let status = p.wait_exit(Duration::from_secs(20)).await.unwrap();
    let (_, err) = p.output();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(
        err.lines().last().unwrap(),
        "error: --web.systemd-socket: no socket passed by systemd (LISTEN_FDS unset, or for another process)"
    );
}
