//! Any bytes through the HPROF importer: an error or a heap, never a panic;
//! a heap that comes back marks exactly its reachable set.
#![no_main]

use gpumark::import::{import_hprof, HprofOptions};
use gpumark::{mark::mark_stw, verify::reachable};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    if let Ok(imp) = import_hprof(data, &HprofOptions::default()) {
        let heap = Arc::new(imp.heap);
        assert_eq!(mark_stw(&heap, 1).marked, reachable(&heap).count);
    }
});
