//! The `payments` and `orders` jobs as pure state machines (FRAUD-PAY-*,
//! FRAUD-ORD-*): a Kafka message in (topic, partition, offset, timestamp,
//! value), outputs out (alerts, closed window aggregates, late events, dead
//! letters). The same messages in the same per-partition order give the same
//! outputs, whether they come from a live consumer or from bronze (backtest).

use serde_json::{json, Value};

use super::aggregates::{OrderAgg, PaymentAgg, PspAgg, StreamAgg};
use super::engine::{Millis, Tumbling, Watermarks};
use super::event::{self, Order, Payment};
use super::rules::{self, Settings, Severity};

const MINUTE: Millis = 60_000;

/// One consumed message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// The Kafka timestamp: the event time (FRAUD-2).
    pub timestamp: Millis,
    pub value: &'a [u8],
}

/// A C3 alert (without `generated_at`, which the writer adds).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    pub alert_id: String,
    pub job: &'static str,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub severity: Severity,
    pub criteria: Vec<String>,
    pub key: String,
    pub payment_id: Option<String>,
    pub order_id: Option<String>,
    pub customer_id: Option<String>,
    /// Event time of the trigger, or the window's end.
    pub event_time: Millis,
    pub window_start: Option<Millis>,
    pub window_end: Option<Millis>,
    pub context: Value,
}

fn rfc3339(ms: Millis) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
        .unwrap_or(Value::Null)
}

/// The ids an alert carries (C3): payment, order, customer.
pub type AlertIds<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

impl Alert {
    /// An alert raised by one message: its id hashes the job, type, key and
    /// the message's position (C3).
    pub fn for_message(
        job: &'static str,
        m: &Message,
        (ty, severity): (&'static str, Severity),
        key: &str,
        ids: AlertIds,
        criteria: Vec<String>,
        context: Value,
    ) -> Alert {
        Alert {
            alert_id: rules::alert_id(job, ty, key, &trigger(m)),
            job,
            ty,
            severity,
            criteria,
            key: key.to_string(),
            payment_id: ids.0.map(str::to_string),
            order_id: ids.1.map(str::to_string),
            customer_id: ids.2.map(str::to_string),
            event_time: m.timestamp,
            window_start: None,
            window_end: None,
            context,
        }
    }

    /// An alert raised by one payment, carrying its ids and the payment as
    /// context.
    pub fn for_payment(
        job: &'static str,
        m: &Message,
        rule: (&'static str, Severity),
        key: &str,
        p: &Payment,
        criteria: Vec<String>,
    ) -> Alert {
        let ids = (
            Some(p.payment_id.as_str()),
            Some(p.order_id.as_str()),
            Some(p.customer_id.as_str()),
        );
        let context = serde_json::to_value(p).unwrap_or(Value::Null);
        Alert::for_message(job, m, rule, key, ids, criteria, context)
    }

    /// The alert as the C3 JSON document published and archived;
    /// `generated_at` is the only field that differs between a live run and
    /// a replay (it is not part of the id).
    pub fn to_c3(&self, generated_at: Millis) -> Value {
        json!({
            "alert_id": self.alert_id,
            "job": self.job,
            "type": self.ty,
            "severity": self.severity,
            "criteria": self.criteria,
            "key": self.key,
            "payment_id": self.payment_id,
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "event_time": rfc3339(self.event_time),
            "window_start": self.window_start.map_or(Value::Null, rfc3339),
            "window_end": self.window_end.map_or(Value::Null, rfc3339),
            "generated_at": rfc3339(generated_at),
            "context": self.context,
        })
    }
}

/// What processing a message (or the passing of time) produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Alert(Alert),
    /// A closed window's aggregate (archived for dashboards).
    Aggregate {
        name: &'static str,
        key: String,
        start: Millis,
        end: Millis,
        value: Value,
    },
    /// An event behind the watermark: counted and archived, kept out of
    /// closed windows (C4).
    Late {
        topic: String,
        partition: i32,
        offset: i64,
        timestamp: Millis,
    },
    /// A message that cannot be read (C1): to `kvt_dead_letters`.
    DeadLetter {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
}

/// What the runner needs of a job: messages in, outputs out, the passing of
/// processing time, and its state in and out of checkpoints.
pub trait StreamJob: serde::Serialize + serde::de::DeserializeOwned {
    /// Processes one message at processing time `now`.
    fn process(&mut self, m: &Message, now: Millis) -> Vec<Output>;
    /// Advances the watermark at `now`: closes windows, expires state.
    fn tick(&mut self, now: Millis) -> Vec<Output>;
    /// The job's event-time clock (to declare assigned partitions).
    fn watermarks_mut(&mut self) -> &mut Watermarks;
    /// Takes the state of `old` (restored from a checkpoint, without
    /// configuration), keeping this instance's configuration.
    fn adopt(&mut self, old: Self);
    /// Keys and windows held in state (flat on an endless stream).
    fn state_keys(&self) -> usize;
    /// Only the rules that need nothing but the event, and the dead letter
    /// of an unreadable one (a source task of a scaled-out job, see
    /// `fraud::shard`). `None`: the message is a dead letter.
    fn per_event(&mut self, m: &Message) -> (Vec<Output>, bool);
    /// The end of a bounded input: evaluates what still waits for the
    /// watermark (tests; a live run and a backtest never call it, so that
    /// they agree).
    fn finish(&mut self) -> Vec<Output> {
        Vec::new()
    }
}

impl StreamJob for PaymentsJob {
    fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        PaymentsJob::process(self, m, now)
    }
    fn per_event(&mut self, m: &Message) -> (Vec<Output>, bool) {
        match self.checks(m) {
            Ok((_, out)) => (out, true),
            Err(dead) => (vec![*dead], false),
        }
    }
    fn tick(&mut self, now: Millis) -> Vec<Output> {
        PaymentsJob::tick(self, now)
    }
    fn watermarks_mut(&mut self) -> &mut Watermarks {
        &mut self.watermarks
    }
    fn adopt(&mut self, old: Self) {
        self.watermarks.adopt(old.watermarks);
        self.currency_1m = old.currency_1m;
        self.currency_5m = old.currency_5m;
        self.psp_5m = old.psp_5m;
    }
    fn state_keys(&self) -> usize {
        self.currency_1m.open_windows()
            + self.currency_5m.open_windows()
            + self.psp_5m.open_windows()
    }
}

impl StreamJob for OrdersJob {
    fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        OrdersJob::process(self, m, now)
    }
    fn per_event(&mut self, m: &Message) -> (Vec<Output>, bool) {
        match self.checks(m) {
            Ok((_, out)) => (out, true),
            Err(dead) => (vec![*dead], false),
        }
    }
    fn tick(&mut self, now: Millis) -> Vec<Output> {
        OrdersJob::tick(self, now)
    }
    fn watermarks_mut(&mut self) -> &mut Watermarks {
        &mut self.watermarks
    }
    fn adopt(&mut self, old: Self) {
        self.watermarks.adopt(old.watermarks);
        self.country_1m = old.country_1m;
        self.country_5m = old.country_5m;
        self.stream_1m = old.stream_1m;
        self.stream_5m = old.stream_5m;
    }
    fn state_keys(&self) -> usize {
        self.country_1m.open_windows()
            + self.country_5m.open_windows()
            + self.stream_1m.open_windows()
            + self.stream_5m.open_windows()
    }
}

/// Messages held until the watermark passes their event time, released in
/// (event time, topic, partition, offset) order. Rules whose state spans
/// partitions or topics (a device used by several customers, payments
/// joined with orders, the share of minors) then see one order — the event
/// times' — live, after a restart and in a replay, and each look-back
/// window is exactly `(t − duration, t]` (C4).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Reorder {
    pending: std::collections::BTreeMap<(Millis, String, i32, i64), Vec<u8>>,
}

impl Reorder {
    pub fn push(&mut self, m: &Message) {
        self.pending.insert(
            (m.timestamp, m.topic.to_string(), m.partition, m.offset),
            m.value.to_vec(),
        );
    }

    /// The messages at or before the watermark, in order.
    pub fn release(&mut self, watermark: Option<Millis>) -> Vec<super::replay::Recorded> {
        let Some(wm) = watermark else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(e) = self.pending.first_entry() {
            if e.key().0 > wm {
                break;
            }
            let ((timestamp, topic, partition, offset), value) = e.remove_entry();
            out.push(super::replay::Recorded {
                topic,
                partition,
                offset,
                timestamp,
                value,
            });
        }
        out
    }

    /// Everything held, in order (the end of a bounded input, in tests).
    pub fn drain(&mut self) -> Vec<super::replay::Recorded> {
        self.release(Some(Millis::MAX))
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The `StreamJob` methods of an [`Ordered`] job with a `watermarks` field.
macro_rules! ordered_stream_job {
    () => {
        fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
            self.ordered_process(m, now)
        }
        fn tick(&mut self, now: Millis) -> Vec<Output> {
            self.ordered_tick(now)
        }
        fn watermarks_mut(&mut self) -> &mut Watermarks {
            &mut self.watermarks
        }
        fn finish(&mut self) -> Vec<Output> {
            self.drain_held()
        }
        fn per_event(&mut self, m: &Message) -> (Vec<Output>, bool) {
            self.on_arrival(m)
        }
    };
}
pub(crate) use ordered_stream_job;

/// A job whose stateful rules run in event-time order: per-event checks
/// (and dead letters) at once, the rest when the watermark releases the
/// message. A message already behind the watermark gets its per-event
/// checks, is reported late (archived) and stays out of the keyed state, as
/// a late event stays out of closed windows: letting it in at whatever
/// moment it arrived would make the alerts depend on fetch timing.
pub trait Ordered {
    fn parts(&mut self) -> (&mut Reorder, &mut Watermarks);
    /// On arrival: per-event rules; `false` when the message is a dead
    /// letter (the outputs say why) and must not be held.
    fn on_arrival(&mut self, m: &Message) -> (Vec<Output>, bool);
    /// In event-time order: the stateful rules.
    fn evaluate(&mut self, m: &Message) -> Vec<Output>;
    /// Forgets state the watermark made irrelevant.
    fn expire(&mut self, watermark: Millis);
    /// Closes what the watermark passed (window aggregates).
    fn on_watermark(&mut self, _watermark: Millis) -> Vec<Output> {
        Vec::new()
    }

    fn ordered_process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        let (mut out, keep) = self.on_arrival(m);
        if keep {
            let (reorder, watermarks) = self.parts();
            if watermarks.is_late_on(m.topic, m.partition, m.timestamp) {
                out.push(late(m));
            } else {
                reorder.push(m);
            }
            // A dead letter's timestamp does not move event time (as in
            // the payments and orders jobs).
            watermarks.observe(m.topic, m.partition, m.timestamp, now);
        }
        out.extend(self.ordered_tick(now));
        out
    }

    fn ordered_tick(&mut self, now: Millis) -> Vec<Output> {
        let (reorder, watermarks) = self.parts();
        let wm = watermarks.advance(now);
        let mut out = Vec::new();
        for r in reorder.release(wm) {
            out.extend(self.evaluate(&r.message()));
        }
        if let Some(wm) = wm {
            out.extend(self.on_watermark(wm));
            self.expire(wm);
        }
        out
    }

    /// Evaluates everything still held (end of a bounded input; tests).
    fn drain_held(&mut self) -> Vec<Output> {
        let held = self.parts().0.drain();
        held.iter()
            .flat_map(|r| self.evaluate(&r.message()))
            .collect()
    }
}

/// Thresholds of the windowed rules of these two jobs (C4 defaults).
#[derive(Debug, Clone)]
pub struct WindowSettings {
    pub watermark_delay: Millis,
    pub idle_partition: Millis,
    pub psp_error_rate: f64,
    pub max_cancellations_per_minute: u64,
    pub express_share: f64,
}

impl Default for WindowSettings {
    fn default() -> WindowSettings {
        WindowSettings {
            watermark_delay: 10_000,
            idle_partition: 60_000,
            psp_error_rate: 0.20,
            max_cancellations_per_minute: 10,
            express_share: 0.50,
        }
    }
}

/// Closes the windows of `w` the watermark passed, as archived aggregates.
fn close_into<A: Default>(
    out: &mut Vec<Output>,
    name: &'static str,
    w: &mut Tumbling<String, A>,
    wm: Millis,
    to_json: fn(&A) -> Value,
) {
    for c in w.close(wm) {
        out.push(Output::Aggregate {
            name,
            key: c.key,
            start: c.start,
            end: c.end,
            value: to_json(&c.value),
        });
    }
}

pub(crate) fn dead(m: &Message, reason: String) -> Output {
    Output::DeadLetter {
        topic: m.topic.to_string(),
        partition: m.partition,
        offset: m.offset,
        reason,
    }
}

fn late(m: &Message) -> Output {
    Output::Late {
        topic: m.topic.to_string(),
        partition: m.partition,
        offset: m.offset,
        timestamp: m.timestamp,
    }
}

fn trigger<'a>(m: &Message<'a>) -> [(&'a str, i32, i64); 1] {
    [(m.topic, m.partition, m.offset)]
}

/// The `payments` job: direct detection, high amount (per event); 1- and
/// 5-minute aggregates per currency; PSP error rate per 5 minutes.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PaymentsJob {
    #[serde(skip)]
    rules: Settings,
    #[serde(skip)]
    windows: WindowSettings,
    watermarks: Watermarks,
    currency_1m: Tumbling<String, PaymentAgg>,
    currency_5m: Tumbling<String, PaymentAgg>,
    psp_5m: Tumbling<String, PspAgg>,
}

impl PaymentsJob {
    pub const NAME: &'static str = "payments";

    pub fn new(rules: Settings, windows: WindowSettings) -> PaymentsJob {
        PaymentsJob {
            watermarks: Watermarks::new(windows.watermark_delay, windows.idle_partition),
            rules,
            windows,
            currency_1m: Tumbling::new(MINUTE),
            currency_5m: Tumbling::new(5 * MINUTE),
            psp_5m: Tumbling::new(5 * MINUTE),
        }
    }

    fn alert(
        &self,
        m: &Message,
        p: &Payment,
        ty: &'static str,
        sev: Severity,
        criteria: Vec<String>,
    ) -> Alert {
        Alert::for_payment(Self::NAME, m, (ty, sev), &p.payment_id, p, criteria)
    }

    /// The per-event rules (and the dead letter of an unreadable message).
    fn checks(&self, m: &Message) -> Result<(Payment, Vec<Output>), Box<Output>> {
        let p = event::payment(m.value).map_err(|e| Box::new(dead(m, e.0)))?;
        let mut out = Vec::new();
        if let Some((sev, criteria)) = rules::payment_direct(&p, &self.rules) {
            out.push(Output::Alert(self.alert(
                m,
                &p,
                "payment_direct",
                sev,
                criteria,
            )));
        }
        if let Some(c) = rules::high_amount(&p, &self.rules) {
            out.push(Output::Alert(self.alert(
                m,
                &p,
                "high_amount",
                Severity::Haute,
                vec![c],
            )));
        }
        Ok((p, out))
    }

    /// Processes one message at processing time `now`.
    pub fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        let (p, mut out) = match self.checks(m) {
            Ok(x) => x,
            Err(dead) => return vec![*dead],
        };
        let wm = self.watermarks.current();
        let eur = rules::amount_eur(&p, &self.rules);
        let currency = p.currency.to_ascii_uppercase();
        let mut is_late = self
            .watermarks
            .is_late_on(m.topic, m.partition, m.timestamp);
        let wm = if is_late { Some(Millis::MAX) } else { wm };
        match self.currency_1m.slot(currency.clone(), m.timestamp, wm) {
            Some(a) => a.add(&p, eur),
            None => is_late = true,
        }
        match self.currency_5m.slot(currency, m.timestamp, wm) {
            Some(a) => a.add(&p, eur),
            None => is_late = true,
        }
        let psp = p.psp.clone().unwrap_or_else(|| "inconnu".into());
        match self.psp_5m.slot(psp, m.timestamp, wm) {
            Some(a) => a.add(&p),
            None => is_late = true,
        }
        if is_late {
            out.push(late(m));
        }
        self.watermarks
            .observe(m.topic, m.partition, m.timestamp, now);
        out.extend(self.tick(now));
        out
    }

    /// Advances the watermark at `now` and closes the windows it passed.
    pub fn tick(&mut self, now: Millis) -> Vec<Output> {
        let Some(wm) = self.watermarks.advance(now) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        close_into(
            &mut out,
            "payments_by_currency_1m",
            &mut self.currency_1m,
            wm,
            PaymentAgg::to_json,
        );
        close_into(
            &mut out,
            "payments_by_currency_5m",
            &mut self.currency_5m,
            wm,
            PaymentAgg::to_json,
        );
        for c in self.psp_5m.close(wm) {
            if let Some(crit) = c.value.alert(self.windows.psp_error_rate) {
                let ty = "psp_error_rate";
                out.push(Output::Alert(Alert {
                    // A window alert is identified by its key and window.
                    alert_id: rules::alert_id(
                        Self::NAME,
                        ty,
                        &format!("{}@{}", c.key, c.start),
                        &[],
                    ),
                    job: Self::NAME,
                    ty,
                    severity: Severity::Avertissement,
                    criteria: vec![crit],
                    key: c.key.clone(),
                    payment_id: None,
                    order_id: None,
                    customer_id: None,
                    event_time: c.end,
                    window_start: Some(c.start),
                    window_end: Some(c.end),
                    context: json!({ "payments": c.value.count, "errors": c.value.errors }),
                }));
            }
            out.push(Output::Aggregate {
                name: "psp_5m",
                key: c.key,
                start: c.start,
                end: c.end,
                value: json!({ "payments": c.value.count, "errors": c.value.errors }),
            });
        }
        out
    }
}

/// The `orders` job: per-event anomalies; 1- and 5-minute aggregates per
/// delivery country; whole-stream cancellation (1 min) and express (5 min)
/// spikes.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct OrdersJob {
    #[serde(skip)]
    rules: Settings,
    #[serde(skip)]
    windows: WindowSettings,
    watermarks: Watermarks,
    country_1m: Tumbling<String, OrderAgg>,
    country_5m: Tumbling<String, OrderAgg>,
    stream_1m: Tumbling<(), StreamAgg>,
    stream_5m: Tumbling<(), StreamAgg>,
}

impl OrdersJob {
    pub const NAME: &'static str = "orders";

    pub fn new(rules: Settings, windows: WindowSettings) -> OrdersJob {
        OrdersJob {
            watermarks: Watermarks::new(windows.watermark_delay, windows.idle_partition),
            rules,
            windows,
            country_1m: Tumbling::new(MINUTE),
            country_5m: Tumbling::new(5 * MINUTE),
            stream_1m: Tumbling::new(MINUTE),
            stream_5m: Tumbling::new(5 * MINUTE),
        }
    }

    fn alert(
        &self,
        m: &Message,
        o: &Order,
        ty: &'static str,
        sev: Severity,
        criteria: Vec<String>,
    ) -> Alert {
        let ids = (
            None,
            Some(o.order_id.as_str()),
            Some(o.customer_id.as_str()),
        );
        let context = serde_json::to_value(o).unwrap_or(Value::Null);
        Alert::for_message(
            Self::NAME,
            m,
            (ty, sev),
            &o.order_id,
            ids,
            criteria,
            context,
        )
    }

    /// The per-event rules (and the dead letter of an unreadable message).
    fn checks(&self, m: &Message) -> Result<(Order, Vec<Output>), Box<Output>> {
        let o = event::order(m.value).map_err(|e| Box::new(dead(m, e.0)))?;
        let mut out = Vec::new();
        let checks: [(&'static str, Severity, Option<String>); 3] = [
            (
                "order_high_amount",
                Severity::Haute,
                rules::order_high_amount(&o, &self.rules),
            ),
            (
                "order_discount_abuse",
                Severity::Haute,
                rules::order_discount_abuse(&o, &self.rules),
            ),
            (
                "order_large_cancellation",
                Severity::Avertissement,
                rules::order_large_cancellation(&o, &self.rules),
            ),
        ];
        for (ty, sev, hit) in checks {
            if let Some(c) = hit {
                out.push(Output::Alert(self.alert(m, &o, ty, sev, vec![c])));
            }
        }
        Ok((o, out))
    }

    pub fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        let (o, mut out) = match self.checks(m) {
            Ok(x) => x,
            Err(dead) => return vec![*dead],
        };
        let wm = self.watermarks.current();
        let country = o
            .delivery_country
            .clone()
            .unwrap_or_else(|| "inconnu".into());
        let mut is_late = self
            .watermarks
            .is_late_on(m.topic, m.partition, m.timestamp);
        let wm = if is_late { Some(Millis::MAX) } else { wm };
        for w in [&mut self.country_1m, &mut self.country_5m] {
            match w.slot(country.clone(), m.timestamp, wm) {
                Some(a) => a.add(&o),
                None => is_late = true,
            }
        }
        for w in [&mut self.stream_1m, &mut self.stream_5m] {
            match w.slot((), m.timestamp, wm) {
                Some(a) => a.add(&o),
                None => is_late = true,
            }
        }
        if is_late {
            out.push(late(m));
        }
        self.watermarks
            .observe(m.topic, m.partition, m.timestamp, now);
        out.extend(self.tick(now));
        out
    }

    pub fn tick(&mut self, now: Millis) -> Vec<Output> {
        let Some(wm) = self.watermarks.advance(now) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        close_into(
            &mut out,
            "orders_by_country_1m",
            &mut self.country_1m,
            wm,
            OrderAgg::to_json,
        );
        close_into(
            &mut out,
            "orders_by_country_5m",
            &mut self.country_5m,
            wm,
            OrderAgg::to_json,
        );
        let spikes = [
            (self.stream_1m.close(wm), STREAM_1M),
            (self.stream_5m.close(wm), STREAM_5M),
        ];
        for (closed, name) in spikes {
            for c in closed {
                out.extend(stream_window(name, c.start, c.end, &c.value, &self.windows));
            }
        }
        out
    }
}

/// The whole-stream order windows (FRAUD-ORD-3): 1 minute for the
/// cancellation spike, 5 minutes for the express spike.
pub const STREAM_1M: &str = "orders_stream_1m";
pub const STREAM_5M: &str = "orders_stream_5m";

/// What a closed whole-stream order window gives: its aggregate (archived)
/// and its spike alert, if any. One function for a single process and for
/// the combiner of a scaled-out job, so both give the same alert.
pub fn stream_window(
    name: &'static str,
    start: Millis,
    end: Millis,
    agg: &StreamAgg,
    windows: &WindowSettings,
) -> Vec<Output> {
    let (ty, hit) = if name == STREAM_1M {
        (
            "cancellation_spike",
            agg.cancellation_spike(windows.max_cancellations_per_minute),
        )
    } else {
        ("express_spike", agg.express_spike(windows.express_share))
    };
    let value = serde_json::to_value(agg).unwrap_or(Value::Null);
    let mut out = Vec::new();
    if let Some(crit) = hit {
        out.push(Output::Alert(Alert {
            alert_id: rules::alert_id(OrdersJob::NAME, ty, &format!("*@{start}"), &[]),
            job: OrdersJob::NAME,
            ty,
            severity: Severity::Avertissement,
            criteria: vec![crit],
            key: "*".into(),
            payment_id: None,
            order_id: None,
            customer_id: None,
            event_time: end,
            window_start: Some(start),
            window_end: Some(end),
            context: value.clone(),
        }));
    }
    out.push(Output::Aggregate {
        name,
        key: "*".into(),
        start,
        end,
        value,
    });
    out
}

/// The whole-stream order windows of a scaled-out `orders` job, combined
/// from the partial windows of every input partition (`fraud::shard`): a
/// window is decided once the watermark of every partition has passed its
/// end, as a single process decides it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StreamCombiner {
    watermarks: Watermarks,
    open: std::collections::BTreeMap<(Millis, String), (Millis, StreamAgg)>,
    #[serde(skip)]
    windows: WindowSettings,
}

/// A partial window as forwarded: its name, bounds and counts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Partial {
    pub name: String,
    pub start: Millis,
    pub end: Millis,
    pub agg: StreamAgg,
}

impl StreamCombiner {
    pub fn new(windows: WindowSettings) -> StreamCombiner {
        StreamCombiner {
            watermarks: Watermarks::new(windows.watermark_delay, windows.idle_partition),
            open: std::collections::BTreeMap::new(),
            windows,
        }
    }
}

impl StreamJob for StreamCombiner {
    /// A message is a [`Partial`] (JSON) of one input partition.
    fn process(&mut self, m: &Message, now: Millis) -> Vec<Output> {
        let Ok(p) = serde_json::from_slice::<Partial>(m.value) else {
            return Vec::new();
        };
        if self.watermarks.current().is_some_and(|w| p.end <= w) {
            // Only after an idle partition let the watermark pass it.
            return Vec::new();
        }
        let slot = self
            .open
            .entry((p.end, p.name))
            .or_insert((p.start, StreamAgg::default()));
        slot.1.merge(&p.agg);
        self.tick(now)
    }
    fn tick(&mut self, now: Millis) -> Vec<Output> {
        let Some(wm) = self.watermarks.advance(now) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(e) = self.open.first_entry() {
            if e.key().0 > wm {
                break;
            }
            let ((end, name), (start, agg)) = e.remove_entry();
            let name = if name == STREAM_1M {
                STREAM_1M
            } else {
                STREAM_5M
            };
            out.extend(stream_window(name, start, end, &agg, &self.windows));
        }
        out
    }
    fn watermarks_mut(&mut self) -> &mut Watermarks {
        &mut self.watermarks
    }
    fn adopt(&mut self, old: Self) {
        self.watermarks.adopt(old.watermarks);
        self.open = old.open;
    }
    fn state_keys(&self) -> usize {
        self.open.len()
    }
    fn per_event(&mut self, _: &Message) -> (Vec<Output>, bool) {
        (Vec::new(), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_773_741_600_000; // 2026-03-17T10:00:00Z, on a minute

    fn pay_json(id: &str, status: &str, psp: &str, risk: i64, eur: f64) -> String {
        format!(
            r#"{{"payment_id":"{id}","order_id":"C-{id}","customer_id":"U","amount":{eur},"currency":"EUR",
                 "amount_eur":{eur},"status":"{status}","psp":"{psp}","payment_method":"card","risk_score":{risk}}}"#
        )
    }

    fn run_payments(events: &[(Millis, String)]) -> Vec<Output> {
        let mut job = PaymentsJob::new(Settings::default(), WindowSettings::default());
        let mut out = Vec::new();
        for (i, (t, v)) in events.iter().enumerate() {
            let m = Message {
                topic: "payments",
                partition: 0,
                offset: i as i64,
                timestamp: *t,
                value: v.as_bytes(),
            };
            out.extend(job.process(&m, 0));
        }
        out
    }

    fn alerts(out: &[Output]) -> Vec<(&'static str, String)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Alert(a) => Some((a.ty, a.key.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn per_event_alerts_fire_on_their_event() {
        let out = run_payments(&[
            (T0, pay_json("P1", "succeeded", "a", 71, 10.0)),
            (T0 + 1, pay_json("P2", "succeeded", "a", 70, 1_500.0)),
            (T0 + 2, pay_json("P3", "succeeded", "a", 10, 1_500.01)),
            (T0 + 3, "{not json".to_string()),
        ]);
        assert_eq!(
            alerts(&out),
            [
                ("payment_direct", "P1".to_string()),
                ("high_amount", "P3".to_string())
            ]
        );
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::DeadLetter { offset: 3, .. })));
    }

    #[test]
    fn psp_windows_close_with_the_watermark_and_late_events_stay_out() {
        // 5 minutes from T0: 3 errors out of 10 at one PSP (30 %), 2/10 at another (20 %).
        let mut ev = Vec::new();
        for i in 0..10 {
            ev.push((
                T0 + i * 1_000,
                pay_json(
                    &format!("A{i}"),
                    if i < 3 { "error" } else { "succeeded" },
                    "bad",
                    10,
                    5.0,
                ),
            ));
            ev.push((
                T0 + i * 1_000,
                pay_json(
                    &format!("B{i}"),
                    if i < 2 { "error" } else { "succeeded" },
                    "ok",
                    10,
                    5.0,
                ),
            ));
        }
        // The watermark reaches T0 + 5 min when an event at T0 + 5 min 10 s arrives.
        ev.push((
            T0 + 5 * MINUTE + 9_999,
            pay_json("X1", "succeeded", "ok", 10, 5.0),
        ));
        let before = run_payments(&ev);
        assert!(
            alerts(&before).is_empty(),
            "window still open one ms before"
        );
        ev.push((
            T0 + 5 * MINUTE + 10_000,
            pay_json("X2", "succeeded", "ok", 10, 5.0),
        ));
        // A straggler of the closed window: late.
        ev.push((T0 + 4 * MINUTE, pay_json("L", "error", "bad", 10, 5.0)));
        let out = run_payments(&ev);
        assert_eq!(alerts(&out), [("psp_error_rate", "bad".to_string())]);
        let late: Vec<i64> = out
            .iter()
            .filter_map(|o| match o {
                Output::Late { offset, .. } => Some(*offset),
                _ => None,
            })
            .collect();
        assert_eq!(late, [22]);
        let psp_closed = out
            .iter()
            .filter(|o| matches!(o, Output::Aggregate { name: "psp_5m", .. }))
            .count();
        assert_eq!(psp_closed, 2);
    }

    #[test]
    fn alerts_render_as_c3_documents() {
        let out = run_payments(&[(T0, pay_json("P1", "succeeded", "a", 71, 10.0))]);
        let Output::Alert(a) = &out[0] else {
            panic!("{out:?}")
        };
        let j = a.to_c3(T0 + 5);
        assert_eq!(j["type"], "payment_direct");
        assert_eq!(j["severity"], "haute");
        assert_eq!(j["event_time"], "2026-03-17T10:00:00.000Z");
        assert_eq!(j["generated_at"], "2026-03-17T10:00:00.005Z");
        assert_eq!(j["window_start"], Value::Null);
        assert_eq!(j["criteria"][0], "risk_score=71 > 70");
        assert_eq!(j["context"]["payment_id"], "P1");
        assert_eq!(j["alert_id"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn the_same_messages_give_the_same_alert_ids() {
        let ev = vec![(T0, pay_json("P1", "declined", "a", 50, 2_000.0))];
        let a = run_payments(&ev);
        let b = run_payments(&ev);
        assert_eq!(a, b);
        assert_eq!(alerts(&a).len(), 2);
    }

    #[test]
    fn order_spikes_over_the_whole_stream() {
        let mut job = OrdersJob::new(Settings::default(), WindowSettings::default());
        let mut out = Vec::new();
        let order = |id: i64, kind: &str, method: &str| {
            format!(
                r#"{{"order_id":"C{id}","customer_id":"U{id}","event_type":"{kind}","total_amount":10,
                     "items_count":1,"delivery_country":"FR","delivery_method":"{method}"}}"#
            )
        };
        let mut msgs: Vec<(Millis, String)> = Vec::new();
        // 11 cancellations in the first minute, on two partitions.
        for i in 0..11 {
            msgs.push((T0 + i * 1_000, order(i, "cancelled", "standard")));
        }
        // Closing events, one per partition (the watermark is the slowest's).
        msgs.push((T0 + 6 * MINUTE, order(98, "created", "standard")));
        msgs.push((T0 + 6 * MINUTE, order(99, "created", "standard")));
        for (i, (t, v)) in msgs.iter().enumerate() {
            let m = Message {
                topic: "orders",
                partition: (i % 2) as i32,
                offset: i as i64,
                timestamp: *t,
                value: v.as_bytes(),
            };
            out.extend(job.process(&m, 0));
        }
        assert_eq!(alerts(&out), [("cancellation_spike", "*".to_string())]);
    }
}
