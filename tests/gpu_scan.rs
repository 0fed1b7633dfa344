//! The GPU scan backend ([`GpuScan`]) behind the CPU engine's callers:
//! stop-the-world marks, `drain_n` assists, background drains that flush
//! credit, hand-offs both ways, later cycles, and a device lost mid-mark.
//! Every result is checked bit for bit against the reference reachability
//! pass and the CPU engine, with equal scan work and bytes marked. Runs on
//! whatever adapter `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` select (lavapipe in
//! CI); without one it skips, or fails with `CI=true`.

#![cfg(feature = "gpu")]

mod common;

#[path = "support/shapes.rs"]
mod shapes;

use common::gpu_scan;
use gpumark::assist::{AssistCredit, AssistQueue, AssistRatios, ParkOutcome};
use gpumark::gpu::{GpuOptions, GpuScan, GpuScanOptions, GpuScanStats, OffloadPolicy};
use gpumark::heap::{build, Heap, HeapConfig, ObjRef, Shape, ShapeSpec};
use gpumark::mark::{
    mark_stw, mark_stw_with, DrainFlags, DrainHooks, GcWork, Marker, NoHooks, OBLET_SLOTS,
};
use gpumark::scan::ScanBackend;
use gpumark::verify::{check_exact, reachable};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use shapes::shape_strategy;
use std::sync::atomic::{AtomicI64, Ordering::*};
use std::sync::Arc;

fn opts(policy: OffloadPolicy) -> GpuScanOptions {
    GpuScanOptions {
        policy,
        ..GpuScanOptions::default()
    }
}

/// Marks `heap` with `threads` workers on `gpu` and on the CPU engine and
/// checks both against the reference; returns the backend's statistics for
/// the GPU mark.
fn exact_against_cpu(
    heap: &Arc<Heap>,
    gpu: &GpuScan,
    threads: usize,
) -> Result<GpuScanStats, TestCaseError> {
    let reach = reachable(heap);
    let cpu = mark_stw(heap, threads);
    gpu.reset_stats();
    let r = mark_stw_with(heap, threads, gpu);
    let stats = gpu.stats();
    prop_assert_eq!(check_exact(&r.bits, &reach), Ok(()), "threads {}", threads);
    prop_assert_eq!(r.bits.first_difference(&cpu.bits.snapshot()), None);
    prop_assert_eq!(r.marked, reach.count);
    prop_assert_eq!(
        (r.bytes_marked, r.heap_scan_work, r.root_scan_work),
        (reach.bytes, reach.heap_scan_work, reach.root_scan_work)
    );
    prop_assert_eq!(
        (r.bytes_marked, r.heap_scan_work),
        (cpu.bytes_marked, cpu.heap_scan_work)
    );
    prop_assert!(!gpu.has_pending_work());
    // Every piece of heap scan work is accounted to one side exactly once.
    prop_assert_eq!(
        stats.gpu_scan_work + stats.cpu_scan_work,
        reach.heap_scan_work as u64,
        "{:?}",
        stats
    );
    Ok(stats)
}

/// `Always`: the GPU does all of the heap scan work (roots are host work and
/// counted on neither side), so `gpu_scan_fraction` is 1 whenever there was
/// heap work.
fn assert_all_on_gpu(stats: &GpuScanStats) -> Result<(), TestCaseError> {
    prop_assert_eq!(stats.cpu_scan_work, 0, "{:?}", stats);
    if stats.gpu_scan_work > 0 {
        prop_assert_eq!(stats.gpu_scan_fraction(), 1.0);
    }
    prop_assert_eq!(stats.handoffs_to_cpu, 0);
    Ok(())
}

/// Runs `f` on `cases` random shapes (`PROPTEST_CASES` overrides, for a
/// longer soak).
fn run_cases(cases: u32, f: impl Fn(ShapeSpec) -> Result<(), TestCaseError>) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(e) = runner.run(&shape_strategy(), f) {
        panic!("{e}");
    }
}

/// Both scan kernels: the adapter's default (subgroup where it has them)
/// and the portable one (queue space reserved per workgroup).
#[test]
fn always_is_exact_on_random_shapes() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    let Some(portable) = gpu_scan(GpuScanOptions {
        gpu: GpuOptions {
            allow_subgroups: false,
            ..GpuOptions::default()
        },
        ..opts(OffloadPolicy::Always)
    }) else {
        return;
    };
    assert_eq!(portable.context().scan_kernel(), "scan_workgroup");
    run_cases(12, |spec| {
        let heap = Arc::new(build(&spec));
        for threads in [1, 2] {
            for g in [&gpu, &portable] {
                let stats = exact_against_cpu(&heap, g, threads)?;
                assert_all_on_gpu(&stats)?;
            }
        }
        Ok(())
    });
}

/// Each shape once at a size with real structure: `wide` with arrays of
/// more than one oblet, `list` with thousands of levels.
#[test]
fn always_is_exact_on_every_shape_at_size() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    for shape in Shape::ALL {
        let objects = match shape {
            // 4 arrays of 17_499 slots: two oblets each.
            Shape::Wide => 70_000,
            Shape::List => 3_000,
            _ => 20_000,
        };
        let heap = Arc::new(build(&ShapeSpec {
            shape,
            objects,
            ptrs: 3,
            roots: 32,
            seed: 5,
        }));
        if shape == Shape::Wide {
            assert!(heap.desc(0).nslots > OBLET_SLOTS);
        }
        let stats = exact_against_cpu(&heap, &gpu, 2).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
        assert_all_on_gpu(&stats).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
        println!(
            "{shape:?}: {} batches, {} readback bytes, upload {:.1} ms, gpu {:.1} ms",
            stats.batches,
            stats.readback_bytes,
            stats.upload_s * 1e3,
            stats.gpu_s * 1e3
        );
    }
}

/// A heap past two million objects: the bitmap merge at the end of the mark
/// is split across threads (where the machine has two cores or more).
#[test]
fn always_is_exact_on_a_heap_whose_merge_is_split() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::Tree,
        objects: (1 << 21) + 12_345,
        ptrs: 2,
        roots: 3,
        seed: 2,
    }));
    let stats = exact_against_cpu(&heap, &gpu, 2).unwrap_or_else(|e| panic!("{e}"));
    assert_all_on_gpu(&stats).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn auto_is_exact_on_random_shapes() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Auto)) else {
        return;
    };
    // And with a small fixed threshold, so that small heaps hand off too.
    let Some(small) = gpu_scan(GpuScanOptions {
        handoff_threshold: Some(16),
        ..opts(OffloadPolicy::Auto)
    }) else {
        return;
    };
    run_cases(12, |spec| {
        let heap = Arc::new(build(&spec));
        for threads in [1, 2] {
            exact_against_cpu(&heap, &gpu, threads)?;
            exact_against_cpu(&heap, &small, threads)?;
        }
        Ok(())
    });
    let model = gpu
        .offload_model()
        .expect("Auto calibrates at its first phase");
    println!(
        "{}: offload model {model:?}, threshold {:?} items",
        gpu.adapter(),
        gpu.handoff_threshold()
    );
    assert_eq!(gpu.handoff_threshold(), Some(model.threshold()));
}

/// A threshold above the most grey items the heap can hold (what a software
/// driver measures: its slots cost more than the CPU's) means the GPU can
/// win no level: the phase skips the GPU, with no hand-off, and all the
/// workers run the CPU engine's drain.
#[test]
fn auto_skips_a_gpu_that_never_pays() {
    let Some(gpu) = gpu_scan(GpuScanOptions {
        handoff_threshold: Some(u64::MAX),
        ..opts(OffloadPolicy::Auto)
    }) else {
        return;
    };
    for shape in [Shape::Random, Shape::Wide, Shape::List] {
        let heap = Arc::new(build(&ShapeSpec {
            shape,
            objects: 20_000,
            ptrs: 4,
            roots: 8,
            seed: 3,
        }));
        for threads in [1, 2] {
            let s = exact_against_cpu(&heap, &gpu, threads)
                .unwrap_or_else(|e| panic!("{shape:?} x{threads}: {e}"));
            assert_eq!(
                (s.batches, s.handoffs_to_cpu, s.gpu_scan_work),
                (0, 0, 0),
                "{shape:?} x{threads}: {s:?}"
            );
            assert!(s.cpu_scan_work > 0, "{s:?}");
        }
    }
}

/// With a fixed, small threshold the frontier of a random graph starts
/// narrow (a few roots: CPU) and widens (GPU): both hand-offs happen and the
/// result stays exact. (A stop-the-world batch has no budget, so the GPU
/// takes the narrow end of the mark too, within its one batch.)
#[test]
fn auto_hands_off_both_ways_and_stays_exact() {
    let Some(gpu) = gpu_scan(GpuScanOptions {
        handoff_threshold: Some(64),
        ..opts(OffloadPolicy::Auto)
    }) else {
        return;
    };
    for (shape, objects) in [
        (Shape::Random, 30_000),
        (Shape::PowerLaw, 30_000),
        (Shape::Tree, 30_000),
        (Shape::Wide, 70_000),
        (Shape::List, 5_000),
    ] {
        let heap = Arc::new(build(&ShapeSpec {
            shape,
            objects,
            ptrs: 3,
            roots: 4,
            seed: 9,
        }));
        for threads in [1, 2] {
            let s = exact_against_cpu(&heap, &gpu, threads)
                .unwrap_or_else(|e| panic!("{shape:?} x{threads}: {e}"));
            println!(
                "{shape:?} x{threads}: gpu fraction {:.3}, to cpu {}, to gpu {}",
                s.gpu_scan_fraction(),
                s.handoffs_to_cpu,
                s.handoffs_to_gpu
            );
            match shape {
                Shape::List => assert_eq!(s.gpu_scan_work, 0, "a chain never widens"),
                Shape::Random | Shape::Tree => {
                    assert!(s.handoffs_to_cpu >= 1 && s.handoffs_to_gpu >= 1, "{s:?}");
                    let f = s.gpu_scan_fraction();
                    assert!(f > 0.5 && f < 1.0, "{s:?}");
                }
                _ => {}
            }
        }
    }
}

/// 4096-byte bindings split the object table, the slots and the queue
/// across several bindings each; marking through the backend stays exact.
/// A heap that cannot fit at all is refused with the mirror's error and
/// marked on the CPU.
#[test]
fn small_bindings_split_the_heap_and_a_heap_too_large_goes_to_the_cpu() {
    let Some(gpu) = gpu_scan(GpuScanOptions {
        gpu: GpuOptions {
            max_binding_bytes: Some(4096),
            ..GpuOptions::default()
        },
        ..opts(OffloadPolicy::Always)
    }) else {
        return;
    };
    assert_eq!(gpu.context().max_binding_bytes(), 4096);
    // 1000 objects x 6 slots: 4 object, 6 slot and 2 queue bindings.
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::Random,
        objects: 1_000,
        ptrs: 6,
        roots: 8,
        seed: 6,
    }));
    for threads in [1, 2] {
        let s = exact_against_cpu(&heap, &gpu, threads).unwrap();
        assert_all_on_gpu(&s).unwrap();
        assert!(s.heap_refused.is_none());
    }
    // 4 object bindings of 256 entries hold 1024 objects; 2000 do not fit.
    let big = Arc::new(build(&ShapeSpec {
        shape: Shape::Random,
        objects: 2_000,
        ptrs: 2,
        roots: 8,
        seed: 7,
    }));
    match gpu.prepare(&big) {
        Err(gpumark::gpu::GpuError::HeapTooLarge { what, .. }) => assert_eq!(what, "object table"),
        other => panic!("expected HeapTooLarge, got {other:?}"),
    }
    let s = exact_against_cpu(&big, &gpu, 2).unwrap();
    assert_eq!(s.gpu_scan_work, 0);
    assert!(s.heap_refused.unwrap().contains("object table"));
    assert!(!gpu.is_dead(), "a refused heap does not end the GPU path");
    // The first heap still marks on the GPU.
    assert_all_on_gpu(&exact_against_cpu(&heap, &gpu, 1).unwrap()).unwrap();
}

/// A marker with roots prepared: what an assist sees.
fn started(spec: ShapeSpec) -> (Arc<Heap>, Marker) {
    let heap = Arc::new(build(&spec));
    let m = Marker::new(heap.clone());
    m.prepare_roots();
    m.set_nproc(1);
    (heap, m)
}

fn random(objects: u32, seed: u64) -> ShapeSpec {
    ShapeSpec {
        shape: Shape::Random,
        objects,
        ptrs: 4,
        roots: 64,
        seed,
    }
}

fn counters(m: &Marker) -> i64 {
    m.heap_scan_work() + m.stack_scan_work() + m.globals_scan_work()
}

#[test]
fn drain_n_honours_its_budget_within_one_level() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    let (heap, m) = started(random(100_000, 11));
    let reach = reachable(&heap);
    let mut gcw = GcWork::new();
    let mut total = 0;
    let mut budget_stops = 0;
    for ask in [1, 100, 2_000, 8_005, 50_000, 200_000, 30_000, 1_000] {
        let before = counters(&m) + gcw.heap_scan_work();
        let batches = gpu.stats().batches;
        let done = m.drain_n_with(&mut gcw, ask, &NoHooks, &gpu);
        // What drain_n returns is exactly what reached the marker's counters
        // or waits in the worker's cache to be flushed (and what a caller
        // would credit).
        assert_eq!(
            done,
            counters(&m) + gcw.heap_scan_work() - before,
            "ask {ask}"
        );
        total += done;
        assert!(done >= ask, "asked {ask}, did {done}");
        if gpu.stats().batches > batches {
            assert!(gpu.has_pending_work(), "the heap is far from marked");
            // The batch stopped in the first level that reached its budget.
            let c = gpu.stats().last_batch.unwrap();
            assert!(
                c.scan_work - c.last_level_scan_work < ask as u64,
                "ask {ask}: {c:?}"
            );
            assert!(
                done < ask + c.last_level_scan_work as i64,
                "ask {ask}: {c:?}"
            );
            budget_stops += 1;
        }
    }
    assert!(budget_stops >= 6, "{budget_stops}");
    // Run out of work: less than asked, and everything.
    let rest = m.drain_n_with(&mut gcw, i64::MAX, &NoHooks, &gpu);
    total += rest;
    assert!(!gpu.has_pending_work());
    m.dispose(&mut gcw);
    assert!(gpu.settle(&m));
    assert_eq!(total, reach.heap_scan_work + reach.root_scan_work);
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
    assert_eq!(m.bytes_marked(), reach.bytes);
    let s = gpu.stats();
    assert_eq!(
        (s.gpu_scan_work, s.cpu_scan_work),
        (reach.heap_scan_work as u64, 0)
    );
}

/// Background-worker hooks that pay the assist queue.
struct BgCredit<'a> {
    queue: &'a AssistQueue,
    ratios: &'a AssistRatios,
    flushed: AtomicI64,
}

impl DrainHooks for BgCredit<'_> {
    fn flush_bg_credit(&self, scan_work: i64) {
        self.flushed.fetch_add(scan_work, Relaxed);
        self.queue.flush_bg_credit(scan_work, *self.ratios);
    }
}

fn one_to_one() -> AssistRatios {
    AssistRatios {
        work_per_byte: 1.0,
        bytes_per_work: 1.0,
    }
}

/// An assist parked with a debt larger than all root work is woken by the
/// credit of GPU batches, flushed as a background drain runs them.
#[test]
fn gpu_credit_wakes_a_parked_assist() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    let (heap, m) = started(random(60_000, 12));
    let reach = reachable(&heap);
    let queue = AssistQueue::new();
    queue.set_blacken_enabled(true);
    let ratios = one_to_one();
    let debt = 100_000;
    assert!(reach.root_scan_work < debt && reach.heap_scan_work > 2 * debt);
    let debtor = Arc::new(AssistCredit::default());
    debtor.set_bytes(-debt);
    let hooks = BgCredit {
        queue: &queue,
        ratios: &ratios,
        flushed: AtomicI64::new(0),
    };
    let outcome = std::thread::scope(|s| {
        let parked = s.spawn(|| queue.park(&debtor));
        while queue.is_empty() {
            std::thread::yield_now();
        }
        let mut gcw = GcWork::new();
        m.drain_with(
            &mut gcw,
            DrainFlags::NO_BLOCK | DrainFlags::FLUSH_BG_CREDIT,
            &hooks,
            &gpu,
        );
        m.dispose(&mut gcw);
        assert!(gpu.settle(&m));
        parked.join().unwrap()
    });
    assert_eq!(outcome, ParkOutcome::Woken);
    assert!(debtor.bytes() >= 0, "woken with its debt paid");
    assert_eq!(queue.parks(), 1);
    let s = gpu.stats();
    assert!(s.batches >= 2, "credit flushed batch by batch: {s:?}");
    assert_eq!(
        (s.gpu_scan_work, s.cpu_scan_work),
        (reach.heap_scan_work as u64, 0)
    );
    // Every unit of work was flushed as credit, the GPU's included.
    assert_eq!(
        hooks.flushed.load(Relaxed),
        reach.heap_scan_work + reach.root_scan_work
    );
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
}

#[test]
#[cfg(feature = "testing")] // the fault-injection hook
fn device_lost_mid_mark_finishes_exactly_on_the_cpu() {
    // A chain: the GPU marks it over several batches (levels per batch
    // double from 64), and is lost in the third.
    for threads in [1, 2] {
        let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
            return;
        };
        let heap = Arc::new(build(&ShapeSpec {
            shape: Shape::List,
            objects: 2_000,
            ptrs: 1,
            roots: 0,
            seed: 0,
        }));
        gpu.inject_device_lost_after(2);
        let s = exact_against_cpu(&heap, &gpu, threads).unwrap();
        assert!(gpu.is_dead(), "the injected loss happened");
        assert!(s.device_lost.as_deref().unwrap().contains("lost"), "{s:?}");
        assert!(s.batches >= 2 && s.cpu_scan_work > 0, "{s:?}");
        // Later marks run on the CPU, exactly.
        let s = exact_against_cpu(&heap, &gpu, threads).unwrap();
        assert_eq!((s.gpu_scan_work, s.batches), (0, 0));
    }

    // A random graph part-marked by drain_n (the GPU queue holds greys and
    // its bitmap has marks the host has not seen), then lost.
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    let (heap, m) = started(random(50_000, 13));
    let reach = reachable(&heap);
    let mut gcw = GcWork::new();
    let mut total = 0;
    for _ in 0..3 {
        total += m.drain_n_with(&mut gcw, 40_000, &NoHooks, &gpu);
    }
    assert!(gpu.has_pending_work());
    gpu.inject_device_lost_after(0);
    m.drain_with(&mut gcw, DrainFlags::NO_BLOCK, &NoHooks, &gpu);
    m.dispose(&mut gcw);
    assert!(gpu.settle(&m));
    assert!(gpu.is_dead() && !gpu.has_pending_work());
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
    assert_eq!(m.bytes_marked(), reach.bytes);
    assert_eq!(m.heap_scan_work(), reach.heap_scan_work);
    assert!(total > 0);
}

/// While the GPU marks, the host greys objects the GPU may already have
/// marked (as the write barrier does). Those the GPU won are dropped as
/// duplicates, the others are uploaded before they are pushed: nothing is
/// lost, scanned twice, or counted twice.
#[test]
fn host_shades_during_gpu_marking_are_neither_lost_nor_counted_twice() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    let (heap, m) = started(random(40_000, 14));
    let reach = reachable(&heap);
    let mut gcw = GcWork::new();
    // About half of the heap's scan work on the GPU, not yet merged.
    m.drain_n_with(&mut gcw, reach.heap_scan_work / 2, &NoHooks, &gpu);
    assert!(gpu.has_pending_work());
    // Shade reachable objects the host has not marked: some the GPU has.
    let mut shaded = 0;
    for obj in (0..heap.len()).step_by(97) {
        if reach.contains(obj) && !m.bits().is_marked(obj) {
            m.shade(ObjRef(obj), &mut gcw);
            shaded += 1;
        }
    }
    assert!(shaded > 100, "{shaded}");
    m.drain_with(&mut gcw, DrainFlags::NO_BLOCK, &NoHooks, &gpu);
    m.dispose(&mut gcw);
    assert!(gpu.settle(&m));
    let s = gpu.stats();
    assert!(
        s.duplicates > 0,
        "some shaded objects were the GPU's: {s:?}"
    );
    assert!(s.duplicates < shaded, "some were not: {s:?}");
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
    assert_eq!(m.bytes_marked(), reach.bytes);
    assert_eq!(m.heap_scan_work(), reach.heap_scan_work);
    assert_eq!(s.gpu_scan_work, reach.heap_scan_work as u64);
}

/// Mutates a heap between cycles (new objects, rewired and cut pointers) and
/// marks it again with the same backend, which uploads only the objects
/// allocated since and the slots on dirty cards.
#[test]
fn later_cycles_upload_only_what_changed_and_stay_exact() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    let n = 20_000u32;
    let heap = Heap::new(HeapConfig {
        max_objects: 2 * n,
        max_slots: 8 * n,
        globals: 4,
    });
    let mut x = 1u64;
    let mut next = |m: u32| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % u64::from(m)) as u32
    };
    for _ in 0..n {
        heap.alloc(48, 3).unwrap();
    }
    for o in 0..n {
        for s in 0..3 {
            if next(4) != 0 {
                heap.store(ObjRef(o), s, Some(ObjRef(next(n)))).unwrap();
            }
        }
    }
    heap.set_global(0, Some(ObjRef(0))).unwrap();
    let heap = Arc::new(heap);
    let first = exact_against_cpu(&heap, &gpu, 1).unwrap();
    assert!(first.upload_bytes >= u64::from(n) * (12 + 3 * 4));
    for cycle in 0..3 {
        // New objects, reachable only through rewired slots; some pointers cut.
        let len = heap.len();
        for _ in 0..1_000 {
            let o = heap.alloc(32, 2).unwrap();
            heap.store(o, 0, Some(ObjRef(next(len)))).unwrap();
        }
        for _ in 0..300 {
            // The first n objects have 3 slots, the later ones 2.
            let to = ObjRef(len + next(1_000));
            heap.store(ObjRef(next(n)), next(3), Some(to)).unwrap();
            heap.store(ObjRef(next(n)), next(3), None).unwrap();
        }
        let s = exact_against_cpu(&heap, &gpu, 2).unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
        assert_all_on_gpu(&s).unwrap();
        // Far less than the first upload: the 1000 new objects and a few
        // hundred 4 KiB cards of slots.
        assert!(
            s.upload_bytes < first.upload_bytes,
            "cycle {cycle}: {} vs {}",
            s.upload_bytes,
            first.upload_bytes
        );
    }
}

#[test]
fn no_adapter_means_the_cpu_path() {
    let backend = GpuScan::new_or_cpu(&GpuScanOptions {
        gpu: GpuOptions {
            adapter_name: Some("no-such-adapter-anywhere".into()),
            ..GpuOptions::default()
        },
        ..GpuScanOptions::default()
    });
    assert_eq!(backend.name(), "cpu");
    let heap = Arc::new(build(&random(5_000, 15)));
    let reach = reachable(&heap);
    let r = mark_stw_with(&heap, 2, backend.as_ref());
    assert_eq!(check_exact(&r.bits, &reach), Ok(()));
}

/// Roots without pointer slots are blackened on the host at once and have no
/// grey item to push (so their bits do not reach the GPU with one); the GPU,
/// which reaches them through pointers too, wins them again. Found by the
/// proptest above as a one-object excess in bytes marked: the merge must
/// take the host's count back.
#[test]
fn objects_marked_on_both_sides_are_counted_once() {
    let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
        return;
    };
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::PowerLaw,
        objects: 1779,
        ptrs: 2,
        roots: 8,
        seed: 2084072452429714720,
    }));
    for _ in 0..10 {
        for threads in [1, 2] {
            let s = exact_against_cpu(&heap, &gpu, threads).unwrap();
            assert!(s.duplicates > 0, "{s:?}");
        }
    }
}

struct Credit<'a>(&'a AtomicI64);

impl DrainHooks for Credit<'_> {
    fn flush_bg_credit(&self, w: i64) {
        self.0.fetch_add(w, Relaxed);
    }
}

/// One round of `concurrent_drains_assists_and_shades_mark_exactly`.
fn concurrent_round(gpu: &GpuScan, spec: ShapeSpec) {
    let heap = Arc::new(build(&spec));
    let m = Marker::new(heap.clone());
    m.prepare_roots();
    m.set_nproc(3);
    let reach = reachable(&heap);
    let credit = AtomicI64::new(0);
    std::thread::scope(|s| {
        // A background worker, twice over.
        s.spawn(|| {
            for _ in 0..3 {
                let mut gcw = GcWork::new();
                m.drain_with(
                    &mut gcw,
                    DrainFlags::NO_BLOCK | DrainFlags::FLUSH_BG_CREDIT,
                    &Credit(&credit),
                    gpu,
                );
                m.dispose(&mut gcw);
            }
        });
        // An assist.
        s.spawn(|| {
            for _ in 0..6 {
                let mut gcw = GcWork::new();
                m.drain_n_with(&mut gcw, 20_000, &NoHooks, gpu);
                m.dispose(&mut gcw);
            }
        });
        // A mutator's barrier shading reachable objects.
        s.spawn(|| {
            let mut gcw = GcWork::new();
            for obj in (0..heap.len()).step_by(53) {
                if reach.contains(obj) {
                    m.shade(ObjRef(obj), &mut gcw);
                }
            }
            m.drain_n_with(&mut gcw, 1, &NoHooks, gpu);
            m.dispose(&mut gcw);
        });
    });
    let mut gcw = GcWork::new();
    m.drain_with(&mut gcw, DrainFlags::NO_BLOCK, &NoHooks, gpu);
    m.dispose(&mut gcw);
    assert!(gpu.settle(&m));
    let what = format!(
        "{spec:?} on {} ({:?})",
        gpu.policy(),
        gpu.handoff_threshold()
    );
    assert!(!gpu.has_pending_work() && !m.work_available(), "{what}");
    assert_eq!(check_exact(m.bits(), &reach), Ok(()), "{what}");
    assert_eq!(
        m.bytes_marked(),
        reach.bytes,
        "{what}: scan work {} of {}: {:?}",
        m.heap_scan_work(),
        reach.heap_scan_work,
        gpu.stats()
    );
    assert_eq!(
        m.heap_scan_work(),
        reach.heap_scan_work,
        "{what}: {:?}",
        gpu.stats()
    );
}

/// Background drains, assists' `drain_n` and barrier-like shades running at
/// once on one marker: one thread drives the GPU at a time, the others wait
/// or leave, shaded objects race with the GPU's marking, and with `auto` the
/// work moves between the GPU and the CPU while they do. A final drain
/// finishes; the result is exact with both policies, and with the device
/// lost in the middle. `CONCURRENT_ROUNDS` repeats it (a soak).
#[test]
fn concurrent_drains_assists_and_shades_mark_exactly() {
    let rounds: u64 = std::env::var("CONCURRENT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let backends: Vec<GpuScan> = [None, Some(64), Some(1024)]
        .into_iter()
        .filter_map(|t| {
            gpu_scan(match t {
                None => opts(OffloadPolicy::Always),
                Some(t) => GpuScanOptions {
                    handoff_threshold: Some(t),
                    ..opts(OffloadPolicy::Auto)
                },
            })
        })
        .collect();
    if backends.is_empty() {
        return;
    }
    for round in 0..rounds {
        for (shape, objects) in [
            (Shape::Random, 30_000),
            (Shape::PowerLaw, 30_000),
            (Shape::Wide, 70_000),
        ] {
            let spec = ShapeSpec {
                shape,
                objects,
                ptrs: 4,
                roots: 64,
                seed: 20 + round,
            };
            for gpu in &backends {
                concurrent_round(gpu, spec);
            }
            // The device lost at the first or second batch (a fresh
            // backend: a lost one stays lost). The hook needs `testing`.
            #[cfg(feature = "testing")]
            for k in [0, 1] {
                let Some(gpu) = gpu_scan(opts(OffloadPolicy::Always)) else {
                    return;
                };
                gpu.inject_device_lost_after(k);
                concurrent_round(&gpu, spec);
                let s = gpu.stats();
                assert!(gpu.is_dead() || s.batches <= u64::from(k), "{s:?}");
            }
        }
    }
}
