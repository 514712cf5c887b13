//! `kvt check`: the quality gate on the warehouse.

use anyhow::Context as _;

use crate::cli::CheckArgs;
use crate::lineage::Dataset;
use crate::run::{print_line, ExitStatus, Report, RunContext, Step};
use crate::secret::{redact_url, Secret};
use crate::store::Store;
use crate::warehouse::{self, check};

const COMMAND: &str = "check";

pub struct CheckStep {
    store: Store,
    warehouse: Secret,
    oltp: Option<Secret>,
    schema: String,
    threshold: f64,
    checks: Vec<check::Check>,
    json: bool,
    html: Option<std::path::PathBuf>,
}

pub fn plan(args: &CheckArgs, ctx: &RunContext) -> anyhow::Result<CheckStep> {
    let threshold = args.threshold.or(ctx.config.check.threshold).unwrap_or(0.8);
    anyhow::ensure!(
        (0.0..=1.0).contains(&threshold),
        "--threshold {threshold}: a share between 0 and 1 (0.8 = 80 %)"
    );
    let mut checks = match args
        .catalogue
        .clone()
        .or(ctx.config.check.catalogue.clone())
    {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the check catalogue {}", path.display()))?;
            check::parse(&text, &path.display().to_string())?
        }
        None => check::parse(check::CATALOGUE, "the built-in catalogue")?,
    };
    if let Some(path) = &ctx.config.check.extra {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the extra checks {}", path.display()))?;
        // An extra check with a catalogue check's id replaces it.
        for c in check::parse(&text, &path.display().to_string())? {
            match checks.iter_mut().find(|k| k.id == c.id) {
                Some(k) => *k = c,
                None => checks.push(c),
            }
        }
    }
    Ok(CheckStep {
        store: ctx.open_store()?,
        warehouse: crate::cmd::load::warehouse_url(args.db.warehouse_url.as_ref())?,
        oltp: args.db.oltp_url.clone(),
        schema: crate::cmd::load::schema(args.db.schema.as_deref(), ctx)?,
        threshold,
        checks,
        json: args.json,
        html: args.html.clone(),
    })
}

impl Step for CheckStep {
    fn command(&self) -> &str {
        COMMAND
    }
    fn name(&self) -> &str {
        &self.schema
    }
    fn lock_store(&self) -> Option<&Store> {
        Some(&self.store)
    }
    fn datasets(&self) -> (Vec<Dataset>, Vec<Dataset>) {
        let ns = crate::cmd::load::warehouse_namespace(&self.warehouse);
        let mut tables: Vec<&str> = self.checks.iter().map(|c| c.table.as_str()).collect();
        tables.sort_unstable();
        tables.dedup();
        let inputs = tables
            .iter()
            .map(|t| Dataset::new(ns.clone(), format!("{}.{t}", self.schema)))
            .collect();
        let outputs = ["quality_check_runs", "quality_check_results"]
            .iter()
            .map(|t| Dataset::new(ns.clone(), format!("{}.{t}", self.schema)))
            .collect();
        (inputs, outputs)
    }

    async fn run(&mut self, ctx: &RunContext) -> anyhow::Result<Report> {
        let mut client = warehouse::connect(&self.warehouse, "warehouse").await?;
        // Never run the catalogue (nor create its history tables) in the
        // transactional database (WH-1).
        warehouse::ensure_isolated(&client, self.oltp.as_ref()).await?;
        warehouse::migrate(&client, &self.schema).await?;
        let (results, v) = check::run(
            &mut client,
            &self.schema,
            &self.checks,
            self.threshold,
            &ctx.run_id,
        )
        .await?;
        if self.json {
            print_line(&serde_json::json!({ "verdict": v, "checks": results }).to_string());
        }
        if let Some(path) = &self.html {
            let html = html_report(&client, &self.schema, &results, &v, ctx).await?;
            crate::localfs::write_atomically(path, html.as_bytes())
                .with_context(|| format!("writing the HTML report {}", path.display()))?;
        }
        let failing: Vec<String> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| match (&r.error, r.failing_rows) {
                (Some(e), _) => format!("{} (error: {e})", r.id),
                (None, Some(n)) => format!("{} ({n} rows)", r.id),
                (None, None) => r.id.clone(),
            })
            .collect();
        for r in results.iter().filter(|r| !r.passed) {
            tracing::warn!(check = %r.id, table = %r.table, failing_rows = ?r.failing_rows, error = ?r.error, "check failed");
        }
        let mut report = Report::new(if v.passed {
            ExitStatus::Success
        } else {
            ExitStatus::Rejected
        });
        if !v.passed {
            report.error = Some(format!(
                "pass rate {:.1} % is below the {:.1} % threshold; failing: {}",
                v.pass_rate * 100.0,
                v.threshold * 100.0,
                failing.join(", ")
            ));
        }
        report
            .field("warehouse", redact_url(self.warehouse.expose()))
            .field("schema", self.schema.clone())
            .field("checks_run", v.checks_run)
            .field("checks_passed", v.checks_passed)
            .field("checks_failed", v.checks_failed)
            .field("warnings", v.warnings)
            .field("pass_rate", (v.pass_rate * 10_000.0).round() / 10_000.0)
            .field("threshold", v.threshold)
            .field("failing", failing);
        if let Some(path) = &self.html {
            report.field("html", path.display().to_string());
        }
        report.rows_in = v.checks_run as u64;
        report.rows_out = v.checks_passed as u64;
        report.rows_rejected = v.checks_failed as u64;
        let (inputs, outputs) = self.datasets();
        report.inputs = inputs;
        report.outputs = outputs;
        Ok(report)
    }
}

/// The data of the HTML report: this run's results, the pass-rate history
/// (the last 90 runs of `quality_check_runs`) and every table's row count.
async fn html_report(
    client: &tokio_postgres::Client,
    schema: &str,
    results: &[check::Outcome],
    v: &check::Verdict,
    ctx: &RunContext,
) -> anyhow::Result<String> {
    let rows = client
        .query(
            &format!(
                "SELECT finished_at, pass_rate, threshold FROM (
                   SELECT finished_at, pass_rate, threshold FROM {schema}.quality_check_runs
                   WHERE finished_at IS NOT NULL AND pass_rate IS NOT NULL
                   ORDER BY finished_at DESC LIMIT 90) t
                 ORDER BY finished_at"
            ),
            &[],
        )
        .await
        .context("reading the pass-rate history")?;
    let history: Vec<(chrono::DateTime<chrono::Utc>, f64, f64)> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get::<_, Option<f64>>(2).unwrap_or(v.threshold),
            )
        })
        .collect();
    let mut tables = Vec::new();
    for t in crate::gold::TABLES {
        let n = client
            .query_one(&format!("SELECT count(*) FROM {schema}.{}", t.name), &[])
            .await
            .ok()
            .map(|r| r.get::<_, i64>(0));
        tables.push((t.name.to_string(), n));
    }
    Ok(crate::warehouse::report::render(
        &crate::warehouse::report::HtmlReport {
            generated_at: ctx.clock.now(),
            schema,
            run_id: &ctx.run_id,
            verdict: v,
            results,
            history: &history,
            tables: &tables,
        },
    ))
}

pub async fn run(args: &CheckArgs, ctx: &RunContext) -> ExitStatus {
    let name = args.db.schema.clone().unwrap_or_default();
    ctx.execute(COMMAND, &name, async { plan(args, ctx) }).await
}
