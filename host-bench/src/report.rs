//! Writing the report: the [`Run`] of each backend × heap × thread count of
//! the stop-the-world mode as JSON Lines, CSV and an aligned table, and the
//! [`ConcurrentRun`] of each concurrent run as JSON Lines, trace lines and a
//! summary table; what an import found as a short block before them. The
//! records themselves are in [`crate::record`].

use crate::concurrent::ARENA_FACTOR;
use crate::error::BenchError;
use crate::machine::human_bytes;
use crate::record::{ConcurrentRun, ImportRecord, OpTotals, OpsPer1024Edges, Report, Run};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

impl ConcurrentRun {
    /// The run in words: heap, mutators and pacer settings.
    pub fn describe(&self) -> String {
        let h = &self.header;
        let heap = match &h.heap {
            Some(p) => format!("{} {p}", h.shape),
            None => format!(
                "{}, {} objects{}",
                h.shape,
                h.objects,
                match (h.ptrs, h.seed) {
                    (Some(k), Some(s)) if h.shape != "list" => format!(" × {k} ptrs, seed {s}"),
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
        if let (Some(a), Some(g)) = (&h.adapter, &self.gpu) {
            s.push_str(&format!(
                "; scanning on {} ({}, offload {})",
                h.backend, a.name, g.offload
            ));
        }
        s
    }
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
            backend: r.header.backend,
            adapter: r.header.adapter.as_ref().map_or("", |a| &a.name),
            shape: &r.header.shape,
            heap: r.header.heap.as_deref().unwrap_or(""),
            objects: r.header.objects,
            ptrs: r.header.ptrs,
            roots: r.header.roots,
            seed: r.header.seed,
            edges: r.header.edges,
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
        ("prepare ms", Right),
        ("verified", Left),
    ]);
    for r in runs {
        t.row(vec![
            r.header.backend.to_string(),
            r.header
                .adapter
                .as_ref()
                .map_or("-".into(), |a| a.name.clone()),
            r.header.shape.clone(),
            r.header.objects.to_string(),
            r.header.edges.to_string(),
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
            r.gpu.as_ref().map_or("-".into(), |g| fmt_ms(g.prepare_s)),
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

/// Seconds, in ms below one.
fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{} ms", fmt_ms(s))
    }
}

/// `n` and `noun`, plural (with `s`, or `es` after an s) unless one.
fn count(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ if noun.ends_with('s') => format!("{n} {noun}es"),
        _ => format!("{n} {noun}s"),
    }
}

/// The block printed before the table for a heap imported from `heap` (the
/// file, as the report gives it): what the import found and what the marks
/// reached.
pub fn import_text(heap: &str, r: &ImportRecord) -> String {
    let how = if r.format_forced {
        "--format"
    } else {
        "by content"
    };
    let mut s = format!(
        "import: {heap} ({}, {how}): {} in {}\n",
        r.format,
        human_bytes(r.input_bytes),
        fmt_time(r.import_s)
    );
    s.push_str(&format!("  {}", count(r.objects, "object")));
    if let (Some(c), Some(i), Some(oa), Some(pa)) =
        (r.classes, r.instances, r.object_arrays, r.primitive_arrays)
    {
        s.push_str(&format!(
            " ({}, {}, {}, {})",
            count(c, "class"),
            count(i, "instance"),
            count(oa, "object array"),
            count(pa, "primitive array")
        ));
    }
    s.push_str(&format!(
        ", {}, {}",
        count(r.edges, "edge"),
        count(r.roots, "root")
    ));
    if let Some(e) = &r.edge_roots {
        s.push_str(&format!(" ({e})"));
    }
    s.push('\n');
    if let Some(kinds) = r.root_kinds.as_ref().filter(|k| !k.is_empty()) {
        let kinds: Vec<String> = kinds
            .iter()
            .map(|(k, n)| {
                let k = k.strip_prefix("ROOT_").unwrap_or(k).to_ascii_lowercase();
                format!("{k} {n}")
            })
            .collect();
        s.push_str(&format!("  root records: {}\n", kinds.join(", ")));
    }
    s.push_str(&format!(
        "  {} to absent ids",
        count(r.missing_refs, "reference")
    ));
    match (r.missing_refs, r.missing_roots) {
        (0, _) => {}
        (_, 0) => s.push_str(", stored as nil"),
        (_, m) => s.push_str(&format!(
            ", stored as nil ({m} of them {}, dropped)",
            if m == 1 { "a root" } else { "roots" }
        )),
    }
    s.push('\n');
    if r.sizes_raised > 0 || r.sizes_clamped > 0 {
        s.push_str(&format!(
            "  object sizes: {} raised to 8 bytes per slot, {} clamped to 4 GiB\n",
            r.sizes_raised, r.sizes_clamped
        ));
    }
    match r.reached_fraction {
        Some(f) => s.push_str(&format!(
            "  reached {} of {} objects ({:.2}%)\n",
            r.reached,
            r.objects,
            100.0 * f
        )),
        None => s.push_str("  reached 0 objects: the heap is empty\n"),
    }
    s
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
            r.header.backend, r.header.shape, r.header.objects, r.threads
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

/// `--count-ops`: for each GPU run, its last timed mark's operation counts
/// ([`ops_table`]). Empty when no run counted.
pub fn stw_ops_text(runs: &[Run]) -> String {
    let mut out = String::new();
    for r in runs {
        let Some(g) = &r.gpu else { continue };
        let Some(ops) = &g.ops else { continue };
        out.push_str(&format!(
            "\nGPU operations: {} on {} {}, {} threads (last timed mark; counting kernels, so \
             the run's times are no throughput figures)\n",
            r.header.backend, r.header.shape, r.header.objects, r.threads
        ));
        out.push_str(&ops_table(ops, g.ops_per_1024_edges.as_ref()));
    }
    out
}

/// `--count-ops`: for each concurrent run on a GPU, its operation counts
/// summed over the run ([`ops_table`]). Empty when no run counted.
pub fn concurrent_ops_text(runs: &[ConcurrentRun]) -> String {
    let mut out = String::new();
    for r in runs {
        let Some(g) = &r.gpu else { continue };
        let Some(ops) = &g.ops else { continue };
        out.push_str(&format!(
            "\nGPU operations: {}, concurrent run on {} {}, {} mutators, GOMAXPROCS {} (summed \
             over its {} cycles; counting kernels)\n",
            r.header.backend,
            r.header.shape,
            r.header.objects,
            r.mutators,
            r.gomaxprocs,
            r.cycles.len()
        ));
        out.push_str(&ops_table(ops, g.ops_per_1024_edges.as_ref()));
    }
    out
}

/// One run's operation counts: each category's total and, for the
/// per-edge costs, its count per 1024 edges (`-` where the GPU followed no
/// edge); levels, empty levels, the largest workgroup's slots and the
/// edges as plain totals.
pub fn ops_table(ops: &OpTotals, per_1024: Option<&OpsPer1024Edges>) -> String {
    use Align::*;
    let mut t = Table::new(vec![
        ("operation", Left),
        ("total", Right),
        ("per 1024 edges", Right),
    ]);
    let rate =
        |f: fn(&OpsPer1024Edges) -> f64| per_1024.map_or("-".into(), |p| format!("{:.2}", f(p)));
    let rows: [(&str, u64, String); 13] = [
        ("ctl_atomics", ops.ctl_atomics, rate(|p| p.ctl_atomics)),
        (
            "stripe_atomics",
            ops.stripe_atomics,
            rate(|p| p.stripe_atomics),
        ),
        ("mark_atomics", ops.mark_atomics, rate(|p| p.mark_atomics)),
        ("mark_loads", ops.mark_loads, rate(|p| p.mark_loads)),
        (
            "descriptor_loads",
            ops.descriptor_loads,
            rate(|p| p.descriptor_loads),
        ),
        ("slot_loads", ops.slot_loads, rate(|p| p.slot_loads)),
        ("ring_writes", ops.ring_writes, rate(|p| p.ring_writes)),
        ("ring_reads", ops.ring_reads, rate(|p| p.ring_reads)),
        (
            "workgroup_barriers",
            ops.workgroup_barriers,
            rate(|p| p.workgroup_barriers),
        ),
        ("levels", ops.levels, "-".into()),
        ("empty_levels", ops.empty_levels, "-".into()),
        ("max_workgroup_slots", ops.max_workgroup_slots, "-".into()),
        ("edges", ops.edges, "-".into()),
    ];
    for (name, total, per) in rows {
        t.row(vec![name.into(), total.to_string(), per]);
    }
    t.render()
}

/// [`imports_text`] of stop-the-world runs.
pub fn stw_imports_text(runs: &[Run]) -> String {
    imports_text(
        runs.iter()
            .map(|r| (&r.header.heap, r.header.seed, &r.import)),
    )
}

/// [`imports_text`] of concurrent runs.
pub fn concurrent_imports_text(runs: &[ConcurrentRun]) -> String {
    imports_text(
        runs.iter()
            .map(|r| (&r.header.heap, r.header.seed, &r.import)),
    )
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
            r.header.backend.to_string(),
            r.header.shape.clone(),
            r.header.objects.to_string(),
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
    use crate::record::{GpuFigures, Machine, RecordHeader, SCHEMA_VERSION};

    /// A run with plausible numbers, for tests here and in other modules.
    pub(crate) fn sample_run(backend: &'static str, shape: &str, objects: u64, eps: f64) -> Run {
        let edges = objects * 4;
        let t = edges as f64 / eps;
        Run {
            header: RecordHeader {
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
            },
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

    /// Hand-made counts: 2048 edges, so each per-edge rate is half the
    /// total.
    fn sample_ops() -> (OpTotals, OpsPer1024Edges) {
        let ops = OpTotals {
            ctl_atomics: 10,
            stripe_atomics: 30,
            mark_atomics: 2000,
            mark_loads: 2100,
            descriptor_loads: 600,
            slot_loads: 2400,
            ring_writes: 500,
            ring_reads: 512,
            workgroup_barriers: 64,
            levels: 17,
            empty_levels: 3,
            max_workgroup_slots: 4096,
            edges: 2048,
        };
        let per_1024 = OpsPer1024Edges {
            ctl_atomics: 5.0,
            stripe_atomics: 15.0,
            mark_atomics: 1000.0,
            mark_loads: 1050.0,
            descriptor_loads: 300.0,
            slot_loads: 1200.0,
            ring_writes: 250.0,
            ring_reads: 256.0,
            workgroup_barriers: 32.0,
        };
        (ops, per_1024)
    }

    #[test]
    fn ops_table_gives_totals_and_rates_per_1024_edges() {
        let (ops, per_1024) = sample_ops();
        let t = ops_table(&ops, Some(&per_1024));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 14, "{t}");
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["operation", "total", "per", "1024", "edges"]
        );
        let line = |name: &str| -> &str {
            let l = lines.iter().find(|l| l.starts_with(&format!("{name} ")));
            l.unwrap_or_else(|| panic!("no {name} row in:\n{t}"))
        };
        let row = |name: &str| -> Vec<&str> { line(name).split_whitespace().collect() };
        assert_eq!(row("ctl_atomics"), ["ctl_atomics", "10", "5.00"]);
        assert_eq!(row("stripe_atomics"), ["stripe_atomics", "30", "15.00"]);
        assert_eq!(
            row("descriptor_loads"),
            ["descriptor_loads", "600", "300.00"]
        );
        assert_eq!(
            row("workgroup_barriers"),
            ["workgroup_barriers", "64", "32.00"]
        );
        // Plain totals: no rate.
        assert_eq!(row("levels"), ["levels", "17", "-"]);
        assert_eq!(row("empty_levels"), ["empty_levels", "3", "-"]);
        assert_eq!(
            row("max_workgroup_slots"),
            ["max_workgroup_slots", "4096", "-"]
        );
        assert_eq!(row("edges"), ["edges", "2048", "-"]);
        // Right-aligned: every total ends where the heading does.
        let end = |l: &str, pat: &str| l.find(pat).map(|i| i + pat.len());
        assert_eq!(end(lines[0], "total"), end(line("edges"), "2048"));
        // No edge followed: no rates.
        let t = ops_table(&OpTotals::default(), None);
        assert!(t.lines().skip(1).all(|l| l.ends_with(" -")), "{t}");
    }

    #[test]
    fn ops_text_only_for_runs_that_counted() {
        let (ops, per_1024) = sample_ops();
        let mut counted = sample_run("vulkan", "random", 512, 1e6);
        counted.gpu = Some(GpuFigures {
            ops: Some(ops),
            ops_per_1024_edges: Some(per_1024),
            ..GpuFigures::default()
        });
        let mut uncounted = sample_run("vulkan", "list", 512, 1e6);
        uncounted.gpu = Some(GpuFigures::default());
        let cpu = sample_run("cpu", "random", 512, 1e6);
        assert_eq!(stw_ops_text(&[uncounted.clone(), cpu.clone()]), "");
        let s = stw_ops_text(&[cpu, counted, uncounted]);
        assert!(
            s.starts_with("\nGPU operations: vulkan on random 512, 2 threads (last timed mark;"),
            "{s}"
        );
        assert_eq!(s.matches("GPU operations:").count(), 1, "{s}");
        assert!(s.contains("no throughput figures"), "{s}");
    }

    #[test]
    fn json_gpu_ops_are_null_unless_counted() {
        let json = |gpu: GpuFigures| -> serde_json::Value {
            let mut r = sample_run("vulkan", "random", 512, 1e6);
            r.gpu = Some(gpu);
            let mut buf = Vec::new();
            write_json(
                &Report {
                    stw: vec![r],
                    concurrent: vec![],
                },
                &mut buf,
            )
            .unwrap();
            serde_json::from_slice(&buf).unwrap()
        };
        let r = json(GpuFigures::default());
        assert!(r["gpu"]["ops"].is_null(), "{r}");
        assert!(r["gpu"]["ops_per_1024_edges"].is_null(), "{r}");
        let (ops, per_1024) = sample_ops();
        let r = json(GpuFigures {
            ops: Some(ops),
            ops_per_1024_edges: Some(per_1024),
            ..GpuFigures::default()
        });
        let o = r["gpu"]["ops"].as_object().expect("an ops object");
        assert_eq!(o.len(), 13, "{r}");
        assert!(o.values().all(|v| v.is_u64()), "{r}");
        assert_eq!(o["max_workgroup_slots"], 4096);
        assert_eq!(o["stripe_atomics"], 30);
        let p = r["gpu"]["ops_per_1024_edges"].as_object().expect("rates");
        assert_eq!(p.len(), 9, "{r}");
        assert!(p.values().all(|v| v.is_f64()), "{r}");
        for k in ["levels", "empty_levels", "max_workgroup_slots", "edges"] {
            assert!(!p.contains_key(k), "{k} is no per-edge cost");
        }
        assert!(p.keys().all(|k| o.contains_key(k)));
        assert_eq!(p["ring_reads"], 256.0);
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
