//! `kvt silver payments` and `kvt silver orders`: the fixture's Kafka events,
//! produced to a real broker (tansu) and landed by `kvt ingest kafka`, against
//! the ground truth; dead letters, duplicates, privacy and idempotence.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde_json::Value;

use crate::common::services::{self, unique_prefix};
use crate::common::silver::{ground_truth, read_table, testdata};
use crate::common::{files_under, kvt_gen, run_expect, Env};

/// Produce the fixture's payments and orders once more.
/// Create prefixed payments/orders topics, produce the fixture's events and
/// land them in `env`'s bronze; the topic prefix.
pub fn land_fixture_events(env: &Env, brokers: &str, name: &str) -> String {
    let prefix = unique_prefix(name);
    kvt_gen(&[
        "topics",
        "--brokers",
        brokers,
        "--topic-prefix",
        &prefix,
        "--topics",
        "payments,orders",
    ]);
    produce(brokers, &prefix);
    ingest(env, brokers, &prefix);
    prefix
}

pub fn produce(brokers: &str, prefix: &str) -> u64 {
    crate::common::produce(brokers, &testdata().join("events"), prefix)["messages"]
        .as_u64()
        .unwrap()
}

pub fn ingest(env: &Env, brokers: &str, prefix: &str) {
    run_expect(
        env.kvt()
            .args(["ingest", "kafka", "--topic"])
            .arg(format!("{prefix}payments,{prefix}orders"))
            .env("KVT_KAFKA_BROKERS", brokers)
            .env("KVT_IDLE_TIMEOUT", "3s"),
        0,
    );
}

fn silver(env: &Env, stream: &str, prefix: &str, extra: &[&str]) -> Value {
    let mut c = env.kvt();
    c.args(["silver", stream, "--dev-key", "--topic"])
        .arg(format!("{prefix}{stream}"))
        .args(extra);
    run_expect(&mut c, 0).summary()
}

fn snapshot(env: &Env, tables: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for t in tables {
        let root = env.lake().join("silver").join(t);
        for rel in files_under(&root) {
            let b = std::fs::read(root.join(&rel)).unwrap();
            out.push((format!("{t}/{rel}"), b));
        }
    }
    out
}

fn strings(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    let c = df.column(col).unwrap().as_materialized_series().clone();
    c.str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn counts_of(df: &DataFrame, col: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for v in strings(df, col).into_iter().flatten() {
        *out.entry(v).or_default() += 1;
    }
    out
}

/// The reject files of a source: (field, count).
fn reject_fields(env: &Env, source: &str) -> BTreeMap<String, u64> {
    let dir = env.lake().join("silver/_rejects").join(source);
    let mut out = BTreeMap::new();
    for rel in files_under(&dir) {
        let body = std::fs::read_to_string(dir.join(rel)).unwrap();
        for l in body.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            assert!(v["bronze_key"]
                .as_str()
                .unwrap()
                .starts_with("bronze/kafka/"));
            assert!(v["line"].as_u64().unwrap() >= 1);
            assert!(
                !l.contains("CUST-") && !l.contains("PAY-") && !l.contains("ORD-"),
                "no content: {l}"
            );
            *out.entry(v["field"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    out
}

/// Raw strings that must not reach silver.
fn forbidden() -> Vec<String> {
    let gt = ground_truth(&testdata());
    let mut out: Vec<String> = Vec::new();
    let pii = &gt["privacy"]["pii"];
    for k in ["names", "emails", "phones", "ips"] {
        out.extend(
            pii[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    let tracer = &gt["privacy"]["tracer"];
    for k in ["device_fingerprints", "card_refs", "ipv4"] {
        out.extend(
            tracer[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    // Every raw customer id, card, fingerprint, session and IP of the fixture.
    for topic in ["payments", "orders"] {
        let text =
            std::fs::read_to_string(testdata().join(format!("events/{topic}/2026-03-17.jsonl")))
                .unwrap();
        for l in text.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let Some(val) = v.get("value") else { continue };
            for k in [
                "customer_id",
                "card_masked",
                "card_ref",
                "device_fingerprint",
                "payment_session_id",
                "ip_address",
                "user_agent",
            ] {
                if let Some(s) = val.get(k).and_then(Value::as_str) {
                    out.push(s.to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn assert_no_raw(tables: &BTreeMap<String, DataFrame>, forbidden: &[String]) {
    for (p, df) in tables {
        for c in df.columns() {
            if c.dtype() != &DataType::String
                || c.name().starts_with("bronze_key")
                || c.name().as_str() == "kafka_topic"
            {
                continue;
            }
            for v in strings(df, c.name()).into_iter().flatten() {
                for f in forbidden {
                    assert!(!v.contains(f.as_str()), "{p}: {} holds raw {f}", c.name());
                }
            }
        }
    }
}

#[test]
fn silver_events_match_the_ground_truth_and_keep_nothing_personal() {
    let Some(b) = services::broker() else { return };
    let env = Env::new();
    let prefix = land_fixture_events(&env, &b.addr, "silver");
    let gt = ground_truth(&testdata());
    let day = &gt["events"]["days"][0];
    let date = day["date"].as_str().unwrap();
    let (gp, go) = (&day["payments"], &day["orders"]);
    let dead = |t: &Value| {
        t["dead_letter_missing_field"].as_u64().unwrap()
            + t["dead_letter_non_json"].as_u64().unwrap()
    };

    // payments
    let s = silver(&env, "payments", &prefix, &[]);
    assert_eq!(s["rows_in"], gp["messages"], "{s}");
    assert_eq!(s["rows_out"], gp["valid"], "{s}");
    assert_eq!(s["rejected"].as_u64().unwrap(), dead(gp), "{s}");
    assert_eq!(s["deduplicated"], 0, "{s}");
    let mut want_rejects: BTreeMap<String, u64> = gp["dead_letter_missing_field_by_field"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    *want_rejects.entry("value".into()).or_default() +=
        gp["dead_letter_non_json"].as_u64().unwrap();
    assert_eq!(reject_fields(&env, "payments"), want_rejects);
    let pay = read_table(&env, "payments");
    assert_eq!(
        pay.keys().cloned().collect::<Vec<_>>(),
        [format!("payments/event_date={date}")]
    );
    let df = &pay[&format!("payments/event_date={date}")];
    assert_eq!(df.height() as u64, gp["valid"].as_u64().unwrap());
    let by_status: BTreeMap<String, u64> = gp["by_type"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(counts_of(df, "status"), by_status);
    assert_eq!(
        df.column("event_time").unwrap().dtype(),
        &DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
    );
    assert_eq!(df.column("amount").unwrap().dtype(), &DataType::Float64);
    assert_eq!(df.column("risk_score").unwrap().dtype(), &DataType::Int32);
    assert_eq!(df.column("kafka_offset").unwrap().null_count(), 0);
    assert!(strings(df, "kafka_topic")
        .iter()
        .all(|t| t.as_deref() == Some(format!("{prefix}payments").as_str())));
    let methods = strings(df, "payment_method");
    for (bin, m) in strings(df, "card_bin").iter().zip(&methods) {
        match bin {
            Some(b) => assert!(b.len() == 6 && b.bytes().all(|c| c.is_ascii_digit()), "{b}"),
            None => assert_ne!(m.as_deref(), Some("card")),
        }
    }
    for ip in strings(df, "ip_truncated").into_iter().flatten() {
        assert!(ip.ends_with(".xxx") || ip.ends_with("::/48"), "{ip}");
    }
    let bots = df
        .column("is_bot")
        .unwrap()
        .as_materialized_series()
        .bool()
        .unwrap()
        .sum()
        .unwrap_or(0);
    assert!(bots > 0, "the bot_pattern payment is recognised");
    let pseudo = kvt::silver::pseudo::Pseudonymizer::new(kvt::silver::pseudo::DEV_KEY.as_bytes());
    let tracer = pseudo.pseudo(gt["privacy"]["tracer"]["customer_id"].as_str().unwrap());
    assert!(strings(df, "customer_id")
        .iter()
        .any(|c| c.as_deref() == Some(tracer.as_str())));

    // orders and order_items
    let s = silver(&env, "orders", &prefix, &[]);
    let items_want: u64 = {
        let text =
            std::fs::read_to_string(testdata().join("events/orders/2026-03-17.jsonl")).unwrap();
        text.lines()
            .filter_map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap()
                    .get("value")
                    .cloned()
            })
            .filter(|v| {
                v["event_type"] == "created"
                    && v.get("customer_id").is_some()
                    && v.get("total_amount").is_some()
                    && v.get("order_id").is_some()
                    && v.get("items_count").is_some()
            })
            .map(|v| v["items"].as_array().map_or(0, |a| a.len() as u64))
            .sum()
    };
    assert_eq!(s["rows_in"], go["messages"], "{s}");
    assert_eq!(s["rejected"].as_u64().unwrap(), dead(go), "{s}");
    assert_eq!(
        s["rows_out"].as_u64().unwrap(),
        go["valid"].as_u64().unwrap() + items_want,
        "orders + items: {s}"
    );
    let ord = read_table(&env, "orders");
    let o = &ord[&format!("orders/event_date={date}")];
    assert_eq!(o.height() as u64, go["valid"].as_u64().unwrap());
    let by_type: BTreeMap<String, u64> = go["by_type"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(counts_of(o, "event_type"), by_type);
    assert!(strings(o, "customer_id")
        .iter()
        .any(|c| c.as_deref() == Some(tracer.as_str())));
    let items = read_table(&env, "order_items");
    let it = &items[&format!("order_items/event_date={date}")];
    assert_eq!(it.height() as u64, items_want);
    let q = it
        .column("quantity")
        .unwrap()
        .as_materialized_series()
        .cast(&DataType::Float64)
        .unwrap();
    let p = it
        .column("unit_price")
        .unwrap()
        .as_materialized_series()
        .clone();
    let l = it
        .column("line_amount")
        .unwrap()
        .as_materialized_series()
        .clone();
    for ((q, p), l) in q
        .f64()
        .unwrap()
        .iter()
        .zip(p.f64().unwrap().iter())
        .zip(l.f64().unwrap().iter())
    {
        let (q, p, l) = (q.unwrap(), p.unwrap(), l.unwrap());
        assert!((q * p - l).abs() < 0.005, "{q} × {p} ≠ {l}");
    }
    let created: std::collections::BTreeSet<String> = strings(o, "order_id")
        .into_iter()
        .zip(strings(o, "event_type"))
        .filter(|(_, t)| t.as_deref() == Some("created"))
        .filter_map(|(id, _)| id)
        .collect();
    assert!(strings(it, "order_id")
        .iter()
        .flatten()
        .all(|id| created.contains(id)));

    let forbidden = forbidden();
    assert_no_raw(&pay, &forbidden);
    assert_no_raw(&ord, &forbidden);
    assert_no_raw(&items, &forbidden);
}

#[test]
fn silver_events_remove_redelivered_messages_and_rebuild_identically() {
    let Some(b) = services::broker() else { return };
    let env = Env::new();
    let prefix = land_fixture_events(&env, &b.addr, "silverdup");
    let gt = ground_truth(&testdata());
    let day = &gt["events"]["days"][0];
    let (gp, go) = (&day["payments"], &day["orders"]);
    silver(&env, "payments", &prefix, &[]);
    silver(&env, "orders", &prefix, &[]);
    let first = snapshot(&env, &["payments", "orders", "order_items"]);

    // The producer sends everything again (at-least-once delivery): new offsets, same events.
    produce(&b.addr, &prefix);
    ingest(&env, &b.addr, &prefix);
    let s = silver(&env, "payments", &prefix, &[]);
    assert_eq!(s["deduplicated"], gp["valid"], "{s}");
    assert_eq!(s["rows_out"], gp["valid"], "{s}");
    let s = silver(&env, "orders", &prefix, &[]);
    assert_eq!(s["deduplicated"], go["valid"], "{s}");
    let pay = read_table(&env, "payments");
    let df = pay.values().next().unwrap();
    assert_eq!(df.height() as u64, gp["valid"].as_u64().unwrap());
    // The latest copy (the second delivery) is the one kept.
    let offsets = df
        .column("kafka_offset")
        .unwrap()
        .as_materialized_series()
        .i64()
        .unwrap()
        .min()
        .unwrap();
    assert!(offsets > 0);
    let after = snapshot(&env, &["payments", "orders", "order_items"]);
    assert!(after != first, "rows now point at the later messages");

    // Full refresh twice: the same files and bytes, equal to the incremental result.
    for stream in ["payments", "orders"] {
        silver(&env, stream, &prefix, &["--full-refresh"]);
    }
    let a = snapshot(&env, &["payments", "orders", "order_items"]);
    for stream in ["payments", "orders"] {
        silver(&env, stream, &prefix, &["--full-refresh"]);
    }
    let b2 = snapshot(&env, &["payments", "orders", "order_items"]);
    assert!(a == b2, "two full refreshes write the same bytes");
    assert!(a == after, "incremental and full refresh agree");
}
