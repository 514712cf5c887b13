//! What the CSV sources (crm, logistics, kyc) share: an RFC 4180 reader that
//! knows line numbers, column builders, and the staging area that
//! deduplicates rows across bronze objects before they are written.
//!
//! - [`decode`] + [`Reader`]: text in, records out. UTF-8 (a BOM is skipped,
//!   SILVER-CRM-1); a file that is not valid UTF-8 is read as Windows-1252 (the
//!   other encoding of French Excel exports). Fields may be quoted (`""` is a
//!   quote, separators and line breaks inside quotes are data); `\r\n` and `\n`
//!   end records; empty lines are skipped. Each record knows the line it starts
//!   on, so a rejected row points at its line in bronze.
//! - [`Table`]: typed column builders, in a source's schema order.
//! - [`Stage`]: every row of every object read in a run, kept as raw text per
//!   object; [`Stage::finish`] keeps the most recent row per business key
//!   (across partitions), parses only those rows into typed columns through
//!   the source's [`CsvRows`], and counts what it removed and what carries a
//!   quality flag.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;
use polars::prelude::*;

use super::dates::{fold_key, is_null_token};
use super::runner::Source;
use super::{epoch_days, Counts, Input, Reject};

/// Text of a bronze object: UTF-8 as is, otherwise Windows-1252 (encoding_rs).
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}

/// One record: its fields (unquoted, unescaped) and the line it starts on.
#[derive(Debug, Default)]
pub struct Record {
    buf: String,
    ends: Vec<usize>,
    /// 1-based line of the record's first character in the object.
    pub line: u64,
    /// Why the record is malformed (an unterminated quote), if it is.
    pub error: Option<String>,
    /// Byte range of the record in the reader's text (without its line end).
    start: usize,
    end: usize,
}

impl Record {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Field `i` (empty when out of range).
    pub fn get(&self, i: usize) -> &str {
        let Some(&end) = self.ends.get(i) else {
            return "";
        };
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.buf.get(start..end).unwrap_or("")
    }
    fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.error = None;
    }
    fn end_field(&mut self) {
        self.ends.push(self.buf.len());
    }
}

/// Lines a quoted field may span before it is taken for an unbalanced quote.
pub const MAX_QUOTED_LINES: u64 = 200;

/// RFC 4180 reader over one object's text (see the module doc).
///
/// Hand-written rather than the `csv` crate because of a requirement the
/// crate does not meet: an unbalanced quote must cost one record, not the
/// rest of the file (the crate reads a quoted field to the end of the input),
/// and every record must know the line it starts on for its reject.
///
/// One unbalanced quote must not swallow the rest of a file: a quoted field
/// that runs to the end of the text, past [`MAX_QUOTED_LINES`] lines, or
/// across a line that reads on its own as a complete record (as many fields
/// as the header, quotes balanced) is unterminated. That record is returned
/// with an error, and reading resumes on the line after the one it started on.
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    line: u64,
    sep: u8,
    /// Fields of a record (the header's), once known.
    width: Option<usize>,
}

impl<'a> Reader<'a> {
    /// `sep` must be ASCII (`,` or `;`).
    pub fn new(text: &'a str, sep: u8) -> Reader<'a> {
        Reader {
            text: text.strip_prefix('\u{feff}').unwrap_or(text),
            pos: 0,
            line: 1,
            sep,
            width: None,
        }
    }

    /// Records have `n` fields (the header's): a line that reads as such a
    /// record ends an unterminated quoted field before it.
    pub fn expect_width(&mut self, n: usize) {
        self.width = Some(n);
    }

    /// Does the line starting at `at` read on its own as a complete record?
    fn is_record_line(&self, at: usize) -> bool {
        let Some(width) = self.width else {
            return false;
        };
        let b = self.text.as_bytes();
        let Some(rest) = b.get(at..) else {
            return false;
        };
        let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        let (mut fields, mut quoted, mut field_start) = (1, false, true);
        for &c in line {
            match c {
                b'"' if quoted => quoted = false,
                b'"' if field_start => quoted = true,
                b'"' => return false,
                c if c == self.sep && !quoted => {
                    fields += 1;
                    field_start = true;
                    continue;
                }
                _ => {}
            }
            field_start = false;
        }
        !quoted && fields == width
    }

    /// Is the quoted text `from..to` (which started on line `opened`) the
    /// end of an unbalanced quote? Checks each line break it holds.
    fn runs_away(&self, from: usize, to: usize, opened: u64) -> Option<String> {
        let b = self.text.as_bytes();
        let mut line = self.line;
        for nl in memchr::memchr_iter(b'\n', b.get(from..to).unwrap_or_default()) {
            line += 1;
            if line - opened >= MAX_QUOTED_LINES {
                return Some(format!(
                    "unterminated quoted field: the quote is still open {MAX_QUOTED_LINES} lines later"
                ));
            }
            if self.is_record_line(from + nl + 1) {
                return Some(format!(
                    "unterminated quoted field: the quote is still open at line {line}, which reads as a record of its own"
                ));
            }
        }
        None
    }

    /// End `rec` as malformed at the end of its first line; reading resumes
    /// on the next line.
    fn resync(&mut self, rec: &mut Record, why: String) -> bool {
        let b = self.text.as_bytes();
        let end = memchr::memchr(b'\n', &b[rec.start..]).map_or(b.len(), |k| rec.start + k);
        rec.error = Some(why);
        rec.end = end;
        self.pos = (end + 1).min(b.len());
        self.line = rec.line + 1;
        true
    }

    /// Append quoted text (which may hold line breaks) to the current field.
    fn push_quoted(&mut self, rec: &mut Record, from: usize, to: usize) {
        let s = self.text.get(from..to).unwrap_or("");
        self.line += memchr::memchr_iter(b'\n', s.as_bytes()).count() as u64;
        rec.buf.push_str(s);
    }

    /// The text of the record last read into `rec`.
    pub fn raw(&self, rec: &Record) -> &'a str {
        self.text.get(rec.start..rec.end).unwrap_or("")
    }

    /// Read the next record into `rec`; `false` at the end of the text.
    pub fn read(&mut self, rec: &mut Record) -> bool {
        let b = self.text.as_bytes();
        // Skip empty lines.
        loop {
            match b.get(self.pos..) {
                Some([b'\n', ..]) => {
                    self.pos += 1;
                    self.line += 1;
                }
                Some([b'\r', b'\n', ..]) => {
                    self.pos += 2;
                    self.line += 1;
                }
                Some([_, ..]) => break,
                _ => return false,
            }
        }
        rec.clear();
        rec.line = self.line;
        rec.start = self.pos;
        loop {
            // One field starts at self.pos.
            if b.get(self.pos) == Some(&b'"') {
                self.pos += 1;
                let opened = self.line;
                loop {
                    match memchr::memchr(b'"', &b[self.pos..]) {
                        None => {
                            return self.resync(
                                rec,
                                "unterminated quoted field: the quote is still open at the end of the file"
                                    .into(),
                            );
                        }
                        Some(k) => {
                            if let Some(why) = self.runs_away(self.pos, self.pos + k, opened) {
                                return self.resync(rec, why);
                            }
                            self.push_quoted(rec, self.pos, self.pos + k);
                            self.pos += k + 1;
                            if b.get(self.pos) == Some(&b'"') {
                                rec.buf.push('"');
                                self.pos += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
            }
            // Unquoted text (or what follows a closing quote, kept as is).
            let end = memchr::memchr2(self.sep, b'\n', &b[self.pos..])
                .map(|k| self.pos + k)
                .unwrap_or(b.len());
            let mut text_end = end;
            if text_end > self.pos && b[text_end - 1] == b'\r' && b.get(end) != Some(&self.sep) {
                text_end -= 1;
            }
            // Unquoted text stops at the line end: no line break inside.
            rec.buf
                .push_str(self.text.get(self.pos..text_end).unwrap_or(""));
            self.pos = end;
            rec.end_field();
            match b.get(self.pos) {
                Some(&c) if c == self.sep => self.pos += 1,
                Some(b'\n') => {
                    rec.end = self.pos;
                    self.pos += 1;
                    self.line += 1;
                    return true;
                }
                _ => {
                    rec.end = self.pos;
                    return true;
                }
            }
        }
    }
}

/// The separator of a CSV text: whichever of `;`, `,`, tab occurs most in
/// its first line (`default` when none does).
pub fn sniff_separator(text: &str, default: u8) -> u8 {
    let first = text.lines().next().unwrap_or("").as_bytes();
    let count = |c: u8| first.iter().filter(|&&b| b == c).count();
    [b';', b',', b'\t']
        .into_iter()
        .map(|c| (count(c), c))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, _)| *n)
        .map(|(_, c)| c)
        .unwrap_or(default)
}

/// Where each wanted column is in a header (matched by [`fold_key`]: case,
/// accents, spaces and underscores do not matter; extra columns are ignored).
pub fn header_positions(header: &Record, wanted: &[&str]) -> Vec<Option<usize>> {
    let mut key = String::new();
    let names: Vec<String> = (0..header.len())
        .map(|i| {
            fold_key(header.get(i), &mut key);
            key.clone()
        })
        .collect();
    wanted
        .iter()
        .map(|w| {
            fold_key(w, &mut key);
            names.iter().position(|n| *n == key)
        })
        .collect()
}

/// The fields of one data record, by wanted column (see [`read_rows`]).
pub struct Fields<'a> {
    rec: &'a Record,
    pos: &'a [Option<usize>],
    raw: &'a str,
    line: u64,
}

impl<'a> Fields<'a> {
    /// The value of wanted column `c` (empty when the header lacks it).
    pub fn get(&self, c: usize) -> &'a str {
        match self.pos.get(c) {
            Some(Some(i)) => self.rec.get(*i),
            _ => "",
        }
    }
    /// The line the record starts on in its bronze object.
    pub fn line(&self) -> u64 {
        self.line
    }
    /// The record as written (quotes and all).
    pub fn raw(&self) -> &'a str {
        self.raw
    }
}

/// Why a row is rejected: the field, and the reason (never the value).
pub type RowError = (&'static str, String);

/// What [`read_rows`] learnt about an object.
#[derive(Debug, Default)]
pub struct ReadInfo {
    /// `rows_in` and `rejected`.
    pub counts: Counts,
    pub sep: u8,
    /// Position of each wanted column in the header.
    pub pos: Vec<Option<usize>>,
}

/// Read every data record of one CSV object and hand the well-formed ones to
/// `row`. Rejected (with their line) without calling `row`: every record when
/// the header lacks a `required` column, records with an unterminated quote,
/// records with more or fewer fields than the header. `row` rejects a record
/// by returning the field and the reason.
pub fn read_rows(
    bytes: &[u8],
    bronze_key: &str,
    default_sep: u8,
    columns: &[&'static str],
    required: &[usize],
    rejects: &mut Vec<Reject>,
    mut row: impl FnMut(&Fields<'_>) -> Result<(), RowError>,
) -> ReadInfo {
    let mut info = ReadInfo::default();
    let text = decode(bytes);
    info.sep = sniff_separator(&text, default_sep);
    let mut reader = Reader::new(&text, info.sep);
    let mut rec = Record::default();
    if !reader.read(&mut rec) {
        return info;
    }
    let width = rec.len();
    reader.expect_width(width);
    info.pos = header_positions(&rec, columns);
    let missing = required
        .iter()
        .find(|&&c| info.pos.get(c).is_none_or(|p| p.is_none()))
        .map(|&c| columns[c]);
    while reader.read(&mut rec) {
        info.counts.rows_in += 1;
        let line = rec.line;
        let failed = if let Some(m) = missing {
            Some((m, "column missing from the header".to_string()))
        } else if let Some(e) = &rec.error {
            Some(("line", e.clone()))
        } else if rec.len() != width {
            Some((
                "line",
                format!("{} fields, the header has {width}", rec.len()),
            ))
        } else {
            row(&Fields {
                rec: &rec,
                pos: &info.pos,
                raw: reader.raw(&rec),
                line,
            })
            .err()
        };
        if let Some((field, reason)) = failed {
            info.counts.rejected += 1;
            rejects.push(Reject {
                bronze_key: bronze_key.to_string(),
                line,
                field: field.to_string(),
                reason,
            });
        }
    }
    info
}

/// Column types of a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    I32,
    F64,
    Date,
    /// Milliseconds since the epoch, UTC.
    Timestamp,
    /// Text with few distinct values (or values repeated many times, like
    /// pseudonymised customer ids): each distinct value is stored once, rows
    /// point at it. Written as an ordinary string column.
    Dict,
}

/// Distinct values of a [`Kind::Dict`] column and each row's value index.
struct Dict {
    name: PlSmallStr,
    map: PlHashMap<Box<str>, IdxSize>,
    values: StringChunkedBuilder,
    rows: Vec<IdxSize>,
}

const NULL_IDX: IdxSize = IdxSize::MAX;

impl Dict {
    fn finish(self) -> PolarsResult<Column> {
        let values = self.values.finish();
        let idx = IdxCa::from_iter_options(
            "".into(),
            self.rows.into_iter().map(|i| (i != NULL_IDX).then_some(i)),
        );
        let mut out = values.take(&idx)?;
        out.rename(self.name);
        Ok(out.into_column())
    }
}

enum Builder {
    Str(StringChunkedBuilder),
    Bool(BooleanChunkedBuilder),
    I32(PrimitiveChunkedBuilder<Int32Type>),
    F64(PrimitiveChunkedBuilder<Float64Type>),
    Date(PrimitiveChunkedBuilder<Int32Type>),
    Timestamp(PrimitiveChunkedBuilder<Int64Type>),
    Dict(Box<Dict>),
}

/// Typed column builders filled row by row, in schema order; `bronze_key` and
/// `bronze_line` are appended by [`Table::finish`].
pub struct Table {
    cols: Vec<Builder>,
    lines: Vec<i64>,
    origins: Vec<IdxSize>,
    cur: usize,
    misuse: Option<String>,
}

impl Table {
    pub fn new(schema: &[(&str, Kind)], capacity: usize) -> Table {
        let cols = schema
            .iter()
            .map(|&(name, kind)| {
                let n = PlSmallStr::from(name);
                match kind {
                    Kind::Str => Builder::Str(StringChunkedBuilder::new(n, capacity)),
                    Kind::Bool => Builder::Bool(BooleanChunkedBuilder::new(n, capacity)),
                    Kind::I32 => Builder::I32(PrimitiveChunkedBuilder::new(n, capacity)),
                    Kind::F64 => Builder::F64(PrimitiveChunkedBuilder::new(n, capacity)),
                    Kind::Date => Builder::Date(PrimitiveChunkedBuilder::new(n, capacity)),
                    Kind::Timestamp => {
                        Builder::Timestamp(PrimitiveChunkedBuilder::new(n, capacity))
                    }
                    Kind::Dict => Builder::Dict(Box::new(Dict {
                        name: n,
                        map: PlHashMap::default(),
                        values: StringChunkedBuilder::new("".into(), 64),
                        rows: Vec::with_capacity(capacity),
                    })),
                }
            })
            .collect();
        Table {
            cols,
            lines: Vec::with_capacity(capacity),
            origins: Vec::with_capacity(capacity),
            cur: 0,
            misuse: None,
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn next(&mut self, want: Kind) -> Option<&mut Builder> {
        let i = self.cur;
        self.cur += 1;
        let ok = matches!(
            (self.cols.get(i), want),
            (Some(Builder::Str(_)), Kind::Str)
                | (Some(Builder::Bool(_)), Kind::Bool)
                | (Some(Builder::I32(_)), Kind::I32)
                | (Some(Builder::F64(_)), Kind::F64)
                | (Some(Builder::Date(_)), Kind::Date)
                | (Some(Builder::Timestamp(_)), Kind::Timestamp)
                | (Some(Builder::Dict(_)), Kind::Dict)
        );
        if !ok {
            self.misuse
                .get_or_insert_with(|| format!("column {i} pushed as {want:?}"));
            return None;
        }
        self.cols.get_mut(i)
    }

    pub fn str(&mut self, v: Option<&str>) {
        if let Some(Builder::Str(b)) = self.next(Kind::Str) {
            b.append_option(v);
        }
    }
    pub fn bool(&mut self, v: Option<bool>) {
        if let Some(Builder::Bool(b)) = self.next(Kind::Bool) {
            b.append_option(v);
        }
    }
    pub fn i32(&mut self, v: Option<i32>) {
        if let Some(Builder::I32(b)) = self.next(Kind::I32) {
            b.append_option(v);
        }
    }
    pub fn f64(&mut self, v: Option<f64>) {
        if let Some(Builder::F64(b)) = self.next(Kind::F64) {
            b.append_option(v);
        }
    }
    pub fn date(&mut self, v: Option<NaiveDate>) {
        if let Some(Builder::Date(b)) = self.next(Kind::Date) {
            b.append_option(v.map(epoch_days));
        }
    }
    pub fn timestamp(&mut self, ms: Option<i64>) {
        if let Some(Builder::Timestamp(b)) = self.next(Kind::Timestamp) {
            b.append_option(ms);
        }
    }

    /// A [`Kind::Dict`] value.
    pub fn dict(&mut self, v: Option<&str>) {
        self.dict_with(v, str::to_string);
    }

    /// A [`Kind::Dict`] value computed from `key` (once per distinct key),
    /// e.g. the pseudonym of an id.
    pub fn dict_with(&mut self, key: Option<&str>, value: impl FnOnce(&str) -> String) {
        if let Some(Builder::Dict(d)) = self.next(Kind::Dict) {
            let i = match key {
                None => NULL_IDX,
                Some(k) => match d.map.get(k) {
                    Some(&i) => i,
                    None => {
                        let i = d.map.len() as IdxSize;
                        d.values.append_value(value(k));
                        d.map.insert(k.into(), i);
                        i
                    }
                },
            };
            d.rows.push(i);
        }
    }

    /// Close the row that came from line `line` of bronze object `origin`
    /// (an index into the `origins` given to [`Table::finish`]).
    pub fn end_row(&mut self, line: u64, origin: IdxSize) {
        if self.cur != self.cols.len() {
            self.misuse.get_or_insert_with(|| {
                format!(
                    "row with {} values for {} columns",
                    self.cur,
                    self.cols.len()
                )
            });
        }
        self.cur = 0;
        self.lines.push(line as i64);
        self.origins.push(origin);
    }

    /// The frame, with `bronze_key` (from `origins`, the bronze keys by
    /// object index) and `bronze_line` last.
    pub fn finish(self, origins: &StringChunked) -> PolarsResult<DataFrame> {
        if let Some(m) = self.misuse {
            return Err(PolarsError::ComputeError(
                format!("silver table built wrongly: {m}").into(),
            ));
        }
        let n = self.lines.len();
        let mut cols: Vec<Column> = Vec::with_capacity(self.cols.len() + 2);
        for b in self.cols {
            cols.push(match b {
                Builder::Str(b) => b.finish().into_column(),
                Builder::Bool(b) => b.finish().into_column(),
                Builder::I32(b) => b.finish().into_column(),
                Builder::F64(b) => b.finish().into_column(),
                Builder::Date(b) => b.finish().into_date().into_column(),
                Builder::Timestamp(b) => b
                    .finish()
                    .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                    .into_column(),
                Builder::Dict(d) => d.finish()?,
            });
        }
        let idx = IdxCa::from_vec("".into(), self.origins);
        let mut keys = origins.take(&idx)?;
        keys.rename("bronze_key".into());
        cols.push(keys.into_column());
        cols.push(Int64Chunked::from_vec("bronze_line".into(), self.lines).into_column());
        DataFrame::new(n, cols)
    }
}

/// Where a staged row goes and how it ranks (see [`Stage`]).
pub struct Admit<'a> {
    /// The business key (deduplication).
    pub key: &'a str,
    /// The partition path (`crm/pays=FR`).
    pub partition: Arc<str>,
    /// Ranked before the bronze order (most recent first); `None` is oldest.
    pub primary: Option<i64>,
}

/// A CSV source as the [`Stage`] sees it.
pub trait CsvRows: Send + Clone {
    /// CLI, state and bronze source name (`crm`).
    const NAME: &'static str;
    /// The one silver table written (`["crm"]`).
    const TABLES: &'static [&'static str];
    /// Separator when the header does not tell.
    const SEPARATOR: u8;
    /// Source columns read, by name (the others are never read).
    const COLUMNS: &'static [&'static str];
    /// Indices into `COLUMNS` without which no row can be read.
    const REQUIRED: &'static [usize];
    /// The silver columns, before `bronze_key` and `bronze_line`.
    const SCHEMA: &'static [(&'static str, Kind)];
    /// Whether [`Admit::primary`] is used (rows rank by it first).
    const RANKED: bool = false;
    /// Check a record and say where it goes; `Err` rejects it.
    fn admit<'a>(&mut self, f: &Fields<'a>) -> Result<Admit<'a>, RowError>;
    /// Push the silver values of a kept record (all `SCHEMA` columns, in
    /// order); `true` when the row carries a quality flag.
    fn build(&mut self, f: &Fields<'_>, t: &mut Table) -> bool;
}

/// The runner's view of a CSV source: its rules ([`CsvRows`]) and the
/// staging area. Every object is read whole (its header names the columns);
/// nothing is written before the end of the run, when [`Stage::finish`]
/// keeps the most recent row per key across every object read.
pub struct CsvSource<R> {
    rows: R,
    stage: Stage,
}

impl<R: CsvRows> CsvSource<R> {
    pub fn with_rows(rows: R) -> CsvSource<R> {
        CsvSource {
            rows,
            stage: Stage::new(),
        }
    }
}

impl<R: CsvRows> Source for CsvSource<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }
    fn tables(&self) -> &'static [&'static str] {
        R::TABLES
    }
    fn bronze_source(&self) -> &'static str {
        R::NAME
    }
    fn whole_objects(&self) -> bool {
        true
    }
    fn process(
        &mut self,
        input: &Input,
        _first_line: u64,
        block: &[u8],
        keep: Option<&BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        rejects: &mut Vec<Reject>,
    ) -> anyhow::Result<Counts> {
        Ok(self
            .stage
            .read(&mut self.rows, block, &input.key, keep, seen, rejects))
    }
    fn take(&mut self, all: bool) -> anyhow::Result<Vec<(String, DataFrame)>> {
        if !all {
            return Ok(Vec::new());
        }
        Ok(self.stage.finish(&mut self.rows)?)
    }
    fn finish_counts(&mut self) -> Counts {
        self.stage.take_counts()
    }
    fn verdict(&self, input: &Input, c: &Counts) -> Option<String> {
        unreadable_verdict(input, c)
    }
}

/// Exit 1 when not a single row of an object could be read (a changed
/// format, a wrong file in the folder): the data said no.
pub fn unreadable_verdict(input: &Input, c: &Counts) -> Option<String> {
    (c.rows_in > 0 && c.rejected == c.rows_in).then(|| {
        format!(
            "{}: none of its {} rows could be read (see the rejects)",
            input.key, c.rows_in
        )
    })
}

/// A row of a partition that the run does not rewrite: only what ranks it.
struct Shadow {
    key: String,
    primary: i64,
    object: u32,
    line: u32,
}

/// A staged row: its raw record, and its key (inside the record when the
/// record holds it as is, else copied after it), in one of the object's text
/// blocks.
struct StagedRow {
    block: u32,
    start: u32,
    rec_len: u32,
    key_start: u32,
    key_len: u32,
    line: u32,
    part: u32,
}

/// Rows per output frame (each frame is one Parquet part of its partition):
/// bounds the memory of each column and of each part's encoding.
pub const CHUNK_ROWS: usize = 256 * 1024;

/// Size of the blocks staged text is kept in: small enough for the allocator
/// to reuse freed blocks for the output columns built from them.
const BLOCK: usize = 1 << 20;

/// One bronze object's staged rows (raw text: the most compact form).
struct Staged {
    key: String,
    sep: u8,
    pos: Vec<Option<usize>>,
    blocks: Vec<String>,
    rows: Vec<StagedRow>,
    /// Primary rank of each row (empty for sources that rank by bronze order only).
    primary: Vec<i64>,
}

impl Staged {
    fn primary(&self, i: usize) -> i64 {
        self.primary.get(i).copied().unwrap_or(i64::MIN)
    }

    /// Stage a record; returns (block, record start, key start).
    fn push(&mut self, key: &str, raw: &str) -> (u32, u32, u32) {
        let inside = memchr::memmem::find(raw.as_bytes(), key.as_bytes());
        let need = raw.len() + if inside.is_some() { 0 } else { key.len() };
        if self
            .blocks
            .last()
            .is_none_or(|b| b.capacity() - b.len() < need)
        {
            self.blocks.push(String::with_capacity(need.max(BLOCK)));
        }
        let block = self.blocks.len() - 1;
        let b = &mut self.blocks[block];
        let start = b.len();
        b.push_str(raw);
        let key_start = match inside {
            Some(at) => start + at,
            None => {
                b.push_str(key);
                start + raw.len()
            }
        };
        (block as u32, start as u32, key_start as u32)
    }

    fn key(&self, r: &StagedRow) -> &str {
        let s = r.key_start as usize;
        self.blocks
            .get(r.block as usize)
            .and_then(|b| b.get(s..s + r.key_len as usize))
            .unwrap_or("")
    }

    fn record(&self, r: &StagedRow) -> &str {
        let s = r.start as usize;
        self.blocks
            .get(r.block as usize)
            .and_then(|b| b.get(s..s + r.rec_len as usize))
            .unwrap_or("")
    }
}

/// Every row of every CSV object read in a run, kept as raw text until the
/// end of the run, when each business key keeps one row and only those rows
/// are parsed into typed columns.
///
/// The row kept for a key is the greatest by (`primary` — null is the oldest
/// —, bronze key of its object, line): the most recent business date, then the
/// later file, then the later row. Keys are compared across partitions, so a
/// row that moved partition still replaces its older version (also when the
/// newer one lives in a partition this run does not rewrite: a "shadow").
///
/// Output rows are in (bronze key, line) order — canonical, whatever order the
/// objects were read in — which lets each object's text be freed as soon as
/// its rows are built: peak memory is about the raw text of the run, then the
/// output frames, not both plus a sort.
#[derive(Default)]
pub struct Stage {
    objects: Vec<Staged>,
    names: Vec<Arc<str>>,
    index: PlHashMap<Arc<str>, u32>,
    shadows: Vec<Shadow>,
    counts: Counts,
}

/// The column listing fields whose value could not be read (a quality flag).
pub const INVALID_FIELDS: &str = "champs_invalides";

impl Stage {
    pub fn new() -> Stage {
        Stage::default()
    }

    /// Read one object: records are checked (`admit`) and staged, or rejected.
    /// Rows of partitions outside `keep` only rank their key (shadows); every
    /// partition met goes into `seen`. Returns `rows_in`, `rows_out` (staged),
    /// `rejected`.
    #[allow(clippy::too_many_arguments)]
    pub fn read<S: CsvRows>(
        &mut self,
        src: &mut S,
        bytes: &[u8],
        bronze_key: &str,
        keep: Option<&BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        rejects: &mut Vec<Reject>,
    ) -> Counts {
        let object = self.objects.len() as u32;
        let lines = memchr::memchr_iter(b'\n', bytes).count();
        let mut staged = Staged {
            key: bronze_key.to_string(),
            sep: 0,
            pos: Vec::new(),
            blocks: Vec::new(),
            rows: Vec::with_capacity(if keep.is_none() { lines } else { 0 }),
            primary: Vec::new(),
        };
        let mut met: Vec<bool> = Vec::new();
        let mut last: Option<(Arc<str>, u32)> = None;
        let Stage {
            names,
            index,
            shadows,
            ..
        } = self;
        let info = read_rows(
            bytes,
            bronze_key,
            S::SEPARATOR,
            S::COLUMNS,
            S::REQUIRED,
            rejects,
            |f| {
                let a = src.admit(f)?;
                // Sources hand out the same Arc for a partition: most rows
                // are found by pointer, without hashing the path.
                let part = match &last {
                    Some((p, i)) if Arc::ptr_eq(p, &a.partition) => *i,
                    _ => {
                        let i = match index.get(&a.partition) {
                            Some(&i) => i,
                            None => {
                                names.push(a.partition.clone());
                                index.insert(a.partition.clone(), (names.len() - 1) as u32);
                                (names.len() - 1) as u32
                            }
                        };
                        last = Some((a.partition.clone(), i));
                        i
                    }
                };
                if met.len() <= part as usize {
                    met.resize(part as usize + 1, false);
                }
                if !met[part as usize] {
                    met[part as usize] = true;
                    seen.insert(a.partition.to_string());
                }
                let line = u32::try_from(f.line()).unwrap_or(u32::MAX);
                let primary = a.primary.unwrap_or(i64::MIN);
                if keep.is_some_and(|k| !k.contains(&*a.partition)) {
                    shadows.push(Shadow {
                        key: a.key.to_string(),
                        primary,
                        object,
                        line,
                    });
                    return Ok(());
                }
                let (block, start, key_start) = staged.push(a.key, f.raw());
                staged.rows.push(StagedRow {
                    block,
                    start,
                    rec_len: f.raw().len() as u32,
                    key_start,
                    key_len: a.key.len() as u32,
                    line,
                    part,
                });
                if S::RANKED {
                    staged.primary.push(primary);
                }
                Ok(())
            },
        );
        staged.sep = info.sep;
        staged.pos = info.pos;
        staged.rows.shrink_to_fit();
        staged.primary.shrink_to_fit();
        let kept = staged.rows.len() as u64;
        self.objects.push(staged);
        Counts {
            rows_out: kept,
            ..info.counts
        }
    }

    /// Counts of the last [`Stage::finish`] (deduplicated, flagged), reset.
    pub fn take_counts(&mut self) -> Counts {
        std::mem::take(&mut self.counts)
    }

    /// Keep one row per key, build the kept rows' silver columns, and hand
    /// every partition over (sorted by partition path).
    pub fn finish<S: CsvRows>(&mut self, src: &mut S) -> PolarsResult<Vec<(String, DataFrame)>> {
        let objects = std::mem::take(&mut self.objects);
        let shadows = std::mem::take(&mut self.shadows);
        let names = std::mem::take(&mut self.names);
        self.index.clear();
        // Objects ranked by bronze key (file name, then version time).
        let mut order: Vec<usize> = (0..objects.len()).collect();
        order.sort_by(|&a, &b| objects[a].key.cmp(&objects[b].key));
        let mut rank = vec![0u32; objects.len()];
        for (r, &o) in order.iter().enumerate() {
            rank[o] = r as u32;
        }

        // 1. The best rank of every key, then which rows hold it.
        let mut per_part = vec![0usize; names.len()];
        let masks: Vec<Vec<bool>> = {
            let total: usize = objects.iter().map(|o| o.rows.len()).sum();
            let mut best: PlHashMap<&str, (i64, u32, u32)> =
                PlHashMap::with_capacity_and_hasher(total + shadows.len(), Default::default());
            for (o, st) in objects.iter().enumerate() {
                for (i, r) in st.rows.iter().enumerate() {
                    let k = st.key(r);
                    let v = (st.primary(i), rank[o], r.line);
                    best.entry(k).and_modify(|b| *b = (*b).max(v)).or_insert(v);
                }
            }
            for s in &shadows {
                let v = (s.primary, rank[s.object as usize], s.line);
                best.entry(s.key.as_str())
                    .and_modify(|b| *b = (*b).max(v))
                    .or_insert(v);
            }
            objects
                .iter()
                .enumerate()
                .map(|(o, st)| {
                    st.rows
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            let k = st.key(r);
                            let win = best.get(k) == Some(&(st.primary(i), rank[o], r.line));
                            if win {
                                per_part[r.part as usize] += 1;
                            }
                            win
                        })
                        .collect()
                })
                .collect()
        };
        let staged: usize = objects.iter().map(|o| o.rows.len()).sum();
        let kept: usize = per_part.iter().sum();
        self.counts.deduplicated += (staged - kept) as u64;

        // 2. Build the kept rows in bronze order, on two threads: the rows
        //    are cut in two halves at a text block, each half owning its
        //    objects' blocks, which it frees as it goes.
        let origins = StringChunked::from_iter_values(
            "bronze_key".into(),
            objects.iter().map(|o| o.key.as_str()),
        );
        let mut slots: Vec<Option<(Staged, Vec<bool>)>> =
            objects.into_iter().zip(masks).map(Some).collect();
        let ordered: Work = order
            .iter()
            .filter_map(|&o| slots[o].take().map(|(st, m)| (o, st, m)))
            .collect();
        let parallel = kept >= PARALLEL_MIN_ROWS;
        let (first, second) = if parallel {
            split_work(ordered, kept / 2)
        } else {
            (ordered, Vec::new())
        };
        let n = names.len();
        let ((tables, flagged), (tables2, flagged2)) = if parallel {
            let mut other = src.clone();
            std::thread::scope(|sc| {
                let h = sc.spawn(|| build_rows(&mut other, second, n));
                let a = build_rows(src, first, n);
                (a, h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            })
        } else {
            let a = build_rows(src, first, n);
            (a, build_rows(src, second, n))
        };
        self.counts.flagged += flagged + flagged2;

        // 3. Frames by partition path (a partition's frames in row order).
        let mut out = Vec::with_capacity(tables.len());
        for ((name, chunks), chunks2) in names.iter().zip(tables).zip(tables2) {
            for t in chunks.into_iter().chain(chunks2) {
                out.push((name.to_string(), t.finish(&origins)?));
            }
        }
        // Stable: a partition's frames keep their order.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Below this many kept rows the build stays on one thread.
const PARALLEL_MIN_ROWS: usize = 64 * 1024;

/// Objects (index, staged rows, winner mask) in bronze order.
type Work = Vec<(usize, Staged, Vec<bool>)>;

/// Cut the ordered work in two where about `half` winners are behind, at a
/// text block of the object being cut (so each side owns its blocks).
fn split_work(work: Work, half: usize) -> (Work, Work) {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut behind = 0usize;
    for (o, mut st, mask) in work {
        if !second.is_empty() || behind >= half {
            second.push((o, st, mask));
            continue;
        }
        let wins = mask.iter().filter(|w| **w).count();
        if behind + wins <= half {
            behind += wins;
            first.push((o, st, mask));
            continue;
        }
        // The winner at which `half` is reached, and its block.
        let mut seen = behind;
        let at = mask
            .iter()
            .position(|w| {
                seen += usize::from(*w);
                seen > half
            })
            .unwrap_or(mask.len());
        let block = st
            .rows
            .get(at)
            .map_or(st.blocks.len(), |r| r.block as usize);
        let cut = st.rows.partition_point(|r| (r.block as usize) < block);
        let mut tail = Staged {
            key: st.key.clone(),
            sep: st.sep,
            pos: st.pos.clone(),
            blocks: st.blocks.split_off(block.min(st.blocks.len())),
            rows: st.rows.split_off(cut),
            primary: Vec::new(),
        };
        for r in &mut tail.rows {
            r.block -= block as u32;
        }
        let mut mask = mask;
        let tail_mask = mask.split_off(cut);
        behind = half;
        first.push((o, st, mask));
        second.push((o, tail, tail_mask));
    }
    (first, second)
}

/// Build the winners of `work` into each partition's tables (chunks of at
/// most [`CHUNK_ROWS`]); returns them and the number of flagged rows.
fn build_rows<S: CsvRows>(src: &mut S, work: Work, partitions: usize) -> (Vec<Vec<Table>>, u64) {
    let mut tables: Vec<Vec<Table>> = (0..partitions).map(|_| Vec::new()).collect();
    let mut left = vec![0usize; partitions];
    for (_, st, mask) in &work {
        for (r, win) in st.rows.iter().zip(mask) {
            if *win {
                if let Some(l) = left.get_mut(r.part as usize) {
                    *l += 1;
                }
            }
        }
    }
    let mut flagged = 0;
    let mut rec = Record::default();
    for (o, mut st, mask) in work {
        let rows = std::mem::take(&mut st.rows);
        // Rows come in staging order: a text block behind the current row is
        // done with, and freed (a big file's text does not stay in memory
        // beside the columns built from it).
        let mut freed = 0usize;
        for (r, win) in rows.iter().zip(&mask) {
            let block = r.block as usize;
            while freed < block {
                if let Some(b) = st.blocks.get_mut(freed) {
                    *b = String::new();
                }
                freed += 1;
            }
            if !*win {
                continue;
            }
            let p = r.part as usize;
            let (Some(chunks), Some(left)) = (tables.get_mut(p), left.get_mut(p)) else {
                continue;
            };
            if chunks.last().is_none_or(|t| t.len() >= CHUNK_ROWS) {
                chunks.push(Table::new(S::SCHEMA, (*left).min(CHUNK_ROWS)));
            }
            let Some(t) = chunks.last_mut() else { continue };
            *left = left.saturating_sub(1);
            let raw = st.record(r);
            let mut reader = Reader::new(raw, st.sep);
            if !reader.read(&mut rec) {
                rec.clear();
            }
            let f = Fields {
                rec: &rec,
                pos: &st.pos,
                raw,
                line: u64::from(r.line),
            };
            if src.build(&f, t) {
                flagged += 1;
            }
            t.end_row(u64::from(r.line), o as IdxSize);
        }
    }
    (tables, flagged)
}

/// Names of the fields whose value could not be read, for [`INVALID_FIELDS`].
#[derive(Debug, Default, Clone)]
pub struct Invalid(Vec<&'static str>);

impl Invalid {
    pub fn clear(&mut self) {
        self.0.clear();
    }
    pub fn add(&mut self, field: &'static str) {
        self.0.push(field);
    }
    /// `Some("a,b")`, or `None` when every field was read.
    pub fn joined(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join(","))
    }
}

/// A text value: trimmed, `None` when empty or a null token (`NULL`, `N/A`, `-`).
pub fn value(raw: &str) -> Option<&str> {
    let t = raw.trim();
    (!is_null_token(t)).then_some(t)
}

/// A typed value: `None` when empty or a null token, and `field` recorded in
/// `inv` when the value is there but cannot be read.
pub fn typed<T>(
    raw: &str,
    field: &'static str,
    inv: &mut Invalid,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    if is_null_token(raw) {
        return None;
    }
    let v = parse(raw);
    if v.is_none() {
        inv.add(field);
    }
    v
}

/// A bounded memo of values derived from raw strings that repeat (pseudonyms
/// of customer ids, canonical labels, country codes): computed once per
/// distinct value, up to `cap` values (then computed every time).
#[derive(Clone)]
pub struct Memo<V> {
    map: PlHashMap<Box<str>, V>,
    cap: usize,
}

impl<V: Clone> Memo<V> {
    pub fn new(cap: usize) -> Memo<V> {
        Memo {
            map: PlHashMap::default(),
            cap,
        }
    }

    pub fn get(&mut self, raw: &str, f: impl FnOnce(&str) -> V) -> Cow<'_, V> {
        if self.map.contains_key(raw) {
            return match self.map.get(raw) {
                Some(v) => Cow::Borrowed(v),
                None => Cow::Owned(f(raw)),
            };
        }
        let v = f(raw);
        if self.map.len() < self.cap {
            self.map.insert(raw.into(), v.clone());
        }
        Cow::Owned(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str, sep: u8) -> Vec<(u64, Vec<String>, Option<String>)> {
        let mut r = Reader::new(text, sep);
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.read(&mut rec) {
            if out.is_empty() {
                r.expect_width(rec.len());
            }
            out.push((
                rec.line,
                (0..rec.len()).map(|i| rec.get(i).to_string()).collect(),
                rec.error.clone(),
            ));
        }
        out
    }

    #[test]
    fn rfc4180_fields_and_line_numbers() {
        let text =
            "\u{feff}A,B,C\r\n1,\"x,y\",3\r\n\n\"multi\nline\",\"he said \"\"hi\"\"\",\n4,5\n";
        let r = records(text, b',');
        assert_eq!(r[0], (1, vec!["A".into(), "B".into(), "C".into()], None));
        assert_eq!(r[1], (2, vec!["1".into(), "x,y".into(), "3".into()], None));
        assert_eq!(
            r[2],
            (
                4,
                vec!["multi\nline".into(), "he said \"hi\"".into(), "".into()],
                None
            )
        );
        // The ragged row keeps its own line number (the caller rejects it).
        assert_eq!(r[3], (6, vec!["4".into(), "5".into()], None));
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn semicolons_empty_fields_and_no_final_newline() {
        let r = records("a;;c\n;\n", b';');
        assert_eq!(r[0].1, vec!["a", "", "c"]);
        assert_eq!(r[1].1, vec!["", ""]);
        let r = records("a;b", b';');
        assert_eq!(r, vec![(1, vec!["a".into(), "b".into()], None)]);
        assert!(records("", b';').is_empty());
        assert!(records("\u{feff}", b';').is_empty());
    }

    #[test]
    fn unterminated_quote_is_reported() {
        let r = records("a,b\n1,\"open\n2,3\n", b',');
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].0, 2);
        assert!(
            r[1].2.as_deref().unwrap().contains("end of the file"),
            "{r:?}"
        );
        assert_eq!(r[2], (3, vec!["2".into(), "3".into()], None));
    }

    /// Regression (issue 7): one unbalanced quote in a partner CSV swallowed
    /// the rest of the file (one reject, undercounted rows, exit 0).
    #[test]
    fn an_unbalanced_quote_costs_one_record_and_reading_resumes() {
        let text = "id,comment,n\n1,ok,1\n2,\"Livré chez le voisin,2\n3,fine,3\n4,\"multi\nline, legit\",4\n5,\"x\n";
        let r = records(text, b',');
        let lines: Vec<u64> = r.iter().map(|x| x.0).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 7]);
        assert!(
            r[2].2.as_deref().unwrap().contains("still open at line 4"),
            "{r:?}"
        );
        assert_eq!(r[3], (4, vec!["3".into(), "fine".into(), "3".into()], None));
        assert_eq!(r[4].1[1], "multi\nline, legit");
        assert_eq!(r[4].2, None);
        assert!(r[5].2.as_deref().unwrap().contains("end of the file"));
        // Through read_rows: every other row is read, the bad one is rejected with its line.
        let mut rejects = Vec::new();
        let mut ids = Vec::new();
        let info = read_rows(
            text.as_bytes(),
            "k",
            b',',
            &["id", "comment", "n"],
            &[0],
            &mut rejects,
            |f| {
                ids.push(f.get(0).to_string());
                Ok(())
            },
        );
        assert_eq!(ids, ["1", "3", "4"]);
        assert_eq!(info.counts.rows_in, 5);
        let got: Vec<u64> = rejects.iter().map(|r| r.line).collect();
        assert_eq!(got, [3, 7]);
    }

    #[test]
    fn a_quote_open_for_too_many_lines_is_unterminated() {
        let mut text = String::from("a,b\n1,\"");
        for i in 0..(MAX_QUOTED_LINES + 5) {
            text.push_str(&format!("x{i}\n"));
        }
        text.push_str("\",2\n");
        let r = records(&text, b',');
        assert!(
            r[1].2.as_deref().unwrap().contains("lines later"),
            "{:?}",
            r[1]
        );
        // Each following line is then read on its own.
        assert!(r.len() > 100);
    }

    #[test]
    fn windows_1252_fallback() {
        let bytes = b"pays;statut\nFrance;Livr\xe9 \x80\n";
        let text = decode(bytes);
        assert_eq!(text, "pays;statut\nFrance;Livré €\n");
        assert!(matches!(decode("é".as_bytes()), Cow::Borrowed(_)));
    }

    #[test]
    fn separators_are_sniffed_from_the_header() {
        assert_eq!(sniff_separator("a;b;c\n1,2;3", b','), b';');
        assert_eq!(sniff_separator("\u{feff}A,B,C\n", b';'), b',');
        assert_eq!(sniff_separator("a\tb\n", b','), b'\t');
        assert_eq!(sniff_separator("abc\n", b','), b',');
        assert_eq!(sniff_separator("", b';'), b';');
    }

    #[test]
    fn header_matching_ignores_case_accents_and_separators() {
        let mut r = Reader::new("CUSTOMER ID;date_expédition;Extra\n", b';');
        let mut h = Record::default();
        assert!(r.read(&mut h));
        assert_eq!(
            header_positions(&h, &["customer_id", "DATE EXPEDITION", "missing"]),
            vec![Some(0), Some(1), None]
        );
    }

    fn origins() -> StringChunked {
        StringChunked::from_iter_values("k".into(), ["x"].into_iter())
    }

    #[test]
    fn table_misuse_is_an_error_not_a_panic() {
        let mut t = Table::new(&[("a", Kind::Str)], 1);
        t.i32(Some(1));
        t.end_row(1, 0);
        assert!(t.finish(&origins()).is_err());
        let mut t = Table::new(&[("a", Kind::Str), ("b", Kind::Bool)], 1);
        t.str(None);
        t.end_row(1, 0);
        assert!(t.finish(&origins()).is_err());
        let mut t = Table::new(&[("a", Kind::Str)], 1);
        t.str(Some("v"));
        t.end_row(7, 0);
        let df = t.finish(&origins()).unwrap();
        assert_eq!(df.get_column_names(), ["a", "bronze_key", "bronze_line"]);
    }

    /// key, timestamp (the primary rank), partition.
    #[derive(Clone)]
    struct Toy;

    impl CsvRows for Toy {
        const NAME: &'static str = "toy";
        const TABLES: &'static [&'static str] = &["t"];
        const SEPARATOR: u8 = b',';
        const COLUMNS: &'static [&'static str] = &["k", "t", "p"];
        const REQUIRED: &'static [usize] = &[0];
        const SCHEMA: &'static [(&'static str, Kind)] =
            &[("k", Kind::Str), ("t", Kind::Timestamp), ("f", Kind::Bool)];
        const RANKED: bool = true;
        fn admit<'a>(&mut self, f: &Fields<'a>) -> Result<Admit<'a>, RowError> {
            let key = value(f.get(0)).ok_or(("k", "missing".to_string()))?;
            Ok(Admit {
                key,
                partition: format!("t/p={}", f.get(2)).into(),
                primary: f.get(1).parse().ok(),
            })
        }
        fn build(&mut self, f: &Fields<'_>, t: &mut Table) -> bool {
            t.str(Some(f.get(0)));
            t.timestamp(f.get(1).parse().ok());
            let flag = f.get(0).starts_with('f');
            t.bool(Some(flag));
            flag
        }
    }

    fn keys(df: &DataFrame, c: &str) -> Vec<String> {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn stage_keeps_the_most_recent_then_the_later_object_then_the_later_row() {
        let mut s = Stage::new();
        let mut rejects = Vec::new();
        let mut seen = BTreeSet::new();
        // Objects read out of key order: ranking uses the key.
        let c = s.read(
            &mut Toy,
            b"k,t,p\na,5,1\nb,1,1\nc,7,1\n,1,1\n",
            "bronze/x/b.csv",
            None,
            &mut seen,
            &mut rejects,
        );
        assert_eq!((c.rows_in, c.rows_out, c.rejected), (4, 3, 1));
        assert_eq!(rejects[0].line, 5);
        s.read(
            &mut Toy,
            b"k,t,p\na,9,1\nb,1,1\n\"c\",7,1\nc,7,1\nfz,,2\nd,1,2\n",
            "bronze/x/a.csv",
            None,
            &mut seen,
            &mut rejects,
        );
        // A newer `d` in a partition this run does not rewrite.
        let keep: BTreeSet<String> = ["t/p=1".to_string()].into();
        let mut seen_c = BTreeSet::new();
        let c = s.read(
            &mut Toy,
            b"k,t,p\nd,2,2\n",
            "bronze/x/c.csv",
            Some(&keep),
            &mut seen_c,
            &mut rejects,
        );
        assert_eq!(c.rows_out, 0);
        assert!(seen_c.contains("t/p=2"));
        let out = s.finish(&mut Toy).unwrap();
        let counts = s.take_counts();
        assert_eq!(out.len(), 2);
        let (p1, df1) = &out[0];
        assert_eq!(p1, "t/p=1");
        assert_eq!(keys(df1, "k"), ["a", "b", "c"]);
        // a: most recent date (earlier file); b, c: tie → the later file.
        assert_eq!(
            keys(df1, "bronze_key"),
            ["bronze/x/a.csv", "bronze/x/b.csv", "bronze/x/b.csv"]
        );
        let (p2, df2) = &out[1];
        assert_eq!(p2, "t/p=2");
        assert_eq!(keys(df2, "k"), ["fz"], "d was replaced by its shadow");
        assert_eq!(
            df2.column("bronze_line").unwrap().i64().unwrap().get(0),
            Some(6)
        );
        // 3 + 6 rows staged, 4 kept.
        assert_eq!(counts.deduplicated, 5);
        assert_eq!(counts.flagged, 1);
        // The stage is empty again.
        assert!(s.finish(&mut Toy).unwrap().is_empty());
    }

    #[test]
    fn stage_output_does_not_depend_on_processing_order() {
        let run = |flip: bool| {
            let mut s = Stage::new();
            let mut objs = vec![
                ("bronze/a.csv", "k,t,p\nx,1,1\ny,1,1\n"),
                ("bronze/b.csv", "k,t,p\ny,1,1\nz,1,1\n"),
            ];
            if flip {
                objs.reverse();
            }
            for (key, body) in objs {
                s.read(
                    &mut Toy,
                    body.as_bytes(),
                    key,
                    None,
                    &mut BTreeSet::new(),
                    &mut Vec::new(),
                );
            }
            let mut out = s.finish(&mut Toy).unwrap();
            let (_, mut df) = out.remove(0);
            crate::table::to_parquet(&mut df).unwrap()
        };
        assert_eq!(run(false), run(true));
    }

    /// The two-thread build (cut inside a big object, at a text block) gives
    /// the rows of a one-thread build, in the same order.
    #[test]
    fn the_parallel_build_keeps_every_winner_in_bronze_order() {
        let key = |i: usize| {
            let k = i % 250_000;
            format!("{}k{k}", if k % 7 == 0 { "f" } else { "" })
        };
        let mut big = String::from("k,t,p\n");
        for i in 0..300_000 {
            // Keys repeat every 250,000 rows: the later copy wins.
            big.push_str(&format!("{},{i},{}\n", key(i), i % 3));
        }
        let small = "k,t,p\nzz,1,0\nk5,999999999,1\n";
        let mut s = Stage::new();
        for (key, body) in [("bronze/b.csv", small), ("bronze/a.csv", big.as_str())] {
            s.read(
                &mut Toy,
                body.as_bytes(),
                key,
                None,
                &mut BTreeSet::new(),
                &mut Vec::new(),
            );
        }
        assert!(s.objects[1].blocks.len() > 3, "several text blocks");
        let out = s.finish(&mut Toy).unwrap();
        let counts = s.take_counts();
        assert_eq!(counts.deduplicated, 50_000 + 1);
        let mut by_part: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut total = 0;
        for (p, df) in &out {
            total += df.height();
            by_part.entry(p.clone()).or_default().extend(keys(df, "k"));
        }
        assert_eq!(total, 250_000 + 1);
        // Partition 0: winners of a.csv in line order, then zz of b.csv.
        // (k5 of b.csv is more recent than a.csv's.)
        let winners = || (50_000..300_000usize).filter(|&i| i != 250_005);
        let want0: Vec<String> = winners()
            .filter(|i| i % 3 == 0)
            .map(key)
            .chain(["zz".to_string()])
            .collect();
        assert_eq!(by_part["t/p=0"], want0);
        let flagged = winners().filter(|i| (i % 250_000) % 7 == 0).count() as u64;
        assert_eq!(counts.flagged, flagged);
    }

    /// Fuzz (issue 7): a million mutated CSV texts; every record is handed
    /// over or rejected, in line order, and nothing panics.
    #[test]
    fn fuzz_every_record_is_read_or_rejected() {
        let corpus: [&[u8]; 4] = [
            b"\xef\xbb\xbfid,comment,n\r\n1,ok,1\r\n2,\"a, \"\"b\"\"\",2\r\n",
            b"id;comment;n\n1;\"multi\nline\";1\n2;x;2\n\n3;;3\n",
            b"id,comment,n\n1,\"open,1\n2,fine,2\n3,\"Livr\xe9\",3\n",
            b"id\tcomment\tn\n1\t\"\"\t1\n",
        ];
        crate::fuzz::run("csv", 11, &corpus, |input| {
            let mut rejects = Vec::new();
            let mut lines = Vec::new();
            let info = read_rows(
                input,
                "k",
                b',',
                &["id", "comment", "n"],
                &[0],
                &mut rejects,
                |f| {
                    let _ = (f.get(0), f.get(1), f.get(2), f.raw());
                    lines.push(f.line());
                    Ok(())
                },
            );
            assert_eq!(info.counts.rejected, rejects.len() as u64);
            assert_eq!(
                info.counts.rows_in,
                lines.len() as u64 + info.counts.rejected
            );
            lines.extend(rejects.iter().map(|r| r.line));
            lines.sort_unstable();
            let total = memchr::memchr_iter(b'\n', input).count() as u64 + 1;
            for w in lines.windows(2) {
                assert!(w[0] < w[1], "two records on line {}", w[0]);
            }
            assert!(lines.last().is_none_or(|&l| l <= total));
        });
    }
}
