//! `kvt silver <source>`: arguments → source → shared runner → summary.

use anyhow::Context as _;

use crate::bronze::events::Stream;
use crate::cli::{SilverArgs, SilverCommand};
use crate::config::FirebaseSilverConfig;
use crate::lineage::Dataset;
use crate::run::{ExitStatus, Report, RunContext, Step};
use crate::secret::Secret;
use crate::silver::crm::CrmSource;
use crate::silver::events::EventSource;
use crate::silver::firebase::FirebaseSource;
use crate::silver::kyc::KycSource;
use crate::silver::logformat::{LogFormat, COMBINED_FORMAT, KVT_FORMAT};
use crate::silver::logistics::LogisticsSource;
use crate::silver::nginx::NginxSource;
use crate::silver::patterns::Patterns;
use crate::silver::pseudo::{Pseudonymizer, DEV_KEY};
use crate::silver::runner::{self, Source};
use crate::silver::Mode;
use crate::store::{layout, Key, Store};

/// The pseudonymisation key: KVT_PSEUDONYM_KEY, or the dev key when asked.
pub fn pseudonymizer(args: &SilverArgs) -> anyhow::Result<Pseudonymizer> {
    pseudonymizer_from(args.dev_key)
}

/// The pseudonymisation key of every command that pseudonymises (silver,
/// the KYC document fingerprint): KVT_PSEUDONYM_KEY, or the dev key when asked.
pub fn pseudonymizer_from(dev_key: bool) -> anyhow::Result<Pseudonymizer> {
    if dev_key {
        tracing::warn!(
            "pseudonymising with the public development key (--dev-key): not for real data"
        );
        return Ok(Pseudonymizer::new(DEV_KEY.as_bytes()));
    }
    let key = Secret::from_env(crate::env::PSEUDONYM_KEY).with_context(|| {
        format!(
            "refusing to pseudonymise without a key: set {} (see .env.example), or pass --dev-key for demos and tests",
            crate::env::PSEUDONYM_KEY
        )
    })?;
    anyhow::ensure!(
        key.expose().len() >= 16,
        "{} is too short (at least 16 bytes; 32 random bytes recommended, e.g. `openssl rand -hex 32`)",
        crate::env::PSEUDONYM_KEY
    );
    if key.expose().len() < 32 {
        tracing::warn!(
            "{} is shorter than 32 bytes: pseudonyms of short identifiers are easier to brute-force; use 32 random bytes (`openssl rand -hex 32`)",
            crate::env::PSEUDONYM_KEY
        );
    }
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
                .unwrap_or_else(|| "auto".into());
            let fmt = match spec.as_str() {
                "auto" => LogFormat::compile_any(&[KVT_FORMAT, COMBINED_FORMAT]),
                "kvt" => LogFormat::compile(KVT_FORMAT),
                "combined" => LogFormat::compile(COMBINED_FORMAT),
                other => LogFormat::compile(other),
            }
            .with_context(|| format!("invalid nginx log_format `{spec}`"))?;
            let tolerance = ctx.config.silver.nginx_tolerance.unwrap_or(0.05);
            Box::new(NginxSource::new(fmt, pseudonymizer(&a.common)?, tolerance))
        }
        SilverCommand::Crm(a) => Box::new(CrmSource::new(pseudonymizer(a)?, day)),
        SilverCommand::Firebase(a) => Box::new(FirebaseSource::new(
            pseudonymizer(a)?,
            day,
            bot_patterns(&ctx.config.silver.firebase)?,
        )),
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

/// `[silver.firebase]` rules (or the built-in ones), compiled.
pub fn bot_patterns(cfg: &FirebaseSilverConfig) -> anyhow::Result<Patterns> {
    let mut rules = cfg
        .bot_patterns
        .clone()
        .unwrap_or_else(crate::silver::firebase::default_bot_patterns);
    rules.extend(cfg.extra_bot_patterns.iter().cloned());
    Patterns::compile(&rules, &crate::silver::firebase::PATTERN_FIELDS)
        .map_err(|e| anyhow::anyhow!("[silver.firebase] {e}"))
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

/// A planned `kvt silver <source>` run.
pub struct SilverStep {
    command: &'static str,
    name: &'static str,
    src: Box<dyn Source>,
    store: Store,
    opts: runner::Options,
    /// The bronze dataset read (what `ingest` wrote).
    bronze: Key,
}

/// Resolve a `kvt silver` command line into a step.
pub fn plan(cmd: &SilverCommand, ctx: &RunContext) -> anyhow::Result<SilverStep> {
    let src = build(cmd, ctx)?;
    let store = ctx.open_store()?;
    let name = source_name(cmd);
    let bronze = match cmd {
        SilverCommand::Payments(a) | SilverCommand::Orders(a) => {
            layout::kafka_topic_prefix(a.topic.as_deref().unwrap_or(name))
        }
        _ => layout::bronze_prefix(
            ctx.config
                .source(name)
                .and_then(|s| s.prefix.as_deref())
                .unwrap_or(name),
        ),
    };
    Ok(SilverStep {
        command: command_name(cmd),
        name,
        src,
        store,
        opts: runner::Options {
            mode: mode(common(cmd)),
            accept: common(cmd).accept_rejects.clone(),
            run_id: ctx.run_id.clone(),
            now: ctx.clock.now(),
        },
        bronze,
    })
}

impl Step for SilverStep {
    fn command(&self) -> &str {
        self.command
    }
    fn name(&self) -> &str {
        self.name
    }
    fn lock_store(&self) -> Option<&Store> {
        Some(&self.store)
    }
    fn datasets(&self) -> (Vec<Dataset>, Vec<Dataset>) {
        let outputs = self
            .src
            .tables()
            .iter()
            .map(|t| self.store.dataset(&layout::silver_table(t)))
            .collect();
        (vec![self.store.dataset(&self.bronze)], outputs)
    }

    async fn run(&mut self, ctx: &RunContext) -> anyhow::Result<Report> {
        let pb = ctx.progress_bar(0, self.command);
        let out = runner::run(&self.store, self.src.as_mut(), &self.opts, &|n| pb.inc(n)).await;
        pb.finish_and_clear();
        let out = out?;
        let status = if out.verdicts.is_empty() {
            ExitStatus::Success
        } else {
            ExitStatus::Rejected
        };
        let mut report = Report::new(status);
        if !out.verdicts.is_empty() {
            report.error = Some(out.verdicts.join("; "));
        }
        let mode_name = match self.opts.mode {
            Mode::New => "new".to_string(),
            Mode::Date(d) => format!("date {d}"),
            Mode::Full => "full-refresh".to_string(),
        };
        report
            .field("source", self.name)
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
        if !out.verdicts.is_empty() {
            report.field("verdicts", out.verdicts.clone());
        }
        for (k, v) in &out.extra {
            report.field(k, v.clone());
        }
        report.rows_in = out.counts.rows_in;
        report.rows_out = out.rows_written;
        report.rows_rejected = out.counts.rejected;
        report.bytes = out.bytes_written;
        report.files = out.partitions_written.len() as u64;
        let (inputs, mut outputs) = self.datasets();
        if let [only] = outputs.as_mut_slice() {
            only.rows = Some(out.rows_written);
            only.bytes = Some(out.bytes_written);
        }
        report.inputs = inputs;
        report.outputs = outputs;
        Ok(report)
    }
}

pub async fn run(cmd: &SilverCommand, ctx: &RunContext) -> ExitStatus {
    let plan = async { plan(cmd, ctx) };
    ctx.execute(command_name(cmd), source_name(cmd), plan).await
}
