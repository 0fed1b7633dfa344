//! When the device fails: the GPU path ends for good and the phase finishes
//! exactly on the CPU.
//!
//! At the last merge everything the GPU had marked went into `H` and was
//! scanned (or taken back). Everything it marked since is reachable from the
//! items the host sent it since (the recovery records), so the recovery
//! greys those again on the host and takes the unmerged batches' scan work
//! and bytes (net of the inbox's duplicates) back from the counters. The
//! CPU then marks what the lost bitmap held, each object once: items whose
//! objects the GPU scanned before the last merge are stale copies, skipped
//! for the rest of that phase by the shadow's rule 3. Cost: the GPU's work
//! since the last merge is redone on the CPU (for a stop-the-world mark
//! with [`OffloadPolicy::Always`], the whole heap scan), and credit already
//! flushed for it is not taken back.
//!
//! [`OffloadPolicy::Always`]: crate::gpu::OffloadPolicy::Always

use super::{GpuScan, State};
use crate::gpu::GpuError;
use crate::mark::{GcWork, GreyItem, Marker, SCAN_BATCH};
use std::sync::atomic::Ordering::{AcqRel, Relaxed, Release};
use std::sync::Weak;

impl GpuScan {
    /// Ends the GPU path: reported once through `log`, recorded in the
    /// stats.
    pub(super) fn declare_dead(&self, e: &GpuError) {
        if !self.dead.swap(true, AcqRel) {
            log::warn!("gpumark: the GPU failed ({e}); continuing on the CPU path");
        }
        let msg = e.to_string();
        self.stat(|s| {
            s.device_lost.get_or_insert(msg);
        });
    }

    /// Recovery after a GPU error mid-phase (see the module documentation):
    /// the recovered greys go into `gcw`.
    pub(super) fn fail(&self, st: &mut State, m: &Marker, gcw: &mut GcWork, e: GpuError) {
        self.declare_dead(&e);
        let (work, bytes) = (st.since_merge_work, st.since_merge_bytes);
        m.take_back_scanned(work, bytes);
        self.stat(|s| s.gpu_scan_work = s.gpu_scan_work.saturating_sub(work));
        for it in std::mem::take(&mut st.pushed) {
            gcw.put(m.lists(), it);
        }
        // The device dies once: the first failure's phase is the one to finish.
        let _ = self.dead_skip.set((m.phase(), st.shadow.stale()));
        st.clear_records();
        st.mirror = None;
        st.heap = Weak::new();
        self.queued.store(0, Release);
    }

    /// The step of a phase marked on the CPU without the lock (a dead
    /// backend, a refused heap, a GPU that never pays): `scanobject` over
    /// `items`, less stale copies in the phase the device died in.
    pub(super) fn cpu_scan(&self, m: &Marker, gcw: &mut GcWork, items: &[GreyItem]) {
        let w0 = gcw.stats().heap_scan_work;
        match self.dead_skip.get().filter(|(p, _)| *p == m.phase()) {
            None => m.scan_batch(items, gcw),
            Some((_, skip)) => {
                let mut buf = [GreyItem::default(); SCAN_BATCH];
                let mut kept = 0;
                for &it in items {
                    if !(it.oblet == 0 && super::shadow::bit(skip, it.obj)) {
                        buf[kept] = it;
                        kept += 1;
                    }
                }
                m.scan_batch(&buf[..kept], gcw);
            }
        }
        let w = (gcw.stats().heap_scan_work - w0).max(0) as u64;
        self.cpu_scan_work.fetch_add(w, Relaxed);
    }
}
