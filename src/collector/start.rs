//! Starting cycles and stopping the world. Go counterparts: mgc.go
//! (`gcStart`, `runtime.GC`, `gcTrigger.test`, `work.cycles`), proc.go
//! (`stopTheWorldWithSema`, `startTheWorldWithSema`), mgcsweep.go
//! (`bgsweep`, `finishsweep_m`).
//!
//! One driver thread per collector runs every cycle, in order: it waits for
//! a request (a mutator past the heap trigger, or [`Collector::gc`]), re-tests
//! it, runs the cycle (start, mark, termination) and sweeps in the background
//! until the next request. Go's allocating goroutine runs `gcStart` itself;
//! here it asks the driver and waits for the start, which comes to the same
//! thing for the heap: nobody allocates far past the trigger while marking
//! is being turned on.
//!
//! ## Stopping the world
//!
//! [`Inner::with_world_stopped`] raises `stw_pending`, then takes the mutator
//! list, the drain gate (exclusively) and every mutator's lock. A mutator
//! checks the flag at each operation's safepoint and waits on `stw_done`
//! until the stop is over (a condition variable, not a spin), so the driver
//! is not starved of their locks. Drains see the flag through their
//! `preempt_requested` hooks and return within an object's scan: a
//! background worker's, which holds the gate, and an assist's, which holds
//! its mutator's lock.

use super::{lock, Collector, Inner, MutatorLocal, MutatorShared};
use crate::heap::{SweepCounts, WORD_BYTES};
use crate::pacer::GcTriggerKind;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;

/// Requests to the driver thread.
#[derive(Debug, Default)]
pub(super) struct DriverState {
    requested: Option<GcTriggerKind>,
    pub(super) shutdown: bool,
    /// Cycles whose start (the stop that turns the barrier on) has run: Go's
    /// `work.cycles`. Incremented inside that stop, so a reader holding this
    /// lock never counts a cycle whose marking began before it looked.
    cycles_started: u64,
    pub(super) cycles_done: u64,
    /// The cycle number a [`Collector::gc`] call waits for; a `Cycle`
    /// request is stale once that many cycles have started.
    cycle_wanted: u64,
}

/// What the start of a cycle saw, for its trace line.
#[derive(Clone, Copy, Debug)]
pub(super) struct CycleStart {
    pub(super) kind: GcTriggerKind,
    /// When the driver began the cycle (before the stop).
    pub(super) t0: Instant,
    /// When marking began (after the stop).
    pub(super) mark_start: Instant,
    pub(super) heap_before: u64,
    pub(super) trigger: u64,
    pub(super) goal: u64,
    pub(super) dedicated: i64,
    pub(super) fractional: f64,
    /// What the sweep of the previous cycle's marks freed and what was
    /// reused since the previous start.
    pub(super) swept: SweepCounts,
}

impl Collector {
    /// Runs a full cycle and waits for it to finish (Go's `runtime.GC()`,
    /// minus the sweep).
    ///
    /// As in Go, the cycle waited for is the first to *start* after the call
    /// (`work.cycles + 1`): a cycle already marking, or already ending, does
    /// not count, and a cycle that someone else starts first does (the
    /// request is then stale and dropped, as Go's `gcTriggerCycle` test
    /// drops it, so no extra cycle runs later).
    pub fn gc(&self) {
        let mut d = lock(&self.inner.driver);
        let target = d.cycles_started + 1;
        d.cycle_wanted = d.cycle_wanted.max(target);
        d.requested = Some(GcTriggerKind::Cycle);
        self.inner.driver_cv.notify_all();
        while d.cycles_done < target && !d.shutdown {
            d = self
                .inner
                .driver_cv
                .wait(d)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Inner {
    /// The driver thread: one cycle per (fresh) request, a background sweep
    /// between cycles, until the collector is dropped.
    pub(super) fn driver_loop(self: Arc<Self>) {
        while let Some(kind) = self.next_request() {
            // Go's gcStart re-tests the trigger once it owns the start: a
            // request raised while the previous cycle was starting is stale.
            if kind == GcTriggerKind::Heap && !self.pacer.heap_trigger_reached() {
                self.driver_cv.notify_all();
                continue;
            }
            self.run_cycle(kind);
            let mut d = lock(&self.driver);
            d.cycles_done += 1;
            self.driver_cv.notify_all();
            drop(d);
            self.background_sweep();
        }
    }

    /// Waits for a request that is not stale; `None` at shutdown.
    fn next_request(&self) -> Option<GcTriggerKind> {
        let mut d = lock(&self.driver);
        loop {
            if d.shutdown {
                return None;
            }
            match d.requested.take() {
                // Go's gcTriggerCycle test: the cycle asked for has
                // already started.
                Some(GcTriggerKind::Cycle) if d.cycles_started >= d.cycle_wanted => {
                    self.driver_cv.notify_all();
                }
                Some(k) => return Some(k),
                None => {}
            }
            d = self.driver_cv.wait(d).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Go's `bgsweep`: between cycles the driver sweeps spans one at a time
    /// until none is left or a cycle is asked for (whose start finishes the
    /// sweep). Mutators sweep the spans of the classes they allocate from
    /// meanwhile (see `heap`'s spans).
    fn background_sweep(&self) {
        const SPANS_PER_CHECK: usize = 16;
        loop {
            {
                let d = lock(&self.driver);
                if d.requested.is_some() || d.shutdown {
                    return;
                }
            }
            for _ in 0..SPANS_PER_CHECK {
                if !self.heap.sweep_one(self.marker.bits()) {
                    return;
                }
            }
        }
    }

    /// Asks the driver for a cycle and waits until it has started (or the
    /// driver found the request stale). Go's allocating goroutine runs
    /// `gcStart` itself, so it and every other goroutine past the trigger
    /// stop allocating until marking is on; waiting here keeps mutators from
    /// running the heap far past the trigger while the driver gets going.
    pub(super) fn request_cycle_and_wait(&self, kind: GcTriggerKind) {
        let mut d = lock(&self.driver);
        let started = d.cycles_started;
        if d.requested.is_none() {
            d.requested = Some(kind);
            self.driver_cv.notify_all();
        }
        while d.cycles_started == started && d.requested.is_some() && !d.shutdown {
            d = self.driver_cv.wait(d).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Runs `f` with the world stopped: every mutator between operations and
    /// no background worker draining. See the module documentation.
    pub(super) fn with_world_stopped<R>(
        &self,
        f: impl FnOnce(&[Arc<MutatorShared>], &mut [MutexGuard<'_, MutatorLocal>]) -> R,
    ) -> R {
        self.stw_pending.store(true, SeqCst);
        let ms = lock(&self.mutators);
        let gate = self.drain_gate.write().unwrap_or_else(|p| p.into_inner());
        let mut locals: Vec<_> = ms.iter().map(|m| lock(&m.local)).collect();
        let r = f(&ms, &mut locals);
        drop(locals);
        drop(gate);
        drop(ms);
        let _g = lock(&self.stw_lock);
        self.stw_pending.store(false, SeqCst);
        self.stw_done.notify_all();
        r
    }

    /// A mutator's safepoint: waits while the world is being stopped.
    pub(super) fn safepoint(&self) {
        if self.stw_pending.load(SeqCst) {
            let mut g = lock(&self.stw_lock);
            while self.stw_pending.load(SeqCst) {
                g = self.stw_done.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// One cycle: start, mark with background workers until termination,
    /// then the cycle's statistics.
    fn run_cycle(self: &Arc<Self>, kind: GcTriggerKind) {
        let t0 = Instant::now();
        self.counters.reset();
        let start = self.gc_start(kind, t0);
        // Release mutators waiting for the start.
        self.driver_cv.notify_all();
        let workers = self.start_workers(&start);
        let (marked, verified) = self.mark_done(start.kind);
        for w in workers {
            let _ = w.join();
        }
        self.record_stats(&start, marked, verified);
    }

    /// Go's `gcStart`, world stopped: finish the sweep, reset every
    /// mutator's assist credit, prepare the root jobs, turn the barrier on,
    /// start the pacer's cycle and enable blackening.
    fn gc_start(&self, kind: GcTriggerKind, t0: Instant) -> CycleStart {
        let (heap_before, trigger, swept) = self.with_world_stopped(|ms, locals| {
            for l in locals.iter_mut() {
                self.flush_alloc(l);
                // Go's startCycle clears p.gcAssistTime.
                l.assist_ns_unflushed = 0;
            }
            for m in ms {
                m.credit.set_bytes(0);
            }
            self.report_stacks();
            let trigger = self.pacer.trigger().0;
            // Go's finishsweep_m: every span reads the last cycle's marks
            // before prepare_roots clears them.
            self.heap.finish_sweep(self.marker.bits());
            let swept = self.sweep_since_last_start();
            self.marker.prepare_roots();
            for c in &self.synced_scan_work {
                c.store(0, Relaxed);
            }
            self.barrier_on.store(true, SeqCst);
            self.workers_stop.store(false, SeqCst);
            self.wake.start_cycle();
            self.pacer.start_cycle(self.now_ns(), self.procs, kind);
            self.assists.bg_scan_credit.store(0, SeqCst);
            self.pacer.set_gc_blacken_enabled(true);
            self.assists.set_blacken_enabled(true);
            lock(&self.driver).cycles_started += 1;
            let live = self.pacer.heap_live();
            self.counters.peak_live.store(live, Relaxed);
            (live, trigger, swept)
        });
        // The backend readies itself for the phase (a GPU uploads what the
        // mutators changed) with the world running, as the first drains
        // would; they wait for it.
        self.backend.phase_start(&self.marker);
        CycleStart {
            kind,
            t0,
            mark_start: Instant::now(),
            heap_before,
            trigger,
            goal: self.pacer.heap_goal(),
            dedicated: self.pacer.dedicated_mark_workers_needed().max(0),
            fractional: self.pacer.fractional_utilization_goal(),
            swept,
        }
    }

    /// Tells the pacer how many stack bytes are scannable now (Go keeps
    /// `scannableStackSize` up to date as stacks grow; here stacks are
    /// counted at each start).
    fn report_stacks(&self) {
        let stack_bytes: u64 = self
            .heap
            .stacks()
            .iter()
            .map(|s| s.with(|v| v.len() as u64) * WORD_BYTES)
            .sum();
        let prev = self.reported_stack_bytes.swap(stack_bytes, Relaxed);
        self.pacer
            .add_scannable_stack(stack_bytes as i64 - prev as i64);
    }

    /// What the heap's sweeps freed, and what allocation reused, since the
    /// previous cycle start.
    fn sweep_since_last_start(&self) -> SweepCounts {
        let now = self.heap.sweep_counts();
        let last = std::mem::replace(&mut *lock(&self.last_sweep), now);
        SweepCounts {
            freed_objects: now.freed_objects - last.freed_objects,
            freed_bytes: now.freed_bytes - last.freed_bytes,
            reused_objects: now.reused_objects - last.reused_objects,
        }
    }
}
