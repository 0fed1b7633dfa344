//! [`GpuScan`]: the GPU behind `drain` and `drain_n`. There is no Go
//! counterpart; it stands where `gcDrain` / `gcDrainN` scan objects, and
//! keeps their contracts (flags, credit flushes, `drain_n`'s return value).
//!
//! # Who does what
//!
//! The host keeps everything Go keeps on its Ps: root jobs (markroot), the
//! write barrier, assist credit and the pacer. The GPU does the bulk heap
//! scanning. A call to `drain` or `drain_n`
//!
//! 1. runs root jobs on the host (their greys go into the caller's `gcw`);
//! 2. takes the mirror's lock — **one submitter at a time**; any other thread
//!    in a blocking drain waits for it, a non-blocking one returns;
//! 3. at the first call of a new mark phase ([`Marker::phase`] changed),
//!    brings the mirror up to date: a full upload at first use, afterwards
//!    the objects allocated since (the heap only grows) and the slots whose
//!    dirty cards were set ([`Heap::take_dirty_slot_ranges`]); clears the GPU
//!    bitmap and queue and sets the allocation watermark;
//! 4. moves the host's grey items (the caller's `gcw` and the global full
//!    list) to the GPU queue, then runs batches (many levels per submission,
//!    one small readback), adding each batch's scan work and bytes marked to
//!    the marker's global counters and, with `FLUSH_BG_CREDIT`, flushing its
//!    scan work to background credit; between batches it honours
//!    preemption and `poll_stop`, and picks up new host greys (the write
//!    barrier's, through `flush_write_barriers`);
//! 5. when the GPU queue is empty at the end of the call, downloads the GPU
//!    bitmap and merges it into the host's ([`crate::mark::MarkBits::merge`]).
//!
//! # Bitmap authority
//!
//! There are two bitmaps: the host's `H` (`m.bits()`, where roots, the
//! barrier and any CPU scanning mark) and the GPU's `G`. While the GPU marks
//! (mode *GPU*), `G` is authoritative for what the GPU scans, but the host
//! can still grey objects in `H` concurrently (roots, barrier shades), so an
//! object can be marked on both sides. Everything below happens under the
//! lock with no batch in flight, so `G` is still while the host looks at it.
//! The backend keeps, per phase, 32-bit-word bitmaps:
//!
//! - `g_cache`: a copy of `G`, downloaded again before use whenever the GPU
//!   has marked since;
//! - `U` (`uploaded`): bits the host put into `G` — the objects whose scans
//!   the host owns (it pushed them, or took them back from the GPU);
//! - `settled`: objects marked on both sides whose double byte count has been
//!   taken back; `merge_settled`: those of them settled at a merge;
//! - `merged_g`: `g_cache` as of the last merge into `H`.
//!
//! **Invariant:** `G = U ∪ W` with `W ∩ U = ∅`, where `W` are the objects the
//! GPU *won*: the GPU only sets bits clear in `G`, and the host only adds to
//! `U` bits clear in a fresh `g_cache` (or takes over objects whose GPU
//! items it removed from the queue). The rules:
//!
//! 1. **Push** (mode GPU). A host item for `o` with `o ∈ W` is a duplicate:
//!    the GPU has queued or scanned `o`. It is dropped, and unless `o` is
//!    settled, the host's byte count for `o` is taken back and `o` settled.
//!    Otherwise `o`'s bit goes into `G` and `U` before the item is pushed,
//!    so the GPU never marks it. A large object's first item is pushed as all
//!    of its oblets (the GPU queues every oblet when it marks an object, the
//!    CPU queues the rest when it scans the first).
//! 2. **Merge** (`H |= G`; only with the GPU queue empty, or taken back).
//!    Objects without pointer slots have no grey item to drop (the host
//!    blackens them at once), and a grey can sit unpushed in another
//!    worker's cache; so for the GPU's marks since the previous merge, every
//!    object the host had marked before the merge's atomic OR
//!    ([`crate::mark::MarkBits::merge_seeing`]) that is in `W` and not
//!    settled has the host's count taken back and becomes merge-settled. A
//!    host grey copy of it may still wait somewhere; the GPU has scanned it.
//! 3. **Host scans** (mode CPU, and the CPU finish after a device loss) skip
//!    a first item whose object is merge-settled and not in `U`: the stale
//!    copy of rule 2.
//! 4. **Taking the queue back** (GPU → CPU): every taken object goes into
//!    `U`; a taken first item whose object was merge-settled at *this*
//!    merge is dropped (its waiting host copy will scan it).
//!
//! So **no object is scanned or counted twice**, and **none is lost**: every
//! host grey is pushed, scanned on the CPU, or dropped because the GPU has
//! scanned (or will scan) its object; every GPU grey is scanned there or
//! taken back.
//!
//! `H ⊇ G` holds whenever the GPU queue is empty and the lock is free (step
//! 5 above), which is when [`ScanBackend::has_pending_work`] is false — so
//! termination and verification, which read `H`, see every GPU mark.
//!
//! # Narrow frontiers ([`OffloadPolicy::Auto`])
//!
//! When the GPU queue plus the host's queues hold fewer than the threshold
//! `T` of items ([`OffloadModel::threshold`], measured; see `offload.rs`),
//! the backend switches to mode *CPU*: it takes the whole GPU queue back
//! ([`HeapMirror::take_queue`]), merges `G` into `H` (now `H ⊇ G` and the
//! GPU is idle, so `H` is authoritative), and scans with the CPU engine's
//! batched scan loop (one item at a time in `drain_n`, as Go's `gcDrainN`),
//! filtered by rule 3. Taken first items of large objects drop their sibling
//! oblets (the CPU queues those itself). The host's queue length counts this
//! worker's cache and the global list
//! ([`crate::mark::WorkLists::full_items`]). When the host queues exceed
//! `HANDOFF_HYSTERESIS × T`, it uploads all of `H` into `G` (so the GPU will
//! not mark what the CPU marked; the new bits join `U`) and returns to mode
//! *GPU*. The factor keeps a frontier that hovers near `T` from bouncing,
//! since each switch moves a bitmap. [`OffloadPolicy::Always`] never
//! switches: the GPU does all heap scan work.
//!
//! A GPU that never pays: when `T` exceeds the most grey items the heap can
//! ever hold (its objects and their oblets), every phase would start with a
//! hand-off to the CPU and never come back — the model says the device
//! scans a slot no faster than one CPU thread, as a software driver does.
//! Such a phase skips the GPU altogether (no bitmap, no queue, no lock held)
//! and every worker runs the CPU engine's own drain, in parallel, instead
//! of one worker running the hand-off's single CPU stretch. The model is
//! refined only by the phases that use the GPU, so it stays there.
//!
//! # Device loss and out-of-memory
//!
//! Any GPU error during a phase is reported once (`log::warn!`, and
//! [`GpuScanStats::device_lost`]); the backend is then dead and every later
//! call runs the CPU engine. The phase finishes exactly: the host keeps a
//! copy of every item pushed to the GPU, and of every duplicate it dropped
//! at a push, since the last merge of `G` into `H`. At that merge everything
//! the GPU had marked went into `H` and was scanned (or taken back).
//! Everything it marked since is reachable from the items pushed since, so
//! the recovery re-greys those items (and the dropped duplicates, giving
//! back their bytes) on the host and subtracts the unmerged batches' scan
//! work and bytes from the marker's counters; the CPU then marks what the
//! GPU's lost bitmap held, each object once, skipping stale copies by rule
//! 3 for the rest of that phase (and never blocking in it: some workers may
//! have left their GPU-path drains already). Cost: the GPU's work since the
//! last merge is redone on the CPU (for a stop-the-world mark with
//! [`OffloadPolicy::Always`], that is the whole heap scan), and credit
//! already flushed for it is not taken back.
//!
//! # Limits
//!
//! - One mark phase at a time: a new phase (or another marker) resets the
//!   GPU state, abandoning any GPU work of the previous phase.
//! - The CPU side of a hand-off runs on the thread holding the lock; other
//!   workers wait (blocking drains) or return (non-blocking ones).
//! - Slot writes are seen through the heap's dirty cards: writers that store
//!   through `Heap::raw_slots` must call [`Heap::note_slot_write`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, Once, TryLockError, Weak};
use std::time::Instant;

use super::{
    AdapterDescription, BatchCounters, GpuContext, GpuError, GpuOptions, HeapMirror, LevelSample,
    MirrorCapacity, ObjectInfo, OffloadModel, OffloadPolicy, MAX_BATCH_LEVELS, OBLET_SLOTS,
    SCAN_WORK_PER_SLOT,
};
use crate::heap::Heap;
use crate::mark::{
    DrainFlags, DrainHooks, GcWork, GreyItem, Marker, DRAIN_CHECK_THRESHOLD, GC_CREDIT_SLACK,
    SCAN_BATCH,
};
use crate::scan::{CpuScan, ScanBackend};

/// Levels the first batch of a phase may run. Later batches double it while
/// they use every level and work remains (long chains), and halve it when
/// the queue empties in under a quarter of them: every encoded level costs a
/// dispatch even when it finds the queue empty.
pub const INITIAL_BATCH_LEVELS: u32 = 64;

/// Fewest levels a batch is given.
pub const MIN_BATCH_LEVELS: u32 = 16;

/// How long a background drain's batch should take, in seconds: the longest
/// a worker goes without checking preemption and flushing credit while the
/// GPU marks, and long enough that a batch's fixed cost (a submission and a
/// readback) is small against its work. The scan-work budget that gives it
/// is derived from the GPU's measured rate.
pub const DRAIN_BATCH_S: f64 = 0.004;

/// Scan-work budget of a drain's batches before the GPU's rate is known.
pub const INITIAL_DRAIN_BUDGET: u64 = 16 * DRAIN_CHECK_THRESHOLD as u64;

/// Most scan work a CPU run in mode *CPU* does before `drain` flushes its
/// credit and polls its stop conditions, as it does after each GPU batch
/// (the run itself checks the frontier's width every [`GC_CREDIT_SLACK`]).
pub const CPU_RUN_WORK: i64 = DRAIN_CHECK_THRESHOLD;

/// The CPU hands work back to the GPU when the host queues exceed this many
/// times the hand-off threshold (see the module comment).
pub const HANDOFF_HYSTERESIS: u64 = 2;

/// Objects or slots per upload call: bounds the temporary copy of a dirty
/// range.
const UPLOAD_CHUNK: usize = 1 << 20;

/// How a [`GpuScan`] is set up.
#[derive(Clone, Debug, Default)]
pub struct GpuScanOptions {
    /// Device selection and mirror limits.
    pub gpu: GpuOptions,
    /// Who scans: see [`OffloadPolicy`].
    pub policy: OffloadPolicy,
    /// A fixed hand-off threshold in grey items for [`OffloadPolicy::Auto`],
    /// instead of the measured [`OffloadModel::threshold`]. For tests and
    /// experiments: a software driver's measured threshold can be infinite,
    /// and a fixed one makes the hand-off happen both ways.
    pub handoff_threshold: Option<u64>,
}

/// What a [`GpuScan`] did, summed since it was created or
/// [`GpuScan::reset_stats`] was called.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct GpuScanStats {
    /// Batches run (each one submission and one counter readback).
    pub batches: u64,
    /// Queue submissions of every kind: batches, readbacks, clears, upload
    /// flushes.
    pub submissions: u64,
    /// Bytes read back from the device: batch counters, bitmaps, taken greys.
    pub readback_bytes: u64,
    /// Bytes uploaded: heap tables and slots, mark bits, grey items.
    pub upload_bytes: u64,
    /// Seconds spent bringing the mirror's heap up to date at phase starts
    /// (and in [`GpuScan::prepare`]), transfers completed.
    pub upload_s: f64,
    /// Seconds spent creating mirrors (buffers and pipelines) and calibrating.
    pub setup_s: f64,
    /// Seconds from batch submission to counter readback, summed.
    pub gpu_s: f64,
    /// Seconds the host spent keeping its view and the GPU's in step:
    /// resetting the GPU bitmap and queue at phase starts, pushing host greys
    /// (and their mark bits), downloading and merging the GPU bitmap, and
    /// hand-offs. With `gpu_s` and `upload_s`, what a GPU mark's wall time
    /// is made of; the rest is root jobs and the CPU engine's own scanning.
    pub sync_s: f64,
    /// Heap scan work (Go's units: bytes of pointer slots) done on the GPU,
    /// less any lost with the device.
    pub gpu_scan_work: u64,
    /// Heap scan work done by the CPU engine inside this backend (hand-offs,
    /// and everything after a device loss).
    pub cpu_scan_work: u64,
    /// Switches from the GPU to the CPU (narrow frontier).
    pub handoffs_to_cpu: u64,
    /// Switches from the CPU back to the GPU (frontier widened).
    pub handoffs_to_gpu: u64,
    /// Objects marked on both sides (the host greyed or blackened an object
    /// the GPU had already won): their host grey items are dropped and the
    /// host's byte count taken back (see the module documentation).
    pub duplicates: u64,
    /// The counters of the last batch.
    pub last_batch: Option<BatchCounters>,
    /// Every level of every batch, in order, when the context traces levels
    /// ([`GpuOptions::trace_levels`]); empty otherwise.
    pub level_trace: Vec<LevelSample>,
    /// Set when the device was lost (or failed otherwise) during a phase:
    /// the error, as reported once through `log::warn!`.
    pub device_lost: Option<String>,
    /// Heaps marked on the CPU because their mirror could not be created
    /// (too large for the adapter's bindings or memory): the last error.
    pub heap_refused: Option<String>,
}

impl GpuScanStats {
    /// The GPU's share of the heap scan work done through this backend:
    /// `gpu_scan_work / (gpu_scan_work + cpu_scan_work)`, 0 when none was
    /// done. Root scan work (globals and stacks) always runs on the host and
    /// is not part of either side.
    pub fn gpu_scan_fraction(&self) -> f64 {
        let total = self.gpu_scan_work + self.cpu_scan_work;
        if total == 0 {
            0.0
        } else {
            self.gpu_scan_work as f64 / total as f64
        }
    }
}

/// What [`GpuScan::gpu_step`] left the GPU loop of a drain to do.
enum GpuStep {
    /// The frontier went to the CPU, or a barrier flush brought new greys:
    /// look again.
    Retry,
    /// Nothing is grey on either side.
    Empty,
    /// The GPU queue holds work: run a batch.
    Ready,
}

/// Who is scanning in the current phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The GPU: host greys are pushed to it.
    Gpu,
    /// The CPU engine, after a hand-off: the GPU queue is empty and `H ⊇ G`.
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
    /// This phase runs on the CPU engine: the GPU could not win any level
    /// of it (see "A GPU that never pays" in the module documentation).
    phase_on_cpu: bool,
    /// The phase the GPU state belongs to.
    phase: Option<u64>,
    mode: Mode,
    /// Copy of the GPU bitmap (valid unless `g_stale`).
    g_cache: Vec<u32>,
    /// The GPU marked objects since `g_cache` was downloaded.
    g_stale: bool,
    /// `U`: bits the host put into the GPU bitmap this phase.
    uploaded: Vec<u32>,
    /// Objects marked on both sides whose double byte count has been taken
    /// back (at a push or a merge).
    settled: Vec<u32>,
    /// Of those, the ones settled at a merge: a host grey copy of each may
    /// still wait in some cache, and the GPU has scanned the object.
    merge_settled: Vec<u32>,
    /// `g_cache` as of the last merge into `H`.
    merged_g: Vec<u32>,
    /// Bitmap words below the phase's watermark: the only ones either side
    /// can mark, so the only ones moved between host and GPU.
    live_words: u32,
    /// The GPU marked objects since its bitmap was last merged into `H`.
    unmerged: bool,
    /// Host items pushed since the last merge (recovery, see the module doc).
    pushed: Vec<GreyItem>,
    /// Duplicates dropped since the last merge.
    dropped: Vec<u32>,
    /// Scan work and bytes the batches since the last merge added to the
    /// marker's counters.
    since_merge_work: u64,
    since_merge_bytes: u64,
    /// Levels the next batch may run.
    levels: u32,
    /// Measured GPU scan rate (scan work per second), for drain budgets.
    gpu_rate: Option<f64>,
    /// The cost model behind the hand-off threshold (Auto, calibrated once).
    model: Option<OffloadModel>,
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
            phase_on_cpu: false,
            phase: None,
            mode: Mode::Gpu,
            g_cache: Vec::new(),
            g_stale: false,
            uploaded: Vec::new(),
            settled: Vec::new(),
            merge_settled: Vec::new(),
            merged_g: Vec::new(),
            live_words: 0,
            unmerged: false,
            pushed: Vec::new(),
            dropped: Vec::new(),
            since_merge_work: 0,
            since_merge_bytes: 0,
            levels: INITIAL_BATCH_LEVELS,
            gpu_rate: None,
            model: None,
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

    /// Forgets the per-phase recovery records (a merge, or a new phase).
    fn clear_records(&mut self) {
        self.pushed.clear();
        self.dropped.clear();
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
    /// the CPU finish of that phase skips (see `cpu_drain`).
    dead_skip: Mutex<Option<(u64, Arc<Vec<u32>>)>>,
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
            dead_skip: Mutex::new(None),
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
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
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

    // ----- phase start ---------------------------------------------------

    /// Makes sure the GPU state belongs to `m`'s current phase. `Ok(false)`:
    /// this heap is marked on the CPU (it could not be mirrored).
    fn enter_phase(&self, st: &mut State, m: &Marker) -> Result<bool, GpuError> {
        let heap = m.heap();
        if st.phase == Some(m.phase()) && st.is_heap(heap) {
            return Ok(!st.heap_refused && !st.phase_on_cpu);
        }
        // A new phase: whatever the previous one left is void.
        st.phase = Some(m.phase());
        st.phase_on_cpu = false;
        st.clear_records();
        self.queued.store(0, Release);
        if st.heap_refused && st.is_heap(heap) {
            return Ok(false);
        }
        if let Err(e) = self.ensure_mirror(st, heap) {
            return match e {
                GpuError::HeapTooLarge { .. }
                | GpuError::OutOfMemory { .. }
                | GpuError::OutOfRange { .. } => Ok(false),
                e => Err(e),
            };
        }
        self.ensure_model(st)?;
        if let Some(t) = self.threshold(st) {
            let cfg = heap.config();
            if t > MirrorCapacity::min_queue_items(cfg.max_objects, cfg.max_slots) {
                st.phase_on_cpu = true;
                return Ok(false);
            }
        }
        self.begin_phase(st, m)?;
        Ok(true)
    }

    /// Creates the mirror if `heap` is not the one mirrored. A heap that does
    /// not fit is recorded as refused (reported once) and the error returned.
    fn ensure_mirror(&self, st: &mut State, heap: &Arc<Heap>) -> Result<(), GpuError> {
        if st.is_heap(heap) && (st.mirror.is_some() || st.heap_refused) {
            return match st.heap_refused {
                false => Ok(()),
                true => Err(GpuError::OutOfRange {
                    what: "this heap was refused by the GPU".into(),
                }),
            };
        }
        st.mirror = None; // free the old heap's buffers first
        st.heap = Arc::downgrade(heap);
        st.heap_refused = false;
        st.objects_uploaded = 0;
        st.slots_uploaded = 0;
        let cfg = heap.config();
        let t = Instant::now();
        let cap = MirrorCapacity::new(cfg.max_objects.max(1), cfg.max_slots.max(1));
        match HeapMirror::new(&self.ctx, cap) {
            Ok(mirror) => {
                // Everything is uploaded fresh; older dirty cards are moot.
                // (Taken before the slots are read: see the heap's "Dirty
                // cards".)
                heap.take_dirty_slot_ranges();
                heap.take_dirty_object_ranges();
                st.mirror = Some(mirror);
                self.stat(|s| s.setup_s += t.elapsed().as_secs_f64());
                Ok(())
            }
            Err(e) => {
                st.heap_refused = true;
                log::warn!(
                    "gpumark: this heap cannot be marked on the GPU ({e}); using the CPU path for it"
                );
                self.stat(|s| s.heap_refused = Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Brings the mirror up to date with the heap, resets the GPU bitmap and
    /// queue, and sets the watermark for `m`'s phase.
    fn begin_phase(&self, st: &mut State, m: &Marker) -> Result<(), GpuError> {
        let wm = m.watermark();
        self.upload_heap(st, m.heap(), wm)?;
        let t = Instant::now();
        let mirror = st.mirror()?;
        mirror.clear_marks()?;
        mirror.clear_queue()?;
        mirror.set_watermark(wm)?;
        let words = mirror.mark_words() as usize;
        st.g_cache.clear();
        st.g_cache.resize(words, 0);
        st.uploaded.clear();
        st.uploaded.resize(words, 0);
        st.settled.clear();
        st.settled.resize(words, 0);
        st.merge_settled.clear();
        st.merge_settled.resize(words, 0);
        st.merged_g.clear();
        st.merged_g.resize(words, 0);
        st.live_words = wm.div_ceil(32).min(words as u32);
        st.g_stale = false;
        st.unmerged = false;
        st.mode = Mode::Gpu;
        st.levels = INITIAL_BATCH_LEVELS;
        self.stat(|s| {
            s.submissions += 1;
            s.sync_s += t.elapsed().as_secs_f64();
        });
        Ok(())
    }

    /// Calibrates the offload model the first time Auto needs it.
    fn ensure_model(&self, st: &mut State) -> Result<(), GpuError> {
        if self.policy == OffloadPolicy::Auto
            && self.fixed_threshold.is_none()
            && st.model.is_none()
        {
            let t = Instant::now();
            st.model = Some(OffloadModel::calibrate(&self.ctx)?);
            self.stat(|s| s.setup_s += t.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Uploads what changed since the last upload: slots on dirty cards,
    /// descriptors on dirty object cards (objects a sweep freed and
    /// allocation reused), and the objects allocated since, up to the
    /// watermark (objects at or above it are black and never read by the
    /// GPU), with every slot the arena has handed out.
    fn upload_heap(&self, st: &mut State, heap: &Heap, wm: u32) -> Result<(), GpuError> {
        let t = Instant::now();
        let (first_obj, old_slots) = (st.objects_uploaded, st.slots_uploaded);
        let mirror = st.mirror()?;
        let mut bytes = 0u64;
        if old_slots > 0 {
            for (s, e) in heap.take_dirty_slot_ranges() {
                let e = e.min(old_slots);
                if s < e {
                    bytes += upload_slots(mirror, heap, s, e)?;
                }
            }
        }
        for (s, e) in heap.take_dirty_object_ranges() {
            let e = e.min(first_obj as usize);
            if s < e {
                bytes += upload_objects(mirror, heap, s, e)?;
            }
        }
        if wm > first_obj {
            bytes += upload_objects(mirror, heap, first_obj as usize, wm as usize)?;
        }
        // Spans reserve their slots when carved, so the arena's slot count,
        // not the last object's end, bounds what objects below the
        // watermark use.
        let new_slots = (heap.slots_len() as usize).max(old_slots);
        if new_slots > old_slots {
            bytes += upload_slots(mirror, heap, old_slots, new_slots)?;
        }
        mirror.wait_idle()?;
        st.objects_uploaded = st.objects_uploaded.max(wm);
        st.slots_uploaded = new_slots;
        self.stat(|s| {
            s.upload_s += t.elapsed().as_secs_f64();
            s.upload_bytes += bytes;
            s.submissions += 1;
        });
        Ok(())
    }

    // ----- the protocol steps --------------------------------------------

    /// Moves the host's grey items to the GPU (see "Bitmap authority").
    fn push_host_greys(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
    ) -> Result<(), GpuError> {
        let mut items = m.lists().take_all_full();
        while let Some(it) = gcw.try_get(m.lists()) {
            items.push(it);
        }
        if items.is_empty() {
            return Ok(());
        }
        if st.g_stale {
            if let Err(e) = self.refresh_g_cache(st) {
                // Not recorded anywhere yet: give them back to the host.
                for it in items {
                    gcw.put(m.lists(), it);
                }
                return Err(e);
            }
        }
        let heap = m.heap();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(items.len());
        let (mut lo, mut hi) = (usize::MAX, 0usize);
        let mut dups = 0u64;
        let mut bad = None;
        for it in items {
            let (w, b) = ((it.obj / 32) as usize, 1u32 << (it.obj % 32));
            let (Some(&g), Some(&u), Some(_)) =
                (st.g_cache.get(w), st.uploaded.get(w), st.settled.get(w))
            else {
                // Cannot happen (greys are below the watermark); keep the item
                // for the recovery that the error triggers.
                bad = Some(it.obj);
                st.pushed.push(it);
                continue;
            };
            if g & b != 0 && u & b == 0 {
                // The GPU won this object: it is queued or scanned there.
                debug_assert_eq!(it.oblet, 0, "host oblets come from host scans");
                if st.settled[w] & b == 0 {
                    uncount(m, gcw, u64::from(heap.desc(it.obj).size));
                    st.settled[w] |= b;
                    st.dropped.push(it.obj);
                    dups += 1;
                }
                // (Else a merge already took its count back; the GPU scanned
                // it before that merge, so there is nothing to recover.)
                continue;
            }
            if g & b == 0 {
                st.g_cache[w] |= b;
                st.uploaded[w] |= b;
                lo = lo.min(w);
                hi = hi.max(w);
            }
            // Recorded before the fallible uploads below: a failure re-greys
            // it on the host.
            st.pushed.push(it);
            let nslots = heap.desc(it.obj).nslots;
            if it.oblet == 0 && nslots > OBLET_SLOTS {
                out.extend((0..nslots.div_ceil(OBLET_SLOTS)).map(|k| (it.obj, k)));
            } else {
                out.push((it.obj, it.oblet));
            }
        }
        if let Some(obj) = bad {
            return Err(GpuError::OutOfRange {
                what: format!("grey object {obj} past the mirror's bitmap"),
            });
        }
        let mut bytes = (out.len() * 8) as u64;
        let mirror = st
            .mirror
            .as_mut()
            .ok_or_else(|| GpuError::Internal("no heap mirror in a GPU phase".into()))?;
        if lo <= hi {
            mirror.upload_marks_at(lo as u32, &st.g_cache[lo..=hi])?;
            bytes += ((hi - lo + 1) * 4) as u64;
        }
        mirror.push_greys(&out)?;
        self.queued.store(u64::from(mirror.queue_len()), Release);
        self.stat(|s| {
            s.upload_bytes += bytes;
            s.duplicates += dups;
        });
        Ok(())
    }

    fn refresh_g_cache(&self, st: &mut State) -> Result<(), GpuError> {
        // The GPU marks only below the watermark: the words above it stay 0.
        let words = (st.live_words as usize).min(st.g_cache.len());
        let mirror = st
            .mirror
            .as_mut()
            .ok_or_else(|| GpuError::Internal("no heap mirror in a GPU phase".into()))?;
        mirror.download_marks_into(&mut st.g_cache[..words])?;
        st.g_stale = false;
        self.stat(|s| {
            s.readback_bytes += words as u64 * 4;
            s.submissions += 1;
        });
        Ok(())
    }

    /// One batch of at most `budget` scan work, accounted to `m`.
    fn batch(&self, st: &mut State, m: &Marker, budget: u64) -> Result<BatchCounters, GpuError> {
        let levels = st.levels;
        let inject = match st.inject_after {
            Some(0) => {
                st.inject_after = None;
                true
            }
            Some(k) => {
                st.inject_after = Some(k - 1);
                false
            }
            None => false,
        };
        let mirror = st.mirror()?;
        if inject {
            // `HeapMirror::inject_device_lost`, which is behind `testing`
            // as `inject_device_lost_after` is.
            mirror.inject_lost = true;
        }
        let t = Instant::now();
        let c = mirror.run_batch(budget, levels)?;
        let secs = t.elapsed().as_secs_f64();
        let trace = mirror.level_trace();
        if !trace.is_empty() {
            self.stat(|s| s.level_trace.extend_from_slice(trace));
        }
        self.queued.store(c.queue_len, Release);

        m.add_scanned(c.scan_work, c.bytes_marked);
        st.since_merge_work += c.scan_work;
        st.since_merge_bytes += c.bytes_marked;
        if c.objects_marked > 0 {
            st.g_stale = true;
            st.unmerged = true;
        }
        if c.levels_run >= levels && c.queue_len > 0 {
            st.levels = (levels * 2).min(MAX_BATCH_LEVELS);
        } else if c.queue_len == 0 && c.levels_run.saturating_mul(4) < levels {
            st.levels = (levels / 2).max(MIN_BATCH_LEVELS);
        }
        if c.scan_work >= DRAIN_CHECK_THRESHOLD as u64 && secs > 0.0 {
            let rate = c.scan_work as f64 / secs;
            st.gpu_rate = Some(st.gpu_rate.map_or(rate, |r| 0.75 * r + 0.25 * rate));
        }
        if let Some(model) = st.model.as_mut() {
            model.observe_batch(
                secs,
                c.levels_run,
                c.objects_scanned,
                c.scan_work / SCAN_WORK_PER_SLOT,
            );
        }
        self.stat(|s| {
            s.batches += 1;
            s.submissions += 1;
            s.readback_bytes += c.readback_bytes;
            s.gpu_s += secs;
            s.gpu_scan_work += c.scan_work;
            s.last_batch = Some(c);
        });
        Ok(c)
    }

    /// Merges the GPU bitmap into the host's; the GPU queue must be empty.
    /// Clears the recovery records: everything pushed is scanned and in `H`.
    fn merge(&self, st: &mut State, m: &Marker) -> Result<(), GpuError> {
        debug_assert_eq!(st.queue_len(), 0, "merge with grey items on the GPU");
        if st.unmerged {
            if st.g_stale {
                self.refresh_g_cache(st)?;
            }
            // Objects the GPU won that the host had marked too (a root or a
            // barrier shade of a pointer-free object, which has no grey item
            // to drop; or a grey not pushed yet) were counted on both sides:
            // take the host's count back, once ("settled"). Only what the GPU
            // marked since the last merge counts: older marks are in `H`
            // already (and would read as the host's own).
            let live = (st.live_words as usize).min(st.g_cache.len());
            let (twice, bytes) = merge_new_marks(
                m,
                &st.g_cache[..live],
                &st.merged_g[..live],
                &st.uploaded[..live],
                &mut st.settled[..live],
                &mut st.merge_settled[..live],
            );
            st.merged_g[..live].copy_from_slice(&st.g_cache[..live]);
            if bytes > 0 {
                // The GPU's batches added these bytes to the counter too, so
                // it cannot go below zero.
                m.take_back_scanned(0, bytes);
            }
            st.unmerged = false;
            self.stat(|s| s.duplicates += twice);
        }
        st.clear_records();
        Ok(())
    }

    /// End of a call: with the GPU queue empty, `H` must hold every GPU mark.
    fn settle(&self, st: &mut State, m: &Marker) -> Result<(), GpuError> {
        if st.mode == Mode::Gpu && st.queue_len() == 0 {
            self.synced(|| self.merge(st, m))?;
        }
        Ok(())
    }

    /// GPU -> CPU: take the GPU queue back, merge `G` into `H`.
    fn to_cpu(&self, st: &mut State, m: &Marker, gcw: &mut GcWork) -> Result<(), GpuError> {
        let items = if st.queue_len() > 0 {
            let items = st.mirror()?.take_queue(usize::MAX)?;
            let bytes = (items.len() * 8) as u64;
            self.stat(|s| {
                s.readback_bytes += bytes;
                s.submissions += 1;
            });
            items
        } else {
            Vec::new()
        };
        self.queued.store(0, Release);
        // Objects settled at earlier merges whose first item is in the queue
        // again were taken over by the host then and pushed back since: no
        // other copy of them waits anywhere.
        let settled_before: HashSet<u32> = items
            .iter()
            .filter(|&&(o, k)| k == 0 && bit(&st.merge_settled, o))
            .map(|&(o, _)| o)
            .collect();
        self.merge(st, m)?;
        // The host owns the scans of what it took: they go into `U`, so the
        // host's scan filter lets them through. The CPU's scan of a first
        // oblet queues the others, so the GPU's copies of those go (all of
        // them are here: an object's oblets are queued together and leave the
        // queue in order). And where a host copy of a first item already
        // waits in some cache (its object was settled at *this* merge), the
        // taken copy goes: that one will do.
        let firsts: HashSet<u32> = items
            .iter()
            .filter(|&&(_, k)| k == 0)
            .map(|&(o, _)| o)
            .collect();
        #[cfg(debug_assertions)]
        {
            let mut rest = std::collections::HashMap::<u32, u32>::new();
            for &(o, k) in &items {
                if k > 0 && firsts.contains(&o) {
                    *rest.entry(o).or_default() += 1;
                }
            }
            for &o in &firsts {
                let want = m.heap().desc(o).nslots.div_ceil(OBLET_SLOTS).max(1) - 1;
                debug_assert_eq!(rest.get(&o).copied().unwrap_or(0), want, "oblets of {o}");
            }
        }
        for &o in &firsts {
            if let Some(u) = st.uploaded.get_mut((o / 32) as usize) {
                *u |= 1 << (o % 32);
            }
        }
        for (obj, oblet) in items {
            let first_taken = firsts.contains(&obj);
            if oblet > 0 && first_taken {
                continue;
            }
            if oblet == 0 && bit(&st.merge_settled, obj) && !settled_before.contains(&obj) {
                continue;
            }
            gcw.put(m.lists(), GreyItem { obj, oblet });
        }
        st.mode = Mode::Cpu;
        self.stat(|s| s.handoffs_to_cpu += 1);
        Ok(())
    }

    /// CPU -> GPU: `H ⊇ G` and the GPU is idle; put all of `H` into `G`.
    fn to_gpu(&self, st: &mut State, m: &Marker) -> Result<(), GpuError> {
        let h = m.bits().snapshot();
        for (i, (g, u)) in st
            .g_cache
            .iter_mut()
            .zip(st.uploaded.iter_mut())
            .enumerate()
        {
            let hw = (h.get(i / 2).copied().unwrap_or(0) >> (32 * (i % 2))) as u32;
            *u |= hw & !*g;
            *g |= hw;
        }
        let words = std::mem::take(&mut st.g_cache);
        let live = (st.live_words as usize).min(words.len());
        let r = st
            .mirror()
            .and_then(|mirror| mirror.upload_marks_at(0, &words[..live]));
        st.g_cache = words;
        r?;
        st.mode = Mode::Gpu;
        let bytes = live as u64 * 4;
        self.stat(|s| {
            s.handoffs_to_gpu += 1;
            s.upload_bytes += bytes;
        });
        Ok(())
    }

    /// `drain_n`'s CPU stretch in mode *CPU* (an assist): one item at a
    /// time, as Go's `gcDrainN`, until `work` is done, the host runs out, or
    /// the caller is preempted; skips what the GPU scanned. Returns the work.
    fn cpu_stretch_n(
        &self,
        st: &State,
        m: &Marker,
        gcw: &mut GcWork,
        work: i64,
        hooks: &dyn DrainHooks,
    ) -> i64 {
        let skip = |it: GreyItem| gpu_scanned(&st.merge_settled, &st.uploaded, it);
        let w = scan_loop(m, gcw, 1, &skip, hooks, &mut |_, _, done| {
            done >= work || hooks.preempt_requested()
        });
        self.stat(|s| s.cpu_scan_work += w as u64);
        w
    }

    /// `drain`'s CPU run in mode *CPU*: the CPU engine's batched scan loop
    /// (as in `Marker::drain`, non-blocking) until the host runs out of
    /// work, the host queues exceed `widen_at` items, `max_work` is done, or
    /// the caller is preempted; skips what the GPU scanned. Timed for the
    /// model. Returns the scan work done and whether the frontier widened.
    #[allow(clippy::too_many_arguments)]
    fn cpu_run(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
        max_work: i64,
        widen_at: u64,
        preemptible: bool,
        hooks: &dyn DrainHooks,
    ) -> (i64, bool) {
        let items0 = gcw.stats().items_scanned;
        let t = Instant::now();
        let mut widened = false;
        let w = {
            let skip = |it: GreyItem| gpu_scanned(&st.merge_settled, &st.uploaded, it);
            scan_loop(m, gcw, SCAN_BATCH, &skip, hooks, &mut |m, gcw, done| {
                if done >= max_work || (preemptible && hooks.preempt_requested()) {
                    return true;
                }
                widened = host_queue_len(m, gcw) > widen_at;
                widened
            })
        };
        let secs = t.elapsed().as_secs_f64();
        if let Some(model) = st.model.as_mut() {
            let slots = w as u64 / SCAN_WORK_PER_SLOT;
            model.observe_cpu(secs, gcw.stats().items_scanned - items0, slots);
        }
        self.stat(|s| s.cpu_scan_work += w as u64);
        (w, widened)
    }

    /// Drain budget per batch: [`DRAIN_BATCH_S`] at the measured rate.
    fn drain_budget(&self, st: &State) -> u64 {
        st.gpu_rate
            .map_or(INITIAL_DRAIN_BUDGET, |r| (r * DRAIN_BATCH_S) as u64)
            .max(DRAIN_CHECK_THRESHOLD as u64)
    }

    // ----- failure --------------------------------------------------------

    fn declare_dead(&self, e: &GpuError) {
        if !self.dead.swap(true, AcqRel) {
            log::warn!("gpumark: the GPU failed ({e}); continuing on the CPU path");
        }
        let msg = e.to_string();
        self.stat(|s| {
            s.device_lost.get_or_insert(msg);
        });
    }

    /// Recovery after a GPU error mid-phase (see "Device loss" in the module
    /// documentation).
    fn fail(&self, st: &mut State, m: &Marker, gcw: &mut GcWork, e: GpuError) {
        self.declare_dead(&e);
        let (work, bytes) = (st.since_merge_work, st.since_merge_bytes);
        m.take_back_scanned(work, bytes);
        self.stat(|s| s.gpu_scan_work = s.gpu_scan_work.saturating_sub(work));
        let heap = m.heap();
        for obj in std::mem::take(&mut st.dropped) {
            gcw.count_marked(heap.desc(obj).size);
            gcw.put(m.lists(), GreyItem::object(obj));
        }
        for it in std::mem::take(&mut st.pushed) {
            gcw.put(m.lists(), it);
        }
        // Host copies of greys the GPU scanned before the last merge may
        // still wait in caches: the CPU finish of this phase skips them.
        let skip: Vec<u32> = st
            .merge_settled
            .iter()
            .zip(&st.uploaded)
            .map(|(&ms, &u)| ms & !u)
            .collect();
        *self.dead_skip.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((m.phase(), Arc::new(skip)));
        st.clear_records();
        st.mirror = None;
        st.heap = Weak::new();
        self.queued.store(0, Release);
    }

    /// The skip set for the CPU finish of `phase`, if the device died in it.
    fn dead_skip(&self, phase: u64) -> Option<Arc<Vec<u32>>> {
        let d = self.dead_skip.lock().unwrap_or_else(|p| p.into_inner());
        d.as_ref()
            .filter(|(p, _)| *p == phase)
            .map(|(_, s)| Arc::clone(s))
    }

    /// The CPU engine's drain, for a dead backend or a refused heap. In the
    /// phase the device died in, the drain is this module's filtered loop
    /// instead: it skips host copies of greys the GPU scanned (see "Device
    /// loss"), and it never blocks — some workers may already have left
    /// their (GPU-path) drains, so a blocking drain could wait forever for
    /// them in the `nwait == nproc` protocol; not blocking is exact, as each
    /// worker leaves only with nothing in hand.
    fn cpu_drain(&self, m: &Marker, gcw: &mut GcWork, flags: DrainFlags, hooks: &dyn DrainHooks) {
        let hw0 = gcw.stats().heap_scan_work;
        match self.dead_skip(m.phase()) {
            Some(skip) => filtered_drain(m, gcw, flags, hooks, &skip),
            None => m.drain(gcw, flags, hooks),
        }
        let hw = (gcw.stats().heap_scan_work - hw0).max(0) as u64;
        self.stat(|s| s.cpu_scan_work += hw);
    }

    /// The CPU engine's `drain_n`, for a dead backend or a refused heap (in
    /// the phase the device died in: the filtered loop, as `cpu_drain`).
    fn cpu_drain_n(&self, m: &Marker, gcw: &mut GcWork, n: i64, hooks: &dyn DrainHooks) -> i64 {
        let hw0 = gcw.stats().heap_scan_work;
        let w = match self.dead_skip(m.phase()) {
            Some(skip) => filtered_drain_n(m, gcw, n, hooks, &skip),
            None => m.drain_n(gcw, n, hooks),
        };
        let hw = (gcw.stats().heap_scan_work - hw0).max(0) as u64;
        self.stat(|s| s.cpu_scan_work += hw);
        w
    }

    // ----- the drains under the lock ---------------------------------------

    /// The first steps of every GPU-mode loop turn in `drain` and `drain_n`:
    /// hand a frontier narrower than the threshold to the CPU, push the
    /// host's greys, and when the GPU queue is empty flush barrier buffers.
    fn gpu_step(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
        hooks: &dyn DrainHooks,
    ) -> Result<GpuStep, GpuError> {
        if let Some(t) = self.threshold(st) {
            if st.queue_len() + host_queue_len(m, gcw) < t {
                self.synced(|| self.to_cpu(st, m, gcw))?;
                return Ok(GpuStep::Retry);
            }
        }
        self.synced(|| self.push_host_greys(st, m, gcw))?;
        if st.queue_len() > 0 {
            Ok(GpuStep::Ready)
        } else if hooks.flush_write_barriers(m, gcw) {
            Ok(GpuStep::Retry)
        } else {
            Ok(GpuStep::Empty)
        }
    }

    /// `drain`'s heap loop. `Ok(false)`: the heap is marked on the CPU.
    fn drain_locked(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
        flags: DrainFlags,
        hooks: &dyn DrainHooks,
    ) -> Result<bool, GpuError> {
        if !self.enter_phase(st, m)? {
            return Ok(false);
        }
        let preemptible = flags.contains(DrainFlags::UNTIL_PREEMPT);
        let checking = flags.intersects(DrainFlags::IDLE | DrainFlags::FRACTIONAL);
        let flush_bg = flags.contains(DrainFlags::FLUSH_BG_CREDIT);
        let mut check_work = DRAIN_CHECK_THRESHOLD;
        loop {
            if preemptible && hooks.preempt_requested() {
                break;
            }
            let work = match st.mode {
                Mode::Gpu => {
                    match self.gpu_step(st, m, gcw, hooks)? {
                        GpuStep::Retry => continue,
                        GpuStep::Ready => {}
                        GpuStep::Empty => {
                            if let Some(w) = m.next_root_job(gcw) {
                                if flush_bg {
                                    hooks.flush_bg_credit(w);
                                }
                                continue;
                            }
                            break;
                        }
                    }
                    // A drain nobody interrupts and that flushes no credit
                    // (a stop-the-world mark) needs no budget: fewer
                    // round trips.
                    let budget = if preemptible || checking || flush_bg {
                        self.drain_budget(st)
                    } else {
                        u64::MAX
                    };
                    self.batch(st, m, budget)?.scan_work as i64
                }
                Mode::Cpu => {
                    let t = self.threshold(st).unwrap_or(u64::MAX);
                    let widen_at = t.saturating_mul(HANDOFF_HYSTERESIS);
                    if host_queue_len(m, gcw) > widen_at {
                        self.synced(|| self.to_gpu(st, m))?;
                        continue;
                    }
                    let (w, widened) =
                        self.cpu_run(st, m, gcw, CPU_RUN_WORK, widen_at, preemptible, hooks);
                    if w == 0 && !widened {
                        if let Some(w) = m.next_root_job(gcw) {
                            if flush_bg {
                                hooks.flush_bg_credit(w);
                            }
                            continue;
                        }
                        break;
                    }
                    w
                }
            };
            if flush_bg && work > 0 {
                hooks.flush_bg_credit(work);
            }
            check_work -= work;
            if checking && check_work <= 0 {
                check_work = DRAIN_CHECK_THRESHOLD;
                if hooks.poll_stop() {
                    break;
                }
            }
        }
        self.settle(st, m)?;
        Ok(true)
    }

    /// `drain_n`'s loop; adds the work done to `done`. `Ok(false)`: the heap
    /// is marked on the CPU.
    fn drain_n_locked(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
        n: i64,
        done: &mut i64,
        hooks: &dyn DrainHooks,
    ) -> Result<bool, GpuError> {
        if !self.enter_phase(st, m)? {
            return Ok(false);
        }
        while *done < n && !hooks.preempt_requested() {
            match st.mode {
                Mode::Gpu => {
                    match self.gpu_step(st, m, gcw, hooks)? {
                        GpuStep::Retry => continue,
                        GpuStep::Empty => break,
                        GpuStep::Ready => {}
                    }
                    let c = self.batch(st, m, (n - *done) as u64)?;
                    *done += c.scan_work as i64;
                }
                Mode::Cpu => {
                    let t = self.threshold(st).unwrap_or(u64::MAX);
                    if host_queue_len(m, gcw) > t.saturating_mul(HANDOFF_HYSTERESIS) {
                        self.synced(|| self.to_gpu(st, m))?;
                        continue;
                    }
                    let w = self.cpu_stretch_n(st, m, gcw, n - *done, hooks);
                    if w == 0 {
                        break;
                    }
                    *done += w;
                }
            }
        }
        self.settle(st, m)?;
        Ok(true)
    }
}

impl ScanBackend for GpuScan {
    fn name(&self) -> &str {
        "gpu"
    }

    fn drain(&self, m: &Marker, gcw: &mut GcWork, flags: DrainFlags, hooks: &dyn DrainHooks) {
        if self.is_dead() {
            return self.cpu_drain(m, gcw, flags, hooks);
        }
        let preemptible = flags.contains(DrainFlags::UNTIL_PREEMPT);
        let checking = flags.intersects(DrainFlags::IDLE | DrainFlags::FRACTIONAL);
        let blocking = !flags.intersects(
            DrainFlags::UNTIL_PREEMPT
                | DrainFlags::IDLE
                | DrainFlags::FRACTIONAL
                | DrainFlags::NO_BLOCK,
        );
        let stop = || preemptible && hooks.preempt_requested();

        // Root jobs on the host, as gcDrain does them first.
        while !stop() {
            let Some(w) = m.next_root_job(gcw) else {
                break;
            };
            if flags.contains(DrainFlags::FLUSH_BG_CREDIT) {
                hooks.flush_bg_credit(w);
            }
            if checking && hooks.poll_stop() {
                return;
            }
        }
        if stop() {
            return;
        }

        // Heap work: one submitter at a time. A worker that must not block
        // leaves if another one is driving the GPU (its greys reach the GPU
        // through the global list).
        let mut st = if blocking || preemptible {
            self.lock()
        } else {
            match self.try_lock() {
                Some(st) => st,
                None => return,
            }
        };
        let on_gpu = if self.is_dead() {
            Ok(false)
        } else {
            self.drain_locked(&mut st, m, gcw, flags, hooks)
        };
        match on_gpu {
            Ok(true) => {
                // Flush what the CPU stretches left cached, as gcDrain does.
                // (The stretches already flushed it as credit.)
                if gcw.heap_scan_work() > 0 {
                    m.flush_scan_work(gcw);
                }
            }
            Ok(false) => {
                drop(st);
                self.cpu_drain(m, gcw, flags, hooks);
            }
            Err(e) => {
                self.fail(&mut st, m, gcw, e);
                drop(st);
                self.cpu_drain(m, gcw, flags, hooks);
            }
        }
    }

    fn drain_n(&self, m: &Marker, gcw: &mut GcWork, scan_work: i64, hooks: &dyn DrainHooks) -> i64 {
        if self.is_dead() {
            return self.cpu_drain_n(m, gcw, scan_work, hooks);
        }
        // Root jobs count towards the budget, as in current Go.
        let mut done = 0i64;
        while done < scan_work && !hooks.preempt_requested() {
            match m.next_root_job(gcw) {
                Some(w) => done += w,
                None => break,
            }
        }
        if done >= scan_work || hooks.preempt_requested() {
            return done;
        }
        let mut st = self.lock();
        let on_gpu = if self.is_dead() {
            Ok(false)
        } else {
            self.drain_n_locked(&mut st, m, gcw, scan_work, &mut done, hooks)
        };
        match on_gpu {
            Ok(true) => {
                // Publish the CPU stretches' cached work too, so the marker's
                // counters rise by what this call returns.
                if gcw.heap_scan_work() > 0 {
                    m.flush_scan_work(gcw);
                }
                done
            }
            Ok(false) => {
                drop(st);
                done + self.cpu_drain_n(m, gcw, scan_work - done, hooks)
            }
            Err(e) => {
                self.fail(&mut st, m, gcw, e);
                drop(st);
                done + self.cpu_drain_n(m, gcw, scan_work - done, hooks)
            }
        }
    }

    fn has_pending_work(&self) -> bool {
        self.queued.load(Acquire) > 0
    }
}

/// Whether bit `i` is set in a 32-bit-word bitmap.
fn bit(words: &[u32], i: u32) -> bool {
    words
        .get((i / 32) as usize)
        .is_some_and(|w| w & (1 << (i % 32)) != 0)
}

/// The host's scan filter: a first item whose object the GPU has scanned
/// (settled at a merge) and the host has not taken over is a stale copy.
fn gpu_scanned(merge_settled: &[u32], uploaded: &[u32], it: GreyItem) -> bool {
    it.oblet == 0 && bit(merge_settled, it.obj) && !bit(uploaded, it.obj)
}

/// The CPU engine's scan loop (`Marker::drain`'s, non-blocking) over this
/// worker's cache and the global list, `batch` items at a time, dropping
/// items `skip` names, flushing scan work to the marker every
/// [`GC_CREDIT_SLACK`]. `stop(m, gcw, work)` is asked before each batch with
/// the heap scan work done so far. Returns that work (cached or flushed).
fn scan_loop(
    m: &Marker,
    gcw: &mut GcWork,
    batch: usize,
    skip: &dyn Fn(GreyItem) -> bool,
    hooks: &dyn DrainHooks,
    stop: &mut dyn FnMut(&Marker, &GcWork, i64) -> bool,
) -> i64 {
    let hw0 = gcw.stats().heap_scan_work;
    let batch = batch.clamp(1, SCAN_BATCH);
    let mut buf = [GreyItem::default(); SCAN_BATCH];
    while !stop(m, gcw, gcw.stats().heap_scan_work - hw0) {
        if m.lists().full_len() == 0 {
            gcw.balance(m.lists());
        }
        let mut n = gcw.try_get_fast_many(&mut buf[..batch]);
        if n == 0 {
            let item = gcw.try_get(m.lists()).or_else(|| {
                if hooks.flush_write_barriers(m, gcw) {
                    gcw.try_get(m.lists())
                } else {
                    None
                }
            });
            let Some(item) = item else {
                break;
            };
            buf[0] = item;
            n = 1;
        }
        let mut kept = 0;
        for i in 0..n {
            if !skip(buf[i]) {
                buf[kept] = buf[i];
                kept += 1;
            }
        }
        if kept > 0 {
            m.scan_batch(&buf[..kept], gcw);
        }
        if gcw.heap_scan_work() >= GC_CREDIT_SLACK {
            m.flush_scan_work(gcw);
        }
    }
    gcw.stats().heap_scan_work - hw0
}

/// `Marker::drain` without blocking, skipping host copies of greys the GPU
/// scanned (`skip`: a 32-bit-word bitmap): the CPU finish of the phase in
/// which the device died.
fn filtered_drain(
    m: &Marker,
    gcw: &mut GcWork,
    flags: DrainFlags,
    hooks: &dyn DrainHooks,
    skip: &[u32],
) {
    let preemptible = flags.contains(DrainFlags::UNTIL_PREEMPT);
    let checking = flags.intersects(DrainFlags::IDLE | DrainFlags::FRACTIONAL);
    let flush_bg = flags.contains(DrainFlags::FLUSH_BG_CREDIT);
    while !(preemptible && hooks.preempt_requested()) {
        let Some(w) = m.next_root_job(gcw) else {
            break;
        };
        if flush_bg {
            hooks.flush_bg_credit(w);
        }
        if checking && hooks.poll_stop() {
            return;
        }
    }
    let skip = |it: GreyItem| it.oblet == 0 && bit(skip, it.obj);
    let (mut credited, mut next_check) = (0i64, DRAIN_CHECK_THRESHOLD);
    let done = scan_loop(m, gcw, SCAN_BATCH, &skip, hooks, &mut |_, _, done| {
        if flush_bg && done - credited >= GC_CREDIT_SLACK {
            hooks.flush_bg_credit(done - credited);
            credited = done;
        }
        if preemptible && hooks.preempt_requested() {
            return true;
        }
        if checking && done >= next_check {
            next_check = done + DRAIN_CHECK_THRESHOLD;
            return hooks.poll_stop();
        }
        false
    });
    if gcw.heap_scan_work() > 0 {
        m.flush_scan_work(gcw);
    }
    if flush_bg && done > credited {
        hooks.flush_bg_credit(done - credited);
    }
}

/// `Marker::drain_n` skipping host copies of greys the GPU scanned (see
/// `filtered_drain`): root jobs when out of items, one item at a time.
fn filtered_drain_n(
    m: &Marker,
    gcw: &mut GcWork,
    n: i64,
    hooks: &dyn DrainHooks,
    skip: &[u32],
) -> i64 {
    let skip = |it: GreyItem| it.oblet == 0 && bit(skip, it.obj);
    let mut done = 0;
    while done < n && !hooks.preempt_requested() {
        let w = scan_loop(m, gcw, 1, &skip, hooks, &mut |_, _, d| {
            done + d >= n || hooks.preempt_requested()
        });
        done += w;
        if done >= n || hooks.preempt_requested() {
            break;
        }
        match m.next_root_job(gcw) {
            Some(w) => done += w,
            None => break,
        }
    }
    if gcw.heap_scan_work() > 0 {
        m.flush_scan_work(gcw);
    }
    done
}

/// Grey items the host holds where this worker can see them: its cache and
/// the global full list.
fn host_queue_len(m: &Marker, gcw: &GcWork) -> u64 {
    (gcw.cached() + m.lists().full_items()) as u64
}

/// Takes back the bytes the host counted for a duplicate it drops.
fn uncount(m: &Marker, gcw: &mut GcWork, size: u64) {
    if !gcw.uncount_marked(size) {
        // Counted by another worker and already flushed (or about to be):
        // the global counter is the sum either way.
        m.take_back_scanned(0, size);
    }
}

/// 64-bit bitmap words a thread of [`merge_new_marks`] takes at least: below
/// this, starting a thread costs more than the words (a million objects).
const MERGE_WORDS_PER_THREAD: usize = 1 << 14;
/// Threads [`merge_new_marks`] uses at most: the merge is bound by memory
/// bandwidth, which a few cores saturate.
const MERGE_THREADS: usize = 8;

/// `H |= g & !old` (the GPU's marks since the last merge) in one pass over
/// the 32-bit words `g`, `old`, `uploaded`, `settled` and `merge_settled`
/// (all of one length, from word 0), settling objects marked on both sides
/// (see "Bitmap authority"). Returns how many were and their bytes. A large
/// bitmap is split across threads in disjoint ranges of words: the other
/// workers are waiting for the lock, and this is the host's largest single
/// piece of a GPU mark.
fn merge_new_marks(
    m: &Marker,
    g: &[u32],
    old: &[u32],
    uploaded: &[u32],
    settled: &mut [u32],
    merge_settled: &mut [u32],
) -> (u64, u64) {
    let words64 = g.len().div_ceil(2);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MERGE_THREADS)
        .min(words64 / MERGE_WORDS_PER_THREAD)
        .max(1);
    // Even, so every piece starts on a 64-bit word.
    let piece = 2 * words64.div_ceil(threads);
    let pieces = g
        .chunks(piece)
        .zip(old.chunks(piece))
        .zip(uploaded.chunks(piece))
        .zip(
            settled
                .chunks_mut(piece)
                .zip(merge_settled.chunks_mut(piece)),
        )
        .enumerate()
        .map(|(k, (((g, old), u), (s, ms)))| {
            move || merge_range(m, k * piece / 2, g, old, u, s, ms)
        });
    let sums: Vec<(u64, u64)> = if threads == 1 {
        pieces.map(|mut f| f()).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = pieces.map(|f| scope.spawn(f)).collect();
            handles
                .into_iter()
                // A panic in a piece is a bug; re-raise it here.
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    sums.into_iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// [`merge_new_marks`] of one piece, whose first 64-bit word is `first`.
fn merge_range(
    m: &Marker,
    first: usize,
    g: &[u32],
    old: &[u32],
    u: &[u32],
    settled: &mut [u32],
    merge_settled: &mut [u32],
) -> (u64, u64) {
    let heap = m.heap();
    let (mut twice, mut bytes) = (0u64, 0u64);
    let new = |w: usize| g.get(w).map_or(0, |&gw| gw & !old[w]);
    let new64 =
        (0..g.len().div_ceil(2)).map(|i| u64::from(new(2 * i)) | u64::from(new(2 * i + 1)) << 32);
    m.bits().merge_seeing(first, new64, |i, before, merged| {
        if before & merged == 0 {
            return; // the common case: nothing marked on both sides
        }
        for half in 0..2 {
            let w = 2 * (i - first) + half;
            let (Some(&uw), Some(sw), Some(msw)) =
                (u.get(w), settled.get_mut(w), merge_settled.get_mut(w))
            else {
                continue;
            };
            let (before, nw) = (
                (before >> (32 * half)) as u32,
                (merged >> (32 * half)) as u32,
            );
            let mut both = before & nw & !uw & !*sw;
            *sw |= both;
            *msw |= both;
            while both != 0 {
                let obj = ((2 * i + half) * 32) as u32 + both.trailing_zeros();
                bytes += u64::from(heap.desc(obj).size);
                twice += 1;
                both &= both - 1;
            }
        }
    });
    (twice, bytes)
}

/// Uploads heap slots `[s, e)` in chunks; returns the bytes sent.
/// Uploads the descriptors of objects `s..e`; returns the bytes sent.
fn upload_objects(
    mirror: &mut HeapMirror,
    heap: &Heap,
    s: usize,
    e: usize,
) -> Result<u64, GpuError> {
    let mut i = s;
    while i < e {
        let end = (i + UPLOAD_CHUNK).min(e);
        let infos: Vec<ObjectInfo> = (i..end)
            .map(|o| {
                let d = heap.desc(o as u32);
                ObjectInfo {
                    slot_start: d.slot_start,
                    nslots: d.nslots,
                    size: d.size,
                }
            })
            .collect();
        mirror.upload_objects(i as u32, &infos)?;
        i = end;
    }
    Ok(((e - s) * std::mem::size_of::<ObjectInfo>()) as u64)
}

fn upload_slots(mirror: &mut HeapMirror, heap: &Heap, s: usize, e: usize) -> Result<u64, GpuError> {
    let raw = heap.raw_slots();
    let mut i = s;
    while i < e {
        let end = (i + UPLOAD_CHUNK).min(e);
        let words: Vec<u32> = raw[i..end].iter().map(|v| v.load(Relaxed)).collect();
        mirror.upload_slots(i as u32, &words)?;
        i = end;
    }
    Ok(((e - s) * 4) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::{build, Shape, ShapeSpec};

    /// A piece that starts past word 0 ORs its own words of `H` and settles
    /// the objects of its own words: what the threads of a large merge do.
    #[test]
    fn a_merge_piece_settles_the_objects_of_its_own_words() {
        let heap = Arc::new(build(&ShapeSpec {
            shape: Shape::Random,
            objects: 256,
            ptrs: 2,
            roots: 0,
            seed: 1,
        }));
        let m = Marker::new(Arc::clone(&heap));
        // The host marked 130 (uploaded: its own push), 131 and 200; the GPU
        // marked 130, 131, 140 and 200, and 201 before the last merge.
        for o in [130, 131, 200] {
            assert!(m.bits().try_mark(o));
        }
        let mut g = [0u32; 8];
        let mut old = [0u32; 8];
        let mut u = [0u32; 8];
        for o in [130u32, 131, 140, 200, 201] {
            g[(o / 32) as usize] |= 1 << (o % 32);
        }
        old[201 / 32] |= 1 << (201 % 32);
        u[130 / 32] |= 1 << (130 % 32);
        let (mut settled, mut merge_settled) = ([0u32; 8], [0u32; 8]);
        // The piece of 64-bit words 2 and 3 (objects 128..256).
        let (twice, bytes) = merge_range(
            &m,
            2,
            &g[4..],
            &old[4..],
            &u[4..],
            &mut settled[4..],
            &mut merge_settled[4..],
        );
        let size = |o: u32| u64::from(heap.desc(o).size);
        assert_eq!((twice, bytes), (2, size(131) + size(200)));
        for o in 0..256 {
            let want = [130, 131, 140, 200].contains(&o);
            assert_eq!(m.bits().is_marked(o), want, "object {o}");
            let both = o == 131 || o == 200;
            assert_eq!(bit(&settled, o), both, "settled {o}");
            assert_eq!(bit(&merge_settled, o), both, "merge-settled {o}");
        }
    }
}
