// scan_inbox.wgsl — shade the greys the host pushed (the device inbox).
//
// The host greys objects too: roots, the write barrier's shades, hand-offs.
// It marks them in its own bitmap, which the GPU does not see, so it cannot
// tell whether the GPU has marked the same object already. Instead of
// downloading the GPU's bitmap to find out, it sends the objects here. Each
// invocation takes one inbox entry and does what `greyobject` does with a
// mark bit it does not own yet:
//   - atomicOr the object's bit into the GPU's bitmap;
//   - the winner queues the object as one item (t, 0 | COUNTED), without
//     reading its descriptor: the scan that takes it reads that once (and
//     queues a large object's other oblets then), and COUNTED tells it the
//     host counted the object's bytes when it marked it in its own bitmap;
//   - a loser found the bit set: the GPU won the object first and has queued
//     or scanned it, and counted its bytes. The host's copy is dropped, and
//     the loser adds 1 to CTL_DUPS and the object's size to CTL_DUP_BYTES, so
//     the host can take back its own count: bytes are counted once.
// One ring reservation per workgroup (one atomicAdd on the append cursor for
// all the workgroup's winners), through the scan kernels' winner buffer.
//
// Runs first in a batch, before the first level_advance, which adds the
// items it appended (CTL_PUSHED) to the queue. Reads the level's queue state
// (TAIL, FREE) from the `level` buffer like the scan kernels: the host
// rewrites it whenever it changes the queue between batches, so it is
// current here.
//
// Bindings (group 0), a subset of scan_common.wgsl's plus the inbox:
//   0      params         : uniform  Params
//   1      ctl            : storage  array<atomic<u32>>  read_write  control block
//   2      marks          : storage  array<atomic<u32>>  read_write  mark bitmap, bit i of word i/32
//   3..6   objects0..3    : storage  array<ObjInfo>      read        object table, 1 << obj_shift per binding
//   15..18 queue0..3      : storage  array<vec2<u32>>    read_write  grey ring, 1 << queue_shift per binding
//   19     inbox          : storage  array<u32>          read        objects the host greyed, CTL_INBOX_LEN of them
//   20     ops            : storage  array<atomic<u32>>  read_write  operation totals (COUNT_OPS only)
//   21     level          : storage  array<u32>          read        HEAD, CUR_LEN, TAIL, FREE of the level
// (slots0..7, bindings 7..14, are not used and not bound.)
//
// Workgroup size: 256 (WORKGROUP_SIZE), one-dimensional; dispatched directly
// with ceil(inbox length / 256) workgroups.
//
// The definitions and bindings above main() live in scan_common.wgsl, which
// the host prepends to this file.

const CTL_INBOX_LEN: u32 = 20u;
const CTL_DUPS: u32 = 21u;
const CTL_DUP_BYTES_LO: u32 = 22u;

@group(0) @binding(19) var<storage, read> inbox: array<u32>;

// The workgroup's duplicates and their bytes, and the inbox's length;
// zeroed explicitly below.
var<workgroup> inbox_dups: atomic<u32>;
var<workgroup> inbox_dup_lo: atomic<u32>;
var<workgroup> inbox_dup_hi: atomic<u32>;
var<workgroup> inbox_len: u32;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    if lid == 0u {
        atomicStore(&inbox_dups, 0u);
        atomicStore(&inbox_dup_lo, 0u);
        atomicStore(&inbox_dup_hi, 0u);
        inbox_len = ctl_atomic_load(CTL_INBOX_LEN);
    }
    // Its uniform load is the barrier for the stores above.
    let lvl = load_level_state(lid);
    let len = workgroupUniformLoad(&inbox_len);

    let i = wid.x * WORKGROUP_SIZE + lid;
    if i < len {
        let t = inbox[i];
        if t < params.watermark {
            let bit = 1u << (t & 31u);
            count(OPS_MARK_ATOMICS, 1u);
            let old = atomicOr(&marks[t >> 5u], bit);
            if (old & bit) == 0u {
                record_winner(lvl, t, COUNTED);
            } else {
                let size = load_obj(t).size;
                atomicAdd(&inbox_dups, 1u);
                let b = atomicAdd(&inbox_dup_lo, size);
                if b + size < b {
                    atomicAdd(&inbox_dup_hi, 1u);
                }
            }
        }
    }
    flush_winners(lid, lvl, COUNTED, Gather(0u, vec2<u32>(0u, 0u), 0u, 0u, 0u, 0u));

    if lid == 0u {
        let dups = atomicLoad(&inbox_dups);
        if dups > 0u {
            ctl_atomic_add(CTL_DUPS, dups);
            let lo = atomicLoad(&inbox_dup_lo);
            let old = ctl_atomic_add(CTL_DUP_BYTES_LO, lo);
            let hi = atomicLoad(&inbox_dup_hi) + select(0u, 1u, old + lo < old);
            if hi > 0u {
                ctl_atomic_add(CTL_DUP_BYTES_LO + 1u, hi);
            }
        }
    }
}
