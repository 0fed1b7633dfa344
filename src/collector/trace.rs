//! What each cycle did, and its trace line. Go counterpart: the `gctrace`
//! output of mgc.go's `gcMarkTermination` (`GODEBUG=gctrace=1`), and the
//! `gcController` counters it reads (`assistTime`, `dedicatedMarkTime`,
//! `fractionalMarkTime`, `idleMarkTime`).
//!
//! The mark phase's CPU is split as Go's trace splits it, `assist/background/
//! idle`: the time mutators spent in assist drains (measured over the drain
//! alone, see `assist_alloc`), the time dedicated and fractional workers
//! spent in their drains (Go's `markWorkerStop` durations), and the time of
//! idle-priority workers, which this collector never runs (see `worker`), so
//! it is always zero. Time a worker or the driver spends asleep, waiting for
//! work, for its turn or for termination, is nobody's CPU and is not counted.

use super::start::CycleStart;
use super::{lock, Inner};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Mutex;

/// What one cycle did: the data behind its trace line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CycleStats {
    /// Cycle number, from 1.
    pub cycle: u64,
    /// Seconds since the collector started, at the start of the cycle.
    pub start_s: f64,
    /// Wall time of the mark phase, seconds.
    pub mark_s: f64,
    /// Heap live at the start of the cycle, bytes.
    pub heap_before: u64,
    /// Heap live at its peak during the cycle, bytes.
    pub heap_peak: u64,
    /// Heap marked (live after the cycle), bytes.
    pub heap_after: u64,
    /// The heap goal of the cycle, bytes.
    pub heap_goal: u64,
    /// The trigger the cycle started at, bytes.
    pub trigger: u64,
    /// Heap scan work, bytes.
    pub heap_scan_work: i64,
    /// Stack scan work, bytes.
    pub stack_scan_work: i64,
    /// Globals scan work, bytes.
    pub globals_scan_work: i64,
    /// Time mutators spent in assist drains, seconds (Go's
    /// `assistTime`): from the moment an assist holds its mutator's lock to
    /// its release, so not the wait for the lock or a stop, nor a park.
    pub assist_s: f64,
    /// Time dedicated and fractional background workers spent in their
    /// drains, seconds (Go's `dedicatedMarkTime + fractionalMarkTime`); not
    /// the time they slept waiting for work or for their turn.
    pub background_s: f64,
    /// Time idle-priority workers spent draining, seconds (Go's
    /// `idleMarkTime`). Always zero: no idle workers run here, as the
    /// collector cannot see an idle P.
    pub idle_s: f64,
    /// GC CPU utilisation over the cycle: (assist + background + idle) time
    /// over the mark phase's wall time × GOMAXPROCS.
    pub utilization: f64,
    /// Assists that parked on the assist queue.
    pub assists_parked: u64,
    /// Assists that ran (drained or stole).
    pub assists: u64,
    /// Median assist park time, seconds.
    pub park_p50_s: f64,
    /// 99th-percentile assist park time, seconds.
    pub park_p99_s: f64,
    /// Longest assist park time, seconds.
    pub park_max_s: f64,
    /// Ragged flushes that found more work before the cycle could end.
    pub termination_restarts: u64,
    /// Objects marked.
    pub marked: u64,
    /// Result of the reachability check, if enabled: every reachable object
    /// was marked.
    pub verified: Option<bool>,
    /// GOMAXPROCS.
    pub procs: usize,
    /// Dedicated background workers.
    pub dedicated_workers: i64,
    /// Fractional utilisation goal per P.
    pub fractional_goal: f64,
    /// Objects freed by the sweep of the previous cycle's marks (finished,
    /// at the latest, when this cycle started).
    pub swept_objects: u64,
    /// Bytes of those objects.
    pub swept_bytes: u64,
    /// Allocations since the previous cycle's start that reused a freed
    /// object.
    pub reused_objects: u64,
    /// Object indices the arena has handed out at the end of the cycle
    /// (live, free and not yet reused): its occupancy.
    pub arena_objects: u64,
}

impl CycleStats {
    /// Peak heap over goal: how well the pacer hit its target.
    pub fn goal_ratio(&self) -> f64 {
        self.heap_peak as f64 / self.heap_goal.max(1) as f64
    }
}

impl fmt::Display for CycleStats {
    /// One line in the spirit of `GODEBUG=gctrace=1`: the cycle, when it
    /// started, its GC CPU utilisation, the mark phase's wall time and its
    /// CPU time split `assist/background/idle` with Go's `/` separators,
    /// then heap sizes before, at the peak and after (Go's `heap0->heap1->
    /// heap2`), goal, trigger, scan work, assists and GOMAXPROCS.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MB: f64 = (1 << 20) as f64;
        write!(
            f,
            "gc {} @{:.3}s {:.0}%: {:.3} ms mark, {:.3}/{:.3}/{:.3} ms cpu assist/bg/idle, \
             {:.2}->{:.2}->{:.2} MB, {:.2} MB goal, {:.2} MB trigger, \
             {}+{}+{} B heap/stack/globals scan, {} assists, {} parked (max {:.0} us), {} P{}",
            self.cycle,
            self.start_s,
            self.utilization * 100.0,
            self.mark_s * 1e3,
            self.assist_s * 1e3,
            self.background_s * 1e3,
            self.idle_s * 1e3,
            self.heap_before as f64 / MB,
            self.heap_peak as f64 / MB,
            self.heap_after as f64 / MB,
            self.heap_goal as f64 / MB,
            self.trigger as f64 / MB,
            self.heap_scan_work,
            self.stack_scan_work,
            self.globals_scan_work,
            self.assists,
            self.assists_parked,
            self.park_max_s * 1e6,
            self.procs,
            match self.verified {
                Some(true) => ", verified",
                Some(false) => ", VERIFY FAILED",
                None => "",
            }
        )
    }
}

/// Per-cycle counters shared by workers, assists and the driver.
#[derive(Debug, Default)]
pub(super) struct CycleCounters {
    pub(super) assists: AtomicU64,
    pub(super) park_ns: Mutex<Vec<u64>>,
    pub(super) peak_live: AtomicU64,
    pub(super) restarts: AtomicU64,
}

impl CycleCounters {
    pub(super) fn reset(&self) {
        self.assists.store(0, Relaxed);
        self.restarts.store(0, Relaxed);
        lock(&self.park_ns).clear();
    }

    /// Assist park times at the 50th and 99th percentiles and the longest,
    /// in seconds.
    fn park_percentiles(&self) -> (f64, f64, f64) {
        let mut park: Vec<u64> = lock(&self.park_ns).clone();
        park.sort_unstable();
        let pct = |p: f64| -> f64 {
            if park.is_empty() {
                0.0
            } else {
                park[((park.len() - 1) as f64 * p).round() as usize] as f64 / 1e9
            }
        };
        let max = park.last().map_or(0.0, |&n| n as f64 / 1e9);
        (pct(0.5), pct(0.99), max)
    }
}

impl Inner {
    /// Appends the statistics of the cycle that just ended.
    pub(super) fn record_stats(&self, start: &CycleStart, marked: u64, verified: Option<bool>) {
        let mark_s = start.mark_start.elapsed().as_secs_f64();
        let (park_p50_s, park_p99_s, park_max_s) = self.counters.park_percentiles();
        // The pacer's own counters, as Go's gctrace reads gcController's;
        // all flushed by the end of mark termination.
        let p = &self.pacer;
        let assist_s = p.assist_time() as f64 / 1e9;
        let background_s = (p.dedicated_mark_time() + p.fractional_mark_time()) as f64 / 1e9;
        let idle_s = p.idle_mark_time() as f64 / 1e9;
        let stats = CycleStats {
            cycle: lock(&self.stats).len() as u64 + 1,
            start_s: (start.t0 - self.epoch).as_secs_f64(),
            mark_s,
            heap_before: start.heap_before,
            heap_peak: self.counters.peak_live.load(Relaxed),
            heap_after: self.marker.bytes_marked(),
            heap_goal: start.goal,
            trigger: start.trigger,
            heap_scan_work: self.marker.heap_scan_work(),
            stack_scan_work: self.marker.stack_scan_work(),
            globals_scan_work: self.marker.globals_scan_work(),
            assist_s,
            background_s,
            idle_s,
            utilization: (assist_s + background_s + idle_s)
                / (mark_s * self.procs as f64).max(1e-9),
            assists_parked: self.assists.take_parks(),
            assists: self.counters.assists.load(Relaxed),
            park_p50_s,
            park_p99_s,
            park_max_s,
            termination_restarts: self.counters.restarts.load(Relaxed),
            marked,
            verified,
            procs: self.procs,
            dedicated_workers: start.dedicated,
            fractional_goal: start.fractional,
            swept_objects: start.swept.freed_objects,
            swept_bytes: start.swept.freed_bytes,
            reused_objects: start.swept.reused_objects,
            arena_objects: u64::from(self.heap.len()),
        };
        lock(&self.stats).push(stats);
    }
}
