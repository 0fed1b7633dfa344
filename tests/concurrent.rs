//! Concurrent mark cycles under mutation: M mutator threads allocate and
//! rewrite pointers at random while cycles run; after every cycle, with the
//! world stopped, every object reachable from the roots must be marked.

use gpumark::collector::{Collector, CollectorConfig, Mutator};
use gpumark::heap::{Heap, HeapConfig, ObjRef};
use gpumark::pacer::PacerConfig;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

const ROOTS: usize = 32;

/// One mutator's random program: allocate, link, unlink, move references
/// between heap and stack. Objects have 4 slots, or none (leaves, which are
/// never put on the stack), so any rooted object has slots 0..4.
fn mutate(m: &Mutator, seed: u64, stop: &AtomicBool, max_ops: u64) -> u64 {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut below = |n: u64| rng.next_u64() % n;
    for i in 0..ROOTS {
        m.push_root(None);
        m.alloc_root(i, 48, 4).unwrap();
    }
    let mut ops = 0;
    while !stop.load(Relaxed) && ops < max_ops {
        ops += 1;
        let r = below(ROOTS as u64) as usize;
        let Some(obj) = m.root(r).unwrap() else {
            m.alloc_root(r, 48, 4).unwrap();
            continue;
        };
        match below(10) {
            // Allocate and link into a rooted object.
            0..=3 => {
                let n = if below(3) == 0 { 0 } else { 4 };
                m.alloc_into(obj, below(4) as u32, 16 + 8 * n, n).unwrap();
            }
            // Move a reference from the heap onto the stack, then cut the
            // heap path: the deletion barrier must catch this.
            4..=5 => {
                let s = below(4) as u32;
                if let Some(child) = m.read(obj, s).unwrap() {
                    if has_slots(m, child) {
                        let r2 = below(ROOTS as u64) as usize;
                        m.set_root(r2, Some(child)).unwrap();
                    }
                    m.write(obj, s, None).unwrap();
                }
            }
            // Store a stack reference into the heap and drop it from the
            // stack: the insertion barrier must catch this.
            6..=7 => {
                let r2 = below(ROOTS as u64) as usize;
                if let Some(other) = m.root(r2).unwrap() {
                    m.write(obj, below(4) as u32, Some(other)).unwrap();
                    m.set_root(r2, None).unwrap();
                }
            }
            // Follow a pointer and root what is found.
            8 => {
                if let Some(child) = m.read(obj, 0).unwrap() {
                    if has_slots(m, child) {
                        m.load_root(obj, 0, r).unwrap();
                    }
                }
            }
            // Drop a root.
            _ => m.set_root(r, None).unwrap(),
        }
    }
    ops
}

/// Whether `o` has pointer slots (a leaf has none: reading fails).
fn has_slots(m: &Mutator, o: ObjRef) -> bool {
    m.read(o, 0).is_ok()
}

fn stress(mutators: usize, cycles: u64) {
    stress_with(mutators, cycles, Arc::new(gpumark::scan::CpuScan));
}

fn stress_with(mutators: usize, cycles: u64, backend: Arc<dyn gpumark::scan::ScanBackend>) {
    let heap = Arc::new(Heap::new(HeapConfig {
        max_objects: 3_000_000,
        max_slots: 12_000_000,
        globals: 0,
    }));
    let config = CollectorConfig {
        pacer: PacerConfig {
            gc_percent: 25,
            gomaxprocs: 2,
            ..PacerConfig::default()
        },
        verify: true,
        backend,
        ..CollectorConfig::default()
    };
    let c = Collector::new(heap, config).unwrap();
    let stop = AtomicBool::new(false);
    let max_ops = 4_000_000 / mutators as u64;
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..mutators)
            .map(|i| {
                let m = c.mutator();
                let stop = &stop;
                s.spawn(move || mutate(&m, 1000 + i as u64, stop, max_ops))
            })
            .collect();
        while c.cycles() < cycles && !hs.iter().all(|h| h.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        stop.store(true, Relaxed);
        for h in hs {
            h.join().unwrap();
        }
    });
    // One more cycle with no mutators left running.
    c.gc();
    let stats = c.stats();
    for s in &stats {
        println!("{s}");
        assert_eq!(
            s.verified,
            Some(true),
            "cycle {} left a live object white",
            s.cycle
        );
    }
    assert!(
        stats.len() as u64 >= cycles.min(3),
        "only {} cycles ran with {mutators} mutators",
        stats.len()
    );
    assert!(
        stats.iter().any(|s| s.assists > 0),
        "no mutator ever assisted"
    );
}

#[test]
fn one_mutator() {
    stress(1, 12);
}

#[test]
fn two_mutators() {
    stress(2, 12);
}

#[test]
fn four_mutators() {
    stress(4, 12);
}

#[test]
fn forced_cycles_with_live_mutator_state() {
    let heap = Arc::new(Heap::new(HeapConfig {
        max_objects: 10_000,
        max_slots: 40_000,
        globals: 2,
    }));
    let c = Collector::new(
        heap.clone(),
        CollectorConfig {
            verify: true,
            ..Default::default()
        },
    )
    .unwrap();
    let m = c.mutator();
    m.push_root(None);
    let a = m.alloc_root(0, 32, 2).unwrap();
    let b = m.alloc_into(a, 0, 16, 1).unwrap();
    let garbage = m.alloc(16, 0).unwrap();
    // Nothing half-applied: a bad destination allocates nothing.
    let len = heap.len();
    assert!(m.alloc_root(7, 16, 0).is_err());
    assert!(m.alloc_into(a, 2, 16, 0).is_err());
    assert_eq!(heap.len(), len);
    c.gc();
    let bits = c.marker().bits();
    assert!(bits.is_marked(a.0) && bits.is_marked(b.0));
    assert!(!bits.is_marked(garbage.0), "unreachable object marked");
    let s = c.stats();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].marked, 2);
    assert_eq!(s[0].heap_after, 48);
    assert_eq!(s[0].verified, Some(true));
    // Errors are typed and nothing is half-applied.
    assert!(m.write(a, 9, None).is_err());
    assert_eq!(m.read(a, 0).unwrap(), Some(b));
    assert!(m.root(5).is_err());
    assert!(m.load_root(a, 0, 3).is_err());
    assert_eq!(m.load_root(a, 0, 0).unwrap(), Some(b));
    assert_eq!(m.root(0).unwrap(), Some(b));
}

#[cfg(feature = "gpu")]
mod common;

/// The same mutation under concurrent cycles whose background workers and
/// assists scan on the GPU (offload `always`, lavapipe in CI).
#[cfg(feature = "gpu")]
#[test]
fn two_mutators_with_the_gpu_backend() {
    use gpumark::gpu::{GpuScanOptions, OffloadPolicy};
    let Some(gpu) = common::gpu_scan(GpuScanOptions {
        policy: OffloadPolicy::Always,
        ..GpuScanOptions::default()
    }) else {
        return;
    };
    let gpu = Arc::new(gpu);
    stress_with(2, 6, gpu.clone());
    let st = gpu.stats();
    assert!(st.gpu_scan_work > 0, "the GPU did no scan work: {st:?}");
    assert_eq!(st.device_lost, None);
}
