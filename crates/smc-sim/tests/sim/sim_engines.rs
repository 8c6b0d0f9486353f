//! The engines over REST: the `engine_clusters` listing, engine elements
//! with their nodes, node status, the `/sim/engines`, `/sim/nodes` and
//! `/sim/truth/engines` controls, and more engines than the five.

use smc_lab::client::*;

use serde_json::{Value, json};
use smc_sim::SimOptions;

async fn authed(c: &reqwest::Client, cookie: &str, url: &str) -> (u16, Value) {
    let r = c.get(url).header("Cookie", cookie).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn listing_elements_nodes_and_status_agree_with_the_truth() {
    let s = smc_lab::start_sim(SimOptions::default()).await;
    let c = http();
    let cookie = login(&s, "7.1").await;
    let base = s.url();
    // The entry point, then the listing it names.
    let (_, api) = authed(&c, &cookie, &format!("{base}/7.1/api")).await;
    let ep = api["entry_point"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["rel"] == "engine_clusters")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ep, format!("{base}/7.1/elements/engine_clusters"));
    let (status, list) = authed(&c, &cookie, &ep).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Helsinki FW",
            "plano-fw",
            "ngf-1065",
            "HQ Cluster",
            "DC Cluster"
        ]
    );
    // The official client's form of the same listing, and its name filter.
    let (_, same) = authed(
        &c,
        &cookie,
        &format!("{base}/7.1/elements?filter_context=engine_clusters"),
    )
    .await;
    assert_eq!(same, list);
    let (_, one) = authed(
        &c,
        &cookie,
        &format!("{base}/7.1/elements?filter_context=engine_clusters&filter=cluster"),
    )
    .await;
    assert_eq!(one["result"].as_array().unwrap().len(), 2);

    let truth = s.engine_truth();
    let hq = truth.iter().find(|e| e.name == "HQ Cluster").unwrap();
    assert_eq!(hq.etype, "fw_cluster");
    let entry = &list["result"][3];
    assert_eq!(
        entry,
        &json!({"name": "HQ Cluster", "type": "fw_cluster",
                "href": format!("{base}/7.1/elements/{}", hq.element)})
    );
    let (_, engine) = authed(&c, &cookie, entry["href"].as_str().unwrap()).await;
    let nodes = engine["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    let node = &nodes[1]["firewall_node"];
    assert_eq!(node["name"], "HQ Cluster node 2");
    assert_eq!(node["nodeid"], 2);
    let status_href = node["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "status")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, st) = authed(&c, &cookie, &status_href).await;
    let n2 = &hq.nodes[1];
    assert_eq!(
        st,
        json!({"name": "HQ Cluster node 2", "status": "Online", "state": "READY",
               "installed_policy": n2.installed_policy, "version": n2.version,
               "dyn_up": n2.dyn_up, "platform": "x86-64-small",
               "configuration_status": "Installed"})
    );
    // Without a session: 401, like every element.
    assert_eq!(
        c.get(&status_href).send().await.unwrap().status().as_u16(),
        401
    );
    // Unknown node: 404.
    let (code, _) = authed(&c, &cookie, &status_href.replace("/node/2/", "/node/9/")).await;
    assert_eq!(code, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn nodes_go_offline_and_engines_come_and_go_live() {
    let s = smc_lab::start_sim(SimOptions::default()).await;
    let c = http();
    let cookie = login(&s, "7.1").await;
    let base = s.url();

    let v = post_json(
        &c,
        &s,
        "/sim/nodes?engine=DC%20Cluster&node=DC%20Cluster%20node%201&status=Offline",
    )
    .await;
    assert_eq!(v["status"], "Offline");
    assert_eq!(v["state"], "READY");
    let truth = get_json(&c, &s, "/sim/truth/engines").await;
    // The JSON is the typed truth, for clients of a spawned simulator.
    let typed: Vec<smc_sim::EngineTruth> =
        serde_json::from_value(truth["engines"].clone()).unwrap();
    assert_eq!(typed, s.engine_truth());
    let dc = truth["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "DC Cluster")
        .unwrap()
        .clone();
    assert_eq!(dc["nodes"][0]["status"], "Offline");
    assert_eq!(dc["nodes"][1]["status"], "Online");
    let (_, st) = authed(
        &c,
        &cookie,
        &format!(
            "{base}/7.1/elements/{}/node/1/status",
            dc["element"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(st["status"], "Offline");
    // By node id too, with a state.
    let v = post_json(
        &c,
        &s,
        "/sim/nodes?engine=DC%20Cluster&node=1&status=Unknown&state=TIMEOUT",
    )
    .await;
    assert_eq!(
        (&v["status"], &v["state"]),
        (&json!("Unknown"), &json!("TIMEOUT"))
    );
    let bad = c
        .post(format!(
            "{base}/sim/nodes?engine=DC%20Cluster&node=1&status=Asleep"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let missing = c
        .post(format!("{base}/sim/nodes?engine=nope&node=1&status=Online"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Add an engine: it is listed, its element and tables exist.
    let v = post_json(&c, &s, "/sim/engines?action=add&name=fw-new&nodes=2").await;
    assert_eq!(v["added"]["name"], "fw-new");
    assert_eq!(v["added"]["type"], "fw_cluster");
    let element = v["added"]["element"].as_str().unwrap().to_string();
    let (_, list) = authed(&c, &cookie, &format!("{base}/7.1/elements/engine_clusters")).await;
    assert_eq!(list["result"].as_array().unwrap().len(), 6);
    assert_eq!(list["result"][5]["name"], "fw-new");
    let (code, el) = authed(&c, &cookie, &format!("{base}/7.1/elements/{element}")).await;
    assert_eq!(code, 200);
    assert_eq!(el["nodes"].as_array().unwrap().len(), 2);
    assert!(s.world_info().engines.contains(&"fw-new".to_string()));
    assert!(
        s.truth_tables()
            .iter()
            .any(|t| t.target == "fw-new" && !t.rows.is_empty())
    );
    let dup = c
        .post(format!("{base}/sim/engines?action=add&name=fw-new"))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 400);

    // Remove one: gone from the listing, its element 404, its tables gone,
    // and a new query for it fails as for an unknown engine.
    let v = post_json(&c, &s, "/sim/engines?action=remove&name=plano-fw").await;
    assert_eq!(v, json!({"removed": "plano-fw"}));
    let (_, list) = authed(&c, &cookie, &format!("{base}/7.1/elements/engine_clusters")).await;
    let names: Vec<&str> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Helsinki FW",
            "ngf-1065",
            "HQ Cluster",
            "DC Cluster",
            "fw-new"
        ]
    );
    assert!(!s.truth_tables().iter().any(|t| t.target == "plano-fw"));
    // New log records no longer come from it (the newest first).
    post_json(&c, &s, "/sim/logs?count=300").await;
    let logs = get_json(&c, &s, "/sim/logs").await;
    let newest = &logs["records"].as_array().unwrap()[..300];
    assert!(newest.iter().all(|r| !r.to_string().contains("plano-fw")));
    assert!(newest.iter().any(|r| r.to_string().contains("fw-new")));
    assert!(!s.world_info().engines.contains(&"plano-fw".to_string()));
    let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
    send_json(
        &mut ws,
        &json!({"query": {"definition": "USERS", "target": "plano-fw"}, "fetch": {},
                "format": {"type": "texts", "field_format": "id"}}),
    )
    .await;
    assert_eq!(
        recv_json(&mut ws).await,
        json!({"failure": "Unknown target 'plano-fw' for USERS: no such engine"})
    );
    let gone = c
        .post(format!("{base}/sim/engines?action=remove&name=plano-fw"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    s.shutdown().await;
}

#[tokio::test]
async fn more_engines_follow_the_five_and_churn_moves_node_status() {
    let s = smc_lab::start_sim(SimOptions {
        engines: 12,
        ..SimOptions::default()
    })
    .await;
    let names = s.world_info().engines;
    assert_eq!(names.len(), 12);
    assert_eq!(
        &names[..6],
        [
            "Helsinki FW",
            "plano-fw",
            "ngf-1065",
            "HQ Cluster",
            "DC Cluster",
            "fw-006"
        ]
    );
    assert_eq!(names[11], "fw-012");
    let truth = s.engine_truth();
    // fw-006, fw-009, fw-012: every third a two-node cluster.
    let clusters: Vec<&str> = truth[5..]
        .iter()
        .filter(|e| e.etype == "fw_cluster" && e.nodes.len() == 2)
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(clusters, ["fw-006", "fw-009", "fw-012"]);
    // The five are the world they always were.
    let five = smc_lab::start_sim(SimOptions::default()).await;
    assert_eq!(s.engine_truth()[..5], five.engine_truth()[..]);
    // Churn changes some node's status, deterministically.
    let before = s.engine_truth();
    s.churn(2000);
    let after = s.engine_truth();
    assert_ne!(after, before);
    let again = smc_lab::start_sim(SimOptions {
        engines: 12,
        ..SimOptions::default()
    })
    .await;
    again.churn(2000);
    assert_eq!(again.engine_truth(), after);
    s.shutdown().await;
    five.shutdown().await;
    again.shutdown().await;
}

#[tokio::test]
async fn a_removed_engines_open_session_sockets_end() {
    use tokio_tungstenite::tungstenite::Message;
    let s = smc_lab::start_sim(SimOptions::default()).await;
    let c = http();
    let cookie = login(&s, "7.1").await;
    let mut ws = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
    send_json(
        &mut ws,
        &json!({"query": {"definition": "USERS", "target": "ngf-1065"}, "fetch": {},
                "format": {"type": "texts", "field_format": "id"}}),
    )
    .await;
    assert_eq!(recv_json(&mut ws).await["success"], "Fetch started");
    // Another engine's socket stays.
    let mut other = connect(&s, "7.1", SESSION, Some(&cookie)).await.unwrap();
    send_json(
        &mut other,
        &json!({"query": {"definition": "USERS", "target": "Helsinki FW"}, "fetch": {},
                "format": {"type": "texts", "field_format": "id"}}),
    )
    .await;
    assert_eq!(recv_json(&mut other).await["success"], "Fetch started");
    post_json(&c, &s, "/sim/engines?action=remove&name=ngf-1065").await;
    // Its socket ends (records already queued may come first).
    while let Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) = recv(&mut ws).await
    {
    }
    let sockets = get_json(&c, &s, "/sim/faults").await["session_sockets"].clone();
    assert_eq!(
        sockets,
        json!([{"definition": "USERS", "target": "Helsinki FW"}])
    );
    drop(other);
    s.shutdown().await;
}
