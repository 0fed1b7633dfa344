//! A reachability oracle of the tests' own, independent of the library's
//! `verify`: at each mark termination it walks the roots and slots through
//! the public [`MarkTermination`] view and records every reachable object
//! the cycle left white, with the path that reaches it.

use gpumark::collector::{MarkTermination, MarkTerminationHook};
use gpumark::heap::ObjRef;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A live object a cycle left white, and how the oracle reached it.
#[derive(Clone, Debug)]
pub struct Lost {
    /// The cycle.
    pub cycle: u64,
    /// The object.
    pub obj: ObjRef,
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
    /// Reachable objects left white.
    pub lost: Vec<Lost>,
}

impl Findings {
    /// Fails with the first lost object and its path, if any was lost.
    pub fn assert_none_lost(&self) {
        if let Some(l) = self.lost.first() {
            panic!(
                "{} live objects left white; first: cycle {}, object {} reached by {}",
                self.lost.len(),
                l.cycle,
                l.obj.0,
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
/// were reached and those left white.
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
    while let Some(o) = todo.pop() {
        let slots = t.slots(o).unwrap_or_else(|e| {
            panic!(
                "cycle {}: reachable object {o:?} is not in the heap: {e}",
                t.cycle()
            )
        });
        for (i, v) in slots.into_iter().enumerate() {
            visit(v, Some(o), format!("slot {i}"), &mut todo);
        }
    }
    let mut lost = Vec::new();
    for &o in seen.keys() {
        if !t.is_marked(o) {
            let mut path = Vec::new();
            let mut cur = Some(o);
            while let Some(c) = cur {
                let (p, how) = &seen[&c];
                path.push(format!("{how} -> {}", c.0));
                cur = *p;
            }
            path.reverse();
            lost.push(Lost {
                cycle: t.cycle(),
                obj: o,
                path: path.join(", "),
            });
        }
    }
    (seen.len() as u64, lost)
}
