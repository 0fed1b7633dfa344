//! The report: one [`Run`] per backend × heap × thread count of the
//! stop-the-world mode, written as JSON Lines, CSV and an aligned table, and
//! one [`ConcurrentRun`] per concurrent run, written as JSON Lines, trace
//! lines and a summary table.

use crate::backend::Adapter;
use crate::concurrent::{scan_work, Summary, ARENA_FACTOR};
use crate::error::BenchError;
use crate::import::{import_text, ImportRecord};
use crate::machine::{human_bytes, Machine};
use crate::plots::CycleRecord;
use gpumark::collector::CycleStats;
use serde::{Serialize, Serializer};
use std::io::Write;
use std::path::Path;

/// The version written in every record's `schema` field. Version 3 added
/// the concurrent records; version 4 the `import` object of both kinds of
/// record (and format names in `shape` for `--heap` files).
pub const SCHEMA_VERSION: u32 = 6;

/// Everything one invocation ran: stop-the-world runs, then concurrent runs
/// (the order of the JSON Lines).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Stop-the-world runs.
    pub stw: Vec<Run>,
    /// Concurrent runs.
    pub concurrent: Vec<ConcurrentRun>,
}

/// One run's record.
///
/// Serialised field for field as the report format below, which is also the
/// text `host-bench --help` ends with:
///
/// ```text
#[doc = include_str!("schema.txt")]
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// Report format version ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// `"host-bench <version>"`.
    pub tool: String,
    /// When the invocation started, seconds since 1970.
    pub unix_time: u64,
    /// "stw": a stop-the-world mark.
    pub mode: &'static str,
    /// Backend name.
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
    pub gpu: Option<crate::backend::GpuFigures>,
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
    /// Report format version ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// `"host-bench <version>"`.
    pub tool: String,
    /// When the invocation started, seconds since 1970.
    pub unix_time: u64,
    /// "concurrent".
    pub mode: &'static str,
    /// The scan backend ("cpu", or a GPU backend's name).
    pub backend: &'static str,
    /// The GPU adapter; `None` for `cpu`.
    pub adapter: Option<Adapter>,
    /// Shape of the starting heap, or the `--heap` file's format.
    pub shape: String,
    /// The `--heap` file.
    pub heap: Option<String>,
    /// Objects in the starting heap.
    pub objects: u64,
    /// `--ptrs` of a built heap.
    pub ptrs: Option<u32>,
    /// `--roots` of a built heap.
    pub roots: Option<u32>,
    /// `--seed` of a built heap, or of an edge list's random roots.
    pub seed: Option<u64>,
    /// Non-nil slots of the starting heap.
    pub edges: u64,
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
    pub summary: Summary,
    /// What the GPU did over the run (every cycle); `None` for `cpu`.
    pub gpu: Option<crate::backend::GpuFigures>,
    /// Every cycle's statistics.
    #[serde(serialize_with = "serialize_cycles")]
    pub cycles: Vec<CycleStats>,
    /// What the import of a `--heap` file found (`reached`: in the starting
    /// heap); `None` for a built heap.
    pub import: Option<ImportRecord>,
    /// Where it ran.
    pub machine: Machine,
}

impl ConcurrentRun {
    /// The timeline plot's points.
    pub fn timeline(&self) -> Vec<CycleRecord> {
        self.cycles.iter().map(CycleRecord::from).collect()
    }

    /// The run in words: heap, mutators and pacer settings.
    pub fn describe(&self) -> String {
        let heap = match &self.heap {
            Some(p) => format!("{} {p}", self.shape),
            None => format!(
                "{}, {} objects{}",
                self.shape,
                self.objects,
                match (self.ptrs, self.seed) {
                    (Some(k), Some(s)) if self.shape != "list" => format!(" × {k} ptrs, seed {s}"),
                    _ => String::new(),
                }
            ),
        };
        let mut s = format!(
            "{heap}; {} mutators, GOMAXPROCS {}, GOGC {}",
            self.mutators,
            self.gomaxprocs,
            self.gogc.map_or("off".into(), |g| g.to_string())
        );
        if let Some(l) = self.memory_limit {
            s.push_str(&format!(", memory limit {}", human_bytes(l as u64)));
        }
        if let (Some(a), Some(g)) = (&self.adapter, &self.gpu) {
            s.push_str(&format!(
                "; scanning on {} ({}, offload {})",
                self.backend, a.name, g.offload
            ));
        }
        s
    }
}

impl From<&CycleStats> for CycleRecord {
    /// A cycle as the timeline plots it: park times in microseconds, the
    /// unit of its axis.
    fn from(s: &CycleStats) -> CycleRecord {
        CycleRecord {
            cycle: u32::try_from(s.cycle).unwrap_or(u32::MAX),
            heap_live_bytes: s.heap_after,
            heap_peak_bytes: s.heap_peak,
            heap_goal_bytes: s.heap_goal,
            trigger_bytes: s.trigger,
            assist_park_p50_us: s.park_p50_s * 1e6,
            assist_park_max_us: s.park_max_s * 1e6,
            swept_objects: s.swept_objects,
            arena_objects: s.arena_objects,
        }
    }
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

/// Writes the report as JSON Lines: stop-the-world runs, then concurrent runs.
pub fn write_json(report: &Report, mut w: impl Write) -> std::io::Result<()> {
    for r in &report.stw {
        serde_json::to_writer(&mut w, r)?;
        writeln!(w)?;
    }
    for r in &report.concurrent {
        serde_json::to_writer(&mut w, r)?;
        writeln!(w)?;
    }
    w.flush()
}

/// Writes the report as JSON Lines to `path`.
pub fn write_json_file(report: &Report, path: &Path) -> Result<(), BenchError> {
    let f = std::fs::File::create(path).map_err(BenchError::io(path))?;
    write_json(report, std::io::BufWriter::new(f)).map_err(BenchError::io(path))
}

/// One CSV row: the scalar fields of a [`Run`] (the machine is in the JSON).
#[derive(Serialize)]
struct CsvRow<'a> {
    backend: &'a str,
    adapter: &'a str,
    shape: &'a str,
    heap: &'a str,
    objects: u64,
    ptrs: Option<u32>,
    roots: Option<u32>,
    seed: Option<u64>,
    edges: u64,
    marked: u64,
    bytes_marked: u64,
    threads: usize,
    warmup: usize,
    reps: usize,
    mark_s: f64,
    mark_median_s: f64,
    mark_max_s: f64,
    mark_mad_s: f64,
    edges_per_s: f64,
    edges_per_s_median: f64,
    ratio_to_bfs: Option<f64>,
    build_s: f64,
    upload_s: Option<f64>,
    batches: Option<u64>,
    verified: Option<bool>,
}

/// Writes `runs` as CSV with a header row.
pub fn write_csv(runs: &[Run], w: impl Write) -> Result<(), csv::Error> {
    let mut out = csv::Writer::from_writer(w);
    for r in runs {
        out.serialize(CsvRow {
            backend: r.backend,
            adapter: r.adapter.as_ref().map_or("", |a| &a.name),
            shape: &r.shape,
            heap: r.heap.as_deref().unwrap_or(""),
            objects: r.objects,
            ptrs: r.ptrs,
            roots: r.roots,
            seed: r.seed,
            edges: r.edges,
            marked: r.marked,
            bytes_marked: r.bytes_marked,
            threads: r.threads,
            warmup: r.warmup,
            reps: r.reps,
            mark_s: r.mark_s,
            mark_median_s: r.mark_median_s,
            mark_max_s: r.mark_max_s,
            mark_mad_s: r.mark_mad_s,
            edges_per_s: r.edges_per_s,
            edges_per_s_median: r.edges_per_s_median,
            ratio_to_bfs: r.ratio_to_bfs,
            build_s: r.build_s,
            upload_s: r.upload_s,
            batches: r.batches,
            verified: r.verified,
        })?;
    }
    out.flush()?;
    Ok(())
}

/// Writes `runs` as CSV to `path`.
pub fn write_csv_file(runs: &[Run], path: &Path) -> Result<(), BenchError> {
    let f = std::fs::File::create(path).map_err(BenchError::io(path))?;
    write_csv(runs, std::io::BufWriter::new(f)).map_err(|source| BenchError::Csv {
        path: path.to_path_buf(),
        source,
    })
}

/// Column alignment in [`Table`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// A plain text table whose columns are as wide as their widest cell.
pub struct Table {
    header: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: Vec<(&'static str, Align)>) -> Table {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as headings).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table, two spaces between columns.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = self
            .header
            .iter()
            .enumerate()
            .map(|(i, (h, _))| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .chain([h.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| -> String {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let w = widths[i];
                let pad = w.saturating_sub(c.chars().count());
                if i > 0 {
                    s.push_str("  ");
                }
                match self.header[i].1 {
                    Align::Left => {
                        s.push_str(c);
                        if i + 1 < cells.len() {
                            s.push_str(&" ".repeat(pad));
                        }
                    }
                    Align::Right => {
                        s.push_str(&" ".repeat(pad));
                        s.push_str(c);
                    }
                }
            }
            let mut s = s.trim_end().to_string();
            s.push('\n');
            s
        };
        let mut out = line(self.header.iter().map(|(h, _)| *h).collect());
        for r in &self.rows {
            out.push_str(&line(r.iter().map(String::as_str).collect()));
        }
        out
    }
}

/// Milliseconds with precision that suits the magnitude.
pub fn fmt_ms(s: f64) -> String {
    let ms = s * 1e3;
    if ms >= 100.0 {
        format!("{ms:.1}")
    } else if ms >= 1.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// The results table.
pub fn table(runs: &[Run]) -> String {
    use Align::*;
    let mut t = Table::new(vec![
        ("backend", Left),
        ("adapter", Left),
        ("shape", Left),
        ("objects", Right),
        ("edges", Right),
        ("marked", Right),
        ("thr", Right),
        ("median ms", Right),
        ("spread", Right),
        ("M edges/s", Right),
        ("vs bfs", Right),
        ("batches", Right),
        ("verified", Left),
    ]);
    for r in runs {
        t.row(vec![
            r.backend.to_string(),
            r.adapter.as_ref().map_or("-".into(), |a| a.name.clone()),
            r.shape.clone(),
            r.objects.to_string(),
            r.edges.to_string(),
            r.marked.to_string(),
            r.threads.to_string(),
            fmt_ms(r.mark_median_s),
            format!(
                "±{:.1}%",
                if r.mark_median_s > 0.0 {
                    100.0 * r.mark_mad_s / r.mark_median_s
                } else {
                    0.0
                }
            ),
            format!("{:.1}", r.edges_per_s_median / 1e6),
            r.ratio_to_bfs.map_or("-".into(), |x| format!("{x:.2}x")),
            r.batches.map_or("-".into(), |b| b.to_string()),
            r.verified
                .map_or("-", |v| if v { "yes" } else { "NO" })
                .into(),
        ]);
    }
    t.render()
}

/// The import blocks printed before a table: one per imported heap, given
/// as each run's `(heap, seed, import)` in run order (a heap's runs are
/// consecutive), and a blank line after them.
pub fn imports_text<'a>(
    runs: impl IntoIterator<Item = (&'a Option<String>, Option<u64>, &'a Option<ImportRecord>)>,
) -> String {
    let mut out = String::new();
    let mut last = None;
    for (heap, seed, import) in runs {
        let (Some(heap), Some(import)) = (heap, import) else {
            continue;
        };
        if last == Some((heap, seed)) {
            continue;
        }
        last = Some((heap, seed));
        out.push_str(&import_text(heap, import));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// `--trace-levels`: for each GPU run, where its last timed mark's GPU time
/// went, by level width. Empty when no run has a level profile.
pub fn level_profile_text(runs: &[Run]) -> String {
    use Align::*;
    let mut out = String::new();
    for r in runs {
        let Some(buckets) = r.gpu.as_ref().and_then(|g| g.level_profile.as_ref()) else {
            continue;
        };
        let total: f64 = buckets.iter().map(|b| b.gpu_s).sum();
        out.push_str(&format!(
            "\nGPU time by level width: {} on {} {}, {} threads (last timed mark)\n",
            r.backend, r.shape, r.objects, r.threads
        ));
        let mut t = Table::new(vec![
            ("items/level", Left),
            ("levels", Right),
            ("items", Right),
            ("slots", Right),
            ("GPU ms", Right),
            ("share", Right),
            ("M slots/s", Right),
        ]);
        for b in buckets {
            let slots = b.scan_work / 8;
            t.row(vec![
                match b.min_items == b.max_items {
                    true => b.min_items.to_string(),
                    false => format!("{}-{}", b.min_items, b.max_items),
                },
                b.levels.to_string(),
                b.items.to_string(),
                slots.to_string(),
                fmt_ms(b.gpu_s),
                format!("{:.1}%", 100.0 * b.gpu_s / total.max(f64::MIN_POSITIVE)),
                match b.gpu_s > 0.0 {
                    true => format!("{:.1}", slots as f64 / b.gpu_s / 1e6),
                    false => "-".into(),
                },
            ]);
        }
        out.push_str(&t.render());
        if buckets.is_empty() {
            out.push_str("(no GPU levels ran)\n");
        }
    }
    out
}

/// [`imports_text`] of stop-the-world runs.
pub fn stw_imports_text(runs: &[Run]) -> String {
    imports_text(runs.iter().map(|r| (&r.heap, r.seed, &r.import)))
}

/// [`imports_text`] of concurrent runs.
pub fn concurrent_imports_text(runs: &[ConcurrentRun]) -> String {
    imports_text(runs.iter().map(|r| (&r.heap, r.seed, &r.import)))
}

/// Microseconds, whole.
fn fmt_us(s: f64) -> String {
    format!("{:.0}", s * 1e6)
}

/// Each concurrent run's header and trace lines, then one summary row per
/// run, then a note for each run that stopped early.
pub fn concurrent_text(runs: &[ConcurrentRun]) -> String {
    use Align::*;
    let mut out = String::new();
    for r in runs {
        out.push_str(&format!(
            "concurrent: {}
",
            r.describe()
        ));
        for c in &r.cycles {
            out.push_str(&format!(
                "{c}
"
            ));
        }
    }
    let mut t = Table::new(vec![
        ("backend", Left),
        ("shape", Left),
        ("objects", Right),
        ("mutators", Right),
        ("P", Right),
        ("GOGC", Right),
        ("cycles", Right),
        ("goal ratio med/max", Right),
        ("util med", Right),
        ("assists", Right),
        ("parked", Right),
        ("park us p50/p99/max", Right),
        ("scan MB/cycle", Right),
        ("M ops/s", Right),
        ("arena use", Right),
        ("gpu scan", Right),
        ("verified", Left),
    ]);
    let opt = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map_or("-".to_string(), f);
    for r in runs {
        let s = &r.summary;
        t.row(vec![
            r.backend.to_string(),
            r.shape.clone(),
            r.objects.to_string(),
            r.mutators.to_string(),
            r.gomaxprocs.to_string(),
            r.gogc.map_or("off".into(), |g| g.to_string()),
            r.cycles.len().to_string(),
            format!(
                "{}/{}",
                opt(s.goal_ratio_median, &|x| format!("{x:.3}")),
                opt(s.goal_ratio_max, &|x| format!("{x:.3}"))
            ),
            opt(s.utilization_median, &|x| format!("{:.1}%", 100.0 * x)),
            s.assists.to_string(),
            s.assists_parked.to_string(),
            format!(
                "{}/{}/{}",
                opt(s.park_p50_s, &fmt_us),
                opt(s.park_p99_s, &fmt_us),
                opt(s.park_max_s, &fmt_us)
            ),
            opt(s.scan_work_median, &|x| {
                format!("{:.2}", x / (1u64 << 20) as f64)
            }),
            format!("{:.2}", r.mutator_ops_per_s / 1e6),
            format!(
                "{:.1}%",
                100.0 * r.allocated_objects as f64 / r.arena_objects.max(1) as f64
            ),
            r.gpu.as_ref().map_or("-".into(), |g| {
                format!("{:.1}%", 100.0 * g.gpu_scan_fraction)
            }),
            match (s.verified, s.first_failed) {
                (_, Some(c)) => format!("NO (cycle {c})"),
                (Some(true), _) => "yes".into(),
                _ => "-".into(),
            },
        ]);
    }
    out.push_str(&t.render());
    for r in runs.iter().filter(|r| r.stop_reason != "cycles") {
        let why = if r.gogc.is_none() && r.memory_limit.is_none() {
            "with GOGC off and no memory limit the pacer never starts a cycle, so nothing is \
             ever freed"
                .to_string()
        } else {
            format!(
                "the heap (live objects and those not yet swept) outgrew the arena, which holds \
                 {ARENA_FACTOR} times the starting heap plus the pacer's runway"
            )
        };
        out.push_str(&format!(
            "note: {} stopped after {} of {} cycles because an allocation failed: {} (the arena \
             holds {} objects and {} slots); {why}\n",
            r.describe(),
            r.cycles.len(),
            r.cycles_requested,
            r.heap_full.as_deref().unwrap_or("heap full"),
            r.arena_objects,
            r.arena_slots,
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A run with plausible numbers, for tests here and in other modules.
    pub(crate) fn sample_run(backend: &'static str, shape: &str, objects: u64, eps: f64) -> Run {
        let edges = objects * 4;
        let t = edges as f64 / eps;
        Run {
            schema: SCHEMA_VERSION,
            tool: "host-bench test".into(),
            unix_time: 0,
            mode: "stw",
            backend,
            adapter: None,
            shape: shape.into(),
            heap: None,
            objects,
            ptrs: Some(4),
            roots: Some(8),
            seed: Some(1),
            edges,
            marked: objects,
            bytes_marked: objects * 48,
            threads: 2,
            warmup: 1,
            reps: 3,
            mark_times_s: vec![t, t * 1.1, t * 0.9],
            mark_s: t * 0.9,
            mark_median_s: t,
            mark_max_s: t * 1.1,
            mark_mad_s: t * 0.1,
            edges_per_s: eps / 0.9,
            edges_per_s_median: eps,
            ratio_to_bfs: Some(1.0),
            build_s: 0.01,
            upload_s: None,
            batches: None,
            gpu: None,
            verified: Some(true),
            import: None,
            machine: Machine::detect(),
        }
    }

    #[test]
    fn table_aligns_columns() {
        let runs = [
            sample_run("cpu-serial", "random", 1000, 1e8),
            sample_run("bfs", "powerlaw", 1_000_000, 2e8),
        ];
        let t = table(&runs);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        // Every right-aligned column ends at the same offset in every line.
        let end = |l: &str, pat: &str| l.find(pat).map(|i| i + pat.len());
        assert_eq!(end(lines[0], "objects"), end(lines[2], "1000000"));
        assert_eq!(end(lines[1], " 1000"), end(lines[2], "1000000"));
    }

    #[test]
    fn timeline_records_park_times_in_microseconds() {
        let r = CycleRecord::from(&CycleStats {
            cycle: 7,
            heap_after: 10,
            heap_peak: 30,
            heap_goal: 32,
            trigger: 20,
            park_p50_s: 250e-6,
            park_max_s: 2e-3,
            swept_objects: 400,
            arena_objects: 900,
            ..CycleStats::default()
        });
        assert_eq!(r.cycle, 7);
        assert_eq!(
            (
                r.heap_live_bytes,
                r.heap_peak_bytes,
                r.heap_goal_bytes,
                r.trigger_bytes
            ),
            (10, 30, 32, 20)
        );
        assert!((r.assist_park_p50_us - 250.0).abs() < 1e-9);
        assert!((r.assist_park_max_us - 2000.0).abs() < 1e-9);
        assert_eq!((r.swept_objects, r.arena_objects), (400, 900));
    }

    #[test]
    fn csv_has_header_and_rows() {
        let mut buf = Vec::new();
        write_csv(&[sample_run("cpu", "tree", 10, 1e6)], &mut buf).unwrap();
        let s = String::from_utf8(buf).unwrap();
        let mut lines = s.lines();
        assert!(lines.next().unwrap().starts_with("backend,adapter,shape,"));
        assert!(lines.next().unwrap().starts_with("cpu,,tree,"));
    }
}
