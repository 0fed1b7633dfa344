//! Marks each heap shape stop-the-world with the CPU engine and with the GPU
//! backend under both offload policies, and prints times, the GPU's share of
//! the scan work, and the measured offload model behind `auto`'s threshold.
//! On a machine without a GPU select Mesa lavapipe — the GPU figures are then
//! CPU-emulated Vulkan, not a GPU:
//!
//! ```text
//! WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe \
//!     cargo run --release --features gpu --example gpu_offload -- [objects] [threads]
//! ```

use std::sync::Arc;
use std::time::Instant;

use gpumark::gpu::{GpuError, GpuScan, GpuScanOptions, OffloadPolicy};
use gpumark::heap::{build, Shape, ShapeSpec};
use gpumark::mark::{mark_stw, mark_stw_with};
use gpumark::verify::{check_exact, reachable};

fn main() -> Result<(), GpuError> {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1 << 20);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let always = GpuScan::new(&GpuScanOptions {
        policy: OffloadPolicy::Always,
        ..GpuScanOptions::default()
    })?;
    let auto = GpuScan::new(&GpuScanOptions::default())?;
    println!("adapter: {}", always.adapter());
    for shape in Shape::ALL {
        let heap = Arc::new(build(&ShapeSpec {
            shape,
            objects: n,
            ptrs: 4,
            roots: 64,
            seed: 1,
        }));
        let reach = reachable(&heap);
        let edges = heap.edges() as f64;
        let t = Instant::now();
        let cpu = mark_stw(&heap, threads);
        let cpu_s = t.elapsed().as_secs_f64();
        assert_eq!(cpu.marked, reach.count);
        print!(
            "{:9} {n} objects: cpu x{threads} {:7.1} ms ({:6.1} M edges/s)",
            shape.name(),
            cpu_s * 1e3,
            edges / cpu_s / 1e6
        );
        for (name, gpu) in [("always", &always), ("auto", &auto)] {
            gpu.prepare(&heap)?; // first upload (and calibration) not timed
            gpu.reset_stats();
            let t = Instant::now();
            let r = mark_stw_with(&heap, threads, gpu);
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(check_exact(&r.bits, &reach), Ok(()), "{name}");
            let s = gpu.stats();
            print!(
                " | {name} {:7.1} ms ({:6.1} M edges/s, gpu {:3.0}%, {} batches, upload {:.1} ms)",
                secs * 1e3,
                edges / secs / 1e6,
                100.0 * s.gpu_scan_fraction(),
                s.batches,
                s.upload_s * 1e3
            );
        }
        println!();
    }
    println!(
        "auto: model {:?}, threshold {:?} items",
        auto.offload_model(),
        auto.handoff_threshold()
    );
    Ok(())
}
