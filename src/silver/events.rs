//! `kvt silver payments` and `kvt silver orders`: bronze Kafka JSONL → typed,
//! pseudonymised tables (CONTRACTS C1, C6, C8).
//!
//! Each bronze line is the envelope `kvt ingest kafka` wrote: `topic`,
//! `partition`, `offset`, `timestamp` (the event time, C1), `key` and the
//! message `value` (or `value_raw`/`value_b64` when it was not JSON). A value
//! that is not a JSON object, or lacks a required (*) field of C1, is what the
//! streaming jobs send to the dead-letter topic: here it is a reject, with its
//! bronze key, line and reason. Unknown fields are kept, scrubbed, in `extra`.
//!
//! Tables, partitioned by the UTC date of the Kafka timestamp:
//! `payments/event_date=…`, `orders/event_date=…` and `order_items/event_date=…`
//! (one row per item of a `created` order). Rows are buffered for the run:
//! payments are deduplicated on `payment_id`, orders on (`order_id`,
//! `event_type`), keeping the latest message (timestamp, then partition and
//! offset), and every partition is sorted canonically.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate};
use polars::prelude::DataFrame;

use super::columns::{date_partition, table_schema, Table};
use super::intern::{lower, upper, FxBuild, Strings, NULL};
use super::nginx::{user_agent_class, BOT_UA};
use super::pseudo::{truncate_ip, Pseudonymizer};
use super::runner::Source;
use super::scrub::extra_json;
use super::{Counts, Input, Reject};
use crate::bronze::events::{
    card_bin, Stream, ORDER_FIELDS, ORDER_REQUIRED, PAYMENT_FIELDS, PAYMENT_REQUIRED,
};
use crate::bronze::kafka::EnvelopeLine as Envelope;
use crate::json::{describe_json_error, is_object_line, Val};

table_schema!(pay {
    event_date: Date,
    event_time: Ts,
    producer_time: Ts,
    payment_id: Str,
    order_id: Str,
    customer_id: Str,
    amount: F64,
    currency: Str,
    amount_eur: F64,
    status: Str,
    error_code: Str,
    payment_method: Str,
    psp: Str,
    payment_session_id: Str,
    card_bin: Str,
    card_ref: Str,
    risk_score: I32,
    fraud_flag: Bool,
    billing_country: Str,
    ip_truncated: Str,
    ip_country: Str,
    device_fingerprint: Str,
    is_bot: Bool,
    user_agent_class: Str,
    processing_time_ms: I64,
    extra: Str,
    kafka_topic: Str,
    kafka_partition: I32,
    kafka_offset: I64,
    bronze_key: Str,
    bronze_line: I64,
});

table_schema!(ord {
    event_date: Date,
    event_time: Ts,
    producer_time: Ts,
    order_id: Str,
    customer_id: Str,
    event_type: Str,
    total_amount: F64,
    subtotal: F64,
    discount: F64,
    shipping_fee: F64,
    items_count: I32,
    coupon_code: Str,
    delivery_country: Str,
    delivery_method: Str,
    channel: Str,
    ip_truncated: Str,
    extra: Str,
    kafka_topic: Str,
    kafka_partition: I32,
    kafka_offset: I64,
    bronze_key: Str,
    bronze_line: I64,
});

table_schema!(itm {
    event_date: Date,
    event_time: Ts,
    order_id: Str,
    line_number: I32,
    product_id: Str,
    category: Str,
    quantity: I32,
    unit_price: F64,
    line_amount: F64,
    extra: Str,
    kafka_topic: Str,
    kafka_partition: I32,
    kafka_offset: I64,
    bronze_key: Str,
    bronze_line: I64,
});

pub use itm::SCHEMA as ORDER_ITEMS_SCHEMA;
pub use ord::SCHEMA as ORDERS_SCHEMA;
pub use pay::SCHEMA as PAYMENTS_SCHEMA;

/// RFC 3339 → epoch ms.
fn rfc3339_ms(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.timestamp_millis())
}

/// `…/event_date=YYYY-MM-DD/…` of a bronze key.
fn key_date(key: &str) -> Option<NaiveDate> {
    let i = key.find("event_date=")? + "event_date=".len();
    NaiveDate::parse_from_str(key.get(i..i + 10)?, "%Y-%m-%d").ok()
}

type LineError = (&'static str, String);

fn missing(field: &'static str) -> LineError {
    (field, "required field missing (CONTRACTS C1)".into())
}

/// One message's fields, by position in the field list; the rest in `extra`.
struct Fields<'a, const N: usize> {
    slots: [Option<Val<'a>>; N],
    extra: Vec<(Cow<'a, str>, Val<'a>)>,
}

impl<'a, const N: usize> Fields<'a, N> {
    fn split(names: &[&str; N], entries: Vec<(Cow<'a, str>, Val<'a>)>) -> Self {
        let mut slots: [Option<Val<'a>>; N] = std::array::from_fn(|_| None);
        let mut extra = Vec::new();
        for (k, v) in entries {
            match names.iter().position(|n| *n == k) {
                // A repeated key: the first one wins (as everywhere in kvt).
                Some(i) => {
                    if slots[i].is_none() {
                        slots[i] = Some(v);
                    }
                }
                None => extra.push((k, v)),
            }
        }
        Fields { slots, extra }
    }

    fn get(&self, names: &[&str; N], name: &str) -> Option<&Val<'a>> {
        let i = names.iter().position(|n| *n == name)?;
        self.slots[i].as_ref().filter(|v| !v.is_null())
    }

    fn take(&mut self, names: &[&str; N], name: &str) -> Option<Val<'a>> {
        let i = names.iter().position(|n| *n == name)?;
        self.slots[i].take().filter(|v| !v.is_null())
    }
}

/// Rows of one event date.
struct Day {
    main: Table,
    items: Table,
    /// For each item row, its order row in `main`.
    item_order: Vec<u32>,
}

/// Where a message was: event time, Kafka coordinates and bronze line.
struct Coords {
    day: i32,
    time: Option<i64>,
    producer_time: Option<i64>,
    topic: u32,
    partition: Option<i32>,
    offset: Option<i64>,
    bronze_key: u32,
    line: i64,
}

/// A valid payment, resolved (strings as ids).
struct PayRow {
    payment_id: u32,
    order_id: u32,
    customer_id: u32,
    amount: f64,
    currency: u32,
    amount_eur: Option<f64>,
    status: u32,
    error_code: u32,
    payment_method: u32,
    psp: u32,
    payment_session_id: u32,
    card_bin: u32,
    card_ref: u32,
    risk_score: i32,
    fraud_flag: Option<bool>,
    billing_country: u32,
    ip_truncated: u32,
    ip_country: u32,
    device_fingerprint: u32,
    is_bot: Option<bool>,
    user_agent_class: u32,
    processing_time_ms: Option<i64>,
    extra: u32,
}

/// A valid order event, resolved.
struct OrderRow {
    order_id: u32,
    customer_id: u32,
    event_type: u32,
    total_amount: f64,
    subtotal: Option<f64>,
    discount: Option<f64>,
    shipping_fee: Option<f64>,
    items_count: i32,
    coupon_code: u32,
    delivery_country: u32,
    delivery_method: u32,
    channel: u32,
    ip_truncated: u32,
    extra: u32,
    items: Vec<ItemRow>,
}

struct ItemRow {
    product_id: u32,
    category: u32,
    quantity: Option<i32>,
    unit_price: Option<f64>,
    extra: u32,
}

enum Row {
    Payment(PayRow),
    Order(OrderRow),
}

/// The runner's view of a Kafka event stream.
pub struct EventSource {
    stream: Stream,
    /// Bronze prefix of the topic: `bronze/kafka/<topic>/`.
    prefix: String,
    strings: Strings,
    /// Raw IP → id of its truncated form.
    ips: HashMap<Box<str>, u32, FxBuild>,
    /// Raw user agent → (bot, id of its class).
    agents: HashMap<Box<str>, (bool, u32), FxBuild>,
    days: BTreeMap<i32, Day>,
    deduplicated: u64,
}

impl EventSource {
    /// `today` is not needed: every date comes from the messages themselves.
    pub fn new(
        stream: Stream,
        topic: &str,
        pseudo: Pseudonymizer,
        today: NaiveDate,
    ) -> EventSource {
        let _ = today;
        EventSource {
            stream,
            prefix: format!("bronze/kafka/{topic}/"),
            strings: Strings::new(pseudo),
            ips: HashMap::default(),
            agents: HashMap::default(),
            days: BTreeMap::new(),
            deduplicated: 0,
        }
    }

    fn paths(&self, day: i32) -> Vec<String> {
        match self.stream {
            Stream::Payments => vec![date_partition("payments", day)],
            Stream::Orders => vec![
                date_partition("orders", day),
                date_partition("order_items", day),
            ],
        }
    }

    fn ip(&mut self, raw: &str) -> u32 {
        if let Some(&i) = self.ips.get(raw) {
            return i;
        }
        let id = self.strings.opt_text(truncate_ip(raw).as_deref());
        self.ips.insert(raw.into(), id);
        id
    }

    fn ip_of(&mut self, v: Option<&Val<'_>>) -> u32 {
        match v.and_then(Val::as_str) {
            Some(raw) => self.ip(raw),
            None => NULL,
        }
    }

    fn agent(&mut self, ua: &str) -> (bool, u32) {
        if let Some(&v) = self.agents.get(ua) {
            return v;
        }
        let bot = BOT_UA.is_match(ua.as_bytes());
        let class = self.strings.text(user_agent_class(ua.as_bytes(), bot));
        self.agents.insert(ua.into(), (bot, class));
        (bot, class)
    }

    /// A text field, trimmed, as an id ([`NULL`] when absent or empty).
    fn text_of(&mut self, v: Option<&Val<'_>>) -> u32 {
        let t = v.and_then(Val::to_text);
        self.strings.opt_text(t.as_deref())
    }

    fn lower_of(&mut self, v: Option<&Val<'_>>) -> u32 {
        let t = v.and_then(Val::to_text);
        self.strings.opt_text(t.as_deref().map(lower).as_deref())
    }

    fn upper_of(&mut self, v: Option<&Val<'_>>) -> u32 {
        let t = v.and_then(Val::to_text);
        self.strings.opt_text(t.as_deref().map(upper).as_deref())
    }

    fn pseudo_of(&mut self, v: Option<&Val<'_>>) -> u32 {
        match v.and_then(Val::to_text) {
            Some(t) => self.strings.pseudo(&t),
            None => NULL,
        }
    }

    fn extra_of(&mut self, extra: Vec<(Cow<'_, str>, Val<'_>)>) -> u32 {
        match extra_json(extra, self.strings.pseudonymizer()) {
            Some(json) => self.strings.text(&json),
            None => NULL,
        }
    }

    /// A required text field.
    fn required_text(
        &mut self,
        v: Option<&Val<'_>>,
        field: &'static str,
    ) -> Result<u32, LineError> {
        match self.text_of(v) {
            NULL => Err(missing(field)),
            id => Ok(id),
        }
    }

    /// A required id, pseudonymised.
    fn required_pseudo(
        &mut self,
        v: Option<&Val<'_>>,
        field: &'static str,
    ) -> Result<u32, LineError> {
        match self.pseudo_of(v) {
            NULL => Err(missing(field)),
            id => Ok(id),
        }
    }

    /// A required number.
    fn required_f64(v: Option<&Val<'_>>, field: &'static str) -> Result<f64, LineError> {
        let v = v.ok_or_else(|| missing(field))?;
        v.to_f64().ok_or((field, "not a number".into()))
    }

    fn required_int(v: Option<&Val<'_>>, field: &'static str) -> Result<i32, LineError> {
        let v = v.ok_or_else(|| missing(field))?;
        v.to_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or((field, "not an integer".into()))
    }

    /// The first required field that is absent, null or empty.
    fn check_required<const N: usize>(
        f: &Fields<'_, N>,
        names: &[&str; N],
        required: &[&'static str],
    ) -> Result<(), LineError> {
        for r in required {
            let present = f
                .get(names, r)
                .and_then(Val::to_text)
                .is_some_and(|s| !s.trim().is_empty());
            if !present {
                return Err(missing(r));
            }
        }
        Ok(())
    }

    /// Validate and resolve one payment (C1).
    fn payment(&mut self, entries: Vec<(Cow<'_, str>, Val<'_>)>) -> Result<PayRow, LineError> {
        let n = &PAYMENT_FIELDS;
        let f = Fields::split(n, entries);
        Self::check_required(&f, n, &PAYMENT_REQUIRED)?;
        let amount = Self::required_f64(f.get(n, "amount"), "amount")?;
        let risk_score = Self::required_int(f.get(n, "risk_score"), "risk_score")?;
        let payment_id = self.required_text(f.get(n, "payment_id"), "payment_id")?;
        let order_id = self.required_text(f.get(n, "order_id"), "order_id")?;
        let customer_id = self.required_pseudo(f.get(n, "customer_id"), "customer_id")?;
        let currency = self.upper_of(f.get(n, "currency"));
        let status = self.lower_of(f.get(n, "status"));
        let amount_eur =
            f.get(n, "amount_eur")
                .and_then(Val::to_f64)
                .or((self.strings.get(currency) == Some("EUR")).then_some(amount));
        let card_bin = match f
            .get(n, "card_masked")
            .and_then(Val::as_str)
            .and_then(card_bin)
        {
            Some(b) => self.strings.text(b),
            None => NULL,
        };
        let (is_bot, user_agent_class) = match f.get(n, "user_agent").and_then(Val::as_str) {
            Some(ua) if !ua.trim().is_empty() => {
                let (bot, class) = self.agent(ua);
                (Some(bot), class)
            }
            _ => (None, self.strings.text("unknown")),
        };
        Ok(PayRow {
            payment_id,
            order_id,
            customer_id,
            amount,
            currency,
            amount_eur,
            status,
            error_code: self.text_of(f.get(n, "error_code")),
            payment_method: self.lower_of(f.get(n, "payment_method")),
            psp: self.lower_of(f.get(n, "psp")),
            payment_session_id: self.pseudo_of(f.get(n, "payment_session_id")),
            card_bin,
            card_ref: self.pseudo_of(f.get(n, "card_ref")),
            risk_score,
            fraud_flag: f.get(n, "fraud_flag").and_then(Val::to_bool),
            billing_country: self.upper_of(f.get(n, "billing_country")),
            ip_truncated: self.ip_of(f.get(n, "ip_address")),
            ip_country: self.upper_of(f.get(n, "ip_country")),
            device_fingerprint: self.pseudo_of(f.get(n, "device_fingerprint")),
            is_bot,
            user_agent_class,
            processing_time_ms: f.get(n, "processing_time_ms").and_then(Val::to_i64),
            extra: self.extra_of(f.extra),
        })
    }

    /// Validate and resolve one order event (C1); items of `created` events.
    fn order(&mut self, entries: Vec<(Cow<'_, str>, Val<'_>)>) -> Result<OrderRow, LineError> {
        let n = &ORDER_FIELDS;
        let mut f = Fields::split(n, entries);
        Self::check_required(&f, n, &ORDER_REQUIRED)?;
        let total_amount = Self::required_f64(f.get(n, "total_amount"), "total_amount")?;
        let items_count = Self::required_int(f.get(n, "items_count"), "items_count")?;
        let order_id = self.required_text(f.get(n, "order_id"), "order_id")?;
        let customer_id = self.required_pseudo(f.get(n, "customer_id"), "customer_id")?;
        let event_type = self.lower_of(f.get(n, "event_type"));
        let mut items = Vec::new();
        if self.strings.get(event_type) == Some("created") {
            if let Some(Val::Arr(list)) = f.take(n, "items") {
                for item in list {
                    items.push(self.item(item));
                }
            }
        }
        Ok(OrderRow {
            order_id,
            customer_id,
            event_type,
            total_amount,
            subtotal: f.get(n, "subtotal").and_then(Val::to_f64),
            discount: f.get(n, "discount").and_then(Val::to_f64),
            shipping_fee: f.get(n, "shipping_fee").and_then(Val::to_f64),
            items_count,
            coupon_code: self.text_of(f.get(n, "coupon_code")),
            delivery_country: self.upper_of(f.get(n, "delivery_country")),
            delivery_method: self.lower_of(f.get(n, "delivery_method")),
            channel: self.lower_of(f.get(n, "channel")),
            ip_truncated: self.ip_of(f.get(n, "ip_address")),
            extra: self.extra_of(f.extra),
            items,
        })
    }

    fn item(&mut self, item: Val<'_>) -> ItemRow {
        const NAMES: [&str; 4] = ["product_id", "category", "quantity", "unit_price"];
        let f = match item {
            Val::Obj(entries) => Fields::split(&NAMES, entries),
            other => Fields {
                slots: std::array::from_fn(|_| None),
                extra: vec![(Cow::Borrowed("item"), other)],
            },
        };
        ItemRow {
            product_id: self.text_of(f.get(&NAMES, "product_id")),
            category: self.text_of(f.get(&NAMES, "category")),
            quantity: f
                .get(&NAMES, "quantity")
                .and_then(Val::to_i64)
                .and_then(|q| i32::try_from(q).ok()),
            unit_price: f.get(&NAMES, "unit_price").and_then(Val::to_f64),
            extra: self.extra_of(f.extra),
        }
    }

    /// Append a valid row to its day.
    fn write(&mut self, c: &Coords, row: Row) {
        let schema = match self.stream {
            Stream::Payments => pay::SCHEMA,
            Stream::Orders => ord::SCHEMA,
        };
        let d = self.days.entry(c.day).or_insert_with(|| Day {
            main: Table::new(schema),
            items: Table::new(itm::SCHEMA),
            item_order: Vec::new(),
        });
        match row {
            Row::Payment(r) => {
                let t = &mut d.main;
                t.set_i32(pay::event_date, Some(c.day));
                t.set_i64(pay::event_time, c.time);
                t.set_i64(pay::producer_time, c.producer_time);
                t.set_str(pay::payment_id, r.payment_id);
                t.set_str(pay::order_id, r.order_id);
                t.set_str(pay::customer_id, r.customer_id);
                t.set_f64(pay::amount, Some(r.amount));
                t.set_str(pay::currency, r.currency);
                t.set_f64(pay::amount_eur, r.amount_eur);
                t.set_str(pay::status, r.status);
                t.set_str(pay::error_code, r.error_code);
                t.set_str(pay::payment_method, r.payment_method);
                t.set_str(pay::psp, r.psp);
                t.set_str(pay::payment_session_id, r.payment_session_id);
                t.set_str(pay::card_bin, r.card_bin);
                t.set_str(pay::card_ref, r.card_ref);
                t.set_i32(pay::risk_score, Some(r.risk_score));
                t.set_bool(pay::fraud_flag, r.fraud_flag);
                t.set_str(pay::billing_country, r.billing_country);
                t.set_str(pay::ip_truncated, r.ip_truncated);
                t.set_str(pay::ip_country, r.ip_country);
                t.set_str(pay::device_fingerprint, r.device_fingerprint);
                t.set_bool(pay::is_bot, r.is_bot);
                t.set_str(pay::user_agent_class, r.user_agent_class);
                t.set_i64(pay::processing_time_ms, r.processing_time_ms);
                t.set_str(pay::extra, r.extra);
                t.set_str(pay::kafka_topic, c.topic);
                t.set_i32(pay::kafka_partition, c.partition);
                t.set_i64(pay::kafka_offset, c.offset);
                t.set_str(pay::bronze_key, c.bronze_key);
                t.set_i64(pay::bronze_line, Some(c.line));
                t.end_row();
            }
            Row::Order(r) => {
                let order_row = d.main.len() as u32;
                let t = &mut d.main;
                t.set_i32(ord::event_date, Some(c.day));
                t.set_i64(ord::event_time, c.time);
                t.set_i64(ord::producer_time, c.producer_time);
                t.set_str(ord::order_id, r.order_id);
                t.set_str(ord::customer_id, r.customer_id);
                t.set_str(ord::event_type, r.event_type);
                t.set_f64(ord::total_amount, Some(r.total_amount));
                t.set_f64(ord::subtotal, r.subtotal);
                t.set_f64(ord::discount, r.discount);
                t.set_f64(ord::shipping_fee, r.shipping_fee);
                t.set_i32(ord::items_count, Some(r.items_count));
                t.set_str(ord::coupon_code, r.coupon_code);
                t.set_str(ord::delivery_country, r.delivery_country);
                t.set_str(ord::delivery_method, r.delivery_method);
                t.set_str(ord::channel, r.channel);
                t.set_str(ord::ip_truncated, r.ip_truncated);
                t.set_str(ord::extra, r.extra);
                t.set_str(ord::kafka_topic, c.topic);
                t.set_i32(ord::kafka_partition, c.partition);
                t.set_i64(ord::kafka_offset, c.offset);
                t.set_str(ord::bronze_key, c.bronze_key);
                t.set_i64(ord::bronze_line, Some(c.line));
                t.end_row();
                for (i, it) in r.items.into_iter().enumerate() {
                    let t = &mut d.items;
                    t.set_i32(itm::event_date, Some(c.day));
                    t.set_i64(itm::event_time, c.time);
                    t.set_str(itm::order_id, r.order_id);
                    t.set_i32(itm::line_number, i32::try_from(i + 1).ok());
                    t.set_str(itm::product_id, it.product_id);
                    t.set_str(itm::category, it.category);
                    t.set_i32(itm::quantity, it.quantity);
                    t.set_f64(itm::unit_price, it.unit_price);
                    t.set_f64(
                        itm::line_amount,
                        it.quantity
                            .zip(it.unit_price)
                            .map(|(q, p)| (f64::from(q) * p * 100.0).round() / 100.0),
                    );
                    t.set_str(itm::extra, it.extra);
                    t.set_str(itm::kafka_topic, c.topic);
                    t.set_i32(itm::kafka_partition, c.partition);
                    t.set_i64(itm::kafka_offset, c.offset);
                    t.set_str(itm::bronze_key, c.bronze_key);
                    t.set_i64(itm::bronze_line, Some(c.line));
                    t.end_row();
                    d.item_order.push(order_row);
                }
            }
        }
    }

    /// One bronze line: `Ok(true)` kept, `Ok(false)` outside the partitions asked.
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        line: &[u8],
        line_no: u64,
        key_id: u32,
        fallback_day: Option<i32>,
        keep: Option<&BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        kept_days: &mut HashMap<i32, bool>,
    ) -> Result<bool, LineError> {
        if !is_object_line(line) {
            return Err(("line", "not a JSON object".into()));
        }
        let env: Envelope =
            serde_json::from_slice(line).map_err(|e| ("line", describe_json_error(&e)))?;
        if env.value_raw.is_some() {
            return Err((
                "value",
                "message value is not JSON (dead letter, CONTRACTS C1)".into(),
            ));
        }
        if env.value_b64.is_some() {
            return Err((
                "value",
                "message value is not UTF-8 JSON (dead letter, CONTRACTS C1)".into(),
            ));
        }
        let entries = match env.value {
            None => return Err(("value", "message without a value (tombstone)".into())),
            Some(Val::Obj(e)) => e,
            Some(_) => return Err(("value", "message value is not a JSON object".into())),
        };
        let producer_time = entries
            .iter()
            .find(|(k, _)| k == "event_time")
            .and_then(|(_, v)| v.as_str())
            .and_then(rfc3339_ms);
        let time = env.timestamp.filter(|&t| t >= 0).or(producer_time);
        let day = time
            .and_then(DateTime::from_timestamp_millis)
            .map(|d| super::epoch_days(d.date_naive()))
            .or(fallback_day)
            .ok_or((
                "timestamp",
                "no event time (Kafka timestamp or event_time)".to_string(),
            ))?;
        // Validate before deciding to keep: rejects never depend on what is recomputed.
        let row = match self.stream {
            Stream::Payments => Row::Payment(self.payment(entries)?),
            Stream::Orders => Row::Order(self.order(entries)?),
        };
        let kept = match kept_days.get(&day) {
            Some(&k) => k,
            None => {
                let paths = self.paths(day);
                let k = keep.is_none_or(|set| paths.iter().any(|p| set.contains(p)));
                seen.extend(paths);
                kept_days.insert(day, k);
                k
            }
        };
        if !kept {
            return Ok(false);
        }
        let topic = self.strings.opt_text(env.topic.as_deref());
        let coords = Coords {
            day,
            time,
            producer_time,
            topic,
            partition: env.partition.and_then(|p| i32::try_from(p).ok()),
            offset: env.offset,
            bronze_key: key_id,
            line: line_no as i64,
        };
        self.write(&coords, row);
        Ok(true)
    }

    /// Rows kept, deduplicated (latest message wins), sorted canonically.
    fn order_rows(&mut self, t: &Table) -> Vec<u32> {
        let (key_cols, time_col, part_col, off_col, bk_col, line_col): (&[usize], _, _, _, _, _) =
            match self.stream {
                Stream::Payments => (
                    &[pay::payment_id],
                    pay::event_time,
                    pay::kafka_partition,
                    pay::kafka_offset,
                    pay::bronze_key,
                    pay::bronze_line,
                ),
                Stream::Orders => (
                    &[ord::order_id, ord::event_type],
                    ord::event_time,
                    ord::kafka_partition,
                    ord::kafka_offset,
                    ord::bronze_key,
                    ord::bronze_line,
                ),
            };
        let s = &self.strings;
        let key = |i: u32| -> (u32, u32) {
            let r = i as usize;
            (
                t.str_at(key_cols[0], r),
                key_cols.get(1).map_or(NULL, |&c| t.str_at(c, r)),
            )
        };
        let recency = |i: u32| {
            let r = i as usize;
            (
                t.i64_at(time_col, r),
                t.i64_at(part_col, r),
                t.i64_at(off_col, r),
                s.get(t.str_at(bk_col, r)).unwrap_or_default(),
                t.i64_at(line_col, r),
            )
        };
        let mut rows: Vec<u32> = (0..t.len() as u32).collect();
        // Same key together, latest first (ids are interned: equal ids, equal strings).
        rows.sort_unstable_by(|&a, &b| {
            key(a)
                .cmp(&key(b))
                .then_with(|| recency(b).cmp(&recency(a)))
        });
        let mut kept = Vec::with_capacity(rows.len());
        for (w, &r) in rows.iter().enumerate() {
            if w == 0 || key(rows[w - 1]) != key(r) {
                kept.push(r);
            }
        }
        self.deduplicated += (rows.len() - kept.len()) as u64;
        let text_key = |i: u32| {
            let (a, b) = key(i);
            (s.get(a).unwrap_or_default(), s.get(b).unwrap_or_default())
        };
        kept.sort_unstable_by(|&a, &b| {
            t.i64_at(time_col, a as usize)
                .cmp(&t.i64_at(time_col, b as usize))
                .then_with(|| text_key(a).cmp(&text_key(b)))
        });
        kept
    }
}

impl Source for EventSource {
    fn name(&self) -> &'static str {
        match self.stream {
            Stream::Payments => "payments",
            Stream::Orders => "orders",
        }
    }
    fn tables(&self) -> &'static [&'static str] {
        match self.stream {
            Stream::Payments => &["payments"],
            Stream::Orders => &["orders", "order_items"],
        }
    }
    fn bronze_source(&self) -> &'static str {
        crate::bronze::kafka::MANIFEST_SOURCE
    }
    fn accepts(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
    }

    fn process(
        &mut self,
        input: &Input,
        first_line: u64,
        block: &[u8],
        keep: Option<&BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        rejects: &mut Vec<Reject>,
    ) -> anyhow::Result<Counts> {
        let mut counts = Counts::default();
        let key_id = self.strings.text(&input.key);
        let fallback_day = key_date(&input.key).map(super::epoch_days);
        // Per call: is each day kept (its partitions already added to `seen`)?
        let mut kept_days: HashMap<i32, bool> = HashMap::new();
        let body = block.strip_suffix(b"\n").unwrap_or(block);
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let line_no = first_line + i as u64;
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            counts.rows_in += 1;
            let outcome = self.line(
                line,
                line_no,
                key_id,
                fallback_day,
                keep,
                seen,
                &mut kept_days,
            );
            match outcome {
                Ok(true) => counts.rows_out += 1,
                Ok(false) => {}
                Err((field, reason)) => {
                    counts.rejected += 1;
                    rejects.push(Reject {
                        bronze_key: input.key.clone(),
                        line: line_no,
                        field: field.to_string(),
                        reason,
                    });
                }
            }
        }
        Ok(counts)
    }

    fn take(&mut self, all: bool) -> anyhow::Result<Vec<(String, DataFrame)>> {
        if !all || self.days.is_empty() {
            return Ok(Vec::new());
        }
        let dict = self.strings.dictionary();
        let days = std::mem::take(&mut self.days);
        let mut out = Vec::new();
        for (d, day) in days {
            let perm = self.order_rows(&day.main);
            let paths = self.paths(d);
            match self.stream {
                Stream::Payments => {
                    out.push((paths[0].clone(), day.main.frame(&perm, &dict)?));
                }
                Stream::Orders => {
                    // Items follow their order row (only the kept `created` events).
                    let mut rank = vec![u32::MAX; day.main.len()];
                    for (pos, &r) in perm.iter().enumerate() {
                        rank[r as usize] = pos as u32;
                    }
                    let mut items: Vec<u32> = (0..day.items.len() as u32)
                        .filter(|&i| {
                            day.item_order.get(i as usize).is_some_and(|&o| {
                                rank.get(o as usize).is_some_and(|&r| r != u32::MAX)
                            })
                        })
                        .collect();
                    let line = |i: u32| day.items.i64_at(itm::line_number, i as usize);
                    let order_rank = |i: u32| rank[day.item_order[i as usize] as usize];
                    items.sort_unstable_by_key(|&i| (order_rank(i), line(i)));
                    out.push((paths[0].clone(), day.main.frame(&perm, &dict)?));
                    if !items.is_empty() {
                        out.push((paths[1].clone(), day.items.frame(&items, &dict)?));
                    }
                }
            }
        }
        self.strings.clear();
        self.ips.clear();
        self.agents.clear();
        Ok(out)
    }

    fn finish_counts(&mut self) -> Counts {
        Counts {
            deduplicated: std::mem::take(&mut self.deduplicated),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn pseudo() -> Pseudonymizer {
        Pseudonymizer::new(b"test-key")
    }

    const PAY_KEY: &str =
        "bronze/kafka/payments/event_date=2026-03-17/payments-003-00000000000000000040-00000000000000000049.jsonl";
    const ORD_KEY: &str =
        "bronze/kafka/orders/event_date=2026-03-17/orders-001-00000000000000000000-00000000000000000009.jsonl";

    fn envelope(topic: &str, offset: i64, ts: i64, value: &str) -> String {
        format!(
            r#"{{"topic":"{topic}","partition":3,"offset":{offset},"timestamp":{ts},"key":"CUST-000123","value":{value}}}"#
        )
    }

    const PAYMENT: &str = r#"{"payment_id":"PAY-260317-000001-1","order_id":"ORD-260317-000001","customer_id":"CUST-000123","event_time":"2026-03-17T01:05:54.520Z","amount":76.90,"currency":"eur","status":"Succeeded","error_code":null,"payment_method":"card","psp":"adyen","payment_session_id":"ps_f9d3ef898182a21f","card_masked":"414720******5597","card_ref":"card_149eeba420751e22","risk_score":8,"fraud_flag":false,"billing_country":"FR","ip_address":"185.198.87.239","ip_country":"FR","device_fingerprint":"fp_0c9b99405b46c7c8","user_agent":"python-requests/2.31","processing_time_ms":120,"loyalty_tier":"gold","contact_email":"jean@x.fr"}"#;

    struct Run {
        frames: BTreeMap<String, DataFrame>,
        counts: Counts,
        rejects: Vec<Reject>,
    }

    fn run(stream: Stream, topic: &str, objects: &[(&str, String)]) -> Run {
        let mut src = EventSource::new(
            stream,
            topic,
            pseudo(),
            NaiveDate::from_ymd_opt(2026, 3, 18).unwrap(),
        );
        let fed = crate::silver::runner::testing::feed(&mut src, objects);
        Run {
            frames: fed.frames.into_iter().collect(),
            counts: fed.counts,
            rejects: fed.rejects,
        }
    }

    fn col(df: &DataFrame, name: &str) -> Series {
        df.column(name).unwrap().as_materialized_series().clone()
    }

    fn s(df: &DataFrame, name: &str, i: usize) -> Option<String> {
        col(df, name).str().unwrap().get(i).map(str::to_string)
    }

    #[test]
    fn a_payment_becomes_a_typed_pseudonymised_row() {
        let r = run(
            Stream::Payments,
            "payments",
            &[(
                PAY_KEY,
                envelope("payments", 42, 1_773_709_554_520, PAYMENT),
            )],
        );
        assert!(r.rejects.is_empty(), "{:?}", r.rejects);
        assert_eq!((r.counts.rows_in, r.counts.rows_out), (1, 1));
        let df = &r.frames["payments/event_date=2026-03-17"];
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let want: Vec<String> = PAYMENTS_SCHEMA.iter().map(|c| c.0.to_string()).collect();
        assert_eq!(names, want);
        let p = pseudo();
        assert_eq!(s(df, "customer_id", 0), Some(p.pseudo("CUST-000123")));
        assert_eq!(s(df, "card_bin", 0).as_deref(), Some("414720"));
        assert_eq!(
            s(df, "card_ref", 0),
            Some(p.pseudo("card_149eeba420751e22"))
        );
        assert_eq!(
            s(df, "device_fingerprint", 0),
            Some(p.pseudo("fp_0c9b99405b46c7c8"))
        );
        assert_eq!(
            s(df, "payment_session_id", 0),
            Some(p.pseudo("ps_f9d3ef898182a21f"))
        );
        assert_eq!(s(df, "ip_truncated", 0).as_deref(), Some("185.198.87.xxx"));
        assert_eq!(s(df, "currency", 0).as_deref(), Some("EUR"));
        assert_eq!(s(df, "status", 0).as_deref(), Some("succeeded"));
        assert_eq!(
            col(df, "amount_eur").f64().unwrap().get(0),
            Some(76.9),
            "EUR fallback"
        );
        assert_eq!(col(df, "is_bot").bool().unwrap().get(0), Some(true));
        assert_eq!(s(df, "user_agent_class", 0).as_deref(), Some("bot"));
        assert_eq!(col(df, "risk_score").i32().unwrap().get(0), Some(8));
        assert_eq!(
            s(df, "extra", 0).as_deref(),
            Some(r#"{"contact_email":"[redacted]","loyalty_tier":"gold"}"#)
        );
        assert_eq!(s(df, "kafka_topic", 0).as_deref(), Some("payments"));
        assert_eq!(col(df, "kafka_partition").i32().unwrap().get(0), Some(3));
        assert_eq!(col(df, "kafka_offset").i64().unwrap().get(0), Some(42));
        assert_eq!(col(df, "bronze_line").i64().unwrap().get(0), Some(1));
        let et = col(df, "event_time");
        assert_eq!(
            et.dtype(),
            &DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        );
        assert_eq!(
            et.datetime().unwrap().physical().get(0),
            Some(1_773_709_554_520)
        );
        assert_eq!(
            col(df, "producer_time")
                .datetime()
                .unwrap()
                .physical()
                .get(0),
            Some(1_773_709_554_520)
        );
        assert_eq!(col(df, "event_date").dtype(), &DataType::Date);
        // Nothing raw survives anywhere in the row.
        for c in df.columns() {
            let c = c.cast(&DataType::String).unwrap();
            for v in c.str().unwrap().iter().flatten() {
                for raw in [
                    "CUST-000123",
                    "5597",
                    "185.198.87.239",
                    "fp_0c9b",
                    "card_149",
                    "ps_f9d3",
                    "python-requests",
                    "jean@x.fr",
                ] {
                    assert!(!v.contains(raw), "{} holds {raw}: {v}", c.name());
                }
            }
        }
    }

    #[test]
    fn missing_fields_and_non_json_values_are_rejected() {
        let no_amount = PAYMENT.replace(r#""amount":76.90,"#, "");
        let null_risk = PAYMENT.replace(r#""risk_score":8"#, r#""risk_score":null"#);
        let bad_amount = PAYMENT.replace("76.90", r#""abc""#);
        let text = [
            envelope("payments", 1, 1_773_709_554_520, PAYMENT),
            envelope("payments", 2, 1_773_709_554_520, &no_amount),
            r#"{"topic":"payments","partition":3,"offset":3,"timestamp":1773709554520,"key":"CUST-1","value_raw":"{\"payment_id\":\"PAY-1\",\"customer_id\":\"CUST-1\""}"#.to_string(),
            r#"{"topic":"payments","partition":3,"offset":4,"timestamp":1773709554520,"key":null,"key_b64":"wyg=","value_b64":"//4AQQ=="}"#.to_string(),
            envelope("payments", 5, 1_773_709_554_520, "null"),
            envelope("payments", 6, 1_773_709_554_520, &null_risk),
            envelope("payments", 7, 1_773_709_554_520, &bad_amount),
            "not json at all".to_string(),
        ]
        .join("\n");
        let r = run(Stream::Payments, "payments", &[(PAY_KEY, text)]);
        assert_eq!(r.counts.rows_in, 8);
        assert_eq!(r.counts.rows_out, 1);
        assert_eq!(r.counts.rejected, 7);
        let got: Vec<(u64, &str)> = r
            .rejects
            .iter()
            .map(|x| (x.line, x.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "amount"),
                (3, "value"),
                (4, "value"),
                (5, "value"),
                (6, "risk_score"),
                (7, "amount"),
                (8, "line")
            ]
        );
        assert!(
            r.rejects[1].reason.contains("not JSON"),
            "{:?}",
            r.rejects[1]
        );
        for x in &r.rejects {
            assert!(
                !x.reason.contains("CUST") && !x.reason.contains("PAY-"),
                "{x:?}"
            );
            assert_eq!(x.bronze_key, PAY_KEY);
        }
    }

    #[test]
    fn duplicate_payments_keep_the_latest_message() {
        let newer = PAYMENT.replace("Succeeded", "declined");
        let a = envelope("payments", 10, 1_773_709_554_520, PAYMENT);
        let b = envelope("payments", 11, 1_773_709_554_520, &newer);
        let r1 = run(
            Stream::Payments,
            "payments",
            &[(PAY_KEY, format!("{a}\n{b}"))],
        );
        let r2 = run(
            Stream::Payments,
            "payments",
            &[(PAY_KEY, format!("{b}\n{a}"))],
        );
        for r in [&r1, &r2] {
            assert_eq!(r.counts.deduplicated, 1);
            let df = &r.frames["payments/event_date=2026-03-17"];
            assert_eq!(df.height(), 1);
            assert_eq!(
                s(df, "status", 0).as_deref(),
                Some("declined"),
                "higher offset wins"
            );
        }
    }

    const CREATED: &str = r#"{"order_id":"ORD-260317-000001","customer_id":"CUST-000123","event_type":"created","event_time":"2026-03-17T01:05:34.520Z","total_amount":76.90,"subtotal":71.90,"discount":0.00,"shipping_fee":5.00,"items_count":3,"items":[{"product_id":"PRD-05010","category":"Sport","quantity":2,"unit_price":25.95},{"product_id":"PRD-07011","category":"Épicerie fine","quantity":1,"unit_price":20.00,"gift_wrap":true}],"coupon_code":"BIENVENUE10","delivery_country":"fr","delivery_method":"Express","channel":"web","ip_address":"2a01:cb19:8009:9::1"}"#;
    const SHIPPED: &str = r#"{"order_id":"ORD-260317-000001","customer_id":"CUST-000123","event_type":"shipped","event_time":"2026-03-17T08:00:00.000Z","total_amount":76.90,"items_count":3,"coupon_code":null,"delivery_country":"FR","delivery_method":"express","channel":"web","ip_address":null}"#;

    #[test]
    fn orders_and_their_items() {
        let no_customer = SHIPPED.replace(r#""customer_id":"CUST-000123","#, "");
        let text = [
            envelope("orders", 0, 1_773_709_534_520, CREATED),
            envelope("orders", 1, 1_773_734_400_000, SHIPPED),
            envelope("orders", 2, 1_773_734_400_000, SHIPPED),
            envelope("orders", 3, 1_773_734_400_001, &no_customer),
        ]
        .join("\n");
        let r = run(Stream::Orders, "orders", &[(ORD_KEY, text)]);
        assert_eq!(r.counts.rejected, 1);
        assert_eq!(r.rejects[0].field, "customer_id");
        assert_eq!(r.counts.deduplicated, 1, "the shipped event twice");
        let o = &r.frames["orders/event_date=2026-03-17"];
        assert_eq!(o.height(), 2);
        assert_eq!(s(o, "event_type", 0).as_deref(), Some("created"));
        assert_eq!(s(o, "event_type", 1).as_deref(), Some("shipped"));
        assert_eq!(
            col(o, "kafka_offset").i64().unwrap().get(1),
            Some(2),
            "latest copy kept"
        );
        assert_eq!(
            s(o, "ip_truncated", 0).as_deref(),
            Some("2a01:cb19:8009::/48")
        );
        assert_eq!(s(o, "ip_truncated", 1), None);
        assert_eq!(s(o, "delivery_country", 0).as_deref(), Some("FR"));
        assert_eq!(s(o, "delivery_method", 0).as_deref(), Some("express"));
        assert_eq!(s(o, "coupon_code", 0).as_deref(), Some("BIENVENUE10"));
        assert_eq!(s(o, "customer_id", 0), Some(pseudo().pseudo("CUST-000123")));
        assert_eq!(col(o, "items_count").i32().unwrap().get(0), Some(3));
        assert_eq!(s(o, "extra", 0), None, "items are exploded, not extra");
        let it = &r.frames["order_items/event_date=2026-03-17"];
        let names: Vec<String> = it
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let want: Vec<String> = ORDER_ITEMS_SCHEMA.iter().map(|c| c.0.to_string()).collect();
        assert_eq!(names, want);
        assert_eq!(it.height(), 2);
        assert_eq!(s(it, "order_id", 1).as_deref(), Some("ORD-260317-000001"));
        assert_eq!(col(it, "line_number").i32().unwrap().get(1), Some(2));
        assert_eq!(s(it, "category", 1).as_deref(), Some("Épicerie fine"));
        assert_eq!(col(it, "quantity").i32().unwrap().get(0), Some(2));
        assert_eq!(col(it, "line_amount").f64().unwrap().get(0), Some(51.9));
        assert_eq!(col(it, "unit_price").f64().unwrap().get(1), Some(20.0));
        assert_eq!(s(it, "extra", 1).as_deref(), Some(r#"{"gift_wrap":true}"#));
    }

    #[test]
    fn a_duplicated_created_event_keeps_one_set_of_items() {
        let a = envelope("orders", 0, 1_773_709_534_520, CREATED);
        let b = envelope("orders", 7, 1_773_709_534_520, CREATED);
        let k2 = "bronze/kafka/orders/event_date=2026-03-17/orders-001-00000000000000000007-00000000000000000007.jsonl";
        let r = run(Stream::Orders, "orders", &[(ORD_KEY, a), (k2, b)]);
        assert_eq!(r.counts.deduplicated, 1);
        let it = &r.frames["order_items/event_date=2026-03-17"];
        assert_eq!(it.height(), 2);
        assert_eq!(col(it, "kafka_offset").i64().unwrap().get(0), Some(7));
    }

    #[test]
    fn topics_are_selected_by_prefix_and_bins_by_six_digits() {
        let src = EventSource::new(
            Stream::Orders,
            "orders",
            pseudo(),
            NaiveDate::from_ymd_opt(2026, 3, 18).unwrap(),
        );
        assert!(src.accepts(ORD_KEY));
        assert!(!src.accepts("bronze/kafka/orders_v2/event_date=2026-03-17/x.jsonl"));
        assert!(!src.accepts(PAY_KEY));
        assert_eq!(card_bin("497010******1234"), Some("497010"));
        assert_eq!(
            card_bin("4970101234567890"),
            Some("497010"),
            "even an unmasked number keeps only the BIN"
        );
        assert_eq!(card_bin("49701"), None);
        assert_eq!(card_bin("****"), None);
        assert_eq!(key_date(ORD_KEY), NaiveDate::from_ymd_opt(2026, 3, 17));
    }
}
