// level_advance.wgsl — consume the level just scanned, plan the next one.
//
// Runs between scan dispatches inside one batch (one command buffer):
//   0. fold: the counter stripes the level's workgroups added their totals
//      to (scan work, marked objects, bytes) are added to the control block
//      and cleared, so the batch counters and the budget test see the level;
//   1. consume: the ring head moves past the level's CUR_LEN items and the
//      items the level pushed join the queue; the level's items and scan
//      work go into the level log after the stripes (CTL_LOG, for a level
//      trace);
//   2. plan: the next level takes min(queue length, level cap, budget slots
//      left) items from the head, unless the batch's levels are used up, the
//      budget is reached, the queue is empty or a push overflowed — then it
//      plans 0 items and the next scan dispatch is empty;
//   3. writes the next level's queue state (HEAD, CUR_LEN, TAIL, FREE) into
//      `level`, which the scan kernels read as plain data, and the next
//      scan's workgroup count into `args` (one per WORKGROUP_SIZE items, or
//      up to MIN_LEVEL_WORKGROUPS for a small level), a buffer of its own: the scan
//      dispatch reads it as its indirect argument and never binds it,
//      because wgpu forbids binding the indirect buffer of a dispatch
//      read-write in that same dispatch;
//   4. if it planned a level, enables the NEXT level_advance: the advances
//      are dispatched indirectly too, advance k from slot k / 2 of the
//      buffer of k's parity, each slot zeroed by the host before the batch
//      but slot 0 of buffer 0. Advance k (ADVANCES counts those that ran,
//      and they run in order, so k is ADVANCES before it counts itself)
//      writes (1, 1, 1) into slot (k + 1) / 2 of the other buffer, bound here
//      as `next_advance`. One that plans nothing leaves that slot 0, so once
//      a batch's queue, budget or levels run out, every later advance and
//      scan of its command buffer is a dispatch of zero workgroups: no empty
//      level runs. (A slot past the buffer's end is not written.)
//
// Bindings (group 0):
//   0 params       : uniform  Params               (watermark, queue capacity, chunk shifts, level cap)
//   1 ctl          : storage  array<atomic<u32>>   read_write  control block, counter stripes, level log (layout in src/gpu/layout.rs)
//   2 args         : storage  array<u32>           read_write  the next scan's indirect dispatch args (x, y, z)
//   3 level        : storage  array<u32>           read_write  the next level's HEAD, CUR_LEN, TAIL, FREE
//   4 next_advance : storage  array<u32>           read_write  indirect args of the advances of the other parity, a 4-word slot each
//
// Workgroup size: 1 (a single invocation; the work is a handful of loads and stores).

struct Params {
    watermark: u32,
    queue_cap: u32,
    obj_shift: u32,
    slot_shift: u32,
    queue_shift: u32,
    level_cap: u32,
    _pad0: u32,
    _pad1: u32,
}

const WORKGROUP_SIZE: u32 = 256u;
const MIN_LEVEL_WORKGROUPS: u32 = 64u;

const CTL_HEAD: u32 = 0u;
const CTL_QUEUE_LEN: u32 = 1u;
const CTL_CUR_LEN: u32 = 2u;
const CTL_TAIL: u32 = 3u;
const CTL_FREE: u32 = 4u;
const CTL_PUSHED: u32 = 5u;
const CTL_OVERFLOW: u32 = 6u;
const CTL_LEVELS_LEFT: u32 = 7u;
const CTL_BUDGET_LO: u32 = 8u;
const CTL_SCAN_LO: u32 = 10u;
const CTL_ITEMS_LO: u32 = 12u;
const CTL_LEVELS_RUN: u32 = 17u;
const CTL_LEVEL_START_LO: u32 = 18u;
const CTL_ADVANCES: u32 = 24u;
const CTL_MARKED: u32 = 14u;
const CTL_BYTES_LO: u32 = 15u;
const CTL_STRIPES: u32 = 32u;
const STRIPES: u32 = 16u;
const STRIPE_WORDS: u32 = 32u;
const STRIPE_SCAN_LO: u32 = 0u;
const STRIPE_MARKED: u32 = 2u;
const STRIPE_BYTES_LO: u32 = 3u;
const CTL_LOG: u32 = 544u;
const LOG_WORDS_PER_LEVEL: u32 = 4u;
const TRACE_LEVELS: u32 = 4095u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> ctl: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> args: array<u32>;
@group(0) @binding(3) var<storage, read_write> level: array<u32>;
@group(0) @binding(4) var<storage, read_write> next_advance: array<u32>;

// 64-bit add of a u32 into the (lo, hi) pair at `lo_idx`; single invocation,
// so plain load/store through the atomics is enough.
fn add64(lo_idx: u32, v: u32) {
    let old = atomicLoad(&ctl[lo_idx]);
    let sum = old + v;
    atomicStore(&ctl[lo_idx], sum);
    if sum < old {
        atomicStore(&ctl[lo_idx + 1u], atomicLoad(&ctl[lo_idx + 1u]) + 1u);
    }
}

// Takes the stripe word at `i` (and clears it).
fn take(i: u32) -> u32 {
    let v = atomicLoad(&ctl[i]);
    atomicStore(&ctl[i], 0u);
    return v;
}

@compute @workgroup_size(1)
fn main() {
    let cap = params.queue_cap;
    let advance = atomicLoad(&ctl[CTL_ADVANCES]);
    atomicStore(&ctl[CTL_ADVANCES], advance + 1u);

    // 0. Fold the counter stripes into the batch counters.
    for (var k = 0u; k < STRIPES; k++) {
        let s = CTL_STRIPES + k * STRIPE_WORDS;
        let scan_lo = take(s + STRIPE_SCAN_LO);
        let scan_hi = take(s + STRIPE_SCAN_LO + 1u);
        add64(CTL_SCAN_LO, scan_lo);
        atomicStore(&ctl[CTL_SCAN_LO + 1u], atomicLoad(&ctl[CTL_SCAN_LO + 1u]) + scan_hi);
        atomicStore(&ctl[CTL_MARKED], atomicLoad(&ctl[CTL_MARKED]) + take(s + STRIPE_MARKED));
        let bytes_lo = take(s + STRIPE_BYTES_LO);
        let bytes_hi = take(s + STRIPE_BYTES_LO + 1u);
        add64(CTL_BYTES_LO, bytes_lo);
        atomicStore(&ctl[CTL_BYTES_LO + 1u], atomicLoad(&ctl[CTL_BYTES_LO + 1u]) + bytes_hi);
    }

    // 1. Consume the level that just ran (nothing if it planned 0 items).
    let cur = atomicLoad(&ctl[CTL_CUR_LEN]);
    let pushed = atomicLoad(&ctl[CTL_PUSHED]);
    var head = atomicLoad(&ctl[CTL_HEAD]) + cur;
    if head >= cap {
        head -= cap;
    }
    let qlen = atomicLoad(&ctl[CTL_QUEUE_LEN]) - cur + pushed;
    add64(CTL_ITEMS_LO, cur);
    let scan_lo = atomicLoad(&ctl[CTL_SCAN_LO]);
    let scan_hi = atomicLoad(&ctl[CTL_SCAN_LO + 1u]);
    // Log the level: it is level LEVELS_RUN - 1 of the batch.
    let run = atomicLoad(&ctl[CTL_LEVELS_RUN]);
    if cur > 0u && run >= 1u && run <= TRACE_LEVELS {
        let at = CTL_LOG + LOG_WORDS_PER_LEVEL * (run - 1u);
        let start_lo = atomicLoad(&ctl[CTL_LEVEL_START_LO]);
        let start_hi = atomicLoad(&ctl[CTL_LEVEL_START_LO + 1u]);
        atomicStore(&ctl[at], cur);
        atomicStore(&ctl[at + 1u], scan_lo - start_lo);
        atomicStore(&ctl[at + 2u], scan_hi - start_hi - select(0u, 1u, scan_lo < start_lo));
    }

    // 2. Plan the next level.
    let left = atomicLoad(&ctl[CTL_LEVELS_LEFT]);
    let budget_lo = atomicLoad(&ctl[CTL_BUDGET_LO]);
    let budget_hi = atomicLoad(&ctl[CTL_BUDGET_LO + 1u]);
    let under_budget = scan_hi < budget_hi || (scan_hi == budget_hi && scan_lo < budget_lo);
    let overflowed = atomicLoad(&ctl[CTL_OVERFLOW]) != 0u;

    var next = 0u;
    if left > 0u && qlen > 0u && under_budget && !overflowed {
        // Slots of budget left, saturated to u32: every item has >= 1 slot,
        // so taking more items than this would surely overshoot.
        var rem_hi = budget_hi - scan_hi;
        if budget_lo < scan_lo {
            rem_hi -= 1u;
        }
        var rem = budget_lo - scan_lo;
        if rem_hi > 0u {
            rem = 0xffffffffu;
        }
        next = min(qlen, min(params.level_cap, rem));
        atomicStore(&ctl[CTL_LEVELS_LEFT], left - 1u);
        atomicStore(&ctl[CTL_LEVELS_RUN], atomicLoad(&ctl[CTL_LEVELS_RUN]) + 1u);
        atomicStore(&ctl[CTL_LEVEL_START_LO], scan_lo);
        atomicStore(&ctl[CTL_LEVEL_START_LO + 1u], scan_hi);
    }

    var tail = head + qlen;
    if tail >= cap {
        tail -= cap;
    }
    atomicStore(&ctl[CTL_HEAD], head);
    atomicStore(&ctl[CTL_QUEUE_LEN], qlen);
    atomicStore(&ctl[CTL_CUR_LEN], next);
    atomicStore(&ctl[CTL_TAIL], tail);
    atomicStore(&ctl[CTL_FREE], cap - qlen);
    atomicStore(&ctl[CTL_PUSHED], 0u);
    level[0] = head;
    level[1] = next;
    level[2] = tail;
    level[3] = cap - qlen;

    // 3. Indirect arguments of the next scan dispatch. next <= level_cap, so
    // this is within max_compute_workgroups_per_dimension: the host turns
    // wgpu's own check of indirect dispatches off and relies on it.
    // A small level is spread over up to MIN_LEVEL_WORKGROUPS workgroups
    // (a few items each) instead of packed into one: a large object's
    // oblets are queued next to each other, and one workgroup with all of
    // them would scan them alone, SLOT_CAP slots a level.
    args[0] = max((next + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE, min(next, MIN_LEVEL_WORKGROUPS));
    args[1] = 1u;
    args[2] = 1u;

    // 4. The next advance runs only after a level that scans.
    let at = ((advance + 1u) / 2u) * 4u;
    if next > 0u && at + 3u <= arrayLength(&next_advance) {
        next_advance[at] = 1u;
        next_advance[at + 1u] = 1u;
        next_advance[at + 2u] = 1u;
    }
}
