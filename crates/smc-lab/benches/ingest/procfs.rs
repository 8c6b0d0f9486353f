//! What the harness reads of its children: CPU time and memory from
//! `/proc/<pid>/`, and the spawning of a child that dies with the harness.

use smc_lab::Proc;

/// `utime + stime` of a process (every thread, live or exited), in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name (field 2) may hold spaces: count after its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or(format!("/proc/{pid}/stat: no ')'"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are 12 and 13 after the ')'.
    let tick = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or(format!("/proc/{pid}/stat: field {} unreadable", i + 3))
    };
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Ok((tick(11)? + tick(12)?) as f64 / hz)
}

/// Resolution of [`cpu_seconds`].
pub fn cpu_tick() -> f64 {
    1.0 / rustix::param::clock_ticks_per_second() as f64
}

/// (`VmRSS`, `VmHWM`) of a process, in bytes.
pub fn memory(pid: u32) -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let kib = |key: &str| -> Result<u64, String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|k| k * 1024)
            .ok_or(format!("/proc/{pid}/status: no {key}"))
    };
    Ok((kib("VmRSS:")?, kib("VmHWM:")?))
}

/// Spawn `bin` so that it is killed on every exit path of the harness: the
/// [`Proc`] guard kills it on drop (returns, panics), and, where util-linux
/// `setpriv` is present, the kernel sends it SIGKILL when the harness's main
/// thread dies (a harness killed by a signal). `setpriv` execs, so the pid
/// is the binary's own.
pub fn spawn(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> Proc {
    const SETPRIV: &str = "/usr/bin/setpriv";
    if std::path::Path::new(SETPRIV).exists() {
        let mut all = vec!["--pdeathsig", "KILL", "--", bin];
        all.extend_from_slice(args);
        Proc::spawn(SETPRIV, &all, envs)
    } else {
        Proc::spawn(bin, args, envs)
    }
}
