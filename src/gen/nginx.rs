//! Nginx access logs in the CONTRACTS C5 `kvt` log format, one file per local day:
//! `nginx_data/access-YYYY-MM-DD.log`.
//!
//! ```text
//! $remote_addr - $kvt_customer [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time
//! ```
//! `$time_local` is Europe/Paris (`+0100`/`+0200`) and the file holds one local day
//! (rotation at local midnight). Anomalies (NGX-A1..A3): ~2 % lines cut before the
//! user agent's closing quote; ~0.3 % lines with NUL bytes inside the request (the line
//! parses once the NULs are removed); ~0.3 % garbage lines (error-log lines, JSON,
//! empty lines, noise) that no access-log regex accepts. All bytes are valid UTF-8.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

use super::calendar::paris_offset_minutes;
use super::commerce::DIURNAL;
use super::fmt::{day_start_ms, epoch_days, push_fixed, push_nginx_time, push_u64, OutFile};
use super::rng::Rng;
use super::world::{is_bot_ua, visitor_ip, BOT_UAS, BROWSER_UAS, CATEGORIES};
use super::Ctx;

const HOUR: i64 = 3_600_000;
const SITE: &str = "https://www.kivendtout.fr";
const APP_UAS: &[&str] = &[
    "KiVendTout/4.12.0 (iPhone; iOS 17.3.1; Scale/3.00)",
    "KiVendTout/4.12.0 (Android 14; SM-A546B)",
    "KiVendTout/4.11.2 (Android 13; Pixel 7)",
    "okhttp/4.12.0",
];
const SEARCHES: &[&str] = &[
    "casque+bluetooth",
    "aspirateur+robot",
    "chaussures+running",
    "whisky",
    "vapoteuse",
    "couteau+de+poche",
    "ordinateur+portable",
    "cafeti%C3%A8re",
    "lego",
    "cr%C3%A8me+hydratante",
];
const SCAN_PATHS: &[&str] = &[
    "/wp-login.php",
    "/.env",
    "/admin/config.php",
    "/phpmyadmin/index.php",
    "/.git/config",
    "/xmlrpc.php",
    "/cgi-bin/luci",
];

/// UTC bounds `[start, end)` of the Paris-local day `d`.
pub fn local_day_bounds(d: NaiveDate) -> (i64, i64) {
    let bound = |x: NaiveDate| {
        let utc_midnight = day_start_ms(x);
        // Offset in force at local midnight (switches happen at 01:00 UTC).
        let off = paris_offset_minutes(utc_midnight - 2 * HOUR);
        utc_midnight - i64::from(off) * 60_000
    };
    (bound(d), bound(d + Duration::days(1)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VisitKind {
    Anonymous,
    Customer,
    Crawler,
    Scanner,
    App,
}

struct Visitor {
    ip: String,
    customer: Option<String>,
    ua: &'static str,
    kind: VisitKind,
    tracer: bool,
}

#[derive(Default)]
struct Stats {
    lines: u64,
    valid: u64,
    truncated: u64,
    nul_lines: u64,
    nul_bytes: u64,
    garbage: BTreeMap<&'static str, u64>,
    ipv6: u64,
    authenticated: u64,
    bot_ua: u64,
    families: BTreeMap<String, u64>,
    methods: BTreeMap<&'static str, u64>,
    tracer_lines: u64,
}

// Line metadata bits, counted when the line is actually written.
const M_TRUNC: u32 = 1;
const M_NUL: u32 = 2;
const M_GARBAGE: u32 = 3;
const M_KIND: u32 = 3;
const M_IPV6: u32 = 1 << 2;
const M_AUTH: u32 = 1 << 3;
const M_BOT: u32 = 1 << 4;
const M_TRACER: u32 = 1 << 5;
const M_FAMILY_SHIFT: u32 = 6; // 3 bits: status / 100
const M_GKIND_SHIFT: u32 = 9; // 2 bits: garbage kind
const M_NULS_SHIFT: u32 = 11; // 4 bits: NUL count
const M_POST: u32 = 1 << 15;
const GARBAGE_KINDS: [&str; 4] = ["error_log", "json", "empty", "noise"];

struct Arena {
    bytes: Vec<u8>,
    /// (time, seq, start, len, meta)
    idx: Vec<(i64, u64, usize, usize, u32)>,
}

fn pick_status(r: &mut Rng, kind: &str) -> u16 {
    match kind {
        "page" => r.pick_w(&[
            (200, 930),
            (301, 20),
            (302, 10),
            (404, 25),
            (500, 4),
            (502, 5),
            (503, 3),
            (504, 3),
        ]),
        "static" => r.pick_w(&[(200, 70), (304, 28), (404, 2)]),
        "api" => r.pick_w(&[
            (200, 860),
            (204, 20),
            (400, 20),
            (401, 30),
            (403, 10),
            (404, 20),
            (429, 10),
            (500, 10),
            (502, 10),
            (503, 5),
            (504, 5),
        ]),
        "bot" => r.pick_w(&[(200, 85), (301, 4), (404, 8), (429, 3)]),
        _ => r.pick_w(&[(404, 80), (403, 15), (400, 5)]),
    }
}

fn body_bytes(r: &mut Rng, status: u16, kind: &str) -> i64 {
    match status {
        304 | 204 => 0,
        301 | 302 => r.between(162, 178),
        404 => r.between(548, 15_000),
        429 => 169,
        400..=499 => r.between(150, 600),
        500..=599 => r.between(157, 597),
        _ => match kind {
            "page" | "bot" => r.between(18_000, 95_000),
            "static" => r.skewed(1_200.0, 350_000.0, 2) as i64,
            _ => r.between(120, 8_000),
        },
    }
}

/// Request time in milliseconds.
fn request_ms(r: &mut Rng, status: u16, kind: &str) -> i64 {
    match status {
        504 => r.between(60_000, 60_100),
        500..=503 => r.between(200, 3_000),
        _ => match kind {
            "static" => r.between(0, 50),
            "page" | "bot" => r.skewed(15.0, 900.0, 2) as i64,
            "api" => r.skewed(4.0, 600.0, 2) as i64,
            _ => r.between(1, 10),
        },
    }
}

/// Renders one request line (without newline) into `b`; returns the byte offset of
/// the request's closing quote in `b` relative to `start`, for NUL injection.
#[allow(clippy::too_many_arguments)]
fn render(
    b: &mut Vec<u8>,
    v: &Visitor,
    t: i64,
    method: &str,
    path: &str,
    proto: &str,
    status: u16,
    bytes: i64,
    referer: &str,
    rt_ms: i64,
) {
    b.extend_from_slice(v.ip.as_bytes());
    b.extend_from_slice(b" - ");
    b.extend_from_slice(v.customer.as_deref().unwrap_or("-").as_bytes());
    b.extend_from_slice(b" [");
    push_nginx_time(b, t, paris_offset_minutes(t));
    b.extend_from_slice(b"] \"");
    b.extend_from_slice(method.as_bytes());
    b.push(b' ');
    b.extend_from_slice(path.as_bytes());
    b.push(b' ');
    b.extend_from_slice(proto.as_bytes());
    b.extend_from_slice(b"\" ");
    push_u64(b, u64::from(status));
    b.push(b' ');
    push_u64(b, bytes as u64);
    b.extend_from_slice(b" \"");
    b.extend_from_slice(referer.as_bytes());
    b.extend_from_slice(b"\" \"");
    b.extend_from_slice(v.ua.as_bytes());
    b.extend_from_slice(b"\" ");
    push_fixed(b, rt_ms, 3, b'.');
}

fn category_slug(i: usize) -> String {
    super::world::ascii_fold(CATEGORIES[i % CATEGORIES.len()].0).replace(['&', ','], "")
}

struct Gen<'a> {
    ctx: &'a Ctx,
    r: Rng,
    seq: u64,
    stats: Stats,
    forced: u8,
}

impl<'a> Gen<'a> {
    fn visitor(&mut self, tracer: bool) -> Visitor {
        let r = &mut self.r;
        let w = &self.ctx.world;
        if tracer {
            let t = w.tracer();
            return Visitor {
                ip: t.ipv4[0].clone(),
                customer: Some(t.id.clone()),
                ua: t.ua,
                kind: VisitKind::Customer,
                tracer: true,
            };
        }
        let kind = r.pick_w(&[
            (VisitKind::Anonymous, 52),
            (VisitKind::Customer, 29),
            (VisitKind::Crawler, 7),
            (VisitKind::Scanner, 2),
            (VisitKind::App, 10),
        ]);
        match kind {
            VisitKind::Customer | VisitKind::App => {
                let c = &w.customers[r.below(w.customers.len() as u64) as usize];
                let ip = match &c.ipv6 {
                    Some(v6) if r.chance(0.6) => v6.clone(),
                    _ => c.ipv4[r.below(c.ipv4.len() as u64) as usize].clone(),
                };
                let logged = kind == VisitKind::Customer || r.chance(0.7);
                Visitor {
                    ip,
                    customer: if logged { Some(c.id.clone()) } else { None },
                    ua: if kind == VisitKind::App {
                        r.pick(APP_UAS)
                    } else {
                        c.ua
                    },
                    kind,
                    tracer: false,
                }
            }
            VisitKind::Anonymous => {
                let ip = if r.chance(0.08) {
                    format!(
                        "2a01:cb00:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
                        r.below(0x10000),
                        r.below(0x10000),
                        r.below(0x10000),
                        r.below(0x10000),
                        r.below(0x10000),
                        r.below(0x10000)
                    )
                } else {
                    visitor_ip(r)
                };
                Visitor {
                    ip,
                    customer: None,
                    ua: r.pick(&BROWSER_UAS[..9]),
                    kind,
                    tracer: false,
                }
            }
            VisitKind::Crawler => {
                let ua_i = r.below(4) as usize;
                let ip = match ua_i {
                    0 => format!("66.249.{}.{}", 64 + r.below(32), r.below(256)),
                    1 => format!("40.77.{}.{}", 160 + r.below(32), r.below(256)),
                    2 => format!("54.36.{}.{}", 148 + r.below(4), r.below(256)),
                    _ => format!("185.191.{}.{}", 171, r.below(256)),
                };
                Visitor {
                    ip,
                    customer: None,
                    ua: BOT_UAS[ua_i],
                    kind,
                    tracer: false,
                }
            }
            VisitKind::Scanner => Visitor {
                ip: format!(
                    "{}.{}.{}.{}",
                    r.pick(&[45u64, 103, 141, 193, 194]),
                    r.below(256),
                    r.below(256),
                    1 + r.below(254)
                ),
                customer: None,
                ua: r.pick(&BOT_UAS[4..9]),
                kind,
                tracer: false,
            },
        }
    }

    /// One visit: requests from `t0`, appended to the arena.
    fn visit(&mut self, arena: &mut Arena, t0: i64, tracer: bool) {
        let v = self.visitor(tracer);
        let n = match v.kind {
            VisitKind::Anonymous | VisitKind::Customer => {
                1 + self.r.weighted(&[20, 20, 15, 12, 10, 8, 6, 5, 4])
            }
            VisitKind::Crawler => 2 + self.r.below(12) as usize,
            VisitKind::Scanner => 2 + self.r.below(6) as usize,
            VisitKind::App => 2 + self.r.below(10) as usize,
        };
        let proto =
            if matches!(v.kind, VisitKind::Crawler | VisitKind::Scanner) || self.r.chance(0.4) {
                "HTTP/1.1"
            } else {
                "HTTP/2.0"
            };
        let mut t = t0;
        let mut prev: Option<String> = None;
        let products = &self.ctx.world.products;
        for i in 0..n {
            let r = &mut self.r;
            let (method, path, kind) = match v.kind {
                VisitKind::Scanner => ("GET", (r.pick(SCAN_PATHS)).to_string(), "scan"),
                VisitKind::Crawler => {
                    if i == 0 {
                        ("GET", "/robots.txt".to_string(), "bot")
                    } else if r.chance(0.1) {
                        ("GET", "/sitemap.xml".to_string(), "bot")
                    } else {
                        let p = &products[r.below(products.len() as u64) as usize];
                        ("GET", format!("/produit/{}", p.id), "bot")
                    }
                }
                VisitKind::App => {
                    let p = &products[r.below(products.len() as u64) as usize];
                    match r.weighted(&[50, 20, 15, 10, 5]) {
                        0 => ("GET", format!("/api/v1/products/{}", p.id), "api"),
                        1 => ("GET", "/api/v1/cart".to_string(), "api"),
                        2 => ("POST", "/api/v1/cart/items".to_string(), "api"),
                        3 => (
                            "GET",
                            format!("/api/v1/search?q={}", r.pick(SEARCHES)),
                            "api",
                        ),
                        _ => ("POST", "/api/v1/checkout".to_string(), "api"),
                    }
                }
                _ => {
                    let p = &products[r.below(products.len() as u64) as usize];
                    match r.weighted(&[10, 12, 38, 8, 8, 4, 3, 3, 7, 7]) {
                        0 => ("GET", "/".to_string(), "page"),
                        1 => (
                            "GET",
                            format!("/categorie/{}", category_slug(r.below(40) as usize)),
                            "page",
                        ),
                        2 => ("GET", format!("/produit/{}", p.id), "page"),
                        3 => ("GET", format!("/recherche?q={}", r.pick(SEARCHES)), "page"),
                        4 => ("GET", "/panier".to_string(), "page"),
                        5 => ("GET", "/commande/livraison".to_string(), "page"),
                        6 => ("POST", "/commande/paiement".to_string(), "page"),
                        7 => ("GET", "/compte/commandes".to_string(), "page"),
                        8 => (
                            "GET",
                            format!("/static/js/app.{:06x}.js", 0x3f9c2b),
                            "static",
                        ),
                        _ => ("GET", format!("/images/produits/{}.webp", p.id), "static"),
                    }
                }
            };
            let status = pick_status(r, kind);
            let bytes = body_bytes(r, status, kind);
            let rt = request_ms(r, status, kind);
            let referer = match (&prev, v.kind) {
                (Some(p), VisitKind::Anonymous | VisitKind::Customer) => format!("{SITE}{p}"),
                (None, VisitKind::Anonymous | VisitKind::Customer) if r.chance(0.4) => (r.pick(&[
                    "https://www.google.com/",
                    "https://www.google.fr/",
                    "https://www.facebook.com/",
                    "https://www.instagram.com/",
                ]))
                .to_string(),
                _ => "-".to_string(),
            };
            if kind == "page" {
                prev = Some(path.clone());
            }
            let start = arena.bytes.len();
            let x = if v.tracer {
                1.0
            } else if self.forced < 3 {
                // The first lines of the day carry one anomaly of each kind, so tiny
                // fixtures have them all.
                self.forced += 1;
                [0.001, 0.004, 0.01][self.forced as usize - 1]
            } else {
                r.f64()
            };
            let mut meta = if v.tracer { M_TRACER } else { 0 };
            if x < 0.003 {
                // Garbage line instead of the request.
                let gk = r.weighted(&[40, 20, 15, 25]);
                match gk {
                    0 => {
                        let mut b = Vec::new();
                        super::fmt::push_sql_datetime(&mut b, t);
                        let s = String::from_utf8_lossy(&b).replace('-', "/");
                        arena.bytes.extend_from_slice(format!(
                            "{s} [error] 31337#31337: *{} upstream timed out (110: Connection timed out) while reading response header from upstream, client: {}, server: www.kivendtout.fr",
                            r.below(1_000_000), v.ip
                        ).as_bytes());
                    }
                    1 => arena.bytes.extend_from_slice(
                        b"{\"level\":\"warn\",\"msg\":\"health check failed\",\"upstream\":\"10.0.2.14:8080\"}",
                    ),
                    2 => {}
                    _ => {
                        for _ in 0..r.between(8, 60) {
                            let c = b"#@!?%&$^~|;:<>{}[]abcdefXYZ0123456789"[r.below(37) as usize];
                            arena.bytes.push(c);
                        }
                    }
                }
                meta |= M_GARBAGE | ((gk as u32) << M_GKIND_SHIFT);
            } else if x < 0.006 {
                // Malformed request with NUL bytes (nginx answers 400).
                let k = r.between(1, 8) as usize;
                let nuls = "\0".repeat(k);
                let bad = if r.chance(0.5) {
                    format!("{nuls}{path}")
                } else {
                    let mut cut = path.len() / 2;
                    while !path.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    format!("{}{nuls}{}", &path[..cut], &path[cut..])
                };
                let bytes = r.between(150, 300);
                let rt = r.between(0, 5);
                render(
                    &mut arena.bytes,
                    &v,
                    t,
                    method,
                    &bad,
                    proto,
                    400,
                    bytes,
                    &referer,
                    rt,
                );
                meta |= M_NUL | ((k as u32) << M_NULS_SHIFT) | line_meta(&v, method, 400);
            } else {
                render(
                    &mut arena.bytes,
                    &v,
                    t,
                    method,
                    &path,
                    proto,
                    status,
                    bytes,
                    &referer,
                    rt,
                );
                if x < 0.026 {
                    // Cut before the user agent's closing quote (rotation / partial write).
                    let line = &arena.bytes[start..];
                    let last_quote = line.iter().rposition(|&c| c == b'"').unwrap_or(line.len());
                    let lo = 16.min(last_quote);
                    let cut = start + r.range(lo as i64, last_quote as i64) as usize;
                    arena.bytes.truncate(cut);
                    // Never leave a partial UTF-8 sequence.
                    while arena.bytes.len() > start
                        && std::str::from_utf8(&arena.bytes[start..]).is_err()
                    {
                        arena.bytes.pop();
                    }
                    meta |= M_TRUNC;
                } else {
                    meta |= line_meta(&v, method, status);
                }
            }
            arena.bytes.push(b'\n');
            arena
                .idx
                .push((t, self.seq, start, arena.bytes.len() - start, meta));
            self.seq += 1;
            t += match v.kind {
                VisitKind::Crawler => self.r.between(200, 4_000),
                VisitKind::Scanner => self.r.between(50, 800),
                _ => self.r.between(1_500, 90_000),
            };
        }
    }

    fn count(&mut self, meta: u32) {
        let s = &mut self.stats;
        s.lines += 1;
        if meta & M_TRACER != 0 {
            s.tracer_lines += 1;
        }
        match meta & M_KIND {
            M_TRUNC => {
                s.truncated += 1;
                return;
            }
            M_GARBAGE => {
                let k = ((meta >> M_GKIND_SHIFT) & 3) as usize;
                *s.garbage.entry(GARBAGE_KINDS[k]).or_default() += 1;
                return;
            }
            M_NUL => {
                s.nul_lines += 1;
                s.nul_bytes += u64::from((meta >> M_NULS_SHIFT) & 15);
            }
            _ => {}
        }
        s.valid += 1;
        s.ipv6 += u64::from(meta & M_IPV6 != 0);
        s.authenticated += u64::from(meta & M_AUTH != 0);
        s.bot_ua += u64::from(meta & M_BOT != 0);
        let fam = (meta >> M_FAMILY_SHIFT) & 7;
        *s.families.entry(format!("{fam}xx")).or_default() += 1;
        let m = if meta & M_POST != 0 { "POST" } else { "GET" };
        *s.methods.entry(m).or_default() += 1;
    }
}

fn line_meta(v: &Visitor, method: &str, status: u16) -> u32 {
    let mut m = 0;
    if v.ip.contains(':') {
        m |= M_IPV6;
    }
    if v.customer.is_some() {
        m |= M_AUTH;
    }
    if is_bot_ua(v.ua) {
        m |= M_BOT;
    }
    if method == "POST" {
        m |= M_POST;
    }
    m | (u32::from(status / 100) << M_FAMILY_SHIFT)
}

/// Writes the access log of local day `d`; returns its ground-truth entry.
pub fn generate_day(ctx: &Ctx, d: NaiveDate) -> Result<Value> {
    let (start, end) = local_day_bounds(d);
    let mut g = Gen {
        ctx,
        r: Rng::stream(ctx.world.seed, "nginx", epoch_days(d) as u64, 0),
        seq: 0,
        stats: Stats::default(),
        forced: 0,
    };
    let target = ctx.vol.nginx_per_day;
    let hours: Vec<i64> = (0..((end - start) / HOUR)).collect();
    let weight = |h: i64| DIURNAL[(((start + h * HOUR) / HOUR).rem_euclid(24)) as usize];
    let wsum: f64 = hours.iter().map(|&h| weight(h)).sum();
    let rel = format!("nginx_data/access-{}.log", d.format("%Y-%m-%d"));
    let mut out = OutFile::create(&ctx.out, &rel)?;
    out.modified_at(super::fmt::day_start_ms(d) + 24 * 3_600_000);
    let mut carry = Arena {
        bytes: Vec::new(),
        idx: Vec::new(),
    };
    let tracer_hour = 10;
    for &h in &hours {
        let h0 = start + h * HOUR;
        let h1 = h0 + HOUR;
        let quota = (target as f64 * weight(h) / wsum).round() as usize;
        let mut arena = std::mem::replace(
            &mut carry,
            Arena {
                bytes: Vec::new(),
                idx: Vec::new(),
            },
        );
        let base = arena.idx.len();
        if h == tracer_hour {
            let t0 = h0 + g.r.range(0, HOUR / 2);
            g.visit(&mut arena, t0, true);
        }
        while arena.idx.len() - base < quota {
            let t0 = h0 + g.r.range(0, HOUR);
            g.visit(&mut arena, t0, false);
        }
        arena.idx.sort_unstable_by_key(|e| (e.0, e.1));
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        for &(t, seq, s, len, meta) in &arena.idx {
            if t >= h1 {
                let ns = carry.bytes.len();
                carry.bytes.extend_from_slice(&arena.bytes[s..s + len]);
                carry.idx.push((t, seq, ns, len, meta));
                continue;
            }
            buf.extend_from_slice(&arena.bytes[s..s + len]);
            g.count(meta);
            if buf.len() > 60_000 {
                out.write(&buf)?;
                buf.clear();
            }
        }
        out.write(&buf)?;
    }
    // Lines past local midnight would belong to the next file: dropped.
    ctx.record(out.finish()?);
    let s = &g.stats;
    if s.tracer_lines > 0 {
        ctx.seen_tracer("nginx");
    }
    let tracer = ctx.world.tracer();
    ctx.pii_sample("nginx_client_ips", &tracer.ipv4[0]);
    let garbage: u64 = s.garbage.values().sum();
    let discarded = s.truncated + garbage;
    Ok(json!({
        "path": rel,
        "date": d.format("%Y-%m-%d").to_string(),
        "utc_start": super::fmt::rfc3339_ms(start),
        "utc_end": super::fmt::rfc3339_ms(end),
        "lines": s.lines,
        "valid_lines": s.valid,
        "truncated_lines": s.truncated,
        "nul_lines": s.nul_lines,
        "nul_bytes": s.nul_bytes,
        "garbage_lines": garbage,
        "garbage_by_kind": s.garbage,
        "discarded_lines": discarded,
        "discarded_share": discarded as f64 / s.lines.max(1) as f64,
        "ipv6_lines": s.ipv6,
        "authenticated_lines": s.authenticated,
        "bot_user_agent_lines": s.bot_ua,
        "status_families": s.families,
        "methods": s.methods,
        "tracer_lines": s.tracer_lines,
    }))
}

/// The C5 `kvt` line regex (used by tests and documented in docs/generator.md).
pub const LINE_RE: &str = r#"^(\S+) - (\S+) \[([^\]]+)\] "([A-Z]+) (\S+) (HTTP/[0-9.]+)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" (\d+\.\d{3})$"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Ctx, GenConfig};

    #[test]
    fn lines_parse_and_anomaly_rates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = NaiveDate::from_ymd_opt(2026, 3, 17).expect("date");
        let cfg = GenConfig::new(42, 1.0, d, d);
        let ctx = Ctx::new(&cfg, dir.path());
        let truth = generate_day(&ctx, d).expect("generate");
        let text =
            std::fs::read(dir.path().join("nginx_data/access-2026-03-17.log")).expect("read");
        let re = regex::Regex::new(LINE_RE).expect("regex");
        let (mut valid, mut nul, mut bad, mut lines) = (0u64, 0u64, 0u64, 0u64);
        for raw in text.split(|&b| b == b'\n') {
            lines += 1;
            let has_nul = raw.contains(&0);
            let cleaned: Vec<u8> = raw.iter().copied().filter(|&b| b != 0).collect();
            let line = std::str::from_utf8(&cleaned).expect("utf8");
            if re.is_match(line) {
                valid += 1;
                nul += u64::from(has_nul);
            } else {
                assert!(
                    !has_nul,
                    "a NUL line must parse after NUL removal: {line:?}"
                );
                bad += 1;
            }
        }
        // split() yields one empty piece after the final newline.
        lines -= 1;
        bad -= 1;
        assert_eq!(lines, truth["lines"].as_u64().expect("lines"));
        assert_eq!(valid, truth["valid_lines"].as_u64().expect("valid"));
        assert_eq!(nul, truth["nul_lines"].as_u64().expect("nul"));
        assert_eq!(bad, truth["discarded_lines"].as_u64().expect("discarded"));
        let n = lines as f64;
        assert!((n - 47_000.0).abs() < 2_500.0, "{n}");
        let trunc = truth["truncated_lines"].as_u64().expect("t") as f64 / n;
        assert!((0.015..0.025).contains(&trunc), "{trunc}");
        assert!(nul > 50 && bad as f64 / n < 0.05);
        assert!(truth["ipv6_lines"].as_u64().expect("v6") > 500);
    }

    #[test]
    fn local_day_bounds_follow_dst() {
        let d = |m, dd| NaiveDate::from_ymd_opt(2026, m, dd).expect("date");
        let (a, b) = local_day_bounds(d(3, 29));
        assert_eq!(b - a, 23 * HOUR);
        let (a, b) = local_day_bounds(d(3, 17));
        assert_eq!(b - a, 24 * HOUR);
        assert_eq!(a, day_start_ms(d(3, 17)) - HOUR);
    }
}
