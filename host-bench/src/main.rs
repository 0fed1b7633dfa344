//! host-bench: marks synthetic or saved heaps with each gpumark backend and
//! reports throughput against the `bfs` floor.

use clap::{Parser, ValueEnum};
use gpumark::baseline::bfs_mark;
use gpumark::heap::{build, load_image_file, save_image_file, Heap, Shape, ShapeSpec};
use gpumark::mark::{mark_stw, MarkBits};
use gpumark::verify::{check_exact, reachable};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// A mark backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// The engine with all worker threads.
    Cpu,
    /// The engine with one worker.
    CpuSerial,
    /// Plain level-synchronous rayon BFS: the floor.
    Bfs,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::CpuSerial => "cpu-serial",
            Backend::Bfs => "bfs",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ShapeArg {
    Random,
    List,
    Tree,
    Wide,
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

/// Marks heaps with gpumark's backends and reports edges per second.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Backends to run (comma-separated).
    #[arg(long, value_delimiter = ',', default_values = ["cpu-serial", "cpu", "bfs"])]
    backend: Vec<Backend>,
    /// Heap shapes to build (comma-separated).
    #[arg(long, value_delimiter = ',', default_values = ["random"])]
    shape: Vec<ShapeArg>,
    /// Objects per heap.
    #[arg(long, default_value_t = 1 << 20)]
    objects: u32,
    /// Pointer slots per object (arity for tree, mean for powerlaw).
    #[arg(long, default_value_t = 4)]
    ptrs: u32,
    /// Random roots (random and powerlaw shapes).
    #[arg(long, default_value_t = 1024)]
    roots: u32,
    /// Seed for the heap builder.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Mark a saved heap image instead of building one.
    #[arg(long)]
    heap: Option<PathBuf>,
    /// Save the built heap to this file.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Timed repetitions per run (after one warm-up).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Check every marked set against a sequential reachability pass.
    #[arg(long)]
    verify: bool,
    /// Write one JSON object per run to FILE ("-" for stdout).
    #[arg(long)]
    json: Option<String>,
}

/// One run's report; the JSON schema.
#[derive(Serialize, Debug)]
struct Run {
    backend: &'static str,
    shape: String,
    objects: u64,
    edges: u64,
    marked: u64,
    threads: usize,
    /// Best of the timed repetitions, seconds.
    mark_s: f64,
    /// Median of the timed repetitions, seconds.
    mark_median_s: f64,
    /// Slowest repetition, seconds.
    mark_max_s: f64,
    reps: usize,
    /// Edges (non-nil slots) divided by `mark_s`.
    edges_per_s: f64,
    /// `edges_per_s` over the bfs floor's in this invocation, if it ran.
    ratio_to_bfs: Option<f64>,
    build_s: f64,
    verified: Option<bool>,
}

struct Marked {
    marked: u64,
    bits: MarkBits,
}

fn mark_once(
    backend: Backend,
    heap: &Arc<Heap>,
    threads: usize,
    pool: &rayon::ThreadPool,
) -> Marked {
    match backend {
        Backend::Cpu => {
            let r = mark_stw(heap, threads);
            Marked {
                marked: r.marked,
                bits: r.bits,
            }
        }
        Backend::CpuSerial => {
            let r = mark_stw(heap, 1);
            Marked {
                marked: r.marked,
                bits: r.bits,
            }
        }
        Backend::Bfs => {
            let r = bfs_mark(heap, pool);
            Marked {
                marked: r.marked,
                bits: r.bits,
            }
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("host-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let json_to_stdout = args.json.as_deref() == Some("-");
    let mut table: Box<dyn Write> = if json_to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let mut runs = Vec::new();
    let mut all_ok = true;

    let heaps: Vec<(String, Arc<Heap>, f64)> = match &args.heap {
        Some(path) => {
            let t = Instant::now();
            let h = load_image_file(path)?;
            vec![(
                path.display().to_string(),
                Arc::new(h),
                t.elapsed().as_secs_f64(),
            )]
        }
        None => args
            .shape
            .iter()
            .map(|&s| {
                let t = Instant::now();
                let spec = ShapeSpec {
                    shape: s.into(),
                    objects: args.objects,
                    ptrs: args.ptrs,
                    roots: args.roots,
                    seed: args.seed,
                };
                let h = build(&spec);
                (
                    spec.shape.name().to_string(),
                    Arc::new(h),
                    t.elapsed().as_secs_f64(),
                )
            })
            .collect(),
    };
    if let (Some(path), Some((_, h, _))) = (&args.save, heaps.first()) {
        save_image_file(h, path)?;
        writeln!(table, "saved heap to {}", path.display())?;
    }

    writeln!(
        table,
        "{:<11} {:<9} {:>10} {:>11} {:>10} {:>3} {:>10} {:>10} {:>9} {:>7} {:>8}",
        "backend",
        "shape",
        "objects",
        "edges",
        "marked",
        "thr",
        "best ms",
        "median ms",
        "M edges/s",
        "vs bfs",
        "verified"
    )?;
    for (shape, heap, build_s) in &heaps {
        let edges = heap.edges();
        let reach = args.verify.then(|| reachable(heap));
        let mut shape_runs: Vec<Run> = Vec::new();
        for &b in &args.backend {
            let thr = if b == Backend::CpuSerial { 1 } else { threads };
            // Warm-up, also the run that is verified.
            let first = mark_once(b, heap, thr, &pool);
            let verified = reach.as_ref().map(|r| match check_exact(&first.bits, r) {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("host-bench: {} on {shape}: {e}", b.name());
                    false
                }
            });
            all_ok &= verified != Some(false);
            let mut times: Vec<f64> = (0..args.reps.max(1))
                .map(|_| {
                    let t = Instant::now();
                    let m = mark_once(b, heap, thr, &pool);
                    let s = t.elapsed().as_secs_f64();
                    debug_assert_eq!(m.marked, first.marked);
                    s
                })
                .collect();
            let best = times.iter().copied().fold(f64::INFINITY, f64::min);
            let max = times.iter().copied().fold(0.0, f64::max);
            let med = median(&mut times);
            shape_runs.push(Run {
                backend: b.name(),
                shape: shape.clone(),
                objects: heap.len().into(),
                edges,
                marked: first.marked,
                threads: thr,
                mark_s: best,
                mark_median_s: med,
                mark_max_s: max,
                reps: times.len(),
                edges_per_s: edges as f64 / best,
                ratio_to_bfs: None,
                build_s: *build_s,
                verified,
            });
        }
        let floor = shape_runs
            .iter()
            .find(|r| r.backend == "bfs")
            .map(|r| r.edges_per_s);
        for r in &mut shape_runs {
            r.ratio_to_bfs = floor.map(|f| r.edges_per_s / f);
            writeln!(
                table,
                "{:<11} {:<9} {:>10} {:>11} {:>10} {:>3} {:>10.2} {:>10.2} {:>9.1} {:>7} {:>8}",
                r.backend,
                r.shape,
                r.objects,
                r.edges,
                r.marked,
                r.threads,
                r.mark_s * 1e3,
                r.mark_median_s * 1e3,
                r.edges_per_s / 1e6,
                r.ratio_to_bfs.map_or("-".into(), |x| format!("{x:.2}x")),
                r.verified.map_or("-", |v| if v { "yes" } else { "NO" }),
            )?;
        }
        runs.extend(shape_runs);
    }

    if let Some(dest) = &args.json {
        let mut out: Box<dyn Write> = if dest == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::fs::File::create(dest)?)
        };
        for r in &runs {
            serde_json::to_writer(&mut out, r)?;
            writeln!(out)?;
        }
    }
    Ok(all_ok)
}
