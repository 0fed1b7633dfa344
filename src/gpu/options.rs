//! What a caller chooses about the device (the graphics API, the adapter,
//! the kernels' options) and what it is told about the one it got.

use super::GpuError;

/// A graphics API to pin adapter selection to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendChoice {
    /// Vulkan (Linux, Windows, Android; lavapipe and NVIDIA on the test machines).
    Vulkan,
    /// Metal (macOS, iOS).
    Metal,
    /// Direct3D 12 (Windows).
    Dx12,
    /// OpenGL / OpenGL ES (compute needs GL 4.3 / ES 3.1).
    Gl,
}

impl BackendChoice {
    /// Every choice, in the order `--backend all` tries them.
    pub const ALL: [BackendChoice; 4] = [
        BackendChoice::Vulkan,
        BackendChoice::Metal,
        BackendChoice::Dx12,
        BackendChoice::Gl,
    ];

    /// The name `WGPU_BACKEND` and `--backend` use: `vulkan`, `metal`,
    /// `dx12`, `gl`.
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Vulkan => "vulkan",
            BackendChoice::Metal => "metal",
            BackendChoice::Dx12 => "dx12",
            BackendChoice::Gl => "gl",
        }
    }

    pub(crate) fn backends(self) -> wgpu::Backends {
        match self {
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
    }
}

impl std::fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = GpuError;

    /// Parses `vulkan`, `metal`, `dx12` or `gl` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, GpuError> {
        let want = s.trim().to_ascii_lowercase();
        BackendChoice::ALL
            .into_iter()
            .find(|b| b.name() == want)
            .ok_or_else(|| GpuError::UnknownBackend {
                given: s.to_string(),
            })
    }
}

/// How to choose and configure the device the mark engine runs on.
///
/// `Default` leaves everything to the environment (`WGPU_BACKEND`,
/// `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF`) and to wgpu's defaults.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Only consider adapters of this backend; `None` reads `WGPU_BACKEND`,
    /// falling back to every backend wgpu was built with.
    pub backend: Option<BackendChoice>,
    /// Only accept an adapter whose name contains this text (case-insensitive);
    /// `None` reads `WGPU_ADAPTER_NAME`, falling back to wgpu's default choice.
    pub adapter_name: Option<String>,
    /// Cap on the bytes of one storage binding, below the adapter's own
    /// `max_storage_buffer_binding_size`. Tests use a tiny value (4096) to force
    /// every array of the heap mirror to be split across several bindings.
    pub max_binding_bytes: Option<u64>,
    /// Use the subgroup scan kernel when the adapter has
    /// [`wgpu::Features::SUBGROUP`] (default `true`). `false` forces the
    /// portable kernel, so tests can run both on one adapter.
    pub allow_subgroups: bool,
    /// Time every level of every batch with GPU timestamps (a level trace,
    /// [`crate::gpu::LevelSample`]), where the adapter has
    /// [`wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES`] (default `false`:
    /// it is for diagnosis, and a timestamp between levels has a cost of its
    /// own, large on a software driver: lavapipe's per-level time rises by
    /// more than half).
    pub trace_levels: bool,
    /// Build the kernels' counting variant: every batch also totals its
    /// operations by category ([`crate::gpu::OpCounts`], in
    /// [`crate::gpu::BatchCounters::ops`] and
    /// [`crate::gpu::GpuScanStats::ops`]). Default `false`: the counting
    /// adds an atomic per counted operation; the normal kernels count
    /// nothing and pay nothing for it.
    pub count_ops: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            backend: None,
            adapter_name: None,
            max_binding_bytes: None,
            allow_subgroups: true,
            trace_levels: false,
            count_ops: false,
        }
    }
}

/// What adapter the engine ended up on, for logs and benchmark reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdapterDescription {
    /// Adapter name as the driver reports it, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Graphics API in use.
    pub backend: wgpu::Backend,
    /// Discrete, integrated, virtual, CPU, or other.
    pub device_type: wgpu::DeviceType,
    /// Driver name and version information, as far as the driver reports them.
    pub driver: String,
}

impl AdapterDescription {
    pub(crate) fn of(info: &wgpu::AdapterInfo) -> AdapterDescription {
        AdapterDescription {
            name: info.name.clone(),
            backend: info.backend,
            device_type: info.device_type,
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
        }
    }

    /// The graphics API's name: `vulkan`, `metal`, `dx12`, `gl`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.to_str()
    }

    /// The device type's name for reports: `discrete-gpu`, `integrated-gpu`,
    /// `virtual-gpu`, `cpu` (a software driver such as lavapipe) or `other`.
    pub fn device_type_name(&self) -> &'static str {
        match self.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
            wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
            wgpu::DeviceType::VirtualGpu => "virtual-gpu",
            wgpu::DeviceType::Cpu => "cpu",
            wgpu::DeviceType::Other => "other",
        }
    }
}

impl std::fmt::Display for AdapterDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?}, {:?}, driver {})",
            self.name, self.backend, self.device_type, self.driver
        )
    }
}
