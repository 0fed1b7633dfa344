//! The end of marking. Go counterparts: mgc.go (`gcMarkDone`,
//! `gcMarkTermination`, `gcSweep`), mgcmark.go (`gcMarkRootCheck`).
//!
//! Termination is Go's two-step `gcMarkDone`, run by the driver when a
//! drain signals a completion point (see `wake`). When no drain is running
//! and no grey work is visible, every mutator's barrier buffer and work
//! cache is flushed, one mutator at a time (the ragged barrier, Go's
//! `forEachP(wbBufFlush1; gcw.dispose)`): grey work can hide there. If the
//! flush published any (Go's `gcMarkDoneFlushed`), the check starts over
//! (Go's `goto top`), and marking goes on while that work is drained.
//! Otherwise the world is stopped and everything is checked again, exactly:
//! every barrier buffer, work cache, global list, root job and backend
//! queue. Only if all are empty, and the backend has settled its marks into
//! the bitmap (a GPU's one merge of the cycle), does the cycle end, still
//! under that stop
//! (Go's `gcMarkTermination`): blackening off, parked assists woken, the
//! barrier off, the pacer's `end_cycle` feedback, the live heap reset to
//! what was marked, the [`MarkTermination`] hook, and the sweep started
//! (Go's `gcSweep`).

use super::{lock, Inner, MutatorLocal};
use crate::heap::{Heap, HeapError, HeapView, ObjRef};
use crate::mark::Marker;
use crate::pacer::GcTriggerKind;
use crate::verify::{check_covers, reachable};
use std::fmt;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, MutexGuard};

/// A hook run at every mark termination: see [`MarkTermination`].
pub type MarkTerminationHook = Arc<dyn Fn(&MarkTermination<'_>) + Send + Sync>;

/// What a cycle's mark termination shows, with the world stopped: the final
/// mark bits, the roots and the heap they point into, exactly as the cycle
/// ends (Go's `gcMarkTermination`, before the sweep).
///
/// It exists so that a user or a test can check a concurrent mark against
/// its own reachability oracle, without the library's [`verify`] and
/// without reaching into internals: every object reachable from
/// [`MarkTermination::globals`] and [`MarkTermination::stacks`] through
/// [`MarkTermination::slots`] must be [`MarkTermination::is_marked`].
/// Nothing moves while the hook runs, so it should be quick: every mutator
/// waits for it.
///
/// [`verify`]: super::CollectorConfig::verify
pub struct MarkTermination<'a> {
    cycle: u64,
    heap: &'a Heap,
    marker: &'a Marker,
}

impl MarkTermination<'_> {
    /// The cycle that is ending, from 1.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Object indices handed out so far (`0..objects()`).
    pub fn objects(&self) -> u32 {
        self.heap.len()
    }

    /// The heap, read-only, as the cycle ends.
    pub fn heap(&self) -> HeapView<'_> {
        HeapView::new(self.heap)
    }

    /// Whether the cycle marked `obj`.
    pub fn is_marked(&self, obj: ObjRef) -> bool {
        self.marker.bits().is_marked(obj.0)
    }

    /// The global roots.
    pub fn globals(&self) -> Vec<Option<ObjRef>> {
        let g = self.heap.globals();
        g.iter().map(|s| ObjRef::decode(s.load(Relaxed))).collect()
    }

    /// Every mutator's stack of roots.
    pub fn stacks(&self) -> Vec<Vec<Option<ObjRef>>> {
        let st = self.heap.stacks();
        st.iter()
            .map(|s| s.snapshot().into_iter().map(ObjRef::decode).collect())
            .collect()
    }

    /// The pointer slots of `obj`.
    pub fn slots(&self, obj: ObjRef) -> Result<Vec<Option<ObjRef>>, HeapError> {
        let d = self.heap.object(obj)?;
        let raw = &self.heap.raw_slots()[d.slot_start as usize..][..d.nslots as usize];
        Ok(raw
            .iter()
            .map(|s| ObjRef::decode(s.load(Relaxed)))
            .collect())
    }
}

impl fmt::Debug for MarkTermination<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarkTermination")
            .field("cycle", &self.cycle)
            .field("objects", &self.objects())
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Go's `gcMarkDone`: returns once marking is complete and the cycle has
    /// ended (see the module documentation), with the objects marked and the
    /// verification result. Between checks the driver sleeps until a drain
    /// signals a completion point (see `wake`).
    pub(super) fn mark_done(&self, kind: GcTriggerKind) -> (u64, Option<bool>) {
        loop {
            self.wake.wait_mark_done(|| self.completion_point());
            if let Some(r) = self.try_mark_done(kind) {
                return r;
            }
        }
    }

    /// Go's `gcMarkDone` from its `top` label: `None` if marking must go on,
    /// which some drain will signal again.
    fn try_mark_done(&self, kind: GcTriggerKind) -> Option<(u64, Option<bool>)> {
        loop {
            self.sync_scan_work();
            if !self.completion_point() {
                return None;
            }
            if self.ragged_flush() {
                // Go's `gcMarkDoneFlushed != 0`: goto top. What the flush
                // published has enlisted workers; if they have drained it
                // already, nobody is left to signal, so look again now.
                self.counters.restarts.fetch_add(1, Relaxed);
                continue;
            }
            let done = self.with_world_stopped(|_, locals| {
                let mut again = false;
                for l in locals.iter_mut() {
                    again |= self.flush_mutator(l);
                }
                if again || self.has_mark_work() {
                    return None;
                }
                // The backend's marks into the bitmap (a GPU's merge); a
                // device lost there has greyed them again on the host.
                if !self.backend.settle(&self.marker) {
                    return None;
                }
                Some(self.mark_termination(kind, locals))
            });
            if done.is_some() {
                // Workers sleeping for work or for their turn see
                // `workers_stop` now.
                self.wake.wake_all();
                return done;
            }
            self.counters.restarts.fetch_add(1, Relaxed);
        }
    }

    /// The ragged barrier: flushes every mutator's barrier buffer and work
    /// cache, one mutator at a time; true if that published grey work.
    fn ragged_flush(&self) -> bool {
        let mut flushed = false;
        let ms: Vec<_> = lock(&self.mutators).clone();
        for m in &ms {
            let mut l = lock(&m.local);
            flushed |= self.flush_mutator(&mut l);
        }
        flushed
    }

    /// Go's `gcMarkTermination` and the start of `gcSweep`, world stopped
    /// and marking complete: ends the cycle and returns the objects marked
    /// and the verification result.
    fn mark_termination(
        &self,
        kind: GcTriggerKind,
        locals: &mut [MutexGuard<'_, MutatorLocal>],
    ) -> (u64, Option<bool>) {
        self.assists.set_blacken_enabled(false);
        self.pacer.set_gc_blacken_enabled(false);
        self.workers_stop.store(true, SeqCst);
        self.barrier_on.store(false, SeqCst);
        for l in locals.iter_mut() {
            self.flush_alloc(l);
            self.flush_assist_time(l);
        }
        self.sync_scan_work();
        self.pacer
            .end_cycle(self.now_ns(), self.procs, kind == GcTriggerKind::Cycle);
        let bytes = self.marker.bytes_marked();
        self.pacer.reset_live(bytes);
        self.pacer.gc_controller_commit(true);
        let verified = self.verify.then(|| self.verify_marks());
        if let Some(hook) = &self.on_mark_termination {
            hook(&MarkTermination {
                cycle: lock(&self.stats).len() as u64 + 1,
                heap: &self.heap,
                marker: &self.marker,
            });
        }
        // Go's gcSweep: every cache gives its spans back and every span is
        // to be swept against these marks.
        for l in locals.iter_mut() {
            l.cache.release();
        }
        self.heap.start_sweep();
        (self.marker.bits().count(), verified)
    }

    /// The reachability check of [`super::CollectorConfig::verify`]: every
    /// object reachable from the roots is marked.
    fn verify_marks(&self) -> bool {
        let reach = reachable(&self.heap);
        match check_covers(self.marker.bits(), &reach) {
            Ok(()) => true,
            Err(e) => {
                log::error!(
                    "gpumark: cycle verification failed: {e} (allocation watermark {}, heap length {})",
                    self.marker.watermark(),
                    self.heap.len()
                );
                false
            }
        }
    }
}
