//! A mutator's assists. Go counterparts: mgcmark.go (`gcAssistAlloc`,
//! `gcAssistAlloc1`, `gcParkAssist`); the credit, the background credit and
//! the assist queue themselves are in [`crate::assist`].
//!
//! While marking, every allocation is charged to the allocating mutator's
//! assist credit (Go's `deductAssistCredit`, in `Mutator::alloc`). A
//! mutator in debt pays before it allocates, in this order, as Go's
//! `gcAssistAlloc` does: steal background credit; if that is not enough,
//! scan (`gcAssistAlloc1`, over-assisting to amortise the entry); if there is
//! no work to scan and the debt remains, park on the assist queue until
//! background workers pay it or the cycle ends.
//!
//! ## The drain, and why it holds the mutator's lock
//!
//! Go runs `gcAssistAlloc1` on the system stack, where the goroutine cannot
//! be preempted, so the cycle cannot end under it: its re-check of
//! `gcBlackenEnabled` there holds for the whole drain. Here the assist takes
//! its own mutator's lock, which termination's stop of the world must take
//! too, so "marking is still on", checked under that lock, stays true until
//! the lock is released: the check is atomic with the drain. (The check in
//! `alloc` that sent us here is only a hint, racing with the end of the
//! cycle exactly as Go's is.)
//!
//! Holding the lock also means a stop of the world waits for the assist. Go
//! bounds that wait: `gcDrainN` stops when `gp.preempt` is set, and an
//! assist still in debt yields (`Gosched`) and retries from the top. The
//! drain's hooks here see the pending stop (`stw_pending`), so the drain
//! returns within one object's scan; a preempted assist still in debt
//! answers the stop at its safepoint and retries, instead of holding every
//! other thread up for its whole budget.
//!
//! ## Time and termination
//!
//! Assist time is measured over the drain alone, from the moment the lock
//! is held to its release (Go's `startTime`..`duration` in
//! `gcAssistAlloc1`): not the wait for the lock, not a stop of the world,
//! not a park. It accrues per mutator and reaches the pacer in batches of
//! [`GC_ASSIST_TIME_SLACK`] (Go's `p.gcAssistTime`), the rest at mark
//! termination; the pacer's `end_cycle` reads it to estimate how much CPU
//! the cycle took from the mutators.
//!
//! The drain counts itself as active (Go's `work.nwait`); the assist that
//! ends the last stretch of draining with no work left signals the driver's
//! `gcMarkDone` before it parks (Go's `gp.param` / `completed`), see `wake`.

use super::{lock, Inner, Mutator};
use crate::assist::{assist_work_for_debt, credit_for_work, AssistRatios, ParkOutcome};
use crate::mark::DrainHooks;
use crate::pacer::GC_ASSIST_TIME_SLACK;
use std::sync::atomic::Ordering::*;
use std::time::Instant;

/// An assist's drain hooks: preempted by a pending stop of the world (Go's
/// `gp.preempt` in `gcDrainN`). No background credit (an assist pays
/// itself), and no other mutator's barrier buffer: the assist has flushed
/// its own, as Go's assist flushes its P's.
struct AssistHooks<'a> {
    inner: &'a Inner,
}

impl DrainHooks for AssistHooks<'_> {
    fn preempt_requested(&self) -> bool {
        self.inner.stw_pending.load(Relaxed)
    }
}

/// How an assist's drain ([`Mutator::assist_alloc1`]) ended.
enum AssistDrain {
    /// Marking was over: the debt is forgiven.
    CycleOver,
    /// It drained; `preempted` if a stop of the world cut it short.
    Drained { preempted: bool },
}

impl Mutator {
    /// Go's `gcAssistAlloc`: pays this mutator's debt by stealing background
    /// credit, draining, or parking. See the module documentation.
    pub(super) fn assist(&self) {
        let inner = &*self.inner;
        let credit = &self.shared.credit;
        // Go's `retry:` label.
        loop {
            let r = AssistRatios::of(&inner.pacer);
            let (want, debt_bytes) = assist_work_for_debt(credit.bytes(), r);
            let scan_work = inner.assists.steal(credit, want, debt_bytes, r);
            inner.counters.assists.fetch_add(1, Relaxed);
            if scan_work == 0 {
                // Stole all the credit needed.
                return;
            }
            let preempted = match self.assist_alloc1(scan_work, r) {
                AssistDrain::CycleOver => return,
                AssistDrain::Drained { preempted } => preempted,
            };
            if credit.bytes() >= 0 {
                return;
            }
            if preempted {
                // Go: Gosched, goto retry. The stop happens here.
                inner.safepoint();
                continue;
            }
            // Out of work and still in debt: park until background credit
            // pays us or the cycle ends. Not woken by new work: there was
            // not enough to do anyway (Go's reasoning in gcAssistAlloc).
            if self.park_assist() {
                return;
            }
        }
    }

    /// Go's `gcAssistAlloc1`: under this mutator's lock, if marking is still
    /// on, flushes its barrier buffer and drains up to `scan_work`, crediting
    /// the work done; the time it took is assist time.
    fn assist_alloc1(&self, scan_work: i64, r: AssistRatios) -> AssistDrain {
        let inner = &*self.inner;
        let credit = &self.shared.credit;
        let mut guard = self.enter();
        let l = &mut *guard;
        if !inner.assists.blacken_enabled() {
            // The cycle is over (and cannot restart while we hold the
            // lock): the remaining debt is forgiven.
            credit.set_bytes(0);
            return AssistDrain::CycleOver;
        }
        let start = Instant::now();
        inner.wake.drain_started();
        // Our own barrier buffer first (Go's wbBufFlush for this P).
        l.wb.flush(&inner.marker, &mut l.gcw);
        let hooks = AssistHooks { inner };
        let done = inner
            .marker
            .drain_n_with(&mut l.gcw, scan_work, &hooks, &*inner.backend);
        credit.add_bytes(credit_for_work(done, r));
        // Make what the drain left grey visible to the workers.
        inner.marker.dispose(&mut l.gcw);
        inner.drain_done();
        let preempted = done < scan_work && inner.stw_pending.load(Relaxed);
        let ns = start.elapsed().as_nanos() as i64;
        l.assist_ns_unflushed += ns;
        if l.assist_ns_unflushed > GC_ASSIST_TIME_SLACK {
            inner
                .pacer
                .add_assist_time(std::mem::take(&mut l.assist_ns_unflushed));
        }
        AssistDrain::Drained { preempted }
    }

    /// Go's `gcParkAssist`: true once the debt is paid or the cycle is over,
    /// false if background credit appeared before parking (retry).
    fn park_assist(&self) -> bool {
        let inner = &*self.inner;
        let t = Instant::now();
        match inner.assists.park(&self.shared.credit) {
            ParkOutcome::Retry => false,
            ParkOutcome::Woken => {
                lock(&inner.counters.park_ns).push(t.elapsed().as_nanos() as u64);
                true
            }
            ParkOutcome::CycleOver => true,
        }
    }
}
