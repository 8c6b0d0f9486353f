//! SIGHUP (issue 8, item 9; issue 11): the daemon reloads its configuration
//! and keeps serving; SIGTERM afterwards still stops it with a logout and
//! exit status 0. (Before issue 8: SIGHUP's default action killed it, exit
//! 129, no logout.) What a reload changes is tested in `reload.rs`.

use std::time::Duration;

use smc_lab::*;
use smc_sim::SimOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_the_daemon_keeps_serving() {
    let sim = start_sim(SimOptions {
        seed: 9,
        ..SimOptions::default()
    })
    .await;
    let w = sim.world_info();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), &w.api_key).unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[subscription]
snapshot_settle = "300ms"

[[smc]]
name = "sim"
url = "{}"
api_key_file = "key"
engines = {:?}
definitions = ["CONNECTIONS"]
"#,
            sim.url(),
            &w.engines[..1]
        ),
    )
    .unwrap();
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            "json",
        ],
        &[],
    );
    let addr = p.metrics_addr().await;
    wait_ready(addr, Duration::from_secs(20)).await;
    let live = sim.sessions().live;
    assert_eq!(live.len(), 1);

    let is_hup =
        |v: &serde_json::Value| v["level"] == "info" && v["msg"] == "configuration reloaded";
    for n in 1..=2 {
        p.signal(smc_lab::Signal::HUP);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while p.json_logs().iter().filter(|v| is_hup(v)).count() < n {
            if let Some(status) = p.wait_exit(Duration::ZERO).await {
                panic!("SIGHUP {n} ended the exporter: {status:?}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "SIGHUP {n} not logged; stderr:\n{}",
                p.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Still serving, same session.
        assert_eq!(http_get(&format!("http://{addr}/-/ready")).await.0, 200);
        assert!(p.wait_exit(Duration::ZERO).await.is_none());
        assert_eq!(sim.sessions().live, live);
    }

    // Signals that would end the process without a logout by default.
    for (sig, name) in [
        (smc_lab::Signal::USR1, "SIGUSR1"),
        (smc_lab::Signal::USR2, "SIGUSR2"),
        (smc_lab::Signal::ALARM, "SIGALRM"),
    ] {
        p.signal(sig);
        let line = format!("{name} received: ignored (SIGTERM stops, SIGHUP reloads)");
        p.wait_log(Duration::from_secs(10), |v| v["msg"] == line.as_str())
            .await;
        assert!(
            p.wait_exit(Duration::ZERO).await.is_none(),
            "{name} ended it"
        );
        assert_eq!(sim.sessions().live, live);
    }

    // SIGQUIT stops like SIGTERM.
    p.signal(smc_lab::Signal::QUIT);
    let status = p
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exited within 5 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    let sessions = sim.sessions();
    assert_eq!(sessions.logged_out, live, "the session was logged out");
    assert_eq!(sessions.live, Vec::<String>::new());
    sim.shutdown().await;
}
