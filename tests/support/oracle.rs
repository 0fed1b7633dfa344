//! A reachability oracle of the tests' own, independent of the library's
//! `verify`: at each mark termination it walks the roots and slots through
//! the public [`MarkTermination`] view and records every reachable object
//! the cycle left white, or that is not allocated at all (a sweep freed it
//! while it was still reachable), with the path that reaches it.

use gpumark::collector::{MarkTermination, MarkTerminationHook};
use gpumark::heap::ObjRef;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// What is wrong with a reachable object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The cycle left it white: the coming sweep would free it.
    White,
    /// It is not allocated: an earlier sweep freed it while it was
    /// reachable (its index may even be reused by now).
    NotAllocated,
    /// Its slots could not be read for another reason (the error's text).
    Unreadable(String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::White => f.write_str("left white"),
            Why::NotAllocated => f.write_str("not allocated (freed while reachable)"),
            Why::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

/// A live object a cycle lost, and how the oracle reached it.
#[derive(Clone, Debug)]
pub struct Lost {
    /// The cycle.
    pub cycle: u64,
    /// The object.
    pub obj: ObjRef,
    /// What is wrong with it.
    pub why: Why,
    /// The root and slots that lead to it, as text.
    pub path: String,
}

/// What the oracle saw over every cycle.
#[derive(Debug, Default)]
pub struct Findings {
    /// Cycles checked.
    pub cycles: u64,
    /// Reachable objects over all cycles (a sanity figure: it must grow).
    pub reachable: u64,
    /// Reachable objects left white, or not allocated.
    pub lost: Vec<Lost>,
}

impl Findings {
    /// Reachable objects found not allocated (a subset of `lost`).
    pub fn not_allocated(&self) -> usize {
        self.lost
            .iter()
            .filter(|l| l.why == Why::NotAllocated)
            .count()
    }

    /// Fails with the first lost object and its path, if any was lost.
    pub fn assert_none_lost(&self) {
        if let Some(l) = self.lost.first() {
            panic!(
                "{} live objects lost ({} of them not allocated); first: cycle {}, object {} {}, reached by {}",
                self.lost.len(),
                self.not_allocated(),
                l.cycle,
                l.obj.0,
                l.why,
                l.path
            );
        }
    }
}

/// A hook for `CollectorConfig::on_mark_termination` and what it finds.
pub fn oracle() -> (MarkTerminationHook, Arc<Mutex<Findings>>) {
    let f = Arc::new(Mutex::new(Findings::default()));
    let out = f.clone();
    let hook: MarkTerminationHook = Arc::new(move |t: &MarkTermination<'_>| {
        let (reachable, lost) = check(t);
        let mut f = out.lock().unwrap();
        f.cycles += 1;
        f.reachable += reachable;
        f.lost.extend(lost);
    });
    (hook, f)
}

/// Walks everything reachable from `t`'s roots; returns how many objects
/// were reached and those lost: left white, or not allocated (whose slots
/// are then not followed).
pub fn check(t: &MarkTermination<'_>) -> (u64, Vec<Lost>) {
    // Object -> (parent, how it was reached): enough to print a path.
    let mut seen: HashMap<ObjRef, (Option<ObjRef>, String)> = HashMap::new();
    let mut todo: Vec<ObjRef> = Vec::new();
    let mut visit =
        |o: Option<ObjRef>, parent: Option<ObjRef>, how: String, todo: &mut Vec<ObjRef>| {
            if let Some(o) = o {
                seen.entry(o).or_insert_with(|| {
                    todo.push(o);
                    (parent, how)
                });
            }
        };
    for (i, g) in t.globals().into_iter().enumerate() {
        visit(g, None, format!("global {i}"), &mut todo);
    }
    for (k, st) in t.stacks().into_iter().enumerate() {
        for (i, r) in st.into_iter().enumerate() {
            visit(r, None, format!("stack {k} root {i}"), &mut todo);
        }
    }
    let heap = t.heap();
    // Objects that are not what a reachable object must be, and why.
    let mut bad: Vec<(ObjRef, Why)> = Vec::new();
    while let Some(o) = todo.pop() {
        if !heap.is_allocated(o) {
            bad.push((o, Why::NotAllocated));
            continue;
        }
        match t.slots(o) {
            Ok(slots) => {
                for (i, v) in slots.into_iter().enumerate() {
                    visit(v, Some(o), format!("slot {i}"), &mut todo);
                }
            }
            Err(e) => bad.push((o, Why::Unreadable(e.to_string()))),
        }
    }
    let reported: std::collections::HashSet<ObjRef> = bad.iter().map(|&(o, _)| o).collect();
    for &o in seen.keys() {
        if !reported.contains(&o) && !t.is_marked(o) {
            bad.push((o, Why::White));
        }
    }
    let lost = bad
        .into_iter()
        .map(|(o, why)| {
            let mut path = Vec::new();
            let mut cur = Some(o);
            while let Some(c) = cur {
                let (p, how) = &seen[&c];
                path.push(format!("{how} -> {}", c.0));
                cur = *p;
            }
            path.reverse();
            Lost {
                cycle: t.cycle(),
                obj: o,
                why,
                path: path.join(", "),
            }
        })
        .collect();
    (seen.len() as u64, lost)
}
