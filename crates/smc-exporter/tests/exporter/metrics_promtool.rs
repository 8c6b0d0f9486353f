//! `promtool check metrics` on the text exposition.
//!
//! Runs when `promtool` is on PATH. Without it the test prints a note and
//! passes, unless `SMC_EXPORTER_REQUIRE_PROMTOOL=1` (set in CI, which installs
//! Debian's `prometheus` package), where a missing promtool is a failure.

use std::io::Write;
use std::process::{Command, Stdio};

use smc_exporter::metrics::{Format, render, render_with};

fn promtool_check(exposition: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let required = std::env::var("SMC_EXPORTER_REQUIRE_PROMTOOL").as_deref() == Ok("1");
            assert!(
                !required,
                "promtool is not on PATH but SMC_EXPORTER_REQUIRE_PROMTOOL=1"
            );
            eprintln!("note: promtool not on PATH; skipping `promtool check metrics`");
            return None;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), report))
}

#[test]
fn promtool_finds_no_problems() {
    let store = crate::fixture::store();
    let renders = [
        (
            "fixture",
            render_with(&store, Format::Text, &crate::fixture::GOLDEN),
        ),
        ("fixture + process", render(&store, Format::Text)),
        ("empty store", render(&Default::default(), Format::Text)),
        (
            "engine families",
            render_with(
                &crate::fixture::engine_store(),
                Format::Text,
                &crate::fixture::GOLDEN,
            ),
        ),
    ];
    for (what, text) in renders {
        let Some((ok, report)) = promtool_check(&text) else {
            return;
        };
        assert!(
            ok && report.trim().is_empty(),
            "{what}: promtool reported:\n{report}"
        );
    }
}
