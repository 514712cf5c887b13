//! `kvt fraud run <job>`: arguments → configured job → live loop over Kafka
//! (checkpoints, alerts to topics and archive, dead letters, `/metrics`) or a
//! backtest over bronze. The rules and the engine are pure (`crate::fraud`);
//! this module is the Kafka, store and HTTP edge.
//!
//! Exactly-once without Kafka transactions (tansu has none): a checkpoint is
//! written only once every alert produced before it is acknowledged, and it
//! records the end offset of each output partition. On restart, what lies
//! between those offsets and the current end was produced after the
//! checkpoint by the crashed run; replaying from the checkpoint regenerates
//! exactly those outputs (the engine is deterministic), and they are not sent
//! again. Archive files carry the checkpoint number and are written with it;
//! files of a checkpoint that never completed are deleted on restart.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::Value;

use crate::cli::FraudRunArgs;
use crate::config::{parse_duration, FraudConfig};
use crate::fraud::engine::Millis;
use crate::fraud::job::{Message, Output};
use crate::fraud::replay::{self, Recorded};
use crate::fraud::runner::{self, Archive, Checkpoint, Job, JobKind, Rules};
use crate::kafka::ClientSettings;
use crate::lineage::Dataset;
use crate::run::{ExitStatus, Report, RunContext, Step};
use crate::store::{layout, Key, Store};

mod scale;

const COMMAND: &str = "fraud run";

/// An offset per (topic, partition).
type Offsets = BTreeMap<(String, i32), i64>;

/// Where the run starts when it has no checkpoint to resume from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    /// The last checkpoint, else the latest offsets (FRAUD-5).
    Resume,
    Beginning,
    At(Millis),
}

pub struct FraudRun {
    kind: JobKind,
    rules: Rules,
    kafka: ClientSettings,
    /// Prepended to every topic name on the cluster (CONTRACTS C2 names
    /// inside: alert ids and the archive do not depend on it).
    topic_prefix: String,
    group: String,
    store: Store,
    start: Start,
    input: Option<String>,
    dry_run: bool,
    checkpoint_interval: Duration,
    checkpoints_kept: usize,
    exit_when_idle: Option<Duration>,
    metrics_listen: Option<String>,
    broker_timeout: Duration,
    run_id: String,
    scale_out: bool,
}

fn duration(s: Option<&str>, default: Duration, what: &str) -> anyhow::Result<Duration> {
    match s {
        Some(s) => parse_duration(s)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("[fraud] {what}")),
        None => Ok(default),
    }
}

fn millis(s: &str, what: &str) -> anyhow::Result<Millis> {
    Ok(duration(Some(s), Duration::ZERO, what)?.as_millis() as Millis)
}

/// The C4 defaults with the `[fraud]` overrides applied.
pub fn rules_from_config(c: &FraudConfig) -> anyhow::Result<Rules> {
    let mut r = Rules::default();
    let s = &mut r.settings;
    if let Some(v) = &c.risk_countries {
        s.risk_countries = v.iter().map(|c| c.trim().to_ascii_uppercase()).collect();
    }
    if let Some(v) = &c.bin_blacklist {
        s.bin_blacklist = v.clone();
    }
    if let Some(path) = &c.bin_blacklist_file {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("[fraud] bin_blacklist_file: cannot read {}", path.display())
        })?;
        for (i, line) in text.lines().enumerate() {
            let bin = line.split('#').next().unwrap_or_default().trim();
            if bin.is_empty() {
                continue;
            }
            anyhow::ensure!(
                bin.len() >= 4 && bin.len() <= 8 && bin.bytes().all(|b| b.is_ascii_digit()),
                "{}:{}: `{bin}` is not a card BIN (4 to 8 digits)",
                path.display(),
                i + 1
            );
            s.bin_blacklist.push(bin.to_string());
        }
    }
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = &c.$field { s.$field = v.clone(); } )* };
    }
    set!(
        high_risk_score,
        moderate_score,
        failure_statuses,
        geo_mismatch_score,
        bot_max_processing_ms,
        high_amount_eur,
        eur_rates,
        order_high_amount_eur,
        discount_share,
        cancellation_items
    );
    if let Some(p) = &c.bot_pattern {
        s.bot_pattern = regex::RegexBuilder::new(p)
            .case_insensitive(true)
            .build()
            .with_context(|| {
                format!("[fraud] bot_pattern `{p}` is not a valid regular expression")
            })?;
    }
    let w = &mut r.windows;
    if let Some(d) = &c.watermark_delay {
        w.watermark_delay = millis(d, "watermark_delay")?;
    }
    if let Some(d) = &c.idle_partition {
        w.idle_partition = millis(d, "idle_partition")?;
    }
    if let Some(v) = c.psp_error_rate {
        w.psp_error_rate = v;
    }
    if let Some(v) = c.max_cancellations_per_minute {
        w.max_cancellations_per_minute = v;
    }
    if let Some(v) = c.express_share {
        w.express_share = v;
    }
    let lb = |rule: &Option<crate::config::LookBackRule>,
              name: &str,
              slot: &mut (Millis, usize)|
     -> anyhow::Result<()> {
        if let Some(rule) = rule {
            *slot = (millis(&rule.within, name)?, rule.above);
        }
        Ok(())
    };
    lb(
        &c.card_testing,
        "card_testing",
        &mut r.lookback.card_testing,
    )?;
    lb(
        &c.card_portfolio,
        "card_portfolio",
        &mut r.lookback.card_portfolio,
    )?;
    lb(
        &c.shared_device,
        "shared_device",
        &mut r.lookback.shared_device,
    )?;
    lb(&c.shared_ip, "shared_ip", &mut r.cross.shared_ip)?;
    if let Some(v) = &c.cross_velocity {
        r.cross.velocity = (
            millis(&v.within, "cross_velocity")?,
            v.payments_above,
            v.orders_above,
        );
    }
    if let Some(v) = c.amount_gap {
        r.cross.amount_gap = v;
    }
    if let Some(d) = &c.retention {
        r.cross.retention = millis(d, "retention")?;
    }
    if let Some(v) = &c.kyc_documents {
        r.cross.kyc_documents = (millis(&v.within, "kyc_documents")?, v.at_least);
    }
    if let Some(v) = &c.kyc_minor_rate {
        r.cross.kyc_minor_rate = (
            millis(&v.within, "kyc_minor_rate")?,
            v.min_decisions,
            v.share_above,
        );
    }
    let known: BTreeSet<&str> = JobKind::ALL
        .iter()
        .flat_map(|k| k.alert_types().iter().copied())
        .collect();
    for t in &c.disabled {
        anyhow::ensure!(
            known.contains(t.as_str()),
            "[fraud] disabled: unknown alert type `{t}` (known: {})",
            known.iter().copied().collect::<Vec<_>>().join(", ")
        );
        r.disabled.insert(t.clone());
    }
    Ok(r)
}

/// Resolve arguments, environment and configuration into a run.
pub fn plan(args: &FraudRunArgs, ctx: &RunContext) -> anyhow::Result<FraudRun> {
    let cfg = &ctx.config.fraud;
    let rules = rules_from_config(cfg)?;
    if rules.settings.bin_blacklist.is_empty()
        && args.job == JobKind::Advanced
        && !rules.disabled.contains("bin_blacklist")
    {
        tracing::warn!(
            "the bin_blacklist rule has no BIN to look for: set [fraud] bin_blacklist_file (or disable the rule)"
        );
    }
    let start = match (&args.from, args.from_beginning) {
        (Some(t), _) => Start::At(
            chrono::DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("--from `{t}` is not an RFC 3339 time"))?
                .timestamp_millis(),
        ),
        (None, true) => Start::Beginning,
        (None, false) => Start::Resume,
    };
    let group = args.group.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            cfg.group_prefix.as_deref().unwrap_or("kvt-fraud"),
            args.job.name()
        )
    });
    Ok(FraudRun {
        kind: args.job,
        rules,
        kafka: super::ingest_kafka::kafka_settings(args.brokers.as_deref(), ctx),
        topic_prefix: args.topic_prefix.clone(),
        group,
        store: ctx.open_store()?,
        start,
        input: args.input.clone(),
        dry_run: args.dry_run,
        checkpoint_interval: duration(
            args.checkpoint_interval
                .as_deref()
                .or(cfg.checkpoint_interval.as_deref()),
            Duration::from_secs(60),
            "checkpoint_interval",
        )?
        .max(Duration::from_millis(100)),
        checkpoints_kept: cfg.checkpoints_kept.unwrap_or(3).max(1),
        exit_when_idle: args
            .exit_when_idle
            .as_deref()
            .map(|d| duration(Some(d), Duration::ZERO, "--exit-when-idle"))
            .transpose()?,
        metrics_listen: args.metrics_listen.clone().or(cfg.metrics_listen.clone()),
        broker_timeout: duration(
            ctx.config.kafka.broker_timeout.as_deref(),
            Duration::from_secs(30),
            "broker_timeout",
        )?,
        run_id: ctx.run_id.clone(),
        scale_out: args.scale_out,
    })
}

fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Counters and gauges of a live run, read by `/metrics` and `/health`.
#[derive(Default)]
struct Stats {
    messages: AtomicU64,
    late: AtomicU64,
    dead_letters: AtomicU64,
    alerts: Mutex<BTreeMap<String, u64>>,
    suppressed: AtomicU64,
    watermark: AtomicI64,
    state_keys: AtomicU64,
    checkpoints: AtomicU64,
    last_checkpoint: AtomicI64,
    checkpoint_bytes: AtomicU64,
    checkpoint_micros: AtomicU64,
    broker_down_since: AtomicI64,
    producer_failures: AtomicU64,
    influx: std::sync::OnceLock<Arc<crate::influx::WriterStats>>,
    /// Messages behind the end of each input partition, at the last checkpoint.
    lag: Mutex<BTreeMap<(String, i32), i64>>,
}

impl Stats {
    /// A consumer error: the broker is down since now (if not already), a
    /// warning at most every 10 s; the job keeps its state and retries.
    fn broker_error(&self, e: &KafkaError, last_log: &mut Option<Instant>) {
        let _ = self.broker_down_since.compare_exchange(
            0,
            now_ms(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        if last_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            tracing::warn!("Kafka: {e} (retrying; state is kept)");
            *last_log = Some(Instant::now());
        }
    }

    fn alert(&self, ty: &str) {
        if let Ok(mut a) = self.alerts.lock() {
            *a.entry(ty.to_string()).or_default() += 1;
        }
    }

    /// The counters a checkpoint carries (so totals survive restarts).
    fn counters(&self) -> BTreeMap<String, u64> {
        let mut c: BTreeMap<String, u64> = self
            .alerts
            .lock()
            .map(|a| a.iter().map(|(k, v)| (format!("alert:{k}"), *v)).collect())
            .unwrap_or_default();
        c.insert("messages".into(), self.messages.load(Ordering::Relaxed));
        c.insert("late".into(), self.late.load(Ordering::Relaxed));
        c.insert(
            "dead_letters".into(),
            self.dead_letters.load(Ordering::Relaxed),
        );
        c
    }

    fn restore(&self, c: &BTreeMap<String, u64>) {
        let get = |k: &str| c.get(k).copied().unwrap_or(0);
        self.messages.store(get("messages"), Ordering::Relaxed);
        self.late.store(get("late"), Ordering::Relaxed);
        self.dead_letters
            .store(get("dead_letters"), Ordering::Relaxed);
        if let Ok(mut a) = self.alerts.lock() {
            *a = c
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("alert:")?.to_string(), *v)))
                .collect();
        }
    }

    /// Why the job is unhealthy, if it is.
    fn problem(&self, interval: Duration, now: Millis) -> Option<String> {
        let down = self.broker_down_since.load(Ordering::Relaxed);
        if down > 0 {
            return Some(format!(
                "Kafka unreachable for {} s",
                (now - down).max(0) / 1000
            ));
        }
        let last = self.last_checkpoint.load(Ordering::Relaxed);
        let limit = 3 * interval.as_millis() as i64 + 30_000;
        if last > 0 && now - last > limit {
            return Some(format!(
                "no checkpoint for {} s (interval {} s)",
                (now - last) / 1000,
                interval.as_secs()
            ));
        }
        None
    }

    /// Prometheus text exposition format.
    fn render(&self, job: &str, interval: Duration) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let l = format!("job=\"{job}\"");
        let mut one = |name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{l}}} {v}"
            );
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        one(
            "kvt_fraud_messages_total",
            "counter",
            "Messages processed (since the first checkpoint of the job).",
            get(&self.messages),
        );
        one(
            "kvt_fraud_late_events_total",
            "counter",
            "Events behind the watermark, archived under late/.",
            get(&self.late),
        );
        one(
            "kvt_fraud_dead_letters_total",
            "counter",
            "Malformed messages sent to kvt_dead_letters.",
            get(&self.dead_letters),
        );
        one(
            "kvt_fraud_recovered_outputs_total",
            "counter",
            "Outputs found already published after the restored checkpoint, not sent again.",
            get(&self.suppressed),
        );
        one(
            "kvt_fraud_producer_failures_total",
            "counter",
            "Alerts or dead letters Kafka refused for good.",
            get(&self.producer_failures),
        );
        one(
            "kvt_fraud_state_keys",
            "gauge",
            "Keys and windows held in operator state.",
            get(&self.state_keys),
        );
        one(
            "kvt_fraud_checkpoints_total",
            "counter",
            "Checkpoints written by this process.",
            get(&self.checkpoints),
        );
        one(
            "kvt_fraud_checkpoint_bytes",
            "gauge",
            "Size of the last checkpoint.",
            get(&self.checkpoint_bytes),
        );
        one(
            "kvt_fraud_checkpoint_duration_seconds",
            "gauge",
            "Time the last checkpoint took (flush, archive, state).",
            format!(
                "{:.6}",
                self.checkpoint_micros.load(Ordering::Relaxed) as f64 / 1e6
            ),
        );
        one(
            "kvt_fraud_last_checkpoint_timestamp_seconds",
            "gauge",
            "Unix time of the last checkpoint.",
            format!(
                "{:.3}",
                self.last_checkpoint.load(Ordering::Relaxed) as f64 / 1e3
            ),
        );
        one(
            "kvt_fraud_watermark_timestamp_seconds",
            "gauge",
            "Event-time watermark.",
            format!("{:.3}", self.watermark.load(Ordering::Relaxed) as f64 / 1e3),
        );
        let up = self.problem(interval, now_ms()).is_none();
        one(
            "kvt_fraud_up",
            "gauge",
            "1 when healthy (broker reachable, checkpoints on time).",
            u8::from(up).to_string(),
        );
        if let Some(i) = self.influx.get() {
            let _ = writeln!(
                s,
                "# HELP kvt_fraud_influx_points_total Points sent to InfluxDB, per result.\n# TYPE kvt_fraud_influx_points_total counter"
            );
            for (result, n) in [("written", &i.written), ("dropped", &i.dropped)] {
                let _ = writeln!(
                    s,
                    "kvt_fraud_influx_points_total{{{l},result=\"{result}\"}} {}",
                    n.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP kvt_fraud_consumer_lag_messages Messages between the job's position and the end of each input partition, at the last checkpoint.\n# TYPE kvt_fraud_consumer_lag_messages gauge"
        );
        if let Ok(lag) = self.lag.lock() {
            for ((topic, p), n) in lag.iter() {
                let _ = writeln!(
                    s,
                    "kvt_fraud_consumer_lag_messages{{{l},topic=\"{topic}\",partition=\"{p}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP kvt_fraud_alerts_total Alerts raised, per type.\n# TYPE kvt_fraud_alerts_total counter"
        );
        if let Ok(a) = self.alerts.lock() {
            for (ty, n) in a.iter() {
                let _ = writeln!(s, "kvt_fraud_alerts_total{{{l},type=\"{ty}\"}} {n}");
            }
        }
        s
    }
}

/// Serves `/metrics` and `/health` on `addr` from a thread; returns the
/// bound address (port 0 picks a free one).
fn serve_metrics(
    addr: &str,
    job: &'static str,
    stats: Arc<Stats>,
    interval: Duration,
) -> anyhow::Result<std::net::SocketAddr> {
    use std::io::{BufRead as _, BufReader};
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
    let bound = listener.local_addr()?;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut line = String::new();
            let Ok(clone) = conn.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(clone);
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the headers.
            let mut h = String::new();
            while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", stats.render(job, interval)),
                "/health" => match stats.problem(interval, now_ms()) {
                    None => ("200 OK", "ok\n".to_string()),
                    Some(p) => ("503 Service Unavailable", format!("unhealthy: {p}\n")),
                },
                _ => ("404 Not Found", "try /metrics or /health\n".to_string()),
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(bound)
}

/// Delivery reports of the alert producer: the end offset of each output
/// partition as far as this process wrote it (for checkpoints), and
/// permanent failures (with `message.timeout.ms = 0` librdkafka retries
/// transient ones forever).
#[derive(Default)]
struct Deliveries {
    ends: Mutex<BTreeMap<(String, i32), i64>>,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Ok(m) = r {
            if let Ok(mut ends) = self.ends.lock() {
                let end = ends
                    .entry((m.topic().to_string(), m.partition()))
                    .or_default();
                *end = (*end).max(m.offset() + 1);
            }
        }
        if let Err((e, m)) = r {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut l) = self.last_error.lock() {
                *l = Some(format!("{}: {e}", m.topic()));
            }
        }
    }
}

/// Waits until everything sent is acknowledged; an error when Kafka refused
/// a message for good (not checkpointing then: a restart sends it again).
fn acknowledged(
    p: &ThreadedProducer<Deliveries>,
    timeout: Duration,
    stats: &Stats,
) -> anyhow::Result<()> {
    p.flush(timeout)
        .context("outputs not acknowledged by Kafka (broker down?)")?;
    let failed = p.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        let last = p.context().last_error.lock().ok().and_then(|l| l.clone());
        stats.producer_failures.store(failed, Ordering::Relaxed);
        bail!(
            "Kafka refused {failed} output message(s) for good (last: {}); not checkpointing, so a restart sends them again",
            last.unwrap_or_default()
        );
    }
    Ok(())
}

/// Output end offsets as far as this process knows them: at start, and
/// beyond what it had acknowledged since (output partitions only).
fn output_ends_now(
    start: &BTreeMap<(String, i32), i64>,
    producer: Option<&ThreadedProducer<Deliveries>>,
) -> Vec<(String, i32, i64)> {
    let mut ends = start.clone();
    if let Some(Ok(e)) = producer.map(|p| p.context().ends.lock()) {
        for (k, v) in e.iter() {
            if let Some(end) = ends.get_mut(k) {
                *end = (*end).max(*v);
            }
        }
    }
    ends.into_iter().map(|((t, p), o)| (t, p, o)).collect()
}

/// Sends a record, waiting while the producer's queue is full.
fn send_waiting<K: rdkafka::message::ToBytes + ?Sized, P: rdkafka::message::ToBytes + ?Sized>(
    p: &ThreadedProducer<Deliveries>,
    mut record: BaseRecord<'_, K, P>,
) -> anyhow::Result<()> {
    loop {
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((
                KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                r,
            )) => {
                record = r;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, r)) => bail!("cannot send to Kafka topic `{}`: {e}", r.topic),
        }
    }
}

/// Where outputs go.
enum Sink {
    /// Live: Kafka topics, and the archive at each checkpoint.
    Kafka(Arc<ThreadedProducer<Deliveries>>),
    /// Backtest: the archive under this prefix.
    Archive(String),
    /// `--dry-run`: alerts on stdout, nothing written.
    Stdout,
}

/// The engine with its outputs: what `process`/`tick` produced goes to the
/// sink, the archive buffer and the counters.
struct Runner<'a> {
    run: &'a FraudRun,
    job: Job,
    sink: Sink,
    archive: Archive,
    /// Outputs published after the restored checkpoint (not sent again).
    in_doubt: HashSet<String>,
    stats: Arc<Stats>,
    /// Supervision metrics to InfluxDB (`KVT_INFLUX_URL`, live runs).
    influx: Option<crate::influx::Writer>,
}

impl Runner<'_> {
    fn name(&self) -> &'static str {
        self.run.kind.name()
    }

    fn archive_dir(&self, dir: String) -> String {
        match &self.sink {
            Sink::Archive(prefix) => format!("{prefix}{dir}"),
            _ => dir,
        }
    }

    fn send(&mut self, topic: &str, key: &str, id: &str, doc: &Value) -> anyhow::Result<()> {
        let Sink::Kafka(p) = &self.sink else {
            return Ok(());
        };
        if self.in_doubt.remove(id) {
            self.stats.suppressed.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let payload = serde_json::to_vec(doc)?;
        let topic = &format!("{}{topic}", self.run.topic_prefix);
        send_waiting(p, BaseRecord::to(topic).key(key).payload(&payload))
    }

    fn handle(&mut self, outs: Vec<Output>, m: Option<&Message>) -> anyhow::Result<()> {
        let now = now_ms();
        for o in outs {
            match o {
                Output::Alert(a) => {
                    self.stats.alert(a.ty);
                    let topic = self.run.kind.alert_topic(a.ty);
                    if let Some(w) = &self.influx {
                        w.push(&runner::alert_point(&a, topic));
                    }
                    let doc = a.to_c3(now);
                    if let Sink::Stdout = self.sink {
                        println!("{doc}");
                        continue;
                    }
                    let dir = self.archive_dir(format!("alerts/{topic}"));
                    self.archive.push(dir, a.event_time, &doc);
                    self.send(topic, &a.key, &a.alert_id, &doc)?;
                }
                Output::Aggregate {
                    name,
                    key,
                    start,
                    end,
                    value,
                } => {
                    if let Some(w) = &self.influx {
                        w.push(&runner::aggregate_point(
                            self.name(),
                            name,
                            &key,
                            start,
                            end,
                            &value,
                        ));
                    }
                    if !matches!(self.sink, Sink::Stdout) {
                        let dir = self.archive_dir(format!("fraud/aggregates/{name}"));
                        let rec = runner::aggregate_record(self.name(), &key, start, end, &value);
                        self.archive.push(dir, start, &rec);
                    }
                }
                Output::Late {
                    topic,
                    partition,
                    offset,
                    timestamp,
                } => {
                    self.stats.late.fetch_add(1, Ordering::Relaxed);
                    if !matches!(self.sink, Sink::Stdout) {
                        let wm = self.job.watermark();
                        let rec = runner::late_record(
                            self.name(),
                            &topic,
                            partition,
                            offset,
                            timestamp,
                            wm,
                        );
                        let dir = self.archive_dir(format!("late/{topic}"));
                        self.archive.push(dir, timestamp, &rec);
                    }
                }
                Output::DeadLetter {
                    topic,
                    partition,
                    offset,
                    reason,
                } => {
                    self.stats.dead_letters.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%topic, partition, offset, %reason, "dead letter");
                    let Some(m) = m else { continue };
                    let doc = runner::dead_letter(self.name(), m, &reason);
                    let id = runner::dead_letter_id(self.name(), &topic, partition, offset);
                    match &self.sink {
                        Sink::Kafka(_) => self.send(crate::kafka::DEAD_LETTERS, &id, &id, &doc)?,
                        Sink::Archive(_) => {
                            let dir = self.archive_dir(format!("dead_letters/{topic}"));
                            self.archive.push(dir, m.timestamp, &doc);
                        }
                        Sink::Stdout => {}
                    }
                }
            }
        }
        Ok(())
    }

    fn process(&mut self, m: &Message, now: Millis) -> anyhow::Result<()> {
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        let outs = self.job.process(m, now, &self.run.rules.disabled);
        self.handle(outs, Some(m))
    }

    /// The job's counters as a time-series point (every 10 s of a live run).
    fn counters_point(&self, now: Millis) {
        let Some(w) = &self.influx else { return };
        let st = &self.stats;
        let alerts: u64 = st.alerts.lock().map(|a| a.values().sum()).unwrap_or(0);
        let mut line =
            crate::influx::Line::new("kvt_fraud_job", now * 1_000_000).tag("job", self.name());
        if self.run.scale_out {
            // Several processes count for one job: one series each.
            line = line.tag("instance", &self.run.run_id);
        }
        line = line
            .int("messages", st.messages.load(Ordering::Relaxed) as i64)
            .int("alerts", alerts as i64)
            .int("late_events", st.late.load(Ordering::Relaxed) as i64)
            .int(
                "dead_letters",
                st.dead_letters.load(Ordering::Relaxed) as i64,
            )
            .int("state_keys", st.state_keys.load(Ordering::Relaxed) as i64);
        let wm = st.watermark.load(Ordering::Relaxed);
        if wm > 0 {
            line = line.int("watermark_lag_ms", now - wm);
        }
        w.push(&line);
    }

    fn tick(&mut self, now: Millis) -> anyhow::Result<()> {
        let outs = self.job.tick(now, &self.run.rules.disabled);
        self.stats
            .watermark
            .store(self.job.watermark().unwrap_or(0), Ordering::Relaxed);
        self.stats
            .state_keys
            .store(self.job.state_keys() as u64, Ordering::Relaxed);
        self.handle(outs, None)
    }

    async fn write_archive(&mut self, seq: u64) -> anyhow::Result<(u64, u64)> {
        let (mut files, mut bytes) = (0, 0);
        for (key, body) in self.archive.take(self.name(), seq) {
            bytes += body.len() as u64;
            files += 1;
            self.run
                .store
                .put(&Key::new(key), Bytes::from(body), &Default::default())
                .await?;
        }
        Ok((files, bytes))
    }
}

/// What a run did, for the summary line.
#[derive(Default)]
struct Summary {
    mode: &'static str,
    resumed_from: Option<u64>,
    last_checkpoint: Option<u64>,
    archive_files: u64,
    archive_bytes: u64,
    unreadable_lines: u64,
    input_files: u64,
}

impl Step for FraudRun {
    fn command(&self) -> &str {
        COMMAND
    }
    fn name(&self) -> &str {
        self.kind.name()
    }
    fn lock_store(&self) -> Option<&Store> {
        // Checkpoints are fenced by create-if-absent (see `checkpoint`); a
        // lock with a TTL does not suit a process that runs for months.
        None
    }
    fn datasets(&self) -> (Vec<Dataset>, Vec<Dataset>) {
        let ns = self.kafka.namespace();
        let inputs = self
            .kind
            .input_topics()
            .iter()
            .map(|t| Dataset::new(ns.clone(), t.to_string()))
            .collect();
        let outputs = self
            .kind
            .output_topics()
            .iter()
            .map(|t| Dataset::new(ns.clone(), t.to_string()))
            .collect();
        (inputs, outputs)
    }

    async fn run(&mut self, _ctx: &RunContext) -> anyhow::Result<Report> {
        let stats = Arc::new(Stats::default());
        let (summary, status) = if let Some(input) = self.input.clone() {
            (self.backtest(&input, &stats).await?, ExitStatus::Success)
        } else {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let watcher = tokio::spawn(async move {
                let term = async {
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(mut s) => {
                            s.recv().await;
                        }
                        Err(_) => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term => {}
                }
                tracing::info!("stop requested: final checkpoint, then exit");
                flag.store(true, Ordering::SeqCst);
            });
            let rt = tokio::runtime::Handle::current();
            let this = &*self;
            let st = Arc::clone(&stats);
            let out = tokio::task::block_in_place(|| {
                if this.scale_out {
                    this.scaled(&rt, &stop, st)
                } else {
                    this.live(&rt, &stop, st)
                }
            });
            watcher.abort();
            (out?, ExitStatus::Success)
        };
        let mut report = Report::new(status);
        let alerts = stats.alerts.lock().map(|a| a.clone()).unwrap_or_default();
        let total: u64 = alerts.values().sum();
        report
            .field("job", self.kind.name())
            .field("mode", summary.mode)
            .field("messages", stats.messages.load(Ordering::Relaxed))
            .field("alerts", total)
            .field(
                "alerts_per_type",
                serde_json::to_value(&alerts).unwrap_or_default(),
            )
            .field("late_events", stats.late.load(Ordering::Relaxed))
            .field("dead_letters", stats.dead_letters.load(Ordering::Relaxed))
            .field("resumed_from_checkpoint", summary.resumed_from)
            .field("last_checkpoint", summary.last_checkpoint)
            .field(
                "outputs_recovered",
                stats.suppressed.load(Ordering::Relaxed),
            )
            .field("archive_files", summary.archive_files);
        if summary.mode == "backtest" {
            report
                .field("input_files", summary.input_files)
                .field("unreadable_lines", summary.unreadable_lines);
        }
        report.rows_in = stats.messages.load(Ordering::Relaxed);
        report.rows_out = total;
        report.rows_rejected = stats.dead_letters.load(Ordering::Relaxed);
        report.files = summary.archive_files;
        report.bytes = summary.archive_bytes;
        let (inputs, outputs) = self.datasets();
        report.inputs = inputs;
        report.outputs = outputs;
        Ok(report)
    }
}

/// A bronze file of a backtest.
enum InputFile {
    Local(std::path::PathBuf),
    Store(Key),
}

/// An event-date range `A..B` or a single date.
fn date_range(s: &str) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let (a, b) = s.split_once("..").unwrap_or((s, s));
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

impl FraudRun {
    /// The CONTRACTS C2 name of a topic of the cluster.
    fn canonical<'t>(&self, topic: &'t str) -> &'t str {
        topic.strip_prefix(&self.topic_prefix).unwrap_or(topic)
    }

    /// The bronze files to replay: local files, or the store's Kafka
    /// objects of the job's topics for a range of event dates.
    async fn input_files(&self, input: &str) -> anyhow::Result<Vec<InputFile>> {
        let mut bodies = Vec::new();
        let path = std::path::Path::new(input);
        if let Some((from, to)) = date_range(input).filter(|_| !path.exists()) {
            anyhow::ensure!(
                from <= to,
                "--input {input}: the range ends before it starts"
            );
            for topic in self.kind.input_topics() {
                let actual = format!("{}{topic}", self.topic_prefix);
                for o in self
                    .store
                    .list(&layout::kafka_topic_prefix(&actual))
                    .await?
                {
                    let Some(k) = layout::parse_kafka_object(&o.key) else {
                        continue;
                    };
                    if k.event_date >= from && k.event_date <= to {
                        bodies.push(InputFile::Store(o.key));
                    }
                }
            }
            anyhow::ensure!(
                !bodies.is_empty(),
                "--input {input}: no bronze object of {} for these event dates in {} (run `kvt ingest kafka` first)",
                self.kind.input_topics().join(", "),
                self.store.url()
            );
        } else {
            anyhow::ensure!(
                path.exists(),
                "--input {input}: no such file or directory, and not a date or DATE..DATE range"
            );
            let mut stack = vec![path.to_path_buf()];
            while let Some(p) = stack.pop() {
                if p.is_dir() {
                    let mut entries: Vec<_> = std::fs::read_dir(&p)
                        .with_context(|| format!("reading {}", p.display()))?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .collect();
                    entries.sort();
                    stack.extend(entries.into_iter().rev());
                } else if p == path || p.extension().is_some_and(|e| e == "jsonl") {
                    bodies.push(InputFile::Local(p));
                }
            }
        }
        Ok(bodies)
    }

    /// `--input`: the same engine over bronze, event time as processing time.
    async fn backtest(&self, input: &str, stats: &Arc<Stats>) -> anyhow::Result<Summary> {
        let mut summary = Summary {
            mode: "backtest",
            ..Default::default()
        };
        let topics = self.kind.input_topics();
        let mut records: Vec<Recorded> = Vec::new();
        let files = self.input_files(input).await?;
        summary.input_files = files.len() as u64;
        // One file in memory at a time; lines of other topics are skipped
        // before they are parsed.
        for f in &files {
            let (body, file) = match f {
                InputFile::Local(p) => (
                    std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
                    p.display().to_string(),
                ),
                InputFile::Store(k) => {
                    (self.store.get(k).await?.to_vec(), self.store.display_key(k))
                }
            };
            for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if replay::line_topic(line).is_some_and(|t| {
                    !topics.contains(&t.strip_prefix(self.topic_prefix.as_str()).unwrap_or(t))
                }) {
                    continue;
                }
                match replay::parse_line(line) {
                    Ok(mut r) => {
                        if let Some(t) = r.topic.strip_prefix(&self.topic_prefix) {
                            r.topic = t.to_string();
                        }
                        if topics.contains(&r.topic.as_str()) {
                            records.push(r);
                        }
                    }
                    Err(e) => {
                        summary.unreadable_lines += 1;
                        tracing::warn!(%file, line = i + 1, "unreadable bronze line skipped: {e}");
                    }
                }
            }
        }
        let records = replay::replay_order(records);
        let sink = if self.dry_run {
            Sink::Stdout
        } else {
            Sink::Archive(format!("backtest/{}/{}/", self.kind.name(), self.run_id))
        };
        let mut r = Runner {
            run: self,
            job: Job::new(self.kind, &self.rules),
            sink,
            archive: Archive::default(),
            in_doubt: HashSet::new(),
            stats: Arc::clone(stats),
            influx: None,
        };
        let t0 = records.first().map_or(0, |r| r.timestamp);
        let parts: BTreeSet<(&str, i32)> = records
            .iter()
            .map(|r| (r.topic.as_str(), r.partition))
            .collect();
        for (t, p) in parts {
            r.job.register(t, p, t0);
        }
        let mut last = t0;
        for rec in &records {
            let m = rec.message();
            last = last.max(m.timestamp);
            r.process(&m, m.timestamp)?;
        }
        // The input is over: every partition goes idle, as in a live run.
        r.tick(last + self.rules.windows.idle_partition + 1)?;
        if !self.dry_run {
            let (files, bytes) = r.write_archive(0).await?;
            summary.archive_files = files;
            summary.archive_bytes = bytes;
            let Sink::Archive(prefix) = &r.sink else {
                unreachable!()
            };
            tracing::info!(
                "backtest archive: {}",
                self.store.display_key(&Key::new(prefix.clone()))
            );
        }
        std::io::stdout().flush()?;
        Ok(summary)
    }

    /// The latest checkpoint of the job, if any (an unreadable one is an
    /// error: starting over silently would lose or repeat alerts).
    async fn latest_checkpoint(&self) -> anyhow::Result<(Option<(Checkpoint, Vec<u8>)>, u64)> {
        self.latest_checkpoint_of(self.kind.name()).await
    }

    /// The latest checkpoint of `name` (the job, or a task of a scaled-out job).
    async fn latest_checkpoint_of(
        &self,
        name: &str,
    ) -> anyhow::Result<(Option<(Checkpoint, Vec<u8>)>, u64)> {
        let prefix = Key::new(runner::checkpoint_prefix(name));
        let mut latest: Option<(u64, Key)> = None;
        for o in self.store.list(&prefix).await? {
            if let Some(seq) = runner::checkpoint_seq(o.key.as_str()) {
                if latest.as_ref().is_none_or(|(s, _)| seq > *s) {
                    latest = Some((seq, o.key));
                }
            }
        }
        let Some((seq, key)) = latest else {
            return Ok((None, 0));
        };
        let bytes = self.store.get(&key).await?;
        let (c, state) = Checkpoint::decode(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "checkpoint {} is unreadable: {e}; move it away to resume from the previous one",
                self.store.display_key(&key)
            )
        })?;
        let state = state.to_vec();
        Ok((Some((c, state)), seq))
    }

    /// Archive files of checkpoints after `seq` (written by a run that died
    /// before its checkpoint completed): their records will be produced again.
    async fn drop_unfinished_archive(&self, seq: u64) -> anyhow::Result<u64> {
        self.drop_unfinished_archive_of(self.kind.name(), seq).await
    }

    /// Archive files of `name` (job or task) written after checkpoint `seq`.
    async fn drop_unfinished_archive_of(&self, name: &str, seq: u64) -> anyhow::Result<u64> {
        let mut n = 0;
        for root in runner::ARCHIVE_ROOTS {
            for o in self.store.list(&Key::new(root)).await? {
                if runner::archive_seq(o.key.as_str(), name).is_some_and(|s| s > seq) {
                    self.store.delete(&o.key).await?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Ids of the alerts and dead letters this job published after the
    /// checkpoint (between its recorded output offsets and the current end).
    fn published_after(&self, c: &Checkpoint) -> anyhow::Result<HashSet<String>> {
        // Fetches that return at once: a scaled-out process reads back
        // once per task it takes over.
        let consumer = self
            .kafka
            .streaming_consumer("kvt-fraud-recovery", &format!("{}-recovery", self.group))?;
        let mut tpl = TopicPartitionList::new();
        let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for (t, p, from) in &c.outputs {
            let (_, high) = consumer
                .fetch_watermarks(t, *p, self.broker_timeout)
                .with_context(|| format!("reading the end offsets of {t}/{p}"))?;
            if high > *from {
                tpl.add_partition_offset(t, *p, Offset::Offset(*from))?;
                ends.insert((t.clone(), *p), high);
            }
        }
        let mut ids = HashSet::new();
        if ends.is_empty() {
            return Ok(ids);
        }
        consumer.assign(&tpl)?;
        let deadline = Instant::now() + self.broker_timeout * 2;
        while !ends.is_empty() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "could not read back the outputs published after the checkpoint within {:?}",
                self.broker_timeout * 2
            );
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let key = (m.topic().to_string(), m.partition());
                    if ends.get(&key).is_some_and(|end| m.offset() + 1 >= *end) {
                        ends.remove(&key);
                    }
                    let Some(v) = m
                        .payload()
                        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                    else {
                        continue;
                    };
                    if v["job"] == self.kind.name() {
                        for f in ["alert_id", "dead_letter_id"] {
                            if let Some(id) = v[f].as_str() {
                                ids.insert(id.to_string());
                            }
                        }
                    }
                }
                Some(Err(e)) => tracing::warn!("reading back outputs: {e}"),
                None => {}
            }
        }
        Ok(ids)
    }

    /// Resolves the start offset of every input partition.
    fn start_offsets(
        &self,
        consumer: &BaseConsumer,
        parts: &[(String, i32)],
        checkpoint: Option<&Checkpoint>,
    ) -> anyhow::Result<(Offsets, Offsets)> {
        let mut pos = BTreeMap::new();
        // Partitions with messages already waiting: (partition, end offset).
        let mut behind = BTreeMap::new();
        let at = match self.start {
            Start::At(ms) => {
                let mut tpl = TopicPartitionList::new();
                for (t, p) in parts {
                    tpl.add_partition_offset(t, *p, Offset::Offset(ms))?;
                }
                Some(consumer.offsets_for_times(tpl, self.broker_timeout)?)
            }
            _ => None,
        };
        for (t, p) in parts {
            let (low, high) = consumer
                .fetch_watermarks(t, *p, self.broker_timeout)
                .with_context(|| {
                    format!(
                        "cannot read the offsets of {t}/{p} from {}",
                        self.kafka.brokers
                    )
                })?;
            let o = match (self.start, checkpoint) {
                (Start::Resume, Some(c)) => match c.input_offset(t, *p) {
                    Some(o) if o < low => {
                        tracing::warn!(
                            "{t}/{p}: offsets {o}..{low} expired from the topic (retention) since the checkpoint; {} events lost to this job",
                            low - o
                        );
                        low
                    }
                    Some(o) => o,
                    // A partition added since: all of it.
                    None => low,
                },
                (Start::Resume, None) => high,
                (Start::Beginning, _) => low,
                (Start::At(_), _) => match at
                    .as_ref()
                    .and_then(|a| a.find_partition(t, *p))
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(o)) => o.clamp(low, high),
                    _ => high,
                },
            };
            pos.insert((t.clone(), *p), o);
            if o < high {
                behind.insert((t.clone(), *p), high);
            }
        }
        Ok((pos, behind))
    }

    /// The end offset of every output partition (at start).
    fn output_ends<C: rdkafka::consumer::ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        topics: &[String],
    ) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
        let mut ends = BTreeMap::new();
        for t in topics {
            let ps =
                crate::kafka::partitions(consumer, &self.kafka.brokers, t, self.broker_timeout)
                    .map_err(anyhow::Error::msg)?;
            for p in ps {
                let (_, high) = consumer
                    .fetch_watermarks(t, p, self.broker_timeout)
                    .with_context(|| format!("reading the end offset of {t}/{p}"))?;
                ends.insert((t.clone(), p), high);
            }
        }
        Ok(ends)
    }

    /// Flush, archive, state, offsets — in that order (module doc).
    #[allow(clippy::too_many_arguments)]
    fn checkpoint(
        &self,
        rt: &tokio::runtime::Handle,
        r: &mut Runner,
        consumer: &BaseConsumer,
        outputs: &BTreeMap<(String, i32), i64>,
        pos: &BTreeMap<(String, i32), i64>,
        seq: u64,
    ) -> anyhow::Result<(u64, u64)> {
        let started = Instant::now();
        if let Sink::Kafka(p) = &r.sink {
            acknowledged(p, self.broker_timeout, &r.stats)?;
        }
        // Everything this process produced before the checkpoint lies below
        // these offsets (acknowledged above); output partitions it never
        // wrote to keep the end read at start.
        let ends = match &r.sink {
            Sink::Kafka(p) => output_ends_now(outputs, Some(p.as_ref())),
            _ => output_ends_now(outputs, None),
        };
        let c = Checkpoint {
            job: self.kind.name().to_string(),
            seq,
            created_at: now_ms(),
            inputs: pos.iter().map(|((t, p), o)| (t.clone(), *p, *o)).collect(),
            outputs: ends,
            counters: r.stats.counters(),
            published_ahead: r.in_doubt.iter().cloned().collect(),
        };
        let bytes = c.encode(&r.job.state());
        let len = bytes.len() as u64;
        let key = Key::new(runner::checkpoint_key(self.kind.name(), seq));
        let written = rt.block_on(async {
            let written = r.write_archive(seq).await?;
            anyhow::ensure!(
                self.store.create(&key, Bytes::from(bytes)).await?,
                "checkpoint {} already exists: another process runs job `{}` on this store; stopping",
                self.store.display_key(&key),
                self.kind.name()
            );
            let prefix = Key::new(runner::checkpoint_prefix(self.kind.name()));
            for o in self.store.list(&prefix).await? {
                if runner::checkpoint_seq(o.key.as_str())
                    .is_some_and(|s| s + self.checkpoints_kept as u64 <= seq)
                {
                    self.store.delete(&o.key).await?;
                }
            }
            Ok(written)
        })?;
        // The group's offsets are for monitoring (lag); the checkpoint is the truth.
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in pos {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))?;
        }
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!("committing offsets to group `{}`: {e}", self.group);
        }
        let s = &r.stats;
        // Consumer lag from the high watermarks librdkafka last saw (no request).
        if let Ok(mut lag) = s.lag.lock() {
            for ((t, p), o) in pos {
                if let Some(high) = crate::kafka::cached_high_watermark(consumer, t, *p) {
                    lag.insert((t.clone(), *p), (high - o).max(0));
                }
            }
        }
        s.checkpoints.fetch_add(1, Ordering::Relaxed);
        s.last_checkpoint.store(now_ms(), Ordering::Relaxed);
        s.checkpoint_bytes.store(len, Ordering::Relaxed);
        s.checkpoint_micros
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        tracing::debug!(seq, bytes = len, elapsed = ?started.elapsed(), "checkpoint written");
        Ok(written)
    }

    /// The live loop (blocking: librdkafka's poll).
    fn live(
        &self,
        rt: &tokio::runtime::Handle,
        stop: &AtomicBool,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Summary> {
        let name = self.kind.name();
        let mut summary = Summary {
            mode: if self.dry_run { "live dry run" } else { "live" },
            ..Default::default()
        };
        if let Some(addr) = &self.metrics_listen {
            let bound = serve_metrics(addr, name, Arc::clone(&stats), self.checkpoint_interval)?;
            tracing::info!("metrics on http://{bound}/metrics, health on http://{bound}/health");
        }
        let consumer = self
            .kafka
            .streaming_consumer(&format!("kvt-fraud-{name}"), &self.group)?;
        let mut parts: Vec<(String, i32)> = Vec::new();
        for t in self.kind.input_topics() {
            let t = format!("{}{t}", self.topic_prefix);
            let ps =
                crate::kafka::partitions(&consumer, &self.kafka.brokers, &t, self.broker_timeout)
                    .map_err(anyhow::Error::msg)?;
            parts.extend(ps.into_iter().map(|p| (t.clone(), p)));
        }
        let mut outputs: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let sink = if self.dry_run {
            Sink::Stdout
        } else {
            let topics: Vec<String> = self
                .kind
                .output_topics()
                .iter()
                .map(|t| format!("{}{t}", self.topic_prefix))
                .collect();
            let created = self.kafka.create_topics(
                &topics,
                crate::kafka::PARTITIONS,
                crate::kafka::RETENTION,
            )?;
            if !created.is_empty() {
                tracing::info!("created topics {}", created.join(", "));
            }
            outputs = self.output_ends(&consumer, &topics)?;
            Sink::Kafka(Arc::new(self.kafka.producer_with(
                &format!("kvt-fraud-{name}"),
                "1",
                "0",
                Deliveries::default(),
            )?))
        };

        let influx = match (self.dry_run, crate::influx::Target::from_env()?) {
            (false, Some(target)) => {
                tracing::info!(url = %crate::secret::redact_url(&target.url), db = %target.db, "supervision metrics to InfluxDB");
                let w = crate::influx::Writer::spawn(target, rt)?;
                let _ = stats.influx.set(Arc::clone(&w.stats));
                Some(w)
            }
            _ => None,
        };

        // Restore.
        let (restored, latest_seq) = if self.dry_run {
            (None, 0)
        } else {
            rt.block_on(self.latest_checkpoint())?
        };
        let now = now_ms();
        let (checkpoint, mut job) = match (self.start, restored) {
            (Start::Resume, Some((c, state))) => {
                let job = Job::restore(self.kind, &self.rules, &state)
                    .map_err(|e| anyhow::anyhow!("checkpoint {} of job `{name}`: {e}", c.seq))?;
                stats.restore(&c.counters);
                (Some(c), job)
            }
            (_, restored) => {
                if restored.is_some() {
                    tracing::warn!(
                        "--from/--from-beginning: the checkpoint is ignored, state starts empty"
                    );
                }
                (None, Job::new(self.kind, &self.rules))
            }
        };
        let mut in_doubt = HashSet::new();
        if let Some(c) = &checkpoint {
            summary.resumed_from = Some(c.seq);
            let dropped = rt.block_on(self.drop_unfinished_archive(c.seq))?;
            in_doubt = self.published_after(c)?;
            in_doubt.extend(c.published_ahead.iter().cloned());
            tracing::info!(
                checkpoint = c.seq,
                "resuming; {} output(s) published after it will not be sent again, {dropped} unfinished archive file(s) removed",
                in_doubt.len()
            );
        }
        let (mut pos, mut behind) = self.start_offsets(&consumer, &parts, checkpoint.as_ref())?;
        for (t, p) in &parts {
            job.register(self.canonical(t), *p, now);
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in &pos {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))?;
        }
        consumer
            .assign(&tpl)
            .with_context(|| format!("cannot assign partitions on {}", self.kafka.brokers))?;

        let mut r = Runner {
            run: self,
            job,
            sink,
            archive: Archive::default(),
            in_doubt,
            stats: Arc::clone(&stats),
            influx,
        };
        let mut seq = latest_seq + 1;
        if !self.dry_run && checkpoint.is_none() {
            // Record where the run starts: a crash before the first periodic
            // checkpoint resumes here instead of at the latest offsets.
            self.checkpoint(rt, &mut r, &consumer, &outputs, &pos, seq)?;
            summary.last_checkpoint = Some(seq);
            seq += 1;
        }
        let archived = |s: &mut Summary, (files, bytes): (u64, u64)| {
            s.archive_files += files;
            s.archive_bytes += bytes;
        };

        let mut last_checkpoint = Instant::now();
        let mut next_try = self.checkpoint_interval;
        let mut last_tick = Instant::now();
        let mut last_message = Instant::now();
        let mut last_error_log: Option<Instant> = None;
        let mut last_refresh = Instant::now();
        let mut last_probe = Instant::now();
        let mut last_point = Instant::now();
        loop {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if !behind.is_empty() && last_refresh.elapsed() >= Duration::from_millis(20) {
                // A partition with messages still to read is slow, not
                // idle: it keeps holding the watermark while catching up.
                let now = now_ms();
                for (t, p) in behind.keys() {
                    r.job.register(self.canonical(t), *p, now);
                }
                last_refresh = Instant::now();
            }
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(km)) => {
                    stats.broker_down_since.store(0, Ordering::Relaxed);
                    last_message = Instant::now();
                    let (topic, partition, offset) = (km.topic(), km.partition(), km.offset());
                    let value = km.payload().unwrap_or_default();
                    let timestamp = km.timestamp().to_millis();
                    let m = Message {
                        topic: self.canonical(topic),
                        partition,
                        offset,
                        timestamp: timestamp.unwrap_or(0),
                        value,
                    };
                    if timestamp.is_none() {
                        let outs = vec![Output::DeadLetter {
                            topic: m.topic.to_string(),
                            partition,
                            offset,
                            reason: "no Kafka timestamp (the event time, FRAUD-2)".into(),
                        }];
                        stats.messages.fetch_add(1, Ordering::Relaxed);
                        r.handle(outs, Some(&m))?;
                    } else {
                        r.process(&m, now_ms())?;
                    }
                    pos.insert((topic.to_string(), partition), offset + 1);
                    if let Some(end) = behind.get(&(topic.to_string(), partition)) {
                        if offset + 1 >= *end {
                            behind.remove(&(topic.to_string(), partition));
                        }
                    }
                }
                Some(Err(e)) => stats.broker_error(&e, &mut last_error_log),
                None => {}
            }
            if stats.broker_down_since.load(Ordering::Relaxed) > 0
                && last_probe.elapsed() >= Duration::from_secs(2)
            {
                // Back up without traffic? A metadata request says so.
                last_probe = Instant::now();
                if consumer
                    .fetch_metadata(None, Duration::from_secs(1))
                    .is_ok_and(|m| !m.brokers().is_empty())
                {
                    stats.broker_down_since.store(0, Ordering::Relaxed);
                    tracing::info!("Kafka reachable again");
                }
            }
            if last_tick.elapsed() >= Duration::from_millis(100) {
                r.tick(now_ms())?;
                last_tick = Instant::now();
            }
            if last_point.elapsed() >= Duration::from_secs(10) {
                r.counters_point(now_ms());
                last_point = Instant::now();
            }
            if !self.dry_run && last_checkpoint.elapsed() >= next_try {
                let result = self.checkpoint(rt, &mut r, &consumer, &outputs, &pos, seq);
                // Time spent checkpointing is not silence of the partitions.
                let now = now_ms();
                for (t, p) in &parts {
                    r.job.register(self.canonical(t), *p, now);
                }
                match result {
                    Ok(w) => {
                        archived(&mut summary, w);
                        summary.last_checkpoint = Some(seq);
                        seq += 1;
                        next_try = self.checkpoint_interval;
                    }
                    Err(e) if format!("{e:#}").contains("another process") => return Err(e),
                    Err(e) => {
                        tracing::warn!("checkpoint {seq} not written, retrying in 5 s: {e:#}");
                        next_try = Duration::from_secs(5);
                    }
                }
                last_checkpoint = Instant::now();
            }
            if let Some(idle) = self.exit_when_idle {
                // Silence only counts once everything that was on the
                // topics at start has been read (a slow broker is not idle).
                if behind.is_empty() && last_message.elapsed() >= idle {
                    tracing::info!("no message for {idle:?}: stopping");
                    break;
                }
            }
        }
        r.tick(now_ms())?;
        if !self.dry_run {
            let w = self
                .checkpoint(rt, &mut r, &consumer, &outputs, &pos, seq)
                .with_context(|| {
                    format!(
                        "final checkpoint {seq} not written; the next start resumes from checkpoint {} and loses nothing",
                        seq - 1
                    )
                })?;
            archived(&mut summary, w);
            summary.last_checkpoint = Some(seq);
        }
        r.counters_point(now_ms());
        if let Some(w) = r.influx.take() {
            w.close(rt, Duration::from_secs(10));
        }
        std::io::stdout().flush()?;
        Ok(summary)
    }
}

pub async fn run(args: &FraudRunArgs, ctx: &RunContext) -> ExitStatus {
    ctx.execute(COMMAND, args.job.name(), async { plan(args, ctx) })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_overrides_the_c4_defaults_and_rejects_typos() {
        let cfg: crate::config::Config = toml::from_str(
            r#"
            [fraud]
            high_amount_eur = 2000
            risk_countries = ["ru", "KP"]
            disabled = ["geo_mismatch"]
            card_testing = { within = "10s", above = 5 }
            cross_velocity = { within = "3m", payments_above = 4, orders_above = 3 }
            watermark_delay = "5s"
            "#,
        )
        .unwrap();
        let r = rules_from_config(&cfg.fraud).unwrap();
        assert_eq!(r.settings.high_amount_eur, 2000.0);
        assert_eq!(r.settings.risk_countries, ["RU", "KP"]);
        assert_eq!(r.lookback.card_testing, (10_000, 5));
        assert_eq!(r.cross.velocity, (180_000, 4, 3));
        assert_eq!(r.windows.watermark_delay, 5_000);
        assert!(r.disabled.contains("geo_mismatch"));
        assert_eq!(
            rules_from_config(&FraudConfig::default())
                .unwrap()
                .settings
                .high_amount_eur,
            1500.0
        );

        let bad: crate::config::Config =
            toml::from_str("[fraud]\ndisabled = [\"geo_mismatc\"]").unwrap();
        let e = rules_from_config(&bad.fraud).unwrap_err().to_string();
        assert!(
            e.contains("geo_mismatc") && e.contains("geo_mismatch"),
            "{e}"
        );
        let bad: crate::config::Config = toml::from_str("[fraud]\nbot_pattern = \"(\"").unwrap();
        assert!(rules_from_config(&bad.fraud).is_err());
    }

    #[test]
    fn blacklist_file_lines_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bins.txt");
        std::fs::write(&f, "# fraud\n412345\n\n535522 # issuer X\n").unwrap();
        let mut c = FraudConfig {
            bin_blacklist_file: Some(f.clone()),
            ..Default::default()
        };
        let r = rules_from_config(&c).unwrap();
        assert_eq!(r.settings.bin_blacklist, ["412345", "535522"]);
        std::fs::write(&f, "412345\n41-23\n").unwrap();
        let e = rules_from_config(&c).unwrap_err().to_string();
        assert!(e.contains("bins.txt:2"), "{e}");
        c.bin_blacklist_file = Some(dir.path().join("missing.txt"));
        assert!(rules_from_config(&c).is_err());
    }

    #[test]
    fn date_ranges() {
        let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        assert_eq!(
            date_range("2026-03-17"),
            Some((d("2026-03-17"), d("2026-03-17")))
        );
        assert_eq!(
            date_range("2026-03-01..2026-03-17"),
            Some((d("2026-03-01"), d("2026-03-17")))
        );
        assert_eq!(date_range("lake/bronze"), None);
    }
}
