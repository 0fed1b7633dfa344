//! The scan seam: who does the scanning behind `drain` and `drain_n`.
//!
//! Callers (the stop-the-world marker, background workers, assists) never
//! scan objects themselves; they ask a [`ScanBackend`] to drain. The CPU
//! backend, [`CpuScan`], runs Go's loops (`Marker::drain`, `Marker::drain_n`)
//! on the calling thread. The GPU backend (`gpu::GpuScan`, cargo feature
//! `gpu`) takes grey work off the host queues in batches, scans it on the
//! device, and reports the scan work it did, which the caller flushes to
//! credit exactly as CPU work; when it has nothing to gain (a narrow
//! frontier) it runs the same CPU loops. Either way the caller's
//! contract is Go's: `drain` returns when its flags say so, `drain_n` returns
//! the scan work done.

use crate::mark::{DrainFlags, DrainHooks, GcWork, Marker};

/// Something that can blacken grey objects for a [`Marker`].
pub trait ScanBackend: Send + Sync {
    /// A short name for reports ("cpu", "gpu").
    fn name(&self) -> &str;

    /// Go's `gcDrain` semantics; see [`Marker::drain`].
    fn drain(&self, m: &Marker, gcw: &mut GcWork, flags: DrainFlags, hooks: &dyn DrainHooks);

    /// Go's `gcDrainN` semantics; see [`Marker::drain_n`]. Returns the scan
    /// work done.
    fn drain_n(&self, m: &Marker, gcw: &mut GcWork, scan_work: i64, hooks: &dyn DrainHooks) -> i64;

    /// True if this backend holds grey work outside the host's queues (a GPU
    /// queue); termination must not end the cycle while it does.
    fn has_pending_work(&self) -> bool {
        false
    }
}

/// The CPU backend: Go's drain loops on the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuScan;

impl ScanBackend for CpuScan {
    fn name(&self) -> &str {
        "cpu"
    }

    fn drain(&self, m: &Marker, gcw: &mut GcWork, flags: DrainFlags, hooks: &dyn DrainHooks) {
        m.drain(gcw, flags, hooks)
    }

    fn drain_n(&self, m: &Marker, gcw: &mut GcWork, scan_work: i64, hooks: &dyn DrainHooks) -> i64 {
        m.drain_n(gcw, scan_work, hooks)
    }
}
