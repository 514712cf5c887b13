//! `kvt gold` on generated data: figures recomputed here, with plain Rust
//! over the silver tables (not gold's code), stable surrogate keys,
//! determinism, missing inputs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use serde_json::Value;

use crate::common::chain::{self, NOW};
use crate::common::silver::{read_table, stacked};
use crate::common::{files_under, run_expect, Env};

fn gold(env: &Env, args: &[&str], code: i32) -> Value {
    run_expect(env.kvt().env("KVT_NOW", NOW).arg("gold").args(args), code).summary()
}

/// A gold table read back whole.
fn table(env: &Env, name: &str) -> DataFrame {
    let dir = env.lake().join("gold").join(name);
    let rec: kvt::table::PartsFile =
        serde_json::from_slice(&std::fs::read(dir.join("_parts.json")).unwrap()).unwrap();
    let mut acc: Option<DataFrame> = None;
    for p in rec.parts {
        let df =
            kvt::table::from_parquet(std::fs::read(dir.join(&p.name)).unwrap().into()).unwrap();
        match acc.as_mut() {
            None => acc = Some(df),
            Some(a) => {
                a.vstack_mut(&df).unwrap();
            }
        }
    }
    acc.unwrap()
}

fn s(df: &DataFrame, c: &str, i: usize) -> Option<String> {
    match df.column(c).unwrap().get(i).unwrap() {
        AnyValue::Null => None,
        v => Some(v.str_value().to_string()),
    }
}
fn f(df: &DataFrame, c: &str, i: usize) -> Option<f64> {
    df.column(c)
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .get(i)
}

/// `percentile_cont(q)`: linear interpolation between closest ranks.
fn percentile_cont(mut v: Vec<f64>, q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

fn close(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => assert!(
            (a - b).abs() < 1e-6 * b.abs().max(1.0),
            "{what}: gold {a}, recomputed {b}"
        ),
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

#[test]
fn gold_figures_equal_independent_computations() {
    let Some(env) = chain::silver_env() else {
        return;
    };
    let summary = gold(&env, &[], 0);
    assert_eq!(summary["tables_written"], 22, "{summary}");
    assert_eq!(summary["as_of"], "2026-03-18");

    // --- Customers: RFM segment counts, from silver orders.
    let orders = stacked(&read_table(&env, "orders"));
    let mut created: BTreeMap<String, (String, f64, i32)> = BTreeMap::new(); // order → (customer, total, day)
    let mut last: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for i in 0..orders.height() {
        let oid = s(&orders, "order_id", i).unwrap();
        let ty = s(&orders, "event_type", i).unwrap();
        let t = orders
            .column("event_time")
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .get(i)
            .unwrap();
        if last.get(&oid).is_none_or(|(lt, _)| t >= *lt) {
            last.insert(oid.clone(), (t, ty.clone()));
        }
        if ty == "created" && !created.contains_key(&oid) {
            let day = (t.div_euclid(86_400_000)) as i32;
            created.insert(
                oid,
                (
                    s(&orders, "customer_id", i).unwrap(),
                    f(&orders, "total_amount", i).unwrap(),
                    day,
                ),
            );
        }
    }
    let mut per: BTreeMap<String, (i64, f64, i32)> = BTreeMap::new();
    for (oid, (c, total, day)) in &created {
        if last[oid].1 == "cancelled" {
            continue;
        }
        let e = per.entry(c.clone()).or_insert((0, 0.0, i32::MIN));
        e.0 += 1;
        e.1 += total;
        e.2 = e.2.max(*day);
    }
    let as_of = (chrono::NaiveDate::from_ymd_opt(2026, 3, 18).unwrap()
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32;
    let score = |vals: &[f64], x: f64| {
        let below = vals.iter().filter(|v| **v < x).count() as f64;
        (1 + (5.0 * below / vals.len() as f64).floor() as i32).min(5)
    };
    let rec: Vec<f64> = per.values().map(|v| -f64::from(as_of - v.2)).collect();
    let freq: Vec<f64> = per.values().map(|v| v.0 as f64).collect();
    let mon: Vec<f64> = per.values().map(|v| v.1).collect();
    let mut segments: BTreeMap<String, u64> = BTreeMap::new();
    for v in per.values() {
        let (r, fq, m) = (
            score(&rec, -f64::from(as_of - v.2)),
            score(&freq, v.0 as f64),
            score(&mon, v.1),
        );
        let seg = if r >= 4 && fq >= 4 && m >= 4 {
            "Champions"
        } else if r >= 3 && fq >= 4 {
            "Clients fidèles"
        } else if r == 5 && fq == 1 {
            "Nouveaux clients"
        } else if r >= 4 && fq <= 2 {
            "Prometteurs"
        } else if r <= 2 && fq >= 3 {
            "À risque"
        } else if r <= 2 && fq <= 2 {
            "Hibernants"
        } else {
            "À surveiller"
        };
        *segments.entry(seg.to_string()).or_default() += 1;
    }
    let c360 = table(&env, "gold_customer_360");
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..c360.height() {
        let seg = s(&c360, "segment_rfm", i).unwrap();
        if seg != "Prospects" {
            *got.entry(seg).or_default() += 1;
        }
    }
    assert_eq!(got, segments, "RFM segment counts");
    assert!(segments.len() >= 4, "a spread of segments: {segments:?}");

    // --- Logistics: one carrier, one month: on-time rate and p95 delay.
    let log = stacked(&read_table(&env, "logistics"));
    let (carrier, month) = ("Colissimo", "2026-03");
    let (mut delivered, mut on_time, mut delays) = (0, 0, Vec::new());
    for i in 0..log.height() {
        if s(&log, "transporteur", i).as_deref() != Some(carrier)
            || s(&log, "mois_expedition", i).as_deref() != Some(month)
        {
            continue;
        }
        if let Some(real) = s(&log, "date_livraison_reelle", i) {
            delivered += 1;
            if real <= s(&log, "date_livraison_prevue", i).unwrap_or_default() {
                on_time += 1;
            }
        }
        if let Some(d) = f(&log, "delai_livraison_jours_ouvres", i) {
            delays.push(d);
        }
    }
    let kpi = table(&env, "gold_logistics_kpi");
    let row = (0..kpi.height())
        .find(|&i| {
            s(&kpi, "transporteur", i).as_deref() == Some(carrier)
                && s(&kpi, "annee_mois", i).as_deref() == Some(month)
        })
        .expect("the carrier's month");
    close(
        f(&kpi, "taux_a_l_heure_pct", row),
        Some(on_time as f64 / delivered as f64 * 100.0),
        "on-time rate",
    );
    close(
        f(&kpi, "delai_p95_jours_ouvres", row),
        percentile_cont(delays, 0.95),
        "p95 delay",
    );

    // --- KYC: one month, all document types: processing rate, p95 decision delay.
    let kyc = stacked(&read_table(&env, "kyc"));
    let (mut n, mut decided, mut dd) = (0, 0, Vec::new());
    let by_type: BTreeSet<String> = (0..kyc.height())
        .filter_map(|i| s(&kyc, "doc_type", i))
        .collect();
    let doc = by_type.iter().next().unwrap().clone();
    for i in 0..kyc.height() {
        if s(&kyc, "mois_soumission", i).as_deref() != Some("2026-02")
            || s(&kyc, "doc_type", i) != Some(doc.clone())
        {
            continue;
        }
        n += 1;
        let st = s(&kyc, "statut_verification", i);
        if matches!(st.as_deref(), Some("validé") | Some("refusé")) {
            decided += 1;
            if let Some(d) = f(&kyc, "delai_decision_jours_ouvres", i) {
                dd.push(d);
            }
        }
    }
    let comp = table(&env, "gold_kyc_compliance");
    let row = (0..comp.height())
        .find(|&i| {
            s(&comp, "annee_mois", i).as_deref() == Some("2026-02")
                && s(&comp, "type_document", i) == Some(doc.clone())
        })
        .expect("February's row");
    close(f(&comp, "nb_dossiers", row), Some(n as f64), "KYC files");
    close(
        f(&comp, "taux_traitement_pct", row),
        Some(decided as f64 / n as f64 * 100.0),
        "KYC processing rate",
    );
    close(
        f(&comp, "delai_p95_jours_ouvres", row),
        percentile_cont(dd, 0.95),
        "KYC p95 delay",
    );

    // --- Web: one day's error rate and p95 latency.
    let web = read_table(&env, "nginx");
    let day = web.keys().last().unwrap().clone();
    let d = &web[&day];
    let (mut errors, mut lat) = (0, Vec::new());
    for i in 0..d.height() {
        if f(d, "status_code", i).unwrap() >= 400.0 {
            errors += 1;
        }
        if let Some(l) = f(d, "response_time_ms", i) {
            lat.push(l);
        }
    }
    let daily = table(&env, "gold_web_quotidien");
    let date = day.rsplit('=').next().unwrap().to_string();
    let row = (0..daily.height())
        .find(|&i| s(&daily, "date", i).as_deref() == Some(date.as_str()))
        .unwrap();
    close(
        f(&daily, "taux_erreur_pct", row),
        Some(errors as f64 / d.height() as f64 * 100.0),
        "web error rate",
    );
    close(
        f(&daily, "latence_p95_ms", row),
        percentile_cont(lat, 0.95),
        "web p95",
    );

    // --- One product's funnel in March: app views and cart adds.
    let fb = stacked(&read_table(&env, "firebase"));
    let mut views: HashMap<String, (u64, u64)> = HashMap::new();
    for i in 0..fb.height() {
        let (Some(p), Some(date)) = (s(&fb, "product_id", i), s(&fb, "event_date", i)) else {
            continue;
        };
        if !date.starts_with("2026-03") {
            continue;
        }
        let e = views.entry(p).or_default();
        match s(&fb, "event_name", i).as_deref() {
            Some("view_item") => e.0 += 1,
            Some("add_to_cart") => e.1 += 1,
            _ => {}
        }
    }
    let (product, (v, a)) = views
        .iter()
        .max_by_key(|(p, (v, _))| (*v, (*p).clone()))
        .unwrap();
    let funnel = table(&env, "gold_product_funnel");
    let row = (0..funnel.height())
        .find(|&i| {
            s(&funnel, "code_produit", i).as_deref() == Some(product.as_str())
                && s(&funnel, "annee_mois", i).as_deref() == Some("2026-03")
        })
        .unwrap();
    close(f(&funnel, "vues", row), Some(*v as f64), "views");
    close(
        f(&funnel, "ajouts_panier", row),
        Some(*a as f64),
        "cart adds",
    );
    close(
        f(&funnel, "taux_vue_panier_pct", row),
        Some(*a as f64 / *v as f64 * 100.0),
        "view→cart",
    );
}

fn keys(env: &Env, t: &str, key: &str, natural: &str) -> BTreeMap<String, i64> {
    let df = table(env, t);
    (0..df.height())
        .map(|i| {
            (
                s(&df, natural, i).unwrap(),
                df.column(key).unwrap().i64().unwrap().get(i).unwrap(),
            )
        })
        .collect()
}

fn snapshot(env: &Env) -> BTreeMap<String, Vec<u8>> {
    let dir = env.lake().join("gold");
    files_under(&dir)
        .into_iter()
        .map(|r| {
            let b = std::fs::read(dir.join(&r)).unwrap();
            (r, b)
        })
        .collect()
}

#[test]
fn surrogate_keys_never_change_and_gold_is_deterministic() {
    let Some(env) = chain::silver_env() else {
        return;
    };
    gold(&env, &[], 0);
    let dims = [
        ("dim_client", "client_id", "customer_id"),
        ("dim_produit", "produit_id", "code_produit"),
        ("dim_transporteur", "transporteur_id", "nom"),
        ("dim_canal", "canal_id", "nom"),
    ];
    let before: Vec<_> = dims.iter().map(|(t, k, n)| keys(&env, t, k, n)).collect();
    let first = snapshot(&env);
    gold(&env, &[], 0);
    assert!(snapshot(&env) == first, "same silver, same bytes");
    gold(&env, &["--full-refresh"], 0);
    assert!(snapshot(&env) == first, "a full refresh changes nothing");

    // A new customer arrives (a new CRM export with one more row): old keys stay.
    let crm_dir = env.lake().join("bronze/crm_data");
    let latest = files_under(&crm_dir).into_iter().last().unwrap();
    let text = std::fs::read_to_string(crm_dir.join(&latest)).unwrap();
    let plain = text
        .lines()
        .skip(1)
        .find(|l| !l.contains('"'))
        .unwrap()
        .to_string();
    let mut fields: Vec<&str> = plain.split(',').collect();
    fields[1] = "CUST-999999";
    fields[15] = "Podcast";
    let grown = format!("{text}{}\n", fields.join(","));
    env.write("drop/crm_data/crm_export_new.csv", grown);
    crate::common::silver::set_mtime(
        &env.path().join("drop/crm_data/crm_export_new.csv"),
        "2026-03-18T05:00:00Z",
    );
    run_expect(
        env.kvt()
            .env("KVT_NOW", NOW)
            .args(["ingest", "drive", "crm"]),
        0,
    );
    run_expect(
        env.kvt()
            .env("KVT_NOW", NOW)
            .args(["silver", "crm", "--dev-key"]),
        0,
    );
    gold(&env, &[], 0);
    for ((t, k, n), old) in dims.iter().zip(&before) {
        let now = keys(&env, t, k, n);
        for (natural, key) in old {
            assert_eq!(now.get(natural), Some(key), "{t}: key of {natural} changed");
        }
        if *t == "dim_client" || *t == "dim_canal" {
            assert_eq!(now.len(), old.len() + 1, "{t} has the newcomer");
        }
    }
}

#[test]
fn missing_inputs_are_empty_aggregates_or_an_error_naming_them() {
    let Some(env) = chain::silver_env() else {
        return;
    };
    std::fs::remove_dir_all(env.lake().join("silver/kyc")).unwrap();
    let out = run_expect(env.kvt().env("KVT_NOW", NOW).arg("gold"), 0);
    assert_eq!(out.summary()["missing_inputs"], serde_json::json!(["kyc"]));
    assert!(
        out.stderr.contains("silver table missing"),
        "{}",
        out.stderr
    );
    assert_eq!(table(&env, "gold_kyc_compliance").height(), 0);
    assert_eq!(table(&env, "fact_kyc").height(), 0);
    std::fs::remove_dir_all(env.lake().join("silver/crm")).unwrap();
    let s = gold(&env, &[], 2);
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("silver table `crm` is missing"),
        "{s}"
    );
}

/// Partitioned gold: two workers on disjoint tables run in parallel, each
/// table under its own lock; a run that needs a table another run holds
/// fails at once (exit 2, naming the holder) and writes nothing.
#[test]
fn workers_on_different_tables_run_in_parallel_and_share_no_table() {
    let Some(env) = chain::silver_env() else {
        return;
    };
    let web = [
        "fact_evenement_web",
        "gold_web_quotidien",
        "gold_web_endpoints",
    ];
    let workers: Vec<std::process::Child> = [web.join(","), "fact_paiement,dim_date".to_string()]
        .iter()
        .map(|tables| {
            env.kvt()
                .env("KVT_NOW", NOW)
                .args(["gold", "--table", tables])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let built: BTreeSet<String> = std::fs::read_dir(env.lake().join("gold"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_'))
        .collect();
    let want: BTreeSet<String> = web
        .iter()
        .chain(&["fact_paiement", "dim_date"])
        .map(|s| s.to_string())
        .collect();
    assert_eq!(built, want, "exactly the selected tables");
    // A run holding fact_paiement: a worker that needs it stops; one that does not, runs.
    env.write(
        "lake/_locks/gold/fact_paiement.lock",
        serde_json::json!({"run_id": "other", "host": "another-host", "pid": 1, "acquired_at": "2026-03-18T05:59:00Z"})
            .to_string(),
    );
    let s = gold(&env, &["--table", "dim_client,fact_paiement"], 2);
    assert!(
        s["error"].as_str().unwrap().contains("fact_paiement.lock"),
        "{s}"
    );
    assert!(
        !env.lake().join("gold/dim_client").exists(),
        "nothing written"
    );
    assert!(
        !env.lake().join("_locks/gold/dim_client.lock").exists(),
        "its other locks released"
    );
    let s = gold(&env, &["--table", "dim_client"], 0);
    assert_eq!(s["tables_written"], 1, "{s}");
    let s = gold(&env, &["--table", "no_such_table"], 2);
    assert!(
        s["error"].as_str().unwrap().contains("no such gold table"),
        "{s}"
    );
}

#[test]
fn declared_lineage_is_what_each_table_reads() {
    let reads =
        |name: &str| kvt::gold::reads(kvt::gold::TABLES.iter().find(|t| t.name == name).unwrap());
    assert_eq!(reads("fact_evenement_web"), ["nginx"]);
    // A payment's order key comes from silver orders.
    assert_eq!(reads("fact_paiement"), ["orders", "payments"]);
    assert!(reads("dim_date").is_empty() && reads("dim_pays").is_empty());
    assert!(reads("gold_customer_360").contains(&"crm"));
    assert!(reads("gold_customer_360").contains(&"firebase"));
    for t in kvt::gold::TABLES {
        for r in kvt::gold::reads(t) {
            assert!(
                kvt::gold::inputs::specs().iter().any(|s| s.table == r),
                "{}: {r}",
                t.name
            );
        }
    }
}
