//! A tiny HPROF writer for the committed fixtures: the tests regenerate each
//! fixture and compare it with the committed bytes, so the files stay
//! explained by this code (set `GPUMARK_WRITE_FIXTURES=1` to rewrite them).

/// Writes HPROF records, remembering where each sub-record starts.
pub struct Writer {
    pub buf: Vec<u8>,
    id4: bool,
    /// (name, offset) of each sub-record and top-level record, in order.
    pub marks: Vec<(&'static str, usize)>,
    /// Offsets where a top-level record starts (and the end of the file):
    /// the only places a cut leaves a well-formed file.
    pub boundaries: Vec<usize>,
    open: Option<usize>,
}

impl Writer {
    pub fn new(id4: bool) -> Writer {
        let mut w = Writer {
            buf: b"JAVA PROFILE 1.0.2\0".to_vec(),
            id4,
            marks: Vec::new(),
            boundaries: Vec::new(),
            open: None,
        };
        w.u4(if id4 { 4 } else { 8 });
        w.u4(0x0000_0190);
        w.u4(0x1234_5678); // timestamp
        w.boundaries.push(w.buf.len());
        w
    }
    pub fn u1(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u2(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u4(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn id(&mut self, v: u64) {
        if self.id4 {
            self.u4(v as u32)
        } else {
            self.buf.extend_from_slice(&v.to_be_bytes())
        }
    }
    /// Opens a top-level record; [`Writer::end`] patches its length.
    pub fn begin(&mut self, name: &'static str, tag: u8) {
        assert!(self.open.is_none());
        self.marks.push((name, self.buf.len()));
        self.u1(tag);
        self.u4(0);
        self.u4(0);
        self.open = Some(self.buf.len());
    }
    pub fn end(&mut self) {
        let start = self.open.take().expect("open record");
        let len = (self.buf.len() - start) as u32;
        self.buf[start - 4..start].copy_from_slice(&len.to_be_bytes());
        self.boundaries.push(self.buf.len());
    }
    /// Starts a sub-record.
    pub fn sub(&mut self, name: &'static str, tag: u8) {
        self.marks.push((name, self.buf.len()));
        self.u1(tag);
    }
    pub fn string(&mut self, id: u64, s: &str) {
        self.begin("STRING", 0x01);
        self.id(id);
        self.buf.extend_from_slice(s.as_bytes());
        self.end();
    }
    pub fn load_class(&mut self, serial: u32, class: u64, name: u64) {
        self.begin("LOAD_CLASS", 0x02);
        self.u4(serial);
        self.id(class);
        self.u4(0);
        self.id(name);
        self.end();
    }
    /// The first offset of sub-record `name`.
    pub fn offset_of(&self, name: &str) -> usize {
        self.marks.iter().find(|m| m.0 == name).expect("mark").1
    }
}

/// A CLASS_DUMP's contents.
pub struct ClassDump<'a> {
    pub id: u64,
    pub superclass: u64,
    pub loader: u64,
    pub protection_domain: u64,
    /// (type, value) constant-pool entries.
    pub constants: &'a [(u8, u64)],
    /// (name string, type, value) static fields.
    pub statics: &'a [(u64, u8, u64)],
    /// (name string, type) instance fields.
    pub fields: &'a [(u64, u8)],
}

impl Writer {
    fn value(&mut self, ty: u8, v: u64) {
        match ty {
            2 => self.id(v),
            4 | 8 => self.u1(v as u8),
            5 | 9 => self.u2(v as u16),
            6 | 10 => self.u4(v as u32),
            _ => self.buf.extend_from_slice(&v.to_be_bytes()),
        }
    }
    pub fn class_dump(&mut self, c: &ClassDump) {
        self.sub("CLASS_DUMP", 0x20);
        self.id(c.id);
        self.u4(0);
        for v in [c.superclass, c.loader, 0, c.protection_domain, 0, 0] {
            self.id(v);
        }
        self.u4(0);
        self.u2(c.constants.len() as u16);
        for (i, &(ty, v)) in c.constants.iter().enumerate() {
            self.u2(i as u16 + 1);
            self.u1(ty);
            self.value(ty, v);
        }
        self.u2(c.statics.len() as u16);
        for &(name, ty, v) in c.statics {
            self.id(name);
            self.u1(ty);
            self.value(ty, v);
        }
        self.u2(c.fields.len() as u16);
        for &(name, ty) in c.fields {
            self.id(name);
            self.u1(ty);
        }
    }
    /// An instance whose field values are (type, value) in dump order.
    pub fn instance(&mut self, id: u64, class: u64, values: &[(u8, u64)]) {
        self.sub("INSTANCE_DUMP", 0x21);
        self.id(id);
        self.u4(0);
        self.id(class);
        let at = self.buf.len();
        self.u4(0);
        for &(ty, v) in values {
            self.value(ty, v);
        }
        let n = (self.buf.len() - at - 4) as u32;
        self.buf[at..at + 4].copy_from_slice(&n.to_be_bytes());
    }
    pub fn obj_array(&mut self, id: u64, class: u64, elems: &[u64]) {
        self.sub("OBJ_ARRAY_DUMP", 0x22);
        self.id(id);
        self.u4(0);
        self.u4(elems.len() as u32);
        self.id(class);
        for &e in elems {
            self.id(e);
        }
    }
    pub fn prim_array(&mut self, id: u64, ty: u8, len: u32) {
        self.sub("PRIM_ARRAY_DUMP", 0x23);
        self.id(id);
        self.u4(0);
        self.u4(len);
        self.u1(ty);
        for i in 0..len {
            self.value(ty, u64::from(i));
        }
    }
    /// A root sub-record with `extra` u4 fields after the id.
    pub fn root(&mut self, name: &'static str, tag: u8, id: u64, extra: &[u32]) {
        self.sub(name, tag);
        self.id(id);
        for &e in extra {
            self.u4(e);
        }
    }
}
