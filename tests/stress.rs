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
//! cut subtrees, roots and globals. The size is estimated as the objects
//! the last mark termination reached plus every object allocated since, so
//! that a long cycle (everything allocated while marking is black) does not
//! let the trees outgrow the target. The live set is thus bounded, and
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
//! Objects the cycles leave white are freed by the sweep and their indices
//! reused by later allocations (see the module doc of `src/heap/span.rs`).
//! The arena is bounded: [`ARENA_PER_LIVE`] times the live set the programs
//! aim for plus their roots, so a run reuses indices all the time. A
//! `HeapFull` means the live set outgrew the arena and fails the run. What
//! the programs allocate between two mark terminations is capped too
//! ([`ALLOC_PER_CYCLE_PER_MUTATOR`], several times a normal cycle's
//! allocation; see [`Shared::may_alloc`] for why the pacer alone does not
//! bound it when a loaded machine stretches a cycle). Each run checks, from
//! the collector's [`CycleStats`], that the sweeps freed objects and
//! allocations reused them, and that the arena's occupancy (indices handed
//! out) does not grow with the cycles: where the run ends, it is where the
//! first half of the cycles ended (or, if the live set was still growing
//! then, the most a cycle marked), give or take a quarter and one cycle's
//! allocation.
//!
//! Reuse is checked from both sides:
//!
//! - every program remembers, for each of its own stack roots that holds a
//!   reference, the object's generation ([`Mutator::generation`]) as it put
//!   the reference there, and after every step (and every pause) reads it
//!   again: a different generation, or an object no longer allocated, is an
//!   object "reused while held" (freed while a root held it), and fails the
//!   run with the seed, the root, the object and both generations;
//! - the oracle records every reachable object that is not allocated at
//!   mark termination as lost, with its path, as it does a white one.
//!
//! The default tests (1, 2 and 4 mutators, [`CI_CYCLES`] cycles each) run
//! in CI, in a few seconds in a debug build; with the `gpu` feature,
//! `two_mutators_with_the_gpu_backend` runs [`GPU_CYCLES`] cycles whose
//! heap scanning is all on the GPU (offload `always`; lavapipe in CI, where
//! a missing adapter fails the test; elsewhere it skips). The long soak is
//! ignored by default; it runs `STRESS_CYCLES` cycles in all (default
//! 10 000), split evenly over 1, 2 and 4 mutators, on the CPU, or with
//! `STRESS_BACKEND=vulkan` on the GPU backend (offload `always`):
//!
//! ```text
//! cargo test --release --test stress -- --ignored long_soak
//! STRESS_CYCLES=100000 STRESS_SEED=0x1234 cargo test --release --test stress -- --ignored long_soak --nocapture
//! STRESS_BACKEND=vulkan STRESS_CYCLES=36000 WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe \
//!     XDG_RUNTIME_DIR=/tmp cargo test --release --features gpu --test stress -- --ignored long_soak --nocapture
//! ```
//!
//! (On two cores, in release: 10 000 CPU cycles take about 45 s; 36 000
//! cycles on lavapipe about 6.5 minutes.)
//!
//! Each run prints a summary line (`stress summary: ...`: cycles checked,
//! reachable and lost objects, reused-while-held findings and generation
//! checks, what the sweeps freed and reused, the arena's occupancy, wall
//! time), shown with `--nocapture`.
//!
//! `STRESS_SEED` (decimal, or hex with `0x`) seeds every test's programs
//! (default [`DEFAULT_SEED`]); `STRESS_CYCLES` and `STRESS_BACKEND` (`cpu`,
//! the default, or `vulkan`) apply to the long soak only. A seed fixes each
//! program's random choices, but what a program finds in the heap depends
//! on the thread interleaving, so a failing seed is a lead, not an exact
//! replay. A failing run also prints its last cycles' trace lines.

#[path = "support/oracle.rs"]
mod oracle;

#[cfg(feature = "gpu")]
mod common;

use gpumark::collector::{
    Collector, CollectorConfig, CollectorError, CycleStats, MarkTermination, MarkTerminationHook,
    Mutator,
};
use gpumark::heap::{Heap, HeapConfig, HeapError, ObjRef, SPAN_OBJECTS};
use gpumark::mark::drain::ROOT_BLOCK_SLOTS;
use gpumark::pacer::PacerConfig;
use gpumark::scan::{CpuScan, ScanBackend};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cycles each default test runs.
const CI_CYCLES: u64 = 150;

/// Cycles the default test on the GPU backend runs: 4 to 6 s on lavapipe
/// in a debug build on two cores.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
const GPU_CYCLES: u64 = 100;

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
/// The arena's object capacity, in multiples of the live set the programs
/// aim for plus their roots and globals.
const ARENA_PER_LIVE: u64 = 4;
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
/// Objects each mutator may allocate between two mark terminations (see
/// [`Shared::may_alloc`]): several times what a cycle allocates normally,
/// so that only a cycle a loaded machine stretches meets it.
const ALLOC_PER_CYCLE_PER_MUTATOR: u64 = LIVE_PER_MUTATOR / 2;

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

    /// Whether the operation allocates (and waits while
    /// [`Shared::may_alloc`] refuses).
    fn allocates(self) -> bool {
        matches!(
            self,
            Op::HideInFresh
                | Op::StackToFresh
                | Op::AllocInto
                | Op::AllocRoot
                | Op::AllocGlobal
                | Op::NewMailbox
        )
    }

    /// The operation's weight in a program's random choice, while the live
    /// set is below its target (`growing`) or not. While growing nothing is
    /// dropped on purpose: the `Drop*` operations and `NewMailbox` wait,
    /// and the others insert only into empty slots, roots and globals.
    /// Allocating operations (`HideInFresh`, `StackToFresh`, `Alloc*`,
    /// `NewMailbox`) stay a minority: about a third of the steps while
    /// growing, a sixth otherwise (and [`Shared::may_alloc`] may refuse
    /// them).
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
    /// Objects allocated.
    allocs: u64,
    /// Allocating steps skipped because the cycle's allocations were used
    /// up (see [`Shared::may_alloc`]).
    alloc_denied: u64,
    /// Slot reads or writes that found a leaf (no slots).
    leaf: u64,
    /// Generations of held roots read again and compared.
    gen_checks: u64,
    /// Held roots whose object was freed or reused (see
    /// [`Program::check_held`]).
    reused_while_held: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.steps += o.steps;
        for i in 0..Op::COUNT {
            self.ran[i] += o.ran[i];
            self.ran_marking[i] += o.ran_marking[i];
        }
        self.allocs += o.allocs;
        self.alloc_denied += o.alloc_denied;
        self.leaf += o.leaf;
        self.gen_checks += o.gen_checks;
        self.reused_while_held += o.reused_while_held;
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
    /// The arena's capacity in objects.
    arena: u32,
    /// Objects the programs allocated.
    allocated: Arc<AtomicU64>,
    /// `allocated` at the last mark termination (set by the hook).
    allocated_at_mark: Arc<AtomicU64>,
    /// Objects the programs may allocate between two mark terminations,
    /// all together.
    alloc_per_cycle: u64,
    /// Roots found holding a freed or reused object, described.
    held_failures: Mutex<Vec<String>>,
}

impl Shared {
    /// Objects allocated since the last mark termination.
    fn allocated_since_mark(&self) -> u64 {
        (self.allocated.load(Relaxed)).saturating_sub(self.allocated_at_mark.load(Relaxed))
    }

    /// Whether the programs may allocate one more object before the next
    /// mark termination. The arena holds a few times the live set, and
    /// every object allocated while marking is black, so it survives until
    /// the sweep after the next cycle: what a cycle may allocate must be
    /// bounded too. The pacer bounds bytes, not objects, and only as its
    /// assists do: late in a cycle, with little scan work left, one assist
    /// that steals background credit pays for megabytes (Go's over-assist
    /// at a high bytes-per-work ratio), so a mark that a loaded machine
    /// stretches to 100 ms or more lets the programs allocate more objects
    /// than the arena holds. A program whose step this refuses does nothing
    /// in that step. Several programs may pass at once: a few objects more.
    fn may_alloc(&self) -> bool {
        self.allocated_since_mark() < self.alloc_per_cycle
    }

    /// Whether the live set is below its target: the objects the last mark
    /// termination reached, plus those allocated since (an upper bound, as
    /// some are garbage already).
    fn growing(&self) -> bool {
        self.live.load(Relaxed) + self.allocated_since_mark() < self.target_live
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
    /// Per root of this mutator's stack: the object it holds and that
    /// object's generation when this program put it there (see
    /// [`Program::hold`]); `None` for a nil root.
    held: [Option<(ObjRef, u32)>; ROOTS],
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
            held: [None; ROOTS],
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
    /// A full arena means the live set outgrew it (the sweeps should have
    /// kept it a few times the live set); a reference to an object that is
    /// not allocated means the program held an object a sweep freed.
    fn ok<T>(&self, r: Result<T, CollectorError>) -> T {
        r.unwrap_or_else(|e| {
            let (seed, k) = (self.shared.seed, self.k);
            match e {
                CollectorError::Heap(e @ HeapError::HeapFull { .. }) => panic!(
                    "seed {seed:#x} (STRESS_SEED={seed:#x}), mutator {k}: HeapFull: {e}: the \
                     live set outgrew the arena of {} objects ({ARENA_PER_LIVE}x the target \
                     live set of {} plus roots); last cycle reached {} objects, {} cycles \
                     checked",
                    self.shared.arena,
                    self.shared.target_live,
                    self.shared.live.load(Relaxed),
                    self.shared.cycles.load(Relaxed),
                ),
                CollectorError::Heap(e @ HeapError::NotAllocated { .. }) => panic!(
                    "seed {seed:#x} (STRESS_SEED={seed:#x}), mutator {k}: {e}: this program \
                     reached an object a sweep freed"
                ),
                e => panic!(
                    "seed {seed:#x} (STRESS_SEED={seed:#x}), mutator {k}: unexpected error: {e}"
                ),
            }
        })
    }

    /// Records that root `i` now holds `v`, with `v`'s generation read
    /// right after the operation that put it there (in this thread, while
    /// the root holds it, so no correct sweep can have freed it since). An
    /// object that is not allocated already is a failure.
    fn hold(&mut self, i: usize, v: Option<ObjRef>) {
        self.held[i] = None;
        let Some(o) = v else { return };
        match self.m.generation(o) {
            Ok(g) => self.held[i] = Some((o, g)),
            Err(e) => self.held_failure(format!(
                "root {i} was given object {} that is not allocated ({e})",
                o.0
            )),
        }
    }

    /// Reads again the generation of every object this program's roots
    /// hold: a freed object, or one of another generation, was reused while
    /// held (a sweep freed it though a root held it).
    fn check_held(&mut self) {
        for i in 0..ROOTS {
            let Some((o, g)) = self.held[i] else {
                continue;
            };
            self.tally.gen_checks += 1;
            let now = self.m.generation(o);
            if now.as_ref().ok() != Some(&g) {
                let now = match now {
                    Ok(n) => format!("generation {n}"),
                    Err(e) => format!("not allocated ({e})"),
                };
                self.held_failure(format!(
                    "reused while held: root {i} holds object {}, of generation {g} when \
                     stored, now {now}",
                    o.0
                ));
                self.held[i] = None;
            }
        }
    }

    /// Checks that [`Program::held`] matches the stack: a bug of the test's
    /// own otherwise.
    fn check_bookkeeping(&self) {
        for i in 0..ROOTS {
            let root = self.root(i);
            let held = self.held[i].map(|(o, _)| o);
            assert_eq!(
                root, held,
                "seed {:#x}, mutator {}: the test's record of root {i} is wrong",
                self.shared.seed, self.k
            );
        }
    }

    /// Records a held-root failure and stops the run.
    fn held_failure(&mut self, what: String) {
        let seed = self.shared.seed;
        let msg = format!(
            "mutator {}, after cycle {}: {what}",
            self.k,
            self.shared.cycles.load(Relaxed)
        );
        eprintln!("stress: seed {seed:#x} (STRESS_SEED={seed:#x}), {msg}");
        self.tally.reused_while_held += 1;
        self.shared.held_failures.lock().unwrap().push(msg);
        self.shared.stop.store(true, Relaxed);
    }

    /// [`Mutator::alloc_root`], then [`Program::hold`].
    fn alloc_root(&mut self, i: usize, size: u32, nslots: u32) -> ObjRef {
        let o = self.ok(self.m.alloc_root(i, size, nslots));
        self.hold(i, Some(o));
        self.allocated();
        o
    }

    /// [`Mutator::load_root`], then [`Program::hold`].
    fn load_root(&mut self, obj: ObjRef, slot: u32, i: usize) -> Option<ObjRef> {
        let v = self.ok(self.m.load_root(obj, slot, i));
        self.hold(i, v);
        v
    }

    /// [`Mutator::load_global_root`], then [`Program::hold`].
    fn load_global_root(&mut self, g: usize, i: usize) -> Option<ObjRef> {
        let v = self.ok(self.m.load_global_root(g, i));
        self.hold(i, v);
        v
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

    /// [`Mutator::set_root`], then [`Program::hold`].
    fn set_root(&mut self, i: usize, v: Option<ObjRef>) {
        self.ok(self.m.set_root(i, v));
        self.hold(i, v);
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

    /// Counts an allocation that happened.
    fn allocated(&mut self) {
        self.tally.allocs += 1;
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
        self.check_held();
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
            let Some(next) = self.load_root(cur, s, PROBE) else {
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

    /// A shared mailbox in `FRESH`, made if its global is empty (and
    /// [`Shared::may_alloc`] permits).
    fn mailbox(&mut self) -> Option<ObjRef> {
        let g = self.below(MAILBOXES as u64) as usize;
        if let Some(e) = self.load_global_root(g, FRESH) {
            return Some(e);
        }
        self.new_mailbox(g)
    }

    /// A new mailbox, in `FRESH` and in shared global `g`; whatever `g`
    /// held becomes garbage unless another mutator holds it.
    fn new_mailbox(&mut self, g: usize) -> Option<ObjRef> {
        if !self.shared.may_alloc() {
            self.tally.alloc_denied += 1;
            return None;
        }
        let (size, n) = self.shape(MAILBOX_SLOTS, false);
        let e = self.alloc_root(FRESH, size, n);
        self.ok(self.m.set_global(g, Some(e)));
        Some(e)
    }

    /// Clears the registers, so that what they held can become garbage.
    fn clear_registers(&mut self) {
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
            let ran = if op.allocates() && !self.shared.may_alloc() {
                self.tally.alloc_denied += 1;
                false
            } else {
                self.step(op)
            };
            self.check_held();
            self.clear_registers();
            self.tally.steps += 1;
            if self.tally.steps % 64 == 0 {
                self.check_bookkeeping();
            }
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
                if self.load_root(p, s, r).is_none() {
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
                if self.load_root(p, s, stash + i).is_none() {
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
                let (size, n) = self.shape(NODE_SLOTS, false);
                let b = self.alloc_root(FRESH, size, n);
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
                let Some((p, s)) = self.target() else {
                    return false;
                };
                let Some(x) = self.load_root(p, s, HELD) else {
                    return false;
                };
                // `p` must stay rooted while `dest` walks.
                self.set_root(ORIGIN, Some(p));
                let (size, n) = self.shape(NODE_SLOTS, false);
                let b = self.alloc_root(FRESH, size, n);
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
                let Some(x) = self.load_root(p, s, HELD) else {
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
                self.load_root(p, s, r);
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
                self.load_global_root(g, r);
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
                let Some(x) = self.load_root(p, s, HELD) else {
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
                let x = self.load_global_root(g, HELD);
                self.ok(self.m.write(p, s, x));
                self.ok(self.m.set_global(g, None));
                true
            }
            Op::AllocInto => {
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
                // An empty anchor first: its tree regrows from there.
                let anchor = (0..ANCHORS).find(|&a| self.root(a).is_none());
                let Some(r) = anchor.or_else(|| self.free_loose()) else {
                    return false;
                };
                let (size, n) = self.shape(NODE_SLOTS, false);
                self.alloc_root(r, size, n);
                true
            }
            Op::AllocGlobal => {
                let g = if self.coin() {
                    self.free_own_global()
                } else {
                    self.free_swap_global()
                };
                let Some(g) = g else { return false };
                let (size, n) = self.shape(NODE_SLOTS, true);
                let x = self.alloc_root(HELD, size, n);
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
                if self.load_root(e, j, r).is_none() {
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
                    if self.load_global_root(g, r).is_none() {
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

/// What a run found: its summary line, and the long soak's totals.
#[derive(Clone, Debug, Default)]
struct Summary {
    /// Runs summed (1 for one run).
    runs: u64,
    /// Cycles the oracle checked.
    cycles: u64,
    /// Reachable objects the oracle reached, summed over cycles.
    reachable: u64,
    /// Reachable objects lost (left white or not allocated).
    lost: u64,
    /// Of them, reachable objects not allocated.
    not_allocated: u64,
    /// Roots found holding a freed or reused object.
    reused_while_held: u64,
    /// Generations of held roots compared.
    gen_checks: u64,
    /// Objects the sweeps freed, summed over cycles.
    swept_objects: u64,
    /// Their bytes.
    swept_bytes: u64,
    /// Allocations that reused a freed index.
    reused_objects: u64,
    /// Objects the programs allocated.
    allocs: u64,
    /// The arena's capacity (the largest, over runs).
    arena: u64,
    /// The most indices handed out at the end of a cycle (over runs).
    max_arena: u64,
    /// Wall time.
    elapsed: Duration,
}

impl Summary {
    fn add(&mut self, o: &Summary) {
        self.runs += o.runs;
        self.cycles += o.cycles;
        self.reachable += o.reachable;
        self.lost += o.lost;
        self.not_allocated += o.not_allocated;
        self.reused_while_held += o.reused_while_held;
        self.gen_checks += o.gen_checks;
        self.swept_objects += o.swept_objects;
        self.swept_bytes += o.swept_bytes;
        self.reused_objects += o.reused_objects;
        self.allocs += o.allocs;
        self.arena = self.arena.max(o.arena);
        self.max_arena = self.max_arena.max(o.max_arena);
        self.elapsed += o.elapsed;
    }

    /// The figures, on one line.
    fn line(&self) -> String {
        format!(
            "{} cycles checked, {} reachable objects ({} per cycle), lost {} ({} not \
             allocated), reused-while-held {} in {} generation checks; swept {} objects \
             ({:.1} MiB), reused {} of {} allocations; arena at most {} of {} indices; {:.2?}",
            self.cycles,
            self.reachable,
            self.reachable / self.cycles.max(1),
            self.lost,
            self.not_allocated,
            self.reused_while_held,
            self.gen_checks,
            self.swept_objects,
            self.swept_bytes as f64 / f64::from(1 << 20),
            self.reused_objects,
            self.allocs,
            self.max_arena,
            self.arena,
            self.elapsed,
        )
    }
}

/// Prints the last cycles' trace lines if the run fails: what the pacer,
/// the sweeps and the arena did just before.
struct TraceOnPanic<'a>(&'a [CycleStats]);

impl Drop for TraceOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let skip = self.0.len().saturating_sub(12);
            for s in &self.0[skip..] {
                eprintln!(
                    "{s}; swept {}, reused {}, {} indices handed out",
                    s.swept_objects, s.reused_objects, s.arena_objects
                );
            }
        }
    }
}

/// The text of a panic's payload.
fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs `mutators` programs on `backend` (named `backend_name` in what it
/// prints) until `cycles` cycles have been checked, then asserts that
/// nothing was lost or reused while held, that the sweeps freed and reused
/// objects in an arena that did not grow, and that every kind of operation
/// ran.
fn stress(
    mutators: usize,
    cycles: u64,
    seed: u64,
    backend: Arc<dyn ScanBackend>,
    backend_name: &str,
) -> Summary {
    let t0 = Instant::now();
    let globals_used = MAILBOXES + SWAPS + mutators * OWN_GLOBALS;
    assert!(globals_used <= ROOT_BLOCK_SLOTS);
    for (i, op) in Op::ALL.into_iter().enumerate() {
        assert_eq!(op as usize, i, "Op::ALL is out of order");
    }
    let target_live = LIVE_PER_MUTATOR * mutators as u64;
    // The arena holds a few times the live set and the roots: the sweeps
    // must free what the programs drop, for the allocations to fit.
    let roots = (mutators * ROOTS + globals_used) as u64;
    let arena = (ARENA_PER_LIVE * (target_live + roots)).next_multiple_of(SPAN_OBJECTS.into());
    let arena = u32::try_from(arena).expect("arena fits u32 indices");
    let heap = Arc::new(Heap::new(HeapConfig {
        max_objects: arena,
        max_slots: arena * ARENA_SLOTS_PER_OBJECT,
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
        arena,
        allocated: Arc::new(AtomicU64::new(0)),
        allocated_at_mark: Arc::new(AtomicU64::new(0)),
        alloc_per_cycle: ALLOC_PER_CYCLE_PER_MUTATOR * mutators as u64,
        held_failures: Mutex::new(Vec::new()),
    };
    // The oracle, then what the run needs to know: cycles checked, the live
    // set (and the allocations it counts), whether anything was lost.
    let hook: MarkTerminationHook = {
        let (cycles, live, lost, findings) = (
            shared.cycles.clone(),
            shared.live.clone(),
            shared.lost.clone(),
            findings.clone(),
        );
        let (allocated, allocated_at_mark) =
            (shared.allocated.clone(), shared.allocated_at_mark.clone());
        Arc::new(move |t: &MarkTermination<'_>| {
            let before = findings.lock().unwrap().reachable;
            // The world is stopped: no allocation is under way.
            allocated_at_mark.store(allocated.load(Relaxed), Relaxed);
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
            backend,
            on_mark_termination: Some(hook),
            ..CollectorConfig::default()
        },
    )
    .unwrap();

    let mut tally = Tally::default();
    let mut program_panics = Vec::new();
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
        // The monitor: until enough cycles are checked, something is lost
        // (or reused while held, which stops the run), a thread fails, or
        // no cycle ends for too long.
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
                        "stress {backend_name}, {mutators} mutators: cycle {n} of {cycles}, \
                         {} live, {} allocated, {} of {arena} indices handed out",
                        shared.live.load(Relaxed),
                        shared.allocated.load(Relaxed),
                        c.heap().len(),
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
                "stress: seed {seed:#x}, {backend_name}, {mutators} mutators: no cycle ended \
                 for {STALL:?} after cycle {}; giving up",
                last.0
            );
            std::process::exit(101);
        }
        for p in programs {
            match p.join() {
                Ok(t) => tally.add(&t),
                Err(e) => program_panics.push(panic_message(&*e)),
            }
        }
        gc_calls = cycler.join().expect("the cycle thread failed");
    });
    // One more cycle with every program gone: only the globals are left.
    c.gc();
    let elapsed = t0.elapsed();

    let stats = c.stats();
    let _trace = TraceOnPanic(&stats);
    let f = findings.lock().unwrap();
    let held_failures = shared.held_failures.lock().unwrap();
    let max_marked = stats.iter().map(|s| s.marked).max().unwrap_or(0);
    let assists: u64 = stats.iter().map(|s| s.assists).sum();
    let mark_ms = stats.iter().map(|s| s.mark_s).sum::<f64>() * 1e3 / stats.len().max(1) as f64;
    let max_arena = |s: &[CycleStats]| s.iter().map(|s| s.arena_objects).max().unwrap_or(0);
    let half = stats.len() / 2;
    let (first_half, second_half) = (max_arena(&stats[..half]), max_arena(&stats[half..]));
    let summary = Summary {
        runs: 1,
        cycles: f.cycles,
        reachable: f.reachable,
        lost: f.lost.len() as u64,
        not_allocated: f.not_allocated() as u64,
        reused_while_held: tally.reused_while_held.max(held_failures.len() as u64),
        gen_checks: tally.gen_checks,
        swept_objects: stats.iter().map(|s| s.swept_objects).sum(),
        swept_bytes: stats.iter().map(|s| s.swept_bytes).sum(),
        reused_objects: stats.iter().map(|s| s.reused_objects).sum(),
        allocs: tally.allocs,
        arena: arena.into(),
        max_arena: first_half.max(second_half),
        elapsed,
    };
    println!(
        "stress seed {seed:#x}, {backend_name}, {mutators} mutators: {} gc() calls, \
         {mark_ms:.2} ms marking per cycle, {assists} assists, {max_marked} marked at most; \
         arena at most {first_half} indices in the first half of the cycles, {second_half} \
         in the second; {} steps, {} on leaves, {} allocating steps waited for a cycle",
        gc_calls + 1,
        tally.steps,
        tally.leaf,
        tally.alloc_denied,
    );
    for (i, op) in Op::ALL.into_iter().enumerate() {
        println!(
            "  {op:?}: {} ran, {} while marking",
            tally.ran[i], tally.ran_marking[i]
        );
    }
    println!(
        "stress summary: {backend_name}, seed {seed:#x}, {mutators} mutators: {}",
        summary.line()
    );

    let run =
        format!("seed {seed:#x} (STRESS_SEED={seed:#x}), {backend_name}, {mutators} mutators");
    if let Some(first) = held_failures.first() {
        panic!(
            "{run}: {} roots held an object a sweep freed or reused; first: {first}",
            held_failures.len()
        );
    }
    if let Err(e) = catch_unwind(AssertUnwindSafe(|| f.assert_none_lost())) {
        panic!(
            "{run}: {}; {} of {} cycles lost objects",
            panic_message(&*e),
            f.lost
                .iter()
                .map(|l| l.cycle)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            f.cycles
        );
    }
    if let Some(first) = program_panics.first() {
        panic!(
            "{run}: {} mutator programs failed; first: {first}",
            program_panics.len()
        );
    }
    assert!(
        f.cycles >= cycles,
        "{run}: only {} of {cycles} cycles were checked",
        f.cycles
    );
    assert!(f.reachable > 0, "{run}: the oracle reached nothing");
    for (i, op) in Op::ALL.into_iter().enumerate() {
        assert!(tally.ran[i] > 0, "{run}: {op:?} never ran");
        assert!(
            tally.ran_marking[i] > 0,
            "{run}: {op:?} never ran while marking"
        );
    }
    assert!(
        tally.gen_checks > 0,
        "{run}: no held root's generation was checked"
    );
    assert!(
        summary.swept_objects > 0,
        "{run}: the sweeps freed nothing in {} cycles",
        stats.len()
    );
    assert!(
        summary.reused_objects > 0,
        "{run}: no allocation reused a freed index in {} cycles",
        stats.len()
    );
    assert!(
        summary.max_arena <= u64::from(arena),
        "{run}: {} indices handed out, past the arena's {arena}",
        summary.max_arena
    );
    // Occupancy does not grow with the cycles. Indices are only ever added,
    // so the peak of the second half is where the run ended; it must be
    // where the first half ended (or, if the live set was still growing
    // then, the most a cycle marked), give or take a quarter, one cycle's
    // allocations (a burst in a long cycle) and a span per size class the
    // programs use (leaves, nodes, mailboxes) and mutator cache. A sweep
    // that leaks grows it with every cycle's allocations instead.
    let base = first_half.max(max_marked);
    let allowed =
        base + base / 4 + shared.alloc_per_cycle + 3 * u64::from(SPAN_OBJECTS) * mutators as u64;
    assert!(
        second_half <= allowed,
        "{run}: the arena grew with the cycles: at most {first_half} indices handed out in \
         the first {half} cycles, {second_half} in the last {} (at most {max_marked} marked \
         in a cycle; {allowed} allowed)",
        stats.len() - half
    );
    summary
}

/// The CPU scan backend.
fn cpu() -> Arc<dyn ScanBackend> {
    Arc::new(CpuScan)
}

#[test]
fn one_mutator() {
    stress(1, CI_CYCLES, seed(), cpu(), "cpu");
}

#[test]
fn two_mutators() {
    stress(2, CI_CYCLES, seed(), cpu(), "cpu");
}

#[test]
fn four_mutators() {
    stress(4, CI_CYCLES, seed(), cpu(), "cpu");
}

/// GPU scan backend options: every heap scan on the GPU (offload
/// `always`), on `backend` or, if `None`, what `WGPU_BACKEND` says.
#[cfg(feature = "gpu")]
fn gpu_options(backend: Option<gpumark::gpu::BackendChoice>) -> gpumark::gpu::GpuScanOptions {
    use gpumark::gpu::{GpuOptions, GpuScanOptions, OffloadPolicy};
    GpuScanOptions {
        gpu: GpuOptions {
            backend,
            ..GpuOptions::default()
        },
        policy: OffloadPolicy::Always,
        ..GpuScanOptions::default()
    }
}

/// Asserts that the GPU scanned and was not lost; returns its stats.
#[cfg(feature = "gpu")]
fn check_gpu(gpu: &gpumark::gpu::GpuScan, mutators: usize) -> gpumark::gpu::GpuScanStats {
    let st = gpu.stats();
    assert!(
        st.gpu_scan_work > 0,
        "{mutators} mutators: the GPU did no scan work: {st:?}"
    );
    assert_eq!(st.device_lost, None, "{mutators} mutators: device lost");
    println!(
        "  gpu, {mutators} mutators: {} batches, {} bytes of scan work on the GPU, {:.2} s GPU, \
         {:.2} s uploading",
        st.batches, st.gpu_scan_work, st.gpu_s, st.upload_s
    );
    st
}

/// The same stress with every heap scan on the GPU backend (offload
/// `always`; lavapipe in CI). Skipped without an adapter, except in CI.
#[cfg(feature = "gpu")]
#[test]
fn two_mutators_with_the_gpu_backend() {
    let Some(gpu) = common::gpu_scan(gpu_options(None)) else {
        return;
    };
    let gpu = Arc::new(gpu);
    stress(2, GPU_CYCLES, seed(), gpu.clone(), "gpu");
    check_gpu(&gpu, 2);
}

/// One long-soak run on the GPU backend named by `STRESS_BACKEND`
/// (`vulkan`, or `gpu` for what `WGPU_BACKEND` says), offload `always`. A
/// missing adapter fails: the soak asked for it.
#[cfg(feature = "gpu")]
fn soak_on_gpu(mutators: usize, cycles: u64, seed: u64, name: &str) -> Summary {
    use gpumark::gpu::{BackendChoice, GpuScan};
    let choice = (name == "vulkan").then_some(BackendChoice::Vulkan);
    let gpu = GpuScan::new(&gpu_options(choice))
        .unwrap_or_else(|e| panic!("STRESS_BACKEND={name}: the GPU backend did not open: {e}"));
    let gpu = Arc::new(gpu);
    let s = stress(mutators, cycles, seed, gpu.clone(), name);
    check_gpu(&gpu, mutators);
    s
}

#[cfg(not(feature = "gpu"))]
fn soak_on_gpu(_: usize, _: u64, _: u64, name: &str) -> Summary {
    panic!(
        "STRESS_BACKEND={name} needs the gpu feature: \
         cargo test --release --features gpu --test stress -- --ignored long_soak"
    )
}

/// `STRESS_CYCLES` cycles in all (default [`SOAK_CYCLES`]), split over 1, 2
/// and 4 mutators, on the CPU or, with `STRESS_BACKEND=vulkan`, on the GPU
/// backend. Run with
/// `cargo test --release --test stress -- --ignored long_soak`.
#[test]
#[ignore = "long: cargo test --release --test stress -- --ignored long_soak"]
fn long_soak() {
    let total = cycles_from_env(SOAK_CYCLES);
    let seed = seed();
    let backend = std::env::var("STRESS_BACKEND").unwrap_or_else(|_| "cpu".into());
    let backend = backend.trim().to_ascii_lowercase();
    let runs = [1, 2, 4];
    let each = total.div_ceil(runs.len() as u64).max(1);
    let mut sum = Summary::default();
    for mutators in runs {
        let s = match backend.as_str() {
            "cpu" => stress(mutators, each, seed, cpu(), "cpu"),
            "vulkan" | "gpu" => soak_on_gpu(mutators, each, seed, &backend),
            other => panic!("STRESS_BACKEND={other:?}: expected cpu or vulkan"),
        };
        sum.add(&s);
    }
    println!(
        "long soak summary: {backend}, seed {seed:#x}, {} runs over 1, 2 and 4 mutators: {}",
        sum.runs,
        sum.line()
    );
}
