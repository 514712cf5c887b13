//! `kvt kyc verify|serve|purge|erase` (issue 10, SPEC §3.13, CONTRACTS C1/C9):
//! the edge around `crate::kyc` — settings, the transactional table
//! `kyc_decisions`, the C1 event, retention and erasure. The HTTP service
//! is in `kyc/serve.rs`.
//!
//! Minimisation (KYC-13): the document bytes live in memory for one
//! request; names and the document number never leave `crate::kyc`; logs
//! carry the `kyc_ref`, the decision and timings, nothing read.

pub mod serve;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use serde::Serialize;
use tokio_postgres::Client;

use crate::cli::{KycArgs, KycCommand, KycEraseArgs, KycPurgeArgs, KycVerifyArgs};
use crate::kyc::decide::{self, Decision, Reason};
use crate::kyc::ocr::{self, OcrSettings};
use crate::kyc::read::{self, Unreadable};
use crate::run::{Clock, ExitStatus, Report, RunContext};
use crate::secret::Secret;
use crate::silver::pseudo::Pseudonymizer;

/// KYC-7's default threshold.
pub const DEFAULT_THRESHOLD: f64 = 0.75;
pub const DEFAULT_MAX_SIZE: u64 = 10_000_000;
pub const DEFAULT_TOPIC: &str = "kyc_decisions";
pub const DEFAULT_RETENTION: &str = "2190d";
pub const TABLE: &str = "kyc_decisions";

/// The KYC-9 response, with C1's `reason`, `customer_id` and `decided_at`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Response {
    pub kyc_ref: String,
    pub order_id: String,
    pub customer_id: Option<String>,
    pub decision: Decision,
    pub reason: Option<Reason>,
    pub confidence_score: f64,
    pub doc_type: Option<String>,
    pub doc_expiration_valid: Option<bool>,
    pub age_computed: Option<u32>,
    pub processing_time_ms: u64,
    pub decided_at: DateTime<Utc>,
    /// C1: keyed hash of issuing country + document number (event and table only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub doc_fingerprint: Option<String>,
}

/// Everything a decision needs, resolved once (flags > env > `[kyc]` > defaults).
pub struct Service {
    pub threshold: f64,
    pub max_bytes: u64,
    pub ocr: OcrSettings,
    pub clock: Clock,
    pseudo: Option<Pseudonymizer>,
    db: Option<Client>,
    producer: Option<(ThreadedProducer<Delivery>, String)>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("threshold", &self.threshold)
            .field("max_bytes", &self.max_bytes)
            .field("db", &self.db.is_some())
            .field("topic", &self.producer.as_ref().map(|p| &p.1))
            .finish_non_exhaustive()
    }
}

/// `threshold` must be a share.
fn check_threshold(t: f64) -> anyhow::Result<f64> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&t),
        "the KYC confidence threshold must be between 0 and 1, got {t}"
    );
    Ok(t)
}

impl Service {
    /// Resolves the settings and connects to the table and the broker when
    /// configured (the table is created if missing).
    pub async fn open(a: &KycArgs, ctx: &RunContext) -> anyhow::Result<Service> {
        let cfg = &ctx.config.kyc;
        let threshold =
            check_threshold(a.threshold.or(cfg.threshold).unwrap_or(DEFAULT_THRESHOLD))?;
        let max_bytes = match a.max_size.as_ref().or(cfg.max_size.as_ref()) {
            Some(s) => crate::config::parse_size(s)
                .map_err(anyhow::Error::msg)
                .context("KYC max size")?,
            None => DEFAULT_MAX_SIZE,
        };
        let ocr = OcrSettings {
            tessdata: cfg.tessdata.clone(),
            languages: cfg.languages.clone().unwrap_or_else(|| "fra+eng".into()),
        };
        let sinks = a.oltp_url.is_some() || a.brokers.is_some();
        let pseudo = if sinks {
            Some(crate::cmd::silver::pseudonymizer_from(a.dev_key)?)
        } else {
            None
        };
        let db = match &a.oltp_url {
            Some(url) => Some(open_table(url).await?),
            None => None,
        };
        let producer = match &a.brokers {
            Some(b) => {
                let mut settings = crate::cmd::ingest_kafka::kafka_settings(Some(b), ctx);
                settings.brokers = b.clone();
                let p = settings.producer_with("kvt-kyc", "2", "10000", Delivery)?;
                let topic = a
                    .topic
                    .clone()
                    .or(cfg.topic.clone())
                    .unwrap_or_else(|| DEFAULT_TOPIC.into());
                crate::kafka::check_topic(&topic)?;
                // A missing topic would only show as a delivery timeout.
                let md = p
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10))
                    .with_context(|| format!("cannot reach the Kafka brokers {b}"))?;
                let exists = md.topics().iter().any(|t| {
                    t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                });
                anyhow::ensure!(
                    exists,
                    "the topic {topic} does not exist on {b}: create it (CONTRACTS C2; `kvt-gen topics` in tests and demos)"
                );
                Some((p, topic))
            }
            None => None,
        };
        Ok(Service {
            threshold,
            max_bytes,
            ocr,
            clock: ctx.clock,
            pseudo,
            db,
            producer,
        })
    }

    /// Reads and decides one document on this thread's OCR engines.
    /// `Ok(Err)` = the file is not a readable image.
    pub fn decide(
        &self,
        bytes: &[u8],
        order_id: &str,
        customer_id: Option<&str>,
    ) -> anyhow::Result<Result<Response, Unreadable>> {
        let started = Instant::now();
        let reading = ocr::with_engines(&self.ocr, |e| read::read(e, bytes, self.max_bytes))??;
        let reading = match reading {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let now = self.clock.now();
        let today = paris_day(now);
        let outcome = decide::decide(&reading.evidence(today), self.threshold, today);
        let kyc_ref = new_kyc_ref(now);
        let doc_fingerprint = match (&self.pseudo, &reading.mrz) {
            (Some(p), Some(m)) if m.checks.all() => Some(m.fingerprint(p)),
            _ => None,
        };
        let r = Response {
            kyc_ref,
            order_id: order_id.to_string(),
            customer_id: customer_id.map(str::to_string),
            decision: outcome.decision,
            reason: outcome.reason,
            confidence_score: reading.confidence,
            doc_type: reading.doc_type().map(str::to_string),
            doc_expiration_valid: outcome.doc_expiration_valid,
            age_computed: outcome.age_computed,
            processing_time_ms: started.elapsed().as_millis() as u64,
            decided_at: now,
            doc_fingerprint,
        };
        // KYC-14: the reference, the decision and how it was reached; nothing read.
        tracing::info!(
            kyc_ref = %r.kyc_ref,
            order_id = %r.order_id,
            decision = ?r.decision,
            reason = ?r.reason,
            confidence = r.confidence_score,
            passes = ?reading.passes,
            layout = ?reading.mrz.as_ref().map(|m| m.layout),
            ms = r.processing_time_ms,
            "kyc decision"
        );
        Ok(Ok(r))
    }

    /// Persists (KYC-12) then publishes (KYC-11) a decision.
    pub async fn record(&self, r: &Response) -> anyhow::Result<()> {
        if let Some(db) = &self.db {
            insert(db, r).await?;
        }
        if let Some((p, topic)) = &self.producer {
            let body = serde_json::to_string(r)?;
            let key = r.customer_id.as_deref().unwrap_or(&r.kyc_ref);
            let (tx, rx) = tokio::sync::oneshot::channel();
            p.send(
                BaseRecord::with_opaque_to(topic, Box::new(tx))
                    .key(key)
                    .payload(&body)
                    .timestamp(r.decided_at.timestamp_millis()),
            )
            .map_err(|(e, _)| anyhow::anyhow!("publishing the decision to {topic}: {e}"))?;
            // message.timeout.ms (10 s) bounds the wait: librdkafka always reports.
            match tokio::time::timeout(Duration::from_secs(15), rx).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => anyhow::bail!("publishing the decision to {topic}: {e}"),
                _ => anyhow::bail!("publishing the decision to {topic}: no delivery report"),
            }
        }
        Ok(())
    }

    /// A decision from the table (`GET /kyc/status`).
    pub async fn status(&self, kyc_ref: &str) -> anyhow::Result<Option<Response>> {
        let Some(db) = &self.db else {
            anyhow::bail!("no transactional database configured (KVT_OLTP_URL)");
        };
        let row = db
            .query_opt(
                &format!(
                    "SELECT kyc_ref, order_id, customer_id, decision, reason, confidence_score, doc_type, \
                     doc_expiration_valid, age_computed, processing_time_ms, decided_at, doc_fingerprint \
                     FROM {TABLE} WHERE kyc_ref = $1"
                ),
                &[&kyc_ref],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let text = |s: String| serde_json::Value::String(s);
        let decision: Decision = serde_json::from_value(text(row.get(3)))?;
        let reason: Option<Reason> = row
            .get::<_, Option<String>>(4)
            .map(|s| serde_json::from_value(text(s)))
            .transpose()?;
        Ok(Some(Response {
            kyc_ref: row.get(0),
            order_id: row.get(1),
            customer_id: row.get(2),
            decision,
            reason,
            confidence_score: row.get(5),
            doc_type: row.get(6),
            doc_expiration_valid: row.get(7),
            age_computed: row.get::<_, Option<i32>>(8).map(|a| a.max(0) as u32),
            processing_time_ms: row.get::<_, i32>(9).max(0) as u64,
            decided_at: row.get(10),
            doc_fingerprint: row.get(11),
        }))
    }

    pub fn has_table(&self) -> bool {
        self.db.is_some()
    }
}

/// Delivery reports of the decision producer, to each sender.
pub struct Delivery;

impl rdkafka::ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = Box<tokio::sync::oneshot::Sender<Result<(), String>>>;
    fn delivery(&self, r: &rdkafka::message::DeliveryResult<'_>, tx: Self::DeliveryOpaque) {
        let _ = tx.send(r.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string()));
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some((p, _)) = &self.producer {
            let _ = p.flush(Duration::from_secs(5));
        }
    }
}

/// Europe/Paris date of an instant (C9).
pub fn paris_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&chrono_tz::Europe::Paris).date_naive()
}

/// `KYC-YYYYMM-` and 12 random hex digits (the generator's and silver's
/// `KYC-YYYYMM-` prefix, unique without coordination).
pub fn new_kyc_ref(now: DateTime<Utc>) -> String {
    let uuid = crate::run::new_uuid().replace('-', "");
    format!("KYC-{}-{}", now.format("%Y%m"), &uuid[..12])
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS kyc_decisions (
    kyc_ref text PRIMARY KEY,
    order_id text NOT NULL,
    customer_id text,
    decision text NOT NULL CHECK (decision IN ('majeur', 'mineur', 'en_attente')),
    reason text,
    confidence_score double precision NOT NULL,
    doc_type text,
    doc_expiration_valid boolean,
    age_computed integer,
    processing_time_ms integer NOT NULL,
    decided_at timestamptz NOT NULL,
    doc_fingerprint text
);
CREATE INDEX IF NOT EXISTS kyc_decisions_decided_at ON kyc_decisions (decided_at);
CREATE INDEX IF NOT EXISTS kyc_decisions_customer_id ON kyc_decisions (customer_id);";

/// Connects to the transactional database, refusing the warehouse, and
/// creates the table if missing.
async fn open_table(url: &Secret) -> anyhow::Result<Client> {
    let db = crate::warehouse::connect(url, "transactional").await?;
    if let Some(wh) = Secret::from_env(crate::env::WAREHOUSE_URL) {
        if let Ok(w) = crate::warehouse::connect(&wh, "analytics").await {
            let (a, b) = (
                crate::warehouse::identity(&w).await?,
                crate::warehouse::identity(&db).await?,
            );
            anyhow::ensure!(
                a != b,
                "refusing to write KYC decisions: KVT_OLTP_URL is the analytics warehouse (KVT_WAREHOUSE_URL); they belong in the transactional database (C9)"
            );
        }
    }
    // Concurrent first runs may race on CREATE: a unique violation means the other won.
    if let Err(e) = db.batch_execute(SCHEMA).await {
        let raced = e
            .as_db_error()
            .is_some_and(|d| d.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION);
        if !raced {
            return Err(e).context("creating the table kyc_decisions");
        }
    }
    Ok(db)
}

async fn insert(db: &Client, r: &Response) -> anyhow::Result<()> {
    let decision = serde_json::to_value(r.decision)?;
    let reason = r.reason.map(serde_json::to_value).transpose()?;
    db.execute(
        "INSERT INTO kyc_decisions (kyc_ref, order_id, customer_id, decision, reason, confidence_score, \
         doc_type, doc_expiration_valid, age_computed, processing_time_ms, decided_at, doc_fingerprint) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &r.kyc_ref,
            &r.order_id,
            &r.customer_id,
            &decision.as_str(),
            &reason.as_ref().and_then(|v| v.as_str()),
            &r.confidence_score,
            &r.doc_type,
            &r.doc_expiration_valid,
            &r.age_computed.map(|a| a as i32),
            &(r.processing_time_ms.min(i32::MAX as u64) as i32),
            &r.decided_at,
            &r.doc_fingerprint,
        ],
    )
    .await
    .context("writing the decision to kyc_decisions")?;
    Ok(())
}

/// Dispatch.
pub async fn run(cmd: &KycCommand, ctx: &RunContext) -> ExitStatus {
    let (name, report) = match cmd {
        KycCommand::Verify(a) => ("kyc verify", verify(a, ctx).await),
        KycCommand::Serve(a) => ("kyc serve", serve::run(a, ctx).await),
        KycCommand::Purge(a) => ("kyc purge", purge(a, ctx).await),
        KycCommand::Erase(a) => ("kyc erase", erase(a).await),
    };
    let report = report.unwrap_or_else(|e| Report::failed(&e));
    let job = crate::run::job_name(name, "");
    ctx.finish(name, "", &job, report).await
}

fn response_report(r: &Response) -> anyhow::Result<Report> {
    let mut report = Report::new(ExitStatus::Success);
    if let serde_json::Value::Object(m) = serde_json::to_value(r)? {
        for (k, v) in m {
            if k != "doc_fingerprint" {
                report.field(&k, v);
            }
        }
    }
    report.rows_out = 1;
    Ok(report)
}

async fn verify(a: &KycVerifyArgs, ctx: &RunContext) -> anyhow::Result<Report> {
    let service = Service::open(&a.kyc, ctx).await?;
    // Size first, from the metadata: an oversize file is never read.
    let meta =
        std::fs::metadata(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    anyhow::ensure!(meta.is_file(), "{} is not a regular file", a.file.display());
    if meta.len() > service.max_bytes {
        anyhow::bail!(
            "{}: {}",
            a.file.display(),
            crate::kyc::input::Refused::TooLarge {
                size: meta.len(),
                limit: service.max_bytes
            }
        );
    }
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let order = a.order_id.clone();
    let customer = a.customer_id.clone();
    let service = Arc::new(service);
    let s = Arc::clone(&service);
    let decided =
        tokio::task::spawn_blocking(move || s.decide(&bytes, &order, customer.as_deref()))
            .await
            .context("the OCR worker stopped")??;
    let r = decided.map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
    let mut report = response_report(&r)?;
    if let Err(e) = service.record(&r).await {
        // The decision is printed (a support agent sees it) but the run failed.
        let mut failed = Report::failed(&e);
        failed.fields = std::mem::take(&mut report.fields);
        return Ok(failed);
    }
    report.bytes = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    Ok(report)
}

fn oltp(url: &Option<Secret>) -> anyhow::Result<&Secret> {
    url.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "no transactional database: set {} (the database holding kyc_decisions)",
            crate::env::OLTP_URL
        )
    })
}

async fn purge(a: &KycPurgeArgs, ctx: &RunContext) -> anyhow::Result<Report> {
    let text = a
        .older_than
        .clone()
        .or(ctx.config.kyc.retention.clone())
        .unwrap_or_else(|| DEFAULT_RETENTION.into());
    let keep = crate::config::parse_duration(&text)
        .map_err(anyhow::Error::msg)
        .context("--older-than")?;
    let cutoff =
        ctx.clock.now() - chrono::Duration::from_std(keep).context("--older-than is too long")?;
    let db = open_table(oltp(&a.oltp_url)?).await?;
    let n = db
        .execute(
            "DELETE FROM kyc_decisions WHERE decided_at < $1",
            &[&cutoff],
        )
        .await
        .context("purging kyc_decisions")?;
    tracing::info!(deleted = n, cutoff = %cutoff, "kyc purge");
    let mut r = Report::new(ExitStatus::Success);
    r.field("deleted", n).field("cutoff", cutoff.to_rfc3339());
    Ok(r)
}

async fn erase(a: &KycEraseArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(!a.customer_id.trim().is_empty(), "--customer-id is empty");
    let db = open_table(oltp(&a.oltp_url)?).await?;
    let n = db
        .execute(
            "DELETE FROM kyc_decisions WHERE customer_id = $1",
            &[&a.customer_id],
        )
        .await
        .context("erasing from kyc_decisions")?;
    let mut r = Report::new(ExitStatus::Success);
    r.field("deleted", n);
    Ok(r)
}
