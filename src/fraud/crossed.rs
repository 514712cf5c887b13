//! The `crossed` job (FRAUD-X-1..4) over `payments` and `orders` together,
//! and the `kyc` job (FRAUD-KYC, C4) over `kyc_decisions`. Pure state
//! machines like `job`: cross-stream state (cancelled orders, order totals)
//! is kept 7 days of event time (C4).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use super::aggregates::KycAgg;
use super::engine::{LookBack, Measure, Millis, Tumbling, Watermarks};
use super::event::{self, DeadLetter};
use super::job::{Alert, Message, Ordered, Output, Reorder, WindowSettings};
use super::rules::{self, Settings, Severity};

const MINUTE: Millis = 60_000;
const DAY: Millis = 24 * 60 * MINUTE;

/// Thresholds of the crossed and kyc jobs (C4 defaults).
#[derive(Debug, Clone)]
pub struct CrossSettings {
    /// Relative gap between payment and order amounts above which they
    /// mismatch (5 %).
    pub amount_gap: f64,
    /// Cross velocity: more than N payments AND more than M orders per
    /// customer within the duration (3, 2, 2 min).
    pub velocity: (Millis, usize, usize),
    /// Shared IP: more than N distinct customers within the duration (2, 5 min).
    pub shared_ip: (Millis, usize),
    /// How long cancelled orders and order totals are kept (7 days).
    pub retention: Millis,
    /// `kyc_multiple_documents`: at least N distinct documents per customer
    /// within the duration (2, 10 min).
    pub kyc_documents: (Millis, usize),
    /// `kyc_minor_rate`: more than this share of `mineur` among at least
    /// `min_decisions` within the duration (30 %, 20, 30 min).
    pub kyc_minor_rate: (Millis, usize, f64),
}

impl Default for CrossSettings {
    fn default() -> CrossSettings {
        CrossSettings {
            amount_gap: 0.05,
            velocity: (2 * MINUTE, 3, 2),
            shared_ip: (5 * MINUTE, 2),
            retention: 7 * DAY,
            kyc_documents: (10 * MINUTE, 2),
            kyc_minor_rate: (30 * MINUTE, 20, 0.30),
        }
    }
}

fn dead(m: &Message, e: DeadLetter) -> Output {
    super::job::dead(m, e.0)
}

#[allow(clippy::too_many_arguments)]
fn alert(
    job: &'static str,
    m: &Message,
    ty: &'static str,
    severity: Severity,
    key: &str,
    ids: (Option<&str>, Option<&str>, Option<&str>),
    criteria: String,
    context: Value,
) -> Output {
    Output::Alert(Alert::for_message(
        job,
        m,
        (ty, severity),
        key,
        ids,
        vec![criteria],
        context,
    ))
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CrossedJob {
    #[serde(skip)]
    rules: Settings,
    #[serde(skip)]
    s: CrossSettings,
    watermarks: Watermarks,
    /// Events waiting for the watermark: the two topics are joined in
    /// event-time order, whatever order the consumer fetched them in.
    reorder: Reorder,
    /// order id → event time of its cancellation.
    cancelled: BTreeMap<String, Millis>,
    /// order id → (event time, total) of its last `created` event.
    totals: BTreeMap<String, (Millis, f64)>,
    /// (type, order id) already alerted (one alert per order and type).
    alerted: HashSet<(String, String)>,
    /// (event time, order id) of every cancellation and total recorded,
    /// oldest first: expiry visits only what the retention passed.
    #[serde(default)]
    order_times: std::collections::VecDeque<(Millis, String)>,
    payments: LookBack<String, ()>,
    orders: LookBack<String, ()>,
    velocity_fired: HashMap<String, bool>,
    shared_ip: LookBack<String, String>,
}

impl CrossedJob {
    pub const NAME: &'static str = "crossed";

    pub fn new(rules: Settings, w: &WindowSettings, s: CrossSettings) -> CrossedJob {
        CrossedJob {
            rules,
            watermarks: Watermarks::new(w.watermark_delay, w.idle_partition),
            reorder: Reorder::default(),
            cancelled: BTreeMap::new(),
            totals: BTreeMap::new(),
            alerted: HashSet::new(),
            order_times: Default::default(),
            payments: LookBack::new(s.velocity.0, usize::MAX, Measure::Count),
            orders: LookBack::new(s.velocity.0, usize::MAX, Measure::Count),
            velocity_fired: HashMap::new(),
            shared_ip: LookBack::new(s.shared_ip.0, s.shared_ip.1, Measure::Distinct),
            s,
        }
    }

    fn velocity(
        &mut self,
        m: &Message,
        customer: &str,
        ids: (Option<&str>, Option<&str>),
    ) -> Option<Output> {
        let t = m.timestamp;
        let key = customer.to_string();
        let (np, no) = (self.payments.peek(&key, t), self.orders.peek(&key, t));
        let hot = np > self.s.velocity.1 && no > self.s.velocity.2;
        let was = self
            .velocity_fired
            .insert(key.clone(), hot)
            .unwrap_or(false);
        if !hot {
            self.velocity_fired.remove(&key);
        }
        (hot && !was).then(|| {
            alert(
                Self::NAME,
                m,
                "cross_velocity",
                Severity::Haute,
                customer,
                (ids.0, ids.1, Some(customer)),
                format!("payments={np} orders={no} within 2min"),
                json!({ "payments": np, "orders": no }),
            )
        })
    }

    fn ip(
        &mut self,
        m: &Message,
        ip: Option<&str>,
        customer: &str,
        ids: (Option<&str>, Option<&str>),
    ) -> Option<Output> {
        let ip = ip?;
        let e = self
            .shared_ip
            .add(ip.to_string(), m.timestamp, customer.to_string());
        e.fire.then(|| {
            alert(
                Self::NAME,
                m,
                "shared_ip",
                Severity::Haute,
                ip,
                (ids.0, ids.1, Some(customer)),
                format!("distinct_customers={} within 5min", e.value),
                json!({ "distinct_customers": e.value }),
            )
        })
    }

    /// Every rule of this job joins the two topics: they all run when the
    /// watermark releases the event (see [`Reorder`]).
    pub fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        self.ordered_process(m, now)
    }

    fn join(&mut self, m: &Message) -> Vec<Output> {
        let mut out = Vec::new();
        let t = m.timestamp;
        if m.topic.ends_with("orders") {
            let o = match event::order(m.value) {
                Ok(o) => o,
                Err(e) => return vec![dead(m, e)],
            };
            match o.event_type.as_str() {
                "created" => {
                    self.totals.insert(o.order_id.clone(), (t, o.total_amount));
                    self.order_times.push_back((t, o.order_id.clone()));
                    self.orders.add(o.customer_id.clone(), t, ());
                    let ids = (None, Some(o.order_id.as_str()));
                    out.extend(self.velocity(m, &o.customer_id, ids));
                }
                "cancelled" => {
                    self.cancelled.insert(o.order_id.clone(), t);
                    self.order_times.push_back((t, o.order_id.clone()));
                }
                _ => {}
            }
            out.extend(self.ip(
                m,
                o.ip_address.as_deref(),
                &o.customer_id,
                (None, Some(&o.order_id)),
            ));
        } else {
            let p = match event::payment(m.value) {
                Ok(p) => p,
                Err(e) => return vec![dead(m, e)],
            };
            let ids = (Some(p.payment_id.as_str()), Some(p.order_id.as_str()));
            let cust = Some(p.customer_id.as_str());
            if p.status == "succeeded"
                && self.cancelled.get(&p.order_id).is_some_and(|c| *c <= t)
                && self
                    .alerted
                    .insert(("payment_on_cancelled_order".into(), p.order_id.clone()))
            {
                out.push(alert(
                    Self::NAME,
                    m,
                    "payment_on_cancelled_order",
                    Severity::Critique,
                    &p.order_id,
                    (ids.0, ids.1, cust),
                    "successful payment on a cancelled order".into(),
                    serde_json::to_value(&p).unwrap_or(Value::Null),
                ));
            }
            if let (Some(eur), Some((_, total))) = (
                rules::amount_eur(&p, &self.rules),
                self.totals.get(&p.order_id),
            ) {
                let gap = (eur - total).abs() / total;
                // In cents and basis points: exactly 5 % is never above it
                // by a rounding error.
                let (e_c, t_c) = ((eur * 100.0).round(), (total * 100.0).round());
                let bp = (self.s.amount_gap * 10_000.0).round();
                if t_c > 0.0
                    && (e_c - t_c).abs() * 10_000.0 > bp * t_c
                    && self
                        .alerted
                        .insert(("amount_mismatch".into(), p.order_id.clone()))
                {
                    out.push(alert(
                        Self::NAME,
                        m,
                        "amount_mismatch",
                        Severity::Critique,
                        &p.order_id,
                        (ids.0, ids.1, cust),
                        format!(
                            "payment {eur:.2} EUR vs order {total:.2} EUR: gap {:.1} % > {:.0} %",
                            gap * 100.0,
                            self.s.amount_gap * 100.0
                        ),
                        json!({ "payment_amount_eur": eur, "order_total": total }),
                    ));
                }
            }
            self.payments.add(p.customer_id.clone(), t, ());
            out.extend(self.velocity(m, &p.customer_id, ids));
            out.extend(self.ip(m, p.ip_address.as_deref(), &p.customer_id, ids));
        }
        out
    }

    /// Forgets state older than its retention (by event time).
    pub fn expire(&mut self, wm: Millis) {
        let keep = wm - self.s.retention;
        while self.order_times.front().is_some_and(|(t, _)| *t <= keep) {
            let Some((_, o)) = self.order_times.pop_front() else {
                break;
            };
            if self.cancelled.get(&o).is_some_and(|t| *t <= keep) {
                self.cancelled.remove(&o);
            }
            if self.totals.get(&o).is_some_and(|(t, _)| *t <= keep) {
                self.totals.remove(&o);
            }
            if !self.cancelled.contains_key(&o) && !self.totals.contains_key(&o) {
                for ty in ["payment_on_cancelled_order", "amount_mismatch"] {
                    self.alerted.remove(&(ty.to_string(), o.clone()));
                }
            }
        }
        self.payments.expire(wm);
        self.orders.expire(wm);
        self.shared_ip.expire(wm);
    }
}

impl Ordered for CrossedJob {
    fn parts(&mut self) -> (&mut Reorder, &mut Watermarks) {
        (&mut self.reorder, &mut self.watermarks)
    }
    fn on_arrival(&mut self, m: &Message) -> (Vec<Output>, bool) {
        let invalid = if m.topic.ends_with("orders") {
            event::order(m.value).err()
        } else {
            event::payment(m.value).err()
        };
        match invalid {
            Some(e) => (vec![dead(m, e)], false),
            None => (Vec::new(), true),
        }
    }
    fn evaluate(&mut self, m: &Message) -> Vec<Output> {
        self.join(m)
    }
    fn expire(&mut self, watermark: Millis) {
        CrossedJob::expire(self, watermark)
    }
}

impl super::job::StreamJob for CrossedJob {
    super::job::ordered_stream_job!();
    fn adopt(&mut self, old: Self) {
        self.watermarks.adopt(old.watermarks);
        self.reorder = old.reorder;
        self.cancelled = old.cancelled;
        self.totals = old.totals;
        self.alerted = old.alerted;
        self.order_times = old.order_times;
        self.payments.adopt(old.payments);
        self.orders.adopt(old.orders);
        self.velocity_fired = old.velocity_fired;
        self.shared_ip.adopt(old.shared_ip);
    }
    fn state_keys(&self) -> usize {
        self.cancelled.len()
            + self.totals.len()
            + self.alerted.len()
            + self.payments.keys()
            + self.orders.keys()
            + self.shared_ip.keys()
            + self.reorder.len()
    }
}

/// The `kyc` job: several documents for one customer; a burst of minors.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct KycJob {
    watermarks: Watermarks,
    /// Decisions waiting for the watermark (the minor share spans partitions).
    reorder: Reorder,
    documents: LookBack<String, String>,
    decisions: LookBack<(), ()>,
    minors: LookBack<(), ()>,
    minor_fired: bool,
    /// FRAUD-KYC-2 indicators per minute (for the time-series database).
    #[serde(default = "kyc_minute")]
    minute: Tumbling<String, KycAgg>,
    #[serde(skip)]
    s: CrossSettings,
}

fn kyc_minute() -> Tumbling<String, KycAgg> {
    Tumbling::new(MINUTE)
}

impl KycJob {
    pub const NAME: &'static str = "kyc";

    pub fn new(w: &WindowSettings, s: CrossSettings) -> KycJob {
        KycJob {
            watermarks: Watermarks::new(w.watermark_delay, w.idle_partition),
            reorder: Reorder::default(),
            // "at least N" = more than N − 1.
            documents: LookBack::new(
                s.kyc_documents.0,
                s.kyc_documents.1.saturating_sub(1),
                Measure::Distinct,
            ),
            decisions: LookBack::new(s.kyc_minor_rate.0, usize::MAX, Measure::Count),
            minors: LookBack::new(s.kyc_minor_rate.0, usize::MAX, Measure::Count),
            minor_fired: false,
            minute: kyc_minute(),
            s,
        }
    }

    /// Both rules run when the watermark releases the decision.
    pub fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        self.ordered_process(m, now)
    }

    /// The decision's JSON, or why it is a dead letter.
    fn read(m: &Message) -> Result<Value, DeadLetter> {
        let v: Value = match serde_json::from_slice(m.value) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Err(DeadLetter("not a JSON object".into())),
            Err(e) => return Err(DeadLetter(format!("invalid JSON: {e}"))),
        };
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        if field("customer_id").is_none() || field("decision").is_none() {
            return Err(DeadLetter(
                "missing required field `customer_id` or `decision`".into(),
            ));
        }
        Ok(v)
    }

    fn decide(&mut self, m: &Message) -> Vec<Output> {
        let Ok(v) = Self::read(m) else {
            return Vec::new();
        };
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        let (Some(customer), Some(decision)) = (field("customer_id"), field("decision")) else {
            return Vec::new();
        };
        let t = m.timestamp;
        // Released by the watermark, so never behind it: the slot is open.
        if let Some(a) = self.minute.slot("*".to_string(), t, None) {
            a.add(&v);
        }
        let mut out = Vec::new();
        if let Some(doc) = field("doc_fingerprint") {
            let e = self.documents.add(customer.to_string(), t, doc.to_string());
            if e.fire {
                out.push(alert(
                    Self::NAME,
                    m,
                    "kyc_multiple_documents",
                    Severity::Haute,
                    customer,
                    (None, field("order_id"), Some(customer)),
                    format!("distinct_documents={} within 10min", e.value),
                    json!({ "kyc_ref": field("kyc_ref"), "distinct_documents": e.value }),
                ));
            }
        }
        self.decisions.add((), t, ());
        if decision == "mineur" {
            self.minors.add((), t, ());
        }
        let (n, minors) = (self.decisions.peek(&(), t), self.minors.peek(&(), t));
        let (_, min_n, share) = self.s.kyc_minor_rate;
        let bp = (share * 10_000.0).round() as usize;
        let hot = n >= min_n && minors * 10_000 > bp * n;
        if hot && !self.minor_fired {
            out.push(alert(
                Self::NAME,
                m,
                "kyc_minor_rate",
                Severity::Avertissement,
                "*",
                (None, None, None),
                format!("mineur={minors}/{n} > {:.0} % within 30min", share * 100.0),
                json!({ "decisions": n, "minors": minors }),
            ));
        }
        self.minor_fired = hot;
        out
    }

    fn expire(&mut self, wm: Millis) {
        self.documents.expire(wm);
        self.decisions.expire(wm);
        self.minors.expire(wm);
    }
}

impl Ordered for KycJob {
    fn parts(&mut self) -> (&mut Reorder, &mut Watermarks) {
        (&mut self.reorder, &mut self.watermarks)
    }
    fn on_arrival(&mut self, m: &Message) -> (Vec<Output>, bool) {
        match Self::read(m) {
            Ok(_) => (Vec::new(), true),
            Err(e) => (vec![dead(m, e)], false),
        }
    }
    fn evaluate(&mut self, m: &Message) -> Vec<Output> {
        self.decide(m)
    }
    fn expire(&mut self, watermark: Millis) {
        KycJob::expire(self, watermark)
    }
    fn on_watermark(&mut self, watermark: Millis) -> Vec<Output> {
        self.minute
            .close(watermark)
            .into_iter()
            .map(|c| Output::Aggregate {
                name: "kyc_1m",
                key: c.key,
                start: c.start,
                end: c.end,
                value: c.value.to_json(),
            })
            .collect()
    }
}

impl super::job::StreamJob for KycJob {
    super::job::ordered_stream_job!();
    fn adopt(&mut self, old: Self) {
        self.watermarks.adopt(old.watermarks);
        self.reorder = old.reorder;
        self.documents.adopt(old.documents);
        self.decisions.adopt(old.decisions);
        self.minors.adopt(old.minors);
        self.minor_fired = old.minor_fired;
        self.minute = old.minute;
    }
    fn state_keys(&self) -> usize {
        self.documents.keys()
            + self.decisions.keys()
            + self.minors.keys()
            + self.reorder.len()
            + self.minute.open_windows()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_773_741_600_000;

    fn pay(id: &str, order: &str, cust: &str, eur: f64, status: &str, ip: &str) -> String {
        format!(
            r#"{{"payment_id":"{id}","order_id":"{order}","customer_id":"{cust}","amount":{eur},"currency":"EUR",
                 "amount_eur":{eur},"status":"{status}","risk_score":5,"ip_address":"{ip}"}}"#
        )
    }

    fn ord(id: &str, cust: &str, kind: &str, total: f64, ip: &str) -> String {
        format!(
            r#"{{"order_id":"{id}","customer_id":"{cust}","event_type":"{kind}","total_amount":{total},
                 "items_count":1,"ip_address":"{ip}"}}"#
        )
    }

    fn run(events: &[(&str, Millis, String)]) -> Vec<(&'static str, String, i64)> {
        let mut job = CrossedJob::new(
            Settings::default(),
            &WindowSettings::default(),
            CrossSettings::default(),
        );
        let mut fired = Vec::new();
        for (i, (topic, t, v)) in events.iter().enumerate() {
            let m = Message {
                topic,
                partition: 0,
                offset: i as i64,
                timestamp: *t,
                value: v.as_bytes(),
            };
            let mut outs = job.process(&m, 0);
            outs.extend(super::super::job::StreamJob::finish(&mut job));
            for o in outs {
                if let Output::Alert(a) = o {
                    fired.push((a.ty, a.key, i as i64));
                }
            }
        }
        fired
    }

    #[test]
    fn payment_on_a_cancelled_order_and_amount_gaps_at_five_percent() {
        let ev = [
            ("orders", T0, ord("O1", "U1", "created", 100.0, "1.1.1.1")),
            (
                "orders",
                T0 + 1,
                ord("O1", "U1", "cancelled", 100.0, "1.1.1.1"),
            ),
            (
                "payments",
                T0 + 2,
                pay("P1", "O1", "U1", 100.0, "declined", "1.1.1.1"),
            ),
            (
                "payments",
                T0 + 3,
                pay("P2", "O1", "U1", 100.0, "succeeded", "1.1.1.1"),
            ),
            (
                "orders",
                T0 + 4,
                ord("O2", "U2", "created", 200.0, "2.2.2.2"),
            ),
            // Exactly 5 %: no alert; above: one alert per order.
            (
                "payments",
                T0 + 5,
                pay("P3", "O2", "U2", 210.0, "succeeded", "2.2.2.2"),
            ),
            (
                "payments",
                T0 + 6,
                pay("P4", "O2", "U2", 210.02, "succeeded", "2.2.2.2"),
            ),
            (
                "payments",
                T0 + 7,
                pay("P5", "O2", "U2", 300.0, "succeeded", "2.2.2.2"),
            ),
        ];
        assert_eq!(
            run(&ev),
            [
                ("payment_on_cancelled_order", "O1".to_string(), 3),
                ("amount_mismatch", "O2".to_string(), 6)
            ]
        );
    }

    #[test]
    fn cross_velocity_needs_both_counts_above_their_thresholds() {
        let mut ev = Vec::new();
        for i in 0..3 {
            ev.push((
                "orders",
                T0 + i * 1_000,
                ord(&format!("O{i}"), "U", "created", 10.0, "9.9.9.9"),
            ));
            ev.push((
                "payments",
                T0 + i * 1_000 + 1,
                pay(
                    &format!("P{i}"),
                    &format!("O{i}"),
                    "U",
                    10.0,
                    "succeeded",
                    "9.9.9.9",
                ),
            ));
        }
        // 3 orders and 3 payments: payments not above 3.
        assert!(run(&ev).is_empty());
        ev.push((
            "payments",
            T0 + 5_000,
            pay("P3", "O2", "U", 10.0, "declined", "9.9.9.9"),
        ));
        assert_eq!(run(&ev), [("cross_velocity", "U".to_string(), 6)]);
    }

    #[test]
    fn shared_ip_counts_customers_over_both_streams() {
        let ev = [
            ("orders", T0, ord("O1", "U1", "created", 10.0, "7.7.7.7")),
            (
                "payments",
                T0 + 1_000,
                pay("P2", "O2", "U2", 10.0, "succeeded", "7.7.7.7"),
            ),
            (
                "payments",
                T0 + 2_000,
                pay("P3", "O1", "U1", 10.0, "succeeded", "7.7.7.7"),
            ),
            (
                "orders",
                T0 + 3_000,
                ord("O4", "U3", "created", 10.0, "7.7.7.7"),
            ),
        ];
        assert!(run(&ev[..3]).is_empty(), "2 customers");
        assert_eq!(run(&ev), [("shared_ip", "7.7.7.7".to_string(), 3)]);
    }

    #[test]
    fn kyc_minor_rate_needs_twenty_decisions_and_more_than_thirty_percent() {
        let mut job = KycJob::new(&WindowSettings::default(), CrossSettings::default());
        let mut fired = Vec::new();
        // 20 decisions, 6 minors (30 %): nothing; a 21st, minor (7/21 = 33 %): alert.
        for i in 0..21 {
            let decision = if i < 6 || i == 20 { "mineur" } else { "majeur" };
            let v = format!(
                r#"{{"kyc_ref":"K{i}","customer_id":"U{i}","decision":"{decision}","doc_fingerprint":"D{i}"}}"#
            );
            let m = Message {
                topic: "kyc_decisions",
                partition: 0,
                offset: i,
                timestamp: T0 + i * 1_000,
                value: v.as_bytes(),
            };
            let mut outs = job.process(&m, 0);
            outs.extend(super::super::job::StreamJob::finish(&mut job));
            for o in outs {
                if let Output::Alert(a) = o {
                    fired.push((a.ty, m.offset));
                }
            }
        }
        assert_eq!(fired, [("kyc_minor_rate", 20)]);
    }
}
