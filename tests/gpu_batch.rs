//! Batches: the scan-work budget, level counts, and handing grey work
//! between the GPU and the host mid-mark.

#![cfg(feature = "gpu")]

mod common;

use common::*;
use gpumark::gpu::GpuOptions;

#[test]
fn small_budget_stops_early_within_one_level() {
    let Some(ctx) = gpu(GpuOptions::default()) else {
        return;
    };
    let heap = Heap::random(40_000, 4, 11);
    let (want_bits, want) = reference(&heap, &[0, 1, 2], heap.len());
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &[0, 1, 2]);

    let budget = 8 * 3_000;
    let mut total = Totals::default();
    let mut stopped_by_budget = 0;
    loop {
        let c = m.run_batch(budget, 1_000).expect("batch");
        total.scan_work += c.scan_work;
        total.bytes_marked += c.bytes_marked;
        total.objects_marked += c.objects_marked;
        if c.queue_len == 0 {
            break;
        }
        // Work remains and levels remain: the budget is what stopped it,
        // and it stopped in the first level that reached it.
        assert!(c.levels_run < 1_000);
        assert!(c.scan_work >= budget, "{c:?}");
        assert!(c.scan_work - c.last_level_scan_work < budget, "{c:?}");
        // The last level took at most (budget left) items of <= 4 slots.
        assert!(c.last_level_scan_work <= 4 * budget, "{c:?}");
        stopped_by_budget += 1;
    }
    assert!(stopped_by_budget >= 5, "budget too large to test anything");
    assert_eq!(total, want);
    assert_eq!(
        first_difference(&m.download_marks().unwrap(), &want_bits),
        None
    );
}

#[test]
fn level_limit_and_zero_budget() {
    let Some(ctx) = gpu(GpuOptions::default()) else {
        return;
    };
    let heap = Heap::chain(100);
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &[0]);
    // Zero budget: nothing runs, the queue keeps its item.
    let c = m.run_batch(0, 10).expect("batch");
    assert_eq!((c.levels_run, c.scan_work, c.queue_len), (0, 0, 1));
    // Ten levels of a chain scan exactly ten items.
    let c = m.run_batch(u64::MAX, 10).expect("batch");
    assert_eq!((c.levels_run, c.objects_scanned, c.queue_len), (10, 10, 1));
    assert_eq!(c.objects_marked, 10);
    assert_eq!(c.last_level_scan_work, 16);
    // No levels at all.
    let c = m.run_batch(u64::MAX, 0).expect("batch");
    assert_eq!((c.levels_run, c.queue_len), (0, 1));
}

#[test]
fn take_queue_hands_work_to_the_host_and_back() {
    let Some(ctx) = gpu(GpuOptions::default()) else {
        return;
    };
    let heap = Heap::random(30_000, 4, 12);
    let roots = [5, 6, 7];
    let (want_bits, want) = reference(&heap, &roots, heap.len());
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &roots);
    let mut total = Totals::default();

    // GPU runs a little, then the host takes half of the queue.
    let c = m.run_batch(8 * 5_000, 100).expect("batch");
    total.scan_work += c.scan_work;
    total.bytes_marked += c.bytes_marked;
    total.objects_marked += c.objects_marked;
    assert!(c.queue_len > 10, "{c:?}");
    let taken = m.take_queue(c.queue_len as usize / 2).expect("take");
    assert_eq!(taken.len() as u64, c.queue_len / 2);
    assert_eq!(u64::from(m.queue_len()), c.queue_len - c.queue_len / 2);

    // The host scans the taken items one level deep with the GPU's bitmap,
    // uploads its bitmap and pushes the greys it made back.
    let mut bits = m.download_marks().expect("download");
    let mut greys = Vec::new();
    for item in taken {
        let item = common::taken(&heap, item, &mut total);
        greys.extend(host_scan_item(
            &heap,
            &mut bits,
            heap.len(),
            item,
            &mut total,
        ));
    }
    m.upload_marks(&bits).expect("upload");
    m.push_greys(&greys).expect("push");

    // The GPU finishes; nothing is lost or counted twice.
    let (rest, _) = mark_on_gpu(&mut m, u64::MAX, 64);
    total.scan_work += rest.scan_work;
    total.bytes_marked += rest.bytes_marked;
    total.objects_marked += rest.objects_marked;
    assert_eq!(
        first_difference(&m.download_marks().unwrap(), &want_bits),
        None
    );
    assert_eq!(total, want);
}

#[test]
fn take_everything_and_finish_on_the_host() {
    let Some(ctx) = gpu(GpuOptions::default()) else {
        return;
    };
    let heap = Heap::power_law(20_000, 5_000, 13);
    let roots = [0, 1];
    let (want_bits, want) = reference(&heap, &roots, heap.len());
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &roots);
    let c = m.run_batch(8 * 2_000, 100).expect("batch");
    let mut total = Totals {
        scan_work: c.scan_work,
        bytes_marked: c.bytes_marked,
        objects_marked: c.objects_marked,
    };
    let mut stack: Vec<(u32, u32)> = m
        .take_queue(usize::MAX)
        .expect("take")
        .into_iter()
        .map(|item| common::taken(&heap, item, &mut total))
        .collect();
    assert_eq!(stack.len() as u64, c.queue_len);
    assert_eq!(m.queue_len(), 0);
    let mut bits = m.download_marks().expect("download");
    while let Some(item) = stack.pop() {
        let more = host_scan_item(&heap, &mut bits, heap.len(), item, &mut total);
        stack.extend(more);
    }
    assert_eq!(first_difference(&bits, &want_bits), None);
    assert_eq!(total, want);
    // The GPU queue really is empty.
    assert_eq!(m.run_batch(u64::MAX, 4).expect("batch").queue_len, 0);
}

#[test]
fn submitted_batch_overlaps_host_work_and_guards_the_queue() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<gpumark::gpu::HeapMirror>();
    send_sync::<gpumark::gpu::GpuContext>();

    let Some(ctx) = gpu(GpuOptions::default()) else {
        return;
    };
    let heap = Heap::kary(20_000, 4);
    let (want_bits, want) = reference(&heap, &[0], heap.len());
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &[0]);
    m.submit_batch(u64::MAX, 64).expect("submit");
    // While it runs: no queue changes, no second batch.
    assert!(matches!(
        m.push_greys(&[(1, 0)]),
        Err(gpumark::gpu::GpuError::BatchInFlight)
    ));
    assert!(matches!(
        m.submit_batch(1, 1),
        Err(gpumark::gpu::GpuError::BatchInFlight)
    ));
    let c = m
        .finish_batch()
        .expect("finish")
        .expect("a batch was in flight");
    assert_eq!(m.finish_batch().expect("nothing in flight"), None);
    assert_eq!(c.queue_len, 0);
    assert_eq!(
        (c.scan_work, c.bytes_marked, c.objects_marked),
        (want.scan_work, want.bytes_marked, want.objects_marked)
    );
    assert_eq!(
        first_difference(&m.download_marks().unwrap(), &want_bits),
        None
    );
}

#[test]
fn level_trace_times_every_level_of_a_batch() {
    let Some(ctx) = gpu(GpuOptions {
        trace_levels: true,
        ..GpuOptions::default()
    }) else {
        return;
    };
    // lavapipe and every desktop driver have in-pass timestamps; an adapter
    // without them must say so rather than trace nothing silently.
    if !ctx.traces_levels() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's adapter cannot trace levels"
        );
        return;
    }
    // A complete 4-ary tree of 5 levels: 1, 4, 16, 64 and 256 items, each
    // scanning 4 slots (32 bytes of scan work) per item.
    let heap = Heap::kary(341, 4);
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &[0]);
    // Two batches: three levels, then the rest.
    let first = m.run_batch(u64::MAX, 3).expect("batch");
    let trace1 = m.level_trace().to_vec();
    let second = m.run_batch(u64::MAX, 100).expect("batch");
    let trace2 = m.level_trace().to_vec();
    assert_eq!((first.levels_run, second.levels_run), (3, 2));
    let items: Vec<u64> = trace1.iter().chain(&trace2).map(|l| l.items).collect();
    assert_eq!(items, [1, 4, 16, 64, 256]);
    for (trace, c) in [(&trace1, first), (&trace2, second)] {
        for l in trace {
            assert_eq!(l.scan_work, 32 * l.items, "{l:?}");
            assert!(l.gpu_s > 0.0 && l.gpu_s < 10.0, "{l:?}");
        }
        assert_eq!(trace.iter().map(|l| l.scan_work).sum::<u64>(), c.scan_work);
        assert_eq!(
            trace.iter().map(|l| l.items).sum::<u64>(),
            c.objects_scanned
        );
        // The readback grew by the log and the timestamps.
        assert!(c.readback_bytes > 64 * 1024, "{c:?}");
    }
    // Without tracing there is no trace and the readback is the block alone.
    let ctx = gpu(GpuOptions::default()).expect("the adapter opened once");
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &[0]);
    let c = m.run_batch(u64::MAX, 100).expect("batch");
    assert!(m.level_trace().is_empty());
    assert_eq!(c.readback_bytes, 128);
}

/// With `stage_marks`, each batch leaves the bitmap where the next download
/// maps it. Whatever writes marks after a batch (an upload, a clear, another
/// batch) makes that download copy again: a download never returns a staged
/// bitmap that is out of date.
#[test]
fn a_staged_bitmap_is_never_stale() {
    let Some(ctx) = gpu(GpuOptions::default()) else {
        return;
    };
    let heap = Heap::random(30_000, 4, 13);
    let roots = [1, 2, 3];
    let (want_bits, _) = reference(&heap, &roots, heap.len());
    let mut m = mirror(&ctx, &heap);
    m.stage_marks(true);
    push_roots(&mut m, &heap, &roots);

    // A batch stopped by its level limit: the download is of its end, and
    // the next batch's marks show in the download after it.
    let c = m.run_batch(u64::MAX, 2).expect("batch");
    assert!(c.queue_len > 0, "{c:?}");
    let early = m.download_marks().expect("download");
    let count = |b: &[u32]| b.iter().map(|w| w.count_ones()).sum::<u32>();
    let (rest, _) = mark_on_gpu(&mut m, u64::MAX, 1_000);
    assert!(rest.objects_marked > 0);
    let bits = m.download_marks().expect("download");
    assert_eq!(first_difference(&bits, &want_bits), None);
    // The early download was this batch's end: a strict subset of the end.
    assert!(early.iter().zip(&bits).all(|(e, b)| e & !b == 0));
    assert!(
        count(&early) < count(&bits),
        "the early bitmap was not staged early"
    );

    // An upload after the batch: the download sees it.
    let w = bits
        .iter()
        .position(|&w| w != u32::MAX)
        .expect("a clear bit");
    m.upload_marks_at(w as u32, &[u32::MAX]).expect("upload");
    assert_eq!(m.download_marks().expect("download")[w], u32::MAX);
    m.upload_marks(&want_bits).expect("upload");
    assert_eq!(m.download_marks().expect("download"), want_bits);

    // A clear after a staged batch: the download is all zero.
    let c = m.run_batch(u64::MAX, 4).expect("batch");
    assert_eq!(c.queue_len, 0);
    m.clear_marks().expect("clear");
    assert!(m
        .download_marks()
        .expect("download")
        .iter()
        .all(|&w| w == 0));

    // Staging off again: batches stage nothing, downloads copy as ever.
    m.stage_marks(false);
    push_roots(&mut m, &heap, &roots);
    mark_on_gpu(&mut m, u64::MAX, 1_000);
    let bits = m.download_marks().expect("download");
    assert_eq!(first_difference(&bits, &want_bits), None);
}
