//! A spawned process with its output collected, for the tests that run the
//! real binary (signals, exit codes, log lines).

use std::time::Duration;

pub use rustix::process::Signal;
use rustix::process::{Pid, kill_process};

/// A spawned binary (the real `smc-exporter`: tests pass
/// `env!("CARGO_BIN_EXE_smc-exporter")`), with piped stdout and stderr that
/// are collected line by line; killed on drop if still running.
pub struct Proc {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    err: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    r: impl std::io::Read + Send + 'static,
    into: std::sync::Arc<std::sync::Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    })
}

impl Proc {
    /// Spawn binary `bin` with `args` and extra environment variables.
    pub fn spawn(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), out.clone()),
            collect(child.stderr.take().unwrap(), err.clone()),
        ];
        Proc {
            child,
            out,
            err,
            readers,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Stderr parsed as `--log.format json` lines (other lines skipped).
    pub fn json_logs(&self) -> Vec<serde_json::Value> {
        self.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Wait (bounded) for a JSON log line matching `pred`; returns it.
    pub async fn wait_log(
        &self,
        within: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(v) = self.json_logs().into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such log line within {within:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The address /metrics is served on, from the "smc-exporter started" log
    /// line, in either log format (start it with `--web.listen-address 127.0.0.1:0`).
    pub async fn metrics_addr(&self) -> std::net::SocketAddr {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let err = self.stderr();
            if let Some(line) = err.lines().find(|l| l.contains("smc-exporter started")) {
                let addr = match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v) => v["addr"].as_str().unwrap().to_string(),
                    Err(_) => line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .unwrap()
                        .to_string(),
                };
                return addr.parse().unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "exporter did not start; stderr:\n{err}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Send SIGTERM.
    pub fn sigterm(&self) {
        self.signal(Signal::TERM);
    }

    /// Send a signal (`Signal::TERM`, `Signal::INT`, `Signal::HUP`…).
    pub fn signal(&self, sig: Signal) {
        kill_process(Pid::from_child(&self.child), sig).unwrap();
    }

    /// Wait (bounded) for the process to exit; None if it did not in time.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// After exit: all of stdout and stderr.
    pub fn output(mut self) -> (String, String) {
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        (self.out.lock().unwrap().clone(), self.stderr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
