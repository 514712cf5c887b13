//! Synthetic C1 streams for load and soak runs of the fraud engine
//! (`examples/fraud_soak.rs`, the soak test): message `i` of a job's input
//! over `keys` distinct customers, devices, sessions, IPs and documents,
//! deterministic and allocation-light. Not the labelled day of `events.rs`:
//! no patterns, just volume with realistic shapes.

use crate::fraud::runner::JobKind;

/// A cheap deterministic mix.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x
}

/// Message `i` of `kind`'s input over `keys` keys: (topic, value).
pub fn message(kind: JobKind, i: u64, keys: u64) -> (&'static str, Vec<u8>) {
    let h = mix(i);
    let c = h % keys;
    // About 1 % above 1,500 € and 2 % high-risk: alert rates of a real day.
    let amount = if kind == JobKind::Crossed {
        // The total of the order this payment pays (created just before).
        100 + mix(i.wrapping_sub(1)) % 900
    } else if h % 100 == 7 {
        2_000
    } else {
        10 + h % 500
    };
    let status = match h % 20 {
        0 => "declined",
        1 => "error",
        _ => "succeeded",
    };
    let payment = || {
        format!(
            r#"{{"payment_id":"PAY-{i}","order_id":"ORD-{o}","customer_id":"CUST-{c}","amount":{amount},"currency":"EUR","amount_eur":{amount},"status":"{status}","payment_method":"card","psp":"psp{p}","payment_session_id":"ps_{s}","card_masked":"453234******{k:04}","card_ref":"card_{k}","risk_score":{r},"fraud_flag":false,"billing_country":"FR","ip_address":"10.{a}.{b}.{d}","ip_country":"FR","device_fingerprint":"fp_{dev}","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","processing_time_ms":900}}"#,
            o = i / 2,
            p = h % 5,
            s = mix(c) % keys,
            k = (h >> 20) % 10_000,
            r = if h % 50 == 3 { 85 } else { (h >> 8) % 60 },
            a = (c >> 16) & 255,
            b = (c >> 8) & 255,
            d = c & 255,
            dev = mix(c + 1) % keys,
        )
    };
    match kind {
        JobKind::Payments | JobKind::Advanced => ("payments", payment().into_bytes()),
        JobKind::Orders => ("orders", order(i, c, h).into_bytes()),
        JobKind::Crossed => {
            if i % 2 == 0 {
                ("orders", order(i / 2, c, h).into_bytes())
            } else {
                ("payments", payment().into_bytes())
            }
        }
        JobKind::Kyc => (
            "kyc_decisions",
            format!(
                r#"{{"kyc_ref":"KYC-{i}","customer_id":"CUST-{c}","decision":"{d}","doc_fingerprint":"doc_{f}","order_id":"ORD-{i}"}}"#,
                d = if h % 10 == 0 { "mineur" } else { "majeur" },
                f = mix(c) % keys,
            )
            .into_bytes(),
        ),
    }
}

fn order(i: u64, c: u64, h: u64) -> String {
    let kind = match h % 10 {
        0 => "cancelled",
        1 => "shipped",
        _ => "created",
    };
    format!(
        r#"{{"order_id":"ORD-{i}","customer_id":"CUST-{c}","event_type":"{kind}","subtotal":{s},"discount_amount":{d},"total_amount":{t},"items_count":{n},"delivery_country":"FR","shipping_method":"{m}","ip_address":"10.0.{a}.{b}"}}"#,
        s = 100 + h % 900,
        d = h % 50,
        t = 100 + h % 900,
        n = 1 + h % 6,
        m = if h % 3 == 0 { "express" } else { "standard" },
        a = (c >> 8) & 255,
        b = c & 255,
    )
}
