// scan_subgroup.wgsl — scan one mark level; queue appends aggregated per subgroup.
//
// Same algorithm and bindings as scan_workgroup.wgsl; only the append differs:
// instead of one atomicAdd on the ring cursor per newly marked object, each
// subgroup sums its winners' item counts (subgroupExclusiveAdd / subgroupAdd),
// the subgroup's leader reserves the whole run with a single atomicAdd, and
// subgroupBroadcastFirst hands the run's start to the others. Needs
// wgpu::Features::SUBGROUP (naga 30 takes the builtins without `enable subgroups;`).
// Subgroup operations run in uniform control flow: every invocation executes
// every stride of the slot walk, with an item count of 0 when it has no slot.
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
// atomicOr; the winner counts the object and bytes and appends all of the
// object's oblets, (t, 0) .. (t, ceil(nslots / OBLET_SLOTS) - 1), to the ring
// tail (one atomicAdd per subgroup and stride, see above). Objects without
// slots are marked but never queued (Go blackens noscan objects at once).
// Per-workgroup totals (scan work, marked objects, bytes) are added to the
// control block once per workgroup.
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
// with ceil(CUR_LEN / 256) workgroups planned by level_advance.wgsl.
//
// The definitions and bindings above main() live in scan_common.wgsl, which
// the host prepends to this file.

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) sg_lane: u32,
) {
    // 1, 2. This invocation's item and slot run; prefix sums of the runs.
    let lvl = load_level_state(lid);
    let total = gather_runs(lvl, lid, wid.x);

    // 3. Walk the concatenated slots; invocation j owns slot j of each stride.
    for (var base = 0u; base < total; base += WORKGROUP_SIZE) {
        let j = base + lid;
        var t = 0u;
        var n = 0u;
        if j < total {
            let v = load_slot(concat_slot(j));
            if v != 0u && v - 1u < params.watermark {
                t = v - 1u;
                n = try_mark(t);
            }
        }
        // One reservation per subgroup for all its winners' items.
        let offset = subgroupExclusiveAdd(n);
        let sg_total = subgroupAdd(n);
        // The leader is the lowest active invocation, the one
        // subgroupBroadcastFirst reads from.
        let leader = subgroupBroadcastFirst(sg_lane);
        var sg_start = 0u;
        if sg_lane == leader && sg_total > 0u {
            sg_start = atomicAdd(&ctl[CTL_PUSHED], sg_total);
        }
        sg_start = subgroupBroadcastFirst(sg_start);
        if n > 0u {
            append(lvl, t, sg_start + offset, n);
        }
    }

    // 4. Per-workgroup totals into the batch counters.
    add_workgroup_totals(lid, total);
}
