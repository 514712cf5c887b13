//! `kvt kyc verify|serve|purge|erase` through the real binary, with real
//! Tesseract, on documents rendered by `kvt-gen documents` (OCR-B MRZ,
//! DejaVu visual zone, the degradations of real uploads); the table in the
//! project's private PostgreSQL and the event on tansu.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::services::{self, free_port};
use crate::common::{in_ci, kvt_gen, run, run_expect, Env};

/// The day documents are checked on (ages and expiry are relative to it).
const TODAY: &str = "2026-12-03";
const NOW: &str = "2026-12-03T10:00:00Z";

fn have_tesseract() -> bool {
    let ok = Command::new("tesseract")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && in_ci() {
        panic!("tesseract missing in CI (`make deps` installs tesseract-ocr)");
    }
    if !ok {
        eprintln!("SKIP: tesseract missing; `make test` installs it");
    }
    ok
}

/// A generated document set (rendered once per test binary).
fn documents(set: &'static str) -> Option<&'static Path> {
    static SETS: OnceLock<std::sync::Mutex<BTreeMap<&'static str, &'static Path>>> =
        OnceLock::new();
    if !have_tesseract() {
        return None;
    }
    let sets = SETS.get_or_init(Default::default);
    let mut sets = sets.lock().unwrap();
    if let Some(p) = sets.get(set) {
        return Some(p);
    }
    let dir: &'static Path = Box::leak(
        tempfile::tempdir()
            .unwrap()
            .keep()
            .join(set)
            .into_boxed_path(),
    );
    let out = kvt_gen(&[
        "documents",
        "--out",
        dir.to_str().unwrap(),
        "--today",
        TODAY,
        "--set",
        set,
    ]);
    assert_eq!(out["status"], "ok", "{out}");
    sets.insert(set, dir);
    Some(dir)
}

fn manifest(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(env: &Env, file: &Path, extra: &[&str]) -> crate::common::Output {
    let mut c = env.kvt();
    c.env("KVT_NOW", NOW)
        .args(["kyc", "verify"])
        .arg(file)
        .args(["--order-id", "CMD-1"])
        .args(extra);
    run(&mut c)
}

/// A running `kvt kyc serve` and its address.
struct Server {
    child: Child,
    addr: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(env: &Env, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut c = env.kvt();
        c.env("KVT_NOW", NOW)
            .args(["kyc", "serve", "--listen", &addr])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        assert!(
            services::wait_for_port(port, Duration::from_secs(60)),
            "kyc serve did not listen: {}",
            stderr.lock().unwrap()
        );
        Server {
            child,
            addr,
            stderr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then the summary line and the exit code.
    fn stop(mut self) -> (i32, Value, String) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let summary = stdout
            .lines()
            .last()
            .map(|l| serde_json::from_str(l).unwrap())
            .unwrap_or(Value::Null);
        let stderr = self.stderr.lock().unwrap().clone();
        (out.status.code().unwrap_or(-1), summary, stderr)
    }
}

impl Drop for Server {
    /// A test that fails midway leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl`: status code and body.
fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-S",
            "-H",
            "Expect:",
            "-D",
            "-",
            "-o",
            "-",
            "--max-time",
            "120",
        ])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}

fn post(server: &Server, file: &Path, order: &str, customer: Option<&str>) -> (u16, String, Value) {
    let image = format!("image=@{}", file.display());
    let order = format!("order_id={order}");
    let mut args = vec!["-F", &image, "-F", &order];
    let customer = customer.map(|c| format!("customer_id={c}"));
    if let Some(c) = &customer {
        args.extend(["-F", c]);
    }
    let url = server.url("/kyc/verify");
    args.push(&url);
    let (code, head, body) = curl(&args);
    (
        code,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

#[derive(Default)]
struct Tally {
    n: usize,
    age_right: usize,
    review: usize,
}

#[test]
fn no_minor_is_ever_decided_majeur_on_any_layout_or_degradation() {
    let Some(dir) = documents("test") else { return };
    let env = Env::new();
    let server = Server::start(
        &env,
        &["--workers", "2", "--queue", "200", "--timeout", "120s"],
        &[],
    );
    let cases = manifest(dir);
    // Every document at once: the queue holds them, two workers decide.
    let results: Vec<(Value, u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|c| {
                let file = dir.join(c["file"].as_str().unwrap());
                let server = &server;
                s.spawn(move || {
                    let (code, _, body) = post(server, &file, "CMD-T", None);
                    (c.clone(), code, body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by: BTreeMap<String, Tally> = BTreeMap::new();
    let mut bad = Vec::new();
    let today: chrono::NaiveDate = TODAY.parse().unwrap();
    for (c, code, body) in &results {
        assert_eq!(*code, 200, "{}: {body}", c["file"]);
        let decision = body["decision"].as_str().unwrap();
        let acceptable: Vec<&str> = c["acceptable"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        if !acceptable.contains(&decision) {
            bad.push(format!("{} → {body}", c["file"]));
        }
        assert!(
            !(c["minor"] == true && decision == "majeur"),
            "A MINOR WAS DECIDED MAJEUR: {} → {body}",
            c["file"]
        );
        let birth: chrono::NaiveDate = c["birth"].as_str().unwrap().parse().unwrap();
        let age = kvt::kyc::decide::age(birth, today);
        let t = by
            .entry(c["degradation"].as_str().unwrap().to_string())
            .or_default();
        t.n += 1;
        t.review += usize::from(decision == "en_attente");
        t.age_right += usize::from(
            body["age_computed"].as_u64().map(|a| a as u32) == age && decision != "en_attente",
        );
    }
    eprintln!("degradation | documents | decided with the right age | sent to review");
    for (d, t) in &by {
        eprintln!(
            "{d:12} | {:3} | {:5.1}% | {:5.1}%",
            t.n,
            100.0 * t.age_right as f64 / t.n as f64,
            100.0 * t.review as f64 / t.n as f64
        );
    }
    assert!(
        bad.is_empty(),
        "unacceptable decisions:\n{}",
        bad.join("\n")
    );
    // Clean documents that can be decided are decided (not all sent to review):
    // an always-`en_attente` reader would pass the safety checks above.
    let decidable: Vec<&(Value, u16, Value)> = results
        .iter()
        .filter(|(c, _, _)| c["degradation"] == "clean" && c["ideal"] != "en_attente")
        .collect();
    let decided = decidable
        .iter()
        .filter(|(c, _, b)| b["decision"] == c["ideal"])
        .count();
    assert!(
        decided * 10 >= decidable.len() * 7,
        "only {decided}/{} clean decidable documents were decided",
        decidable.len()
    );
    let (code, summary, _) = server.stop();
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["decisions"], results.len());
}

#[test]
fn verify_prints_the_decision_and_records_the_row_and_the_event() {
    let Some(dir) = documents("demo") else { return };
    let Some(pg) = services::postgres() else {
        return;
    };
    let Some(broker) = services::broker() else {
        return;
    };
    let env = Env::new();
    let url = pg.database("kyc");
    let topic = format!("{}kyc_decisions", services::unique_prefix("kyc"));
    let cases = manifest(dir);
    let adult = cases.iter().find(|c| c["ideal"] == "majeur").unwrap();
    let file = dir.join(adult["file"].as_str().unwrap());
    // A topic that does not exist: a clear error before any OCR.
    let mut c = env.kvt();
    c.env("KVT_NOW", NOW)
        .env("KVT_KAFKA_BROKERS", &broker.addr)
        .args(["kyc", "verify"])
        .arg(&file)
        .args(["--order-id", "CMD-8", "--dev-key", "--topic", &topic]);
    let out = run_expect(&mut c, 2);
    assert!(
        out.summary()["error"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{}",
        out.stdout
    );
    kvt::kafka::ClientSettings::new(broker.addr.as_str())
        .create_topics(std::slice::from_ref(&topic), 3, Duration::from_secs(86_400))
        .unwrap();
    let sinks = ["--customer-id", "C-42", "--dev-key", "--topic", &topic];
    let mut c = env.kvt();
    c.env("KVT_NOW", NOW)
        .env("KVT_OLTP_URL", &url)
        .env("KVT_KAFKA_BROKERS", &broker.addr)
        .args(["kyc", "verify"])
        .arg(&file)
        .args(["--order-id", "CMD-9"])
        .args(sinks);
    let out = run_expect(&mut c, 0);
    let r = out.summary();
    assert_eq!(r["decision"], "majeur", "{r}");
    assert_eq!(r["reason"], Value::Null);
    assert_eq!(r["doc_type"], "Passeport");
    assert_eq!(r["doc_expiration_valid"], true);
    assert!(r["confidence_score"].as_f64().unwrap() >= 0.75);
    assert!(
        r.get("doc_fingerprint").is_none(),
        "KYC-9 has no fingerprint: {r}"
    );
    let kyc_ref = r["kyc_ref"].as_str().unwrap();
    assert!(kyc_ref.starts_with("KYC-202612-"), "{kyc_ref}");
    // The row: KYC-13's fields and the fingerprint, nothing else.
    let row = pg.psql(
        &url,
        &format!("SELECT order_id, customer_id, decision, coalesce(reason, '-'), doc_type, doc_expiration_valid, age_computed, length(doc_fingerprint) FROM kyc_decisions WHERE kyc_ref = '{kyc_ref}'"),
    );
    let age = r["age_computed"].as_u64().unwrap();
    assert_eq!(row, format!("CMD-9|C-42|majeur|-|Passeport|t|{age}|64"));
    let columns = pg.psql(
        &url,
        "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'kyc_decisions'",
    );
    assert_eq!(columns, "kyc_ref,order_id,customer_id,decision,reason,confidence_score,doc_type,doc_expiration_valid,age_computed,processing_time_ms,decided_at,doc_fingerprint");
    // The event (C1), keyed by customer.
    let events = read_topic(&broker.addr, &topic, 1);
    assert_eq!(events.len(), 1);
    let (key, e) = &events[0];
    assert_eq!(key, "C-42");
    assert_eq!(e["kyc_ref"], kyc_ref);
    assert_eq!(e["decision"], "majeur");
    assert_eq!(e["customer_id"], "C-42");
    assert_eq!(e["doc_fingerprint"].as_str().unwrap().len(), 64);
    // No raw value anywhere: not on stdout/stderr, not in the table, not in the event.
    let dump = pg.psql(&url, "SELECT t::text FROM kyc_decisions t");
    for secret in adult["secrets"].as_array().unwrap() {
        for word in secret.as_str().unwrap().split(' ') {
            for (what, text) in [
                ("output", format!("{}{}", out.stdout, out.stderr)),
                ("table", dump.clone()),
                ("event", e.to_string()),
            ] {
                assert!(!text.contains(word), "{word} found in the {what}");
            }
        }
    }
    // Retention: a purge keeps it at 30 days, removes it a year later.
    let purge = |now: &str, older: &str| {
        let mut c = env.kvt();
        c.env("KVT_NOW", now).env("KVT_OLTP_URL", &url).args([
            "kyc",
            "purge",
            "--older-than",
            older,
        ]);
        run_expect(&mut c, 0).summary()["deleted"].as_u64().unwrap()
    };
    assert_eq!(purge("2027-01-02T10:00:00Z", "60d"), 0);
    // A second decision for the same customer, then erasure removes both.
    let mut c = env.kvt();
    c.env("KVT_NOW", NOW)
        .env("KVT_OLTP_URL", &url)
        .args(["kyc", "verify"])
        .arg(&file)
        .args(["--order-id", "CMD-10", "--customer-id", "C-42", "--dev-key"]);
    run_expect(&mut c, 0);
    let mut c = env.kvt();
    c.env("KVT_OLTP_URL", &url)
        .args(["kyc", "erase", "--customer-id", "C-42"]);
    assert_eq!(run_expect(&mut c, 0).summary()["deleted"], 2);
    assert_eq!(pg.psql(&url, "SELECT count(*) FROM kyc_decisions"), "0");
    // And the purge removes what is past retention.
    let mut c = env.kvt();
    c.env("KVT_NOW", NOW)
        .env("KVT_OLTP_URL", &url)
        .args(["kyc", "verify"])
        .arg(&file)
        .args(["--order-id", "CMD-11", "--dev-key"]);
    run_expect(&mut c, 0);
    assert_eq!(purge("2027-12-03T10:00:00Z", "30d"), 1);
    // A database that is down: exit 2, the decision still printed.
    let mut c = env.kvt();
    c.env("KVT_NOW", NOW)
        .env(
            "KVT_OLTP_URL",
            format!("postgres://nobody@127.0.0.1:{}/x", free_port()),
        )
        .args(["kyc", "verify"])
        .arg(&file)
        .args(["--order-id", "CMD-12", "--dev-key"]);
    let out = run_expect(&mut c, 2);
    assert!(out.stderr.contains("transactional"), "{}", out.stderr);
}

fn read_topic(brokers: &str, topic: &str, want: usize) -> Vec<(String, Value)> {
    use rdkafka::consumer::Consumer;
    use rdkafka::Message;
    let c = kvt::kafka::ClientSettings::new(brokers)
        .consumer("kvt-test-kyc", &format!("kvt-test-kyc-{topic}"))
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < want && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(500)) {
            out.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).to_string(),
                serde_json::from_slice(m.payload().unwrap()).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn unreadable_files_exit_2_naming_the_file_and_the_reason() {
    if !have_tesseract() {
        return;
    }
    let env = Env::new();
    let empty = env.write("empty.jpg", b"");
    let text = env.write("scan.png", b"NOM: DUPONT\nNE LE 01.01.2000\n");
    let truncated = env.write("cut.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0");
    // A real document cut in half: the header is fine, the pixels are not.
    let whole = std::fs::read(
        std::fs::read_dir(documents("demo").unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "png"))
            .unwrap(),
    )
    .unwrap();
    let half = env.write("half.png", &whole[..whole.len() / 2]);
    let pdf = env.write(
        "vector.pdf",
        b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF\n",
    );
    for (file, reason) in [
        (&empty, "empty"),
        (&text, "not a supported"),
        (&truncated, "truncated"),
        (&half, "could not be decoded"),
        (&pdf, "no embedded raster image"),
    ] {
        let out = verify(&env, file, &[]);
        assert_eq!(out.code, 2, "{}: {}", file.display(), out.stderr);
        let s = out.summary();
        let err = s["error"].as_str().unwrap();
        assert!(
            err.contains(file.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(err.to_lowercase().contains(reason), "{err}");
        assert!(
            !err.contains("DUPONT") && !out.stderr.contains("DUPONT"),
            "{err}"
        );
    }
    let big = env.write("big.jpg", vec![0xFFu8; 3000]);
    let out = verify(&env, &big, &["--max-size", "1KB"]);
    assert_eq!(out.code, 2);
    assert!(out.summary()["error"]
        .as_str()
        .unwrap()
        .contains("too large"));
    let out = verify(&env, &env.path().join("missing.png"), &[]);
    assert_eq!(out.code, 2);
    let out = verify(&env, &big, &["--threshold", "1.5"]);
    assert_eq!(out.code, 2);
    assert!(out.summary()["error"]
        .as_str()
        .unwrap()
        .contains("between 0 and 1"));
}

/// Every file under the writable places a run could use.
fn listing(roots: &[PathBuf]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in roots {
        let mut stack = vec![r.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() && !p.is_symlink() {
                    stack.push(p);
                } else {
                    out.insert(p.display().to_string());
                }
            }
        }
    }
    out
}

#[test]
fn nothing_read_from_a_document_is_written_during_verify_and_serve() {
    let Some(dir) = documents("demo") else { return };
    let env = Env::new();
    let tmp = env.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let home = env.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let roots = vec![env.path().to_path_buf(), PathBuf::from("/dev/shm")];
    let before = listing(&roots);
    let cases = manifest(dir);
    let mut logs = String::new();
    for c in &cases {
        let file = dir.join(c["file"].as_str().unwrap());
        let mut cmd = env.kvt();
        cmd.env("KVT_NOW", NOW)
            .env("TMPDIR", &tmp)
            .env("HOME", &home)
            .args(["-vv", "kyc", "verify"])
            .arg(&file)
            .args(["--order-id", "CMD-P"]);
        let out = run_expect(&mut cmd, 0);
        logs.push_str(&out.stdout);
        logs.push_str(&out.stderr);
    }
    let server = Server::start(
        &env,
        &["--workers", "1"],
        &[
            ("TMPDIR", tmp.to_str().unwrap()),
            ("HOME", home.to_str().unwrap()),
        ],
    );
    for c in &cases {
        let (code, _, body) = post(
            &server,
            &dir.join(c["file"].as_str().unwrap()),
            "CMD-P",
            None,
        );
        assert_eq!(code, 200, "{body}");
        logs.push_str(&body.to_string());
    }
    let (code, _, stderr) = server.stop();
    assert_eq!(code, 0);
    logs.push_str(&stderr);
    let after = listing(&roots);
    let new: Vec<&String> = after.difference(&before).collect();
    // Only the lake's run artefacts (none for kyc) may appear; never an image or text.
    assert!(new.is_empty(), "files written during kyc runs: {new:?}");
    for c in &cases {
        for secret in c["secrets"].as_array().unwrap() {
            for word in secret.as_str().unwrap().split(' ') {
                assert!(
                    !logs.contains(word),
                    "`{word}` read from a document appears in the output"
                );
            }
        }
    }
}

#[test]
fn the_service_answers_in_parallel_refuses_bad_uploads_and_sheds_load() {
    let Some(dir) = documents("demo") else { return };
    let Some(pg) = services::postgres() else {
        return;
    };
    let env = Env::new();
    let url = pg.database("kyc_serve");
    let server = Server::start(
        &env,
        &[
            "--workers",
            "1",
            "--queue",
            "1",
            "--max-size",
            "2MB",
            "--dev-key",
        ],
        &[("KVT_OLTP_URL", url.as_str())],
    );
    let cases = manifest(dir);
    let adult = dir.join(
        cases.iter().find(|c| c["ideal"] == "majeur").unwrap()["file"]
            .as_str()
            .unwrap(),
    );
    // Decide, then the status of that reference.
    let (code, _, body) = post(&server, &adult, "CMD-S", Some("C-7"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["decision"], "majeur");
    let kyc_ref = body["kyc_ref"].as_str().unwrap();
    let (code, _, status) = curl(&[&server.url(&format!("/kyc/status/{kyc_ref}"))]);
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["decision"], "majeur");
    assert_eq!(status["order_id"], "CMD-S");
    assert_eq!(status["customer_id"], "C-7");
    assert_eq!(
        curl(&[&server.url("/kyc/status/KYC-000000-unknown")]).0,
        404
    );
    assert_eq!(curl(&[&server.url("/kyc/status/bad%20ref")]).0, 400);
    // Bad uploads.
    let text = env.write("note.png", b"hello, this is not an image");
    assert_eq!(post(&server, &text, "CMD-S", None).0, 415);
    let big = env.write("big.jpg", vec![0xFFu8; 3_000_000]);
    assert_eq!(post(&server, &big, "CMD-S", None).0, 413);
    let empty = env.write("empty.jpg", b"");
    assert_eq!(post(&server, &empty, "CMD-S", None).0, 422);
    let image = format!("image=@{}", adult.display());
    assert_eq!(curl(&["-F", &image, &server.url("/kyc/verify")]).0, 400);
    assert_eq!(
        curl(&["-F", "order_id=X", &server.url("/kyc/verify")]).0,
        400
    );
    // Eight at once on one worker with a queue of one: some are decided,
    // the rest get 503 + Retry-After at once; none fails otherwise.
    let codes: Vec<(u16, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let (server, adult) = (&server, &adult);
                s.spawn(move || {
                    let (code, head, _) = post(server, adult, &format!("CMD-P{i}"), None);
                    (code, head)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = codes.iter().filter(|(c, _)| *c == 200).count();
    let busy: Vec<&String> = codes
        .iter()
        .filter(|(c, _)| *c == 503)
        .map(|(_, h)| h)
        .collect();
    assert_eq!(ok + busy.len(), 8, "{codes:?}");
    assert!(ok >= 1 && !busy.is_empty(), "{codes:?}");
    assert!(
        busy.iter()
            .all(|h| h.to_lowercase().contains("retry-after")),
        "{busy:?}"
    );
    // Documentation, health, metrics.
    let (code, _, api) = curl(&[&server.url("/openapi.json")]);
    assert_eq!(code, 200);
    let api: Value = serde_json::from_str(&api).unwrap();
    assert!(api["paths"]["/kyc/verify"]["post"].is_object());
    assert!(api["paths"]["/kyc/status/{kyc_ref}"]["get"].is_object());
    assert_eq!(curl(&[&server.url("/health")]).0, 200);
    let (_, _, metrics) = curl(&[&server.url("/metrics")]);
    assert!(
        metrics.contains(&format!(
            "kvt_kyc_decisions_total{{decision=\"majeur\"}} {}",
            1 + ok
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "kvt_kyc_rejected_total{{cause=\"busy\"}} {}",
        busy.len()
    )));
    assert_eq!(
        pg.psql(&url, "SELECT count(*) FROM kyc_decisions"),
        (1 + ok).to_string()
    );
    let (code, summary, _) = server.stop();
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["status"], "ok");
}
