//! The `advanced` job (FRAUD-ADV-1..6): per-event rules (BIN blacklist,
//! geographic mismatch, bot pattern) and look-back rules evaluated on each
//! event (card testing per payment session, card portfolio per customer,
//! shared device), firing once per (type, key) until they fall back (C4).
//! Keyed state expires with the watermark. Pure, like `job`.

use super::engine::{LookBack, Measure, Millis, Watermarks};
use super::event::{self, Payment};
use super::job::{Alert, Message, Ordered, Output, Reorder, WindowSettings};
use super::rules::{self, Settings, Severity};

/// Look-back thresholds (C4 defaults): fire when the measure is **above**.
#[derive(Debug, Clone)]
pub struct LookBackSettings {
    /// Card testing: more than 3 attempts in 5 s per payment session.
    pub card_testing: (Millis, usize),
    /// Card portfolio: more than 2 distinct cards in 10 min per customer.
    pub card_portfolio: (Millis, usize),
    /// Shared device: more than 3 distinct customers in 5 min per device.
    pub shared_device: (Millis, usize),
}

impl Default for LookBackSettings {
    fn default() -> LookBackSettings {
        LookBackSettings {
            card_testing: (5_000, 3),
            card_portfolio: (10 * 60_000, 2),
            shared_device: (5 * 60_000, 3),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct AdvancedJob {
    #[serde(skip)]
    rules: Settings,
    watermarks: Watermarks,
    /// Payments waiting for the watermark (look-back rules run in event-time order).
    reorder: Reorder,
    card_testing: LookBack<String, ()>,
    card_portfolio: LookBack<String, String>,
    shared_device: LookBack<String, String>,
}

impl AdvancedJob {
    pub const NAME: &'static str = "advanced";

    pub fn new(rules: Settings, windows: &WindowSettings, lb: &LookBackSettings) -> AdvancedJob {
        AdvancedJob {
            rules,
            watermarks: Watermarks::new(windows.watermark_delay, windows.idle_partition),
            reorder: Reorder::default(),
            card_testing: LookBack::new(lb.card_testing.0, lb.card_testing.1, Measure::Count),
            card_portfolio: LookBack::new(
                lb.card_portfolio.0,
                lb.card_portfolio.1,
                Measure::Distinct,
            ),
            shared_device: LookBack::new(lb.shared_device.0, lb.shared_device.1, Measure::Distinct),
        }
    }

    fn alert(
        m: &Message,
        p: &Payment,
        ty: &'static str,
        severity: Severity,
        key: &str,
        criteria: Vec<String>,
    ) -> Output {
        Output::Alert(Alert::for_payment(
            Self::NAME,
            m,
            (ty, severity),
            key,
            p,
            criteria,
        ))
    }

    /// Per-event rules at once; look-back rules when the watermark passes
    /// the payment (in event-time order, see [`Reorder`]).
    pub fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        self.ordered_process(m, now)
    }

    fn event_checks(&self, m: &Message) -> (Vec<Output>, bool) {
        let p = match event::payment(m.value) {
            Ok(p) => p,
            Err(e) => return (vec![super::job::dead(m, e.0)], false),
        };
        let mut out = Vec::new();
        let per_event = [
            (
                "bin_blacklist",
                Severity::Critique,
                rules::bin_blacklist(&p, &self.rules),
            ),
            (
                "geo_mismatch",
                Severity::Haute,
                rules::geo_mismatch(&p, &self.rules),
            ),
            (
                "bot_pattern",
                Severity::Haute,
                rules::bot_pattern(&p, &self.rules),
            ),
        ];
        for (ty, sev, hit) in per_event {
            if let Some(c) = hit {
                out.push(Self::alert(m, &p, ty, sev, &p.payment_id, vec![c]));
            }
        }
        (out, true)
    }

    fn look_back(&mut self, m: &Message) -> Vec<Output> {
        let Ok(p) = event::payment(m.value) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let t = m.timestamp;
        if let Some(session) = &p.payment_session_id {
            let e = self.card_testing.add(session.clone(), t, ());
            if e.fire {
                let c = format!("attempts={} within 5s", e.value);
                out.push(Self::alert(
                    m,
                    &p,
                    "card_testing",
                    Severity::Critique,
                    session,
                    vec![c],
                ));
            }
        }
        if let Some(card) = &p.card_ref {
            let e = self
                .card_portfolio
                .add(p.customer_id.clone(), t, card.clone());
            if e.fire {
                let c = format!("distinct_cards={} within 10min", e.value);
                out.push(Self::alert(
                    m,
                    &p,
                    "card_portfolio",
                    Severity::Critique,
                    &p.customer_id,
                    vec![c],
                ));
            }
        }
        if let Some(device) = &p.device_fingerprint {
            let e = self
                .shared_device
                .add(device.clone(), t, p.customer_id.clone());
            if e.fire {
                let c = format!("distinct_customers={} within 5min", e.value);
                out.push(Self::alert(
                    m,
                    &p,
                    "shared_device",
                    Severity::Haute,
                    device,
                    vec![c],
                ));
            }
        }
        out
    }

    /// Forgets keyed state the watermark made irrelevant.
    pub fn expire(&mut self, watermark: Millis) {
        self.card_testing.expire(watermark);
        self.card_portfolio.expire(watermark);
        self.shared_device.expire(watermark);
    }

    /// Keys held in state (flat on an endless stream).
    pub fn keys_held(&self) -> usize {
        self.card_testing.keys() + self.card_portfolio.keys() + self.shared_device.keys()
    }
}

impl Ordered for AdvancedJob {
    fn parts(&mut self) -> (&mut Reorder, &mut Watermarks) {
        (&mut self.reorder, &mut self.watermarks)
    }
    fn on_arrival(&mut self, m: &Message) -> (Vec<Output>, bool) {
        self.event_checks(m)
    }
    fn evaluate(&mut self, m: &Message) -> Vec<Output> {
        self.look_back(m)
    }
    fn expire(&mut self, watermark: Millis) {
        AdvancedJob::expire(self, watermark)
    }
}

impl super::job::StreamJob for AdvancedJob {
    super::job::ordered_stream_job!();
    fn adopt(&mut self, old: Self) {
        self.watermarks.adopt(old.watermarks);
        self.reorder = old.reorder;
        self.card_testing.adopt(old.card_testing);
        self.card_portfolio.adopt(old.card_portfolio);
        self.shared_device.adopt(old.shared_device);
    }
    fn state_keys(&self) -> usize {
        self.keys_held() + self.reorder.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_773_741_600_000;

    fn pay(id: &str, session: &str, customer: &str, card: &str, device: &str) -> String {
        format!(
            r#"{{"payment_id":"{id}","order_id":"C","customer_id":"{customer}","amount":10,"currency":"EUR",
                 "amount_eur":10,"status":"succeeded","risk_score":5,"payment_session_id":"{session}",
                 "card_ref":"{card}","device_fingerprint":"{device}","billing_country":"FR","ip_country":"FR"}}"#
        )
    }

    fn run(events: &[(Millis, String)]) -> Vec<(&'static str, String, i64)> {
        let mut job = AdvancedJob::new(
            Settings::default(),
            &WindowSettings::default(),
            &LookBackSettings::default(),
        );
        let mut fired = Vec::new();
        for (i, (t, v)) in events.iter().enumerate() {
            let m = Message {
                topic: "payments",
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
    fn card_testing_fires_on_the_fourth_attempt_within_5s_once() {
        let ev: Vec<(Millis, String)> = (0..6)
            .map(|i| {
                (
                    T0 + i * 1_000,
                    pay(
                        &format!("P{i}"),
                        "S1",
                        &format!("U{i}"),
                        "K",
                        &format!("D{i}"),
                    ),
                )
            })
            .collect();
        // Attempts at 0..5 s: (t − 5 s, t] holds 4 at t = 3 s (offset 3).
        assert_eq!(run(&ev), [("card_testing", "S1".to_string(), 3)]);
        // Exactly 3 attempts: nothing.
        assert!(run(&ev[..3]).is_empty());
    }

    #[test]
    fn portfolio_and_shared_device_at_their_thresholds() {
        let ev = vec![
            (T0, pay("P1", "S1", "U1", "K1", "D")),
            (T0 + 60_000, pay("P2", "S2", "U1", "K2", "D")),
            (T0 + 120_000, pay("P3", "S3", "U2", "K3", "D")),
            (T0 + 180_000, pay("P4", "S4", "U1", "K3", "D")),
            (T0 + 240_000, pay("P5", "S5", "U3", "K9", "D")),
            (T0 + 250_000, pay("P6", "S6", "U4", "K8", "D")),
        ];
        // U1: K1, K2, K3 → 3 distinct cards at P4 (offset 3). Device D: U1, U2,
        // U3 (3: not above) then U4 at offset 5.
        assert_eq!(
            run(&ev),
            [
                ("card_portfolio", "U1".to_string(), 3),
                ("shared_device", "D".to_string(), 5)
            ]
        );
    }

    #[test]
    fn keyed_state_expires_with_the_watermark() {
        let mut job = AdvancedJob::new(
            Settings::default(),
            &WindowSettings::default(),
            &LookBackSettings::default(),
        );
        for i in 0..500 {
            let v = pay(
                &format!("P{i}"),
                &format!("S{i}"),
                &format!("U{i}"),
                &format!("K{i}"),
                &format!("D{i}"),
            );
            let m = Message {
                topic: "payments",
                partition: 0,
                offset: i,
                timestamp: T0 + i * 1_000,
                value: v.as_bytes(),
            };
            job.process(&m, 0);
        }
        // Ten minutes of event time after the last one.
        let v = pay("Z", "SZ", "UZ", "KZ", "DZ");
        let m = Message {
            topic: "payments",
            partition: 0,
            offset: 500,
            timestamp: T0 + 500_000 + 11 * 60_000,
            value: v.as_bytes(),
        };
        job.process(&m, 0);
        use super::super::job::StreamJob;
        assert_eq!(job.keys_held(), 0, "everything before expired");
        assert_eq!(
            job.state_keys(),
            1,
            "the last payment waits for the watermark"
        );
        job.finish();
        assert_eq!(job.keys_held(), 3, "only the last event's keys remain");
    }
}
