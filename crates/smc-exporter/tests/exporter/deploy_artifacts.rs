//! Checks of the deployment artefacts: Grafana dashboards, Prometheus rules,
//! Kubernetes manifests and the systemd unit.
//!
//! * dashboards pass grafana/dashboard-linter's rules, each emulated under
//!   its name (`dashboards_follow_linter_rules`), plus the project's own
//!   (uid, `smc`/`engine` variables, every panel type checked);
//! * every `smc_…` / `process_…` name used in a dashboard or a rule file is a
//!   metric family the exporter exposes (`FAMILIES`, the metric contract);
//! * the Kubernetes manifests exist, are listed in kustomization.yaml, carry
//!   the security settings, and the PrometheusRule embeds exactly
//!   `deploy/prometheus/{alerts,recording}.yml`;
//! * the systemd unit has the hardening directives (uncommented);
//! * every alert has a `runbook_url` to its section of docs/runbooks.md, every
//!   section there is an alert's, and docs/metrics.md lists every alert.
//!
//! Only std and serde_json: the YAML checks are line-based on purpose.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The metric families of the exporter's contract. A dashboard or rule that
/// uses any other `smc_…` / `process_…` name is wrong (typo or drift).
const FAMILIES: &[&str] = &[
    // state gauges
    "smc_connections",
    "smc_block_list_entries",
    "smc_vpn_security_associations",
    "smc_authenticated_users",
    "smc_sslvpn_sessions",
    "smc_routes",
    "smc_neighbors",
    "smc_active_alerts",
    // per subscription
    "smc_subscription_up",
    "smc_subscription_entries",
    "smc_subscription_last_message_timestamp_seconds",
    "smc_subscription_reconnects_total",
    "smc_subscription_snapshots_total",
    "smc_monitoring_records_total",
    "smc_monitoring_unknown_deletes_total",
    "smc_monitoring_message_errors_total",
    // per SMC
    "smc_up",
    "smc_logins_total",
    "smc_login_failures_total",
    // element changes (notify) and log streams ([[smc.log_stream]])
    "smc_element_changes_total",
    "smc_notification_up",
    "smc_notification_reconnects_total",
    "smc_notification_malformed_total",
    "smc_log_records_total",
    "smc_log_bytes_total",
    "smc_log_rule_hits_total",
    "smc_log_stream_up",
    "smc_log_stream_reconnects_total",
    "smc_log_stream_gap_seconds_total",
    "smc_log_stream_malformed_total",
    // SPS appliances ([[sps]], docs/metrics.md "SPS families"): data
    "sps_info",
    "sps_active_sessions",
    "sps_sessions_started_total",
    "sps_sessions_closed_total",
    "sps_session_duration_seconds",
    "sps_session_risk_score",
    "sps_alerts_total",
    "sps_cpu_usage_percent",
    "sps_memory_usage_percent",
    "sps_swap_usage_percent",
    "sps_disk_usage_percent",
    "sps_load_average",
    "sps_indexer_workers",
    "sps_indexer_idle_workers",
    "sps_indexer_jobs",
    "sps_raid_ok",
    // SPS: the poller itself
    "sps_up",
    "sps_poll_duration_seconds",
    "sps_api_requests_total",
    "sps_api_errors_total",
    "sps_logins_total",
    "sps_last_success_timestamp_seconds",
    "sps_watermark_timestamp_seconds",
    "sps_counting_since_timestamp_seconds",
    "sps_watermark_lag_seconds",
    "sps_tracked_sessions",
    "sps_window_splits_total",
    "sps_series_dropped_total",
    // process
    "smc_exporter_series_dropped_total",
    "smc_exporter_series_limit",
    "smc_exporter_build_info",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
    "process_open_fds",
];

/// Families a rule may use that no dashboard has to show (the running
/// daemon's reload and shard gauges).
const RULE_ONLY_FAMILIES: &[&str] = &[
    "smc_exporter_config_last_reload_successful",
    "smc_exporter_config_last_reload_success_timestamp_seconds",
    "smc_exporter_shard_ordinal",
    "smc_exporter_total_shards",
];

/// The histogram families of `FAMILIES`: queries use their `_bucket`,
/// `_sum` and `_count` series.
const HISTOGRAM_FAMILIES: &[&str] = &[
    "sps_session_duration_seconds",
    "sps_session_risk_score",
    "sps_poll_duration_seconds",
];

/// `name` as a family of the contract: itself, or the histogram family of
/// one of its `_bucket` / `_sum` / `_count` series.
fn family_of(name: &str) -> Option<&'static str> {
    if let Some(f) = FAMILIES
        .iter()
        .chain(RULE_ONLY_FAMILIES)
        .find(|f| **f == name)
    {
        return Some(f);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find_map(|base| HISTOGRAM_FAMILIES.iter().find(|f| **f == base))
        .copied()
}

const JOB: &str = r#"job=~"$job""#;
const INSTANCE: &str = r#"instance=~"$instance""#;

fn root() -> PathBuf {
    // The workspace root: the artefacts are not the crate's.
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn files_with_ext(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
        .collect();
    v.sort();
    v
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Identifier-like tokens (`[A-Za-z0-9_:]+`) with their byte offsets.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_ident(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// Names in `text` that look like exporter metrics but are not in the
/// contract. Recording-rule names (`level:metric:ops`) must be in `records`.
/// A bare prefix such as `smc_` (as in "smc_* metrics") is ignored.
fn unknown_metric_names(text: &str, records: &BTreeSet<String>) -> BTreeSet<String> {
    let mut bad = BTreeSet::new();
    for (_, t) in tokens(text) {
        if t.contains(':') {
            if t.contains("smc_") && !records.contains(t) {
                bad.insert(t.to_string());
            }
        } else if (t.starts_with("smc_") || t.starts_with("sps_") || t.starts_with("process_"))
            && !t.ends_with('_')
            && family_of(t).is_none()
        {
            bad.insert(t.to_string());
        }
    }
    bad
}

fn recording_rule_names() -> BTreeSet<String> {
    read("deploy/prometheus/recording.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record:"))
        .map(|s| s.trim().to_string())
        .collect()
}

/// One vector selector of a PromQL expression: the metric name, the text
/// between its braces (empty when it has none) and where it starts and ends.
struct Selector<'a> {
    name: &'a str,
    matchers: Option<&'a str>,
    start: usize,
    end: usize,
}

/// PromQL words that are not metric names.
const PROMQL_KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "inf",
    "nan",
];

/// Modifiers followed by a parenthesised label list (not an expression).
const LABEL_LIST_MODIFIERS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The index after the string literal that starts at `i` (a `"`).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() && b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// The index after the bracket closing the one at `i` (strings skipped).
fn skip_group(b: &[u8], i: usize, open: u8, close: u8) -> usize {
    let mut depth = 0;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                j = skip_string(b, j);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    b.len()
}

fn next_non_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Every vector selector of `expr` (what the linter gets from
/// `parser.ExtractSelectors`): identifiers that are not functions, keywords,
/// label lists, numbers, durations or `$variables`.
fn selectors(expr: &str) -> Vec<Selector<'_>> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            i = skip_string(b, i);
        } else if c == b'[' {
            i = skip_group(b, i, b'[', b']');
        } else if c == b'$' || c.is_ascii_digit() {
            i += 1;
            while i < b.len() && (is_ident(b[i] as char) || b[i] == b'.') {
                i += 1;
            }
        } else if is_ident(c as char) {
            let start = i;
            while i < b.len() && is_ident(b[i] as char) {
                i += 1;
            }
            let name = &expr[start..i];
            let next = next_non_space(b, i);
            let lower = name.to_ascii_lowercase();
            if LABEL_LIST_MODIFIERS.contains(&lower.as_str()) && b.get(next) == Some(&b'(') {
                i = skip_group(b, next, b'(', b')');
            } else if b.get(next) == Some(&b'(') || PROMQL_KEYWORDS.contains(&lower.as_str()) {
                // a function call, an aggregation or an operator
            } else if b.get(next) == Some(&b'{') {
                let end = skip_group(b, next, b'{', b'}');
                out.push(Selector {
                    name,
                    matchers: Some(&expr[next + 1..end - 1]),
                    start,
                    end,
                });
                i = end;
            } else {
                out.push(Selector {
                    name,
                    matchers: None,
                    start,
                    end: i,
                });
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The matchers of a selector, split at the commas outside strings, trimmed.
fn matcher_list(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut from) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = skip_string(b, i);
                continue;
            }
            b',' => {
                out.push(text[from..i].trim().to_string());
                from = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(text[from..].trim().to_string());
    out.retain(|m| !m.is_empty());
    out
}

/// Problems of one PromQL expression of a dashboard panel, each prefixed
/// with the dashboard-linter rule it emulates (or `project:` for this
/// repository's own, stricter, conventions).
fn expr_problems(expr: &str) -> Vec<String> {
    let mut p = Vec::new();
    let sels = selectors(expr);
    if expr.trim().is_empty() || sels.is_empty() {
        p.push("target-promql-rule: empty query or no selector".into());
    }
    for s in &sels {
        p.extend(selector_problems(expr, s));
    }
    p.extend(range_problems(expr));
    p.extend(balance_problems(expr));
    p
}

/// target-job-rule, target-instance-rule and target-counter-agg-rule for one
/// selector of `expr`.
fn selector_problems(expr: &str, s: &Selector) -> Vec<String> {
    let mut p = Vec::new();
    let t = s.name;
    // Every selector carries `job=~"$job"` and `instance=~"$instance"`
    // (type =~, value exact).
    let ms = s.matchers.map(matcher_list).unwrap_or_default();
    for (rule, m) in [("target-job-rule", JOB), ("target-instance-rule", INSTANCE)] {
        if !ms.iter().any(|x| x == m) {
            p.push(format!("{rule}: selector `{t}` lacks `{m}`"));
        }
    }
    // A `_total` counter only as the range of rate(), irate() or
    // increase(). (The linter compares the selector's printed text, matchers
    // included, so it only sees bare counters; this checks every one.)
    if t.ends_with("_total") {
        let ranged = expr[s.end..].trim_start().starts_with('[');
        let before = expr[..s.start].trim_end();
        let in_fn = ["rate(", "irate(", "increase("]
            .iter()
            .any(|f| before.ends_with(f) && !before.ends_with(&format!("_{f}")));
        if !(ranged && in_fn) {
            p.push(format!(
                "target-counter-agg-rule: counter `{t}` not wrapped in rate()/irate()/increase()"
            ));
        }
    }
    p
}

/// target-rate-interval-rule demands [$__rate_interval] inside rate() and
/// irate(); the project demands it for every range, but one: `[$__range]`
/// as the range of increase(), Grafana's total over the dashboard's time
/// range (`panel_problems` allows it only in instant targets).
fn range_problems(expr: &str) -> Vec<String> {
    let sels = selectors(expr);
    let mut p = Vec::new();
    let mut from = 0;
    while let Some(i) = expr[from..].find('[').map(|i| from + i) {
        let after = &expr[i + 1..];
        let end = after.find(']').unwrap_or(after.len());
        let range = &after[..end];
        let total = range == "$__range"
            && sels.iter().any(|s| {
                let before = expr[..s.start].trim_end();
                s.end == i && before.ends_with("increase(") && !before.ends_with("_increase(")
            });
        if range != "$__rate_interval" && !total {
            p.push(format!(
                "target-rate-interval-rule: range `[{range}]` is not [$__rate_interval]"
            ));
        }
        from = i + 1 + end;
    }
    p
}

/// target-promql-rule (the query parses): balanced delimiters here;
/// `promtool check rules` parses every query in
/// `dashboard_queries_parse_as_promql`, and the live check
/// (deploy/prometheus/live-check.py) evaluates each in Prometheus.
fn balance_problems(expr: &str) -> Vec<String> {
    let mut p = Vec::new();
    let b = expr.as_bytes();
    for (open, close) in [(b'(', b')'), (b'{', b'}'), (b'[', b']')] {
        let (mut depth, mut i) = (0i32, 0);
        while i < b.len() {
            match b[i] {
                b'"' => {
                    i = skip_string(b, i);
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                break;
            }
            i += 1;
        }
        if depth != 0 {
            p.push(format!(
                "target-promql-rule: unbalanced `{}{}`",
                open as char, close as char
            ));
        }
    }
    p
}

/// Aggregations that drop labels (`topk`, `bottomk` and `limitk` keep them).
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "group",
    "quantile",
    "count_values",
];

/// The matcher every dashboard selector of a log stream family carries.
const STREAM: &str = r#"stream=~"$stream""#;

/// project (log streams): several streams may count the same record (a
/// stream "all" and a filtered stream "discards" both count a discard), so
/// an aggregation over a `smc_log_…` family keeps `stream`: `by (…)` lists
/// it, or `without (…)` does not. Dashboards and rules alike.
fn stream_problems(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let mut p = Vec::new();
    for (start, t) in tokens(expr) {
        if !AGGREGATIONS.contains(&t) {
            continue;
        }
        let mut i = next_non_space(b, start + t.len());
        let mut grouping = grouping_at(expr, i);
        if let Some((_, _, end)) = &grouping {
            i = next_non_space(b, *end);
        }
        if b.get(i) != Some(&b'(') {
            continue;
        }
        let arg_end = skip_group(b, i, b'(', b')');
        if grouping.is_none() {
            grouping = grouping_at(expr, next_non_space(b, arg_end));
        }
        if !expr[i..arg_end].contains("smc_log_") {
            continue;
        }
        let keeps =
            grouping.is_some_and(|(kw, labels, _)| labels.contains(&"stream") == (kw == "by"));
        if !keeps {
            p.push(format!(
                "project: `{t}` over a smc_log_ family drops `stream` (never sum across streams)"
            ));
        }
    }
    p
}

/// `by (…)` or `without (…)` at `i`: the keyword, its labels, and the index
/// after its closing parenthesis.
fn grouping_at(expr: &str, i: usize) -> Option<(&str, Vec<&str>, usize)> {
    let b = expr.as_bytes();
    let rest = expr.get(i..)?;
    let kw = ["by", "without"]
        .into_iter()
        .find(|k| rest.starts_with(k) && !rest[k.len()..].starts_with(is_ident))?;
    let open = next_non_space(b, i + kw.len());
    if b.get(open) != Some(&b'(') {
        return None;
    }
    let end = skip_group(b, open, b'(', b')');
    let labels = expr[open + 1..end - 1]
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Some((kw, labels, end))
}

/// project (log streams): every dashboard selector of a `smc_log_…` family
/// carries `stream=~"$stream"`; (SPS) every selector of an `sps_…` family
/// carries `sps=~"$sps"`.
fn stream_var_problems(expr: &str) -> Vec<String> {
    [("smc_log_", STREAM), ("sps_", SPS)]
        .iter()
        .flat_map(|(prefix, matcher)| {
            selectors(expr)
                .into_iter()
                .filter(|s| s.name.starts_with(prefix))
                .filter(|s| {
                    !matcher_list(s.matchers.unwrap_or(""))
                        .iter()
                        .any(|m| m == matcher)
                })
                .map(|s| format!("project: selector `{}` lacks `{matcher}`", s.name))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The matcher every dashboard selector of an SPS family carries.
const SPS: &str = r#"sps=~"$sps""#;

/// Units the dashboards may use: Grafana unit ids (valueFormats
/// categories) that panel-units-rule accepts. A subset of the linter's list:
/// the ones that fit an exporter's numbers; extend it from the linter's
/// `validUnits` when a panel needs another. (`recps` is no Grafana unit.)
const VALID_UNITS: &[&str] = &[
    "none",
    "short",
    "percent",
    "percentunit",
    "bytes",
    "decbytes",
    "bits",
    "Bps",
    "bps",
    "pps",
    "ns",
    "µs",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "dtdurations",
    "dateTimeAsIso",
    "dateTimeFromNow",
    "cps",
    "ops",
    "reqps",
    "rps",
    "wps",
    "iops",
    "cpm",
    "opm",
    "bool",
    "bool_yes_no",
    "bool_on_off",
];

/// Panel types the linter's panel rules look at (lint/constants.go).
const LINTED_PANEL_TYPES: &[&str] = &[
    "stat",
    "singlestat",
    "gauge",
    "graph",
    "timeseries",
    "table",
];
/// panel-datasource-rule looks at fewer.
const DATASOURCE_PANEL_TYPES: &[&str] = &["singlestat", "graph", "table", "timeseries"];

fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for q in p["panels"].as_array().into_iter().flatten() {
            out.push(q);
        }
    }
    out
}

fn dashboards() -> Vec<(String, String, Value)> {
    let files = files_with_ext("grafana/dashboards", "json");
    assert!(!files.is_empty(), "no dashboards in grafana/dashboards");
    files
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(&f).unwrap();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", rel(&f)));
            (rel(&f), text, v)
        })
        .collect()
}

/// "job" → "Job": Go's `cases.Title(language.English)` for one word.
fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| {
            f.to_uppercase()
                .chain(c.flat_map(char::to_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

/// template-datasource-rule, template-job-rule, template-instance-rule,
/// template-label-promql-rule, template-on-time-change-reload-rule, and the
/// project's `smc` / `engine` variables.
fn template_problems(d: &Value) -> Vec<String> {
    let vars = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut bad = datasource_var_problems(&vars);
    let reads = |prefix: &str| {
        all_panels(d)
            .iter()
            .any(|p| p["targets"].to_string().contains(prefix))
    };
    let mut required = vec![
        ("job", "template-job-rule"),
        ("instance", "template-instance-rule"),
    ];
    if reads("smc_") || !reads("sps_") {
        required.extend([("smc", "project"), ("engine", "project")]);
    }
    if reads("sps_") {
        required.push(("sps", "project"));
    }
    for (n, rule) in required {
        match vars.iter().find(|v| v["name"] == n) {
            None => bad.push(format!("{rule}: no `{n}` variable")),
            Some(v) => bad.extend(required_var_problems(v, n, rule)),
        }
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        bad.extend(query_var_problems(v));
    }
    bad
}

/// template-datasource-rule.
fn datasource_var_problems(vars: &[Value]) -> Vec<String> {
    let mut bad = Vec::new();
    let ds: Vec<&Value> = vars.iter().filter(|v| v["type"] == "datasource").collect();
    if ds.is_empty() {
        bad.push("template-datasource-rule: no templated data source".to_string());
    }
    for v in &ds {
        let query = v["query"].as_str().unwrap_or("");
        let mut names = vec![format!("{}_datasource", query.to_lowercase())];
        let mut labels = vec![format!("{} data source", title_case(query))];
        if ds.len() == 1 {
            names.push("datasource".into());
            labels.push("Data source".into());
        }
        if !names.iter().any(|n| v["name"] == n.as_str()) {
            bad.push(format!(
                "template-datasource-rule: variable named {}, should be one of {names:?}",
                v["name"]
            ));
        }
        if !labels.iter().any(|l| v["label"] == l.as_str()) {
            bad.push(format!(
                "template-datasource-rule: variable labeled {}, should be one of {labels:?}",
                v["label"]
            ));
        }
    }
    if ds.first().map(|v| &v["query"]) != Some(&Value::from("prometheus")) {
        bad.push("project: the data source variable must be of type prometheus".into());
    }
    bad
}

/// template-job-rule / template-instance-rule (checkTemplate) for `job` and
/// `instance`; the same, but the label, for the project's `smc` and
/// `engine`.
fn required_var_problems(v: &Value, n: &str, rule: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let ds_uids = [
        "$datasource",
        "${datasource}",
        "$prometheus_datasource",
        "${prometheus_datasource}",
    ];
    if !ds_uids.iter().any(|u| v["datasource"]["uid"] == *u) {
        bad.push(format!("{rule}: variable `{n}` must use $datasource"));
    }
    if v["type"] != "query" {
        bad.push(format!("{rule}: variable `{n}` must be of type query"));
    }
    if v["label"] != title_case(n).as_str() && rule != "project" {
        bad.push(format!(
            "{rule}: variable `{n}` must be labeled {:?}, is {}",
            title_case(n),
            v["label"]
        ));
    }
    if v["multi"] != true || v["allValue"] != ".+" {
        bad.push(format!(
            "{rule}: variable `{n}` must be multi with allValue \".+\""
        ));
    }
    if v["includeAll"] != true {
        bad.push(format!("project: variable `{n}` must include All"));
    }
    bad
}

/// template-label-promql-rule and template-on-time-change-reload-rule for
/// one query variable.
fn query_var_problems(v: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let (n, q) = (&v["name"], v["query"].as_str().unwrap_or(""));
    let func = q.split_once('(').map(|(f, _)| f).unwrap_or("");
    let shaped = q.ends_with(')')
        && !func.is_empty()
        && func.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    if !shaped || !["label_names", "label_values", "metrics", "query_result"].contains(&func) {
        bad.push(format!(
            "template-label-promql-rule: variable {n}: `{q}` is not label_values(…) or another known function"
        ));
    }
    if v["refresh"] != 2 {
        bad.push(format!(
            "template-on-time-change-reload-rule: variable {n} must have refresh 2"
        ));
    }
    bad
}

/// The unit panel-units-rule reads: the last `unit` override, else the
/// default.
fn panel_unit(p: &Value) -> String {
    let fc = &p["fieldConfig"];
    let over = fc["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|o| o["properties"].as_array().into_iter().flatten())
        .filter(|prop| prop["id"] == "unit")
        .filter_map(|prop| prop["value"].as_str())
        .next_back();
    over.or(fc["defaults"]["unit"].as_str())
        .unwrap_or("")
        .to_string()
}

/// panel-units-rule: the unit the linter reads (the last `unit` override,
/// else the default) is one Grafana knows; the project also checks the
/// default and every override.
fn unit_problems(p: &Value, rule: &str) -> Vec<String> {
    let mut units = vec![
        panel_unit(p),
        p["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    ];
    units.extend(
        p["fieldConfig"]["overrides"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|o| o["properties"].as_array().into_iter().flatten())
            .filter(|prop| prop["id"] == "unit")
            .filter_map(|prop| prop["value"].as_str().map(String::from)),
    );
    units.sort();
    units.dedup();
    units
        .into_iter()
        .filter(|u| !VALID_UNITS.contains(&u.as_str()))
        .map(|u| format!("{rule}: unit {u:?} is not a known unit"))
        .collect()
}

/// panel-datasource-rule, panel-title-description-rule, panel-units-rule,
/// panel-no-targets-rule and every target rule, for one panel. The project
/// applies title, description, unit, datasource and targets to every panel
/// type, and checks every unit set (defaults and overrides).
fn panel_problems(p: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let ty = p["type"].as_str().unwrap_or("");
    let linted = LINTED_PANEL_TYPES.contains(&ty);
    let rule = |r: &str| {
        if linted {
            r.to_string()
        } else {
            format!("project ({r})")
        }
    };
    if p["title"].as_str().unwrap_or("").is_empty()
        || p["description"].as_str().unwrap_or("").trim().is_empty()
    {
        bad.push(format!(
            "{}: no title or description",
            rule("panel-title-description-rule")
        ));
    }
    bad.extend(unit_problems(p, &rule("panel-units-rule")));
    let ds_rule = if DATASOURCE_PANEL_TYPES.contains(&ty) {
        "panel-datasource-rule".to_string()
    } else {
        "project (panel-datasource-rule)".to_string()
    };
    if !["$datasource", "${datasource}"]
        .iter()
        .any(|u| p["datasource"]["uid"] == *u)
    {
        bad.push(format!("{ds_rule}: datasource is not ${{datasource}}"));
    }
    let targets = p["targets"].as_array().cloned().unwrap_or_default();
    if targets.is_empty() {
        bad.push(format!("{}: no targets", rule("panel-no-targets-rule")));
    }
    for t in targets {
        let expr = t["expr"].as_str().unwrap_or("");
        if t["datasource"]["type"] == "loki" {
            bad.push("target-logql-rule: no Loki target expected".into());
        }
        let mut found = expr_problems(expr);
        found.extend(stream_problems(expr));
        found.extend(stream_var_problems(expr));
        if expr.contains("$__range") && t["instant"] != true {
            found.push("project: `$__range` only in an instant target".into());
        }
        for e in found {
            bad.push(format!("{e} in `{expr}`"));
        }
    }
    bad
}

/// Every problem of one dashboard, rule-prefixed.
fn dashboard_problems(d: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    // uneditable-dashboard
    if d["editable"] != false {
        bad.push("uneditable-dashboard: must be `editable: false`".into());
    }
    if !matches!(d["uid"].as_str(), Some(u) if (8..=40).contains(&u.len())) {
        bad.push(format!(
            "project: uid must be a string of 8-40 chars, got {}",
            d["uid"]
        ));
    }
    if d["title"].as_str().unwrap_or("").is_empty() {
        bad.push("project: no title".into());
    }
    bad.extend(template_problems(d));
    let logs = all_panels(d)
        .iter()
        .any(|p| p["targets"].to_string().contains("smc_log_"));
    let vars = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match vars.iter().find(|v| v["name"] == "stream") {
        Some(v) => bad.extend(required_var_problems(v, "stream", "project")),
        None if logs => bad.push("project: log stream panels but no `stream` variable".into()),
        None => {}
    }
    let mut ids = BTreeSet::new();
    for p in all_panels(d) {
        if !ids.insert(p["id"].to_string()) {
            bad.push(format!("project: duplicate panel id {}", p["id"]));
        }
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().unwrap_or("");
        for m in panel_problems(p) {
            bad.push(format!("panel {title:?}: {m}"));
        }
    }
    bad
}

// ------------------------------------------------------------- (a) dashboards

/// The rules of grafana/dashboard-linter (lint/rules.go `NewRuleSet`, as of
/// commit 4d0844b), each emulated above under its own name:
/// template-datasource-rule, template-job-rule, template-instance-rule,
/// template-label-promql-rule, template-on-time-change-reload-rule,
/// panel-datasource-rule, panel-title-description-rule, panel-units-rule,
/// panel-no-targets-rule, target-logql-rule / target-logql-auto-rule (Loki
/// only: there is none), target-promql-rule, target-rate-interval-rule,
/// target-job-rule, target-instance-rule, target-counter-agg-rule,
/// uneditable-dashboard. Warnings of the linter (the variables' labels)
/// are errors here, as under `dashboard-linter lint --strict`.
#[test]
fn dashboards_follow_linter_rules() {
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for (name, _, d) in dashboards() {
        if !uids.insert(d["uid"].to_string()) {
            problems.push(format!("{name}: duplicate uid {}", d["uid"]));
        }
        for m in dashboard_problems(&d) {
            problems.push(format!("{name}: {m}"));
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n  {}",
        problems.join("\n  ")
    );
}

/// A copy of the first dashboard with one change applied must fail with
/// exactly the rule named.
fn fails_with(change: impl Fn(&mut Value), rule: &str) {
    let (_, _, mut d) = dashboards().remove(0);
    assert!(dashboard_problems(&d).is_empty());
    change(&mut d);
    let got = dashboard_problems(&d);
    assert!(
        !got.is_empty() && got.iter().all(|m| m.contains(rule)),
        "want only {rule} problems, got {got:#?}"
    );
}

fn var_mut<'a>(d: &'a mut Value, name: &str) -> &'a mut Value {
    d["templating"]["list"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|v| v["name"] == name)
        .unwrap()
}

fn first_timeseries(d: &mut Value) -> &mut Value {
    d["panels"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["type"] == "timeseries")
        .unwrap()
}

#[test]
fn each_linter_rule_can_fail() {
    fails_with(|d| d["editable"] = true.into(), "uneditable-dashboard");
    fails_with(
        |d| var_mut(d, "datasource")["label"] = "Data Source".into(),
        "template-datasource-rule",
    );
    fails_with(
        |d| var_mut(d, "job")["label"] = "job".into(),
        "template-job-rule",
    );
    fails_with(
        |d| var_mut(d, "job")["allValue"] = ".*".into(),
        "template-job-rule",
    );
    fails_with(
        |d| var_mut(d, "instance")["multi"] = false.into(),
        "template-instance-rule",
    );
    fails_with(
        |d| var_mut(d, "smc")["query"] = "values(smc_up, smc)".into(),
        "template-label-promql-rule",
    );
    fails_with(
        |d| var_mut(d, "engine")["refresh"] = 1.into(),
        "template-on-time-change-reload-rule",
    );
    fails_with(
        |d| first_timeseries(d)["datasource"]["uid"] = "prom".into(),
        "panel-datasource-rule",
    );
    fails_with(
        |d| first_timeseries(d)["description"] = "".into(),
        "panel-title-description-rule",
    );
    fails_with(
        |d| first_timeseries(d)["fieldConfig"]["defaults"]["unit"] = "recps".into(),
        "panel-units-rule",
    );
    fails_with(
        |d| first_timeseries(d)["targets"] = Value::Null,
        "panel-no-targets-rule",
    );
}

#[test]
fn expr_checker_rejects_bad_queries() {
    let ok = r#"sum by (smc, reason) (rate(smc_logins_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))"#;
    assert_eq!(expr_problems(ok), Vec::<String>::new());
    let one = |q: &str| expr_problems(q).join("; ");
    assert_eq!(
        one(r#"smc_up{job=~"$job"}"#),
        r#"target-instance-rule: selector `smc_up` lacks `instance=~"$instance"`"#
    );
    assert_eq!(
        one(r#"smc_up{job="$job", instance=~"$instance"}"#),
        r#"target-job-rule: selector `smc_up` lacks `job=~"$job"`"#
    );
    assert_eq!(
        one("sum(up)"),
        r#"target-job-rule: selector `up` lacks `job=~"$job"`; target-instance-rule: selector `up` lacks `instance=~"$instance"`"#
    );
    assert_eq!(
        one(r#"rate(smc_logins_total{job=~"$job", instance=~"$instance"}[5m])"#),
        "target-rate-interval-rule: range `[5m]` is not [$__rate_interval]"
    );
    assert_eq!(
        one(r#"smc_logins_total{job=~"$job", instance=~"$instance"}"#),
        "target-counter-agg-rule: counter `smc_logins_total` not wrapped in rate()/irate()/increase()"
    );
    assert_eq!(
        one(r#"sum(smc_up{job=~"$job", instance=~"$instance"}"#),
        "target-promql-rule: unbalanced `()`"
    );
    // The second selector of a binary expression, and label lists and
    // functions that are not selectors.
    assert_eq!(
        one(
            r#"smc_up{job=~"$job", instance=~"$instance"} and on (smc) count by (smc) (smc_subscription_up) or vector(0)"#
        ),
        "target-job-rule: selector `smc_subscription_up` lacks `job=~\"$job\"`; target-instance-rule: selector `smc_subscription_up` lacks `instance=~\"$instance\"`"
    );
}

/// `[$__range]` only as the range of increase(), and only in an instant
/// target; the stream rules for log families.
#[test]
fn range_and_stream_checkers_reject_bad_queries() {
    let one = |q: &str| {
        let mut p = expr_problems(q);
        p.extend(stream_problems(q));
        p.extend(stream_var_problems(q));
        p.join("; ")
    };
    let sel = r#"smc_log_records_total{job=~"$job", instance=~"$instance", stream=~"$stream"}"#;
    for ok in [
        format!("sum by (smc, stream, engine) (rate({sel}[$__rate_interval]))"),
        format!("topk(10, sum by (stream, rule_tag) (increase({sel}[$__range] offset $__range)))"),
        format!("sum without (action) (rate({sel}[$__rate_interval]))"),
        format!("sum (rate({sel}[$__rate_interval])) by (stream)"),
        // not a log family: nothing to keep
        r#"sum(smc_up{job=~"$job", instance=~"$instance"})"#.to_string(),
    ] {
        assert_eq!(one(&ok), "", "{ok}");
    }
    assert_eq!(
        one(&format!(
            "sum by (smc, engine) (rate({sel}[$__rate_interval]))"
        )),
        "project: `sum` over a smc_log_ family drops `stream` (never sum across streams)"
    );
    assert_eq!(
        one(&format!("count(rate({sel}[$__rate_interval]))")),
        "project: `count` over a smc_log_ family drops `stream` (never sum across streams)"
    );
    assert_eq!(
        one(&format!(
            "sum without (stream) (rate({sel}[$__rate_interval]))"
        )),
        "project: `sum` over a smc_log_ family drops `stream` (never sum across streams)"
    );
    assert_eq!(
        one(&format!("rate({sel}[$__range])")),
        "target-rate-interval-rule: range `[$__range]` is not [$__rate_interval]"
    );
    assert_eq!(
        one(r#"rate(smc_log_bytes_total{job=~"$job", instance=~"$instance"}[$__rate_interval])"#),
        r#"project: selector `smc_log_bytes_total` lacks `stream=~"$stream"`"#
    );
    assert_eq!(
        one(r#"sps_up{job=~"$job", instance=~"$instance"}"#),
        r#"project: selector `sps_up` lacks `sps=~"$sps"`"#
    );
    assert_eq!(
        one(r#"sps_up{job=~"$job", instance=~"$instance", sps=~"$sps"}"#),
        ""
    );
    // A `$__range` target must be instant.
    let panel = |instant: bool| {
        serde_json::json!({
            "type": "bargauge", "title": "t", "description": "d",
            "datasource": {"uid": "${datasource}"},
            "fieldConfig": {"defaults": {"unit": "short"}},
            "targets": [{"expr": format!("sum by (stream) (increase({sel}[$__range]))"), "instant": instant}],
        })
    };
    assert_eq!(panel_problems(&panel(true)), Vec::<String>::new());
    assert_eq!(
        panel_problems(&panel(false)),
        vec![format!(
            "project: `$__range` only in an instant target in `sum by (stream) (increase({sel}[$__range]))`"
        )]
    );
}

/// The expressions of a rule file: (rule name, expression), `expr: |-`
/// blocks joined.
fn rule_exprs(rel_path: &str) -> Vec<(String, String)> {
    let text = read(rel_path);
    let mut out: Vec<(String, String)> = Vec::new();
    let mut name = String::new();
    let mut block: Option<(usize, String)> = None;
    for l in text.lines() {
        let indent = l.len() - l.trim_start().len();
        let t = l.trim();
        if let Some((ind, e)) = &mut block {
            if indent > *ind && !t.is_empty() {
                e.push_str(t);
                e.push(' ');
                continue;
            }
            out.push((name.clone(), e.trim().to_string()));
            block = None;
        }
        if let Some(n) = t
            .strip_prefix("- alert:")
            .or_else(|| t.strip_prefix("- record:"))
        {
            name = n.trim().to_string();
        } else if let Some(e) = t.strip_prefix("expr:") {
            match e.trim() {
                "|-" | "|" | ">-" | ">" => block = Some((indent, String::new())),
                e => out.push((name.clone(), e.to_string())),
            }
        }
    }
    if let Some((_, e)) = block {
        out.push((name, e.trim().to_string()));
    }
    out
}

/// The rules keep `stream` in every aggregation over a log family, as the
/// dashboards do (`stream_problems`), and some rule reads each of them.
#[test]
fn rules_never_sum_across_log_streams() {
    let mut problems = Vec::new();
    let mut exprs = rule_exprs("deploy/prometheus/alerts.yml");
    exprs.extend(rule_exprs("deploy/prometheus/recording.yml"));
    assert!(exprs.len() >= 20, "only {} rule expressions", exprs.len());
    for (name, expr) in &exprs {
        for m in stream_problems(expr) {
            problems.push(format!("{name}: {m} in `{expr}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let logs = exprs.iter().filter(|(_, e)| e.contains("smc_log_")).count();
    assert!(logs >= 3, "only {logs} rules read a log stream family");
}

/// target-promql-rule for real: every dashboard query (variables expanded as
/// the linter does: `$__rate_interval` a duration; `$job` etc. sit inside
/// strings and stay) parsed by `promtool check rules` as a recording rule.
#[test]
fn dashboard_queries_parse_as_promql() {
    let mut rules = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    let mut n = 0;
    for (_, _, d) in dashboards() {
        for p in all_panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"]
                    .as_str()
                    .unwrap_or("")
                    .replace("$__rate_interval", "5m")
                    .replace("$__range", "6h");
                let quoted = serde_json::to_string(&expr).unwrap();
                rules.push_str(&format!("      - record: q{n}\n        expr: {quoted}\n"));
                n += 1;
            }
        }
    }
    assert!(n > 30, "only {n} dashboard queries");
    let dir = std::env::temp_dir().join(format!("smc-dash-promql-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("queries.yml");
    fs::write(&file, &rules).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output();
    let _ = fs::remove_dir_all(&dir);
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let required = std::env::var("SMC_EXPORTER_REQUIRE_PROMTOOL").as_deref() == Ok("1");
            assert!(
                !required,
                "promtool is not on PATH but SMC_EXPORTER_REQUIRE_PROMTOOL=1"
            );
            eprintln!("note: promtool not on PATH; dashboard queries not parsed");
            return;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    assert!(
        out.status.success(),
        "promtool check rules on the dashboard queries:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------ (b) metric names

#[test]
fn only_contract_metric_names_are_used() {
    let records = recording_rule_names();
    assert!(!records.is_empty(), "recording.yml defines no rule");
    let mut sources: Vec<(String, String)> = dashboards()
        .into_iter()
        .map(|(n, text, _)| (n, text))
        .collect();
    for f in files_with_ext("deploy/prometheus", "yml") {
        sources.push((rel(&f), fs::read_to_string(&f).unwrap()));
    }
    sources.push((
        "deploy/kubernetes/base/prometheusrule.yaml".into(),
        read("deploy/kubernetes/base/prometheusrule.yaml"),
    ));
    assert!(
        sources.len() >= 5,
        "expected dashboards and rule files, got {sources:?}"
    );

    let mut problems = Vec::new();
    for (name, text) in &sources {
        let bad = unknown_metric_names(text, &records);
        if !bad.is_empty() {
            problems.push(format!("{name}: {bad:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "unknown metric names (not in the contract):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn metric_name_check_catches_typos() {
    let records = recording_rule_names();
    let bad = unknown_metric_names(
        r#"rate(smc_subscription_reconect_total[5m]) + smc_up + process_open_fd + engine:smc_conns:sum"#,
        &records,
    );
    assert_eq!(
        bad.into_iter().collect::<Vec<_>>(),
        vec![
            "engine:smc_conns:sum",
            "process_open_fd",
            "smc_subscription_reconect_total"
        ]
    );
    assert!(
        unknown_metric_names("use smc_* and process_* metrics; $labels.smc", &records).is_empty()
    );
    // SPS families, with a histogram's series but not a gauge's.
    let bad = unknown_metric_names(
        "sps_up + sps_poll_duration_seconds_bucket + sps_session_risk_score_sum + sps_upp + sps_up_count + sps_alert_total + sps_*",
        &records,
    );
    assert_eq!(
        bad.into_iter().collect::<Vec<_>>(),
        vec!["sps_alert_total", "sps_up_count", "sps_upp"]
    );
}

/// The `sps_` families of the contract are exactly docs/metrics.md's "SPS
/// families" table, with the same type (histograms in
/// `HISTOGRAM_FAMILIES`): the dashboards and rules read only real families.
#[test]
fn sps_families_are_the_documented_ones() {
    let doc = read("docs/metrics.md");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("SPS families\n"))
        .expect("docs/metrics.md has no `## SPS families` section");
    let documented: BTreeSet<(String, bool)> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` | "))
        .map(|(n, rest)| (n.to_string(), rest.starts_with("histogram")))
        .collect();
    let contract: BTreeSet<(String, bool)> = FAMILIES
        .iter()
        .filter(|f| f.starts_with("sps_"))
        .map(|f| (f.to_string(), HISTOGRAM_FAMILIES.contains(f)))
        .collect();
    assert_eq!(contract, documented, "FAMILIES (sps_) vs docs/metrics.md");
    assert_eq!(documented.len(), 28);
}

#[test]
fn dashboards_cover_every_family() {
    let text: String = dashboards().into_iter().map(|(_, t, _)| t).collect();
    let used: BTreeSet<&str> = tokens(&text)
        .into_iter()
        .filter_map(|(_, t)| family_of(t))
        .collect();
    let missing: Vec<&&str> = FAMILIES.iter().filter(|f| !used.contains(**f)).collect();
    assert!(
        missing.is_empty(),
        "families shown on no dashboard: {missing:?}"
    );
}

// ------------------------------------------------------------------- alerts

/// The alerting rules of alerts.yml: each alert's name and its trimmed lines.
fn alert_blocks() -> Vec<(String, Vec<String>)> {
    let alerts = read("deploy/prometheus/alerts.yml");
    // Split into rule blocks at each `- alert:` / `- record:`.
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    for l in alerts.lines() {
        let t = l.trim();
        if let Some(n) = t.strip_prefix("- alert:") {
            blocks.push((n.trim().to_string(), Vec::new()));
        } else if t.starts_with("- name:") || t.starts_with("- record:") {
            blocks.push((String::new(), Vec::new()));
        } else if let Some((_, b)) = blocks.last_mut() {
            b.push(t.to_string());
        }
    }
    blocks.into_iter().filter(|(n, _)| !n.is_empty()).collect()
}

#[test]
fn alerts_are_well_formed_and_tested() {
    let tests = read("deploy/prometheus/alerts_test.yml");
    let alerts = alert_blocks();
    assert!(
        alerts.len() >= 9,
        "expected at least 9 alerts, got {}",
        alerts.len()
    );

    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for (name, body) in &alerts {
        if !names.insert(name.clone()) {
            problems.push(format!("{name}: duplicate"));
        }
        // Sps… for the alerts on the SPS families (sps_*), Smc… for the rest.
        let prefix = if body
            .iter()
            .any(|l| !l.starts_with('#') && l.contains("sps_"))
        {
            "Sps"
        } else {
            "Smc"
        };
        if !name.starts_with(prefix) || name.len() > 40 || name.contains(['_', '-']) {
            problems.push(format!(
                "{name}: must be CamelCase, prefixed {prefix}, <= 40 chars"
            ));
        }
        if !body.iter().any(|l| {
            matches!(
                l.strip_prefix("severity:").map(str::trim),
                Some("critical" | "warning" | "info")
            )
        }) {
            problems.push(format!("{name}: no severity critical|warning|info"));
        }
        match body
            .iter()
            .find_map(|l| l.strip_prefix("summary:"))
            .map(str::trim)
        {
            Some(s) if !s.contains("{{") && s.ends_with('.') => {}
            other => problems.push(format!(
                "{name}: summary must be plain and end with '.', got {other:?}"
            )),
        }
        if !body.iter().any(|l| l.starts_with("description:"))
            || !body.iter().any(|l| l.contains("{{ $labels."))
        {
            problems.push(format!(
                "{name}: description must be templated with $labels"
            ));
        }
        if !tests.contains(&format!("alertname: {name}\n")) {
            problems.push(format!("{name}: no test in alerts_test.yml"));
        }
    }
    for must in [
        "SmcExporterDown",
        "SmcSessionDown",
        "SmcSubscriptionDown",
        "SmcSubscriptionStale",
        "SmcSubscriptionFlapping",
        "SmcLoginFailures",
        "SmcSeriesDropped",
        "SmcMessageErrors",
        "SmcCriticalAlertsActive",
    ] {
        if !names.contains(must) {
            problems.push(format!("{must}: missing"));
        }
    }
    assert!(
        problems.is_empty(),
        "alert rule problems:\n  {}",
        problems.join("\n  ")
    );
}

/// The base of every `runbook_url`: a placeholder (the `.example` domain
/// never resolves) that docs/runbooks.md tells the user to replace.
const RUNBOOK_BASE: &str = "https://smc-exporter.example/docs/runbooks.md#";

/// GitHub's anchor of a Markdown heading: lower case, spaces to `-`, other
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The `## ` sections of docs/runbooks.md: heading and body.
fn runbook_sections() -> Vec<(String, String)> {
    let text = read("docs/runbooks.md");
    let mut out: Vec<(String, String)> = Vec::new();
    for l in text.lines() {
        if let Some(h) = l.strip_prefix("## ") {
            out.push((h.trim().to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(l);
            body.push('\n');
        }
    }
    out
}

/// What a runbook section must say, in this order of reading.
const RUNBOOK_PARTS: [&str; 5] = [
    "**Means.**",
    "**Likely causes.**",
    "**Check.**",
    "**Do.**",
    "**Silent by design**",
];

#[test]
fn every_alert_has_a_runbook_and_every_runbook_an_alert() {
    let alerts = alert_blocks();
    let sections = runbook_sections();
    let anchors: BTreeSet<String> = sections.iter().map(|(h, _)| anchor(h)).collect();
    let names: BTreeSet<&str> = alerts.iter().map(|(n, _)| n.as_str()).collect();
    let mut problems = Vec::new();
    for (name, body) in &alerts {
        let want = format!("{RUNBOOK_BASE}{}", anchor(name));
        match body.iter().find_map(|l| l.strip_prefix("runbook_url:")) {
            None => problems.push(format!("{name}: no runbook_url")),
            Some(u) if u.trim() != want => {
                problems.push(format!("{name}: runbook_url {:?}, want {want:?}", u.trim()))
            }
            Some(_) => {}
        }
        if !anchors.contains(&anchor(name)) {
            problems.push(format!(
                "{name}: no section `## {name}` in docs/runbooks.md"
            ));
        }
    }
    for (heading, body) in &sections {
        if !names.contains(heading.as_str()) {
            problems.push(format!(
                "docs/runbooks.md: section `## {heading}` is no alert's (orphan)"
            ));
        }
        for part in RUNBOOK_PARTS {
            if !body.contains(part) {
                problems.push(format!("docs/runbooks.md `## {heading}`: lacks {part}"));
            }
        }
    }
    // Links between sections land on a section.
    let text = read("docs/runbooks.md");
    for (i, _) in text.match_indices("](#") {
        let link = &text[i + 3..];
        let target = &link[..link.find(')').unwrap_or(link.len())];
        if !anchors.contains(target) {
            problems.push(format!("docs/runbooks.md: link to missing #{target}"));
        }
    }
    assert!(
        problems.is_empty(),
        "runbook problems:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(anchor("SmcSessionDown"), "smcsessiondown");
    assert_eq!(anchor("Job selector (v2)"), "job-selector-v2");
}

/// docs/metrics.md's `## Alerts` section lists every alert, each linked to
/// its runbook, and nothing else.
#[test]
fn metrics_doc_lists_every_alert() {
    let doc = read("docs/metrics.md");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Alerts\n"))
        .expect("docs/metrics.md has no `## Alerts` section");
    let listed: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(n, _)| n.to_string())
        .collect();
    let names: BTreeSet<String> = alert_blocks().into_iter().map(|(n, _)| n).collect();
    assert_eq!(listed, names, "docs/metrics.md ## Alerts vs alerts.yml");
    for n in &names {
        let link = format!("[{n}](runbooks.md#{})", anchor(n));
        assert!(section.contains(&link), "docs/metrics.md: no {link}");
    }
}

/// deploy/prometheus/live-check.json names every alert once: empty in the
/// healthy demo (with a reason) or made to fire by it, and nothing else; the
/// live check (CI) then proves each entry against a real Prometheus.
#[test]
fn live_check_expectations_cover_every_alert() {
    let e: Value = serde_json::from_str(&read("deploy/prometheus/live-check.json")).unwrap();
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let names: BTreeSet<String> = alert_blocks().into_iter().map(|(n, _)| n).collect();
    let (empty, fires) = (keys(&e["healthy"]["empty"]), keys(&e["healthy"]["fires"]));
    assert!(
        empty.is_disjoint(&fires),
        "both empty and firing: {:?}",
        empty.intersection(&fires).collect::<Vec<_>>()
    );
    let covered: BTreeSet<String> = empty.union(&fires).cloned().collect();
    assert_eq!(
        covered, names,
        "live-check.json healthy.empty + healthy.fires vs alerts.yml"
    );
    for reason in e["healthy"]["empty"].as_object().unwrap().values() {
        assert!(
            reason.as_str().is_some_and(|r| r.len() > 10),
            "reason {reason}"
        );
    }
    assert!(keys(&e["healthy"]["firing"]).is_subset(&fires));
    for part in ["active", "firing", "stays_empty"] {
        let k = keys(&e["fault"][part]);
        assert!(!k.is_empty() && k.is_subset(&names), "fault.{part}: {k:?}");
    }
    assert!(keys(&e["fault"]["firing"]).is_subset(&keys(&e["fault"]["active"])));
    // dashboards.empty: "file: panel title" of a panel with a query, each
    // with its reason and a witness that the live check evaluates.
    let panels: BTreeSet<String> = dashboards()
        .into_iter()
        .flat_map(|(name, _, d)| {
            let file = name.rsplit('/').next().unwrap_or("").to_string();
            all_panels(&d)
                .into_iter()
                .filter(|p| p["targets"].as_array().is_some_and(|t| !t.is_empty()))
                .map(|p| format!("{file}: {}", p["title"].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
        })
        .collect();
    let empty = e["dashboards"]["empty"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (key, v) in &empty {
        assert!(
            panels.contains(key),
            "dashboards.empty: {key:?} is no panel"
        );
        assert!(
            v["reason"].as_str().is_some_and(|r| r.len() > 10),
            "dashboards.empty {key:?}: reason {}",
            v["reason"]
        );
        let witness = v["witness"].as_str().unwrap_or("");
        assert!(
            !selectors(witness).is_empty(),
            "dashboards.empty {key:?}: witness {witness:?}"
        );
    }
}

// ----------------------------------------------------------- (c) kubernetes

/// What the exporter's pod spec must carry (deploy/kubernetes/base/pod/pod.yaml,
/// patched into the Deployment and the sharded StatefulSet alike).
const POD_SETTINGS: [&str; 11] = [
    "runAsNonRoot: true",
    "readOnlyRootFilesystem: true",
    "allowPrivilegeEscalation: false",
    r#"drop: ["ALL"]"#,
    "type: RuntimeDefault",
    "path: /-/healthy",
    "path: /-/ready",
    "containerPort: 9791",
    "secretName: smc-exporter-api-key",
    "name: smc-exporter-config",
    "automountServiceAccountToken: false",
];

/// Non-comment lines, trimmed.
fn config_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn kubernetes_manifests_are_complete() {
    let kust = read("deploy/kubernetes/base/kustomization.yaml");
    let listed: BTreeSet<String> = config_lines(&kust)
        .into_iter()
        .filter_map(|l| l.strip_prefix("- "))
        .filter(|l| l.ends_with(".yaml"))
        .map(String::from)
        .collect();
    let mut problems = Vec::new();
    for f in files_with_ext("deploy/kubernetes/base", "yaml") {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let text = fs::read_to_string(&f).unwrap();
        if config_lines(&text).is_empty() {
            problems.push(format!("{name}: empty"));
        }
        if name == "kustomization.yaml" {
            continue;
        }
        if !text.lines().any(|l| l.starts_with("kind: "))
            || !text.lines().any(|l| l.starts_with("apiVersion: "))
        {
            problems.push(format!("{name}: no apiVersion/kind"));
        }
        match (name.as_str(), listed.contains(&name)) {
            ("secret.example.yaml", true) => {
                problems.push("secret.example.yaml must not be applied by kustomize".into())
            }
            ("secret.example.yaml", false) => {}
            (_, false) => problems.push(format!("{name}: not listed in kustomization.yaml")),
            _ => {}
        }
    }
    for l in &listed {
        if !root().join("deploy/kubernetes/base").join(l).is_file() {
            problems.push(format!("kustomization.yaml lists missing {l}"));
        }
    }
    for kind in [
        "Service",
        "ConfigMap",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "ServiceAccount",
    ] {
        let found = listed.iter().any(|f| {
            read(&format!("deploy/kubernetes/base/{f}")).contains(&format!("\nkind: {kind}\n"))
        });
        if !found {
            problems.push(format!("no {kind} in the kustomization"));
        }
    }

    let dep = read("deploy/kubernetes/base/pod/pod.yaml");
    let dep_lines = config_lines(&dep);
    for want in POD_SETTINGS {
        if !dep_lines.contains(&want) {
            problems.push(format!("base/pod/pod.yaml: missing `{want}`"));
        }
    }
    if !dep.contains("\"--config.check\"") || !dep.contains("limits:") || !dep.contains("requests:")
    {
        problems.push(
            "base/pod/pod.yaml: needs the --config.check init container and resources".into(),
        );
    }
    let np = config_lines(&read("deploy/kubernetes/base/networkpolicy.yaml")).join("\n");
    for want in [
        "port: 8082",
        "port: 53",
        "port: 9791",
        r#"policyTypes: ["Ingress", "Egress"]"#,
    ] {
        if !np.contains(want) {
            problems.push(format!("networkpolicy.yaml: missing `{want}`"));
        }
    }
    if !read("deploy/kubernetes/secret.example.yaml").contains("REPLACE-ME") {
        problems.push("secret.example.yaml: placeholder must be marked REPLACE-ME".into());
    }
    assert!(
        problems.is_empty(),
        "kubernetes problems:\n  {}",
        problems.join("\n  ")
    );
}

/// The rule groups of a Prometheus rules file: the lines after `groups:`.
fn groups_body(text: &str, indent: usize) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| l.trim() != "groups:");
    lines.next();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.get(indent.min(l.len() - l.trim_start().len())..)
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[test]
fn prometheusrule_embeds_the_rule_files() {
    let mut want = groups_body(&read("deploy/prometheus/alerts.yml"), 0);
    want.extend(groups_body(&read("deploy/prometheus/recording.yml"), 0));
    let got = groups_body(&read("deploy/kubernetes/base/prometheusrule.yaml"), 2);
    assert!(!want.is_empty());
    if want != got {
        let first = want
            .iter()
            .zip(&got)
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(got.len()));
        panic!(
            "deploy/kubernetes/base/prometheusrule.yaml is out of sync with deploy/prometheus/*.yml \
             (first difference at rule line {first}: want {:?}, got {:?}); \
             run deploy/kubernetes/generate-prometheusrule.sh",
            want.get(first),
            got.get(first)
        );
    }
}

// -------------------------------------------------------------- (c) systemd

#[test]
fn systemd_unit_is_hardened() {
    let unit = read("deploy/systemd/smc-exporter.service");
    let lines = config_lines(&unit);
    let mut missing = Vec::new();
    for want in [
        "[Unit]",
        "[Service]",
        "[Install]",
        "DynamicUser=yes",
        "LoadCredential=smc-api-key:/etc/smc-exporter/api-key",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "SystemCallArchitectures=native",
        "MemoryDenyWriteExecute=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictNamespaces=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "ExecStartPre=/usr/local/bin/smc-exporter --config.check -c /etc/smc-exporter/config.toml",
        "ExecStart=/usr/local/bin/smc-exporter -c /etc/smc-exporter/config.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        if !lines.contains(&want) {
            missing.push(want);
        }
    }
    assert!(
        missing.is_empty(),
        "smc-exporter.service lacks (uncommented): {missing:?}"
    );
    assert!(
        unit.contains("/run/credentials/smc-exporter.service/smc-api-key"),
        "the unit must document the credential path for api_key_file"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("User=")),
        "use DynamicUser=, not a fixed User="
    );
}

#[test]
fn the_sharded_statefulset_matches_its_shard_count_and_the_deployment() {
    let kust = config_lines(&read(
        "deploy/kubernetes/overlays/sharded/kustomization.yaml",
    ))
    .join("\n");
    for want in ["- ../../base", "- statefulset.yaml", "- ../../base/pod"] {
        assert!(kust.contains(want), "kustomization.yaml: missing `{want}`");
    }
    let sts = read("deploy/kubernetes/overlays/sharded/statefulset.yaml");
    let lines = config_lines(&sts);
    assert!(sts.contains("\nkind: StatefulSet\n"));
    for want in [
        "- name: POD_NAME",
        "fieldPath: metadata.name",
        "serviceName: smc-exporter",
    ] {
        assert!(lines.contains(&want), "statefulset.yaml: missing `{want}`");
    }
    let replicas = lines
        .iter()
        .find_map(|l| l.strip_prefix("replicas:"))
        .and_then(|r| r.split('#').next())
        .map(|r| r.trim().to_string())
        .expect("replicas");
    assert!(
        sts.contains(&format!("\"--total-shards\", \"{replicas}\"")),
        "--total-shards must equal replicas ({replicas})"
    );
}
