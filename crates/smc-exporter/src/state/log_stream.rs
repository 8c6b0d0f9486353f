//! What one log stream counted: live log records and their accounted bytes
//! by the stream's `group_by` labels, rule hits by engine and rule tag
//! (when `rule_hits`), the socket's health, reconnects and the time it was
//! down (`smc_log_stream_gap_seconds_total`: records logged then are not
//! counted, because the stream asks for live records only).
//!
//! Label sets come from the SMC, so each new one takes a series from its
//! family's [`SeriesBudget`] (records and bytes share one, rule hits have
//! their own): at the cap, a record that needs a new series is not counted
//! and the refusal shows in `smc_exporter_series_dropped_total`. Counters
//! never shrink, so the series are given back only when the stream's state
//! is dropped (the stream was removed or reconfigured).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hashbrown::HashTable;
use xxhash_rust::xxh3::Xxh3;

use tokio::time::Instant;

use smc_fold::{SeriesBudget, cap_label_value};

use crate::config::LogStreamConfig;
use crate::labels::{LOG_BYTES_RECEIVED, LOG_BYTES_SENT, LOG_RULE_TAG, LOG_SENDER, LogSource};
use crate::state::engines::{EngineSnapshot, EngineState};
use crate::state::{ReconnectCounts, ReconnectReason};

/// The counters of one label set of `smc_log_records_total` /
/// `smc_log_bytes_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounts {
    pub records: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Some record of the set carried accounting fields (its byte
    /// counters are served from then on).
    pub accounted: bool,
}

/// One record's fields, by id (only those the stream asked for).
pub trait LogFields {
    fn get(&self, id: u32) -> Option<&str>;
}

impl LogFields for [(u32, &str)] {
    fn get(&self, id: u32) -> Option<&str> {
        self.iter().find(|(i, _)| *i == id).map(|(_, v)| *v)
    }
}

/// The series budgets of the log families.
#[derive(Debug, Clone)]
pub struct LogBudgets {
    /// `smc_log_records_total` (and `smc_log_bytes_total`, same label sets).
    pub records: Arc<SeriesBudget>,
    /// `smc_log_rule_hits_total`.
    pub rule_hits: Arc<SeriesBudget>,
}

/// One label set of the record and byte counters.
#[derive(Debug)]
struct Group {
    values: Box<[Box<str>]>,
    counts: GroupCounts,
}

/// One (engine, rule tag) of the rule-hit counter.
#[derive(Debug)]
struct RuleHit {
    engine: Box<str>,
    tag: Box<str>,
    hits: u64,
}

/// The counters, indexed by a hash of their label values: a record whose
/// label set exists costs a hash and a compare, no allocation.
#[derive(Debug, Default)]
struct Counts {
    groups: HashTable<(u64, Group)>,
    rule_hits: HashTable<(u64, RuleHit)>,
    nodes: NodeMap,
}

/// A hash of label values; `0xff` (never in UTF-8) ends each one.
fn hash_values<'a>(values: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h = Xxh3::new();
    for v in values {
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// Node name → engine name, from the SMC's last engine listing.
#[derive(Debug, Default)]
struct NodeMap {
    from: Option<Arc<EngineSnapshot>>,
    engine_of: HashMap<String, String>,
}

impl NodeMap {
    fn refresh(&mut self, current: Option<Arc<EngineSnapshot>>) {
        let same = match (&self.from, &current) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        self.engine_of = current
            .iter()
            .flat_map(|s| s.engines.iter())
            .flat_map(|e| e.nodes.iter().map(|n| (n.name.clone(), e.name.clone())))
            .collect();
        self.from = current;
    }

    /// The engine of the node `sender`: the listing's, else the name
    /// without the SMC's default ` node N` suffix, else the name itself.
    fn engine<'a>(&'a self, sender: &'a str) -> &'a str {
        if let Some(e) = self.engine_of.get(sender) {
            return e;
        }
        strip_node_suffix(sender)
    }
}

/// `fw-hq node 2` → `fw-hq` (the SMC names nodes `<engine> node <n>` by
/// default); any other name unchanged.
pub fn strip_node_suffix(sender: &str) -> &str {
    match sender.rsplit_once(" node ") {
        Some((engine, n))
            if !engine.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            engine
        }
        _ => sender,
    }
}

#[derive(Debug, Default)]
struct Gap {
    subscribed_once: bool,
    down_since: Option<Instant>,
    total_ms: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct LogStreamState {
    pub smc: Arc<str>,
    pub stream: Arc<str>,
    /// What log lines call it: `log stream "NAME"`.
    pub what: String,
    pub config: LogStreamConfig,
    /// The `group_by` label names, in order.
    pub labels: Vec<&'static str>,
    engines: Option<Arc<EngineState>>,
    budgets: LogBudgets,
    counts: Mutex<Counts>,
    up: AtomicBool,
    reconnects: ReconnectCounts,
    malformed: AtomicU64,
    gap: Mutex<Gap>,
}

impl LogStreamState {
    pub fn new(
        smc: Arc<str>,
        config: LogStreamConfig,
        engines: Option<Arc<EngineState>>,
        budgets: LogBudgets,
    ) -> Self {
        LogStreamState {
            stream: Arc::from(config.name.as_str()),
            what: format!("log stream {:?}", config.name),
            labels: config.group_by.iter().map(|g| g.label).collect(),
            smc,
            config,
            engines,
            budgets,
            counts: Mutex::new(Counts::default()),
            up: AtomicBool::new(false),
            reconnects: ReconnectCounts::default(),
            malformed: AtomicU64::new(0),
            gap: Mutex::new(Gap::default()),
        }
    }

    /// The record fields the stream needs, ascending, each once.
    pub fn field_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.config.group_by.iter().map(|g| g.field()).collect();
        ids.extend([LOG_BYTES_SENT, LOG_BYTES_RECEIVED]);
        if self.config.rule_hits {
            ids.extend([LOG_SENDER, LOG_RULE_TAG]);
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Count a batch of records (one message).
    pub fn count_batch<R: LogFields + ?Sized>(&self, records: &[&R]) {
        let mut batch = self.batch();
        for r in records {
            batch.count(*r);
        }
    }

    /// Count records one by one under one lock (one message).
    pub fn batch(&self) -> Batch<'_> {
        let snapshot = self.engines.as_ref().and_then(|e| e.snapshot());
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.nodes.refresh(snapshot);
        Batch {
            state: self,
            counts,
        }
    }

    /// `v` cut to the longest label value, counted when cut.
    fn capped<'v>(&self, v: &'v str, budget: &SeriesBudget) -> &'v str {
        let c = cap_label_value(v);
        if c.len() < v.len() {
            budget.note_truncated(1);
        }
        c
    }

    /// Every label set of the record and byte counters, sorted by label
    /// values.
    pub fn groups(&self) -> Vec<(Vec<Box<str>>, GroupCounts)> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(Vec<Box<str>>, GroupCounts)> = counts
            .groups
            .iter()
            .map(|(_, g)| (g.values.to_vec(), g.counts))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Rule hits by (engine, rule tag), sorted.
    pub fn rule_hits(&self) -> Vec<(Box<str>, Box<str>, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(Box<str>, Box<str>, u64)> = counts
            .rule_hits
            .iter()
            .map(|(_, r)| (r.engine.clone(), r.tag.clone(), r.hits))
            .collect();
        out.sort_unstable();
        out
    }

    pub fn count_malformed(&self, n: u64) {
        self.malformed.fetch_add(n, Ordering::Relaxed);
    }

    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// The socket is subscribed (`true`) or not. The first subscription
    /// starts the gap clock: from then on, time not subscribed is a gap.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        let now = Instant::now();
        let mut g = self.gap.lock().unwrap_or_else(|e| e.into_inner());
        if up {
            g.subscribed_once = true;
            if let Some(since) = g.down_since.take() {
                let ms = now.saturating_duration_since(since).as_millis();
                g.total_ms = g
                    .total_ms
                    .saturating_add(u64::try_from(ms).unwrap_or(u64::MAX));
            }
        } else if g.subscribed_once && g.down_since.is_none() {
            g.down_since = Some(now);
        }
    }

    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Seconds without a subscribed socket since the first subscription,
    /// the current outage included.
    pub fn gap_seconds(&self, now: Instant) -> f64 {
        let g = self.gap.lock().unwrap_or_else(|e| e.into_inner());
        let open = g
            .down_since
            .map_or(0, |s| now.saturating_duration_since(s).as_millis());
        (g.total_ms as f64 + open as f64) / 1000.0
    }

    pub fn count_reconnect(&self, reason: ReconnectReason) {
        self.reconnects.count(reason);
    }

    /// Reconnects by reason, in [`ReconnectReason::ALL`] order.
    pub fn reconnects(&self) -> impl Iterator<Item = (ReconnectReason, u64)> + '_ {
        self.reconnects.iter()
    }
}

/// Most `group_by` labels (each label once, from [`crate::labels::LOG_GROUPABLE`]).
const MAX_GROUP_LABELS: usize = 16;

/// Records being counted under one lock ([`LogStreamState::batch`]).
pub struct Batch<'s> {
    state: &'s LogStreamState,
    counts: MutexGuard<'s, Counts>,
}

impl Batch<'_> {
    /// Count one record.
    pub fn count<R: LogFields + ?Sized>(&mut self, r: &R) {
        let st = self.state;
        let (sent, received, bad) = accounting(r);
        let accounted = r.get(LOG_BYTES_SENT).is_some() || r.get(LOG_BYTES_RECEIVED).is_some();
        if bad > 0 {
            st.count_malformed(bad);
        }
        let Counts {
            groups,
            rule_hits,
            nodes,
        } = &mut *self.counts;
        let mut values = [""; MAX_GROUP_LABELS];
        let n = st.config.group_by.len().min(MAX_GROUP_LABELS);
        for (slot, g) in values.iter_mut().zip(&st.config.group_by) {
            *slot = st.capped(label_value(nodes, g.source, r), &st.budgets.records);
        }
        let values = &values[..n];
        if let Some(c) = find_or_add_group(groups, values, &st.budgets.records) {
            c.records += 1;
            c.bytes_sent = c.bytes_sent.saturating_add(sent);
            c.bytes_received = c.bytes_received.saturating_add(received);
            c.accounted |= accounted;
        }
        if st.config.rule_hits {
            if let Some(tag) = r.get(LOG_RULE_TAG).filter(|t| !t.is_empty()) {
                let engine = st.capped(
                    label_value(nodes, LogSource::Engine, r),
                    &st.budgets.records,
                );
                let tag = st.capped(tag, &st.budgets.rule_hits);
                count_rule_hit(rule_hits, engine, tag, &st.budgets.rule_hits);
            }
        }
    }
}

/// The value of one label of `r`.
fn label_value<'a, R: LogFields + ?Sized>(
    nodes: &'a NodeMap,
    source: LogSource,
    r: &'a R,
) -> &'a str {
    match source {
        LogSource::Engine => nodes.engine(r.get(LOG_SENDER).unwrap_or("")),
        LogSource::Field(id, t) => r.get(id).map_or("", |v| t.apply(v)),
    }
}

/// The counts of label set `values`, added if the budget has room.
fn find_or_add_group<'g>(
    groups: &'g mut HashTable<(u64, Group)>,
    values: &[&str],
    budget: &SeriesBudget,
) -> Option<&'g mut GroupCounts> {
    let hash = hash_values(values.iter().copied());
    let eq = |(h, g): &(u64, Group)| {
        *h == hash && g.values.iter().map(|v| &**v).eq(values.iter().copied())
    };
    match groups.entry(hash, eq, |(h, _)| *h) {
        hashbrown::hash_table::Entry::Occupied(o) => Some(&mut o.into_mut().1.counts),
        hashbrown::hash_table::Entry::Vacant(v) => {
            if !budget.try_acquire() {
                return None;
            }
            let group = Group {
                values: values.iter().map(|v| Box::from(*v)).collect(),
                counts: GroupCounts::default(),
            };
            Some(&mut v.insert((hash, group)).into_mut().1.counts)
        }
    }
}

fn count_rule_hit(
    rule_hits: &mut HashTable<(u64, RuleHit)>,
    engine: &str,
    tag: &str,
    budget: &SeriesBudget,
) {
    let hash = hash_values([engine, tag]);
    let eq = |(h, r): &(u64, RuleHit)| *h == hash && &*r.engine == engine && &*r.tag == tag;
    match rule_hits.entry(hash, eq, |(h, _)| *h) {
        hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().1.hits += 1,
        hashbrown::hash_table::Entry::Vacant(v) => {
            if budget.try_acquire() {
                let hit = RuleHit {
                    engine: engine.into(),
                    tag: tag.into(),
                    hits: 1,
                };
                v.insert((hash, hit));
            }
        }
    }
}

impl Drop for LogStreamState {
    fn drop(&mut self) {
        let counts = self.counts.get_mut().unwrap_or_else(|e| e.into_inner());
        self.budgets.records.release(counts.groups.len());
        self.budgets.rule_hits.release(counts.rule_hits.len());
    }
}

/// Bytes sent and received of a connection-closing record, and how many of
/// its accounting fields were not numbers (those count 0).
fn accounting<R: LogFields + ?Sized>(r: &R) -> (u64, u64, u64) {
    let mut bad = 0;
    let mut read = |id| match r.get(id).map(str::trim) {
        None | Some("") => 0,
        Some(v) => v.parse::<u64>().unwrap_or_else(|_| {
            bad += 1;
            0
        }),
    };
    let sent = read(LOG_BYTES_SENT);
    let received = read(LOG_BYTES_RECEIVED);
    (sent, received, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::log_group_field;
    use std::time::Duration;

    fn state(group_by: &[&str], rule_hits: bool, cap: usize) -> LogStreamState {
        let config = LogStreamConfig {
            name: "all".into(),
            filter: None,
            group_by: group_by
                .iter()
                .map(|l| log_group_field(l).unwrap())
                .collect(),
            rule_hits,
        };
        let budgets = LogBudgets {
            records: Arc::new(SeriesBudget::new(cap)),
            rule_hits: Arc::new(SeriesBudget::new(cap)),
        };
        LogStreamState::new("hq".into(), config, None, budgets)
    }

    fn s(v: &[&str]) -> Vec<Box<str>> {
        v.iter().map(|x| Box::from(*x)).collect()
    }

    #[test]
    fn records_and_bytes_are_counted_by_label_set() {
        let st = state(&["engine", "action"], true, 100);
        assert_eq!(st.field_ids(), [4, 14, 20, 105, 106]);
        let a: &[(u32, &str)] = &[
            (4, "fw node 1"),
            (14, "Allow"),
            (20, "@3.1"),
            (105, "100"),
            (106, "7"),
        ];
        let b: &[(u32, &str)] = &[(4, "fw node 2"), (14, "Allow"), (105, "1"), (106, "2")];
        let c: &[(u32, &str)] = &[(4, "edge"), (14, "Discard"), (20, "@3.1")];
        let d: &[(u32, &str)] = &[(14, "Allow"), (105, "lots")];
        st.count_batch(&[a, b, c, d]);
        let c3 = |records, bytes_sent, bytes_received, accounted| GroupCounts {
            records,
            bytes_sent,
            bytes_received,
            accounted,
        };
        assert_eq!(
            st.groups(),
            [
                (s(&["", "Allow"]), c3(1, 0, 0, true)),
                (s(&["edge", "Discard"]), c3(1, 0, 0, false)),
                (s(&["fw", "Allow"]), c3(2, 101, 9, true)),
            ]
        );
        assert_eq!(
            st.rule_hits(),
            [
                ("edge".into(), "@3.1".into(), 1),
                ("fw".into(), "@3.1".into(), 1)
            ]
        );
        // "lots" is not a byte count.
        assert_eq!(st.malformed(), 1);
    }

    #[test]
    fn new_label_sets_beyond_the_cap_are_dropped_and_counted() {
        let st = state(&["action"], false, 2);
        for action in ["Allow", "Discard", "Refuse", "Allow"] {
            let r: &[(u32, &str)] = &[(14, action)];
            st.count_batch(&[r]);
        }
        let groups = st.groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].1.records, 2);
        assert_eq!(st.budgets.records.dropped(), 1);
        let budget = st.budgets.records.clone();
        drop(st);
        assert_eq!(budget.used(), 0, "a dropped stream gives its series back");
    }

    #[test]
    fn node_names_map_to_engines() {
        assert_eq!(strip_node_suffix("fw-hq node 2"), "fw-hq");
        assert_eq!(strip_node_suffix("fw node x"), "fw node x");
        assert_eq!(strip_node_suffix(" node 1"), " node 1");
        assert_eq!(strip_node_suffix("edge"), "edge");
        let mut m = NodeMap::default();
        m.refresh(Some(Arc::new(EngineSnapshot {
            engines: vec![crate::state::engines::EngineInfo {
                name: "Cluster HQ".into(),
                etype: "fw_cluster".into(),
                nodes: vec![crate::state::engines::NodeInfo {
                    name: "hq-a".into(),
                    health: None,
                }],
            }],
        })));
        assert_eq!(m.engine("hq-a"), "Cluster HQ");
        assert_eq!(m.engine("fw node 1"), "fw");
    }

    #[tokio::test(start_paused = true)]
    async fn gaps_count_from_the_first_subscription() {
        let st = state(&["action"], false, 10);
        st.set_up(false);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            st.gap_seconds(Instant::now()),
            0.0,
            "never subscribed: no gap"
        );
        st.set_up(true);
        tokio::time::advance(Duration::from_secs(5)).await;
        st.set_up(false);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(
            st.gap_seconds(Instant::now()),
            1.5,
            "the open outage counts"
        );
        st.set_up(false);
        tokio::time::advance(Duration::from_millis(500)).await;
        st.set_up(true);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(st.gap_seconds(Instant::now()), 2.0);
    }
}
