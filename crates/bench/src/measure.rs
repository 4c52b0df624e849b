//! Measuring helpers: latency histograms, throughput runs, memory and disk use.

use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies recorded in microseconds.
pub struct Latencies(Histogram<u64>);

impl Latencies {
    /// An empty histogram (1 µs to 60 s).
    pub fn new() -> Self {
        Latencies(Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"))
    }

    /// Records one operation's duration.
    pub fn record(&mut self, d: Duration) {
        let _ = self.0.record((d.as_micros() as u64).max(1));
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.0.add(&other.0);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The largest sample, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.0.max() as f64 / 1000.0
    }

    /// The value at a percentile, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        self.0.value_at_percentile(p) as f64 / 1000.0
    }
}

/// Throughput and latency of one run.
pub struct RunResult {
    /// Operations completed.
    pub ops: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Per-operation latencies.
    pub latencies: Latencies,
}

impl RunResult {
    /// Operations per second.
    pub fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Resident set size of a process, in bytes, from /proc.
pub fn rss_bytes(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Bytes of disk allocated to every file below `dir` (what `du` reports).
pub fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            total += disk_bytes(&entry.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}

/// Formats a byte count in MiB.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
