//! Captures the git revision and the rustc version for `smc_exporter_build_info`.
//!
//! Never fails the build: anything that cannot be determined is "unknown".
//! Packagers building from a tarball can set `SMC_EXPORTER_REVISION`.

use std::path::Path;
use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Keep label values tame: printable ASCII only, bounded length.
fn clean(s: Option<String>) -> String {
    match s {
        Some(s) if !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_graphic()) => s,
        _ => "unknown".to_owned(),
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SMC_EXPORTER_REVISION");

    let revision = std::env::var("SMC_EXPORTER_REVISION")
        .ok()
        .or_else(|| run("git", &["rev-parse", "--short", "HEAD"]));
    // Rebuild when HEAD moves (works for worktrees: ask git where HEAD lives).
    let branch_ref = run("git", &["symbolic-ref", "-q", "HEAD"]);
    for arg in std::iter::once("HEAD").chain(branch_ref.as_deref()) {
        if let Some(p) = run("git", &["rev-parse", "--git-path", arg]) {
            if Path::new(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    // `rustc 1.95.0 (59807616e 2026-04-14)` → `1.95.0`
    let rustc_version =
        run(&rustc, &["--version"]).and_then(|v| v.split_whitespace().nth(1).map(str::to_owned));

    println!("cargo:rustc-env=SMC_EXPORTER_REVISION={}", clean(revision));
    println!(
        "cargo:rustc-env=SMC_EXPORTER_RUSTC_VERSION={}",
        clean(rustc_version)
    );
}
