//! Test harness: run the real `kvt` binary in a temp dir, start services.

#![allow(dead_code)]

pub mod chain;
pub mod fake_drive;
pub mod services;
pub mod silver;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The fixed clock of integration runs.
pub const NOW: &str = "2026-03-17T06:00:00Z";

/// A working directory with its own lake.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn lake(&self) -> PathBuf {
        self.path().join("lake")
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// `kvt` with a clean environment: fixed clock, lake in the temp dir.
    pub fn kvt(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kvt"));
        c.current_dir(self.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("KVT_")
                || k.starts_with("AWS_")
                || k == "GOOGLE_APPLICATION_CREDENTIALS"
                || k == "RUST_LOG"
            {
                c.env_remove(k);
            }
        }
        c.env("KVT_NOW", NOW);
        c.env("KVT_STORE", format!("file://{}", self.lake().display()));
        c.stdin(Stdio::null());
        c
    }
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The last stdout line, parsed: the run summary.
    pub fn summary(&self) -> Value {
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("no stdout; stderr:\n{}", self.stderr));
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "last stdout line is not JSON ({e}): {line}\nstderr:\n{}",
                self.stderr
            )
        })
    }
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run kvt");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run and require an exit code, showing the output when it differs.
pub fn run_expect(cmd: &mut Command, code: i32) -> Output {
    let out = run(cmd);
    assert_eq!(
        out.code, code,
        "exit code {} (wanted {code})\nstdout:\n{}\nstderr:\n{}",
        out.code, out.stdout, out.stderr
    );
    out
}

/// Every file below `dir`, as sorted relative paths.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Run a future to completion on a fresh single-threaded runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(f)
}

/// Is this a CI run, where a missing service is a failure and not a skip?
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// `kvt-gen ARGS` must succeed; its summary (last stdout line).
pub fn kvt_gen(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kvt-gen"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kvt-gen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// The Kafka events of 2026-03-17 (seed 42) at `scale` under `out`, and
/// the generator's ground truth.
pub fn gen_events_day(out: &Path, scale: &str) -> Value {
    kvt_gen(&[
        "--date",
        "2026-03-17",
        "--sources",
        "events",
        "--seed",
        "42",
        "--scale",
        scale,
        "--out",
        out.to_str().unwrap(),
    ]);
    serde_json::from_slice(&std::fs::read(out.join("ground_truth.json")).unwrap()).unwrap()
}

/// `kvt-gen produce` of the payments and orders under `events` to prefixed topics.
pub fn produce(brokers: &str, events: &Path, prefix: &str) -> Value {
    kvt_gen(&[
        "produce",
        "--events",
        events.to_str().unwrap(),
        "--brokers",
        brokers,
        "--topic-prefix",
        prefix,
        "--topics",
        "payments,orders",
    ])
}

/// The prefixed `payments` and `orders` topics, created, with the events
/// under `events` produced to them.
pub fn topics_with_events(brokers: &str, events: &Path, prefix: &str) -> Value {
    kvt_gen(&[
        "topics",
        "--brokers",
        brokers,
        "--topic-prefix",
        prefix,
        "--topics",
        "payments,orders",
    ]);
    produce(brokers, events, prefix)
}
