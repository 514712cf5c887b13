//! Interned strings and pseudonyms for sources that buffer a whole run
//! (firebase, payments, orders): every repeated string (pseudonyms,
//! enumerations, bronze keys) is stored once and rows hold `u32` ids, so a
//! run of millions of events stays compact; the dictionary becomes one Arrow
//! array that every partition's frame gathers from.

use std::borrow::Cow;
use std::hash::{BuildHasherDefault, Hasher};

use polars::prelude::*;

use super::columns::{ByteArena, ChunkVec};
use super::pseudo::Pseudonymizer;

/// FxHash: fast, not DoS-resistant (keys are ids and enumerations of our own
/// bronze, not attacker-chosen at scale).
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl Fx {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Final avalanche so the top bits (used by the map) depend on every byte.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

pub type FxBuild = BuildHasherDefault<Fx>;

/// 64-bit hash of bytes (deduplication buckets; equal hashes are compared in full).
pub fn hash64(b: &[u8]) -> u64 {
    let mut h = Fx::default();
    h.write(b);
    h.finish()
}

/// "No value" in an id column.
pub const NULL: u32 = u32::MAX;

/// A set of strings, each with a dense `u32` id: bytes in a chunked arena,
/// an open-addressing table of ids (about `len + 16` bytes per string, no
/// allocation per string).
#[derive(Debug, Default)]
struct Interner {
    bytes: ByteArena,
    /// Arena handle and length of each id.
    spans: ChunkVec<(u32, u32)>,
    /// Ids by hash slot; [`NULL`] = empty. Length: 0 or a power of two.
    table: Vec<u32>,
}

impl Interner {
    fn len(&self) -> usize {
        self.spans.len()
    }

    fn bytes_of(&self, id: u32) -> &[u8] {
        match self.spans.get(id as usize) {
            Some(&(h, n)) => self.bytes.get(h, n as usize),
            None => &[],
        }
    }

    fn get(&self, id: u32) -> Option<&str> {
        let &(h, n) = self.spans.get(id as usize)?;
        std::str::from_utf8(self.bytes.get(h, n as usize)).ok()
    }

    /// The id of `s`, and whether it was new; `None` when full (4 GiB).
    fn intern(&mut self, s: &str) -> Option<(u32, bool)> {
        if (self.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let mask = self.table.len() - 1;
        let mut i = hash64(s.as_bytes()) as usize & mask;
        loop {
            match self.table[i] {
                NULL => {
                    let id = u32::try_from(self.len()).ok().filter(|&id| id != NULL)?;
                    let h = self.bytes.push(s.as_bytes())?;
                    self.spans.push((h, s.len() as u32));
                    self.table[i] = id;
                    return Some((id, true));
                }
                id if self.bytes_of(id) == s.as_bytes() => return Some((id, false)),
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(1024);
        let mut table = vec![NULL; size];
        for id in 0..self.len() as u32 {
            let mut i = hash64(self.bytes_of(id)) as usize & (size - 1);
            while table[i] != NULL {
                i = (i + 1) & (size - 1);
            }
            table[i] = id;
        }
        self.table = table;
    }
}

/// Interned strings of one run, and memoised pseudonyms (C6).
pub struct Strings {
    pseudo: Pseudonymizer,
    values: Interner,
    /// Raw ids seen, and the id of each one's pseudonym.
    raw: Interner,
    raw_pseudo: Vec<u32>,
}

impl Strings {
    pub fn new(pseudo: Pseudonymizer) -> Strings {
        Strings {
            pseudo,
            values: Interner::default(),
            raw: Interner::default(),
            raw_pseudo: Vec::new(),
        }
    }

    pub fn pseudonymizer(&self) -> &Pseudonymizer {
        &self.pseudo
    }

    /// The id of a string ([`NULL`] only if 4 GiB of distinct strings were seen).
    pub fn text(&mut self, s: &str) -> u32 {
        self.values.intern(s).map_or(NULL, |(id, _)| id)
    }

    /// The id of a trimmed, non-empty string; [`NULL`] otherwise.
    pub fn opt_text(&mut self, s: Option<&str>) -> u32 {
        match s.map(str::trim) {
            Some(t) if !t.is_empty() => self.text(t),
            _ => NULL,
        }
    }

    /// The id of `pseudo(raw)` (C6); empty, `-` and `null` give [`NULL`], as
    /// [`Pseudonymizer::id`] does.
    pub fn pseudo(&mut self, raw: &str) -> u32 {
        let Some((r, new)) = self.raw.intern(raw) else {
            return NULL;
        };
        if !new {
            return self.raw_pseudo.get(r as usize).copied().unwrap_or(NULL);
        }
        let id = match self.pseudo.id(Some(raw)) {
            Some(p) => self.text(&p),
            None => NULL,
        };
        self.raw_pseudo.push(id);
        id
    }

    /// The string of an id.
    pub fn get(&self, id: u32) -> Option<&str> {
        self.values.get(id)
    }

    /// Every string, as one dictionary array to gather from (index = id).
    pub fn dictionary(&self) -> StringChunked {
        StringChunked::from_iter_values(
            "dict".into(),
            (0..self.values.len() as u32).map(|i| self.values.get(i).unwrap_or_default()),
        )
    }

    /// Forget everything (end of a run).
    pub fn clear(&mut self) {
        self.values = Interner::default();
        self.raw = Interner::default();
        self.raw_pseudo = Vec::new();
    }
}

/// Trim; lower-case only when needed (no allocation in the usual case).
pub fn lower(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(t.to_ascii_lowercase())
    } else {
        Cow::Borrowed(t)
    }
}

/// Trim; upper-case only when needed.
pub fn upper(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(t.to_ascii_uppercase())
    } else {
        Cow::Borrowed(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pseudonymizer {
        Pseudonymizer::new(b"k")
    }
    #[test]
    fn interner_and_arena_hold_many_and_large_strings() {
        let mut st = Strings::new(p());
        let ids: Vec<u32> = (0..50_000)
            .map(|i| st.text(&format!("value-{i}")))
            .collect();
        assert_eq!(ids, (0..50_000).collect::<Vec<u32>>());
        assert_eq!(st.text("value-49999"), 49_999);
        assert_eq!(st.get(12_345), Some("value-12345"));
        let big = "x".repeat(3 << 20);
        let b = st.text(&big);
        assert_eq!(st.get(b), Some(big.as_str()));
        let after = st.text("after");
        assert_eq!(st.get(after), Some("after"));
        let d = st.dictionary();
        assert_eq!(d.len(), 50_002);
        assert_eq!(d.get(7), Some("value-7"));
        let mut a = ByteArena::default();
        let h1 = a.push(b"abc").unwrap();
        let h2 = a.push(&vec![7u8; 1 << 20]).unwrap();
        let h3 = a.push(b"de").unwrap();
        assert_eq!(a.get(h1, 3), b"abc");
        assert_eq!(a.get(h2, 1 << 20).len(), 1 << 20);
        assert_eq!(a.get(h3, 2), b"de");
    }
}
