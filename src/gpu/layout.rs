//! Memory layouts shared by the host and the shaders.
//!
//! WGSL has no `#include`, so every shader repeats the constants below; the
//! unit test `shader_constants_match_host` reads them back out of each shader
//! with naga and compares them with these, so the copies cannot drift.
//!
//! ## The control block (`ctl`, `CTL_WORDS` × `u32`, all atomics on the GPU, then the level log)
//!
//! Queue state lives on the GPU between batches; the host mirrors `HEAD` and
//! `QUEUE_LEN` from each readback and, when it pushes or takes items, writes
//! back the whole queue state (`HEAD` .. `PUSHED`, as the final
//! `level_advance` of a batch leaves it), which the inbox pass reads before
//! the batch's first `level_advance`. Words from `CTL_BATCH_FIRST` on are reset by the host
//! before each batch. 64-bit counters are `(lo, hi)` pairs updated with an
//! add-with-carry on `lo` (`atomicAdd` returns the old value; a wrap bumps `hi`).

use bytemuck::{Pod, Zeroable};

/// Ring index of the first queued item.
pub(crate) const CTL_HEAD: u32 = 0;
/// Items queued from `HEAD` (including the level being scanned).
pub(crate) const CTL_QUEUE_LEN: u32 = 1;
/// Items in the level being scanned: ring `[HEAD, HEAD + CUR_LEN)`.
pub(crate) const CTL_CUR_LEN: u32 = 2;
/// Ring index where the level's pushes start (`HEAD + QUEUE_LEN`).
pub(crate) const CTL_TAIL: u32 = 3;
/// Ring slots free for the level's pushes (`capacity - QUEUE_LEN`).
pub(crate) const CTL_FREE: u32 = 4;
/// Items pushed by the level being scanned (atomic append cursor).
pub(crate) const CTL_PUSHED: u32 = 5;
/// First word reset by the host at batch start.
pub(crate) const CTL_BATCH_FIRST: u32 = 6;
/// Non-zero once a push did not fit in the ring.
pub(crate) const CTL_OVERFLOW: u32 = 6;
/// Levels the batch may still plan.
pub(crate) const CTL_LEVELS_LEFT: u32 = 7;
/// Budget in slots, low and high word.
pub(crate) const CTL_BUDGET_LO: u32 = 8;
/// Scan work done by the batch, in slots (lo, hi at +1).
pub(crate) const CTL_SCAN_LO: u32 = 10;
/// Items scanned by the batch (lo, hi at +1).
pub(crate) const CTL_ITEMS_LO: u32 = 12;
/// Objects newly marked by the batch.
pub(crate) const CTL_MARKED: u32 = 14;
/// Bytes newly marked by the batch (lo, hi at +1).
pub(crate) const CTL_BYTES_LO: u32 = 15;
/// Levels the batch planned with at least one item.
pub(crate) const CTL_LEVELS_RUN: u32 = 17;
/// Batch scan work (slots; lo, hi at +1) when the batch's last planned level
/// began: the last level's own scan work is `SCAN - LEVEL_START`.
pub(crate) const CTL_LEVEL_START_LO: u32 = 18;
/// Objects in the device inbox for the batch's shade pass
/// (`scan_inbox.wgsl`), set by the host with the batch words.
pub(crate) const CTL_INBOX_LEN: u32 = 20;
/// Inbox objects the GPU had marked already (duplicates of its own greys).
pub(crate) const CTL_DUPS: u32 = 21;
/// Bytes of those duplicates (lo, hi at +1): what the host counted twice.
pub(crate) const CTL_DUP_BYTES_LO: u32 = 22;
/// `level_advance` dispatches that ran in the batch (each runs only after a
/// level that scanned, so one more than the levels that ran).
pub(crate) const CTL_ADVANCES: u32 = 24;
/// Last word reset by the host at batch start.
pub(crate) const CTL_BATCH_LAST: u32 = 24;
/// Words in the control block proper (padded to 128 bytes): what every
/// batch reads back.
pub(crate) const CTL_WORDS: u32 = 32;
/// Counter stripes follow the control block: [`STRIPES`] of
/// [`STRIPE_WORDS`] words each, one 128-byte line apiece, where the scan
/// kernels' workgroups add their totals (workgroup `w` to stripe
/// `w % STRIPES`) instead of on the control block's one line;
/// `level_advance` folds them into the batch counters and clears them
/// once per level.
pub(crate) const CTL_STRIPES: u32 = CTL_WORDS;
/// Counter stripes.
pub(crate) const STRIPES: u32 = 16;
/// Words per stripe (a 128-byte line).
pub(crate) const STRIPE_WORDS: u32 = 32;
/// A stripe's scan work in slots (lo, hi at +1).
#[allow(dead_code)] // used by the shaders; checked against them in a test
pub(crate) const STRIPE_SCAN_LO: u32 = 0;
/// A stripe's marked objects.
#[allow(dead_code)] // used by the shaders; checked against them in a test
pub(crate) const STRIPE_MARKED: u32 = 2;
/// A stripe's marked bytes (lo, hi at +1).
#[allow(dead_code)] // used by the shaders; checked against them in a test
pub(crate) const STRIPE_BYTES_LO: u32 = 3;
/// The level log follows the stripes in the same buffer: for level
/// `k` of a batch (`k` < [`TRACE_LEVELS`]), words `CTL_LOG + 4k ..` hold the
/// items it scanned and its scan work in slots (lo, hi), written by
/// `level_advance` when it consumes the level (word 3 is padding). Only a
/// level trace reads it back ([`crate::gpu::LevelSample`]).
pub(crate) const CTL_LOG: u32 = CTL_STRIPES + STRIPES * STRIPE_WORDS;
/// Words per level in the level log.
pub(crate) const LOG_WORDS_PER_LEVEL: u32 = 4;
/// Levels per batch the level log (and a level trace) covers: one timestamp
/// query before each of them and one after the last fill a query set of
/// wgpu's maximum size.
pub(crate) const TRACE_LEVELS: u32 = wgpu::QUERY_SET_MAX_QUERIES - 1;
/// Words in the control buffer: the block and the level log.
pub(crate) const CTL_BUFFER_WORDS: u32 = CTL_LOG + LOG_WORDS_PER_LEVEL * TRACE_LEVELS;

/// Uniform block shared by both kernels (`Params` in WGSL).
///
/// Chunked arrays hold `1 << shift` elements per binding, so the shaders
/// split an index with a shift and a mask instead of a division.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct Params {
    /// Objects at or above this index are black already (allocated during
    /// the cycle): never marked, queued or scanned.
    pub(crate) watermark: u32,
    /// Grey ring capacity in items.
    pub(crate) queue_cap: u32,
    /// log2(objects per object-table binding).
    pub(crate) obj_shift: u32,
    /// log2(slots per slots binding).
    pub(crate) slot_shift: u32,
    /// log2(items per queue binding).
    pub(crate) queue_shift: u32,
    /// Most items one level may take: at most
    /// `max_compute_workgroups_per_dimension` workgroups, which is what lets
    /// the host turn off wgpu's check of indirect dispatches (device.rs).
    pub(crate) level_cap: u32,
    /// Padding to 16 bytes.
    pub(crate) _pad0: u32,
    /// Padding to 16 bytes.
    pub(crate) _pad1: u32,
}

/// Item flag in a grey item's oblet word: the host counted the bytes of this
/// first item's object (see `scan_common.wgsl`).
pub(crate) const COUNTED: u32 = 1 << 31;
/// Most slots one scan workgroup scans in one dispatch; items past it are
/// queued again for the next level.
#[allow(dead_code)] // used by the shaders; checked against them in a test
pub(crate) const SLOT_CAP: u32 = 65536;

/// Fewest workgroups `level_advance` spreads a level of at least that many
/// items over: a small level of a large object's oblets, queued next to
/// each other, then goes to many workgroups, a few oblets each.
#[allow(dead_code)] // used by the shaders; checked against them in a test
pub(crate) const MIN_LEVEL_WORKGROUPS: u32 = 64;

/// Number of bindings each chunked array is split across (fixed in the shaders).
pub(crate) const OBJ_CHUNKS: usize = 4;
/// Slots are the largest array, so they get the most bindings.
pub(crate) const SLOT_CHUNKS: usize = 8;
/// Grey ring bindings.
pub(crate) const QUEUE_CHUNKS: usize = 4;
