//! A device the application opened itself, shared with gpumark
//! (`GpuContext::from_device`): checked against what the kernels need, and
//! marking exactly on it. (The end-to-end example is the doctest on
//! `from_device`, which is `examples/shared_device.rs`.)

#![cfg(feature = "gpu")]

mod common;

use std::sync::Arc;

use common::*;
use gpumark::gpu::wgpu;
use gpumark::gpu::{
    GpuContext, GpuError, GpuOptions, GpuScan, GpuScanOptions, OffloadPolicy,
    STORAGE_BINDINGS_NEEDED,
};
use gpumark::heap::{build, Shape, ShapeSpec};
use gpumark::mark::mark_stw_with;
use gpumark::verify::{check_exact, reachable};

/// An adapter found the way an application finds one (`WGPU_ADAPTER_NAME`
/// honoured), or `None` after a skip line; with `CI=true` a missing adapter
/// fails the test instead.
fn app_adapter() -> Option<wgpu::Adapter> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    match pollster::block_on(wgpu::util::initialize_adapter_from_env_or_default(
        &instance, None,
    )) {
        Ok(a) => Some(a),
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true and no GPU adapter: {e}");
            eprintln!("skipped: no GPU adapter ({e})");
            None
        }
    }
}

fn open(adapter: &wgpu::Adapter, desc: &wgpu::DeviceDescriptor<'_>) -> (wgpu::Device, wgpu::Queue) {
    pollster::block_on(adapter.request_device(desc)).expect("the adapter opens a device")
}

#[test]
fn a_device_with_wgpus_default_limits_is_refused_naming_the_limit() {
    let Some(adapter) = app_adapter() else {
        return;
    };
    // What `request_device(&Default::default())` gives: wgpu's default
    // limits, 8 storage buffers per shader stage.
    let (device, queue) = open(&adapter, &wgpu::DeviceDescriptor::default());
    match GpuContext::from_device(&device, &queue, &GpuOptions::default()) {
        Err(e @ GpuError::MissingLimit { .. }) => {
            let GpuError::MissingLimit { limit, need, have } = e else {
                unreachable!()
            };
            assert_eq!(
                (limit, need, have),
                (
                    "max_storage_buffers_per_shader_stage",
                    u64::from(STORAGE_BINDINGS_NEEDED),
                    8
                )
            );
        }
        other => panic!("expected MissingLimit, got {other:?}"),
    }
}

#[test]
fn a_level_trace_on_a_device_without_timestamps_names_the_feature() {
    let Some(adapter) = app_adapter() else {
        return;
    };
    let (device, queue) = open(
        &adapter,
        &wgpu::DeviceDescriptor {
            required_limits: adapter.limits(),
            ..Default::default()
        },
    );
    let trace = GpuOptions {
        trace_levels: true,
        ..GpuOptions::default()
    };
    match GpuContext::from_device(&device, &queue, &trace) {
        Err(e @ GpuError::MissingFeature { .. }) => {
            assert!(e.to_string().contains("TIMESTAMP_QUERY"), "{e}");
        }
        other => panic!("expected MissingFeature, got {other:?}"),
    }
}

#[test]
fn marks_exactly_on_the_applications_device() {
    let Some(adapter) = app_adapter() else {
        return;
    };
    // Without SUBGROUP: the portable kernel, whatever the adapter has.
    let (device, queue) = open(
        &adapter,
        &wgpu::DeviceDescriptor {
            required_limits: adapter.limits(),
            ..Default::default()
        },
    );
    let ctx = GpuContext::from_device(&device, &queue, &GpuOptions::default()).expect("shares");
    assert_eq!(ctx.scan_kernel(), "scan_workgroup");
    assert_eq!(ctx.description().name, adapter.get_info().name);
    assert_eq!(*ctx.limits(), adapter.limits());
    let gpu = GpuScan::with_context(
        ctx,
        &GpuScanOptions {
            policy: OffloadPolicy::Always,
            ..GpuScanOptions::default()
        },
    );
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::PowerLaw,
        objects: 30_000,
        ptrs: 4,
        roots: 32,
        seed: 9,
    }));
    let r = mark_stw_with(&heap, 2, &gpu);
    assert_eq!(check_exact(&r.bits, &reachable(&heap)), Ok(()));
    let s = gpu.stats();
    assert!(s.batches > 0 && s.device_lost.is_none(), "{s:?}");
}

#[test]
fn a_loss_the_application_forwards_is_reported_as_device_lost() {
    let Some(adapter) = app_adapter() else {
        return;
    };
    let (device, queue) = open(
        &adapter,
        &wgpu::DeviceDescriptor {
            required_limits: adapter.limits(),
            ..Default::default()
        },
    );
    let ctx = GpuContext::from_device(&device, &queue, &GpuOptions::default()).expect("shares");
    let heap = Heap::random(1_000, 4, 3);
    let mut m = mirror(&ctx, &heap);
    push_roots(&mut m, &heap, &[0]);
    m.run_batch(u64::MAX, 2).expect("healthy batch");
    // The application's own device-lost callback forwards the loss.
    ctx.note_device_lost("the application saw its device go");
    match m.run_batch(u64::MAX, 64) {
        Err(GpuError::DeviceLost { reason }) => {
            assert_eq!(reason, "the application saw its device go")
        }
        other => panic!("expected DeviceLost, got {other:?}"),
    }
}
