//! The run contract every command keeps (DESIGN §4): summary line, exit codes,
//! lineage, metrics, configuration precedence, secrets.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::common::{run, run_expect, Env};

fn crm_env() -> Env {
    let env = Env::new();
    env.write("kvt.toml", "[sources.crm]\npath = \"drop\"\n");
    env.write("drop/a.csv", b"1\n");
    env
}

#[test]
fn help_has_examples_and_exit_codes() {
    let env = Env::new();
    let out = run_expect(env.kvt().args(["ingest", "drive", "--help"]), 0);
    assert!(out.stdout.contains("Examples:"), "{}", out.stdout);
    assert!(out.stdout.contains("kvt ingest drive --source crm"));
    let out = run_expect(env.kvt().arg("--help"), 0);
    assert!(
        out.stdout.contains("exit     0 success, 1"),
        "{}",
        out.stdout
    );
}

#[test]
fn usage_error_exits_2() {
    let env = Env::new();
    let out = run_expect(env.kvt().args(["ingest", "drive"]), 2);
    assert!(out.stderr.contains("SOURCE"), "{}", out.stderr);
    run_expect(env.kvt().args(["frobnicate"]), 2);
}

#[test]
fn summary_is_the_last_stdout_line_and_logs_go_to_stderr() {
    let env = crm_env();
    let out = run_expect(env.kvt().args(["ingest", "drive", "crm"]), 0);
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "stdout carries only the summary: {}",
        out.stdout
    );
    let s = out.summary();
    assert!(s["duration_ms"].is_u64());
    assert!(s["run_id"].as_str().unwrap().len() == 36);
    assert!(
        out.stderr.contains("landed"),
        "logs on stderr: {}",
        out.stderr
    );
    // No progress bar escape codes when stderr is not a terminal.
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
}

#[test]
fn json_logs_and_quiet() {
    let env = crm_env();
    let out = run_expect(
        env.kvt()
            .args(["--log-format", "json", "ingest", "drive", "crm"]),
        0,
    );
    for line in out.stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let env = crm_env();
    let out = run_expect(env.kvt().args(["-q", "ingest", "drive", "crm"]), 0);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn scheduler_run_id_is_kept() {
    let env = crm_env();
    let s = run_expect(
        env.kvt()
            .args(["ingest", "drive", "crm"])
            .env("KVT_RUN_ID", "scheduled__2026-03-17"),
        0,
    )
    .summary();
    assert_eq!(s["run_id"], "scheduled__2026-03-17");
}

#[test]
fn lineage_events_to_a_file_start_and_complete() {
    let env = crm_env();
    let out = run_expect(
        env.kvt().args(["ingest", "drive", "crm"]).env(
            "KVT_OPENLINEAGE_URL",
            format!("file://{}/lineage.jsonl", env.path().display()),
        ),
        0,
    );
    let run_id = out.summary()["run_id"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(env.path().join("lineage.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["eventType"], "START");
    assert_eq!(events[1]["eventType"], "COMPLETE");
    for e in &events {
        assert_eq!(e["run"]["runId"], run_id);
        assert_eq!(e["job"]["name"], "ingest_drive.crm");
        assert_eq!(e["job"]["namespace"], "kvt");
    }
    let output = &events[1]["outputs"][0];
    assert!(
        output["name"].as_str().unwrap().ends_with("bronze/crm"),
        "{output}"
    );
    assert_eq!(output["outputFacets"]["outputStatistics"]["rowCount"], 1);
    assert_eq!(events[1]["inputs"][0]["name"], "crm");
}

#[test]
fn lineage_fail_event_on_failure() {
    let env = Env::new();
    env.write("kvt.toml", "[sources.crm]\npath = \"missing\"\n");
    run_expect(
        env.kvt().args(["ingest", "drive", "crm"]).env(
            "KVT_OPENLINEAGE_URL",
            format!("file://{}/l.jsonl", env.path().display()),
        ),
        2,
    );
    let text = std::fs::read_to_string(env.path().join("l.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["eventType"], "FAIL");
    assert!(last["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap()
        .contains("missing"));
}

#[test]
fn lineage_http_is_posted_with_bearer_and_never_leaks_the_key() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            // Read headers + body (small).
            loop {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= i + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            s.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            requests.push(String::from_utf8_lossy(&got).to_string());
        }
        requests
    });
    let env = crm_env();
    let out = run_expect(
        env.kvt()
            .args(["-vv", "ingest", "drive", "crm"])
            .env("KVT_OPENLINEAGE_URL", &url)
            .env("KVT_OPENLINEAGE_API_KEY", "sup3r-s3cret-lineage-key"),
        0,
    );
    let requests = handle.join().unwrap();
    assert!(
        requests[0].starts_with("POST /api/v1/lineage "),
        "{}",
        requests[0]
    );
    assert!(requests[0].contains("\"eventType\":\"START\""));
    assert!(requests[1].contains("\"eventType\":\"COMPLETE\""));
    assert!(requests[0]
        .to_ascii_lowercase()
        .contains("authorization: bearer sup3r-s3cret-lineage-key"));
    assert!(
        !out.stdout.contains("sup3r") && !out.stderr.contains("sup3r"),
        "secret leaked"
    );
}

#[test]
fn lineage_endpoint_down_never_fails_the_run() {
    let env = crm_env();
    let port = crate::common::services::free_port();
    let out = run_expect(
        env.kvt()
            .args(["ingest", "drive", "crm"])
            .env("KVT_OPENLINEAGE_URL", format!("http://127.0.0.1:{port}")),
        0,
    );
    assert!(
        out.stderr.contains("could not emit OpenLineage event"),
        "{}",
        out.stderr
    );
}

#[test]
fn metrics_textfile_is_written() {
    let env = crm_env();
    run_expect(
        env.kvt()
            .args(["ingest", "drive", "crm"])
            .env("KVT_METRICS_DIR", env.path().join("metrics")),
        0,
    );
    let text =
        std::fs::read_to_string(env.path().join("metrics/kvt_ingest_drive_crm.prom")).unwrap();
    assert!(
        text.contains("kvt_ingest_drive_success{source=\"crm\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("kvt_ingest_drive_bytes{source=\"crm\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("kvt_ingest_drive_last_success_timestamp_seconds{source=\"crm\"}"),
        "{text}"
    );
}

#[test]
fn flag_beats_env_beats_config() {
    let env = crm_env();
    // Config says store A, env says store B, flag says store C.
    env.write(
        "kvt.toml",
        format!(
            "store = \"file://{}/a\"\n[sources.crm]\npath = \"drop\"\n",
            env.path().display()
        ),
    );
    run_expect(
        env.kvt()
            .env_remove("KVT_STORE")
            .args(["ingest", "drive", "crm"]),
        0,
    );
    assert!(env.path().join("a/bronze/crm").exists());
    run_expect(
        env.kvt()
            .env("KVT_STORE", format!("file://{}/b", env.path().display()))
            .args(["ingest", "drive", "crm"]),
        0,
    );
    assert!(env.path().join("b/bronze/crm").exists());
    run_expect(
        env.kvt()
            .env("KVT_STORE", format!("file://{}/b", env.path().display()))
            .args([
                "--store",
                &format!("file://{}/c", env.path().display()),
                "ingest",
                "drive",
                "crm",
            ]),
        0,
    );
    assert!(env.path().join("c/bronze/crm").exists());
}

#[test]
fn dotenv_is_loaded_but_real_environment_wins() {
    let env = crm_env();
    env.write(
        ".env",
        format!(
            "KVT_STORE=file://{}/from-dotenv\nKVT_RUN_ID=from-dotenv\n",
            env.path().display()
        ),
    );
    let s = run_expect(
        env.kvt()
            .env_remove("KVT_STORE")
            .args(["ingest", "drive", "crm"]),
        0,
    )
    .summary();
    assert_eq!(s["run_id"], "from-dotenv");
    assert!(env.path().join("from-dotenv/bronze/crm").exists());
    let s = run_expect(
        env.kvt()
            .env("KVT_RUN_ID", "real")
            .args(["ingest", "drive", "crm"]),
        0,
    )
    .summary();
    assert_eq!(s["run_id"], "real");
}

#[test]
fn invalid_configuration_is_reported_with_its_origin() {
    let env = Env::new();
    env.write(
        "kvt.toml",
        "[sources.crm]\npath = \"a\"\ndrive_folder_id = \"b\"\n",
    );
    let s = run_expect(env.kvt().args(["ingest", "drive", "crm"]), 2).summary();
    let err = s["error"].as_str().unwrap();
    assert!(
        err.contains("kvt.toml") && err.contains("not both"),
        "{err}"
    );
}

#[test]
fn embedded_defaults_know_the_five_sources() {
    let env = Env::new();
    // No kvt.toml: built-in defaults read ./drop/<prefix>.
    env.write("drop/nginx_data/access-2026-03-16.log", b"x\n");
    let s = run_expect(env.kvt().args(["ingest", "drive", "nginx"]), 0).summary();
    assert_eq!(s["files_transferred"], 1);
    assert!(env.lake().join("bronze/nginx_data").exists());
}

#[test]
fn broken_stdout_pipe_is_not_an_error() {
    let env = crm_env();
    let mut child = env
        .kvt()
        .args(["ingest", "drive", "crm"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader went away
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let _ = run(env.kvt().args(["ingest", "drive", "crm"]));
}
