//! The step in mode *GPU*: the host's greys go to the device (the shadow's
//! rule 1), one batch runs within the step's budget and reads back its
//! counter block, and the next batch is sized from it; merges of the GPU
//! bitmap into the host's (rule 2).

use super::shadow::{Merge, Push};
use super::stats::{
    CPU_STRETCH_WORK, DRAIN_BATCH_S, HANDOFF_HYSTERESIS, INITIAL_DRAIN_BUDGET, MIN_BATCH_LEVELS,
    MIN_DRAIN_BUDGET,
};
use super::{GpuScan, Mode, State};
use crate::gpu::{BatchCounters, GpuError, OpCounts, MAX_BATCH_LEVELS, SCAN_WORK_PER_SLOT};
use crate::mark::{GcWork, Marker};
use crate::scan::Budget;
use std::sync::atomic::Ordering::Release;
use std::time::Instant;

impl GpuScan {
    /// Moves the host's greys to the device (the shadow's rule 1): the
    /// caller's cache and the global full list. What the inbox has no room
    /// for stays on the host for the next step.
    fn push_host_greys(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
    ) -> Result<(), GpuError> {
        let mut items = m.lists().take_all_full();
        while let Some(it) = gcw.try_get(m.lists()) {
            items.push(it);
        }
        if items.is_empty() {
            return Ok(());
        }
        let mut room = st.mirror()?.inbox_room() as usize;
        let (mut owned, mut inbox) = (Vec::new(), Vec::new());
        for it in items {
            if room == 0 {
                gcw.put(m.lists(), it);
                continue;
            }
            match st.shadow.classify(it) {
                // A stale copy: its bytes were taken back when it was settled.
                Push::Drop => continue,
                Push::Inbox => {
                    inbox.push(it.obj);
                    room -= 1;
                }
                // A first item stands for the whole object: the GPU queues
                // the other oblets when it scans it.
                Push::Owned => owned.push((it.obj, it.oblet)),
            }
            // Recorded before the fallible uploads below: a failure re-greys
            // it on the host.
            st.pushed.push(it);
        }
        let bytes = (owned.len() * 8 + inbox.len() * 4) as u64;
        let n_inbox = inbox.len() as u64;
        let mirror = st.mirror()?;
        mirror.push_inbox(&inbox)?;
        mirror.push_greys(&owned)?;
        self.queued
            .store(u64::from(mirror.queue_len()) + n_inbox, Release);
        self.stat(|s| {
            s.upload_bytes += bytes;
            s.inbox_objects += n_inbox;
        });
        Ok(())
    }

    /// One batch of at most `budget` scan work, charged to `gcw`.
    fn batch(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
        budget: u64,
    ) -> Result<BatchCounters, GpuError> {
        let levels = st.levels;
        let inject = match st.inject_after {
            Some(0) => {
                st.inject_after = None;
                true
            }
            Some(k) => {
                st.inject_after = Some(k - 1);
                false
            }
            None => false,
        };
        let mirror = st.mirror()?;
        if inject {
            // `HeapMirror::inject_device_lost`, which is behind `testing`
            // as `inject_device_lost_after` is.
            mirror.inject_lost = true;
        }
        let t = Instant::now();
        let c = mirror.run_batch(budget, levels)?;
        let secs = t.elapsed().as_secs_f64();
        let trace = mirror.level_trace();
        if !trace.is_empty() {
            self.stat(|s| s.level_trace.extend_from_slice(trace));
        }
        self.queued.store(c.queue_len, Release);

        // As if this worker had scanned it; the inbox's duplicates were
        // counted by the host and by the GPU (the shadow's rule 1).
        gcw.charge(c.scan_work as i64, c.objects_marked, c.bytes_marked);
        let rest = gcw.uncharge(c.duplicates, c.duplicate_bytes);
        if rest > 0 {
            m.take_back_scanned(0, rest);
        }
        st.since_merge_work += c.scan_work;
        st.since_merge_bytes += c.bytes_marked - c.duplicate_bytes.min(c.bytes_marked);
        if c.objects_marked > 0 || c.inbox > c.duplicates {
            st.shadow.unmerged = true;
        }
        self.size_next_batch(st, &c, secs);
        self.stat(|s| {
            s.batches += 1;
            s.submissions += 1;
            s.readback_bytes += c.readback_bytes;
            s.gpu_s += secs;
            s.gpu_scan_work += c.scan_work;
            s.duplicates += c.duplicates;
            if let Some(ops) = &c.ops {
                s.ops.get_or_insert_with(OpCounts::default).add(ops);
            }
            s.last_batch = Some(c);
        });
        Ok(c)
    }

    /// Batch sizing from what a batch did: its level count (double while
    /// long chains use them all, halve when the queue empties early: every
    /// encoded level costs a dispatch), the GPU's rate, and the cost model.
    fn size_next_batch(&self, st: &mut State, c: &BatchCounters, secs: f64) {
        let levels = st.levels;
        if c.levels_run >= levels && c.queue_len > 0 {
            st.levels = (levels * 2).min(MAX_BATCH_LEVELS);
        } else if c.queue_len == 0 && c.levels_run.saturating_mul(4) < levels {
            st.levels = (levels / 2).max(MIN_BATCH_LEVELS);
        }
        if c.scan_work >= MIN_DRAIN_BUDGET && secs > 0.0 {
            let rate = c.scan_work as f64 / secs;
            st.gpu_rate = Some(st.gpu_rate.map_or(rate, |r| 0.75 * r + 0.25 * rate));
        }
        if let Some(model) = st.model.as_mut() {
            model.observe_batch(
                secs,
                c.levels_run,
                c.objects_scanned,
                c.scan_work / SCAN_WORK_PER_SLOT,
            );
        }
    }

    /// A batch's budget for a step's [`Budget`]: a drain's is
    /// [`DRAIN_BATCH_S`] at the measured rate.
    fn batch_budget(&self, st: &State, budget: Budget) -> u64 {
        match budget {
            Budget::Unbounded => u64::MAX,
            Budget::Drain => st
                .gpu_rate
                .map_or(INITIAL_DRAIN_BUDGET, |r| (r * DRAIN_BATCH_S) as u64)
                .max(MIN_DRAIN_BUDGET),
            Budget::Work(n) => n.max(1) as u64,
        }
    }

    /// The shadow's rule 2: downloads the GPU bitmap and merges it into the
    /// host's, straight from the mapped download. The GPU queue must be
    /// empty (or taken back). Clears the recovery records: everything sent
    /// is scanned and in `H`. `kind`: what the merge may assume (a settle's
    /// is [`Merge::Final`]).
    pub(super) fn merge(&self, st: &mut State, m: &Marker, kind: Merge) -> Result<(), GpuError> {
        debug_assert_eq!(st.queue_len(), 0, "merge with grey items on the GPU");
        if st.shadow.unmerged {
            let live = st.shadow.live_words;
            let State { mirror, shadow, .. } = st;
            let mirror = mirror
                .as_mut()
                .ok_or_else(|| GpuError::Internal("no heap mirror in a GPU phase".into()))?;
            let submitted = !mirror.marks_staged(live);
            let (twice, bytes) = mirror.download_marks_with(live, |g| shadow.merge(m, g, kind))?;
            if bytes > 0 {
                // The GPU's batches added these bytes too: the counter holds them.
                m.take_back_scanned(0, bytes);
            }
            self.stat(|s| {
                s.readback_bytes += live as u64 * 4;
                s.submissions += u64::from(submitted);
                s.duplicates += twice;
            });
        }
        st.clear_records();
        Ok(())
    }

    /// The step under the lock. `Ok(false)`: this phase is marked on the CPU
    /// (nothing was taken from `gcw`).
    pub(super) fn step_locked(
        &self,
        st: &mut State,
        m: &Marker,
        gcw: &mut GcWork,
        budget: Budget,
    ) -> Result<bool, GpuError> {
        if !self.enter_phase(st, m)? {
            return Ok(false);
        }
        let threshold = self.threshold(st);
        let widen_at = threshold
            .unwrap_or(u64::MAX)
            .saturating_mul(HANDOFF_HYSTERESIS);
        if st.mode == Mode::Gpu {
            if let Some(t) = threshold {
                if st.queue_len() + host_queue_len(m, gcw) < t {
                    self.synced(|| self.to_cpu(st, m, gcw))?;
                }
            }
        } else if host_queue_len(m, gcw) > widen_at {
            self.synced(|| self.to_gpu(st, m))?;
        }
        match st.mode {
            Mode::Cpu => {
                let max_work = match budget {
                    Budget::Work(n) => n,
                    Budget::Drain | Budget::Unbounded => CPU_STRETCH_WORK,
                };
                self.cpu_step(st, m, gcw, max_work, widen_at)
            }
            Mode::Gpu => {
                self.synced(|| self.push_host_greys(st, m, gcw))?;
                if st.queue_len() > 0 || st.mirror()?.inbox_len() > 0 {
                    let b = self.batch_budget(st, budget);
                    // A batch that runs the queue dry is followed by a merge
                    // (the idle merge, a settle): one that stages the bitmap
                    // spares it a round trip to the device. A stop-the-world
                    // drain stages in every batch (the host waits on each
                    // anyway); a concurrent one in a batch whose queue is no
                    // longer than the last batch scanned: the frontier has
                    // stopped growing, and this batch is likely the last.
                    let queued = st.queue_len() + u64::from(st.mirror()?.inbox_len());
                    let stage = budget == Budget::Unbounded || queued <= st.last_batch_items;
                    st.mirror()?.stage_marks(stage);
                    let c = self.batch(st, m, gcw, b)?;
                    st.last_batch_items = c.objects_scanned;
                    // An idle merge (see the module doc): the queue ran dry
                    // and the GPU's marks since the last one outweigh those
                    // before it.
                    if c.queue_len == 0
                        && budget != Budget::Unbounded
                        && st.since_merge_work > st.idle_merged_work
                    {
                        st.idle_merged_work += st.since_merge_work;
                        self.synced(|| self.merge(st, m, Merge::Concurrent))?;
                    }
                }
            }
        }
        Ok(true)
    }
}

/// Grey items the host holds where this worker can see them: its cache and
/// the global full list.
pub(super) fn host_queue_len(m: &Marker, gcw: &GcWork) -> u64 {
    (gcw.cached() + m.lists().full_items()) as u64
}
