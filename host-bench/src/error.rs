//! host-bench's errors: each says what went wrong in terms the user can act on.

use crate::backend::{MarkError, Unavailable};
use gpumark::collector::CollectorError;
use gpumark::heap::ImageError;
use gpumark::import::ImportError;
use gpumark::verify::Mismatch;
use std::path::PathBuf;
use thiserror::Error;

/// Everything that can stop a benchmark.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The user asked for a backend this build or machine cannot run.
    #[error("backend {backend} is not available: {reason}")]
    BackendUnavailable {
        /// The backend's name.
        backend: &'static str,
        /// Why not.
        reason: Unavailable,
    },
    /// A mark could not be done.
    #[error("{backend} on {heap}: {source}")]
    Mark {
        /// The backend's name.
        backend: &'static str,
        /// The heap, described.
        heap: String,
        /// What failed.
        source: MarkError,
    },
    /// The heap needs more pointer slots than 32-bit slot indices address.
    #[error(
        "heap too large: {heap} needs about {slots} pointer slots, but slot indices are \
         32-bit (at most {limit}); use fewer --objects or --ptrs"
    )]
    TooManySlots {
        /// The heap, described.
        heap: String,
        /// Slots it would need.
        slots: u64,
        /// The most that fit.
        limit: u64,
    },
    /// The heap would not fit in the memory that is free.
    #[error(
        "heap too large for memory: {heap} needs about {need} to build, verify and mark, \
         but only {available} is available (MemAvailable in /proc/meminfo); use fewer \
         --objects or --ptrs"
    )]
    OutOfMemory {
        /// The heap, described.
        heap: String,
        /// Estimated need, human-readable.
        need: String,
        /// MemAvailable, human-readable.
        available: String,
    },
    /// The heap builder refused the heap (it would overflow 32-bit indices).
    #[error("cannot build {heap}: {source}")]
    Build {
        /// The heap, described.
        heap: String,
        /// What the builder said.
        source: gpumark::heap::HeapError,
    },
    /// A mark disagreed with the reference reachability pass.
    #[error("verification failed: {backend} on {heap} ({which} mark): {source}")]
    Mismatch {
        /// The backend's name.
        backend: &'static str,
        /// The heap, described.
        heap: String,
        /// "warm-up" or "timed #k".
        which: String,
        /// The first differing object.
        source: Mismatch,
    },
    /// `--save` with more than one heap planned.
    #[error(
        "--save writes one heap, but this invocation builds {count}; choose one with \
         --shape, --objects and --seed"
    )]
    SaveNeedsOneHeap {
        /// Heaps planned.
        count: usize,
    },
    /// A `--heap` file could not be imported: a malformed or truncated HPROF
    /// dump (the importer names the byte offset and record), a bad edge-list
    /// line (its number and content), a bad image, or a file in another
    /// format than `--format` says.
    #[error("cannot import {} as {what}: {source}", path.display())]
    Import {
        /// The file.
        path: PathBuf,
        /// The format it was read as, in words, and how that was settled
        /// ("an HPROF heap dump (by content)").
        what: String,
        /// What the importer found wrong.
        source: ImportError,
    },
    /// `--edge-roots` with a `--heap` file that is not an edge list.
    #[error(
        "--edge-roots chooses the roots of an edge list, but {} is {what}, which names its \
         own roots; drop --edge-roots, or say --format edges if it is an edge list",
        path.display()
    )]
    EdgeRootsNeedEdgeList {
        /// The file.
        path: PathBuf,
        /// Its format, in words.
        what: String,
    },
    /// More than one `--seed` with `--heap` when no seed chooses anything.
    #[error(
        "--seed lists {count} seeds, but --heap marks one heap; a list of seeds needs \
         --edge-roots random:N on an edge list (one set of random roots per seed)"
    )]
    HeapSeeds {
        /// Seeds given.
        count: usize,
    },
    /// A heap image could not be written.
    #[error("heap image {}: {source}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: ImageError,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A previous report could not be parsed.
    #[error("{}: line {line}: not a host-bench report: {source}", path.display())]
    ReportParse {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// A previous report has no stop-the-world runs in it.
    #[error("{}: no stop-the-world runs in this report", path.display())]
    EmptyReport {
        /// The file.
        path: PathBuf,
    },
    /// The CSV writer failed.
    #[error("{}: {source}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: csv::Error,
    },
    /// A plot could not be drawn.
    #[error("plot {name}: {message}")]
    Plot {
        /// Which plot.
        name: &'static str,
        /// The plotting library's complaint.
        message: String,
    },
    /// A concurrent cycle left a reachable object unmarked.
    #[error(
        "verification failed: concurrent cycle {cycle} on {heap} left a reachable object \
         unmarked ({failed} of {cycles} cycles failed; see the trace lines)"
    )]
    CycleUnverified {
        /// The heap, described.
        heap: String,
        /// The first failing cycle.
        cycle: u64,
        /// Cycles that failed.
        failed: usize,
        /// Cycles run.
        cycles: usize,
    },
    /// The collector or a mutator operation failed in a concurrent run.
    #[error("concurrent run on {heap}: {source}")]
    Collector {
        /// The heap, described.
        heap: String,
        /// What failed.
        source: CollectorError,
    },
    /// A backend that cannot scan for the concurrent collector.
    #[error(
        "backend {backend} cannot run the concurrent mode: concurrent cycles scan through \
         gpumark's ScanBackend, which is the CPU engine (--backend cpu) or a GPU backend \
         (gpu, vulkan, metal, dx12, gl)"
    )]
    NotConcurrent {
        /// The backend's name.
        backend: &'static str,
    },
    /// The arena a concurrent run needs exceeds gpumark's 32-bit indices.
    #[error(
        "heap too large: a concurrent run on {heap} needs an arena of more than {limit} objects \
         or slots (32-bit indices; the arena holds {factor} times the starting heap plus the \
         pacer's runway); use fewer --objects, or a smaller --gogc or --memory-limit",
        limit = u32::MAX
    )]
    ArenaIndices {
        /// The heap, described.
        heap: String,
        /// How many times the steady-state heap the arena holds
        /// (`concurrent::ARENA_FACTOR`).
        factor: u64,
    },
    /// The arena a concurrent run needs would not fit in free memory.
    #[error(
        "heap too large for memory: a concurrent run on {heap} needs about {need} (an arena of \
         {factor} times the starting heap plus the pacer's runway), but only {available} is \
         available (MemAvailable in /proc/meminfo); use fewer --objects, or a smaller --gogc or \
         --memory-limit"
    )]
    ArenaMemory {
        /// The heap, described.
        heap: String,
        /// How many times the steady-state heap the arena holds
        /// (`concurrent::ARENA_FACTOR`).
        factor: u64,
        /// Estimated need, human-readable.
        need: String,
        /// MemAvailable, human-readable.
        available: String,
    },
    /// Worker threads could not be started.
    #[error("cannot start {threads} worker threads: {source}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// rayon's complaint.
        source: rayon::ThreadPoolBuildError,
    },
}

impl BenchError {
    /// The process exit status: 1 for a wrong mark or cycle, 2 for everything else
    /// (clap also uses 2 for usage errors).
    pub fn exit_code(&self) -> u8 {
        match self {
            BenchError::Mismatch { .. } | BenchError::CycleUnverified { .. } => 1,
            _ => 2,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io { path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_names_the_object_and_exits_1() {
        let e = BenchError::Mismatch {
            backend: "cpu",
            heap: "random, 1000 objects × 4 ptrs, seed 42".into(),
            which: "timed #3".into(),
            source: Mismatch::Unmarked { obj: 17 },
        };
        assert_eq!(
            e.to_string(),
            "verification failed: cpu on random, 1000 objects × 4 ptrs, seed 42 (timed #3 mark): \
             object 17 is reachable but was not marked"
        );
        assert_eq!(e.exit_code(), 1);
        let e = BenchError::SaveNeedsOneHeap { count: 3 };
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn failed_cycle_names_the_cycle_and_exits_1() {
        let e = BenchError::CycleUnverified {
            heap: "random, 1000 objects; 2 mutators".into(),
            cycle: 4,
            failed: 2,
            cycles: 10,
        };
        assert_eq!(
            e.to_string(),
            "verification failed: concurrent cycle 4 on random, 1000 objects; 2 mutators left a \
             reachable object unmarked (2 of 10 cycles failed; see the trace lines)"
        );
        assert_eq!(e.exit_code(), 1);
    }
}
