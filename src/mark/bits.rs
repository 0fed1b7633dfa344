//! The mark bitmap. Go counterpart: `gcmarkBits` and `greyobject`'s
//! `mbits.isMarked()` / `mbits.setMarked()`.
//!
//! One bit per object, in 64-bit atomic words. [`MarkBits::try_mark`] checks
//! the bit with a plain load before the atomic read-modify-write: on any graph
//! with fan-in most attempts find the object already marked, and a load is far
//! cheaper than a contended `fetch_or` on a shared cache line (Go does the
//! same: `if mbits.isMarked() { return }` before `setMarked`).
//!
//! ## Memory ordering
//!
//! Relaxed throughout. The bit only decides *who* scans an object; the object's
//! contents are read afterwards by the winner, and their visibility is the
//! heap's business (see `heap`). All marking of a phase is ordered before the
//! reader of the final bitmap by the join that ends the phase.
//!
//! Bit `i` lives in word `i / 64` at bit `i % 64`, which on a little-endian
//! machine is also bit `i % 32` of 32-bit word `i / 32`: the GPU mirror uses
//! 32-bit words over the same bytes.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// An atomic bitmap with one bit per object.
#[derive(Debug)]
pub struct MarkBits {
    words: Box<[AtomicU64]>,
}

impl MarkBits {
    /// A cleared bitmap for `n` objects.
    pub fn new(n: u32) -> MarkBits {
        let words = (n as usize).div_ceil(64);
        MarkBits {
            words: std::iter::repeat_with(|| AtomicU64::new(0))
                .take(words)
                .collect(),
        }
    }

    /// Number of objects the bitmap covers (rounded up to a word).
    pub fn capacity(&self) -> usize {
        self.words.len() * 64
    }

    /// Sets bit `i`; returns true if this call set it (the caller now owns
    /// scanning the object), false if it was already set.
    #[inline]
    pub fn try_mark(&self, i: u32) -> bool {
        let w = &self.words[(i / 64) as usize];
        let m = 1u64 << (i % 64);
        if w.load(Relaxed) & m != 0 {
            return false;
        }
        w.fetch_or(m, Relaxed) & m == 0
    }

    /// Whether bit `i` is set.
    #[inline]
    pub fn is_marked(&self, i: u32) -> bool {
        self.words[(i / 64) as usize].load(Relaxed) & (1u64 << (i % 64)) != 0
    }

    /// Word `i` of the bitmap: the bits of objects `64 * i .. 64 * i + 64`
    /// (0 past the end). A span of the heap is exactly one word, so the sweep
    /// reads a span's marks with one load (Go's `gcmarkBits` of an mspan).
    #[inline]
    pub fn word(&self, i: usize) -> u64 {
        self.words.get(i).map_or(0, |w| w.load(Relaxed))
    }

    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.words
            .iter()
            .map(|w| u64::from(w.load(Relaxed).count_ones()))
            .sum()
    }

    /// Clears every bit.
    pub fn clear(&self) {
        for w in self.words.iter() {
            w.store(0, Relaxed);
        }
    }

    /// A copy of the words.
    pub fn snapshot(&self) -> Vec<u64> {
        self.words.iter().map(|w| w.load(Relaxed)).collect()
    }

    /// ORs `words` into the bitmap (merging marks made elsewhere, e.g. on a
    /// GPU); extra words past the end are ignored.
    pub fn merge(&self, words: &[u64]) {
        for (w, &v) in self.words.iter().zip(words) {
            if v != 0 {
                w.fetch_or(v, Relaxed);
            }
        }
    }

    /// [`MarkBits::merge`] of words made on the fly into words `first..`,
    /// that also calls `seen(i, both)` for each word `i` where the merge met
    /// bits already set: `both` is the word's value just before the OR,
    /// masked by the bits merged into it. Those are objects marked on both
    /// sides (the GPU backend reconciles its byte counts with this). The OR
    /// is one atomic per word, so a bit set concurrently is either in
    /// `both` or, set after, loses its `try_mark` to the merge. Disjoint
    /// ranges may be merged from several threads at once.
    pub fn merge_seeing(
        &self,
        first: usize,
        words: impl IntoIterator<Item = u64>,
        seen: impl FnMut(usize, u64),
    ) {
        self.merge_words(first, words, seen, |w, v| w.fetch_or(v, Relaxed));
    }

    /// [`MarkBits::merge_seeing`] for a bitmap nobody else writes meanwhile
    /// (the world is stopped, every worker done): each word is read and
    /// written with plain loads and stores instead of a read-modify-write,
    /// several times cheaper over a bitmap of megabytes.
    pub fn merge_seeing_quiescent(
        &self,
        first: usize,
        words: impl IntoIterator<Item = u64>,
        seen: impl FnMut(usize, u64),
    ) {
        self.merge_words(first, words, seen, |w, v| {
            let before = w.load(Relaxed);
            w.store(before | v, Relaxed);
            before
        });
    }

    /// The merges' loop: `or(word, v)` ORs `v` into a word and returns its
    /// value before.
    fn merge_words(
        &self,
        first: usize,
        words: impl IntoIterator<Item = u64>,
        mut seen: impl FnMut(usize, u64),
        or: impl Fn(&AtomicU64, u64) -> u64,
    ) {
        let tail = self.words.get(first..).unwrap_or_default();
        for (i, (w, v)) in tail.iter().zip(words).enumerate() {
            if v != 0 {
                let both = or(w, v) & v;
                if both != 0 {
                    seen(first + i, both);
                }
            }
        }
    }

    /// The first object at which `self` and `other` differ, if any.
    pub fn first_difference(&self, other: &[u64]) -> Option<u32> {
        let n = self.words.len().max(other.len());
        (0..n).find_map(|i| {
            let a = self.words.get(i).map_or(0, |w| w.load(Relaxed));
            let b = other.get(i).copied().unwrap_or(0);
            let d = a ^ b;
            (d != 0).then(|| (i * 64) as u32 + d.trailing_zeros())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_mark_wins_once() {
        let b = MarkBits::new(130);
        assert!(b.try_mark(129));
        assert!(!b.try_mark(129));
        assert!(b.is_marked(129) && !b.is_marked(128));
        assert_eq!(b.count(), 1);
        let mut other = b.snapshot();
        assert_eq!(b.first_difference(&other), None);
        other[0] |= 1 << 5;
        assert_eq!(b.first_difference(&other), Some(5));
        b.merge(&other);
        assert_eq!(b.count(), 2);
        let mut seen = Vec::new();
        // Word 2 holds bits 128..: 129 is set, 130 is new.
        b.merge_seeing(2, [0b110], |i, both| seen.push((i, both)));
        assert_eq!(seen, vec![(2, 0b010)]);
        assert_eq!(b.count(), 3);
        b.clear();
        assert_eq!(b.count(), 0);
    }

    #[test]
    fn concurrent_try_mark_has_one_winner_per_bit() {
        let b = MarkBits::new(10_000);
        let wins: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..10_000).filter(|&i| b.try_mark(i)).count() as u64))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 10_000);
    }
}
