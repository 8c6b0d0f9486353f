//! The simulator's "Use SSL for session ID" (token) mode and the
//! `/sim/table` ground-truth rows. (The exporter against the token mode end
//! to end is in smc-exporter's e2e suite, `e2e_token`.)

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use smc_exporter::labels::StateFamily;
use smc_lab::client::{WAIT, http, sim_table, table_rows};
use smc_lab::*;
use smc_protocol::Definition;
use smc_sim::SimOptions;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::StatusCode;

/// `GET /sim/table` with the query pairs, URL-encoded.
fn table_url(sim: &smc_sim::SimServer, q: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&format!("{}/sim/table", sim.url())).unwrap();
    u.query_pairs_mut().extend_pairs(q);
    u.to_string()
}

fn token_opts(seed: u64) -> SimOptions {
    SimOptions {
        seed,
        churn_per_second: 0.0,
        token_auth: true,
        ..SimOptions::default()
    }
}

#[tokio::test]
async fn token_login_answers_with_authorization_and_no_cookie() {
    let sim = start_sim(token_opts(3)).await;
    let c = http();
    let key = sim.world_info().api_key;
    let r = c
        .post(format!("{}/7.1/login", sim.url()))
        .json(&json!({"domain": "Shared Domain", "authenticationkey": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none());
    let token = r.headers()["authorization"].to_str().unwrap().to_string();
    assert_eq!(token.len(), 32);

    // REST with the raw token (no "Bearer") is a session; a wrong token is not.
    let sys = |t: &str| {
        c.get(format!("{}/7.1/system/smc_version", sim.url()))
            .header("authorization", t)
            .send()
    };
    assert_eq!(sys(&token).await.unwrap().status(), 200);
    assert_eq!(sys("0123").await.unwrap().status(), 401);
    // A fresh connection without any token is not a session either.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = fresh
        .get(format!("{}/7.1/api", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn token_websocket_needs_access_token_subprotocol_and_gets_it_echoed() {
    let sim = start_sim(token_opts(3)).await;
    let key = sim.world_info().api_key;
    let r = http()
        .post(format!("{}/7.1/login", sim.url()))
        .json(&json!({"domain": "Shared Domain", "authenticationkey": key}))
        .send()
        .await
        .unwrap();
    let token = r.headers()["authorization"].to_str().unwrap().to_string();
    let url = format!("ws://{}/7.1/monitoring/session/socket", sim.addr());

    // websocket-client joins a Python set with a bare comma, in any order.
    for offered in [
        format!("{token},access_token"),
        format!("access_token, {token}"),
    ] {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", offered.parse().unwrap());
        let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(resp.headers()["sec-websocket-protocol"], "access_token");
        let engine = &sim.world_info().engines[0];
        let q = json!({"query": {"definition": "ROUTING", "target": engine}, "fetch": {},
                       "format": {"type": "texts", "field_format": "id"}});
        ws.send(Message::text(q.to_string())).await.unwrap();
        let first = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
        assert_eq!(v["success"], "Fetch started", "{v}");
    }

    // The subprotocol with a wrong token, or no credential at all: 401.
    for offered in [Some("nope,access_token"), None] {
        let mut req = url.as_str().into_client_request().unwrap();
        if let Some(o) = offered {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", o.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED)
            }
            other => panic!("expected 401, got {:?}", other.map(|(_, r)| r.status())),
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn table_endpoint_lists_every_row_of_the_truth() {
    let sim = start_sim(SimOptions {
        seed: 8,
        ..SimOptions::default()
    })
    .await;
    let c = http();
    let truth = parse_samples(&smc_lab::truth_text(&sim, "sim"));
    let w = sim.world_info();
    let mut seen = 0;
    for def in Definition::ALL {
        let targets = if def == Definition::ActiveAlerts {
            &w.alert_domains
        } else {
            &w.engines
        };
        for t in targets {
            let expected: f64 = truth
                .iter()
                .filter(|((f, l), _)| f == def.family() && l.get(def.target_label()) == Some(t))
                .map(|(_, v)| v)
                .sum();
            let rows = table_rows(&c, &sim, def.wire_name(false), t, None).await;
            assert_eq!(rows.len() as f64, expected, "{def} {t}");
            for row in &rows {
                assert!(row["delta_key"].is_string(), "{row}");
                assert!(row.get("first_fetch").is_none(), "{row}");
            }
            seen += rows.len();
        }
    }
    assert!(
        seen > 100,
        "the world is too small to prove anything: {seen}"
    );

    // Legacy naming below 7.0; bad requests say why.
    let legacy = sim_table(&c, &sim, "BLACKLIST", &w.engines[0], Some("6.10")).await;
    assert_eq!(legacy["definition"], "BLACKLIST");
    if let Some(row) = legacy["rows"].as_array().unwrap().first() {
        assert!(row["blacklist_href"].as_str().unwrap().contains("/6.10/"));
    }
    for (q, status, details) in [
        (
            vec![("definition", "NOPE"), ("target", "x")],
            400,
            "unknown definition",
        ),
        (
            vec![("definition", "ROUTING"), ("target", "nope")],
            404,
            "no such table",
        ),
        (
            vec![
                ("definition", "ROUTING"),
                ("target", "x"),
                ("version", "5.0"),
            ],
            400,
            "version is not an offered API version",
        ),
    ] {
        let r = c.get(table_url(&sim, &q)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["details"], details);
    }
    sim.shutdown().await;
}
