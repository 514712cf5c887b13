//! Allocation-free formatting helpers (timestamps, numbers, JSON, CSV) and the output file.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;

pub const DAY_MS: i64 = 86_400_000;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a date.
pub fn epoch_days(d: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    (d - epoch).num_days()
}

/// Unix milliseconds of midnight UTC of `d`.
pub fn day_start_ms(d: NaiveDate) -> i64 {
    epoch_days(d) * DAY_MS
}

/// The UTC date of a Unix-millisecond instant.
pub fn date_of_ms(ms: i64) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    epoch + chrono::Duration::days(ms.div_euclid(DAY_MS))
}

pub fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

pub fn push_i64(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    push_u64(buf, n.unsigned_abs());
}

/// Zero-padded to `width` digits.
pub fn push_pad(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut x = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    for _ in (tmp.len() - i)..width {
        buf.push(b'0');
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// `cents` as a decimal with two digits and the given separator (`1234.50`, `-3,20`).
pub fn push_cents(buf: &mut Vec<u8>, cents: i64, sep: u8) {
    if cents < 0 {
        buf.push(b'-');
    }
    let a = cents.unsigned_abs();
    push_u64(buf, a / 100);
    buf.push(sep);
    push_pad(buf, a % 100, 2);
}

/// A value with `decimals` fixed decimals from an integer count of 10^-decimals units.
pub fn push_fixed(buf: &mut Vec<u8>, units: i64, decimals: u32, sep: u8) {
    let p = 10u64.pow(decimals);
    if units < 0 {
        buf.push(b'-');
    }
    let a = units.unsigned_abs();
    push_u64(buf, a / p);
    buf.push(sep);
    push_pad(buf, a % p, decimals as usize);
}

/// `YYYY-MM-DD` of an epoch-day count.
pub fn push_date_days(buf: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    push_pad(buf, y as u64, 4);
    buf.push(b'-');
    push_pad(buf, u64::from(m), 2);
    buf.push(b'-');
    push_pad(buf, u64::from(d), 2);
}

pub fn push_date(buf: &mut Vec<u8>, d: NaiveDate) {
    push_date_days(buf, epoch_days(d));
}

/// `HH:MM:SS` of milliseconds within a day.
fn push_hms(buf: &mut Vec<u8>, ms_of_day: i64) {
    let s = ms_of_day / 1000;
    push_pad(buf, (s / 3600) as u64, 2);
    buf.push(b':');
    push_pad(buf, (s / 60 % 60) as u64, 2);
    buf.push(b':');
    push_pad(buf, (s % 60) as u64, 2);
}

/// RFC 3339 UTC with milliseconds: `2026-03-17T14:05:09.123Z`.
pub fn push_rfc3339_ms(buf: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    push_date_days(buf, days);
    buf.push(b'T');
    push_hms(buf, rem);
    buf.push(b'.');
    push_pad(buf, (rem % 1000) as u64, 3);
    buf.push(b'Z');
}

pub fn rfc3339_ms(ms: i64) -> String {
    let mut b = Vec::with_capacity(24);
    push_rfc3339_ms(&mut b, ms);
    String::from_utf8_lossy(&b).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SS` (no zone) of a naive local instant in ms.
pub fn push_naive_datetime(buf: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(DAY_MS);
    push_date_days(buf, days);
    buf.push(b'T');
    push_hms(buf, ms.rem_euclid(DAY_MS));
}

/// `YYYY-MM-DD HH:MM:SS` of a naive instant in ms.
pub fn push_sql_datetime(buf: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(DAY_MS);
    push_date_days(buf, days);
    buf.push(b' ');
    push_hms(buf, ms.rem_euclid(DAY_MS));
}

/// nginx `$time_local` for a UTC instant and an offset in minutes:
/// `17/Mar/2026:15:05:09 +0100`.
pub fn push_nginx_time(buf: &mut Vec<u8>, utc_ms: i64, offset_min: i32) {
    let local = utc_ms + i64::from(offset_min) * 60_000;
    let days = local.div_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    push_pad(buf, u64::from(d), 2);
    buf.push(b'/');
    buf.extend_from_slice(MONTHS[(m - 1) as usize].as_bytes());
    buf.push(b'/');
    push_pad(buf, y as u64, 4);
    buf.push(b':');
    push_hms(buf, local.rem_euclid(DAY_MS));
    buf.push(b' ');
    buf.push(if offset_min < 0 { b'-' } else { b'+' });
    let o = offset_min.unsigned_abs();
    push_pad(buf, u64::from(o / 60), 2);
    push_pad(buf, u64::from(o % 60), 2);
}

/// A JSON string literal with escaping.
pub fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[(b >> 4) as usize]);
                buf.push(HEX[(b & 15) as usize]);
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

/// A CSV field: quoted (RFC 4180) only when it holds the delimiter, a quote or a newline.
pub fn push_csv(buf: &mut Vec<u8>, s: &str, delim: u8) {
    let needs = s
        .bytes()
        .any(|b| b == delim || b == b'"' || b == b'\n' || b == b'\r');
    if !needs {
        buf.extend_from_slice(s.as_bytes());
        return;
    }
    buf.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

/// Incremental writer of one JSON object with keys in call order. Keys must be plain ASCII.
/// A key named in `skip` is left out (used to build messages missing a required field).
pub struct Json<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
    skip: Option<&'a str>,
}

impl<'a> Json<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Self::with_skip(buf, None)
    }
    pub fn with_skip(buf: &'a mut Vec<u8>, skip: Option<&'a str>) -> Self {
        buf.push(b'{');
        Json {
            buf,
            first: true,
            skip,
        }
    }
    /// Writes the key; false when the key is skipped.
    fn key(&mut self, k: &str) -> bool {
        if self.skip == Some(k) {
            return false;
        }
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\":");
        true
    }
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        if self.key(k) {
            push_json_str(self.buf, v);
        }
        self
    }
    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(s) => self.str(k, s),
            None => self.null(k),
        }
    }
    pub fn int(&mut self, k: &str, v: i64) -> &mut Self {
        if self.key(k) {
            push_i64(self.buf, v);
        }
        self
    }
    /// A number with two decimals from cents (`12.50`).
    pub fn money(&mut self, k: &str, cents: i64) -> &mut Self {
        if self.key(k) {
            push_cents(self.buf, cents, b'.');
        }
        self
    }
    pub fn fixed(&mut self, k: &str, units: i64, decimals: u32) -> &mut Self {
        if self.key(k) {
            push_fixed(self.buf, units, decimals, b'.');
        }
        self
    }
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        if self.key(k) {
            self.buf
                .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
        }
        self
    }
    pub fn opt_bool(&mut self, k: &str, v: Option<bool>) -> &mut Self {
        match v {
            Some(b) => self.bool(k, b),
            None => self.null(k),
        }
    }
    pub fn null(&mut self, k: &str) -> &mut Self {
        if self.key(k) {
            self.buf.extend_from_slice(b"null");
        }
        self
    }
    pub fn ts(&mut self, k: &str, ms: i64) -> &mut Self {
        if self.key(k) {
            self.buf.push(b'"');
            push_rfc3339_ms(self.buf, ms);
            self.buf.push(b'"');
        }
        self
    }
    /// Writes raw JSON produced by `f` as the value of `k`.
    pub fn raw(&mut self, k: &str, f: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        if self.key(k) {
            f(self.buf);
        }
        self
    }
    pub fn end(self) {
        self.buf.push(b'}');
    }
}

/// A file written through a buffer to `<name>.tmp`, renamed into place by [`OutFile::finish`].
pub struct OutFile {
    rel: String,
    path: PathBuf,
    tmp: PathBuf,
    w: BufWriter<File>,
    bytes: u64,
    lines: u64,
    modified_ms: Option<i64>,
}

impl OutFile {
    pub fn create(root: &Path, rel: &str) -> anyhow::Result<Self> {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(OutFile {
            rel: rel.to_string(),
            path,
            tmp,
            w: BufWriter::with_capacity(1 << 18, f),
            bytes: 0,
            lines: 0,
            modified_ms: None,
        })
    }

    /// Give the file the modification time it would have at the source (the
    /// export time), so that ingestion keys and manifests are reproducible.
    pub fn modified_at(&mut self, ms: i64) {
        self.modified_ms = Some(ms);
    }

    pub fn write(&mut self, b: &[u8]) -> anyhow::Result<()> {
        self.bytes += b.len() as u64;
        self.lines += b.iter().filter(|&&c| c == b'\n').count() as u64;
        self.w
            .write_all(b)
            .with_context(|| format!("writing {}", self.tmp.display()))
    }

    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// Flushes and renames; returns `(relative path, bytes, newline count)`.
    pub fn finish(mut self) -> anyhow::Result<(String, u64, u64)> {
        self.w
            .flush()
            .with_context(|| format!("writing {}", self.tmp.display()))?;
        let f = self
            .w
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing {}: {}", self.tmp.display(), e.error()))?;
        if let Some(ms) = self.modified_ms {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
            f.set_modified(t)
                .with_context(|| format!("setting the time of {}", self.tmp.display()))?;
        }
        drop(f);
        fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("renaming {} into place", self.tmp.display()))?;
        Ok((self.rel, self.bytes, self.lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).expect("utf8")
    }

    #[test]
    fn civil_roundtrip() {
        for days in [-1000i64, 0, 19_000, 20_529, 60_000] {
            let (y, m, d) = civil_from_days(days);
            let nd = NaiveDate::from_ymd_opt(y as i32, m, d).expect("valid");
            assert_eq!(epoch_days(nd), days);
        }
    }

    #[test]
    fn number_and_time_formats() {
        assert_eq!(s(|b| push_pad(b, 7, 3)), "007");
        assert_eq!(s(|b| push_pad(b, 12345, 3)), "12345");
        assert_eq!(s(|b| push_cents(b, 1250, b',')), "12,50");
        assert_eq!(s(|b| push_cents(b, -305, b'.')), "-3.05");
        assert_eq!(s(|b| push_fixed(b, 12, 3, b'.')), "0.012");
        let d = NaiveDate::from_ymd_opt(2026, 3, 17).expect("valid");
        let ms = day_start_ms(d) + 14 * 3_600_000 + 5 * 60_000 + 9_123;
        assert_eq!(rfc3339_ms(ms), "2026-03-17T14:05:09.123Z");
        assert_eq!(
            s(|b| push_nginx_time(b, ms, 60)),
            "17/Mar/2026:15:05:09 +0100"
        );
        assert_eq!(date_of_ms(ms), d);
        assert_eq!(s(|b| push_json_str(b, "a\"b\0")), "\"a\\\"b\\u0000\"");
        assert_eq!(s(|b| push_csv(b, "x;y", b';')), "\"x;y\"");
        assert_eq!(s(|b| push_csv(b, " france ", b',')), " france ");
    }
}
