//! The runner's pure parts (issue 9): which job reads which topics and
//! writes which alert topic, one value for "the configured job", checkpoint
//! encoding (a header with offsets, then the operator state), the store keys
//! of checkpoints and of the archive, and the JSON documents written for
//! dead letters, late events and window aggregates. No I/O: `cmd::fraud`
//! does the Kafka and store side.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::advanced::{AdvancedJob, LookBackSettings};
use super::crossed::{CrossSettings, CrossedJob, KycJob};
use super::engine::Millis;
use super::job::{
    Message, OrdersJob, Output, PaymentsJob, StreamCombiner, StreamJob, WindowSettings,
};
use super::rules::Settings;

/// The five jobs of SPEC §3.12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum JobKind {
    Payments,
    Orders,
    Advanced,
    Crossed,
    Kyc,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [
        JobKind::Payments,
        JobKind::Orders,
        JobKind::Advanced,
        JobKind::Crossed,
        JobKind::Kyc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JobKind::Payments => "payments",
            JobKind::Orders => "orders",
            JobKind::Advanced => "advanced",
            JobKind::Crossed => "crossed",
            JobKind::Kyc => "kyc",
        }
    }

    /// The topics the job consumes, each once (FRAUD-6).
    pub fn input_topics(self) -> &'static [&'static str] {
        match self {
            JobKind::Payments | JobKind::Advanced => &["payments"],
            JobKind::Orders => &["orders"],
            JobKind::Crossed => &["payments", "orders"],
            JobKind::Kyc => &["kyc_decisions"],
        }
    }

    /// The alert types the job raises (CONTRACTS C3).
    pub fn alert_types(self) -> &'static [&'static str] {
        match self {
            JobKind::Payments => &["payment_direct", "high_amount", "psp_error_rate"],
            JobKind::Orders => &[
                "order_high_amount",
                "order_discount_abuse",
                "order_large_cancellation",
                "cancellation_spike",
                "express_spike",
            ],
            JobKind::Advanced => &[
                "card_testing",
                "bin_blacklist",
                "geo_mismatch",
                "bot_pattern",
                "card_portfolio",
                "shared_device",
            ],
            JobKind::Crossed => &[
                "payment_on_cancelled_order",
                "amount_mismatch",
                "cross_velocity",
                "shared_ip",
            ],
            JobKind::Kyc => &["kyc_multiple_documents", "kyc_minor_rate"],
        }
    }

    /// The topic an alert of type `ty` goes to (CONTRACTS C2, C3).
    pub fn alert_topic(self, ty: &str) -> &'static str {
        match self {
            JobKind::Payments if ty == "psp_error_rate" => "alerts_psp_payments",
            JobKind::Payments => "alerts_fraud_payments",
            JobKind::Orders => "alerts_orders",
            JobKind::Advanced => "alerts_advanced_fraud",
            JobKind::Crossed => "alerts_fraud_crossed",
            JobKind::Kyc => "alerts_kyc",
        }
    }

    /// Every topic the job writes: its alert topics and the dead letters.
    pub fn output_topics(self) -> Vec<&'static str> {
        let mut t: Vec<&'static str> = self
            .alert_types()
            .iter()
            .map(|ty| self.alert_topic(ty))
            .collect();
        t.push(crate::kafka::DEAD_LETTERS);
        t.sort_unstable();
        t.dedup();
        t
    }
}

/// Every threshold of the five jobs, and the rule types switched off.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub settings: Settings,
    pub windows: WindowSettings,
    pub lookback: LookBackSettings,
    pub cross: CrossSettings,
    /// Alert types not raised (`[fraud] disabled`).
    pub disabled: BTreeSet<String>,
}

/// One configured job (one per process: the size of the variants does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Job {
    Payments(PaymentsJob),
    Orders(OrdersJob),
    Advanced(AdvancedJob),
    Crossed(CrossedJob),
    Kyc(KycJob),
    /// The whole-stream order windows of a scaled-out `orders` job.
    OrdersStream(StreamCombiner),
}

macro_rules! each {
    ($job:expr, $j:ident => $e:expr) => {
        match $job {
            Job::Payments($j) => $e,
            Job::Orders($j) => $e,
            Job::Advanced($j) => $e,
            Job::Crossed($j) => $e,
            Job::Kyc($j) => $e,
            Job::OrdersStream($j) => $e,
        }
    };
}

/// First bytes of a checkpoint object, with its format version.
const CHECKPOINT_MAGIC: &[u8; 8] = b"KVTCKPT1";

fn restore<J: StreamJob>(mut fresh: J, state: &[u8]) -> Result<J, String> {
    let old: J = rmp_serde::from_slice(state).map_err(|e| format!("unreadable state: {e}"))?;
    fresh.adopt(old);
    Ok(fresh)
}

impl Job {
    pub fn new(kind: JobKind, r: &Rules) -> Job {
        match kind {
            JobKind::Payments => {
                Job::Payments(PaymentsJob::new(r.settings.clone(), r.windows.clone()))
            }
            JobKind::Orders => Job::Orders(OrdersJob::new(r.settings.clone(), r.windows.clone())),
            JobKind::Advanced => Job::Advanced(AdvancedJob::new(
                r.settings.clone(),
                &r.windows,
                &r.lookback,
            )),
            JobKind::Crossed => Job::Crossed(CrossedJob::new(
                r.settings.clone(),
                &r.windows,
                r.cross.clone(),
            )),
            JobKind::Kyc => Job::Kyc(KycJob::new(&r.windows, r.cross.clone())),
        }
    }

    /// The engine of a task of a scaled-out job: the job's, except for the
    /// streams combined from partial windows.
    pub fn for_stream(kind: JobKind, stream: Option<&super::shard::Stream>, r: &Rules) -> Job {
        match stream {
            Some(s) if s.partials => Job::OrdersStream(StreamCombiner::new(r.windows.clone())),
            _ => Job::new(kind, r),
        }
    }

    /// The job configured by `r` with the state of a checkpoint.
    pub fn restore(kind: JobKind, r: &Rules, state: &[u8]) -> Result<Job, String> {
        Job::new(kind, r).with_state(state)
    }

    /// This configured engine with the state of a checkpoint.
    pub fn with_state(self, state: &[u8]) -> Result<Job, String> {
        Ok(match self {
            Job::Payments(j) => Job::Payments(restore(j, state)?),
            Job::Orders(j) => Job::Orders(restore(j, state)?),
            Job::Advanced(j) => Job::Advanced(restore(j, state)?),
            Job::Crossed(j) => Job::Crossed(restore(j, state)?),
            Job::Kyc(j) => Job::Kyc(restore(j, state)?),
            Job::OrdersStream(j) => Job::OrdersStream(restore(j, state)?),
        })
    }

    /// The operator state, as stored in a checkpoint.
    pub fn state(&self) -> Vec<u8> {
        each!(self, j => rmp_serde::to_vec(j)).unwrap_or_default()
    }

    pub fn kind(&self) -> JobKind {
        match self {
            Job::Payments(_) => JobKind::Payments,
            Job::Orders(_) => JobKind::Orders,
            Job::Advanced(_) => JobKind::Advanced,
            Job::Crossed(_) => JobKind::Crossed,
            Job::Kyc(_) => JobKind::Kyc,
            Job::OrdersStream(_) => JobKind::Orders,
        }
    }

    /// Declares an assigned input partition before its first message.
    pub fn register(&mut self, topic: &str, partition: i32, now: Millis) {
        each!(self, j => j.watermarks_mut().register(topic, partition, now))
    }

    pub fn watermark(&mut self) -> Option<Millis> {
        each!(self, j => j.watermarks_mut().current())
    }

    pub fn state_keys(&self) -> usize {
        each!(self, j => j.state_keys())
    }

    /// Evaluates what waits for the watermark (end of a bounded input, tests).
    pub fn finish(&mut self, disabled: &BTreeSet<String>) -> Vec<Output> {
        let mut out = each!(self, j => j.finish());
        drop_disabled(&mut out, disabled);
        out
    }

    /// Processes one message; alerts of disabled types are dropped.
    pub fn process(
        &mut self,
        m: &Message,
        now: Millis,
        disabled: &BTreeSet<String>,
    ) -> Vec<Output> {
        let mut out = each!(self, j => j.process(m, now));
        drop_disabled(&mut out, disabled);
        out
    }

    /// Only the per-event rules (a source task of a scaled-out job); `false`
    /// when the message is a dead letter.
    pub fn per_event(&mut self, m: &Message, disabled: &BTreeSet<String>) -> (Vec<Output>, bool) {
        let (mut out, valid) = each!(self, j => j.per_event(m));
        drop_disabled(&mut out, disabled);
        (out, valid)
    }

    /// What a source partition has shown (a forwarded event's `max_before`
    /// or a watermark marker), at processing time `now`.
    pub fn observe(&mut self, topic: &str, partition: i32, t: Millis, now: Millis) {
        each!(self, j => { j.watermarks_mut().observe(topic, partition, t, now); })
    }

    /// Advances processing time: closes windows, expires state.
    pub fn tick(&mut self, now: Millis, disabled: &BTreeSet<String>) -> Vec<Output> {
        let mut out = each!(self, j => j.tick(now));
        drop_disabled(&mut out, disabled);
        out
    }
}

fn drop_disabled(out: &mut Vec<Output>, disabled: &BTreeSet<String>) {
    if !disabled.is_empty() {
        out.retain(|o| !matches!(o, Output::Alert(a) if disabled.contains(a.ty)));
    }
}

/// What a checkpoint records besides the state (FRAUD-4).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub job: String,
    /// Increasing number of the checkpoint; archive files carry it.
    pub seq: u64,
    /// Processing time it was taken at.
    pub created_at: Millis,
    /// Next offset to read, per input (topic, partition).
    pub inputs: Vec<(String, i32, i64)>,
    /// End offset of each output (topic, partition) once everything before
    /// the checkpoint was acknowledged: what lies beyond was produced after
    /// it, and is known on restart without transactions.
    pub outputs: Vec<(String, i32, i64)>,
    /// Counters carried across restarts (alerts, late, dead letters…).
    pub counters: BTreeMap<String, u64>,
    /// Outputs a crashed run published beyond the restored checkpoint that
    /// the replay has not regenerated yet: still not to be sent again.
    #[serde(default)]
    pub published_ahead: Vec<String>,
}

impl Checkpoint {
    /// Magic, header length, header (MessagePack), state (MessagePack).
    pub fn encode(&self, state: &[u8]) -> Vec<u8> {
        let header = rmp_serde::to_vec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(12 + header.len() + state.len());
        out.extend_from_slice(CHECKPOINT_MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(state);
        out
    }

    /// The header and the state bytes of a checkpoint object.
    pub fn decode(bytes: &[u8]) -> Result<(Checkpoint, &[u8]), String> {
        let rest = bytes
            .strip_prefix(CHECKPOINT_MAGIC)
            .ok_or("not a kvt checkpoint (or written by another format version)")?;
        let (header, state) = split_prefixed(rest).ok_or("truncated checkpoint header")?;
        let c: Checkpoint = rmp_serde::from_slice(header)
            .map_err(|e| format!("unreadable checkpoint header: {e}"))?;
        Ok((c, state))
    }

    pub fn input_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.inputs
            .iter()
            .find(|(t, p, _)| t == topic && *p == partition)
            .map(|(_, _, o)| *o)
    }
}

/// A part preceded by its length (u32, little-endian), and what follows it.
pub fn split_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Store prefix of a job's checkpoints (one per instance name).
pub fn checkpoint_prefix(job: &str) -> String {
    format!("fraud/{job}/checkpoints/")
}

/// The checkpoint object `seq` of `job` (zero-padded: listing order is
/// numeric order).
pub fn checkpoint_key(job: &str, seq: u64) -> String {
    format!("{}{seq:012}.ckpt", checkpoint_prefix(job))
}

/// The sequence number in a checkpoint key.
pub fn checkpoint_seq(key: &str) -> Option<u64> {
    key.rsplit('/').next()?.strip_suffix(".ckpt")?.parse().ok()
}

/// Archive file of `job` written at checkpoint `seq` under `dir` (e.g.
/// `alerts/alerts_orders`) for one event date.
pub fn archive_key(dir: &str, date: NaiveDate, job: &str, seq: u64) -> String {
    format!("{dir}/event_date={date}/{job}-{seq:012}.jsonl")
}

/// The checkpoint number of an archive file of `job`, from its key.
pub fn archive_seq(key: &str, job: &str) -> Option<u64> {
    key.rsplit('/')
        .next()?
        .strip_suffix(".jsonl")?
        .strip_prefix(job)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// The prefixes the archive of any job lives under.
pub const ARCHIVE_ROOTS: [&str; 3] = ["alerts/", "late/", "fraud/aggregates/"];

fn date_of(t: Millis) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(t)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

fn rfc3339(ms: Millis) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
        .unwrap_or(Value::Null)
}

/// Records waiting for the next checkpoint, one JSONL body per
/// (directory, event date).
#[derive(Debug, Default)]
pub struct Archive {
    files: BTreeMap<(String, NaiveDate), Vec<u8>>,
    records: u64,
}

impl Archive {
    pub fn push(&mut self, dir: String, event_time: Millis, record: &Value) {
        let body = self.files.entry((dir, date_of(event_time))).or_default();
        // A Value always serialises.
        let _ = serde_json::to_writer(&mut *body, record);
        body.push(b'\n');
        self.records += 1;
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// The files to write for checkpoint `seq` of `job`, emptying the buffer.
    pub fn take(&mut self, job: &str, seq: u64) -> Vec<(String, Vec<u8>)> {
        self.records = 0;
        std::mem::take(&mut self.files)
            .into_iter()
            .map(|((dir, date), body)| (archive_key(&dir, date, job, seq), body))
            .collect()
    }
}

/// The dead letter published for a message (CONTRACTS C1): where it was,
/// why it was refused, and its bytes (text when UTF-8, else base64).
pub fn dead_letter(job: &str, m: &Message, reason: &str) -> Value {
    use base64::Engine as _;
    let mut v = json!({
        "dead_letter_id": dead_letter_id(job, m.topic, m.partition, m.offset),
        "job": job,
        "topic": m.topic,
        "partition": m.partition,
        "offset": m.offset,
        "timestamp": rfc3339(m.timestamp),
        "reason": reason,
    });
    match std::str::from_utf8(m.value) {
        Ok(s) => v["value_raw"] = Value::String(s.to_string()),
        Err(_) => {
            v["value_b64"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(m.value))
        }
    }
    v
}

/// The identity of a dead letter: the job and the message's position.
pub fn dead_letter_id(job: &str, topic: &str, partition: i32, offset: i64) -> String {
    format!("{job}:{topic}/{partition}/{offset}")
}

/// A late event's archive record: its position (the message itself is in
/// bronze, so no personal data is copied) and the watermark it missed.
pub fn late_record(
    job: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    event_time: Millis,
    watermark: Option<Millis>,
) -> Value {
    json!({
        "job": job,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "event_time": rfc3339(event_time),
        "watermark": watermark.map_or(Value::Null, rfc3339),
    })
}

/// A closed window's archive record.
pub fn aggregate_record(job: &str, key: &str, start: Millis, end: Millis, value: &Value) -> Value {
    json!({
        "job": job,
        "key": key,
        "window_start": rfc3339(start),
        "window_end": rfc3339(end),
        "value": value,
    })
}

/// The time-series point of an alert (FRAUD-MET-1, D-101): measurement
/// `kvt_fraud_alert`, tagged by job, type, severity and country (of the IP,
/// else billing, else delivery — the geographic view of FRAUD-MET-2; no
/// identifier is a tag or a field except the alert id). Its time is the
/// event time in nanoseconds plus a number drawn from the alert id, so that
/// two alerts of one millisecond are two points while a replay of the same
/// alert overwrites its point instead of counting it twice.
pub fn alert_point(a: &super::job::Alert, topic: &str) -> crate::influx::Line {
    let country = ["ip_country", "billing_country", "delivery_country"]
        .iter()
        .find_map(|k| a.context.get(*k).and_then(Value::as_str))
        .unwrap_or("");
    let salt = i64::from_str_radix(a.alert_id.get(..5).unwrap_or("0"), 16).unwrap_or(0) % 1_000_000;
    crate::influx::Line::new("kvt_fraud_alert", a.event_time * 1_000_000 + salt)
        .tag("job", a.job)
        .tag("type", a.ty)
        .tag("severity", a.severity.as_str())
        .tag("topic", topic)
        .tag("country", country)
        .int("count", 1)
        .string("alert_id", &a.alert_id)
}

/// The time-series point of a closed window (`kvt_fraud_window`): every
/// numeric value of the aggregate as a field (volume per minute, fraud
/// rate, PSP health, KYC indicators), at the window's start.
pub fn aggregate_point(
    job: &str,
    name: &str,
    key: &str,
    start: Millis,
    end: Millis,
    value: &Value,
) -> crate::influx::Line {
    crate::influx::Line::new("kvt_fraud_window", start * 1_000_000)
        .tag("job", job)
        .tag("window", name)
        .tag("key", key)
        .int("window_seconds", (end - start) / 1000)
        .json_fields("", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(topic: &'a str, p: i32, o: i64, t: Millis, v: &'a str) -> Message<'a> {
        Message {
            topic,
            partition: p,
            offset: o,
            timestamp: t,
            value: v.as_bytes(),
        }
    }

    const T0: Millis = 1_773_741_600_000;

    fn pay(i: usize) -> String {
        format!(
            r#"{{"payment_id":"P{i}","order_id":"O{i}","customer_id":"U{}","amount":10,"currency":"EUR","status":"declined","risk_score":50,"payment_session_id":"S","card_ref":"C{i}","device_fingerprint":"D","psp":"stripe"}}"#,
            i % 4
        )
    }

    fn alert_ids(out: &[Output]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Alert(a) => Some(a.alert_id.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_job_restored_mid_stream_raises_what_the_uninterrupted_one_does() {
        let values: Vec<String> = (0..40).map(pay).collect();
        let r = Rules::default();
        let none = BTreeSet::new();
        for kind in JobKind::ALL {
            let run = |from: usize, job: &mut Job| {
                let mut out = Vec::new();
                for (i, v) in values.iter().enumerate().skip(from) {
                    let topic = kind.input_topics()[0];
                    let m = msg(topic, 0, i as i64, T0 + i as i64 * 700, v);
                    out.extend(job.process(&m, 0, &none));
                }
                out.extend(job.tick(i64::MAX / 2, &none));
                out
            };
            let mut whole = Job::new(kind, &r);
            let expected = alert_ids(&run(0, &mut whole));
            // Stop after 17 messages, checkpoint, restore, go on.
            let mut first = Job::new(kind, &r);
            let mut got = Vec::new();
            for (i, v) in values.iter().enumerate().take(17) {
                let m = msg(kind.input_topics()[0], 0, i as i64, T0 + i as i64 * 700, v);
                got.extend(alert_ids(&first.process(&m, 0, &none)));
            }
            let ckpt = Checkpoint {
                job: kind.name().into(),
                seq: 3,
                created_at: 0,
                inputs: vec![("payments".into(), 0, 17)],
                outputs: vec![],
                counters: BTreeMap::new(),
                published_ahead: vec!["abc".into()],
            };
            let bytes = ckpt.encode(&first.state());
            let (header, state) = Checkpoint::decode(&bytes).unwrap();
            assert_eq!(header, ckpt);
            assert_eq!(header.input_offset("payments", 0), Some(17));
            let mut second = Job::restore(kind, &r, state).unwrap();
            got.extend(alert_ids(&run(17, &mut second)));
            assert_eq!(got, expected, "{}", kind.name());
        }
        assert!(Checkpoint::decode(b"KVTCKPT1\x05\0\0\0ab").is_err());
        assert!(Checkpoint::decode(b"garbage").is_err());
    }

    #[test]
    fn stateful_rules_see_event_time_order_whatever_the_fetch_order() {
        let r = Rules::default();
        let none = BTreeSet::new();
        // (topic, partition, event time, value) over three partitions.
        let mut events: Vec<(&str, i32, Millis, String)> = (0..40)
            .map(|i| ("payments", (i % 3) as i32, T0 + i as i64 * 700, pay(i)))
            .collect();
        // An order cancelled on partition 1, paid on partition 2 afterwards.
        let created = r#"{"order_id":"OX","customer_id":"UX","event_type":"created","total_amount":10,"items_count":1}"#;
        let cancelled = r#"{"order_id":"OX","customer_id":"UX","event_type":"cancelled","total_amount":10,"items_count":1}"#;
        events.push(("orders", 1, T0 + 1_000, created.to_string()));
        events.push(("orders", 1, T0 + 2_000, cancelled.to_string()));
        events.push((
            "payments",
            2,
            T0 + 3_000,
            r#"{"payment_id":"PX","order_id":"OX","customer_id":"UX","amount":10,"currency":"EUR","status":"succeeded","risk_score":1}"#.to_string(),
        ));
        for i in 0..40 {
            let d = if i % 2 == 0 { "mineur" } else { "majeur" };
            events.push((
                "kyc_decisions",
                i % 3,
                T0 + i as i64 * 900,
                format!(r#"{{"customer_id":"K{i}","decision":"{d}","doc_fingerprint":"F{i}"}}"#),
            ));
        }
        // Offsets per (topic, partition), in event-time order.
        let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        events.sort_by_key(|e| e.2);
        let events: Vec<(&str, i32, i64, Millis, String)> = events
            .into_iter()
            .map(|(t, p, ts, v)| {
                let o = next.entry((t, p)).or_default();
                *o += 1;
                (t, p, *o - 1, ts, v)
            })
            .collect();
        for kind in JobKind::ALL {
            let run = |order: Vec<&(&str, i32, i64, Millis, String)>| {
                let mut job = Job::new(kind, &r);
                for t in kind.input_topics() {
                    for p in 0..3 {
                        job.register(t, p, 0);
                    }
                }
                let mut ids = BTreeSet::new();
                for (t, p, o, ts, v) in order {
                    if kind.input_topics().contains(t) {
                        let m = msg(t, *p, *o, *ts, v);
                        ids.extend(alert_ids(&job.process(&m, 0, &none)));
                    }
                }
                ids.extend(alert_ids(&job.tick(1_000_000, &none)));
                ids
            };
            let by_time = run(events.iter().collect());
            // Fetched partition by partition, topics in reverse.
            let mut fetched: Vec<_> = events.iter().collect();
            fetched.sort_by_key(|(t, p, o, _, _)| (std::cmp::Reverse(*t), *p, *o));
            assert_eq!(run(fetched), by_time, "{}", kind.name());
            if kind != JobKind::Orders {
                assert!(!by_time.is_empty(), "{}", kind.name());
            }
        }
    }

    #[test]
    fn disabled_types_are_not_raised() {
        let r = Rules::default();
        let types = |disabled: &BTreeSet<String>| {
            let mut job = Job::new(JobKind::Advanced, &r);
            let mut types = Vec::new();
            for i in 0..10 {
                let v = pay(i);
                let m = msg("payments", 0, i as i64, T0 + i as i64 * 100, &v);
                let mut outs = job.process(&m, 0, disabled);
                outs.extend(job.finish(disabled));
                for o in outs {
                    if let Output::Alert(a) = o {
                        types.push(a.ty);
                    }
                }
            }
            types
        };
        let all = types(&BTreeSet::new());
        assert!(all.contains(&"card_testing"), "{all:?}");
        let without = types(&["card_testing".to_string()].into());
        assert_eq!(without.len(), all.len() - 1);
        assert!(!without.contains(&"card_testing"));
    }

    #[test]
    fn keys_and_topics() {
        assert_eq!(
            JobKind::Payments.output_topics(),
            [
                "alerts_fraud_payments",
                "alerts_psp_payments",
                "kvt_dead_letters"
            ]
        );
        let k = checkpoint_key("orders", 42);
        assert_eq!(k, "fraud/orders/checkpoints/000000000042.ckpt");
        assert_eq!(checkpoint_seq(&k), Some(42));
        let d = NaiveDate::from_ymd_opt(2026, 3, 17).unwrap();
        let a = archive_key("alerts/alerts_orders", d, "orders", 7);
        assert_eq!(
            a,
            "alerts/alerts_orders/event_date=2026-03-17/orders-000000000007.jsonl"
        );
        assert_eq!(archive_seq(&a, "orders"), Some(7));
        assert_eq!(archive_seq(&a, "payments"), None);
        let mut arch = Archive::default();
        arch.push("late/payments".into(), T0, &json!({"a":1}));
        arch.push("late/payments".into(), T0 + 1, &json!({"a":2}));
        assert_eq!(arch.records(), 2);
        let files = arch.take("payments", 1);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].1, b"{\"a\":1}\n{\"a\":2}\n");
        let dl = dead_letter(
            "payments",
            &msg("payments", 1, 9, T0, "{oops"),
            "invalid JSON",
        );
        assert_eq!(dl["value_raw"], "{oops");
        assert_eq!(dl["dead_letter_id"], "payments:payments/1/9");
    }
}
