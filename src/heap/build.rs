//! Deterministic heap builders: the shapes tests and host-bench mark.
//!
//! Each shape stresses a different part of a marker, the way real heaps do:
//!
//! - `random`: N objects with K slots of uniform random targets and R random
//!   roots. A wide, shallow frontier: the throughput case.
//! - `list`: one chain of N objects. The frontier is one object wide at every
//!   level, which is where parallel (and GPU) marking has nothing to share.
//! - `tree`: a complete K-ary tree rooted at object 0; every object reachable
//!   exactly once.
//! - `wide`: a few huge pointer arrays (millions of slots each) holding the
//!   rest of the heap, whose objects point at random others. Exercises oblets.
//! - `powerlaw`: out-degrees drawn from a Pareto (Zipf-like) law with mean K,
//!   like real heaps where a few collections hold most pointers.
//!
//! The same seed always builds the same heap.

use super::{Heap, HeapConfig, WORD_BYTES};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The heap shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Uniform random graph.
    Random,
    /// One long chain.
    List,
    /// Complete K-ary tree.
    Tree,
    /// A few huge pointer arrays.
    Wide,
    /// Pareto-distributed out-degrees.
    PowerLaw,
}

impl Shape {
    /// All shapes, in a stable order.
    pub const ALL: [Shape; 5] = [
        Shape::Random,
        Shape::List,
        Shape::Tree,
        Shape::Wide,
        Shape::PowerLaw,
    ];

    /// The shape's name as host-bench spells it.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Random => "random",
            Shape::List => "list",
            Shape::Tree => "tree",
            Shape::Wide => "wide",
            Shape::PowerLaw => "powerlaw",
        }
    }

    /// Parses a shape name.
    pub fn from_name(s: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|sh| sh.name() == s)
    }
}

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeSpec {
    /// The shape.
    pub shape: Shape,
    /// Number of objects.
    pub objects: u32,
    /// Pointer slots per object (K): exact for random, arity for tree,
    /// per-leaf slots for wide, mean for powerlaw; list ignores it.
    pub ptrs: u32,
    /// Number of random roots (random, powerlaw); the other shapes have
    /// their natural roots.
    pub roots: u32,
    /// Seed for every random choice.
    pub seed: u64,
}

/// Arrays in the `wide` shape.
const WIDE_ARRAYS: u32 = 4;
/// Bytes of scalar payload given to each object besides its pointers.
const SCALAR_BYTES: u32 = 16;
/// Pareto exponent of the power-law shape: heavy-tailed with a finite mean.
const POWERLAW_ALPHA: f64 = 1.5;

/// Builds the heap described by `spec`.
pub fn build(spec: &ShapeSpec) -> Heap {
    let n = spec.objects.max(1);
    let k = spec.ptrs;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
    let mut below = |m: u32| -> u32 { (((rng.next_u64() >> 32) * u64::from(m)) >> 32) as u32 };
    // Per-object slot counts, then the slots themselves.
    let mut counts: Vec<u32> = vec![0; n as usize];
    let mut roots: Vec<u32> = Vec::new();
    match spec.shape {
        Shape::Random => {
            counts.fill(k);
            roots = (0..spec.roots).map(|_| below(n) + 1).collect();
        }
        Shape::List => {
            counts.fill(1);
            roots.push(1);
        }
        Shape::Tree => {
            counts.fill(k);
            roots.push(1);
        }
        Shape::Wide => {
            let arrays = WIDE_ARRAYS.min(n);
            let leaves = n - arrays;
            for (a, c) in counts.iter_mut().enumerate().take(arrays as usize) {
                *c = leaves / arrays + u32::from((a as u32) < leaves % arrays);
            }
            counts[arrays as usize..].fill(k);
            roots = (1..=arrays).collect();
        }
        Shape::PowerLaw => {
            // Pareto with x_min chosen so the mean is k, capped at n.
            let xmin = f64::from(k) * (POWERLAW_ALPHA - 1.0) / POWERLAW_ALPHA;
            let cap = f64::from(n);
            for c in counts.iter_mut() {
                let u = ((below(u32::MAX) as f64) + 1.0) / 4294967296.0;
                *c = (xmin * u.powf(-1.0 / POWERLAW_ALPHA)).min(cap) as u32;
            }
            roots = (0..spec.roots).map(|_| below(n) + 1).collect();
        }
    }
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let mut slots = Vec::with_capacity(total as usize);
    match spec.shape {
        Shape::Random | Shape::PowerLaw => {
            for _ in 0..total {
                slots.push(below(n) + 1);
            }
        }
        Shape::List => slots.extend((1..n).map(|i| i + 1).chain([0])),
        Shape::Tree => {
            for i in 0..u64::from(n) {
                for c in 1..=u64::from(k) {
                    let child = i * u64::from(k) + c;
                    slots.push(if child < u64::from(n) {
                        child as u32 + 1
                    } else {
                        0
                    });
                }
            }
        }
        Shape::Wide => {
            let arrays = WIDE_ARRAYS.min(n);
            for a in 0..arrays {
                slots.extend((arrays + a..n).step_by(arrays as usize).map(|l| l + 1));
            }
            for _ in arrays..n {
                for _ in 0..k {
                    slots.push(below(n - arrays) + arrays + 1);
                }
            }
        }
    }
    debug_assert_eq!(slots.len() as u64, total);
    let objects: Vec<(u32, u32)> = counts
        .iter()
        .map(|&c| ((u64::from(c) * WORD_BYTES) as u32 + SCALAR_BYTES, c))
        .collect();
    let no_extra = HeapConfig {
        max_objects: 0,
        max_slots: 0,
        globals: 0,
    };
    Heap::from_parts(&objects, slots, roots, Vec::new(), no_extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::ObjRef;

    fn first_root(h: &Heap) -> Option<ObjRef> {
        ObjRef::decode(h.globals()[0].load(std::sync::atomic::Ordering::Relaxed))
    }

    fn spec(shape: Shape, objects: u32, ptrs: u32) -> ShapeSpec {
        ShapeSpec {
            shape,
            objects,
            ptrs,
            roots: 8,
            seed: 7,
        }
    }

    #[test]
    fn same_seed_same_heap() {
        for sh in Shape::ALL {
            let a = build(&spec(sh, 500, 3));
            let b = build(&spec(sh, 500, 3));
            assert_eq!(a.len(), 500);
            assert_eq!(a.slots_len(), b.slots_len());
            let sa: Vec<u32> = a
                .raw_slots()
                .iter()
                .map(|s| s.load(std::sync::atomic::Ordering::Relaxed))
                .collect();
            let sb: Vec<u32> = b
                .raw_slots()
                .iter()
                .map(|s| s.load(std::sync::atomic::Ordering::Relaxed))
                .collect();
            assert_eq!(sa, sb, "{sh:?}");
        }
    }

    #[test]
    fn shapes_have_their_structure() {
        let l = build(&spec(Shape::List, 100, 0));
        assert_eq!(l.edges(), 99);
        assert_eq!(first_root(&l), Some(ObjRef(0)));
        let t = build(&spec(Shape::Tree, 100, 3));
        assert_eq!(t.edges(), 99);
        let w = build(&spec(Shape::Wide, 10_004, 2));
        assert_eq!(w.desc(0).nslots, 2500);
        assert_eq!(w.edges(), 10_000 + 10_000 * 2);
        let r = build(&spec(Shape::Random, 1000, 4));
        assert_eq!(r.edges(), 4000);
        let p = build(&spec(Shape::PowerLaw, 20_000, 4));
        let mean = p.slots_len() as f64 / 20_000.0;
        assert!((2.0..8.0).contains(&mean), "mean degree {mean}");
        let max = (0..p.len()).map(|i| p.desc(i).nslots).max().unwrap();
        assert!(max > 100, "heavy tail expected, max degree {max}");
    }
}
