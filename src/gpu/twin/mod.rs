//! The CPU twin of `shaders/level_advance.wgsl`: the same consume, log,
//! plan and indirect-argument steps, in plain Rust over the same words.
//!
//! # Why a twin
//!
//! `level_advance` is the control logic of a batch: it decides how far the
//! ring head moves, how many items the next level takes, when the budget,
//! the batch's level count, an empty queue or an overflow stop a batch, and
//! where a traced level's figures go. A mistake there is not an unmarked
//! object that an exactness test would catch on the first run, but an
//! off-by-one in a carry or a wrap that shows only on a ring that wraps, a
//! budget past 2^32 slots, or level 4095 of a trace. Those cases are cheap to
//! construct as control blocks and expensive to reach by marking heaps.
//! vello keeps a CPU implementation beside each shader with the same name
//! and tests the two against each other (`shader/bbox_clear.wgsl` ↔
//! `src/cpu/bbox_clear.rs`); this is that habit for gpumark: the twin's own
//! tests below pin the rules on any machine, without a GPU, and the
//! differential test runs the shader and the twin on the same random control
//! blocks and asserts every word they leave is the same.
//!
//! # Fidelity
//!
//! WGSL `u32` arithmetic wraps, so every addition and subtraction here is a
//! `wrapping_*` one, including those the shader's invariants keep from
//! wrapping: the twin must agree with the shader on *any* control block,
//! not only on the ones a correct host writes. The loads and stores come in
//! the shader's order: each word is read before it is written, and the level
//! log lies past the control block proper ([`CTL_LOG`]), so no step reads
//! what an earlier one wrote, in either implementation.
//!
//! When `level_advance.wgsl` changes, change [`level_advance`] with it (the
//! differential test fails until the two agree again). The twin is only
//! compiled for tests: nothing in the engine runs the control logic on the
//! CPU.

#![cfg(test)]

use super::layout::{
    CTL_ADVANCES, CTL_BUDGET_LO, CTL_BUFFER_WORDS, CTL_BYTES_LO, CTL_CUR_LEN, CTL_FREE, CTL_HEAD,
    CTL_ITEMS_LO, CTL_LEVELS_LEFT, CTL_LEVELS_RUN, CTL_LEVEL_START_LO, CTL_LOG, CTL_MARKED,
    CTL_OVERFLOW, CTL_PUSHED, CTL_QUEUE_LEN, CTL_SCAN_LO, CTL_STRIPES, CTL_TAIL,
    LOG_WORDS_PER_LEVEL, MIN_LEVEL_WORKGROUPS, STRIPES, STRIPE_BYTES_LO, STRIPE_MARKED,
    STRIPE_SCAN_LO, STRIPE_WORDS, TRACE_LEVELS,
};
use super::WORKGROUP_SIZE;

/// Index of control word `i` in a `&[u32]` (the layout's constants are the
/// shaders' `u32`s).
fn w(i: u32) -> usize {
    i as usize
}

/// The shader's `add64`: adds `v` to the 64-bit `(lo, hi)` pair at
/// `ctl[lo]`, carrying into the high word when the low word wraps.
fn add64(ctl: &mut [u32], lo: u32, v: u32) {
    let old = ctl[w(lo)];
    let sum = old.wrapping_add(v);
    ctl[w(lo)] = sum;
    if sum < old {
        ctl[w(lo + 1)] = ctl[w(lo + 1)].wrapping_add(1);
    }
}

/// What one run of `level_advance` writes besides the control buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Advanced {
    /// The next scan's indirect dispatch arguments `(x, y, z)`.
    pub(crate) args: [u32; 3],
    /// The next level's `HEAD`, `CUR_LEN`, `TAIL`, `FREE` (the `level`
    /// buffer the scan kernels read).
    pub(crate) level: [u32; 4],
    /// Where this run enables the next `level_advance` in the buffer of the
    /// other parity: the word index of its slot (`(k + 1) / 2 * 4` for
    /// advance `k`, which is `ADVANCES` before the run counts itself), or
    /// `None` when it planned no level. The shader writes `(1, 1, 1)` there
    /// if the slot lies within the buffer.
    pub(crate) next_advance: Option<u32>,
}

/// Does what one run of `level_advance`'s `main` does to `ctl` (the control
/// block, the counter stripes and the level log, laid out as in
/// [`super::layout`]) with the `Params` fields it reads, `queue_cap` and
/// `level_cap`, and returns what it writes to its other buffers.
///
/// 0. Fold: `ADVANCES` counts the run; each counter stripe's scan work,
///    marked objects and bytes are added to the batch counters (64-bit
///    adds for scan work and bytes: the low word with a carry, then the
///    high word) and cleared.
/// 1. Consume: the head moves past the `CUR_LEN` items of the level that
///    ran, the items it `PUSHED` join the queue, `ITEMS` grows by `CUR_LEN`,
///    and a level that ran (`CUR_LEN > 0`, `1 <= LEVELS_RUN <=
///    TRACE_LEVELS`) is logged as level `LEVELS_RUN - 1`: its items and its
///    scan work `SCAN - LEVEL_START` (lo, hi).
/// 2. Plan: unless the batch has no levels left, the queue is empty, the
///    scan work has reached the budget or a push overflowed, the next level
///    takes `min(queue length, level_cap, budget slots left)` items (the
///    slots left saturated to `u32::MAX`), a level is used up, `LEVELS_RUN`
///    counts it, and `LEVEL_START` records the scan work it starts from;
///    else it takes 0 items.
/// 3. The queue words (`HEAD`, `QUEUE_LEN`, `CUR_LEN`, `TAIL`, `FREE`,
///    `PUSHED`) are rewritten for the next level, the level buffer gets
///    `HEAD`, `CUR_LEN`, `TAIL` and `FREE`, and the next scan gets one
///    workgroup per [`WORKGROUP_SIZE`] items, or one per item up to
///    [`MIN_LEVEL_WORKGROUPS`] for a small level.
/// 4. The next advance runs (one workgroup) only if this one planned a
///    level: it enables the next advance's slot.
///
/// # Panics
///
/// If `ctl` is shorter than the GPU's control buffer, [`CTL_BUFFER_WORDS`]
/// (where the shader would read or write out of bounds, the twin would
/// rather say so).
pub(crate) fn level_advance(ctl: &mut [u32], queue_cap: u32, level_cap: u32) -> Advanced {
    assert!(
        ctl.len() >= w(CTL_BUFFER_WORDS),
        "a control buffer has {CTL_BUFFER_WORDS} words, this one {}",
        ctl.len()
    );
    let cap = queue_cap;
    let advance = ctl[w(CTL_ADVANCES)];
    ctl[w(CTL_ADVANCES)] = advance.wrapping_add(1);

    // 0. Fold the counter stripes into the batch counters.
    for k in 0..STRIPES {
        let s = CTL_STRIPES + k * STRIPE_WORDS;
        let mut take = |i: u32| std::mem::take(&mut ctl[w(s + i)]);
        let scan_lo = take(STRIPE_SCAN_LO);
        let scan_hi = take(STRIPE_SCAN_LO + 1);
        let marked = take(STRIPE_MARKED);
        let bytes_lo = take(STRIPE_BYTES_LO);
        let bytes_hi = take(STRIPE_BYTES_LO + 1);
        add64(ctl, CTL_SCAN_LO, scan_lo);
        ctl[w(CTL_SCAN_LO + 1)] = ctl[w(CTL_SCAN_LO + 1)].wrapping_add(scan_hi);
        ctl[w(CTL_MARKED)] = ctl[w(CTL_MARKED)].wrapping_add(marked);
        add64(ctl, CTL_BYTES_LO, bytes_lo);
        ctl[w(CTL_BYTES_LO + 1)] = ctl[w(CTL_BYTES_LO + 1)].wrapping_add(bytes_hi);
    }

    // 1. Consume the level that just ran (nothing if it planned 0 items).
    let cur = ctl[w(CTL_CUR_LEN)];
    let pushed = ctl[w(CTL_PUSHED)];
    let mut head = ctl[w(CTL_HEAD)].wrapping_add(cur);
    if head >= cap {
        head = head.wrapping_sub(cap);
    }
    let qlen = ctl[w(CTL_QUEUE_LEN)].wrapping_sub(cur).wrapping_add(pushed);
    add64(ctl, CTL_ITEMS_LO, cur);
    let scan_lo = ctl[w(CTL_SCAN_LO)];
    let scan_hi = ctl[w(CTL_SCAN_LO + 1)];
    // Log the level: it is level LEVELS_RUN - 1 of the batch.
    let run = ctl[w(CTL_LEVELS_RUN)];
    if cur > 0 && (1..=TRACE_LEVELS).contains(&run) {
        let at = w(CTL_LOG + LOG_WORDS_PER_LEVEL * (run - 1));
        let start_lo = ctl[w(CTL_LEVEL_START_LO)];
        let start_hi = ctl[w(CTL_LEVEL_START_LO + 1)];
        ctl[at] = cur;
        ctl[at + 1] = scan_lo.wrapping_sub(start_lo);
        ctl[at + 2] = scan_hi
            .wrapping_sub(start_hi)
            .wrapping_sub(u32::from(scan_lo < start_lo));
    }

    // 2. Plan the next level.
    let left = ctl[w(CTL_LEVELS_LEFT)];
    let budget_lo = ctl[w(CTL_BUDGET_LO)];
    let budget_hi = ctl[w(CTL_BUDGET_LO + 1)];
    let under_budget = scan_hi < budget_hi || (scan_hi == budget_hi && scan_lo < budget_lo);
    let overflowed = ctl[w(CTL_OVERFLOW)] != 0;

    let mut next = 0;
    if left > 0 && qlen > 0 && under_budget && !overflowed {
        // Slots of budget left, saturated to u32: every item has >= 1 slot,
        // so taking more items than this would surely overshoot.
        let mut rem_hi = budget_hi.wrapping_sub(scan_hi);
        if budget_lo < scan_lo {
            rem_hi = rem_hi.wrapping_sub(1);
        }
        let mut rem = budget_lo.wrapping_sub(scan_lo);
        if rem_hi > 0 {
            rem = u32::MAX;
        }
        next = qlen.min(level_cap.min(rem));
        ctl[w(CTL_LEVELS_LEFT)] = left - 1;
        ctl[w(CTL_LEVELS_RUN)] = ctl[w(CTL_LEVELS_RUN)].wrapping_add(1);
        ctl[w(CTL_LEVEL_START_LO)] = scan_lo;
        ctl[w(CTL_LEVEL_START_LO + 1)] = scan_hi;
    }

    let mut tail = head.wrapping_add(qlen);
    if tail >= cap {
        tail = tail.wrapping_sub(cap);
    }
    ctl[w(CTL_HEAD)] = head;
    ctl[w(CTL_QUEUE_LEN)] = qlen;
    ctl[w(CTL_CUR_LEN)] = next;
    ctl[w(CTL_TAIL)] = tail;
    ctl[w(CTL_FREE)] = cap.wrapping_sub(qlen);
    ctl[w(CTL_PUSHED)] = 0;

    // 3. The level's state and the indirect arguments of the next scan.
    // 4. Whether the next advance runs.
    Advanced {
        args: [
            (next.wrapping_add(WORKGROUP_SIZE - 1) / WORKGROUP_SIZE)
                .max(next.min(MIN_LEVEL_WORKGROUPS)),
            1,
            1,
        ],
        level: [head, next, tail, cap.wrapping_sub(qlen)],
        next_advance: (next > 0).then(|| (advance.wrapping_add(1) / 2).wrapping_mul(4)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::{Params, CTL_BYTES_LO, CTL_MARKED, CTL_WORDS};
    use super::super::{shaders, GpuContext, GpuError, GpuOptions};
    use super::*;
    use std::io::Write;

    /// A zeroed control buffer (block and level log).
    fn zeroed() -> Vec<u32> {
        vec![0; w(CTL_BUFFER_WORDS)]
    }

    /// Sets the 64-bit pair at `ctl[lo]` to `v`.
    fn set64(ctl: &mut [u32], lo: u32, v: u64) {
        ctl[w(lo)] = v as u32;
        ctl[w(lo + 1)] = (v >> 32) as u32;
    }

    /// The 64-bit pair at `ctl[lo]`.
    fn get64(ctl: &[u32], lo: u32) -> u64 {
        u64::from(ctl[w(lo)]) | (u64::from(ctl[w(lo + 1)]) << 32)
    }

    /// A batch in mid-flight: a level of `cur` items ran out of a queue of
    /// `qlen` at `head` in a ring of `cap`, pushing `pushed`; the batch has
    /// `left` levels left, has run `run`, and did `scan` of a `budget`
    /// (slots).
    #[allow(clippy::too_many_arguments)]
    fn batch(
        cap: u32,
        head: u32,
        qlen: u32,
        cur: u32,
        pushed: u32,
        left: u32,
        run: u32,
        scan: u64,
        budget: u64,
    ) -> Vec<u32> {
        let mut ctl = zeroed();
        ctl[w(CTL_HEAD)] = head;
        ctl[w(CTL_QUEUE_LEN)] = qlen;
        ctl[w(CTL_CUR_LEN)] = cur;
        ctl[w(CTL_TAIL)] = ((u64::from(head) + u64::from(qlen)) % u64::from(cap)) as u32;
        ctl[w(CTL_FREE)] = cap.wrapping_sub(qlen);
        ctl[w(CTL_PUSHED)] = pushed;
        ctl[w(CTL_LEVELS_LEFT)] = left;
        ctl[w(CTL_LEVELS_RUN)] = run;
        set64(&mut ctl, CTL_SCAN_LO, scan);
        set64(&mut ctl, CTL_BUDGET_LO, budget);
        ctl
    }

    #[test]
    fn a_level_is_consumed_and_the_next_planned_from_the_queue() {
        // 10 items ran of 30 at head 5 and pushed 12: 32 queued at 15.
        let mut ctl = batch(1000, 5, 30, 10, 12, 4, 1, 40, 10_000);
        set64(&mut ctl, CTL_ITEMS_LO, 7);
        let args = level_advance(&mut ctl, 1000, 1 << 20);
        assert_eq!(ctl[w(CTL_HEAD)], 15);
        assert_eq!(ctl[w(CTL_QUEUE_LEN)], 32);
        assert_eq!(ctl[w(CTL_CUR_LEN)], 32);
        assert_eq!(ctl[w(CTL_TAIL)], 47);
        assert_eq!(ctl[w(CTL_FREE)], 968);
        assert_eq!(ctl[w(CTL_PUSHED)], 0);
        assert_eq!(ctl[w(CTL_LEVELS_LEFT)], 3);
        assert_eq!(ctl[w(CTL_LEVELS_RUN)], 2);
        assert_eq!(get64(&ctl, CTL_ITEMS_LO), 17);
        assert_eq!(get64(&ctl, CTL_LEVEL_START_LO), 40);
        // Level 0 is logged: 10 items, 40 slots since it started at 0.
        let log = w(CTL_LOG);
        assert_eq!(ctl[log..log + 4], [10, 40, 0, 0]);
        // 32 items: a small level, one workgroup each.
        assert_eq!(args.args, [32, 1, 1]);
    }

    #[test]
    fn the_ring_wraps_on_consume_and_on_the_tail() {
        // Ring of 100: head 90 + 20 consumed wraps to 10; 30 - 20 + 15 = 25
        // queued, tail 35.
        let mut ctl = batch(100, 90, 30, 20, 15, 4, 1, 0, 1 << 40);
        level_advance(&mut ctl, 100, 1 << 20);
        assert_eq!(ctl[w(CTL_HEAD)], 10);
        assert_eq!(ctl[w(CTL_QUEUE_LEN)], 25);
        assert_eq!(ctl[w(CTL_TAIL)], 35);
        assert_eq!(ctl[w(CTL_FREE)], 75);
        // Head 80 + 10 stays at 90 and the 60 queued items wrap: tail 50.
        let mut ctl = batch(100, 80, 60, 10, 10, 4, 1, 0, 1 << 40);
        level_advance(&mut ctl, 100, 1 << 20);
        assert_eq!(ctl[w(CTL_HEAD)], 90);
        assert_eq!(ctl[w(CTL_QUEUE_LEN)], 60);
        assert_eq!(ctl[w(CTL_TAIL)], 50);
        assert_eq!(ctl[w(CTL_CUR_LEN)], 60);
    }

    #[test]
    fn an_exhausted_budget_plans_nothing_but_still_consumes() {
        for scan in [1000u64, 1001, 1 << 33] {
            let mut ctl = batch(1000, 0, 50, 20, 5, 4, 2, scan, 1000);
            let args = level_advance(&mut ctl, 1000, 1 << 20);
            assert_eq!(ctl[w(CTL_CUR_LEN)], 0, "scan {scan}");
            assert_eq!(ctl[w(CTL_HEAD)], 20);
            assert_eq!(ctl[w(CTL_QUEUE_LEN)], 35);
            // Nothing planned: levels left, levels run and the start stay.
            assert_eq!(ctl[w(CTL_LEVELS_LEFT)], 4);
            assert_eq!(ctl[w(CTL_LEVELS_RUN)], 2);
            assert_eq!(get64(&ctl, CTL_LEVEL_START_LO), 0);
            assert_eq!(args.args, [0, 1, 1]);
        }
    }

    #[test]
    fn the_budget_left_caps_the_next_level() {
        // 990 of 1000 slots done: at most 10 items, whatever is queued.
        let mut ctl = batch(1 << 16, 0, 500, 0, 0, 4, 1, 990, 1000);
        assert_eq!(level_advance(&mut ctl, 1 << 16, 1 << 20).args, [10, 1, 1]);
        assert_eq!(ctl[w(CTL_CUR_LEN)], 10);
        // Across the word boundary: budget 2^32 + 5, scan 2^32 - 16 leaves
        // 21 (the borrow from the low words takes the high word to 0).
        let mut ctl = batch(1 << 16, 0, 500, 0, 0, 4, 1, (1 << 32) - 16, (1 << 32) + 5);
        level_advance(&mut ctl, 1 << 16, 1 << 20);
        assert_eq!(ctl[w(CTL_CUR_LEN)], 21);
        // 2^32 slots or more left saturate: the level cap rules.
        let mut ctl = batch(1 << 20, 0, 1 << 19, 0, 0, 4, 1, 5, (1 << 32) + 10);
        level_advance(&mut ctl, 1 << 20, 300);
        assert_eq!(ctl[w(CTL_CUR_LEN)], 300);
        assert_eq!(ctl[w(CTL_QUEUE_LEN)], 1 << 19);
        // Saturated all the way: a full ring of u32::MAX items and no level
        // cap take them all. (The rounded-up workgroup count then wraps to 0,
        // as in the shader, and the small-level floor gives 64; the host's
        // level cap, at most 65535 workgroups of items, keeps this from
        // happening.)
        let mut ctl = batch(u32::MAX, 0, u32::MAX, 0, 0, 4, 1, 0, 1 << 40);
        assert_eq!(level_advance(&mut ctl, u32::MAX, u32::MAX).args, [64, 1, 1]);
        assert_eq!(ctl[w(CTL_CUR_LEN)], u32::MAX);
        // Equal low words, 2^32 slots left: saturated, not 0.
        let mut ctl = batch(1 << 20, 0, 1000, 0, 0, 4, 1, 5, (1 << 32) + 5);
        level_advance(&mut ctl, 1 << 20, 1 << 20);
        assert_eq!(ctl[w(CTL_CUR_LEN)], 1000);
    }

    #[test]
    fn an_empty_queue_no_levels_left_or_an_overflow_plan_nothing() {
        // The level took the whole queue and pushed nothing.
        let mut ctl = batch(64, 60, 8, 8, 0, 4, 3, 10, 1000);
        assert_eq!(level_advance(&mut ctl, 64, 1024).args, [0, 1, 1]);
        assert_eq!(ctl[w(CTL_QUEUE_LEN)], 0);
        assert_eq!(ctl[w(CTL_HEAD)], 4);
        assert_eq!(ctl[w(CTL_TAIL)], 4);
        assert_eq!(ctl[w(CTL_FREE)], 64);
        // Items queued, but no levels left.
        let mut ctl = batch(64, 0, 8, 0, 0, 0, 3, 10, 1000);
        assert_eq!(level_advance(&mut ctl, 64, 1024).args, [0, 1, 1]);
        assert_eq!(ctl[w(CTL_LEVELS_LEFT)], 0);
        // Items queued, but a push overflowed.
        let mut ctl = batch(64, 0, 8, 0, 0, 4, 3, 10, 1000);
        ctl[w(CTL_OVERFLOW)] = 1;
        assert_eq!(level_advance(&mut ctl, 64, 1024).args, [0, 1, 1]);
        assert_eq!(ctl[w(CTL_LEVELS_LEFT)], 4);
    }

    #[test]
    fn the_log_takes_levels_that_ran_within_the_trace() {
        // Level 4094, the last the log holds, with a borrow in its scan
        // work: 2^32 + 3 - (2^32 - 2) = 5 slots.
        let mut ctl = batch(1000, 0, 20, 7, 0, 4, TRACE_LEVELS, (1 << 32) + 3, 1 << 40);
        set64(&mut ctl, CTL_LEVEL_START_LO, (1 << 32) - 2);
        level_advance(&mut ctl, 1000, 1 << 20);
        let at = w(CTL_LOG + LOG_WORDS_PER_LEVEL * (TRACE_LEVELS - 1));
        assert_eq!(ctl[at..at + 3], [7, 5, 0]);
        assert_eq!(at + 4, w(CTL_BUFFER_WORDS));
        // Past the trace, before the first level, or an empty level: no log.
        for (run, cur) in [(TRACE_LEVELS + 1, 7), (0, 7), (3, 0)] {
            let mut ctl = batch(1000, 0, 20, cur, 0, 4, run, 100, 1 << 40);
            level_advance(&mut ctl, 1000, 1 << 20);
            assert!(
                ctl[w(CTL_LOG)..].iter().all(|&x| x == 0),
                "run {run}, cur {cur}"
            );
        }
    }

    #[test]
    fn items_carry_into_the_high_word_and_args_round_up() {
        let mut ctl = batch(1 << 20, 0, 1000, 3, 0, 4, 1, 0, 1 << 40);
        set64(&mut ctl, CTL_ITEMS_LO, u64::from(u32::MAX) - 1);
        let args = level_advance(&mut ctl, 1 << 20, 1 << 20);
        assert_eq!(get64(&ctl, CTL_ITEMS_LO), (1 << 32) + 1);
        assert_eq!(ctl[w(CTL_CUR_LEN)], 997);
        assert_eq!(args.args, [64, 1, 1]);
        // One workgroup per item up to 64, then 64 up to 64 full workgroups'
        // worth, then one per 256 items rounded up.
        for (next, groups) in [
            (1, 1),
            (63, 63),
            (256, 64),
            (16_384, 64),
            (16_385, 65),
            (16_640, 65),
            (16_641, 66),
        ] {
            let mut ctl = batch(1 << 20, 0, next, 0, 0, 4, 1, 0, 1 << 40);
            assert_eq!(level_advance(&mut ctl, 1 << 20, 1 << 20).args[0], groups);
        }
    }

    mod differential;
}
