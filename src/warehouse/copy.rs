//! A DataFrame as PostgreSQL `COPY … FROM STDIN` text (tab-separated, `\N`
//! for null, backslash escapes). Pure: frames in, bytes and counters out.
//!
//! Before loading (LOAD-5, LOAD-6, decision D-90): NUL characters are
//! removed from strings (PostgreSQL text cannot hold them), and strings that
//! stand for a missing value (empty, `NULL`, `N/A`, `None`, `-`, any case,
//! surrounding spaces ignored) become SQL `NULL`. Both are counted.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate};
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

fn escape_into(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => {}
            _ => out.push(b),
        }
    }
}

/// One column's value at `row`, appended as COPY text.
fn value(out: &mut Vec<u8>, c: &Column, row: usize, cleaned: &mut Cleaned) -> PolarsResult<()> {
    let mut num = String::new();
    match c.get(row)? {
        AnyValue::Null => out.extend_from_slice(b"\\N"),
        AnyValue::Boolean(b) => out.push(if b { b't' } else { b'f' }),
        AnyValue::String(s) => string(out, s, cleaned),
        AnyValue::StringOwned(s) => string(out, &s, cleaned),
        AnyValue::Int32(v) => out.extend_from_slice(v.to_string().as_bytes()),
        AnyValue::Int64(v) => out.extend_from_slice(v.to_string().as_bytes()),
        AnyValue::UInt32(v) => out.extend_from_slice(v.to_string().as_bytes()),
        AnyValue::UInt64(v) => out.extend_from_slice(v.to_string().as_bytes()),
        AnyValue::Float64(v) => float(out, v),
        AnyValue::Float32(v) => float(out, f64::from(v)),
        AnyValue::Date(days) => {
            let d = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
                + chrono::Duration::days(i64::from(days));
            let _ = write!(num, "{d}");
            out.extend_from_slice(num.as_bytes());
        }
        AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => {
            let ms = match unit {
                TimeUnit::Milliseconds => v,
                TimeUnit::Microseconds => v / 1_000,
                TimeUnit::Nanoseconds => v / 1_000_000,
            };
            match DateTime::from_timestamp_millis(ms) {
                Some(t) => {
                    let _ = write!(num, "{}", t.format("%Y-%m-%d %H:%M:%S%.3f+00"));
                    out.extend_from_slice(num.as_bytes());
                }
                None => out.extend_from_slice(b"\\N"),
            }
        }
        other => {
            let _ = write!(num, "{other}");
            escape_into(out, &num);
        }
    }
    Ok(())
}

fn string(out: &mut Vec<u8>, s: &str, cleaned: &mut Cleaned) {
    if s.contains('\0') {
        cleaned.nul_stripped += 1;
    }
    let stripped = s.replace('\0', "");
    if crate::silver::dates::is_null_token(&stripped) {
        cleaned.null_tokens += 1;
        out.extend_from_slice(b"\\N");
    } else {
        escape_into(out, &stripped);
    }
}

fn float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        // Rust prints the shortest text that reads back as the same f64.
        out.extend_from_slice(format!("{v:?}").as_bytes());
    }
}

/// Rows `[from, to)` of `df` as COPY text, in column order.
pub fn encode(df: &DataFrame, from: usize, to: usize) -> PolarsResult<(Vec<u8>, Cleaned)> {
    let cols = df.columns();
    let mut out = Vec::with_capacity((to - from) * cols.len() * 12);
    let mut cleaned = Cleaned::default();
    for row in from..to.min(df.height()) {
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            value(&mut out, c, row, &mut cleaned)?;
        }
        out.push(b'\n');
    }
    Ok((out, cleaned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_nulled_and_typed() {
        let df = df! {
            "s" => [Some("a\tb\\c\nd"), Some("x\0y"), Some(" NULL "), Some("n/a"), None, Some("")],
            "i" => [Some(1i64), None, Some(-3), Some(4), Some(5), Some(6)],
            "f" => [Some(0.1f64), Some(f64::NAN), None, Some(1e300), Some(-0.0), Some(2.5)],
            "b" => [Some(true), Some(false), None, Some(true), Some(true), Some(true)],
        }
        .unwrap();
        let (text, cleaned) = encode(&df, 0, df.height()).unwrap();
        let text = String::from_utf8(text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a\\tb\\\\c\\nd\t1\t0.1\tt");
        assert_eq!(lines[1], "xy\t\\N\tNaN\tf");
        assert_eq!(lines[2], "\\N\t-3\t\\N\t\\N");
        assert_eq!(lines[3], "\\N\t4\t1e300\tt");
        assert_eq!(lines[4], "\\N\t5\t-0.0\tt");
        assert_eq!(lines[5], "\\N\t6\t2.5\tt");
        assert_eq!(
            cleaned,
            Cleaned {
                nul_stripped: 1,
                null_tokens: 3
            }
        );
    }

    #[test]
    fn dates_and_timestamps_are_iso() {
        let df = df! { "d" => [20_529i32], "t" => [1_773_756_309_123i64] }.unwrap();
        let mut df = df;
        df.apply("d", |c| c.cast(&DataType::Date).unwrap()).unwrap();
        df.apply("t", |c| {
            c.cast(&DataType::Datetime(
                TimeUnit::Milliseconds,
                Some(TimeZone::UTC),
            ))
            .unwrap()
        })
        .unwrap();
        let (text, _) = encode(&df, 0, 1).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "2026-03-17\t2026-03-17 14:05:09.123+00\n"
        );
    }
}
