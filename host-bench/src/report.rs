//! The report: one [`Run`] per backend × heap × thread count, written as JSON
//! Lines, CSV and an aligned table.

use crate::backend::Adapter;
use crate::error::BenchError;
use crate::machine::Machine;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// The version written in every record's `schema` field.
pub const SCHEMA_VERSION: u32 = 2;

/// One run's record.
///
/// Serialised field for field as the report format below, which is also the
/// text `host-bench --help` ends with:
///
#[doc = include_str!("schema.txt")]
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// Report format version ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// "host-bench <version>".
    pub tool: String,
    /// When the invocation started, seconds since 1970.
    pub unix_time: u64,
    /// "stw" (a stop-the-world mark); concurrent runs will add their own.
    pub mode: &'static str,
    /// Backend name.
    pub backend: &'static str,
    /// The GPU adapter; `None` for CPU backends.
    pub adapter: Option<Adapter>,
    /// Shape name, or "image".
    pub shape: String,
    /// The image file for `--heap`.
    pub heap: Option<String>,
    /// Objects in the heap.
    pub objects: u64,
    /// `--ptrs` of a built heap.
    pub ptrs: Option<u32>,
    /// `--roots` of a built heap.
    pub roots: Option<u32>,
    /// `--seed` of a built heap.
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
    /// Whether every mark equalled the reachable set; `None` if unchecked.
    pub verified: Option<bool>,
    /// Where it ran.
    pub machine: Machine,
}

/// Writes `runs` as JSON Lines.
pub fn write_json(runs: &[Run], mut w: impl Write) -> std::io::Result<()> {
    for r in runs {
        serde_json::to_writer(&mut w, r)?;
        writeln!(w)?;
    }
    w.flush()
}

/// Writes `runs` as JSON Lines to `path`.
pub fn write_json_file(runs: &[Run], path: &Path) -> Result<(), BenchError> {
    let f = std::fs::File::create(path).map_err(BenchError::io(path))?;
    write_json(runs, std::io::BufWriter::new(f)).map_err(BenchError::io(path))
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
            verified: Some(true),
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
    fn csv_has_header_and_rows() {
        let mut buf = Vec::new();
        write_csv(&[sample_run("cpu", "tree", 10, 1e6)], &mut buf).unwrap();
        let s = String::from_utf8(buf).unwrap();
        let mut lines = s.lines();
        assert!(lines.next().unwrap().starts_with("backend,adapter,shape,"));
        assert!(lines.next().unwrap().starts_with("cpu,,tree,"));
    }
}
