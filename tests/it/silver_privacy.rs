//! Privacy of the whole silver layer (SPEC GDPR rules, CONTRACTS C6): the
//! fixture's seven sources go through bronze and silver, then every file under
//! `silver/` — Parquet cells, rejects, state, commit records — is scanned for
//! the raw personal values the generator recorded in its ground truth. The
//! tracer customer, present in every source, must carry the same pseudonym
//! everywhere, so silver still joins.

use std::path::Path;

use polars::prelude::*;
use serde_json::Value;

use crate::common::services;
use crate::common::silver::{copy_dir, ground_truth, ingest, pseudo, read_table, testdata};
use crate::common::{files_under, run_expect, Env};
use crate::silver_events;

const DRIVE: &[(&str, &str)] = &[
    ("crm", "crm_data"),
    ("firebase", "firebase_data"),
    ("nginx", "nginx_data"),
    ("logistics", "logistic_partner_data"),
    ("kyc", "kyc"),
];

/// Every string of every file under `dir`: Parquet cells cast to text, other
/// files as they are.
fn all_text(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for rel in files_under(dir) {
        let path = dir.join(&rel);
        if rel.ends_with(".parquet") {
            let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
                .finish()
                .unwrap();
            let mut text = String::new();
            for c in df.columns() {
                text.push_str(c.name());
                text.push('\n');
                let s = c.cast(&DataType::String).unwrap();
                for v in s.str().unwrap().iter().flatten() {
                    text.push_str(v);
                    text.push('\n');
                }
            }
            out.push((rel, text));
        } else {
            out.push((
                rel,
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into(),
            ));
        }
    }
    out
}

/// The raw personal values of the fixture (ground truth, privacy section).
fn needles(gt: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let pii = &gt["privacy"]["pii"];
    for (k, v) in pii.as_object().unwrap() {
        let lists: Vec<&Value> = if k == "free_text_samples" {
            v.as_object().unwrap().values().collect()
        } else {
            vec![v]
        };
        for list in lists {
            out.extend(
                list.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string()),
            );
        }
    }
    let t = &gt["privacy"]["tracer"];
    for k in [
        "name",
        "email",
        "phone",
        "street",
        "birth_date_raw",
        "birth_date_iso",
        "prestataire_ref",
        "ipv6",
    ] {
        out.push(t[k].as_str().unwrap().to_string());
    }
    for k in ["ipv4", "device_ids"] {
        out.extend(
            t[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string()),
        );
    }
    // Sources hold first and last names in separate columns: each part too.
    let parts: Vec<String> = pii["names"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n.as_str().unwrap().split(' ').map(str::to_string))
        .collect();
    out.extend(parts);
    // No raw customer id or provider reference, whatever the customer.
    out.push("CUST-".into());
    out.push("PRV-".into());
    out.retain(|n| n.len() >= 4);
    out.sort();
    out.dedup();
    out
}

/// The pseudonymised ids of a table's `column`, over all its partitions.
fn ids(env: &Env, table: &str, column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for df in read_table(env, table).values() {
        let c = df.column(column).unwrap().cast(&DataType::String).unwrap();
        out.extend(c.str().unwrap().iter().flatten().map(str::to_string));
    }
    assert!(!out.is_empty(), "{table}.{column} is empty");
    out
}

#[test]
fn no_personal_data_in_silver_and_one_customer_joins_across_sources() {
    let Some(b) = services::broker() else { return };
    let env = Env::new();
    let mut config = String::new();
    for (source, prefix) in DRIVE {
        copy_dir(
            &testdata().join(prefix),
            &env.path().join("drop").join(prefix),
        );
        config.push_str(&format!(
            "[sources.{source}]\npath = \"drop/{prefix}\"\nprefix = \"{prefix}\"\n"
        ));
    }
    env.write("kvt.toml", &config);
    let prefix = silver_events::land_fixture_events(&env, &b.addr, "privacy");
    for (source, _) in DRIVE {
        assert_eq!(ingest(&env, source)["status"], "ok");
    }
    for source in [
        "crm",
        "firebase",
        "nginx",
        "logistics",
        "kyc",
        "payments",
        "orders",
    ] {
        let mut c = env.kvt();
        c.args(["silver", source, "--dev-key"]);
        if matches!(source, "payments" | "orders") {
            c.arg("--topic").arg(format!("{prefix}{source}"));
        }
        let s = run_expect(&mut c, 0).summary();
        assert!(s["rows_out"].as_u64().unwrap() > 0, "{source}: {s}");
    }

    // 1. Nothing personal anywhere under silver/.
    let gt = ground_truth(&testdata());
    let needles = needles(&gt);
    assert!(needles.len() > 150, "{}", needles.len());
    let files = all_text(&env.lake().join("silver"));
    let tables: std::collections::BTreeSet<&str> = files
        .iter()
        .filter(|(rel, _)| rel.ends_with(".parquet"))
        .map(|(rel, _)| rel.split('/').next().unwrap())
        .collect();
    assert_eq!(
        tables.into_iter().collect::<Vec<_>>(),
        [
            "crm",
            "firebase",
            "kyc",
            "logistics",
            "nginx",
            "order_items",
            "orders",
            "payments"
        ]
    );
    // The scan can fail: the same values are in bronze.
    let bronze: String = all_text(&env.lake().join("bronze"))
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let t = &gt["privacy"]["tracer"];
    let name = t["name"].as_str().unwrap();
    let mut present: Vec<&str> = name.split(' ').collect();
    for k in [
        "email",
        "phone",
        "street",
        "birth_date_raw",
        "prestataire_ref",
    ] {
        present.push(t[k].as_str().unwrap());
    }
    for v in present {
        assert!(bronze.contains(v), "{v:?} not in bronze");
    }
    assert!(bronze.contains(t["ipv4"][0].as_str().unwrap()));
    for (rel, text) in &files {
        for n in &needles {
            assert!(!text.contains(n.as_str()), "silver/{rel} holds {n:?}");
        }
    }

    // 2. The tracer has one pseudonym, and it is in every customer table.
    let tracer = pseudo(gt["privacy"]["tracer"]["customer_id"].as_str().unwrap());
    for (table, column) in [
        ("crm", "customer_id"),
        ("logistics", "customer_id"),
        ("kyc", "customer_id"),
        ("nginx", "customer_id"),
        ("firebase", "user_id"),
        ("payments", "customer_id"),
        ("orders", "customer_id"),
    ] {
        assert!(
            ids(&env, table, column).contains(&tracer),
            "{table}.{column} lacks the tracer's pseudonym {tracer}"
        );
    }
}
