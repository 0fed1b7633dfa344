//! `--compare OLD.json`: each run's median throughput against a previous
//! report's, so a change can be judged in one command.
//!
//! Runs match on backend, shape, objects and threads, and on seed and ptrs
//! where both reports record them. The ratio is new over old median edges per
//! second (above 1 is faster). A ratio is marked "within noise" when it is
//! closer to 1 than the two runs' relative spreads (MAD / median) added
//! together: such a difference is not evidence of a change.

use crate::error::BenchError;
use crate::record::Run;
use crate::report::{Align, Table};
use crate::stats::geomean;
use serde::Deserialize;
use std::path::Path;

/// A run as read back from a report (schema 1 or 2); fields it may lack are
/// optional.
#[derive(Clone, Debug, Deserialize)]
pub struct PastRun {
    /// Backend name.
    pub backend: String,
    /// Shape name.
    pub shape: String,
    /// Objects in the heap.
    pub objects: u64,
    /// Worker threads.
    pub threads: usize,
    /// Non-nil slots.
    pub edges: u64,
    /// Fastest mark.
    pub mark_s: f64,
    /// Median mark (schema 1 and 2).
    pub mark_median_s: Option<f64>,
    /// Median absolute deviation (schema 2).
    #[serde(default)]
    pub mark_mad_s: Option<f64>,
    /// Builder `--ptrs` (schema 2).
    #[serde(default)]
    pub ptrs: Option<u32>,
    /// Builder `--seed` (schema 2).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Where it ran (schema 2), kept loose so a report with other machine
    /// fields still reads.
    #[serde(default)]
    pub machine: Option<serde_json::Value>,
}

impl PastRun {
    /// Median throughput (the fastest mark's for reports without a median).
    fn eps(&self) -> f64 {
        self.edges as f64 / self.mark_median_s.unwrap_or(self.mark_s)
    }

    fn rel_mad(&self) -> Option<f64> {
        Some(self.mark_mad_s? / self.mark_median_s?)
    }

    fn matches(&self, o: &PastRun) -> bool {
        let agree = |a: Option<u64>, b: Option<u64>| a.zip(b).is_none_or(|(a, b)| a == b);
        self.backend == o.backend
            && self.shape == o.shape
            && self.objects == o.objects
            && self.threads == o.threads
            && agree(self.seed, o.seed)
            && agree(self.ptrs.map(u64::from), o.ptrs.map(u64::from))
    }
}

impl From<&Run> for PastRun {
    fn from(r: &Run) -> PastRun {
        PastRun {
            backend: r.header.backend.to_string(),
            shape: r.header.shape.clone(),
            objects: r.header.objects,
            threads: r.threads,
            edges: r.header.edges,
            mark_s: r.mark_s,
            mark_median_s: Some(r.mark_median_s),
            mark_mad_s: Some(r.mark_mad_s),
            ptrs: r.header.ptrs,
            seed: r.header.seed,
            machine: serde_json::to_value(&r.machine).ok(),
        }
    }
}

/// Whether a report record is a concurrent run, which has no mark
/// throughput to compare and is skipped.
fn is_concurrent(v: &serde_json::Value) -> bool {
    v.get("mode").and_then(|m| m.as_str()) == Some("concurrent")
}

/// Reads a report's stop-the-world runs: JSON Lines (what host-bench writes)
/// or a JSON array.
pub fn read_report(path: &Path) -> Result<Vec<PastRun>, BenchError> {
    let text = std::fs::read_to_string(path).map_err(BenchError::io(path))?;
    let parse_err = |line, source| BenchError::ReportParse {
        path: path.to_path_buf(),
        line,
        source,
    };
    let values: Vec<(usize, serde_json::Value)> = if text.trim_start().starts_with('[') {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| parse_err(e.line(), e))?;
        v.into_iter().map(|v| (1, v)).collect()
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                Ok((
                    i + 1,
                    serde_json::from_str(l).map_err(|e| parse_err(i + 1, e))?,
                ))
            })
            .collect::<Result<_, _>>()?
    };
    let runs: Vec<PastRun> = values
        .into_iter()
        .filter(|(_, v)| !is_concurrent(v))
        .map(|(line, v)| serde_json::from_value(v).map_err(|e| parse_err(line, e)))
        .collect::<Result<_, _>>()?;
    if runs.is_empty() {
        return Err(BenchError::EmptyReport {
            path: path.to_path_buf(),
        });
    }
    Ok(runs)
}

/// "cpu model, N cores" of a report's first run.
fn machine_of(runs: &[PastRun]) -> Option<String> {
    let m = runs.first()?.machine.as_ref()?;
    Some(format!(
        "{}, {} cores",
        m.get("cpu_model")?.as_str().unwrap_or("unknown CPU"),
        m.get("cores")?
    ))
}

/// A warning when the two reports come from different machines.
fn machine_note(old: &[PastRun], new: &[PastRun], old_name: &str) -> Option<String> {
    let (a, b) = (machine_of(old)?, machine_of(new)?);
    (a != b).then(|| {
        format!("note: {old_name} was measured on {a}, the new runs on {b}; ratios mix machine and code\n")
    })
}

/// The comparison of `new` against `old` (read from `old_name`), as text.
pub fn compare(old: &[PastRun], new: &[PastRun], old_name: &str) -> String {
    use Align::*;
    let mut t = Table::new(vec![
        ("backend", Left),
        ("shape", Left),
        ("objects", Right),
        ("thr", Right),
        ("old M edges/s", Right),
        ("new M edges/s", Right),
        ("ratio", Right),
        ("noise", Right),
        ("", Left),
    ]);
    let mut used = vec![false; old.len()];
    let mut ratios = Vec::new();
    let mut unmatched_new = 0;
    for n in new {
        let Some(i) = (0..old.len()).find(|&i| !used[i] && old[i].matches(n)) else {
            unmatched_new += 1;
            continue;
        };
        used[i] = true;
        let o = &old[i];
        let ratio = n.eps() / o.eps();
        ratios.push(ratio);
        let noise = o.rel_mad().zip(n.rel_mad()).map(|(a, b)| a + b);
        let note = match noise {
            Some(x) if (ratio - 1.0).abs() <= x => "within noise",
            _ => "",
        };
        t.row(vec![
            n.backend.clone(),
            n.shape.clone(),
            n.objects.to_string(),
            n.threads.to_string(),
            format!("{:.1}", o.eps() / 1e6),
            format!("{:.1}", n.eps() / 1e6),
            format!("{ratio:.2}x"),
            noise.map_or("-".into(), |x| format!("±{:.0}%", 100.0 * x)),
            note.into(),
        ]);
    }
    let unmatched_old = used.iter().filter(|u| !**u).count();
    let mut out = format!(
        "compared with {old_name}: {} of {} runs matched (ratio = new / old median edges/s; above 1 is faster)\n",
        ratios.len(),
        new.len()
    );
    if let Some(note) = machine_note(old, new, old_name) {
        out.push_str(&note);
    }
    if !ratios.is_empty() {
        out.push_str(&t.render());
    }
    if let Some(g) = geomean(&ratios) {
        out.push_str(&format!(
            "geometric mean ratio: {g:.3}x over {} runs\n",
            ratios.len()
        ));
    }
    if unmatched_new > 0 || unmatched_old > 0 {
        out.push_str(&format!(
            "unmatched: {unmatched_new} new runs not in {old_name}, {unmatched_old} of its runs not run now\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_run;

    #[test]
    fn ratios_of_matching_runs() {
        let old: Vec<PastRun> = [
            sample_run("cpu", "random", 100, 1e8),
            sample_run("bfs", "random", 100, 1e8),
        ]
        .iter()
        .map(PastRun::from)
        .collect();
        let new: Vec<PastRun> = [
            sample_run("cpu", "random", 100, 2e8),
            sample_run("bfs", "random", 100, 1.05e8),
            sample_run("cpu", "list", 100, 1e8),
        ]
        .iter()
        .map(PastRun::from)
        .collect();
        let s = compare(&old, &new, "old.json");
        assert!(s.contains("2 of 3 runs matched"), "{s}");
        assert!(s.contains("2.00x"), "{s}");
        assert!(s.contains("1.05x   ±20%  within noise"), "{s}");
        assert!(!s.contains("note:"), "same machine: {s}");
        assert!(s.contains("1 new runs not in old.json"), "{s}");
    }

    #[test]
    fn reads_schema_1_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v1.json");
        std::fs::write(
            &p,
            r#"{"backend":"cpu","shape":"random","objects":1048576,"edges":4194304,"marked":1,"threads":2,"mark_s":0.05,"mark_median_s":0.06,"mark_max_s":0.07,"reps":5,"edges_per_s":1.0,"ratio_to_bfs":null,"build_s":0.1,"verified":null}
"#,
        )
        .unwrap();
        let runs = read_report(&p).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].mark_median_s, Some(0.06));
        std::fs::write(&p, "{\"backend\": 3}\n").unwrap();
        let e = read_report(&p).unwrap_err().to_string();
        assert!(e.contains("line 1: not a host-bench report"), "{e}");
    }
}
