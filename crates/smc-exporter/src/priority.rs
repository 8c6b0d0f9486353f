//! Scheduling priority of the ingest threads.
//!
//! The exporter's first duty is to answer scrapes and probes quickly;
//! ingest (decoding and folding every subscription's frames) can wait a
//! moment, the SMC's socket buffers it. During a large snapshot ingest keeps
//! every core busy, so the kernel decides who runs when an HTTP request
//! arrives. Ingest runs on tokio's worker threads ([`crate::cli::runtime`]),
//! which lower their own priority by [`INGEST_NICE`] when they start; HTTP
//! runs on a thread of its own and renders on threads of their own
//! (`http::serve_on_own_thread`, `http/flight.rs`), both started from the
//! main thread, so they keep the process's priority and a woken HTTP thread
//! runs before a busy ingest thread. Nice only weighs threads that compete
//! for a core: on an idle machine ingest runs at full speed all the same.
//!
//! An unprivileged thread may lower its priority but never raise it again,
//! and a thread inherits its creator's: so this is done on each worker
//! thread, never for the process, and the HTTP thread must be started from
//! a thread that kept the process's priority (the daemon's main thread).

/// How much lower than the process's the ingest threads' priority is (a
/// nice increment). 19, the lowest priority that is not SCHED_IDLE: a
/// weight of 15 against a default thread's 1024 (nice 10: 110). Measured
/// with `benches/ingest` (10 subscriptions at full speed, 10k series):
/// `/-/healthy` p99 2.0–3.2 ms at nice 10, 0.4–0.7 ms at 19; `/metrics` p99
/// 10.3–11.3 ms → 8.5–8.8 ms. The cost: on a host whose cores are busy
/// with other default-priority work, ingest gets little CPU and the SMC's
/// socket buffers the backlog; on an idle or merely busy-with-us machine
/// it runs at full speed.
pub const INGEST_NICE: i32 = 19;

/// The highest nice value Linux allows.
const MAX_NICE: i32 = 19;

/// Lower the calling thread's priority by [`INGEST_NICE`]. Best effort: a
/// system that refuses (seccomp, another OS) leaves the thread as it was,
/// and the exporter works the same, only with slower scrapes under load.
pub fn lower_current_thread() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        let set = rustix::process::getpriority_process(Some(tid)).and_then(|nice| {
            rustix::process::setpriority_process(Some(tid), (nice + INGEST_NICE).min(MAX_NICE))
        });
        if let Err(e) = set {
            tracing::debug!(error = %e, "cannot lower an ingest thread's priority");
        }
    }
}

/// The calling thread's nice value (Linux), for tests and diagnostics.
pub fn current_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_workers_run_lower_than_the_thread_that_built_the_runtime() {
        // Measured on a thread of its own: the test harness's threads must
        // keep their priority (it could not be raised back).
        std::thread::spawn(|| {
            let base = current_nice().unwrap();
            let rt = crate::cli::runtime().unwrap();
            let worker = rt.block_on(async { tokio::spawn(async { current_nice() }).await });
            let blocking = rt.block_on(async { tokio::task::spawn_blocking(current_nice).await });
            assert_eq!(worker.unwrap(), Some((base + INGEST_NICE).min(MAX_NICE)));
            assert_eq!(blocking.unwrap(), Some((base + INGEST_NICE).min(MAX_NICE)));
            // block_on runs on the calling thread, which keeps its priority.
            assert_eq!(current_nice(), Some(base));
        })
        .join()
        .unwrap();
    }
}
