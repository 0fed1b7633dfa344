//! Background mark workers. Go counterparts: mgc.go (`gcBgMarkWorker`,
//! `gcBgMarkStartWorkers`), mgcpacer.go (`findRunnableGCWorker`,
//! `pollFractionalWorkerExit`).
//!
//! A cycle runs its dedicated workers, each on its own thread, and one
//! thread that carries the whole fractional share. Workers drain with
//! `FLUSH_BG_CREDIT` (their scan work pays parked assists first) under the
//! drain gate, so that a stop of the world waits for no grey work in hand.

use super::Inner;
use crate::assist::AssistRatios;
use crate::mark::{DrainFlags, DrainHooks, GcWork, Marker};
use crate::pacer::MarkWorkerMode;
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::start::CycleStart;

/// How long an idle background worker sleeps before looking for work again.
const WORKER_IDLE_SLEEP: Duration = Duration::from_micros(50);

/// Hooks of a background worker: preempted when the world is stopping or the
/// cycle is over; credit flushed to the assist queue; the fractional worker
/// stops when it has had its share.
struct WorkerHooks<'a> {
    inner: &'a Inner,
    fractional: Option<(Instant, f64, u64)>,
}

impl DrainHooks for WorkerHooks<'_> {
    fn preempt_requested(&self) -> bool {
        self.inner.stw_pending.load(Relaxed) || self.inner.workers_stop.load(Relaxed)
    }
    fn poll_stop(&self) -> bool {
        // Go's pollFractionalWorkerExit: stop once this worker's share of
        // the cycle exceeds 1.2x its goal.
        match self.fractional {
            Some((mark_start, goal, prior_ns)) => {
                let elapsed = mark_start.elapsed().as_nanos() as f64;
                let mine = prior_ns as f64 + counters_running_ns();
                elapsed <= 0.0 || mine / elapsed > 1.2 * goal
            }
            None => false,
        }
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

thread_local! {
    /// When the current fractional drain started (for its own poll).
    static DRAIN_START: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

fn counters_running_ns() -> f64 {
    DRAIN_START.with(|s| s.get().map_or(0.0, |t| t.elapsed().as_nanos() as f64))
}

impl Inner {
    /// Starts this cycle's background workers (Go's
    /// `gcBgMarkStartWorkers`).
    pub(super) fn start_workers(self: &Arc<Self>, start: &CycleStart) -> Vec<JoinHandle<()>> {
        let mut workers = Vec::new();
        for _ in 0..start.dedicated {
            let me = self.clone();
            workers.push(std::thread::spawn(move || me.background_worker(None)));
        }
        if start.fractional > 0.0 {
            // One thread carries the whole fractional share.
            let share = start.fractional * self.procs as f64;
            let me = self.clone();
            let mark_start = start.mark_start;
            workers.push(std::thread::spawn(move || {
                me.background_worker(Some((mark_start, share)))
            }));
        }
        workers
    }

    /// Go's `gcBgMarkWorker`: drains with `FLUSH_BG_CREDIT` until the cycle
    /// ends, yielding to stops; the fractional worker also stops when it has
    /// had its share and waits until it is owed more.
    fn background_worker(&self, fractional: Option<(Instant, f64)>) {
        let mut gcw = GcWork::new();
        let mut my_ns = 0u64;
        let mode = if fractional.is_some() {
            MarkWorkerMode::Fractional
        } else {
            MarkWorkerMode::Dedicated
        };
        while !self.workers_stop.load(Acquire) {
            if let Some((start, share)) = fractional {
                let elapsed = start.elapsed().as_nanos() as f64;
                if my_ns as f64 > share * elapsed {
                    std::thread::sleep(WORKER_IDLE_SLEEP);
                    continue;
                }
            }
            let gate = self.drain_gate.read().unwrap_or_else(|p| p.into_inner());
            if self.workers_stop.load(Acquire) {
                break;
            }
            if mode == MarkWorkerMode::Dedicated {
                // Go's findRunnableGCWorker claims a slot that
                // markWorkerStop gives back.
                self.pacer.try_claim_dedicated_worker();
            }
            let t = Instant::now();
            DRAIN_START.with(|s| s.set(Some(t)));
            let hooks = WorkerHooks {
                inner: self,
                fractional: fractional.map(|(s, g)| (s, g, my_ns)),
            };
            let mut flags = DrainFlags::UNTIL_PREEMPT | DrainFlags::FLUSH_BG_CREDIT;
            if fractional.is_some() {
                flags |= DrainFlags::FRACTIONAL;
            }
            let before = self.marker.heap_scan_work.load(Relaxed);
            self.backend.drain(&self.marker, &mut gcw, flags, &hooks);
            self.marker.dispose(&mut gcw);
            DRAIN_START.with(|s| s.set(None));
            drop(gate);
            let ns = t.elapsed().as_nanos() as u64;
            my_ns += ns;
            self.counters.background_ns.fetch_add(ns, Relaxed);
            let _ = self.pacer.mark_worker_stop(mode, ns as i64);
            if self.marker.heap_scan_work.load(Relaxed) == before {
                // Found nothing: wait a little before looking again.
                std::thread::sleep(WORKER_IDLE_SLEEP);
            } else if self.stw_pending.load(Relaxed) {
                std::thread::yield_now();
            }
        }
    }
}
