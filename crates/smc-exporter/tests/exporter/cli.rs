//! The binary's command line: `--config.check` exit codes and messages.
//! (`demo` moved to `smc-lab demo`: its test is in smc-lab's tests.)

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_smc-exporter");

fn check(toml: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let out = Command::new(BIN)
        .args(["--config.check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_accepts_a_valid_file() {
    let (code, stdout, _) = check(
        "[[smc]]\nname = \"p\"\nurl = \"https://smc.example:8082\"\napi_key = \"k\"\nengines = [\"fw\"]\n",
    );
    assert_eq!(code, Some(0));
    assert!(
        stdout.ends_with("configuration is valid (1 SMC)\n"),
        "{stdout}"
    );
}

#[test]
fn config_check_rejects_with_status_2_and_one_line() {
    let (code, _, stderr) = check(
        "[[smc]]\nname = \"p\"\nurl = \"ftp://smc.example:8082\"\napi_key = \"topsecret\"\nengines = [\"fw\"]\n",
    );
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        "error: smc[0].url: scheme must be http or https, not \"ftp\"\n"
    );
    assert!(!stderr.contains("topsecret"));
}

#[test]
fn missing_config_is_a_usage_error() {
    let out = Command::new(BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: no configuration: pass -c FILE (or try the demo: `cargo run --release -p smc-lab -- demo`)\n"
    );
}
