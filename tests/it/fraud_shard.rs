//! Scale-out without a broker (issue 9): the topology of `fraud::shard` —
//! source tasks per input partition forwarding to keyed tasks per internal
//! partition, with watermark markers — run in memory over a generated day
//! with deliveries interleaved at random (each link stays in order, as a
//! Kafka partition does). Every job must give exactly the alerts and window
//! aggregates of one engine over the same events.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use kvt::fraud::engine::Millis;
use kvt::fraud::job::{Message, Output};
use kvt::fraud::runner::{Job, JobKind, Rules};
use kvt::fraud::shard::{self, Forward, KeyedTask, SourceTask};
use serde_json::Value;

use crate::common::{gen_events_day, Env};

const PARTITIONS: i32 = 6;

/// One input message: (topic, partition, offset, timestamp, value).
type Msg = (String, i32, i64, Millis, Vec<u8>);

/// The generated day's messages of `topics`, partitioned by customer id
/// (the C1 message key), offsets in file order per partition.
fn inputs(gen: &std::path::Path, topics: &[&str]) -> Vec<Msg> {
    let mut out = Vec::new();
    for topic in topics {
        let mut next = [0i64; PARTITIONS as usize];
        let text =
            std::fs::read_to_string(gen.join(format!("events/{topic}/2026-03-17.jsonl"))).unwrap();
        for l in text.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let bytes = match (&v["value"], &v["value_raw"]) {
                (Value::Null, Value::String(raw)) => raw.as_bytes().to_vec(),
                (value, _) => serde_json::to_vec(value).unwrap(),
            };
            let key = v["value"]["customer_id"].as_str().unwrap_or("");
            let p = shard::partition_for(key, PARTITIONS);
            out.push((
                topic.to_string(),
                p,
                next[p as usize],
                v["ts"].as_i64().unwrap(),
                bytes,
            ));
            next[p as usize] += 1;
        }
    }
    out
}

/// A deterministic pseudo-random sequence (xorshift).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Interleaves per-partition queues at random, keeping each queue's order.
fn interleave<T>(mut queues: Vec<VecDeque<T>>, rng: &mut Rng) -> Vec<T> {
    let mut out = Vec::new();
    loop {
        let live: Vec<usize> = (0..queues.len())
            .filter(|i| !queues[*i].is_empty())
            .collect();
        if live.is_empty() {
            return out;
        }
        let q = live[rng.below(live.len())];
        // A burst of 1-20 from one queue, as fetches deliver.
        for _ in 0..=rng.below(20) {
            match queues[q].pop_front() {
                Some(m) => out.push(m),
                None => break,
            }
        }
    }
}

fn message(m: &Msg) -> Message<'_> {
    Message {
        topic: &m.0,
        partition: m.1,
        offset: m.2,
        timestamp: m.3,
        value: &m.4,
    }
}

/// What the comparison looks at: alert ids, and closed windows.
fn collect(outs: Vec<Output>, into: &mut BTreeSet<String>) {
    for o in outs {
        match o {
            Output::Alert(a) => {
                into.insert(format!("alert {} {} {}", a.ty, a.key, a.alert_id));
            }
            Output::Aggregate {
                name,
                key,
                start,
                value,
                ..
            } => {
                into.insert(format!("window {name} {key} {start} {value}"));
            }
            _ => {}
        }
    }
}

fn single(kind: JobKind, rules: &Rules, msgs: &[Msg], rng: &mut Rng) -> BTreeSet<String> {
    let mut job = Job::new(kind, rules);
    for t in kind.input_topics() {
        for p in 0..PARTITIONS {
            job.register(t, p, 0);
        }
    }
    let queues = partition_queues(kind, msgs);
    let mut got = BTreeSet::new();
    for m in interleave(queues, rng) {
        collect(job.process(&message(&m), 0, &rules.disabled), &mut got);
    }
    collect(job.tick(0, &rules.disabled), &mut got);
    collect(job.finish(&rules.disabled), &mut got);
    got
}

fn partition_queues(kind: JobKind, msgs: &[Msg]) -> Vec<VecDeque<Msg>> {
    let mut queues = Vec::new();
    for t in kind.input_topics() {
        for p in 0..PARTITIONS {
            queues.push(
                msgs.iter()
                    .filter(|m| m.0 == *t && m.1 == p)
                    .cloned()
                    .collect(),
            );
        }
    }
    queues
}

/// What one internal partition receives, per source partition, in order.
type Links = BTreeMap<(String, i32), VecDeque<Forward>>;

fn scaled_out(kind: JobKind, rules: &Rules, msgs: &[Msg], rng: &mut Rng) -> BTreeSet<String> {
    let streams = shard::streams(kind);
    let delay = rules.windows.watermark_delay;
    let mut got = BTreeSet::new();
    // Source tasks: one per input partition; their forwards go down links
    // (source partition → stream partition), markers after every event.
    let mut links: BTreeMap<(usize, i32), Links> = BTreeMap::new();
    let mut sources: BTreeMap<(String, i32), SourceTask> = BTreeMap::new();
    let queues = partition_queues(kind, msgs);
    for m in interleave(queues, rng) {
        let src = (m.0.clone(), m.1);
        let task = sources.entry(src.clone()).or_insert_with(|| {
            SourceTask::new(kind, &m.0, m.1, Job::for_stream(kind, None, rules), delay)
        });
        let (outs, sends) = task.message(&message(&m), 0, &rules.disabled);
        collect(outs, &mut got);
        let (outs, more) = task.tick(0, &rules.disabled);
        collect(outs, &mut got);
        for send in sends.into_iter().chain(more) {
            let target = shard::partition_for(&send.key, PARTITIONS);
            links
                .entry((send.stream, target))
                .or_default()
                .entry(src.clone())
                .or_default()
                .push_back(send.forward);
        }
        if let Some(max_event) = task.clock.marker() {
            for i in 0..streams.len() {
                for target in 0..PARTITIONS {
                    links
                        .entry((i, target))
                        .or_default()
                        .entry(src.clone())
                        .or_default()
                        .push_back(Forward::Marker {
                            topic: m.0.clone(),
                            partition: m.1,
                            max_event,
                        });
                }
            }
        }
    }
    // Keyed tasks: each internal partition gets its links interleaved at
    // random; a source restart is simulated by delivering some events twice.
    for ((i, _target), by_source) in links {
        let stream = &streams[i];
        let mut task = KeyedTask::new(kind, stream, Job::for_stream(kind, Some(stream), rules));
        for t in kind.input_topics() {
            for p in 0..PARTITIONS {
                task.job.register(t, p, 0);
            }
        }
        let mut delivered = interleave(by_source.into_values().collect(), rng);
        if delivered.len() > 10 {
            let again: Vec<Forward> = delivered[3..8].to_vec();
            delivered.splice(8..8, again);
        }
        for f in delivered {
            collect(task.message(&f, 0, &rules.disabled), &mut got);
        }
        collect(task.tick(0, &rules.disabled), &mut got);
        collect(task.finish(&rules.disabled), &mut got);
    }
    got
}

#[test]
fn a_scaled_out_topology_gives_the_alerts_and_windows_of_one_engine() {
    let env = Env::new();
    let gen = env.path().join("gen");
    let truth = gen_events_day(&gen, "1");
    let mut rules = Rules::default();
    rules.settings.bin_blacklist = truth["events"]["bin_blacklist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    for kind in JobKind::ALL {
        let msgs = inputs(&gen, kind.input_topics());
        let one = single(kind, &rules, &msgs, &mut Rng(7));
        let many = scaled_out(kind, &rules, &msgs, &mut Rng(11));
        let alerts = one.iter().filter(|s| s.starts_with("alert")).count();
        eprintln!(
            "{}: {} messages, {alerts} alerts and {} windows from one engine; scaled out: {}",
            kind.name(),
            msgs.len(),
            one.len() - alerts,
            many.len()
        );
        assert!(alerts > 0, "{}: nothing to compare", kind.name());
        let missing: Vec<_> = one.difference(&many).take(5).collect();
        let extra: Vec<_> = many.difference(&one).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: missing {missing:#?}\nextra {extra:#?}",
            kind.name()
        );
    }
}
