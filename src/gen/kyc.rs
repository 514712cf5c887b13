//! KYC provider monthly export (SPEC §3.8): `kyc/kyc_export_YYYY-MM.csv`, one per
//! calendar month touched by the range.
//!
//! Comma-separated, UTF-8 (no BOM), LF. The export of month M is taken on
//! `min(last day of M, --to)` (the "export date"): it lists the files submitted in M up to
//! that date, with their status on that date. Dates are ISO `YYYY-MM-DD`, except rows
//! written by the faulty export tool (KYC-A4), whose three process dates are
//! `YYYY-DD-MM`. Expiry sentinels (KYC-A3): `9999-12-31` and `2099-12-31`.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{json, Value};

use super::calendar::{add_business_days, business_days_between};
use super::fmt::{push_csv, push_date};
use super::rng::Rng;
use super::world::{Customer, KYC_AGENTS};
use super::Ctx;

pub const HEADER: &[&str] = &[
    "kyc_ref",
    "prestataire_ref",
    "customer_id",
    "doc_type",
    "doc_pays_emission",
    "doc_date_expiration",
    "statut_verification",
    "motif_refus",
    "agent_traitement",
    "nb_tentatives",
    "date_soumission",
    "date_traitement",
    "date_validation",
    "commentaire_interne",
    "export_month",
];

/// First days of the months touched by `[from, to]`.
pub fn months(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    let mut v = Vec::new();
    let mut m = NaiveDate::from_ymd_opt(from.year(), from.month(), 1).unwrap_or(from);
    while m <= to {
        v.push(m);
        m = next_month(m);
    }
    v
}

fn next_month(m: NaiveDate) -> NaiveDate {
    let (y, mo) = if m.month() == 12 {
        (m.year() + 1, 1)
    } else {
        (m.year(), m.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, mo, 1).unwrap_or(m)
}

fn doc_variant(r: &mut Rng, canonical: &str) -> &'static str {
    if r.chance(0.03) {
        return "N/A";
    }
    match canonical {
        "CNI" => r.pick_w(&[("CNI", 65), ("cni", 35)]),
        "Passeport" => r.pick_w(&[("Passeport", 55), ("PASSEPORT", 45)]),
        "Titre de séjour" => r.pick_w(&[("Titre de séjour", 60), ("titre de sejour", 40)]),
        _ => r.pick_w(&[("Permis de conduire", 85), ("PERMIS DE CONDUIRE", 15)]),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Valide,
    Refuse,
    Attente,
    Null,
}

fn status_variant(r: &mut Rng, s: Status) -> &'static str {
    match s {
        Status::Valide => r.pick_w(&[("validé", 55), ("Validé", 25), ("VALIDE", 20)]),
        Status::Refuse => r.pick_w(&[("refusé", 60), ("REFUSE", 25), ("Refusé", 15)]),
        Status::Attente => r.pick_w(&[("en_attente", 70), ("EN ATTENTE", 30)]),
        Status::Null => "NULL",
    }
}

struct Row {
    kyc_ref: String,
    prest: String,
    customer: usize,
    doc_raw: &'static str,
    doc_country: &'static str,
    expiry: NaiveDate,
    status: Status,
    motif: &'static str,
    agent: &'static str,
    tries: u32,
    sub: NaiveDate,
    proc_: Option<NaiveDate>,
    valid: Option<NaiveDate>,
    comment: String,
    inverted: bool,
}

fn comment(r: &mut Rng, c: &Customer) -> String {
    if !r.chance(0.4) {
        return String::new();
    }
    match r.below(6) {
        0 => format!("Client rappelé au {}", c.phone),
        1 => format!(
            "Nom sur le document : {} {}",
            c.first.to_uppercase(),
            c.last.to_uppercase()
        ),
        2 => format!("Adresse vérifiée : {}, {} {}", c.street, c.postal, c.city),
        3 => format!("Document flou, relance envoyée à {}", c.email),
        4 => "RAS".to_string(),
        _ => "Vérification manuelle OK".to_string(),
    }
}

/// `YYYY-DD-MM` (faulty export tool) or ISO.
fn push_kyc_date(b: &mut Vec<u8>, d: NaiveDate, inverted: bool) {
    if inverted {
        b.extend_from_slice(format!("{:04}-{:02}-{:02}", d.year(), d.day(), d.month()).as_bytes());
    } else {
        push_date(b, d);
    }
}

/// Writes one export per month; returns the `kyc` ground-truth section.
pub fn generate(ctx: &Ctx) -> Result<Value> {
    let mut files = Vec::new();
    for m in months(ctx.from, ctx.to) {
        files.push(generate_month(ctx, m)?);
    }
    Ok(json!({
        "format": {
            "delimiter": ",",
            "dates": "YYYY-MM-DD; rows of the faulty export tool: YYYY-DD-MM for date_soumission, date_traitement, date_validation",
            "expiry_sentinels": ["9999-12-31", "2099-12-31"],
            "sla": "en_attente and business_days(date_soumission, export_date) > 5, business days = Mon–Fri minus French public holidays, counted after the submission day",
        },
        "files": files,
    }))
}

fn generate_month(ctx: &Ctx, m: NaiveDate) -> Result<Value> {
    let world = &ctx.world;
    let month_end = next_month(m) - Duration::days(1);
    let export = month_end.min(ctx.to);
    let days_in_month = (month_end - m).num_days() + 1;
    let covered = (export - m).num_days() + 1;
    let key = (m.year() as u64) * 12 + u64::from(m.month());
    let mut r = Rng::stream(world.seed, "kyc", key, 0);
    let full = (ctx.vol.kyc_per_month).round() as i64;
    let n_rows = ((full * covered) as f64 / days_in_month as f64)
        .round()
        .max(6.0) as usize;
    let ym = m.format("%Y-%m").to_string();
    let mut rows: Vec<Row> = Vec::with_capacity(n_rows);
    for i in 0..n_rows {
        let ci = if i == 0 {
            world.tracer
        } else {
            r.below(world.customers.len() as u64) as usize
        };
        let c = &world.customers[ci];
        let tracer = ci == world.tracer && i == 0;
        // Submissions spread over the covered part of the month; the second row is
        // stuck early in the month so every export has an SLA breach when possible.
        let sub = if i == 1 {
            m + Duration::days(r.below(3) as i64)
        } else {
            m + Duration::days(r.below(covered as u64) as i64)
        };
        let stuck = i == 1 || (!tracer && r.chance(0.05));
        let long = r.chance(0.12);
        let proc_delay = if long {
            r.between(6, 15) as u32
        } else {
            r.between(0, 4) as u32
        };
        let proc_d = add_business_days(sub, proc_delay);
        let valid_d = add_business_days(proc_d, r.between(0, 2) as u32);
        let final_status = if tracer {
            Status::Valide
        } else {
            r.pick_w(&[
                (Status::Valide, 80),
                (Status::Refuse, 15),
                (Status::Null, 5),
            ])
        };
        let (status, proc_, valid) = if stuck {
            (Status::Attente, None, None)
        } else if valid_d <= export {
            (final_status, Some(proc_d), Some(valid_d))
        } else if proc_d <= export {
            (Status::Attente, Some(proc_d), None)
        } else {
            (Status::Attente, None, None)
        };
        let canonical_doc = if r.chance(0.15) { "CNI" } else { c.doc_type };
        let mut expiry = sub + Duration::days(r.between(200, 3_650));
        let mut motif = "";
        if status == Status::Refuse {
            motif = r.pick(&[
                "Document expiré",
                "Document illisible",
                "Photo non conforme",
                "Client mineur",
                "Incohérence d'identité",
            ]);
            if motif == "Document expiré" {
                expiry = sub - Duration::days(r.between(10, 900));
            }
        }
        if !tracer {
            let x = r.f64();
            if x < 0.04 {
                expiry = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(expiry);
            } else if x < 0.05 {
                expiry = NaiveDate::from_ymd_opt(2099, 12, 31).unwrap_or(expiry);
            }
        }
        let mut prest = String::from("PRV-");
        r.hex(&mut prest, 10);
        // The tracer's case carries the reference the ground truth names.
        let prest = if tracer {
            c.prestataire_ref.clone()
        } else {
            prest.to_uppercase()
        };
        rows.push(Row {
            kyc_ref: format!("KYC-{}-{:05}", m.format("%Y%m"), i + 1),
            prest,
            customer: ci,
            doc_raw: doc_variant(&mut r, canonical_doc),
            doc_country: if canonical_doc == "Titre de séjour" {
                "FR"
            } else {
                c.country
            },
            expiry,
            status,
            motif,
            agent: if proc_.is_some() {
                r.pick(KYC_AGENTS)
            } else {
                ""
            },
            tries: 1 + r.weighted(&[70, 20, 7, 3]) as u32,
            sub,
            proc_,
            valid,
            comment: if tracer {
                String::new()
            } else {
                comment(&mut r, c)
            },
            inverted: !tracer && r.chance(0.06),
        });
    }
    // Tiny exports still hold a NULL status and a refusal.
    if let Some(row) = rows.get_mut(4) {
        row.status = Status::Null;
    }
    if let Some(row) = rows.get_mut(5) {
        if row.valid.is_some() {
            row.status = Status::Refuse;
            row.motif = "Document illisible";
        }
    }
    // Force at least one sentinel of each kind (KYC-A3).
    if let Some(row) = rows.get_mut(2) {
        row.expiry = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(row.expiry);
    }
    if let Some(row) = rows.get_mut(3) {
        row.expiry = NaiveDate::from_ymd_opt(2099, 12, 31).unwrap_or(row.expiry);
    }
    // KYC-A4 classification: unambiguous when some written date has day > 12.
    let dates = |row: &Row| -> Vec<NaiveDate> {
        [Some(row.sub), row.proc_, row.valid]
            .into_iter()
            .flatten()
            .collect()
    };
    let visible = |row: &Row| dates(row).iter().any(|d| d.day() != d.month());
    let unambiguous = |row: &Row| dates(row).iter().any(|d| d.day() > 12);
    if !rows
        .iter()
        .any(|x| x.inverted && visible(x) && !unambiguous(x))
    {
        if let Some(row) = rows
            .iter_mut()
            .skip(1)
            .find(|x| !x.inverted && visible(x) && !unambiguous(x))
        {
            row.inverted = true;
        }
    }
    if !rows.iter().any(|x| x.inverted && unambiguous(x)) {
        if let Some(row) = rows
            .iter_mut()
            .skip(1)
            .find(|x| !x.inverted && unambiguous(x))
        {
            row.inverted = true;
        }
    }
    let rel = format!("kyc/kyc_export_{ym}.csv");
    let mut out = super::fmt::OutFile::create(&ctx.out, &rel)?;
    out.modified_at(super::fmt::day_start_ms(export) + 26 * 3_600_000);
    let mut b: Vec<u8> = Vec::with_capacity(1 << 15);
    b.extend_from_slice(HEADER.join(",").as_bytes());
    b.push(b'\n');
    let mut inverted = Vec::new();
    let (mut n_unamb, mut n_amb) = (0u64, 0u64);
    let mut breaches = Vec::new();
    let mut decided_late = 0u64;
    let mut doc_variants: BTreeMap<&str, u64> = BTreeMap::new();
    let mut status_variants: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut s9999, mut s2099) = (0u64, 0u64);
    for row in rows.iter_mut() {
        let c = &world.customers[row.customer];
        let inv = row.inverted && visible(row);
        row.inverted = inv;
        let status_raw = status_variant(&mut r, row.status);
        *doc_variants.entry(row.doc_raw).or_default() += 1;
        *status_variants.entry(status_raw).or_default() += 1;
        if row.expiry.year() == 9999 {
            s9999 += 1;
        } else if row.expiry.year() >= 2090 {
            s2099 += 1;
        }
        let field = |b: &mut Vec<u8>, s: &str| {
            push_csv(b, s, b',');
            b.push(b',');
        };
        field(&mut b, &row.kyc_ref);
        field(&mut b, &row.prest);
        field(&mut b, &c.id);
        field(&mut b, row.doc_raw);
        field(&mut b, row.doc_country);
        push_date(&mut b, row.expiry);
        b.push(b',');
        field(&mut b, status_raw);
        field(&mut b, row.motif);
        field(&mut b, row.agent);
        field(&mut b, &row.tries.to_string());
        push_kyc_date(&mut b, row.sub, inv);
        b.push(b',');
        if let Some(d) = row.proc_ {
            push_kyc_date(&mut b, d, inv);
        }
        b.push(b',');
        if let Some(d) = row.valid {
            push_kyc_date(&mut b, d, inv);
        }
        b.push(b',');
        field(&mut b, &row.comment);
        b.extend_from_slice(ym.as_bytes());
        b.push(b'\n');
        if inv {
            let kind = if unambiguous(row) {
                "unambiguous"
            } else {
                "ambiguous"
            };
            if kind == "unambiguous" {
                n_unamb += 1;
            } else {
                n_amb += 1;
            }
            inverted.push(json!({
                "kyc_ref": row.kyc_ref,
                "kind": kind,
                "date_soumission": row.sub.format("%Y-%m-%d").to_string(),
                "date_traitement": row.proc_.map(|d| d.format("%Y-%m-%d").to_string()),
                "date_validation": row.valid.map(|d| d.format("%Y-%m-%d").to_string()),
            }));
        }
        if row.status == Status::Attente && business_days_between(row.sub, export) > 5 {
            breaches.push(row.kyc_ref.clone());
        }
        if let Some(v) = row.valid {
            if business_days_between(row.sub, v) > 5 {
                decided_late += 1;
            }
        }
        if !row.comment.is_empty() {
            ctx.pii_sample("kyc_comments", &row.comment);
        }
        ctx.pii_sample("prestataire_refs", &row.prest);
    }
    out.write(&b)?;
    ctx.record(out.finish()?);
    ctx.seen_tracer("kyc");
    let count = |s: Status| rows.iter().filter(|x| x.status == s).count();
    Ok(json!({
        "path": rel,
        "export_month": ym,
        "export_date": export.format("%Y-%m-%d").to_string(),
        "rows": rows.len(),
        "status_canonical": {
            "validé": count(Status::Valide),
            "refusé": count(Status::Refuse),
            "en_attente": count(Status::Attente),
            "NULL": count(Status::Null),
        },
        "status_spelling": status_variants,
        "doc_type_spelling": doc_variants,
        "expiry_sentinel_9999_12_31": s9999,
        "expiry_sentinel_2099_12_31": s2099,
        "inverted_date_rows_unambiguous": n_unamb,
        "inverted_date_rows_ambiguous": n_amb,
        "inverted_date_rows": inverted,
        "sla_breaches": breaches.len(),
        "sla_breach_refs": breaches,
        "decided_after_more_than_5_business_days": decided_late,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Ctx, GenConfig};

    #[test]
    fn kyc_export_anomalies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = NaiveDate::from_ymd_opt(2026, 3, 31).expect("date");
        let cfg = GenConfig::new(42, 1.0, d, d);
        let ctx = Ctx::new(&cfg, dir.path());
        let t = generate(&ctx).expect("generate");
        let f = &t["files"][0];
        assert_eq!(f["rows"], 130);
        assert!(f["expiry_sentinel_9999_12_31"].as_u64().expect("s") >= 1);
        assert!(f["expiry_sentinel_2099_12_31"].as_u64().expect("s") >= 1);
        assert!(f["inverted_date_rows_unambiguous"].as_u64().expect("u") >= 1);
        assert!(f["sla_breaches"].as_u64().expect("sla") >= 1);
        assert!(f["status_spelling"]["NULL"].as_u64().unwrap_or(0) >= 1);
        let text =
            std::fs::read_to_string(dir.path().join("kyc/kyc_export_2026-03.csv")).expect("read");
        let mut lines = text.lines();
        assert_eq!(lines.next().expect("header"), HEADER.join(","));
        assert_eq!(lines.count(), 130);
    }

    #[test]
    fn months_of_range() {
        let d = |m, dd| NaiveDate::from_ymd_opt(2026, m, dd).expect("date");
        assert_eq!(months(d(3, 30), d(4, 2)), vec![d(3, 1), d(4, 1)]);
        assert_eq!(months(d(3, 17), d(3, 17)), vec![d(3, 1)]);
    }
}
