//! Operating kvt (issue 11): the nightly chain through `cron/kvt-step`
//! (success; a failure that retries, notifies once and blocks downstream;
//! one run at a time), `kvt status` from the run history in the lake, the
//! metrics the Grafana dashboards query, OpenLineage events validated
//! against the vendored official schemas, and OPS-10 answered from them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::services::{self, free_port, unique_prefix};
use crate::common::silver::{config, generate};
use crate::common::{run, run_expect, topics_with_events, Env};

/// The generated days, and the morning after (every step's clock).
const FROM: &str = "2026-03-16";
const TO: &str = "2026-03-17";
const TODAY: &str = "2026-03-18";
const NOW: &str = "2026-03-18T06:50:00Z";
const KEY: &str = "ops-test-pseudonymisation-key-0123456789";

/// Source, bronze prefix, schedule (OPS-13).
const SOURCES: [(&str, &str, &str); 5] = [
    ("nginx", "nginx_data", "0 1 * * *"),
    ("firebase", "firebase_data", "0 2 * * *"),
    ("kyc", "kyc", "0 3 * * *"),
    ("crm", "crm_data", "0 6 * * 1"),
    ("logistics", "logistic_partner_data", "0 */4 * * *"),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_kvt"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn kvt_toml() -> String {
    let mut t: String = SOURCES
        .iter()
        .map(|(s, p, when)| format!("{}schedule = \"{when}\"\n", config(s, p)))
        .collect();
    // The quality of nginx lines is not under test here.
    t.push_str("\n[silver]\nnginx_tolerance = 1.0\n");
    t
}

/// The tail of every kvt-step log, for failure messages.
fn common_logs(env: &Env) -> String {
    let mut out = String::new();
    if let Ok(dir) = std::fs::read_dir(env.path().join("log")) {
        for e in dir.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out.push_str(&format!("--- {}\n", e.path().display()));
            for l in tail.iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// `cron/kvt-step ARGS` in `env`, with kvt on PATH and the night's settings.
fn step(env: &Env, vars: &[(&str, String)], args: &[&str]) -> Command {
    let mut c = Command::new(repo().join("cron/kvt-step"));
    c.current_dir(env.path()).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("KVT_") || k.starts_with("AWS_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.env("PATH", path)
        .env("KVT_NOW", NOW)
        .env("KVT_STEP_TODAY", TODAY)
        .env("KVT_STORE", format!("file://{}", env.lake().display()))
        .env("KVT_METRICS_DIR", env.path().join("metrics"))
        .env(
            "KVT_OPENLINEAGE_URL",
            format!("file://{}", env.path().join("lineage.jsonl").display()),
        )
        .env("KVT_STEP_RETRY_DELAY", "0");
    for (k, v) in vars {
        c.env(k, v);
    }
    c.args(args);
    c
}

fn status(env: &Env, code: i32) -> Value {
    let out = run_expect(
        env.kvt().env("KVT_NOW", NOW).args(["status", "--json"]),
        code,
    );
    serde_json::from_str(out.stdout.trim()).unwrap()
}

fn state_of(s: &Value, step: &str) -> String {
    s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["step"] == step)
        .unwrap_or_else(|| panic!("no step {step} in {s}"))["state"]
        .as_str()
        .unwrap()
        .to_string()
}

/// GET `path` on 127.0.0.1:`port`; the body when the answer is 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Metric names of a Prometheus exposition (samples and TYPE lines).
fn prom_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut w = rest.split_whitespace();
            let (name, kind) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
            out.insert(name.to_string());
            if kind == "histogram" {
                for s in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{name}{s}"));
                }
            }
        } else if !l.starts_with('#') && !l.trim().is_empty() {
            out.insert(l.split(['{', ' ']).next().unwrap().to_string());
        }
    }
    out
}

/// Every `kvt_*` name a dashboard's PromQL expressions use.
fn dashboard_metrics(file: &str) -> BTreeSet<String> {
    let d: Value =
        serde_json::from_slice(&std::fs::read(repo().join("examples/grafana").join(file)).unwrap())
            .unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("expr", Value::String(s)) => out.push(s.clone()),
                        _ => walk(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&d, &mut exprs);
    let re = regex::Regex::new(r"kvt_[a-z0-9_]+").unwrap();
    let names: BTreeSet<String> = exprs
        .iter()
        .flat_map(|e| re.find_iter(e).map(|m| m.as_str().to_string()))
        // `{__name__=~"kvt_.*_duration_seconds"}` is a pattern, not a name.
        .filter(|n| !n.ends_with('_'))
        .collect();
    assert!(!names.is_empty(), "{file} queries no kvt metric");
    names
}

/// The vendored OpenLineage schemas, by `$id`.
struct Schemas(BTreeMap<String, Value>);

impl Schemas {
    fn load() -> Schemas {
        let dir = repo().join("tests/fixtures/openlineage");
        let mut m = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                m.insert(v["$id"].as_str().unwrap().to_string(), v);
            }
        }
        Schemas(m)
    }
}

impl jsonschema::Retrieve for Schemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let u = uri.as_str().split('#').next().unwrap_or_default();
        self.0.get(u).cloned().ok_or_else(|| {
            format!("schema {u} is not vendored in tests/fixtures/openlineage").into()
        })
    }
}

/// Validate every event and every facet against the schema its
/// `schemaURL`/`_schemaURL` names (which must be vendored).
fn validate_events(events: &[Value]) {
    let mut validators: BTreeMap<String, jsonschema::Validator> = BTreeMap::new();
    let mut check = |url: &str, instance: &Value, what: &str| {
        let v = validators.entry(url.to_string()).or_insert_with(|| {
            jsonschema::options()
                .should_validate_formats(true)
                .with_retriever(Schemas::load())
                .build(&json!({"$ref": url}))
                .unwrap_or_else(|e| panic!("schema {url}: {e}"))
        });
        let errors: Vec<String> = v
            .iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not validate against {url}: {errors:?}\n{instance}"
        );
    };
    for ev in events {
        let url = ev["schemaURL"].as_str().expect("schemaURL");
        assert!(
            url.starts_with("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"),
            "{url}"
        );
        check(url, ev, "event");
        let mut facets: Vec<(&str, &Value)> = Vec::new();
        for group in [&ev["run"]["facets"], &ev["job"]["facets"]] {
            if let Some(m) = group.as_object() {
                facets.extend(m.iter().map(|(k, v)| (k.as_str(), v)));
            }
        }
        for side in ["inputs", "outputs"] {
            for d in ev[side].as_array().unwrap() {
                for g in ["facets", "inputFacets", "outputFacets"] {
                    if let Some(m) = d[g].as_object() {
                        facets.extend(m.iter().map(|(k, v)| (k.as_str(), v)));
                    }
                }
            }
        }
        for (name, f) in facets {
            let url = f["_schemaURL"]
                .as_str()
                .unwrap_or_else(|| panic!("facet {name} without _schemaURL"));
            check(url, f, name);
        }
    }
}

fn dataset_id(d: &Value) -> String {
    format!(
        "{}|{}",
        d["namespace"].as_str().unwrap(),
        d["name"].as_str().unwrap()
    )
}

/// OPS-10: every dataset downstream of `start`, following the COMPLETE
/// events (a run reading a dataset makes its outputs affected).
fn downstream(events: &[Value], start: &str) -> BTreeSet<String> {
    let runs: Vec<(BTreeSet<String>, BTreeSet<String>)> = events
        .iter()
        .filter(|e| e["eventType"] == "COMPLETE")
        .map(|e| {
            let ids = |side: &str| e[side].as_array().unwrap().iter().map(dataset_id).collect();
            (ids("inputs"), ids("outputs"))
        })
        .collect();
    let mut affected = BTreeSet::from([start.to_string()]);
    loop {
        let before = affected.len();
        for (ins, outs) in &runs {
            if ins.iter().any(|i| affected.contains(i)) {
                affected.extend(outs.iter().cloned());
            }
        }
        if affected.len() == before {
            return affected;
        }
    }
}

/// The gold tables among datasets (`…/gold/<table>`).
fn gold_tables(ids: &BTreeSet<String>) -> BTreeSet<String> {
    ids.iter()
        .filter_map(|id| {
            id.split_once("/gold/")
                .map(|(_, t)| t.trim_end_matches('/').to_string())
        })
        .filter(|t| !t.contains('/'))
        .collect()
}

#[test]
fn the_nightly_chain_runs_under_cron_and_is_observable() {
    let (Some(broker), Some(pg)) = (services::broker(), services::postgres()) else {
        return;
    };
    let env = Env::new();
    generate(
        &env.path().join("drop"),
        &[
            "--from", FROM, "--to", TO, "--scale", "0.02", "--seed", "11",
        ],
    );
    env.write("kvt.toml", kvt_toml());
    let prefix = unique_prefix("ops");
    topics_with_events(&broker.addr, &env.path().join("drop/events"), &prefix);
    let vars = vec![
        ("KVT_KAFKA_BROKERS", broker.addr.clone()),
        ("KVT_IDLE_TIMEOUT", "3s".to_string()),
        ("KVT_PSEUDONYM_KEY", KEY.to_string()),
        ("KVT_WAREHOUSE_URL", pg.database("ops_night")),
    ];
    let ok = |args: &[&str]| {
        let out = run(&mut step(&env, &vars, args));
        let logs: String = common_logs(&env);
        assert_eq!(out.code, 0, "kvt-step {args:?}: {}\n{logs}", out.stderr);
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "a success prints nothing: {out:?}"
        );
    };

    // The crontab's lines, in the order cron fires them.
    let topics = format!("{prefix}payments,{prefix}orders");
    ok(&[
        "ingest-kafka",
        "--",
        "kvt",
        "ingest",
        "kafka",
        "--topic",
        &topics,
    ]);
    for t in ["payments", "orders"] {
        let topic = format!("{prefix}{t}");
        ok(&[
            "--after",
            "ingest-kafka",
            &format!("silver-{t}"),
            "--",
            "kvt",
            "silver",
            t,
            "--topic",
            &topic,
        ]);
    }
    for (s, _, _) in SOURCES {
        ok(&[&format!("ingest-{s}"), "--", "kvt", "ingest", "drive", s]);
        ok(&[
            "--after",
            &format!("ingest-{s}"),
            &format!("silver-{s}"),
            "--",
            "kvt",
            "silver",
            s,
        ]);
    }
    let mut gold = vec!["--after"];
    let silvers: Vec<String> = [
        "payments",
        "orders",
        "nginx",
        "firebase",
        "kyc",
        "crm",
        "logistics",
    ]
    .iter()
    .map(|s| format!("silver-{s}"))
    .collect();
    for (i, s) in silvers.iter().enumerate() {
        if i > 0 {
            gold.push("--after");
        }
        gold.push(s);
    }
    gold.extend(["gold", "--", "kvt", "gold"]);
    ok(&gold);
    ok(&["--after", "gold", "load", "--", "kvt", "load"]);
    // The gate's threshold is not under test: the generated days are small.
    let out = run(&mut step(
        &env,
        &vars,
        &[
            "--after",
            "load",
            "check",
            "--",
            "kvt",
            "check",
            "--threshold",
            "0",
        ],
    ));
    assert_eq!(out.code, 0, "{out:?}");

    // The wrapper kept the logs, the summaries and the day's outcome.
    let log = env.path().join("log");
    let summaries = std::fs::read_to_string(log.join("gold.jsonl")).unwrap();
    let last: Value = serde_json::from_str(summaries.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["command"].as_str(), last["status"].as_str()),
        (Some("gold"), Some("ok"))
    );
    let st = std::fs::read_to_string(env.path().join("state/status/check")).unwrap();
    assert!(st.starts_with(&format!("{TODAY} ok 0 ")), "{st}");

    // kvt status: every expected step ran since it was due, and succeeded.
    let s = status(&env, 0);
    assert_eq!(s["attention"], false, "{s:#}");
    let steps: BTreeMap<String, String> = s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["step"].as_str().unwrap().to_string(),
                x["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        "ingest kafka",
        "ingest drive crm",
        "silver orders",
        "silver nginx",
        "gold",
        "load",
        "check",
    ] {
        assert_eq!(
            steps.get(want).map(String::as_str),
            Some("ok"),
            "{want}: {s:#}"
        );
    }
    assert!(steps.values().all(|v| v == "ok"), "{steps:?}");
    let table = run_expect(env.kvt().env("KVT_NOW", NOW).arg("status"), 0).stdout;
    assert!(
        table.contains("silver logistics") && table.contains("OK"),
        "{table}"
    );
    // Later the same day nothing new is due; the next night everything is.
    let next = run_expect(
        env.kvt()
            .env("KVT_NOW", "2026-03-19T09:00:00Z")
            .args(["status", "--json"]),
        1,
    );
    let next: Value = serde_json::from_str(next.stdout.trim()).unwrap();
    assert_eq!(state_of(&next, "gold"), "late");
    assert_eq!(
        state_of(&next, "ingest drive crm"),
        "ok",
        "weekly: due on Mondays only"
    );

    // Metrics: one naming scheme, and every metric the batch dashboard queries exists.
    let mut batch = BTreeSet::new();
    for e in std::fs::read_dir(env.path().join("metrics")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "prom") {
            batch.extend(prom_names(&std::fs::read_to_string(&p).unwrap()));
        }
    }
    for name in [
        "kvt_ingest_drive_success",
        "kvt_ingest_kafka_messages",
        "kvt_silver_rows_rejected",
        "kvt_gold_rows",
        "kvt_load_rows_per_table",
        "kvt_check_pass_rate",
        "kvt_check_last_success_timestamp_seconds",
    ] {
        assert!(batch.contains(name), "{name} not emitted: {batch:?}");
    }
    assert!(batch.iter().all(|n| n.starts_with("kvt_")));
    let silver_prom =
        std::fs::read_to_string(env.path().join("metrics/kvt_silver_nginx_nginx.prom")).unwrap();
    assert!(
        silver_prom.contains("kvt_silver_success{source=\"nginx\"} 1"),
        "{silver_prom}"
    );
    let missing: Vec<_> = dashboard_metrics("kvt-batch.json")
        .difference(&batch)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "kvt-batch.json queries metrics kvt does not emit: {missing:?}"
    );

    // The fraud dashboard: what a fraud job and the KYC service serve on /metrics.
    let port = free_port();
    let mut fraud = env
        .kvt()
        .env("KVT_NOW", NOW)
        .env("KVT_KAFKA_BROKERS", &broker.addr)
        .args([
            "fraud",
            "run",
            "payments",
            "--from-beginning",
            "--exit-when-idle",
            "4s",
            "--checkpoint-interval",
            "1s",
        ])
        .args([
            "--topic-prefix",
            &prefix,
            "--metrics-listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut live = BTreeSet::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if let Some(body) = http_get(port, "/metrics") {
            live.extend(prom_names(&body));
            if body.contains("kvt_fraud_consumer_lag_messages{") {
                break;
            }
        }
        if fraud.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = fraud.kill();
    let _ = fraud.wait();
    assert!(
        live.contains("kvt_fraud_consumer_lag_messages"),
        "no consumer lag on /metrics: {live:?}"
    );
    let kyc_port = free_port();
    let mut kyc = env
        .kvt()
        .args([
            "kyc",
            "serve",
            "--listen",
            &format!("127.0.0.1:{kyc_port}"),
            "--dev-key",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let body = loop {
        if let Some(b) = http_get(kyc_port, "/metrics") {
            break b;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "kyc serve did not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = kyc.kill();
    let _ = kyc.wait();
    live.extend(prom_names(&body));
    let missing: Vec<_> = dashboard_metrics("kvt-fraud.json")
        .difference(&live)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "kvt-fraud.json queries metrics kvt does not serve: {missing:?}"
    );

    // Lineage: every event validates against the official schema, pinned.
    let events: Vec<Value> = std::fs::read_to_string(env.path().join("lineage.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    validate_events(&events);
    // OPS-10: which gold tables does a corrupt source file affect? From the
    // events alone: the file → its ingestion → bronze → silver → gold → warehouse.
    let landed = |source: &str| -> String {
        let ev = events
            .iter()
            .find(|e| {
                e["eventType"] == "COMPLETE" && e["job"]["name"] == format!("ingest_drive.{source}")
            })
            .unwrap();
        let file = ev["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"].as_str().unwrap().contains('.'))
            .unwrap_or_else(|| panic!("no source file among the inputs of {ev}"));
        dataset_id(file)
    };
    let nginx = downstream(&events, &landed("nginx"));
    let crm = downstream(&events, &landed("crm"));
    let (g_nginx, g_crm) = (gold_tables(&nginx), gold_tables(&crm));
    for t in [
        "fact_evenement_web",
        "gold_web_quotidien",
        "gold_web_endpoints",
    ] {
        assert!(
            g_nginx.contains(t),
            "an nginx file affects {t}: {g_nginx:?}"
        );
    }
    for t in ["fact_paiement", "dim_date", "gold_logistics_kpi"] {
        assert!(
            !g_nginx.contains(t),
            "an nginx file does not affect {t}: {g_nginx:?}"
        );
    }
    for t in ["dim_client", "gold_customer_360"] {
        assert!(g_crm.contains(t), "a CRM file affects {t}: {g_crm:?}");
    }
    assert!(!g_crm.contains("fact_evenement_web"), "{g_crm:?}");
    // Exactly the tables whose declared reads include the source's silver table.
    let expect = |silver: &str| -> BTreeSet<String> {
        kvt::gold::TABLES
            .iter()
            .filter(|t| kvt::gold::reads(t).contains(&silver))
            .map(|t| t.name.to_string())
            .collect()
    };
    assert_eq!(g_nginx, expect("nginx"));
    assert_eq!(g_crm, expect("crm"));
    // … and on to the warehouse tables.
    assert!(
        nginx.iter().any(|d| d.ends_with("|kvt.fact_evenement_web")),
        "{nginx:?}"
    );
    // Which runs produced an indicator table this morning: a child run of gold.
    let producer = events
        .iter()
        .find(|e| {
            e["eventType"] == "COMPLETE"
                && e["outputs"].as_array().unwrap().iter().any(|d| {
                    d["name"]
                        .as_str()
                        .unwrap()
                        .ends_with("/gold/gold_customer_360")
                })
                && e["run"]["facets"]["parent"].is_object()
        })
        .expect("a gold child run writes gold_customer_360");
    assert_eq!(producer["run"]["facets"]["parent"]["job"]["name"], "gold");
}

/// A webhook receiver on loopback: every request body.
fn webhook() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut r = BufReader::new(conn);
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            sink.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = r
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

#[test]
fn a_failed_step_retries_notifies_once_and_blocks_the_chain() {
    let env = Env::new();
    generate(
        &env.path().join("drop"),
        &[
            "--from",
            TO,
            "--to",
            TO,
            "--scale",
            "0.02",
            "--seed",
            "5",
            "--sources",
            "crm",
        ],
    );
    // One source, no Kafka at this site: only its steps and the warehouse's are expected.
    env.write(
        "kvt.toml",
        format!(
            "{}schedule = \"0 6 * * 1\"\n\n[schedule]\nkafka = \"off\"\n",
            config("crm", "crm_data")
        ),
    );
    let (url, hooks) = webhook();
    let vars = vec![("KVT_NOTIFY_URL", url)];

    let out = run(&mut step(
        &env,
        &vars,
        &["ingest-crm", "--", "kvt", "ingest", "drive", "crm"],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    // Silver without its pseudonymisation key: an error, retried once, then notified.
    let out = run(&mut step(
        &env,
        &vars,
        &[
            "--retries",
            "1",
            "--after",
            "ingest-crm",
            "silver-crm",
            "--",
            "kvt",
            "silver",
            "crm",
        ],
    ));
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l
                .starts_with("kvt-step: step silver-crm failed with exit 2 after 2 attempt(s)"))
            .count(),
        1,
        "{}",
        out.stderr
    );
    let log = std::fs::read_to_string(env.path().join("log/silver-crm.log")).unwrap();
    assert!(
        log.contains("attempt 2/2: kvt silver crm") && log.contains("KVT_PSEUDONYM_KEY"),
        "{log}"
    );
    let summaries = std::fs::read_to_string(env.path().join("log/silver-crm.jsonl")).unwrap();
    assert_eq!(summaries.lines().count(), 2, "one summary per attempt");
    // Downstream refuses to start: exit 3, not notified again, gold never ran.
    let out = run(&mut step(
        &env,
        &vars,
        &["--after", "silver-crm", "gold", "--", "kvt", "gold"],
    ));
    assert_eq!(out.code, 3, "{out:?}");
    assert!(!env.lake().join("gold").exists());
    let got = hooks.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one notification: {got:?}");
    let hook: Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(hook["step"], "silver-crm");
    assert_eq!(hook["exit_code"], 2);
    assert_eq!(hook["attempts"], 2);
    assert_eq!(hook["day"], TODAY);
    assert!(hook["text"].as_str().unwrap().contains("silver-crm failed"));
    assert_eq!(hook["summary"]["status"], "error", "{hook}");
    let st = std::fs::read_to_string(env.path().join("state/status/gold")).unwrap();
    assert!(st.starts_with(&format!("{TODAY} refused 3 ")), "{st}");

    // kvt status: silver crm failed (with its error), attention, exit 1.
    let s = status(&env, 1);
    assert_eq!(state_of(&s, "silver crm"), "failed");
    assert_eq!(state_of(&s, "ingest drive crm"), "ok");
    assert_eq!(
        state_of(&s, "gold"),
        "pending",
        "due 06:30, within the hour of grace"
    );
    let crm = s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["step"] == "silver crm")
        .unwrap();
    assert_eq!(crm["runs_failed"], 2);
    assert!(
        crm["last_run"]["error"]
            .as_str()
            .unwrap()
            .contains("KVT_PSEUDONYM_KEY"),
        "{crm}"
    );
    // A lock held in the lake is shown with its holder.
    let me = std::process::id();
    env.write(
        "lake/_locks/load/kvt.lock",
        json!({"run_id": "r-held", "host": "ops-host", "pid": me, "acquired_at": "2026-03-18T06:40:00Z"}).to_string(),
    );
    let s = status(&env, 1);
    assert_eq!(state_of(&s, "load"), "running");
    let table = run_expect(env.kvt().env("KVT_NOW", NOW).arg("status"), 1).stdout;
    assert!(
        table.contains("lock  load: held by pid") && table.contains("ops-host"),
        "{table}"
    );
    assert!(table.contains("error silver crm:"), "{table}");

    // The next attempt succeeds: the chain is unblocked.
    // (Five minutes later: with a fixed clock, runs of the same instant are unordered.)
    let ok = vec![
        ("KVT_PSEUDONYM_KEY", KEY.to_string()),
        ("KVT_NOW", "2026-03-18T06:55:00Z".to_string()),
    ];
    let out = run(&mut step(
        &env,
        &ok,
        &[
            "--after",
            "ingest-crm",
            "silver-crm",
            "--",
            "kvt",
            "silver",
            "crm",
        ],
    ));
    assert_eq!(out.code, 0, "{out:?}");
    let out = run_expect(
        env.kvt()
            .env("KVT_NOW", "2026-03-18T07:00:00Z")
            .args(["status", "--json"]),
        0,
    );
    let s: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(state_of(&s, "silver crm"), "ok", "the last run decides");
}

#[test]
fn one_run_at_a_time_and_usage_errors() {
    use std::os::fd::AsRawFd as _;
    let env = Env::new();
    // Another run of the step holds its lock (the wrapper's flock on
    // state/locks/STEP.lock, taken here as a running kvt-step takes it).
    std::fs::create_dir_all(env.path().join("state/locks")).unwrap();
    let held = std::fs::File::create(env.path().join("state/locks/hold.lock")).unwrap();
    // SAFETY: flock on a file descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let out = run(&mut step(&env, &[], &["hold", "--", "touch", "ran"]));
    assert_eq!(
        out.code, 4,
        "a second run while the first holds the lock exits 4: {out:?}"
    );
    assert!(!env.path().join("ran").exists(), "and does not run");
    let log = std::fs::read_to_string(env.path().join("log/hold.log")).unwrap();
    assert!(log.contains("already running"), "{log}");
    drop(held);
    assert_eq!(run(&mut step(&env, &[], &["hold", "--", "true"])).code, 0);
    assert_eq!(run(&mut step(&env, &[], &["no-command"])).code, 64);
    assert_eq!(
        run(&mut step(&env, &[], &["--retries", "x", "s", "--", "true"])).code,
        64
    );
    assert_eq!(
        run(&mut step(&env, &[], &["bad/name", "--", "true"])).code,
        64
    );
    // Exit 1 (the data said no) is not retried.
    let out = run(&mut step(
        &env,
        &[],
        &[
            "--retries",
            "3",
            "verdict",
            "--",
            "sh",
            "-c",
            "echo '{\"status\":\"rejected\"}'; exit 1",
        ],
    ));
    assert_eq!(out.code, 1);
    let log = std::fs::read_to_string(env.path().join("log/verdict.log")).unwrap();
    assert_eq!(
        log.matches("attempt ").count(),
        2,
        "one attempt, started and ended: {log}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli() {
    let env = Env::new();
    let bash = run_expect(env.kvt().args(["completions", "bash"]), 0).stdout;
    assert!(
        bash.contains("_kvt()") && bash.contains("status") && bash.contains("--openlineage-url")
    );
    let zsh = run_expect(env.kvt().args(["completions", "zsh"]), 0).stdout;
    assert!(zsh.starts_with("#compdef kvt"));
    let fish = run_expect(env.kvt().args(["completions", "fish"]), 0).stdout;
    assert!(fish.contains("complete -c kvt"));
    let man = run_expect(env.kvt().arg("man"), 0).stdout;
    assert!(
        man.starts_with(".ie") || man.starts_with(".TH"),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(man.contains(".TH kvt 1") && man.contains("status"));
    // Completions and the man page print no summary line and need no lake.
    assert!(!env.lake().exists());
}

#[test]
fn systemd_units_verify() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze not installed: unit files not verified");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let kvt = env!("CARGO_BIN_EXE_kvt");
    for e in std::fs::read_dir(repo().join("examples/systemd")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "service") {
            continue;
        }
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("/opt/kvt/bin/kvt", kvt);
        let unit = dir.path().join(p.file_name().unwrap());
        std::fs::write(&unit, text).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let problems: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains("Failed to load") && !l.trim().is_empty())
            .filter(|l| !l.contains("User=") && !l.contains("not running as PID 1"))
            .collect();
        assert!(problems.is_empty(), "{}: {problems:?}", p.display());
    }
}

/// ingest (5 drive sources + Kafka) → silver (7) → gold → load, plain kvt,
/// on the lake `store`, into `warehouse`.
fn chain(env: &Env, store: &str, extra: &[(&str, String)], topics_prefix: &str, warehouse: &str) {
    let kvt = || {
        let mut c = env.kvt();
        c.env("KVT_NOW", NOW)
            .env("KVT_STORE", store)
            .env("KVT_PSEUDONYM_KEY", KEY)
            .env("KVT_IDLE_TIMEOUT", "3s")
            .env("KVT_WAREHOUSE_URL", warehouse);
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    };
    for (s, _, _) in SOURCES {
        run_expect(kvt().args(["ingest", "drive", s]), 0);
    }
    run_expect(
        kvt()
            .args(["ingest", "kafka", "--topic"])
            .arg(format!("{topics_prefix}payments,{topics_prefix}orders")),
        0,
    );
    for (s, _, _) in SOURCES {
        run_expect(kvt().args(["silver", s]), 0);
    }
    for t in ["payments", "orders"] {
        run_expect(
            kvt()
                .args(["silver", t, "--topic"])
                .arg(format!("{topics_prefix}{t}")),
            0,
        );
    }
    run_expect(kvt().arg("gold"), 0);
    run_expect(kvt().arg("load"), 0);
}

#[test]
fn the_chain_on_s3_loads_the_same_warehouse_as_on_files() {
    let (Some(broker), Some(pg), Some(s3)) =
        (services::broker(), services::postgres(), services::s3())
    else {
        return;
    };
    let env = Env::new();
    generate(
        &env.path().join("drop"),
        &["--from", TO, "--to", TO, "--scale", "0.02", "--seed", "12"],
    );
    env.write("kvt.toml", kvt_toml());
    // Short names: s3s-fs keeps each object's metadata in a file named after
    // the whole key (base64), and a file name cannot exceed 255 bytes — the
    // rejects key of a Kafka object holds its topic twice.
    let prefix = format!("s{}", std::process::id() % 100_000);
    topics_with_events(&broker.addr, &env.path().join("drop/events"), &prefix);
    let kafka = vec![("KVT_KAFKA_BROKERS", broker.addr.clone())];
    let on_files = pg.database("ops_files");
    chain(
        &env,
        &format!("file://{}", env.lake().display()),
        &kafka,
        &prefix,
        &on_files,
    );
    // The same day on S3: a second consumer group reads the topics again.
    let mut s3_env: Vec<(&str, String)> = s3.env();
    s3_env.extend(kafka);
    s3_env.push(("KVT_KAFKA_GROUP", format!("{prefix}s3")));
    let on_s3 = pg.database("ops_s3");
    let bucket = s3.bucket("ops");
    chain(&env, &format!("s3://{bucket}/l"), &s3_env, &prefix, &on_s3);
    // Nothing of the S3 run landed on the local disk.
    assert!(!env.path().join("s3").exists());
    for t in kvt::gold::TABLES {
        let q = format!(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM kvt.{} x",
            t.name
        );
        assert_eq!(
            pg.psql(&on_files, &q),
            pg.psql(&on_s3, &q),
            "table {} differs between file:// and s3://",
            t.name
        );
    }
}

/// The target directory (where `make` installs Airflow and the tools).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

#[test]
fn the_airflow_dag_runs_the_chain_and_a_failed_silver_stops_gold() {
    let dir = target_dir().join("airflow");
    if !dir.join("venv/bin/airflow").exists() && !crate::common::in_ci() {
        eprintln!("Airflow is not installed (make airflow): DAG not run");
        return;
    }
    let tools = std::env::var_os("KVT_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("tools"));
    let dag_test = |extra: &[&str]| -> Value {
        let out = Command::new(repo().join("scripts/airflow.sh"))
            .arg("test")
            .args(extra)
            .arg(&dir)
            .env("KVT_BIN_DIR", bin_dir())
            .env("KVT_TOOLS_DIR", &tools)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "scripts/airflow.sh test {extra:?}:\n{stderr}"
        );
        assert!(
            !stderr.contains("airflow.toml"),
            "kvt.toml's [airflow] table was refused:\n{stderr}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
    };
    // Every task of the nightly DAG succeeds, in the real Airflow.
    let ok = dag_test(&["--scale", "0.2"]);
    let states = ok["states"].as_object().unwrap();
    assert_eq!(states.len(), 16, "{ok}");
    assert!(states.values().all(|s| s == "success"), "{ok}");
    // A silver failure (no pseudonymisation key) stops gold, load and check.
    let ko = dag_test(&["--scale", "0.2", "--fail-silver"]);
    let s = &ko["states"];
    assert_eq!(s["ingest_drive_crm"], "success", "{ko}");
    assert_eq!(s["silver_crm"], "failed", "{ko}");
    for t in ["gold", "load", "check"] {
        assert_eq!(s[t], "upstream_failed", "{ko}");
    }
}

#[test]
fn make_install_puts_binaries_completions_and_man_page_under_prefix() {
    let prefix = tempfile::tempdir().unwrap();
    let out = Command::new("make")
        .current_dir(repo())
        .args(["-s", "install"])
        .arg(format!("PREFIX={}", prefix.path().display()))
        .arg(format!("BIN={}", bin_dir().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = prefix.path();
    for bin in ["kvt", "kvt-gen", "kvt-step"] {
        let meta = std::fs::metadata(p.join("bin").join(bin)).unwrap();
        assert!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0,
            "{bin} is executable"
        );
    }
    let read = |rel: &str| std::fs::read_to_string(p.join(rel)).unwrap();
    assert!(read("share/man/man1/kvt.1").contains(".TH kvt 1"));
    assert!(read("share/bash-completion/completions/kvt").contains("_kvt()"));
    assert!(read("share/zsh/site-functions/_kvt").starts_with("#compdef kvt"));
    assert!(read("share/fish/vendor_completions.d/kvt.fish").contains("complete -c kvt"));
    // The installed kvt runs.
    let v = Command::new(p.join("bin/kvt"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("kvt "));
}

/// OPS-6 and OPS-13 in the generated DAGs: retries 2 × 5 min, no catch-up,
/// one run at a time, and each per-schedule DAG at its SPEC time.
#[test]
fn the_generated_dags_keep_the_schedules_retries_and_no_catch_up() {
    let venv = target_dir().join("airflow/venv/bin/python");
    if !venv.exists() {
        assert!(
            !crate::common::in_ci(),
            "Airflow is not installed (make airflow)"
        );
        return;
    }
    let env = Env::new();
    std::fs::copy(repo().join("kvt.example.toml"), env.path().join("kvt.toml")).unwrap();
    let script = r#"
import json
from airflow.models import DagBag
b = DagBag(DAGS, include_examples=False)
assert not b.import_errors, b.import_errors
out = {}
for i, d in b.dags.items():
    t = d.get_task(d.task_ids[-1])
    out[i] = {"catchup": d.catchup, "max_active_runs": d.max_active_runs,
              "schedule": str(d.schedule_interval), "retries": t.retries,
              "retry_delay": t.retry_delay.total_seconds(), "tasks": len(d.tasks)}
print(json.dumps(out))
"#
    .replace(
        "DAGS",
        &format!(
            "{:?}",
            repo().join("examples/airflow").display().to_string()
        ),
    );
    let out = Command::new(&venv)
        .arg("-c")
        .arg(script)
        .current_dir(env.path())
        .env("AIRFLOW_HOME", env.path().join("airflow-home"))
        .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        .env("KVT_CONFIG", env.path().join("kvt.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dags: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for (id, d) in dags.as_object().unwrap() {
        assert_eq!(d["catchup"], false, "{id}");
        assert_eq!(d["max_active_runs"], 1, "{id}");
    }
    let nightly = &dags["kvt_nightly"];
    assert_eq!(
        (nightly["tasks"].as_u64(), nightly["retries"].as_u64()),
        (Some(16), Some(2))
    );
    assert_eq!(nightly["retry_delay"], 300.0);
    for (dag, when) in [
        ("kvt_ingest_kafka", "0 0 * * *"),
        ("kvt_drive_nginx", "0 1 * * *"),
        ("kvt_drive_firebase", "0 2 * * *"),
        ("kvt_drive_kyc", "0 3 * * *"),
        ("kvt_drive_crm", "0 6 * * 1"),
        ("kvt_drive_logistics", "0 */4 * * *"),
    ] {
        assert_eq!(dags[dag]["schedule"], when, "{dag}");
        assert_eq!(dags[dag]["retries"], 2, "{dag}");
    }
}
