//! Connection life of the subscription supervisor (issue 4): idle detection
//! (pong deadline, silence limit) against tiny in-test SMCs, one re-login per
//! SMC when the simulator forgets its sessions, `failure` replies on the
//! longer schedule with one warn line, and graceful shutdown of the real
//! binary on SIGTERM.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use smc_exporter::app::Exporter;
use smc_exporter::config::{self, Config};
use smc_exporter::state::ReconnectReason;
use smc_lab::*;
use smc_protocol::Definition;
use smc_sim::SimOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

// ---------------------------------------------------------------------------
// A tiny fake SMC: just enough REST for a login, then a WebSocket upgrade
// after which the peer either never reads again (no pongs) or only reads
// (pongs, but never a data frame).

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Completes the upgrade, then never reads: pings go unanswered.
    Deaf,
    /// Reads (so tungstenite answers every ping); answers the query with
    /// `{"success":…,"fetch":-42}` and then never sends data.
    Quiet,
}

struct FakeSmc {
    url: String,
    /// When each WebSocket upgrade was answered.
    upgrades: mpsc::UnboundedReceiver<Instant>,
    /// Pings received on every socket (Quiet only).
    pings: Arc<AtomicUsize>,
    /// Text messages and close frames received, in order (Quiet only).
    received: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeSmc {
    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

async fn fake_smc(peer: Peer) -> FakeSmc {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, upgrades) = mpsc::unbounded_channel();
    let pings = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (p, r) = (pings.clone(), received.clone());
    tokio::spawn(async move {
        // Deaf sockets are kept open (never read) until the test ends.
        let mut held = Vec::new();
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            if let Some(s) = serve_one(s, peer, &tx, &p, &r).await {
                held.push(s);
            }
        }
    });
    FakeSmc {
        url,
        upgrades,
        pings,
        received,
    }
}

/// One HTTP request (every REST answer closes the connection). Returns the
/// stream of a deaf WebSocket, to be held open.
async fn serve_one(
    mut s: TcpStream,
    peer: Peer,
    tx: &mpsc::UnboundedSender<Instant>,
    pings: &Arc<AtomicUsize>,
    received: &Arc<std::sync::Mutex<Vec<String>>>,
) -> Option<TcpStream> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let reply = |status: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let answer = match request_line.split(' ').take(2).collect::<Vec<_>>()[..] {
        ["GET", "/api"] => reply("200 OK", "", r#"{"version":[{"rel":"7.1"}]}"#),
        ["POST", "/7.1/login"] => {
            // Drain the body so the client sees a clean response.
            let len: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() - head_end < len {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            reply("200 OK", "Set-Cookie: JSESSIONID=FAKE; Path=/\r\n", "{}")
        }
        ["PUT", "/7.1/logout"] => reply("204 No Content", "", ""),
        ["GET", "/7.1/monitoring/session/socket"] => {
            let key = header("sec-websocket-key")?;
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            );
            s.write_all(resp.as_bytes()).await.ok()?;
            let _ = tx.send(Instant::now());
            match peer {
                Peer::Deaf => return Some(s),
                Peer::Quiet => {
                    let pings = pings.clone();
                    let received = received.clone();
                    tokio::spawn(async move {
                        let mut ws = WebSocketStream::from_raw_socket(s, Role::Server, None).await;
                        let mut answered = false;
                        while let Some(Ok(m)) = ws.next().await {
                            match m {
                                Message::Ping(_) => {
                                    pings.fetch_add(1, Ordering::SeqCst);
                                }
                                Message::Text(t) => {
                                    received.lock().unwrap().push(t.to_string());
                                    if !answered {
                                        answered = true;
                                        let ok = r#"{"success":"Fetch started","fetch":-42}"#;
                                        let _ = ws.send(Message::text(ok)).await;
                                    }
                                }
                                Message::Close(_) => {
                                    received.lock().unwrap().push("<close>".into())
                                }
                                _ => {}
                            }
                        }
                    });
                    return None;
                }
            }
        }
        _ => reply("404 Not Found", "", r#"{"details":"Not found"}"#),
    };
    let _ = s.write_all(answer.as_bytes()).await;
    let _ = s.shutdown().await;
    None
}

/// An exporter with one CONNECTIONS subscription to `url`, with `tweak`
/// applied to its `[subscription]` timing.
async fn exporter_for(url: &str, tweak: impl FnOnce(&mut Config)) -> Exporter {
    smc_exporter::smc::tls::install_default_provider();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut cfg = config::demo(url, "fake-key", &["fw".to_string()], &[], addr).unwrap();
    cfg.smc[0].definitions = vec![Definition::Connections];
    fast(&mut cfg);
    cfg.subscription.backoff_max = Duration::from_millis(50);
    tweak(&mut cfg);
    Exporter::start(&cfg, l).await.unwrap()
}

async fn next_upgrade(fake: &mut FakeSmc) -> Instant {
    tokio::time::timeout(Duration::from_secs(10), fake.upgrades.recv())
        .await
        .expect("an upgrade within 10 s")
        .unwrap()
}

/// Reconnects of the only subscription, by reason label, non-zero only.
fn reconnects(x: &Exporter) -> Vec<(&'static str, u64)> {
    let h = &x.store().subscriptions[0].health;
    ReconnectReason::ALL
        .iter()
        .map(|r| (r.label(), h.reconnects(*r)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Slack for scheduling on a loaded machine.
const SLACK: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_ping_reconnects_with_reason_idle_within_bounds() {
    let mut fake = fake_smc(Peer::Deaf).await;
    let ping = Duration::from_millis(300);
    let pong = Duration::from_millis(150);
    let x = exporter_for(&fake.url, |c| {
        c.subscription.ping_interval = ping;
        c.subscription.pong_timeout = pong;
        c.subscription.silence_limit = None;
    })
    .await;
    let mut at = next_upgrade(&mut fake).await;
    for _ in 0..2 {
        let next = next_upgrade(&mut fake).await;
        let gap = next - at;
        // Not before the first ping plus its pong deadline; not much after
        // it plus the largest backoff.
        assert!(gap >= ping + pong, "reconnected too early: {gap:?}");
        assert!(
            gap <= ping + pong + Duration::from_millis(50) + SLACK,
            "dead socket not detected in time: {gap:?}"
        );
        at = next;
    }
    let counts = reconnects(&x);
    assert_eq!(counts.len(), 1, "only idle reconnects: {counts:?}");
    assert_eq!(counts[0].0, "idle");
    assert!(counts[0].1 >= 2, "{counts:?}");
    let body = http_get(&format!("http://{}/metrics", x.addr())).await.1;
    let samples = parse_samples(&body);
    assert!(
        sum_where(
            &samples,
            "smc_subscription_reconnects_total",
            ("reason", "idle")
        ) >= 2.0
    );
    assert_eq!(
        sum_where(
            &samples,
            "smc_subscription_reconnects_total",
            ("reason", "read_error")
        ),
        0.0
    );
    x.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_pings_keep_a_quiet_connection() {
    let mut fake = fake_smc(Peer::Quiet).await;
    let x = exporter_for(&fake.url, |c| {
        c.subscription.ping_interval = Duration::from_millis(100);
        c.subscription.pong_timeout = Duration::from_millis(60);
        c.subscription.silence_limit = None;
    })
    .await;
    next_upgrade(&mut fake).await;
    // Eight ping/pong rounds (each would have ended the connection had its
    // pong not counted).
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.pings.load(Ordering::SeqCst) < 8 {
        assert!(Instant::now() < deadline, "pings stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(fake.upgrades.try_recv().is_err(), "reconnected");
    assert_eq!(reconnects(&x), []);
    x.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_limit_resubscribes_a_connection_without_data() {
    let mut fake = fake_smc(Peer::Quiet).await;
    let silence = Duration::from_millis(700);
    let x = exporter_for(&fake.url, |c| {
        c.subscription.ping_interval = Duration::from_millis(100);
        c.subscription.pong_timeout = Duration::from_millis(60);
        c.subscription.silence_limit = Some(silence);
    })
    .await;
    let first = next_upgrade(&mut fake).await;
    let second = next_upgrade(&mut fake).await;
    let gap = second - first;
    assert!(gap >= silence, "resubscribed too early: {gap:?}");
    assert!(
        gap <= silence + Duration::from_millis(50) + SLACK,
        "silence not detected in time: {gap:?}"
    );
    assert!(
        fake.pings.load(Ordering::SeqCst) >= 3,
        "pongs were answered meanwhile, and did not count as data"
    );
    assert_eq!(reconnects(&x), [("idle", 1)]);
    x.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_aborts_the_fetch_and_closes_the_socket() {
    // Several rounds: a shutdown racing the socket task must not skip the
    // abort (it once did, half of the time).
    for round in 0..4 {
        let mut fake = fake_smc(Peer::Quiet).await;
        let x = exporter_for(&fake.url, |c| c.subscription.silence_limit = None).await;
        next_upgrade(&mut fake).await;
        // The query arrived, and its answer (the fetch id) had time to land.
        let deadline = Instant::now() + Duration::from_secs(10);
        while fake.received().is_empty() {
            assert!(Instant::now() < deadline, "no query");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        x.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(4));
        let deadline = Instant::now() + Duration::from_secs(5);
        while fake.received().len() < 3 {
            assert!(
                Instant::now() < deadline,
                "round {round}: {:?}",
                fake.received()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let got = fake.received();
        assert!(
            got[0].contains(r#""query":{"definition":"CONNECTIONS""#),
            "{got:?}"
        );
        assert_eq!(got[1..], [r#"{"abort":-42}"#, "<close>"], "round {round}");
    }
}

// ---------------------------------------------------------------------------
// Session expiry: one re-login per SMC.

async fn one_relogin_when_sessions_expire(token_auth: bool) {
    let pair = start_pair_opts(
        SimOptions {
            seed: 21,
            token_auth,
            ..SimOptions::default()
        },
        |_, _| {},
    )
    .await;
    pair.ready().await;
    pair.converge().await;
    let subs = pair.exporter.store().subscriptions.len();
    assert!(subs > 10, "many subscriptions share the session: {subs}");
    let smc = &pair.exporter.store().smcs[0];
    assert_eq!(smc.logins(), 1);

    assert_eq!(pair.sim.expire_sessions(), 1);
    // Every subscription reconnects with the expired session, while the
    // world changes.
    assert_eq!(pair.sim.drop_connections(), subs);
    assert_eq!(pair.sim.churn(300), 300);
    let deadline = Instant::now() + Duration::from_secs(20);
    while pair
        .exporter
        .store()
        .subscriptions
        .iter()
        .any(|s| s.health.snapshots() < 2)
    {
        assert!(Instant::now() < deadline, "not every subscription resynced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pair.converge().await;

    let samples = parse_samples(&pair.metrics().await);
    let get = |name: &str| sum_where(&samples, name, ("smc", &pair.smc));
    assert_eq!(get("smc_logins_total"), 2.0, "exactly one re-login");
    assert_eq!(get("smc_login_failures_total"), 0.0);
    assert_eq!(get("smc_up"), 1.0);
    let unauthorized = sum_where(
        &samples,
        "smc_subscription_reconnects_total",
        ("reason", "unauthorized"),
    );
    assert!(
        unauthorized >= 1.0,
        "the expired session was refused at least once"
    );
    let sessions = pair.sim.sessions();
    assert_eq!(sessions.live.len(), 1, "{sessions:?}");
    assert_eq!(sessions.expired.len(), 1, "{sessions:?}");
    assert_eq!(sessions.logged_out.len(), 0, "{sessions:?}");
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_cookie_session_causes_one_relogin() {
    one_relogin_when_sessions_expire(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_session_causes_one_relogin() {
    one_relogin_when_sessions_expire(true).await;
}

// ---------------------------------------------------------------------------
// The real binary: `failure` replies, graceful shutdown.

fn write_config(dir: &std::path::Path, body: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_replies_back_off_longer_and_warn_once() {
    let sim = start_sim(SimOptions {
        seed: 4,
        ..SimOptions::default()
    })
    .await;
    let w = sim.world_info();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), &w.api_key).unwrap();
    // Normal schedule 50 ms..400 ms; the failure schedule is 20× / 5× that:
    // 1 s, then 2 s ceilings (full jitter).
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[subscription]
backoff_initial = "50ms"
backoff_max = "400ms"
snapshot_settle = "300ms"

[[smc]]
name = "sim"
url = "{}"
api_key_file = "key"
engines = ["NoSuchEngine", "{}"]
definitions = ["CONNECTIONS"]
"#,
            sim.url(),
            w.engines[0]
        ),
    );
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            &cfg,
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            "json",
        ],
        &[],
    );
    let addr = p.metrics_addr().await;
    let is_failure_warn = |v: &serde_json::Value| v["level"] == "warn" && v["reason"] == "failure";
    let warn = p.wait_log(Duration::from_secs(10), is_failure_warn).await;
    assert_eq!(warn["target"], "NoSuchEngine");
    assert_eq!(
        warn["detail"],
        "Unknown target 'NoSuchEngine' for CONNECTIONS: no such engine"
    );
    let failures = |body: &str| -> f64 {
        parse_samples(body)
            .iter()
            .filter(|((n, l), _)| {
                n == "smc_subscription_reconnects_total"
                    && l["target"] == "NoSuchEngine"
                    && l["reason"] == "failure"
            })
            .map(|(_, v)| v)
            .sum()
    };
    let metrics_url = format!("http://{addr}/metrics");
    let before = failures(&http_get(&metrics_url).await.1);
    let window = Duration::from_secs(4);
    tokio::time::sleep(window).await;
    let body = http_get(&metrics_url).await.1;
    let grown = failures(&body) - before;
    // Delays are drawn from [0, 1 s], then [0, 2 s]: another failure comes
    // within 4 s. Fourteen would need 13 delays from [0, 2 s] summing under
    // 4 s (probability 2^13/13! ≈ 1.3e-6); the normal 50..400 ms schedule
    // makes about twenty.
    assert!(
        (1.0..=13.0).contains(&grown),
        "{grown} failures in {window:?}"
    );
    // The valid engine is unaffected.
    let other: f64 = parse_samples(&body)
        .iter()
        .filter(|((n, l), _)| {
            n == "smc_subscription_reconnects_total" && l["target"] == w.engines[0]
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(other, 0.0);
    p.sigterm();
    assert!(p.wait_exit(Duration::from_secs(5)).await.is_some());
    let logs = p.json_logs();
    let warns = logs.iter().filter(|v| is_failure_warn(v)).count();
    assert_eq!(
        warns,
        1,
        "one warn line for {} identical failures",
        before + grown
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_logs_out_and_exits_within_5s() {
    stop_by_signal(smc_lab::Signal::TERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_logs_out_and_exits_within_5s() {
    stop_by_signal(smc_lab::Signal::INT).await;
}

async fn stop_by_signal(sig: smc_lab::Signal) {
    let sim = start_sim(SimOptions {
        seed: 8,
        churn_per_second: 20.0,
        ..SimOptions::default()
    })
    .await;
    let w = sim.world_info();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), &w.api_key).unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"
[subscription]
snapshot_settle = "300ms"

[[smc]]
name = "sim"
url = "{}"
api_key_file = "key"
engines = {:?}
alert_domains = {:?}
"#,
            sim.url(),
            w.engines,
            w.alert_domains
        ),
    );
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            &cfg,
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

    let sent = Instant::now();
    p.signal(sig);
    let status = p
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exited within 5 s of the signal");
    let took = sent.elapsed();
    assert!(status.success(), "{status:?}");
    let sessions = sim.sessions();
    assert_eq!(sessions.logged_out, live, "the session was logged out");
    assert_eq!(sessions.live, Vec::<String>::new());
    assert_eq!(sessions.expired, Vec::<String>::new());
    let (status_code, listed) = http_get(&format!("{}/sim/sessions", sim.url())).await;
    assert_eq!(status_code, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&listed).unwrap(),
        serde_json::json!({"live": [], "logged_out": live, "expired": []})
    );
    let (_, stderr) = p.output();
    assert!(stderr.contains("\"logged out\""), "{stderr}");
    assert!(stderr.contains("\"smc-exporter stopped\""), "{stderr}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    sim.shutdown().await;
}

/// Dropping an `Exporter` without `shutdown` stops it too: its HTTP server
/// runs on a thread of its own, which must not outlive it (a test, or an
/// embedding like `smc-lab demo`, would otherwise keep a stale listener).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_exporter_stops_serving() {
    // Nothing listens on port 9: the subscription just keeps retrying.
    let x = exporter_for("http://127.0.0.1:9", |_| {}).await;
    let addr = x.addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /-/healthy HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(x);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still accepting connections 5 s after the exporter was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
