//! `kvt silver kyc` end to end (real binary), checked against
//! `ground_truth.json`: the fixture's export, and two generated monthly
//! exports (a full February, March up to the run date).

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use serde_json::Value;

use crate::common::silver::{
    assert_idempotent, assert_no_pii, bools, column_names, drive_env, flagged, generate,
    ground_truth, ints, pseudo, read_table, silver, strs, testdata, texts,
};
use crate::common::Env;

const FLAGS: [&str; 4] = [
    "expiration_illisible",
    "dates_inversees",
    "dates_ambigues",
    "dates_incoherentes",
];

fn canonical_doc(spelling: &str) -> Option<&'static str> {
    match spelling {
        "CNI" | "cni" => Some("CNI"),
        "Passeport" | "PASSEPORT" => Some("Passeport"),
        "Titre de séjour" | "titre de sejour" => Some("Titre de séjour"),
        "Permis de conduire" | "PERMIS DE CONDUIRE" => Some("Permis de conduire"),
        "N/A" => None,
        other => panic!("unexpected doc_type spelling {other}"),
    }
}

fn check(data: &Path, env: &Env, s: &Value) {
    let gt = ground_truth(data);
    let files = gt["kyc"]["files"].as_array().unwrap();
    let total: u64 = files.iter().map(|f| f["rows"].as_u64().unwrap()).sum();
    assert_eq!(s["rows_in"], total);
    assert_eq!(s["rows_out"], total);
    assert_eq!(s["rejected"], 0);
    assert_eq!(s["deduplicated"], 0);
    let parts = read_table(env, "kyc");
    assert_eq!(parts.len(), files.len());
    let mut flagged_rows = 0;
    for f in files {
        let month = f["export_month"].as_str().unwrap();
        let df = &parts[&format!("kyc/mois_soumission={month}")];
        assert_eq!(df.height() as u64, f["rows"].as_u64().unwrap());
        flagged_rows += flagged(df, &FLAGS);
        assert!(strs(df, "champs_invalides").iter().all(Option::is_none));
        let refs: Vec<String> = strs(df, "kyc_ref").into_iter().flatten().collect();
        let row = |r: &str| refs.iter().position(|x| x == r).unwrap();

        // Decisions (the string NULL is a real null).
        let mut status: BTreeMap<String, u64> = BTreeMap::new();
        for v in strs(df, "statut_verification") {
            *status
                .entry(v.unwrap_or_else(|| "NULL".into()))
                .or_default() += 1;
        }
        let expected: BTreeMap<String, u64> = f["status_canonical"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, n)| n.as_u64().unwrap() > 0)
            .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
            .collect();
        assert_eq!(status, expected);
        // Document types.
        let mut docs: BTreeMap<String, u64> = BTreeMap::new();
        for (spelling, n) in f["doc_type_spelling"].as_object().unwrap() {
            let c = canonical_doc(spelling).unwrap_or("null");
            *docs.entry(c.to_string()).or_default() += n.as_u64().unwrap();
        }
        let mut got: BTreeMap<String, u64> = BTreeMap::new();
        for v in strs(df, "doc_type") {
            *got.entry(v.unwrap_or_else(|| "null".into())).or_default() += 1;
        }
        assert_eq!(got, docs);
        // Expiry sentinels → validity unknown, flagged; never the date itself.
        let sentinels = f["expiry_sentinel_9999_12_31"].as_u64().unwrap()
            + f["expiry_sentinel_2099_12_31"].as_u64().unwrap();
        let unreadable = bools(df, "expiration_illisible");
        let valid = bools(df, "document_valide_a_la_soumission");
        assert_eq!(
            unreadable.iter().filter(|v| **v == Some(true)).count() as u64,
            sentinels
        );
        // The generator expires exactly the documents refused as expired.
        let motif = strs(df, "motif_refus");
        for i in 0..df.height() {
            assert_eq!(valid[i].is_none(), unreadable[i] == Some(true), "row {i}");
            if valid[i].is_some() {
                let expired = motif[i].as_deref() == Some("Document expiré");
                assert_eq!(valid[i], Some(!expired), "row {i}");
            }
        }
        // Inverted dates: fixed to the true dates, flagged, none left ambiguous.
        let inverted = f["inverted_date_rows"].as_array().unwrap();
        let flags = bools(df, "dates_inversees");
        assert_eq!(
            flags.iter().filter(|v| **v == Some(true)).count() as u64,
            f["inverted_date_rows_unambiguous"].as_u64().unwrap()
                + f["inverted_date_rows_ambiguous"].as_u64().unwrap()
        );
        assert!(bools(df, "dates_ambigues")
            .iter()
            .all(|v| *v == Some(false)));
        assert!(bools(df, "dates_incoherentes")
            .iter()
            .all(|v| *v == Some(false)));
        for inv in inverted {
            let i = row(inv["kyc_ref"].as_str().unwrap());
            assert_eq!(flags[i], Some(true));
            for c in ["date_soumission", "date_traitement", "date_validation"] {
                assert_eq!(texts(df, c)[i].as_deref(), inv[c].as_str(), "{c}");
            }
        }
        assert!(texts(df, "date_soumission")
            .iter()
            .all(|d| d.as_deref().unwrap().starts_with(month)));
        // SLA: exactly the ground truth's breaches; decided-late files separately.
        let sla = bools(df, "sla_depasse");
        let breaches: Vec<&str> = f["sla_breach_refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let flagged_refs: Vec<&str> = (0..df.height())
            .filter(|&i| sla[i] == Some(true))
            .map(|i| refs[i].as_str())
            .collect();
        assert_eq!(flagged_refs, breaches);
        assert_eq!(breaches.len() as u64, f["sla_breaches"].as_u64().unwrap());
        assert_eq!(
            bools(df, "decision_tardive")
                .iter()
                .filter(|v| **v == Some(true))
                .count() as u64,
            f["decided_after_more_than_5_business_days"]
                .as_u64()
                .unwrap()
        );
        assert!(texts(df, "date_reference_sla")
            .iter()
            .all(|d| d.as_deref() == f["export_date"].as_str()));
        // Delays are business days, never negative here.
        for d in ints(df, "delai_decision_jours_ouvres")
            .into_iter()
            .flatten()
        {
            assert!(d >= 0);
        }
        // Pseudonymised customer ids join the other sources.
        assert!(strs(df, "customer_id")
            .iter()
            .all(|c| c.as_deref().is_some_and(|c| c.len() == 64)));
    }
    assert_eq!(s["flagged"], flagged_rows);

    let df = parts.values().next().unwrap();
    let names = column_names(df);
    for gone in [
        "agent_traitement",
        "commentaire_interne",
        "prestataire_ref",
        "doc_pays_emission",
        "doc_date_expiration",
    ] {
        assert!(!names.contains(&gone.to_string()), "{gone}");
    }
    for (c, t) in [
        ("document_valide_a_la_soumission", DataType::Boolean),
        ("date_soumission", DataType::Date),
        ("nb_tentatives", DataType::Int32),
        ("sla_depasse", DataType::Boolean),
        ("delai_traitement_jours_ouvres", DataType::Int32),
        ("bronze_line", DataType::Int64),
    ] {
        assert_eq!(df.column(c).unwrap().dtype(), &t, "{c}");
    }
    assert_no_pii(env, "kyc", "kyc", &gt);
}

#[test]
fn silver_kyc_matches_the_ground_truth() {
    let data = testdata();
    let env = drive_env(&data, "kyc", "kyc");
    let s = silver(&env, "kyc", &[]);
    check(&data, &env, &s);
    // Provider references are only there as their pseudonyms (C6).
    let df = &read_table(&env, "kyc")["kyc/mois_soumission=2026-03"];
    let raw = std::fs::read_to_string(data.join("kyc/kyc_export_2026-03.csv")).unwrap();
    let expected: std::collections::BTreeSet<String> = raw
        .lines()
        .skip(1)
        .map(|l| pseudo(l.split(',').nth(1).unwrap()))
        .collect();
    let got: std::collections::BTreeSet<String> = strs(df, "prestataire_ref_hash")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(got, expected);
    assert_idempotent(&env, "kyc", "kyc");
}

#[test]
fn silver_kyc_generated_months_match_the_ground_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    // February is complete (exported on the 28th); March is exported on the
    // run date of the tests (KVT_NOW, 17 March): both are SLA reference dates.
    generate(
        data,
        &[
            "--from",
            "2026-02-01",
            "--to",
            "2026-03-17",
            "--sources",
            "kyc",
        ],
    );
    let env = drive_env(data, "kyc", "kyc");
    let s = silver(&env, "kyc", &[]);
    check(data, &env, &s);
}
