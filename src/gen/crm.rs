//! Salesforce CRM weekly export (SPEC §3.4): `crm_data/crm_export_YYYY-MM-DD.csv`.
//!
//! UTF-8 with BOM, comma-separated, RFC 4180 quoting, LF line ends. One snapshot per
//! Monday of the range (INC-1), or one dated the range's end when it has no Monday.
//! Formats: `DATE NAISSANCE`, `KYC DATE VALIDATION` = `DD/MM/YYYY`; `DATE CREATION CRM` =
//! `YYYY-MM-DD`; `DATE MODIFICATION` = `YYYY-MM-DD HH:MM:SS` (UTC); `KYC REQUIS`,
//! `KYC VALIDE` = `true`/`false`/empty; `NEWSLETTER OPTIN` = `Oui`/`Non`;
//! `LIFETIME VALUE EUR` with a dot.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::{json, Value};

use super::fmt::{
    day_start_ms, epoch_days, push_cents, push_csv, push_date, push_sql_datetime, OutFile, DAY_MS,
};
use super::rng::Rng;
use super::world::{Customer, COUNTRIES};
use super::Ctx;

pub const HEADER: &[&str] = &[
    "SALESFORCE ID",
    "CUSTOMER ID",
    "CIVILITE",
    "PRENOM",
    "NOM",
    "EMAIL",
    "TELEPHONE",
    "DATE NAISSANCE",
    "ADRESSE RUE",
    "VILLE",
    "CODE POSTAL",
    "PAYS",
    "STATUT",
    "SEGMENT CLIENT",
    "LEAD SCORE",
    "CANAL ACQUISITION",
    "CATEGORIE PREFEREE",
    "NB COMMANDES",
    "LIFETIME VALUE EUR",
    "KYC REQUIS",
    "KYC VALIDE",
    "KYC DATE VALIDATION",
    "NEWSLETTER OPTIN",
    "DATE CREATION CRM",
    "DATE MODIFICATION",
    "PROPRIETAIRE SF",
];

/// Misspelt or unknown country names (OQ-10), with no ISO mapping.
pub const UNKNOWN_COUNTRIES: &[&str] =
    &["Frnace", "Fance", "Belgiqe", "Allemagen", "Inconnu", "N/A"];

/// Export dates: every Monday of `[from, to]`, or `to` when there is none.
pub fn export_dates(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    let mut v = Vec::new();
    let mut d = from;
    while d <= to {
        if d.weekday() == Weekday::Mon {
            v.push(d);
        }
        d += Duration::days(1);
    }
    if v.is_empty() {
        v.push(to);
    }
    v
}

/// The raw `PAYS` spelling of a customer's country (CRM-A3).
fn country_spelling(r: &mut Rng, iso: &str) -> String {
    let name = COUNTRIES
        .iter()
        .find(|c| c.0 == iso)
        .map(|c| c.1)
        .unwrap_or("France");
    match r.weighted(&[70, 9, 7, 5, 4, 3, 2]) {
        0 => name.to_string(),
        1 => name.to_uppercase(),
        2 => name.to_lowercase(),
        3 => format!(" {name} "),
        4 => format!(" {} ", name.to_lowercase()),
        5 => format!("{name} "),
        _ => name.replace('-', " "),
    }
}

struct Row {
    cells: Vec<String>,
}

fn ddmmyyyy(d: NaiveDate) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())
}

fn snapshot_row(c: &Customer, export: NaiveDate, r: &mut Rng, modified_ms: i64, older: u32) -> Row {
    let weeks = (epoch_days(export)
        - epoch_days(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or(export)))
    .max(0)
        / 7;
    let orders = (i64::from(c.orders_base) + weeks / 3 - i64::from(older)).max(0);
    let avg_basket = if c.orders_base == 0 {
        4_500
    } else {
        c.ltv_cents / i64::from(c.orders_base)
    };
    let ltv = avg_basket * orders;
    let mut buf = Vec::new();
    let mut cell = |f: &dyn Fn(&mut Vec<u8>)| {
        buf.clear();
        f(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    };
    let civ = if r.chance(0.04) {
        String::new()
    } else if c.female {
        "Mme".into()
    } else {
        "M.".into()
    };
    let email = if r.chance(0.06) {
        // Raw CRM spelling: case and stray spaces (C6 normalises before hashing).
        let mut e = c.email.clone();
        if let Some(first) = e.get(..1) {
            e = first.to_uppercase() + &e[1..];
        }
        format!("{e} ")
    } else {
        c.email.clone()
    };
    let (kreq, kval, kdate) = match c.kyc {
        Some((req, val, date)) => (
            req.to_string(),
            val.to_string(),
            date.map(ddmmyyyy).unwrap_or_default(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    Row {
        cells: vec![
            c.salesforce_id.clone(),
            c.id.clone(),
            civ,
            c.first.to_string(),
            c.last.to_string(),
            email,
            c.phone.clone(),
            ddmmyyyy(c.birth),
            c.street.clone(),
            c.city.to_string(),
            c.postal.to_string(),
            country_spelling(r, c.country),
            if c.orders_base == 0 && r.chance(0.5) {
                "Inactif".into()
            } else {
                "Actif".into()
            },
            c.segment.to_string(),
            c.lead_score.to_string(),
            c.channel.to_string(),
            c.fav_category.to_string(),
            orders.to_string(),
            cell(&|b| push_cents(b, ltv, b'.')),
            kreq,
            kval,
            kdate,
            if c.newsletter {
                "Oui".into()
            } else {
                "Non".into()
            },
            cell(&|b| push_date(b, c.created)),
            cell(&|b| push_sql_datetime(b, modified_ms)),
            c.owner.to_string(),
        ],
    }
}

/// Writes every weekly snapshot; returns the `crm` ground-truth section.
pub fn generate(ctx: &Ctx) -> Result<Value> {
    let mut files = Vec::new();
    for export in export_dates(ctx.from, ctx.to) {
        files.push(generate_one(ctx, export)?);
    }
    Ok(json!({
        "format": {
            "delimiter": ",",
            "encoding": "UTF-8 with BOM",
            "date_naissance": "DD/MM/YYYY",
            "kyc_date_validation": "DD/MM/YYYY",
            "date_creation_crm": "YYYY-MM-DD",
            "date_modification": "YYYY-MM-DD HH:MM:SS (UTC)",
            "kyc_booleans": "true/false/empty",
            "newsletter_optin": "Oui/Non",
        },
        "files": files,
    }))
}

fn generate_one(ctx: &Ctx, export: NaiveDate) -> Result<Value> {
    let world = &ctx.world;
    let mut r = Rng::stream(world.seed, "crm", epoch_days(export) as u64, 0);
    let export_ms = day_start_ms(export) + 5 * 3_600_000; // exported at 05:00 UTC
    let mut rows: Vec<Row> = Vec::with_capacity(world.customers.len() + 64);
    let mut unknown: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_country: BTreeMap<String, u64> = BTreeMap::new();
    let mut negative = Vec::new();
    let mut kyc_empty = 0u64;
    let mut modified: Vec<i64> = Vec::with_capacity(world.customers.len());
    let n_unknown = ctx.vol.scaled(8.0);
    let mut unknown_idx: Vec<usize> = (0..world.customers.len())
        .filter(|&i| i != world.tracer)
        .collect();
    r.shuffle(&mut unknown_idx);
    unknown_idx.truncate(n_unknown as usize);
    let mut is_unknown = vec![false; world.customers.len()];
    for &i in &unknown_idx {
        is_unknown[i] = true;
    }
    let n_negative = ctx.vol.scaled(6.0);
    let mut neg_idx: Vec<usize> = (0..world.customers.len()).collect();
    r.shuffle(&mut neg_idx);
    neg_idx.truncate(n_negative as usize);
    let mut is_neg = vec![false; world.customers.len()];
    for &i in &neg_idx {
        is_neg[i] = true;
    }
    for (i, c) in world.customers.iter().enumerate() {
        let age_days = r.skewed(0.0, 120.0, 2) as i64;
        let m = export_ms - age_days * DAY_MS - r.range(3_600_000, 20 * 3_600_000);
        modified.push(m);
        let mut row = snapshot_row(c, export, &mut r, m, 0);
        if is_unknown[i] {
            let u = r.pick(UNKNOWN_COUNTRIES);
            row.cells[11] = u.to_string();
            *unknown.entry(u.to_string()).or_default() += 1;
        } else {
            *by_country.entry(c.country.to_string()).or_default() += 1;
        }
        if is_neg[i] {
            let v = -r.between(1_500, 35_000);
            let mut b = Vec::new();
            push_cents(&mut b, v, b'.');
            row.cells[18] = String::from_utf8_lossy(&b).into_owned();
            negative.push(c.id.clone());
        }
        if c.kyc.is_none() {
            kyc_empty += 1;
        }
        rows.push(row);
    }
    // CRM-A1: repeated synchronisations. Older versions carry an earlier
    // DATE MODIFICATION; a few are exact copies (same DATE MODIFICATION: ties).
    let n_dup = ctx.vol.crm_dups;
    let n_ties = ctx.vol.scaled(3.0).min(n_dup);
    let mut dup_idx: Vec<usize> = (0..world.customers.len()).collect();
    r.shuffle(&mut dup_idx);
    dup_idx.truncate(n_dup as usize);
    let mut dups = Vec::new();
    let mut ties = Vec::new();
    for (k, &i) in dup_idx.iter().enumerate() {
        let c = &world.customers[i];
        if (k as u32) < n_ties {
            let copy = Row {
                cells: rows[i].cells.clone(),
            };
            rows.push(copy);
            ties.push(c.id.clone());
        } else {
            let older = modified[i] - r.range(DAY_MS, 30 * DAY_MS);
            let back = 1 + r.below(3) as u32;
            let mut row = snapshot_row(c, export, &mut r, older, back);
            row.cells[11] = rows[i].cells[11].clone();
            rows.push(row);
            dups.push(json!({
                "customer_id": c.id,
                "kept_date_modification": fmt_dt(modified[i]),
                "older_date_modification": fmt_dt(older),
            }));
        }
    }
    let total_rows = rows.len();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    r.shuffle(&mut order);
    let rel = format!("crm_data/crm_export_{}.csv", export.format("%Y-%m-%d"));
    let mut out = OutFile::create(&ctx.out, &rel)?;
    out.modified_at(export_ms);
    let mut b: Vec<u8> = Vec::with_capacity(1 << 16);
    b.extend_from_slice("\u{feff}".as_bytes());
    for (i, h) in HEADER.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(h.as_bytes());
    }
    b.push(b'\n');
    for &i in &order {
        for (k, cell) in rows[i].cells.iter().enumerate() {
            if k > 0 {
                b.push(b',');
            }
            push_csv(&mut b, cell, b',');
        }
        b.push(b'\n');
        if b.len() > 60_000 {
            out.write(&b)?;
            b.clear();
        }
    }
    out.write(&b)?;
    ctx.record(out.finish()?);
    ctx.seen_tracer("crm");
    Ok(json!({
        "path": rel,
        "export_date": export.format("%Y-%m-%d").to_string(),
        "rows": total_rows,
        "distinct_customer_ids": world.customers.len(),
        "duplicate_rows": dup_idx.len(),
        "duplicates_older_version": dups,
        "exact_duplicate_rows_same_date_modification": ties,
        "kyc_fields_empty_rows_distinct_customers": kyc_empty,
        "kyc_fields_empty_share": kyc_empty as f64 / world.customers.len().max(1) as f64,
        "negative_lifetime_value_customers": negative,
        "countries_iso_distinct_customers": by_country,
        "unknown_country_names": unknown,
    }))
}

fn fmt_dt(ms: i64) -> String {
    let mut b = Vec::new();
    push_sql_datetime(&mut b, ms);
    String::from_utf8_lossy(&b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Ctx, GenConfig};

    #[test]
    fn crm_snapshot_rates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = NaiveDate::from_ymd_opt(2026, 3, 16).expect("date");
        let ctx = Ctx::new(&GenConfig::new(42, 1.0, d, d), dir.path());
        let t = generate(&ctx).expect("generate");
        let f = &t["files"][0];
        assert_eq!(f["rows"], 520);
        assert_eq!(f["duplicate_rows"], 20);
        let kyc_empty = f["kyc_fields_empty_share"].as_f64().expect("share");
        assert!((0.80..0.90).contains(&kyc_empty), "{kyc_empty}");
        assert!(!f["negative_lifetime_value_customers"]
            .as_array()
            .expect("neg")
            .is_empty());
        assert!(!f["unknown_country_names"]
            .as_object()
            .expect("unknown")
            .is_empty());
        assert!(!f["exact_duplicate_rows_same_date_modification"]
            .as_array()
            .expect("ties")
            .is_empty());
        let text = std::fs::read_to_string(dir.path().join("crm_data/crm_export_2026-03-16.csv"))
            .expect("read");
        assert!(text.starts_with('\u{feff}'));
        let first = text
            .lines()
            .next()
            .expect("header")
            .trim_start_matches('\u{feff}');
        assert_eq!(first, HEADER.join(","));
        // Older duplicate rows carry an earlier DATE MODIFICATION than the kept one.
        for dup in f["duplicates_older_version"].as_array().expect("dups") {
            assert!(
                dup["older_date_modification"].as_str() < dup["kept_date_modification"].as_str()
            );
        }
    }

    #[test]
    fn export_dates_mondays_or_end() {
        let d = |m, dd| NaiveDate::from_ymd_opt(2026, m, dd).expect("date");
        assert_eq!(export_dates(d(3, 17), d(3, 17)), vec![d(3, 17)]);
        assert_eq!(export_dates(d(3, 14), d(3, 24)), vec![d(3, 16), d(3, 23)]);
    }
}
