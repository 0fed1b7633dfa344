//! Importing heaps that real programs made: JVM HPROF heap dumps and
//! SNAP-style edge lists, as gpumark [`Heap`]s.
//!
//! Go counterpart: none in the runtime; the nearest is `runtime/debug`'s
//! `WriteHeapDump` read back by a viewer. Synthetic shapes (`heap::build`)
//! exercise the marker's mechanisms, but only a heap a real program made has
//! a real program's degree distribution, root set and long chains, so this
//! module turns two widespread formats into the heap the marker reads.
//!
//! # Mechanism
//!
//! Both parsers are *streaming, one pass*: they read the input once, front
//! to back, through a [`BufReader`], and never hold the file. What they keep
//! is what the heap needs: one `(size, nslots)` pair per object and one u32
//! per pointer slot. Everything else (primitive array contents, scalar
//! fields, strings) is skipped as it streams past.
//!
//! The difficulty is that references run forward: an instance names objects
//! dumped after it, so a slot cannot be given its target's dense index when
//! it is read. The `Assembler` below therefore numbers *names*, not
//! objects, during the pass: every id, the first time it is seen (as a
//! reference or as a definition), gets the next name number, and slots,
//! roots and definitions all record name numbers. Objects are numbered
//! separately, in the order their slots are emitted, which is what
//! `Heap::from_parts` needs (each object's slots follow its predecessor's).
//! At the end one table, name → object, rewrites every slot and root in
//! place; a name that was referenced but never defined is an id absent from
//! the input: it is counted ([`ImportReport::missing_refs`]) and stored as
//! nil, never silently dropped and never a crash.
//!
//! # Memory
//!
//! For `N` distinct ids and `S` pointer slots the peak during the pass is
//! about `50·N + 4·S` bytes: the id map, a `HashMap<u64, u32>` at 19 to 39
//! bytes per entry depending on how recently it grew, the name → object
//! table at 4, the object table at 8, and the slots at 4 each (plus 8 per
//! object if [`Imported::ids`] is kept). The map and the name table are
//! freed before the heap (12 bytes per object, 4 per slot) is built. A
//! HotSpot dump spends at least 25 bytes of file per object and 8 per
//! reference (4 with 4-byte ids), so an import needs at most about twice
//! the file's size, and much less when primitive arrays dominate, as they
//! usually do: their contents, like scalar fields and strings, cost nothing
//! here. A two-pass design (ids and class layouts first, slots second)
//! would save the name table but needs a seekable input; one pass also
//! reads from a pipe (a decompressor). Edge lists keep their edges as
//! `(source, target)` pairs until the end (8 bytes per edge), because a
//! node's out-edges may be anywhere in the file; see [`edgelist`].
//!
//! Ids are hashed with a SplitMix64 finaliser, not SipHash: the ids are
//! addresses, the map is the parser's hottest structure, and an input
//! crafted to collide can only slow its own import down.
//!
//! # Sizes and slots
//!
//! Object sizes are the dumped sizes (the conventions of each format are in
//! [`hprof`] and [`edgelist`]). The heap requires `size ≥ 8·nslots`; an
//! object whose dumped size is smaller (an HPROF dump with 4-byte ids, whose
//! references take 4 bytes but whose slots are counted as 8) has its size
//! raised to `8·nslots`, and the report counts those
//! ([`ImportReport::sizes_raised`]). Sizes are u32: a larger object (a
//! multi-GiB primitive array) is clamped to `u32::MAX` and counted
//! ([`ImportReport::sizes_clamped`]). Every pointer-typed location gets a
//! slot, null or not, as a real object has its null fields; `edges` counts
//! the non-nil slots.
//!
//! # Progress
//!
//! The library prints nothing. A [`Progress`] callback in the options is
//! called with the bytes read so far every [`PROGRESS_STEP`] bytes and once at
//! the end; a front end draws its own bar.
//!
//! # Examples
//!
//! ```
//! use gpumark::import::{import_edge_list, EdgeListOptions};
//! use gpumark::mark::mark_stw;
//! use std::sync::Arc;
//!
//! // 1 → 2 → 3, and 4 → 4, which no root reaches.
//! let imp = import_edge_list("1 2\n2 3\n4 4\n".as_bytes(), &EdgeListOptions::default())?;
//! let marked = mark_stw(&Arc::new(imp.heap), 1).marked;
//! assert_eq!((imp.report.objects, imp.report.roots, marked), (4, 1, 3));
//! # Ok::<(), gpumark::import::ImportError>(())
//! ```

pub mod edgelist;
pub mod hprof;

pub use edgelist::{import_edge_list, EdgeListOptions, RootChoice};
pub use hprof::{import_hprof, HprofOptions, RootKind};

use crate::heap::{load_image_file, Heap, HeapConfig, ImageError, IMAGE_MAGIC, WORD_BYTES};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use thiserror::Error;

/// A progress callback: called with the input bytes read so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Bytes between two calls of a [`Progress`] callback: often enough for a
/// bar to move smoothly on a multi-GB file, rarely enough that the call is
/// free (a few hundred calls per GiB).
pub const PROGRESS_STEP: u64 = 4 << 20;

/// Bytes of read buffer: large enough that per-read overhead vanishes on a
/// fast disk, small enough to stay in L2.
const READ_BUFFER: usize = 256 << 10;

/// The header bytes that identify an HPROF file; a version digit and a NUL
/// follow ("JAVA PROFILE 1.0.2\0").
pub const HPROF_MAGIC_PREFIX: &[u8] = b"JAVA PROFILE 1.0.";

/// The formats [`load_heap_file`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A gpumark heap image (`heap::save_image`), opening with
    /// [`IMAGE_MAGIC`].
    GpumarkImage,
    /// A JVM HPROF heap dump ("JAVA PROFILE 1.0.x").
    Hprof,
    /// A text edge list, one `src dst` pair per line.
    EdgeList,
}

impl Format {
    /// Every format, in the order `--format` help lists them.
    pub const ALL: [Format; 3] = [Format::GpumarkImage, Format::Hprof, Format::EdgeList];

    /// The name [`FromStr`] accepts and [`fmt::Display`] prints.
    pub fn name(self) -> &'static str {
        match self {
            Format::GpumarkImage => "image",
            Format::Hprof => "hprof",
            Format::EdgeList => "edges",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = ImportError;

    /// Accepts `image`, `hprof` and `edges` (also `gpumark`, `edge-list`,
    /// `edgelist`, `snap`), ignoring case.
    fn from_str(s: &str) -> Result<Format, ImportError> {
        match s.to_ascii_lowercase().as_str() {
            "image" | "gpumark" => Ok(Format::GpumarkImage),
            "hprof" => Ok(Format::Hprof),
            "edges" | "edge-list" | "edgelist" | "snap" => Ok(Format::EdgeList),
            _ => Err(ImportError::UnknownFormat { name: s.to_owned() }),
        }
    }
}

/// Where in an input a problem is: the byte, and the record it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The byte offset of the problem, from the start of the input.
    pub offset: u64,
    /// The record (or sub-record) being read, by its HPROF tag name
    /// ("INSTANCE_DUMP", "HEAP_DUMP_SEGMENT"), "header", or "unknown" for a
    /// top-level tag this parser does not name.
    pub record: &'static str,
    /// Where that record starts (its tag byte).
    pub record_offset: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "byte {} in the {} record at byte {}",
            self.offset, self.record, self.record_offset
        )
    }
}

/// Errors importing a heap. HPROF errors carry a [`Location`]; edge-list
/// errors a line number and the line.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The input file could not be opened.
    #[error("cannot open {}: {source}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading failed.
    #[error("i/o error at byte {offset}: {source}")]
    Io {
        /// How far reading had got.
        offset: u64,
        /// The cause.
        source: io::Error,
    },
    /// A heap image failed to load.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A format name that [`Format::from_str`] does not know.
    #[error("unknown heap format {name:?}: expected image, hprof or edges")]
    UnknownFormat {
        /// The name given.
        name: String,
    },
    /// The input ended inside a record.
    #[error("truncated input: {at} needs {needed} more bytes, but the input ends there")]
    Truncated {
        /// Where the input ended.
        at: Location,
        /// Bytes still needed by the value being read.
        needed: u64,
    },
    /// The input does not start with an HPROF header.
    #[error(
        "not an HPROF file: it begins with b\"{}\", expected b\"JAVA PROFILE 1.0.x\\0\"",
        .found.escape_ascii()
    )]
    NotHprof {
        /// The first bytes of the input (up to 20).
        found: Vec<u8>,
    },
    /// The header's identifier size is not 4 or 8.
    #[error("unsupported identifier size {size} at {at}: only 4 and 8 are supported")]
    UnsupportedIdSize {
        /// Where the size is stored.
        at: Location,
        /// The size.
        size: u32,
    },
    /// A heap-dump sub-record tag this parser does not know. Sub-records carry
    /// no length, so an unknown one cannot be skipped.
    #[error("unknown heap dump sub-record tag {tag:#04x} at {at}")]
    UnknownSubRecord {
        /// Where the tag is, in the enclosing HEAP_DUMP or HEAP_DUMP_SEGMENT.
        at: Location,
        /// The tag.
        tag: u8,
    },
    /// A basic-type code that is not one of HPROF's (2, 4 … 11), or an
    /// object type where a primitive one is required.
    #[error("invalid basic type {ty} at {at}")]
    BadBasicType {
        /// Where the type byte is.
        at: Location,
        /// The type byte.
        ty: u8,
    },
    /// A sub-record runs past the end of the heap-dump record holding it.
    #[error(
        "the {} sub-record at byte {} runs past the end of its heap dump record \
         at byte {segment_end} (reading byte {})",
        .at.record, .at.record_offset, .at.offset
    )]
    SubRecordOverrun {
        /// The sub-record, and the first byte past its record.
        at: Location,
        /// The end of the enclosing HEAP_DUMP or HEAP_DUMP_SEGMENT.
        segment_end: u64,
    },
    /// Two objects with one id.
    #[error("object id {id:#x} is defined twice, the second time at {at}")]
    DuplicateId {
        /// The second definition.
        at: Location,
        /// The id.
        id: u64,
    },
    /// An instance whose class, or one of whose superclasses, has no
    /// CLASS_DUMP anywhere in the file: its fields cannot be decoded.
    #[error("the instance at {at} has class {class:#x}, but class {missing:#x} in its class chain is never dumped")]
    UnknownClass {
        /// The instance.
        at: Location,
        /// The instance's class.
        class: u64,
        /// The first class of the chain that is absent.
        missing: u64,
    },
    /// A class that is its own (indirect) superclass.
    #[error("class {class:#x} is its own superclass (a cycle in the class chain), found at {at}")]
    ClassCycle {
        /// The instance whose layout was being computed.
        at: Location,
        /// The class.
        class: u64,
    },
    /// An instance whose field bytes do not match its class chain's fields.
    #[error(
        "the instance at {at} holds {found} bytes of fields, \
         but its class {class:#x} and superclasses declare {expected}"
    )]
    FieldBytesMismatch {
        /// The instance.
        at: Location,
        /// Its class.
        class: u64,
        /// Bytes the class chain's field descriptors add up to.
        expected: u64,
        /// Bytes the instance holds.
        found: u64,
    },
    /// The HPROF file holds no HEAP_DUMP or HEAP_DUMP_SEGMENT record.
    #[error("the HPROF file holds no heap dump (no HEAP_DUMP or HEAP_DUMP_SEGMENT record)")]
    NoHeapDump,
    /// The input needs more objects or slots than a gpumark heap's 32-bit
    /// indices address, or an object with more slots than a u32 size holds.
    #[error("the input needs more {what} than a gpumark heap holds (limit {limit})")]
    TooLarge {
        /// "objects", "slots", or "slots in one object".
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// An edge-list line that is not a comment, blank, or `src dst`.
    #[error("edge list line {line}: {reason}: {content:?}")]
    BadLine {
        /// The line number, from 1.
        line: u64,
        /// The line (cut to 120 characters).
        content: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A root asked for by [`RootChoice::Nodes`] that no edge mentions.
    #[error("root node {node} does not appear in the edge list")]
    UnknownRootNode {
        /// The node id.
        node: u64,
    },
}

/// What an import found, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// The input's format.
    pub format: Option<Format>,
    /// Objects in the heap.
    pub objects: u64,
    /// Non-nil pointer slots (the graph's edges).
    pub edges: u64,
    /// Pointer slots, nil or not.
    pub slots: u64,
    /// Root entries in the heap (globals and stack entries).
    pub roots: u64,
    /// References (slots and roots) to ids absent from the input, stored as
    /// nil.
    pub missing_refs: u64,
    /// How many of [`ImportReport::missing_refs`] were roots (not stored).
    pub missing_roots: u64,
    /// HPROF root records per kind (including those naming absent ids).
    pub root_kinds: BTreeMap<RootKind, u64>,
    /// HPROF CLASS_DUMP records (class objects).
    pub classes: u64,
    /// HPROF INSTANCE_DUMP records.
    pub instances: u64,
    /// HPROF OBJ_ARRAY_DUMP records.
    pub object_arrays: u64,
    /// HPROF PRIM_ARRAY_DUMP records.
    pub primitive_arrays: u64,
    /// Sum of object sizes in bytes.
    pub bytes: u64,
    /// Objects whose size was raised to `8·nslots` (see the module docs).
    pub sizes_raised: u64,
    /// Objects whose size was clamped to `u32::MAX`.
    pub sizes_clamped: u64,
    /// Input bytes read.
    pub input_bytes: u64,
}

/// An imported heap and what the import found.
#[derive(Debug)]
#[non_exhaustive]
pub struct Imported {
    /// The heap, holding exactly its contents (no spare capacity).
    pub heap: Heap,
    /// Counts for reports.
    pub report: ImportReport,
    /// Object index → the id it had in the input (HPROF object id, edge-list
    /// node id), when the options asked to keep them.
    pub ids: Option<Vec<u64>>,
}

/// Options for [`load_heap_file`]: each format's own.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// For HPROF files.
    pub hprof: HprofOptions,
    /// For edge lists.
    pub edge_list: EdgeListOptions,
}

/// The format of `bytes`, the start of an input (32 bytes are plenty), by
/// content: [`IMAGE_MAGIC`] is an image, [`HPROF_MAGIC_PREFIX`] an HPROF
/// dump, anything else an edge list.
pub fn sniff_bytes(bytes: &[u8]) -> Format {
    if bytes.starts_with(&IMAGE_MAGIC) {
        Format::GpumarkImage
    } else if bytes.starts_with(HPROF_MAGIC_PREFIX) {
        Format::Hprof
    } else {
        Format::EdgeList
    }
}

/// The format of the file at `path`, by content (see [`sniff_bytes`]).
pub fn sniff(path: impl AsRef<Path>) -> Result<Format, ImportError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| ImportError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut head = Vec::with_capacity(32);
    file.take(32)
        .read_to_end(&mut head)
        .map_err(|source| ImportError::Io { offset: 0, source })?;
    Ok(sniff_bytes(&head))
}

/// Loads the heap in the file at `path`: a gpumark image, an HPROF dump or an
/// edge list, as `format` says or, if `None`, as [`sniff`] finds.
pub fn load_heap_file(
    path: impl AsRef<Path>,
    format: Option<Format>,
    opts: &LoadOptions,
) -> Result<Imported, ImportError> {
    let path = path.as_ref();
    let format = match format {
        Some(f) => f,
        None => sniff(path)?,
    };
    let open = || {
        File::open(path).map_err(|source| ImportError::Open {
            path: path.to_path_buf(),
            source,
        })
    };
    match format {
        Format::Hprof => import_hprof(open()?, &opts.hprof),
        Format::EdgeList => import_edge_list(open()?, &opts.edge_list),
        Format::GpumarkImage => {
            let input_bytes = open()?.metadata().map(|m| m.len()).unwrap_or(0);
            let heap = load_image_file(path)?;
            let mut report = report_of(&heap, Format::GpumarkImage);
            report.input_bytes = input_bytes;
            Ok(Imported {
                heap,
                report,
                ids: None,
            })
        }
    }
}

/// The counts any heap has, for an image (which records nothing else).
fn report_of(heap: &Heap, format: Format) -> ImportReport {
    let globals = heap.globals().iter().filter(|g| g.load(Relaxed) != 0);
    let stack_roots: usize = heap
        .stacks()
        .iter()
        .map(|s| s.with(|v| v.iter().filter(|&&x| x != 0).count()))
        .sum();
    ImportReport {
        format: Some(format),
        objects: heap.len().into(),
        edges: heap.edges(),
        slots: heap.slots_len().into(),
        roots: globals.count() as u64 + stack_roots as u64,
        bytes: heap.allocated_bytes(),
        ..ImportReport::default()
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Why a read came up short.
#[derive(Debug)]
enum Short {
    /// The input ended with `missing` bytes of the value still to come.
    Eof { missing: u64 },
    /// The reader failed.
    Io(io::Error),
}

/// A buffered reader that knows its offset and reports progress.
struct Input<R: Read> {
    inner: BufReader<R>,
    /// Bytes consumed: the offset of the next byte.
    pos: u64,
    progress: Option<Progress>,
    /// The offset at which progress is next reported.
    next_report: u64,
}

impl<R: Read> Input<R> {
    fn new(r: R, progress: Option<Progress>) -> Input<R> {
        Input {
            inner: BufReader::with_capacity(READ_BUFFER, r),
            pos: 0,
            progress,
            next_report: PROGRESS_STEP,
        }
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.inner.consume(n);
        self.pos += n as u64;
        if self.pos >= self.next_report {
            self.next_report = self.pos + PROGRESS_STEP;
            if let Some(p) = &self.progress {
                p(self.pos);
            }
        }
    }

    /// Reports the final offset to the progress callback.
    fn finish(&self) {
        if let Some(p) = &self.progress {
            p(self.pos);
        }
    }

    /// The buffered bytes, refilling if empty; empty only at end of input.
    fn fill(&mut self) -> Result<&[u8], Short> {
        loop {
            match self.inner.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Short::Io(e)),
            }
        }
        // Filled (or at the end): this returns the buffer without reading.
        self.inner.fill_buf().map_err(Short::Io)
    }

    /// Fills `out` entirely.
    fn read_exact(&mut self, out: &mut [u8]) -> Result<(), Short> {
        let mut done = 0;
        while done < out.len() {
            let b = self.fill()?;
            if b.is_empty() {
                return Err(Short::Eof {
                    missing: (out.len() - done) as u64,
                });
            }
            let n = b.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&b[..n]);
            self.advance(n);
            done += n;
        }
        Ok(())
    }

    /// Reads `N` bytes.
    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let mut a = [0u8; N];
        // Fast path: the whole value is in the buffer.
        if let Ok(b) = self.inner.fill_buf() {
            if b.len() >= N {
                a.copy_from_slice(&b[..N]);
                self.advance(N);
                return Ok(a);
            }
        }
        self.read_exact(&mut a)?;
        Ok(a)
    }

    /// Skips `n` bytes.
    fn skip(&mut self, mut n: u64) -> Result<(), Short> {
        while n > 0 {
            let b = self.fill()?;
            if b.is_empty() {
                return Err(Short::Eof { missing: n });
            }
            let k = (b.len() as u64).min(n) as usize;
            self.advance(k);
            n -= k as u64;
        }
        Ok(())
    }

    /// Appends `n` bytes to `out`, growing it only as bytes arrive (so an
    /// untrusted `n` cannot reserve memory the input does not back).
    fn read_into(&mut self, n: u64, out: &mut Vec<u8>) -> Result<(), Short> {
        let mut left = n;
        while left > 0 {
            let b = self.fill()?;
            if b.is_empty() {
                return Err(Short::Eof { missing: left });
            }
            let k = (b.len() as u64).min(left) as usize;
            out.extend_from_slice(&b[..k]);
            self.advance(k);
            left -= k as u64;
        }
        Ok(())
    }

    /// Reads one line (up to and including `\n`, or to the end of input)
    /// into `out`, cleared first; returns false at end of input.
    fn line(&mut self, out: &mut Vec<u8>) -> Result<bool, Short> {
        out.clear();
        loop {
            let b = self.fill()?;
            if b.is_empty() {
                return Ok(!out.is_empty());
            }
            match b.iter().position(|&c| c == b'\n') {
                Some(i) => {
                    out.extend_from_slice(&b[..=i]);
                    self.advance(i + 1);
                    return Ok(true);
                }
                None => {
                    let k = b.len();
                    out.extend_from_slice(b);
                    self.advance(k);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Assembling
// ---------------------------------------------------------------------------

/// SplitMix64's finaliser as a `Hasher` for u64 ids: HPROF ids are aligned
/// addresses, whose low bits are constant, so they need mixing, and this
/// mixes every input bit into every output bit in three multiplies less than
/// SipHash costs.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

/// A map keyed by id, with [`IdHasher`].
type IdHashMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Id → name number.
type IdMap = IdHashMap<u32>;

/// No defining object: the name → object table's mark for an absent id.
const UNDEFINED: u32 = u32::MAX;

/// The most objects a heap holds: a slot stores `index + 1` in a u32.
const MAX_OBJECTS: u64 = u32::MAX as u64 - 1;

/// Builds a heap from objects, slots and roots that name their targets by id,
/// in one pass. See the module documentation.
struct Assembler {
    /// Id → name number.
    names: IdMap,
    /// Name number → object index, or [`UNDEFINED`].
    defs: Vec<u32>,
    /// Per object, in emission order: `(size, nslots)`.
    objects: Vec<(u32, u32)>,
    /// The slot array; during the pass each entry is a name number + 1
    /// (0 for nil).
    slots: Vec<u32>,
    /// Global roots, as name number + 1.
    globals: Vec<u32>,
    /// Per-thread stack roots, as name number + 1, by thread serial.
    stacks: BTreeMap<u64, Vec<u32>>,
    /// Object index → id, if asked for.
    ids: Option<Vec<u64>>,
    report: ImportReport,
}

impl Assembler {
    fn new(format: Format, keep_ids: bool) -> Assembler {
        Assembler {
            names: IdMap::default(),
            defs: Vec::new(),
            objects: Vec::new(),
            slots: Vec::new(),
            globals: Vec::new(),
            stacks: BTreeMap::new(),
            ids: keep_ids.then(Vec::new),
            report: ImportReport {
                format: Some(format),
                ..ImportReport::default()
            },
        }
    }

    /// The name number of `id`, numbering it if new.
    #[inline]
    fn name(&mut self, id: u64) -> Result<u32, ImportError> {
        let next = self.defs.len();
        if let Some(&n) = self.names.get(&id) {
            return Ok(n);
        }
        // Name numbers are stored + 1 in a u32, and UNDEFINED is reserved.
        if next as u64 >= u64::from(u32::MAX) - 1 {
            return Err(ImportError::TooLarge {
                what: "distinct ids",
                limit: u64::from(u32::MAX) - 1,
            });
        }
        self.names.insert(id, next as u32);
        self.defs.push(UNDEFINED);
        Ok(next as u32)
    }

    /// The encoded reference to `id` (0 is nil).
    #[inline]
    fn reference(&mut self, id: u64) -> Result<u32, ImportError> {
        if id == 0 {
            Ok(0)
        } else {
            Ok(self.name(id)? + 1)
        }
    }

    /// Appends a slot referring to `id` (0 is null) to the current object.
    #[inline]
    fn push_slot(&mut self, id: u64) -> Result<(), ImportError> {
        if self.slots.len() as u64 >= u64::from(u32::MAX) {
            return Err(ImportError::TooLarge {
                what: "slots",
                limit: u64::from(u32::MAX),
            });
        }
        let r = self.reference(id)?;
        self.slots.push(r);
        Ok(())
    }

    /// Where the next object's slots start: pass it to [`Assembler::define`].
    #[inline]
    fn slot_start(&self) -> usize {
        self.slots.len()
    }

    /// Ends an object: the object with id `id` and `size` bytes owns the
    /// slots pushed since `slot_start`. Returns false, defining nothing, if
    /// the id is already defined.
    fn define(&mut self, id: u64, size: u64, slot_start: usize) -> Result<bool, ImportError> {
        let name = self.name(id)? as usize;
        if self.defs[name] != UNDEFINED {
            return Ok(false);
        }
        if self.objects.len() as u64 >= MAX_OBJECTS {
            return Err(ImportError::TooLarge {
                what: "objects",
                limit: MAX_OBJECTS,
            });
        }
        let nslots = self.slots.len() - slot_start;
        let min = nslots as u64 * WORD_BYTES;
        if min > u64::from(u32::MAX) {
            return Err(ImportError::TooLarge {
                what: "slots in one object",
                limit: u64::from(u32::MAX) / WORD_BYTES,
            });
        }
        let mut size = size;
        if size < min {
            size = min;
            self.report.sizes_raised += 1;
        }
        if size > u64::from(u32::MAX) {
            size = u64::from(u32::MAX);
            self.report.sizes_clamped += 1;
        }
        self.defs[name] = self.objects.len() as u32;
        self.objects.push((size as u32, nslots as u32));
        self.report.bytes += size;
        if let Some(ids) = &mut self.ids {
            ids.push(id);
        }
        Ok(true)
    }

    /// Adds a root naming `id` (0 is ignored): a global, or an entry of the
    /// stack of thread `thread`.
    fn root(&mut self, id: u64, thread: Option<u64>) -> Result<(), ImportError> {
        let r = self.reference(id)?;
        if r != 0 {
            match thread {
                None => self.globals.push(r),
                Some(t) => self.stacks.entry(t).or_default().push(r),
            }
        }
        Ok(())
    }

    /// Resolves every name to its object and builds the heap.
    fn finish(self, input_bytes: u64) -> Imported {
        let Assembler {
            names,
            defs,
            objects,
            mut slots,
            mut globals,
            stacks,
            ids,
            mut report,
        } = self;
        drop(names);
        let resolve = |v: u32| -> Option<u32> {
            match v.checked_sub(1) {
                None => Some(0),
                Some(name) => match defs[name as usize] {
                    UNDEFINED => None,
                    obj => Some(obj + 1),
                },
            }
        };
        let mut edges = 0u64;
        for s in &mut slots {
            match resolve(*s) {
                Some(v) => {
                    edges += u64::from(v != 0);
                    *s = v;
                }
                None => {
                    report.missing_refs += 1;
                    *s = 0;
                }
            }
        }
        let mut keep_roots = |roots: &mut Vec<u32>| {
            roots.retain_mut(|r| match resolve(*r) {
                Some(v) => {
                    *r = v;
                    true
                }
                None => {
                    report.missing_refs += 1;
                    report.missing_roots += 1;
                    false
                }
            });
        };
        keep_roots(&mut globals);
        let stacks: Vec<Vec<u32>> = stacks
            .into_values()
            .map(|mut s| {
                keep_roots(&mut s);
                s
            })
            .collect();
        drop(defs);
        report.objects = objects.len() as u64;
        report.slots = slots.len() as u64;
        report.edges = edges;
        report.roots = globals.len() as u64 + stacks.iter().map(|s| s.len() as u64).sum::<u64>();
        report.input_bytes = input_bytes;
        let no_extra = HeapConfig {
            max_objects: 0,
            max_slots: 0,
            globals: 0,
        };
        let heap = Heap::from_parts(&objects, slots, globals, stacks, no_extra);
        Imported { heap, report, ids }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff_bytes(b"GPUMARK\0\x01\0\0\0"), Format::GpumarkImage);
        assert_eq!(sniff_bytes(b"JAVA PROFILE 1.0.2\0"), Format::Hprof);
        assert_eq!(sniff_bytes(b"JAVA PROFILE 1.0.3\0"), Format::Hprof);
        assert_eq!(sniff_bytes(b"# Directed graph\n1 2\n"), Format::EdgeList);
        assert_eq!(sniff_bytes(b""), Format::EdgeList);
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().ok(), Some(f));
        }
        assert!(matches!(
            "xml".parse::<Format>(),
            Err(ImportError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn assembler_resolves_forward_and_missing_references() {
        let mut a = Assembler::new(Format::EdgeList, true);
        // Object 10 points forward to 20 and at absent 99; 20 points back.
        let s = a.slot_start();
        a.push_slot(20).unwrap();
        a.push_slot(99).unwrap();
        a.push_slot(0).unwrap();
        assert!(a.define(10, 8, s).unwrap());
        let s = a.slot_start();
        a.push_slot(10).unwrap();
        a.define(20, 0, s).unwrap();
        assert!(!a.define(20, 0, a.slot_start()).unwrap());
        a.root(20, None).unwrap();
        a.root(98, Some(1)).unwrap();
        let imp = a.finish(0);
        let h = &imp.heap;
        assert_eq!(h.len(), 2);
        assert_eq!(h.desc(0).nslots, 3);
        assert_eq!(h.desc(0).size, 24, "raised to 8 * nslots");
        assert_eq!(h.desc(1).size, 8);
        let slots: Vec<u32> = h.raw_slots().iter().map(|s| s.load(Relaxed)).collect();
        assert_eq!(slots, vec![2, 0, 0, 1]);
        assert_eq!(imp.report.edges, 2);
        assert_eq!(imp.report.missing_refs, 2);
        assert_eq!(imp.report.missing_roots, 1);
        assert_eq!(imp.report.roots, 1);
        assert_eq!(imp.report.sizes_raised, 2);
        assert_eq!(imp.ids, Some(vec![10, 20]));
    }
}
