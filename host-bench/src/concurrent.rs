//! The concurrent mode: mutator threads run a random program while the
//! collector runs paced, concurrent mark cycles (`--mutators M --cycles C`).
//! Go counterpart: a Go program under `GODEBUG=gctrace=1`, whose goroutines
//! allocate and rewrite pointers while `gcBgMarkWorker`s mark and
//! `gcAssistAlloc` makes allocating goroutines pay for the marking they cause.
//!
//! ## The heap: a long-lived part and the mutators' churn, in a bounded arena
//!
//! The `--shape`/`--objects` heap (or the `--heap FILE`) is the starting live
//! heap: long-lived data reachable from the globals, like the caches and
//! tables of a server. `gpumark::heap::build` gives a heap whose capacity is
//! exactly its contents, so [`with_room`] copies it object for object into
//! an arena with room for the mutators' objects ([`arena_for`]).
//!
//! gpumark reclaims memory the Go way (see `gpumark::heap::span`): after mark
//! termination the objects a cycle left white are freed by a sweep (lazily
//! as the mutators allocate, in the background on the collector's driver
//! thread, and finished at the next cycle start), and the mutators'
//! allocations reuse their indices and slots. The run therefore reaches a
//! steady state, as a Go program does: each cycle the mutators allocate up to
//! the goal (the live heap plus the pacer's runway), the cycle marks what is
//! live, and the sweep frees the rest for the next cycle's allocations. The
//! arena needs room for the steady-state heap at its peak, not for
//! everything the run allocates, so it is sized from the starting heap and
//! the runway alone ([`ARENA_FACTOR`] times their bytes), whatever `--cycles`
//! says, and a run goes on for any number of cycles in the same memory.
//!
//! The arena's occupancy (`Heap::len`, the object indices it has handed out:
//! live objects, freed ones waiting for reuse and the starting heap) rises
//! over the first cycles and then stays put; every cycle reports it
//! (`CycleStats::arena_objects`). A run stops early only if an allocation
//! fails with `HeapFull`: the heap itself (live objects and those not yet
//! swept) outgrew the arena, as with GOGC off and no memory limit, when no
//! cycle ever starts and nothing is freed. The run then says so
//! ([`StopReason::HeapFull`], with the failed allocation in
//! [`Measured::heap_full`]) rather than failing.
//!
//! ## The mutators' program
//!
//! Each mutator runs the program of gpumark's `tests/concurrent.rs` with its
//! own seeded generator: allocate and link into a rooted object, move a
//! reference from the heap to the stack and cut the heap path (work for the
//! deletion barrier), store a stack reference into the heap and drop it from
//! the stack (work for the insertion barrier), follow a pointer, drop a root.
//! It also roots objects of the long-lived heap (through the globals) and
//! walks their pointers, so marking and mutation meet in the same objects.
//!
//! One rule shapes the program. A reference a mutator reads from a heap slot
//! comes back in a Rust variable, which is a register, not a root (see
//! `gpumark::collector::Mutator`); the library has no operation that loads a
//! slot straight into a stack root. The read is therefore safe only while the
//! slot keeps the reference until the mutator has stored it in its stack:
//! if another thread could overwrite the slot in between, before a cycle
//! starts and the stack is scanned, the object would be reachable from that
//! stack alone and stay white. So a mutator writes only objects it allocated
//! itself (which no other mutator can reach), and the long-lived heap is
//! read-only: mutators read and root it, and store references to it in their
//! own objects, but never write into it. It stays live for the whole run
//! while the mutators' own objects come and go.
//!
//! ## What is reported
//!
//! The run ends once `C` cycles have completed; the mutators are stopped and
//! the collector's [`CycleStats`] of those `C` cycles are the report (a cycle
//! that had started as the mutators stopped is finished, but not reported).
//! [`CycleSummary::of`] condenses them into the summary row.

use crate::backend::ConcurrentBackend;
use crate::error::BenchError;
use crate::machine::{human_bytes, meminfo_field};
use crate::progress::Progress;
use crate::record::{scan_work, CycleSummary, Measured, StopReason};
use crate::source::HeapSource;
use gpumark::collector::{Collector, CollectorConfig, CollectorError, CycleStats, Mutator};
use gpumark::heap::{Heap, HeapConfig, HeapError, ObjRef};
use gpumark::pacer::{PacerConfig, DEFAULT_HEAP_MINIMUM, NO_MEMORY_LIMIT};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Stack roots per mutator (as in gpumark's concurrent stress test): enough
/// that a mutator's live set is a forest, not a chain, and few enough that
/// picking a random root often finds one recently touched.
pub const ROOTS: usize = 32;

/// How many times the steady-state heap the arena holds: its room for the
/// mutators is `ARENA_FACTOR × (live + runway)` bytes of the program's
/// objects, where `live` is the starting heap and `runway` the pacer's
/// ([`runway`]), on top of the starting heap's own objects and slots.
///
/// `live + runway` is the first cycle's goal, and the arena must hold the
/// heap at its peak (about the goal) plus what the sweep has freed but the
/// mutators have not reused yet, spans cached half-used and the size
/// classes' fragmentation. Its occupancy is a high-water mark (an index
/// handed out stays in the arena, free or not), so it is set by the largest
/// peak of the run, and that comes early: the first cycle starts from a
/// guessed trigger, and what the mutators allocate while it marks is
/// allocated black and counted live, which raises the second cycle's goal
/// too. Later cycles settle: the mutators' own live set and the objects
/// allocated black keep the live heap at about 1.3 times the starting heap.
///
/// Measured with 2 mutators over the default heap (12 MiB live, a 24 MiB
/// first goal; 2 cores): in a release build the steady goals are 30-35 MiB
/// and the occupancy settles at 0.85-1.6 million objects (25-47% of the
/// arena; the more of it, the busier the machine), 1000 cycles included; in
/// a debug build on a busy machine (first mark over a second, first peak
/// 2.2 times its goal) 2.0 million (59%). 4 covers that with room to spare
/// and costs memory in proportion to the heap, not to the cycles: about
/// 110 MB for the default heap.
pub const ARENA_FACTOR: u64 = 4;

/// Bytes per object the arena reserves an object for: the program allocates
/// 48-byte objects with 4 slots and (a third of its links) 16-byte leaves,
/// 41 bytes on average as measured, so one object per 32 bytes leaves room.
const ARENA_BYTES_PER_OBJECT: u64 = 32;

/// Bytes per slot the arena reserves a slot for: the program's densest
/// objects are 48 bytes with 4 slots.
const ARENA_BYTES_PER_SLOT: u64 = 12;

/// How often the runner looks whether enough cycles have completed.
const POLL: Duration = Duration::from_millis(1);

/// One concurrent run's settings (everything but the heap and GOMAXPROCS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcurrentSpec {
    /// Mutator threads.
    pub mutators: usize,
    /// Cycles to complete.
    pub cycles: u64,
    /// GOGC; negative is off.
    pub gc_percent: i32,
    /// Soft memory limit, bytes ([`NO_MEMORY_LIMIT`] for none).
    pub memory_limit: i64,
    /// Check every cycle's marks with the world stopped.
    pub verify: bool,
}

/// The pacer's runway for a live heap of `live` bytes: how far the heap may
/// grow before the goal, as an upper estimate (Go's goal is
/// `max(live × (1 + GOGC/100), heapMinimum)`, then capped by the memory
/// limit). With GOGC off and no limit no cycle ever starts; the arena is then
/// sized as for GOGC=100 and the run ends when it is full (nothing is freed).
pub fn runway(live: u64, gc_percent: i32, memory_limit: i64) -> u64 {
    let percent = if gc_percent < 0 && memory_limit == NO_MEMORY_LIMIT {
        100
    } else {
        gc_percent
    };
    let by_gogc = if percent < 0 {
        u64::MAX
    } else {
        let p = percent as u64;
        (live * p / 100).max(DEFAULT_HEAP_MINIMUM * p / 100)
    };
    let by_limit = if memory_limit == NO_MEMORY_LIMIT {
        u64::MAX
    } else {
        (memory_limit as u64).saturating_sub(live)
    };
    by_gogc.min(by_limit).max(DEFAULT_HEAP_MINIMUM / 4)
}

/// The arena for a run over a starting heap of `objects`, `slots` and
/// `bytes`: the starting heap plus room for [`ARENA_FACTOR`] `× (bytes +
/// runway)` bytes of the program's objects and each mutator's first roots.
/// It depends on the heap and the pacer's settings, never on the cycles
/// (freed objects are reused). `None` if that exceeds gpumark's 32-bit
/// indices.
pub fn arena_for(
    objects: u64,
    slots: u64,
    bytes: u64,
    spec: &ConcurrentSpec,
) -> Option<HeapConfig> {
    let runway = runway(bytes, spec.gc_percent, spec.memory_limit);
    let budget = bytes.checked_add(runway)?.checked_mul(ARENA_FACTOR)?;
    // Each mutator's first roots, before any cycle.
    let stacks = (spec.mutators * ROOTS) as u64;
    let max_objects = objects + budget / ARENA_BYTES_PER_OBJECT + stacks;
    let max_slots = slots + budget / ARENA_BYTES_PER_SLOT + 4 * stacks;
    Some(HeapConfig {
        max_objects: u32::try_from(max_objects).ok()?,
        max_slots: u32::try_from(max_slots).ok()?,
        globals: 0,
    })
}

/// Bytes an arena of `config` takes: 21 per object (a descriptor of five
/// 32-bit words, and about one more byte of span state, dirty cards and mark
/// bits), 4 per slot.
pub fn arena_bytes(config: &HeapConfig) -> u64 {
    21 * u64::from(config.max_objects) + 4 * u64::from(config.max_slots)
}

/// A copy of `base` in an arena with room for `extra` more objects and slots.
///
/// Objects are allocated in index order, so every object keeps its index and
/// slot range and the slots copy over unchanged; globals and any stacks of a
/// loaded image come along (a stack without a mutator is a root set that
/// never changes, like a parked goroutine's).
pub fn with_room(base: &Heap, extra: HeapConfig) -> Result<Heap, HeapError> {
    let too_large = |what, requested: u64| HeapError::CapacityTooLarge {
        what,
        requested,
        limit: u32::MAX.into(),
    };
    let objects = u64::from(base.len()) + u64::from(extra.max_objects);
    let slots = u64::from(base.slots_len()) + u64::from(extra.max_slots);
    let heap = Heap::new(HeapConfig {
        max_objects: u32::try_from(objects).map_err(|_| too_large("objects", objects))?,
        max_slots: u32::try_from(slots).map_err(|_| too_large("slots", slots))?,
        globals: base.globals().len(),
    });
    for i in 0..base.len() {
        let d = base.desc(i);
        let o = heap.alloc(d.size, d.nslots)?;
        debug_assert_eq!(o.0, i);
    }
    for (to, from) in heap.raw_slots().iter().zip(base.raw_slots()) {
        to.store(from.load(Relaxed), Relaxed);
    }
    for (i, g) in base.globals().iter().enumerate() {
        heap.set_global(i, ObjRef::decode(g.load(Relaxed)))?;
    }
    for s in base.stacks() {
        let snapshot = s.snapshot();
        heap.new_stack().with(|v| *v = snapshot);
    }
    Ok(heap)
}

/// What the mutators share: the heap, where the long-lived part ends, the
/// long-lived objects they may root, and when to stop.
struct Workload<'a> {
    heap: &'a Heap,
    /// Objects below this index are the long-lived heap: read-only.
    shared_len: u32,
    /// Targets of the globals that have slots: where mutators enter the
    /// long-lived heap. Globals never change, so these stay reachable.
    entries: Vec<ObjRef>,
    stop: AtomicBool,
    /// The first allocation that failed with `HeapFull`, in words.
    heap_full: OnceLock<String>,
}

impl Workload<'_> {
    fn has_slots(&self, o: ObjRef) -> bool {
        self.heap.object(o).is_ok_and(|d| d.nslots > 0)
    }

    /// An allocation failed: the heap outgrew the arena. Every mutator
    /// stops.
    fn set_full(&self, e: &HeapError) {
        let _ = self.heap_full.set(e.to_string());
        self.stop.store(true, Relaxed);
    }
}

/// A mutator that counts its operations (calls on the `Mutator` API, each
/// one a safepoint).
struct Counted<'a> {
    m: &'a Mutator,
    ops: u64,
}

impl Counted<'_> {
    fn tick<T>(&mut self, r: T) -> T {
        self.ops += 1;
        r
    }
    fn push_root(&mut self) {
        self.m.push_root(None);
        self.ops += 1;
    }
    fn root(&mut self, i: usize) -> Result<Option<ObjRef>, CollectorError> {
        let r = self.m.root(i);
        self.tick(r)
    }
    fn set_root(&mut self, i: usize, v: Option<ObjRef>) -> Result<(), CollectorError> {
        let r = self.m.set_root(i, v);
        self.tick(r)
    }
    fn read(&mut self, o: ObjRef, s: u32) -> Result<Option<ObjRef>, CollectorError> {
        let r = self.m.read(o, s);
        self.tick(r)
    }
    fn write(&mut self, o: ObjRef, s: u32, v: Option<ObjRef>) -> Result<(), CollectorError> {
        let r = self.m.write(o, s, v);
        self.tick(r)
    }
    fn alloc_root(&mut self, i: usize, size: u32, n: u32) -> Result<(), CollectorError> {
        let r = self.m.alloc_root(i, size, n).map(drop);
        self.tick(r)
    }
    fn alloc_into(&mut self, o: ObjRef, s: u32, size: u32, n: u32) -> Result<(), CollectorError> {
        let r = self.m.alloc_into(o, s, size, n).map(drop);
        self.tick(r)
    }
}

/// One mutator's program (see the module documentation) until told to stop
/// or an allocation finds the arena full; returns the operations it did.
fn mutate(m: &Mutator, w: &Workload<'_>, seed: u64) -> Result<u64, CollectorError> {
    let r = program(m, w, seed);
    if r.is_err() {
        // A failed mutator ends the run: the others need not wait for the
        // cycles.
        w.stop.store(true, Relaxed);
    }
    r
}

fn program(m: &Mutator, w: &Workload<'_>, seed: u64) -> Result<u64, CollectorError> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut below = |n: u64| ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64;
    let mut m = Counted { m, ops: 0 };
    for i in 0..ROOTS {
        m.push_root();
        match m.alloc_root(i, 48, 4) {
            Err(CollectorError::Heap(e @ HeapError::HeapFull { .. })) => {
                w.set_full(&e);
                return Ok(m.ops);
            }
            r => r?,
        }
    }
    while !w.stop.load(Relaxed) {
        match step(&mut m, w, &mut below) {
            Err(CollectorError::Heap(e @ HeapError::HeapFull { .. })) => w.set_full(&e),
            r => r?,
        }
    }
    Ok(m.ops)
}

/// One step of the program.
fn step(
    m: &mut Counted<'_>,
    w: &Workload<'_>,
    below: &mut impl FnMut(u64) -> u64,
) -> Result<(), CollectorError> {
    let r = below(ROOTS as u64) as usize;
    let Some(obj) = m.root(r)? else {
        // An empty root: a new object, or now and then an entry into the
        // long-lived heap.
        if !w.entries.is_empty() && below(4) == 0 {
            let e = w.entries[below(w.entries.len() as u64) as usize];
            return m.set_root(r, Some(e));
        }
        return m.alloc_root(r, 48, 4);
    };
    // Reading a descriptor is no heap operation: it never changes.
    let nslots = w.heap.object(obj)?.nslots;
    if nslots == 0 {
        return m.set_root(r, None);
    }
    let own = obj.0 >= w.shared_len;
    let s = below(u64::from(nslots)) as u32;
    match below(10) {
        // Allocate and link into a rooted object.
        0..=3 if own => {
            let n = if below(3) == 0 { 0 } else { 4 };
            m.alloc_into(obj, s, 16 + 8 * n, n)?;
        }
        // Move a reference from the heap onto the stack, then cut the heap
        // path: the deletion barrier must catch this.
        4..=5 if own => {
            if let Some(child) = m.read(obj, s)? {
                if w.has_slots(child) {
                    m.set_root(below(ROOTS as u64) as usize, Some(child))?;
                }
                m.write(obj, s, None)?;
            }
        }
        // Store a stack reference into the heap and drop it from the stack:
        // the insertion barrier must catch this.
        6..=7 if own => {
            let r2 = below(ROOTS as u64) as usize;
            if let Some(other) = m.root(r2)? {
                m.write(obj, s, Some(other))?;
                m.set_root(r2, None)?;
            }
        }
        // Follow a pointer and root what is found (in the long-lived heap,
        // every step but a dropped root is this one).
        0..=8 => {
            if let Some(child) = m.read(obj, s)? {
                if w.has_slots(child) {
                    m.set_root(r, Some(child))?;
                }
            }
        }
        // Drop a root.
        _ => m.set_root(r, None)?,
    }
    Ok(())
}

/// Runs one concurrent run over `source` with GOMAXPROCS `gomaxprocs`.
/// `seed` seeds the mutators' programs (mutator `i` gets `seed + i`).
pub fn run(
    source: &HeapSource,
    spec: &ConcurrentSpec,
    gomaxprocs: usize,
    seed: u64,
    backend: &ConcurrentBackend,
    progress: &Progress,
) -> Result<Measured, BenchError> {
    let desc = source.describe();
    let collector_err = |source| BenchError::Collector {
        heap: desc.clone(),
        source,
    };
    progress.busy(format!("building {desc}"));
    let t = Instant::now();
    let (base, import) = source.load(progress)?;
    let (start_objects, start_bytes) = (u64::from(base.len()), base.allocated_bytes());
    let start_edges = base.edges();
    let arena_err = || BenchError::ArenaIndices {
        heap: desc.clone(),
        factor: ARENA_FACTOR,
    };
    let extra = arena_for(0, 0, start_bytes, spec).ok_or_else(arena_err)?;
    if let HeapSource::File(_) = source {
        // A built heap's arena was checked before building; a file's size
        // is known only now.
        let slots = u64::from(base.slots_len());
        let need =
            estimated_bytes(start_objects, slots, start_bytes, spec).ok_or_else(arena_err)?;
        if let Some(avail) = meminfo_field("MemAvailable").filter(|&a| need > a) {
            return Err(BenchError::ArenaMemory {
                heap: desc.clone(),
                factor: ARENA_FACTOR,
                need: human_bytes(need),
                available: human_bytes(avail),
            });
        }
    }
    let heap = Arc::new(with_room(&base, extra).map_err(|e| collector_err(e.into()))?);
    drop(base);
    let build_s = t.elapsed().as_secs_f64();
    // The cycles mark what the mutators allocate too, so what the import's
    // roots reach is counted here, in the starting heap (untimed).
    let import = import.map(|r| r.with_reached(gpumark::verify::reachable(&heap).count));
    let arena = heap.config();
    progress.step();

    let mark_err = |source| BenchError::Mark {
        backend: backend.name,
        heap: desc.clone(),
        source,
    };
    backend.prepare(&heap).map_err(mark_err)?;
    let c = Collector::new(
        heap.clone(),
        CollectorConfig {
            pacer: PacerConfig {
                gc_percent: spec.gc_percent,
                memory_limit: spec.memory_limit,
                gomaxprocs,
            },
            backend: backend.scan.clone(),
            verify: spec.verify,
            ..CollectorConfig::default()
        },
    )
    .map_err(collector_err)?;
    let w = Workload {
        heap: &heap,
        shared_len: heap.len(),
        entries: heap
            .globals()
            .iter()
            .filter_map(|g| ObjRef::decode(g.load(Relaxed)))
            .filter(|&o| heap.object(o).is_ok_and(|d| d.nslots > 0))
            .collect(),
        stop: AtomicBool::new(false),
        heap_full: OnceLock::new(),
    };

    let what = format!(
        "{} mutators, GOMAXPROCS {gomaxprocs} on {desc}",
        spec.mutators
    );
    let t = Instant::now();
    let results: Vec<Result<u64, CollectorError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.mutators)
            .map(|i| {
                let m = c.mutator();
                let w = &w;
                s.spawn(move || mutate(&m, w, seed.wrapping_add(i as u64)))
            })
            .collect();
        let mut seen = 0;
        loop {
            let done = c.cycles();
            while seen < done.min(spec.cycles) {
                seen += 1;
                progress.step();
            }
            progress.quiet(format!("{what}: cycle {}/{}", seen + 1, spec.cycles));
            if done >= spec.cycles || w.stop.load(Relaxed) {
                break;
            }
            if handles.iter().all(|h| h.is_finished()) {
                break;
            }
            std::thread::sleep(POLL);
        }
        w.stop.store(true, Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let duration_s = t.elapsed().as_secs_f64();
    let mut mutator_ops = 0;
    for r in results {
        mutator_ops += r.map_err(collector_err)?;
    }
    // The arena's occupancy, not a count of live objects: freed indices are
    // reused, so this stays put once the run is in its steady state.
    let allocated_objects = u64::from(heap.len());
    let allocated_slots = u64::from(heap.slots_len());
    let allocated_bytes = heap.allocated_bytes();
    let mut cycles = c.stats();
    // Dropping the collector lets a cycle in flight finish.
    drop(c);
    let asked = usize::try_from(spec.cycles).unwrap_or(usize::MAX);
    cycles.truncate(asked);
    let (stop, heap_full) = if cycles.len() >= asked {
        (StopReason::Cycles, None)
    } else {
        let why = w.heap_full.into_inner();
        debug_assert!(why.is_some(), "mutators stopped before the cycles");
        (StopReason::HeapFull, why)
    };
    Ok(Measured {
        start_objects,
        start_bytes,
        start_edges,
        arena,
        allocated_objects,
        allocated_slots,
        allocated_bytes,
        build_s,
        duration_s,
        mutator_ops,
        stop,
        heap_full,
        gpu: backend.figures().map_err(mark_err)?,
        cycles,
        import,
    })
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn max(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.reduce(f64::max)
}

impl CycleSummary {
    /// Summarises `cycles`.
    pub fn of(cycles: &[CycleStats]) -> CycleSummary {
        let parked: Vec<&CycleStats> = cycles.iter().filter(|s| s.assists_parked > 0).collect();
        let first_failed = cycles
            .iter()
            .find(|s| s.verified == Some(false))
            .map(|s| s.cycle);
        let verified = if first_failed.is_some() {
            Some(false)
        } else if !cycles.is_empty() && cycles.iter().all(|s| s.verified == Some(true)) {
            Some(true)
        } else {
            None
        };
        CycleSummary {
            goal_ratio_median: median(cycles.iter().map(CycleStats::goal_ratio).collect()),
            goal_ratio_max: max(cycles.iter().map(CycleStats::goal_ratio)),
            utilization_median: median(cycles.iter().map(|s| s.utilization).collect()),
            assists: cycles.iter().map(|s| s.assists).sum(),
            assists_parked: cycles.iter().map(|s| s.assists_parked).sum(),
            park_p50_s: median(parked.iter().map(|s| s.park_p50_s).collect()),
            park_p99_s: max(parked.iter().map(|s| s.park_p99_s)),
            park_max_s: max(parked.iter().map(|s| s.park_max_s)),
            scan_work_median: median(cycles.iter().map(|s| scan_work(s) as f64).collect()),
            verified,
            first_failed,
        }
    }
}

/// Bytes a run over a heap of `objects`, `slots` and `bytes` needs at its
/// peak, as an upper estimate: the starting heap while it is copied, the
/// arena, and the verifier's reachable set and stack over the whole arena.
pub fn estimated_bytes(objects: u64, slots: u64, bytes: u64, spec: &ConcurrentSpec) -> Option<u64> {
    let arena = arena_for(objects, slots, bytes, spec)?;
    let base = 12 * objects + 4 * slots;
    let verify = if spec.verify {
        u64::from(arena.max_objects) / 8 + 4 * u64::from(arena.max_objects)
    } else {
        0
    };
    Some(base + arena_bytes(&arena) + verify + (32 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpumark::heap::{build, Shape, ShapeSpec};

    fn spec(cycles: u64, gc_percent: i32, memory_limit: i64) -> ConcurrentSpec {
        ConcurrentSpec {
            mutators: 2,
            cycles,
            gc_percent,
            memory_limit,
            verify: true,
        }
    }

    #[test]
    fn runway_follows_gogc_minimum_and_limit() {
        const MIB: u64 = 1 << 20;
        assert_eq!(runway(40 * MIB, 100, NO_MEMORY_LIMIT), 40 * MIB);
        assert_eq!(runway(40 * MIB, 50, NO_MEMORY_LIMIT), 20 * MIB);
        // Small heaps run to the heap minimum.
        assert_eq!(runway(MIB, 100, NO_MEMORY_LIMIT), 4 * MIB);
        // The limit caps the runway; off with no limit sizes as GOGC=100.
        assert_eq!(runway(40 * MIB, 100, (50 * MIB) as i64), 10 * MIB);
        assert_eq!(runway(40 * MIB, -1, (60 * MIB) as i64), 20 * MIB);
        assert_eq!(runway(40 * MIB, -1, NO_MEMORY_LIMIT), 40 * MIB);
    }

    #[test]
    fn arena_has_room_and_refuses_what_indices_cannot_hold() {
        let a = arena_for(1000, 4000, 48_000, &spec(10, 100, NO_MEMORY_LIMIT)).unwrap();
        // A small heap runs to the heap minimum: room for 4 × (48 KB + 4 MiB).
        let budget = ARENA_FACTOR * (48_000 + DEFAULT_HEAP_MINIMUM);
        assert!(u64::from(a.max_objects) >= 1000 + budget / 48);
        assert!(u64::from(a.max_slots) >= 4000 + budget / 12);
        assert!(arena_for(1 << 30, 1 << 31, 48 << 30, &spec(10, 100, NO_MEMORY_LIMIT)).is_none());
        // GOGC stretches the runway, and with it the arena, past the indices.
        assert!(arena_for(
            1 << 20,
            1 << 22,
            48 << 20,
            &spec(10, 1_000_000, NO_MEMORY_LIMIT)
        )
        .is_none());
    }

    #[test]
    fn arena_does_not_grow_with_the_cycles() {
        for (gc_percent, limit) in [
            (100, NO_MEMORY_LIMIT),
            (50, 64 << 20),
            (-1, NO_MEMORY_LIMIT),
        ] {
            let a =
                |cycles| arena_for(262_144, 1 << 20, 12 << 20, &spec(cycles, gc_percent, limit));
            let few = a(1).unwrap();
            assert_eq!(few, a(20).unwrap());
            assert_eq!(few, a(u64::MAX).unwrap());
            assert_eq!(
                estimated_bytes(262_144, 1 << 20, 12 << 20, &spec(1, gc_percent, limit)),
                estimated_bytes(
                    262_144,
                    1 << 20,
                    12 << 20,
                    &spec(u64::MAX, gc_percent, limit)
                ),
            );
        }
        // The default concurrent heap (12 MiB live, GOGC 100): about
        // 3.4 million objects and 9.4 million slots, some 110 MB.
        let a = arena_for(262_144, 1 << 20, 12 << 20, &spec(20, 100, NO_MEMORY_LIMIT)).unwrap();
        assert_eq!(u64::from(a.max_objects), 262_144 + (96 << 20) / 32 + 64);
        assert!(arena_bytes(&a) < 128 << 20, "{}", arena_bytes(&a));
    }

    #[test]
    fn copy_keeps_every_object_slot_and_root() {
        let base = build(&ShapeSpec {
            shape: Shape::PowerLaw,
            objects: 3000,
            ptrs: 4,
            roots: 16,
            seed: 3,
        });
        let h = with_room(
            &base,
            HeapConfig {
                max_objects: 10,
                max_slots: 20,
                globals: 0,
            },
        )
        .unwrap();
        assert_eq!((h.len(), h.slots_len()), (base.len(), base.slots_len()));
        assert_eq!(h.config().max_objects, base.len() + 10);
        assert_eq!(h.allocated_bytes(), base.allocated_bytes());
        assert_eq!(h.edges(), base.edges());
        for i in 0..base.len() {
            assert_eq!(h.desc(i), base.desc(i));
        }
        let globals =
            |h: &Heap| -> Vec<u32> { h.globals().iter().map(|g| g.load(Relaxed)).collect() };
        assert_eq!(globals(&h), globals(&base));
        let (reach, reach2) = (
            gpumark::verify::reachable(&base),
            gpumark::verify::reachable(&h),
        );
        assert_eq!(reach.bits, reach2.bits);
        assert!(h.alloc(16, 0).is_ok(), "room for more");
    }

    #[test]
    fn summary_of_cycles() {
        let cyc = |n: u64, peak: u64, parked: u64, p50: f64, verified| CycleStats {
            cycle: n,
            heap_peak: peak,
            heap_goal: 100,
            utilization: 0.25,
            assists: 10,
            assists_parked: parked,
            park_p50_s: p50,
            park_p99_s: 2.0 * p50,
            park_max_s: 4.0 * p50,
            heap_scan_work: 1000,
            stack_scan_work: 10,
            globals_scan_work: 1,
            verified,
            ..CycleStats::default()
        };
        let s = CycleSummary::of(&[
            cyc(1, 90, 0, 0.0, Some(true)),
            cyc(2, 110, 2, 1e-3, Some(true)),
            cyc(3, 100, 1, 3e-3, Some(true)),
        ]);
        assert_eq!(s.goal_ratio_median, Some(1.0));
        assert_eq!(s.goal_ratio_max, Some(1.1));
        assert_eq!(s.assists, 30);
        assert_eq!(s.assists_parked, 3);
        // Cycles without parks do not pull the park times to zero.
        assert_eq!(s.park_p50_s, Some(2e-3));
        assert_eq!(s.park_p99_s, Some(6e-3));
        assert_eq!(s.park_max_s, Some(12e-3));
        assert_eq!(s.scan_work_median, Some(1011.0));
        assert_eq!((s.verified, s.first_failed), (Some(true), None));
        let s = CycleSummary::of(&[
            cyc(1, 90, 0, 0.0, Some(true)),
            cyc(2, 90, 0, 0.0, Some(false)),
        ]);
        assert_eq!((s.verified, s.first_failed), (Some(false), Some(2)));
        assert_eq!(s.park_p50_s, None);
        let s = CycleSummary::of(&[]);
        assert_eq!((s.verified, s.goal_ratio_median), (None, None));
    }
}
