//! Device selection: which adapter marks, and with which limits and features.
//!
//! The mark engine runs on whatever adapter wgpu can find, but tests and
//! benchmarks must be able to pin one (Mesa lavapipe in CI, a particular GPU
//! on a workstation). Selection follows wgpu's own conventions so a user who
//! knows wgpu knows how to steer it:
//!
//! * `WGPU_BACKEND` (`vulkan`, `metal`, `dx12`, `gl`, comma separated) picks
//!   the backends, through [`wgpu::Backends::from_env`]; [`GpuOptions::backend`]
//!   wins over the variable.
//! * `WGPU_ADAPTER_NAME` picks the first adapter whose name contains the
//!   given text, case-insensitively (the same rule as
//!   `wgpu::util::initialize_adapter_from_env`, which we do not call because it
//!   panics when nothing matches); [`GpuOptions::adapter_name`] wins over it.
//! * Without a name, wgpu's default adapter request (`WGPU_POWER_PREF`
//!   honoured) decides.
//!
//! The device is requested with the adapter's *real* limits
//! (`adapter.limits()`), not wgpu's conservative defaults: a heap mirror wants
//! the largest storage bindings the driver allows (lavapipe: 128 MiB per
//! binding). [`wgpu::Features::SUBGROUP`] is requested when the adapter has it,
//! and the scan kernel that aggregates queue appends per subgroup is then used.
//!
//! Errors the driver reports asynchronously are routed into the context
//! instead of wgpu's default handler (which panics): a lost device sets a flag
//! read by every later call, and uncaptured validation/out-of-memory errors are
//! kept and reported as [`GpuError`] by the next call that checks them.
//!
//! # Sharing the application's device
//!
//! An application that already has a device (a renderer, a compute pipeline
//! of its own) gives it to [`GpuContext::from_device`] instead, as wgpu's
//! examples separate finding a device (`execute_gpu`) from the work done on
//! it (`execute_gpu_inner(&device, &queue)`). What the kernels need is then
//! checked against the limits and features the device was *opened* with
//! (not the adapter's): the scan kernel binds [`STORAGE_BINDINGS_NEEDED`]
//! storage buffers, more than `wgpu::Limits::default()` allows, so such a
//! device must be requested with `required_limits: adapter.limits()` (or at
//! least that many storage buffers per stage), and a missing limit is a
//! [`GpuError::MissingLimit`] naming it. The application's error handlers
//! stay its own: `from_device` installs none (wgpu keeps one device-lost
//! callback and one uncaptured-error handler per device, and installing ours
//! would silently replace the application's). A device lost under a shared
//! context then shows as the failure of the next GPU call, and the scan
//! backend finishes on the CPU as after any GPU error; an application that
//! wants it reported as [`GpuError::DeviceLost`] calls
//! [`GpuContext::note_device_lost`] from its own callback, or lets gpumark
//! take both handlers with [`GpuContext::install_error_handlers`].

use std::sync::{Arc, Mutex};

use super::options::{AdapterDescription, BackendChoice, GpuOptions};
use super::GpuError;

/// Errors and loss reported by the driver outside any call, shared with the
/// callbacks wgpu invokes.
#[derive(Debug, Default)]
pub(crate) struct DeviceHealth {
    /// `Some(reason)` once the device is lost; never cleared.
    pub(crate) lost: Option<String>,
    /// Uncaptured errors since the last check, oldest first.
    pub(crate) errors: Vec<String>,
}

/// An opened device and queue with the limits and features the engine uses.
///
/// Cheap to clone (wgpu handles are reference counted); every
/// [`HeapMirror`](super::HeapMirror) keeps a clone.
#[derive(Clone, Debug)]
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) description: AdapterDescription,
    pub(crate) limits: wgpu::Limits,
    /// `min(adapter binding limit, max_buffer_size, options override)`.
    pub(crate) max_binding_bytes: u64,
    pub(crate) subgroups: bool,
    /// Level traces are on: [`GpuOptions::trace_levels`] and the adapter's
    /// timestamp features.
    pub(crate) trace_levels: bool,
    /// The kernels' counting variant ([`GpuOptions::count_ops`]).
    pub(crate) count_ops: bool,
    pub(crate) health: Arc<Mutex<DeviceHealth>>,
}

/// Storage buffers one scan dispatch binds; the device must allow this many
/// per shader stage (wgpu's default limit is 8).
pub const STORAGE_BINDINGS_NEEDED: u32 = super::batch::SCAN_STORAGE_BINDINGS;

/// Workgroup memory of the largest kernel in bytes (the scan kernels'
/// winner buffer and the load-balanced search's prefix sums; checked
/// against the shaders by a unit test in `shaders.rs`).
pub(crate) const WORKGROUP_STORAGE_BYTES_NEEDED: u32 = 7_236;

/// The device limits the kernels need, with the least value each must have:
/// what [`GpuContext::new`] and [`GpuContext::from_device`] check.
fn limits_needed(limits: &wgpu::Limits) -> [(&'static str, u32, u32); 8] {
    use super::WORKGROUP_SIZE;
    [
        (
            "max_storage_buffers_per_shader_stage",
            STORAGE_BINDINGS_NEEDED,
            limits.max_storage_buffers_per_shader_stage,
        ),
        // The scan binds its storage buffers and one uniform in one group,
        // numbered up to 21 (19, the inbox, is the inbox pass's).
        (
            "max_bindings_per_bind_group",
            STORAGE_BINDINGS_NEEDED + 2,
            limits.max_bindings_per_bind_group,
        ),
        ("max_bind_groups", 1, limits.max_bind_groups),
        (
            "max_uniform_buffers_per_shader_stage",
            1,
            limits.max_uniform_buffers_per_shader_stage,
        ),
        (
            "max_compute_workgroup_size_x",
            WORKGROUP_SIZE,
            limits.max_compute_workgroup_size_x,
        ),
        (
            "max_compute_invocations_per_workgroup",
            WORKGROUP_SIZE,
            limits.max_compute_invocations_per_workgroup,
        ),
        (
            "max_compute_workgroup_storage_size",
            WORKGROUP_STORAGE_BYTES_NEEDED,
            limits.max_compute_workgroup_storage_size,
        ),
        (
            "max_compute_workgroups_per_dimension",
            1,
            limits.max_compute_workgroups_per_dimension,
        ),
    ]
}

/// The first limit in `limits` below what the kernels need, as an error.
fn check_limits(limits: &wgpu::Limits) -> Result<(), GpuError> {
    match limits_needed(limits)
        .into_iter()
        .find(|&(_, need, have)| have < need)
    {
        Some((limit, need, have)) => Err(GpuError::MissingLimit {
            limit,
            need: need.into(),
            have: have.into(),
        }),
        None => Ok(()),
    }
}

/// The timestamp features a level trace needs.
const TRACE_FEATURES: wgpu::Features =
    wgpu::Features::TIMESTAMP_QUERY.union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);

/// What a shared device's `features` give the kernels `options` ask for:
/// `(subgroups, trace_levels)`. The subgroup kernel is an optimisation and
/// falls back to the portable one; a level trace asked for on a device
/// opened without the timestamp features is an error naming them.
fn shared_features(
    features: wgpu::Features,
    options: &GpuOptions,
) -> Result<(bool, bool), GpuError> {
    let subgroups = options.allow_subgroups && features.contains(wgpu::Features::SUBGROUP);
    if options.trace_levels && !features.contains(TRACE_FEATURES) {
        return Err(GpuError::MissingFeature {
            feature: TRACE_FEATURES.difference(features),
            needed_for: "a level trace (GpuOptions::trace_levels)",
        });
    }
    Ok((subgroups, options.trace_levels))
}

impl GpuContext {
    /// Finds an adapter according to `options` and the environment, and opens
    /// a device on it with the adapter's own limits.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] when no adapter matches (the message names the
    /// backends and name that were wanted), [`GpuError::MissingLimit`] when
    /// the adapter's limits are below what the kernels need (the storage
    /// buffers the scan kernel binds, on some GL drivers),
    /// [`GpuError::Unsupported`] when it cannot run compute shaders with
    /// indirect dispatch, and [`GpuError::RequestDevice`] when the driver
    /// refuses the device.
    pub fn new(options: &GpuOptions) -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async(options))
    }

    /// The async form of [`GpuContext::new`], for callers with an executor.
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub async fn new_async(options: &GpuOptions) -> Result<Self, GpuError> {
        let backends = match options.backend {
            Some(choice) => choice.backends(),
            None => wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
        };
        let wanted_name = options
            .adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|n| !n.trim().is_empty());

        // Instance flags and backend options still come from the environment
        // (validation, debug); the backend set is ours.
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        // wgpu checks every indirect dispatch with a dispatch of its own (and
        // a barrier), which doubles the fixed cost of a mark level. Ours
        // cannot be out of range: level_advance caps a level at `level_cap`
        // items, at most max_compute_workgroups_per_dimension workgroups
        // (mirror.rs), and no kernel reads @builtin(num_workgroups), which
        // D3D12 leaves 0 without the check. WGPU_VALIDATION_INDIRECT_CALL=1
        // turns it back on.
        if std::env::var_os("WGPU_VALIDATION_INDIRECT_CALL").is_none() {
            desc.flags
                .remove(wgpu::InstanceFlags::VALIDATION_INDIRECT_CALL);
        }
        let instance = wgpu::Instance::new(desc);

        let adapter = match &wanted_name {
            Some(name) => {
                let needle = name.to_lowercase();
                instance
                    .enumerate_adapters(backends)
                    .await
                    .into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&needle))
            }
            None => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
                    ..Default::default()
                })
                .await
                .ok(),
        };
        let Some(adapter) = adapter else {
            return Err(GpuError::NoAdapter {
                wanted: format!(
                    "backends {backends:?}, adapter name {}",
                    wanted_name.map_or("<any>".to_string(), |n| format!("containing {n:?}"))
                ),
            });
        };

        let description = AdapterDescription::of(&adapter.get_info());

        let limits = adapter.limits();
        check_limits(&limits)?;
        let downlevel =
            wgpu::DownlevelFlags::COMPUTE_SHADERS | wgpu::DownlevelFlags::INDIRECT_EXECUTION;
        let missing = downlevel.difference(adapter.get_downlevel_capabilities().flags);
        if !missing.is_empty() {
            return Err(GpuError::Unsupported {
                what: format!("adapter {} lacks {missing:?}", description.name),
            });
        }
        let subgroups =
            options.allow_subgroups && adapter.features().contains(wgpu::Features::SUBGROUP);
        // A level trace is for diagnosis: on an adapter without timestamps
        // the context just does not trace (see `traces_levels`).
        let trace_levels = options.trace_levels && adapter.features().contains(TRACE_FEATURES);
        let mut required_features = wgpu::Features::empty();
        if subgroups {
            required_features |= wgpu::Features::SUBGROUP;
        }
        if trace_levels {
            required_features |= TRACE_FEATURES;
        }

        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("gpumark"),
                required_features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;

        let ctx = GpuContext::assemble(
            device,
            queue,
            description,
            limits,
            options,
            subgroups,
            trace_levels,
        );
        // Our own device: route asynchronous failures into `health` instead
        // of wgpu's default handler, which panics on an uncaptured error.
        ctx.install_error_handlers();
        Ok(ctx)
    }

    /// A context on a device the application opened itself, sharing it with
    /// the application (the handles are cloned; wgpu's are reference
    /// counted). The adapter's description comes from
    /// `device.adapter_info()`; `options.backend` and `options.adapter_name`
    /// play no part (the device is chosen), the other options apply as in
    /// [`GpuContext::new`].
    ///
    /// The device is checked against what the kernels need, with the limits
    /// and features it was opened with: request it with
    /// `required_limits: adapter.limits()` (wgpu's defaults allow 8 storage
    /// buffers per stage; the scan kernel binds [`STORAGE_BINDINGS_NEEDED`]),
    /// and with [`wgpu::Features::SUBGROUP`] for the faster scan kernel
    /// where the adapter has it (without it the portable kernel runs). The
    /// storage binding and buffer sizes (`max_storage_buffer_binding_size`,
    /// `max_buffer_size`) bound how large a heap the device can mirror, not
    /// whether the kernels run: a heap too large for them is a
    /// [`GpuError::HeapTooLarge`] naming the array when its mirror is made
    /// (and [`GpuScan`](super::GpuScan) marks it on the CPU). No error
    /// handler is installed: see "Sharing the application's device" in the
    /// module documentation, [`GpuContext::install_error_handlers`] and
    /// [`GpuContext::note_device_lost`].
    ///
    /// # Errors
    /// [`GpuError::MissingLimit`] naming the first limit below what the
    /// kernels need, with both values; [`GpuError::MissingFeature`] when
    /// `options.trace_levels` is set and the device was opened without the
    /// timestamp features a level trace needs.
    ///
    /// # Examples
    ///
    /// `examples/shared_device.rs`: an application opens its own device,
    /// runs its own compute pass on it, and shares it with gpumark for a
    /// mark. Without an adapter it skips, unless `CI=true`.
    ///
    #[doc = concat!("```\n", include_str!("../../examples/shared_device.rs"), "\n```")]
    pub fn from_device(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        options: &GpuOptions,
    ) -> Result<Self, GpuError> {
        let limits = device.limits();
        check_limits(&limits)?;
        let (subgroups, trace_levels) = shared_features(device.features(), options)?;
        Ok(GpuContext::assemble(
            device.clone(),
            queue.clone(),
            AdapterDescription::of(&device.adapter_info()),
            limits,
            options,
            subgroups,
            trace_levels,
        ))
    }

    /// The context's fields from a checked device.
    fn assemble(
        device: wgpu::Device,
        queue: wgpu::Queue,
        description: AdapterDescription,
        limits: wgpu::Limits,
        options: &GpuOptions,
        subgroups: bool,
        trace_levels: bool,
    ) -> GpuContext {
        let mut max_binding_bytes = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        if let Some(cap) = options.max_binding_bytes {
            max_binding_bytes = max_binding_bytes.min(cap);
        }
        GpuContext {
            device,
            queue,
            description,
            limits,
            max_binding_bytes,
            subgroups,
            trace_levels,
            count_ops: options.count_ops,
            health: Arc::new(Mutex::new(DeviceHealth::default())),
        }
    }

    /// Makes gpumark the device's device-lost callback and uncaptured-error
    /// handler, so that a loss is reported as [`GpuError::DeviceLost`] and a
    /// driver error as a [`GpuError`] by the next call, instead of wgpu's
    /// default handler (which panics). [`GpuContext::new`] does this on the
    /// device it opens; on a shared device ([`GpuContext::from_device`]) it
    /// replaces the application's own callback and handler, since wgpu
    /// keeps one of each per device, and the application's errors are then
    /// reported to gpumark too.
    pub fn install_error_handlers(&self) {
        {
            let health = Arc::clone(&self.health);
            self.device
                .set_device_lost_callback(move |reason, message| {
                    if let Ok(mut h) = health.lock() {
                        h.lost.get_or_insert(format!("{reason:?}: {message}"));
                    }
                });
        }
        let health = Arc::clone(&self.health);
        self.device
            .on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
                if let Ok(mut h) = health.lock() {
                    h.errors.push(error.to_string());
                }
            }));
    }

    /// Tells the context its device was lost (an application forwarding
    /// from its own device-lost callback on a shared device): every later
    /// GPU call fails with [`GpuError::DeviceLost`] carrying `reason`, and
    /// the scan backend finishes on the CPU.
    pub fn note_device_lost(&self, reason: &str) {
        if let Ok(mut h) = self.health.lock() {
            h.lost.get_or_insert_with(|| reason.to_string());
        }
    }

    /// The adapters present for `backend` (every backend wgpu was built with
    /// when `None`) that can run the scan kernels, without opening any: what
    /// `--backend all` iterates. An adapter whose limits are below what the
    /// kernels need (some GL drivers allow fewer storage buffers per shader
    /// stage than the scan binds) is left out, as [`GpuContext::new`] would
    /// refuse it.
    pub fn adapters(backend: Option<BackendChoice>) -> Vec<AdapterDescription> {
        let backends = backend.map_or(wgpu::Backends::all(), BackendChoice::backends);
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        pollster::block_on(instance.enumerate_adapters(backends))
            .iter()
            .filter(|a| check_limits(&a.limits()).is_ok())
            .map(|a| AdapterDescription::of(&a.get_info()))
            .collect()
    }

    /// The adapter this context runs on.
    pub fn description(&self) -> &AdapterDescription {
        &self.description
    }

    /// Whether the subgroup scan kernel is in use (adapter has
    /// [`wgpu::Features::SUBGROUP`] and [`GpuOptions::allow_subgroups`] was set).
    pub fn uses_subgroups(&self) -> bool {
        self.subgroups
    }

    /// The scan kernel in use: `"scan_subgroup"` or `"scan_workgroup"` (see
    /// [`GpuContext::uses_subgroups`]).
    pub fn scan_kernel(&self) -> &'static str {
        if self.subgroups {
            "scan_subgroup"
        } else {
            "scan_workgroup"
        }
    }

    /// Whether batches record a level trace ([`GpuOptions::trace_levels`]
    /// was set and the adapter has the timestamp features it needs).
    pub fn traces_levels(&self) -> bool {
        self.trace_levels
    }

    /// Whether the kernels count their operations
    /// ([`GpuOptions::count_ops`]).
    pub fn counts_ops(&self) -> bool {
        self.count_ops
    }

    /// The largest storage binding the mirror will create, in bytes: the
    /// adapter's `max_storage_buffer_binding_size` and `max_buffer_size`, and
    /// the [`GpuOptions::max_binding_bytes`] override, whichever is least.
    pub fn max_binding_bytes(&self) -> u64 {
        self.max_binding_bytes
    }

    /// The limits the device was opened with (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The underlying wgpu device, for callers that share it.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue gpumark submits to, for callers that share it.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Returns the device-lost error if the device was lost, else the oldest
    /// uncaptured driver error (clearing the list), else `Ok`.
    pub(crate) fn check_health(&self) -> Result<(), GpuError> {
        let mut h = self
            .health
            .lock()
            .map_err(|_| GpuError::Internal("device health lock poisoned".into()))?;
        if let Some(reason) = &h.lost {
            return Err(GpuError::DeviceLost {
                reason: reason.clone(),
            });
        }
        if !h.errors.is_empty() {
            let all = std::mem::take(&mut h.errors).join("; ");
            if all.to_lowercase().contains("out of memory") {
                return Err(GpuError::OutOfMemory { what: all });
            }
            return Err(GpuError::Internal(all));
        }
        Ok(())
    }

    /// Runs `f` inside out-of-memory and validation error scopes and turns a
    /// captured error into a [`GpuError`] (device loss first, then out of
    /// memory, then validation), so resource creation never panics.
    pub(crate) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        self.check_health()?;
        if let Some(e) = oom {
            return Err(GpuError::OutOfMemory {
                what: format!("{what}: {e}"),
            });
        }
        if let Some(e) = validation {
            return Err(GpuError::Internal(format!("{what}: {e}")));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for b in BackendChoice::ALL {
            assert_eq!(b.name().parse::<BackendChoice>().unwrap(), b);
            assert_eq!(b.to_string(), b.name());
        }
        assert_eq!(
            " Vulkan".parse::<BackendChoice>().unwrap(),
            BackendChoice::Vulkan
        );
        assert!(matches!(
            "glide".parse::<BackendChoice>(),
            Err(GpuError::UnknownBackend { .. })
        ));
    }

    #[test]
    fn default_limits_lack_the_scan_kernels_storage_buffers() {
        // What a device requested with wgpu's defaults has.
        let e = check_limits(&wgpu::Limits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                GpuError::MissingLimit {
                    limit: "max_storage_buffers_per_shader_stage",
                    need,
                    have: 8,
                } if need == u64::from(STORAGE_BINDINGS_NEEDED)
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "the device's max_storage_buffers_per_shader_stage is 8, and gpumark's kernels \
                 need at least {STORAGE_BINDINGS_NEEDED}: open it with required_limits \
                 adapter.limits() (or at least that much)"
            )
        );
        let enough = wgpu::Limits {
            max_storage_buffers_per_shader_stage: STORAGE_BINDINGS_NEEDED,
            ..wgpu::Limits::default()
        };
        assert!(check_limits(&enough).is_ok());
    }

    #[test]
    fn every_limit_is_checked_and_named() {
        let enough = wgpu::Limits {
            max_storage_buffers_per_shader_stage: STORAGE_BINDINGS_NEEDED,
            ..wgpu::Limits::default()
        };
        type Lower = fn(&mut wgpu::Limits);
        let lower: [(&str, Lower); 8] = [
            ("max_storage_buffers_per_shader_stage", |l| {
                l.max_storage_buffers_per_shader_stage -= 1
            }),
            ("max_bindings_per_bind_group", |l| {
                l.max_bindings_per_bind_group = STORAGE_BINDINGS_NEEDED
            }),
            ("max_bind_groups", |l| l.max_bind_groups = 0),
            ("max_uniform_buffers_per_shader_stage", |l| {
                l.max_uniform_buffers_per_shader_stage = 0
            }),
            ("max_compute_workgroup_size_x", |l| {
                l.max_compute_workgroup_size_x = 128
            }),
            ("max_compute_invocations_per_workgroup", |l| {
                l.max_compute_invocations_per_workgroup = 0
            }),
            ("max_compute_workgroup_storage_size", |l| {
                l.max_compute_workgroup_storage_size = WORKGROUP_STORAGE_BYTES_NEEDED - 4
            }),
            ("max_compute_workgroups_per_dimension", |l| {
                l.max_compute_workgroups_per_dimension = 0
            }),
        ];
        for (name, lower) in lower {
            let mut l = enough.clone();
            lower(&mut l);
            match check_limits(&l) {
                Err(GpuError::MissingLimit { limit, need, have }) => {
                    assert_eq!(limit, name);
                    assert!(have < need, "{name}: {have} < {need}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        // wgpu's downlevel defaults (GLES 3.1 class) fall short too.
        assert!(check_limits(&wgpu::Limits::downlevel_defaults()).is_err());
    }

    #[test]
    fn a_level_trace_without_timestamps_names_the_missing_feature() {
        let trace = GpuOptions {
            trace_levels: true,
            ..GpuOptions::default()
        };
        let only_queries = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP;
        let e = shared_features(only_queries, &trace).unwrap_err();
        assert!(
            matches!(
                e,
                GpuError::MissingFeature { feature, .. }
                    if feature == wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("TIMESTAMP_QUERY_INSIDE_PASSES")
                && e.to_string().contains("level trace"),
            "{e}"
        );
        assert_eq!(
            shared_features(only_queries | TRACE_FEATURES, &trace).unwrap(),
            (true, true)
        );
        // The subgroup kernel is optional: the portable one runs without it.
        assert_eq!(
            shared_features(wgpu::Features::empty(), &GpuOptions::default()).unwrap(),
            (false, false)
        );
        let no_subgroups = GpuOptions {
            allow_subgroups: false,
            ..GpuOptions::default()
        };
        assert_eq!(
            shared_features(wgpu::Features::SUBGROUP, &no_subgroups).unwrap(),
            (false, false)
        );
    }
}
