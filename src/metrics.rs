//! Prometheus textfile metrics of batch runs (node_exporter textfile collector).
//!
//! One naming scheme for every command (docs/operations.md, "Metrics"):
//! `kvt_<command>_<metric>{<label>="<name>"}` where `<command>` is the
//! command's words joined by `_` (`ingest_drive`, `silver`, `gold`, `load`,
//! `check`, `fraud`, `kyc_purge`) and the label says what the run worked on:
//! `source` (ingest drive, silver), `group` (ingest kafka), `schema` (load,
//! check), `job` (fraud). Every run writes the standard gauges (success,
//! exit_code, rows_in, rows_out, rows_rejected, files, bytes,
//! duration_seconds, last_run_timestamp_seconds,
//! last_success_timestamp_seconds) and one gauge per numeric field of its
//! summary line; a field holding an object of numbers (`rows_per_table`)
//! becomes one series per key, labelled by what follows `_per_` (`table`).
//! The long-running commands serve the same names on `/metrics`
//! (`kvt_fraud_*{job}`, `kvt_kyc_*`).
//!
//! One file per command and name, `kvt_<command>_<name>.prom`, replaced
//! atomically (write to a temporary file, then rename). The last-success
//! timestamp is carried over from the previous file when a run fails, so an
//! alert on "no success for 26 h" keeps working.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// What a run reports.
#[derive(Debug, Clone, Default)]
pub struct RunMetrics {
    pub command: String,
    /// Source, table or job the run worked on.
    pub name: String,
    /// The run exited 0 (exit 1, a data verdict, is not a success).
    pub success: bool,
    /// 0, 1 or 2 (docs/exit-codes.md).
    pub exit_code: u8,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    pub files: u64,
    pub bytes: u64,
    pub duration_secs: f64,
    /// Unix time of the end of the run.
    pub finished_at: i64,
    /// The summary line's fields.
    pub fields: Map<String, Value>,
}

/// The metric prefix of a command and the label naming what it worked on.
pub fn naming(command: &str, name: &str) -> (String, Option<(&'static str, String)>) {
    let mut words = command.split_whitespace();
    let first = words.next().unwrap_or("run");
    let rest: Vec<&str> = words.collect();
    let (prefix, label) = match (first, rest.as_slice()) {
        ("ingest", ["drive"]) => ("ingest_drive".to_string(), "source"),
        ("ingest", ["kafka"]) => ("ingest_kafka".to_string(), "group"),
        // `silver nginx`: one prefix for every source, the source is the label.
        ("silver", [source]) => {
            return ("silver".into(), Some(("source", source.to_string())));
        }
        ("load", []) | ("check", []) => (first.to_string(), "schema"),
        ("fraud", ["run"]) => ("fraud".to_string(), "job"),
        _ => (clean(command), "name"),
    };
    let label = (!name.is_empty()).then(|| (label, name.to_string()));
    (prefix, label)
}

/// The standard gauges: (metric, help).
const STANDARD: &[(&str, &str)] = &[
    (
        "success",
        "1 if the last run succeeded, 0 otherwise (exit 1 is not a success).",
    ),
    (
        "exit_code",
        "Exit code of the last run: 0 success, 1 the data said no, 2 error.",
    ),
    ("rows_in", "Rows (or messages) read by the last run."),
    ("rows_out", "Rows (or messages) written by the last run."),
    ("rows_rejected", "Rows rejected by the last run."),
    ("files", "Files or objects written by the last run."),
    ("bytes", "Bytes written by the last run."),
    ("duration_seconds", "Wall-clock duration of the last run."),
    (
        "last_run_timestamp_seconds",
        "Unix time the last run ended.",
    ),
    (
        "last_success_timestamp_seconds",
        "Unix time of the last successful run.",
    ),
];

/// Label name of the series of an object field: what follows `_per_`
/// (`rows_per_table` → `table`); gold's `rows` are per table.
fn key_label(prefix: &str, field: &str) -> String {
    match field.rsplit_once("_per_") {
        Some((_, by)) => clean(by),
        None if prefix == "gold" => "table".into(),
        None => "key".into(),
    }
}

fn number(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(|f| {
            if n.is_i64() || n.is_u64() {
                n.to_string()
            } else {
                format!("{f}")
            }
        }),
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        _ => None,
    }
}

/// File the metrics of `command`/`name` are written to.
pub fn file_name(command: &str, name: &str) -> String {
    if name.is_empty() {
        format!("kvt_{}.prom", clean(command))
    } else {
        format!("kvt_{}_{}.prom", clean(command), clean(name))
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Render the textfile. `previous_success` is the last success time found in the old file.
pub fn render(m: &RunMetrics, previous_success: Option<i64>) -> String {
    let (prefix, label) = naming(&m.command, &m.name);
    let base: Vec<(&str, &str)> = label.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut s = String::new();
    let mut emitted = BTreeSet::new();
    let mut family = |s: &mut String, metric: &str, help: &str, series: &[(String, String)]| {
        let name = format!("kvt_{prefix}_{metric}");
        if series.is_empty() || !emitted.insert(name.clone()) {
            return;
        }
        let _ = writeln!(s, "# HELP {name} {help}");
        let _ = writeln!(s, "# TYPE {name} gauge");
        for (l, v) in series {
            let _ = writeln!(s, "{name}{l} {v}");
        }
    };
    let last_success = if m.success {
        Some(m.finished_at)
    } else {
        previous_success
    };
    for (metric, help) in STANDARD {
        let value = match *metric {
            "success" => Some(u8::from(m.success).to_string()),
            "exit_code" => Some(m.exit_code.to_string()),
            "rows_in" => Some(m.rows_in.to_string()),
            "rows_out" => Some(m.rows_out.to_string()),
            "rows_rejected" => Some(m.rows_rejected.to_string()),
            "files" => Some(m.files.to_string()),
            "bytes" => Some(m.bytes.to_string()),
            "duration_seconds" => Some(format!("{:.3}", m.duration_secs)),
            "last_run_timestamp_seconds" => Some(m.finished_at.to_string()),
            _ => last_success.map(|t| t.to_string()),
        };
        let series: Vec<(String, String)> = value.map(|v| (labels(&base), v)).into_iter().collect();
        family(&mut s, metric, help, &series);
    }
    for (field, value) in &m.fields {
        let metric = clean(field);
        let help = format!("Summary field `{field}` of the last run.");
        match value {
            Value::Object(map) => {
                let key = key_label(&prefix, field);
                let series: Vec<(String, String)> = map
                    .iter()
                    .filter_map(|(k, v)| {
                        let mut l = base.clone();
                        l.push((key.as_str(), k.as_str()));
                        number(v).map(|v| (labels(&l), v))
                    })
                    .collect();
                family(&mut s, &metric, &help, &series);
            }
            v => {
                if let Some(n) = number(v) {
                    family(&mut s, &metric, &help, &[(labels(&base), n)]);
                }
            }
        }
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Read the last-success timestamp from a previous textfile.
pub fn previous_success(text: &str) -> Option<i64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.split(['{', ' '])
                .next()
                .is_some_and(|n| n.ends_with("_last_success_timestamp_seconds"))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Every metric name of a textfile (for the dashboard test).
pub fn names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Write the metrics of one run into `dir`, atomically.
pub fn write(dir: &Path, m: &RunMetrics) -> std::io::Result<PathBuf> {
    let path = dir.join(file_name(&m.command, &m.name));
    let previous = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| previous_success(&t));
    crate::localfs::write_atomically(&path, render(m, previous).as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failure_keeps_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = RunMetrics {
            command: "ingest drive".into(),
            name: "crm".into(),
            success: true,
            rows_out: 3,
            finished_at: 1000,
            ..Default::default()
        };
        let p = write(dir.path(), &m).unwrap();
        assert!(p.ends_with("kvt_ingest_drive_crm.prom"));
        m.success = false;
        m.finished_at = 2000;
        write(dir.path(), &m).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("kvt_ingest_drive_success{source=\"crm\"} 0"),
            "{text}"
        );
        assert_eq!(previous_success(&text), Some(1000));
        assert!(text.contains("kvt_ingest_drive_last_run_timestamp_seconds{source=\"crm\"} 2000"));
    }

    #[test]
    fn one_naming_scheme() {
        assert_eq!(
            naming("silver nginx", "nginx"),
            ("silver".into(), Some(("source", "nginx".into())))
        );
        assert_eq!(
            naming("ingest kafka", "kvt-bronze").1,
            Some(("group", "kvt-bronze".into()))
        );
        assert_eq!(naming("gold", ""), ("gold".into(), None));
        assert_eq!(naming("load", "kvt").1, Some(("schema", "kvt".into())));
        assert_eq!(
            naming("fraud run", "payments"),
            ("fraud".into(), Some(("job", "payments".into())))
        );
        assert_eq!(naming("kyc purge", "").0, "kyc_purge");
    }

    #[test]
    fn summary_fields_become_gauges() {
        let fields = json!({
            "pass_rate": 0.9512, "checks_failed": 2, "warehouse": "postgres://x",
            "rows_per_table": {"dim_date": 10, "fact_commande": 5},
            "rows": {"dim_date": 10}, "dry": true, "bytes": 7, "verdicts": [1]
        });
        let m = RunMetrics {
            command: "check".into(),
            name: "kvt".into(),
            success: true,
            bytes: 3,
            fields: fields.as_object().unwrap().clone(),
            ..Default::default()
        };
        let text = render(&m, None);
        assert!(
            text.contains("kvt_check_pass_rate{schema=\"kvt\"} 0.9512"),
            "{text}"
        );
        assert!(text.contains("kvt_check_checks_failed{schema=\"kvt\"} 2"));
        assert!(text.contains("kvt_check_rows_per_table{schema=\"kvt\",table=\"fact_commande\"} 5"));
        assert!(text.contains("kvt_check_rows{schema=\"kvt\",key=\"dim_date\"} 10"));
        assert!(text.contains("kvt_check_dry{schema=\"kvt\"} 1"));
        // A field named like a standard gauge does not repeat it.
        assert_eq!(text.matches("# TYPE kvt_check_bytes gauge").count(), 1);
        assert!(text.contains("kvt_check_bytes{schema=\"kvt\"} 3"));
        assert!(!text.contains("warehouse") && !text.contains("verdicts"));
        let gold = RunMetrics {
            command: "gold".into(),
            fields: json!({"rows": {"dim_date": 4}})
                .as_object()
                .unwrap()
                .clone(),
            ..Default::default()
        };
        assert!(render(&gold, None).contains("kvt_gold_rows{table=\"dim_date\"} 4"));
        let n = names(&render(&gold, None));
        assert!(n.contains("kvt_gold_success") && n.contains("kvt_gold_rows"));
    }
}
