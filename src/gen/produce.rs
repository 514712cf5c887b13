//! Publishing generated events to a Kafka-protocol broker (`kvt-gen produce`),
//! and creating the topics of CONTRACTS C2 (`kvt-gen topics`).
//!
//! The generated files (`events/<topic>/<date>.jsonl`) hold one envelope per
//! line in *production order* — `{"ts":<ms>,"key":"<customer_id>","value":{…}}`
//! or `"value_raw":"…"` for a message that is not JSON — so publishing them in
//! file order reproduces the out-of-order arrivals the generator planned.
//! The message key is the customer id and the message timestamp is `ts`, the
//! event time (CONTRACTS C1).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::ClientSettings;

/// The input topics the generator writes files for.
pub use crate::kafka::INPUT_TOPICS as EVENT_TOPICS;

/// Parse a rate such as `500/s`, `500`, `30000/min`.
pub fn parse_rate(s: &str) -> Result<f64> {
    let s = s.trim();
    let (n, per) = match s.split_once('/') {
        Some((n, u)) => (n, u.trim()),
        None => (s, "s"),
    };
    let n: f64 = n
        .trim()
        .parse()
        .with_context(|| format!("invalid rate `{s}` (e.g. 500/s)"))?;
    let secs = match per {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => bail!("invalid rate unit `{other}` in `{s}` (use /s, /min, /h)"),
    };
    if !(n.is_finite() && n > 0.0) {
        bail!("rate must be positive: `{s}`");
    }
    Ok(n / secs)
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct ProduceConfig {
    pub brokers: String,
    /// The generator's `events/` directory.
    pub events_dir: PathBuf,
    /// Which topics (files) to publish, in this order.
    pub topics: Vec<String>,
    /// Prefix added to topic names on the broker (unique topics per test run).
    pub topic_prefix: String,
    /// Messages per second over all topics; `None` = as fast as possible.
    pub rate: Option<f64>,
    /// Stop after this many messages (all topics).
    pub limit: Option<u64>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ProduceStats {
    pub messages: u64,
    pub bytes: u64,
    pub per_topic: std::collections::BTreeMap<String, u64>,
    pub seconds: f64,
}

/// One line of a generated events file, with the value's bytes exactly as written.
#[derive(Debug, PartialEq)]
struct Envelope<'a> {
    ts: i64,
    key: Option<String>,
    payload: std::borrow::Cow<'a, [u8]>,
}

/// Read the next JSON value at `line[*pos..]` and move `pos` past it.
fn next_value(line: &[u8], pos: &mut usize) -> Option<serde_json::Value> {
    let mut it =
        serde_json::Deserializer::from_slice(&line[*pos..]).into_iter::<serde_json::Value>();
    let v = it.next()?.ok()?;
    *pos += it.byte_offset();
    Some(v)
}

/// Split `{"ts":…,"key":…,"value":…}` (or `"value_raw":"…"`) without re-serialising
/// the value, so the published bytes are exactly the generated ones.
fn parse_envelope(line: &[u8]) -> Option<Envelope<'_>> {
    let mut pos = line.strip_prefix(b"{\"ts\":").map(|_| 6)?;
    let ts = next_value(line, &mut pos)?.as_i64()?;
    pos += line[pos..].strip_prefix(b",\"key\":").map(|_| 7)?;
    let key = match next_value(line, &mut pos)? {
        serde_json::Value::String(k) => Some(k),
        serde_json::Value::Null => None,
        _ => return None,
    };
    let rest = &line[pos..];
    if let Some(v) = rest.strip_prefix(b",\"value\":") {
        let v = v.strip_suffix(b"}")?;
        return Some(Envelope {
            ts,
            key,
            payload: std::borrow::Cow::Borrowed(v),
        });
    }
    pos += rest.strip_prefix(b",\"value_raw\":").map(|_| 13)?;
    match next_value(line, &mut pos)? {
        serde_json::Value::String(raw) => Some(Envelope {
            ts,
            key,
            payload: std::borrow::Cow::Owned(raw.into_bytes()),
        }),
        _ => None,
    }
}

/// The event files of one topic, in date order.
fn topic_files(dir: &Path, topic: &str) -> Result<Vec<PathBuf>> {
    let d = dir.join(topic);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
        .with_context(|| format!("reading {}", d.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

/// Publish the generated events; returns what was sent (all acknowledged).
pub fn produce(cfg: &ProduceConfig) -> Result<ProduceStats> {
    let producer = ClientSettings::new(cfg.brokers.clone()).producer("kvt-gen")?;
    let started = Instant::now();
    let mut stats = ProduceStats::default();
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    'topics: for topic in &cfg.topics {
        let target = format!("{}{topic}", cfg.topic_prefix);
        for file in topic_files(&cfg.events_dir, topic)? {
            let text =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                if cfg.limit.is_some_and(|l| stats.messages >= l) {
                    break 'topics;
                }
                let env = parse_envelope(line).with_context(|| {
                    format!("{} line {}: not an event envelope", file.display(), i + 1)
                })?;
                let payload: &[u8] = &env.payload;
                if let Some(rate) = cfg.rate {
                    let due = Duration::from_secs_f64(stats.messages as f64 / rate);
                    let elapsed = started.elapsed();
                    if due > elapsed {
                        std::thread::sleep(due - elapsed);
                    }
                }
                let mut record = BaseRecord::<str, [u8]>::to(&target)
                    .payload(payload)
                    .timestamp(env.ts);
                if let Some(k) = env.key.as_deref() {
                    record = record.key(k);
                }
                let mut record = record;
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err((e, _)) => {
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            bail!("producing to `{target}` on {}: {e}", cfg.brokers);
                        }
                    }
                }
                stats.messages += 1;
                stats.bytes += payload.len() as u64;
                *stats.per_topic.entry(target.clone()).or_default() += 1;
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .with_context(|| format!("waiting for {} to acknowledge the messages", cfg.brokers))?;
    if producer.in_flight_count() > 0 {
        bail!(
            "{} messages were not acknowledged by {}",
            producer.in_flight_count(),
            cfg.brokers
        );
    }
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500/s").unwrap(), 500.0);
        assert_eq!(parse_rate("500").unwrap(), 500.0);
        assert_eq!(parse_rate("600/min").unwrap(), 10.0);
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("5/week").is_err());
    }

    #[test]
    fn envelopes_keep_the_value_bytes() {
        let l = br#"{"ts":1773705600123,"key":"CUST-000001","value":{"a": 1.50,"value":2}}"#;
        let e = parse_envelope(l).unwrap();
        assert_eq!(e.ts, 1_773_705_600_123);
        assert_eq!(e.key.as_deref(), Some("CUST-000001"));
        assert_eq!(&*e.payload, br#"{"a": 1.50,"value":2}"#);
        let l = br#"{"ts":1,"key":null,"value_raw":"{\"truncated"}"#;
        let e = parse_envelope(l).unwrap();
        assert_eq!(&*e.payload, br#"{"truncated"#);
        assert!(e.key.is_none());
        assert!(parse_envelope(b"{}").is_none());
        assert!(parse_envelope(br#"{"ts":"x","key":null,"value":1}"#).is_none());
    }
}
