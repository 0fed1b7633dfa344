// scan_common.wgsl — what the two scan kernels share: the uniform block, the
// control-block layout, the bindings, the helpers (chunked loads, the mark
// test-and-set, ring appends) and the phases of a scan other than the slot
// walk (gathering the items' slot runs, finding a slot's run, adding the
// workgroup's totals). It has no entry point: the host prepends it to
// scan_workgroup.wgsl or scan_subgroup.wgsl, whose entry points differ only in
// how they reserve queue space, and validates each whole (tests/shaders.rs).
//
// Bindings (group 0), declared here for both kernels:
//   0      params         : uniform  Params
//   1      ctl            : storage  array<atomic<u32>>  read_write  control block
//   2      marks          : storage  array<atomic<u32>>  read_write  mark bitmap, bit i of word i/32
//   3..6   objects0..3    : storage  array<ObjInfo>      read        object table, 1 << obj_shift per binding
//   7..14  slots0..7      : storage  array<u32>          read        pointer slots, 1 << slot_shift per binding
//   15..18 queue0..3      : storage  array<vec2<u32>>    read_write  grey ring, 1 << queue_shift per binding
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
const CTL_SCAN_LO: u32 = 10u;
const CTL_MARKED: u32 = 14u;
const CTL_BYTES_LO: u32 = 15u;

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

// Exclusive end of each item's slot run in the workgroup's concatenation.
var<workgroup> run_end: array<u32, WORKGROUP_SIZE>;
// Slot index of concatenated position 0 of each run: run start - run offset (wrapping).
var<workgroup> run_delta: array<u32, WORKGROUP_SIZE>;
var<workgroup> run_total: u32;
// The level's queue state (HEAD, CUR_LEN, TAIL, FREE), read once per workgroup.
var<workgroup> level_state: vec4<u32>;
var<workgroup> wg_marked: atomic<u32>;
var<workgroup> wg_bytes_lo: atomic<u32>;
var<workgroup> wg_bytes_hi: atomic<u32>;

fn load_obj(i: u32) -> ObjInfo {
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

// 64-bit atomic add of a u32 into the (lo, hi) pair of the control block.
fn ctl_add64(lo_idx: u32, v: u32) {
    let old = atomicAdd(&ctl[lo_idx], v);
    if old + v < old {
        atomicAdd(&ctl[lo_idx + 1u], 1u);
    }
}

// Number of oblet items an object is queued as: ceil(nslots / OBLET_SLOTS).
fn oblet_count(nslots: u32) -> u32 {
    return (nslots >> OBLET_SHIFT) + select(0u, 1u, (nslots & (OBLET_SLOTS - 1u)) != 0u);
}

// Tests and sets the mark bit of `t`; returns the number of items to queue
// for it if this invocation won the bit, 0 otherwise (or if t has no slots).
fn try_mark(t: u32) -> u32 {
    let w = t >> 5u;
    let bit = 1u << (t & 31u);
    // Plain load first: most targets of a dense graph are marked already,
    // and a load is far cheaper than a contended read-modify-write.
    if (atomicLoad(&marks[w]) & bit) != 0u {
        return 0u;
    }
    let old = atomicOr(&marks[w], bit);
    if (old & bit) != 0u {
        return 0u;
    }
    let info = load_obj(t);
    atomicAdd(&wg_marked, 1u);
    let b = atomicAdd(&wg_bytes_lo, info.size);
    if b + info.size < b {
        atomicAdd(&wg_bytes_hi, 1u);
    }
    return oblet_count(info.nslots);
}

// The level's queue state: HEAD, CUR_LEN, TAIL and FREE, which only
// level_advance writes, so they hold still for the whole dispatch. Read once
// per workgroup and shared: those words sit on the control block's cache line
// next to the append cursor that every subgroup hits with atomics, and one
// atomic load per invocation (or per winner) would queue up behind them at
// the one memory partition that owns the line. Call in uniform control flow.
struct LevelState {
    head: u32,
    cur_len: u32,
    tail: u32,
    free: u32,
}

fn load_level_state(lid: u32) -> LevelState {
    if lid == 0u {
        level_state = vec4<u32>(
            atomicLoad(&ctl[CTL_HEAD]),
            atomicLoad(&ctl[CTL_CUR_LEN]),
            atomicLoad(&ctl[CTL_TAIL]),
            atomicLoad(&ctl[CTL_FREE]),
        );
    }
    let v = workgroupUniformLoad(&level_state);
    return LevelState(v.x, v.y, v.z, v.w);
}

// Appends items (t, 0) .. (t, n - 1) at `start` past the ring tail, or flags
// an overflow if they do not fit in the free part of the ring.
fn append(lvl: LevelState, t: u32, start: u32, n: u32) {
    let free = lvl.free;
    if start > free || n > free - start {
        atomicOr(&ctl[CTL_OVERFLOW], 1u);
        return;
    }
    let tail = lvl.tail;
    for (var k = 0u; k < n; k++) {
        store_item(ring(tail, start + k), vec2<u32>(t, k));
    }
}

// Phases 1 and 2 of both kernels: this invocation's item (ring position HEAD
// + workgroup_id * WORKGROUP_SIZE + lid) and its slot run, then an inclusive
// prefix sum of the workgroup's run lengths (Hillis-Steele, log2(256)
// rounds) into run_end / run_delta. Returns the workgroup's slot total.
// Call in uniform control flow.
fn gather_runs(lvl: LevelState, lid: u32, wid: u32) -> u32 {
    let idx = wid * WORKGROUP_SIZE + lid;
    var len = 0u;
    var start = 0u;
    if idx < lvl.cur_len {
        let item = load_item(ring(lvl.head, idx));
        let info = load_obj(item.x);
        if item.y < oblet_count(info.nslots) {
            let lo = item.y << OBLET_SHIFT;
            len = min(OBLET_SLOTS, info.nslots - lo);
            start = info.slot_start + lo;
        }
    }

    run_end[lid] = len;
    workgroupBarrier();
    for (var off = 1u; off < WORKGROUP_SIZE; off <<= 1u) {
        var add = 0u;
        if lid >= off {
            add = run_end[lid - off];
        }
        workgroupBarrier();
        run_end[lid] += add;
        workgroupBarrier();
    }
    run_delta[lid] = start - (run_end[lid] - len);
    if lid == WORKGROUP_SIZE - 1u {
        run_total = run_end[lid];
    }
    return workgroupUniformLoad(&run_total);
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

// Phase 4 of both kernels: the workgroup's totals (scan work in slots,
// marked objects, bytes) into the batch counters. Call in uniform control
// flow, after the slot walk.
fn add_workgroup_totals(lid: u32, total: u32) {
    workgroupBarrier();
    if lid == 0u {
        ctl_add64(CTL_SCAN_LO, total);
        atomicAdd(&ctl[CTL_MARKED], atomicLoad(&wg_marked));
        ctl_add64(CTL_BYTES_LO, atomicLoad(&wg_bytes_lo));
        atomicAdd(&ctl[CTL_BYTES_LO + 1u], atomicLoad(&wg_bytes_hi));
    }
}
