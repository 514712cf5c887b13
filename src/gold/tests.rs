//! Gold on hand-written hostile silver: every table builds with unique,
//! non-null keys, and every foreign key the warehouse DDL declares holds —
//! the load can never fail on gold's own output.

use std::collections::{BTreeMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::*;

use super::inputs::{assemble, specs, Silver};
use super::{check_keys, Ctx, TABLES};

/// A silver frame of `table` from rows of (column, text) pairs: every column
/// of the spec, the ones not given null, texts converted to the spec type.
fn frame(table: &str, rows: &[&[(&str, &str)]]) -> LazyFrame {
    let spec = specs()
        .into_iter()
        .find(|s| s.table == table)
        .expect("known table");
    let cols: Vec<Column> = spec
        .columns
        .iter()
        .map(|(name, dtype)| {
            let texts: Vec<Option<&str>> = rows
                .iter()
                .map(|r| r.iter().find(|(c, _)| c == name).map(|(_, v)| *v))
                .collect();
            let name: PlSmallStr = (*name).into();
            match dtype {
                DataType::Boolean => Column::new(
                    name,
                    texts
                        .iter()
                        .map(|t| t.map(|t| t == "true"))
                        .collect::<Vec<_>>(),
                ),
                DataType::Date => Column::new(
                    name,
                    texts
                        .iter()
                        .map(|t| {
                            t.map(|t| {
                                crate::silver::epoch_days(t.parse::<NaiveDate>().expect("date"))
                            })
                        })
                        .collect::<Vec<_>>(),
                )
                .cast(dtype)
                .expect("date"),
                DataType::Datetime(..) => Column::new(
                    name,
                    texts
                        .iter()
                        .map(|t| {
                            t.map(|t| {
                                NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
                                    .expect("timestamp")
                                    .and_utc()
                                    .timestamp_millis()
                            })
                        })
                        .collect::<Vec<_>>(),
                )
                .cast(dtype)
                .expect("timestamp"),
                _ => Column::new(name, texts).cast(dtype).expect("cast"),
            }
        })
        .collect();
    DataFrame::new(rows.len(), cols).expect("frame").lazy()
}

/// The foreign keys of the warehouse DDL: (table, column, referenced table,
/// referenced column).
fn foreign_keys() -> Vec<(String, String, String, String)> {
    // The table of a constraint: the last CREATE TABLE or ALTER TABLE line.
    let create =
        regex::Regex::new(r"(?:CREATE TABLE IF NOT EXISTS|ALTER TABLE) \{schema\}\.(\w+)").unwrap();
    let fk =
        regex::Regex::new(r"FOREIGN KEY \((\w+)\) REFERENCES \{schema\}\.(\w+) \((\w+)\)").unwrap();
    let mut out = Vec::new();
    for (_, sql) in crate::warehouse::DDL {
        let mut table = String::new();
        for line in sql.lines() {
            if let Some(c) = create.captures(line) {
                table = c[1].to_string();
            }
            if let Some(c) = fk.captures(line) {
                out.push((
                    table.clone(),
                    c[1].to_string(),
                    c[2].to_string(),
                    c[3].to_string(),
                ));
            }
        }
    }
    out
}

/// Silver with the anomalies a gold build must survive.
fn hostile() -> Silver {
    let mut f = BTreeMap::new();
    f.insert(
        "crm",
        frame(
            "crm",
            &[
                &[
                    ("customer_id", "C1"),
                    ("pays", "FR"),
                    ("canal_acquisition", "Instagram"),
                ],
                &[
                    ("customer_id", "C2"),
                    ("date_creation_crm", "1998-05-01 10:00:00"),
                ],
            ],
        ),
    );
    let created = |day: &str, id: &str, cust: &str, t: &str| -> Vec<(&'static str, String)> {
        vec![
            ("event_date", day.to_string()),
            ("event_time", t.to_string()),
            ("order_id", id.to_string()),
            ("customer_id", cust.to_string()),
            ("event_type", "created".to_string()),
            ("total_amount", "20.0".to_string()),
            ("channel", "ios".to_string()),
            ("delivery_country", "FR".to_string()),
        ]
    };
    // O1's created event re-delivered in the next day's partition; O2 dated
    // before the calendar.
    let orders = [
        created("2026-03-01", "O1", "C1", "2026-03-01 10:00:00"),
        created("2026-03-02", "O1", "C1", "2026-03-01 10:00:00"),
        created("1999-12-31", "O2", "C2", "1999-12-31 23:00:00"),
    ];
    let rows: Vec<Vec<(&str, &str)>> = orders
        .iter()
        .map(|r| r.iter().map(|(c, v)| (*c, v.as_str())).collect())
        .collect();
    let refs: Vec<&[(&str, &str)]> = rows.iter().map(|r| r.as_slice()).collect();
    f.insert("orders", frame("orders", &refs));
    let line = |day: &'static str,
                order: &'static str,
                t: &'static str|
     -> [(&'static str, &'static str); 9] {
        [
            ("event_date", day),
            ("event_time", t),
            ("order_id", order),
            ("line_number", "1"),
            ("product_id", "P1"),
            ("category", "Maison"),
            ("quantity", "2"),
            ("unit_price", "10.0"),
            ("line_amount", "20.0"),
        ]
    };
    let (a, b, c) = (
        line("2026-03-01", "O1", "2026-03-01 10:00:00"),
        line("2026-03-02", "O1", "2026-03-01 10:00:00"),
        line("1999-12-31", "O2", "1999-12-31 23:00:00"),
    );
    f.insert("order_items", frame("order_items", &[&a, &b, &c]));
    f.insert(
        "firebase",
        frame(
            "firebase",
            &[
                // A product only ever put in a cart.
                &[
                    ("event_date", "2026-03-01"),
                    ("event_name", "add_to_cart"),
                    ("event_timestamp", "2026-03-01 09:00:00"),
                    ("event_id", "E1"),
                    ("user_id", "C1"),
                    ("product_id", "P9"),
                ],
                // An event far outside the calendar.
                &[
                    ("event_date", "2099-06-01"),
                    ("event_name", "remove_from_cart"),
                    ("event_timestamp", "2099-06-01 09:00:00"),
                    ("event_id", "E2"),
                    ("user_id", "C1"),
                    ("product_id", "P8"),
                ],
            ],
        ),
    );
    f.insert(
        "logistics",
        frame(
            "logistics",
            &[
                // No carrier, no shipping date yet.
                &[
                    ("livraison_id", "L1"),
                    ("order_id", "O1"),
                    ("customer_id", "C1"),
                ],
                // No carrier, shipped.
                &[
                    ("livraison_id", "L2"),
                    ("order_id", "O1"),
                    ("customer_id", "C1"),
                    ("date_expedition", "2026-03-02"),
                    ("pays_destination", "FR"),
                ],
            ],
        ),
    );
    f.insert(
        "kyc",
        frame(
            "kyc",
            &[&[
                ("kyc_ref", "K1"),
                ("customer_id", "C1"),
                ("statut_verification", "valide"),
                ("date_soumission", "2150-01-01"),
                ("mois_soumission", "2150-01"),
            ]],
        ),
    );
    f.insert(
        "nginx",
        frame(
            "nginx",
            &[&[
                ("log_date", "1990-01-01"),
                ("method", "GET"),
                ("path", "/"),
                ("status_code", "200"),
                ("status_family", "2xx"),
                ("response_time_ms", "12"),
                ("is_bot", "false"),
            ]],
        ),
    );
    assemble(f, Vec::new())
}

#[test]
fn hostile_silver_builds_with_every_key_and_foreign_key_holding() {
    let silver = hostile();
    let ctx = Ctx {
        as_of: NaiveDate::from_ymd_opt(2026, 3, 18).unwrap(),
    };
    let mut built: BTreeMap<&str, DataFrame> = BTreeMap::new();
    for t in TABLES {
        let df = (t.build)(&silver, &ctx)
            .collect()
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        check_keys(t, &df).unwrap_or_else(|e| panic!("{e}"));
        built.insert(t.name, df);
    }
    let fks = foreign_keys();
    assert!(fks.len() >= 25, "the DDL's foreign keys: {}", fks.len());
    for (table, column, target, target_col) in fks {
        let (Some(df), Some(dim)) = (built.get(table.as_str()), built.get(target.as_str())) else {
            continue;
        };
        let keys: HashSet<i64> = dim
            .column(&target_col)
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        let values = df.column(&column).unwrap().cast(&DataType::Int64).unwrap();
        for v in values.i64().unwrap().iter().flatten() {
            assert!(
                keys.contains(&v),
                "{table}.{column} = {v} is not in {target}.{target_col}"
            );
        }
    }

    // The re-delivered line is counted once everywhere.
    let sum = |t: &str, c: &str| {
        built[t]
            .column(c)
            .unwrap()
            .cast(&DataType::Float64)
            .unwrap()
            .f64()
            .unwrap()
            .sum()
            .unwrap_or(0.0)
    };
    assert_eq!(sum("fact_commande_produit", "quantite"), 4.0, "O1 and O2");
    assert_eq!(sum("gold_commercial_mensuel", "chiffre_affaires_eur"), 40.0);
    assert_eq!(sum("gold_product_funnel", "chiffre_affaires_eur"), 40.0);
    // The cart-only products are in the product dimension.
    let codes: Vec<String> = built["dim_produit"]
        .column("code_produit")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), 3, "{codes:?}");
    for p in ["P1", "P8", "P9"] {
        assert!(codes.contains(&p.to_string()), "{p} in {codes:?}");
    }
    // Dates outside the calendar have no date_id; the web day is dropped.
    assert_eq!(built["fact_kyc"].column("date_id").unwrap().null_count(), 1);
    assert_eq!(
        built["fact_evenement_mobile"]
            .column("date_id")
            .unwrap()
            .null_count(),
        1
    );
    assert_eq!(built["gold_web_quotidien"].height(), 0);
    // The carrier-less parcels are under "inconnu"; the unshipped one is in
    // no month.
    let kpi = &built["gold_logistics_kpi"];
    assert_eq!(kpi.height(), 1);
    assert_eq!(
        kpi.column("transporteur").unwrap().str().unwrap().get(0),
        Some(super::inputs::UNKNOWN_CARRIER)
    );
    assert_eq!(sum("gold_logistics_kpi", "nb_livraisons"), 1.0);
    assert_eq!(built["dim_transporteur"].height(), 1);
}
