//! The WGSL kernels, compiled into the library with `include_str!`.
//!
//! One entry point (`main`) per kernel file; each file opens with a comment on
//! its bindings and workgroup size. The two scan kernels and the inbox pass
//! share their definitions through `scan_common.wgsl`, prepended here (WGSL
//! has no includes). `tests/shaders.rs` parses and validates every kernel as the
//! library compiles it, with naga (no GPU needed, no `gpu` feature either);
//! the tests below check that the layout constants the shaders repeat agree
//! with [`super::layout`] and that the embedded kernels are those files.

/// Scan kernel with queue appends reserved per workgroup (any adapter).
pub(crate) const SCAN_WORKGROUP: &str = concat!(
    include_str!("../../shaders/scan_common.wgsl"),
    include_str!("../../shaders/scan_workgroup.wgsl")
);
/// Scan kernel with subgroup-aggregated queue appends (`Features::SUBGROUP`).
pub(crate) const SCAN_SUBGROUP: &str = concat!(
    include_str!("../../shaders/scan_common.wgsl"),
    include_str!("../../shaders/scan_subgroup.wgsl")
);
/// The inbox pass: shades the greys the host pushed, first in a batch.
pub(crate) const SCAN_INBOX: &str = concat!(
    include_str!("../../shaders/scan_common.wgsl"),
    include_str!("../../shaders/scan_inbox.wgsl")
);
/// Single-invocation kernel between levels: consume, plan, write indirect args.
pub(crate) const LEVEL_ADVANCE: &str = include_str!("../../shaders/level_advance.wgsl");

#[cfg(test)]
mod tests {
    use super::super::layout::*;
    use super::super::ops::*;
    use super::super::{OBLET_SLOTS, WORKGROUP_SIZE};

    fn parse_and_validate(name: &str, src: &str) -> naga::Module {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        module
    }

    /// Every kernel in `shaders/` as the host compiles it: a `scan_*` kernel
    /// with `scan_common.wgsl` prepended; the common file itself is no
    /// kernel.
    fn shader_files() -> Vec<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
        let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("readable shader");
        let common = read(&std::path::Path::new(dir).join("scan_common.wgsl"));
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("shaders/ exists")
            .map(|e| e.expect("readable entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
            .filter(|p| !p.ends_with("scan_common.wgsl"))
            .map(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                let src = match name.as_deref() {
                    Some(n) if n.starts_with("scan_") => format!("{common}{}", read(&p)),
                    _ => read(&p),
                };
                (p.display().to_string(), src)
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn embedded_kernels_are_the_files_on_disk() {
        // Parsing and validating every file is tests/shaders.rs (no GPU
        // feature needed); here: what the library compiles in is those files.
        let files = shader_files();
        for embedded in [
            super::SCAN_WORKGROUP,
            super::SCAN_SUBGROUP,
            super::SCAN_INBOX,
            super::LEVEL_ADVANCE,
        ] {
            assert!(files.iter().any(|(_, s)| s == embedded));
        }
    }

    fn u32_constant(module: &naga::Module, name: &str) -> Option<u32> {
        module.constants.iter().find_map(|(_, c)| {
            if c.name.as_deref() != Some(name) {
                return None;
            }
            match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => Some(v),
                ref other => panic!("{name} is not a u32 literal: {other:?}"),
            }
        })
    }

    /// The device check's workgroup-memory need
    /// ([`super::super::device::WORKGROUP_STORAGE_BYTES_NEEDED`]) is the
    /// largest kernel's: the sum of its `var<workgroup>` sizes.
    #[test]
    fn workgroup_memory_need_is_the_largest_kernels() {
        let largest = [
            super::SCAN_WORKGROUP,
            super::SCAN_SUBGROUP,
            super::SCAN_INBOX,
            super::LEVEL_ADVANCE,
        ]
        .iter()
        .map(|src| {
            let module = parse_and_validate("kernel", src);
            module
                .global_variables
                .iter()
                .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
                .map(|(_, v)| module.types[v.ty].inner.size(module.to_ctx()))
                .sum::<u32>()
        })
        .max();
        assert_eq!(
            largest,
            Some(super::super::device::WORKGROUP_STORAGE_BYTES_NEEDED)
        );
    }

    #[test]
    fn shader_constants_match_host() {
        let expected = [
            ("WORKGROUP_SIZE", WORKGROUP_SIZE),
            ("OBLET_SLOTS", OBLET_SLOTS),
            ("OBLET_SHIFT", OBLET_SLOTS.trailing_zeros()),
            ("CTL_HEAD", CTL_HEAD),
            ("CTL_QUEUE_LEN", CTL_QUEUE_LEN),
            ("CTL_CUR_LEN", CTL_CUR_LEN),
            ("CTL_TAIL", CTL_TAIL),
            ("CTL_FREE", CTL_FREE),
            ("CTL_PUSHED", CTL_PUSHED),
            ("CTL_OVERFLOW", CTL_OVERFLOW),
            ("CTL_LEVELS_LEFT", CTL_LEVELS_LEFT),
            ("CTL_BUDGET_LO", CTL_BUDGET_LO),
            ("CTL_SCAN_LO", CTL_SCAN_LO),
            ("CTL_ITEMS_LO", CTL_ITEMS_LO),
            ("CTL_MARKED", CTL_MARKED),
            ("CTL_BYTES_LO", CTL_BYTES_LO),
            ("CTL_LEVELS_RUN", CTL_LEVELS_RUN),
            ("CTL_LEVEL_START_LO", CTL_LEVEL_START_LO),
            ("CTL_INBOX_LEN", CTL_INBOX_LEN),
            ("CTL_DUPS", CTL_DUPS),
            ("CTL_DUP_BYTES_LO", CTL_DUP_BYTES_LO),
            ("CTL_ADVANCES", CTL_ADVANCES),
            ("CTL_STRIPES", CTL_STRIPES),
            ("STRIPES", STRIPES),
            ("STRIPE_WORDS", STRIPE_WORDS),
            ("STRIPE_SCAN_LO", STRIPE_SCAN_LO),
            ("STRIPE_MARKED", STRIPE_MARKED),
            ("STRIPE_BYTES_LO", STRIPE_BYTES_LO),
            ("COUNTED", COUNTED),
            ("SLOT_CAP", SLOT_CAP),
            ("MIN_LEVEL_WORKGROUPS", MIN_LEVEL_WORKGROUPS),
            ("OPS_CTL_ATOMICS", OPS_CTL_ATOMICS),
            ("OPS_MARK_ATOMICS", OPS_MARK_ATOMICS),
            ("OPS_MARK_LOADS", OPS_MARK_LOADS),
            ("OPS_DESCRIPTOR_LOADS", OPS_DESCRIPTOR_LOADS),
            ("OPS_SLOT_LOADS", OPS_SLOT_LOADS),
            ("OPS_RING_WRITES", OPS_RING_WRITES),
            ("OPS_RING_READS", OPS_RING_READS),
            ("OPS_WORKGROUP_BARRIERS", OPS_WORKGROUP_BARRIERS),
            ("OPS_MAX_WORKGROUP_SLOTS", OPS_MAX_WORKGROUP_SLOTS),
            ("OPS_EDGES", OPS_EDGES),
            ("OPS_STRIPE_ATOMICS", OPS_STRIPE_ATOMICS),
            ("CTL_LOG", CTL_LOG),
            ("LOG_WORDS_PER_LEVEL", LOG_WORDS_PER_LEVEL),
            ("TRACE_LEVELS", TRACE_LEVELS),
        ];
        let mut seen = vec![0; expected.len()];
        for (file, src) in shader_files() {
            let module = parse_and_validate(&file, &src);
            for (i, (name, value)) in expected.iter().enumerate() {
                if let Some(v) = u32_constant(&module, name) {
                    assert_eq!(v, *value, "{file}: {name}");
                    seen[i] += 1;
                }
            }
            assert!(u32_constant(&module, "WORKGROUP_SIZE").is_some(), "{file}");
            // The uniform block has the host's size.
            let params = module
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some("Params"))
                .expect("Params struct");
            assert_eq!(
                params.1.inner.size(module.to_ctx()) as usize,
                std::mem::size_of::<Params>(),
                "{file}: Params size"
            );
        }
        for (i, (name, _)) in expected.iter().enumerate() {
            assert!(seen[i] > 0, "{name} is in no shader");
        }
    }
}
