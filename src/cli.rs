//! Command-line interface: clap derive types. Doc comments are the help text.
//!
//! Every flag has a `KVT_*` environment twin (declared in [`crate::env`]).
//! Values left unset here fall back to `kvt.toml`, then to built-in defaults
//! (see [`crate::config`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

const ABOUT: &str = "KiVendTout data platform: medallion lake, warehouse, fraud detection, KYC";

const LONG_ABOUT: &str = "\
kvt runs the KiVendTout data platform as composable commands. Each command does one \
medallion step and is chained by an external scheduler (cron, Airflow BashOperator).

Contract for schedulers:
  stdout   data only; batch commands end with ONE line of JSON, the run summary
  stderr   logs (-v, RUST_LOG, --log-format json) and progress bars (TTY only)
  exit     0 success, 1 ran fine but the data said no, 2 error (usage, I/O, service down)

Configuration: flag > KVT_* environment > kvt.toml > default. A .env file in the \
working directory is loaded first (secrets belong there, never in kvt.toml).";

#[derive(Debug, Parser)]
#[command(name = "kvt", version, about = ABOUT, long_about = LONG_ABOUT, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./kvt.toml if it exists, else built-in defaults]
    #[arg(long, global = true, env = env::CONFIG, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Object store of the lake: file://DIR, s3://bucket/prefix or memory:// [default: file://./lake]
    #[arg(long, global = true, env = env::STORE, value_name = "URL")]
    pub store: Option<String>,

    /// More logs on stderr (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors on stderr, no progress bars
    #[arg(short, long, global = true, env = env::QUIET)]
    pub quiet: bool,

    /// Log format on stderr
    #[arg(long, global = true, env = env::LOG_FORMAT, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Fixed "now" (RFC 3339) used as the run's clock, for reproducible runs
    #[arg(long, global = true, env = env::NOW, value_name = "TIME")]
    pub now: Option<String>,

    /// Run id (default: a fresh UUID); pass the scheduler's run id to correlate
    #[arg(long, global = true, env = env::RUN_ID, value_name = "ID")]
    pub run_id: Option<String>,

    /// OpenLineage destination: http(s)://… (POST) or file:///path.jsonl
    #[arg(long, global = true, env = env::OPENLINEAGE_URL, value_name = "URL")]
    pub openlineage_url: Option<String>,

    /// Directory for Prometheus textfile metrics of batch runs
    #[arg(long, global = true, env = env::METRICS_DIR, value_name = "DIR")]
    pub metrics_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Land raw source data in bronze, byte for byte
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Clean one source from bronze into typed, pseudonymised Parquet (silver)
    #[command(subcommand, after_long_help = SILVER_EXAMPLES)]
    Silver(SilverCommand),
    /// Build the star schema and the aggregate tables from silver (gold)
    #[command(after_long_help = GOLD_EXAMPLES)]
    Gold(GoldArgs),
    /// Load every gold table into the analytics PostgreSQL, all tables switched in one transaction
    #[command(after_long_help = LOAD_EXAMPLES)]
    Load(LoadArgs),
    /// Run the quality checks on the warehouse; exit 1 below the pass-rate threshold
    #[command(after_long_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Streaming fraud detection over Kafka, or a backtest over bronze
    #[command(subcommand)]
    Fraud(FraudCommand),
    /// Age verification from an identity document (OCR of the MRZ), as a command or a service
    #[command(subcommand)]
    Kyc(KycCommand),
    /// What ran when, with what result, which step is late, who holds a lock
    #[command(after_long_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Print shell completions to stdout (bash, zsh, fish, elvish, powershell)
    #[command(after_long_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print the man page kvt(1) (roff) to stdout
    Man,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Print one JSON document instead of the table
    #[arg(long, env = env::STATUS_JSON)]
    pub json: bool,
    /// Days of run history to read (the weekly CRM export needs 8)
    #[arg(long, env = env::STATUS_DAYS, value_name = "N", default_value_t = 8)]
    pub days: u32,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const STATUS_EXAMPLES: &str = "\
Examples:
  kvt status                         # the table: step, state, schedule, due, last run, result
  kvt status --json | jq '.steps[] | select(.state != \"ok\")'
  kvt status -q || mail -s 'kvt needs attention' data-team@example.com < /dev/null

States: ok (ran since it was due, exit 0), failed (exit 1 or 2; the error is shown),
running (a run holds its lock: pid, host, since), pending (due, within [schedule] grace,
1h by default), late (due and not run), unscheduled (no schedule). Schedules: the
[sources.X] schedule of each drive source (silver follows its ingestion) and [schedule]
kafka / gold / load / check (cron, UTC). The history is the lake's _runs/ prefix.

Exit 0 nothing needs attention, 1 a step is late or failed or a lock is stale,
2 the lake or the configuration cannot be read. Runbook: docs/operations.md.";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  kvt completions bash > /etc/bash_completion.d/kvt
  kvt completions zsh > \"${fpath[1]}/_kvt\"
  kvt completions fish > ~/.config/fish/completions/kvt.fish

`make install` installs the bash, zsh and fish completions and the man page.";

#[derive(Debug, Subcommand)]
pub enum KycCommand {
    /// Decide majeur / mineur / en_attente from one document image; prints the decision as JSON
    #[command(after_long_help = KYC_VERIFY_EXAMPLES)]
    Verify(KycVerifyArgs),
    /// HTTP service: POST /kyc/verify, GET /kyc/status/{kyc_ref}, /openapi.json, /health, /metrics
    #[command(after_long_help = KYC_SERVE_EXAMPLES)]
    Serve(KycServeArgs),
    /// Delete decisions older than the retention period from the transactional table (KYC-15)
    #[command(after_long_help = KYC_PURGE_EXAMPLES)]
    Purge(KycPurgeArgs),
    /// Delete every decision of one customer (right to erasure, KYC-15)
    #[command(after_long_help = KYC_PURGE_EXAMPLES)]
    Erase(KycEraseArgs),
}

const KYC_VERIFY_EXAMPLES: &str = "\
Examples:
  # A support agent checks one upload (nothing stored, nothing published)
  kvt kyc verify scan.jpg --order-id CMD-2026-001234

  # Production: the decision also goes to the transactional table and the topic
  KVT_OLTP_URL=postgres://kyc@shop-db/shop KVT_KAFKA_BROKERS=kafka:9092 \\
    kvt kyc verify scan.pdf --order-id CMD-2026-001234 --customer-id C-88123

  kvt kyc verify scan.png --order-id X | jq -r '.decision + \" \" + (.reason // \"\")'

Output: one JSON line, the KYC-9 response (kyc_ref, order_id, decision, reason,
confidence_score, doc_type, doc_expiration_valid, age_computed, processing_time_ms) plus the
run fields. Exit 0 for any decision (majeur, mineur, en_attente), 2 when the file is not a
readable image (empty, truncated, too large, not JPEG/PNG/TIFF/WebP/PDF) or a dependency
failed. The image, names and document number are never written anywhere. Pipeline, decision
table and privacy guarantees: docs/kyc.md.";

const KYC_SERVE_EXAMPLES: &str = "\
Examples:
  kvt kyc serve --listen 127.0.0.1:8080 --workers 2
  curl -F image=@scan.jpg -F order_id=CMD-1 -F customer_id=C-1 http://127.0.0.1:8080/kyc/verify
  curl http://127.0.0.1:8080/kyc/status/KYC-202612-5f0c2a9e71d3

A full queue answers 503 with Retry-After; an upload over the size limit 413; a file that is
not a readable image 422. SIGTERM stops accepting, finishes the requests in flight, exits 0.";

const KYC_PURGE_EXAMPLES: &str = "\
Examples:
  # Daily from cron: keep decisions 6 years (the limitation period; docs/kyc.md)
  kvt kyc purge --older-than 2190d
  kvt kyc erase --customer-id C-88123

Both need KVT_OLTP_URL (the transactional database). The kyc_decisions topic forgets by its
own retention (7 days, CONTRACTS C2).";

/// Settings shared by `kvt kyc verify` and `kvt kyc serve`.
#[derive(Debug, Clone, Args)]
pub struct KycArgs {
    /// Confidence below which a file goes to human review [default: [kyc] threshold, else 0.75]
    #[arg(long, env = env::KYC_THRESHOLD, value_name = "0..1")]
    pub threshold: Option<f64>,

    /// Largest accepted document, e.g. 10MB [default: [kyc] max_size, else 10MB]
    #[arg(long, env = env::KYC_MAX_SIZE, value_name = "SIZE")]
    pub max_size: Option<String>,

    /// Transactional PostgreSQL: decisions go to its table kyc_decisions (never the warehouse)
    #[arg(long, env = env::OLTP_URL, value_name = "URL", hide_env_values = true)]
    pub oltp_url: Option<crate::secret::Secret>,

    /// Kafka bootstrap servers: decisions are published to the kyc_decisions topic
    #[arg(long, env = env::KAFKA_BROKERS, value_name = "HOSTS")]
    pub brokers: Option<String>,

    /// Topic of the decisions [default: [kyc] topic, else kyc_decisions]
    #[arg(long, env = env::KYC_TOPIC, value_name = "TOPIC")]
    pub topic: Option<String>,

    /// Fingerprint documents with the public development key (demos and tests only)
    #[arg(long)]
    pub dev_key: bool,
}

#[derive(Debug, Clone, Args)]
pub struct KycVerifyArgs {
    /// The document: JPEG, PNG, TIFF, WebP or PDF (its first embedded image)
    pub file: PathBuf,

    /// The order the document belongs to
    #[arg(long, value_name = "ID")]
    pub order_id: String,

    /// The customer (C1's message key; kept with the decision)
    #[arg(long, value_name = "ID")]
    pub customer_id: Option<String>,

    #[command(flatten)]
    pub kyc: KycArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KycServeArgs {
    /// Address to listen on [default: [kyc] listen, else 127.0.0.1:8080]
    #[arg(long, env = env::KYC_LISTEN, value_name = "ADDR")]
    pub listen: Option<String>,

    /// OCR worker threads [default: [kyc] workers, else the number of cores]
    #[arg(long, env = env::KYC_WORKERS, value_name = "N")]
    pub workers: Option<usize>,

    /// Requests waiting for a worker before 503 [default: [kyc] queue, else 4 per worker]
    #[arg(long, env = env::KYC_QUEUE, value_name = "N")]
    pub queue: Option<usize>,

    /// Per-request time limit, e.g. 10s [default: [kyc] timeout, else 10s]
    #[arg(long, env = env::KYC_TIMEOUT, value_name = "DURATION")]
    pub timeout: Option<String>,

    #[command(flatten)]
    pub kyc: KycArgs,
}

#[derive(Debug, Clone, Args)]
pub struct KycPurgeArgs {
    /// Delete decisions older than this, e.g. 2190d [default: [kyc] retention, else 2190d]
    #[arg(long, env = env::KYC_RETENTION, value_name = "DURATION")]
    pub older_than: Option<String>,

    /// Transactional PostgreSQL
    #[arg(long, env = env::OLTP_URL, value_name = "URL", hide_env_values = true)]
    pub oltp_url: Option<crate::secret::Secret>,
}

#[derive(Debug, Clone, Args)]
pub struct KycEraseArgs {
    /// The customer whose decisions are deleted
    #[arg(long, value_name = "ID")]
    pub customer_id: String,

    /// Transactional PostgreSQL
    #[arg(long, env = env::OLTP_URL, value_name = "URL", hide_env_values = true)]
    pub oltp_url: Option<crate::secret::Secret>,
}

#[derive(Debug, Subcommand)]
pub enum FraudCommand {
    /// Run one job until SIGTERM/SIGINT (live, with checkpoints), or over bronze (--input)
    #[command(after_long_help = FRAUD_EXAMPLES)]
    Run(FraudRunArgs),
}

const FRAUD_EXAMPLES: &str = "\
Examples:
  # One job per process, under systemd or Kubernetes; SIGTERM = checkpoint, commit, exit 0
  kvt fraud run payments --metrics-listen 127.0.0.1:9464

  # Re-read everything still on the topics, with empty state (the checkpoint is ignored)
  kvt fraud run advanced --from-beginning

  # Backtest a rule change over bronze: the alerts it would have raised, nothing sent to Kafka
  kvt fraud run orders --input 2026-03-01..2026-03-17
  kvt fraud run crossed --input 2026-03-17 --dry-run | jq -r .type | sort | uniq -c

Jobs and topics (CONTRACTS C2): payments, advanced <- payments; orders <- orders;
crossed <- payments + orders; kyc <- kyc_decisions. Alerts go to the job's alert topic and
to the store (alerts/<topic>/event_date=…/), malformed messages to kvt_dead_letters. A
restart resumes from the last checkpoint (fraud/<job>/checkpoints/) without losing or
repeating an alert. With KVT_INFLUX_URL set, alerts and window figures also go to InfluxDB.
Several machines: start the same command with --scale-out on each (same brokers, group and
store); the group splits the work. Every rule, its [fraud] setting and an example alert:
docs/fraud.md.";

#[derive(Debug, Clone, Args)]
pub struct FraudRunArgs {
    /// The job
    #[arg(value_enum)]
    pub job: crate::fraud::runner::JobKind,

    /// Bootstrap servers [default: [kafka] brokers, else 127.0.0.1:9092]
    #[arg(long, env = env::KAFKA_BROKERS, value_name = "HOST:PORT[,…]")]
    pub brokers: Option<String>,

    /// Prefix of every topic read and written (`staging-` → staging-payments, staging-alerts_orders…)
    #[arg(long, env = env::FRAUD_TOPIC_PREFIX, value_name = "PREFIX", default_value = "")]
    pub topic_prefix: String,

    /// Consumer group the offsets are committed to [default: kvt-fraud-<job>]
    #[arg(long, env = env::FRAUD_GROUP, value_name = "GROUP")]
    pub group: Option<String>,

    /// Start at the oldest retained offsets with empty state, ignoring the checkpoint
    #[arg(long, conflicts_with = "from")]
    pub from_beginning: bool,

    /// Start at the first offsets at or after TIME (RFC 3339) with empty state
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Backtest over bronze instead of Kafka: DATE, DATE..DATE (event dates), or a local file or directory of bronze JSONL
    #[arg(long, value_name = "SOURCE", conflicts_with_all = ["from", "from_beginning"])]
    pub input: Option<String>,

    /// Alerts to stdout only: nothing sent to Kafka, no checkpoint, no archive
    #[arg(long, env = env::DRY_RUN)]
    pub dry_run: bool,

    /// Checkpoint interval [default: [fraud] checkpoint_interval, else 60s]
    #[arg(long, env = env::FRAUD_CHECKPOINT_INTERVAL, value_name = "DURATION")]
    pub checkpoint_interval: Option<String>,

    /// Stop (after a final checkpoint) once caught up with the topics' ends at start and no message arrived for DURATION
    #[arg(long, env = env::FRAUD_EXIT_WHEN_IDLE, value_name = "DURATION")]
    pub exit_when_idle: Option<String>,

    /// Serve /metrics (Prometheus) and /health on ADDR [default: [fraud] metrics_listen, else none]
    #[arg(long, env = env::FRAUD_METRICS_LISTEN, value_name = "ADDR")]
    pub metrics_listen: Option<String>,

    /// Run as one of several processes of the job: the consumer group splits the partitions, keyed rules read internal topics kvt_<job>_by_<key> (docs/fraud.md, "Scaling out")
    #[arg(long, env = env::FRAUD_SCALE_OUT, conflicts_with_all = ["input", "dry_run"])]
    pub scale_out: bool,
}

const LOAD_EXAMPLES: &str = "\
Examples:
  # Every morning, after `kvt gold` (the URL may hold a password: environment or .env only)
  KVT_WAREHOUSE_URL=postgres://kvt@analytics:5432/warehouse \\
  KVT_OLTP_URL=postgres://kvt@shop-db:5432/shop kvt load

  # Another schema, four tables at a time
  kvt load --schema kvt_test --parallel 4

kvt refuses to load when KVT_WAREHOUSE_URL and KVT_OLTP_URL are the same database
(same cluster system identifier and name), whatever the URLs. Each table is copied into a
staging table, then one transaction switches them all: dashboards never see a half-loaded
table, and a failed load leaves yesterday's. NUL characters are removed and strings such as
NULL or N/A become SQL NULL (counted). Schema and comments: docs/warehouse.md.";

const CHECK_EXAMPLES: &str = "\
Examples:
  # Every morning, after `kvt load`: exit 1 when fewer than 80 % of the checks pass
  kvt check

  # The full report as JSON on stdout (before the summary line), a stricter gate
  kvt check --json --threshold 0.95

  # An operator's catalogue instead of the built-in one
  kvt check --catalogue /etc/kvt/checks.toml

  # The HTML report for teams without Metabase (one file, opens offline)
  kvt check --html /var/www/quality/index.html

Every run and every check's result are stored in kvt.quality_check_runs and
kvt.quality_check_results (a Metabase question follows the pass rate over time). The
catalogue, its format and how to add a check: docs/warehouse.md.";

/// The warehouse of `kvt load` and `kvt check`.
#[derive(Debug, Clone, Args)]
pub struct WarehouseArgs {
    /// Analytics PostgreSQL (a secret when it holds a password: prefer the environment)
    #[arg(long, env = env::WAREHOUSE_URL, value_name = "URL", hide_env_values = true)]
    pub warehouse_url: Option<crate::secret::Secret>,

    /// Transactional PostgreSQL, only to refuse running on it
    #[arg(long, env = env::OLTP_URL, value_name = "URL", hide_env_values = true)]
    pub oltp_url: Option<crate::secret::Secret>,

    /// Schema of kvt's tables [default: kvt]
    #[arg(long, env = env::WAREHOUSE_SCHEMA, value_name = "SCHEMA")]
    pub schema: Option<String>,
}

/// Arguments of `kvt load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub db: WarehouseArgs,

    /// Tables copied at the same time [default: 2]
    #[arg(long, env = env::LOAD_PARALLEL, value_name = "N")]
    pub parallel: Option<usize>,

    /// Attempts after a transient failure (the database restarting) [default: 3]
    #[arg(long, env = env::LOAD_RETRIES, value_name = "N")]
    pub retries: Option<u32>,

    /// Delay before the first retry, doubled at each [default: 5s]
    #[arg(long, env = env::LOAD_RETRY_DELAY, value_name = "DURATION")]
    pub retry_delay: Option<String>,
}

/// Arguments of `kvt check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub db: WarehouseArgs,

    /// Lowest pass rate that is not a failure, as a share (0.8 = 80 %; exactly passes) [default: 0.8]
    #[arg(long, env = env::CHECK_THRESHOLD, value_name = "SHARE")]
    pub threshold: Option<f64>,

    /// A check catalogue (TOML) replacing the built-in one
    #[arg(long, env = env::CHECK_CATALOGUE, value_name = "FILE")]
    pub catalogue: Option<PathBuf>,

    /// Print the full report as JSON on stdout, before the summary line
    #[arg(long, env = env::CHECK_JSON)]
    pub json: bool,

    /// Also write a self-contained HTML report (pass rate over time, failing checks, rows per table) to FILE
    #[arg(long, env = env::CHECK_HTML, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

const GOLD_EXAMPLES: &str = "\
Examples:
  # Nightly, after every `kvt silver`: every gold table as of today (Europe/Paris)
  kvt gold

  # Only the KYC compliance tables, as of the end of March
  kvt gold --domain kyc --as-of 2026-03-31

  # Rebuild the star schema and the customer view
  kvt gold --domain star --domain customer

  # Two scheduler workers, two sets of tables, in parallel (one lock per table)
  kvt gold --table fact_evenement_web,gold_web_quotidien,gold_web_endpoints
  kvt gold --table fact_paiement

Every table is rebuilt whole from silver: the same silver gives the same files, and
surrogate keys never change for the same customer, product or carrier. All parts are
written before any table is switched, so a failed run leaves yesterday's gold. Silver
crm, orders and order_items are required (exit 2 naming the missing one); payments,
logistics, kyc, nginx and firebase are optional (their tables are empty, with a warning).
Tables and formulas: docs/gold.md.";

/// Arguments of `kvt gold`.
#[derive(Debug, Clone, Args)]
pub struct GoldArgs {
    /// Build only these domains (repeat, or comma-separate) [default: all]
    #[arg(long = "domain", env = env::GOLD_DOMAINS, value_enum, value_delimiter = ',')]
    pub domains: Vec<crate::gold::Domain>,

    /// Only these gold tables (repeatable or comma-separated; with --domain, both sets). Each table has its own lock: workers building different tables run in parallel
    #[arg(long = "table", env = env::GOLD_TABLES, value_name = "TABLE", value_delimiter = ',')]
    pub tables: Vec<String>,

    /// Reference date of recency, churn and rolling windows (YYYY-MM-DD) [default: the run's date in Europe/Paris]
    #[arg(long, env = env::AS_OF, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,

    /// Accepted for symmetry with silver: gold is always rebuilt whole from silver
    #[arg(long, env = env::FULL_REFRESH)]
    pub full_refresh: bool,
}

#[derive(Debug, Subcommand)]
pub enum SilverCommand {
    /// Salesforce CRM export → silver/crm/pays=…/ (docs/silver.md#crm)
    #[command(after_long_help = SILVER_CRM_EXAMPLES)]
    Crm(SilverArgs),
    /// Firebase Analytics events → silver/firebase/event_date=…/event_name=…/ (docs/silver.md#firebase)
    #[command(after_long_help = SILVER_FIREBASE_EXAMPLES)]
    Firebase(SilverArgs),
    /// Nginx access logs → silver/nginx/log_date=…/ (docs/silver.md#nginx)
    #[command(after_long_help = SILVER_NGINX_EXAMPLES)]
    Nginx(SilverNginxArgs),
    /// Carrier deliveries → silver/logistics/pays_destination=…/mois_expedition=…/ (docs/silver.md#logistics)
    #[command(after_long_help = SILVER_LOGISTICS_EXAMPLES)]
    Logistics(SilverArgs),
    /// KYC provider export → silver/kyc/mois_soumission=…/ (docs/silver.md#kyc)
    #[command(after_long_help = SILVER_KYC_EXAMPLES)]
    Kyc(SilverArgs),
    /// Kafka payments in bronze → silver/payments/event_date=…/ (docs/contracts.md C1)
    #[command(after_long_help = SILVER_EVENTS_EXAMPLES)]
    Payments(SilverTopicArgs),
    /// Kafka orders in bronze → silver/orders/ and silver/order_items/ by event_date (docs/contracts.md C1)
    #[command(after_long_help = SILVER_EVENTS_EXAMPLES)]
    Orders(SilverTopicArgs),
}

/// Arguments of `kvt silver payments|orders`.
#[derive(Debug, Clone, Args)]
pub struct SilverTopicArgs {
    #[command(flatten)]
    pub common: SilverArgs,

    /// Topic whose bronze objects to read [default: payments, or orders]
    #[arg(long, env = env::TOPIC, value_name = "TOPIC")]
    pub topic: Option<String>,
}

const SILVER_EXAMPLES: &str = "\
Examples:
  # Nightly, after `kvt ingest drive`/`kvt ingest kafka` (key from KVT_PSEUDONYM_KEY or .env)
  kvt silver crm && kvt silver firebase && kvt silver nginx
  kvt silver logistics && kvt silver kyc && kvt silver payments && kvt silver orders

  # A demo lake, with the public development key
  kvt silver crm --dev-key

Each run reads the bronze objects landed since the last successful run (or --date, or
--full-refresh), replaces the partitions they touch atomically, writes unreadable rows to
silver/_rejects/<source>/ and prints a one-line JSON summary. Schemas: docs/silver.md.

A file that makes a run exit 1 (too many bad lines, nothing readable, an empty
re-delivery, which keeps the previous version's rows) keeps every later run at exit 1
until a new version replaces it, or until an operator accepts it:
  kvt silver nginx --accept-rejects bronze/nginx_data/access-2026-03-17.20260318T000500000Z.log";

const SILVER_CRM_EXAMPLES: &str = "\
Examples:
  kvt silver crm                      # the exports landed since the last run
  kvt silver crm --full-refresh       # rebuild silver/crm from every export in bronze

One row per customer: the most recent DATE MODIFICATION wins (duplicates counted in the
summary). Countries become ISO codes, the birth date an age; names, phone, street and
e-mail never reach silver (the e-mail and the customer id are pseudonymised).";

const SILVER_FIREBASE_EXAMPLES: &str = "\
Examples:
  kvt silver firebase                       # the hourly files landed since the last run
  kvt silver firebase --date 2026-03-17     # reprocess what was ingested that day

params are pivoted into typed columns by event name; unexpected keys are kept, scrubbed,
in params_extra (an event is never rejected for them). Timestamps are read as epoch
milliseconds or ISO 8601 text (flagged). Bots and test sessions are filtered out by the
rules of [silver.firebase] bot_patterns and counted per rule (docs/configuration.md).";

const SILVER_LOGISTICS_EXAMPLES: &str = "\
Examples:
  kvt silver logistics                # the 4-hourly carrier files landed since the last run
  kvt silver logistics --full-refresh

Each parcel keeps the state of its latest file. Statuses are canonicalised, attempts above
10 are capped and flagged (tentatives_suspectes), delays are counted in French business days.";

const SILVER_KYC_EXAMPLES: &str = "\
Examples:
  kvt silver kyc                      # the monthly export(s) landed since the last run
  kvt silver kyc --now 2026-03-31T22:00:00Z   # SLA flags as of a given day

Canonical document types and decisions, whether the document was valid when submitted
(sentinel expiry dates such as 9999-12-31 → expiration_illisible), and sla_depasse when a
case waits more than 5 business days. The agent's name, the internal comment, the issuing
country and the expiry date itself never reach silver.";

const SILVER_EVENTS_EXAMPLES: &str = "\
Examples:
  kvt silver payments                         # bronze/kafka/payments → silver/payments
  kvt silver orders                           # → silver/orders and silver/order_items
  kvt silver payments --topic prod.payments   # bronze of a prefixed topic

Messages that are not JSON or lack a required field (docs/contracts.md C1) go to
silver/_rejects/<source>/ with their bronze object and line; redelivered messages are
deduplicated.";

const SILVER_NGINX_EXAMPLES: &str = "\
Examples:
  # Nightly: the log files landed since the last run (key from KVT_PSEUDONYM_KEY)
  kvt silver nginx

  # Reprocess what was ingested on one day
  kvt silver nginx --date 2026-03-17

  # Rebuild the whole table with the demo key; only the plain `combined` layout
  kvt silver nginx --full-refresh --dev-key --format combined

  # A site with its own log_format
  kvt silver nginx --format '$remote_addr [$time_local] \"$request\" $status $request_time'

Lines that do not match the log_format (truncated at rotation, garbage) are discarded and
listed in silver/_rejects/nginx/ with their bronze file, line and reason. Above 5 % of a
file the step writes what was valid and exits 1.";

/// Options every `kvt silver` source takes.
#[derive(Debug, Clone, Args)]
pub struct SilverArgs {
    /// Reprocess the bronze objects ingested on this day (YYYY-MM-DD) [default: the new ones]
    #[arg(long, env = env::DATE, value_name = "DATE", conflicts_with = "full_refresh")]
    pub date: Option<chrono::NaiveDate>,

    /// Rebuild every partition from all of bronze; partitions nothing feeds any more are removed
    #[arg(long, env = env::FULL_REFRESH)]
    pub full_refresh: bool,

    /// Pseudonymise with the public development key (demo, tests), not KVT_PSEUDONYM_KEY
    #[arg(long)]
    pub dev_key: bool,

    /// Accept the data verdict on this bronze object (repeatable): the run no longer exits 1 for
    /// it, and an empty re-delivery it held back replaces the previous version. Recorded in
    /// silver/_state/<source>.json with the run id.
    #[arg(long = "accept-rejects", value_name = "BRONZE_KEY")]
    pub accept_rejects: Vec<String>,
}

/// Arguments of `kvt silver nginx`.
#[derive(Debug, Clone, Args)]
pub struct SilverNginxArgs {
    #[command(flatten)]
    pub common: SilverArgs,

    /// nginx log_format of the files: `auto` (the kvt layout of docs/contracts.md C5, or plain `combined`, line by line), `kvt`, `combined`, or a log_format string [default: auto]
    #[arg(long = "format", env = env::NGINX_LOG_FORMAT, value_name = "LOG_FORMAT")]
    pub nginx_format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// Copy new and modified files of one source (Google Drive folder or local drop directory) into bronze
    #[command(after_long_help = DRIVE_EXAMPLES)]
    Drive(DriveArgs),
    /// Consume Kafka topics into bronze JSONL partitioned by event date, exactly once
    #[command(after_long_help = KAFKA_EXAMPLES)]
    Kafka(KafkaArgs),
}

const KAFKA_EXAMPLES: &str = "\
Examples:
  # Nightly run: payments and orders from the committed offsets of group kvt-bronze
  kvt ingest kafka --topic payments --topic orders

  # Another broker, and a consumer group of its own
  kvt ingest kafka --brokers kafka-1:9092,kafka-2:9092 --group kvt-bronze-replay

  # Keep consuming new messages until 30 s pass without one
  kvt ingest kafka --follow --idle-timeout 30s

Each message becomes one JSON line {topic, partition, offset, timestamp, key, value}
(value kept byte for byte; a value that is not JSON is kept as value_raw and counted).
Offsets are committed only after the bronze objects holding them are written. Without
--follow the run stops once it reaches the end offsets seen at start, or after
--idle-timeout without a message.";

/// Arguments of `kvt ingest kafka`.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Topic to consume (repeat, or comma-separate) [default: payments, orders]
    #[arg(long = "topic", env = env::KAFKA_TOPICS, value_name = "TOPIC", value_delimiter = ',')]
    pub topics: Vec<String>,

    /// Bootstrap servers [default: 127.0.0.1:9092]
    #[arg(long, env = env::KAFKA_BROKERS, value_name = "HOST:PORT[,…]")]
    pub brokers: Option<String>,

    /// Consumer group whose committed offsets mark what bronze holds [default: kvt-bronze]
    #[arg(long, env = env::KAFKA_GROUP, value_name = "GROUP")]
    pub group: Option<String>,

    /// Stop after this long without a new message [default: 10s]
    #[arg(long, env = env::IDLE_TIMEOUT, value_name = "DURATION")]
    pub idle_timeout: Option<String>,

    /// Keep consuming past the end offsets seen at start, until idle
    #[arg(long, env = env::FOLLOW)]
    pub follow: bool,

    /// Exit 2 when the brokers keep failing this long [default: 30s]
    #[arg(long, env = env::BROKER_TIMEOUT, value_name = "DURATION")]
    pub broker_timeout: Option<String>,
}

const DRIVE_EXAMPLES: &str = "\
Examples:
  # Ingest the CRM export folder configured as [sources.crm] in kvt.toml
  kvt ingest drive --source crm

  # Same, positional form, into an S3 lake (credentials from AWS_* variables)
  KVT_STORE=s3://lake/kivendtout kvt ingest drive nginx

  # Show what would be transferred without transferring anything
  kvt ingest drive --source logistics --dry-run

  # Fast retries (tests, manual runs): 3 retries 10 s apart
  kvt ingest drive --source kyc --retries 3 --retry-delay 10s

The last stdout line is the run summary (JSON): files listed/new/modified/skipped/refused,
bytes, attempts and status. Exit 2 when the source still fails after the retries.";

/// Arguments of `kvt ingest drive`.
#[derive(Debug, Clone, Args)]
pub struct DriveArgs {
    /// Source to ingest: the name of a [sources.NAME] entry of the configuration
    #[arg(value_name = "SOURCE", required_unless_present = "source")]
    pub source_pos: Option<String>,

    /// Source to ingest (same as the positional SOURCE)
    #[arg(long, env = env::SOURCE, value_name = "NAME", conflicts_with = "source_pos")]
    pub source: Option<String>,

    /// Retries after a failed attempt [default: 2, or [ingest] retries in kvt.toml]
    #[arg(long, env = env::RETRIES, value_name = "N")]
    pub retries: Option<u32>,

    /// Delay between attempts, e.g. 5m, 30s, 200ms [default: 5m]
    #[arg(long, env = env::RETRY_DELAY, value_name = "DURATION")]
    pub retry_delay: Option<String>,

    /// List and compare only: report what would be transferred, write nothing
    #[arg(long, env = env::DRY_RUN)]
    pub dry_run: bool,
}

impl DriveArgs {
    /// The source name, from the positional argument or `--source`.
    pub fn source_name(&self) -> &str {
        self.source_pos
            .as_deref()
            .or(self.source.as_deref())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_long_flag_has_an_env_twin_or_is_a_switch() {
        // Switches that only make sense on the command line are listed here:
        // --dev-key on purpose (a copied demo .env must never run production on
        // the public key) and --accept-rejects (a one-off operator decision).
        let exempt = [
            "verbose",
            "help",
            "version",
            "source_pos",
            "dev_key",
            "accept_rejects",
            // Replays: left in a service's environment, every restart would
            // throw the checkpoint away.
            "from_beginning",
            "from",
            "input",
            // One document's identifiers: a default in the environment would
            // attach every document to the same order or customer.
            "order_id",
            "customer_id",
        ];
        fn walk(cmd: &clap::Command, exempt: &[&str]) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if exempt.contains(&id) || arg.is_positional() {
                    continue;
                }
                assert!(
                    arg.get_env().is_some(),
                    "flag --{id} of `{}` has no KVT_* environment twin",
                    cmd.get_name()
                );
            }
            for sub in cmd.get_subcommands() {
                walk(sub, exempt);
            }
        }
        walk(&Cli::command(), &exempt);
    }

    #[test]
    fn source_positional_or_flag() {
        for (argv, want) in [
            (vec!["kvt", "ingest", "drive", "crm"], "crm"),
            (vec!["kvt", "ingest", "drive", "--source", "kyc"], "kyc"),
        ] {
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Ingest(IngestCommand::Drive(a)) => assert_eq!(a.source_name(), want),
                other => panic!("{other:?}"),
            }
        }
    }
}
