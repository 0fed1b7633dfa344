//! Arrays split across storage bindings.
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

use super::device::GpuContext;
use super::GpuError;

/// An array split across a fixed number of storage bindings of
/// `1 << shift` elements each (see the module comment).
#[derive(Debug)]
pub(crate) struct Chunked {
    pub(crate) buffers: Vec<wgpu::Buffer>,
    pub(crate) shift: u32,
    elem_bytes: u64,
}

impl Chunked {
    pub(crate) fn new(
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

    pub(crate) fn write(&self, queue: &wgpu::Queue, first: u64, data: &[u8]) {
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

    pub(crate) fn copy_to(
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
