//! Phase starts, and keeping the heap mirror in step with the heap:
//! creating it for a heap, and uploading at each phase start what changed
//! since the last (dirty slot and object cards, objects allocated since).
//! The bitmap and the queue are not the heap's: they are reset per phase.

use super::stats::INITIAL_BATCH_LEVELS;
use super::{GpuScan, Mode, State};
use crate::gpu::{GpuError, HeapMirror, MirrorCapacity, ObjectInfo, OffloadModel, OffloadPolicy};
use crate::heap::Heap;
use crate::mark::Marker;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::Instant;

/// Objects or slots per upload call: bounds the temporary copy of a dirty
/// range.
const UPLOAD_CHUNK: usize = 1 << 20;

impl GpuScan {
    /// Makes sure the GPU state belongs to `m`'s current phase. `Ok(false)`:
    /// this phase is marked on the CPU (recorded in `cpu_phase`).
    pub(super) fn enter_phase(&self, st: &mut State, m: &Marker) -> Result<bool, GpuError> {
        let heap = m.heap();
        if st.phase == Some(m.phase()) && st.is_heap(heap) {
            return Ok(self.cpu_phase.load(Acquire) != m.phase());
        }
        // A new phase: whatever the previous one left is void.
        st.phase = Some(m.phase());
        st.clear_records();
        self.queued.store(0, Release);
        let on_cpu = || {
            self.cpu_phase.store(m.phase(), Release);
            Ok(false)
        };
        if st.heap_refused && st.is_heap(heap) {
            return on_cpu();
        }
        if let Err(e) = self.ensure_mirror(st, heap) {
            return match e {
                GpuError::HeapTooLarge { .. }
                | GpuError::OutOfMemory { .. }
                | GpuError::OutOfRange { .. } => on_cpu(),
                e => Err(e),
            };
        }
        self.ensure_model(st)?;
        if let Some(t) = self.threshold(st) {
            let cfg = heap.config();
            if t > MirrorCapacity::min_queue_items(cfg.max_objects, cfg.max_slots) {
                return on_cpu();
            }
        }
        self.begin_phase(st, m)?;
        Ok(true)
    }

    /// Brings the mirror up to date with the heap, resets the GPU bitmap and
    /// queue, and sets the watermark for `m`'s phase.
    fn begin_phase(&self, st: &mut State, m: &Marker) -> Result<(), GpuError> {
        let wm = m.watermark();
        self.upload_heap(st, m.heap(), wm)?;
        let t = Instant::now();
        let mirror = st.mirror()?;
        mirror.clear_marks()?;
        mirror.clear_queue()?;
        mirror.set_watermark(wm)?;
        // What a merge downloads is what a batch stages.
        let (words, live) = (mirror.mark_words(), mirror.live_mark_words());
        st.shadow.reset(words as usize, live as usize);
        st.idle_merged_work = 0;
        st.mode = Mode::Gpu;
        st.levels = INITIAL_BATCH_LEVELS;
        st.last_batch_items = 0;
        self.stat(|s| {
            s.submissions += 1;
            s.sync_s += t.elapsed().as_secs_f64();
        });
        Ok(())
    }
    /// Creates the mirror if `heap` is not the one mirrored. A heap that does
    /// not fit is recorded as refused (reported once) and the error returned.
    pub(super) fn ensure_mirror(&self, st: &mut State, heap: &Arc<Heap>) -> Result<(), GpuError> {
        if st.is_heap(heap) && (st.mirror.is_some() || st.heap_refused) {
            return match st.heap_refused {
                false => Ok(()),
                true => Err(GpuError::OutOfRange {
                    what: "this heap was refused by the GPU".into(),
                }),
            };
        }
        st.mirror = None; // free the old heap's buffers first
        st.heap = Arc::downgrade(heap);
        st.heap_refused = false;
        st.objects_uploaded = 0;
        st.slots_uploaded = 0;
        let cfg = heap.config();
        let t = Instant::now();
        let cap = MirrorCapacity::new(cfg.max_objects.max(1), cfg.max_slots.max(1));
        match HeapMirror::new(&self.ctx, cap) {
            Ok(mirror) => {
                // Everything is uploaded fresh; older dirty cards are moot.
                // (Taken before the slots are read: see the heap's "Dirty
                // cards".)
                heap.take_dirty_slot_ranges();
                heap.take_dirty_object_ranges();
                st.mirror = Some(mirror);
                self.stat(|s| s.setup_s += t.elapsed().as_secs_f64());
                Ok(())
            }
            Err(e) => {
                st.heap_refused = true;
                log::warn!(
                    "gpumark: this heap cannot be marked on the GPU ({e}); using the CPU path for it"
                );
                self.stat(|s| s.heap_refused = Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Calibrates the offload model the first time Auto needs it.
    pub(super) fn ensure_model(&self, st: &mut State) -> Result<(), GpuError> {
        if self.policy == OffloadPolicy::Auto
            && self.fixed_threshold.is_none()
            && st.model.is_none()
        {
            let t = Instant::now();
            st.model = Some(OffloadModel::calibrate(&self.ctx)?);
            self.stat(|s| s.setup_s += t.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Uploads what changed since the last upload: slots on dirty cards,
    /// descriptors on dirty object cards (objects a sweep freed and
    /// allocation reused), and the objects allocated since, up to the
    /// watermark (objects at or above it are black and never read by the
    /// GPU), with every slot the arena has handed out.
    pub(super) fn upload_heap(&self, st: &mut State, heap: &Heap, wm: u32) -> Result<(), GpuError> {
        let t = Instant::now();
        let (first_obj, old_slots) = (st.objects_uploaded, st.slots_uploaded);
        let mirror = st.mirror()?;
        let mut bytes = 0u64;
        if old_slots > 0 {
            for (s, e) in heap.take_dirty_slot_ranges() {
                let e = e.min(old_slots);
                if s < e {
                    bytes += upload_slots(mirror, heap, s, e)?;
                }
            }
        }
        for (s, e) in heap.take_dirty_object_ranges() {
            let e = e.min(first_obj as usize);
            if s < e {
                bytes += upload_objects(mirror, heap, s, e)?;
            }
        }
        if wm > first_obj {
            bytes += upload_objects(mirror, heap, first_obj as usize, wm as usize)?;
        }
        // Spans reserve their slots when carved, so the arena's slot count,
        // not the last object's end, bounds what objects below the
        // watermark use.
        let new_slots = (heap.slots_len() as usize).max(old_slots);
        if new_slots > old_slots {
            bytes += upload_slots(mirror, heap, old_slots, new_slots)?;
        }
        mirror.wait_idle()?;
        st.objects_uploaded = st.objects_uploaded.max(wm);
        st.slots_uploaded = new_slots;
        self.stat(|s| {
            s.upload_s += t.elapsed().as_secs_f64();
            s.upload_bytes += bytes;
            s.submissions += 1;
        });
        Ok(())
    }
}

/// Uploads the descriptors of objects `s..e`; returns the bytes sent.
fn upload_objects(
    mirror: &mut HeapMirror,
    heap: &Heap,
    s: usize,
    e: usize,
) -> Result<u64, GpuError> {
    let mut i = s;
    while i < e {
        let end = (i + UPLOAD_CHUNK).min(e);
        let infos: Vec<ObjectInfo> = (i..end)
            .map(|o| {
                let d = heap.desc(o as u32);
                ObjectInfo {
                    slot_start: d.slot_start,
                    nslots: d.nslots,
                    size: d.size,
                }
            })
            .collect();
        mirror.upload_objects(i as u32, &infos)?;
        i = end;
    }
    Ok(((e - s) * std::mem::size_of::<ObjectInfo>()) as u64)
}

/// Uploads heap slots `[s, e)` in chunks; returns the bytes sent.
fn upload_slots(mirror: &mut HeapMirror, heap: &Heap, s: usize, e: usize) -> Result<u64, GpuError> {
    let raw = heap.raw_slots();
    let mut i = s;
    while i < e {
        let end = (i + UPLOAD_CHUNK).min(e);
        let words: Vec<u32> = raw[i..end].iter().map(|v| v.load(Relaxed)).collect();
        mirror.upload_slots(i as u32, &words)?;
        i = end;
    }
    Ok(((e - s) * 4) as u64)
}
