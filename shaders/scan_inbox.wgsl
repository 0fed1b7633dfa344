// scan_inbox.wgsl — shade the greys the host pushed (the device inbox).
//
// The host greys objects too: roots, the write barrier's shades, hand-offs.
// It marks them in its own bitmap, which the GPU does not see, so it cannot
// tell whether the GPU has marked the same object already. Instead of
// downloading the GPU's bitmap to find out, it sends the objects here. Each
// invocation takes one inbox entry and does what `greyobject` does with a
// mark bit it does not own yet:
//   - atomicOr the object's bit into the GPU's bitmap;
//   - the winner queues the object: ceil(nslots / OBLET_SLOTS) items, (t, 0)
//     .. (t, n - 1), none for an object without slots. The host counted the
//     object's bytes when it marked it in its own bitmap, so the winner counts
//     nothing;
//   - a loser found the bit set: the GPU won the object first and has queued
//     or scanned it, and counted its bytes. The host's copy is dropped, and
//     the loser adds 1 to CTL_DUPS and the object's size to CTL_DUP_BYTES, so
//     the host can take back its own count: bytes are counted once.
// One ring reservation per workgroup (one atomicAdd on the append cursor for
// all the workgroup's winners), as the workgroup scan kernel does.
//
// Runs first in a batch, before the first level_advance, which adds the
// items it appended (CTL_PUSHED) to the queue. Reads the level's queue state
// (TAIL, FREE) like the scan kernels: the host rewrites all of it whenever it
// changes the queue between batches, so it is current here.
//
// Bindings (group 0), a subset of scan_common.wgsl's plus the inbox:
//   0      params         : uniform  Params
//   1      ctl            : storage  array<atomic<u32>>  read_write  control block
//   2      marks          : storage  array<atomic<u32>>  read_write  mark bitmap, bit i of word i/32
//   3..6   objects0..3    : storage  array<ObjInfo>      read        object table, 1 << obj_shift per binding
//   15..18 queue0..3      : storage  array<vec2<u32>>    read_write  grey ring, 1 << queue_shift per binding
//   19     inbox          : storage  array<u32>          read        objects the host greyed, CTL_INBOX_LEN of them
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

// The workgroup's winners' items, duplicates and their bytes; zeroed
// explicitly below.
var<workgroup> inbox_items: atomic<u32>;
var<workgroup> inbox_dups: atomic<u32>;
var<workgroup> inbox_dup_lo: atomic<u32>;
var<workgroup> inbox_dup_hi: atomic<u32>;
var<workgroup> inbox_len: u32;
var<workgroup> inbox_base: u32;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    if lid == 0u {
        atomicStore(&inbox_items, 0u);
        atomicStore(&inbox_dups, 0u);
        atomicStore(&inbox_dup_lo, 0u);
        atomicStore(&inbox_dup_hi, 0u);
        inbox_len = atomicLoad(&ctl[CTL_INBOX_LEN]);
    }
    let lvl = load_level_state(lid); // its uniform load is the barrier for the stores above
    let len = workgroupUniformLoad(&inbox_len);

    let i = wid.x * WORKGROUP_SIZE + lid;
    var t = 0u;
    var n = 0u;
    var offset = 0u;
    if i < len {
        t = inbox[i];
        if t < params.watermark {
            let bit = 1u << (t & 31u);
            let old = atomicOr(&marks[t >> 5u], bit);
            let info = load_obj(t);
            if (old & bit) == 0u {
                n = oblet_count(info.nslots);
                offset = atomicAdd(&inbox_items, n);
            } else {
                atomicAdd(&inbox_dups, 1u);
                let b = atomicAdd(&inbox_dup_lo, info.size);
                if b + info.size < b {
                    atomicAdd(&inbox_dup_hi, 1u);
                }
            }
        }
    }

    workgroupBarrier();
    if lid == 0u {
        let items = atomicLoad(&inbox_items);
        var base = 0u;
        if items > 0u {
            base = atomicAdd(&ctl[CTL_PUSHED], items);
        }
        inbox_base = base;
        let dups = atomicLoad(&inbox_dups);
        if dups > 0u {
            atomicAdd(&ctl[CTL_DUPS], dups);
            ctl_add64(CTL_DUP_BYTES_LO, atomicLoad(&inbox_dup_lo));
            atomicAdd(&ctl[CTL_DUP_BYTES_LO + 1u], atomicLoad(&inbox_dup_hi));
        }
    }
    let base = workgroupUniformLoad(&inbox_base);
    if n > 0u {
        append(lvl, t, base + offset, n);
    }
}
