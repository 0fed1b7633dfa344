//! The kernels' operation counts ([`OpCounts`], `GpuOptions::count_ops`):
//! what a stop-the-world mark costs the device, by category, held to the
//! bounds the kernels are built for. The counts do not depend on the
//! adapter, so these hold on lavapipe as on a GPU: at most 2 atomics on the
//! control block's line per 1024 edges, one descriptor read per marked
//! object (a little over, for large objects' oblets), no empty level, and
//! no workgroup scanning more than 65,536 slots in one dispatch.
//!
//! `OPS_OBJECTS=4194304 cargo test --release --all-features --test gpu_ops
//! -- --nocapture` prints them at the size the README quotes.

#![cfg(feature = "gpu")]

mod common;

use common::gpu_scan;
use gpumark::gpu::{GpuOptions, GpuScan, GpuScanOptions, OffloadPolicy, OpCounts};
use gpumark::heap::{build, Shape, ShapeSpec};
use gpumark::mark::mark_stw_with;
use gpumark::verify::{check_exact, reachable};
use std::sync::Arc;

fn counting() -> Option<GpuScan> {
    gpu_scan(GpuScanOptions {
        policy: OffloadPolicy::Always,
        gpu: GpuOptions {
            count_ops: true,
            ..GpuOptions::default()
        },
        ..GpuScanOptions::default()
    })
}

/// Marks `shape` of `objects` twice (the first prepares the mirror and the
/// batch sizing; the counts are the second's) with `threads` workers, checks
/// it exactly, and returns the counts and the objects marked.
fn counts(gpu: &GpuScan, shape: Shape, objects: u32, threads: usize) -> (OpCounts, u64) {
    let heap = Arc::new(build(&ShapeSpec {
        shape,
        objects,
        ptrs: 4,
        roots: 1024.min(objects),
        seed: 42,
    }));
    gpu.prepare(&heap).expect("the heap fits");
    mark_stw_with(&heap, threads, gpu);
    gpu.reset_stats();
    let r = mark_stw_with(&heap, threads, gpu);
    assert_eq!(check_exact(&r.bits, &reachable(&heap)), Ok(()));
    let ops = gpu.stats().ops.expect("the context counts");
    print(&format!("{shape:?} {objects} x{threads}"), &ops, r.marked);
    (ops, r.marked)
}

fn print(what: &str, o: &OpCounts, marked: u64) {
    let per = |n| o.per_1024_edges(n);
    println!(
        "{what}: per 1024 edges: ctl atomics {:.2}, stripe atomics {:.2}, mark atomics {:.1}, \
         mark loads {:.1}, descriptor loads {:.1}, slot loads {:.1}, ring writes {:.1}, \
         ring reads {:.1}, workgroup barriers {:.1}; descriptor loads per marked object {:.3}; \
         levels {}, empty levels {}, max workgroup slots {}, edges {}",
        per(o.ctl_atomics),
        per(o.stripe_atomics),
        per(o.mark_atomics),
        per(o.mark_loads),
        per(o.descriptor_loads),
        per(o.slot_loads),
        per(o.ring_writes),
        per(o.ring_reads),
        per(o.workgroup_barriers),
        o.descriptor_loads as f64 / marked.max(1) as f64,
        o.levels,
        o.empty_levels,
        o.max_workgroup_slots,
        o.edges,
    );
}

fn objects(default: u32) -> u32 {
    std::env::var("OPS_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn a_random_heap_costs_few_control_atomics_and_one_descriptor_read_per_object() {
    let Some(gpu) = counting() else {
        return;
    };
    for threads in [1, 2] {
        let (o, marked) = counts(&gpu, Shape::Random, objects(1 << 16), threads);
        assert!(o.edges > 0);
        assert!(o.per_1024_edges(o.ctl_atomics) <= 2.0, "{o:?}");
        assert!(o.descriptor_loads as f64 <= 1.1 * marked as f64, "{o:?}");
        assert_eq!(o.empty_levels, 0, "{o:?}");
        // Every edge is a slot load and at most one mark-bit load.
        assert_eq!(o.slot_loads, o.edges, "{o:?}");
        assert!(o.mark_loads <= o.edges, "{o:?}");
        assert!(o.max_workgroup_slots <= 65_536, "{o:?}");
    }
}

#[test]
fn a_wide_heap_spreads_its_arrays_over_workgroups() {
    let Some(gpu) = counting() else {
        return;
    };
    // Four arrays of a quarter of the slots each: 16 oblets apiece.
    let (o, _) = counts(&gpu, Shape::Wide, objects(1 << 20), 1);
    assert!(o.max_workgroup_slots <= 65_536, "{o:?}");
    assert!(o.max_workgroup_slots > 0, "{o:?}");
    assert_eq!(o.empty_levels, 0, "{o:?}");
    // An array's oblets, queued next to each other, are dealt across the
    // level's workgroups a granule each; when one workgroup took the whole
    // run and sent back what passed its cap, a level at a time, this mark
    // ran 7 levels.
    if objects(1 << 20) == 1 << 20 {
        assert!(o.levels <= 5, "{o:?}");
    }
}

/// Many batches, each stopped by its budget or an empty queue: every batch
/// starts with its advances cleared, so none runs an empty level, however
/// many levels the batch before it enabled.
#[test]
fn batches_that_stop_early_run_no_empty_level() {
    use gpumark::mark::{GcWork, Marker, NoHooks};
    use gpumark::scan::ScanBackend;
    let Some(gpu) = counting() else {
        return;
    };
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::Random,
        objects: 50_000,
        ptrs: 4,
        roots: 64,
        seed: 9,
    }));
    let reach = reachable(&heap);
    gpu.prepare(&heap).expect("the heap fits");
    gpu.reset_stats();
    let m = Marker::new(Arc::clone(&heap));
    m.prepare_roots();
    let mut gcw = GcWork::new();
    while m.drain_n_with(&mut gcw, 30_000, &NoHooks, &gpu) > 0 {}
    m.dispose(&mut gcw);
    assert!(gpu.settle(&m));
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
    let s = gpu.stats();
    let o = s.ops.expect("the context counts");
    assert!(s.batches > 3, "{s:?}");
    assert_eq!(o.empty_levels, 0, "{o:?}");
    assert!(o.levels >= s.batches, "{o:?}");
}
