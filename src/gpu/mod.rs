//! The GPU marking engine (cargo feature `gpu`): a mirror of the heap on the
//! device, batches of breadth-first mark levels run as WGSL compute shaders
//! (`shaders/`), and [`GpuScan`], the scan backend that puts them behind
//! `drain` and `drain_n`. No Go counterpart: this replaces the scanning
//! inside `gcDrain` / `gcDrainN`, not their protocol.
//!
//! # What it mirrors
//!
//! The heap layout is the CPU engine's, buffer for buffer:
//!
//! * an object table, one [`ObjectInfo`] `{ slot_start, nslots, size }` per
//!   dense object index;
//! * the flat pointer `slots` array (0 = nil, else target index + 1);
//! * the mark bitmap, bit `i` of `u32` word `i / 32` — the same bytes as the
//!   CPU engine's `u64` words on a little-endian host;
//! * a grey queue of `(obj, oblet)` items.
//!
//! # How a batch marks
//!
//! [`HeapMirror::run_batch`] encodes up to `max_levels` breadth-first levels in
//! **one** command buffer and reads back one small block of counters at the
//! end, so the host pays one submission and one map per batch, not per level:
//!
//! ```text
//! [inbox]  advance  scan  advance  scan  ...  advance  copy(ctl -> staging)
//!             |       ^      |       ^           |
//!             +-args--+      +-args--+           +-- final consume, plans nothing
//! ```
//!
//! * `advance` (`shaders/level_advance.wgsl`, one invocation) *consumes* the
//!   level that just ran (moves the ring head past it, adds what it pushed to
//!   the queue length) and *plans* the next: how many items it takes from the
//!   head of the queue, written as the workgroup count of the next scan's
//!   indirect dispatch into its own small `args` buffer. It plans zero items —
//!   an empty dispatch — once the batch's scan work has reached the budget,
//!   the queue is empty, or the batch's level count is used up.
//! * `scan` (`shaders/scan_subgroup.wgsl` or `shaders/scan_workgroup.wgsl`,
//!   dispatched with `dispatch_workgroups_indirect`) scans the level's items
//!   and appends every object it newly marks to the tail of the queue.
//!
//! The `args` buffer is bound read-write only by `advance`; the scan dispatch
//! only reads it as its indirect argument, which is what wgpu requires.
//!
//! # The budget
//!
//! The budget is counted in Go's scan-work units (8 bytes per pointer slot
//! scanned). `advance` stops planning levels once the batch's accumulated
//! scan work reaches the budget, and never plans more items than the budget
//! has slots left (every queued item has at least one slot). A level once
//! planned runs to completion, so a batch stays **within one level's worth**
//! of the budget: it overshoots by less than the scan work of its last level,
//! and that level holds at most `remaining budget / 8` items.
//!
//! # The queue
//!
//! One ring of `(obj, oblet)` items, not two double-buffered level queues: a
//! level is the run of items `[head, head + cur_len)` of the ring, and what it
//! pushes lands after the ring's tail. This halves the queue memory and lets
//! items the budget left unscanned simply stay at the head for the next batch
//! (or for [`HeapMirror::take_queue`]). Each object is queued at most once per
//! cycle (only the winner of its mark bit queues it), so a ring of
//! [`MirrorCapacity::min_queue_items`] items can never overflow; an overflow
//! (only possible if the host pushes items it did not freshly mark) is
//! reported as [`GpuError::QueueOverflow`], never dropped silently.
//!
//! # Wide objects
//!
//! An item covers at most [`OBLET_SLOTS`] slots (Go's 128 KiB oblets). The scan
//! kernel balances slots, not items, across a workgroup: the workgroup loads
//! [`WORKGROUP_SIZE`] items, prefix-sums their slot counts in workgroup memory,
//! then all invocations walk the concatenated slot list together, each finding
//! its item by binary search over the prefix sums (a "load-balanced search").
//! A 16384-slot oblet and 255 two-slot objects in one workgroup keep all 256
//! invocations busy; no invocation scans a long object alone.
//!
//! # Under the CPU engine's drain loops
//!
//! [`GpuScan`] is a scan step ([`ScanBackend::scan`](crate::scan::ScanBackend::scan))
//! under Go's own `gcDrain` and `gcDrainN` (`Marker::drain_with`,
//! `Marker::drain_n_with`): it uploads what the heap changed at each phase
//! start, sends the host's greys to the device (objects the GPU may have
//! marked go to the **inbox**, [`HeapMirror::push_inbox`], which the next
//! batch shades with `shaders/scan_inbox.wgsl`; items the host owns go
//! straight into the queue, [`HeapMirror::push_greys`]), runs a batch per
//! step and charges its scan work to the caller, hands narrow frontiers to
//! the CPU and takes them back ([`OffloadPolicy`], [`OffloadModel`]), merges
//! the GPU's bitmap into the host's at hand-offs and at the end of marking
//! ([`HeapMirror::download_marks`]), and finishes on the CPU if the device
//! is lost. Its module documentation states the protocol and its
//! invariants.
//!
//! # Counting what the kernels do
//!
//! [`GpuOptions::count_ops`] builds the counting variant of the kernels:
//! each batch also reads back its operations by category ([`OpCounts`]:
//! atomics on the control block's line, descriptor and slot reads, mark
//! loads and read-modify-writes, ring reads and writes, barriers, levels,
//! the largest workgroup's slots). The counts are the same on every
//! adapter, so they measure the kernels' work where no GPU is at hand
//! (`tests/gpu_ops.rs`, `host-bench --count-ops`).
//!
//! # Errors
//!
//! Everything that can fail is a [`GpuError`]; nothing on this path panics
//! on what a driver or a caller can cause.

mod backend;
mod batch;
mod chunked;
mod device;
mod layout;
mod mirror;
mod offload;
mod ops;
mod options;
mod queue;
mod readback;
mod shaders;
mod twin;

pub use backend::{GpuScan, GpuScanOptions, GpuScanStats};
pub use batch::{BatchCounters, LevelSample};
pub use device::{GpuContext, STORAGE_BINDINGS_NEEDED};
pub use mirror::{HeapMirror, MirrorCapacity, ObjectInfo};
pub use offload::{OffloadModel, OffloadPolicy};
pub use ops::OpCounts;
pub use options::{AdapterDescription, BackendChoice, GpuOptions};
pub use queue::ITEM_COUNTED;
/// The wgpu this crate is built with, for an application that shares its
/// device ([`GpuContext::from_device`]) and must name the same version.
pub use wgpu;

/// Slots per oblet: Go scans objects larger than 128 KiB in 128 KiB pieces
/// (`maxObletBytes`), which is 16384 pointer-sized words; the CPU engine's
/// [`crate::mark::OBLET_SLOTS`]. An item `(obj, k)` covers slots
/// `[k * OBLET_SLOTS, min((k + 1) * OBLET_SLOTS, nslots))`.
pub const OBLET_SLOTS: u32 = crate::mark::OBLET_SLOTS;

/// Invocations per scan workgroup; also the number of items one workgroup
/// takes from the queue. 256 is the largest size every wgpu backend accepts
/// by default and gives the load-balanced search enough slots to spread.
pub const WORKGROUP_SIZE: u32 = 256;

/// Most levels one batch may encode. Every level is three dispatches in the
/// command buffer (level advance, indirect-args validation, scan), and a
/// level the GPU finds empty still costs a few microseconds, so a batch long
/// enough to hide the submit/readback round trip (tens of levels) is plenty;
/// the cap keeps a careless `u32::MAX` from encoding billions of dispatches.
pub const MAX_BATCH_LEVELS: u32 = 4096;

/// Scan work (Go's unit: bytes of pointer words) charged per slot scanned;
/// the CPU engine's [`crate::heap::WORD_BYTES`].
pub const SCAN_WORK_PER_SLOT: u64 = crate::heap::WORD_BYTES;

/// A grey work item: `(object index, oblet index)`.
pub type GreyItem = (u32, u32);

/// Everything that can go wrong on the GPU path. The CPU engine treats any of
/// these as "continue on the CPU"; none of them is a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No adapter matched the requested backend and name.
    #[error("no GPU adapter found (wanted {wanted}); set WGPU_BACKEND / WGPU_ADAPTER_NAME or install a driver (e.g. Mesa lavapipe: mesa-vulkan-drivers)")]
    NoAdapter {
        /// What was asked for: backends and name filter.
        wanted: String,
    },
    /// The driver refused to open a device on the chosen adapter.
    #[error("requesting a device failed: {0}")]
    RequestDevice(String),
    /// The adapter lacks something the engine needs (compute shaders with
    /// indirect dispatch).
    #[error("adapter unsupported: {what}")]
    Unsupported {
        /// What is missing.
        what: String,
    },
    /// The device's limits (as it was opened, or the adapter's for
    /// [`GpuContext::new`]) are below what the kernels need.
    #[error(
        "the device's {limit} is {have}, and gpumark's kernels need at least {need}: \
         open it with required_limits adapter.limits() (or at least that much)"
    )]
    MissingLimit {
        /// The [`wgpu::Limits`] field.
        limit: &'static str,
        /// The least value the kernels need.
        need: u64,
        /// The device's value.
        have: u64,
    },
    /// A shared device was opened without a feature that something asked
    /// of gpumark needs.
    #[error(
        "the device was opened without {feature}, which {needed_for} needs: \
         add it to the DeviceDescriptor's required_features"
    )]
    MissingFeature {
        /// The missing features.
        feature: wgpu::Features,
        /// What needs them.
        needed_for: &'static str,
    },
    /// A heap array does not fit in the bindings the adapter allows.
    #[error(
        "heap too large for this adapter: {what} needs {bytes} bytes, at most {limit} bytes fit"
    )]
    HeapTooLarge {
        /// Which array (object table, slots, mark bitmap, grey queue).
        what: &'static str,
        /// Bytes it needs.
        bytes: u64,
        /// Bytes that fit (chunks × per-binding limit, or one binding).
        limit: u64,
    },
    /// An upload, push or request falls outside the mirror's capacity or
    /// breaks the mirror's contract (e.g. a grey at or above the watermark).
    #[error("out of range: {what}")]
    OutOfRange {
        /// What was out of range, with the numbers.
        what: String,
    },
    /// The grey queue cannot take the pushed items.
    #[error("grey queue full: {len} queued + {pushed} pushed > capacity {capacity}")]
    QueueFull {
        /// Items already queued.
        len: u64,
        /// Items being pushed.
        pushed: u64,
        /// Ring capacity in items.
        capacity: u64,
    },
    /// The queue's host copy is unknown while a batch is in flight: finish
    /// it ([`HeapMirror::finish_batch`]) before pushing or taking greys, or
    /// submitting another batch.
    #[error("a batch is in flight; finish it first")]
    BatchInFlight,
    /// The GPU could not append a newly marked object to the queue. Marks made
    /// in that batch may lack their grey item: redo the cycle's marking on the
    /// CPU. Cannot happen with a queue of [`MirrorCapacity::min_queue_items`]
    /// unless the host pushes items it did not freshly mark.
    #[error("grey queue overflowed on the GPU (capacity {capacity} items)")]
    QueueOverflow {
        /// Ring capacity in items.
        capacity: u64,
    },
    /// The device was lost (driver reset, removal, or injected by a test).
    /// Everything on the GPU since the last download is gone.
    #[error("GPU device lost: {reason}")]
    DeviceLost {
        /// wgpu's reason and message.
        reason: String,
    },
    /// The device ran out of memory.
    #[error("GPU out of memory: {what}")]
    OutOfMemory {
        /// What was being allocated or run.
        what: String,
    },
    /// Mapping a readback buffer failed without the device being lost.
    #[error("mapping a readback buffer failed: {0}")]
    Map(String),
    /// A wgpu validation or internal error: a bug in this engine.
    #[error("internal GPU error: {0}")]
    Internal(String),
    /// A backend name that is not `vulkan`, `metal`, `dx12` or `gl`.
    #[error("unknown GPU backend {given:?}: expected vulkan, metal, dx12 or gl")]
    UnknownBackend {
        /// What was given.
        given: String,
    },
    /// An offload policy name that is neither `auto` nor `always`.
    #[error("unknown offload policy {given:?}: expected \"auto\" or \"always\"")]
    UnknownPolicy {
        /// What was given.
        given: String,
    },
}
