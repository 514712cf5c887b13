//! `kvt check --html FILE`: a self-contained quality report for teams
//! without Metabase — the pass rate over time (drawn on a canvas by an inline
//! script: no network, no external file), the failing checks, the row count
//! of every table. Pure: data in, HTML out.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::check::{Outcome, Verdict};

/// Everything the report shows.
pub struct HtmlReport<'a> {
    pub generated_at: DateTime<Utc>,
    pub schema: &'a str,
    pub run_id: &'a str,
    pub verdict: &'a Verdict,
    pub results: &'a [Outcome],
    /// Earlier runs and this one: (end, pass rate, threshold), oldest first.
    pub history: &'a [(DateTime<Utc>, f64, f64)],
    /// Rows per warehouse table; `None` when the table cannot be counted.
    pub tables: &'a [(String, Option<i64>)],
}

/// HTML text of `s`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// JSON safe inside a `<script>` element.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--")
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em}\
.meta{color:#666}.verdict{display:inline-block;padding:.35em .8em;border-radius:4px;font-weight:600}\
.ok{background:#e3f4e6;color:#1d6b2c}.ko{background:#fbe3e1;color:#a0261b}\
table{border-collapse:collapse;width:100%;margin-top:.5em}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd}\
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}\
canvas{border:1px solid #ddd;max-width:100%}";

/// The pass-rate chart: axes 0–100 %, the threshold dashed, one point per run.
/// It marks the canvas with what it drew (`data-points`, `data-painted`).
const CHART_JS: &str = r##"(function () {
  var runs = JSON.parse(document.getElementById("kvt-history").textContent);
  var c = document.getElementById("pass-rate");
  var g = c.getContext("2d");
  var W = c.width, H = c.height, L = 48, R = 16, T = 16, B = 36;
  var x = function (i) { return runs.length < 2 ? L + (W - L - R) / 2 : L + i * (W - L - R) / (runs.length - 1); };
  var y = function (v) { return T + (1 - v) * (H - T - B); };
  g.fillStyle = "#fff"; g.fillRect(0, 0, W, H);
  g.strokeStyle = "#ccc"; g.fillStyle = "#666"; g.font = "12px sans-serif"; g.lineWidth = 1;
  for (var k = 0; k <= 4; k++) {
    var v = k / 4;
    g.beginPath(); g.moveTo(L, y(v)); g.lineTo(W - R, y(v)); g.stroke();
    g.fillText(Math.round(v * 100) + " %", 6, y(v) + 4);
  }
  if (runs.length) {
    g.fillText(runs[0].at.slice(0, 10), L, H - 12);
    g.fillText(runs[runs.length - 1].at.slice(0, 10), W - R - 70, H - 12);
    g.setLineDash([6, 4]); g.strokeStyle = "#d0392b"; g.beginPath();
    runs.forEach(function (r, i) { if (i) g.lineTo(x(i), y(r.threshold)); else g.moveTo(x(i), y(r.threshold)); });
    if (runs.length === 1) g.lineTo(W - R, y(runs[0].threshold));
    g.stroke(); g.setLineDash([]);
    g.strokeStyle = "#1f5fa8"; g.lineWidth = 2; g.beginPath();
    runs.forEach(function (r, i) { if (i) g.lineTo(x(i), y(r.pass_rate)); else g.moveTo(x(i), y(r.pass_rate)); });
    g.stroke();
    runs.forEach(function (r, i) {
      g.fillStyle = r.pass_rate >= r.threshold ? "#1f5fa8" : "#d0392b";
      g.beginPath(); g.arc(x(i), y(r.pass_rate), 3.5, 0, 2 * Math.PI); g.fill();
    });
  }
  var px = g.getImageData(0, 0, W, H).data, blue = 0;
  for (var p = 0; p < px.length; p += 4) if (px[p + 2] > 150 && px[p] < 80) blue++;
  c.setAttribute("data-points", String(runs.length));
  c.setAttribute("data-painted", String(blue));
})();"##;

/// The whole document.
pub fn render(r: &HtmlReport) -> String {
    let v = r.verdict;
    let history: Vec<serde_json::Value> = r
        .history
        .iter()
        .map(|(at, rate, thr)| json!({"at": at.to_rfc3339(), "pass_rate": rate, "threshold": thr}))
        .collect();
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str(&format!(
        "<title>kvt quality report — {}</title><style>{STYLE}</style></head><body>\n",
        escape(r.schema)
    ));
    h.push_str(&format!(
        "<h1>Data quality — schema <code>{}</code></h1>\n<p class=\"meta\">Generated {} UTC by kvt {} · run <code>{}</code></p>\n",
        escape(r.schema),
        r.generated_at.format("%Y-%m-%d %H:%M"),
        env!("CARGO_PKG_VERSION"),
        escape(r.run_id)
    ));
    h.push_str(&format!(
        "<p><span class=\"verdict {}\">{} — pass rate {} (threshold {})</span> · {} checks, {} passed, {} failed, {} warnings</p>\n",
        if v.passed { "ok" } else { "ko" },
        if v.passed { "PASSED" } else { "FAILED" },
        pct(v.pass_rate),
        pct(v.threshold),
        v.checks_run,
        v.checks_passed,
        v.checks_failed,
        v.warnings
    ));
    h.push_str("<h2>Pass rate over time</h2>\n");
    h.push_str("<canvas id=\"pass-rate\" width=\"900\" height=\"260\" role=\"img\" aria-label=\"pass rate per run, with the threshold\"></canvas>\n");
    h.push_str(&format!(
        "<script type=\"application/json\" id=\"kvt-history\">{}</script>\n<script>{CHART_JS}</script>\n",
        script_json(&serde_json::Value::Array(history))
    ));
    h.push_str("<noscript><table><tr><th>run ended</th><th>pass rate</th><th>threshold</th></tr>");
    for (at, rate, thr) in r.history {
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            at.format("%Y-%m-%d %H:%M"),
            pct(*rate),
            pct(*thr)
        ));
    }
    h.push_str("</table></noscript>\n");

    let failing: Vec<&Outcome> = r.results.iter().filter(|o| !o.passed).collect();
    h.push_str(&format!("<h2>Failing checks ({})</h2>\n", failing.len()));
    if failing.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<table id=\"failing\"><tr><th>check</th><th>table</th><th>column</th><th>category</th><th>severity</th><th>failing rows</th><th>error</th></tr>\n");
        for o in failing {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                escape(&o.id),
                escape(&o.table),
                escape(o.column.as_deref().unwrap_or("")),
                escape(&o.category),
                escape(&o.severity),
                o.failing_rows.map(|n| n.to_string()).unwrap_or_default(),
                escape(o.error.as_deref().unwrap_or(""))
            ));
        }
        h.push_str("</table>\n");
    }
    let warnings: Vec<&Outcome> = r
        .results
        .iter()
        .filter(|o| o.passed && o.failing_rows.unwrap_or(0) > 0)
        .collect();
    if !warnings.is_empty() {
        h.push_str(&format!(
            "<h2>Warnings ({})</h2>\n<table><tr><th>check</th><th>table</th><th>rows</th></tr>\n",
            warnings.len()
        ));
        for o in warnings {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>\n",
                escape(&o.id),
                escape(&o.table),
                o.failing_rows.unwrap_or(0)
            ));
        }
        h.push_str("</table>\n");
    }
    h.push_str(
        "<h2>Rows per table</h2>\n<table id=\"tables\"><tr><th>table</th><th>rows</th></tr>\n",
    );
    for (t, n) in r.tables {
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>\n",
            escape(t),
            n.map(|n| n.to_string()).unwrap_or_else(|| "missing".into())
        ));
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: &str, passed: bool, rows: i64) -> Outcome {
        Outcome {
            id: id.into(),
            table: "dim_client".into(),
            column: Some("age".into()),
            category: "plage".into(),
            severity: "erreur".into(),
            failing_rows: Some(rows),
            passed,
            duration_ms: 1,
            error: None,
        }
    }

    #[test]
    fn self_contained_escaped_and_complete() {
        let results = vec![
            outcome("<script>alert(1)</script>", false, 3),
            outcome("ok_check", true, 0),
        ];
        let v = crate::warehouse::check::verdict(&results, 0.8);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let history = vec![
            (t("2026-03-17T06:40:00Z"), 1.0, 0.8),
            (t("2026-03-18T06:40:00Z"), 0.5, 0.8),
        ];
        let tables = vec![
            ("dim_client".to_string(), Some(42)),
            ("gold_x".to_string(), None),
        ];
        let html = render(&HtmlReport {
            generated_at: t("2026-03-18T06:41:00Z"),
            schema: "kvt",
            run_id: "r1",
            verdict: &v,
            results: &results,
            history: &history,
            tables: &tables,
        });
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script>alert"), "check ids are escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("FAILED — pass rate 50.0 % (threshold 80.0 %)"));
        assert!(html.contains("<td>dim_client</td><td class=\"n\">42</td>"));
        assert!(html.contains("<td>gold_x</td><td class=\"n\">missing</td>"));
        // Nothing to fetch: no src= or href= to anything.
        assert!(!html.contains("src=") && !html.contains("href="));
        assert!(html.contains("\"pass_rate\":0.5"));
    }

    #[test]
    fn script_data_cannot_close_its_element() {
        let s = script_json(&json!({"at": "</script><script>x()</script>"}));
        assert!(!s.contains("</"));
    }
}
