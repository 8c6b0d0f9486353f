//! The end-to-end suite: the exporter against the simulator (in this
//! process, or the real `smc-exporter` binary spawned) and against hostile
//! fakes; signals, secrets and log lines of the real binary. One binary, one
//! module per topic. It is smc-exporter's because only a package's own tests
//! are given its binary (`CARGO_BIN_EXE_smc-exporter`); the simulator and the
//! helpers come from smc-lab (a dev-dependency).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The real `smc-exporter` binary, built by cargo for these tests.
const EXPORTER: &str = env!("CARGO_BIN_EXE_smc-exporter");

/// A directory holding `key` (the simulator's API key) and `config.toml`
/// (`toml`, which names `api_key_file = "key"`): the config of a spawned
/// exporter. Returns the directory (removed on drop) and the config's path.
fn config_dir(sim: &smc_sim::SimServer, toml: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    config_dir_with_key(&sim.world_info().api_key, toml)
}

/// A temporary directory with the API key file `key` holding `key` and
/// `config.toml` holding `toml`; the config's path.
fn config_dir_with_key(key: &str, toml: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), key).unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, toml).unwrap();
    (dir, cfg)
}

/// [`config_dir_with_key`] for tests of the HTTP side: one SMC that is
/// unreachable (port 9), its key file private (mode 0600).
fn unreachable_smc_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let (dir, cfg) = config_dir_with_key(
        "k",
        "[[smc]]\nname = \"hq\"\nurl = \"https://127.0.0.1:9\"\napi_key_file = \"key\"\n\
         engines = [\"fw-1\"]\ndefinitions = [\"CONNECTIONS\"]\n",
    );
    let private = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(dir.path().join("key"), private).unwrap();
    (dir, cfg)
}

mod e2e_cap;
mod e2e_discovery;
mod e2e_engines;
mod e2e_faults;
mod e2e_filters;
mod e2e_logs;
mod e2e_notify;
mod e2e_session;
mod e2e_sps;
mod e2e_supervisor;
mod e2e_tls;
mod e2e_token;
mod e2e_truth;
mod landing_browser;
mod log_forging;
mod priority;
mod reload;
mod secrets;
mod signals;
mod systemd_notify;
mod systemd_socket;
mod web_config;
mod web_listen;
