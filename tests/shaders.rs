//! Every WGSL kernel in `shaders/` parses and validates with naga — no GPU
//! and no `gpu` feature needed — and follows the house layout: one entry
//! point per file, a header comment naming the bindings and the workgroup
//! size. (That the layout constants the shaders repeat match the host's is a
//! unit test in `src/gpu/shaders.rs`, behind the feature.)

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
    assert_eq!(files.len(), 3, "expected 3 shaders, found {files:?}");
    for (name, src) in &files {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
        assert_eq!(
            module.entry_points.len(),
            1,
            "{name}: one entry point per file"
        );
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
