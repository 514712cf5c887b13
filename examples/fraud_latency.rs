//! Benchmark (`make bench`): live latency of `kvt fraud run payments`.
//!
//! `fraud_latency BROKERS PREFIX RATE SECONDS` produces payments to
//! `PREFIXpayments` at RATE per second with the Kafka timestamp = now (one in
//! 20 above 1,500 €: a `high_amount` alert; PSP `psp-bad` always fails: a
//! `psp_error_rate` alert per 5-minute window) while reading the alert
//! topics, and prints one JSON line: p50/p99/max of (alert readable on the
//! topic) − (event produced) for the direct alerts, and of (alert readable)
//! − (window end + 10 s watermark delay) for the window alerts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, prefix, rate, secs] = a.as_slice() else {
        return Err("usage: fraud_latency BROKERS PREFIX RATE SECONDS".into());
    };
    let rate: f64 = rate.parse()?;
    let secs: f64 = secs.parse()?;
    let settings = kvt::kafka::ClientSettings::new(brokers.clone());
    let consumer: BaseConsumer =
        settings.streaming_consumer("kvt-latency", &format!("lat-{}", std::process::id()))?;
    let mut tpl = TopicPartitionList::new();
    for t in ["alerts_fraud_payments", "alerts_psp_payments"] {
        let t = format!("{prefix}{t}");
        for p in kvt::kafka::partitions(&consumer, brokers, &t, Duration::from_secs(10))? {
            tpl.add_partition_offset(&t, p, Offset::End)?;
        }
    }
    consumer.assign(&tpl)?;
    let direct = Arc::new(Mutex::new(Vec::<f64>::new()));
    let window = Arc::new(Mutex::new(Vec::<f64>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (direct, window, done) = (direct.clone(), window.clone(), done.clone());
        std::thread::spawn(move || {
            let mut quiet_since = None::<Instant>;
            loop {
                match consumer.poll(Duration::from_millis(20)) {
                    Some(Ok(m)) => {
                        quiet_since = None;
                        let now = now_ms();
                        let Some(v) = m
                            .payload()
                            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                        else {
                            continue;
                        };
                        let ms = |k: &str| {
                            v[k].as_str()
                                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                                .map(|d| d.timestamp_millis())
                        };
                        if v["type"] == "psp_error_rate" {
                            if let Some(end) = ms("window_end") {
                                window.lock().unwrap().push((now - end - 10_000) as f64);
                            }
                        } else if let Some(t) = ms("event_time") {
                            direct.lock().unwrap().push((now - t) as f64);
                        }
                    }
                    _ => {
                        if done.load(Ordering::Relaxed) {
                            let q = *quiet_since.get_or_insert_with(Instant::now);
                            if q.elapsed() > Duration::from_secs(3) {
                                break;
                            }
                        }
                    }
                }
            }
        })
    };
    let producer = settings.producer_with(
        "kvt-latency",
        "0",
        "60000",
        rdkafka::producer::DefaultProducerContext,
    )?;
    let topic = format!("{prefix}payments");
    let start = Instant::now();
    let total = (rate * secs) as u64;
    for i in 0..total {
        let due = Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let (amount, psp, status) = match i % 20 {
            0 => (2_000, "stripe", "succeeded"),
            1 => (50, "psp-bad", "error"),
            _ => (50, "stripe", "succeeded"),
        };
        let v = format!(
            r#"{{"payment_id":"LAT-{i}","order_id":"O-{i}","customer_id":"C-{c}","amount":{amount},"currency":"EUR","amount_eur":{amount},"status":"{status}","psp":"{psp}","risk_score":5}}"#,
            c = i % 1000
        );
        let key = format!("C-{}", i % 1000);
        let mut rec = BaseRecord::to(&topic)
            .key(&key)
            .payload(&v)
            .timestamp(now_ms());
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30))?;
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    reader.join().map_err(|_| "reader thread panicked")?;
    let mut d = direct.lock().unwrap().clone();
    let mut w = window.lock().unwrap().clone();
    println!(
        "{{\"rate\":{achieved:.0},\"events\":{total},\"direct_alerts\":{},\"direct_p50_ms\":{},\"direct_p99_ms\":{},\"direct_max_ms\":{},\"window_alerts\":{},\"window_p50_ms\":{},\"window_max_ms\":{}}}",
        d.len(),
        pct(&mut d, 0.50),
        pct(&mut d, 0.99),
        pct(&mut d, 1.0),
        w.len(),
        pct(&mut w, 0.50),
        pct(&mut w, 1.0),
    );
    Ok(())
}
