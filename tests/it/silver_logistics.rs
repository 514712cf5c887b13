//! `kvt silver logistics` end to end (real binary). Raw counts are recounted
//! from the files and checked against `ground_truth.json`; the expected
//! deduplicated content (the last row of each parcel, by file then line) is
//! derived from the same recount, independently of kvt's parser.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use polars::prelude::*;
use serde_json::Value;

use crate::common::silver::{
    assert_idempotent, assert_no_pii, bools, column_names, config, copy_dir, drive_env, flagged,
    generate, ground_truth, ingest, ints, pseudo, read_table, silver, snapshot, strs, testdata,
    texts,
};
use crate::common::Env;

const PREFIX: &str = "logistic_partner_data";
const FLAGS: [&str; 3] = [
    "tentatives_suspectes",
    "ordre_dates_incoherent",
    "pays_inconnu",
];
const CANONICAL: [&str; 6] = [
    "expédié",
    "en transit",
    "en cours de livraison",
    "échec de livraison",
    "livré",
    "retourné",
];

/// One raw row: the 25 fields.
type Raw = Vec<String>;

/// Every data row of every file listed in the ground truth, in bronze order.
fn raw_rows(data: &Path, gt: &Value) -> Vec<Raw> {
    let mut paths: Vec<String> = gt["logistics"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["files"].as_array().unwrap().iter())
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(data.join(&p)).unwrap();
        for line in text.lines().skip(1) {
            assert!(
                !line.contains('"'),
                "the recount does not handle quotes: {p}"
            );
            let f: Raw = line.split(';').map(str::to_string).collect();
            assert_eq!(f.len(), 25, "{p}");
            out.push(f);
        }
    }
    out
}

fn sum(gt: &Value, key: &str) -> u64 {
    gt["logistics"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[key].as_u64().unwrap())
        .sum()
}

/// `2026-03` of any carrier's shipping date.
fn month(raw: &str) -> String {
    if raw.as_bytes()[4] == b'-' {
        raw[..7].to_string()
    } else {
        format!("{}-{}", &raw[6..10], &raw[3..5])
    }
}

fn normalize(raw: &str) -> String {
    raw.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Silver logistics of `data` checked against its ground truth and the recount.
fn check(data: &Path, env: &Env, s: &Value) {
    let gt = ground_truth(data);
    let raw = raw_rows(data, &gt);
    // The recount agrees with the ground truth on raw figures.
    assert_eq!(raw.len() as u64, sum(&gt, "rows"));
    let att = |r: &Raw| r[21].parse::<i64>().unwrap();
    assert_eq!(
        raw.iter().filter(|r| att(r) > 10).count() as u64,
        sum(&gt, "aberrant_attempts_rows")
    );
    assert_eq!(
        raw.iter().filter(|r| att(r) == 10).count() as u64,
        sum(&gt, "exactly_10_attempts_rows")
    );
    assert_eq!(
        raw.iter().filter(|r| r[18].is_empty()).count() as u64,
        sum(&gt, "rows_without_date_livraison_reelle")
    );
    // Expected: the last row of each parcel.
    let mut last: BTreeMap<&str, &Raw> = BTreeMap::new();
    for r in &raw {
        last.insert(r[0].as_str(), r);
    }

    assert_eq!(s["rows_in"], raw.len());
    assert_eq!(s["rejected"], 0);
    assert_eq!(s["rows_out"], last.len());
    assert_eq!(s["deduplicated"], raw.len() - last.len());

    let parts = read_table(env, "logistics");
    let expected_parts: BTreeSet<String> = last
        .values()
        .map(|r| {
            format!(
                "logistics/pays_destination={}/mois_expedition={}",
                r[8],
                month(&r[16])
            )
        })
        .collect();
    assert_eq!(
        parts.keys().cloned().collect::<BTreeSet<_>>(),
        expected_parts
    );

    let mut seen = 0;
    let mut suspects = BTreeSet::new();
    let mut disordered = BTreeSet::new();
    let mut total_flagged = 0;
    let aberrant_ids: BTreeSet<&str> = gt["logistics"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["aberrant_attempts"].as_array().unwrap().iter())
        .map(|a| a["livraison_id"].as_str().unwrap())
        .collect();
    for (partition, df) in &parts {
        total_flagged += flagged(df, &FLAGS);
        let ids = strs(df, "livraison_id");
        let status = strs(df, "statut_livraison");
        let capped = ints(df, "tentatives_livraison");
        let orig = ints(df, "tentatives_livraison_origine");
        let suspect = bools(df, "tentatives_suspectes");
        let en_cours = bools(df, "en_cours");
        let order = bools(df, "ordre_dates_incoherent");
        let cust = strs(df, "customer_id");
        let real = texts(df, "date_livraison_reelle");
        let delay = ints(df, "delai_livraison_jours_ouvres");
        let line = df.column("bronze_line").unwrap().i64().unwrap();
        assert!(strs(df, "champs_invalides").iter().all(Option::is_none));
        for i in 0..df.height() {
            seen += 1;
            let id = ids[i].as_deref().unwrap();
            let r = last[id];
            assert!(partition.contains(&format!("pays_destination={}/", r[8])));
            assert!(partition.ends_with(&month(&r[16])));
            let n = att(r) as i32;
            assert_eq!(orig[i], Some(n), "{id}");
            assert_eq!(capped[i], Some(n.min(10)), "{id}");
            assert_eq!(suspect[i], Some(n > 10), "{id}");
            if n > 10 {
                suspects.insert(id.to_string());
                assert!(aberrant_ids.contains(id));
            }
            assert_eq!(
                status[i].as_deref(),
                Some(normalize(&r[5]).as_str()),
                "{id}"
            );
            assert!(CANONICAL.contains(&status[i].as_deref().unwrap()));
            assert_eq!(en_cours[i], Some(r[18].is_empty()));
            assert_eq!(real[i].is_none(), r[18].is_empty());
            assert_eq!(cust[i], Some(pseudo(&r[2])));
            if order[i] == Some(true) {
                disordered.insert(id.to_string());
                assert_eq!(delay[i], None);
            } else if !r[18].is_empty() {
                assert!(delay[i].unwrap() >= 0, "{id}");
            }
            assert!(line.get(i).unwrap() >= 2);
        }
    }
    assert_eq!(seen, last.len());
    assert_eq!(s["flagged"], total_flagged);
    // The rows the ground truth lists as delivered before shipping are flagged,
    // and no other.
    let inverted: BTreeSet<String> = gt["logistics"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["delivery_before_shipping"].as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(disordered, inverted);
    // Suspect rows after deduplication: the parcels whose current row has > 10.
    let expected_suspects: BTreeSet<String> = last
        .iter()
        .filter(|(_, r)| att(r) > 10)
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(suspects, expected_suspects);

    // Types and columns.
    let df = parts.values().next().unwrap();
    let names = column_names(df);
    for gone in [
        "commentaire_livreur",
        "ville_destination",
        "numero_suivi",
        "code_postal_dest",
        "date_expédition",
    ] {
        assert!(!names.contains(&gone.to_string()), "{gone}");
    }
    for (c, t) in [
        ("poids_kg", DataType::Float64),
        ("frais_livraison_eur", DataType::Float64),
        ("longueur_cm", DataType::Int32),
        ("tentatives_livraison", DataType::Int32),
        ("date_expedition", DataType::Date),
        ("date_livraison_reelle", DataType::Date),
        ("signature_requise", DataType::Boolean),
        ("assurance", DataType::Boolean),
        ("en_cours", DataType::Boolean),
        ("bronze_line", DataType::Int64),
    ] {
        assert_eq!(df.column(c).unwrap().dtype(), &t, "{c}");
    }
    // Tracking numbers are pseudonymised.
    let tracking: BTreeSet<String> = last.values().map(|r| r[4].clone()).collect();
    for df in parts.values() {
        for h in strs(df, "numero_suivi_hash").into_iter().flatten() {
            assert!(!tracking.contains(&h));
        }
    }
    assert_no_pii(env, "logistics", "logistics", &gt);
}

#[test]
fn silver_logistics_matches_the_ground_truth() {
    let data = testdata();
    let env = drive_env(&data, PREFIX, "logistics");
    let s = silver(&env, "logistics", &[]);
    check(&data, &env, &s);
    assert_idempotent(&env, "logistics", "logistics");
}

#[test]
fn silver_logistics_two_generated_days_incremental_equals_full() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    generate(
        data,
        &[
            "--from",
            "2026-03-16",
            "--to",
            "2026-03-17",
            "--scale",
            "0.2",
            "--sources",
            "logistics",
        ],
    );
    // Day one, then day two incrementally.
    let env = Env::new();
    env.write("kvt.toml", config("logistics", PREFIX));
    let src = data.join(PREFIX);
    let dst = env.path().join("drop").join(PREFIX);
    copy_dir(&src.join("2026-03-16"), &dst.join("2026-03-16"));
    ingest(&env, "logistics");
    silver(&env, "logistics", &[]);
    copy_dir(&src.join("2026-03-17"), &dst.join("2026-03-17"));
    ingest(&env, "logistics");
    let s = silver(&env, "logistics", &[]);
    assert_eq!(s["objects_new"], 6);
    let incremental = snapshot(&env, "logistics");
    // The same lake rebuilt from scratch gives the same files.
    let s = silver(&env, "logistics", &["--full-refresh"]);
    check(data, &env, &s);
    assert!(snapshot(&env, "logistics") == incremental);
}
