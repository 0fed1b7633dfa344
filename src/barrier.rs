//! The write barrier and its per-mutator buffer. Go counterparts: mbarrier.go
//! (the hybrid barrier, `gcWriteBarrier`) and mwbbuf.go (`wbBuf`,
//! `wbBufFlush1`).
//!
//! While marking, every pointer write shades both the pointer it overwrites
//! and the pointer it stores. Shading the old value (Yuasa's deletion barrier)
//! means a mutator cannot hide a white object by moving its only reference
//! from the heap into its already-scanned stack and deleting the heap copy;
//! shading the new value (Dijkstra's insertion barrier) covers stacks that
//! have not been scanned yet. Together with stacks being scanned once and
//! objects allocated during marking being black, no reachable object can
//! stay white (Go's design 17503). Because both values are shaded, a scanner
//! that reads a slot before or after a racing write is correct either way,
//! which is also what lets a GPU mirror of the heap lag the host.
//!
//! Shading is not done on the spot: the barrier appends both values to a
//! per-mutator [`WbBuf`] and greys them in one go when it fills (or when the
//! collector asks, at termination), so a pointer write costs a couple of
//! stores rather than a mark-bit atomic and a work-queue push.

use crate::mark::{GcWork, Marker};

/// Entries in a barrier buffer (Go's `wbBufEntries`, 512 pointers; each write
/// records two).
pub const WB_BUF_ENTRIES: usize = 512;

/// A mutator's buffer of pointers to shade (encoded slot values, never 0).
#[derive(Debug)]
pub struct WbBuf {
    buf: Vec<u32>,
}

impl Default for WbBuf {
    fn default() -> Self {
        WbBuf {
            buf: Vec::with_capacity(WB_BUF_ENTRIES),
        }
    }
}

impl WbBuf {
    /// An empty buffer.
    pub fn new() -> WbBuf {
        WbBuf::default()
    }

    /// Records a write's overwritten and stored values (encoded; nil is
    /// skipped). Returns true when the buffer is full and must be flushed.
    #[inline]
    pub fn record(&mut self, old: u32, new: u32) -> bool {
        for v in [old, new] {
            if v != 0 {
                self.buf.push(v);
            }
        }
        self.buf.len() + 2 > WB_BUF_ENTRIES
    }

    /// Entries waiting to be shaded.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Go's `wbBufFlush1`: greys every recorded pointer into `gcw` and empties
    /// the buffer. Returns how many entries were flushed.
    pub fn flush(&mut self, m: &Marker, gcw: &mut GcWork) -> usize {
        let n = self.buf.len();
        for &v in &self.buf {
            m.grey_object(v - 1, gcw);
        }
        self.buf.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::{Heap, HeapConfig};
    use std::sync::Arc;

    #[test]
    fn records_both_values_and_fills() {
        let mut b = WbBuf::new();
        assert!(!b.record(0, 5));
        assert!(!b.record(3, 0));
        assert_eq!(b.len(), 2);
        let mut full = false;
        for _ in 0..WB_BUF_ENTRIES {
            full |= b.record(1, 2);
            if full {
                break;
            }
        }
        assert!(full && b.len() <= WB_BUF_ENTRIES);
    }

    #[test]
    fn flush_greys_white_objects_once() {
        let h = Heap::new(HeapConfig {
            max_objects: 4,
            max_slots: 4,
            globals: 0,
        });
        let a = h.alloc(16, 1).unwrap();
        let b = h.alloc(8, 0).unwrap();
        let m = Marker::new(Arc::new(h));
        m.prepare_roots();
        let mut gcw = GcWork::new();
        let mut wb = WbBuf::new();
        wb.record(a.0 + 1, b.0 + 1);
        wb.record(a.0 + 1, 0);
        assert_eq!(wb.flush(&m, &mut gcw), 3);
        assert!(wb.is_empty());
        assert!(m.bits().is_marked(a.0) && m.bits().is_marked(b.0));
        // a has a slot and is queued; b has none and is black at once.
        assert_eq!(gcw.cached(), 1);
        assert_eq!(gcw.bytes_marked(), 24);
    }
}
