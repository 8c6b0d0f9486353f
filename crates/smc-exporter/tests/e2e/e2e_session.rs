//! Session lifecycle end to end (issue 8, items 1, 4, 5, 6): refused
//! upgrades back off on the SMC's login schedule and every session is logged
//! out; an unreachable SMC is down within one backoff cycle and a refused
//! TCP connection is not a login failure; a socket that never answers is
//! neither up nor ready and its silence is visible; a login refusal costs
//! one `login_failed` reconnect per real attempt and recovery follows the
//! gate's opening within seconds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use smc_exporter::app::Exporter;
use smc_exporter::config::{self, Config};
use smc_lab::*;
use smc_sim::{self as sim, SimOptions, SimServer};
use tokio::net::TcpListener;
use tokio::time::Instant;

type Samples = BTreeMap<SeriesKey, f64>;

/// Bound of every wait that is not itself under test.
const WAIT: Duration = Duration::from_secs(30);
/// Scheduling slack on a loaded machine, for the timing bounds under test.
const SLACK: Duration = Duration::from_millis(1500);

/// How many attempts the SMC's shared schedule (ceilings `initial`,
/// doubling up to `max`, no jitter) allows in `window` from the first one:
/// attempt k is not before `c0 + … + c(k-1)`.
fn attempts_within(window: Duration, initial: Duration, max: Duration) -> u64 {
    let (mut at, mut step, mut n) = (Duration::ZERO, initial, 0);
    while at < window {
        n += 1;
        at += step;
        step = (step * 2).min(max);
    }
    n
}

#[test]
fn schedule_bound_is_the_partial_sums_of_the_ceilings() {
    let ms = Duration::from_millis;
    // 0, 0.2, 0.6, 1.4, 3.0 | 6.2
    assert_eq!(attempts_within(ms(4000), ms(200), ms(60_000)), 5);
    // 0, 0.5, 1.5, 3.5, 7.5 | 15.5
    assert_eq!(attempts_within(ms(10_000), ms(500), ms(60_000)), 5);
    // Capped: 0, .5, 1.5, 2.5, 3.5 | 4.5
    assert_eq!(attempts_within(ms(4000), ms(500), ms(1000)), 5);
}

async fn post(http: &reqwest::Client, sim: &SimServer, path: &str) -> Value {
    client::post_json(http, sim, &format!("/sim/fault/{path}")).await
}

async fn scrape_addr(http: &reqwest::Client, addr: std::net::SocketAddr) -> Samples {
    let r = http
        .get(format!("http://{addr}/metrics"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    parse_samples(&r.text().await.unwrap())
}

/// The value of a per-SMC family for one SMC.
fn smc_value(s: &Samples, name: &str, smc: &str) -> f64 {
    sum_where(s, name, ("smc", smc))
}

fn total(s: &Samples, name: &str, label: Option<(&str, &str)>) -> f64 {
    s.iter()
        .filter(|((n, l), _)| {
            n == name && label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| v)
        .sum()
}

/// Values of a per-subscription family, by (smc, target, definition).
fn per_sub(s: &Samples, name: &str) -> BTreeMap<(String, String, String), f64> {
    let mut out = BTreeMap::new();
    for ((n, l), v) in s {
        if n == name {
            let key = (
                l["smc"].clone(),
                l["target"].clone(),
                l["definition"].clone(),
            );
            *out.entry(key).or_default() += v;
        }
    }
    out
}

/// Poll `/metrics` (bounded by `within`) until `done`; `each` checks every scrape.
async fn wait_for(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    what: &str,
    within: Duration,
    mut each: impl FnMut(&Samples),
    done: impl Fn(&Samples) -> bool,
) -> Samples {
    let deadline = Instant::now() + within;
    loop {
        let s = scrape_addr(http, addr).await;
        each(&s);
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out ({within:?}) waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The state-family samples of one SMC's ground truth.
fn truth_of(sim: &SimServer, smc: &str) -> Samples {
    state_samples(&smc_lab::truth_text(sim, smc))
}

/// The served state-family samples with `smc` label `smc`.
fn served_of(s: &Samples, smc: &str) -> Samples {
    let fams = state_families();
    s.iter()
        .filter(|((n, l), _)| fams.contains(&n.as_str()) && l["smc"] == smc)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// The simulator plus an exporter with two SMC entries pointing at it
/// ("demo" and "demo2"): 2 × 37 subscriptions, two sessions, two gates.
async fn two_smcs(
    seed: u64,
    tweak: impl FnOnce(&mut Config),
) -> (SimServer, Exporter, Vec<String>) {
    let sim = start_sim(SimOptions {
        seed,
        ..SimOptions::default()
    })
    .await;
    let w = sim.world_info();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut cfg = config::demo(&sim.url(), &w.api_key, &w.engines, &w.alert_domains, addr).unwrap();
    fast(&mut cfg);
    let mut second = cfg.smc[0].clone();
    second.name = format!("{}2", cfg.smc[0].name);
    cfg.smc.push(second);
    tweak(&mut cfg);
    let names = cfg.smc.iter().map(|s| s.name.clone()).collect();
    let x = Exporter::start(&cfg, l).await.unwrap();
    (sim, x, names)
}

async fn converged(http: &reqwest::Client, sim: &SimServer, x: &Exporter, smcs: &[String]) {
    wait_for(
        http,
        x.addr(),
        "state = truth",
        WAIT,
        |_| {},
        |s| {
            smcs.iter()
                .all(|smc| served_of(s, smc) == truth_of(sim, smc))
        },
    )
    .await;
}

/// Item 1. Logins work but every upgrade is refused (403) for a window: the
/// first refusal of the proven session logs in again once; each refusal of
/// a fresh session then waits for the SMC's next login step. Logins per SMC
/// stay within the schedule's steps of the window (plus the one that
/// recovers), `smc_up` stays 0 throughout, every replaced session is
/// logged out, the state equals the truth after the window, and at shutdown
/// every session the exporter opened is logged out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_back_off_and_every_session_is_logged_out() {
    let initial = Duration::from_millis(200);
    let max = Duration::from_secs(60);
    let window = Duration::from_secs(4);
    let (sim, x, smcs) = two_smcs(51, |cfg| {
        cfg.subscription.backoff_initial = initial;
        cfg.subscription.backoff_max = max;
    })
    .await;
    let http = smc_lab::http::client();
    let subs = x.store().subscriptions.len();
    assert_eq!(
        subs, 74,
        "2 SMCs × (5 engines × 7 definitions + 2 alert domains)"
    );
    wait_for(
        &http,
        x.addr(),
        "all up",
        WAIT,
        |_| {},
        |s| total(s, "smc_subscription_up", None) == subs as f64,
    )
    .await;
    converged(&http, &sim, &x, &smcs).await;
    let before = scrape_addr(&http, x.addr()).await;
    for smc in &smcs {
        assert_eq!(smc_value(&before, "smc_logins_total", smc), 1.0);
        assert_eq!(smc_value(&before, "smc_up", smc), 1.0);
    }
    assert_eq!(sim.sessions().live.len(), 2);

    let v = post(
        &http,
        &sim,
        &format!("refuse_upgrades?seconds={}&status=403", window.as_secs()),
    )
    .await;
    assert_eq!(
        v,
        json!({"refuse_upgrades_ms": window.as_millis() as u64, "status": 403})
    );
    let window_end = Instant::now() + window;
    assert_eq!(sim.drop_connections(), subs);
    sim.churn(300);
    // smc_up goes to 0 and stays 0 while upgrades are refused (no flapping
    // to 1 at each login).
    let (mut down_seen, mut flaps, mut scrapes) = (false, 0, 0);
    wait_for(
        &http,
        x.addr(),
        "the end of the refusal window",
        WAIT,
        |s| {
            let ups: Vec<f64> = smcs.iter().map(|m| smc_value(s, "smc_up", m)).collect();
            if Instant::now() + Duration::from_millis(300) < window_end {
                if down_seen {
                    scrapes += 1;
                    flaps += usize::from(ups != [0.0, 0.0]);
                }
                down_seen |= ups == [0.0, 0.0];
            }
        },
        |_| Instant::now() >= window_end,
    )
    .await;
    let errors: Vec<Option<String>> = x
        .store()
        .smcs
        .iter()
        .map(|s| s.last_error().map(|e| e.to_string()))
        .collect();
    let mid = sim.sessions();
    let after = wait_for(
        &http,
        x.addr(),
        "all up again",
        WAIT,
        |_| {},
        |s| {
            total(s, "smc_subscription_up", None) == subs as f64
                && smcs.iter().all(|m| smc_value(s, "smc_up", m) == 1.0)
        },
    )
    .await;
    converged(&http, &sim, &x, &smcs).await;
    let logins: Vec<f64> = smcs
        .iter()
        .map(|m| smc_value(&after, "smc_logins_total", m) - 1.0)
        .collect();
    eprintln!(
        "{window:?} of refused upgrades, 74 subscriptions: logins per SMC {logins:?}; \
         {flaps} of {scrapes} scrapes with smc_up 1 in the window; sessions at the window's \
         end: {} live, {} logged out",
        mid.live.len(),
        mid.logged_out.len()
    );
    assert!(
        down_seen,
        "smc_up never went to 0 while upgrades were refused"
    );
    assert_eq!(flaps, 0, "smc_up flapped while upgrades were refused");
    let hint = "logged in but upgrades refused (HTTP 403): check the API client's permissions";
    assert_eq!(errors, vec![Some(hint.to_string()); 2]);
    // One login per step of the window (the first one right after the
    // proven session was refused), plus the one that recovers.
    let bound = attempts_within(window, initial, max) + 1;
    let mut issued = 2;
    for (i, smc) in smcs.iter().enumerate() {
        assert!(
            (2.0..=bound as f64).contains(&logins[i]),
            "{smc}: {} logins during a {window:?} refusal (bound {bound})",
            logins[i]
        );
        assert_eq!(smc_value(&after, "smc_login_failures_total", smc), 0.0);
        assert_eq!(x.store().smcs[i].last_error(), None, "{smc}");
        issued += logins[i] as usize;
    }
    // Every replaced session was logged out; the two current ones are live.
    let deadline = Instant::now() + WAIT;
    loop {
        let s = sim.sessions();
        if s.logged_out.len() == issued - 2 {
            assert_eq!(s.live.len(), 2, "{s:?}");
            assert_eq!(s.expired, Vec::<String>::new());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{issued} sessions issued, replaced ones not all logged out: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    x.shutdown().await;
    let s = sim.sessions();
    assert_eq!(s.live, Vec::<String>::new(), "{s:?}");
    assert_eq!(s.logged_out.len(), issued, "{s:?}");
    sim.shutdown().await;
}

/// Item 4. With the SMC gone (the simulator shut down), `smc_up` is 0
/// within one backoff cycle, the failed connections count as
/// `connect_error` (not as login failures), and when an SMC answers on the
/// same address again everything recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_smc_is_down_within_one_backoff_cycle() {
    let pair = start_pair_with(52, |cfg, _| {
        cfg.subscription.backoff_initial = Duration::from_millis(100);
        cfg.subscription.backoff_max = Duration::from_secs(1);
    })
    .await;
    pair.ready().await;
    pair.converge().await;
    let Pair {
        sim,
        exporter: x,
        http,
        smc,
    } = pair;
    let addr = sim.addr();
    let s = scrape_addr(&http, x.addr()).await;
    assert_eq!(smc_value(&s, "smc_up", &smc), 1.0);
    sim.shutdown().await;
    let gone = Instant::now();
    let within = Duration::from_secs(1) + SLACK;
    let down = wait_for(
        &http,
        x.addr(),
        "smc_up 0",
        within,
        |_| {},
        |s| smc_value(s, "smc_up", &smc) == 0.0,
    )
    .await;
    let took = gone.elapsed();
    eprintln!("smc_up 0 {took:?} after the SMC went away");
    assert!(
        total(
            &down,
            "smc_subscription_reconnects_total",
            Some(("reason", "connect_error"))
        ) >= 1.0
    );
    assert_eq!(
        total(
            &down,
            "smc_subscription_reconnects_total",
            Some(("reason", "login_failed"))
        ),
        0.0
    );
    assert_eq!(smc_value(&down, "smc_login_failures_total", &smc), 0.0);
    let err = x.store().smcs[0].last_error().unwrap_or_default();
    assert!(err.starts_with("SMC unreachable: "), "{err}");
    // The SMC comes back (same world seed, so the same API key), without
    // the old session: one re-login, everything up again.
    let l = TcpListener::bind(addr).await.unwrap();
    let sim = sim::start(
        l,
        SimOptions {
            seed: 52,
            ..SimOptions::default()
        },
    )
    .await
    .unwrap();
    let subs = x.store().subscriptions.len() as f64;
    let s = wait_for(
        &http,
        x.addr(),
        "recovery",
        WAIT,
        |_| {},
        |s| total(s, "smc_subscription_up", None) == subs && smc_value(s, "smc_up", &smc) == 1.0,
    )
    .await;
    assert_eq!(smc_value(&s, "smc_logins_total", &smc), 2.0);
    assert_eq!(smc_value(&s, "smc_login_failures_total", &smc), 0.0);
    assert_eq!(x.store().smcs[0].last_error(), None);
    wait_for(
        &http,
        x.addr(),
        "state = new truth",
        WAIT,
        |_| {},
        |s| served_of(s, &smc) == truth_of(&sim, &smc),
    )
    .await;
    x.shutdown().await;
    sim.shutdown().await;
}

/// Item 6 (and issue 9 item 5). A refused TCP connection during login is a
/// connect error, not a login failure, and the SMC is still tried once per
/// step of its shared schedule (not once per subscription): a listener
/// that accepts and closes every connection counts the attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_failures_during_login_are_connect_errors_on_the_shared_schedule() {
    smc_exporter::smc::tls::install_default_provider();
    let smc_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", smc_l.local_addr().unwrap());
    let accepts = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = accepts.clone();
    let acceptor = tokio::spawn(async move {
        while let Ok((s, _)) = smc_l.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    let initial = Duration::from_millis(200);
    let max = Duration::from_secs(60);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let engines: Vec<String> = (1..=5).map(|i| format!("fw{i}")).collect();
    let mut cfg = config::demo(&url, "k", &engines, &["Shared Domain".into()], addr).unwrap();
    fast(&mut cfg);
    cfg.subscription.backoff_initial = initial;
    cfg.subscription.backoff_max = max;
    let started = Instant::now();
    let x = Exporter::start(&cfg, l).await.unwrap();
    let http = smc_lab::http::client();
    let window = Duration::from_secs(3);
    let s = wait_for(
        &http,
        x.addr(),
        "the window",
        WAIT,
        |_| {},
        |_| started.elapsed() >= window,
    )
    .await;
    let attempts = accepts.load(std::sync::atomic::Ordering::SeqCst);
    let smc = &cfg.smc[0].name;
    let bound = attempts_within(window, initial, max);
    eprintln!(
        "{window:?} against a listener that closes every connection: {attempts} connections, \
         smc_login_failures_total {}, login_failed reconnects {}, connect_error reconnects {}",
        smc_value(&s, "smc_login_failures_total", smc),
        total(
            &s,
            "smc_subscription_reconnects_total",
            Some(("reason", "login_failed"))
        ),
        total(
            &s,
            "smc_subscription_reconnects_total",
            Some(("reason", "connect_error"))
        )
    );
    assert!(
        (2..=bound).contains(&attempts),
        "{attempts} connections in {window:?} for 36 subscriptions (bound {bound})"
    );
    assert_eq!(smc_value(&s, "smc_login_failures_total", smc), 0.0);
    assert_eq!(
        total(
            &s,
            "smc_subscription_reconnects_total",
            Some(("reason", "login_failed"))
        ),
        0.0
    );
    let connect_errors = total(
        &s,
        "smc_subscription_reconnects_total",
        Some(("reason", "connect_error")),
    );
    assert!(
        connect_errors >= 1.0 && connect_errors <= bound as f64,
        "{connect_errors} connect_error reconnects for {attempts} attempts"
    );
    assert_eq!(smc_value(&s, "smc_up", smc), 0.0);
    let err = x.store().smcs[0].last_error().unwrap_or_default();
    assert!(err.starts_with("SMC unreachable: "), "{err}");
    x.shutdown().await;
    acceptor.abort();
}

/// Item 5. Upgrades accepted and then silent (not even `success`): no
/// subscription becomes up or ready, every subscription has a last-message
/// timestamp from its first connect that does not advance (silence is
/// visible), each gives the silent socket up after ten `snapshot_settle`s
/// (`reason="idle"`), and once sockets answer again all is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_socket_is_neither_up_nor_ready_and_its_silence_is_visible() {
    let sim = start_sim(SimOptions {
        seed: 53,
        ..SimOptions::default()
    })
    .await;
    let http = smc_lab::http::client();
    assert_eq!(
        post(&http, &sim, "silent_sockets?seconds=600").await,
        json!({"silent_sockets_ms": 600000})
    );
    let w = sim.world_info();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut cfg = config::demo(&sim.url(), &w.api_key, &w.engines, &w.alert_domains, addr).unwrap();
    fast(&mut cfg);
    let x = Exporter::start(&cfg, l).await.unwrap();
    let subs = x.store().subscriptions.len();
    let quiet = |s: &Samples| {
        assert_eq!(
            total(s, "smc_subscription_up", None),
            0.0,
            "a subscription whose socket never answered is up"
        );
        assert!(!x.store().ready(), "ready although no socket ever answered");
    };
    let first = wait_for(
        &http,
        addr,
        "a timestamp per subscription",
        WAIT,
        quiet,
        |s| per_sub(s, "smc_subscription_last_message_timestamp_seconds").len() == subs,
    )
    .await;
    let (status, _) = http_get(&format!("http://{addr}/-/ready")).await;
    assert_eq!(status, 503);
    let stamps = per_sub(&first, "smc_subscription_last_message_timestamp_seconds");
    let given_up = wait_for(
        &http,
        addr,
        "every silent socket given up",
        WAIT,
        quiet,
        |s| {
            per_sub(s, "smc_subscription_reconnects_total")
                .values()
                .all(|v| *v >= 1.0)
        },
    )
    .await;
    for ((smc, t, d), v) in per_sub(&given_up, "smc_subscription_reconnects_total") {
        let idle = given_up
            .iter()
            .filter(|((n, l), _)| {
                n == "smc_subscription_reconnects_total"
                    && l["target"] == t
                    && l["definition"] == d
                    && l["reason"] == "idle"
            })
            .map(|(_, v)| *v)
            .sum::<f64>();
        assert_eq!(idle, v, "{smc}/{t}/{d}: only idle reconnects");
    }
    assert_eq!(
        per_sub(&given_up, "smc_subscription_last_message_timestamp_seconds"),
        stamps,
        "the timestamps do not advance without a message"
    );
    let (status, _) = http_get(&format!("http://{addr}/-/ready")).await;
    assert_eq!(status, 503);
    // Sockets answer again: ready, and the timestamps move.
    post(&http, &sim, "silent_sockets?seconds=0").await;
    wait_ready(addr, WAIT).await;
    let s = wait_for(
        &http,
        addr,
        "all up",
        WAIT,
        |_| {},
        |s| total(s, "smc_subscription_up", None) == subs as f64,
    )
    .await;
    let now = per_sub(&s, "smc_subscription_last_message_timestamp_seconds");
    for (k, v) in &stamps {
        assert!(now[k] > *v, "{k:?}: timestamp did not advance");
    }
    x.shutdown().await;
    sim.shutdown().await;
}

/// Item 6. Logins refused (503) for 10 s with 37 subscriptions, on the
/// default schedule (500 ms doubling): the subscriptions wait on the SMC's
/// login gate instead of escalating their own backoff, so each failed
/// attempt is one `login_failed` reconnect (on the subscription that made
/// it), and every subscription is up within a few seconds of the gate
/// opening (the first successful login after the window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_logins_cost_one_reconnect_per_attempt_and_recovery_follows_the_gate() {
    let initial = Duration::from_millis(500);
    let max = Duration::from_secs(60);
    let pair = start_pair_with(54, |cfg, _| {
        cfg.subscription.backoff_initial = initial;
        cfg.subscription.backoff_max = max;
    })
    .await;
    pair.ready().await;
    pair.converge().await;
    let window = Duration::from_secs(10);
    let v = post(&pair.http, &pair.sim, "refuse_logins?seconds=10").await;
    assert_eq!(v, json!({"refuse_logins_ms": 10000, "status": 503}));
    let v = post(&pair.http, &pair.sim, "expire_sessions?drop=true").await;
    assert_eq!(v, json!({"sessions_expired": 1, "dropped": 37}));
    let started = Instant::now();
    pair.sim.churn(300);
    // The window ends by itself.
    let deadline = started + window + WAIT;
    while client::get_json(&pair.http, &pair.sim, "/sim/faults").await["refuse_logins_ms"]
        != json!(0)
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window_end = Instant::now();
    let addr = pair.exporter.addr();
    let smc = pair.smc.clone();
    let opened = wait_for(
        &pair.http,
        addr,
        "the gate opening",
        WAIT,
        |_| {},
        |s| smc_value(s, "smc_logins_total", &smc) == 2.0,
    )
    .await;
    let gate_opened = Instant::now();
    let subs = pair.exporter.store().subscriptions.len() as f64;
    let all_up = wait_for(
        &pair.http,
        addr,
        "all up",
        WAIT,
        |_| {},
        |s| total(s, "smc_subscription_up", None) == subs,
    )
    .await;
    let up_at = Instant::now();
    eprintln!(
        "fault end → gate open {:?}, gate open → all up {:?}, fault end → all up {:?}",
        gate_opened - window_end,
        up_at - gate_opened,
        up_at - window_end
    );
    let failures = smc_value(&opened, "smc_login_failures_total", &smc);
    let bound = attempts_within(window, initial, max) as f64;
    eprintln!(
        "{failures} failed login attempts, {} login_failed reconnects",
        total(
            &all_up,
            "smc_subscription_reconnects_total",
            Some(("reason", "login_failed"))
        )
    );
    assert!(
        (3.0..=bound).contains(&failures),
        "{failures} failed attempts in {window:?} (bound {bound})"
    );
    let login_failed = total(
        &all_up,
        "smc_subscription_reconnects_total",
        Some(("reason", "login_failed")),
    );
    assert_eq!(
        login_failed, failures,
        "one login_failed reconnect per real attempt"
    );
    // Resumed (jittered over at most 2 s) within a few seconds of the gate opening.
    assert!(
        up_at - gate_opened <= Duration::from_secs(2) + SLACK * 2,
        "all up {:?} after the gate opened",
        up_at - gate_opened
    );
    pair.converge().await;
    pair.stop().await;
}

// ---------------------------------------------------------------------------
// The real binary: what an SMC-wide incident writes to the log (item 9a).

fn binary_config(dir: &std::path::Path, sim: &SimServer) -> String {
    let w = sim.world_info();
    std::fs::write(dir.join("key"), &w.api_key).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[subscription]
backoff_initial = "100ms"
backoff_max = "1s"
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
    )
    .unwrap();
    path.display().to_string()
}

fn spawn_exporter(cfg: &str) -> Proc {
    Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg,
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            "json",
        ],
        &[],
    )
}

/// The WARN and INFO lines of `logs` from index `from` up to the shutdown
/// ("stopping"), as `LEVEL message {fields}` for a readable failure.
fn incident_lines(logs: &[Value], from: usize) -> Vec<String> {
    logs[from..]
        .iter()
        .take_while(|v| v["msg"] != "stopping")
        .filter(|v| v["level"] == "warn" || v["level"] == "info")
        .map(|v| {
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let message = v["msg"].as_str().unwrap_or_default();
            format!("{} {message} {v}", text("level"))
        })
        .collect()
}

/// The SMC goes away (simulator shut down) and comes back on the same
/// address without the old session, with 37 subscriptions: the log gets a
/// handful of lines for the whole incident, not one or more per
/// subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smc_outage_logs_a_handful_of_lines() {
    let sim = start_sim(SimOptions {
        seed: 55,
        ..SimOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = binary_config(dir.path(), &sim);
    let mut p = spawn_exporter(&cfg);
    let addr = p.metrics_addr().await;
    wait_ready(addr, WAIT).await;
    let http = smc_lab::http::client();
    let subs = 37.0;
    wait_for(
        &http,
        addr,
        "all up",
        WAIT,
        |_| {},
        |s| total(s, "smc_subscription_up", None) == subs,
    )
    .await;
    let from = p.json_logs().len();
    let sim_addr = sim.addr();
    sim.shutdown().await;
    let connect_errors = |s: &Samples| {
        total(
            s,
            "smc_subscription_reconnects_total",
            Some(("reason", "connect_error")),
        )
    };
    // Several failed steps while the SMC is away.
    let down = wait_for(
        &http,
        addr,
        "failed connects",
        WAIT,
        |_| {},
        |s| connect_errors(s) >= 1.0,
    )
    .await;
    let n = connect_errors(&down);
    let down = wait_for(
        &http,
        addr,
        "more failed connects",
        WAIT,
        |_| {},
        |s| connect_errors(s) >= n + 3.0,
    )
    .await;
    let l = TcpListener::bind(sim_addr).await.unwrap();
    let sim = sim::start(
        l,
        SimOptions {
            seed: 55,
            ..SimOptions::default()
        },
    )
    .await
    .unwrap();
    wait_for(
        &http,
        addr,
        "all resynced",
        WAIT,
        |_| {},
        |s| {
            total(s, "smc_subscription_up", None) == subs
                && per_sub(s, "smc_subscription_snapshots_total")
                    .values()
                    .all(|v| *v >= 2.0)
        },
    )
    .await;
    // The recovery's last line comes right after the last snapshot.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && !p
            .json_logs()
            .iter()
            .any(|v| v["msg"] == "subscriptions resumed")
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    p.sigterm();
    assert!(p.wait_exit(Duration::from_secs(5)).await.is_some());
    let lines = incident_lines(&p.json_logs(), from);
    eprintln!("{} lines:\n{}", lines.len(), lines.join("\n"));
    assert!(
        lines.len() <= 10,
        "{} WARN/INFO lines for one SMC outage with 37 subscriptions:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert_eq!(
        smc_value(&down, "smc_up", "sim"),
        0.0,
        "smc_up while the SMC was away"
    );
    let warns: Vec<&String> = lines.iter().filter(|l| l.starts_with("warn")).collect();
    // The first interruption, the unreachable SMC, and a distinct socket
    // error text or two (reset without closing handshake, reset by peer).
    assert!((2..=4).contains(&warns.len()), "{warns:#?}");
    sim.shutdown().await;
}

/// Logins work, upgrades are refused (403) from the start: the log says
/// so once, with the permission hint, `smc_up` is 0 at every scrape, and
/// every session the exporter opened is logged out by the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_log_the_permission_hint_once() {
    let sim = start_sim(SimOptions {
        seed: 56,
        ..SimOptions::default()
    })
    .await;
    let http = smc_lab::http::client();
    post(&http, &sim, "refuse_upgrades?seconds=600&status=403").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = binary_config(dir.path(), &sim);
    let mut p = spawn_exporter(&cfg);
    let addr = p.metrics_addr().await;
    let hint = "logged in but upgrades refused (HTTP 403): check the API client's permissions";
    let is_hint = |v: &Value| v["level"] == "warn" && v["msg"] == hint;
    let warn = p.wait_log(WAIT, is_hint).await;
    assert_eq!(warn["smc"], "sim");
    // A few more steps of the login schedule, smc_up 0 throughout.
    wait_for(
        &http,
        addr,
        "more logins",
        WAIT,
        |s| assert_eq!(smc_value(s, "smc_up", "sim"), 0.0),
        |s| smc_value(s, "smc_logins_total", "sim") >= 4.0,
    )
    .await;
    post(&http, &sim, "refuse_upgrades?seconds=0").await;
    wait_ready(addr, WAIT).await;
    p.sigterm();
    assert!(p.wait_exit(Duration::from_secs(5)).await.is_some());
    let logs = p.json_logs();
    assert_eq!(logs.iter().filter(|v| is_hint(v)).count(), 1);
    let s = sim.sessions();
    assert_eq!(s.live, Vec::<String>::new(), "{s:?}");
    assert_eq!(s.expired, Vec::<String>::new(), "{s:?}");
    assert!(s.logged_out.len() >= 4, "{s:?}");
    sim.shutdown().await;
}
