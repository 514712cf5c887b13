//! Labelled fraud patterns (one per alert type of CONTRACTS C3) and the per-event rule
//! predicates of CONTRACTS C4 used to count what the background satisfies.
//!
//! Each day, every pattern instance gets its own 30-minute slot of the day (slots 1–46,
//! never the first or last half hour), so patterns never overlap each other. Pattern
//! actors are fresh customers `CUST-9YYMMDDkkkkk` (new accounts, not in the CRM export)
//! with their own IPs (`185.x.x.x`), device fingerprints and cards, so a pattern fires
//! exactly its own rule, exactly once.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::commerce::{finish_basket, yymmdd, Basket, Item, Method, PSPS, SLOT_MS};
use super::events::{to_currency, KycEv, OrdKind, OrderEv, PaymentEv};
use super::fmt::{epoch_days, rfc3339_ms};
use super::rng::{hex64, mix64, Rng};
use super::world::{
    is_bot_ua, pattern_ip, Card, BLACKLISTED_BINS, BROWSER_UAS, LEGIT_BINS, RISK_COUNTRIES,
};
use super::Ctx;

/// C4 direct criteria of a payment: (fraud flag, risk > 70, risk country, failure with
/// moderate score 40–70).
pub fn payment_criteria(p: &PaymentEv) -> [bool; 4] {
    [
        p.fraud_flag,
        p.risk > 70,
        RISK_COUNTRIES.contains(&p.ip_country) || RISK_COUNTRIES.contains(&p.billing_country),
        (p.status == "declined" || p.status == "error") && (40..=70).contains(&p.risk),
    ]
}

pub fn is_high_amount(p: &PaymentEv) -> bool {
    p.amount_eur > 150_000
}

pub fn is_blacklisted_bin(p: &PaymentEv) -> bool {
    p.card_masked
        .as_deref()
        .map(|m| BLACKLISTED_BINS.iter().any(|b| m.starts_with(b)))
        .unwrap_or(false)
}

pub fn is_geo_mismatch(p: &PaymentEv) -> bool {
    p.billing_country != p.ip_country && p.risk >= 60
}

pub fn is_bot_pattern(p: &PaymentEv) -> bool {
    is_bot_ua(p.ua) && p.processing_ms < 300
}

/// Events of the generated files that satisfy each per-event rule (valid messages only).
#[derive(Default, Clone, Debug)]
pub struct RuleCounts {
    pub payments: u64,
    pub direct_one: u64,
    pub direct_multi: u64,
    pub criteria: [u64; 4],
    pub high_amount: u64,
    pub bin_blacklist: u64,
    pub geo_mismatch: u64,
    pub bot_pattern: u64,
    pub orders: u64,
    pub order_high_amount_all: u64,
    pub order_high_amount_created: u64,
    pub discount_abuse_all: u64,
    pub discount_abuse_created: u64,
    pub large_cancellation: u64,
}

impl RuleCounts {
    pub fn count_payment(&mut self, p: &PaymentEv) {
        self.payments += 1;
        let c = payment_criteria(p);
        let n = c.iter().filter(|&&x| x).count();
        for (i, &x) in c.iter().enumerate() {
            self.criteria[i] += u64::from(x);
        }
        if n == 1 {
            self.direct_one += 1;
        } else if n >= 2 {
            self.direct_multi += 1;
        }
        self.high_amount += u64::from(is_high_amount(p));
        self.bin_blacklist += u64::from(is_blacklisted_bin(p));
        self.geo_mismatch += u64::from(is_geo_mismatch(p));
        self.bot_pattern += u64::from(is_bot_pattern(p));
    }

    pub fn count_order(&mut self, o: &OrderEv) {
        self.orders += 1;
        let b = &o.basket;
        let created = o.kind == OrdKind::Created;
        if b.total > 300_000 {
            self.order_high_amount_all += 1;
            self.order_high_amount_created += u64::from(created);
        }
        if b.discount * 100 > 30 * b.subtotal {
            self.discount_abuse_all += 1;
            self.discount_abuse_created += u64::from(created);
        }
        if o.kind == OrdKind::Cancelled && b.items_count > 4 {
            self.large_cancellation += 1;
        }
    }

    pub fn add(&mut self, o: &RuleCounts) {
        self.payments += o.payments;
        self.direct_one += o.direct_one;
        self.direct_multi += o.direct_multi;
        for i in 0..4 {
            self.criteria[i] += o.criteria[i];
        }
        self.high_amount += o.high_amount;
        self.bin_blacklist += o.bin_blacklist;
        self.geo_mismatch += o.geo_mismatch;
        self.bot_pattern += o.bot_pattern;
        self.orders += o.orders;
        self.order_high_amount_all += o.order_high_amount_all;
        self.order_high_amount_created += o.order_high_amount_created;
        self.discount_abuse_all += o.discount_abuse_all;
        self.discount_abuse_created += o.discount_abuse_created;
        self.large_cancellation += o.large_cancellation;
    }

    pub fn to_json(&self) -> Value {
        json!({
            "valid_payments": self.payments,
            "payment_direct": {
                "total": self.direct_one + self.direct_multi,
                "haute_one_criterion": self.direct_one,
                "critique_two_or_more": self.direct_multi,
                "by_criterion": {
                    "fraud_flag": self.criteria[0],
                    "risk_score_gt_70": self.criteria[1],
                    "risk_country": self.criteria[2],
                    "failure_with_moderate_score": self.criteria[3],
                },
            },
            "high_amount": self.high_amount,
            "bin_blacklist": self.bin_blacklist,
            "geo_mismatch": self.geo_mismatch,
            "bot_pattern": self.bot_pattern,
            "valid_orders": self.orders,
            "order_high_amount": {"all_event_types": self.order_high_amount_all, "created_only": self.order_high_amount_created},
            "order_discount_abuse": {"all_event_types": self.discount_abuse_all, "created_only": self.discount_abuse_created},
            "order_large_cancellation": self.large_cancellation,
        })
    }
}

/// Background counts a pattern needs to outweigh (per aligned 5-minute slot of the day).
pub struct BgWindows {
    pub day_start: i64,
    pub created: Vec<u32>,
    pub express: Vec<u32>,
    /// Valid background payments per slot and PSP.
    pub pay: Vec<[u32; 3]>,
    /// Sorted times of the background KYC decisions.
    pub kyc_times: Vec<i64>,
    pub cancels_per_min: Vec<u32>,
}

#[derive(Default)]
pub struct Injection {
    pub payments: Vec<PaymentEv>,
    pub orders: Vec<OrderEv>,
    pub kyc: Vec<KycEv>,
    pub patterns: Vec<Value>,
    /// Intervals from which background KYC decisions are removed.
    pub kyc_exclusions: Vec<(i64, i64)>,
}

/// The alert types with a labelled pattern, in generation order.
pub const PATTERN_TYPES: &[&str] = &[
    "payment_direct_one",
    "payment_direct_multi",
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
];

struct Actor {
    id: String,
    ip: String,
    fp: String,
    card: Card,
    country: &'static str,
    ua: &'static str,
}

struct Inj<'a> {
    ctx: &'a Ctx,
    day: NaiveDate,
    yy: String,
    dn: u64,
    r: Rng,
    n_cust: u32,
    n_order: u32,
    n_pay: u32,
    n_ip: u32,
    n_card: u32,
    out: Injection,
}

const MIN: i64 = 60_000;

impl<'a> Inj<'a> {
    fn card(&mut self, bin: &'static str) -> Card {
        self.n_card += 1;
        Card {
            bin,
            last4: format!("{:04}", self.r.below(10_000)),
            card_ref: format!(
                "card_{}",
                hex64(mix64(self.dn << 32 ^ u64::from(self.n_card) ^ 0xF4A0D), 16)
            ),
        }
    }

    fn ip(&mut self) -> String {
        self.n_ip += 1;
        pattern_ip(self.n_ip)
    }

    fn actor(&mut self) -> Actor {
        self.n_cust += 1;
        let n = self.n_cust;
        let bin = self.r.pick(LEGIT_BINS);
        let card = self.card(bin);
        let ip = self.ip();
        Actor {
            id: format!("CUST-9{}{n:05}", self.yy),
            ip,
            fp: format!(
                "fp_{}",
                hex64(mix64(self.dn << 32 ^ u64::from(n) ^ 0xF9F9), 16)
            ),
            card,
            country: "FR",
            ua: self.r.pick(&BROWSER_UAS[..9]),
        }
    }

    fn basket(&mut self, lines: usize, qty: u32, method: Method) -> Basket {
        let world = &self.ctx.world;
        let mut items = Vec::new();
        while items.len() < lines {
            let p = self.r.below(world.products.len() as u64) as usize;
            if world.products[p].regulated || items.iter().any(|i: &Item| i.product == p) {
                continue;
            }
            items.push(Item {
                product: p,
                quantity: qty,
                unit_cents: world.products[p].price_cents,
            });
        }
        finish_basket(items, method, None, 0)
    }

    /// A one-line basket whose total lies in `(lo, hi)` cents.
    fn basket_between(&mut self, lo: i64, hi: i64) -> Basket {
        let world = &self.ctx.world;
        loop {
            let p = self.r.below(world.products.len() as u64) as usize;
            let price = world.products[p].price_cents;
            if world.products[p].regulated || price < 2_000 {
                continue;
            }
            let q = lo / price + 1;
            let b = finish_basket(
                vec![Item {
                    product: p,
                    quantity: q as u32,
                    unit_cents: price,
                }],
                Method::Standard,
                None,
                0,
            );
            if b.total > lo && b.total < hi {
                return b;
            }
        }
    }

    fn order(&mut self, a: &Actor, ts: i64, basket: Basket, method: Method) -> OrderEv {
        self.n_order += 1;
        let o = OrderEv {
            order_id: format!("ORD-{}-F{:05}", self.yy, self.n_order),
            customer_id: a.id.clone(),
            kind: OrdKind::Created,
            ts,
            event_time: ts,
            basket,
            delivery_country: "FR",
            method: method.as_str(),
            channel: "web",
            ip: Some(a.ip.clone()),
        };
        self.out.orders.push(o.clone());
        o
    }

    fn order_event(
        &mut self,
        base: &OrderEv,
        kind: OrdKind,
        ts: i64,
        ip: Option<String>,
    ) -> OrderEv {
        let mut o = base.clone();
        o.kind = kind;
        o.ts = ts;
        o.event_time = ts;
        o.ip = ip;
        self.out.orders.push(o.clone());
        o
    }

    fn payment(&mut self, a: &Actor, o: &OrderEv, ts: i64, session: &str) -> PaymentEv {
        self.n_pay += 1;
        let psp = PSPS[self.r.below(2) as usize];
        PaymentEv {
            payment_id: format!("PAY-{}-F{:05}", self.yy, self.n_pay),
            order_id: o.order_id.clone(),
            customer_id: a.id.clone(),
            ts,
            event_time: ts,
            amount: to_currency(o.basket.total, "EUR"),
            currency: "EUR",
            amount_eur: o.basket.total,
            status: "succeeded",
            error_code: None,
            method: "card",
            psp,
            session: session.to_string(),
            card_masked: Some(a.card.masked()),
            card_ref: Some(a.card.card_ref.clone()),
            risk: self.r.between(5, 30) as u8,
            fraud_flag: false,
            billing_country: a.country,
            ip: a.ip.clone(),
            ip_country: a.country,
            fingerprint: a.fp.clone(),
            ua: a.ua,
            processing_ms: self.r.between(20_000, 90_000) as u32,
        }
    }

    fn session(&mut self) -> String {
        let mut s = String::from("ps_f");
        self.r.hex(&mut s, 15);
        s
    }

    fn push_pay(&mut self, p: PaymentEv) -> String {
        let id = p.payment_id.clone();
        self.out.payments.push(p);
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn truth(
        &mut self,
        ty: &str,
        severity: &str,
        key: &str,
        ids: Vec<String>,
        first: i64,
        last: i64,
        trigger: Option<String>,
        extra: Value,
    ) {
        let mut v = json!({
            "type": ty,
            "severity": severity,
            "key": key,
            "expected_alerts": 1,
            "trigger_event_id": trigger,
            "first_event_time": rfc3339_ms(first),
            "last_event_time": rfc3339_ms(last),
            "event_ids": ids,
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            for (k, x) in e {
                m.insert(k, x);
            }
        }
        self.out.patterns.push(v);
    }

    /// Order created at `t` plus one payment `dt` later; returns (order, payment ids).
    fn simple_checkout(
        &mut self,
        a: &Actor,
        t: i64,
        dt: i64,
        basket: Basket,
    ) -> (OrderEv, PaymentEv) {
        let o = self.order(a, t, basket, Method::Standard);
        let s = self.session();
        let p = self.payment(a, &o, t + dt, &s);
        (o, p)
    }
}

fn oid(o: &OrderEv) -> String {
    format!("{}/{}", o.order_id, o.kind.as_str())
}

/// Builds the day's labelled patterns.
pub fn inject(ctx: &Ctx, day: NaiveDate, bg: &BgWindows) -> Injection {
    let dn = epoch_days(day) as u64;
    let mut inj = Inj {
        ctx,
        day,
        yy: yymmdd(day),
        dn,
        r: Rng::stream(ctx.world.seed, "fraud", dn, 0),
        n_cust: 0,
        n_order: 0,
        n_pay: 0,
        n_ip: 0,
        n_card: 0,
        out: Injection::default(),
    };
    let instances = if ctx.scale >= 2.0 { 2 } else { 1 };
    let mut slots: Vec<i64> = (1..=46).collect();
    inj.r.shuffle(&mut slots);
    let mut next = 0;
    for &ty in PATTERN_TYPES {
        for _ in 0..instances {
            let slot = slots[next % slots.len()];
            next += 1;
            let s0 = bg.day_start + slot * 30 * MIN;
            build(&mut inj, ty, s0, bg);
        }
    }
    let _ = inj.day;
    inj.out
}

fn build(inj: &mut Inj, ty: &str, s0: i64, bg: &BgWindows) {
    let t = s0 + 5 * MIN + inj.r.range(0, 60_000);
    match ty {
        "payment_direct_one" => {
            let a = inj.actor();
            let b = inj.basket(2, 1, Method::Standard);
            let (o, mut p) = inj.simple_checkout(&a, t, 40_000, b);
            p.risk = inj.r.between(75, 92) as u8;
            let (f, l) = (o.ts, p.ts);
            let pid = inj.push_pay(p);
            inj.truth(
                ty_name(ty),
                "haute",
                &pid.clone(),
                vec![oid(&o), pid.clone()],
                f,
                l,
                Some(pid),
                json!({"criteria": ["risk_score>70"]}),
            );
        }
        "payment_direct_multi" => {
            let mut a = inj.actor();
            a.country = "RU";
            let b = inj.basket(1, 1, Method::Standard);
            let (o, mut p) = inj.simple_checkout(&a, t, 30_000, b);
            p.fraud_flag = true;
            p.risk = inj.r.between(85, 97) as u8;
            p.status = "declined";
            p.error_code = Some("suspected_fraud");
            let (f, l) = (o.ts, p.ts);
            let pid = inj.push_pay(p);
            inj.truth(
                ty_name(ty),
                "critique",
                &pid.clone(),
                vec![oid(&o), pid.clone()],
                f,
                l,
                Some(pid),
                json!({"criteria": ["fraud_flag", "risk_score>70", "risk_country"]}),
            );
        }
        "high_amount" => {
            let a = inj.actor();
            let b = inj.basket_between(160_000, 290_000);
            let (o, p) = inj.simple_checkout(&a, t, 60_000, b);
            let (f, l) = (o.ts, p.ts);
            let amount = p.amount_eur;
            let pid = inj.push_pay(p);
            inj.truth(
                ty_name(ty),
                "haute",
                &pid.clone(),
                vec![oid(&o), pid.clone()],
                f,
                l,
                Some(pid),
                json!({"amount_eur": amount as f64 / 100.0}),
            );
        }
        "bin_blacklist" => {
            let mut a = inj.actor();
            let bin = inj.r.pick(BLACKLISTED_BINS);
            a.card = inj.card(bin);
            let b = inj.basket(1, 1, Method::Standard);
            let (o, p) = inj.simple_checkout(&a, t, 45_000, b);
            let (f, l) = (o.ts, p.ts);
            let pid = inj.push_pay(p);
            inj.truth(
                ty_name(ty),
                "critique",
                &pid.clone(),
                vec![oid(&o), pid.clone()],
                f,
                l,
                Some(pid),
                json!({"bin": bin}),
            );
        }
        "geo_mismatch" => {
            let a = inj.actor();
            let b = inj.basket(2, 1, Method::Standard);
            let (o, mut p) = inj.simple_checkout(&a, t, 50_000, b);
            p.ip_country = inj.r.pick(&["US", "BR", "NG", "CN", "TH"]);
            p.risk = inj.r.between(60, 69) as u8;
            let (f, l) = (o.ts, p.ts);
            let ipc = p.ip_country;
            let pid = inj.push_pay(p);
            inj.truth(
                ty_name(ty),
                "haute",
                &pid.clone(),
                vec![oid(&o), pid.clone()],
                f,
                l,
                Some(pid),
                json!({"billing_country": "FR", "ip_country": ipc}),
            );
        }
        "bot_pattern" => {
            let mut a = inj.actor();
            a.ua = inj.r.pick(&[
                "python-requests/2.31.0",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/122.0.0.0 Safari/537.36",
                "Scrapy/2.11.0 (+https://scrapy.org)",
            ]);
            let b = inj.basket(1, 1, Method::Standard);
            let (o, mut p) = inj.simple_checkout(&a, t, 5_000, b);
            p.processing_ms = inj.r.between(60, 250) as u32;
            let (f, l) = (o.ts, p.ts);
            let pid = inj.push_pay(p);
            inj.truth(
                ty_name(ty),
                "haute",
                &pid.clone(),
                vec![oid(&o), pid.clone()],
                f,
                l,
                Some(pid),
                json!({"user_agent": a.ua}),
            );
        }
        "psp_error_rate" => {
            let w0 = s0 + 10 * MIN;
            let slot = ((w0 - bg.day_start) / SLOT_MS) as usize;
            let psp = inj.r.below(3) as usize;
            let n = bg.pay[slot][psp];
            let k = (n * 3).div_ceil(10) + 3;
            let mut ids = Vec::new();
            let mut last = w0;
            let mut first = i64::MAX;
            for i in 0..k {
                let a = inj.actor();
                let b = inj.basket(1, 1, Method::Standard);
                let tp = w0 + 20_000 + (260_000 * i64::from(i)) / i64::from(k.max(1));
                let lead = inj.r.between(30_000, 60_000);
                let o = inj.order(&a, tp - lead, b, Method::Standard);
                let s = inj.session();
                let mut p = inj.payment(&a, &o, tp, &s);
                p.psp = PSPS[psp];
                p.status = "error";
                p.error_code =
                    Some(
                        inj.r
                            .pick(&["psp_timeout", "gateway_error", "service_unavailable"]),
                    );
                first = first.min(o.ts);
                last = last.max(tp);
                ids.push(oid(&o));
                ids.push(inj.push_pay(p));
            }
            inj.truth(
                ty_name(ty),
                "avertissement",
                PSPS[psp],
                ids,
                first,
                last,
                None,
                json!({
                    "window_start": rfc3339_ms(w0),
                    "window_end": rfc3339_ms(w0 + 5 * MIN),
                    "background_valid_payments_in_window": n,
                    "injected_errors": k,
                }),
            );
        }
        "order_high_amount" => {
            let a = inj.actor();
            let b = inj.basket_between(320_000, 600_000);
            let o = inj.order(&a, t, b, Method::Standard);
            let id = oid(&o);
            inj.truth(
                ty_name(ty),
                "haute",
                &o.order_id,
                vec![id.clone()],
                t,
                t,
                Some(id),
                json!({"total_amount": o.basket.total as f64 / 100.0}),
            );
        }
        "order_discount_abuse" => {
            let a = inj.actor();
            let b = inj.basket(3, 1, Method::Standard);
            let pct = inj.r.between(45, 70);
            let b = finish_basket(b.items, Method::Standard, Some("PARRAIN-VIP"), pct);
            let o = inj.order(&a, t, b, Method::Standard);
            let id = oid(&o);
            inj.truth(
                ty_name(ty),
                "haute",
                &o.order_id,
                vec![id.clone()],
                t,
                t,
                Some(id),
                json!({"discount_pct": pct}),
            );
        }
        "order_large_cancellation" => {
            let a = inj.actor();
            let lines = inj.r.between(2, 3) as usize;
            let b = inj.basket(lines, 3, Method::Standard);
            let o = inj.order(&a, t, b, Method::Standard);
            let tc = t + inj.r.between(5 * MIN, 15 * MIN);
            let c = inj.order_event(&o, OrdKind::Cancelled, tc, Some(a.ip.clone()));
            let id = oid(&c);
            inj.truth(
                ty_name(ty),
                "avertissement",
                &o.order_id,
                vec![oid(&o), id.clone()],
                t,
                tc,
                Some(id),
                json!({"items_count": o.basket.items_count}),
            );
        }
        "cancellation_spike" => {
            let m0 = s0 + 20 * MIN;
            let k = inj.r.between(12, 14);
            let mut ids = Vec::new();
            let mut first = i64::MAX;
            for i in 0..k {
                let a = inj.actor();
                let b = inj.basket(1, 1, Method::Standard);
                let tc0 = s0 + MIN + inj.r.range(0, 14 * MIN);
                let o = inj.order(&a, tc0, b, Method::Standard);
                let tc = m0 + 2_000 + i * 3_900;
                let c = inj.order_event(&o, OrdKind::Cancelled, tc, Some(a.ip.clone()));
                first = first.min(tc0);
                ids.push(oid(&o));
                ids.push(oid(&c));
            }
            let bgc = bg.cancels_per_min[((m0 - bg.day_start) / MIN) as usize];
            inj.truth(
                ty_name(ty),
                "avertissement",
                "*",
                ids,
                first,
                m0 + 2_000 + (k - 1) * 3_900,
                None,
                json!({
                    "window_start": rfc3339_ms(m0),
                    "window_end": rfc3339_ms(m0 + MIN),
                    "injected_cancellations": k,
                    "background_cancellations_in_window": bgc,
                }),
            );
        }
        "express_spike" => {
            let w0 = s0 + 10 * MIN;
            let slot = ((w0 - bg.day_start) / SLOT_MS) as usize;
            let n = bg.created[slot];
            let k = n + 3;
            let a = inj.actor();
            let mut ids = Vec::new();
            for i in 0..k {
                let b = inj.basket(1, 1, Method::Express);
                let to = w0 + 10_000 + (280_000 * i64::from(i)) / i64::from(k);
                let o = inj.order(&a, to, b, Method::Express);
                ids.push(oid(&o));
            }
            inj.truth(
                ty_name(ty),
                "avertissement",
                "*",
                ids,
                w0 + 10_000,
                w0 + 10_000 + (280_000 * i64::from(k - 1)) / i64::from(k),
                None,
                json!({
                    "window_start": rfc3339_ms(w0),
                    "window_end": rfc3339_ms(w0 + 5 * MIN),
                    "counted_events": "created",
                    "background_created_in_window": n,
                    "background_express_in_window": bg.express[slot],
                    "injected_express_created": k,
                }),
            );
        }
        "card_testing" => {
            let a = inj.actor();
            let b = inj.basket(1, 1, Method::Standard);
            let o = inj.order(&a, t, b, Method::Standard);
            let s = inj.session();
            let k = inj.r.between(5, 6);
            let mut ids = vec![oid(&o)];
            let mut tp = t + 60_000;
            let mut trigger = None;
            for i in 0..k {
                let mut p = inj.payment(&a, &o, tp, &s);
                if i + 1 < k {
                    p.status = "declined";
                    p.error_code =
                        Some(
                            inj.r
                                .pick(&["card_declined", "incorrect_cvc", "expired_card"]),
                        );
                }
                p.processing_ms = inj.r.between(400, 900) as u32;
                let id = inj.push_pay(p);
                if i == 3 {
                    trigger = Some(id.clone());
                }
                ids.push(id);
                if i + 1 < k {
                    tp += inj.r.between(600, 850);
                }
            }
            inj.truth(
                ty_name(ty),
                "critique",
                &s,
                ids,
                t,
                tp,
                trigger,
                json!({"attempts": k}),
            );
        }
        "card_portfolio" => {
            let a = inj.actor();
            let b = inj.basket(1, 1, Method::Standard);
            let o = inj.order(&a, t, b, Method::Standard);
            let s = inj.session();
            let k = inj.r.between(3, 4);
            let mut ids = vec![oid(&o)];
            let mut tp = t + 60_000;
            let mut trigger = None;
            for i in 0..k {
                let bin = inj.r.pick(LEGIT_BINS);
                let card = inj.card(bin);
                let mut p = inj.payment(&a, &o, tp, &s);
                p.card_masked = Some(card.masked());
                p.card_ref = Some(card.card_ref.clone());
                if i + 1 < k {
                    p.status = "declined";
                    p.error_code = Some("do_not_honor");
                }
                let id = inj.push_pay(p);
                if i == 2 {
                    trigger = Some(id.clone());
                }
                ids.push(id);
                if i + 1 < k {
                    tp += inj.r.between(80_000, 120_000);
                }
            }
            inj.truth(
                ty_name(ty),
                "critique",
                &a.id,
                ids,
                t,
                tp,
                trigger,
                json!({"distinct_cards": k}),
            );
        }
        "shared_device" => {
            let fp = {
                let a = inj.actor();
                a.fp
            };
            let k = inj.r.between(4, 5);
            let mut ids = Vec::new();
            let mut tp = t;
            let mut trigger = None;
            for i in 0..k {
                let mut a = inj.actor();
                a.fp = fp.clone();
                let b = inj.basket(1, 1, Method::Standard);
                let (o, p) = inj.simple_checkout(&a, tp, 20_000, b);
                ids.push(oid(&o));
                let id = inj.push_pay(p);
                if i == 3 {
                    trigger = Some(id.clone());
                }
                ids.push(id);
                if i + 1 < k {
                    tp += inj.r.between(40_000, 55_000);
                }
            }
            inj.truth(
                ty_name(ty),
                "haute",
                &fp,
                ids,
                t,
                tp + 20_000,
                trigger,
                json!({"distinct_customers": k}),
            );
        }
        "payment_on_cancelled_order" => {
            let a = inj.actor();
            let b = inj.basket(2, 1, Method::Standard);
            let o = inj.order(&a, t, b, Method::Standard);
            let c = inj.order_event(&o, OrdKind::Cancelled, t + 60_000, Some(a.ip.clone()));
            let s = inj.session();
            let p = inj.payment(&a, &o, t + 180_000, &s);
            let pid = inj.push_pay(p);
            inj.truth(
                ty_name(ty),
                "critique",
                &o.order_id,
                vec![oid(&o), oid(&c), pid.clone()],
                t,
                t + 180_000,
                Some(pid),
                json!({}),
            );
        }
        "amount_mismatch" => {
            let a = inj.actor();
            let b = inj.basket(2, 2, Method::Standard);
            let o = inj.order(&a, t, b, Method::Standard);
            let s = inj.session();
            let mut p = inj.payment(&a, &o, t + 40_000, &s);
            let pct = inj.r.between(55, 80);
            p.amount_eur = o.basket.total * pct / 100;
            p.amount = p.amount_eur;
            let pid = inj.push_pay(p);
            inj.truth(
                ty_name(ty),
                "critique",
                &o.order_id,
                vec![oid(&o), pid.clone()],
                t,
                t + 40_000,
                Some(pid),
                json!({
                    "order_total": o.basket.total as f64 / 100.0,
                    "payment_amount_eur": (o.basket.total * pct / 100) as f64 / 100.0,
                }),
            );
        }
        "cross_velocity" => {
            let a = inj.actor();
            let mut ids = Vec::new();
            let mut trigger = None;
            for i in 0..4 {
                let b = inj.basket(1, 1, Method::Standard);
                let to = t + i * 25_000;
                let (o, p) = inj.simple_checkout(&a, to, 10_000, b);
                ids.push(oid(&o));
                let id = inj.push_pay(p);
                if i == 3 {
                    trigger = Some(id.clone());
                }
                ids.push(id);
            }
            inj.truth(
                ty_name(ty),
                "haute",
                &a.id,
                ids,
                t,
                t + 85_000,
                trigger,
                json!({"payments": 4, "orders": 4}),
            );
        }
        "shared_ip" => {
            let ip = inj.ip();
            let k = inj.r.between(3, 4);
            let mut ids = Vec::new();
            let mut to = t;
            let mut trigger = None;
            for i in 0..k {
                let mut a = inj.actor();
                a.ip = ip.clone();
                let b = inj.basket(1, 1, Method::Standard);
                let (o, p) = inj.simple_checkout(&a, to, 15_000, b);
                let id = oid(&o);
                if i == 2 {
                    trigger = Some(id.clone());
                }
                ids.push(id);
                ids.push(inj.push_pay(p));
                if i + 1 < k {
                    to += inj.r.between(50_000, 70_000);
                }
            }
            inj.truth(
                ty_name(ty),
                "haute",
                &ip,
                ids,
                t,
                to + 15_000,
                trigger,
                json!({"distinct_customers": k}),
            );
        }
        "kyc_multiple_documents" => {
            let a = inj.actor();
            let k = inj.r.between(2, 3);
            let mut ids = Vec::new();
            let mut tk = t;
            let docs = ["CNI", "Passeport", "Permis de conduire"];
            let mut trigger = None;
            for i in 0..k {
                inj.n_order += 1;
                let ev = KycEv {
                    kyc_ref: format!(
                        "kyc_f{}",
                        hex64(mix64(inj.dn << 32 ^ u64::from(inj.n_order) ^ 0xABC), 15)
                    ),
                    order_id: format!("ORD-{}-F{:05}", inj.yy, inj.n_order),
                    customer_id: a.id.clone(),
                    ts: tk,
                    decision: "majeur",
                    reason: None,
                    confidence: inj.r.between(800, 990) as u16,
                    doc_type: docs[i as usize],
                    doc_expiration_valid: Some(true),
                    age: Some(inj.r.between(19, 45) as u32),
                    processing_ms: inj.r.between(1_000, 4_000) as u32,
                    doc_fingerprint: format!(
                        "{}{}{}{}",
                        hex64(mix64(inj.dn ^ u64::from(inj.n_order) << 8 ^ 1), 16),
                        hex64(mix64(inj.dn ^ u64::from(inj.n_order) << 8 ^ 2), 16),
                        hex64(mix64(inj.dn ^ u64::from(inj.n_order) << 8 ^ 3), 16),
                        hex64(mix64(inj.dn ^ u64::from(inj.n_order) << 8 ^ 4), 16)
                    ),
                };
                if i == 1 {
                    trigger = Some(ev.kyc_ref.clone());
                }
                ids.push(ev.kyc_ref.clone());
                inj.out.kyc.push(ev);
                if i + 1 < k {
                    tk += inj.r.between(90_000, 150_000);
                }
            }
            inj.truth(
                ty_name(ty),
                "haute",
                &a.id,
                ids,
                t,
                tk,
                trigger,
                json!({"distinct_documents": k}),
            );
        }
        "kyc_minor_rate" => {
            let b0 = s0 + 12 * MIN;
            let b1 = b0 + 60_000;
            let count = |lo: i64, hi: i64| {
                bg.kyc_times.iter().filter(|&&x| x >= lo && x <= hi).count() as u32
            };
            let n = count(b1 - 30 * MIN, b1).max(count(s0, s0 + 30 * MIN));
            let m = 20u32.max((n * 6).div_ceil(10) + 12);
            let mut ids = Vec::new();
            for i in 0..m {
                let a = inj.actor();
                inj.n_order += 1;
                let tk = b0 + (60_000 * i64::from(i)) / i64::from(m);
                let ev = KycEv {
                    kyc_ref: format!(
                        "kyc_f{}",
                        hex64(mix64(inj.dn << 32 ^ u64::from(inj.n_order) ^ 0xABC), 15)
                    ),
                    order_id: format!("ORD-{}-F{:05}", inj.yy, inj.n_order),
                    customer_id: a.id.clone(),
                    ts: tk,
                    decision: "mineur",
                    reason: None,
                    confidence: inj.r.between(800, 990) as u16,
                    doc_type: "CNI",
                    doc_expiration_valid: Some(true),
                    age: Some(inj.r.between(14, 17) as u32),
                    processing_ms: inj.r.between(1_000, 4_000) as u32,
                    doc_fingerprint: format!(
                        "{}{}{}{}",
                        hex64(mix64(inj.dn ^ u64::from(inj.n_order) << 8 ^ 5), 16),
                        hex64(mix64(inj.dn ^ u64::from(inj.n_order) << 8 ^ 6), 16),
                        hex64(mix64(inj.dn ^ u64::from(inj.n_order) << 8 ^ 7), 16),
                        hex64(mix64(inj.dn ^ u64::from(inj.n_order) << 8 ^ 8), 16)
                    ),
                };
                ids.push(ev.kyc_ref.clone());
                inj.out.kyc.push(ev);
            }
            inj.out.kyc_exclusions.push((b0 - 1_000, b1 + 1_000));
            inj.truth(
                ty_name(ty),
                "avertissement",
                "*",
                ids,
                b0,
                b0 + (60_000 * i64::from(m - 1)) / i64::from(m),
                None,
                json!({
                    "window_start": rfc3339_ms(s0),
                    "window_end": rfc3339_ms(s0 + 30 * MIN),
                    "background_decisions_in_30min": n,
                    "injected_mineur": m,
                }),
            );
        }
        _ => {}
    }
}

/// C3 alert type of a pattern name (the two direct variants share `payment_direct`).
pub fn ty_name(ty: &str) -> &'static str {
    match ty {
        "payment_direct_one" | "payment_direct_multi" => "payment_direct",
        _ => PATTERN_TYPES
            .iter()
            .find(|&&t| t == ty)
            .copied()
            .unwrap_or("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_follow_c4() {
        let p = PaymentEv {
            payment_id: "p".into(),
            order_id: "o".into(),
            customer_id: "c".into(),
            ts: 0,
            event_time: 0,
            amount: 100,
            currency: "EUR",
            amount_eur: 150_001,
            status: "declined",
            error_code: None,
            method: "card",
            psp: "adyen",
            session: "s".into(),
            card_masked: Some("404138******1234".into()),
            card_ref: None,
            risk: 70,
            fraud_flag: false,
            billing_country: "FR",
            ip: "1.2.3.4".into(),
            ip_country: "RU",
            fingerprint: "f".into(),
            ua: "curl/8.5.0",
            processing_ms: 299,
        };
        assert_eq!(payment_criteria(&p), [false, false, true, true]);
        assert!(is_high_amount(&p));
        assert!(is_blacklisted_bin(&p));
        assert!(is_geo_mismatch(&p));
        assert!(is_bot_pattern(&p));
    }
}
