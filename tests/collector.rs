//! The collector's public promises, each against its own check rather than
//! the library's `verify`: `gc()` waits for a cycle that started after the
//! call (Go's `runtime.GC()`), and every pointer write a mutator can make,
//! globals included, is behind the write barrier.

use gpumark::collector::{Collector, CollectorConfig};
use gpumark::heap::{Heap, HeapConfig};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

fn collector(max_objects: u32, globals: usize) -> Collector {
    let heap = Arc::new(Heap::new(HeapConfig {
        max_objects,
        max_slots: max_objects * 4,
        globals,
    }));
    Collector::new(heap, CollectorConfig::default()).unwrap()
}

/// Go's `runtime.GC()` reads `work.cycles` and waits for cycle `n + 1` to
/// finish: a cycle that *started* after the call. A `gc()` that counted
/// finished cycles could return, in the window where the cycle-ending stop
/// has turned the barrier off but not yet counted the cycle as done, having
/// waited only for that ending cycle. Here one thread runs cycles back to
/// back while another calls `gc()` right as each one stops marking; every
/// one of those calls must see a new mark phase begin (the marker's phase
/// token changes at every cycle start) and complete.
#[test]
fn gc_waits_for_a_cycle_that_started_after_the_call() {
    let c = collector(1 << 14, 0);
    let m = c.mutator();
    // Some work so that a cycle takes a little while.
    m.push_root(None);
    let mut prev = m.alloc_root(0, 64, 4).unwrap();
    for _ in 0..4000 {
        prev = m.alloc_into(prev, 0, 64, 4).unwrap();
    }
    drop(m);
    let stop = AtomicBool::new(false);
    let mut stale = 0;
    let mut calls = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Relaxed) {
                c.gc();
            }
        });
        while calls < 600 {
            // Wait for marking to go from on to off: a cycle is ending.
            while !c.is_marking() {
                std::hint::spin_loop();
            }
            while c.is_marking() {
                std::hint::spin_loop();
            }
            let phase = c.marker().phase();
            let done = c.cycles();
            c.gc();
            calls += 1;
            if c.marker().phase() == phase || c.cycles() < done + 1 {
                stale += 1;
            }
        }
        stop.store(true, Relaxed);
    });
    assert_eq!(
        stale, 0,
        "{stale} of {calls} gc() calls returned without a cycle that started after the call"
    );
}

/// A lone `gc()` runs exactly one cycle: no request is left behind to start
/// an extra cycle later.
#[test]
fn gc_leaves_no_request_behind() {
    let c = collector(1 << 10, 0);
    for i in 1..=5u64 {
        c.gc();
        assert_eq!(c.cycles(), i);
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(c.cycles(), 5, "a stale request started a cycle nobody asked for");
}
