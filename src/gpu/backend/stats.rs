//! Options and statistics of a [`GpuScan`](super::GpuScan)(super::GpuScan), and the
//! constants that size its batches.

use super::super::{BatchCounters, GpuOptions, LevelSample, OffloadPolicy, OpCounts};

/// Levels the first batch of a phase may run. Later batches double it while
/// they use every level and work remains (long chains), and halve it when
/// the queue empties in under a quarter of them: every encoded level costs a
/// dispatch even when it finds the queue empty.
pub const INITIAL_BATCH_LEVELS: u32 = 64;

/// Fewest levels a batch is given.
pub const MIN_BATCH_LEVELS: u32 = 16;

/// How long a background drain's batch should take, in seconds: the longest
/// a worker goes without checking preemption and flushing credit while the
/// GPU marks, and long enough that a batch's fixed cost (a submission and a
/// readback) is small against its work. The scan-work budget that gives it
/// is derived from the GPU's measured rate.
pub const DRAIN_BATCH_S: f64 = 0.004;

/// The smallest scan-work budget of a drain's batch (12,500 slots): below
/// it a batch's fixed cost (a submission, its levels' dispatches, a
/// readback) outweighs its work. Batches of at least this much also refine
/// the GPU's measured rate.
pub const MIN_DRAIN_BUDGET: u64 = 100_000;

/// Scan-work budget of a drain's batches before the GPU's rate is known.
pub const INITIAL_DRAIN_BUDGET: u64 = 16 * MIN_DRAIN_BUDGET;

/// Most scan work one step in mode *CPU* (after a hand-off) does before it
/// returns to the drain loop, which then flushes credit and checks its stop
/// conditions, as it does after a GPU batch.
pub const CPU_STRETCH_WORK: i64 = 100_000;

/// The CPU hands work back to the GPU when the host queues exceed this many
/// times the hand-off threshold (see the module comment).
pub const HANDOFF_HYSTERESIS: u64 = 2;

/// How a [`GpuScan`](super::GpuScan) is set up.
#[derive(Clone, Debug, Default)]
pub struct GpuScanOptions {
    /// Device selection and mirror limits.
    pub gpu: GpuOptions,
    /// Who scans: see [`OffloadPolicy`].
    pub policy: OffloadPolicy,
    /// A fixed hand-off threshold in grey items for [`OffloadPolicy::Auto`],
    /// instead of the measured [`OffloadModel::threshold`](crate::gpu::OffloadModel::threshold). For tests and
    /// experiments: a software driver's measured threshold can be infinite,
    /// and a fixed one makes the hand-off happen both ways.
    pub handoff_threshold: Option<u64>,
}

/// What a [`GpuScan`](super::GpuScan) did, summed since it was created or
/// [`GpuScan::reset_stats`](super::GpuScan::reset_stats) was called.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct GpuScanStats {
    /// Batches run (each one submission and one counter readback).
    pub batches: u64,
    /// Queue submissions of every kind: batches, readbacks, clears, upload
    /// flushes.
    pub submissions: u64,
    /// Bytes read back from the device: batch counters, bitmaps (at merges),
    /// taken greys (at hand-offs).
    pub readback_bytes: u64,
    /// Bytes uploaded: heap tables and slots, inbox objects, grey items, and
    /// the host's bitmap at hand-offs to the GPU.
    pub upload_bytes: u64,
    /// Seconds spent bringing the mirror's heap up to date at phase starts
    /// (and in [`GpuScan::prepare`](super::GpuScan::prepare)), transfers completed.
    pub upload_s: f64,
    /// Seconds spent creating mirrors (buffers and pipelines) and calibrating.
    pub setup_s: f64,
    /// Seconds from batch submission to counter readback, summed.
    pub gpu_s: f64,
    /// Seconds the host spent keeping its view and the GPU's in step:
    /// resetting the GPU bitmap and queue at phase starts, pushing host greys
    /// to the inbox and the queue, downloading and merging the GPU bitmap,
    /// and hand-offs. With `gpu_s` and `upload_s`, what a GPU mark's wall time
    /// is made of; the rest is root jobs and the CPU engine's own scanning.
    pub sync_s: f64,
    /// Heap scan work (Go's units: bytes of pointer slots) done on the GPU,
    /// less any lost with the device.
    pub gpu_scan_work: u64,
    /// Heap scan work done by the CPU engine inside this backend (hand-offs,
    /// and everything after a device loss).
    pub cpu_scan_work: u64,
    /// Switches from the GPU to the CPU (narrow frontier).
    pub handoffs_to_cpu: u64,
    /// Switches from the CPU back to the GPU (frontier widened).
    pub handoffs_to_gpu: u64,
    /// Objects the host sent to the device inbox to be shaded there.
    pub inbox_objects: u64,
    /// Objects marked on both sides: inbox objects the GPU had won already
    /// (their host copies dropped on the device) and, at merges, objects the
    /// host greyed or blackened that the GPU had won meanwhile. Each one's
    /// bytes are counted once (see the module documentation).
    pub duplicates: u64,
    /// The kernels' operations by category, summed over batches, when the
    /// context counts them ([`GpuOptions::count_ops`]).
    pub ops: Option<OpCounts>,
    /// The counters of the last batch.
    pub last_batch: Option<BatchCounters>,
    /// Every level of every batch, in order, when the context traces levels
    /// ([`GpuOptions::trace_levels`]); empty otherwise.
    pub level_trace: Vec<LevelSample>,
    /// Set when the device was lost (or failed otherwise) during a phase:
    /// the error, as reported once through `log::warn!`.
    pub device_lost: Option<String>,
    /// Heaps marked on the CPU because their mirror could not be created
    /// (too large for the adapter's bindings or memory): the last error.
    pub heap_refused: Option<String>,
}

impl GpuScanStats {
    /// The GPU's share of the heap scan work done through this backend:
    /// `gpu_scan_work / (gpu_scan_work + cpu_scan_work)`, 0 when none was
    /// done. Root scan work (globals and stacks) always runs on the host and
    /// is not part of either side.
    pub fn gpu_scan_fraction(&self) -> f64 {
        let total = self.gpu_scan_work + self.cpu_scan_work;
        if total == 0 {
            0.0
        } else {
            self.gpu_scan_work as f64 / total as f64
        }
    }
}
