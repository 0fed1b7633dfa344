//! Shared test support: adapter acquisition (skip locally, fail in CI),
//! seeded heap shapes, a sequential reference marker, and a GPU mark driver.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;

use gpumark::gpu::{
    BatchCounters, GpuContext, GpuError, GpuOptions, GpuScan, GpuScanOptions, HeapMirror,
    MirrorCapacity, ObjectInfo, ITEM_COUNTED, OBLET_SLOTS,
};

/// `Some(value)` if the device opened; `None` after printing a skip line when
/// no adapter exists. With `CI=true` a missing adapter fails the test
/// instead: CI must run the GPU path (on lavapipe), never silently skip it.
fn or_skip<T>(r: Result<T, GpuError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e @ GpuError::NoAdapter { .. }) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true and no GPU adapter: {e}");
            // Straight to stderr, past libtest's capture, so the skip shows.
            let _ = writeln!(std::io::stderr(), "skipped: no GPU adapter ({e})");
            None
        }
        Err(e) => panic!("opening the GPU failed: {e}"),
    }
}

/// Opens a GPU context (see `or_skip` for a missing adapter).
pub fn gpu(options: GpuOptions) -> Option<GpuContext> {
    or_skip(GpuContext::new(&options))
}

/// Opens a GPU scan backend (see `or_skip` for a missing adapter).
pub fn gpu_scan(options: GpuScanOptions) -> Option<GpuScan> {
    or_skip(GpuScan::new(&options))
}

/// Deterministic xorshift64* generator (tests must not depend on a rand crate).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// A heap in the CPU engine's layout.
#[derive(Clone, Debug, Default)]
pub struct Heap {
    pub objects: Vec<ObjectInfo>,
    pub slots: Vec<u32>,
}

impl Heap {
    pub fn len(&self) -> u32 {
        self.objects.len() as u32
    }

    /// Adds an object with the given slots (targets as `Option<u32>`) and size.
    pub fn push(&mut self, targets: impl IntoIterator<Item = Option<u32>>, size: u32) -> u32 {
        let slot_start = self.slots.len() as u32;
        self.slots
            .extend(targets.into_iter().map(|t| t.map_or(0, |t| t + 1)));
        let nslots = self.slots.len() as u32 - slot_start;
        self.objects.push(ObjectInfo {
            slot_start,
            nslots,
            size,
        });
        self.len() - 1
    }

    fn size(rng: &mut Rng) -> u32 {
        16 + 8 * rng.below(32)
    }

    /// `n` objects with `k` slots each, each slot nil with probability 1/8,
    /// else a uniformly random object; one object in 16 is noscan.
    pub fn random(n: u32, k: u32, seed: u64) -> Heap {
        let mut rng = Rng::new(seed);
        let mut heap = Heap::default();
        for _ in 0..n {
            let slots = if rng.below(16) == 0 { 0 } else { k };
            let targets: Vec<Option<u32>> = (0..slots)
                .map(|_| (rng.below(8) != 0).then(|| rng.below(n)))
                .collect();
            let size = Self::size(&mut rng);
            heap.push(targets, size);
        }
        heap
    }

    /// A linked list 0 -> 1 -> ... -> n-1 (worst case: one item per level).
    pub fn chain(n: u32) -> Heap {
        let mut heap = Heap::default();
        for i in 0..n {
            heap.push([(i + 1 < n).then_some(i + 1), None], 32);
        }
        heap
    }

    /// A complete k-ary tree of n nodes in heap order.
    pub fn kary(n: u32, k: u32) -> Heap {
        let mut heap = Heap::default();
        for i in 0..n {
            let targets: Vec<Option<u32>> = (1..=k)
                .map(|c| {
                    let child = u64::from(i) * u64::from(k) + u64::from(c);
                    (child < u64::from(n)).then_some(child as u32)
                })
                .collect();
            heap.push(targets, 48);
        }
        heap
    }

    /// Object 0 has `width` slots (several oblets) pointing at objects
    /// 1..=width, which point on at random (or hold nothing).
    pub fn wide(width: u32, seed: u64) -> Heap {
        let mut rng = Rng::new(seed);
        let n = width + 1 + width / 2;
        let mut heap = Heap::default();
        heap.push((1..=width).map(Some), 8 * width);
        for _ in 1..n {
            let k = rng.below(3);
            let targets: Vec<Option<u32>> = (0..k).map(|_| Some(rng.below(n))).collect();
            let size = Self::size(&mut rng);
            heap.push(targets, size);
        }
        heap
    }

    /// Power-law out-degrees (Pareto, alpha ~ 1.2, capped at `max_degree`)
    /// and preferential targets (low indices are hubs).
    pub fn power_law(n: u32, max_degree: u32, seed: u64) -> Heap {
        let mut rng = Rng::new(seed);
        let mut heap = Heap::default();
        for _ in 0..n {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let degree = ((1.0 - u).powf(-1.0 / 1.2) as u32).min(max_degree);
            let targets: Vec<Option<u32>> = (0..degree)
                .map(|_| {
                    let v = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    Some(((v * v * v) * f64::from(n)) as u32 % n)
                })
                .collect();
            let size = Self::size(&mut rng);
            heap.push(targets, size);
        }
        heap
    }
}

/// Totals of a mark, as the reference and the GPU both report them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub scan_work: u64,
    pub bytes_marked: u64,
    pub objects_marked: u64,
}

/// Bitmap in the shared layout: bit i of u32 word i/32.
pub fn bitmap_words(n: u32) -> usize {
    n.div_ceil(32).max(1) as usize
}

pub fn is_marked(bits: &[u32], i: u32) -> bool {
    bits[(i / 32) as usize] & (1 << (i % 32)) != 0
}

pub fn set_mark(bits: &mut [u32], i: u32) -> bool {
    let was = is_marked(bits, i);
    bits[(i / 32) as usize] |= 1 << (i % 32);
    !was
}

/// Grey items for a freshly marked object: none for noscan, else its first
/// item, which stands for the whole object (its scan queues the other
/// oblets, on the GPU as on the host).
pub fn items_for(heap: &Heap, obj: u32) -> Vec<(u32, u32)> {
    let ns = heap.objects[obj as usize].nslots;
    if ns == 0 {
        Vec::new()
    } else {
        vec![(obj, 0)]
    }
}

/// A taken item's oblet without the ring's flag, and whether the taker
/// counts its object's bytes: a first item the GPU marked and has not
/// scanned ([`ITEM_COUNTED`] clear) was counted by nobody yet.
pub fn taken(heap: &Heap, (obj, k): (u32, u32), totals: &mut Totals) -> (u32, u32) {
    if k == 0 {
        totals.bytes_marked += u64::from(heap.objects[obj as usize].size);
    }
    (obj, k & !ITEM_COUNTED)
}

/// Scans one item on the host: marks unmarked targets below the watermark,
/// returning their items. Adds to `totals` as the GPU would.
pub fn host_scan_item(
    heap: &Heap,
    bits: &mut [u32],
    watermark: u32,
    (obj, k): (u32, u32),
    totals: &mut Totals,
) -> Vec<(u32, u32)> {
    let info = heap.objects[obj as usize];
    let lo = k * OBLET_SLOTS;
    let hi = (lo + OBLET_SLOTS).min(info.nslots);
    let mut out = Vec::new();
    // The first oblet's scan queues the others.
    if k == 0 {
        out.extend((1..info.nslots.div_ceil(OBLET_SLOTS)).map(|j| (obj, j)));
    }
    for s in lo..hi {
        totals.scan_work += 8;
        let v = heap.slots[(info.slot_start + s) as usize];
        // Nil, or allocated during the cycle (black already): skip.
        let Some(t) = v.checked_sub(1).filter(|&t| t < watermark) else {
            continue;
        };
        if set_mark(bits, t) {
            totals.objects_marked += 1;
            totals.bytes_marked += u64::from(heap.objects[t as usize].size);
            out.extend(items_for(heap, t));
        }
    }
    out
}

/// Sequential reference: everything reachable from `roots` below the
/// watermark. Roots count as marked by the host, so their bytes are not in
/// the totals (the GPU only counts objects it marks itself), but their scan
/// work is.
pub fn reference(heap: &Heap, roots: &[u32], watermark: u32) -> (Vec<u32>, Totals) {
    let mut bits = vec![0u32; bitmap_words(heap.len())];
    let mut totals = Totals::default();
    let mut stack = Vec::new();
    for &r in roots {
        if set_mark(&mut bits, r) {
            stack.extend(items_for(heap, r));
        }
    }
    while let Some(item) = stack.pop() {
        let more = host_scan_item(heap, &mut bits, watermark, item, &mut totals);
        stack.extend(more);
    }
    (bits, totals)
}

/// A mirror of `heap` with the smallest ring that cannot overflow.
pub fn mirror(ctx: &GpuContext, heap: &Heap) -> HeapMirror {
    let cap = MirrorCapacity::new(heap.len(), heap.slots.len().max(1) as u32);
    let mut m = HeapMirror::new(ctx, cap).expect("mirror fits");
    m.upload_objects(0, &heap.objects).expect("objects upload");
    m.upload_slots(0, &heap.slots).expect("slots upload");
    m
}

/// Host side of a root scan: marks the roots in a host bitmap, uploads it,
/// and pushes their items.
pub fn push_roots(m: &mut HeapMirror, heap: &Heap, roots: &[u32]) {
    let mut bits = vec![0u32; bitmap_words(heap.len())];
    let mut items = Vec::new();
    for &r in roots {
        if set_mark(&mut bits, r) {
            items.extend(items_for(heap, r));
        }
    }
    m.upload_marks(&bits).expect("marks upload");
    m.push_greys(&items).expect("push roots");
}

/// Runs batches until the GPU queue is empty; returns summed counters.
pub fn mark_on_gpu(m: &mut HeapMirror, budget: u64, max_levels: u32) -> (Totals, u32) {
    let mut totals = Totals::default();
    let mut batches = 0;
    loop {
        let c: BatchCounters = m.run_batch(budget, max_levels).expect("batch");
        batches += 1;
        totals.scan_work += c.scan_work;
        totals.bytes_marked += c.bytes_marked;
        totals.objects_marked += c.objects_marked;
        if c.queue_len == 0 {
            return (totals, batches);
        }
        assert!(batches < 1_000_000, "marking does not terminate");
    }
}

/// Index of the first bit where two bitmaps differ, for failure messages.
pub fn first_difference(a: &[u32], b: &[u32]) -> Option<u32> {
    a.iter().zip(b).enumerate().find_map(|(i, (x, y))| {
        let d = x ^ y;
        (d != 0).then(|| i as u32 * 32 + d.trailing_zeros())
    })
}
