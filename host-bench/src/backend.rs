//! The mark backends host-bench can run, and whether this build has them.
//!
//! Every backend is one variant of [`Backend`]. Adding a backend is one arm in
//! [`Backend::name`]/[`Backend::from_name`], one in [`Backend::availability`]
//! saying when it can run, and one in [`Backend::mark`] doing the mark; the
//! runner, the reports and the plots take whatever [`Marked`] says.
//!
//! The GPU names (`gpu`, `vulkan`, `metal`, `dx12`, `gl`) are parsed already so
//! a user who asks for one is told why it cannot run rather than that it does
//! not exist. Until gpumark's GPU path is wired in, they are unavailable; when
//! it is, [`Backend::availability`] enumerates adapters (under
//! `cfg(feature = "gpu")`), [`MarkContext`] holds the device built once per
//! invocation, and [`Backend::mark`] fills in `upload_s` and `batches`.

use gpumark::baseline::bfs_mark;
use gpumark::heap::Heap;
use gpumark::mark::{mark_stw, mark_stw_in, MarkBits};
use gpumark::scan::CpuScan;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
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
    NoGpuFeature,
    /// The feature is built but no adapter for the API was found.
    #[allow(dead_code)] // Constructed once the GPU path is wired in.
    #[error("no {api} adapter was found")]
    NoAdapter {
        /// The API asked for.
        api: &'static str,
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
}

/// A GPU adapter as reported in the JSON `adapter` field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Adapter {
    /// The adapter's name ("llvmpipe (LLVM 15.0.7, 256 bits)").
    pub name: String,
    /// The API it was opened through ("vulkan").
    pub api: String,
    /// Discrete, integrated, virtual, cpu or other.
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
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
    /// GPU dispatch batches; `None` for CPU backends.
    pub batches: Option<u64>,
    /// Time spent uploading the heap before marking; `None` for CPU backends.
    pub upload_s: Option<f64>,
}

/// Resources built once per invocation and shared by every mark: thread
/// pools now, a GPU device later.
#[derive(Debug, Default)]
pub struct MarkContext {
    /// One rayon pool per thread count, for `bfs`.
    pools: BTreeMap<usize, rayon::ThreadPool>,
}

impl MarkContext {
    /// Builds the pools `bfs` needs for each of `thread_counts`.
    pub fn new(thread_counts: &[usize]) -> Result<MarkContext, rayon::ThreadPoolBuildError> {
        let mut pools = BTreeMap::new();
        for &t in thread_counts {
            if let std::collections::btree_map::Entry::Vacant(e) = pools.entry(t) {
                e.insert(rayon::ThreadPoolBuilder::new().num_threads(t).build()?);
            }
        }
        Ok(MarkContext { pools })
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
            Backend::Gpu(_) => Err(Unavailable::NoGpuFeature),
        }
    }

    /// The backends that can run here, in report order.
    pub fn available() -> Vec<Backend> {
        ALL.into_iter()
            .filter(|b| b.availability().is_ok())
            .collect()
    }

    /// The thread count this backend actually uses when asked for `threads`.
    pub fn effective_threads(self, threads: usize) -> usize {
        match self {
            Backend::CpuSerial => 1,
            _ => threads,
        }
    }

    /// The adapter this backend runs on; `None` for CPU backends.
    pub fn adapter(self, _ctx: &MarkContext) -> Option<Adapter> {
        None
    }

    /// Marks `heap` once with `threads` workers.
    pub fn mark(
        self,
        heap: &Arc<Heap>,
        threads: usize,
        ctx: &MarkContext,
    ) -> Result<Marked, MarkError> {
        let cpu = |bits, marked, bytes_marked| Marked {
            marked,
            bytes_marked,
            bits,
            batches: None,
            upload_s: None,
        };
        match self {
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
            Backend::Gpu(_) => Err(Unavailable::NoGpuFeature.into()),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a `--backend` value; the error lists what this build can run.
pub fn parse_backend(s: &str) -> Result<Backend, String> {
    Backend::from_name(s.trim()).ok_or_else(|| {
        let available: Vec<&str> = Backend::available().iter().map(|b| b.name()).collect();
        let gpu: Vec<&str> = ALL
            .iter()
            .filter(|b| b.is_gpu() && b.availability().is_err())
            .map(|b| b.name())
            .collect();
        let mut msg = format!("unknown backend `{s}`; available: {}", available.join(", "));
        if !gpu.is_empty() {
            msg.push_str(&format!(
                " (also known, but {}: {})",
                Unavailable::NoGpuFeature,
                gpu.join(", ")
            ));
        }
        msg
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn gpu_names_parse_but_are_unavailable() {
        let b = parse_backend("vulkan").unwrap();
        assert_eq!(b.availability(), Err(Unavailable::NoGpuFeature));
        assert!(!Backend::available().contains(&b));
    }
}
