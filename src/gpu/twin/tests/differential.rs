//! The twin against the shader: both run on the same random control
//! blocks, and every word they leave must agree.

use super::*;

/// The test adapter's context, or `None` after printing a skip line
/// when there is no adapter; with `CI=true` a missing adapter fails the
/// test (as `tests/common`'s `or_skip`: CI must run the GPU path).
fn context() -> Option<GpuContext> {
    match GpuContext::new(&GpuOptions::default()) {
        Ok(ctx) => Some(ctx),
        Err(e @ GpuError::NoAdapter { .. }) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true and no GPU adapter: {e}");
            // Straight to stderr, past libtest's capture, so the skip shows.
            let _ = writeln!(std::io::stderr(), "skipped: no GPU adapter ({e})");
            None
        }
        Err(e) => panic!("opening the GPU failed: {e}"),
    }
}

/// One control block and the `Params` fields `level_advance` reads.
#[derive(Clone, Debug)]
struct Case {
    ctl: Vec<u32>,
    queue_cap: u32,
    level_cap: u32,
}

/// splitmix64: a seeded generator, so a failing case can be rerun.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    /// Uniform in `0..=n`.
    fn upto(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * (u64::from(n) + 1)) >> 32) as u32
    }
    /// One of `xs`.
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.upto(xs.len() as u32 - 1) as usize]
    }
    /// True with probability 1/n.
    fn one_in(&mut self, n: u32) -> bool {
        self.upto(n - 1) == 0
    }
    /// Uniform in `0..=n`, with `0` and `n` each one time in eight.
    fn upto_edges(&mut self, n: u32) -> u32 {
        match self.upto(7) {
            0 => 0,
            1 => n,
            _ => self.upto(n),
        }
    }
}

/// A random control block. Seven in eight are states a host and the
/// scan kernels can reach (a ring that may wrap, a level within the
/// queue, pushes within the free space, scan work near the budget with
/// carries in the low words, trace positions at both ends of the log);
/// the rest are arbitrary words, on which the twin must agree with the
/// shader just the same.
fn random_case(rng: &mut Rng) -> Case {
    let mut ctl: Vec<u32> = (0..CTL_BUFFER_WORDS).map(|_| rng.u32()).collect();
    let any = rng.u32() | 1;
    let level_cap = rng.pick(&[1, 255, 256, 257, 65_535 * 256, u32::MAX, any]);
    if rng.one_in(8) {
        let queue_cap = rng.u32().max(1);
        return Case {
            ctl,
            queue_cap,
            level_cap,
        };
    }
    let cap = match rng.upto(3) {
        0 => rng.pick(&[1, 2, 3, 256, 257]),
        1 => 1 + rng.upto(4096),
        2 => 1 + rng.upto(1 << 24),
        _ => match rng.one_in(2) {
            true => u32::MAX,
            false => u32::MAX - rng.upto(1 << 16),
        },
    };
    let qlen = rng.upto_edges(cap);
    let cur = match rng.one_in(4) {
        true => 0,
        false => rng.upto_edges(qlen),
    };
    let pushed = match rng.one_in(4) {
        true => 0,
        false => rng.upto_edges(cap - qlen),
    };
    let head = rng.upto(cap - 1);
    ctl[w(CTL_HEAD)] = head;
    ctl[w(CTL_QUEUE_LEN)] = qlen;
    ctl[w(CTL_CUR_LEN)] = cur;
    ctl[w(CTL_TAIL)] = ((u64::from(head) + u64::from(qlen)) % u64::from(cap)) as u32;
    ctl[w(CTL_FREE)] = cap - qlen;
    ctl[w(CTL_PUSHED)] = pushed;
    ctl[w(CTL_OVERFLOW)] = match rng.one_in(8) {
        true => rng.u32() | 1,
        false => 0,
    };
    ctl[w(CTL_LEVELS_LEFT)] = match rng.upto(3) {
        0 => 0,
        1 => 1,
        2 => rng.upto(64),
        _ => rng.u32(),
    };
    // The budget: small, across 2^32, or large; the scan work below
    // it by little or much, at it, or past it.
    let budget: u64 = match rng.upto(3) {
        0 => u64::from(rng.upto(1 << 20)),
        1 => (1 << 32) + u64::from(rng.u32()) - (1 << 31),
        2 => rng.next_u64() >> rng.upto(40),
        _ => u64::MAX - u64::from(rng.upto(1000)),
    };
    let d = match rng.upto(4) {
        0 => u64::from(rng.upto(16)),
        1 => u64::from(rng.u32()),
        2 => rng.next_u64() >> 20,
        // Equal low words, or nearly: only the high words differ.
        3 => (u64::from(1 + rng.upto(3)) << 32) + u64::from(rng.upto(2)),
        _ => rng.next_u64(),
    };
    let scan = match rng.upto(2) {
        0 => budget.wrapping_sub(d),
        1 => budget,
        _ => budget.wrapping_add(d),
    };
    set64(&mut ctl, CTL_BUDGET_LO, budget);
    set64(&mut ctl, CTL_SCAN_LO, scan);
    if rng.one_in(2) {
        set64(
            &mut ctl,
            CTL_ITEMS_LO,
            u64::from(u32::MAX - rng.upto(1 << 12)) + (u64::from(rng.upto(3)) << 32),
        );
    }
    let within = rng.upto(TRACE_LEVELS);
    ctl[w(CTL_LEVELS_RUN)] = rng.pick(&[
        0,
        1,
        2,
        within,
        TRACE_LEVELS - 1,
        TRACE_LEVELS,
        TRACE_LEVELS + 1,
        u32::MAX,
    ]);
    let level = match rng.upto(2) {
        0 => u64::from(rng.upto(1 << 12)),
        1 => rng.next_u64() >> 16,
        _ => rng.next_u64(),
    };
    set64(&mut ctl, CTL_LEVEL_START_LO, scan.wrapping_sub(level));
    // Advances so far: the next one's slot lies in the bound ones, or past.
    ctl[w(CTL_ADVANCES)] = match rng.one_in(8) {
        true => rng.u32(),
        false => rng.upto(8),
    };
    Case {
        ctl,
        queue_cap: cap,
        level_cap,
    }
}

/// Control blocks at the edges the random ones reach only by luck, run
/// before them: saturated budget and queue, equal low budget words,
/// scan work at the budget, a head and a tail landing exactly on the
/// capacity, the last level of the log with a borrow, levels outside
/// the log, a carry into the items' high word.
fn corner_cases() -> Vec<Case> {
    let case = |ctl: Vec<u32>, queue_cap, level_cap| Case {
        ctl,
        queue_cap,
        level_cap,
    };
    let mut log_end = batch(1000, 0, 20, 7, 0, 4, TRACE_LEVELS, (1 << 32) + 3, 1 << 40);
    set64(&mut log_end, CTL_LEVEL_START_LO, (1 << 32) - 2);
    let mut items = batch(1 << 20, 0, 1000, 3, 0, 4, 1, 0, 1 << 40);
    set64(&mut items, CTL_ITEMS_LO, u64::from(u32::MAX) - 1);
    vec![
        case(
            batch(u32::MAX, 0, u32::MAX, 0, 0, 4, 1, 0, 1 << 40),
            u32::MAX,
            u32::MAX,
        ),
        case(
            batch(1 << 20, 0, 1000, 0, 0, 4, 1, 5, (1 << 32) + 5),
            1 << 20,
            1 << 20,
        ),
        case(batch(1000, 0, 50, 20, 5, 4, 2, 1000, 1000), 1000, 1 << 20),
        case(batch(100, 90, 20, 10, 0, 4, 1, 0, 1000), 100, 1 << 20),
        case(batch(100, 50, 50, 0, 0, 4, 1, 0, 1000), 100, 1 << 20),
        case(log_end, 1000, 1 << 20),
        case(
            batch(1000, 0, 20, 7, 0, 4, TRACE_LEVELS + 1, 9, 1 << 40),
            1000,
            256,
        ),
        case(batch(1000, 0, 20, 7, 0, 4, 0, 9, 1 << 40), 1000, 257),
        case(items, 1 << 20, 1 << 20),
    ]
}

/// A case's control buffer and its other outputs as the shader left them:
/// the scan's args, the level state, and the next advances' slots.
type Outcome = (Vec<u32>, ([u32; 3], [u32; 4], Vec<u32>));

/// Words of the next advances' slots each case binds (four slots).
const NEXT_WORDS: u32 = 16;

/// The word every output starts as: the shader must overwrite what it writes.
const PATTERN: u32 = 0xA5A5_A5A5;

/// `n` rounded up to a multiple of `align`.
fn align_up(n: u64, align: u64) -> u64 {
    n.div_ceil(align) * align
}

/// Runs `level_advance.wgsl` once on each case, all in one submission
/// (each case binds its own slices of one params, one ctl and one output
/// buffer), and returns each case's control buffer and outputs as the GPU
/// left them.
fn run_on_gpu(ctx: &GpuContext, cases: &[Case]) -> Result<Vec<Outcome>, GpuError> {
    use wgpu::BufferUsages as U;
    let device = &ctx.device;
    let storage_align = u64::from(ctx.limits.min_storage_buffer_offset_alignment);
    let uniform_align = u64::from(ctx.limits.min_uniform_buffer_offset_alignment);
    let ctl_bytes = u64::from(CTL_BUFFER_WORDS) * 4;
    let ctl_stride = align_up(ctl_bytes, storage_align);
    // Each case's outputs: args and level (a slot apiece), then the next
    // advances' slots.
    let out_slot = align_up(16, storage_align);
    let next_bytes = 4 * u64::from(NEXT_WORDS);
    let args_stride = 2 * out_slot + align_up(next_bytes, storage_align);
    let params_bytes = std::mem::size_of::<Params>() as u64;
    let params_stride = align_up(params_bytes, uniform_align);
    let n = cases.len() as u64;

    // The inputs, each case at its stride.
    let mut ctl_init = vec![0u8; (ctl_stride * n) as usize];
    let mut params_init = vec![0u8; (params_stride * n) as usize];
    for (i, c) in cases.iter().enumerate() {
        let at = i * ctl_stride as usize;
        ctl_init[at..at + ctl_bytes as usize].copy_from_slice(bytemuck::cast_slice(&c.ctl));
        let params = Params {
            watermark: 0,
            queue_cap: c.queue_cap,
            obj_shift: 0,
            slot_shift: 0,
            queue_shift: 0,
            level_cap: c.level_cap,
            _pad0: 0,
            _pad1: 0,
        };
        let at = i * params_stride as usize;
        params_init[at..at + params_bytes as usize].copy_from_slice(bytemuck::bytes_of(&params));
    }
    // The outputs start as a pattern the shader must overwrite.
    let args_init = vec![0xA5u8; (args_stride * n) as usize];

    let out = ctx.scoped("level_advance differential run", || {
        let buffer = |label: &str, bytes: &[u8], usage: U| {
            let b = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.len() as u64,
                usage: usage | U::COPY_DST,
                mapped_at_creation: false,
            });
            ctx.queue.write_buffer(&b, 0, bytes);
            b
        };
        let params = buffer("twin params", &params_init, U::UNIFORM);
        let ctl = buffer("twin ctl", &ctl_init, U::STORAGE | U::COPY_SRC);
        let args = buffer("twin args", &args_init, U::STORAGE | U::COPY_SRC);
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("twin staging"),
            size: ctl.size() + args.size(),
            usage: U::MAP_READ | U::COPY_DST,
            mapped_at_creation: false,
        });

        // The bindings of the shader's header: uniform params, storage
        // ctl, storage args.
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let storage = wgpu::BufferBindingType::Storage { read_only: false };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("twin level_advance"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, storage),
                entry(2, storage),
                entry(3, storage),
                entry(4, storage),
            ],
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("level_advance"),
            source: wgpu::ShaderSource::Wgsl(shaders::LEVEL_ADVANCE.into()),
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("twin level_advance"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("twin level_advance"),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });

        // A slice of `buffer` as a binding.
        fn slice(buffer: &wgpu::Buffer, offset: u64, size: u64) -> wgpu::BindingResource<'_> {
            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer,
                offset,
                size: wgpu::BufferSize::new(size),
            })
        }
        let binds: Vec<wgpu::BindGroup> = (0..n)
            .map(|i| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("twin level_advance"),
                    layout: &layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: slice(&params, i * params_stride, params_bytes),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: slice(&ctl, i * ctl_stride, ctl_bytes),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: slice(&args, i * args_stride, 12),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: slice(&args, i * args_stride + out_slot, 16),
                        },
                        wgpu::BindGroupEntry {
                            binding: 4,
                            resource: slice(&args, i * args_stride + 2 * out_slot, next_bytes),
                        },
                    ],
                })
            })
            .collect();

        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("twin level_advance"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            for b in &binds {
                pass.set_bind_group(0, b, &[]);
                pass.dispatch_workgroups(1, 1, 1);
            }
        }
        encoder.copy_buffer_to_buffer(&ctl, 0, &staging, 0, ctl.size());
        encoder.copy_buffer_to_buffer(&args, 0, &staging, ctl.size(), args.size());
        ctx.queue.submit([encoder.finish()]);
        (staging, ctl.size())
    })?;
    let (staging, args_at) = out;

    let mapped = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = std::sync::Arc::clone(&mapped);
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Map(format!("poll: {e}")))?;
    ctx.check_health()?;
    match mapped.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(GpuError::Map(e.to_string())),
        None => return Err(GpuError::Map("map callback did not run".into())),
    }
    let results = {
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| GpuError::Map(e.to_string()))?;
        // Mapped memory need not be 4-byte aligned for bytemuck.
        let words: Vec<u32> = view
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (0..n as usize)
            .map(|i| {
                let at = i * ctl_stride as usize / 4;
                let ctl = words[at..at + w(CTL_BUFFER_WORDS)].to_vec();
                let at = (args_at as usize + i * args_stride as usize) / 4;
                let slot = out_slot as usize / 4;
                let v = |k: usize| words[at + k];
                let out = (
                    [v(0), v(1), v(2)],
                    [v(slot), v(slot + 1), v(slot + 2), v(slot + 3)],
                    (0..NEXT_WORDS as usize).map(|k| v(2 * slot + k)).collect(),
                );
                (ctl, out)
            })
            .collect()
    };
    staging.unmap();
    Ok(results)
}

/// The layout's name of control word `i`, for failure messages.
fn word_name(i: usize) -> String {
    let names = [
        (CTL_HEAD, "HEAD"),
        (CTL_QUEUE_LEN, "QUEUE_LEN"),
        (CTL_CUR_LEN, "CUR_LEN"),
        (CTL_TAIL, "TAIL"),
        (CTL_FREE, "FREE"),
        (CTL_PUSHED, "PUSHED"),
        (CTL_OVERFLOW, "OVERFLOW"),
        (CTL_LEVELS_LEFT, "LEVELS_LEFT"),
        (CTL_BUDGET_LO, "BUDGET_LO"),
        (CTL_BUDGET_LO + 1, "BUDGET_HI"),
        (CTL_SCAN_LO, "SCAN_LO"),
        (CTL_SCAN_LO + 1, "SCAN_HI"),
        (CTL_ITEMS_LO, "ITEMS_LO"),
        (CTL_ITEMS_LO + 1, "ITEMS_HI"),
        (CTL_MARKED, "MARKED"),
        (CTL_BYTES_LO, "BYTES_LO"),
        (CTL_BYTES_LO + 1, "BYTES_HI"),
        (CTL_LEVELS_RUN, "LEVELS_RUN"),
        (CTL_LEVEL_START_LO, "LEVEL_START_LO"),
        (CTL_LEVEL_START_LO + 1, "LEVEL_START_HI"),
    ];
    match names.iter().find(|&&(at, _)| w(at) == i) {
        Some((_, name)) => format!("ctl[{i}] ({name})"),
        None if i >= w(CTL_LOG) => {
            let k = (i - w(CTL_LOG)) / w(LOG_WORDS_PER_LEVEL);
            let j = (i - w(CTL_LOG)) % w(LOG_WORDS_PER_LEVEL);
            format!("ctl[{i}] (log of level {k}, word {j})")
        }
        None => format!("ctl[{i}]"),
    }
}

#[test]
fn the_shader_and_the_twin_agree_on_random_control_blocks() {
    let Some(ctx) = context() else { return };
    let mut rng = Rng(0x1E7E_1ADB);
    // 8 submissions of 250 cases: the corner cases, then random ones.
    let mut corners = corner_cases();
    for round in 0..8 {
        let mut cases = std::mem::take(&mut corners);
        while cases.len() < 250 {
            cases.push(random_case(&mut rng));
        }
        let gpu = run_on_gpu(&ctx, &cases).expect("the shader runs");
        for (i, (case, (gpu_ctl, gpu_args))) in cases.iter().zip(&gpu).enumerate() {
            let mut cpu_ctl = case.ctl.clone();
            let cpu_args = level_advance(&mut cpu_ctl, case.queue_cap, case.level_cap);
            let input = || {
                format!(
                    "round {round}, case {i}: queue_cap {}, level_cap {}, ctl[..{CTL_WORDS}] \
                     before {:?}",
                    case.queue_cap,
                    case.level_cap,
                    &case.ctl[..w(CTL_WORDS)]
                )
            };
            if let Some(at) = (0..cpu_ctl.len()).find(|&k| cpu_ctl[k] != gpu_ctl[k]) {
                panic!(
                    "{}: shader {} twin {}; {}",
                    word_name(at),
                    gpu_ctl[at],
                    cpu_ctl[at],
                    input()
                );
            }
            let (args, level, next) = gpu_args;
            assert_eq!(
                (*args, *level),
                (cpu_args.args, cpu_args.level),
                "outputs; {}",
                input()
            );
            let mut want = vec![PATTERN; NEXT_WORDS as usize];
            if let Some(at) = cpu_args.next_advance.filter(|&at| at + 3 <= NEXT_WORDS) {
                want[at as usize..at as usize + 3].copy_from_slice(&[1, 1, 1]);
            }
            assert_eq!(*next, want, "next advance's slot; {}", input());
        }
    }
}
