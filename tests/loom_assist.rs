//! Model check of the assist queue and background credit flush with loom:
//! every interleaving of parking assists, flushing workers and the end of
//! the cycle. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom_assist`.
//! Loom reports a deadlock if any interleaving leaves an assist asleep.
#![cfg(loom)]

use gpumark::assist::{AssistCredit, AssistQueue, AssistRatios, ParkOutcome};
use loom::sync::Arc;
use loom::thread;

const ONE_TO_ONE: AssistRatios = AssistRatios {
    work_per_byte: 1.0,
    bytes_per_work: 1.0,
};

/// An assist that parks until paid, the way a mutator does: retry while
/// credit is there to steal, else park.
fn assist_until_paid(q: &AssistQueue, me: &Arc<AssistCredit>, r: AssistRatios) {
    loop {
        let debt = -me.bytes();
        if debt <= 0 {
            return;
        }
        if q.steal(me, debt, debt, r) == 0 {
            return;
        }
        match q.park(me) {
            ParkOutcome::Retry => continue,
            ParkOutcome::Woken | ParkOutcome::CycleOver => return,
        }
    }
}

/// One parked assist, one worker flushing enough credit in two pieces:
/// the assist always wakes, and credit is conserved.
#[test]
fn paid_assist_always_wakes_and_credit_is_conserved() {
    loom::model(|| {
        let q = Arc::new(AssistQueue::new());
        q.set_blacken_enabled(true);
        let r = ONE_TO_ONE;
        let a = Arc::new(AssistCredit::default());
        a.set_bytes(-10);
        let t = {
            let (q, a) = (q.clone(), a.clone());
            thread::spawn(move || assist_until_paid(&q, &a, r))
        };
        q.flush_bg_credit(6, r);
        q.flush_bg_credit(6, r);
        t.join().unwrap();
        let paid_debt = 10 + a.bytes().min(0);
        // Steals credit exactly the bytes taken (the 1+ round-up aside, which
        // the partial-steal path adds); the total never exceeds what flowed in.
        let left = q.bg_scan_credit();
        assert!(a.bytes() >= 0, "assist woke with debt left");
        assert!(
            left >= 0 && left + paid_debt <= 12 + 1,
            "credit created: left {left}"
        );
        assert!(left + 10 >= 12 - 1, "credit destroyed: left {left}");
    });
}

/// Two assists, one flush too small for both, then the end of the cycle:
/// nobody is left asleep. Three threads: bounded to three preemptions per
/// execution (loom's usual bound; bugs of this kind need one or two) so the
/// search finishes in CI time.
#[test]
fn end_of_cycle_wakes_everyone() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let q = Arc::new(AssistQueue::new());
        q.set_blacken_enabled(true);
        let r = ONE_TO_ONE;
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    let a = Arc::new(AssistCredit::default());
                    a.set_bytes(-5);
                    assist_until_paid(&q, &a, r);
                })
            })
            .collect();
        q.flush_bg_credit(3, r);
        q.set_blacken_enabled(false);
        for t in ts {
            t.join().unwrap();
        }
        assert!(q.is_empty());
    });
}
