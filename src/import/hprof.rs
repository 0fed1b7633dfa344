//! JVM HPROF heap dumps (`jmap -dump`, `jcmd GC.heap_dump`,
//! `HotSpotDiagnosticMXBean.dumpHeap`, Android's `am dumpheap`) as gpumark
//! heaps.
//!
//! # The format, as far as a marker needs it
//!
//! An HPROF file is a NUL-terminated header ("JAVA PROFILE 1.0.2"; 1.0.1 and
//! Android's 1.0.3 read the same), a u4 identifier size (4 or 8) and a u8
//! timestamp, then records: u1 tag, u4 time delta, u4 body length, body.
//! Every integer is big-endian. Records other than HEAP_DUMP (0x0C) and
//! HEAP_DUMP_SEGMENT (0x1C) are skipped by their length, known (STRING,
//! LOAD_CLASS, STACK_TRACE …) or not: names and stack traces are not part of
//! the object graph. A heap-dump record's body is a run of sub-records with
//! no length of their own, so each is parsed in full, and one this parser
//! does not know is an error ([`ImportError::UnknownSubRecord`]): nothing
//! after it could be found.
//!
//! # Objects and the edge set
//!
//! Every object sub-record becomes one object; its slots, in this order, are:
//!
//! | sub-record               | slots                                                                                       | size (bytes)                               |
//! |--------------------------|---------------------------------------------------------------------------------------------|--------------------------------------------|
//! | INSTANCE_DUMP (0x21)     | its class, then each reference field: its own class's first, then its superclass's, up the chain | 16 + field bytes                      |
//! | OBJ_ARRAY_DUMP (0x22)    | its array class, then every element                                                         | 16 + length · id size                      |
//! | PRIM_ARRAY_DUMP (0x23)   | none                                                                                        | 16 + length · element size                 |
//! | CLASS_DUMP (0x20)        | superclass, class loader, signers, protection domain, each reference constant-pool entry, each reference static field | 16 + 4 · id size + constant-pool and static value bytes |
//!
//! 16 bytes is the header estimate of a 64-bit HotSpot object with
//! compressed class pointers (mark word, klass, and an array's length); the
//! rest is what the dump says the object holds, with references at the
//! dump's id size (a class counts its four class references as well as its
//! values). With 8-byte ids every such size holds the object's slots; with
//! 4-byte ids a reference takes 4 bytes of dump but 8 of slot, and sizes are
//! raised to `8·nslots` (see the parent module). Fields are decoded with the field descriptors of the
//! instance's CLASS_DUMP and its superclasses', in the order HotSpot writes
//! them (the class's own fields, then its superclass's). Slots exist for
//! null references too (nil slots), as the object has the field; the
//! reserved CLASS_DUMP ids and class-name strings are not references.
//! An instance's field bytes must add up to its class chain's descriptors
//! ([`ImportError::FieldBytesMismatch`]). A class's own `java.lang.Class`
//! and its name are not edges: HPROF records neither as a reference.
//!
//! Instances whose class (or a superclass) has not been dumped yet when they
//! are read keep their field bytes until the end of the file, when every
//! class is known; HotSpot dumps all classes first, so that store stays
//! empty there. A class never dumped is [`ImportError::UnknownClass`].
//!
//! # Roots
//!
//! Every ROOT_* sub-record is a root, counted by [`RootKind`] in
//! [`ImportReport::root_kinds`](super::ImportReport::root_kinds). Those that
//! name a thread (JNI local, Java frame, native stack, thread block, and
//! Android's JNI monitor) go on that thread's stack, one gpumark stack per
//! thread serial, so a marker scans them as Go scans goroutine stacks; the
//! rest (JNI global, sticky class, monitor used, thread object, unknown, and
//! Android's interned string, finalizing, debugger, reference cleanup, VM
//! internal) are globals. A root naming an id absent from the dump is
//! counted in `missing_refs` and `missing_roots` and not stored. Android's
//! UNREACHABLE (0x90) marks an object, not a root, and is ignored.
//!
//! A dump taken with live objects only is, by construction, everything
//! reachable from HotSpot's roots, but HotSpot keeps a few objects alive
//! through VM-internal roots the dump does not list, so expect a little
//! under 100% of such a dump's objects reached from its listed roots.
//!
//! # Errors
//!
//! Every error names the byte offset and the record or sub-record tag
//! ([`Location`]). A sub-record may not run past the end of its heap-dump
//! record ([`ImportError::SubRecordOverrun`]); lengths and counts are checked
//! against that end before anything is read or reserved, so a lying count
//! fails at once without allocating. The input ending inside a record is
//! [`ImportError::Truncated`].

use super::{
    Assembler, Format, IdHashMap, ImportError, Imported, Input, Location, Progress, Short,
};
use std::fmt;
use std::io::Read;
use std::rc::Rc;

/// Options for [`import_hprof`].
#[derive(Clone, Default)]
pub struct HprofOptions {
    /// Called with the bytes read so far (see [`super::PROGRESS_STEP`]).
    pub progress: Option<Progress>,
    /// Keep each object's HPROF id in [`Imported::ids`] (8 bytes per object).
    pub keep_ids: bool,
}

impl fmt::Debug for HprofOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HprofOptions")
            .field("progress", &self.progress.as_ref().map(|_| "Fn(u64)"))
            .field("keep_ids", &self.keep_ids)
            .finish()
    }
}

/// The kinds of GC root an HPROF dump records (HotSpot's, then Android's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RootKind {
    /// ROOT_UNKNOWN (0xFF).
    Unknown,
    /// ROOT_JNI_GLOBAL (0x01): a JNI global reference.
    JniGlobal,
    /// ROOT_JNI_LOCAL (0x02): a JNI local reference in a native frame.
    JniLocal,
    /// ROOT_JAVA_FRAME (0x03): a local variable or operand of a Java frame.
    JavaFrame,
    /// ROOT_NATIVE_STACK (0x04): a reference from a native stack.
    NativeStack,
    /// ROOT_STICKY_CLASS (0x05): a class the VM never unloads (boot loader).
    StickyClass,
    /// ROOT_THREAD_BLOCK (0x06): a reference from a thread block.
    ThreadBlock,
    /// ROOT_MONITOR_USED (0x07): an object whose monitor is held.
    MonitorUsed,
    /// ROOT_THREAD_OBJECT (0x08): a live thread's `java.lang.Thread`.
    ThreadObject,
    /// Android ROOT_INTERNED_STRING (0x89).
    InternedString,
    /// Android ROOT_FINALIZING (0x8A).
    Finalizing,
    /// Android ROOT_DEBUGGER (0x8B).
    Debugger,
    /// Android ROOT_REFERENCE_CLEANUP (0x8C).
    ReferenceCleanup,
    /// Android ROOT_VM_INTERNAL (0x8D).
    VmInternal,
    /// Android ROOT_JNI_MONITOR (0x8E).
    JniMonitor,
}

impl RootKind {
    /// The HPROF tag name.
    pub fn name(self) -> &'static str {
        match self {
            RootKind::Unknown => "ROOT_UNKNOWN",
            RootKind::JniGlobal => "ROOT_JNI_GLOBAL",
            RootKind::JniLocal => "ROOT_JNI_LOCAL",
            RootKind::JavaFrame => "ROOT_JAVA_FRAME",
            RootKind::NativeStack => "ROOT_NATIVE_STACK",
            RootKind::StickyClass => "ROOT_STICKY_CLASS",
            RootKind::ThreadBlock => "ROOT_THREAD_BLOCK",
            RootKind::MonitorUsed => "ROOT_MONITOR_USED",
            RootKind::ThreadObject => "ROOT_THREAD_OBJECT",
            RootKind::InternedString => "ROOT_INTERNED_STRING",
            RootKind::Finalizing => "ROOT_FINALIZING",
            RootKind::Debugger => "ROOT_DEBUGGER",
            RootKind::ReferenceCleanup => "ROOT_REFERENCE_CLEANUP",
            RootKind::VmInternal => "ROOT_VM_INTERNAL",
            RootKind::JniMonitor => "ROOT_JNI_MONITOR",
        }
    }
}

impl fmt::Display for RootKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Top-level record tags.
mod tag {
    pub const STRING: u8 = 0x01;
    pub const LOAD_CLASS: u8 = 0x02;
    pub const UNLOAD_CLASS: u8 = 0x03;
    pub const STACK_FRAME: u8 = 0x04;
    pub const STACK_TRACE: u8 = 0x05;
    pub const ALLOC_SITES: u8 = 0x06;
    pub const HEAP_SUMMARY: u8 = 0x07;
    pub const START_THREAD: u8 = 0x0A;
    pub const END_THREAD: u8 = 0x0B;
    pub const HEAP_DUMP: u8 = 0x0C;
    pub const CPU_SAMPLES: u8 = 0x0D;
    pub const CONTROL_SETTINGS: u8 = 0x0E;
    pub const HEAP_DUMP_SEGMENT: u8 = 0x1C;
    pub const HEAP_DUMP_END: u8 = 0x2C;
}

/// Heap-dump sub-record tags.
mod sub {
    pub const ROOT_UNKNOWN: u8 = 0xFF;
    pub const ROOT_JNI_GLOBAL: u8 = 0x01;
    pub const ROOT_JNI_LOCAL: u8 = 0x02;
    pub const ROOT_JAVA_FRAME: u8 = 0x03;
    pub const ROOT_NATIVE_STACK: u8 = 0x04;
    pub const ROOT_STICKY_CLASS: u8 = 0x05;
    pub const ROOT_THREAD_BLOCK: u8 = 0x06;
    pub const ROOT_MONITOR_USED: u8 = 0x07;
    pub const ROOT_THREAD_OBJECT: u8 = 0x08;
    pub const CLASS_DUMP: u8 = 0x20;
    pub const INSTANCE_DUMP: u8 = 0x21;
    pub const OBJ_ARRAY_DUMP: u8 = 0x22;
    pub const PRIM_ARRAY_DUMP: u8 = 0x23;
    // Android extensions.
    pub const ROOT_INTERNED_STRING: u8 = 0x89;
    pub const ROOT_FINALIZING: u8 = 0x8A;
    pub const ROOT_DEBUGGER: u8 = 0x8B;
    pub const ROOT_REFERENCE_CLEANUP: u8 = 0x8C;
    pub const ROOT_VM_INTERNAL: u8 = 0x8D;
    pub const ROOT_JNI_MONITOR: u8 = 0x8E;
    pub const UNREACHABLE: u8 = 0x90;
    pub const PRIM_ARRAY_NODATA: u8 = 0xC3;
    pub const HEAP_DUMP_INFO: u8 = 0xFE;
}

/// HPROF's basic type code for an object reference.
const TYPE_OBJECT: u8 = 2;

/// The 16-byte object header estimate added to every dumped size (see the
/// module documentation).
const HEADER_BYTES: u64 = 16;

/// The longest header string accepted before its NUL ("JAVA PROFILE 1.0.2"
/// is 18 bytes).
const MAX_HEADER: usize = 32;

fn record_name(t: u8) -> &'static str {
    match t {
        tag::STRING => "STRING",
        tag::LOAD_CLASS => "LOAD_CLASS",
        tag::UNLOAD_CLASS => "UNLOAD_CLASS",
        tag::STACK_FRAME => "STACK_FRAME",
        tag::STACK_TRACE => "STACK_TRACE",
        tag::ALLOC_SITES => "ALLOC_SITES",
        tag::HEAP_SUMMARY => "HEAP_SUMMARY",
        tag::START_THREAD => "START_THREAD",
        tag::END_THREAD => "END_THREAD",
        tag::HEAP_DUMP => "HEAP_DUMP",
        tag::CPU_SAMPLES => "CPU_SAMPLES",
        tag::CONTROL_SETTINGS => "CONTROL_SETTINGS",
        tag::HEAP_DUMP_SEGMENT => "HEAP_DUMP_SEGMENT",
        tag::HEAP_DUMP_END => "HEAP_DUMP_END",
        _ => "unknown",
    }
}

fn sub_record_name(t: u8) -> &'static str {
    match t {
        sub::ROOT_UNKNOWN => "ROOT_UNKNOWN",
        sub::ROOT_JNI_GLOBAL => "ROOT_JNI_GLOBAL",
        sub::ROOT_JNI_LOCAL => "ROOT_JNI_LOCAL",
        sub::ROOT_JAVA_FRAME => "ROOT_JAVA_FRAME",
        sub::ROOT_NATIVE_STACK => "ROOT_NATIVE_STACK",
        sub::ROOT_STICKY_CLASS => "ROOT_STICKY_CLASS",
        sub::ROOT_THREAD_BLOCK => "ROOT_THREAD_BLOCK",
        sub::ROOT_MONITOR_USED => "ROOT_MONITOR_USED",
        sub::ROOT_THREAD_OBJECT => "ROOT_THREAD_OBJECT",
        sub::CLASS_DUMP => "CLASS_DUMP",
        sub::INSTANCE_DUMP => "INSTANCE_DUMP",
        sub::OBJ_ARRAY_DUMP => "OBJ_ARRAY_DUMP",
        sub::PRIM_ARRAY_DUMP => "PRIM_ARRAY_DUMP",
        sub::ROOT_INTERNED_STRING => "ROOT_INTERNED_STRING",
        sub::ROOT_FINALIZING => "ROOT_FINALIZING",
        sub::ROOT_DEBUGGER => "ROOT_DEBUGGER",
        sub::ROOT_REFERENCE_CLEANUP => "ROOT_REFERENCE_CLEANUP",
        sub::ROOT_VM_INTERNAL => "ROOT_VM_INTERNAL",
        sub::ROOT_JNI_MONITOR => "ROOT_JNI_MONITOR",
        sub::UNREACHABLE => "UNREACHABLE",
        sub::PRIM_ARRAY_NODATA => "PRIMITIVE_ARRAY_NODATA",
        sub::HEAP_DUMP_INFO => "HEAP_DUMP_INFO",
        _ => "unknown",
    }
}

/// The size in bytes of a value of basic type `ty`, or `None` for a code
/// that is not a type.
fn type_size(ty: u8, id_size: u8) -> Option<u8> {
    match ty {
        TYPE_OBJECT => Some(id_size),
        4 | 8 => Some(1),  // boolean, byte
        5 | 9 => Some(2),  // char, short
        6 | 10 => Some(4), // float, int
        7 | 11 => Some(8), // double, long
        _ => None,
    }
}

/// What a CLASS_DUMP says about its instances.
struct ClassInfo {
    superclass: u64,
    /// The basic types of its own instance fields, in dump order.
    fields: Box<[u8]>,
}

/// An instance layout over the whole class chain.
struct Layout {
    /// Bytes of field data.
    bytes: u64,
    /// Offsets of the reference fields within the field data.
    refs: Box<[u32]>,
}

/// The layout of a class, if its chain is complete.
enum LayoutOf {
    Ready(Rc<Layout>),
    /// This class of the chain has not been dumped (yet).
    Missing(u64),
    /// The chain loops.
    Cycle,
}

/// An instance read before its class chain was complete.
struct Deferred {
    id: u64,
    class: u64,
    fields: Box<[u8]>,
    at: Location,
}

struct Parser<R: Read> {
    inp: Input<R>,
    id_size: u8,
    /// The record or sub-record being read.
    record: &'static str,
    record_offset: u64,
    /// The end of the heap-dump record being read, or `u64::MAX` outside one.
    limit: u64,
    asm: Assembler,
    classes: IdHashMap<ClassInfo>,
    layouts: IdHashMap<Rc<Layout>>,
    deferred: Vec<Deferred>,
    saw_heap_dump: bool,
}

/// Reads a heap dump from `reader` (buffered internally) and builds its heap;
/// see the module documentation for the edge set, sizes and roots.
///
/// # Examples
///
/// ```
/// use gpumark::import::{import_hprof, HprofOptions, ImportError};
///
/// // A header and nothing else: a valid HPROF file, but not a heap dump.
/// let mut file = b"JAVA PROFILE 1.0.2\0".to_vec();
/// file.extend_from_slice(&8u32.to_be_bytes()); // identifier size
/// file.extend_from_slice(&0u64.to_be_bytes()); // timestamp
/// let err = import_hprof(&file[..], &HprofOptions::default()).unwrap_err();
/// assert!(matches!(err, ImportError::NoHeapDump));
/// ```
pub fn import_hprof(reader: impl Read, opts: &HprofOptions) -> Result<Imported, ImportError> {
    let mut p = Parser {
        inp: Input::new(reader, opts.progress.clone()),
        id_size: 8,
        record: "header",
        record_offset: 0,
        limit: u64::MAX,
        asm: Assembler::new(Format::Hprof, opts.keep_ids),
        classes: IdHashMap::default(),
        layouts: IdHashMap::default(),
        deferred: Vec::new(),
        saw_heap_dump: false,
    };
    p.header()?;
    while p.record()? {}
    if !p.saw_heap_dump {
        return Err(ImportError::NoHeapDump);
    }
    p.resolve_deferred()?;
    p.inp.finish();
    let input_bytes = p.inp.pos;
    Ok(p.asm.finish(input_bytes))
}

impl<R: Read> Parser<R> {
    /// The current position, in the current record.
    fn at(&self) -> Location {
        self.at_offset(self.inp.pos)
    }

    fn at_offset(&self, offset: u64) -> Location {
        Location {
            offset,
            record: self.record,
            record_offset: self.record_offset,
        }
    }

    fn short(&self, e: Short) -> ImportError {
        match e {
            Short::Eof { missing } => ImportError::Truncated {
                at: self.at(),
                needed: missing,
            },
            Short::Io(source) => ImportError::Io {
                offset: self.inp.pos,
                source,
            },
        }
    }

    /// Checks that `n` more bytes fit in the current heap-dump record.
    #[inline]
    fn need(&self, n: u64) -> Result<(), ImportError> {
        if self.inp.pos.saturating_add(n) > self.limit {
            return Err(ImportError::SubRecordOverrun {
                at: self.at(),
                segment_end: self.limit,
            });
        }
        Ok(())
    }

    #[inline]
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], ImportError> {
        self.need(N as u64)?;
        self.inp.array::<N>().map_err(|e| self.short(e))
    }

    fn u1(&mut self) -> Result<u8, ImportError> {
        Ok(self.bytes::<1>()?[0])
    }

    fn u2(&mut self) -> Result<u16, ImportError> {
        Ok(u16::from_be_bytes(self.bytes()?))
    }

    fn u4(&mut self) -> Result<u32, ImportError> {
        Ok(u32::from_be_bytes(self.bytes()?))
    }

    #[inline]
    fn id(&mut self) -> Result<u64, ImportError> {
        if self.id_size == 4 {
            Ok(self.u4()?.into())
        } else {
            Ok(u64::from_be_bytes(self.bytes()?))
        }
    }

    fn skip(&mut self, n: u64) -> Result<(), ImportError> {
        self.need(n)?;
        self.inp.skip(n).map_err(|e| self.short(e))
    }

    /// Reads a basic-type byte and returns the size of its values.
    fn basic_type(&mut self) -> Result<(u8, u8), ImportError> {
        let ty = self.u1()?;
        match type_size(ty, self.id_size) {
            Some(size) => Ok((ty, size)),
            None => Err(ImportError::BadBasicType {
                at: self.at_offset(self.inp.pos - 1),
                ty,
            }),
        }
    }

    /// Reads a value of a basic type; returns its size, and the id if it is
    /// a reference.
    fn value(&mut self) -> Result<(u8, Option<u64>), ImportError> {
        let (ty, size) = self.basic_type()?;
        if ty == TYPE_OBJECT {
            Ok((size, Some(self.id()?)))
        } else {
            self.skip(size.into())?;
            Ok((size, None))
        }
    }

    /// The header: magic string, identifier size, timestamp.
    fn header(&mut self) -> Result<(), ImportError> {
        let mut found = Vec::with_capacity(MAX_HEADER);
        loop {
            let b = match self.inp.array::<1>() {
                Ok([b]) => b,
                Err(Short::Eof { .. }) => {
                    return Err(if found.starts_with(super::HPROF_MAGIC_PREFIX) {
                        ImportError::Truncated {
                            at: self.at(),
                            needed: 1,
                        }
                    } else {
                        ImportError::NotHprof { found }
                    });
                }
                Err(e) => return Err(self.short(e)),
            };
            if b == 0 {
                break;
            }
            found.push(b);
            let n = found.len().min(super::HPROF_MAGIC_PREFIX.len());
            if found[..n] != super::HPROF_MAGIC_PREFIX[..n] || found.len() > MAX_HEADER {
                return Err(ImportError::NotHprof { found });
            }
        }
        if found.len() <= super::HPROF_MAGIC_PREFIX.len() {
            // "JAVA PROFILE 1.0.\0": no version digit.
            return Err(ImportError::NotHprof { found });
        }
        let size_at = self.at();
        let size = self.u4()?;
        if size != 4 && size != 8 {
            return Err(ImportError::UnsupportedIdSize { at: size_at, size });
        }
        self.id_size = size as u8;
        self.skip(8)?; // timestamp, ms since the epoch
        Ok(())
    }

    /// Reads one top-level record; false at the end of the input.
    fn record(&mut self) -> Result<bool, ImportError> {
        match self.inp.fill() {
            Ok([]) => return Ok(false),
            Ok(_) => {}
            Err(e) => return Err(self.short(e)),
        }
        self.record_offset = self.inp.pos;
        self.record = "record header";
        let t = self.u1()?;
        self.record = record_name(t);
        let _time = self.u4()?;
        let len = self.u4()?;
        if t == tag::HEAP_DUMP || t == tag::HEAP_DUMP_SEGMENT {
            self.saw_heap_dump = true;
            let parent = (self.record, self.record_offset);
            self.limit = self.inp.pos + u64::from(len);
            while self.inp.pos < self.limit {
                self.sub_record(parent)?;
                (self.record, self.record_offset) = parent;
            }
            self.limit = u64::MAX;
        } else {
            self.skip(len.into())?;
        }
        Ok(true)
    }

    /// Reads one heap-dump sub-record of the record `parent` (name, offset).
    fn sub_record(&mut self, parent: (&'static str, u64)) -> Result<(), ImportError> {
        let start = self.inp.pos;
        let t = self.u1()?;
        self.record = sub_record_name(t);
        self.record_offset = start;
        match t {
            sub::ROOT_UNKNOWN => self.root(RootKind::Unknown, 0, false),
            sub::ROOT_JNI_GLOBAL => {
                // The object, then the JNI global reference's own id.
                let id = self.id()?;
                self.id()?;
                self.count_root(RootKind::JniGlobal, id, None)
            }
            sub::ROOT_JNI_LOCAL => self.root(RootKind::JniLocal, 2, true),
            sub::ROOT_JAVA_FRAME => self.root(RootKind::JavaFrame, 2, true),
            sub::ROOT_NATIVE_STACK => self.root(RootKind::NativeStack, 1, true),
            sub::ROOT_STICKY_CLASS => self.root(RootKind::StickyClass, 0, false),
            sub::ROOT_THREAD_BLOCK => self.root(RootKind::ThreadBlock, 1, true),
            sub::ROOT_MONITOR_USED => self.root(RootKind::MonitorUsed, 0, false),
            // A thread object's serial names its thread, but the object is
            // reachable from outside the thread: a global.
            sub::ROOT_THREAD_OBJECT => self.root(RootKind::ThreadObject, 2, false),
            sub::ROOT_INTERNED_STRING => self.root(RootKind::InternedString, 0, false),
            sub::ROOT_FINALIZING => self.root(RootKind::Finalizing, 0, false),
            sub::ROOT_DEBUGGER => self.root(RootKind::Debugger, 0, false),
            sub::ROOT_REFERENCE_CLEANUP => self.root(RootKind::ReferenceCleanup, 0, false),
            sub::ROOT_VM_INTERNAL => self.root(RootKind::VmInternal, 0, false),
            sub::ROOT_JNI_MONITOR => self.root(RootKind::JniMonitor, 2, true),
            sub::UNREACHABLE => self.id().map(drop),
            sub::HEAP_DUMP_INFO => {
                self.u4()?; // heap id
                self.id().map(drop) // heap name string
            }
            sub::CLASS_DUMP => self.class_dump(),
            sub::INSTANCE_DUMP => self.instance_dump(),
            sub::OBJ_ARRAY_DUMP => self.obj_array_dump(),
            sub::PRIM_ARRAY_DUMP => self.prim_array_dump(true),
            sub::PRIM_ARRAY_NODATA => self.prim_array_dump(false),
            // No length to skip by: name the enclosing record instead.
            _ => Err(ImportError::UnknownSubRecord {
                at: Location {
                    offset: start,
                    record: parent.0,
                    record_offset: parent.1,
                },
                tag: t,
            }),
        }
    }

    /// A root sub-record: the object id, then `extra` u4 fields, the first
    /// of which is the thread serial if `on_stack`.
    fn root(&mut self, kind: RootKind, extra: u32, on_stack: bool) -> Result<(), ImportError> {
        let id = self.id()?;
        let mut thread = None;
        for i in 0..extra {
            let v = self.u4()?;
            if i == 0 && on_stack {
                thread = Some(u64::from(v));
            }
        }
        self.count_root(kind, id, thread)
    }

    /// Records a root of `kind` naming `id`, on `thread`'s stack or global.
    fn count_root(
        &mut self,
        kind: RootKind,
        id: u64,
        thread: Option<u64>,
    ) -> Result<(), ImportError> {
        *self.asm.report.root_kinds.entry(kind).or_insert(0) += 1;
        self.asm.root(id, thread)
    }

    /// Ends an object, failing if its id is already taken.
    fn define(&mut self, id: u64, size: u64, slot_start: usize) -> Result<(), ImportError> {
        if self.asm.define(id, size, slot_start)? {
            Ok(())
        } else {
            Err(ImportError::DuplicateId {
                at: self.at_offset(self.record_offset + 1),
                id,
            })
        }
    }

    fn class_dump(&mut self) -> Result<(), ImportError> {
        let id = self.id()?;
        self.u4()?; // stack trace serial
        let s = self.asm.slot_start();
        let superclass = self.id()?;
        self.asm.push_slot(superclass)?;
        for _ in 0..3 {
            // class loader, signers, protection domain
            let r = self.id()?;
            self.asm.push_slot(r)?;
        }
        self.id()?; // reserved
        self.id()?; // reserved
        self.u4()?; // instance size (the instances say their own)
        let mut bytes = 0u64;
        let constants = self.u2()?;
        for _ in 0..constants {
            self.u2()?; // constant pool index
            let (size, r) = self.value()?;
            bytes += u64::from(size);
            if let Some(r) = r {
                self.asm.push_slot(r)?;
            }
        }
        let statics = self.u2()?;
        for _ in 0..statics {
            self.id()?; // name
            let (size, r) = self.value()?;
            bytes += u64::from(size);
            if let Some(r) = r {
                self.asm.push_slot(r)?;
            }
        }
        let nfields = self.u2()?;
        let mut fields = Vec::with_capacity(nfields.into());
        for _ in 0..nfields {
            self.id()?; // name
            fields.push(self.basic_type()?.0);
        }
        self.define(id, HEADER_BYTES + 4 * u64::from(self.id_size) + bytes, s)?;
        self.classes.insert(
            id,
            ClassInfo {
                superclass,
                fields: fields.into_boxed_slice(),
            },
        );
        self.asm.report.classes += 1;
        Ok(())
    }

    /// The instance layout of `class`, computing and caching it if its
    /// chain is complete.
    fn layout(&mut self, class: u64) -> LayoutOf {
        if let Some(l) = self.layouts.get(&class) {
            return LayoutOf::Ready(l.clone());
        }
        let mut refs = Vec::new();
        let mut bytes = 0u64;
        let mut c = class;
        let mut depth = 0usize;
        while c != 0 {
            let Some(info) = self.classes.get(&c) else {
                return LayoutOf::Missing(c);
            };
            depth += 1;
            if depth > self.classes.len() {
                return LayoutOf::Cycle;
            }
            for &ty in info.fields.iter() {
                if ty == TYPE_OBJECT {
                    // Offsets past u32 cannot occur: a chain of at most
                    // classes.len() classes of at most 65535 fields of at
                    // most 8 bytes; saturate rather than trust that.
                    refs.push(u32::try_from(bytes).unwrap_or(u32::MAX));
                }
                bytes += u64::from(type_size(ty, self.id_size).unwrap_or(0));
            }
            c = info.superclass;
        }
        let l = Rc::new(Layout {
            bytes,
            refs: refs.into_boxed_slice(),
        });
        self.layouts.insert(class, l.clone());
        LayoutOf::Ready(l)
    }

    fn instance_dump(&mut self) -> Result<(), ImportError> {
        let id = self.id()?;
        self.u4()?; // stack trace serial
        let class = self.id()?;
        let n = u64::from(self.u4()?);
        self.need(n)?;
        match self.layout(class) {
            LayoutOf::Ready(layout) => {
                self.check_fields(&layout, class, n, self.at())?;
                let s = self.asm.slot_start();
                self.asm.push_slot(class)?;
                let mut cur = 0u64;
                for &off in layout.refs.iter() {
                    self.skip(u64::from(off) - cur)?;
                    let r = self.id()?;
                    self.asm.push_slot(r)?;
                    cur = u64::from(off) + u64::from(self.id_size);
                }
                self.skip(n - cur)?;
                self.define(id, HEADER_BYTES + n, s)?;
                self.asm.report.instances += 1;
            }
            LayoutOf::Cycle => {
                return Err(ImportError::ClassCycle {
                    at: self.at(),
                    class,
                })
            }
            LayoutOf::Missing(_) => {
                // Keep the fields until the class chain is dumped.
                let at = self.at();
                let mut fields = Vec::new();
                self.inp
                    .read_into(n, &mut fields)
                    .map_err(|e| self.short(e))?;
                self.deferred.push(Deferred {
                    id,
                    class,
                    fields: fields.into_boxed_slice(),
                    at,
                });
            }
        }
        Ok(())
    }

    fn check_fields(
        &self,
        layout: &Layout,
        class: u64,
        found: u64,
        at: Location,
    ) -> Result<(), ImportError> {
        if layout.bytes != found {
            return Err(ImportError::FieldBytesMismatch {
                at,
                class,
                expected: layout.bytes,
                found,
            });
        }
        Ok(())
    }

    /// Decodes the instances whose classes came after them.
    fn resolve_deferred(&mut self) -> Result<(), ImportError> {
        for d in std::mem::take(&mut self.deferred) {
            let layout = match self.layout(d.class) {
                LayoutOf::Ready(l) => l,
                LayoutOf::Missing(missing) => {
                    return Err(ImportError::UnknownClass {
                        at: d.at,
                        class: d.class,
                        missing,
                    })
                }
                LayoutOf::Cycle => {
                    return Err(ImportError::ClassCycle {
                        at: d.at,
                        class: d.class,
                    })
                }
            };
            self.check_fields(&layout, d.class, d.fields.len() as u64, d.at)?;
            let s = self.asm.slot_start();
            self.asm.push_slot(d.class)?;
            let w = usize::from(self.id_size);
            for &off in layout.refs.iter() {
                let off = off as usize;
                // In bounds: the layout's bytes equal the fields' length.
                let r = d.fields.get(off..off + w).map_or(0, |b| {
                    b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
                });
                self.asm.push_slot(r)?;
            }
            if !self
                .asm
                .define(d.id, HEADER_BYTES + d.fields.len() as u64, s)?
            {
                return Err(ImportError::DuplicateId {
                    at: Location {
                        offset: d.at.record_offset + 1,
                        ..d.at
                    },
                    id: d.id,
                });
            }
            self.asm.report.instances += 1;
        }
        Ok(())
    }

    fn obj_array_dump(&mut self) -> Result<(), ImportError> {
        let id = self.id()?;
        self.u4()?; // stack trace serial
        let n = u64::from(self.u4()?);
        let class = self.id()?;
        let bytes = n * u64::from(self.id_size);
        self.need(bytes)?;
        let s = self.asm.slot_start();
        self.asm.push_slot(class)?;
        for _ in 0..n {
            let r = self.id()?;
            self.asm.push_slot(r)?;
        }
        self.define(id, HEADER_BYTES + bytes, s)?;
        self.asm.report.object_arrays += 1;
        Ok(())
    }

    /// PRIM_ARRAY_DUMP, or Android's PRIMITIVE_ARRAY_NODATA without `data`.
    fn prim_array_dump(&mut self, data: bool) -> Result<(), ImportError> {
        let id = self.id()?;
        self.u4()?; // stack trace serial
        let n = u64::from(self.u4()?);
        let (ty, size) = self.basic_type()?;
        if ty == TYPE_OBJECT {
            return Err(ImportError::BadBasicType {
                at: self.at_offset(self.inp.pos - 1),
                ty,
            });
        }
        let bytes = n * u64::from(size);
        if data {
            self.skip(bytes)?;
        }
        let s = self.asm.slot_start();
        self.define(id, HEADER_BYTES + bytes, s)?;
        self.asm.report.primitive_arrays += 1;
        Ok(())
    }
}
