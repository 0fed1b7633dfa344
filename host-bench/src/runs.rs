//! Planning and timing the runs.
//!
//! A [`Plan`] is the cross product of heaps (sizes × seeds × shapes, or one
//! image), thread counts and backends, checked up front: every backend
//! available, every heap within gpumark's 32-bit indices and the free memory,
//! so a long suite does not die an hour in. [`execute`] then builds one heap at
//! a time (timed as `build_s`, never as marking), computes the reference
//! reachable set once per heap, and for each backend runs the warm-up and the
//! timed marks, verifying each mark outside its timed region.
//!
//! Only the mark call itself is inside the timed region. For `cpu` and
//! `cpu-serial` that includes what `gpumark::mark::mark_stw` does on every call
//! (allocating the mark bitmap, starting its worker pool); `bfs` gets a pool
//! built once up front and allocates its bitmap per call.
//!
//! This module runs stop-the-world marks (`mode: "stw"`). A concurrent mode
//! (`--mutators M --cycles C`) belongs beside [`execute`] as its own runner
//! producing [`Run`]s with its own mode plus per-cycle
//! [`CycleRecord`](crate::plots::CycleRecord)s for the timeline plot.

use crate::backend::{Backend, MarkContext};
use crate::cli::Args;
use crate::error::BenchError;
use crate::machine::{human_bytes, Machine};
use crate::report::{Run, SCHEMA_VERSION};
use crate::stats::Summary;
use gpumark::heap::{build, load_image_file, save_image_file, Shape, ShapeSpec};
use gpumark::verify::{check_exact, reachable};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a heap comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeapSource {
    /// Built by `gpumark::heap::build`.
    Built(ShapeSpec),
    /// Loaded from a saved image.
    Image(PathBuf),
}

impl HeapSource {
    /// The heap in words, for messages.
    pub fn describe(&self) -> String {
        match self {
            HeapSource::Built(s) => match s.shape {
                Shape::List => format!("list, {} objects", s.objects),
                sh => format!(
                    "{}, {} objects × {} ptrs, seed {}",
                    sh.name(),
                    s.objects,
                    s.ptrs,
                    s.seed
                ),
            },
            HeapSource::Image(p) => format!("image {}", p.display()),
        }
    }

    /// Pointer slots the heap will have, as an upper estimate.
    pub fn estimated_slots(&self) -> Option<u64> {
        let HeapSource::Built(s) = self else {
            return None;
        };
        let (n, k) = (u64::from(s.objects), u64::from(s.ptrs));
        Some(match s.shape {
            Shape::Random | Shape::Tree => n * k,
            Shape::List => n,
            // The arrays hold every other object, which each have k slots.
            Shape::Wide => n + n * k,
            // Mean k per object, heavy-tailed: leave a quarter for the tail.
            Shape::PowerLaw => n * k + n * k / 4,
        })
    }

    /// Bytes needed at the peak of building, verifying and marking, as an
    /// upper estimate. Building holds the builder's vectors and the arena at
    /// once (about 24 bytes an object and 8 a slot, measured); marking adds the BFS
    /// frontiers and the reference pass's stack. Measured peaks on the five
    /// shapes stay under this.
    pub fn estimated_bytes(&self) -> Option<u64> {
        let slots = self.estimated_slots()?;
        let HeapSource::Built(s) = self else {
            return None;
        };
        Some(32 * u64::from(s.objects) + 10 * slots + (32 << 20))
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
    /// Verify every mark.
    pub verify: bool,
    /// Save the (single) built heap here.
    pub save: Option<PathBuf>,
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
        let backends = if args.backend.is_empty() {
            Backend::available()
        } else {
            dedup(&args.backend)
        };
        for b in &backends {
            b.availability()
                .map_err(|reason| BenchError::BackendUnavailable {
                    backend: b.name(),
                    reason,
                })?;
        }
        let threads = if args.threads.is_empty() {
            vec![cores.max(1)]
        } else {
            dedup(&args.threads)
        };
        let heaps = match &args.heap {
            Some(p) => vec![HeapSource::Image(p.clone())],
            None => {
                let mut v = Vec::new();
                for &objects in &dedup(&args.objects) {
                    for &seed in &dedup(&args.seed) {
                        for &shape in &dedup(&args.shape) {
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
        if args.save.is_some() && heaps.len() != 1 {
            return Err(BenchError::SaveNeedsOneHeap { count: heaps.len() });
        }
        Ok(Plan {
            heaps,
            threads,
            backends,
            warmup: args.warmup,
            reps: args.reps,
            verify: args.verify(),
            save: args.save.clone(),
        })
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
        for h in &self.heaps {
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
        Ok(())
    }

    /// Progress steps: one per heap built and one per mark.
    fn steps(&self) -> u64 {
        let per_heap = self.runs_per_heap().len() * (self.warmup + self.reps) + 1;
        (self.heaps.len() * per_heap) as u64
    }
}

/// The progress display: a bar on a terminal, nothing otherwise.
///
/// It is redrawn only when told (between marks), except while a heap is built
/// or verified, when a spinner ticks on its own thread; nothing draws during a
/// timed mark.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `steps` steps, drawn on stderr if `visible`.
    pub fn new(steps: u64, visible: bool) -> Progress {
        if !visible {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::new(steps);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} marks  {wide_msg}",
        ) {
            bar.set_style(style);
        }
        Progress { bar }
    }

    /// Untimed work: spins on its own.
    fn busy(&self, msg: String) {
        self.bar.set_message(msg);
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    /// Timed work: nothing redraws until the next call.
    fn quiet(&self, msg: String) {
        self.bar.disable_steady_tick();
        self.bar.set_message(msg);
    }

    fn step(&self) {
        self.bar.inc(1);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Runs `plan` and returns one [`Run`] per backend, heap and thread count.
pub fn execute(
    plan: &Plan,
    ctx: &MarkContext,
    machine: &Machine,
    unix_time: u64,
    progress_visible: bool,
) -> Result<Vec<Run>, BenchError> {
    let progress = Progress::new(plan.steps(), progress_visible);
    let mut runs = Vec::new();
    let pairs = plan.runs_per_heap();
    let max_threads = plan.threads.iter().copied().max().unwrap_or(1);
    for source in &plan.heaps {
        let desc = source.describe();
        progress.busy(format!("building {desc}"));
        let t = Instant::now();
        let heap = Arc::new(match source {
            HeapSource::Built(spec) => build(spec),
            HeapSource::Image(path) => {
                load_image_file(path).map_err(|source| BenchError::Image {
                    path: path.clone(),
                    source,
                })?
            }
        });
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
                |m: &crate::backend::Marked, which: String| match &reach {
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
                let t = Instant::now();
                let m = backend
                    .mark(&heap, threads, ctx)
                    .map_err(|source| BenchError::Mark {
                        backend: backend.name(),
                        heap: desc.clone(),
                        source,
                    })?;
                let s = t.elapsed().as_secs_f64();
                progress.step();
                Ok::<_, BenchError>((m, s))
            };
            let what = format!("{backend} ×{threads} on {desc}");
            let mut first_mark = None;
            for w in 0..plan.warmup {
                let (m, _) = mark(format!("{what}: warm-up {}/{}", w + 1, plan.warmup))?;
                verify(&m, "warm-up".into())?;
                first_mark.get_or_insert((m.marked, m.bytes_marked, m.upload_s, m.batches));
            }
            let mut times = Vec::with_capacity(plan.reps);
            for rep in 0..plan.reps {
                let (m, s) = mark(format!("{what}: timed {}/{}", rep + 1, plan.reps))?;
                verify(&m, format!("timed #{}", rep + 1))?;
                first_mark.get_or_insert((m.marked, m.bytes_marked, m.upload_s, m.batches));
                times.push(s);
            }
            let Some((marked, bytes_marked, upload_s, batches)) = first_mark else {
                continue; // reps >= 1 is enforced by the CLI.
            };
            let t = Summary::of(times);
            let (ptrs, roots, seed, shape, image) = match source {
                HeapSource::Built(s) => (
                    Some(s.ptrs),
                    Some(s.roots),
                    Some(s.seed),
                    s.shape.name().to_string(),
                    None,
                ),
                HeapSource::Image(p) => (
                    None,
                    None,
                    None,
                    "image".into(),
                    Some(p.display().to_string()),
                ),
            };
            runs.push(Run {
                schema: SCHEMA_VERSION,
                tool: concat!("host-bench ", env!("CARGO_PKG_VERSION")).into(),
                unix_time,
                mode: "stw",
                backend: backend.name(),
                adapter: backend.adapter(ctx),
                shape,
                heap: image,
                objects: heap.len().into(),
                ptrs,
                roots,
                seed,
                edges,
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
                batches,
                verified: reach.is_some().then_some(true),
                machine: machine.clone(),
            });
        }
        set_ratios(&mut runs[first..], max_threads);
    }
    progress.finish();
    Ok(runs)
}

/// Sets `ratio_to_bfs` on the runs of one heap: median throughput over that of
/// bfs at the same thread count (cpu-serial against bfs at `max_threads`).
fn set_ratios(runs: &mut [Run], max_threads: usize) {
    let floor = |threads: usize| {
        runs.iter()
            .find(|r| r.backend == Backend::Bfs.name() && r.threads == threads)
            .map(|r| r.edges_per_s_median)
    };
    let ratios: Vec<Option<f64>> = runs
        .iter()
        .map(|r| {
            let t = if r.backend == Backend::CpuSerial.name() {
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
    fn gpu_backend_is_refused_with_reason() {
        let a = Args::try_parse_from(["host-bench", "--backend", "metal"]).unwrap();
        let e = Plan::from_args(&a, 2).unwrap_err().to_string();
        assert_eq!(
            e,
            "backend metal is not available: this build has no GPU support (feature `gpu`)"
        );
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
