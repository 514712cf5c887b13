//! `kvt silver firebase`: Firebase Analytics NDJSON → typed, pseudonymised
//! events (SPEC §3.5, SILVER-FB-1..8).
//!
//! One event per line. `params` is pivoted on `event_name` into typed columns
//! that are null when they do not apply (SILVER-FB-1); keys the pivot does not
//! know, values of an unexpected type and the params of unknown event names
//! are kept in `params_extra`, scrubbed of anything personal (SILVER-FB-2,
//! [`super::scrub::scrub_value`]). Bots and test sessions are filtered out
//! (SILVER-FB-4); `device_id`, `session_id` and `user_id` (except the literal
//! `anonymous`, SILVER-FB-5) are pseudonymised (C6). Rows are buffered for the
//! whole run: duplicates of an `event_id` within a partition are removed and
//! every partition is sorted by (`event_timestamp`, `event_id`), so the output
//! does not depend on the order in which bronze objects are read.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use serde::Deserialize;

use super::columns::{date_column, str_column, table_schema, ts_column, ByteArena, ChunkVec, Kind};
use super::intern::{hash64, lower, upper, FxBuild, Strings, NULL};
use super::patterns::{rule, PatternConfig, Patterns};
use super::pseudo::Pseudonymizer;
use super::runner::Source;
use super::scrub::{extra_json, scrub_text};
use super::{Counts, Input, Reject};
use crate::json::{describe_json_error, is_object_line, Val};
use crate::table::partition_path;

table_schema!(fb {
    event_date: Date,
    event_name: Str,
    event_timestamp: Ts,
    event_id: Text,
    user_id: Str,
    is_anonymous: Bool,
    device_id: Str,
    session_id: Str,
    platform: Str,
    app_version: Str,
    os_version: Str,
    country: Str,
    language: Str,
    screen_resolution: Str,
    network_type: Str,
    source: Str,
    campaign_id: Str,
    screen_name: Str,
    previous_screen: Str,
    time_on_prev_screen_ms: I64,
    product_id: Str,
    price_eur: F64,
    currency: Str,
    item_list_name: Str,
    items_shown: I64,
    search_term: Str,
    results_count: I64,
    quantity: I64,
    cart_value_eur: F64,
    items_count: I64,
    coupon_code: Str,
    payment_type: Str,
    transaction_id: Str,
    value_eur: F64,
    shipping_eur: F64,
    payment_method: Str,
    auth_method: Str,
    promotion_id: Str,
    promotion_name: Str,
    content_type: Str,
    item_id: Str,
    params_extra: Str,
    timestamp_was_string: Bool,
    timestamp_rescaled: Bool,
    bronze_key: Str,
    bronze_line: I64,
});

pub use fb::SCHEMA;

/// The conditional pivot (SILVER-FB-1, OQ-13): for each known event name, the
/// `params` keys that become columns. Everything else goes to `params_extra`.
pub fn pivot(event_name: &str) -> Option<&'static [(&'static str, usize)]> {
    Some(match event_name {
        "app_open" => &[("source", fb::source), ("campaign_id", fb::campaign_id)],
        "screen_view" => &[
            ("screen_name", fb::screen_name),
            ("previous_screen", fb::previous_screen),
            ("time_on_prev_screen_ms", fb::time_on_prev_screen_ms),
        ],
        "view_item" => &[
            ("product_id", fb::product_id),
            ("price_eur", fb::price_eur),
            ("currency", fb::currency),
        ],
        "view_item_list" => &[
            ("item_list_name", fb::item_list_name),
            ("items_shown", fb::items_shown),
        ],
        "search" => &[
            ("search_term", fb::search_term),
            ("results_count", fb::results_count),
        ],
        "add_to_cart" => &[
            ("product_id", fb::product_id),
            ("quantity", fb::quantity),
            ("price_eur", fb::price_eur),
            ("currency", fb::currency),
            ("cart_value_eur", fb::cart_value_eur),
        ],
        "remove_from_cart" => &[("product_id", fb::product_id), ("quantity", fb::quantity)],
        "begin_checkout" => &[
            ("cart_value_eur", fb::cart_value_eur),
            ("items_count", fb::items_count),
            ("currency", fb::currency),
            ("coupon_code", fb::coupon_code),
        ],
        "add_payment_info" => &[("payment_type", fb::payment_type)],
        "purchase" => &[
            ("transaction_id", fb::transaction_id),
            ("value_eur", fb::value_eur),
            ("currency", fb::currency),
            ("items_count", fb::items_count),
            ("shipping_eur", fb::shipping_eur),
            ("payment_method", fb::payment_method),
        ],
        "login" | "sign_up" => &[("method", fb::auth_method)],
        "select_promotion" => &[
            ("promotion_id", fb::promotion_id),
            ("promotion_name", fb::promotion_name),
        ],
        "share" => &[("content_type", fb::content_type), ("item_id", fb::item_id)],
        _ => return None,
    })
}

/// Fields a bot/test-session rule may look at (`[silver.firebase] bot_patterns`).
pub const PATTERN_FIELDS: [&str; 11] = [
    "device_id",
    "user_id",
    "session_id",
    "app_version",
    "platform",
    "os_version",
    "country",
    "language",
    "screen_resolution",
    "network_type",
    "event_name",
];

/// The default bot and test-session rules (SILVER-FB-4, OQ-14, decision D-66):
/// automated devices, QA accounts, nil session ids, test and debug builds.
pub fn default_bot_patterns() -> Vec<PatternConfig> {
    [
        ("device_id", "prefix", "bot-"),
        ("device_id", "prefix", "headless-"),
        ("device_id", "prefix", "crawler-"),
        ("device_id", "prefix", "spider-"),
        ("user_id", "prefix", "test_"),
        ("user_id", "prefix", "test-"),
        ("user_id", "prefix", "qa_"),
        ("user_id", "prefix", "qa-"),
        ("session_id", "prefix", "test-"),
        ("session_id", "prefix", "00000000-0000-"),
        ("app_version", "suffix", "-test"),
        ("app_version", "suffix", "-debug"),
    ]
    .into_iter()
    .map(|(f, k, v)| rule(f, k, v))
    .collect()
}

/// Event times outside [2000-01-01, 2100-01-01) UTC are not believed.
pub const TS_MIN_MS: i64 = 946_684_800_000;
pub const TS_MAX_MS: i64 = 4_102_444_800_000;

/// An `event_timestamp` as read (SILVER-FB-3, INC-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// UTC milliseconds since the epoch.
    pub ms: i64,
    /// The value was a JSON string (digits or ISO 8601).
    pub was_string: bool,
    /// The number was in seconds, microseconds or nanoseconds, and was converted.
    pub rescaled: bool,
}

/// Why an `event_timestamp` was not read.
pub const TS_NOT_A_TIME: &str =
    "not a timestamp (expected epoch milliseconds or an ISO 8601 date-time)";
pub const TS_OUT_OF_RANGE: &str =
    "timestamp outside 2000-01-01..2100-01-01 whether read as ms, s, µs or ns";

/// An epoch number → milliseconds, by the one unit (ms, s, µs, ns) that puts
/// it in the sane range (the four ranges do not overlap).
pub fn epoch_to_ms(n: i64) -> Result<(i64, bool), &'static str> {
    let in_range = |ms: i64| (TS_MIN_MS..TS_MAX_MS).contains(&ms);
    if in_range(n) {
        return Ok((n, false));
    }
    for ms in [n.checked_mul(1000), Some(n / 1000), Some(n / 1_000_000)]
        .into_iter()
        .flatten()
    {
        if in_range(ms) {
            return Ok((ms, true));
        }
    }
    Err(TS_OUT_OF_RANGE)
}

/// A float epoch (`1773763200.5`) → milliseconds, as [`epoch_to_ms`].
fn epoch_f64_to_ms(f: f64) -> Result<(i64, bool), &'static str> {
    if !f.is_finite() {
        return Err(TS_NOT_A_TIME);
    }
    if f.fract() == 0.0 && f.abs() < 9.0e18 {
        return epoch_to_ms(f as i64);
    }
    for (scale, rescaled) in [(1.0, false), (1000.0, true), (1e-3, true), (1e-6, true)] {
        let ms = (f * scale).round();
        if (TS_MIN_MS as f64..TS_MAX_MS as f64).contains(&ms) {
            return Ok((ms as i64, rescaled));
        }
    }
    Err(TS_OUT_OF_RANGE)
}

/// `event_timestamp`: integer milliseconds (the contract), a string of
/// digits (app 3.9.4), an ISO 8601 / RFC 3339 string with or without offset
/// and fraction (no offset = UTC), or a number in another unit, recognised
/// by its magnitude and converted.
pub fn parse_timestamp(v: &Val<'_>) -> Result<EventTime, &'static str> {
    let (ms, was_string, rescaled) = match v {
        Val::I64(n) => epoch_to_ms(*n).map(|(ms, r)| (ms, false, r))?,
        Val::U64(n) => epoch_to_ms(i64::try_from(*n).map_err(|_| TS_OUT_OF_RANGE)?)
            .map(|(ms, r)| (ms, false, r))?,
        Val::F64(f) => epoch_f64_to_ms(*f).map(|(ms, r)| (ms, false, r))?,
        Val::Str(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Err(TS_NOT_A_TIME);
            }
            let numeric = t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && t.bytes().filter(|&b| b == b'.').count() <= 1;
            let (ms, r) = if numeric && t.bytes().all(|b| b.is_ascii_digit()) {
                match t.parse::<i64>() {
                    Ok(n) => epoch_to_ms(n)?,
                    Err(_) => return Err(TS_OUT_OF_RANGE),
                }
            } else if numeric {
                epoch_f64_to_ms(t.parse::<f64>().map_err(|_| TS_NOT_A_TIME)?)?
            } else {
                let ms = super::dates::parse_timestamp_ms(t).ok_or(TS_NOT_A_TIME)?;
                if !(TS_MIN_MS..TS_MAX_MS).contains(&ms) {
                    return Err(TS_OUT_OF_RANGE);
                }
                (ms, false)
            };
            (ms, true, r)
        }
        _ => return Err(TS_NOT_A_TIME),
    };
    Ok(EventTime {
        ms,
        was_string,
        rescaled,
    })
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    event_id: Option<Val<'a>>,
    #[serde(borrow, default)]
    event_timestamp: Option<Val<'a>>,
    #[serde(borrow, default)]
    device_id: Option<Val<'a>>,
    #[serde(borrow, default)]
    session_id: Option<Val<'a>>,
    #[serde(borrow, default)]
    user_id: Option<Val<'a>>,
    #[serde(borrow, default)]
    platform: Option<Val<'a>>,
    #[serde(borrow, default)]
    app_version: Option<Val<'a>>,
    #[serde(borrow, default)]
    os_version: Option<Val<'a>>,
    #[serde(borrow, default)]
    country: Option<Val<'a>>,
    #[serde(borrow, default)]
    language: Option<Val<'a>>,
    #[serde(borrow, default)]
    screen_resolution: Option<Val<'a>>,
    #[serde(borrow, default)]
    network_type: Option<Val<'a>>,
    #[serde(borrow, default)]
    event_name: Option<Val<'a>>,
    #[serde(borrow, default)]
    params: Option<Val<'a>>,
}

/// One kept event, compact: strings are ids into the run's [`Strings`], the
/// event id and the pivoted params live in the part's byte arena.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    ts: i64,
    /// Arena handles.
    event_id: u32,
    params: u32,
    /// Index into `FirebaseSource::keys`.
    key: u32,
    line: u32,
    name: u32,
    user: u32,
    device: u32,
    session: u32,
    /// Id of the (platform, app_version, os_version, country, language,
    /// screen_resolution, network_type) tuple.
    profile: u32,
    extra: u32,
    event_id_len: u8,
    params_len: u8,
    flags: u8,
}

const ANONYMOUS: u8 = 1;
const TS_STRING: u8 = 2;
const TS_RESCALED: u8 = 4;

/// The seven device attributes, in schema order from `platform`.
const PROFILE_COLS: usize = 7;

/// One partition being built.
struct Part {
    path: String,
    day: i32,
    rows: ChunkVec<Row>,
    bytes: ByteArena,
    /// Bit `c` set: param column `c` of the schema has a value somewhere.
    params_used: u64,
}

/// The runner's view of the firebase source.
pub struct FirebaseSource {
    strings: Strings,
    profiles: Vec<[u32; PROFILE_COLS]>,
    profile_ids: HashMap<[u32; PROFILE_COLS], u32, FxBuild>,
    keys: Vec<String>,
    parts: Vec<Part>,
    /// (event day, event_name id) → part.
    index: HashMap<(i32, u32), usize, FxBuild>,
    by_path: HashMap<String, usize>,
    deduplicated: u64,
    /// Encoded params of the current line.
    scratch: Vec<u8>,
    /// Partitions being turned into frames, a bounded batch per `take`.
    drain: Option<Drain>,
    /// Rows per batch of `take` (tests make it small).
    batch_rows: usize,
    /// Bot and test-session rules (SILVER-FB-4).
    bots: std::sync::Arc<Patterns>,
    /// Rows filtered per rule, over the objects read as new.
    filtered_by_rule: Vec<u64>,
}

/// What turning the buffered partitions into frames needs.
struct Drain {
    dict: StringChunked,
    keys: StringChunked,
    parts: std::vec::IntoIter<Part>,
}

impl FirebaseSource {
    /// `today` is not needed: every date comes from the events themselves.
    /// `bots`: compiled over [`PATTERN_FIELDS`].
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate, bots: Patterns) -> FirebaseSource {
        let _ = today;
        FirebaseSource {
            filtered_by_rule: vec![0; bots.len()],
            bots: std::sync::Arc::new(bots),
            strings: Strings::new(pseudo),
            profiles: Vec::new(),
            profile_ids: HashMap::default(),
            keys: Vec::new(),
            parts: Vec::new(),
            index: HashMap::default(),
            by_path: HashMap::new(),
            deduplicated: 0,
            scratch: Vec::new(),
            drain: None,
            batch_rows: crate::table::PART_ROWS,
        }
    }

    /// The part of (day, event name), created when new.
    fn part(&mut self, day: i32, name: u32) -> usize {
        if let Some(&i) = self.index.get(&(day, name)) {
            return i;
        }
        let date = super::from_epoch_days(day).to_string();
        let value = self.strings.get(name).unwrap_or_default();
        let path = format!(
            "firebase/{}",
            partition_path(&[("event_date", &date), ("event_name", value)])
        );
        let i = match self.by_path.get(&path) {
            Some(&i) => i,
            None => {
                self.parts.push(Part {
                    path: path.clone(),
                    day,
                    rows: ChunkVec::default(),
                    bytes: ByteArena::default(),
                    params_used: 0,
                });
                self.by_path.insert(path, self.parts.len() - 1);
                self.parts.len() - 1
            }
        };
        self.index.insert((day, name), i);
        i
    }

    fn profile(&mut self, p: [u32; PROFILE_COLS]) -> u32 {
        if let Some(&i) = self.profile_ids.get(&p) {
            return i;
        }
        let i = self.profiles.len() as u32;
        self.profiles.push(p);
        self.profile_ids.insert(p, i);
        i
    }

    /// Rows kept, deduplicated on `event_id` (first by bronze key and line),
    /// sorted by (timestamp, event_id).
    fn order(&self, part: &Part) -> Vec<u32> {
        let n = part.rows.len();
        let row = |i: u32| part.rows.get(i as usize).copied().unwrap_or_default();
        let eid = |i: u32| {
            let r = row(i);
            part.bytes.get(r.event_id, usize::from(r.event_id_len))
        };
        let origin = |i: u32| {
            let r = row(i);
            (self.keys.get(r.key as usize).map(String::as_str), r.line)
        };
        let mut hashes: Vec<(u64, u32)> = (0..n as u32).map(|i| (hash64(eid(i)), i)).collect();
        hashes.sort_unstable();
        let mut keep = vec![true; n];
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            while j < n && hashes[j].0 == hashes[i].0 {
                j += 1;
            }
            if j - i > 1 {
                let mut run: Vec<u32> = hashes[i..j].iter().map(|h| h.1).collect();
                run.sort_by(|&a, &b| eid(a).cmp(eid(b)).then_with(|| origin(a).cmp(&origin(b))));
                for w in 1..run.len() {
                    if eid(run[w]) == eid(run[w - 1]) {
                        keep[run[w] as usize] = false;
                    }
                }
            }
            i = j;
        }
        drop(hashes);
        let mut perm: Vec<u32> = (0..n as u32).filter(|&i| keep[i as usize]).collect();
        perm.sort_unstable_by(|&a, &b| row(a).ts.cmp(&row(b).ts).then_with(|| eid(a).cmp(eid(b))));
        perm
    }

    /// The frame of one part (columns in [`SCHEMA`] order).
    fn frame(
        &self,
        part: &Part,
        perm: &[u32],
        dict: &StringChunked,
        keys: &StringChunked,
    ) -> PolarsResult<DataFrame> {
        let n = perm.len();
        let row = |i: u32| part.rows.get(i as usize).copied().unwrap_or_default();
        let ids =
            |f: &dyn Fn(&Row) -> u32| -> Vec<u32> { perm.iter().map(|&i| f(&row(i))).collect() };
        let params = self.param_columns(part, perm);
        let mut params = params.into_iter();
        let mut columns = Vec::with_capacity(SCHEMA.len());
        for (c, (name, kind)) in SCHEMA.iter().enumerate() {
            let name: PlSmallStr = (*name).into();
            let col = match c {
                fb::event_date => date_column(name, vec![part.day; n]),
                fb::event_name => str_column(name, ids(&|r| r.name), dict)?,
                fb::event_timestamp => ts_column(name, perm.iter().map(|&i| row(i).ts).collect()),
                fb::event_id => StringChunked::from_iter_values(
                    name,
                    perm.iter().map(|&i| {
                        let r = row(i);
                        std::str::from_utf8(part.bytes.get(r.event_id, usize::from(r.event_id_len)))
                            .unwrap_or_default()
                    }),
                )
                .into_column(),
                fb::user_id => str_column(name, ids(&|r| r.user), dict)?,
                fb::is_anonymous => BooleanChunked::from_iter_values(
                    name,
                    perm.iter().map(|&i| row(i).flags & ANONYMOUS != 0),
                )
                .into_column(),
                fb::device_id => str_column(name, ids(&|r| r.device), dict)?,
                fb::session_id => str_column(name, ids(&|r| r.session), dict)?,
                fb::platform..=fb::network_type => {
                    let k = c - fb::platform;
                    let of = |r: &Row| self.profiles.get(r.profile as usize).map_or(NULL, |p| p[k]);
                    str_column(name, ids(&of), dict)?
                }
                fb::source..=fb::item_id => match params.next() {
                    Some(Some(col)) => col.into_column(name, dict)?,
                    _ => Column::full_null(name, n, &kind.dtype()),
                },
                fb::params_extra => str_column(name, ids(&|r| r.extra), dict)?,
                fb::timestamp_was_string => BooleanChunked::from_iter_values(
                    name,
                    perm.iter().map(|&i| row(i).flags & TS_STRING != 0),
                )
                .into_column(),
                fb::timestamp_rescaled => BooleanChunked::from_iter_values(
                    name,
                    perm.iter().map(|&i| row(i).flags & TS_RESCALED != 0),
                )
                .into_column(),
                fb::bronze_key => str_column(name, ids(&|r| r.key), keys)?,
                fb::bronze_line => Int64Chunked::from_iter_values(
                    name,
                    perm.iter().map(|&i| i64::from(row(i).line)),
                )
                .into_column(),
                _ => Column::full_null(name, n, &kind.dtype()),
            };
            columns.push(col);
        }
        DataFrame::new(n, columns)
    }

    /// The param columns of a part, in schema order (`None`: never set).
    fn param_columns(&self, part: &Part, perm: &[u32]) -> Vec<Option<ParamCol>> {
        let mut cols: Vec<Option<ParamCol>> = (fb::source..=fb::item_id)
            .map(|c| {
                (part.params_used & (1u64 << c) != 0).then(|| match SCHEMA[c].1 {
                    Kind::Str => ParamCol::Str(Vec::with_capacity(perm.len())),
                    Kind::F64 => ParamCol::F64(Vec::with_capacity(perm.len())),
                    _ => ParamCol::I64(Vec::with_capacity(perm.len())),
                })
            })
            .collect();
        for &i in perm {
            for c in cols.iter_mut().flatten() {
                c.push_null();
            }
            let Some(r) = part.rows.get(i as usize) else {
                continue;
            };
            let mut b = part.bytes.get(r.params, usize::from(r.params_len));
            while let Some((&c, rest)) = b.split_first() {
                let c = usize::from(c);
                let width = match SCHEMA.get(c).map(|k| k.1) {
                    Some(Kind::Str) => 4,
                    _ => 8,
                };
                let Some(payload) = rest.get(..width) else {
                    break;
                };
                b = &rest[width..];
                if let Some(Some(col)) = c.checked_sub(fb::source).and_then(|k| cols.get_mut(k)) {
                    col.set_last(payload);
                }
            }
        }
        cols
    }
}

/// A param column being built.
enum ParamCol {
    Str(Vec<u32>),
    I64(Vec<Option<i64>>),
    F64(Vec<Option<f64>>),
}

impl ParamCol {
    fn push_null(&mut self) {
        match self {
            ParamCol::Str(v) => v.push(NULL),
            ParamCol::I64(v) => v.push(None),
            ParamCol::F64(v) => v.push(None),
        }
    }

    fn set_last(&mut self, payload: &[u8]) {
        match self {
            ParamCol::Str(v) => {
                if let (Some(last), Ok(b)) = (v.last_mut(), <[u8; 4]>::try_from(payload)) {
                    *last = u32::from_le_bytes(b);
                }
            }
            ParamCol::I64(v) => {
                if let (Some(last), Ok(b)) = (v.last_mut(), <[u8; 8]>::try_from(payload)) {
                    *last = Some(i64::from_le_bytes(b));
                }
            }
            ParamCol::F64(v) => {
                if let (Some(last), Ok(b)) = (v.last_mut(), <[u8; 8]>::try_from(payload)) {
                    *last = Some(f64::from_le_bytes(b));
                }
            }
        }
    }

    fn into_column(self, name: PlSmallStr, dict: &StringChunked) -> PolarsResult<Column> {
        Ok(match self {
            ParamCol::Str(ids) => str_column(name, ids, dict)?,
            ParamCol::I64(v) => Int64Chunked::from_iter_options(name, v.into_iter()).into_column(),
            ParamCol::F64(v) => {
                Float64Chunked::from_iter_options(name, v.into_iter()).into_column()
            }
        })
    }
}

/// A pivoted param value, typed for its column.
enum PVal<'a> {
    Str(Cow<'a, str>),
    I64(i64),
    F64(f64),
}

/// The text of a value, moved out of it (borrowed from the line when it can).
fn into_text(v: Option<Val<'_>>) -> Option<Cow<'_, str>> {
    match v? {
        Val::Str(c) => Some(c),
        other => other.to_text().map(|t| Cow::Owned(t.into_owned())),
    }
}

/// Trimmed; with `f` applied only when it changes something.
fn normalise<'a>(c: Option<Cow<'a, str>>, f: fn(&str) -> Cow<'_, str>) -> Option<Cow<'a, str>> {
    let c = c?;
    let t = f(&c);
    if t.is_empty() {
        return None;
    }
    Some(match (&c, t) {
        (Cow::Borrowed(b), Cow::Borrowed(x)) => {
            // `x` is a trimmed slice of `b`: keep the borrow.
            let start = x.as_ptr() as usize - b.as_ptr() as usize;
            Cow::Borrowed(&b[start..start + x.len()])
        }
        (_, t) => Cow::Owned(t.into_owned()),
    })
}

fn trim(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s.trim())
}

/// Type a pivoted param for column `c`; `Err(v)` when it does not fit (it
/// then goes to `params_extra`), `Ok(None)` for null.
fn pivot_value<'a>(
    c: usize,
    v: Val<'a>,
    pseudo: &Pseudonymizer,
) -> Result<Option<PVal<'a>>, Val<'a>> {
    if v.is_null() {
        return Ok(None);
    }
    match SCHEMA[c].1 {
        Kind::Str => match v {
            Val::Arr(_) | Val::Obj(_) => Err(v),
            v => {
                let Some(t) = normalise(into_text(Some(v)), trim) else {
                    return Ok(None);
                };
                if c == fb::search_term {
                    // Free text typed by the user: no e-mail, phone or IP survives.
                    let clean = scrub_text(&t, pseudo);
                    if clean != t.as_ref() {
                        return Ok(Some(PVal::Str(Cow::Owned(clean.into_owned()))));
                    }
                }
                Ok(Some(PVal::Str(t)))
            }
        },
        Kind::I64 => v.to_i64().map(|n| Some(PVal::I64(n))).ok_or(v),
        Kind::F64 => v.to_f64().map(|n| Some(PVal::F64(n))).ok_or(v),
        _ => Err(v),
    }
}

/// Lines parsed per batch on the parsing thread.
const BATCH_LINES: usize = 4096;
/// Blocks smaller than this are parsed on the calling thread.
const PIPELINE_MIN_BYTES: usize = 4 << 20;

/// A line after the stateless first pass: JSON, required fields, filters.
/// (Events are nearly every line: boxing them would cost an allocation each.)
#[allow(clippy::large_enum_variant)]
enum Pre<'a> {
    Blank,
    Reject(u64, &'static str, String),
    /// By the rule of this index.
    Filtered(usize),
    Event(Parsed<'a>),
}

struct Parsed<'a> {
    line: u64,
    time: EventTime,
    day: i32,
    event_id: Cow<'a, str>,
    name: Option<Cow<'a, str>>,
    user: Option<Cow<'a, str>>,
    device: Option<Cow<'a, str>>,
    session: Option<Cow<'a, str>>,
    /// platform, app_version, os_version, country, language,
    /// screen_resolution, network_type: normalised.
    profile: [Option<Cow<'a, str>>; PROFILE_COLS],
    /// Pivoted params (schema column, value), first value of a key only.
    params: Vec<(usize, PVal<'a>)>,
    /// `params_extra`, scrubbed JSON text.
    extra: Option<String>,
}

/// Everything about a line that needs no shared state: JSON, required
/// fields, filters, normalisation, the pivot and `params_extra`.
fn first_pass<'a>(line_no: u64, raw: &'a [u8], pseudo: &Pseudonymizer, bots: &Patterns) -> Pre<'a> {
    let mut line = raw.strip_suffix(b"\r").unwrap_or(raw);
    if line_no == 1 {
        line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Pre::Blank; // a blank line is no event
    }
    if !is_object_line(line) {
        return Pre::Reject(line_no, "line", "not a JSON object".into());
    }
    let ev: RawEvent = match serde_json::from_slice(line) {
        Ok(e) => e,
        Err(e) => return Pre::Reject(line_no, "line", describe_json_error(&e)),
    };
    let Some(event_id) = normalise(into_text(ev.event_id), trim) else {
        return Pre::Reject(line_no, "event_id", "missing or empty event_id".into());
    };
    if event_id.len() > usize::from(u8::MAX) {
        return Pre::Reject(line_no, "event_id", "event_id longer than 255 bytes".into());
    }
    let Some(ts_val) = ev.event_timestamp.as_ref() else {
        return Pre::Reject(line_no, "event_timestamp", "missing event_timestamp".into());
    };
    let time = match parse_timestamp(ts_val) {
        Ok(t) => t,
        Err(reason) => return Pre::Reject(line_no, "event_timestamp", reason.into()),
    };
    let Some(at) = DateTime::from_timestamp_millis(time.ms) else {
        return Pre::Reject(line_no, "event_timestamp", TS_OUT_OF_RANGE.into());
    };
    // In PATTERN_FIELDS order.
    let mut text = [
        into_text(ev.device_id),
        into_text(ev.user_id),
        into_text(ev.session_id),
        into_text(ev.app_version),
        into_text(ev.platform),
        into_text(ev.os_version),
        into_text(ev.country),
        into_text(ev.language),
        into_text(ev.screen_resolution),
        into_text(ev.network_type),
        into_text(ev.event_name),
    ];
    if let Some(rule) = bots.first_match(|i| text.get(i).and_then(|t| t.as_deref())) {
        return Pre::Filtered(rule);
    }
    let mut take = |i: usize, f: fn(&str) -> Cow<'_, str>| normalise(text[i].take(), f);
    let device = take(0, trim);
    let user = take(1, trim);
    let session = take(2, trim);
    let profile = [
        take(4, lower),
        take(3, trim),
        take(5, trim),
        take(6, upper),
        take(7, trim),
        take(8, trim),
        take(9, lower),
    ];
    let name = take(10, trim);

    // The conditional pivot; what it cannot place is kept, scrubbed.
    let mut params = Vec::new();
    let mut set: u64 = 0;
    let mut extra: Vec<(Cow<'_, str>, Val<'_>)> = Vec::new();
    match ev.params {
        None | Some(Val::Null) => {}
        Some(Val::Obj(entries)) => {
            let map = name.as_deref().and_then(pivot);
            for (k, v) in entries {
                let col = map.and_then(|m| m.iter().find(|(key, _)| *key == k));
                match col {
                    // A repeated key: the first value wins.
                    Some(&(_, c)) if set & (1u64 << c) != 0 => {}
                    Some(&(_, c)) => match pivot_value(c, v, pseudo) {
                        Ok(value) => {
                            set |= 1u64 << c;
                            if let Some(value) = value {
                                params.push((c, value));
                            }
                        }
                        Err(v) => extra.push((k, v)),
                    },
                    None => extra.push((k, v)),
                }
            }
        }
        Some(other) => extra.push((Cow::Borrowed("params"), other)),
    }
    Pre::Event(Parsed {
        line: line_no,
        time,
        day: super::epoch_days(at.date_naive()),
        event_id,
        name,
        user,
        device,
        session,
        profile,
        params,
        extra: extra_json(extra, pseudo),
    })
}

/// What one `process` call accumulates.
struct BlockState<'c> {
    input: &'c Input,
    key_id: u32,
    keep: Option<&'c BTreeSet<String>>,
    seen: &'c mut BTreeSet<String>,
    rejects: &'c mut Vec<Reject>,
    counts: Counts,
    /// Rows filtered, per bot rule.
    filtered_by_rule: Vec<u64>,
    /// Is each part kept (and already added to `seen`)?
    kept: Vec<Option<bool>>,
}

impl FirebaseSource {
    /// Intern, pseudonymise, pivot and store one line.
    fn second_pass(&mut self, pre: Pre<'_>, st: &mut BlockState<'_>) -> anyhow::Result<()> {
        let p = match pre {
            Pre::Blank => return Ok(()),
            Pre::Reject(line, field, reason) => {
                st.counts.rows_in += 1;
                st.counts.rejected += 1;
                st.rejects.push(Reject {
                    bronze_key: st.input.key.clone(),
                    line,
                    field: field.to_string(),
                    reason,
                });
                return Ok(());
            }
            Pre::Filtered(rule) => {
                st.counts.rows_in += 1;
                st.counts.filtered += 1;
                if let Some(n) = st.filtered_by_rule.get_mut(rule) {
                    *n += 1;
                }
                return Ok(());
            }
            Pre::Event(p) => p,
        };
        st.counts.rows_in += 1;
        let name_id = self.strings.opt_text(p.name.as_deref());
        let part = self.part(p.day, name_id);
        if st.kept.len() <= part {
            st.kept.resize(part + 1, None);
        }
        let is_kept = *st.kept[part].get_or_insert_with(|| {
            let path = &self.parts[part].path;
            st.seen.insert(path.clone());
            st.keep.is_none_or(|k| k.contains(path))
        });
        if !is_kept {
            return Ok(());
        }

        let strings = &mut self.strings;
        let (user, anonymous) = match p.user.as_deref() {
            // SILVER-FB-5: kept as is, whatever its case or padding.
            Some(u) if u.trim().eq_ignore_ascii_case("anonymous") => {
                (strings.text("anonymous"), true)
            }
            Some(u) => {
                let id = strings.pseudo(u);
                (id, id == NULL)
            }
            None => (NULL, true),
        };
        let device = p.device.as_deref().map_or(NULL, |d| strings.pseudo(d));
        let session = p.session.as_deref().map_or(NULL, |s| strings.pseudo(s));
        let profile = p.profile.each_ref().map(|v| strings.opt_text(v.as_deref()));
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut set: u64 = 0;
        for (c, v) in &p.params {
            let Ok(tag) = u8::try_from(*c) else { continue };
            match v {
                PVal::Str(t) => {
                    let id = strings.opt_text(Some(t));
                    if id == NULL {
                        continue;
                    }
                    scratch.push(tag);
                    scratch.extend_from_slice(&id.to_le_bytes());
                }
                PVal::I64(n) => {
                    scratch.push(tag);
                    scratch.extend_from_slice(&n.to_le_bytes());
                }
                PVal::F64(n) => {
                    scratch.push(tag);
                    scratch.extend_from_slice(&n.to_le_bytes());
                }
            }
            set |= 1u64 << c;
        }
        let extra = p.extra.as_deref().map_or(NULL, |j| strings.text(j));
        let profile = self.profile(profile);
        let event_id = &p.event_id;
        let part = &mut self.parts[part];
        let (Some(eid), Some(params), Ok(event_id_len), Ok(params_len), Ok(line)) = (
            part.bytes.push(event_id.as_bytes()),
            part.bytes.push(&scratch),
            u8::try_from(event_id.len()),
            u8::try_from(scratch.len()),
            u32::try_from(p.line),
        ) else {
            anyhow::bail!(
                "{}: partition {} is too large to buffer",
                st.input.key,
                part.path
            );
        };
        self.scratch = scratch;
        part.params_used |= set;
        part.rows.push(Row {
            ts: p.time.ms,
            event_id: eid,
            params,
            key: st.key_id,
            line,
            name: name_id,
            user,
            device,
            session,
            profile,
            extra,
            event_id_len,
            params_len,
            flags: if anonymous { ANONYMOUS } else { 0 }
                | if p.time.was_string { TS_STRING } else { 0 }
                | if p.time.rescaled { TS_RESCALED } else { 0 },
        });
        st.counts.rows_out += 1;
        if p.time.was_string || p.time.rescaled {
            st.counts.flagged += 1;
        }
        Ok(())
    }
}

impl Source for FirebaseSource {
    fn name(&self) -> &'static str {
        "firebase"
    }
    fn tables(&self) -> &'static [&'static str] {
        &["firebase"]
    }
    fn bronze_source(&self) -> &'static str {
        "firebase"
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
        let key_id = match self.keys.iter().position(|k| *k == input.key) {
            Some(i) => i as u32,
            None => {
                self.keys.push(input.key.clone());
                (self.keys.len() - 1) as u32
            }
        };
        let mut st = BlockState {
            input,
            key_id,
            keep,
            seen,
            rejects,
            counts: Counts::default(),
            filtered_by_rule: vec![0; self.bots.len()],
            kept: Vec::new(),
        };
        let body = block.strip_suffix(b"\n").unwrap_or(block);
        let lines = body
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, l)| (first_line + i as u64, l));
        let pseudo = self.strings.pseudonymizer().clone();
        let bots = std::sync::Arc::clone(&self.bots);
        if body.len() < PIPELINE_MIN_BYTES {
            for (n, l) in lines {
                self.second_pass(first_pass(n, l, &pseudo, &bots), &mut st)?;
            }
        } else {
            // JSON parsing (stateless) on a second thread, one batch ahead of
            // the interning and row building (stateful) on this one.
            std::thread::scope(|scope| -> anyhow::Result<()> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Pre<'_>>>(4);
                let spawned = std::thread::Builder::new()
                    .name("kvt-fb-parse".into())
                    .spawn_scoped(scope, move || {
                        let mut batch = Vec::with_capacity(BATCH_LINES);
                        for (n, l) in lines {
                            batch.push(first_pass(n, l, &pseudo, &bots));
                            if batch.len() == BATCH_LINES {
                                let full =
                                    std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LINES));
                                if tx.send(full).is_err() {
                                    return;
                                }
                            }
                        }
                        let _ = tx.send(batch);
                    });
                spawned?;
                for batch in rx {
                    for pre in batch {
                        self.second_pass(pre, &mut st)?;
                    }
                }
                Ok(())
            })?;
        }
        // Rows of objects re-read for their partitions (`keep`) were counted before.
        if keep.is_none() {
            for (total, n) in self.filtered_by_rule.iter_mut().zip(&st.filtered_by_rule) {
                *total += n;
            }
        }
        Ok(st.counts)
    }

    /// Frames of about [`crate::table::PART_ROWS`] rows per call, partition by
    /// partition in path order, until none is left (an empty answer): the
    /// runner writes each batch before asking for the next, so only one
    /// batch of frames is in memory beside the compact rows.
    fn take(&mut self, all: bool) -> anyhow::Result<Vec<(String, DataFrame)>> {
        if !all {
            return Ok(Vec::new());
        }
        let mut drain = match self.drain.take() {
            Some(d) => d,
            None if self.parts.is_empty() => return Ok(Vec::new()),
            None => {
                let dict = self.strings.dictionary();
                // The dictionary array holds every string now: free the interner first.
                self.strings.clear();
                self.index.clear();
                self.by_path.clear();
                self.profile_ids.clear();
                let keys = StringChunked::from_iter_values(
                    "keys".into(),
                    self.keys.iter().map(String::as_str),
                );
                let mut parts = std::mem::take(&mut self.parts);
                parts.sort_by(|a, b| a.path.cmp(&b.path));
                Drain {
                    dict,
                    keys,
                    parts: parts.into_iter(),
                }
            }
        };
        let mut out = Vec::new();
        let mut rows = 0;
        while rows < self.batch_rows {
            let Some(part) = drain.parts.next() else {
                break;
            };
            let perm = self.order(&part);
            self.deduplicated += (part.rows.len() - perm.len()) as u64;
            // At most PART_ROWS rows per part file.
            for piece in perm.chunks(crate::table::PART_ROWS) {
                rows += piece.len();
                out.push((
                    part.path.clone(),
                    self.frame(&part, piece, &drain.dict, &drain.keys)?,
                ));
            }
        }
        if out.is_empty() {
            self.profiles.clear();
            self.keys.clear();
        } else {
            self.drain = Some(drain);
        }
        Ok(out)
    }

    fn finish_counts(&mut self) -> Counts {
        Counts {
            deduplicated: std::mem::take(&mut self.deduplicated),
            ..Default::default()
        }
    }

    fn summary(&self) -> serde_json::Map<String, serde_json::Value> {
        let per_rule: serde_json::Map<String, serde_json::Value> = self
            .bots
            .names()
            .into_iter()
            .zip(&self.filtered_by_rule)
            .map(|(name, n)| (name.to_string(), (*n).into()))
            .collect();
        let mut m = serde_json::Map::new();
        m.insert("filtered_by_rule".into(), per_rule.into());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "bronze/firebase_data/2026-03-17/events_15.20260317T160000000Z.ndjson";

    fn pseudo() -> Pseudonymizer {
        Pseudonymizer::new(b"test-key")
    }

    fn input(key: &str) -> Input {
        crate::silver::runner::testing::input(key)
    }

    fn source() -> FirebaseSource {
        let bots = Patterns::compile(&default_bot_patterns(), &PATTERN_FIELDS).unwrap();
        FirebaseSource::new(
            pseudo(),
            NaiveDate::from_ymd_opt(2026, 3, 18).unwrap(),
            bots,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        id: &str,
        ts: &str,
        device: &str,
        session: &str,
        user: &str,
        version: &str,
        name: &str,
        params: &str,
    ) -> String {
        format!(
            r#"{{"event_id":"{id}","event_timestamp":{ts},"device_id":"{device}","session_id":"{session}","user_id":"{user}","platform":"android","app_version":"{version}","os_version":"Android 14","country":"FR","language":"fr-FR","screen_resolution":"1080x2400","network_type":"wifi","event_name":"{name}","params":{params}}}"#
        )
    }

    fn human(id: &str, ts: &str, name: &str, params: &str) -> String {
        event(
            id,
            ts,
            "48bdd4e0-f0a8-4bb5-aa9c-d090a0cd1f76",
            "0abd05da79a26fc7",
            "CUST-000009",
            "4.12.0",
            name,
            params,
        )
    }

    struct Run {
        frames: BTreeMap<String, DataFrame>,
        counts: Counts,
        rejects: Vec<Reject>,
        seen: BTreeSet<String>,
    }

    use std::collections::BTreeMap;

    fn run(objects: &[(&str, String)]) -> Run {
        let mut src = source();
        let fed = crate::silver::runner::testing::feed(&mut src, objects);
        Run {
            frames: fed.frames.into_iter().collect(),
            counts: fed.counts,
            rejects: fed.rejects,
            seen: fed.seen,
        }
    }

    fn col(df: &DataFrame, name: &str) -> Series {
        df.column(name).unwrap().as_materialized_series().clone()
    }

    #[test]
    fn params_are_pivoted_per_event_name_with_types() {
        let lines = [
            human("e1", "1773761725851", "view_item", r#"{"product_id":"PRD-08004","price_eur":8.90,"currency":"EUR"}"#),
            human("e2", "1773761726851", "screen_view", r#"{"screen_name":"home","previous_screen":"product","time_on_prev_screen_ms":26473}"#),
            human("e3", "1773761727851", "app_open", r#"{"source":"push","campaign_id":null}"#),
            human("e4", "1773761728851", "login", r#"{"method":"google"}"#),
        ]
        .join("\n");
        let r = run(&[(KEY, lines)]);
        assert!(r.rejects.is_empty(), "{:?}", r.rejects);
        assert_eq!(r.counts.rows_in, 4);
        assert_eq!(r.counts.rows_out, 4);
        let names: Vec<&str> = r.frames.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "firebase/event_date=2026-03-17/event_name=app_open",
                "firebase/event_date=2026-03-17/event_name=login",
                "firebase/event_date=2026-03-17/event_name=screen_view",
                "firebase/event_date=2026-03-17/event_name=view_item",
            ]
        );
        let vi = &r.frames["firebase/event_date=2026-03-17/event_name=view_item"];
        let names: Vec<String> = vi
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let want: Vec<String> = SCHEMA.iter().map(|c| c.0.to_string()).collect();
        assert_eq!(names, want);
        assert_eq!(
            col(vi, "product_id").str().unwrap().get(0),
            Some("PRD-08004")
        );
        assert_eq!(col(vi, "price_eur").f64().unwrap().get(0), Some(8.9));
        assert_eq!(
            col(vi, "screen_name").null_count(),
            1,
            "null when it does not apply"
        );
        assert_eq!(col(vi, "params_extra").null_count(), 1);
        let sv = &r.frames["firebase/event_date=2026-03-17/event_name=screen_view"];
        assert_eq!(
            col(sv, "time_on_prev_screen_ms").i64().unwrap().get(0),
            Some(26473)
        );
        assert_eq!(col(sv, "product_id").null_count(), 1);
        let ao = &r.frames["firebase/event_date=2026-03-17/event_name=app_open"];
        assert_eq!(col(ao, "source").str().unwrap().get(0), Some("push"));
        assert_eq!(col(ao, "campaign_id").null_count(), 1);
        assert_eq!(
            col(ao, "params_extra").null_count(),
            1,
            "a null param is no extra"
        );
        let lg = &r.frames["firebase/event_date=2026-03-17/event_name=login"];
        assert_eq!(col(lg, "auth_method").str().unwrap().get(0), Some("google"));
        // Types.
        assert_eq!(
            col(vi, "event_timestamp").dtype(),
            &DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        );
        assert_eq!(col(vi, "event_date").dtype(), &DataType::Date);
        assert_eq!(col(vi, "bronze_line").dtype(), &DataType::Int64);
        assert_eq!(col(vi, "bronze_key").str().unwrap().get(0), Some(KEY));
    }

    #[test]
    fn unexpected_keys_and_unknown_events_are_kept_scrubbed() {
        let lines = [
            human("e1", "1773761725851", "view_item", r#"{"product_id":"PRD-1","price_eur":"oops","currency":"EUR","item_variant":"256 Go","email":"jean@x.fr"}"#),
            human("e2", "1773761726851", "ab_test_exposure", r#"{"experiment_id":"exp_checkout_v2","variant":"B"}"#),
            human("e3", "1773761727851", "push_received", r#"{"campaign_id":"CMP-1","opened":true,"device_id":"48bdd4e0-f0a8-4bb5-aa9c-d090a0cd1f76"}"#),
        ]
        .join("\n");
        let r = run(&[(KEY, lines)]);
        assert!(r.rejects.is_empty(), "{:?}", r.rejects);
        assert_eq!(r.counts.rows_out, 3);
        let vi = &r.frames["firebase/event_date=2026-03-17/event_name=view_item"];
        assert_eq!(col(vi, "price_eur").null_count(), 1);
        assert_eq!(
            col(vi, "params_extra").str().unwrap().get(0),
            Some(r#"{"email":"[redacted]","item_variant":"256 Go","price_eur":"oops"}"#)
        );
        let ab = &r.frames["firebase/event_date=2026-03-17/event_name=ab_test_exposure"];
        assert_eq!(
            col(ab, "params_extra").str().unwrap().get(0),
            Some(r#"{"experiment_id":"exp_checkout_v2","variant":"B"}"#)
        );
        let pr = &r.frames["firebase/event_date=2026-03-17/event_name=push_received"];
        let extra = col(pr, "params_extra")
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_string();
        assert!(!extra.contains("48bdd4e0"), "{extra}");
        assert!(
            extra.contains(&pseudo().pseudo("48bdd4e0-f0a8-4bb5-aa9c-d090a0cd1f76")),
            "{extra}"
        );
        assert_eq!(
            col(pr, "campaign_id").null_count(),
            1,
            "conditional: not an app_open"
        );
    }

    #[test]
    fn numeric_string_timestamps_and_utc_dates() {
        let lines = [
            human(
                "e1",
                "\"1773791999999\"",
                "search",
                r#"{"search_term":"chaussures","results_count":"12"}"#,
            ),
            human(
                "e2",
                "1773792000000",
                "search",
                r#"{"search_term":"jean@x.fr","results_count":3}"#,
            ),
        ]
        .join("\n");
        let r = run(&[(KEY, lines)]);
        assert!(r.rejects.is_empty(), "{:?}", r.rejects);
        assert_eq!(r.counts.flagged, 1);
        let d1 = &r.frames["firebase/event_date=2026-03-17/event_name=search"];
        let d2 = &r.frames["firebase/event_date=2026-03-18/event_name=search"];
        let ts = col(d1, "event_timestamp");
        assert_eq!(ts.datetime().unwrap().phys.get(0), Some(1_773_791_999_999));
        assert_eq!(
            col(d1, "timestamp_was_string").bool().unwrap().get(0),
            Some(true)
        );
        assert_eq!(col(d1, "results_count").i64().unwrap().get(0), Some(12));
        assert_eq!(
            col(d2, "search_term").str().unwrap().get(0),
            Some("[redacted]")
        );
    }

    /// Regression (issue 7): ISO 8601 text timestamps were rejected (~1 % of
    /// a realistic export), and a timestamp in µs became year 58,000.
    #[test]
    fn iso_text_and_other_units_are_read_and_flagged() {
        let base = 1_773_763_200_000i64; // 2026-03-17T16:00:00Z
        let cases: [(&str, i64, bool, bool); 10] = [
            ("\"2026-03-17T16:00:00Z\"", base, true, false),
            ("\"2026-03-17T16:00:00.250Z\"", base + 250, true, false),
            ("\"2026-03-17T17:00:00+01:00\"", base, true, false),
            ("\"2026-03-17T16:00:00\"", base, true, false),
            ("\"2026-03-17 16:00:00.5\"", base + 500, true, false),
            ("1773763200", base, false, true),
            ("1773763200.25", base + 250, false, true),
            ("1773763200000000", base, false, true),
            ("\"1773763200000000000\"", base, true, true),
            ("1773763200000.0", base, false, false),
        ];
        let lines: Vec<String> = cases
            .iter()
            .enumerate()
            .map(|(i, (ts, ..))| human(&format!("e{i}"), ts, "app_open", "{}"))
            .collect();
        let r = run(&[(KEY, lines.join("\n"))]);
        assert!(r.rejects.is_empty(), "{:?}", r.rejects);
        assert_eq!(r.counts.rows_out, cases.len() as u64);
        assert_eq!(r.counts.flagged, 9);
        let df = &r.frames["firebase/event_date=2026-03-17/event_name=app_open"];
        let ids = col(df, "event_id");
        let ts = col(df, "event_timestamp");
        let was = col(df, "timestamp_was_string");
        let resc = col(df, "timestamp_rescaled");
        for row in 0..df.height() {
            let id = ids.str().unwrap().get(row).unwrap();
            let (_, want, s, sc) = cases[id[1..].parse::<usize>().unwrap()];
            assert_eq!(ts.datetime().unwrap().phys.get(row), Some(want), "{id}");
            assert_eq!(was.bool().unwrap().get(row), Some(s), "{id}");
            assert_eq!(resc.bool().unwrap().get(row), Some(sc), "{id}");
        }
    }

    #[test]
    fn timestamps_never_land_in_another_millennium() {
        for bad in [
            "0",
            "-1",
            "99999999999999999999",
            "\"1e30\"",
            "\"NaN\"",
            "\"\"",
            "true",
            "{}",
            "\"2026-13-45T00:00:00Z\"",
            "\"0001-01-01T00:00:00Z\"",
        ] {
            let v: Val = serde_json::from_str(bad).unwrap();
            assert!(parse_timestamp(&v).is_err(), "{bad}");
        }
        let v: Val = serde_json::from_str("1773763200000").unwrap();
        assert_eq!(parse_timestamp(&v).unwrap().ms, 1_773_763_200_000);
    }

    /// Regression (issue 7): about 9 % of a realistic export were bots and
    /// test sessions the two hard-coded rules let through.
    #[test]
    fn default_bot_rules_catch_the_usual_patterns_and_count_per_rule() {
        let p = "{}";
        let ev = |id: &str, dev: &str, sess: &str, user: &str, ver: &str| {
            event(id, "1773761725851", dev, sess, user, ver, "app_open", p)
        };
        let lines = [
            ev("1", "crawler-9", "s", "anonymous", "4.1.0"),
            ev("2", "d", "s", "test_user_4", "4.1.0"),
            ev("3", "d", "s", "QA_bob", "4.1.0"),
            ev(
                "4",
                "d",
                "00000000-0000-0000-0000-000000000000",
                "CUST-1",
                "4.1.0",
            ),
            ev("5", "d", "s", "CUST-1", "4.2.0-DEBUG"),
            ev("6", "d", "s", "CUST-1", "4.2.0-test"),
            ev("7", "robot-like", "s", "CUST-1", "4.2.0"),
            ev("8", "d", "s", "contest_winner", "4.2.0"),
        ]
        .join("\n");
        let mut src = source();
        let fed = crate::silver::runner::testing::feed(&mut src, &[(KEY, lines)]);
        assert_eq!(fed.counts.filtered, 6);
        assert_eq!(fed.counts.rows_out, 2, "robot-like and contest_ are humans");
        let summary = src.summary();
        let per = summary["filtered_by_rule"].as_object().unwrap();
        assert_eq!(per["device_id prefix crawler-"], 1);
        assert_eq!(per["user_id prefix test_"], 1);
        assert_eq!(per["user_id prefix qa_"], 1);
        assert_eq!(per["session_id prefix 00000000-0000-"], 1);
        assert_eq!(per["app_version suffix -debug"], 1);
        assert_eq!(per["app_version suffix -test"], 1);
        assert_eq!(per["device_id prefix bot-"], 0);
    }

    /// The list shown (commented) in kvt.example.toml is the built-in one.
    #[test]
    fn the_example_configuration_shows_the_built_in_bot_rules() {
        let text = crate::config::DEFAULT_TOML;
        let start = text.find("# bot_patterns = [").unwrap();
        let block: String = text[start..]
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim_start())
            .take_while(|l| !l.starts_with("extra_bot_patterns"))
            .collect::<Vec<_>>()
            .join("\n");
        #[derive(serde::Deserialize)]
        struct Shown {
            bot_patterns: Vec<PatternConfig>,
        }
        let shown: Shown = toml::from_str(&block).unwrap();
        assert_eq!(shown.bot_patterns, default_bot_patterns());
    }

    #[test]
    fn bot_rules_come_from_configuration() {
        let cfg: crate::config::Config = crate::config::Config::parse(
            "[silver.firebase]\nbot_patterns = [{ field = \"os_version\", regex = \"(?i)^emulator\", name = \"emulators\" }]\n",
            "t",
        )
        .unwrap();
        let rules = cfg.silver.firebase.bot_patterns.unwrap();
        let bots = Patterns::compile(&rules, &PATTERN_FIELDS).unwrap();
        let mut src = FirebaseSource::new(
            pseudo(),
            NaiveDate::from_ymd_opt(2026, 3, 18).unwrap(),
            bots,
        );
        let lines = [
            human("1", "1773761725851", "app_open", "{}").replace("Android 14", "EMULATOR x86"),
            event(
                "2",
                "1773761725851",
                "bot-1",
                "s",
                "u",
                "1",
                "app_open",
                "{}",
            ),
        ]
        .join("\n");
        let fed = crate::silver::runner::testing::feed(&mut src, &[(KEY, lines)]);
        assert_eq!(fed.counts.filtered, 1);
        assert_eq!(fed.counts.rows_out, 1, "bot- is not in this list");
        assert_eq!(src.summary()["filtered_by_rule"]["emulators"], 1);
    }

    #[test]
    fn bots_and_test_sessions_are_filtered_anonymous_kept() {
        let p = r#"{"source":"organic","campaign_id":null}"#;
        let lines = [
            event(
                "b1",
                "1773761725851",
                "bot-f241be7c56c46d64",
                "s1",
                "anonymous",
                "4.10.1",
                "app_open",
                p,
            ),
            event(
                "b2",
                "1773761725852",
                "HEADLESS-12",
                "s2",
                "anonymous",
                "4.10.1",
                "app_open",
                p,
            ),
            event(
                "t1",
                "1773761725853",
                "emulator-5558",
                "test-501329e52888d15a",
                "QA-TESTER-01",
                "0.0.0-test",
                "app_open",
                p,
            ),
            event(
                "t2",
                "1773761725854",
                "emulator-5558",
                "abc",
                "anonymous",
                "0.0.0-test",
                "app_open",
                p,
            ),
            event(
                "a1",
                "1773761725855",
                "c13e8379-6811-4c12-9462-c3f1faadef7c",
                "0abd05da79a26fc7",
                " Anonymous",
                "3.9.4",
                "app_open",
                p,
            ),
            event(
                "u1",
                "1773761725856",
                "c13e8379-6811-4c12-9462-c3f1faadef7c",
                "0abd05da79a26fc7",
                "CUST-000002",
                "3.9.4",
                "app_open",
                p,
            ),
        ]
        .join("\n");
        let r = run(&[(KEY, lines)]);
        assert_eq!(r.counts.filtered, 4);
        assert_eq!(r.counts.rows_out, 2);
        let df = &r.frames["firebase/event_date=2026-03-17/event_name=app_open"];
        let users = col(df, "user_id");
        let users = users.str().unwrap();
        assert_eq!(users.get(0), Some("anonymous"));
        assert_eq!(users.get(1), Some(pseudo().pseudo("CUST-000002").as_str()));
        let anon = col(df, "is_anonymous");
        assert_eq!(anon.bool().unwrap().get(0), Some(true));
        assert_eq!(anon.bool().unwrap().get(1), Some(false));
        // Same key, same device → same pseudonym (both rows), never the raw id.
        let dev = col(df, "device_id");
        let want = pseudo().pseudo("c13e8379-6811-4c12-9462-c3f1faadef7c");
        assert_eq!(dev.str().unwrap().get(0), Some(want.as_str()));
        assert_eq!(dev.str().unwrap().get(1), Some(want.as_str()));
        let sess = col(df, "session_id");
        assert_eq!(
            sess.str().unwrap().get(0),
            Some(pseudo().pseudo("0abd05da79a26fc7").as_str())
        );
        // A filtered event touches no partition.
        assert_eq!(r.seen.len(), 1);
    }

    #[test]
    fn bad_lines_are_rejected_with_their_line_number_and_no_content() {
        let ok = human("e1", "1773761725851", "app_open", "{}");
        let lines = [
            ok.clone(),
            "{\"event_id\":\"jean.dupont@example.com\", oops".to_string(),
            human("", "1773761725851", "app_open", "{}"),
            ok.replace("\"event_timestamp\":1773761725851,", ""),
            ok.replace("1773761725851", "\"yesterday\""),
            "[1,2]".to_string(),
            ok.replace("1773761725851", "-5"),
            String::new(),
        ]
        .join("\r\n");
        let r = run(&[(KEY, lines)]);
        assert_eq!(r.counts.rows_in, 7, "the blank line is no event");
        assert_eq!(r.counts.rows_out, 1);
        assert_eq!(r.counts.rejected, 6);
        let got: Vec<(u64, &str)> = r
            .rejects
            .iter()
            .map(|x| (x.line, x.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "line"),
                (3, "event_id"),
                (4, "event_timestamp"),
                (5, "event_timestamp"),
                (6, "line"),
                (7, "event_timestamp"),
            ]
        );
        assert_eq!(r.rejects[3].reason, TS_NOT_A_TIME);
        assert_eq!(r.rejects[5].reason, TS_OUT_OF_RANGE);
        for x in &r.rejects {
            assert!(!x.reason.contains("jean"), "{x:?}");
            assert_eq!(x.bronze_key, KEY);
        }
    }

    #[test]
    fn frames_come_in_batches_and_are_the_same_as_in_one() {
        let day = |name: &str, n: usize| {
            (0..n)
                .map(|i| {
                    human(
                        &format!("{name}{i}"),
                        &format!("17737617258{i:02}"),
                        name,
                        r#"{"product_id":"PRD-1"}"#,
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let objects = [
            (
                "bronze/firebase_data/2026-03-17/events_15.x.ndjson",
                day("view_item", 5),
            ),
            (
                "bronze/firebase_data/2026-03-17/events_16.x.ndjson",
                day("add_to_cart", 3),
            ),
        ];
        let objects: Vec<(&str, String)> = objects.iter().map(|(k, t)| (*k, t.clone())).collect();
        let whole = run(&objects);
        let mut src = source();
        src.batch_rows = 1;
        let fed = crate::silver::runner::testing::feed(&mut src, &objects);
        assert_eq!(fed.frames.len(), 2);
        let batched: BTreeMap<String, DataFrame> = fed.frames.into_iter().collect();
        assert_eq!(batched, whole.frames);
        assert_eq!(fed.counts.rows_out, 8);
    }

    #[test]
    fn duplicates_are_removed_whatever_the_reading_order() {
        let a = [
            human(
                "e1",
                "1773761725851",
                "view_item",
                r#"{"product_id":"PRD-1"}"#,
            ),
            human(
                "e2",
                "1773761725852",
                "view_item",
                r#"{"product_id":"PRD-2"}"#,
            ),
        ]
        .join("\n");
        let b = [
            human(
                "e2",
                "1773761725852",
                "view_item",
                r#"{"product_id":"PRD-2"}"#,
            ),
            human(
                "e0",
                "1773761725850",
                "view_item",
                r#"{"product_id":"PRD-0"}"#,
            ),
        ]
        .join("\n");
        let k1 = "bronze/firebase_data/2026-03-17/events_15.x.ndjson";
        let k2 = "bronze/firebase_data/2026-03-17/events_16.x.ndjson";
        let r1 = run(&[(k1, a.clone()), (k2, b.clone())]);
        let r2 = run(&[(k2, b), (k1, a)]);
        assert_eq!(r1.counts.deduplicated, 1);
        assert_eq!(r2.counts.deduplicated, 1);
        let p = "firebase/event_date=2026-03-17/event_name=view_item";
        let (mut d1, mut d2) = (r1.frames[p].clone(), r2.frames[p].clone());
        assert_eq!(d1.height(), 3);
        let ids = col(&d1, "event_id");
        let ids: Vec<Option<&str>> = ids.str().unwrap().iter().collect();
        assert_eq!(ids, [Some("e0"), Some("e1"), Some("e2")]);
        // The first copy (by bronze key, line) is kept.
        assert_eq!(col(&d1, "bronze_key").str().unwrap().get(2), Some(k1));
        assert_eq!(
            crate::table::to_parquet(&mut d1).unwrap(),
            crate::table::to_parquet(&mut d2).unwrap(),
            "same bytes whatever the order"
        );
    }

    #[test]
    fn keep_limits_rows_to_the_partitions_asked() {
        let mut src = source();
        let lines = [
            human("e1", "1773761725851", "view_item", "{}"),
            human("e2", "1773761725852", "app_open", "{}"),
        ]
        .join("\n");
        let keep: BTreeSet<String> =
            ["firebase/event_date=2026-03-17/event_name=app_open".to_string()].into();
        let mut seen = BTreeSet::new();
        let c = src
            .process(
                &input(KEY),
                1,
                lines.as_bytes(),
                Some(&keep),
                &mut seen,
                &mut Vec::new(),
            )
            .unwrap();
        assert_eq!(c.rows_out, 1);
        assert_eq!(seen.len(), 2);
        let frames = src.take(true).unwrap();
        let total: usize = frames.iter().map(|(_, d)| d.height()).sum();
        assert_eq!(total, 1);
        assert!(src.take(true).unwrap().is_empty());
    }

    /// Fuzz (issue 7): a million mutated events; each non-blank line is
    /// kept, filtered or rejected, and nothing panics.
    #[test]
    fn fuzz_every_event_is_kept_filtered_or_rejected() {
        let iso = human(
            "e2",
            "\"2026-03-17T16:00:00.250+01:00\"",
            "purchase",
            r#"{"transaction_id":"T1","value_eur":"12,50","items_count":2.0}"#,
        );
        let bot = event(
            "e3",
            "1773763200",
            "bot-1",
            "00000000-0000-0000-0000-000000000000",
            "test_x",
            "1.0-debug",
            "view_item",
            r#"{"product_id":"P1","price_eur":9.9}"#,
        );
        let odd = r#"{"event_id":"e4","event_timestamp":"1773763200000","params":{"search_term":"jean@x.fr","nested":{"email":"a@b.c"}},"user_id":" Anonymous ","event_name":"search"}"#.to_string();
        let ok = human("e1", "1773763200000", "app_open", r#"{"source":"organic"}"#);
        let corpus = [
            ok.as_bytes(),
            iso.as_bytes(),
            bot.as_bytes(),
            odd.as_bytes(),
        ];
        let mut src = source();
        let mut n = 0u64;
        crate::fuzz::run("firebase", 13, &corpus, |input| {
            n += 1;
            if n % 20_000 == 0 {
                src = source(); // bound the buffered rows
            }
            let mut seen = BTreeSet::new();
            let mut rejects = Vec::new();
            let c = src
                .process(&input_key(), 1, input, None, &mut seen, &mut rejects)
                .unwrap();
            let blank = |l: &[u8]| l.iter().all(u8::is_ascii_whitespace);
            let body = input.strip_suffix(b"\n").unwrap_or(input);
            let lines = body.split(|&b| b == b'\n').filter(|l| !blank(l)).count() as u64;
            assert_eq!(c.rows_in, lines);
            assert_eq!(c.rows_in, c.rows_out + c.rejected + c.filtered);
            assert_eq!(c.rejected, rejects.len() as u64);
        });
        // What was buffered still makes frames.
        let fed = crate::silver::runner::testing::feed(&mut src, &[]);
        assert!(fed.frames.iter().all(|(_, df)| df.height() > 0));
    }

    fn input_key() -> Input {
        input(KEY)
    }
}
