//! `kvt silver <source>`: arguments → source → shared runner → summary.

use std::time::Duration;

use anyhow::Context as _;

use crate::cli::{SilverArgs, SilverCommand};
use crate::lineage::Dataset;
use crate::lock::RunLock;
use crate::run::{ExitStatus, Report, RunContext};
use crate::secret::Secret;
use crate::silver::logformat::{LogFormat, COMBINED_FORMAT, KVT_FORMAT};
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

fn build(cmd: &SilverCommand, ctx: &RunContext) -> anyhow::Result<Box<dyn Source>> {
    match cmd {
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
            Ok(Box::new(NginxSource::new(
                fmt,
                pseudonymizer(&a.common)?,
                tolerance,
            )))
        }
    }
}

fn common(cmd: &SilverCommand) -> &SilverArgs {
    match cmd {
        SilverCommand::Nginx(a) => &a.common,
    }
}

pub fn source_name(cmd: &SilverCommand) -> &'static str {
    match cmd {
        SilverCommand::Nginx(_) => "nginx",
    }
}

/// The command words of the summary line (`silver nginx`).
pub fn command_name(cmd: &SilverCommand) -> &'static str {
    match cmd {
        SilverCommand::Nginx(_) => "silver nginx",
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
    let mut output = Dataset::new(store.namespace(), format!("silver/{}", src.table()));
    ctx.start(
        &job,
        std::slice::from_ref(&input),
        std::slice::from_ref(&output),
    )
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
    output.rows = Some(out.rows_written);
    output.bytes = Some(out.bytes_written);
    report.inputs = vec![input];
    report.outputs = vec![output];
    ctx.finish(command, name, &job, report).await
}
