//! The cycle driver: concurrent mark cycles with mutators, background
//! workers, assists and Go's termination. Go counterparts: mgc.go (`gcStart`,
//! `gcBgMarkWorker`, `gcMarkDone`, `gcMarkTermination`), malloc.go
//! (`deductAssistCredit`, `gcmarknewobject`), mgcmark.go (`gcAssistAlloc`).
//!
//! A [`Collector`] owns the heap, the [`Pacer`], one [`Marker`] reused by
//! every cycle, the assist queue and a driver thread. Each mutator thread
//! holds a [`Mutator`] handle: it allocates, reads and writes pointers, and
//! keeps its roots in its stack.
//!
//! ## Stopping the world
//!
//! Go stops the world by preempting every P. Here every mutator operation
//! runs under that mutator's own lock (uncontended: only the collector ever
//! takes it from another thread), and background workers drain under a
//! shared gate. Holding every mutator lock and the gate exclusively is
//! therefore a stop-the-world: no mutator is between the steps of an
//! allocation or a barriered write, and no worker holds grey work. A flag
//! asks mutators to wait before starting their next operation, so the
//! collector is not starved. Cycles start and end under such a stop.
//!
//! ## A cycle
//!
//! 1. Start (Go's `gcStart`), world stopped: reset every mutator's assist
//!    credit, prepare root jobs and the allocation watermark, turn the write
//!    barrier on, start the pacer's cycle, enable blackening. The barrier is
//!    on before any object can be blackened.
//! 2. Mark: dedicated and fractional background workers drain with
//!    `FLUSH_BG_CREDIT` (their credit pays parked assists first); mutators
//!    that allocate while in debt assist (`drain_n`) or park; every pointer
//!    write shades old and new values into the mutator's barrier buffer;
//!    objects allocated now are black.
//! 3. Termination (Go's `gcMarkDone`): when no worker is draining and no grey
//!    work is visible, flush every mutator's barrier buffer and work cache one
//!    at a time (the ragged barrier). If that produced any grey work, marking
//!    continues. Otherwise stop the world and check again, exactly this time:
//!    every barrier buffer, work cache, global list, root job and backend
//!    queue empty. Only then does the cycle end: blackening off, every parked
//!    assist woken, the barrier off, the pacer's `end_cycle` feedback, the
//!    heap's live size reset to what was marked.
//!
//! Nothing reachable stays white: every grey object is in some work cache,
//! list, barrier buffer or backend queue, and the exact check under the stop
//! sees all of them.

use crate::assist::{
    assist_work_for_debt, credit_for_work, AssistCredit, AssistQueue, AssistRatios, ParkOutcome,
};
use crate::barrier::WbBuf;
use crate::heap::{Heap, HeapError, HeapView, MCache, ObjRef, Stack, SweepCounts, WORD_BYTES};
use crate::mark::{DrainFlags, DrainHooks, GcWork, Marker, NoHooks};
use crate::pacer::{GcTriggerKind, MarkWorkerMode, Pacer, PacerConfig, PacerError};
use crate::scan::{CpuScan, ScanBackend};
use crate::verify::{check_covers, reachable};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Bytes a mutator allocates before reporting them to the pacer (Go reports
/// heap-live changes when an mcache refills a span; this is the span-sized
/// batch that keeps the pacer's atomics cold).
pub const ALLOC_FLUSH_BYTES: i64 = 8 << 10;

/// How long an idle background worker sleeps before looking for work again.
const WORKER_IDLE_SLEEP: Duration = Duration::from_micros(50);

/// How often the driver looks for termination while marking.
const TERMINATION_POLL: Duration = Duration::from_micros(100);

/// Errors of the collector API.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CollectorError {
    /// A heap operation failed (bad reference, full heap).
    #[error(transparent)]
    Heap(#[from] HeapError),
    /// The pacer configuration is invalid.
    #[error(transparent)]
    Pacer(#[from] PacerError),
    /// The driver thread could not be started.
    #[error("cannot start the collector's driver thread: {0}")]
    Spawn(std::io::Error),
    /// A root index past the end of the mutator's stack.
    #[error("stack root {index} is out of range: the stack holds {len} roots")]
    NoSuchRoot {
        /// The index asked for.
        index: usize,
        /// Roots on the stack.
        len: usize,
    },
}

/// A hook run at every mark termination: see [`MarkTermination`].
pub type MarkTerminationHook = Arc<dyn Fn(&MarkTermination<'_>) + Send + Sync>;

/// What a cycle's mark termination shows, with the world stopped: the final
/// mark bits, the roots and the heap they point into, exactly as the cycle
/// ends (Go's `gcMarkTermination`, before the sweep).
///
/// It exists so that a user or a test can check a concurrent mark against
/// its own reachability oracle, without the library's [`verify`] and
/// without reaching into internals: every object reachable from
/// [`MarkTermination::globals`] and [`MarkTermination::stacks`] through
/// [`MarkTermination::slots`] must be [`MarkTermination::is_marked`].
/// Nothing moves while the hook runs, so it should be quick: every mutator
/// waits for it.
///
/// [`verify`]: CollectorConfig::verify
pub struct MarkTermination<'a> {
    cycle: u64,
    heap: &'a Heap,
    marker: &'a Marker,
}

impl MarkTermination<'_> {
    /// The cycle that is ending, from 1.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Object indices handed out so far (`0..objects()`).
    pub fn objects(&self) -> u32 {
        self.heap.len()
    }

    /// The heap, read-only, as the cycle ends.
    pub fn heap(&self) -> HeapView<'_> {
        HeapView::new(self.heap)
    }

    /// Whether the cycle marked `obj`.
    pub fn is_marked(&self, obj: ObjRef) -> bool {
        self.marker.bits().is_marked(obj.0)
    }

    /// The global roots.
    pub fn globals(&self) -> Vec<Option<ObjRef>> {
        let g = self.heap.globals();
        g.iter().map(|s| ObjRef::decode(s.load(Relaxed))).collect()
    }

    /// Every mutator's stack of roots.
    pub fn stacks(&self) -> Vec<Vec<Option<ObjRef>>> {
        let st = self.heap.stacks();
        st.iter()
            .map(|s| s.snapshot().into_iter().map(ObjRef::decode).collect())
            .collect()
    }

    /// The pointer slots of `obj`.
    pub fn slots(&self, obj: ObjRef) -> Result<Vec<Option<ObjRef>>, HeapError> {
        let d = self.heap.object(obj)?;
        let raw = &self.heap.raw_slots()[d.slot_start as usize..][..d.nslots as usize];
        Ok(raw
            .iter()
            .map(|s| ObjRef::decode(s.load(Relaxed)))
            .collect())
    }
}

impl fmt::Debug for MarkTermination<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarkTermination")
            .field("cycle", &self.cycle)
            .field("objects", &self.objects())
            .finish_non_exhaustive()
    }
}

/// How a collector is set up.
#[derive(Clone)]
pub struct CollectorConfig {
    /// Pacer settings (GOGC, memory limit, GOMAXPROCS).
    pub pacer: PacerConfig,
    /// Who scans: [`CpuScan`] or a GPU backend.
    pub backend: Arc<dyn ScanBackend>,
    /// After each cycle, with the world stopped, check that every object
    /// reachable from the roots is marked, and record the result.
    pub verify: bool,
    /// Called at every mark termination, world stopped, with the cycle's
    /// final marks and roots (see [`MarkTermination`]).
    pub on_mark_termination: Option<MarkTerminationHook>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            pacer: PacerConfig::default(),
            backend: Arc::new(CpuScan),
            verify: false,
            on_mark_termination: None,
        }
    }
}

impl fmt::Debug for CollectorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectorConfig")
            .field("pacer", &self.pacer)
            .field("backend", &self.backend.name())
            .field("verify", &self.verify)
            .field("on_mark_termination", &self.on_mark_termination.is_some())
            .finish()
    }
}

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
    /// Time mutators spent assisting (draining), seconds.
    pub assist_s: f64,
    /// Time background workers spent draining, seconds.
    pub background_s: f64,
    /// Time idle workers spent draining, seconds (no idle workers run here).
    pub idle_s: f64,
    /// GC CPU utilisation over the cycle: (assist + background) time over
    /// wall time × GOMAXPROCS.
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
    /// One line in the spirit of `GODEBUG=gctrace=1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MB: f64 = (1 << 20) as f64;
        write!(
            f,
            "gc {} @{:.3}s {:.0}%: {:.3} ms mark, {:.3}+{:.3}+{:.3} ms assist/bg/idle, \
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

/// A mutator's state that the collector may touch: taken by the mutator for
/// each operation, and by the collector to stop the world or flush it.
#[derive(Debug, Default)]
struct MutatorLocal {
    gcw: GcWork,
    wb: WbBuf,
    /// Go's `mcache`: one span per size class to allocate from.
    cache: MCache,
    /// Allocated bytes not yet reported to the pacer.
    alloc_unflushed: i64,
    /// Scannable bytes not yet reported to the pacer.
    scan_unflushed: i64,
}

#[derive(Debug)]
struct MutatorShared {
    local: Mutex<MutatorLocal>,
    credit: Arc<AssistCredit>,
    stack: Arc<Stack>,
}

/// Where a new object's reference goes in the allocating operation.
#[derive(Clone, Copy, Debug)]
enum Dest {
    Nowhere,
    Root(usize),
    Slot(ObjRef, u32),
}

/// Requests to the driver thread.
#[derive(Debug, Default)]
struct DriverState {
    requested: Option<GcTriggerKind>,
    shutdown: bool,
    /// Cycles whose start (the stop that turns the barrier on) has run: Go's
    /// `work.cycles`. Incremented inside that stop, so a reader holding this
    /// lock never counts a cycle whose marking began before it looked.
    cycles_started: u64,
    cycles_done: u64,
    /// The cycle number a [`Collector::gc`] call waits for; a `Cycle`
    /// request is stale once that many cycles have started.
    cycle_wanted: u64,
}

/// Per-cycle counters shared by workers, assists and the driver.
#[derive(Debug, Default)]
struct CycleCounters {
    assist_ns: AtomicU64,
    background_ns: AtomicU64,
    assists: AtomicU64,
    park_ns: Mutex<Vec<u64>>,
    peak_live: AtomicU64,
    restarts: AtomicU64,
}

impl CycleCounters {
    fn reset(&self) {
        self.assist_ns.store(0, Relaxed);
        self.background_ns.store(0, Relaxed);
        self.assists.store(0, Relaxed);
        self.restarts.store(0, Relaxed);
        self.park_ns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

struct Inner {
    heap: Arc<Heap>,
    marker: Marker,
    pacer: Pacer,
    procs: usize,
    assists: AssistQueue,
    backend: Arc<dyn ScanBackend>,
    verify: bool,
    on_mark_termination: Option<MarkTerminationHook>,
    /// Go's `writeBarrier.enabled`; changed only with the world stopped.
    barrier_on: AtomicBool,
    /// Set while the collector wants the world stopped.
    stw_pending: AtomicBool,
    stw_lock: Mutex<()>,
    stw_done: Condvar,
    /// Background workers drain holding this for reading.
    drain_gate: RwLock<()>,
    /// Tells this cycle's background workers to stop.
    workers_stop: AtomicBool,
    mutators: Mutex<Vec<Arc<MutatorShared>>>,
    driver: Mutex<DriverState>,
    driver_cv: Condvar,
    counters: CycleCounters,
    stats: Mutex<Vec<CycleStats>>,
    epoch: Instant,
    /// Stack bytes last reported to the pacer as scannable.
    reported_stack_bytes: AtomicU64,
    /// The marker's scan-work counters as last passed on to the pacer
    /// (heap, stack, globals).
    synced_scan_work: [AtomicI64; 3],
    /// The heap's sweep counters at the previous cycle start.
    last_sweep: Mutex<SweepCounts>,
}

/// The collector: heap, pacer, marker, assist queue and driver thread.
///
/// # Examples
///
/// ```
/// use gpumark::collector::{Collector, CollectorConfig};
/// use gpumark::heap::{Heap, HeapConfig};
/// use std::sync::Arc;
///
/// let heap = Arc::new(Heap::new(HeapConfig { max_objects: 1 << 16, max_slots: 1 << 18, globals: 1 }));
/// let c = Collector::new(heap, CollectorConfig { verify: true, ..Default::default() }).unwrap();
/// let m = c.mutator();
/// m.push_root(None);
/// let a = m.alloc_root(0, 32, 2).unwrap(); // a is rooted by the stack
/// m.alloc_into(a, 0, 16, 0).unwrap(); // a new object, reachable from a
/// c.gc(); // a full cycle, like runtime.GC()
/// let s = c.stats();
/// assert_eq!(s.last().unwrap().verified, Some(true));
/// println!("{}", s.last().unwrap());
/// ```
pub struct Collector {
    inner: Arc<Inner>,
    driver: Option<JoinHandle<()>>,
}

impl Collector {
    /// Creates a collector over `heap` and starts its driver thread.
    pub fn new(heap: Arc<Heap>, config: CollectorConfig) -> Result<Collector, CollectorError> {
        let pacer = Pacer::new(config.pacer)?;
        pacer.add_globals(heap.globals().len() as i64 * WORD_BYTES as i64);
        // The heap may hold objects already: count them as live and
        // scannable, as if they had survived a previous cycle.
        let live = heap.allocated_bytes();
        let scan = i64::from(heap.slots_len()) * WORD_BYTES as i64;
        pacer.update(live as i64, scan);
        pacer.reset_live(live);
        pacer.gc_controller_commit(true);
        let inner = Arc::new(Inner {
            marker: Marker::new(heap.clone()),
            heap,
            procs: config.pacer.gomaxprocs.max(1),
            pacer,
            assists: AssistQueue::new(),
            backend: config.backend,
            verify: config.verify,
            on_mark_termination: config.on_mark_termination,
            barrier_on: AtomicBool::new(false),
            stw_pending: AtomicBool::new(false),
            stw_lock: Mutex::new(()),
            stw_done: Condvar::new(),
            drain_gate: RwLock::new(()),
            workers_stop: AtomicBool::new(false),
            mutators: Mutex::new(Vec::new()),
            driver: Mutex::new(DriverState::default()),
            driver_cv: Condvar::new(),
            counters: CycleCounters::default(),
            stats: Mutex::new(Vec::new()),
            epoch: Instant::now(),
            reported_stack_bytes: AtomicU64::new(0),
            synced_scan_work: Default::default(),
            last_sweep: Mutex::default(),
        });
        let d = inner.clone();
        let driver = std::thread::Builder::new()
            .name("gpumark-driver".into())
            .spawn(move || d.driver_loop())
            .map_err(CollectorError::Spawn)?;
        Ok(Collector {
            inner,
            driver: Some(driver),
        })
    }

    /// A new mutator with an empty stack, registered as a root set.
    pub fn mutator(&self) -> Mutator {
        let shared = Arc::new(MutatorShared {
            local: Mutex::new(MutatorLocal::default()),
            credit: Arc::new(AssistCredit::default()),
            stack: self.inner.heap.new_stack(),
        });
        // Registering takes the mutator list, which a stop holds: a mutator
        // cannot appear in the middle of a stop.
        lock(&self.inner.mutators).push(shared.clone());
        Mutator {
            inner: self.inner.clone(),
            shared,
        }
    }

    /// Runs a full cycle and waits for it to finish (Go's `runtime.GC()`,
    /// minus the sweep).
    ///
    /// As in Go, the cycle waited for is the first to *start* after the call
    /// (`work.cycles + 1`): a cycle already marking, or already ending, does
    /// not count, and a cycle that someone else starts first does (the
    /// request is then stale and dropped, as Go's `gcTriggerCycle` test
    /// drops it, so no extra cycle runs later).
    pub fn gc(&self) {
        let mut d = lock(&self.inner.driver);
        let target = d.cycles_started + 1;
        d.cycle_wanted = d.cycle_wanted.max(target);
        d.requested = Some(GcTriggerKind::Cycle);
        self.inner.driver_cv.notify_all();
        while d.cycles_done < target && !d.shutdown {
            d = self
                .inner
                .driver_cv
                .wait(d)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Statistics of every finished cycle.
    pub fn stats(&self) -> Vec<CycleStats> {
        lock(&self.inner.stats).clone()
    }

    /// Cycles finished so far.
    pub fn cycles(&self) -> u64 {
        lock(&self.inner.driver).cycles_done
    }

    /// The pacer.
    pub fn pacer(&self) -> &Pacer {
        &self.inner.pacer
    }

    /// The heap, read-only: pointer writes go through a [`Mutator`] and its
    /// write barrier (see [`HeapView`]).
    pub fn heap(&self) -> HeapView<'_> {
        HeapView::new(&self.inner.heap)
    }

    /// The marker (its bitmap holds the last cycle's marks).
    pub fn marker(&self) -> &Marker {
        &self.inner.marker
    }

    /// True while a cycle is marking.
    pub fn is_marking(&self) -> bool {
        self.inner.barrier_on.load(Acquire)
    }
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("backend", &self.inner.backend.name())
            .field("cycles", &self.cycles())
            .field("marking", &self.is_marking())
            .finish_non_exhaustive()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        lock(&self.inner.driver).shutdown = true;
        self.inner.driver_cv.notify_all();
        if let Some(d) = self.driver.take() {
            let _ = d.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hooks of a background worker: preempted when the world is stopping or the
/// cycle is over; credit flushed to the assist queue; the fractional worker
/// stops when it has had its share.
struct WorkerHooks<'a> {
    inner: &'a Inner,
    fractional: Option<(Instant, f64, u64)>,
}

impl DrainHooks for WorkerHooks<'_> {
    fn preempt_requested(&self) -> bool {
        self.inner.stw_pending.load(Relaxed) || self.inner.workers_stop.load(Relaxed)
    }
    fn poll_stop(&self) -> bool {
        // Go's pollFractionalWorkerExit: stop once this worker's share of
        // the cycle exceeds 1.2x its goal.
        match self.fractional {
            Some((mark_start, goal, prior_ns)) => {
                let elapsed = mark_start.elapsed().as_nanos() as f64;
                let mine = prior_ns as f64 + self.inner.counters_running_ns();
                elapsed <= 0.0 || mine / elapsed > 1.2 * goal
            }
            None => false,
        }
    }
    fn flush_bg_credit(&self, scan_work: i64) {
        self.inner
            .assists
            .flush_bg_credit(scan_work, AssistRatios::of(&self.inner.pacer));
    }
    /// Go's gcDrain flushes its P's barrier buffer when it runs dry; a
    /// worker here has no P, so it takes what is waiting in any mutator's
    /// buffer it can lock without waiting (a mutator mid-operation, or a
    /// stop in progress, is skipped: the ragged flush will get it).
    fn flush_write_barriers(&self, m: &Marker, gcw: &mut GcWork) -> bool {
        let Ok(ms) = self.inner.mutators.try_lock() else {
            return false;
        };
        let mut any = false;
        for mu in ms.iter() {
            if let Ok(mut l) = mu.local.try_lock() {
                any |= l.wb.flush(m, gcw) > 0;
            }
        }
        any
    }
}

thread_local! {
    /// When the current fractional drain started (for its own poll).
    static DRAIN_START: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

impl Inner {
    fn counters_running_ns(&self) -> f64 {
        DRAIN_START.with(|s| s.get().map_or(0.0, |t| t.elapsed().as_nanos() as f64))
    }

    fn driver_loop(self: Arc<Self>) {
        loop {
            let kind = {
                let mut d = lock(&self.driver);
                loop {
                    if d.shutdown {
                        return;
                    }
                    match d.requested.take() {
                        // Go's gcTriggerCycle test: the cycle asked for has
                        // already started.
                        Some(GcTriggerKind::Cycle) if d.cycles_started >= d.cycle_wanted => {
                            self.driver_cv.notify_all();
                        }
                        Some(k) => break k,
                        None => {}
                    }
                    d = self.driver_cv.wait(d).unwrap_or_else(|p| p.into_inner());
                }
            };
            // Go's gcStart re-tests the trigger once it owns the start: a
            // request raised while the previous cycle was starting is stale.
            if kind == GcTriggerKind::Heap && !self.pacer.heap_trigger_reached() {
                self.driver_cv.notify_all();
                continue;
            }
            self.run_cycle(kind);
            let mut d = lock(&self.driver);
            d.cycles_done += 1;
            self.driver_cv.notify_all();
            drop(d);
            self.background_sweep();
        }
    }

    /// Go's `bgsweep`: between cycles the driver sweeps spans one at a time
    /// until none is left or a cycle is asked for (whose start finishes the
    /// sweep). Mutators sweep the spans of the classes they allocate from
    /// meanwhile (see `heap`'s spans).
    fn background_sweep(&self) {
        const SPANS_PER_CHECK: usize = 16;
        loop {
            {
                let d = lock(&self.driver);
                if d.requested.is_some() || d.shutdown {
                    return;
                }
            }
            for _ in 0..SPANS_PER_CHECK {
                if !self.heap.sweep_one(self.marker.bits()) {
                    return;
                }
            }
        }
    }

    /// Asks the driver for a cycle and waits until it has started (or the
    /// driver found the request stale). Go's allocating goroutine runs
    /// `gcStart` itself, so it and every other goroutine past the trigger
    /// stop allocating until marking is on; waiting here keeps mutators from
    /// running the heap far past the trigger while the driver gets going.
    fn request_cycle_and_wait(&self, kind: GcTriggerKind) {
        let mut d = lock(&self.driver);
        let started = d.cycles_started;
        if d.requested.is_none() {
            d.requested = Some(kind);
            self.driver_cv.notify_all();
        }
        while d.cycles_started == started && d.requested.is_some() && !d.shutdown {
            d = self.driver_cv.wait(d).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Runs `f` with the world stopped: every mutator between operations and
    /// no background worker draining. See the module documentation.
    fn with_world_stopped<R>(
        &self,
        f: impl FnOnce(&[Arc<MutatorShared>], &mut [MutexGuard<'_, MutatorLocal>]) -> R,
    ) -> R {
        self.stw_pending.store(true, SeqCst);
        let ms = lock(&self.mutators);
        let gate = self.drain_gate.write().unwrap_or_else(|p| p.into_inner());
        let mut locals: Vec<_> = ms.iter().map(|m| lock(&m.local)).collect();
        let r = f(&ms, &mut locals);
        drop(locals);
        drop(gate);
        drop(ms);
        let _g = lock(&self.stw_lock);
        self.stw_pending.store(false, SeqCst);
        self.stw_done.notify_all();
        r
    }

    /// A mutator's safepoint: waits while the world is being stopped.
    fn safepoint(&self) {
        if self.stw_pending.load(SeqCst) {
            let mut g = lock(&self.stw_lock);
            while self.stw_pending.load(SeqCst) {
                g = self.stw_done.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    fn now_ns(&self) -> i64 {
        self.epoch.elapsed().as_nanos() as i64
    }

    fn run_cycle(self: &Arc<Self>, kind: GcTriggerKind) {
        let t0 = Instant::now();
        self.counters.reset();
        // Go's gcStart: stop the world, reset assist credit, prepare roots,
        // turn the barrier on, start the pacer's cycle, enable blackening.
        let (heap_before, trigger, swept) = self.with_world_stopped(|ms, locals| {
            for l in locals.iter_mut() {
                self.flush_alloc(l);
            }
            for m in ms {
                m.credit.bytes.store(0, Relaxed);
            }
            let stack_bytes: u64 = self
                .heap
                .stacks()
                .iter()
                .map(|s| s.with(|v| v.len() as u64) * WORD_BYTES)
                .sum();
            let prev = self.reported_stack_bytes.swap(stack_bytes, Relaxed);
            self.pacer
                .add_scannable_stack(stack_bytes as i64 - prev as i64);
            let trigger = self.pacer.trigger().0;
            // Go's finishsweep_m: every span reads the last cycle's marks
            // before prepare_roots clears them.
            self.heap.finish_sweep(self.marker.bits());
            let swept = {
                let now = self.heap.sweep_counts();
                let last = std::mem::replace(&mut *lock(&self.last_sweep), now);
                SweepCounts {
                    freed_objects: now.freed_objects - last.freed_objects,
                    freed_bytes: now.freed_bytes - last.freed_bytes,
                    reused_objects: now.reused_objects - last.reused_objects,
                }
            };
            self.marker.prepare_roots();
            for c in &self.synced_scan_work {
                c.store(0, Relaxed);
            }
            self.barrier_on.store(true, SeqCst);
            self.workers_stop.store(false, SeqCst);
            self.pacer.start_cycle(self.now_ns(), self.procs, kind);
            self.assists.bg_scan_credit.store(0, SeqCst);
            self.pacer.set_gc_blacken_enabled(true);
            self.assists.set_blacken_enabled(true);
            lock(&self.driver).cycles_started += 1;
            let live = self.pacer.heap_live();
            self.counters.peak_live.store(live, Relaxed);
            (live, trigger, swept)
        });
        // Release mutators waiting for the start.
        self.driver_cv.notify_all();
        let goal = self.pacer.heap_goal();
        let dedicated = self.pacer.dedicated_mark_workers_needed().max(0);
        let fractional = self.pacer.fractional_utilization_goal();
        let mark_start = Instant::now();

        // Background workers for this cycle.
        let mut workers = Vec::new();
        for _ in 0..dedicated {
            let me = self.clone();
            workers.push(std::thread::spawn(move || me.background_worker(None)));
        }
        if fractional > 0.0 {
            // One thread carries the whole fractional share.
            let share = fractional * self.procs as f64;
            let me = self.clone();
            workers.push(std::thread::spawn(move || {
                me.background_worker(Some((mark_start, share)))
            }));
        }

        // Termination (gcMarkDone).
        let (marked, verified) = loop {
            std::thread::sleep(TERMINATION_POLL);
            self.sync_scan_work();
            if self.marker.work_available() || self.backend.has_pending_work() {
                continue;
            }
            // Ragged flush: one mutator at a time.
            let mut flushed = false;
            let ms: Vec<_> = lock(&self.mutators).clone();
            for m in &ms {
                let mut l = lock(&m.local);
                flushed |= self.flush_mutator(&mut l);
            }
            if flushed {
                self.counters.restarts.fetch_add(1, Relaxed);
                continue;
            }
            let done = self.with_world_stopped(|_, locals| {
                let mut again = false;
                for l in locals.iter_mut() {
                    again |= self.flush_mutator(l);
                }
                if again || self.marker.work_available() || self.backend.has_pending_work() {
                    return None;
                }
                // Marking is complete. Go's gcMarkDone/gcMarkTermination.
                self.assists.set_blacken_enabled(false);
                self.pacer.set_gc_blacken_enabled(false);
                self.workers_stop.store(true, SeqCst);
                self.barrier_on.store(false, SeqCst);
                for l in locals.iter_mut() {
                    self.flush_alloc(l);
                }
                self.sync_scan_work();
                self.pacer
                    .add_assist_time(self.counters.assist_ns.load(Relaxed) as i64);
                self.pacer.end_cycle(self.now_ns(), self.procs, kind == GcTriggerKind::Cycle);
                let bytes = self.marker.bytes_marked.load(Relaxed);
                self.pacer.reset_live(bytes);
                self.pacer.gc_controller_commit(true);
                let verified = self.verify.then(|| {
                    let reach = reachable(&self.heap);
                    match check_covers(self.marker.bits(), &reach) {
                        Ok(()) => true,
                        Err(e) => {
                            eprintln!(
                                "gpumark: cycle verification failed: {e} (allocation watermark {}, heap length {})",
                                self.marker.watermark(),
                                self.heap.len()
                            );
                            false
                        }
                    }
                });
                if let Some(hook) = &self.on_mark_termination {
                    hook(&MarkTermination {
                        cycle: lock(&self.stats).len() as u64 + 1,
                        heap: &self.heap,
                        marker: &self.marker,
                    });
                }
                // Go's gcSweep: every cache gives its spans back and every
                // span is to be swept against these marks.
                for l in locals.iter_mut() {
                    l.cache.release();
                }
                self.heap.start_sweep();
                Some((self.marker.bits().count(), verified))
            });
            if let Some(r) = done {
                break r;
            }
            self.counters.restarts.fetch_add(1, Relaxed);
        };
        for w in workers {
            let _ = w.join();
        }
        let mark_s = mark_start.elapsed().as_secs_f64();
        let mut park: Vec<u64> = lock(&self.counters.park_ns).clone();
        park.sort_unstable();
        let pct = |p: f64| -> f64 {
            if park.is_empty() {
                0.0
            } else {
                park[((park.len() - 1) as f64 * p).round() as usize] as f64 / 1e9
            }
        };
        let assist_s = self.counters.assist_ns.load(Relaxed) as f64 / 1e9;
        let background_s = self.counters.background_ns.load(Relaxed) as f64 / 1e9;
        let stats = CycleStats {
            cycle: lock(&self.stats).len() as u64 + 1,
            start_s: (t0 - self.epoch).as_secs_f64(),
            mark_s,
            heap_before,
            heap_peak: self.counters.peak_live.load(Relaxed),
            heap_after: self.marker.bytes_marked.load(Relaxed),
            heap_goal: goal,
            trigger,
            heap_scan_work: self.marker.heap_scan_work.load(Relaxed),
            stack_scan_work: self.marker.stack_scan_work.load(Relaxed),
            globals_scan_work: self.marker.globals_scan_work.load(Relaxed),
            assist_s,
            background_s,
            idle_s: 0.0,
            utilization: (assist_s + background_s) / (mark_s * self.procs as f64).max(1e-9),
            assists_parked: self.assists.parks.swap(0, Relaxed),
            assists: self.counters.assists.load(Relaxed),
            park_p50_s: pct(0.5),
            park_p99_s: pct(0.99),
            park_max_s: park.last().map_or(0.0, |&n| n as f64 / 1e9),
            termination_restarts: self.counters.restarts.load(Relaxed),
            marked,
            verified,
            procs: self.procs,
            dedicated_workers: dedicated,
            fractional_goal: fractional,
            swept_objects: swept.freed_objects,
            swept_bytes: swept.freed_bytes,
            reused_objects: swept.reused_objects,
            arena_objects: u64::from(self.heap.len()),
        };
        lock(&self.stats).push(stats);
    }

    /// Flushes a mutator's barrier buffer and work cache to the global
    /// lists; true if that made grey work visible (Go's `flushedWork`).
    fn flush_mutator(&self, l: &mut MutatorLocal) -> bool {
        l.wb.flush(&self.marker, &mut l.gcw);
        self.marker.dispose(&mut l.gcw);
        std::mem::take(&mut l.gcw.flushed_work)
    }

    /// Passes the scan work the marker's counters gained since the last call
    /// on to the pacer, whose `revise` and `end_cycle` read it (Go's workers
    /// add to `gcController.heapScanWork` directly; here the marker keeps
    /// its own counters so it can run without a pacer).
    fn sync_scan_work(&self) {
        let m = &self.marker;
        let now = [
            m.heap_scan_work.load(Relaxed),
            m.stack_scan_work.load(Relaxed),
            m.globals_scan_work.load(Relaxed),
        ];
        let mut d = [0i64; 3];
        for (i, (synced, v)) in self.synced_scan_work.iter().zip(now).enumerate() {
            d[i] = v - synced.swap(v, AcqRel);
        }
        self.pacer.add_heap_scan_work(d[0]);
        self.pacer.add_stack_scan_work(d[1]);
        self.pacer.add_globals_scan_work(d[2]);
    }

    /// Reports a mutator's unreported allocation to the pacer.
    fn flush_alloc(&self, l: &mut MutatorLocal) {
        if self.barrier_on.load(Relaxed) {
            self.sync_scan_work();
        }
        if l.alloc_unflushed != 0 || l.scan_unflushed != 0 {
            self.pacer.update(l.alloc_unflushed, l.scan_unflushed);
            l.alloc_unflushed = 0;
            l.scan_unflushed = 0;
            self.counters
                .peak_live
                .fetch_max(self.pacer.heap_live(), Relaxed);
        }
    }

    /// Go's `gcBgMarkWorker`: drains with `FLUSH_BG_CREDIT` until the cycle
    /// ends, yielding to stops; the fractional worker also stops when it has
    /// had its share and waits until it is owed more.
    fn background_worker(&self, fractional: Option<(Instant, f64)>) {
        let mut gcw = GcWork::new();
        let mut my_ns = 0u64;
        let mode = if fractional.is_some() {
            MarkWorkerMode::Fractional
        } else {
            MarkWorkerMode::Dedicated
        };
        while !self.workers_stop.load(Acquire) {
            if let Some((start, share)) = fractional {
                let elapsed = start.elapsed().as_nanos() as f64;
                if my_ns as f64 > share * elapsed {
                    std::thread::sleep(WORKER_IDLE_SLEEP);
                    continue;
                }
            }
            let gate = self.drain_gate.read().unwrap_or_else(|p| p.into_inner());
            if self.workers_stop.load(Acquire) {
                break;
            }
            if mode == MarkWorkerMode::Dedicated {
                // Go's findRunnableGCWorker claims a slot that
                // markWorkerStop gives back.
                self.pacer.try_claim_dedicated_worker();
            }
            let t = Instant::now();
            DRAIN_START.with(|s| s.set(Some(t)));
            let hooks = WorkerHooks {
                inner: self,
                fractional: fractional.map(|(s, g)| (s, g, my_ns)),
            };
            let mut flags = DrainFlags::UNTIL_PREEMPT | DrainFlags::FLUSH_BG_CREDIT;
            if fractional.is_some() {
                flags |= DrainFlags::FRACTIONAL;
            }
            let before = self.marker.heap_scan_work.load(Relaxed);
            self.backend.drain(&self.marker, &mut gcw, flags, &hooks);
            self.marker.dispose(&mut gcw);
            DRAIN_START.with(|s| s.set(None));
            drop(gate);
            let ns = t.elapsed().as_nanos() as u64;
            my_ns += ns;
            self.counters.background_ns.fetch_add(ns, Relaxed);
            let _ = self.pacer.mark_worker_stop(mode, ns as i64);
            if self.marker.heap_scan_work.load(Relaxed) == before {
                // Found nothing: wait a little before looking again.
                std::thread::sleep(WORKER_IDLE_SLEEP);
            } else if self.stw_pending.load(Relaxed) {
                std::thread::yield_now();
            }
        }
    }
}

/// A mutator thread's handle: allocation, pointer reads and writes, and its
/// stack of roots. Dropping it unregisters the mutator, flushing its barrier
/// buffer and donating its remaining assist credit.
///
/// Every operation is a safepoint: it waits while the collector stops the
/// world, and a cycle may start or end there. As in Go, where the compiler
/// keeps every live pointer in a scanned stack slot at a safepoint, a
/// reference the mutator needs across operations must be in its stack or
/// reachable from it: an [`ObjRef`] held only in a Rust variable is a
/// register, not a root.
pub struct Mutator {
    inner: Arc<Inner>,
    shared: Arc<MutatorShared>,
}

impl Mutator {
    fn enter(&self) -> MutexGuard<'_, MutatorLocal> {
        self.inner.safepoint();
        lock(&self.shared.local)
    }

    /// Explicit safepoint: answers a pending stop of the world.
    pub fn safepoint(&self) {
        drop(self.enter());
    }

    /// Allocates an object of `size` bytes with `nslots` nil pointer slots.
    ///
    /// While marking, this first charges `size` to the mutator's assist
    /// credit and assists if in debt (Go's `deductAssistCredit`), and the new
    /// object is black.
    ///
    /// The returned reference lives in a Rust variable, which the collector
    /// cannot see: like a register, it is no root. If a cycle starts before
    /// it is stored somewhere scanned, and the stack is scanned before it is
    /// pushed, the object stays white. Use [`Mutator::alloc_root`] or
    /// [`Mutator::alloc_into`], which store the new reference in the same
    /// operation, unless nothing can start a cycle in between.
    pub fn alloc(&self, size: u32, nslots: u32) -> Result<ObjRef, CollectorError> {
        self.alloc_to(size, nslots, Dest::Nowhere)
    }

    /// Allocates an object and stores its reference in stack root `index`,
    /// in one operation (no safepoint in between).
    pub fn alloc_root(
        &self,
        index: usize,
        size: u32,
        nslots: u32,
    ) -> Result<ObjRef, CollectorError> {
        self.alloc_to(size, nslots, Dest::Root(index))
    }

    /// Allocates an object and stores its reference into slot `slot` of
    /// `obj` through the write barrier, in one operation.
    pub fn alloc_into(
        &self,
        obj: ObjRef,
        slot: u32,
        size: u32,
        nslots: u32,
    ) -> Result<ObjRef, CollectorError> {
        self.alloc_to(size, nslots, Dest::Slot(obj, slot))
    }

    fn alloc_to(&self, size: u32, nslots: u32, dest: Dest) -> Result<ObjRef, CollectorError> {
        let inner = &*self.inner;
        if inner.assists.blacken_enabled.load(Relaxed) {
            let c = self.shared.credit.bytes.fetch_sub(i64::from(size), AcqRel) - i64::from(size);
            if c < 0 {
                self.assist();
            }
        }
        let mut l = self.enter();
        // Check the destination before allocating: nothing half-applied.
        match dest {
            Dest::Nowhere => {}
            Dest::Root(index) => self.check_root(index)?,
            Dest::Slot(o, slot) => {
                inner.heap.load(o, slot)?;
            }
        }
        let obj = inner
            .heap
            .alloc_cached(&mut l.cache, size, nslots, inner.marker.bits())?;
        if inner.barrier_on.load(Relaxed) {
            inner.marker.mark_new_object(obj, &mut l.gcw);
        }
        match dest {
            Dest::Nowhere => {}
            Dest::Root(index) => self.shared.stack.with(|s| s[index] = obj.0 + 1),
            Dest::Slot(o, slot) => self.store_barriered(&mut l, o, slot, Some(obj))?,
        }
        l.alloc_unflushed += i64::from(size);
        l.scan_unflushed += i64::from(nslots) * WORD_BYTES as i64;
        if l.alloc_unflushed >= ALLOC_FLUSH_BYTES {
            inner.flush_alloc(&mut l);
            if !inner.barrier_on.load(Relaxed) && inner.pacer.heap_trigger_reached() {
                // The new object is reachable only from this operation's
                // destination; release the mutator before waiting, so the
                // start can stop the world.
                drop(l);
                inner.request_cycle_and_wait(GcTriggerKind::Heap);
            }
        }
        Ok(obj)
    }

    fn check_root(&self, index: usize) -> Result<(), CollectorError> {
        let len = self.shared.stack.with(|s| s.len());
        if index < len {
            Ok(())
        } else {
            Err(CollectorError::NoSuchRoot { index, len })
        }
    }

    /// Go's `gcAssistAlloc`: pays this mutator's debt by stealing background
    /// credit, draining, or parking. See `assist`.
    fn assist(&self) {
        let inner = &*self.inner;
        let credit = &self.shared.credit;
        loop {
            let r = AssistRatios::of(&inner.pacer);
            let (want, debt_bytes) = assist_work_for_debt(credit.bytes.load(Acquire), r);
            let scan_work = inner.assists.steal(credit, want, debt_bytes, r);
            inner.counters.assists.fetch_add(1, Relaxed);
            if scan_work == 0 {
                return;
            }
            // gcAssistAlloc1.
            if !inner.assists.blacken_enabled.load(Acquire) {
                // The cycle ended: any remaining debt is forgiven.
                credit.bytes.store(0, Release);
                return;
            }
            let t = Instant::now();
            {
                let mut l = self.enter();
                let l = &mut *l;
                // Our own barrier buffer first (Go's wbBufFlush for this P).
                l.wb.flush(&inner.marker, &mut l.gcw);
                let done = inner
                    .backend
                    .drain_n(&inner.marker, &mut l.gcw, scan_work, &NoHooks);
                credit.bytes.fetch_add(credit_for_work(done, r), AcqRel);
                // Make what the drain left grey visible to the workers.
                inner.marker.dispose(&mut l.gcw);
            }
            inner
                .counters
                .assist_ns
                .fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
            if credit.bytes.load(Acquire) >= 0 {
                return;
            }
            // Out of work and still in debt: park until background credit
            // pays us or the cycle ends.
            let t = Instant::now();
            match inner.assists.park(credit) {
                ParkOutcome::Retry => continue,
                ParkOutcome::Woken => {
                    lock(&inner.counters.park_ns).push(t.elapsed().as_nanos() as u64);
                    return;
                }
                ParkOutcome::CycleOver => return,
            }
        }
    }

    /// Reads slot `slot` of `obj`. No read barrier: Go has none.
    pub fn read(&self, obj: ObjRef, slot: u32) -> Result<Option<ObjRef>, CollectorError> {
        let _l = self.enter();
        Ok(self.inner.heap.load(obj, slot)?)
    }

    /// Reads slot `slot` of `obj` into stack root `index`, in one operation,
    /// and returns the value. Use this rather than [`Mutator::read`] followed
    /// by [`Mutator::set_root`] when another mutator may overwrite the slot:
    /// in between, the value is held only in a Rust variable, and a cycle
    /// that starts there would scan this stack without it.
    pub fn load_root(
        &self,
        obj: ObjRef,
        slot: u32,
        index: usize,
    ) -> Result<Option<ObjRef>, CollectorError> {
        let _l = self.enter();
        self.check_root(index)?;
        let v = self.inner.heap.load(obj, slot)?;
        self.shared.stack.with(|s| s[index] = ObjRef::encode(v));
        Ok(v)
    }

    /// Writes `val` into slot `slot` of `obj`, through the write barrier
    /// while marking (both the old and the new value are shaded).
    pub fn write(&self, obj: ObjRef, slot: u32, val: Option<ObjRef>) -> Result<(), CollectorError> {
        let mut l = self.enter();
        self.store_barriered(&mut l, obj, slot, val)
    }

    fn store_barriered(
        &self,
        l: &mut MutatorLocal,
        obj: ObjRef,
        slot: u32,
        val: Option<ObjRef>,
    ) -> Result<(), CollectorError> {
        let old = self.inner.heap.store(obj, slot, val)?;
        self.barrier(l, old, val);
        Ok(())
    }

    /// Go's hybrid write barrier for a write that replaced `old` with `new`:
    /// while marking, both go into this mutator's barrier buffer. Recorded
    /// before the operation releases the mutator, so the collector cannot
    /// finish marking without seeing them.
    fn barrier(&self, l: &mut MutatorLocal, old: Option<ObjRef>, new: Option<ObjRef>) {
        let inner = &*self.inner;
        if inner.barrier_on.load(Relaxed) && l.wb.record(ObjRef::encode(old), ObjRef::encode(new)) {
            l.wb.flush(&inner.marker, &mut l.gcw);
            // Our greys go where background workers can take them.
            inner.marker.dispose(&mut l.gcw);
        }
    }

    /// Global root `index`. No read barrier: Go has none.
    pub fn global(&self, index: usize) -> Result<Option<ObjRef>, CollectorError> {
        let _l = self.enter();
        Ok(self.inner.heap.global(index)?)
    }

    /// Writes `val` into global root `index`, through the write barrier while
    /// marking (both the old and the new value are shaded).
    ///
    /// Globals are scanned once per cycle by markroot jobs, like stacks, but
    /// unlike a stack any mutator may write them at any time, so Go keeps
    /// them behind the barrier. Without it, a mutator that moves an object
    /// from its stack into a global after the globals were scanned, and back
    /// after its stack was scanned, holds an object neither scan saw.
    pub fn set_global(&self, index: usize, val: Option<ObjRef>) -> Result<(), CollectorError> {
        let mut l = self.enter();
        let old = self.inner.heap.set_global(index, val)?;
        self.barrier(&mut l, old, val);
        Ok(())
    }

    /// Reads global root `index` into stack root `root`, in one operation,
    /// and returns the value (see [`Mutator::load_root`] for why one
    /// operation).
    pub fn load_global_root(
        &self,
        index: usize,
        root: usize,
    ) -> Result<Option<ObjRef>, CollectorError> {
        let _l = self.enter();
        self.check_root(root)?;
        let v = self.inner.heap.global(index)?;
        self.shared.stack.with(|s| s[root] = ObjRef::encode(v));
        Ok(v)
    }

    /// Pushes a root onto the stack.
    pub fn push_root(&self, val: Option<ObjRef>) {
        let _l = self.enter();
        self.shared.stack.with(|s| s.push(ObjRef::encode(val)));
    }

    /// Pops the top root.
    pub fn pop_root(&self) -> Option<Option<ObjRef>> {
        let _l = self.enter();
        self.shared.stack.with(|s| s.pop().map(ObjRef::decode))
    }

    /// Root `index` of the stack.
    pub fn root(&self, index: usize) -> Result<Option<ObjRef>, CollectorError> {
        let _l = self.enter();
        self.shared.stack.with(|s| {
            s.get(index)
                .map(|&v| ObjRef::decode(v))
                .ok_or(CollectorError::NoSuchRoot {
                    index,
                    len: s.len(),
                })
        })
    }

    /// Replaces root `index` of the stack. Stacks need no barrier.
    pub fn set_root(&self, index: usize, val: Option<ObjRef>) -> Result<(), CollectorError> {
        let _l = self.enter();
        self.shared.stack.with(|s| {
            let len = s.len();
            let slot = s
                .get_mut(index)
                .ok_or(CollectorError::NoSuchRoot { index, len })?;
            *slot = ObjRef::encode(val);
            Ok(())
        })
    }

    /// Roots on the stack.
    pub fn stack_len(&self) -> usize {
        self.shared.stack.with(|s| s.len())
    }

    /// `obj`'s allocation generation (see [`Heap::generation`]): a reference
    /// that saw one generation and later sees another was freed and its
    /// index reused, which a correct collector never does to a reference
    /// the program holds.
    pub fn generation(&self, obj: ObjRef) -> Result<u32, CollectorError> {
        let _l = self.enter();
        Ok(self.inner.heap.generation(obj)?)
    }

    /// This mutator's assist credit in bytes (negative: debt).
    pub fn assist_credit(&self) -> i64 {
        self.shared.credit.bytes.load(Acquire)
    }
}

impl fmt::Debug for Mutator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutator")
            .field("assist_credit", &self.assist_credit())
            .field("stack_len", &self.stack_len())
            .finish_non_exhaustive()
    }
}

impl Drop for Mutator {
    fn drop(&mut self) {
        let inner = &*self.inner;
        {
            let mut l = self.enter();
            inner.flush_mutator(&mut l);
            inner.flush_alloc(&mut l);
        }
        inner
            .assists
            .donate(&self.shared.credit, AssistRatios::of(&inner.pacer));
        lock(&inner.mutators).retain(|m| !Arc::ptr_eq(m, &self.shared));
        inner.heap.remove_stack(&self.shared.stack);
    }
}
