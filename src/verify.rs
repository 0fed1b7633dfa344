//! Reference marking: a simple sequential reachability pass that every
//! backend is checked against, and the bitmap comparison that names the first
//! difference.

use crate::heap::{Heap, WORD_BYTES};
use crate::mark::MarkBits;
use std::sync::atomic::Ordering::Relaxed;
use thiserror::Error;

/// The reachable set and the totals a correct mark must report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reach {
    /// Bitmap of reachable objects (64 per word).
    pub bits: Vec<u64>,
    /// Reachable objects.
    pub count: u64,
    /// Bytes of reachable objects.
    pub bytes: u64,
    /// Heap scan work: 8 bytes per slot of every reachable object.
    pub heap_scan_work: i64,
    /// Root scan work: 8 bytes per global and stack slot.
    pub root_scan_work: i64,
}

impl Reach {
    /// Whether object `i` is reachable.
    pub fn contains(&self, i: u32) -> bool {
        self.bits
            .get(i as usize / 64)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
}

/// Computes the objects reachable from `heap`'s roots with an explicit stack.
/// The heap must be quiescent.
pub fn reachable(heap: &Heap) -> Reach {
    let n = heap.len() as usize;
    let mut bits = vec![0u64; n.div_ceil(64)];
    let mut stack: Vec<u32> = Vec::new();
    let mut r = Reach {
        bits: Vec::new(),
        count: 0,
        bytes: 0,
        heap_scan_work: 0,
        root_scan_work: 0,
    };
    let visit = |v: u32, stack: &mut Vec<u32>, bits: &mut Vec<u64>| {
        if v != 0 {
            let o = v - 1;
            let (w, b) = (o as usize / 64, 1u64 << (o % 64));
            if bits[w] & b == 0 {
                bits[w] |= b;
                stack.push(o);
            }
        }
    };
    let mut roots: Vec<u32> = heap.globals().iter().map(|s| s.load(Relaxed)).collect();
    for st in heap.stacks() {
        roots.extend(st.snapshot());
    }
    r.root_scan_work = roots.len() as i64 * WORD_BYTES as i64;
    for v in roots {
        visit(v, &mut stack, &mut bits);
    }
    let slots = heap.raw_slots();
    while let Some(o) = stack.pop() {
        let d = heap.desc(o);
        r.count += 1;
        r.bytes += u64::from(d.size);
        r.heap_scan_work += i64::from(d.nslots) * WORD_BYTES as i64;
        let s = d.slot_start as usize;
        for slot in &slots[s..s + d.nslots as usize] {
            visit(slot.load(Relaxed), &mut stack, &mut bits);
        }
    }
    r.bits = bits;
    r
}

/// A marked set that differs from the reachable set.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// A reachable object was left white: live memory would be freed.
    #[error("object {obj} is reachable but was not marked")]
    Unmarked {
        /// The first such object.
        obj: u32,
    },
    /// An unreachable object was marked.
    #[error("object {obj} is unreachable but was marked")]
    Overmarked {
        /// The first such object.
        obj: u32,
    },
}

/// Checks that `marked` equals `reach` exactly, naming the first difference.
pub fn check_exact(marked: &MarkBits, reach: &Reach) -> Result<(), Mismatch> {
    match marked.first_difference(&reach.bits) {
        None => Ok(()),
        Some(obj) if reach.contains(obj) => Err(Mismatch::Unmarked { obj }),
        Some(obj) => Err(Mismatch::Overmarked { obj }),
    }
}

/// Checks that every reachable object is marked (floating garbage allowed):
/// the correctness condition of a concurrent cycle.
pub fn check_covers(marked: &MarkBits, reach: &Reach) -> Result<(), Mismatch> {
    for (i, &w) in reach.bits.iter().enumerate() {
        let mut missing = w;
        let base = (i * 64) as u32;
        while missing != 0 {
            let b = missing.trailing_zeros();
            if !marked.is_marked(base + b) {
                return Err(Mismatch::Unmarked { obj: base + b });
            }
            missing &= missing - 1;
        }
    }
    Ok(())
}
