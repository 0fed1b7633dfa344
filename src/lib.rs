//! gpumark: the mark phase of a tracing garbage collector, faithful to the Go
//! runtime's concurrent marker, whose bulk scanning can run on a GPU.
//!
//! | module | holds | Go counterpart |
//! |---|---|---|
//! | [`heap`] | object arena, atomic slots, roots, builders (a user's own graph: [`Heap::from_csr`](heap::Heap::from_csr)), images | mheap, heap bitmap |
//! | [`mark`] | mark bitmap, `WorkBuf`/`GcWork`, `drain`/`drain_n`, markroot, oblets, `mark_stw` | mgcwork.go, mgcmark.go |
//! | [`pacer`] | heap goal, trigger, assist ratios, worker split, cycle feedback | mgcpacer.go |
//! | [`assist`] | assist credit, background credit, the assist queue | gcAssistAlloc, gcFlushBgCredit |
//! | [`barrier`] | per-mutator write-barrier buffer | mbarrier.go, mwbbuf.go |
//! | [`collector`] | concurrent cycles: start, workers, assists, termination, stats | mgc.go |
//! | [`scan`] | the `ScanBackend` seam behind `drain`/`drain_n` | — |
//! | `gpu` (feature `gpu`) | device, heap mirror, WGSL batches, `GpuScan` | — |
//! | [`import`] | JVM HPROF dumps and SNAP edge lists as heaps | — |
//! | [`baseline`], [`verify`] | the `bfs` floor; the reference reachability pass | — |
//!
//! ```
//! use gpumark::heap::{build, Shape, ShapeSpec};
//! use gpumark::mark::mark_stw;
//! use gpumark::verify::{check_exact, reachable};
//! use std::sync::Arc;
//!
//! let heap = Arc::new(build(&ShapeSpec { shape: Shape::PowerLaw, objects: 5_000, ptrs: 4, roots: 8, seed: 3 }));
//! let r = mark_stw(&heap, 2);
//! let reach = reachable(&heap);
//! assert_eq!(check_exact(&r.bits, &reach), Ok(()));
//! assert_eq!((r.bytes_marked, r.heap_scan_work), (reach.bytes, reach.heap_scan_work));
//! ```

//!
//! # Cargo features
//!
//! - `gpu` (off by default): the `gpu` module, bulk scanning on a GPU
//!   through wgpu (`GpuScan` behind the [`ScanBackend`](crate::scan::ScanBackend)
//!   seam, on a device gpumark opens or one the application shares with
//!   `GpuContext::from_device`). Without it the crate has no GPU dependency
//!   at all.
//! - `testing` (off by default): fault-injection hooks for tests of the GPU
//!   recovery paths (`GpuScan::inject_device_lost_after`,
//!   `HeapMirror::inject_device_lost`, with `gpu`). Not for production: a
//!   hook destroys the device for good. The test command
//!   (`cargo test --workspace --all-features`) turns it on.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
// docs.rs (`--cfg docsrs`, see Cargo.toml) marks each item with the
// feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod assist;
pub mod barrier;
pub mod baseline;
#[cfg(not(loom))] // the loom build models the assist queue alone
pub mod collector;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod heap;
pub mod import;
pub mod mark;
pub mod pacer;
pub mod scan;
pub mod verify;

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
