//! Pipelines and batch encoding: many mark levels in one submission, one
//! small readback.
//!
//! A batch is a single compute pass:
//!
//! ```text
//! [inbox]  advance, scan(indirect), advance, scan(indirect), ..., advance   (max_levels scans)
//! copy ctl -> ctl_staging ; submit ; map ctl_staging
//! ```
//!
//! `inbox` runs only when the host has sent objects to the device inbox
//! ([`HeapMirror::push_inbox`]): it shades them into the GPU's bitmap and
//! queues the ones it wins, and the first `advance` adds those to the queue.
//!
//! `advance` decides on the GPU how many items the next scan takes (zero once
//! the budget, the queue or the level count runs out), so the host never
//! waits between levels; a level with zero items is an empty indirect
//! dispatch and costs a few microseconds. The host resets the batch's
//! counters and sets its budget and level count with one `write_buffer`
//! into the control block before the submission (ordered before it by the
//! queue), and learns the outcome from the one readback after it.
//!
//! With a level trace ([`crate::gpu::GpuOptions::trace_levels`]) the pass
//! also writes a timestamp before each `advance` and after the last, and the
//! readback carries the level log (each level's items and scan work, which
//! `advance` writes after the control block) and the resolved timestamps:
//! [`HeapMirror::level_trace`].
//!
//! Scan kernels: `scan_subgroup.wgsl` when the device has
//! [`wgpu::Features::SUBGROUP`], else `scan_workgroup.wgsl`; chosen once per
//! mirror when its pipelines are built.

use super::device::GpuContext;
use super::layout::{
    CTL_ADVANCES, CTL_BATCH_FIRST, CTL_BATCH_LAST, CTL_BUDGET_LO, CTL_BUFFER_WORDS, CTL_BYTES_LO,
    CTL_DUPS, CTL_DUP_BYTES_LO, CTL_INBOX_LEN, CTL_ITEMS_LO, CTL_LEVELS_LEFT, CTL_LEVELS_RUN,
    CTL_LEVEL_START_LO, CTL_LOG, CTL_MARKED, CTL_OVERFLOW, CTL_QUEUE_LEN, CTL_SCAN_LO, CTL_WORDS,
    LOG_WORDS_PER_LEVEL, OBJ_CHUNKS, QUEUE_CHUNKS, SLOT_CHUNKS, TRACE_LEVELS,
};
use super::mirror::{Chunked, HeapMirror, OPS_BYTES};
use super::ops::OpCounts;
use super::readback::PendingMap;
use super::{shaders, GpuError, MAX_BATCH_LEVELS, SCAN_WORK_PER_SLOT, WORKGROUP_SIZE};

/// Storage buffers bound by one scan dispatch: control block, bitmap, every
/// chunk of the object table, slots and queue, the ops totals and the level
/// state.
pub(crate) const SCAN_STORAGE_BINDINGS: u32 = (4 + OBJ_CHUNKS + SLOT_CHUNKS + QUEUE_CHUNKS) as u32;

/// Bytes of one advance's indirect-args slot.
pub(crate) const ADVANCE_SLOT_BYTES: u64 = 16;

/// Binding of the device inbox in `scan_inbox.wgsl`.
const INBOX_BINDING: u32 = 19;
/// Binding of the ops totals in the scan kernels and the inbox pass.
const OPS_BINDING: u32 = 20;
/// Binding of the level's queue state in the scan kernels and the inbox pass.
const LEVEL_BINDING: u32 = 21;

/// What one batch did, read back from the GPU after it finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchCounters {
    /// Scan work in Go's units: 8 bytes per slot scanned.
    pub scan_work: u64,
    /// Grey items (objects or oblets) scanned.
    pub objects_scanned: u64,
    /// Objects newly marked (mark bits won) by the GPU.
    pub objects_marked: u64,
    /// Sum of the sizes of the newly marked objects.
    pub bytes_marked: u64,
    /// Grey items left in the GPU queue after the batch.
    pub queue_len: u64,
    /// Objects the batch's inbox pass took from the device inbox.
    pub inbox: u64,
    /// Of those, the ones the GPU had marked already: the host's grey
    /// copies, dropped there.
    pub duplicates: u64,
    /// Sum of the duplicates' sizes: bytes the host and the GPU both
    /// counted.
    pub duplicate_bytes: u64,
    /// Levels that scanned at least one item.
    pub levels_run: u32,
    /// Scan work of the batch's last level (0 if no level ran): the batch
    /// stopped within this much of its budget (`scan_work - last_level_scan_work
    /// < budget` whenever the budget is what stopped it).
    pub last_level_scan_work: u64,
    /// Bytes the batch read back: the control block, plus the level log and
    /// timestamps when levels are traced, and the ops totals when counting.
    pub readback_bytes: u64,
    /// The batch's operations by category, when the context counts them
    /// ([`crate::gpu::GpuOptions::count_ops`]).
    pub ops: Option<OpCounts>,
}

/// One level of a traced batch ([`crate::gpu::GpuOptions::trace_levels`]):
/// how much it scanned and how long the GPU took, from the timestamp before
/// the dispatch that planned it to the one before the next level's (so the
/// planning dispatch and the barriers between them are included).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct LevelSample {
    /// Grey items (objects or oblets) the level scanned.
    pub items: u64,
    /// Scan work in Go's units: 8 bytes per slot scanned.
    pub scan_work: u64,
    /// GPU time of the level in seconds.
    pub gpu_s: f64,
}

/// The compute pipelines and their bind groups (fixed for a mirror's
/// lifetime: its buffers never change).
#[derive(Debug)]
pub(crate) struct Pipelines {
    scan: wgpu::ComputePipeline,
    scan_bind: wgpu::BindGroup,
    inbox: wgpu::ComputePipeline,
    inbox_bind: wgpu::BindGroup,
    advance: wgpu::ComputePipeline,
    /// `advance_bind[k]` binds `advance_args[1 - k]`: an advance dispatched
    /// from `advance_args[k]` enables the next one there.
    advance_bind: [wgpu::BindGroup; 2],
}

/// The mirror's buffers, as the pipelines bind them.
pub(crate) struct Bindings<'a> {
    pub(crate) params: &'a wgpu::Buffer,
    pub(crate) ctl: &'a wgpu::Buffer,
    pub(crate) args: &'a wgpu::Buffer,
    pub(crate) marks: &'a wgpu::Buffer,
    pub(crate) inbox: &'a wgpu::Buffer,
    pub(crate) level: &'a wgpu::Buffer,
    pub(crate) advance_args: &'a [wgpu::Buffer; 2],
    pub(crate) ops: &'a wgpu::Buffer,
    pub(crate) objects: &'a Chunked,
    pub(crate) slots: &'a Chunked,
    pub(crate) queue: &'a Chunked,
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A layout of `entries` and a bind group binding `buffers` to them (each
/// entry's binding number to the buffer beside it).
fn bind(
    device: &wgpu::Device,
    label: &str,
    entries: &[(wgpu::BindGroupLayoutEntry, &wgpu::Buffer)],
) -> (wgpu::BindGroupLayout, wgpu::BindGroup) {
    let layout_entries: Vec<wgpu::BindGroupLayoutEntry> = entries.iter().map(|(e, _)| *e).collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &layout_entries,
    });
    let group_entries: Vec<wgpu::BindGroupEntry> = entries
        .iter()
        .map(|(e, b)| wgpu::BindGroupEntry {
            binding: e.binding,
            resource: b.as_entire_binding(),
        })
        .collect();
    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &layout,
        entries: &group_entries,
    });
    (layout, group)
}

/// A compute pipeline of `source`'s `main`, with its override constants.
/// Workgroup memory is not zero-initialised: the kernels zero what they
/// rely on themselves (`load_level_state`), and on some drivers the
/// initialisation is a pass over the memory per workgroup.
fn pipeline(
    device: &wgpu::Device,
    label: &str,
    source: &str,
    layout: &wgpu::BindGroupLayout,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    })
}

impl Pipelines {
    pub(crate) fn new(ctx: &GpuContext, b: &Bindings<'_>) -> Self {
        let device = &ctx.device;
        let constants: &[(&str, f64)] = if ctx.count_ops {
            &[("COUNT_OPS", 1.0)]
        } else {
            &[]
        };

        // Scan: params, ctl, marks, objects0..3, slots0..7, queue0..3, ops,
        // level (binding numbers as in the shader headers).
        let mut scan_entries = vec![
            (uniform_entry(0), b.params),
            (storage_entry(1, false), b.ctl),
            (storage_entry(2, false), b.marks),
        ];
        let mut next = 3;
        for (chunked, read_only) in [(b.objects, true), (b.slots, true), (b.queue, false)] {
            for buf in &chunked.buffers {
                scan_entries.push((storage_entry(next, read_only), buf));
                next += 1;
            }
        }
        scan_entries.push((storage_entry(OPS_BINDING, false), b.ops));
        scan_entries.push((storage_entry(LEVEL_BINDING, true), b.level));
        let (scan_layout, scan_bind) = bind(device, "scan", &scan_entries);
        let scan_src = if ctx.subgroups {
            shaders::SCAN_SUBGROUP
        } else {
            shaders::SCAN_WORKGROUP
        };
        let scan = pipeline(device, ctx.scan_kernel(), scan_src, &scan_layout, constants);

        // Inbox: the scan's bindings less the slots, plus the inbox.
        let slot_bindings = 3 + OBJ_CHUNKS as u32..3 + (OBJ_CHUNKS + SLOT_CHUNKS) as u32;
        let mut inbox_entries: Vec<_> = scan_entries
            .iter()
            .filter(|(e, _)| !slot_bindings.contains(&e.binding))
            .copied()
            .collect();
        inbox_entries.push((storage_entry(INBOX_BINDING, true), b.inbox));
        let (inbox_layout, inbox_bind) = bind(device, "inbox", &inbox_entries);
        let inbox = pipeline(
            device,
            "scan_inbox",
            shaders::SCAN_INBOX,
            &inbox_layout,
            constants,
        );

        // Advance: params, ctl, args, level, the next advance's args.
        let advance_group = |k: usize| {
            bind(
                device,
                "level_advance",
                &[
                    (uniform_entry(0), b.params),
                    (storage_entry(1, false), b.ctl),
                    (storage_entry(2, false), b.args),
                    (storage_entry(3, false), b.level),
                    (storage_entry(4, false), &b.advance_args[1 - k]),
                ],
            )
        };
        let (advance_layout, bind0) = advance_group(0);
        let (_, bind1) = advance_group(1);
        let advance = pipeline(
            device,
            "level_advance",
            shaders::LEVEL_ADVANCE,
            &advance_layout,
            &[],
        );

        Pipelines {
            scan,
            scan_bind,
            inbox,
            inbox_bind,
            advance,
            advance_bind: [bind0, bind1],
        }
    }
}

/// The 64-bit value at `words[lo]` (low word) and `words[lo + 1]`.
fn u64_at(ctl: &[u32], lo: u32) -> u64 {
    u64::from(ctl[lo as usize]) | (u64::from(ctl[lo as usize + 1]) << 32)
}

impl HeapMirror {
    /// Marks on the GPU: up to `max_levels` breadth-first levels from the
    /// queued greys, in one submission, stopping early once the batch's scan
    /// work reaches `budget_scan_work` (Go units: 8 per slot; the batch stays
    /// within one level's worth of it) or the queue empties. Returns what the
    /// batch did; [`BatchCounters::queue_len`] > 0 means grey work remains.
    /// A budget of 0 runs nothing; `u64::MAX` means no budget.
    ///
    /// The same as [`HeapMirror::submit_batch`] followed by
    /// [`HeapMirror::finish_batch`].
    ///
    /// # Errors
    /// [`GpuError::DeviceLost`] (everything on the GPU since the last
    /// download is lost), [`GpuError::QueueOverflow`],
    /// [`GpuError::OutOfMemory`], [`GpuError::Map`], [`GpuError::Internal`],
    /// [`GpuError::BatchInFlight`].
    pub fn run_batch(
        &mut self,
        budget_scan_work: u64,
        max_levels: u32,
    ) -> Result<BatchCounters, GpuError> {
        self.submit_batch(budget_scan_work, max_levels)?;
        self.finish_batch()?
            .ok_or_else(|| GpuError::Internal("submitted batch vanished".into()))
    }

    /// Encodes and submits a batch (see [`HeapMirror::run_batch`]) and returns
    /// at once, so the host can do its own marking while the GPU works.
    /// Uploads, [`HeapMirror::set_watermark`] and [`HeapMirror::download_marks`]
    /// stay allowed meanwhile (they are ordered after the batch by the queue);
    /// pushing or taking greys is not until [`HeapMirror::finish_batch`].
    ///
    /// # Errors
    /// [`GpuError::BatchInFlight`] if a batch is already in flight;
    /// [`GpuError::OutOfRange`] for `max_levels` above [`MAX_BATCH_LEVELS`];
    /// [`GpuError::DeviceLost`], [`GpuError::OutOfMemory`], [`GpuError::Internal`].
    pub fn submit_batch(&mut self, budget_scan_work: u64, max_levels: u32) -> Result<(), GpuError> {
        if self.in_flight.is_some() {
            return Err(GpuError::BatchInFlight);
        }
        if max_levels > MAX_BATCH_LEVELS {
            return Err(GpuError::OutOfRange {
                what: format!("{max_levels} levels in one batch (at most {MAX_BATCH_LEVELS})"),
            });
        }
        if self.inject_lost {
            self.inject_lost = false;
            self.ctx.device.destroy();
        }
        self.ctx.check_health()?;
        // The batch writes marks: a staged copy is out of date.
        self.staged_words = 0;
        let staged_words = match self.stage_marks {
            true => self.live_mark_words(),
            false => 0,
        };
        if staged_words > 0 {
            self.ensure_marks_staging(u64::from(staged_words) * 4)?;
        }

        // Reset the batch words of the control block: overflow, levels left,
        // budget (in slots), the inbox's length, then the zeroed counters.
        let budget_slots = budget_scan_work.div_ceil(SCAN_WORK_PER_SLOT);
        let mut batch = [0u32; (CTL_BATCH_LAST - CTL_BATCH_FIRST + 1) as usize];
        let at = |word: u32| (word - CTL_BATCH_FIRST) as usize;
        batch[at(CTL_OVERFLOW)] = 0;
        batch[at(CTL_LEVELS_LEFT)] = max_levels;
        batch[at(CTL_BUDGET_LO)] = budget_slots as u32;
        batch[at(CTL_BUDGET_LO) + 1] = (budget_slots >> 32) as u32;
        batch[at(CTL_INBOX_LEN)] = self.inbox_len;
        let queue = &self.ctx.queue;
        queue.write_buffer(
            &self.ctl,
            u64::from(CTL_BATCH_FIRST) * 4,
            bytemuck::cast_slice(&batch),
        );
        let counting = self.ctx.count_ops;
        if counting {
            queue.write_buffer(&self.ops, 0, &[0u8; OPS_BYTES as usize]);
        }

        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("mark batch"),
            });
        // Advance k runs from slot k / 2 of advance_args[k % 2]: all clear
        // but the first's; each advance that plans a level enables the next
        // (level_advance.wgsl). Cleared in the batch's own command buffer,
        // after the last batch's dispatches wrote them.
        let slot_bytes = (u64::from(max_levels).div_ceil(2) + 1) * ADVANCE_SLOT_BYTES;
        for b in &self.advance_args {
            encoder.clear_buffer(b, 0, Some(slot_bytes));
        }
        encoder.copy_buffer_to_buffer(
            &self.advance_first,
            0,
            &self.advance_args[0],
            0,
            ADVANCE_SLOT_BYTES,
        );
        {
            let p = &self.pipelines;
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("mark levels"),
                timestamp_writes: None,
            });
            let trace = self.trace.as_ref();
            if self.inbox_len > 0 {
                pass.set_pipeline(&p.inbox);
                pass.set_bind_group(0, &p.inbox_bind, &[]);
                pass.dispatch_workgroups(self.inbox_len.div_ceil(WORKGROUP_SIZE), 1, 1);
            }
            // Advance k is dispatched from slot k / 2 of advance_args[k % 2]:
            // once a batch plans nothing, the rest are empty.
            let advance = |pass: &mut wgpu::ComputePass<'_>, k: u32| {
                let parity = (k % 2) as usize;
                pass.set_pipeline(&p.advance);
                pass.set_bind_group(0, &p.advance_bind[parity], &[]);
                pass.dispatch_workgroups_indirect(
                    &self.advance_args[parity],
                    u64::from(k / 2) * ADVANCE_SLOT_BYTES,
                );
            };
            for level in 0..max_levels {
                // Timestamp k starts level k; the one starting level
                // TRACE_LEVELS (if the batch has it) ends the last traced one.
                if let Some(t) = trace.filter(|_| level <= TRACE_LEVELS) {
                    pass.write_timestamp(&t.queries, level);
                }
                advance(&mut pass, level);
                pass.set_pipeline(&p.scan);
                pass.set_bind_group(0, &p.scan_bind, &[]);
                pass.dispatch_workgroups_indirect(&self.args, 0);
            }
            // Final advance: consumes the last level and plans nothing
            // (levels left is 0), so the queue state is settled for the host.
            advance(&mut pass, max_levels);
            if let Some(t) = trace.filter(|_| max_levels <= TRACE_LEVELS) {
                pass.write_timestamp(&t.queries, max_levels);
            }
        }
        // The control block, or with a trace the whole control buffer (block,
        // stripes and level log) followed by the timestamps; then, counting,
        // the ops totals.
        let ctl_bytes = match self.trace {
            None => u64::from(CTL_WORDS) * 4,
            Some(_) => u64::from(CTL_BUFFER_WORDS) * 4,
        };
        encoder.copy_buffer_to_buffer(&self.ctl, 0, &self.ctl_staging, 0, ctl_bytes);
        let mut readback_bytes = ctl_bytes;
        if let Some(t) = &self.trace {
            let n = max_levels.min(TRACE_LEVELS) + 1;
            let ts_bytes = u64::from(n) * u64::from(wgpu::QUERY_SIZE);
            encoder.resolve_query_set(&t.queries, 0..n, &t.resolved, 0);
            encoder.copy_buffer_to_buffer(&t.resolved, 0, &self.ctl_staging, ctl_bytes, ts_bytes);
            readback_bytes += ts_bytes;
        }
        let ops_at = readback_bytes;
        if counting {
            encoder.copy_buffer_to_buffer(&self.ops, 0, &self.ctl_staging, ops_at, OPS_BYTES);
            readback_bytes += OPS_BYTES;
        }
        if let Some(staging) = self.marks_staging.as_ref().filter(|_| staged_words > 0) {
            let bytes = u64::from(staged_words) * 4;
            encoder.copy_buffer_to_buffer(&self.marks, 0, staging, 0, bytes);
        }
        self.ctx.scoped("mark batch", || {
            self.ctx.queue.submit([encoder.finish()]);
        })?;
        // Downloads map after every submission so far: this batch's copy
        // is what they see until marks are written again.
        self.staged_words = staged_words;
        self.in_flight = Some(PendingMap::start(&self.ctl_staging, readback_bytes));
        self.inbox_len = 0;
        Ok(())
    }

    /// Waits for the batch in flight and returns its counters; `None` if no
    /// batch is in flight.
    ///
    /// # Errors
    /// As [`HeapMirror::run_batch`].
    pub fn finish_batch(&mut self) -> Result<Option<BatchCounters>, GpuError> {
        let Some(pending) = self.in_flight.take() else {
            return Ok(None);
        };
        let bytes = pending.wait(&self.ctx, &self.ctl_staging)?;
        let ctl: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        self.absorb_ctl(&ctl);
        if self.trace.is_some() {
            self.last_trace = self.parse_trace(&ctl);
        }
        if ctl[CTL_OVERFLOW as usize] != 0 {
            return Err(GpuError::QueueOverflow {
                capacity: u64::from(self.params.queue_cap),
            });
        }
        let levels_run = ctl[CTL_LEVELS_RUN as usize];
        let ops = self.ctx.count_ops.then(|| {
            let ops_at = bytes.len() - OPS_BYTES as usize;
            let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[ops_at..]);
            // Every advance but the one that ends the batch planned a level;
            // one that planned none and was not the last is an empty level.
            let advances = ctl[CTL_ADVANCES as usize];
            OpCounts::from_words(&words, levels_run, advances.saturating_sub(1))
        });
        Ok(Some(BatchCounters {
            scan_work: u64_at(&ctl, CTL_SCAN_LO) * SCAN_WORK_PER_SLOT,
            objects_scanned: u64_at(&ctl, CTL_ITEMS_LO),
            objects_marked: u64::from(ctl[CTL_MARKED as usize]),
            bytes_marked: u64_at(&ctl, CTL_BYTES_LO),
            queue_len: u64::from(ctl[CTL_QUEUE_LEN as usize]),
            inbox: u64::from(ctl[CTL_INBOX_LEN as usize]),
            duplicates: u64::from(ctl[CTL_DUPS as usize]),
            duplicate_bytes: u64_at(&ctl, CTL_DUP_BYTES_LO),
            levels_run,
            last_level_scan_work: u64_at(&ctl, CTL_SCAN_LO)
                .saturating_sub(u64_at(&ctl, CTL_LEVEL_START_LO))
                * SCAN_WORK_PER_SLOT,
            readback_bytes: bytes.len() as u64,
            ops,
        }))
    }

    /// The level trace of the last finished batch: one sample per level it
    /// ran, up to 4095 of them (one timestamp query short of wgpu's limit of
    /// 4096 per set); empty when the context does not
    /// trace levels ([`crate::gpu::GpuContext::traces_levels`]).
    pub fn level_trace(&self) -> &[LevelSample] {
        &self.last_trace
    }

    /// Reads a traced batch's readback: the level log in the control buffer
    /// and the timestamps after it.
    fn parse_trace(&self, words: &[u32]) -> Vec<LevelSample> {
        let run = words[CTL_LEVELS_RUN as usize].min(TRACE_LEVELS);
        let ts_at = CTL_BUFFER_WORDS as usize;
        let ns_per_tick = f64::from(self.ctx.queue.get_timestamp_period());
        let tick = |k: u32| u64_at(words, ts_at as u32 + 2 * k);
        (0..run)
            .map(|k| {
                let at = CTL_LOG + LOG_WORDS_PER_LEVEL * k;
                LevelSample {
                    items: u64::from(words[at as usize]),
                    scan_work: u64_at(words, at + 1) * SCAN_WORK_PER_SLOT,
                    gpu_s: tick(k + 1).saturating_sub(tick(k)) as f64 * ns_per_tick * 1e-9,
                }
            })
            .collect()
    }
}
