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
//! The modules follow Go's mechanisms, one each:
//!
//! | module | holds | Go counterpart |
//! |---|---|---|
//! | `start` | the driver loop, [`Collector::gc`], stopping the world, the cycle start | `gcStart`, `stopTheWorld`, `runtime.GC`, `bgsweep` |
//! | `worker` | background mark workers | `gcBgMarkWorker`, `findRunnableGCWorker` |
//! | `wake` | waking workers for new work and the driver for termination | `enlistWorker`, the `gcMarkDone` completion point |
//! | `termination` | the end of marking, [`MarkTermination`] | `gcMarkDone`, `gcMarkTermination`, `gcSweep` |
//! | `mutator` | [`Mutator`]: allocation, barriered writes, roots | `mallocgc`, `gcWriteBarrier`, `gcmarknewobject` |
//! | `assist_alloc` | a mutator's assists | `gcAssistAlloc`, `gcAssistAlloc1` |
//! | `trace` | [`CycleStats`] and its trace line | `gctrace` in `gcMarkTermination` |
//!
//! ## Stopping the world
//!
//! Go stops the world by preempting every P. Here every mutator operation
//! runs under that mutator's own lock (uncontended: only the collector ever
//! takes it from another thread), and background workers drain under a
//! shared gate. Holding every mutator lock and the gate exclusively is
//! therefore a stop-the-world: no mutator is between the steps of an
//! allocation or a barriered write, and no worker holds grey work. A flag
//! asks mutators to wait before starting their next operation, and every
//! drain, a worker's or an assist's, to return within an object's scan (Go's
//! `gp.preempt`), so the collector is neither starved nor kept waiting for
//! a whole drain. Cycles start and end under such a stop.
//!
//! ## A cycle
//!
//! 1. Start (Go's `gcStart`), world stopped: reset every mutator's assist
//!    credit, prepare root jobs and the allocation watermark, turn the write
//!    barrier on, start the pacer's cycle, enable blackening. The barrier is
//!    on before any object can be blackened.
//! 2. Mark: background workers, scheduled by the pacer as dedicated or
//!    fractional, drain with `FLUSH_BG_CREDIT` (their credit pays parked
//!    assists first); mutators that allocate while in debt assist
//!    (`drain_n`) or park; every pointer write shades old and new values
//!    into the mutator's barrier buffer; objects allocated now are black.
//!    Nothing polls: a worker with nothing to do sleeps until work is
//!    published or its turn comes, and the drain that ends the last stretch
//!    of marking with no work left wakes the driver (see `wake`).
//! 3. Termination (Go's `gcMarkDone`), run by the driver when so woken:
//!    with no drain running and no grey work visible, flush every mutator's
//!    barrier buffer and work cache one at a time (the ragged barrier). If
//!    that produced any grey work, look again. Otherwise stop the world and
//!    check again, exactly this time: every barrier buffer, work cache,
//!    global list, root job and backend queue empty. Only then does the
//!    cycle end: blackening off, every parked assist woken, the barrier
//!    off, the pacer's `end_cycle` feedback, the heap's live size reset to
//!    what was marked.
//!
//! Nothing reachable stays white: every grey object is in some work cache,
//! list, barrier buffer or backend queue, and the exact check under the stop
//! sees all of them.

mod assist_alloc;
mod mutator;
mod start;
mod termination;
mod trace;
mod wake;
mod worker;

pub use mutator::Mutator;
pub use termination::{MarkTermination, MarkTerminationHook};
pub use trace::CycleStats;

use crate::assist::{AssistCredit, AssistQueue};
use crate::heap::{Heap, HeapError, HeapView, SweepCounts, WORD_BYTES};
use crate::mark::Marker;
use crate::pacer::{Pacer, PacerConfig, PacerError};
use crate::scan::{CpuScan, ScanBackend};
use mutator::{MutatorLocal, MutatorShared};
use start::DriverState;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;
use thiserror::Error;
use trace::CycleCounters;
use wake::Wakeups;

/// Bytes a mutator allocates before reporting them to the pacer (Go reports
/// heap-live changes when an mcache refills a span; this is the span-sized
/// batch that keeps the pacer's atomics cold).
pub const ALLOC_FLUSH_BYTES: i64 = 8 << 10;

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

/// The state every thread of a collector shares: the driver, background
/// workers, and every [`Mutator`].
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
    /// Sleeping workers and the driver, and how they are woken.
    wake: Arc<Wakeups>,
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
        let marker = Marker::new(heap.clone());
        let wake = Arc::new(Wakeups::default());
        // Go's putfull callers run enlistWorker: published work wakes a
        // sleeping worker (see `wake`). The hook holds the wake-up state
        // only, so the marker does not keep the collector alive.
        let w = wake.clone();
        marker
            .lists()
            .set_enlist(Box::new(move || w.enlist_worker()));
        let inner = Arc::new(Inner {
            marker,
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
            wake,
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

/// Locks `m`, ignoring poisoning: every lock here guards state that a panic
/// cannot leave half-changed (counters, lists of handles), so a panicking
/// mutator must not take the collector down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    /// Nanoseconds since the collector started: the pacer's clock.
    fn now_ns(&self) -> i64 {
        self.epoch.elapsed().as_nanos() as i64
    }

    /// Passes the scan work the marker's counters gained since the last call
    /// on to the pacer, whose `revise` and `end_cycle` read it (Go's workers
    /// add to `gcController.heapScanWork` directly; here the marker keeps
    /// its own counters so it can run without a pacer).
    fn sync_scan_work(&self) {
        let m = &self.marker;
        let now = [
            m.heap_scan_work(),
            m.stack_scan_work(),
            m.globals_scan_work(),
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

    /// Reports a mutator's unreported assist time to the pacer.
    fn flush_assist_time(&self, l: &mut MutatorLocal) {
        if l.assist_ns_unflushed != 0 {
            self.pacer
                .add_assist_time(std::mem::take(&mut l.assist_ns_unflushed));
        }
    }

    /// Flushes a mutator's barrier buffer and work cache to the global
    /// lists; true if that made grey work visible (Go's `flushedWork`).
    fn flush_mutator(&self, l: &mut MutatorLocal) -> bool {
        l.wb.flush(&self.marker, &mut l.gcw);
        self.marker.dispose(&mut l.gcw);
        l.gcw.take_flushed_work()
    }
}
