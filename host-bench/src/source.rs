//! Where a heap comes from: built by `gpumark::heap::build` from a
//! [`ShapeSpec`], or imported from a `--heap` file ([`crate::import`]).

use crate::error::BenchError;
use crate::import::HeapFile;
use crate::progress::Progress;
use crate::record::ImportRecord;
use gpumark::heap::{try_build, Heap, Shape, ShapeSpec};

/// Where a heap comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeapSource {
    /// Built by `gpumark::heap::build`.
    Built(ShapeSpec),
    /// Imported from a file (`--heap`): a gpumark image, an HPROF dump or an
    /// edge list.
    File(HeapFile),
}

impl HeapSource {
    /// The heap in words, for messages.
    pub fn describe(&self) -> String {
        match self {
            HeapSource::Built(s) => match s.shape {
                Shape::List => format!("list, {} objects", s.objects),
                sh => format!(
                    "{}, {} objects × {} ptrs, seed {}",
                    sh.name(),
                    s.objects,
                    s.ptrs,
                    s.seed
                ),
            },
            HeapSource::File(f) => f.describe(),
        }
    }

    /// Pointer slots the heap will have, as an upper estimate.
    pub fn estimated_slots(&self) -> Option<u64> {
        let HeapSource::Built(s) = self else {
            return None;
        };
        let (n, k) = (u64::from(s.objects), u64::from(s.ptrs));
        Some(match s.shape {
            Shape::Random | Shape::Tree => n * k,
            Shape::List => n,
            // The arrays hold every other object, which each have k slots.
            Shape::Wide => n + n * k,
            // Mean k per object, heavy-tailed: leave a quarter for the tail.
            Shape::PowerLaw => n * k + n * k / 4,
        })
    }

    /// Bytes needed at the peak of building, verifying and marking, as an
    /// upper estimate. Building holds the builder's vectors and the arena at
    /// once (about 24 bytes an object and 8 a slot, measured); marking adds the BFS
    /// frontiers and the reference pass's stack. Measured peaks on the five
    /// shapes stay under this.
    pub fn estimated_bytes(&self) -> Option<u64> {
        let slots = self.estimated_slots()?;
        let HeapSource::Built(s) = self else {
            return None;
        };
        Some(32 * u64::from(s.objects) + 10 * slots + (32 << 20))
    }

    /// Bytes the heap will hold (object sizes), as an upper estimate: the
    /// builder gives each object 8 bytes per slot and 16 of scalars.
    pub fn estimated_heap_bytes(&self) -> Option<u64> {
        let HeapSource::Built(s) = self else {
            return None;
        };
        Some(8 * self.estimated_slots()? + 16 * u64::from(s.objects))
    }

    /// The seed of a built heap, or of an edge list's random roots.
    pub fn seed(&self) -> Option<u64> {
        match self {
            HeapSource::Built(s) => Some(s.seed),
            HeapSource::File(f) => f.seed(),
        }
    }

    /// The report's `shape` and `heap` fields: the shape name and no file,
    /// or the file's format name and the file.
    pub fn shape_and_file(&self) -> (String, Option<String>) {
        match self {
            HeapSource::Built(s) => (s.shape.name().to_string(), None),
            HeapSource::File(f) => (
                f.format.name().to_string(),
                Some(f.path.display().to_string()),
            ),
        }
    }

    /// Builds or imports the heap. An imported heap comes with what its
    /// import found (`reached` not yet set).
    pub fn load(&self, progress: &Progress) -> Result<(Heap, Option<ImportRecord>), BenchError> {
        match self {
            HeapSource::Built(spec) => {
                let heap = try_build(spec).map_err(|source| BenchError::Build {
                    heap: self.describe(),
                    source,
                })?;
                Ok((heap, None))
            }
            HeapSource::File(f) => {
                let (heap, record) = f.load(progress)?;
                Ok((heap, Some(record)))
            }
        }
    }
}
