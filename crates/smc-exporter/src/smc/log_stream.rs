//! One live log stream of an SMC (`/{ver}/monitoring/log/socket`, protocol
//! §2.2): a `current` query (live records only, never history) with the
//! stream's filter, in `id` format asking for the fields it counts; every
//! record counted into a [`LogStreamState`]. The socket's life (reconnects,
//! backoff, logging) is [`super::feed`]'s.
//!
//! What is lost during an outage: the records the SMC logs between the
//! socket's end and the next acknowledged query are never counted (there
//! is nothing to resume from; asking for stored records would count some
//! twice). The time is counted instead, in
//! `smc_log_stream_gap_seconds_total`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::driver::Ending;
use super::feed::{self, Feed, Heard};
use super::session::SmcSession;
use crate::config::SubscriptionConfig;
use crate::state::ReconnectReason;
use crate::state::log_stream::LogStreamState;
use smc_protocol::{FieldSet, Record, Records, ServerMessage, decode_fields, log_live_query};

/// The log socket's path (after `/{api version}`).
pub const LOG_SOCKET: &str = "/monitoring/log/socket";

/// A log stream's socket: its state, and what it asks for.
struct LogFeed {
    state: Arc<LogStreamState>,
    wanted: FieldSet,
    frame: String,
}

impl LogFeed {
    fn new(state: Arc<LogStreamState>) -> Self {
        let ids = state.field_ids();
        let filter = state.config.filter.as_deref();
        LogFeed {
            wanted: FieldSet::only(ids.iter().map(|i| i.to_string())),
            frame: log_live_query(&ids, filter),
            state,
        }
    }
}

/// Count `session`'s live log records for `state`'s stream until `cancel`.
pub async fn run(
    session: Arc<SmcSession>,
    state: Arc<LogStreamState>,
    settings: SubscriptionConfig,
    cancel: CancellationToken,
) {
    feed::run(session, Arc::new(LogFeed::new(state)), settings, cancel).await;
}

impl Feed for LogFeed {
    fn smc(&self) -> &str {
        &self.state.smc
    }
    fn what(&self) -> &str {
        &self.state.what
    }
    fn path(&self) -> &'static str {
        LOG_SOCKET
    }
    fn subscribe_frame(&self) -> String {
        self.frame.clone()
    }
    fn on_message(&self, text: &str) -> Result<Heard, Ending> {
        on_message(&self.state, &self.wanted, text)
    }
    fn set_up(&self, up: bool) {
        self.state.set_up(up);
    }
    fn count_reconnect(&self, reason: ReconnectReason) {
        self.state.count_reconnect(reason);
    }
}

/// Count one message; `Err` for a refusal or the end of the fetch (the
/// socket is then closed and opened again later).
fn on_message(state: &LogStreamState, wanted: &FieldSet, text: &str) -> Result<Heard, Ending> {
    match decode_fields(text, wanted) {
        Ok(ServerMessage::Started { fetch, .. }) => Ok(Heard::Subscribed { fetch }),
        Ok(ServerMessage::Records { records, .. }) => {
            count_records(state, &records);
            Ok(Heard::Other)
        }
        Ok(ServerMessage::Failure { reason }) => Err(Ending::new(
            ReconnectReason::Failure,
            capped(&reason).to_string(),
        )),
        Ok(ServerMessage::End { reason, .. }) => Err(Ending::new(
            ReconnectReason::Closed,
            format!("the SMC ended the live fetch: {}", capped(&reason)),
        )),
        Ok(ServerMessage::Status { .. } | ServerMessage::Unknown) => Ok(Heard::Other),
        Err(e) => {
            tracing::debug!(smc = %state.smc, stream = %state.stream, error = %e, "log message not understood");
            state.count_malformed(1);
            Ok(Heard::Other)
        }
    }
}

fn capped(s: &str) -> &str {
    smc_fold::cap_label_value(s)
}

/// Every record of a message, whichever list it came in (the log socket
/// sends a plain list).
fn count_records(state: &LogStreamState, records: &Records<'_>) {
    let lists = [&records.added, &records.updated, &records.deleted];
    let fields: Vec<Vec<(u32, &str)>> = lists
        .into_iter()
        .flatten()
        .map(|r: &Record<'_>| {
            records
                .fields(r)
                .iter()
                .filter_map(|(k, v)| Some((k.parse::<u32>().ok()?, v.as_ref())))
                .collect()
        })
        .collect();
    let refs: Vec<&[(u32, &str)]> = fields.iter().map(Vec::as_slice).collect();
    state.count_batch(&refs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogStreamConfig;
    use crate::labels::log_group_field;
    use crate::state::log_stream::LogBudgets;

    fn feed() -> LogFeed {
        let config = LogStreamConfig {
            name: "discards".into(),
            filter: Some(Arc::new(
                serde_json::json!({"type": "translated", "value": "$Action == \"Discard\""}),
            )),
            group_by: ["engine", "action"]
                .iter()
                .map(|l| log_group_field(l).unwrap())
                .collect(),
            rule_hits: false,
        };
        let budgets = LogBudgets {
            records: Arc::new(smc_fold::SeriesBudget::new(10)),
            rule_hits: Arc::new(smc_fold::SeriesBudget::new(10)),
        };
        LogFeed::new(Arc::new(LogStreamState::new(
            "hq".into(),
            config,
            None,
            budgets,
        )))
    }

    #[test]
    fn the_query_asks_for_live_records_with_the_filter() {
        let f = feed();
        let q: serde_json::Value = serde_json::from_str(&f.subscribe_frame()).unwrap();
        assert_eq!(q["query"]["type"], "current");
        assert_eq!(q["query"]["filter"]["value"], "$Action == \"Discard\"");
        assert_eq!(
            q["format"]["field_ids"],
            serde_json::json!([4, 14, 105, 106])
        );
    }

    #[test]
    fn messages_are_counted_and_a_refusal_or_an_end_closes() {
        let f = feed();
        let ack = r#"{"success":"Fetch started","fetch":12}"#;
        assert_eq!(
            f.on_message(ack).unwrap(),
            Heard::Subscribed { fetch: Some(12) }
        );
        assert_eq!(
            f.on_message(r#"{"fetch":12,"status":"Querying..."}"#)
                .unwrap(),
            Heard::Other
        );
        let recs = r#"{"fetch":12,"records":[{"4":"fw node 1","14":"Discard","7":"10.0.0.1"},{"4":"fw node 2","14":"Discard"}]}"#;
        assert_eq!(f.on_message(recs).unwrap(), Heard::Other);
        assert_eq!(f.on_message("{not json").unwrap(), Heard::Other);
        let g = f.state.groups();
        assert_eq!(g.len(), 1);
        assert_eq!(
            (&*g[0].0[0], &*g[0].0[1], g[0].1.records),
            ("fw", "Discard", 2)
        );
        assert_eq!(f.state.malformed(), 1);
        let e = f
            .on_message(r#"{"failure":"Invalid filter: bad"}"#)
            .unwrap_err();
        assert_eq!(
            (e.reason, e.detail.as_str()),
            (ReconnectReason::Failure, "Invalid filter: bad")
        );
        let e = f
            .on_message(r#"{"fetch":12,"end":"end of data"}"#)
            .unwrap_err();
        assert_eq!(
            (e.reason, e.detail.as_str()),
            (
                ReconnectReason::Closed,
                "the SMC ended the live fetch: end of data"
            )
        );
    }
}
