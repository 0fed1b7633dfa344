//! The grey ring and the device inbox, from the host's side: pushing the
//! items the host owns, sending the objects it greyed to the inbox, taking
//! items back, and writing the queue state it changed.
//!
//! The ring's `head` and length live in the control block on the GPU. The
//! mirror keeps a host copy, refreshed by every batch readback and by its own
//! pushes and takes, so [`HeapMirror::push_greys`] and
//! [`HeapMirror::take_queue`] know where the ring's tail is without a round
//! trip. That copy is exact because every method that changes the queue takes
//! `&mut self` and waits for its GPU work before returning, and pushing or
//! taking is refused ([`GpuError::BatchInFlight`]) between
//! [`HeapMirror::submit_batch`] and [`HeapMirror::finish_batch`].

use super::layout::COUNTED;
use super::layout::{CTL_CUR_LEN, CTL_FREE, CTL_HEAD, CTL_PUSHED, CTL_QUEUE_LEN, CTL_TAIL};
use super::mirror::HeapMirror;
use super::{GpuError, GreyItem};

/// Flag in a grey item's oblet word, in the ring: the host counted the
/// bytes of this first item's object (it marked the object itself). Set on
/// every item [`HeapMirror::push_greys`] pushes and on the inbox's winners;
/// items taken back with [`HeapMirror::take_queue`] carry it as the ring
/// does. The oblet is `oblet & !ITEM_COUNTED`.
pub const ITEM_COUNTED: u32 = COUNTED;

/// Entries of the device inbox: enough for a burst of host greys (roots,
/// a barrier flush, a hand-off's worth) between two batches, at 4 bytes
/// each; a larger burst waits on the host for the next batch.
pub const INBOX_ITEMS: u32 = 1 << 20;

/// The inbox of a mirror for `max_objects` objects: no larger than the
/// objects it could hold.
pub(crate) fn inbox_capacity(max_objects: u32) -> u32 {
    INBOX_ITEMS.min(max_objects.max(1))
}

impl HeapMirror {
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

    /// Appends grey items the host has marked (it won their mark bits and
    /// counted their bytes; the GPU only scans them) to the tail of the
    /// ring, flagged [`ITEM_COUNTED`]. A first item `(obj, 0)` stands for
    /// its whole object: the GPU queues a large object's other oblets when
    /// it scans the first, so push `(obj, k > 0)` only for oblets of an
    /// object whose first oblet the host scanned itself.
    ///
    /// # Errors
    /// [`GpuError::OutOfRange`] for an object at or above the watermark,
    /// [`GpuError::QueueFull`] if the ring cannot take them all (nothing is
    /// pushed then), [`GpuError::BatchInFlight`] between
    /// [`HeapMirror::submit_batch`] and [`HeapMirror::finish_batch`].
    pub fn push_greys(&mut self, items: &[GreyItem]) -> Result<(), GpuError> {
        self.no_batch_in_flight()?;
        if items.is_empty() {
            // No upload at all: on some drivers each write costs a staging
            // allocation, which is most of a small push.
            return self.ctx.check_health();
        }
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
        let flat: Vec<u32> = items
            .iter()
            .flat_map(|&(o, k)| [o, k | ITEM_COUNTED])
            .collect();
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
        if !objects.is_empty() {
            self.ctx.queue.write_buffer(
                &self.inbox,
                u64::from(self.inbox_len) * 4,
                bytemuck::cast_slice(objects),
            );
            self.inbox_len += objects.len() as u32;
        }
        self.ctx.check_health()
    }

    /// Removes up to `max` grey items from the tail of the GPU ring (the most
    /// recently queued) and returns them for the CPU engine to scan, as the
    /// ring holds them: an item's oblet word carries [`ITEM_COUNTED`] when
    /// the host counted its object's bytes; a first item without it is an
    /// object the GPU marked and has not counted yet, whose bytes the taker
    /// counts. A taken first item stands for its whole object (the GPU had
    /// not queued its other oblets yet). The host
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
        // The scan kernels and the inbox pass read the level's state here.
        let level = [self.head, 0, tail, cap - self.queue_len];
        self.ctx
            .queue
            .write_buffer(&self.level, 0, bytemuck::cast_slice(&level));
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
}
