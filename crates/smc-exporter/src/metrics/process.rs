//! Standard `process_*` metrics, read from `/proc/self` on Linux (the names and
//! meanings of client_golang's process collector). A value that cannot be read
//! is omitted, never guessed; on other systems there are none.

/// A snapshot of the process metrics; `None` where the value could not be read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

/// `USER_HZ`: the unit of the tick counts in `/proc/<pid>/stat`. It is fixed at
/// 100 by the kernel ABI on every architecture Rust targets on Linux (procfs in
/// Go hard-codes the same constant).
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    #[cfg(target_os = "linux")]
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let stat = stat.as_deref().and_then(parse_stat);
        let status = std::fs::read_to_string("/proc/self/status").ok();
        let kb = |key: &str| {
            status
                .as_deref()
                .and_then(|s| status_kb(s, key))
                .map(|k| k * 1024)
        };
        let btime = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s));
        ProcessStats {
            cpu_seconds: stat.map(|s| (s.utime + s.stime) as f64 / USER_HZ),
            resident_memory_bytes: kb("VmRSS:"),
            virtual_memory_bytes: stat.map(|s| s.vsize).or_else(|| kb("VmSize:")),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: std::fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|s| max_open_files(&s)),
            start_time_seconds: match (stat, btime) {
                (Some(s), Some(b)) => Some(b as f64 + s.starttime as f64 / USER_HZ),
                _ => None,
            },
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn read() -> Self {
        ProcessStats::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
}

/// Fields of `/proc/self/stat` after the `(comm)`, which may contain spaces.
fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 1..];
    // `rest` starts at field 3 (state); field n is at index n - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: n(14)?,
        stime: n(15)?,
        starttime: n(22)?,
        vsize: n(23)?,
    })
}

fn status_kb(s: &str, key: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn boot_time(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_open_files(s: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_comm() {
        let s = "18068 (a b) c) R 18017 18017 6313 0 -1 4194304 99 0 0 0 250 150 0 0 20 0 1 0 56177 3133440 412 18446744073709551615";
        let st = parse_stat(s).unwrap();
        assert_eq!(
            st,
            Stat {
                utime: 250,
                stime: 150,
                starttime: 56177,
                vsize: 3133440
            }
        );
    }

    #[test]
    fn parses_limits_status_and_btime() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 4096                 files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            status_kb("Name:\tx\nVmRSS:\t  1234 kB\n", "VmRSS:"),
            Some(1234)
        );
        assert_eq!(boot_time("cpu 1 2\nbtime 1795295828\n"), Some(1795295828));
        assert_eq!(
            max_open_files("Max open files unlimited unlimited files"),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let p = ProcessStats::read();
        assert!(p.resident_memory_bytes.unwrap() > 0);
        assert!(p.virtual_memory_bytes.unwrap() > 0);
        assert!(p.open_fds.unwrap() > 0);
        assert!(p.max_fds.unwrap() > 0);
        assert!(p.start_time_seconds.unwrap() > 1.0e9);
        assert!(p.cpu_seconds.unwrap() >= 0.0);
    }
}
