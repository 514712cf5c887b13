//! Firebase Analytics export (SPEC §3.5): NDJSON, one file per UTC hour,
//! `firebase_data/YYYY-MM-DD/events_HH.ndjson` (OQ-12).
//!
//! `event_timestamp` is Unix milliseconds UTC as a JSON integer, except for sessions of
//! the old app version `3.9.4`, whose SDK sends it as a numeric string (`"1773705600123"`,
//! INC-10). `params` depends on `event_name` (keys in `docs/generator.md`, OQ-13); ~3 %
//! of events carry an unexpected extra key and ~1 % have an event name outside the list.
//! Bots (OQ-14): `device_id` starting with `bot-` or `headless-`. Test sessions:
//! `session_id` starting with `test-` and `app_version` `0.0.0-test`. Anonymous visitors:
//! `user_id` = `"anonymous"` (~40 % of human events).

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::NaiveDate;
use serde_json::{json, Value};

use super::commerce::DIURNAL;
use super::fmt::{day_start_ms, epoch_days, push_i64, Json, OutFile};
use super::rng::Rng;
use super::world::{uuid_like, CATEGORIES};
use super::Ctx;

const HOUR: i64 = 3_600_000;

/// Event names that SPEC or this generator define (`params` documented).
pub const KNOWN_EVENTS: &[&str] = &[
    "app_open",
    "screen_view",
    "view_item",
    "view_item_list",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "begin_checkout",
    "add_payment_info",
    "purchase",
    "login",
    "sign_up",
    "select_promotion",
    "share",
];

/// Event names the silver step has never seen (must not be rejected).
pub const UNKNOWN_EVENTS: &[&str] = &[
    "ab_test_exposure",
    "push_received",
    "app_update",
    "widget_tap",
];

const SCREENS: &[&str] = &[
    "home",
    "category",
    "product",
    "search",
    "cart",
    "checkout",
    "account",
    "orders",
    "promotions",
];
const SEARCH_TERMS: &[&str] = &[
    "casque bluetooth",
    "aspirateur robot",
    "chaussures running",
    "whisky",
    "vapoteuse",
    "couteau",
    "ordinateur portable",
    "cafetière",
    "lego",
    "crème hydratante",
];
const LANGS: &[(&str, &str)] = &[
    ("FR", "fr-FR"),
    ("BE", "fr-BE"),
    ("CH", "fr-CH"),
    ("DE", "de-DE"),
    ("ES", "es-ES"),
    ("IT", "it-IT"),
    ("GB", "en-GB"),
    ("NL", "nl-NL"),
    ("LU", "fr-LU"),
    ("PT", "pt-PT"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Human,
    Bot,
    Test,
}

struct Session {
    kind: Kind,
    device_id: String,
    session_id: String,
    user_id: String,
    platform: &'static str,
    app_version: &'static str,
    os_version: &'static str,
    country: &'static str,
    language: &'static str,
    screen: &'static str,
    network: &'static str,
    tracer: bool,
}

// Meta bits per event line.
const M_BOT: u32 = 1;
const M_TEST: u32 = 2;
const M_ANON: u32 = 4;
const M_STRTS: u32 = 8;
const M_UNKNOWN: u32 = 16;
const M_EXTRA: u32 = 32;
const M_TRACER: u32 = 64;
const M_NAME_SHIFT: u32 = 8;

#[derive(Default)]
struct Stats {
    events: u64,
    by_name: BTreeMap<String, u64>,
    bot: u64,
    test: u64,
    anon_all: u64,
    human: u64,
    anon_human: u64,
    string_ts: u64,
    unknown: u64,
    extra: u64,
    tracer: u64,
}

struct Gen<'a> {
    ctx: &'a Ctx,
    r: Rng,
    seq: u64,
    day_tag: String,
    purchases: u32,
    forced: u8,
}

struct Arena {
    bytes: Vec<u8>,
    idx: Vec<(i64, u64, usize, usize, u32)>,
}

impl Arena {
    fn new() -> Self {
        Arena {
            bytes: Vec::new(),
            idx: Vec::new(),
        }
    }
}

impl<'a> Gen<'a> {
    fn session(&mut self, tracer: bool) -> Session {
        let r = &mut self.r;
        let w = &self.ctx.world;
        // The first sessions of the day are a bot, a test session and an old app
        // version, so tiny fixtures have every kind.
        let forced = if tracer || self.forced >= 3 {
            None
        } else {
            Some(self.forced)
        };
        let kind = if tracer {
            Kind::Human
        } else if forced == Some(0) {
            Kind::Bot
        } else if forced == Some(1) {
            Kind::Test
        } else {
            r.pick_w(&[(Kind::Human, 965), (Kind::Bot, 25), (Kind::Test, 10)])
        };
        let mut hex = String::new();
        r.hex(&mut hex, 16);
        let (device_id, user_id, ios, country) = match kind {
            Kind::Human => {
                let c = if tracer {
                    w.tracer()
                } else {
                    &w.customers[r.below(w.customers.len() as u64) as usize]
                };
                if tracer || r.chance(0.6) {
                    let dev = c.app_devices[r.below(c.app_devices.len() as u64) as usize].clone();
                    (dev, c.id.clone(), c.ios, c.country)
                } else {
                    let dev = uuid_like(r.next_u64(), r.next_u64());
                    (
                        dev,
                        "anonymous".to_string(),
                        r.chance(0.45),
                        if r.chance(0.85) { "FR" } else { "BE" },
                    )
                }
            }
            Kind::Bot => {
                let p = if r.chance(0.6) { "bot-" } else { "headless-" };
                (format!("{p}{hex}"), "anonymous".to_string(), false, "FR")
            }
            Kind::Test => (
                format!("emulator-{}", 5554 + 2 * r.below(4)),
                if r.chance(0.5) {
                    "QA-TESTER-01".to_string()
                } else {
                    "anonymous".to_string()
                },
                r.chance(0.5),
                "FR",
            ),
        };
        let mut sid = String::new();
        r.hex(&mut sid, 16);
        let session_id = if kind == Kind::Test {
            format!("test-{sid}")
        } else {
            sid
        };
        let app_version = match kind {
            Kind::Test => "0.0.0-test",
            _ if forced == Some(2) => "3.9.4",
            _ => r.pick_w(&[("4.12.0", 60), ("4.11.2", 24), ("4.10.1", 12), ("3.9.4", 4)]),
        };
        if !tracer && self.forced < 3 {
            self.forced += 1;
        }
        let language = LANGS
            .iter()
            .find(|l| l.0 == country)
            .map(|l| l.1)
            .unwrap_or("fr-FR");
        Session {
            kind,
            device_id,
            session_id,
            user_id,
            platform: if ios { "ios" } else { "android" },
            app_version,
            os_version: if ios {
                r.pick(&["iOS 17.3.1", "iOS 17.2", "iOS 16.7.5"])
            } else {
                r.pick(&["Android 14", "Android 13", "Android 12"])
            },
            country,
            language,
            screen: if ios {
                r.pick(&["1170x2532", "1179x2556", "1284x2778", "750x1334"])
            } else {
                r.pick(&["1080x2400", "1080x2340", "1440x3088", "720x1600"])
            },
            network: r.pick_w(&[("wifi", 55), ("4g", 35), ("3g", 7), ("5g", 3)]),
            tracer,
        }
    }

    /// Writes one session's events into the arena.
    fn run_session(&mut self, arena: &mut Arena, t0: i64, tracer: bool) {
        let s = self.session(tracer);
        let n = match s.kind {
            Kind::Bot => 15 + self.r.below(40) as usize,
            Kind::Test => 3 + self.r.below(10) as usize,
            Kind::Human => {
                3 + self
                    .r
                    .weighted(&[10, 12, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
                    * 2
            }
        };
        let mut t = t0;
        let mut prev_screen = "home";
        let mut cart: Vec<(usize, u32)> = Vec::new();
        let products = &self.ctx.world.products;
        for i in 0..n {
            let r = &mut self.r;
            let name: &str = if i == 0 {
                "app_open"
            } else if s.kind == Kind::Bot {
                if r.chance(0.8) {
                    "view_item"
                } else {
                    "screen_view"
                }
            } else if r.chance(0.01) {
                UNKNOWN_EVENTS[r.below(UNKNOWN_EVENTS.len() as u64) as usize]
            } else {
                r.pick_w(&[
                    ("screen_view", 30),
                    ("view_item", 28),
                    ("view_item_list", 8),
                    ("search", 7),
                    ("add_to_cart", 9),
                    ("remove_from_cart", 2),
                    ("begin_checkout", 3),
                    ("add_payment_info", 2),
                    ("purchase", 2),
                    ("login", 3),
                    ("sign_up", 1),
                    ("select_promotion", 3),
                    ("share", 2),
                ])
            };
            let start = arena.bytes.len();
            let mut meta = 0u32;
            let b = &mut arena.bytes;
            let mut eid = String::with_capacity(36);
            eid.push_str(&uuid_like(r.next_u64(), r.next_u64()));
            let mut j = Json::new(b);
            j.str("event_id", &eid);
            if s.app_version == "3.9.4" {
                meta |= M_STRTS;
                j.raw("event_timestamp", |o| {
                    o.push(b'"');
                    push_i64(o, t);
                    o.push(b'"');
                });
            } else {
                j.int("event_timestamp", t);
            }
            j.str("device_id", &s.device_id)
                .str("session_id", &s.session_id)
                .str("user_id", &s.user_id)
                .str("platform", s.platform)
                .str("app_version", s.app_version)
                .str("os_version", s.os_version)
                .str("country", s.country)
                .str("language", s.language)
                .str("screen_resolution", s.screen)
                .str("network_type", s.network)
                .str("event_name", name);
            let extra = r.chance(0.03);
            let day_tag = &self.day_tag;
            let purchases = &mut self.purchases;
            j.raw("params", |o| {
                let pi = r.below(products.len() as u64) as usize;
                let p = &products[pi];
                let mut q = Json::new(o);
                match name {
                    "app_open" => {
                        let src = r.pick_w(&[
                            ("organic", 60),
                            ("push", 20),
                            ("deeplink", 10),
                            ("campaign", 10),
                        ]);
                        q.str("source", src);
                        if src == "campaign" || src == "push" {
                            q.str("campaign_id", &format!("CMP-2026-{:03}", r.below(40)));
                        } else {
                            q.null("campaign_id");
                        }
                    }
                    "screen_view" => {
                        let sc = r.pick(SCREENS);
                        q.str("screen_name", sc)
                            .str("previous_screen", prev_screen)
                            .int(
                                "time_on_prev_screen_ms",
                                r.skewed(800.0, 120_000.0, 2) as i64,
                            );
                        prev_screen = sc;
                    }
                    "view_item" => {
                        q.str("product_id", &p.id)
                            .money("price_eur", p.price_cents)
                            .str("currency", "EUR");
                    }
                    "view_item_list" => {
                        q.str(
                            "item_list_name",
                            CATEGORIES[r.below(CATEGORIES.len() as u64) as usize].0,
                        )
                        .int("items_shown", r.between(8, 48));
                    }
                    "search" => {
                        q.str(
                            "search_term",
                            SEARCH_TERMS[r.below(SEARCH_TERMS.len() as u64) as usize],
                        )
                        .int("results_count", r.between(0, 240));
                    }
                    "add_to_cart" => {
                        let qty = if r.chance(0.85) { 1 } else { 2 };
                        cart.push((pi, qty));
                        let value: i64 = cart
                            .iter()
                            .map(|&(k, n)| products[k].price_cents * i64::from(n))
                            .sum();
                        q.str("product_id", &p.id)
                            .int("quantity", i64::from(qty))
                            .money("price_eur", p.price_cents)
                            .str("currency", "EUR")
                            .money("cart_value_eur", value);
                    }
                    "remove_from_cart" => {
                        let (k, qty) = cart.pop().unwrap_or((pi, 1));
                        q.str("product_id", &products[k].id)
                            .int("quantity", i64::from(qty));
                    }
                    "begin_checkout" => {
                        let value: i64 = cart
                            .iter()
                            .map(|&(k, n)| products[k].price_cents * i64::from(n))
                            .sum();
                        q.money("cart_value_eur", value.max(p.price_cents))
                            .int(
                                "items_count",
                                cart.iter().map(|c| i64::from(c.1)).sum::<i64>().max(1),
                            )
                            .str("currency", "EUR");
                        if r.chance(0.15) {
                            q.str("coupon_code", "BIENVENUE10");
                        } else {
                            q.null("coupon_code");
                        }
                    }
                    "add_payment_info" => {
                        q.str(
                            "payment_type",
                            r.pick(&["card", "paypal", "apple_pay", "google_pay"]),
                        );
                    }
                    "purchase" => {
                        *purchases += 1;
                        let value: i64 = cart
                            .iter()
                            .map(|&(k, n)| products[k].price_cents * i64::from(n))
                            .sum();
                        q.str(
                            "transaction_id",
                            &format!("APP-{}-{:05}", day_tag, *purchases),
                        )
                        .money("value_eur", value.max(p.price_cents))
                        .str("currency", "EUR")
                        .int(
                            "items_count",
                            cart.iter().map(|c| i64::from(c.1)).sum::<i64>().max(1),
                        )
                        .money("shipping_eur", r.pick(&[0, 390, 490, 1290]))
                        .str(
                            "payment_method",
                            r.pick(&["card", "paypal", "apple_pay", "google_pay"]),
                        );
                        cart.clear();
                    }
                    "login" | "sign_up" => {
                        q.str("method", r.pick(&["email", "google", "apple", "facebook"]));
                    }
                    "select_promotion" => {
                        q.str("promotion_id", &format!("PROMO-{:02}", r.below(12)))
                            .str(
                                "promotion_name",
                                r.pick(&[
                                    "Soldes de printemps",
                                    "Livraison offerte",
                                    "Vente flash high-tech",
                                ]),
                            );
                    }
                    "share" => {
                        q.str("content_type", "product").str("item_id", &p.id);
                    }
                    "ab_test_exposure" => {
                        q.str("experiment_id", "exp_checkout_v2")
                            .str("variant", r.pick(&["A", "B"]));
                    }
                    "push_received" => {
                        q.str("campaign_id", &format!("CMP-2026-{:03}", r.below(40)))
                            .bool("opened", r.chance(0.3));
                    }
                    "app_update" => {
                        q.str("previous_version", "4.11.2");
                    }
                    _ => {
                        q.str("widget", "cart_summary")
                            .int("position", r.between(1, 4));
                    }
                }
                if extra {
                    match r.below(4) {
                        0 => q.str("experiment_id", "exp_home_banner"),
                        1 => q.bool("debug_mode", true),
                        2 => q.str("item_variant", r.pick(&["noir", "blanc", "XL", "256 Go"])),
                        _ => q.int("ga_session_number", r.between(1, 300)),
                    };
                }
                q.end();
            });
            j.end();
            arena.bytes.push(b'\n');
            if extra {
                meta |= M_EXTRA;
            }
            if UNKNOWN_EVENTS.contains(&name) {
                meta |= M_UNKNOWN;
            }
            match s.kind {
                Kind::Bot => meta |= M_BOT,
                Kind::Test => meta |= M_TEST,
                Kind::Human => {}
            }
            if s.user_id == "anonymous" {
                meta |= M_ANON;
            }
            if s.tracer {
                meta |= M_TRACER;
            }
            let name_idx = KNOWN_EVENTS
                .iter()
                .chain(UNKNOWN_EVENTS.iter())
                .position(|&x| x == name)
                .unwrap_or(0) as u32;
            meta |= name_idx << M_NAME_SHIFT;
            arena
                .idx
                .push((t, self.seq, start, arena.bytes.len() - start, meta));
            self.seq += 1;
            t += match s.kind {
                Kind::Bot => self.r.between(80, 400),
                _ => self.r.between(1_500, 60_000),
            };
        }
    }
}

fn name_of(idx: u32) -> &'static str {
    KNOWN_EVENTS
        .iter()
        .chain(UNKNOWN_EVENTS.iter())
        .nth(idx as usize)
        .copied()
        .unwrap_or("?")
}

/// Writes the 24 hourly files of UTC day `d`; returns its ground-truth entry.
pub fn generate_day(ctx: &Ctx, d: NaiveDate) -> Result<Value> {
    let date = d.format("%Y-%m-%d").to_string();
    let mut g = Gen {
        ctx,
        r: Rng::stream(ctx.world.seed, "firebase", epoch_days(d) as u64, 0),
        seq: 0,
        day_tag: d.format("%y%m%d").to_string(),
        purchases: 0,
        forced: 0,
    };
    let d0 = day_start_ms(d);
    let wsum: f64 = DIURNAL.iter().sum();
    let mut carry = Arena::new();
    let mut stats = Stats::default();
    let mut files = Vec::new();
    for h in 0..24i64 {
        let h0 = d0 + h * HOUR;
        let h1 = h0 + HOUR;
        let quota = (ctx.vol.firebase_per_day as f64 * DIURNAL[h as usize] / wsum).round() as usize;
        let mut arena = std::mem::replace(&mut carry, Arena::new());
        let base = arena.idx.len();
        if h == 20 {
            let t0 = h0 + g.r.range(0, HOUR / 2);
            g.run_session(&mut arena, t0, true);
        }
        while arena.idx.len() - base < quota {
            let t0 = h0 + g.r.range(0, HOUR);
            g.run_session(&mut arena, t0, false);
        }
        arena.idx.sort_unstable_by_key(|e| (e.0, e.1));
        let rel = format!("firebase_data/{date}/events_{h:02}.ndjson");
        let mut out = OutFile::create(&ctx.out, &rel)?;
        out.modified_at(d0 + (h + 1) * 3_600_000 + 5 * 60_000);
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut n = 0u64;
        for &(t, seq, s, len, meta) in &arena.idx {
            if t >= h1 {
                if h < 23 {
                    let ns = carry.bytes.len();
                    carry.bytes.extend_from_slice(&arena.bytes[s..s + len]);
                    carry.idx.push((t, seq, ns, len, meta));
                }
                continue;
            }
            buf.extend_from_slice(&arena.bytes[s..s + len]);
            n += 1;
            count(&mut stats, meta);
            if buf.len() > 60_000 {
                out.write(&buf)?;
                buf.clear();
            }
        }
        out.write(&buf)?;
        ctx.record(out.finish()?);
        files.push(json!({"path": rel, "events": n}));
    }
    if stats.tracer > 0 {
        ctx.seen_tracer("firebase");
    }
    let t = ctx.world.tracer();
    ctx.pii_sample("firebase_device_ids", &t.app_devices[0]);
    Ok(json!({
        "date": date,
        "files": files,
        "events": stats.events,
        "by_event_name": stats.by_name,
        "bot_events": stats.bot,
        "test_events": stats.test,
        "human_events": stats.human,
        "anonymous_events": stats.anon_all,
        "anonymous_human_events": stats.anon_human,
        "anonymous_share_of_human_events": stats.anon_human as f64 / stats.human.max(1) as f64,
        "string_event_timestamps": stats.string_ts,
        "unknown_event_name_events": stats.unknown,
        "unexpected_param_key_events": stats.extra,
        "tracer_events": stats.tracer,
    }))
}

fn count(s: &mut Stats, meta: u32) {
    s.events += 1;
    *s.by_name
        .entry(name_of(meta >> M_NAME_SHIFT).to_string())
        .or_default() += 1;
    let anon = meta & M_ANON != 0;
    if meta & M_BOT != 0 {
        s.bot += 1;
    } else if meta & M_TEST != 0 {
        s.test += 1;
    } else {
        s.human += 1;
        s.anon_human += u64::from(anon);
    }
    s.anon_all += u64::from(anon);
    s.string_ts += u64::from(meta & M_STRTS != 0);
    s.unknown += u64::from(meta & M_UNKNOWN != 0);
    s.extra += u64::from(meta & M_EXTRA != 0);
    s.tracer += u64::from(meta & M_TRACER != 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Ctx, GenConfig};

    #[test]
    fn events_parse_and_rates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = NaiveDate::from_ymd_opt(2026, 3, 17).expect("date");
        let cfg = GenConfig::new(42, 1.0, d, d);
        let ctx = Ctx::new(&cfg, dir.path());
        let truth = generate_day(&ctx, d).expect("generate");
        let mut n = 0u64;
        let mut bots = 0u64;
        let mut strings = 0u64;
        for h in 0..24 {
            let p = dir
                .path()
                .join(format!("firebase_data/2026-03-17/events_{h:02}.ndjson"));
            let text = std::fs::read_to_string(p).expect("read");
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).expect("json line");
                n += 1;
                let dev = v["device_id"].as_str().expect("device");
                if dev.starts_with("bot-") || dev.starts_with("headless-") {
                    bots += 1;
                }
                let ts = &v["event_timestamp"];
                let ms = if let Some(s) = ts.as_str() {
                    strings += 1;
                    s.parse::<i64>().expect("numeric string")
                } else {
                    ts.as_i64().expect("integer ms")
                };
                assert_eq!(
                    ms.div_euclid(HOUR) % 24,
                    h as i64,
                    "event in wrong hourly file"
                );
                assert!(v["params"].is_object());
            }
        }
        assert_eq!(n, truth["events"].as_u64().expect("events"));
        assert_eq!(bots, truth["bot_events"].as_u64().expect("bots"));
        assert_eq!(
            strings,
            truth["string_event_timestamps"].as_u64().expect("s")
        );
        assert!((n as f64 - 30_000.0).abs() < 1_500.0, "{n}");
        let anon = truth["anonymous_share_of_human_events"]
            .as_f64()
            .expect("anon");
        assert!((0.33..0.47).contains(&anon), "{anon}");
        assert!(truth["test_events"].as_u64().expect("test") > 20);
        assert!(truth["tracer_events"].as_u64().expect("tracer") > 0);
    }
}
