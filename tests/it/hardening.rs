//! Regressions of issue 7 through the real binary: verdicts that stay,
//! re-deliveries that must not wipe silver, lineage that connects, metrics
//! and locks of every command.

use serde_json::Value;

use crate::common::silver::{config, ingest, read_table, set_mtime, stacked, strs};
use crate::common::{files_under, run_expect, Env};

const LINE: &str = r#"90.164.7.52 - CUST-000014 [17/Mar/2026:00:04:41 +0100] "GET / HTTP/1.1" 200 65963 "-" "Mozilla/5.0 (X11; Linux x86_64)" 0.709"#;

/// An nginx log of `good` valid lines and `bad` truncated ones.
fn log(good: usize, bad: usize) -> String {
    let mut s = String::new();
    for _ in 0..good {
        s.push_str(LINE);
        s.push('\n');
    }
    for _ in 0..bad {
        s.push_str(&LINE[..LINE.len() - 40]);
        s.push('\n');
    }
    s
}

fn nginx_env() -> Env {
    let env = Env::new();
    env.write("kvt.toml", config("nginx", "nginx_data"));
    env
}

/// Put a source file in the drop with a modification time (its version).
fn drop_file(env: &Env, rel: &str, body: &str, mtime: &str) {
    let p = env.write(rel, body);
    set_mtime(&p, mtime);
}

/// [`drop_file`], then ingest the source.
fn deliver(env: &Env, source: &str, rel: &str, body: &str, mtime: &str) {
    drop_file(env, rel, body, mtime);
    ingest(env, source);
}

fn silver(env: &Env, source: &str, args: &[&str], code: i32) -> Value {
    run_expect(
        env.kvt().args(["silver", source, "--dev-key"]).args(args),
        code,
    )
    .summary()
}

fn bronze_key(env: &Env, source: &str, suffix: &str) -> String {
    let m = std::fs::read_to_string(env.lake().join(format!("bronze/_manifests/{source}.jsonl")))
        .unwrap();
    m.lines()
        .rev()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .find(|k| k.ends_with(suffix))
        .unwrap()
}

/// OPS-4: after a rejected nginx file, retries and later runs keep exiting 1
/// until the file is replaced or an operator accepts it.
#[test]
fn a_data_verdict_sticks_until_superseded_or_accepted() {
    let env = nginx_env();
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/access.log",
        &log(18, 2),
        "2026-03-17T01:00:00Z",
    );
    let s = silver(&env, "nginx", &[], 1);
    assert_eq!(s["status"], "rejected");
    assert!(s["error"].as_str().unwrap().contains("access"), "{s}");
    // A retry, and the next night's run: still 1, naming the file.
    for _ in 0..2 {
        let s = silver(&env, "nginx", &[], 1);
        assert_eq!(s["objects_new"], 0);
        assert!(
            s["error"]
                .as_str()
                .unwrap()
                .contains("above the 5.0 % tolerance"),
            "{s}"
        );
    }
    // Valid rows were written all the same.
    assert_eq!(stacked(&read_table(&env, "nginx")).height(), 18);

    // The operator accepts it: recorded, and the chain goes on.
    let key = bronze_key(&env, "nginx", ".log");
    let s = silver(&env, "nginx", &["--accept-rejects", &key], 0);
    assert_eq!(s["status"], "ok");
    silver(&env, "nginx", &[], 0);
    let state = std::fs::read_to_string(env.lake().join("silver/_state/nginx.json")).unwrap();
    assert!(state.contains("\"accepted\": \"run "), "{state}");
    // Accepting an object that does not exist is a usage error.
    silver(&env, "nginx", &["--accept-rejects", "bronze/nope.log"], 2);

    // A second bad file; then a corrected version of it supersedes the verdict.
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/b.log",
        &log(5, 5),
        "2026-03-18T01:00:00Z",
    );
    silver(&env, "nginx", &[], 1);
    silver(&env, "nginx", &[], 1);
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/b.log",
        &log(10, 0),
        "2026-03-18T02:00:00Z",
    );
    let s = silver(&env, "nginx", &[], 0);
    assert_eq!(s["objects_superseded"], 1);
    assert_eq!(stacked(&read_table(&env, "nginx")).height(), 28);
}

const CRM_HEADER: &str = "SALESFORCE ID,CUSTOMER ID,CIVILITE,PRENOM,NOM,EMAIL,TELEPHONE,DATE NAISSANCE,ADRESSE RUE,VILLE,CODE POSTAL,PAYS,STATUT,SEGMENT CLIENT,LEAD SCORE,CANAL ACQUISITION,CATEGORIE PREFEREE,NB COMMANDES,LIFETIME VALUE EUR,KYC REQUIS,KYC VALIDE,KYC DATE VALIDATION,NEWSLETTER OPTIN,DATE CREATION CRM,DATE MODIFICATION,PROPRIETAIRE SF";

fn crm_row(id: &str, pays: &str) -> String {
    format!("0035g0000NH4o1h,{id},Mme,A,B,a@b.fr,06,26/01/1977,1 rue X,Bordeaux,33000,{pays},Actif,Bronze,624,Site web,Maison,11,957.00,true,true,04/11/2025,Oui,2025-08-05,2026-02-19 03:48:49,Yves")
}

/// Regression (issue 7): a re-delivery with no readable row removed the
/// previous version's rows (and the partitions it alone fed), exit 0.
#[test]
fn an_empty_or_unreadable_redelivery_keeps_the_previous_rows() {
    let env = Env::new();
    env.write("kvt.toml", config("crm", "crm_data"));
    let v1 = format!(
        "{CRM_HEADER}\n{}\n{}\n",
        crm_row("CUST-1", "France"),
        crm_row("CUST-2", "Belgique")
    );
    deliver(
        &env,
        "crm",
        "drop/crm_data/crm.csv",
        &v1,
        "2026-03-16T06:00:00Z",
    );
    silver(&env, "crm", &[], 0);
    let before = read_table(&env, "crm");
    assert_eq!(before.len(), 2);

    for (i, (body, what)) in [
        (String::new(), "empty file"),
        (format!("{CRM_HEADER}\n"), "header only"),
        (
            "garbage;without;the;key\n1;2;3;4\n5;6;7;8\n".to_string(),
            "unreadable",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        deliver(
            &env,
            "crm",
            "drop/crm_data/crm.csv",
            &body,
            &format!("2026-03-17T0{i}:00:00Z"),
        );
        let s = silver(&env, "crm", &[], 1);
        let err = s["error"].as_str().unwrap();
        assert!(
            err.contains("crm.csv") && err.contains("previous version"),
            "{what}: {s}"
        );
        // A retry says it again; silver is untouched.
        silver(&env, "crm", &[], 1);
        let after = read_table(&env, "crm");
        assert_eq!(after.len(), 2, "{what}");
        for (p, df) in &before {
            assert!(after[p].equals_missing(df), "{what}: {p} changed");
        }
    }

    // A good version replaces the kept one.
    let v3 = format!("{CRM_HEADER}\n{}\n", crm_row("CUST-3", "France"));
    deliver(
        &env,
        "crm",
        "drop/crm_data/crm.csv",
        &v3,
        "2026-03-17T09:00:00Z",
    );
    let s = silver(&env, "crm", &[], 0);
    assert_eq!(s["partitions_dropped"], 1, "{s}");
    let t = read_table(&env, "crm");
    assert_eq!(t.len(), 1);
    assert_eq!(stacked(&t).height(), 1);
}

/// An operator can accept that a file is now really empty.
#[test]
fn an_accepted_empty_redelivery_replaces_the_previous_version() {
    let env = Env::new();
    env.write("kvt.toml", config("crm", "crm_data"));
    let v1 = format!("{CRM_HEADER}\n{}\n", crm_row("CUST-1", "France"));
    deliver(
        &env,
        "crm",
        "drop/crm_data/crm.csv",
        &v1,
        "2026-03-16T06:00:00Z",
    );
    silver(&env, "crm", &[], 0);
    deliver(
        &env,
        "crm",
        "drop/crm_data/crm.csv",
        "",
        "2026-03-17T06:00:00Z",
    );
    silver(&env, "crm", &[], 1);
    let key = bronze_key(&env, "crm", "20260317T060000000Z.csv");
    let s = silver(&env, "crm", &["--accept-rejects", &key], 0);
    assert_eq!(s["partitions_dropped"], 1, "{s}");
    assert!(read_table(&env, "crm").is_empty());
}

#[test]
fn silver_without_a_bronze_manifest_is_an_error() {
    let env = Env::new();
    let out = run_expect(env.kvt().args(["silver", "kyc", "--dev-key"]), 2);
    let s = out.summary();
    assert!(
        s["error"].as_str().unwrap().contains("no bronze manifest"),
        "{s}"
    );
}

/// Regression (issue 7): one unbalanced quote swallowed the rest of the file.
#[test]
fn an_unbalanced_quote_costs_one_row() {
    let env = Env::new();
    env.write("kvt.toml", config("crm", "crm_data"));
    let bad = crm_row("CUST-2", "France").replace(",Bordeaux,", ",\"Bordeaux,");
    let body = format!(
        "{CRM_HEADER}\n{}\n{bad}\n{}\n{}\n",
        crm_row("CUST-1", "France"),
        crm_row("CUST-3", "France"),
        crm_row("CUST-4", "France")
    );
    deliver(
        &env,
        "crm",
        "drop/crm_data/crm.csv",
        &body,
        "2026-03-16T06:00:00Z",
    );
    let s = silver(&env, "crm", &[], 0);
    assert_eq!(
        (s["rows_in"].as_u64(), s["rejected"].as_u64()),
        (Some(4), Some(1)),
        "{s}"
    );
    assert_eq!(s["rows_out"], 3);
    let rejects = env.lake().join("silver/_rejects/crm");
    let text: String = files_under(&rejects)
        .iter()
        .map(|f| std::fs::read_to_string(rejects.join(f)).unwrap())
        .collect();
    let r: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(r["line"], 3);
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("unterminated quoted field"),
        "{r}"
    );
}

fn lineage(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.path().join("lineage.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn datasets(ev: &Value, side: &str) -> Vec<(String, String)> {
    ev[side]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["namespace"].as_str().unwrap().to_string(),
                d["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Regression (issue 7): the dataset ingest wrote and the one silver read had
/// different names, so the lineage graph was cut between them.
#[test]
fn lineage_follows_a_file_from_the_drop_to_its_silver_table() {
    let env = Env::new();
    env.write("kvt.toml", config("crm", "crm_data"));
    let v1 = format!("{CRM_HEADER}\n{}\n", crm_row("CUST-1", "France"));
    drop_file(&env, "drop/crm_data/crm.csv", &v1, "2026-03-16T06:00:00Z");
    let url = format!("file://{}/lineage.jsonl", env.path().display());
    run_expect(
        env.kvt()
            .env("KVT_OPENLINEAGE_URL", &url)
            .args(["ingest", "drive", "crm"]),
        0,
    );
    run_expect(
        env.kvt()
            .env("KVT_OPENLINEAGE_URL", &url)
            .args(["silver", "crm", "--dev-key"]),
        0,
    );
    let events = lineage(&env);
    let complete: Vec<&Value> = events
        .iter()
        .filter(|e| e["eventType"] == "COMPLETE")
        .collect();
    assert_eq!(complete.len(), 2);
    // Ingestion writes the bronze prefix (and each object landed, D-111);
    // silver reads that prefix.
    let ingest_out = datasets(complete[0], "outputs");
    let silver_in = datasets(complete[1], "inputs");
    assert_eq!(ingest_out[..1], silver_in[..], "the graph connects");
    assert_eq!(ingest_out.len(), 2, "{ingest_out:?}");
    assert!(ingest_out[1].1.ends_with(".csv") && ingest_out[1].1.starts_with(&ingest_out[0].1));
    // OpenLineage naming for a local object store: namespace `file`, absolute path.
    let (ns, name) = &ingest_out[0];
    assert_eq!(ns, "file");
    let lake = std::fs::canonicalize(env.lake()).unwrap();
    assert_eq!(name, &format!("{}/bronze/crm_data", lake.display()));
    assert_eq!(
        datasets(complete[1], "outputs"),
        [("file".to_string(), format!("{}/silver/crm", lake.display()))]
    );
}

/// Regression (issue 7): an exit-1 run reported success 1 (`kvt_silver_success` now) and
/// refreshed the last-success time.
#[test]
fn a_rejected_run_is_not_a_success_in_the_metrics() {
    let env = nginx_env();
    let metrics = env.path().join("metrics");
    let m = metrics.to_str().unwrap();
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/a.log",
        &log(10, 0),
        "2026-03-17T01:00:00Z",
    );
    run_expect(
        env.kvt()
            .env("KVT_METRICS_DIR", m)
            .env("KVT_NOW", "2026-03-17T06:00:00Z")
            .args(["silver", "nginx", "--dev-key"]),
        0,
    );
    let file = metrics.join("kvt_silver_nginx_nginx.prom");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("kvt_silver_success{source=\"nginx\"} 1"),
        "{text}"
    );
    let last = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("kvt_silver_last_success_timestamp_seconds{"))
            .unwrap()
            .to_string()
    };
    let first_success = last(&text);
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/b.log",
        &log(1, 9),
        "2026-03-18T01:00:00Z",
    );
    run_expect(
        env.kvt()
            .env("KVT_METRICS_DIR", m)
            .env("KVT_NOW", "2026-03-18T06:00:00Z")
            .args(["silver", "nginx", "--dev-key"]),
        1,
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("kvt_silver_success{source=\"nginx\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("kvt_silver_exit_code{source=\"nginx\"} 1"),
        "{text}"
    );
    assert_eq!(last(&text), first_success, "last success not refreshed");
}

/// Regression (issue 7): silver ignored KVT_LOCK_TTL (fixed 6 h).
#[test]
fn every_command_takes_over_a_stale_lock_after_the_lock_ttl() {
    let env = nginx_env();
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/a.log",
        &log(3, 0),
        "2026-03-17T01:00:00Z",
    );
    // A lock left an hour ago by a run on another host.
    env.write(
        "lake/_locks/silver-nginx/nginx.lock",
        r#"{"run_id":"crashed","host":"elsewhere","pid":1,"acquired_at":"2026-03-17T05:00:00Z"}"#,
    );
    let out = run_expect(env.kvt().args(["silver", "nginx", "--dev-key"]), 2);
    assert!(out.summary()["error"]
        .as_str()
        .unwrap()
        .contains("holds the lock"));
    run_expect(
        env.kvt()
            .env("KVT_LOCK_TTL", "30m")
            .args(["silver", "nginx", "--dev-key"]),
        0,
    );
    // The lock was released afterwards.
    assert!(!env.lake().join("_locks/silver-nginx/nginx.lock").exists());
}

/// Regression (issue 7): the public development key had an environment twin,
/// so a copied demo `.env` could run production on it.
#[test]
fn the_development_key_is_only_a_flag() {
    let env = nginx_env();
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/a.log",
        &log(3, 0),
        "2026-03-17T01:00:00Z",
    );
    let out = run_expect(
        env.kvt()
            .env("KVT_DEV_KEY", "true")
            .args(["silver", "nginx"]),
        2,
    );
    let err = out.summary()["error"].as_str().unwrap().to_string();
    assert!(
        err.contains("KVT_PSEUDONYM_KEY") && err.contains(".env.example"),
        "{err}"
    );
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example"),
    )
    .unwrap();
    assert!(
        example.contains("KVT_PSEUDONYM_KEY="),
        ".env.example lists the key"
    );
    // A short key works but is warned about.
    let out = run_expect(
        env.kvt()
            .env("KVT_PSEUDONYM_KEY", "0123456789abcdef0123")
            .args(["silver", "nginx"]),
        0,
    );
    assert!(
        out.stderr.contains("shorter than 32 bytes"),
        "{}",
        out.stderr
    );
}

/// Regression (issue 7): re-uploaded under the same path (a new Drive file
/// id on Drive; here a new modification time), the old and the new version
/// must not both be current: nginx counted the day twice.
#[test]
fn a_reuploaded_file_replaces_its_previous_version_in_silver() {
    let env = nginx_env();
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/a.log",
        &log(4, 0),
        "2026-03-17T01:00:00Z",
    );
    silver(&env, "nginx", &[], 0);
    deliver(
        &env,
        "nginx",
        "drop/nginx_data/a.log",
        &log(6, 0),
        "2026-03-17T03:00:00Z",
    );
    let s = silver(&env, "nginx", &[], 0);
    assert_eq!(s["objects_superseded"], 1);
    let t = stacked(&read_table(&env, "nginx"));
    assert_eq!(t.height(), 6);
    assert!(strs(&t, "customer_id").iter().all(Option::is_some));
}

/// Held-out-style exports (hand-written, not the generator's): what a real
/// Firebase export, a KYC export of the faulty tool and an `escape=none`
/// nginx log hold, through the binary.
#[test]
fn held_out_exports_are_read_as_a_data_engineer_expects() {
    let env = Env::new();
    env.write(
        "kvt.toml",
        format!(
            "{}{}{}",
            config("firebase", "firebase_data"),
            config("kyc", "kyc"),
            config("nginx", "nginx_data")
        ),
    );
    let ev = |id: &str, ts: &str, dev: &str, user: &str, sess: &str, ver: &str| {
        format!(
            r#"{{"event_id":"{id}","event_timestamp":{ts},"device_id":"{dev}","session_id":"{sess}","user_id":"{user}","platform":"ios","app_version":"{ver}","event_name":"app_open","params":{{}}}}"#
        )
    };
    let fb = [
        ev(
            "1",
            "\"2026-03-17T10:00:00.123+01:00\"",
            "d1",
            "CUST-1",
            "s1",
            "5.0.0",
        ),
        ev(
            "2",
            "\"2026-03-17T09:00:00Z\"",
            "d1",
            "CUST-1",
            "s1",
            "5.0.0",
        ),
        ev("3", "1773741600", "d1", "CUST-1", "s1", "5.0.0"),
        ev(
            "4",
            "1773741600000",
            "crawler-77",
            "anonymous",
            "s2",
            "5.0.0",
        ),
        ev("5", "1773741600000", "d2", "qa_anna", "s3", "5.0.0"),
        ev(
            "6",
            "1773741600000",
            "d3",
            "CUST-2",
            "00000000-0000-0000-0000-000000000000",
            "5.0.0",
        ),
        ev("7", "1773741600000", "d4", "CUST-3", "s4", "5.1.0-debug"),
    ]
    .join("\n");
    drop_file(
        &env,
        "drop/firebase_data/events.ndjson",
        &fb,
        "2026-03-17T05:00:00Z",
    );
    let kyc = "kyc_ref,prestataire_ref,customer_id,doc_type,doc_pays_emission,doc_date_expiration,statut_verification,motif_refus,agent_traitement,nb_tentatives,date_soumission,date_traitement,date_validation,commentaire_interne,export_month\nK1,P1,CUST-1,cni,FR,2032-28-10,Validé,,A,1,2026-11-03,2026-13-03,2026-17-03,,2026-03\n";
    drop_file(&env, "drop/kyc/kyc_export.csv", kyc, "2026-03-17T05:00:00Z");
    let ngx = [
        r#"10.1.2.3 - CUST-1 [17/Mar/2026:15:05:09 +0100] "GET /p/1 HTTP/1.1" 200 512 "-" "Mozilla/5.0 "KiVendTout embed" (Linux)" 0.031"#,
        r#"10.1.2.3 - - [17/Mar/2026:15:05:10 +0100] "GET / HTTP/1.1" 304 0 "-" "curl/8.0""#,
        r#"10.1.2.3 - CUST-1 [17/Mar/2026:15:05:11 +0100] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0" 1."#,
    ]
    .join("\n");
    drop_file(
        &env,
        "drop/nginx_data/access.log",
        &ngx,
        "2026-03-17T05:00:00Z",
    );
    for s in ["firebase", "kyc", "nginx"] {
        ingest(&env, s);
    }
    let s = silver(&env, "firebase", &[], 0);
    assert_eq!(
        (s["rows_out"].as_u64(), s["rejected"].as_u64()),
        (Some(3), Some(0)),
        "{s}"
    );
    assert_eq!(s["filtered"], 4);
    assert_eq!(s["filtered_by_rule"]["device_id prefix crawler-"], 1);
    assert_eq!(s["filtered_by_rule"]["user_id prefix qa_"], 1);
    assert_eq!(s["filtered_by_rule"]["session_id prefix 00000000-0000-"], 1);
    assert_eq!(s["filtered_by_rule"]["app_version suffix -debug"], 1);
    let fbt = stacked(&read_table(&env, "firebase"));
    let ts = fbt
        .column("event_timestamp")
        .unwrap()
        .cast(&polars::prelude::DataType::Int64)
        .unwrap();
    let mut ms: Vec<i64> = ts.i64().unwrap().into_no_null_iter().collect();
    ms.sort_unstable();
    assert_eq!(
        ms,
        [1_773_738_000_000, 1_773_738_000_123, 1_773_741_600_000]
    );

    silver(&env, "kyc", &[], 0);
    let k = stacked(&read_table(&env, "kyc"));
    assert_eq!(
        crate::common::silver::bools(&k, "document_valide_a_la_soumission"),
        [Some(true)]
    );
    assert_eq!(
        crate::common::silver::bools(&k, "expiration_illisible"),
        [Some(false)]
    );
    assert!(k.column("doc_pays_emission").is_err() && k.column("doc_date_expiration").is_err());

    // 1 of 3 lines is cut inside `$request_time`: above the 5 % tolerance.
    let s = silver(&env, "nginx", &[], 1);
    assert_eq!(
        (s["rows_out"].as_u64(), s["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    let n = stacked(&read_table(&env, "nginx"));
    assert_eq!(
        crate::common::silver::ints(&n, "status_code"),
        [Some(200), Some(304)]
    );
}
