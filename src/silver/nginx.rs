//! `kvt silver nginx`: access logs → typed rows (SILVER-NGINX-*).
//!
//! Pure: bytes of a bronze log file in, column vectors and rejects out. Lines
//! are split by the compiled `log_format` ([`super::logformat`]); NUL bytes are
//! removed first (SILVER-NGINX-4); a line that still does not match — truncated
//! at rotation, garbage — is discarded and counted with its reason
//! (SILVER-NGINX-2). Personal data does not survive: the IP keeps three octets
//! (IPv6: 48 bits), the customer id is pseudonymised, query strings lose their
//! values, and the user agent is reduced to a bot flag and a coarse class.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use chrono::NaiveDate;
use polars::prelude::*;
use regex::bytes::Regex;

use super::logformat::{Field, LogFormat, Mismatch};
use super::pseudo::{truncate_ip, Pseudonymizer};
use super::runner::Source;
use super::{Counts, Input, Reject};

/// CONTRACTS C4 bot user agents (case-insensitive).
pub static BOT_UA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)bot|crawl|spider|headless|python-requests|curl|wget|scrapy|selenium|phantomjs")
        .expect("valid regex")
});

/// Columns of parsed lines (one row per kept line). Text columns are Arrow
/// builders: a value is copied once, into the column, with no allocation per row.
pub struct Rows {
    pub log_date: Vec<i32>,
    pub ts_ms: Vec<i64>,
    pub ip_truncated: StringChunkedBuilder,
    pub customer_id: StringChunkedBuilder,
    pub method: StringChunkedBuilder,
    pub path: StringChunkedBuilder,
    pub query_keys: StringChunkedBuilder,
    pub protocol: StringChunkedBuilder,
    pub status_code: Vec<i32>,
    pub status_family: Vec<&'static str>,
    pub response_size_bytes: Vec<Option<i64>>,
    pub referer: StringChunkedBuilder,
    pub is_bot: Vec<bool>,
    pub user_agent_class: Vec<&'static str>,
    pub response_time_ms: Vec<Option<i64>>,
    pub nul_cleaned: Vec<bool>,
    pub line_no: Vec<i64>,
}

impl Rows {
    pub fn with_capacity(n: usize) -> Rows {
        let s = |name: &str| StringChunkedBuilder::new(name.into(), n);
        Rows {
            log_date: Vec::with_capacity(n),
            ts_ms: Vec::with_capacity(n),
            ip_truncated: s("ip_truncated"),
            customer_id: s("customer_id"),
            method: s("method"),
            path: s("path"),
            query_keys: s("query_keys"),
            protocol: s("protocol"),
            status_code: Vec::with_capacity(n),
            status_family: Vec::with_capacity(n),
            response_size_bytes: Vec::with_capacity(n),
            referer: s("referer"),
            is_bot: Vec::with_capacity(n),
            user_agent_class: Vec::with_capacity(n),
            response_time_ms: Vec::with_capacity(n),
            nul_cleaned: Vec::with_capacity(n),
            line_no: Vec::with_capacity(n),
        }
    }
    pub fn len(&self) -> usize {
        self.ts_ms.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ts_ms.is_empty()
    }
}

/// What parsing a block gave.
pub struct Parsed {
    pub rows: Rows,
    pub rejects: Vec<Reject>,
    pub lines: u64,
    pub nul_lines: u64,
}

/// Cached pseudonyms (customer ids repeat all day long).
#[derive(Clone)]
pub struct Cache {
    pseudo: Pseudonymizer,
    memo: PlHashMap<Vec<u8>, String>,
    /// User agents repeat too: (is bot, class) per distinct agent.
    agents: PlHashMap<Vec<u8>, (bool, &'static str)>,
}

impl Cache {
    pub fn new(pseudo: Pseudonymizer) -> Cache {
        Cache {
            pseudo,
            memo: PlHashMap::default(),
            agents: PlHashMap::default(),
        }
    }

    fn agent(&mut self, ua: &[u8]) -> (bool, &'static str) {
        if let Some(v) = self.agents.get(ua) {
            return *v;
        }
        let bot = BOT_UA.is_match(ua);
        let v = (bot, user_agent_class(ua, bot));
        if self.agents.len() < 100_000 {
            self.agents.insert(ua.to_vec(), v);
        }
        v
    }
    fn get(&mut self, raw: &[u8]) -> &str {
        if !self.memo.contains_key(raw) {
            let v = self.pseudo.pseudo(&String::from_utf8_lossy(raw));
            self.memo.insert(raw.to_vec(), v);
        }
        self.memo.get(raw).map(String::as_str).unwrap_or_default()
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Some(n)
}

/// `17/Mar/2026:15:05:09 +0100` → (local date, UTC epoch ms).
pub fn parse_time_local(b: &[u8]) -> Option<(NaiveDate, i64)> {
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let day = num(&b[0..2])?;
    let month = MONTHS.iter().position(|m| &b[3..6] == *m)? as u32 + 1;
    let year = num(&b[7..11])? as i32;
    let (h, mi, s) = (num(&b[12..14])?, num(&b[15..17])?, num(&b[18..20])?);
    let sign = match b[21] {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let off = i64::from(num(&b[22..24])?) * 60 + i64::from(num(&b[24..26])?);
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let local = date
        .and_hms_opt(h, mi, s.min(59))?
        .and_utc()
        .timestamp_millis();
    Some((date, local - sign * off * 60_000))
}

/// `0.012` → 12 ms. nginx always writes three decimals: `1.` or `1.2` is a
/// line cut in the middle of its last field, not a value.
fn parse_seconds_ms(b: &[u8]) -> Option<i64> {
    let i = b.iter().position(|&c| c == b'.')?;
    let (int, frac) = (&b[..i], &b[i + 1..]);
    if frac.len() != 3 {
        return None;
    }
    Some(i64::from(num(int)?) * 1000 + i64::from(num(frac)?))
}

fn status_family(code: u32) -> Option<&'static str> {
    Some(match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => return None,
    })
}

/// A coarse class of the user agent: enough for traffic analysis, not enough
/// to single anyone out (SILVER-NGINX-8).
pub fn user_agent_class(ua: &[u8], bot: bool) -> &'static str {
    if bot {
        return "bot";
    }
    let has = |s: &[u8]| memchr::memmem::find(ua, s).is_some();
    if ua.is_empty() || ua == b"-" {
        "unknown"
    } else if has(b"Mobile") || has(b"Android") || has(b"iPhone") {
        "mobile_browser"
    } else if has(b"Mozilla/") {
        "desktop_browser"
    } else {
        "other"
    }
}

/// [`truncate_ip`] with a fast path for dotted IPv4 (most lines).
/// Writes the truncated IP into `out` (cleared first); `false` when `a` is not an IP.
fn ip_prefix(a: &[u8], out: &mut String) -> bool {
    out.clear();
    if a.len() <= 15 && a.iter().filter(|&&c| c == b'.').count() == 3 {
        let octets_ok = a
            .split(|&c| c == b'.')
            .all(|o| !o.is_empty() && o.len() <= 3 && num(o).is_some_and(|n| n <= 255));
        let cut = memchr::memrchr(b'.', a);
        return match (octets_ok, cut, std::str::from_utf8(a)) {
            (true, Some(cut), Ok(text)) => {
                out.push_str(&text[..cut]);
                out.push_str(".xxx");
                true
            }
            _ => false,
        };
    }
    match std::str::from_utf8(a).ok().and_then(truncate_ip) {
        Some(t) => {
            out.push_str(&t);
            true
        }
        None => false,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn lossy_cow(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Path without its query string, and the sorted names of the query parameters
/// (their values may hold personal data: e-mails, tokens).
fn split_target(target: &[u8]) -> (std::borrow::Cow<'_, str>, Option<String>) {
    match target.iter().position(|&c| c == b'?') {
        None => (lossy_cow(target), None),
        Some(i) => {
            let mut keys: Vec<String> = target[i + 1..]
                .split(|&c| c == b'&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| lossy(kv.split(|&c| c == b'=').next().unwrap_or(b"")))
                .collect();
            keys.sort();
            keys.dedup();
            (lossy_cow(&target[..i]), Some(keys.join(",")))
        }
    }
}

fn referer_of(r: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    if r.is_empty() || r == b"-" {
        return None;
    }
    let end = r
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(r.len());
    Some(lossy_cow(&r[..end]))
}

fn reject(source: &str, line_no: u64, field: &str, reason: String) -> Reject {
    Reject {
        bronze_key: source.to_string(),
        line: line_no,
        field: field.to_string(),
        reason,
    }
}

/// Parse a block of lines of one bronze log file; `first_line` is the line
/// number of its first line.
pub fn parse(
    bytes: &[u8],
    first_line: u64,
    bronze_key: &str,
    fmt: &LogFormat,
    cache: &mut Cache,
) -> Parsed {
    let mut p = Parsed {
        // ~200 bytes a line: one allocation per column and block.
        rows: Rows::with_capacity(bytes.len() / 160 + 16),
        rejects: Vec::new(),
        lines: 0,
        nul_lines: 0,
    };
    let mut clean = Vec::new();
    let mut ip = String::new();
    // The newline that ends the file does not start another line.
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() && bytes.len() <= 1 {
        return p;
    }
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = first_line + i as u64;
        p.lines += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let had_nul = memchr::memchr(0, raw).is_some();
        let line: &[u8] = if had_nul {
            clean.clear();
            clean.extend(raw.iter().copied().filter(|&b| b != 0));
            p.nul_lines += 1;
            &clean
        } else {
            raw
        };
        match parse_line(line, fmt, cache, &mut ip, &mut p.rows) {
            Ok(()) => {
                p.rows.nul_cleaned.push(had_nul);
                p.rows.line_no.push(line_no as i64);
            }
            Err((field, reason)) => p.rejects.push(reject(bronze_key, line_no, field, reason)),
        }
    }
    p
}

type LineError = (&'static str, String);

fn parse_line(
    line: &[u8],
    fmt: &LogFormat,
    cache: &mut Cache,
    ip: &mut String,
    rows: &mut Rows,
) -> Result<(), LineError> {
    if line.is_empty() {
        return Err(("line", "empty line".into()));
    }
    let fields = fmt.split(line).map_err(|Mismatch { expected, at }| {
        ("line", format!("does not match the log_format: expected {expected} at byte {at} (truncated or malformed line)"))
    })?;
    let get = |f: Field| fields.get(f);

    let (date, ts) = get(Field::TimeLocal)
        .and_then(parse_time_local)
        .ok_or(("time_local", "invalid $time_local".to_string()))?;
    // A request nginx could not parse (a TLS hello on the plain port, a bare
    // "GET") is still a real logged request, answered 400: kept, with the
    // method/path it does not have left null.
    let request = get(Field::Request).unwrap_or_default();
    let mut parts = request.splitn(3, |&c| c == b' ');
    let method = parts
        .next()
        .filter(|m| !m.is_empty() && m.len() <= 16 && m.iter().all(u8::is_ascii_uppercase));
    let target = parts.next().filter(|_| method.is_some());
    let protocol = parts.next().filter(|_| target.is_some());
    let status = get(Field::Status)
        .and_then(num)
        .filter(|s| (100..600).contains(s));
    let status = status.ok_or(("status", "invalid $status".to_string()))?;
    let size = match get(Field::BodyBytesSent) {
        None => None,
        Some(b) => Some(i64::from(
            num(b).ok_or(("body_bytes_sent", "invalid $body_bytes_sent".to_string()))?,
        )),
    };
    let rt = match get(Field::RequestTime) {
        None => None,
        Some(b) => {
            Some(parse_seconds_ms(b).ok_or(("request_time", "invalid $request_time".to_string()))?)
        }
    };
    let ua = get(Field::UserAgent).unwrap_or_default();
    let (bot, ua_class) = cache.agent(ua);
    let (path, query_keys) = match target {
        Some(t) => {
            let (p, q) = split_target(t);
            (Some(p), q)
        }
        None => (None, None),
    };

    rows.log_date
        .push((date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32);
    rows.ts_ms.push(ts);
    let has_ip = get(Field::RemoteAddr).is_some_and(|a| ip_prefix(a, ip));
    rows.ip_truncated
        .append_option(has_ip.then_some(ip.as_str()));
    rows.customer_id.append_option(match get(Field::Customer) {
        None | Some(b"-") | Some(b"") => None,
        Some(c) => Some(cache.get(c)),
    });
    rows.method.append_option(method.map(lossy_cow).as_deref());
    rows.path.append_option(path.as_deref());
    rows.query_keys.append_option(query_keys.as_deref());
    rows.protocol
        .append_option(protocol.map(lossy_cow).as_deref());
    rows.status_code.push(status as i32);
    rows.status_family
        .push(status_family(status).unwrap_or("5xx"));
    rows.response_size_bytes.push(size);
    rows.referer
        .append_option(get(Field::Referer).and_then(referer_of).as_deref());
    rows.is_bot.push(bot);
    rows.user_agent_class.push(ua_class);
    rows.response_time_ms.push(rt);
    Ok(())
}

/// `kvt silver nginx`: the runner's view.
pub struct NginxSource {
    fmt: LogFormat,
    cache: Cache,
    cache2: Cache,
    /// Share of discarded lines above which a file fails the step (C5: 5 %).
    pub tolerance: f64,
    /// Frames waiting to be written, by log date, and their row count.
    builders: BTreeMap<i32, (Vec<DataFrame>, usize)>,
    bronze_key: String,
}

impl NginxSource {
    pub fn new(fmt: LogFormat, pseudo: Pseudonymizer, tolerance: f64) -> NginxSource {
        NginxSource {
            fmt,
            cache2: Cache::new(pseudo.clone()),
            cache: Cache::new(pseudo),
            tolerance,
            builders: BTreeMap::new(),
            bronze_key: String::new(),
        }
    }
}

impl NginxSource {
    /// Parse a block on two threads (two halves cut at a line end), each
    /// half turned into a frame on its thread; results in line order.
    fn parse_parallel(
        &mut self,
        block: &[u8],
        first_line: u64,
        key: &str,
    ) -> PolarsResult<(Vec<DataFrame>, Parsed)> {
        const MIN_SPLIT: usize = 1 << 20;
        let fmt = &self.fmt;
        let framed = |bytes: &[u8], first: u64, cache: &mut Cache| {
            let mut p = parse(bytes, first, key, fmt, cache);
            let rows = std::mem::replace(&mut p.rows, Rows::with_capacity(0));
            rows.into_frame(key).map(|df| (df, p))
        };
        let cut = (block.len() > MIN_SPLIT)
            .then(|| {
                memchr::memchr(b'\n', &block[block.len() / 2..]).map(|i| block.len() / 2 + i + 1)
            })
            .flatten()
            .filter(|&c| c < block.len());
        let Some(cut) = cut else {
            let (df, p) = framed(block, first_line, &mut self.cache)?;
            return Ok((vec![df], p));
        };
        let (a, b) = block.split_at(cut);
        let b_first = first_line + memchr::memchr_iter(b'\n', a).count() as u64;
        let (c1, c2) = (&mut self.cache, &mut self.cache2);
        let (ra, rb) = std::thread::scope(|sc| {
            let h = sc.spawn(|| framed(b, b_first, c2));
            let ra = framed(a, first_line, c1);
            (ra, h.join())
        });
        // The parser does not panic on input; if it ever did, that is a bug to surface.
        let (db, pb) = rb.unwrap_or_else(|e| std::panic::resume_unwind(e))?;
        let (da, mut pa) = ra?;
        pa.lines += pb.lines;
        pa.nul_lines += pb.nul_lines;
        pa.rejects.extend(pb.rejects);
        Ok((vec![da, db], pa))
    }

    /// Queue a frame of one log date for its partition.
    fn queue(
        &mut self,
        day: i32,
        df: DataFrame,
        keep: Option<&BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
    ) -> u64 {
        let part = partition_of(day);
        seen.insert(part.clone());
        if keep.is_some_and(|k| !k.contains(&part)) || df.height() == 0 {
            return 0;
        }
        let n = df.height();
        let b = self.builders.entry(day).or_default();
        b.0.push(df);
        b.1 += n;
        n as u64
    }
}

/// Rows per part: smaller than the default, because a day of a busy site is
/// millions of lines and each part is held in memory while it is encoded.
const PART_ROWS: usize = 512 * 1024;
/// Rows buffered over all log dates before every date is written out.
const BUFFER_ROWS: usize = 512 * 1024;

/// `nginx/log_date=YYYY-MM-DD`
pub fn partition_of(day: i32) -> String {
    format!("nginx/log_date={}", super::from_epoch_days(day))
}

impl Source for NginxSource {
    fn name(&self) -> &'static str {
        "nginx"
    }
    fn tables(&self) -> &'static [&'static str] {
        &["nginx"]
    }
    fn bronze_source(&self) -> &'static str {
        "nginx"
    }
    fn streaming(&self) -> bool {
        true
    }

    fn process(
        &mut self,
        input: &Input,
        first_line: u64,
        block: &[u8],
        keep: Option<&BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        rejects: &mut Vec<Reject>,
    ) -> anyhow::Result<Counts> {
        let (frames, p) = self.parse_parallel(block, first_line, &input.key)?;
        self.bronze_key.clone_from(&input.key);
        let mut counts = Counts {
            rows_in: p.lines,
            rejected: p.rejects.len() as u64,
            flagged: p.nul_lines,
            ..Default::default()
        };
        rejects.extend(p.rejects);
        // Split by log date. A frame of one day (the usual case: one file per
        // day) goes to its partition as it is.
        for df in frames {
            if df.height() == 0 {
                continue;
            }
            let days = df.column("log_date")?.to_physical_repr();
            let days = days.i32()?;
            let (min, max) = (days.min(), days.max());
            if let (Some(min), true) = (min, min == max) {
                counts.rows_out += self.queue(min, df, keep, seen);
                continue;
            }
            let distinct: BTreeSet<i32> = days.iter().flatten().collect();
            for day in distinct {
                let part = df.filter(&days.equal(day))?;
                counts.rows_out += self.queue(day, part, keep, seen);
            }
        }
        Ok(counts)
    }

    /// Full parts; and when the rows buffered over every log date pass
    /// [`BUFFER_ROWS`] (a file spanning many days), every date's rows, so
    /// memory is bounded by the buffer, not by the number of days a file holds.
    fn take(&mut self, all: bool) -> anyhow::Result<Vec<(String, DataFrame)>> {
        let buffered: usize = self.builders.values().map(|(_, n)| n).sum();
        let flush_all = all || buffered > BUFFER_ROWS;
        let ready: Vec<i32> = self
            .builders
            .iter()
            .filter(|(_, (_, n))| flush_all || *n >= PART_ROWS)
            .map(|(d, _)| *d)
            .collect();
        let mut out = Vec::new();
        for d in ready {
            if let Some((frames, _)) = self.builders.remove(&d) {
                let mut frames = frames.into_iter();
                if let Some(mut df) = frames.next() {
                    for f in frames {
                        df.vstack_mut_owned(f)?;
                    }
                    out.push((partition_of(d), df));
                }
            }
        }
        Ok(out)
    }

    fn verdict(&self, input: &Input, c: &Counts) -> Option<String> {
        let share = if c.rows_in == 0 {
            0.0
        } else {
            c.rejected as f64 / c.rows_in as f64
        };
        (share > self.tolerance).then(|| {
            format!(
                "{}: {} of {} lines discarded ({:.2} %), above the {:.1} % tolerance",
                input.key,
                c.rejected,
                c.rows_in,
                share * 100.0,
                self.tolerance * 100.0
            )
        })
    }
}

impl Rows {
    /// The silver frame (column order = docs/silver.md).
    pub fn into_frame(self, bronze_key: &str) -> PolarsResult<DataFrame> {
        let n = self.len();
        DataFrame::new(
            n,
            vec![
                Int32Chunked::from_vec("log_date".into(), self.log_date)
                    .into_date()
                    .into_column(),
                Int64Chunked::from_vec("timestamp".into(), self.ts_ms)
                    .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                    .into_column(),
                self.ip_truncated.finish().into_column(),
                self.customer_id.finish().into_column(),
                self.method.finish().into_column(),
                self.path.finish().into_column(),
                self.query_keys.finish().into_column(),
                self.protocol.finish().into_column(),
                Column::new("status_code".into(), self.status_code),
                Column::new("status_family".into(), self.status_family),
                Column::new("response_size_bytes".into(), self.response_size_bytes),
                self.referer.finish().into_column(),
                Column::new("is_bot".into(), self.is_bot),
                Column::new("user_agent_class".into(), self.user_agent_class),
                Column::new("response_time_ms".into(), self.response_time_ms),
                Column::new("nul_cleaned".into(), self.nul_cleaned),
                super::const_str_column("bronze_key", bronze_key, n),
                Column::new("bronze_line".into(), self.line_no),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silver::logformat::{COMBINED_FORMAT, KVT_FORMAT};

    fn pseudo() -> Pseudonymizer {
        Pseudonymizer::new(b"test-key")
    }

    const OK: &str = r#"192.168.1.45 - CUST-000123 [17/Mar/2026:15:05:09 +0100] "GET /compte?email=jean.dupont@example.com&x=1 HTTP/1.1" 200 5123 "https://kivendtout.fr/panier?id=9" "Mozilla/5.0 (Linux; Android 14) Mobile" 0.012"#;

    /// A parsed text, and its rows as a frame.
    struct Got {
        parsed: Parsed,
        df: DataFrame,
    }

    impl std::ops::Deref for Got {
        type Target = Parsed;
        fn deref(&self) -> &Parsed {
            &self.parsed
        }
    }

    impl Got {
        fn strs(&self, col: &str) -> Vec<Option<String>> {
            let c = self.df.column(col).unwrap();
            c.str()
                .unwrap()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        }
    }

    fn run(text: &[u8], format: &str) -> Got {
        let fmt = LogFormat::compile(format).unwrap();
        let key = "bronze/nginx_data/a.log";
        let parsed = parse(text, 1, key, &fmt, &mut Cache::new(pseudo()));
        let df = parse(text, 1, key, &fmt, &mut Cache::new(pseudo()))
            .rows
            .into_frame(key)
            .unwrap();
        Got { parsed, df }
    }

    #[test]
    fn a_valid_line_becomes_a_clean_row() {
        let p = run(format!("{OK}\n").as_bytes(), KVT_FORMAT);
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        assert_eq!(p.lines, 1);
        let r = &p.rows;
        assert_eq!(r.len(), 1);
        assert_eq!(p.strs("ip_truncated")[0].as_deref(), Some("192.168.1.xxx"));
        assert_eq!(
            p.strs("customer_id")[0],
            Some(pseudo().pseudo("CUST-000123"))
        );
        assert_eq!(p.strs("path")[0].as_deref(), Some("/compte"));
        assert_eq!(p.strs("query_keys")[0].as_deref(), Some("email,x"));
        assert_eq!(
            p.strs("referer")[0].as_deref(),
            Some("https://kivendtout.fr/panier")
        );
        assert_eq!(r.status_family[0], "2xx");
        assert_eq!(r.response_time_ms[0], Some(12));
        assert_eq!(r.user_agent_class[0], "mobile_browser");
        assert!(!r.is_bot[0]);
        // 15:05:09 +0100 = 14:05:09Z
        assert_eq!(r.ts_ms[0], 1_773_756_309_000);
        assert_eq!(r.log_date[0], 20_529);
    }

    #[test]
    fn nul_bytes_are_removed_and_the_line_kept() {
        let line = OK.replace("/compte", "/com\0\0pte");
        let p = run(line.as_bytes(), KVT_FORMAT);
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        assert_eq!(p.nul_lines, 1);
        assert!(p.rows.nul_cleaned[0]);
        assert_eq!(p.strs("path")[0].as_deref(), Some("/compte"));
    }

    #[test]
    fn truncated_and_garbage_lines_are_rejected_with_their_line_number() {
        let cut = &OK[..OK.len() - 20];
        let text = format!(
            "{OK}\n{cut}\n2026/03/17 15:05:09 [error] 12#12: upstream timed out\n\n{{\"x\":1}}\n"
        );
        let p = run(text.as_bytes(), KVT_FORMAT);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.lines, 5);
        let lines: Vec<u64> = p.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert!(
            p.rejects[0].reason.contains("http_user_agent"),
            "{}",
            p.rejects[0].reason
        );
        assert_eq!(p.rejects[2].reason, "empty line");
    }

    /// Regression (issue 7): a line cut inside `$request_time` (`… 1.`) was
    /// read as 1000 ms.
    #[test]
    fn a_request_time_without_its_three_decimals_is_a_truncated_line() {
        let base = OK.trim_end_matches("0.012");
        let text = format!("{base}1.\n{base}1.2\n{base}1\n{base}\n{base}1.250\n");
        let p = run(text.as_bytes(), KVT_FORMAT);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows.response_time_ms[0], Some(1250));
        let lines: Vec<u64> = p.rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 2, 3, 4]);
        assert!(
            p.rejects[0].reason.contains("request_time"),
            "{:?}",
            p.rejects
        );
        assert_eq!(parse_seconds_ms(b"1."), None);
        assert_eq!(parse_seconds_ms(b"0.012"), Some(12));
    }

    /// Regression (issue 7): with `escape=none` a `"` inside the user agent
    /// or the referer made a valid line fail.
    #[test]
    fn quotes_inside_quoted_fields_find_the_split_that_matches() {
        let lines = [
            r#"10.1.2.3 - CUST-1 [17/Mar/2026:15:05:09 +0100] "GET /p/1 HTTP/1.1" 200 512 "-" "Mozilla/5.0 "KiVendTout embed" (Linux)" 0.031"#,
            r#"10.1.2.3 - - [17/Mar/2026:15:05:09 +0100] "GET /p/2 HTTP/1.1" 404 0 "https://x.fr/?q="a" b" "UA "quoted" 200 1 "x" "y" 0.500" 0.007"#,
            r#"10.1.2.3 - - [17/Mar/2026:15:05:09 +0100] "GET /a" b" HTTP/1.1" 400 0 "-" "-" 0.001"#,
        ];
        let p = run(lines.join("\n").as_bytes(), KVT_FORMAT);
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        assert_eq!(p.rows.response_time_ms, [Some(31), Some(7), Some(1)]);
        assert_eq!(p.rows.status_code, [200, 404, 400]);
        assert_eq!(p.rows.user_agent_class[0], "desktop_browser");
        assert_eq!(p.strs("referer")[1].as_deref(), Some("https://x.fr/"));
        // Combined: the last quote of the line closes the agent.
        let combined =
            r#"10.1.2.3 - - [17/Mar/2026:15:05:09 +0100] "GET / HTTP/1.1" 200 1 "-" "a "b" c""#;
        let p = run(combined.as_bytes(), COMBINED_FORMAT);
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
    }

    #[test]
    fn hostile_lines_end_quickly_and_are_rejected() {
        // Thousands of `" ` that each look like the end of a field.
        let mut line = String::from(
            r#"10.1.2.3 - - [17/Mar/2026:15:05:09 +0100] "GET / HTTP/1.1" 200 1 "-" ""#,
        );
        for _ in 0..5000 {
            line.push_str(r#"" " "#);
        }
        let t = std::time::Instant::now();
        let p = run(line.as_bytes(), KVT_FORMAT);
        assert_eq!(p.rejects.len(), 1);
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    /// Regression (issue 7): "plain `combined` must also parse" (C5) without
    /// the operator choosing a format.
    #[test]
    fn the_default_reads_kvt_and_combined_lines_side_by_side() {
        let fmt = LogFormat::compile_any(&[KVT_FORMAT, COMBINED_FORMAT]).unwrap();
        let combined = r#"10.0.0.1 - alice [17/Mar/2026:15:05:09 +0100] "GET / HTTP/1.1" 304 0 "-" "curl/8.0""#;
        let text = format!("{OK}\n{combined}\n{}\n", &OK[..OK.len() - 2]);
        let p = parse(text.as_bytes(), 1, "k", &fmt, &mut Cache::new(pseudo()));
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows.response_time_ms, [Some(12), None]);
        assert_eq!(p.rows.status_code, [200, 304]);
        // The combined `$remote_user` is not a customer id.
        let df = p.rows.into_frame("k").unwrap();
        assert_eq!(df.column("customer_id").unwrap().null_count(), 1);
        assert_eq!(p.rejects.len(), 1);
        assert!(
            p.rejects[0].reason.contains("request_time"),
            "{:?}",
            p.rejects
        );
    }

    #[test]
    fn ipv6_status_families_and_bots() {
        let line = r#"2a01:e0a:1f2:3b40::1 - - [17/Mar/2026:03:00:00 +0100] "POST /api/panier HTTP/2.0" 503 0 "-" "python-requests/2.31" 1.500"#;
        let p = run(line.as_bytes(), KVT_FORMAT);
        assert_eq!(
            p.strs("ip_truncated")[0].as_deref(),
            Some("2a01:e0a:1f2::/48")
        );
        assert_eq!(p.strs("customer_id")[0], None);
        assert_eq!(p.rows.status_family[0], "5xx");
        assert!(p.rows.is_bot[0]);
        assert_eq!(p.rows.user_agent_class[0], "bot");
        assert_eq!(p.rows.response_time_ms[0], Some(1500));
        assert_eq!(p.strs("referer")[0], None);
    }

    #[test]
    fn a_block_spanning_midnight_feeds_two_partitions_in_line_order() {
        let next_day = OK.replace("17/Mar/2026:15:05:09", "18/Mar/2026:00:00:01");
        let text = format!("{OK}\n{next_day}\n{OK}\n");
        let mut src = NginxSource::new(LogFormat::compile(KVT_FORMAT).unwrap(), pseudo(), 0.05);
        let fed = crate::silver::runner::testing::feed(&mut src, &[("bronze/nginx/a.log", text)]);
        let parts: Vec<(&str, Vec<i64>)> = fed
            .frames
            .iter()
            .map(|(p, df)| {
                let lines = df.column("bronze_line").unwrap().i64().unwrap();
                (p.as_str(), lines.into_no_null_iter().collect())
            })
            .collect();
        assert_eq!(
            parts,
            [
                ("nginx/log_date=2026-03-17", vec![1, 3]),
                ("nginx/log_date=2026-03-18", vec![2])
            ]
        );
        assert_eq!(fed.counts.rows_out, 3);
        assert_eq!(fed.seen.len(), 2);
    }

    #[test]
    fn combined_format_has_no_customer_and_no_time() {
        let line = r#"10.1.2.3 - frank [17/Mar/2026:15:05:09 +0100] "GET / HTTP/1.1" 304 0 "-" "Mozilla/5.0""#;
        let p = run(line.as_bytes(), COMBINED_FORMAT);
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        assert_eq!(p.strs("customer_id")[0], None);
        assert_eq!(p.rows.response_time_ms[0], None);
        assert_eq!(p.rows.status_family[0], "3xx");
    }

    #[test]
    fn requests_nginx_could_not_parse_are_kept_without_method_or_path() {
        let text = concat!(
            r#"127.0.0.1 - - [24/Nov/2026:07:01:20 +0000] "\x16\x03\x01\x00garbage" 400 157 "-" "-" 0.000"#,
            "\n",
            r#"127.0.0.1 - - [24/Nov/2026:07:01:20 +0000] "GET" 400 157 "-" "-" 0.000"#,
            "\n",
            r#"127.0.0.1 - - [24/Nov/2026:07:01:20 +0000] "GET /caf\xE9?q=\xFF HTTP/1.1" 404 153 "-" "bad\xFF" 0.000"#,
        );
        let p = run(text.as_bytes(), KVT_FORMAT);
        assert!(p.rejects.is_empty(), "{:?}", p.rejects);
        assert_eq!(
            p.strs("method"),
            [None, Some("GET".into()), Some("GET".into())]
        );
        assert_eq!(p.strs("path"), [None, None, Some("/caf\\xE9".into())]);
        assert_eq!(p.strs("query_keys")[2].as_deref(), Some("q"));
    }

    #[test]
    fn time_local() {
        let (d, ms) = parse_time_local(b"31/Dec/2026:23:59:59 -0500").unwrap();
        assert_eq!(d.to_string(), "2026-12-31");
        assert_eq!(
            ms,
            NaiveDate::from_ymd_opt(2027, 1, 1)
                .unwrap()
                .and_hms_opt(4, 59, 59)
                .unwrap()
                .and_utc()
                .timestamp_millis()
        );
        assert!(parse_time_local(b"31/Foo/2026:23:59:59 -0500").is_none());
        assert!(parse_time_local(b"30/Feb/2026:23:59:59 +0000").is_none());
        assert_eq!(parse_seconds_ms(b"60.005"), Some(60_005));
        assert_eq!(
            parse_seconds_ms(b"2"),
            None,
            "nginx always writes three decimals"
        );
        assert_eq!(parse_seconds_ms(b"0.1x"), None);
    }

    /// Fuzz (issue 7): a million mutated lines; each is kept or rejected,
    /// never lost, and nothing panics.
    #[test]
    fn fuzz_every_line_is_kept_or_rejected() {
        let fmt = LogFormat::compile_any(&[KVT_FORMAT, COMBINED_FORMAT]).unwrap();
        let mut cache = Cache::new(pseudo());
        let combined = r#"10.0.0.1 - alice [17/Mar/2026:15:05:09 +0100] "GET /a?b=c HTTP/1.1" 304 0 "-" "curl/8.0""#;
        let quoted = r#"10.1.2.3 - - [17/Mar/2026:15:05:09 +0100] "GET /p/2 HTTP/1.1" 404 0 "https://x.fr/?q="a" b" "UA "quoted" 200" 0.007"#;
        let v6 = r#"2a01:e0a:1f2:3b40::1 - - [17/Mar/2026:03:00:00 +0100] "POST /api/panier HTTP/2.0" 503 0 "-" "python-requests/2.31" 1.500"#;
        let mut n = 0u64;
        crate::fuzz::run(
            "nginx",
            7,
            &[
                OK.as_bytes(),
                combined.as_bytes(),
                quoted.as_bytes(),
                v6.as_bytes(),
            ],
            |input| {
                let p = parse(input, 1, "k", &fmt, &mut cache);
                let body = input.strip_suffix(b"\n").unwrap_or(input);
                let lines = if body.is_empty() && input.len() <= 1 {
                    0
                } else {
                    body.split(|&b| b == b'\n').count() as u64
                };
                assert_eq!(p.lines, lines);
                assert_eq!(p.rows.len() as u64 + p.rejects.len() as u64, lines);
                n += 1;
                if n % 4096 == 0 {
                    // Every column has one value per kept line.
                    let rows = p.rows.len();
                    let df = p.rows.into_frame("k").unwrap();
                    assert_eq!(df.height(), rows);
                }
            },
        );
    }
}
