//! Marks a random heap (default 10^6 objects x 4 slots) on the selected
//! adapter and prints scan throughput. On a machine without a GPU select
//! Mesa lavapipe — the numbers are then CPU-emulated Vulkan, not a GPU:
//!
//! ```text
//! WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe \
//!     cargo run --release --features gpu --example gpu_throughput -- [objects] [slots-per-object]
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;
use gpumark::gpu::{GpuContext, GpuError, GpuOptions};

fn main() -> Result<(), GpuError> {
    let mut args = std::env::args().skip(1);
    let n: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let k: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let heap = Heap::random(n, k, 42);
    let roots: Vec<u32> = (0..64).map(|i| i * (n / 64)).collect();
    let t = Instant::now();
    let (_, want) = reference(&heap, &roots, heap.len());
    let secs = t.elapsed().as_secs_f64();
    println!(
        "host reference (sequential, one thread): {:.1} ms, {:.1} M edges/s",
        secs * 1e3,
        (want.scan_work / 8) as f64 / secs / 1e6
    );

    for allow_subgroups in [true, false] {
        let ctx = GpuContext::new(&GpuOptions {
            allow_subgroups,
            ..GpuOptions::default()
        })?;
        let kernel = ctx.scan_kernel();
        let t0 = Instant::now();
        let mut m = mirror(&ctx, &heap);
        m.download_marks()?; // wait for the uploads
        let upload = t0.elapsed();
        for round in 0..2 {
            m.clear_marks()?;
            push_roots(&mut m, &heap, &roots);
            m.download_marks()?;
            let t = Instant::now();
            let (got, batches) = mark_on_gpu(&mut m, u64::MAX, 64);
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(got, want, "GPU totals differ from the reference");
            let slots = got.scan_work / 8;
            println!(
                "{} [{kernel}] round {round}: {n} objects x {k} slots, upload {:.0} ms, \
                 mark {:.1} ms in {batches} batches: {} objects marked, {slots} slots scanned, \
                 {:.1} M edges/s",
                ctx.description(),
                upload.as_secs_f64() * 1e3,
                secs * 1e3,
                got.objects_marked,
                slots as f64 / secs / 1e6
            );
        }
    }
    Ok(())
}
