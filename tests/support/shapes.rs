//! The heap-shape strategy the exactness property tests share: every shape,
//! up to 3000 objects, 0-5 pointer slots, 0-15 roots, any seed. The same
//! strategy drives the CPU engine's tests (`mark.rs`) and the GPU backend's
//! (`gpu_scan.rs`), so both are held to the same heaps.

use gpumark::heap::{Shape, ShapeSpec};
use proptest::prelude::*;

pub fn shape_strategy() -> impl Strategy<Value = ShapeSpec> {
    (
        prop::sample::select(Shape::ALL.to_vec()),
        1u32..3000,
        0u32..6,
        0u32..16,
        any::<u64>(),
    )
        .prop_map(|(shape, objects, ptrs, roots, seed)| ShapeSpec {
            shape,
            objects,
            ptrs,
            roots,
            seed,
        })
}
