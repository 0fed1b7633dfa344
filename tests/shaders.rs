//! Every WGSL kernel in `shaders/` parses and validates with naga — no GPU
//! and no `gpu` feature needed — and follows the house layout: one entry
//! point per file, a header comment naming the bindings and the workgroup
//! size; every kernel but the subgroup one validates without the subgroup
//! capability. (That the layout constants the shaders repeat match the host's is a
//! unit test in `src/gpu/shaders.rs`, behind the feature.)

/// The `.wgsl` files in `shaders/`: (path, text).
fn shader_files() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("shaders/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .map(|p| {
            let src = std::fs::read_to_string(&p).expect("readable shader");
            (p.display().to_string(), src)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_shader_parses_and_validates() {
    let files = shader_files();
    assert_eq!(files.len(), 5, "expected 5 shader files, found {files:?}");
    let common = &files
        .iter()
        .find(|(n, _)| n.ends_with("scan_common.wgsl"))
        .expect("scan_common.wgsl")
        .1;
    for (name, file) in &files {
        // The common definitions are a module of their own (no entry point);
        // each scan kernel is validated as the host compiles it, after them.
        let is_common = name.ends_with("scan_common.wgsl");
        let src = if !is_common && name.contains("/scan_") {
            format!("{common}{file}")
        } else {
            file.clone()
        };
        let src = &src;
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        // Only the subgroup kernel may use subgroup operations: the others
        // are the portable path, for adapters without them.
        let caps = if name.ends_with("scan_subgroup.wgsl") {
            naga::valid::Capabilities::all()
        } else {
            naga::valid::Capabilities::all()
                - naga::valid::Capabilities::SUBGROUP
                - naga::valid::Capabilities::SUBGROUP_BARRIER
                - naga::valid::Capabilities::SUBGROUP_VERTEX_STAGE
        };
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        assert_eq!(
            module.entry_points.len(),
            usize::from(!is_common),
            "{name}: one entry point per kernel file, none in the common one"
        );
        let src = file;
        assert!(src.starts_with("//"), "{name}: header comment first");
        assert!(
            src.contains("Bindings"),
            "{name}: header names the bindings"
        );
        assert!(
            src.contains("Workgroup size"),
            "{name}: header names the workgroup size"
        );
    }
}
