//! Planning and timing the runs.
//!
//! A [`Plan`] is the cross product of heaps (sizes × seeds × shapes, or one
//! `--heap` file, once per seed when the seed picks its roots), thread counts
//! and backends, checked up front: every backend available, every built heap
//! within gpumark's 32-bit indices and the free memory, every file present
//! and of a known format, so a long suite does not die an hour in.
//! [`execute`] then builds or imports one heap at a time (timed as `build_s`,
//! never as marking), computes the reference reachable set once per heap, and
//! for each backend runs the warm-up and the timed marks, verifying each mark
//! outside its timed region.
//!
//! Only the mark call itself is inside the timed region. For `cpu` and
//! `cpu-serial` that includes what `gpumark::mark::mark_stw` does on every call
//! (allocating the mark bitmap, starting its worker pool); `bfs` gets a pool
//! built once up front and allocates its bitmap per call.
//!
//! [`execute`] runs the stop-the-world marks (`mode: "stw"`);
//! [`execute_concurrent`] runs the concurrent runs (`mode: "concurrent"`,
//! see [`crate::concurrent`]): `--mutators`/`--cycles`, or the short run the
//! default suite ends with.

use crate::backend::{resolve, Backend, BackendArg, GpuSettings, MarkContext, Marked};
use crate::cli::{Args, EdgeRoots, ShapeArg, CONCURRENT_OBJECTS, DEFAULT_CYCLES, DEFAULT_MUTATORS};
use crate::concurrent::{self, ConcurrentSpec, ARENA_FACTOR};
use crate::error::BenchError;
use crate::import::HeapFile;
use crate::machine::human_bytes;
use crate::progress::Progress;
use crate::record::{
    ConcurrentRun, CycleSummary, Machine, RecordHeader, Run, SCHEMA_VERSION, TOOL,
};
use crate::source::HeapSource;
use crate::stats::Summary;
use gpumark::heap::{save_image_file, ShapeSpec};
use gpumark::pacer::NO_MEMORY_LIMIT;
use gpumark::verify::{check_exact, reachable};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The concurrent runs of an invocation: every heap at every GOMAXPROCS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcurrentPlan {
    /// Starting heaps, in the order run.
    pub heaps: Vec<HeapSource>,
    /// GOMAXPROCS values, in the order given.
    pub threads: Vec<usize>,
    /// Mutators, cycles, pacer settings, verification.
    pub spec: ConcurrentSpec,
    /// Seed of the mutators' programs for heaps without one (files, unless
    /// the seed chose their roots).
    pub seed: u64,
    /// Scan backends (`cpu` and GPU ones), one run each.
    pub backends: Vec<Backend>,
}

impl ConcurrentPlan {
    /// The short run the default suite ends with: [`DEFAULT_MUTATORS`]
    /// mutators for [`DEFAULT_CYCLES`] cycles over a random heap of
    /// [`CONCURRENT_OBJECTS`] objects at GOGC=100, GOMAXPROCS = `cores`.
    pub fn suite(args: &Args, cores: usize) -> ConcurrentPlan {
        let seed = args.seed.first().copied().unwrap_or(42);
        ConcurrentPlan {
            heaps: vec![HeapSource::Built(ShapeSpec {
                shape: ShapeArg::Random.into(),
                objects: CONCURRENT_OBJECTS,
                ptrs: args.ptrs,
                roots: args.roots,
                seed,
            })],
            threads: vec![cores.max(1)],
            spec: ConcurrentSpec {
                mutators: DEFAULT_MUTATORS,
                cycles: DEFAULT_CYCLES,
                gc_percent: args.gc_percent(),
                memory_limit: NO_MEMORY_LIMIT,
                verify: args.verify(),
            },
            seed,
            backends: vec![Backend::Cpu],
        }
    }

    fn runs(&self) -> usize {
        self.heaps.len() * self.threads.len() * self.backends.len()
    }
}

/// Everything one invocation will run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Heaps, in the order they are built.
    pub heaps: Vec<HeapSource>,
    /// Thread counts, in the order given.
    pub threads: Vec<usize>,
    /// Backends, in the order given.
    pub backends: Vec<Backend>,
    /// Untimed marks per run.
    pub warmup: usize,
    /// Timed marks per run.
    pub reps: usize,
    /// How GPU backends are set up.
    pub gpu: GpuSettings,
    /// Verify every mark.
    pub verify: bool,
    /// Save the (single) built heap here.
    pub save: Option<PathBuf>,
    /// Concurrent runs, after the stop-the-world ones.
    pub concurrent: Option<ConcurrentPlan>,
}

fn dedup<T: PartialEq + Copy>(v: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for &x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

impl Plan {
    /// The plan `args` describe on a machine with `cores` CPUs.
    pub fn from_args(args: &Args, cores: usize) -> Result<Plan, BenchError> {
        let threads = if args.threads.is_empty() {
            vec![cores.max(1)]
        } else {
            dedup(&args.threads)
        };
        let heaps = match &args.heap {
            Some(path) => {
                let seeds = dedup(&args.seed);
                let random = matches!(args.edge_roots, Some(EdgeRoots::Random(_)));
                if seeds.len() > 1 && !random {
                    return Err(BenchError::HeapSeeds { count: seeds.len() });
                }
                let mut v = Vec::new();
                for seed in seeds {
                    let f = HeapFile::resolve(path, args.format, args.edge_roots.as_ref(), seed)?;
                    v.push(HeapSource::File(f));
                }
                v
            }
            None => {
                let mut v = Vec::new();
                for &objects in &dedup(&args.object_counts()) {
                    for &seed in &dedup(&args.seed) {
                        for &shape in &dedup(&args.shapes()) {
                            v.push(HeapSource::Built(ShapeSpec {
                                shape: shape.into(),
                                objects,
                                ptrs: args.ptrs,
                                roots: args.roots,
                                seed,
                            }));
                        }
                    }
                }
                v
            }
        };
        if args.concurrent() {
            // Concurrent cycles scan through the library's ScanBackend: the
            // CPU engine or a GPU backend (`all`: those of them present).
            let concurrent_ok = |b: Backend| b == Backend::Cpu || b.is_gpu();
            for a in &args.backend {
                if let BackendArg::One(b) = *a {
                    if !concurrent_ok(b) {
                        return Err(BenchError::NotConcurrent { backend: b.name() });
                    }
                }
            }
            let backends: Vec<Backend> = match args.backend.is_empty() {
                true => vec![Backend::Cpu],
                false => resolve(&args.backend)
                    .into_iter()
                    .filter(|&b| concurrent_ok(b))
                    .collect(),
            };
            check_available(&backends)?;
            return Ok(Plan {
                heaps: Vec::new(),
                threads: threads.clone(),
                backends: Vec::new(),
                warmup: 0,
                reps: 0,
                gpu: args.gpu_settings(),
                verify: args.verify(),
                save: None,
                concurrent: Some(ConcurrentPlan {
                    heaps,
                    threads,
                    spec: ConcurrentSpec {
                        mutators: args.mutators.unwrap_or(DEFAULT_MUTATORS),
                        cycles: args.cycles.unwrap_or(DEFAULT_CYCLES),
                        gc_percent: args.gc_percent(),
                        memory_limit: args.memory_limit_bytes(),
                        verify: args.verify(),
                    },
                    seed: args.seed.first().copied().unwrap_or(42),
                    backends,
                }),
            });
        }
        let backends = resolve(&args.backend);
        check_available(&backends)?;
        if args.save.is_some() && heaps.len() != 1 {
            return Err(BenchError::SaveNeedsOneHeap { count: heaps.len() });
        }
        Ok(Plan {
            heaps,
            threads,
            backends,
            warmup: args.warmup,
            reps: args.reps,
            gpu: args.gpu_settings(),
            verify: args.verify(),
            save: args.save.clone(),
            concurrent: args
                .is_default_suite()
                .then(|| ConcurrentPlan::suite(args, cores)),
        })
    }

    /// Every backend the plan runs, stop-the-world and concurrent.
    pub fn all_backends(&self) -> Vec<Backend> {
        let mut v = self.backends.clone();
        for &b in self.concurrent.iter().flat_map(|c| &c.backends) {
            if !v.contains(&b) {
                v.push(b);
            }
        }
        v
    }

    /// The (backend, threads) pairs run on every heap, in table order.
    /// `cpu-serial` runs once, whatever the thread counts.
    pub fn runs_per_heap(&self) -> Vec<(Backend, usize)> {
        let mut v = Vec::new();
        for (i, &t) in self.threads.iter().enumerate() {
            for &b in &self.backends {
                if b == Backend::CpuSerial && i > 0 {
                    continue;
                }
                v.push((b, b.effective_threads(t)));
            }
        }
        v
    }

    /// Checks every heap against 32-bit slot indices and `mem_available`
    /// bytes (when known) before anything is built.
    pub fn check_sizes(&self, mem_available: Option<u64>) -> Result<(), BenchError> {
        let conc = self.concurrent.iter().flat_map(|c| &c.heaps);
        for h in self.heaps.iter().chain(conc) {
            if let Some(slots) = h.estimated_slots() {
                if slots > u64::from(u32::MAX) {
                    return Err(BenchError::TooManySlots {
                        heap: h.describe(),
                        slots,
                        limit: u32::MAX.into(),
                    });
                }
            }
            if let (Some(need), Some(avail)) = (h.estimated_bytes(), mem_available) {
                if need > avail {
                    return Err(BenchError::OutOfMemory {
                        heap: h.describe(),
                        need: human_bytes(need),
                        available: human_bytes(avail),
                    });
                }
            }
        }
        if let Some(c) = &self.concurrent {
            for h in &c.heaps {
                let (HeapSource::Built(s), Some(slots), Some(bytes)) =
                    (h, h.estimated_slots(), h.estimated_heap_bytes())
                else {
                    continue; // An image's arena is checked once it is loaded.
                };
                let need = concurrent::estimated_bytes(s.objects.into(), slots, bytes, &c.spec)
                    .ok_or_else(|| BenchError::ArenaIndices {
                        heap: h.describe(),
                        factor: ARENA_FACTOR,
                    })?;
                if let Some(avail) = mem_available.filter(|&a| need > a) {
                    return Err(BenchError::ArenaMemory {
                        heap: h.describe(),
                        factor: ARENA_FACTOR,
                        need: human_bytes(need),
                        available: human_bytes(avail),
                    });
                }
            }
        }
        Ok(())
    }

    /// Progress steps: one per heap built, one per mark and one per
    /// concurrent cycle.
    pub fn steps(&self) -> u64 {
        let per_heap = self.runs_per_heap().len() * (self.warmup + self.reps) + 1;
        let conc = self.concurrent.as_ref().map_or(0, |c| {
            c.runs() * (1 + usize::try_from(c.spec.cycles).unwrap_or(usize::MAX))
        });
        (self.heaps.len() * per_heap + conc) as u64
    }
}

/// Fails on the first of `backends` this build or machine lacks, saying why.
fn check_available(backends: &[Backend]) -> Result<(), BenchError> {
    for b in backends {
        b.availability()
            .map_err(|reason| BenchError::BackendUnavailable {
                backend: b.name(),
                reason,
            })?;
    }
    Ok(())
}

/// Runs `plan`'s stop-the-world marks and returns one [`Run`] per backend,
/// heap and thread count.
pub fn execute(
    plan: &Plan,
    ctx: &MarkContext,
    machine: &Machine,
    unix_time: u64,
    progress: &Progress,
) -> Result<Vec<Run>, BenchError> {
    let mut runs = Vec::new();
    let pairs = plan.runs_per_heap();
    let max_threads = plan.threads.iter().copied().max().unwrap_or(1);
    for source in &plan.heaps {
        let desc = source.describe();
        progress.busy(format!("building {desc}"));
        let t = Instant::now();
        let (heap, import) = source.load(progress)?;
        let heap = Arc::new(heap);
        let build_s = t.elapsed().as_secs_f64();
        progress.step();
        if let Some(path) = &plan.save {
            progress.busy(format!("saving {desc}"));
            save_image_file(&heap, path).map_err(|source| BenchError::Image {
                path: path.clone(),
                source,
            })?;
        }
        let edges = heap.edges();
        let reach = plan.verify.then(|| {
            progress.busy(format!("reference reachability pass on {desc}"));
            reachable(&heap)
        });

        let first = runs.len();
        for &(backend, threads) in &pairs {
            let verify =
                |m: &Marked, which: String| match &reach {
                    Some(r) => check_exact(&m.bits, r).map(|()| true).map_err(|source| {
                        BenchError::Mismatch {
                            backend: backend.name(),
                            heap: desc.clone(),
                            which,
                            source,
                        }
                    }),
                    None => Ok(false),
                };
            let mark = |msg: String| {
                progress.quiet(msg);
                let err = |source| BenchError::Mark {
                    backend: backend.name(),
                    heap: desc.clone(),
                    source,
                };
                // Untimed: a GPU's stats reset and its mirror brought up to
                // date, timed on its own as gpu.prepare_s.
                let prepared = backend.prepare(&heap, ctx).map_err(err)?;
                let t = Instant::now();
                let m = prepared.mark(threads, ctx).map_err(err)?;
                let s = t.elapsed().as_secs_f64();
                progress.step();
                Ok::<_, BenchError>((m, s))
            };
            let what = format!("{backend} ×{threads} on {desc}");
            let mut first_mark = None;
            for w in 0..plan.warmup {
                let (m, _) = mark(format!("{what}: warm-up {}/{}", w + 1, plan.warmup))?;
                verify(&m, "warm-up".into())?;
                first_mark.get_or_insert((m.marked, m.bytes_marked, m.upload_s));
            }
            let mut times = Vec::with_capacity(plan.reps);
            let mut last_gpu = None;
            for rep in 0..plan.reps {
                let (m, s) = mark(format!("{what}: timed {}/{}", rep + 1, plan.reps))?;
                verify(&m, format!("timed #{}", rep + 1))?;
                let gpu = m.gpu.clone();
                first_mark.get_or_insert((m.marked, m.bytes_marked, m.upload_s));
                // The GPU figures of the last timed mark: the warm-up's
                // include the first upload.
                last_gpu = gpu;
                times.push(s);
            }
            let Some((marked, bytes_marked, upload_s)) = first_mark else {
                continue; // reps >= 1 is enforced by the CLI.
            };
            let t = Summary::of(times);
            runs.push(Run {
                header: header(
                    source,
                    "stw",
                    backend,
                    ctx,
                    unix_time,
                    heap.len().into(),
                    edges,
                ),
                marked,
                bytes_marked,
                threads,
                warmup: plan.warmup,
                reps: t.samples.len(),
                edges_per_s: edges as f64 / t.min,
                edges_per_s_median: edges as f64 / t.median,
                mark_s: t.min,
                mark_median_s: t.median,
                mark_max_s: t.max,
                mark_mad_s: t.mad,
                mark_times_s: t.samples,
                ratio_to_bfs: None,
                build_s,
                upload_s,
                batches: last_gpu.as_ref().map(|g| g.batches),
                gpu: last_gpu,
                verified: reach.is_some().then_some(true),
                import: import.as_ref().map(|r| r.with_reached(marked)),
                machine: machine.clone(),
            });
        }
        set_ratios(&mut runs[first..], max_threads);
    }
    Ok(runs)
}

/// Runs `plan`'s concurrent runs: every starting heap at every GOMAXPROCS.
pub fn execute_concurrent(
    plan: &Plan,
    ctx: &MarkContext,
    machine: &Machine,
    unix_time: u64,
    progress: &Progress,
) -> Result<Vec<ConcurrentRun>, BenchError> {
    let Some(c) = &plan.concurrent else {
        return Ok(Vec::new());
    };
    let mut runs = Vec::new();
    for source in &c.heaps {
        for &gomaxprocs in &c.threads {
            for &b in &c.backends {
                let seed = source.seed().unwrap_or(c.seed);
                let backend = ctx.concurrent_backend(b).map_err(|e| BenchError::Mark {
                    backend: b.name(),
                    heap: source.describe(),
                    source: e,
                })?;
                let m = concurrent::run(source, &c.spec, gomaxprocs, seed, &backend, progress)?;
                let sum = CycleSummary::of(&m.cycles);
                runs.push(ConcurrentRun {
                    header: header(
                        source,
                        "concurrent",
                        b,
                        ctx,
                        unix_time,
                        m.start_objects,
                        m.start_edges,
                    ),
                    heap_bytes: m.start_bytes,
                    mutators: c.spec.mutators,
                    mutator_seed: seed,
                    gomaxprocs,
                    gogc: (c.spec.gc_percent >= 0).then_some(c.spec.gc_percent),
                    memory_limit: (c.spec.memory_limit != NO_MEMORY_LIMIT)
                        .then_some(c.spec.memory_limit),
                    cycles_requested: c.spec.cycles,
                    stop_reason: m.stop.name(),
                    heap_full: m.heap_full,
                    arena_objects: m.arena.max_objects.into(),
                    arena_slots: m.arena.max_slots.into(),
                    allocated_objects: m.allocated_objects,
                    allocated_slots: m.allocated_slots,
                    allocated_bytes: m.allocated_bytes,
                    build_s: m.build_s,
                    duration_s: m.duration_s,
                    mutator_ops: m.mutator_ops,
                    mutator_ops_per_s: m.mutator_ops as f64 / m.duration_s.max(1e-9),
                    summary: sum,
                    gpu: m.gpu,
                    cycles: m.cycles,
                    import: m.import,
                    machine: machine.clone(),
                });
            }
        }
    }
    Ok(runs)
}

/// The fields every record begins with, for `backend` on the heap from
/// `source` of `objects` objects and `edges` edges.
fn header(
    source: &HeapSource,
    mode: &'static str,
    backend: Backend,
    ctx: &MarkContext,
    unix_time: u64,
    objects: u64,
    edges: u64,
) -> RecordHeader {
    let (ptrs, roots) = match source {
        HeapSource::Built(s) => (Some(s.ptrs), Some(s.roots)),
        HeapSource::File(_) => (None, None),
    };
    let (shape, heap) = source.shape_and_file();
    RecordHeader {
        schema: SCHEMA_VERSION,
        tool: TOOL.into(),
        unix_time,
        mode,
        backend: backend.name(),
        adapter: backend.adapter(ctx),
        shape,
        heap,
        objects,
        ptrs,
        roots,
        seed: source.seed(),
        edges,
    }
}

/// Sets `ratio_to_bfs` on the runs of one heap: median throughput over that of
/// bfs at the same thread count (cpu-serial against bfs at `max_threads`).
fn set_ratios(runs: &mut [Run], max_threads: usize) {
    let floor = |threads: usize| {
        runs.iter()
            .find(|r| r.header.backend == Backend::Bfs.name() && r.threads == threads)
            .map(|r| r.edges_per_s_median)
    };
    let ratios: Vec<Option<f64>> = runs
        .iter()
        .map(|r| {
            let t = if r.header.backend == Backend::CpuSerial.name() {
                max_threads
            } else {
                r.threads
            };
            floor(t).map(|f| r.edges_per_s_median / f)
        })
        .collect();
    for (r, ratio) in runs.iter_mut().zip(ratios) {
        r.ratio_to_bfs = ratio;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_run;
    use clap::Parser;
    use gpumark::import::Format;

    #[test]
    fn plan_is_the_cross_product() {
        let a = Args::try_parse_from([
            "host-bench",
            "--objects",
            "100,200",
            "--shape",
            "list,tree",
            "--threads",
            "1,2",
            "--backend",
            "cpu-serial,cpu,bfs",
        ])
        .unwrap();
        let p = Plan::from_args(&a, 2).unwrap();
        assert_eq!(p.heaps.len(), 4);
        let pairs = p.runs_per_heap();
        // cpu-serial once, cpu and bfs at each count.
        assert_eq!(
            pairs,
            vec![
                (Backend::CpuSerial, 1),
                (Backend::Cpu, 1),
                (Backend::Bfs, 1),
                (Backend::Cpu, 2),
                (Backend::Bfs, 2)
            ]
        );
    }

    #[test]
    fn sizes_are_checked_before_building() {
        let a =
            Args::try_parse_from(["host-bench", "--objects", "2000000000", "--shape", "random"])
                .unwrap();
        let p = Plan::from_args(&a, 2).unwrap();
        let e = p.check_sizes(None).unwrap_err().to_string();
        assert!(e.contains("8000000000 pointer slots"), "{e}");
        let a = Args::try_parse_from(["host-bench", "--objects", "100000000", "--shape", "random"])
            .unwrap();
        let p = Plan::from_args(&a, 2).unwrap();
        let e = p.check_sizes(Some(1 << 30)).unwrap_err().to_string();
        assert!(e.contains("1.0 GiB is available"), "{e}");
        assert!(p.check_sizes(Some(1 << 40)).is_ok());
    }

    #[test]
    fn default_suite_ends_with_a_concurrent_run() {
        let a = Args::try_parse_from(["host-bench"]).unwrap();
        let p = Plan::from_args(&a, 2).unwrap();
        assert_eq!(p.heaps.len(), 15);
        let c = p
            .concurrent
            .as_ref()
            .expect("the suite has a concurrent run");
        assert_eq!(c.heaps.len(), 1);
        assert_eq!(c.threads, vec![2]);
        assert_eq!((c.spec.mutators, c.spec.cycles), (2, 10));
        assert!(c.spec.verify);
        // Choosing runs makes it no longer the suite.
        let a = Args::try_parse_from(["host-bench", "--objects", "1000"]).unwrap();
        assert!(Plan::from_args(&a, 2).unwrap().concurrent.is_none());
    }

    #[test]
    fn concurrent_mode_plans_only_concurrent_runs() {
        let a = Args::try_parse_from([
            "host-bench",
            "--mutators",
            "3",
            "--threads",
            "1,2",
            "--shape",
            "list,tree",
        ])
        .unwrap();
        let p = Plan::from_args(&a, 2).unwrap();
        assert!(p.heaps.is_empty() && p.runs_per_heap().is_empty());
        let c = p.concurrent.as_ref().unwrap();
        assert_eq!(c.heaps.len(), 2);
        assert_eq!(c.threads, vec![1, 2]);
        assert_eq!((c.spec.mutators, c.spec.cycles), (3, 10));
        // A build step and a step per cycle for each of 4 runs.
        assert_eq!(p.steps(), 4 * 11);
        let a = Args::try_parse_from(["host-bench", "--cycles", "2", "--backend", "cpu"]).unwrap();
        assert!(Plan::from_args(&a, 2).is_ok());
    }

    #[test]
    fn concurrent_arena_is_checked_before_building() {
        let plan = |cycles: &str, gogc: &str| {
            let a = Args::try_parse_from([
                "host-bench",
                "--cycles",
                cycles,
                "--objects",
                "4194304",
                "--gogc",
                gogc,
            ])
            .unwrap();
            Plan::from_args(&a, 2).unwrap()
        };
        // The arena holds a few times the steady-state heap, whatever the
        // cycles: a huge GOGC, not many cycles, outgrows the indices.
        let e = plan("5", "100000")
            .check_sizes(None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("32-bit indices"), "{e}");
        assert!(plan("100000000", "100").check_sizes(None).is_ok());
        let e = plan("5", "100")
            .check_sizes(Some(1 << 30))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs about") && e.contains("starting heap plus the pacer's runway"),
            "{e}"
        );
        assert!(plan("100000000", "100").check_sizes(Some(1 << 40)).is_ok());
    }

    #[test]
    fn gpu_backend_is_refused_with_reason() {
        let a = Args::try_parse_from(["host-bench", "--backend", "metal"]).unwrap();
        let e = Plan::from_args(&a, 2).unwrap_err().to_string();
        let why = if cfg!(feature = "gpu") {
            "no metal adapter was found"
        } else {
            "this build has no GPU support (feature `gpu`)"
        };
        assert_eq!(e, format!("backend metal is not available: {why}"));
    }

    #[test]
    fn hidden_progress_gives_the_importer_no_callback() {
        assert!(Progress::new(3, false)
            .bytes_callback("x".into(), 10)
            .is_none());
    }

    #[test]
    fn heap_file_is_resolved_when_planned() {
        let tiny = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tiny.edges");
        let a = Args::try_parse_from([
            "host-bench",
            "--heap",
            tiny,
            "--edge-roots",
            "random:4",
            "--seed",
            "3,5,3",
        ])
        .unwrap();
        let p = Plan::from_args(&a, 2).unwrap();
        let seeds: Vec<Option<u64>> = p.heaps.iter().map(HeapSource::seed).collect();
        assert_eq!(seeds, vec![Some(3), Some(5)]);
        assert!(p.concurrent.is_none(), "a file is not the suite");
        assert!(
            p.check_sizes(Some(0)).is_ok(),
            "a file's size is checked when read"
        );
        let a = Args::try_parse_from(["host-bench", "--heap", tiny, "--cycles", "1"]).unwrap();
        let p = Plan::from_args(&a, 2).unwrap();
        let c = p.concurrent.unwrap();
        assert!(matches!(&c.heaps[..], [HeapSource::File(f)] if f.format == Format::EdgeList));
    }

    #[test]
    fn ratios_use_matching_threads() {
        let mut runs = vec![
            sample_run("cpu-serial", "random", 10, 1.0e8),
            sample_run("cpu", "random", 10, 3.0e8),
            sample_run("bfs", "random", 10, 2.0e8),
        ];
        runs[0].threads = 1;
        set_ratios(&mut runs, 2);
        let r: Vec<f64> = runs.iter().map(|r| r.ratio_to_bfs.unwrap()).collect();
        assert_eq!(r, vec![0.5, 1.5, 1.0]);
    }
}
