//! Benchmark (`make bench`): the fraud engine alone, in memory, one core.
//!
//! `fraud_soak throughput N` — events/s of each job over N synthetic C1
//! messages (JSON parsing included: what a backtest or a live run pays per
//! message besides Kafka).
//!
//! `fraud_soak soak HOURS KEYS` — HOURS of event time fast-forwarded over KEYS
//! distinct customers, devices, sessions and IPs, for each job: peak and
//! per-10-minute RSS (flat after warm-up means state expires), state keys,
//! and a checkpoint of the largest state (size, encode and restore time).
//!
//! Prints one JSON object per line.

use std::collections::BTreeSet;
use std::time::Instant;

use kvt::fraud::job::Message;
use kvt::fraud::runner::{Checkpoint, Job, JobKind, Rules};
use kvt::gen::stream::message;

// The allocator of the kvt binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: i64 = 1_773_705_600_000; // 2026-03-17T00:00:00Z

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn throughput(n: u64) {
    let rules = Rules::default();
    let none = BTreeSet::new();
    for kind in JobKind::ALL {
        let msgs: Vec<(&str, i32, i64, Vec<u8>)> = (0..n)
            .map(|i| {
                let (topic, v) = message(kind, i, 200_000);
                (topic, (i % 6) as i32, T0 + (i as i64) * 3, v)
            })
            .collect();
        let bytes: usize = msgs.iter().map(|m| m.3.len()).sum();
        let mut job = Job::new(kind, &rules);
        let start = Instant::now();
        let mut alerts = 0usize;
        for (i, (topic, p, t, v)) in msgs.iter().enumerate() {
            let m = Message {
                topic,
                partition: *p,
                offset: i as i64,
                timestamp: *t,
                value: v,
            };
            alerts += job.process(&m, *t, &none).len();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{{\"bench\":\"throughput\",\"job\":\"{}\",\"events\":{n},\"bytes\":{bytes},\"seconds\":{secs:.3},\"events_per_sec\":{:.0},\"outputs\":{alerts}}}",
            kind.name(),
            n as f64 / secs
        );
    }
}

fn soak(hours: f64, keys: u64) {
    let rules = Rules::default();
    let none = BTreeSet::new();
    let span = (hours * 3_600_000.0) as i64;
    // Every key seen about three times over the soak.
    let n = keys * 3;
    let step = (span / n as i64).max(1);
    for kind in JobKind::ALL {
        let mut job = Job::new(kind, &rules);
        let start_rss = rss_kib();
        let start = Instant::now();
        let (mut peak, mut samples) = (0u64, Vec::new());
        let mut max_keys = 0usize;
        let mut last_mark = 0i64;
        for i in 0..n {
            let (topic, v) = message(kind, i, keys);
            let t = T0 + i as i64 * step;
            let m = Message {
                topic,
                partition: (i % 6) as i32,
                offset: i as i64,
                timestamp: t,
                value: &v,
            };
            job.process(&m, t, &none);
            if t - T0 - last_mark >= 600_000 {
                last_mark = t - T0;
                job.tick(t, &none);
                let r = rss_kib();
                peak = peak.max(r);
                let k = job.state_keys();
                samples.push(format!("[{},{r},{k}]", last_mark / 60_000));
                max_keys = max_keys.max(k);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        // A checkpoint of the final state (what a restart reads).
        let t_enc = Instant::now();
        let state = job.state();
        let header = Checkpoint {
            job: kind.name().into(),
            seq: 1,
            created_at: 0,
            inputs: Vec::new(),
            outputs: Vec::new(),
            counters: Default::default(),
            published_ahead: Vec::new(),
        };
        let bytes = header.encode(&state);
        let enc = t_enc.elapsed().as_secs_f64();
        let t_dec = Instant::now();
        let (_, st) = Checkpoint::decode(&bytes).expect("decode");
        let restored = Job::restore(kind, &rules, st).expect("restore");
        let dec = t_dec.elapsed().as_secs_f64();
        println!(
            "{{\"bench\":\"soak\",\"job\":\"{}\",\"hours\":{hours},\"keys\":{keys},\"events\":{n},\"seconds\":{secs:.2},\"events_per_sec\":{:.0},\"rss_start_kib\":{start_rss},\"rss_peak_kib\":{peak},\"max_state_keys\":{max_keys},\"final_state_keys\":{},\"checkpoint_bytes\":{},\"checkpoint_encode_s\":{enc:.3},\"restore_s\":{dec:.3},\"samples_min_rss_keys\":[{}]}}",
            kind.name(),
            n as f64 / secs,
            restored.state_keys(),
            bytes.len(),
            samples.join(",")
        );
        drop(restored);
        drop(job);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("throughput") => throughput(
            args.get(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000),
        ),
        Some("soak") => soak(
            args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2.0),
            args.get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000),
        ),
        _ => eprintln!("usage: fraud_soak throughput N | soak HOURS KEYS"),
    }
}
