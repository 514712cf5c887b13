//! Mutation fuzzing on the stable toolchain, for the parsers that read
//! outside text (nginx lines, CSV, Firebase JSON, the Kafka envelope, dates).
//!
//! Each parser's test feeds it [`cases`] inputs derived from a seed corpus of
//! real lines by random mutations (cuts, inserted quotes, separators, NULs,
//! line breaks, invalid UTF-8, duplicated and deleted spans), and checks its
//! invariants: no panic, and no lost row (every line read is kept, filtered
//! or rejected). Deterministic: a failure prints the case number and its
//! input, and replays with the same seed.

use crate::gen::rng::Rng;

/// Inputs per parser: `KVT_FUZZ_CASES` (default two million; the suite runs
/// in release mode, where two million cases take a few seconds per parser).
pub fn cases() -> u64 {
    std::env::var("KVT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

/// Bytes a mutation likes to insert: the separators and quotes parsers split on.
const SPICE: &[&[u8]] = &[
    b"\"",
    b"\"\"",
    b"\" ",
    b"\n",
    b"\r\n",
    b"\0",
    b",",
    b";",
    b"\t",
    b" ",
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b"\\",
    b"\xff",
    b"\xc3",
    b"\xe2\x82\xac",
    b"-",
    b".",
    b"0",
    b"9",
    b"null",
    b"\"x\":1",
    b"9999999999999999999999",
    b"-1",
    b"1e308",
    b"2026-13-45",
];

/// Random mutations of corpus inputs.
pub struct Mutator {
    rng: Rng,
    corpus: Vec<Vec<u8>>,
}

impl Mutator {
    pub fn new(seed: u64, corpus: &[&[u8]]) -> Mutator {
        Mutator {
            rng: Rng::new(seed),
            corpus: corpus.iter().map(|c| c.to_vec()).collect(),
        }
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.below(n.max(1) as u64) as usize
    }

    /// One input: a corpus entry (or two joined) with 0–4 mutations.
    pub fn input(&mut self) -> Vec<u8> {
        let i = self.below(self.corpus.len());
        let mut v = self.corpus[i].clone();
        if self.rng.chance(0.1) {
            let j = self.below(self.corpus.len());
            v.push(b'\n');
            v.extend_from_slice(&self.corpus[j]);
        }
        for _ in 0..self.below(5) {
            let at = self.below(v.len() + 1);
            match self.below(7) {
                0 => v.truncate(at),
                1 => {
                    let s = SPICE[self.below(SPICE.len())];
                    v.splice(at..at, s.iter().copied());
                }
                2 if at < v.len() => {
                    let end = (at + 1 + self.below(16)).min(v.len());
                    v.drain(at..end);
                }
                3 if at < v.len() => {
                    let end = (at + 1 + self.below(32)).min(v.len());
                    let dup: Vec<u8> = v[at..end].to_vec();
                    v.splice(at..at, dup);
                }
                4 if at < v.len() => v[at] = self.rng.next_u64() as u8,
                5 if at < v.len() => v[at] = v[at].wrapping_add(1),
                _ => {
                    let s = SPICE[self.below(SPICE.len())];
                    v.extend_from_slice(s);
                }
            }
        }
        v
    }
}

/// Run `check` on `cases()` mutated inputs; a panic or a failed check names
/// the case and shows its input.
pub fn run(name: &str, seed: u64, corpus: &[&[u8]], mut check: impl FnMut(&[u8])) {
    let mut m = Mutator::new(seed, corpus);
    for case in 0..cases() {
        let input = m.input();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        if let Err(e) = r {
            panic!(
                "{name}: case {case} (seed {seed}) failed on {:?}: {e:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}
