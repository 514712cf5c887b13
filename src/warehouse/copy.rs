//! A DataFrame as PostgreSQL `COPY … FROM STDIN (FORMAT binary)`. Pure:
//! frames and the target column types in, bytes and counters out.
//!
//! Binary COPY spares the server the parsing of every date, timestamp and
//! number (a third of the load time of a text COPY, docs/benchmarks.md).
//! Each column is written as the type of its warehouse column (`integer`,
//! `bigint`, `double precision`, `boolean`, `date`, `timestamptz`, `text`);
//! a value that does not fit (an `integer` above 2³¹) is an error naming the
//! column, never a silent wrap.
//!
//! Before loading (LOAD-5, LOAD-6, decision D-90): NUL characters are
//! removed from strings (PostgreSQL text cannot hold them), and strings that
//! stand for a missing value (empty, `NULL`, `N/A`, `None`, `-`, any case,
//! surrounding spaces ignored) become SQL `NULL`. Both are counted.

use polars::prelude::*;

/// What the encoding changed in a frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    /// Values that held NUL characters (removed).
    pub nul_stripped: u64,
    /// Strings that meant "no value", written as NULL.
    pub null_tokens: u64,
}

impl std::ops::AddAssign for Cleaned {
    fn add_assign(&mut self, o: Cleaned) {
        self.nul_stripped += o.nul_stripped;
        self.null_tokens += o.null_tokens;
    }
}

/// The warehouse column types kvt writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    Int4,
    Int8,
    Float8,
    Bool,
    Date,
    Timestamptz,
    Text,
}

impl PgType {
    /// From `format_type` / `regtype` text.
    pub fn parse(name: &str) -> Option<PgType> {
        Some(match name {
            "integer" => PgType::Int4,
            "bigint" => PgType::Int8,
            "double precision" => PgType::Float8,
            "boolean" => PgType::Bool,
            "date" => PgType::Date,
            "timestamp with time zone" => PgType::Timestamptz,
            "text" => PgType::Text,
            _ => return None,
        })
    }
}

/// The stream's header (signature, flags, no extension).
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The stream's trailer (a field count of −1).
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Days from 1970-01-01 (polars) to 2000-01-01 (PostgreSQL).
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// One column of a block of rows, each cell framed (length, bytes) one
/// after the other: cell `i` is `bytes[ends[i - 1]..ends[i]]`.
#[derive(Default)]
struct Cells {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Cells {
    fn with_capacity(n: usize, width: usize) -> Cells {
        Cells {
            bytes: Vec::with_capacity(n * (4 + width)),
            ends: Vec::with_capacity(n),
        }
    }
    fn null(&mut self) {
        self.bytes.extend_from_slice(&(-1i32).to_be_bytes());
        self.ends.push(self.bytes.len());
    }
    fn value(&mut self, v: &[u8]) {
        self.bytes
            .extend_from_slice(&(v.len() as i32).to_be_bytes());
        self.bytes.extend_from_slice(v);
        self.ends.push(self.bytes.len());
    }
    fn opt(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => self.value(v),
            None => self.null(),
        }
    }
    fn cell(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

fn cast(s: &Series, to: &DataType) -> PolarsResult<Series> {
    // strict: a value that does not fit is an error, not a NULL.
    s.strict_cast(to)
}

fn text(c: &mut Cells, v: &str, cleaned: &mut Cleaned) {
    let stripped;
    let v = if v.contains('\0') {
        cleaned.nul_stripped += 1;
        stripped = v.replace('\0', "");
        stripped.as_str()
    } else {
        v
    };
    if crate::silver::dates::is_null_token(v) {
        cleaned.null_tokens += 1;
        c.null();
    } else {
        c.value(v.as_bytes());
    }
}

/// Encodes one column's block as `ty`, with a typed loop.
fn column_cells(s: &Series, ty: PgType, cleaned: &mut Cleaned) -> PolarsResult<Cells> {
    let n = s.len();
    Ok(match ty {
        PgType::Text => {
            let owned;
            let ca = if s.dtype() == &DataType::String {
                s.str()?
            } else {
                owned = cast(s, &DataType::String)?;
                owned.str()?
            };
            let mut c = Cells::with_capacity(n, 16);
            for v in ca.iter() {
                match v {
                    Some(v) => text(&mut c, v, cleaned),
                    None => c.null(),
                }
            }
            c
        }
        PgType::Int4 => {
            let s = cast(s, &DataType::Int32)?;
            let mut c = Cells::with_capacity(n, 4);
            for v in s.i32()?.iter() {
                c.opt(v.map(i32::to_be_bytes).as_ref().map(|b| &b[..]));
            }
            c
        }
        PgType::Int8 => {
            let s = cast(s, &DataType::Int64)?;
            let mut c = Cells::with_capacity(n, 8);
            for v in s.i64()?.iter() {
                c.opt(v.map(i64::to_be_bytes).as_ref().map(|b| &b[..]));
            }
            c
        }
        PgType::Float8 => {
            let s = cast(s, &DataType::Float64)?;
            let mut c = Cells::with_capacity(n, 8);
            for v in s.f64()?.iter() {
                c.opt(v.map(f64::to_be_bytes).as_ref().map(|b| &b[..]));
            }
            c
        }
        PgType::Bool => {
            let s = cast(s, &DataType::Boolean)?;
            let mut c = Cells::with_capacity(n, 1);
            for v in s.bool()?.iter() {
                c.opt(v.map(|b| [u8::from(b)]).as_ref().map(|b| &b[..]));
            }
            c
        }
        PgType::Date => {
            let s = cast(s, &DataType::Date)?;
            let mut c = Cells::with_capacity(n, 4);
            for v in s.date()?.physical().iter() {
                let v = v.map(|d| (d - PG_EPOCH_DAYS).to_be_bytes());
                c.opt(v.as_ref().map(|b| &b[..]));
            }
            c
        }
        PgType::Timestamptz => {
            let s = cast(
                s,
                &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
            )?;
            let mut c = Cells::with_capacity(n, 8);
            for v in s.datetime()?.physical().iter() {
                let v = v.map(|us| (us - PG_EPOCH_MICROS).to_be_bytes());
                c.opt(v.as_ref().map(|b| &b[..]));
            }
            c
        }
    })
}

/// Rows `[from, to)` of `df` as binary COPY tuples (no header or trailer),
/// column `i` written as `types[i]`.
pub fn encode(
    df: &DataFrame,
    types: &[PgType],
    from: usize,
    to: usize,
) -> PolarsResult<(Vec<u8>, Cleaned)> {
    let to = to.min(df.height());
    let len = to.saturating_sub(from);
    let mut cleaned = Cleaned::default();
    if types.len() != df.width() {
        polars_bail!(ShapeMismatch: "{} columns for {} types", df.width(), types.len());
    }
    let columns = df
        .columns()
        .iter()
        .zip(types)
        .map(|(c, ty)| {
            let block = c.as_materialized_series().slice(from as i64, len);
            column_cells(&block, *ty, &mut cleaned)
                .map_err(|e| e.context(format!("column {} as {ty:?}", c.name()).into()))
        })
        .collect::<PolarsResult<Vec<Cells>>>()?;
    let size: usize = columns.iter().map(|c| c.bytes.len()).sum::<usize>() + 2 * len;
    let mut out = Vec::with_capacity(size);
    let width = (df.width() as i16).to_be_bytes();
    for row in 0..len {
        out.extend_from_slice(&width);
        for c in &columns {
            out.extend_from_slice(c.cell(row));
        }
    }
    Ok((out, cleaned))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tuples of a binary COPY body, each field `None` (NULL) or its bytes.
    fn decode(mut b: &[u8]) -> Vec<Vec<Option<Vec<u8>>>> {
        let mut rows = Vec::new();
        while !b.is_empty() {
            let n = i16::from_be_bytes([b[0], b[1]]);
            b = &b[2..];
            let mut row = Vec::new();
            for _ in 0..n {
                let len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                b = &b[4..];
                if len < 0 {
                    row.push(None);
                } else {
                    row.push(Some(b[..len as usize].to_vec()));
                    b = &b[len as usize..];
                }
            }
            rows.push(row);
        }
        rows
    }

    #[test]
    fn values_are_cleaned_nulled_and_typed() {
        let df = df! {
            "s" => [Some("a\tb\\c\nd"), Some("x\0y"), Some(" NULL "), Some("n/a"), None, Some("")],
            "i" => [Some(1i64), None, Some(-3), Some(4), Some(5), Some(6)],
            "f" => [Some(0.1f64), Some(f64::NAN), None, Some(1e300), Some(-0.0), Some(2.5)],
            "b" => [Some(true), Some(false), None, Some(true), Some(true), Some(true)],
        }
        .unwrap();
        let types = [PgType::Text, PgType::Int4, PgType::Float8, PgType::Bool];
        let (bytes, cleaned) = encode(&df, &types, 0, df.height()).unwrap();
        let rows = decode(&bytes);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0][0].as_deref(), Some(&b"a\tb\\c\nd"[..]));
        assert_eq!(rows[0][1].as_deref(), Some(&1i32.to_be_bytes()[..]));
        assert_eq!(rows[0][2].as_deref(), Some(&0.1f64.to_be_bytes()[..]));
        assert_eq!(rows[0][3].as_deref(), Some(&[1u8][..]));
        assert_eq!(rows[1][0].as_deref(), Some(&b"xy"[..]));
        assert_eq!(rows[1][1], None);
        assert!(f64::from_be_bytes(rows[1][2].clone().unwrap().try_into().unwrap()).is_nan());
        for (r, row) in rows.iter().enumerate().skip(2) {
            assert_eq!(row[0], None, "row {r} is a null token");
        }
        assert_eq!(rows[2][1].as_deref(), Some(&(-3i32).to_be_bytes()[..]));
        assert_eq!(rows[2][2], None);
        assert_eq!(rows[2][3], None);
        assert_eq!(
            cleaned,
            Cleaned {
                nul_stripped: 1,
                null_tokens: 3
            }
        );
        // A block in the middle.
        let (bytes, _) = encode(&df, &types, 3, 5).unwrap();
        let rows = decode(&bytes);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1][1].as_deref(), Some(&5i32.to_be_bytes()[..]));
    }

    #[test]
    fn dates_and_timestamps_count_from_2000() {
        let mut df =
            df! { "d" => [10_957i32, 20_529], "t" => [946_684_800_000i64, 946_684_800_123] }
                .unwrap();
        df.apply("d", |c| c.cast(&DataType::Date).unwrap()).unwrap();
        df.apply("t", |c| {
            c.cast(&DataType::Datetime(
                TimeUnit::Milliseconds,
                Some(TimeZone::UTC),
            ))
            .unwrap()
        })
        .unwrap();
        let (bytes, _) = encode(&df, &[PgType::Date, PgType::Timestamptz], 0, 2).unwrap();
        let rows = decode(&bytes);
        assert_eq!(rows[0][0].as_deref(), Some(&0i32.to_be_bytes()[..]));
        assert_eq!(rows[0][1].as_deref(), Some(&0i64.to_be_bytes()[..]));
        assert_eq!(
            rows[1][0].as_deref(),
            Some(&(20_529i32 - 10_957).to_be_bytes()[..])
        );
        assert_eq!(rows[1][1].as_deref(), Some(&123_000i64.to_be_bytes()[..]));
    }

    #[test]
    fn a_value_that_does_not_fit_is_an_error_naming_the_column() {
        let df = df! { "big" => [1i64 << 40] }.unwrap();
        let e = encode(&df, &[PgType::Int4], 0, 1).unwrap_err();
        assert!(e.to_string().contains("big"), "{e}");
        let df = df! { "n" => [7i64] }.unwrap();
        let (bytes, _) = encode(&df, &[PgType::Text], 0, 1).unwrap();
        assert_eq!(decode(&bytes)[0][0].as_deref(), Some(&b"7"[..]));
    }
}
