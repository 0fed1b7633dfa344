//! Runs the examples' programs at small sizes, so CI keeps them working: each
//! example is included as a module and its `run` called (its `main` is a
//! thin wrapper around that).

// `main` and the command-line parsing are the example binary's only.
#[allow(dead_code)]
#[path = "../examples/binary_trees.rs"]
mod binary_trees;

#[cfg(feature = "gpu")]
mod common;

use binary_trees::{run, CheckKind, Options, Summary};

/// Checks what every run must show: the benchmark's lines right, cycles
/// run, every cycle's marks verified, and the arena reused.
fn assert_run(s: &Summary) {
    println!(
        "{}\n{}",
        s.lines
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        s.gc_report()
    );
    let depths = binary_trees::depths(s.max_depth).count();
    assert_eq!(s.lines.len(), depths + 2);
    assert_eq!(s.lines[0].kind, CheckKind::Stretch);
    assert_eq!(s.lines[depths + 1].kind, CheckKind::LongLived);
    for line in &s.lines {
        assert!(line.ok(), "check mismatch: {line}");
    }
    assert!(s.checks_ok());
    assert!(
        s.stats.len() >= 3,
        "only {} cycles ran: the arena should force many",
        s.stats.len()
    );
    assert!(
        s.stats.iter().all(|c| c.verified == Some(true)),
        "cycles {:?} left a reachable object white",
        s.verify_failures()
    );
    // The program allocates several arenas' worth: only reuse lets it finish.
    assert!(
        s.allocated_nodes > 2 * u64::from(s.arena_capacity),
        "{} nodes allocated in an arena of {}",
        s.allocated_nodes,
        s.arena_capacity
    );
    assert!(s.swept_objects() > 0, "no cycle swept anything");
    assert!(
        s.reused_objects() > 0,
        "no allocation reused a freed object"
    );
    assert!(s.sweep.reused_objects >= s.reused_objects());
    assert!(s.arena_used <= s.arena_capacity);
}

#[test]
fn binary_trees_checks_and_reuses_the_arena() {
    let s = run(&Options {
        verify: true,
        ..Options::new(10, 2)
    })
    .unwrap();
    assert_eq!(
        s.lines[1].to_string(),
        "1024\t trees of depth 4\t check: 31744"
    );
    assert_eq!(
        s.lines.last().unwrap().to_string(),
        "long lived tree of depth 10\t check: 2047"
    );
    assert_run(&s);
}

/// Three mutators share iterations unevenly (16 trees of the largest depth
/// make 6 + 5 + 5); one mutator runs everything itself. (Below depth 10 the
/// pacer's floors, 64 KiB of runway and a 1% heap minimum, make the arena
/// too large next to what the program allocates for reuse to be forced.)
#[test]
fn binary_trees_with_uneven_and_single_mutators() {
    for mutators in [3, 1] {
        let s = run(&Options {
            verify: true,
            ..Options::new(10, mutators)
        })
        .unwrap();
        assert_run(&s);
    }
}

#[test]
fn binary_trees_rejects_bad_arguments() {
    assert!(run(&Options::new(5, 2)).is_err(), "depth below 6");
    assert!(run(&Options::new(10, 0)).is_err(), "no mutators");
}

/// The same program with the collector's scanning on the GPU (offload
/// `always`, lavapipe in CI; skipped locally without an adapter).
#[cfg(feature = "gpu")]
#[test]
fn binary_trees_on_the_gpu_backend() {
    use binary_trees::Backend;
    use gpumark::gpu::{GpuScanOptions, OffloadPolicy};
    use std::sync::Arc;
    let Some(gpu) = common::gpu_scan(GpuScanOptions {
        policy: OffloadPolicy::Always,
        ..GpuScanOptions::default()
    }) else {
        return;
    };
    let gpu = Arc::new(gpu);
    let s = run(&Options {
        backend: Backend::Gpu(gpu.clone()),
        verify: true,
        ..Options::new(10, 2)
    })
    .unwrap();
    assert_eq!(s.backend, gpumark::scan::ScanBackend::name(gpu.as_ref()));
    assert_run(&s);
    let st = gpu.stats();
    assert!(st.gpu_scan_work > 0, "the GPU did no scan work: {st:?}");
    assert_eq!(st.device_lost, None);
}
