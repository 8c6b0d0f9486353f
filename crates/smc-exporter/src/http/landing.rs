//! The landing page: what this is, where the endpoints are, and what is
//! wrong: per SMC its session, API version and last error; per subscription
//! its state, entries, last message age, reconnects and the last problem in
//! words, the broken ones first. Every dynamic value is HTML-escaped (SMC
//! texts and engine names are outside input); the store holds no secrets, so
//! nothing secret can appear here. No script, no external resource.

use std::fmt::Write as _;

use crate::metrics::BUILD;
use crate::smc::events::now_ms;
use crate::state::{SmcState, Store, SubscriptionState};

const STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}\
tr.down td.state{background:#f8d7da;color:#721c24;font-weight:bold}\
tr.pending td.state{background:#fff3cd;color:#856404}\
tr.up td.state{background:#d4edda;color:#155724}td.detail{max-width:40em}";

/// The page; `telemetry`: where the metrics are (`--web.telemetry-path`).
pub(super) fn page(store: &Store, telemetry: &str) -> String {
    let mut s = String::with_capacity(4096 + 400 * store.subscriptions.len());
    header(&mut s, telemetry);
    smcs(&mut s, &store.smcs);
    subscriptions(&mut s, &store.subscriptions, now_ms());
    streams(&mut s, store);
    s.push_str("</body>\n</html>\n");
    s
}

fn header(s: &mut String, telemetry: &str) {
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>smc-exporter</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>smc-exporter</h1>\n\
         <p>Prometheus exporter for Forcepoint NGFW Security Management Center session monitoring. \
         Version {} (revision {}).</p>\n",
        escape(BUILD.version),
        escape(BUILD.revision)
    );
    let t = escape(telemetry);
    let _ = write!(s, "<ul>\n<li><a href=\"{t}\">{t}</a></li>\n");
    s.push_str(
        "\
         <li><a href=\"/-/healthy\">/-/healthy</a> and <a href=\"/-/ready\">/-/ready</a></li>\n\
         <li>Docs: <code>docs/metrics.md</code> (every metric), <code>docs/runbooks.md</code> \
         (every alert: what it means, how to check, what to do; <code>/usr/share/doc/smc-exporter/</code> \
         in the Debian package), dashboards in <code>grafana/</code> of the distribution</li>\n</ul>\n",
    );
}

fn smcs(s: &mut String, smcs: &[std::sync::Arc<SmcState>]) {
    s.push_str("<h2>SMCs</h2>\n");
    if smcs.is_empty() {
        s.push_str("<p>No SMC configured.</p>\n");
        return;
    }
    s.push_str(
        "<table id=\"smcs\">\n<tr><th>state</th><th>smc</th><th>API version</th>\
         <th>logins</th><th>login failures</th><th>last error</th></tr>\n",
    );
    for smc in smcs {
        let (class, state) = if smc.up() {
            ("up", "up")
        } else {
            ("down", "down")
        };
        let version = smc
            .api_version()
            .map_or_else(|| "—".to_string(), |v| escape(&v));
        let error = smc.last_error().map_or_else(String::new, |e| escape(&e));
        let _ = writeln!(
            s,
            "<tr class=\"{class}\"><td class=\"state\">{state}</td><td>{}</td><td>{version}</td>\
             <td>{}</td><td>{}</td><td class=\"detail\">{error}</td></tr>",
            escape(&smc.name),
            smc.logins(),
            smc.login_failures(),
        );
    }
    s.push_str("</table>\n");
}

/// `(class, words)` of a subscription's state; the class orders the table.
fn state_of(sub: &SubscriptionState) -> (&'static str, &'static str) {
    match (sub.health.up(), sub.health.last_problem().is_some()) {
        (true, _) => ("up", "up"),
        (false, true) => ("down", "down"),
        (false, false) => ("pending", "waiting for its snapshot"),
    }
}

fn rank(class: &str) -> u8 {
    match class {
        "down" => 0,
        "pending" => 1,
        _ => 2,
    }
}

fn subscriptions(s: &mut String, subs: &[std::sync::Arc<SubscriptionState>], now: u64) {
    s.push_str("<h2>Subscriptions</h2>\n");
    if subs.is_empty() {
        s.push_str("<p>No subscriptions configured.</p>\n");
        return;
    }
    let mut rows: Vec<(&'static str, &'static str, &SubscriptionState)> = subs
        .iter()
        .map(|sub| {
            let (class, words) = state_of(sub);
            (class, words, &**sub)
        })
        .collect();
    rows.sort_by(|a, b| {
        (rank(a.0), &a.2.smc, &a.2.target, a.2.definition.label()).cmp(&(
            rank(b.0),
            &b.2.smc,
            &b.2.target,
            b.2.definition.label(),
        ))
    });
    s.push_str(
        "<table id=\"subscriptions\">\n<tr><th>state</th><th>smc</th><th>target</th><th>definition</th>\
         <th>entries</th><th>last message</th><th>reconnects</th><th>last problem</th></tr>\n",
    );
    for (class, words, sub) in rows {
        subscription_row(s, class, words, sub, now);
    }
    s.push_str("</table>\n");
}

fn subscription_row(s: &mut String, class: &str, words: &str, sub: &SubscriptionState, now: u64) {
    let last = match sub.health.last_message_ms() {
        0 => "never".to_string(),
        t => format!("{} ago", age(now, t)),
    };
    let problem = sub.health.last_problem().map_or_else(String::new, |p| {
        format!(
            "{} ({} ago): {}",
            p.reason.label(),
            age(now, p.at_ms),
            escape(&p.detail)
        )
    });
    let _ = writeln!(
        s,
        "<tr class=\"{class}\"><td class=\"state\">{words}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{last}</td><td>{}</td><td class=\"detail\">{problem}</td></tr>",
        escape(&sub.smc),
        escape(&sub.target),
        escape(sub.definition.label()),
        sub.published().entries,
        sub.health.reconnects_total(),
    );
}

/// The SMC-wide sockets: notification sockets and log streams, each with
/// its state, what it counted, its reconnects and (log streams) the time it
/// missed. Nothing when none is configured.
fn streams(s: &mut String, store: &Store) {
    if store.notifications.is_empty() && store.log_streams.is_empty() {
        return;
    }
    s.push_str(
        "<h2>Streams</h2>\n<table id=\"streams\">\n<tr><th>state</th><th>smc</th><th>stream</th>\
         <th>counted</th><th>reconnects</th><th>missed (down)</th></tr>\n",
    );
    let state = |up: bool| if up { ("up", "up") } else { ("down", "down") };
    for n in &store.notifications {
        let counted: u64 = n.changes().iter().map(|(_, _, c)| c).sum();
        let reconnects: u64 = n.reconnects().map(|(_, c)| c).sum();
        let (class, words) = state(n.up());
        let _ = writeln!(
            s,
            "<tr class=\"{class}\"><td class=\"state\">{words}</td><td>{}</td>\
             <td>notifications</td><td>{counted} element changes</td><td>{reconnects}</td><td>—</td></tr>",
            escape(&n.smc)
        );
    }
    let now = tokio::time::Instant::now();
    for l in &store.log_streams {
        let counted: u64 = l.groups().iter().map(|(_, c)| c.records).sum();
        let reconnects: u64 = l.reconnects().map(|(_, c)| c).sum();
        let (class, words) = state(l.up());
        let _ = writeln!(
            s,
            "<tr class=\"{class}\"><td class=\"state\">{words}</td><td>{}</td>\
             <td>log stream {}</td><td>{counted} records</td><td>{reconnects}</td><td>{:.1}s</td></tr>",
            escape(&l.smc),
            escape(&l.stream),
            l.gap_seconds(now)
        );
    }
    s.push_str("</table>\n");
}

/// `now - then` in words: "4s", "3m 20s", "2h 5m", "3d 4h".
fn age(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then) / 1000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Escape text for HTML element content and quoted attribute values.
pub(super) fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use crate::state::{Problem, ReconnectReason};
    use smc_protocol::Definition;

    fn sub(target: &str, up: bool, problem: Option<&str>) -> Arc<SubscriptionState> {
        let st = SubscriptionState::new(
            Arc::from("hq"),
            Arc::from(target),
            Definition::Connections,
            Arc::from(Vec::new()),
        );
        st.health.set_up(up);
        if let Some(p) = problem {
            st.health
                .set_last_problem(Problem::new(ReconnectReason::Failure, p, now_ms()));
        }
        Arc::new(st)
    }

    #[test]
    fn broken_subscriptions_come_first_with_their_reason_escaped() {
        let store = Store {
            smcs: vec![Arc::new(SmcState::new(Arc::from("hq<b>")))],
            subscriptions: vec![
                sub("a-fw", true, None),
                sub("b-fw", false, None),
                sub(
                    "<img src=x onerror=alert(1)>",
                    false,
                    Some("Unknown target '<img src=x onerror=alert(1)>'"),
                ),
            ],
            budgets: Vec::new(),
            runtime: None,
            ..Store::default()
        };
        let page = page(&store, "/metrics");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        let rows: Vec<&str> = page
            .lines()
            .filter(|l| l.starts_with("<tr class="))
            .collect();
        assert_eq!(rows.len(), 4, "{page}");
        assert!(rows[0].contains("hq&lt;b&gt;") && rows[0].starts_with("<tr class=\"down\">"));
        assert!(rows[1].starts_with("<tr class=\"down\"><td class=\"state\">down</td><td>hq</td><td>&lt;img src=x onerror=alert(1)&gt;</td>"), "{}", rows[1]);
        assert!(
            rows[1].contains(
                "failure (0s ago): Unknown target &#39;&lt;img src=x onerror=alert(1)&gt;&#39;"
            ),
            "{}",
            rows[1]
        );
        assert!(rows[2].starts_with("<tr class=\"pending\"><td class=\"state\">waiting for its snapshot</td><td>hq</td><td>b-fw</td>"), "{}", rows[2]);
        assert!(
            rows[3].starts_with(
                "<tr class=\"up\"><td class=\"state\">up</td><td>hq</td><td>a-fw</td>"
            ),
            "{}",
            rows[3]
        );
    }

    #[test]
    fn ages_and_long_details_read_well() {
        assert_eq!(age(10_000, 6_000), "4s");
        assert_eq!(age(200_000, 0), "3m 20s");
        assert_eq!(age(7_500_000, 0), "2h 5m");
        assert_eq!(age(273_600_000, 0), "3d 4h");
        assert_eq!(age(0, 5_000), "0s");
        let long = "é".repeat(400);
        let p = Problem::new(ReconnectReason::Failure, &long, 0);
        assert_eq!(p.detail.len(), crate::state::MAX_PROBLEM_DETAIL + "…".len());
        assert!(p.detail.ends_with('…'));
    }

    #[test]
    fn streams_are_listed_with_their_counts() {
        use crate::state::notify::NotifyState;
        let n = NotifyState::new(Arc::from("hq"), &["host".into()]);
        n.count(Some("host"), "create");
        n.set_up(true);
        let store = Store {
            notifications: vec![Arc::new(n)],
            ..Store::default()
        };
        let page = page(&store, "/metrics");
        assert!(
            page.contains("<tr class=\"up\"><td class=\"state\">up</td><td>hq</td><td>notifications</td><td>1 element changes</td><td>0</td><td>—</td></tr>"),
            "{page}"
        );
        assert!(!super::page(&Store::default(), "/metrics").contains("Streams"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;"
        );
    }
}
