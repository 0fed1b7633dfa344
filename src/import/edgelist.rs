//! SNAP-style edge lists (the Stanford Large Network Dataset Collection's
//! text format) as gpumark heaps.
//!
//! # The format
//!
//! Text, one edge per line: a source and a target node id, unsigned 64-bit
//! decimal integers separated by spaces or tabs. Lines starting with `#`
//! (SNAP's header) or `%` (KONECT's, Matrix Market's) are comments; blank
//! lines are ignored; `\r\n` line ends are accepted. Anything else (one id,
//! three fields, a negative or non-numeric id) is an error naming the line
//! number and its content ([`ImportError::BadLine`]). Ids are arbitrary and
//! need not be dense.
//!
//! # The heap
//!
//! Each distinct node id is one object, numbered in order of first
//! appearance; each edge is one slot of its source, in file order, so an
//! object's slots are its out-edges and duplicate edges and self-loops are
//! kept as they are. An object's size is `16 + 8·outdegree` bytes: a header
//! and one word per pointer, the smallest honest object holding its slots.
//!
//! Roots are chosen by [`RootChoice`]: every node no edge points to (the
//! natural roots of a DAG; a graph where every node has a predecessor has
//! none), a given list of node ids (an id absent from the file is
//! [`ImportError::UnknownRootNode`]), or `count` distinct nodes drawn with a
//! seeded generator (all of them if `count` exceeds the node count). Roots
//! are global roots.
//!
//! # Memory
//!
//! A node's out-edges may be spread over the whole file, so edges are kept
//! as `(source, target)` index pairs (8 bytes each) until the end, then laid
//! out by source with one counting sort into the slot array (4 bytes each);
//! the pairs are freed before the heap is built. With the id map (see the
//! parent module), the peak is about `12·E + 40·N` bytes for `E` edges and
//! `N` nodes.

use super::{IdMap, ImportError, ImportReport, Imported, Input, Progress, Short, MAX_OBJECTS};
use crate::heap::{Heap, HeapConfig, WORD_BYTES};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::HashSet;
use std::fmt;
use std::io::Read;

use super::Format;

/// Bytes of object header in an edge-list object's size.
const HEADER_BYTES: u64 = 16;

/// The most characters of a bad line quoted in an error.
const QUOTE_CHARS: usize = 120;

/// Which nodes of an edge list are roots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootChoice {
    /// Every node with no incoming edge.
    #[default]
    InDegreeZero,
    /// These node ids, in this order.
    Nodes(Vec<u64>),
    /// `count` distinct nodes chosen uniformly with a generator seeded by
    /// `seed` (Xoshiro256++), listed in node order.
    Random {
        /// How many (all nodes if more than there are).
        count: u64,
        /// The generator's seed: the same seed and file give the same roots.
        seed: u64,
    },
}

/// Options for [`import_edge_list`].
#[derive(Clone, Default)]
pub struct EdgeListOptions {
    /// Which nodes are roots.
    pub roots: RootChoice,
    /// Called with the bytes read so far (see [`super::PROGRESS_STEP`]).
    pub progress: Option<Progress>,
    /// Keep each object's node id in [`Imported::ids`] (8 bytes per node).
    pub keep_ids: bool,
}

impl fmt::Debug for EdgeListOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeListOptions")
            .field("roots", &self.roots)
            .field("progress", &self.progress.as_ref().map(|_| "Fn(u64)"))
            .field("keep_ids", &self.keep_ids)
            .finish()
    }
}

/// Reads an edge list from `reader` (buffered internally) and builds its
/// heap; see the module documentation.
///
/// # Examples
///
/// ```
/// use gpumark::import::{import_edge_list, EdgeListOptions};
///
/// let text = "# a chain and a loop\n10 20\n20 30\n\n40 40\n";
/// let imp = import_edge_list(text.as_bytes(), &EdgeListOptions::default())?;
/// assert_eq!(imp.report.objects, 4);
/// assert_eq!(imp.report.edges, 3);
/// assert_eq!(imp.report.roots, 1); // node 10: 40 points at itself
/// # Ok::<(), gpumark::import::ImportError>(())
/// ```
pub fn import_edge_list(
    reader: impl Read,
    opts: &EdgeListOptions,
) -> Result<Imported, ImportError> {
    let mut inp = Input::new(reader, opts.progress.clone());
    let mut names = IdMap::default();
    let mut node_ids: Vec<u64> = Vec::new();
    let mut edges: Vec<(u32, u32)> = Vec::new();
    let mut line = Vec::new();
    let mut lineno = 0u64;
    let io = |e: Short, offset: u64| match e {
        Short::Io(source) => ImportError::Io { offset, source },
        // Lines end at the end of input; a short read cannot happen.
        Short::Eof { .. } => ImportError::Io {
            offset,
            source: std::io::ErrorKind::UnexpectedEof.into(),
        },
    };
    loop {
        match inp.line(&mut line) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(io(e, inp.pos)),
        }
        lineno += 1;
        let Some((src, dst)) = parse_line(&line, lineno)? else {
            continue;
        };
        if edges.len() as u64 >= u64::from(u32::MAX) {
            return Err(ImportError::TooLarge {
                what: "slots",
                limit: u64::from(u32::MAX),
            });
        }
        let s = node(&mut names, &mut node_ids, src)?;
        let d = node(&mut names, &mut node_ids, dst)?;
        edges.push((s, d));
    }
    inp.finish();

    let n = node_ids.len();
    let roots = match &opts.roots {
        RootChoice::InDegreeZero => {
            let mut has_pred = vec![false; n];
            for &(_, d) in &edges {
                has_pred[d as usize] = true;
            }
            (0..n as u32).filter(|&i| !has_pred[i as usize]).collect()
        }
        RootChoice::Nodes(list) => list
            .iter()
            .map(|&id| {
                names
                    .get(&id)
                    .copied()
                    .ok_or(ImportError::UnknownRootNode { node: id })
            })
            .collect::<Result<Vec<u32>, _>>()?,
        RootChoice::Random { count, seed } => sample(n as u64, *count, *seed),
    };
    drop(names);

    // Lay the edges out by source: a counting sort, stable in file order.
    let mut start = vec![0u32; n + 1];
    for &(s, _) in &edges {
        start[s as usize + 1] += 1;
    }
    let mut objects = Vec::with_capacity(n);
    let mut report = ImportReport {
        format: Some(Format::EdgeList),
        ..ImportReport::default()
    };
    for i in 0..n {
        let deg = start[i + 1];
        objects.push((object_size(deg, &mut report)?, deg));
        start[i + 1] += start[i];
    }
    let mut slots = vec![0u32; edges.len()];
    for &(s, d) in &edges {
        let at = &mut start[s as usize];
        slots[*at as usize] = d + 1;
        *at += 1;
    }
    drop(edges);
    drop(start);

    report.objects = n as u64;
    report.edges = slots.len() as u64;
    report.slots = slots.len() as u64;
    report.roots = roots.len() as u64;
    report.input_bytes = inp.pos;
    let globals = roots.into_iter().map(|r| r + 1).collect();
    let no_extra = HeapConfig {
        max_objects: 0,
        max_slots: 0,
        globals: 0,
    };
    let heap = Heap::from_parts(&objects, slots, globals, Vec::new(), no_extra);
    report.bytes = heap.allocated_bytes();
    Ok(Imported {
        heap,
        report,
        ids: opts.keep_ids.then_some(node_ids),
    })
}

/// The size of a node with `deg` out-edges: `16 + 8·deg`, clamped to
/// `u32::MAX` (and counted) when only the header does not fit.
fn object_size(deg: u32, report: &mut ImportReport) -> Result<u32, ImportError> {
    let min = u64::from(deg) * WORD_BYTES;
    if min > u64::from(u32::MAX) {
        return Err(ImportError::TooLarge {
            what: "slots in one object",
            limit: u64::from(u32::MAX) / WORD_BYTES,
        });
    }
    let size = min + HEADER_BYTES;
    report.bytes += size;
    Ok(u32::try_from(size).unwrap_or_else(|_| {
        report.sizes_clamped += 1;
        u32::MAX
    }))
}

/// The index of node `id`, numbering it if new.
fn node(names: &mut IdMap, ids: &mut Vec<u64>, id: u64) -> Result<u32, ImportError> {
    if let Some(&i) = names.get(&id) {
        return Ok(i);
    }
    if ids.len() as u64 >= MAX_OBJECTS {
        return Err(ImportError::TooLarge {
            what: "objects",
            limit: MAX_OBJECTS,
        });
    }
    let i = ids.len() as u32;
    names.insert(id, i);
    ids.push(id);
    Ok(i)
}

/// Parses one line: `Some((src, dst))`, or `None` for a comment or blank.
fn parse_line(raw: &[u8], lineno: u64) -> Result<Option<(u64, u64)>, ImportError> {
    let line = raw.trim_ascii();
    if line.is_empty() || line[0] == b'#' || line[0] == b'%' {
        return Ok(None);
    }
    let bad = |reason| ImportError::BadLine {
        line: lineno,
        content: quote(raw),
        reason,
    };
    let mut fields = line
        .split(|c| c.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let (Some(a), Some(b), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(bad("expected two node ids, `src dst`"));
    };
    let id = |f: &[u8]| {
        std::str::from_utf8(f)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("a node id is not an unsigned 64-bit decimal integer"))
    };
    Ok(Some((id(a)?, id(b)?)))
}

/// A line for an error message: lossy UTF-8, without its line end, cut to
/// [`QUOTE_CHARS`] characters.
fn quote(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let s = s.trim_end_matches(['\n', '\r']);
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// `min(count, n)` distinct indices below `n`, sorted, drawn uniformly with
/// Floyd's algorithm (one draw per chosen index, memory for the chosen only).
fn sample(n: u64, count: u64, seed: u64) -> Vec<u32> {
    let k = count.min(n);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut below = |m: u64| ((u128::from(rng.next_u64()) * u128::from(m)) >> 64) as u64;
    let mut chosen = HashSet::with_capacity(k.min(1 << 20) as usize);
    for j in n - k..n {
        let t = below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    let mut v: Vec<u32> = chosen.into_iter().map(|i| i as u32).collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_distinct_seeded_and_clamped() {
        let a = sample(100, 10, 7);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|&i| i < 100));
        assert_eq!(a, sample(100, 10, 7));
        assert_ne!(a, sample(100, 10, 8));
        assert_eq!(sample(5, 50, 1), vec![0, 1, 2, 3, 4]);
        assert!(sample(0, 3, 1).is_empty());
    }

    #[test]
    fn lines() {
        assert_eq!(parse_line(b"  # x\n", 1).unwrap(), None);
        assert_eq!(parse_line(b"\r\n", 1).unwrap(), None);
        assert_eq!(parse_line(b"1\t2\r\n", 1).unwrap(), Some((1, 2)));
        let e = parse_line(b"1 2 3\n", 7).unwrap_err();
        assert!(
            matches!(&e, ImportError::BadLine { line: 7, content, .. } if content == "1 2 3"),
            "{e}"
        );
        assert!(parse_line(b"-1 2", 1).is_err());
        assert!(parse_line(b"18446744073709551616 2", 1).is_err());
        let long = vec![b'x'; 500];
        match parse_line(&long, 1) {
            Err(ImportError::BadLine { content, .. }) => assert!(content.chars().count() <= 121),
            r => panic!("{r:?}"),
        }
    }
}
