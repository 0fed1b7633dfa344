//! A mutator's assists. Go counterparts: mgcmark.go (`gcAssistAlloc`,
//! `gcAssistAlloc1`, `gcParkAssist`); the credit, the background credit
//! and the assist queue themselves are in [`crate::assist`].

use super::{lock, Mutator};
use crate::assist::{assist_work_for_debt, credit_for_work, AssistRatios, ParkOutcome};
use crate::mark::NoHooks;
use std::sync::atomic::Ordering::*;
use std::time::Instant;

impl Mutator {
    /// Go's `gcAssistAlloc`: pays this mutator's debt by stealing background
    /// credit, draining, or parking. See `assist`.
    pub(super) fn assist(&self) {
        let inner = &*self.inner;
        let credit = &self.shared.credit;
        loop {
            let r = AssistRatios::of(&inner.pacer);
            let (want, debt_bytes) = assist_work_for_debt(credit.bytes.load(Acquire), r);
            let scan_work = inner.assists.steal(credit, want, debt_bytes, r);
            inner.counters.assists.fetch_add(1, Relaxed);
            if scan_work == 0 {
                return;
            }
            // gcAssistAlloc1.
            if !inner.assists.blacken_enabled.load(Acquire) {
                // The cycle ended: any remaining debt is forgiven.
                credit.bytes.store(0, Release);
                return;
            }
            let t = Instant::now();
            {
                let mut l = self.enter();
                let l = &mut *l;
                inner.wake.drain_started();
                // Our own barrier buffer first (Go's wbBufFlush for this P).
                l.wb.flush(&inner.marker, &mut l.gcw);
                let done = inner
                    .backend
                    .drain_n(&inner.marker, &mut l.gcw, scan_work, &NoHooks);
                credit.bytes.fetch_add(credit_for_work(done, r), AcqRel);
                // Make what the drain left grey visible to the workers.
                inner.marker.dispose(&mut l.gcw);
                // The last drain out of work signals termination.
                inner.drain_done();
            }
            inner
                .counters
                .assist_ns
                .fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
            if credit.bytes.load(Acquire) >= 0 {
                return;
            }
            // Out of work and still in debt: park until background credit
            // pays us or the cycle ends.
            let t = Instant::now();
            match inner.assists.park(credit) {
                ParkOutcome::Retry => continue,
                ParkOutcome::Woken => {
                    lock(&inner.counters.park_ns).push(t.elapsed().as_nanos() as u64);
                    return;
                }
                ParkOutcome::CycleOver => return,
            }
        }
    }
}
