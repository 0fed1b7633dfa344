// scan_workgroup.wgsl — scan one mark level; portable kernel (no subgroups).
//
// Each workgroup takes up to WORKGROUP_SIZE consecutive grey items of the
// level (a block of ceil(CUR_LEN / workgroups), see gather_runs) and scans
// their slots *together* (load-balanced search):
//   1. each invocation loads one item (obj, oblet) and its object's
//      descriptor, and computes its slot run [slot_start + oblet *
//      OBLET_SLOTS, ... + min(OBLET_SLOTS, rest));
//   2. the run lengths are prefix-summed in workgroup memory; items past
//      SLOT_CAP slots go back to the ring for the next level, a first item
//      of a large object queues its other oblets, and a first item counts
//      its object's bytes (unless the host did), all in scan_common's
//      gather_runs;
//   3. all invocations walk the workgroup's concatenated slots in strides of
//      WORKGROUP_SIZE; invocation j finds the item owning slot j by binary
//      search over the prefix sums. A 16384-slot oblet is thus scanned by the
//      whole workgroup, not by one invocation.
// For each slot: nil and targets at/above the watermark are skipped; the mark
// bit is tested with a plain (atomic) load first and only then set with
// atomicOr; the winner records the object in a workgroup buffer (one
// workgroup atomic for its index). After the walk, the workgroup reserves
// ring space for all its recorded winners with ONE atomicAdd on the append
// cursor and writes them, one item (t, 0) each; winners past the buffer's
// WINNERS (only in workgroups of large objects' oblets) append themselves.
// The workgroup's totals (scan work, marked objects, bytes) go to its counter
// stripe once.
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
// with ceil(CUR_LEN / 256) workgroups planned by level_advance.wgsl. Workgroup
// memory: about 6 KiB (the winner buffer is 4 KiB of it).
//
// The definitions and bindings above main() live in scan_common.wgsl, which
// the host prepends to this file.

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // 1, 2. This invocation's item and slot run; prefix sums of the runs.
    let lvl = load_level_state(lid);
    let g = gather_runs(lvl, lid, wid.x, nwg.x);
    let total = g.total;
    if g.bytes > 0u {
        count_bytes(g.bytes);
    }

    // 3. Walk the concatenated slots; invocation j owns slot j of each stride.
    for (var base = 0u; base < total; base += WORKGROUP_SIZE) {
        let t = scan_slot(base + lid, total);
        if t != NONE {
            record_winner(lvl, t, 0u);
        }
    }
    // The flush, with the gather's appends (always: a workgroup may have
    // appends and no slot).
    flush_winners(lid, lvl, 0u, g);

    // 4. Per-workgroup totals into the counter stripe.
    add_workgroup_totals(lid, wid.x, total);
}
