//! The report's records: data only, shared by the modules that produce them
//! ([`crate::runs`], [`crate::concurrent`], [`crate::import`],
//! [`crate::backend`], [`crate::machine`]) and those that print them
//! ([`crate::report`], [`crate::plots`], [`compare`](mod@crate::compare)).
//!
//! This module imports no other module of host-bench, so every module can
//! use it without an import cycle. Methods that compute a record from a
//! run's inputs live with the code that has those inputs, as inherent
//! `impl` blocks there: `Machine::detect` in [`crate::machine`],
//! `ImportRecord::new` in [`crate::import`], `GpuFigures::of` in
//! [`crate::backend`], `CycleSummary::of` in [`crate::concurrent`],
//! `ConcurrentRun::describe` in [`crate::report`].
//!
//! The structs serialise field for field as the report format documented in
//! schema.txt (the text `host-bench --help` ends with); the fields every
//! record begins with are one [`RecordHeader`], flattened into both kinds of
//! record.

use gpumark::collector::CycleStats;
use gpumark::heap::HeapConfig;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;

/// The version written in every record's `schema` field. Version 3 added
/// the concurrent records; version 4 the `import` object of both kinds of
/// record (and format names in `shape` for `--heap` files); version 6 the
/// cycles' sweep fields and `heap_full`; version 7 `gpu.prepare_s` and
/// `gpu.upload_bytes`, with a GPU mark's preparation no longer in its mark
/// time, and `gpu.ops` and `gpu.ops_per_1024_edges` (`--count-ops`).
pub const SCHEMA_VERSION: u32 = 8;

/// `tool` of every record.
pub const TOOL: &str = concat!("host-bench ", env!("CARGO_PKG_VERSION"));

/// Everything one invocation ran: stop-the-world runs, then concurrent runs
/// (the order of the JSON Lines).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Stop-the-world runs.
    pub stw: Vec<Run>,
    /// Concurrent runs.
    pub concurrent: Vec<ConcurrentRun>,
}

/// The fields every record begins with, in this order: what produced it,
/// which backend ran, and the heap it ran on (for a concurrent run, the
/// starting heap).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordHeader {
    /// Report format version ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// `"host-bench <version>"` ([`TOOL`]).
    pub tool: String,
    /// When the invocation started, seconds since 1970.
    pub unix_time: u64,
    /// "stw" or "concurrent".
    pub mode: &'static str,
    /// Backend name (for a concurrent run, the collector's scan backend).
    pub backend: &'static str,
    /// The GPU adapter; `None` for CPU backends.
    pub adapter: Option<Adapter>,
    /// Shape name, or the `--heap` file's format ("image", "hprof", "edges").
    pub shape: String,
    /// The `--heap` file.
    pub heap: Option<String>,
    /// Objects in the heap.
    pub objects: u64,
    /// `--ptrs` of a built heap.
    pub ptrs: Option<u32>,
    /// `--roots` of a built heap.
    pub roots: Option<u32>,
    /// `--seed` of a built heap, or of an edge list's random roots.
    pub seed: Option<u64>,
    /// Non-nil pointer slots.
    pub edges: u64,
}

/// One stop-the-world run's record (`mode: "stw"`): one backend marking one
/// heap at one thread count.
///
/// Serialised field for field as the report format below, which is also the
/// text `host-bench --help` ends with:
///
/// ```text
#[doc = include_str!("schema.txt")]
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The fields every record begins with.
    #[serde(flatten)]
    pub header: RecordHeader,
    /// Objects marked.
    pub marked: u64,
    /// Bytes of marked objects.
    pub bytes_marked: u64,
    /// Worker threads used.
    pub threads: usize,
    /// Untimed warm-up marks.
    pub warmup: usize,
    /// Timed marks.
    pub reps: usize,
    /// Every timed mark, seconds.
    pub mark_times_s: Vec<f64>,
    /// Fastest timed mark.
    pub mark_s: f64,
    /// Median timed mark.
    pub mark_median_s: f64,
    /// Slowest timed mark.
    pub mark_max_s: f64,
    /// Median absolute deviation of the timed marks.
    pub mark_mad_s: f64,
    /// `edges / mark_s`.
    pub edges_per_s: f64,
    /// `edges / mark_median_s`.
    pub edges_per_s_median: f64,
    /// Median throughput over bfs's on the same heap and thread count.
    pub ratio_to_bfs: Option<f64>,
    /// Time to build or load the heap.
    pub build_s: f64,
    /// First upload to the GPU.
    pub upload_s: Option<f64>,
    /// GPU dispatch batches per mark.
    pub batches: Option<u64>,
    /// What the GPU did in the last timed mark; `None` for CPU backends.
    pub gpu: Option<GpuFigures>,
    /// Whether every mark equalled the reachable set; `None` if unchecked.
    pub verified: Option<bool>,
    /// What the import of a `--heap` file found; `None` for a built heap.
    pub import: Option<ImportRecord>,
    /// Where it ran.
    pub machine: Machine,
}

/// One concurrent run's record (`mode: "concurrent"`): the run's settings,
/// its summary, and every cycle's [`CycleStats`] in `cycles`.
#[derive(Clone, Debug, Serialize)]
pub struct ConcurrentRun {
    /// The fields every record begins with (`objects` and `edges`: of the
    /// starting heap).
    #[serde(flatten)]
    pub header: RecordHeader,
    /// Bytes of the starting heap.
    pub heap_bytes: u64,
    /// Mutator threads.
    pub mutators: usize,
    /// Seed of mutator 0's program (mutator i uses this + i).
    pub mutator_seed: u64,
    /// GOMAXPROCS.
    pub gomaxprocs: usize,
    /// GOGC; `None` for off.
    pub gogc: Option<i32>,
    /// Memory limit, bytes; `None` for none.
    pub memory_limit: Option<i64>,
    /// `--cycles`.
    pub cycles_requested: u64,
    /// "cycles" or "heap-full".
    pub stop_reason: &'static str,
    /// With "heap-full", the allocation that failed, in words.
    pub heap_full: Option<String>,
    /// Object capacity of the arena (independent of the cycles).
    pub arena_objects: u64,
    /// Slot capacity of the arena.
    pub arena_slots: u64,
    /// The arena's occupancy when the mutators stopped: object indices it
    /// had handed out (live, freed and not yet reused, starting heap).
    pub allocated_objects: u64,
    /// Pointer slots the arena had handed out when the mutators stopped.
    pub allocated_slots: u64,
    /// Bytes allocated and not freed when the mutators stopped (live and
    /// not yet swept).
    pub allocated_bytes: u64,
    /// Building the starting heap and copying it into the arena, seconds.
    pub build_s: f64,
    /// The mutators' run time, seconds.
    pub duration_s: f64,
    /// Mutator operations (calls on the mutator API) over all mutators.
    pub mutator_ops: u64,
    /// `mutator_ops / duration_s`.
    pub mutator_ops_per_s: f64,
    /// The summary of the cycles (its fields appear at the record's top
    /// level: goal_ratio_median, goal_ratio_max, utilization_median, assists,
    /// assists_parked, park_p50_s, park_p99_s, park_max_s, scan_work_median,
    /// verified).
    #[serde(flatten)]
    pub summary: CycleSummary,
    /// What the GPU did over the run (every cycle); `None` for `cpu`.
    pub gpu: Option<GpuFigures>,
    /// Every cycle's statistics.
    #[serde(serialize_with = "serialize_cycles")]
    pub cycles: Vec<CycleStats>,
    /// What the import of a `--heap` file found (`reached`: in the starting
    /// heap); `None` for a built heap.
    pub import: Option<ImportRecord>,
    /// Where it ran.
    pub machine: Machine,
}

/// The machine a run was measured on (the JSON `machine` object).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// "model name" from /proc/cpuinfo.
    pub cpu_model: Option<String>,
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// Operating system: PRETTY_NAME from /etc/os-release, else the OS family.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Kernel release (/proc/sys/kernel/osrelease).
    pub kernel: Option<String>,
    /// MemTotal from /proc/meminfo, in bytes.
    pub mem_bytes: Option<u64>,
}

/// A GPU adapter as reported in the JSON `adapter` field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Adapter {
    /// The adapter's name ("llvmpipe (LLVM 15.0.7, 256 bits)").
    pub name: String,
    /// The API it was opened through ("vulkan").
    pub api: String,
    /// Discrete, integrated, virtual, cpu or other.
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
}

/// What the GPU did in one mark, or over a concurrent run (the JSON `gpu`
/// object).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GpuFigures {
    /// The offload policy: "auto" or "always".
    pub offload: &'static str,
    /// Batches (submissions of many levels) this mark ran.
    pub batches: u64,
    /// Queue submissions.
    pub submissions: u64,
    /// Bytes read back from the GPU (counters, bitmaps, hand-offs).
    pub readback_bytes: u64,
    /// Bytes uploaded to the GPU by the mark and its preparation (heap
    /// ranges that changed, mark bits, grey items, hand-offs).
    pub upload_bytes: u64,
    /// Share of heap scan work done on the GPU (roots are host work).
    pub gpu_scan_fraction: f64,
    /// Hand-offs of a narrow frontier to the CPU.
    pub handoffs_to_cpu: u64,
    /// Seconds from batch submission to counter readback, summed: the
    /// device's share of the mark time.
    pub gpu_s: f64,
    /// Seconds the host spent keeping its bitmap and queues in step with the
    /// GPU's (phase reset, pushing greys, bitmap download and merge,
    /// hand-offs): most of the mark time outside `gpu_s`.
    pub sync_s: f64,
    /// Seconds readying the GPU before the mark (stats reset, the heap's
    /// changes uploaded, the device idle), outside the mark time; for a
    /// concurrent run, before the mutators started.
    pub prepare_s: f64,
    /// Levels the last batch ran (the BFS depth it covered).
    pub levels: u32,
    /// The scan kernel: "scan_subgroup" or "scan_workgroup".
    pub kernel: &'static str,
    /// With `--trace-levels`: the GPU time of this mark's levels, grouped
    /// by width; `None` without it or where the adapter cannot trace.
    pub level_profile: Option<Vec<LevelBucket>>,
    /// With `--count-ops`: the counting kernels' operations by category
    /// (this mark's, or summed over a concurrent run); `None` without it.
    pub ops: Option<OpTotals>,
    /// With `--count-ops`: the same categories per 1024 edges followed;
    /// `None` without it or when the GPU followed no edge.
    pub ops_per_1024_edges: Option<OpsPer1024Edges>,
}

/// The counting kernels' operations by category (the JSON `gpu.ops`
/// object; gpumark's `OpCounts`, field for field). Schema.txt says what
/// each category counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpTotals {
    /// Atomics and atomic loads on the control block.
    pub ctl_atomics: u64,
    /// Atomics on the counter stripes (workgroup totals, off the control
    /// block's line).
    pub stripe_atomics: u64,
    /// Read-modify-writes of the mark bitmap.
    pub mark_atomics: u64,
    /// Loads of the mark bitmap.
    pub mark_loads: u64,
    /// Object-table (descriptor) reads.
    pub descriptor_loads: u64,
    /// Pointer-slot reads.
    pub slot_loads: u64,
    /// Grey items written to the ring.
    pub ring_writes: u64,
    /// Grey items read from the ring.
    pub ring_reads: u64,
    /// Workgroup barriers, once per workgroup that passed one.
    pub workgroup_barriers: u64,
    /// Levels that scanned at least one item.
    pub levels: u64,
    /// Scan dispatches encoded with no item to scan.
    pub empty_levels: u64,
    /// The most slots one workgroup scanned in one dispatch.
    pub max_workgroup_slots: u64,
    /// Non-nil pointer slots read: the edges followed.
    pub edges: u64,
}

/// The per-operation categories of [`OpTotals`], each times 1024 over
/// its `edges` (the JSON `gpu.ops_per_1024_edges` object). Levels, empty
/// levels, the largest workgroup and the edges are no per-edge costs and
/// are left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OpsPer1024Edges {
    /// Control-block atomics per 1024 edges.
    pub ctl_atomics: f64,
    /// Counter-stripe atomics per 1024 edges.
    pub stripe_atomics: f64,
    /// Mark-bitmap read-modify-writes per 1024 edges.
    pub mark_atomics: f64,
    /// Mark-bitmap loads per 1024 edges.
    pub mark_loads: f64,
    /// Descriptor reads per 1024 edges.
    pub descriptor_loads: f64,
    /// Slot reads (nil or not) per 1024 edges.
    pub slot_loads: f64,
    /// Ring writes per 1024 edges.
    pub ring_writes: f64,
    /// Ring reads per 1024 edges.
    pub ring_reads: f64,
    /// Workgroup barriers per 1024 edges.
    pub workgroup_barriers: f64,
}

/// The levels of one mark whose widths (items scanned) lie in
/// `[min_items, max_items]`, a power-of-two range, summed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LevelBucket {
    /// Narrowest width in the bucket's range.
    pub min_items: u64,
    /// Widest width in the bucket's range.
    pub max_items: u64,
    /// Levels in the bucket.
    pub levels: u64,
    /// Items they scanned.
    pub items: u64,
    /// Their scan work (8 bytes per slot, Go's units).
    pub scan_work: u64,
    /// Their GPU time in seconds (timestamps around each level).
    pub gpu_s: f64,
}

/// What an import found: a run's `import` object (see the report format in
/// schema.txt, which documents each field).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportRecord {
    /// "image", "hprof" or "edges".
    pub format: &'static str,
    /// Whether `--format` named the format (false: told by content).
    pub format_forced: bool,
    /// Bytes of the file.
    pub input_bytes: u64,
    /// Seconds to read the file and build its heap.
    pub import_s: f64,
    /// Objects in the heap.
    pub objects: u64,
    /// Non-nil pointer slots.
    pub edges: u64,
    /// Pointer slots, nil or not.
    pub slots: u64,
    /// Root entries (globals and stack entries).
    pub roots: u64,
    /// References (slots and roots) to ids the file does not define, stored
    /// as nil.
    pub missing_refs: u64,
    /// How many of `missing_refs` were roots (dropped).
    pub missing_roots: u64,
    /// Objects reached from the roots.
    pub reached: u64,
    /// `reached / objects`; `None` for a heap without objects.
    pub reached_fraction: Option<f64>,
    /// Sum of object sizes.
    pub heap_bytes: u64,
    /// Objects whose size was raised to hold their slots.
    pub sizes_raised: u64,
    /// Objects whose size was clamped to `u32::MAX`.
    pub sizes_clamped: u64,
    /// HPROF CLASS_DUMP records.
    pub classes: Option<u64>,
    /// HPROF INSTANCE_DUMP records.
    pub instances: Option<u64>,
    /// HPROF OBJ_ARRAY_DUMP records.
    pub object_arrays: Option<u64>,
    /// HPROF PRIM_ARRAY_DUMP records.
    pub primitive_arrays: Option<u64>,
    /// HPROF root records per kind, by HPROF name.
    pub root_kinds: Option<BTreeMap<&'static str, u64>>,
    /// The edge-list root choice, as `--edge-roots` spells it.
    pub edge_roots: Option<String>,
}

impl ImportRecord {
    /// The record with `reached` objects reached.
    pub fn with_reached(&self, reached: u64) -> ImportRecord {
        ImportRecord {
            reached,
            reached_fraction: (self.objects > 0).then(|| reached as f64 / self.objects as f64),
            ..self.clone()
        }
    }
}

/// The summary row of a concurrent run's cycles, flattened into its record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CycleSummary {
    /// Median of the cycles' heap peak over goal.
    pub goal_ratio_median: Option<f64>,
    /// Largest heap peak over goal.
    pub goal_ratio_max: Option<f64>,
    /// Median GC CPU utilisation.
    pub utilization_median: Option<f64>,
    /// Assists over all cycles.
    pub assists: u64,
    /// Assists that parked, over all cycles.
    pub assists_parked: u64,
    /// Median, over the cycles in which an assist parked, of the cycle's
    /// median park time (the library keeps per-cycle percentiles, not the
    /// park times themselves).
    pub park_p50_s: Option<f64>,
    /// Largest per-cycle 99th-percentile park time.
    pub park_p99_s: Option<f64>,
    /// Longest park time of the run.
    pub park_max_s: Option<f64>,
    /// Median scan work (heap + stack + globals) per cycle, bytes.
    pub scan_work_median: Option<f64>,
    /// Every cycle verified (`Some(true)`), some failed (`Some(false)`), or
    /// unchecked or no cycle (`None`).
    pub verified: Option<bool>,
    /// The first cycle whose verification failed.
    #[serde(skip)]
    pub first_failed: Option<u64>,
}

/// Why a concurrent run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The cycles asked for completed.
    Cycles,
    /// An allocation failed first: the heap (live objects and those not yet
    /// swept) outgrew the arena.
    HeapFull,
}

impl StopReason {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Cycles => "cycles",
            StopReason::HeapFull => "heap-full",
        }
    }
}

/// What one concurrent run measured, before it becomes a [`ConcurrentRun`].
#[derive(Clone, Debug)]
pub struct Measured {
    /// Objects of the starting heap.
    pub start_objects: u64,
    /// Bytes of the starting heap.
    pub start_bytes: u64,
    /// Non-nil slots of the starting heap.
    pub start_edges: u64,
    /// The arena's capacity.
    pub arena: HeapConfig,
    /// The arena's occupancy when the mutators stopped: object indices it
    /// had handed out (live, freed and waiting for reuse, and the starting
    /// heap), `Heap::len`.
    pub allocated_objects: u64,
    /// Pointer slots the arena had handed out when the mutators stopped
    /// (reserved for those indices), `Heap::slots_len`.
    pub allocated_slots: u64,
    /// Bytes allocated and not freed when the mutators stopped (live objects
    /// and garbage not yet swept), `Heap::allocated_bytes`.
    pub allocated_bytes: u64,
    /// Building the starting heap and copying it into the arena, seconds.
    pub build_s: f64,
    /// From the mutators' start to their stop, seconds.
    pub duration_s: f64,
    /// Mutator operations over all mutators.
    pub mutator_ops: u64,
    /// Why the run ended.
    pub stop: StopReason,
    /// With [`StopReason::HeapFull`], the allocation that failed (gpumark's
    /// `HeapFull` in words: which capacity, how much was in use and asked
    /// for); `None` otherwise.
    pub heap_full: Option<String>,
    /// What the GPU did over the run; `None` for `cpu`.
    pub gpu: Option<GpuFigures>,
    /// The cycles, at most as many as asked for.
    pub cycles: Vec<CycleStats>,
    /// What the import of a `--heap` file found, `reached` counting the
    /// objects reachable in the starting heap; `None` for a built heap.
    pub import: Option<ImportRecord>,
}

/// Total scan work of a cycle, bytes.
pub fn scan_work(s: &CycleStats) -> i64 {
    s.heap_scan_work + s.stack_scan_work + s.globals_scan_work
}

/// A [`CycleStats`] as written in a concurrent record's `cycles` array:
/// every field, plus `goal_ratio` and the total `scan_work`.
#[derive(Serialize)]
struct CycleJson {
    cycle: u64,
    start_s: f64,
    mark_s: f64,
    heap_before: u64,
    heap_peak: u64,
    heap_after: u64,
    heap_goal: u64,
    trigger: u64,
    goal_ratio: f64,
    heap_scan_work: i64,
    stack_scan_work: i64,
    globals_scan_work: i64,
    scan_work: i64,
    assist_s: f64,
    background_s: f64,
    idle_s: f64,
    utilization: f64,
    assists_parked: u64,
    assists: u64,
    park_p50_s: f64,
    park_p99_s: f64,
    park_max_s: f64,
    termination_restarts: u64,
    marked: u64,
    verified: Option<bool>,
    procs: usize,
    dedicated_workers: i64,
    fractional_goal: f64,
    swept_objects: u64,
    swept_bytes: u64,
    reused_objects: u64,
    arena_objects: u64,
}

impl From<&CycleStats> for CycleJson {
    fn from(s: &CycleStats) -> CycleJson {
        // Destructured without `..`: a field added to CycleStats does not
        // compile here until the report carries it.
        let CycleStats {
            cycle,
            start_s,
            mark_s,
            heap_before,
            heap_peak,
            heap_after,
            heap_goal,
            trigger,
            heap_scan_work,
            stack_scan_work,
            globals_scan_work,
            assist_s,
            background_s,
            idle_s,
            utilization,
            assists_parked,
            assists,
            park_p50_s,
            park_p99_s,
            park_max_s,
            termination_restarts,
            marked,
            verified,
            procs,
            dedicated_workers,
            fractional_goal,
            swept_objects,
            swept_bytes,
            reused_objects,
            arena_objects,
        } = *s;
        CycleJson {
            cycle,
            start_s,
            mark_s,
            heap_before,
            heap_peak,
            heap_after,
            heap_goal,
            trigger,
            goal_ratio: s.goal_ratio(),
            heap_scan_work,
            stack_scan_work,
            globals_scan_work,
            scan_work: scan_work(s),
            assist_s,
            background_s,
            idle_s,
            utilization,
            assists_parked,
            assists,
            park_p50_s,
            park_p99_s,
            park_max_s,
            termination_restarts,
            marked,
            verified,
            procs,
            dedicated_workers,
            fractional_goal,
            swept_objects,
            swept_bytes,
            reused_objects,
            arena_objects,
        }
    }
}

fn serialize_cycles<S: Serializer>(cycles: &[CycleStats], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(cycles.iter().map(CycleJson::from))
}
