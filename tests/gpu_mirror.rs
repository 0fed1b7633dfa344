//! Differential tests of GPU marking: for each heap shape, the bitmap the GPU
//! leaves must equal the sequential reference bit for bit, and its scan work,
//! bytes and object counts must equal the reference totals. Every shape runs
//! on both scan kernels (queue space reserved per subgroup or per workgroup).

#![cfg(feature = "gpu")]

mod common;

use common::*;
use gpumark::gpu::{GpuContext, GpuOptions};

fn contexts() -> Vec<GpuContext> {
    let mut out = Vec::new();
    if let Some(ctx) = gpu(GpuOptions::default()) {
        out.push(ctx);
        let plain = GpuOptions {
            allow_subgroups: false,
            ..GpuOptions::default()
        };
        out.push(gpu(plain).expect("second context"));
    }
    out
}

fn check_shape(name: &str, heap: &Heap, roots: &[u32], watermark: u32, max_levels: u32) {
    let (want_bits, want) = reference(heap, roots, watermark);
    for ctx in contexts() {
        let kernel = ctx.scan_kernel();
        let mut m = mirror(&ctx, heap);
        m.set_watermark(watermark).expect("watermark");
        push_roots(&mut m, heap, roots);
        let started = std::time::Instant::now();
        let (got, batches) = mark_on_gpu(&mut m, u64::MAX, max_levels);
        let bits = m.download_marks().expect("download");
        println!(
            "{name} [{kernel}]: {} objects marked, {} batches, {:?}",
            got.objects_marked,
            batches,
            started.elapsed()
        );
        assert_eq!(
            first_difference(&bits, &want_bits),
            None,
            "{name} [{kernel}]: bitmap differs from the reference"
        );
        assert_eq!(got, want, "{name} [{kernel}]: totals");
    }
}

#[test]
fn random_graph_marks_exactly() {
    let heap = Heap::random(50_000, 4, 1);
    check_shape("random", &heap, &[0, 1, 2, 3], heap.len(), 64);
}

#[test]
fn long_chain_marks_exactly() {
    let heap = Heap::chain(3_000);
    check_shape("chain", &heap, &[0], heap.len(), 512);
}

#[test]
fn kary_tree_marks_exactly() {
    let heap = Heap::kary(40_000, 3);
    check_shape("3-ary tree", &heap, &[0], heap.len(), 64);
}

#[test]
fn wide_object_is_scanned_in_oblets() {
    // 100_000 slots = 7 oblets (6 full, one of 1696 slots).
    let heap = Heap::wide(100_000, 2);
    check_shape("wide", &heap, &[0], heap.len(), 64);
}

#[test]
fn wide_object_marked_on_gpu_queues_all_its_oblets() {
    // The wide object is reached through a pointer, so the GPU (not the
    // host) marks it and must queue every oblet.
    let mut heap = Heap::wide(40_000, 3);
    let root = heap.push([Some(0)], 16);
    check_shape("wide via pointer", &heap, &[root], heap.len(), 64);
}

#[test]
fn power_law_graph_marks_exactly() {
    let heap = Heap::power_law(30_000, 20_000, 4);
    check_shape("power law", &heap, &[0, 17, 999], heap.len(), 64);
}

#[test]
fn objects_at_or_above_the_watermark_are_never_marked() {
    let heap = Heap::random(20_000, 4, 5);
    let watermark = 15_000;
    let (want_bits, _) = reference(&heap, &[0, 1], watermark);
    assert!((watermark..heap.len()).all(|i| !is_marked(&want_bits, i)));
    // Some object above the watermark is referenced from a marked one.
    let referenced_black = heap.objects.iter().enumerate().any(|(i, o)| {
        is_marked(&want_bits, i as u32)
            && heap.slots[o.slot_start as usize..(o.slot_start + o.nslots) as usize]
                .iter()
                .any(|&v| v > watermark)
    });
    assert!(referenced_black, "test heap must point past the watermark");
    check_shape("watermark", &heap, &[0, 1], watermark, 64);
}

#[test]
fn small_binding_limit_splits_every_array_and_still_marks_exactly() {
    // 4096-byte bindings: 256 objects, 1024 slots and 512 queue items per
    // binding, so 1000 objects x 6 slots span 4 object, 6 slot and 2 queue
    // bindings. Two cycles on one mirror make the ring wrap around.
    let Some(ctx) = gpu(GpuOptions {
        max_binding_bytes: Some(4096),
        ..GpuOptions::default()
    }) else {
        return;
    };
    assert_eq!(ctx.max_binding_bytes(), 4096);
    let heap = Heap::random(1_000, 6, 6);
    let mut m = mirror(&ctx, &heap);
    for (cycle, roots) in [[0u32, 1], [2, 3]].iter().enumerate() {
        let (want_bits, want) = reference(&heap, roots, heap.len());
        m.clear_marks().expect("clear");
        push_roots(&mut m, &heap, roots);
        let (got, _) = mark_on_gpu(&mut m, u64::MAX, 64);
        let bits = m.download_marks().expect("download");
        assert_eq!(first_difference(&bits, &want_bits), None, "cycle {cycle}");
        assert_eq!(got, want, "cycle {cycle}");
    }
}
