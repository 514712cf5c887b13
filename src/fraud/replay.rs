//! Backtesting input (issue 9): the bronze JSONL of `kvt ingest kafka` read
//! back as the messages a live consumer saw — same topic, partition, offset,
//! timestamp and value, so the same alert ids (C3). Pure: lines in,
//! messages out, in replay order.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use super::job::Message;

/// One message recorded in bronze (or held by a job until the watermark).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The Kafka timestamp (event time); a message without one is dropped
    /// by `parse_line` (it could not have an event time live either).
    pub timestamp: i64,
    pub value: Vec<u8>,
}

impl Recorded {
    pub fn message(&self) -> Message<'_> {
        Message {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            value: &self.value,
        }
    }
}

/// The topic of an envelope line without parsing it, when the line starts
/// the way `kvt ingest kafka` writes it (`{"topic":"…"`); `None` otherwise
/// (parse it to know).
pub fn line_topic(line: &[u8]) -> Option<&str> {
    let rest = line.strip_prefix(br#"{"topic":""#)?;
    let len = memchr::memchr(b'"', rest)?;
    let t = std::str::from_utf8(&rest[..len]).ok()?;
    (!t.contains('\\')).then_some(t)
}

/// One bronze envelope line (`{"topic":…,"partition":…,"offset":…,
/// "timestamp":…,"key":…,"value":…|"value_raw":…|"value_b64":…}`).
pub fn parse_line(line: &[u8]) -> Result<Recorded, String> {
    let v: Value =
        serde_json::from_slice(line).map_err(|e| format!("not a bronze envelope: {e}"))?;
    let field = |k: &str| v.get(k).filter(|x| !x.is_null());
    let topic = field("topic")
        .and_then(Value::as_str)
        .ok_or("envelope without `topic`")?
        .to_string();
    let partition = field("partition")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .ok_or("envelope without a valid `partition`")?;
    let offset = field("offset")
        .and_then(Value::as_i64)
        .ok_or("envelope without `offset`")?;
    let timestamp = field("timestamp")
        .and_then(Value::as_i64)
        .ok_or("envelope without `timestamp`")?;
    let value = if let Some(raw) = field("value_raw").and_then(Value::as_str) {
        raw.as_bytes().to_vec()
    } else if let Some(b64) = field("value_b64").and_then(Value::as_str) {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("bad `value_b64`: {e}"))?
    } else {
        // Embedded JSON: the same document, re-serialised (the rules read
        // the parsed value, never the bytes).
        serde_json::to_vec(v.get("value").unwrap_or(&Value::Null)).unwrap_or_default()
    };
    Ok(Recorded {
        topic,
        partition,
        offset,
        timestamp,
        value,
    })
}

/// Replay order: within a partition, by offset (what a consumer sees);
/// across partitions, the head with the smallest timestamp first (ties by
/// topic, then partition). Duplicates of one (topic, partition, offset) —
/// the same object read twice — are kept once.
pub fn replay_order(records: Vec<Recorded>) -> Vec<Recorded> {
    let mut queues: BTreeMap<(String, i32), Vec<Recorded>> = BTreeMap::new();
    for r in records {
        queues
            .entry((r.topic.clone(), r.partition))
            .or_default()
            .push(r);
    }
    let mut queues: Vec<std::collections::VecDeque<Recorded>> = queues
        .into_values()
        .map(|mut q| {
            q.sort_by_key(|r| r.offset);
            q.dedup_by_key(|r| r.offset);
            q.into()
        })
        .collect();
    let mut out = Vec::new();
    loop {
        let next = queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|r| (r.timestamp, i)))
            .min();
        let Some((_, i)) = next else { break };
        if let Some(r) = queues[i].pop_front() {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_give_back_the_live_message() {
        let r = parse_line(
            br#"{"topic":"payments","partition":3,"offset":41,"timestamp":1773741600000,"key":"U","value":{"payment_id":"P"}}"#,
        )
        .unwrap();
        assert_eq!(
            (r.topic.as_str(), r.partition, r.offset),
            ("payments", 3, 41)
        );
        assert_eq!(r.value, br#"{"payment_id":"P"}"#);
        let raw = parse_line(
            br#"{"topic":"payments","partition":0,"offset":1,"timestamp":5,"key":null,"value_raw":"{oops"}"#,
        )
        .unwrap();
        assert_eq!(raw.value, b"{oops");
        let b64 = parse_line(
            br#"{"topic":"orders","partition":0,"offset":2,"timestamp":5,"key":null,"value_b64":"/w=="}"#,
        )
        .unwrap();
        assert_eq!(b64.value, [0xff]);
        for bad in [
            &b"{"[..],
            br#"{"partition":0,"offset":1,"timestamp":5}"#,
            br#"{"topic":"t","partition":0,"offset":1,"timestamp":null,"value":1}"#,
            br#"{"topic":"t","partition":99999999999,"offset":1,"timestamp":1,"value":1}"#,
        ] {
            assert!(parse_line(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_topic_is_read_without_parsing_when_the_line_has_the_usual_shape() {
        assert_eq!(
            line_topic(br#"{"topic":"payments","partition":0}"#),
            Some("payments")
        );
        assert_eq!(line_topic(br#"{"partition":0,"topic":"payments"}"#), None);
        assert_eq!(line_topic(br#"{"topic":"pay\"x"}"#), None);
        assert_eq!(line_topic(b"{\"topic\":\"unterminated"), None);
        assert_eq!(line_topic(b""), None);
    }

    #[test]
    fn replay_keeps_offset_order_per_partition_and_merges_by_time() {
        let rec = |p: i32, o: i64, t: i64| Recorded {
            topic: "payments".into(),
            partition: p,
            offset: o,
            timestamp: t,
            value: Vec::new(),
        };
        // Partition 0 has an out-of-order arrival (offset 1 is older than 0).
        let input = vec![
            rec(1, 0, 15),
            rec(0, 1, 5),
            rec(0, 0, 20),
            rec(1, 1, 30),
            rec(0, 0, 20),
        ];
        let order: Vec<(i32, i64)> = replay_order(input)
            .iter()
            .map(|r| (r.partition, r.offset))
            .collect();
        assert_eq!(order, [(1, 0), (0, 0), (0, 1), (1, 1)]);
    }

    #[test]
    fn a_replay_from_bronze_gives_the_same_alert_ids() {
        use crate::bronze::kafka::{envelope, Msg};
        use crate::fraud::advanced::{AdvancedJob, LookBackSettings};
        use crate::fraud::job::{Output, WindowSettings};
        use crate::fraud::rules::Settings;

        let t0 = 1_773_741_600_000i64;
        // Card testing on one session, spread over two partitions.
        let values: Vec<(i32, i64, String)> = (0..6)
            .map(|i| {
                (
                    (i % 2) as i32,
                    t0 + i * 500,
                    format!(
                        r#"{{"payment_id":"P{i}","order_id":"C","customer_id":"U{i}","amount":1,"currency":"EUR","status":"declined","risk_score":55,"payment_session_id":"S"}}"#
                    ),
                )
            })
            .collect();
        let ids = |msgs: Vec<Recorded>| -> Vec<String> {
            let mut job = AdvancedJob::new(
                Settings::default(),
                &WindowSettings::default(),
                &LookBackSettings::default(),
            );
            let mut ids = Vec::new();
            for r in &msgs {
                let mut outs = job.process(&r.message(), 0);
                outs.extend(crate::fraud::job::StreamJob::finish(&mut job));
                for o in outs {
                    if let Output::Alert(a) = o {
                        ids.push(a.alert_id);
                    }
                }
            }
            ids.sort();
            ids
        };
        // "Live": as consumed, offsets per partition.
        let mut next = [0i64; 2];
        let live: Vec<Recorded> = values
            .iter()
            .map(|(p, t, v)| {
                let offset = next[*p as usize];
                next[*p as usize] += 1;
                Recorded {
                    topic: "payments".into(),
                    partition: *p,
                    offset,
                    timestamp: *t,
                    value: v.clone().into_bytes(),
                }
            })
            .collect();
        // Bronze: the envelopes `ingest kafka` writes, read back in any order.
        let mut lines: Vec<Recorded> = live
            .iter()
            .rev()
            .map(|r| {
                let mut out = Vec::new();
                envelope(
                    &mut out,
                    &Msg {
                        topic: &r.topic,
                        partition: r.partition,
                        offset: r.offset,
                        timestamp_ms: Some(r.timestamp),
                        key: Some(b"U"),
                        value: Some(&r.value),
                    },
                );
                parse_line(&out).unwrap()
            })
            .collect();
        lines = replay_order(lines);
        let live_ids = ids(live);
        assert_eq!(live_ids.len(), 1, "card testing fired once");
        assert_eq!(ids(lines), live_ids);
    }
}
