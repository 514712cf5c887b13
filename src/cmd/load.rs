//! `kvt load`: gold → the analytics PostgreSQL.

use std::time::Duration;

use anyhow::Context as _;
use polars::prelude::LazyFrame;

use crate::cli::LoadArgs;
use crate::lineage::Dataset;
use crate::run::{ChildRun, ExitStatus, Report, RunContext, Step};
use crate::secret::{redact_url, Secret};
use crate::store::{layout, Store};
use crate::table::{self, Zone};
use crate::warehouse::{self, load};

const COMMAND: &str = "load";

pub struct LoadStep {
    store: Store,
    settings: load::Settings,
}

/// The warehouse URL: flag or KVT_WAREHOUSE_URL (a secret: it may hold a password).
pub fn warehouse_url(flag: Option<&Secret>) -> anyhow::Result<Secret> {
    flag.cloned().with_context(|| {
        format!(
            "no analytics database: set {} (postgres://user@host:port/db), never the transactional one",
            crate::env::WAREHOUSE_URL
        )
    })
}

/// The schema: flag/env > `[warehouse] schema` > `kvt`.
pub fn schema(flag: Option<&str>, ctx: &RunContext) -> anyhow::Result<String> {
    let s = flag
        .map(str::to_string)
        .or(ctx.config.warehouse.schema.clone())
        .unwrap_or_else(|| warehouse::DEFAULT_SCHEMA.to_string());
    warehouse::check_schema(&s)?;
    Ok(s)
}

pub fn plan(args: &LoadArgs, ctx: &RunContext) -> anyhow::Result<LoadStep> {
    let retry_delay = match &args.retry_delay {
        Some(s) => crate::config::parse_duration(s)
            .map_err(anyhow::Error::msg)
            .context("--retry-delay")?,
        None => Duration::from_secs(5),
    };
    Ok(LoadStep {
        store: ctx.open_store()?,
        settings: load::Settings {
            warehouse: warehouse_url(args.db.warehouse_url.as_ref())?,
            oltp: args.db.oltp_url.clone(),
            schema: schema(args.db.schema.as_deref(), ctx)?,
            parallel: args.parallel.or(ctx.config.warehouse.parallel).unwrap_or(2),
            retries: args.retries.or(ctx.config.warehouse.retries).unwrap_or(3),
            retry_delay,
        },
    })
}

impl Step for LoadStep {
    fn command(&self) -> &str {
        COMMAND
    }
    fn name(&self) -> &str {
        &self.settings.schema
    }
    fn lock_store(&self) -> Option<&Store> {
        Some(&self.store)
    }
    fn outputs_by_child(&self) -> bool {
        true
    }
    fn datasets(&self) -> (Vec<Dataset>, Vec<Dataset>) {
        let ns = warehouse_namespace(&self.settings.warehouse);
        let inputs = crate::gold::TABLES
            .iter()
            .map(|t| self.store.dataset(&layout::table("gold", t.name)))
            .collect();
        let outputs = crate::gold::TABLES
            .iter()
            .map(|t| Dataset::new(ns.clone(), format!("{}.{}", self.settings.schema, t.name)))
            .collect();
        (inputs, outputs)
    }

    async fn run(&mut self, _ctx: &RunContext) -> anyhow::Result<Report> {
        // Every gold table (a missing one is an error: load needs them all),
        // read when its turn comes: a local lake holds a few tables in
        // memory at a time, not the whole warehouse.
        let mut tables: Vec<(String, LazyFrame)> = Vec::new();
        for t in crate::gold::TABLES {
            let lf = table::scan_lazy(&self.store, Zone::Gold, t.name, None)
                .await?
                .with_context(|| {
                    format!(
                        "gold table `{}` is missing from {}: run `kvt gold` first",
                        t.name,
                        self.store.url()
                    )
                })?;
            tables.push((t.name.to_string(), lf));
        }
        let run_id = _ctx.run_id.clone();
        let s = &self.settings;
        let mut attempts = 0;
        let out = warehouse::with_retries(s.retries, s.retry_delay, "the load", || {
            attempts += 1;
            load::attempt(s, &tables, &run_id)
        })
        .await?;
        let mut report = Report::new(ExitStatus::Success);
        let per_table: serde_json::Map<String, serde_json::Value> = out
            .tables
            .iter()
            .map(|(t, n)| (t.clone(), (*n).into()))
            .collect();
        let copy_ms: serde_json::Map<String, serde_json::Value> = out
            .table_copy_ms
            .iter()
            .map(|(t, ms)| (t.clone(), (*ms).into()))
            .collect();
        let secs = (out.copy_ms + out.swap_ms).max(1) as f64 / 1000.0;
        report
            .field("warehouse", redact_url(s.warehouse.expose()))
            .field("schema", s.schema.clone())
            .field("tables", out.tables.len())
            .field("rows", out.rows)
            .field("rows_per_table", per_table)
            .field("rows_per_sec", (out.rows as f64 / secs).round())
            .field("copy_ms", out.copy_ms)
            .field("copy_ms_per_table", copy_ms)
            .field("swap_ms", out.swap_ms)
            .field("nul_stripped", out.cleaned.nul_stripped)
            .field("null_tokens", out.cleaned.null_tokens)
            .field("attempts", attempts)
            .field("migrations_applied", out.migrations.clone());
        report.rows_in = out.rows;
        report.rows_out = out.rows;
        report.files = out.tables.len() as u64;
        let (inputs, mut outputs) = self.datasets();
        for (d, (_, n)) in outputs.iter_mut().zip(&out.tables) {
            d.rows = Some(*n);
        }
        report.children = inputs
            .iter()
            .zip(&outputs)
            .zip(crate::gold::TABLES)
            .map(|((i, o), t)| ChildRun {
                name: t.name.to_string(),
                inputs: vec![i.clone()],
                outputs: vec![o.clone()],
            })
            .collect();
        report.inputs = inputs;
        report.outputs = outputs;
        Ok(report)
    }
}

/// The OpenLineage namespace of a PostgreSQL database: `postgres://host:port`.
pub fn warehouse_namespace(url: &Secret) -> String {
    match url::Url::parse(url.expose()) {
        Ok(u) => format!(
            "postgres://{}:{}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(5432)
        ),
        Err(_) => "postgres://unknown".into(),
    }
}

pub async fn run(args: &LoadArgs, ctx: &RunContext) -> ExitStatus {
    let name = args.db.schema.clone().unwrap_or_default();
    ctx.execute(COMMAND, &name, async { plan(args, ctx) }).await
}
