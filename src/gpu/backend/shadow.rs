//! The host's shadow of the GPU's mark bitmap, and the rules that keep the
//! two bitmaps telling one story.
//!
//! There are two bitmaps: the host's `H` (the marker's, where roots, the
//! write barrier and any CPU scanning mark) and the GPU's `G`. While the GPU
//! marks, the host cannot see `G` (reading it means a download), and it goes
//! on greying objects in `H` (roots, barrier shades). The host never asks
//! the GPU what it has marked; it sends its greys to the device inbox, where
//! the GPU marks them in `G` itself (`scan_inbox.wgsl`), and the bitmaps
//! meet only at a merge (`H |= G`: at a hand-off to the CPU, at the idle
//! merges of a concurrent phase, and once at the end of marking). The
//! [`Shadow`] is what the host knows between merges:
//!
//! - `g`: `G` as of the last merge (or as last uploaded at a hand-off to
//!   the GPU): what "new" means at the next merge;
//! - `U` (`uploaded`): objects whose host grey item the host handed to the
//!   GPU (sent to the inbox, or pushed to the queue as its own) or took over
//!   from it; their scans are settled on one side;
//! - `settled`: objects marked on both sides whose host grey item (if any)
//!   is stale, found at a merge; their double byte count has been taken back.
//!
//! # Rules
//!
//! 1. **Push.** A host grey for `o`: if `o ∈ U`, the host owns its scan (it
//!    uploaded `o`'s bit at a hand-off, or took `o` over from the GPU's
//!    queue): it is pushed to the GPU queue as is. Else if `o ∈ settled`, it
//!    is a stale copy (the GPU scanned `o` before the last merge): dropped.
//!    Else `o` goes to the inbox and into `U`. On the device, the inbox
//!    pass's `atomicOr` decides: if the GPU had not marked `o`, it marks and
//!    queues it; if it had, the host's copy is dropped there and the GPU
//!    reports its bytes, which the host takes back. A first item stands for
//!    its whole object on both sides: the GPU, like the CPU, queues a large
//!    object's other oblets when it scans the first.
//! 2. **Merge** (`H |= G`, only with the GPU queue and inbox empty). For
//!    each object the GPU marked since the last merge that the host had
//!    marked before the merge's atomic OR
//!    ([`crate::mark::MarkBits::merge_seeing`]) and that is not in `U`: the
//!    host marked it without handing it over (a pointer-free object, which
//!    has no grey item, or a grey still waiting in some cache). Its bytes
//!    were counted on both sides: the host's count is taken back and the
//!    object becomes settled; a waiting grey copy of it is stale by rule 1.
//! 3. **Host scans** (mode CPU, and the CPU finish after a device loss) skip
//!    a first item whose object is settled and not in `U`: the stale copy of
//!    rule 2.
//! 4. **Taking the queue back** (GPU -> CPU): every taken object goes into
//!    `U`; a taken first item whose object became settled at *this* merge is
//!    dropped (its waiting host copy will scan it). A taken first item the
//!    GPU won and had not scanned has its object's bytes counted by the host
//!    (the GPU counts an object's bytes when it scans its first item).
//! 5. **Handing back** (CPU -> GPU, `H ⊇ G` and the GPU idle): all of `H`
//!    is uploaded into `G`, and the bits it adds join `U`: the host's greys
//!    for those objects are its own to push.
//!
//! So **one scanner per object**: the GPU scans what it wins in `G` (from
//! its own scans or the inbox), the host what it owns by `U`, and stale
//! copies are dropped by rules 1 and 3. **Shaded implies eventually
//! scanned**: every host grey is pushed, scanned on the CPU, or dropped
//! because the GPU has scanned (or will scan) its object; every GPU grey is
//! scanned there or taken back. **Bytes counted once**: the host counts
//! what it marks in `H`, the GPU what it wins in `G`; the overlap is taken
//! back exactly once, at the inbox (rule 1) or at a merge (rule 2), and `U`
//! keeps a merge from taking back again what the inbox already did.

use crate::mark::{GreyItem, Marker};
use rayon::prelude::*;
use std::collections::HashSet;

/// Where a host grey goes at a push (rule 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Push {
    /// The host owns its scan: straight into the GPU queue.
    Owned,
    /// To the device inbox, to be shaded there.
    Inbox,
    /// A stale copy: the GPU has scanned its object.
    Drop,
}

/// What a merge may assume about the host's bitmap and the phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Merge {
    /// Others may mark `H` meanwhile (barriers, roots, workers) and the
    /// phase goes on: each word is ORed with one atomic, and `G` is kept
    /// as what "new" means at the next merge.
    Concurrent,
    /// The world is stopped, every worker is done, and marking ends with
    /// this merge (a settle): each word is read and written with plain loads
    /// and stores, and `G` is not kept (the next phase starts clear), which
    /// saves the host a pass over the bitmap.
    Final,
}

/// A 32-bit-word bitmap that remembers which words it set, so a new phase
/// clears only those: the host's share of a GPU mark stays proportional to
/// what the host did, not to the heap.
#[derive(Debug, Default)]
struct Bits {
    words: Vec<u32>,
    /// Words that went from 0 to non-zero since the last clear.
    touched: Vec<u32>,
}

impl Bits {
    /// All clear, `len` words long.
    fn reset(&mut self, len: usize) {
        for w in self.touched.drain(..) {
            if let Some(v) = self.words.get_mut(w as usize) {
                *v = 0;
            }
        }
        self.words.resize(len, 0);
    }

    fn get(&self, i: u32) -> bool {
        // Clear since the last reset: no need to touch the words (a cache
        // miss per lookup, at every push before a phase's first merge).
        !self.touched.is_empty() && bit(&self.words, i)
    }

    fn set(&mut self, i: u32) {
        self.or_word((i / 32) as usize, 1 << (i % 32));
    }

    fn or_word(&mut self, w: usize, v: u32) {
        if let Some(word) = self.words.get_mut(w) {
            if *word == 0 && v != 0 {
                self.touched.push(w as u32);
            }
            *word |= v;
        }
    }
}

/// The host's knowledge of the GPU bitmap for one phase (see the module
/// documentation), in 32-bit words like the GPU's.
#[derive(Debug, Default)]
pub(super) struct Shadow {
    /// `G` as of the last merge or hand-off to the GPU: its first `g_live`
    /// words; the rest are 0 (`G` is clear at a phase start, and clearing
    /// megabytes for it would be the host's largest cost of a small mark).
    g: Vec<u32>,
    g_live: usize,
    /// `U`: objects whose host grey the host handed to the GPU or took over.
    uploaded: Bits,
    /// Objects marked on both sides found at a merge (rule 2).
    settled: Bits,
    /// Bitmap words below the phase's watermark: the only ones either side
    /// can mark, so the only ones moved between host and GPU.
    pub(super) live_words: usize,
    /// The GPU marked objects since its bitmap was last merged into `H`.
    pub(super) unmerged: bool,
}

impl Shadow {
    /// Starts a phase: `words` bitmap words, of which `live_words` lie below
    /// the watermark; `G` is clear.
    pub(super) fn reset(&mut self, words: usize, live_words: usize) {
        self.uploaded.reset(words);
        self.settled.reset(words);
        self.g_live = 0;
        self.live_words = live_words.min(words);
        self.unmerged = false;
    }

    /// Rule 1: where the host grey `it` goes. An inbox object joins `U`.
    pub(super) fn classify(&mut self, it: GreyItem) -> Push {
        if self.uploaded.get(it.obj) {
            return Push::Owned;
        }
        if self.settled.get(it.obj) {
            return Push::Drop;
        }
        // Oblets past the first come from the host's own scan of the first,
        // whose object is in `U` (rule 5).
        debug_assert_eq!(it.oblet, 0, "a host oblet of an object not in U");
        self.uploaded.set(it.obj);
        match it.oblet {
            0 => Push::Inbox,
            _ => Push::Owned,
        }
    }

    /// Rule 3: true for a stale host copy of an object the GPU scanned.
    pub(super) fn skip(&self, it: GreyItem) -> bool {
        it.oblet == 0 && self.settled.get(it.obj) && !self.uploaded.get(it.obj)
    }

    /// The objects whose host copies rule 3 skips, as a bitmap: what the
    /// CPU finish of a phase skips after the device is lost.
    pub(super) fn stale(&self) -> Vec<u32> {
        let mut out = vec![0; self.settled.words.len()];
        for &w in &self.settled.touched {
            let w = w as usize;
            out[w] = self.settled.words[w] & !self.uploaded.words.get(w).copied().unwrap_or(0);
        }
        out
    }

    /// Rule 2: merges `g_now` (the GPU's bitmap, its live words, as mapped)
    /// into `m`'s bitmap and settles the objects marked on both sides.
    /// Returns how many were and their bytes, which the caller takes back.
    /// After a [`Merge::Concurrent`] merge `g_now` is the shadow's `G` for a
    /// later merge or hand-back; after a [`Merge::Final`] one the shadow is
    /// spent until the next [`Shadow::reset`].
    pub(super) fn merge(&mut self, m: &Marker, g_now: &[u32], kind: Merge) -> (u64, u64) {
        let live = self.live_words.min(g_now.len());
        let old = &self.g[..self.g_live.min(live)];
        let (twice, bytes, touched) = merge_new_marks(
            m,
            &g_now[..live],
            old,
            &self.uploaded.words[..live],
            &mut self.settled.words[..live],
            kind,
        );
        self.settled.touched.extend(touched);
        self.unmerged = false;
        if kind == Merge::Concurrent {
            self.g.resize(live.max(self.g.len()), 0);
            self.g[..live].copy_from_slice(&g_now[..live]);
            self.g_live = live;
        }
        (twice, bytes)
    }

    /// Rule 4, after [`Shadow::merge`]: which of the items taken from the
    /// GPU queue the host scans. `settled_before` holds the objects of taken
    /// first items that were settled before this merge (taken over at an
    /// earlier hand-off and pushed back since: no other copy waits). A taken
    /// first item is its object's only item there: the GPU queues the other
    /// oblets when it scans the first, as the CPU does.
    pub(super) fn take_over(
        &mut self,
        items: Vec<(u32, u32)>,
        settled_before: &HashSet<u32>,
    ) -> Vec<GreyItem> {
        for &(o, k) in &items {
            if k == 0 {
                self.uploaded.set(o);
            }
        }
        items
            .into_iter()
            .filter(|&(obj, oblet)| {
                !(oblet == 0 && self.settled.get(obj) && !settled_before.contains(&obj))
            })
            .map(|(obj, oblet)| GreyItem { obj, oblet })
            .collect()
    }

    /// The objects of `items`' first items that are settled now (before a
    /// merge): see [`Shadow::take_over`].
    pub(super) fn settled_firsts(&self, items: &[(u32, u32)]) -> HashSet<u32> {
        items
            .iter()
            .filter(|&&(o, k)| k == 0 && self.settled.get(o))
            .map(|&(o, _)| o)
            .collect()
    }

    /// Rule 5: puts all of `h` (the host bitmap's 64-bit words) into `g`,
    /// the bits it adds into `U`; returns the live words to upload as `G`.
    pub(super) fn hand_back(&mut self, h: &[u64]) -> &[u32] {
        let live = self.live_words;
        self.g.resize(live.max(self.g.len()), 0);
        self.g[self.g_live.min(live)..live].fill(0);
        self.g_live = live;
        for i in 0..live {
            let hw = (h.get(i / 2).copied().unwrap_or(0) >> (32 * (i % 2))) as u32;
            let g = &mut self.g[i];
            self.uploaded.or_word(i, hw & !*g);
            *g |= hw;
        }
        &self.g[..live]
    }
}

/// Whether bit `i` is set in a 32-bit-word bitmap.
pub(super) fn bit(words: &[u32], i: u32) -> bool {
    words
        .get((i / 32) as usize)
        .is_some_and(|w| w & (1 << (i % 32)) != 0)
}

/// 64-bit bitmap words a piece of [`merge_new_marks`] takes at least: below
/// this, handing a piece to another thread costs more than the words.
const MERGE_WORDS_PER_PIECE: usize = 1 << 14;
/// Pieces [`merge_new_marks`] makes at most: the merge is bound by memory
/// bandwidth, which a few cores saturate.
const MERGE_PIECES: usize = 8;

/// What [`merge_new_marks`] found: objects marked on both sides, their
/// bytes, and the `settled` words that went from 0 to non-zero.
type Merged = (u64, u64, Vec<u32>);

/// `H |= g & !old` (the GPU's marks since the last merge) in one pass over
/// the 32-bit words `g`, `uploaded` and `settled` (of one length, from word
/// 0) and `old` (a prefix: 0 past its end), settling objects marked on
/// both sides that the host did not hand to the GPU (rule 2 of [`Shadow`]).
/// A large bitmap is split into disjoint ranges of words merged on rayon's
/// threads (already running: starting threads here would cost more than a
/// small merge): the other workers are waiting for the lock, and this is
/// the host's largest single piece of a GPU mark.
fn merge_new_marks(
    m: &Marker,
    g: &[u32],
    old: &[u32],
    uploaded: &[u32],
    settled: &mut [u32],
    kind: Merge,
) -> Merged {
    let words64 = g.len().div_ceil(2);
    let pieces = rayon::current_num_threads()
        .min(MERGE_PIECES)
        .min(words64 / MERGE_WORDS_PER_PIECE)
        .max(1);
    // Even, so every piece starts on a 64-bit word.
    let piece = 2 * words64.div_ceil(pieces).max(1);
    let merge_piece = |(k, s): (usize, &mut [u32])| {
        let at = k * piece;
        let end = (at + piece).min(g.len());
        let old = old.get(at..end.min(old.len())).unwrap_or_default();
        merge_range(m, at / 2, &g[at..end], old, &uploaded[at..end], s, kind)
    };
    let sum = |(t, b, mut w): Merged, (t2, b2, w2): Merged| {
        w.extend(w2);
        (t + t2, b + b2, w)
    };
    if pieces == 1 {
        return merge_piece((0, settled));
    }
    settled
        .par_chunks_mut(piece)
        .enumerate()
        .map(merge_piece)
        .reduce(|| (0, 0, Vec::new()), sum)
}

/// [`merge_new_marks`] of one piece, whose first 64-bit word is `first`;
/// `old` may be shorter than `g` (0 past its end).
fn merge_range(
    m: &Marker,
    first: usize,
    g: &[u32],
    old: &[u32],
    u: &[u32],
    settled: &mut [u32],
    kind: Merge,
) -> Merged {
    let heap = m.heap();
    let (mut twice, mut bytes, mut touched) = (0u64, 0u64, Vec::new());
    let new = |w: usize| g[w] & !old.get(w).copied().unwrap_or(0);
    let new64 = g.chunks(2).enumerate().map(|(i, pair)| {
        let hi = if pair.len() == 2 { new(2 * i + 1) } else { 0 };
        u64::from(new(2 * i)) | u64::from(hi) << 32
    });
    // Objects marked on both sides (rare: the host's roots and barrier
    // shades the GPU also reached).
    let seen = |i: usize, both64: u64| {
        for half in 0..2 {
            let w = 2 * (i - first) + half;
            let (Some(&uw), Some(sw)) = (u.get(w), settled.get_mut(w)) else {
                continue;
            };
            let mut both = (both64 >> (32 * half)) as u32 & !uw & !*sw;
            if both != 0 && *sw == 0 {
                touched.push((2 * i + half) as u32);
            }
            *sw |= both;
            while both != 0 {
                let obj = ((2 * i + half) * 32) as u32 + both.trailing_zeros();
                bytes += u64::from(heap.desc(obj).size);
                twice += 1;
                both &= both - 1;
            }
        }
    };
    match kind {
        Merge::Final => m.bits().merge_seeing_quiescent(first, new64, seen),
        Merge::Concurrent => m.bits().merge_seeing(first, new64, seen),
    }
    (twice, bytes, touched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::{build, Shape, ShapeSpec};
    use std::sync::Arc;

    /// A piece that starts past word 0 ORs its own words of `H` and settles
    /// the objects of its own words: what the threads of a large merge do,
    /// with atomic ORs or, the world stopped, plain stores.
    #[test]
    fn a_merge_piece_settles_the_objects_of_its_own_words() {
        let heap = Arc::new(build(&ShapeSpec {
            shape: Shape::Random,
            objects: 256,
            ptrs: 2,
            roots: 0,
            seed: 1,
        }));
        for kind in [Merge::Concurrent, Merge::Final] {
            let m = Marker::new(Arc::clone(&heap));
            // The host marked 130 (uploaded: its own push), 131 and 200; the GPU
            // marked 130, 131, 140 and 200, and 201 before the last merge.
            for o in [130, 131, 200] {
                assert!(m.bits().try_mark(o));
            }
            let mut g = [0u32; 8];
            let mut old = [0u32; 8];
            let mut u = [0u32; 8];
            for o in [130u32, 131, 140, 200, 201] {
                g[(o / 32) as usize] |= 1 << (o % 32);
            }
            old[201 / 32] |= 1 << (201 % 32);
            u[130 / 32] |= 1 << (130 % 32);
            let mut settled = [0u32; 8];
            // The piece of 64-bit words 2 and 3 (objects 128..256).
            let (twice, bytes, touched) =
                merge_range(&m, 2, &g[4..], &old[4..], &u[4..], &mut settled[4..], kind);
            let size = |o: u32| u64::from(heap.desc(o).size);
            assert_eq!((twice, bytes), (2, size(131) + size(200)));
            assert_eq!(touched, vec![131 / 32, 200 / 32]);
            for o in 0..256 {
                let want = [130, 131, 140, 200].contains(&o);
                assert_eq!(m.bits().is_marked(o), want, "object {o}");
                let both = o == 131 || o == 200;
                assert_eq!(bit(&settled, o), both, "settled {o}");
            }
        }
    }
}
