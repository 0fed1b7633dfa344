//! Waking background workers when work is published, and the driver when
//! marking may be complete. Go counterparts: mgcpacer.go (`enlistWorker`),
//! mgcwork.go (`putfull`'s callers), mgc.go (the completion point
//! `work.nwait == work.nproc && !gcMarkWorkAvailable(nil)` that
//! `gcBgMarkWorker` and `gcAssistAlloc1` test before calling `gcMarkDone`),
//! proc.go (`wakep`, `notesleep`/`notewakeup`).
//!
//! Nothing here polls. Go's scheduler never lets a mark worker spin waiting
//! for grey work: a P with nothing to do sleeps, and `putfull` enlists a
//! worker (`enlistWorker` wakes an idle P) when it publishes a buffer. Nor
//! does anything watch for the end of marking: the worker or assist that
//! finds itself the last one draining, with no work left anywhere it can
//! see, calls `gcMarkDone`. Here the same happens with one mutex and three
//! condition variables, because the waiters are OS threads:
//!
//! - **A worker with no work to take** ([`Wakeups::wait_for_work`]) counts
//!   itself in `waiting` and sleeps on `work_cv`. Every
//!   [`WorkLists::put_full`](crate::mark::WorkLists::put_full) runs the
//!   marker's enlist hook, [`Wakeups::enlist_worker`], which wakes one such
//!   worker if `waiting` is not zero. A drain that ends with work held by
//!   the scan backend (a GPU queue, which no `put_full` announces) enlists
//!   one too, and so does a mutator whose barrier buffer is half full (a
//!   hint, see `mutator`: the woken worker's drain takes the buffers it can
//!   lock).
//! - **A worker the pacer did not schedule** (a fractional worker ahead of
//!   its goal; [`Wakeups::wait_for_turn`]) sleeps on `turn_cv` until the
//!   time at which its share is owed again: one timed wake per slice it
//!   runs, computed from the pacer's goal, not a poll.
//! - **The driver in `gcMarkDone`** ([`Wakeups::wait_mark_done`]) sleeps on
//!   `done_cv` until a drain signals a completion point: every drain
//!   (worker or assist) counts itself in `active` while it runs, and the one
//!   that takes `active` back to zero and sees no work calls
//!   [`Wakeups::signal_mark_done`].
//! - The end of the cycle sets `workers_stop` and wakes every worker
//!   ([`Wakeups::wake_all`]).
//!
//! ## No lost wake-ups
//!
//! *Publishing versus a worker going to sleep* is a Dekker handshake: the
//! worker increments `waiting`, then looks for work (the full list's length,
//! root jobs, the backend's queue); the publisher stores the list's length,
//! then loads `waiting`. A `SeqCst` fence sits between the store and the
//! load on each side, so at least one of them sees the other: either the
//! worker sees the work and does not sleep, or the publisher sees the
//! worker and takes the mutex to wake it. The worker holds the mutex from
//! its increment until the wait releases it atomically, and the publisher
//! bumps the `enlisted` count under the mutex before notifying, so its wake
//! cannot fall between the worker's check and its sleep.
//!
//! *The end of the cycle* stores `workers_stop` before taking the mutex to
//! notify; a worker checks the flag under the mutex before sleeping, so it
//! either sees the flag or is asleep when the notification comes.
//!
//! *A completion point* sets a flag under the mutex that stays set until the
//! driver consumes it, so a signal sent while the driver is busy checking is
//! seen by its next wait. That a completion point is always signalled
//! follows from counting every drain: grey work is only ever consumed by a
//! counted drain, so the drain that ends the last stretch of draining (the
//! one that takes `active` to zero) either sees no work and signals, or
//! sees work that some later drain must take, and that drain's end repeats
//! the argument; the work of a cycle is finite. Work that a drain cannot see
//! (in mutators' barrier buffers and caches) is the driver's own: when it
//! finds no drain active and no work visible it flushes the mutators itself
//! (the ragged barrier) and looks again, without waiting.
//!
//! ## The safety net
//!
//! Every wait is bounded by [`WAKE_FALLBACK`]: a waiter that times out looks
//! again, as if woken. The protocol above does not need it; it bounds the
//! cost of a wake-up lost to a bug (a stall of at most that long, never a
//! hang), and a timed-out wait that finds its condition already true says
//! so at `debug` level, so such a bug shows.

use super::{lock, Inner};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering::*};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The longest any collector thread sleeps without being woken before it
/// looks again: a safety net only (see the module documentation). Long
/// enough that a sleeping thread costs nothing measurable (ten wake-ups a
/// second), short enough that a lost wake-up would delay one cycle by a
/// tenth of a second rather than hang it.
pub(super) const WAKE_FALLBACK: Duration = Duration::from_millis(100);

/// The wake-up state of one collector; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct Wakeups {
    state: Mutex<WakeState>,
    /// Workers with no work to take sleep here.
    work_cv: Condvar,
    /// Workers the pacer did not schedule sleep here until their turn.
    turn_cv: Condvar,
    /// The driver sleeps here until a completion point.
    done_cv: Condvar,
    /// Workers in [`Wakeups::wait_for_work`]: the enlist fast path reads it
    /// without the mutex.
    waiting: AtomicU32,
    /// Drains running now, background and assist (Go's
    /// `work.nproc - work.nwait`).
    active: AtomicU32,
}

#[derive(Debug, Default)]
struct WakeState {
    /// Incremented by every [`Wakeups::enlist_worker`] that found a waiter.
    enlisted: u64,
    /// A completion point was signalled and not yet consumed.
    mark_done: bool,
}

impl Wakeups {
    /// Go's `enlistWorker`: wakes one worker waiting for work, if any. Runs
    /// after every published buffer, so its fast path is a fence and a load.
    pub(super) fn enlist_worker(&self) {
        // The publisher's half of the handshake: the work is stored; now
        // look for sleepers.
        fence(SeqCst);
        if self.waiting.load(Relaxed) == 0 {
            return;
        }
        lock(&self.state).enlisted += 1;
        self.work_cv.notify_one();
    }

    /// Sleeps until work is published (`has_work` is true or an enlist
    /// comes) or `stop` is set.
    pub(super) fn wait_for_work(&self, has_work: impl Fn() -> bool, stop: &AtomicBool) {
        let mut g = lock(&self.state);
        // The sleeper's half of the handshake: count ourselves, then look.
        self.waiting.fetch_add(1, SeqCst);
        fence(SeqCst);
        let seen = g.enlisted;
        while g.enlisted == seen && !stop.load(Acquire) && !has_work() {
            let (g2, res) = self
                .work_cv
                .wait_timeout(g, WAKE_FALLBACK)
                .unwrap_or_else(|p| p.into_inner());
            g = g2;
            if res.timed_out() && g.enlisted == seen && !stop.load(Acquire) && has_work() {
                self.note_missed("a worker found published work");
            }
        }
        self.waiting.fetch_sub(1, SeqCst);
    }

    /// Sleeps until `turn` (or, with none, for [`WAKE_FALLBACK`]) or until
    /// `stop` is set: a worker the pacer did not schedule waiting to ask
    /// again.
    pub(super) fn wait_for_turn(&self, turn: Option<Instant>, stop: &AtomicBool) {
        let mut g = lock(&self.state);
        let until = turn.unwrap_or_else(|| Instant::now() + WAKE_FALLBACK);
        loop {
            let now = Instant::now();
            if stop.load(Acquire) || now >= until {
                return;
            }
            g = self
                .turn_cv
                .wait_timeout(g, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Wakes every worker: `stop` was set (the end of the cycle).
    pub(super) fn wake_all(&self) {
        drop(lock(&self.state));
        self.work_cv.notify_all();
        self.turn_cv.notify_all();
    }

    /// A drain begins (Go's `atomic.Xadd(&work.nwait, -1)`).
    pub(super) fn drain_started(&self) {
        self.active.fetch_add(1, SeqCst);
    }

    /// A drain ends (Go's `atomic.Xadd(&work.nwait, +1)`); true if it was
    /// the last one running.
    fn drain_finished(&self) -> bool {
        self.active.fetch_sub(1, SeqCst) == 1
    }

    /// Drains running now.
    pub(super) fn active(&self) -> u32 {
        self.active.load(SeqCst)
    }

    /// Tells the driver that marking may be complete.
    fn signal_mark_done(&self) {
        lock(&self.state).mark_done = true;
        self.done_cv.notify_one();
    }

    /// The driver's wait for a completion point; consumes the signal.
    /// `complete` is the completion test, used only to report a missed
    /// signal when the wait times out.
    pub(super) fn wait_mark_done(&self, complete: impl Fn() -> bool) {
        let mut g = lock(&self.state);
        while !g.mark_done {
            let (g2, res) = self
                .done_cv
                .wait_timeout(g, WAKE_FALLBACK)
                .unwrap_or_else(|p| p.into_inner());
            g = g2;
            if res.timed_out() && !g.mark_done {
                if complete() {
                    self.note_missed("marking was complete");
                }
                break;
            }
        }
        g.mark_done = false;
    }

    /// Readies the signals for a new cycle, world stopped: no drain runs,
    /// and the driver's first wait returns at once so that it checks for
    /// completion before any drain has run (a cycle with nothing to mark
    /// has no drain to signal it).
    pub(super) fn start_cycle(&self) {
        debug_assert_eq!(self.active(), 0, "a drain outlived its cycle");
        lock(&self.state).mark_done = true;
    }

    /// Reports a timed-out wait that found its condition true: a wake-up
    /// that the protocol should have delivered and did not.
    fn note_missed(&self, what: &str) {
        log::debug!("gpumark: a wait timed out although {what}: a lost wake-up");
    }
}

impl Inner {
    /// Grey work that a drain could take: the global lists, root jobs, or
    /// the scan backend's own queue (Go's `gcMarkWorkAvailable(nil)`).
    pub(super) fn has_mark_work(&self) -> bool {
        self.marker.work_available() || self.backend.has_pending_work()
    }

    /// Go's completion point: no drain running and no work visible. Work
    /// hidden in mutators' buffers is for the ragged barrier to find.
    pub(super) fn completion_point(&self) -> bool {
        self.wake.active() == 0 && !self.has_mark_work()
    }

    /// Ends a drain begun with [`Wakeups::drain_started`], after its work
    /// cache was disposed: Go's test at the end of `gcBgMarkWorker` and
    /// `gcAssistAlloc1`. The last drain to end with no work visible signals
    /// the driver's `gcMarkDone`; a drain that leaves work in the backend's
    /// queue enlists a worker for it.
    pub(super) fn drain_done(&self) {
        let last = self.wake.drain_finished();
        if self.backend.has_pending_work() {
            self.wake.enlist_worker();
        } else if last && !self.marker.work_available() {
            self.wake.signal_mark_done();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The wake-ups themselves. A wake-up that does not come shows as a
    //! hang: `wait_for_work` with no work never returns on its own, and a
    //! turn an hour away does not come during a test.
    use super::*;
    use std::sync::Arc;

    fn spin_until(cond: impl Fn() -> bool) {
        while !cond() {
            std::thread::yield_now();
        }
    }

    #[test]
    fn an_enlist_wakes_a_worker_waiting_for_work() {
        let w = Arc::new(Wakeups::default());
        let stop = Arc::new(AtomicBool::new(false));
        let t = {
            let (w, stop) = (w.clone(), stop.clone());
            std::thread::spawn(move || w.wait_for_work(|| false, &stop))
        };
        spin_until(|| w.waiting.load(SeqCst) == 1);
        w.enlist_worker();
        t.join().unwrap();
        assert_eq!(w.waiting.load(SeqCst), 0);
        // With nobody waiting, an enlist is a fence and a load.
        w.enlist_worker();
        assert_eq!(lock(&w.state).enlisted, 1);
    }

    #[test]
    fn published_work_keeps_a_worker_awake() {
        let w = Wakeups::default();
        let stop = AtomicBool::new(false);
        // The sleeper's look after counting itself sees the work.
        w.wait_for_work(|| true, &stop);
        assert_eq!(w.waiting.load(SeqCst), 0);
    }

    #[test]
    fn the_end_of_the_cycle_wakes_every_worker() {
        let w = Arc::new(Wakeups::default());
        let stop = Arc::new(AtomicBool::new(false));
        let far = Instant::now() + Duration::from_secs(3600);
        let sleepers: Vec<_> = (0..2)
            .map(|i| {
                let (w, stop) = (w.clone(), stop.clone());
                std::thread::spawn(move || {
                    if i == 0 {
                        w.wait_for_work(|| false, &stop)
                    } else {
                        w.wait_for_turn(Some(far), &stop)
                    }
                })
            })
            .collect();
        spin_until(|| w.waiting.load(SeqCst) == 1);
        stop.store(true, SeqCst);
        w.wake_all();
        for s in sleepers {
            s.join().unwrap();
        }
    }

    #[test]
    fn a_completion_signal_waits_for_the_driver() {
        let w = Wakeups::default();
        // Sent before the driver waits: the wait returns without timing out
        // (a time-out would call the completion test).
        w.signal_mark_done();
        w.wait_mark_done(|| panic!("the signal was lost"));
        // The first wait of a cycle returns at once.
        w.start_cycle();
        w.wait_mark_done(|| panic!("the cycle's first check was lost"));
        assert!(!lock(&w.state).mark_done, "each wait consumes the signal");
    }

    #[test]
    fn only_the_last_drain_to_end_is_last() {
        let w = Wakeups::default();
        w.drain_started();
        w.drain_started();
        assert_eq!(w.active(), 2);
        assert!(!w.drain_finished());
        assert!(w.drain_finished());
        assert_eq!(w.active(), 0);
    }
}
