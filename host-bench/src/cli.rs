//! Command-line arguments.
//!
//! Every list flag takes comma-separated values (`--objects 65536,262144`);
//! the runs are the cross product of heaps (sizes × seeds × shapes), thread
//! counts and backends. With no arguments at all host-bench runs the default
//! suite: every backend this build has, every shape, three sizes.

use crate::backend::{parse_backend, Backend};
use clap::{Parser, ValueEnum};
use gpumark::heap::Shape;
use std::path::PathBuf;

/// The sizes the default suite marks: small enough that the whole suite runs
/// in about a minute on a 2-core machine, large enough (the biggest) that the
/// heap is far out of cache, and three of them so a scaling plot is drawn.
pub const DEFAULT_OBJECTS: [&str; 3] = ["262144", "1048576", "4194304"];

/// Where the report files go unless `--out` or `--no-out` says otherwise.
pub const DEFAULT_OUT: &str = "host-bench-report";

const LONG_ABOUT: &str = "\
Marks synthetic or saved heaps with each gpumark backend and reports edges per
second against the `bfs` floor (a plain parallel BFS over the same heap).

With no arguments, runs the default suite: every backend this build has, the
shapes random, list, tree, wide and powerlaw at 262144, 1048576 and 4194304
objects (35-45 s on 2 cores), verifies every mark, prints one table and
writes report.json, runs.csv and SVG plots to ./host-bench-report.

Each run is one warm-up mark (untimed, verified) and --reps timed marks (each
verified outside the timed region). The table gives the median mark time, its
spread (median absolute deviation as a percentage of the median), median
throughput in millions of edges per second, and the ratio of that throughput to
bfs's on the same heap and thread count. Heap building is timed separately
(build_s in the report). The progress bar, on a terminal only, is redrawn
between marks, never during one.";

/// Marks heaps with gpumark's backends and reports edges per second.
#[derive(Parser, Debug)]
#[command(version, about, long_about = LONG_ABOUT, after_long_help = include_str!("schema.txt"))]
pub struct Args {
    /// Backends to run, comma-separated: cpu-serial, cpu, bfs, and the GPU
    /// backends gpu, vulkan, metal, dx12, gl [default: every backend available]
    #[arg(long, value_delimiter = ',', value_parser = parse_backend)]
    pub backend: Vec<Backend>,

    /// Heap shapes to build, comma-separated
    #[arg(
        long,
        value_delimiter = ',',
        default_values = ["random", "list", "tree", "wide", "powerlaw"]
    )]
    pub shape: Vec<ShapeArg>,

    /// Objects per heap; a list runs each size (a scaling run)
    #[arg(long, value_delimiter = ',', value_parser = parse_objects, default_values = DEFAULT_OBJECTS)]
    pub objects: Vec<u32>,

    /// Pointer slots per object (arity for tree, mean for powerlaw, ignored by list)
    #[arg(long, default_value_t = 4)]
    pub ptrs: u32,

    /// Random roots (random and powerlaw shapes)
    #[arg(long, default_value_t = 1024)]
    pub roots: u32,

    /// Seeds for the heap builder; a list builds one heap per seed
    #[arg(long, value_delimiter = ',', default_values = ["42"])]
    pub seed: Vec<u64>,

    /// Mark a saved heap image instead of building heaps
    #[arg(long, value_name = "IMAGE", conflicts_with_all = ["shape", "objects", "ptrs", "roots", "seed"])]
    pub heap: Option<PathBuf>,

    /// Save the built heap to this file (needs exactly one heap)
    #[arg(long, value_name = "IMAGE")]
    pub save: Option<PathBuf>,

    /// Worker threads; a list runs each count [default: all cores]
    #[arg(long, value_delimiter = ',', value_parser = parse_threads)]
    pub threads: Vec<usize>,

    /// Timed marks per run
    #[arg(long, default_value_t = 5, value_parser = parse_reps)]
    pub reps: usize,

    /// Untimed warm-up marks before the timed ones
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,

    /// Check every mark against a sequential reachability pass (the default)
    #[arg(long, overrides_with = "no_verify")]
    pub verify: bool,

    /// Skip verification (faster on huge heaps; `verified` is then null)
    #[arg(long, overrides_with = "verify")]
    pub no_verify: bool,

    /// Write the report, one JSON object per run, to FILE ("-" for stdout,
    /// which sends the table to stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,

    /// Write report.json, runs.csv and SVG plots to DIR [default: host-bench-report]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write no files except --json
    #[arg(long, conflicts_with = "out")]
    pub no_out: bool,

    /// Print each run's throughput against a previous report (matched on
    /// backend, shape, objects and threads)
    #[arg(long, value_name = "OLD.json")]
    pub compare: Option<PathBuf>,

    /// With --compare: compare against this saved report instead of running
    #[arg(long, value_name = "NEW.json", requires = "compare")]
    pub against: Option<PathBuf>,
}

impl Args {
    /// Whether marks are verified.
    pub fn verify(&self) -> bool {
        !self.no_verify
    }

    /// The output directory, if files are to be written.
    pub fn out_dir(&self) -> Option<PathBuf> {
        if self.no_out {
            None
        } else {
            Some(self.out.clone().unwrap_or_else(|| DEFAULT_OUT.into()))
        }
    }
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
        assert_eq!(a.shape.len(), 5);
        assert_eq!(a.objects, vec![262144, 1048576, 4194304]);
        assert!(a.verify());
        assert_eq!(a.out_dir(), Some(PathBuf::from(DEFAULT_OUT)));
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
}
