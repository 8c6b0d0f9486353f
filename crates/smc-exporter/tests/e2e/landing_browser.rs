//! The landing page in a real browser (issue 12, item 5): the real binary
//! monitors one real engine and one whose name is markup; headless Chromium
//! loads `/`, and the DOM it built shows the broken subscription first, with
//! the SMC's reason in words, the name as text (no element was injected),
//! and the healthy one after it; a screenshot goes to
//! `target/tmp/landing-page.png` (cargo's `CARGO_TARGET_TMPDIR`).
//!
//! Runs when `chromium` is on PATH. Without it the test prints a note and
//! passes, unless `SMC_EXPORTER_REQUIRE_CHROMIUM=1` (set in CI, which
//! installs Debian's `chromium`), where a missing browser is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use smc_lab::*;
use smc_sim::SimOptions;

const HOSTILE: &str = "<img src=x onerror=alert(1)>fw";

/// Longest a chromium run may take before it is killed.
const CHROMIUM_WITHIN: Duration = Duration::from_secs(60);

/// `chromium --headless` with `args` on `url`, bounded by
/// [`CHROMIUM_WITHIN`]; `None` when not installed.
fn chromium(args: &[&str], url: &str) -> Option<std::process::Output> {
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
    ];
    let spawned = Command::new("chromium")
        .args(base)
        .args(args)
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    match spawned {
        Ok(child) => {
            // Read its output on a thread (a full pipe must not stall it),
            // and kill it if it takes too long.
            let pid = child.id().to_string();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(child.wait_with_output());
            });
            match rx.recv_timeout(CHROMIUM_WITHIN) {
                Ok(out) => Some(out.unwrap()),
                Err(_) => {
                    let _ = Command::new("kill").args(["-9", &pid]).status();
                    panic!("chromium did not finish within {CHROMIUM_WITHIN:?}");
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let required = std::env::var("SMC_EXPORTER_REQUIRE_CHROMIUM").as_deref() == Ok("1");
            assert!(
                !required,
                "chromium is not on PATH but SMC_EXPORTER_REQUIRE_CHROMIUM=1"
            );
            eprintln!("note: chromium not on PATH; skipping the browser test");
            None
        }
        Err(e) => panic!("cannot run chromium: {e}"),
    }
}

/// In cargo's scratch directory for integration tests (inside the target
/// directory, wherever `CARGO_TARGET_DIR` puts it; it exists).
fn screenshot_path() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).unwrap();
    dir.join("landing-page.png")
}

/// The rows of the table `id` in a dumped DOM, each row's HTML.
fn rows<'a>(dom: &'a str, id: &str) -> Vec<&'a str> {
    let start = dom
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id} in {dom}"));
    let table = &dom[start..];
    let table = &table[..table.find("</table>").unwrap()];
    table.split("<tr").skip(2).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_shows_the_broken_subscription_first_and_injects_nothing() {
    let sim = start_sim(SimOptions {
        seed: 14,
        ..SimOptions::default()
    })
    .await;
    let w = sim.world_info();
    let (_dir, cfg) = crate::config_dir(
        &sim,
        &format!(
            "[subscription]\nbackoff_initial = \"50ms\"\nbackoff_max = \"200ms\"\nsnapshot_settle = \"300ms\"\n\n[[smc]]\nname = \"hq\"\nurl = \"{}\"\napi_key_file = \"key\"\nengines = [{:?}, {HOSTILE:?}]\ndefinitions = [\"CONNECTIONS\"]\n",
            sim.url(),
            w.engines[0]
        ),
    );
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        &[],
    );
    let addr = p.metrics_addr().await;
    // Ready: the real engine's snapshot is in and the hostile one was refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, page) = http_get(&format!("http://{addr}/")).await;
        if page.contains("Unknown target")
            && page.contains("<tr class=\"up\"><td class=\"state\">up</td><td>hq</td>")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "landing page never showed both: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("http://{addr}/");
    let Some(out) = chromium(&["--dump-dom"], &url) else {
        p.sigterm();
        sim.shutdown().await;
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    // Nothing was injected: the only elements are the page's own.
    assert!(!dom.contains("<img"), "{dom}");
    assert!(!dom.contains("onerror=\""), "{dom}");
    let subs = rows(&dom, "subscriptions");
    assert_eq!(subs.len(), 2, "{dom}");
    assert!(subs[0].starts_with(" class=\"down\"><td class=\"state\">down</td><td>hq</td><td>&lt;img src=x onerror=alert(1)&gt;fw</td>"), "{}", subs[0]);
    assert!(subs[0].contains("failure ("), "{}", subs[0]);
    assert!(
        subs[0].contains("Unknown target '&lt;img src=x onerror=alert(1)&gt;fw'"),
        "{}",
        subs[0]
    );
    assert!(
        subs[1].starts_with(&format!(
            " class=\"up\"><td class=\"state\">up</td><td>hq</td><td>{}</td>",
            w.engines[0]
        )),
        "{}",
        subs[1]
    );
    let smcs = rows(&dom, "smcs");
    assert_eq!(smcs.len(), 1, "{dom}");
    assert!(
        smcs[0].starts_with(" class=\"up\"><td class=\"state\">up</td><td>hq</td><td>7.1</td>"),
        "{}",
        smcs[0]
    );

    let shot = screenshot_path();
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let out = chromium(&[&arg, "--window-size=1280,720"], &url).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{} bytes",
        png.len()
    );

    p.sigterm();
    assert!(p.wait_exit(Duration::from_secs(5)).await.unwrap().success());
    sim.shutdown().await;
}
