//! Work buffers and the per-worker grey cache. Go counterpart: mgcwork.go
//! (`workbuf`, `gcWork`, `work.full`, `work.empty`, `getempty`, `putfull`,
//! `trygetfull`, `getfull`, `handoff`).
//!
//! Grey objects live in fixed-size [`WorkBuf`]s. Each worker caches two of
//! them in its [`GcWork`] and only talks to the global lists when both are
//! full (put) or both are empty (get). This is Go's hysteresis: a worker that
//! alternates between producing and consuming a little work around a buffer
//! boundary would otherwise move a buffer to and from the global list on every
//! object; with two buffers it must produce or consume a whole buffer's worth
//! before it touches shared state again.
//!
//! The global lists are LIFO stacks (Go uses lock-free stacks; here a mutex
//! over a `Vec`, whose critical sections are a push or a pop) plus an atomic
//! length so that `work.full == 0` can be tested without the lock.
//!
//! ## Termination in blocking mode
//!
//! [`WorkLists::get_full`] is Go's `getfull`: a worker that finds the full list
//! empty counts itself in `nwait` and spins; when `nwait == nproc` and no root
//! jobs remain, every worker is idle with an empty cache, so no grey object can
//! exist anywhere and marking is complete. The invariant relied on: a worker
//! only increments `nwait` after its own cache is empty, and decrements it
//! before taking a buffer, so `nwait == nproc` means nobody holds grey work.

use crate::heap::WORD_BYTES;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};
use std::sync::{Mutex, OnceLock};

/// Size of one work buffer in bytes: Go's `_WorkbufSize`. Large enough that
/// the cost of moving buffers between workers and the global lists is small
/// against the scanning they carry, small enough to balance load finely.
pub const WORKBUF_BYTES: usize = 2048;

/// Grey items per buffer: the buffer size less a 16-byte header (count and
/// list link), in 8-byte items.
pub const WORKBUF_OBJS: usize = (WORKBUF_BYTES - 16) / WORD_BYTES as usize;

/// A grey work item: an object, or one oblet of a large object.
///
/// Go queues the oblet's address; with dense object indices the oblet number
/// travels next to the index instead. Oblet 0 is the object's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct GreyItem {
    /// The object.
    pub obj: u32,
    /// Which oblet of it (0 for small objects).
    pub oblet: u32,
}

impl GreyItem {
    /// The whole (or first oblet of an) object.
    #[inline]
    pub fn object(obj: u32) -> GreyItem {
        GreyItem { obj, oblet: 0 }
    }
}

/// A fixed-capacity buffer of grey items. Go counterpart: `workbuf`.
#[derive(Debug)]
pub struct WorkBuf {
    nobj: usize,
    obj: [GreyItem; WORKBUF_OBJS],
}

impl WorkBuf {
    fn new() -> Box<WorkBuf> {
        Box::new(WorkBuf {
            nobj: 0,
            obj: [GreyItem::default(); WORKBUF_OBJS],
        })
    }

    /// Items in the buffer.
    pub fn len(&self) -> usize {
        self.nobj
    }

    /// True if the buffer holds nothing.
    pub fn is_empty(&self) -> bool {
        self.nobj == 0
    }

    /// The items in the buffer.
    pub fn items(&self) -> &[GreyItem] {
        &self.obj[..self.nobj]
    }
}

/// The global lists of full and empty buffers, and the blocking-mode worker
/// count. Go counterpart: `work.full`, `work.empty`, `work.nwait`,
/// `work.nproc`.
// Buffers are boxed so they move between the lists and the workers' caches
// as a pointer, never as 2 KiB copies.
#[allow(clippy::vec_box)]
#[derive(Debug, Default)]
pub struct WorkLists {
    full: Mutex<Vec<Box<WorkBuf>>>,
    full_len: AtomicUsize,
    /// Grey items in the full list's buffers (some are partly full: `balance`
    /// and `dispose` hand over partial buffers), maintained under the lock.
    full_items: AtomicUsize,
    empty: Mutex<Vec<Box<WorkBuf>>>,
    /// Workers blocked in [`WorkLists::get_full`].
    pub(crate) nwait: AtomicU32,
    /// Workers taking part in blocking drains.
    pub(crate) nproc: AtomicU32,
    /// Run after [`WorkLists::put_full`] publishes a buffer (see
    /// [`EnlistHook`]).
    enlist: Enlist,
}

/// A callback run after every [`WorkLists::put_full`], outside the list's
/// lock: Go's `enlistWorker`, which `putfull`'s callers run so that an idle
/// worker wakes for the new work instead of finding it by polling. The
/// collector sets one per marker (its wake-up protocol is in
/// `collector::wake`); a marker without one (the stop-the-world mark) pays
/// one atomic load per published buffer.
pub(crate) type EnlistHook = Box<dyn Fn() + Send + Sync>;

/// The [`EnlistHook`] slot, set at most once.
#[derive(Default)]
struct Enlist(OnceLock<EnlistHook>);

impl std::fmt::Debug for Enlist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Enlist")
            .field(&self.0.get().is_some())
            .finish()
    }
}

impl WorkLists {
    /// Number of buffers on the full list (Go's `work.full != 0` test).
    #[inline]
    pub fn full_len(&self) -> usize {
        self.full_len.load(Acquire)
    }

    /// Grey items in the full list's buffers: how wide the shared frontier
    /// is (the GPU backend's hand-off reads it).
    #[inline]
    pub fn full_items(&self) -> usize {
        self.full_items.load(Acquire)
    }

    /// Go's `getempty`: a recycled empty buffer, or a new one.
    pub fn get_empty(&self) -> Box<WorkBuf> {
        let b = self.empty.lock().unwrap_or_else(|p| p.into_inner()).pop();
        b.unwrap_or_else(WorkBuf::new)
    }

    /// Go's `putempty`.
    pub fn put_empty(&self, b: Box<WorkBuf>) {
        debug_assert!(b.is_empty());
        self.empty.lock().unwrap_or_else(|p| p.into_inner()).push(b);
    }

    /// Go's `putfull`.
    pub fn put_full(&self, b: Box<WorkBuf>) {
        debug_assert!(!b.is_empty());
        let mut f = self.full.lock().unwrap_or_else(|p| p.into_inner());
        self.full_items.fetch_add(b.nobj, Release);
        f.push(b);
        self.full_len.store(f.len(), Release);
        drop(f);
        if let Some(enlist) = self.enlist.0.get() {
            enlist();
        }
    }

    /// Sets the [`EnlistHook`]; false (and `hook` dropped) if one is set
    /// already.
    #[cfg_attr(loom, allow(dead_code))] // the loom build has no collector
    pub(crate) fn set_enlist(&self, hook: EnlistHook) -> bool {
        self.enlist.0.set(hook).is_ok()
    }

    /// Go's `trygetfull`: a full buffer if one is there.
    pub fn try_get_full(&self) -> Option<Box<WorkBuf>> {
        if self.full_len() == 0 {
            return None;
        }
        let mut f = self.full.lock().unwrap_or_else(|p| p.into_inner());
        let b = f.pop();
        if let Some(b) = &b {
            self.full_items.fetch_sub(b.nobj, Release);
        }
        self.full_len.store(f.len(), Release);
        b
    }

    /// Go's `getfull`: blocks until a full buffer is available or every one of
    /// the `nproc` workers is waiting here and `roots_done()` says no root job
    /// is left, which means marking is complete (see the module comment).
    pub fn get_full(&self, roots_done: impl Fn() -> bool) -> Option<Box<WorkBuf>> {
        if let Some(b) = self.try_get_full() {
            return Some(b);
        }
        let nproc = self.nproc.load(Acquire);
        let inc = self.nwait.fetch_add(1, AcqRel) + 1;
        assert!(inc <= nproc, "work.nwait > work.nproc");
        let mut i = 0u32;
        loop {
            if self.full_len() != 0 {
                self.nwait.fetch_sub(1, AcqRel);
                if let Some(b) = self.try_get_full() {
                    return Some(b);
                }
                self.nwait.fetch_add(1, AcqRel);
            }
            if self.nwait.load(Acquire) == nproc && roots_done() {
                return None;
            }
            // Go: procyield, then osyield, then usleep.
            if i < 10 {
                std::hint::spin_loop();
            } else if i < 20 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            i += 1;
        }
    }

    /// Takes every full buffer's items off the list (termination checks and
    /// hand-offs to other backends).
    pub fn take_all_full(&self) -> Vec<GreyItem> {
        let mut f = self.full.lock().unwrap_or_else(|p| p.into_inner());
        let bufs = std::mem::take(&mut *f);
        self.full_len.store(0, Release);
        self.full_items.store(0, Release);
        drop(f);
        let mut out = Vec::new();
        for mut b in bufs {
            out.extend_from_slice(b.items());
            b.nobj = 0;
            self.put_empty(b);
        }
        out
    }
}

/// Per-worker statistics, kept in the [`GcWork`] so they cost nothing shared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Work items scanned (objects and oblets).
    pub items_scanned: u64,
    /// Of those, oblets of large objects (including their first oblet).
    pub oblets_scanned: u64,
    /// Objects this worker marked (won the mark bit for).
    pub objects_marked: u64,
    /// Heap scan work done, in bytes.
    pub heap_scan_work: i64,
    /// Root scan work done, in bytes.
    pub root_scan_work: i64,
}

impl WorkerStats {
    /// Adds `other`'s counts to these (a worker's later drains).
    pub fn add(&mut self, other: &WorkerStats) {
        self.items_scanned += other.items_scanned;
        self.oblets_scanned += other.oblets_scanned;
        self.objects_marked += other.objects_marked;
        self.heap_scan_work += other.heap_scan_work;
        self.root_scan_work += other.root_scan_work;
    }
}

/// A worker's grey-object cache. Go counterpart: `gcWork`.
///
/// Invariant (Go's): `wbuf1` and `wbuf2` are both present or both absent;
/// absent only before first use and after [`Marker::dispose`](super::Marker::dispose).
///
/// The counters are the worker's own until they are flushed to the
/// [`Marker`](super::Marker)'s (by the drains every
/// [`GC_CREDIT_SLACK`](super::GC_CREDIT_SLACK) and by
/// [`Marker::dispose`](super::Marker::dispose)); only the mark engine
/// changes them, and they are read through methods.
#[derive(Debug, Default)]
pub struct GcWork {
    wbuf1: Option<Box<WorkBuf>>,
    wbuf2: Option<Box<WorkBuf>>,
    /// Bytes of objects marked by this worker not yet flushed to the global
    /// counter (Go's `bytesMarked`).
    pub(super) bytes_marked: u64,
    /// Heap scan work not yet flushed (Go's `heapScanWork`).
    pub(super) heap_scan_work: i64,
    /// Set when this cache has handed work to the global lists since the flag
    /// was last cleared; termination uses it (Go's `flushedWork`). Read and
    /// cleared with [`GcWork::take_flushed_work`]; crate-visible while the
    /// collector still takes it directly.
    pub(crate) flushed_work: bool,
    /// Counters for stats and tests, read with [`GcWork::stats`];
    /// crate-visible while the collector still reads them directly.
    pub(crate) stats: WorkerStats,
}

impl GcWork {
    /// An empty cache.
    pub fn new() -> GcWork {
        GcWork::default()
    }

    /// Bytes of objects this worker marked that are not yet flushed to the
    /// marker's counter ([`Marker::bytes_marked`](super::Marker::bytes_marked)).
    pub fn bytes_marked(&self) -> u64 {
        self.bytes_marked
    }

    /// Heap scan work this worker did that is not yet flushed to the
    /// marker's counter ([`Marker::heap_scan_work`](super::Marker::heap_scan_work)).
    pub fn heap_scan_work(&self) -> i64 {
        self.heap_scan_work
    }

    /// This worker's statistics since it was created.
    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    /// Whether this cache has handed work to the global lists since the last
    /// call, clearing the flag (Go's `gcw.flushedWork`, which `gcMarkDone`
    /// reads and clears to learn whether marking found more work).
    pub fn take_flushed_work(&mut self) -> bool {
        std::mem::take(&mut self.flushed_work)
    }

    /// Charges scan work done and objects marked on this worker's behalf
    /// by a scan backend's step elsewhere (a GPU batch), as if this worker
    /// had scanned them: the drain loops flush and credit it like their own.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))] // the GPU backend's
    pub(crate) fn charge(&mut self, scan_work: i64, objects: u64, bytes: u64) {
        self.heap_scan_work += scan_work;
        self.stats.heap_scan_work += scan_work;
        self.stats.objects_marked += objects;
        self.bytes_marked += bytes;
    }

    /// Takes back `objects` counted as marked twice (the GPU backend's
    /// duplicates: marked by the host and by the device) and their `bytes`:
    /// from the unflushed bytes as far as they go; returns the rest, which
    /// the caller takes from the marker's counter, which holds it.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))] // the GPU backend's
    pub(crate) fn uncharge(&mut self, objects: u64, bytes: u64) -> u64 {
        self.stats.objects_marked = self.stats.objects_marked.saturating_sub(objects);
        let here = bytes.min(self.bytes_marked);
        self.bytes_marked -= here;
        bytes - here
    }

    fn init(&mut self, lists: &WorkLists) {
        self.wbuf1 = Some(lists.get_empty());
        // Go takes a full buffer for wbuf2 if one exists, so a fresh worker
        // starts with work in hand.
        self.wbuf2 = Some(lists.try_get_full().unwrap_or_else(|| lists.get_empty()));
    }

    /// Go's `put`: queues a grey item, moving a full buffer to the global list
    /// when both cached buffers are full.
    #[inline]
    pub fn put(&mut self, lists: &WorkLists, item: GreyItem) {
        if self.wbuf1.is_none() {
            self.init(lists);
        }
        let full = |b: &Option<Box<WorkBuf>>| b.as_ref().is_some_and(|b| b.nobj == WORKBUF_OBJS);
        if full(&self.wbuf1) {
            std::mem::swap(&mut self.wbuf1, &mut self.wbuf2);
            if full(&self.wbuf1) {
                if let Some(b) = self.wbuf1.replace(lists.get_empty()) {
                    lists.put_full(b);
                }
                self.flushed_work = true;
            }
        }
        if let Some(b) = self.wbuf1.as_mut() {
            b.obj[b.nobj] = item;
            b.nobj += 1;
        }
    }

    /// Go's `putFast`: queues into `wbuf1` if it has room, else returns false.
    #[inline]
    pub fn put_fast(&mut self, item: GreyItem) -> bool {
        match self.wbuf1.as_mut() {
            Some(b) if b.nobj < WORKBUF_OBJS => {
                b.obj[b.nobj] = item;
                b.nobj += 1;
                true
            }
            _ => false,
        }
    }

    /// Go's `tryGetFast`: an item from `wbuf1` if it has one.
    #[inline]
    pub fn try_get_fast(&mut self) -> Option<GreyItem> {
        let b = self.wbuf1.as_mut()?;
        if b.nobj == 0 {
            return None;
        }
        b.nobj -= 1;
        Some(b.obj[b.nobj])
    }

    /// Pops up to `out.len()` items from `wbuf1` into `out` (a batched
    /// [`GcWork::try_get_fast`]); returns how many.
    #[inline]
    pub fn try_get_fast_many(&mut self, out: &mut [GreyItem]) -> usize {
        let Some(b) = self.wbuf1.as_mut() else {
            return 0;
        };
        let n = out.len().min(b.nobj);
        b.nobj -= n;
        out[..n].copy_from_slice(&b.obj[b.nobj..b.nobj + n]);
        n
    }

    /// Go's `tryGet`: an item from the cache, else a full buffer from the
    /// global list; `None` if there is no work anywhere it may look.
    #[inline]
    pub fn try_get(&mut self, lists: &WorkLists) -> Option<GreyItem> {
        self.get_with(lists, |l| l.try_get_full())
    }

    /// Go's blocking `get`: like [`GcWork::try_get`] but waits in
    /// [`WorkLists::get_full`] for work or termination.
    pub fn get(&mut self, lists: &WorkLists, roots_done: impl Fn() -> bool) -> Option<GreyItem> {
        self.get_with(lists, |l| l.get_full(&roots_done))
    }

    #[inline]
    fn get_with(
        &mut self,
        lists: &WorkLists,
        refill: impl FnOnce(&WorkLists) -> Option<Box<WorkBuf>>,
    ) -> Option<GreyItem> {
        if self.wbuf1.is_none() {
            self.init(lists);
        }
        if self.wbuf1.as_ref().is_some_and(|b| b.nobj == 0) {
            std::mem::swap(&mut self.wbuf1, &mut self.wbuf2);
            if self.wbuf1.as_ref().is_some_and(|b| b.nobj == 0) {
                let fresh = refill(lists)?;
                if let Some(old) = self.wbuf1.replace(fresh) {
                    lists.put_empty(old);
                }
            }
        }
        self.try_get_fast()
    }

    /// Go's `balance`: moves some cached work to the global list so idle
    /// workers can take it. All of `wbuf2` if it has any, else half of
    /// `wbuf1` if it has more than four items.
    pub fn balance(&mut self, lists: &WorkLists) {
        let Some(w2) = self.wbuf2.as_mut() else {
            return;
        };
        if w2.nobj != 0 {
            if let Some(b) = self.wbuf2.replace(lists.get_empty()) {
                lists.put_full(b);
            }
            self.flushed_work = true;
        } else if self.wbuf1.as_ref().is_some_and(|b| b.nobj > 4) {
            // Go's handoff: the top half moves to a new buffer that stays
            // here; the original, with the bottom half, goes to the list.
            let mut fresh = lists.get_empty();
            if let Some(mut b) = self.wbuf1.take() {
                let n = b.nobj / 2;
                b.nobj -= n;
                fresh.obj[..n].copy_from_slice(&b.obj[b.nobj..b.nobj + n]);
                fresh.nobj = n;
                lists.put_full(b);
            }
            self.wbuf1 = Some(fresh);
            self.flushed_work = true;
        }
    }

    /// True if neither cached buffer holds work (Go's `gcw.empty()`).
    pub fn is_empty(&self) -> bool {
        self.wbuf1.as_ref().is_none_or(|b| b.nobj == 0)
            && self.wbuf2.as_ref().is_none_or(|b| b.nobj == 0)
    }

    /// Items cached in this worker's buffers.
    pub fn cached(&self) -> usize {
        self.wbuf1.as_ref().map_or(0, |b| b.nobj) + self.wbuf2.as_ref().map_or(0, |b| b.nobj)
    }

    /// Go's `dispose`: returns the cached buffers to the global lists (empty
    /// ones to the empty list, others to the full list, so the collector can
    /// see them) and flushes `bytes_marked` and `heap_scan_work` into the
    /// given global counters. [`Marker::dispose`](super::Marker::dispose) is
    /// the public form.
    pub(crate) fn dispose(
        &mut self,
        lists: &WorkLists,
        bytes_marked: &std::sync::atomic::AtomicU64,
        heap_scan_work: &std::sync::atomic::AtomicI64,
    ) {
        for b in [self.wbuf1.take(), self.wbuf2.take()].into_iter().flatten() {
            if b.nobj == 0 {
                lists.put_empty(b);
            } else {
                lists.put_full(b);
                self.flushed_work = true;
            }
        }
        if self.bytes_marked != 0 {
            bytes_marked.fetch_add(self.bytes_marked, Relaxed);
            self.bytes_marked = 0;
        }
        if self.heap_scan_work != 0 {
            heap_scan_work.fetch_add(self.heap_scan_work, Relaxed);
            self.heap_scan_work = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicU64};

    #[test]
    fn put_overflows_to_full_list_only_after_two_buffers() {
        let l = WorkLists::default();
        let mut w = GcWork::new();
        for i in 0..(2 * WORKBUF_OBJS) as u32 {
            w.put(&l, GreyItem::object(i));
        }
        assert_eq!(l.full_len(), 0, "two buffers absorb 2*WORKBUF_OBJS items");
        w.put(&l, GreyItem::object(9999));
        assert_eq!(l.full_len(), 1);
        assert_eq!(l.full_items(), WORKBUF_OBJS);
        assert!(w.take_flushed_work());
        assert!(!w.take_flushed_work(), "taking clears it");
        assert_eq!(w.cached(), WORKBUF_OBJS + 1);
    }

    #[test]
    fn get_is_lifo_and_refills_from_full_list() {
        let l = WorkLists::default();
        let mut a = GcWork::new();
        for i in 0..10 {
            a.put(&l, GreyItem::object(i));
        }
        assert_eq!(a.try_get(&l), Some(GreyItem::object(9)));
        let (bm, sw) = (AtomicU64::new(0), AtomicI64::new(0));
        a.bytes_marked = 40;
        a.heap_scan_work = 72;
        a.dispose(&l, &bm, &sw);
        // dispose: the non-empty buffer went to the full list, the empty one
        // to the empty list, counters flushed and zeroed.
        assert_eq!(l.full_len(), 1);
        assert_eq!(l.empty.lock().unwrap().len(), 1);
        assert_eq!((bm.load(Relaxed), sw.load(Relaxed)), (40, 72));
        assert_eq!((a.bytes_marked(), a.heap_scan_work()), (0, 0));
        assert!(a.is_empty());
        let mut b = GcWork::new();
        let got: Vec<u32> = std::iter::from_fn(|| b.try_get(&l).map(|g| g.obj)).collect();
        assert_eq!(got, (0..9).rev().collect::<Vec<_>>());
        assert_eq!(l.full_len(), 0);
    }

    #[test]
    fn balance_shares_work() {
        let l = WorkLists::default();
        let mut w = GcWork::new();
        for i in 0..10 {
            w.put(&l, GreyItem::object(i));
        }
        w.balance(&l);
        assert_eq!(l.full_len(), 1, "half of wbuf1 handed off");
        assert_eq!(l.full_items(), 5);
        assert_eq!(w.cached(), 5);
        let shared = l.take_all_full();
        assert_eq!(shared.len(), 5);
        let mut all: Vec<u32> = shared.iter().map(|g| g.obj).collect();
        while let Some(g) = w.try_get_fast() {
            all.push(g.obj);
        }
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn get_full_terminates_when_all_wait() {
        let l = WorkLists::default();
        l.nproc.store(2, Relaxed);
        let r = std::thread::scope(|s| {
            let a = s.spawn(|| l.get_full(|| true).is_none());
            let b = s.spawn(|| l.get_full(|| true).is_none());
            a.join().unwrap() && b.join().unwrap()
        });
        assert!(r);
        assert_eq!(l.nwait.load(Relaxed), 2);
    }
}
