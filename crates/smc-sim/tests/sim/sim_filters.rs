//! Session-query filters in the simulator (protocol §2.3): a filtered fetch's
//! snapshot, and its live view after churn, equal the ground-truth rows of
//! `GET /sim/table` that satisfy the same predicate computed here; invalid
//! filters are refused with an exact failure text.

use smc_lab::client::*;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use futures_util::SinkExt;
use futures_util::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use smc_sim::{SimOptions, SimServer};
use tokio_tungstenite::tungstenite::Message;

/// A ground-truth or received row: id-format record.
type Row = Map<String, Value>;
/// A predicate over a row, computed independently of the simulator.
type Pred = Box<dyn Fn(&Row) -> bool>;

async fn start(seed: u64) -> SimServer {
    smc_lab::start_sim(SimOptions {
        seed,
        ..SimOptions::default()
    })
    .await
}

fn filtered_query(def: &str, target: &str, filter: &Value) -> Value {
    json!({"query": {"definition": def, "target": target, "filter": filter}, "fetch": {},
           "format": {"type": "texts", "field_format": "id"}})
}

/// The ground-truth rows of one table.
async fn table(s: &SimServer, def: &str, target: &str) -> Vec<Row> {
    table_rows(&http(), s, def, target, None)
        .await
        .into_iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

/// A row without the per-message keys (`first_fetch`, SessionEvent 302).
fn comparable(r: &Row) -> Row {
    let mut r = r.clone();
    r.remove("first_fetch");
    r.remove("302");
    r
}

fn by_key<'a>(rows: impl IntoIterator<Item = &'a Row>) -> HashMap<String, Row> {
    let mut out = HashMap::new();
    for r in rows {
        let key = r["delta_key"].as_str().unwrap().to_string();
        assert!(out.insert(key, comparable(r)).is_none(), "duplicate row");
    }
    out
}

fn val(r: &Row, id: u32) -> &str {
    r.get(&id.to_string())
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("row without field {id}: {r:?}"))
}

fn ip(r: &Row, id: u32) -> Ipv4Addr {
    val(r, id).parse().unwrap()
}

/// Subscribe with `filter`, then read every message up to the pong of a
/// ping sent right after the query: the server only reads (and answers)
/// the ping once the whole snapshot is sent. Returns (fetch, messages).
async fn filtered_snapshot(
    ws: &mut Ws,
    def: &str,
    target: &str,
    filter: &Value,
) -> (i64, Vec<Value>) {
    ws.send(Message::text(
        filtered_query(def, target, filter).to_string(),
    ))
    .await
    .unwrap();
    ws.send(Message::Ping(b"end-of-snapshot".to_vec().into()))
        .await
        .unwrap();
    let mut msgs = Vec::new();
    loop {
        match recv(ws).await.map(|m| m.unwrap()) {
            Some(Message::Text(t)) => msgs.push(serde_json::from_str::<Value>(&t).unwrap()),
            Some(Message::Pong(p)) if p.as_ref() == b"end-of-snapshot" => break,
            Some(Message::Ping(_) | Message::Pong(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(msgs.len() < 100, "snapshot never ended");
    }
    let ok = msgs.remove(0);
    assert_eq!(ok["success"], "Fetch started", "{ok}");
    (ok["fetch"].as_i64().unwrap(), msgs)
}

struct Case {
    def: &'static str,
    target: &'static str,
    filter: Value,
    pred: Pred,
    /// The predicate must select some but not all rows.
    proper_subset: bool,
}

fn case(def: &'static str, target: &'static str, filter: Value, pred: Pred) -> Case {
    Case {
        def,
        target,
        filter,
        pred,
        proper_subset: true,
    }
}

fn field_in(id: u32, right: Value) -> Value {
    json!({"type": "in", "left": {"type": "field", "id": id}, "right": right})
}

#[tokio::test]
async fn filtered_snapshots_equal_the_filtered_ground_truth() {
    let s = start(3).await;
    let cookie = login(&s, "7.1").await;
    // Helsinki FW is site 10: its internal addresses are 10.10.x.y.
    let hel = table(&s, "CONNECTIONS", "Helsinki FW").await;
    let some_dst = val(&hel[0], 8).to_string();
    let some_dst_ip: Ipv4Addr = some_dst.parse().unwrap();
    let net = |a: Ipv4Addr, base: [u8; 4], prefix: u32| {
        let mask = u32::MAX << (32 - prefix);
        u32::from(a) & mask == u32::from(Ipv4Addr::from(base)) & mask
    };
    let in_range = |a: Ipv4Addr, lo: [u8; 4], hi: [u8; 4]| {
        (u32::from(Ipv4Addr::from(lo))..=u32::from(Ipv4Addr::from(hi))).contains(&u32::from(a))
    };

    let mut cases = vec![
        case(
            "CONNECTIONS",
            "Helsinki FW",
            field_in(7, json!([{"type": "ip", "value": "10.10.0.0/16"}])),
            Box::new(move |r| net(ip(r, 7), [10, 10, 0, 0], 16)),
        ),
        case(
            "CONNECTIONS",
            "Helsinki FW",
            json!({"type": "in", "left": {"type": "ip", "value": some_dst},
                   "right": [{"type": "field", "id": 7}, {"type": "field", "id": 8}]}),
            Box::new(move |r| ip(r, 7) == some_dst_ip || ip(r, 8) == some_dst_ip),
        ),
        case(
            "CONNECTIONS",
            "Helsinki FW",
            json!({"type": "translated", "value": "$Dport == 443"}),
            Box::new(|r| val(r, 10) == "443"),
        ),
        case(
            "CONNECTIONS",
            "HQ Cluster",
            json!({"type": "and", "values": [
                field_in(11, json!([{"type": "string", "value": "TCP"}])),
                {"type": "not", "value": {"type": "translated", "value": "$Dport == 443"}},
            ]}),
            Box::new(|r| val(r, 11) == "TCP" && val(r, 10) != "443"),
        ),
        case(
            "CONNECTIONS",
            "HQ Cluster",
            json!({"type": "or", "values": [
                field_in(11, json!([{"type": "string", "value": "UDP"}])),
                field_in(10, json!([{"type": "number", "value": 22}])),
                field_in(27, json!([{"type": "service", "value": "TCP/80"}])),
            ]}),
            Box::new(|r| {
                val(r, 11) == "UDP"
                    || val(r, 10) == "22"
                    || (val(r, 11) == "TCP" && val(r, 10) == "80")
            }),
        ),
        case(
            "CONNECTIONS",
            "DC Cluster",
            json!({"type": "translated",
                   "value": "$Src IN range(ipv4(\"10.50.0.0\"), ipv4(\"10.50.15.255\")) OR $Dst == ipv4( 10.50.3.7 )"}),
            Box::new(move |r| {
                in_range(ip(r, 7), [10, 50, 0, 0], [10, 50, 15, 255])
                    || ip(r, 8) == Ipv4Addr::new(10, 50, 3, 7)
            }),
        ),
        // Every TCP connection: a snapshot of several batches.
        case(
            "CONNECTIONS",
            "DC Cluster",
            json!({"type": "translated", "value": "$Protocol == \"TCP\""}),
            Box::new(|r| val(r, 11) == "TCP"),
        ),
        case(
            "ACTIVE_ALERTS",
            "Shared Domain",
            json!({"type": "defined", "value": {"type": "field", "name": "VulnerabilityReferences"}}),
            Box::new(|r| !val(r, 20000).is_empty()),
        ),
        case(
            "ACTIVE_ALERTS",
            "Shared Domain",
            field_in(602, json!([{"type": "constant", "value": 10}])),
            Box::new(|r| val(r, 602) == "Critical"),
        ),
        case(
            "ACTIVE_ALERTS",
            "Branch Offices",
            field_in(
                602,
                json!([{"type": "constant", "value": 3}, {"type": "constant", "value": 5}]),
            ),
            Box::new(|r| matches!(val(r, 602), "Low" | "High")),
        ),
        case(
            "ACTIVE_ALERTS",
            "Branch Offices",
            field_in(14, json!([{"type": "constant", "value": 0}])),
            Box::new(|r| val(r, 14) == "Discard"),
        ),
        // An address inside the `a - b` range of the local networks.
        case(
            "VPN_SA",
            "ngf-1065",
            json!({"type": "in", "left": {"type": "field", "id": 20008},
                   "right": [{"type": "ip", "value": "172.18.0.0/20"}]}),
            Box::new(move |r| {
                let (lo, hi) = val(r, 20008).split_once(" - ").unwrap();
                let (lo, hi): (Ipv4Addr, Ipv4Addr) = (lo.parse().unwrap(), hi.parse().unwrap());
                net(lo, [172, 18, 0, 0], 20) && net(hi, [172, 18, 0, 0], 20)
            }),
        ),
    ];
    cases.push(Case {
        proper_subset: false,
        ..case(
            "VPN_SA",
            "ngf-1065",
            field_in(20007, json!([{"type": "ip", "value": "10.30.200.1"}])),
            Box::new(|r| val(r, 20007) == "10.30.0.0 - 10.30.255.255"),
        )
    });
    // Nothing matches: one empty records message.
    cases.push(Case {
        proper_subset: false,
        ..case(
            "CONNECTIONS",
            "plano-fw",
            json!({"type": "defined", "value": {"type": "field", "id": 602}}),
            Box::new(|_| false),
        )
    });

    let mut multi_batch = false;
    for c in &cases {
        let truth = table(&s, c.def, c.target).await;
        let want: Vec<&Row> = truth.iter().filter(|r| (c.pred)(r)).collect();
        if c.proper_subset {
            assert!(
                !want.is_empty() && want.len() < truth.len(),
                "{}: the predicate selects {} of {} rows",
                c.filter,
                want.len(),
                truth.len()
            );
        }
        let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
        let (fetch, msgs) = filtered_snapshot(&mut ws, c.def, c.target, &c.filter).await;
        // Batches of ≤ 200, full but the last; at least one message.
        assert_eq!(msgs.len(), want.len().div_ceil(200).max(1), "{}", c.filter);
        let mut got = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m["fetch"].as_i64(), Some(fetch));
            let added = m["records"]["added"].as_array().unwrap();
            assert_eq!(m["records"]["updated"], json!([]));
            assert_eq!(m["records"]["deleted"], json!([]));
            if i + 1 < msgs.len() {
                assert_eq!(added.len(), 200);
            }
            for r in added {
                assert_eq!(r["first_fetch"], json!(true));
                got.push(r.as_object().unwrap().clone());
            }
        }
        multi_batch |= msgs.len() > 1;
        assert_eq!(got.len(), want.len(), "{}", c.filter);
        assert!(by_key(&got) == by_key(want), "{}: rows differ", c.filter);
    }
    assert!(multi_batch, "no case spans several batches");
    s.shutdown().await;
}

#[tokio::test]
async fn invalid_filters_fail_with_the_reason() {
    let s = start(1).await;
    let cookie = login(&s, "7.1").await;
    for (filter, reason) in [
        (
            json!({"type": "expression", "href": "http://smc/7.1/elements/filter_expression/7"}),
            "Invalid filter: unknown filter element http://smc/7.1/elements/filter_expression/7",
        ),
        (
            json!({"type": "translated", "value": "$Dport =="}),
            "Invalid filter: translated filter: expected a value at offset 9",
        ),
        (
            json!({"type": "cs_like"}),
            "Invalid filter: cs_like filter is not supported: the client sends it without a value",
        ),
        (
            json!({"type": "in", "left": {"type": "field", "id": 7}, "right": [{"type": "ip", "value": "10.0.0.0/99"}]}),
            "Invalid filter: invalid ip value \"10.0.0.0/99\": expected an IP address or CIDR network",
        ),
        (
            json!("src == 1"),
            "Invalid filter: a filter must be a JSON object, got a string",
        ),
    ] {
        let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
        ws.send(Message::text(
            filtered_query("CONNECTIONS", "Helsinki FW", &filter).to_string(),
        ))
        .await
        .unwrap();
        match recv(&mut ws).await.map(|m| m.unwrap()) {
            Some(Message::Text(t)) => {
                assert_eq!(
                    serde_json::from_str::<Value>(&t).unwrap(),
                    json!({"failure": reason})
                );
            }
            other => panic!("expected the failure, got {other:?}"),
        }
        match recv(&mut ws).await.map(|m| m.unwrap()) {
            Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1000),
            other => panic!("expected a normal close, got {other:?}"),
        }
    }
    // A null filter is no filter: every row.
    let all = table(&s, "ROUTING", "plano-fw").await;
    let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
    let (_, msgs) = filtered_snapshot(&mut ws, "ROUTING", "plano-fw", &Value::Null).await;
    let got: Vec<Row> = msgs
        .iter()
        .flat_map(|m| m["records"]["added"].as_array().unwrap().clone())
        .map(|r| r.as_object().unwrap().clone())
        .collect();
    assert!(by_key(&got) == by_key(&all));
    s.shutdown().await;
}

/// One filtered fetch followed live.
struct Live {
    def: &'static str,
    target: String,
    pred: Pred,
    /// The client's view: delta_key → row.
    view: HashMap<String, Row>,
    /// Keys of the table when the fetch started (matching or not).
    initial: HashSet<String>,
    entered: u64,
    left: HashSet<String>,
    counts: HashMap<&'static str, u64>,
}

impl Live {
    fn apply(&mut self, m: &Value) {
        let rec = m["records"].as_object().unwrap();
        let list = |k: &str| {
            rec.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for r in list("added") {
            let r = r.as_object().unwrap();
            let key = r["delta_key"].as_str().unwrap().to_string();
            assert!((self.pred)(r), "added a row that does not match: {r:?}");
            if self.initial.contains(&key) {
                self.entered += 1;
            }
            assert!(
                self.view.insert(key, comparable(r)).is_none(),
                "added twice"
            );
            *self.counts.entry("added").or_default() += 1;
        }
        for r in list("updated") {
            let r = r.as_object().unwrap();
            let key = r["delta_key"].as_str().unwrap().to_string();
            assert!(
                (self.pred)(r),
                "updated to a row that does not match: {r:?}"
            );
            assert!(
                self.view.insert(key, comparable(r)).is_some(),
                "update of an unsent key"
            );
            *self.counts.entry("updated").or_default() += 1;
        }
        for r in list("deleted") {
            let key = r["delta_key"].as_str().unwrap().to_string();
            assert!(self.view.remove(&key).is_some(), "delete of an unsent key");
            self.left.insert(key);
            *self.counts.entry("deleted").or_default() += 1;
        }
    }
}

#[tokio::test]
async fn live_view_after_churn_equals_the_filtered_ground_truth() {
    let s = start(4).await;
    let cookie = login(&s, "7.1").await;
    let info = s.world_info();
    let mut lives = Vec::new();
    let mut sockets = Vec::new();
    let established = field_in(116, json!([{"type": "string", "value": "TCP established"}]));
    let mut subs: Vec<(&'static str, String, Value, Pred)> = info
        .engines
        .iter()
        .map(|e| {
            (
                "CONNECTIONS",
                e.clone(),
                established.clone(),
                Box::new(|r: &Row| val(r, 116) == "TCP established") as Pred,
            )
        })
        .collect();
    for d in &info.alert_domains {
        subs.push((
            "ACTIVE_ALERTS",
            d.clone(),
            json!({"type": "or", "values": [
                field_in(602, json!([{"type": "constant", "value": 10}])),
                {"type": "translated", "value": "$Action == \"Allow\""},
            ]}),
            Box::new(|r: &Row| val(r, 602) == "Critical" || val(r, 14) == "Allow"),
        ));
    }
    for e in &info.engines {
        subs.push((
            "ROUTING",
            e.clone(),
            json!({"type": "not", "value": {"type": "translated", "value": "$RouteType == Dynamic"}}),
            Box::new(|r: &Row| val(r, 165) != "Dynamic"),
        ));
    }
    for (def, target, filter, pred) in subs {
        let truth = table(&s, def, &target).await;
        let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
        let (_, msgs) = filtered_snapshot(&mut ws, def, &target, &filter).await;
        let mut live = Live {
            def,
            target,
            pred,
            view: HashMap::new(),
            initial: truth
                .iter()
                .map(|r| r["delta_key"].as_str().unwrap().to_string())
                .collect(),
            entered: 0,
            left: HashSet::new(),
            counts: HashMap::new(),
        };
        for m in &msgs {
            live.apply(m);
        }
        let want: Vec<&Row> = truth.iter().filter(|r| (live.pred)(r)).collect();
        assert!(
            live.view == by_key(want),
            "{def} {}: snapshot differs",
            live.target
        );
        live.counts.clear();
        lives.push(live);
        sockets.push(ws);
    }

    let r = http()
        .post(format!("{}/sim/churn?steps=300", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"applied": 300}));
    let mut wants = Vec::new();
    let mut finals = Vec::new();
    for l in &lives {
        let truth = table(&s, l.def, &l.target).await;
        wants.push(by_key(truth.iter().filter(|r| (l.pred)(r))));
        finals.push(
            truth
                .iter()
                .map(|r| r["delta_key"].as_str().unwrap().to_string())
                .collect::<HashSet<_>>(),
        );
    }

    // Fold the deltas until every view equals its filtered truth (bounded).
    let mut merged = stream::select_all(
        sockets
            .into_iter()
            .enumerate()
            .map(|(i, ws)| ws.map(move |m| (i, m)).boxed()),
    );
    let mut pending: HashSet<usize> = (0..lives.len())
        .filter(|i| lives[*i].view != wants[*i])
        .collect();
    while !pending.is_empty() {
        let Ok(Some((i, m))) = tokio::time::timeout(WAIT, merged.next()).await else {
            let stuck: Vec<_> = pending
                .iter()
                .map(|i| (lives[*i].def, &lives[*i].target))
                .collect();
            panic!("views never matched the filtered truth: {stuck:?}");
        };
        let Message::Text(t) = m.unwrap() else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        lives[i].apply(&v);
        if lives[i].view == wants[i] {
            pending.remove(&i);
        } else {
            pending.insert(i);
        }
    }

    let total = |k: &str| {
        lives
            .iter()
            .map(|l| l.counts.get(k).copied().unwrap_or(0))
            .sum::<u64>()
    };
    for k in ["added", "updated", "deleted"] {
        assert!(total(k) > 0, "no {k} delta");
    }
    // Rows that started matching through an update arrive as `added`; rows
    // that stopped matching (still in the table) as `deleted`.
    let entered: u64 = lives.iter().map(|l| l.entered).sum();
    let left: usize = lives
        .iter()
        .zip(&finals)
        .map(|(l, keys)| l.left.iter().filter(|k| keys.contains(*k)).count())
        .sum();
    assert!(entered > 0, "no row entered the filter through an update");
    assert!(left > 0, "no row left the filter through an update");
    s.shutdown().await;
}
