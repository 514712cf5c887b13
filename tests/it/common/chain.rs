//! A lake with every silver table, built once per test run from generated
//! data (2½ months, a small scale): kvt-gen → ingest drive (5 sources) →
//! tansu → ingest kafka → silver (7 tables). Tests copy it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::services::{self, unique_prefix};
use super::silver::{config, generate};
use super::{files_under, run_expect, topics_with_events, Env};

/// First and last generated day; the run's clock is the day after.
pub const FROM: &str = "2026-01-01";
pub const TO: &str = "2026-03-17";
pub const NOW: &str = "2026-03-18T06:00:00Z";

static LAKE: OnceLock<Option<PathBuf>> = OnceLock::new();

const SOURCES: [(&str, &str); 5] = [
    ("crm", "crm_data"),
    ("firebase", "firebase_data"),
    ("nginx", "nginx_data"),
    ("logistics", "logistic_partner_data"),
    ("kyc", "kyc"),
];

fn build() -> Option<PathBuf> {
    let broker = services::broker()?;
    let dir = tempfile::tempdir().unwrap().keep();
    let env = Env {
        dir: tempfile::TempDir::new_in(&dir).unwrap(),
    };
    generate(
        &env.path().join("drop"),
        &["--from", FROM, "--to", TO, "--scale", "0.02", "--seed", "8"],
    );
    let toml: String = SOURCES.iter().map(|(s, p)| config(s, p)).collect();
    env.write("kvt.toml", toml);
    for (s, _) in SOURCES {
        run_expect(
            env.kvt().env("KVT_NOW", NOW).args(["ingest", "drive", s]),
            0,
        );
    }
    let prefix = unique_prefix("chain");
    topics_with_events(&broker.addr, &env.path().join("drop/events"), &prefix);
    run_expect(
        env.kvt()
            .env("KVT_NOW", NOW)
            .args(["ingest", "kafka", "--topic"])
            .arg(format!("{prefix}payments,{prefix}orders"))
            .env("KVT_KAFKA_BROKERS", &broker.addr)
            .env("KVT_IDLE_TIMEOUT", "3s"),
        0,
    );
    for (s, _) in SOURCES {
        // nginx may exit 1 (a day above the discard tolerance): its rows are written.
        let out = super::run(
            env.kvt()
                .env("KVT_NOW", NOW)
                .args(["silver", s, "--dev-key"]),
        );
        assert!(
            out.code == 0 || (s == "nginx" && out.code == 1),
            "silver {s}: {}",
            out.stderr
        );
    }
    for t in ["payments", "orders"] {
        run_expect(
            env.kvt()
                .env("KVT_NOW", NOW)
                .args(["silver", t, "--dev-key", "--topic"])
                .arg(format!("{prefix}{t}")),
            0,
        );
    }
    let path = env.path().to_path_buf();
    std::mem::forget(env);
    Some(path)
}

/// A fresh copy of the lake (silver and bronze) in a new working directory,
/// with the sources' kvt.toml; `None` when the broker is unavailable (skip).
pub fn silver_env() -> Option<Env> {
    let src = LAKE.get_or_init(build).as_ref()?;
    let env = Env::new();
    for rel in files_under(src) {
        if rel.starts_with("drop/") {
            continue;
        }
        let to = env.path().join(&rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(&rel), &to).unwrap();
    }
    Some(env)
}

/// The generated data of the lake (for independent computations).
pub fn generated() -> Option<&'static Path> {
    LAKE.get_or_init(build).as_deref()
}
