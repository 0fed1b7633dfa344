//! Importing HPROF dumps and edge lists: a heap dump made by the machine's
//! JDK checked against an independent reader, committed fixtures with known
//! reachable counts, malformed and truncated inputs, and random damage.

#[path = "support/hprof_reader.rs"]
mod hprof_reader;
#[path = "support/hprof_writer.rs"]
mod hprof_writer;

use gpumark::baseline::bfs_mark;
use gpumark::heap::{save_image_file, Heap};
use gpumark::import::*;
use gpumark::mark::mark_stw;
use hprof_reader::{Dump, Value};
use hprof_writer::{ClassDump, Writer};
use proptest::prelude::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Checks `bytes` against the committed fixture `name`, or rewrites the
/// fixture when `GPUMARK_WRITE_FIXTURES` is set.
fn check_fixture(name: &str, bytes: &[u8]) {
    if std::env::var_os("GPUMARK_WRITE_FIXTURES").is_some() {
        std::fs::write(fixture(name), bytes).expect("write fixture");
    }
    assert!(bytes.len() <= 4096, "{name} is {} bytes", bytes.len());
    assert!(
        read_fixture(name) == bytes,
        "tests/fixtures/{name} differs from what the test generates; \
         rerun with GPUMARK_WRITE_FIXTURES=1 if the change is intended"
    );
}

fn hprof(bytes: &[u8]) -> Result<Imported, ImportError> {
    import_hprof(
        bytes,
        &HprofOptions {
            keep_ids: true,
            ..HprofOptions::default()
        },
    )
}

fn edges(text: &[u8], roots: RootChoice) -> Result<Imported, ImportError> {
    import_edge_list(
        text,
        &EdgeListOptions {
            roots,
            keep_ids: true,
            ..EdgeListOptions::default()
        },
    )
}

/// Marks with every backend this build has (the CPU marker with one and two
/// workers, and the BFS floor), checks they agree, and returns the marked
/// objects' ids.
fn mark_all_backends(imp: &Imported) -> HashSet<u64> {
    let heap = Arc::new(clone_heap(&imp.heap));
    let one = mark_stw(&heap, 1);
    let two = mark_stw(&heap, 2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let bfs = bfs_mark(&heap, &pool);
    assert_eq!(one.marked, two.marked, "1 vs 2 workers");
    assert_eq!(one.marked, bfs.marked, "stw vs bfs");
    assert_eq!(one.bytes_marked, bfs.bytes_marked);
    assert_eq!(one.bits.snapshot(), two.bits.snapshot());
    assert_eq!(one.bits.snapshot(), bfs.bits.snapshot());
    let ids = imp.ids.as_ref().expect("ids kept");
    (0..heap.len())
        .filter(|&i| one.bits.is_marked(i))
        .map(|i| ids[i as usize])
        .collect()
}

/// A copy of a heap through the image format (the heap is not Clone).
fn clone_heap(h: &Heap) -> Heap {
    let mut img = Vec::new();
    gpumark::heap::save_image(h, &mut img).expect("save");
    gpumark::heap::load_image(&img[..]).expect("load")
}

// ---------------------------------------------------------------------------
// The JDK's own heap dump
// ---------------------------------------------------------------------------

/// Whether `tool -version` runs.
fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Compiles and runs tests/java/GraphDump.java, which builds a known graph
/// and dumps its live heap; returns the dump's path, or `None` (having said
/// so) without a JDK. With `CI=true` a missing JDK fails instead: CI installs
/// one (Debian's `default-jdk-headless`).
fn java_dump(dir: &Path) -> Option<PathBuf> {
    if !(have("java") && have("javac")) {
        let msg = "java/javac not found: install a JDK (Debian: default-jdk-headless)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and {msg}");
        }
        eprintln!("SKIPPED java_heap_dump: {msg}");
        return None;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/GraphDump.java");
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("run JDK tool");
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new("javac").arg("-d").arg(dir).arg(&src));
    let dump = dir.join("graph.hprof");
    run(Command::new("java")
        .args([
            "-XX:+UseSerialGC",
            "-Xmx64m",
            "-XX:TieredStopAtLevel=1",
            "-cp",
        ])
        .arg(dir)
        .arg("GraphDump")
        .arg(&dump));
    Some(dump)
}

#[test]
fn java_heap_dump() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(path) = java_dump(dir.path()) else {
        return;
    };
    let bytes = std::fs::read(&path).expect("dump");
    let last = Arc::new(AtomicU64::new(0));
    let seen = last.clone();
    let opts = LoadOptions {
        hprof: HprofOptions {
            keep_ids: true,
            progress: Some(Arc::new(move |b| seen.store(b, Relaxed))),
        },
        ..LoadOptions::default()
    };
    assert_eq!(sniff(&path).unwrap(), Format::Hprof);
    let imp = load_heap_file(&path, None, &opts).expect("import");
    let r = &imp.report;
    assert_eq!(
        last.load(Relaxed),
        bytes.len() as u64,
        "progress ends at the file size"
    );
    assert_eq!(r.input_bytes, bytes.len() as u64);

    // The independent reader agrees on what the file holds.
    let dump = Dump::parse(&bytes);
    let all = dump.objects();
    assert_eq!(r.objects, all.len() as u64);
    assert_eq!(r.classes, dump.classes.len() as u64);
    assert_eq!(r.instances, dump.instances.len() as u64);
    assert_eq!(r.object_arrays, dump.obj_arrays.len() as u64);
    assert_eq!(r.primitive_arrays, dump.prim_arrays.len() as u64);
    assert_eq!(r.missing_refs, dump.missing_refs());
    assert_eq!(
        r.sizes_raised, 0,
        "8-byte ids: every dumped size holds its slots"
    );
    assert_eq!(r.root_kinds.values().sum::<u64>(), dump.roots.len() as u64);
    for kind in [
        RootKind::StickyClass,
        RootKind::ThreadObject,
        RootKind::JavaFrame,
    ] {
        assert!(r.root_kinds.get(&kind).is_some_and(|&n| n > 0), "{kind}");
    }

    // Marked == reachable by the independent pass, exactly, on every backend.
    let marked = mark_all_backends(&imp);
    let reach = dump.reachable();
    assert_eq!(marked.len(), reach.len());
    assert!(
        marked == reach,
        "marked set differs from the independent pass"
    );
    let fraction = marked.len() as f64 / all.len() as f64;
    eprintln!(
        "java dump: {} bytes, {} objects ({} classes, {} instances, {} object arrays, \
         {} primitive arrays), {} edges, {} roots, {} missing refs, reached {} = {:.4}%",
        bytes.len(),
        r.objects,
        r.classes,
        r.instances,
        r.object_arrays,
        r.primitive_arrays,
        r.edges,
        r.roots,
        r.missing_refs,
        marked.len(),
        100.0 * fraction
    );
    assert!(
        fraction > 0.99,
        "reached only {fraction}; unreached by kind: {:?}",
        unreached_histogram(&dump, &marked)
    );

    // The program's own graph is there and marked.
    let main = dump.class_named("GraphDump");
    let list_class = dump.class_named("GraphDump$ListNode");
    let list: Vec<u64> = dump
        .instances
        .iter()
        .filter(|(_, (c, _))| *c == list_class)
        .map(|(&id, _)| id)
        .collect();
    assert_eq!(list.len(), 10_000, "ListNode instances");
    let mut chain = 0;
    let mut node = dump.static_ref(main, "head");
    while node != 0 {
        assert!(marked.contains(&node));
        assert_eq!(dump.field(node, "value"), Value::Int(chain));
        chain += 1;
        node = match dump.field(node, "next") {
            Value::Ref(r) => r,
            v => panic!("next is {v:?}"),
        };
    }
    assert_eq!(chain, 10_000, "list length");

    let (tree, leaf) = (
        dump.class_named("GraphDump$TreeNode"),
        dump.class_named("GraphDump$Leaf"),
    );
    let count = |c: u64| dump.instances.values().filter(|(k, _)| *k == c).count();
    assert_eq!((count(tree), count(leaf)), (4095, 4096));
    for (&id, (c, _)) in &dump.instances {
        if *c == tree || *c == leaf {
            assert!(marked.contains(&id));
        }
        if *c == leaf {
            // Inherited fields decode after the leaf's own, in the order
            // TreeNode's CLASS_DUMP lists them.
            let names: Vec<String> = dump.fields(id).into_iter().map(|f| f.0).collect();
            let mut want = vec!["payload".to_owned()];
            want.extend(dump.classes[&tree].fields.iter().map(|f| f.0.clone()));
            assert_eq!(names, want);
            assert_eq!(names.len(), 4);
        }
    }
    let array = dump.static_ref(main, "array");
    assert_eq!(dump.obj_arrays[&array].1.len(), 100);
    assert!(marked.contains(&array));
}

/// The most common kinds of object not reached, for a failure message.
fn unreached_histogram(dump: &Dump, marked: &HashSet<u64>) -> Vec<(String, usize)> {
    let mut h = std::collections::HashMap::<String, usize>::new();
    for id in dump.objects() {
        if marked.contains(&id) {
            continue;
        }
        let kind = if dump.classes.contains_key(&id) {
            "class".to_owned()
        } else if let Some((c, _)) = dump.instances.get(&id) {
            dump.class_names.get(c).cloned().unwrap_or_default()
        } else if let Some((c, _)) = dump.obj_arrays.get(&id) {
            dump.class_names.get(c).cloned().unwrap_or_default()
        } else {
            "primitive array".to_owned()
        };
        *h.entry(kind).or_default() += 1;
    }
    let mut v: Vec<_> = h.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v.truncate(12);
    v
}

// ---------------------------------------------------------------------------
// Committed HPROF fixtures
// ---------------------------------------------------------------------------

mod ids {
    pub const C_OBJECT: u64 = 0x100;
    pub const C_NODE: u64 = 0x110;
    pub const C_PAIR: u64 = 0x120;
    pub const C_ARR: u64 = 0x130;
    pub const C_DEF: u64 = 0x140;
    pub const C_UNUSED: u64 = 0x150;
    pub const I1: u64 = 0x1000;
    pub const I2: u64 = 0x1010;
    pub const I3: u64 = 0x1020;
    pub const P1: u64 = 0x1030;
    pub const L1: u64 = 0x1040;
    pub const T1: u64 = 0x1050;
    pub const U1: u64 = 0x1060;
    pub const U2: u64 = 0x1070;
    pub const D1: u64 = 0x1080;
    pub const A1: u64 = 0x2000;
    pub const B1: u64 = 0x3000;
    pub const S1: u64 = 0x3010;
    /// Absent from the dump: Pair's protection domain, an array element,
    /// and a root.
    pub const ABSENT: [u64; 3] = [0xdead0, 0xbeef0, 0xfeed0];
}

/// The tiny dump: every root kind, classes with a superclass chain, a class
/// loader, constant-pool and static references, an instance with inherited
/// fields, an instance dumped before its class (in the first segment, its
/// class in the second), arrays, an unreachable cycle and class, and three
/// references to absent ids. 18 objects, 15 reachable.
fn tiny_hprof(id4: bool) -> Writer {
    use ids::*;
    const OBJ: u8 = 2;
    const INT: u8 = 10;
    let mut w = Writer::new(id4);
    let names = [
        "java/lang/Object",
        "Node",
        "Pair",
        "[Ljava/lang/Object;",
        "Deferred",
        "Unused",
        "next",
        "value",
        "other",
        "flag",
        "head",
        "count",
        "ref",
    ];
    for (i, n) in names.iter().enumerate() {
        w.string(i as u64 + 1, n);
    }
    for (i, c) in [C_OBJECT, C_NODE, C_PAIR, C_ARR, C_DEF, C_UNUSED]
        .into_iter()
        .enumerate()
    {
        w.load_class(i as u32 + 1, c, i as u64 + 1);
    }
    // A record no parser knows, skipped by its length.
    w.begin("unknown record", 0x99);
    w.buf.extend_from_slice(b"skip me");
    w.end();

    w.begin("HEAP_DUMP_SEGMENT", 0x1C);
    w.root("ROOT_STICKY_CLASS", 0x05, C_OBJECT, &[]);
    w.root("ROOT_STICKY_CLASS", 0x05, C_NODE, &[]);
    w.sub("ROOT_JNI_GLOBAL", 0x01);
    w.id(P1);
    w.id(0x77); // the JNI global reference's own id
    w.root("ROOT_JNI_LOCAL", 0x02, I2, &[1, 0]);
    w.root("ROOT_JAVA_FRAME", 0x03, A1, &[1, 1]);
    w.root("ROOT_NATIVE_STACK", 0x04, B1, &[2]);
    w.root("ROOT_THREAD_BLOCK", 0x06, D1, &[2]);
    w.root("ROOT_MONITOR_USED", 0x07, I1, &[]);
    w.root("ROOT_THREAD_OBJECT", 0x08, T1, &[1, 0]);
    w.root("ROOT_UNKNOWN", 0xFF, ABSENT[2], &[]);
    let plain = |id, superclass| ClassDump {
        id,
        superclass,
        loader: 0,
        protection_domain: 0,
        constants: &[],
        statics: &[],
        fields: &[],
    };
    w.class_dump(&plain(C_OBJECT, 0));
    w.class_dump(&ClassDump {
        constants: &[(OBJ, S1), (11, 42)],
        statics: &[(11, OBJ, I1), (12, INT, 3)],
        fields: &[(7, OBJ), (8, INT)],
        ..plain(C_NODE, C_OBJECT)
    });
    w.class_dump(&ClassDump {
        loader: L1,
        protection_domain: ABSENT[0],
        fields: &[(9, OBJ), (10, 4)],
        ..plain(C_PAIR, C_NODE)
    });
    w.class_dump(&plain(C_ARR, C_OBJECT));
    w.class_dump(&plain(C_UNUSED, C_OBJECT));
    w.instance(I1, C_NODE, &[(OBJ, I2), (INT, 1)]);
    w.instance(I2, C_NODE, &[(OBJ, I3), (INT, 2)]);
    w.instance(I3, C_NODE, &[(OBJ, 0), (INT, 3)]);
    // Pair's own fields, then Node's.
    w.instance(P1, C_PAIR, &[(OBJ, A1), (4, 1), (OBJ, I1), (INT, 4)]);
    w.instance(L1, C_OBJECT, &[]);
    w.instance(T1, C_OBJECT, &[]);
    w.instance(U1, C_NODE, &[(OBJ, U2), (INT, 5)]);
    w.instance(U2, C_NODE, &[(OBJ, U1), (INT, 6)]);
    w.obj_array(A1, C_ARR, &[I3, 0, P1, ABSENT[1]]);
    w.prim_array(B1, 8, 5);
    w.prim_array(S1, 5, 3);
    w.instance(D1, C_DEF, &[(OBJ, I3)]);
    w.end();
    w.begin("HEAP_DUMP_SEGMENT", 0x1C);
    w.class_dump(&ClassDump {
        fields: &[(13, OBJ)],
        ..plain(C_DEF, C_OBJECT)
    });
    w.end();
    w.begin("HEAP_DUMP_END", 0x2C);
    w.end();
    w
}

const TINY_OBJECTS: u64 = 18;
const TINY_REACHABLE: usize = 15;

#[test]
fn tiny_hprof_fixtures_match_their_generator() {
    check_fixture("tiny.hprof", &tiny_hprof(false).buf);
    check_fixture("tiny-id4.hprof", &tiny_hprof(true).buf);
}

#[test]
fn tiny_hprof_imports_with_known_counts() {
    use ids::*;
    for (name, id4) in [("tiny.hprof", false), ("tiny-id4.hprof", true)] {
        let bytes = read_fixture(name);
        assert_eq!(sniff(fixture(name)).unwrap(), Format::Hprof);
        let imp = hprof(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let r = &imp.report;
        assert_eq!(r.format, Some(Format::Hprof));
        assert_eq!(r.objects, TINY_OBJECTS, "{name}");
        assert_eq!(
            (r.classes, r.instances, r.object_arrays, r.primitive_arrays),
            (6, 9, 1, 2)
        );
        // Classes 4+6+4+4+4+4 slots, instances 17, the array 5.
        assert_eq!(r.slots, 48);
        assert_eq!(r.edges, 27);
        assert_eq!((r.missing_refs, r.missing_roots), (3, 1));
        assert_eq!(r.roots, 9);
        assert_eq!(r.root_kinds.len(), 9, "every HotSpot root kind");
        assert_eq!(r.root_kinds[&RootKind::StickyClass], 2);
        assert_eq!(r.input_bytes, bytes.len() as u64);
        // 8-byte ids: sizes hold their slots; 4-byte ids: references take 4
        // bytes but slots count 8, so sizes are raised.
        assert_eq!(r.sizes_raised > 0, id4, "{name}");
        assert_eq!(r.bytes, imp.heap.allocated_bytes());

        // Thread-local roots are on per-thread stacks (threads 1 and 2).
        let stacks: Vec<usize> = imp
            .heap
            .stacks()
            .iter()
            .map(|s| s.snapshot().len())
            .collect();
        assert_eq!(stacks, [2, 2]);
        assert_eq!(imp.heap.globals().len(), 5);

        let marked = mark_all_backends(&imp);
        assert_eq!(marked.len(), TINY_REACHABLE, "{name}");
        for gone in [U1, U2, C_UNUSED] {
            assert!(!marked.contains(&gone));
        }
        // Reached only through the deferred instance, the class loader slot,
        // the constant pool, and a static field.
        for id in [C_DEF, L1, S1, I1] {
            assert!(marked.contains(&id), "{id:#x}");
        }
        let dump = Dump::parse(&bytes);
        assert!(marked == dump.reachable());
        assert_eq!(dump.missing_refs(), 3);

        // The slots of P1 are its class, then its own field, then Node's.
        let ids = imp.ids.as_ref().unwrap();
        let at = |id: u64| ids.iter().position(|&x| x == id).unwrap() as u32;
        let p1 = imp.heap.object(gpumark::heap::ObjRef(at(P1))).unwrap();
        assert_eq!(p1.nslots, 3);
        let slot = |i| {
            imp.heap
                .load(gpumark::heap::ObjRef(at(P1)), i)
                .unwrap()
                .map(|o| ids[o.0 as usize])
        };
        assert_eq!(
            [slot(0), slot(1), slot(2)],
            [Some(C_PAIR), Some(A1), Some(I1)]
        );
        if !id4 {
            // 16 + 8 (other) + 1 (flag) + 8 (next) + 4 (value).
            assert_eq!(p1.size, 37);
        }
    }
}

/// A malformed variant of the tiny dump, its expected error checked by `ok`.
struct Variant {
    name: &'static str,
    bytes: Vec<u8>,
}

fn variants() -> (Vec<Variant>, Writer) {
    let w = tiny_hprof(false);
    let inst = w.offset_of("INSTANCE_DUMP");
    let arr = w.offset_of("OBJ_ARRAY_DUMP");
    let mut badtag = w.buf.clone();
    badtag[arr] = 0x42;
    // The first segment claims 3 bytes fewer than it holds, so its last
    // sub-record runs past its end.
    let seg = w.offset_of("HEAP_DUMP_SEGMENT");
    let mut overrun = w.buf.clone();
    let len = u32::from_be_bytes(overrun[seg + 5..seg + 9].try_into().unwrap());
    overrun[seg + 5..seg + 9].copy_from_slice(&(len - 3).to_be_bytes());
    let v = vec![
        Variant {
            name: "tiny-truncated.hprof",
            bytes: w.buf[..inst + 10].to_vec(),
        },
        Variant {
            name: "tiny-badtag.hprof",
            bytes: badtag,
        },
        Variant {
            name: "tiny-overrun.hprof",
            bytes: overrun,
        },
    ];
    (v, w)
}

#[test]
fn malformed_hprof_errors_name_offset_and_record() {
    let (variants, w) = variants();
    let inst = w.offset_of("INSTANCE_DUMP") as u64;
    let arr = w.offset_of("OBJ_ARRAY_DUMP") as u64;
    let seg = w.offset_of("HEAP_DUMP_SEGMENT") as u64;
    for v in &variants {
        check_fixture(v.name, &v.bytes);
        let e = hprof(&read_fixture(v.name)).expect_err(v.name);
        let msg = e.to_string();
        eprintln!("{}: {msg}", v.name);
        match (v.name, &e) {
            ("tiny-truncated.hprof", ImportError::Truncated { at, needed }) => {
                assert_eq!(at.record, "INSTANCE_DUMP");
                assert_eq!(at.record_offset, inst);
                assert_eq!(at.offset, inst + 10);
                assert!(*needed > 0);
                assert!(
                    msg.contains("INSTANCE_DUMP") && msg.contains(&format!("byte {}", inst + 10))
                );
            }
            ("tiny-badtag.hprof", ImportError::UnknownSubRecord { at, tag: 0x42 }) => {
                assert_eq!(at.offset, arr);
                assert_eq!((at.record, at.record_offset), ("HEAP_DUMP_SEGMENT", seg));
                assert!(msg.contains(&format!("byte {arr}")) && msg.contains("0x42"));
            }
            ("tiny-overrun.hprof", ImportError::SubRecordOverrun { at, segment_end }) => {
                assert_eq!(
                    at.record, "INSTANCE_DUMP",
                    "D1 is the segment's last sub-record"
                );
                let len = u64::from(u32::from_be_bytes(
                    w.buf[seg as usize + 5..seg as usize + 9]
                        .try_into()
                        .unwrap(),
                ));
                assert_eq!(*segment_end, seg + 9 + len - 3);
                assert!(msg.contains("INSTANCE_DUMP"));
                assert_eq!(
                    at.record_offset,
                    w.marks.iter().rfind(|m| m.0 == "INSTANCE_DUMP").unwrap().1 as u64
                );
            }
            _ => panic!("{}: unexpected {e:?}", v.name),
        }
    }
}

#[test]
fn not_hprof_and_bad_headers() {
    assert!(matches!(
        hprof(b"JAVA PROFILE 9"),
        Err(ImportError::NotHprof { .. })
    ));
    assert!(matches!(hprof(b"hello"), Err(ImportError::NotHprof { .. })));
    assert!(matches!(
        hprof(b"JAVA PROFILE 1.0.2"),
        Err(ImportError::Truncated { .. })
    ));
    let mut b = b"JAVA PROFILE 1.0.2\0".to_vec();
    b.extend_from_slice(&2u32.to_be_bytes());
    b.extend_from_slice(&[0; 8]);
    match hprof(&b) {
        Err(ImportError::UnsupportedIdSize { at, size: 2 }) => assert_eq!(at.offset, 19),
        r => panic!("{:?}", r.map(|i| i.report)),
    }
}

/// Every prefix of the tiny dump: a clear error (a truncation names where the
/// input ended), never a panic; a cut between records is a shorter valid
/// file, so only those may import.
#[test]
fn every_truncation_of_tiny_hprof_is_a_clear_error() {
    let w = tiny_hprof(false);
    let seg2 = w
        .marks
        .iter()
        .filter(|m| m.0 == "HEAP_DUMP_SEGMENT")
        .nth(1)
        .unwrap()
        .1;
    for cut in 0..w.buf.len() {
        match hprof(&w.buf[..cut]) {
            Ok(_) => assert!(
                w.boundaries.contains(&cut) && cut > seg2,
                "cut {cut} imported"
            ),
            Err(ImportError::Truncated { at, .. }) => assert_eq!(at.offset, cut as u64),
            Err(ImportError::NotHprof { .. }) => assert!(cut < 18),
            Err(ImportError::NoHeapDump) => assert!(w.boundaries.contains(&cut)),
            // Cut after the first segment: D1's class never arrives.
            Err(ImportError::UnknownClass { class, .. }) => {
                assert_eq!(class, ids::C_DEF);
                assert!(w.boundaries.contains(&cut));
            }
            Err(e) => panic!("cut {cut}: {e}"),
        }
    }
}

#[test]
fn duplicate_ids_and_unknown_classes_are_errors() {
    let mut w = Writer::new(false);
    w.begin("HEAP_DUMP", 0x0C);
    w.prim_array(0x10, 8, 1);
    w.prim_array(0x10, 8, 1);
    w.end();
    match hprof(&w.buf) {
        Err(ImportError::DuplicateId { at, id: 0x10 }) => {
            assert_eq!(at.record, "PRIM_ARRAY_DUMP");
            assert_eq!(at.record_offset, w.marks[2].1 as u64);
        }
        r => panic!("{:?}", r.map(|i| i.report)),
    }
    let mut w = Writer::new(false);
    w.begin("HEAP_DUMP", 0x0C);
    w.instance(0x10, 0x99, &[]);
    w.end();
    assert!(matches!(
        hprof(&w.buf),
        Err(ImportError::UnknownClass {
            class: 0x99,
            missing: 0x99,
            ..
        })
    ));
    // A superclass cycle.
    let mut w = Writer::new(false);
    w.begin("HEAP_DUMP", 0x0C);
    for (id, sup) in [(0x1, 0x2), (0x2, 0x1)] {
        w.class_dump(&ClassDump {
            id,
            superclass: sup,
            loader: 0,
            protection_domain: 0,
            constants: &[],
            statics: &[],
            fields: &[],
        });
    }
    w.instance(0x10, 0x1, &[]);
    w.end();
    assert!(matches!(
        hprof(&w.buf),
        Err(ImportError::ClassCycle { class: 1, .. })
    ));
}

/// A lying element count fails before anything is reserved for it.
#[test]
fn huge_counts_fail_fast() {
    let mut w = Writer::new(false);
    w.begin("HEAP_DUMP", 0x0C);
    w.sub("OBJ_ARRAY_DUMP", 0x22);
    w.id(0x10);
    w.u4(0);
    w.u4(u32::MAX);
    w.id(0);
    w.end();
    assert!(matches!(
        hprof(&w.buf),
        Err(ImportError::SubRecordOverrun { .. })
    ));
}

// ---------------------------------------------------------------------------
// Edge lists
// ---------------------------------------------------------------------------

#[test]
fn tiny_edge_list_reachable_counts() {
    let text = read_fixture("tiny.edges");
    assert_eq!(sniff(fixture("tiny.edges")).unwrap(), Format::EdgeList);
    let cases: [(RootChoice, usize); 6] = [
        (RootChoice::InDegreeZero, 6),
        (RootChoice::Nodes(vec![900]), 2),
        (RootChoice::Nodes(vec![77, 3000]), 4),
        (RootChoice::Nodes(vec![]), 0),
        (RootChoice::Random { count: 9, seed: 1 }, 9),
        (
            RootChoice::Random {
                count: 100,
                seed: 1,
            },
            9,
        ),
    ];
    for (roots, want) in cases {
        let imp = edges(&text, roots.clone()).expect("import");
        let r = &imp.report;
        assert_eq!((r.objects, r.edges, r.slots), (9, 10, 10));
        assert_eq!(mark_all_backends(&imp).len(), want, "{roots:?}");
    }
    let imp = edges(&text, RootChoice::InDegreeZero).unwrap();
    assert_eq!(imp.report.roots, 1);
    assert_eq!(
        imp.ids.as_deref(),
        Some(&[u64::MAX, 42, 5, 1000, 2000, 3000, 77, 900, 901][..])
    );
    // Node 5 has two edges to 1000 (one line ends in \r\n): 16 + 2·8 bytes.
    let five = imp.heap.desc(2);
    assert_eq!((five.nslots, five.size), (2, 32));
    assert_eq!(imp.report.bytes, 9 * 16 + 10 * 8);
    let a = edges(&text, RootChoice::Random { count: 3, seed: 7 }).unwrap();
    let b = edges(&text, RootChoice::Random { count: 3, seed: 7 }).unwrap();
    let roots =
        |i: &Imported| -> Vec<u32> { i.heap.globals().iter().map(|g| g.load(Relaxed)).collect() };
    assert_eq!(roots(&a), roots(&b), "seeded");
    assert_eq!(roots(&a).len(), 3);
    assert!(matches!(
        edges(&text, RootChoice::Nodes(vec![4])),
        Err(ImportError::UnknownRootNode { node: 4 })
    ));
}

#[test]
fn bad_edge_list_line_names_line_and_content() {
    let e = edges(&read_fixture("bad-line.edges"), RootChoice::InDegreeZero).unwrap_err();
    match &e {
        ImportError::BadLine { line, content, .. } => {
            assert_eq!((*line, content.as_str()), (4, "12 x"));
        }
        _ => panic!("{e:?}"),
    }
    assert!(e.to_string().contains("line 4"), "{e}");
    let empty = edges(b"# nothing\n\n", RootChoice::InDegreeZero).unwrap();
    assert_eq!((empty.heap.len(), empty.report.roots), (0, 0));
    assert_eq!(mark_stw(&Arc::new(empty.heap), 1).marked, 0);
}

#[test]
fn load_heap_file_dispatches_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = edges(&read_fixture("tiny.edges"), RootChoice::InDegreeZero).unwrap();
    let img = dir.path().join("tiny.img");
    save_image_file(&tiny.heap, &img).unwrap();
    assert_eq!(sniff(&img).unwrap(), Format::GpumarkImage);
    let opts = LoadOptions::default();
    let from_img = load_heap_file(&img, None, &opts).unwrap();
    assert_eq!(from_img.report.format, Some(Format::GpumarkImage));
    assert_eq!(
        (
            from_img.report.objects,
            from_img.report.edges,
            from_img.report.roots
        ),
        (9, 10, 1)
    );
    let h = load_heap_file(fixture("tiny.hprof"), None, &opts).unwrap();
    assert_eq!(h.report.objects, TINY_OBJECTS);
    assert!(h.ids.is_none(), "ids only when asked for");
    let e = load_heap_file(fixture("tiny.edges"), Some(Format::EdgeList), &opts).unwrap();
    assert_eq!(e.report.objects, 9);
    // Forcing the wrong format is that format's error.
    assert!(matches!(
        load_heap_file(fixture("tiny.edges"), Some(Format::Hprof), &opts),
        Err(ImportError::NotHprof { .. })
    ));
    assert!(matches!(
        load_heap_file(dir.path().join("absent"), None, &opts),
        Err(ImportError::Open { .. })
    ));
}

#[test]
fn progress_reaches_the_end() {
    let text: String = (0..200_000u64)
        .map(|i| format!("{i} {}\n", i + 1))
        .collect();
    let calls = Arc::new(AtomicU64::new(0));
    let last = Arc::new(AtomicU64::new(0));
    let (c, l) = (calls.clone(), last.clone());
    let imp = import_edge_list(
        text.as_bytes(),
        &EdgeListOptions {
            progress: Some(Arc::new(move |b| {
                c.fetch_add(1, Relaxed);
                l.store(b, Relaxed);
            })),
            ..EdgeListOptions::default()
        },
    )
    .unwrap();
    assert_eq!(last.load(Relaxed), text.len() as u64);
    assert!(calls.load(Relaxed) > text.len() as u64 / PROGRESS_STEP);
    assert_eq!(mark_stw(&Arc::new(imp.heap), 2).marked, 200_001);
}

// ---------------------------------------------------------------------------
// Random damage
// ---------------------------------------------------------------------------

/// Imports damaged bytes with `f`; whatever it returns, a heap that comes back
/// must be one the marker can mark.
fn survives(result: Result<Imported, ImportError>) -> Result<(), TestCaseError> {
    if let Ok(imp) = result {
        let heap = Arc::new(imp.heap);
        let r = mark_stw(&heap, 1);
        let reach = gpumark::verify::reachable(&heap);
        prop_assert_eq!(r.marked, reach.count);
        prop_assert!(imp.report.objects == u64::from(heap.len()));
    } else if let Err(e) = result {
        prop_assert!(!e.to_string().is_empty());
    }
    Ok(())
}

fn damage(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    if !bytes.is_empty() {
        let n = bytes.len();
        for &(at, v) in edits {
            bytes[at % n] = v;
        }
    }
    if let Some(c) = cut {
        bytes.truncate(c % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn damaged_hprof_never_panics(
        which in 0usize..2,
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<usize>()),
    ) {
        let name = ["tiny.hprof", "tiny-id4.hprof"][which];
        let bytes = damage(read_fixture(name), &edits, cut);
        survives(hprof(&bytes))?;
    }

    #[test]
    fn damaged_edge_list_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
        seed in any::<u64>(),
    ) {
        let bytes = damage(read_fixture("tiny.edges"), &edits, cut);
        survives(edges(&bytes, RootChoice::Random { count: 3, seed }))?;
        survives(edges(&bytes, RootChoice::InDegreeZero))?;
    }
}
