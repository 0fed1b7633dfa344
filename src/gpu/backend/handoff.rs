//! The hand-off between the GPU and the CPU ([`OffloadPolicy::Auto`]): a
//! frontier narrower than the measured threshold goes to the CPU, and comes
//! back when it widens (see the module documentation of `backend`). Each
//! switch moves the bitmap once: down at [`GpuScan::to_cpu`] (the merge),
//! up at [`GpuScan::to_gpu`].
//!
//! [`OffloadPolicy::Auto`]: crate::gpu::OffloadPolicy::Auto

use super::shadow::Merge;
use super::step::host_queue_len;
use super::{GpuScan, Mode, State};
use crate::gpu::{GpuError, ITEM_COUNTED, SCAN_WORK_PER_SLOT};
use crate::mark::{GcWork, GreyItem, Marker, SCAN_BATCH};
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::time::Instant;

/// Slots of CPU steps the cost model is shown at once.
const CPU_SAMPLE_SLOTS: u64 = 1 << 14;

impl GpuScan {
    /// GPU -> CPU: takes the GPU queue back and merges `G` into `H` (the
    /// shadow's rules 2 and 4); the taken items the host scans go into
    /// `gcw`.
    pub(super) fn to_cpu(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
    ) -> Result<(), GpuError> {
        let items = if st.queue_len() > 0 {
            let items = st.mirror()?.take_queue(usize::MAX)?;
            let bytes = (items.len() * 8) as u64;
            self.stat(|s| {
                s.readback_bytes += bytes;
                s.submissions += 1;
            });
            items
        } else {
            Vec::new()
        };
        self.queued.store(0, Release);
        // First items the GPU won and has not scanned: their objects' bytes
        // were counted by nobody yet (the GPU counts when it scans a first
        // item). The host counts them now, whichever copy scans them.
        let heap = m.heap();
        let uncounted: u64 = items
            .iter()
            .filter(|&&(_, k)| k == 0)
            .map(|&(o, _)| u64::from(heap.desc(o).size))
            .sum();
        let items: Vec<(u32, u32)> = items
            .into_iter()
            .map(|(o, k)| (o, k & !ITEM_COUNTED))
            .collect();
        gcw.charge(0, 0, uncounted);
        let settled_before = st.shadow.settled_firsts(&items);
        self.merge(st, m, Merge::Concurrent)?;
        for it in st.shadow.take_over(items, &settled_before) {
            gcw.put(m.lists(), it);
        }
        st.mode = Mode::Cpu;
        self.stat(|s| s.handoffs_to_cpu += 1);
        Ok(())
    }

    /// CPU -> GPU: `H ⊇ G` and the GPU is idle; puts all of `H` into `G`
    /// (the shadow's rule 5).
    pub(super) fn to_gpu(&self, st: &mut State, m: &Marker) -> Result<(), GpuError> {
        let h = m.bits().snapshot();
        let State { shadow, mirror, .. } = st;
        let words = shadow.hand_back(&h);
        let mirror = mirror
            .as_mut()
            .ok_or_else(|| GpuError::Internal("no heap mirror in a GPU phase".into()))?;
        mirror.upload_marks_at(0, words)?;
        let bytes = words.len() as u64 * 4;
        st.mode = Mode::Gpu;
        self.stat(|s| {
            s.handoffs_to_gpu += 1;
            s.upload_bytes += bytes;
        });
        Ok(())
    }

    /// The step in mode *CPU*: Go's `scanobject` over the host's greys,
    /// skipping stale copies (the shadow's rule 3), a batch of up to
    /// [`SCAN_BATCH`] at a time under the one lock, until `max_work` is
    /// done, the host runs dry, or the host queues exceed `widen_at` items
    /// (the frontier goes back to the GPU at the next step); timed for the
    /// cost model. One lock per stretch, not per batch: a chain's frontier
    /// is one item, and taking the lock for each would cost more than its
    /// scan.
    pub(super) fn cpu_step(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
        max_work: i64,
        widen_at: u64,
    ) {
        let (w0, items0) = (gcw.stats().heap_scan_work, gcw.stats().items_scanned);
        let t = Instant::now();
        let mut buf = [GreyItem::default(); SCAN_BATCH];
        while gcw.stats().heap_scan_work - w0 < max_work && host_queue_len(m, gcw) <= widen_at {
            let mut n = gcw.try_get_fast_many(&mut buf);
            if n == 0 {
                match gcw.try_get(m.lists()) {
                    Some(it) => {
                        buf[0] = it;
                        n = 1;
                    }
                    None => break,
                }
            }
            let mut kept = 0;
            for i in 0..n {
                if !st.shadow.skip(buf[i]) {
                    buf[kept] = buf[i];
                    kept += 1;
                }
            }
            m.scan_batch(&buf[..kept], gcw);
        }
        let secs = t.elapsed().as_secs_f64();
        let w = (gcw.stats().heap_scan_work - w0).max(0) as u64;
        // A short stretch is too short to time well: the model sees runs.
        let (s, i, k) = &mut st.cpu_sample;
        *s += secs;
        *i += gcw.stats().items_scanned - items0;
        *k += w / SCAN_WORK_PER_SLOT;
        if *k >= CPU_SAMPLE_SLOTS {
            if let Some(model) = st.model.as_mut() {
                model.observe_cpu(*s, *i, *k);
            }
            st.cpu_sample = (0.0, 0, 0);
        }
        self.cpu_scan_work.fetch_add(w, Relaxed);
    }
}
