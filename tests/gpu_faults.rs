//! Failures are errors, never panics: missing adapters, heaps that do not
//! fit, contract violations, and a lost device.

#![cfg(feature = "gpu")]

mod common;

use common::*;
use gpumark::gpu::{GpuContext, GpuError, GpuOptions, HeapMirror, MirrorCapacity};

#[test]
fn no_matching_adapter_is_an_error_naming_what_was_wanted() {
    let options = GpuOptions {
        adapter_name: Some("no-such-adapter-anywhere".into()),
        ..GpuOptions::default()
    };
    match GpuContext::new(&options) {
        Err(e @ GpuError::NoAdapter { .. }) => {
            assert!(e.to_string().contains("no-such-adapter-anywhere"), "{e}");
        }
        other => panic!("expected NoAdapter, got {other:?}"),
    }
}

#[test]
fn heap_too_large_names_array_size_and_limit() {
    let Some(ctx) = gpu(GpuOptions {
        max_binding_bytes: Some(4096),
        ..GpuOptions::default()
    }) else {
        return;
    };
    // 8 slot bindings of 1024 slots hold 8192 slots; ask for one more.
    match HeapMirror::new(&ctx, MirrorCapacity::new(100, 8193)) {
        Err(GpuError::HeapTooLarge { what, bytes, limit }) => {
            assert_eq!((what, bytes, limit), ("slots", 8193 * 4, 8192 * 4));
        }
        other => panic!("expected HeapTooLarge, got {other:?}"),
    }
    // 4 object bindings of 256 entries.
    match HeapMirror::new(&ctx, MirrorCapacity::new(1025, 10)) {
        Err(GpuError::HeapTooLarge { what, .. }) => assert_eq!(what, "object table"),
        other => panic!("expected HeapTooLarge, got {other:?}"),
    }
    // Exactly full fits.
    HeapMirror::new(&ctx, MirrorCapacity::new(1024, 8192)).expect("fits exactly");
}

#[test]
fn contract_violations_are_errors() {
    let Some(ctx) = gpu(GpuOptions::default()) else {
        return;
    };
    let heap = Heap::random(100, 2, 21);
    let mut m = mirror(&ctx, &heap);
    assert!(matches!(
        HeapMirror::new(
            &ctx,
            MirrorCapacity {
                max_objects: 100,
                max_slots: 10,
                max_queue_items: 50
            }
        ),
        Err(GpuError::OutOfRange { .. })
    ));
    assert!(matches!(
        m.upload_slots(150, &[0; 100]),
        Err(GpuError::OutOfRange { .. })
    ));
    assert!(matches!(
        m.set_watermark(101),
        Err(GpuError::OutOfRange { .. })
    ));
    m.set_watermark(50).expect("watermark");
    assert!(matches!(
        m.push_greys(&[(60, 0)]),
        Err(GpuError::OutOfRange { .. })
    ));
    let too_many = vec![(1, 0); m.capacity().max_queue_items as usize + 1];
    assert!(matches!(
        m.push_greys(&too_many),
        Err(GpuError::QueueFull { .. })
    ));
    assert_eq!(m.queue_len(), 0);
}

#[test]
#[cfg(feature = "testing")] // the fault-injection hook
fn injected_device_loss_is_reported_not_panicked() {
    let Some(ctx) = gpu(GpuOptions::default()) else {
        return;
    };
    let heap = Heap::random(1_000, 4, 22);
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &[0]);
    m.run_batch(u64::MAX, 2).expect("healthy batch");
    m.inject_device_lost();
    match m.run_batch(u64::MAX, 64) {
        Err(GpuError::DeviceLost { reason }) => println!("device lost: {reason}"),
        other => panic!("expected DeviceLost, got {other:?}"),
    }
    // Stays lost, like a real loss.
    assert!(matches!(
        m.download_marks(),
        Err(GpuError::DeviceLost { .. })
    ));
    assert!(matches!(
        m.run_batch(1, 1),
        Err(GpuError::DeviceLost { .. })
    ));
    assert!(matches!(m.take_queue(10), Err(GpuError::DeviceLost { .. })));
}
