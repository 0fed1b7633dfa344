//! Operation accounting: what the kernels do, counted by category.
//!
//! Time on a GPU is measured only where one is lent; the operations the
//! kernels perform are the same on every adapter, lavapipe included, and
//! deterministic for a heap and a kernel (up to the order in which racing
//! invocations win mark bits, which moves work between categories only
//! where two invocations reach the same object in one level). So they are
//! the measure of kernel work on a machine without a GPU: the atomics on the
//! control block's one cache line, the descriptor and slot reads, the mark
//! bitmap's loads and read-modify-writes, the ring's reads and writes, and
//! the workgroup barriers.
//!
//! A context opened with [`GpuOptions::count_ops`](super::GpuOptions::count_ops)
//! builds its pipelines with the WGSL override constant `COUNT_OPS` set:
//! every counted operation then also adds to a per-category total in an
//! ops buffer (binding 20 of the scan kernels and the inbox pass), which the
//! batch reads back with its counters. The normal pipelines are built with
//! `COUNT_OPS` false, and the driver removes the counting code: they pay
//! nothing. Levels, empty levels and the largest workgroup's slots come
//! from the same readback.

/// Words of the ops buffer: one `u32` total per category, in the order of
/// the `OPS_*` indices below.
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_WORDS: u32 = 16;
/// Atomics and atomic loads on the control block.
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_CTL_ATOMICS: u32 = 0;
/// Read-modify-writes of the mark bitmap (`atomicOr`).
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_MARK_ATOMICS: u32 = 1;
/// Plain (atomic) loads of the mark bitmap.
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_MARK_LOADS: u32 = 2;
/// Object-table reads (descriptors).
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_DESCRIPTOR_LOADS: u32 = 3;
/// Pointer-slot reads.
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_SLOT_LOADS: u32 = 4;
/// Grey items written to the ring.
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_RING_WRITES: u32 = 5;
/// Grey items read from the ring.
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_RING_READS: u32 = 6;
/// Workgroup barriers executed (counted once per workgroup).
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_WORKGROUP_BARRIERS: u32 = 7;
/// The most slots one workgroup scanned in one dispatch (`atomicMax`).
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_MAX_WORKGROUP_SLOTS: u32 = 8;
/// Non-nil pointer slots read: the edges followed.
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_EDGES: u32 = 9;
/// Atomics on the counter stripes (a workgroup's totals), off the control
/// block's line.
#[allow(dead_code)] // some only in the shaders; all checked against them in a test
pub(crate) const OPS_STRIPE_ATOMICS: u32 = 10;

/// Per-category operation totals of the counting kernels (see the module
/// documentation), summed over batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpCounts {
    /// Atomics and atomic loads on the control block (one cache line).
    pub ctl_atomics: u64,
    /// Read-modify-writes of the mark bitmap.
    pub mark_atomics: u64,
    /// Loads of the mark bitmap.
    pub mark_loads: u64,
    /// Object-table (descriptor) reads.
    pub descriptor_loads: u64,
    /// Pointer-slot reads.
    pub slot_loads: u64,
    /// Grey items written to the ring.
    pub ring_writes: u64,
    /// Grey items read from the ring.
    pub ring_reads: u64,
    /// Workgroup barriers, once per workgroup that passed one.
    pub workgroup_barriers: u64,
    /// Levels that scanned at least one item.
    pub levels: u64,
    /// Scan dispatches encoded in batches that had no item to scan.
    pub empty_levels: u64,
    /// The most slots one workgroup scanned in one dispatch.
    pub max_workgroup_slots: u64,
    /// Non-nil pointer slots read: the edges followed.
    pub edges: u64,
    /// Atomics on the counter stripes, where workgroups add their totals
    /// (each stripe on its own cache line, not the control block's).
    pub stripe_atomics: u64,
}

impl OpCounts {
    /// A batch's counts from its readback of the ops buffer, with the levels
    /// it ran and the scan dispatches it encoded.
    pub(crate) fn from_words(words: &[u32], levels_run: u32, levels_encoded: u32) -> OpCounts {
        let at = |i: u32| words.get(i as usize).map_or(0, |&w| u64::from(w));
        OpCounts {
            ctl_atomics: at(OPS_CTL_ATOMICS),
            mark_atomics: at(OPS_MARK_ATOMICS),
            mark_loads: at(OPS_MARK_LOADS),
            descriptor_loads: at(OPS_DESCRIPTOR_LOADS),
            slot_loads: at(OPS_SLOT_LOADS),
            ring_writes: at(OPS_RING_WRITES),
            ring_reads: at(OPS_RING_READS),
            workgroup_barriers: at(OPS_WORKGROUP_BARRIERS),
            levels: u64::from(levels_run),
            empty_levels: u64::from(levels_encoded.saturating_sub(levels_run)),
            max_workgroup_slots: at(OPS_MAX_WORKGROUP_SLOTS),
            edges: at(OPS_EDGES),
            stripe_atomics: at(OPS_STRIPE_ATOMICS),
        }
    }

    /// Adds `other`'s totals (the largest workgroup: the larger of the two).
    pub fn add(&mut self, other: &OpCounts) {
        self.ctl_atomics += other.ctl_atomics;
        self.mark_atomics += other.mark_atomics;
        self.mark_loads += other.mark_loads;
        self.descriptor_loads += other.descriptor_loads;
        self.slot_loads += other.slot_loads;
        self.ring_writes += other.ring_writes;
        self.ring_reads += other.ring_reads;
        self.workgroup_barriers += other.workgroup_barriers;
        self.levels += other.levels;
        self.empty_levels += other.empty_levels;
        self.max_workgroup_slots = self.max_workgroup_slots.max(other.max_workgroup_slots);
        self.edges += other.edges;
        self.stripe_atomics += other.stripe_atomics;
    }

    /// `count` per 1024 edges (0 when no edge was followed).
    pub fn per_1024_edges(&self, count: u64) -> f64 {
        if self.edges == 0 {
            0.0
        } else {
            count as f64 * 1024.0 / self.edges as f64
        }
    }
}
