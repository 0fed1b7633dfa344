//! An application that opens its own wgpu device, uses it for its own
//! compute work, and shares it with gpumark for a mark
//! (`GpuContext::from_device`). Device setup is kept apart from the work, as
//! in wgpu's examples: `execute_gpu` finds the device, `execute_gpu_inner`
//! does the work on whatever device it is given.
//!
//! Without a GPU adapter it says so and exits, unless `CI=true`, where that
//! is an error. On a machine without a GPU, Mesa's lavapipe will do:
//!
//! ```text
//! WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe \
//!     cargo run --features gpu --example shared_device
//! ```

use std::error::Error;
use std::sync::Arc;

use gpumark::gpu::wgpu;
use gpumark::gpu::{GpuContext, GpuOptions, GpuScan, GpuScanOptions, OffloadPolicy};
use gpumark::heap::{build, Shape, ShapeSpec};
use gpumark::mark::mark_stw_with;
use gpumark::verify::{check_exact, reachable};

/// The application's own kernel: squares each element in place.
const SQUARE: &str = "
@group(0) @binding(0) var<storage, read_write> data: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&data) {
        data[id.x] = data[id.x] * data[id.x];
    }
}
";

fn main() -> Result<(), Box<dyn Error>> {
    pollster::block_on(execute_gpu())
}

/// Finds an adapter (`WGPU_ADAPTER_NAME` honoured) and opens the device the
/// application and gpumark will share.
async fn execute_gpu() -> Result<(), Box<dyn Error>> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = match wgpu::util::initialize_adapter_from_env_or_default(&instance, None).await {
        Ok(adapter) => adapter,
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!ci, "CI=true and no GPU adapter: {e}");
            println!("skipped: no GPU adapter ({e})");
            return Ok(());
        }
    };
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("application"),
            // gpumark's scan kernel binds more storage buffers than wgpu's
            // default limits allow: ask for what the adapter has.
            required_limits: adapter.limits(),
            // The faster scan kernel, where the adapter has subgroups.
            required_features: adapter.features() & wgpu::Features::SUBGROUP,
            ..Default::default()
        })
        .await?;
    execute_gpu_inner(&device, &queue).await
}

/// The application's work on a device it was given: its own compute pass,
/// then a mark by gpumark on the same device and queue, then its own work
/// again.
async fn execute_gpu_inner(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
) -> Result<(), Box<dyn Error>> {
    let input: Vec<u32> = (0..1000).collect();
    let squares = square_on_gpu(device, queue, &input).await?;
    assert_eq!(squares[999], 999 * 999);

    let ctx = GpuContext::from_device(device, queue, &GpuOptions::default())?;
    println!(
        "sharing {} ({} kernel)",
        ctx.description(),
        ctx.scan_kernel()
    );
    let gpu = GpuScan::with_context(
        ctx,
        &GpuScanOptions {
            policy: OffloadPolicy::Always, // every level on the GPU
            ..GpuScanOptions::default()
        },
    );
    let heap = Arc::new(build(&ShapeSpec {
        shape: Shape::Random,
        objects: 20_000,
        ptrs: 4,
        roots: 16,
        seed: 5,
    }));
    let r = mark_stw_with(&heap, 1, &gpu);
    check_exact(&r.bits, &reachable(&heap))?;
    let s = gpu.stats();
    println!(
        "gpumark marked {} of {} objects, {} batches on the shared device",
        r.marked,
        heap.len(),
        s.batches
    );
    assert!(s.batches > 0 && s.device_lost.is_none(), "{s:?}");

    // The device is still the application's.
    let again = square_on_gpu(device, queue, &squares[..10]).await?;
    assert_eq!(again[3], 81);
    Ok(())
}

/// The application's own compute work: squares `input` on the device.
async fn square_on_gpu(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    input: &[u32],
) -> Result<Vec<u32>, Box<dyn Error>> {
    use wgpu::util::DeviceExt;
    let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
    // The data, read and written by the kernel, then copied out.
    let data = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("data"),
        contents: &bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    });
    // A mappable copy for the host to read.
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("staging"),
        size: bytes.len() as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    // The pipeline, its layout taken from the shader.
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("square"),
        source: wgpu::ShaderSource::Wgsl(SQUARE.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("square"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("square"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: data.as_entire_binding(),
        }],
    });
    // One pass, one copy, one submission.
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups((input.len() as u32).div_ceil(64), 1, 1);
    }
    encoder.copy_buffer_to_buffer(&data, 0, &staging, 0, bytes.len() as u64);
    queue.submit([encoder.finish()]);
    // Map the copy and read it.
    let slice = staging.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely())?;
    rx.recv()??;
    let out = slice
        .get_mapped_range()?
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    staging.unmap();
    Ok(out)
}
