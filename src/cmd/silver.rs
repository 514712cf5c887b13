//! `kvt silver <source>`: arguments → source → shared runner → summary.

use std::time::Duration;

use anyhow::Context as _;

use crate::cli::{SilverArgs, SilverCommand};
use crate::lineage::Dataset;
use crate::lock::RunLock;
use crate::run::{ExitStatus, Report, RunContext};
use crate::secret::Secret;
use crate::silver::crm::CrmSource;
use crate::silver::events::{EventSource, Stream};
use crate::silver::firebase::FirebaseSource;
use crate::silver::kyc::KycSource;
use crate::silver::logformat::{LogFormat, COMBINED_FORMAT, KVT_FORMAT};
use crate::silver::logistics::LogisticsSource;
use crate::silver::nginx::NginxSource;
use crate::silver::pseudo::{Pseudonymizer, DEV_KEY};
use crate::silver::runner::{self, Source};
use crate::silver::Mode;
use crate::store::layout;

/// The pseudonymisation key: KVT_PSEUDONYM_KEY, or the dev key when asked.
pub fn pseudonymizer(args: &SilverArgs) -> anyhow::Result<Pseudonymizer> {
    if args.dev_key {
        tracing::warn!(
            "pseudonymising with the public development key (--dev-key): not for real data"
        );
        return Ok(Pseudonymizer::new(DEV_KEY.as_bytes()));
    }
    let key = Secret::from_env(crate::env::PSEUDONYM_KEY).with_context(|| {
        format!(
            "refusing to write silver without a pseudonymisation key: set {} (see .env.example), or pass --dev-key for demos and tests",
            crate::env::PSEUDONYM_KEY
        )
    })?;
    anyhow::ensure!(
        key.expose().len() >= 16,
        "{} is too short (at least 16 characters)",
        crate::env::PSEUDONYM_KEY
    );
    Ok(Pseudonymizer::from_secret(&key))
}

fn mode(args: &SilverArgs) -> Mode {
    match (args.full_refresh, args.date) {
        (true, _) => Mode::Full,
        (false, Some(d)) => Mode::Date(d),
        (false, None) => Mode::New,
    }
}

/// The run's "today" in Europe/Paris (CONTRACTS C9: ages, SLA flags).
pub fn today(ctx: &RunContext) -> chrono::NaiveDate {
    ctx.clock
        .now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
}

fn build(cmd: &SilverCommand, ctx: &RunContext) -> anyhow::Result<Box<dyn Source>> {
    let day = today(ctx);
    Ok(match cmd {
        SilverCommand::Nginx(a) => {
            let spec = a
                .nginx_format
                .clone()
                .or(ctx.config.silver.nginx_log_format.clone())
                .unwrap_or_else(|| "kvt".into());
            let text = match spec.as_str() {
                "kvt" => KVT_FORMAT,
                "combined" => COMBINED_FORMAT,
                other => other,
            };
            let fmt = LogFormat::compile(text)
                .with_context(|| format!("invalid nginx log_format `{spec}`"))?;
            let tolerance = ctx.config.silver.nginx_tolerance.unwrap_or(0.05);
            Box::new(NginxSource::new(fmt, pseudonymizer(&a.common)?, tolerance))
        }
        SilverCommand::Crm(a) => Box::new(CrmSource::new(pseudonymizer(a)?, day)),
        SilverCommand::Firebase(a) => Box::new(FirebaseSource::new(pseudonymizer(a)?, day)),
        SilverCommand::Logistics(a) => Box::new(LogisticsSource::new(pseudonymizer(a)?, day)),
        SilverCommand::Kyc(a) => Box::new(KycSource::new(pseudonymizer(a)?, day)),
        SilverCommand::Payments(a) => {
            let topic = a.topic.as_deref().unwrap_or("payments");
            Box::new(EventSource::new(
                Stream::Payments,
                topic,
                pseudonymizer(&a.common)?,
                day,
            ))
        }
        SilverCommand::Orders(a) => {
            let topic = a.topic.as_deref().unwrap_or("orders");
            Box::new(EventSource::new(
                Stream::Orders,
                topic,
                pseudonymizer(&a.common)?,
                day,
            ))
        }
    })
}

fn common(cmd: &SilverCommand) -> &SilverArgs {
    match cmd {
        SilverCommand::Nginx(a) => &a.common,
        SilverCommand::Payments(a) | SilverCommand::Orders(a) => &a.common,
        SilverCommand::Crm(a)
        | SilverCommand::Firebase(a)
        | SilverCommand::Logistics(a)
        | SilverCommand::Kyc(a) => a,
    }
}

pub fn source_name(cmd: &SilverCommand) -> &'static str {
    command_name(cmd).trim_start_matches("silver ")
}

/// The command words of the summary line (`silver nginx`).
pub fn command_name(cmd: &SilverCommand) -> &'static str {
    match cmd {
        SilverCommand::Crm(_) => "silver crm",
        SilverCommand::Firebase(_) => "silver firebase",
        SilverCommand::Nginx(_) => "silver nginx",
        SilverCommand::Logistics(_) => "silver logistics",
        SilverCommand::Kyc(_) => "silver kyc",
        SilverCommand::Payments(_) => "silver payments",
        SilverCommand::Orders(_) => "silver orders",
    }
}

pub async fn run(cmd: &SilverCommand, ctx: &RunContext) -> ExitStatus {
    let name = source_name(cmd);
    let command = command_name(cmd);
    let job = format!("silver.{name}");
    let prepared = build(cmd, ctx).and_then(|src| Ok((src, ctx.open_store()?)));
    let (mut src, store) = match prepared {
        Ok(v) => v,
        Err(e) => return ctx.finish(command, name, &job, Report::failed(&e)).await,
    };
    let mode = mode(common(cmd));
    let input = Dataset::new(
        store.namespace(),
        store.display_key(&layout::bronze_manifest(src.bronze_source())),
    );
    let mut outputs: Vec<Dataset> = src
        .tables()
        .iter()
        .map(|t| Dataset::new(store.namespace(), format!("silver/{t}")))
        .collect();
    ctx.start(&job, std::slice::from_ref(&input), &outputs)
        .await;

    let lock = match RunLock::acquire(
        &store,
        "silver",
        name,
        &ctx.run_id,
        ctx.clock.now(),
        Duration::from_secs(6 * 3600),
    )
    .await
    {
        Ok(l) => l,
        Err(e) => {
            return ctx
                .finish(command, name, &job, Report::failed(&anyhow::Error::from(e)))
                .await
        }
    };
    let pb = ctx.progress_bar(0, command);
    let result = runner::run(&store, src.as_mut(), mode, &|n| pb.inc(n)).await;
    pb.finish_and_clear();
    lock.release().await;

    let out = match result {
        Ok(o) => o,
        Err(e) => return ctx.finish(command, name, &job, Report::failed(&e)).await,
    };
    let status = if out.verdicts.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Rejected
    };
    let mut report = Report::new(status);
    if !out.verdicts.is_empty() {
        report.error = Some(out.verdicts.join("; "));
    }
    let mode_name = match mode {
        Mode::New => "new".to_string(),
        Mode::Date(d) => format!("date {d}"),
        Mode::Full => "full-refresh".to_string(),
    };
    report
        .field("source", name)
        .field("mode", mode_name)
        .field("objects_new", out.objects_new)
        .field("objects_read", out.objects_read)
        .field("objects_superseded", out.objects_superseded)
        .field("rows_in", out.counts.rows_in)
        .field("rows_out", out.rows_written)
        .field("rejected", out.counts.rejected)
        .field("deduplicated", out.counts.deduplicated)
        .field("flagged", out.counts.flagged)
        .field("filtered", out.counts.filtered)
        .field("partitions_written", out.partitions_written.len())
        .field("partitions_dropped", out.partitions_dropped.len())
        .field("bytes_read", out.bytes_read)
        .field("bytes_written", out.bytes_written);
    report.rows_in = out.counts.rows_in;
    report.rows_out = out.rows_written;
    report.rows_rejected = out.counts.rejected;
    report.bytes = out.bytes_written;
    report.files = out.partitions_written.len() as u64;
    if let [only] = outputs.as_mut_slice() {
        only.rows = Some(out.rows_written);
        only.bytes = Some(out.bytes_written);
    }
    report.inputs = vec![input];
    report.outputs = outputs;
    ctx.finish(command, name, &job, report).await
}
