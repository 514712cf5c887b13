//! Background commerce: the orders created each day and everything derived from them
//! (baskets, payment attempts, lifecycle, parcels).
//!
//! Each day's orders come from a *skeleton* that depends only on `(seed, day, scale)`,
//! and every aspect of one order is drawn from its own RNG stream keyed by
//! `(day, order number)`. A day's Kafka files and logistics files can therefore be built
//! without state from earlier days: they regenerate the skeletons of the days whose
//! orders still have events on that day.
//!
//! Guarantees that keep background traffic clear of the per-key fraud rules:
//! - customers are split in two groups by index parity; group `g` only checks out in
//!   5-minute slots with parity `g`, and at most once per slot, so two checkouts of one
//!   customer are at least 5 minutes apart;
//! - a checkout has at most 3 payment attempts, one payment session, cards and devices
//!   of that customer only (≤ 2 cards, fingerprints and IPs unique to the customer);
//! - in each aligned 5-minute window at most half of the created orders are express.

use chrono::{Datelike, Duration, NaiveDate};

use super::calendar::{add_business_days, is_business_day};
use super::fmt::{date_of_ms, day_start_ms, epoch_days, DAY_MS};
use super::rng::{hex64, mix64, Rng};
use super::world::{Customer, Product, World, RISK_COUNTRIES};

pub const SLOT_MS: i64 = 300_000;
pub const SLOTS_PER_DAY: usize = 288;
const HOUR_MS: i64 = 3_600_000;
const MIN_MS: i64 = 60_000;

/// Relative activity per UTC hour (France is UTC+1/+2).
pub const DIURNAL: [f64; 24] = [
    20.0, 12.0, 8.0, 6.0, 6.0, 10.0, 22.0, 40.0, 60.0, 70.0, 75.0, 85.0, 90.0, 80.0, 72.0, 70.0,
    75.0, 85.0, 100.0, 110.0, 105.0, 80.0, 55.0, 35.0,
];

pub fn diurnal_share(hour: usize) -> f64 {
    let s: f64 = DIURNAL.iter().sum();
    DIURNAL[hour] / s
}

/// One order created on a day.
#[derive(Clone, Copy, Debug)]
pub struct OrderSkel {
    pub created_ms: i64,
    /// Index into `World::customers`.
    pub cust: u32,
    /// 1-based number within the day, in creation order.
    pub no: u32,
    pub express: bool,
    pub tracer: bool,
}

/// `yymmdd` of a date, used in ids.
pub fn yymmdd(d: NaiveDate) -> String {
    format!("{:02}{:02}{:02}", d.year() % 100, d.month(), d.day())
}

pub fn order_id(day: NaiveDate, no: u32) -> String {
    format!("ORD-{}-{no:06}", yymmdd(day))
}

pub fn payment_id(day: NaiveDate, no: u32, attempt: usize) -> String {
    format!("PAY-{}-{no:06}-{}", yymmdd(day), attempt + 1)
}

/// Orders created on `day`.
pub fn skeleton(world: &World, orders_per_day: f64, day: NaiveDate) -> Vec<OrderSkel> {
    let n = world.customers.len();
    let start = day_start_ms(day);
    let mut rng = Rng::stream(world.seed, "skeleton", epoch_days(day) as u64, 0);
    let groups: [Vec<usize>; 2] = [
        (0..n).filter(|i| i % 2 == 0).collect(),
        (0..n).filter(|i| i % 2 == 1).collect(),
    ];
    let tracer = world.tracer;
    let tracer_slot = 120 + tracer % 2;
    let mut marks = vec![false; n];
    let mut out: Vec<OrderSkel> = Vec::with_capacity(orders_per_day as usize + 16);
    let mut chosen: Vec<usize> = Vec::new();
    let mut slot_orders: Vec<(i64, usize)> = Vec::new();
    for s in 0..SLOTS_PER_DAY {
        let lambda = orders_per_day * diurnal_share(s / 12) / 12.0;
        let members = &groups[s % 2];
        let k = (rng.poisson(lambda) as usize).min(members.len() / 2);
        chosen.clear();
        if s == tracer_slot {
            chosen.push(tracer);
            marks[tracer] = true;
        }
        let target = k.max(chosen.len());
        while chosen.len() < target {
            let c = members[rng.below(members.len() as u64) as usize];
            if !marks[c] {
                marks[c] = true;
                chosen.push(c);
            }
        }
        slot_orders.clear();
        for &c in &chosen {
            marks[c] = false;
            let t = start + s as i64 * SLOT_MS + rng.range(0, SLOT_MS);
            slot_orders.push((t, c));
        }
        slot_orders.sort_unstable();
        let cap = slot_orders.len() / 2;
        let mut express = 0;
        for &(t, c) in &slot_orders {
            let want = rng.chance(0.12);
            let is_tracer = c == tracer;
            let ex = want && express < cap && !is_tracer;
            if ex {
                express += 1;
            }
            out.push(OrderSkel {
                created_ms: t,
                cust: c as u32,
                no: out.len() as u32 + 1,
                express: ex,
                tracer: is_tracer,
            });
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Standard,
    Express,
    Relay,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Standard => "standard",
            Method::Express => "express",
            Method::Relay => "relay",
        }
    }
    /// Promised delivery in business days after shipping.
    pub fn promised_days(self) -> u32 {
        match self {
            Method::Express => 1,
            Method::Standard => 3,
            Method::Relay => 4,
        }
    }
}

/// The lifecycle of one order.
#[derive(Clone, Debug)]
pub struct Life {
    pub method: Method,
    pub paid: bool,
    /// Cancellation time and whether the customer (not a timeout) cancelled.
    pub cancel: Option<(i64, bool)>,
    pub shipped: Option<i64>,
    pub delivered: Option<i64>,
    /// Time the returned parcel reached the warehouse (order never delivered).
    pub returned: Option<i64>,
    pub parcels: u32,
    pub channel: &'static str,
}

impl Life {
    /// Last instant at which this order produces a logistics row.
    pub fn last_activity(&self) -> i64 {
        self.delivered
            .or(self.returned)
            .or(self.shipped)
            .unwrap_or(i64::MIN)
    }
}

/// The first warehouse shipping time at or after `ms`: business days, 06:00–17:00 UTC.
fn next_business_morning(ms: i64, rng: &mut Rng) -> i64 {
    let mut d = date_of_ms(ms);
    let tod = ms.rem_euclid(DAY_MS);
    if is_business_day(d) && (6 * HOUR_MS..17 * HOUR_MS).contains(&tod) {
        return ms;
    }
    if !(is_business_day(d) && tod < 6 * HOUR_MS) {
        d += Duration::days(1);
        while !is_business_day(d) {
            d += Duration::days(1);
        }
    }
    day_start_ms(d) + 6 * HOUR_MS + rng.range(0, 3 * HOUR_MS)
}

/// Lifecycle of order `o` created on `day`. `cancel_scale` (≤ 1) lowers the cancellation
/// probabilities at large scales so that background stays under the cancellation-spike
/// threshold.
pub fn life(seed: u64, day: NaiveDate, o: &OrderSkel, cancel_scale: f64) -> Life {
    let mut r = Rng::stream(seed, "life", epoch_days(day) as u64, u64::from(o.no));
    let method = if o.express {
        Method::Express
    } else if r.chance(0.3) {
        Method::Relay
    } else {
        Method::Standard
    };
    let channel = r.pick_w(&[("web", 55), ("ios", 20), ("android", 25)]);
    let parcels = 1 + r.weighted(&[72, 19, 6, 3]) as u32;
    let paid = o.tracer || !r.chance(0.015 * cancel_scale);
    let customer_cancel = !o.tracer && r.chance(0.035 * cancel_scale);
    let t0 = o.created_ms;
    let mut l = Life {
        method,
        paid,
        cancel: None,
        shipped: None,
        delivered: None,
        returned: None,
        parcels,
        channel,
    };
    if !paid {
        l.cancel = Some((t0 + r.range(30 * MIN_MS, 60 * MIN_MS), false));
        return l;
    }
    if customer_cancel {
        l.cancel = Some((t0 + r.range(HOUR_MS, 20 * HOUR_MS), true));
        return l;
    }
    let ship = if o.tracer {
        day_start_ms(date_of_ms(t0) + Duration::days(1)) + 9 * HOUR_MS + r.range(0, HOUR_MS)
    } else {
        next_business_morning(t0 + r.range(6 * HOUR_MS, 40 * HOUR_MS), &mut r)
    };
    l.shipped = Some(ship);
    if !o.tracer && r.chance(0.02) {
        l.returned = Some(ship + r.range(8 * DAY_MS, 12 * DAY_MS));
        return l;
    }
    let promised = method.promised_days();
    let late = if r.chance(0.15) {
        1 + r.below(3) as u32
    } else {
        0
    };
    let d = add_business_days(date_of_ms(ship), promised + late);
    let mut t = day_start_ms(d) + 8 * HOUR_MS + r.range(0, 10 * HOUR_MS);
    if t <= ship {
        t = ship + 4 * HOUR_MS;
    }
    l.delivered = Some(t);
    l
}

#[derive(Clone, Debug)]
pub struct Item {
    pub product: usize,
    pub quantity: u32,
    pub unit_cents: i64,
}

#[derive(Clone, Debug)]
pub struct Basket {
    pub items: Vec<Item>,
    pub items_count: u32,
    pub subtotal: i64,
    pub discount: i64,
    pub shipping: i64,
    pub total: i64,
    pub coupon: Option<&'static str>,
}

pub const COUPONS: &[(&str, i64)] = &[
    ("BIENVENUE10", 10),
    ("PRINTEMPS15", 15),
    ("FIDELITE5", 5),
    ("LIVRAISON", 0),
    ("VIP20", 20),
];

/// Shipping fee in cents.
pub fn shipping_fee(method: Method, subtotal: i64) -> i64 {
    match method {
        Method::Express => 1_290,
        Method::Standard if subtotal >= 6_000 => 0,
        Method::Relay if subtotal >= 6_000 => 0,
        Method::Standard => 490,
        Method::Relay => 390,
    }
}

pub fn make_basket(
    world: &World,
    rng: &mut Rng,
    customer: &Customer,
    method: Method,
    n_lines: usize,
) -> Basket {
    let mut items: Vec<Item> = Vec::with_capacity(n_lines);
    for _ in 0..n_lines {
        let p = if rng.chance(0.35) {
            // Preferred category.
            let cands: Vec<usize> = (0..world.products.len())
                .filter(|&i| world.products[i].category == customer.fav_category)
                .collect();
            cands[rng.below(cands.len() as u64) as usize]
        } else {
            rng.below(world.products.len() as u64) as usize
        };
        if items.iter().any(|i| i.product == p) {
            continue;
        }
        let quantity = if world.products[p].price_cents > 5_000 || rng.chance(0.8) {
            1
        } else {
            2 + rng.below(2) as u32
        };
        items.push(Item {
            product: p,
            quantity,
            unit_cents: world.products[p].price_cents,
        });
    }
    finish_basket(items, method, None, 0)
}

/// Computes totals: `total = subtotal − discount + shipping` (CONTRACTS C1).
pub fn finish_basket(
    items: Vec<Item>,
    method: Method,
    coupon: Option<&'static str>,
    discount_pct: i64,
) -> Basket {
    let subtotal: i64 = items
        .iter()
        .map(|i| i.unit_cents * i64::from(i.quantity))
        .sum();
    let items_count = items.iter().map(|i| i.quantity).sum();
    let discount = subtotal * discount_pct / 100;
    let shipping = if coupon == Some("LIVRAISON") {
        0
    } else {
        shipping_fee(method, subtotal)
    };
    Basket {
        items,
        items_count,
        subtotal,
        discount,
        shipping,
        total: subtotal - discount + shipping,
        coupon,
    }
}

/// The basket of a background order.
pub fn basket(world: &World, day: NaiveDate, o: &OrderSkel, method: Method) -> Basket {
    let mut r = Rng::stream(
        world.seed,
        "basket",
        epoch_days(day) as u64,
        u64::from(o.no),
    );
    let c = &world.customers[o.cust as usize];
    let lines = 1 + r.weighted(&[45, 27, 14, 8, 4, 2]);
    let mut b = make_basket(world, &mut r, c, method, lines);
    if r.chance(0.15) {
        let (code, pct) = r.pick(COUPONS);
        // A rare big promotion (background discount > 30 %).
        let (code, pct) = if r.chance(0.04) {
            ("SOLDES50", 50)
        } else {
            (code, pct)
        };
        b = finish_basket(b.items, method, Some(code), pct);
    }
    b
}

pub fn product<'a>(world: &'a World, it: &Item) -> &'a Product {
    &world.products[it.product]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayClass {
    Succeeded,
    Pending,
    /// Failed attempt; `may_error` says the failure is technical if the PSP window allows.
    Failed {
        may_error: bool,
    },
}

pub const PSPS: &[&str] = &["adyen", "stripe", "payplug"];

/// Everything about one background payment attempt except the amounts.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub ts: i64,
    pub class: PayClass,
    pub psp: u8,
    pub method: &'static str,
    /// Index into the customer's cards (card, apple_pay, google_pay).
    pub card: Option<usize>,
    pub risk: u8,
    pub fraud_flag: bool,
    /// ISO country of the IP; `None` = the customer's country.
    pub ip_country: Option<&'static str>,
    pub foreign_ip: bool,
    pub bot_ua: Option<&'static str>,
    pub processing_ms: u32,
    pub decline_code: &'static str,
    pub error_code: &'static str,
    pub fingerprint: usize,
    pub ip: usize,
}

const DECLINES: &[&str] = &[
    "insufficient_funds",
    "do_not_honor",
    "expired_card",
    "card_declined",
    "authentication_failed",
];
const ERRORS: &[&str] = &["psp_timeout", "gateway_error", "service_unavailable"];
const GEO_OTHER: &[&str] = &["US", "MA", "TR", "BR", "CN", "NG", "TH"];

/// The payment attempts of a background order: 1–3, all within 140 s of creation, so
/// two checkouts of one customer (≥ 5 min apart) never share a 2-minute window.
pub fn attempts(seed: u64, day: NaiveDate, o: &OrderSkel, l: &Life, c: &Customer) -> Vec<Attempt> {
    let mut r = Rng::stream(seed, "attempts", epoch_days(day) as u64, u64::from(o.no));
    let method = r.pick_w(&[
        ("card", 70),
        ("paypal", 12),
        ("apple_pay", 8),
        ("google_pay", 6),
        ("bank_transfer", 4),
    ]);
    let n = if method == "bank_transfer" || o.tracer {
        1
    } else if l.paid {
        1 + r.weighted(&[70, 22, 8])
    } else {
        1 + r.weighted(&[40, 35, 25])
    };
    let psp = r.weighted(&[50, 35, 15]) as u8;
    let fingerprint = r.below(c.fingerprints.len() as u64) as usize;
    let ip = r.below(c.ipv4.len() as u64) as usize;
    let mut ts = o.created_ms + r.range(15_000, 60_000);
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let last = k + 1 == n;
        let class = if method == "bank_transfer" {
            PayClass::Pending
        } else if last && l.paid {
            PayClass::Succeeded
        } else {
            PayClass::Failed {
                may_error: r.chance(0.15),
            }
        };
        let card = match method {
            "card" | "apple_pay" | "google_pay" => {
                Some(if k > 0 && c.cards.len() > 1 && r.chance(0.5) {
                    1
                } else {
                    0
                })
            }
            _ => None,
        };
        let mut a = Attempt {
            ts,
            class,
            psp,
            method,
            card,
            risk: r.skewed(1.0, 46.0, 2) as u8,
            fraud_flag: false,
            ip_country: None,
            foreign_ip: false,
            bot_ua: None,
            processing_ms: if method == "apple_pay" || method == "google_pay" {
                r.between(2_500, 20_000) as u32
            } else {
                r.skewed(6_000.0, 240_000.0, 2) as u32
            },
            decline_code: DECLINES[r.below(DECLINES.len() as u64) as usize],
            error_code: ERRORS[r.below(ERRORS.len() as u64) as usize],
            fingerprint,
            ip,
        };
        // ~8 % of attempts look fraudulent (seed §2.1.2).
        if !o.tracer && r.chance(0.08) {
            match r.weighted(&[35, 25, 12, 10, 18]) {
                0 => {
                    a.risk = r.between(71, 98) as u8;
                    a.fraud_flag = r.chance(0.35);
                    if matches!(a.class, PayClass::Failed { .. }) {
                        a.decline_code = "suspected_fraud";
                    }
                }
                1 => {
                    if matches!(a.class, PayClass::Failed { .. }) {
                        a.risk = r.between(40, 70) as u8;
                    } else {
                        a.risk = r.between(50, 70) as u8;
                    }
                }
                2 => {
                    a.ip_country = Some(r.pick(RISK_COUNTRIES));
                    a.foreign_ip = true;
                    a.risk = r.between(30, 69) as u8;
                }
                3 => {
                    a.ip_country = Some(r.pick(GEO_OTHER));
                    a.foreign_ip = true;
                    a.risk = r.between(60, 69) as u8;
                }
                _ => {
                    a.fraud_flag = true;
                    a.risk = r.between(20, 60) as u8;
                }
            }
        }
        if !o.tracer && r.chance(0.003) {
            a.bot_ua = Some(r.pick(&["python-requests/2.31.0", "curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/122.0.0.0 Safari/537.36"]));
            a.processing_ms = r.between(40, 2_000) as u32;
        }
        out.push(a);
        ts += r.range(20_000, 40_000);
    }
    out
}

/// Payment session id of a checkout.
pub fn session_id(day: NaiveDate, no: u32) -> String {
    format!(
        "ps_{}",
        hex64(
            mix64((epoch_days(day) as u64) << 24 ^ u64::from(no) ^ 0x5E55),
            16
        )
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PStatus {
    Expedie,
    EnTransit,
    EnCoursLivraison,
    EchecLivraison,
    Livre,
    Retourne,
}

impl PStatus {
    pub fn canonical(self) -> &'static str {
        match self {
            PStatus::Expedie => "Expédié",
            PStatus::EnTransit => "En transit",
            PStatus::EnCoursLivraison => "En cours de livraison",
            PStatus::EchecLivraison => "Échec de livraison",
            PStatus::Livre => "Livré",
            PStatus::Retourne => "Retourné",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Update {
    pub ms: i64,
    pub status: PStatus,
    pub attempts: u32,
}

#[derive(Clone, Debug)]
pub struct Parcel {
    pub livraison_id: String,
    pub carrier: &'static str,
    pub tracking: String,
    pub warehouse: &'static str,
    pub weight_g: u32,
    pub dims: (u32, u32, u32),
    pub fee_cents: i64,
    pub signature: bool,
    pub insurance: bool,
    pub shipped: i64,
    pub promised: NaiveDate,
    pub updates: Vec<Update>,
    pub motif: Option<&'static str>,
}

fn tracking_number(r: &mut Rng, carrier: &str) -> String {
    match carrier {
        "Colissimo" => format!("6A{:011}", r.below(100_000_000_000)),
        "Chronopost" => format!("XY{:09}FR", r.below(1_000_000_000)),
        "DHL" => format!("{:010}", r.below(10_000_000_000)),
        "UPS" => {
            let mut s = String::from("1Z");
            r.hex(&mut s, 16);
            s.to_uppercase()
        }
        "Mondial Relay" => format!("{:08}", r.below(100_000_000)),
        "DPD" => format!("{:014}", r.below(100_000_000_000_000)),
        _ => format!("{:011}", r.below(100_000_000_000)),
    }
}

/// Parcels of a shipped order, with their status updates (empty when not shipped).
pub fn parcels(world: &World, day: NaiveDate, o: &OrderSkel, l: &Life, b: &Basket) -> Vec<Parcel> {
    let Some(ship) = l.shipped else {
        return Vec::new();
    };
    let mut r = Rng::stream(
        world.seed,
        "parcels",
        epoch_days(day) as u64,
        u64::from(o.no),
    );
    let weight_total: u32 = b
        .items
        .iter()
        .map(|i| world.products[i.product].weight_g * i.quantity)
        .sum();
    let n = l.parcels.max(1);
    let mut out = Vec::with_capacity(n as usize);
    for j in 0..n {
        let carrier = match l.method {
            Method::Express => r.pick(&["Chronopost", "DHL", "UPS"]),
            Method::Relay => r.pick_w(&[("Mondial Relay", 70), ("DPD", 30)]),
            Method::Standard => {
                r.pick_w(&[("Colissimo", 55), ("DPD", 20), ("GLS", 15), ("UPS", 10)])
            }
        };
        let shipped = ship + r.range(0, 30 * MIN_MS) * i64::from(j);
        let promised = add_business_days(date_of_ms(ship), l.method.promised_days());
        let mut updates = vec![Update {
            ms: shipped,
            status: PStatus::Expedie,
            attempts: 0,
        }];
        let end = l.delivered.or(l.returned).unwrap_or(shipped + DAY_MS);
        // Later parcels of one order arrive up to 3 h before the last one.
        let final_ms = if j == 0 {
            end
        } else {
            (end - r.range(0, 3 * HOUR_MS)).max(shipped + 2 * HOUR_MS)
        };
        let transit = shipped + r.range(4 * HOUR_MS, 20 * HOUR_MS);
        if r.chance(0.6) && transit < final_ms - HOUR_MS {
            updates.push(Update {
                ms: transit,
                status: PStatus::EnTransit,
                attempts: 0,
            });
        }
        let mut attempts = 1;
        let mut motif = None;
        if l.returned.is_some() {
            let fail = final_ms - r.range(3 * DAY_MS, 5 * DAY_MS);
            if fail > updates[updates.len() - 1].ms {
                updates.push(Update {
                    ms: fail,
                    status: PStatus::EchecLivraison,
                    attempts: 2,
                });
            }
            attempts = 2 + r.below(2) as u32;
            motif = Some(r.pick(&[
                "Destinataire absent",
                "Adresse incorrecte",
                "Refusé par le destinataire",
                "Non réclamé en point relais",
            ]));
            updates.push(Update {
                ms: final_ms,
                status: PStatus::Retourne,
                attempts,
            });
        } else {
            let day_start = day_start_ms(date_of_ms(final_ms));
            if r.chance(0.04) {
                let fail = final_ms - DAY_MS + r.range(-HOUR_MS, HOUR_MS);
                if fail > updates[updates.len() - 1].ms + HOUR_MS {
                    updates.push(Update {
                        ms: fail,
                        status: PStatus::EchecLivraison,
                        attempts: 1,
                    });
                    attempts = 2 + r.below(2) as u32;
                    motif = Some("Destinataire absent");
                }
            }
            let ofd = day_start + 6 * HOUR_MS + r.range(0, 2 * HOUR_MS);
            if r.chance(0.35) && ofd > updates[updates.len() - 1].ms && ofd < final_ms {
                updates.push(Update {
                    ms: ofd,
                    status: PStatus::EnCoursLivraison,
                    attempts: 0,
                });
            }
            updates.push(Update {
                ms: final_ms,
                status: PStatus::Livre,
                attempts,
            });
        }
        let w = (weight_total / n).max(150) + r.below(400) as u32;
        let fee = match carrier {
            "Chronopost" | "DHL" | "UPS" => r.between(990, 2_490),
            "Mondial Relay" => r.between(290, 590),
            _ => r.between(450, 1_190),
        };
        out.push(Parcel {
            livraison_id: format!("LIV-{}-{:06}-{}", yymmdd(day), o.no, j + 1),
            carrier,
            tracking: tracking_number(&mut r, carrier),
            warehouse: r.pick(super::world::WAREHOUSES),
            weight_g: w,
            dims: (
                15 + r.below(50) as u32,
                10 + r.below(35) as u32,
                5 + r.below(30) as u32,
            ),
            fee_cents: fee,
            signature: b.total > 30_000 || l.method == Method::Express,
            insurance: b.total > 15_000 || r.chance(0.1),
            shipped,
            promised,
            updates,
            motif,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 17).expect("date")
    }

    #[test]
    fn skeleton_spacing_and_express_cap() {
        let w = World::new(42, 500);
        let sk = skeleton(&w, 3600.0, day());
        assert!(sk.len() > 3000 && sk.len() < 4200, "{}", sk.len());
        let mut last: BTreeMap<u32, i64> = BTreeMap::new();
        for o in &sk {
            if let Some(&t) = last.get(&o.cust) {
                assert!(o.created_ms - t >= SLOT_MS, "customer {} too close", o.cust);
            }
            last.insert(o.cust, o.created_ms);
        }
        let mut per: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
        for o in &sk {
            let e = per.entry(o.created_ms / SLOT_MS).or_default();
            e.0 += 1;
            e.1 += u32::from(o.express);
        }
        for (n, ex) in per.values() {
            assert!(ex * 2 <= *n);
        }
        assert!(sk.iter().any(|o| o.tracer));
    }

    #[test]
    fn baskets_add_up() {
        let w = World::new(42, 100);
        let sk = skeleton(&w, 500.0, day());
        for o in &sk {
            let l = life(42, day(), o, 1.0);
            let b = basket(&w, day(), o, l.method);
            assert_eq!(b.total, b.subtotal - b.discount + b.shipping);
            assert!(b.items_count >= 1);
            let a = attempts(42, day(), o, &l, &w.customers[o.cust as usize]);
            assert!(!a.is_empty() && a.len() <= 3);
            assert!(a
                .iter()
                .all(|x| x.ts > o.created_ms && x.ts <= o.created_ms + 140_000));
            let p = parcels(&w, day(), o, &l, &b);
            for parcel in &p {
                for win in parcel.updates.windows(2) {
                    assert!(win[0].ms <= win[1].ms, "{:?}", parcel.updates);
                }
            }
        }
    }
}
