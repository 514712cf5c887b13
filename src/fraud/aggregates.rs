//! Window aggregates of the payments and orders jobs (FRAUD-PAY-4/5,
//! FRAUD-ORD-2/3) and the alerts decided when a window closes. Pure: they
//! are the `A` of `engine::Tumbling`. Money is summed in cents so that an
//! aggregate does not depend on the order of its events.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::event::{Order, Payment};

fn cents(eur: f64) -> i64 {
    (eur * 100.0).round() as i64
}

fn share(n: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

/// FRAUD-PAY-4: one currency's payments in a window.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PaymentAgg {
    pub count: u64,
    /// Σ amount in euros, in cents (payments whose euro amount is known).
    pub volume_eur_cents: i64,
    pub with_eur: u64,
    pub succeeded: u64,
    /// `declined` or `error`.
    pub failed: u64,
    pub fraud_flagged: u64,
    pub methods: BTreeMap<String, u64>,
}

impl PaymentAgg {
    pub fn add(&mut self, p: &Payment, eur: Option<f64>) {
        self.count += 1;
        if let Some(e) = eur {
            self.volume_eur_cents += cents(e);
            self.with_eur += 1;
        }
        match p.status.as_str() {
            "succeeded" => self.succeeded += 1,
            "declined" | "error" => self.failed += 1,
            _ => {}
        }
        self.fraud_flagged += u64::from(p.fraud_flag);
        let method = p.payment_method.clone().unwrap_or_else(|| "inconnu".into());
        *self.methods.entry(method).or_insert(0) += 1;
    }

    pub fn to_json(&self) -> Value {
        json!({
            "transactions": self.count,
            "volume_eur": self.volume_eur_cents as f64 / 100.0,
            "mean_amount_eur": (self.with_eur > 0)
                .then(|| self.volume_eur_cents as f64 / 100.0 / self.with_eur as f64),
            "success_rate": share(self.succeeded, self.count),
            "failure_rate": share(self.failed, self.count),
            "fraud_rate": share(self.fraud_flagged, self.count),
            "payment_methods": self.methods,
        })
    }
}

/// FRAUD-PAY-5: one payment provider's payments in a 5-minute window.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PspAgg {
    pub count: u64,
    /// Status `error` (C4: a PSP error).
    pub errors: u64,
}

impl PspAgg {
    pub fn add(&mut self, p: &Payment) {
        self.count += 1;
        self.errors += u64::from(p.status == "error");
    }

    /// `psp_error_rate`: the error rate strictly above `threshold` (0.20).
    pub fn alert(&self, threshold: f64) -> Option<String> {
        let bp = (threshold * 10_000.0).round() as u64;
        (self.count > 0 && self.errors * 10_000 > bp * self.count).then(|| {
            format!(
                "error_rate={}/{} > {:.0} %",
                self.errors,
                self.count,
                threshold * 100.0
            )
        })
    }
}

/// FRAUD-ORD-2: one delivery country's order events in a window.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderAgg {
    pub events: u64,
    /// `created` events: the orders of the window.
    pub orders: u64,
    pub volume_eur_cents: i64,
    pub items: i64,
    pub cancellations: u64,
    pub event_types: BTreeMap<String, u64>,
    pub delivery_methods: BTreeMap<String, u64>,
}

impl OrderAgg {
    pub fn add(&mut self, o: &Order) {
        self.events += 1;
        *self.event_types.entry(o.event_type.clone()).or_insert(0) += 1;
        match o.event_type.as_str() {
            "created" => {
                self.orders += 1;
                self.volume_eur_cents += cents(o.total_amount);
                self.items += o.items_count;
                let m = o
                    .delivery_method
                    .clone()
                    .unwrap_or_else(|| "inconnu".into());
                *self.delivery_methods.entry(m).or_insert(0) += 1;
            }
            "cancelled" => self.cancellations += 1,
            _ => {}
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "events": self.events,
            "orders": self.orders,
            "volume_eur": self.volume_eur_cents as f64 / 100.0,
            "average_basket_eur": (self.orders > 0)
                .then(|| self.volume_eur_cents as f64 / 100.0 / self.orders as f64),
            "mean_items": (self.orders > 0).then(|| self.items as f64 / self.orders as f64),
            "event_types": self.event_types,
            "cancellation_rate": share(self.cancellations, self.orders),
            "delivery_methods": self.delivery_methods,
        })
    }
}

/// FRAUD-ORD-3: the whole stream's orders in a window (not per key).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamAgg {
    pub cancellations: u64,
    /// `created` events, and those choosing express delivery.
    pub orders: u64,
    pub express: u64,
}

impl StreamAgg {
    pub fn add(&mut self, o: &Order) {
        match o.event_type.as_str() {
            "cancelled" => self.cancellations += 1,
            "created" => {
                self.orders += 1;
                self.express += u64::from(o.delivery_method.as_deref() == Some("express"));
            }
            _ => {}
        }
    }

    /// Combines partial aggregates (one per partition or process).
    pub fn merge(&mut self, o: &StreamAgg) {
        self.cancellations += o.cancellations;
        self.orders += o.orders;
        self.express += o.express;
    }

    /// `cancellation_spike`: more than `max` cancellations in the (1-minute)
    /// window; exactly `max` does not alert.
    pub fn cancellation_spike(&self, max: u64) -> Option<String> {
        (self.cancellations > max).then(|| format!("cancellations={} > {max}", self.cancellations))
    }

    /// `express_spike`: strictly more than `share` of the (5-minute) window's
    /// orders choose express; exactly 50 % does not alert.
    pub fn express_spike(&self, share: f64) -> Option<String> {
        let bp = (share * 10_000.0).round() as u64;
        (self.orders > 0 && self.express * 10_000 > bp * self.orders).then(|| {
            format!(
                "express={}/{} > {:.0} %",
                self.express,
                self.orders,
                share * 100.0
            )
        })
    }
}

/// FRAUD-KYC-2: the KYC decisions of a 1-minute window (operational
/// indicators for the time-series database).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KycAgg {
    pub decisions: u64,
    /// Decided without a human: `majeur` or `mineur`.
    pub automatic: u64,
    pub minors: u64,
    /// Sent to review because the document had expired.
    pub expired: u64,
    pub processing_ms_sum: i64,
    pub with_processing: u64,
    pub doc_types: BTreeMap<String, u64>,
}

impl KycAgg {
    pub fn add(&mut self, v: &Value) {
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        self.decisions += 1;
        match field("decision") {
            Some("majeur") => self.automatic += 1,
            Some("mineur") => {
                self.automatic += 1;
                self.minors += 1;
            }
            _ => {}
        }
        self.expired += u64::from(field("reason") == Some("document_expiré"));
        if let Some(ms) = v.get("processing_time_ms").and_then(Value::as_f64) {
            self.processing_ms_sum += ms.round() as i64;
            self.with_processing += 1;
        }
        let ty = field("doc_type").unwrap_or("inconnu").to_string();
        *self.doc_types.entry(ty).or_insert(0) += 1;
    }

    pub fn to_json(&self) -> Value {
        json!({
            "decisions": self.decisions,
            "automatic_rate": share(self.automatic, self.decisions),
            "minor_rate": share(self.minors, self.decisions),
            "expired_rate": share(self.expired, self.decisions),
            "mean_processing_ms": (self.with_processing > 0)
                .then(|| self.processing_ms_sum as f64 / self.with_processing as f64),
            "doc_types": self.doc_types,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fraud::event;

    fn payment(status: &str, psp: &str, eur: f64) -> Payment {
        event::payment(
            format!(
                r#"{{"payment_id":"P","order_id":"C","customer_id":"U","amount":{eur},"currency":"EUR",
                     "amount_eur":{eur},"status":"{status}","psp":"{psp}","payment_method":"card","risk_score":1}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn order(kind: &str, method: &str) -> Order {
        event::order(
            format!(
                r#"{{"order_id":"C","customer_id":"U","event_type":"{kind}","total_amount":10.10,
                     "items_count":2,"delivery_method":"{method}"}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn payment_aggregate_is_exact_in_cents_and_order_free() {
        let ps = [
            payment("succeeded", "a", 0.1),
            payment("declined", "a", 0.2),
            payment("error", "a", 0.3),
        ];
        let mut fwd = PaymentAgg::default();
        let mut rev = PaymentAgg::default();
        for p in &ps {
            fwd.add(p, p.amount_eur);
        }
        for p in ps.iter().rev() {
            rev.add(p, p.amount_eur);
        }
        assert_eq!(fwd, rev);
        let j = fwd.to_json();
        assert_eq!(j["volume_eur"], 0.6);
        assert_eq!(j["transactions"], 3);
        assert_eq!(j["failure_rate"], 2.0 / 3.0);
        assert_eq!(j["payment_methods"]["card"], 3);
    }

    #[test]
    fn psp_alert_is_strictly_above_twenty_percent() {
        let mut a = PspAgg::default();
        for i in 0..10 {
            a.add(&payment(
                if i < 2 { "error" } else { "succeeded" },
                "x",
                1.0,
            ));
        }
        assert_eq!(a.alert(0.20), None, "2/10 = 20 %");
        a.add(&payment("error", "x", 1.0));
        assert!(a.alert(0.20).is_some(), "3/11");
        // Declined is the customer's card, not the provider.
        let mut d = PspAgg::default();
        d.add(&payment("declined", "x", 1.0));
        assert_eq!(d.alert(0.20), None);
    }

    #[test]
    fn stream_spikes_at_their_exact_thresholds() {
        let mut s = StreamAgg::default();
        for _ in 0..10 {
            s.add(&order("cancelled", "standard"));
        }
        assert_eq!(s.cancellation_spike(10), None, "exactly 10");
        s.add(&order("cancelled", "standard"));
        assert!(s.cancellation_spike(10).is_some());
        let mut e = StreamAgg::default();
        e.add(&order("created", "express"));
        e.add(&order("created", "standard"));
        e.add(&order("shipped", "express"));
        assert_eq!(e.express_spike(0.5), None, "exactly 50 %");
        let mut partial = StreamAgg::default();
        partial.add(&order("created", "express"));
        e.merge(&partial);
        assert!(e.express_spike(0.5).is_some(), "2/3 after merging partials");
    }

    #[test]
    fn order_aggregate_per_country() {
        let mut a = OrderAgg::default();
        a.add(&order("created", "express"));
        a.add(&order("created", "relay"));
        a.add(&order("cancelled", "relay"));
        let j = a.to_json();
        assert_eq!(j["orders"], 2);
        assert_eq!(j["average_basket_eur"], 10.1);
        assert_eq!(j["cancellation_rate"], 0.5);
        assert_eq!(j["event_types"]["cancelled"], 1);
        assert_eq!(j["delivery_methods"]["express"], 1);
    }
}
