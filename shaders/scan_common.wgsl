// scan_common.wgsl — what the scan kernels and the inbox pass share: the
// uniform block, the control-block layout, the bindings, the helpers
// (chunked loads, the mark test-and-set, ring appends, operation counting)
// and the phases of a scan other than the slot walk (gathering the items'
// slot runs, finding a slot's run, flushing the winners, adding the
// workgroup's totals). It has no entry point: the host prepends it to
// scan_workgroup.wgsl, scan_subgroup.wgsl or scan_inbox.wgsl, and validates
// each whole (tests/shaders.rs). The two scan kernels differ only in how an
// invocation finds its place in the workgroup's list of winners.
//
// Grey items are (obj, oblet | COUNTED). A winner of a mark bit queues its
// object as ONE item (obj, 0), without reading its descriptor; the scan that
// takes the item reads the descriptor once (its slot run, its size) and, for
// an object larger than an oblet, queues the other oblets then (as the CPU's
// scan of a first oblet does). The bytes of a first item's object are counted
// there too, unless the item has COUNTED set: the host counted them when it
// marked the object in its own bitmap (items it pushed, inbox winners).
//
// A workgroup scans at most SLOT_CAP slots per dispatch, so one workgroup
// never holds up a level with megaslots of one array. A large object's
// oblets are queued next to each other, and a level deals its items to the
// workgroups four at a time, round robin, so a run of oblets is spread
// over the level's workgroups; items still past the cap in a workgroup's
// share are queued again as they are, for the next level.
//
// The level's queue state (HEAD, CUR_LEN, TAIL, FREE) is read from the
// `level` buffer, plain data that level_advance (and the host, between
// batches) writes; the per-workgroup totals go to STRIPES counter stripes,
// each on its own 128-byte line after the control block, which level_advance
// folds into the control block once per level. What remains on the control
// block's one line is one ring reservation (atomicAdd on PUSHED) per
// workgroup flush.
//
// Bindings (group 0), declared here for every kernel that prepends it:
//   0      params         : uniform  Params
//   1      ctl            : storage  array<atomic<u32>>  read_write  control block, counter stripes, level log
//   2      marks          : storage  array<atomic<u32>>  read_write  mark bitmap, bit i of word i/32
//   3..6   objects0..3    : storage  array<ObjInfo>      read        object table, 1 << obj_shift per binding
//   7..14  slots0..7      : storage  array<u32>          read        pointer slots, 1 << slot_shift per binding
//   15..18 queue0..3      : storage  array<vec2<u32>>    read_write  grey ring, 1 << queue_shift per binding
//   20     ops            : storage  array<atomic<u32>>  read_write  operation totals (COUNT_OPS only)
//   21     level          : storage  array<u32>          read        HEAD, CUR_LEN, TAIL, FREE of the level
// (19 is the inbox pass's inbox.)
//
// Workgroup size: 256 (WORKGROUP_SIZE), the kernels' entry points.

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

struct ObjInfo {
    slot_start: u32,
    nslots: u32,
    size: u32,
}

const WORKGROUP_SIZE: u32 = 256u;
const OBLET_SLOTS: u32 = 16384u;
const OBLET_SHIFT: u32 = 14u;

const CTL_HEAD: u32 = 0u;
const CTL_CUR_LEN: u32 = 2u;
const CTL_TAIL: u32 = 3u;
const CTL_FREE: u32 = 4u;
const CTL_PUSHED: u32 = 5u;
const CTL_OVERFLOW: u32 = 6u;

// Counter stripes: STRIPES of STRIPE_WORDS words from CTL_STRIPES, one
// 128-byte line each; a workgroup adds to stripe workgroup_id % STRIPES.
const CTL_STRIPES: u32 = 32u;
const STRIPES: u32 = 16u;
const STRIPE_WORDS: u32 = 32u;
const STRIPE_SCAN_LO: u32 = 0u;
const STRIPE_MARKED: u32 = 2u;
const STRIPE_BYTES_LO: u32 = 3u;

// Item flag: the host counted the bytes of this first item's object.
const COUNTED: u32 = 0x80000000u;
// Most slots one workgroup scans in one dispatch.
const SLOT_CAP: u32 = 65536u;
// log2 of the consecutive level items a workgroup takes together
// (gather_runs).
const GRANULE_SHIFT: u32 = 2u;
// Fewest workgroups a level of that many items or more is spread over.
const MIN_LEVEL_WORKGROUPS: u32 = 64u;

// The ops buffer's categories (src/gpu/ops.rs).
const OPS_CTL_ATOMICS: u32 = 0u;
const OPS_MARK_ATOMICS: u32 = 1u;
const OPS_MARK_LOADS: u32 = 2u;
const OPS_DESCRIPTOR_LOADS: u32 = 3u;
const OPS_SLOT_LOADS: u32 = 4u;
const OPS_RING_WRITES: u32 = 5u;
const OPS_RING_READS: u32 = 6u;
const OPS_WORKGROUP_BARRIERS: u32 = 7u;
const OPS_MAX_WORKGROUP_SLOTS: u32 = 8u;
const OPS_EDGES: u32 = 9u;
const OPS_STRIPE_ATOMICS: u32 = 10u;

// Set by the counting pipelines only: the normal ones compile the counting
// away.
override COUNT_OPS: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> ctl: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> marks: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> objects0: array<ObjInfo>;
@group(0) @binding(4) var<storage, read> objects1: array<ObjInfo>;
@group(0) @binding(5) var<storage, read> objects2: array<ObjInfo>;
@group(0) @binding(6) var<storage, read> objects3: array<ObjInfo>;
@group(0) @binding(7) var<storage, read> slots0: array<u32>;
@group(0) @binding(8) var<storage, read> slots1: array<u32>;
@group(0) @binding(9) var<storage, read> slots2: array<u32>;
@group(0) @binding(10) var<storage, read> slots3: array<u32>;
@group(0) @binding(11) var<storage, read> slots4: array<u32>;
@group(0) @binding(12) var<storage, read> slots5: array<u32>;
@group(0) @binding(13) var<storage, read> slots6: array<u32>;
@group(0) @binding(14) var<storage, read> slots7: array<u32>;
@group(0) @binding(15) var<storage, read_write> queue0: array<vec2<u32>>;
@group(0) @binding(16) var<storage, read_write> queue1: array<vec2<u32>>;
@group(0) @binding(17) var<storage, read_write> queue2: array<vec2<u32>>;
@group(0) @binding(18) var<storage, read_write> queue3: array<vec2<u32>>;
@group(0) @binding(20) var<storage, read_write> ops: array<atomic<u32>>;
@group(0) @binding(21) var<storage, read> level: array<u32>;

// Exclusive end of each item's slot run in the workgroup's concatenation,
// and the prefix sum's other buffer.
var<workgroup> run_end: array<u32, WORKGROUP_SIZE>;
var<workgroup> run_tmp: array<u32, WORKGROUP_SIZE>;
// Slot index of concatenated position 0 of each run: run start - run offset (wrapping).
var<workgroup> run_delta: array<u32, WORKGROUP_SIZE>;
var<workgroup> run_total: u32;
// The level's queue state (HEAD, CUR_LEN, TAIL, FREE), read once per workgroup.
var<workgroup> level_state: vec4<u32>;
var<workgroup> wg_marked: atomic<u32>;
var<workgroup> wg_bytes_lo: atomic<u32>;
var<workgroup> wg_bytes_hi: atomic<u32>;
// Items the gather queues (deferred items, oblets of large objects), and
// where in the ring they go.
var<workgroup> wg_extra: atomic<u32>;
var<workgroup> wg_base: u32;
// The winners recorded since the last flush, and how many.
var<workgroup> win_obj: array<u32, WINNERS>;
var<workgroup> win_count: atomic<u32>;
// Entries [0, win_valid) of the buffer hold winners (the winners past it
// went to the ring themselves, see record_spilled); flush_count is what the
// flush writes.
var<workgroup> win_valid: atomic<u32>;
var<workgroup> flush_count: u32;

// Strides between winner flushes; each stride records at most
// WORKGROUP_SIZE winners: the buffer holds the winners of a workgroup of
// small objects (256 items of up to 4 slots) in one flush at the end. The
// slot walk has no barrier in it (on a software driver a barrier inside a
// loop costs the whole loop its straight-line code: lavapipe scanned a
// random heap 25% slower with one): a workgroup with more winners than the
// buffer holds (large objects' oblets) appends the rest itself, one ring
// reservation per subgroup (or winner) past the buffer.
const WINNERS: u32 = 1024u;

// Adds n to operation total k (counting pipelines only).
fn count(k: u32, n: u32) {
    if COUNT_OPS && n > 0u {
        atomicAdd(&ops[k], n);
    }
}

// workgroupBarrier(), counted once per workgroup. Uniform control flow.
fn barrier(lid: u32) {
    if COUNT_OPS && lid == 0u {
        atomicAdd(&ops[OPS_WORKGROUP_BARRIERS], 1u);
    }
    workgroupBarrier();
}

// Atomics on the control block's line, counted.
fn ctl_atomic_add(i: u32, v: u32) -> u32 {
    count(OPS_CTL_ATOMICS, 1u);
    return atomicAdd(&ctl[i], v);
}

fn ctl_atomic_load(i: u32) -> u32 {
    count(OPS_CTL_ATOMICS, 1u);
    return atomicLoad(&ctl[i]);
}

fn load_obj(i: u32) -> ObjInfo {
    count(OPS_DESCRIPTOR_LOADS, 1u);
    let c = i >> params.obj_shift;
    let o = i & ((1u << params.obj_shift) - 1u);
    var r: ObjInfo;
    switch c {
        case 0u: { r = objects0[o]; }
        case 1u: { r = objects1[o]; }
        case 2u: { r = objects2[o]; }
        default: { r = objects3[o]; }
    }
    return r;
}

fn load_slot(i: u32) -> u32 {
    count(OPS_SLOT_LOADS, 1u);
    let c = i >> params.slot_shift;
    let o = i & ((1u << params.slot_shift) - 1u);
    var r: u32;
    switch c {
        case 0u: { r = slots0[o]; }
        case 1u: { r = slots1[o]; }
        case 2u: { r = slots2[o]; }
        case 3u: { r = slots3[o]; }
        case 4u: { r = slots4[o]; }
        case 5u: { r = slots5[o]; }
        case 6u: { r = slots6[o]; }
        default: { r = slots7[o]; }
    }
    return r;
}

fn load_item(i: u32) -> vec2<u32> {
    count(OPS_RING_READS, 1u);
    let c = i >> params.queue_shift;
    let o = i & ((1u << params.queue_shift) - 1u);
    var r: vec2<u32>;
    switch c {
        case 0u: { r = queue0[o]; }
        case 1u: { r = queue1[o]; }
        case 2u: { r = queue2[o]; }
        default: { r = queue3[o]; }
    }
    return r;
}

fn store_item(i: u32, v: vec2<u32>) {
    count(OPS_RING_WRITES, 1u);
    let c = i >> params.queue_shift;
    let o = i & ((1u << params.queue_shift) - 1u);
    switch c {
        case 0u: { queue0[o] = v; }
        case 1u: { queue1[o] = v; }
        case 2u: { queue2[o] = v; }
        default: { queue3[o] = v; }
    }
}

// Ring position `i` past `base`; both are below the capacity (<= 2^31).
fn ring(base: u32, i: u32) -> u32 {
    var p = base + i;
    if p >= params.queue_cap {
        p -= params.queue_cap;
    }
    return p;
}

// 64-bit atomic add of a u32 into the (lo, hi) pair at ctl[lo_idx]: a
// counter stripe's, not the control block's.
fn stripe_add64(lo_idx: u32, v: u32) {
    let old = atomicAdd(&ctl[lo_idx], v);
    count(OPS_STRIPE_ATOMICS, 1u);
    if old + v < old {
        atomicAdd(&ctl[lo_idx + 1u], 1u);
        count(OPS_STRIPE_ATOMICS, 1u);
    }
}

// Number of oblet items an object is scanned as: ceil(nslots / OBLET_SLOTS).
fn oblet_count(nslots: u32) -> u32 {
    return (nslots >> OBLET_SHIFT) + select(0u, 1u, (nslots & (OBLET_SLOTS - 1u)) != 0u);
}

// Tests and sets the mark bit of `t`; true if this invocation won it. The
// winner queues the object as one item without reading its descriptor (see
// the header).
fn try_mark(t: u32) -> bool {
    let w = t >> 5u;
    let bit = 1u << (t & 31u);
    // Plain load first: most targets of a dense graph are marked already,
    // and a load is far cheaper than a contended read-modify-write.
    count(OPS_MARK_LOADS, 1u);
    if (atomicLoad(&marks[w]) & bit) != 0u {
        return false;
    }
    count(OPS_MARK_ATOMICS, 1u);
    let old = atomicOr(&marks[w], bit);
    if (old & bit) != 0u {
        return false;
    }
    atomicAdd(&wg_marked, 1u);
    return true;
}

// The level's queue state from the `level` buffer, read once per workgroup,
// and the workgroup's counters zeroed (the kernels rely on them starting at
// zero, so they do not leave it to the pipeline's zero-initialisation).
// Call first, in uniform control flow: its uniform load is the barrier
// that publishes the zeroes.
struct LevelState {
    head: u32,
    cur_len: u32,
    tail: u32,
    free: u32,
}

fn load_level_state(lid: u32) -> LevelState {
    if lid == 0u {
        level_state = vec4<u32>(level[0], level[1], level[2], level[3]);
        atomicStore(&wg_marked, 0u);
        atomicStore(&wg_bytes_lo, 0u);
        atomicStore(&wg_bytes_hi, 0u);
        atomicStore(&wg_extra, 0u);
        atomicStore(&win_count, 0u);
        atomicStore(&win_valid, WINNERS);
        count(OPS_WORKGROUP_BARRIERS, 1u);
    }
    let v = workgroupUniformLoad(&level_state);
    return LevelState(v.x, v.y, v.z, v.w);
}

// Writes `v` at `pos` past the ring tail, or flags an overflow if that is
// beyond the free part of the ring.
fn append(lvl: LevelState, pos: u32, v: vec2<u32>) {
    if pos >= lvl.free {
        atomicOr(&ctl[CTL_OVERFLOW], 1u);
        count(OPS_CTL_ATOMICS, 1u);
        return;
    }
    store_item(ring(lvl.tail, pos), v);
}

// Adds `size` bytes to the workgroup's total.
fn count_bytes(size: u32) {
    let b = atomicAdd(&wg_bytes_lo, size);
    if b + size < b {
        atomicAdd(&wg_bytes_hi, 1u);
    }
}

// Adds `hi * 65536 + lo` bytes (sums of the high and low halves of
// sizes, which fit a u32 where the sizes' own sum might not).
fn count_bytes_split(lo: u32, hi: u32) {
    count_bytes(lo);
    count_bytes((hi & 0xffffu) << 16u);
    if (hi >> 16u) > 0u {
        atomicAdd(&wg_bytes_hi, hi >> 16u);
    }
}

// Phases 1 and 2 of the scan kernels: this invocation's item and its slot
// run. The level's CUR_LEN items are dealt to the `nwg` workgroups of the
// dispatch (at most `per` = ceil(CUR_LEN / nwg) <= WORKGROUP_SIZE each) in
// granules of `g` = 4 consecutive items (1 when `per` < 4), round robin:
// granule j goes to workgroup j % nwg. A granule is one 32-byte sector of
// the ring, so reads stay whole sectors; and a run of oblets (a large
// object's, queued next to each other) is dealt across workgroups, four
// oblets (4 * OBLET_SLOTS <= SLOT_CAP slots) to each, rather than
// into one workgroup that would scan SLOT_CAP slots of it a level. Then an inclusive
// prefix sum of the workgroup's run lengths (Hillis-Steele, log2(256)
// rounds) into run_end / run_delta, and the gather's own appends, which the
// last winner flush writes under its reservation: items past SLOT_CAP go
// back to the ring as they are, and a kept first item of a large object
// queues its other oblets. Returns the slots the workgroup scans (those of
// the kept items, a prefix) and the appends. Call in uniform control flow.
fn gather_runs(lvl: LevelState, lid: u32, wid: u32, nwg: u32) -> Gather {
    let per = (lvl.cur_len + nwg - 1u) / nwg;
    // Granules of 4 (shifts, not divisions: lavapipe has no vector integer
    // divide), or of 1 for a level of fewer than 4 items a workgroup.
    let gs = select(0u, GRANULE_SHIFT, per >= (1u << GRANULE_SHIFT));
    let idx = ((((lid >> gs) * nwg) + wid) << gs) | (lid & ((1u << gs) - 1u));
    var item = vec2<u32>(0u, 0u);
    var has = false;
    var len = 0u;
    var start = 0u;
    var oblets = 0u;
    var size = 0u;
    // Every granule j < ceil(CUR_LEN / g) has a workgroup and a lid range
    // (j / nwg < WORKGROUP_SIZE / g, as CUR_LEN <= nwg * per and g <= per),
    // and no two invocations share an idx.
    if idx < lvl.cur_len {
        item = load_item(ring(lvl.head, idx));
        has = true;
        let k = item.y & ~COUNTED;
        let info = load_obj(item.x);
        oblets = oblet_count(info.nslots);
        size = info.size;
        if k < oblets {
            let lo = k << OBLET_SHIFT;
            len = min(OBLET_SLOTS, info.nslots - lo);
            start = info.slot_start + lo;
        }
    }

    // Ping-pong between run_end and run_tmp: one barrier a round, and an
    // even number of rounds ends in run_end.
    run_end[lid] = len;
    barrier(lid);
    for (var off = 1u; off < WORKGROUP_SIZE; off <<= 2u) {
        // (The index is clamped in range where select discards the term.)
        run_tmp[lid] = run_end[lid] + select(0u, run_end[lid - min(lid, off)], lid >= off);
        barrier(lid);
        let off2 = 2u * off;
        run_end[lid] = run_tmp[lid] + select(0u, run_tmp[lid - min(lid, off2)], lid >= off2);
        barrier(lid);
    }
    let end = run_end[lid];
    run_delta[lid] = start - (end - len);
    // The first item always fits (len <= OBLET_SLOTS <= SLOT_CAP), and
    // run_end never falls: the kept items are a prefix, and the last of
    // them sets the total.
    let keep = end <= SLOT_CAP;
    if keep && (lid == WORKGROUP_SIZE - 1u || run_end[lid + 1u] > SLOT_CAP) {
        run_total = end;
    }

    var extra = 0u;
    var first = 0u;
    var bytes = 0u;
    if has {
        let k = item.y & ~COUNTED;
        if !keep {
            extra = 1u;
        } else if k == 0u {
            if oblets > 1u {
                extra = oblets - 1u;
                first = 1u;
            }
            if (item.y & COUNTED) == 0u {
                bytes = size;
            }
        }
    }
    var offset = 0u;
    if extra > 0u {
        offset = atomicAdd(&wg_extra, extra);
    }
    count(OPS_WORKGROUP_BARRIERS, select(0u, 1u, lid == 0u));
    // The barrier of the uniform load publishes wg_extra too: the last
    // winner flush reserves ring space for these appends with its own.
    return Gather(workgroupUniformLoad(&run_total), item, extra, first, offset, bytes);
}

// What gather_runs hands the slot walk: the workgroup's slot total; this
// invocation's appends for the last winner flush: `extra` items, from
// oblet `first` of item.x (or, with `first` 0, `item` itself, deferred),
// at `offset` among the workgroup's appends; and the bytes of its item's
// object if this scan counts them (a first item the host did not count),
// which each kernel adds to the workgroup's total its own way.
struct Gather {
    total: u32,
    item: vec2<u32>,
    extra: u32,
    first: u32,
    offset: u32,
    bytes: u32,
}

// The heap slot at position j (< the total) of the workgroup's concatenated
// runs: binary search for the first run whose end is past j.
fn concat_slot(j: u32) -> u32 {
    var lo = 0u;
    var hi = WORKGROUP_SIZE - 1u;
    while lo < hi {
        let mid = (lo + hi) >> 1u;
        if run_end[mid] > j {
            hi = mid;
        } else {
            lo = mid + 1u;
        }
    }
    return run_delta[lo] + j;
}

// The target of concatenated slot j if it is a pointer below the watermark
// that this invocation newly marked, else NONE.
const NONE: u32 = 0xffffffffu;

fn scan_slot(j: u32, total: u32) -> u32 {
    if j >= total {
        return NONE;
    }
    let v = load_slot(concat_slot(j));
    if v == 0u {
        return NONE;
    }
    count(OPS_EDGES, 1u);
    let t = v - 1u;
    if t < params.watermark && try_mark(t) {
        return t;
    }
    return NONE;
}

// Queues every winner recorded in the buffer, as one item each (`flag` in
// its oblet word), and the gather's appends `g` after them, with ONE
// reservation on the ring cursor. Call once, at the end, in uniform control
// flow.
fn flush_winners(lid: u32, lvl: LevelState, flag: u32, g: Gather) {
    barrier(lid); // every winner is recorded
    if lid == 0u {
        let winners = min(atomicLoad(&win_count), atomicLoad(&win_valid));
        let n = winners + atomicLoad(&wg_extra);
        var base = 0u;
        if n > 0u {
            base = ctl_atomic_add(CTL_PUSHED, n);
        }
        flush_count = winners;
        wg_base = base;
    }
    count(OPS_WORKGROUP_BARRIERS, select(0u, 1u, lid == 0u));
    // The uniform load's barrier also publishes flush_count.
    let base = workgroupUniformLoad(&wg_base);
    let winners = flush_count;
    for (var e = lid; e < winners; e += WORKGROUP_SIZE) {
        append(lvl, base + e, vec2<u32>(win_obj[e], flag));
    }
    if g.extra > 0u {
        let at = base + winners + g.offset;
        if g.first == 0u {
            append(lvl, at, g.item);
        } else {
            for (var k = 0u; k < g.extra; k++) {
                append(lvl, at + k, vec2<u32>(g.item.x, g.first + k));
            }
        }
    }
}

// Records one winner `t` (this invocation's own index from win_count):
// into the buffer, or past it straight into the ring with a reservation of
// its own, `flag` in its oblet word as the flush would write it. The
// workgroup kernel's and the inbox's way; the subgroup kernel records a
// subgroup's winners together.
fn record_winner(lvl: LevelState, t: u32, flag: u32) {
    let e = atomicAdd(&win_count, 1u);
    if e < WINNERS {
        win_obj[e] = t;
    } else {
        append(lvl, ctl_atomic_add(CTL_PUSHED, 1u), vec2<u32>(t, flag));
    }
}

// Phase 4 of the scan kernels: the workgroup's totals (scan work in slots,
// marked objects, bytes) into its counter stripe. Call after the last winner
// flush, whose first barrier follows every invocation's last count.
fn add_workgroup_totals(lid: u32, wid: u32, total: u32) {
    if lid == 0u {
        let s = CTL_STRIPES + (wid % STRIPES) * STRIPE_WORDS;
        stripe_add64(s + STRIPE_SCAN_LO, total);
        let marked = atomicLoad(&wg_marked);
        if marked > 0u {
            atomicAdd(&ctl[s + STRIPE_MARKED], marked);
            count(OPS_STRIPE_ATOMICS, 1u);
        }
        let lo = atomicLoad(&wg_bytes_lo);
        let hi = atomicLoad(&wg_bytes_hi);
        if lo > 0u {
            stripe_add64(s + STRIPE_BYTES_LO, lo);
        }
        if hi > 0u {
            atomicAdd(&ctl[s + STRIPE_BYTES_LO + 1u], hi);
            count(OPS_STRIPE_ATOMICS, 1u);
        }
        if COUNT_OPS {
            atomicMax(&ops[OPS_MAX_WORKGROUP_SLOTS], total);
        }
    }
}
