//! Golden renders of a hand-built store, in both formats, and the proof that
//! the two formats carry the same samples.
//!
//! Regenerate after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p smc-exporter --test exporter metrics_golden` and review the diff.

use smc_exporter::labels::StateFamily;
use std::path::PathBuf;

use smc_exporter::metrics::{Format, RenderOptions, render, render_with};
use smc_exporter::state::Store;
use smc_protocol::Definition;

use crate::fixture::GOLDEN;

fn check_golden(file: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/exporter/golden")
        .join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    if expected != actual {
        for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
            assert_eq!(e, a, "{file}: first difference at line {}", i + 1);
        }
        assert_eq!(expected, actual, "{file}: lengths differ");
    }
}

#[test]
fn golden_openmetrics() {
    let store = crate::fixture::store();
    check_golden(
        "openmetrics.txt",
        &render_with(&store, Format::OpenMetrics, &GOLDEN),
    );
}

#[test]
fn golden_text() {
    let store = crate::fixture::store();
    check_golden("text.txt", &render_with(&store, Format::Text, &GOLDEN));
}

/// Derive the text 0.0.4 exposition from the OpenMetrics one by the only
/// rules that separate them: counters' HELP/TYPE names gain `_total`, `# UNIT`
/// and `# EOF` go. The result must equal the text render byte for byte.
fn om_to_text(om: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for l in om.lines() {
        if let Some(name) = l
            .strip_prefix("# TYPE ")
            .and_then(|r| r.strip_suffix(" counter"))
        {
            counters.insert(name.to_owned());
        }
    }
    let mut out = String::new();
    for l in om.lines() {
        if l.starts_with("# UNIT ") || l == "# EOF" {
            continue;
        }
        let header = ["# HELP ", "# TYPE "]
            .into_iter()
            .find(|p| l.starts_with(p));
        match header {
            Some(p) => {
                let rest = &l[p.len()..];
                let (name, tail) = rest.split_once(' ').unwrap();
                let name = if counters.contains(name) {
                    format!("{name}_total")
                } else {
                    name.to_owned()
                };
                out.push_str(&format!("{p}{name} {tail}\n"));
            }
            None => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

fn assert_formats_consistent(store: &Store, opts: &RenderOptions) {
    let om = render_with(store, Format::OpenMetrics, opts);
    let text = render_with(store, Format::Text, opts);
    assert!(om.ends_with("\n# EOF\n"));
    assert!(!text.contains("# EOF"));
    assert_eq!(om_to_text(&om), text);
    let samples = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(samples(&om), samples(&text));
}

#[test]
fn formats_carry_the_same_samples() {
    assert_formats_consistent(&crate::fixture::store(), &GOLDEN);
    // Including the process_* families.
    assert_formats_consistent(&crate::fixture::store(), &crate::fixture::WITH_PROCESS);
    assert_formats_consistent(&Store::default(), &GOLDEN);
}

#[test]
fn every_state_family_is_declared_even_when_empty() {
    for f in [Format::OpenMetrics, Format::Text] {
        let out = render_with(&Store::default(), f, &GOLDEN);
        for d in Definition::ALL {
            assert!(out.contains(&format!("# HELP {} {}\n", d.family(), d.family_help())));
            assert!(out.contains(&format!("# TYPE {} gauge\n", d.family())));
        }
    }
}

#[test]
fn render_is_deterministic() {
    let store = crate::fixture::store();
    assert_eq!(
        render_with(&store, Format::Text, &GOLDEN),
        render_with(&store, Format::Text, &GOLDEN)
    );
}

#[test]
fn default_render_has_process_and_real_build_info() {
    let store = Store::default();
    let out = render(&store, Format::Text);
    let build = smc_exporter::metrics::BUILD;
    assert!(out.contains(&format!(
        "smc_exporter_build_info{{version=\"{}\",revision=\"{}\",rustc_version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        build.revision,
        build.rustc_version
    )));
    #[cfg(target_os = "linux")]
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(out.contains(&format!("\n{name} ")), "{name} missing");
    }
    let om = render(&store, Format::OpenMetrics);
    assert!(
        om.contains("# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n")
    );
}

/// A deleted group leaves the exposition on the next scrape.
#[test]
fn deletes_delete() {
    let store = crate::fixture::store();
    let conns = &store.subscriptions[0];
    assert!(render_with(&store, Format::Text, &GOLDEN).contains("node=\"fw-1 node 2\""));
    let mut p = (*conns.published()).clone();
    p.groups.retain(|(v, _)| &*v[0] != "fw-1 node 2");
    conns.publish(p);
    assert!(!render_with(&store, Format::Text, &GOLDEN).contains("node=\"fw-1 node 2\""));
}
