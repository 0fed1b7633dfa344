//! The scan seam: who blackens the grey objects that Go's drain loops hand
//! out.
//!
//! There is one `gcDrain` and one `gcDrainN`: [`Marker::drain_with`] and
//! [`Marker::drain_n_with`]. They own everything Go's loops own: the flags,
//! root jobs, `DRAIN_CHECK_THRESHOLD` and `poll_stop`, the write-barrier
//! flush when dry, the credit flushes and `workFlushed`. What differs
//! between backends is one *step* under those loops: [`ScanBackend::scan`]
//! is handed the grey items the loop took and a scan-work [`Budget`], and
//! blackens grey work, charging what it scanned to the caller's [`GcWork`]
//! as heap scan work (so the loop flushes it to the marker's counters and to
//! background credit exactly as it flushes its own). [`CpuScan`]'s step is
//! Go's `scanobject` over the items. The GPU backend (`gpu::GpuScan`, cargo
//! feature `gpu`) sends the host's greys to the device and runs a batch; its
//! hand-offs between CPU and GPU and its batch sizing live behind the step.
//!
//! A backend that keeps grey work of its own (a GPU queue) says so through
//! [`ScanBackend::has_pending_work`], which the loops and the collector's
//! termination check consult, and the lifecycle hooks (in the shape of
//! mmtk-core's policy traits, each a no-op by default) let it prepare a
//! heap, start a phase, and settle before the phase's marks are read.

use crate::heap::Heap;
use crate::mark::{GcWork, GreyItem, Marker};
use std::sync::Arc;

/// How much a [`ScanBackend::scan`] step may do before it returns to the
/// drain loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Until the work runs out: a drain that nothing interrupts and that
    /// flushes no credit (a stop-the-world mark).
    Unbounded,
    /// A drain that checks preemption or its stop condition, or flushes
    /// credit, between steps: the backend picks a step that keeps those
    /// prompt (the GPU: a batch of a few milliseconds).
    Drain,
    /// About this much scan work (`gcDrainN`'s remainder); the step may do
    /// more because objects (or a GPU level) are scanned whole.
    Work(i64),
}

/// What a [`ScanBackend::scan`] step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// It scanned (possibly nothing, if there was nothing to scan); the work
    /// is in the caller's [`GcWork::heap_scan_work`].
    Scanned,
    /// The backend was busy with another worker's step and the caller asked
    /// not to wait: nothing was scanned, and the items went back into the
    /// caller's `GcWork`.
    Busy,
}

/// Something that can blacken grey objects for a [`Marker`]'s drain loops.
pub trait ScanBackend: Send + Sync {
    /// A short name for reports ("cpu", "gpu").
    fn name(&self) -> &str;

    /// The scan step. Blackens `items` (grey items the loop took from
    /// `gcw`), and whatever else of the host's grey work the backend takes
    /// (`gcw` and the global lists), within `budget`. Scan work is added to
    /// `gcw`'s heap scan work; objects marked go through the marker as in
    /// `greyobject`. With `wait` false a backend that would have to wait for
    /// another worker returns [`Step::Busy`] at once instead, giving the
    /// items back to `gcw`: `gcDrainN` never blocks.
    fn scan(
        &self,
        m: &Marker,
        gcw: &mut GcWork,
        items: &[GreyItem],
        budget: Budget,
        wait: bool,
    ) -> Step;

    /// True if this backend holds grey work outside the host's queues (a
    /// GPU queue): the drain loops keep stepping, and termination must not
    /// end the cycle while it does.
    fn has_pending_work(&self) -> bool {
        false
    }

    /// Readies the backend for marking `heap` (a GPU uploads it), so the
    /// first phase does not pay for it. Failures are the backend's to
    /// report; marking goes on without it.
    fn prepare(&self, _heap: &Arc<Heap>) {}

    /// A mark phase of `m` begins (after [`Marker::prepare_roots`], before
    /// any drain). Backends that keep per-phase state also notice a new
    /// phase by its [`Marker::phase`] token, so calling this is optional.
    fn phase_start(&self, _m: &Marker) {}

    /// Marking looks done (no grey work anywhere, this backend's included)
    /// and nothing else marks: no drain runs and no mutator writes (a
    /// stop-the-world mark's workers have joined; the collector has stopped
    /// the world). Makes `m`'s bitmap and counters complete, so termination,
    /// the checkmark and the sweep read every mark. A GPU merges its bitmap
    /// here. Returns false if that turned up grey work (a device lost at
    /// the merge: its marks are greyed again on the host), and marking must
    /// go on.
    fn settle(&self, _m: &Marker) -> bool {
        true
    }
}

/// The CPU backend: Go's `scanobject` on the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuScan;

impl ScanBackend for CpuScan {
    fn name(&self) -> &str {
        "cpu"
    }

    fn scan(&self, m: &Marker, gcw: &mut GcWork, items: &[GreyItem], _: Budget, _: bool) -> Step {
        m.scan_batch(items, gcw);
        Step::Scanned
    }
}
