//! The binary-trees GC benchmark (the Computer Language Benchmarks Game
//! program) as a managed program on gpumark's [`Collector`]: what a runtime
//! author would write first to see the collector run a real allocation
//! pattern end to end: concurrent marking, assists, sweeping, and the reuse
//! of freed objects.
//!
//! The program: a *stretch* tree of depth `max_depth + 1` is built, checked
//! and dropped; a *long-lived* tree of depth `max_depth` is built and kept;
//! then for each depth `d` = 4, 6, ..., `max_depth`, `2^(max_depth - d + 4)`
//! short-lived trees of depth `d` are built, checked by a node-count walk and
//! dropped, the iterations shared out between `mutators` threads; last, the
//! long-lived tree is checked. A tree of depth `d` has `2^(d+1) - 1` nodes,
//! so every check is known in advance: the program verifies them and exits
//! nonzero on a mismatch (a live node freed, a reference gone wrong).
//!
//! How it uses the collector:
//!
//! - A node is a managed object of 16 bytes with two pointer slots (left,
//!   right), Go's `struct{ left, right *Node }`.
//! - Every reference the program needs across operations lives in the
//!   mutator's stack of roots, one stack slot per recursion level (the
//!   frame a compiler would give it): trees are built top-down with
//!   [`Mutator::alloc_root`] and [`Mutator::alloc_into`], which store the new
//!   reference in the same operation, and walked with [`Mutator::load_root`],
//!   which reads a child into the next frame slot. An [`ObjRef`] in a Rust
//!   variable is only a register: it is used while a stack slot (or an
//!   object the stack reaches) still holds the same reference, which is what
//!   keeps it alive; objects never move, so such a copy stays valid.
//! - The arena ([`HeapConfig`]) is sized from the peak live set (the
//!   long-lived tree plus one tree per mutator): [`HEAP_FACTOR`] times it,
//!   or twice the heap goal the pacer will aim for if that is more (see
//!   [`arena_objects`]), while the program allocates many times that in
//!   total. It can only finish because each cycle's sweep frees the dropped
//!   trees and allocation reuses them. Its occupancy is printed at the end.
//!   An allocation that finds it full anyway (the heap may overshoot the
//!   goal while a slow cycle marks) runs a full cycle and tries again, as a
//!   runtime on a fixed arena would before declaring itself out of memory;
//!   the summary counts these.
//! - Pacing is Go's: GOGC from the environment (default 100) and GOMEMLIMIT;
//!   GOMAXPROCS from the environment or the CPU count. For small trees the
//!   default GOGC is lowered so that Go's heap minimum (4 MiB × GOGC/100),
//!   which would otherwise dwarf the live set, is about twice the live set,
//!   as GOGC=100 makes the goal for large trees (see [`auto_gc_percent`]).
//!
//! After the benchmark's usual lines comes a gctrace-style summary of the
//! collector's per-cycle statistics: cycles, how close the peak heap came to
//! each goal, GC CPU utilisation, assists, objects swept and reused, and the
//! arena's occupancy.
//!
//! ```text
//! cargo run --release --example binary_trees -- 16 2
//! cargo run --release --features gpu --example binary_trees -- 14 2 --gpu
//! ```
//!
//! Arguments: `[max_depth] [mutators]` (defaults 10 and 2) and the flags
//! `--gpu` (scan on the GPU backend; needs `--features gpu`, falls back to
//! the CPU with a message when there is no adapter), `--offload=always`
//! (with `--gpu`: the GPU scans everything instead of the measured `auto`
//! policy, which on a software driver may hand everything to the CPU),
//! `--verify` (check every cycle's marks against a reachability pass, world
//! stopped) and `--gctrace` (print every cycle's line, like
//! `GODEBUG=gctrace=1`). Without a GPU, Mesa's lavapipe is a CPU Vulkan
//! driver that runs the GPU path (slowly: keep the depth small):
//!
//! ```text
//! WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe \
//!     cargo run --release --features gpu --example binary_trees -- 12 2 --gpu
//! ```
//!
//! `tests/examples.rs` includes this file as a module and calls [`run`], so
//! CI runs the program at a small depth; `main` is a thin wrapper around it.

use std::fmt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpumark::collector::{
    Collector, CollectorConfig, CollectorError, CycleStats, Mutator, ALLOC_FLUSH_BYTES,
};
use gpumark::heap::{HeapConfig, HeapError, ObjRef, SweepCounts, SPAN_OBJECTS};
use gpumark::pacer::{PacerConfig, DEFAULT_HEAP_MINIMUM, MIN_RUNWAY};
use gpumark::scan::{CpuScan, ScanBackend};

/// The benchmark's smallest depth of short-lived trees.
pub const MIN_DEPTH: u32 = 4;

/// The largest `max_depth` accepted: the arena's indices are 32-bit.
pub const MAX_DEPTH: u32 = 24;

/// Bytes of a node: two 8-byte pointers.
pub const NODE_BYTES: u32 = 16;

/// Pointer slots of a node.
pub const NODE_SLOTS: u32 = 2;

/// Slot of the left child.
pub const LEFT: u32 = 0;

/// Slot of the right child.
pub const RIGHT: u32 = 1;

/// The arena holds at least this many times the peak live set.
pub const HEAP_FACTOR: u64 = 4;

/// Full cycles one allocation may run when it finds the arena full, before
/// the program gives up: out of memory.
pub const FORCED_CYCLES_PER_ALLOC: u32 = 2;

/// The default maximum depth: a few seconds in a debug build.
pub const DEFAULT_DEPTH: u32 = 10;

/// The default number of mutator threads.
pub const DEFAULT_MUTATORS: usize = 2;

/// Errors of the benchmark: the collector's, and programming errors the
/// walks detect.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a run is asked to do.
#[derive(Clone)]
pub struct Options {
    /// Depth of the long-lived tree (at least `MIN_DEPTH + 2`).
    pub max_depth: u32,
    /// Mutator threads sharing the short-lived trees (at least 1).
    pub mutators: usize,
    /// Who scans.
    pub backend: Backend,
    /// GOGC; `None` for [`auto_gc_percent`].
    pub gc_percent: Option<i32>,
    /// Pacer settings other than GOGC (memory limit, GOMAXPROCS).
    pub pacer: PacerConfig,
    /// Check every cycle's marks against a reachability pass.
    pub verify: bool,
}

impl Options {
    /// `max_depth` and `mutators` on the CPU backend, with the default pacer
    /// (GOMAXPROCS = CPU count) and automatic GOGC.
    pub fn new(max_depth: u32, mutators: usize) -> Options {
        Options {
            max_depth,
            mutators,
            backend: Backend::Cpu,
            gc_percent: None,
            pacer: PacerConfig::default(),
            verify: false,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("max_depth", &self.max_depth)
            .field("mutators", &self.mutators)
            .field("backend", &self.backend)
            .field("gc_percent", &self.gc_percent)
            .field("pacer", &self.pacer)
            .field("verify", &self.verify)
            .finish()
    }
}

/// Who scans the heap in the collector's cycles.
#[derive(Clone)]
pub enum Backend {
    /// The CPU engine ([`CpuScan`]).
    Cpu,
    /// A GPU backend. [`run`] creates and uploads its heap mirror
    /// ([`gpumark::gpu::GpuScan::prepare`]) before the program starts, so
    /// that the first cycle does not pay for it while the mutators allocate.
    #[cfg(feature = "gpu")]
    Gpu(Arc<gpumark::gpu::GpuScan>),
}

impl Backend {
    /// The backend as the collector takes it.
    pub fn scan(&self) -> Arc<dyn ScanBackend> {
        match self {
            Backend::Cpu => Arc::new(CpuScan),
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => g.clone(),
        }
    }

    /// Creates what the backend needs for `heap` before any cycle runs.
    #[cfg_attr(not(feature = "gpu"), allow(unused_variables))]
    fn prepare(&self, heap: &Arc<gpumark::heap::Heap>) -> Result<(), BoxError> {
        match self {
            Backend::Cpu => Ok(()),
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => Ok(g.prepare(heap)?),
        }
    }

    /// What a GPU backend did, for the report; `None` on the CPU.
    pub fn report(&self) -> Option<String> {
        match self {
            Backend::Cpu => None,
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => {
                let s = g.stats();
                Some(format!(
                    "gpu: {:.1}% of the heap scan work on the GPU ({} B gpu, {} B cpu), \
                     {} batches, {} hand-offs to the CPU, upload {:.1} ms, setup {:.1} ms, \
                     gpu {:.1} ms, sync {:.1} ms{}",
                    100.0 * s.gpu_scan_fraction(),
                    s.gpu_scan_work,
                    s.cpu_scan_work,
                    s.batches,
                    s.handoffs_to_cpu,
                    s.upload_s * 1e3,
                    s.setup_s * 1e3,
                    s.gpu_s * 1e3,
                    s.sync_s * 1e3,
                    s.device_lost
                        .map(|e| format!(", DEVICE LOST: {e}"))
                        .unwrap_or_default()
                ))
            }
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scan().name())
    }
}

/// Which of the benchmark's lines a check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// The stretch tree, depth `max_depth + 1`.
    Stretch,
    /// `iterations` short-lived trees.
    Trees {
        /// Trees built and checked at this depth.
        iterations: u64,
    },
    /// The long-lived tree, depth `max_depth`.
    LongLived,
}

/// One of the benchmark's check lines: what was counted and what the tree
/// shape says it must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckLine {
    /// Which line.
    pub kind: CheckKind,
    /// Depth of the tree(s).
    pub depth: u32,
    /// Nodes counted by the walks.
    pub check: u64,
    /// `trees × (2^(depth+1) - 1)`.
    pub expected: u64,
}

impl CheckLine {
    /// True if the walk counted what the shape says.
    pub fn ok(&self) -> bool {
        self.check == self.expected
    }
}

impl fmt::Display for CheckLine {
    /// The benchmark's own output format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CheckKind::Stretch => write!(
                f,
                "stretch tree of depth {}\t check: {}",
                self.depth, self.check
            ),
            CheckKind::Trees { iterations } => write!(
                f,
                "{}\t trees of depth {}\t check: {}",
                iterations, self.depth, self.check
            ),
            CheckKind::LongLived => write!(
                f,
                "long lived tree of depth {}\t check: {}",
                self.depth, self.check
            ),
        }?;
        if !self.ok() {
            write!(f, "\t MISMATCH: expected {}", self.expected)?;
        }
        Ok(())
    }
}

/// What a run did: its check lines, the collector's cycles and the arena.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Depth of the long-lived tree.
    pub max_depth: u32,
    /// Mutator threads.
    pub mutators: usize,
    /// The scan backend's name.
    pub backend: String,
    /// GOGC the collector ran with.
    pub gc_percent: i32,
    /// GOMAXPROCS the collector ran with.
    pub procs: usize,
    /// The benchmark's lines, in its order.
    pub lines: Vec<CheckLine>,
    /// Wall time from the stretch tree to the last check.
    pub elapsed: Duration,
    /// Every finished cycle.
    pub stats: Vec<CycleStats>,
    /// Allocations that found the arena full and ran a full cycle before
    /// trying again (see [`FORCED_CYCLES_PER_ALLOC`]).
    pub forced_cycles: u64,
    /// Nodes the program allocated in all.
    pub allocated_nodes: u64,
    /// The largest number of nodes the program holds at once.
    pub peak_live_nodes: u64,
    /// Objects the arena can hold.
    pub arena_capacity: u32,
    /// Object indices the arena has handed out (live, free or unswept).
    pub arena_used: u32,
    /// Objects allocated at the end (live, or dead and not yet swept).
    pub arena_allocated: u64,
    /// The heap's sweep counters at the end, since it was created.
    pub sweep: SweepCounts,
}

impl Summary {
    /// True if every check line counted what the shapes say.
    pub fn checks_ok(&self) -> bool {
        self.lines.iter().all(CheckLine::ok)
    }

    /// Cycles whose reachability check failed (`--verify`).
    pub fn verify_failures(&self) -> Vec<u64> {
        self.stats
            .iter()
            .filter(|s| s.verified == Some(false))
            .map(|s| s.cycle)
            .collect()
    }

    /// Objects freed by sweeps, summed over the cycles' statistics.
    pub fn swept_objects(&self) -> u64 {
        self.stats.iter().map(|s| s.swept_objects).sum()
    }

    /// Allocations that reused a freed object, summed over the cycles'
    /// statistics.
    pub fn reused_objects(&self) -> u64 {
        self.stats.iter().map(|s| s.reused_objects).sum()
    }

    /// The gctrace-style summary of the run's cycles and arena.
    pub fn gc_report(&self) -> String {
        const MB: f64 = (1 << 20) as f64;
        let s = &self.stats;
        let mut ratios: Vec<f64> = s.iter().map(CycleStats::goal_ratio).collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
        let max = ratios.last().copied().unwrap_or(0.0);
        let gc_cpu_s: f64 = s.iter().map(|c| c.assist_s + c.background_s).sum();
        let wall_cpu_s = self.elapsed.as_secs_f64() * self.procs as f64;
        let mean_util = if s.is_empty() {
            0.0
        } else {
            s.iter().map(|c| c.utilization).sum::<f64>() / s.len() as f64
        };
        let mark_s: f64 = s.iter().map(|c| c.mark_s).sum();
        let assists: u64 = s.iter().map(|c| c.assists).sum();
        let parked: u64 = s.iter().map(|c| c.assists_parked).sum();
        let park_max = s.iter().map(|c| c.park_max_s).fold(0.0, f64::max);
        let restarts: u64 = s.iter().map(|c| c.termination_restarts).sum();
        let swept_bytes: u64 = s.iter().map(|c| c.swept_bytes).sum();
        let verified = s.iter().filter(|c| c.verified == Some(true)).count();
        let peak_arena = s.iter().map(|c| c.arena_objects).max().unwrap_or(0);
        let cap = f64::from(self.arena_capacity.max(1));
        let mut out = format!(
            "gc: {} cycles in {:.3} s ({:.3} s marking), GOGC={}, GOMAXPROCS={}, backend {}{}\n",
            s.len(),
            self.elapsed.as_secs_f64(),
            mark_s,
            self.gc_percent,
            self.procs,
            self.backend,
            if verified > 0 {
                format!(", {verified} cycles verified")
            } else {
                String::new()
            }
        );
        out += &format!("gc: heap peak/goal: median {median:.3}, max {max:.3}\n");
        out += &format!(
            "gc: utilisation: {:.1}% of the run's CPU (assist+background over wall x GOMAXPROCS), \
             {:.1}% mean over cycles while marking\n",
            100.0 * gc_cpu_s / wall_cpu_s.max(f64::MIN_POSITIVE),
            100.0 * mean_util
        );
        out += &format!(
            "gc: assists: {assists} ({parked} parked, longest park {:.0} us), \
             {restarts} termination restarts\n",
            park_max * 1e6
        );
        out += &format!(
            "gc: full arena: {} allocations found it full and forced a cycle before retrying\n",
            self.forced_cycles
        );
        out += &format!(
            "gc: swept {} objects ({:.2} MB), reused {} (per-cycle sums); \
             heap totals: {} freed, {} reused\n",
            self.swept_objects(),
            swept_bytes as f64 / MB,
            self.reused_objects(),
            self.sweep.freed_objects,
            self.sweep.reused_objects
        );
        out += &format!(
            "gc: arena: {} of {} objects handed out ({:.1}%; peak at a cycle end {:.1}%), \
             {} allocated now; {:.1}x the peak live set of {} nodes; \
             {} nodes allocated in all ({:.1}x the arena)",
            self.arena_used,
            self.arena_capacity,
            100.0 * f64::from(self.arena_used) / cap,
            100.0 * peak_arena as f64 / cap,
            self.arena_allocated,
            cap / self.peak_live_nodes.max(1) as f64,
            self.peak_live_nodes,
            self.allocated_nodes,
            self.allocated_nodes as f64 / cap
        );
        out
    }
}

/// Nodes of a complete tree of depth `depth`.
pub fn tree_nodes(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

/// Short-lived trees built at `depth`.
pub fn iterations(max_depth: u32, depth: u32) -> u64 {
    1 << (max_depth - depth + MIN_DEPTH)
}

/// The depths of short-lived trees: 4, 6, ..., `max_depth`.
pub fn depths(max_depth: u32) -> impl Iterator<Item = u32> {
    (MIN_DEPTH..=max_depth).step_by(2)
}

/// The most nodes held at once: the stretch tree alone, or the long-lived
/// tree plus one short-lived tree of `max_depth` per mutator.
pub fn peak_live_nodes(max_depth: u32, mutators: usize) -> u64 {
    tree_nodes(max_depth + 1).max((mutators as u64 + 1) * tree_nodes(max_depth))
}

/// GOGC when the environment sets none: 100, which makes the heap goal
/// about twice the live set, unless Go's heap minimum (`4 MiB × GOGC/100`,
/// the smallest goal a cycle aims for, which amortises cycles over tiny
/// heaps in a growable heap) is more than that; then the GOGC whose minimum
/// is twice the peak live set (at least 1).
pub fn auto_gc_percent(max_depth: u32, mutators: usize) -> i32 {
    let twice_live = 2 * peak_live_nodes(max_depth, mutators) * u64::from(NODE_BYTES);
    if twice_live >= DEFAULT_HEAP_MINIMUM {
        100
    } else {
        (100 * twice_live / DEFAULT_HEAP_MINIMUM).max(1) as i32
    }
}

/// The heap goal the pacer aims for with `gc_percent` when the peak live
/// set is marked, in bytes: the GOGC goal, at least the heap minimum (the
/// stacks, a few hundred bytes, are left out). GOGC=off counts as 100.
pub fn heap_goal_bytes(max_depth: u32, mutators: usize, gc_percent: i32) -> u64 {
    let gc = if gc_percent < 0 {
        100
    } else {
        gc_percent as u64
    };
    let live = peak_live_nodes(max_depth, mutators) * u64::from(NODE_BYTES);
    (live + live * gc / 100).max(DEFAULT_HEAP_MINIMUM * gc / 100)
}

/// The arena's capacity in objects, in whole spans: [`HEAP_FACTOR`] times
/// the peak live set, or twice what the pacer may let the heap reach if that
/// is more, plus what the mutators hold outside the pacer's view.
///
/// The pacer's absolute floors matter for small trees: a cycle's goal is at
/// least [`MIN_RUNWAY`] (64 KiB) past the point it triggered, so the heap may
/// reach `goal + MIN_RUNWAY`. Each mutator (the main one included) also
/// holds up to [`ALLOC_FLUSH_BYTES`] of allocation not yet reported to the
/// pacer, and a partly used span in its cache.
pub fn arena_objects(max_depth: u32, mutators: usize, gc_percent: i32) -> u64 {
    let node = u64::from(NODE_BYTES);
    let live = peak_live_nodes(max_depth, mutators);
    let reach = heap_goal_bytes(max_depth, mutators, gc_percent) + MIN_RUNWAY;
    let per_mutator = ALLOC_FLUSH_BYTES as u64 / node + u64::from(SPAN_OBJECTS);
    let n =
        (HEAP_FACTOR * live).max(2 * reach.div_ceil(node)) + (mutators as u64 + 1) * per_mutator;
    n.div_ceil(u64::from(SPAN_OBJECTS)) * u64::from(SPAN_OBJECTS)
}

/// Runs the benchmark and returns what it checked and what the collector
/// did. Errors are the collector's (a full arena, a freed object reached)
/// and nil references where a node must be: the walks stop at the first.
pub fn run(opts: &Options) -> Result<Summary, BoxError> {
    let max_depth = opts.max_depth;
    if !(MIN_DEPTH + 2..=MAX_DEPTH).contains(&max_depth) {
        return Err(format!(
            "max depth {max_depth} is out of range {}..={MAX_DEPTH}",
            MIN_DEPTH + 2
        )
        .into());
    }
    if opts.mutators == 0 {
        return Err("at least one mutator is needed".into());
    }
    let gc_percent = opts
        .gc_percent
        .unwrap_or_else(|| auto_gc_percent(max_depth, opts.mutators));
    let capacity = arena_objects(max_depth, opts.mutators, gc_percent);
    let max_objects = u32::try_from(capacity)
        .ok()
        .filter(|&n| n <= u32::MAX / NODE_SLOTS)
        .ok_or_else(|| format!("an arena of {capacity} objects does not fit 32-bit indices"))?;
    let heap = Arc::new(gpumark::heap::Heap::new(HeapConfig {
        max_objects,
        max_slots: max_objects * NODE_SLOTS,
        globals: 0,
    }));
    opts.backend.prepare(&heap)?;
    let collector = Collector::new(
        heap,
        CollectorConfig {
            pacer: PacerConfig {
                gc_percent,
                ..opts.pacer
            },
            backend: opts.backend.scan(),
            verify: opts.verify,
            ..CollectorConfig::default()
        },
    )?;

    let forced = AtomicU64::new(0);
    let measured = benchmark(&collector, opts, &forced).map_err(|e| {
        let stats = collector.stats();
        let last = stats.last().map_or("none".to_string(), ToString::to_string);
        format!(
            "{e}\n(after {} cycles, {} of them forced by a full arena, {} of {max_objects} \
             objects handed out; last cycle: {last})",
            stats.len(),
            forced.load(Relaxed),
            collector.heap().len()
        )
    })?;

    let view = collector.heap();
    let arena_used = view.len();
    let arena_allocated = (0..arena_used)
        .filter(|&i| view.is_allocated(ObjRef(i)))
        .count() as u64;
    Ok(Summary {
        max_depth,
        mutators: opts.mutators,
        backend: opts.backend.scan().name().to_string(),
        gc_percent,
        procs: collector.pacer().gomaxprocs(),
        lines: measured.lines,
        elapsed: measured.elapsed,
        stats: collector.stats(),
        forced_cycles: forced.load(Relaxed),
        allocated_nodes: measured.allocated,
        peak_live_nodes: peak_live_nodes(max_depth, opts.mutators),
        arena_capacity: max_objects,
        arena_used,
        arena_allocated,
        sweep: view.sweep_counts(),
    })
}

/// What [`benchmark`] measured.
struct Measured {
    lines: Vec<CheckLine>,
    allocated: u64,
    elapsed: Duration,
}

/// The benchmark itself, on `collector`; `forced` counts the allocations
/// that found the arena full.
fn benchmark(
    collector: &Collector,
    opts: &Options,
    forced: &AtomicU64,
) -> Result<Measured, BoxError> {
    let max_depth = opts.max_depth;
    let t = Instant::now();
    let mut lines = Vec::new();
    let mut allocated = 0;
    let main = Thread {
        m: collector.mutator(),
        collector,
        forced,
    };

    // The stretch tree: built, checked, dropped.
    let depth = max_depth + 1;
    main.m.push_root(None);
    build_tree(&main, 0, depth)?;
    let check = item_check(&main.m, 0)?;
    main.m.pop_root();
    allocated += tree_nodes(depth);
    lines.push(CheckLine {
        kind: CheckKind::Stretch,
        depth,
        check,
        expected: tree_nodes(depth),
    });

    // The long-lived tree, in main's root 0 until the end.
    main.m.push_root(None);
    let long_lived = build_tree(&main, 0, max_depth)?;
    let generation = main.m.generation(long_lived)?;
    allocated += tree_nodes(max_depth);

    // The short-lived trees, shared out between the mutators.
    let per_thread: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..opts.mutators)
            .map(|id| {
                let t = Thread {
                    m: collector.mutator(),
                    collector,
                    forced,
                };
                let n = opts.mutators;
                s.spawn(move || short_lived(&t, id, n, max_depth))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Result<_, BoxError>>()
    })?;
    for (k, depth) in depths(max_depth).enumerate() {
        let iterations = iterations(max_depth, depth);
        allocated += iterations * tree_nodes(depth);
        lines.push(CheckLine {
            kind: CheckKind::Trees { iterations },
            depth,
            check: per_thread.iter().map(|c| c[k]).sum(),
            expected: iterations * tree_nodes(depth),
        });
    }

    // The long-lived tree, checked: still the same object, and whole.
    let root = node(&main.m, 0)?;
    if root != long_lived || main.m.generation(root)? != generation {
        return Err(format!(
            "the long-lived tree's root changed under the program: {long_lived:?} \
             generation {generation} became {root:?} generation {}",
            main.m.generation(root)?
        )
        .into());
    }
    let check = item_check(&main.m, 0)?;
    lines.push(CheckLine {
        kind: CheckKind::LongLived,
        depth: max_depth,
        check,
        expected: tree_nodes(max_depth),
    });
    Ok(Measured {
        lines,
        allocated,
        elapsed: t.elapsed(),
    })
}

/// A mutator thread of the program: its [`Mutator`], and the collector to
/// ask for a cycle when the arena is full.
struct Thread<'a> {
    m: Mutator,
    collector: &'a Collector,
    /// Allocations that found the arena full, shared by every thread.
    forced: &'a AtomicU64,
}

impl Thread<'_> {
    /// Allocates through `alloc` (a node into a root or a slot). When the
    /// arena is full, runs a full cycle and tries again, up to
    /// [`FORCED_CYCLES_PER_ALLOC`] times: what a runtime on a fixed arena
    /// does before reporting that it is out of memory (Go grows its heap
    /// instead). A failed allocation leaves no trace, so it can simply be
    /// repeated; the cycle frees what the pacer's goal had not yet let
    /// the collector free, and the retry reuses it.
    fn alloc(
        &self,
        alloc: impl Fn(&Mutator) -> Result<ObjRef, CollectorError>,
    ) -> Result<ObjRef, BoxError> {
        let mut forced = 0;
        loop {
            match alloc(&self.m) {
                Err(CollectorError::Heap(HeapError::HeapFull { .. }))
                    if forced < FORCED_CYCLES_PER_ALLOC =>
                {
                    forced += 1;
                    self.forced.fetch_add(1, Relaxed);
                    self.collector.gc();
                }
                r => return Ok(r?),
            }
        }
    }
}

/// One mutator's share of the short-lived trees: for each depth, the
/// iterations `id`, `id + n`, ...; returns the node counts per depth.
fn short_lived(t: &Thread<'_>, id: usize, n: usize, max_depth: u32) -> Result<Vec<u64>, BoxError> {
    // Root 0 holds the tree being built and checked.
    t.m.push_root(None);
    let mut checks = Vec::new();
    for depth in depths(max_depth) {
        let total = iterations(max_depth, depth);
        let mine = (total + (n - 1 - id) as u64) / n as u64;
        let mut check = 0;
        for _ in 0..mine {
            build_tree(t, 0, depth)?;
            check += item_check(&t.m, 0)?;
            // Drop the tree: from here on it is garbage for the next sweep.
            t.m.set_root(0, None)?;
        }
        checks.push(check);
    }
    t.m.pop_root();
    Ok(checks)
}

/// The node in stack root `at`; a nil there is a bug of the program.
fn node(m: &Mutator, at: usize) -> Result<ObjRef, BoxError> {
    m.root(at)?
        .ok_or_else(|| format!("stack root {at} is nil where a node must be").into())
}

/// Builds a complete tree of `depth` into stack root `at` (the top of the
/// stack) and returns its root node, a register that root `at` keeps alive.
fn build_tree(t: &Thread<'_>, at: usize, depth: u32) -> Result<ObjRef, BoxError> {
    let root = t.alloc(|m| m.alloc_root(at, NODE_BYTES, NODE_SLOTS))?;
    fill(t, at, root, depth)?;
    Ok(root)
}

/// Gives `node`, held in stack root `at` (the top of the stack), two
/// complete subtrees of `depth - 1`, top-down: each child is allocated
/// straight into its slot and then put in the next frame slot while its own
/// children are built.
fn fill(t: &Thread<'_>, at: usize, node: ObjRef, depth: u32) -> Result<(), BoxError> {
    if depth == 0 {
        return Ok(());
    }
    // `node` is a register: valid because root `at` holds the same
    // reference throughout (only this thread writes this stack).
    t.m.push_root(None);
    for slot in [LEFT, RIGHT] {
        let child = t.alloc(|m| m.alloc_into(node, slot, NODE_BYTES, NODE_SLOTS))?;
        // Between the two operations `child` is reachable from `node`.
        t.m.set_root(at + 1, Some(child))?;
        fill(t, at + 1, child, depth - 1)?;
    }
    t.m.pop_root();
    Ok(())
}

/// The benchmark's check: the number of nodes of the tree in stack root
/// `at` (the top of the stack), each child read into the next frame slot.
fn item_check(m: &Mutator, at: usize) -> Result<u64, BoxError> {
    let node = node(m, at)?;
    walk(m, at, node)
}

fn walk(m: &Mutator, at: usize, node: ObjRef) -> Result<u64, BoxError> {
    m.push_root(None);
    let mut count = 1;
    for slot in [LEFT, RIGHT] {
        // `node` stays valid: root `at` holds it.
        if let Some(child) = m.load_root(node, slot, at + 1)? {
            count += walk(m, at + 1, child)?;
        }
    }
    m.pop_root();
    Ok(count)
}

/// The command line: `[max_depth] [mutators] [--gpu] [--offload=auto|always]
/// [--verify] [--gctrace]`.
struct Args {
    max_depth: u32,
    mutators: usize,
    gpu: bool,
    offload_always: bool,
    verify: bool,
    gctrace: bool,
}

const USAGE: &str = "usage: binary_trees [max_depth (10)] [mutators (2)] [--gpu] \
                     [--offload=auto|always] [--verify] [--gctrace]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        max_depth: DEFAULT_DEPTH,
        mutators: DEFAULT_MUTATORS,
        gpu: false,
        offload_always: false,
        verify: false,
        gctrace: false,
    };
    let mut positional = 0;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--gpu" => a.gpu = true,
            "--offload=auto" => a.offload_always = false,
            "--offload=always" => a.offload_always = true,
            "--verify" => a.verify = true,
            "--gctrace" => a.gctrace = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ if !arg.starts_with('-') && positional == 0 => {
                a.max_depth = arg.parse().map_err(|e| format!("max_depth {arg:?}: {e}"))?;
                positional += 1;
            }
            _ if !arg.starts_with('-') && positional == 1 => {
                a.mutators = arg.parse().map_err(|e| format!("mutators {arg:?}: {e}"))?;
                positional += 1;
            }
            _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// GOMAXPROCS from the environment, as Go reads it; the CPU count otherwise.
fn gomaxprocs() -> usize {
    std::env::var("GOMAXPROCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| PacerConfig::default().gomaxprocs)
}

/// The GPU backend, or the CPU (after saying why) when there is none.
#[cfg(feature = "gpu")]
fn open_gpu(always: bool) -> Backend {
    use gpumark::gpu::{GpuScan, GpuScanOptions, OffloadPolicy};
    let opts = GpuScanOptions {
        policy: if always {
            OffloadPolicy::Always
        } else {
            OffloadPolicy::Auto
        },
        ..GpuScanOptions::default()
    };
    match GpuScan::new(&opts) {
        Ok(g) => {
            println!("gpu: {} (offload {})", g.adapter(), g.policy());
            Backend::Gpu(Arc::new(g))
        }
        Err(e) => {
            eprintln!("binary_trees: no GPU ({e}): running on the CPU");
            Backend::Cpu
        }
    }
}

#[cfg(not(feature = "gpu"))]
fn open_gpu(_always: bool) -> Backend {
    eprintln!("binary_trees: built without `--features gpu`: running on the CPU");
    Backend::Cpu
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut pacer = match PacerConfig::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("binary_trees: {e}");
            return ExitCode::from(2);
        }
    };
    pacer.gomaxprocs = gomaxprocs();
    let mut opts = Options::new(args.max_depth, args.mutators);
    if args.gpu {
        opts.backend = open_gpu(args.offload_always);
    }
    opts.gc_percent = std::env::var("GOGC")
        .ok()
        .map(|v| gpumark::pacer::parse_gogc(&v));
    opts.pacer = pacer;
    opts.verify = args.verify;

    let summary = match run(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("binary_trees: {e}");
            return ExitCode::FAILURE;
        }
    };
    for line in &summary.lines {
        println!("{line}");
    }
    println!(
        "binary-trees: depth {}, {} mutators, {:.3} s",
        summary.max_depth,
        summary.mutators,
        summary.elapsed.as_secs_f64()
    );
    if args.gctrace {
        for c in &summary.stats {
            println!("{c}");
        }
    }
    println!("{}", summary.gc_report());
    if let Some(report) = opts.backend.report() {
        println!("{report}");
    }
    let mut ok = true;
    if !summary.checks_ok() {
        eprintln!("binary_trees: check mismatch (see the lines above)");
        ok = false;
    }
    let failed = summary.verify_failures();
    if !failed.is_empty() {
        eprintln!("binary_trees: cycles {failed:?} left a reachable object white");
        ok = false;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
