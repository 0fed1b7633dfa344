// scan_subgroup.wgsl — scan one mark level; winners recorded per subgroup.
//
// Same algorithm and bindings as scan_workgroup.wgsl; only the recording of
// a winner differs: instead of one workgroup atomic per newly marked object
// for its index in the winner buffer, each subgroup counts its winners
// (subgroupExclusiveAdd / subgroupAdd), the subgroup's leader takes the
// subgroup's whole run of the buffer with a single atomicAdd, and
// subgroupBroadcastFirst hands the run's start to the others. The ring
// reservation is the same: one atomicAdd on the append cursor per
// workgroup, and a subgroup's run past the buffer appends itself. Needs wgpu::Features::SUBGROUP (naga 30 takes the builtins without
// `enable subgroups;`). Subgroup operations run in uniform control flow:
// every invocation executes every stride of the slot walk.
//
// Bindings (group 0):
//   0      params         : uniform  Params
//   1      ctl            : storage  array<atomic<u32>>  read_write  control block and counter stripes
//   2      marks          : storage  array<atomic<u32>>  read_write  mark bitmap, bit i of word i/32
//   3..6   objects0..3    : storage  array<ObjInfo>      read        object table, 1 << obj_shift per binding
//   7..14  slots0..7      : storage  array<u32>          read        pointer slots, 1 << slot_shift per binding
//   15..18 queue0..3      : storage  array<vec2<u32>>    read_write  grey ring, 1 << queue_shift per binding
//   20     ops            : storage  array<atomic<u32>>  read_write  operation totals (COUNT_OPS only)
//   21     level          : storage  array<u32>          read        HEAD, CUR_LEN, TAIL, FREE of the level
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
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) sg_lane: u32,
) {
    // 1, 2. This invocation's item and slot run; prefix sums of the runs.
    let lvl = load_level_state(lid);
    let g = gather_runs(lvl, lid, wid.x, nwg.x);
    let total = g.total;
    // The bytes the items count, one workgroup atomic per subgroup.
    let bytes_lo = subgroupAdd(g.bytes & 0xffffu);
    let bytes_hi = subgroupAdd(g.bytes >> 16u);
    if sg_lane == subgroupBroadcastFirst(sg_lane) && (bytes_lo | bytes_hi) != 0u {
        count_bytes_split(bytes_lo, bytes_hi);
    }

    // 3. Walk the concatenated slots; invocation j owns slot j of each stride.
    for (var base = 0u; base < total; base += WORKGROUP_SIZE) {
        let t = scan_slot(base + lid, total);
        let n = select(0u, 1u, t != NONE);
        // One index reservation per subgroup for all its winners.
        let offset = subgroupExclusiveAdd(n);
        let sg_total = subgroupAdd(n);
        // The leader is the lowest active invocation, the one
        // subgroupBroadcastFirst reads from.
        let leader = subgroupBroadcastFirst(sg_lane);
        var sg_start = 0u;
        if sg_lane == leader && sg_total > 0u {
            sg_start = atomicAdd(&win_count, sg_total);
        }
        sg_start = subgroupBroadcastFirst(sg_start);
        // A run that does not fit the buffer goes to the ring itself, with
        // one reservation; the buffer's valid part ends where it began.
        let spill = sg_start + sg_total > WINNERS;
        var ring_start = 0u;
        if spill && sg_lane == leader && sg_total > 0u {
            ring_start = ctl_atomic_add(CTL_PUSHED, sg_total);
            atomicMin(&win_valid, sg_start);
        }
        ring_start = subgroupBroadcastFirst(ring_start);
        if n > 0u {
            if spill {
                append(lvl, ring_start + offset, vec2<u32>(t, 0u));
            } else {
                win_obj[sg_start + offset] = t;
            }
        }
    }
    // The flush, with the gather's appends (always: a workgroup may have
    // appends and no slot).
    flush_winners(lid, lvl, 0u, g);

    // 4. Per-workgroup totals into the counter stripe.
    add_workgroup_totals(lid, wid.x, total);
}
