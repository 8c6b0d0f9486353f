//! The SMC simulator seen from a client: REST login, the session socket,
//! rendering, churn deltas against the ground truth, and faults.

use smc_exporter::labels::StateFamily;
use smc_lab::client::*;

use std::collections::{BTreeMap, HashMap};

use futures_util::SinkExt;
use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};
use smc_protocol::Definition;
use smc_sim::{self as sim, SimOptions, SimServer};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// A simulator whose `/sim/truth` renders with smc-lab's renderer.
async fn start(seed: u64) -> SimServer {
    smc_lab::start_sim(SimOptions {
        seed,
        ..SimOptions::default()
    })
    .await
}

fn id_query(def: &str, target: &str) -> Value {
    json!({"query": {"definition": def, "target": target}, "fetch": {},
           "format": {"type": "texts", "field_format": "id"}})
}

/// Rows the truth expects for (definition, target).
fn truth_total(truth: &str, def: Definition, target: &str) -> u64 {
    smc_lab::parse_samples(truth)
        .into_iter()
        .filter(|((f, l), _)| {
            f == def.family() && l.get(def.target_label()).map(String::as_str) == Some(target)
        })
        .map(|(_, n)| n as u64)
        .sum()
}

/// Subscribe to `def` on `target` in `id` format (7.1) and read its whole
/// snapshot, sized from the ground truth `truth`.
/// Returns the socket, the fetch id, the records messages and the rows.
async fn subscribe_snapshot(
    s: &SimServer,
    cookie: &str,
    truth: &str,
    def: Definition,
    target: &str,
) -> (Ws, i64, Vec<Value>, Vec<Value>) {
    let mut ws = connect(s, "7.1", SESSION, Some(cookie)).await.unwrap();
    send_json(&mut ws, &id_query(def.wire_name(false), target)).await;
    let (fetch, msgs, rows) = read_snapshot(&mut ws, truth_total(truth, def, target)).await;
    (ws, fetch, msgs, rows)
}

/// Read the success message and the whole snapshot (`expected` rows).
/// Returns (fetch id, records messages, rows).
async fn read_snapshot(ws: &mut Ws, expected: u64) -> (i64, Vec<Value>, Vec<Value>) {
    let ok = recv_json(ws).await;
    assert_eq!(ok["success"], "Fetch started", "{ok}");
    let fetch = ok["fetch"].as_i64().unwrap();
    let mut msgs = Vec::new();
    let mut rows = Vec::new();
    loop {
        let m = recv_json(ws).await;
        assert_eq!(m["fetch"].as_i64(), Some(fetch));
        let added = m["records"]["added"].as_array().unwrap().clone();
        rows.extend(added);
        msgs.push(m);
        if rows.len() as u64 >= expected {
            break;
        }
    }
    assert_eq!(rows.len() as u64, expected);
    (fetch, msgs, rows)
}

fn assert_all_values_strings(rec: &Value) {
    for (k, v) in rec.as_object().unwrap() {
        match (k.as_str(), v) {
            ("first_fetch", Value::Bool(_)) => {}
            (_, Value::Object(_)) => assert_all_values_strings(v),
            (_, Value::String(_)) => {}
            _ => panic!("{k}: {v} is not a string"),
        }
    }
}

#[tokio::test]
async fn rest_login_discovery_and_logout() {
    let s = start(1).await;
    let c = http();
    let r = c.get(format!("{}/api", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    let rels: Vec<&str> = v["version"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, ["6.10", "7.0", "7.1"]);

    let bad = c
        .post(format!("{}/7.1/login", s.url()))
        .json(&json!({"domain": "Shared Domain", "authenticationkey": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let unknown = c
        .post(format!("{}/5.9/login", s.url()))
        .json(&json!({"domain": "Shared Domain", "authenticationkey": s.world_info().api_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let cookie = login(&s, "7.1").await;
    assert!(cookie.starts_with("JSESSIONID="));
    assert_eq!(
        c.get(format!("{}/7.1/api", s.url()))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = c
        .get(format!("{}/7.1/api", s.url()))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    let eps: HashMap<&str, &Value> = v["entry_point"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["rel"].as_str().unwrap(), e))
        .collect();
    for rel in ["current_user", "logout", "system", "elements"] {
        assert!(eps.contains_key(rel), "{rel} missing");
    }
    assert_eq!(eps["logout"]["method"], "PUT");
    let cu = eps["current_user"]["href"].as_str().unwrap();
    assert_eq!(
        c.get(cu)
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let sys: Value = c
        .get(eps["system"]["href"].as_str().unwrap())
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ver_href = sys["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "smc_version")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .get(&ver_href)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert!(v["value"].as_str().unwrap().starts_with("7.1."), "{v}");

    let out = c
        .put(eps["logout"]["href"].as_str().unwrap())
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(
        c.get(format!("{}/7.1/api", s.url()))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    s.shutdown().await;
}

#[tokio::test]
async fn upgrade_needs_a_live_session() {
    let s = start(1).await;
    for cookie in [None, Some("JSESSIONID=NOPE")] {
        match connect(&s, "7.1", SESSION, cookie).await {
            Err(WsError::Http(resp)) => assert_eq!(resp.status(), 401),
            other => panic!("expected 401, got {:?}", other.map(|_| ())),
        }
    }
    let cookie = login(&s, "7.1").await;
    assert!(connect(&s, "7.1", SESSION, Some(&cookie)).await.is_ok());
    s.shutdown().await;
}

#[tokio::test]
async fn connections_snapshot_in_id_format_matches_truth() {
    let s = start(42).await;
    let cookie = login(&s, "7.1").await;
    let truth = smc_lab::truth_text(&s, "t");
    let engine = "HQ Cluster";
    let expected = truth_total(&truth, Definition::Connections, engine);
    assert!(expected > 200, "snapshot should span several batches");

    let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
    send_json(&mut ws, &id_query("CONNECTIONS", engine)).await;
    let (fetch, msgs, rows) = read_snapshot(&mut ws, expected).await;
    assert!(
        fetch < 0,
        "the first fetch id is a seeded negative number: {fetch}"
    );
    assert!(msgs.len() >= 2);
    for m in &msgs {
        let r = m["records"].as_object().unwrap();
        assert!(r["added"].as_array().unwrap().len() <= 200);
        assert_eq!(r["updated"], json!([]));
        assert_eq!(r["deleted"], json!([]));
    }
    assert!(
        !msgs[0]["records"]["added"].as_array().unwrap().is_empty(),
        "first batch must hold rows"
    );

    // Fold the rows by the default labels and compare with the truth lines.
    let mut counts: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r["first_fetch"], json!(true));
        assert!(r["delta_key"].as_str().is_some_and(|k| !k.is_empty()));
        assert_eq!(r["302"], "1");
        assert_eq!(r["34"], "6");
        for key in r.as_object().unwrap().keys() {
            assert!(
                key.parse::<u32>().is_ok() || key == "delta_key" || key == "first_fetch",
                "{key}"
            );
        }
        assert_all_values_strings(r);
        let labels = ["4", "11", "116"]
            .iter()
            .map(|k| r[*k].as_str().unwrap().to_string())
            .collect();
        *counts.entry(labels).or_default() += 1;
    }
    let mut want: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for ((f, l), n) in smc_lab::parse_samples(&truth) {
        if f == "smc_connections" && l["engine"] == engine {
            let key = ["node", "protocol", "state"].map(|k| l[k].clone()).to_vec();
            want.insert(key, n as u64);
        }
    }
    assert_eq!(counts, want);
    assert!(
        counts.keys().any(|k| k[0] == "HQ Cluster node 2"),
        "both cluster nodes report"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_target_or_definition_fails() {
    let s = start(1).await;
    let cookie = login(&s, "7.1").await;
    for (def, target, needle) in [
        ("CONNECTIONS", "No Such FW", "No Such FW"),
        ("ACTIVE_ALERTS", "Helsinki FW", "Helsinki FW"),
        ("CONNECTIONS", "Shared Domain", "Shared Domain"),
        ("NOT_A_TABLE", "Helsinki FW", "NOT_A_TABLE"),
    ] {
        let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
        send_json(&mut ws, &id_query(def, target)).await;
        let m = recv_json(&mut ws).await;
        let reason = m["failure"].as_str().unwrap_or_else(|| panic!("{m}"));
        assert!(reason.contains(needle), "{reason}");
        match recv(&mut ws).await {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::Normal),
            other => panic!("expected a normal close, got {other:?}"),
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn rendering_follows_the_format() {
    let s = start(3).await;
    let cookie = login(&s, "7.1").await;
    let truth = smc_lab::truth_text(&s, "t");
    let n = truth_total(&truth, Definition::BlockList, "Helsinki FW");
    let fetch_rows = |format: Value| {
        let cookie = cookie.clone();
        let s = &s;
        async move {
            let mut ws = connect(s, "7.1", SESSION, Some(&cookie)).await.unwrap();
            send_json(&mut ws, &json!({"query": {"definition": "BLOCK_LIST", "target": "Helsinki FW"}, "fetch": {}, "format": format})).await;
            read_snapshot(&mut ws, n).await.2
        }
    };

    let name = fetch_rows(
        json!({"type": "texts", "field_format": "name", "resolving": {"senders": true}}),
    )
    .await;
    let pretty = fetch_rows(json!({"type": "texts", "field_format": "pretty"})).await;
    let default = fetch_rows(json!({"type": "texts"})).await;
    let ids =
        fetch_rows(json!({"type": "texts", "field_format": "id", "field_ids": [4, 122]})).await;
    let names =
        fetch_rows(json!({"type": "texts", "field_format": "name", "field_names": ["NodeId"]}))
            .await;
    let combined = fetch_rows(json!({"type": "combined", "formats": {
        "bldata": {"type": "texts", "field_format": "name", "resolving": {"senders": true}},
        "blid": {"type": "texts", "field_format": "pretty", "resolving": {"senders": true}, "field_ids": [117]}}}))
    .await;

    for r in name.iter().chain(&pretty).chain(&ids).chain(&combined) {
        assert_all_values_strings(r);
    }
    let r = &name[0];
    assert_eq!(r["NodeId"], "Helsinki FW node 1");
    assert_eq!(r["SenderDomain"], "Shared Domain");
    assert_eq!(r["DataTags"], "INFO: BLOCK_LIST Monitoring");
    for k in [
        "Timestamp",
        "CompId",
        "ReceptionTime",
        "DataType",
        "SessionEvent",
        "BlacklistEntryProtocol",
        "Blacklister",
    ] {
        assert!(r.get(k).is_some(), "{k} missing in {r}");
    }
    let href = r["block_list_href"].as_str().unwrap();
    assert!(
        href.starts_with(&format!("{}/7.1/elements/single_fw/", s.url())),
        "{href}"
    );
    assert!(
        href.ends_with(&format!(
            "/block_list/{}",
            r["BlacklistEntryId"].as_str().unwrap()
        )),
        "{href}"
    );
    assert_eq!(pretty[0]["Sender"], "Helsinki FW node 1");
    assert!(pretty[0].get("NodeId").is_none());
    assert_eq!(default[0], name[0], "name is the default field_format");

    let mut keys: Vec<&String> = ids[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["122", "4", "block_list_href", "delta_key", "first_fetch"]
    );
    let mut keys: Vec<&String> = names[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["NodeId", "block_list_href", "delta_key", "first_fetch"]
    );

    let c = &combined[0];
    assert_eq!(c["first_fetch"], json!(true));
    assert_eq!(c["delta_key"], name[0]["delta_key"]);
    assert_eq!(c["bldata"]["NodeId"], "Helsinki FW node 1");
    assert!(c["bldata"]["block_list_href"].is_string());
    let blid = c["blid"].as_object().unwrap();
    assert!(
        blid["Blacklist Entry ID"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok(),
        "{blid:?}"
    );
    assert!(blid.get("NodeId").is_none() && blid.get("Sender").is_none());
    s.shutdown().await;
}

/// Apply one `records` message to a fold keyed by delta_key.
fn apply(
    table: &mut HashMap<String, Vec<String>>,
    def: Definition,
    m: &Value,
    stats: &mut HashMap<&'static str, u64>,
) {
    let labels = |r: &Value| -> Vec<String> {
        def.default_group_by()
            .iter()
            .map(|l| {
                let g = def.group_field(l).unwrap();
                g.transform
                    .apply(r[g.field.to_string()].as_str().unwrap())
                    .to_string()
            })
            .collect()
    };
    let rec = m["records"].as_object().unwrap();
    for r in rec
        .get("added")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        *stats.entry("added").or_default() += 1;
        let key = r["delta_key"].as_str().unwrap().to_string();
        assert!(table.insert(key, labels(r)).is_none(), "added twice");
    }
    for r in rec
        .get("updated")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        *stats.entry("updated").or_default() += 1;
        assert_eq!(r["302"], "2");
        let key = r["delta_key"].as_str().unwrap().to_string();
        let new = labels(r);
        let old = table
            .insert(key, new.clone())
            .expect("update of an unknown key");
        if old != new {
            *stats.entry("label_moves").or_default() += 1;
        }
    }
    for r in rec
        .get("deleted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = r["delta_key"].as_str().unwrap();
        assert!(table.remove(key).is_some(), "delete of an unknown key");
        let shape = if r.as_object().unwrap().len() == 1 {
            "deleted_key_only"
        } else {
            "deleted_full"
        };
        *stats.entry(shape).or_default() += 1;
    }
}

#[tokio::test]
async fn churn_deltas_fold_to_the_truth() {
    let s = start(9).await;
    let cookie = login(&s, "7.1").await;
    let info = s.world_info();
    let truth = smc_lab::truth_text(&s, "sim");
    let mut targets: Vec<(Definition, String)> = Vec::new();
    for e in &info.engines {
        targets.extend(Definition::engine_scoped().map(|d| (d, e.clone())));
    }
    targets.extend(
        info.alert_domains
            .iter()
            .map(|d| (Definition::ActiveAlerts, d.clone())),
    );

    let mut sockets = Vec::new();
    let mut folds: Vec<HashMap<String, Vec<String>>> = Vec::new();
    let mut stats = HashMap::new();
    for (def, target) in &targets {
        let (ws, _, msgs, _) = subscribe_snapshot(&s, &cookie, &truth, *def, target).await;
        let mut fold = HashMap::new();
        for m in &msgs {
            apply(&mut fold, *def, m, &mut HashMap::new());
        }
        folds.push(fold);
        sockets.push(ws);
    }

    let steps = 3000;
    assert_eq!(s.churn(steps), steps);
    let after = smc_lab::truth_text(&s, "sim");
    assert_ne!(after, truth);
    let mut merged = stream::select_all(
        sockets
            .into_iter()
            .enumerate()
            .map(|(i, ws)| ws.map(move |m| (i, m)).boxed()),
    );
    let mut seen = 0;
    while seen < steps {
        let (i, m) = tokio::time::timeout(WAIT, merged.next())
            .await
            .unwrap()
            .unwrap();
        let Message::Text(t) = m.unwrap() else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        let lists: usize = v["records"]
            .as_object()
            .unwrap()
            .values()
            .map(|l| l.as_array().unwrap().len())
            .sum();
        assert_eq!(lists, 1, "one mutation per message: {v}");
        apply(&mut folds[i], targets[i].0, &v, &mut stats);
        seen += 1;
    }
    for k in [
        "added",
        "updated",
        "deleted_key_only",
        "deleted_full",
        "label_moves",
    ] {
        assert!(
            stats.get(k).copied().unwrap_or(0) > 0,
            "no {k} in {stats:?}"
        );
    }

    // Render the folds as truth lines and compare with the sim's own truth.
    let mut got: Vec<String> = Vec::new();
    for ((def, target), fold) in targets.iter().zip(&folds) {
        let mut series: BTreeMap<&Vec<String>, u64> = BTreeMap::new();
        for labels in fold.values() {
            *series.entry(labels).or_default() += 1;
        }
        for (labels, n) in series {
            let mut line = format!(
                "{}{{smc=\"sim\",{}=\"{target}\"",
                def.family(),
                def.target_label()
            );
            for (l, v) in def.default_group_by().iter().zip(labels) {
                line.push_str(&format!(",{l}=\"{v}\""));
            }
            got.push(format!("{line}}} {n}"));
        }
    }
    let mut want: Vec<String> = after
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(String::from)
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    s.shutdown().await;
}

#[tokio::test]
async fn abort_stops_streaming() {
    let s = start(5).await;
    let cookie = login(&s, "7.1").await;
    let (mut ws, fetch, _, _) = subscribe_snapshot(
        &s,
        &cookie,
        &smc_lab::truth_text(&s, "t"),
        Definition::Connections,
        "Helsinki FW",
    )
    .await;
    // The async client's non-JSON abort, then a ping as a barrier: the pong
    // proves the server has handled the abort.
    ws.send(Message::text(format!("{{'abort': {fetch}}}")))
        .await
        .unwrap();
    ws.send(Message::Ping(b"barrier".to_vec().into()))
        .await
        .unwrap();
    loop {
        match recv(&mut ws).await {
            Some(Ok(Message::Pong(p))) if p.as_ref() == b"barrier" => break,
            Some(Ok(Message::Text(t))) => panic!("unexpected message before the barrier: {t}"),
            other => assert!(matches!(other, Some(Ok(_))), "{other:?}"),
        }
    }
    s.churn(2000);
    ws.close(None).await.unwrap();
    loop {
        match recv(&mut ws).await {
            Some(Ok(Message::Text(t))) => panic!("streamed after abort: {t}"),
            Some(Ok(Message::Close(_))) | None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn drop_connections_ends_sockets_without_close_frame() {
    let s = start(2).await;
    let cookie = login(&s, "7.1").await;
    let (mut ws, ..) = subscribe_snapshot(
        &s,
        &cookie,
        &smc_lab::truth_text(&s, "t"),
        Definition::Routing,
        "plano-fw",
    )
    .await;
    assert_eq!(s.drop_connections(), 1);
    match recv(&mut ws).await {
        None | Some(Err(_)) => {}
        other => panic!("expected an abrupt end, got {other:?}"),
    }
    assert_eq!(s.drop_connections(), 0);
    s.shutdown().await;
}

#[tokio::test]
async fn oversized_client_frame_closes_with_1009() {
    let s = start(1).await;
    let cookie = login(&s, "7.1").await;
    // Just under the limit: accepted (180 IPs, as in Forcepoint's own example).
    let ips: Vec<Value> = (0..180)
        .map(|i| json!({"type": "ip", "value": format!("10.0.{}.{}", i / 250, i % 250)}))
        .collect();
    let mut q = id_query("USERS", "ngf-1065");
    q["query"]["filter"] = json!({"type": "in", "left": {"type": "field", "id": 7}, "right": ips});
    assert!(q.to_string().len() <= 8192);
    let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
    send_json(&mut ws, &q).await;
    assert_eq!(recv_json(&mut ws).await["success"], "Fetch started");

    let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
    let mut q = id_query("USERS", "ngf-1065");
    q["pad"] = json!("x".repeat(8200));
    send_json(&mut ws, &q).await;
    match recv(&mut ws).await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(u16::from(f.code), 1009);
            assert_eq!(
                f.reason.as_str(),
                "The decoded text message was too big for the output buffer and the endpoint does not support partial messages"
            );
        }
        other => panic!("expected close 1009, got {other:?}"),
    }
    s.shutdown().await;
}

#[tokio::test]
async fn block_list_naming_follows_the_api_version() {
    let s = start(4).await;
    let n = truth_total(
        &smc_lab::truth_text(&s, "t"),
        Definition::BlockList,
        "DC Cluster",
    );
    let c6 = login(&s, "6.10").await;
    let mut ws = connect(&s, "6.10", SESSION, Some(&c6)).await.unwrap();
    send_json(&mut ws, &id_query("BLACKLIST", "DC Cluster")).await;
    let (_, msgs, rows) = read_snapshot(&mut ws, n).await;
    for m in &msgs {
        let keys: Vec<&String> = m["records"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["added"], "6.x snapshots carry only added");
    }
    for r in &rows {
        assert!(r.get("first_fetch").is_none());
        assert!(
            r["blacklist_href"]
                .as_str()
                .unwrap()
                .contains("/6.10/elements/fw_cluster/")
        );
        assert_eq!(r["485"], "INFO: Blacklist Monitoring");
    }
    let mut ws = connect(&s, "6.10", SESSION, Some(&c6)).await.unwrap();
    send_json(&mut ws, &id_query("BLOCK_LIST", "DC Cluster")).await;
    assert!(
        recv_json(&mut ws).await["failure"]
            .as_str()
            .unwrap()
            .contains("BLOCK_LIST")
    );

    let c7 = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", SESSION, Some(&c7)).await.unwrap();
    send_json(&mut ws, &id_query("BLACKLIST", "DC Cluster")).await;
    assert!(
        recv_json(&mut ws).await["failure"]
            .as_str()
            .unwrap()
            .contains("BLACKLIST")
    );
    s.shutdown().await;
}

#[tokio::test]
async fn empty_table_sends_one_empty_batch() {
    let s = start(1).await;
    let cookie = login(&s, "7.1").await;
    assert_eq!(
        truth_total(
            &smc_lab::truth_text(&s, "t"),
            Definition::SslVpn,
            "plano-fw"
        ),
        0
    );
    let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
    send_json(&mut ws, &id_query("SSLVPNV2", "plano-fw")).await;
    let (fetch, msgs, _) = read_snapshot(&mut ws, 0).await;
    assert_eq!(
        msgs,
        [json!({"fetch": fetch, "records": {"added": [], "updated": [], "deleted": []}})]
    );
    s.shutdown().await;
}

/// Without a renderer the simulator has no text for its ground truth:
/// `GET /sim/truth` says so in one line, and the structured truth is there.
#[tokio::test]
async fn truth_without_a_renderer_is_501() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = sim::start(listener, SimOptions::default()).await.unwrap();
    let r = http()
        .get(format!("{}/sim/truth?smc=x", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"details": "no ground-truth renderer: this simulator was started without SimOptions::truth_text (smc-lab simulate has one)", "status": 501})
    );
    assert_eq!(s.truth_text("x"), None);
    assert!(s.truth_tables().iter().map(|t| t.rows.len()).sum::<usize>() > 100);
    s.shutdown().await;
}

#[tokio::test]
async fn control_endpoints() {
    let s = start(6).await;
    let c = http();
    let world = get_json(&c, &s, "/sim/world").await;
    assert_eq!(world, serde_json::to_value(s.world_info()).unwrap());
    assert!(
        world["engines"]
            .as_array()
            .unwrap()
            .contains(&json!("HQ Cluster"))
    );

    let r = c
        .get(format!("{}/sim/truth?smc=my%20smc", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    assert_eq!(text, smc_lab::truth_text(&s, "my smc"));
    for def in Definition::ALL {
        assert!(text.contains(&format!("# TYPE {} gauge\n", def.family())));
    }
    assert!(text.contains("smc_active_alerts{smc=\"my smc\",domain=\"Shared Domain\",severity=\""));
    let default = c
        .get(format!("{}/sim/truth", s.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(default, smc_lab::truth_text(&s, "sim"));

    let v = post_json(&c, &s, "/sim/churn?steps=25").await;
    assert_eq!(v, json!({"applied": 25}));
    assert_ne!(smc_lab::truth_text(&s, "my smc"), text);
    let v = post_json(&c, &s, "/sim/churn?rate=0").await;
    assert_eq!(v["rate"], json!(0.0));
    let v = post_json(&c, &s, "/sim/fault/drop").await;
    assert_eq!(v, json!({"dropped": 0}));
    s.shutdown().await;
}

#[tokio::test]
async fn background_churn_streams_deltas() {
    let s = start(8).await;
    let cookie = login(&s, "7.1").await;
    let (mut ws, ..) = subscribe_snapshot(
        &s,
        &cookie,
        &smc_lab::truth_text(&s, "t"),
        Definition::Connections,
        "DC Cluster",
    )
    .await;
    s.set_churn_rate(500.0);
    let m = recv_json(&mut ws).await;
    assert!(m["records"].is_object(), "{m}");
    assert!(
        m["records"]
            .get("added")
            .is_none_or(|a| a[0].get("first_fetch").is_none())
    );
    s.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_world() {
    let a = start(77).await;
    let b = start(77).await;
    let c = start(78).await;
    assert_eq!(a.world_info().api_key, b.world_info().api_key);
    assert_ne!(a.world_info().api_key, c.world_info().api_key);
    a.churn(500);
    b.churn(500);
    assert_eq!(smc_lab::truth_text(&a, "x"), smc_lab::truth_text(&b, "x"));
    assert_ne!(smc_lab::truth_text(&a, "x"), smc_lab::truth_text(&c, "x"));
    for s in [a, b, c] {
        s.shutdown().await;
    }
}
