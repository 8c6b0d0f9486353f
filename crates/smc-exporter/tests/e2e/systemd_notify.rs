//! systemd's notify protocol (issue 12, item 3), with a fake
//! `NOTIFY_SOCKET`: the real binary says `READY=1` once its snapshots are in
//! (with a `STATUS=` saying so), pings `WATCHDOG=1` at half of
//! `WATCHDOG_USEC`, wraps a SIGHUP reload in `RELOADING=1` … `READY=1`,
//! and says `STOPPING=1` at SIGTERM. (Before: the unit was `Type=exec` and
//! the exporter sent nothing.)

use std::time::Duration;

use smc_lab::*;
use smc_sim::SimOptions;
use tokio::net::UnixDatagram;

/// Bound of every wait in this file.
const WAIT: Duration = Duration::from_secs(20);

/// The next datagram that contains `needle`, skipping `WATCHDOG=1` pings
/// (counted into `pings`).
async fn next_with(sock: &UnixDatagram, needle: &str, pings: &mut usize) -> String {
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no notification with {needle:?} within {WAIT:?}"))
            .unwrap();
        let msg = String::from_utf8(buf[..n].to_vec()).unwrap();
        if msg == "WATCHDOG=1\n" {
            *pings += 1;
        }
        if msg.contains(needle) {
            return msg;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_watchdog_reloading_and_stopping_reach_systemd() {
    let sim = start_sim(SimOptions {
        seed: 16,
        ..SimOptions::default()
    })
    .await;
    let w = sim.world_info();
    let (dir, cfg) = crate::config_dir(
        &sim,
        &format!(
            "[subscription]\nsnapshot_settle = \"300ms\"\n\n[[smc]]\nname = \"sim\"\nurl = \"{}\"\napi_key_file = \"key\"\nengines = {:?}\ndefinitions = [\"CONNECTIONS\"]\n",
            sim.url(),
            &w.engines[..2]
        ),
    );
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    // systemd names the pid the watchdog is for; `sh` learns its own pid
    // and execs the exporter into it.
    let p = Proc::spawn(
        "/bin/sh",
        &[
            "-c",
            "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
            crate::EXPORTER,
            "-c",
            cfg.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut pings = 0;
    let ready = next_with(&sock, "READY=1", &mut pings).await;
    assert_eq!(
        ready,
        "READY=1\nSTATUS=serving 2 subscriptions, every first snapshot in\n"
    );
    let addr = p.metrics_addr().await;
    assert_eq!(http_get(&format!("http://{addr}/-/ready")).await.0, 200);

    let before = pings;
    let deadline = tokio::time::Instant::now() + WAIT;
    while pings < before + 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "watchdog pings stopped"
        );
        next_with(&sock, "WATCHDOG=1", &mut pings).await;
    }

    p.signal(Signal::HUP);
    let reloading = next_with(&sock, "RELOADING=1", &mut pings).await;
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    assert!(
        reloading.ends_with("\nSTATUS=reloading the configuration\n"),
        "{reloading:?}"
    );
    let again = next_with(&sock, "READY=1", &mut pings).await;
    assert_eq!(again, "READY=1\nSTATUS=configuration reloaded\n");

    p.sigterm();
    let stopping = next_with(&sock, "STOPPING=1", &mut pings).await;
    assert_eq!(
        stopping,
        "STOPPING=1\nSTATUS=stopping: closing sockets, logging out\n"
    );
    sim.shutdown().await;
}
