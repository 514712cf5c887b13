//! Scale-out (the Kafka Streams model, issue 9): the pure parts. No I/O.
//!
//! Several processes of one job share a consumer group. Each input
//! partition is a **source task**: it runs the per-event rules (and dead
//! letters, late events) and forwards every valid, on-time event to the
//! job's internal topics `kvt_<job>_by_<key>`, one per grouping key of its
//! stateful rules (payment session, device, customer, IP, PSP, order id…),
//! partitioned by that key. Each partition of an internal topic is a
//! **keyed task**: the same engine as a single process, fed the forwarded
//! events, keeping only the outputs of the rules grouped by that key — so
//! every key's state lives in exactly one task, hence one process.
//!
//! Determinism (same alert ids as one process): a forwarded event carries
//! its source position (topic, partition, offset: alert ids and the
//! event-time order use it) and the largest event time its source partition
//! had shown before it, so a keyed task judges lateness exactly as a single
//! process would; source tasks also broadcast **watermark markers** to every
//! internal partition, so a keyed task's watermark advances even for keys it
//! rarely sees. A source task restarted from a checkpoint forwards some
//! events again: keyed tasks drop positions they already hold.

use std::collections::BTreeMap;

use std::collections::BTreeSet;

use super::engine::Millis;
use super::job::{Message, Output, Partial, STREAM_1M, STREAM_5M};
use super::runner::{Job, JobKind};

/// One grouping key of a job's stateful rules: its internal topic and the
/// outputs its keyed tasks own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// `session` → topic `kvt_<job>_by_session`.
    pub key: &'static str,
    /// Alert types decided by the tasks of this stream.
    pub alerts: &'static [&'static str],
    /// Window aggregates (archive, time-series) decided by them.
    pub aggregates: &'static [&'static str],
    /// Fed partial windows of every input partition instead of events.
    pub partials: bool,
}

const fn s(
    key: &'static str,
    alerts: &'static [&'static str],
    aggregates: &'static [&'static str],
) -> Stream {
    Stream {
        key,
        alerts,
        aggregates,
        partials: false,
    }
}

/// The re-keyed streams of each job. Alert types not listed here are
/// decided by the source tasks (they need only the event).
const PAYMENTS: &[Stream] = &[
    s(
        "currency",
        &[],
        &["payments_by_currency_1m", "payments_by_currency_5m"],
    ),
    s("psp", &["psp_error_rate"], &["psp_5m"]),
];
const ORDERS: &[Stream] = &[
    s(
        "country",
        &[],
        &["orders_by_country_1m", "orders_by_country_5m"],
    ),
    // Whole-stream windows, combined from per-partition partials.
    Stream {
        key: "stream",
        alerts: &["cancellation_spike", "express_spike"],
        aggregates: &[STREAM_1M, STREAM_5M],
        partials: true,
    },
];
const ADVANCED: &[Stream] = &[
    s("session", &["card_testing"], &[]),
    s("customer", &["card_portfolio"], &[]),
    s("device", &["shared_device"], &[]),
];
const CROSSED: &[Stream] = &[
    s(
        "order",
        &["payment_on_cancelled_order", "amount_mismatch"],
        &[],
    ),
    s("customer", &["cross_velocity"], &[]),
    s("ip", &["shared_ip"], &[]),
];
const KYC: &[Stream] = &[
    s("customer", &["kyc_multiple_documents"], &[]),
    s("stream", &["kyc_minor_rate"], &["kyc_1m"]),
];

pub fn streams(kind: JobKind) -> &'static [Stream] {
    match kind {
        JobKind::Payments => PAYMENTS,
        JobKind::Orders => ORDERS,
        JobKind::Advanced => ADVANCED,
        JobKind::Crossed => CROSSED,
        JobKind::Kyc => KYC,
    }
}

/// The internal topic of a stream (before any topic prefix).
pub fn internal_topic(kind: JobKind, stream: &Stream) -> String {
    format!("kvt_{}_by_{}", kind.name(), stream.key)
}

/// The stream an internal topic carries, if it is one of `kind`'s.
pub fn stream_of(kind: JobKind, topic: &str) -> Option<&'static Stream> {
    streams(kind)
        .iter()
        .find(|s| topic.ends_with(&internal_topic(kind, s)))
}

/// The partition of `key` among `n`: FNV-1a, stable across versions and
/// machines (it decides where state lives), independent of the producer's
/// partitioner.
pub fn partition_for(key: &str, n: i32) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % n.max(1) as u64) as i32
}

fn str_field<'a>(v: &'a serde_json::Value, k: &str) -> Option<&'a str> {
    v.get(k)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The key of `stream` for a valid event (`None`: the event plays no part
/// in that stream's rules and is not forwarded to it). Grouping values are
/// those the rules use (`"inconnu"` for a missing currency, PSP or country).
pub fn key_of(stream: &Stream, v: &serde_json::Value) -> Option<String> {
    let k = match stream.key {
        "stream" => "*",
        "currency" => return Some(str_field(v, "currency")?.to_ascii_uppercase()),
        "psp" => str_field(v, "psp").unwrap_or("inconnu"),
        "country" => str_field(v, "delivery_country").unwrap_or("inconnu"),
        "session" => str_field(v, "payment_session_id")?,
        "device" => str_field(v, "device_fingerprint")?,
        "customer" => str_field(v, "customer_id")?,
        "order" => str_field(v, "order_id")?,
        "ip" => str_field(v, "ip_address")?,
        _ => return None,
    };
    Some(k.to_string())
}

/// What a source task sends to an internal topic.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Forward {
    /// A valid, on-time event and where it came from.
    Event {
        topic: String,
        partition: i32,
        offset: i64,
        timestamp: Millis,
        /// Largest event time of the source partition before this event.
        max_before: Option<Millis>,
        #[serde(with = "serde_bytes_compat")]
        value: Vec<u8>,
    },
    /// The source partition has shown events up to `max_event`.
    Marker {
        topic: String,
        partition: i32,
        max_event: Millis,
    },
}

/// `Vec<u8>` as a MessagePack binary (not an array of integers).
mod serde_bytes_compat {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

const FORWARD_MAGIC: &[u8; 4] = b"KVF1";

impl Forward {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = FORWARD_MAGIC.to_vec();
        // Serializing plain data to a Vec cannot fail.
        out.extend(rmp_serde::to_vec(self).unwrap_or_default());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Forward, String> {
        let body = bytes
            .strip_prefix(FORWARD_MAGIC)
            .ok_or("not a kvt forwarded event (bad magic)")?;
        rmp_serde::from_slice(body).map_err(|e| format!("unreadable forwarded event: {e}"))
    }
}

/// The source side of one input partition: per-event rules are the job's
/// own; this tracks the partition's largest event time (for lateness and
/// markers) and decides what to forward where.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct SourceClock {
    pub max_event: Option<Millis>,
    /// `max_event` as last broadcast in a marker.
    pub marked: Option<Millis>,
}

impl SourceClock {
    /// Records an event; returns the largest event time before it.
    pub fn observe(&mut self, t: Millis) -> Option<Millis> {
        let before = self.max_event;
        self.max_event = Some(before.map_or(t, |m| m.max(t)));
        before
    }

    /// Is an event at `t` behind the partition's watermark (C4: the same
    /// test a single process makes, `is_late_on`)?
    pub fn is_late(&self, t: Millis, delay: Millis) -> bool {
        self.max_event.is_some_and(|m| t < m - delay)
    }

    /// A marker to broadcast, when the partition moved since the last one.
    pub fn marker(&mut self) -> Option<Millis> {
        let m = self.max_event?;
        if self.marked == Some(m) {
            return None;
        }
        self.marked = Some(m);
        Some(m)
    }
}

/// Keeps the outputs a task owns. Source tasks own the alert types no
/// stream lists, dead letters and late events; a keyed task owns its
/// stream's alert types and aggregates.
pub fn owned(kind: JobKind, stream: Option<&Stream>, o: &Output) -> bool {
    match (stream, o) {
        (None, Output::Alert(a)) => !streams(kind).iter().any(|s| s.alerts.contains(&a.ty)),
        (None, Output::DeadLetter { .. } | Output::Late { .. }) => true,
        (None, Output::Aggregate { .. }) => false,
        (Some(s), Output::Alert(a)) => s.alerts.contains(&a.ty),
        (Some(s), Output::Aggregate { name, .. }) => s.aggregates.contains(name),
        (Some(_), _) => false,
    }
}

/// Positions a keyed task already holds, per source partition: a source
/// task that restarts from its checkpoint forwards some events again, in
/// the same order, and they are dropped here.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Seen(BTreeMap<(String, i32), i64>);

impl Seen {
    /// `true` the first time a source position is seen.
    pub fn first(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        match self
            .0
            .iter_mut()
            .find(|((t, p), _)| t == topic && *p == partition)
        {
            Some((_, o)) if *o >= offset => false,
            Some((_, o)) => {
                *o = offset;
                true
            }
            None => {
                self.0.insert((topic.to_string(), partition), offset);
                true
            }
        }
    }
}

/// The message a keyed task gives its engine for a forwarded event.
pub fn as_message<'a>(f: &'a Forward) -> Option<Message<'a>> {
    match f {
        Forward::Event {
            topic,
            partition,
            offset,
            timestamp,
            value,
            ..
        } => Some(Message {
            topic,
            partition: *partition,
            offset: *offset,
            timestamp: *timestamp,
            value,
        }),
        Forward::Marker { .. } => None,
    }
}

/// An event or partial window to send to stream `stream` (an index in
/// [`streams`]) with grouping key `key` (the partition is
/// `partition_for(key, partitions)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    pub stream: usize,
    pub key: String,
    pub forward: Forward,
}

/// The work of one input partition.
pub struct SourceTask {
    kind: JobKind,
    topic: String,
    partition: i32,
    delay: Millis,
    /// Runs the whole engine (its windows are the partials of a combined
    /// stream), else only the per-event rules.
    full: bool,
    pub job: Job,
    pub clock: SourceClock,
}

impl SourceTask {
    /// `topic` without any prefix (the C2 name).
    pub fn new(kind: JobKind, topic: &str, partition: i32, job: Job, delay: Millis) -> SourceTask {
        SourceTask {
            kind,
            topic: topic.to_string(),
            partition,
            delay,
            full: streams(kind).iter().any(|s| s.partials),
            job,
            clock: SourceClock::default(),
        }
    }

    /// Does the engine hold state worth a checkpoint (partial windows)?
    pub fn stateful(&self) -> bool {
        self.full
    }

    /// One message: the outputs this task owns, and what to forward.
    pub fn message(
        &mut self,
        m: &Message,
        now: Millis,
        disabled: &BTreeSet<String>,
    ) -> (Vec<Output>, Vec<Send>) {
        // Lateness and progress as the engine sees them: a dead letter's
        // timestamp does not move event time.
        let late = self.clock.is_late(m.timestamp, self.delay);
        let max_before = self.clock.max_event;
        let (mut outs, valid) = if self.full {
            // The engine judges lateness the same way (one partition).
            let outs = self.job.process(m, now, disabled);
            let valid = !outs.iter().any(|o| matches!(o, Output::DeadLetter { .. }));
            (outs, valid)
        } else {
            let (mut outs, valid) = self.job.per_event(m, disabled);
            if valid {
                self.job.observe(m.topic, m.partition, m.timestamp, now);
                if late {
                    outs.push(Output::Late {
                        topic: m.topic.to_string(),
                        partition: m.partition,
                        offset: m.offset,
                        timestamp: m.timestamp,
                    });
                }
            }
            (outs, valid)
        };
        if valid {
            self.clock.observe(m.timestamp);
        }
        let mut sends = self.partials(&mut outs);
        if valid && !late {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(m.value) {
                let mut forward: Option<Forward> = None;
                for (i, s) in streams(self.kind).iter().enumerate() {
                    if s.partials {
                        continue;
                    }
                    let Some(key) = key_of(s, &v) else { continue };
                    let f = forward.get_or_insert_with(|| Forward::Event {
                        topic: m.topic.to_string(),
                        partition: m.partition,
                        offset: m.offset,
                        timestamp: m.timestamp,
                        max_before,
                        value: m.value.to_vec(),
                    });
                    sends.push(Send {
                        stream: i,
                        key,
                        forward: f.clone(),
                    });
                }
            }
        }
        (outs, sends)
    }

    /// The passing of processing time (closes partial windows).
    pub fn tick(&mut self, now: Millis, disabled: &BTreeSet<String>) -> (Vec<Output>, Vec<Send>) {
        if !self.full {
            return (Vec::new(), Vec::new());
        }
        let mut outs = self.job.tick(now, disabled);
        let sends = self.partials(&mut outs);
        (outs, sends)
    }

    /// Takes the closed partial windows out of `outs` (keeping what this
    /// task owns) as forwards, in (end, name) order: their positions
    /// (`2 × end + 0|1`) increase, so a keyed task drops those it has.
    fn partials(&self, outs: &mut Vec<Output>) -> Vec<Send> {
        let Some(i) = streams(self.kind).iter().position(|s| s.partials) else {
            outs.retain(|o| owned(self.kind, None, o));
            return Vec::new();
        };
        let mut parts: Vec<Partial> = Vec::new();
        outs.retain(|o| match o {
            Output::Aggregate {
                name,
                start,
                end,
                value,
                ..
            } if *name == STREAM_1M || *name == STREAM_5M => {
                if let Ok(agg) = serde_json::from_value(value.clone()) {
                    parts.push(Partial {
                        name: name.to_string(),
                        start: *start,
                        end: *end,
                        agg,
                    });
                }
                false
            }
            o => owned(self.kind, None, o),
        });
        parts.sort_by(|a, b| (a.end, &a.name).cmp(&(b.end, &b.name)));
        parts
            .into_iter()
            .map(|p| Send {
                stream: i,
                key: "*".into(),
                forward: Forward::Event {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    offset: 2 * p.end + i64::from(p.name == STREAM_5M),
                    timestamp: p.end,
                    max_before: None,
                    value: serde_json::to_vec(&p).unwrap_or_default(),
                },
            })
            .collect()
    }
}

/// The work of one partition of an internal topic.
pub struct KeyedTask {
    kind: JobKind,
    pub stream: &'static Stream,
    pub job: Job,
    pub seen: Seen,
}

impl KeyedTask {
    pub fn new(kind: JobKind, stream: &'static Stream, job: Job) -> KeyedTask {
        KeyedTask {
            kind,
            stream,
            job,
            seen: Seen::default(),
        }
    }

    /// One forwarded event or marker: the outputs this task owns.
    pub fn message(
        &mut self,
        f: &Forward,
        now: Millis,
        disabled: &BTreeSet<String>,
    ) -> Vec<Output> {
        let outs = match f {
            Forward::Marker {
                topic,
                partition,
                max_event,
            } => {
                self.job.observe(topic, *partition, *max_event, now);
                self.job.tick(now, disabled)
            }
            Forward::Event {
                topic,
                partition,
                offset,
                max_before,
                ..
            } => {
                if !self.seen.first(topic, *partition, *offset) {
                    return Vec::new();
                }
                if let Some(mb) = max_before {
                    self.job.observe(topic, *partition, *mb, now);
                }
                match as_message(f) {
                    Some(m) => self.job.process(&m, now, disabled),
                    None => Vec::new(),
                }
            }
        };
        self.own(outs)
    }

    pub fn tick(&mut self, now: Millis, disabled: &BTreeSet<String>) -> Vec<Output> {
        let outs = self.job.tick(now, disabled);
        self.own(outs)
    }

    /// What still waits for the watermark (end of a bounded input, tests).
    pub fn finish(&mut self, disabled: &BTreeSet<String>) -> Vec<Output> {
        let outs = self.job.finish(disabled);
        self.own(outs)
    }

    fn own(&self, mut outs: Vec<Output>) -> Vec<Output> {
        outs.retain(|o| owned(self.kind, Some(self.stream), o));
        outs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fraud::job::Alert;

    #[test]
    fn every_alert_type_has_one_owner() {
        for kind in JobKind::ALL {
            for ty in kind.alert_types() {
                let owners = streams(kind)
                    .iter()
                    .filter(|s| s.alerts.contains(ty))
                    .count();
                assert!(owners <= 1, "{ty} decided twice");
            }
            for s in streams(kind) {
                for ty in s.alerts {
                    assert!(
                        kind.alert_types().contains(ty),
                        "{ty} is not a {kind:?} type"
                    );
                }
                assert_eq!(stream_of(kind, &internal_topic(kind, s)), Some(s));
                assert_eq!(
                    stream_of(kind, &format!("staging-{}", internal_topic(kind, s))),
                    Some(s)
                );
            }
        }
        assert_eq!(stream_of(JobKind::Advanced, "payments"), None);
    }

    #[test]
    fn partitions_are_stable_and_spread() {
        // Pinned: state placement must not change between versions.
        assert_eq!(partition_for("S-1", 6), partition_for("S-1", 6));
        assert_eq!(partition_for("", 6), (0xcbf2_9ce4_8422_2325u64 % 6) as i32);
        let mut hits = [0; 6];
        for i in 0..6000 {
            hits[partition_for(&format!("C{i}"), 6) as usize] += 1;
        }
        assert!(hits.iter().all(|h| (800..1200).contains(h)), "{hits:?}");
        assert_eq!(partition_for("x", 0), 0);
    }

    #[test]
    fn keys_follow_the_rules_groupings() {
        let v = serde_json::json!({"customer_id":"C","payment_session_id":"S","currency":"eur",
            "order_id":"O","ip_address":"1.2.3.4","device_fingerprint":""});
        let key = |kind, k: &str| {
            let s = streams(kind).iter().find(|s| s.key == k).unwrap();
            key_of(s, &v)
        };
        assert_eq!(key(JobKind::Advanced, "session").as_deref(), Some("S"));
        assert_eq!(
            key(JobKind::Advanced, "device"),
            None,
            "empty: not forwarded"
        );
        assert_eq!(key(JobKind::Payments, "currency").as_deref(), Some("EUR"));
        assert_eq!(key(JobKind::Payments, "psp").as_deref(), Some("inconnu"));
        assert_eq!(key(JobKind::Crossed, "ip").as_deref(), Some("1.2.3.4"));
        assert_eq!(key(JobKind::Kyc, "stream").as_deref(), Some("*"));
    }

    #[test]
    fn forwards_round_trip_and_refuse_foreign_bytes() {
        let f = Forward::Event {
            topic: "payments".into(),
            partition: 3,
            offset: 42,
            timestamp: 1_773_741_600_000,
            max_before: Some(1_773_741_599_000),
            value: b"{\"a\":1}".to_vec(),
        };
        let bytes = f.encode();
        assert_eq!(Forward::decode(&bytes).unwrap(), f);
        let m = Forward::Marker {
            topic: "payments".into(),
            partition: 0,
            max_event: 7,
        };
        assert_eq!(Forward::decode(&m.encode()).unwrap(), m);
        assert!(Forward::decode(b"{\"json\":true}").is_err());
        assert!(Forward::decode(b"KVF1\xff\xff").is_err());
    }

    #[test]
    fn source_clock_lateness_and_markers() {
        let mut c = SourceClock::default();
        assert_eq!(c.observe(100_000), None);
        assert_eq!(c.observe(90_000), Some(100_000));
        assert!(
            !c.is_late(90_000, 10_000),
            "exactly at the watermark is on time"
        );
        assert!(c.is_late(89_999, 10_000));
        assert_eq!(c.marker(), Some(100_000));
        assert_eq!(c.marker(), None, "nothing new");
        c.observe(100_500);
        assert_eq!(c.marker(), Some(100_500));
    }

    #[test]
    fn a_replayed_position_is_dropped() {
        let mut s = Seen::default();
        assert!(s.first("payments", 0, 5));
        assert!(s.first("payments", 1, 2));
        assert!(!s.first("payments", 0, 5));
        assert!(!s.first("payments", 0, 4));
        assert!(s.first("payments", 0, 6));
    }

    #[test]
    fn outputs_go_to_exactly_one_task() {
        let alert = |ty: &'static str| {
            Output::Alert(Alert {
                alert_id: "x".into(),
                job: "advanced",
                ty,
                severity: crate::fraud::rules::Severity::Haute,
                criteria: vec![],
                key: "k".into(),
                payment_id: None,
                order_id: None,
                customer_id: None,
                event_time: 0,
                window_start: None,
                window_end: None,
                context: serde_json::Value::Null,
            })
        };
        let k = JobKind::Advanced;
        for ty in k.alert_types() {
            let o = alert(ty);
            let n = usize::from(owned(k, None, &o))
                + streams(k).iter().filter(|s| owned(k, Some(s), &o)).count();
            assert_eq!(n, 1, "{ty}");
        }
        let late = Output::Late {
            topic: "payments".into(),
            partition: 0,
            offset: 0,
            timestamp: 0,
        };
        assert!(owned(k, None, &late));
        assert!(!owned(k, Some(&streams(k)[0]), &late));
    }
}
