//! Heap images: a heap saved to, and loaded from, a versioned binary file.
//!
//! Go counterpart: `runtime/debug.WriteHeapDump` (runtime/heapdump.go), which
//! streams a tagged record per object, root and goroutine. gpumark's heap is
//! already four flat arrays (see the parent module), so an image is those
//! arrays written one after the other, preceded by their lengths and followed
//! by a checksum: no tags, no pointers to fix up, and a loader that can check
//! every value against counts it has already read.
//!
//! # Format (version 1)
//!
//! Every integer is little-endian. `N`, `M`, `G`, `S` and `L_i` are the counts
//! read from the header.
//!
//! | Offset                           | Width   | Field                                                             |
//! |----------------------------------|---------|-------------------------------------------------------------------|
//! | 0                                | 8       | magic, [`IMAGE_MAGIC`] (`GPUMARK\0`)                              |
//! | 8                                | 4       | version, u32, [`IMAGE_VERSION`]                                   |
//! | 12                               | 8       | `N`, object count, u64, at most 2³²−1                             |
//! | 20                               | 8       | `M`, slot count, u64, at most 2³²−1                               |
//! | 28                               | 8       | `G`, global root count, u64, at most 2³²−1                        |
//! | 36                               | 8       | `S`, stack count, u64, at most 2³²−1                              |
//! | 44                               | 8·S     | stack lengths `L_0 … L_{S−1}`, u64 each, each at most 2³²−1       |
//! | `A = 44 + 8S`                    | 8·N     | object table: per object, `size` u32 then `nslots` u32            |
//! | `B = A + 8N`                     | 4·M     | slot array, u32 each, encoded (`target + 1`, 0 for nil)           |
//! | `C = B + 4M`                     | 4·G     | global roots, u32 each, encoded                                   |
//! | `D_0 = C + 4G`                   | 4·L_0   | stack 0's slots, u32 each, encoded                                |
//! | `D_i = D_{i−1} + 4L_{i−1}`       | 4·L_i   | stack `i`'s slots                                                 |
//! | `E = C + 4G + 4·ΣL_i`            | 4       | CRC-32 (IEEE, as `crc32fast` computes it) of bytes `[0, E)`       |
//! | `E + 4`                          | —       | end of input: nothing may follow                                  |
//!
//! Object `i`'s `slot_start` is not stored: objects own consecutive ranges of
//! the slot array in index order, so `slot_start(i) = Σ_{j<i} nslots(j)` and
//! `Σ nslots = M`. The parent module's allocator keeps that invariant (one
//! compare-and-swap bumps both the object and the slot pointer), and the
//! loader checks it, so the implied layout is exactly the saved one. Every
//! object also satisfies `size ≥ 8·nslots`, and every encoded value (slot,
//! global or stack entry) is 0 or at most `N`.
//!
//! The 2³²−1 limits are the heap's own: objects and slots are addressed by
//! u32 indices. Root counts share the limit so that no section's byte length
//! can overflow a u64.
//!
//! # Loading
//!
//! [`load_image`] reads the input once, front to back, through a buffered
//! reader, feeding each byte to the CRC as it goes, and decodes each section
//! straight into the vector the heap is built from, so nothing is held twice.
//! The header's counts are only promises: at most `MAX_UPFRONT` (65 536)
//! elements are reserved per section ahead of its data, and vectors grow
//! only as real bytes arrive, so a 44-byte file claiming four billion objects
//! fails with [`ImageError::Truncated`] having allocated under a megabyte.
//!
//! The first failed check is the error. In file order, as bytes arrive:
//!
//! 1. magic, then version (a foreign or future file is named as such, not as
//!    corrupt; a short prefix of the magic is truncation);
//! 2. each count against its limit, as it is read;
//! 3. every section present in full ([`ImageError::Truncated`] names the
//!    section, its first byte, and the bytes expected and found);
//! 4. the checksum, then the absence of trailing bytes.
//!
//! Then, with the whole image read:
//!
//! 5. the contents: object sizes, `Σ nslots = M`, and every slot, global and
//!    stack entry naming an existing object.
//!
//! Content checks run after the checksum because random damage (a flipped
//! bit, a bad sector) is what the checksum is for: it is reported as a
//! checksum mismatch rather than as whatever nonsense the damaged value
//! happens to decode to. A content error therefore means the image was
//! *written* wrong, with a valid checksum. No heap exists until every check
//! has passed, so a failed load leaves nothing behind.
//!
//! # Saving
//!
//! [`save_image`] writes a heap nobody is allocating in (mutators may store,
//! as they may while a marker reads, but the image is then a racy snapshot).
//! It applies the loader's content checks to what it writes, so it never
//! produces an image [`load_image`] would reject: an allocation racing with
//! the save shows up as [`ImageError::HeapChanged`] or an out-of-range
//! value, and a stack entry nobody validated (stacks are raw vectors) as
//! [`ImageError::StackRootOutOfRange`]. On error the writer holds a partial
//! image, which has no checksum and so fails to load.
//!
//! A loaded heap's capacity is exactly its contents: it holds no room for
//! further allocation, and its global area is the saved one.

use super::{Heap, HeapConfig, WORD_BYTES};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use thiserror::Error;

/// The magic bytes that open every heap image.
pub const IMAGE_MAGIC: [u8; 8] = *b"GPUMARK\0";
/// The current image format version.
pub const IMAGE_VERSION: u32 = 1;

/// Offset of the version field.
const OFF_VERSION: u64 = 8;
/// Offset of the object count `N`.
const OFF_OBJECTS: u64 = 12;
/// Offset of the slot count `M`.
const OFF_SLOTS: u64 = 20;
/// Offset of the global root count `G`.
const OFF_GLOBALS: u64 = 28;
/// Offset of the stack count `S`.
const OFF_STACKS: u64 = 36;
/// Bytes of the fixed header (magic, version, four counts); the stack length
/// table starts here.
const HEADER_BYTES: u64 = 44;
/// The largest value any count may hold: objects and slots are u32 indices.
const MAX_COUNT: u64 = u32::MAX as u64;
/// Bytes moved per read or write (and hashed per CRC update). Large enough
/// that per-call overhead vanishes and crc32fast's SIMD path runs on long
/// runs; small enough to stay in L2. A multiple of every element width.
const IO_CHUNK: usize = 64 * 1024;
/// The most elements reserved for a section before its bytes are read. The
/// header's counts are untrusted, so reserving them whole would let a tiny
/// file demand gigabytes; beyond this, vectors grow with the data actually
/// read, which bounds memory by the input's real size.
const MAX_UPFRONT: usize = 1 << 16;

/// A section of the image, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageSection {
    /// Magic, version and the four counts (bytes 0..44).
    Header,
    /// The table of stack lengths.
    StackLengths,
    /// The object table.
    Objects,
    /// The slot array.
    Slots,
    /// The global roots.
    Globals,
    /// One stack's slots.
    Stack {
        /// The stack's index.
        index: u32,
    },
    /// The trailing CRC-32.
    Checksum,
}

impl fmt::Display for ImageSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSection::Header => f.write_str("header"),
            ImageSection::StackLengths => f.write_str("stack length table"),
            ImageSection::Objects => f.write_str("object table"),
            ImageSection::Slots => f.write_str("slot array"),
            ImageSection::Globals => f.write_str("global roots"),
            ImageSection::Stack { index } => write!(f, "stack {index}"),
            ImageSection::Checksum => f.write_str("checksum"),
        }
    }
}

/// A count in the image header, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageCount {
    /// `N`, the object count.
    Objects,
    /// `M`, the slot count.
    Slots,
    /// `G`, the global root count.
    Globals,
    /// `S`, the stack count.
    Stacks,
    /// `L_i`, one stack's length.
    StackLength {
        /// The stack's index.
        stack: u32,
    },
}

impl fmt::Display for ImageCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageCount::Objects => f.write_str("object count"),
            ImageCount::Slots => f.write_str("slot count"),
            ImageCount::Globals => f.write_str("global root count"),
            ImageCount::Stacks => f.write_str("stack count"),
            ImageCount::StackLength { stack } => write!(f, "length of stack {stack}"),
        }
    }
}

/// Errors reading or writing a heap image. Offsets are bytes from the start
/// of the image.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImageError {
    /// An I/O error from the underlying reader or writer.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// An error saving or loading the named file.
    #[error("heap image {}: {error}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: Box<ImageError>,
    },
    /// The input does not begin with [`IMAGE_MAGIC`].
    #[error(
        "not a gpumark heap image: it begins with b\"{}\", expected b\"{}\"",
        .found.escape_ascii(),
        IMAGE_MAGIC.escape_ascii()
    )]
    BadMagic {
        /// The first bytes of the input (up to 8).
        found: Vec<u8>,
    },
    /// The image's version is not one this build reads.
    #[error(
        "unsupported heap image version {found} (byte 8): this build reads version {supported}"
    )]
    UnsupportedVersion {
        /// The version in the image.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A count exceeds the format's limit.
    #[error("{count} {value} (byte {offset}) exceeds the image format's limit of {limit}")]
    CountTooLarge {
        /// Which count.
        count: ImageCount,
        /// Its value.
        value: u64,
        /// The limit.
        limit: u64,
        /// Where the count is stored.
        offset: u64,
    },
    /// The input ended inside a section.
    #[error(
        "truncated heap image: the {section} starts at byte {offset} and needs {expected} bytes, \
         but the input ends after {found} of them (at byte {end})",
        end = .offset + .found
    )]
    Truncated {
        /// The section the input ended in.
        section: ImageSection,
        /// Where that section starts.
        offset: u64,
        /// The section's length in bytes.
        expected: u64,
        /// The bytes of it present.
        found: u64,
    },
    /// The stored checksum does not match the image's contents.
    #[error(
        "checksum mismatch: the image stores CRC-32 {expected:#010x} at byte {offset}, \
         but its contents hash to {computed:#010x}"
    )]
    ChecksumMismatch {
        /// Where the checksum is stored.
        offset: u64,
        /// The stored checksum.
        expected: u32,
        /// The checksum of the bytes before it.
        computed: u32,
    },
    /// Bytes follow the checksum.
    #[error("trailing bytes after the checksum, starting at byte {offset}")]
    TrailingBytes {
        /// The first byte past the end of the image.
        offset: u64,
    },
    /// An object is smaller than its own pointer slots.
    #[error(
        "object {object} (entry at byte {offset}) is {size} bytes, \
         too small for its {nslots} pointer slots of 8 bytes"
    )]
    ObjectTooSmall {
        /// The object.
        object: u32,
        /// Its size in bytes.
        size: u32,
        /// Its slot count.
        nslots: u32,
        /// Where its object table entry is.
        offset: u64,
    },
    /// The objects' slot counts do not add up to the header's slot count.
    #[error(
        "the header declares {declared} slots (byte {offset}), \
         but the object table's slot counts sum to {sum}"
    )]
    SlotCountMismatch {
        /// The header's slot count `M`.
        declared: u64,
        /// The sum of the objects' `nslots`.
        sum: u64,
        /// Where `M` is stored.
        offset: u64,
    },
    /// A slot names an object past the last one.
    #[error(
        "slot {slot} of object {object} (byte {offset}) holds {value}, a pointer to \
         object {target}, but there are only {objects} objects",
        target = .value.saturating_sub(1)
    )]
    SlotOutOfRange {
        /// The object holding the slot.
        object: u32,
        /// The slot's index within the object.
        slot: u32,
        /// The encoded value.
        value: u32,
        /// The number of objects.
        objects: u32,
        /// Where the slot is stored.
        offset: u64,
    },
    /// A global root names an object past the last one.
    #[error(
        "global root {index} (byte {offset}) holds {value}, a pointer to object {target}, \
         but there are only {objects} objects",
        target = .value.saturating_sub(1)
    )]
    GlobalOutOfRange {
        /// The global root's index.
        index: u32,
        /// The encoded value.
        value: u32,
        /// The number of objects.
        objects: u32,
        /// Where the root is stored.
        offset: u64,
    },
    /// A stack entry names an object past the last one.
    #[error(
        "entry {index} of stack {stack} (byte {offset}) holds {value}, a pointer to \
         object {target}, but there are only {objects} objects",
        target = .value.saturating_sub(1)
    )]
    StackRootOutOfRange {
        /// The stack.
        stack: u32,
        /// The entry's index within the stack.
        index: u32,
        /// The encoded value.
        value: u32,
        /// The number of objects.
        objects: u32,
        /// Where the entry is stored.
        offset: u64,
    },
    /// Saving only: the heap's layout changed under the save (an allocation
    /// raced with it), so its objects are not laid out consecutively.
    #[error(
        "cannot save: object {object} starts at slot {slot_start}, but its predecessors end \
         at slot {expected}; the heap was allocated in while being saved"
    )]
    HeapChanged {
        /// The object.
        object: u32,
        /// Its recorded first slot.
        slot_start: u32,
        /// Where consecutive layout puts it.
        expected: u64,
    },
}

impl ImageError {
    /// The error itself, with any [`ImageError::File`] wrappers removed.
    pub fn innermost(&self) -> &ImageError {
        let mut e = self;
        while let ImageError::File { error, .. } = e {
            e = error;
        }
        e
    }
}

/// Whether encoded value `v` is nil or names one of `objects` objects.
#[inline]
fn names_object(v: u32, objects: u32) -> bool {
    v <= objects
}

/// Whether an object of `size` bytes can hold `nslots` pointer slots.
#[inline]
fn size_fits(size: u32, nslots: u32) -> bool {
    u64::from(size) >= u64::from(nslots) * WORD_BYTES
}

/// Checks a count against [`MAX_COUNT`].
fn check_count(count: ImageCount, value: u64, offset: u64) -> Result<u32, ImageError> {
    u32::try_from(value).map_err(|_| ImageError::CountTooLarge {
        count,
        value,
        limit: MAX_COUNT,
        offset,
    })
}

// ---------------------------------------------------------------------------
// Saving
// ---------------------------------------------------------------------------

/// Buffers an image on its way to a writer, hashing each chunk as it leaves.
struct ImageWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    /// Bytes produced so far (flushed or buffered): the next byte's offset.
    offset: u64,
}

impl<W: Write> ImageWriter<W> {
    fn new(inner: W) -> Self {
        ImageWriter {
            inner,
            buf: Vec::with_capacity(IO_CHUNK),
            crc: crc32fast::Hasher::new(),
            offset: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        self.offset += bytes.len() as u64;
        if self.buf.len() >= IO_CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn u32(&mut self, v: u32) -> io::Result<()> {
        self.put(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> io::Result<()> {
        self.put(&v.to_le_bytes())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.crc.update(&self.buf);
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Appends the checksum of everything written and flushes.
    fn finish(mut self) -> io::Result<()> {
        self.flush_buf()?;
        let crc = self.crc.clone().finalize();
        self.inner.write_all(&crc.to_le_bytes())?;
        self.inner.flush()
    }
}

/// Writes `heap` as an image (format in the module documentation).
///
/// Writes are buffered internally, so an unbuffered writer is fine. The heap
/// should not be allocated in meanwhile; see the module documentation for
/// what a racing save does.
///
/// # Examples
///
/// ```
/// use gpumark::heap::{build, load_image, save_image, Shape, ShapeSpec};
///
/// let heap = build(&ShapeSpec { shape: Shape::Tree, objects: 100, ptrs: 2, roots: 0, seed: 1 });
/// let mut image = Vec::new();
/// save_image(&heap, &mut image)?;
/// let back = load_image(image.as_slice())?;
/// assert_eq!((back.len(), back.edges()), (100, 99));
/// # Ok::<(), gpumark::heap::ImageError>(())
/// ```
pub fn save_image(heap: &Heap, w: impl Write) -> Result<(), ImageError> {
    let n = heap.len();
    // Copy the object table first: the header needs the slot total, and a
    // copy keeps the total and the table written from the same reading.
    let mut objects = Vec::with_capacity(n as usize);
    let mut next = 0u64;
    for i in 0..n {
        let d = heap.desc(i);
        if u64::from(d.slot_start) != next {
            return Err(ImageError::HeapChanged {
                object: i,
                slot_start: d.slot_start,
                expected: next,
            });
        }
        next += u64::from(d.nslots);
        objects.push((d.size, d.nslots));
    }
    let stacks: Vec<Vec<u32>> = heap.stacks().iter().map(|s| s.snapshot()).collect();
    let globals = heap.globals();
    check_count(ImageCount::Slots, next, OFF_SLOTS)?;
    check_count(ImageCount::Globals, globals.len() as u64, OFF_GLOBALS)?;
    check_count(ImageCount::Stacks, stacks.len() as u64, OFF_STACKS)?;

    let mut w = ImageWriter::new(w);
    w.put(&IMAGE_MAGIC)?;
    w.u32(IMAGE_VERSION)?;
    w.u64(n.into())?;
    w.u64(next)?;
    w.u64(globals.len() as u64)?;
    w.u64(stacks.len() as u64)?;
    for (i, s) in stacks.iter().enumerate() {
        let stack = i as u32; // < 2^32 by the check above
        check_count(ImageCount::StackLength { stack }, s.len() as u64, w.offset)?;
        w.u64(s.len() as u64)?;
    }
    for (i, &(size, nslots)) in objects.iter().enumerate() {
        if !size_fits(size, nslots) {
            return Err(ImageError::ObjectTooSmall {
                object: i as u32,
                size,
                nslots,
                offset: w.offset,
            });
        }
        w.u32(size)?;
        w.u32(nslots)?;
    }
    let raw = heap.raw_slots();
    let mut start = 0usize;
    for (i, &(_, nslots)) in objects.iter().enumerate() {
        let end = start + nslots as usize;
        let mine = raw.get(start..end).ok_or(ImageError::HeapChanged {
            object: i as u32,
            slot_start: start as u32,
            expected: start as u64,
        })?;
        for (j, s) in mine.iter().enumerate() {
            let value = s.load(Relaxed);
            if !names_object(value, n) {
                return Err(ImageError::SlotOutOfRange {
                    object: i as u32,
                    slot: j as u32,
                    value,
                    objects: n,
                    offset: w.offset,
                });
            }
            w.u32(value)?;
        }
        start = end;
    }
    for (i, g) in globals.iter().enumerate() {
        let value = g.load(Relaxed);
        if !names_object(value, n) {
            return Err(ImageError::GlobalOutOfRange {
                index: i as u32,
                value,
                objects: n,
                offset: w.offset,
            });
        }
        w.u32(value)?;
    }
    for (si, s) in stacks.iter().enumerate() {
        for (j, &value) in s.iter().enumerate() {
            if !names_object(value, n) {
                return Err(ImageError::StackRootOutOfRange {
                    stack: si as u32,
                    index: j as u32,
                    value,
                    objects: n,
                    offset: w.offset,
                });
            }
            w.u32(value)?;
        }
    }
    w.finish()?;
    Ok(())
}

/// Writes `heap` to the file at `path`, creating or truncating it. Errors
/// are [`ImageError::File`], naming the path.
pub fn save_image_file(heap: &Heap, path: impl AsRef<Path>) -> Result<(), ImageError> {
    let path = path.as_ref();
    let in_file = |error: ImageError| ImageError::File {
        path: path.to_path_buf(),
        error: Box::new(error),
    };
    let file = File::create(path).map_err(|e| in_file(e.into()))?;
    save_image(heap, file).map_err(in_file)
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// A section's extent, for reporting truncation.
#[derive(Clone, Copy)]
struct Span {
    section: ImageSection,
    start: u64,
    len: u64,
}

/// Reads an image front to back, hashing every byte and counting offsets.
struct ImageReader<R: Read> {
    inner: R,
    crc: crc32fast::Hasher,
    /// Bytes consumed so far: the next byte's offset.
    offset: u64,
    chunk: Vec<u8>,
}

impl<R: Read> ImageReader<R> {
    fn new(inner: R) -> Self {
        ImageReader {
            inner,
            crc: crc32fast::Hasher::new(),
            offset: 0,
            chunk: vec![0; IO_CHUNK],
        }
    }

    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn read_upto(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.crc.update(&buf[..got]);
        self.offset += got as u64;
        Ok(got)
    }

    /// Fills `buf` with bytes of `span`, or reports where the input ended.
    fn fill(&mut self, buf: &mut [u8], span: Span) -> Result<(), ImageError> {
        let got = self.read_upto(buf)?;
        if got < buf.len() {
            return Err(ImageError::Truncated {
                section: span.section,
                offset: span.start,
                expected: span.len,
                found: self.offset - span.start,
            });
        }
        Ok(())
    }

    fn u32(&mut self, span: Span) -> Result<u32, ImageError> {
        let mut b = [0u8; 4];
        self.fill(&mut b, span)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, span: Span) -> Result<u64, ImageError> {
        let mut b = [0u8; 8];
        self.fill(&mut b, span)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a section of `count` elements of `width` bytes (4 or 8), passing
    /// each element's bytes to `each`, a chunk at a time.
    fn section(
        &mut self,
        section: ImageSection,
        count: u32,
        width: usize,
        mut each: impl FnMut(&[u8]),
    ) -> Result<Span, ImageError> {
        let span = Span {
            section,
            start: self.offset,
            len: u64::from(count) * width as u64,
        };
        let mut chunk = std::mem::take(&mut self.chunk);
        let mut left = span.len;
        let res = loop {
            if left == 0 {
                break Ok(span);
            }
            let k = left.min(IO_CHUNK as u64) as usize;
            let buf = &mut chunk[..k]; // k <= IO_CHUNK == chunk.len()
            if let Err(e) = self.fill(buf, span) {
                break Err(e);
            }
            buf.chunks_exact(width).for_each(&mut each);
            left -= k as u64;
        };
        self.chunk = chunk;
        res
    }
}

/// Decodes a little-endian u32 from the first four bytes of `b` (callers pass
/// slices of at least four bytes; shorter ones are zero-padded).
#[inline]
fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(a)
}

/// A reservation for `count` elements, capped at [`MAX_UPFRONT`].
fn reserve<T>(count: u32) -> Vec<T> {
    Vec::with_capacity((count as usize).min(MAX_UPFRONT))
}

/// Reads and validates an image (format and checks in the module
/// documentation). Reads are buffered internally. On any error no heap is
/// built.
pub fn load_image(r: impl Read) -> Result<Heap, ImageError> {
    let mut rd = ImageReader::new(BufReader::with_capacity(IO_CHUNK, r));
    let header = Span {
        section: ImageSection::Header,
        start: 0,
        len: HEADER_BYTES,
    };

    // A short or foreign prefix is "not an image", not "truncated".
    let mut magic = [0u8; 8];
    let got = rd.read_upto(&mut magic)?;
    let found = &magic[..got];
    if found != &IMAGE_MAGIC[..got] {
        return Err(ImageError::BadMagic {
            found: found.to_vec(),
        });
    }
    if got < magic.len() {
        return Err(ImageError::Truncated {
            section: ImageSection::Header,
            offset: 0,
            expected: HEADER_BYTES,
            found: got as u64,
        });
    }
    debug_assert_eq!(rd.offset, OFF_VERSION);
    let version = rd.u32(header)?;
    if version != IMAGE_VERSION {
        return Err(ImageError::UnsupportedVersion {
            found: version,
            supported: IMAGE_VERSION,
        });
    }
    debug_assert_eq!(rd.offset, OFF_OBJECTS);
    let n = check_count(ImageCount::Objects, rd.u64(header)?, OFF_OBJECTS)?;
    let m = check_count(ImageCount::Slots, rd.u64(header)?, OFF_SLOTS)?;
    let g = check_count(ImageCount::Globals, rd.u64(header)?, OFF_GLOBALS)?;
    let s = check_count(ImageCount::Stacks, rd.u64(header)?, OFF_STACKS)?;

    let lengths_span = Span {
        section: ImageSection::StackLengths,
        start: HEADER_BYTES,
        len: u64::from(s) * 8,
    };
    let mut lengths: Vec<u32> = reserve(s);
    for stack in 0..s {
        let at = rd.offset;
        let len = rd.u64(lengths_span)?;
        lengths.push(check_count(ImageCount::StackLength { stack }, len, at)?);
    }

    let mut objects: Vec<(u32, u32)> = reserve(n);
    let objects_span = rd.section(ImageSection::Objects, n, 8, |b| {
        objects.push((le32(b), le32(b.get(4..).unwrap_or_default())));
    })?;
    let mut slots: Vec<u32> = reserve(m);
    let slots_span = rd.section(ImageSection::Slots, m, 4, |b| slots.push(le32(b)))?;
    let mut globals: Vec<u32> = reserve(g);
    let globals_span = rd.section(ImageSection::Globals, g, 4, |b| globals.push(le32(b)))?;
    let mut stacks: Vec<Vec<u32>> = reserve(s);
    let mut stack_spans: Vec<Span> = reserve(s);
    for (index, &len) in lengths.iter().enumerate() {
        let mut st: Vec<u32> = reserve(len);
        let section = ImageSection::Stack {
            index: index as u32,
        };
        stack_spans.push(rd.section(section, len, 4, |b| st.push(le32(b)))?);
        stacks.push(st);
    }

    let computed = rd.crc.clone().finalize();
    let checksum_at = rd.offset;
    let expected = rd.u32(Span {
        section: ImageSection::Checksum,
        start: checksum_at,
        len: 4,
    })?;
    if expected != computed {
        return Err(ImageError::ChecksumMismatch {
            offset: checksum_at,
            expected,
            computed,
        });
    }
    if rd.read_upto(&mut [0u8; 1])? != 0 {
        return Err(ImageError::TrailingBytes {
            offset: checksum_at + 4,
        });
    }

    // Contents. Offsets below are of bytes already read, so cannot overflow.
    let mut sum = 0u64;
    for (i, &(size, nslots)) in objects.iter().enumerate() {
        if !size_fits(size, nslots) {
            return Err(ImageError::ObjectTooSmall {
                object: i as u32,
                size,
                nslots,
                offset: objects_span.start + 8 * i as u64,
            });
        }
        sum += u64::from(nslots);
    }
    let slot_count_mismatch = ImageError::SlotCountMismatch {
        declared: m.into(),
        sum,
        offset: OFF_SLOTS,
    };
    if sum != u64::from(m) {
        return Err(slot_count_mismatch);
    }
    let mut rest = slots.as_slice();
    let mut at = slots_span.start;
    for (i, &(_, nslots)) in objects.iter().enumerate() {
        let Some((mine, tail)) = rest.split_at_checked(nslots as usize) else {
            return Err(slot_count_mismatch); // unreachable: the sum matched
        };
        for (j, &value) in mine.iter().enumerate() {
            if !names_object(value, n) {
                return Err(ImageError::SlotOutOfRange {
                    object: i as u32,
                    slot: j as u32,
                    value,
                    objects: n,
                    offset: at,
                });
            }
            at += 4;
        }
        rest = tail;
    }
    for (i, &value) in globals.iter().enumerate() {
        if !names_object(value, n) {
            return Err(ImageError::GlobalOutOfRange {
                index: i as u32,
                value,
                objects: n,
                offset: globals_span.start + 4 * i as u64,
            });
        }
    }
    for (si, (st, span)) in stacks.iter().zip(&stack_spans).enumerate() {
        for (j, &value) in st.iter().enumerate() {
            if !names_object(value, n) {
                return Err(ImageError::StackRootOutOfRange {
                    stack: si as u32,
                    index: j as u32,
                    value,
                    objects: n,
                    offset: span.start + 4 * j as u64,
                });
            }
        }
    }

    let no_extra = HeapConfig {
        max_objects: 0,
        max_slots: 0,
        globals: 0,
    };
    Ok(Heap::from_parts(&objects, slots, globals, stacks, no_extra))
}

/// Reads and validates the image in the file at `path`. Errors are
/// [`ImageError::File`], naming the path; [`ImageError::innermost`] gives
/// the cause.
pub fn load_image_file(path: impl AsRef<Path>) -> Result<Heap, ImageError> {
    let path = path.as_ref();
    let in_file = |error: ImageError| ImageError::File {
        path: path.to_path_buf(),
        error: Box::new(error),
    };
    let file = File::open(path).map_err(|e| in_file(e.into()))?;
    load_image(file).map_err(in_file)
}
