//! The heap mirror: GPU buffers for the object table, slots, mark bitmap and
//! grey ring, and the uploads and downloads that keep them in step with the
//! host.
//!
//! Arrays too large for one storage binding are split across several
//! ([`Chunked`], `chunked.rs`). The ring and the inbox, as the host sees
//! them, are in `queue.rs`; the readbacks in `readback.rs`.
//!
//! # Memory
//!
//! Per object: 12 bytes of table, 1 bit of bitmap and, through the ring's
//! minimum size, 8 bytes of queue; per slot 4 bytes (+ 8 bytes of queue per
//! 16384 slots). A 2^25-object heap with 4 slots each needs 384 MiB of table,
//! 512 MiB of slots, 256 MiB of queue and 4 MiB of bitmap.

use bytemuck::{Pod, Zeroable};

use super::batch::{Bindings, LevelSample, Pipelines, ADVANCE_SLOT_BYTES};
pub(crate) use super::chunked::Chunked;
use super::device::GpuContext;
use super::layout::{
    Params, CTL_BUFFER_WORDS, CTL_WORDS, OBJ_CHUNKS, QUEUE_CHUNKS, SLOT_CHUNKS, TRACE_LEVELS,
};
use super::ops::OPS_WORDS;
use super::queue::inbox_capacity;
use super::readback::PendingMap;
use super::{GpuError, MAX_BATCH_LEVELS, OBLET_SLOTS, WORKGROUP_SIZE};

/// One object-table entry, as the GPU reads it (12 bytes, no padding).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct ObjectInfo {
    /// Index of the object's first pointer slot in the flat slots array.
    pub slot_start: u32,
    /// Number of pointer slots; 0 for a noscan object.
    pub nslots: u32,
    /// Size in bytes, added to `bytes_marked` when the object is marked.
    pub size: u32,
}

/// Capacities a [`HeapMirror`] is created with; its buffers never grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MirrorCapacity {
    /// Object indices `0..max_objects` can be uploaded and marked.
    pub max_objects: u32,
    /// Slot indices `0..max_slots` can be uploaded.
    pub max_slots: u32,
    /// Grey ring capacity in items; at least
    /// [`MirrorCapacity::min_queue_items`] so the GPU can never overflow it.
    pub max_queue_items: u32,
}

impl MirrorCapacity {
    /// Capacities for a heap of `max_objects` objects and `max_slots` slots
    /// with the smallest ring that cannot overflow.
    pub fn new(max_objects: u32, max_slots: u32) -> Self {
        let q = Self::min_queue_items(max_objects, max_slots);
        MirrorCapacity {
            max_objects,
            max_slots,
            max_queue_items: u32::try_from(q).unwrap_or(u32::MAX),
        }
    }

    /// The most grey items a mark cycle can ever have queued at once: each
    /// object is queued once (by whoever wins its mark bit), and scanned as
    /// `ceil(nslots / OBLET_SLOTS)` items, so at most `max_objects +
    /// ceil(max_slots / OBLET_SLOTS)` items in all; plus the items a level
    /// queues again because they fell past a workgroup's slot cap while
    /// their first copy still holds its place in the level. A workgroup
    /// defers at most 255 items, and only after scanning at least
    /// `SLOT_CAP - OBLET_SLOTS` slots, so a level defers fewer than
    /// `max_slots / 192` of them; the ring allows `max_slots / 128 + 256`.
    pub fn min_queue_items(max_objects: u32, max_slots: u32) -> u64 {
        u64::from(max_objects)
            + u64::from(max_slots).div_ceil(u64::from(OBLET_SLOTS))
            + u64::from(max_slots) / 128
            + u64::from(WORKGROUP_SIZE)
    }
}

/// Bytes of the ops totals buffer.
pub(crate) const OPS_BYTES: u64 = OPS_WORDS as u64 * 4;

/// The heap on the GPU: object table, slots, mark bitmap, grey ring, control
/// block, and the pipelines that mark it.
///
/// Methods that change GPU state or the queue take `&mut self` and finish
/// their GPU work (or have it queued in order) before returning; the mirror is
/// `Send` and `Sync`, so it can be moved to a GPU worker thread or shared
/// behind a lock.
#[derive(Debug)]
pub struct HeapMirror {
    pub(crate) ctx: GpuContext,
    pub(crate) capacity: MirrorCapacity,
    pub(crate) params: Params,
    pub(crate) params_buf: wgpu::Buffer,
    pub(crate) objects: Chunked,
    pub(crate) slots: Chunked,
    pub(crate) queue: Chunked,
    pub(crate) marks: wgpu::Buffer,
    pub(crate) mark_words: u32,
    pub(crate) ctl: wgpu::Buffer,
    pub(crate) ctl_staging: wgpu::Buffer,
    pub(crate) args: wgpu::Buffer,
    /// The level's queue state for the scan kernels (HEAD, CUR_LEN, TAIL,
    /// FREE).
    pub(crate) level: wgpu::Buffer,
    /// Indirect args of the level_advance dispatches, a slot per advance,
    /// by parity.
    pub(crate) advance_args: [wgpu::Buffer; 2],
    /// One advance slot enabled, `(1, 1, 1)`: copied into the first
    /// advance's slot at each batch.
    pub(crate) advance_first: wgpu::Buffer,
    /// Operation totals ([`crate::gpu::GpuOptions::count_ops`]).
    pub(crate) ops: wgpu::Buffer,
    /// The device inbox: objects the host greyed, shaded by the next
    /// batch's inbox pass (`scan_inbox.wgsl`).
    pub(crate) inbox: wgpu::Buffer,
    /// Entries the inbox holds for the next batch.
    pub(crate) inbox_len: u32,
    pub(crate) pipelines: Pipelines,
    /// Host copy of `ctl[HEAD]`.
    pub(crate) head: u32,
    /// Host copy of `ctl[QUEUE_LEN]`.
    pub(crate) queue_len: u32,
    /// Set by [`HeapMirror::inject_device_lost`].
    pub(crate) inject_lost: bool,
    /// The readback of a submitted, unfinished batch.
    pub(crate) in_flight: Option<PendingMap>,

    /// Staging buffer for bitmap downloads, kept between them (a bitmap is
    /// megabytes, downloaded at every merge) and grown on demand.
    pub(crate) marks_staging: Option<wgpu::Buffer>,
    /// Batches also copy the live bitmap into `marks_staging`
    /// ([`HeapMirror::stage_marks`]).
    pub(crate) stage_marks: bool,
    /// Words of the bitmap that `marks_staging` holds as the GPU has them:
    /// set by a batch that staged them, 0 after anything else that writes
    /// marks (an upload, a clear). A download of at most this many words
    /// needs no copy of its own.
    pub(crate) staged_words: u32,
    /// Timestamp queries, when the context traces levels.
    pub(crate) trace: Option<LevelTrace>,
    /// The level trace of the last finished batch.
    pub(crate) last_trace: Vec<LevelSample>,
}

/// What a level trace needs on the device: a timestamp query before each
/// traced level and after the last, and the buffer they resolve into.
#[derive(Debug)]
pub(crate) struct LevelTrace {
    pub(crate) queries: wgpu::QuerySet,
    pub(crate) resolved: wgpu::Buffer,
}

impl LevelTrace {
    /// Timestamps per batch: one before each traced level, one after.
    pub(crate) const QUERIES: u32 = TRACE_LEVELS + 1;
    /// Bytes of a traced batch's readback: the control buffer (block and
    /// level log), then the timestamps.
    pub(crate) const READBACK_BYTES: u64 =
        CTL_BUFFER_WORDS as u64 * 4 + Self::QUERIES as u64 * wgpu::QUERY_SIZE as u64;

    fn new(device: &wgpu::Device) -> LevelTrace {
        LevelTrace {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("level timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: Self::QUERIES,
            }),
            resolved: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("level timestamps resolved"),
                size: u64::from(Self::QUERIES) * u64::from(wgpu::QUERY_SIZE),
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
        }
    }
}

impl HeapMirror {
    /// Creates the mirror's buffers and pipelines for a heap of the given
    /// capacity. Marks start clear, the queue empty, the watermark at
    /// `max_objects` (nothing allocated during the cycle).
    ///
    /// # Errors
    /// [`GpuError::HeapTooLarge`] naming the array, its size and the limit
    /// when an array does not fit the adapter's bindings;
    /// [`GpuError::OutOfRange`] for a ring below
    /// [`MirrorCapacity::min_queue_items`] or above 2^31 items;
    /// [`GpuError::OutOfMemory`] when the device cannot allocate.
    pub fn new(ctx: &GpuContext, capacity: MirrorCapacity) -> Result<Self, GpuError> {
        ctx.check_health()?;
        let min_q = MirrorCapacity::min_queue_items(capacity.max_objects, capacity.max_slots);
        if u64::from(capacity.max_queue_items) < min_q || capacity.max_queue_items > 1 << 31 {
            return Err(GpuError::OutOfRange {
                what: format!(
                    "grey ring of {} items: needs at least {min_q} (objects + oblets) and at most 2^31",
                    capacity.max_queue_items
                ),
            });
        }
        let objects = Chunked::new(
            ctx,
            "object table",
            std::mem::size_of::<ObjectInfo>() as u64,
            u64::from(capacity.max_objects),
            OBJ_CHUNKS,
        )?;
        let slots = Chunked::new(ctx, "slots", 4, u64::from(capacity.max_slots), SLOT_CHUNKS)?;
        let queue = Chunked::new(
            ctx,
            "grey queue",
            8,
            u64::from(capacity.max_queue_items),
            QUEUE_CHUNKS,
        )?;

        let mark_words = capacity.max_objects.div_ceil(32).max(1);
        let mark_bytes = u64::from(mark_words) * 4;
        if mark_bytes > ctx.max_binding_bytes {
            return Err(GpuError::HeapTooLarge {
                what: "mark bitmap",
                bytes: mark_bytes,
                limit: ctx.max_binding_bytes,
            });
        }

        let level_cap = ctx
            .limits
            .max_compute_workgroups_per_dimension
            .min(65535)
            .saturating_mul(WORKGROUP_SIZE)
            .min(capacity.max_queue_items.max(1));
        let params = Params {
            watermark: capacity.max_objects,
            queue_cap: capacity.max_queue_items.max(1),
            obj_shift: objects.shift,
            slot_shift: slots.shift,
            queue_shift: queue.shift,
            level_cap,
            _pad0: 0,
            _pad1: 0,
        };

        let device = &ctx.device;
        let (
            params_buf,
            marks,
            ctl,
            ctl_staging,
            args,
            inbox,
            trace,
            level,
            advance_args,
            advance_first,
            ops,
        ) = ctx.scoped("control buffers", || {
            // Uniform block, rewritten by set_watermark.
            let params_buf = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: std::mem::size_of::<Params>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            // Mark bitmap: bound read-write by the scan kernel, copied in and out by the host.
            let marks = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("mark bitmap"),
                size: mark_bytes.max(16),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            // Control block: queue state and batch counters, then the level
            // log (layout.rs).
            let ctl = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("control block"),
                size: u64::from(CTL_BUFFER_WORDS) * 4,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            // The one small buffer a batch maps to read its counters (and,
            // tracing, the level log and the timestamps after them;
            // counting, the ops totals last).
            let ctl_staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("control block readback"),
                size: match ctx.trace_levels {
                    false => u64::from(CTL_WORDS) * 4,
                    true => LevelTrace::READBACK_BYTES,
                } + if ctx.count_ops { OPS_BYTES } else { 0 },
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            // Indirect args of the scan dispatch: written only by level_advance,
            // never bound by the dispatch that consumes them.
            let args = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("scan dispatch args"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::INDIRECT,
                mapped_at_creation: false,
            });
            // The inbox: written by the host, read by the inbox pass.
            let inbox = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("inbox"),
                size: u64::from(inbox_capacity(capacity.max_objects)) * 4,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let trace = ctx.trace_levels.then(|| LevelTrace::new(device));
            // The level's queue state, plain data for the scan kernels:
            // written by level_advance and by the host between batches.
            let level = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("level state"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            // Indirect args of the level_advance dispatches, a slot per
            // advance, by parity: each advance that plans a level enables
            // the next one (level_advance.wgsl).
            let advance_args = ["advance args 0", "advance args 1"].map(|label| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: (u64::from(MAX_BATCH_LEVELS) / 2 + 2) * ADVANCE_SLOT_BYTES,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::INDIRECT
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            });
            let advance_first = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("first advance args"),
                size: ADVANCE_SLOT_BYTES,
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            ctx.queue
                .write_buffer(&advance_first, 0, bytemuck::cast_slice(&[1u32, 1, 1, 0]));
            // Operation totals of the counting kernels (bound always).
            let ops = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("ops totals"),
                size: OPS_BYTES,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            (
                params_buf,
                marks,
                ctl,
                ctl_staging,
                args,
                inbox,
                trace,
                level,
                advance_args,
                advance_first,
                ops,
            )
        })?;

        let pipelines = ctx.scoped("pipelines", || {
            Pipelines::new(
                ctx,
                &Bindings {
                    params: &params_buf,
                    ctl: &ctl,
                    args: &args,
                    marks: &marks,
                    inbox: &inbox,
                    level: &level,
                    advance_args: &advance_args,
                    ops: &ops,
                    objects: &objects,
                    slots: &slots,
                    queue: &queue,
                },
            )
        })?;

        let mirror = HeapMirror {
            ctx: ctx.clone(),
            capacity,
            params,
            params_buf,
            objects,
            slots,
            queue,
            marks,
            mark_words,
            ctl,
            ctl_staging,
            args,
            level,
            advance_args,
            advance_first,
            ops,
            inbox,
            inbox_len: 0,
            pipelines,
            head: 0,
            queue_len: 0,
            inject_lost: false,
            in_flight: None,
            marks_staging: None,
            stage_marks: false,
            staged_words: 0,
            trace,
            last_trace: Vec::new(),
        };
        // Buffers are zero-initialised by wgpu: marks clear, queue empty.
        mirror
            .ctx
            .queue
            .write_buffer(&mirror.params_buf, 0, bytemuck::bytes_of(&mirror.params));
        Ok(mirror)
    }

    /// The capacities this mirror was created with.
    pub fn capacity(&self) -> MirrorCapacity {
        self.capacity
    }

    /// The context (device and queue) this mirror lives on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Grey items queued on the GPU, as of the last batch, push or take.
    pub fn queue_len(&self) -> u32 {
        self.queue_len
    }

    /// The current allocation watermark.
    pub fn watermark(&self) -> u32 {
        self.params.watermark
    }

    /// Uploads object-table entries `first .. first + objects.len()` (a dirty
    /// range). Queued behind earlier GPU work: safe between batches.
    ///
    /// # Errors
    /// [`GpuError::OutOfRange`] past `max_objects`.
    pub fn upload_objects(&mut self, first: u32, objects: &[ObjectInfo]) -> Result<(), GpuError> {
        self.check_range("objects", first, objects.len(), self.capacity.max_objects)?;
        self.objects.write(
            &self.ctx.queue,
            u64::from(first),
            bytemuck::cast_slice(objects),
        );
        self.ctx.check_health()
    }

    /// Uploads slots `first .. first + slots.len()` (a dirty range; 0 = nil,
    /// else target + 1).
    ///
    /// # Errors
    /// [`GpuError::OutOfRange`] past `max_slots`.
    pub fn upload_slots(&mut self, first: u32, slots: &[u32]) -> Result<(), GpuError> {
        self.check_range("slots", first, slots.len(), self.capacity.max_slots)?;
        self.slots.write(
            &self.ctx.queue,
            u64::from(first),
            bytemuck::cast_slice(slots),
        );
        self.ctx.check_health()
    }

    /// Uploads the mark bitmap from word 0 (bit `i` of word `i / 32`). A
    /// CPU engine with `u64` words passes `bytemuck::cast_slice(&words)`
    /// (same bytes on little-endian hosts). Words past `words.len()` keep
    /// their GPU value.
    ///
    /// # Errors
    /// [`GpuError::OutOfRange`] for more words than the bitmap has.
    pub fn upload_marks(&mut self, words: &[u32]) -> Result<(), GpuError> {
        self.check_range("mark words", 0, words.len(), self.mark_words)?;
        self.staged_words = 0;
        self.ctx
            .queue
            .write_buffer(&self.marks, 0, bytemuck::cast_slice(words));
        self.ctx.check_health()
    }

    /// Uploads mark-bitmap words `first_word .. first_word + words.len()`
    /// (bit `i` of word `i / 32`), leaving the other words as they are on
    /// the GPU: how a scan backend puts the bits of the greys it pushes, or
    /// of a changed range, without sending the whole bitmap.
    ///
    /// # Errors
    /// [`GpuError::OutOfRange`] past the bitmap's end.
    pub fn upload_marks_at(&mut self, first_word: u32, words: &[u32]) -> Result<(), GpuError> {
        self.check_range("mark words", first_word, words.len(), self.mark_words)?;
        self.staged_words = 0;
        self.ctx.queue.write_buffer(
            &self.marks,
            u64::from(first_word) * 4,
            bytemuck::cast_slice(words),
        );
        self.ctx.check_health()
    }

    /// Whether each batch from now on also copies the bitmap below the
    /// watermark into the download's staging buffer, in the batch's command
    /// buffer after the last level. A merge right after such a batch then
    /// maps the bitmap where the batch left it, without a submission and a
    /// wait of its own: one round trip to the device fewer at the end of a
    /// mark, for a device-side copy of the live bitmap per batch. Worth it
    /// where a merge follows the batches closely (a stop-the-world mark:
    /// the host waits on every batch, and its last is followed by the
    /// merge); off by default.
    pub fn stage_marks(&mut self, on: bool) {
        self.stage_marks = on;
    }

    /// Words of the mark bitmap below the watermark: the only ones a phase
    /// can mark, so the only ones a merge downloads and a batch stages.
    pub fn live_mark_words(&self) -> u32 {
        self.params.watermark.div_ceil(32).min(self.mark_words)
    }

    /// Words in the mark bitmap: `ceil(max_objects / 32)` (at least 1).
    pub fn mark_words(&self) -> u32 {
        self.mark_words
    }

    /// Waits until every upload and submission so far has completed on the
    /// device (uploads are staged by wgpu until the next submission; this
    /// submits them). Used to time uploads apart from marking.
    ///
    /// # Errors
    /// [`GpuError::DeviceLost`] and other device failures.
    pub fn wait_idle(&self) -> Result<(), GpuError> {
        self.ctx.check_health()?;
        self.ctx.scoped("wait for uploads", || {
            self.ctx.queue.submit(std::iter::empty());
        })?;
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Map(format!("poll: {e}")))?;
        self.ctx.check_health()
    }

    /// Clears every mark bit on the GPU (start of a cycle).
    ///
    /// # Errors
    /// [`GpuError::DeviceLost`] and other device failures.
    pub fn clear_marks(&mut self) -> Result<(), GpuError> {
        self.staged_words = 0;
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("clear marks"),
            });
        encoder.clear_buffer(&self.marks, 0, None);
        self.ctx.scoped("clear marks", || {
            self.ctx.queue.submit([encoder.finish()]);
        })
    }

    /// Sets the allocation watermark: objects at or above `watermark` were
    /// allocated during the cycle and are black; the GPU never marks, queues
    /// or scans them. Takes effect for the next batch.
    ///
    /// # Errors
    /// [`GpuError::OutOfRange`] above `max_objects`.
    pub fn set_watermark(&mut self, watermark: u32) -> Result<(), GpuError> {
        if watermark > self.capacity.max_objects {
            return Err(GpuError::OutOfRange {
                what: format!(
                    "watermark {watermark} > max_objects {}",
                    self.capacity.max_objects
                ),
            });
        }
        self.params.watermark = watermark;
        self.ctx
            .queue
            .write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
        self.ctx.check_health()
    }

    /// Makes the next [`HeapMirror::run_batch`] fail as if the device had been
    /// lost: it destroys the device (`wgpu::Device::destroy`), so the failure
    /// travels the real path (lost callback, failed map) and is reported as
    /// [`GpuError::DeviceLost`]. Every later call fails the same way, as after
    /// a real loss. For tests (cargo feature `testing`); it ends this
    /// context's device for good.
    #[cfg(feature = "testing")]
    pub fn inject_device_lost(&mut self) {
        self.inject_lost = true;
    }

    pub(crate) fn no_batch_in_flight(&self) -> Result<(), GpuError> {
        if self.in_flight.is_some() {
            return Err(GpuError::BatchInFlight);
        }
        Ok(())
    }

    pub(crate) fn check_range(
        &self,
        what: &str,
        first: u32,
        len: usize,
        cap: u32,
    ) -> Result<(), GpuError> {
        let end = u64::from(first) + len as u64;
        if end > u64::from(cap) {
            return Err(GpuError::OutOfRange {
                what: format!("{what} {first}..{end} past capacity {cap}"),
            });
        }
        Ok(())
    }
}
