// scan_workgroup.wgsl — scan one mark level; portable kernel (no subgroups),
// queue appends reserved once per workgroup.
//
// Each workgroup takes WORKGROUP_SIZE consecutive grey items of the level
// (ring positions HEAD + workgroup_id.x * WORKGROUP_SIZE + i) and scans their
// slots *together* (load-balanced search):
//   1. each invocation loads one item (obj, oblet) and computes its slot run
//      [slot_start + oblet * OBLET_SLOTS, ... + min(OBLET_SLOTS, rest));
//   2. the run lengths are prefix-summed in workgroup memory;
//   3. all invocations walk the workgroup's concatenated slots in strides of
//      WORKGROUP_SIZE; invocation j finds the item owning slot j by binary
//      search over the prefix sums. A 16384-slot oblet is thus scanned by the
//      whole workgroup, not by one invocation.
// For each slot: nil and targets at/above the watermark are skipped; the mark
// bit is tested with a plain (atomic) load first and only then set with
// atomicOr; the winner counts the object and bytes and records it, with the
// number of items it is queued as (its oblets, (t, 0) .. (t, ceil(nslots /
// OBLET_SLOTS) - 1)), in a workgroup buffer. Every FLUSH_STRIDES strides, and
// after the last, the workgroup reserves ring space for all its recorded
// items with ONE atomicAdd on the append cursor and writes them together.
// The append cursor shares a cache line with the rest of the control block,
// and every reservation on it is serialised where that line lives: per
// workgroup there are 8 (subgroups of 32) to 256 (one per winner) times fewer
// of them than per subgroup or per winner. Objects without slots are marked
// but never queued (Go blackens noscan objects at once). Per-workgroup totals
// (scan work, marked objects, bytes) are added to the control block once per
// workgroup.
//
// Bindings (group 0):
//   0      params         : uniform  Params
//   1      ctl            : storage  array<atomic<u32>>  read_write  control block
//   2      marks          : storage  array<atomic<u32>>  read_write  mark bitmap, bit i of word i/32
//   3..6   objects0..3    : storage  array<ObjInfo>      read        object table, 1 << obj_shift per binding
//   7..14  slots0..7      : storage  array<u32>          read        pointer slots, 1 << slot_shift per binding
//   15..18 queue0..3      : storage  array<vec2<u32>>    read_write  grey ring, 1 << queue_shift per binding
//
// Workgroup size: 256 (WORKGROUP_SIZE), one-dimensional; dispatched indirectly
// with ceil(CUR_LEN / 256) workgroups planned by level_advance.wgsl. Workgroup
// memory: 14 KiB (the winner buffer is 12 KiB of it).
//
// The definitions and bindings above main() live in scan_common.wgsl, which
// the host prepends to this file.

// Strides between reservations; each stride records at most WORKGROUP_SIZE
// winners, so the buffer holds FLUSH_STRIDES * WORKGROUP_SIZE of them.
const FLUSH_STRIDES: u32 = 4u;
const WINNERS: u32 = 1024u; // FLUSH_STRIDES * WORKGROUP_SIZE

// The winners recorded since the last flush: object, items it is queued as,
// and the offset of its first item among the flush's items.
var<workgroup> win_obj: array<u32, WINNERS>;
var<workgroup> win_items: array<u32, WINNERS>;
var<workgroup> win_offset: array<u32, WINNERS>;
var<workgroup> win_count: atomic<u32>;
var<workgroup> win_total: atomic<u32>;
// Set by invocation 0 at a flush: the winners recorded, and where in the
// ring (past the tail) their items go.
var<workgroup> flush_count: u32;
var<workgroup> flush_base: u32;

// Reserves ring space for every recorded winner's items with one atomicAdd,
// writes the items, and empties the buffer. Call in uniform control flow.
fn flush_winners(lid: u32, lvl: LevelState) {
    workgroupBarrier(); // every winner of the strides so far is recorded
    if lid == 0u {
        let items = atomicLoad(&win_total);
        var base = 0u;
        if items > 0u {
            base = atomicAdd(&ctl[CTL_PUSHED], items);
        }
        flush_count = atomicLoad(&win_count);
        // Nobody records again before the barrier at the end of this flush.
        atomicStore(&win_count, 0u);
        atomicStore(&win_total, 0u);
        flush_base = base;
    }
    let base = workgroupUniformLoad(&flush_base);
    for (var e = lid; e < flush_count; e += WORKGROUP_SIZE) {
        append(lvl, win_obj[e], base + win_offset[e], win_items[e]);
    }
    workgroupBarrier(); // the buffer is read before the next stride refills it
}

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    // 1, 2. This invocation's item and slot run; prefix sums of the runs.
    let lvl = load_level_state(lid);
    let total = gather_runs(lvl, lid, wid.x);

    // 3. Walk the concatenated slots; invocation j owns slot j of each stride.
    var stride = 0u;
    for (var base = 0u; base < total; base += WORKGROUP_SIZE) {
        let j = base + lid;
        if j < total {
            let v = load_slot(concat_slot(j));
            if v != 0u && v - 1u < params.watermark {
                let t = v - 1u;
                let n = try_mark(t);
                if n > 0u {
                    let e = atomicAdd(&win_count, 1u);
                    win_obj[e] = t;
                    win_items[e] = n;
                    win_offset[e] = atomicAdd(&win_total, n);
                }
            }
        }
        stride += 1u;
        if stride == FLUSH_STRIDES {
            flush_winners(lid, lvl);
            stride = 0u;
        }
    }
    if stride > 0u {
        flush_winners(lid, lvl);
    }

    // 4. Per-workgroup totals into the batch counters.
    add_workgroup_totals(lid, total);
}
