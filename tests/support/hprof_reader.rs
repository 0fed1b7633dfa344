//! An independent HPROF reader for the tests: the whole file in memory,
//! decoded into maps keyed by object id, with names, and the edge set
//! computed from the raw records. It shares no code with `gpumark::import`,
//! so the reachable set it computes checks the importer and the marker
//! together.

use std::collections::{HashMap, HashSet, VecDeque};

/// One CLASS_DUMP.
#[derive(Debug, Default)]
pub struct Class {
    pub superclass: u64,
    pub loader: u64,
    pub signers: u64,
    pub protection_domain: u64,
    pub constant_refs: Vec<u64>,
    /// Static fields: name and, for references, the id.
    pub statics: Vec<(String, Option<u64>)>,
    /// Instance fields: name and basic type.
    pub fields: Vec<(String, u8)>,
}

/// A field value, as far as the tests need one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Ref(u64),
    Int(i64),
}

/// A decoded HPROF file.
#[derive(Debug, Default)]
pub struct Dump {
    pub id_size: usize,
    pub class_names: HashMap<u64, String>,
    pub classes: HashMap<u64, Class>,
    pub instances: HashMap<u64, (u64, Vec<u8>)>,
    pub obj_arrays: HashMap<u64, (u64, Vec<u64>)>,
    pub prim_arrays: HashSet<u64>,
    pub roots: Vec<u64>,
}

struct Cur<'a> {
    b: &'a [u8],
    p: usize,
    id: usize,
}

impl Cur<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        s
    }
    fn be(&mut self, n: usize) -> u64 {
        self.take(n).iter().fold(0, |a, &x| a << 8 | u64::from(x))
    }
    fn id(&mut self) -> u64 {
        self.be(self.id)
    }
}

pub fn type_size(ty: u8, id: usize) -> usize {
    match ty {
        2 => id,
        4 | 8 => 1,
        5 | 9 => 2,
        6 | 10 => 4,
        7 | 11 => 8,
        t => panic!("basic type {t}"),
    }
}

impl Dump {
    /// Parses a well-formed dump; panics on anything else (test input).
    pub fn parse(b: &[u8]) -> Dump {
        let nul = b.iter().position(|&c| c == 0).expect("header");
        assert!(b.starts_with(b"JAVA PROFILE 1.0."));
        let mut c = Cur {
            b,
            p: nul + 1,
            id: 0,
        };
        let id = c.be(4) as usize;
        c.id = id;
        c.be(8);
        let mut d = Dump {
            id_size: id,
            ..Dump::default()
        };
        let mut strings = HashMap::new();
        let mut loaded = Vec::new();
        while c.p < b.len() {
            let tag = c.be(1) as u8;
            c.be(4);
            let len = c.be(4) as usize;
            let end = c.p + len;
            match tag {
                0x01 => {
                    let sid = c.id();
                    let s = String::from_utf8_lossy(c.take(end - c.p)).into_owned();
                    strings.insert(sid, s);
                }
                0x02 => {
                    c.be(4);
                    let class = c.id();
                    c.be(4);
                    loaded.push((class, c.id()));
                }
                0x0C | 0x1C => {
                    while c.p < end {
                        d.sub_record(&mut c, &strings);
                    }
                }
                _ => c.p = end,
            }
            assert_eq!(c.p, end, "record {tag:#x}");
        }
        for (class, name) in loaded {
            d.class_names
                .insert(class, strings.get(&name).cloned().unwrap_or_default());
        }
        d
    }

    fn sub_record(&mut self, c: &mut Cur, strings: &HashMap<u64, String>) {
        let tag = c.be(1) as u8;
        let name = |c: &mut Cur| strings.get(&c.id()).cloned().unwrap_or_default();
        match tag {
            0xFF | 0x05 | 0x07 => self.roots.push(c.id()),
            0x01 => {
                self.roots.push(c.id());
                c.id();
            }
            0x02 | 0x03 | 0x08 => {
                self.roots.push(c.id());
                c.be(8);
            }
            0x04 | 0x06 => {
                self.roots.push(c.id());
                c.be(4);
            }
            0x20 => {
                let id = c.id();
                c.be(4);
                let mut k = Class {
                    superclass: c.id(),
                    loader: c.id(),
                    signers: c.id(),
                    protection_domain: c.id(),
                    ..Class::default()
                };
                c.id();
                c.id();
                c.be(4);
                for _ in 0..c.be(2) {
                    c.be(2);
                    let ty = c.be(1) as u8;
                    let v = c.be(type_size(ty, c.id));
                    if ty == 2 {
                        k.constant_refs.push(v);
                    }
                }
                for _ in 0..c.be(2) {
                    let n = name(c);
                    let ty = c.be(1) as u8;
                    let v = c.be(type_size(ty, c.id));
                    k.statics.push((n, (ty == 2).then_some(v)));
                }
                for _ in 0..c.be(2) {
                    let n = name(c);
                    k.fields.push((n, c.be(1) as u8));
                }
                assert!(self.classes.insert(id, k).is_none());
            }
            0x21 => {
                let id = c.id();
                c.be(4);
                let class = c.id();
                let n = c.be(4) as usize;
                self.instances.insert(id, (class, c.take(n).to_vec()));
            }
            0x22 => {
                let id = c.id();
                c.be(4);
                let n = c.be(4);
                let class = c.id();
                let elems = (0..n).map(|_| c.id()).collect();
                self.obj_arrays.insert(id, (class, elems));
            }
            0x23 => {
                let id = c.id();
                c.be(4);
                let n = c.be(4) as usize;
                let ty = c.be(1) as u8;
                c.take(n * type_size(ty, c.id));
                self.prim_arrays.insert(id);
            }
            t => panic!("sub-record {t:#x} at {}", c.p - 1),
        }
    }

    /// Every object id.
    pub fn objects(&self) -> HashSet<u64> {
        let mut s: HashSet<u64> = self.classes.keys().copied().collect();
        s.extend(self.instances.keys());
        s.extend(self.obj_arrays.keys());
        s.extend(self.prim_arrays.iter());
        s
    }

    /// An instance's fields with names, own class first, then up the chain.
    pub fn fields(&self, obj: u64) -> Vec<(String, Value)> {
        let (class, bytes) = &self.instances[&obj];
        let mut out = Vec::new();
        let mut c = Cur {
            b: bytes,
            p: 0,
            id: self.id_size,
        };
        let mut k = *class;
        while k != 0 {
            let class = &self.classes[&k];
            for (name, ty) in &class.fields {
                let v = c.be(type_size(*ty, self.id_size));
                out.push((
                    name.clone(),
                    if *ty == 2 {
                        Value::Ref(v)
                    } else {
                        Value::Int(v as i64)
                    },
                ));
            }
            k = class.superclass;
        }
        assert_eq!(c.p, bytes.len(), "instance {obj:#x}");
        out
    }

    /// The edge set: the ids `obj` references (null included as 0).
    pub fn refs(&self, obj: u64) -> Vec<u64> {
        if let Some(k) = self.classes.get(&obj) {
            let mut v = vec![k.superclass, k.loader, k.signers, k.protection_domain];
            v.extend(&k.constant_refs);
            v.extend(k.statics.iter().filter_map(|s| s.1));
            v
        } else if let Some((class, _)) = self.instances.get(&obj) {
            let mut v = vec![*class];
            v.extend(self.fields(obj).into_iter().filter_map(|f| match f.1 {
                Value::Ref(r) => Some(r),
                Value::Int(_) => None,
            }));
            v
        } else if let Some((class, elems)) = self.obj_arrays.get(&obj) {
            let mut v = vec![*class];
            v.extend(elems);
            v
        } else {
            Vec::new()
        }
    }

    /// Objects reachable from the roots, breadth first.
    pub fn reachable(&self) -> HashSet<u64> {
        let all = self.objects();
        let mut seen = HashSet::new();
        let mut q: VecDeque<u64> = self
            .roots
            .iter()
            .copied()
            .filter(|r| all.contains(r))
            .collect();
        seen.extend(q.iter().copied());
        while let Some(o) = q.pop_front() {
            for r in self.refs(o) {
                if all.contains(&r) && seen.insert(r) {
                    q.push_back(r);
                }
            }
        }
        seen
    }

    /// References (slots and roots) to non-null ids absent from the dump.
    pub fn missing_refs(&self) -> u64 {
        let all = self.objects();
        let mut n = self
            .roots
            .iter()
            .filter(|r| **r != 0 && !all.contains(r))
            .count();
        for &o in &all {
            n += self
                .refs(o)
                .iter()
                .filter(|r| **r != 0 && !all.contains(r))
                .count();
        }
        n as u64
    }

    /// The class id named `name`.
    pub fn class_named(&self, name: &str) -> u64 {
        *self
            .class_names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .unwrap_or_else(|| panic!("no class {name}"))
            .0
    }

    /// The value of static field `field` of `class`.
    pub fn static_ref(&self, class: u64, field: &str) -> u64 {
        self.classes[&class]
            .statics
            .iter()
            .find(|s| s.0 == field)
            .and_then(|s| s.1)
            .unwrap_or_else(|| panic!("no static {field}"))
    }

    /// The value of field `field` of instance `obj`.
    pub fn field(&self, obj: u64, field: &str) -> Value {
        self.fields(obj)
            .into_iter()
            .find(|f| f.0 == field)
            .unwrap_or_else(|| panic!("no field {field}"))
            .1
    }
}
