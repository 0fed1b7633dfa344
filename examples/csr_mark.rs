//! Marks a graph the program built itself, handed to gpumark in CSR form
//! (`Heap::from_csr`): on the CPU, and with the `gpu` feature on the GPU too.
//!
//! The graph stands for a runtime's own heap: a table of `n` records, each
//! with a few pointers to other records (some nil), reachable from a handful
//! of globals and one mutator stack. Its arrays are the CSR form: `sizes`,
//! `offsets` (record `i`'s pointers are `targets[offsets[i]..offsets[i+1]]`)
//! and `targets`.
//!
//! ```text
//! cargo run --release --example csr_mark -- [records]
//! WGPU_BACKEND=vulkan WGPU_ADAPTER_NAME=llvmpipe \
//!     cargo run --release --features gpu --example csr_mark -- [records]
//! ```

use std::sync::Arc;
use std::time::Instant;

use gpumark::heap::{CsrGraph, Heap, HeapConfig, HeapError};
use gpumark::mark::mark_stw;
use gpumark::verify::{check_exact, reachable};

/// A small deterministic generator (xorshift64*), so the example needs no
/// random-number crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// The program's graph in CSR form.
struct Graph {
    sizes: Vec<u32>,
    offsets: Vec<u32>,
    targets: Vec<Option<u32>>,
    globals: Vec<Option<u32>>,
    stack: Vec<Option<u32>>,
}

/// `n` records of 0 to 6 pointers, one in eight nil, each pointing at a
/// random record; 8 globals and a 4-slot stack hold the roots.
fn program_graph(n: u32, seed: u64) -> Graph {
    let mut rng = Rng(seed | 1);
    let mut g = Graph {
        sizes: Vec::with_capacity(n as usize),
        offsets: vec![0],
        targets: Vec::new(),
        globals: Vec::new(),
        stack: Vec::new(),
    };
    for _ in 0..n {
        let k = rng.below(7);
        for _ in 0..k {
            let nil = rng.below(8) == 0;
            g.targets.push((!nil).then(|| rng.below(n)));
        }
        // The pointers plus a scalar payload of 16 to 64 bytes.
        g.sizes.push(8 * k + 16 + 8 * rng.below(7));
        g.offsets.push(g.targets.len() as u32);
    }
    g.globals = (0..8).map(|_| Some(rng.below(n))).collect();
    g.stack = vec![Some(rng.below(n)), None, Some(rng.below(n)), None];
    g
}

fn main() -> Result<(), HeapError> {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let g = program_graph(n, 7);
    let t = Instant::now();
    let heap = Arc::new(Heap::from_csr(
        &CsrGraph::new(&g.sizes, &g.offsets, &g.targets)
            .with_globals(&g.globals)
            .with_stack(&g.stack)
            // Room for the program to keep allocating afterwards.
            .with_extra(HeapConfig {
                max_objects: n / 4,
                max_slots: n,
                globals: 0,
            }),
    )?);
    println!(
        "{} records, {} pointers: heap built in {:.1} ms",
        heap.len(),
        heap.edges(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let reach = reachable(&heap);

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    let cpu = mark_stw(&heap, threads);
    println!(
        "cpu x{threads}: {} of {} records live ({} bytes) in {:.1} ms",
        cpu.marked,
        heap.len(),
        cpu.bytes_marked,
        t.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(check_exact(&cpu.bits, &reach), Ok(()));

    #[cfg(feature = "gpu")]
    gpu::mark(&heap, threads, &cpu.bits.snapshot());
    Ok(())
}

#[cfg(feature = "gpu")]
mod gpu {
    use super::*;
    use gpumark::gpu::{GpuError, GpuScan, GpuScanOptions, OffloadPolicy};
    use gpumark::mark::mark_stw_with;

    /// Marks `heap` with the GPU backend and checks it marked what the CPU
    /// did (`cpu_bits`). Without an adapter it says so and returns, unless
    /// `CI=true`.
    pub fn mark(heap: &Arc<Heap>, threads: usize, cpu_bits: &[u64]) {
        let opts = GpuScanOptions {
            policy: OffloadPolicy::Always,
            ..GpuScanOptions::default()
        };
        let gpu = match GpuScan::new(&opts) {
            Ok(gpu) => gpu,
            Err(e @ GpuError::NoAdapter { .. }) => {
                assert!(
                    std::env::var("CI").map_or(true, |v| v != "true"),
                    "CI=true and no GPU adapter: {e}"
                );
                println!("gpu: skipped, no adapter ({e})");
                return;
            }
            Err(e) => panic!("opening the GPU failed: {e}"),
        };
        // The first upload is the heap's copy to the device: not timed.
        gpu.prepare(heap).expect("the heap fits the device");
        let t = Instant::now();
        let r = mark_stw_with(heap, threads, &gpu);
        let s = gpu.stats();
        println!(
            "gpu on {}: {} records live in {:.1} ms, {:.0}% of the scan work on the GPU",
            gpu.adapter().name,
            r.marked,
            t.elapsed().as_secs_f64() * 1e3,
            100.0 * s.gpu_scan_fraction()
        );
        assert_eq!(
            r.bits.snapshot(),
            cpu_bits,
            "the GPU marked what the CPU did"
        );
    }
}
