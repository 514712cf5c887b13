//! `kvt ingest drive` end to end: local drops, the fake Google Drive, faults, S3.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::fake_drive::{FakeDrive, Fault, Target};
use crate::common::{files_under, run_expect, services, Env, Output};

const LOCAL_CONFIG: &str = r#"
[sources.crm]
path = "drop/crm_data"
prefix = "crm_data"
include = ["*.csv"]
owner = "Business team"
format = "csv"
"#;

fn set_mtime(path: &std::path::Path, rfc3339: &str) {
    let t: chrono::DateTime<chrono::Utc> = rfc3339.parse().unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t.into()).unwrap();
}

fn manifest_lines(env: &Env, source: &str) -> Vec<Value> {
    let p = env.lake().join(format!("bronze/_manifests/{source}.jsonl"));
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn bronze_files(env: &Env, prefix: &str) -> Vec<String> {
    files_under(&env.lake().join("bronze").join(prefix))
}

fn ingest(env: &Env, source: &str) -> std::process::Command {
    let mut c = env.kvt();
    c.args([
        "ingest",
        "drive",
        "--source",
        source,
        "--retry-delay",
        "50ms",
    ]);
    c
}

#[test]
fn local_drop_lands_byte_for_byte_and_second_run_moves_nothing() {
    let env = Env::new();
    env.write("kvt.toml", LOCAL_CONFIG);
    let bom_csv = b"\xEF\xBB\xBFCUSTOMER ID;PAYS\r\nCUST-1;France\r\n".to_vec();
    let a = env.write("drop/crm_data/crm_2026-03-16.csv", &bom_csv);
    let b = env.write(
        "drop/crm_data/archive/2026/crm_2026-03-09.csv",
        b"CUSTOMER ID\nCUST-2\n",
    );
    env.write("drop/crm_data/notes.txt", b"not a csv");
    set_mtime(&a, "2026-03-16T06:00:00Z");
    set_mtime(&b, "2026-03-09T06:00:00Z");

    let out = run_expect(&mut ingest(&env, "crm"), 0);
    let s = out.summary();
    assert_eq!(s["command"], "ingest drive");
    assert_eq!(s["status"], "ok");
    assert_eq!(s["files_listed"], 3);
    assert_eq!(s["files_new"], 2);
    assert_eq!(s["files_filtered"], 1);
    assert_eq!(s["files_transferred"], 2);
    assert_eq!(s["bytes"], bom_csv.len() + "CUSTOMER ID\nCUST-2\n".len());
    assert_eq!(s["attempts"], 1);

    assert_eq!(
        bronze_files(&env, "crm_data"),
        [
            "archive/2026/crm_2026-03-09.20260309T060000000Z.csv",
            "crm_2026-03-16.20260316T060000000Z.csv"
        ]
    );
    // Byte for byte, BOM and CRLF included (BRONZE-2).
    let landed = std::fs::read(
        env.lake()
            .join("bronze/crm_data/crm_2026-03-16.20260316T060000000Z.csv"),
    )
    .unwrap();
    assert_eq!(landed, bom_csv);
    // Manifest: source, source modification time, ingestion time, checksum (BRONZE-3).
    let m = manifest_lines(&env, "crm");
    assert_eq!(m.len(), 2);
    let e = m
        .iter()
        .find(|e| e["source_path"] == "crm_2026-03-16.csv")
        .unwrap();
    assert_eq!(e["source"], "crm");
    assert_eq!(e["source_modified"], "2026-03-16T06:00:00Z");
    assert_eq!(e["ingested_at"], "2026-03-17T06:00:00Z");
    assert_eq!(e["size"], bom_csv.len());
    assert_eq!(e["tracking"]["owner"], "Business team");
    use sha2::Digest;
    assert_eq!(e["sha256"], hex::encode(sha2::Sha256::digest(&bom_csv)));
    assert_eq!(e["run_id"], s["run_id"]);

    // Second run: nothing new, nothing moved, no duplicate (BRONZE-5, INGEST-DRIVE-6).
    let out = run_expect(&mut ingest(&env, "crm"), 0);
    let s = out.summary();
    assert_eq!(s["files_transferred"], 0);
    assert_eq!(s["files_skipped"], 2);
    assert_eq!(s["bytes"], 0);
    assert_eq!(manifest_lines(&env, "crm").len(), 2);
    assert_eq!(bronze_files(&env, "crm_data").len(), 2);
}

#[test]
fn modified_file_lands_as_a_new_version_next_to_the_old_one() {
    let env = Env::new();
    env.write("kvt.toml", LOCAL_CONFIG);
    let a = env.write("drop/crm_data/crm.csv", b"v1\n");
    set_mtime(&a, "2026-03-16T06:00:00Z");
    run_expect(&mut ingest(&env, "crm"), 0);

    std::fs::write(&a, b"version 2\n").unwrap();
    set_mtime(&a, "2026-03-17T05:00:00Z");
    let s = run_expect(&mut ingest(&env, "crm"), 0).summary();
    assert_eq!(s["files_modified"], 1);
    assert_eq!(s["files_new"], 0);
    assert_eq!(s["files_transferred"], 1);

    // An older copy put back at the source is not re-ingested (INGEST-DRIVE-5).
    std::fs::write(&a, b"v1\n").unwrap();
    set_mtime(&a, "2026-03-15T06:00:00Z");
    let s = run_expect(&mut ingest(&env, "crm"), 0).summary();
    assert_eq!(s["files_transferred"], 0);

    let dir = env.lake().join("bronze/crm_data");
    assert_eq!(
        std::fs::read(dir.join("crm.20260316T060000000Z.csv")).unwrap(),
        b"v1\n"
    );
    assert_eq!(
        std::fs::read(dir.join("crm.20260317T050000000Z.csv")).unwrap(),
        b"version 2\n"
    );
    assert_eq!(manifest_lines(&env, "crm").len(), 2);
}

#[test]
fn unsafe_names_are_refused_and_reported() {
    let env = Env::new();
    env.write("kvt.toml", "[sources.x]\npath = \"drop\"\n");
    env.write("drop/ok.csv", b"1");
    env.write("drop/evil\nname.csv", b"2");
    std::os::unix::fs::symlink("/etc/passwd", env.path().join("drop/passwd.csv")).unwrap();
    let s = run_expect(&mut ingest(&env, "x"), 0).summary();
    assert_eq!(s["files_transferred"], 1);
    assert_eq!(s["files_refused"], 2);
    let reasons: Vec<&str> = s["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"control character in name"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"symbolic link (not followed)"),
        "{reasons:?}"
    );
    // Nothing outside bronze/x was written.
    assert_eq!(bronze_files(&env, "x").len(), 1);
}

#[test]
fn unknown_source_is_a_usage_error_naming_the_known_ones() {
    let env = Env::new();
    env.write("kvt.toml", LOCAL_CONFIG);
    let out = run_expect(&mut ingest(&env, "payroll"), 2);
    let s = out.summary();
    assert_eq!(s["status"], "error");
    let err = s["error"].as_str().unwrap();
    assert!(
        err.contains("unknown source `payroll`") && err.contains("crm"),
        "{err}"
    );
}

#[test]
fn missing_source_directory_fails_without_retrying() {
    let env = Env::new();
    env.write("kvt.toml", "[sources.gone]\npath = \"nowhere\"\n");
    let s = run_expect(&mut ingest(&env, "gone"), 2).summary();
    assert_eq!(s["attempts"], 1);
    assert!(s["error"].as_str().unwrap().contains("nowhere"), "{s}");
}

#[test]
fn second_concurrent_run_is_refused() {
    let env = Env::new();
    env.write("kvt.toml", LOCAL_CONFIG);
    env.write("drop/crm_data/a.csv", b"1");
    // A lock held by a live process on this host (this test process).
    let lock = serde_json::json!({
        "run_id": "other-run", "host": kvt::lock::hostname(), "pid": std::process::id(),
        "acquired_at": "2026-03-17T05:59:00Z"
    });
    env.write(
        "lake/_locks/ingest-drive/crm.lock",
        serde_json::to_vec(&lock).unwrap(),
    );
    let s = run_expect(&mut ingest(&env, "crm"), 2).summary();
    assert!(
        s["error"].as_str().unwrap().contains("at most one run"),
        "{s}"
    );
    assert!(bronze_files(&env, "crm_data").is_empty());

    // A lock left by a process that no longer exists is taken over.
    let stale = serde_json::json!({
        "run_id": "crashed", "host": kvt::lock::hostname(), "pid": 999_999_999u32,
        "acquired_at": "2026-03-17T05:59:00Z"
    });
    env.write(
        "lake/_locks/ingest-drive/crm.lock",
        serde_json::to_vec(&stale).unwrap(),
    );
    run_expect(&mut ingest(&env, "crm"), 0);
    assert!(
        !env.lake().join("_locks/ingest-drive/crm.lock").exists(),
        "lock released"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let env = Env::new();
    env.write("kvt.toml", LOCAL_CONFIG);
    env.write("drop/crm_data/a.csv", b"1");
    let s = run_expect(ingest(&env, "crm").arg("--dry-run"), 0).summary();
    assert_eq!(s["dry_run"], true);
    assert_eq!(s["files_new"], 1);
    assert_eq!(s["files_transferred"], 0);
    assert!(files_under(&env.lake()).is_empty());
}

#[test]
fn crash_after_upload_before_manifest_is_recovered_without_duplicate() {
    let env = Env::new();
    env.write("kvt.toml", LOCAL_CONFIG);
    let a = env.write("drop/crm_data/a.csv", b"hello\n");
    set_mtime(&a, "2026-03-16T06:00:00Z");
    // The object landed, but the run died before writing its manifest line.
    env.write("lake/bronze/crm_data/a.20260316T060000000Z.csv", b"hello\n");
    let s = run_expect(&mut ingest(&env, "crm"), 0).summary();
    assert_eq!(s["files_recovered"], 1);
    assert_eq!(s["files_transferred"], 0);
    assert_eq!(manifest_lines(&env, "crm").len(), 1);
    assert_eq!(bronze_files(&env, "crm_data").len(), 1);
}

// ---------------------------------------------------------------- Google Drive

struct DriveEnv {
    env: Env,
    drive: FakeDrive,
    key: std::path::PathBuf,
}

fn drive_env() -> DriveEnv {
    let env = Env::new();
    let drive = FakeDrive::start();
    let key = drive.write_key_file(env.path());
    env.write(
        "kvt.toml",
        "[sources.nginx]\ndrive_folder_id = \"root-folder\"\nprefix = \"nginx_data\"\ninclude = [\"*.log\"]\n",
    );
    drive.add_file(
        "f1",
        "access-2026-03-16.log",
        "root-folder",
        "2026-03-17T00:05:00.000Z",
        b"line 1\nline 2\n",
    );
    drive.add_file(
        "f2",
        "access-2026-03-15.log",
        "root-folder",
        "2026-03-16T00:05:00.000Z",
        b"older\n",
    );
    drive.add_folder("sub", "2026-03", "root-folder");
    drive.add_folder("subsub", "week-11", "sub");
    drive.add_file(
        "f3",
        "access-2026-03-10.log",
        "subsub",
        "2026-03-11T00:05:00.000Z",
        &vec![b'x'; 300_000],
    );
    drive.add_file(
        "f4",
        "readme.txt",
        "root-folder",
        "2026-03-11T00:05:00.000Z",
        b"skip me",
    );
    DriveEnv { env, drive, key }
}

impl DriveEnv {
    fn ingest(&self) -> std::process::Command {
        let mut c = ingest(&self.env, "nginx");
        c.env("KVT_DRIVE_CREDENTIALS", &self.key)
            .env("KVT_DRIVE_API_URL", &self.drive.url)
            .env("KVT_DRIVE_TIMEOUT", "2s");
        c
    }
}

#[test]
fn drive_folder_is_listed_recursively_with_pagination_and_landed() {
    let d = drive_env();
    let s = run_expect(&mut d.ingest(), 0).summary();
    assert_eq!(s["origin"], "gdrive://folder/root-folder");
    assert_eq!(s["files_listed"], 4);
    assert_eq!(s["files_filtered"], 1);
    assert_eq!(s["files_transferred"], 3);
    assert_eq!(s["bytes"], 14 + 6 + 300_000);
    assert_eq!(
        bronze_files(&d.env, "nginx_data"),
        [
            "2026-03/week-11/access-2026-03-10.20260311T000500000Z.log",
            "access-2026-03-15.20260316T000500000Z.log",
            "access-2026-03-16.20260317T000500000Z.log",
        ]
    );
    let log = d.drive.log();
    assert!(log.iter().any(|l| l == "POST /token"), "{log:?}");
    // pages of 2: root has 4 children → 2 list calls, plus one per subfolder.
    assert_eq!(
        log.iter().filter(|l| *l == "GET /drive/v3/files").count(),
        4,
        "{log:?}"
    );
    let m = manifest_lines(&d.env, "nginx");
    let e = m.iter().find(|e| e["source_id"] == "f1").unwrap();
    assert_eq!(e["origin"], "gdrive://folder/root-folder");
    assert!(e["md5"].as_str().unwrap().len() == 32);

    // Second run: listing only, no download.
    d.drive.clear_log();
    let s = run_expect(&mut d.ingest(), 0).summary();
    assert_eq!(s["files_transferred"], 0);
    assert_eq!(d.drive.downloads(), 0);

    // A file modified on Drive lands again as a new version.
    d.drive.modify(
        "f1",
        "2026-03-17T01:00:00.000Z",
        b"line 1\nline 2\nline 3\n",
    );
    let s = run_expect(&mut d.ingest(), 0).summary();
    assert_eq!(s["files_modified"], 1);
    assert_eq!(d.drive.downloads(), 1);
    assert_eq!(bronze_files(&d.env, "nginx_data").len(), 4);
}

#[test]
fn drive_unsafe_and_native_documents_are_refused() {
    let d = drive_env();
    d.drive.add_file(
        "e1",
        "../../etc/evil.log",
        "root-folder",
        "2026-03-17T00:00:00.000Z",
        b"x",
    );
    d.drive.add_file(
        "e2",
        "bell\u{7}.log",
        "root-folder",
        "2026-03-17T00:00:00.000Z",
        b"x",
    );
    d.drive.add_file_mime(
        "e3",
        "notes.log",
        "root-folder",
        "2026-03-17T00:00:00.000Z",
        b"",
        "application/vnd.google-apps.document",
    );
    d.drive.add_folder("dotdot", "..", "root-folder");
    let s = run_expect(&mut d.ingest(), 0).summary();
    assert_eq!(s["files_refused"], 4, "{s}");
    assert_eq!(s["files_transferred"], 3);
    for f in bronze_files(&d.env, "nginx_data") {
        assert!(!f.contains(".."), "{f}");
    }
    assert!(!d.env.lake().join("etc").exists());
}

fn assert_transient_fault_is_absorbed(fault: Target, kind: Fault) -> Output {
    let d = drive_env();
    d.drive.fault(fault, kind);
    let out = run_expect(&mut d.ingest(), 0);
    let s = out.summary();
    assert_eq!(s["attempts"], 2, "{s}\n{}", out.stderr);
    assert_eq!(s["files_transferred"], 3);
    assert!(out.stderr.contains("retrying"), "{}", out.stderr);
    // Everything landed whole.
    let f3 = d
        .env
        .lake()
        .join("bronze/nginx_data/2026-03/week-11/access-2026-03-10.20260311T000500000Z.log");
    assert_eq!(std::fs::read(f3).unwrap().len(), 300_000);
    out
}

#[test]
fn drive_rate_limit_403_is_retried() {
    let out = assert_transient_fault_is_absorbed(Target::List, Fault::RateLimit403);
    assert!(
        out.stderr.contains("userRateLimitExceeded"),
        "{}",
        out.stderr
    );
}

#[test]
fn drive_429_waits_for_retry_after() {
    let start = Instant::now();
    let out = assert_transient_fault_is_absorbed(
        Target::Media("f2".into()),
        Fault::TooMany429 { retry_after: 1 },
    );
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After not honoured"
    );
    assert!(out.stderr.contains("429"), "{}", out.stderr);
}

#[test]
fn drive_500_is_retried() {
    assert_transient_fault_is_absorbed(Target::Media("f1".into()), Fault::Internal500);
}

#[test]
fn drive_token_endpoint_failure_is_retried() {
    assert_transient_fault_is_absorbed(Target::Token, Fault::Internal500);
}

#[test]
fn drive_body_cut_midway_is_retried_and_never_visible() {
    assert_transient_fault_is_absorbed(
        Target::Media("f3".into()),
        Fault::CutBody { after: 100_000 },
    );
}

#[test]
fn drive_slow_answer_times_out_and_is_retried() {
    assert_transient_fault_is_absorbed(Target::List, Fault::Slow(Duration::from_secs(4)));
}

#[test]
fn drive_slow_answer_within_timeout_is_fine() {
    let d = drive_env();
    d.drive.fault(
        Target::Media("f1".into()),
        Fault::Slow(Duration::from_millis(500)),
    );
    let s = run_expect(&mut d.ingest(), 0).summary();
    assert_eq!(s["attempts"], 1);
}

#[test]
fn drive_persistent_failure_exits_2_after_the_retries_with_nothing_half_written() {
    let d = drive_env();
    d.drive
        .sticky_fault(Target::Media("f3".into()), Fault::CutBody { after: 1000 });
    let out = run_expect(d.ingest().args(["--retries", "2"]), 2);
    let s = out.summary();
    assert_eq!(s["status"], "error");
    assert_eq!(s["attempts"], 3);
    let err = s["error"].as_str().unwrap();
    assert!(
        err.contains("access-2026-03-10.log") && err.contains("after 3 attempts"),
        "{err}"
    );
    // The two healthy files landed (and are in the manifest); the broken one is nowhere.
    let files = bronze_files(&d.env, "nginx_data");
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| !f.contains("03-10")));
    assert!(
        files_under(&d.env.lake()).iter().all(|f| !f.contains('#')),
        "staging file left behind"
    );
    assert_eq!(manifest_lines(&d.env, "nginx").len(), 2);

    // Once Drive is healthy, the next run finishes the job without re-downloading the others.
    d.drive.clear_faults();
    d.drive.clear_log();
    let s = run_expect(&mut d.ingest(), 0).summary();
    assert_eq!(s["files_transferred"], 1);
    assert_eq!(d.drive.downloads(), 1);
}

#[test]
fn drive_without_credentials_is_a_clear_error() {
    let d = drive_env();
    let mut c = ingest(&d.env, "nginx");
    let s = run_expect(&mut c, 2).summary();
    let err = s["error"].as_str().unwrap();
    assert!(err.contains("KVT_DRIVE_CREDENTIALS"), "{err}");
}

// ---------------------------------------------------------------- S3

#[test]
fn ingest_into_s3_keeps_metadata_on_objects() {
    let Some(s3) = services::s3() else { return };
    let env = Env::new();
    env.write("kvt.toml", LOCAL_CONFIG);
    let a = env.write("drop/crm_data/crm.csv", b"\xEF\xBB\xBFid\n1\n");
    set_mtime(&a, "2026-03-16T06:00:00Z");
    let bucket = s3.bucket("ingest-meta");
    let mut c = ingest(&env, "crm");
    c.env("KVT_STORE", format!("s3://{bucket}/kivendtout"));
    for (k, v) in s3.env() {
        c.env(k, v);
    }
    let s = run_expect(&mut c, 0).summary();
    assert_eq!(s["files_transferred"], 1);
    let s = run_expect(&mut c, 0).summary();
    assert_eq!(
        s["files_transferred"], 0,
        "second run against S3 moves nothing"
    );

    // Read back through the library's store, as another process would.
    for (k, v) in s3.env() {
        std::env::set_var(k, v);
    }
    crate::common::block_on(async {
        let store = kvt::store::Store::open(&format!("s3://{bucket}/kivendtout")).unwrap();
        let key = kvt::store::Key::new("bronze/crm_data/crm.20260316T060000000Z.csv");
        let body = store.get(&key).await.unwrap();
        assert_eq!(&body[..], b"\xEF\xBB\xBFid\n1\n");
        let (_, meta) = store.head(&key).await.unwrap().unwrap();
        assert_eq!(meta.get("kvt-source").map(String::as_str), Some("crm"));
        assert_eq!(
            meta.get("kvt-source-modified").map(String::as_str),
            Some("2026-03-16T06:00:00.000Z")
        );
        assert_eq!(
            meta.get("kvt-ingested-at").map(String::as_str),
            Some("2026-03-17T06:00:00.000Z")
        );
        let manifest = store
            .get(&kvt::store::Key::new("bronze/_manifests/crm.jsonl"))
            .await
            .unwrap();
        assert_eq!(
            manifest
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
            1
        );
    });
}

/// Regression (issue 7): a file deleted and uploaded again under the same
/// path gets a new Drive file id; it is a new version of the same file, so
/// silver counts its lines once.
#[test]
fn drive_reupload_under_a_new_id_is_a_new_version_of_the_file() {
    let d = drive_env();
    let line = r#"90.164.7.52 - CUST-000014 [17/Mar/2026:00:04:41 +0100] "GET / HTTP/1.1" 200 65963 "-" "Mozilla/5.0" 0.709"#;
    let day = |n: usize| format!("{line}\n").repeat(n);
    d.drive
        .modify("f1", "2026-03-17T00:05:00.000Z", day(3).as_bytes());
    d.drive.remove("f2");
    d.drive.remove("f3");
    run_expect(&mut d.ingest(), 0);
    run_expect(d.env.kvt().args(["silver", "nginx", "--dev-key"]), 0);
    d.drive.remove("f1");
    d.drive.add_file(
        "f1-again",
        "access-2026-03-16.log",
        "root-folder",
        "2026-03-17T02:00:00.000Z",
        day(5).as_bytes(),
    );
    let s = run_expect(&mut d.ingest(), 0).summary();
    assert_eq!(
        (s["files_new"].as_u64(), s["files_modified"].as_u64()),
        (Some(0), Some(1)),
        "{s}"
    );
    let s = run_expect(d.env.kvt().args(["silver", "nginx", "--dev-key"]), 0).summary();
    assert_eq!(s["objects_superseded"], 1, "{s}");
    let t = crate::common::silver::stacked(&crate::common::silver::read_table(&d.env, "nginx"));
    assert_eq!(t.height(), 5, "the day is counted once");
}
