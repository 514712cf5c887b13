//! `kvt-gen`, the real binary: determinism, ground truth against recounts of the files,
//! the committed fixture in `testdata/drive/`, usage errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn kvt_gen() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvt-gen"));
    for k in ["KVT_GEN_OUT", "KVT_GEN_SEED", "KVT_GEN_SCALE"] {
        c.env_remove(k);
    }
    c
}

fn run_ok(args: &[&str], out: &Path) -> Value {
    let o: Output = kvt_gen()
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run kvt-gen");
    assert!(
        o.status.success(),
        "kvt-gen {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last = stdout.lines().last().expect("a summary line");
    let summary: Value = serde_json::from_str(last).expect("summary is JSON");
    assert_eq!(summary["status"], "ok");
    let truth = std::fs::read(out.join("ground_truth.json")).expect("ground truth");
    serde_json::from_slice(&truth).expect("ground truth is JSON")
}

/// Every file under `dir`, by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(d)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).expect("read file"));
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

/// Minimal RFC 4180 split of one line.
fn csv_fields(line: &str, delim: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == delim && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

const SMALL: &[&str] = &[
    "--from",
    "2026-03-16",
    "--to",
    "2026-03-17",
    "--scale",
    "0.05",
];

#[test]
fn gen_same_seed_gives_identical_bytes() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    run_ok(SMALL, a.path());
    run_ok(SMALL, b.path());
    let fa = files(a.path());
    let fb = files(b.path());
    assert!(fa.len() > 60, "{} files", fa.len());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(
            v == &fb[k],
            "{k} differs between two runs with the same seed"
        );
    }
}

#[test]
fn gen_different_seed_gives_different_data() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let args = ["--date", "2026-03-17", "--scale", "0.02"];
    run_ok(&args, a.path());
    let mut other = args.to_vec();
    other.extend(["--seed", "43"]);
    run_ok(&other, b.path());
    let fa = files(a.path());
    let fb = files(b.path());
    for k in [
        "nginx_data/access-2026-03-17.log",
        "crm_data/crm_export_2026-03-17.csv",
        "events/payments/2026-03-17.jsonl",
        "ground_truth.json",
    ] {
        assert_ne!(fa[k], fb[k], "{k} should depend on the seed");
    }
}

#[test]
fn gen_source_subset_reproduces_the_same_files() {
    let all = tempfile::tempdir().expect("tempdir");
    let some = tempfile::tempdir().expect("tempdir");
    run_ok(&["--date", "2026-03-17", "--scale", "0.02"], all.path());
    run_ok(
        &[
            "--date",
            "2026-03-17",
            "--scale",
            "0.02",
            "--sources",
            "nginx,logistics",
        ],
        some.path(),
    );
    let fa = files(all.path());
    let fs = files(some.path());
    let subset: Vec<&String> = fs.keys().filter(|k| *k != "ground_truth.json").collect();
    assert_eq!(subset.len(), 7, "{subset:?}");
    for k in subset {
        assert!(
            k.starts_with("nginx_data/") || k.starts_with("logistic_partner_data/"),
            "{k}"
        );
        assert!(fa[k] == fs[k], "{k} differs when generated alone");
    }
}

#[test]
fn gen_ground_truth_matches_recounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = run_ok(&["--date", "2026-03-17", "--scale", "0.05"], dir.path());
    let p = dir.path();

    // Nginx: NUL lines.
    let log = std::fs::read(p.join("nginx_data/access-2026-03-17.log")).expect("log");
    let nul = log
        .split(|&b| b == b'\n')
        .filter(|l| l.contains(&0))
        .count() as u64;
    let ng = &t["nginx"]["days"][0];
    assert_eq!(nul, ng["nul_lines"].as_u64().expect("nul"));
    assert!(nul >= 1);
    let newlines = log.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(newlines, ng["lines"].as_u64().expect("lines"));

    // CRM: BOM, header, duplicate CUSTOMER IDs.
    let crm = std::fs::read_to_string(p.join("crm_data/crm_export_2026-03-17.csv")).expect("crm");
    assert!(crm.starts_with('\u{feff}'), "CRM file starts with a BOM");
    let mut rows = crm.trim_start_matches('\u{feff}').lines();
    let header = csv_fields(rows.next().expect("header"), ',');
    assert_eq!(header[1], "CUSTOMER ID");
    assert_eq!(header.len(), 26);
    let ids: Vec<String> = rows.map(|l| csv_fields(l, ',')[1].clone()).collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    let cf = &t["crm"]["files"][0];
    assert_eq!(ids.len() as u64, cf["rows"].as_u64().expect("rows"));
    assert_eq!(
        (ids.len() - distinct.len()) as u64,
        cf["duplicate_rows"].as_u64().expect("dups")
    );
    assert!(ids.len() > distinct.len());

    // Logistics: attempts > 10, rows, rows without an actual delivery date.
    let lg = &t["logistics"]["days"][0];
    let (mut n, mut over, mut ten, mut no_date) = (0u64, 0u64, 0u64, 0u64);
    for f in lg["files"].as_array().expect("files") {
        let text = std::fs::read_to_string(p.join(f["path"].as_str().expect("path"))).expect("csv");
        let mut it = text.lines();
        let header = csv_fields(it.next().expect("header"), ';');
        assert_eq!(header[16], "date_expédition");
        for line in it {
            let c = csv_fields(line, ';');
            n += 1;
            let att: u32 = c[21].parse().expect("attempts");
            over += u64::from(att > 10);
            ten += u64::from(att == 10);
            no_date += u64::from(c[18].is_empty());
        }
    }
    assert_eq!(n, lg["rows"].as_u64().expect("rows"));
    assert_eq!(
        over,
        lg["aberrant_attempts_rows"].as_u64().expect("aberrant")
    );
    assert_eq!(ten, lg["exactly_10_attempts_rows"].as_u64().expect("ten"));
    assert_eq!(
        no_date,
        lg["rows_without_date_livraison_reelle"]
            .as_u64()
            .expect("no date")
    );
    assert!(over >= 1 && ten >= 1);

    // KYC: sentinels and NULL statuses.
    let kyc = std::fs::read_to_string(p.join("kyc/kyc_export_2026-03.csv")).expect("kyc");
    let kf = &t["kyc"]["files"][0];
    let body: Vec<Vec<String>> = kyc.lines().skip(1).map(|l| csv_fields(l, ',')).collect();
    let s9999 = body.iter().filter(|c| c[5] == "9999-12-31").count() as u64;
    let null = body.iter().filter(|c| c[6] == "NULL").count() as u64;
    assert_eq!(
        s9999,
        kf["expiry_sentinel_9999_12_31"].as_u64().expect("sentinel")
    );
    assert_eq!(null, kf["status_canonical"]["NULL"].as_u64().expect("null"));

    // Events: messages and non-JSON values per topic.
    let day = &t["events"]["days"][0];
    for topic in ["payments", "orders", "kyc_decisions"] {
        let text = std::fs::read_to_string(p.join(format!("events/{topic}/2026-03-17.jsonl")))
            .expect("jsonl");
        let mut msgs = 0u64;
        let mut raw = 0u64;
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("envelope");
            assert!(v["ts"].is_i64() && v["key"].is_string());
            msgs += 1;
            raw += u64::from(v.get("value_raw").is_some());
        }
        assert_eq!(
            msgs,
            day[topic]["messages"].as_u64().expect("messages"),
            "{topic}"
        );
        assert_eq!(
            raw,
            day[topic]["dead_letter_non_json"].as_u64().expect("raw"),
            "{topic}"
        );
    }

    // Firebase: bot events.
    let fb = &t["firebase"]["days"][0];
    let mut bots = 0u64;
    for h in 0..24 {
        let text = std::fs::read_to_string(
            p.join(format!("firebase_data/2026-03-17/events_{h:02}.ndjson")),
        )
        .expect("ndjson");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("event");
            let dev = v["device_id"].as_str().expect("device_id");
            bots += u64::from(dev.starts_with("bot-") || dev.starts_with("headless-"));
        }
    }
    assert_eq!(bots, fb["bot_events"].as_u64().expect("bots"));

    // The tracer appears in every source.
    let seen: Vec<&str> = t["privacy"]["tracer"]["appears_in"]
        .as_array()
        .expect("appears_in")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        seen,
        ["crm", "events", "firebase", "kyc", "logistics", "nginx"]
    );
    // config/bin_blacklist.txt lists the blacklisted BINs.
    let bl = std::fs::read_to_string(p.join("config/bin_blacklist.txt")).expect("blacklist");
    for b in t["events"]["bin_blacklist"].as_array().expect("bins") {
        assert!(bl.lines().any(|l| l == b.as_str().expect("bin")));
    }
}

/// `testdata/drive/` must equal a fresh generation (see testdata/README.md).
#[test]
fn gen_committed_fixture_is_up_to_date() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/drive");
    let dir = tempfile::tempdir().expect("tempdir");
    run_ok(
        &["--date", "2026-03-17", "--scale", "0.01", "--seed", "42"],
        dir.path(),
    );
    let fresh = files(dir.path());
    let committed = files(&fixture);
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "regenerate testdata/drive as testdata/README.md says"
    );
    for (k, v) in &fresh {
        assert!(
            v == &committed[k],
            "testdata/drive/{k} is stale: regenerate it as testdata/README.md says"
        );
    }
    let total: usize = committed.values().map(Vec::len).sum();
    assert!(total < 1_000_000, "fixture is {total} bytes");
}

#[test]
fn gen_rejects_bad_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        vec![],
        vec!["--date", "2026-02-30"],
        vec!["--date", "2026-03-17", "--scale", "0"],
        vec!["--date", "2026-03-17", "--sources", "crm,ftp"],
        vec!["--from", "2026-03-18", "--to", "2026-03-17"],
    ] {
        let o = kvt_gen()
            .args(&args)
            .arg("--out")
            .arg(dir.path())
            .output()
            .expect("run");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}: no summary on failure");
    }
}
