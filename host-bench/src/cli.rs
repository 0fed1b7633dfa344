//! Command-line arguments.
//!
//! Every list flag takes comma-separated values (`--objects 65536,262144`);
//! the runs are the cross product of heaps (sizes × seeds × shapes), thread
//! counts and backends. With no arguments at all host-bench runs the default
//! suite: every backend this build has, every shape, three sizes, then one
//! short concurrent run with mutators.
//!
//! `--mutators` or `--cycles` selects the concurrent mode instead: mutator
//! threads allocate and rewrite pointers while the collector runs paced
//! cycles (see [`crate::concurrent`]). `--shape` and `--objects` then describe
//! the starting live heap and default to one heap ([`CONCURRENT_SHAPE`],
//! [`CONCURRENT_OBJECTS`]) rather than the suite's fifteen.

use crate::backend::{parse_backend, BackendArg, GpuSettings, Offload, ScanKernel};
use clap::{ArgGroup, Parser, ValueEnum};
use gpumark::heap::Shape;
use gpumark::import::{Format, RootChoice};
use gpumark::pacer::{parse_memory_limit, GC_PERCENT_OFF, NO_MEMORY_LIMIT};
use std::path::PathBuf;

/// The sizes the default suite marks: small enough that the whole suite runs
/// in about a minute on a 2-core machine, large enough (the biggest) that the
/// heap is far out of cache, and three of them so a scaling plot is drawn.
pub const DEFAULT_OBJECTS: [u32; 3] = [262144, 1048576, 4194304];

/// The shapes the default suite marks: every one.
pub const DEFAULT_SHAPES: [ShapeArg; 5] = [
    ShapeArg::Random,
    ShapeArg::List,
    ShapeArg::Tree,
    ShapeArg::Wide,
    ShapeArg::Powerlaw,
];

/// The starting live heap of a concurrent run unless `--shape` says otherwise.
pub const CONCURRENT_SHAPE: ShapeArg = ShapeArg::Random;

/// Objects in the starting live heap of a concurrent run unless `--objects`
/// says otherwise: 262144 objects of 48 bytes are 12 MiB live, so a mark
/// takes milliseconds (long enough for mutators to run, allocate and assist
/// during it), and the arena (4 times the live heap plus its runway, whatever
/// the cycles) takes about 110 MB.
pub const CONCURRENT_OBJECTS: u32 = 262144;

/// Mutator threads of a concurrent run given only `--cycles`, and of the
/// default suite's concurrent run.
pub const DEFAULT_MUTATORS: usize = 2;

/// Cycles of a concurrent run given only `--mutators`, and of the default
/// suite's concurrent run: enough for the pacer to settle after its first
/// cycle (which starts from a guessed trigger), and a second or two on
/// 2 cores.
pub const DEFAULT_CYCLES: u64 = 10;

/// GOGC unless `--gogc` says otherwise (Go's default).
pub const DEFAULT_GOGC: i32 = 100;

/// Where the report files go unless `--out` or `--no-out` says otherwise.
pub const DEFAULT_OUT: &str = "host-bench-report";

const LONG_ABOUT: &str = "\
Marks synthetic or saved heaps with each gpumark backend and reports edges per
second against the `bfs` floor (a plain parallel BFS over the same heap).

With no arguments, runs the default suite: every backend this build has, the
shapes random, list, tree, wide and powerlaw at 262144, 1048576 and 4194304
objects, then a short concurrent run (2 mutators, 10 cycles); 35-45 s on
2 cores in all, about 2 s of it the concurrent run. It verifies every mark and
every cycle, prints one table and the cycles' trace lines, and writes
report.json, runs.csv and SVG plots to ./host-bench-report.

Each run is one warm-up mark (untimed, verified) and --reps timed marks (each
verified outside the timed region). The table gives the median mark time, its
spread (median absolute deviation as a percentage of the median), median
throughput in millions of edges per second, and the ratio of that throughput to
bfs's on the same heap and thread count. Heap building is timed separately
(build_s in the report), and so is a GPU backend's preparation before each
mark (stats reset, the heap's changes uploaded, the device idle: the table's
prepare ms, gpu.prepare_s in the report). The progress bar, on a terminal only, is redrawn
between marks, never during one.

--heap FILE marks a heap a real program made instead of built ones: a gpumark
image (written by --save), a JVM HPROF heap dump (jmap -dump, jcmd
GC.heap_dump; its GC roots are the root set) or a SNAP-style edge list (text,
`src dst` per line; --edge-roots picks the roots), told apart by their first
bytes or named by --format. Before the table, host-bench prints what the import
found: objects, edges, roots, references to ids absent from the file (stored as
nil), the fraction of objects the marks reached, HPROF record counts, the
file's size and the import time; the JSON has the same as each run's `import`
object. A large file shows its progress on a terminal. A malformed file is an
error naming the file and the byte offset and record (HPROF) or line (edge
list) where it goes wrong.

Concurrent mode (--mutators M, --cycles C): the heap from --shape/--objects
(default: random, 262144 objects) is the starting live heap, copied into an
arena with room for 4 times the live heap plus the pacer's runway. M mutator
threads then run a seeded random program (allocate, link, unlink, move
references between heap and stack) while the collector runs concurrent cycles, triggered by the
pacer (GOGC from --gogc, --memory-limit, GOMAXPROCS from --threads), until C
cycles have completed. The collector's drains and assists scan with the CPU
engine, or with --backend vulkan (or another GPU backend, --offload as for
marks) on the GPU; several backends give one run each, and the summary row
says how much of the scan work the GPU did. Each cycle is verified with the world stopped
(--no-verify skips it) and printed as a gctrace-style line; a summary row gives
the goal ratio (peak heap / goal), GC CPU utilization, assists, assist park
times, scan work per cycle, mutator operations per second and how much of the
arena was in use at the end. What a cycle leaves unmarked is swept and reused,
so the arena does not grow with C and a run of any number of cycles stays in
the same memory; it stops early, and says so, only if an allocation fails
because the live heap outgrew the arena (with GOGC off and no memory limit, no
cycle runs and it soon does). With --out, each concurrent run also gets a
timeline plot (heap live, peak, goal and trigger per cycle, with assist park
times; below, the objects each sweep freed and the arena's occupancy).";

/// Marks heaps with gpumark's backends and reports edges per second.
#[derive(Parser, Debug)]
#[command(version, about, long_about = LONG_ABOUT, after_long_help = include_str!("schema.txt"))]
#[command(group(ArgGroup::new("concurrent").args(["mutators", "cycles"]).multiple(true)))]
pub struct Args {
    /// Backends to run, comma-separated: cpu-serial, cpu, bfs, and the GPU
    /// backends gpu, vulkan, metal, dx12, gl; `all` for every backend present
    /// [default: all; in concurrent mode cpu, and only cpu and the GPU
    /// backends can scan for the collector: one run each]
    #[arg(long, value_delimiter = ',', value_parser = parse_backend)]
    pub backend: Vec<BackendArg>,

    /// Heap shapes to build, comma-separated [default: random, list, tree,
    /// wide, powerlaw; random in concurrent mode] [possible values: random,
    /// list, tree, wide, powerlaw]
    #[arg(long, value_delimiter = ',', hide_possible_values = true)]
    pub shape: Vec<ShapeArg>,

    /// Objects per heap; a list runs each size (a scaling run) [default:
    /// 262144,1048576,4194304; 262144 in concurrent mode]
    #[arg(long, value_delimiter = ',', value_parser = parse_objects)]
    pub objects: Vec<u32>,

    /// Pointer slots per object (arity for tree, mean for powerlaw, ignored by list)
    #[arg(long, default_value_t = 4)]
    pub ptrs: u32,

    /// Random roots (random and powerlaw shapes)
    #[arg(long, default_value_t = 1024)]
    pub roots: u32,

    /// Seeds for the heap builder; a list builds one heap per seed (in
    /// concurrent mode each also seeds the mutators' programs). With --heap,
    /// the seed of --edge-roots random:N (a list imports once per seed)
    #[arg(long, value_delimiter = ',', default_values = ["42"])]
    pub seed: Vec<u64>,

    /// Mark the heap in FILE instead of building heaps (in concurrent mode,
    /// the starting live heap): a gpumark image (--save), a JVM HPROF heap
    /// dump or a SNAP-style edge list, told apart by content unless --format
    /// says
    #[arg(long, value_name = "FILE", conflicts_with_all = ["shape", "objects", "ptrs", "roots"])]
    pub heap: Option<PathBuf>,

    /// The format of --heap FILE, instead of telling it by content: image,
    /// hprof or edges
    #[arg(long, value_name = "FORMAT", requires = "heap", value_parser = parse_format)]
    pub format: Option<Format>,

    /// Which nodes of a --heap edge list are roots: in-degree-zero (every
    /// node no edge points to), nodes:ID,ID,... (these node ids), or
    /// random:N (N distinct nodes drawn with --seed) [default:
    /// in-degree-zero]
    #[arg(long, value_name = "ROOTS", requires = "heap", value_parser = parse_edge_roots)]
    pub edge_roots: Option<EdgeRoots>,

    /// Save the heap to this file as a gpumark image (needs exactly one
    /// heap; a --heap HPROF dump or edge list loads faster from its image)
    #[arg(long, value_name = "IMAGE", conflicts_with = "concurrent")]
    pub save: Option<PathBuf>,

    /// Worker threads; a list runs each count (in concurrent mode,
    /// GOMAXPROCS) [default: all cores]
    #[arg(long, value_delimiter = ',', value_parser = parse_threads)]
    pub threads: Vec<usize>,

    /// Timed marks per run
    #[arg(long, default_value_t = 5, value_parser = parse_reps, conflicts_with = "concurrent")]
    pub reps: usize,

    /// GPU backends: `auto` hands narrow frontiers to the CPU at the
    /// threshold measured on this device; `always` keeps every scan on the
    /// GPU
    #[arg(long, value_enum, default_value_t = Offload::Auto)]
    pub offload: Offload,

    /// GPU backends: `auto` runs the subgroup scan kernel where the adapter
    /// has subgroup operations; `workgroup` runs the portable kernel, to
    /// compare the two on one adapter
    #[arg(long, value_enum, default_value_t = ScanKernel::Auto)]
    pub scan_kernel: ScanKernel,

    /// GPU backends: time every level with GPU timestamps and report where
    /// the GPU's time goes by level width (a table after the results, and
    /// `gpu.level_profile` in the JSON). Adds a timestamp between levels,
    /// which slows marks on a software driver (lavapipe) noticeably; an
    /// adapter without in-pass timestamps reports none
    #[arg(long)]
    pub trace_levels: bool,

    /// GPU backends: mark with the kernels' counting variant and report
    /// their operations by category (control-block atomics, mark-bitmap
    /// atomics and loads, descriptor and slot reads, ring writes and reads,
    /// barriers, levels, the largest workgroup, the edges followed): a table
    /// per GPU run after the results, per 1024 edges, and `gpu.ops` in the
    /// JSON. The counts are deterministic for a heap and a scan kernel, so
    /// they measure kernel work on a machine without a GPU (lavapipe);
    /// counting slows the kernels, so --count-ops mark times are not
    /// throughput figures. Stop-the-world: the last timed mark's counts;
    /// concurrent mode: summed over the run
    #[arg(long)]
    pub count_ops: bool,

    /// Untimed warm-up marks before the timed ones
    #[arg(long, default_value_t = 1, conflicts_with = "concurrent")]
    pub warmup: usize,

    /// Concurrent mode: mutator threads running while cycles mark [default:
    /// 2 when only --cycles is given]
    #[arg(long, value_parser = parse_mutators)]
    pub mutators: Option<usize>,

    /// Concurrent mode: stop the mutators after this many completed GC
    /// cycles [default: 10 when only --mutators is given]
    #[arg(long, value_parser = parse_cycles)]
    pub cycles: Option<u64>,

    /// Concurrent mode: GOGC, the heap growth (percent of the live heap)
    /// allowed before the next cycle ends, or "off" [default: 100]
    #[arg(long, value_parser = parse_gogc, requires = "concurrent", allow_hyphen_values = true)]
    pub gogc: Option<i32>,

    /// Concurrent mode: soft memory limit (GOMEMLIMIT), a byte count such as
    /// 64MiB, or "off" [default: off]
    #[arg(long, value_name = "BYTES", value_parser = parse_limit, requires = "concurrent")]
    pub memory_limit: Option<i64>,

    /// Check every mark against a sequential reachability pass (the default)
    #[arg(long, overrides_with = "no_verify")]
    pub verify: bool,

    /// Skip verification (faster on huge heaps; `verified` is then null)
    #[arg(long, overrides_with = "verify")]
    pub no_verify: bool,

    /// Write the report, one JSON object per run, to FILE ("-" for stdout,
    /// which sends the table and trace lines to stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,

    /// Write report.json, runs.csv and SVG plots (a timeline per concurrent
    /// run) to DIR [default: host-bench-report]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write no files except --json
    #[arg(long, conflicts_with = "out")]
    pub no_out: bool,

    /// Print each run's throughput against a previous report (matched on
    /// backend, shape, objects and threads; stop-the-world runs only)
    #[arg(long, value_name = "OLD.json", conflicts_with = "concurrent")]
    pub compare: Option<PathBuf>,

    /// With --compare: compare against this saved report instead of running
    #[arg(long, value_name = "NEW.json", requires = "compare")]
    pub against: Option<PathBuf>,

    /// More diagnostics on stderr: -v adds info, -vv debug (warnings and
    /// errors show by default; RUST_LOG adds env_logger directives)
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Errors only on stderr, no warnings (the results print as usual)
    #[arg(short, long)]
    pub quiet: bool,
}

impl Args {
    /// Whether marks are verified.
    pub fn verify(&self) -> bool {
        !self.no_verify
    }

    /// How GPU backends are set up.
    pub fn gpu_settings(&self) -> GpuSettings {
        GpuSettings {
            offload: self.offload,
            kernel: self.scan_kernel,
            trace_levels: self.trace_levels,
            count_ops: self.count_ops,
        }
    }

    /// The output directory, if files are to be written.
    pub fn out_dir(&self) -> Option<PathBuf> {
        if self.no_out {
            None
        } else {
            Some(self.out.clone().unwrap_or_else(|| DEFAULT_OUT.into()))
        }
    }

    /// True when `--mutators` or `--cycles` selects the concurrent mode.
    pub fn concurrent(&self) -> bool {
        self.mutators.is_some() || self.cycles.is_some()
    }

    /// True when nothing selects which runs to do: the default suite, which
    /// ends with a short concurrent run. Flags that only say where results
    /// go, whether to verify, or what to compare with leave it the suite.
    pub fn is_default_suite(&self) -> bool {
        let default = Args::try_parse_from(["host-bench"]).expect("no arguments parse");
        self.selection() == default.selection()
    }

    /// Everything that decides which runs are done.
    fn selection(&self) -> Selection<'_> {
        Selection {
            backend: &self.backend,
            shape: &self.shape,
            objects: &self.objects,
            ptrs: self.ptrs,
            roots: self.roots,
            seed: &self.seed,
            heap: self.heap.as_ref(),
            format: self.format,
            edge_roots: self.edge_roots.as_ref(),
            save: self.save.as_ref(),
            threads: &self.threads,
            reps: self.reps,
            warmup: self.warmup,
            mutators: self.mutators,
            cycles: self.cycles,
            gogc: self.gogc,
            memory_limit: self.memory_limit,
        }
    }

    /// The shapes to build: as given, or the mode's default.
    pub fn shapes(&self) -> Vec<ShapeArg> {
        match (self.shape.is_empty(), self.concurrent()) {
            (false, _) => self.shape.clone(),
            (true, false) => DEFAULT_SHAPES.to_vec(),
            (true, true) => vec![CONCURRENT_SHAPE],
        }
    }

    /// The heap sizes to build: as given, or the mode's default.
    pub fn object_counts(&self) -> Vec<u32> {
        match (self.objects.is_empty(), self.concurrent()) {
            (false, _) => self.objects.clone(),
            (true, false) => DEFAULT_OBJECTS.to_vec(),
            (true, true) => vec![CONCURRENT_OBJECTS],
        }
    }

    /// GOGC for concurrent runs.
    pub fn gc_percent(&self) -> i32 {
        self.gogc.unwrap_or(DEFAULT_GOGC)
    }

    /// The memory limit for concurrent runs, bytes.
    pub fn memory_limit_bytes(&self) -> i64 {
        self.memory_limit.unwrap_or(NO_MEMORY_LIMIT)
    }
}

/// The flags that decide which runs are done (see [`Args::is_default_suite`]).
#[derive(PartialEq)]
struct Selection<'a> {
    backend: &'a [BackendArg],
    shape: &'a [ShapeArg],
    objects: &'a [u32],
    ptrs: u32,
    roots: u32,
    seed: &'a [u64],
    heap: Option<&'a PathBuf>,
    format: Option<Format>,
    edge_roots: Option<&'a EdgeRoots>,
    save: Option<&'a PathBuf>,
    threads: &'a [usize],
    reps: usize,
    warmup: usize,
    mutators: Option<usize>,
    cycles: Option<u64>,
    gogc: Option<i32>,
    memory_limit: Option<i64>,
}

/// A heap shape on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShapeArg {
    /// Uniform random graph: a wide, shallow frontier.
    Random,
    /// One long chain: nothing to share between workers.
    List,
    /// Complete K-ary tree.
    Tree,
    /// A few huge pointer arrays: exercises oblets.
    Wide,
    /// Pareto-distributed out-degrees.
    Powerlaw,
}

impl From<ShapeArg> for Shape {
    fn from(s: ShapeArg) -> Shape {
        match s {
            ShapeArg::Random => Shape::Random,
            ShapeArg::List => Shape::List,
            ShapeArg::Tree => Shape::Tree,
            ShapeArg::Wide => Shape::Wide,
            ShapeArg::Powerlaw => Shape::PowerLaw,
        }
    }
}

/// `--edge-roots`: which nodes of an edge list are roots (the library's
/// [`RootChoice`] less the seed, which `--seed` gives).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeRoots {
    /// `in-degree-zero`: every node with no incoming edge.
    InDegreeZero,
    /// `nodes:ID,ID,...`: these node ids.
    Nodes(Vec<u64>),
    /// `random:N`: N distinct nodes drawn with the seed.
    Random(u64),
}

impl EdgeRoots {
    /// The library's choice, with `seed` for `random:N`.
    pub fn choice(&self, seed: u64) -> RootChoice {
        match self {
            EdgeRoots::InDegreeZero => RootChoice::InDegreeZero,
            EdgeRoots::Nodes(ids) => RootChoice::Nodes(ids.clone()),
            &EdgeRoots::Random(count) => RootChoice::Random { count, seed },
        }
    }
}

fn parse_edge_roots(s: &str) -> Result<EdgeRoots, String> {
    let s = s.trim();
    let usage = "in-degree-zero, nodes:ID,ID,... or random:N";
    if s.eq_ignore_ascii_case("in-degree-zero") {
        return Ok(EdgeRoots::InDegreeZero);
    }
    if let Some(list) = s.strip_prefix("nodes:") {
        let ids = list
            .split(',')
            .map(|id| {
                let id = id.trim();
                id.parse::<u64>()
                    .map_err(|_| format!("`{id}` in `{s}` is not a node id (a whole number)"))
            })
            .collect::<Result<Vec<u64>, String>>()?;
        return Ok(EdgeRoots::Nodes(ids));
    }
    if let Some(n) = s.strip_prefix("random:") {
        return match parse_count(n, "roots")? {
            0 => Err("random:N needs at least 1 root".into()),
            n => Ok(EdgeRoots::Random(n)),
        };
    }
    Err(format!("`{s}` is not a root choice: {usage}"))
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.trim().parse::<Format>().map_err(|e| e.to_string())
}

fn parse_count(s: &str, what: &str) -> Result<u64, String> {
    let s = s.trim().replace('_', "");
    s.parse::<u64>()
        .map_err(|_| format!("`{s}` is not a whole number of {what}"))
}

fn parse_objects(s: &str) -> Result<u32, String> {
    let n = parse_count(s, "objects")?;
    if n == 0 {
        return Err("a heap needs at least 1 object".into());
    }
    u32::try_from(n).map_err(|_| {
        format!(
            "{n} objects do not fit gpumark's 32-bit object indices (at most {})",
            u32::MAX
        )
    })
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match parse_count(s, "threads")? {
        0 => Err("at least 1 thread is needed".into()),
        n => usize::try_from(n).map_err(|_| format!("{n} threads is too many")),
    }
}

fn parse_mutators(s: &str) -> Result<usize, String> {
    match parse_count(s, "mutators")? {
        0 => Err("at least 1 mutator is needed".into()),
        n if n > MAX_MUTATORS => Err(format!(
            "{n} mutators is too many: each is a thread (at most {MAX_MUTATORS})"
        )),
        n => Ok(n as usize),
    }
}

/// The most mutator threads `--mutators` accepts.
const MAX_MUTATORS: u64 = 1024;

fn parse_cycles(s: &str) -> Result<u64, String> {
    match parse_count(s, "cycles")? {
        0 => Err("at least 1 cycle is needed".into()),
        n => Ok(n),
    }
}

/// GOGC as Go reads it, but strictly: "off" or a whole percentage (Go takes
/// any negative number as off and anything unparsable as 100; a benchmark
/// flag should rather say what is wrong).
fn parse_gogc(s: &str) -> Result<i32, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(GC_PERCENT_OFF);
    }
    s.replace('_', "")
        .parse::<u32>()
        .ok()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| format!("`{s}` is not a GOGC value: a whole percentage such as 100, or off"))
}

/// A memory limit as Go's GOMEMLIMIT reads it ("64MiB", "1GiB", "off").
fn parse_limit(s: &str) -> Result<i64, String> {
    let s = s.trim();
    match parse_memory_limit(s) {
        Ok(n) if s.is_empty() => Err(format!("an empty memory limit is not one (got {n})")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "`{s}` is not a memory limit: a byte count such as 64MiB (suffixes B, KiB, MiB, \
             GiB, TiB), or off"
        )),
    }
}

fn parse_reps(s: &str) -> Result<usize, String> {
    match parse_count(s, "repetitions")? {
        0 => Err("at least 1 timed repetition is needed".into()),
        n => usize::try_from(n).map_err(|_| format!("{n} repetitions is too many")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_suite() {
        let a = Args::try_parse_from(["host-bench"]).unwrap();
        assert!(a.backend.is_empty());
        assert_eq!(a.shapes().len(), 5);
        assert_eq!(a.object_counts(), vec![262144, 1048576, 4194304]);
        assert!(a.verify());
        assert_eq!(a.out_dir(), Some(PathBuf::from(DEFAULT_OUT)));
        assert!(a.is_default_suite() && !a.concurrent());
        // Where results go and whether marks are checked leave it the suite.
        let a = Args::try_parse_from(["host-bench", "--out", "x", "--no-verify"]).unwrap();
        assert!(a.is_default_suite());
        for sel in [
            &["--objects", "1000"][..],
            &["--reps", "2"],
            &["--cycles", "3"],
        ] {
            let a = Args::try_parse_from(["host-bench"].iter().chain(sel)).unwrap();
            assert!(!a.is_default_suite(), "{sel:?}");
        }
    }

    #[test]
    fn gpu_flags_reach_the_gpu_settings() {
        let a = Args::try_parse_from(["host-bench"]).unwrap();
        assert!(!a.gpu_settings().count_ops && !a.gpu_settings().trace_levels);
        let a = Args::try_parse_from(["host-bench", "--backend", "vulkan", "--count-ops"]).unwrap();
        let g = a.gpu_settings();
        assert!(g.count_ops && !g.trace_levels);
        // Like --trace-levels, it says how GPU runs are done, not which.
        assert!(Args::try_parse_from(["host-bench", "--count-ops"])
            .unwrap()
            .is_default_suite());
        // Concurrent runs count too (summed over the run).
        let a = Args::try_parse_from(["host-bench", "--mutators", "2", "--count-ops"]).unwrap();
        assert!(a.concurrent() && a.gpu_settings().count_ops);
    }

    #[test]
    fn concurrent_mode_flags() {
        let a = Args::try_parse_from(["host-bench", "--mutators", "3"]).unwrap();
        assert!(a.concurrent());
        assert_eq!((a.mutators, a.cycles), (Some(3), None));
        assert_eq!(a.shapes(), vec![CONCURRENT_SHAPE]);
        assert_eq!(a.object_counts(), vec![CONCURRENT_OBJECTS]);
        assert_eq!(a.gc_percent(), 100);
        assert_eq!(a.memory_limit_bytes(), NO_MEMORY_LIMIT);
        let a = Args::try_parse_from([
            "host-bench",
            "--cycles",
            "4",
            "--gogc",
            "off",
            "--memory-limit",
            "64MiB",
            "--shape",
            "tree",
        ])
        .unwrap();
        assert_eq!(a.gc_percent(), GC_PERCENT_OFF);
        assert_eq!(a.memory_limit_bytes(), 64 << 20);
        assert_eq!(a.shapes(), vec![ShapeArg::Tree]);
        assert!(parse_mutators("0")
            .unwrap_err()
            .contains("at least 1 mutator"));
        assert!(parse_cycles("0").unwrap_err().contains("at least 1 cycle"));
        assert!(parse_gogc("-5").unwrap_err().contains("not a GOGC value"));
        assert_eq!(parse_gogc("50"), Ok(50));
        assert!(parse_limit("lots")
            .unwrap_err()
            .contains("not a memory limit"));
        // Pacer flags need the concurrent mode; STW-only flags refuse it.
        assert!(Args::try_parse_from(["host-bench", "--gogc", "50"]).is_err());
        assert!(Args::try_parse_from(["host-bench", "--cycles", "2", "--reps", "3"]).is_err());
        assert!(Args::try_parse_from(["host-bench", "--mutators", "2", "--save", "x"]).is_err());
    }

    #[test]
    fn lists_and_errors() {
        let a = Args::try_parse_from(["host-bench", "--objects", "1_000,2000", "--threads", "1,2"])
            .unwrap();
        assert_eq!(a.objects, vec![1000, 2000]);
        assert_eq!(a.threads, vec![1, 2]);
        assert!(parse_objects("0").unwrap_err().contains("at least 1"));
        assert!(parse_objects("5000000000").unwrap_err().contains("32-bit"));
        assert!(parse_objects("lots")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(Args::try_parse_from(["host-bench", "--heap", "x", "--shape", "list"]).is_err());
    }

    #[test]
    fn heap_file_flags() {
        let a = Args::try_parse_from([
            "host-bench",
            "--heap",
            "g.txt",
            "--format",
            "edges",
            "--edge-roots",
            "random:5",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(a.format, Some(Format::EdgeList));
        assert_eq!(a.edge_roots, Some(EdgeRoots::Random(5)));
        assert_eq!(
            a.edge_roots.unwrap().choice(7),
            RootChoice::Random { count: 5, seed: 7 }
        );
        assert!(!Args::try_parse_from(["host-bench", "--heap", "x"])
            .unwrap()
            .is_default_suite());
        assert_eq!(
            parse_edge_roots("nodes:1, 18446744073709551615"),
            Ok(EdgeRoots::Nodes(vec![1, u64::MAX]))
        );
        assert_eq!(
            parse_edge_roots("in-degree-zero"),
            Ok(EdgeRoots::InDegreeZero)
        );
        assert!(parse_edge_roots("nodes:")
            .unwrap_err()
            .contains("not a node id"));
        assert!(parse_edge_roots("nodes:1,x").unwrap_err().contains("`x`"));
        assert!(parse_edge_roots("random:0")
            .unwrap_err()
            .contains("at least 1"));
        assert!(parse_edge_roots("all").unwrap_err().contains("random:N"));
        assert!(parse_format("xml")
            .unwrap_err()
            .contains("image, hprof or edges"));
        // Both need a file.
        assert!(Args::try_parse_from(["host-bench", "--format", "hprof"]).is_err());
        assert!(Args::try_parse_from(["host-bench", "--edge-roots", "random:3"]).is_err());
    }
}
