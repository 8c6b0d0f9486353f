//! The binary's command line: `--config.check` exit codes and messages.
//! (`demo` moved to `smc-lab demo`: its test is in smc-lab's tests.)

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_smc-exporter");

fn check(toml: &str) -> (Option<i32>, String, String) {
    check_with(toml, &[], &[])
}

fn check_with(toml: &str, args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    let out = Command::new(BIN)
        .env_remove("POD_NAME")
        .envs(envs.iter().copied())
        .args(args)
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
fn config_check_counts_sps_appliances() {
    let (code, stdout, _) = check_with(
        "[[sps]]\nname = \"pam\"\nurl = \"https://sps.example\"\nusername = \"u\"\npassword_env = \"SPS_PW\"\n",
        &[],
        &[("SPS_PW", "pw")],
    );
    assert_eq!(code, Some(0));
    assert!(
        stdout.ends_with("configuration is valid (0 SMC, 1 SPS)\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("pw\n"));
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

const VALID: &str = "[[smc]]\nname = \"p\"\nurl = \"https://smc.example:8082\"\napi_key = \"k\"\nengines = [\"fw\"]\n";

#[test]
fn shard_flags_are_checked_with_status_2_and_one_line() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], Option<&'a str>);
    let cases: [Case; 6] = [
        (&["--shard", "1", "--total-shards", "3"], &[], None),
        (
            &["--total-shards", "3"],
            &[("POD_NAME", "smc-exporter-2")],
            None,
        ),
        (
            &["--total-shards", "3", "--pod", "smc-exporter-1"],
            &[],
            None,
        ),
        (
            &["--shard", "3", "--total-shards", "3"],
            &[],
            Some("error: --shard: 3 is not less than --total-shards (3)\n"),
        ),
        (
            &["--total-shards", "3"],
            &[("POD_NAME", "smc-exporter")],
            Some(
                "error: --pod: \"smc-exporter\" does not end in a StatefulSet ordinal (NAME-N); pass --shard instead\n",
            ),
        ),
        (
            &["--shard", "1"],
            &[],
            Some("error: --shard: needs --total-shards\n"),
        ),
    ];
    for (args, envs, want) in cases {
        let (code, _, stderr) = check_with(VALID, args, envs);
        match want {
            None => assert_eq!(code, Some(0), "{args:?} {envs:?}: {stderr}"),
            Some(line) => {
                assert_eq!(code, Some(2), "{args:?}");
                assert_eq!(stderr, line, "{args:?}");
            }
        }
    }
}
