//! Spans, size classes and the allocation caches: how the objects a cycle
//! left white are found again and reused. Go counterparts: mheap.go
//! (`mspan`, `sweepgen`), sizeclasses.go, mcentral.go (`mcentral.cacheSpan`,
//! `uncacheSpan`), mcache.go (`nextFree`, `refill`, `prepareForSweep`).
//!
//! # Spans
//!
//! Object indices are grouped in *spans* of [`SPAN_OBJECTS`] consecutive
//! indices, aligned so that span `s` is exactly word `s` of the mark bitmap:
//! the sweep reads a span's marks with one load, as Go reads an mspan's
//! `gcmarkBits`. Each span keeps `alloc`, the bitmap of its allocated objects
//! (Go's `allocBits`), which the sweep replaces with what the cycle marked.
//!
//! A span comes from one of two places:
//!
//! - **Carved** for a size class by [`Heap::alloc_cached`]: `n` objects of
//!   the class's slot capacity (`n` = [`SPAN_OBJECTS`], fewer for large
//!   classes so that a span holds about [`SPAN_SLOTS`] slots), their slots
//!   one contiguous run. Like Go's spans, each object keeps its index and
//!   slot range for life; only its size and slot count change with each
//!   allocation.
//! - **Bump**: objects laid out one after another by the raw [`Heap::alloc`]
//!   and the heap builders, each with exactly the slots it asked for. The
//!   sweep gives such a span the largest class every one of its small
//!   objects can hold, so their indices are reused too. Objects over
//!   [`MAX_SMALL_SLOTS`] slots (Go's large objects) go to a list of their own
//!   when freed and are reused by large allocations that fit them.
//!
//! # Size classes
//!
//! [`CLASS_SLOTS`] are the slot capacities, spaced like Go's size classes (at
//! most 25% of a reused object's slots go unused). A class's spans with free
//! objects wait in its central list (Go's `mcentral`); each mutator caches
//! one span per class ([`MCache`], Go's `mcache`) and allocates from it
//! without any shared lock, taking the lowest free index.
//!
//! # Sweeping
//!
//! Go's protocol, `sweepgen` included. At mark termination, with the world
//! stopped, every cache gives its spans back ([`MCache::release`]),
//! [`Heap::start_sweep`] advances the heap's `sweepgen` by 2, which makes
//! every span "needs sweeping" (`span.sweepgen == heap.sweepgen - 2`), and
//! snapshots each span's `alloc` as `alloc_at_mark`. Sweeping a span frees
//! `alloc_at_mark & !marks`: objects allocated before termination that the
//! cycle did not mark. Objects allocated after termination are not in the
//! snapshot and survive, whatever their (stale) mark bit says.
//!
//! Spans are swept lazily by allocation (a class whose central list is empty
//! sweeps its own unswept spans first, Go's `mcentral.cacheSpan`), in the
//! background by the collector's driver thread (Go's `bgsweep`), and what is
//! left is swept by [`Heap::finish_sweep`] when the next cycle starts (Go's
//! `finishsweep_m`): the mark bits are cleared for the next cycle only after
//! every span has read them. Claiming a span is a compare-and-swap of its
//! `sweepgen` from `sg - 2` to `sg - 1`, so each span is swept once.
//!
//! A freed object's slots are cleared (poisoned with [`POISON_SLOT`] in debug
//! builds, cleared again when it is reused) and their dirty cards set, so a
//! mirror of the heap uploads the freed and the reused objects' new contents
//! at the next cycle start; each allocation bumps the object's *generation*
//! ([`Heap::generation`]), so a reference held across a reuse can be caught.
//!
//! # Why a freed index is safe to reuse while marking
//!
//! Only objects the cycle left white are freed, and every reachable object is
//! marked, so no allocated object points to a freed one. An index reused
//! during the next cycle's marking is below the allocation watermark, but it
//! is marked black as it is allocated (`Marker::mark_new_object`), before any
//! reference to it exists; the GPU mirror's copy of the heap, taken at cycle
//! start, holds no reference to it at all.

use super::{Heap, HeapError, ObjRef, POISON_SLOT};
use crate::mark::MarkBits;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use std::sync::{Mutex, MutexGuard};

/// Object indices per span: one word of the mark bitmap.
pub const SPAN_OBJECTS: u32 = 64;

/// Slot capacities of the size classes. Class 0 holds noscan objects.
pub const CLASS_SLOTS: [u32; 29] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128,
    160, 192, 224, 256,
];

/// Size classes.
pub const NUM_CLASSES: usize = CLASS_SLOTS.len();

/// The largest small object, in slots; larger objects are large objects.
pub const MAX_SMALL_SLOTS: u32 = CLASS_SLOTS[NUM_CLASSES - 1];

/// Slots a carved span aims to hold (16 KiB of pointer words): classes above
/// 32 slots carve fewer than [`SPAN_OBJECTS`] objects, as Go's larger size
/// classes hold fewer objects per span.
pub const SPAN_SLOTS: u32 = 2048;

/// The heap's first sweep generation (every span starts swept in it).
const INITIAL_SWEEPGEN: u32 = 2;

/// `SpanState::class` of a bump span the sweep has not given a class.
const NO_CLASS: u8 = u8::MAX;

/// `SpanState::class` flag of a carved span.
const CARVED: u8 = 0x80;

/// The smallest class that holds `nslots` slots, if the object is small.
pub fn size_class(nslots: u32) -> Option<usize> {
    (nslots <= MAX_SMALL_SLOTS).then(|| CLASS_SLOTS.partition_point(|&c| c < nslots))
}

/// The largest class whose objects fit in `cap` slots.
fn floor_class(cap: u32) -> usize {
    CLASS_SLOTS.partition_point(|&c| c <= cap) - 1
}

fn objects_per_span(class: usize) -> u32 {
    match CLASS_SLOTS[class] {
        0 => SPAN_OBJECTS,
        c => (SPAN_SLOTS / c).clamp(1, SPAN_OBJECTS),
    }
}

fn low_bits(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// One span's state (Go's `mspan`, reduced to what the sweep and the
/// allocator need).
#[derive(Debug)]
pub(super) struct SpanState {
    /// The size class, with [`CARVED`] for a carved span; [`NO_CLASS`] for a
    /// bump span not yet given one.
    class: AtomicU8,
    /// Go's `mspan.sweepgen` (see the module comment).
    sweepgen: AtomicU32,
    /// Allocated objects (Go's `allocBits`).
    alloc: AtomicU64,
    /// `alloc` as mark termination found it: what the sweep may free.
    alloc_at_mark: AtomicU64,
    /// Objects the class allocator may hand out: a carved span's objects, or
    /// a bump span's small objects.
    eligible: AtomicU64,
}

impl Default for SpanState {
    fn default() -> Self {
        SpanState {
            class: AtomicU8::new(NO_CLASS),
            sweepgen: AtomicU32::new(0),
            alloc: AtomicU64::new(0),
            alloc_at_mark: AtomicU64::new(0),
            eligible: AtomicU64::new(0),
        }
    }
}

impl SpanState {
    fn class(&self) -> Option<usize> {
        match self.class.load(Acquire) {
            NO_CLASS => None,
            c => Some(usize::from(c & !CARVED)),
        }
    }

    /// The class of a carved span; `None` for a bump span, whose class the
    /// sweep decides each time.
    fn carved_class(&self) -> Option<usize> {
        let c = self.class.load(Acquire);
        (c != NO_CLASS && c & CARVED != 0).then(|| usize::from(c & !CARVED))
    }

    fn free(&self) -> u64 {
        self.eligible.load(Acquire) & !self.alloc.load(Acquire)
    }
}

/// A class's spans that are not cached (Go's `mcentral`).
#[derive(Debug, Default)]
struct Central {
    /// Swept spans with free objects.
    partial: Vec<u32>,
    /// Spans still to sweep this cycle.
    unswept: Vec<u32>,
}

/// Every span of a heap, the central lists and the sweep's counters.
#[derive(Debug)]
pub(super) struct Spans {
    states: Box<[SpanState]>,
    central: Box<[Mutex<Central>]>,
    /// Bump spans still to sweep (their class is decided by the sweep).
    unswept_bump: Mutex<Vec<u32>>,
    /// Freed large objects.
    large_free: Mutex<Vec<u32>>,
    /// Go's `mheap_.sweepgen`.
    sweepgen: AtomicU32,
    freed_objects: AtomicU64,
    freed_bytes: AtomicU64,
    reused_objects: AtomicU64,
}

impl Spans {
    pub(super) fn new(max_objects: u32) -> Spans {
        Spans {
            states: std::iter::repeat_with(|| SpanState {
                sweepgen: AtomicU32::new(INITIAL_SWEEPGEN),
                ..SpanState::default()
            })
            .take(max_objects.div_ceil(SPAN_OBJECTS) as usize)
            .collect(),
            central: std::iter::repeat_with(Mutex::default)
                .take(NUM_CLASSES)
                .collect(),
            unswept_bump: Mutex::default(),
            large_free: Mutex::default(),
            sweepgen: AtomicU32::new(INITIAL_SWEEPGEN),
            freed_objects: AtomicU64::new(0),
            freed_bytes: AtomicU64::new(0),
            reused_objects: AtomicU64::new(0),
        }
    }

    /// Records that object `obj` is allocated.
    pub(super) fn set_allocated(&self, obj: u32) {
        let s = &self.states[(obj / SPAN_OBJECTS) as usize];
        s.alloc.fetch_or(1 << (obj % SPAN_OBJECTS), AcqRel);
    }

    /// Records that the raw allocator put `obj`, a new index, in the arena.
    /// The first object of a span opens it, swept in the current sweep
    /// generation (Go's spans are born with `sweepgen = mheap_.sweepgen`).
    pub(super) fn set_bumped(&self, obj: u32) {
        if obj % SPAN_OBJECTS == 0 {
            let s = &self.states[(obj / SPAN_OBJECTS) as usize];
            s.sweepgen.store(self.sweepgen.load(Acquire), Release);
        }
        self.set_allocated(obj);
    }

    pub(super) fn is_allocated(&self, obj: u32) -> bool {
        self.states
            .get((obj / SPAN_OBJECTS) as usize)
            .is_some_and(|s| s.alloc.load(Acquire) >> (obj % SPAN_OBJECTS) & 1 == 1)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A mutator's allocation cache: one span per size class, allocated from
/// without any shared lock (Go's `mcache`). While a span is cached only its
/// owner allocates from it, and no sweep can claim it: every cache is
/// released, world stopped, before a sweep starts.
#[derive(Debug, Default)]
pub struct MCache {
    spans: [Option<u32>; NUM_CLASSES],
}

impl MCache {
    /// A cache holding no spans.
    pub fn new() -> MCache {
        MCache::default()
    }

    /// Gives every cached span back (Go's `mcache.prepareForSweep`); its
    /// free objects are found again by the sweep. Call it, for every cache,
    /// with the world stopped before [`Heap::start_sweep`].
    pub fn release(&mut self) {
        self.spans = [None; NUM_CLASSES];
    }
}

/// What sweeping has freed and reused since the heap was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepCounts {
    /// Objects freed by sweeps.
    pub freed_objects: u64,
    /// Bytes of the objects freed by sweeps.
    pub freed_bytes: u64,
    /// Allocations that reused a freed object's index.
    pub reused_objects: u64,
}

impl Heap {
    /// Allocates an object of `size` bytes with `nslots` nil pointer slots
    /// from `cache`, reusing objects freed by a sweep (Go's `mallocgc` for
    /// small objects: `nextFreeFast`, then `mcache.refill`, which takes a
    /// span from the class's central list, sweeping unswept spans of the
    /// class first, or carves a new span from the arena). `marks` are the
    /// last cycle's mark bits, read by the sweeps this allocation does.
    ///
    /// The new object's generation is one more than its index's last.
    pub fn alloc_cached(
        &self,
        cache: &mut MCache,
        size: u32,
        nslots: u32,
        marks: &MarkBits,
    ) -> Result<ObjRef, HeapError> {
        Self::check_size(size, nslots)?;
        let Some(class) = size_class(nslots) else {
            return self.alloc_large(size, nslots);
        };
        loop {
            if let Some(s) = cache.spans[class] {
                let st = &self.spans.states[s as usize];
                let free = st.free();
                if free != 0 {
                    let i = free.trailing_zeros();
                    st.alloc.fetch_or(1 << i, AcqRel);
                    let obj = s * SPAN_OBJECTS + i;
                    self.init_object(obj, size, nslots);
                    return Ok(ObjRef(obj));
                }
            }
            cache.spans[class] = Some(self.refill(class, marks)?);
        }
    }

    /// Go's `mcentral.cacheSpan`: a span of `class` with a free object,
    /// from the swept partial spans, else by sweeping the class's unswept
    /// spans (the lock is not held while sweeping: the sweep files the span
    /// itself), else carved anew.
    fn refill(&self, class: usize, marks: &MarkBits) -> Result<u32, HeapError> {
        let central = &self.spans.central[class];
        loop {
            let (partial, unswept) = {
                let mut c = lock(central);
                match c.partial.pop() {
                    Some(s) => (Some(s), None),
                    None => (None, c.unswept.pop()),
                }
            };
            if let Some(s) = partial {
                if self.spans.states[s as usize].free() != 0 {
                    return Ok(s);
                }
                continue;
            }
            match unswept {
                Some(s) => {
                    if let Some(true) = self.sweep_span(s, marks) {
                        return Ok(s);
                    }
                }
                None => return self.carve(class),
            }
        }
    }

    /// Carves a new span for `class` from the arena (Go's `mheap.alloc`),
    /// starting at the next span boundary.
    fn carve(&self, class: usize) -> Result<u32, HeapError> {
        let cap = CLASS_SLOTS[class];
        let max = self.config.max_objects;
        let mut cur = self.bump.load(Relaxed);
        loop {
            let (objs, slots) = ((cur >> 32) as u32, cur as u32);
            let first = objs.next_multiple_of(SPAN_OBJECTS);
            let end = first.saturating_add(SPAN_OBJECTS).min(max);
            let n = objects_per_span(class).min(end.saturating_sub(first));
            if n == 0 {
                return Err(HeapError::HeapFull {
                    what: "objects",
                    capacity: max.into(),
                    used: objs.into(),
                    requested: SPAN_OBJECTS.into(),
                });
            }
            let need = u64::from(n) * u64::from(cap);
            let slot_end = u64::from(slots) + need;
            if slot_end > u64::from(self.config.max_slots) {
                return Err(HeapError::HeapFull {
                    what: "slots",
                    capacity: self.config.max_slots.into(),
                    used: slots.into(),
                    requested: need,
                });
            }
            let next = (u64::from(end) << 32) | slot_end;
            match self.bump.compare_exchange_weak(cur, next, AcqRel, Relaxed) {
                Ok(_) => {
                    for i in 0..n {
                        let o = (first + i) as usize;
                        self.objects[o].slot_start.store(slots + i * cap, Relaxed);
                        self.meta[o].cap.store(cap, Relaxed);
                    }
                    let s = first / SPAN_OBJECTS;
                    let st = &self.spans.states[s as usize];
                    st.eligible.store(low_bits(n), Release);
                    st.sweepgen
                        .store(self.spans.sweepgen.load(Acquire), Release);
                    st.class.store(class as u8 | CARVED, Release);
                    return Ok(s);
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// A large object: a freed one it fits in (wasting at most half), or a
    /// new one from the arena.
    fn alloc_large(&self, size: u32, nslots: u32) -> Result<ObjRef, HeapError> {
        let found = {
            let mut free = lock(&self.spans.large_free);
            let fits = |&o: &u32| {
                let cap = self.meta[o as usize].cap.load(Relaxed);
                cap >= nslots && cap / 2 <= nslots
            };
            free.iter().position(fits).map(|i| free.swap_remove(i))
        };
        match found {
            Some(obj) => {
                self.spans.set_allocated(obj);
                self.init_object(obj, size, nslots);
                Ok(ObjRef(obj))
            }
            None => self.alloc(size, nslots),
        }
    }

    /// Gives an object of a span (already marked allocated), new or freed
    /// by a sweep, its size and slot count and a new generation; its slots
    /// are nil.
    fn init_object(&self, obj: u32, size: u32, nslots: u32) {
        let c = &self.objects[obj as usize];
        if cfg!(debug_assertions) {
            // The sweep poisoned the slots of the object's last life.
            let start = c.slot_start.load(Relaxed) as usize;
            for (i, s) in self.slots[start..start + nslots as usize]
                .iter()
                .enumerate()
            {
                if s.swap(0, Relaxed) != 0 {
                    self.note_slot_write(start + i);
                }
            }
        }
        c.nslots.store(nslots, Relaxed);
        c.size.store(size, Relaxed);
        if self.meta[obj as usize].generation.fetch_add(1, Release) > 0 {
            self.spans.reused_objects.fetch_add(1, Relaxed);
        }
        self.object_cards.note(obj as usize);
        self.allocated_bytes.fetch_add(size.into(), Relaxed);
    }

    /// Starts the sweep of the cycle whose mark just terminated (Go's
    /// `gcSweep`): every span now needs sweeping against that cycle's marks.
    /// Call with the world stopped, after releasing every [`MCache`], and
    /// only once the previous sweep has finished ([`Heap::finish_sweep`]).
    pub fn start_sweep(&self) {
        let spans = &self.spans;
        spans.sweepgen.fetch_add(2, AcqRel);
        let in_use = self.len().div_ceil(SPAN_OBJECTS) as usize;
        let mut central: Vec<_> = spans.central.iter().map(lock).collect();
        for c in central.iter_mut() {
            c.partial.clear();
            c.unswept.clear();
        }
        let mut bump = lock(&spans.unswept_bump);
        bump.clear();
        for (s, st) in spans.states[..in_use].iter().enumerate() {
            st.alloc_at_mark.store(st.alloc.load(Acquire), Release);
            match st.carved_class() {
                Some(class) => central[class].unswept.push(s as u32),
                None => bump.push(s as u32),
            }
        }
    }

    /// Sweeps one span that still needs it (the background sweeper's step,
    /// Go's `sweepone`) and files it in its class's central list if it has
    /// free objects; false when every span is swept.
    pub fn sweep_one(&self, marks: &MarkBits) -> bool {
        let next = lock(&self.spans.unswept_bump).pop().or_else(|| {
            self.spans
                .central
                .iter()
                .find_map(|c| lock(c).unswept.pop())
        });
        let Some(s) = next else {
            return false;
        };
        if let Some(true) = self.sweep_span(s, marks) {
            if let Some(class) = self.spans.states[s as usize].class() {
                lock(&self.spans.central[class]).partial.push(s);
            }
        }
        true
    }

    /// Sweeps every span still unswept (Go's `finishsweep_m`). The next cycle
    /// may clear the mark bits only after this.
    pub fn finish_sweep(&self, marks: &MarkBits) {
        while self.sweep_one(marks) {}
    }

    /// Go's `mspan.sweep`: frees the span's objects that were allocated at
    /// mark termination and left white. Returns whether the span now has
    /// objects its class can allocate (`None` if another sweeper had claimed
    /// it); the caller files or caches it.
    fn sweep_span(&self, s: u32, marks: &MarkBits) -> Option<bool> {
        let spans = &self.spans;
        let st = &spans.states[s as usize];
        let sg = spans.sweepgen.load(Acquire);
        if st
            .sweepgen
            .compare_exchange(sg.wrapping_sub(2), sg.wrapping_sub(1), AcqRel, Relaxed)
            .is_err()
        {
            return None;
        }
        let first = s * SPAN_OBJECTS;
        let freed = st.alloc_at_mark.load(Acquire) & !marks.word(s as usize);
        if freed != 0 {
            st.alloc.fetch_and(!freed, AcqRel);
            let mut bytes = 0u64;
            let mut large = Vec::new();
            let mut bits = freed;
            while bits != 0 {
                let obj = first + bits.trailing_zeros();
                bits &= bits - 1;
                bytes += u64::from(self.free_object(obj));
                if self.meta[obj as usize].cap.load(Relaxed) > MAX_SMALL_SLOTS {
                    large.push(obj);
                }
            }
            self.allocated_bytes.fetch_sub(bytes, Relaxed);
            spans
                .freed_objects
                .fetch_add(u64::from(freed.count_ones()), Relaxed);
            spans.freed_bytes.fetch_add(bytes, Relaxed);
            if !large.is_empty() {
                lock(&spans.large_free).extend(large);
            }
        }
        if st.carved_class().is_none() {
            self.classify_bump_span(s);
        }
        st.sweepgen.store(sg, Release);
        Some(st.class().is_some() && st.free() != 0)
    }

    /// Gives a bump span the largest class all its small objects can hold,
    /// and makes those objects eligible for it (objects the raw allocator
    /// adds later become eligible at the next sweep).
    fn classify_bump_span(&self, s: u32) {
        let st = &self.spans.states[s as usize];
        let first = s * SPAN_OBJECTS;
        let end = (first + SPAN_OBJECTS).min(self.len());
        let mut eligible = 0u64;
        let mut min_cap = u32::MAX;
        for obj in first..end {
            let m = &self.meta[obj as usize];
            let cap = m.cap.load(Relaxed);
            // Holes (indices skipped to align a carved span) were never
            // allocated; large objects are reused through their own list.
            if m.generation.load(Acquire) > 0 && cap <= MAX_SMALL_SLOTS {
                eligible |= 1 << (obj - first);
                min_cap = min_cap.min(cap);
            }
        }
        st.eligible.store(eligible, Release);
        let class = if eligible == 0 {
            NO_CLASS
        } else {
            floor_class(min_cap) as u8
        };
        st.class.store(class, Release);
    }

    /// Frees `obj`: its slots are cleared (poisoned in debug builds), their
    /// cards dirtied for mirrors. Returns its size.
    fn free_object(&self, obj: u32) -> u32 {
        let c = &self.objects[obj as usize];
        let start = c.slot_start.load(Relaxed) as usize;
        let n = c.nslots.load(Relaxed) as usize;
        let fill = if cfg!(debug_assertions) {
            POISON_SLOT
        } else {
            0
        };
        for (i, slot) in self.slots[start..start + n].iter().enumerate() {
            if slot.swap(fill, Relaxed) != fill {
                self.note_slot_write(start + i);
            }
        }
        c.size.load(Relaxed)
    }

    /// What sweeping has freed and reused so far.
    pub fn sweep_counts(&self) -> SweepCounts {
        let s = &self.spans;
        SweepCounts {
            freed_objects: s.freed_objects.load(Relaxed),
            freed_bytes: s.freed_bytes.load(Relaxed),
            reused_objects: s.reused_objects.load(Relaxed),
        }
    }

    /// Whether `obj` is allocated now: false once a sweep has freed it,
    /// until it is reused.
    pub fn is_allocated(&self, obj: ObjRef) -> bool {
        obj.0 < self.len() && self.spans.is_allocated(obj.0)
    }

    /// `obj`'s allocation generation: 1 for its index's first allocation,
    /// one more for each reuse after a sweep freed it. A reference whose
    /// generation changed points to a different object than it did.
    pub fn generation(&self, obj: ObjRef) -> Result<u32, HeapError> {
        self.check(obj)?;
        Ok(self.meta[obj.0 as usize].generation.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::HeapConfig;

    #[test]
    fn classes_cover_every_small_size() {
        assert_eq!(size_class(0), Some(0));
        assert_eq!(CLASS_SLOTS[size_class(4).unwrap()], 4);
        assert_eq!(CLASS_SLOTS[size_class(9).unwrap()], 10);
        assert_eq!(size_class(MAX_SMALL_SLOTS + 1), None);
        for n in 0..=MAX_SMALL_SLOTS {
            let c = CLASS_SLOTS[size_class(n).unwrap()];
            assert!(c >= n && (n == 0 || c * 4 <= n * 5 + 4), "{n} -> {c}");
        }
        assert_eq!(CLASS_SLOTS[floor_class(9)], 8);
        assert_eq!(CLASS_SLOTS[floor_class(1000)], MAX_SMALL_SLOTS);
    }

    fn heap() -> Heap {
        Heap::new(HeapConfig {
            max_objects: 1024,
            max_slots: 1 << 16,
            globals: 0,
        })
    }

    #[test]
    fn sweep_frees_white_objects_and_allocation_reuses_them() {
        let h = heap();
        let marks = MarkBits::new(1024);
        let mut cache = MCache::new();
        let objs: Vec<_> = (0..10)
            .map(|_| h.alloc_cached(&mut cache, 32, 4, &marks).unwrap())
            .collect();
        // One span, indices 0..10, slots 4 apart.
        assert_eq!(objs[3], ObjRef(3));
        assert_eq!(h.object(objs[3]).unwrap().slot_start, 12);
        h.store(objs[0], 0, Some(objs[1])).unwrap();
        // Objects 0 and 1 survive.
        marks.try_mark(0);
        marks.try_mark(1);
        cache.release();
        h.start_sweep();
        h.finish_sweep(&marks);
        let c = h.sweep_counts();
        assert_eq!((c.freed_objects, c.freed_bytes), (8, 8 * 32));
        assert_eq!(h.allocated_bytes(), 64);
        assert!(h.is_allocated(objs[1]) && !h.is_allocated(objs[2]));
        assert!(matches!(
            h.load(objs[2], 0),
            Err(HeapError::NotAllocated { obj: 2 })
        ));
        // The lowest free index comes back, one generation on, with nil
        // slots and its slot range kept.
        let r = h.alloc_cached(&mut cache, 40, 4, &marks).unwrap();
        assert_eq!(r, ObjRef(2));
        assert_eq!(h.generation(r).unwrap(), 2);
        assert_eq!(h.generation(objs[0]).unwrap(), 1);
        let d = h.object(r).unwrap();
        assert_eq!((d.slot_start, d.nslots, d.size), (8, 4, 40));
        assert_eq!(h.load(r, 3).unwrap(), None);
        assert_eq!(h.load(objs[0], 0).unwrap(), Some(objs[1]));
        assert_eq!(h.sweep_counts().reused_objects, 1);
    }

    #[test]
    fn objects_allocated_after_termination_survive_the_sweep() {
        let h = heap();
        let marks = MarkBits::new(1024);
        let mut cache = MCache::new();
        let a = h.alloc_cached(&mut cache, 8, 0, &marks).unwrap();
        cache.release();
        h.start_sweep();
        // Allocated after termination, before its span is swept: its mark
        // bit is stale (clear) but it is not in alloc_at_mark.
        let b = h.alloc(16, 1).unwrap();
        h.finish_sweep(&marks);
        assert!(!h.is_allocated(a), "white object not freed");
        assert!(
            h.is_allocated(b),
            "object allocated after termination freed"
        );
    }

    #[test]
    fn bump_objects_are_reused_by_the_class_they_fit() {
        let h = heap();
        let marks = MarkBits::new(1024);
        let objs: Vec<_> = (0..5)
            .map(|i| h.alloc(8 * (5 + i), 5 + i).unwrap())
            .collect();
        let big = h.alloc(8 * 300, 300).unwrap();
        h.start_sweep();
        h.finish_sweep(&marks);
        assert!(objs.iter().all(|&o| !h.is_allocated(o)) && !h.is_allocated(big));
        let mut cache = MCache::new();
        // The span's smallest object holds 5 slots: it serves class 5.
        let r = h.alloc_cached(&mut cache, 40, 5, &marks).unwrap();
        assert!(objs.contains(&r), "{r:?} is not a reused index");
        // The 300-slot large object takes a 280-slot request.
        let l = h.alloc_cached(&mut cache, 8 * 280, 280, &marks).unwrap();
        assert_eq!(l, big);
        assert_eq!(h.generation(l).unwrap(), 2);
    }

    #[test]
    fn a_full_arena_is_an_error_not_a_reuse_of_live_objects() {
        let h = Heap::new(HeapConfig {
            max_objects: 64,
            max_slots: 256,
            globals: 0,
        });
        let marks = MarkBits::new(64);
        let mut cache = MCache::new();
        for _ in 0..64 {
            h.alloc_cached(&mut cache, 32, 4, &marks).unwrap();
        }
        assert!(matches!(
            h.alloc_cached(&mut cache, 32, 4, &marks),
            Err(HeapError::HeapFull {
                what: "objects",
                ..
            })
        ));
        // Every object marked: the sweep frees nothing.
        for i in 0..64 {
            marks.try_mark(i);
        }
        cache.release();
        h.start_sweep();
        h.finish_sweep(&marks);
        assert_eq!(h.sweep_counts().freed_objects, 0);
        assert!(h.alloc_cached(&mut cache, 32, 4, &marks).is_err());
    }
}
