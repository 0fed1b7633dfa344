//! The GPU under Go's drain loops: the invariants of the inbox protocol
//! (`src/gpu/backend/shadow.rs`), each checked against the reference
//! reachability pass.
//!
//! - one scanner per object: the heap scan work equals the reachable
//!   objects' slots, exactly (an object scanned twice would show);
//! - shaded implies eventually scanned: the marks equal reachability;
//! - bytes counted once: bytes marked equal the reachable objects' sizes;
//! - an assist never waits for the GPU: its `drain_n` returns while another
//!   worker's batch is in flight;
//! - a stop-the-world mark moves the bitmap once: its readback is the
//!   batches' counter blocks plus one bitmap.
//!
//! Mutators race the inbox in a property test: threads shade objects (as
//! the write barrier does) while a background drain and assists run
//! batches. Runs on the adapter `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` select
//! (lavapipe in CI); without one it skips, or fails with `CI=true`.

#![cfg(feature = "gpu")]

mod common;

use common::gpu_scan;
use gpumark::gpu::{GpuScan, GpuScanOptions, OffloadPolicy};
use gpumark::heap::{build, ObjRef, Shape, ShapeSpec};
use gpumark::mark::{mark_stw_with, DrainFlags, DrainHooks, GcWork, Marker, NoHooks};
use gpumark::scan::ScanBackend;
use gpumark::verify::{check_exact, reachable};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn always() -> GpuScanOptions {
    GpuScanOptions {
        policy: OffloadPolicy::Always,
        ..GpuScanOptions::default()
    }
}

/// Bytes of the counter block every batch reads back.
const COUNTER_BLOCK_BYTES: u64 = 128;

/// A stop-the-world mark with two workers reads back its batches' counter
/// blocks and one bitmap (the merge at the end), nothing else: no bitmap per
/// batch, however many batches the two workers run; and the merge maps
/// the bitmap the last batch staged, with no submission of its own.
#[test]
fn a_stop_the_world_mark_reads_back_one_bitmap() {
    let Some(gpu) = gpu_scan(always()) else {
        return;
    };
    for (shape, objects) in [(Shape::Random, 200_000), (Shape::List, 3_000)] {
        let heap = Arc::new(build(&ShapeSpec {
            shape,
            objects,
            ptrs: 4,
            roots: 64,
            seed: 3,
        }));
        gpu.prepare(&heap).unwrap();
        gpu.reset_stats();
        let r = mark_stw_with(&heap, 2, &gpu);
        let reach = reachable(&heap);
        assert_eq!(check_exact(&r.bits, &reach), Ok(()));
        let s = gpu.stats();
        let bitmap = u64::from(heap.len().div_ceil(32)) * 4;
        assert!(s.batches >= 1, "{s:?}");
        assert_eq!(
            s.readback_bytes,
            s.batches * COUNTER_BLOCK_BYTES + bitmap,
            "{shape:?}: {s:?}"
        );
        // Submissions: the phase start's two (the heap's changes, then the
        // cleared bitmap and queue) and one per batch. The merge maps the
        // bitmap its last batch staged: none of its own.
        assert_eq!(s.submissions, s.batches + 2, "{shape:?}: {s:?}");
    }
}

/// While one worker's batch holds the device, an assist's `drain_n` with
/// grey work in hand returns at once: its step finds the device busy, gives
/// its items back, finds no root job, and returns without scanning. The
/// bound: it returns while the batch is still in flight, in a small part of
/// the batch's time, and what it held is scanned afterwards.
#[test]
fn an_assist_returns_while_a_worker_holds_the_gpu() {
    let Some(gpu) = gpu_scan(always()) else {
        return;
    };
    // One unbudgeted batch marks this whole heap: long on any adapter.
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::Random,
        objects: 400_000,
        ptrs: 4,
        roots: 64,
        seed: 5,
    }));
    gpu.prepare(&heap).unwrap();
    let reach = reachable(&heap);
    let m = Marker::new(heap.clone());
    m.prepare_roots();
    gpu.phase_start(&m);
    m.set_nproc(1);
    let worker_done = AtomicBool::new(false);
    let (assist_s, worker_s, work, held) = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let t = Instant::now();
            let mut gcw = GcWork::new();
            m.drain_with(&mut gcw, DrainFlags::empty(), &NoHooks, &gpu);
            m.dispose(&mut gcw);
            worker_done.store(true, SeqCst);
            t.elapsed()
        });
        // Wait for the worker's step to hold the device.
        let t = Instant::now();
        while !gpu.busy() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the worker never stepped"
            );
            std::thread::yield_now();
        }
        // The assist: grey work in hand (objects the worker's batch will
        // mark too, as a barrier's shades are), and a budget.
        let mut gcw = GcWork::new();
        for obj in (0..heap.len()).step_by(1001) {
            if reach.contains(obj) {
                m.shade(ObjRef(obj), &mut gcw);
            }
        }
        let t = Instant::now();
        let work = m.drain_n_with(&mut gcw, 1_000_000, &NoHooks, &gpu);
        let assist_s = t.elapsed();
        let in_flight = !worker_done.load(SeqCst) && gpu.busy();
        assert!(
            in_flight,
            "the batch ended before the assist returned: no test"
        );
        let held = gcw.cached();
        // Publish what the assist held, as the collector's assist does.
        m.dispose(&mut gcw);
        (assist_s, worker.join().unwrap(), work, held)
    });
    assert_eq!(work, 0, "the assist scanned nothing");
    assert!(held > 0, "its items went back into its cache");
    assert!(
        assist_s * 10 < worker_s,
        "the assist took {assist_s:?}, the worker's drain {worker_s:?}"
    );
    // What the assist gave back (already marked in the host's bitmap) is
    // scanned by a later drain: the GPU drops its copies, and the result is
    // exact with each object scanned and counted once.
    let mut gcw = GcWork::new();
    m.set_nproc(1);
    m.drain_with(&mut gcw, DrainFlags::empty(), &NoHooks, &gpu);
    m.dispose(&mut gcw);
    assert!(gpu.settle(&m));
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
    assert_eq!(m.bytes_marked(), reach.bytes);
    assert_eq!(m.heap_scan_work(), reach.heap_scan_work);
}

/// The GPU queue can run dry early in a concurrent phase (the first greys
/// were few), and the idle merge then brings almost nothing into the host's
/// bitmap. Once the GPU has marked more since than it had then, the next
/// dry queue merges again: the host's bitmap holds the bulk before the
/// phase settles, so the write barrier finds it marked and termination
/// converges. (With one idle merge a phase, the first cycle of 2 in 16 of
/// host-bench's concurrent lavapipe runs chased the mutators' shades until
/// the arena filled.)
#[test]
fn a_dry_queue_merges_again_once_the_gpu_has_marked_the_bulk() {
    let Some(gpu) = gpu_scan(always()) else {
        return;
    };
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::Tree,
        objects: 100_000,
        ptrs: 4,
        roots: 0,
        seed: 9,
    }));
    let reach = reachable(&heap);
    assert!(reach.contains(0) && reach.count == u64::from(heap.len()));
    gpu.prepare(&heap).unwrap();
    // The tree's root is global 0: out of the root set while the phase
    // starts, put back (and shaded, as the barrier would) later.
    let root = heap.set_global(0, None).unwrap();
    assert_eq!(root, Some(ObjRef(0)));
    let m = Marker::new(heap.clone());
    m.prepare_roots();
    gpu.phase_start(&m);
    m.set_nproc(1);
    // A drain with a budget, as the collector's background workers run.
    let drain = |obj: u32| {
        let mut gcw = GcWork::new();
        m.shade(ObjRef(obj), &mut gcw);
        let flags = DrainFlags::NO_BLOCK | DrainFlags::FLUSH_BG_CREDIT;
        m.drain_with(&mut gcw, flags, &NoHooks, &gpu);
        m.dispose(&mut gcw);
        assert!(!gpu.has_pending_work() && !m.work_available());
    };

    // Near the bottom of the tree: a few objects, and the queue is dry.
    let small = (0..heap.len())
        .rev()
        .find(|&o| heap.desc(o).nslots > 0)
        .expect("an object with slots");
    drain(small);
    let early = m.bits().count();
    assert!(early < 10, "{early} objects below {small}");
    assert!(gpu.stats().batches > 0, "{:?}", gpu.stats());

    // The root: the GPU marks the bulk, and its bitmap reaches the host's
    // at the dry queue, not only at the settle.
    heap.set_global(0, root).unwrap();
    drain(0);
    assert_eq!(check_exact(m.bits(), &reach), Ok(()), "before the settle");
    assert!(gpu.settle(&m));
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
    assert_eq!(m.bytes_marked(), reach.bytes);
    assert_eq!(m.heap_scan_work(), reach.heap_scan_work);
}

struct Credit<'a>(&'a AtomicI64);

impl DrainHooks for Credit<'_> {
    fn flush_bg_credit(&self, w: i64) {
        self.0.fetch_add(w, Relaxed);
    }
}

/// One race: a background drain flushing credit, assists with small
/// budgets, and `mutators` threads shading reachable objects (every
/// `stride`-th, from different starts) into their own caches and handing
/// them over through `drain_n`, all on one marker. A last drain and the
/// settle finish; then the invariants.
fn race(gpu: &GpuScan, spec: ShapeSpec, mutators: u32, stride: u32) -> Result<(), String> {
    let heap = Arc::new(build(&spec));
    let m = Marker::new(heap.clone());
    m.prepare_roots();
    gpu.phase_start(&m);
    let reach = reachable(&heap);
    let credit = AtomicI64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..2 {
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
        for k in 0..mutators {
            let (m, heap, reach) = (&m, &heap, &reach);
            s.spawn(move || {
                let mut gcw = GcWork::new();
                let mut obj = k;
                while obj < heap.len() {
                    if reach.contains(obj) {
                        m.shade(ObjRef(obj), &mut gcw);
                    }
                    obj += stride;
                    if obj % (16 * stride) < stride {
                        m.drain_n_with(&mut gcw, 4_000, &NoHooks, gpu);
                    }
                }
                m.dispose(&mut gcw);
            });
        }
    });
    let mut gcw = GcWork::new();
    m.drain_with(&mut gcw, DrainFlags::NO_BLOCK, &NoHooks, gpu);
    m.dispose(&mut gcw);
    if !gpu.settle(&m) || gpu.has_pending_work() || m.work_available() {
        return Err("work left after the last drain".into());
    }
    check_exact(m.bits(), &reach).map_err(|e| format!("marks: {e}"))?;
    let want = (reach.bytes, reach.heap_scan_work);
    let got = (m.bytes_marked(), m.heap_scan_work());
    if got != want {
        return Err(format!(
            "bytes and scan work {got:?}, want {want:?}: {:?}",
            gpu.stats()
        ));
    }
    Ok(())
}

/// Mutators race the GPU's inbox: their shades reach the device while its
/// batches mark the same objects, on random shapes, mutator counts and
/// strides, with `always` and with `auto` hand-offs both ways.
#[test]
fn mutators_racing_the_inbox_lose_nothing_and_count_nothing_twice() {
    let backends: Vec<GpuScan> = [None, Some(256)]
        .into_iter()
        .filter_map(|t| {
            gpu_scan(match t {
                None => always(),
                Some(t) => GpuScanOptions {
                    policy: OffloadPolicy::Auto,
                    handoff_threshold: Some(t),
                    ..GpuScanOptions::default()
                },
            })
        })
        .collect();
    if backends.is_empty() {
        return;
    }
    let cases: u32 = std::env::var("INBOX_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let strategy = (
        prop_oneof![
            Just(Shape::Random),
            Just(Shape::PowerLaw),
            Just(Shape::Wide),
            Just(Shape::Tree)
        ],
        2_000u32..40_000,
        any::<u64>(),
        1u32..=4,
        3u32..200,
    );
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(shape, objects, seed, mutators, stride)| {
            let spec = ShapeSpec {
                shape,
                objects,
                ptrs: 4,
                roots: 32,
                seed,
            };
            for gpu in &backends {
                race(gpu, spec, mutators, stride).map_err(|e| {
                    TestCaseError::fail(format!("{spec:?} on {}: {e}", gpu.policy()))
                })?;
            }
            Ok(())
        })
        .unwrap();
    // The race was one: shades went through the inbox, and some found the
    // GPU had their objects already.
    let s = backends[0].stats();
    assert!(s.inbox_objects > 0 && s.duplicates > 0, "{s:?}");
}
