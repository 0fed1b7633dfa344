//! Blackening grey objects: `drain`, `drain_n`, markroot, `scan_object`,
//! `grey_object`. Go counterpart: mgcmark.go (`gcDrain`, `gcDrainN`,
//! `markroot`, `scanobject`, `greyobject`, `gcmarknewobject`).
//!
//! A [`Marker`] is the shared state of one mark phase: the heap, the mark
//! bitmap, the global work lists, the markroot jobs, the allocation watermark
//! and the global scan-work and bytes-marked counters. Workers (background
//! marks, assists, the stop-the-world marker) each own a [`GcWork`] and call
//! [`Marker::drain`] or [`Marker::drain_n`], which follow the newest Go
//! versions of `gcDrain` and `gcDrainN`:
//!
//! - root jobs are taken first, from an atomic counter over fixed-size blocks
//!   of global roots and one job per stack;
//! - then grey items are taken from the worker's cache (fast path), the global
//!   full list, and finally by flushing write-barrier buffers;
//! - scan work accumulates in the worker's cache and is flushed to the global
//!   counter (and, with `FLUSH_BG_CREDIT`, to background credit) every
//!   [`GC_CREDIT_SLACK`] units, so assists see credit promptly without every
//!   object paying for a shared atomic.
//!
//! Scan work is counted in bytes, as in Go: scanning `n` pointer slots is
//! `8 * n` units, root slots included (Go's stack and globals scan work).
//!
//! ## Colour invariants
//!
//! White: bit clear. Grey: bit set and the item is queued (or being scanned).
//! Black: bit set and scanned. An object's bit is set exactly once, by the
//! worker that wins [`MarkBits::try_mark`], and only that worker queues it, so
//! each object is scanned exactly once per cycle and `bytes_marked` counts it
//! once. Objects with no pointer slots are blackened at once and never queued
//! (Go's noscan spans). Objects at or above the allocation watermark were
//! allocated during this cycle and are black from birth; `grey_object` skips
//! them without reading their descriptor.
//!
//! ## Oblets
//!
//! An object with more than [`OBLET_SLOTS`] slots (Go's `maxObletBytes`,
//! 128 KiB) is scanned in oblets: scanning its first oblet queues the others,
//! so one huge array is spread over every worker instead of serialising the
//! end of marking behind one thread.

use super::bits::MarkBits;
use super::work::{GcWork, GreyItem, WorkLists};
use crate::heap::{Heap, ObjDesc, ObjRef, Stack, WORD_BYTES};
use crate::scan::{Budget, CpuScan, ScanBackend, Step};
use bitflags::bitflags;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::*};
use std::sync::{Arc, RwLock};

/// Source of [`Marker::phase`] tokens: unique across every marker of the
/// process, so a backend that serves several markers in turn never mistakes
/// one marker's phase for another's.
static NEXT_PHASE: AtomicU64 = AtomicU64::new(1);

/// Scan work a worker does before flushing it to the global counters (Go's
/// `gcCreditSlack`): small enough that assists find background credit
/// quickly, large enough that the shared atomics stay cold.
pub const GC_CREDIT_SLACK: i64 = 2000;

/// Scan work between checks of the idle/fractional stop condition (Go's
/// `drainCheckThreshold`).
pub const DRAIN_CHECK_THRESHOLD: i64 = 100_000;

/// Largest piece of an object scanned as one work item, in bytes (Go's
/// `maxObletBytes`).
pub const MAX_OBLET_BYTES: u64 = 128 << 10;

/// [`MAX_OBLET_BYTES`] in pointer slots.
pub const OBLET_SLOTS: u32 = (MAX_OBLET_BYTES / WORD_BYTES) as u32;

/// Grey items a background drain scans together. Loading the descriptors,
/// then the slots, then the mark bits of a batch as three independent sweeps
/// lets the processor overlap the cache misses of different objects, where
/// scanning one object at a time (each pop depending on the last push) would
/// serialise them. `drain_n` scans one item at a time to keep its budget
/// tight, as Go does.
pub const SCAN_BATCH: usize = 16;

/// Pointer targets gathered from a batch before they are greyed: a full
/// batch of small objects (16 items of 4 slots) in one sweep. Larger buys
/// nothing and costs a chain, which scans one object per batch, the zeroing
/// of the array on every call (256 took `list` 1M from 21.6 to 27.3 ms).
const TARGET_BATCH: usize = 64;

/// Root slots per markroot job for global roots (Go's `rootBlockBytes`,
/// 256 KiB of globals per job).
pub const ROOT_BLOCK_SLOTS: usize = (256 << 10) / WORD_BYTES as usize;

bitflags! {
    /// How a drain stops. Go counterpart: `gcDrainFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DrainFlags: u32 {
        /// Return when preemption is requested ([`DrainHooks::preempt_requested`]).
        const UNTIL_PREEMPT = 1 << 0;
        /// Idle worker: return when [`DrainHooks::poll_stop`] says there is
        /// other work to do (Go's `pollWork`).
        const IDLE = 1 << 1;
        /// Fractional worker: return when [`DrainHooks::poll_stop`] says the
        /// fractional utilisation goal is met (Go's
        /// `pollFractionalWorkerExit`).
        const FRACTIONAL = 1 << 2;
        /// Flush scan work to background credit every `GC_CREDIT_SLACK`.
        const FLUSH_BG_CREDIT = 1 << 3;
        /// Return as soon as no work can be had instead of blocking.
        const NO_BLOCK = 1 << 4;
    }
}

/// The collector's side of a drain: preemption, stop conditions, where credit
/// goes, and write-barrier buffers. Every method has a no-op default, so a
/// stop-the-world mark passes [`NoHooks`].
pub trait DrainHooks: Sync {
    /// True when the worker should yield (Go's `gp.preempt`).
    fn preempt_requested(&self) -> bool {
        false
    }
    /// The idle/fractional stop condition, polled every
    /// [`DRAIN_CHECK_THRESHOLD`] units of scan work.
    fn poll_stop(&self) -> bool {
        false
    }
    /// Receives scan work for background credit (Go's `gcFlushBgCredit`);
    /// called only with `FLUSH_BG_CREDIT`.
    fn flush_bg_credit(&self, _scan_work: i64) {}
    /// Flushes write-barrier buffers into `gcw` when the worker runs out of
    /// work (Go's `wbBufFlush`); returns true if anything was flushed.
    fn flush_write_barriers(&self, _m: &Marker, _gcw: &mut GcWork) -> bool {
        false
    }
}

/// Hooks that do nothing: stop-the-world marking.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;
impl DrainHooks for NoHooks {}

/// A markroot job.
#[derive(Debug, Clone)]
enum RootJob {
    /// Global root slots `[start, end)`.
    Globals(usize, usize),
    /// One mutator stack.
    Stack(Arc<Stack>),
}

/// The shared state of one mark phase. See the module documentation.
#[derive(Debug)]
pub struct Marker {
    heap: Arc<Heap>,
    bits: MarkBits,
    lists: WorkLists,
    root_jobs: RwLock<Vec<RootJob>>,
    markroot_next: AtomicU32,
    markroot_jobs: AtomicU32,
    watermark: AtomicU32,
    /// The current phase's token (0 before the first `prepare_roots`).
    phase: AtomicU64,
    // The phase's counters, read through the methods of the same names.
    // Only the mark engine changes them: workers flush into them, markroot
    // adds root work, and a scan backend adds what it scanned elsewhere (the
    // GPU's batches) and takes it back if that work is lost. They are
    // crate-visible, not private, while the collector still reads them
    // directly.
    /// Heap scan work flushed by workers (Go's `gcController.heapScanWork`).
    pub(crate) heap_scan_work: AtomicI64,
    /// Stack scan work done by markroot (Go's `stackScanWork`).
    pub(crate) stack_scan_work: AtomicI64,
    /// Globals scan work done by markroot (Go's `globalsScanWork`).
    pub(crate) globals_scan_work: AtomicI64,
    /// Bytes of objects marked, flushed by workers (Go's `work.bytesMarked`).
    pub(crate) bytes_marked: AtomicU64,
}

impl Marker {
    /// A marker for `heap` with a bitmap covering its whole capacity. Nothing
    /// is grey yet: call [`Marker::prepare_roots`] to start a phase.
    pub fn new(heap: Arc<Heap>) -> Marker {
        let bits = MarkBits::new(heap.config().max_objects);
        Marker {
            watermark: AtomicU32::new(heap.len()),
            phase: AtomicU64::new(0),
            heap,
            bits,
            lists: WorkLists::default(),
            root_jobs: RwLock::new(Vec::new()),
            markroot_next: AtomicU32::new(0),
            markroot_jobs: AtomicU32::new(0),
            heap_scan_work: AtomicI64::new(0),
            stack_scan_work: AtomicI64::new(0),
            globals_scan_work: AtomicI64::new(0),
            bytes_marked: AtomicU64::new(0),
        }
    }

    /// The heap being marked. Crate-private: a collector's marker must not
    /// hand out the heap's raw writers (see [`crate::heap::HeapView`]).
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))] // the GPU backend's
    pub(crate) fn heap(&self) -> &Arc<Heap> {
        &self.heap
    }

    /// The mark bitmap.
    pub fn bits(&self) -> &MarkBits {
        &self.bits
    }

    /// Heap scan work flushed so far this phase, in bytes (Go's
    /// `gcController.heapScanWork`); workers' unflushed work is in their
    /// [`GcWork::heap_scan_work`].
    pub fn heap_scan_work(&self) -> i64 {
        self.heap_scan_work.load(Relaxed)
    }

    /// Stack scan work done by markroot this phase (Go's `stackScanWork`).
    pub fn stack_scan_work(&self) -> i64 {
        self.stack_scan_work.load(Relaxed)
    }

    /// Globals scan work done by markroot this phase (Go's
    /// `globalsScanWork`).
    pub fn globals_scan_work(&self) -> i64 {
        self.globals_scan_work.load(Relaxed)
    }

    /// Bytes of objects marked and flushed so far this phase (Go's
    /// `work.bytesMarked`); workers' unflushed bytes are in their
    /// [`GcWork::bytes_marked`].
    pub fn bytes_marked(&self) -> u64 {
        self.bytes_marked.load(Relaxed)
    }

    /// Takes back counted work whose results were lost or counted twice (a
    /// lost device's batches since the last merge, objects both the host
    /// and the GPU marked): the counters must hold at least this much.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))] // the GPU backend's
    pub(crate) fn take_back_scanned(&self, heap_scan_work: u64, bytes_marked: u64) {
        self.heap_scan_work
            .fetch_sub(heap_scan_work as i64, Relaxed);
        self.bytes_marked.fetch_sub(bytes_marked, Relaxed);
    }

    /// The global work lists.
    pub fn lists(&self) -> &WorkLists {
        &self.lists
    }

    /// The allocation watermark: objects at or above it are black.
    pub fn watermark(&self) -> u32 {
        self.watermark.load(Acquire)
    }

    /// The current mark phase's token: a process-wide unique number set by
    /// each [`Marker::prepare_roots`] (0 before the first). Scan backends that
    /// keep per-phase state (the GPU mirror's bitmap and queue) compare it to
    /// notice that a new phase has begun.
    pub fn phase(&self) -> u64 {
        self.phase.load(Acquire)
    }

    /// Starts a phase: clears the bitmap and counters, sets the allocation
    /// watermark to the current heap length, sets up markroot jobs over
    /// the globals (in [`ROOT_BLOCK_SLOTS`] blocks) and every stack (Go's
    /// `gcMarkRootPrepare`), and takes a new [`Marker::phase`] token. Must not
    /// run concurrently with workers.
    pub fn prepare_roots(&self) {
        self.bits.clear();
        for c in [
            &self.heap_scan_work,
            &self.stack_scan_work,
            &self.globals_scan_work,
        ] {
            c.store(0, Relaxed);
        }
        self.bytes_marked.store(0, Relaxed);
        self.watermark.store(self.heap.len(), Release);
        let g = self.heap.globals().len();
        let mut jobs: Vec<RootJob> = (0..g)
            .step_by(ROOT_BLOCK_SLOTS)
            .map(|s| RootJob::Globals(s, (s + ROOT_BLOCK_SLOTS).min(g)))
            .collect();
        jobs.extend(self.heap.stacks().into_iter().map(RootJob::Stack));
        self.markroot_jobs.store(jobs.len() as u32, Release);
        *self.root_jobs.write().unwrap_or_else(|p| p.into_inner()) = jobs;
        self.markroot_next.store(0, Release);
        self.phase.store(NEXT_PHASE.fetch_add(1, Relaxed), Release);
    }

    /// Sets the number of workers that take part in blocking drains (Go's
    /// `work.nproc`) and resets the waiting count.
    pub fn set_nproc(&self, n: u32) {
        self.lists.nproc.store(n, Release);
        self.lists.nwait.store(0, Release);
    }

    /// True when every markroot job has been handed out.
    #[inline]
    pub fn roots_done(&self) -> bool {
        self.markroot_next.load(Acquire) >= self.markroot_jobs.load(Acquire)
    }

    /// Takes the next markroot job, if any, and runs it (greying what it
    /// points to into `gcw`); returns its scan work or `None` if no job was
    /// left. Scan backends run roots on the host with this.
    pub fn next_root_job(&self, gcw: &mut GcWork) -> Option<i64> {
        if self.roots_done() {
            return None;
        }
        let job = self.markroot_next.fetch_add(1, AcqRel);
        (job < self.markroot_jobs.load(Acquire)).then(|| self.markroot(gcw, job))
    }

    /// Go's `markroot`: scans root job `job`, greying what it points to, and
    /// returns the scan work done (8 bytes per root slot).
    pub fn markroot(&self, gcw: &mut GcWork, job: u32) -> i64 {
        let j = {
            let jobs = self.root_jobs.read().unwrap_or_else(|p| p.into_inner());
            match jobs.get(job as usize) {
                Some(j) => j.clone(),
                None => return 0,
            }
        };
        let (n, counter) = match j {
            RootJob::Globals(s, e) => {
                for slot in &self.heap.globals()[s..e] {
                    self.shade_encoded(slot.load(Relaxed), gcw);
                }
                (e - s, &self.globals_scan_work)
            }
            RootJob::Stack(st) => {
                let n = st.with(|v| {
                    for &s in v.iter() {
                        self.shade_encoded(s, gcw);
                    }
                    v.len()
                });
                (n, &self.stack_scan_work)
            }
        };
        let work = n as i64 * WORD_BYTES as i64;
        counter.fetch_add(work, Relaxed);
        gcw.stats.root_scan_work += work;
        work
    }

    #[inline]
    fn shade_encoded(&self, v: u32, gcw: &mut GcWork) {
        if v != 0 {
            self.grey_object(v - 1, gcw);
        }
    }

    /// Go's `shade`: greys `obj` if it is white. Used by the write barrier and
    /// by roots.
    #[inline]
    pub fn shade(&self, obj: ObjRef, gcw: &mut GcWork) {
        self.grey_object(obj.0, gcw);
    }

    /// Go's `greyobject`: marks `obj` and queues it for scanning if this call
    /// marked it. See the colour invariants in the module documentation.
    #[inline]
    pub fn grey_object(&self, obj: u32, gcw: &mut GcWork) {
        if obj < self.watermark.load(Relaxed) && self.bits.try_mark(obj) {
            self.greyed(obj, gcw);
        }
    }

    /// The rest of `grey_object` once this worker has won `obj`'s mark bit.
    #[inline]
    fn greyed(&self, obj: u32, gcw: &mut GcWork) {
        let d = self.heap.desc(obj);
        gcw.bytes_marked += u64::from(d.size);
        gcw.stats.objects_marked += 1;
        if d.nslots == 0 {
            return;
        }
        let item = GreyItem::object(obj);
        if !gcw.put_fast(item) {
            gcw.put(&self.lists, item);
        }
    }

    /// Go's `gcmarknewobject`: an object allocated during marking is black.
    /// The caller holds the only reference to it, so no one can grey it first.
    pub fn mark_new_object(&self, obj: ObjRef, gcw: &mut GcWork) {
        if self.bits.try_mark(obj.0) {
            gcw.bytes_marked += u64::from(self.heap.desc(obj.0).size);
        }
    }

    /// Go's `scanobject`: greys everything `item` points to and charges the
    /// scan work. The first oblet of a large object queues the others.
    #[inline]
    pub fn scan_object(&self, item: GreyItem, gcw: &mut GcWork) {
        self.scan_batch(&[item], gcw);
    }

    /// [`Marker::scan_object`] over up to [`SCAN_BATCH`] items, in three
    /// sweeps (descriptors, slots, mark bits) so their cache misses overlap.
    #[inline]
    pub fn scan_batch(&self, items: &[GreyItem], gcw: &mut GcWork) {
        let mut descs = [ObjDesc::default(); SCAN_BATCH];
        for (d, it) in descs.iter_mut().zip(items) {
            *d = self.heap.desc(it.obj);
        }
        let wm = self.watermark.load(Relaxed);
        let slots = self.heap.raw_slots();
        let mut targets = [0u32; TARGET_BATCH];
        let mut nt = 0;
        for (d, &item) in descs.iter().zip(items) {
            let (lo, hi) = if d.nslots > OBLET_SLOTS {
                if item.oblet == 0 {
                    for k in 1..d.nslots.div_ceil(OBLET_SLOTS) {
                        let o = GreyItem {
                            obj: item.obj,
                            oblet: k,
                        };
                        if !gcw.put_fast(o) {
                            gcw.put(&self.lists, o);
                        }
                    }
                }
                gcw.stats.oblets_scanned += 1;
                let lo = item.oblet * OBLET_SLOTS;
                (lo, (lo + OBLET_SLOTS).min(d.nslots))
            } else {
                (0, d.nslots)
            };
            let base = d.slot_start as usize;
            for s in &slots[base + lo as usize..base + hi as usize] {
                let v = s.load(Relaxed);
                if v != 0 {
                    targets[nt] = v - 1;
                    nt += 1;
                    if nt == TARGET_BATCH {
                        self.grey_targets(&targets, wm, gcw);
                        nt = 0;
                    }
                }
            }
            let work = i64::from(hi - lo) * WORD_BYTES as i64;
            gcw.heap_scan_work += work;
            gcw.stats.heap_scan_work += work;
        }
        self.grey_targets(&targets[..nt], wm, gcw);
        gcw.stats.items_scanned += items.len() as u64;
    }

    /// [`Marker::grey_object`] over gathered targets, with the watermark
    /// already loaded.
    #[inline]
    fn grey_targets(&self, targets: &[u32], wm: u32, gcw: &mut GcWork) {
        for &t in targets {
            if t < wm && self.bits.try_mark(t) {
                self.greyed(t, gcw);
            }
        }
    }

    /// Flushes the worker's accumulated heap scan work to the global counter
    /// and returns it (the drains, every [`GC_CREDIT_SLACK`]).
    #[inline]
    fn flush_scan_work(&self, gcw: &mut GcWork) -> i64 {
        let w = gcw.heap_scan_work;
        self.heap_scan_work.fetch_add(w, Relaxed);
        gcw.heap_scan_work = 0;
        w
    }

    /// Go's `gcDrain` on the CPU: [`Marker::drain_with`] and [`CpuScan`].
    pub fn drain(&self, gcw: &mut GcWork, flags: DrainFlags, hooks: &dyn DrainHooks) {
        self.drain_with(gcw, flags, hooks, &CpuScan)
    }

    /// Go's `gcDrainN` on the CPU: [`Marker::drain_n_with`] and [`CpuScan`].
    pub fn drain_n(&self, gcw: &mut GcWork, scan_work: i64, hooks: &dyn DrainHooks) -> i64 {
        self.drain_n_with(gcw, scan_work, hooks, &CpuScan)
    }

    /// Go's `gcDrain`: scans roots and grey objects until there is no work,
    /// or a stop condition in `flags` holds, blackening through `backend`'s
    /// scan step. Without `UNTIL_PREEMPT`, `IDLE`, `FRACTIONAL` or
    /// `NO_BLOCK` it blocks until every one of the `nproc` workers (see
    /// [`Marker::set_nproc`]) is out of work and the backend has none
    /// pending: marking is done.
    ///
    /// A backend with work of its own ([`ScanBackend::has_pending_work`]) is
    /// stepped with no host items while the host is dry, instead of the
    /// worker waiting in the `nwait == nproc` protocol: the worker is not
    /// out of work while the backend has some. A step that finds the backend
    /// busy (another worker's GPU batch) ends a drain that must not block;
    /// a blocking or preemptible drain waits for it.
    pub fn drain_with(
        &self,
        gcw: &mut GcWork,
        flags: DrainFlags,
        hooks: &dyn DrainHooks,
        backend: &dyn ScanBackend,
    ) {
        let preemptible = flags.contains(DrainFlags::UNTIL_PREEMPT);
        let blocking = !flags.intersects(
            DrainFlags::UNTIL_PREEMPT
                | DrainFlags::IDLE
                | DrainFlags::FRACTIONAL
                | DrainFlags::NO_BLOCK,
        );
        let flush_bg = flags.contains(DrainFlags::FLUSH_BG_CREDIT);
        let checking = flags.intersects(DrainFlags::IDLE | DrainFlags::FRACTIONAL);
        let stop = || preemptible && hooks.preempt_requested();
        let budget = if preemptible || checking || flush_bg {
            Budget::Drain
        } else {
            Budget::Unbounded
        };
        let wait = blocking || preemptible;

        let mut init_scan_work = gcw.heap_scan_work;
        // The scan work at which to poll the stop condition next.
        let mut check_work = if checking {
            init_scan_work + DRAIN_CHECK_THRESHOLD
        } else {
            i64::MAX
        };

        // Drain root jobs first.
        let mut done = false;
        while !stop() {
            let Some(work) = self.next_root_job(gcw) else {
                break;
            };
            if flush_bg {
                hooks.flush_bg_credit(work);
            }
            if checking && hooks.poll_stop() {
                done = true;
                break;
            }
        }

        // Drain heap work.
        let mut batch = [GreyItem::default(); SCAN_BATCH];
        while !done && !stop() {
            // Keep work available on the global list for idle workers.
            if self.lists.full_len() == 0 {
                gcw.balance(&self.lists);
            }
            let mut n = gcw.try_get_fast_many(&mut batch);
            if n == 0 {
                let pending = backend.has_pending_work();
                let item = if blocking && !pending {
                    gcw.get(&self.lists, || {
                        self.roots_done() && !backend.has_pending_work()
                    })
                } else {
                    gcw.try_get(&self.lists).or_else(|| {
                        if hooks.flush_write_barriers(self, gcw) {
                            gcw.try_get(&self.lists)
                        } else {
                            None
                        }
                    })
                };
                match item {
                    Some(item) => {
                        batch[0] = item;
                        n = 1;
                    }
                    // The host is dry; the backend's own queue is not.
                    None if backend.has_pending_work() => {}
                    // The backend's work went away meanwhile (another
                    // worker drained it, or the device was lost and its
                    // work came back to the host): a blocking drain looks
                    // again, and leaves only through `get`'s
                    // `nwait == nproc`, or a worker still draining would
                    // wait for it forever.
                    None if blocking && pending => continue,
                    None => break,
                }
            }
            if backend.scan(self, gcw, &batch[..n], budget, wait) == Step::Busy {
                break;
            }

            if gcw.heap_scan_work >= GC_CREDIT_SLACK {
                let w = gcw.heap_scan_work;
                self.flush_scan_work(gcw);
                if flush_bg {
                    hooks.flush_bg_credit(w - init_scan_work);
                    init_scan_work = 0;
                }
                check_work -= w;
                if check_work <= 0 {
                    check_work += DRAIN_CHECK_THRESHOLD;
                    if hooks.poll_stop() {
                        break;
                    }
                }
            }
        }

        // Flush what is left.
        if gcw.heap_scan_work > 0 {
            let w = self.flush_scan_work(gcw);
            if flush_bg {
                hooks.flush_bg_credit(w - init_scan_work);
            }
        }
    }

    /// Go's `gcDrainN`: blackens grey objects through `backend` until about
    /// `scan_work` units of scan work are done or preemption is requested;
    /// returns the work done.
    ///
    /// It does at least `scan_work` unless work runs out or it is preempted,
    /// and may do more because objects are scanned whole. Work already
    /// accumulated in `gcw` before the call is not claimed (Go:
    /// `workFlushed := -gcw.heapScanWork`). Heap work comes first, then root
    /// jobs, as in current Go; a backend holding grey work of its own is
    /// heap work. It never blocks: a step that finds the backend busy
    /// (another worker's GPU batch) is followed by a root job if one is
    /// left, and otherwise ends the call. Nothing is flushed to background
    /// credit: the caller is an assist.
    pub fn drain_n_with(
        &self,
        gcw: &mut GcWork,
        scan_work: i64,
        hooks: &dyn DrainHooks,
        backend: &dyn ScanBackend,
    ) -> i64 {
        let mut work_flushed = -gcw.heap_scan_work;
        let mut item = [GreyItem::default()];
        while !hooks.preempt_requested() && work_flushed + gcw.heap_scan_work < scan_work {
            if self.lists.full_len() == 0 {
                gcw.balance(&self.lists);
            }
            let got = gcw
                .try_get_fast()
                .or_else(|| gcw.try_get(&self.lists))
                .or_else(|| {
                    if hooks.flush_write_barriers(self, gcw) {
                        gcw.try_get(&self.lists)
                    } else {
                        None
                    }
                });
            let n = match got {
                Some(it) => {
                    item[0] = it;
                    1
                }
                None if backend.has_pending_work() => 0,
                None => {
                    // Try a root job.
                    match self.next_root_job(gcw) {
                        Some(w) => {
                            work_flushed += w;
                            continue;
                        }
                        None => break,
                    }
                }
            };
            let left = scan_work - (work_flushed + gcw.heap_scan_work);
            if backend.scan(self, gcw, &item[..n], Budget::Work(left), false) == Step::Busy {
                match self.next_root_job(gcw) {
                    Some(w) => {
                        work_flushed += w;
                        continue;
                    }
                    None => break,
                }
            }
            if gcw.heap_scan_work >= GC_CREDIT_SLACK {
                work_flushed += self.flush_scan_work(gcw);
            }
        }
        work_flushed + gcw.heap_scan_work
    }

    /// Flushes a worker's cache and counters to the shared state (Go's
    /// `gcw.dispose()`).
    pub fn dispose(&self, gcw: &mut GcWork) {
        gcw.dispose(&self.lists, &self.bytes_marked, &self.heap_scan_work);
    }

    /// True if grey work exists in the global lists or root jobs (Go's
    /// `gcMarkWorkAvailable` without the per-P check).
    pub fn work_available(&self) -> bool {
        self.lists.full_len() != 0 || !self.roots_done()
    }

    /// Consumes the marker, returning its bitmap.
    pub fn into_bits(self) -> MarkBits {
        self.bits
    }
}
