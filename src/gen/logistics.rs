//! Logistics partner files (SPEC §3.7): six per day, one per 4-hour window,
//! `logistic_partner_data/YYYY-MM-DD/livraisons_HHMM.csv` (window start, UTC).
//!
//! `;`-separated (the partner's Excel export), UTF-8, LF. A row is the state of one
//! parcel (`livraison_id`) after an update in that window, so a parcel reappears in later
//! files with a newer status (LOG-A4: the most recent file wins). Formats vary by
//! carrier (LOG-A5, OQ-11): dates, decimals and booleans — see [`carrier_format`].

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{json, Value};

use super::calendar::business_days_between;
use super::commerce::{self, basket, life, parcels, skeleton, OrderSkel, PStatus, Parcel};
use super::events::LOOKBACK_DAYS;
use super::fmt::{
    date_of_ms, day_start_ms, epoch_days, push_cents, push_csv, push_naive_datetime, push_u64,
    OutFile, DAY_MS,
};
use super::rng::Rng;
use super::Ctx;

pub const HEADER: &[&str] = &[
    "livraison_id",
    "order_id",
    "customer_id",
    "transporteur",
    "numero_suivi",
    "statut_livraison",
    "entrepot_depart",
    "ville_destination",
    "pays_destination",
    "code_postal_dest",
    "poids_kg",
    "longueur_cm",
    "largeur_cm",
    "hauteur_cm",
    "frais_livraison_eur",
    "date_commande",
    "date_expédition",
    "date_livraison_prevue",
    "date_livraison_reelle",
    "retard_jours",
    "signature_requise",
    "tentatives_livraison",
    "motif_echec_retour",
    "assurance",
    "commentaire_livreur",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateFmt {
    /// `2026-03-18`
    Iso,
    /// `18/03/2026`
    DaySlash,
    /// `2026-03-18T14:05:00` (date_expédition; other dates `2026-03-18`)
    IsoDateTime,
    /// `18-03-2026`
    DayDash,
}

/// (date format, decimal separator, booleans) of a carrier's rows.
pub fn carrier_format(carrier: &str) -> (DateFmt, u8, (&'static str, &'static str)) {
    match carrier {
        "Colissimo" => (DateFmt::Iso, b',', ("oui", "non")),
        "Chronopost" => (DateFmt::DaySlash, b',', ("oui", "non")),
        "DHL" => (DateFmt::IsoDateTime, b'.', ("true", "false")),
        "UPS" => (DateFmt::DayDash, b'.', ("true", "false")),
        "Mondial Relay" => (DateFmt::DaySlash, b',', ("O", "N")),
        "DPD" => (DateFmt::Iso, b'.', ("1", "0")),
        _ => (DateFmt::Iso, b'.', ("O", "N")),
    }
}

fn push_date_fmt(b: &mut Vec<u8>, d: NaiveDate, f: DateFmt) {
    match f {
        DateFmt::Iso | DateFmt::IsoDateTime => super::fmt::push_date(b, d),
        DateFmt::DaySlash | DateFmt::DayDash => {
            let sep = if f == DateFmt::DaySlash { b'/' } else { b'-' };
            super::fmt::push_pad(b, u64::from(d.day()), 2);
            b.push(sep);
            super::fmt::push_pad(b, u64::from(d.month()), 2);
            b.push(sep);
            super::fmt::push_pad(b, d.year() as u64, 4);
        }
    }
}

/// A raw spelling of a status (LOG-A3).
fn status_variant(r: &mut Rng, s: PStatus) -> (String, &'static str) {
    let c = s.canonical();
    match r.weighted(&[70, 10, 8, 6, 3, 3]) {
        0 => (c.to_string(), "canonical"),
        1 => (c.to_lowercase(), "lower"),
        2 => (c.to_uppercase(), "upper"),
        3 => (format!(" {c} "), "padded"),
        4 => (c.replace(' ', "  "), "double_space"),
        _ => (format!("{} ", c.to_lowercase()), "lower_trailing"),
    }
}

#[derive(Clone, Copy)]
struct Stub {
    ms: i64,
    back: u8,
    idx: u32,
    parcel: u8,
    update: u8,
    status: PStatus,
}

#[derive(Default)]
struct Stats {
    rows: u64,
    no_real_date: u64,
    aberrant: Vec<(String, u32)>,
    exactly_10: u64,
    exact_dups: u64,
    inverted: Vec<String>,
    comma_decimal_rows: u64,
    variants: BTreeMap<&'static str, u64>,
    canonical: BTreeMap<&'static str, u64>,
    ids: BTreeMap<String, u32>,
    tracer_rows: u64,
}

const ABERRANT_VALUES: &[u32] = &[11, 12, 14, 15, 20, 25, 40, 99, 100, 150, 200, 300, 450, 999];

/// Writes the six files of day `d`; returns its ground-truth entry.
pub fn generate_day(ctx: &Ctx, d: NaiveDate) -> Result<Value> {
    let world = &ctx.world;
    let seed = world.seed;
    let d0 = day_start_ms(d);
    let d1 = d0 + DAY_MS;
    let skels: Vec<Vec<OrderSkel>> = (0..=LOOKBACK_DAYS)
        .map(|b| skeleton(world, ctx.vol.orders_per_day, d - Duration::days(b)))
        .collect();
    let cday = |back: u8| d - Duration::days(i64::from(back));
    let mut stubs: Vec<Stub> = Vec::new();
    for (back, sk) in skels.iter().enumerate() {
        let back = back as u8;
        for (idx, o) in sk.iter().enumerate() {
            let l = life(seed, cday(back), o, ctx.vol.cancel_scale);
            let Some(ship) = l.shipped else { continue };
            if ship >= d1 || l.last_activity() < d0 {
                continue;
            }
            let b = basket(world, cday(back), o, l.method);
            for (j, p) in parcels(world, cday(back), o, &l, &b).iter().enumerate() {
                for (k, u) in p.updates.iter().enumerate() {
                    if u.ms >= d0 && u.ms < d1 {
                        stubs.push(Stub {
                            ms: u.ms,
                            back,
                            idx: idx as u32,
                            parcel: j as u8,
                            update: k as u8,
                            status: u.status,
                        });
                    }
                }
            }
        }
    }
    stubs.sort_by_key(|s| (s.ms, s.back, s.idx, s.parcel, s.update));
    let mut r = Rng::stream(seed, "logistics", epoch_days(d) as u64, 0);
    // LOG-A2: aberrant attempts (> 10) and a few exactly 10 (not suspect), on rows that
    // record a delivery attempt.
    let mut final_rows: Vec<usize> = Vec::new();
    for (i, s) in stubs.iter().enumerate() {
        if skels[s.back as usize][s.idx as usize].tracer {
            continue;
        }
        if matches!(
            s.status,
            PStatus::Livre | PStatus::EchecLivraison | PStatus::Retourne
        ) {
            final_rows.push(i);
        }
    }
    r.shuffle(&mut final_rows);
    let n_ab = (ctx.vol.scaled(90.0) as usize).min(final_rows.len());
    let n_ten = (ctx.vol.scaled(12.0) as usize).min(final_rows.len() - n_ab);
    let aberrant: BTreeSet<usize> = final_rows[..n_ab].iter().copied().collect();
    let ten: BTreeSet<usize> = final_rows[n_ab..n_ab + n_ten].iter().copied().collect();

    // At least one exact duplicate per day, even at tiny scales.
    let forced_dup = if stubs.is_empty() {
        usize::MAX
    } else {
        r.below(stubs.len() as u64) as usize
    };
    let date = d.format("%Y-%m-%d").to_string();
    let mut stats = Stats::default();
    let mut files = Vec::new();
    let mut row_i = 0usize;
    let mut cache: Option<(u8, u32, Vec<Parcel>, commerce::Basket, commerce::Life)> = None;
    for w in 0..6 {
        let w0 = d0 + w * 4 * 3_600_000;
        let w1 = w0 + 4 * 3_600_000;
        let rel = format!("logistic_partner_data/{date}/livraisons_{:02}00.csv", w * 4);
        let mut out = OutFile::create(&ctx.out, &rel)?;
        out.modified_at(w1);
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        for (i, h) in HEADER.iter().enumerate() {
            if i > 0 {
                buf.push(b';');
            }
            buf.extend_from_slice(h.as_bytes());
        }
        buf.push(b'\n');
        let mut rows = 0u64;
        let mut dups = 0u64;
        while row_i < stubs.len() && stubs[row_i].ms < w1 {
            let s = stubs[row_i];
            let o = &skels[s.back as usize][s.idx as usize];
            let hit = matches!(&cache, Some((b, i, ..)) if *b == s.back && *i == s.idx);
            if !hit {
                let l = life(seed, cday(s.back), o, ctx.vol.cancel_scale);
                let b = basket(world, cday(s.back), o, l.method);
                let ps = parcels(world, cday(s.back), o, &l, &b);
                cache = Some((s.back, s.idx, ps, b, l));
            }
            let Some((_, _, ps, _, _)) = &cache else {
                break;
            };
            let p = &ps[s.parcel as usize];
            let u = &p.updates[s.update as usize];
            let c = &world.customers[o.cust as usize];
            let start = buf.len();
            let (fmt, dec, (yes, no)) = carrier_format(p.carrier);
            let (raw_status, variant) = status_variant(&mut r, u.status);
            *stats.variants.entry(variant).or_default() += 1;
            *stats.canonical.entry(u.status.canonical()).or_default() += 1;
            let field = |b: &mut Vec<u8>, s: &str| {
                push_csv(b, s, b';');
                b.push(b';');
            };
            field(&mut buf, &p.livraison_id);
            field(&mut buf, &commerce::order_id(cday(s.back), o.no));
            field(&mut buf, &c.id);
            field(&mut buf, p.carrier);
            field(&mut buf, &p.tracking);
            field(&mut buf, &raw_status);
            field(&mut buf, p.warehouse);
            field(&mut buf, c.city);
            field(&mut buf, c.country);
            field(&mut buf, c.postal);
            push_cents(&mut buf, i64::from(p.weight_g / 10), dec);
            buf.push(b';');
            for v in [p.dims.0, p.dims.1, p.dims.2] {
                push_u64(&mut buf, u64::from(v));
                buf.push(b';');
            }
            push_cents(&mut buf, p.fee_cents, dec);
            buf.push(b';');
            let mut no_date = false;
            let mut inverted = false;
            push_date_fmt(&mut buf, date_of_ms(o.created_ms), fmt);
            buf.push(b';');
            if fmt == DateFmt::IsoDateTime {
                push_naive_datetime(&mut buf, p.shipped);
            } else {
                push_date_fmt(&mut buf, date_of_ms(p.shipped), fmt);
            }
            buf.push(b';');
            push_date_fmt(&mut buf, p.promised, fmt);
            buf.push(b';');
            if u.status == PStatus::Livre {
                let mut real = date_of_ms(u.ms);
                if r.chance(0.003) {
                    // Data-entry error: delivery recorded before shipping.
                    real = date_of_ms(p.shipped) - Duration::days(r.between(1, 3));
                    inverted = true;
                }
                push_date_fmt(&mut buf, real, fmt);
                buf.push(b';');
                let late = business_days_between(p.promised, date_of_ms(u.ms)).max(0);
                push_u64(&mut buf, late as u64);
                buf.push(b';');
            } else {
                no_date = true;
                buf.extend_from_slice(b";;");
            }
            buf.extend_from_slice(if p.signature { yes } else { no }.as_bytes());
            buf.push(b';');
            let attempts = if aberrant.contains(&row_i) {
                r.pick(ABERRANT_VALUES)
            } else if ten.contains(&row_i) {
                10
            } else {
                u.attempts
            };
            push_u64(&mut buf, u64::from(attempts));
            buf.push(b';');
            let motif = match u.status {
                PStatus::EchecLivraison | PStatus::Retourne => {
                    p.motif.unwrap_or("Destinataire absent")
                }
                _ => "",
            };
            field(&mut buf, motif);
            buf.extend_from_slice(if p.insurance { yes } else { no }.as_bytes());
            buf.push(b';');
            let comment = courier_comment(&mut r, u.status, c);
            if !comment.is_empty() && comment.contains(c.last) {
                ctx.pii_sample("courier_comments", &comment);
            }
            push_csv(&mut buf, &comment, b';');
            buf.push(b'\n');
            // LOG-A4: an exact duplicate row, as sent twice by the partner.
            let copies: u64 = if r.chance(0.005) || row_i == forced_dup {
                let line = buf[start..].to_vec();
                buf.extend_from_slice(&line);
                dups += 1;
                2
            } else {
                1
            };
            rows += copies;
            *stats.ids.entry(p.livraison_id.clone()).or_default() += 1;
            if o.tracer {
                stats.tracer_rows += copies;
            }
            if no_date {
                stats.no_real_date += copies;
            }
            if dec == b',' {
                stats.comma_decimal_rows += copies;
            }
            if attempts > 10 {
                for _ in 0..copies {
                    stats.aberrant.push((p.livraison_id.clone(), attempts));
                }
            } else if attempts == 10 {
                stats.exactly_10 += copies;
            }
            if inverted {
                stats.inverted.push(p.livraison_id.clone());
            }
            row_i += 1;
            if buf.len() > 60_000 {
                out.write(&buf)?;
                buf.clear();
            }
        }
        out.write(&buf)?;
        ctx.record(out.finish()?);
        stats.rows += rows;
        stats.exact_dups += dups;
        files.push(json!({"path": rel, "window_start": super::fmt::rfc3339_ms(w0), "rows": rows, "exact_duplicate_rows": dups}));
    }
    if stats.tracer_rows > 0 {
        ctx.seen_tracer("logistics");
    }
    let multi = stats.ids.values().filter(|&&n| n > 1).count();
    let max_att = stats.aberrant.iter().map(|a| a.1).max().unwrap_or(10);
    Ok(json!({
        "date": date,
        "files": files,
        "rows": stats.rows,
        "distinct_livraison_ids": stats.ids.len(),
        "livraison_ids_with_several_updates": multi,
        "exact_duplicate_rows": stats.exact_dups,
        "rows_without_date_livraison_reelle": stats.no_real_date,
        "aberrant_attempts_rows": stats.aberrant.len(),
        "aberrant_attempts": stats.aberrant.iter().map(|(id, v)| json!({"livraison_id": id, "tentatives_livraison": v})).collect::<Vec<_>>(),
        "max_attempts": max_att,
        "exactly_10_attempts_rows": stats.exactly_10,
        "delivery_before_shipping": stats.inverted,
        "comma_decimal_rows": stats.comma_decimal_rows,
        "status_spelling": stats.variants,
        "status_canonical": stats.canonical,
        "tracer_rows": stats.tracer_rows,
    }))
}

fn courier_comment(r: &mut Rng, s: PStatus, c: &super::world::Customer) -> String {
    match s {
        PStatus::Livre if r.chance(0.4) => match r.below(6) {
            0 => "Remis en main propre".into(),
            1 => "Laissé en boîte aux lettres".into(),
            2 => format!(
                "Déposé chez le voisin, M. {} au {}",
                c.last,
                1 + r.below(40)
            ),
            3 => format!("Remis à {} {}", c.first, c.last),
            4 => "Colis remis au gardien".into(),
            _ => format!("Client joint au {}", c.phone),
        },
        PStatus::EchecLivraison | PStatus::Retourne if r.chance(0.7) => match r.below(3) {
            0 => "Absent, avis de passage déposé".into(),
            1 => format!("Client injoignable au {}", c.phone),
            _ => "Digicode erroné, rappeler le client".into(),
        },
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Ctx, GenConfig};

    #[test]
    fn rows_and_anomaly_rates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = NaiveDate::from_ymd_opt(2026, 3, 17).expect("date");
        let cfg = GenConfig::new(42, 1.0, d, d);
        let ctx = Ctx::new(&cfg, dir.path());
        let t = generate_day(&ctx, d).expect("generate");
        let rows = t["rows"].as_u64().expect("rows");
        assert!((13_000..18_500).contains(&rows), "{rows}");
        assert!(t["rows_without_date_livraison_reelle"].as_u64().expect("n") > 2_000);
        let ab = t["aberrant_attempts_rows"].as_u64().expect("ab");
        assert!((90..=92).contains(&ab), "{ab}");
        assert!(t["exactly_10_attempts_rows"].as_u64().expect("ten") >= 1);
        assert!(
            t["livraison_ids_with_several_updates"]
                .as_u64()
                .expect("multi")
                > 1_000
        );
        assert!(t["exact_duplicate_rows"].as_u64().expect("dups") > 20);
        // Recount from the files: rows and attempts > 10.
        let mut n = 0u64;
        let mut over = 0u64;
        for f in t["files"].as_array().expect("files") {
            let p = dir.path().join(f["path"].as_str().expect("path"));
            let text = std::fs::read_to_string(p).expect("read");
            let mut lines = text.lines();
            let header = lines.next().expect("header");
            assert_eq!(header.split(';').count(), HEADER.len());
            assert!(header.contains("date_expédition"));
            for line in lines {
                let cols: Vec<&str> = line.split(';').collect();
                assert_eq!(cols.len(), HEADER.len(), "{line}");
                n += 1;
                if cols[21].parse::<u32>().expect("attempts") > 10 {
                    over += 1;
                }
            }
        }
        assert_eq!(n, rows);
        assert_eq!(over, ab);
    }
}
