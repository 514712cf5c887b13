//! `kvt ingest kafka` against a real Kafka-protocol broker (tansu on loopback).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::services::{self, unique_prefix, Broker};
use crate::common::{files_under, kvt_gen, produce, run_expect, Env};

/// Generate one day of events at `scale` into `dir`; returns the events directory.
fn gen_events(dir: &Path, scale: f64) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_kvt-gen"))
        .args([
            "--date",
            "2026-03-17",
            "--seed",
            "11",
            "--sources",
            "events",
            "-q",
            "--scale",
        ])
        .arg(scale.to_string())
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("events")
}

fn create_topics(brokers: &str, prefix: &str) {
    let s = kvt_gen(&[
        "topics",
        "--brokers",
        brokers,
        "--topic-prefix",
        prefix,
        "--topics",
        "payments,orders",
    ]);
    assert_eq!(s["created"].as_array().unwrap().len(), 2, "{s}");
}

fn ingest(env: &Env, brokers: &str, prefix: &str) -> Command {
    let mut c = env.kvt();
    c.args(["ingest", "kafka", "--topic"])
        .arg(format!("{prefix}payments,{prefix}orders"))
        .env("KVT_KAFKA_BROKERS", brokers)
        .env("KVT_IDLE_TIMEOUT", "3s");
    c
}

/// One bronze line: where the message was, and its payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Landed {
    topic: String,
    partition: i64,
    offset: i64,
    ts: i64,
    key: Option<String>,
    payload: Vec<u8>,
}

fn payload_of(line: &str, v: &Value) -> Vec<u8> {
    if let Some(raw) = v.get("value_raw").and_then(Value::as_str) {
        return raw.as_bytes().to_vec();
    }
    // The value is the last field, embedded byte for byte.
    let i = line.find(",\"value\":").expect("value field");
    line.as_bytes()[i + 9..line.len() - 1].to_vec()
}

fn read_bronze(lake: &Path) -> Vec<Landed> {
    let root = lake.join("bronze/kafka");
    let mut out = Vec::new();
    for rel in files_under(&root) {
        // `name#N`: object_store's staging file of a write a SIGKILL cut
        // before its atomic rename; never listed, so not an object.
        if rel
            .rsplit_once('#')
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        assert!(rel.ends_with(".jsonl"), "unexpected object {rel}");
        let text = std::fs::read_to_string(root.join(&rel)).unwrap();
        let date = rel
            .split('/')
            .nth(1)
            .unwrap()
            .strip_prefix("event_date=")
            .unwrap()
            .to_string();
        for line in text.lines() {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{rel}: {e}: {line}"));
            let ts = v["timestamp"].as_i64().unwrap();
            let d = chrono::DateTime::from_timestamp_millis(ts)
                .unwrap()
                .date_naive()
                .to_string();
            assert_eq!(d, date, "event date partition of {line}");
            out.push(Landed {
                topic: v["topic"].as_str().unwrap().to_string(),
                partition: v["partition"].as_i64().unwrap(),
                offset: v["offset"].as_i64().unwrap(),
                ts,
                key: v["key"].as_str().map(str::to_string),
                payload: payload_of(line, &v),
            });
        }
    }
    out
}

/// What the generator produced: (topic, ts, key, payload) in file order.
fn produced(events: &Path, prefix: &str) -> Vec<(String, i64, Option<String>, Vec<u8>)> {
    let mut out = Vec::new();
    for topic in ["payments", "orders"] {
        for f in files_under(&events.join(topic)) {
            let text = std::fs::read_to_string(events.join(topic).join(f)).unwrap();
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                out.push((
                    format!("{prefix}{topic}"),
                    v["ts"].as_i64().unwrap(),
                    v["key"].as_str().map(str::to_string),
                    payload_of(line, &v),
                ));
            }
        }
    }
    out
}

/// Every (topic, partition, offset) exactly once, offsets contiguous from 0,
/// and the payloads exactly the produced ones.
fn assert_exactly_once(lake: &Path, events: &Path, prefix: &str) {
    let landed = read_bronze(lake);
    let mut by_tp: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for l in &landed {
        by_tp
            .entry((l.topic.clone(), l.partition))
            .or_default()
            .push(l.offset);
    }
    for ((t, p), mut offs) in by_tp {
        offs.sort_unstable();
        let n = offs.len();
        offs.dedup();
        assert_eq!(
            offs.len(),
            n,
            "{t}/{p}: {} duplicate offsets",
            n - offs.len()
        );
        assert_eq!(
            offs,
            (0..n as i64).collect::<Vec<_>>(),
            "{t}/{p}: offsets with holes"
        );
    }
    let mut want = produced(events, prefix);
    let mut got: Vec<_> = landed
        .into_iter()
        .map(|l| (l.topic, l.ts, l.key, l.payload))
        .collect();
    assert_eq!(got.len(), want.len(), "message count");
    want.sort();
    got.sort();
    assert!(got == want, "payloads differ from what was produced");
}

fn manifest_count(lake: &Path) -> u64 {
    let text =
        std::fs::read_to_string(lake.join("bronze/_manifests/kafka.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["message_count"]
                .as_u64()
                .unwrap()
        })
        .sum()
}

#[test]
fn kafka_events_land_once_with_their_envelope() {
    let Some(b) = services::broker() else { return };
    let env = Env::new();
    let events = gen_events(&env.path().join("gen"), 0.05);
    let prefix = unique_prefix("land");
    create_topics(&b.addr, &prefix);
    let p = produce(&b.addr, &events, &prefix);
    let sent = p["messages"].as_u64().unwrap();
    assert!(sent > 500, "{p}");

    let s = run_expect(&mut ingest(&env, &b.addr, &prefix), 0).summary();
    assert_eq!(s["messages"], sent, "{s}");
    assert_eq!(s["group"], "kvt-bronze");
    let non_json = produced(&events, &prefix)
        .iter()
        .filter(|m| serde_json::from_slice::<Value>(&m.3).is_err())
        .count();
    assert!(non_json > 0, "the generator plants non-JSON values");
    assert_eq!(
        s["non_json"], non_json as u64,
        "non-JSON values kept and counted"
    );
    assert_exactly_once(&env.lake(), &events, &prefix);
    assert_eq!(manifest_count(&env.lake()), sent);
    // Object names carry topic, partition and offset range; metadata in the manifest.
    let m = std::fs::read_to_string(env.lake().join("bronze/_manifests/kafka.jsonl")).unwrap();
    let first: Value = serde_json::from_str(m.lines().next().unwrap()).unwrap();
    assert_eq!(first["source"], "kafka");
    assert_eq!(first["ingested_at"], "2026-03-17T06:00:00Z");
    let key = first["key"].as_str().unwrap();
    assert!(
        key.contains(&format!(
            "-{:03}-{:020}-",
            first["partition"].as_i64().unwrap(),
            first["first_offset"].as_i64().unwrap()
        )),
        "{key}"
    );

    // Offsets were committed: a second run reads nothing.
    let s = run_expect(&mut ingest(&env, &b.addr, &prefix), 0).summary();
    assert_eq!(s["messages"], 0, "{s}");
    assert_eq!(s["already_in_bronze"], 0);

    // New messages later: only they land.
    let p2 = produce(&b.addr, &events, &prefix);
    let s = run_expect(&mut ingest(&env, &b.addr, &prefix), 0).summary();
    assert_eq!(s["messages"], p2["messages"]);
    assert_eq!(read_bronze(&env.lake()).len() as u64, 2 * sent);
}

#[test]
fn kafka_unknown_topic_and_unreachable_broker_exit_2() {
    let Some(b) = services::broker() else { return };
    let env = Env::new();
    let s = run_expect(
        env.kvt()
            .args(["ingest", "kafka", "--topic", "no-such-topic-kvt"])
            .env("KVT_KAFKA_BROKERS", &b.addr),
        2,
    )
    .summary();
    let err = s["error"].as_str().unwrap();
    assert!(
        err.contains("no-such-topic-kvt") && err.contains(&b.addr),
        "{err}"
    );

    let port = services::free_port();
    let start = Instant::now();
    let s = run_expect(
        env.kvt()
            .args([
                "ingest",
                "kafka",
                "--topic",
                "payments",
                "--broker-timeout",
                "2s",
            ])
            .env("KVT_KAFKA_BROKERS", format!("127.0.0.1:{port}")),
        2,
    )
    .summary();
    let err = s["error"].as_str().unwrap();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("payments"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(files_under(&env.lake().join("bronze")).is_empty());
}

/// Deterministic pseudo-random kill delays (printed, so a failure can be replayed).
fn delays(seed: u64, n: usize, max_ms: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            150 + (x >> 33) % max_ms
        })
        .collect()
}

#[test]
fn kafka_sigkill_at_random_moments_still_lands_everything_exactly_once() {
    let Some(b) = services::broker() else { return };
    let env = Env::new();
    // Many small flushes, so kills land between writes, manifest and commit.
    env.write("kvt.toml", "[kafka]\nflush_mib = 1\n");
    let events = gen_events(&env.path().join("gen"), 13.0);
    let prefix = unique_prefix("crash");
    create_topics(&b.addr, &prefix);
    let sent = produce(&b.addr, &events, &prefix)["messages"]
        .as_u64()
        .unwrap();
    assert!(sent >= 200_000, "{sent} events");

    // Each trial kills a run at a random moment *after* it has started landing
    // objects, so the kills fall between object writes, manifest writes and commits.
    let seed = u64::from(std::process::id());
    let plan = delays(seed, 12, 400);
    eprintln!("extra kill delays (ms), seed {seed}: {plan:?}");
    let mut interrupted = 0;
    for (trial, ms) in plan.iter().enumerate() {
        let before = read_progress(&env.lake());
        let mut child = ingest(&env, &b.addr, &prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while read_progress(&env.lake()) == before
            && child.try_wait().unwrap().is_none()
            && start.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(*ms - 150));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if !finished {
            interrupted += 1;
        }
        eprintln!(
            "trial {trial}: killed {ms} ms after its first object (had finished: {finished})"
        );
    }
    assert!(
        interrupted >= 10,
        "at least 10 kills must interrupt a run ({interrupted})"
    );
    let s = run_expect(&mut ingest(&env, &b.addr, &prefix), 0).summary();
    eprintln!("final run: {s}");
    assert_exactly_once(&env.lake(), &events, &prefix);
    assert_eq!(
        manifest_count(&env.lake()),
        sent,
        "manifest lists every message once"
    );
}

fn read_progress(lake: &Path) -> usize {
    files_under(&lake.join("bronze/kafka")).len()
}

#[test]
fn kafka_broker_stopped_mid_run_exits_2_then_resumes_exactly_once() {
    if services::broker().is_none() {
        return;
    }
    let broker = Broker::start_private().expect("private broker");
    let env = Env::new();
    env.write("kvt.toml", "[kafka]\nflush_mib = 1\n");
    let events = gen_events(&env.path().join("gen"), 6.0);
    let prefix = unique_prefix("down");
    create_topics(&broker.addr, &prefix);
    let sent = produce(&broker.addr, &events, &prefix)["messages"]
        .as_u64()
        .unwrap();

    let child = ingest(&env, &broker.addr, &prefix)
        .args(["--broker-timeout", "2s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop the broker once the first objects are in bronze.
    let start = Instant::now();
    while read_progress(&env.lake()) == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    broker.stop();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(s["error"].as_str().unwrap().contains(&broker.addr), "{s}");
    assert!(
        (s["messages"].as_u64().unwrap()) < sent,
        "the broker stopped mid-run"
    );

    broker.start().expect("restart broker");
    run_expect(&mut ingest(&env, &broker.addr, &prefix), 0);
    assert_exactly_once(&env.lake(), &events, &prefix);
}
