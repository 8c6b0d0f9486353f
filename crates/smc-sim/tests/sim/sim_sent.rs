//! The simulator's ledgers of what its live sockets wrote: `GET
//! /sim/logs/sent` / `SimServer::sent_logs` (per `current` log fetch) and
//! `GET /sim/notifications/sent` / `SimServer::sent_notifications` (per
//! notification socket), compared with what a client actually read.

use smc_lab::client::*;

use serde_json::{Value, json};
use smc_sim::{SentEvent, SentFetch, SentNotifications, SimOptions, SimServer};

async fn start(seed: u64, versions: &[&str]) -> SimServer {
    smc_lab::start_sim(SimOptions {
        seed,
        api_versions: versions.iter().map(|v| v.to_string()).collect(),
        ..SimOptions::default()
    })
    .await
}

/// Start a `current` fetch; returns its id once `status` arrived.
async fn current(ws: &mut Ws, filter: Option<Value>, field_format: &str) -> i64 {
    let mut q = json!({"query": {"start_ms": 0, "end_ms": 0, "type": "current"},
                       "fetch": {"quantity": 10, "backwards": false},
                       "format": {"type": "texts", "field_format": field_format}});
    if let Some(f) = filter {
        q["query"]["filter"] = f;
    }
    send_json(ws, &q).await;
    let ok = recv_json(ws).await;
    assert_eq!(ok["success"], "Fetch started", "{ok}");
    let fetch = ok["fetch"].as_i64().unwrap();
    assert_eq!(
        recv_json(ws).await,
        json!({"fetch": fetch, "status": "Querying..."})
    );
    fetch
}

/// Read `records` messages of `fetch` until `n` records arrived.
async fn read_records(ws: &mut Ws, fetch: i64, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = recv_json(ws).await;
        assert_eq!(m["fetch"].as_i64(), Some(fetch), "{m}");
        got.extend(m["records"].as_array().expect("records").iter().cloned());
    }
    assert_eq!(got.len(), n);
    got
}

/// An `id`-format record as `(field id, value)` pairs, ascending.
fn pairs(r: &Value) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = r
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().to_string()))
        .collect();
    v.sort();
    v
}

/// Poll `GET path` until `done` holds (a readiness signal, bounded by WAIT).
async fn poll(c: &reqwest::Client, s: &SimServer, path: &str, done: impl Fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let v = get_json(c, s, path).await;
        if done(&v) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{path}: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn log_ledger_holds_exactly_what_each_current_fetch_wrote() {
    let s = start(11, &["7.1"]).await;
    let c = http();
    assert_eq!(
        get_json(&c, &s, "/sim/logs/sent").await,
        json!({"fetches": [], "dropped_fetches": 0})
    );
    let cookie = login(&s, "7.1").await;
    let mut pf = connect(&s, "7.1", LOG, Some(&cookie)).await.unwrap();
    let mut all = connect(&s, "7.1", LOG, Some(&cookie)).await.unwrap();
    let filter = json!({"type": "in", "left": {"type": "field", "id": 22},
                        "right": [{"type": "string", "value": "Packet Filtering"}]});
    let f1 = current(&mut pf, Some(filter.clone()), "id").await;
    // The ledger keeps records, whatever format the client asked for.
    let f2 = current(&mut all, None, "pretty").await;
    assert_eq!(
        get_json(&c, &s, "/sim/logs/sent").await,
        json!({"fetches": [
            {"fetch": f1, "live": true, "sent": 0, "records": [], "dropped": 0, "filter": filter},
            {"fetch": f2, "live": true, "sent": 0, "records": [], "dropped": 0, "filter": null}],
            "dropped_fetches": 0})
    );

    assert_eq!(
        post_json(&c, &s, "/sim/logs?count=5").await,
        json!({"appended": 5})
    );
    let stored = get_json(&c, &s, "/sim/logs?backwards=false").await;
    let stored = stored["records"].as_array().unwrap();
    let appended = stored[stored.len() - 5..].to_vec();
    let matching: Vec<Value> = appended
        .iter()
        .filter(|r| r["22"] == "Packet Filtering")
        .cloned()
        .collect();
    assert!(
        !matching.is_empty() && matching.len() < 5,
        "the filter must split the 5 records: {}",
        matching.len()
    );
    assert_eq!(read_records(&mut pf, f1, matching.len()).await, matching);
    read_records(&mut all, f2, 5).await;
    assert_eq!(
        get_json(&c, &s, "/sim/logs/sent").await,
        json!({"fetches": [
            {"fetch": f1, "live": true, "sent": matching.len(), "records": matching, "dropped": 0, "filter": filter},
            {"fetch": f2, "live": true, "sent": 5, "records": appended, "dropped": 0, "filter": null}],
            "dropped_fetches": 0})
    );
    assert_eq!(
        s.sent_logs(),
        vec![
            SentFetch {
                fetch: f1,
                live: true,
                sent: matching.len() as u64,
                records: matching.iter().map(pairs).collect(),
                dropped: 0,
                filter: Some(filter.clone()),
            },
            SentFetch {
                fetch: f2,
                live: true,
                sent: 5,
                records: appended.iter().map(pairs).collect(),
                dropped: 0,
                filter: None,
            }
        ]
    );

    // An aborted fetch stays listed, ended, with what it wrote.
    send_json(&mut pf, &json!({"abort": f1})).await;
    poll(&c, &s, "/sim/logs/sent", |v| {
        v["fetches"][0]["live"] == false
    })
    .await;
    post_json(&c, &s, "/sim/logs?count=2").await;
    read_records(&mut all, f2, 2).await;
    let sent = s.sent_logs();
    assert_eq!(
        sent.iter()
            .map(|f| (f.fetch, f.live, f.sent))
            .collect::<Vec<_>>(),
        vec![(f1, false, matching.len() as u64), (f2, true, 7)]
    );
    // A closed socket ends its fetch too.
    all.close(None).await.unwrap();
    poll(&c, &s, "/sim/logs/sent", |v| {
        v["fetches"][1]["live"] == false
    })
    .await;
    assert_eq!(s.sent_logs()[1].sent, 7);
    s.shutdown().await;
}

fn sent(sub: u64, etype: &str, action: &str, href: &str) -> SentEvent {
    SentEvent {
        subscription_id: sub,
        element_type: etype.into(),
        action: action.into(),
        href: href.into(),
    }
}

#[tokio::test]
async fn notification_ledger_holds_every_event_written() {
    let s = start(12, &["6.5", "7.1"]).await;
    let c = http();
    let cookie = login(&s, "7.1").await;
    let mut new = connect(&s, "7.1", NOTIFY, Some(&cookie)).await.unwrap();
    for (ctx, id) in [("host", 1), ("*", 2)] {
        send_json(&mut new, &json!({"context": ctx})).await;
        assert_eq!(recv_json(&mut new).await["subscription_id"], id);
    }
    let mut old = connect(&s, "6.5", NOTIFY, Some(&cookie)).await.unwrap();
    send_json(&mut old, &json!({"context": "*"})).await;
    assert_eq!(recv_json(&mut old).await["subscription_id"], 1);

    let hosts = post_json(&c, &s, "/sim/elements?type=host&action=create&count=2").await;
    let nets = post_json(&c, &s, "/sim/elements?type=network&action=create").await;
    let (h0, h1, n0) = (
        hosts[0].as_str().unwrap(),
        hosts[1].as_str().unwrap(),
        nets[0].as_str().unwrap(),
    );
    // Five `event` messages on the 7.1 socket, three events in `events`
    // lists on the 6.5 one.
    for _ in 0..5 {
        assert!(recv_json(&mut new).await.get("event").is_some());
    }
    let mut listed = 0;
    while listed < 3 {
        listed += recv_json(&mut old).await["events"]
            .as_array()
            .unwrap()
            .len();
    }
    let old_href = |h: &str| h.replace("/7.1/", "/6.5/");
    let expect = vec![
        SentNotifications {
            socket: 1,
            live: true,
            sent: 5,
            events: vec![
                sent(1, "host", "create", h0),
                sent(2, "host", "create", h0),
                sent(1, "host", "create", h1),
                sent(2, "host", "create", h1),
                sent(2, "network", "create", n0),
            ],
            dropped: 0,
        },
        SentNotifications {
            socket: 2,
            live: true,
            sent: 3,
            events: vec![
                sent(1, "host", "create", &old_href(h0)),
                sent(1, "host", "create", &old_href(h1)),
                sent(1, "network", "create", &old_href(n0)),
            ],
            dropped: 0,
        },
    ];
    assert_eq!(s.sent_notifications(), expect);
    let ev = |e: &SentEvent| {
        json!({"subscription_id": e.subscription_id, "element_type": e.element_type,
               "action": e.action, "href": e.href})
    };
    let sockets: Vec<Value> = expect
        .iter()
        .map(|n| {
            json!({"socket": n.socket, "live": n.live, "sent": n.sent,
                   "events": n.events.iter().map(ev).collect::<Vec<_>>(), "dropped": 0})
        })
        .collect();
    assert_eq!(
        get_json(&c, &s, "/sim/notifications/sent").await,
        json!({"sockets": sockets, "dropped_sockets": 0})
    );

    // A closed socket stays listed, ended; the open one keeps counting.
    old.close(None).await.unwrap();
    poll(&c, &s, "/sim/notifications/sent", |v| {
        v["sockets"][1]["live"] == false
    })
    .await;
    post_json(&c, &s, "/sim/elements?type=host&action=delete").await;
    for _ in 0..2 {
        assert_eq!(recv_json(&mut new).await["event"]["type"], "delete");
    }
    let now = s.sent_notifications();
    assert_eq!(
        now.iter()
            .map(|n| (n.socket, n.live, n.sent))
            .collect::<Vec<_>>(),
        vec![(1, true, 7), (2, false, 3)]
    );
    assert_eq!(
        now[0].events[5..],
        [sent(1, "host", "delete", h1), sent(2, "host", "delete", h1)]
    );
    s.shutdown().await;
}
