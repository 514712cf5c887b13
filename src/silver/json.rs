//! Shared by the JSON sources (`firebase`, `payments`, `orders`): a borrowed,
//! lenient JSON value, privacy scrubbing of free-form JSON kept in silver, and
//! compact column builders.
//!
//! Rows are buffered until the end of a run (deduplication needs them all), so
//! they are kept compact: every repeated string (pseudonyms, enumerations,
//! bronze keys) is interned once in [`Strings`] and rows hold `u32` ids; a
//! column that never receives a value costs nothing ([`Table`] creates columns
//! lazily). Frames are built by gathering from one dictionary array, so the
//! string bytes are shared by every partition's frame instead of copied per row.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use polars::prelude::*;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::pseudo::{truncate_ip, Pseudonymizer};

// ---------------------------------------------------------------------------
// Borrowed JSON value
// ---------------------------------------------------------------------------

/// A JSON value borrowing its strings from the input when they have no
/// escapes. Objects keep their keys in input order (duplicates included).
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Val<'a>>),
    Obj(Vec<(Cow<'a, str>, Val<'a>)>),
}

impl<'a> Val<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Text of a scalar: strings as they are, numbers and booleans printed.
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Val::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Val::I64(n) => Some(Cow::Owned(n.to_string())),
            Val::U64(n) => Some(Cow::Owned(n.to_string())),
            Val::F64(n) => Some(Cow::Owned(n.to_string())),
            Val::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }

    /// A number, or a string holding one (`"12.50"`).
    pub fn to_f64(&self) -> Option<f64> {
        let v = match self {
            Val::I64(n) => *n as f64,
            Val::U64(n) => *n as f64,
            Val::F64(n) => *n,
            Val::Str(s) => s.trim().parse::<f64>().ok()?,
            _ => return None,
        };
        v.is_finite().then_some(v)
    }

    /// An integer: JSON integers, integral floats, strings holding one.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            Val::I64(n) => Some(*n),
            Val::U64(n) => i64::try_from(*n).ok(),
            Val::F64(f) => float_to_i64(*f),
            Val::Str(s) => {
                let s = s.trim();
                s.parse::<i64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().and_then(float_to_i64))
            }
            _ => None,
        }
    }

    /// A boolean, or the strings `true`/`false`.
    pub fn to_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(*b),
            Val::Str(s) => match s.trim() {
                "true" | "TRUE" | "True" => Some(true),
                "false" | "FALSE" | "False" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

fn float_to_i64(f: f64) -> Option<i64> {
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor(std::marker::PhantomData))
    }
}

struct ValVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ValVisitor<'a> {
    type Value = Val<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val<'a>, E> {
        Ok(Val::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val<'a>, E> {
        Ok(Val::I64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val<'a>, E> {
        Ok(match i64::try_from(v) {
            Ok(n) => Val::I64(n),
            Err(_) => Val::U64(v),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val<'a>, E> {
        Ok(Val::F64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Val<'a>, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val<'a>, E> {
        Ok(Val::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Val<'a>, E> {
        Ok(Val::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val<'a>, E> {
        Ok(Val::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Val<'a>, E> {
        Ok(Val::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val<'a>, D::Error> {
        Val::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'a>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element::<Val<'a>>()? {
            out.push(v);
        }
        Ok(Val::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'a>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(Key(k)) = map.next_key::<Key<'a>>()? {
            let v = map.next_value::<Val<'a>>()?;
            out.push((k, v));
        }
        Ok(Val::Obj(out))
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::I64(n) => s.serialize_i64(*n),
            Val::U64(n) => s.serialize_u64(*n),
            Val::F64(n) => s.serialize_f64(*n),
            Val::Str(v) => s.serialize_str(v),
            Val::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Val::Obj(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

/// Why a line is not usable JSON, without quoting any of its content (a
/// serde message may contain the offending value, which may be personal data).
pub fn describe_json_error(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Syntax => {
            format!("not valid JSON (syntax error at column {})", e.column())
        }
        serde_json::error::Category::Eof => "not valid JSON (truncated)".to_string(),
        serde_json::error::Category::Data => format!(
            "unexpected JSON structure (a duplicate or mistyped field) at column {}",
            e.column()
        ),
        serde_json::error::Category::Io => "unreadable line".to_string(),
    }
}

/// Does the line look like a JSON object (first non-blank byte `{`)?
pub fn is_object_line(line: &[u8]) -> bool {
    line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

// ---------------------------------------------------------------------------
// Privacy of free-form JSON (`params_extra`, `extra`)
// ---------------------------------------------------------------------------

/// Replacement of a value that may identify someone.
pub const REDACTED: &str = "[redacted]";

/// What a key says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    /// Ordinary app-level data: kept (string values still pattern-checked).
    Plain,
    /// An identifier of a person or device: pseudonymised (C6), so it still joins.
    Id,
    /// Contact, identity, location or secret data: replaced by `[redacted]`.
    Personal,
}

/// Key words of personal data (whole tokens of the key).
const PERSONAL_TOKENS: &[&str] = &[
    "name",
    "nom",
    "prenom",
    "surname",
    "ip",
    "tel",
    "dob",
    "card",
    "pan",
    "cvv",
    "iban",
    "bic",
    "token",
    "secret",
    "lat",
    "lng",
    "lon",
    "latitude",
    "longitude",
    "geo",
    "location",
    "gps",
    "zip",
    "postcode",
    "postal",
    "ssn",
    "msisdn",
    "mobile",
    "imei",
    "mac",
    "street",
    "rue",
    "address",
    "adresse",
    "city",
    "ville",
];
/// Substrings of the flattened key that denote personal data.
const PERSONAL_PARTS: &[&str] = &[
    "mail",
    "phone",
    "passw",
    "birth",
    "naissance",
    "firstname",
    "lastname",
    "fullname",
    "username",
    "idfa",
    "gaid",
    "advertising",
    "ipaddr",
];
/// Substrings of the flattened key that denote a person's or device's id.
const ID_PARTS: &[&str] = &[
    "userid",
    "customerid",
    "clientid",
    "deviceid",
    "sessionid",
    "installid",
    "installationid",
    "instanceid",
    "accountid",
    "memberid",
    "visitorid",
    "fingerprint",
];

/// Classify a key of free-form JSON by its name (`user_id`, `userId`,
/// `e-mail`, `shipping_address`…).
pub fn classify_key(key: &str) -> KeyClass {
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let flat: String = tokens.concat();
    if ID_PARTS.iter().any(|p| flat.contains(p))
        || matches!(flat.as_str(), "uid" | "uuid" | "guid" | "fid" | "cid")
    {
        return KeyClass::Id;
    }
    if tokens.iter().any(|t| PERSONAL_TOKENS.contains(&t.as_str()))
        || PERSONAL_PARTS.iter().any(|p| flat.contains(p))
    {
        return KeyClass::Personal;
    }
    KeyClass::Plain
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn looks_like_email(s: &str) -> bool {
    let Some(at) = s.find('@') else {
        return false;
    };
    let (user, domain) = (&s[..at], &s[at + 1..]);
    !user.trim().is_empty() && domain.contains('.') && !domain.starts_with('.')
}

fn looks_like_phone(s: &str) -> bool {
    let t = s.trim();
    if !(t.starts_with('+') || t.starts_with('0')) {
        return false;
    }
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    (9..=15).contains(&digits)
        && t.bytes()
            .all(|c| c.is_ascii_digit() || b" +.-()/".contains(&c))
}

/// A free-text value with what could identify someone removed: an e-mail
/// address or a phone number → `[redacted]`, an IP → truncated (C6), a UUID
/// (device, install or advertising ids) → pseudonymised.
pub fn scrub_text<'s>(s: &'s str, pseudo: &Pseudonymizer) -> Cow<'s, str> {
    if s.contains('@') && s.split_whitespace().any(looks_like_email) {
        return Cow::Borrowed(REDACTED);
    }
    let t = s.trim();
    if is_uuid(t) {
        return Cow::Owned(pseudo.pseudo(t));
    }
    if (t.contains('.') || t.contains(':')) && t.len() <= 45 {
        if let Ok(ip) = t.parse::<std::net::IpAddr>() {
            return Cow::Owned(truncate_ip(&ip.to_string()).unwrap_or_else(|| REDACTED.into()));
        }
    }
    if looks_like_phone(t) {
        return Cow::Borrowed(REDACTED);
    }
    Cow::Borrowed(s)
}

/// Scrub one value of free-form JSON under `key` (see [`classify_key`],
/// [`scrub_text`]); objects are scrubbed key by key, keys sorted.
pub fn scrub_value(key: &str, v: Val<'_>, pseudo: &Pseudonymizer) -> Val<'static> {
    match classify_key(key) {
        KeyClass::Personal => {
            if v.is_null() {
                Val::Null
            } else {
                Val::Str(Cow::Borrowed(REDACTED))
            }
        }
        KeyClass::Id => match &v {
            Val::Null => Val::Null,
            Val::Arr(_) | Val::Obj(_) => Val::Str(Cow::Borrowed(REDACTED)),
            other => match other.to_text() {
                Some(t) if !t.trim().is_empty() => Val::Str(Cow::Owned(pseudo.pseudo(t.trim()))),
                _ => Val::Null,
            },
        },
        KeyClass::Plain => scrub_plain(v, pseudo),
    }
}

fn scrub_plain(v: Val<'_>, pseudo: &Pseudonymizer) -> Val<'static> {
    match v {
        Val::Null => Val::Null,
        Val::Bool(b) => Val::Bool(b),
        Val::I64(n) => Val::I64(n),
        Val::U64(n) => Val::U64(n),
        Val::F64(n) => Val::F64(n),
        Val::Str(s) => Val::Str(Cow::Owned(scrub_text(&s, pseudo).into_owned())),
        Val::Arr(a) => Val::Arr(a.into_iter().map(|x| scrub_plain(x, pseudo)).collect()),
        Val::Obj(o) => Val::Obj(scrub_entries(o, pseudo)),
    }
}

/// Scrub the entries of an object; keys sorted (canonical text).
pub fn scrub_entries(
    entries: Vec<(Cow<'_, str>, Val<'_>)>,
    pseudo: &Pseudonymizer,
) -> Vec<(Cow<'static, str>, Val<'static>)> {
    let mut out: Vec<(Cow<'static, str>, Val<'static>)> = entries
        .into_iter()
        .map(|(k, v)| {
            let v = scrub_value(&k, v, pseudo);
            (Cow::Owned(k.into_owned()), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The JSON text of scrubbed entries (`None` when there are none).
pub fn extra_json(entries: Vec<(Cow<'_, str>, Val<'_>)>, pseudo: &Pseudonymizer) -> Option<String> {
    if entries.is_empty() {
        return None;
    }
    serde_json::to_string(&Val::Obj(scrub_entries(entries, pseudo))).ok()
}

// ---------------------------------------------------------------------------
// Interned strings and pseudonyms
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Compact tables
// ---------------------------------------------------------------------------

/// Type of a silver column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// String from [`Strings`] (stored as an id).
    Str,
    /// String stored inline (values that never repeat, e.g. event ids).
    Text,
    I32,
    I64,
    F64,
    Bool,
    /// Days since the epoch.
    Date,
    /// Milliseconds since the epoch, UTC.
    Ts,
}

impl Kind {
    pub fn dtype(self) -> DataType {
        match self {
            Kind::Str | Kind::Text => DataType::String,
            Kind::I32 => DataType::Int32,
            Kind::I64 => DataType::Int64,
            Kind::F64 => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Date => DataType::Date,
            Kind::Ts => DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)),
        }
    }
}

/// Column names and kinds of a table, in output order.
pub type Schema = &'static [(&'static str, Kind)];

/// `table_schema!(fb { event_date: Date, event_name: Str, … })` defines module
/// `fb` with `SCHEMA` and one index constant per column (`fb::event_name`).
macro_rules! table_schema {
    ($name:ident { $($col:ident : $kind:ident),* $(,)? }) => {
        #[allow(non_upper_case_globals, dead_code)]
        pub mod $name {
            use $crate::silver::json::Kind;
            pub const SCHEMA: &[(&str, Kind)] = &[$((stringify!($col), Kind::$kind)),*];
            $crate::silver::json::table_schema!(@idx 0usize; $($col)*);
        }
    };
    (@idx $n:expr; $first:ident $($rest:ident)*) => {
        pub const $first: usize = $n;
        $crate::silver::json::table_schema!(@idx $n + 1usize; $($rest)*);
    };
    (@idx $n:expr;) => {};
}
pub(crate) use table_schema;

#[derive(Debug)]
enum Col {
    Str(ChunkVec<u32>),
    Text(ChunkVec<Option<Box<str>>>),
    I32(ChunkVec<Option<i32>>),
    I64(ChunkVec<Option<i64>>),
    F64(ChunkVec<Option<f64>>),
    Bool(ChunkVec<Option<bool>>),
}

impl Col {
    fn new(kind: Kind, nulls: usize) -> Col {
        let mut c = match kind {
            Kind::Str => Col::Str(ChunkVec::default()),
            Kind::Text => Col::Text(ChunkVec::default()),
            Kind::I32 | Kind::Date => Col::I32(ChunkVec::default()),
            Kind::I64 | Kind::Ts => Col::I64(ChunkVec::default()),
            Kind::F64 => Col::F64(ChunkVec::default()),
            Kind::Bool => Col::Bool(ChunkVec::default()),
        };
        for _ in 0..nulls {
            c.push_null();
        }
        c
    }
    fn len(&self) -> usize {
        match self {
            Col::Str(v) => v.len(),
            Col::Text(v) => v.len(),
            Col::I32(v) => v.len(),
            Col::I64(v) => v.len(),
            Col::F64(v) => v.len(),
            Col::Bool(v) => v.len(),
        }
    }
    fn push_null(&mut self) {
        match self {
            Col::Str(v) => v.push(NULL),
            Col::Text(v) => v.push(None),
            Col::I32(v) => v.push(None),
            Col::I64(v) => v.push(None),
            Col::F64(v) => v.push(None),
            Col::Bool(v) => v.push(None),
        }
    }
}

/// Rows of one partition: typed columns, created on their first value.
#[derive(Debug)]
pub struct Table {
    schema: Schema,
    len: usize,
    cols: Vec<Option<Col>>,
}

impl Table {
    pub fn new(schema: Schema) -> Table {
        Table {
            schema,
            len: 0,
            cols: schema.iter().map(|_| None).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The column `c` ready for the current row's value, or `None` when it
    /// already has one (the first value of a row wins).
    fn slot(&mut self, c: usize) -> Option<&mut Col> {
        let kind = self.schema.get(c)?.1;
        let len = self.len;
        let col = self.cols.get_mut(c)?;
        let col = col.get_or_insert_with(|| Col::new(kind, len));
        (col.len() == len).then_some(col)
    }

    pub fn set_str(&mut self, c: usize, id: u32) {
        if id == NULL {
            return;
        }
        if let Some(Col::Str(v)) = self.slot(c) {
            v.push(id);
        }
    }

    pub fn set_text(&mut self, c: usize, s: &str) {
        if let Some(Col::Text(v)) = self.slot(c) {
            v.push(Some(s.into()));
        }
    }

    pub fn set_i32(&mut self, c: usize, v: Option<i32>) {
        let Some(v) = v else { return };
        if let Some(Col::I32(x)) = self.slot(c) {
            x.push(Some(v));
        }
    }

    pub fn set_i64(&mut self, c: usize, v: Option<i64>) {
        let Some(v) = v else { return };
        if let Some(Col::I64(x)) = self.slot(c) {
            x.push(Some(v));
        }
    }

    pub fn set_f64(&mut self, c: usize, v: Option<f64>) {
        let Some(v) = v else { return };
        if let Some(Col::F64(x)) = self.slot(c) {
            x.push(Some(v));
        }
    }

    pub fn set_bool(&mut self, c: usize, v: Option<bool>) {
        let Some(v) = v else { return };
        if let Some(Col::Bool(x)) = self.slot(c) {
            x.push(Some(v));
        }
    }

    /// Close the current row: columns without a value get a null.
    pub fn end_row(&mut self) {
        self.len += 1;
        for c in self.cols.iter_mut().flatten() {
            while c.len() < self.len {
                c.push_null();
            }
        }
    }

    pub fn str_at(&self, c: usize, row: usize) -> u32 {
        match self.cols.get(c) {
            Some(Some(Col::Str(v))) => v.get(row).copied().unwrap_or(NULL),
            _ => NULL,
        }
    }

    pub fn text_at(&self, c: usize, row: usize) -> Option<&str> {
        match self.cols.get(c) {
            Some(Some(Col::Text(v))) => v.get(row)?.as_deref(),
            _ => None,
        }
    }

    pub fn i64_at(&self, c: usize, row: usize) -> Option<i64> {
        match self.cols.get(c) {
            Some(Some(Col::I64(v))) => v.get(row).copied().flatten(),
            Some(Some(Col::I32(v))) => v.get(row).copied().flatten().map(i64::from),
            _ => None,
        }
    }

    /// The frame of the rows `perm` (in that order).
    pub fn frame(&self, perm: &[u32], dict: &StringChunked) -> PolarsResult<DataFrame> {
        let n = perm.len();
        let mut columns = Vec::with_capacity(self.schema.len());
        for (c, (name, kind)) in self.schema.iter().enumerate() {
            let name: PlSmallStr = (*name).into();
            let col = match self.cols.get(c).and_then(Option::as_ref) {
                None => Column::full_null(name, n, &kind.dtype()),
                Some(col) => build_column(name, *kind, col, perm, dict)?,
            };
            columns.push(col);
        }
        DataFrame::new(n, columns)
    }
}

fn gather<'a, T: Copy>(v: &'a ChunkVec<T>, perm: &'a [u32]) -> impl Iterator<Item = T> + 'a {
    perm.iter().filter_map(move |&i| v.get(i as usize).copied())
}

/// A string column from ids into `dict` (one array of every interned
/// string): a constant column is a scalar (nothing materialised until it is
/// written), otherwise the rows gather views from `dict` and share its bytes.
pub fn str_column(name: PlSmallStr, ids: Vec<u32>, dict: &StringChunked) -> PolarsResult<Column> {
    let n = ids.len();
    let constant = ids.first().copied().filter(|f| ids.iter().all(|x| x == f));
    Ok(match constant {
        Some(NULL) => Column::full_null(name, n, &DataType::String),
        Some(id) if n > 1 => match dict.get(id as usize) {
            Some(s) => Column::new_scalar(
                name,
                Scalar::new(DataType::String, AnyValue::StringOwned(s.into())),
                n,
            ),
            None => Column::full_null(name, n, &DataType::String),
        },
        _ => {
            let idx = IdxCa::from_iter_options(
                "idx".into(),
                ids.into_iter().map(|x| (x != NULL).then_some(x as IdxSize)),
            );
            dict.take(&idx)?.with_name(name).into_column()
        }
    })
}

/// A date column; constant → scalar.
pub fn date_column(name: PlSmallStr, days: Vec<i32>) -> Column {
    let n = days.len();
    match days
        .first()
        .copied()
        .filter(|f| days.iter().all(|x| x == f))
    {
        Some(d) if n > 1 => {
            Column::new_scalar(name, Scalar::new(DataType::Date, AnyValue::Date(d)), n)
        }
        _ => Int32Chunked::from_vec(name, days).into_date().into_column(),
    }
}

/// A UTC millisecond timestamp column.
pub fn ts_column(name: PlSmallStr, ms: Vec<i64>) -> Column {
    Int64Chunked::from_vec(name, ms)
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_column()
}

fn build_column(
    name: PlSmallStr,
    kind: Kind,
    col: &Col,
    perm: &[u32],
    dict: &StringChunked,
) -> PolarsResult<Column> {
    let n = perm.len();
    Ok(match col {
        Col::Str(ids) => str_column(name, gather(ids, perm).collect(), dict)?,
        Col::Text(v) => StringChunked::from_iter_options(
            name,
            perm.iter()
                .map(|&i| v.get(i as usize).and_then(|s| s.as_deref())),
        )
        .into_column(),
        Col::I32(v) => {
            let ca = Int32Chunked::from_iter_options(name.clone(), gather(v, perm));
            if kind == Kind::Date {
                let first = perm
                    .first()
                    .and_then(|&i| v.get(i as usize).copied().flatten());
                match first.filter(|f| gather(v, perm).all(|x| x == Some(*f))) {
                    Some(d) if n > 1 => {
                        Column::new_scalar(name, Scalar::new(DataType::Date, AnyValue::Date(d)), n)
                    }
                    _ => ca.into_date().into_column(),
                }
            } else {
                ca.into_column()
            }
        }
        Col::I64(v) => {
            let ca = Int64Chunked::from_iter_options(name, gather(v, perm));
            if kind == Kind::Ts {
                ca.into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                    .into_column()
            } else {
                ca.into_column()
            }
        }
        Col::F64(v) => Float64Chunked::from_iter_options(name, gather(v, perm)).into_column(),
        Col::Bool(v) => BooleanChunked::from_iter_options(name, gather(v, perm)).into_column(),
    })
}

/// Rows per chunk of a [`ChunkVec`].
const CHUNK_ROWS: usize = 1 << 16;

/// A vector grown in fixed chunks: no reallocation copies, and at most one
/// partly filled chunk (a `Vec` doubling wastes up to half its capacity).
#[derive(Debug)]
pub struct ChunkVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkVec<T> {
    fn default() -> Self {
        ChunkVec {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ChunkVec<T> {
    pub fn push(&mut self, v: T) {
        match self.chunks.last_mut() {
            // The first chunk grows as a `Vec` does (small tables stay small).
            Some(c) if c.len() < CHUNK_ROWS => c.push(v),
            _ => {
                let mut c = if self.chunks.is_empty() {
                    Vec::new()
                } else {
                    Vec::with_capacity(CHUNK_ROWS)
                };
                c.push(v);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK_ROWS)?.get(i % CHUNK_ROWS)
    }
}

/// Bytes in 1 MiB chunks, addressed by a `u32` handle (chunk << 20 | offset).
#[derive(Debug, Default)]
pub struct ByteArena {
    chunks: Vec<Vec<u8>>,
}

const ARENA_BITS: u32 = 20;
const ARENA_CHUNK: usize = 1 << ARENA_BITS;

impl ByteArena {
    /// Store `b`; `None` when the arena is full (4096 chunks). A value over
    /// 1 MiB gets a chunk of its own.
    pub fn push(&mut self, b: &[u8]) -> Option<u32> {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.len() + b.len() <= ARENA_CHUNK);
        if !fits {
            if self.chunks.len() >= (1usize << (32 - ARENA_BITS)) {
                return None;
            }
            // The first chunk grows as a `Vec` does (small parts stay small).
            let cap = if self.chunks.is_empty() {
                0
            } else {
                ARENA_CHUNK.max(b.len())
            };
            self.chunks.push(Vec::with_capacity(cap));
        }
        let idx = self.chunks.len() - 1;
        let c = self.chunks.last_mut()?;
        let off = c.len();
        c.extend_from_slice(b);
        Some(((idx as u32) << ARENA_BITS) | off as u32)
    }

    pub fn get(&self, handle: u32, len: usize) -> &[u8] {
        let c = (handle >> ARENA_BITS) as usize;
        let off = (handle as usize) & (ARENA_CHUNK - 1);
        self.chunks
            .get(c)
            .and_then(|c| c.get(off..off + len))
            .unwrap_or_default()
    }
}

/// `<table>/event_date=YYYY-MM-DD`
pub fn date_partition(table: &str, day: i32) -> String {
    format!(
        "{table}/{}",
        super::parts::partition_path(&[("event_date", &super::from_epoch_days(day).to_string())])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pseudonymizer {
        Pseudonymizer::new(b"k")
    }

    #[test]
    fn val_borrows_and_converts() {
        let text =
            r#"{"a":"x","b":"1773741600267","c":12.5,"d":[1,null],"e":{"f":true},"g":"\u00e9"}"#;
        let v: Val = serde_json::from_str(text).unwrap();
        let Val::Obj(o) = v else { panic!() };
        assert!(matches!(o[0].1, Val::Str(Cow::Borrowed("x"))));
        assert_eq!(o[1].1.to_i64(), Some(1_773_741_600_267));
        assert_eq!(o[2].1.to_f64(), Some(12.5));
        assert_eq!(o[2].1.to_i64(), None);
        assert_eq!(o[5].1.as_str(), Some("é"));
        assert_eq!(
            serde_json::to_string(&Val::Obj(o)).unwrap(),
            text.replace("\\u00e9", "é")
        );
        assert_eq!(Val::Str("3.0".into()).to_i64(), Some(3));
        assert_eq!(Val::Str("abc".into()).to_f64(), None);
    }

    #[test]
    fn keys_are_classified() {
        for k in [
            "user_id",
            "userId",
            "device-id",
            "customerID",
            "uid",
            "fingerprint",
        ] {
            assert_eq!(classify_key(k), KeyClass::Id, "{k}");
        }
        for k in [
            "email",
            "e_mail",
            "phone_number",
            "first_name",
            "lastName",
            "ip",
            "client_ip",
            "shipping_address",
            "birth_date",
            "lat",
        ] {
            assert_eq!(classify_key(k), KeyClass::Personal, "{k}");
        }
        for k in [
            "experiment_id",
            "debug_mode",
            "item_variant",
            "ga_session_number",
            "campaign_id",
            "widget",
            "position",
            "shipping_eur",
        ] {
            assert_eq!(classify_key(k), KeyClass::Plain, "{k}");
        }
    }

    #[test]
    fn free_text_is_scrubbed() {
        let ps = p();
        assert_eq!(scrub_text("jean.dupont@example.com", &ps), REDACTED);
        assert_eq!(scrub_text("contact jean@x.fr svp", &ps), REDACTED);
        assert_eq!(scrub_text("+33 6 12 34 56 78", &ps), REDACTED);
        assert_eq!(scrub_text("0612345678", &ps), REDACTED);
        assert_eq!(scrub_text("86.13.14.138", &ps), "86.13.14.xxx");
        let u = "48bdd4e0-f0a8-4bb5-aa9c-d090a0cd1f76";
        assert_eq!(scrub_text(u, &ps), ps.pseudo(u));
        for keep in [
            "256 Go",
            "noir",
            "exp_checkout_v2",
            "1773741600267",
            "4.11.2",
            "chaussures running",
        ] {
            assert_eq!(scrub_text(keep, &ps), keep);
        }
        let v: Val = serde_json::from_str(
            r#"{"z":1,"email":"a@b.fr","user_id":"CUST-1","nested":{"phone":"x","ok":"y"},"debug_mode":true}"#,
        )
        .unwrap();
        let Val::Obj(o) = v else { panic!() };
        let s = extra_json(o, &ps).unwrap();
        assert_eq!(
            s,
            format!(
                r#"{{"debug_mode":true,"email":"[redacted]","nested":{{"ok":"y","phone":"[redacted]"}},"user_id":"{}","z":1}}"#,
                ps.pseudo("CUST-1")
            )
        );
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

    table_schema!(t {
        d: Date,
        s: Str,
        x: Text,
        n: I64,
        f: F64,
        b: Bool,
        ts: Ts
    });

    #[test]
    fn tables_are_sparse_and_gather_from_one_dictionary() {
        let mut st = Strings::new(p());
        let mut tb = Table::new(t::SCHEMA);
        let a = st.text("alpha-long-enough-to-not-inline");
        let dev = st.pseudo("dev-1");
        assert_eq!(st.pseudo("dev-1"), dev);
        assert_eq!(st.pseudo(" - "), NULL);
        for i in 0..3 {
            tb.set_i32(t::d, Some(20_529));
            tb.set_str(t::s, if i == 1 { NULL } else { a });
            tb.set_text(t::x, &format!("id-{i}"));
            tb.set_i64(t::n, (i != 2).then_some(i));
            tb.set_i64(t::ts, Some(1_773_741_600_267));
            tb.end_row();
        }
        assert_eq!(tb.len(), 3);
        assert_eq!(tb.text_at(t::x, 2), Some("id-2"));
        let dict = st.dictionary();
        let df = tb.frame(&[2, 0, 1], &dict).unwrap();
        assert_eq!(df.height(), 3);
        let s = df.column("s").unwrap().str().unwrap().clone();
        assert_eq!(s.get(0), Some("alpha-long-enough-to-not-inline"));
        assert_eq!(s.get(2), None);
        assert_eq!(df.column("x").unwrap().str().unwrap().get(0), Some("id-2"));
        assert_eq!(df.column("f").unwrap().null_count(), 3);
        assert_eq!(df.column("d").unwrap().dtype(), &DataType::Date);
        assert_eq!(
            df.column("ts").unwrap().dtype(),
            &DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        );
        assert_eq!(st.get(dev), Some(p().pseudo("dev-1").as_str()));
        // Writing a frame with scalar (constant) columns works and is deterministic.
        let mut a1 = tb.frame(&[0, 1, 2], &dict).unwrap();
        let mut a2 = tb.frame(&[0, 1, 2], &dict).unwrap();
        assert_eq!(
            crate::silver::parts::to_parquet(&mut a1).unwrap(),
            crate::silver::parts::to_parquet(&mut a2).unwrap()
        );
    }
}
