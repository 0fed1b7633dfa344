//! Heap images: round trips, the documented byte layout, one test per
//! corruption class, and properties over random damage.

use gpumark::heap::*;
use proptest::prelude::*;
use std::sync::atomic::Ordering::Relaxed;

/// Everything an image preserves: descriptors, used slots, globals, stacks.
type Contents = (Vec<ObjDesc>, Vec<u32>, Vec<u32>, Vec<Vec<u32>>);

fn contents(h: &Heap) -> Contents {
    let descs = (0..h.len()).map(|i| h.desc(i)).collect();
    let slots = h.raw_slots()[..h.slots_len() as usize]
        .iter()
        .map(|s| s.load(Relaxed))
        .collect();
    let globals = h.globals().iter().map(|g| g.load(Relaxed)).collect();
    let stacks = h.stacks().iter().map(|s| s.snapshot()).collect();
    (descs, slots, globals, stacks)
}

fn save(h: &Heap) -> Vec<u8> {
    let mut out = Vec::new();
    save_image(h, &mut out).expect("save");
    out
}

fn load(bytes: &[u8]) -> Result<Heap, ImageError> {
    load_image(bytes)
}

/// Recomputes the trailing CRC after a deliberate edit.
fn fix_crc(img: &mut [u8]) {
    let end = img.len() - 4;
    let crc = crc32fast::hash(&img[..end]);
    img[end..].copy_from_slice(&crc.to_le_bytes());
}

fn put32(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(img: &mut [u8], at: usize, v: u64) {
    img[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Writes an image by hand, straight from the module documentation's table.
fn craft(
    objects: &[(u32, u32)],
    m: u64,
    slots: &[u32],
    globals: &[u32],
    stacks: &[&[u32]],
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"GPUMARK\0");
    v.extend_from_slice(&1u32.to_le_bytes());
    for c in [
        objects.len() as u64,
        m,
        globals.len() as u64,
        stacks.len() as u64,
    ] {
        v.extend_from_slice(&c.to_le_bytes());
    }
    for s in stacks {
        v.extend_from_slice(&(s.len() as u64).to_le_bytes());
    }
    for &(size, nslots) in objects {
        v.extend_from_slice(&size.to_le_bytes());
        v.extend_from_slice(&nslots.to_le_bytes());
    }
    for w in slots
        .iter()
        .chain(globals)
        .chain(stacks.iter().flat_map(|s| s.iter()))
    {
        v.extend_from_slice(&w.to_le_bytes());
    }
    let crc = crc32fast::hash(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

/// A small heap with every kind of content. Objects: A (24 bytes, 2 slots),
/// B (8, 0), C (16, 1); A -> B, A -> C, C -> A; globals [A, nil]; stacks
/// [[C, nil], []].
///
/// Layout: header 0..44, stack lengths 44..60, objects 60..84, slots 84..96,
/// globals 96..104, stack 0 104..112, stack 1 empty, checksum 112..116.
fn sample() -> Heap {
    let h = Heap::new(HeapConfig {
        max_objects: 8,
        max_slots: 8,
        globals: 2,
    });
    let a = h.alloc(24, 2).unwrap();
    let b = h.alloc(8, 0).unwrap();
    let c = h.alloc(16, 1).unwrap();
    h.store(a, 0, Some(b)).unwrap();
    h.store(a, 1, Some(c)).unwrap();
    h.store(c, 0, Some(a)).unwrap();
    h.set_global(0, Some(a)).unwrap();
    h.new_stack()
        .with(|s| s.extend([ObjRef::encode(Some(c)), 0]));
    h.new_stack();
    h
}

const SAMPLE_OBJECTS: usize = 60;
const SAMPLE_SLOTS: usize = 84;
const SAMPLE_GLOBALS: usize = 96;
const SAMPLE_STACK0: usize = 104;
const SAMPLE_CHECKSUM: usize = 112;

#[test]
fn sample_matches_the_documented_layout() {
    let img = save(&sample());
    let expected = craft(
        &[(24, 2), (8, 0), (16, 1)],
        3,
        &[2, 3, 1],
        &[1, 0],
        &[&[3, 0], &[]],
    );
    assert_eq!(img, expected);
    assert_eq!(img.len(), SAMPLE_CHECKSUM + 4);
}

#[test]
fn round_trip_every_shape() {
    for shape in Shape::ALL {
        let h = build(&ShapeSpec {
            shape,
            objects: 3000,
            ptrs: 3,
            roots: 16,
            seed: 11,
        });
        let img = save(&h);
        let back = load(&img).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
        assert_eq!(contents(&back), contents(&h), "{shape:?}");
        assert_eq!(back.allocated_bytes(), h.allocated_bytes());
        assert_eq!(back.edges(), h.edges());
        // The format is canonical: saving the loaded heap gives the same bytes.
        assert_eq!(save(&back), img, "{shape:?}");
    }
}

#[test]
fn heap_with_stacks_round_trips() {
    let h = sample();
    let back = load(&save(&h)).unwrap();
    assert_eq!(contents(&back), contents(&h));
    assert_eq!(back.stacks().len(), 2);
    assert_eq!(back.stacks()[0].snapshot(), vec![3, 0]);
    // A loaded heap is full: its capacity is exactly its contents.
    assert!(matches!(
        back.alloc(8, 0),
        Err(HeapError::HeapFull {
            what: "objects",
            ..
        })
    ));
}

#[test]
fn empty_heap_round_trips() {
    let h = Heap::new(HeapConfig {
        max_objects: 0,
        max_slots: 0,
        globals: 0,
    });
    let img = save(&h);
    assert_eq!(img.len(), 48);
    let back = load(&img).unwrap();
    assert_eq!(contents(&back), contents(&h));
}

#[test]
fn file_round_trip_and_errors_name_the_path() {
    let dir = std::env::temp_dir().join(format!("gpumark-image-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sample.img");
    let h = sample();
    save_image_file(&h, &path).unwrap();
    assert_eq!(contents(&load_image_file(&path).unwrap()), contents(&h));

    let mut img = std::fs::read(&path).unwrap();
    img[SAMPLE_SLOTS] ^= 0x40;
    std::fs::write(&path, &img).unwrap();
    let e = load_image_file(&path).unwrap_err();
    assert!(matches!(e, ImageError::File { .. }));
    assert!(matches!(e.innermost(), ImageError::ChecksumMismatch { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("sample.img") && msg.contains("checksum"),
        "{msg}"
    );

    let missing = dir.join("missing.img");
    let e = load_image_file(&missing).unwrap_err();
    assert!(matches!(e.innermost(), ImageError::Io(_)), "{e}");
    assert!(e.to_string().contains("missing.img"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_names_section_offset_and_sizes() {
    let img = save(&sample());
    // (cut at, section, section start, section length)
    let cases = [
        (0, ImageSection::Header, 0, 44),
        (5, ImageSection::Header, 0, 44),
        (30, ImageSection::Header, 0, 44),
        (50, ImageSection::StackLengths, 44, 16),
        (SAMPLE_OBJECTS + 10, ImageSection::Objects, 60, 24),
        (SAMPLE_SLOTS + 5, ImageSection::Slots, 84, 12),
        (SAMPLE_GLOBALS + 4, ImageSection::Globals, 96, 8),
        (SAMPLE_STACK0 + 7, ImageSection::Stack { index: 0 }, 104, 8),
        (SAMPLE_CHECKSUM + 3, ImageSection::Checksum, 112, 4),
    ];
    for (cut, section, offset, expected) in cases {
        let e = load(&img[..cut]).unwrap_err();
        match e {
            ImageError::Truncated {
                section: s,
                offset: o,
                expected: x,
                found,
            } => {
                assert_eq!(
                    (s, o, x, found),
                    (section, offset, expected, cut as u64 - offset)
                );
            }
            other => panic!("cut at {cut}: {other}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("starts at byte {offset}"))
                && msg.contains(&format!("at byte {cut}")),
            "{msg}"
        );
    }
}

#[test]
fn huge_counts_in_a_tiny_file_fail_fast_as_truncated() {
    let max = u64::from(u32::MAX);
    let mut img = craft(&[], 0, &[], &[], &[]);
    img.truncate(44);
    for at in [12, 20, 28, 36] {
        put64(&mut img, at, max);
    }
    let e = load(&img).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Truncated {
                section: ImageSection::StackLengths,
                offset: 44,
                expected,
                found: 0,
            } if expected == 8 * max
        ),
        "{e}"
    );
    // No stacks: the object table is where it runs out.
    put64(&mut img, 36, 0);
    let e = load(&img).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Truncated {
                section: ImageSection::Objects,
                expected,
                found: 0,
                ..
            } if expected == 8 * max
        ),
        "{e}"
    );
}

#[test]
fn bad_magic() {
    let mut img = save(&sample());
    img[0] = b'X';
    let e = load(&img).unwrap_err();
    assert!(matches!(&e, ImageError::BadMagic { found } if found == b"XPUMARK\0"));
    assert!(e.to_string().contains("XPUMARK"), "{e}");
    // A short foreign file is not an image either, rather than truncated.
    assert!(matches!(load(b"PK\x03"), Err(ImageError::BadMagic { .. })));
}

#[test]
fn unsupported_version() {
    let mut img = save(&sample());
    put32(&mut img, 8, 2);
    fix_crc(&mut img);
    let e = load(&img).unwrap_err();
    assert!(matches!(
        e,
        ImageError::UnsupportedVersion {
            found: 2,
            supported: IMAGE_VERSION
        }
    ));
    assert!(e.to_string().contains("version 2"), "{e}");
}

#[test]
fn checksum_mismatch() {
    let good = save(&sample());
    let stored = u32::from_le_bytes(good[SAMPLE_CHECKSUM..].try_into().unwrap());
    let mut img = good.clone();
    img[SAMPLE_GLOBALS] ^= 1;
    let e = load(&img).unwrap_err();
    match e {
        ImageError::ChecksumMismatch {
            offset,
            expected,
            computed,
        } => {
            assert_eq!((offset, expected), (SAMPLE_CHECKSUM as u64, stored));
            assert_eq!(computed, crc32fast::hash(&img[..SAMPLE_CHECKSUM]));
            assert_ne!(computed, expected);
        }
        ref other => panic!("{other}"),
    }
    assert!(e.to_string().contains("byte 112"), "{e}");
    // Damage to the checksum itself is a mismatch too.
    let mut img = good;
    img[SAMPLE_CHECKSUM + 2] ^= 0x80;
    assert!(matches!(
        load(&img),
        Err(ImageError::ChecksumMismatch { .. })
    ));
}

#[test]
fn trailing_bytes() {
    let mut img = save(&sample());
    img.push(0);
    let e = load(&img).unwrap_err();
    assert!(
        matches!(e, ImageError::TrailingBytes { offset: 116 }),
        "{e}"
    );
    assert!(e.to_string().contains("byte 116"), "{e}");
    // Two images back to back are not one image.
    let mut two = save(&sample());
    two.extend(save(&sample()));
    assert!(matches!(
        load(&two),
        Err(ImageError::TrailingBytes { offset: 116 })
    ));
}

#[test]
fn slot_out_of_range() {
    let mut img = save(&sample());
    // Object 0, slot 1: 4 objects' worth is one past the last object.
    put32(&mut img, SAMPLE_SLOTS + 4, 4);
    fix_crc(&mut img);
    let e = load(&img).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::SlotOutOfRange {
                object: 0,
                slot: 1,
                value: 4,
                objects: 3,
                offset: 88,
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("slot 1 of object 0") && msg.contains("byte 88") && msg.contains("3 objects"),
        "{msg}"
    );
    // The slot of the third object (its first and only).
    let mut img = save(&sample());
    put32(&mut img, SAMPLE_SLOTS + 8, u32::MAX);
    fix_crc(&mut img);
    assert!(matches!(
        load(&img),
        Err(ImageError::SlotOutOfRange {
            object: 2,
            slot: 0,
            value: u32::MAX,
            offset: 92,
            ..
        })
    ));
}

#[test]
fn global_out_of_range() {
    let mut img = save(&sample());
    put32(&mut img, SAMPLE_GLOBALS + 4, 9);
    fix_crc(&mut img);
    let e = load(&img).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::GlobalOutOfRange {
                index: 1,
                value: 9,
                objects: 3,
                offset: 100,
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("global root 1") && msg.contains("byte 100"),
        "{msg}"
    );
}

#[test]
fn stack_root_out_of_range() {
    let mut img = save(&sample());
    put32(&mut img, SAMPLE_STACK0 + 4, 4);
    fix_crc(&mut img);
    let e = load(&img).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::StackRootOutOfRange {
                stack: 0,
                index: 1,
                value: 4,
                objects: 3,
                offset: 108,
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("entry 1 of stack 0") && msg.contains("byte 108"),
        "{msg}"
    );
}

#[test]
fn save_refuses_what_load_would_reject() {
    // Stacks are raw vectors nobody validates; the saver does.
    let h = sample();
    h.stacks()[1].with(|s| s.push(77));
    let e = save_image(&h, std::io::sink()).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::StackRootOutOfRange {
                stack: 1,
                index: 0,
                value: 77,
                objects: 3,
                offset: 112,
            }
        ),
        "{e}"
    );
}

#[test]
fn object_too_small() {
    let mut img = save(&sample());
    // Object 0 has 2 slots; 15 bytes cannot hold them.
    put32(&mut img, SAMPLE_OBJECTS, 15);
    fix_crc(&mut img);
    let e = load(&img).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::ObjectTooSmall {
                object: 0,
                size: 15,
                nslots: 2,
                offset: 60,
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("object 0") && msg.contains("byte 60"), "{msg}");
}

#[test]
fn slot_count_mismatch() {
    // Objects claim 2 + 1 slots; the header (and the slot array) say 2.
    let img = craft(&[(16, 2), (8, 1)], 2, &[0, 0], &[], &[]);
    let e = load(&img).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::SlotCountMismatch {
                declared: 2,
                sum: 3,
                offset: 20,
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("byte 20"), "{e}");
    // Fewer slots claimed than present.
    let img = craft(&[(16, 1)], 2, &[0, 0], &[], &[]);
    assert!(matches!(
        load(&img),
        Err(ImageError::SlotCountMismatch {
            declared: 2,
            sum: 1,
            ..
        })
    ));
}

#[test]
fn counts_beyond_u32() {
    let big = u64::from(u32::MAX) + 1;
    for (at, count) in [
        (12, ImageCount::Objects),
        (20, ImageCount::Slots),
        (28, ImageCount::Globals),
        (36, ImageCount::Stacks),
    ] {
        let mut img = save(&sample());
        put64(&mut img, at, big);
        fix_crc(&mut img);
        let e = load(&img).unwrap_err();
        assert!(
            matches!(
                e,
                ImageError::CountTooLarge { count: c, value, limit, offset }
                    if c == count && value == big && limit == u64::from(u32::MAX)
                        && offset == at as u64
            ),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("byte {at}")), "{e}");
    }
    let mut img = save(&sample());
    put64(&mut img, 52, u64::MAX);
    let e = load(&img).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::CountTooLarge {
                count: ImageCount::StackLength { stack: 1 },
                value: u64::MAX,
                offset: 52,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("length of stack 1"), "{e}");
}

/// A random small heap: object sizes and slot counts, slot targets, globals
/// and stacks, all in range.
fn arb_heap() -> impl Strategy<Value = Heap> {
    (
        prop::collection::vec((0u32..4, 0u32..16), 0..24),
        0usize..4,
        prop::collection::vec(0usize..5, 0..4),
        any::<u64>(),
    )
        .prop_map(|(objs, nglobals, stack_lens, seed)| {
            let total: u32 = objs.iter().map(|o| o.0).sum();
            let h = Heap::new(HeapConfig {
                max_objects: objs.len() as u32,
                max_slots: total,
                globals: nglobals,
            });
            for &(nslots, pad) in &objs {
                h.alloc(nslots * 8 + pad, nslots).unwrap();
            }
            let n = h.len() as u64;
            let mut x = seed | 1;
            let mut next = move || {
                // xorshift: deterministic targets in 0..=n (0 is nil).
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % (n + 1)) as u32
            };
            for s in &h.raw_slots()[..total as usize] {
                s.store(next(), Relaxed);
            }
            for g in h.globals() {
                g.store(next(), Relaxed);
            }
            for len in stack_lens {
                h.new_stack().with(|s| s.extend((0..len).map(|_| next())));
            }
            h
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_heaps_round_trip(h in arb_heap()) {
        let img = save(&h);
        let back = load(&img).unwrap();
        prop_assert_eq!(contents(&back), contents(&h));
        prop_assert_eq!(save(&back), img);
    }

    #[test]
    fn a_flipped_byte_is_always_caught(
        h in arb_heap(),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut img = save(&h);
        let i = at.index(img.len());
        img[i] ^= mask;
        prop_assert!(load(&img).is_err());
    }

    #[test]
    fn truncation_is_always_caught(h in arb_heap(), at in any::<prop::sample::Index>()) {
        let img = save(&h);
        let cut = at.index(img.len());
        let e = load(&img[..cut]).unwrap_err();
        let is_truncated = matches!(e, ImageError::Truncated { .. });
        prop_assert!(is_truncated, "{}", e);
    }

    #[test]
    fn random_damage_never_loads_different_content(
        h in arb_heap(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        refresh_crc in any::<bool>(),
    ) {
        let orig = save(&h);
        let mut img = orig.clone();
        for (at, b) in &edits {
            let i = at.index(img.len());
            img[i] = *b;
        }
        if truncate {
            img.truncate(cut.index(img.len()).max(4));
        }
        if refresh_crc {
            // A writer's bug rather than damage: contents checks must hold.
            fix_crc(&mut img);
        }
        match load(&img) {
            Err(_) => {}
            Ok(back) => {
                // Whatever loads is exactly what the bytes say, and valid.
                prop_assert_eq!(save(&back), img.clone());
                if img == orig {
                    prop_assert_eq!(contents(&back), contents(&h));
                }
            }
        }
    }

    #[test]
    fn an_edited_pointer_loads_iff_it_names_an_object(
        h in arb_heap(),
        word in any::<prop::sample::Index>(),
        value in any::<prop::sample::Index>(),
    ) {
        // Slots, globals and stack entries are one run of u32 words from the
        // end of the object table to the checksum.
        let (descs, _, _, stacks) = contents(&h);
        let n = descs.len() as u32;
        let start = 44 + 8 * stacks.len() + 8 * descs.len();
        let mut img = save(&h);
        let words = (img.len() - 4 - start) / 4;
        prop_assume!(words > 0);
        let at = start + 4 * word.index(words);
        let v = value.index(n as usize + 3) as u32; // 0..=n+2
        put32(&mut img, at, v);
        fix_crc(&mut img);
        match load(&img) {
            Ok(back) => {
                prop_assert!(v <= n);
                prop_assert_eq!(save(&back), img);
            }
            Err(e) => {
                prop_assert!(v > n, "{}", e);
                let offset = match e {
                    ImageError::SlotOutOfRange { offset, value, .. }
                    | ImageError::GlobalOutOfRange { offset, value, .. }
                    | ImageError::StackRootOutOfRange { offset, value, .. } => {
                        prop_assert_eq!(value, v);
                        offset
                    }
                    other => return Err(TestCaseError::fail(other.to_string())),
                };
                prop_assert_eq!(offset, at as u64);
            }
        }
    }

    #[test]
    fn garbage_after_a_valid_prefix_never_panics(
        prefix_len in 0usize..60,
        tail in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut img = save(&sample());
        img.truncate(prefix_len.min(img.len()));
        img.extend(tail);
        let _ = load(&img);
    }
}
