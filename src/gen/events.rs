//! Kafka message values (CONTRACTS C1) for `payments`, `orders` and `kyc_decisions`,
//! written as JSONL in production order: one line per message,
//! `{"ts":<Kafka timestamp ms = event time>,"key":"<customer_id>","value":{…}}`, or
//! `{"ts":…,"key":…,"value_raw":"<bytes that are not JSON>"}` for a broken producer.
//!
//! Per day: background traffic derived from the commerce skeletons, then the labelled
//! fraud patterns of [`super::fraud`], then production order (a few events produced late).

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

use super::commerce::{
    self, attempts, basket, life, session_id, skeleton, Basket, Life, OrderSkel, PayClass, PSPS,
    SLOTS_PER_DAY, SLOT_MS,
};
use super::fmt::{day_start_ms, epoch_days, push_i64, push_json_str, Json, OutFile, DAY_MS};
use super::fraud::{self, BgWindows, RuleCounts};
use super::rng::{hex64, mix64, Rng};
use super::world::{Customer, World};
use super::Ctx;

/// How many days back an order can still produce an event (returns take ~12 days
/// after shipping, which takes up to ~2 days).
pub const LOOKBACK_DAYS: i64 = 16;
const WATERMARK_MS: i64 = 10_000;

#[derive(Clone, Debug)]
pub struct PaymentEv {
    pub payment_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub ts: i64,
    pub event_time: i64,
    pub amount: i64,
    pub currency: &'static str,
    pub amount_eur: i64,
    pub status: &'static str,
    pub error_code: Option<&'static str>,
    pub method: &'static str,
    pub psp: &'static str,
    pub session: String,
    pub card_masked: Option<String>,
    pub card_ref: Option<String>,
    pub risk: u8,
    pub fraud_flag: bool,
    pub billing_country: &'static str,
    pub ip: String,
    pub ip_country: &'static str,
    pub fingerprint: String,
    pub ua: &'static str,
    pub processing_ms: u32,
}

impl PaymentEv {
    pub fn write_value(&self, buf: &mut Vec<u8>, skip: Option<&str>) {
        let mut j = Json::with_skip(buf, skip);
        j.str("payment_id", &self.payment_id)
            .str("order_id", &self.order_id)
            .str("customer_id", &self.customer_id)
            .ts("event_time", self.event_time)
            .money("amount", self.amount)
            .str("currency", self.currency)
            .money("amount_eur", self.amount_eur)
            .str("status", self.status)
            .opt_str("error_code", self.error_code)
            .str("payment_method", self.method)
            .str("psp", self.psp)
            .str("payment_session_id", &self.session)
            .opt_str("card_masked", self.card_masked.as_deref())
            .opt_str("card_ref", self.card_ref.as_deref())
            .int("risk_score", i64::from(self.risk))
            .bool("fraud_flag", self.fraud_flag)
            .str("billing_country", self.billing_country)
            .str("ip_address", &self.ip)
            .str("ip_country", self.ip_country)
            .str("device_fingerprint", &self.fingerprint)
            .str("user_agent", self.ua)
            .int("processing_time_ms", i64::from(self.processing_ms));
        j.end();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrdKind {
    Created,
    Cancelled,
    Shipped,
    Delivered,
}

impl OrdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrdKind::Created => "created",
            OrdKind::Cancelled => "cancelled",
            OrdKind::Shipped => "shipped",
            OrdKind::Delivered => "delivered",
        }
    }
}

#[derive(Clone, Debug)]
pub struct OrderEv {
    pub order_id: String,
    pub customer_id: String,
    pub kind: OrdKind,
    pub ts: i64,
    pub event_time: i64,
    pub basket: Basket,
    pub delivery_country: &'static str,
    pub method: &'static str,
    pub channel: &'static str,
    pub ip: Option<String>,
}

impl OrderEv {
    pub fn write_value(&self, world: &World, buf: &mut Vec<u8>, skip: Option<&str>) {
        let b = &self.basket;
        let mut j = Json::with_skip(buf, skip);
        j.str("order_id", &self.order_id)
            .str("customer_id", &self.customer_id)
            .str("event_type", self.kind.as_str())
            .ts("event_time", self.event_time)
            .money("total_amount", b.total)
            .money("subtotal", b.subtotal)
            .money("discount", b.discount)
            .money("shipping_fee", b.shipping)
            .int("items_count", i64::from(b.items_count));
        if self.kind == OrdKind::Created {
            j.raw("items", |out| {
                out.push(b'[');
                for (i, it) in b.items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let p = commerce::product(world, it);
                    let mut o = Json::new(out);
                    o.str("product_id", &p.id)
                        .str("category", p.category)
                        .int("quantity", i64::from(it.quantity))
                        .money("unit_price", it.unit_cents);
                    o.end();
                }
                out.push(b']');
            });
        }
        j.opt_str("coupon_code", b.coupon)
            .str("delivery_country", self.delivery_country)
            .str("delivery_method", self.method)
            .str("channel", self.channel)
            .opt_str("ip_address", self.ip.as_deref());
        j.end();
    }
}

#[derive(Clone, Debug)]
pub struct KycEv {
    pub kyc_ref: String,
    pub order_id: String,
    pub customer_id: String,
    pub ts: i64,
    pub decision: &'static str,
    pub reason: Option<&'static str>,
    /// Confidence in thousandths (`0.874` = 874).
    pub confidence: u16,
    pub doc_type: &'static str,
    pub doc_expiration_valid: Option<bool>,
    pub age: Option<u32>,
    pub processing_ms: u32,
    pub doc_fingerprint: String,
}

impl KycEv {
    pub fn write_value(&self, buf: &mut Vec<u8>) {
        let mut j = Json::new(buf);
        j.str("kyc_ref", &self.kyc_ref)
            .str("order_id", &self.order_id)
            .str("customer_id", &self.customer_id)
            .str("decision", self.decision)
            .opt_str("reason", self.reason)
            .fixed("confidence_score", i64::from(self.confidence), 3)
            .str("doc_type", self.doc_type)
            .opt_bool("doc_expiration_valid", self.doc_expiration_valid);
        match self.age {
            Some(a) => j.int("age_computed", i64::from(a)),
            None => j.null("age_computed"),
        };
        j.int("processing_time_ms", i64::from(self.processing_ms))
            .ts("decided_at", self.ts)
            .str("doc_fingerprint", &self.doc_fingerprint);
        j.end();
    }
}

/// Conversion rate to euros of the payment currencies (fixed, documented).
pub fn eur_per_unit(currency: &str) -> f64 {
    match currency {
        "GBP" => 1.17,
        "CHF" => 1.05,
        "USD" => 0.92,
        _ => 1.0,
    }
}

/// Amount in `currency` cents for a euro amount in cents.
pub fn to_currency(eur_cents: i64, currency: &str) -> i64 {
    let r = eur_per_unit(currency);
    if r == 1.0 {
        eur_cents
    } else {
        (eur_cents as f64 / r + 0.5).floor() as i64
    }
}

// ---------------------------------------------------------------- background stubs

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dlq {
    None,
    Missing(u8),
    NonJson,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `attempt` index; `psp`; `failed` / `may_error`; `error` decided by the PSP cap.
    Pay {
        attempt: u8,
        psp: u8,
        failed: bool,
        may_error: bool,
        error: bool,
    },
    Ord(OrdKind),
    Kyc,
}

#[derive(Clone, Copy, Debug)]
enum Src {
    /// Background: creation day `D - back`, index in that day's skeleton.
    Bg { back: u8, idx: u32 },
    /// Index into the injected events of the topic.
    Inj(u32),
}

#[derive(Clone, Copy, Debug)]
struct Stub {
    ts: i64,
    delay: i64,
    seq: u32,
    src: Src,
    kind: Kind,
    dlq: Dlq,
    skew: i32,
}

/// Required fields of CONTRACTS C1 (the contract the generator writes to).
const PAY_REQUIRED: &[&str] = &crate::bronze::events::PAYMENT_REQUIRED;
const ORD_REQUIRED: &[&str] = &crate::bronze::events::ORDER_REQUIRED;

/// Per-topic counters of one day file.
#[derive(Default, Debug)]
struct TopicStats {
    messages: u64,
    valid: u64,
    missing: BTreeMap<String, u64>,
    non_json: u64,
    delayed_le_10s: u64,
    delayed_gt_10s: u64,
    out_of_order: u64,
    behind_watermark: u64,
    skewed_event_time: u64,
    by_kind: BTreeMap<String, u64>,
}

impl TopicStats {
    fn to_json(&self, path: &str) -> Value {
        json!({
            "path": path,
            "messages": self.messages,
            "valid": self.valid,
            "dead_letter_missing_field": self.missing.values().sum::<u64>(),
            "dead_letter_missing_field_by_field": self.missing,
            "dead_letter_non_json": self.non_json,
            "designed_delay_le_10s": self.delayed_le_10s,
            "designed_delay_gt_10s": self.delayed_gt_10s,
            "out_of_order": self.out_of_order,
            "behind_watermark": self.behind_watermark,
            "event_time_skewed": self.skewed_event_time,
            "by_type": self.by_kind,
        })
    }
}

/// Age in whole years on `at`.
pub fn age_on(birth: NaiveDate, at: NaiveDate) -> u32 {
    use chrono::Datelike;
    let mut a = at.year() - birth.year();
    if (at.month(), at.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a.max(0) as u32
}

/// Background KYC decision planned for an order, if any.
struct KycPlan {
    ts: i64,
    minor: bool,
    decision: &'static str,
    reason: Option<&'static str>,
    confidence: u16,
    exp_valid: Option<bool>,
    processing: u32,
}

fn kyc_plan(seed: u64, day: NaiveDate, o: &OrderSkel, c: &Customer) -> Option<KycPlan> {
    let mut r = Rng::stream(
        seed,
        "kyc-decision",
        epoch_days(day) as u64,
        u64::from(o.no),
    );
    if !(o.tracer || r.chance(1.0 / 12.0)) {
        return None;
    }
    let ts = o.created_ms + r.range(20_000, 90_000);
    let age = age_on(c.birth, day);
    let minor = age < 18;
    let (decision, reason, exp_valid) = if minor {
        ("mineur", None, Some(true))
    } else {
        match r.weighted(&[88, 4, 3, 3, 2]) {
            0 => ("majeur", None, Some(true)),
            1 => ("en_attente", Some("confiance_insuffisante"), None),
            2 => ("en_attente", Some("date_illisible"), None),
            3 => ("en_attente", Some("document_expiré"), Some(false)),
            _ => ("en_attente", Some("mrz_invalide"), None),
        }
    };
    let confidence = if reason == Some("confiance_insuffisante") {
        r.between(410, 690) as u16
    } else {
        r.between(720, 995) as u16
    };
    Some(KycPlan {
        ts,
        minor,
        decision,
        reason,
        confidence,
        exp_valid,
        processing: r.between(900, 4_800) as u32,
    })
}

struct DayData {
    day: NaiveDate,
    /// Skeletons of days `D - back`, index = back.
    skels: Vec<Vec<OrderSkel>>,
    cancel_scale: f64,
}

impl DayData {
    fn creation_day(&self, back: u8) -> NaiveDate {
        self.day - Duration::days(i64::from(back))
    }
    fn skel(&self, back: u8, idx: u32) -> &OrderSkel {
        &self.skels[back as usize][idx as usize]
    }
}

fn bg_payment(ctx: &Ctx, dd: &DayData, back: u8, idx: u32, attempt: u8, error: bool) -> PaymentEv {
    let world = &ctx.world;
    let day = dd.creation_day(back);
    let o = dd.skel(back, idx);
    let c = &world.customers[o.cust as usize];
    let l = life(world.seed, day, o, dd.cancel_scale);
    let b = basket(world, day, o, l.method);
    let atts = attempts(world.seed, day, o, &l, c);
    let a = &atts[attempt as usize];
    let (status, error_code) = match a.class {
        PayClass::Succeeded => ("succeeded", None),
        PayClass::Pending => ("pending", None),
        PayClass::Failed { .. } if error => ("error", Some(a.error_code)),
        PayClass::Failed { .. } => ("declined", Some(a.decline_code)),
    };
    let card = a.card.map(|k| &c.cards[k.min(c.cards.len() - 1)]);
    let ip = if a.foreign_ip {
        c.foreign_ip.clone()
    } else {
        c.ipv4[a.ip].clone()
    };
    PaymentEv {
        payment_id: commerce::payment_id(day, o.no, attempt as usize),
        order_id: commerce::order_id(day, o.no),
        customer_id: c.id.clone(),
        ts: a.ts,
        event_time: a.ts,
        amount: to_currency(b.total, c.currency),
        currency: c.currency,
        amount_eur: b.total,
        status,
        error_code,
        method: a.method,
        psp: PSPS[a.psp as usize],
        session: session_id(day, o.no),
        card_masked: if a.method == "card" {
            card.map(|k| k.masked())
        } else {
            None
        },
        card_ref: card.map(|k| k.card_ref.clone()),
        risk: a.risk,
        fraud_flag: a.fraud_flag,
        billing_country: c.country,
        ip,
        ip_country: a.ip_country.unwrap_or(c.country),
        fingerprint: c.fingerprints[a.fingerprint].clone(),
        ua: a.bot_ua.unwrap_or(c.ua),
        processing_ms: a.processing_ms,
    }
}

fn bg_order(ctx: &Ctx, dd: &DayData, back: u8, idx: u32, kind: OrdKind, ts: i64) -> OrderEv {
    let world = &ctx.world;
    let day = dd.creation_day(back);
    let o = dd.skel(back, idx);
    let c = &world.customers[o.cust as usize];
    let l: Life = life(world.seed, day, o, dd.cancel_scale);
    let b = basket(world, day, o, l.method);
    let ip = match kind {
        OrdKind::Created => Some(c.ipv4[0].clone()),
        OrdKind::Cancelled if l.cancel.map(|x| x.1).unwrap_or(false) => Some(c.ipv4[0].clone()),
        _ => None,
    };
    OrderEv {
        order_id: commerce::order_id(day, o.no),
        customer_id: c.id.clone(),
        kind,
        ts,
        event_time: ts,
        basket: b,
        delivery_country: c.country,
        method: l.method.as_str(),
        channel: l.channel,
        ip,
    }
}

fn bg_kyc(ctx: &Ctx, dd: &DayData, idx: u32) -> Option<KycEv> {
    let world = &ctx.world;
    let o = dd.skel(0, idx);
    let c = &world.customers[o.cust as usize];
    let p = kyc_plan(world.seed, dd.day, o, c)?;
    Some(KycEv {
        kyc_ref: format!(
            "kyc_{}",
            hex64(
                mix64((epoch_days(dd.day) as u64) << 24 ^ u64::from(o.no) ^ 0x4B9C),
                16
            )
        ),
        order_id: commerce::order_id(dd.day, o.no),
        customer_id: c.id.clone(),
        ts: p.ts,
        decision: p.decision,
        reason: p.reason,
        confidence: p.confidence,
        doc_type: c.doc_type,
        doc_expiration_valid: p.exp_valid,
        age: if p.reason == Some("date_illisible") {
            None
        } else {
            Some(age_on(c.birth, dd.day))
        },
        processing_ms: p.processing,
        doc_fingerprint: c.doc_fingerprint.clone(),
    })
}

/// Generates the three topic files of one day; returns the day's ground-truth entry.
pub fn generate_day(ctx: &Ctx, day: NaiveDate, rules: &mut RuleCounts) -> Result<Value> {
    let world = &ctx.world;
    let seed = world.seed;
    let d0 = day_start_ms(day);
    let d1 = d0 + DAY_MS;
    let skels: Vec<Vec<OrderSkel>> = (0..=LOOKBACK_DAYS)
        .map(|b| skeleton(world, ctx.vol.orders_per_day, day - Duration::days(b)))
        .collect();
    let dd = DayData {
        day,
        skels,
        cancel_scale: ctx.vol.cancel_scale,
    };
    let mut pays: Vec<Stub> = Vec::new();
    let mut ords: Vec<Stub> = Vec::new();
    let mut kycs: Vec<Stub> = Vec::new();
    let mut seq = 0u32;
    let mut push = |v: &mut Vec<Stub>, ts: i64, src: Src, kind: Kind| {
        v.push(Stub {
            ts,
            delay: 0,
            seq,
            src,
            kind,
            dlq: Dlq::None,
            skew: 0,
        });
        seq += 1;
    };
    let in_day = |t: i64| t >= d0 && t < d1;
    for back in 0..=LOOKBACK_DAYS as u8 {
        let cday = dd.creation_day(back);
        for (idx, o) in dd.skels[back as usize].iter().enumerate() {
            let idx = idx as u32;
            let l = life(seed, cday, o, dd.cancel_scale);
            if l.last_activity()
                .max(l.cancel.map(|c| c.0).unwrap_or(i64::MIN))
                < d0
                && back >= 2
            {
                continue;
            }
            let src = Src::Bg { back, idx };
            if back == 0 {
                push(&mut ords, o.created_ms, src, Kind::Ord(OrdKind::Created));
            }
            if back <= 1 {
                let c = &world.customers[o.cust as usize];
                for (k, a) in attempts(seed, cday, o, &l, c).iter().enumerate() {
                    if in_day(a.ts) {
                        let (failed, may_error) = match a.class {
                            PayClass::Failed { may_error } => (true, may_error),
                            _ => (false, false),
                        };
                        push(
                            &mut pays,
                            a.ts,
                            src,
                            Kind::Pay {
                                attempt: k as u8,
                                psp: a.psp,
                                failed,
                                may_error,
                                error: false,
                            },
                        );
                    }
                }
            }
            if let Some((t, _)) = l.cancel {
                if in_day(t) {
                    push(&mut ords, t, src, Kind::Ord(OrdKind::Cancelled));
                }
            }
            if let Some(t) = l.shipped {
                if in_day(t) {
                    push(&mut ords, t, src, Kind::Ord(OrdKind::Shipped));
                }
            }
            if let Some(t) = l.delivered {
                if in_day(t) {
                    push(&mut ords, t, src, Kind::Ord(OrdKind::Delivered));
                }
            }
        }
    }
    // Background KYC decisions, at most 2 `mineur` in any 30 minutes.
    {
        let mut minors: Vec<i64> = Vec::new();
        let mut plans: Vec<(i64, u32)> = Vec::new();
        for (idx, o) in dd.skels[0].iter().enumerate() {
            let c = &world.customers[o.cust as usize];
            if let Some(p) = kyc_plan(seed, day, o, c) {
                if !in_day(p.ts) {
                    continue;
                }
                if p.minor {
                    let recent = minors.iter().filter(|&&t| p.ts - t < 1_800_000).count();
                    if recent >= 2 {
                        continue;
                    }
                    minors.push(p.ts);
                }
                plans.push((p.ts, idx as u32));
            }
        }
        for (ts, idx) in plans {
            push(&mut kycs, ts, Src::Bg { back: 0, idx }, Kind::Kyc);
        }
    }
    let mut rng = Rng::stream(seed, "events-day", epoch_days(day) as u64, 0);

    // Cancellations: at most 8 background cancellations per minute.
    cap_cancellations(&mut ords, d1);

    // Dead letters (background only; never on events whose loss could raise a rate).
    for s in pays.iter_mut() {
        if let Src::Bg { back, idx } = s.src {
            if dd.skel(back, idx).tracer {
                continue;
            }
        }
        let x = rng.f64();
        if x < 0.0005 {
            s.dlq = Dlq::NonJson;
        } else if x < 0.0025 {
            s.dlq = Dlq::Missing(rng.below(PAY_REQUIRED.len() as u64) as u8);
        }
    }
    for s in ords.iter_mut() {
        let Src::Bg { back, idx } = s.src else {
            continue;
        };
        let o = dd.skel(back, idx);
        let eligible = match s.kind {
            Kind::Ord(OrdKind::Shipped) | Kind::Ord(OrdKind::Delivered) => true,
            Kind::Ord(OrdKind::Created) => o.express,
            _ => false,
        };
        let x = rng.f64();
        if !eligible || o.tracer {
            continue;
        }
        if x < 0.0005 * 3.0 {
            s.dlq = Dlq::NonJson;
        } else if x < 0.0025 * 3.0 {
            s.dlq = Dlq::Missing(rng.below(ORD_REQUIRED.len() as u64) as u8);
        }
    }

    // Tiny scales still get at least one dead letter of each kind per topic.
    let not_tracer = |s: &Stub| match s.src {
        Src::Bg { back, idx } => !dd.skel(back, idx).tracer,
        Src::Inj(_) => false,
    };
    force_dlq(&mut pays, &mut rng, PAY_REQUIRED.len(), not_tracer);
    force_dlq(&mut ords, &mut rng, ORD_REQUIRED.len(), |s| {
        not_tracer(s)
            && matches!(
                s.kind,
                Kind::Ord(OrdKind::Shipped) | Kind::Ord(OrdKind::Delivered)
            )
    });

    // PSP error cap: errors ≤ 20 % of valid payments per (PSP, 5-min window).
    pays.sort_by_key(|s| (s.ts, s.seq));
    let mut pay_win = vec![[0u32; 3]; SLOTS_PER_DAY];
    for s in &pays {
        if s.dlq == Dlq::None {
            if let Kind::Pay { psp, .. } = s.kind {
                pay_win[((s.ts - d0) / SLOT_MS) as usize][psp as usize] += 1;
            }
        }
    }
    let mut err_used = vec![[0u32; 3]; SLOTS_PER_DAY];
    for s in pays.iter_mut() {
        if let Kind::Pay {
            psp,
            failed: true,
            may_error: true,
            ref mut error,
            ..
        } = s.kind
        {
            if s.dlq != Dlq::None {
                continue;
            }
            let w = ((s.ts - d0) / SLOT_MS) as usize;
            let allowed = pay_win[w][psp as usize] / 5;
            if err_used[w][psp as usize] < allowed {
                err_used[w][psp as usize] += 1;
                *error = true;
            }
        }
    }

    // Production delays and producer clock skew.
    for v in [&mut pays, &mut ords, &mut kycs] {
        for s in v.iter_mut() {
            let x = rng.f64();
            let tracer = match s.src {
                Src::Bg { back, idx } => dd.skel(back, idx).tracer,
                Src::Inj(_) => false,
            };
            if tracer {
                continue;
            }
            let windowed = matches!(s.kind, Kind::Pay { .. } | Kind::Ord(OrdKind::Created));
            if x < 0.001 && (!windowed || (s.ts - d0).rem_euclid(SLOT_MS) < 170_000) {
                s.delay = rng.between(10_001, 120_000);
            } else if x < 0.031 {
                s.delay = rng.between(300, 10_000);
            }
            if rng.chance(0.01) {
                let k = rng.between(500, 3_000) as i32;
                s.skew = if rng.chance(0.5) { k } else { -k };
            }
        }
    }

    // At least one event produced more than 10 s late per topic.
    for v in [&mut pays, &mut ords] {
        if !v.iter().any(|s| s.delay > 10_000) {
            let cands: Vec<usize> = (0..v.len())
                .filter(|&i| {
                    let s = &v[i];
                    let tracer = match s.src {
                        Src::Bg { back, idx } => dd.skel(back, idx).tracer,
                        Src::Inj(_) => true,
                    };
                    !tracer && (s.ts - d0).rem_euclid(SLOT_MS) < 170_000 && s.ts + 120_000 < d1
                })
                .collect();
            if !cands.is_empty() {
                let i = cands[rng.below(cands.len() as u64) as usize];
                v[i].delay = rng.between(10_001, 120_000);
            }
        }
    }

    // Background window counts for the fraud patterns.
    let mut bg = BgWindows {
        day_start: d0,
        created: vec![0; SLOTS_PER_DAY],
        express: vec![0; SLOTS_PER_DAY],
        pay: pay_win,
        kyc_times: Vec::new(),
        cancels_per_min: vec![0; 1440],
    };
    for s in &ords {
        let w = ((s.ts - d0) / SLOT_MS) as usize;
        match s.kind {
            Kind::Ord(OrdKind::Created) => {
                bg.created[w] += 1;
                if let Src::Bg { back, idx } = s.src {
                    if dd.skel(back, idx).express {
                        bg.express[w] += 1;
                    }
                }
            }
            Kind::Ord(OrdKind::Cancelled) => {
                bg.cancels_per_min[((s.ts - d0) / 60_000) as usize] += 1
            }
            _ => {}
        }
    }
    bg.kyc_times = kycs.iter().map(|s| s.ts).collect();
    bg.kyc_times.sort_unstable();

    let inj = fraud::inject(ctx, day, &bg);
    // Keep the background out of the KYC minor-rate bursts.
    kycs.retain(|s| {
        !inj.kyc_exclusions
            .iter()
            .any(|&(a, b)| s.ts >= a && s.ts <= b)
    });
    for (i, p) in inj.payments.iter().enumerate() {
        push(
            &mut pays,
            p.ts,
            Src::Inj(i as u32),
            Kind::Pay {
                attempt: 0,
                psp: 0,
                failed: false,
                may_error: false,
                error: false,
            },
        );
    }
    for (i, o) in inj.orders.iter().enumerate() {
        push(&mut ords, o.ts, Src::Inj(i as u32), Kind::Ord(o.kind));
    }
    for (i, k) in inj.kyc.iter().enumerate() {
        push(&mut kycs, k.ts, Src::Inj(i as u32), Kind::Kyc);
    }

    let date = day.format("%Y-%m-%d").to_string();
    let mut day_rules = RuleCounts::default();
    let pay_path = format!("events/payments/{date}.jsonl");
    let ord_path = format!("events/orders/{date}.jsonl");
    let kyc_path = format!("events/kyc_decisions/{date}.jsonl");

    let pay_stats = write_topic(ctx, &pay_path, &mut pays, |s, buf, stats| {
        let mut p = match s.src {
            Src::Bg { back, idx } => {
                let Kind::Pay { attempt, error, .. } = s.kind else {
                    return None;
                };
                if dd.skel(back, idx).tracer {
                    ctx.seen_tracer("events");
                }
                bg_payment(ctx, &dd, back, idx, attempt, error)
            }
            Src::Inj(i) => inj.payments[i as usize].clone(),
        };
        p.event_time = p.ts + i64::from(s.skew);
        let key = p.customer_id.clone();
        let valid = write_value_envelope(buf, p.ts, &key, s.dlq, PAY_REQUIRED, |b, skip| {
            p.write_value(b, skip)
        });
        if valid {
            *stats.by_kind.entry(p.status.to_string()).or_default() += 1;
            day_rules.count_payment(&p);
        }
        Some(valid)
    })?;
    let ord_stats = write_topic(ctx, &ord_path, &mut ords, |s, buf, stats| {
        let mut o = match s.src {
            Src::Bg { back, idx } => {
                let Kind::Ord(kind) = s.kind else {
                    return None;
                };
                bg_order(ctx, &dd, back, idx, kind, s.ts)
            }
            Src::Inj(i) => inj.orders[i as usize].clone(),
        };
        o.event_time = o.ts + i64::from(s.skew);
        let key = o.customer_id.clone();
        let valid = write_value_envelope(buf, o.ts, &key, s.dlq, ORD_REQUIRED, |b, skip| {
            o.write_value(world, b, skip)
        });
        if valid {
            *stats
                .by_kind
                .entry(o.kind.as_str().to_string())
                .or_default() += 1;
            day_rules.count_order(&o);
        }
        Some(valid)
    })?;
    let kyc_stats = write_topic(ctx, &kyc_path, &mut kycs, |s, buf, stats| {
        let k = match s.src {
            Src::Bg { idx, .. } => bg_kyc(ctx, &dd, idx)?,
            Src::Inj(i) => inj.kyc[i as usize].clone(),
        };
        write_value_envelope(buf, k.ts, &k.customer_id, Dlq::None, &[], |b, _| {
            k.write_value(b)
        });
        *stats.by_kind.entry(k.decision.to_string()).or_default() += 1;
        Some(true)
    })?;
    rules.add(&day_rules);
    let mut patterns = inj.patterns;
    for p in patterns.iter_mut() {
        if let Value::Object(m) = p {
            m.insert("date".into(), Value::String(date.clone()));
        }
    }
    Ok(json!({
        "date": date,
        "payments": pay_stats.to_json(&pay_path),
        "orders": ord_stats.to_json(&ord_path),
        "kyc_decisions": kyc_stats.to_json(&kyc_path),
        "rule_counts": day_rules.to_json(),
        "patterns": patterns,
    }))
}

/// Marks one missing-field and one non-JSON message when the random pass made none.
fn force_dlq(v: &mut [Stub], rng: &mut Rng, n_fields: usize, eligible: impl Fn(&Stub) -> bool) {
    let cands: Vec<usize> = (0..v.len())
        .filter(|&i| v[i].dlq == Dlq::None && eligible(&v[i]))
        .collect();
    if cands.len() < 2 {
        return;
    }
    if !v.iter().any(|s| matches!(s.dlq, Dlq::Missing(_))) {
        let i = cands[rng.below(cands.len() as u64) as usize];
        v[i].dlq = Dlq::Missing(rng.below(n_fields as u64) as u8);
    }
    if !v.iter().any(|s| s.dlq == Dlq::NonJson) {
        if let Some(&i) = cands.iter().find(|&&i| v[i].dlq == Dlq::None) {
            v[i].dlq = Dlq::NonJson;
        }
    }
}

/// Moves background cancellations so that no minute holds more than 8.
fn cap_cancellations(ords: &mut [Stub], day_end: i64) {
    const CAP: usize = 8;
    let mut idx: Vec<usize> = (0..ords.len())
        .filter(|&i| matches!(ords[i].kind, Kind::Ord(OrdKind::Cancelled)))
        .collect();
    idx.sort_by_key(|&i| (ords[i].ts, ords[i].seq));
    let mut per_min: BTreeMap<i64, usize> = BTreeMap::new();
    for &i in &idx {
        let mut m = ords[i].ts.div_euclid(60_000);
        let mut ts = ords[i].ts;
        while per_min.get(&m).copied().unwrap_or(0) >= CAP && (m + 1) * 60_000 < day_end {
            m += 1;
            ts = m * 60_000 + ts.rem_euclid(60_000);
        }
        *per_min.entry(m).or_default() += 1;
        ords[i].ts = ts.min(day_end - 1);
    }
}

/// Writes the envelope; returns whether the message is valid (not a dead letter).
fn write_value_envelope(
    buf: &mut Vec<u8>,
    ts: i64,
    key: &str,
    dlq: Dlq,
    required: &[&str],
    f: impl FnOnce(&mut Vec<u8>, Option<&str>),
) -> bool {
    buf.extend_from_slice(b"{\"ts\":");
    push_i64(buf, ts);
    buf.extend_from_slice(b",\"key\":");
    push_json_str(buf, key);
    match dlq {
        Dlq::None | Dlq::Missing(_) => {
            buf.extend_from_slice(b",\"value\":");
            let skip = match dlq {
                Dlq::Missing(i) => required.get(i as usize).copied(),
                _ => None,
            };
            f(buf, skip);
            buf.extend_from_slice(b"}\n");
            dlq == Dlq::None
        }
        Dlq::NonJson => {
            let mut v = Vec::new();
            f(&mut v, None);
            // A producer bug cut the serialised value in half.
            let cut = (v.len() / 2).max(1);
            let raw = String::from_utf8_lossy(&v[..cut]).into_owned();
            buf.extend_from_slice(b",\"value_raw\":");
            push_json_str(buf, &raw);
            buf.extend_from_slice(b"}\n");
            false
        }
    }
}

/// Sorts stubs in production order, materialises and writes them, measuring disorder.
fn write_topic(
    ctx: &Ctx,
    rel: &str,
    stubs: &mut [Stub],
    mut render: impl FnMut(&Stub, &mut Vec<u8>, &mut TopicStats) -> Option<bool>,
) -> Result<TopicStats> {
    stubs.sort_by_key(|s| (s.ts + s.delay, s.ts, s.seq));
    let mut out = OutFile::create(&ctx.out, rel)?;
    let mut stats = TopicStats::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut max_ts = i64::MIN;
    for s in stubs.iter() {
        let start = buf.len();
        let Some(valid) = render(s, &mut buf, &mut stats) else {
            buf.truncate(start);
            continue;
        };
        stats.messages += 1;
        if valid {
            stats.valid += 1;
        } else if s.dlq == Dlq::NonJson {
            stats.non_json += 1;
        } else if let Dlq::Missing(i) = s.dlq {
            let req = if rel.contains("/payments/") {
                PAY_REQUIRED
            } else {
                ORD_REQUIRED
            };
            let f = req.get(i as usize).copied().unwrap_or("?");
            *stats.missing.entry(f.to_string()).or_default() += 1;
        }
        if s.delay > 10_000 {
            stats.delayed_gt_10s += 1;
        } else if s.delay > 0 {
            stats.delayed_le_10s += 1;
        }
        if s.skew != 0 {
            stats.skewed_event_time += 1;
        }
        if s.ts < max_ts {
            stats.out_of_order += 1;
            if s.ts < max_ts - WATERMARK_MS {
                stats.behind_watermark += 1;
            }
        }
        max_ts = max_ts.max(s.ts);
        if buf.len() > (1 << 16) - 4096 {
            out.write(&buf)?;
            buf.clear();
        }
    }
    out.write(&buf)?;
    ctx.record(out.finish()?);
    Ok(stats)
}

/// `config/bin_blacklist.txt`: one BIN per line, `#` comments.
pub fn write_blacklist(ctx: &Ctx) -> Result<()> {
    let mut out = OutFile::create(&ctx.out, "config/bin_blacklist.txt")?;
    let mut b = Vec::new();
    b.extend_from_slice(b"# Card BINs (first six digits) of issuers known to be fraudulent.\n");
    b.extend_from_slice(b"# Written by kvt-gen; used by the bin_blacklist rule (CONTRACTS C4).\n");
    for bin in super::world::BLACKLISTED_BINS {
        b.extend_from_slice(bin.as_bytes());
        b.push(b'\n');
    }
    out.write(&b)?;
    ctx.record(out.finish()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Ctx, GenConfig};

    #[test]
    fn event_volumes_and_anomaly_rates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = NaiveDate::from_ymd_opt(2026, 3, 17).expect("date");
        let ctx = Ctx::new(&GenConfig::new(42, 1.0, d, d), dir.path());
        let mut rules = RuleCounts::default();
        let t = generate_day(&ctx, d, &mut rules).expect("generate");
        let p = &t["payments"];
        let o = &t["orders"];
        let n_p = p["messages"].as_u64().expect("n") as f64;
        let n_o = o["messages"].as_u64().expect("n") as f64;
        assert!((4_000.0..7_000.0).contains(&n_p), "{n_p}");
        assert!((9_000.0..13_000.0).contains(&n_o), "{n_o}");
        for (top, n) in [(p, n_p), (o, n_o)] {
            let late = top["designed_delay_le_10s"].as_u64().expect("late") as f64 / n;
            assert!((0.02..0.04).contains(&late), "{late}");
            let very = top["designed_delay_gt_10s"].as_u64().expect("very") as f64 / n;
            assert!(very < 0.004 && very > 0.0, "{very}");
            let dl = (top["dead_letter_missing_field"].as_u64().expect("m")
                + top["dead_letter_non_json"].as_u64().expect("j")) as f64;
            assert!(dl >= 2.0 && dl / n < 0.01, "{dl}");
            assert!(
                top["behind_watermark"].as_u64().expect("w")
                    <= top["designed_delay_gt_10s"].as_u64().expect("g")
            );
        }
        // About 8 % of attempts look fraudulent; direct criteria are common but not the norm.
        let direct = rules.direct_one + rules.direct_multi;
        let share = direct as f64 / rules.payments as f64;
        assert!((0.05..0.15).contains(&share), "{share}");
        assert!(rules.bin_blacklist >= 1 && rules.geo_mismatch >= 1 && rules.bot_pattern >= 1);
        assert!(t["patterns"].as_array().expect("patterns").len() >= 21);
    }

    #[test]
    fn currency_conversion() {
        assert_eq!(to_currency(11_700, "GBP"), 10_000);
        assert_eq!(to_currency(1_234, "EUR"), 1_234);
        assert_eq!(
            age_on(
                NaiveDate::from_ymd_opt(2008, 3, 18).expect("d"),
                NaiveDate::from_ymd_opt(2026, 3, 17).expect("d")
            ),
            17
        );
    }
}
