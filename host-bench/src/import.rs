//! Heaps from files (`--heap FILE`): gpumark images, JVM HPROF heap dumps and
//! SNAP-style edge lists, read with `gpumark::import`.
//!
//! Go counterpart: none; the nearest is reading a `debug.WriteHeapDump` file
//! back into a viewer. A built heap has the shape its builder gives it; an
//! imported one has a real program's degree distribution, root set and long
//! chains, so its marks are worth comparing with the built shapes'.
//!
//! The format is settled when the plan is made, before anything runs: named
//! by `--format`, or told from the file's first bytes (`gpumark::import::sniff`).
//! So a missing file, or `--edge-roots` on a file that is not an edge list,
//! fails at once rather than after the runs before it.
//!
//! What the import found (objects, edges, roots, references to absent ids,
//! HPROF record counts, the file's size and the import time) is an
//! [`ImportRecord`] (in [`crate::record`]; `ImportRecord::new` is here): the
//! `import` object of each run's JSON record, and the short block
//! [`crate::report::import_text`] prints before the table. Its `reached` count
//! is the run's own: the objects its marks reached (a stop-the-world run), or
//! the objects reachable in the starting heap (a concurrent run, whose cycles
//! also mark what the mutators allocate).

use crate::cli::EdgeRoots;
use crate::error::BenchError;
use crate::progress::Progress;
use crate::record::ImportRecord;
use gpumark::heap::Heap;
use gpumark::import::{
    load_heap_file, sniff, EdgeListOptions, Format, HprofOptions, ImportError, ImportReport,
    LoadOptions, RootChoice,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A heap file and how to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeapFile {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Whether `--format` named the format (rather than the file's content).
    pub forced: bool,
    /// The roots of an edge list; `None` for the other formats.
    pub roots: Option<RootChoice>,
}

impl HeapFile {
    /// The file at `path` in `format`, or in the format its content shows;
    /// for an edge list, with the roots `edge_roots` chooses (seeded by
    /// `seed`), in-degree zero by default.
    pub fn resolve(
        path: &Path,
        format: Option<Format>,
        edge_roots: Option<&EdgeRoots>,
        seed: u64,
    ) -> Result<HeapFile, BenchError> {
        let forced = format.is_some();
        let format = match format {
            Some(f) => f,
            None => sniff(path).map_err(|e| import_error(path, None, e))?,
        };
        let mut file = HeapFile {
            path: path.to_path_buf(),
            format,
            forced,
            roots: None,
        };
        match (format, edge_roots) {
            (Format::EdgeList, r) => {
                file.roots = Some(r.map_or(RootChoice::InDegreeZero, |r| r.choice(seed)));
            }
            (_, Some(_)) => {
                return Err(BenchError::EdgeRootsNeedEdgeList {
                    path: path.to_path_buf(),
                    what: file.what(),
                })
            }
            (_, None) => {}
        }
        Ok(file)
    }

    /// The format in words, with how it was settled: "an HPROF heap dump
    /// (by content)".
    pub fn what(&self) -> String {
        let how = if self.forced {
            format!("--format {}", self.format)
        } else {
            "by content".into()
        };
        format!("{} ({how})", format_words(self.format))
    }

    /// The file in words, for messages and progress: "hprof dump.hprof",
    /// "edges g.txt, roots random:5 seed 7".
    pub fn describe(&self) -> String {
        match &self.roots {
            Some(r) => format!(
                "{} {}, roots {}",
                self.format,
                self.path.display(),
                roots_words(r)
            ),
            None => format!("{} {}", self.format, self.path.display()),
        }
    }

    /// The seed of random edge-list roots.
    pub fn seed(&self) -> Option<u64> {
        match self.roots {
            Some(RootChoice::Random { seed, .. }) => Some(seed),
            _ => None,
        }
    }

    /// Reads the file into a heap, showing the bytes read so far on
    /// `progress`. The record's `reached` fields are left for the caller.
    pub fn load(&self, progress: &Progress) -> Result<(Heap, ImportRecord), BenchError> {
        let total = std::fs::metadata(&self.path)
            .map_err(BenchError::io(&self.path))?
            .len();
        let callback = progress.bytes_callback(self.describe(), total);
        let opts = LoadOptions {
            hprof: HprofOptions {
                progress: callback.clone(),
                ..HprofOptions::default()
            },
            edge_list: EdgeListOptions {
                roots: self.roots.clone().unwrap_or_default(),
                progress: callback,
                ..EdgeListOptions::default()
            },
        };
        let t = Instant::now();
        let imp = load_heap_file(&self.path, Some(self.format), &opts)
            .map_err(|e| import_error(&self.path, Some(self), e))?;
        let import_s = t.elapsed().as_secs_f64();
        let record = ImportRecord::new(&imp.report, self, import_s);
        Ok((imp.heap, record))
    }
}

/// The error for `file` (at `path`) failing to import: an unreadable file is
/// an I/O error on it; anything else names the format it was read as.
fn import_error(path: &Path, file: Option<&HeapFile>, e: ImportError) -> BenchError {
    match (e, file) {
        (ImportError::Open { path, source }, _) => BenchError::Io { path, source },
        (e, Some(file)) => BenchError::Import {
            path: path.to_path_buf(),
            what: file.what(),
            source: e,
        },
        (ImportError::Io { source, .. }, None) => BenchError::Io {
            path: path.to_path_buf(),
            source,
        },
        (e, None) => BenchError::Import {
            path: path.to_path_buf(),
            what: "a heap file".into(),
            source: e,
        },
    }
}

/// A format in words, with its article.
fn format_words(f: Format) -> &'static str {
    match f {
        Format::GpumarkImage => "a gpumark heap image",
        Format::Hprof => "an HPROF heap dump",
        Format::EdgeList => "an edge list",
        _ => "a heap file",
    }
}

/// An edge-list root choice as `--edge-roots` spells it (with the seed).
fn roots_words(r: &RootChoice) -> String {
    match r {
        RootChoice::InDegreeZero => "in-degree-zero".into(),
        RootChoice::Nodes(ids) => {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            format!("nodes:{}", ids.join(","))
        }
        RootChoice::Random { count, seed } => format!("random:{count} seed {seed}"),
        _ => format!("{r:?}"),
    }
}

impl ImportRecord {
    /// The record of `report`, an import of `file` that took `import_s`.
    fn new(report: &ImportReport, file: &HeapFile, import_s: f64) -> ImportRecord {
        let hprof = |n: u64| (file.format == Format::Hprof).then_some(n);
        ImportRecord {
            format: file.format.name(),
            format_forced: file.forced,
            input_bytes: report.input_bytes,
            import_s,
            objects: report.objects,
            edges: report.edges,
            slots: report.slots,
            roots: report.roots,
            missing_refs: report.missing_refs,
            missing_roots: report.missing_roots,
            reached: 0,
            reached_fraction: None,
            heap_bytes: report.bytes,
            sizes_raised: report.sizes_raised,
            sizes_clamped: report.sizes_clamped,
            classes: hprof(report.classes),
            instances: hprof(report.instances),
            object_arrays: hprof(report.object_arrays),
            primitive_arrays: hprof(report.primitive_arrays),
            root_kinds: (file.format == Format::Hprof).then(|| {
                report
                    .root_kinds
                    .iter()
                    .map(|(k, &n)| (k.name(), n))
                    .collect()
            }),
            edge_roots: file.roots.as_ref().map(|r| match r {
                // The seed is the record's `seed`.
                RootChoice::Random { count, .. } => format!("random:{count}"),
                r => roots_words(r),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::import_text;
    use std::collections::BTreeMap;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name)
    }

    #[test]
    fn resolves_by_content_and_refuses_edge_roots_elsewhere() {
        let f = HeapFile::resolve(&fixture("tiny.hprof"), None, None, 1).unwrap();
        assert_eq!(
            (f.format, f.forced, f.roots.clone()),
            (Format::Hprof, false, None)
        );
        assert_eq!(f.what(), "an HPROF heap dump (by content)");
        let f = HeapFile::resolve(&fixture("tiny.edges"), None, None, 1).unwrap();
        assert_eq!(f.roots, Some(RootChoice::InDegreeZero));
        let f = HeapFile::resolve(
            &fixture("tiny.edges"),
            Some(Format::EdgeList),
            Some(&EdgeRoots::Random(3)),
            9,
        )
        .unwrap();
        assert_eq!(f.seed(), Some(9));
        assert!(f.describe().ends_with("tiny.edges, roots random:3 seed 9"));
        let e = HeapFile::resolve(
            &fixture("tiny.hprof"),
            None,
            Some(&EdgeRoots::InDegreeZero),
            1,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("is an HPROF heap dump (by content)"),
            "{e}"
        );
        let e = HeapFile::resolve(&fixture("absent"), None, None, 1).unwrap_err();
        assert!(matches!(e, BenchError::Io { .. }), "{e}");
    }

    #[test]
    fn tiny_hprof_record_and_text() {
        let f = HeapFile::resolve(&fixture("tiny.hprof"), None, None, 1).unwrap();
        let (heap, r) = f.load(&Progress::new(1, false)).unwrap();
        assert_eq!((r.objects, heap.len()), (18, 18));
        assert_eq!((r.edges, r.roots, r.missing_refs), (27, 9, 3));
        assert_eq!(r.classes, Some(6));
        assert_eq!(r.root_kinds.as_ref().map(BTreeMap::len), Some(9));
        assert_eq!(r.edge_roots, None);
        let r = r.with_reached(15);
        let text = import_text("tiny.hprof", &r);
        assert!(text.starts_with("import: tiny.hprof (hprof, by content): 1.6 KiB in "));
        for needle in [
            "18 objects (6 classes, 9 instances, 1 object array, 2 primitive arrays), 27 edges, \
             9 roots\n",
            "root records: ",
            "sticky_class 2",
            "3 references to absent ids, stored as nil (1 of them a root, dropped)\n",
            "reached 15 of 18 objects (83.33%)\n",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
    }

    #[test]
    fn empty_heap_has_no_fraction() {
        let f = HeapFile::resolve(&fixture("tiny.edges"), None, None, 1).unwrap();
        let (_, r) = f.load(&Progress::new(1, false)).unwrap();
        let empty = ImportRecord { objects: 0, ..r }.with_reached(0);
        assert_eq!(empty.reached_fraction, None);
        assert!(import_text("e", &empty).contains("the heap is empty"));
    }
}
