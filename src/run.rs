//! The run contract every command shares: run id, clock, settings resolved
//! once, the lock, lineage, metrics, the summary line and the exit code.
//!
//! A command implements [`Step`] (its name, its lock, its datasets, `run`)
//! and [`RunContext::execute`] does the rest, in this order: plan the step
//! (usage errors are exit 2), emit the OpenLineage START event, take the run
//! lock, run, release the lock, then [`RunContext::finish`]: the COMPLETE/FAIL
//! event, the Prometheus textfile and the one-line JSON summary as the last
//! line of stdout.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::lineage::{self, Dataset, EventType, Sink};
use crate::lock::RunLock;
use crate::metrics::{self, RunMetrics};
use crate::secret::Secret;
use crate::store::Store;

/// How a run ended, and the process exit code that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success.
    Success,
    /// 1: the command ran fine but the data said no (quality gate, reject rate).
    Rejected,
    /// 2: error (usage, I/O, service down).
    Error,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Rejected => 1,
            ExitStatus::Error => 2,
        }
    }

    /// The `status` field of the summary line.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitStatus::Success => "ok",
            ExitStatus::Rejected => "rejected",
            ExitStatus::Error => "error",
        }
    }
}

/// Run locks older than this are stale unless configured otherwise.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(6 * 3600);

/// The clock of a run: the system clock, or a fixed instant (`KVT_NOW`).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    fixed: Option<DateTime<Utc>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { fixed: None }
    }

    pub fn fixed(t: DateTime<Utc>) -> Clock {
        Clock { fixed: Some(t) }
    }

    pub fn parse(s: &str) -> anyhow::Result<Clock> {
        let t = DateTime::parse_from_rfc3339(s.trim()).with_context(|| {
            format!("invalid KVT_NOW/--now `{s}` (expected RFC 3339, e.g. 2026-03-17T06:00:00Z)")
        })?;
        Ok(Clock::fixed(t.with_timezone(&Utc)))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.fixed.unwrap_or_else(Utc::now)
    }

    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }
}

/// A part of a run with its own lineage (a gold table, a warehouse table):
/// emitted as a child run (job `<job>.<name>`, with a parent facet) so that
/// the lineage graph says which inputs each output really came from.
#[derive(Debug, Clone)]
pub struct ChildRun {
    pub name: String,
    pub inputs: Vec<Dataset>,
    pub outputs: Vec<Dataset>,
}

/// What a command did: the status, its own summary fields, the datasets it
/// read and wrote, and the counters for metrics.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: ExitStatus,
    pub error: Option<String>,
    /// Command-specific summary fields, in display order.
    pub fields: Map<String, Value>,
    pub inputs: Vec<Dataset>,
    pub outputs: Vec<Dataset>,
    /// Per-output child runs for lineage (empty for most commands).
    pub children: Vec<ChildRun>,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    pub files: u64,
    pub bytes: u64,
}

impl Report {
    pub fn new(status: ExitStatus) -> Report {
        Report {
            status,
            error: None,
            fields: Map::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            children: Vec::new(),
            rows_in: 0,
            rows_out: 0,
            rows_rejected: 0,
            files: 0,
            bytes: 0,
        }
    }

    /// A report for a run that failed before doing anything.
    pub fn failed(err: &anyhow::Error) -> Report {
        let mut r = Report::new(ExitStatus::Error);
        r.error = Some(error_chain(err));
        r
    }

    pub fn field(&mut self, key: &str, value: impl Into<Value>) -> &mut Report {
        self.fields.insert(key.to_string(), value.into());
        self
    }
}

/// What a command implements to get the run contract (see the module doc).
pub trait Step {
    /// The command words of the summary line (`silver nginx`).
    fn command(&self) -> &str;
    /// What it works on (a source, a consumer group): the lock and metrics name.
    fn name(&self) -> &str;
    /// The OpenLineage job (`silver.nginx`).
    fn job(&self) -> String {
        job_name(self.command(), self.name())
    }
    /// The store holding the run lock; `None` runs without a lock (dry runs).
    fn lock_store(&self) -> Option<&Store>;
    /// The locks the run takes under its command (`_locks/<command>/<name>.lock`):
    /// by default one, its name; a partitioned step takes one per partition
    /// it writes, so that runs on other partitions proceed in parallel.
    fn lock_names(&self) -> Vec<String> {
        vec![self.name().to_string()]
    }
    /// Datasets read and written, for the START event (the report may refine them).
    fn datasets(&self) -> (Vec<Dataset>, Vec<Dataset>);
    /// Each output is attributed to a child run (`Report::children`: a gold
    /// or warehouse table and exactly what it read), so the command's own
    /// events list what it reads and no outputs: a lineage graph then never
    /// links every input to every output.
    fn outputs_by_child(&self) -> bool {
        false
    }
    /// Do the work. An `Err` is exit 2 with its message in the summary.
    fn run(
        &mut self,
        ctx: &RunContext,
    ) -> impl std::future::Future<Output = anyhow::Result<Report>>;
}

/// `silver nginx` + `nginx` → `silver.nginx`.
pub fn job_name(command: &str, name: &str) -> String {
    let cmd = command.replace(' ', "_");
    if name.is_empty() {
        cmd
    } else {
        format!("{cmd}.{name}")
    }
}

/// Everything a command needs from its environment.
#[derive(Debug)]
pub struct RunContext {
    /// The run id (a UUID unless the scheduler passed its own).
    pub run_id: String,
    pub clock: Clock,
    pub config: Config,
    pub store_url: String,
    /// Draw progress bars (stderr is a terminal and not --quiet).
    pub progress: bool,
    /// A run lock older than this is stale (`KVT_LOCK_TTL`, `lock_ttl`; 6 h).
    pub lock_ttl: Duration,
    lineage: Sink,
    lineage_namespace: String,
    metrics_dir: Option<PathBuf>,
    started: Instant,
    started_at: DateTime<Utc>,
}

impl RunContext {
    /// Resolve flags, environment and configuration into a context.
    pub fn new(global: &GlobalArgs, config: Config) -> anyhow::Result<RunContext> {
        let clock = match &global.now {
            Some(s) => Clock::parse(s)?,
            None => Clock::system(),
        };
        let run_id = global.run_id.clone().unwrap_or_else(new_uuid);
        let store_url = global
            .store
            .clone()
            .or_else(|| config.store.clone())
            .unwrap_or_else(|| "file://./lake".to_string());
        let lineage_url = global
            .openlineage_url
            .clone()
            .or_else(|| config.lineage.url.clone());
        let lineage = Sink::from_url(
            lineage_url.as_deref(),
            Secret::from_env(crate::env::OPENLINEAGE_API_KEY),
        )
        .map_err(anyhow::Error::msg)?;
        let lineage_namespace = crate::env::get(crate::env::OPENLINEAGE_NAMESPACE)
            .or_else(|| config.lineage.namespace.clone())
            .unwrap_or_else(|| "kvt".to_string());
        let metrics_dir = global
            .metrics_dir
            .clone()
            .or_else(|| config.metrics.dir.clone());
        let progress = !global.quiet && std::io::stderr().is_terminal();
        let lock_ttl = match crate::env::get(crate::env::LOCK_TTL)
            .or_else(|| config.lock_ttl.clone())
            .or_else(|| config.ingest.lock_ttl.clone())
        {
            Some(s) => crate::config::parse_duration(&s)
                .map_err(anyhow::Error::msg)
                .context(crate::env::LOCK_TTL)?,
            None => DEFAULT_LOCK_TTL,
        };
        Ok(RunContext {
            run_id,
            started_at: clock.now(),
            clock,
            config,
            store_url,
            progress,
            lock_ttl,
            lineage,
            lineage_namespace,
            metrics_dir,
            started: Instant::now(),
        })
    }

    /// A context without lineage or metrics, on a memory store: for tests, and
    /// to report a run that failed before its configuration could be read.
    pub fn bare(config: Config, now: DateTime<Utc>) -> RunContext {
        RunContext {
            run_id: new_uuid(),
            clock: Clock::fixed(now),
            config,
            store_url: "memory://".into(),
            progress: false,
            lock_ttl: DEFAULT_LOCK_TTL,
            lineage: Sink::None,
            lineage_namespace: "kvt".into(),
            metrics_dir: None,
            started: Instant::now(),
            started_at: now,
        }
    }

    /// Open the lake.
    pub fn open_store(&self) -> anyhow::Result<Store> {
        Store::open(&self.store_url)
    }

    /// Run a step under the run contract: `plan` resolves it (an error is
    /// exit 2 before anything starts), then START, lock, run, unlock, finish.
    pub async fn execute<S: Step>(
        &self,
        command: &str,
        name: &str,
        plan: impl std::future::Future<Output = anyhow::Result<S>>,
    ) -> ExitStatus {
        let mut step = match plan.await {
            Ok(s) => s,
            Err(e) => {
                let job = job_name(command, name);
                return self.finish(command, name, &job, Report::failed(&e)).await;
            }
        };
        let (command, name, job) = (
            step.command().to_string(),
            step.name().to_string(),
            step.job(),
        );
        let (inputs, mut outputs) = step.datasets();
        if step.outputs_by_child() {
            outputs.clear();
        }
        self.start(&job, &inputs, &outputs).await;
        let mut locks = Vec::new();
        if let Some(store) = step.lock_store() {
            let mut names = step.lock_names();
            names.sort();
            names.dedup();
            for lock_name in names {
                match RunLock::acquire(
                    store,
                    &command,
                    &lock_name,
                    &self.run_id,
                    self.clock.now(),
                    self.lock_ttl,
                )
                .await
                {
                    Ok(l) => locks.push(l),
                    Err(e) => {
                        for l in locks {
                            l.release().await;
                        }
                        let mut r = Report::failed(&anyhow::Error::from(e));
                        (r.inputs, r.outputs) = (inputs, outputs);
                        return self.finish(&command, &name, &job, r).await;
                    }
                }
            }
        }
        let mut report = step.run(self).await.unwrap_or_else(|e| Report::failed(&e));
        for l in locks {
            l.release().await;
        }
        if report.inputs.is_empty() {
            report.inputs = inputs;
        }
        if report.outputs.is_empty() || step.outputs_by_child() {
            report.outputs = outputs;
        }
        self.finish(&command, &name, &job, report).await
    }

    /// The run id as a UUID, as OpenLineage requires (derived when the
    /// scheduler passed a non-UUID id).
    pub fn lineage_run_id(&self) -> String {
        if is_uuid(&self.run_id) {
            self.run_id.clone()
        } else {
            uuid_from_hash(self.run_id.as_bytes())
        }
    }

    /// Emit the START lineage event.
    pub async fn start(&self, job: &str, inputs: &[Dataset], outputs: &[Dataset]) {
        tracing::info!(run_id = %self.run_id, job, "run started");
        let ev = lineage::run_event(
            EventType::Start,
            self.started_at,
            &self.lineage_run_id(),
            &self.lineage_namespace,
            job,
            inputs,
            outputs,
            None,
        );
        self.lineage.emit(&ev).await;
    }

    /// End the run: lineage COMPLETE/FAIL, metrics, and the summary line on stdout.
    /// Returns the exit status to use.
    pub async fn finish(&self, command: &str, name: &str, job: &str, report: Report) -> ExitStatus {
        let duration = self.started.elapsed();
        let ended = self.clock.now().max(self.started_at);
        let event = if report.status == ExitStatus::Error {
            EventType::Fail
        } else {
            EventType::Complete
        };
        let ev = lineage::run_event(
            event,
            ended,
            &self.lineage_run_id(),
            &self.lineage_namespace,
            job,
            &report.inputs,
            &report.outputs,
            report.error.as_deref(),
        );
        self.lineage.emit(&ev).await;
        if report.status != ExitStatus::Error {
            for child in &report.children {
                let child_job = format!("{job}.{}", child.name);
                let run_id =
                    uuid_from_hash(format!("{}/{child_job}", self.lineage_run_id()).as_bytes());
                for event in [EventType::Start, EventType::Complete] {
                    let mut ev = lineage::run_event(
                        event,
                        ended,
                        &run_id,
                        &self.lineage_namespace,
                        &child_job,
                        &child.inputs,
                        &child.outputs,
                        None,
                    );
                    lineage::with_parent(
                        &mut ev,
                        &self.lineage_run_id(),
                        &self.lineage_namespace,
                        job,
                    );
                    self.lineage.emit(&ev).await;
                }
            }
        }
        let dry_run = report.fields.get("dry_run").and_then(Value::as_bool) == Some(true);
        if crate::history::keeps_history(command) && !dry_run {
            self.record(command, name, job, &report, duration, ended)
                .await;
        }

        if let Some(dir) = &self.metrics_dir {
            let m = RunMetrics {
                command: command.to_string(),
                name: name.to_string(),
                // Exit 1 (the data said no) is not a success either.
                success: report.status == ExitStatus::Success,
                exit_code: report.status.code(),
                rows_in: report.rows_in,
                rows_out: report.rows_out,
                rows_rejected: report.rows_rejected,
                files: report.files,
                bytes: report.bytes,
                duration_secs: duration.as_secs_f64(),
                finished_at: Utc::now().timestamp(),
                fields: report.fields.clone(),
            };
            if let Err(e) = metrics::write(dir, &m) {
                tracing::warn!(dir = %dir.display(), error = %e, "could not write metrics textfile");
            }
        }

        let line = summary_line(command, &self.run_id, &report, duration);
        match &report.error {
            Some(e) => tracing::error!(run_id = %self.run_id, "{command} failed: {e}"),
            None => {
                tracing::info!(run_id = %self.run_id, status = report.status.as_str(), "{command} finished")
            }
        }
        print_line(&line);
        report.status
    }

    /// Keep the run in the lake's history (`kvt status`). Never fails the run.
    async fn record(
        &self,
        command: &str,
        name: &str,
        job: &str,
        report: &Report,
        duration: Duration,
        ended: DateTime<Utc>,
    ) {
        let rec = crate::history::RunRecord {
            job: job.to_string(),
            command: command.to_string(),
            name: name.to_string(),
            run_id: self.run_id.clone(),
            status: report.status.as_str().to_string(),
            exit_code: report.status.code(),
            started_at: self.started_at,
            ended_at: ended,
            duration_ms: duration.as_millis() as u64,
            host: crate::lock::hostname(),
            error: report.error.clone(),
            summary: report.fields.clone(),
        };
        let result = match self.open_store() {
            Ok(store) => crate::history::write(&store, &rec).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %error_chain(&e), "could not record the run in the lake's history");
        }
    }

    /// A progress bar on stderr, hidden unless stderr is a terminal.
    pub fn progress_bar(&self, len: u64, message: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_message(message.to_string());
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }
}

/// An error and its causes on one line, each cause once: object_store and
/// HTTP client errors print their source inside their own message *and*
/// expose it as `source()`, so `{:#}` repeats the same text two or three times.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || out.contains(text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(text);
    }
    out
}

/// The one-line JSON summary: command, status, run id, the command's fields,
/// duration and error.
pub fn summary_line(command: &str, run_id: &str, report: &Report, duration: Duration) -> String {
    let mut m = Map::new();
    m.insert("command".into(), command.into());
    m.insert("status".into(), report.status.as_str().into());
    m.insert("run_id".into(), run_id.into());
    for (k, v) in &report.fields {
        m.insert(k.clone(), v.clone());
    }
    m.insert("duration_ms".into(), (duration.as_millis() as u64).into());
    if let Some(e) = &report.error {
        m.insert("error".into(), e.clone().into());
    }
    Value::Object(m).to_string()
}

/// Print one line on stdout; a closed pipe is not an error.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// A random UUID v4 (from the OS random source).
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        let seed = format!(
            "{:?}{}{:?}",
            std::time::SystemTime::now(),
            std::process::id(),
            Instant::now()
        );
        b.copy_from_slice(&Sha256::digest(seed.as_bytes())[..16]);
    }
    format_uuid(b)
}

/// A UUID derived from bytes (stable: same input, same UUID).
pub fn uuid_from_hash(data: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&Sha256::digest(data)[..16]);
    format_uuid(b)
}

fn format_uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// RFC 3339 UTC with milliseconds, the timestamp format of kvt's outputs.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        let u = new_uuid();
        assert!(is_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert_ne!(new_uuid(), u);
        assert_eq!(uuid_from_hash(b"x"), uuid_from_hash(b"x"));
        assert!(is_uuid(&uuid_from_hash(b"scheduled__2026-03-17")));
    }

    #[test]
    fn summary_is_one_line_with_fixed_leading_fields() {
        let mut r = Report::new(ExitStatus::Error);
        r.field("source", "crm").field("files_new", 2);
        r.error = Some("boom\nsecond line".into());
        let line = summary_line("ingest drive", "rid", &r, Duration::from_millis(1500));
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["status"], "error");
        assert_eq!(v["files_new"], 2);
        assert_eq!(v["duration_ms"], 1500);
        assert!(line.starts_with(
            r#"{"command":"ingest drive","status":"error","run_id":"rid","source":"crm""#
        ));
    }

    /// Regression (issue 7): the same S3 error appeared three times in one message.
    #[test]
    fn error_causes_are_printed_once() {
        #[derive(Debug)]
        struct Inner;
        impl std::fmt::Display for Inner {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "connection refused")
            }
        }
        impl std::error::Error for Inner {}
        #[derive(Debug)]
        struct Outer(Inner);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "Generic S3 error: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = anyhow::Error::new(Outer(Inner)).context("reading bronze/x in s3://lake");
        assert_eq!(
            error_chain(&e),
            "reading bronze/x in s3://lake: Generic S3 error: connection refused"
        );
        assert_eq!(format!("{e:#}").matches("connection refused").count(), 2);
    }

    #[test]
    fn clock() {
        let c = Clock::parse("2026-03-17T06:00:00+01:00").unwrap();
        assert_eq!(ts(c.now()), "2026-03-17T05:00:00.000Z");
        assert!(Clock::parse("yesterday").is_err());
    }
}
