//! The notification socket end to end (issue 13, item 2): with `notify =
//! ["host", "network"]`, every element event the simulator sends through
//! `POST /sim/elements` appears exactly in `smc_element_changes_total`,
//! by element type and action; events of other types (a router) are not
//! subscribed and not counted. After the simulator drops the socket, it
//! reconnects, subscribes again and counts on, nothing twice.

use std::time::Duration;

use smc_lab::*;
use smc_sim::{SimOptions, SimServer};

const WAIT: Duration = Duration::from_secs(20);

async fn elements(sim: &SimServer, etype: &str, action: &str, count: usize) -> usize {
    let path = format!("/sim/elements?type={etype}&action={action}&count={count}");
    let hrefs = client::post_json(&client::http(), sim, &path).await;
    hrefs.as_array().map_or(0, Vec::len)
}

fn changes(text: &str, etype: &str, action: &str) -> f64 {
    let samples = parse_samples(text);
    samples
        .iter()
        .filter(|((n, l), _)| {
            n == "smc_element_changes_total"
                && l.get("element_type").map(String::as_str) == Some(etype)
                && l.get("action").map(String::as_str) == Some(action)
        })
        .map(|(_, v)| *v)
        .sum()
}

/// Wait (bounded) until `f` holds for the exposition.
async fn wait_metrics(pair: &Pair, what: &str, f: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = pair.metrics().await;
        if f(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never held:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn element_events_are_counted_exactly_by_type_and_action() {
    let opts = SimOptions {
        seed: 29,
        ..SimOptions::default()
    };
    let pair = start_pair_opts(opts, |cfg, _| {
        cfg.smc[0].notify = vec!["host".into(), "network".into()];
    })
    .await;
    let up = format!("smc_notification_up{{smc=\"{}\"}} 1", pair.smc);
    let text = wait_metrics(&pair, "smc_notification_up 1", |t| t.contains(&up)).await;
    // Served at 0 from the start, so increase() sees the first change.
    assert_eq!(changes(&text, "host", "create"), 0.0);
    assert_eq!(changes(&text, "network", "delete"), 0.0);

    assert_eq!(elements(&pair.sim, "host", "create", 3).await, 3);
    assert_eq!(elements(&pair.sim, "network", "create", 2).await, 2);
    assert_eq!(elements(&pair.sim, "network", "delete", 1).await, 1);
    // Not subscribed; sent before the last host events, so that if they
    // were delivered they would be counted by the time those are.
    assert_eq!(elements(&pair.sim, "router", "create", 4).await, 4);
    assert_eq!(elements(&pair.sim, "host", "update", 2).await, 2);

    let text = wait_metrics(&pair, "every event counted", |t| {
        changes(t, "host", "update") == 2.0
    })
    .await;
    assert_eq!(changes(&text, "host", "create"), 3.0);
    assert_eq!(changes(&text, "network", "create"), 2.0);
    assert_eq!(changes(&text, "network", "delete"), 1.0);
    assert_eq!(changes(&text, "host", "update"), 2.0);
    assert_eq!(changes(&text, "host", "delete"), 0.0);
    assert_eq!(changes(&text, "router", "create"), 0.0);
    assert_eq!(changes(&text, "other", "create"), 0.0);
    assert_eq!(reconnects(&text), 0.0);

    // The simulator drops every socket: the notification socket comes back,
    // subscribes again, and counts on from where it was, nothing twice.
    assert!(pair.sim.drop_connections() > 0);
    let text = wait_metrics(&pair, "a reconnect, then up again", |t| {
        reconnects(t) >= 1.0 && t.contains(&up)
    })
    .await;
    assert_eq!(changes(&text, "host", "create"), 3.0);
    assert_eq!(elements(&pair.sim, "host", "create", 5).await, 5);
    let text = wait_metrics(&pair, "the new events counted", |t| {
        changes(t, "host", "create") >= 8.0
    })
    .await;
    assert_eq!(changes(&text, "host", "create"), 8.0);
    assert_eq!(changes(&text, "network", "create"), 2.0);
    // Exactly what the simulator says it wrote to the exporter's sockets
    // (the one before the drop and the one after), by type and action.
    let sent = pair.sim.sent_notifications();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let mut want: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for e in sent.iter().flat_map(|s| &s.events) {
        *want
            .entry((e.element_type.clone(), e.action.clone()))
            .or_default() += 1.0;
    }
    for ((etype, action), n) in &want {
        assert_eq!(changes(&text, etype, action), *n, "{etype} {action}");
    }
    assert_eq!(want.values().sum::<f64>(), 13.0, "no router event was sent");
}

fn reconnects(text: &str) -> f64 {
    parse_samples(text)
        .iter()
        .filter(|((n, _), _)| n == "smc_notification_reconnects_total")
        .map(|(_, v)| *v)
        .sum()
}
