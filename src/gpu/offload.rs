//! When the GPU pays: the offload policy and the measured cost model behind
//! the narrow-frontier hand-off.
//!
//! A GPU marks a whole level of the grey frontier in one dispatch, so its
//! cost per level is a fixed part (the level-advance dispatch, the indirect
//! scan dispatch and its validation, the barriers between them) plus a
//! marginal part per pointer slot scanned. The CPU has no per-level cost,
//! only a cost per slot. A level of `q` items of `k` slots each costs
//!
//! ```text
//! GPU:  level_s + q * k * gpu_slot_s        CPU:  q * k * cpu_slot_s
//! ```
//!
//! so the GPU pays once `q > level_s / ((cpu_slot_s - gpu_slot_s) * k)`:
//! that crossing is the hand-off threshold ([`OffloadModel::threshold`]),
//! with `k` the measured average slots per grey item (`slots_per_item`).
//! Costs are per slot rather than per item because items range from one
//! slot to a 16384-slot oblet; the queue is counted in items. Where the
//! GPU's marginal cost is no lower than the CPU's (a software rasteriser
//! such as lavapipe), it never pays and the threshold is infinite. A long
//! chain (`list`) has a frontier of one item at every level, which is why it
//! is the GPU's worst case.
//!
//! None of the numbers is picked by hand. They are measured in this process
//! on this adapter:
//!
//! - at first use, [`OffloadModel::calibrate`] times the CPU engine marking a
//!   complete binary tree (the CPU's cost per slot), then three batches on a
//!   small private mirror (an empty one: the batch's fixed cost; a chain:
//!   levels of one slot; a complete binary tree: few levels of many slots)
//!   and solves for the per-level and per-slot GPU costs;
//! - afterwards every real batch and every CPU run of the GPU backend
//!   refines them by exponentially weighted moving averages
//!   ([`OffloadModel::observe_batch`], [`OffloadModel::observe_cpu`]): a batch
//!   whose levels are narrow updates the per-level cost, a wide one the
//!   per-slot cost; both update `slots_per_item`.
//!
//! There is no Go counterpart: Go's marker has no second kind of processor.

use std::sync::Arc;
use std::time::Instant;

use super::{GpuContext, GpuError, HeapMirror, MirrorCapacity, ObjectInfo, SCAN_WORK_PER_SLOT};
use crate::heap::{build, Heap, Shape, ShapeSpec};
use crate::mark::mark_stw;

/// Who scans the heap behind `drain` / `drain_n` on the GPU backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OffloadPolicy {
    /// The GPU scans wide frontiers and hands narrow ones to the CPU, at the
    /// threshold the measured [`OffloadModel`] gives (the default).
    #[default]
    Auto,
    /// The GPU scans everything it is given and never hands off: what the
    /// exactness tests use, so that they test the GPU and not the CPU.
    Always,
}

impl OffloadPolicy {
    /// The policy's name as `--offload` spells it.
    pub fn name(self) -> &'static str {
        match self {
            OffloadPolicy::Auto => "auto",
            OffloadPolicy::Always => "always",
        }
    }
}

impl std::fmt::Display for OffloadPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OffloadPolicy {
    type Err = GpuError;

    /// Parses `auto` or `always` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, GpuError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(OffloadPolicy::Auto),
            "always" => Ok(OffloadPolicy::Always),
            _ => Err(GpuError::UnknownPolicy {
                given: s.to_string(),
            }),
        }
    }
}

/// Weight of a new observation in the moving averages: about the last four
/// observations dominate, so the model follows a change of heap shape within
/// a few batches without jumping on one noisy timing.
pub const MODEL_EWMA_WEIGHT: f64 = 0.25;

/// Largest multiple of an estimate a single observation may count as (see
/// `ewma`).
pub const MODEL_OUTLIER_CAP: f64 = 2.0;

/// Objects in the calibration chain: enough levels that their fixed cost
/// dwarfs the batch's own fixed cost and timer noise.
const CAL_CHAIN: u32 = 256;
/// Depth of the calibration tree (a complete binary tree of
/// `2^depth - 1` objects): enough items per level to measure the per-item
/// cost, small enough to calibrate in milliseconds on a software driver.
const CAL_TREE_DEPTH: u32 = 13;
/// Depth of the tree the CPU is timed on (65535 objects): a millisecond or
/// so of marking, long enough for the clock, short enough to calibrate at
/// startup.
const CAL_CPU_TREE_DEPTH: u32 = 16;
/// Timed repetitions of each calibration run; the fastest counts (the others
/// carry first-use and scheduling noise).
const CAL_REPS: usize = 3;

/// The measured costs behind the hand-off threshold; times in seconds. See
/// the module documentation.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct OffloadModel {
    /// Fixed cost of one batch: the submission and the counter readback.
    pub batch_s: f64,
    /// Fixed cost of one mark level on the GPU.
    pub level_s: f64,
    /// Marginal GPU cost of one pointer slot scanned.
    pub gpu_slot_s: f64,
    /// CPU cost of one pointer slot scanned, measured in this process.
    pub cpu_slot_s: f64,
    /// Average pointer slots per grey item in the work seen so far.
    pub slots_per_item: f64,
}

impl OffloadModel {
    /// The grey-queue length (in items) below which the CPU scans a level
    /// faster than the GPU: `level_s / ((cpu_slot_s - gpu_slot_s) *
    /// slots_per_item)`, rounded up; `u64::MAX` when the GPU's cost per slot
    /// is not below the CPU's (it never pays).
    pub fn threshold(&self) -> u64 {
        let margin = (self.cpu_slot_s - self.gpu_slot_s) * self.slots_per_item.max(1.0);
        if margin <= 0.0 || !margin.is_finite() {
            return u64::MAX;
        }
        let q = (self.level_s / margin).ceil();
        if q.is_finite() && q < u64::MAX as f64 {
            (q as u64).max(1)
        } else {
            u64::MAX
        }
    }

    /// Refines the model with a batch that ran `levels` levels over `items`
    /// grey items and `slots` slots in `secs` (submission to readback). A
    /// batch whose levels averaged fewer items than the threshold is
    /// dominated by its fixed per-level cost and updates `level_s`; a wider
    /// one updates `gpu_slot_s`. Each solves the model for its unknown with
    /// the other held at its current value.
    pub fn observe_batch(&mut self, secs: f64, levels: u32, items: u64, slots: u64) {
        if levels == 0 || items == 0 || slots == 0 || !secs.is_finite() {
            return;
        }
        let (l, i, k) = (f64::from(levels), items as f64, slots as f64);
        let work_s = (secs - self.batch_s).max(0.0);
        if (i / l) < self.threshold() as f64 {
            let sample = ((work_s - k * self.gpu_slot_s) / l).max(0.0);
            self.level_s = ewma(self.level_s, sample);
        } else {
            let sample = ((work_s - l * self.level_s) / k).max(0.0);
            self.gpu_slot_s = ewma(self.gpu_slot_s, sample);
        }
        self.slots_per_item = ewma(self.slots_per_item, k / i);
    }

    /// Refines the CPU cost per slot with a run of CPU marking that scanned
    /// `items` grey items and `slots` slots in `secs`. Runs of fewer than 256
    /// slots are ignored: the timer's resolution would dominate them.
    pub fn observe_cpu(&mut self, secs: f64, items: u64, slots: u64) {
        if slots >= 256 && items > 0 && secs.is_finite() && secs > 0.0 {
            self.cpu_slot_s = ewma(self.cpu_slot_s, secs / slots as f64);
            self.slots_per_item = ewma(self.slots_per_item, slots as f64 / items as f64);
        }
    }

    /// Measures the model on `ctx` and on this process's CPU (see the module
    /// documentation); takes tens of milliseconds on a software driver.
    ///
    /// # Errors
    /// Any [`GpuError`] from the calibration mirror (creation, upload, batch).
    pub fn calibrate(ctx: &GpuContext) -> Result<OffloadModel, GpuError> {
        // The CPU first: a software driver's worker threads may still be
        // busy for a moment after GPU work, and would slow the CPU timing.
        let cpu_tree = Arc::new(build(&ShapeSpec {
            shape: Shape::Tree,
            objects: (1 << CAL_CPU_TREE_DEPTH) - 1,
            ptrs: 2,
            roots: 0,
            seed: 0,
        }));
        let mut cpu_slot_s = f64::INFINITY;
        for _ in 0..=CAL_REPS {
            let t = Instant::now();
            let r = mark_stw(&cpu_tree, 1);
            let secs = t.elapsed().as_secs_f64();
            let slots = r.heap_scan_work as f64 / SCAN_WORK_PER_SLOT as f64;
            cpu_slot_s = cpu_slot_s.min(secs / slots.max(1.0));
        }

        let chain = build(&ShapeSpec {
            shape: Shape::List,
            objects: CAL_CHAIN,
            ptrs: 1,
            roots: 0,
            seed: 0,
        });
        let tree = build(&ShapeSpec {
            shape: Shape::Tree,
            objects: (1 << CAL_TREE_DEPTH) - 1,
            ptrs: 2,
            roots: 0,
            seed: 0,
        });
        // Both are rooted at object 0 and every object has slots, so every
        // object is one item, and level counts are exact: a chain has one
        // level per object, the tree one per depth.
        let (batch_s, chain_s) = gpu_time(ctx, &chain, CAL_CHAIN)?;
        let (_, tree_s) = gpu_time(ctx, &tree, CAL_TREE_DEPTH)?;
        // chain_s - batch_s = Lc*level + Sc*slot; tree_s - batch_s = Lt*level + St*slot.
        let (lc, sc) = (f64::from(CAL_CHAIN), chain.slots_len() as f64);
        let (lt, st) = (f64::from(CAL_TREE_DEPTH), tree.slots_len() as f64);
        let (yc, yt) = ((chain_s - batch_s).max(0.0), (tree_s - batch_s).max(0.0));
        let det = lc * st - lt * sc;
        let mut level_s = (yc * st - yt * sc) / det;
        let mut gpu_slot_s = (lc * yt - lt * yc) / det;
        // Timing noise can push a tiny unknown below zero; attribute the
        // whole run to the other one then.
        if level_s <= 0.0 {
            level_s = 0.0;
            gpu_slot_s = yt / st;
        }
        if gpu_slot_s <= 0.0 {
            gpu_slot_s = 0.0;
            level_s = yc / lc;
        }
        Ok(OffloadModel {
            batch_s,
            level_s,
            gpu_slot_s,
            cpu_slot_s,
            // The calibration tree's: two slots per object.
            slots_per_item: st / f64::from((1u32 << CAL_TREE_DEPTH) - 1),
        })
    }
}

/// Moves `old` towards `sample` by [`MODEL_EWMA_WEIGHT`]. Interference
/// (other processes, a driver's threads) only ever makes a run slower, so a
/// sample is first capped at [`MODEL_OUTLIER_CAP`] times the estimate: one
/// disturbed run moves it by at most a quarter, while a lasting slowdown
/// still wins within a few runs.
fn ewma(old: f64, sample: f64) -> f64 {
    let sample = if old > 0.0 {
        sample.min(MODEL_OUTLIER_CAP * old)
    } else {
        sample
    };
    old + MODEL_EWMA_WEIGHT * (sample - old)
}

/// Times, on a private mirror of `heap`, an empty batch and a batch of
/// exactly `levels` levels marking everything from object 0; returns the
/// fastest of each over [`CAL_REPS`] runs.
fn gpu_time(ctx: &GpuContext, heap: &Heap, levels: u32) -> Result<(f64, f64), GpuError> {
    let n = heap.len();
    let infos: Vec<ObjectInfo> = (0..n)
        .map(|i| {
            let d = heap.desc(i);
            ObjectInfo {
                slot_start: d.slot_start,
                nslots: d.nslots,
                size: d.size,
            }
        })
        .collect();
    let slots: Vec<u32> = heap.raw_slots()[..heap.slots_len() as usize]
        .iter()
        .map(|s| s.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    let mut m = HeapMirror::new(ctx, MirrorCapacity::new(n, heap.slots_len().max(1)))?;
    m.upload_objects(0, &infos)?;
    m.upload_slots(0, &slots)?;
    m.set_watermark(n)?;
    let (mut empty_s, mut full_s) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..CAL_REPS {
        m.clear_marks()?;
        m.clear_queue()?;
        m.wait_idle()?;
        let t = Instant::now();
        m.run_batch(u64::MAX, 0)?;
        empty_s = empty_s.min(t.elapsed().as_secs_f64());
        m.upload_marks_at(0, &[1])?;
        m.push_greys(&[(0, 0)])?;
        m.wait_idle()?;
        let t = Instant::now();
        let c = m.run_batch(u64::MAX, levels)?;
        full_s = full_s.min(t.elapsed().as_secs_f64());
        if c.queue_len != 0 || c.objects_scanned != u64::from(n) {
            return Err(GpuError::Internal(format!(
                "calibration batch scanned {} of {n} objects, {} left queued",
                c.objects_scanned, c.queue_len
            )));
        }
    }
    Ok((empty_s, full_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> OffloadModel {
        OffloadModel {
            batch_s: 1e-4,
            level_s: 20e-6,
            gpu_slot_s: 0.5e-9,
            cpu_slot_s: 10.5e-9,
            slots_per_item: 2.0,
        }
    }

    #[test]
    fn threshold_is_where_a_gpu_level_costs_what_the_cpu_does() {
        let m = model();
        // 20 us / ((10.5 ns - 0.5 ns) * 2) = 1000 items (up to rounding).
        assert!((1000..=1001).contains(&m.threshold()), "{}", m.threshold());
        let q = m.threshold() as f64;
        let slots = q * m.slots_per_item;
        let gpu = m.level_s + slots * m.gpu_slot_s;
        let cpu = slots * m.cpu_slot_s;
        assert!((gpu - cpu).abs() / cpu < 1e-3);
        // Bigger items: fewer of them make a level worth the GPU's while.
        let big = OffloadModel {
            slots_per_item: 20.0,
            ..m
        };
        assert!(
            (100..=101).contains(&big.threshold()),
            "{}",
            big.threshold()
        );
        let slow_gpu = OffloadModel {
            gpu_slot_s: 50e-9,
            ..m
        };
        assert_eq!(
            slow_gpu.threshold(),
            u64::MAX,
            "a GPU slower per slot never pays"
        );
    }

    #[test]
    fn observations_move_the_right_unknown() {
        let mut m = model();
        // Narrow batch: 100 levels of 10 two-slot items taking ~1 us per
        // level: level_s moves towards 1 us.
        m.observe_batch(1e-4 + 100.0 * 1e-6 + 2000.0 * 0.5e-9, 100, 1000, 2000);
        assert!(m.level_s < 20e-6 && m.gpu_slot_s == 0.5e-9, "{m:?}");
        // Wide batch: 2 levels of 1M items at 5 ns per slot.
        let before = m.level_s;
        m.observe_batch(1e-4 + 2.0 * before + 2e6 * 5e-9, 2, 1_000_000, 2_000_000);
        assert!(m.gpu_slot_s > 0.5e-9 && m.level_s == before, "{m:?}");
        m.observe_cpu(1e-3, 10_000, 40_000);
        assert!(m.cpu_slot_s > 10.5e-9 && m.slots_per_item > 2.0, "{m:?}");
        let c = m.cpu_slot_s;
        m.observe_cpu(1.0, 10, 20);
        assert_eq!(m.cpu_slot_s, c, "tiny runs are ignored");
    }

    #[test]
    fn policy_names_round_trip() {
        for p in [OffloadPolicy::Auto, OffloadPolicy::Always] {
            assert_eq!(p.name().parse::<OffloadPolicy>().unwrap(), p);
        }
        assert_eq!(
            " ALWAYS ".parse::<OffloadPolicy>().unwrap(),
            OffloadPolicy::Always
        );
        assert!(matches!(
            "sometimes".parse::<OffloadPolicy>(),
            Err(GpuError::UnknownPolicy { .. })
        ));
        assert_eq!(OffloadPolicy::default(), OffloadPolicy::Auto);
    }
}
