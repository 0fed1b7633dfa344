//! Background mark workers. Go counterparts: mgc.go (`gcBgMarkWorker`,
//! `gcBgMarkStartWorkers`), mgcpacer.go (`findRunnableGCWorker`,
//! `pollFractionalWorkerExit`), proc.go (the scheduler's choice to run a
//! worker).
//!
//! Go starts one mark worker per P and lets the scheduler decide, each time
//! a P looks for something to run, whether it runs its worker now and in
//! which mode: the pacer hands out `dedicatedMarkWorkersNeeded` dedicated
//! slots (a dedicated worker marks until preempted), and a P whose
//! fractional mark time is behind `fractionalUtilizationGoal` of the time
//! since marking began runs a fractional worker, which leaves once it is
//! ahead by [`FRACTIONAL_WORKER_EXIT_SLACK`]. Here every worker asks the
//! pacer's [`Pacer::find_runnable_gc_worker`] that question before each
//! drain, and a fractional drain polls
//! [`Pacer::poll_fractional_worker_exit`].
//!
//! ## One thread for the fractional share
//!
//! A Go P that runs its fractional worker runs nothing else meanwhile, so
//! its wall time in the worker is CPU taken from the mutators. Mutators here
//! are threads the operating system schedules beside the workers, and
//! `GOMAXPROCS` threads each running a fraction of the time would overlap,
//! then share cores with the mutators and with each other: their wall time
//! would buy less CPU than the pacer counts. So a cycle runs its dedicated
//! workers and, if there is a fractional goal, one more thread that stands
//! for every P's fractional worker: it is behind when the average P is,
//! and the pacer is asked about the average P, the cycle's
//! [`Pacer::fractional_mark_time`] (and the running drain) divided by
//! `GOMAXPROCS`. That thread then marks `GOMAXPROCS × goal` of the wall time,
//! which is the fractional CPU the pacer planned. (With dedicated workers
//! the threads can trade modes: a worker that gives its dedicated slot back
//! may be fractional next; the fractional time is the pacer's, not the
//! thread's, so it follows the mode.)
//!
//! ## Sleeping
//!
//! A worker never spins. A drain that found nothing to scan, not even in
//! the mutators' barrier buffers it can lock, leaves its worker asleep until
//! work is published (Go's `gcMarkWorkAvailable` test in
//! `findRunnableGCWorker`, and `enlistWorker`); a fractional worker ahead of
//! its goal sleeps until the moment its share is owed again; see `wake`.
//! Each drain counts itself as active, and the one that ends the last
//! stretch of marking signals termination.
//!
//! Go also runs *idle* mark workers on Ps that have nothing else to do. The
//! collector cannot see an idle P: a mutator between operations may be busy
//! in its own code. So no idle worker runs, and a cycle's idle mark time is
//! zero.
//!
//! [`FRACTIONAL_WORKER_EXIT_SLACK`]: crate::pacer::FRACTIONAL_WORKER_EXIT_SLACK
//! [`Pacer::find_runnable_gc_worker`]: crate::pacer::Pacer::find_runnable_gc_worker
//! [`Pacer::poll_fractional_worker_exit`]: crate::pacer::Pacer::poll_fractional_worker_exit
//! [`Pacer::fractional_mark_time`]: crate::pacer::Pacer::fractional_mark_time

use super::start::CycleStart;
use super::Inner;
use crate::assist::AssistRatios;
use crate::mark::{DrainFlags, DrainHooks, GcWork, Marker};
use crate::pacer::MarkWorkerMode;
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Hooks of a background worker's drain: preempted when the world is
/// stopping or the cycle is over; credit flushed to the assist queue; a
/// fractional drain stops when the pacer says its P has had its share.
struct WorkerHooks<'a> {
    inner: &'a Inner,
    mode: MarkWorkerMode,
    /// When this drain began, on the pacer's clock.
    start_ns: i64,
}

impl DrainHooks for WorkerHooks<'_> {
    fn preempt_requested(&self) -> bool {
        self.inner.stw_pending.load(Relaxed) || self.inner.workers_stop.load(Relaxed)
    }
    fn poll_stop(&self) -> bool {
        if self.mode != MarkWorkerMode::Fractional {
            return false;
        }
        // The average P's fractional time, this drain included: the
        // fractional thread stands for every P (see the module docs).
        let inner = self.inner;
        let now = inner.now_ns();
        let per_p_running = (now - self.start_ns) / inner.procs as i64;
        inner.pacer.poll_fractional_worker_exit(
            inner.fractional_ns_per_p(),
            now - per_p_running,
            now,
        )
    }
    fn flush_bg_credit(&self, scan_work: i64) {
        self.inner
            .assists
            .flush_bg_credit(scan_work, AssistRatios::of(&self.inner.pacer));
    }
    /// Go's gcDrain flushes its P's barrier buffer when it runs dry; a
    /// worker here has no P, so it takes what is waiting in any mutator's
    /// buffer it can lock without waiting (a mutator mid-operation, or a
    /// stop in progress, is skipped: the ragged flush will get it).
    fn flush_write_barriers(&self, m: &Marker, gcw: &mut GcWork) -> bool {
        let Ok(ms) = self.inner.mutators.try_lock() else {
            return false;
        };
        let mut any = false;
        for mu in ms.iter() {
            if let Ok(mut l) = mu.local.try_lock() {
                any |= l.wb.flush(m, gcw) > 0;
            }
        }
        any
    }
}

impl Inner {
    /// Starts this cycle's background workers (Go's `gcBgMarkStartWorkers`,
    /// per cycle): the dedicated ones, and one for the fractional share.
    pub(super) fn start_workers(self: &Arc<Self>, start: &CycleStart) -> Vec<JoinHandle<()>> {
        let n = start.dedicated.max(0) as usize + usize::from(start.fractional > 0.0);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gpumark-mark-{i}"))
                .spawn(move || me.background_worker());
            match spawned {
                Ok(w) => workers.push(w),
                // The other workers and the assists still mark.
                Err(e) => log::error!("gpumark: cannot start a mark worker: {e}"),
            }
        }
        workers
    }

    /// Go's `gcBgMarkWorker` loop, with the scheduler's part: while the cycle
    /// lasts, ask the pacer whether to run and how, drain, and sleep when
    /// there is nothing to do.
    fn background_worker(&self) {
        let mut gcw = GcWork::new();
        while !self.workers_stop.load(Acquire) {
            let per_p = self.fractional_ns_per_p();
            let Some(mode) = self.pacer.find_runnable_gc_worker(per_p, self.now_ns()) else {
                let turn = self.fractional_turn(per_p);
                self.wake.wait_for_turn(turn, &self.workers_stop);
                continue;
            };
            let found = self.mark_worker_run(&mut gcw, mode);
            if !found && !self.has_mark_work() {
                // Nothing anywhere this worker can look: sleep until work
                // is published (Go's findRunnableGCWorker runs no worker
                // without gcMarkWorkAvailable).
                self.wake
                    .wait_for_work(|| self.has_mark_work(), &self.workers_stop);
            }
        }
    }

    /// The average P's fractional mark time this cycle, ns: the pacer's
    /// total over `GOMAXPROCS` (see the module documentation).
    fn fractional_ns_per_p(&self) -> i64 {
        self.pacer.fractional_mark_time() / self.procs as i64
    }

    /// One run of a worker the pacer scheduled in `mode`: drains under the
    /// gate until preempted, out of work, or (fractional) past its share,
    /// then reports its time (Go's `markWorkerStop`). Returns whether the
    /// drain found anything to scan, its look into the mutators' barrier
    /// buffers included.
    fn mark_worker_run(&self, gcw: &mut GcWork, mode: MarkWorkerMode) -> bool {
        let gate = self.drain_gate.read().unwrap_or_else(|p| p.into_inner());
        if self.workers_stop.load(Acquire) {
            // Give back the dedicated slot the pacer handed out.
            let _ = self.pacer.mark_worker_stop(mode, 0);
            return true;
        }
        let start_ns = self.now_ns();
        let scanned = |g: &GcWork| g.stats().items_scanned + g.stats().root_scan_work as u64;
        let before = scanned(gcw);
        self.wake.drain_started();
        let hooks = WorkerHooks {
            inner: self,
            mode,
            start_ns,
        };
        let mut flags = DrainFlags::UNTIL_PREEMPT | DrainFlags::FLUSH_BG_CREDIT;
        if mode == MarkWorkerMode::Fractional {
            flags |= DrainFlags::FRACTIONAL;
        }
        self.marker.drain_with(gcw, flags, &hooks, &*self.backend);
        self.marker.dispose(gcw);
        self.drain_done();
        drop(gate);
        let _ = self
            .pacer
            .mark_worker_stop(mode, (self.now_ns() - start_ns).max(0));
        if self.stw_pending.load(Relaxed) {
            // Let the stop take the gate before this worker asks again.
            std::thread::yield_now();
        }
        scanned(gcw) != before
    }

    /// When the average P, with `per_p` ns of fractional mark time, is owed
    /// a turn again: Go's `findRunnableGCWorker` runs the fractional worker
    /// while `per_p / (now - markStartTime)` is at most the goal, that is
    /// from `markStartTime + per_p / goal` on. `None` if there is no
    /// fractional goal: the worker then waits for the end of the cycle, and
    /// asks again now and then in case a dedicated slot came free.
    fn fractional_turn(&self, per_p: i64) -> Option<Instant> {
        let goal = self.pacer.fractional_utilization_goal();
        if goal <= 0.0 {
            return None;
        }
        let at_ns = self.pacer.mark_start_time() + (per_p as f64 / goal).ceil() as i64;
        // A microsecond late rather than early, so the pacer agrees.
        Some(self.epoch + Duration::from_nanos(at_ns.max(0) as u64 + 1_000))
    }
}
