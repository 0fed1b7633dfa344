//! A heap from a user's own object graph, given in compressed sparse row
//! (CSR) form: the builder a runtime author reaches for first.
//!
//! No Go counterpart: Go's heap is the program's memory. This is how a graph
//! kept elsewhere (a runtime's own heap, a snapshot, a test fixture) becomes
//! a [`Heap`] without one checked [`Heap::alloc`] and [`Heap::store`] per
//! object and slot, and without printing it as an edge list to re-import it.
//!
//! [`CsrGraph`] documents the form and what is checked.

use super::{Heap, HeapConfig, HeapError, WORD_BYTES};

/// The most objects a heap can hold: every index `i` must encode as `i + 1`
/// below [`POISON_SLOT`](super::POISON_SLOT) (`u32::MAX`).
const MAX_OBJECTS: u64 = u32::MAX as u64 - 1;

/// A user's object graph in compressed sparse row (CSR) form, with its roots
/// and the capacity to reserve beyond it: what [`Heap::from_csr`] builds a
/// heap from. The graph is borrowed, and nothing is checked until
/// `from_csr`.
///
/// # The form
///
/// Object `i` has `sizes[i]` bytes and the pointer slots
/// `targets[offsets[i] as usize..offsets[i + 1] as usize]`: `offsets` has one
/// entry more than `sizes`, starts at 0, never decreases and ends at
/// `targets.len()`. This is exactly the heap's own layout (each object's
/// slots follow its predecessor's, see the [module
/// documentation](crate::heap)), so object `i` of the graph is [`ObjRef`](crate::heap::ObjRef)`(i)` of the heap and its slot `j` is
/// slot `j` of that object. A target is an object index, `None` a nil slot.
/// Global roots and mutator stacks are slices of targets in the same way.
///
/// # Validation
///
/// [`Heap::from_csr`] checks everything before it builds anything, and the
/// first problem found (in the order: capacities, offsets, sizes, slots,
/// globals, stacks; objects in index order) is a [`HeapError`] naming the
/// object, slot, global or stack:
///
/// | problem | error |
/// |---|---|
/// | `offsets.len() != sizes.len() + 1` | [`HeapError::CsrOffsetsLength`] |
/// | `offsets[0] != 0` | [`HeapError::CsrOffsetsStart`] |
/// | `offsets[i + 1] < offsets[i]` | [`HeapError::CsrOffsetsDecrease`] naming object `i` |
/// | last offset `!= targets.len()` | [`HeapError::CsrTargetsLength`] |
/// | `sizes[i] < 8 * slots of i` | [`HeapError::ObjectTooSmall`] naming object `i` |
/// | a slot's target `>= sizes.len()` | [`HeapError::SlotOutOfRange`] naming the object and slot |
/// | a global's target out of range | [`HeapError::GlobalOutOfRange`] |
/// | a stack slot's target out of range | [`HeapError::StackSlotOutOfRange`] |
/// | objects or slots past the 32-bit limits | [`HeapError::CapacityTooLarge`] |
#[derive(Clone, Debug)]
pub struct CsrGraph<'a> {
    sizes: &'a [u32],
    offsets: &'a [u32],
    targets: &'a [Option<u32>],
    globals: &'a [Option<u32>],
    stacks: Vec<&'a [Option<u32>]>,
    extra: HeapConfig,
}

impl<'a> CsrGraph<'a> {
    /// Object `i` has `sizes[i]` bytes and the slots
    /// `targets[offsets[i]..offsets[i + 1]]`; no roots and no capacity
    /// beyond the graph until the `with_` methods add them.
    pub fn new(sizes: &'a [u32], offsets: &'a [u32], targets: &'a [Option<u32>]) -> Self {
        CsrGraph {
            sizes,
            offsets,
            targets,
            globals: &[],
            stacks: Vec::new(),
            extra: HeapConfig {
                max_objects: 0,
                max_slots: 0,
                globals: 0,
            },
        }
    }

    /// The global roots (the heap's first global slots, in order).
    pub fn with_globals(mut self, globals: &'a [Option<u32>]) -> Self {
        self.globals = globals;
        self
    }

    /// Adds one mutator stack with these root slots (see
    /// [`Heap::stacks`]); call once per stack.
    pub fn with_stack(mut self, slots: &'a [Option<u32>]) -> Self {
        self.stacks.push(slots);
        self
    }

    /// Capacity to reserve beyond the graph, for allocation after the build
    /// (by [`Heap::alloc`] or a collector's mutators): `max_objects` more
    /// objects, `max_slots` more slots, `globals` more (nil) global roots
    /// after the graph's.
    pub fn with_extra(mut self, extra: HeapConfig) -> Self {
        self.extra = extra;
        self
    }
}

impl Heap {
    /// Builds a heap holding `graph`: object `i` of the graph is
    /// [`ObjRef`](super::ObjRef)`(i)`, with its size, its slots in order, and
    /// the graph's globals and stacks as roots. Capacity is the graph plus
    /// [`CsrGraph::with_extra`].
    ///
    /// # Errors
    ///
    /// The first problem in the graph, naming the object, slot, global or
    /// stack ([`CsrGraph`] lists them:
    /// [`HeapError::CsrOffsetsLength`], [`HeapError::CsrOffsetsStart`],
    /// [`HeapError::CsrOffsetsDecrease`], [`HeapError::CsrTargetsLength`],
    /// [`HeapError::ObjectTooSmall`], [`HeapError::SlotOutOfRange`],
    /// [`HeapError::GlobalOutOfRange`], [`HeapError::StackSlotOutOfRange`],
    /// [`HeapError::CapacityTooLarge`]). Nothing is built unless the whole
    /// graph is valid.
    ///
    /// # Examples
    ///
    /// A graph of four objects: 0 points to 1 and 2, 1 to 2 and back to 0,
    /// 2 has no pointers, 3 points to 0 but nothing points to 3. Global 0
    /// holds object 0. Marking finds 0, 1 and 2 and leaves 3 white; with the
    /// `gpu` feature the GPU backend marks the same set (skipped where there
    /// is no adapter, unless `CI=true`).
    ///
    /// ```
    /// use gpumark::heap::{CsrGraph, Heap, HeapConfig, HeapError, ObjRef};
    /// use gpumark::mark::mark_stw;
    /// use std::sync::Arc;
    ///
    /// let sizes = [32, 24, 8, 16];
    /// let offsets = [0, 2, 4, 4, 5];
    /// let targets = [Some(1), Some(2), Some(2), Some(0), Some(0)];
    /// let graph = CsrGraph::new(&sizes, &offsets, &targets)
    ///     .with_globals(&[Some(0)])
    ///     .with_extra(HeapConfig { max_objects: 16, max_slots: 64, globals: 0 });
    /// let heap = Arc::new(Heap::from_csr(&graph)?);
    /// assert_eq!(heap.load(ObjRef(1), 1)?, Some(ObjRef(0)));
    ///
    /// let r = mark_stw(&heap, 2);
    /// assert_eq!((r.marked, r.bytes_marked), (3, 32 + 24 + 8));
    /// assert!(!r.bits.is_marked(3));
    ///
    /// # #[cfg(feature = "gpu")]
    /// # {
    /// use gpumark::gpu::{GpuError, GpuScan, GpuScanOptions, OffloadPolicy};
    /// use gpumark::mark::mark_stw_with;
    /// let opts = GpuScanOptions { policy: OffloadPolicy::Always, ..Default::default() };
    /// match GpuScan::new(&opts) {
    ///     Ok(gpu) => {
    ///         let g = mark_stw_with(&heap, 2, &gpu);
    ///         assert_eq!(g.bits.snapshot(), r.bits.snapshot());
    ///         assert!(gpu.stats().gpu_scan_work > 0, "the GPU scanned");
    ///     }
    ///     Err(e @ GpuError::NoAdapter { .. }) => {
    ///         assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI needs a GPU: {e}");
    ///     }
    ///     Err(e) => panic!("{e}"),
    /// }
    /// # }
    ///
    /// // A dangling pointer is an error naming the object and slot.
    /// let bad = [Some(1), Some(2), Some(9), Some(0), Some(0)];
    /// assert_eq!(
    ///     Heap::from_csr(&CsrGraph::new(&sizes, &offsets, &bad)).unwrap_err(),
    ///     HeapError::SlotOutOfRange { obj: 1, slot: 0, target: 9, objects: 4 }
    /// );
    /// # Ok::<(), HeapError>(())
    /// ```
    pub fn from_csr(graph: &CsrGraph<'_>) -> Result<Heap, HeapError> {
        let CsrGraph {
            sizes,
            offsets,
            targets,
            globals,
            ref stacks,
            extra,
        } = *graph;
        check_capacity(sizes.len(), targets.len(), extra)?;
        let n = sizes.len() as u32;
        check_offsets(n, offsets, targets.len())?;

        let mut objects = Vec::with_capacity(sizes.len());
        for (i, (&size, w)) in sizes.iter().zip(offsets.windows(2)).enumerate() {
            let nslots = w[1] - w[0];
            if u64::from(size) < u64::from(nslots) * WORD_BYTES {
                return Err(HeapError::ObjectTooSmall {
                    obj: i as u32,
                    size,
                    nslots,
                });
            }
            objects.push((size, nslots));
        }

        let mut slots = Vec::with_capacity(targets.len());
        for (i, w) in offsets.windows(2).enumerate() {
            for (j, &t) in targets[w[0] as usize..w[1] as usize].iter().enumerate() {
                slots.push(encode(t, n).map_err(|target| HeapError::SlotOutOfRange {
                    obj: i as u32,
                    slot: j as u32,
                    target,
                    objects: n,
                })?);
            }
        }
        let globals = globals
            .iter()
            .enumerate()
            .map(|(index, &t)| {
                encode(t, n).map_err(|target| HeapError::GlobalOutOfRange {
                    index,
                    target,
                    objects: n,
                })
            })
            .collect::<Result<Vec<u32>, _>>()?;
        let stacks = stacks
            .iter()
            .enumerate()
            .map(|(stack, s)| {
                s.iter()
                    .enumerate()
                    .map(|(index, &t)| {
                        encode(t, n).map_err(|target| HeapError::StackSlotOutOfRange {
                            stack,
                            index,
                            target,
                            objects: n,
                        })
                    })
                    .collect::<Result<Vec<u32>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Heap::from_parts(&objects, slots, globals, stacks, extra))
    }
}

/// The slot encoding of `t` (see [`ObjRef::encode`](super::ObjRef::encode)),
/// or the target itself if it names no object of `n`.
fn encode(t: Option<u32>, n: u32) -> Result<u32, u32> {
    match t {
        None => Ok(0),
        Some(t) if t < n => Ok(t + 1),
        Some(t) => Err(t),
    }
}

/// The graph and its extra capacity fit the heap's 32-bit indices.
fn check_capacity(objects: usize, slots: usize, extra: HeapConfig) -> Result<(), HeapError> {
    let objects = objects as u64 + u64::from(extra.max_objects);
    if objects > MAX_OBJECTS {
        return Err(HeapError::CapacityTooLarge {
            what: "objects",
            requested: objects,
            limit: MAX_OBJECTS,
        });
    }
    let slots = slots as u64 + u64::from(extra.max_slots);
    let limit = u64::from(u32::MAX);
    if slots > limit {
        return Err(HeapError::CapacityTooLarge {
            what: "slots",
            requested: slots,
            limit,
        });
    }
    Ok(())
}

/// `offsets` has `n + 1` entries, starts at 0, never decreases and ends at
/// `targets`.
fn check_offsets(n: u32, offsets: &[u32], targets: usize) -> Result<(), HeapError> {
    if offsets.len() != n as usize + 1 {
        return Err(HeapError::CsrOffsetsLength {
            offsets: offsets.len(),
            objects: n,
        });
    }
    if offsets[0] != 0 {
        return Err(HeapError::CsrOffsetsStart { first: offsets[0] });
    }
    if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(HeapError::CsrOffsetsDecrease {
            obj: i as u32,
            start: offsets[i],
            end: offsets[i + 1],
        });
    }
    let last = offsets[n as usize];
    if last as usize != targets {
        return Err(HeapError::CsrTargetsLength {
            last_offset: last,
            targets,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::ObjRef;

    const SIZES: [u32; 4] = [32, 24, 8, 16];
    const OFFSETS: [u32; 5] = [0, 2, 4, 4, 5];
    const TARGETS: [Option<u32>; 5] = [Some(1), Some(2), Some(2), Some(0), Some(0)];

    fn err(g: CsrGraph<'_>) -> HeapError {
        Heap::from_csr(&g).expect_err("the graph is invalid")
    }

    #[test]
    fn builds_objects_slots_roots_and_extra_capacity() {
        let targets = [Some(1), None, Some(2), Some(0), Some(3)];
        let stack = [None, Some(3)];
        let h = Heap::from_csr(
            &CsrGraph::new(&SIZES, &OFFSETS, &targets)
                .with_globals(&[Some(0), None])
                .with_stack(&stack)
                .with_stack(&[])
                .with_extra(HeapConfig {
                    max_objects: 3,
                    max_slots: 7,
                    globals: 1,
                }),
        )
        .unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h.slots_len(), 5);
        assert_eq!(h.allocated_bytes(), 32 + 24 + 8 + 16);
        let d = h.object(ObjRef(1)).unwrap();
        assert_eq!((d.slot_start, d.nslots, d.size), (2, 2, 24));
        assert_eq!(h.load(ObjRef(0), 1).unwrap(), None);
        assert_eq!(h.load(ObjRef(3), 0).unwrap(), Some(ObjRef(3)));
        assert_eq!(h.global(1).unwrap(), None);
        assert_eq!(h.global(2).unwrap(), None, "the extra global");
        let stacks: Vec<_> = h.stacks().iter().map(|s| s.snapshot()).collect();
        assert_eq!(stacks, vec![vec![0, 4], vec![]]);
        assert_eq!(
            h.config(),
            HeapConfig {
                max_objects: 7,
                max_slots: 12,
                globals: 3
            }
        );
        // The extra capacity is there to allocate from.
        let o = h.alloc(56, 7).unwrap();
        assert_eq!((o, h.object(o).unwrap().slot_start), (ObjRef(4), 5));
        assert!(matches!(h.alloc(8, 1), Err(HeapError::HeapFull { .. })));
    }

    #[test]
    fn an_empty_graph_is_an_empty_heap() {
        let h = Heap::from_csr(&CsrGraph::new(&[], &[0], &[])).unwrap();
        assert!(h.is_empty());
        assert_eq!(h.config().max_objects, 0);
    }

    #[test]
    fn offsets_of_the_wrong_length() {
        assert_eq!(
            err(CsrGraph::new(&SIZES, &OFFSETS[..4], &TARGETS)),
            HeapError::CsrOffsetsLength {
                offsets: 4,
                objects: 4
            }
        );
        // No objects still needs the one offset.
        let e = err(CsrGraph::new(&[], &[], &[]));
        assert_eq!(
            e.to_string(),
            "CSR offsets have 0 entries, but 0 objects need 1 (one per object and one for the end)"
        );
    }

    #[test]
    fn offsets_not_starting_at_zero() {
        let e = err(CsrGraph::new(&SIZES, &[1, 2, 4, 4, 5], &TARGETS));
        assert_eq!(e, HeapError::CsrOffsetsStart { first: 1 });
        assert_eq!(e.to_string(), "CSR offsets must start at 0, not 1");
    }

    #[test]
    fn decreasing_offsets_name_the_object() {
        let e = err(CsrGraph::new(&SIZES, &[0, 2, 4, 3, 5], &TARGETS));
        assert_eq!(
            e,
            HeapError::CsrOffsetsDecrease {
                obj: 2,
                start: 4,
                end: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "CSR offsets decrease at object 2: its slots would run from 4 to 3"
        );
    }

    #[test]
    fn offsets_not_ending_at_the_targets() {
        let e = err(CsrGraph::new(&SIZES, &[0, 2, 4, 4, 4], &TARGETS));
        assert_eq!(
            e,
            HeapError::CsrTargetsLength {
                last_offset: 4,
                targets: 5
            }
        );
        assert_eq!(
            e.to_string(),
            "the last CSR offset is 4, but there are 5 targets (they must be equal)"
        );
    }

    #[test]
    fn a_size_too_small_for_its_slots_names_the_object() {
        let e = err(CsrGraph::new(&[32, 15, 8, 16], &OFFSETS, &TARGETS));
        assert_eq!(
            e,
            HeapError::ObjectTooSmall {
                obj: 1,
                size: 15,
                nslots: 2
            }
        );
        assert_eq!(
            e.to_string(),
            "object 1 is 15 bytes, too small for its 2 pointer slots of 8 bytes"
        );
    }

    #[test]
    fn a_target_past_the_end_names_the_object_and_slot() {
        let targets = [Some(1), Some(2), Some(2), Some(0), Some(4)];
        let e = err(CsrGraph::new(&SIZES, &OFFSETS, &targets));
        assert_eq!(
            e,
            HeapError::SlotOutOfRange {
                obj: 3,
                slot: 0,
                target: 4,
                objects: 4
            }
        );
        assert_eq!(
            e.to_string(),
            "slot 0 of object 3 points to object 4, but there are only 4 objects"
        );
        // u32::MAX would wrap in the encoding: still just out of range.
        let targets = [Some(u32::MAX), None, None, None, None];
        assert!(matches!(
            err(CsrGraph::new(&SIZES, &OFFSETS, &targets)),
            HeapError::SlotOutOfRange {
                obj: 0,
                slot: 0,
                target: u32::MAX,
                ..
            }
        ));
    }

    #[test]
    fn a_global_past_the_end_names_the_global() {
        let e = err(CsrGraph::new(&SIZES, &OFFSETS, &TARGETS).with_globals(&[None, Some(7)]));
        assert_eq!(
            e,
            HeapError::GlobalOutOfRange {
                index: 1,
                target: 7,
                objects: 4
            }
        );
        assert_eq!(
            e.to_string(),
            "global root 1 points to object 7, but there are only 4 objects"
        );
    }

    #[test]
    fn a_stack_slot_past_the_end_names_the_stack_and_slot() {
        let e = err(CsrGraph::new(&SIZES, &OFFSETS, &TARGETS)
            .with_stack(&[Some(0)])
            .with_stack(&[Some(3), None, Some(4)]));
        assert_eq!(
            e,
            HeapError::StackSlotOutOfRange {
                stack: 1,
                index: 2,
                target: 4,
                objects: 4
            }
        );
        assert_eq!(
            e.to_string(),
            "slot 2 of stack 1 points to object 4, but there are only 4 objects"
        );
    }

    #[test]
    fn capacity_past_the_index_limits() {
        let e = err(
            CsrGraph::new(&SIZES, &OFFSETS, &TARGETS).with_extra(HeapConfig {
                max_objects: u32::MAX - 4,
                max_slots: 0,
                globals: 0,
            }),
        );
        assert_eq!(
            e,
            HeapError::CapacityTooLarge {
                what: "objects",
                requested: u64::from(u32::MAX),
                limit: MAX_OBJECTS
            }
        );
        let e = err(
            CsrGraph::new(&SIZES, &OFFSETS, &TARGETS).with_extra(HeapConfig {
                max_objects: 0,
                max_slots: u32::MAX,
                globals: 0,
            }),
        );
        assert!(
            matches!(e, HeapError::CapacityTooLarge { what: "slots", requested, .. } if requested == u64::from(u32::MAX) + 5),
            "{e}"
        );
    }

    #[test]
    fn the_first_problem_is_reported() {
        // A short size and a dangling slot: sizes are checked first.
        let targets = [Some(1), Some(2), Some(9), Some(0), Some(0)];
        assert!(matches!(
            err(CsrGraph::new(&[32, 8, 8, 16], &OFFSETS, &targets)),
            HeapError::ObjectTooSmall { obj: 1, .. }
        ));
    }
}
