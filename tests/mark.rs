//! The CPU mark engine against the reference reachability pass.

#[path = "support/shapes.rs"]
mod shapes;

use gpumark::baseline::bfs_mark;
use gpumark::heap::{build, Heap, HeapConfig, ObjRef, Shape, ShapeSpec};
use gpumark::mark::{
    mark_stw, DrainFlags, DrainHooks, GcWork, Marker, NoHooks, GC_CREDIT_SLACK, OBLET_SLOTS,
};
use gpumark::verify::{check_exact, reachable, Mismatch};
use proptest::prelude::*;
use shapes::shape_strategy;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::Arc;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Marked set == reachable set, and the totals agree, for 1, 2 and 4
    /// workers on every shape.
    #[test]
    fn stw_mark_is_exact(spec in shape_strategy()) {
        let heap = Arc::new(build(&spec));
        let reach = reachable(&heap);
        for threads in [1, 2, 4] {
            let r = mark_stw(&heap, threads);
            prop_assert_eq!(check_exact(&r.bits, &reach), Ok(()), "threads {}", threads);
            prop_assert_eq!(r.marked, reach.count);
            prop_assert_eq!(r.bytes_marked, reach.bytes);
            prop_assert_eq!(r.heap_scan_work, reach.heap_scan_work);
            prop_assert_eq!(r.root_scan_work, reach.root_scan_work);
            prop_assert_eq!(r.workers.len(), threads);
        }
    }
}

#[test]
fn bfs_floor_is_exact_on_every_shape() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for shape in Shape::ALL {
        let heap = build(&ShapeSpec {
            shape,
            objects: 50_000,
            ptrs: 3,
            roots: 32,
            seed: 3,
        });
        let reach = reachable(&heap);
        let r = bfs_mark(&heap, &pool);
        assert_eq!(check_exact(&r.bits, &reach), Ok(()), "{shape:?}");
        assert_eq!(
            (r.marked, r.bytes_marked, r.heap_scan_work),
            (reach.count, reach.bytes, reach.heap_scan_work)
        );
    }
}

#[test]
fn stacks_are_roots() {
    let heap = Heap::new(HeapConfig {
        max_objects: 10,
        max_slots: 10,
        globals: 0,
    });
    let a = heap.alloc(16, 1).unwrap();
    let b = heap.alloc(8, 0).unwrap();
    let _garbage = heap.alloc(8, 0).unwrap();
    heap.store(a, 0, Some(b)).unwrap();
    heap.new_stack().with(|s| s.push(ObjRef::encode(Some(a))));
    let heap = Arc::new(heap);
    let r = mark_stw(&heap, 2);
    assert_eq!(r.marked, 2);
    assert!(r.bits.is_marked(a.0) && r.bits.is_marked(b.0) && !r.bits.is_marked(2));
    assert_eq!(r.root_scan_work, 8);
}

#[test]
fn check_exact_names_the_first_difference() {
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::List,
        objects: 100,
        ptrs: 0,
        roots: 0,
        seed: 0,
    }));
    let reach = reachable(&heap);
    let r = mark_stw(&heap, 1);
    let mut bits = r.bits.snapshot();
    bits[0] &= !(1 << 7);
    let m = gpumark::mark::MarkBits::new(100);
    m.merge(&bits);
    assert_eq!(check_exact(&m, &reach), Err(Mismatch::Unmarked { obj: 7 }));
}

/// One 10M-slot object (the `wide` shape with one array) is split into oblets
/// that several workers scan.
#[test]
fn a_huge_object_is_scanned_by_several_workers() {
    let heap = Heap::new(HeapConfig {
        max_objects: 2,
        max_slots: 10_000_000 + 1,
        globals: 1,
    });
    let big = heap.alloc(80_000_000, 10_000_000).unwrap();
    let leaf = heap.alloc(16, 1).unwrap();
    heap.store(big, 9_999_999, Some(leaf)).unwrap();
    heap.set_global(0, Some(big)).unwrap();
    let heap = Arc::new(heap);
    let r = mark_stw(&heap, 4);
    assert_eq!(r.marked, 2);
    assert_eq!(r.heap_scan_work, 8 * 10_000_001);
    let oblets = 10_000_000u32.div_ceil(OBLET_SLOTS) as u64;
    assert_eq!(
        r.workers.iter().map(|w| w.oblets_scanned).sum::<u64>(),
        oblets
    );
    let busy = r.workers.iter().filter(|w| w.oblets_scanned > 0).count();
    assert!(
        busy >= 2,
        "oblets scanned per worker: {:?}",
        r.workers
            .iter()
            .map(|w| w.oblets_scanned)
            .collect::<Vec<_>>()
    );
}

/// A marker with roots prepared and the barrier "on": what an assist sees.
fn started(spec: ShapeSpec) -> (Arc<Heap>, Marker) {
    let heap = Arc::new(build(&spec));
    let m = Marker::new(heap.clone());
    m.prepare_roots();
    m.set_nproc(1);
    (heap, m)
}

fn random(objects: u32) -> ShapeSpec {
    ShapeSpec {
        shape: Shape::Random,
        objects,
        ptrs: 4,
        roots: 64,
        seed: 11,
    }
}

#[test]
fn drain_n_does_at_least_what_it_is_asked() {
    let (heap, m) = started(random(100_000));
    let reach = reachable(&heap);
    let mut gcw = GcWork::new();
    let mut total = 0;
    for ask in [1, 100, GC_CREDIT_SLACK, 3 * GC_CREDIT_SLACK + 5, 50_000] {
        let done = m.drain_n(&mut gcw, ask, &NoHooks);
        assert!(done >= ask, "asked {ask}, did {done}");
        // Objects are scanned whole: at most one object (4 slots) or one
        // root job over the ask.
        assert!(done < ask + 64 * 8 + 8 * 4, "asked {ask}, did {done}");
        total += done;
    }
    // Run out of work: drain_n returns less than asked, and everything.
    let rest = m.drain_n(&mut gcw, i64::MAX, &NoHooks);
    total += rest;
    m.dispose(&mut gcw);
    assert_eq!(total, reach.heap_scan_work + reach.root_scan_work);
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
    assert_eq!(m.bytes_marked(), reach.bytes);
}

#[test]
fn drain_n_does_not_claim_work_already_cached() {
    let (_heap, m) = started(random(10_000));
    let mut gcw = GcWork::new();
    // Scan some objects without flushing, as a previous drain might leave.
    m.drain_n(&mut gcw, 600, &NoHooks);
    let before = gcw.heap_scan_work();
    assert!(before > 0 && before < GC_CREDIT_SLACK);
    let done = m.drain_n(&mut gcw, 5000, &NoHooks);
    let flushed_during = m.heap_scan_work();
    // What was done in this call = everything flushed plus still cached,
    // less what was cached before it.
    assert_eq!(done, flushed_during + gcw.heap_scan_work() - before);
}

struct Preempt(AtomicBool);
impl DrainHooks for Preempt {
    fn preempt_requested(&self) -> bool {
        self.0.load(Relaxed)
    }
}

#[test]
fn drain_n_stops_when_preempted() {
    let (_heap, m) = started(random(10_000));
    let mut gcw = GcWork::new();
    let p = Preempt(AtomicBool::new(true));
    assert_eq!(m.drain_n(&mut gcw, 1_000_000, &p), 0);
    p.0.store(false, Relaxed);
    assert!(m.drain_n(&mut gcw, 1000, &p) >= 1000);
}

/// Records background credit flushes and stops after a number of polls.
struct Credit {
    credit: AtomicI64,
    polls: AtomicI64,
    stop_after: i64,
}
impl DrainHooks for Credit {
    fn poll_stop(&self) -> bool {
        self.polls.fetch_add(1, Relaxed) + 1 >= self.stop_after
    }
    fn flush_bg_credit(&self, w: i64) {
        self.credit.fetch_add(w, Relaxed);
    }
}

#[test]
fn drain_flushes_all_its_work_as_bg_credit() {
    let (heap, m) = started(random(50_000));
    let reach = reachable(&heap);
    let hooks = Credit {
        credit: AtomicI64::new(0),
        polls: AtomicI64::new(0),
        stop_after: i64::MAX,
    };
    let mut gcw = GcWork::new();
    m.drain(
        &mut gcw,
        DrainFlags::NO_BLOCK | DrainFlags::FLUSH_BG_CREDIT,
        &hooks,
    );
    m.dispose(&mut gcw);
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
    assert_eq!(m.heap_scan_work(), reach.heap_scan_work);
    assert_eq!(
        hooks.credit.load(Relaxed),
        reach.heap_scan_work + reach.root_scan_work
    );
}

#[test]
fn idle_drain_stops_when_polled_and_resumes_exactly() {
    let (heap, m) = started(random(200_000));
    let reach = reachable(&heap);
    let hooks = Credit {
        credit: AtomicI64::new(0),
        polls: AtomicI64::new(0),
        stop_after: 2,
    };
    let mut gcw = GcWork::new();
    m.drain(&mut gcw, DrainFlags::IDLE, &hooks);
    let after_idle = m.heap_scan_work();
    assert!(
        after_idle > 0 && after_idle < reach.heap_scan_work,
        "idle drain stopped early: {after_idle}"
    );
    m.drain(&mut gcw, DrainFlags::NO_BLOCK, &NoHooks);
    m.dispose(&mut gcw);
    assert_eq!(check_exact(m.bits(), &reach), Ok(()));
}
