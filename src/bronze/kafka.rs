//! Kafka messages in bronze: the envelope `kvt ingest kafka` writes (one
//! JSON line per message: topic, partition, offset, timestamp, key and the
//! value byte for byte), the event date that places a message in
//! `bronze/kafka/<topic>/event_date=…/`, and the Kafka manifest
//! (`bronze/_manifests/kafka.jsonl`). Readers of these objects (`silver
//! payments|orders`, fraud backtests) use [`EnvelopeLine`].

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{layout, Key, Metadata, Store, StoreError};

/// One consumed message, borrowed from the client.
#[derive(Debug, Clone, Copy)]
pub struct Msg<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// Message timestamp (ms since the epoch), the event time.
    pub timestamp_ms: Option<i64>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// How a value was kept in the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Valid JSON on one line: embedded as is, byte for byte (`"value":…`).
    Json,
    /// Not JSON (or JSON spanning lines): kept as a string (`"value_raw":"…"`).
    Raw,
    /// Not UTF-8: kept as base64 (`"value_b64":"…"`).
    Base64,
    /// Null payload (tombstone): `"value":null`.
    Null,
}

/// Append one JSON line for `m` to `out`; returns how the value was kept.
pub fn envelope(out: &mut Vec<u8>, m: &Msg<'_>) -> ValueKind {
    out.extend_from_slice(b"{\"topic\":");
    write_json_str(out, m.topic);
    out.extend_from_slice(
        format!(",\"partition\":{},\"offset\":{}", m.partition, m.offset).as_bytes(),
    );
    match m.timestamp_ms {
        Some(ts) => out.extend_from_slice(format!(",\"timestamp\":{ts}").as_bytes()),
        None => out.extend_from_slice(b",\"timestamp\":null"),
    }
    match m.key {
        None => out.extend_from_slice(b",\"key\":null"),
        Some(k) => match std::str::from_utf8(k) {
            Ok(s) => {
                out.extend_from_slice(b",\"key\":");
                write_json_str(out, s);
            }
            Err(_) => {
                out.extend_from_slice(b",\"key\":null,\"key_b64\":\"");
                base64_into(out, k);
                out.push(b'"');
            }
        },
    }
    let kind = match m.value {
        None => {
            out.extend_from_slice(b",\"value\":null");
            ValueKind::Null
        }
        Some(v) => {
            let one_line = !v.iter().any(|&b| b == b'\n' || b == b'\r');
            let json = one_line
                && std::str::from_utf8(v).is_ok()
                && serde_json::from_slice::<Checked>(v).is_ok();
            if json {
                out.extend_from_slice(b",\"value\":");
                out.extend_from_slice(trim_ascii(v));
                ValueKind::Json
            } else if let Ok(s) = std::str::from_utf8(v) {
                out.extend_from_slice(b",\"value_raw\":");
                write_json_str(out, s);
                ValueKind::Raw
            } else {
                out.extend_from_slice(b",\"value_b64\":\"");
                base64_into(out, v);
                out.push(b'"');
                ValueKind::Base64
            }
        }
    };
    out.extend_from_slice(b"}\n");
    kind
}

/// Deserialises any JSON and keeps nothing, but, unlike `IgnoredAny`,
/// decodes every string: a lone surrogate escape (`"\ud800"`) is not JSON a
/// reader can decode, so such a value is kept as `value_raw`.
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

fn trim_ascii(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &v[start..end]
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping, without an intermediate String.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn base64_into(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(data)
            .as_bytes(),
    );
}

/// The event date of a message: the UTC date of its timestamp, else `fallback`.
pub fn event_date(timestamp_ms: Option<i64>, fallback: NaiveDate) -> NaiveDate {
    timestamp_ms
        .filter(|&t| t >= 0)
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map_or(fallback, |t| t.date_naive())
}

/// One bronze line as read back: where the message came from, its event
/// time, and its value when it was JSON (`value_raw`/`value_b64` mean it was
/// not: the line is a dead letter for readers that need JSON).
#[derive(Debug, Deserialize)]
pub struct EnvelopeLine<'a> {
    #[serde(borrow, default)]
    pub topic: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    pub partition: Option<i64>,
    #[serde(default)]
    pub offset: Option<i64>,
    /// The Kafka message timestamp (ms): the event time (CONTRACTS C1).
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(borrow, default)]
    pub value: Option<crate::json::Val<'a>>,
    #[serde(default)]
    pub value_raw: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub value_b64: Option<serde::de::IgnoredAny>,
}

/// Offsets already held by bronze objects, per topic, partition and date.
#[derive(Debug, Default, Clone)]
pub struct Coverage {
    ranges: BTreeMap<(String, i32, NaiveDate), Vec<(i64, i64)>>,
}

impl Coverage {
    pub fn add(&mut self, topic: &str, partition: i32, date: NaiveDate, first: i64, last: i64) {
        self.ranges
            .entry((topic.to_string(), partition, date))
            .or_default()
            .push((first, last));
    }

    /// Is this message already in bronze?
    pub fn contains(&self, topic: &str, partition: i32, date: NaiveDate, offset: i64) -> bool {
        self.ranges
            .get(&(topic.to_string(), partition, date))
            .is_some_and(|rs| rs.iter().any(|&(f, l)| f <= offset && offset <= l))
    }

    /// One past the highest offset held for a partition (any date).
    pub fn next_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.ranges
            .iter()
            .filter(|((t, p, _), _)| t == topic && *p == partition)
            .flat_map(|(_, rs)| rs.iter().map(|&(_, l)| l + 1))
            .max()
    }
}

/// One landed Kafka object (a line of `bronze/_manifests/kafka.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KafkaEntry {
    pub key: Key,
    pub source: String,
    pub topic: String,
    pub partition: i32,
    pub event_date: NaiveDate,
    pub first_offset: i64,
    pub last_offset: i64,
    pub message_count: u64,
    pub size: u64,
    pub ingested_at: DateTime<Utc>,
    pub run_id: String,
    /// Recorded from the object itself by a later run (the original run crashed before its manifest write).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

impl KafkaEntry {
    pub fn object_metadata(&self) -> Metadata {
        let mut m = Metadata::new();
        m.insert("kvt-source".into(), self.source.clone());
        m.insert("kvt-topic".into(), self.topic.clone());
        m.insert("kvt-partition".into(), self.partition.to_string());
        m.insert("kvt-first-offset".into(), self.first_offset.to_string());
        m.insert("kvt-last-offset".into(), self.last_offset.to_string());
        m.insert("kvt-message-count".into(), self.message_count.to_string());
        m.insert("kvt-ingested-at".into(), crate::run::ts(self.ingested_at));
        m.insert("kvt-run-id".into(), self.run_id.clone());
        m
    }
}

/// The Kafka manifest (`bronze/_manifests/kafka.jsonl`).
#[derive(Debug, Default)]
pub struct KafkaManifest {
    pub entries: Vec<KafkaEntry>,
}

pub const MANIFEST_SOURCE: &str = "kafka";

impl KafkaManifest {
    pub async fn load(store: &Store) -> Result<KafkaManifest, String> {
        let key = layout::bronze_manifest(MANIFEST_SOURCE);
        let Some(bytes) = store.get_opt(&key).await.map_err(|e| e.to_string())? else {
            return Ok(KafkaManifest::default());
        };
        let mut entries = Vec::new();
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            entries.push(serde_json::from_slice(line).map_err(|e| {
                format!(
                    "corrupt manifest {} line {}: {e}",
                    store.display_key(&key),
                    i + 1
                )
            })?);
        }
        Ok(KafkaManifest { entries })
    }

    pub async fn append(
        &mut self,
        store: &Store,
        mut new: Vec<KafkaEntry>,
    ) -> Result<(), StoreError> {
        if new.is_empty() {
            return Ok(());
        }
        new.sort_by(|a, b| a.key.cmp(&b.key));
        self.entries.retain(|e| !new.iter().any(|n| n.key == e.key));
        self.entries.extend(new);
        crate::bronze::manifest::put_jsonl(
            store,
            &layout::bronze_manifest(MANIFEST_SOURCE),
            &self.entries,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(value: Option<&'a [u8]>, key: Option<&'a [u8]>) -> Msg<'a> {
        Msg {
            topic: "payments",
            partition: 3,
            offset: 42,
            timestamp_ms: Some(1_773_705_600_123),
            key,
            value,
        }
    }

    fn line(m: &Msg<'_>) -> (String, ValueKind) {
        let mut out = Vec::new();
        let k = envelope(&mut out, m);
        (String::from_utf8(out).unwrap(), k)
    }

    #[test]
    fn json_value_is_embedded_byte_for_byte() {
        let v = br#"{"payment_id":"P1", "amount": 12.50,"x":[1, 2]}"#;
        let (l, k) = line(&msg(Some(v), Some(b"CUST-1")));
        assert_eq!(k, ValueKind::Json);
        assert_eq!(
            l,
            "{\"topic\":\"payments\",\"partition\":3,\"offset\":42,\"timestamp\":1773705600123,\"key\":\"CUST-1\",\"value\":{\"payment_id\":\"P1\", \"amount\": 12.50,\"x\":[1, 2]}}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(back["value"]["amount"], 12.5);
    }

    #[test]
    fn non_json_values_are_kept_not_dropped() {
        let (l, k) = line(&msg(Some(b"not json \"quoted\""), None));
        assert_eq!(k, ValueKind::Raw);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["value_raw"], "not json \"quoted\"");
        assert!(v["key"].is_null());
        // Multi-line JSON would break the line format: kept as a string, exactly.
        let (l, k) = line(&msg(Some(b"{\n\"a\": 1\n}"), None));
        assert_eq!(k, ValueKind::Raw);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["value_raw"], "{\n\"a\": 1\n}");
        // Not UTF-8 at all.
        let (l, k) = line(&msg(Some(&[0xff, 0xfe, 0x00, 0x41]), Some(&[0xc3, 0x28])));
        assert_eq!(k, ValueKind::Base64);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["value_b64"], "//4AQQ==");
        assert_eq!(v["key_b64"], "wyg=");
        let (l, k) = line(&msg(None, None));
        assert_eq!(k, ValueKind::Null);
        assert!(l.contains("\"value\":null"));
    }

    #[test]
    fn event_date_is_the_utc_date_of_the_timestamp() {
        let fb = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        // 2026-03-16T23:59:59.999Z and 2026-03-17T00:00:00Z
        assert_eq!(
            event_date(Some(1_773_705_599_999), fb).to_string(),
            "2026-03-16"
        );
        assert_eq!(
            event_date(Some(1_773_705_600_000), fb).to_string(),
            "2026-03-17"
        );
        assert_eq!(event_date(None, fb), fb);
        assert_eq!(event_date(Some(-1), fb), fb);
    }

    #[test]
    fn coverage_is_exact_per_date() {
        let d1 = NaiveDate::from_ymd_opt(2026, 3, 16).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2026, 3, 17).unwrap();
        let mut c = Coverage::default();
        c.add("payments", 0, d1, 100, 150);
        assert!(c.contains("payments", 0, d1, 120));
        // Same offsets, other date: a different object, not yet written.
        assert!(!c.contains("payments", 0, d2, 120));
        assert!(!c.contains("payments", 1, d1, 120));
        assert!(!c.contains("orders", 0, d1, 120));
        assert_eq!(c.next_offset("payments", 0), Some(151));
        assert_eq!(c.next_offset("payments", 1), None);
    }

    #[test]
    fn base64() {
        let mut o = Vec::new();
        base64_into(&mut o, b"Man");
        base64_into(&mut o, b"Ma");
        base64_into(&mut o, b"M");
        assert_eq!(o, b"TWFuTWE=TQ==");
    }

    /// Fuzz (issue 7): whatever bytes a message carries, its envelope is one
    /// line of valid JSON that gives the value back exactly.
    #[test]
    fn fuzz_envelopes_are_one_json_line_that_round_trips() {
        use base64::Engine as _;
        let corpus: [&[u8]; 4] = [
            br#"{"payment_id":"P1","amount":12.5,"items":[{"q":1}]}"#,
            b"  {\"a\":\"\xc3\xa9\"}  ",
            b"not json \" at all",
            b"\xff\xfe\x00binary",
        ];
        crate::fuzz::run("envelope", 17, &corpus, |value| {
            let key_cut = value.len().min(7);
            let m = Msg {
                topic: "payments",
                partition: 1,
                offset: 9,
                timestamp_ms: Some(1_773_705_600_123),
                key: Some(&value[..key_cut]),
                value: Some(value),
            };
            let mut out = Vec::new();
            let kind = envelope(&mut out, &m);
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(out.last(), Some(&b'\n'));
            let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let line: EnvelopeLine = serde_json::from_slice(&out).unwrap();
            assert_eq!(line.offset, Some(9));
            match kind {
                ValueKind::Json => {
                    let a: serde_json::Value = serde_json::from_slice(value).unwrap();
                    assert_eq!(back["value"], a);
                }
                ValueKind::Raw => {
                    assert_eq!(back["value_raw"].as_str().unwrap().as_bytes(), value);
                }
                ValueKind::Base64 => {
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(back["value_b64"].as_str().unwrap())
                        .unwrap();
                    assert_eq!(b, value);
                }
                ValueKind::Null => unreachable!(),
            }
        });
    }
}
