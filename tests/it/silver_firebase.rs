//! `kvt silver firebase`: the generated Firebase export against the ground
//! truth, privacy of what is written, idempotence and incremental runs.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde_json::Value;

use crate::common::silver::{copy_dir, ground_truth, read_table, testdata};
use crate::common::{files_under, run_expect, Env};

const CONFIG: &str =
    "[sources.firebase]\npath = \"drop/firebase_data\"\nprefix = \"firebase_data\"\n";

fn setup() -> Env {
    let env = Env::new();
    env.write("kvt.toml", CONFIG);
    copy_dir(
        &testdata().join("firebase_data"),
        &env.path().join("drop/firebase_data"),
    );
    run_expect(
        env.kvt().args(["ingest", "drive", "--source", "firebase"]),
        0,
    );
    env
}

fn silver(env: &Env, extra: &[&str]) -> Value {
    let mut c = env.kvt();
    c.args(["silver", "firebase", "--dev-key"]).args(extra);
    run_expect(&mut c, 0).summary()
}

/// (relative path, bytes) of every file under `silver/<table>`.
fn snapshot(env: &Env, table: &str) -> Vec<(String, Vec<u8>)> {
    let root = env.lake().join("silver").join(table);
    files_under(&root)
        .into_iter()
        .map(|rel| {
            let b = std::fs::read(root.join(&rel)).unwrap();
            (rel, b)
        })
        .collect()
}

/// The fixture's events, one JSON value per line.
fn raw_events() -> Vec<Value> {
    let dir = testdata().join("firebase_data");
    let mut out = Vec::new();
    for rel in files_under(&dir) {
        let text = std::fs::read_to_string(dir.join(rel)).unwrap();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

fn is_bot_or_test(e: &Value) -> bool {
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_ascii_lowercase();
    s("device_id").starts_with("bot-")
        || s("device_id").starts_with("headless-")
        || s("session_id").starts_with("test-")
        || s("app_version").ends_with("-test")
}

/// The documented pivot (docs/silver.md): params keys that become columns.
fn pivot_keys(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "app_open" => &["source", "campaign_id"],
        "screen_view" => &["screen_name", "previous_screen", "time_on_prev_screen_ms"],
        "view_item" => &["product_id", "price_eur", "currency"],
        "view_item_list" => &["item_list_name", "items_shown"],
        "search" => &["search_term", "results_count"],
        "add_to_cart" => &[
            "product_id",
            "quantity",
            "price_eur",
            "currency",
            "cart_value_eur",
        ],
        "remove_from_cart" => &["product_id", "quantity"],
        "begin_checkout" => &["cart_value_eur", "items_count", "currency", "coupon_code"],
        "add_payment_info" => &["payment_type"],
        "purchase" => &[
            "transaction_id",
            "value_eur",
            "currency",
            "items_count",
            "shipping_eur",
            "payment_method",
        ],
        "login" | "sign_up" => &["method"],
        "select_promotion" => &["promotion_id", "promotion_name"],
        "share" => &["content_type", "item_id"],
        _ => return None,
    })
}

fn strings(df: &DataFrame, col: &str) -> Vec<Option<String>> {
    let c = df.column(col).unwrap().as_materialized_series().clone();
    c.str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

#[test]
fn silver_firebase_counts_types_and_privacy_match_the_ground_truth() {
    let env = setup();
    let s = silver(&env, &[]);
    let gt = ground_truth(&testdata());
    let day = &gt["firebase"]["days"][0];
    let raw = raw_events();
    let human: Vec<&Value> = raw.iter().filter(|e| !is_bot_or_test(e)).collect();
    assert_eq!(s["rows_in"], day["events"], "{s}");
    assert_eq!(
        s["filtered"].as_u64().unwrap(),
        day["bot_events"].as_u64().unwrap() + day["test_events"].as_u64().unwrap(),
        "{s}"
    );
    assert_eq!(s["rows_out"], day["human_events"], "{s}");
    assert_eq!(human.len() as u64, day["human_events"].as_u64().unwrap());
    assert_eq!(s["rejected"], 0);
    assert_eq!(s["deduplicated"], 0);
    let string_ts = human
        .iter()
        .filter(|e| e["event_timestamp"].is_string())
        .count();
    assert!(string_ts > 0, "the fixture has numeric-string timestamps");
    assert_eq!(s["flagged"], string_ts as u64, "{s}");
    assert!(!env.lake().join("silver/_rejects/firebase").exists());

    let tables = read_table(&env, "firebase");
    let date = day["date"].as_str().unwrap();
    // Per event_name: one partition each, with exactly the human events of that name.
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for e in &human {
        *want
            .entry(e["event_name"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for (p, df) in &tables {
        let name = p
            .strip_prefix(&format!("firebase/event_date={date}/event_name="))
            .unwrap_or_else(|| panic!("unexpected partition {p}"));
        got.insert(name.to_string(), df.height());
        assert!(strings(df, "event_name")
            .iter()
            .all(|v| v.as_deref() == Some(name)));
    }
    assert_eq!(got, want);
    for (name, n) in day["by_event_name"].as_object().unwrap() {
        assert!(
            got.get(name).copied().unwrap_or(0) as u64 <= n.as_u64().unwrap(),
            "{name}"
        );
    }
    // Unknown event names are kept (not rejected).
    let unknown: usize = [
        "ab_test_exposure",
        "push_received",
        "app_update",
        "widget_tap",
    ]
    .iter()
    .map(|n| got.get(*n).copied().unwrap_or(0))
    .sum();
    let unknown_raw = human
        .iter()
        .filter(|e| pivot_keys(e["event_name"].as_str().unwrap()).is_none())
        .count();
    assert_eq!(unknown, unknown_raw);

    // Types (SILVER-L2).
    let vi = &tables[&format!("firebase/event_date={date}/event_name=view_item")];
    let dtype = |df: &DataFrame, c: &str| df.column(c).unwrap().dtype().clone();
    assert_eq!(dtype(vi, "event_date"), DataType::Date);
    assert_eq!(
        dtype(vi, "event_timestamp"),
        DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
    );
    assert_eq!(dtype(vi, "price_eur"), DataType::Float64);
    assert_eq!(dtype(vi, "quantity"), DataType::Int64);
    assert_eq!(dtype(vi, "is_anonymous"), DataType::Boolean);
    assert_eq!(dtype(vi, "bronze_line"), DataType::Int64);
    assert_eq!(vi.column("price_eur").unwrap().null_count(), 0);
    assert_eq!(
        vi.column("screen_name").unwrap().null_count(),
        vi.height(),
        "pivot: null when it does not apply"
    );

    // Unexpected keys and unknown events are in params_extra, nothing else is.
    let with_extra = human
        .iter()
        .filter(|e| {
            let keys = pivot_keys(e["event_name"].as_str().unwrap());
            e["params"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| keys.is_none_or(|ks| !ks.contains(&k.as_str())))
        })
        .count();
    let extra_rows: usize = tables
        .values()
        .map(|df| df.height() - df.column("params_extra").unwrap().null_count())
        .sum();
    assert!(with_extra > 0);
    assert_eq!(extra_rows, with_extra);

    // Privacy (C6, SILVER-FB-6/7): no raw identifier or PII anywhere.
    let pii = &gt["privacy"]["pii"];
    let mut forbidden: Vec<String> = Vec::new();
    for k in ["names", "emails", "phones", "ips", "device_ids"] {
        forbidden.extend(
            pii[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    for e in &raw {
        forbidden.push(e["device_id"].as_str().unwrap().to_string());
        forbidden.push(e["session_id"].as_str().unwrap().to_string());
    }
    let pseudo = kvt::silver::pseudo::Pseudonymizer::new(kvt::silver::pseudo::DEV_KEY.as_bytes());
    let tracer = &gt["privacy"]["tracer"];
    let tracer_id = pseudo.pseudo(tracer["customer_id"].as_str().unwrap());
    let tracer_device = pseudo.pseudo(tracer["device_ids"][0].as_str().unwrap());
    let (mut tracer_rows, mut tracer_device_rows, mut anonymous) = (0, 0, 0);
    for df in tables.values() {
        for c in df.columns() {
            if c.dtype() != &DataType::String || c.name().as_str() == "bronze_key" {
                continue;
            }
            for v in strings(df, c.name()).into_iter().flatten() {
                for f in &forbidden {
                    assert!(!v.contains(f.as_str()), "{} holds raw {f}", c.name());
                }
            }
        }
        for u in strings(df, "user_id").into_iter().flatten() {
            if u == "anonymous" {
                anonymous += 1;
            } else {
                assert!(
                    u.len() == 64 && u.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{u}"
                );
            }
            tracer_rows += usize::from(u == tracer_id);
        }
        tracer_device_rows += strings(df, "device_id")
            .iter()
            .filter(|d| d.as_deref() == Some(tracer_device.as_str()))
            .count();
    }
    assert_eq!(tracer_rows as u64, day["tracer_events"].as_u64().unwrap());
    assert_eq!(
        tracer_device_rows as u64,
        day["tracer_events"].as_u64().unwrap()
    );
    assert_eq!(
        anonymous as u64,
        day["anonymous_human_events"].as_u64().unwrap(),
        "anonymous kept as is"
    );
}

#[test]
fn silver_firebase_full_refresh_is_byte_identical_and_incremental_runs_agree() {
    let env = setup();
    silver(&env, &[]);
    let first = snapshot(&env, "firebase");
    assert!(first.iter().any(|(p, _)| p.ends_with(".parquet")));
    silver(&env, &["--full-refresh"]);
    let a = snapshot(&env, "firebase");
    silver(&env, &["--full-refresh"]);
    let b = snapshot(&env, "firebase");
    assert!(a == b, "two full refreshes write the same files and bytes");
    assert!(a == first, "an incremental first run equals a full refresh");
    let s = silver(&env, &[]);
    assert_eq!(s["objects_new"], 0, "{s}");

    // A late file: a re-exported event, two bad lines, an event of the next day.
    let human = raw_events()
        .into_iter()
        .find(|v| !is_bot_or_test(v) && v["event_timestamp"].is_i64())
        .map(|v| serde_json::to_string(&v).unwrap())
        .unwrap();
    let next_day = human
        .replacen(r#""event_id":""#, r#""event_id":"late-"#, 1)
        .replace("\"event_timestamp\":17737", "\"event_timestamp\":17738");
    let late = format!(
        "{human}\n{{\"event_id\": \"jean.dupont@example.com\", broken\n{}\n{next_day}\n",
        human.replacen("\"event_id\":", "\"id\":", 1)
    );
    env.write("drop/firebase_data/2026-03-17/events_99.ndjson", late);
    run_expect(
        env.kvt().args(["ingest", "drive", "--source", "firebase"]),
        0,
    );
    let s = silver(&env, &[]);
    assert_eq!(s["objects_new"], 1, "{s}");
    assert_eq!(s["rows_in"], 4, "{s}");
    assert_eq!(s["rejected"], 2, "{s}");
    assert_eq!(s["deduplicated"], 1, "{s}");
    let rejects_dir = env.lake().join("silver/_rejects/firebase");
    let files = files_under(&rejects_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].contains("events_99"), "{files:?}");
    let body = std::fs::read_to_string(rejects_dir.join(&files[0])).unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["line"].as_u64(), lines[0]["field"].as_str()),
        (Some(2), Some("line"))
    );
    assert_eq!(
        (lines[1]["line"].as_u64(), lines[1]["field"].as_str()),
        (Some(3), Some("event_id"))
    );
    assert!(
        !body.contains("jean") && !body.contains("device_id"),
        "no row content: {body}"
    );
    let tables = read_table(&env, "firebase");
    assert!(
        tables.keys().any(|p| p.contains("event_date=2026-03-18")),
        "{:?}",
        tables.keys()
    );
    let total: usize = tables.values().map(DataFrame::height).sum();
    assert_eq!(
        total as u64,
        ground_truth(&testdata())["firebase"]["days"][0]["human_events"]
            .as_u64()
            .unwrap()
            + 1
    );

    // What the incremental run wrote is what a rebuild from scratch writes.
    let incremental = snapshot(&env, "firebase");
    silver(&env, &["--full-refresh"]);
    assert!(snapshot(&env, "firebase") == incremental);
}
