//! The simulator's log socket, notification socket and element REST seen
//! from a client (protocol §2.2, §3.3, §3.4, §5, §6, §7).

use smc_lab::client::*;

use futures_util::SinkExt;
use serde_json::{Value, json};
use smc_sim::{SimOptions, SimServer};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn start(seed: u64, versions: &[&str]) -> SimServer {
    smc_lab::start_sim(SimOptions {
        seed,
        api_versions: versions.iter().map(|v| v.to_string()).collect(),
        ..SimOptions::default()
    })
    .await
}

/// Epoch ms of a `YYYY-MM-DD HH:MM:SS` UTC timestamp.
fn epoch_ms(ts: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)) * 1000
}

/// Read one log fetch: `success` (returned), `status`, then `records` lists
/// until `end`. Returns (success message, records, records messages).
async fn read_stored(ws: &mut Ws) -> (Value, Vec<Value>, usize) {
    let ok = recv_json(ws).await;
    assert_eq!(ok["success"], "Fetch started", "{ok}");
    let fetch = ok["fetch"].as_i64().unwrap();
    assert_eq!(
        recv_json(ws).await,
        json!({"fetch": fetch, "status": "Querying..."})
    );
    let mut records = Vec::new();
    let mut messages = 0;
    loop {
        let m = recv_json(ws).await;
        assert_eq!(m["fetch"].as_i64(), Some(fetch), "{m}");
        if m.get("end").is_some() {
            assert_eq!(m, json!({"fetch": fetch, "end": "end of data"}));
            break;
        }
        let list = m["records"].as_array().expect("records is a list");
        assert!(!list.is_empty() && list.len() <= 200, "{}", list.len());
        records.extend(list.iter().cloned());
        messages += 1;
    }
    (ok, records, messages)
}

fn stored(quantity: Option<u64>, backwards: bool, field_format: &str) -> Value {
    let mut fetch = json!({"backwards": backwards});
    if let Some(q) = quantity {
        fetch["quantity"] = json!(q);
    }
    json!({"query": {"start_ms": 0, "end_ms": 0, "type": "stored"}, "fetch": fetch,
           "format": {"type": "texts", "field_format": field_format, "resolving": {"senders": true}}})
}

#[tokio::test]
async fn sockets_need_a_live_session() {
    let s = start(1, &["7.1"]).await;
    for path in [LOG, NOTIFY] {
        for cookie in [None, Some("JSESSIONID=NOPE")] {
            match connect(&s, "7.1", path, cookie).await {
                Err(WsError::Http(resp)) => assert_eq!(resp.status(), 401),
                other => panic!("{path}: expected 401, got {:?}", other.map(|_| ())),
            }
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn field_metadata_reply_describes_every_requested_id() {
    let s = start(2, &["7.1"]).await;
    let cookie = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", LOG, Some(&cookie)).await.unwrap();
    // ConnectionQuery's defaults (resolve_field_ids, §2.2), the VPN SA IKE
    // cookie, and an id outside the catalog.
    let ids = [1, 4, 7, 9, 46, 8, 10, 47, 27, 134, 11, 116, 3000, 4242];
    send_json(
        &mut ws,
        &json!({"fetch": {"quantity": 0}, "format": {"type": "detailed", "field_ids": ids}, "query": {}}),
    )
    .await;
    let ok = recv_json(&mut ws).await;
    assert_eq!(ok["success"], "Fetch started");
    let fetch = ok["fetch"].as_i64().unwrap();
    let fields = ok["fields"].as_array().unwrap();
    let got: Vec<u64> = fields.iter().map(|f| f["id"].as_u64().unwrap()).collect();
    assert_eq!(got, ids.map(|i| i as u64));
    for f in fields {
        for k in ["name", "pretty", "comment", "raw_type"] {
            assert!(f[k].is_string(), "{k} of {f}");
        }
        assert!(
            f["filterable"].is_boolean() && f["visible"].is_boolean(),
            "{f}"
        );
    }
    assert_eq!(
        fields[0],
        json!({"id": 1, "name": "Timestamp", "pretty": "Creation Time",
               "comment": "Time of creating the event record.", "filterable": false,
               "raw_type": "time_ms", "visible": true})
    );
    assert_eq!(fields[3]["pretty"], "Src Port");
    assert_eq!(fields[9]["name"], "IpsAppId");
    assert_eq!(fields[12]["name"], "IkeCookie");
    assert_eq!(fields[13]["name"], "Field4242");
    assert_eq!(
        recv_json(&mut ws).await,
        json!({"fetch": fetch, "end": "end of data"})
    );
    // The client aborts even after `end`; the socket then takes another query.
    send_json(&mut ws, &json!({"abort": fetch})).await;
    send_json(&mut ws, &stored(Some(1), true, "id")).await;
    let (ok, records, _) = read_stored(&mut ws).await;
    assert_eq!(ok["fetch"].as_i64(), Some(fetch + 1));
    assert_eq!(records.len(), 1);
    s.shutdown().await;
}

#[tokio::test]
async fn stored_query_returns_the_newest_or_oldest_quantity() {
    let s = start(3, &["7.1"]).await;
    let c = http();
    // Some churn first: stored records are the start history plus one per step.
    post_json(&c, &s, "/sim/churn?steps=40").await;
    let newest = get_json(&c, &s, "/sim/logs").await;
    let oldest = get_json(&c, &s, "/sim/logs?backwards=false").await;
    let all_new = newest["records"].as_array().unwrap().clone();
    let all_old = oldest["records"].as_array().unwrap().clone();
    let total = all_new.len();
    assert_eq!(newest["count"], json!(total));
    assert!(total >= 340, "{total}");
    assert_eq!(
        all_old.iter().rev().cloned().collect::<Vec<_>>(),
        all_new,
        "backwards=false is the reverse order"
    );
    assert_eq!(newest["log_keys"].as_array().unwrap().len(), total);

    let cookie = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", LOG, Some(&cookie)).await.unwrap();
    // LogQuery(fetch_size=25).fetch_batch() in id format: the newest 25, newest first.
    send_json(&mut ws, &stored(Some(25), true, "id")).await;
    let (_, records, messages) = read_stored(&mut ws).await;
    assert_eq!((records.len(), messages), (25, 1));
    assert_eq!(records, all_new[..25]);
    // Forwards: the oldest 250 in two lists (200 + 50).
    send_json(&mut ws, &stored(Some(250), false, "id")).await;
    let (_, records, messages) = read_stored(&mut ws).await;
    assert_eq!((records.len(), messages), (250, 2));
    assert_eq!(records, all_old[..250]);
    // No quantity: everything stored.
    send_json(&mut ws, &stored(None, true, "id")).await;
    let (_, records, _) = read_stored(&mut ws).await;
    assert_eq!(records, all_new);
    // Pretty keys (the default format of the official client).
    send_json(&mut ws, &stored(Some(1), true, "pretty")).await;
    let (_, records, _) = read_stored(&mut ws).await;
    let want = &all_new[0];
    assert_eq!(records[0]["Creation Time"], want["1"]);
    assert_eq!(records[0]["Src Addr"], want["7"]);
    assert_eq!(records[0]["Sender"], want["4"]);
    assert_eq!(records[0]["Facility"], want["22"]);
    assert_eq!(
        records[0].as_object().unwrap().len(),
        want.as_object().unwrap().len()
    );
    // field_ids select.
    let mut q = stored(Some(3), true, "name");
    q["format"]["field_ids"] = json!([1, 22]);
    send_json(&mut ws, &q).await;
    let (_, records, _) = read_stored(&mut ws).await;
    let expect: Vec<Value> = all_new[..3]
        .iter()
        .map(|r| json!({"Timestamp": r["1"], "Facility": r["22"]}))
        .collect();
    assert_eq!(records, expect);
    s.shutdown().await;
}

#[tokio::test]
async fn stored_query_applies_the_filter() {
    let s = start(6, &["7.1"]).await;
    let c = http();
    let all = get_json(&c, &s, "/sim/logs").await["records"]
        .as_array()
        .unwrap()
        .clone();
    let field = |r: &Value, id: &str| r[id].as_str().unwrap_or("").to_string();
    let cookie = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", LOG, Some(&cookie)).await.unwrap();
    // (filter, field id, value, whether rows with that value match)
    let cases = [
        (
            json!({"type": "translated", "value": "$Dport == 443"}),
            "10",
            "443",
            true,
        ),
        (
            json!({"type": "not", "value": {"type": "in", "left": {"type": "field", "id": 22},
                   "right": [{"type": "string", "value": "Inspection"}]}}),
            "22",
            "Inspection",
            false,
        ),
    ];
    for (filter, id, value, equal) in cases {
        let expect: Vec<Value> = all
            .iter()
            .filter(|r| (field(r, id) == value) == equal)
            .cloned()
            .collect();
        assert!(
            !expect.is_empty() && expect.len() < all.len(),
            "{filter}: the filter must split the records ({} of {})",
            expect.len(),
            all.len()
        );
        let mut q = stored(None, true, "id");
        q["query"]["filter"] = filter.clone();
        send_json(&mut ws, &q).await;
        let (_, records, _) = read_stored(&mut ws).await;
        assert_eq!(records, expect, "{filter}");
    }
    // A filter the simulator cannot evaluate is refused by name.
    let mut q = stored(Some(5), true, "id");
    q["query"]["filter"] = json!({"type": "cs_like"});
    send_json(&mut ws, &q).await;
    let m = recv_json(&mut ws).await;
    assert_eq!(
        m["failure"],
        "Invalid filter: cs_like filter is not supported: the client sends it without a value"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn stored_query_honours_the_time_range() {
    let s = start(4, &["7.1"]).await;
    let c = http();
    let oldest = get_json(&c, &s, "/sim/logs?backwards=false").await;
    let all = oldest["records"].as_array().unwrap().clone();
    let ts = |r: &Value| r["1"].as_str().unwrap().to_string();
    let (lo, hi) = (ts(&all[all.len() / 4]), ts(&all[all.len() / 2]));
    let expect: Vec<Value> = all
        .iter()
        .filter(|r| (lo.as_str()..=hi.as_str()).contains(&ts(r).as_str()))
        .cloned()
        .collect();
    assert!(expect.len() >= all.len() / 4 && expect.len() < all.len());

    let cookie = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", LOG, Some(&cookie)).await.unwrap();
    let mut q = stored(None, false, "id");
    q["query"]["start_ms"] = json!(epoch_ms(&lo));
    q["query"]["end_ms"] = json!(epoch_ms(&hi));
    send_json(&mut ws, &q).await;
    let (_, records, _) = read_stored(&mut ws).await;
    assert_eq!(records, expect);
    // Only a lower bound: from `lo` to the newest.
    let mut q = stored(None, false, "id");
    q["query"]["start_ms"] = json!(epoch_ms(&lo));
    send_json(&mut ws, &q).await;
    let (_, records, _) = read_stored(&mut ws).await;
    let from_lo: Vec<Value> = all.iter().filter(|r| ts(r) >= lo).cloned().collect();
    assert_eq!(records, from_lo);
    s.shutdown().await;
}

#[tokio::test]
async fn current_query_streams_exactly_the_appended_records() {
    let s = start(5, &["7.1"]).await;
    let c = http();
    let cookie = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", LOG, Some(&cookie)).await.unwrap();
    send_json(
        &mut ws,
        &json!({"query": {"start_ms": 0, "end_ms": 0, "type": "current"},
               "fetch": {"quantity": 10, "backwards": false},
               "format": {"type": "texts", "field_format": "id"}}),
    )
    .await;
    let ok = recv_json(&mut ws).await;
    assert_eq!(ok["success"], "Fetch started");
    let fetch = ok["fetch"].as_i64().unwrap();
    assert_eq!(
        recv_json(&mut ws).await,
        json!({"fetch": fetch, "status": "Querying..."})
    );
    // The fetch is registered before `success` goes out.
    assert_eq!(
        post_json(&c, &s, "/sim/logs?count=30").await,
        json!({"appended": 30})
    );
    assert_eq!(
        post_json(&c, &s, "/sim/churn?steps=5").await,
        json!({"applied": 5})
    );
    let oldest = get_json(&c, &s, "/sim/logs?backwards=false").await;
    let all = oldest["records"].as_array().unwrap();
    let expect = &all[all.len() - 35..];
    let mut got = Vec::new();
    while got.len() < 35 {
        let m = recv_json(&mut ws).await;
        assert_eq!(m["fetch"].as_i64(), Some(fetch));
        assert!(m.get("end").is_none(), "a current fetch never ends: {m}");
        got.extend(
            m["records"]
                .as_array()
                .expect("records list")
                .iter()
                .cloned(),
        );
    }
    assert_eq!(got, expect);

    // After the abort nothing more of this fetch arrives: the next message
    // is the start of the following query.
    send_json(&mut ws, &json!({"abort": fetch})).await;
    post_json(&c, &s, "/sim/logs?count=3").await;
    send_json(&mut ws, &stored(Some(3), true, "id")).await;
    let (ok, records, _) = read_stored(&mut ws).await;
    assert_eq!(ok["fetch"].as_i64(), Some(fetch + 1));
    let newest = get_json(&c, &s, "/sim/logs").await;
    assert_eq!(records, newest["records"].as_array().unwrap()[..3]);
    s.shutdown().await;
}

#[tokio::test]
async fn bad_log_queries_fail_and_the_socket_stays_open() {
    let s = start(6, &["7.1"]).await;
    let cookie = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", LOG, Some(&cookie)).await.unwrap();
    send_json(&mut ws, &json!({"query": {"type": "history"}, "fetch": {}})).await;
    assert_eq!(
        recv_json(&mut ws).await,
        json!({"failure": "Unknown log query type \"history\": expected 'stored' or 'current'"})
    );
    ws.send(Message::text("{'abort': 3}")).await.unwrap();
    ws.send(Message::text("not json")).await.unwrap();
    assert!(
        recv_json(&mut ws).await["failure"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request")
    );
    let mut q = stored(Some(1), true, "id");
    q["fetch"]["start_record"] = json!("0/0/0");
    send_json(&mut ws, &q).await;
    assert_eq!(
        recv_json(&mut ws).await,
        json!({"failure": "Unknown start_record '0/0/0'"})
    );
    send_json(&mut ws, &stored(Some(2), true, "id")).await;
    let (_, records, _) = read_stored(&mut ws).await;
    assert_eq!(records.len(), 2);

    // Frames over 8192 bytes close the socket with 1009, as on the session socket.
    let mut q = stored(Some(1), true, "id");
    q["pad"] = json!("x".repeat(8200));
    send_json(&mut ws, &q).await;
    match recv(&mut ws).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
    s.shutdown().await;
}

/// Subscribe and check the acknowledgement.
async fn subscribe(ws: &mut Ws, context: &str, id: u64) {
    send_json(ws, &json!({"context": context})).await;
    assert_eq!(
        recv_json(ws).await,
        json!({"success": "Subscribed", "subscription_id": id, "context": context})
    );
}

fn event(kind: &str, href: &Value, sub: u64) -> Value {
    json!({"event": {"type": kind, "element": href}, "subscription_id": sub})
}

#[tokio::test]
async fn notifications_follow_the_subscriptions() {
    let s = start(7, &["6.5", "7.1"]).await;
    let c = http();
    let cookie = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", NOTIFY, Some(&cookie)).await.unwrap();
    subscribe(&mut ws, "host", 1).await;
    subscribe(&mut ws, "*", 2).await;
    subscribe(&mut ws, "network, router", 3).await;

    let hosts = post_json(
        &c,
        &s,
        "/sim/elements?type=host&action=create&count=2&version=7.1",
    )
    .await;
    let hosts = hosts.as_array().unwrap().clone();
    assert_eq!(hosts.len(), 2);
    let prefix = format!("{}/7.1/elements/host/", s.url());
    assert!(
        hosts
            .iter()
            .all(|h| h.as_str().unwrap().starts_with(&prefix)),
        "{hosts:?}"
    );
    for h in &hosts {
        assert_eq!(recv_json(&mut ws).await, event("create", h, 1));
        assert_eq!(recv_json(&mut ws).await, event("create", h, 2));
    }
    let nets = post_json(&c, &s, "/sim/elements?type=network&action=create").await;
    let net = &nets[0];
    assert_eq!(recv_json(&mut ws).await, event("create", net, 2));
    assert_eq!(recv_json(&mut ws).await, event("create", net, 3));

    // Unsubscribing `*` leaves only `host` for host events.
    send_json(&mut ws, &json!({"unsubscribe": 2})).await;
    assert_eq!(
        recv_json(&mut ws).await,
        json!({"success": "Unsubscribed", "subscription_id": 2})
    );
    let upd = post_json(&c, &s, "/sim/elements?type=host&action=update").await;
    assert_eq!(upd, json!([hosts[1]]));
    assert_eq!(recv_json(&mut ws).await, event("update", &hosts[1], 1));
    let del = post_json(&c, &s, "/sim/elements?type=network&action=delete").await;
    assert_eq!(del, json!([net]));
    assert_eq!(recv_json(&mut ws).await, event("delete", net, 3));

    // Bad frames get a failure; the next message is this ack, so no other
    // event was delivered in between.
    ws.send(Message::text("{not json")).await.unwrap();
    assert!(
        recv_json(&mut ws).await["failure"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON")
    );
    send_json(&mut ws, &json!({"subscribe": "host"})).await;
    assert!(
        recv_json(&mut ws).await["failure"]
            .as_str()
            .unwrap()
            .starts_with("Missing context")
    );
    subscribe(&mut ws, "router", 4).await;
    s.shutdown().await;
}

#[tokio::test]
async fn api_6_5_notifications_come_as_events_lists() {
    let s = start(8, &["6.5", "7.1"]).await;
    let c = http();
    let cookie = login(&s, "6.5").await;
    let mut ws = connect(&s, "6.5", NOTIFY, Some(&cookie)).await.unwrap();
    subscribe(&mut ws, "host,network", 1).await;
    let hosts = post_json(
        &c,
        &s,
        "/sim/elements?type=host&action=create&count=3&version=6.5",
    )
    .await;
    // Routers are not in the context.
    post_json(&c, &s, "/sim/elements?type=router&action=create").await;
    let nets = post_json(
        &c,
        &s,
        "/sim/elements?type=network&action=create&version=6.5",
    )
    .await;
    let mut expect: Vec<Value> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| json!({"type": "create", "element": h}))
        .collect();
    expect.push(json!({"type": "create", "element": nets[0]}));
    let mut got = Vec::new();
    while got.len() < expect.len() {
        let m = recv_json(&mut ws).await;
        assert!(m.get("event").is_none(), "{m}");
        assert_eq!(m["subscription_id"], 1);
        got.extend(m["events"].as_array().expect("events list").iter().cloned());
    }
    assert_eq!(got, expect);
    assert!(
        got[0]["element"]
            .as_str()
            .unwrap()
            .contains("/6.5/elements/host/")
    );
    subscribe(&mut ws, "", 2).await;
    s.shutdown().await;
}

#[tokio::test]
async fn element_href_resolves_until_deleted() {
    let s = start(9, &["7.1"]).await;
    let c = http();
    let cookie = login(&s, "7.1").await;
    let created = post_json(&c, &s, "/sim/elements?type=host&action=create").await;
    let href = created[0].as_str().unwrap().to_string();
    let get = |h: String| {
        let c = c.clone();
        let cookie = cookie.clone();
        async move { c.get(h).header("Cookie", cookie).send().await.unwrap() }
    };
    let r = get(href.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["link"],
        json!([{"rel": "self", "href": href, "type": "host"}])
    );
    assert!(
        v["name"]
            .as_str()
            .unwrap()
            .ends_with(href.rsplit('/').next().unwrap())
    );
    assert!(v["address"].as_str().unwrap().starts_with("10."));
    assert_eq!(v["comment"], "");
    // Without a session: 401.
    let r = c.get(&href).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let deleted = post_json(&c, &s, "/sim/elements?type=host&action=delete").await;
    assert_eq!(deleted, json!([href]));
    assert_eq!(get(href.clone()).await.status(), 404);
    assert_eq!(
        get(format!("{}/7.1/elements/host/nope", s.url()))
            .await
            .status(),
        404
    );
    // Control errors.
    let r = c
        .post(format!(
            "{}/sim/elements?type=engine&action=create",
            s.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["details"], "type must be one of host, network, router");
    let r = c
        .post(format!("{}/sim/logs?count=10001", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    s.shutdown().await;
}

/// Read a session socket's `success` and snapshot of `n` rows (id format).
async fn session_snapshot(ws: &mut Ws, def: &str, target: &str, n: usize) -> i64 {
    send_json(
        ws,
        &json!({"query": {"definition": def, "target": target}, "fetch": {},
               "format": {"type": "texts", "field_format": "id"}}),
    )
    .await;
    let ok = recv_json(ws).await;
    assert_eq!(ok["success"], "Fetch started");
    let fetch = ok["fetch"].as_i64().unwrap();
    let mut rows = 0;
    while rows < n {
        let m = recv_json(ws).await;
        rows += m["records"]["added"].as_array().unwrap().len();
    }
    assert_eq!(rows, n);
    fetch
}

#[tokio::test]
async fn deleting_a_block_list_href_removes_the_entry() {
    let s = start(10, &["6.10", "7.1"]).await;
    let c = http();
    let engine = "HQ Cluster";
    let cookie = login(&s, "7.1").await;
    let rows = table_rows(&c, &s, "BLOCK_LIST", engine, Some("7.1")).await;
    assert!(rows.len() >= 2);
    let mut ws = connect(&s, "7.1", "monitoring/session/socket", Some(&cookie))
        .await
        .unwrap();
    let fetch = session_snapshot(&mut ws, "BLOCK_LIST", engine, rows.len()).await;

    let victim = &rows[0];
    let href = victim["block_list_href"].as_str().unwrap().to_string();
    assert!(
        href.contains("/7.1/elements/fw_cluster/") && href.contains("/block_list/"),
        "{href}"
    );
    let del = |h: String, cookie: Option<String>| {
        let c = c.clone();
        async move {
            let mut r = c.delete(h).header("Content-Type", "application/json");
            if let Some(ck) = cookie {
                r = r.header("Cookie", ck);
            }
            r.send().await.unwrap().status()
        }
    };
    assert_eq!(del(href.clone(), None).await, 401);
    assert_eq!(del(href.clone(), Some(cookie.clone())).await, 204);
    // The open session socket gets the `deleted` delta.
    let m = recv_json(&mut ws).await;
    assert_eq!(m["fetch"].as_i64(), Some(fetch));
    let deleted = m["records"]["deleted"].as_array().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["delta_key"], victim["delta_key"]);
    assert!(m["records"].get("added").is_none());
    // The ground truth lost the row; a second delete finds nothing.
    let after = table_rows(&c, &s, "BLOCK_LIST", engine, Some("7.1")).await;
    assert_eq!(after.len(), rows.len() - 1);
    assert!(after.iter().all(|r| r["delta_key"] != victim["delta_key"]));
    assert_eq!(del(href.clone(), Some(cookie.clone())).await, 404);

    // Below 7.0 the href says `blacklist`; the 7.x form is unknown there.
    let old_cookie = login(&s, "6.10").await;
    let legacy = table_rows(&c, &s, "BLACKLIST", engine, Some("6.10")).await;
    let old_href = legacy[0]["blacklist_href"].as_str().unwrap().to_string();
    assert!(old_href.contains("/6.10/elements/") && old_href.contains("/blacklist/"));
    let wrong = old_href.replace("/blacklist/", "/block_list/");
    assert_eq!(del(wrong, Some(old_cookie.clone())).await, 404);
    assert_eq!(del(old_href, Some(old_cookie.clone())).await, 204);
    assert_eq!(
        table_rows(&c, &s, "BLOCK_LIST", engine, Some("7.1"))
            .await
            .len(),
        rows.len() - 2
    );

    // VPN SAs the same way.
    let sas = table_rows(&c, &s, "VPN_SA", engine, Some("7.1")).await;
    let sa_href = sas[0]["vpn_sa_href"].as_str().unwrap().to_string();
    assert_eq!(del(sa_href.clone(), Some(cookie.clone())).await, 204);
    let sas_after = table_rows(&c, &s, "VPN_SA", engine, Some("7.1")).await;
    assert_eq!(sas_after.len(), sas.len() - 1);
    assert_eq!(del(sa_href, Some(cookie.clone())).await, 404);
    s.shutdown().await;
}
