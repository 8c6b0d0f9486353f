//! The SPS poller against the fake appliance of `sps_fake`: login, the
//! cookie re-login after a 401, paging until `next` is null, a window over
//! 10,000 split, 429 with Retry-After, a 500 keeping gauges and watermark,
//! a 403 group skipped; and `Exporter::start` with only `[[sps]]`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smc_exporter::config::{Config, SpsConfig};
use smc_exporter::metrics::{Format, render_with};
use smc_exporter::sps::client::ClientError;
use smc_exporter::sps::ledger::Ledger;
use smc_exporter::sps::poll::{Outcome, Poller};
use smc_exporter::state::Store;
use smc_exporter::state::sps::SpsState;

use crate::sps_fake::{self, Session, Shared, World, count, t};

fn config(addr: std::net::SocketAddr, dir: &std::path::Path, extra: &str) -> Config {
    let pw = dir.join("pw");
    std::fs::write(&pw, format!("{}\n", sps_fake::PASSWORD)).unwrap();
    let toml = format!(
        "[[sps]]\nname = \"pam\"\nurl = \"http://{addr}\"\nusername = \"{}\"\npassword_file = {:?}\npoll_interval = \"30s\"\n{extra}",
        sps_fake::USER,
        pw.display().to_string()
    );
    let path = dir.join("c.toml");
    std::fs::write(&path, toml).unwrap();
    smc_exporter::config::load(&path).unwrap()
}

/// `n` sessions starting 1 ms apart from 09:56, every third closed with two alerts.
fn sessions(n: usize) -> Vec<Session> {
    (0..n)
        .map(|i| Session {
            key: format!("s{i:06}"),
            start: t("2026-12-01T09:56:00Z").plus_micros(i as i64 * 1000),
            active: i % 3 != 0,
            protocol: if i % 2 == 0 { "SSH" } else { "RDP" },
            policy: "prod",
            verdict: "ACCEPT",
            duration: 42.0,
            score: Some(55),
            alerts: if i % 3 == 0 {
                vec![("adp.event.command", "r1"), ("adp.event.command", "r1")]
            } else {
                vec![]
            },
        })
        .collect()
}

async fn setup(
    n: usize,
    extra: &str,
) -> (Shared, Poller, Arc<SpsState>, SpsConfig, tempfile::TempDir) {
    let world: Shared = Arc::new(Mutex::new(World {
        sessions: sessions(n),
        ..World::default()
    }));
    let addr = sps_fake::serve(world.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(addr, dir.path(), extra).sps[0].clone();
    let state = Arc::new(SpsState::new("pam"));
    let poller = Poller::new(cfg.clone(), state.clone(), Ledger::default()).unwrap();
    (world, poller, state, cfg, dir)
}

fn total(f: &smc_exporter::sps::ledger::CounterFamily) -> u64 {
    f.0.values().sum()
}

fn render(state: &Arc<SpsState>) -> String {
    let store = Store {
        sps: vec![state.clone()],
        ..Store::default()
    };
    render_with(&store, Format::Text, &crate::fixture::GOLDEN)
}

#[tokio::test]
async fn login_paging_counting_and_alerts() {
    let (world, mut poller, state, _cfg, _dir) = setup(1200, "").await;
    assert!(matches!(poller.cycle().await, Outcome::Done));
    let l = poller.ledger();
    assert_eq!(l.counting_since, Some(t("2026-12-01T09:55:00Z")));
    assert_eq!(total(&l.counters.started), 1200);
    assert_eq!(total(&l.counters.closed), 400);
    assert_eq!(total(&l.counters.alerts), 800);
    assert_eq!(l.tracked.len(), 800);
    assert_eq!(count(&world, "authentication", 200), 1);
    // 1200 sessions = 3 pages of 500, then next is null.
    assert_eq!(count(&world, "sessions", 200), 3);
    assert_eq!(
        l.watermark,
        Some(t("2026-12-01T09:56:00Z").plus_micros(1199 * 1000))
    );
    // A second cycle: the overlap returns nothing new; nothing double counts.
    assert!(matches!(poller.cycle().await, Outcome::Done));
    let l = poller.ledger();
    assert_eq!(total(&l.counters.started), 1200);
    assert_eq!(total(&l.counters.closed), 400);
    assert_eq!(total(&l.counters.alerts), 800);
    // The active ones are refreshed each cycle.
    assert_eq!(count(&world, "session", 200), 1600);
    // Sessions close and get alerts: counted once each.
    {
        let mut w = world.lock().unwrap();
        for s in w.sessions.iter_mut().filter(|s| s.active).take(10) {
            s.active = false;
        }
    }
    assert!(matches!(poller.cycle().await, Outcome::Done));
    assert_eq!(total(&poller.ledger().counters.closed), 410);
    assert_eq!(poller.ledger().tracked.len(), 790);
    let text = render(&state);
    assert!(text.contains("sps_up{sps=\"pam\"} 1\n"), "{text}");
    assert!(text.contains("sps_info{sps=\"pam\",firmware_version=\"7.5.1\"} 1\n"));
    assert!(text.contains("sps_raid_ok{sps=\"pam\"} 1\n"));
    assert!(
        text.contains(
            "sps_session_duration_seconds_bucket{le=\"60.0\",sps=\"pam\",protocol=\"SSH\"}"
        )
    );
    assert!(text.contains("sps_logins_total{sps=\"pam\",result=\"success\"} 1\n"));
    assert!(!text.contains("SECRET"));
    assert!(!text.contains(sps_fake::PASSWORD));
    let uas = world.lock().unwrap().user_agents.clone();
    assert_eq!(
        uas.into_iter().collect::<Vec<_>>(),
        [format!("smc-exporter/{}", env!("CARGO_PKG_VERSION"))]
    );
}

#[tokio::test]
async fn expired_cookie_relogs_in_once_and_retries() {
    let (world, mut poller, state, _cfg, _dir) = setup(10, "").await;
    assert!(matches!(poller.cycle().await, Outcome::Done));
    world.lock().unwrap().cookies.clear();
    assert!(matches!(poller.cycle().await, Outcome::Done));
    assert_eq!(count(&world, "authentication", 200), 2);
    assert_eq!(count(&world, "health_status", 401), 1);
    assert_eq!(state.view().logins, [2, 0]);
    assert_eq!(total(&poller.ledger().counters.started), 10);
}

#[tokio::test]
async fn bad_password_is_a_login_failure() {
    let (world, _p, _state, mut cfg, _dir) = setup(1, "").await;
    cfg.password = smc_exporter::config::Secret::new("wrong");
    let state = Arc::new(SpsState::new("pam"));
    let mut poller = Poller::new(cfg, state.clone(), Ledger::default()).unwrap();
    let o = poller.cycle().await;
    assert!(matches!(o, Outcome::LoginFailed(_)), "{o:?}");
    if let Outcome::LoginFailed(e) = o {
        assert!(!e.to_string().contains("wrong"));
    }
    assert_eq!(count(&world, "authentication", 401), 1);
    assert_eq!(state.view().logins, [0, 1]);
    assert!(!state.view().up);
}

#[tokio::test]
async fn a_window_over_10000_is_split_and_counted_exactly() {
    // Only 50 followed: the others are seen closed at once and counted all the same.
    let (world, mut poller, state, _cfg, _dir) = setup(10_050, "max_tracked_sessions = 50").await;
    world.lock().unwrap().sessions.iter_mut().for_each(|s| {
        s.active = false;
        s.alerts.clear();
    });
    assert!(matches!(poller.cycle().await, Outcome::Done));
    let l = poller.ledger();
    assert_eq!(total(&l.counters.started), 10_050);
    assert_eq!(total(&l.counters.closed), 10_050);
    // [09:53, 10:00] (the sessions lie in 09:56:00-09:56:10.05) halves four
    // times before both halves of [09:55:37.5, 09:56:30] are under 10,000.
    assert_eq!(l.counters.window_splits, 4);
    assert!(render(&state).contains("sps_window_splits_total{sps=\"pam\"} 4\n"));
}

#[tokio::test]
async fn rate_limited_honours_retry_after_and_500_keeps_gauges_and_watermark() {
    let (world, mut poller, state, _cfg, _dir) = setup(5, "").await;
    assert!(matches!(poller.cycle().await, Outcome::Done));
    let watermark = poller.ledger().watermark;
    let health = state.view().health.clone();
    assert!(health.is_some());
    world.lock().unwrap().faults.push((429, Some(7)));
    match poller.cycle().await {
        Outcome::Failed(ClientError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        o => panic!("{o:?}"),
    }
    world
        .lock()
        .unwrap()
        .sessions
        .extend(sessions(8).into_iter().skip(5).map(|mut s| {
            s.key = format!("new-{}", s.key);
            s
        }));
    world
        .lock()
        .unwrap()
        .faults
        .extend([(200, None), (200, None)]);
    world.lock().unwrap().faults.clear();
    world.lock().unwrap().faults.push((500, None));
    assert!(matches!(
        poller.cycle().await,
        Outcome::Failed(ClientError::Server { status: 500, .. })
    ));
    assert!(!state.view().up);
    assert_eq!(state.view().health, health);
    assert_eq!(poller.ledger().watermark, watermark);
    let text = render(&state);
    assert!(text.contains("sps_up{sps=\"pam\"} 0\n"));
    assert!(text.contains("sps_cpu_usage_percent{sps=\"pam\"} 12.0\n"));
    assert!(
        text.contains(
            "sps_api_errors_total{sps=\"pam\",endpoint=\"health_status\",kind=\"server\"} 1\n"
        ),
        "{text}"
    );
    assert!(text.contains(
        "sps_api_errors_total{sps=\"pam\",endpoint=\"health_status\",kind=\"rate_limited\"} 1\n"
    ));
    assert!(matches!(poller.cycle().await, Outcome::Done));
    assert_eq!(total(&poller.ledger().counters.started), 8);
}

#[tokio::test]
async fn forbidden_group_is_skipped() {
    let (world, mut poller, state, _cfg, _dir) = setup(4, "").await;
    world.lock().unwrap().forbid.insert("health_status");
    assert!(matches!(poller.cycle().await, Outcome::Done));
    assert!(matches!(poller.cycle().await, Outcome::Done));
    assert_eq!(state.view().health, None);
    assert_eq!(total(&poller.ledger().counters.started), 4);
    assert_eq!(count(&world, "health_status", 403), 2);
    assert!(render(&state).contains(
        "sps_api_errors_total{sps=\"pam\",endpoint=\"health_status\",kind=\"forbidden\"} 2\n"
    ));
    world.lock().unwrap().forbid.clear();
    assert!(matches!(poller.cycle().await, Outcome::Done));
    assert!(state.view().health.is_some());
}

#[tokio::test]
async fn state_file_restores_counts_without_recounting() {
    let (world, _p, _state, _cfg, dir) = setup(20, "").await;
    let addr = {
        // The same world on a second listener would do; reuse the config's url.
        _cfg.url.clone()
    };
    let _ = addr;
    let path = dir.path().join("state.json");
    let mut cfg = _cfg.clone();
    cfg.state_file = Some(path.clone());
    let mut p1 = Poller::new(
        cfg.clone(),
        Arc::new(SpsState::new("pam")),
        Ledger::default(),
    )
    .unwrap();
    assert!(matches!(p1.cycle().await, Outcome::Done));
    let before = p1.ledger().clone();
    drop(p1);
    let restored = smc_exporter::sps::persist::load(&path, "pam")
        .unwrap()
        .unwrap();
    assert_eq!(restored, before);
    let mut p2 = Poller::new(cfg, Arc::new(SpsState::new("pam")), restored).unwrap();
    assert!(matches!(p2.cycle().await, Outcome::Done));
    assert_eq!(total(&p2.ledger().counters.started), 20);
    assert_eq!(p2.ledger().counting_since, before.counting_since);
    assert_eq!(count(&world, "authentication", 200), 2);
}

#[tokio::test]
async fn exporter_start_with_only_sps() {
    let world: Shared = Arc::new(Mutex::new(World {
        sessions: sessions(3),
        ..World::default()
    }));
    let addr = sps_fake::serve(world.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(addr, dir.path(), "");
    assert!(cfg.smc.is_empty());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let exp = smc_exporter::app::Exporter::start(&cfg, listener)
        .await
        .unwrap();
    let state = exp.store().sps[0].clone();
    tokio::time::timeout(Duration::from_secs(10), state.wait_attempted())
        .await
        .unwrap();
    assert!(exp.store().ready());
    let text = render_with(&exp.store(), Format::Text, &crate::fixture::GOLDEN);
    assert!(text.contains("sps_up{sps=\"pam\"} 1\n"), "{text}");
    assert!(text.contains("sps_sessions_started_total{sps=\"pam\",protocol=\"SSH\",connection_policy=\"prod\"} 2\n"), "{text}");
    assert!(!text.contains("smc_subscription_up{"));
    tokio::time::timeout(Duration::from_secs(5), exp.shutdown())
        .await
        .unwrap();
}

/// Reloads add and remove `[[sps]]` pollers, keep unchanged ones (the same
/// state), and restart a changed one keeping its counters (same url).
#[tokio::test]
async fn reload_adds_removes_keeps_and_restarts() {
    let world: Shared = Arc::new(Mutex::new(World {
        sessions: sessions(3),
        ..World::default()
    }));
    let addr = sps_fake::serve(world.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(addr, dir.path(), "");
    let path = dir.path().join("c.toml");
    let one = std::fs::read_to_string(&path).unwrap();
    let opts = smc_exporter::app::StartOptions {
        config_path: Some(path.clone()),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let exp = smc_exporter::app::Exporter::start_with(&cfg, listener, opts)
        .await
        .unwrap();
    let pam = exp.store().sps[0].clone();
    tokio::time::timeout(Duration::from_secs(10), pam.wait_attempted())
        .await
        .unwrap();
    let started = || total(&pam.view().ledger.counters.started);
    assert_eq!(started(), 2 + 1);
    let two = format!("{one}{}", one.replace("name = \"pam\"", "name = \"pam2\""));
    std::fs::write(&path, &two).unwrap();
    exp.reload().await.unwrap();
    let names: Vec<String> = exp.store().sps.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["pam", "pam2"]);
    assert!(Arc::ptr_eq(&exp.store().sps[0], &pam));
    // pam changes (its interval): restarted on the same state, counts kept.
    std::fs::write(
        &path,
        two.replacen("poll_interval = \"30s\"", "poll_interval = \"20s\"", 1),
    )
    .unwrap();
    exp.reload().await.unwrap();
    assert!(Arc::ptr_eq(&exp.store().sps[0], &pam));
    assert_eq!(started(), 3);
    std::fs::write(&path, &one).unwrap();
    exp.reload().await.unwrap();
    let names: Vec<String> = exp.store().sps.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["pam"]);
    // A bad state file refuses the reload with one line; the running set stays.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "garbage").unwrap();
    std::fs::write(
        &path,
        format!("{one}state_file = {:?}\n", bad.display().to_string()),
    )
    .unwrap();
    let e = exp.reload().await.unwrap_err();
    assert!(
        e.starts_with(&format!(
            "sps \"pam\": state file {}: not a valid state file (",
            bad.display()
        )),
        "{e}"
    );
    assert!(Arc::ptr_eq(&exp.store().sps[0], &pam));
    tokio::time::timeout(Duration::from_secs(5), exp.shutdown())
        .await
        .unwrap();
}
