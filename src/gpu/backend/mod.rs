//! [`GpuScan`]: the GPU under `drain` and `drain_n`. There is no Go
//! counterpart; it is a scan step ([`ScanBackend::scan`]) under Go's own
//! loops (`Marker::drain_with`, `Marker::drain_n_with`), which keep every
//! part of `gcDrain` / `gcDrainN`'s protocol: flags, root jobs, stop
//! checks, barrier flushes, credit.
//!
//! # Who does what
//!
//! The host keeps everything Go keeps on its Ps: root jobs (markroot), the
//! write barrier, assist credit and the pacer. The GPU does the bulk heap
//! scanning. One step:
//!
//! 1. takes the mirror's lock: **one submitter at a time**. A step that must
//!    not wait (`drain_n`: an assist) and finds another worker's batch
//!    running returns [`Step::Busy`] at once, with its items given back;
//! 2. at the first step of a new mark phase ([`Marker::phase`] changed;
//!    [`ScanBackend::phase_start`] does it ahead), brings the mirror up to
//!    date (`sync.rs`), clears the GPU bitmap and queue and sets the
//!    allocation watermark;
//! 3. moves the host's greys (the items the loop took, the caller's cache
//!    and the global full list) to the device: objects the GPU may have
//!    marked itself go to the **inbox**, which the batch's first pass
//!    shades in the GPU bitmap; objects the host owns go straight into the
//!    GPU queue (`shadow.rs` states the rules and the invariants);
//! 4. runs one batch (many levels in one submission) within the step's
//!    budget, and reads back **only its counter block**: scan work, objects
//!    and bytes marked, duplicates the inbox dropped and their bytes. The
//!    scan work and bytes are charged to the caller's `GcWork`, so the loop
//!    flushes them to the marker and to background credit as CPU work.
//!
//! # The bitmap crosses the bus
//!
//! The GPU bitmap is downloaded and merged into the host's only at a
//! hand-off to the CPU, at the end of marking ([`ScanBackend::settle`], from
//! the collector's mark termination or the end of a stop-the-world mark),
//! and, in a concurrent phase (a drain with a budget), when the GPU queue
//! runs empty after the GPU has done more scan work since the last such
//! *idle merge* than before it (so the first time it runs empty, and then
//! each time the marked part of the heap has doubled).
//! Between merges the host's bitmap lacks the GPU's marks. Nothing reads it
//! but the write barrier and the roots, which only grey more: each such grey
//! sent to the inbox is dropped there if the GPU has its object. But
//! without idle merges, every barrier shade of an object the GPU marked
//! would be new grey work to the host until the end, and Go's termination
//! (no grey work after a ragged flush) would chase the mutators' writes
//! instead of converging. One idle merge is not enough: the queue can run
//! empty early (before the root jobs have greyed much), and an idle merge
//! then brings almost nothing (with 2 mutators on lavapipe, the first cycle
//! of 2 runs in 16 chased them until the arena filled). After the idle
//! merge that follows the bulk, a shade finds grey work only where Go's
//! would, or where the GPU marked since (at most as much as before it). A
//! stop-the-world mark has no barrier and has no idle merges. So a cycle
//! moves the bitmap at most `2 + log2(W / w)` times (`W` the cycle's GPU
//! scan work, `w` the first idle merge's), and a batch reads back only its
//! counters.
//!
//! # What termination must see
//!
//! Grey work lives in workers' caches, the global lists, barrier buffers
//! (the collector's ragged barrier finds those), the inbox and the GPU
//! queue. The inbox is sent with the batch of the same step, so between
//! steps it is empty; the GPU queue's length after each batch is published
//! for [`ScanBackend::has_pending_work`] without the lock. The drains step
//! the backend while it has pending work, and the collector does not end
//! the cycle while it has.
//!
//! # Narrow frontiers ([`OffloadPolicy::Auto`])
//!
//! When the GPU queue plus the host's queues hold fewer than the threshold
//! `T` of items ([`OffloadModel::threshold`], measured; see `offload.rs`),
//! the step switches to mode *CPU* (`handoff.rs`): it takes the whole GPU
//! queue back ([`HeapMirror::take_queue`]), merges `G` into `H` (now
//! `H ⊇ G` and the GPU is idle, so `H` is authoritative), and from then on
//! scans the loop's items on the CPU (`scanobject`), skipping stale copies.
//! When the host queues exceed `HANDOFF_HYSTERESIS × T`, it uploads all of
//! `H` into `G` and returns to mode *GPU*. The factor keeps a frontier that
//! hovers near `T` from bouncing, since each switch moves a bitmap.
//! [`OffloadPolicy::Always`] never switches.
//!
//! A GPU that never pays: when `T` exceeds the most grey items the heap can
//! ever hold, every phase would start with a hand-off and never come back.
//! Such a phase skips the GPU altogether (no bitmap, no queue, no lock):
//! every worker's step is `scanobject` on its own thread, in parallel.
//!
//! # Device loss and out-of-memory
//!
//! Any GPU error during a phase is reported once (`log::warn!`, and
//! [`GpuScanStats::device_lost`]); the backend is then dead and every later
//! step scans on the CPU. The phase finishes exactly (`recovery.rs`): the
//! host keeps a copy of every item it sent to the device since the last
//! merge, and everything the GPU marked since is reachable from them; the
//! recovery re-greys them on the host and takes the unmerged batches' scan
//! work and bytes back from the counters, and the CPU then marks what the
//! lost bitmap held, skipping stale copies by the shadow's rule 3.
//!
//! # Limits
//!
//! - One mark phase at a time: a new phase (or another marker) resets the
//!   GPU state, abandoning any GPU work of the previous phase.
//! - In mode CPU only the lock's holder scans (a step at a time), so the
//!   mode cannot change under a scan.
//! - Slot writes are seen through the heap's dirty cards: writers that store
//!   through `Heap::raw_slots` must call [`Heap::note_slot_write`].

mod handoff;
mod recovery;
mod shadow;
mod stats;
mod step;
mod sync;

pub use stats::{GpuScanOptions, GpuScanStats};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock, TryLockError, Weak};
use std::time::Instant;

use self::shadow::{Merge, Shadow};
use self::stats::INITIAL_BATCH_LEVELS;
use super::{AdapterDescription, GpuContext, GpuError, HeapMirror, OffloadModel, OffloadPolicy};
use crate::heap::Heap;
use crate::mark::{GcWork, GreyItem, Marker};
use crate::scan::{Budget, CpuScan, ScanBackend, Step};

/// Who is scanning in the current phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The GPU: host greys are sent to it.
    Gpu,
    /// The CPU, after a hand-off: the GPU queue is empty and `H ⊇ G`.
    Cpu,
}

/// Everything behind the lock.
#[derive(Debug)]
struct State {
    mirror: Option<HeapMirror>,
    /// The heap `mirror` mirrors (or refused); a `Weak` keeps its address
    /// from being reused by another heap while we compare against it.
    heap: Weak<Heap>,
    /// Objects `0..objects_uploaded` and slots `0..slots_uploaded` are on
    /// the GPU.
    objects_uploaded: u32,
    slots_uploaded: usize,
    /// The heap could not be mirrored: mark it on the CPU.
    heap_refused: bool,
    /// The phase the GPU state belongs to.
    phase: Option<u64>,
    mode: Mode,
    /// The host's knowledge of the GPU bitmap.
    shadow: Shadow,
    /// GPU scan work of this phase that idle merges have brought into the
    /// host's bitmap (see "The bitmap crosses the bus" in the module doc).
    idle_merged_work: u64,
    /// Host items sent to the device since the last merge (recovery).
    pushed: Vec<GreyItem>,
    /// Scan work and bytes (net of duplicates) the batches since the last
    /// merge charged.
    since_merge_work: u64,
    since_merge_bytes: u64,
    /// Levels the next batch may run.
    levels: u32,
    /// Items the last batch of this phase scanned (0 before the first):
    /// whether the next is likely to run the queue dry.
    last_batch_items: u64,
    /// Measured GPU scan rate (scan work per second), for drain budgets.
    gpu_rate: Option<f64>,
    /// The cost model behind the hand-off threshold (Auto, calibrated once).
    model: Option<OffloadModel>,
    /// Seconds, items and slots of CPU steps not yet shown to the model.
    cpu_sample: (f64, u64, u64),
    /// Test hook (`inject_device_lost_after`, feature `testing`): fail the
    /// batch after this many more.
    inject_after: Option<u32>,
}

impl State {
    fn new() -> State {
        State {
            mirror: None,
            heap: Weak::new(),
            objects_uploaded: 0,
            slots_uploaded: 0,
            heap_refused: false,
            phase: None,
            mode: Mode::Gpu,
            shadow: Shadow::default(),
            idle_merged_work: 0,
            pushed: Vec::new(),
            since_merge_work: 0,
            since_merge_bytes: 0,
            levels: INITIAL_BATCH_LEVELS,
            last_batch_items: 0,
            gpu_rate: None,
            model: None,
            cpu_sample: (0.0, 0, 0),
            inject_after: None,
        }
    }

    fn mirror(&mut self) -> Result<&mut HeapMirror, GpuError> {
        self.mirror
            .as_mut()
            .ok_or_else(|| GpuError::Internal("no heap mirror in a GPU phase".into()))
    }

    fn queue_len(&self) -> u64 {
        self.mirror.as_ref().map_or(0, |m| u64::from(m.queue_len()))
    }

    fn is_heap(&self, heap: &Arc<Heap>) -> bool {
        std::ptr::eq(self.heap.as_ptr(), Arc::as_ptr(heap))
    }

    /// Forgets the recovery records (a merge, or a new phase).
    fn clear_records(&mut self) {
        self.pushed.clear();
        self.since_merge_work = 0;
        self.since_merge_bytes = 0;
    }
}

/// A [`ScanBackend`] that scans on a GPU. See the module documentation for
/// the protocol.
///
/// # Examples
///
/// ```no_run
/// use gpumark::gpu::{GpuScan, GpuScanOptions, OffloadPolicy};
/// use gpumark::heap::{build, Shape, ShapeSpec};
/// use gpumark::mark::mark_stw_with;
/// use std::sync::Arc;
///
/// let heap = Arc::new(build(&ShapeSpec {
///     shape: Shape::Random, objects: 100_000, ptrs: 4, roots: 16, seed: 1,
/// }));
/// let gpu = GpuScan::new(&GpuScanOptions {
///     policy: OffloadPolicy::Always,
///     ..GpuScanOptions::default()
/// })?;
/// let r = mark_stw_with(&heap, 1, &gpu);
/// println!("{} objects marked, {:.0}% of the scan work on {}",
///     r.marked, 100.0 * gpu.stats().gpu_scan_fraction(), gpu.adapter().name);
/// # Ok::<(), gpumark::gpu::GpuError>(())
/// ```
#[derive(Debug)]
pub struct GpuScan {
    ctx: GpuContext,
    policy: OffloadPolicy,
    fixed_threshold: Option<u64>,
    state: Mutex<State>,
    /// GPU queue length as of the last change, for `has_pending_work`
    /// without the lock.
    queued: AtomicU64,
    /// Set once a GPU error ended the GPU path for good.
    dead: AtomicBool,
    /// The phase the device died in, and the objects whose host grey copies
    /// the CPU finish of that phase skips (see `recovery.rs`).
    dead_skip: OnceLock<(u64, Vec<u32>)>,
    /// A phase marked on the CPU without the lock (its heap was refused, or
    /// the GPU never pays): its [`Marker::phase`] token, 0 for none.
    cpu_phase: AtomicU64,
    /// Heap scan work done on the CPU by this backend's steps, kept apart
    /// from `stats` so parallel CPU steps share no lock.
    cpu_scan_work: AtomicU64,
    stats: Mutex<GpuScanStats>,
}

static NO_GPU: Once = Once::new();

impl GpuScan {
    /// Opens a device as `opts.gpu` says and returns a backend on it. The
    /// heap mirror is created at the first phase (or by
    /// [`GpuScan::prepare`]), when the heap's capacity is known.
    ///
    /// # Errors
    /// As [`GpuContext::new`]: [`GpuError::NoAdapter`] and friends.
    pub fn new(opts: &GpuScanOptions) -> Result<GpuScan, GpuError> {
        Ok(GpuScan::with_context(GpuContext::new(&opts.gpu)?, opts))
    }

    /// A backend on an already opened context (`opts.gpu` is not used).
    pub fn with_context(ctx: GpuContext, opts: &GpuScanOptions) -> GpuScan {
        GpuScan {
            ctx,
            policy: opts.policy,
            fixed_threshold: opts.handoff_threshold,
            state: Mutex::new(State::new()),
            queued: AtomicU64::new(0),
            dead: AtomicBool::new(false),
            dead_skip: OnceLock::new(),
            cpu_phase: AtomicU64::new(0),
            cpu_scan_work: AtomicU64::new(0),
            stats: Mutex::new(GpuScanStats::default()),
        }
    }

    /// A GPU backend if a device can be opened, else the CPU backend, after
    /// saying once per process through `log` that there is no GPU and the
    /// CPU path is used (`info` when there is no adapter, `warn` when one
    /// failed to open).
    pub fn new_or_cpu(opts: &GpuScanOptions) -> Box<dyn ScanBackend> {
        match GpuScan::new(opts) {
            Ok(g) => Box::new(g),
            Err(e) => {
                NO_GPU.call_once(|| match e {
                    GpuError::NoAdapter { .. } => {
                        log::info!("gpumark: no GPU adapter: using the CPU path ({e})")
                    }
                    _ => log::warn!("gpumark: GPU unavailable ({e}): using the CPU path"),
                });
                Box::new(CpuScan)
            }
        }
    }

    /// The adapter this backend runs on (name, backend, device type).
    pub fn adapter(&self) -> &AdapterDescription {
        self.ctx.description()
    }

    /// The device context.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The offload policy.
    pub fn policy(&self) -> OffloadPolicy {
        self.policy
    }

    /// What the backend has done so far.
    pub fn stats(&self) -> GpuScanStats {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        s.cpu_scan_work += self.cpu_scan_work.load(Relaxed);
        s
    }

    /// Zeroes the statistics (a benchmark between runs); the device-loss and
    /// refused-heap notes are kept.
    pub fn reset_stats(&self) {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        *s = GpuScanStats {
            device_lost: s.device_lost.take(),
            heap_refused: s.heap_refused.take(),
            ..GpuScanStats::default()
        };
        self.cpu_scan_work.store(0, Relaxed);
    }

    /// The measured cost model, once calibrated ([`OffloadPolicy::Auto`]
    /// without a fixed threshold, after the first phase or `prepare`).
    pub fn offload_model(&self) -> Option<OffloadModel> {
        self.lock().model
    }

    /// The hand-off threshold in grey items now in force: `None` with
    /// [`OffloadPolicy::Always`] or before calibration, `Some(u64::MAX)` when
    /// the GPU never pays.
    pub fn handoff_threshold(&self) -> Option<u64> {
        let st = self.lock();
        self.threshold(&st)
    }

    /// The error that ended the GPU path, if one did.
    pub fn device_lost(&self) -> Option<String> {
        self.stats().device_lost
    }

    /// True while a step holds the device (a batch in flight, a hand-off, a
    /// merge): a `drain_n` arriving now returns [`Step::Busy`] from its step
    /// instead of waiting.
    pub fn busy(&self) -> bool {
        matches!(self.state.try_lock(), Err(TryLockError::WouldBlock))
    }

    /// True once a GPU error has ended the GPU path: every call runs the CPU
    /// engine.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Acquire)
    }

    /// Creates the mirror for `heap` and uploads it now, so the first mark
    /// phase does not pay for it (and calibrates the offload model under
    /// [`OffloadPolicy::Auto`]). Call it between phases.
    ///
    /// # Errors
    /// [`GpuError::HeapTooLarge`] naming the array, its size and the limit
    /// when the heap cannot fit the adapter (the heap is then marked on the
    /// CPU), and device failures (the backend is then dead).
    pub fn prepare(&self, heap: &Arc<Heap>) -> Result<(), GpuError> {
        let mut st = self.lock();
        self.ensure_mirror(&mut st, heap)?;
        let wm = heap.len();
        let r = self
            .upload_heap(&mut st, heap, wm)
            .and_then(|()| self.ensure_model(&mut st));
        if let Err(e) = &r {
            self.declare_dead(e);
            st.mirror = None;
        }
        r
    }

    /// Makes the GPU fail, as a lost device does, at the batch after the next
    /// `batches` ones (`0`: the next). For tests of the recovery path (cargo
    /// feature `testing`); the device is destroyed for good.
    #[cfg(feature = "testing")]
    pub fn inject_device_lost_after(&self, batches: u32) {
        self.lock().inject_after = Some(batches);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_lock(&self) -> Option<MutexGuard<'_, State>> {
        match self.state.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn stat(&self, f: impl FnOnce(&mut GpuScanStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Runs `f`, adding its time to [`GpuScanStats::sync_s`].
    fn synced<T>(&self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.stat(|s| s.sync_s += t.elapsed().as_secs_f64());
        r
    }

    fn threshold(&self, st: &State) -> Option<u64> {
        match self.policy {
            OffloadPolicy::Always => None,
            OffloadPolicy::Auto => self
                .fixed_threshold
                .or_else(|| st.model.map(|m| m.threshold())),
        }
    }
}

impl ScanBackend for GpuScan {
    fn name(&self) -> &str {
        "gpu"
    }

    fn scan(
        &self,
        m: &Marker,
        gcw: &mut GcWork,
        items: &[GreyItem],
        budget: Budget,
        wait: bool,
    ) -> Step {
        if self.is_dead() || self.cpu_phase.load(Acquire) == m.phase() {
            self.cpu_scan(m, gcw, items);
            return Step::Scanned;
        }
        let Some(mut st) = (if wait {
            Some(self.lock())
        } else {
            self.try_lock()
        }) else {
            for &it in items {
                gcw.put(m.lists(), it);
            }
            return Step::Busy;
        };
        // The loop's items join the host's other greys, which the step
        // sends on (mode GPU) or takes back a batch at a time (mode CPU).
        for &it in items {
            gcw.put(m.lists(), it);
        }
        if self.is_dead() {
            drop(st);
            return Step::Scanned; // the next step scans them on the CPU
        }
        if let Err(e) = self.step_locked(&mut st, m, gcw, budget) {
            self.fail(&mut st, m, gcw, e);
        }
        Step::Scanned
    }

    fn has_pending_work(&self) -> bool {
        self.queued.load(Acquire) > 0
    }

    fn prepare(&self, heap: &Arc<Heap>) {
        // Failures are reported (and recorded in the stats) by `prepare`;
        // marking goes on without the GPU.
        let _ = GpuScan::prepare(self, heap);
    }

    fn phase_start(&self, m: &Marker) {
        if self.is_dead() {
            return;
        }
        let mut st = self.lock();
        if let Err(e) = self.enter_phase(&mut st, m) {
            let mut gcw = GcWork::new();
            self.fail(&mut st, m, &mut gcw, e);
            m.dispose(&mut gcw);
        }
    }

    fn settle(&self, m: &Marker) -> bool {
        if self.is_dead() {
            return true;
        }
        let mut st = self.lock();
        if st.phase != Some(m.phase()) || !st.is_heap(m.heap()) || st.mode != Mode::Gpu {
            return true;
        }
        if st.queue_len() > 0 {
            // Grey work on the GPU: marking is not done.
            return false;
        }
        match self.synced(|| self.merge(&mut st, m, Merge::Final)) {
            Ok(()) => true,
            Err(e) => {
                // The bitmap is lost with the device: its marks are greyed
                // again on the host, and marking goes on.
                let mut gcw = GcWork::new();
                self.fail(&mut st, m, &mut gcw, e);
                m.dispose(&mut gcw);
                false
            }
        }
    }
}
