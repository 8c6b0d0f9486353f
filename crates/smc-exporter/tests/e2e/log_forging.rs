//! Log forging (issue 8, item 8): the texts an SMC sends (a `failure`
//! reply, an `end` reason, a WebSocket close reason) hold a newline followed
//! by a fake log line, an ANSI colour and a right-to-left override. The real
//! binary logs each as one line, with the escapes visible, in text logs; in
//! JSON and logfmt logs the same characters are escaped and the text reads
//! back intact.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smc_lab::Proc;
use smc_lab::hostile::{Answer, Fake, WsStep, smc_rest};

const FORGED_LINE: &str = "2026-12-01T00:00:00Z ERROR forged";

/// `(raw text the SMC sends, how a text log must show it)`.
fn forged(what: &str) -> (String, String) {
    let raw = format!("{what}\n{FORGED_LINE} \x1b[31m{what}\x1b[0m \u{202e}gpj.exe");
    let shown = format!(r"{what}\n{FORGED_LINE} \x1b[31m{what}\x1b[0m \u{{202e}}gpj.exe");
    (raw, shown)
}

/// A fake SMC whose session socket answers the query with a forged
/// `failure`, then (next connection) a forged `end`, then closes with a
/// forged reason, then stays quiet.
async fn forging_smc() -> Fake {
    let upgrades = Arc::new(AtomicUsize::new(0));
    Fake::start(move |req| {
        if req.line() == "GET /7.1/monitoring/session/socket" {
            let steps = match upgrades.fetch_add(1, Ordering::SeqCst) {
                0 => vec![
                    WsStep::ReadText,
                    WsStep::Text(serde_json::json!({"failure": forged("failure").0}).to_string()),
                ],
                1 => vec![
                    WsStep::ReadText,
                    WsStep::Text(
                        serde_json::json!({"fetch": 7, "end": forged("end").0}).to_string(),
                    ),
                ],
                2 => vec![WsStep::ReadText, WsStep::Close(1011, forged("close").0)],
                _ => vec![WsStep::ReadText],
            };
            return Answer::WebSocket(steps);
        }
        smc_rest(req, "").unwrap_or_else(Answer::not_found)
    })
    .await
}

async fn run_exporter(format: &str) -> String {
    let smc = forging_smc().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "ForgingTestKey-0123456789").unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[subscription]
backoff_initial = "10ms"
backoff_max = "50ms"

[[smc]]
name = "hostile"
url = "{}"
api_key_file = "key"
engines = ["fw"]
definitions = ["CONNECTIONS"]
"#,
            smc.url
        ),
    )
    .unwrap();
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            format,
        ],
        &[],
    );
    // Three interruptions (failure, end, close), each logged at warn.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while p.stderr().matches("subscription interrupted").count() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three interruptions not logged in 20 s; stderr:\n{}",
            p.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.sigterm();
    assert!(p.wait_exit(Duration::from_secs(5)).await.is_some());
    p.output().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smc_texts_cannot_forge_text_log_lines() {
    let stderr = run_exporter("text").await;
    let forged_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with(FORGED_LINE))
        .collect();
    assert_eq!(
        forged_lines,
        Vec::<&str>::new(),
        "forged lines in:\n{stderr}"
    );
    // Every line is an event: timestamp, level, target.
    for line in stderr.lines() {
        let mut words = line.split_whitespace();
        let (ts, level) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        assert!(
            ts.len() > 20 && ts.ends_with('Z') && ts.starts_with("20"),
            "not an event line: {line:?}"
        );
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "not an event line: {line:?}"
        );
    }
    assert!(
        !stderr.contains(['\x1b', '\u{202e}']),
        "raw ESC or RLO in:\n{stderr}"
    );
    for what in ["failure", "end", "close"] {
        let shown = forged(what).1;
        assert_eq!(
            stderr
                .lines()
                .filter(|l| l.contains("subscription interrupted") && l.contains(&shown))
                .count(),
            1,
            "{what}: want one warn line showing {shown:?} in:\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_escape_the_same_texts_and_keep_them() {
    let stderr = run_exporter("json").await;
    assert!(
        !stderr.contains(['\x1b', '\u{202e}']),
        "raw ESC or RLO in:\n{stderr}"
    );
    let details: Vec<String> = stderr
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}"))
        })
        .filter(|v| v["msg"] == "subscription interrupted; reconnecting")
        .map(|v| v["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        details,
        [
            forged("failure").0,
            format!("server ended the fetch: {}", forged("end").0),
            format!("closed by server: 1011 {}", forged("close").0),
        ]
    );
}

/// A strict logfmt reader for the test: `key=value` pairs separated by one
/// space, values bare or quoted with `\"`, `\\`, `\n`, `\r`, `\t` and
/// `\uXXXX` escapes. Panics on anything else.
fn parse_logfmt(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .unwrap_or_else(|| panic!("no '=' in {rest:?}"));
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad key {key:?} in {line:?}"
        );
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let end = loop {
                    let (i, c) = chars
                        .next()
                        .unwrap_or_else(|| panic!("unclosed quote: {line:?}"));
                    match c {
                        '"' => break i + 1,
                        '\\' => match chars.next().unwrap().1 {
                            '"' => value.push('"'),
                            '\\' => value.push('\\'),
                            'n' => value.push('\n'),
                            'r' => value.push('\r'),
                            't' => value.push('\t'),
                            'u' => {
                                let hex: String = (0..4).map(|_| chars.next().unwrap().1).collect();
                                let code = u32::from_str_radix(&hex, 16).unwrap();
                                value.push(char::from_u32(code).unwrap());
                            }
                            other => panic!("bad escape \\{other} in {line:?}"),
                        },
                        c => value.push(c),
                    }
                };
                (value, &quoted[end..])
            }
            None => {
                let end = after.find(' ').unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            }
        };
        pairs.push((key.to_string(), value));
        rest = after.strip_prefix(' ').unwrap_or(after);
        assert!(
            after.is_empty() || after.starts_with(' '),
            "junk after a value in {line:?}"
        );
    }
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logfmt_lines_quote_and_escape_the_same_texts_and_keep_them() {
    let stderr = run_exporter("logfmt").await;
    assert!(
        !stderr.contains(['\x1b', '\u{202e}']),
        "raw ESC or RLO in:\n{stderr}"
    );
    let mut details = Vec::new();
    for line in stderr.lines() {
        let pairs = parse_logfmt(line);
        let keys: Vec<&str> = pairs.iter().take(4).map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ts", "level", "module", "msg"], "{line:?}");
        // One value per key: an event's own `target` (a subscription's)
        // does not collide with the fixed keys.
        let mut unique: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), pairs.len(), "{line:?}");
        assert!(
            ["trace", "debug", "info", "warn", "error"].contains(&pairs[1].1.as_str()),
            "{line:?}"
        );
        if pairs[3].1 == "subscription interrupted; reconnecting" {
            let detail = pairs.iter().find(|(k, _)| k == "detail").unwrap();
            details.push(detail.1.clone());
            let module = &pairs[2].1;
            assert_eq!(module, "smc_exporter::smc::events", "{line:?}");
            assert!(pairs.iter().any(|(k, _)| k == "target"), "{line:?}");
        }
    }
    assert_eq!(
        details,
        [
            forged("failure").0,
            format!("server ended the fetch: {}", forged("end").0),
            format!("closed by server: 1011 {}", forged("close").0),
        ]
    );
}
