//! `kvt load` and `kvt check` against a real PostgreSQL (a private cluster
//! started by the harness): the whole warehouse, isolation from the
//! transactional database, failures that leave yesterday's tables, the gate.

use serde_json::Value;

use crate::common::chain::{self, NOW};
use crate::common::services::{self, Postgres};
use crate::common::{run, run_expect, Env};

/// A lake with gold, and a fresh warehouse database.
fn setup(name: &str) -> Option<(Env, &'static Postgres, String)> {
    let pg = services::postgres()?;
    let env = chain::silver_env()?;
    run_expect(env.kvt().env("KVT_NOW", NOW).arg("gold"), 0);
    let url = pg.database(name);
    Some((env, pg, url))
}

fn load(env: &Env, url: &str, extra: &[(&str, &str)], code: i32) -> Value {
    let mut c = env.kvt();
    c.env("KVT_NOW", NOW)
        .env("KVT_WAREHOUSE_URL", url)
        .env("KVT_LOAD_RETRY_DELAY", "200ms");
    for (k, v) in extra {
        c.env(k, v);
    }
    run_expect(c.arg("load"), code).summary()
}

fn check(env: &Env, url: &str, args: &[&str], code: i32) -> crate::common::Output {
    run_expect(
        env.kvt()
            .env("KVT_NOW", NOW)
            .env("KVT_WAREHOUSE_URL", url)
            .arg("check")
            .args(args),
        code,
    )
}

/// Row count and a content hash of a table.
fn fingerprint(pg: &Postgres, url: &str, table: &str) -> String {
    pg.psql(
        url,
        &format!("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM kvt.{table} t"),
    )
}

const TABLES: [&str; 4] = [
    "dim_client",
    "fact_commande",
    "fact_evenement_mobile",
    "gold_customer_360",
];

#[test]
fn the_whole_warehouse_loads_checks_and_reloads_identically() {
    let Some((env, pg, url)) = setup("wh_full") else {
        return;
    };
    let s = load(&env, &url, &[], 0);
    assert_eq!(s["tables"], 22, "{s}");
    let rows = &s["rows_per_table"];
    for t in TABLES {
        let n: u64 = pg
            .psql(&url, &format!("SELECT count(*) FROM kvt.{t}"))
            .parse()
            .unwrap();
        assert_eq!(rows[t], n, "{t}");
        assert!(n > 0, "{t}");
    }
    // Every column and table is commented (Metabase shows the comments).
    let uncommented_sql = "SELECT count(*) FROM information_schema.columns c
         WHERE c.table_schema = 'kvt' AND c.table_name NOT IN ('schema_migrations')
           AND col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, c.ordinal_position) IS NULL";
    assert_eq!(pg.psql(&url, uncommented_sql), "0");
    // Foreign keys of the star are there and hold.
    let fks: u64 = pg
        .psql(&url, "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'kvt' AND c.contype = 'f'")
        .parse()
        .unwrap();
    assert!(fks >= 25, "{fks} foreign keys");

    // What a reload must keep: a reader's privileges, indexes, keys.
    pg.psql(
        &url,
        "DO $$ BEGIN CREATE ROLE wh_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         GRANT USAGE ON SCHEMA kvt TO wh_reader; GRANT SELECT ON ALL TABLES IN SCHEMA kvt TO wh_reader",
    );
    let structure = |pg: &Postgres| {
        pg.psql(
            &url,
            "SELECT (SELECT count(*) FROM pg_indexes WHERE schemaname = 'kvt') || '/' ||
                    (SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                      WHERE n.nspname = 'kvt') || '/' ||
                    (SELECT count(*) FROM information_schema.role_table_grants
                      WHERE grantee = 'wh_reader' AND table_schema = 'kvt')",
        )
    };
    let structure_before = structure(pg);
    let before: Vec<String> = TABLES.iter().map(|t| fingerprint(pg, &url, t)).collect();
    load(&env, &url, &[], 0);
    let after: Vec<String> = TABLES.iter().map(|t| fingerprint(pg, &url, t)).collect();
    assert_eq!(before, after, "loading twice gives the same contents");
    assert_eq!(
        structure(pg),
        structure_before,
        "indexes/constraints/grants"
    );
    assert_eq!(
        pg.psql(&url, uncommented_sql),
        "0",
        "comments after a reload"
    );
    assert_eq!(
        pg.psql(
            &url,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'kvt' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL"
        ),
        "0",
        "table comments after a reload"
    );

    // The gate on correct data: well above 80 %, results kept run after run.
    let out = check(&env, &url, &["--json"], 0);
    let s = out.summary();
    assert!(s["pass_rate"].as_f64().unwrap() >= 0.95, "{s}");
    assert!(s["checks_run"].as_u64().unwrap() >= 40);
    let report: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        report["checks"].as_array().unwrap().len() as u64,
        s["checks_run"].as_u64().unwrap()
    );
    check(&env, &url, &[], 0);
    assert_eq!(
        pg.psql(&url, "SELECT count(*) FROM kvt.quality_check_runs"),
        "2"
    );
    assert_eq!(
        pg.psql(
            &url,
            "SELECT count(DISTINCT run_id) FROM kvt.quality_check_results"
        ),
        "2"
    );
}

#[test]
fn load_refuses_the_transactional_database() {
    let Some((env, pg, url)) = setup("wh_iso") else {
        return;
    };
    // The same database under another spelling of its URL.
    let same = url.replace("127.0.0.1", "localhost");
    let s = load(&env, &url, &[("KVT_OLTP_URL", same.as_str())], 2);
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("is the transactional database"),
        "{s}"
    );
    assert_eq!(
        pg.psql(
            &url,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'kvt'"
        ),
        "0",
        "nothing written"
    );
    // `kvt check` refuses it too, before creating its history tables.
    let out = check(&env, &same, &["--oltp-url", url.as_str()], 2);
    assert!(
        out.summary()["error"]
            .as_str()
            .unwrap()
            .contains("transactional"),
        "{}",
        out.summary()
    );
    assert_eq!(
        pg.psql(
            &url,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'kvt'"
        ),
        "0",
        "nothing written by check"
    );
    // A different database of the same cluster is fine.
    let oltp = pg.database("oltp");
    load(&env, &url, &[("KVT_OLTP_URL", oltp.as_str())], 0);
}

#[test]
fn a_failed_load_leaves_yesterdays_tables() {
    let Some((env, pg, url)) = setup("wh_fail") else {
        return;
    };
    load(&env, &url, &[], 0);
    let before: Vec<String> = TABLES.iter().map(|t| fingerprint(pg, &url, t)).collect();

    // Today's gold references a customer dim_client does not have: the
    // foreign key fails on the staging tables, before any switch.
    rewrite_gold(&env, "dim_client", |df| df.slice(1, df.height() - 1));
    let s = load(&env, &url, &[("KVT_LOAD_RETRIES", "0")], 2);
    assert!(s["error"].as_str().unwrap().contains("foreign key"), "{s}");
    let after: Vec<String> = TABLES.iter().map(|t| fingerprint(pg, &url, t)).collect();
    assert_eq!(before, after, "yesterday's tables, rows and contents");

    // The connection killed in the middle of the load: with no retry, exit 2
    // and yesterday's tables; with retries, the next attempt loads.
    run_expect(env.kvt().env("KVT_NOW", NOW).arg("gold"), 0);
    let db = url.rsplit('/').next().unwrap().to_string();
    let kill = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid() AND query ILIKE 'COPY%'"
    );
    let killer_url = pg.url("postgres");
    let pgk: &'static Postgres = pg;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let killer = std::thread::spawn(move || {
        let mut killed = 0u64;
        while !st.load(std::sync::atomic::Ordering::Relaxed) {
            killed += pgk.psql(&killer_url, &kill).parse::<u64>().unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        killed
    });
    let out = run(env
        .kvt()
        .env("KVT_NOW", NOW)
        .env("KVT_WAREHOUSE_URL", &url)
        .env("KVT_LOAD_RETRIES", "0")
        .arg("load"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let killed = killer.join().unwrap();
    if killed > 0 {
        assert_eq!(out.code, 2, "{}", out.stdout);
        let after: Vec<String> = TABLES.iter().map(|t| fingerprint(pg, &url, t)).collect();
        assert_eq!(
            before, after,
            "yesterday's tables after a killed connection"
        );
    }
    let s = load(&env, &url, &[("KVT_LOAD_RETRIES", "3")], 0);
    assert_eq!(s["tables"], 22);
}

/// Replace a gold table's content by `f(content)`.
fn rewrite_gold(
    env: &Env,
    table: &str,
    f: impl Fn(&polars::prelude::DataFrame) -> polars::prelude::DataFrame,
) {
    let dir = env.lake().join("gold").join(table);
    let rec: kvt::table::PartsFile =
        serde_json::from_slice(&std::fs::read(dir.join("_parts.json")).unwrap()).unwrap();
    let p = &rec.parts[0];
    let df = kvt::table::from_parquet(std::fs::read(dir.join(&p.name)).unwrap().into()).unwrap();
    let mut out = f(&df);
    std::fs::write(dir.join(&p.name), kvt::table::to_parquet(&mut out).unwrap()).unwrap();
}

#[test]
fn the_gate_fails_below_the_threshold_and_passes_at_it() {
    let Some((env, pg, url)) = setup("wh_gate") else {
        return;
    };
    load(&env, &url, &[], 0);
    // A catalogue of 5 checks, one failing: exactly 80 % passes.
    let cat = |failing: usize, total: usize| {
        (0..total)
            .map(|i| {
                format!(
                    "[[check]]\nid = \"c{i}\"\ntable = \"dim_client\"\ncategory = \"volume\"\nseverity = \"erreur\"\nsql = \"SELECT {} FROM {{schema}}.dim_client LIMIT 1\"\n",
                    u8::from(i < failing)
                )
            })
            .collect::<String>()
    };
    env.write("five.toml", cat(1, 5));
    let s = check(&env, &url, &["--catalogue", "five.toml"], 0).summary();
    assert_eq!(s["pass_rate"], 0.8);
    env.write("hundred.toml", cat(21, 100));
    let s = check(&env, &url, &["--catalogue", "hundred.toml"], 1).summary();
    assert_eq!(s["status"], "rejected");
    assert!(s["error"].as_str().unwrap().contains("c0 (1 rows)"), "{s}");
    assert_eq!(
        pg.psql(
            &url,
            "SELECT string_agg(status, ',' ORDER BY started_at) FROM kvt.quality_check_runs"
        ),
        "ok,rejected"
    );

    // Corrupted gold lowers the real catalogue's pass rate.
    let clean = check(&env, &url, &[], 0).summary()["checks_passed"]
        .as_u64()
        .unwrap();
    pg.psql(
        &url,
        "UPDATE kvt.gold_web_quotidien SET taux_erreur_pct = 140",
    );
    pg.psql(&url, "ALTER TABLE kvt.gold_customer_360 ALTER COLUMN segment_rfm DROP NOT NULL; UPDATE kvt.gold_customer_360 SET segment_rfm = NULL");
    let s = check(&env, &url, &[], 0).summary();
    assert!(s["checks_passed"].as_u64().unwrap() + 2 <= clean, "{s}");
}

/// The browser a user opens the report with: Debian's Chromium, headless.
fn chromium() -> Option<std::path::PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
}

#[test]
fn the_html_report_draws_the_pass_rate_in_a_real_browser() {
    let Some((env, _pg, url)) = setup("wh_html") else {
        return;
    };
    let Some(browser) = chromium() else {
        assert!(
            !crate::common::in_ci(),
            "chromium is not installed (make apt installs it)"
        );
        eprintln!("chromium not installed: HTML report not rendered");
        return;
    };
    load(&env, &url, &[], 0);
    // Two earlier runs, then the one that writes the report: three points.
    for _ in 0..2 {
        let out = run(env
            .kvt()
            .env("KVT_NOW", NOW)
            .env("KVT_WAREHOUSE_URL", &url)
            .arg("check"));
        assert!(out.code == 0 || out.code == 1, "{out:?}");
    }
    let html = env.path().join("reports/quality.html");
    let out = run(env
        .kvt()
        .env("KVT_NOW", NOW)
        .env("KVT_WAREHOUSE_URL", &url)
        .args(["check", "--html"])
        .arg(&html));
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    assert_eq!(out.summary()["html"], html.display().to_string());
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(
        text.contains("<td>fact_commande</td>"),
        "row counts per table"
    );
    assert!(
        !text.contains("src=") && !text.contains("href="),
        "self-contained"
    );
    let profile = tempfile::tempdir().unwrap();
    let dom = std::process::Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=5000", "--dump-dom"])
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success() && !dom_text.is_empty(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let attr = |name: &str| -> u64 {
        let at = dom_text
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("the chart script did not run (no {name}):\n{dom_text}"));
        let rest = &dom_text[at + name.len() + 2..];
        rest[..rest.find('"').unwrap()].parse().unwrap()
    };
    assert_eq!(attr("data-points"), 3, "one point per check run");
    assert!(attr("data-painted") > 200, "the pass-rate line is drawn");
}
