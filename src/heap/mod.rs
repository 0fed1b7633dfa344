//! The heap: a fixed-capacity object arena with atomic pointer slots and roots.
//!
//! Go counterpart: mheap/mspan and the heap bitmap, reduced to what a marker
//! needs. Objects are addressed by a dense index ([`ObjRef`]); each object has a
//! size in bytes (for `bytes_marked` and heap accounting) and a contiguous range
//! of pointer slots in one flat `slots` array. This is a *pointer-segregated*
//! layout: scalar words are never stored, so the scanner reads only pointers,
//! the way Go's scanobject reads only the words the heap bitmap says are
//! pointers. The same four arrays (slot start, slot count, size, slots) are what
//! the GPU mirrors buffer for buffer.
//!
//! A slot holds `target + 1`, and `0` is nil, so a zeroed arena is a heap of nil
//! pointers.
//!
//! # Capacity
//!
//! Capacity (objects and slots) is reserved when the heap is created, as Go
//! reserves its arenas: mutators and markers therefore never see an array move
//! under them, and running out is a typed error ([`HeapError::HeapFull`]) rather
//! than a reallocation. Allocation is a single compare-and-swap on one packed
//! word holding both bump pointers, so an object either gets both its index and
//! its slots or nothing at all: a failed allocation leaves no trace.
//!
//! # Memory ordering
//!
//! Slots are `AtomicU32` accessed with relaxed loads and stores: a mutator may
//! write while markers read, exactly as in Go, and the write barrier (not the
//! memory model) is what makes marking correct. An object's descriptor is
//! written by the allocating thread before the object's index can be stored in
//! any slot; a marker only reads descriptors of objects allocated *before* the
//! current cycle's allocation watermark (objects above it are black and never
//! scanned), and those were published by the synchronisation that started the
//! cycle.
//!
//! # Dirty cards
//!
//! Every [`CARD_SLOTS`] consecutive slots form a *card* with a dirty flag,
//! set by each pointer write ([`Heap::store`], or [`Heap::note_slot_write`]
//! for writers that store through [`Heap::raw_slots`]). A copy of the heap
//! kept elsewhere (the GPU mirror) takes the flags with
//! [`Heap::take_dirty_slot_ranges`] and re-copies only those slots, instead of
//! the whole slot array, at the start of each cycle. This is Go's card
//! marking idea used for a mirror rather than for generations.
//!
//! Ordering: a writer stores the slot, then swaps the card flag to 1 with
//! `Release`; the taker swaps each flag to 0 with `Acquire` and reads the
//! slots after. If the taker's swap reads a 1 from (or after, through the
//! RMW release sequence) the writer's swap, it sees the slot write; if the
//! writer's swap comes later, the card stays dirty for the next take. Either
//! way no write is missed for good. (A plain "load, and skip the swap if
//! already set" fast path would break this: the load may see a flag that a
//! concurrent take is clearing.)

mod build;
mod csr;
mod image;
mod span;

pub use build::{build, try_build, Shape, ShapeSpec};
pub use csr::CsrGraph;
pub use image::{
    load_image, load_image_file, save_image, save_image_file, ImageCount, ImageError, ImageSection,
    IMAGE_MAGIC, IMAGE_VERSION,
};
pub use span::{
    size_class, MCache, SweepCounts, CLASS_SLOTS, MAX_SMALL_SLOTS, NUM_CLASSES, SPAN_OBJECTS,
    SPAN_SLOTS,
};

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use std::sync::{Arc, Mutex, RwLock};
use thiserror::Error;

/// Bytes in a pointer word; scan work is counted in bytes, as in Go.
pub const WORD_BYTES: u64 = 8;

/// Slots per dirty card (see "Dirty cards" above): 4 KiB of 4-byte slots,
/// small enough that a few scattered writes re-copy little, large enough
/// that the flags (one byte per card) cost nothing next to the slots.
pub const CARD_SLOTS: usize = 1024;

/// Objects per dirty card of the object table (see "Dirty cards").
pub const OBJECT_CARD_OBJECTS: usize = 1024;

/// What a freed object's slots hold in debug builds: never a valid encoded
/// reference (it decodes past any heap's capacity, so scanners skip it as
/// they skip objects above the allocation watermark).
pub const POISON_SLOT: u32 = u32::MAX;

/// A reference to an object: its dense index in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjRef(pub u32);

impl ObjRef {
    /// The slot encoding of an optional reference (`target + 1`, 0 for nil).
    #[inline]
    pub fn encode(r: Option<ObjRef>) -> u32 {
        r.map_or(0, |o| o.0 + 1)
    }

    /// Decodes a slot value.
    #[inline]
    pub fn decode(v: u32) -> Option<ObjRef> {
        v.checked_sub(1).map(ObjRef)
    }
}

/// What the heap records of one object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjDesc {
    /// Index of the object's first slot in the flat slot array.
    pub slot_start: u32,
    /// Number of pointer slots.
    pub nslots: u32,
    /// Size in bytes (at least `8 * nslots`).
    pub size: u32,
}

/// Errors of the heap API: capacity and bounds.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeapError {
    /// The arena has no room left for the request.
    #[error("heap full: {what} capacity is {capacity}, {used} in use, {requested} more requested")]
    HeapFull {
        /// Which capacity ran out ("objects" or "slots").
        what: &'static str,
        /// The capacity reserved at creation.
        capacity: u64,
        /// How much is in use.
        used: u64,
        /// How much the failed request needed.
        requested: u64,
    },
    /// A reference names an object that was never allocated.
    #[error("object {obj} does not exist: the heap holds {len} objects")]
    NoSuchObject {
        /// The offending index.
        obj: u32,
        /// Objects allocated.
        len: u32,
    },
    /// A slot index past the end of an object.
    #[error("slot {slot} is out of range for object {obj}, which has {nslots} slots")]
    NoSuchSlot {
        /// The object.
        obj: u32,
        /// The slot asked for.
        slot: u32,
        /// The object's slot count.
        nslots: u32,
    },
    /// A reference to an object a sweep has freed (or an index no object was
    /// ever allocated at): a live object would never be freed, so this is
    /// a reference the program should not hold.
    #[error("object {obj} is not allocated: a sweep freed it, or it was never allocated")]
    NotAllocated {
        /// The offending index.
        obj: u32,
    },
    /// A global root index past the end of the global area.
    #[error("global root {index} is out of range: there are {len} global roots")]
    NoSuchGlobal {
        /// The index asked for.
        index: usize,
        /// Global roots reserved.
        len: usize,
    },
    /// An object too small to hold its own pointer slots.
    #[error("object size {size} bytes cannot hold {nslots} pointer slots of 8 bytes")]
    BadSize {
        /// Requested size.
        size: u32,
        /// Requested slots.
        nslots: u32,
    },
    /// An object too small to hold its own pointer slots, in a graph given to
    /// [`Heap::from_csr`].
    #[error("object {obj} is {size} bytes, too small for its {nslots} pointer slots of 8 bytes")]
    ObjectTooSmall {
        /// The object.
        obj: u32,
        /// Its size in bytes.
        size: u32,
        /// Its slot count.
        nslots: u32,
    },
    /// A slot of a graph given to [`Heap::from_csr`] names an object past the
    /// last one.
    #[error("slot {slot} of object {obj} points to object {target}, but there are only {objects} objects")]
    SlotOutOfRange {
        /// The object holding the slot.
        obj: u32,
        /// The slot's index within the object.
        slot: u32,
        /// The object it names.
        target: u32,
        /// Objects in the graph.
        objects: u32,
    },
    /// A global root of a graph given to [`Heap::from_csr`] names an object
    /// past the last one.
    #[error("global root {index} points to object {target}, but there are only {objects} objects")]
    GlobalOutOfRange {
        /// The global's index.
        index: usize,
        /// The object it names.
        target: u32,
        /// Objects in the graph.
        objects: u32,
    },
    /// A stack slot of a graph given to [`Heap::from_csr`] names an object
    /// past the last one.
    #[error("slot {index} of stack {stack} points to object {target}, but there are only {objects} objects")]
    StackSlotOutOfRange {
        /// The stack, in the order they were added.
        stack: usize,
        /// The slot's index within the stack.
        index: usize,
        /// The object it names.
        target: u32,
        /// Objects in the graph.
        objects: u32,
    },
    /// CSR offsets of the wrong length: one per object and one for the end
    /// are needed.
    #[error("CSR offsets have {offsets} entries, but {objects} objects need {need} (one per object and one for the end)", need = u64::from(*.objects) + 1)]
    CsrOffsetsLength {
        /// Offsets given.
        offsets: usize,
        /// Objects (sizes) given.
        objects: u32,
    },
    /// CSR offsets that do not start at 0.
    #[error("CSR offsets must start at 0, not {first}")]
    CsrOffsetsStart {
        /// The first offset.
        first: u32,
    },
    /// CSR offsets that decrease: object `obj` would end before it starts.
    #[error("CSR offsets decrease at object {obj}: its slots would run from {start} to {end}")]
    CsrOffsetsDecrease {
        /// The object.
        obj: u32,
        /// `offsets[obj]`.
        start: u32,
        /// `offsets[obj + 1]`.
        end: u32,
    },
    /// The last CSR offset is not the number of targets.
    #[error("the last CSR offset is {last_offset}, but there are {targets} targets (they must be equal)")]
    CsrTargetsLength {
        /// The last offset.
        last_offset: u32,
        /// Targets given.
        targets: usize,
    },
    /// Requested capacity does not fit the 32-bit indices used by the heap.
    #[error("capacity of {requested} {what} exceeds the limit of {limit}")]
    CapacityTooLarge {
        /// "objects" or "slots".
        what: &'static str,
        /// What was asked.
        requested: u64,
        /// The limit.
        limit: u64,
    },
}

/// Capacities reserved when a heap is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapConfig {
    /// Maximum number of objects.
    pub max_objects: u32,
    /// Maximum number of pointer slots over all objects.
    pub max_slots: u32,
    /// Number of global root slots.
    pub globals: usize,
}

/// One mutator's stack: a vector of root slots.
///
/// Stacks are scanned once per cycle by a markroot job and need no write
/// barrier (Go's hybrid barrier); scanning holds the lock, which plays the role
/// of suspending the goroutine while its stack is scanned.
#[derive(Debug, Default)]
pub struct Stack {
    slots: Mutex<Vec<u32>>,
}

impl Stack {
    /// Runs `f` over the stack's slots (encoded) while holding it.
    pub fn with<R>(&self, f: impl FnOnce(&mut Vec<u32>) -> R) -> R {
        let mut g = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// A copy of the stack's encoded slots.
    pub fn snapshot(&self) -> Vec<u32> {
        self.with(|s| s.clone())
    }
}

/// The object arena. See the module documentation for the layout.
#[derive(Debug)]
pub struct Heap {
    config: HeapConfig,
    /// One descriptor per object, its three words side by side so a marker
    /// pays one cache miss, not three, to learn an object's extent.
    objects: Box<[ObjCell]>,
    /// What the allocator keeps per object, apart from the descriptors so
    /// that marking's descriptor reads stay 12 bytes an object.
    meta: Box<[ObjMeta]>,
    slots: Box<[AtomicU32]>,
    /// Packed bump pointers: objects allocated in the high 32 bits, slots in
    /// the low 32 bits, so both move in one compare-and-swap.
    bump: AtomicU64,
    /// Bytes allocated (sum of object sizes).
    allocated_bytes: AtomicU64,
    globals: Box<[AtomicU32]>,
    stacks: RwLock<Vec<Arc<Stack>>>,
    /// One dirty flag per [`CARD_SLOTS`] slots (see the module comment).
    cards: Cards,
    /// One dirty flag per [`OBJECT_CARD_OBJECTS`] descriptors, set when a
    /// freed object is reused with a new size and slot count.
    object_cards: Cards,
    /// Spans, size classes and the sweep (see `span`).
    spans: span::Spans,
}

/// The stored form of an [`ObjDesc`].
#[derive(Debug, Default)]
struct ObjCell {
    slot_start: AtomicU32,
    nslots: AtomicU32,
    size: AtomicU32,
}

impl ObjCell {
    fn new(slot_start: u32, nslots: u32, size: u32) -> ObjCell {
        ObjCell {
            slot_start: AtomicU32::new(slot_start),
            nslots: AtomicU32::new(nslots),
            size: AtomicU32::new(size),
        }
    }
}

/// What the allocator keeps of an object index (see `span`).
#[derive(Debug, Default)]
struct ObjMeta {
    /// Slots reserved at the object's `slot_start`, for life (at least its
    /// `nslots`).
    cap: AtomicU32,
    /// Allocations of this index so far (0: never allocated).
    generation: AtomicU32,
}

impl ObjMeta {
    fn allocated(cap: u32) -> ObjMeta {
        ObjMeta {
            cap: AtomicU32::new(cap),
            generation: AtomicU32::new(1),
        }
    }
}

fn default_boxed<T: Default>(n: usize) -> Box<[T]> {
    std::iter::repeat_with(T::default).take(n).collect()
}

fn atomic_zeroed(n: usize) -> Box<[AtomicU32]> {
    std::iter::repeat_with(|| AtomicU32::new(0))
        .take(n)
        .collect()
}

/// Dirty flags, one per `per` elements (see "Dirty cards" in the module
/// comment for the ordering that makes a concurrent write never missed).
#[derive(Debug)]
struct Cards {
    flags: Box<[AtomicU8]>,
    per: usize,
    /// Elements covered (the last card is clipped to it).
    len: usize,
}

impl Cards {
    fn new(len: usize, per: usize) -> Cards {
        Cards {
            flags: std::iter::repeat_with(|| AtomicU8::new(0))
                .take(len.div_ceil(per))
                .collect(),
            per,
            len,
        }
    }

    #[inline]
    fn note(&self, i: usize) {
        if let Some(c) = self.flags.get(i / self.per) {
            c.swap(1, Release);
        }
    }

    fn take_ranges(&self) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (i, c) in self.flags.iter().enumerate() {
            if c.load(Relaxed) == 0 || c.swap(0, Acquire) == 0 {
                continue;
            }
            let (s, e) = (i * self.per, ((i + 1) * self.per).min(self.len));
            match out.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => out.push((s, e)),
            }
        }
        out
    }
}

impl Heap {
    /// Reserves an empty heap with the given capacities.
    pub fn new(config: HeapConfig) -> Heap {
        Heap {
            config,
            objects: default_boxed(config.max_objects as usize),
            meta: default_boxed(config.max_objects as usize),
            slots: atomic_zeroed(config.max_slots as usize),
            bump: AtomicU64::new(0),
            allocated_bytes: AtomicU64::new(0),
            globals: atomic_zeroed(config.globals),
            stacks: RwLock::new(Vec::new()),
            cards: Cards::new(config.max_slots as usize, CARD_SLOTS),
            object_cards: Cards::new(config.max_objects as usize, OBJECT_CARD_OBJECTS),
            spans: span::Spans::new(config.max_objects),
        }
    }

    /// The capacities this heap was created with.
    pub fn config(&self) -> HeapConfig {
        self.config
    }

    fn check_size(size: u32, nslots: u32) -> Result<(), HeapError> {
        if u64::from(size) < u64::from(nslots) * WORD_BYTES {
            return Err(HeapError::BadSize { size, nslots });
        }
        Ok(())
    }

    /// Allocates an object of `size` bytes with `nslots` nil pointer slots at
    /// the end of the arena, right after the last one: the builders' layout.
    /// It never reuses a freed object; mutators of a running collector
    /// allocate with [`Heap::alloc_cached`], which does.
    ///
    /// Thread-safe; either the whole object is allocated or nothing is.
    pub fn alloc(&self, size: u32, nslots: u32) -> Result<ObjRef, HeapError> {
        Self::check_size(size, nslots)?;
        let mut cur = self.bump.load(Relaxed);
        loop {
            let (objs, slots) = ((cur >> 32) as u32, cur as u32);
            if objs >= self.config.max_objects {
                return Err(HeapError::HeapFull {
                    what: "objects",
                    capacity: self.config.max_objects.into(),
                    used: objs.into(),
                    requested: 1,
                });
            }
            let end = u64::from(slots) + u64::from(nslots);
            if end > u64::from(self.config.max_slots) {
                return Err(HeapError::HeapFull {
                    what: "slots",
                    capacity: self.config.max_slots.into(),
                    used: slots.into(),
                    requested: nslots.into(),
                });
            }
            let next = (u64::from(objs + 1) << 32) | end;
            match self.bump.compare_exchange_weak(cur, next, AcqRel, Relaxed) {
                Ok(_) => {
                    let c = &self.objects[objs as usize];
                    c.slot_start.store(slots, Relaxed);
                    c.nslots.store(nslots, Relaxed);
                    c.size.store(size, Relaxed);
                    let meta = &self.meta[objs as usize];
                    meta.cap.store(nslots, Relaxed);
                    // Allocated before its generation says so: a sweep that
                    // sees the generation sees the object allocated.
                    self.spans.set_bumped(objs);
                    meta.generation.fetch_add(1, Release);
                    self.allocated_bytes.fetch_add(size.into(), Relaxed);
                    return Ok(ObjRef(objs));
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Number of objects allocated so far.
    #[inline]
    pub fn len(&self) -> u32 {
        (self.bump.load(Acquire) >> 32) as u32
    }

    /// True if no object has been allocated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of pointer slots allocated so far.
    pub fn slots_len(&self) -> u32 {
        self.bump.load(Acquire) as u32
    }

    /// Bytes allocated and not freed (the sum of live object sizes).
    pub fn allocated_bytes(&self) -> u64 {
        self.allocated_bytes.load(Relaxed)
    }

    /// The descriptor of `obj`, which the caller knows is allocated.
    #[inline]
    pub fn desc(&self, obj: u32) -> ObjDesc {
        let c = &self.objects[obj as usize];
        ObjDesc {
            slot_start: c.slot_start.load(Relaxed),
            nslots: c.nslots.load(Relaxed),
            size: c.size.load(Relaxed),
        }
    }

    /// The descriptor of `obj`, checked.
    pub fn object(&self, obj: ObjRef) -> Result<ObjDesc, HeapError> {
        self.check(obj)?;
        Ok(self.desc(obj.0))
    }

    fn check(&self, obj: ObjRef) -> Result<(), HeapError> {
        let len = self.len();
        if obj.0 >= len {
            return Err(HeapError::NoSuchObject { obj: obj.0, len });
        }
        if !self.spans.is_allocated(obj.0) {
            return Err(HeapError::NotAllocated { obj: obj.0 });
        }
        Ok(())
    }

    fn slot_index(&self, obj: ObjRef, slot: u32) -> Result<usize, HeapError> {
        let d = self.object(obj)?;
        if slot >= d.nslots {
            return Err(HeapError::NoSuchSlot {
                obj: obj.0,
                slot,
                nslots: d.nslots,
            });
        }
        Ok((d.slot_start + slot) as usize)
    }

    /// Reads slot `slot` of `obj`.
    pub fn load(&self, obj: ObjRef, slot: u32) -> Result<Option<ObjRef>, HeapError> {
        let i = self.slot_index(obj, slot)?;
        Ok(ObjRef::decode(self.slots[i].load(Relaxed)))
    }

    /// Writes slot `slot` of `obj` and returns the old value. This is the raw
    /// store: while marking, mutators go through the write barrier instead.
    pub fn store(
        &self,
        obj: ObjRef,
        slot: u32,
        val: Option<ObjRef>,
    ) -> Result<Option<ObjRef>, HeapError> {
        if let Some(v) = val {
            self.check(v)?;
        }
        let i = self.slot_index(obj, slot)?;
        let old = self.slots[i].swap(ObjRef::encode(val), Relaxed);
        self.note_slot_write(i);
        Ok(ObjRef::decode(old))
    }

    /// Marks the card of slot `slot` (an index into [`Heap::raw_slots`])
    /// dirty. [`Heap::store`] does this itself; code that writes slots
    /// through `raw_slots` must call it after each write, or mirrors of the
    /// heap (the GPU's) miss the write from the next cycle on. Out-of-range
    /// indices are ignored.
    #[inline]
    pub fn note_slot_write(&self, slot: usize) {
        self.cards.note(slot);
    }

    /// Clears every dirty card and returns the slot ranges `[start, end)` they
    /// cover (adjacent cards merged, clipped to the slot capacity): the slots
    /// written since the previous call. See "Dirty cards" in the module
    /// comment for why a concurrent write is never missed for good.
    pub fn take_dirty_slot_ranges(&self) -> Vec<(usize, usize)> {
        self.cards.take_ranges()
    }

    /// Clears every dirty object card and returns the object ranges
    /// `[start, end)` whose descriptors changed since the previous call:
    /// freed objects reused with a new size and slot count. Objects past
    /// what a mirror has uploaded need no card; it uploads them whole.
    pub fn take_dirty_object_ranges(&self) -> Vec<(usize, usize)> {
        self.object_cards.take_ranges()
    }

    /// The flat slot array (encoded values), for scanners and mirrors.
    #[inline]
    pub fn raw_slots(&self) -> &[AtomicU32] {
        &self.slots
    }

    /// The global root slots (encoded values).
    #[inline]
    pub fn globals(&self) -> &[AtomicU32] {
        &self.globals
    }

    fn global_cell(&self, index: usize) -> Result<&AtomicU32, HeapError> {
        self.globals.get(index).ok_or(HeapError::NoSuchGlobal {
            index,
            len: self.globals.len(),
        })
    }

    /// Global root `index`.
    pub fn global(&self, index: usize) -> Result<Option<ObjRef>, HeapError> {
        Ok(ObjRef::decode(self.global_cell(index)?.load(Relaxed)))
    }

    /// Sets global root `index` and returns the old value. This is the raw
    /// store: while marking, mutators go through the write barrier instead
    /// (`Mutator::set_global`).
    pub fn set_global(
        &self,
        index: usize,
        val: Option<ObjRef>,
    ) -> Result<Option<ObjRef>, HeapError> {
        if let Some(v) = val {
            self.check(v)?;
        }
        let old = self.global_cell(index)?.swap(ObjRef::encode(val), Relaxed);
        Ok(ObjRef::decode(old))
    }

    /// Registers a new, empty mutator stack and returns it.
    pub fn new_stack(&self) -> Arc<Stack> {
        let s = Arc::new(Stack::default());
        self.stacks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(s.clone());
        s
    }

    /// Removes a stack from the root set (a mutator exiting).
    pub fn remove_stack(&self, stack: &Arc<Stack>) {
        self.stacks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| !Arc::ptr_eq(s, stack));
    }

    /// The registered stacks.
    pub fn stacks(&self) -> Vec<Arc<Stack>> {
        self.stacks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Number of non-nil slots among allocated objects (the graph's edges).
    pub fn edges(&self) -> u64 {
        self.slots[..self.slots_len() as usize]
            .iter()
            .filter(|s| !matches!(s.load(Relaxed), 0 | POISON_SLOT))
            .count() as u64
    }

    /// Builds a heap from validated parts: object `(size, nslots)` pairs laid
    /// out consecutively, the slot array, global roots and stacks. Capacity is
    /// exactly what the parts need plus `extra`. The caller guarantees every
    /// encoded value is nil or names an object in `objects`.
    pub(crate) fn from_parts(
        objects: &[(u32, u32)],
        slots: Vec<u32>,
        globals: Vec<u32>,
        stacks: Vec<Vec<u32>>,
        extra: HeapConfig,
    ) -> Heap {
        let n = objects.len();
        let mut cells = Vec::with_capacity(n + extra.max_objects as usize);
        let mut next = 0u32;
        let mut bytes = 0u64;
        for &(sz, ns) in objects {
            cells.push(ObjCell::new(next, ns, sz));
            next += ns;
            bytes += u64::from(sz);
        }
        cells.extend(std::iter::repeat_with(ObjCell::default).take(extra.max_objects as usize));
        let meta: Box<[ObjMeta]> = objects
            .iter()
            .map(|&(_, ns)| ObjMeta::allocated(ns))
            .chain(std::iter::repeat_with(ObjMeta::default).take(extra.max_objects as usize))
            .collect();
        let used_slots = slots.len();
        let slots: Box<[AtomicU32]> = slots
            .into_iter()
            .map(AtomicU32::new)
            .chain(std::iter::repeat_with(|| AtomicU32::new(0)).take(extra.max_slots as usize))
            .collect();
        let globals: Box<[AtomicU32]> = globals
            .into_iter()
            .map(AtomicU32::new)
            .chain(std::iter::repeat_with(|| AtomicU32::new(0)).take(extra.globals))
            .collect();
        let stacks = stacks
            .into_iter()
            .map(|s| {
                Arc::new(Stack {
                    slots: Mutex::new(s),
                })
            })
            .collect();
        let spans = span::Spans::new(cells.len() as u32);
        for i in 0..n as u32 {
            spans.set_allocated(i);
        }
        Heap {
            cards: Cards::new(slots.len(), CARD_SLOTS),
            object_cards: Cards::new(cells.len(), OBJECT_CARD_OBJECTS),
            spans,
            config: HeapConfig {
                max_objects: cells.len() as u32,
                max_slots: slots.len() as u32,
                globals: globals.len(),
            },
            objects: cells.into_boxed_slice(),
            meta,
            slots,
            bump: AtomicU64::new(((n as u64) << 32) | used_slots as u64),
            allocated_bytes: AtomicU64::new(bytes),
            globals,
            stacks: RwLock::new(stacks),
        }
    }
}

/// A read-only view of a heap: what a running collector hands out.
///
/// Once a [`Collector`](crate::collector::Collector) owns a heap, every
/// pointer write must go through a mutator's write barrier; the raw writers
/// ([`Heap::store`], [`Heap::set_global`], [`Heap::raw_slots`], stacks'
/// [`Stack::with`]) would skip it, and one unbarriered deletion is enough to
/// lose a live object. So the collector hands out this view, which can only
/// read. The raw writers stay on [`Heap`] for building a heap before a
/// collector owns it.
///
/// ```
/// # use gpumark::collector::{Collector, CollectorConfig};
/// # use gpumark::heap::{Heap, HeapConfig};
/// # use std::sync::Arc;
/// let heap = Heap::new(HeapConfig { max_objects: 64, max_slots: 64, globals: 1 });
/// let c = Collector::new(Arc::new(heap), CollectorConfig::default()).unwrap();
/// let m = c.mutator();
/// let o = m.alloc(16, 0).unwrap();
/// m.set_global(0, Some(o)).unwrap(); // barriered
/// assert_eq!(c.heap().global(0).unwrap(), Some(o)); // reads are fine
/// ```
///
/// A raw write through the collector does not compile:
///
/// ```compile_fail
/// # use gpumark::collector::{Collector, CollectorConfig};
/// # use gpumark::heap::{Heap, HeapConfig};
/// # use std::sync::Arc;
/// let heap = Heap::new(HeapConfig { max_objects: 64, max_slots: 64, globals: 1 });
/// let c = Collector::new(Arc::new(heap), CollectorConfig::default()).unwrap();
/// c.heap().set_global(0, None).unwrap();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HeapView<'a> {
    heap: &'a Heap,
}

impl<'a> HeapView<'a> {
    /// A read-only view of `heap`.
    pub fn new(heap: &'a Heap) -> Self {
        HeapView { heap }
    }

    /// The capacities the heap was created with.
    pub fn config(&self) -> HeapConfig {
        self.heap.config()
    }

    /// Object indices handed out so far (see [`Heap::len`]).
    pub fn len(&self) -> u32 {
        self.heap.len()
    }

    /// True if no object has been allocated.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Pointer slots handed out so far.
    pub fn slots_len(&self) -> u32 {
        self.heap.slots_len()
    }

    /// Bytes allocated and not freed.
    pub fn allocated_bytes(&self) -> u64 {
        self.heap.allocated_bytes()
    }

    /// The descriptor of `obj`, checked.
    pub fn object(&self, obj: ObjRef) -> Result<ObjDesc, HeapError> {
        self.heap.object(obj)
    }

    /// Reads slot `slot` of `obj`.
    pub fn load(&self, obj: ObjRef, slot: u32) -> Result<Option<ObjRef>, HeapError> {
        self.heap.load(obj, slot)
    }

    /// Global root `index`.
    pub fn global(&self, index: usize) -> Result<Option<ObjRef>, HeapError> {
        self.heap.global(index)
    }

    /// Number of global roots.
    pub fn globals_len(&self) -> usize {
        self.heap.globals().len()
    }

    /// Non-nil slots among allocated objects.
    pub fn edges(&self) -> u64 {
        self.heap.edges()
    }

    /// Whether `obj` is allocated now.
    pub fn is_allocated(&self, obj: ObjRef) -> bool {
        self.heap.is_allocated(obj)
    }

    /// `obj`'s allocation generation (see [`Heap::generation`]).
    pub fn generation(&self, obj: ObjRef) -> Result<u32, HeapError> {
        self.heap.generation(obj)
    }

    /// What sweeping has freed and reused so far.
    pub fn sweep_counts(&self) -> SweepCounts {
        self.heap.sweep_counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Heap {
        Heap::new(HeapConfig {
            max_objects: 4,
            max_slots: 6,
            globals: 2,
        })
    }

    #[test]
    fn alloc_until_full_is_all_or_nothing() {
        let h = small();
        let a = h.alloc(32, 4).unwrap();
        assert_eq!(h.desc(a.0).slot_start, 0);
        let e = h.alloc(24, 3).unwrap_err();
        assert!(
            matches!(e, HeapError::HeapFull { what: "slots", .. }),
            "{e}"
        );
        // The failed allocation took nothing: the next object starts at 4.
        let b = h.alloc(16, 2).unwrap();
        assert_eq!((b.0, h.desc(b.0).slot_start), (1, 4));
        h.alloc(8, 0).unwrap();
        h.alloc(8, 0).unwrap();
        let e = h.alloc(8, 0).unwrap_err();
        assert!(matches!(
            e,
            HeapError::HeapFull {
                what: "objects",
                ..
            }
        ));
        assert_eq!(h.len(), 4);
        assert_eq!(h.allocated_bytes(), 32 + 16 + 8 + 8);
    }

    #[test]
    fn store_load_and_bounds() {
        let h = small();
        let a = h.alloc(16, 2).unwrap();
        let b = h.alloc(8, 0).unwrap();
        assert_eq!(h.store(a, 1, Some(b)).unwrap(), None);
        assert_eq!(h.load(a, 1).unwrap(), Some(b));
        assert_eq!(h.store(a, 1, None).unwrap(), Some(b));
        assert!(matches!(
            h.load(a, 2),
            Err(HeapError::NoSuchSlot { nslots: 2, .. })
        ));
        assert!(matches!(
            h.store(a, 0, Some(ObjRef(9))),
            Err(HeapError::NoSuchObject { obj: 9, len: 2 })
        ));
        assert!(matches!(
            h.set_global(5, None),
            Err(HeapError::NoSuchGlobal { index: 5, len: 2 })
        ));
        assert_eq!(
            h.alloc(8, 2),
            Err(HeapError::BadSize { size: 8, nslots: 2 })
        );
    }

    #[test]
    fn stores_dirty_their_cards_until_taken() {
        let h = Heap::new(HeapConfig {
            max_objects: 4,
            max_slots: (3 * CARD_SLOTS + 10) as u32,
            globals: 0,
        });
        let a = h
            .alloc(8 * 2 * CARD_SLOTS as u32, 2 * CARD_SLOTS as u32)
            .unwrap();
        let b = h
            .alloc(8 * (CARD_SLOTS as u32 + 10), CARD_SLOTS as u32 + 10)
            .unwrap();
        assert_eq!(h.take_dirty_slot_ranges(), vec![], "alloc dirties nothing");
        h.store(a, 1, Some(b)).unwrap();
        h.store(a, CARD_SLOTS as u32 + 3, Some(b)).unwrap();
        h.store(b, CARD_SLOTS as u32 + 5, Some(a)).unwrap();
        // Cards 0 and 1 merge; card 3 is clipped to the capacity.
        assert_eq!(
            h.take_dirty_slot_ranges(),
            vec![(0, 2 * CARD_SLOTS), (3 * CARD_SLOTS, 3 * CARD_SLOTS + 10)]
        );
        assert_eq!(h.take_dirty_slot_ranges(), vec![]);
        h.note_slot_write(usize::MAX);
        assert_eq!(h.take_dirty_slot_ranges(), vec![]);
    }

    #[test]
    fn concurrent_alloc_gives_disjoint_slot_ranges() {
        let h = Heap::new(HeapConfig {
            max_objects: 4000,
            max_slots: 4000 * 3,
            globals: 0,
        });
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let h = &h;
                s.spawn(move || {
                    for i in 0..1000u32 {
                        h.alloc(64, (i + t) % 4).unwrap();
                    }
                });
            }
        });
        let mut ranges: Vec<_> = (0..h.len())
            .map(|i| {
                let d = h.desc(i);
                (d.slot_start, d.slot_start + d.nslots)
            })
            .collect();
        ranges.sort();
        for w in ranges.windows(2) {
            assert!(w[0].1 <= w[1].0, "overlap {:?}", w);
        }
        assert_eq!(ranges.last().unwrap().1, h.slots_len());
    }
}
