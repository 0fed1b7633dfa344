//! Mutator assist credit, background scan credit and the assist queue. Go
//! counterparts: `gcAssistAlloc`, `gcAssistAlloc1`, `gcParkAssist`,
//! `gcFlushBgCredit`, `gcWakeAllAssists`, `gcController.bgScanCredit`,
//! `g.gcAssistBytes`.
//!
//! While marking, every byte a mutator allocates must be paid for with scan
//! work, at the exchange rate the pacer publishes (`assist_work_per_byte`),
//! so that marking finishes before the heap reaches its goal. A mutator's
//! balance is its *assist credit* in bytes ([`AssistCredit`]): allocation
//! debits it, and when it goes negative the mutator must either
//!
//! 1. steal *background credit*: scan work that background workers did and
//!    flushed to [`AssistQueue::bg_scan_credit`] (racy by design, as in Go: two
//!    stealers may drive it negative, which only makes later steals fail), or
//! 2. do the scan work itself (`drain_n`), over-assisting to at least
//!    [`GC_OVER_ASSIST_WORK`] to amortise the cost of entering an assist, or
//! 3. if there is no work to do, park on the assist queue until background
//!    workers produce enough credit to pay its debt.
//!
//! Background workers pay parked assists first: [`AssistQueue::flush_bg_credit`]
//! walks the queue in FIFO order, wakes every assist it can pay in full, pays a
//! partial amount to the first one it cannot and moves that one to the back
//! (so one large debt cannot hold up many small ones), and only what is left
//! goes to background credit.
//!
//! Note the signs: a mutator in debt has a *negative* `bytes`; paying it adds.
//!
//! ## Lost wakeups
//!
//! Parking is Go's `goparkunlock`: the queue lock is held from the final
//! re-check of background credit until the wait releases it atomically
//! (a condition variable over the queue mutex), and every wake sets the
//! assist's `woken` flag under the same lock. So a flush that pays an assist
//! either runs before the assist's re-check (which then sees the credit and
//! backs out) or after it is queued (and its wake is seen). The end of a cycle
//! clears `blacken_enabled` and wakes everything under the lock, and parking
//! checks `blacken_enabled` under the lock, so no assist can park after the
//! last wake-up of its cycle.

#[cfg(loom)]
use loom::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::*},
    Arc, Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
use std::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::*},
    Arc, Condvar, Mutex, MutexGuard,
};

use std::collections::VecDeque;

/// Minimum scan work an assist does once it has to assist at all (Go's
/// `gcOverAssistWork`, 64 KiB): entering an assist costs a lock and a drain
/// setup, so a mutator that must pay a few bytes pays ahead instead.
pub const GC_OVER_ASSIST_WORK: i64 = 64 << 10;

/// The pacer's exchange rates between scan work and allocated bytes (Go's
/// `assistWorkPerByte` / `assistBytesPerWork`), read once per assist or flush
/// as Go does: `revise` may change them at any time, and a momentarily stale
/// pair only shifts a little credit between assists.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AssistRatios {
    /// Scan work owed per byte allocated.
    pub work_per_byte: f64,
    /// Bytes of allocation paid for by one unit of scan work.
    pub bytes_per_work: f64,
}

impl AssistRatios {
    /// The rates the pacer publishes now.
    pub fn of(pacer: &crate::pacer::Pacer) -> AssistRatios {
        AssistRatios {
            work_per_byte: pacer.assist_work_per_byte(),
            bytes_per_work: pacer.assist_bytes_per_work(),
        }
    }
}

/// One mutator's assist balance (Go's `g.gcAssistBytes`), shared with the
/// queue so background workers can pay it while the mutator is parked.
#[derive(Debug, Default)]
pub struct AssistCredit {
    /// Credit in bytes; negative means debt. Read and changed through
    /// [`AssistCredit::bytes`], [`AssistCredit::set_bytes`] and
    /// [`AssistCredit::add_bytes`]; crate-visible while the collector still
    /// uses it directly.
    pub(crate) bytes: AtomicI64,
    /// Set under the queue lock when a flush or the end of the cycle wakes
    /// this assist.
    woken: AtomicBool,
}

/// The balance is read with `Acquire` and written with `Release` (changed
/// with `AcqRel`), so a mutator that reads the balance a background flush
/// paid also sees what that flush did before paying: the same orderings the
/// queue's own accesses use (see "Lost wakeups" in the module
/// documentation).
impl AssistCredit {
    /// A balance of `bytes` (negative: debt).
    pub fn new(bytes: i64) -> AssistCredit {
        AssistCredit {
            bytes: AtomicI64::new(bytes),
            woken: AtomicBool::new(false),
        }
    }

    /// The balance in bytes; negative means debt.
    pub fn bytes(&self) -> i64 {
        self.bytes.load(Acquire)
    }

    /// Sets the balance (a mutator's debt at the end of a cycle is
    /// forgiven with `set_bytes(0)`).
    pub fn set_bytes(&self, bytes: i64) {
        self.bytes.store(bytes, Release);
    }

    /// Adds `delta` to the balance (an allocation debits it with a negative
    /// `delta`, an assist's scan work credits it) and returns the new
    /// balance.
    pub fn add_bytes(&self, delta: i64) -> i64 {
        self.bytes.fetch_add(delta, AcqRel) + delta
    }
}

/// How a call to [`AssistQueue::park`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParkOutcome {
    /// Background credit appeared before parking: steal again (Go's
    /// `gcParkAssist` returning false, `goto retry`).
    Retry,
    /// Woken: the debt was paid by background credit, or the cycle ended.
    Woken,
    /// The cycle was already over; nothing owed.
    CycleOver,
}

#[derive(Debug, Default)]
struct Queue {
    q: VecDeque<Arc<AssistCredit>>,
}

/// The assist queue and background credit pool of a collector.
#[derive(Debug, Default)]
pub struct AssistQueue {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Queue length, readable without the lock for `flush_bg_credit`'s fast
    /// path (Go reads `work.assistQueue.q.empty()` racily in the same way).
    /// Only ever changed by read-modify-writes, under the queue lock.
    queued: AtomicUsize,
    // The three below are read through the methods of the same names and
    // changed only by the queue's own operations; they are crate-visible
    // while the collector still resets them directly at a cycle's start
    // and end.
    /// Background scan credit available to steal (Go's
    /// `gcController.bgScanCredit`).
    pub(crate) bg_scan_credit: AtomicI64,
    /// True while marking is enabled (Go's `gcBlackenEnabled`).
    pub(crate) blacken_enabled: AtomicBool,
    /// Assists that parked this cycle.
    pub(crate) parks: AtomicU64,
}

impl AssistQueue {
    /// A queue with no credit and marking disabled.
    pub fn new() -> AssistQueue {
        AssistQueue::default()
    }

    /// Number of parked assists.
    pub fn len(&self) -> usize {
        self.queued.load(Acquire)
    }

    /// True if no assist is parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Background scan credit available to steal, in scan-work units (Go's
    /// `gcController.bgScanCredit`; racy by design, see the module
    /// documentation, and it may be briefly negative).
    pub fn bg_scan_credit(&self) -> i64 {
        self.bg_scan_credit.load(Acquire)
    }

    /// True while marking is enabled (Go's `gcBlackenEnabled`; see
    /// [`AssistQueue::set_blacken_enabled`]). An assist that sees it false
    /// owes nothing.
    pub fn blacken_enabled(&self) -> bool {
        self.blacken_enabled.load(Acquire)
    }

    /// Assists that parked since the count was last taken.
    pub fn parks(&self) -> u64 {
        self.parks.load(Relaxed)
    }

    /// Assists that parked since the count was last taken, resetting it
    /// (the per-cycle count of a cycle's statistics).
    pub fn take_parks(&self) -> u64 {
        self.parks.swap(0, Relaxed)
    }

    /// Go's `gcFlushBgCredit`: pays parked assists from `scan_work` units of
    /// background scan work, in FIFO order, and adds the rest to background
    /// credit. See the module documentation.
    pub fn flush_bg_credit(&self, scan_work: i64, ratios: AssistRatios) {
        if self.queued.load(Acquire) != 0 {
            let g = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            self.pay_queue(g, scan_work, ratios);
            return;
        }
        // Fast path: nobody is parked, so the work is background credit.
        self.bg_scan_credit.fetch_add(scan_work, AcqRel);
        // Go stops here and leaves a window: an assist that queued itself
        // after our check and re-checked the credit before our add would
        // sleep until the next flush. We close it Dekker-style: the assist
        // bumps `queued` then reads the credit, we add the credit then read
        // `queued`. Every access in this handshake is a read-modify-write
        // (a read is `fetch_add(0)`), so the two counters' modification
        // orders chain through acquire/release: whichever of us comes second
        // sees the other. If we see the assist, we take back what is left
        // of our credit and pay it through the queue under the lock, which
        // the assist holds until it is really waiting.
        if self.queued.fetch_add(0, AcqRel) == 0 {
            return;
        }
        let g = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let back = self.bg_scan_credit.load(Acquire).min(scan_work);
        if back > 0 {
            self.bg_scan_credit.fetch_sub(back, AcqRel);
            self.pay_queue(g, back, ratios);
        }
    }

    /// The queue walk of `gcFlushBgCredit`, under the queue lock.
    fn pay_queue(&self, mut g: MutexGuard<'_, Queue>, scan_work: i64, ratios: AssistRatios) {
        let mut scan_bytes = (scan_work as f64 * ratios.bytes_per_work) as i64;
        let mut woke = 0;
        while scan_bytes > 0 {
            let Some(head) = g.q.front().cloned() else {
                break;
            };
            // The assist's balance is negative: it is in debt.
            let debt = head.bytes.load(Acquire);
            if scan_bytes + debt >= 0 {
                // Pay this assist's whole debt and wake it.
                scan_bytes += debt;
                head.bytes.store(0, Release);
                head.woken.store(true, Release);
                g.q.pop_front();
                woke += 1;
            } else {
                // Pay part of it, and move it to the back so a large debt
                // does not hold up the small ones behind it.
                head.bytes.store(debt + scan_bytes, Release);
                scan_bytes = 0;
                if g.q.len() > 1 {
                    g.q.pop_front();
                    g.q.push_back(head);
                }
                break;
            }
        }
        self.queued.fetch_sub(woke, AcqRel);
        if scan_bytes > 0 {
            // Convert what is left back from bytes to work.
            let w = (scan_bytes as f64 * ratios.work_per_byte) as i64;
            self.bg_scan_credit.fetch_add(w, AcqRel);
        }
        drop(g);
        if woke > 0 {
            self.wake.notify_all();
        }
    }

    /// Go's `gcParkAssist`: queues `me` and blocks until it is paid or the
    /// cycle ends, unless background credit appeared (then returns
    /// [`ParkOutcome::Retry`] without parking) or the cycle is already over.
    pub fn park(&self, me: &Arc<AssistCredit>) -> ParkOutcome {
        let mut g = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        // The cycle cannot end while we hold the lock.
        if !self.blacken_enabled.load(Acquire) {
            return ParkOutcome::CycleOver;
        }
        me.woken.store(false, Release);
        g.q.push_back(me.clone());
        self.queued.fetch_add(1, AcqRel);
        // Re-check for credit now that we are queued but can still back out:
        // a flush may have gone through the fast path since our steal (see
        // `flush_bg_credit` for why this read is a read-modify-write).
        if self.bg_scan_credit.fetch_add(0, AcqRel) > 0 {
            g.q.pop_back();
            self.queued.fetch_sub(1, AcqRel);
            return ParkOutcome::Retry;
        }
        self.parks.fetch_add(1, Relaxed);
        while !me.woken.load(Acquire) {
            g = self.wake.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        ParkOutcome::Woken
    }

    /// Enables or disables marking (Go's `gcBlackenEnabled`). Disabling wakes
    /// every parked assist (Go's `gcWakeAllAssists`), under the queue lock.
    pub fn set_blacken_enabled(&self, on: bool) {
        let mut g = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        self.blacken_enabled.store(on, Release);
        if !on {
            for a in g.q.drain(..) {
                a.woken.store(true, Release);
            }
            self.queued.swap(0, AcqRel);
            drop(g);
            self.wake.notify_all();
        }
    }

    /// Go's steal in `gcAssistAlloc`: given the scan work an assist needs and
    /// the bytes it pays for, takes what background credit allows and credits
    /// `credit`; returns the scan work still owed.
    pub fn steal(
        &self,
        credit: &AssistCredit,
        scan_work: i64,
        debt_bytes: i64,
        ratios: AssistRatios,
    ) -> i64 {
        let bg = self.bg_scan_credit.load(Acquire);
        if bg <= 0 {
            return scan_work;
        }
        let stolen = if bg < scan_work {
            credit
                .bytes
                .fetch_add(1 + (ratios.bytes_per_work * bg as f64) as i64, AcqRel);
            bg
        } else {
            credit.bytes.fetch_add(debt_bytes, AcqRel);
            scan_work
        };
        self.bg_scan_credit.fetch_add(-stolen, AcqRel);
        scan_work - stolen
    }

    /// A mutator leaving with positive credit donates it to background
    /// credit (Go's `gdestroy`), so the bytes it had paid for are not lost.
    pub fn donate(&self, credit: &AssistCredit, ratios: AssistRatios) {
        let b = credit.bytes.swap(0, AcqRel);
        if b > 0 {
            let w = (ratios.work_per_byte * b as f64) as i64;
            self.bg_scan_credit.fetch_add(w, AcqRel);
        }
    }
}

/// The scan work an assist with `credit_bytes` (negative: debt) must do, and
/// the debt in bytes that work pays: Go's computation at the top of
/// `gcAssistAlloc`, including the over-assist.
pub fn assist_work_for_debt(credit_bytes: i64, ratios: AssistRatios) -> (i64, i64) {
    let mut debt_bytes = -credit_bytes;
    let mut scan_work = (ratios.work_per_byte * debt_bytes as f64) as i64;
    if scan_work < GC_OVER_ASSIST_WORK {
        scan_work = GC_OVER_ASSIST_WORK;
        debt_bytes = (ratios.bytes_per_work * scan_work as f64) as i64;
    }
    (scan_work, debt_bytes)
}

/// Credit in bytes for `work_done` units of assist scan work: Go's
/// `1 + int64(assistBytesPerWork * float64(workDone))`, where the `1+` is a
/// round-up so that work always earns some credit however low the rate.
pub fn credit_for_work(work_done: i64, ratios: AssistRatios) -> i64 {
    1 + (ratios.bytes_per_work * work_done as f64) as i64
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ratios(work_per_byte: f64) -> AssistRatios {
        AssistRatios {
            work_per_byte,
            bytes_per_work: 1.0 / work_per_byte,
        }
    }

    fn debtor(bytes: i64) -> Arc<AssistCredit> {
        let a = Arc::new(AssistCredit::default());
        a.bytes.store(bytes, Relaxed);
        a
    }

    /// Queues assists directly, as `park` would, without blocking.
    fn enqueue(q: &AssistQueue, a: &[Arc<AssistCredit>]) {
        let mut g = q.queue.lock().unwrap();
        g.q.extend(a.iter().cloned());
        q.queued.store(g.q.len(), Release);
    }

    fn order(q: &AssistQueue) -> Vec<i64> {
        q.queue
            .lock()
            .unwrap()
            .q
            .iter()
            .map(|a| a.bytes.load(Relaxed))
            .collect()
    }

    #[test]
    fn empty_queue_fast_path_credits_all_work() {
        let q = AssistQueue::new();
        q.flush_bg_credit(1234, ratios(0.5));
        assert_eq!(q.bg_scan_credit.load(Relaxed), 1234);
    }

    #[test]
    fn several_assists_paid_in_fifo_order_and_remainder_credited() {
        let q = AssistQueue::new();
        let (a, b, c) = (debtor(-100), debtor(-200), debtor(-300));
        enqueue(&q, &[a.clone(), b.clone(), c.clone()]);
        // 2 bytes per unit of work: 400 work = 800 bytes pays 600 of debt,
        // leaving 200 bytes = 100 work for background credit.
        q.flush_bg_credit(400, ratios(0.5));
        for x in [&a, &b, &c] {
            assert_eq!(x.bytes.load(Relaxed), 0);
            assert!(x.woken.load(Relaxed));
        }
        assert!(q.is_empty());
        assert_eq!(q.bg_scan_credit.load(Relaxed), 100);
    }

    #[test]
    fn partial_payment_moves_the_head_to_the_back() {
        let q = AssistQueue::new();
        let (a, b) = (debtor(-1000), debtor(-10));
        enqueue(&q, &[a.clone(), b.clone()]);
        q.flush_bg_credit(300, ratios(1.0));
        assert_eq!(a.bytes.load(Relaxed), -700);
        assert!(!a.woken.load(Relaxed));
        assert_eq!(order(&q), vec![-10, -700], "a moved behind b");
        assert_eq!(q.bg_scan_credit.load(Relaxed), 0);
        // The next flush pays b first.
        q.flush_bg_credit(20, ratios(1.0));
        assert!(b.woken.load(Relaxed));
        assert_eq!(order(&q), vec![-690]);
    }

    #[test]
    fn partial_payment_of_the_only_assist_keeps_it_at_the_head() {
        let q = AssistQueue::new();
        let a = debtor(-1000);
        enqueue(&q, std::slice::from_ref(&a));
        q.flush_bg_credit(10, ratios(1.0));
        assert_eq!(order(&q), vec![-990]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn debt_and_credit_arithmetic() {
        let r = ratios(0.25); // 4 bytes per unit of work
                              // Small debt: over-assist to GC_OVER_ASSIST_WORK, paying 4x bytes.
        assert_eq!(
            assist_work_for_debt(-100, r),
            (GC_OVER_ASSIST_WORK, 4 * GC_OVER_ASSIST_WORK)
        );
        // Large debt: exactly work_per_byte * debt.
        let big = -8 * GC_OVER_ASSIST_WORK;
        assert_eq!(
            assist_work_for_debt(big, r),
            (2 * GC_OVER_ASSIST_WORK, -big)
        );
        // The 1+ round-up: even zero work earns one byte.
        assert_eq!(credit_for_work(0, r), 1);
        assert_eq!(credit_for_work(10, r), 41);
        let tiny = ratios(1e9);
        assert_eq!(credit_for_work(5, tiny), 1);
    }

    #[test]
    fn steal_takes_partial_or_full_credit() {
        let q = AssistQueue::new();
        let r = ratios(0.5);
        let a = debtor(-1000);
        q.bg_scan_credit.store(100, Relaxed);
        // Wants 500 work for 1000 bytes; only 100 there: takes it, earns
        // 1 + 2*100 bytes, still owes 400 work.
        assert_eq!(q.steal(&a, 500, 1000, r), 400);
        assert_eq!(a.bytes.load(Relaxed), -1000 + 201);
        assert_eq!(q.bg_scan_credit.load(Relaxed), 0);
        q.bg_scan_credit.store(10_000, Relaxed);
        let b = debtor(-1000);
        assert_eq!(q.steal(&b, 500, 1000, r), 0);
        assert_eq!(b.bytes.load(Relaxed), 0);
        assert_eq!(q.bg_scan_credit.load(Relaxed), 9_500);
    }

    #[test]
    fn park_backs_out_when_credit_appeared_and_ends_with_the_cycle() {
        let q = Arc::new(AssistQueue::new());
        let a = debtor(-500);
        assert_eq!(q.park(&a), ParkOutcome::CycleOver);
        q.set_blacken_enabled(true);
        q.bg_scan_credit.store(1, Relaxed);
        assert_eq!(q.park(&a), ParkOutcome::Retry);
        assert!(q.is_empty());
        q.bg_scan_credit.store(0, Relaxed);
        let t = {
            let (q, a) = (q.clone(), a.clone());
            std::thread::spawn(move || q.park(&a))
        };
        while q.is_empty() {
            std::thread::yield_now();
        }
        // Background work pays the debt: the assist wakes.
        q.flush_bg_credit(600, ratios(1.0));
        assert_eq!(t.join().unwrap(), ParkOutcome::Woken);
        assert_eq!(a.bytes.load(Relaxed), 0);
        assert_eq!(q.bg_scan_credit.load(Relaxed), 100);
        // A parked assist is woken by the end of the cycle.
        q.bg_scan_credit.store(0, Relaxed);
        a.bytes.store(-1_000_000, Relaxed);
        let t = {
            let (q, a) = (q.clone(), a.clone());
            std::thread::spawn(move || q.park(&a))
        };
        while q.is_empty() {
            std::thread::yield_now();
        }
        q.set_blacken_enabled(false);
        assert_eq!(t.join().unwrap(), ParkOutcome::Woken);
    }
}
