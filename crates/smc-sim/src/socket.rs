//! One session-monitoring socket (`/{ver}/monitoring/session/socket`):
//! query → `success` → snapshot batches → live deltas until abort or close.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::SinkExt;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use super::Shared;
use super::fault::{self, Faults, Inject};
use super::render::{self, Ctx, EVENT_NEW, EVENT_UPDATE, Format};
use super::world::{Delta, Entry, Subscribed};
use super::ws::{Incoming, Ws, close, next_frame, send};
use smc_protocol::Filter;
use smc_protocol::parse_abort;
use smc_protocol::{Change, Definition, is_legacy_api, parse_api_version};

/// Records per snapshot message.
pub(crate) const BATCH: usize = 200;
/// Deltas queued per subscriber before it counts as too slow and is closed.
const QUEUE: usize = 8192;

/// Unregisters a fetch from its table's live deltas.
struct Subscription {
    shared: Arc<Shared>,
    table: usize,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.world().unsubscribe(self.table, self.id);
    }
}

async fn fail(ws: &mut Ws, reason: String) {
    tracing::info!(%reason, "session query refused");
    if send(ws, &json!({ "failure": reason })).await {
        close(ws, CloseCode::Normal, "").await;
    }
}

/// A `records` message. Lists named in `always` are sent even when empty
/// (the snapshot's shape); others only when non-empty (live deltas).
pub(crate) fn records_message(
    fetch: i64,
    added: Vec<Value>,
    updated: Vec<Value>,
    deleted: Vec<Value>,
    always: &[&str],
) -> Value {
    let mut r = Map::new();
    for (k, list) in [("added", added), ("updated", updated), ("deleted", deleted)] {
        if always.contains(&k) || !list.is_empty() {
            r.insert(k.into(), Value::Array(list));
        }
    }
    json!({ "fetch": fetch, "records": r })
}

pub(crate) async fn session(
    mut ws: Ws,
    shared: &Arc<Shared>,
    version: &str,
    base: &str,
    token: &tokio_util::sync::CancellationToken,
) {
    // Fault `silent_sockets`: read (so pings are answered), never send.
    if let Some(_silent) = shared.faults.silent() {
        tracing::info!("fault: silent session socket");
        while !matches!(next_frame(&mut ws).await, Incoming::End) {}
        return;
    }
    let legacy = parse_api_version(version).is_some_and(is_legacy_api);
    // 1. The query frame.
    let query = loop {
        match next_frame(&mut ws).await {
            Incoming::End => return,
            Incoming::TooBig(_) | Incoming::Other => continue,
            Incoming::Text(t) => {
                if parse_abort(&t).is_some() {
                    continue; // nothing to abort yet
                }
                match serde_json::from_str::<Value>(&t) {
                    Ok(v) if v.get("query").is_some_and(Value::is_object) => break v,
                    _ => return fail(
                        &mut ws,
                        "Invalid request: expected {\"query\":{...},\"fetch\":{},\"format\":{...}}"
                            .into(),
                    )
                    .await,
                }
            }
        }
    };
    if let Some(replay) = &shared.replay {
        return super::replay::serve(ws, replay, &query).await;
    }
    let q = &query["query"];
    let def_name = q.get("definition").and_then(Value::as_str).unwrap_or("");
    let Some(def) = Definition::ALL
        .into_iter()
        .find(|d| d.wire_name(legacy) == def_name)
    else {
        return fail(
            &mut ws,
            format!("Unknown monitoring definition '{def_name}' for API {version}"),
        )
        .await;
    };
    let Some(target) = q.get("target").and_then(Value::as_str) else {
        return fail(&mut ws, format!("Missing target for definition {def_name}")).await;
    };
    let filter = match q.get("filter") {
        None | Some(Value::Null) => None,
        Some(f) => match Filter::parse(f) {
            Ok(f) => Some(f),
            Err(e) => return fail(&mut ws, format!("Invalid filter: {e}")).await,
        },
    };
    let subscribed = {
        let mut w = shared.world();
        w.find_table(def, target)
            .and_then(|t| w.subscribe(t, QUEUE).map(|s| (t, s)))
    };
    let Some((
        table,
        Subscribed {
            snapshot,
            mut rx,
            id: sub_id,
            overflow,
        },
    )) = subscribed
    else {
        let what = if def == Definition::ActiveAlerts {
            "admin domain"
        } else {
            "engine"
        };
        return fail(
            &mut ws,
            format!("Unknown target '{target}' for {def_name}: no such {what}"),
        )
        .await;
    };
    let mut sub = Some(Subscription {
        shared: shared.clone(),
        table,
        id: sub_id,
    });
    // Reachable by the faults (`fault.rs`) until this socket ends.
    let mut faults = Faults::register(shared, def, target, token.clone());

    let fetch = shared.next_fetch_id();
    let fmt = render::parse_format(query.get("format"));
    let ctx = Ctx {
        base: base.to_string(),
        version: version.to_string(),
        legacy,
        def,
    };
    // Only the matching rows; with a filter, the keys sent so far, so live
    // deltas keep the client's view equal to the filtered table.
    let (snapshot, mut sent) = match &filter {
        None => (snapshot, None),
        Some(f) => {
            let rows: Vec<Arc<Entry>> = snapshot
                .into_iter()
                .filter(|e| matches(f, e, &ctx, EVENT_NEW))
                .collect();
            let keys = rows.iter().map(|e| e.delta_key()).collect::<HashSet<_>>();
            (rows, Some(keys))
        }
    };
    tracing::debug!(
        fetch,
        definition = def_name,
        target,
        rows = snapshot.len(),
        filtered = filter.is_some(),
        "fetch started"
    );

    // 2. Success (with the field schema for `detailed`).
    let mut ok = json!({ "success": "Fetch started", "fetch": fetch });
    if let Format::Single(s) = &fmt {
        if s.detailed {
            ok["fields"] = Value::Array(render::descriptors(def, s));
        }
    }
    if !send(&mut ws, &ok).await {
        return;
    }
    // Fault `drop_mid_snapshot`: a snapshot of several batches ends
    // abruptly (no close frame) after its first one.
    let cut = snapshot.len() > BATCH && shared.faults.take_mid_snapshot(def, target);
    // 3. Snapshot in batches of ≤ 200 (one empty batch for an empty table).
    // 7.x snapshots carry all three lists; 6.x captures only `added`.
    let shape: &[&str] = if legacy {
        &["added"]
    } else {
        &["added", "updated", "deleted"]
    };
    if snapshot.is_empty()
        && !send(
            &mut ws,
            &records_message(fetch, vec![], vec![], vec![], shape),
        )
        .await
    {
        return;
    }
    for chunk in snapshot.chunks(BATCH) {
        let added = chunk
            .iter()
            .map(|e| render::render(e, &ctx, &fmt, EVENT_NEW, true))
            .collect();
        if !send(
            &mut ws,
            &records_message(fetch, added, vec![], vec![], shape),
        )
        .await
        {
            return;
        }
        if cut {
            tracing::info!(
                fetch,
                definition = def_name,
                target,
                "fault: socket dropped mid-snapshot"
            );
            return;
        }
    }
    drop(snapshot);

    // 4. Live deltas, one message per mutation, until abort or close.
    // An injected fault goes before any delta still queued; one that must
    // see the client's exact view waits until the queue is drained.
    let mut pending: Option<Inject> = None;
    let mut injections_open = true;
    loop {
        if let Some(inject) = pending.take() {
            let live = Live {
                shared,
                fetch,
                sub: sub.as_ref(),
                rx: &rx,
                sent: sent.as_ref(),
                overflow: &overflow,
            };
            match apply_fault(&mut ws, &live, &inject).await {
                Applied::Done => {}
                Applied::End => return,
                Applied::Wait => pending = Some(inject),
            }
        }
        tokio::select! {
            biased;
            _ = overflow.cancelled() => {
                // Too slow: end the socket so the client resyncs.
                return;
            }
            i = faults.rx.recv(), if injections_open && pending.is_none() => match i {
                Some(i) => pending = Some(i),
                None => injections_open = false,
            },
            d = rx.recv(), if sub.is_some() => {
                let Some(Delta { kind, entry }) = d else { return };
                let change = match (&filter, &mut sent) {
                    (Some(f), Some(sent)) => filtered_change(f, sent, kind, &entry, &ctx),
                    _ => Some(kind),
                };
                let Some(change) = change else { continue };
                let (a, u, del) = match change {
                    Change::Added => (vec![render::render(&entry, &ctx, &fmt, EVENT_NEW, false)], vec![], vec![]),
                    Change::Updated => (vec![], vec![render::render(&entry, &ctx, &fmt, EVENT_UPDATE, false)], vec![]),
                    Change::Deleted => (vec![], vec![], vec![render::render_deleted(&entry, &ctx, &fmt)]),
                };
                if !send(&mut ws, &records_message(fetch, a, u, del, &[])).await {
                    return;
                }
            }
            m = next_frame(&mut ws) => match m {
                Incoming::End => return,
                Incoming::TooBig(_) | Incoming::Other => {}
                Incoming::Text(t) => match parse_abort(&t) {
                    Some(id) if id == fetch => {
                        tracing::debug!(fetch, "fetch aborted by client");
                        sub = None;
                    }
                    Some(id) => tracing::debug!(fetch, id, "abort of an unknown fetch ignored"),
                    None => tracing::debug!(fetch, "extra client frame ignored"),
                },
            }
        }
    }
}

/// What a live socket's fault injection needs to see.
struct Live<'a> {
    shared: &'a Shared,
    fetch: i64,
    sub: Option<&'a Subscription>,
    rx: &'a mpsc::Receiver<Delta>,
    sent: Option<&'a HashSet<String>>,
    overflow: &'a tokio_util::sync::CancellationToken,
}

enum Applied {
    Done,
    /// The socket must end (abruptly: no close frame).
    End,
    /// Deltas are still queued; try again after the next one.
    Wait,
}

/// Carry out one injected fault on a live socket.
async fn apply_fault(ws: &mut Ws, live: &Live<'_>, inject: &Inject) -> Applied {
    let sent_ok = |ok: bool| if ok { Applied::Done } else { Applied::End };
    match inject {
        Inject::Stall {
            until,
            epoch,
            then_drop,
        } => {
            tracing::info!(fetch = live.fetch, then_drop, "fault: socket stalled");
            let resumed = live
                .shared
                .faults
                .stall(*until, *epoch, live.overflow)
                .await;
            if !resumed || *then_drop {
                tracing::info!(fetch = live.fetch, "fault: stalled socket dropped");
                return Applied::End;
            }
            Applied::Done
        }
        Inject::Binary => sent_ok(
            ws.send(Message::binary(vec![0xde, 0xad, 0xbe, 0xef]))
                .await
                .is_ok(),
        ),
        Inject::InvalidUtf8 => sent_ok(send_invalid_utf8(ws, live.fetch).await),
        Inject::MissingLabels => {
            let Some(sub) = live.sub else {
                return Applied::Done; // aborted fetch: the client holds nothing
            };
            let key = {
                let w = live.shared.world();
                // Under the world lock no delta can be queued meanwhile: an
                // empty queue means the client's view is exactly known.
                if !live.rx.is_empty() {
                    return Applied::Wait;
                }
                match live.sent {
                    Some(sent) => sent.iter().min().cloned(),
                    None => w
                        .tables
                        .get(sub.table)
                        .and_then(|t| t.entries.first())
                        .map(|e| e.delta_key()),
                }
            };
            let Some(key) = key else {
                tracing::info!(
                    fetch = live.fetch,
                    "fault missing_fields: the client holds no row"
                );
                return Applied::Done;
            };
            sent_ok(
                send(
                    ws,
                    &json!({"fetch": live.fetch, "records": {"updated": [{"delta_key": key}]}}),
                )
                .await,
            )
        }
        other => match fault::frame_text(other, live.fetch) {
            Some(text) => {
                tracing::info!(
                    fetch = live.fetch,
                    bytes = text.len(),
                    "fault: frame injected"
                );
                sent_ok(ws.send(Message::text(text)).await.is_ok())
            }
            None => Applied::Done,
        },
    }
}

/// Fault `invalid_utf8`: a text frame whose payload is not UTF-8, written
/// as a raw frame (a `Message::Text` cannot hold it).
async fn send_invalid_utf8(ws: &mut Ws, fetch: i64) -> bool {
    tracing::info!(fetch, "fault: invalid UTF-8 text frame injected");
    let payload = fault::invalid_utf8_payload(fetch);
    let frame = Frame::message(payload, OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(frame)).await.is_ok()
}

/// Whether an entry, rendered for SessionEvent `event`, matches the filter.
pub(crate) fn matches(f: &Filter, e: &Entry, ctx: &Ctx, event: &str) -> bool {
    let values = render::field_values(e, ctx, event);
    f.matches(&|id| {
        values
            .binary_search_by_key(&id, |(i, _)| *i)
            .ok()
            .and_then(|i| values.get(i))
            .map(|(_, v)| v.as_str())
    })
}

/// What a filtered fetch's client must see for a table change, given the
/// keys it was sent (updated in place): `None` when nothing.
fn filtered_change(
    f: &Filter,
    sent: &mut HashSet<String>,
    kind: Change,
    e: &Entry,
    ctx: &Ctx,
) -> Option<Change> {
    let key = e.delta_key();
    let event = match kind {
        Change::Added => EVENT_NEW,
        Change::Updated => EVENT_UPDATE,
        Change::Deleted => return sent.remove(&key).then_some(Change::Deleted),
    };
    if matches(f, e, ctx, event) {
        if sent.insert(key) {
            Some(Change::Added)
        } else {
            Some(Change::Updated)
        }
    } else if sent.remove(&key) {
        Some(Change::Deleted)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_changes_keep_the_view_exact() {
        use super::super::world::World;
        let w = World::generate(5, 1);
        let t = w
            .tables
            .iter()
            .find(|t| t.def == Definition::Connections)
            .unwrap();
        let e = t.entries[0].clone();
        let ctx = Ctx {
            base: "http://127.0.0.1:1".into(),
            version: "7.1".into(),
            legacy: false,
            def: Definition::Connections,
        };
        let values = render::field_values(&e, &ctx, EVENT_NEW);
        let src = &values.iter().find(|(i, _)| *i == 7).unwrap().1;
        let hit = Filter::parse(&json!({"type":"in","left":{"type":"field","id":7},
                                         "right":[{"type":"ip","value":src}]}))
        .unwrap();
        let miss = Filter::parse(&json!({"type":"not","value":{"type":"in",
            "left":{"type":"field","id":7},"right":[{"type":"ip","value":src}]}}))
        .unwrap();
        let mut sent = HashSet::new();
        let change = |f, sent: &mut HashSet<String>, k| filtered_change(f, sent, k, &e, &ctx);
        // Unsent and not matching: nothing, for every kind.
        for k in Change::ALL {
            assert_eq!(change(&miss, &mut sent, k), None);
        }
        // An update that starts matching is an add, then updates.
        assert_eq!(
            change(&hit, &mut sent, Change::Updated),
            Some(Change::Added)
        );
        assert_eq!(
            change(&hit, &mut sent, Change::Updated),
            Some(Change::Updated)
        );
        // Stops matching: deleted once, then silent.
        assert_eq!(
            change(&miss, &mut sent, Change::Updated),
            Some(Change::Deleted)
        );
        assert_eq!(change(&miss, &mut sent, Change::Updated), None);
        assert!(sent.is_empty());
        assert_eq!(change(&hit, &mut sent, Change::Added), Some(Change::Added));
        assert_eq!(
            change(&hit, &mut sent, Change::Deleted),
            Some(Change::Deleted)
        );
        assert_eq!(change(&hit, &mut sent, Change::Deleted), None);
    }

    #[test]
    fn delta_messages_carry_only_non_empty_lists() {
        let m = records_message(-3, vec![], vec![json!({"delta_key":"AA=="})], vec![], &[]);
        assert_eq!(
            m,
            json!({"fetch": -3, "records": {"updated": [{"delta_key": "AA=="}]}})
        );
        let m = records_message(-3, vec![], vec![], vec![], &["added", "updated", "deleted"]);
        assert_eq!(
            m,
            json!({"fetch": -3, "records": {"added": [], "updated": [], "deleted": []}})
        );
        let m = records_message(-3, vec![], vec![], vec![], &["added"]);
        assert_eq!(m, json!({"fetch": -3, "records": {"added": []}}));
    }
}
