//! A complete parallel mark of a quiescent heap. Go counterpart: the
//! mark-termination `gcDrain` in blocking mode (`gcMarkTermination` with
//! `work.nproc` workers), and `gcBgMarkWorker`'s structure.
//!
//! `threads` workers each own a [`GcWork`] and run [`Marker::drain_with`] in
//! blocking mode over one shared [`Marker`], stepping the scan backend. They share root jobs through the
//! markroot counter and grey work through the global full list, and they stop
//! together through Go's `nwait == nproc` rule (see `mark::work`). The workers
//! run on a rayon pool of exactly `threads` threads, one `broadcast` task per
//! thread: blocking drains need every worker running at once, which a
//! work-stealing `join` would not guarantee.

use super::drain::{DrainFlags, Marker, NoHooks};
use super::work::{GcWork, WorkerStats};
use super::MarkBits;
use crate::heap::Heap;
use crate::scan::{CpuScan, ScanBackend};
use std::sync::Arc;

/// What a complete mark found.
#[derive(Debug)]
#[non_exhaustive]
pub struct MarkResult {
    /// Objects marked.
    pub marked: u64,
    /// Bytes of marked objects.
    pub bytes_marked: u64,
    /// Heap scan work (bytes of pointer slots scanned).
    pub heap_scan_work: i64,
    /// Root scan work (globals and stacks).
    pub root_scan_work: i64,
    /// Per-worker statistics, one entry per worker.
    pub workers: Vec<WorkerStats>,
    /// The mark bitmap.
    pub bits: MarkBits,
}

/// Marks everything reachable from `heap`'s roots with `threads` workers on
/// the CPU. The heap must not change while this runs.
pub fn mark_stw(heap: &Arc<Heap>, threads: usize) -> MarkResult {
    mark_stw_with(heap, threads, &CpuScan)
}

/// [`mark_stw`] with the scanning done by `backend`.
pub fn mark_stw_with(heap: &Arc<Heap>, threads: usize, backend: &dyn ScanBackend) -> MarkResult {
    let threads = threads.max(1);
    if threads > 1 {
        if let Ok(pool) = rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
            return mark_stw_in(&pool, heap, backend);
        }
        // No threads to be had: one worker still marks exactly.
    }
    mark_on(heap, backend, 1, |run| vec![run()])
}

/// [`mark_stw_with`] on an existing pool, one worker per pool thread, so that
/// repeated marks (benchmarks) do not pay for starting threads.
pub fn mark_stw_in(
    pool: &rayon::ThreadPool,
    heap: &Arc<Heap>,
    backend: &dyn ScanBackend,
) -> MarkResult {
    let n = pool.current_num_threads();
    mark_on(heap, backend, n, |run| pool.broadcast(|_| run()))
}

fn mark_on(
    heap: &Arc<Heap>,
    backend: &dyn ScanBackend,
    workers: usize,
    spawn: impl Fn(&(dyn Fn() -> WorkerStats + Sync)) -> Vec<WorkerStats>,
) -> MarkResult {
    let m = Marker::new(heap.clone());
    m.prepare_roots();
    backend.phase_start(&m);
    m.set_nproc(workers as u32);
    let run = || {
        let mut gcw = GcWork::new();
        m.drain_with(&mut gcw, DrainFlags::empty(), &NoHooks, backend);
        m.dispose(&mut gcw);
        *gcw.stats()
    };
    let mut workers = spawn(&run);
    // The backend's marks go into the bitmap once every worker is done. A
    // device lost at that merge greys its marks again on the host (`settle`
    // returns false): the workers drain them, on the CPU.
    while !backend.settle(&m) {
        m.set_nproc(workers.len() as u32);
        for (w, more) in workers.iter_mut().zip(spawn(&run)) {
            w.add(&more);
        }
    }
    debug_assert!(!m.work_available());
    MarkResult {
        marked: m.bits().count(),
        bytes_marked: m.bytes_marked(),
        heap_scan_work: m.heap_scan_work(),
        root_scan_work: m.stack_scan_work() + m.globals_scan_work(),
        workers,
        bits: m.into_bits(),
    }
}
