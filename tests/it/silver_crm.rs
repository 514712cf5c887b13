//! `kvt silver crm` end to end (real binary), checked against
//! `testdata/drive/ground_truth.json`.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use serde_json::Value;

use crate::common::silver::*;
use crate::common::{files_under, Env};

fn ms(sql: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(sql, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

// ---------------------------------------------------------------- crm

const DROPPED: [&str; 11] = [
    "salesforce_id",
    "prenom",
    "nom",
    "email",
    "telephone",
    "date_naissance",
    "adresse_rue",
    "ville",
    "code_postal",
    "proprietaire_sf",
    "pays_brut",
];

#[test]
fn silver_crm_matches_the_ground_truth() {
    let data = testdata();
    let gt = ground_truth(&data);
    let file = &gt["crm"]["files"][0];
    let env = drive_env(&data, "crm_data", "crm");
    let s = silver(&env, "crm", &[]);
    assert_eq!(s["rows_in"], file["rows"]);
    assert_eq!(s["rows_out"], file["distinct_customer_ids"]);
    assert_eq!(s["deduplicated"], file["duplicate_rows"]);
    assert_eq!(s["rejected"], 0);

    // Partitions: one per ISO country, unknown names in pays=__null__.
    let parts = read_table(&env, "crm");
    let mut expected: BTreeMap<String, u64> = file["countries_iso_distinct_customers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (format!("crm/pays={k}"), v.as_u64().unwrap()))
        .collect();
    let unknown: BTreeMap<String, u64> = file["unknown_country_names"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let n_unknown: u64 = unknown.values().sum();
    if n_unknown > 0 {
        expected.insert("crm/pays=__null__".into(), n_unknown);
    }
    let got: BTreeMap<String, u64> = parts
        .iter()
        .map(|(p, df)| (p.clone(), df.height() as u64))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(s["partitions_written"], expected.len());

    let df = stacked(&parts);
    // One row per customer.
    let ids: BTreeSet<String> = strs(&df, "customer_id").into_iter().flatten().collect();
    assert_eq!(
        ids.len() as u64,
        file["distinct_customer_ids"].as_u64().unwrap()
    );
    // Unknown countries: kept, flagged, raw name kept for the data steward.
    assert_eq!(count_true(&df, "pays_inconnu") as u64, n_unknown);
    let mut raw: BTreeMap<String, u64> = BTreeMap::new();
    for v in strs(&df, "pays_source").into_iter().flatten() {
        *raw.entry(v).or_default() += 1;
    }
    assert_eq!(raw, unknown);
    // Negative lifetime values: kept and flagged, exactly the listed customers.
    let negative: BTreeSet<String> = file["negative_lifetime_value_customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| pseudo(v.as_str().unwrap()))
        .collect();
    let cust = strs(&df, "customer_id");
    let ltv: Vec<Option<f64>> = df
        .column("lifetime_value_eur")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    let neg_flag = bools(&df, "lifetime_value_negative");
    let flagged_neg: BTreeSet<String> = (0..df.height())
        .filter(|&i| neg_flag[i] == Some(true))
        .map(|i| {
            assert!(ltv[i].unwrap() < 0.0);
            cust[i].clone().unwrap()
        })
        .collect();
    assert_eq!(flagged_neg, negative);
    assert_eq!(
        s["flagged"],
        flagged(&df, &["pays_inconnu", "lifetime_value_negative"])
    );
    assert!(strs(&df, "champs_invalides").iter().all(Option::is_none));
    // Duplicates: the most recent DATE MODIFICATION is the one kept.
    let modified: Vec<Option<i64>> = df
        .column("date_modification")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    for dup in file["duplicates_older_version"].as_array().unwrap() {
        let id = pseudo(dup["customer_id"].as_str().unwrap());
        let i = cust.iter().position(|c| c.as_deref() == Some(&id)).unwrap();
        assert_eq!(
            modified[i],
            Some(ms(dup["kept_date_modification"].as_str().unwrap()))
        );
    }
    // Empty KYC fields are nulls, not errors.
    let kyc_empty = bools(&df, "kyc_requis")
        .iter()
        .filter(|v| v.is_none())
        .count();
    assert_eq!(
        kyc_empty as u64,
        file["kyc_fields_empty_rows_distinct_customers"]
            .as_u64()
            .unwrap()
    );
    // The tracer: age at the run date, hashed normalised e-mail.
    let tracer = &gt["privacy"]["tracer"];
    let i = cust
        .iter()
        .position(|c| c.as_deref() == Some(&pseudo(tracer["customer_id"].as_str().unwrap())))
        .unwrap();
    let birth =
        chrono::NaiveDate::parse_from_str(tracer["birth_date_iso"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 17).unwrap();
    assert_eq!(
        ints(&df, "age")[i],
        Some(today.years_since(birth).unwrap() as i32)
    );
    assert_eq!(
        texts(&df, "date_reference_age")[i].as_deref(),
        Some("2026-03-17")
    );
    assert_eq!(
        strs(&df, "email_hash")[i],
        Some(pseudo(&tracer["email"].as_str().unwrap().to_lowercase()))
    );

    // Types, dropped columns, no personal data.
    let types: BTreeMap<String, DataType> = df
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.dtype().clone()))
        .collect();
    assert_eq!(types["customer_id"], DataType::String);
    assert_eq!(types["age"], DataType::Int32);
    assert_eq!(types["lead_score"], DataType::Int32);
    assert_eq!(types["nb_commandes"], DataType::Int32);
    assert_eq!(types["lifetime_value_eur"], DataType::Float64);
    assert_eq!(types["kyc_requis"], DataType::Boolean);
    assert_eq!(types["newsletter_optin"], DataType::Boolean);
    assert!(
        matches!(types["date_creation_crm"], DataType::Datetime(..)),
        "{:?}",
        types["date_creation_crm"]
    );
    assert_eq!(types["kyc_date_validation"], DataType::Date);
    assert_eq!(
        types["date_modification"],
        DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
    );
    assert_eq!(types["bronze_line"], DataType::Int64);
    let names = column_names(&df);
    assert_eq!(names.last().map(String::as_str), Some("bronze_line"));
    for gone in DROPPED {
        assert!(!names.contains(&gone.to_string()), "{gone} present");
    }
    assert_no_pii(&env, "crm", "crm", &gt);
}

#[test]
fn silver_crm_is_idempotent_and_a_new_file_version_replaces_the_old_rows() {
    let data = testdata();
    let env = drive_env(&data, "crm_data", "crm");
    silver(&env, "crm", &[]);
    assert_idempotent(&env, "crm", "crm");

    // A corrected export: one more customer, one customer's value changed.
    let path = env.path().join("drop/crm_data/crm_export_2026-03-17.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let tracer_line = text
        .lines()
        .find(|l| l.contains(",CUST-000009,"))
        .unwrap()
        .to_string();
    let extra = tracer_line
        .replace(",CUST-000009,", ",CUST-777777,")
        .replace(",France,", ",Belgique,");
    let changed = text.replace(",957.00,", ",958.00,");
    assert_ne!(changed, text);
    std::fs::write(&path, format!("{changed}{extra}\n")).unwrap();
    set_mtime(&path, "2026-03-17T07:00:00Z");
    let i = ingest(&env, "crm");
    assert_eq!(i["files_modified"], 1);
    let s = silver(&env, "crm", &[]);
    assert_eq!(s["objects_new"], 1);
    assert_eq!(s["objects_superseded"], 1);
    let df = stacked(&read_table(&env, "crm"));
    let cust = strs(&df, "customer_id");
    let unique: BTreeSet<&Option<String>> = cust.iter().collect();
    assert_eq!(
        unique.len(),
        df.height(),
        "no duplicate after the new version"
    );
    let gt = ground_truth(&data);
    assert_eq!(
        df.height() as u64,
        gt["crm"]["files"][0]["distinct_customer_ids"]
            .as_u64()
            .unwrap()
            + 1
    );
    let ltv = df.column("lifetime_value_eur").unwrap().f64().unwrap();
    let tracer = cust
        .iter()
        .position(|c| c.as_deref() == Some(&pseudo("CUST-000009")))
        .unwrap();
    assert_eq!(ltv.get(tracer), Some(958.0));
    let new = cust
        .iter()
        .position(|c| c.as_deref() == Some(&pseudo("CUST-777777")))
        .unwrap();
    assert_eq!(strs(&df, "pays")[new].as_deref(), Some("BE"));
}

#[test]
fn silver_crm_rejects_unreadable_rows_with_their_line() {
    let env = Env::new();
    let data = testdata();
    let text = std::fs::read_to_string(data.join("crm_data/crm_export_2026-03-17.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2].push_str(",one field too many");
    lines[3] = "CUST-1,too,few".into();
    env.write(
        "drop/crm_data/crm_export_2026-03-17.csv",
        lines.join("\n") + "\n",
    );
    env.write("kvt.toml", config("crm", "crm_data"));
    ingest(&env, "crm");
    let s = silver(&env, "crm", &[]);
    assert_eq!(s["rejected"], 2);
    let rejects = files_under(&env.lake().join("silver/_rejects/crm"));
    assert_eq!(rejects.len(), 1);
    let body =
        std::fs::read_to_string(env.lake().join("silver/_rejects/crm").join(&rejects[0])).unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["line"], 3);
    assert_eq!(lines[1]["line"], 4);
    assert!(lines[0]["reason"].as_str().unwrap().contains("27 fields"));
    assert!(!body.contains("CUST-"), "no row content in rejects");
}
