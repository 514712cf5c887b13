//! Test-only reference implementation of the stateful fraud rules (CONTRACTS C4), run
//! over the generated JSONL files to prove the ground truth: background traffic raises no
//! stateful alert and each labelled pattern raises exactly one, with its key.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

use chrono::NaiveDate;
use serde_json::Value;

use super::{generate, GenConfig, Source};

#[derive(Clone, Debug)]
struct Ev {
    ts: i64,
    v: Value,
}

fn read_topic(dir: &Path, topic: &str, days: &[NaiveDate]) -> Vec<Ev> {
    let mut out = Vec::new();
    for d in days {
        let p = dir.join(format!("events/{topic}/{}.jsonl", d.format("%Y-%m-%d")));
        let text = std::fs::read_to_string(&p).expect("read topic");
        for line in text.lines() {
            let env: Value = serde_json::from_str(line).expect("envelope is JSON");
            let Some(v) = env.get("value") else { continue };
            let ok = match topic {
                "payments" => crate::bronze::events::PAYMENT_REQUIRED
                    .iter()
                    .all(|k| v.get(k).is_some()),
                "orders" => crate::bronze::events::ORDER_REQUIRED
                    .iter()
                    .all(|k| v.get(k).is_some()),
                _ => true,
            };
            if ok {
                out.push(Ev {
                    ts: env["ts"].as_i64().expect("ts"),
                    v: v.clone(),
                });
            }
        }
    }
    out
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Per-key sliding look-back counter: fires once per crossing.
#[derive(Default)]
struct Sliding {
    items: BTreeMap<String, VecDeque<(i64, String)>>,
    active: BTreeSet<String>,
}

impl Sliding {
    /// Adds `(ts, member)` under `key`; returns the number of distinct members (or
    /// events when `distinct` is false) in `(ts − window, ts]`.
    fn add(&mut self, key: &str, ts: i64, member: &str, window: i64, distinct: bool) -> usize {
        let q = self.items.entry(key.to_string()).or_default();
        q.push_back((ts, member.to_string()));
        let inwin: Vec<&(i64, String)> = q
            .iter()
            .filter(|(t, _)| *t > ts - window && *t <= ts)
            .collect();
        let n = if distinct {
            inwin.iter().map(|x| &x.1).collect::<BTreeSet<_>>().len()
        } else {
            inwin.len()
        };
        while q.front().map(|f| f.0 < ts - 10 * window).unwrap_or(false) {
            q.pop_front();
        }
        n
    }

    fn fire(&mut self, key: &str, over: bool) -> bool {
        if over {
            self.active.insert(key.to_string())
        } else {
            self.active.remove(key);
            false
        }
    }
}

fn merged(p: &[Ev], o: &[Ev]) -> Vec<(i64, bool, Value)> {
    // Interleave both topics by event time (the crossed job keys on event time).
    let mut v: Vec<(i64, bool, Value)> = p
        .iter()
        .map(|e| (e.ts, true, e.v.clone()))
        .chain(o.iter().map(|e| (e.ts, false, e.v.clone())))
        .collect();
    v.sort_by_key(|x| (x.0, x.1));
    v
}

fn run_rules(dir: &Path, days: &[NaiveDate]) -> BTreeMap<(String, String), u32> {
    let pays = read_topic(dir, "payments", days);
    let ords = read_topic(dir, "orders", days);
    let kycs = read_topic(dir, "kyc_decisions", days);
    let mut alerts: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut alert = |t: &str, k: &str| {
        *alerts.entry((t.to_string(), k.to_string())).or_default() += 1;
    };
    // Advanced job, in production order.
    let (mut ct, mut cp, mut sd) = (Sliding::default(), Sliding::default(), Sliding::default());
    for e in &pays {
        let v = &e.v;
        let sess = s(v, "payment_session_id");
        let n = ct.add(&sess, e.ts, &s(v, "payment_id"), 5_000, false);
        if ct.fire(&sess, n > 3) {
            alert("card_testing", &sess);
        }
        let cust = s(v, "customer_id");
        let card = s(v, "card_ref");
        if !card.is_empty() {
            let n = cp.add(&cust, e.ts, &card, 600_000, true);
            if cp.fire(&cust, n > 2) {
                alert("card_portfolio", &cust);
            }
        }
        let fp = s(v, "device_fingerprint");
        let n = sd.add(&fp, e.ts, &cust, 300_000, true);
        if sd.fire(&fp, n > 3) {
            alert("shared_device", &fp);
        }
    }
    // Crossed job, by event time.
    let (mut vp, mut vo, mut ip) = (Sliding::default(), Sliding::default(), Sliding::default());
    let mut xv_active: BTreeSet<String> = BTreeSet::new();
    let mut cancelled: BTreeSet<String> = BTreeSet::new();
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for (ts, is_pay, v) in merged(&pays, &ords) {
        let cust = s(&v, "customer_id");
        let (np, no) = if is_pay {
            let np = vp.add(&cust, ts, &s(&v, "payment_id"), 120_000, false);
            let no = vo.add(&cust, ts, "", 120_000, false) - 1;
            (np, no)
        } else {
            let no = vo.add(&cust, ts, &s(&v, "order_id"), 120_000, false);
            let np = vp.add(&cust, ts, "", 120_000, false) - 1;
            (np, no)
        };
        // The probes above add placeholder entries; remove them again.
        if is_pay {
            if let Some(q) = vo.items.get_mut(&cust) {
                q.pop_back();
            }
        } else if let Some(q) = vp.items.get_mut(&cust) {
            q.pop_back();
        }
        if np > 3 && no > 2 {
            if xv_active.insert(cust.clone()) {
                alert("cross_velocity", &cust);
            }
        } else {
            xv_active.remove(&cust);
        }
        let addr = s(&v, "ip_address");
        if !addr.is_empty() {
            let n = ip.add(&addr, ts, &cust, 300_000, true);
            if ip.fire(&addr, n > 2) {
                alert("shared_ip", &addr);
            }
        }
        let oid = s(&v, "order_id");
        if is_pay {
            if s(&v, "status") == "succeeded" && cancelled.contains(&oid) {
                alert("payment_on_cancelled_order", &oid);
            }
            if let Some(&total) = totals.get(&oid) {
                let amount = v["amount_eur"].as_f64().unwrap_or(0.0);
                if total > 0.0 && (amount - total).abs() / total > 0.05 {
                    alert("amount_mismatch", &oid);
                }
            }
        } else {
            match s(&v, "event_type").as_str() {
                "cancelled" => {
                    cancelled.insert(oid);
                }
                "created" => {
                    totals.insert(oid, v["total_amount"].as_f64().unwrap_or(0.0));
                }
                _ => {}
            }
        }
    }
    // Tumbling windows (event time): PSP error rate, cancellation and express spikes.
    let mut psp: BTreeMap<(i64, String), (u32, u32)> = BTreeMap::new();
    for e in &pays {
        let w = psp
            .entry((e.ts.div_euclid(300_000), s(&e.v, "psp")))
            .or_default();
        w.0 += 1;
        w.1 += u32::from(s(&e.v, "status") == "error");
    }
    for ((_, p), (n, err)) in &psp {
        if f64::from(*err) > 0.2 * f64::from(*n) {
            alert("psp_error_rate", p);
        }
    }
    let mut canc: BTreeMap<i64, u32> = BTreeMap::new();
    let mut expr: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
    for e in &ords {
        match s(&e.v, "event_type").as_str() {
            "cancelled" => *canc.entry(e.ts.div_euclid(60_000)).or_default() += 1,
            "created" => {
                let w = expr.entry(e.ts.div_euclid(300_000)).or_default();
                w.0 += 1;
                w.1 += u32::from(s(&e.v, "delivery_method") == "express");
            }
            _ => {}
        }
    }
    for n in canc.values() {
        if *n > 10 {
            alert("cancellation_spike", "*");
        }
    }
    for (n, ex) in expr.values() {
        if f64::from(*ex) > 0.5 * f64::from(*n) {
            alert("express_spike", "*");
        }
    }
    // KYC job.
    let mut docs = Sliding::default();
    let mut window: VecDeque<(i64, bool)> = VecDeque::new();
    let mut minor_active = false;
    let mut kycs = kycs;
    kycs.sort_by_key(|e| e.ts);
    for e in &kycs {
        let cust = s(&e.v, "customer_id");
        let n = docs.add(&cust, e.ts, &s(&e.v, "doc_fingerprint"), 600_000, true);
        if docs.fire(&cust, n >= 2) {
            alert("kyc_multiple_documents", &cust);
        }
        window.push_back((e.ts, s(&e.v, "decision") == "mineur"));
        while window
            .front()
            .map(|f| f.0 <= e.ts - 1_800_000)
            .unwrap_or(false)
        {
            window.pop_front();
        }
        let total = window.len();
        let minors = window.iter().filter(|x| x.1).count();
        let over = total >= 20 && minors as f64 > 0.3 * total as f64;
        if over && !minor_active {
            alert("kyc_minor_rate", "*");
        }
        minor_active = over;
    }
    alerts
}

fn expected(truth: &Value) -> BTreeMap<(String, String), u32> {
    let mut m = BTreeMap::new();
    for p in truth["events"]["patterns"].as_array().expect("patterns") {
        let t = p["type"].as_str().expect("type");
        let stateful = [
            "card_testing",
            "card_portfolio",
            "shared_device",
            "cross_velocity",
            "shared_ip",
            "payment_on_cancelled_order",
            "amount_mismatch",
            "psp_error_rate",
            "cancellation_spike",
            "express_spike",
            "kyc_multiple_documents",
            "kyc_minor_rate",
        ];
        if stateful.contains(&t) {
            *m.entry((t.to_string(), p["key"].as_str().expect("key").to_string()))
                .or_default() += 1;
        }
    }
    m
}

fn check(scale: f64, from: NaiveDate, to: NaiveDate) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = GenConfig::new(42, scale, from, to);
    cfg.sources = [Source::Events].into_iter().collect();
    let truth = generate(&cfg, dir.path()).expect("generate").json;
    let days = super::days(from, to);
    let got = run_rules(dir.path(), &days);
    let want = expected(&truth);
    assert_eq!(
        got, want,
        "stateful alerts differ from the ground truth at scale {scale}"
    );
    // Every C3 type has a labelled pattern.
    let by_type = truth["events"]["patterns_by_type"]
        .as_object()
        .expect("by type");
    for t in [
        "payment_direct",
        "high_amount",
        "psp_error_rate",
        "order_high_amount",
        "order_discount_abuse",
        "order_large_cancellation",
        "cancellation_spike",
        "express_spike",
        "card_testing",
        "bin_blacklist",
        "geo_mismatch",
        "bot_pattern",
        "card_portfolio",
        "shared_device",
        "payment_on_cancelled_order",
        "amount_mismatch",
        "cross_velocity",
        "shared_ip",
        "kyc_multiple_documents",
        "kyc_minor_rate",
    ] {
        assert!(
            by_type.get(t).and_then(Value::as_u64).unwrap_or(0) >= 1,
            "no pattern for {t}"
        );
    }
}

#[test]
fn stateful_rules_match_ground_truth_small() {
    let d = |m, dd| NaiveDate::from_ymd_opt(2026, m, dd).expect("date");
    check(0.05, d(3, 16), d(3, 17));
}

#[test]
fn stateful_rules_match_ground_truth_scale_1() {
    let d = |m, dd| NaiveDate::from_ymd_opt(2026, m, dd).expect("date");
    check(1.0, d(3, 17), d(3, 18));
}

#[test]
fn stateful_rules_match_ground_truth_scale_5() {
    let d = NaiveDate::from_ymd_opt(2026, 4, 6).expect("date");
    check(5.0, d, d);
}

/// A week at scale 2 (two instances of each pattern per day, and the DST change).
#[test]
fn stateful_rules_match_ground_truth_week() {
    let d = |m, dd| NaiveDate::from_ymd_opt(2026, m, dd).expect("date");
    check(2.0, d(3, 23), d(3, 29));
}

/// One day at scale 20.
#[test]
fn stateful_rules_match_ground_truth_scale_20() {
    let d = NaiveDate::from_ymd_opt(2026, 3, 16).expect("date");
    check(20.0, d, d);
}
