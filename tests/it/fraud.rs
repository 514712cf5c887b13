//! The fraud jobs' engine over kvt-gen's labelled streams (issue 9): every
//! injected pattern gives its alert (type, key) and nothing else fires
//! beyond what the generator counted for the per-event rules in the
//! background. Runs the library's jobs on the generated JSONL (the Kafka
//! timestamp as event time, one partition, file order), no broker.

use std::collections::{BTreeMap, BTreeSet};

use kvt::fraud::advanced::{AdvancedJob, LookBackSettings};
use kvt::fraud::crossed::{CrossSettings, CrossedJob, KycJob};
use kvt::fraud::job::{Message, OrdersJob, Output, PaymentsJob, StreamJob, WindowSettings};
use kvt::fraud::rules::Settings;
use serde_json::Value;

use crate::common::{gen_events_day, Env};

/// (timestamp, value bytes) of a generated topic file.
fn messages(path: &std::path::Path) -> Vec<(i64, Vec<u8>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let bytes = match (&v["value"], &v["value_raw"]) {
                (Value::Null, Value::String(raw)) => raw.as_bytes().to_vec(),
                (value, _) => serde_json::to_vec(value).unwrap(),
            };
            (v["ts"].as_i64().unwrap(), bytes)
        })
        .collect()
}

type Fired = BTreeMap<&'static str, Vec<String>>;

fn record(outs: Vec<Output>, fired: &mut Fired) {
    for o in outs {
        if let Output::Alert(a) = o {
            fired.entry(a.ty).or_default().push(a.key);
        }
    }
}

fn run(
    topic: &str,
    msgs: &[(i64, Vec<u8>)],
    mut process: impl FnMut(&Message, i64) -> Vec<Output>,
    fired: &mut Fired,
) -> usize {
    let mut dead = 0;
    for (i, (ts, value)) in msgs.iter().enumerate() {
        let m = Message {
            topic,
            partition: 0,
            offset: i as i64,
            timestamp: *ts,
            value,
        };
        for o in process(&m, 0) {
            match o {
                Output::Alert(a) => fired.entry(a.ty).or_default().push(a.key),
                Output::DeadLetter { .. } => dead += 1,
                _ => {}
            }
        }
    }
    dead
}

#[test]
fn every_injected_pattern_fires_and_nothing_else() {
    let env = Env::new();
    let out = env.path().join("gen");
    let truth = gen_events_day(&out, "1");
    let ev = &truth["events"];
    let settings = Settings {
        bin_blacklist: ev["bin_blacklist"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap().to_string())
            .collect(),
        ..Settings::default()
    };
    let payments = messages(&out.join("events/payments/2026-03-17.jsonl"));
    let orders = messages(&out.join("events/orders/2026-03-17.jsonl"));

    let mut fired = Fired::new();
    let w = WindowSettings::default();
    let mut pay = PaymentsJob::new(settings.clone(), w.clone());
    let dead = run(
        "payments",
        &payments,
        |m, now| pay.process(m, now),
        &mut fired,
    );
    let mut adv = AdvancedJob::new(settings.clone(), &w, &LookBackSettings::default());
    run(
        "payments",
        &payments,
        |m, now| adv.process(m, now),
        &mut fired,
    );
    // The end of the day's input: what waits for the watermark.
    record(adv.finish(), &mut fired);
    let mut ord = OrdersJob::new(settings.clone(), w.clone());
    run("orders", &orders, |m, now| ord.process(m, now), &mut fired);
    // crossed: both topics, in event-time order (orders first on a tie).
    let mut both: Vec<(i64, u8, usize)> = orders
        .iter()
        .enumerate()
        .map(|(i, (t, _))| (*t, 0, i))
        .chain(payments.iter().enumerate().map(|(i, (t, _))| (*t, 1, i)))
        .collect();
    both.sort();
    let mut crossed = CrossedJob::new(settings, &w, CrossSettings::default());
    for (t, which, i) in both {
        let (topic, value) = if which == 0 {
            ("orders", &orders[i].1)
        } else {
            ("payments", &payments[i].1)
        };
        let m = Message {
            topic,
            partition: 0,
            offset: i as i64,
            timestamp: t,
            value,
        };
        record(crossed.process(&m, 0), &mut fired);
    }
    record(crossed.finish(), &mut fired);
    let kyc = messages(&out.join("events/kyc_decisions/2026-03-17.jsonl"));
    let mut kyc_job = KycJob::new(&w, CrossSettings::default());
    run(
        "kyc_decisions",
        &kyc,
        |m, now| kyc_job.process(m, now),
        &mut fired,
    );
    record(kyc_job.finish(), &mut fired);
    let count = |ty: &str| fired.get(ty).map_or(0, Vec::len) as u64;

    // Per-event rules: exactly what the generator counted over the whole day.
    let rc = &ev["rule_counts"];
    let expect = [
        ("payment_direct", rc["payment_direct"]["total"].as_u64()),
        ("high_amount", rc["high_amount"].as_u64()),
        ("bin_blacklist", rc["bin_blacklist"].as_u64()),
        ("geo_mismatch", rc["geo_mismatch"].as_u64()),
        ("bot_pattern", rc["bot_pattern"].as_u64()),
        (
            "order_high_amount",
            rc["order_high_amount"]["created_only"].as_u64(),
        ),
        (
            "order_discount_abuse",
            rc["order_discount_abuse"]["created_only"].as_u64(),
        ),
        (
            "order_large_cancellation",
            rc["order_large_cancellation"].as_u64(),
        ),
    ];
    let mut report = Vec::new();
    for (ty, want) in expect {
        let want = want.unwrap_or_else(|| panic!("ground truth has no count for {ty}"));
        report.push(format!("{ty}: {} fired, {want} expected", count(ty)));
        assert_eq!(count(ty), want, "{ty}");
    }
    // Every injected pattern of these per-event types is among them.
    let patterns = ev["patterns"].as_array().unwrap();
    for p in patterns {
        let ty = p["type"].as_str().unwrap();
        let key = p["key"].as_str().unwrap();
        if expect.iter().any(|(t, _)| *t == ty) {
            assert!(
                fired.get(ty).is_some_and(|k| k.iter().any(|x| x == key)),
                "pattern {ty} {key} did not fire"
            );
        }
    }

    // Stateful and windowed rules: the background raises none
    // (stateful_rules_background_alerts = 0), so they fire exactly for the
    // injected patterns: precision and recall 100 %.
    let stateful = [
        "card_testing",
        "card_portfolio",
        "shared_device",
        "psp_error_rate",
        "cancellation_spike",
        "express_spike",
        "payment_on_cancelled_order",
        "amount_mismatch",
        "cross_velocity",
        "shared_ip",
        "kyc_multiple_documents",
        "kyc_minor_rate",
    ];
    assert_eq!(ev["stateful_rules_background_alerts"], 0);
    let want: BTreeSet<(String, String)> = patterns
        .iter()
        .filter(|p| stateful.contains(&p["type"].as_str().unwrap()))
        .map(|p| {
            (
                p["type"].as_str().unwrap().to_string(),
                p["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let got: BTreeSet<(String, String)> = stateful
        .iter()
        .flat_map(|ty| {
            fired
                .get(ty)
                .into_iter()
                .flatten()
                .map(|k| (ty.to_string(), k.clone()))
        })
        .collect();
    let tp = want.intersection(&got).count();
    let (precision, recall) = (
        tp as f64 / got.len().max(1) as f64,
        tp as f64 / want.len().max(1) as f64,
    );
    report.push(format!(
        "stateful: {} expected, {} fired, precision {:.0} %, recall {:.0} %",
        want.len(),
        got.len(),
        precision * 100.0,
        recall * 100.0
    ));
    println!("{}", report.join("\n"));
    assert_eq!(got, want, "stateful alerts");
    let n_alerts: usize = stateful.iter().map(|t| count(t) as usize).sum();
    assert_eq!(n_alerts, want.len(), "one alert per pattern, none repeated");
    assert!(
        dead > 0,
        "the generator's malformed messages are dead letters"
    );
}

/// Two hours of event time over many keys: keyed state stays flat after
/// the warm-up (look-backs expire with the watermark); the crossed job's
/// 7-day state empties once the watermark is 7 days further. The benchmark
/// (`make bench`, `fraud_soak soak 2 1000000`) runs 1 M keys and records RSS.
#[test]
fn two_hours_of_event_time_keep_keyed_state_flat() {
    use kvt::fraud::runner::{Job, JobKind, Rules};
    let rules = Rules::default();
    let none = BTreeSet::new();
    let (n, keys, span) = (120_000u64, 40_000u64, 7_200_000i64);
    let step = span / n as i64;
    let t0 = 1_773_705_600_000i64;
    for kind in JobKind::ALL {
        let mut job = Job::new(kind, &rules);
        let mut at: BTreeMap<i64, usize> = BTreeMap::new();
        for i in 0..n {
            let (topic, v) = kvt::gen::stream::message(kind, i, keys);
            let t = t0 + i as i64 * step;
            let m = Message {
                topic,
                partition: (i % 6) as i32,
                offset: i as i64,
                timestamp: t,
                value: &v,
            };
            job.process(&m, t, &none);
            if (i + 1) % (n / 12) == 0 {
                job.tick(t, &none);
                at.insert((t - t0) / 60_000 + 1, job.state_keys());
            }
        }
        eprintln!(
            "{}: state keys per 10 min of event time {at:?}",
            kind.name()
        );
        let (warm, end) = (at[&60], at[&120]);
        if kind == JobKind::Crossed {
            // Orders are kept 7 days (C4): the state grows with the day,
            // then empties when the watermark is 7 days further.
            let (topic, v) = kvt::gen::stream::message(kind, n, keys);
            let t = t0 + span + 8 * 86_400_000;
            for p in 0..6 {
                let m = Message {
                    topic,
                    partition: p,
                    offset: (n + p as u64) as i64,
                    timestamp: t,
                    value: &v,
                };
                job.process(&m, t, &none);
            }
            job.tick(t, &none);
            assert!(
                job.state_keys() < 100,
                "crossed after 7 days: {}",
                job.state_keys()
            );
        } else {
            assert!(
                end as f64 <= warm as f64 * 1.15 + 50.0,
                "{}: state grew from {warm} keys at 1 h to {end} at 2 h",
                kind.name()
            );
        }
    }
}
