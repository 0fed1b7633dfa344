//! Reading back from the device: the mark bitmap at merges, and the
//! staging-buffer maps every readback (batch counters included) waits on.

use super::device::GpuContext;
use super::mirror::HeapMirror;
use super::GpuError;
use std::sync::{Arc, Mutex};

impl HeapMirror {
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
        self.download_marks_with(dst.len(), |words| dst.copy_from_slice(words))
    }

    /// Downloads the first `words` words of the mark bitmap and hands them to
    /// `f` where they were mapped, without a copy: a merge reads them once.
    /// If the last batch staged them ([`HeapMirror::stage_marks`]) and
    /// nothing has written marks since, they are mapped where the batch
    /// left them, with no submission and no wait of their own.
    ///
    /// # Errors
    /// As [`HeapMirror::download_marks_into`].
    pub(crate) fn download_marks_with<T>(
        &mut self,
        words: usize,
        f: impl FnOnce(&[u32]) -> T,
    ) -> Result<T, GpuError> {
        self.check_range("mark words", 0, words, self.mark_words)?;
        let bytes = words as u64 * 4;
        if bytes == 0 {
            return Ok(f(&[]));
        }
        self.ctx.check_health()?;
        self.ensure_marks_staging(bytes)?;
        let ctx = &self.ctx;
        let Some(staging) = self.marks_staging.as_ref() else {
            return Err(GpuError::Internal("no bitmap staging buffer".into()));
        };
        if !self.marks_staged(words) {
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("mark bitmap download"),
                });
            encoder.copy_buffer_to_buffer(&self.marks, 0, staging, 0, bytes);
            ctx.scoped("mark bitmap", || {
                ctx.queue.submit([encoder.finish()]);
            })?;
        }
        PendingMap::start(staging, bytes).wait_with(ctx, staging, |b| {
            // Mapped ranges are aligned (wgpu::MAP_ALIGNMENT); a copy only if
            // a driver ever hands out one that is not.
            match bytemuck::try_cast_slice::<u8, u32>(b) {
                Ok(words) => f(words),
                Err(_) => f(&bytemuck::pod_collect_to_vec::<u8, u32>(b)),
            }
        })
    }

    /// Whether a download of the first `words` bitmap words maps what the
    /// last batch staged, with no submission of its own.
    pub(crate) fn marks_staged(&self, words: usize) -> bool {
        words <= self.staged_words as usize
    }

    /// Makes sure the bitmap's staging buffer holds at least `bytes`.
    pub(crate) fn ensure_marks_staging(&mut self, bytes: u64) -> Result<(), GpuError> {
        if self.marks_staging.as_ref().is_none_or(|b| b.size() < bytes) {
            // Drop the old one first: only one is ever needed.
            self.marks_staging = None;
            self.staged_words = 0;
            let ctx = &self.ctx;
            self.marks_staging = Some(ctx.scoped("mark bitmap", || {
                ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("marks staging"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })?);
        }
        Ok(())
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
