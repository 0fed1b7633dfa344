//! The mutator's side: allocation, pointer reads and writes through the
//! write barrier, and the stack of roots. Go counterparts: malloc.go
//! (`mallocgc`, `deductAssistCredit`, `gcmarknewobject`), mbarrier.go and
//! mwbbuf.go (the hybrid write barrier and its per-P buffer), mcache.go.
//!
//! Each [`Mutator`] keeps what a Go P keeps for its goroutine (a work
//! cache, a barrier buffer, an mcache, unreported allocation) in a
//! `MutatorLocal` behind its own lock, which the mutator takes for every
//! operation and the collector takes to stop the world or flush it. Its
//! assists are in `assist_alloc`.

use super::{lock, CollectorError, Inner, ALLOC_FLUSH_BYTES};
use crate::assist::{AssistCredit, AssistRatios};
use crate::barrier::{WbBuf, WB_BUF_ENTRIES};
use crate::heap::{MCache, ObjRef, Stack, WORD_BYTES};
use crate::mark::GcWork;
use crate::pacer::GcTriggerKind;
use std::fmt;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, Mutex, MutexGuard};

/// A mutator's state that the collector may touch: taken by the mutator for
/// each operation, and by the collector to stop the world or flush it.
#[derive(Debug, Default)]
pub(super) struct MutatorLocal {
    pub(super) gcw: GcWork,
    pub(super) wb: WbBuf,
    /// Go's `mcache`: one span per size class to allocate from.
    pub(super) cache: MCache,
    /// Allocated bytes not yet reported to the pacer.
    pub(super) alloc_unflushed: i64,
    /// Scannable bytes not yet reported to the pacer.
    pub(super) scan_unflushed: i64,
    /// Assist time, ns, not yet reported to the pacer (Go's
    /// `p.gcAssistTime`).
    pub(super) assist_ns_unflushed: i64,
}

/// A mutator's registration with the collector.
#[derive(Debug)]
pub(super) struct MutatorShared {
    pub(super) local: Mutex<MutatorLocal>,
    /// Its assist credit (Go's `g.gcAssistBytes`), shared with the assist
    /// queue.
    pub(super) credit: Arc<AssistCredit>,
    pub(super) stack: Arc<Stack>,
}

/// Barrier-buffer entries at which a mutator enlists a sleeping worker:
/// half of [`WB_BUF_ENTRIES`]. Go's mutator shades its own buffer when it
/// fills; a worker that is owed CPU and has nothing else to do is better
/// placed to (its drain takes every mutator's buffer it can lock), and the
/// enlist costs the mutator a fence and a load once per half buffer. Only a
/// hint: a buffer nobody takes is shaded by its mutator when full, or by
/// the ragged barrier.
const WB_ENLIST_ENTRIES: usize = WB_BUF_ENTRIES / 2;

/// Where a new object's reference goes in the allocating operation.
#[derive(Clone, Copy, Debug)]
enum Dest {
    Nowhere,
    Root(usize),
    Slot(ObjRef, u32),
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
    pub(super) inner: Arc<Inner>,
    pub(super) shared: Arc<MutatorShared>,
}

impl Mutator {
    /// Answers a pending stop, then takes this mutator's lock: the start of
    /// every operation.
    pub(super) fn enter(&self) -> MutexGuard<'_, MutatorLocal> {
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
        if inner.assists.blacken_enabled() {
            let c = self.shared.credit.add_bytes(-i64::from(size));
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
        if !inner.barrier_on.load(Relaxed) {
            return;
        }
        let before = l.wb.len();
        if l.wb.record(ObjRef::encode(old), ObjRef::encode(new)) {
            l.wb.flush(&inner.marker, &mut l.gcw);
            // Our greys go where background workers can take them.
            inner.marker.dispose(&mut l.gcw);
        } else if before < WB_ENLIST_ENTRIES && l.wb.len() >= WB_ENLIST_ENTRIES {
            // Half full: a sleeping worker may take the buffer (its drain
            // flushes mutators' buffers) before this mutator must shade it.
            inner.wake.enlist_worker();
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
    ///
    /// [`Heap::generation`]: crate::heap::Heap::generation
    pub fn generation(&self, obj: ObjRef) -> Result<u32, CollectorError> {
        let _l = self.enter();
        Ok(self.inner.heap.generation(obj)?)
    }

    /// This mutator's assist credit in bytes (negative: debt).
    pub fn assist_credit(&self) -> i64 {
        self.shared.credit.bytes()
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
            inner.flush_assist_time(&mut l);
        }
        inner
            .assists
            .donate(&self.shared.credit, AssistRatios::of(&inner.pacer));
        lock(&inner.mutators).retain(|m| !Arc::ptr_eq(m, &self.shared));
        inner.heap.remove_stack(&self.shared.stack);
    }
}
