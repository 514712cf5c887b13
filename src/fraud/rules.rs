//! Per-event rules of the detection jobs (SPEC FRAUD-PAY-1/2/6, FRAUD-ORD-1,
//! FRAUD-ADV-2/3/4; CONTRACTS C3 types and severities, C4 semantics), with
//! the C4 defaults as settings. Pure: an event and the settings in, the
//! criteria met out. Windowed rules build on `engine`.

use std::collections::BTreeMap;

use regex::Regex;

use super::event::{Order, Payment};

/// C3 severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critique,
    Haute,
    Avertissement,
    Information,
}

impl Severity {
    /// The C3 string.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critique => "critique",
            Severity::Haute => "haute",
            Severity::Avertissement => "avertissement",
            Severity::Information => "information",
        }
    }
}

/// Thresholds and lists of the per-event rules (`[fraud]` of `kvt.toml`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Risk zones, applied to `ip_country` and `billing_country` (C4).
    pub risk_countries: Vec<String>,
    /// Fraudulent issuers: first six digits of the card (C4: a list file).
    pub bin_blacklist: Vec<String>,
    /// Risk score above which a payment is suspicious (FRAUD-PAY-1 b).
    pub high_risk_score: i64,
    /// "Moderate" score, inclusive, for a failed payment (C4: 40–70).
    pub moderate_score: (i64, i64),
    /// Statuses that count as a failure (C4: `declined`, `error`).
    pub failure_statuses: Vec<String>,
    /// Score from which a billing/IP country mismatch alerts (C4: 60).
    pub geo_mismatch_score: i64,
    /// Bot user agents (C4, case-insensitive).
    pub bot_pattern: Regex,
    /// Below this form time a bot user agent alerts (FRAUD-ADV-4: 300 ms).
    pub bot_max_processing_ms: i64,
    /// `amount_eur` above which a payment alerts (C4: 1,500).
    pub high_amount_eur: f64,
    /// Exchange rates to EUR used when `amount_eur` is missing.
    pub eur_rates: BTreeMap<String, f64>,
    /// Order total above which an order alerts (FRAUD-ORD-1: 3,000 €).
    pub order_high_amount_eur: f64,
    /// Discount share of the subtotal above which an order alerts (30 %).
    pub discount_share: f64,
    /// A cancellation of more than this many items alerts (4).
    pub cancellation_items: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            risk_countries: ["KP", "IR", "MM", "SY", "YE", "AF", "RU", "BY"]
                .map(String::from)
                .to_vec(),
            bin_blacklist: Vec::new(),
            high_risk_score: 70,
            moderate_score: (40, 70),
            failure_statuses: vec!["declined".into(), "error".into()],
            geo_mismatch_score: 60,
            bot_pattern: Regex::new(
                "(?i)bot|crawl|spider|headless|python-requests|curl|wget|scrapy|selenium|phantomjs",
            )
            .expect("the default bot pattern is valid"),
            bot_max_processing_ms: 300,
            high_amount_eur: 1_500.0,
            // Fallbacks only; the message's own `amount_eur` wins (C1).
            eur_rates: [("EUR", 1.0), ("USD", 0.92), ("GBP", 1.17), ("CHF", 1.04)]
                .into_iter()
                .map(|(c, r)| (c.to_string(), r))
                .collect(),
            order_high_amount_eur: 3_000.0,
            discount_share: 0.30,
            cancellation_items: 4,
        }
    }
}

/// The payment's amount in euros: its `amount_eur`, else `amount` converted
/// with the fallback rate of its currency (EUR: as is); `None` when neither
/// is known (the euro rules then do not apply).
pub fn amount_eur(p: &Payment, s: &Settings) -> Option<f64> {
    p.amount_eur.or_else(|| {
        s.eur_rates
            .get(&p.currency.to_ascii_uppercase())
            .map(|r| p.amount * r)
    })
}

/// The FRAUD-PAY-1 criteria a payment meets, by name (for the alert's
/// `criteria`).
pub fn direct_criteria(p: &Payment, s: &Settings) -> Vec<String> {
    let mut met = Vec::new();
    if p.fraud_flag {
        met.push("fraud_flag=true".to_string());
    }
    if p.risk_score > s.high_risk_score {
        met.push(format!(
            "risk_score={} > {}",
            p.risk_score, s.high_risk_score
        ));
    }
    let risky = |c: &Option<String>| {
        c.as_deref()
            .filter(|c| s.risk_countries.iter().any(|r| r.eq_ignore_ascii_case(c)))
            .map(str::to_string)
    };
    if let Some(c) = risky(&p.ip_country).or_else(|| risky(&p.billing_country)) {
        met.push(format!("risk_country={c}"));
    }
    let (lo, hi) = s.moderate_score;
    if s.failure_statuses.contains(&p.status) && (lo..=hi).contains(&p.risk_score) {
        met.push(format!(
            "status={} with moderate risk_score={}",
            p.status, p.risk_score
        ));
    }
    met
}

/// `payment_direct` (FRAUD-PAY-2): `critique` with two criteria or more,
/// `haute` with one, nothing without.
pub fn payment_direct(p: &Payment, s: &Settings) -> Option<(Severity, Vec<String>)> {
    let met = direct_criteria(p, s);
    match met.len() {
        0 => None,
        1 => Some((Severity::Haute, met)),
        _ => Some((Severity::Critique, met)),
    }
}

/// `high_amount` (FRAUD-PAY-6): `amount_eur` strictly above the threshold.
pub fn high_amount(p: &Payment, s: &Settings) -> Option<String> {
    let eur = amount_eur(p, s)?;
    (eur > s.high_amount_eur).then(|| format!("amount_eur={eur:.2} > {:.2}", s.high_amount_eur))
}

/// `bin_blacklist` (FRAUD-ADV-2): the card's first six digits are listed.
pub fn bin_blacklist(p: &Payment, s: &Settings) -> Option<String> {
    let bin = p.card_masked.as_deref()?.get(..6)?;
    s.bin_blacklist
        .iter()
        .any(|b| b == bin)
        .then(|| format!("bin={bin} blacklisted"))
}

/// `geo_mismatch` (FRAUD-ADV-3): billing country ≠ IP country and a risk
/// score at or above the threshold.
pub fn geo_mismatch(p: &Payment, s: &Settings) -> Option<String> {
    let (b, i) = (p.billing_country.as_deref()?, p.ip_country.as_deref()?);
    (!b.eq_ignore_ascii_case(i) && p.risk_score >= s.geo_mismatch_score).then(|| {
        format!(
            "billing_country={b} ip_country={i} risk_score={} >= {}",
            p.risk_score, s.geo_mismatch_score
        )
    })
}

/// `bot_pattern` (FRAUD-ADV-4): a bot user agent and a form filled in
/// faster than a human can.
pub fn bot_pattern(p: &Payment, s: &Settings) -> Option<String> {
    let ua = p.user_agent.as_deref()?;
    let ms = p.processing_time_ms?;
    (s.bot_pattern.is_match(ua) && ms < s.bot_max_processing_ms).then(|| {
        format!(
            "bot user agent, processing_time_ms={ms} < {}",
            s.bot_max_processing_ms
        )
    })
}

/// `order_high_amount` (FRAUD-ORD-1): total above the threshold, on the
/// order's `created` event (its later events repeat the same total: one
/// alert per order).
pub fn order_high_amount(o: &Order, s: &Settings) -> Option<String> {
    (o.event_type == "created" && o.total_amount > s.order_high_amount_eur).then(|| {
        format!(
            "total_amount={:.2} > {:.2}",
            o.total_amount, s.order_high_amount_eur
        )
    })
}

/// `order_discount_abuse` (FRAUD-ORD-1): discount strictly above the share
/// of the subtotal (exactly 30 % does not alert), on the `created` event.
pub fn order_discount_abuse(o: &Order, s: &Settings) -> Option<String> {
    if o.event_type != "created" {
        return None;
    }
    let (d, sub) = (o.discount?, o.subtotal?);
    // Cents and basis points, whole numbers: exactly 30 % is never above it
    // by a rounding error.
    let (d_c, sub_c) = ((d * 100.0).round(), (sub * 100.0).round());
    let share_bp = (s.discount_share * 10_000.0).round();
    (sub_c > 0.0 && d_c * 10_000.0 > share_bp * sub_c).then(|| {
        format!(
            "discount={d:.2} > {:.0} % of subtotal={sub:.2}",
            s.discount_share * 100.0
        )
    })
}

/// `order_large_cancellation` (FRAUD-ORD-1): a cancellation of more items
/// than the threshold.
pub fn order_large_cancellation(o: &Order, s: &Settings) -> Option<String> {
    (o.event_type == "cancelled" && o.items_count > s.cancellation_items).then(|| {
        format!(
            "cancelled with items_count={} > {}",
            o.items_count, s.cancellation_items
        )
    })
}

/// A C3 alert id: hex SHA-256 of the job, the type, the key and the
/// triggering events' `topic/partition/offset` (the same events give the
/// same id in a live run, after a restart and in a backtest).
pub fn alert_id(job: &str, ty: &str, key: &str, triggers: &[(&str, i32, i64)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [job, ty, key] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    for (topic, partition, offset) in triggers {
        h.update(format!("{topic}/{partition}/{offset}").as_bytes());
        h.update([0u8]);
    }
    format!("{:x}", h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay() -> Payment {
        Payment {
            payment_id: "P".into(),
            order_id: "C".into(),
            customer_id: "U".into(),
            amount: 100.0,
            currency: "EUR".into(),
            amount_eur: Some(100.0),
            status: "succeeded".into(),
            payment_method: Some("card".into()),
            psp: Some("adyen".into()),
            payment_session_id: Some("S".into()),
            card_masked: Some("497010******1234".into()),
            card_ref: Some("CARD".into()),
            risk_score: 10,
            fraud_flag: false,
            billing_country: Some("FR".into()),
            ip_address: Some("10.0.0.1".into()),
            ip_country: Some("FR".into()),
            device_fingerprint: Some("D".into()),
            user_agent: Some("Mozilla/5.0".into()),
            processing_time_ms: Some(5_000),
        }
    }

    fn ord() -> Order {
        Order {
            order_id: "C".into(),
            customer_id: "U".into(),
            event_type: "created".into(),
            total_amount: 100.0,
            subtotal: Some(100.0),
            discount: Some(0.0),
            items_count: 1,
            delivery_country: Some("FR".into()),
            delivery_method: Some("standard".into()),
            channel: Some("web".into()),
            ip_address: None,
        }
    }

    #[test]
    fn direct_detection_counts_criteria_at_the_exact_thresholds() {
        let s = Settings::default();
        assert_eq!(payment_direct(&pay(), &s), None);
        // Risk score 70 is not above 70.
        let p = Payment {
            risk_score: 70,
            ..pay()
        };
        assert_eq!(payment_direct(&p, &s), None);
        let p = Payment {
            risk_score: 71,
            ..pay()
        };
        assert_eq!(payment_direct(&p, &s).unwrap().0, Severity::Haute);
        // Declined with 40 and with 70 are moderate (inclusive); 39 is not.
        for (score, hit) in [(39, false), (40, true), (70, true)] {
            let p = Payment {
                status: "declined".into(),
                risk_score: score,
                ..pay()
            };
            assert_eq!(payment_direct(&p, &s).is_some(), hit, "score {score}");
        }
        // A pending payment with a moderate score is not a failure.
        let p = Payment {
            status: "pending".into(),
            risk_score: 50,
            ..pay()
        };
        assert_eq!(payment_direct(&p, &s), None);
        // Two criteria: critique.
        let p = Payment {
            fraud_flag: true,
            ip_country: Some("ru".into()),
            ..pay()
        };
        let (sev, crit) = payment_direct(&p, &s).unwrap();
        assert_eq!(sev, Severity::Critique);
        assert_eq!(crit, ["fraud_flag=true", "risk_country=ru"]);
        // The billing country counts too.
        let p = Payment {
            billing_country: Some("KP".into()),
            ..pay()
        };
        assert_eq!(payment_direct(&p, &s).unwrap().1, ["risk_country=KP"]);
    }

    #[test]
    fn high_amount_uses_amount_eur_then_the_fallback_rate() {
        let s = Settings::default();
        let p = Payment {
            amount_eur: Some(1_500.0),
            ..pay()
        };
        assert!(high_amount(&p, &s).is_none(), "1500.00 is not above 1500");
        let p = Payment {
            amount_eur: Some(1_500.01),
            ..pay()
        };
        assert!(high_amount(&p, &s).is_some());
        // No amount_eur: EUR as is, other currencies converted.
        let p = Payment {
            amount_eur: None,
            amount: 1_600.0,
            ..pay()
        };
        assert!(high_amount(&p, &s).is_some());
        let p = Payment {
            amount_eur: None,
            amount: 1_600.0,
            currency: "USD".into(),
            ..pay()
        };
        assert!(high_amount(&p, &s).is_none(), "1600 USD = 1472 EUR");
        let p = Payment {
            amount_eur: None,
            amount: 9e9,
            currency: "XXX".into(),
            ..pay()
        };
        assert!(
            high_amount(&p, &s).is_none(),
            "unknown currency: no euro rule"
        );
    }

    #[test]
    fn advanced_per_event_rules() {
        let s = Settings {
            bin_blacklist: vec!["497010".into()],
            ..Settings::default()
        };
        assert!(bin_blacklist(&pay(), &s).is_some());
        assert!(bin_blacklist(
            &Payment {
                card_masked: None,
                ..pay()
            },
            &s
        )
        .is_none());
        assert!(bin_blacklist(
            &Payment {
                card_masked: Some("4970".into()),
                ..pay()
            },
            &s
        )
        .is_none());
        let p = Payment {
            billing_country: Some("DE".into()),
            risk_score: 59,
            ..pay()
        };
        assert!(geo_mismatch(&p, &s).is_none(), "59 < 60");
        assert!(geo_mismatch(
            &Payment {
                risk_score: 60,
                ..p
            },
            &s
        )
        .is_some());
        let bot = Payment {
            user_agent: Some("python-requests/2.31".into()),
            processing_time_ms: Some(299),
            ..pay()
        };
        assert!(bot_pattern(&bot, &s).is_some());
        assert!(bot_pattern(
            &Payment {
                processing_time_ms: Some(300),
                ..bot.clone()
            },
            &s
        )
        .is_none());
        assert!(bot_pattern(
            &Payment {
                user_agent: Some("HeadlessChrome/120".into()),
                ..bot
            },
            &s
        )
        .is_some());
    }

    #[test]
    fn order_rules_at_their_thresholds() {
        let s = Settings::default();
        assert!(order_high_amount(
            &Order {
                total_amount: 3_000.0,
                ..ord()
            },
            &s
        )
        .is_none());
        assert!(order_high_amount(
            &Order {
                total_amount: 3_000.01,
                ..ord()
            },
            &s
        )
        .is_some());
        // Exactly 30 % (even when the floats are not exact) does not alert.
        let o = Order {
            subtotal: Some(33.3),
            discount: Some(9.99),
            ..ord()
        };
        assert!(order_discount_abuse(&o, &s).is_none());
        let o = Order {
            subtotal: Some(33.3),
            discount: Some(10.0),
            ..ord()
        };
        assert!(order_discount_abuse(&o, &s).is_some());
        let c = Order {
            event_type: "cancelled".into(),
            items_count: 4,
            ..ord()
        };
        assert!(order_large_cancellation(&c, &s).is_none());
        assert!(order_large_cancellation(
            &Order {
                items_count: 5,
                ..c
            },
            &s
        )
        .is_some());
        let created = Order {
            items_count: 9,
            ..ord()
        };
        // Amount and discount: once per order, on its creation.
        let shipped = Order {
            event_type: "shipped".into(),
            total_amount: 5_000.0,
            ..ord()
        };
        assert!(order_high_amount(&shipped, &s).is_none());
        assert!(order_large_cancellation(&created, &s).is_none());
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        let a = alert_id("advanced", "card_testing", "S-1", &[("payments", 2, 41)]);
        assert_eq!(
            a,
            alert_id("advanced", "card_testing", "S-1", &[("payments", 2, 41)])
        );
        assert_eq!(a.len(), 64);
        assert_ne!(
            a,
            alert_id("advanced", "card_testing", "S-1", &[("payments", 2, 42)])
        );
        assert_ne!(
            a,
            alert_id("advanced", "card_testin", "gS-1", &[("payments", 2, 41)])
        );
    }
}
