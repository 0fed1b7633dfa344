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
    assert_eq!(
        c.cycles(),
        5,
        "a stale request started a cycle nobody asked for"
    );
}

#[path = "support/oracle.rs"]
mod oracle;

/// Globals are behind the barrier. Each mutator moves its objects between
/// its stack and the globals, both ways, at random, while cycles run back
/// to back: the interleaving that loses an object without a barrier on
/// globals is "globals scanned; stack -> global; stack scanned; global ->
/// stack". The tests' own oracle checks every cycle.
#[test]
fn global_writes_are_barriered() {
    use gpumark::collector::Mutator;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    const ROOTS: usize = 8;
    const GLOBALS_EACH: usize = 8;
    const MUTATORS: usize = 2;
    let (hook, findings) = oracle::oracle();
    let heap = Arc::new(Heap::new(HeapConfig {
        max_objects: 4_000_000,
        max_slots: 8_000_000,
        globals: MUTATORS * GLOBALS_EACH,
    }));
    let c = Collector::new(
        heap,
        CollectorConfig {
            on_mark_termination: Some(hook),
            ..CollectorConfig::default()
        },
    )
    .unwrap();
    let stop = AtomicBool::new(false);
    let program = |m: Mutator, k: usize, stop: &AtomicBool| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(77 + k as u64);
        let g0 = k * GLOBALS_EACH;
        for r in 0..ROOTS {
            m.push_root(None);
            m.alloc_root(r, 32, 2).unwrap();
        }
        while !stop.load(Relaxed) {
            let r = (rng.next_u64() % ROOTS as u64) as usize;
            let g = g0 + (rng.next_u64() % GLOBALS_EACH as u64) as usize;
            match rng.next_u64() % 4 {
                // Stack -> global, then drop the stack copy.
                0 => {
                    if let Some(o) = m.root(r).unwrap() {
                        m.set_global(g, Some(o)).unwrap();
                        m.set_root(r, None).unwrap();
                    }
                }
                // Global -> stack, then drop the global copy.
                1 => {
                    if m.global(g).unwrap().is_some() {
                        m.load_global_root(g, r).unwrap();
                        m.set_global(g, None).unwrap();
                    }
                }
                // Fresh objects keep the heap growing, so cycles keep coming.
                2 => {
                    if m.root(r).unwrap().is_none() {
                        m.alloc_root(r, 32, 2).unwrap();
                    } else {
                        m.alloc(64, 0).unwrap();
                    }
                }
                _ => m.safepoint(),
            }
        }
    };
    std::thread::scope(|s| {
        for k in 0..MUTATORS {
            let m = c.mutator();
            let stop = &stop;
            s.spawn(move || program(m, k, stop));
        }
        s.spawn(|| {
            while !stop.load(Relaxed) {
                c.gc();
            }
        });
        while c.cycles() < 400 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        stop.store(true, Relaxed);
    });
    let f = findings.lock().unwrap();
    assert!(f.cycles >= 400, "only {} cycles were checked", f.cycles);
    assert!(f.reachable > 0, "the oracle reached nothing");
    f.assert_none_lost();
}
