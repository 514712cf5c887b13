//! What the silver tests share: the fixture, a lake with a source ingested,
//! running `kvt silver`, reading partitions back, and privacy checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::Value;

use super::{files_under, run_expect, Env};
use kvt::silver::pseudo::{Pseudonymizer, DEV_KEY};

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/drive")
}

/// Copy a tree; every copy gets the same fixed modification time, so bronze
/// keys (which carry it) are the same in every run.
pub fn copy_dir(from: &Path, to: &Path) {
    for rel in files_under(from) {
        let dst = to.join(&rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), &dst).unwrap();
        set_mtime(&dst, "2026-03-17T05:00:00Z");
    }
}

pub fn ground_truth(data: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(data.join("ground_truth.json")).unwrap()).unwrap()
}

/// `kvt-gen ARGS --out DIR`.
pub fn generate(out: &Path, args: &[&str]) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kvt-gen"))
        .args(args)
        .arg("--quiet")
        .arg("--out")
        .arg(out)
        .env_remove("KVT_GEN_SEED")
        .env_remove("KVT_GEN_SCALE")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

pub fn config(source: &str, prefix: &str) -> String {
    format!("[sources.{source}]\npath = \"drop/{prefix}\"\nprefix = \"{prefix}\"\n")
}

pub fn ingest(env: &Env, source: &str) -> Value {
    run_expect(env.kvt().args(["ingest", "drive", "--source", source]), 0).summary()
}

/// A lake with `data/<prefix>` ingested into bronze as source `source`.
pub fn drive_env(data: &Path, prefix: &str, source: &str) -> Env {
    let env = Env::new();
    copy_dir(&data.join(prefix), &env.path().join("drop").join(prefix));
    env.write("kvt.toml", config(source, prefix));
    let s = ingest(&env, source);
    assert_eq!(s["status"], "ok", "{s}");
    env
}

/// `kvt silver SOURCE --dev-key ARGS`, exit 0; its summary.
pub fn silver(env: &Env, source: &str, args: &[&str]) -> Value {
    let s = run_expect(
        env.kvt().args(["silver", source, "--dev-key"]).args(args),
        0,
    )
    .summary();
    assert_eq!(s["status"], "ok", "{s}");
    assert_eq!(s["command"], format!("silver {source}"));
    s
}

/// Every committed partition of a table (following `_parts.json`).
pub fn read_table(env: &Env, table: &str) -> BTreeMap<String, DataFrame> {
    let root = env.lake().join("silver");
    let mut out = BTreeMap::new();
    for rel in files_under(&root.join(table)) {
        let Some(dir) = rel.strip_suffix("/_parts.json") else {
            continue;
        };
        let path = format!("{table}/{dir}");
        let rec: kvt::table::PartsFile =
            serde_json::from_slice(&std::fs::read(root.join(&path).join("_parts.json")).unwrap())
                .unwrap();
        let mut acc: Option<DataFrame> = None;
        for p in rec.parts {
            let bytes = std::fs::read(root.join(&path).join(&p.name)).unwrap();
            let df = kvt::table::from_parquet(bytes.into()).unwrap();
            match acc.as_mut() {
                None => acc = Some(df),
                Some(a) => {
                    a.vstack_mut(&df).unwrap();
                }
            }
        }
        out.insert(path, acc.unwrap());
    }
    out
}

/// All partitions stacked.
pub fn stacked(parts: &BTreeMap<String, DataFrame>) -> DataFrame {
    let mut it = parts.values();
    let mut acc = it.next().expect("a partition").clone();
    for df in it {
        acc.vstack_mut(df).unwrap();
    }
    acc
}

/// Every file under `silver/<table>` (and the source's rejects), with its bytes.
pub fn snapshot(env: &Env, table: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = env.lake().join("silver").join(table);
    files_under(&dir)
        .into_iter()
        .map(|rel| {
            let b = std::fs::read(dir.join(&rel)).unwrap();
            (rel, b)
        })
        .collect()
}

pub fn pseudo(x: &str) -> String {
    Pseudonymizer::new(DEV_KEY.as_bytes()).pseudo(x)
}

pub fn strs(df: &DataFrame, c: &str) -> Vec<Option<String>> {
    df.column(c)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}
pub fn bools(df: &DataFrame, c: &str) -> Vec<Option<bool>> {
    df.column(c).unwrap().bool().unwrap().iter().collect()
}
pub fn ints(df: &DataFrame, c: &str) -> Vec<Option<i32>> {
    df.column(c).unwrap().i32().unwrap().iter().collect()
}
/// A date or datetime column as text (`2026-03-17`).
pub fn texts(df: &DataFrame, c: &str) -> Vec<Option<String>> {
    let s = df.column(c).unwrap().cast(&DataType::String).unwrap();
    s.str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}
pub fn count_true(df: &DataFrame, c: &str) -> usize {
    bools(df, c)
        .into_iter()
        .filter(|v| *v == Some(true))
        .count()
}
pub fn column_names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Rows with any of `flags` true or a non-null `champs_invalides`.
pub fn flagged(df: &DataFrame, flags: &[&str]) -> usize {
    let inv = strs(df, "champs_invalides");
    (0..df.height())
        .filter(|&i| inv[i].is_some() || flags.iter().any(|f| bools(df, f)[i] == Some(true)))
        .count()
}

/// No raw personal value of the ground truth's privacy section appears in
/// any cell of the table, in its rejects or in the source's state.
pub fn assert_no_pii(env: &Env, table: &str, source: &str, gt: &Value) {
    let mut text = String::new();
    for df in read_table(env, table).values() {
        for c in df.columns() {
            let s = c.cast(&DataType::String).unwrap();
            for v in s.str().unwrap().iter().flatten() {
                text.push_str(v);
                text.push('\n');
            }
        }
    }
    let rejects = env.lake().join("silver/_rejects").join(source);
    for rel in files_under(&rejects) {
        text.push_str(&std::fs::read_to_string(rejects.join(rel)).unwrap());
    }
    let state = env.lake().join(format!("silver/_state/{source}.json"));
    text.push_str(&std::fs::read_to_string(state).unwrap());
    let pii = &gt["privacy"]["pii"];
    let mut needles: Vec<String> = Vec::new();
    for k in [
        "names",
        "emails",
        "phones",
        "streets",
        "birth_dates",
        "sales_owners",
        "kyc_agents",
    ] {
        for v in pii[k].as_array().unwrap() {
            needles.push(v.as_str().unwrap().to_string());
        }
    }
    for (_, list) in pii["free_text_samples"].as_object().unwrap() {
        for v in list.as_array().unwrap() {
            needles.push(v.as_str().unwrap().to_string());
        }
    }
    let tracer = &gt["privacy"]["tracer"];
    for k in [
        "name",
        "email",
        "phone",
        "street",
        "birth_date_raw",
        "birth_date_iso",
        "prestataire_ref",
    ] {
        needles.push(tracer[k].as_str().unwrap().to_string());
    }
    // Raw customer ids and provider references never appear either.
    needles.push("CUST-".into());
    needles.push("PRV-".into());
    for n in needles {
        assert!(!text.contains(&n), "{n:?} found in silver {table}");
    }
}

/// Full refresh twice: same files, same bytes; a run with nothing new
/// changes nothing.
pub fn assert_idempotent(env: &Env, source: &str, table: &str) {
    silver(env, source, &["--full-refresh"]);
    let a = snapshot(env, table);
    let s = silver(env, source, &["--full-refresh"]);
    assert_eq!(s["rejected"], 0);
    let b = snapshot(env, table);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a == b, "full refresh changed bytes");
    let s = silver(env, source, &[]);
    assert_eq!(s["objects_new"], 0);
    assert_eq!(s["partitions_written"], 0);
    assert!(snapshot(env, table) == b);
}

pub fn set_mtime(path: &Path, rfc3339: &str) {
    let t: chrono::DateTime<chrono::Utc> = rfc3339.parse().unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t.into()).unwrap();
}
