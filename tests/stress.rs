//! Adversarial stress of concurrent marking, checked by the tests' own
//! reachability oracle (`tests/support/oracle.rs`) at every mark termination.
//!
//! Each mutator runs a random program, driven by a seed, that keeps
//! performing the classic lost-object interleavings on every path a program
//! can write a pointer (see [`Op`]):
//!
//! - (a) hide the only reference to an object in its own stack (for a few
//!   steps, or until a mark termination has passed), in a fresh object
//!   (black while marking) or in an object the stack roots (scanned early),
//!   and delete it from an object deep in a tree, quite possibly not scanned
//!   yet ([`Mutator::load_root`], then [`Mutator::write`] of `None`): the
//!   deletion half of the barrier must shade it;
//! - (b) move references stack -> heap slot -> stack, and stack -> fresh
//!   object, dropping the stack copy in between, while the stack may not be
//!   scanned yet: the insertion half must shade them;
//! - (c) the same through global roots ([`Mutator::set_global`],
//!   [`Mutator::load_global_root`], [`Mutator::global`]): stack -> global ->
//!   stack, heap -> global, global -> heap. The global area spans three
//!   markroot blocks with the used globals at the start of the first, so
//!   every stack is scanned well after them: the window for "globals
//!   scanned; stack -> global; stack scanned";
//! - (d) allocate into slots ([`Mutator::alloc_into`]), roots
//!   ([`Mutator::alloc_root`]) and, through a root, globals;
//! - (e) pass references between mutators through shared mailbox objects
//!   (hung off shared globals) and shared swap globals;
//! - (f) drop references (roots, slots, globals, whole mailboxes and trees),
//!   so garbage accumulates.
//!
//! Objects reachable by several mutators are rewritten concurrently, so the
//! programs never keep an [`ObjRef`] only in a Rust variable across
//! operations (a Rust variable is a register, not a root): every reference a
//! program needs across operations is in one of its own stack roots, and
//! slots and shared globals are always read into a root in one operation.
//!
//! Each mutator keeps trees of about [`LIVE_PER_MUTATOR`] objects, with long
//! chains that marking discovers one object at a time: below that size the
//! programs only insert (nothing is dropped on purpose), above it they also
//! cut subtrees, roots and globals. The live set is thus bounded, and
//! marking takes long enough for the interleavings above to meet unscanned
//! objects.
//!
//! Cycles come back to back from a thread calling [`Collector::gc`] in a
//! loop (sometimes pausing, so that the pacer's own heap triggers, with
//! `gc_percent` 25, start some cycles too). At every mark termination, with
//! the world stopped, the oracle walks every root and slot and records any
//! reachable object the cycle left white; a failure names the seed, the
//! cycle and the path to the lost object. Each test also checks that the
//! requested number of cycles was checked, that the oracle reached objects,
//! and that every kind of operation actually ran, and ran while marking.
//!
//! The heap never frees an object today, so the arena is sized for every
//! object a run may allocate: allocation is paced (an allowance per
//! finished cycle), and a program whose step the allowance refuses does
//! nothing in that step, so a run never meets `HeapFull`. Everything
//! allocated beyond the bounded live set is genuinely dropped, so once
//! reclamation lands the arena only needs to hold the live set and a few
//! cycles' allocation.
//!
//! The default tests (1, 2 and 4 mutators, [`CI_CYCLES`] cycles each) run
//! in CI, in a few seconds in a debug build. The long soak is ignored by
//! default; it runs `STRESS_CYCLES` cycles in all (default 10 000), split
//! evenly over 1, 2 and 4 mutators:
//!
//! ```text
//! cargo test --release --test stress -- --ignored long_soak
//! STRESS_CYCLES=100000 STRESS_SEED=0x1234 cargo test --release --test stress -- --ignored long_soak --nocapture
//! ```
//!
//! `STRESS_SEED` (decimal, or hex with `0x`) seeds every test's programs
//! (default [`DEFAULT_SEED`]); `STRESS_CYCLES` applies to the long soak
//! only. A seed fixes each program's random choices, but what a program
//! finds in the heap depends on the thread interleaving, so a failing seed
//! is a lead, not an exact replay.

#[path = "support/oracle.rs"]
mod oracle;

use gpumark::collector::{
    Collector, CollectorConfig, CollectorError, MarkTermination, MarkTerminationHook, Mutator,
};
use gpumark::heap::{Heap, HeapConfig, HeapError, ObjRef};
use gpumark::mark::drain::ROOT_BLOCK_SLOTS;
use gpumark::pacer::PacerConfig;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cycles each default test runs.
const CI_CYCLES: u64 = 150;

/// Total cycles of the long soak when `STRESS_CYCLES` is unset.
const SOAK_CYCLES: u64 = 10_000;

/// The seed when `STRESS_SEED` is unset.
const DEFAULT_SEED: u64 = 0x5EED_5EED;

// A mutator's stack: ANCHORS roots that anchor its long-lived data, LOOSE
// roots where objects it moves or receives land, STASH roots that hide an
// object until a mark termination has passed, then registers that its
// operations use to hold what they work on (every one of them a scanned
// root, so nothing is ever held in a Rust variable alone).
/// Roots that anchor a mutator's trees.
const ANCHORS: usize = 4;
/// Roots that hold objects taken out of the heap, globals or mailboxes.
const LOOSE: usize = 6;
/// Roots that hold an object taken out of the heap until at least one
/// mark termination has checked it there.
const STASH: usize = 2;
/// Where a walk stands: the object an operation writes into.
const CURSOR: usize = ANCHORS + LOOSE + STASH;
/// A walk's look-ahead.
const PROBE: usize = CURSOR + 1;
/// The object being moved.
const HELD: usize = CURSOR + 2;
/// A fresh object, or the mailbox in use.
const FRESH: usize = CURSOR + 3;
/// An object an operation still has to write once a second walk has moved
/// `CURSOR` on.
const ORIGIN: usize = CURSOR + 4;
/// Roots on each stack.
const ROOTS: usize = CURSOR + 5;

/// Pointer slots of an ordinary object (a leaf has none).
const NODE_SLOTS: u32 = 4;
/// Pointer slots of a mailbox.
const MAILBOX_SLOTS: u32 = 8;
/// Slots per object the arena reserves (the largest object's).
const ARENA_SLOTS_PER_OBJECT: u32 = MAILBOX_SLOTS;
/// Longest walk from a root into the heap.
const MAX_WALK: u64 = 24;

// Globals: shared mailboxes, shared swap slots, then each mutator's own.
/// Shared globals that each hold a mailbox object.
const MAILBOXES: usize = 2;
/// Shared globals any mutator may put a reference in or take it from.
const SWAPS: usize = 4;
/// Globals each mutator owns.
const OWN_GLOBALS: usize = 4;
/// Global root blocks in all. The globals used sit at the start of the
/// first; the rest are nil. Markroot jobs scan global blocks before any
/// stack, so with three blocks a stack is scanned at least one block's scan
/// after the used globals were: the window in which a move stack -> global
/// hides an object from both scans without the barrier on globals.
const GLOBAL_BLOCKS: usize = 3;

/// Reachable objects the programs aim for, per mutator: below it they
/// grow their trees, above it they cut them back. Large enough that marking
/// takes a while, so that the objects a program rewrites are often not
/// scanned yet.
const LIVE_PER_MUTATOR: u64 = 1500;
/// Objects each mutator may allocate per finished cycle, beyond what
/// building its live set takes.
const ALLOWANCE_PER_CYCLE: u64 = 96;

/// A run fails, rather than hanging, when no cycle ends for this long.
const STALL: Duration = Duration::from_secs(120);

/// What a program does in one step. Every one is counted when its
/// adversarial path ran in full (not when it found nothing to move).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// (a) slot -> own stack, a pause, then deleted from the slot; usually
    /// put back into the heap soon after.
    HideInStack,
    /// (a) slot -> own stack, then deleted from the slot, and kept there
    /// until a mark termination has passed: the stack may have been
    /// scanned before, and the slot's object after, the move.
    HideAcrossCycle,
    /// Puts an object `HideAcrossCycle` hid back into the heap once a mark
    /// termination has passed.
    Unstash,
    /// (a) slot -> a fresh object (black while marking), then deleted from
    /// the slot; the fresh object is linked in after a pause.
    HideInFresh,
    /// (a) slot -> an object rooted in the stack (likely scanned already),
    /// then deleted from the slot.
    HideInOld,
    /// (b) stack -> slot, stack copy dropped, a pause, slot -> stack, slot
    /// cleared.
    StackHeapStack,
    /// (b) stack -> slot, stack copy dropped.
    StackToHeap,
    /// (b, d) stack -> a fresh object (black while marking), stack copy
    /// dropped, then the fresh object linked into the heap: the stack may
    /// not be scanned yet.
    StackToFresh,
    /// (c) stack -> own global, stack copy dropped, a pause, global ->
    /// stack, global cleared.
    StackGlobalStack,
    /// (c) slot -> own global, then deleted from the slot.
    HeapToGlobal,
    /// (c) own global -> slot, then the global cleared.
    GlobalToHeap,
    /// (d) a new object straight into a slot.
    AllocInto,
    /// (d) a new object straight into a root.
    AllocRoot,
    /// (d) a new object into a global, through a root.
    AllocGlobal,
    /// (e) stack -> a shared mailbox's slot, stack copy usually dropped.
    Send,
    /// (e) a shared mailbox's slot -> stack, a pause, then deleted from the
    /// mailbox.
    Receive,
    /// (e) stack <-> a shared swap global.
    Swap,
    /// (e, f) a new mailbox replaces a shared one: the old one and all it
    /// holds become garbage unless someone took it.
    NewMailbox,
    /// (f) a root cleared (now and then a whole tree's anchor).
    DropRoot,
    /// (f) a slot cleared, and the subtree below it with it.
    DropSlot,
    /// (f) a global cleared.
    DropGlobal,
}

impl Op {
    /// Every operation, in declaration order (`op as usize` indexes it).
    const ALL: [Op; 21] = [
        Op::HideInStack,
        Op::HideAcrossCycle,
        Op::Unstash,
        Op::HideInFresh,
        Op::HideInOld,
        Op::StackHeapStack,
        Op::StackToHeap,
        Op::StackToFresh,
        Op::StackGlobalStack,
        Op::HeapToGlobal,
        Op::GlobalToHeap,
        Op::AllocInto,
        Op::AllocRoot,
        Op::AllocGlobal,
        Op::Send,
        Op::Receive,
        Op::Swap,
        Op::NewMailbox,
        Op::DropRoot,
        Op::DropSlot,
        Op::DropGlobal,
    ];
    const COUNT: usize = Op::ALL.len();

    /// The operation's weight in a program's random choice, while the live
    /// set is below its target (`growing`) or not. While growing nothing is
    /// dropped on purpose: the `Drop*` operations and `NewMailbox` wait,
    /// and the others insert only into empty slots, roots and globals.
    /// Allocating operations (`HideInFresh`, `StackToFresh`, `Alloc*`,
    /// `NewMailbox`) stay a minority: about a third of the steps while
    /// growing, a sixth otherwise (and the allowance may refuse them).
    fn weight(self, growing: bool) -> u64 {
        match (self, growing) {
            (Op::AllocInto, true) => 24,
            (Op::AllocInto, false) => 3,
            (Op::NewMailbox | Op::DropRoot | Op::DropSlot | Op::DropGlobal, true) => 0,
            (Op::NewMailbox, false) => 1,
            (Op::DropRoot, false) => 3,
            (Op::DropSlot, false) => 6,
            (Op::DropGlobal, false) => 2,
            (Op::HideInStack, _) => 8,
            (Op::HideAcrossCycle | Op::Unstash, _) => 3,
            (Op::HideInOld | Op::StackHeapStack, _) => 6,
            (Op::StackToHeap | Op::StackGlobalStack | Op::Receive, _) => 5,
            (
                Op::HideInFresh
                | Op::StackToFresh
                | Op::HeapToGlobal
                | Op::GlobalToHeap
                | Op::Send
                | Op::Swap,
                _,
            ) => 4,
            (Op::AllocRoot | Op::AllocGlobal, _) => 1,
        }
    }
}

/// What the programs did, summed over a run's mutators.
#[derive(Clone, Debug, Default)]
struct Tally {
    /// Steps taken, whatever they did.
    steps: u64,
    /// Per [`Op`] (by `op as usize`): times its path ran in full.
    ran: [u64; Op::COUNT],
    /// Per [`Op`]: times it ran in full having started while marking.
    ran_marking: [u64; Op::COUNT],
    /// Allocations refused because the run's allowance was used up.
    alloc_denied: u64,
    /// Slot reads or writes that found a leaf (no slots).
    leaf: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.steps += o.steps;
        for i in 0..Op::COUNT {
            self.ran[i] += o.ran[i];
            self.ran_marking[i] += o.ran_marking[i];
        }
        self.alloc_denied += o.alloc_denied;
        self.leaf += o.leaf;
    }
}

/// State the programs, the cycle thread and the monitor share.
struct Shared {
    seed: u64,
    stop: AtomicBool,
    /// Mark terminations seen (set by the hook, after the oracle).
    cycles: Arc<AtomicU64>,
    /// Objects the oracle reached at the last mark termination.
    live: Arc<AtomicU64>,
    /// Set by the hook once the oracle has found a lost object.
    lost: Arc<AtomicBool>,
    /// The live set the programs aim for, all together.
    target_live: u64,
    /// Objects the programs allocated.
    allocated: AtomicU64,
    /// Objects the programs may allocate before the first cycle ends.
    allowance_base: u64,
    /// Objects the programs may allocate per finished cycle, all together.
    per_cycle: u64,
    /// Objects the programs may allocate at all: the arena less a margin.
    cap: u64,
}

impl Shared {
    /// Whether one more object fits this run's allowance: what the cycles
    /// finished so far allow, and never more than the arena holds. Several
    /// mutators may pass this check at once; the arena's margin covers it.
    fn may_alloc(&self) -> bool {
        let cycles = self.cycles.load(Relaxed);
        let allowed = (self.allowance_base + (cycles + 1) * self.per_cycle).min(self.cap);
        self.allocated.load(Relaxed) < allowed
    }

    fn growing(&self) -> bool {
        self.live.load(Relaxed) < self.target_live
    }
}

/// Sets the stop flag if the thread unwinds, so that a program that fails
/// ends the run instead of leaving the others running for good.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Relaxed);
        }
    }
}

/// One mutator's random program.
struct Program<'a> {
    m: Mutator,
    c: &'a Collector,
    shared: &'a Shared,
    /// This mutator's number, for its own globals and messages.
    k: usize,
    rng: Xoshiro256PlusPlus,
    /// Whether the live set was below its target when this step began:
    /// then the step drops nothing on purpose.
    growing: bool,
    /// Per stash root: mark terminations seen when it was filled.
    stashed_at: [u64; STASH],
    tally: Tally,
}

impl<'a> Program<'a> {
    fn new(m: Mutator, c: &'a Collector, shared: &'a Shared, k: usize, seed: u64) -> Self {
        Program {
            m,
            c,
            shared,
            k,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            growing: true,
            stashed_at: [0; STASH],
            tally: Tally::default(),
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n
    }

    fn coin(&mut self) -> bool {
        self.rng.next_u64() & 1 == 1
    }

    /// The value of an operation that cannot fail in a correct program.
    fn ok<T>(&self, r: Result<T, CollectorError>) -> T {
        r.unwrap_or_else(|e| {
            panic!(
                "seed {:#x}, mutator {}: unexpected error: {e}",
                self.shared.seed, self.k
            )
        })
    }

    /// The value of an operation on a slot of an object that may be a leaf:
    /// `None` (counted) when the object has no such slot.
    fn slot_op<T>(&mut self, r: Result<T, CollectorError>) -> Option<T> {
        match r {
            Err(CollectorError::Heap(HeapError::NoSuchSlot { .. })) => {
                self.tally.leaf += 1;
                None
            }
            r => Some(self.ok(r)),
        }
    }

    fn root(&self, i: usize) -> Option<ObjRef> {
        self.ok(self.m.root(i))
    }

    fn set_root(&self, i: usize, v: Option<ObjRef>) {
        self.ok(self.m.set_root(i, v));
    }

    fn anchor(&mut self) -> usize {
        self.below(ANCHORS as u64) as usize
    }

    fn loose(&mut self) -> usize {
        ANCHORS + self.below(LOOSE as u64) as usize
    }

    fn node_slot(&mut self) -> u32 {
        self.below(u64::from(NODE_SLOTS)) as u32
    }

    /// The first of `n` candidates, from a random start, that `empty`
    /// says is empty; else, unless growing, a random one (whose content is
    /// then dropped).
    fn free_among(
        &mut self,
        n: usize,
        mut empty: impl FnMut(&mut Self, usize) -> bool,
    ) -> Option<usize> {
        let start = self.below(n as u64) as usize;
        let found = (0..n).map(|i| (start + i) % n).find(|&i| empty(self, i));
        match found {
            Some(i) => Some(i),
            None if self.growing => None,
            None => Some(start),
        }
    }

    /// An empty loose root (see [`Program::free_among`]).
    fn free_loose(&mut self) -> Option<usize> {
        let i = self.free_among(LOOSE, |p, i| p.root(ANCHORS + i).is_none())?;
        Some(ANCHORS + i)
    }

    /// An empty global of this mutator's own (see [`Program::free_among`]).
    /// Only this mutator writes them, so a plain read tells.
    fn free_own_global(&mut self) -> Option<usize> {
        let base = MAILBOXES + SWAPS + self.k * OWN_GLOBALS;
        let i = self.free_among(OWN_GLOBALS, |p, i| p.ok(p.m.global(base + i)).is_none())?;
        Some(base + i)
    }

    /// An empty shared swap global (see [`Program::free_among`]); another
    /// mutator may fill it before we do, and what it put there is dropped.
    fn free_swap_global(&mut self) -> Option<usize> {
        let i = self.free_among(SWAPS, |p, i| p.ok(p.m.global(MAILBOXES + i)).is_none())?;
        Some(MAILBOXES + i)
    }

    /// An empty slot of mailbox `e`, held in a root (see
    /// [`Program::free_among`]).
    fn free_mailbox_slot(&mut self, e: ObjRef) -> Option<u32> {
        let j = self.free_among(MAILBOX_SLOTS as usize, |p, j| {
            p.ok(p.m.read(e, j as u32)).is_none()
        })?;
        Some(j as u32)
    }

    /// Size and slots of a new object of up to `nslots` slots: a leaf one
    /// time in eight when `leaf_ok`; sizes vary up to 2 KiB, so allocation
    /// moves the pacer's heap and assists happen.
    fn shape(&mut self, nslots: u32, leaf_ok: bool) -> (u32, u32) {
        let nslots = if leaf_ok && self.below(8) == 0 {
            0
        } else {
            nslots
        };
        let size = 8 * nslots + 8 * (1 + self.below(256) as u32);
        (size, nslots)
    }

    /// Whether this step may allocate; counts a refusal.
    fn may_alloc(&mut self) -> bool {
        let ok = self.shared.may_alloc();
        if !ok {
            self.tally.alloc_denied += 1;
        }
        ok
    }

    /// Counts an allocation that happened.
    fn allocated(&self) {
        self.shared.allocated.fetch_add(1, Relaxed);
    }

    /// A few safepoints, sometimes a yield: room for the collector to scan
    /// a stack, the globals or an object in the middle of a move.
    fn pause(&mut self) {
        for _ in 0..self.below(4) {
            self.m.safepoint();
        }
        if self.below(4) == 0 {
            std::thread::yield_now();
        }
    }

    /// Whether `o`, held in one of this mutator's roots, has slots.
    fn has_slots(&mut self, o: ObjRef) -> bool {
        self.slot_op(self.m.read(o, 0)).is_some()
    }

    /// Walks from a root (an anchor three times in four, else a loose root)
    /// down slots, never onto a leaf, and leaves the object reached in
    /// `CURSOR`: deep objects are the ones most likely still unscanned
    /// while marking. Half the steps follow slot 0, so trees grow long
    /// chains, which marking can only discover one object at a time.
    ///
    /// A walk stops after a random number of steps, up to [`MAX_WALK`], or
    /// at an empty slot; `to_empty` walks on until one (or `2 * MAX_WALK`
    /// steps). Returns the object and the empty slot it stopped at, if any;
    /// `None` if the root chosen is empty or a leaf.
    fn walk(&mut self, to_empty: bool) -> Option<(ObjRef, Option<u32>)> {
        let from = if self.below(4) == 0 {
            self.loose()
        } else {
            self.anchor()
        };
        let mut cur = self.root(from)?;
        if !self.has_slots(cur) {
            return None;
        }
        self.set_root(CURSOR, Some(cur));
        let steps = if to_empty {
            2 * MAX_WALK
        } else {
            self.below(MAX_WALK + 1)
        };
        let mut empty = None;
        for _ in 0..steps {
            let s = if self.coin() { 0 } else { self.node_slot() };
            // `cur` is in CURSOR: a root. What it points to may change
            // under us, so read it into a root in one operation.
            let Some(next) = self.ok(self.m.load_root(cur, s, PROBE)) else {
                empty = Some(s);
                break;
            };
            if !self.has_slots(next) {
                break;
            }
            self.set_root(CURSOR, Some(next));
            cur = next;
        }
        self.set_root(PROBE, None);
        Some((cur, empty))
    }

    /// An object reached by a walk, in `CURSOR`, and a slot of it: where to
    /// take a reference from, or (unless growing) what to overwrite.
    fn target(&mut self) -> Option<(ObjRef, u32)> {
        let (p, _) = self.walk(false)?;
        let s = self.node_slot();
        Some((p, s))
    }

    /// Where to insert a reference: an empty slot at the end of a long
    /// walk, in `CURSOR`; if the walk found none, any slot of the object it
    /// reached, unless growing.
    fn dest(&mut self) -> Option<(ObjRef, u32)> {
        let (p, empty) = self.walk(true)?;
        match empty {
            Some(s) => Some((p, s)),
            None if self.growing => None,
            None => Some((p, self.node_slot())),
        }
    }

    /// Usually (three times in four) moves what loose root `r` holds into
    /// an empty slot of this mutator's trees and clears `r`, so that
    /// objects taken out of the heap, globals and mailboxes go back.
    fn rehome(&mut self, r: usize) {
        if self.below(4) == 0 {
            return;
        }
        let Some(x) = self.root(r) else { return };
        if let Some((q, t)) = self.dest() {
            self.ok(self.m.write(q, t, Some(x)));
            self.set_root(r, None);
        }
    }

    /// A shared mailbox in `FRESH`, made if its global is empty (and the
    /// allowance permits).
    fn mailbox(&mut self) -> Option<ObjRef> {
        let g = self.below(MAILBOXES as u64) as usize;
        if let Some(e) = self.ok(self.m.load_global_root(g, FRESH)) {
            return Some(e);
        }
        self.new_mailbox(g)
    }

    /// A new mailbox, in `FRESH` and in shared global `g`; whatever `g`
    /// held becomes garbage unless another mutator holds it.
    fn new_mailbox(&mut self, g: usize) -> Option<ObjRef> {
        if !self.may_alloc() {
            return None;
        }
        let (size, n) = self.shape(MAILBOX_SLOTS, false);
        let e = self.ok(self.m.alloc_root(FRESH, size, n));
        self.allocated();
        self.ok(self.m.set_global(g, Some(e)));
        Some(e)
    }

    /// Clears the registers, so that what they held can become garbage.
    fn clear_registers(&self) {
        for r in [CURSOR, PROBE, HELD, FRESH, ORIGIN] {
            self.set_root(r, None);
        }
    }

    /// Runs until told to stop; returns what it did.
    fn run(mut self) -> Tally {
        let _guard = StopOnPanic(&self.shared.stop);
        for _ in 0..ROOTS {
            self.m.push_root(None);
        }
        while !self.shared.stop.load(Relaxed) {
            self.growing = self.shared.growing();
            let growing = self.growing;
            let total: u64 = Op::ALL.iter().map(|o| o.weight(growing)).sum();
            let mut pick = self.below(total);
            let mut op = Op::ALL[0];
            for o in Op::ALL {
                if pick < o.weight(growing) {
                    op = o;
                    break;
                }
                pick -= o.weight(growing);
            }
            let marking = self.c.is_marking();
            let ran = self.step(op);
            self.clear_registers();
            self.tally.steps += 1;
            if ran {
                self.tally.ran[op as usize] += 1;
                if marking {
                    self.tally.ran_marking[op as usize] += 1;
                }
            }
        }
        self.tally
    }

    /// One operation; true if its whole path ran.
    fn step(&mut self, op: Op) -> bool {
        match op {
            Op::HideInStack => {
                let Some(r) = self.free_loose() else {
                    return false;
                };
                let Some((p, s)) = self.target() else {
                    return false;
                };
                // The slot's object goes to our stack, then the slot is
                // cleared: the object is now only in a stack that may have
                // been scanned already.
                if self.ok(self.m.load_root(p, s, r)).is_none() {
                    return false;
                }
                self.pause();
                self.ok(self.m.write(p, s, None));
                self.pause();
                self.rehome(r);
                true
            }
            Op::HideAcrossCycle => {
                let stash = ANCHORS + LOOSE;
                let Some(i) = (0..STASH).find(|&i| self.root(stash + i).is_none()) else {
                    return false;
                };
                let Some((p, s)) = self.target() else {
                    return false;
                };
                if self.ok(self.m.load_root(p, s, stash + i)).is_none() {
                    return false;
                }
                self.ok(self.m.write(p, s, None));
                self.stashed_at[i] = self.shared.cycles.load(Relaxed);
                true
            }
            Op::Unstash => {
                let stash = ANCHORS + LOOSE;
                let now = self.shared.cycles.load(Relaxed);
                let Some(i) = (0..STASH)
                    .find(|&i| self.stashed_at[i] < now && self.root(stash + i).is_some())
                else {
                    return false;
                };
                let Some(x) = self.root(stash + i) else {
                    return false;
                };
                let Some((q, t)) = self.dest() else {
                    return false;
                };
                self.ok(self.m.write(q, t, Some(x)));
                self.set_root(stash + i, None);
                true
            }
            Op::StackToFresh => {
                let r = self.loose();
                let Some(x) = self.root(r) else { return false };
                if !self.may_alloc() {
                    return false;
                }
                let (size, n) = self.shape(NODE_SLOTS, false);
                let b = self.ok(self.m.alloc_root(FRESH, size, n));
                self.allocated();
                let t = self.node_slot();
                self.ok(self.m.write(b, t, Some(x)));
                self.set_root(r, None);
                // Now x is only in b, black if we are marking, and b is
                // only in a register.
                self.pause();
                match self.dest() {
                    Some((q, u)) => self.ok(self.m.write(q, u, Some(b))),
                    None => self.set_root(r, Some(b)),
                }
                true
            }
            Op::HideInFresh => {
                if !self.may_alloc() {
                    return false;
                }
                let Some((p, s)) = self.target() else {
                    return false;
                };
                let Some(x) = self.ok(self.m.load_root(p, s, HELD)) else {
                    return false;
                };
                // `p` must stay rooted while `dest` walks.
                self.set_root(ORIGIN, Some(p));
                let (size, n) = self.shape(NODE_SLOTS, false);
                let b = self.ok(self.m.alloc_root(FRESH, size, n));
                self.allocated();
                let t = self.node_slot();
                self.ok(self.m.write(b, t, Some(x)));
                self.ok(self.m.write(p, s, None));
                self.set_root(HELD, None);
                // Now x is only in b, black if we are marking, and b is
                // only in our stack.
                self.pause();
                // Then b goes where x was (x is one level deeper now) or
                // elsewhere.
                match self.dest() {
                    Some((q, u)) if self.coin() => self.ok(self.m.write(q, u, Some(b))),
                    _ => self.ok(self.m.write(p, s, Some(b))),
                }
                true
            }
            Op::HideInOld => {
                let Some((p, s)) = self.target() else {
                    return false;
                };
                let Some(x) = self.ok(self.m.load_root(p, s, HELD)) else {
                    return false;
                };
                // `p` must stay rooted while `dest` walks.
                self.set_root(ORIGIN, Some(p));
                // An object our stack roots, scanned early in a cycle, and
                // an empty slot of it.
                let r = if self.below(4) == 0 {
                    self.loose()
                } else {
                    self.anchor()
                };
                let Some(q) = self.root(r) else { return false };
                let start = self.node_slot();
                let mut free = None;
                for i in 0..NODE_SLOTS {
                    let t = (start + i) % NODE_SLOTS;
                    match self.slot_op(self.m.read(q, t)) {
                        None => return false,
                        Some(None) => {
                            free = Some((q, t));
                            break;
                        }
                        Some(Some(_)) => {}
                    }
                }
                // Full: an empty slot further down (near the top of a
                // tree, which marking also reaches early).
                let Some((q, t)) = free.or_else(|| self.dest()) else {
                    return false;
                };
                self.ok(self.m.write(q, t, Some(x)));
                self.ok(self.m.write(p, s, None));
                true
            }
            Op::StackHeapStack => {
                let r = self.loose();
                let Some(x) = self.root(r) else { return false };
                let Some((p, s)) = self.dest() else {
                    return false;
                };
                self.ok(self.m.write(p, s, Some(x)));
                self.set_root(r, None);
                self.pause();
                // Another mutator may have rewritten the slot meanwhile:
                // take back whatever is there now.
                self.ok(self.m.load_root(p, s, r));
                self.ok(self.m.write(p, s, None));
                true
            }
            Op::StackToHeap => {
                let r = self.loose();
                let Some(x) = self.root(r) else { return false };
                let Some((p, s)) = self.dest() else {
                    return false;
                };
                self.ok(self.m.write(p, s, Some(x)));
                self.set_root(r, None);
                true
            }
            Op::StackGlobalStack => {
                let r = self.loose();
                let Some(x) = self.root(r) else { return false };
                let Some(g) = self.free_own_global() else {
                    return false;
                };
                self.ok(self.m.set_global(g, Some(x)));
                self.set_root(r, None);
                self.pause();
                self.ok(self.m.load_global_root(g, r));
                self.ok(self.m.set_global(g, None));
                true
            }
            Op::HeapToGlobal => {
                let Some(g) = self.free_own_global() else {
                    return false;
                };
                let Some((p, s)) = self.target() else {
                    return false;
                };
                let Some(x) = self.ok(self.m.load_root(p, s, HELD)) else {
                    return false;
                };
                self.ok(self.m.set_global(g, Some(x)));
                self.ok(self.m.write(p, s, None));
                true
            }
            Op::GlobalToHeap => {
                let base = MAILBOXES + SWAPS + self.k * OWN_GLOBALS;
                let g = base + self.below(OWN_GLOBALS as u64) as usize;
                // Our own global: only we write it, so a plain read tells
                // whether there is anything to move.
                if self.ok(self.m.global(g)).is_none() {
                    return false;
                }
                let Some((p, s)) = self.dest() else {
                    return false;
                };
                let x = self.ok(self.m.load_global_root(g, HELD));
                self.ok(self.m.write(p, s, x));
                self.ok(self.m.set_global(g, None));
                true
            }
            Op::AllocInto => {
                if !self.may_alloc() {
                    return false;
                }
                // Growing: an empty slot at the end of a long walk.
                // Otherwise, as often, whatever a slot held is replaced.
                let found = if self.growing || self.coin() {
                    self.dest()
                } else {
                    self.target()
                };
                let Some((p, s)) = found else {
                    return false;
                };
                let (size, n) = self.shape(NODE_SLOTS, true);
                self.ok(self.m.alloc_into(p, s, size, n));
                self.allocated();
                true
            }
            Op::AllocRoot => {
                if !self.may_alloc() {
                    return false;
                }
                // An empty anchor first: its tree regrows from there.
                let anchor = (0..ANCHORS).find(|&a| self.root(a).is_none());
                let Some(r) = anchor.or_else(|| self.free_loose()) else {
                    return false;
                };
                let (size, n) = self.shape(NODE_SLOTS, false);
                self.ok(self.m.alloc_root(r, size, n));
                self.allocated();
                true
            }
            Op::AllocGlobal => {
                let g = if self.coin() {
                    self.free_own_global()
                } else {
                    self.free_swap_global()
                };
                let Some(g) = g else { return false };
                if !self.may_alloc() {
                    return false;
                }
                let (size, n) = self.shape(NODE_SLOTS, true);
                let x = self.ok(self.m.alloc_root(HELD, size, n));
                self.allocated();
                self.ok(self.m.set_global(g, Some(x)));
                true
            }
            Op::Send => {
                let r = self.loose();
                let Some(x) = self.root(r) else { return false };
                let Some(e) = self.mailbox() else {
                    return false;
                };
                let Some(j) = self.free_mailbox_slot(e) else {
                    return false;
                };
                self.ok(self.m.write(e, j, Some(x)));
                if self.below(4) != 0 {
                    self.set_root(r, None);
                }
                true
            }
            Op::Receive => {
                let Some(r) = self.free_loose() else {
                    return false;
                };
                let Some(e) = self.mailbox() else {
                    return false;
                };
                let j = self.below(u64::from(MAILBOX_SLOTS)) as u32;
                if self.ok(self.m.load_root(e, j, r)).is_none() {
                    return false;
                }
                self.pause();
                self.ok(self.m.write(e, j, None));
                self.rehome(r);
                true
            }
            Op::Swap => {
                if self.coin() {
                    let r = self.loose();
                    let Some(x) = self.root(r) else { return false };
                    let Some(g) = self.free_swap_global() else {
                        return false;
                    };
                    self.ok(self.m.set_global(g, Some(x)));
                    if self.coin() {
                        self.set_root(r, None);
                    }
                } else {
                    let Some(r) = self.free_loose() else {
                        return false;
                    };
                    let g = MAILBOXES + self.below(SWAPS as u64) as usize;
                    if self.ok(self.m.load_global_root(g, r)).is_none() {
                        return false;
                    }
                    // Another mutator may have put something else there
                    // meanwhile; it becomes garbage unless it holds it.
                    self.ok(self.m.set_global(g, None));
                    self.rehome(r);
                }
                true
            }
            Op::NewMailbox => {
                let g = self.below(MAILBOXES as u64) as usize;
                self.new_mailbox(g).is_some()
            }
            Op::DropRoot => {
                let r = if self.below(8) == 0 {
                    self.anchor()
                } else {
                    self.loose()
                };
                self.set_root(r, None);
                true
            }
            Op::DropSlot => {
                let Some((p, s)) = self.target() else {
                    return false;
                };
                self.ok(self.m.write(p, s, None));
                true
            }
            Op::DropGlobal => {
                let g = MAILBOXES + SWAPS + self.k * OWN_GLOBALS;
                let g = if self.coin() {
                    g + self.below(OWN_GLOBALS as u64) as usize
                } else {
                    MAILBOXES + self.below(SWAPS as u64) as usize
                };
                self.ok(self.m.set_global(g, None));
                true
            }
        }
    }
}

/// `STRESS_SEED`, or [`DEFAULT_SEED`].
fn seed() -> u64 {
    match std::env::var("STRESS_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("STRESS_SEED={s:?} is not a u64: {e}"))
        }
        Err(_) => DEFAULT_SEED,
    }
}

/// `STRESS_CYCLES`, or `default`.
fn cycles_from_env(default: u64) -> u64 {
    match std::env::var("STRESS_CYCLES") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("STRESS_CYCLES={s:?} is not a cycle count: {e}")),
        Err(_) => default,
    }
}

/// A program's seed, from the run's seed, the number of mutators and the
/// mutator's number (SplitMix64's finaliser).
fn program_seed(seed: u64, mutators: usize, k: usize) -> u64 {
    let mut z = seed ^ (((mutators as u64) << 32) | k as u64);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `mutators` programs until `cycles` cycles have been checked, then
/// asserts that nothing was lost and that every kind of operation ran.
fn stress(mutators: usize, cycles: u64, seed: u64) {
    let t0 = Instant::now();
    assert!(MAILBOXES + SWAPS + mutators * OWN_GLOBALS <= ROOT_BLOCK_SLOTS);
    for (i, op) in Op::ALL.into_iter().enumerate() {
        assert_eq!(op as usize, i, "Op::ALL is out of order");
    }
    let per_cycle = ALLOWANCE_PER_CYCLE * mutators as u64;
    let target_live = LIVE_PER_MUTATOR * mutators as u64;
    // Room to build the live set twice over before the first cycles end.
    let allowance_base = 2 * target_live + 1024;
    // Every object the run may allocate (nothing is freed today): the
    // allowance for the cycles asked for, plus the cycles that finish while
    // the run stops, plus a margin for mutators that pass the allowance
    // check at once.
    let margin = 64;
    let max_objects = allowance_base + (cycles + cycles / 8 + 64) * per_cycle + margin;
    let max_objects = u32::try_from(max_objects).expect("arena fits u32 indices");
    let heap = Arc::new(Heap::new(HeapConfig {
        max_objects,
        max_slots: max_objects * ARENA_SLOTS_PER_OBJECT,
        globals: GLOBAL_BLOCKS * ROOT_BLOCK_SLOTS,
    }));

    let (oracle_hook, findings) = oracle::oracle();
    let shared = Shared {
        seed,
        stop: AtomicBool::new(false),
        cycles: Arc::new(AtomicU64::new(0)),
        live: Arc::new(AtomicU64::new(0)),
        lost: Arc::new(AtomicBool::new(false)),
        target_live,
        allocated: AtomicU64::new(0),
        allowance_base,
        per_cycle,
        cap: u64::from(max_objects) - margin,
    };
    // The oracle, then what the run needs to know: cycles checked, the live
    // set, whether anything was lost.
    let hook: MarkTerminationHook = {
        let (cycles, live, lost, findings) = (
            shared.cycles.clone(),
            shared.live.clone(),
            shared.lost.clone(),
            findings.clone(),
        );
        Arc::new(move |t: &MarkTermination<'_>| {
            let before = findings.lock().unwrap().reachable;
            oracle_hook(t);
            let f = findings.lock().unwrap();
            live.store(f.reachable - before, Relaxed);
            if !f.lost.is_empty() {
                lost.store(true, Relaxed);
            }
            cycles.fetch_add(1, Relaxed);
        })
    };
    let c = Collector::new(
        heap,
        CollectorConfig {
            pacer: PacerConfig {
                gc_percent: 25,
                gomaxprocs: 2,
                ..PacerConfig::default()
            },
            on_mark_termination: Some(hook),
            ..CollectorConfig::default()
        },
    )
    .unwrap();

    let mut tally = Tally::default();
    let mut gc_calls = 0u64;
    let mut stalled = false;
    std::thread::scope(|s| {
        let programs: Vec<_> = (0..mutators)
            .map(|k| {
                let p = Program::new(c.mutator(), &c, &shared, k, program_seed(seed, mutators, k));
                s.spawn(move || p.run())
            })
            .collect();
        let cycler = s.spawn(|| {
            let _guard = StopOnPanic(&shared.stop);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(program_seed(seed, mutators, 999));
            let mut calls = 0u64;
            while !shared.stop.load(Relaxed) {
                c.gc();
                calls += 1;
                // Sometimes leave room for the pacer's own trigger.
                if rng.next_u64() % 4 == 0 {
                    let us = 50 + rng.next_u64() % 1000;
                    std::thread::sleep(Duration::from_micros(us));
                }
            }
            calls
        });
        // The monitor: until enough cycles are checked, something is lost,
        // a thread fails, or no cycle ends for too long.
        let mut last = (0, Instant::now());
        while !shared.stop.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(2));
            let n = shared.cycles.load(Relaxed);
            if n >= cycles || shared.lost.load(Relaxed) {
                break;
            }
            if n != last.0 {
                if n / 1000 != last.0 / 1000 {
                    println!(
                        "stress {mutators} mutators: cycle {n} of {cycles}, {} live, {} allocated",
                        shared.live.load(Relaxed),
                        shared.allocated.load(Relaxed)
                    );
                }
                last = (n, Instant::now());
            } else if last.1.elapsed() > STALL {
                stalled = true;
                break;
            }
        }
        shared.stop.store(true, Relaxed);
        if stalled {
            // The threads may never finish: joining them would hang.
            eprintln!(
                "stress: seed {seed:#x}, {mutators} mutators: no cycle ended for {STALL:?} \
                 after cycle {}; giving up",
                last.0
            );
            std::process::exit(101);
        }
        for p in programs {
            tally.add(&p.join().expect("a mutator program failed"));
        }
        gc_calls = cycler.join().expect("the cycle thread failed");
    });
    // One more cycle with every program gone: only the globals are left.
    c.gc();
    let elapsed = t0.elapsed();

    let stats = c.stats();
    let f = findings.lock().unwrap();
    let max_marked = stats.iter().map(|s| s.marked).max().unwrap_or(0);
    let assists: u64 = stats.iter().map(|s| s.assists).sum();
    let mark_ms = stats.iter().map(|s| s.mark_s).sum::<f64>() * 1e3 / stats.len().max(1) as f64;
    println!(
        "stress seed {seed:#x}, {mutators} mutators: {} cycles checked in {elapsed:.2?} \
         ({} gc() calls, {mark_ms:.2} ms marking per cycle, {assists} assists); \
         {} reachable per cycle on average, {max_marked} marked at most; \
         {} objects allocated of {max_objects} ({} refused); {} steps, {} on leaves",
        f.cycles,
        gc_calls + 1,
        f.reachable / f.cycles.max(1),
        shared.allocated.load(Relaxed),
        tally.alloc_denied,
        tally.steps,
        tally.leaf,
    );
    for (i, op) in Op::ALL.into_iter().enumerate() {
        println!(
            "  {op:?}: {} ran, {} while marking",
            tally.ran[i], tally.ran_marking[i]
        );
    }

    if let Err(e) = catch_unwind(AssertUnwindSafe(|| f.assert_none_lost())) {
        let msg = e
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| e.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!(
            "seed {seed:#x} (STRESS_SEED={seed:#x}), {mutators} mutators: {msg}; {} of {} cycles lost objects",
            f.lost
                .iter()
                .map(|l| l.cycle)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            f.cycles
        );
    }
    assert!(
        f.cycles >= cycles,
        "seed {seed:#x}, {mutators} mutators: only {} of {cycles} cycles were checked",
        f.cycles
    );
    assert!(
        f.reachable > 0,
        "seed {seed:#x}, {mutators} mutators: the oracle reached nothing"
    );
    for (i, op) in Op::ALL.into_iter().enumerate() {
        assert!(
            tally.ran[i] > 0,
            "seed {seed:#x}, {mutators} mutators: {op:?} never ran"
        );
        assert!(
            tally.ran_marking[i] > 0,
            "seed {seed:#x}, {mutators} mutators: {op:?} never ran while marking"
        );
    }
    assert!(
        shared.allocated.load(Relaxed) < u64::from(max_objects),
        "the allowance let the arena fill"
    );
}

#[test]
fn one_mutator() {
    stress(1, CI_CYCLES, seed());
}

#[test]
fn two_mutators() {
    stress(2, CI_CYCLES, seed());
}

#[test]
fn four_mutators() {
    stress(4, CI_CYCLES, seed());
}

/// `STRESS_CYCLES` cycles in all (default [`SOAK_CYCLES`]), split over 1, 2
/// and 4 mutators. Run with
/// `cargo test --release --test stress -- --ignored long_soak`.
#[test]
#[ignore = "long: cargo test --release --test stress -- --ignored long_soak"]
fn long_soak() {
    let t0 = Instant::now();
    let total = cycles_from_env(SOAK_CYCLES);
    let seed = seed();
    let runs = [1, 2, 4];
    let each = total.div_ceil(runs.len() as u64).max(1);
    for mutators in runs {
        stress(mutators, each, seed);
    }
    println!(
        "long soak, seed {seed:#x}: {} cycles over 1, 2 and 4 mutators in {:.2?}",
        each * runs.len() as u64,
        t0.elapsed()
    );
}
