//! Marking: the bitmap, work buffers, the drain loops and the
//! stop-the-world parallel mark. Go counterparts: mgcmark.go, mgcwork.go.

pub mod bits;
pub mod drain;
pub mod stw;
pub mod work;

pub use bits::MarkBits;
pub use drain::{
    DrainFlags, DrainHooks, Marker, NoHooks, DRAIN_CHECK_THRESHOLD, GC_CREDIT_SLACK,
    MAX_OBLET_BYTES, OBLET_SLOTS, ROOT_BLOCK_SLOTS, SCAN_BATCH,
};
pub use stw::{mark_stw, mark_stw_in, mark_stw_with, MarkResult};
pub use work::{GcWork, GreyItem, WorkBuf, WorkLists, WorkerStats, WORKBUF_BYTES, WORKBUF_OBJS};
