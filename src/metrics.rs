//! Prometheus textfile metrics of batch runs (node_exporter textfile collector).
//!
//! One file per command and name, `kvt_<command>_<name>.prom`, replaced
//! atomically (write to a temporary file, then rename). The last-success
//! timestamp is carried over from the previous file when a run fails, so an
//! alert on "no success for 26 h" keeps working.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
}

const LAST_SUCCESS: &str = "kvt_last_success_timestamp_seconds";

/// File the metrics of `command`/`name` are written to.
pub fn file_name(command: &str, name: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
    };
    if name.is_empty() {
        format!("kvt_{}.prom", clean(command))
    } else {
        format!("kvt_{}_{}.prom", clean(command), clean(name))
    }
}

/// Render the textfile. `previous_success` is the last success time found in the old file.
pub fn render(m: &RunMetrics, previous_success: Option<i64>) -> String {
    let labels = format!(
        "command=\"{}\",name=\"{}\"",
        escape(&m.command),
        escape(&m.name)
    );
    let mut s = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = writeln!(s, "# HELP {name} {help}");
        let _ = writeln!(s, "# TYPE {name} gauge");
        let _ = writeln!(s, "{name}{{{labels}}} {value}");
    };
    gauge(
        "kvt_run_success",
        "1 if the last run succeeded, 0 otherwise.",
        u8::from(m.success).to_string(),
    );
    gauge(
        "kvt_run_exit_code",
        "Exit code of the last run: 0 success, 1 the data said no, 2 error.",
        m.exit_code.to_string(),
    );
    gauge(
        "kvt_run_rows_in",
        "Rows (or messages) read by the last run.",
        m.rows_in.to_string(),
    );
    gauge(
        "kvt_run_rows_out",
        "Rows (or messages) written by the last run.",
        m.rows_out.to_string(),
    );
    gauge(
        "kvt_run_rows_rejected",
        "Rows rejected by the last run.",
        m.rows_rejected.to_string(),
    );
    gauge(
        "kvt_run_files",
        "Files or objects written by the last run.",
        m.files.to_string(),
    );
    gauge(
        "kvt_run_bytes",
        "Bytes written by the last run.",
        m.bytes.to_string(),
    );
    gauge(
        "kvt_run_duration_seconds",
        "Wall-clock duration of the last run.",
        format!("{:.3}", m.duration_secs),
    );
    gauge(
        "kvt_run_finished_timestamp_seconds",
        "Unix time the last run ended.",
        m.finished_at.to_string(),
    );
    let last = if m.success {
        Some(m.finished_at)
    } else {
        previous_success
    };
    if let Some(t) = last {
        gauge(
            LAST_SUCCESS,
            "Unix time of the last successful run.",
            t.to_string(),
        );
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
        .find(|l| l.starts_with(LAST_SUCCESS) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Write the metrics of one run into `dir`, atomically.
pub fn write(dir: &Path, m: &RunMetrics) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(&m.command, &m.name));
    let previous = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| previous_success(&t));
    let tmp = dir.join(format!(".{}.tmp", file_name(&m.command, &m.name)));
    std::fs::write(&tmp, render(m, previous))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(text.contains("kvt_run_success{command=\"ingest drive\",name=\"crm\"} 0"));
        assert_eq!(previous_success(&text), Some(1000));
        assert!(text.contains(
            "kvt_run_finished_timestamp_seconds{command=\"ingest drive\",name=\"crm\"} 2000"
        ));
    }
}
