//! The heap mirror: GPU buffers for the object table, slots, mark bitmap and
//! grey ring, and the uploads and downloads that keep them in step with the
//! host.
//!
//! # Splitting arrays across bindings
//!
//! A storage binding is limited (`max_storage_buffer_binding_size`; lavapipe:
//! 128 MiB), and so is one buffer (`max_buffer_size`). The object table, the
//! slots and the grey ring can outgrow one binding on a large heap, so each is
//! a [`Chunked`] array: a fixed number of bindings (4, 8 and 4; fixed in the
//! shaders) of `1 << shift` elements each, the largest power of two that fits
//! the binding limit. The shaders pick the binding with `index >> shift` and
//! the element with `index & mask`. Chunks the heap does not need are 16-byte
//! placeholders, so the bind group is always complete. A heap that does not
//! fit even so is refused with [`GpuError::HeapTooLarge`] — never truncated.
//! The mark bitmap (one bit per object) always fits one binding in practice
//! and is not split; it too is refused if it does not fit.
//!
//! # Host shadow of the queue
//!
//! The ring's `head` and length live in the control block on the GPU. The
//! mirror keeps a host copy, refreshed by every batch readback and by its own
//! pushes and takes, so [`HeapMirror::push_greys`] and
//! [`HeapMirror::take_queue`] know where the ring's tail is without a round
//! trip. That copy is exact because every method that changes the queue takes
//! `&mut self` and waits for its GPU work before returning, and pushing or
//! taking is refused ([`GpuError::BatchInFlight`]) between
//! [`HeapMirror::submit_batch`] and [`HeapMirror::finish_batch`].
//!
//! # Memory
//!
//! Per object: 12 bytes of table, 1 bit of bitmap and, through the ring's
//! minimum size, 8 bytes of queue; per slot 4 bytes (+ 8 bytes of queue per
//! 16384 slots). A 2^25-object heap with 4 slots each needs 384 MiB of table,
//! 512 MiB of slots, 256 MiB of queue and 4 MiB of bitmap.

use std::sync::{Arc, Mutex};

use bytemuck::{Pod, Zeroable};

use super::batch::{LevelSample, Pipelines};
use super::device::GpuContext;
use super::layout::{
    Params, CTL_BUFFER_WORDS, CTL_CUR_LEN, CTL_FREE, CTL_HEAD, CTL_PUSHED, CTL_QUEUE_LEN, CTL_TAIL,
    CTL_WORDS, OBJ_CHUNKS, QUEUE_CHUNKS, SLOT_CHUNKS, TRACE_LEVELS,
};
use super::{GpuError, GreyItem, OBLET_SLOTS, WORKGROUP_SIZE};

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
    /// object is queued once (by whoever wins its mark bit), as
    /// `ceil(nslots / OBLET_SLOTS)` items, so at most
    /// `max_objects + ceil(max_slots / OBLET_SLOTS)` items in all.
    pub fn min_queue_items(max_objects: u32, max_slots: u32) -> u64 {
        u64::from(max_objects) + u64::from(max_slots).div_ceil(u64::from(OBLET_SLOTS))
    }
}

/// An array split across a fixed number of storage bindings of
/// `1 << shift` elements each (see the module comment).
#[derive(Debug)]
pub(crate) struct Chunked {
    pub(crate) buffers: Vec<wgpu::Buffer>,
    pub(crate) shift: u32,
    elem_bytes: u64,
}

impl Chunked {
    fn new(
        ctx: &GpuContext,
        what: &'static str,
        elem_bytes: u64,
        len: u64,
        chunks: usize,
    ) -> Result<Self, GpuError> {
        let per_binding = ctx.max_binding_bytes / elem_bytes;
        if per_binding == 0 {
            return Err(GpuError::HeapTooLarge {
                what,
                bytes: len * elem_bytes,
                limit: 0,
            });
        }
        // Largest power of two that fits one binding, and indexable by u32.
        let shift = (63 - per_binding.leading_zeros()).min(31);
        let per_chunk = 1u64 << shift;
        let limit = per_chunk * chunks as u64;
        if len > limit {
            return Err(GpuError::HeapTooLarge {
                what,
                bytes: len * elem_bytes,
                limit: limit * elem_bytes,
            });
        }
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let buffers = ctx.scoped(what, || {
            (0..chunks as u64)
                .map(|c| {
                    let elems = len.saturating_sub(c * per_chunk).min(per_chunk);
                    // Unused chunks are small placeholders; sizes stay multiples of 4.
                    let size = (elems * elem_bytes).max(16);
                    ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(what),
                        size,
                        usage,
                        mapped_at_creation: false,
                    })
                })
                .collect::<Vec<_>>()
        })?;
        Ok(Chunked {
            buffers,
            shift,
            elem_bytes,
        })
    }

    /// Calls `f(buffer, byte offset in buffer, element range)` for each
    /// per-binding piece of the elements `first .. first + count`.
    fn pieces(
        &self,
        first: u64,
        count: u64,
        mut f: impl FnMut(&wgpu::Buffer, u64, std::ops::Range<u64>),
    ) {
        let per_chunk = 1u64 << self.shift;
        let mut done = 0;
        while done < count {
            let idx = first + done;
            let chunk = (idx >> self.shift) as usize;
            let off = idx & (per_chunk - 1);
            let n = (count - done).min(per_chunk - off);
            f(&self.buffers[chunk], off * self.elem_bytes, done..done + n);
            done += n;
        }
    }

    fn write(&self, queue: &wgpu::Queue, first: u64, data: &[u8]) {
        let count = data.len() as u64 / self.elem_bytes;
        let eb = self.elem_bytes;
        self.pieces(first, count, |buf, offset, range| {
            queue.write_buffer(
                buf,
                offset,
                &data[(range.start * eb) as usize..(range.end * eb) as usize],
            );
        });
    }

    fn copy_to(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        first: u64,
        count: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
    ) {
        let eb = self.elem_bytes;
        self.pieces(first, count, |buf, offset, range| {
            encoder.copy_buffer_to_buffer(
                buf,
                offset,
                dst,
                dst_offset + range.start * eb,
                (range.end - range.start) * eb,
            );
        });
    }
}

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
    marks_staging: Option<wgpu::Buffer>,
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
        let (params_buf, marks, ctl, ctl_staging, args, inbox, trace) =
            ctx.scoped("control buffers", || {
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
                // tracing, the level log and the timestamps after them).
                let ctl_staging = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("control block readback"),
                    size: match ctx.trace_levels {
                        false => u64::from(CTL_WORDS) * 4,
                        true => LevelTrace::READBACK_BYTES,
                    },
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
                (params_buf, marks, ctl, ctl_staging, args, inbox, trace)
            })?;

        let pipelines = ctx.scoped("pipelines", || {
            Pipelines::new(
                ctx,
                &params_buf,
                &ctl,
                &args,
                &marks,
                &inbox,
                &objects,
                &slots,
                &queue,
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
            inbox,
            inbox_len: 0,
            pipelines,
            head: 0,
            queue_len: 0,
            inject_lost: false,
            in_flight: None,
            marks_staging: None,
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
        self.ctx.queue.write_buffer(
            &self.marks,
            u64::from(first_word) * 4,
            bytemuck::cast_slice(words),
        );
        self.ctx.check_health()
    }

    /// Words in the mark bitmap: `ceil(max_objects / 32)` (at least 1).
    pub fn mark_words(&self) -> u32 {
        self.mark_words
    }

    /// Empties the grey queue without reading it (start of a cycle, or a
    /// cycle abandoned). Takes effect for the next batch.
    ///
    /// # Errors
    /// [`GpuError::BatchInFlight`] between [`HeapMirror::submit_batch`] and
    /// [`HeapMirror::finish_batch`]; device failures.
    pub fn clear_queue(&mut self) -> Result<(), GpuError> {
        self.no_batch_in_flight()?;
        self.head = 0;
        self.queue_len = 0;
        self.inbox_len = 0;
        self.write_queue_state();
        self.ctx.check_health()
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

    /// Downloads the whole mark bitmap, `ceil(max_objects / 32)` words.
    ///
    /// # Errors
    /// [`GpuError::DeviceLost`] when the device is gone (the marks with it),
    /// [`GpuError::Map`] when the readback fails otherwise.
    pub fn download_marks(&mut self) -> Result<Vec<u32>, GpuError> {
        let mut words = vec![0; self.mark_words as usize];
        self.download_marks_into(&mut words)?;
        Ok(words)
    }

    /// Downloads the first `dst.len()` words of the mark bitmap into `dst`:
    /// the objects below `32 * dst.len()`. A heap reserved far larger than it
    /// has grown needs only the words below its allocation watermark. The
    /// staging buffer is kept for the next download, so a merge costs one
    /// copy and one map, not an allocation.
    ///
    /// # Errors
    /// As [`HeapMirror::download_marks`]; [`GpuError::OutOfRange`] when `dst`
    /// is longer than the bitmap.
    pub fn download_marks_into(&mut self, dst: &mut [u32]) -> Result<(), GpuError> {
        self.check_range("mark words", 0, dst.len(), self.mark_words)?;
        let bytes = dst.len() as u64 * 4;
        if bytes == 0 {
            return Ok(());
        }
        let ctx = &self.ctx;
        ctx.check_health()?;
        if self.marks_staging.as_ref().is_none_or(|b| b.size() < bytes) {
            // Drop the old one first: only one is ever needed.
            self.marks_staging = None;
            self.marks_staging = Some(ctx.scoped("mark bitmap", || {
                ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("marks staging"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })?);
        }
        let Some(staging) = self.marks_staging.as_ref() else {
            return Err(GpuError::Internal("no bitmap staging buffer".into()));
        };
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("mark bitmap download"),
            });
        encoder.copy_buffer_to_buffer(&self.marks, 0, staging, 0, bytes);
        ctx.scoped("mark bitmap", || {
            ctx.queue.submit([encoder.finish()]);
        })?;
        PendingMap::start(staging, bytes).wait_with(ctx, staging, |b| {
            // u32 -> u8 needs no alignment: the mapped bytes land in place.
            bytemuck::cast_slice_mut::<u32, u8>(dst).copy_from_slice(b);
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

    /// Appends grey items the host has marked (it won their mark bits; the
    /// GPU only scans them) to the tail of the ring.
    ///
    /// # Errors
    /// [`GpuError::OutOfRange`] for an object at or above the watermark,
    /// [`GpuError::QueueFull`] if the ring cannot take them all (nothing is
    /// pushed then), [`GpuError::BatchInFlight`] between
    /// [`HeapMirror::submit_batch`] and [`HeapMirror::finish_batch`].
    pub fn push_greys(&mut self, items: &[GreyItem]) -> Result<(), GpuError> {
        self.no_batch_in_flight()?;
        if let Some(&(obj, oblet)) = items.iter().find(|(o, _)| *o >= self.params.watermark) {
            return Err(GpuError::OutOfRange {
                what: format!(
                    "grey ({obj}, {oblet}) at or above the watermark {}",
                    self.params.watermark
                ),
            });
        }
        let cap = u64::from(self.params.queue_cap);
        let len = u64::from(self.queue_len);
        let n = items.len() as u64;
        if len + n > cap {
            return Err(GpuError::QueueFull {
                len,
                pushed: n,
                capacity: cap,
            });
        }
        let flat: Vec<u32> = items.iter().flat_map(|&(o, k)| [o, k]).collect();
        let tail = (u64::from(self.head) + len) % cap;
        // The run may wrap around the end of the ring.
        let first_run = n.min(cap - tail);
        let (a, b) = flat.split_at((first_run * 2) as usize);
        self.queue
            .write(&self.ctx.queue, tail, bytemuck::cast_slice(a));
        self.queue
            .write(&self.ctx.queue, 0, bytemuck::cast_slice(b));
        self.queue_len += n as u32;
        self.write_queue_state();
        self.ctx.check_health()
    }

    /// Objects in the inbox for the next batch.
    pub fn inbox_len(&self) -> u32 {
        self.inbox_len
    }

    /// Objects the inbox can take before the next batch.
    pub fn inbox_room(&self) -> u32 {
        inbox_capacity(self.capacity.max_objects) - self.inbox_len
    }

    /// Sends objects the host has greyed (marked in its own bitmap) to the
    /// device inbox. The next batch shades them first: each one whose GPU
    /// mark bit was clear is marked and queued there; the others were the
    /// GPU's already and are counted as duplicates
    /// ([`crate::gpu::BatchCounters::duplicates`]). See `scan_inbox.wgsl`.
    ///
    /// # Errors
    /// [`GpuError::OutOfRange`] for an object at or above the watermark or
    /// more objects than [`HeapMirror::inbox_room`] (nothing is sent then),
    /// [`GpuError::BatchInFlight`] between [`HeapMirror::submit_batch`] and
    /// [`HeapMirror::finish_batch`].
    pub fn push_inbox(&mut self, objects: &[u32]) -> Result<(), GpuError> {
        self.no_batch_in_flight()?;
        if let Some(&obj) = objects.iter().find(|&&o| o >= self.params.watermark) {
            return Err(GpuError::OutOfRange {
                what: format!(
                    "inbox object {obj} at or above the watermark {}",
                    self.params.watermark
                ),
            });
        }
        if objects.len() as u64 > u64::from(self.inbox_room()) {
            return Err(GpuError::OutOfRange {
                what: format!(
                    "{} inbox objects with room for {}",
                    objects.len(),
                    self.inbox_room()
                ),
            });
        }
        self.ctx.queue.write_buffer(
            &self.inbox,
            u64::from(self.inbox_len) * 4,
            bytemuck::cast_slice(objects),
        );
        self.inbox_len += objects.len() as u32;
        self.ctx.check_health()
    }

    /// Removes up to `max` grey items from the tail of the GPU ring (the most
    /// recently queued) and returns them for the CPU engine to scan. The host
    /// must upload its bitmap again before the GPU resumes, if it marked
    /// anything meanwhile.
    ///
    /// # Errors
    /// [`GpuError::DeviceLost`] / [`GpuError::Map`]; the queue is unchanged then.
    /// [`GpuError::BatchInFlight`] between [`HeapMirror::submit_batch`] and
    /// [`HeapMirror::finish_batch`].
    pub fn take_queue(&mut self, max: usize) -> Result<Vec<GreyItem>, GpuError> {
        self.no_batch_in_flight()?;
        let n = u64::from(self.queue_len).min(max as u64);
        if n == 0 {
            return Ok(Vec::new());
        }
        let cap = u64::from(self.params.queue_cap);
        let start = (u64::from(self.head) + u64::from(self.queue_len) - n) % cap;
        let first_run = n.min(cap - start);
        let bytes = self.read_back("grey queue", n * 8, |encoder, staging| {
            self.queue.copy_to(encoder, start, first_run, staging, 0);
            self.queue
                .copy_to(encoder, 0, n - first_run, staging, first_run * 8);
        })?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        self.queue_len -= n as u32;
        self.write_queue_state();
        self.ctx.check_health()?;
        Ok(words.chunks_exact(2).map(|w| (w[0], w[1])).collect())
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

    fn no_batch_in_flight(&self) -> Result<(), GpuError> {
        if self.in_flight.is_some() {
            return Err(GpuError::BatchInFlight);
        }
        Ok(())
    }

    fn check_range(&self, what: &str, first: u32, len: usize, cap: u32) -> Result<(), GpuError> {
        let end = u64::from(first) + len as u64;
        if end > u64::from(cap) {
            return Err(GpuError::OutOfRange {
                what: format!("{what} {first}..{end} past capacity {cap}"),
            });
        }
        Ok(())
    }

    /// Writes the queue state the host changed (`HEAD` .. `PUSHED`) as the
    /// final `level_advance` of a batch leaves it: no level planned, the
    /// tail and free room after the queued items. The inbox pass reads
    /// `TAIL` and `FREE` before any `level_advance` of its batch.
    fn write_queue_state(&self) {
        let cap = self.params.queue_cap;
        let tail = ((u64::from(self.head) + u64::from(self.queue_len)) % u64::from(cap)) as u32;
        // HEAD, QUEUE_LEN, CUR_LEN, TAIL, FREE, PUSHED: adjacent words.
        debug_assert_eq!(
            [CTL_QUEUE_LEN, CTL_CUR_LEN, CTL_TAIL, CTL_FREE, CTL_PUSHED],
            [1, 2, 3, 4, 5].map(|k| CTL_HEAD + k)
        );
        let words = [self.head, self.queue_len, 0, tail, cap - self.queue_len, 0];
        self.ctx.queue.write_buffer(
            &self.ctl,
            u64::from(CTL_HEAD) * 4,
            bytemuck::cast_slice(&words),
        );
    }

    /// Refreshes the host copy of the queue state from a readback of `ctl`.
    pub(crate) fn absorb_ctl(&mut self, ctl: &[u32]) {
        self.head = ctl[CTL_HEAD as usize];
        self.queue_len = ctl[CTL_QUEUE_LEN as usize];
    }

    /// Records `copy(encoder, staging)` into a fresh staging buffer of
    /// `bytes`, submits, waits, and returns the bytes.
    pub(crate) fn read_back(
        &self,
        what: &str,
        bytes: u64,
        copy: impl FnOnce(&mut wgpu::CommandEncoder, &wgpu::Buffer),
    ) -> Result<Vec<u8>, GpuError> {
        let ctx = &self.ctx;
        ctx.check_health()?;
        let staging = ctx.scoped(what, || {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: bytes.max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        copy(&mut encoder, &staging);
        ctx.scoped(what, || {
            ctx.queue.submit([encoder.finish()]);
        })?;
        map_read(ctx, &staging, bytes)
    }
}

/// Entries of the device inbox: enough for a burst of host greys (roots,
/// a barrier flush, a hand-off's worth) between two batches, at 4 bytes
/// each; a larger burst waits on the host for the next batch.
pub const INBOX_ITEMS: u32 = 1 << 20;

/// The inbox of a mirror for `max_objects` objects: no larger than the
/// objects it could hold.
fn inbox_capacity(max_objects: u32) -> u32 {
    INBOX_ITEMS.min(max_objects.max(1))
}

/// A requested map of a staging buffer, completed by [`PendingMap::wait`].
#[derive(Debug)]
pub(crate) struct PendingMap {
    /// Filled by the map callback (a mutex rather than a channel keeps the
    /// mirror `Sync`).
    result: Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>,
    bytes: u64,
}

impl PendingMap {
    /// Requests a read map of the first `bytes` of `staging`; it completes
    /// once the GPU work submitted so far has finished.
    pub(crate) fn start(staging: &wgpu::Buffer, bytes: u64) -> Self {
        let result = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&result);
        staging.map_async(wgpu::MapMode::Read, 0..bytes.max(4), move |r| {
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(r);
            }
        });
        PendingMap { result, bytes }
    }

    /// Waits for the GPU, then copies the mapped bytes out and unmaps. A
    /// failed map is a lost device if the device says so.
    pub(crate) fn wait(
        self,
        ctx: &GpuContext,
        staging: &wgpu::Buffer,
    ) -> Result<Vec<u8>, GpuError> {
        self.wait_with(ctx, staging, <[u8]>::to_vec)
    }

    /// [`PendingMap::wait`] that hands the mapped bytes to `read` instead
    /// of copying them out.
    pub(crate) fn wait_with<T>(
        self,
        ctx: &GpuContext,
        staging: &wgpu::Buffer,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, GpuError> {
        let polled = ctx.device.poll(wgpu::PollType::wait_indefinitely());
        let mapped = self.result.lock().ok().and_then(|mut r| r.take());
        ctx.check_health()?;
        if let Err(e) = polled {
            return Err(GpuError::Map(format!("poll: {e}")));
        }
        match mapped {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(GpuError::Map(e.to_string())),
            None => return Err(GpuError::Map("map callback did not run".into())),
        }
        let out = {
            let view = staging
                .get_mapped_range(0..self.bytes.max(4))
                .map_err(|e| GpuError::Map(e.to_string()))?;
            read(&view[..self.bytes as usize])
        };
        staging.unmap();
        Ok(out)
    }
}

/// Maps the first `bytes` of `staging` for reading, waits, and copies them out.
pub(crate) fn map_read(
    ctx: &GpuContext,
    staging: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>, GpuError> {
    PendingMap::start(staging, bytes).wait(ctx, staging)
}
