//! `kvt ingest kafka`: arguments → job → run → summary.

use std::time::Duration;

use anyhow::Context as _;

use crate::cli::KafkaArgs;
use crate::config::parse_duration;
use crate::ingest::kafka::{self, Job, Settings};
use crate::lineage::Dataset;
use crate::run::{ExitStatus, Report, RunContext, Step};
use crate::store::{layout, Store};

const COMMAND: &str = "ingest kafka";

fn duration(
    flag: Option<&str>,
    config: Option<&str>,
    default: Duration,
    what: &str,
) -> anyhow::Result<Duration> {
    match flag.or(config) {
        Some(s) => parse_duration(s)
            .map_err(anyhow::Error::msg)
            .with_context(|| what.to_string()),
        None => Ok(default),
    }
}

/// Resolve arguments, environment and configuration into a job.
pub fn plan(args: &KafkaArgs, ctx: &RunContext) -> anyhow::Result<Job> {
    let cfg = &ctx.config.kafka;
    let topics: Vec<String> = if !args.topics.is_empty() {
        args.topics
            .iter()
            .flat_map(|t| t.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()
    } else if let Some(t) = &cfg.topics {
        t.clone()
    } else {
        vec!["payments".into(), "orders".into()]
    };
    anyhow::ensure!(!topics.is_empty(), "no topic to ingest");
    for t in &topics {
        crate::kafka::check_topic(t)?;
    }
    let settings = Settings {
        kafka: kafka_settings(args.brokers.as_deref(), ctx),
        group: args
            .group
            .clone()
            .or(cfg.group.clone())
            .unwrap_or_else(|| "kvt-bronze".into()),
        topics,
        idle_timeout: duration(
            args.idle_timeout.as_deref(),
            cfg.idle_timeout.as_deref(),
            Duration::from_secs(10),
            "--idle-timeout",
        )?,
        follow: args.follow,
        flush_bytes: cfg.flush_mib.unwrap_or(64) * 1024 * 1024,
        broker_timeout: duration(
            args.broker_timeout.as_deref(),
            cfg.broker_timeout.as_deref(),
            Duration::from_secs(30),
            "--broker-timeout",
        )?,
    };
    Ok(Job {
        settings,
        store: ctx.open_store()?,
        run_id: ctx.run_id.clone(),
    })
}

/// The cluster: `--brokers`/`KVT_KAFKA_BROKERS` > `[kafka] brokers` >
/// 127.0.0.1:9092, with the `[kafka.client]` properties.
pub fn kafka_settings(flag: Option<&str>, ctx: &RunContext) -> crate::kafka::ClientSettings {
    let cfg = &ctx.config.kafka;
    crate::kafka::ClientSettings {
        brokers: flag
            .map(str::to_string)
            .or(cfg.brokers.clone())
            .unwrap_or_else(|| "127.0.0.1:9092".into()),
        properties: cfg.client.clone(),
    }
}

impl Step for Job {
    fn command(&self) -> &str {
        COMMAND
    }
    fn name(&self) -> &str {
        &self.settings.group
    }
    fn lock_store(&self) -> Option<&Store> {
        Some(&self.store)
    }
    fn datasets(&self) -> (Vec<Dataset>, Vec<Dataset>) {
        let topics = &self.settings.topics;
        let ns = self.settings.kafka.namespace();
        (
            topics
                .iter()
                .map(|t| Dataset::new(ns.clone(), t.clone()))
                .collect(),
            topics
                .iter()
                .map(|t| self.store.dataset(&layout::kafka_topic_prefix(t)))
                .collect(),
        )
    }

    async fn run(&mut self, ctx: &RunContext) -> anyhow::Result<Report> {
        let pb = ctx.progress_bar(0, "ingest kafka");
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} messages ({per_sec})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let rt = tokio::runtime::Handle::current();
        let clock = ctx.clock;
        let pb2 = pb.clone();
        let outcome = {
            let job = &*self;
            tokio::task::block_in_place(|| {
                kafka::run_blocking(job, &rt, &move || clock.now(), &move |done, total| {
                    pb2.set_length(total);
                    pb2.set_position(done);
                })
            })
        };
        pb.finish_and_clear();

        let lost: u64 = outcome.lost.values().sum();
        let status = if outcome.error.is_some() {
            ExitStatus::Error
        } else if lost > 0 {
            ExitStatus::Rejected
        } else {
            ExitStatus::Success
        };
        let mut report = Report::new(status);
        report.error = outcome.error.clone().or_else(|| {
            (lost > 0).then(|| {
                format!(
                    "{lost} messages expired from the topics before they reached bronze (retention passed while the committed offsets were older): {}",
                    outcome
                        .lost
                        .iter()
                        .map(|(tp, n)| format!("{tp}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        });
        report
            .field("group", self.settings.group.clone())
            .field("brokers", self.settings.kafka.brokers.clone())
            .field("topics", self.settings.topics.clone())
            .field("messages", outcome.messages)
            .field(
                "per_topic",
                serde_json::to_value(&outcome.per_topic).unwrap_or_default(),
            )
            .field("non_json", outcome.non_json)
            .field("null_values", outcome.null_values)
            .field("already_in_bronze", outcome.already_in_bronze)
            .field("lost_to_retention", lost)
            .field(
                "lost_per_partition",
                serde_json::to_value(&outcome.lost).unwrap_or_default(),
            )
            .field("objects", outcome.objects)
            .field("bytes", outcome.bytes)
            .field("recovered_manifest_lines", outcome.recovered_manifest_lines)
            .field(
                "committed",
                serde_json::to_value(&outcome.committed).unwrap_or_default(),
            );
        report.rows_in = outcome.messages + outcome.already_in_bronze;
        report.rows_out = outcome.messages;
        report.files = outcome.objects;
        report.bytes = outcome.bytes;
        let (inputs, mut outputs) = self.datasets();
        for (d, t) in outputs.iter_mut().zip(&self.settings.topics) {
            d.rows = Some(outcome.per_topic.get(t).copied().unwrap_or(0));
        }
        report.inputs = inputs;
        report.outputs = outputs;
        Ok(report)
    }
}

pub async fn run(args: &KafkaArgs, ctx: &RunContext) -> ExitStatus {
    let name = args.group.clone().unwrap_or_default();
    ctx.execute(COMMAND, &name, async { plan(args, ctx) }).await
}
