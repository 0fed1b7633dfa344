//! Heap images: save and load a heap to a versioned binary file.
//! (Being written; see the image issue work.)

use super::Heap;
use std::io::{Read, Write};
use thiserror::Error;

/// The magic bytes that open every heap image.
pub const IMAGE_MAGIC: [u8; 8] = *b"GPUMARK\0";
/// The current image format version.
pub const IMAGE_VERSION: u32 = 1;

/// Errors reading or writing a heap image.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImageError {
    /// An I/O error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes `heap` as an image.
pub fn save_image(_heap: &Heap, _w: impl Write) -> Result<(), ImageError> {
    todo!()
}

/// Reads and validates an image.
pub fn load_image(_r: impl Read) -> Result<Heap, ImageError> {
    todo!()
}

/// Saves `heap` to `path`.
pub fn save_image_file(heap: &Heap, path: &std::path::Path) -> Result<(), ImageError> {
    save_image(heap, std::io::BufWriter::new(std::fs::File::create(path)?))
}

/// Loads a heap image from `path`.
pub fn load_image_file(path: &std::path::Path) -> Result<Heap, ImageError> {
    load_image(std::io::BufReader::new(std::fs::File::open(path)?))
}
