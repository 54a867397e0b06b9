//! Shared pieces: payload, run control, latency recording, CPU accounting,
//! CPU pinning and fd limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;

/// The JSON-RPC-like text payload used by the raw echo systems (exactly 100 bytes).
/// It is sent as-is and echoed back as-is: no (de)serialisation on either side,
/// so the raw systems measure the WebSocket transport only.
pub const RAW_PAYLOAD: &str =
    r#"{"jsonrpc":"2.0","id":1234567,"method":"add","params":[1234567,7654321],"pad":"xxxxxxxxxxxxxxx"}"#;

/// Phase of a run, shared by the controller and every connection driver.
pub struct Ctl {
    phase: AtomicU8,
    connected: AtomicUsize,
    /// Calls each connection makes before it stops (0 = no quota: run until STOP).
    quota: u64,
    /// Cancelled when the phase becomes STOP (for drivers blocked in a read).
    pub stop: tokio_util::sync::CancellationToken,
}

pub const WARMUP: u8 = 0;
pub const MEASURE: u8 = 1;
pub const STOP: u8 = 2;

impl Ctl {
    pub fn new() -> Arc<Self> {
        Arc::new(Ctl {
            phase: AtomicU8::new(WARMUP),
            connected: AtomicUsize::new(0),
            quota: 0,
            stop: Default::default(),
        })
    }
    /// Counted run (the `cost` mode): every connection makes exactly
    /// `per_conn` calls (no more issued after that), waits for their replies
    /// and ends; every call is recorded. No time window.
    pub fn with_quota(per_conn: u64) -> Arc<Self> {
        Arc::new(Ctl {
            phase: AtomicU8::new(MEASURE),
            connected: AtomicUsize::new(0),
            quota: per_conn,
            stop: Default::default(),
        })
    }
    /// Calls per connection in a counted run; `None` in a timed run.
    pub fn quota(&self) -> Option<u64> {
        (self.quota > 0).then_some(self.quota)
    }
    /// Whether a driver that has issued `issued` calls may issue another.
    #[inline]
    pub fn may_issue(&self, issued: u64) -> bool {
        self.quota == 0 || issued < self.quota
    }
    #[inline]
    pub fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }
    #[inline]
    pub fn stopped(&self) -> bool {
        self.phase() == STOP
    }
    pub fn set_phase(&self, p: u8) {
        self.phase.store(p, Ordering::SeqCst);
        if p == STOP {
            self.stop.cancel();
        }
    }
    /// A driver calls this once its connection is open (handshake done).
    pub fn mark_connected(&self) {
        self.connected.fetch_add(1, Ordering::SeqCst);
    }
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::SeqCst)
    }
}

/// Per-task latency recorder. Only calls that complete during the MEASURE
/// phase are counted.
pub struct Recorder {
    pub hist: Histogram<u64>,
    pub calls: u64,
}

impl Recorder {
    pub fn new() -> Self {
        // 1 ns .. 60 s, 3 significant digits.
        Recorder {
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(),
            calls: 0,
        }
    }
    #[inline]
    pub fn record(&mut self, ctl: &Ctl, started: Instant) {
        if ctl.phase() == MEASURE {
            let ns = started.elapsed().as_nanos() as u64;
            self.hist.saturating_record(ns.max(1));
            self.calls += 1;
        }
    }
    pub fn merge(&mut self, other: &Recorder) {
        self.hist.add(&other.hist).unwrap();
        self.calls += other.calls;
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// utime+stime of a process in seconds, from /proc/<pid>/stat.
#[allow(unsafe_code)] // one libc call, no pointers kept
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let s = std::fs::read_to_string(path).ok()?;
    // fields after the ")" that closes comm: state is field 3; utime=14, stime=15
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / tck)
}

/// VmRSS of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// VmHWM (peak RSS) of a process in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    for line in s.lines() {
        if let Some(v) = line.strip_prefix(key) {
            return v.trim().trim_end_matches("kB").trim().parse().ok();
        }
    }
    None
}

/// Number of threads of a process.
pub fn threads(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    for line in s.lines() {
        if let Some(v) = line.strip_prefix("Threads:") {
            return v.trim().parse().ok();
        }
    }
    None
}

/// Pin the calling thread (and so every thread it starts later) to the given CPUs.
#[allow(unsafe_code)] // one libc call, no pointers kept
pub fn pin_to(cpus: &[usize]) -> anyhow::Result<()> {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            anyhow::bail!("sched_setaffinity failed: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// CPUs the calling thread may run on.
pub fn allowed_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Raise RLIMIT_NOFILE soft limit to the hard limit. Returns the new soft limit.
#[allow(unsafe_code)] // one libc call, no pointers kept
pub fn raise_nofile() -> u64 {
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
            return rl.rlim_cur;
        }
    }
    0
}

/// Build the tokio runtime used by every mode: multi-thread, one worker per
/// allowed CPU unless `threads` says otherwise.
pub fn runtime(threads: Option<usize>) -> tokio::runtime::Runtime {
    let n = threads.unwrap_or_else(allowed_cpus).max(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .enable_all()
        .build()
        .unwrap()
}

pub fn parse_cpus(s: &str) -> Vec<usize> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.trim().parse().expect("bad --cpus"))
        .collect()
}
