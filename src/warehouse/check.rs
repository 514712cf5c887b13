//! `kvt check`: the quality gate (CHECK-1..7).
//!
//! The checks are a catalogue (`checks.toml`, embedded; an operator's file
//! can replace or extend it): each has an id, a table, a category
//! (`completude`, `volume`, `plage`, `coherence` — CHECK-3), a severity and
//! one SQL query returning the number of failing rows. A check passes at 0.
//! An `avertissement` (a known legitimate exception, such as a negative
//! lifetime value after refunds, CHECK-7) is reported but never fails: it
//! counts as passed. A check whose SQL errors fails, with the error.
//!
//! pass rate = passed ÷ run; below the threshold (default 80 %, CHECK-6;
//! exactly 80 % passes) the command exits 1 listing the failing checks.
//! Every run and every result is stored in `<schema>.quality_check_runs` and
//! `<schema>.quality_check_results` (CHECK-5), for Metabase.

use std::time::Instant;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

/// The embedded catalogue.
pub const CATALOGUE: &str = include_str!("checks.toml");

/// One check of the catalogue.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub id: String,
    pub table: String,
    #[serde(default)]
    pub column: Option<String>,
    pub category: String,
    pub severity: String,
    #[serde(default)]
    pub description: String,
    pub sql: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    check: Vec<Check>,
}

pub const CATEGORIES: [&str; 4] = ["completude", "volume", "plage", "coherence"];
pub const SEVERITIES: [&str; 2] = ["erreur", "avertissement"];

/// Parse and validate a catalogue (ids unique, known categories and severities).
pub fn parse(text: &str, origin: &str) -> anyhow::Result<Vec<Check>> {
    let c: Catalogue =
        toml::from_str(text).with_context(|| format!("invalid check catalogue {origin}"))?;
    let mut seen = std::collections::BTreeSet::new();
    for k in &c.check {
        anyhow::ensure!(
            seen.insert(k.id.clone()),
            "{origin}: check `{}` declared twice",
            k.id
        );
        anyhow::ensure!(
            CATEGORIES.contains(&k.category.as_str()),
            "{origin}: check `{}`: category `{}` is not one of {}",
            k.id,
            k.category,
            CATEGORIES.join(", ")
        );
        anyhow::ensure!(
            SEVERITIES.contains(&k.severity.as_str()),
            "{origin}: check `{}`: severity `{}` is not one of {}",
            k.id,
            k.severity,
            SEVERITIES.join(", ")
        );
        anyhow::ensure!(
            !k.sql.trim().is_empty(),
            "{origin}: check `{}` has no SQL",
            k.id
        );
    }
    Ok(c.check)
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: String,
    pub table: String,
    pub column: Option<String>,
    pub category: String,
    pub severity: String,
    pub failing_rows: Option<i64>,
    pub passed: bool,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// A run's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub checks_run: usize,
    pub checks_passed: usize,
    pub checks_failed: usize,
    pub warnings: usize,
    pub pass_rate: f64,
    pub threshold: f64,
    pub passed: bool,
}

/// The verdict of a set of results (pure).
pub fn verdict(results: &[Outcome], threshold: f64) -> Verdict {
    let run = results.len();
    let passed = results.iter().filter(|r| r.passed).count();
    let warnings = results
        .iter()
        .filter(|r| r.severity == "avertissement" && r.failing_rows.unwrap_or(0) > 0)
        .count();
    let pass_rate = if run == 0 {
        1.0
    } else {
        passed as f64 / run as f64
    };
    Verdict {
        checks_run: run,
        checks_passed: passed,
        checks_failed: run - passed,
        warnings,
        pass_rate,
        threshold,
        // Exactly at the threshold passes (CHECK-6); compared in whole
        // checks, so 4 of 5 is exactly 80 % whatever the float rounding.
        passed: passed as f64 >= threshold * run as f64 - 1e-9,
    }
}

/// Run one check.
async fn run_one(client: &Client, schema: &str, c: &Check) -> Outcome {
    let started = Instant::now();
    let sql = c.sql.replace("{schema}", schema);
    let res = client.query_one(sql.as_str(), &[]).await;
    let (failing, error) = match res {
        Ok(row) => match row.try_get::<_, i64>(0) {
            Ok(n) => (Some(n), None),
            Err(_) => match row.try_get::<_, i32>(0) {
                Ok(n) => (Some(i64::from(n)), None),
                Err(e) => (
                    None,
                    Some(format!("the query must return one integer: {e}")),
                ),
            },
        },
        Err(e) => (None, Some(crate::run::error_chain(&anyhow::Error::from(e)))),
    };
    let passed = error.is_none() && (c.severity == "avertissement" || failing == Some(0));
    Outcome {
        id: c.id.clone(),
        table: c.table.clone(),
        column: c.column.clone(),
        category: c.category.clone(),
        severity: c.severity.clone(),
        failing_rows: failing,
        passed,
        duration_ms: started.elapsed().as_millis() as u64,
        error,
    }
}

/// Run every check and store the run and its results.
pub async fn run(
    client: &mut Client,
    schema: &str,
    checks: &[Check],
    threshold: f64,
    run_id: &str,
) -> anyhow::Result<(Vec<Outcome>, Verdict)> {
    let started = chrono::Utc::now();
    let mut results = Vec::with_capacity(checks.len());
    for c in checks {
        results.push(run_one(client, schema, c).await);
    }
    let v = verdict(&results, threshold);
    let tx = client.transaction().await?;
    // A scheduler's retry may reuse the run id: its latest attempt wins.
    for t in ["quality_check_results", "quality_check_runs"] {
        tx.execute(
            &format!("DELETE FROM {schema}.{t} WHERE run_id = $1"),
            &[&run_id],
        )
        .await?;
    }
    tx.execute(
        &format!(
            "INSERT INTO {schema}.quality_check_runs
               (run_id, started_at, finished_at, checks_run, checks_passed, checks_failed, warnings,
                pass_rate, threshold, status, kvt_version)
             VALUES ($1, $2, now(), $3, $4, $5, $6, $7, $8, $9, $10)"
        ),
        &[
            &run_id,
            &started,
            &(v.checks_run as i32),
            &(v.checks_passed as i32),
            &(v.checks_failed as i32),
            &(v.warnings as i32),
            &v.pass_rate,
            &v.threshold,
            &(if v.passed { "ok" } else { "rejected" }),
            &env!("CARGO_PKG_VERSION"),
        ],
    )
    .await
    .with_context(|| format!("recording the run in {schema}.quality_check_runs"))?;
    for r in &results {
        tx.execute(
            &format!(
                "INSERT INTO {schema}.quality_check_results
                   (run_id, check_id, table_name, column_name, category, severity, failing_rows,
                    passed, duration_ms, error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &run_id,
                &r.id,
                &r.table,
                &r.column,
                &r.category,
                &r.severity,
                &r.failing_rows,
                &r.passed,
                &(r.duration_ms as i64),
                &r.error,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok((results, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(passed: bool, severity: &str, failing: i64) -> Outcome {
        Outcome {
            id: "x".into(),
            table: "t".into(),
            column: None,
            category: "plage".into(),
            severity: severity.into(),
            failing_rows: Some(failing),
            passed,
            duration_ms: 0,
            error: None,
        }
    }

    #[test]
    fn exactly_the_threshold_passes() {
        let mut r: Vec<Outcome> = (0..4).map(|_| outcome(true, "erreur", 0)).collect();
        r.push(outcome(false, "erreur", 3));
        let v = verdict(&r, 0.8);
        assert!(v.passed && (v.pass_rate - 0.8).abs() < 1e-12);
        let mut r: Vec<Outcome> = (0..79).map(|_| outcome(true, "erreur", 0)).collect();
        r.extend((0..21).map(|_| outcome(false, "erreur", 1)));
        assert!(!verdict(&r, 0.8).passed, "79 %");
        r.push(outcome(true, "avertissement", 5));
        let v = verdict(&r, 0.8);
        assert_eq!(v.warnings, 1);
        assert_eq!(v.checks_run, 101);
    }

    #[test]
    fn the_catalogue_is_valid_and_covers_every_category() {
        let checks = parse(CATALOGUE, "checks.toml").unwrap();
        assert!(checks.len() >= 40, "{} checks", checks.len());
        for cat in CATEGORIES {
            assert!(checks.iter().any(|c| c.category == cat), "{cat}");
        }
        for c in &checks {
            assert!(
                c.sql.contains("{schema}."),
                "{} does not use {{schema}}",
                c.id
            );
        }
        let bad = "[[check]]\nid='a'\ntable='t'\ncategory='x'\nseverity='erreur'\nsql='select 0'\n";
        assert!(parse(bad, "t")
            .unwrap_err()
            .to_string()
            .contains("category"));
    }
}
