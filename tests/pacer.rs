//! Tests for `gpumark::pacer`, chiefly a port of Go's `TestGcPacer`
//! (`src/runtime/mgcpacer_test.go`) with Go's own bounds.
//!
//! The harness simulates GC cycles in an idealised world: each cycle the
//! application's allocation rate, the collector's scan rate, the live heap's
//! growth, the scannable fraction and the stack size come from "streams"
//! (`constant`, `ramp`, `oscillate`, `random`, ...). Within a cycle, time
//! advances in 500 µs periods; in each one the current assist ratio fixes
//! the GC CPU utilization (the split of CPU between scanning and allocating
//! that keeps scanned/allocated equal to the ratio, never below the 25 %
//! background utilization), from which the bytes scanned and allocated
//! follow. The pacer is revised after every period, and the cycle ends when
//! all globals, stacks and live heap are scanned. Each scenario then checks
//! utilization, how close the peak heap came to the goal, and so on.
//!
//! The Go test drives the controller through a test-only wrapper
//! (`GCController` in `export_test.go`) that stores into the controller's
//! fields; [`GcController`] here does the same through the public API.
//!
//! Go's `random` stream uses `math/rand`; this port uses its own seeded
//! splitmix64 generator with the same amplitudes, so the jitter sequences
//! differ from Go's while the bounds are Go's.

use gpumark::pacer::{
    apply_memory_limit_heap_goal_headroom, mark_worker_split, GcTriggerKind, MarkWorkerMode,
    MarkWorkerSplit, Pacer, PacerConfig, PacerError, DEFAULT_HEAP_MINIMUM,
    GC_BACKGROUND_UTILIZATION, GC_GOAL_UTILIZATION, GC_PERCENT_OFF,
    MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM, MIN_RUNWAY, NO_MEMORY_LIMIT, SWEEP_MIN_HEAP_DISTANCE,
};

// ---------------------------------------------------------------------------
// The test-only controller wrapper (Go's GCController in export_test.go).
// ---------------------------------------------------------------------------

/// Deltas applied before each revise (Go's `GCControllerReviseDelta`).
struct ReviseDelta {
    heap_live: i64,
    heap_scan: i64,
    heap_scan_work: i64,
    stack_scan_work: i64,
    globals_scan_work: i64,
}

/// Drives a [`Pacer`] the way Go's `GCController` test wrapper does.
struct GcController {
    p: Pacer,
}

impl GcController {
    /// Go's `NewGCController`.
    fn new(gc_percent: i32, memory_limit: i64) -> Self {
        let p = Pacer::new(PacerConfig {
            gc_percent,
            memory_limit,
            gomaxprocs: 8,
        })
        .expect("valid pacer configuration");
        GcController { p }
    }

    /// Go's `StartCycle`: jump heap live to the trigger (as if the program
    /// allocated exactly up to it, a `scannable_frac` of it scannable), set
    /// stacks and globals, and start the cycle at time 0.
    fn start_cycle(
        &self,
        stack_size: u64,
        globals_size: u64,
        scannable_frac: f64,
        gomaxprocs: usize,
    ) {
        let p = &self.p;
        let (mut trigger, _) = p.trigger();
        if p.heap_marked() > trigger {
            trigger = p.heap_marked();
        }
        // maxStackScan.Store / globalsScan.Store, as deltas.
        p.add_scannable_stack(stack_size as i64 - p.max_stack_scan() as i64);
        p.add_globals(globals_size as i64 - p.globals_scan() as i64);
        // heapLive.Store(trigger); heapScan.Add(...): outside marking,
        // update() adds to both.
        assert!(!p.gc_blacken_enabled());
        p.update(
            trigger as i64 - p.heap_live() as i64,
            ((trigger - p.heap_marked()) as f64 * scannable_frac) as i64,
        );
        p.start_cycle(0, gomaxprocs, GcTriggerKind::Heap);
        p.set_gc_blacken_enabled(true);
    }

    /// Go's `Revise`: add the deltas, then revise.
    fn revise(&self, d: ReviseDelta) {
        let p = &self.p;
        p.add_heap_scan(d.heap_scan);
        p.add_heap_scan_work(d.heap_scan_work);
        p.add_stack_scan_work(d.stack_scan_work);
        p.add_globals_scan_work(d.globals_scan_work);
        // During marking update() adds heap live and calls revise().
        p.update(d.heap_live, 0);
    }

    /// Go's `EndCycle`: set the assist time, end the cycle at `elapsed`
    /// (mark started at 0), reset live to what was marked, and commit with
    /// sweeping not yet done.
    fn end_cycle(&self, bytes_marked: u64, assist_time: i64, elapsed: i64, gomaxprocs: usize) {
        let p = &self.p;
        p.set_gc_blacken_enabled(false);
        p.add_assist_time(assist_time - p.assist_time());
        p.end_cycle(elapsed, gomaxprocs, false);
        p.reset_live(bytes_marked);
        p.commit(false);
    }
}

// ---------------------------------------------------------------------------
// Streams (Go's float64Stream and combinators).
// ---------------------------------------------------------------------------

/// An infinite stream of `f64`s.
struct Stream(Box<dyn FnMut() -> f64>);

impl Stream {
    fn new(f: impl FnMut() -> f64 + 'static) -> Self {
        Stream(Box::new(f))
    }

    fn next(&mut self) -> f64 {
        (self.0)()
    }

    /// Zero for `cycles` steps, then this stream.
    fn delay(mut self, cycles: usize) -> Stream {
        let mut zeroes = 0;
        Stream::new(move || {
            if zeroes < cycles {
                zeroes += 1;
                return 0.0;
            }
            self.next()
        })
    }

    /// This stream scaled by `amt`.
    #[allow(dead_code)]
    fn scale(mut self, amt: f64) -> Stream {
        Stream::new(move || self.next() * amt)
    }

    /// This stream plus `amt`.
    fn offset(mut self, amt: f64) -> Stream {
        Stream::new(move || self.next() + amt)
    }

    /// The sum of this stream and `others`, each advanced every step.
    fn sum(mut self, mut others: Vec<Stream>) -> Stream {
        Stream::new(move || {
            let mut s = self.next();
            for o in others.iter_mut() {
                s += o.next();
            }
            s
        })
    }

    /// This stream rounded toward zero to a multiple of `mult`.
    fn quantize(mut self, mult: f64) -> Stream {
        Stream::new(move || {
            let r = self.next() / mult;
            if r < 0.0 {
                r.ceil() * mult
            } else {
                r.floor() * mult
            }
        })
    }

    /// This stream, never below `min` (Go's `min`).
    fn min(mut self, min: f64) -> Stream {
        Stream::new(move || min.max(self.next()))
    }

    /// This stream, never above `max` (Go's `max`).
    #[allow(dead_code)]
    fn max(mut self, max: f64) -> Stream {
        Stream::new(move || max.min(self.next()))
    }

    /// This stream clamped to `[min, max]`.
    fn limit(mut self, min: f64, max: f64) -> Stream {
        Stream::new(move || {
            let v = self.next();
            if v < min {
                min
            } else if v > max {
                max
            } else {
                v
            }
        })
    }
}

/// Always `c`.
fn constant(c: f64) -> Stream {
    Stream::new(move || c)
}

/// `amp` once, then zeroes (a Kronecker delta).
fn unit(amp: f64) -> Stream {
    let mut dropped = false;
    Stream::new(move || {
        if dropped {
            return 0.0;
        }
        dropped = true;
        amp
    })
}

/// A sine of amplitude `amp`, phase `phase` and period `period` steps.
fn oscillate(amp: f64, phase: f64, period: usize) -> Stream {
    let mut cycle = 0usize;
    Stream::new(move || {
        let p = cycle as f64 / period as f64 * 2.0 * std::f64::consts::PI + phase;
        cycle += 1;
        if cycle == period {
            cycle = 0;
        }
        p.sin() * amp
    })
}

/// From 0 to `height` over `length` steps, then `height`.
fn ramp(height: f64, length: usize) -> Stream {
    let mut cycle = 0usize;
    Stream::new(move || {
        let h = height * cycle as f64 / length as f64;
        if cycle < length {
            cycle += 1;
        }
        h
    })
}

/// Uniform values in `[-amp, amp)`, deterministic for `seed`.
///
/// Go uses `math/rand` seeded with `seed`; this uses splitmix64, so the
/// values differ from Go's but have the same distribution.
fn random(amp: f64, seed: u64) -> Stream {
    let mut state = seed;
    Stream::new(move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let f = (z >> 11) as f64 / (1u64 << 53) as f64;
        ((f - 0.5) * 2.0) * amp
    })
}

// ---------------------------------------------------------------------------
// The simulation (Go's gcExecTest and the TestGcPacer loop).
// ---------------------------------------------------------------------------

/// Minimum for alloc, scan and growth rates, which must not be zero.
const MIN_RATE: f64 = 0.0001;

/// Heap marked by the first simulated cycle.
const INITIAL_HEAP_BYTES: i64 = 256 << 10;

/// Simulated time between revisions, in ns (Go's `revisePeriod`, 500 µs).
const REVISE_PERIOD: i64 = 500_000;

/// KiB/cpu-ms to bytes per revise period per CPU (Go's `rateConv`).
const RATE_CONV: f64 = 1024.0 * REVISE_PERIOD as f64 / 1_000_000.0;

/// Guard against a broken pacer spinning the simulation forever.
const MAX_PERIODS_PER_CYCLE: usize = 10_000_000;

type Checker = fn(&mut Errors, &[GcCycleResult]);

/// One scenario (Go's `gcExecTest`).
struct GcExecTest {
    name: &'static str,
    gc_percent: i32,
    memory_limit: i64,
    globals_bytes: u64,
    n_cores: usize,
    /// KiB per cpu-ms, > 0.
    alloc_rate: Stream,
    /// KiB per cpu-ms, > 0.
    scan_rate: Stream,
    /// Live heap growth factor per cycle, > 0.
    growth_rate: Stream,
    /// Clamped to [0, 1].
    scannable_frac: Stream,
    /// Multiple of 2048.
    stack_bytes: Stream,
    length: usize,
    checker: Checker,
}

/// One cycle's inputs (Go's `gcCycle`).
struct GcCycle {
    alloc_rate: f64,
    scan_rate: f64,
    growth_rate: f64,
    scannable_frac: f64,
    stack_bytes: u64,
}

/// One cycle's outcome (Go's `gcCycleResult`).
#[derive(Debug, Clone, Copy)]
struct GcCycleResult {
    cycle: usize,
    // From the pacer.
    heap_live: u64,
    heap_trigger: u64,
    heap_goal: u64,
    heap_peak: u64,
    // From the simulation.
    heap_scannable: i64,
    gc_utilization: f64,
}

impl GcCycleResult {
    fn goal_ratio(&self) -> f64 {
        self.heap_peak as f64 / self.heap_goal as f64
    }

    fn runway(&self) -> f64 {
        self.heap_goal.wrapping_sub(self.heap_trigger) as f64
    }

    fn trigger_ratio(&self) -> f64 {
        self.heap_trigger.wrapping_sub(self.heap_live) as f64
            / self.heap_goal.wrapping_sub(self.heap_live) as f64
    }
}

impl std::fmt::Display for GcCycleResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:2.1}% {}->{}->{} (goal: {})",
            self.cycle,
            self.gc_utilization * 100.0,
            self.heap_live,
            self.heap_trigger,
            self.heap_peak,
            self.heap_goal
        )
    }
}

/// Collected failures (Go's `t.Errorf`: report and carry on).
#[derive(Default)]
struct Errors {
    cycle: usize,
    msgs: Vec<String>,
}

impl Errors {
    fn error(&mut self, msg: String) {
        self.msgs.push(format!("cycle {}: {msg}", self.cycle));
    }

    fn assert_in_range(&mut self, name: &str, a: f64, min: f64, max: f64) {
        if a < min || a > max {
            self.error(format!("{name} not in range ({min:.6}, {max:.6}): {a:.6}"));
        }
    }

    fn assert_in_epsilon(&mut self, name: &str, a: f64, b: f64, epsilon: f64) {
        self.assert_in_range(name, a, b - epsilon, b + epsilon);
    }
}

impl GcExecTest {
    /// The next cycle's inputs (Go's `next`).
    fn next(&mut self) -> GcCycle {
        GcCycle {
            alloc_rate: MIN_RATE.max(self.alloc_rate.next()),
            scan_rate: MIN_RATE.max(self.scan_rate.next()),
            growth_rate: MIN_RATE.max(self.growth_rate.next()),
            scannable_frac: self.scannable_frac.next(),
            stack_bytes: self.stack_bytes.next() as u64,
        }
    }

    /// General checks, then the scenario's own (Go's `check`). Returns false
    /// on a fatal failure.
    fn check(&self, errs: &mut Errors, results: &[GcCycleResult]) -> bool {
        let n = results.len();
        errs.cycle = n;
        match n {
            0 => {
                errs.error("no results passed to check".into());
                return false;
            }
            1 => {
                if results[0].cycle != 1 {
                    errs.error("first cycle has incorrect number".into());
                }
            }
            _ => {
                if results[n - 1].cycle != results[n - 2].cycle + 1 {
                    errs.error("cycle numbers out of order".into());
                }
            }
        }
        let u = results[n - 1].gc_utilization;
        if !(0.0..=1.0).contains(&u) {
            errs.error(format!("GC utilization not within acceptable bounds: {u}"));
            return false;
        }
        if results[n - 1].heap_scannable < 0 {
            errs.error("heapScannable is negative".into());
            return false;
        }
        (self.checker)(errs, results);
        true
    }

    /// Runs the scenario and panics with every failure (Go's subtest body).
    fn run(mut self) -> Vec<GcCycleResult> {
        // Clamp/quantise the streams the way Go's next() wraps them.
        let stack = std::mem::replace(&mut self.stack_bytes, constant(0.0));
        self.stack_bytes = stack.quantize(2048.0).min(0.0);
        let frac = std::mem::replace(&mut self.scannable_frac, constant(0.0));
        self.scannable_frac = frac.limit(0.0, 1.0);

        let c = GcController::new(self.gc_percent, self.memory_limit);
        let n_cores = self.n_cores;
        let cores = n_cores as f64;
        let mut errs = Errors::default();
        let mut bytes_allocated_black_last: i64 = 0;
        let mut results: Vec<GcCycleResult> = Vec::with_capacity(self.length);
        let mut log = Vec::new();

        for i in 0..self.length {
            let cycle = self.next();
            c.start_cycle(
                cycle.stack_bytes,
                self.globals_bytes,
                cycle.scannable_frac,
                n_cores,
            );

            let next_heap_marked: i64 = if i == 0 {
                INITIAL_HEAP_BYTES
            } else {
                ((c.p.heap_marked() as i64 - bytes_allocated_black_last) as f64 * cycle.growth_rate)
                    as i64
            };
            // Work left, done in this order: globals, stacks, heap.
            let mut work_left: [i64; 3] = [
                self.globals_bytes as i64,
                cycle.stack_bytes as i64,
                (next_heap_marked as f64 * cycle.scannable_frac) as i64,
            ];
            let do_work = |work_left: &mut [i64; 3], mut work: i64| -> [i64; 3] {
                let mut deltas = [0i64; 3];
                for (i, left) in work_left.iter_mut().enumerate() {
                    if *left == 0 {
                        continue;
                    }
                    if *left > work {
                        deltas[i] += work;
                        *left -= work;
                        break;
                    } else {
                        deltas[i] += *left;
                        work -= *left;
                        *left = 0;
                    }
                }
                deltas
            };

            let mut gc_duration: i64 = 0;
            let mut assist_time: i64 = 0;
            let mut bytes_allocated_black: i64 = 0;
            let mut periods = 0usize;
            while work_left.iter().sum::<i64>() > 0 {
                periods += 1;
                assert!(
                    periods < MAX_PERIODS_PER_CYCLE,
                    "{}: cycle {} never finishes",
                    self.name,
                    i + 1
                );

                // The assist ratio fixes bytesScanned/bytesAllocated over the
                // period:
                //   ratio = (scanRate * u) / (allocRate * (1 - u))
                //   => u = ratio * allocRate / (ratio * allocRate + scanRate)
                // and utilization can never be below the background workers'.
                let assist_ratio = c.p.assist_work_per_byte();
                let mut utilization = assist_ratio * cycle.alloc_rate
                    / (assist_ratio * cycle.alloc_rate + cycle.scan_rate);
                if utilization < GC_BACKGROUND_UTILIZATION {
                    utilization = GC_BACKGROUND_UTILIZATION;
                }

                let bytes_scanned = (cycle.scan_rate * RATE_CONV * cores * utilization) as i64;
                let bytes_allocated =
                    (cycle.alloc_rate * RATE_CONV * cores * (1.0 - utilization)) as i64;

                let [globals_scanned, stack_scanned, heap_scanned] =
                    do_work(&mut work_left, bytes_scanned);

                // If the work ran out, the cycle ended part-way through the
                // period: work out when, and scale the allocation to match.
                let mut actual_elapsed = REVISE_PERIOD;
                let mut actual_allocated = bytes_allocated;
                let actual_scanned = globals_scanned + stack_scanned + heap_scanned;
                if actual_scanned < bytes_scanned {
                    actual_elapsed = (actual_scanned as f64 * REVISE_PERIOD as f64
                        / (cycle.scan_rate * RATE_CONV * cores * utilization))
                        as i64;
                    actual_allocated = (cycle.alloc_rate * RATE_CONV * actual_elapsed as f64
                        / REVISE_PERIOD as f64
                        * cores
                        * (1.0 - utilization)) as i64;
                }

                c.revise(ReviseDelta {
                    heap_live: actual_allocated,
                    heap_scan: (actual_allocated as f64 * cycle.scannable_frac) as i64,
                    heap_scan_work: heap_scanned,
                    stack_scan_work: stack_scanned,
                    globals_scan_work: globals_scanned,
                });

                assist_time +=
                    (actual_elapsed as f64 * cores * (utilization - GC_BACKGROUND_UTILIZATION))
                        as i64;
                gc_duration += actual_elapsed;
                bytes_allocated_black += actual_allocated;
            }

            let result = GcCycleResult {
                cycle: i + 1,
                heap_live: c.p.heap_marked(),
                heap_scannable: ((c.p.heap_marked() as i64 - bytes_allocated_black_last) as f64
                    * cycle.scannable_frac) as i64,
                heap_trigger: c.p.triggered().expect("a cycle is running"),
                heap_peak: c.p.heap_live(),
                heap_goal: c.p.heap_goal(),
                gc_utilization: assist_time as f64 / (gc_duration as f64 * cores)
                    + GC_BACKGROUND_UTILIZATION,
            };
            log.push(format!("GC {result}"));
            results.push(result);

            let ok = self.check(&mut errs, &results);
            if !ok {
                break;
            }

            c.end_cycle(
                (next_heap_marked + bytes_allocated_black) as u64,
                assist_time,
                gc_duration,
                n_cores,
            );
            bytes_allocated_black_last = bytes_allocated_black;
        }

        // Go's t.Log: shown with `cargo test -- --nocapture`.
        println!("{}:\n  {}", self.name, log.join("\n  "));
        if !errs.msgs.is_empty() {
            panic!(
                "{}: {} failure(s):\n  {}\ncycle log:\n  {}",
                self.name,
                errs.msgs.len(),
                errs.msgs.join("\n  "),
                log.join("\n  ")
            );
        }
        results
    }
}

/// Go's `GCGoalUtilization` and `GCBackgroundUtilization` as used by checkers.
const GOAL_U: f64 = GC_GOAL_UTILIZATION;

/// The memory-limited goal with no non-heap memory (Go's test helper).
fn headroomed(limit: u64) -> u64 {
    apply_memory_limit_heap_goal_headroom(limit)
}

// ---------------------------------------------------------------------------
// Scenarios (TestGcPacer's table, in Go's order).
// ---------------------------------------------------------------------------

/// The checker shared by Steady and SteadyMemoryLimit's n >= 25 clause.
fn check_steady_tail(t: &mut Errors, c: &[GcCycleResult]) {
    let n = c.len();
    if n >= 25 {
        // At this alloc/scan rate the pacer should be extremely close to
        // the goal utilization, and settled.
        t.assert_in_epsilon("GC utilization", c[n - 1].gc_utilization, GOAL_U, 0.005);
        t.assert_in_epsilon(
            "GC utilization",
            c[n - 1].gc_utilization,
            c[n - 2].gc_utilization,
            0.005,
        );
        t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.95, 1.05);
    }
}

/// Settled by cycle 25 and again 25 cycles after a step at cycle 50.
fn check_step(t: &mut Errors, c: &[GcCycleResult]) {
    let n = c.len();
    if (25..50).contains(&n) || n >= 75 {
        t.assert_in_epsilon(
            "GC utilization",
            c[n - 1].gc_utilization,
            c[n - 2].gc_utilization,
            0.005,
        );
        t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.95, 1.05);
    }
}

/// Shared by the three slow-allocation scenarios after their own first clause.
fn check_slow_alloc_utilization(t: &mut Errors, c: &[GcCycleResult]) {
    let n = c.len();
    if n > 25 {
        t.assert_in_epsilon("GC utilization", c[n - 1].gc_utilization, GOAL_U, 0.005);
        t.assert_in_epsilon(
            "GC utilization",
            c[n - 1].gc_utilization,
            c[n - 2].gc_utilization,
            0.05,
        );
        t.assert_in_epsilon(
            "GC utilization",
            c[n - 1].gc_utilization,
            c[11].gc_utilization,
            0.05,
        );
    }
}

/// Goal equals the live heap, utilization saturates at 100 %.
fn check_exceed_tail(t: &mut Errors, c: &[GcCycleResult]) {
    let n = c.len();
    if n > 12 {
        let (goal, live) = (c[n - 1].heap_goal, c[n - 1].heap_live);
        if goal != live {
            t.error(format!(
                "heap goal is not equal to live heap: {goal} != {live}"
            ));
        }
    }
    if n >= 25 {
        // Memory pressure scales GC CPU to 100% (the CPU limiter, not the
        // pacer, would cap it in practice).
        t.assert_in_epsilon("GC utilization", c[n - 1].gc_utilization, 1.0, 0.005);
        t.assert_in_epsilon(
            "GC utilization",
            c[n - 1].gc_utilization,
            c[n - 2].gc_utilization,
            0.005,
        );
    }
}

fn steady_base(name: &'static str, checker: Checker) -> GcExecTest {
    GcExecTest {
        name,
        gc_percent: 100,
        memory_limit: NO_MEMORY_LIMIT,
        globals_bytes: 32 << 10,
        n_cores: 8,
        alloc_rate: constant(33.0),
        scan_rate: constant(1024.0),
        growth_rate: constant(2.0).sum(vec![ramp(-1.0, 12)]),
        scannable_frac: constant(1.0),
        stack_bytes: constant(8192.0),
        length: 50,
        checker,
    }
}

#[test]
fn steady() {
    // The most basic case: grow to an O(MiB) heap, then hold everything constant.
    steady_base("Steady", check_steady_tail).run();
}

#[test]
fn steady_big_stacks() {
    // Lots of stack to scan relative to the heap.
    GcExecTest {
        alloc_rate: constant(132.0),
        stack_bytes: constant(2048.0).sum(vec![ramp((128 << 20) as f64, 8)]),
        ..steady_base("SteadyBigStacks", check_steady_tail)
    }
    .run();
}

#[test]
fn steady_big_globals() {
    // Lots of globals to scan relative to the heap.
    GcExecTest {
        globals_bytes: 128 << 20,
        alloc_rate: constant(132.0),
        ..steady_base("SteadyBigGlobals", check_steady_tail)
    }
    .run();
}

#[test]
fn step_alloc() {
    // A small step in allocation rate at cycle 50.
    GcExecTest {
        alloc_rate: constant(33.0).sum(vec![ramp(66.0, 1).delay(50)]),
        length: 100,
        ..steady_base("StepAlloc", check_step)
    }
    .run();
}

#[test]
fn heavy_step_alloc() {
    // A large step in allocation rate at cycle 50.
    GcExecTest {
        alloc_rate: constant(33.0).sum(vec![ramp(330.0, 1).delay(50)]),
        length: 100,
        ..steady_base("HeavyStepAlloc", check_step)
    }
    .run();
}

#[test]
fn step_scannable_frac() {
    // A change in the scannable fraction of the heap at cycle 50.
    GcExecTest {
        alloc_rate: constant(128.0),
        scannable_frac: constant(0.2).sum(vec![unit(0.5).delay(50)]),
        length: 100,
        ..steady_base("StepScannableFrac", check_step)
    }
    .run();
}

#[test]
fn high_gogc() {
    // High GOGC with a large heap growth at cycle 26: utilization must not
    // be sensitive to it.
    GcExecTest {
        gc_percent: 1500,
        alloc_rate: random(7.0, 0x53).offset(165.0),
        growth_rate: constant(2.0).sum(vec![
            ramp(-1.0, 12),
            random(0.01, 0x1),
            unit(14.0).delay(25),
        ]),
        ..steady_base("HighGOGC", |t, c| {
            let n = c.len();
            if n > 12 {
                if n == 26 {
                    // Overshoot is expected to keep utilization stable, but
                    // never by more than the next cycle's GOGC.
                    t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.90, 15.0);
                } else {
                    // With such a high GOGC we're forced to undershoot.
                    t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.90, 1.05);
                }
                t.assert_in_epsilon(
                    "GC utilization",
                    c[n - 1].gc_utilization,
                    GOAL_U,
                    GOAL_U + 0.03,
                );
                t.assert_in_epsilon(
                    "GC utilization",
                    c[n - 1].gc_utilization,
                    c[n - 2].gc_utilization,
                    0.03,
                );
            }
        })
    }
    .run();
}

#[test]
fn osc_alloc() {
    // An oscillating allocation rate: keep abreast of it.
    GcExecTest {
        alloc_rate: oscillate(13.0, 0.0, 8).offset(67.0),
        ..steady_base("OscAlloc", |t, c| {
            let n = c.len();
            if n > 12 {
                t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.95, 1.05);
                t.assert_in_range("GC utilization", c[n - 1].gc_utilization, 0.25, 0.3);
            }
        })
    }
    .run();
}

#[test]
fn jitter_alloc() {
    // A jittery allocation rate.
    GcExecTest {
        alloc_rate: random(13.0, 0xf).offset(132.0),
        growth_rate: constant(2.0).sum(vec![ramp(-1.0, 12), random(0.01, 0xe)]),
        ..steady_base("JitterAlloc", |t, c| {
            let n = c.len();
            if n > 12 {
                t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.95, 1.025);
                t.assert_in_range("GC utilization", c[n - 1].gc_utilization, 0.25, 0.275);
            }
        })
    }
    .run();
}

#[test]
fn heavy_jitter_alloc() {
    // JitterAlloc at a much higher allocation rate, proportionally as jittery.
    GcExecTest {
        alloc_rate: random(33.0, 0x0).offset(330.0),
        growth_rate: constant(2.0).sum(vec![ramp(-1.0, 12), random(0.01, 0x152)]),
        ..steady_base("HeavyJitterAlloc", |t, c| {
            let n = c.len();
            if n > 13 {
                t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.95, 1.05);
                // Utilization varies more and tends higher; keep it sane.
                t.assert_in_epsilon(
                    "GC utilization",
                    c[n - 1].gc_utilization,
                    c[n - 2].gc_utilization,
                    0.05,
                );
                t.assert_in_epsilon(
                    "GC utilization",
                    c[n - 1].gc_utilization,
                    c[11].gc_utilization,
                    0.05,
                );
            }
        })
    }
    .run();
}

fn slow_alloc_base(name: &'static str, growth_rate: Stream, checker: Checker) -> GcExecTest {
    GcExecTest {
        alloc_rate: constant(1.0),
        scan_rate: constant(2048.0),
        growth_rate,
        scannable_frac: constant(0.01),
        ..steady_base(name, checker)
    }
}

#[test]
fn small_heap_slow_alloc() {
    // Slow allocation, heap near the minimum: trigger close to the goal.
    slow_alloc_base(
        "SmallHeapSlowAlloc",
        constant(2.0).sum(vec![ramp(-1.0, 3)]),
        |t, c| {
            let n = c.len();
            if n > 4 {
                t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.925, 1.025);
                t.assert_in_range("trigger ratio", c[n - 1].trigger_ratio(), 0.925, 0.975);
            }
            check_slow_alloc_utilization(t, c);
        },
    )
    .run();
}

#[test]
fn medium_heap_slow_alloc() {
    // Slow allocation, heap about 10x the minimum.
    slow_alloc_base(
        "MediumHeapSlowAlloc",
        constant(2.0).sum(vec![ramp(-1.0, 8)]),
        |t, c| {
            let n = c.len();
            if n > 9 {
                t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.925, 1.025);
                t.assert_in_range("trigger ratio", c[n - 1].trigger_ratio(), 0.925, 0.975);
            }
            check_slow_alloc_utilization(t, c);
        },
    )
    .run();
}

#[test]
fn large_heap_slow_alloc() {
    // Slow allocation, large heap: runway should be about the heap minimum.
    slow_alloc_base(
        "LargeHeapSlowAlloc",
        constant(4.0).sum(vec![ramp(-3.0, 12)]),
        |t, c| {
            let n = c.len();
            if n > 13 {
                t.assert_in_range("goal ratio", c[n - 1].goal_ratio(), 0.95, 1.05);
                // Go writes DefaultHeapMinimum-64<<10: `<<` binds tighter than `-` in Go.
                t.assert_in_range(
                    "runway",
                    c[n - 1].runway(),
                    (DEFAULT_HEAP_MINIMUM - (64 << 10)) as f64,
                    (DEFAULT_HEAP_MINIMUM + (64 << 10)) as f64,
                );
            }
            check_slow_alloc_utilization(t, c);
        },
    )
    .run();
}

const LIMIT_512M: i64 = 512 << 20;

#[test]
fn steady_memory_limit() {
    // Steady with a roomy memory limit: should behave just like Steady.
    GcExecTest {
        memory_limit: LIMIT_512M,
        ..steady_base("SteadyMemoryLimit", |t, c| {
            let n = c.len();
            let peak = c[n - 1].heap_peak;
            if peak >= headroomed(LIMIT_512M as u64) {
                t.error(format!("peak heap size reaches heap limit: {peak}"));
            }
            check_steady_tail(t, c);
        })
    }
    .run();
}

#[test]
fn steady_memory_limit_no_gc_percent() {
    // Same with GOGC=off: the heap should grow all the way to the limit.
    GcExecTest {
        gc_percent: GC_PERCENT_OFF,
        memory_limit: LIMIT_512M,
        ..steady_base("SteadyMemoryLimitNoGCPercent", |t, c| {
            let n = c.len();
            let goal = c[n - 1].heap_goal;
            if goal != headroomed(LIMIT_512M as u64) {
                t.error(format!("heap goal is not the heap limit: {goal}"));
            }
            check_steady_tail(t, c);
        })
    }
    .run();
}

#[test]
fn exceed_memory_limit() {
    // The live heap exceeds the limit: don't fall over, push back hard.
    GcExecTest {
        memory_limit: LIMIT_512M,
        growth_rate: constant(3.5).sum(vec![ramp(-2.5, 12)]),
        ..steady_base("ExceedMemoryLimit", check_exceed_tail)
    }
    .run();
}

#[test]
fn exceed_memory_limit_no_gc_percent() {
    // Same with GOGC=off.
    GcExecTest {
        gc_percent: GC_PERCENT_OFF,
        memory_limit: LIMIT_512M,
        growth_rate: constant(3.5).sum(vec![ramp(-2.5, 12)]),
        ..steady_base("ExceedMemoryLimitNoGCPercent", |t, c| {
            let n = c.len();
            if n < 10 {
                let goal = c[n - 1].heap_goal;
                if goal != headroomed(LIMIT_512M as u64) {
                    t.error(format!("heap goal is not the heap limit: {goal}"));
                }
            }
            check_exceed_tail(t, c);
        })
    }
    .run();
}

#[test]
fn maintain_memory_limit() {
    // The heap grows toward the limit; the pacer must hold it there.
    GcExecTest {
        memory_limit: LIMIT_512M,
        growth_rate: constant(3.0).sum(vec![ramp(-2.0, 12)]),
        ..steady_base("MaintainMemoryLimit", |t, c| {
            let n = c.len();
            if n > 12 {
                let goal = c[n - 1].heap_goal;
                if goal != headroomed(LIMIT_512M as u64) {
                    t.error(format!("heap goal is not the heap limit: {goal}"));
                }
            }
            check_steady_tail(t, c);
        })
    }
    .run();
}

#[test]
fn maintain_memory_limit_no_gc_percent() {
    // Same with GOGC=off.
    GcExecTest {
        gc_percent: GC_PERCENT_OFF,
        memory_limit: LIMIT_512M,
        growth_rate: constant(3.0).sum(vec![ramp(-2.0, 12)]),
        ..steady_base("MaintainMemoryLimitNoGCPercent", |t, c| {
            let n = c.len();
            let goal = c[n - 1].heap_goal;
            if goal != headroomed(LIMIT_512M as u64) {
                t.error(format!("heap goal is not the heap limit: {goal}"));
            }
            check_steady_tail(t, c);
        })
    }
    .run();
}

// ---------------------------------------------------------------------------
// TestIdleMarkWorkerCount.
// ---------------------------------------------------------------------------

#[test]
fn idle_mark_worker_count() {
    const WORKERS: i32 = 10;
    let c = GcController::new(100, NO_MEMORY_LIMIT).p;
    c.set_max_idle_mark_workers(WORKERS);
    for i in 0..WORKERS {
        assert!(
            c.need_idle_mark_worker(),
            "expected to need idle mark workers: i={i}"
        );
        assert!(
            c.add_idle_mark_worker(),
            "expected to be able to add an idle mark worker: i={i}"
        );
    }
    assert!(
        !c.need_idle_mark_worker(),
        "expected to not need idle mark workers"
    );
    assert!(
        !c.add_idle_mark_worker(),
        "expected to not be able to add an idle mark worker"
    );
    for i in 0..WORKERS {
        c.remove_idle_mark_worker().expect("a worker was running");
        assert!(
            c.need_idle_mark_worker(),
            "expected to need idle mark workers after removal: i={i}"
        );
    }
    for i in 0..WORKERS - 1 {
        assert!(
            c.add_idle_mark_worker(),
            "expected to be able to add idle mark workers after adding again: i={i}"
        );
    }
    for i in 0..10 {
        assert!(
            c.add_idle_mark_worker(),
            "expected to be able to add idle mark workers interleaved: i={i}"
        );
        assert!(
            !c.add_idle_mark_worker(),
            "expected to not be able to add idle mark workers interleaved: i={i}"
        );
        c.remove_idle_mark_worker().expect("a worker was running");
    }
    // The maximum may drop below the count.
    c.set_max_idle_mark_workers(0);
    assert!(
        !c.need_idle_mark_worker(),
        "expected to not need idle mark workers after capacity set to 0"
    );
    assert!(
        !c.add_idle_mark_worker(),
        "expected to not be able to add idle mark workers after capacity set to 0"
    );
    for _ in 0..WORKERS - 1 {
        c.remove_idle_mark_worker().expect("a worker was running");
    }
    assert!(
        !c.need_idle_mark_worker(),
        "expected to not need idle mark workers after capacity set to 0"
    );
    assert!(
        !c.add_idle_mark_worker(),
        "expected to not be able to add idle mark workers after capacity set to 0"
    );
    c.set_max_idle_mark_workers(1);
    assert!(
        c.need_idle_mark_worker(),
        "expected to need idle mark workers after capacity set to 1"
    );
    assert!(
        c.add_idle_mark_worker(),
        "expected to be able to add idle mark workers after capacity set to 1"
    );
}

#[test]
fn removing_a_missing_idle_worker_is_an_error() {
    let p = Pacer::new(PacerConfig::default()).expect("valid config");
    p.set_max_idle_mark_workers(4);
    assert_eq!(
        p.remove_idle_mark_worker(),
        Err(PacerError::NegativeIdleMarkWorkers { count: 0, max: 4 })
    );
    assert_eq!(p.idle_mark_workers(), (0, 4));
    // An idle worker stop with none running still records its time.
    assert!(p.mark_worker_stop(MarkWorkerMode::Idle, 10).is_err());
    assert_eq!(p.idle_mark_time(), 10);
}

// ---------------------------------------------------------------------------
// Unit tests beyond Go's file.
// ---------------------------------------------------------------------------

#[test]
fn worker_rounding_rule() {
    // procs × 25%, rounded to nearest; when that is > 30% off, round down and
    // add a fractional worker. Go's comment: happens for procs <= 3 and 6.
    let expect = |procs: usize, dedicated: i64, fractional: f64| {
        let s = mark_worker_split(procs);
        assert_eq!(
            s.dedicated_mark_workers_needed, dedicated,
            "dedicated workers for procs={procs}"
        );
        assert!(
            (s.fractional_utilization_goal - fractional).abs() < 1e-12,
            "fractional goal for procs={procs}: {} != {fractional}",
            s.fractional_utilization_goal
        );
        // Whatever the split, the total is exactly 25% of procs.
        let total =
            s.dedicated_mark_workers_needed as f64 + s.fractional_utilization_goal * procs as f64;
        let rounding_ok =
            (total - procs as f64 * 0.25).abs() < 1e-12 || s.fractional_utilization_goal == 0.0;
        assert!(rounding_ok, "procs={procs}: total {total}");
    };
    expect(1, 0, 0.25);
    expect(2, 0, 0.25);
    expect(3, 0, 0.25);
    expect(4, 1, 0.0);
    expect(5, 1, 0.0); // 1.25 -> 1 is 20% off: accepted
    expect(6, 1, 0.5 / 6.0); // 1.5 -> 2 is 33% off: 1 + fractional
    expect(7, 2, 0.0); // 1.75 -> 2 is 14% off
    expect(8, 2, 0.0);
    expect(100, 25, 0.0);
    // procs = 0 is treated as 1.
    assert_eq!(mark_worker_split(0), mark_worker_split(1));
}

#[test]
fn start_cycle_publishes_worker_split_and_idle_max() {
    let p = Pacer::new(PacerConfig {
        gomaxprocs: 6,
        ..PacerConfig::default()
    })
    .expect("valid config");
    p.start_cycle(1_000, 6, GcTriggerKind::Heap);
    assert_eq!(p.dedicated_mark_workers_needed(), 1);
    assert!((p.fractional_utilization_goal() - 0.5 / 6.0).abs() < 1e-12);
    assert_eq!(p.idle_mark_workers(), (0, 5));
    assert_eq!(p.mark_start_time(), 1_000);

    // Claiming dedicated workers, then a fractional worker when behind.
    assert_eq!(
        p.find_runnable_gc_worker(0, 2_000),
        Some(MarkWorkerMode::Dedicated)
    );
    assert_eq!(p.dedicated_mark_workers_needed(), 0);
    assert_eq!(
        p.find_runnable_gc_worker(0, 2_000),
        Some(MarkWorkerMode::Fractional)
    );
    // 500 ns of fractional time in 1000 ns is ahead of a 1/12 goal.
    assert_eq!(p.find_runnable_gc_worker(500, 2_000), None);
    // Exit once over 1.2 × goal = 0.1 of the time since mark start:
    // 50 ns of 1000 is under, 200 ns is over.
    assert!(!p.poll_fractional_worker_exit(0, 1_950, 2_000));
    assert!(p.poll_fractional_worker_exit(0, 1_800, 2_000));
    // No time since mark start: always exit.
    assert!(p.poll_fractional_worker_exit(0, 1_000, 1_000));
    p.mark_worker_stop(MarkWorkerMode::Dedicated, 777)
        .expect("no idle bookkeeping");
    assert_eq!(p.dedicated_mark_workers_needed(), 1);
    assert_eq!(p.dedicated_mark_time(), 777);

    // Periodic cycles: no idle workers when there is a dedicated one ...
    p.start_cycle(0, 6, GcTriggerKind::Time);
    assert_eq!(p.idle_mark_workers(), (0, 0));
    // ... and exactly one when there is none.
    p.start_cycle(0, 2, GcTriggerKind::Time);
    assert_eq!(p.dedicated_mark_workers_needed(), 0);
    assert_eq!(p.idle_mark_workers(), (0, 1));
    p.start_cycle(0, 2, GcTriggerKind::Cycle);
    assert_eq!(p.idle_mark_workers(), (0, 2));
}

#[test]
fn initial_goal_and_trigger() {
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: NO_MEMORY_LIMIT,
        gomaxprocs: 4,
    })
    .expect("valid");
    assert_eq!(p.heap_minimum(), DEFAULT_HEAP_MINIMUM);
    assert_eq!(p.heap_goal(), DEFAULT_HEAP_MINIMUM);
    assert_eq!(p.runway(), 0);
    // No runway: the trigger sits at the 95% bound, 61/64 of the goal.
    assert_eq!(p.trigger(), ((4 << 20) / 64 * 61, 4 << 20));
    assert_eq!(p.trigger().0, 3_997_696);
    assert_eq!(p.triggered(), None);
    assert!(!p.heap_trigger_reached());
    p.update(3_997_696, 0);
    assert!(p.heap_trigger_reached());

    // GOGC=200 doubles the minimum; GOGC=0 removes it.
    assert_eq!(p.set_gc_percent(200), 100);
    assert_eq!(p.heap_minimum(), 8 << 20);
    assert_eq!(p.set_gc_percent(0), 200);
    assert_eq!(p.heap_minimum(), 0);
    // Negative means off, stored as -1.
    assert_eq!(p.set_gc_percent(-50), 0);
    assert_eq!(p.gc_percent(), GC_PERCENT_OFF);
    p.commit(true);
    assert_eq!(p.gc_percent_heap_goal(), u64::MAX);
    // With GOGC off and no limit, the goal is the (headroomed) i64::MAX limit.
    assert_eq!(
        p.heap_goal(),
        apply_memory_limit_heap_goal_headroom(i64::MAX as u64)
    );
}

#[test]
fn trigger_bounds() {
    const MIB: u64 = 1 << 20;
    // Lower bound: a runway longer than the goal puts the trigger 45/64
    // (~70%) of the way from the marked heap to the goal.
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: NO_MEMORY_LIMIT,
        gomaxprocs: 4,
    })
    .expect("valid");
    p.update(MIB as i64, 0);
    p.start_cycle(0, 4, GcTriggerKind::Heap);
    // No assists: runway works out to the bytes allocated during the cycle.
    p.update((200 * MIB) as i64, 0);
    p.add_heap_scan_work(1000);
    p.end_cycle(1_000_000, 4, false);
    p.reset_live(64 * MIB);
    p.commit(true);
    assert!(p.runway() > 128 * MIB, "runway {}", p.runway());
    assert_eq!(p.trigger(), (64 * MIB + (64 * MIB / 64) * 45, 128 * MIB));

    // Upper bound, small heap: with no runway, 61/64 (~95%) of the way.
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: NO_MEMORY_LIMIT,
        gomaxprocs: 4,
    })
    .expect("valid");
    p.reset_live(64 * MIB);
    p.commit(true);
    assert_eq!(p.runway(), 0);
    assert_eq!(p.trigger(), (64 * MIB + (64 * MIB / 64) * 61, 128 * MIB));

    // Upper bound, large heap: goal - DEFAULT_HEAP_MINIMUM when that is later.
    p.reset_live(256 * MIB);
    p.commit(true);
    assert_eq!(p.trigger(), (512 * MIB - DEFAULT_HEAP_MINIMUM, 512 * MIB));

    // Sweep distance: with sweeping unfinished at 10 MiB live, trigger and
    // goal are pushed to 11 MiB.
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: NO_MEMORY_LIMIT,
        gomaxprocs: 4,
    })
    .expect("valid");
    p.update((10 * MIB) as i64, 0);
    p.commit(false);
    assert_eq!(p.trigger(), (11 * MIB, 11 * MIB));
    assert_eq!(p.heap_goal_internal(), (11 * MIB, 11 * MIB));

    // Goal at or below the marked heap (memory limit pressure): trigger = goal.
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: MIB as i64,
        gomaxprocs: 4,
    })
    .expect("valid");
    p.reset_live(2 * MIB);
    p.commit(true);
    assert_eq!(p.memory_limit_heap_goal(), 2 * MIB);
    assert_eq!(p.trigger(), (2 * MIB, 2 * MIB));
}

#[test]
fn min_runway_applies_only_to_the_gogc_goal() {
    // Triggered 1000 bytes short of the 4 MiB goal: the goal moves out to
    // leave MIN_RUNWAY (64 KiB) after the trigger point.
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: NO_MEMORY_LIMIT,
        gomaxprocs: 4,
    })
    .expect("valid");
    p.update((4 << 20) - 1000, 0);
    p.start_cycle(0, 4, GcTriggerKind::Heap);
    assert_eq!(p.heap_goal(), (4 << 20) - 1000 + MIN_RUNWAY);
    p.end_cycle(1, 4, false);
    p.reset_live(0);
    assert_eq!(p.heap_goal(), 4 << 20);

    // When the memory limit sets the goal (4.5 MiB limit, 3.5 MiB goal), no
    // extra runway: better to push back than to exceed the limit.
    let limit: u64 = 9 << 19;
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: limit as i64,
        gomaxprocs: 4,
    })
    .expect("valid");
    let goal = apply_memory_limit_heap_goal_headroom(limit);
    assert_eq!(goal, 7 << 19);
    assert_eq!(p.heap_goal(), goal);
    p.update(goal as i64 - 1000, 0);
    p.start_cycle(0, 4, GcTriggerKind::Heap);
    assert_eq!(p.heap_goal(), goal);
}

#[test]
fn goal_counts_stacks_and_globals() {
    // goal = marked + (marked + last stack scan + globals) * GOGC/100.
    let p = Pacer::new(PacerConfig {
        gc_percent: 50,
        memory_limit: NO_MEMORY_LIMIT,
        gomaxprocs: 4,
    })
    .expect("valid");
    p.add_globals(2 << 20);
    p.start_cycle(0, 4, GcTriggerKind::Heap);
    p.add_stack_scan_work(4 << 20);
    p.add_heap_scan_work(8 << 20);
    p.end_cycle(1, 4, false);
    p.reset_live(16 << 20);
    p.commit(true);
    assert_eq!(p.heap_marked(), 16 << 20);
    assert_eq!(p.last_stack_scan(), 4 << 20);
    assert_eq!(p.last_heap_scan(), 8 << 20);
    assert_eq!(p.heap_scan(), 8 << 20);
    let expected = (16u64 << 20) + ((16u64 << 20) + (4 << 20) + (2 << 20)) * 50 / 100;
    assert_eq!(p.gc_percent_heap_goal(), expected);
    assert_eq!(p.heap_goal(), expected);
    // Sweep not done: the trigger (and goal) floor moves to live + 1 MiB.
    p.commit(false);
    assert_eq!(
        p.sweep_dist_min_trigger(),
        (16 << 20) + SWEEP_MIN_HEAP_DISTANCE
    );
    let (trigger, goal) = p.trigger();
    assert!(trigger >= p.sweep_dist_min_trigger() && trigger <= goal);
}

#[test]
fn revise_assist_ratios_by_hand() {
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: NO_MEMORY_LIMIT,
        gomaxprocs: 4,
    })
    .expect("valid");
    // Allocate to the initial trigger (3997696 bytes), half of it scannable.
    let live: u64 = 3_997_696;
    p.update(live as i64, (live / 2) as i64);
    p.add_globals(65_536);
    p.start_cycle(0, 4, GcTriggerKind::Heap);
    p.set_gc_blacken_enabled(true);
    assert_eq!(p.triggered(), Some(live));

    // Case 1, soft goal. goal = 4 MiB (triggered + 64 KiB is below it);
    // expected work = last heap 0 + last stack 0 + globals 65536;
    // remaining heap = 4194304 - 3997696 = 196608.
    assert_eq!(p.heap_goal(), 4_194_304);
    assert_eq!(p.assist_work_per_byte(), 65_536.0 / 196_608.0);
    assert_eq!(p.assist_bytes_per_work(), 3.0);

    // Case 2, work past the estimate: 131072 done > 65536 expected.
    // max work = heap scan 1998848 + stacks 0 + globals 65536 = 2064384;
    // extended goal = 196608/65536 * 2064384 + 3997696 = 10190848, capped at
    // the hard goal (1 + 100/100) * 4194304 = 8388608.
    p.add_globals_scan_work(65_536);
    p.add_heap_scan_work(65_536);
    p.revise();
    let remaining_work = 2_064_384.0 - 131_072.0;
    let remaining_heap = 8_388_608.0 - 3_997_696.0;
    assert_eq!(p.assist_work_per_byte(), remaining_work / remaining_heap);
    assert_eq!(p.assist_bytes_per_work(), remaining_heap / remaining_work);

    // Case 3, past the hard goal: live = 8997696 > 8388608. Allow 10%
    // overshoot: floor(8388608 * 1.1) = 9227468, remaining 229772 bytes.
    // update() during marking adds to heap live only, then revises.
    p.update(5_000_000, 123);
    assert_eq!(p.heap_scan(), live / 2);
    assert_eq!(p.assist_work_per_byte(), remaining_work / 229_772.0);

    // Case 4, work exhausted: remaining work floors at 1000.
    p.add_heap_scan_work(10 << 20);
    p.revise();
    assert_eq!(p.assist_work_per_byte(), 1000.0 / 229_772.0);
}

#[test]
fn end_cycle_cons_mark_feedback() {
    let p = Pacer::new(PacerConfig {
        gc_percent: 100,
        memory_limit: NO_MEMORY_LIMIT,
        gomaxprocs: 4,
    })
    .expect("valid");
    p.update(1 << 20, 0);
    p.start_cycle(0, 4, GcTriggerKind::Heap);
    // 1 ms on 4 procs with 1 ms of assist: utilization 0.25 + 0.25 = 0.5;
    // 0.5 ms idle marking: idle utilization 0.125.
    p.add_assist_time(1_000_000);
    p.set_max_idle_mark_workers(1);
    assert!(p.add_idle_mark_worker());
    p.mark_worker_stop(MarkWorkerMode::Idle, 500_000)
        .expect("one idle worker");
    p.update(300_000, 0);
    p.add_heap_scan_work(600_000);
    p.end_cycle(1_000_000, 4, false);
    // cons/mark = (300000 * (0.5 + 0.125)) / (600000 * (1 - 0.5)) = 0.625.
    assert_eq!(p.cons_mark(), 0.625);
    assert_eq!(p.last_cons_mark(), [0.0, 0.0, 0.0, 0.625]);
    assert_eq!(p.last_heap_goal(), 4 << 20);
    p.reset_live(1 << 20);
    p.commit(true);
    // runway = 0.625 * 0.75 / 0.25 * (last heap scan 600000) = 1125000.
    assert_eq!(p.runway(), 1_125_000);

    // A smaller measurement does not lower the estimate while the larger one
    // is among the last four measurements.
    for i in 0..5 {
        p.update(1 << 20, 0);
        p.start_cycle(0, 4, GcTriggerKind::Heap);
        p.update(100_000, 0);
        p.add_heap_scan_work(600_000);
        p.end_cycle(1_000_000, 4, false);
        // No assists: utilization 0.25; cons/mark = 100000*0.25/(600000*0.75).
        let current = 100_000.0 * 0.25 / (600_000.0 * 0.75);
        let expected = if i < 4 { 0.625 } else { current };
        assert_eq!(p.cons_mark(), expected, "cycle {i}");
        p.reset_live(1 << 20);
        p.commit(true);
    }

    // A cycle with no allocation leaves the estimate alone.
    let before = p.cons_mark();
    p.start_cycle(0, 4, GcTriggerKind::Heap);
    p.end_cycle(1_000_000, 4, false);
    assert_eq!(p.cons_mark(), before);
}

#[test]
fn memory_limit_goal_subtracts_non_heap_memory() {
    let limit: i64 = 256 << 20;
    let p = Pacer::new(PacerConfig {
        gc_percent: GC_PERCENT_OFF,
        memory_limit: limit,
        gomaxprocs: 4,
    })
    .expect("valid");
    assert_eq!(
        p.heap_goal(),
        apply_memory_limit_heap_goal_headroom(limit as u64)
    );
    // 100 MiB mapped: 40 MiB live objects, 10 MiB free, so 50 MiB non-heap.
    p.add_mapped_ready(100 << 20);
    p.add_total_alloc(60 << 20);
    p.add_total_free(20 << 20);
    p.add_heap_free(10 << 20);
    let expected = apply_memory_limit_heap_goal_headroom((limit as u64) - (50 << 20));
    assert_eq!(p.memory_limit_heap_goal(), expected);
    assert_eq!(p.heap_goal(), expected);
    // Over the limit by 200 MiB of mapped memory: the overage is taken off too.
    p.add_mapped_ready(200 << 20); // 300 MiB mapped, 250 MiB non-heap, 44 MiB over.
    assert_eq!(p.memory_limit_heap_goal(), p.heap_marked());
    // Inconsistent statistics (more heap than mapped) do not hang.
    p.add_total_alloc(1 << 40);
    let _ = p.memory_limit_heap_goal();
    // Lowering the limit; negative only queries.
    assert_eq!(p.set_memory_limit(-1), limit);
    assert_eq!(p.set_memory_limit(NO_MEMORY_LIMIT), limit);
    assert_eq!(p.memory_limit(), NO_MEMORY_LIMIT);
}

#[test]
fn memory_limit_headroom_helper() {
    // 3%, at least 1 MiB; a goal under twice the headroom becomes the headroom.
    assert_eq!(
        apply_memory_limit_heap_goal_headroom(512 << 20),
        (512 << 20) - (512 << 20) / 100 * 3
    );
    assert_eq!(
        apply_memory_limit_heap_goal_headroom(10 << 20),
        (10 << 20) - MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM
    );
    assert_eq!(
        apply_memory_limit_heap_goal_headroom(3 << 19),
        MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM
    );
    assert_eq!(
        apply_memory_limit_heap_goal_headroom(0),
        MEMORY_LIMIT_MIN_HEAP_GOAL_HEADROOM
    );
}

#[test]
fn configuration_errors() {
    assert_eq!(
        Pacer::new(PacerConfig {
            gomaxprocs: 0,
            ..PacerConfig::default()
        })
        .err(),
        Some(PacerError::ZeroGomaxprocs)
    );
    assert_eq!(
        Pacer::new(PacerConfig {
            memory_limit: -5,
            ..PacerConfig::default()
        })
        .err(),
        Some(PacerError::NegativeMemoryLimit(-5))
    );
}

#[test]
fn parse_environment_values() {
    use gpumark::pacer::{parse_gogc, parse_memory_limit};
    assert_eq!(parse_gogc("off"), GC_PERCENT_OFF);
    assert_eq!(parse_gogc("50"), 50);
    assert_eq!(parse_gogc(""), 100);
    assert_eq!(parse_gogc("lots"), 100);
    assert_eq!(parse_memory_limit(""), Ok(NO_MEMORY_LIMIT));
    assert_eq!(parse_memory_limit("off"), Ok(NO_MEMORY_LIMIT));
    assert_eq!(parse_memory_limit("1024"), Ok(1024));
    assert_eq!(parse_memory_limit("1024B"), Ok(1024));
    assert_eq!(parse_memory_limit("512MiB"), Ok(512 << 20));
    assert_eq!(parse_memory_limit("3GiB"), Ok(3 << 30));
    assert_eq!(parse_memory_limit("1TiB"), Ok(1 << 40));
    for bad in ["-1", "1MB", "KiB", "1.5GiB", "99999999999TiB", "B", "5kiB"] {
        assert!(
            matches!(
                parse_memory_limit(bad),
                Err(PacerError::MalformedMemoryLimit(_))
            ),
            "{bad:?} should be rejected"
        );
    }
}

#[test]
fn scannable_stack_batches_locally() {
    let p = Pacer::new(PacerConfig::default()).expect("valid");
    let mut local = 0i64;
    p.add_scannable_stack_local(&mut local, 4 << 10);
    assert_eq!((p.max_stack_scan(), local), (0, 4 << 10));
    p.add_scannable_stack_local(&mut local, 4 << 10);
    assert_eq!((p.max_stack_scan(), local), (8 << 10, 0));
    p.add_scannable_stack_local(&mut local, -(8 << 10));
    assert_eq!((p.max_stack_scan(), local), (0, 0));
    p.add_scannable_stack(2048);
    assert_eq!(p.max_stack_scan(), 2048);
}

#[test]
fn worker_split_struct_is_public() {
    let s = MarkWorkerSplit {
        dedicated_mark_workers_needed: 2,
        fractional_utilization_goal: 0.0,
    };
    assert_eq!(mark_worker_split(8), s);
}
