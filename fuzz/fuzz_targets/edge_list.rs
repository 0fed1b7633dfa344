//! Any bytes through the edge-list importer, with the first byte choosing
//! the roots: an error or a heap, never a panic; a heap that comes back
//! marks exactly its reachable set.
#![no_main]

use gpumark::import::{import_edge_list, EdgeListOptions, RootChoice};
use gpumark::{mark::mark_stw, verify::reachable};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let (roots, text) = match data.split_first() {
        Some((&b, rest)) if b & 1 == 1 => (
            RootChoice::Random {
                count: u64::from(b >> 1),
                seed: u64::from(b),
            },
            rest,
        ),
        _ => (RootChoice::InDegreeZero, data),
    };
    let opts = EdgeListOptions {
        roots,
        ..EdgeListOptions::default()
    };
    if let Ok(imp) = import_edge_list(text, &opts) {
        let heap = Arc::new(imp.heap);
        assert_eq!(mark_stw(&heap, 1).marked, reachable(&heap).count);
    }
});
