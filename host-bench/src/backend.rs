//! The mark backends host-bench can run, and whether this build has them.
//!
//! Every backend is one variant of [`Backend`]. Adding a backend is one arm in
//! [`Backend::name`]/[`Backend::from_name`], one in [`Backend::availability`]
//! saying when it can run, one in [`Backend::prepare`] if it needs readying
//! before each mark, and one in [`Prepared::mark`] doing the mark; the
//! runner, the reports and the plots take whatever [`Marked`] says.
//!
//! A mark is two calls so that the runner times the mark alone:
//! [`Backend::prepare`] readies the backend for one mark of one heap (for a
//! GPU: its stats reset, the heap's changes uploaded, the device idle) and
//! times that itself (`gpu.prepare_s`), and the runner times only
//! [`Prepared::mark`].
//!
//! The GPU names (`gpu`, `vulkan`, `metal`, `dx12`, `gl`) are always parsed,
//! so a user who asks for one is told why it cannot run rather than that it
//! does not exist. With the `gpu` feature (on by default)
//! [`Backend::availability`] enumerates adapters (once per API, and only when
//! a GPU backend's availability is asked: `--backend cpu` opens no wgpu
//! instance), [`MarkContext`] holds one `GpuScan` per GPU backend, built once
//! per invocation, and [`Prepared::mark`] runs the engine's stop-the-world
//! mark with it as the scan backend and reports the GPU's figures (batches,
//! submissions, readback and upload, the preparation's time and the share of
//! scan work the GPU did, and with `--count-ops` the kernels' operation
//! counts).

use crate::record::{Adapter, GpuFigures};
#[cfg(feature = "gpu")]
use crate::record::{LevelBucket, OpTotals, OpsPer1024Edges};
use gpumark::baseline::bfs_mark;
use gpumark::heap::Heap;
use gpumark::mark::{mark_stw, mark_stw_in, MarkBits};
use gpumark::scan::{CpuScan, ScanBackend};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
#[cfg(feature = "gpu")]
use std::time::Instant;
use thiserror::Error;

/// Which graphics API a GPU backend asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GpuApi {
    /// Whichever adapter the platform prefers.
    Any,
    /// Vulkan (including lavapipe, the software rasteriser).
    Vulkan,
    /// Apple's Metal.
    Metal,
    /// Direct3D 12.
    Dx12,
    /// OpenGL / GLES.
    Gl,
}

/// A mark backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    /// The engine (`mark_stw`) with one worker.
    CpuSerial,
    /// The engine with `threads` workers.
    Cpu,
    /// A plain level-synchronous rayon BFS: the floor every ratio refers to.
    Bfs,
    /// gpumark's GPU scanning path through wgpu.
    Gpu(GpuApi),
}

/// Why a backend cannot run here.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Unavailable {
    /// host-bench was built without the `gpu` feature.
    #[error("this build has no GPU support (feature `gpu`)")]
    #[cfg_attr(feature = "gpu", allow(dead_code))]
    NoGpuFeature,
    /// The feature is built but no adapter for the API was found.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    #[error("no {api} adapter was found")]
    NoAdapter {
        /// The API asked for.
        api: &'static str,
    },
    /// An adapter was found but the device could not be opened.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    #[error("the {api} device could not be opened: {reason}")]
    DeviceFailed {
        /// The API asked for.
        api: &'static str,
        /// What wgpu said.
        reason: String,
    },
}

/// Why a mark could not be done.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum MarkError {
    /// The backend cannot run here.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The runner asked for a thread count it did not prepare a pool for.
    #[error("no thread pool of {threads} threads was prepared (a host-bench bug)")]
    NoPool {
        /// The thread count asked for.
        threads: usize,
    },
    /// The GPU could not hold the heap; the library marked it on the CPU,
    /// so a GPU figure would be a CPU one.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    #[error("the heap does not fit this GPU ({reason}); it was marked on the CPU instead")]
    HeapRefused {
        /// Sizes and limits, as the GPU backend gave them.
        reason: String,
    },
    /// The device was lost during the mark, which finished on the CPU.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    #[error("the GPU device was lost ({reason}); the mark finished exactly on the CPU, so its time is no GPU figure")]
    DeviceLost {
        /// What the driver said.
        reason: String,
    },
}

/// What one mark produced.
#[derive(Debug)]
pub struct Marked {
    /// Objects marked.
    pub marked: u64,
    /// Bytes of marked objects.
    pub bytes_marked: u64,
    /// The mark bitmap, for verification.
    pub bits: MarkBits,
    /// Time spent uploading the heap before marking; `None` for CPU backends.
    pub upload_s: Option<f64>,
    /// GPU figures of this mark; `None` for CPU backends.
    pub gpu: Option<GpuFigures>,
}

/// `GpuFigures` (in [`crate::record`]) from the library's GPU stats.
#[cfg(feature = "gpu")]
impl GpuFigures {
    /// The figures of `gpu`'s stats `st` (since its last reset), whose
    /// preparation ([`prepare_gpu`], which reset them) took `prepare_s`.
    fn of(
        gpu: &gpumark::gpu::GpuScan,
        st: &gpumark::gpu::GpuScanStats,
        prepare_s: f64,
    ) -> GpuFigures {
        // A counting context that ran no batch (every scan on the CPU) did
        // no counted operation: zeros, not "not counted".
        let ops = gpu
            .context()
            .counts_ops()
            .then(|| st.ops.unwrap_or_default());
        GpuFigures {
            offload: gpu.policy().name(),
            batches: st.batches,
            submissions: st.submissions,
            readback_bytes: st.readback_bytes,
            upload_bytes: st.upload_bytes,
            gpu_scan_fraction: st.gpu_scan_fraction(),
            handoffs_to_cpu: st.handoffs_to_cpu,
            gpu_s: st.gpu_s,
            sync_s: st.sync_s,
            prepare_s,
            levels: st.last_batch.map_or(0, |b| b.levels_run),
            kernel: gpu.context().scan_kernel(),
            level_profile: gpu
                .context()
                .traces_levels()
                .then(|| level_profile(&st.level_trace)),
            ops: ops.as_ref().map(OpTotals::of),
            ops_per_1024_edges: ops.as_ref().and_then(OpsPer1024Edges::of),
        }
    }
}

/// `gpu.ops` from the library's counts.
#[cfg(feature = "gpu")]
impl OpTotals {
    fn of(o: &gpumark::gpu::OpCounts) -> OpTotals {
        OpTotals {
            ctl_atomics: o.ctl_atomics,
            stripe_atomics: o.stripe_atomics,
            mark_atomics: o.mark_atomics,
            mark_loads: o.mark_loads,
            descriptor_loads: o.descriptor_loads,
            slot_loads: o.slot_loads,
            ring_writes: o.ring_writes,
            ring_reads: o.ring_reads,
            workgroup_barriers: o.workgroup_barriers,
            levels: o.levels,
            empty_levels: o.empty_levels,
            max_workgroup_slots: o.max_workgroup_slots,
            edges: o.edges,
        }
    }
}

/// `gpu.ops_per_1024_edges` from the library's counts
/// ([`OpCounts::per_1024_edges`](gpumark::gpu::OpCounts::per_1024_edges)):
/// `None` when the GPU followed no edge, which leaves no rate to give.
#[cfg(feature = "gpu")]
impl OpsPer1024Edges {
    fn of(o: &gpumark::gpu::OpCounts) -> Option<OpsPer1024Edges> {
        (o.edges > 0).then(|| OpsPer1024Edges {
            ctl_atomics: o.per_1024_edges(o.ctl_atomics),
            stripe_atomics: o.per_1024_edges(o.stripe_atomics),
            mark_atomics: o.per_1024_edges(o.mark_atomics),
            mark_loads: o.per_1024_edges(o.mark_loads),
            descriptor_loads: o.per_1024_edges(o.descriptor_loads),
            slot_loads: o.per_1024_edges(o.slot_loads),
            ring_writes: o.per_1024_edges(o.ring_writes),
            ring_reads: o.per_1024_edges(o.ring_reads),
            workgroup_barriers: o.per_1024_edges(o.workgroup_barriers),
        })
    }
}

/// Resets `gpu`'s stats and uploads `heap` (after the first time, what
/// changed), so that marking pays for no upload; returns the seconds this
/// took (`gpu.prepare_s`, never in a mark time). A heap the GPU cannot hold
/// is refused per heap; a failed device is lost for good.
#[cfg(feature = "gpu")]
fn prepare_gpu(gpu: &gpumark::gpu::GpuScan, heap: &Arc<Heap>) -> Result<f64, MarkError> {
    let t = Instant::now();
    gpu.reset_stats();
    gpu.prepare(heap).map_err(|e| {
        let reason = e.to_string();
        match gpu.is_dead() {
            true => MarkError::DeviceLost { reason },
            false => MarkError::HeapRefused { reason },
        }
    })?;
    Ok(t.elapsed().as_secs_f64())
}

/// `gpu`'s stats since [`prepare_gpu`], or the device loss they record: the
/// work then finished on the CPU, and is no GPU figure.
#[cfg(feature = "gpu")]
fn stats_unless_lost(gpu: &gpumark::gpu::GpuScan) -> Result<gpumark::gpu::GpuScanStats, MarkError> {
    let st = gpu.stats();
    match st.device_lost.clone() {
        Some(reason) => Err(MarkError::DeviceLost { reason }),
        None => Ok(st),
    }
}

/// The scan backend of a concurrent run (`cpu` or a GPU backend), shared
/// with the collector, and what it reports.
pub struct ConcurrentBackend {
    /// Its host-bench name ("cpu", "vulkan", ...).
    pub name: &'static str,
    /// The backend the collector's workers and assists drain through.
    pub scan: Arc<dyn ScanBackend>,
    #[cfg(feature = "gpu")]
    gpu: Option<Arc<gpumark::gpu::GpuScan>>,
    /// Seconds [`ConcurrentBackend::prepare`] took (0 until it ran).
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    prepare_s: Mutex<f64>,
}

impl ConcurrentBackend {
    /// Readies the backend for `heap` before the run starts: a GPU's stats
    /// are reset and the heap uploaded, so the first cycle does not pay for
    /// the upload (its time is the run's `gpu.prepare_s`). A heap the GPU
    /// cannot hold, or a failed device, is an error: the run would otherwise
    /// report CPU work as a GPU's.
    pub fn prepare(&self, heap: &Arc<Heap>) -> Result<(), MarkError> {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            let s = prepare_gpu(gpu, heap)?;
            *self.prepare_s.lock().unwrap_or_else(|p| p.into_inner()) = s;
            return Ok(());
        }
        let _ = heap;
        Ok(())
    }

    /// What the GPU did over the run; `None` for `cpu`. A device lost
    /// during the run is an error (its cycles finished on the CPU).
    pub fn figures(&self) -> Result<Option<GpuFigures>, MarkError> {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            let st = stats_unless_lost(gpu)?;
            let prepare_s = *self.prepare_s.lock().unwrap_or_else(|p| p.into_inner());
            return Ok(Some(GpuFigures::of(gpu, &st, prepare_s)));
        }
        Ok(None)
    }
}

/// Groups a level trace into power-of-two width buckets, narrowest first:
/// a deep narrow tail of thousands of levels stays a row or two, and the
/// buckets show at a glance where the GPU's time goes.
#[cfg(feature = "gpu")]
fn level_profile(trace: &[gpumark::gpu::LevelSample]) -> Vec<LevelBucket> {
    let mut buckets: BTreeMap<u32, LevelBucket> = BTreeMap::new();
    for l in trace {
        let k = 63 - l.items.max(1).leading_zeros();
        let b = buckets.entry(k).or_insert_with(|| LevelBucket {
            min_items: 1 << k,
            max_items: (1u64 << k).saturating_mul(2) - 1,
            ..LevelBucket::default()
        });
        b.levels += 1;
        b.items += l.items;
        b.scan_work += l.scan_work;
        b.gpu_s += l.gpu_s;
    }
    buckets.into_values().collect()
}

/// Resources built once per invocation and shared by every mark: thread
/// pools, and one GPU scan backend (device, pipelines, heap mirror) per GPU
/// backend asked for.
#[derive(Default)]
pub struct MarkContext {
    /// One rayon pool per thread count, for `cpu` and `bfs`.
    pools: BTreeMap<usize, rayon::ThreadPool>,
    #[cfg(feature = "gpu")]
    gpus: BTreeMap<GpuApi, Arc<gpumark::gpu::GpuScan>>,
}

impl fmt::Debug for MarkContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarkContext")
            .field("pools", &self.pools.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl MarkContext {
    /// Builds the pools each of `thread_counts` needs.
    pub fn new(thread_counts: &[usize]) -> Result<MarkContext, rayon::ThreadPoolBuildError> {
        let mut ctx = MarkContext::default();
        for &t in thread_counts {
            if let std::collections::btree_map::Entry::Vacant(e) = ctx.pools.entry(t) {
                e.insert(rayon::ThreadPoolBuilder::new().num_threads(t).build()?);
            }
        }
        Ok(ctx)
    }

    /// The scan backend for a concurrent run with `b` (`cpu` or a GPU
    /// backend opened by [`MarkContext::open_gpus`]).
    pub fn concurrent_backend(&self, b: Backend) -> Result<ConcurrentBackend, MarkError> {
        match b {
            #[cfg(feature = "gpu")]
            Backend::Gpu(api) => {
                let gpu = self
                    .gpus
                    .get(&api)
                    .ok_or(Unavailable::NoAdapter { api: b.name() })?;
                Ok(ConcurrentBackend {
                    name: b.name(),
                    scan: Arc::clone(gpu) as Arc<dyn ScanBackend>,
                    gpu: Some(Arc::clone(gpu)),
                    prepare_s: Mutex::new(0.0),
                })
            }
            _ => Ok(ConcurrentBackend {
                name: b.name(),
                scan: Arc::new(CpuScan),
                #[cfg(feature = "gpu")]
                gpu: None,
                prepare_s: Mutex::new(0.0),
            }),
        }
    }

    /// Opens the device of every GPU backend in `backends` with `settings`.
    #[cfg(feature = "gpu")]
    pub fn open_gpus(
        &mut self,
        backends: &[Backend],
        settings: GpuSettings,
    ) -> Result<(), (Backend, Unavailable)> {
        use gpumark::gpu::{GpuOptions, GpuScan, GpuScanOptions, OffloadPolicy};
        for &b in backends {
            let Backend::Gpu(api) = b else { continue };
            if self.gpus.contains_key(&api) {
                continue;
            }
            b.availability().map_err(|e| (b, e))?;
            crate::runtime_dir::prepare();
            let opts = GpuScanOptions {
                gpu: GpuOptions {
                    backend: api.choice(),
                    allow_subgroups: settings.kernel == ScanKernel::Auto,
                    trace_levels: settings.trace_levels,
                    count_ops: settings.count_ops,
                    ..GpuOptions::default()
                },
                policy: match settings.offload {
                    Offload::Auto => OffloadPolicy::Auto,
                    Offload::Always => OffloadPolicy::Always,
                },
                ..GpuScanOptions::default()
            };
            let scan = GpuScan::new(&opts).map_err(|e| {
                (
                    b,
                    Unavailable::DeviceFailed {
                        api: b.name(),
                        reason: e.to_string(),
                    },
                )
            })?;
            log::info!(
                "{b}: opened {} (scan kernel {}, offload {}{})",
                scan.adapter(),
                scan.context().scan_kernel(),
                scan.policy().name(),
                match scan.context().counts_ops() {
                    true => ", counting operations",
                    false => "",
                }
            );
            self.gpus.insert(api, Arc::new(scan));
        }
        Ok(())
    }

    /// Without the `gpu` feature there is nothing to open; asking for a GPU
    /// backend is refused earlier, by [`Backend::availability`].
    #[cfg(not(feature = "gpu"))]
    pub fn open_gpus(
        &mut self,
        backends: &[Backend],
        _settings: GpuSettings,
    ) -> Result<(), (Backend, Unavailable)> {
        match backends.iter().find(|b| b.is_gpu()) {
            Some(&b) => Err((b, Unavailable::NoGpuFeature)),
            None => Ok(()),
        }
    }
}

/// How GPU backends are set up: `--offload`, `--scan-kernel`,
/// `--trace-levels` and `--count-ops`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuSettings {
    /// Who scans narrow frontiers.
    pub offload: Offload,
    /// Which scan kernel.
    pub kernel: ScanKernel,
    /// Time every level with GPU timestamps.
    pub trace_levels: bool,
    /// Mark with the kernels' counting variant (`gpu.ops`).
    pub count_ops: bool,
}

/// `--scan-kernel`: which WGSL scan kernel a GPU backend runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanKernel {
    /// `scan_subgroup` where the adapter has subgroup operations, else
    /// `scan_workgroup`.
    #[default]
    Auto,
    /// `scan_workgroup` (one queue reservation per workgroup and four
    /// strides, no subgroup operations), to compare against the subgroup
    /// kernel on the same adapter.
    Workgroup,
}

/// `--offload`: who scans narrow frontiers on a GPU backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Offload {
    /// The GPU hands narrow frontiers to the CPU at the measured threshold.
    #[default]
    Auto,
    /// The GPU scans everything it is given.
    Always,
}

impl GpuApi {
    /// Whether an adapter for this API is present: asked of wgpu once per
    /// API (each enumeration opens a wgpu instance, which loads the drivers),
    /// the first time any backend's availability is asked, so that a run
    /// with only CPU backends never opens one.
    #[cfg(feature = "gpu")]
    fn has_adapter(self) -> bool {
        use std::sync::Mutex;
        static SEEN: Mutex<BTreeMap<GpuApi, bool>> = Mutex::new(BTreeMap::new());
        let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
        *seen.entry(self).or_insert_with(|| {
            crate::runtime_dir::prepare();
            !gpumark::gpu::GpuContext::adapters(self.choice()).is_empty()
        })
    }

    /// The library's backend choice for this API (`None`: any).
    #[cfg(feature = "gpu")]
    fn choice(self) -> Option<gpumark::gpu::BackendChoice> {
        use gpumark::gpu::BackendChoice;
        match self {
            GpuApi::Any => None,
            GpuApi::Vulkan => Some(BackendChoice::Vulkan),
            GpuApi::Metal => Some(BackendChoice::Metal),
            GpuApi::Dx12 => Some(BackendChoice::Dx12),
            GpuApi::Gl => Some(BackendChoice::Gl),
        }
    }
}

/// Every backend name host-bench knows, CPU first.
pub const ALL: [Backend; 8] = [
    Backend::CpuSerial,
    Backend::Cpu,
    Backend::Bfs,
    Backend::Gpu(GpuApi::Any),
    Backend::Gpu(GpuApi::Vulkan),
    Backend::Gpu(GpuApi::Metal),
    Backend::Gpu(GpuApi::Dx12),
    Backend::Gpu(GpuApi::Gl),
];

impl Backend {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::CpuSerial => "cpu-serial",
            Backend::Cpu => "cpu",
            Backend::Bfs => "bfs",
            Backend::Gpu(GpuApi::Any) => "gpu",
            Backend::Gpu(GpuApi::Vulkan) => "vulkan",
            Backend::Gpu(GpuApi::Metal) => "metal",
            Backend::Gpu(GpuApi::Dx12) => "dx12",
            Backend::Gpu(GpuApi::Gl) => "gl",
        }
    }

    /// Parses a backend name.
    pub fn from_name(s: &str) -> Option<Backend> {
        ALL.into_iter().find(|b| b.name() == s)
    }

    /// True for backends that run on a GPU.
    pub fn is_gpu(self) -> bool {
        matches!(self, Backend::Gpu(_))
    }

    /// Whether this backend can run in this build on this machine.
    pub fn availability(self) -> Result<(), Unavailable> {
        match self {
            Backend::CpuSerial | Backend::Cpu | Backend::Bfs => Ok(()),
            #[cfg(feature = "gpu")]
            Backend::Gpu(api) => match api.has_adapter() {
                true => Ok(()),
                false => Err(Unavailable::NoAdapter { api: self.name() }),
            },
            #[cfg(not(feature = "gpu"))]
            Backend::Gpu(_) => Err(Unavailable::NoGpuFeature),
        }
    }

    /// The backends that can run here, in report order.
    ///
    /// Each API with an adapter appears once under its own name; `gpu` (the
    /// platform's default adapter, which is one of those) only when no named
    /// API has one, so the default suite does not mark twice on one device.
    pub fn available() -> Vec<Backend> {
        let mut v: Vec<Backend> = ALL
            .into_iter()
            .filter(|b| *b != Backend::Gpu(GpuApi::Any) && b.availability().is_ok())
            .collect();
        if !v.iter().any(|b| b.is_gpu()) && Backend::Gpu(GpuApi::Any).availability().is_ok() {
            v.push(Backend::Gpu(GpuApi::Any));
        }
        v
    }

    /// The thread count this backend actually uses when asked for `threads`.
    pub fn effective_threads(self, threads: usize) -> usize {
        match self {
            Backend::CpuSerial => 1,
            _ => threads,
        }
    }

    /// The adapter this backend runs on; `None` for CPU backends.
    pub fn adapter(self, ctx: &MarkContext) -> Option<Adapter> {
        #[cfg(feature = "gpu")]
        if let Backend::Gpu(api) = self {
            let a = ctx.gpus.get(&api)?.adapter();
            return Some(Adapter {
                name: a.name.clone(),
                api: a.backend_name().into(),
                device_type: a.device_type_name().into(),
                driver: a.driver.clone(),
            });
        }
        let _ = ctx;
        None
    }

    /// Readies this backend for one mark of `heap` ([`Prepared::mark`]):
    /// a GPU backend's stats are reset and its mirror brought up to date
    /// (the heap's first upload, then the ranges that changed) with the
    /// device idle, timed as the mark's `gpu.prepare_s`; the CPU backends
    /// need nothing. Call it before starting a mark's timer.
    pub fn prepare<'h>(
        self,
        heap: &'h Arc<Heap>,
        ctx: &MarkContext,
    ) -> Result<Prepared<'h>, MarkError> {
        #[cfg(feature = "gpu")]
        let prepare_s = match self {
            Backend::Gpu(api) => {
                let gpu = ctx
                    .gpus
                    .get(&api)
                    .ok_or(Unavailable::NoAdapter { api: self.name() })?;
                Some(prepare_gpu(gpu, heap)?)
            }
            _ => None,
        };
        #[cfg(not(feature = "gpu"))]
        let prepare_s = {
            let _ = ctx;
            None
        };
        Ok(Prepared {
            backend: self,
            heap,
            prepare_s,
        })
    }
}

/// A backend readied for one mark of one heap by [`Backend::prepare`]; the
/// mark itself is [`Prepared::mark`], all a runner times.
#[derive(Debug)]
pub struct Prepared<'h> {
    /// The backend that marks.
    backend: Backend,
    /// The heap it was readied for.
    heap: &'h Arc<Heap>,
    /// Seconds the preparation took; `None` for CPU backends.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    prepare_s: Option<f64>,
}

impl Prepared<'_> {
    /// Marks the heap once with `threads` workers (nothing but the mark:
    /// the preparation is done).
    pub fn mark(self, threads: usize, ctx: &MarkContext) -> Result<Marked, MarkError> {
        let heap = self.heap;
        let cpu = |bits, marked, bytes_marked| Marked {
            marked,
            bytes_marked,
            bits,
            upload_s: None,
            gpu: None,
        };
        match self.backend {
            Backend::CpuSerial => {
                let r = mark_stw(heap, 1);
                Ok(cpu(r.bits, r.marked, r.bytes_marked))
            }
            Backend::Cpu => {
                // The pool built once for this thread count, as bfs uses, so
                // thread start-up is not timed.
                let pool = ctx
                    .pools
                    .get(&threads)
                    .ok_or(MarkError::NoPool { threads })?;
                let r = mark_stw_in(pool, heap, &CpuScan);
                Ok(cpu(r.bits, r.marked, r.bytes_marked))
            }
            Backend::Bfs => {
                let pool = ctx
                    .pools
                    .get(&threads)
                    .ok_or(MarkError::NoPool { threads })?;
                let r = bfs_mark(heap, pool);
                Ok(cpu(r.bits, r.marked, r.bytes_marked))
            }
            #[cfg(feature = "gpu")]
            Backend::Gpu(api) => {
                let gpu = ctx.gpus.get(&api).ok_or(Unavailable::NoAdapter {
                    api: self.backend.name(),
                })?;
                let pool = ctx
                    .pools
                    .get(&threads)
                    .ok_or(MarkError::NoPool { threads })?;
                // The heap was uploaded by Backend::prepare (the first time,
                // reported as upload_s), and the stats reset there.
                let r = mark_stw_in(pool, heap, gpu.as_ref());
                let st = stats_unless_lost(gpu)?;
                Ok(Marked {
                    marked: r.marked,
                    bytes_marked: r.bytes_marked,
                    bits: r.bits,
                    upload_s: Some(st.upload_s),
                    gpu: Some(GpuFigures::of(gpu, &st, self.prepare_s.unwrap_or_default())),
                })
            }
            #[cfg(not(feature = "gpu"))]
            Backend::Gpu(_) => Err(Unavailable::NoGpuFeature.into()),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `--backend` value: a backend by name, or `all` for every backend
/// present (what the default selects too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendArg {
    /// Every backend available here.
    All,
    /// One backend.
    One(Backend),
}

/// The backends `--backend` selects, in order, each once: every available
/// backend for none or `all`, else the ones named.
pub fn resolve(args: &[BackendArg]) -> Vec<Backend> {
    let mut out: Vec<Backend> = Vec::new();
    let picks = if args.is_empty() {
        &[BackendArg::All][..]
    } else {
        args
    };
    for a in picks {
        let add = match *a {
            BackendArg::All => Backend::available(),
            BackendArg::One(b) => vec![b],
        };
        for b in add {
            if !out.contains(&b) {
                out.push(b);
            }
        }
    }
    out
}

/// Parses a `--backend` value; an unknown name is answered with the
/// backends available here and those known but not available, with why.
pub fn parse_backend(s: &str) -> Result<BackendArg, String> {
    let s = s.trim();
    if s == "all" {
        return Ok(BackendArg::All);
    }
    Backend::from_name(s).map(BackendArg::One).ok_or_else(|| {
        let available: Vec<&str> = Backend::available().iter().map(|b| b.name()).collect();
        let mut msg = format!(
            "unknown backend `{s}`; available: {}, or all",
            available.join(", ")
        );
        for b in ALL {
            if let Err(why) = b.availability() {
                msg.push_str(&format!(
                    "; {} is known but not available ({why})",
                    b.name()
                ));
            }
        }
        msg
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "gpu")]
    fn op_counts_become_totals_and_rates_per_1024_edges() {
        let mut o = gpumark::gpu::OpCounts::default();
        o.ctl_atomics = 3;
        o.stripe_atomics = 2048;
        o.mark_atomics = 4096;
        o.mark_loads = 5000;
        o.descriptor_loads = 1100;
        o.slot_loads = 4200;
        o.ring_writes = 1000;
        o.ring_reads = 1024;
        o.workgroup_barriers = 40;
        o.levels = 18;
        o.empty_levels = 2;
        o.max_workgroup_slots = 65536;
        o.edges = 4096;
        let t = OpTotals::of(&o);
        assert_eq!(
            (t.ctl_atomics, t.ring_reads, t.levels, t.empty_levels),
            (3, 1024, 18, 2)
        );
        assert_eq!((t.max_workgroup_slots, t.edges), (65536, 4096));
        let p = OpsPer1024Edges::of(&o).expect("edges were followed");
        assert_eq!(p.ctl_atomics, 0.75);
        assert_eq!((t.stripe_atomics, p.stripe_atomics), (2048, 512.0));
        assert_eq!(p.mark_atomics, 1024.0);
        assert_eq!(p.ring_reads, 256.0);
        assert_eq!(p.workgroup_barriers, 10.0);
        // No edge followed: totals, but no rates.
        o.edges = 0;
        assert_eq!(OpsPer1024Edges::of(&o), None);
        assert_eq!(OpTotals::of(&o).mark_atomics, 4096);
    }

    #[test]
    fn all_selects_every_available_backend_once() {
        assert_eq!(parse_backend("all"), Ok(BackendArg::All));
        let cpu = BackendArg::One(Backend::Cpu);
        assert_eq!(resolve(&[]), Backend::available());
        assert_eq!(resolve(&[BackendArg::All]), Backend::available());
        // Named first, then the rest of `all`, without repeats.
        let r = resolve(&[cpu, BackendArg::All, cpu]);
        assert_eq!(r[0], Backend::Cpu);
        assert_eq!(r.len(), Backend::available().len());
    }

    #[test]
    fn names_round_trip() {
        for b in ALL {
            assert_eq!(Backend::from_name(b.name()), Some(b));
        }
    }

    #[test]
    fn unknown_backend_lists_available() {
        let e = parse_backend("cuda").unwrap_err();
        assert!(e.contains("cpu-serial, cpu, bfs"), "{e}");
        assert!(e.contains("vulkan"), "{e}");
    }

    #[test]
    #[cfg(not(feature = "gpu"))]
    fn gpu_names_parse_but_are_unavailable() {
        let BackendArg::One(b) = parse_backend("vulkan").unwrap() else {
            panic!("vulkan is one backend");
        };
        assert_eq!(b.availability(), Err(Unavailable::NoGpuFeature));
        assert!(!Backend::available().contains(&b));
    }

    #[test]
    #[cfg(feature = "gpu")]
    fn gpu_backends_are_available_exactly_when_an_adapter_is() {
        for api in [GpuApi::Vulkan, GpuApi::Metal, GpuApi::Dx12, GpuApi::Gl] {
            let b = Backend::Gpu(api);
            let present = !gpumark::gpu::GpuContext::adapters(api.choice()).is_empty();
            assert_eq!(b.availability().is_ok(), present, "{b}");
            assert_eq!(Backend::available().contains(&b), present, "{b}");
            if !present {
                assert_eq!(
                    b.availability(),
                    Err(Unavailable::NoAdapter { api: b.name() })
                );
            }
        }
    }
}
