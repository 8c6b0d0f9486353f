//! Fault injection, end to end (issue 4): every fault is triggered through
//! the simulator's HTTP control endpoint `POST /sim/fault/<kind>`, and for
//! each the exporter keeps serving `/metrics`, the subscriptions outside the
//! fault's scope are untouched (same reconnect and snapshot counters), the
//! right counters move by exactly the expected amount, and the state
//! families equal the simulator's ground truth within a bounded time after
//! the fault ends. No task may panic anywhere (a process-wide panic hook
//! counts panics, the exporter's and the simulator's tasks included).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use smc_lab::*;
use smc_sim::SimOptions;
use tokio::time::Instant;

type Samples = BTreeMap<SeriesKey, f64>;

/// Bound of every wait in this file.
const WAIT: Duration = Duration::from_secs(20);

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Count every panic of a runtime worker thread (tokio would otherwise
/// swallow a panicking exporter or simulator task).
fn count_panics() {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Assertion failures happen on the test threads (named after
            // the test); the exporter's and the simulator's tasks run on
            // the runtime's workers.
            let name = std::thread::current().name().map(str::to_owned);
            if name
                .as_deref()
                .is_none_or(|n| n.starts_with("tokio-runtime-worker"))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

fn assert_no_panics() {
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
}

async fn start(seed: u64, tweak: impl FnOnce(&mut smc_exporter::config::Config)) -> Pair {
    count_panics();
    let pair = start_pair_opts(
        SimOptions {
            seed,
            ..SimOptions::default()
        },
        |cfg, _| tweak(cfg),
    )
    .await;
    pair.ready().await;
    pair.converge().await;
    pair
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `?target=T&definition=D` (either may be empty: left out).
fn scope(target: &str, definition: &str) -> String {
    let mut q = vec![];
    if !target.is_empty() {
        q.push(format!("target={}", enc(target)));
    }
    if !definition.is_empty() {
        q.push(format!("definition={definition}"));
    }
    q.join("&")
}

/// `POST /sim/fault/<path>`: status and JSON body.
async fn fault_raw(pair: &Pair, path: &str) -> (u16, Value) {
    let r = pair
        .http
        .post(format!("{}/sim/fault/{path}", pair.sim.url()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// `POST /sim/fault/<path>`, which must succeed.
async fn fault(pair: &Pair, path: &str) -> Value {
    let (status, v) = fault_raw(pair, path).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

async fn sim_faults(pair: &Pair) -> Value {
    client::get_json(&pair.http, &pair.sim, "/sim/faults").await
}

/// `/metrics`, which must answer 200.
async fn scrape(pair: &Pair) -> Samples {
    let r = pair
        .http
        .get(pair.url("/metrics"))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "/metrics must keep serving");
    parse_samples(&r.text().await.unwrap())
}

/// Poll `/metrics` (bounded) until `done`; `each` checks every scrape.
async fn wait_metrics(
    pair: &Pair,
    what: &str,
    mut each: impl FnMut(&Samples),
    done: impl Fn(&Samples) -> bool,
) -> Samples {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = scrape(pair).await;
        each(&s);
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Poll `GET /sim/faults` (bounded) until `done`.
async fn wait_sim(pair: &Pair, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = sim_faults(pair).await;
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sum of a subscription family's samples for one (target, definition
/// label), optionally restricted to one more label.
fn sub(s: &Samples, name: &str, target: &str, def: &str, extra: Option<(&str, &str)>) -> f64 {
    s.iter()
        .filter(|((n, l), _)| {
            n == name
                && l.get("target").map(String::as_str) == Some(target)
                && l.get("definition").map(String::as_str) == Some(def)
                && extra.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| v)
        .sum()
}

fn total(s: &Samples, name: &str, label: Option<(&str, &str)>) -> f64 {
    s.iter()
        .filter(|((n, l), _)| {
            n == name && label.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| v)
        .sum()
}

/// Per subscription (target, definition): (reconnects, snapshots).
fn life(s: &Samples) -> BTreeMap<(String, String), (f64, f64)> {
    let mut out: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for ((n, l), v) in s {
        let slot = match n.as_str() {
            "smc_subscription_reconnects_total" => 0,
            "smc_subscription_snapshots_total" => 1,
            _ => continue,
        };
        let key = (l["target"].clone(), l["definition"].clone());
        let e = out.entry(key).or_default();
        if slot == 0 {
            e.0 += v;
        } else {
            e.1 += v;
        }
    }
    out
}

/// Every subscription outside `in_scope` has the same reconnect and
/// snapshot counters in `after` as in `before`.
fn assert_untouched(before: &Samples, after: &Samples, in_scope: impl Fn(&str, &str) -> bool) {
    let (b, a) = (life(before), life(after));
    assert_eq!(b.len(), 37, "5 engines × 7 definitions + 2 alert domains");
    let mut checked = 0;
    for (k, v) in &b {
        if in_scope(&k.0, &k.1) {
            continue;
        }
        assert_eq!(
            a.get(k),
            Some(v),
            "{k:?} must be untouched (reconnects, snapshots)"
        );
        checked += 1;
    }
    assert!(checked > 0, "the scope covered every subscription");
}

/// The reconnects of one subscription by reason (non-zero only).
fn reasons(s: &Samples, target: &str, def: &str) -> BTreeMap<String, f64> {
    s.iter()
        .filter(|((n, l), v)| {
            n == "smc_subscription_reconnects_total"
                && l["target"] == target
                && l["definition"] == def
                && **v > 0.0
        })
        .map(|((_, l), v)| (l["reason"].clone(), *v))
        .collect()
}

fn errors(s: &Samples, target: &str, def: &str, kind: &str) -> f64 {
    sub(
        s,
        "smc_monitoring_message_errors_total",
        target,
        def,
        Some(("kind", kind)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoint_lists_kinds_and_refuses_bad_parameters() {
    count_panics();
    let s = start_sim(SimOptions::default()).await;
    let c = smc_lab::http::client();
    let post = |path: &str| {
        let req = c.post(format!("{}/sim/fault/{path}", s.url()));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = post("nosuch").await;
    assert_eq!(status, 404);
    assert_eq!(
        v,
        json!({"details": "Unknown fault kind 'nosuch'", "status": 404, "kinds": [
            "drop", "drop_mid_snapshot", "restart", "expire_sessions", "stall_accept",
            "stall_socket", "malformed", "binary", "huge", "unknown_kind", "missing_fields",
            "refuse_logins", "burst", "refuse_upgrades", "silent_sockets", "invalid_utf8"]})
    );
    for (path, details) in [
        ("stall_socket", "seconds is required (0 ends the fault)"),
        (
            "stall_accept?seconds=-1",
            "seconds must be a number in 0..=3600",
        ),
        (
            "refuse_logins?seconds=NaN",
            "seconds must be a number in 0..=3600",
        ),
        (
            "refuse_logins?seconds=1&status=500",
            "status must be 401 or 503",
        ),
        ("malformed?definition=NOPE", "unknown definition 'NOPE'"),
        ("huge?bytes=1", "bytes must be an integer in 64..=268435456"),
        ("burst?steps=0", "steps must be an integer in 1..=1000000"),
        (
            "missing_fields?what=all",
            "what must be one of delta_key, labels",
        ),
        (
            "stall_socket?seconds=1&then=later",
            "then must be one of resume, drop",
        ),
        (
            "expire_sessions?drop=yes",
            "drop must be one of false, true",
        ),
        ("restart?seed=-3", "seed must be an unsigned 64-bit integer"),
        (
            "refuse_upgrades?seconds=1&status=503",
            "status must be 401 or 403",
        ),
        ("silent_sockets", "seconds is required (0 ends the fault)"),
        ("invalid_utf8?definition=NOPE", "unknown definition 'NOPE'"),
    ] {
        let (status, v) = post(path).await;
        assert_eq!(
            (status, v),
            (400, json!({"details": details, "status": 400})),
            "{path}"
        );
    }
    // Refused logins answer the chosen status until the window is ended.
    let key = s.world_info().api_key;
    let login = || {
        let req = c
            .post(format!("{}/7.1/login", s.url()))
            .header("content-type", "application/json")
            .body(json!({"authenticationkey": key, "domain": "Shared Domain"}).to_string());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        post("refuse_logins?seconds=60&status=401").await,
        (200, json!({"refuse_logins_ms": 60000, "status": 401}))
    );
    assert_eq!(login().await, 401);
    assert_eq!(
        post("refuse_logins?seconds=0").await,
        (200, json!({"refuse_logins_ms": 0, "status": 503}))
    );
    assert_eq!(login().await, 200);
    // A fault with nothing to act on reports zero.
    let (status, v) = post("binary?target=HQ%20Cluster&definition=block_list").await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"sockets": 0, "scope": {"target": "HQ Cluster", "definition": "BLOCK_LIST"}})
    );
    let v = client::get_json(&c, &s, "/sim/faults").await;
    assert_eq!(
        v,
        json!({"seed": 1, "session_sockets": [], "stalled_sockets": 0, "drop_mid_snapshot": null,
               "stall_accept_ms": 0, "refuse_logins_ms": 0, "refuse_upgrades_ms": 0,
               "silent_sockets_ms": 0, "silent_sockets": 0})
    );
    // Refused upgrades: the login works, every socket upgrade of its live
    // session is answered the chosen status, until the window is ended.
    assert_eq!(
        post("refuse_upgrades?seconds=60").await,
        (200, json!({"refuse_upgrades_ms": 60000, "status": 403}))
    );
    let cookie = client::login(&s, "7.1").await;
    for path in [client::SESSION, client::LOG, client::NOTIFY] {
        match client::connect(&s, "7.1", path, Some(&cookie)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), 403, "{path}")
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    assert_eq!(
        post("refuse_upgrades?seconds=30&status=401").await,
        (200, json!({"refuse_upgrades_ms": 30000, "status": 401}))
    );
    match client::connect(&s, "7.1", client::SESSION, Some(&cookie)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        post("refuse_upgrades?seconds=0").await,
        (200, json!({"refuse_upgrades_ms": 0, "status": 403}))
    );
    // Silent sockets: upgraded, the query is read, nothing is ever sent
    // (pings are answered); a socket opened after the window is normal.
    assert_eq!(
        post("silent_sockets?seconds=60").await,
        (200, json!({"silent_sockets_ms": 60000}))
    );
    let mut silent = client::connect(&s, "7.1", client::SESSION, Some(&cookie))
        .await
        .unwrap();
    let engine = s.world_info().engines[0].clone();
    let query = json!({"query": {"definition": "ROUTING", "target": engine}, "fetch": {},
                       "format": {"type": "texts", "field_format": "id"}});
    client::send_json(&mut silent, &query).await;
    silent
        .send(tokio_tungstenite::tungstenite::Message::Ping(
            vec![7].into(),
        ))
        .await
        .unwrap();
    match client::recv(&mut silent).await {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(p))) => assert_eq!(&p[..], [7]),
        other => panic!("expected the pong and nothing before it: {other:?}"),
    }
    let v = client::get_json(&c, &s, "/sim/faults").await;
    assert_eq!(v["silent_sockets"], json!(1), "{v}");
    assert_eq!(
        v["session_sockets"],
        json!([]),
        "a silent socket takes no query"
    );
    assert_eq!(
        post("silent_sockets?seconds=0").await,
        (200, json!({"silent_sockets_ms": 0}))
    );
    let mut normal = client::connect(&s, "7.1", client::SESSION, Some(&cookie))
        .await
        .unwrap();
    client::send_json(&mut normal, &query).await;
    let first = client::recv_json(&mut normal).await;
    assert_eq!(first["success"], json!("Fetch started"), "{first}");
    drop(silent);
    let deadline = Instant::now() + WAIT;
    while client::get_json(&c, &s, "/sim/faults").await["silent_sockets"] != json!(0) {
        assert!(Instant::now() < deadline, "the silent socket never ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.shutdown().await;
    assert_no_panics();
}

/// Malformed JSON, a binary frame, an unknown message kind and records with
/// missing fields, each on one subscription: counted on that subscription
/// only, skipped, no reconnect anywhere, state unchanged, stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_counted_and_skipped() {
    let pair = start(31, |_| {}).await;
    let truth = smc_lab::truth_text(&pair.sim, &pair.smc);
    let before = scrape(&pair).await;
    let state = state_samples(&pair.metrics().await);
    // (fault, target, wire definition, label, counted kind)
    let cases = [
        (
            "malformed",
            "Helsinki FW",
            "CONNECTIONS",
            "connections",
            Some("malformed"),
        ),
        ("binary", "plano-fw", "USERS", "users", Some("binary")),
        (
            "unknown_kind",
            "ngf-1065",
            "ROUTING",
            "routing",
            Some("unknown"),
        ),
        (
            "missing_fields?what=delta_key",
            "HQ Cluster",
            "VPN_SA",
            "vpn_sa",
            Some("missing_key"),
        ),
        // An update without its label fields keeps the labels: no error, no change.
        (
            "missing_fields?what=labels",
            "DC Cluster",
            "NEIGHBORS",
            "neighbors",
            None,
        ),
    ];
    let mut hit: Vec<(&str, &str, &str)> = vec![];
    for (kind, target, wire, def, counted) in cases {
        let sep = if kind.contains('?') { '&' } else { '?' };
        let v = fault(&pair, &format!("{kind}{sep}{}", scope(target, wire))).await;
        assert_eq!(v["sockets"], json!(1), "{kind}: {v}");
        assert_eq!(v["scope"], json!({"target": target, "definition": wire}));
        let after = match counted {
            Some(k) => {
                hit.push((target, def, k));
                wait_metrics(&pair, kind, |_| {}, |s| errors(s, target, def, k) >= 1.0).await
            }
            None => {
                let key = ("change", "updated");
                let n = sub(
                    &before,
                    "smc_monitoring_records_total",
                    target,
                    def,
                    Some(key),
                );
                assert_eq!(n, 0.0, "no churn yet");
                wait_metrics(
                    &pair,
                    kind,
                    |_| {},
                    |s| sub(s, "smc_monitoring_records_total", target, def, Some(key)) >= 1.0,
                )
                .await
            }
        };
        // Exactly the injected frames are counted, each on its subscription.
        for s in &pair.exporter.store().subscriptions {
            let (t, d) = (&*s.target, s.definition.label());
            let expected = hit.iter().filter(|h| h.0 == t && h.1 == d).count() as f64;
            let got = total_for(&after, t, d);
            assert_eq!(got, expected, "{kind}: message errors of {t}/{d}");
        }
        // Skipped: no reconnect anywhere, still up, state unchanged.
        assert_untouched(&before, &after, |_, _| false);
        assert_eq!(sub(&after, "smc_subscription_up", target, def, None), 1.0);
        assert_eq!(state_samples(&pair.metrics().await), state, "{kind}");
    }
    assert_eq!(
        smc_lab::truth_text(&pair.sim, &pair.smc),
        truth,
        "faults do not change the truth"
    );
    // The subscriptions keep streaming.
    pair.sim.churn(400);
    pair.converge().await;
    assert_untouched(&before, &scrape(&pair).await, |_, _| false);
    pair.stop().await;
    assert_no_panics();
}

fn total_for(s: &Samples, target: &str, def: &str) -> f64 {
    sub(s, "smc_monitoring_message_errors_total", target, def, None)
}

/// A frame above `max_frame_bytes` (the default 32 MiB against 1 MiB) is
/// refused from its header: counted `too_large`, the subscription
/// reconnects and resyncs, the others are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_frame_is_refused_and_the_subscription_resyncs() {
    let pair = start(32, |cfg| cfg.subscription.max_frame_bytes = 1 << 20).await;
    let before = scrape(&pair).await;
    let state = state_samples(&pair.metrics().await);
    let (target, def) = ("HQ Cluster", "connections");
    let v = fault(&pair, &format!("huge?{}", scope(target, "CONNECTIONS"))).await;
    assert_eq!(v["sockets"], json!(1));
    assert_eq!(v["bytes"], json!(32 * 1024 * 1024));
    let after = wait_metrics(
        &pair,
        "the resync after the huge frame",
        |s| {
            // The previous state is served throughout (no churn: it is the truth).
            let served: Samples = s
                .iter()
                .filter(|((n, _), _)| state_families().contains(&n.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            assert_eq!(served, state);
        },
        |s| sub(s, "smc_subscription_snapshots_total", target, def, None) >= 2.0,
    )
    .await;
    assert_eq!(errors(&after, target, def, "too_large"), 1.0);
    assert_eq!(
        reasons(&after, target, def),
        BTreeMap::from([("read_error".to_string(), 1.0)])
    );
    assert_eq!(
        total(&after, "smc_monitoring_message_errors_total", None),
        1.0
    );
    assert_untouched(&before, &after, |t, d| t == target && d == def);
    pair.sim.churn(300);
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}

/// A text frame that is not UTF-8 ends the WebSocket stream (tungstenite
/// fails it), so it cannot be skipped: counted `invalid_utf8`, the
/// subscription reconnects (`read_error`) and resyncs, the others are
/// untouched and the previous state is served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_frame_is_counted_and_the_subscription_resyncs() {
    let pair = start(42, |_| {}).await;
    let before = scrape(&pair).await;
    let state = state_samples(&pair.metrics().await);
    let (target, def) = ("plano-fw", "routing");
    let v = fault(&pair, &format!("invalid_utf8?{}", scope(target, "ROUTING"))).await;
    assert_eq!(
        v,
        json!({"sockets": 1, "scope": {"target": target, "definition": "ROUTING"}})
    );
    let after = wait_metrics(
        &pair,
        "the resync after the invalid frame",
        |s| {
            let served: Samples = s
                .iter()
                .filter(|((n, _), _)| state_families().contains(&n.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            assert_eq!(served, state);
        },
        |s| sub(s, "smc_subscription_snapshots_total", target, def, None) >= 2.0,
    )
    .await;
    assert_eq!(errors(&after, target, def, "invalid_utf8"), 1.0);
    assert_eq!(
        total(&after, "smc_monitoring_message_errors_total", None),
        1.0
    );
    assert_eq!(
        reasons(&after, target, def),
        BTreeMap::from([("read_error".to_string(), 1.0)])
    );
    assert_untouched(&before, &after, |t, d| t == target && d == def);
    pair.sim.churn(300);
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}

/// Dropping the sockets of one engine mid-stream, with changes during the
/// outage: only that engine's subscriptions reconnect, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_mid_stream_reconnects_only_the_scope() {
    let pair = start(33, |_| {}).await;
    let before = scrape(&pair).await;
    let target = "DC Cluster";
    let v = fault(&pair, &format!("drop?{}", scope(target, ""))).await;
    assert_eq!(v, json!({"dropped": 7}));
    pair.sim.churn(300);
    let after = wait_metrics(
        &pair,
        "the resync of DC Cluster",
        |_| {},
        |s| {
            life(s)
                .iter()
                .filter(|(k, _)| k.0 == target)
                .all(|(_, (_, snaps))| *snaps >= 2.0)
        },
    )
    .await;
    for (k, (reconnects, snaps)) in life(&after).iter().filter(|(k, _)| k.0 == target) {
        assert_eq!((*reconnects, *snaps), (1.0, 2.0), "{k:?}");
        assert_eq!(
            reasons(&after, &k.0, &k.1),
            BTreeMap::from([("read_error".to_string(), 1.0)]),
            "an abrupt end (no close frame) is a read error"
        );
    }
    assert_untouched(&before, &after, |t, _| t == target);
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}

/// A connection cut after its first snapshot batch: the partial snapshot is
/// never served (the previous state is, at every scrape), the next
/// connection completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_mid_snapshot_never_serves_a_partial_snapshot() {
    let pair = start(34, |_| {}).await;
    let before = scrape(&pair).await;
    let state = state_samples(&pair.metrics().await);
    let (target, def) = ("Helsinki FW", "connections");
    let rows = client::table_rows(&pair.http, &pair.sim, "CONNECTIONS", target, None)
        .await
        .len();
    assert!(rows > 200, "the snapshot must span batches: {rows}");
    let armed = fault(
        &pair,
        &format!("drop_mid_snapshot?count=1&{}", scope(target, "CONNECTIONS")),
    )
    .await;
    assert_eq!(
        armed,
        json!({"armed": 1, "scope": {"target": target, "definition": "CONNECTIONS"}})
    );
    assert_eq!(
        sim_faults(&pair).await["drop_mid_snapshot"]["remaining"],
        json!(1)
    );
    // Force the reconnect that runs into it.
    let v = fault(&pair, &format!("drop?{}", scope(target, "CONNECTIONS"))).await;
    assert_eq!(v, json!({"dropped": 1}));
    let after = wait_metrics(
        &pair,
        "the completed resync",
        |s| {
            let served: Samples = s
                .iter()
                .filter(|((n, _), _)| state_families().contains(&n.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            assert_eq!(served, state, "a partial snapshot was served");
        },
        |s| sub(s, "smc_subscription_snapshots_total", target, def, None) >= 2.0,
    )
    .await;
    // Two ends (the drop, the cut), one completed snapshot.
    assert_eq!(
        reasons(&after, target, def),
        BTreeMap::from([("read_error".to_string(), 2.0)])
    );
    assert_eq!(
        sub(
            &after,
            "smc_subscription_snapshots_total",
            target,
            def,
            None
        ),
        2.0
    );
    assert_eq!(sim_faults(&pair).await["drop_mid_snapshot"], Value::Null);
    assert_untouched(&before, &after, |t, d| t == target && d == def);
    pair.sim.churn(300);
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}

/// A restarted SMC with a changed world: sessions are gone (401 → one new
/// login) and the exporter converges on the new truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_a_changed_world_converges_on_the_new_truth() {
    let pair = start(35, |_| {}).await;
    let old_truth = smc_lab::truth_text(&pair.sim, &pair.smc);
    let before = scrape(&pair).await;
    assert_eq!(total(&before, "smc_logins_total", None), 1.0);
    let v = fault(&pair, "restart?seed=99").await;
    assert_eq!(v, json!({"seed": 99, "sessions_expired": 1, "dropped": 37}));
    assert_ne!(
        smc_lab::truth_text(&pair.sim, &pair.smc),
        old_truth,
        "the world changed"
    );
    assert_eq!(
        pair.sim.world_info().engines,
        vec![
            "Helsinki FW",
            "plano-fw",
            "ngf-1065",
            "HQ Cluster",
            "DC Cluster"
        ],
        "engine names are stable across a restart"
    );
    pair.converge().await;
    let after = scrape(&pair).await;
    assert_eq!(total(&after, "smc_logins_total", None), 2.0, "one re-login");
    assert!(
        total(
            &after,
            "smc_subscription_reconnects_total",
            Some(("reason", "unauthorized"))
        ) >= 1.0
    );
    for (k, (_, snaps)) in life(&after) {
        assert!(snaps >= 2.0, "{k:?} resynced");
    }
    assert_eq!(sim_faults(&pair).await["seed"], json!(99));
    pair.sim.churn(200);
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}

/// Expired sessions: open sockets keep streaming; once they drop, the
/// upgrade is refused (401) and the exporter logs in exactly once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_logs_in_again_once() {
    let pair = start(36, |_| {}).await;
    let before = scrape(&pair).await;
    let v = fault(&pair, "expire_sessions").await;
    assert_eq!(v, json!({"sessions_expired": 1, "dropped": 0}));
    pair.sim.churn(200);
    pair.converge().await;
    let mid = scrape(&pair).await;
    assert_untouched(&before, &mid, |_, _| false);
    assert_eq!(total(&mid, "smc_logins_total", None), 1.0);

    let v = fault(&pair, "expire_sessions?drop=true").await;
    assert_eq!(v, json!({"sessions_expired": 0, "dropped": 37}));
    pair.sim.churn(200);
    pair.converge().await;
    let after = wait_metrics(
        &pair,
        "every resync",
        |_| {},
        |s| life(s).values().all(|(_, snaps)| *snaps >= 2.0),
    )
    .await;
    assert_eq!(
        total(&after, "smc_logins_total", None),
        2.0,
        "exactly one re-login"
    );
    assert_eq!(total(&after, "smc_login_failures_total", None), 0.0);
    assert!(
        total(
            &after,
            "smc_subscription_reconnects_total",
            Some(("reason", "unauthorized"))
        ) >= 1.0
    );
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}

/// Logins refused (503) while the session is gone: the previous state is
/// served, failures are counted, and once logins work again one login
/// restores everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_logins_then_recovery() {
    let pair = start(37, |_| {}).await;
    let state = state_samples(&pair.metrics().await);
    let v = fault(&pair, "refuse_logins?seconds=60").await;
    assert_eq!(v, json!({"refuse_logins_ms": 60000, "status": 503}));
    let v = fault(&pair, "expire_sessions?drop=true").await;
    assert_eq!(v, json!({"sessions_expired": 1, "dropped": 37}));
    let during = wait_metrics(
        &pair,
        "refused logins",
        |s| {
            let served: Samples = s
                .iter()
                .filter(|((n, _), _)| state_families().contains(&n.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            assert_eq!(served, state, "the previous state is served");
        },
        |s| {
            total(s, "smc_login_failures_total", None) >= 3.0
                && total(
                    s,
                    "smc_subscription_reconnects_total",
                    Some(("reason", "login_failed")),
                ) >= 1.0
        },
    )
    .await;
    assert_eq!(total(&during, "smc_logins_total", None), 1.0);
    assert_eq!(total(&during, "smc_up", None), 0.0);
    let v = fault(&pair, "refuse_logins?seconds=0").await;
    assert_eq!(v, json!({"refuse_logins_ms": 0, "status": 503}));
    pair.converge().await;
    let after = wait_metrics(
        &pair,
        "every resync",
        |_| {},
        |s| life(s).values().all(|(_, snaps)| *snaps >= 2.0),
    )
    .await;
    assert_eq!(total(&after, "smc_logins_total", None), 2.0);
    assert_eq!(total(&after, "smc_up", None), 1.0);
    pair.stop().await;
    assert_no_panics();
}

/// New connections accepted but never answered: upgrades time out
/// (`connect_timeout`, small here) as `connect_error` until the stall ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_accept_times_out_then_recovers() {
    let pair = start(38, |cfg| {
        cfg.subscription.connect_timeout = Duration::from_millis(300)
    })
    .await;
    let state = state_samples(&pair.metrics().await);
    let v = fault(&pair, "stall_accept?seconds=2&drop=true").await;
    assert_eq!(v, json!({"stall_accept_ms": 2000, "dropped": 37}));
    wait_metrics(
        &pair,
        "connect timeouts",
        |s| {
            let served: Samples = s
                .iter()
                .filter(|((n, _), _)| state_families().contains(&n.as_str()))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            assert_eq!(served, state, "the previous state is served");
        },
        |s| {
            total(
                s,
                "smc_subscription_reconnects_total",
                Some(("reason", "connect_error")),
            ) >= 1.0
        },
    )
    .await;
    pair.sim.churn(200);
    pair.converge().await;
    let after = wait_metrics(
        &pair,
        "every resync",
        |_| {},
        |s| life(s).values().all(|(_, snaps)| *snaps >= 2.0),
    )
    .await;
    assert_eq!(
        total(&after, "smc_logins_total", None),
        1.0,
        "the session stayed valid"
    );
    assert_eq!(sim_faults(&pair).await["stall_accept_ms"], json!(0));
    pair.stop().await;
    assert_no_panics();
}

/// A socket that goes silent (no deltas, no pongs): while stalled its
/// subscription lags and the others are current; on resume the queued
/// deltas arrive without a reconnect; with `then=drop` it reconnects.
/// (The exporter's own detection of a silent socket is
/// `stalled_socket_is_detected_by_the_pong_deadline`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_socket_lags_then_resumes_or_is_dropped() {
    let pair = start(39, |_| {}).await;
    let before = scrape(&pair).await;
    let (target, def) = ("HQ Cluster", "connections");
    let is_stalled = |k: &SeriesKey| {
        k.0 == "smc_connections" && k.1.get("engine").map(String::as_str) == Some(target)
    };
    let v = fault(
        &pair,
        &format!("stall_socket?seconds=60&{}", scope(target, "CONNECTIONS")),
    )
    .await;
    assert_eq!(v["sockets"], json!(1));
    assert_eq!(v["then"], json!("resume"));
    wait_sim(&pair, "the stall", |v| v["stalled_sockets"] == json!(1)).await;
    let records = |s: &Samples| sub(s, "smc_monitoring_records_total", target, def, None);
    let r0 = records(&before);
    pair.sim.churn(300);
    // Every other subscription catches up while the stalled one lags.
    let deadline = Instant::now() + WAIT;
    loop {
        let truth: Samples = state_samples(&smc_lab::truth_text(&pair.sim, &pair.smc))
            .into_iter()
            .filter(|(k, _)| !is_stalled(k))
            .collect();
        let got: Samples = state_samples(&pair.metrics().await)
            .into_iter()
            .filter(|(k, _)| !is_stalled(k))
            .collect();
        if got == truth {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other subscriptions never caught up"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mid = scrape(&pair).await;
    assert_eq!(records(&mid), r0, "a stalled socket delivers nothing");
    let stalled_truth: Samples = state_samples(&smc_lab::truth_text(&pair.sim, &pair.smc))
        .into_iter()
        .filter(|(k, _)| is_stalled(k))
        .collect();
    let stalled_served: Samples = state_samples(&pair.metrics().await)
        .into_iter()
        .filter(|(k, _)| is_stalled(k))
        .collect();
    assert_ne!(
        stalled_served, stalled_truth,
        "the churn reached the stalled table"
    );
    let v = fault(&pair, "stall_socket?seconds=0").await;
    assert_eq!(v, json!({"released": 1}));
    pair.converge().await;
    assert_untouched(&before, &scrape(&pair).await, |_, _| false);

    // Again, ending with a drop.
    let v = fault(
        &pair,
        &format!(
            "stall_socket?seconds=60&then=drop&{}",
            scope(target, "CONNECTIONS")
        ),
    )
    .await;
    assert_eq!(v["then"], json!("drop"));
    wait_sim(&pair, "the stall", |v| v["stalled_sockets"] == json!(1)).await;
    pair.sim.churn(100);
    assert_eq!(
        fault(&pair, "stall_socket?seconds=0").await,
        json!({"released": 1})
    );
    let after = wait_metrics(
        &pair,
        "the resync",
        |_| {},
        |s| sub(s, "smc_subscription_snapshots_total", target, def, None) >= 2.0,
    )
    .await;
    assert_eq!(
        reasons(&after, target, def),
        BTreeMap::from([("read_error".to_string(), 1.0)])
    );
    assert_untouched(&before, &after, |t, d| t == target && d == def);
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}

/// A socket that stops answering is found by the exporter itself: a ping
/// whose pong does not come within `pong_timeout` ends the connection with
/// reason `idle`, the subscription resyncs (while the stall still holds the
/// old socket), and the others are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_socket_is_detected_by_the_pong_deadline() {
    let pair = start(41, |cfg| {
        cfg.subscription.ping_interval = Duration::from_millis(1500);
        cfg.subscription.pong_timeout = Duration::from_millis(1200);
    })
    .await;
    let before = scrape(&pair).await;
    let (target, def) = ("DC Cluster", "routing");
    let v = fault(
        &pair,
        &format!("stall_socket?seconds=60&{}", scope(target, "ROUTING")),
    )
    .await;
    assert_eq!(v["sockets"], json!(1));
    pair.sim.churn(100);
    let after = wait_metrics(
        &pair,
        "the idle reconnect and resync",
        |_| {},
        |s| sub(s, "smc_subscription_snapshots_total", target, def, None) >= 2.0,
    )
    .await;
    assert_eq!(
        reasons(&after, target, def),
        BTreeMap::from([("idle".to_string(), 1.0)])
    );
    assert_untouched(&before, &after, |t, d| t == target && d == def);
    pair.converge().await;
    // The abandoned socket is still stalled on the simulator's side.
    assert_eq!(
        fault(&pair, "stall_socket?seconds=0").await,
        json!({"released": 1})
    );
    pair.stop().await;
    assert_no_panics();
}

/// Slow reader, fast writer: a stalled subscriber under a burst of changes
/// overflows its queue (8192) and is closed; exactly the subscriptions the
/// simulator reports as overflowed resync, the others are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_overflows_a_slow_reader_which_resyncs() {
    let pair = start(40, |_| {}).await;
    let before = scrape(&pair).await;
    let (target, def) = ("Helsinki FW", "connections");
    let v = fault(
        &pair,
        &format!("stall_socket?seconds=60&{}", scope(target, "CONNECTIONS")),
    )
    .await;
    assert_eq!(v["sockets"], json!(1));
    wait_sim(&pair, "the stall", |v| v["stalled_sockets"] == json!(1)).await;
    let v = fault(&pair, "burst?steps=60000").await;
    assert_eq!(v["applied"], json!(60000));
    let overflowed: Vec<(String, String)> = v["overflowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let wire = o["definition"].as_str().unwrap();
            let label = smc_protocol::Definition::ALL
                .into_iter()
                .find(|d| d.wire_name(false) == wire)
                .unwrap()
                .label();
            (o["target"].as_str().unwrap().to_string(), label.to_string())
        })
        .collect();
    assert!(
        overflowed.contains(&(target.to_string(), def.to_string())),
        "the stalled reader overflowed: {v}"
    );
    // The overflowed stalled socket ended: no stall is left.
    wait_sim(&pair, "the end of the stall", |v| {
        v["stalled_sockets"] == json!(0)
    })
    .await;
    pair.converge().await;
    let after = wait_metrics(
        &pair,
        "the resyncs",
        |_| {},
        |s| {
            overflowed
                .iter()
                .all(|(t, d)| sub(s, "smc_subscription_snapshots_total", t, d, None) >= 2.0)
        },
    )
    .await;
    for (t, d) in &overflowed {
        assert_eq!(
            reasons(&after, t, d),
            BTreeMap::from([("read_error".to_string(), 1.0)]),
            "{t}/{d}"
        );
    }
    assert_untouched(&before, &after, |t, d| {
        overflowed.iter().any(|(ot, od)| ot == t && od == d)
    });
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}

/// `subscription.state_max_staleness` (issue 12, item 8): once every
/// subscription has been without a healthy connection for longer than the
/// limit, no state series is served, while the health series stay (so the
/// alerts see the outage); after the SMC is back the state equals the truth.
/// (Before: the last known state was served for the whole outage.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_state_is_withdrawn_after_the_limit_and_the_health_series_stay() {
    let pair = start(39, |cfg| {
        cfg.subscription.connect_timeout = Duration::from_millis(300);
        cfg.subscription.state_max_staleness = Some(Duration::from_millis(500));
    })
    .await;
    let state = |s: &Samples| {
        s.keys()
            .filter(|(n, _)| state_families().contains(&n.as_str()))
            .count()
    };
    assert!(state(&scrape(&pair).await) > 0);
    let v = fault(&pair, "stall_accept?seconds=4&drop=true").await;
    assert_eq!(v["dropped"], json!(37));
    let withdrawn = wait_metrics(&pair, "the state withdrawn", |_| {}, |s| state(s) == 0).await;
    let up: Vec<f64> = withdrawn
        .iter()
        .filter(|((n, _), _)| n == "smc_subscription_up")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(up, vec![0.0; 37], "every health series stays, at 0");
    assert_eq!(total(&withdrawn, "smc_up", None), 0.0);
    pair.converge().await;
    pair.stop().await;
    assert_no_panics();
}
