//! The `bfs` floor: a plain level-synchronous parallel BFS over the same slot
//! array, with an atomic bitmap and none of Go's machinery (no work buffers,
//! no credit, no termination protocol). host-bench reports every backend as a
//! ratio to it: it is what "just mark the graph in parallel" costs here.
//!
//! Each level is a list of slot ranges (an object's slots, cut into pieces of
//! at most `OBLET_SLOTS` so one huge array does not serialise a level); rayon
//! scans the ranges in parallel and collects the next level.

use crate::heap::{Heap, WORD_BYTES};
use crate::mark::{MarkBits, OBLET_SLOTS};
use rayon::prelude::*;
use std::sync::atomic::Ordering::Relaxed;

/// What the BFS found.
#[derive(Debug)]
#[non_exhaustive]
pub struct BfsResult {
    /// Objects marked.
    pub marked: u64,
    /// Bytes of marked objects.
    pub bytes_marked: u64,
    /// Heap scan work (8 bytes per slot scanned).
    pub heap_scan_work: i64,
    /// Levels (BFS depth) processed.
    pub levels: u32,
    /// The mark bitmap.
    pub bits: MarkBits,
}

/// Marks `heap` level by level on `pool`. The heap must be quiescent.
pub fn bfs_mark(heap: &Heap, pool: &rayon::ThreadPool) -> BfsResult {
    let bits = MarkBits::new(heap.config().max_objects);
    let slots = heap.raw_slots();
    // Marks `v` if white; returns the new object's slot ranges and size.
    let visit = |v: u32, out: &mut Vec<(u32, u32)>| -> u64 {
        if v == 0 || !bits.try_mark(v - 1) {
            return 0;
        }
        let d = heap.desc(v - 1);
        let end = d.slot_start + d.nslots;
        let mut s = d.slot_start;
        while s < end {
            let e = end.min(s + OBLET_SLOTS);
            out.push((s, e));
            s = e;
        }
        u64::from(d.size)
    };
    let mut frontier = Vec::new();
    let mut bytes = 0u64;
    let mut roots: Vec<u32> = heap.globals().iter().map(|s| s.load(Relaxed)).collect();
    for st in heap.stacks() {
        roots.extend(st.snapshot());
    }
    for v in roots {
        bytes += visit(v, &mut frontier);
    }
    let (mut levels, mut work) = (0u32, 0i64);
    pool.install(|| {
        while !frontier.is_empty() {
            levels += 1;
            work += frontier
                .par_iter()
                .map(|&(s, e)| i64::from(e - s))
                .sum::<i64>()
                * WORD_BYTES as i64;
            let (next, b): (Vec<Vec<(u32, u32)>>, Vec<u64>) = frontier
                .par_chunks(256)
                .map(|chunk| {
                    let mut out = Vec::new();
                    let mut b = 0;
                    for &(s, e) in chunk {
                        for slot in &slots[s as usize..e as usize] {
                            b += visit(slot.load(Relaxed), &mut out);
                        }
                    }
                    (out, b)
                })
                .unzip();
            bytes += b.iter().sum::<u64>();
            frontier = next.concat();
        }
    });
    BfsResult {
        marked: bits.count(),
        bytes_marked: bytes,
        heap_scan_work: work,
        levels,
        bits,
    }
}
