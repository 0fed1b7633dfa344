//! The GC pacer: when to start a mark cycle, and how much marking each byte
//! of allocation must pay for while it runs.
//!
//! This is a port of Go's current pacer (`src/runtime/mgcpacer.go`, the
//! design of proposal 44167 plus the soft memory limit). Go keeps this state
//! in one global, `gcController` of type `gcControllerState`; here it is
//! [`Pacer`]. Field and method names are Go's in snake_case (`gcPercent` is
//! `gc_percent`, `consMark` is `cons_mark`, `heapGoalInternal` is
//! [`Pacer::heap_goal_internal`]) so the two can be read side by side.
//!
//! # What the pacer is trying to do
//!
//! A concurrent collector marks while the program keeps allocating. Two
//! things must be decided:
//!
//! 1. **Where the cycle should end**: the *heap goal*. With `GOGC` (Go's
//!    `gcPercent`) the goal is the marked heap of the last cycle grown by
//!    `GOGC/100` of *all* the memory the collector had to scan, not just the
//!    heap:
//!
//!    ```text
//!    goal = heap_marked + (heap_marked + last_stack_scan + globals_scan) * GOGC / 100
//!    ```
//!
//!    never below `heap_minimum` (4 MiB × GOGC/100), which amortises the
//!    fixed cost of a cycle for tiny heaps. With a soft memory limit (Go's
//!    `memoryLimit`, `GOMEMLIMIT`) a second goal is derived from the limit
//!    minus everything that is not heap, minus a 3 % (at least 1 MiB)
//!    headroom, and the smaller goal wins ([`Pacer::memory_limit_heap_goal`]).
//!    `GOGC=off` ([`GC_PERCENT_OFF`]) disables the first goal, leaving only the
//!    memory limit.
//!
//! 2. **When the cycle should start**: the *trigger*. Starting too late means
//!    mutators must do marking themselves ("assists") to reach the goal on
//!    time; starting too early wastes cycles. The pacer aims for the
//!    background mark workers alone, using 25 % of the CPUs
//!    ([`GC_BACKGROUND_UTILIZATION`]), to finish marking exactly when the heap
//!    reaches the goal. To know how early that is, it estimates `cons_mark`
//!    (Go's `consMark`): the ratio between how fast the program allocates and
//!    how fast the collector scans, both per CPU-nanosecond. If the collector
//!    has 25 % of the CPU and the mutator 75 %, then while the expected scan
//!    work `W` is done the program allocates
//!
//!    ```text
//!    runway = cons_mark * (1 - 0.25) / 0.25 * W
//!    ```
//!
//!    bytes, so the trigger is `goal - runway` (Go's `runway`, computed in
//!    [`Pacer::commit`]). The trigger is then clamped ([`Pacer::trigger`]):
//!    never earlier than 70 % of the way from the marked heap to the goal (so
//!    a fast allocator cannot make the collector run nearly always and grow
//!    the heap with black allocations), never later than 95 % of the way or
//!    `goal - 4 MiB`, whichever is earlier (so there is always some runway),
//!    and never before the sweeper has had 1 MiB of allocation to finish.
//!
//! # During a cycle: the assist ratio
//!
//! [`Pacer::start_cycle`] splits the 25 % into whole dedicated workers plus a
//! fractional worker when rounding would miss the target by more than 30 %.
//! [`Pacer::revise`] then computes the *assist ratio*: remaining expected scan
//! work divided by remaining heap distance to the goal. Each byte a mutator
//! allocates costs it `assist_work_per_byte` units of scan work, which it
//! either steals from the background workers' credit (`bg_scan_credit`) or
//! does itself. If marking keeps pace, the ratio stays low and background
//! credit covers it; if the program outruns the collector, assists rise and
//! slow it down. `revise` is re-run whenever its inputs change (every heap
//! live update during marking).
//!
//! The expected scan work is last cycle's scanned heap and stacks plus the
//! globals. If more work than that has already been done, the heap must have
//! grown; rather than let assists spike, the goal is extended in proportion
//! to the worst case (all scannable memory live), bounded by the *hard goal*
//! `(1 + GOGC/100) × goal`, because the next cycle will use that much memory
//! anyway. If the live heap is past even that goal, the pacer allows a 10 %
//! overshoot and assumes the worst-case scan work remains.
//!
//! # After a cycle: feedback
//!
//! [`Pacer::end_cycle`] measures this cycle's cons/mark: bytes allocated since
//! the trigger per CPU-ns the mutator had, over scan work per CPU-ns the
//! collector had (background + assists, plus idle-priority marking, which
//! the mutator could have taken at any time). The new estimate is the
//! maximum of that and the previous four measurements: a noisy estimate is
//! biased toward starting the next cycle early instead of assisting.
//! [`Pacer::reset_live`] records what was marked and [`Pacer::commit`]
//! derives the next goal and runway.
//!
//! # Wiring it into a collector
//!
//! The order of calls Go makes (`gcStart`, `gcMarkDone`, `gcMarkTermination`
//! in `mgc.go`):
//!
//! | when | call |
//! |---|---|
//! | allocation (span refill) | [`update`](Pacer::update)`(d_heap_live, d_heap_scan)`, then test [`heap_trigger_reached`](Pacer::heap_trigger_reached) |
//! | goroutine stack grown/freed; globals registered | [`add_scannable_stack`](Pacer::add_scannable_stack), [`add_globals`](Pacer::add_globals) |
//! | world stopped, sweep finished, cycle starts | [`start_cycle`](Pacer::start_cycle)`(now, procs, kind)` (it calls `revise`) |
//! | then, still stopped | [`set_gc_blacken_enabled`](Pacer::set_gc_blacken_enabled)`(true)`: assists and workers may run |
//! | workers/assists flush every [`GC_CREDIT_SLACK`] units | [`add_heap_scan_work`](Pacer::add_heap_scan_work) (and stack/globals), `AssistQueue::flush_bg_credit` (crate::assist), [`add_assist_time`](Pacer::add_assist_time) |
//! | a mark worker stops | [`mark_worker_stop`](Pacer::mark_worker_stop)`(mode, ns)` |
//! | mark done, world stopped | [`set_gc_blacken_enabled`](Pacer::set_gc_blacken_enabled)`(false)`, then [`end_cycle`](Pacer::end_cycle)`(now, procs, user_forced)` |
//! | mark termination | [`reset_live`](Pacer::reset_live)`(bytes_marked)`, then [`gc_controller_commit`](Pacer::gc_controller_commit)`(is_sweep_done)`, normally `false`: sweeping has just started |
//! | GOGC / limit changed | [`set_gc_percent`](Pacer::set_gc_percent) / [`set_memory_limit`](Pacer::set_memory_limit), then `gc_controller_commit` |
//!
//! # Memory ordering
//!
//! Every value is an atomic, so any thread may read any value at any time.
//! The counters and estimates use `Relaxed` ordering: they are heuristics,
//! read racily by design (Go's own comment on `revise` says the two assist
//! ratio values may be skewed and stale, and that is fine because they move
//! slowly). Cycle transitions ([`start_cycle`](Pacer::start_cycle),
//! [`end_cycle`](Pacer::end_cycle), [`reset_live`](Pacer::reset_live),
//! [`commit`](Pacer::commit)) are serialised with each other by an internal
//! mutex (Go's stop-the-world or `mheap_.lock`); ordering them against
//! mutators is the collector's job, through its own stop-the-world
//! synchronisation. The blacken flag uses `Release`/`Acquire`.
//!
//! # Example
//!
//! ```
//! use gpumark::pacer::{GcTriggerKind, Pacer, PacerConfig};
//!
//! let pacer = Pacer::new(PacerConfig { gc_percent: 100, gomaxprocs: 8, ..Default::default() })?;
//! // The program allocates until the trigger is reached.
//! while !pacer.heap_trigger_reached() {
//!     pacer.update(64 << 10, 32 << 10);
//! }
//! // The collector stops the world and starts a cycle at t = 0 ns.
//! pacer.start_cycle(0, 8, GcTriggerKind::Heap);
//! pacer.set_gc_blacken_enabled(true);
//! assert_eq!(pacer.dedicated_mark_workers_needed(), 2);
//! // Marking: the mutator keeps allocating, workers report scan work.
//! pacer.add_heap_scan_work(1 << 20);
//! pacer.update(256 << 10, 0); // during marking this also revises the assist ratio
//! assert!(pacer.assist_work_per_byte() > 0.0);
//! // Mark termination at t = 2 ms with 3 MiB marked.
//! pacer.set_gc_blacken_enabled(false);
//! pacer.end_cycle(2_000_000, 8, false);
//! pacer.reset_live(3 << 20);
//! // Sweeping now runs concurrently, so it is not done yet.
//! let (trigger, goal) = pacer.gc_controller_commit(false);
//! assert!(trigger <= goal && goal >= (3 << 20) + (1 << 20));
//! # Ok::<(), gpumark::pacer::PacerError>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Ordering for the pacer's counters and estimates; see the module's
/// "Memory ordering" section for why `Relaxed` is enough.
const ORD: Ordering = Ordering::Relaxed;

/// Goal CPU utilization for marking, as a fraction of GOMAXPROCS (Go's
/// `gcGoalUtilization`).
///
/// More CPU for marking shortens cycles (less time paying write-barrier and
/// black-allocation costs) but takes more from the program. Go sets it equal
/// to the background utilization: the pacer's aim is that background workers
/// alone do the job and assists are the exception.
pub const GC_GOAL_UTILIZATION: f64 = GC_BACKGROUND_UTILIZATION;

/// Fixed CPU utilization of background mark workers (dedicated + fractional),
/// as a fraction of GOMAXPROCS (Go's `gcBackgroundUtilization`).
///
/// Must not exceed [`GC_GOAL_UTILIZATION`]; any difference would be made up by
/// assists. Idle-priority workers come on top of this, using CPU nobody else
/// wants.
pub const GC_BACKGROUND_UTILIZATION: f64 = 0.25;

pub use crate::mark::GC_CREDIT_SLACK;

/// Nanoseconds of assist time a mutator may accumulate locally before adding
/// it to [`Pacer::add_assist_time`] (Go's `gcAssistTimeSlack`), for the same
/// accuracy/contention trade-off as [`GC_CREDIT_SLACK`].
pub const GC_ASSIST_TIME_SLACK: i64 = 5000;

pub use crate::assist::GC_OVER_ASSIST_WORK;

/// Minimum heap goal at GOGC=100 (Go's `defaultHeapMinimum`, without the
/// `HeapMinimum512KiB` experiment).
///
/// A cycle has a fixed cost regardless of heap size; for a tiny live heap
/// collecting at `2 × live` would collect constantly. 4 MiB amortises that
/// cost. The effective minimum scales with GOGC (see [`Pacer::heap_minimum`]),
/// so GOGC=0 still collects continuously, which is useful for debugging.
/// It also bounds the trigger: for large heaps the trigger may be as late as
/// `goal - DEFAULT_HEAP_MINIMUM`, because 4 MiB is the runway a cycle with
/// almost no work needs.
pub const DEFAULT_HEAP_MINIMUM: u64 = 4 << 20;

/// Bytes of stack growth or shrinkage a worker may accumulate locally before
/// updating the pacer's stack estimate (Go's `maxStackScanSlack`); see
/// [`Pacer::add_scannable_stack_local`].
pub const MAX_STACK_SCAN_SLACK: i64 = 8 << 10;

/// Minimum headroom below the memory limit's heap goal (Go's
/// `memoryLimitMinHeapGoalHeadroom`).
///
/// Pacing errors (scheduler noise, short cycles) weigh most on small heaps,
/// where 3 % of the goal would be only a few KiB; 1 MiB keeps a floor.
pub const MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM: u64 = 1 << 20;

/// Headroom, as a percentage of the memory-limit heap goal, left for pacing
/// errors and for a pool of free, unscavenged memory so that allocation does
/// not have to return memory to the OS on every refill (Go's
/// `memoryLimitHeapGoalHeadroomPercent`; Go issue 57069).
pub const MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT: u64 = 3;

/// Minimum allocation distance reserved for concurrent sweeping between the
/// end of a cycle and the next trigger (Go's `sweepMinHeapDistance`, in
/// `mgc.go`). Sweeping is paced by allocation; with no distance it would
/// have to finish instantly.
pub const SWEEP_MIN_HEAP_DISTANCE: u64 = 1 << 20;

/// Minimum distance between the point a cycle actually triggered and its
/// goal (Go's local `minRunway` in `heapGoalInternal`).
///
/// The trigger can be overshot (late start, one large allocation); the
/// assist ratio is inversely proportional to the remaining distance, so
/// without a floor assists would explode. Not applied when the memory limit
/// sets the goal: there, responding hard is preferred to exceeding the limit.
pub const MIN_RUNWAY: u64 = 64 << 10;

/// Denominator of the trigger bounds (Go's `triggerRatioDen`); a power of two
/// so the bounds are a shift and a multiply.
pub const TRIGGER_RATIO_DEN: u64 = 64;

/// Earliest trigger, as `MIN_TRIGGER_RATIO_NUM / TRIGGER_RATIO_DEN` (~0.7) of
/// the way from the marked heap to the goal (Go's `minTriggerRatioNum`).
///
/// Chosen empirically in Go: a fast enough allocator can drive the runway
/// toward the whole distance, so the collector runs almost always and
/// everything allocated meanwhile is black, growing the heap. Capping the
/// trigger trades some extra assist CPU for bounded RSS.
pub const MIN_TRIGGER_RATIO_NUM: u64 = 45;

/// Latest trigger, as `MAX_TRIGGER_RATIO_NUM / TRIGGER_RATIO_DEN` (~0.95) of
/// the way to the goal (Go's `maxTriggerRatioNum`), so that a small heap
/// always has some runway. Somewhat arbitrary, long-standing in Go.
pub const MAX_TRIGGER_RATIO_NUM: u64 = 61;

/// Largest relative error between the rounded number of dedicated workers
/// and `GOMAXPROCS × 25 %` that is accepted without adding a fractional
/// worker (Go's local `maxUtilError` in `startCycle`). With 25 % this adds a
/// fractional worker for GOMAXPROCS ≤ 3 and GOMAXPROCS = 6.
pub const MAX_UTIL_ERROR: f64 = 0.3;

/// Allowed overshoot of the (possibly extended) goal once the live heap is
/// already past it (Go's local `maxOvershoot` in `revise`): some runway is
/// kept so the ratio stays finite, and marking finishes by that point in the
/// worst case.
pub const MAX_OVERSHOOT: f64 = 1.1;

/// Floor on the remaining scan work used for the assist ratio (Go's literal
/// 1000 in `revise`). Marking is racy and may double-count, so the remaining
/// work may look zero or negative; aiming a little high is harmless.
pub const MIN_SCAN_WORK_REMAINING: i64 = 1000;

/// Slack on the fractional utilization goal before a running fractional
/// worker stops (Go's literal 1.2 in `pollFractionalWorkerExit`), so it is
/// not behind again the moment it exits.
pub const FRACTIONAL_WORKER_EXIT_SLACK: f64 = 1.2;

/// GOGC value that disables the GOGC goal (Go's `GOGC=off`, stored as -1).
pub const GC_PERCENT_OFF: i32 = -1;

/// GOGC default when the environment does not set it.
pub const DEFAULT_GC_PERCENT: i32 = 100;

/// Memory limit meaning "no limit" (Go's `GOMEMLIMIT=off`, `math.MaxInt64`).
pub const NO_MEMORY_LIMIT: i64 = i64::MAX;

/// Bounded retries when the memory statistics are observed mid-update; see
/// [`Pacer::memory_limit_heap_goal`].
const MEMORY_STATS_RETRIES: usize = 64;

/// Errors the pacer reports instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacerError {
    /// [`PacerConfig::gomaxprocs`] was 0; Go's GOMAXPROCS is at least 1.
    #[error("gomaxprocs must be at least 1")]
    ZeroGomaxprocs,
    /// [`PacerConfig::memory_limit`] was negative; use [`NO_MEMORY_LIMIT`] for none.
    #[error("memory limit must not be negative (got {0}); use NO_MEMORY_LIMIT for no limit")]
    NegativeMemoryLimit(i64),
    /// A `GOMEMLIMIT` string was not a byte count (Go throws here).
    #[error("malformed GOMEMLIMIT {0:?}: expected a byte count like 512MiB, or \"off\"")]
    MalformedMemoryLimit(String),
    /// [`Pacer::remove_idle_mark_worker`] was called with no idle worker
    /// running (Go throws "negative idle mark workers").
    #[error("idle mark worker count would go negative (count {count}, max {max})")]
    NegativeIdleMarkWorkers {
        /// Idle mark workers running when the call was made.
        count: i32,
        /// The maximum in force.
        max: i32,
    },
}

/// How a pacer starts: GOGC, the soft memory limit and GOMAXPROCS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacerConfig {
    /// GOGC: the heap may grow by this percentage of the scannable memory
    /// (heap + stacks + globals) before the next cycle ends. Any negative
    /// value means off ([`GC_PERCENT_OFF`]).
    pub gc_percent: i32,
    /// Soft memory limit in bytes; [`NO_MEMORY_LIMIT`] (`i64::MAX`) for none.
    pub memory_limit: i64,
    /// GOMAXPROCS the collector runs with, at least 1. Cycle calls take
    /// `procs` explicitly, as Go's do, because it may change between cycles
    /// (never during one); this is the initial value, see [`Pacer::gomaxprocs`].
    pub gomaxprocs: usize,
}

impl Default for PacerConfig {
    /// GOGC=100, no memory limit, GOMAXPROCS = available parallelism (Go's
    /// default is the CPU count).
    fn default() -> Self {
        PacerConfig {
            gc_percent: DEFAULT_GC_PERCENT,
            memory_limit: NO_MEMORY_LIMIT,
            gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl PacerConfig {
    /// Reads `GOGC` and `GOMEMLIMIT` from the environment like Go's
    /// `readGOGC` and `readGOMEMLIMIT` (see [`parse_gogc`] and
    /// [`parse_memory_limit`]); GOMAXPROCS is the available parallelism.
    pub fn from_env() -> Result<Self, PacerError> {
        let gogc = std::env::var("GOGC").unwrap_or_default();
        let memlimit = std::env::var("GOMEMLIMIT").unwrap_or_default();
        Ok(PacerConfig {
            gc_percent: parse_gogc(&gogc),
            memory_limit: parse_memory_limit(&memlimit)?,
            ..PacerConfig::default()
        })
    }
}

/// Parses a GOGC value like Go's `readGOGC`: `"off"` is [`GC_PERCENT_OFF`],
/// a decimal `i32` is itself, and anything else (including the empty string)
/// is the default, 100.
pub fn parse_gogc(s: &str) -> i32 {
    if s == "off" {
        return GC_PERCENT_OFF;
    }
    s.parse::<i32>().unwrap_or(DEFAULT_GC_PERCENT)
}

/// Parses a GOMEMLIMIT value like Go's `readGOMEMLIMIT`: empty or `"off"` is
/// [`NO_MEMORY_LIMIT`]; otherwise a non-negative byte count with an optional
/// `B`, `KiB`, `MiB`, `GiB` or `TiB` suffix (Go's `parseByteCount`).
pub fn parse_memory_limit(s: &str) -> Result<i64, PacerError> {
    if s.is_empty() || s == "off" {
        return Ok(NO_MEMORY_LIMIT);
    }
    parse_byte_count(s).ok_or_else(|| PacerError::MalformedMemoryLimit(s.to_owned()))
}

/// Go's `parseByteCount`: `^[0-9]+(([KMGT]i)?B)?$`, result within `i64`.
fn parse_byte_count(s: &str) -> Option<i64> {
    let non_negative = |digits: &[u8]| atoi64(digits).filter(|n| *n >= 0);
    match s.as_bytes() {
        [.., last] if last.is_ascii_digit() => non_negative(s.as_bytes()),
        [digits @ .., b'B'] if digits.last().is_some_and(u8::is_ascii_digit) => {
            non_negative(digits)
        }
        [num @ .., unit, b'i', b'B'] if !num.is_empty() => {
            let power = match unit {
                b'K' => 1,
                b'M' => 2,
                b'G' => 3,
                b'T' => 4,
                _ => return None,
            };
            let n = non_negative(num)?;
            let un = (n as u64).checked_mul(1024u64.pow(power))?;
            i64::try_from(un).ok()
        }
        _ => None,
    }
}

/// Go's runtime `atoi64`: optional leading `-`, then decimal digits only.
fn atoi64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [] => return None,
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let mut un: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        un = un.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if un > i64::MAX as u64 + 1 {
            return None;
        }
        Some((un as i64).wrapping_neg())
    } else {
        i64::try_from(un).ok()
    }
}

/// What started a cycle (Go's `gcTriggerKind`). Only [`GcTriggerKind::Time`]
/// changes the pacer's behaviour: periodic cycles run no idle workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GcTriggerKind {
    /// The heap reached the trigger (Go's `gcTriggerHeap`).
    Heap,
    /// The periodic forced GC fired (Go's `gcTriggerTime`, `forcegcperiod`).
    Time,
    /// The user asked for a cycle (Go's `gcTriggerCycle`, `runtime.GC`).
    Cycle,
}

/// Which kind of background mark worker a P is running (Go's
/// `gcMarkWorkerMode`, without `gcMarkWorkerNotWorker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkWorkerMode {
    /// Marks until the mark phase ends; counts toward the 25 %.
    Dedicated,
    /// Marks until its P has met [`Pacer::fractional_utilization_goal`].
    Fractional,
    /// Marks only because its P had nothing else to do; free CPU.
    Idle,
}

/// The background utilization goal split into whole workers plus a fraction
/// (computed by [`mark_worker_split`], stored by [`Pacer::start_cycle`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarkWorkerSplit {
    /// Dedicated mark workers to run (Go's `dedicatedMarkWorkersNeeded`).
    pub dedicated_mark_workers_needed: i64,
    /// Fraction of wall time each P not running a dedicated worker should
    /// spend in the fractional worker; 0 means none (Go's
    /// `fractionalUtilizationGoal`).
    pub fractional_utilization_goal: f64,
}

/// Splits `procs × 25 %` into dedicated workers and a fractional goal, as
/// Go's `startCycle` does.
///
/// The number of dedicated workers is rounded to nearest (`floor(x + 0.5)`).
/// When that is more than [`MAX_UTIL_ERROR`] (30 %) off the target, which for
/// 25 % happens at `procs` ≤ 3 and `procs` = 6, rounding down is used instead
/// and a fractional worker makes up the rest. `procs` of 0 is treated as 1.
pub fn mark_worker_split(procs: usize) -> MarkWorkerSplit {
    let procs = procs.max(1) as f64;
    let total_utilization_goal = procs * GC_BACKGROUND_UTILIZATION;
    let mut dedicated_mark_workers_needed = (total_utilization_goal + 0.5) as i64;
    let util_error = dedicated_mark_workers_needed as f64 / total_utilization_goal - 1.0;
    let fractional_utilization_goal = if util_error.abs() > MAX_UTIL_ERROR {
        if dedicated_mark_workers_needed as f64 > total_utilization_goal {
            // Rounding up overshot the goal: use one fewer dedicated worker.
            dedicated_mark_workers_needed -= 1;
        }
        (total_utilization_goal - dedicated_mark_workers_needed as f64) / procs
    } else {
        0.0
    };
    MarkWorkerSplit {
        dedicated_mark_workers_needed,
        fractional_utilization_goal,
    }
}

/// An `f64` in an `AtomicU64` (Go's `atomic.Float64`).
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn new(v: f64) -> Self {
        AtomicF64(AtomicU64::new(v.to_bits()))
    }
    fn load(&self) -> f64 {
        f64::from_bits(self.0.load(ORD))
    }
    fn store(&self, v: f64) {
        self.0.store(v.to_bits(), ORD)
    }
}

impl fmt::Debug for AtomicF64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.load(), f)
    }
}

/// State that Go touches only with the world stopped or `mheap_.lock` held,
/// and that no concurrent path reads.
#[derive(Debug)]
struct Locked {
    /// Go's `heapMinimum`: `DEFAULT_HEAP_MINIMUM × GOGC / 100`.
    heap_minimum: u64,
    /// Go's `consMark`: the cons/mark estimate used by the next commit.
    cons_mark: f64,
    /// Go's `lastConsMark`: the last four measured cons/mark values.
    last_cons_mark: [f64; 4],
}

/// Packs the idle mark worker count (low 32 bits) and maximum (high 32 bits).
fn pack_idle(n: i32, max: i32) -> u64 {
    u64::from(n as u32) | (u64::from(max as u32) << 32)
}

/// Unpacks [`pack_idle`] into `(count, max)`.
fn unpack_idle(v: u64) -> (i32, i32) {
    (v as u32 as i32, (v >> 32) as u32 as i32)
}

/// `procs` as an `i64`, at least 1.
fn procs_i64(procs: usize) -> i64 {
    i64::try_from(procs.max(1)).unwrap_or(i64::MAX)
}

/// The GC pacing controller: Go's `gcControllerState`.
///
/// All methods take `&self` and the type is `Send + Sync`, so one pacer can be
/// shared (e.g. in an `Arc`) by the collector, its workers and the mutators.
/// See the [module documentation](self) for the mechanism and the order of
/// calls.
#[derive(Debug)]
pub struct Pacer {
    /// Go's `gcPercent`; -1 when off.
    gc_percent: AtomicI32,
    /// Go's `memoryLimit`; never negative.
    memory_limit: AtomicI64,
    /// GOMAXPROCS from the configuration.
    gomaxprocs: usize,
    /// Stop-the-world-only state; the mutex also serialises cycle transitions.
    locked: Mutex<Locked>,
    /// Go's `runway`: allocation bytes the next cycle should be given.
    runway: AtomicU64,
    /// Go's `gcPercentHeapGoal`; `u64::MAX` when GOGC is off.
    gc_percent_heap_goal: AtomicU64,
    /// Go's `sweepDistMinTrigger`: trigger (and goal) floor giving the
    /// sweeper [`SWEEP_MIN_HEAP_DISTANCE`]; 0 when sweeping is done.
    sweep_dist_min_trigger: AtomicU64,
    /// Go's `triggered`: heap live when the current cycle started;
    /// `u64::MAX` outside a cycle.
    triggered: AtomicU64,
    /// Go's `lastHeapGoal`: the goal when the last cycle ended.
    last_heap_goal: AtomicU64,
    /// Go's `heapLive`: bytes retained by the last cycle plus allocated since.
    heap_live: AtomicU64,
    /// Go's `heapScan`: scannable part of `heap_live`; fixed during a cycle.
    heap_scan: AtomicU64,
    /// Go's `lastHeapScan`: heap bytes scanned by the last cycle.
    last_heap_scan: AtomicU64,
    /// Go's `lastStackScan`: stack bytes scanned by the last cycle.
    last_stack_scan: AtomicU64,
    /// Go's `maxStackScan`: allocated stack space (an over-estimate of what
    /// will be scanned).
    max_stack_scan: AtomicU64,
    /// Go's `globalsScan`: scannable global bytes.
    globals_scan: AtomicU64,
    /// Go's `heapMarked`: bytes marked by the last cycle.
    heap_marked: AtomicU64,
    /// Go's `heapScanWork`: heap scan work done this cycle.
    heap_scan_work: AtomicI64,
    /// Go's `stackScanWork`: stack scan work done this cycle.
    stack_scan_work: AtomicI64,
    /// Go's `globalsScanWork`: globals scan work done this cycle.
    globals_scan_work: AtomicI64,
    /// Go's `bgScanCredit`: scan work done by background workers and not
    /// yet stolen by assists.
    /// Go's `assistTime`: nanoseconds spent in assists this cycle.
    assist_time: AtomicI64,
    /// Go's `dedicatedMarkTime`.
    dedicated_mark_time: AtomicI64,
    /// Go's `fractionalMarkTime`.
    fractional_mark_time: AtomicI64,
    /// Go's `idleMarkTime`.
    idle_mark_time: AtomicI64,
    /// Go's `markStartTime`: when assists and workers were enabled.
    mark_start_time: AtomicI64,
    /// Go's `dedicatedMarkWorkersNeeded`: dedicated workers still to start.
    dedicated_mark_workers_needed: AtomicI64,
    /// Go's `idleMarkWorkers`: packed (count, max), see [`pack_idle`].
    idle_mark_workers: AtomicU64,
    /// Go's `assistWorkPerByte`.
    assist_work_per_byte: AtomicF64,
    /// Go's `assistBytesPerWork`.
    assist_bytes_per_work: AtomicF64,
    /// Go's `fractionalUtilizationGoal`.
    fractional_utilization_goal: AtomicF64,
    /// Go's `heapFree`: free heap memory not returned to the OS.
    heap_free: AtomicU64,
    /// Go's `totalAlloc`: total bytes ever allocated.
    total_alloc: AtomicU64,
    /// Go's `totalFree`: total bytes ever freed.
    total_free: AtomicU64,
    /// Go's `mappedReady`: mapped memory not returned to the OS.
    mapped_ready: AtomicU64,
    /// Go's global `gcBlackenEnabled`: assists and mark workers may run.
    gc_blacken_enabled: AtomicBool,
}

impl Pacer {
    /// Creates a pacer, as Go's `gcControllerState.init`: sets GOGC and the
    /// memory limit and commits them with sweeping considered done (there is
    /// nothing to sweep before the first cycle).
    ///
    /// # Errors
    ///
    /// [`PacerError::ZeroGomaxprocs`] and [`PacerError::NegativeMemoryLimit`].
    pub fn new(config: PacerConfig) -> Result<Self, PacerError> {
        if config.gomaxprocs == 0 {
            return Err(PacerError::ZeroGomaxprocs);
        }
        if config.memory_limit < 0 {
            return Err(PacerError::NegativeMemoryLimit(config.memory_limit));
        }
        let p = Pacer {
            gc_percent: AtomicI32::new(0),
            memory_limit: AtomicI64::new(0),
            gomaxprocs: config.gomaxprocs,
            locked: Mutex::new(Locked {
                heap_minimum: DEFAULT_HEAP_MINIMUM,
                cons_mark: 0.0,
                last_cons_mark: [0.0; 4],
            }),
            runway: AtomicU64::new(0),
            gc_percent_heap_goal: AtomicU64::new(0),
            sweep_dist_min_trigger: AtomicU64::new(0),
            triggered: AtomicU64::new(u64::MAX),
            last_heap_goal: AtomicU64::new(0),
            heap_live: AtomicU64::new(0),
            heap_scan: AtomicU64::new(0),
            last_heap_scan: AtomicU64::new(0),
            last_stack_scan: AtomicU64::new(0),
            max_stack_scan: AtomicU64::new(0),
            globals_scan: AtomicU64::new(0),
            heap_marked: AtomicU64::new(0),
            heap_scan_work: AtomicI64::new(0),
            stack_scan_work: AtomicI64::new(0),
            globals_scan_work: AtomicI64::new(0),
            assist_time: AtomicI64::new(0),
            dedicated_mark_time: AtomicI64::new(0),
            fractional_mark_time: AtomicI64::new(0),
            idle_mark_time: AtomicI64::new(0),
            mark_start_time: AtomicI64::new(0),
            dedicated_mark_workers_needed: AtomicI64::new(0),
            idle_mark_workers: AtomicU64::new(0),
            assist_work_per_byte: AtomicF64::new(0.0),
            assist_bytes_per_work: AtomicF64::new(0.0),
            fractional_utilization_goal: AtomicF64::new(0.0),
            heap_free: AtomicU64::new(0),
            total_alloc: AtomicU64::new(0),
            total_free: AtomicU64::new(0),
            mapped_ready: AtomicU64::new(0),
            gc_blacken_enabled: AtomicBool::new(false),
        };
        p.set_gc_percent(config.gc_percent);
        p.set_memory_limit(config.memory_limit);
        p.commit(true);
        Ok(p)
    }

    /// Takes the stop-the-world lock. Nothing panics while it is held, but a
    /// poisoned lock still holds consistent numbers, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Locked> {
        self.locked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- cycle transitions -------------------------------------------

    /// Resets the per-cycle counters and computes the estimates for a new
    /// cycle (Go's `startCycle`). Call with the world stopped, after sweeping
    /// finished, before enabling assists ([`Pacer::set_gc_blacken_enabled`]).
    ///
    /// `mark_start_time` is the time (ns, any monotonic origin) from which
    /// assists and workers run; [`Pacer::end_cycle`] measures from it.
    /// `procs` is GOMAXPROCS for this cycle (0 is treated as 1). Records the
    /// current heap live as the point the cycle triggered, splits the
    /// background utilization into workers ([`mark_worker_split`]), sets the
    /// idle worker maximum (0 for periodic cycles with dedicated workers,
    /// 1 for periodic cycles without, else `procs - dedicated`) and calls
    /// [`Pacer::revise`].
    ///
    /// The caller must also reset its per-P assist and fractional mark times
    /// (Go clears `p.gcAssistTime` and `p.gcFractionalMarkTime` here).
    pub fn start_cycle(&self, mark_start_time: i64, procs: usize, trigger: GcTriggerKind) {
        let _stw = self.lock();
        self.heap_scan_work.store(0, ORD);
        self.stack_scan_work.store(0, ORD);
        self.globals_scan_work.store(0, ORD);
        self.assist_time.store(0, ORD);
        self.dedicated_mark_time.store(0, ORD);
        self.fractional_mark_time.store(0, ORD);
        self.idle_mark_time.store(0, ORD);
        self.mark_start_time.store(mark_start_time, ORD);
        self.triggered.store(self.heap_live.load(ORD), ORD);

        let split = mark_worker_split(procs);
        let dedicated = split.dedicated_mark_workers_needed;
        self.fractional_utilization_goal
            .store(split.fractional_utilization_goal);

        if trigger == GcTriggerKind::Time {
            // A periodic cycle means the program is mostly idle: don't go
            // full blast on every P. But with no dedicated worker, only an
            // idle worker guarantees progress (the fractional one may never
            // be scheduled if everything else sleeps).
            self.set_max_idle_mark_workers(if dedicated > 0 { 0 } else { 1 });
        } else {
            let procs = i32::try_from(procs.max(1)).unwrap_or(i32::MAX);
            // dedicated <= procs / 4 + 1, so it fits in an i32.
            self.set_max_idle_mark_workers(procs.saturating_sub(dedicated as i32));
        }

        self.dedicated_mark_workers_needed.store(dedicated, ORD);
        self.revise();
    }

    /// Recomputes the assist ratio from the current estimates (Go's
    /// `revise`). Safe to call concurrently; racing calls may leave the two
    /// published ratios from different calls, which is fine (they are
    /// used independently and move slowly).
    ///
    /// Call whenever heap live, heap scan, the scan work done, or any input
    /// to the heap goal changes during marking. [`Pacer::update`] does it for
    /// heap live, [`Pacer::start_cycle`] at the start, and
    /// [`Pacer::gc_controller_commit`] after a GOGC or limit change.
    ///
    /// The published values are read with [`Pacer::assist_work_per_byte`]
    /// (scan work owed per byte allocated) and
    /// [`Pacer::assist_bytes_per_work`] (bytes of allocation one unit of scan
    /// work pays for).
    pub fn revise(&self) {
        let mut gc_percent = self.gc_percent.load(ORD);
        if gc_percent < 0 {
            // GC is off but a forced cycle is running: pace as if GOGC were huge.
            gc_percent = 100_000;
        }
        let live = self.heap_live.load(ORD);
        let scan = self.heap_scan.load(ORD);
        let work = self
            .heap_scan_work
            .load(ORD)
            .wrapping_add(self.stack_scan_work.load(ORD))
            .wrapping_add(self.globals_scan_work.load(ORD));

        // Assume the heap is in steady state: finish at the soft goal.
        let mut heap_goal = self.heap_goal() as i64;

        // Steady state means the same work as last cycle, plus the globals.
        let globals_scan = self.globals_scan.load(ORD);
        let mut scan_work_expected = self
            .last_heap_scan
            .load(ORD)
            .wrapping_add(self.last_stack_scan.load(ORD))
            .wrapping_add(globals_scan) as i64;

        // Worst case: all scannable heap is live and all allocated stack is used.
        let max_scan_work = scan
            .wrapping_add(self.max_stack_scan.load(ORD))
            .wrapping_add(globals_scan) as i64;

        if work > scan_work_expected {
            // More work than expected: the heap grew. Stretch this cycle's
            // runway in proportion to the worst-case work, so assists stay
            // flat; the next cycle will need at least that memory anyway.
            // (Saturating where Go would wrap: only reachable with absurd
            // inputs, e.g. no expected work at all.)
            let triggered = self.triggered.load(ORD) as i64;
            let mut ext_heap_goal = ((heap_goal.wrapping_sub(triggered) as f64
                / scan_work_expected as f64
                * max_scan_work as f64) as i64)
                .saturating_add(triggered);
            scan_work_expected = max_scan_work;

            // But never past the hard goal: (1 + GOGC/100) × goal, e.g. at
            // GOGC=100 a cycle whose heap doubled may reach 4× the live heap.
            let hard_goal = ((1.0 + gc_percent as f64 / 100.0) * heap_goal as f64) as i64;
            if ext_heap_goal > hard_goal {
                ext_heap_goal = hard_goal;
            }
            heap_goal = ext_heap_goal;
        }
        if live as i64 > heap_goal {
            // Past even the extended goal: allow a bounded overshoot and
            // assume the worst-case work remains.
            heap_goal = (heap_goal as f64 * MAX_OVERSHOOT) as i64;
            scan_work_expected = max_scan_work;
        }

        // Allocation during marking counts both as scannable heap and as
        // work done, so this difference moves slowly.
        let mut scan_work_remaining = scan_work_expected.wrapping_sub(work);
        if scan_work_remaining < MIN_SCAN_WORK_REMAINING {
            scan_work_remaining = MIN_SCAN_WORK_REMAINING;
        }
        let mut heap_remaining = heap_goal.wrapping_sub(live as i64);
        if heap_remaining <= 0 {
            // Should not happen after the overshoot above; never divide by
            // zero or publish a negative ratio.
            heap_remaining = 1;
        }

        // By the time the mutator has allocated heap_remaining more bytes it
        // must have done (or stolen) scan_work_remaining units of work.
        self.assist_work_per_byte
            .store(scan_work_remaining as f64 / heap_remaining as f64);
        self.assist_bytes_per_work
            .store(heap_remaining as f64 / scan_work_remaining as f64);
    }

    /// Measures this cycle's cons/mark ratio and folds it into the estimate
    /// for the next cycle (Go's `endCycle`). Call with the world stopped at
    /// mark termination, after assists and workers were disabled and all
    /// their counters flushed, before [`Pacer::reset_live`].
    ///
    /// `now` is in the same clock as `start_cycle`'s `mark_start_time`;
    /// `procs` is this cycle's GOMAXPROCS (0 is treated as 1).
    /// `user_forced` is accepted for parity with Go's signature; the current
    /// Go pacer does not use it either.
    ///
    /// Also records [`Pacer::last_heap_goal`]. If the heap did not grow past
    /// the trigger point (a degenerate, very short cycle) the estimate is left
    /// unchanged.
    pub fn end_cycle(&self, now: i64, procs: usize, user_forced: bool) {
        let _ = user_forced;
        let mut locked = self.lock();
        self.last_heap_goal.store(self.heap_goal(), ORD);

        // How long assists were enabled, in CPU-ns across all Ps.
        let assist_duration = now.wrapping_sub(self.mark_start_time.load(ORD));
        let cpu_ns = assist_duration.saturating_mul(procs_i64(procs)) as f64;

        // Assume background marking hit its goal; add the assists on top.
        let mut utilization = GC_BACKGROUND_UTILIZATION;
        if assist_duration > 0 {
            utilization += self.assist_time.load(ORD) as f64 / cpu_ns;
        }

        let heap_live = self.heap_live.load(ORD);
        let triggered = self.triggered.load(ORD);
        if heap_live <= triggered {
            // Nothing allocated during the cycle: no information.
            return;
        }
        let idle_utilization = if assist_duration > 0 {
            self.idle_mark_time.load(ORD) as f64 / cpu_ns
        } else {
            0.0
        };

        // cons = bytes allocated / CPU the mutator had, i.e. (1 - utilization);
        // mark = scan work / CPU the GC had, i.e. utilization plus idle
        // marking (idle time is the mutator's whenever it wants it, so it
        // does not reduce the mutator's share). Duration and procs cancel.
        let scan_work = self
            .heap_scan_work
            .load(ORD)
            .wrapping_add(self.stack_scan_work.load(ORD))
            .wrapping_add(self.globals_scan_work.load(ORD));
        let current_cons_mark = ((heap_live - triggered) as f64 * (utilization + idle_utilization))
            / (scan_work as f64 * (1.0 - utilization));

        // Take the max of this and the last four measurements: when noisy,
        // prefer starting earlier to assisting more.
        let mut cons_mark = current_cons_mark;
        for &last in &locked.last_cons_mark {
            if last > cons_mark {
                cons_mark = last;
            }
        }
        locked.cons_mark = cons_mark;
        locked.last_cons_mark.rotate_left(1);
        if let Some(newest) = locked.last_cons_mark.last_mut() {
            *newest = current_cons_mark;
        }
    }

    /// Sets up the state for the next cycle from what this one marked (Go's
    /// `resetLive`). Call at mark termination after [`Pacer::end_cycle`] and
    /// before [`Pacer::commit`], with the world stopped.
    ///
    /// The marked bytes become both the live heap and the base of the next
    /// goal; the heap and stack scan work done become the next cycle's
    /// expected work and the scannable heap.
    pub fn reset_live(&self, bytes_marked: u64) {
        let _stw = self.lock();
        let heap_scan_work = self.heap_scan_work.load(ORD) as u64;
        self.heap_marked.store(bytes_marked, ORD);
        self.heap_live.store(bytes_marked, ORD);
        self.heap_scan.store(heap_scan_work, ORD);
        self.last_heap_scan.store(heap_scan_work, ORD);
        self.last_stack_scan
            .store(self.stack_scan_work.load(ORD) as u64, ORD);
        self.triggered.store(u64::MAX, ORD);
    }

    /// Recomputes the GOGC heap goal, the sweep-distance floor and the
    /// runway (Go's `commit`). May be called at any time; during marking it
    /// changes the current cycle's pacing, so follow it with
    /// [`Pacer::revise`] (or use [`Pacer::gc_controller_commit`]).
    ///
    /// `is_sweep_done` says whether sweeping of the last cycle has finished;
    /// if not, the trigger is kept at least [`SWEEP_MIN_HEAP_DISTANCE`] above
    /// the current heap live so the sweeper has room.
    pub fn commit(&self, is_sweep_done: bool) {
        let locked = self.lock();
        if is_sweep_done {
            self.sweep_dist_min_trigger.store(0, ORD);
        } else {
            self.sweep_dist_min_trigger.store(
                self.heap_live
                    .load(ORD)
                    .saturating_add(SWEEP_MIN_HEAP_DISTANCE),
                ORD,
            );
        }

        // The GOGC goal: grow by GOGC% of everything scanned (heap, stacks,
        // globals), not just the heap, so stack- or globals-heavy programs
        // get proportionate runway. (Saturating where Go would wrap; only
        // reachable with absurd sizes.)
        let heap_marked = self.heap_marked.load(ORD);
        let last_stack_scan = self.last_stack_scan.load(ORD);
        let globals_scan = self.globals_scan.load(ORD);
        let mut gc_percent_heap_goal = u64::MAX;
        let gc_percent = self.gc_percent.load(ORD);
        if gc_percent >= 0 {
            let scannable = heap_marked
                .saturating_add(last_stack_scan)
                .saturating_add(globals_scan);
            gc_percent_heap_goal =
                heap_marked.saturating_add(scannable.saturating_mul(gc_percent as u64) / 100);
        }
        if gc_percent_heap_goal < locked.heap_minimum {
            gc_percent_heap_goal = locked.heap_minimum;
        }
        self.gc_percent_heap_goal.store(gc_percent_heap_goal, ORD);

        // Runway: the bytes the mutator allocates, at 75% of the CPU, while
        // the GC does the expected scan work at 25%. cons/mark is per CPU,
        // so weighting it by that split turns it into bytes per unit of work;
        // and pacing to this runway is what makes the split come true.
        let expected_work = self
            .last_heap_scan
            .load(ORD)
            .wrapping_add(last_stack_scan)
            .wrapping_add(globals_scan);
        let runway = (locked.cons_mark * (1.0 - GC_GOAL_UTILIZATION) / GC_GOAL_UTILIZATION)
            * expected_work as f64;
        self.runway.store(runway as u64, ORD);
    }

    /// [`Pacer::commit`], then [`Pacer::revise`] if marking is under way,
    /// returning the new `(trigger, goal)` (Go's `gcControllerCommit`, minus
    /// pacing the sweeper and scavenger, which belong to the caller).
    pub fn gc_controller_commit(&self, is_sweep_done: bool) -> (u64, u64) {
        self.commit(is_sweep_done);
        if self.gc_blacken_enabled() {
            self.revise();
        }
        self.trigger()
    }

    /// Sets GOGC, returning the old value (Go's internal `setGCPercent`).
    /// Negative values mean off and are stored as [`GC_PERCENT_OFF`]. Also
    /// rescales [`Pacer::heap_minimum`].
    ///
    /// Takes effect at the next [`Pacer::commit`]; call
    /// [`Pacer::gc_controller_commit`] to apply it at once, as Go's
    /// `debug.SetGCPercent` does. (Go additionally waits for a running mark
    /// phase to finish when GC is being turned off; that is the collector's
    /// business.)
    pub fn set_gc_percent(&self, gc_percent: i32) -> i32 {
        let mut locked = self.lock();
        let out = self.gc_percent.load(ORD);
        let gc_percent = gc_percent.max(GC_PERCENT_OFF);
        // As in Go, computed in wrapping u64 arithmetic; when GOGC is off the
        // result is meaningless but unused, since the GOGC goal is u64::MAX.
        locked.heap_minimum = DEFAULT_HEAP_MINIMUM.wrapping_mul(gc_percent as u64) / 100;
        self.gc_percent.store(gc_percent, ORD);
        out
    }

    /// Sets the soft memory limit in bytes, returning the old value (Go's
    /// internal `setMemoryLimit`). A negative value changes nothing and just
    /// returns the current limit; [`NO_MEMORY_LIMIT`] removes the limit.
    ///
    /// Takes effect at once for the goal (it is computed on demand), but call
    /// [`Pacer::gc_controller_commit`] afterwards, as Go's
    /// `debug.SetMemoryLimit` does, so a running cycle re-paces.
    pub fn set_memory_limit(&self, memory_limit: i64) -> i64 {
        let _stw = self.lock();
        let out = self.memory_limit.load(ORD);
        if memory_limit >= 0 {
            self.memory_limit.store(memory_limit, ORD);
        }
        out
    }

    // ----- goal and trigger -------------------------------------------

    /// The heap goal: heap live at which the current (or next) cycle should
    /// finish (Go's `heapGoal`).
    pub fn heap_goal(&self) -> u64 {
        self.heap_goal_internal().0
    }

    /// The heap goal and the lowest trigger it allows, `(goal, min_trigger)`
    /// with `min_trigger <= goal` (Go's `heapGoalInternal`).
    ///
    /// The goal is the smaller of the GOGC goal and
    /// [`Pacer::memory_limit_heap_goal`]. When GOGC decides it, the goal is
    /// raised to leave the sweeper its distance (also the minimum trigger)
    /// and, during a cycle, to at least [`MIN_RUNWAY`] past the point the
    /// cycle triggered. Neither adjustment is made when the memory limit
    /// decides it: there it is better to push back hard than to exceed it.
    pub fn heap_goal_internal(&self) -> (u64, u64) {
        let mut goal = self.gc_percent_heap_goal.load(ORD);
        let mut min_trigger = 0;
        let memory_limit_goal = self.memory_limit_heap_goal();
        if memory_limit_goal < goal {
            goal = memory_limit_goal;
        } else {
            let sweep_dist_trigger = self.sweep_dist_min_trigger.load(ORD);
            if sweep_dist_trigger > goal {
                goal = sweep_dist_trigger;
            }
            min_trigger = sweep_dist_trigger;

            let triggered = self.triggered.load(ORD);
            if triggered != u64::MAX && goal < triggered.saturating_add(MIN_RUNWAY) {
                goal = triggered.saturating_add(MIN_RUNWAY);
            }
        }
        (goal, min_trigger)
    }

    /// The heap goal implied by the soft memory limit (Go's
    /// `memoryLimitHeapGoal`); about `i64::MAX` when there is no limit.
    ///
    /// The limit counts all mapped, unreleased memory, the goal only heap
    /// objects. So everything that counts toward the limit but is not and
    /// cannot become a heap object (`mapped_ready - heap_free - heap_alloc`)
    /// is subtracted, as is any amount by which the limit is already
    /// exceeded (to recover from it). Free unscavenged heap memory is not
    /// subtracted: in steady state it is just a pool for future allocation.
    /// Then [`MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT`] (at least
    /// [`MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM`]) is taken off for pacing
    /// errors. The result is never below [`Pacer::heap_marked`]; if non-heap
    /// memory alone exceeds the limit, it is exactly that, so cycles run
    /// back to back.
    ///
    /// The inputs are the statistics fed by [`Pacer::add_mapped_ready`],
    /// [`Pacer::add_heap_free`], [`Pacer::add_total_alloc`] and
    /// [`Pacer::add_total_free`]. They are updated independently, so a read
    /// may see `heap_free + heap_alloc > mapped_ready` mid-update; Go spins
    /// until consistent (and would hang forever on an accounting bug). Here
    /// the read is retried a bounded number of times and then the excess is
    /// treated as zero non-heap memory.
    pub fn memory_limit_heap_goal(&self) -> u64 {
        let mut non_heap_memory = 0;
        let mut mapped_ready = 0;
        for attempt in 0..MEMORY_STATS_RETRIES {
            let heap_free = self.heap_free.load(ORD);
            let heap_alloc = self
                .total_alloc
                .load(ORD)
                .wrapping_sub(self.total_free.load(ORD));
            mapped_ready = self.mapped_ready.load(ORD);
            let in_heap = heap_free.checked_add(heap_alloc);
            match in_heap {
                Some(in_heap) if in_heap <= mapped_ready => {
                    non_heap_memory = mapped_ready - in_heap;
                    break;
                }
                _ if attempt + 1 == MEMORY_STATS_RETRIES => {
                    non_heap_memory =
                        mapped_ready.saturating_sub(heap_free.saturating_add(heap_alloc));
                }
                _ => std::hint::spin_loop(),
            }
        }

        let memory_limit = self.memory_limit.load(ORD).max(0) as u64;
        let overage = mapped_ready.saturating_sub(memory_limit);
        let heap_marked = self.heap_marked.load(ORD);
        let taken = non_heap_memory.saturating_add(overage);
        if taken >= memory_limit {
            // Non-heap memory alone exceeds the limit. Nothing the heap goal
            // can do; collect continuously and let the CPU limiter cope.
            return heap_marked;
        }
        let goal = apply_memory_limit_heap_goal_headroom(memory_limit - taken);
        goal.max(heap_marked)
    }

    /// The trigger and the goal, `(trigger, goal)` (Go's `trigger`): start a
    /// cycle once heap live reaches `trigger`. Always `trigger <= goal`.
    ///
    /// `trigger = goal - runway`, clamped: at least the marked heap, the
    /// sweep-distance minimum and 70 % of the way from the marked heap to the
    /// goal; at most 95 % of the way or `goal - DEFAULT_HEAP_MINIMUM`,
    /// whichever is later (but never below the lower bound). If the goal is
    /// at or below the marked heap (memory limit pressure), both are the goal:
    /// collect continuously.
    pub fn trigger(&self) -> (u64, u64) {
        let (goal, mut min_trigger) = self.heap_goal_internal();
        let heap_marked = self.heap_marked.load(ORD);

        if heap_marked >= goal {
            return (goal, goal);
        }
        // Below here heap_marked < goal.
        if min_trigger < heap_marked {
            min_trigger = heap_marked;
        }
        let distance = goal - heap_marked;
        let trigger_lower_bound =
            (distance / TRIGGER_RATIO_DEN) * MIN_TRIGGER_RATIO_NUM + heap_marked;
        if min_trigger < trigger_lower_bound {
            min_trigger = trigger_lower_bound;
        }

        // Small heaps: at most 95% of the way. Large heaps: at most
        // DEFAULT_HEAP_MINIMUM short of the goal, the runway a cycle with
        // almost no work needs.
        let mut max_trigger = (distance / TRIGGER_RATIO_DEN) * MAX_TRIGGER_RATIO_NUM + heap_marked;
        if goal > DEFAULT_HEAP_MINIMUM && goal - DEFAULT_HEAP_MINIMUM > max_trigger {
            max_trigger = goal - DEFAULT_HEAP_MINIMUM;
        }
        max_trigger = max_trigger.max(min_trigger);

        let runway = self.runway.load(ORD);
        let trigger = if runway > goal {
            min_trigger
        } else {
            goal - runway
        };
        let trigger = trigger.max(min_trigger).min(max_trigger);
        // Go throws if this fails; the bounds above make it impossible.
        debug_assert!(trigger <= goal, "trigger {trigger} > goal {goal}");
        (trigger.min(goal), goal)
    }

    /// Whether heap live has reached the trigger (Go's `gcTrigger.test` for
    /// `gcTriggerHeap`). The caller must also check that no cycle is running
    /// and GC is enabled, as Go's `test` does.
    pub fn heap_trigger_reached(&self) -> bool {
        let (trigger, _) = self.trigger();
        self.heap_live.load(ORD) >= trigger
    }

    // ----- inputs from the allocator and the runtime --------------------

    /// Records allocation (Go's `update`): adds `d_heap_live` to heap live;
    /// outside marking also adds `d_heap_scan` to the scannable heap, and
    /// during marking (blacken enabled) calls [`Pacer::revise`] instead,
    /// because the scannable heap is fixed for the cycle.
    ///
    /// Go calls this when a span is handed to a P's cache (counting its free
    /// slots as if allocated, a deliberate over-estimate that triggers
    /// early rather than late) and when it is returned.
    pub fn update(&self, d_heap_live: i64, d_heap_scan: i64) {
        if d_heap_live != 0 {
            self.heap_live.fetch_add(d_heap_live as u64, ORD);
        }
        if !self.gc_blacken_enabled() {
            if d_heap_scan != 0 {
                self.heap_scan.fetch_add(d_heap_scan as u64, ORD);
            }
        } else {
            self.revise();
        }
    }

    /// Adds `delta` to the scannable heap directly, whether or not marking
    /// is running. [`Pacer::update`] is the normal path; this exists for
    /// simulations (Go's pacer test adds to `heapScan` during the cycle) and
    /// for collectors that account scannable allocation separately.
    pub fn add_heap_scan(&self, delta: i64) {
        self.heap_scan.fetch_add(delta as u64, ORD);
    }

    /// Adds `amount` bytes (negative when freed) of goroutine/mutator stack
    /// to the scannable-stack estimate (Go's `addScannableStack` with no P).
    /// Allocated stack size is used rather than used size: it is cheap to
    /// track and over-estimates, which is the safe direction.
    pub fn add_scannable_stack(&self, amount: i64) {
        self.max_stack_scan.fetch_add(amount as u64, ORD);
    }

    /// [`Pacer::add_scannable_stack`] with a per-worker batch (Go's
    /// `addScannableStack` with a P): `local` accumulates until it reaches
    /// ±[`MAX_STACK_SCAN_SLACK`], then is flushed to the pacer and zeroed.
    pub fn add_scannable_stack_local(&self, local: &mut i64, amount: i64) {
        *local = local.wrapping_add(amount);
        if *local >= MAX_STACK_SCAN_SLACK || *local <= -MAX_STACK_SCAN_SLACK {
            self.max_stack_scan.fetch_add(*local as u64, ORD);
            *local = 0;
        }
    }

    /// Adds `amount` bytes of scannable globals (Go's `addGlobals`).
    pub fn add_globals(&self, amount: i64) {
        self.globals_scan.fetch_add(amount as u64, ORD);
    }

    /// Adds to the mapped, unreleased memory the memory limit is compared
    /// with (Go's `mappedReady`).
    pub fn add_mapped_ready(&self, delta: i64) {
        self.mapped_ready.fetch_add(delta as u64, ORD);
    }

    /// Adds to the free heap memory not yet returned to the OS (Go's
    /// `heapFree`).
    pub fn add_heap_free(&self, delta: i64) {
        self.heap_free.fetch_add(delta as u64, ORD);
    }

    /// Adds to the total bytes ever allocated to heap objects (Go's
    /// `totalAlloc`).
    pub fn add_total_alloc(&self, bytes: u64) {
        self.total_alloc.fetch_add(bytes, ORD);
    }

    /// Adds to the total bytes of heap objects ever freed (Go's
    /// `totalFree`).
    pub fn add_total_free(&self, bytes: u64) {
        self.total_free.fetch_add(bytes, ORD);
    }

    /// Sets whether assists and mark workers are running (Go's global
    /// `gcBlackenEnabled`). Set it after [`Pacer::start_cycle`] with the
    /// world stopped, and clear it before [`Pacer::end_cycle`]. While set,
    /// [`Pacer::update`] revises the assist ratio instead of growing the
    /// scannable heap.
    pub fn set_gc_blacken_enabled(&self, enabled: bool) {
        self.gc_blacken_enabled.store(enabled, Ordering::Release);
    }

    /// Whether assists and mark workers are running; see
    /// [`Pacer::set_gc_blacken_enabled`].
    pub fn gc_blacken_enabled(&self) -> bool {
        self.gc_blacken_enabled.load(Ordering::Acquire)
    }

    // ----- mark work accounting -----------------------------------------

    /// Adds heap scan work (bytes scanned) done this cycle; flush in batches
    /// of about [`GC_CREDIT_SLACK`] (Go's `heapScanWork.Add`).
    pub fn add_heap_scan_work(&self, work: i64) {
        self.heap_scan_work.fetch_add(work, ORD);
    }

    /// Adds stack scan work done this cycle (Go's `stackScanWork.Add`).
    pub fn add_stack_scan_work(&self, work: i64) {
        self.stack_scan_work.fetch_add(work, ORD);
    }

    /// Adds globals scan work done this cycle (Go's `globalsScanWork.Add`).
    pub fn add_globals_scan_work(&self, work: i64) {
        self.globals_scan_work.fetch_add(work, ORD);
    }

    /// Adds assist time in nanoseconds; flush in batches of about
    /// [`GC_ASSIST_TIME_SLACK`] (Go's `assistTime.Add`).
    pub fn add_assist_time(&self, ns: i64) {
        self.assist_time.fetch_add(ns, ORD);
    }

    /// Records that a background mark worker stopped after running
    /// `duration` ns (Go's `markWorkerStop`): adds the time to its mode's
    /// counter, returns a dedicated worker's slot to
    /// [`Pacer::dedicated_mark_workers_needed`], and removes an idle worker.
    ///
    /// The caller adds a fractional worker's time to its own per-P
    /// fractional time too (Go's `p.gcFractionalMarkTime`).
    ///
    /// # Errors
    ///
    /// [`PacerError::NegativeIdleMarkWorkers`] for an idle worker that was
    /// never added; its time is still recorded.
    pub fn mark_worker_stop(&self, mode: MarkWorkerMode, duration: i64) -> Result<(), PacerError> {
        match mode {
            MarkWorkerMode::Dedicated => {
                self.dedicated_mark_time.fetch_add(duration, ORD);
                self.dedicated_mark_workers_needed.fetch_add(1, ORD);
                Ok(())
            }
            MarkWorkerMode::Fractional => {
                self.fractional_mark_time.fetch_add(duration, ORD);
                Ok(())
            }
            MarkWorkerMode::Idle => {
                self.idle_mark_time.fetch_add(duration, ORD);
                self.remove_idle_mark_worker()
            }
        }
    }

    // ----- scheduling mark workers --------------------------------------

    /// Decides which background worker, if any, a P should run now (the
    /// pacer's half of Go's `findRunnableGCWorker`). The caller checks first
    /// that marking is on and there is mark work to do, and keeps the
    /// returned mode until the worker stops ([`Pacer::mark_worker_stop`]).
    ///
    /// Claims a dedicated slot if any is left; otherwise runs a fractional
    /// worker if this P is behind the fractional goal, i.e. its fractional
    /// time `p_fractional_mark_time` (ns this cycle) divided by the time
    /// since mark start is not above the goal. Idle workers are requested
    /// separately ([`Pacer::add_idle_mark_worker`]).
    pub fn find_runnable_gc_worker(
        &self,
        p_fractional_mark_time: i64,
        now: i64,
    ) -> Option<MarkWorkerMode> {
        let goal = self.fractional_utilization_goal.load();
        if self.dedicated_mark_workers_needed.load(ORD) <= 0 && goal == 0.0 {
            return None;
        }
        if self.try_claim_dedicated_worker() {
            return Some(MarkWorkerMode::Dedicated);
        }
        if goal == 0.0 {
            return None;
        }
        let delta = now.wrapping_sub(self.mark_start_time.load(ORD));
        if delta > 0 && p_fractional_mark_time as f64 / delta as f64 > goal {
            // This P is ahead of its fractional goal.
            return None;
        }
        Some(MarkWorkerMode::Fractional)
    }

    /// Claims one dedicated worker slot if any is left (Go's `decIfPositive`
    /// on `dedicatedMarkWorkersNeeded`). [`Pacer::mark_worker_stop`] returns
    /// it.
    pub fn try_claim_dedicated_worker(&self) -> bool {
        self.dedicated_mark_workers_needed
            .fetch_update(ORD, ORD, |v| if v > 0 { Some(v - 1) } else { None })
            .is_ok()
    }

    /// Whether a running fractional worker should stop (Go's
    /// `pollFractionalWorkerExit`): its P's fractional time including the
    /// current run, `p_fractional_mark_time + (now - worker_start_time)`,
    /// exceeds [`FRACTIONAL_WORKER_EXIT_SLACK`] × the goal of the time since
    /// mark start. Always true if no time has passed since mark start.
    pub fn poll_fractional_worker_exit(
        &self,
        p_fractional_mark_time: i64,
        worker_start_time: i64,
        now: i64,
    ) -> bool {
        let delta = now.wrapping_sub(self.mark_start_time.load(ORD));
        if delta <= 0 {
            return true;
        }
        let self_time = p_fractional_mark_time.wrapping_add(now.wrapping_sub(worker_start_time));
        self_time as f64 / delta as f64
            > FRACTIONAL_WORKER_EXIT_SLACK * self.fractional_utilization_goal.load()
    }

    /// Tries to become an idle mark worker (Go's `addIdleMarkWorker`). On
    /// `true` the caller must run as one (or, if no worker is available,
    /// call [`Pacer::remove_idle_mark_worker`]); on `false` it must not.
    ///
    /// The maximum is set per cycle by [`Pacer::start_cycle`]; it is not a
    /// hard cap (lowering it does not stop running workers).
    pub fn add_idle_mark_worker(&self) -> bool {
        self.idle_mark_workers
            .fetch_update(ORD, ORD, |old| {
                let (n, max) = unpack_idle(old);
                if n >= max || n < 0 {
                    None
                } else {
                    Some(pack_idle(n + 1, max))
                }
            })
            .is_ok()
    }

    /// A cheap hint: whether another idle mark worker is wanted (Go's
    /// `needIdleMarkWorker`). Use [`Pacer::add_idle_mark_worker`] to become one.
    pub fn need_idle_mark_worker(&self) -> bool {
        let (n, max) = unpack_idle(self.idle_mark_workers.load(ORD));
        n < max
    }

    /// Records that an idle mark worker stopped (Go's `removeIdleMarkWorker`).
    ///
    /// # Errors
    ///
    /// [`PacerError::NegativeIdleMarkWorkers`] if none was running (Go
    /// throws); the count is left at zero.
    pub fn remove_idle_mark_worker(&self) -> Result<(), PacerError> {
        self.idle_mark_workers
            .fetch_update(ORD, ORD, |old| {
                let (n, max) = unpack_idle(old);
                if n <= 0 {
                    None
                } else {
                    Some(pack_idle(n - 1, max))
                }
            })
            .map(|_| ())
            .map_err(|old| {
                let (count, max) = unpack_idle(old);
                PacerError::NegativeIdleMarkWorkers { count, max }
            })
    }

    /// Sets the maximum number of concurrent idle mark workers (Go's
    /// `setMaxIdleMarkWorkers`). Running workers are not stopped; they
    /// are expected to deschedule themselves.
    pub fn set_max_idle_mark_workers(&self, max: i32) {
        // The closure always returns Some, so the update cannot fail.
        let _ = self.idle_mark_workers.fetch_update(ORD, ORD, |old| {
            let (n, _) = unpack_idle(old);
            Some(pack_idle(n, max))
        });
    }

    /// The idle mark workers running and their maximum, `(count, max)`.
    pub fn idle_mark_workers(&self) -> (i32, i32) {
        unpack_idle(self.idle_mark_workers.load(ORD))
    }

    // ----- readers ----------------------------------------------------------

    /// Scan work a mutator owes per byte it allocates (Go's
    /// `assistWorkPerByte`), as last published by [`Pacer::revise`].
    pub fn assist_work_per_byte(&self) -> f64 {
        self.assist_work_per_byte.load()
    }

    /// Bytes of allocation one unit of scan work pays for (Go's
    /// `assistBytesPerWork`, the reciprocal of
    /// [`Pacer::assist_work_per_byte`], published separately so the two may
    /// be momentarily skewed).
    pub fn assist_bytes_per_work(&self) -> f64 {
        self.assist_bytes_per_work.load()
    }

    /// GOGC, or [`GC_PERCENT_OFF`] (Go's `gcPercent`).
    pub fn gc_percent(&self) -> i32 {
        self.gc_percent.load(ORD)
    }

    /// The soft memory limit in bytes (Go's `memoryLimit`).
    pub fn memory_limit(&self) -> i64 {
        self.memory_limit.load(ORD)
    }

    /// GOMAXPROCS from the configuration.
    pub fn gomaxprocs(&self) -> usize {
        self.gomaxprocs
    }

    /// The minimum GOGC heap goal, `DEFAULT_HEAP_MINIMUM × GOGC / 100` (Go's
    /// `heapMinimum`).
    pub fn heap_minimum(&self) -> u64 {
        self.lock().heap_minimum
    }

    /// The runway computed by the last commit (Go's `runway`).
    pub fn runway(&self) -> u64 {
        self.runway.load(ORD)
    }

    /// The cons/mark estimate used by the next commit (Go's `consMark`).
    pub fn cons_mark(&self) -> f64 {
        self.lock().cons_mark
    }

    /// The last four measured cons/mark values, oldest first (Go's
    /// `lastConsMark`).
    pub fn last_cons_mark(&self) -> [f64; 4] {
        self.lock().last_cons_mark
    }

    /// The GOGC heap goal from the last commit; `u64::MAX` when GOGC is off
    /// (Go's `gcPercentHeapGoal`).
    pub fn gc_percent_heap_goal(&self) -> u64 {
        self.gc_percent_heap_goal.load(ORD)
    }

    /// The sweep-distance trigger floor; 0 when sweeping was done at commit
    /// (Go's `sweepDistMinTrigger`).
    pub fn sweep_dist_min_trigger(&self) -> u64 {
        self.sweep_dist_min_trigger.load(ORD)
    }

    /// Heap live when the current cycle started, or `None` outside a cycle
    /// (Go's `triggered`, which uses `^uint64(0)` for none).
    pub fn triggered(&self) -> Option<u64> {
        match self.triggered.load(ORD) {
            u64::MAX => None,
            t => Some(t),
        }
    }

    /// The heap goal when the last cycle ended (Go's `lastHeapGoal`), for
    /// scavenger pacing and traces.
    pub fn last_heap_goal(&self) -> u64 {
        self.last_heap_goal.load(ORD)
    }

    /// Bytes retained by the last cycle plus allocated since (Go's
    /// `heapLive`); the peak heap at the end of marking.
    pub fn heap_live(&self) -> u64 {
        self.heap_live.load(ORD)
    }

    /// The scannable part of heap live (Go's `heapScan`).
    pub fn heap_scan(&self) -> u64 {
        self.heap_scan.load(ORD)
    }

    /// Bytes marked by the last cycle (Go's `heapMarked`).
    pub fn heap_marked(&self) -> u64 {
        self.heap_marked.load(ORD)
    }

    /// Heap bytes scanned by the last cycle (Go's `lastHeapScan`).
    pub fn last_heap_scan(&self) -> u64 {
        self.last_heap_scan.load(ORD)
    }

    /// Stack bytes scanned by the last cycle (Go's `lastStackScan`).
    pub fn last_stack_scan(&self) -> u64 {
        self.last_stack_scan.load(ORD)
    }

    /// Allocated stack bytes, the worst-case stack scan work (Go's
    /// `maxStackScan`).
    pub fn max_stack_scan(&self) -> u64 {
        self.max_stack_scan.load(ORD)
    }

    /// Scannable global bytes (Go's `globalsScan`).
    pub fn globals_scan(&self) -> u64 {
        self.globals_scan.load(ORD)
    }

    /// Heap scan work done this cycle (Go's `heapScanWork`).
    pub fn heap_scan_work(&self) -> i64 {
        self.heap_scan_work.load(ORD)
    }

    /// Stack scan work done this cycle (Go's `stackScanWork`).
    pub fn stack_scan_work(&self) -> i64 {
        self.stack_scan_work.load(ORD)
    }

    /// Globals scan work done this cycle (Go's `globalsScanWork`).
    pub fn globals_scan_work(&self) -> i64 {
        self.globals_scan_work.load(ORD)
    }

    /// Nanoseconds spent in assists this cycle (Go's `assistTime`).
    pub fn assist_time(&self) -> i64 {
        self.assist_time.load(ORD)
    }

    /// Nanoseconds spent in dedicated workers this cycle (Go's
    /// `dedicatedMarkTime`).
    pub fn dedicated_mark_time(&self) -> i64 {
        self.dedicated_mark_time.load(ORD)
    }

    /// Nanoseconds spent in fractional workers this cycle (Go's
    /// `fractionalMarkTime`).
    pub fn fractional_mark_time(&self) -> i64 {
        self.fractional_mark_time.load(ORD)
    }

    /// Nanoseconds spent in idle workers this cycle (Go's `idleMarkTime`).
    pub fn idle_mark_time(&self) -> i64 {
        self.idle_mark_time.load(ORD)
    }

    /// When this cycle's assists and workers were enabled (Go's
    /// `markStartTime`).
    pub fn mark_start_time(&self) -> i64 {
        self.mark_start_time.load(ORD)
    }

    /// Dedicated workers still to start this cycle (Go's
    /// `dedicatedMarkWorkersNeeded`).
    pub fn dedicated_mark_workers_needed(&self) -> i64 {
        self.dedicated_mark_workers_needed.load(ORD)
    }

    /// Fraction of time each P should spend in the fractional worker this
    /// cycle; 0 for none (Go's `fractionalUtilizationGoal`).
    pub fn fractional_utilization_goal(&self) -> f64 {
        self.fractional_utilization_goal.load()
    }

    /// Mapped, unreleased memory (Go's `mappedReady`).
    pub fn mapped_ready(&self) -> u64 {
        self.mapped_ready.load(ORD)
    }

    /// Free heap memory not returned to the OS (Go's `heapFree`).
    pub fn heap_free(&self) -> u64 {
        self.heap_free.load(ORD)
    }

    /// Total bytes ever allocated (Go's `totalAlloc`).
    pub fn total_alloc(&self) -> u64 {
        self.total_alloc.load(ORD)
    }

    /// Total bytes ever freed (Go's `totalFree`).
    pub fn total_free(&self) -> u64 {
        self.total_free.load(ORD)
    }
}

/// Takes the memory-limit headroom off a goal: [`MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT`]
/// of it, at least [`MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM`]; a goal smaller than
/// twice the headroom becomes the headroom. This is the last step of
/// [`Pacer::memory_limit_heap_goal`] (the same computation as Go's test helper
/// `applyMemoryLimitHeapGoalHeadroom`), so with no non-heap memory the goal
/// is `apply_memory_limit_heap_goal_headroom(limit)`.
pub fn apply_memory_limit_heap_goal_headroom(goal: u64) -> u64 {
    let mut headroom = goal / 100 * MEMORY_LIMIT_HEAP_GOAL_HEADROOM_PERCENT;
    if headroom < MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM {
        headroom = MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM;
    }
    if goal < headroom || goal - headroom < headroom {
        headroom
    } else {
        goal - headroom
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Pacer>();
    }

    #[test]
    fn idle_worker_packing_round_trips() {
        for (n, max) in [(0, 0), (3, 8), (-1, 5), (i32::MAX, i32::MIN)] {
            assert_eq!(unpack_idle(pack_idle(n, max)), (n, max));
        }
    }

    #[test]
    fn atoi64_matches_go() {
        let a = |s: &str| atoi64(s.as_bytes());
        assert_eq!(a("0"), Some(0));
        assert_eq!(a("-0"), Some(0));
        assert_eq!(a("-"), Some(0)); // as Go's atoi64
        assert_eq!(a("-12"), Some(-12));
        assert_eq!(a("9223372036854775807"), Some(i64::MAX));
        assert_eq!(a("9223372036854775808"), None);
        assert_eq!(a("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(a("+1"), None);
        assert_eq!(a(""), None);
        assert_eq!(a("1x"), None);
    }

    #[test]
    fn parse_byte_count_matches_go() {
        let p = parse_byte_count;
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("12B"), Some(12));
        assert_eq!(p("2KiB"), Some(2048));
        assert_eq!(p("8TiB"), Some(8 << 40));
        assert_eq!(p("8388607TiB"), Some(8_388_607 << 40));
        assert_eq!(p("8388608TiB"), None); // exceeds i64
        for bad in [
            "", "B", "iB", "KiB", "-1", "-1B", "-1KiB", "1kB", "1KB", "1PiB", "1 B", "éKiB",
            "1\u{e9}B",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }
}
