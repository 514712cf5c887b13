//! `kvt ingest drive`: arguments → job → run → summary.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::cli::DriveArgs;
use crate::config::{parse_duration, Origin};
use crate::env;
use crate::ingest::drive::{self, Job};
use crate::ingest::gdrive::{Drive, DriveSettings};
use crate::ingest::localdir::LocalDir;
use crate::ingest::source::Source;
use crate::lineage::Dataset;
use crate::run::{ExitStatus, Report, RunContext, Step};
use crate::store::{layout, Store};

const COMMAND: &str = "ingest drive";

/// Resolve arguments, environment and configuration into a job.
pub async fn plan(args: &DriveArgs, ctx: &RunContext) -> anyhow::Result<Job> {
    let name = args.source_name();
    let cfg = &ctx.config;
    let Some(src) = cfg.source(name) else {
        let known = cfg.source_names().join(", ");
        bail!(
            "unknown source `{name}` in {} (configured sources: {known}); add a [sources.{name}] entry to kvt.toml",
            cfg.origin
        );
    };
    let retries = args.retries.or(cfg.ingest.retries).unwrap_or(2);
    let retry_delay = match args
        .retry_delay
        .as_deref()
        .or(cfg.ingest.retry_delay.as_deref())
    {
        Some(s) => parse_duration(s)
            .map_err(anyhow::Error::msg)
            .context("--retry-delay")?,
        None => Duration::from_secs(300),
    };
    let source = match src.origin() {
        Origin::Local { dir } => Source::Local(LocalDir { dir }),
        Origin::Drive { folder_id } => {
            let credentials = env::get(env::DRIVE_CREDENTIALS)
                .or_else(|| env::get(env::GOOGLE_APPLICATION_CREDENTIALS))
                .map(PathBuf::from)
                .or_else(|| cfg.drive.credentials.clone())
                .with_context(|| {
                    format!(
                        "source `{name}` reads Google Drive folder {folder_id}: set {} (or {}) to the service-account key file",
                        env::DRIVE_CREDENTIALS,
                        env::GOOGLE_APPLICATION_CREDENTIALS
                    )
                })?;
            let timeout = match env::get(env::DRIVE_TIMEOUT).or(cfg.drive.timeout.clone()) {
                Some(s) => parse_duration(&s)
                    .map_err(anyhow::Error::msg)
                    .context(env::DRIVE_TIMEOUT)?,
                None => Duration::from_secs(60),
            };
            let settings = DriveSettings {
                folder_id,
                credentials,
                api_url: env::get(env::DRIVE_API_URL).or(cfg.drive.api_url.clone()),
                timeout,
            };
            Source::Drive(Box::new(
                Drive::connect(&settings)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?,
            ))
        }
    };
    Ok(Job {
        source_name: name.to_string(),
        prefix: src.prefix.clone().unwrap_or_else(|| name.to_string()),
        config: src.clone(),
        source,
        store: ctx.open_store()?,
        retries,
        retry_delay,
        dry_run: args.dry_run,
        run_id: ctx.run_id.clone(),
        concurrency: cfg.ingest.concurrency.unwrap_or(4),
    })
}

impl Step for Job {
    fn command(&self) -> &str {
        COMMAND
    }
    fn name(&self) -> &str {
        &self.source_name
    }
    fn lock_store(&self) -> Option<&Store> {
        (!self.dry_run).then_some(&self.store)
    }
    fn datasets(&self) -> (Vec<Dataset>, Vec<Dataset>) {
        (
            vec![Dataset::new(self.source.origin(), self.source_name.clone())],
            vec![self.store.dataset(&layout::bronze_prefix(&self.prefix))],
        )
    }

    async fn run(&mut self, ctx: &RunContext) -> anyhow::Result<Report> {
        let pb = ctx.progress_bar(0, &format!("ingest {}", self.source_name));
        let outcome = drive::run(
            self,
            || ctx.clock.now(),
            |plan| pb.set_length(plan.transfer.iter().filter_map(|t| t.0.size).sum()),
            &|n| pb.inc(n),
        )
        .await;
        pb.finish_and_clear();
        let status = if outcome.error.is_some() {
            ExitStatus::Error
        } else {
            ExitStatus::Success
        };
        let mut report = Report::new(status);
        report.error = outcome.error.clone();
        report.fields = outcome.summary_fields(self);
        report.files = outcome.transferred as u64;
        report.rows_in = outcome.listed as u64;
        report.rows_out = outcome.transferred as u64;
        report.rows_rejected = outcome.refused.len() as u64;
        report.bytes = outcome.bytes;
        let (mut inputs, mut outputs) = self.datasets();
        outputs[0].rows = Some(outcome.transferred as u64);
        outputs[0].bytes = Some(outcome.bytes);
        // Each file landed, and the bronze object it became: lineage from
        // a source file to what it feeds (OPS-10).
        let origin = self.source.origin().to_string();
        for (path, size) in &outcome.landed_files {
            let mut d = Dataset::new(origin.clone(), path.clone());
            d.bytes = Some(*size);
            inputs.push(d);
        }
        for key in &outcome.landed {
            outputs.push(self.store.dataset(key));
        }
        report.inputs = inputs;
        report.outputs = outputs;
        Ok(report)
    }
}

pub async fn run(args: &DriveArgs, ctx: &RunContext) -> ExitStatus {
    ctx.execute(COMMAND, args.source_name(), plan(args, ctx))
        .await
}
