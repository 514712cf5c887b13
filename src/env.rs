//! Every `KVT_*` environment variable, declared once with its meaning.
//!
//! Flags name these constants in `cli.rs` (`env = env::STORE`), the docs table in
//! `docs/configuration.md` is checked against [`ALL`] by a test, and secrets are
//! marked so that nothing prints them.

/// One environment variable kvt reads.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    pub doc: &'static str,
    /// Secrets are never logged, printed or shown by `Debug`.
    pub secret: bool,
}

macro_rules! vars {
    ($($(#[doc = $doc:literal])* $ident:ident = $name:literal $(, secret = $secret:literal)?;)*) => {
        $( $(#[doc = $doc])* pub const $ident: &str = $name; )*
        /// All variables, in declaration order.
        pub const ALL: &[Var] = &[
            $( Var { name: $name, doc: concat!($($doc),*), secret: vars!(@secret $($secret)?) }, )*
        ];
    };
    (@secret) => { false };
    (@secret $s:literal) => { $s };
}

vars! {
    /// Path of the kvt.toml configuration file (default: ./kvt.toml if present, else the embedded defaults).
    CONFIG = "KVT_CONFIG";
    /// Object store URL of the lake: file://DIR (default file://./lake), s3://bucket/prefix, memory://.
    STORE = "KVT_STORE";
    /// Fixed "now" for the whole run (RFC 3339), for reproducible runs and tests.
    NOW = "KVT_NOW";
    /// Run id to use instead of a generated one (e.g. the scheduler's run id).
    RUN_ID = "KVT_RUN_ID";
    /// Log format on stderr: text or json.
    LOG_FORMAT = "KVT_LOG_FORMAT";
    /// Suppress progress bars and informational logs.
    QUIET = "KVT_QUIET";
    /// OpenLineage destination: http(s)://host[:port][/path] (POSTed to /api/v1/lineage when no path) or file:///path.jsonl.
    OPENLINEAGE_URL = "KVT_OPENLINEAGE_URL";
    /// Bearer token for the OpenLineage HTTP endpoint.
    OPENLINEAGE_API_KEY = "KVT_OPENLINEAGE_API_KEY", secret = true;
    /// OpenLineage namespace of kvt's jobs (default kvt).
    OPENLINEAGE_NAMESPACE = "KVT_OPENLINEAGE_NAMESPACE";
    /// Directory where batch commands write Prometheus textfile metrics (node_exporter textfile collector).
    METRICS_DIR = "KVT_METRICS_DIR";
    /// Source name for `kvt ingest drive`.
    SOURCE = "KVT_SOURCE";
    /// `kvt ingest drive --dry-run`: list and compare only; `kvt fraud run --dry-run`: alerts to stdout only.
    DRY_RUN = "KVT_DRY_RUN";
    /// Retries after a failed ingestion attempt (default 2).
    RETRIES = "KVT_RETRIES";
    /// Delay between ingestion attempts, e.g. 5m, 30s, 200ms (default 5m).
    RETRY_DELAY = "KVT_RETRY_DELAY";
    /// Path of the Google service-account key file (falls back to GOOGLE_APPLICATION_CREDENTIALS).
    DRIVE_CREDENTIALS = "KVT_DRIVE_CREDENTIALS";
    /// Base URL of the Google Drive API (default https://www.googleapis.com/); for proxies and tests.
    DRIVE_API_URL = "KVT_DRIVE_API_URL";
    /// Timeout of each Google Drive API call and of each gap in a download, e.g. 60s (default 60s).
    DRIVE_TIMEOUT = "KVT_DRIVE_TIMEOUT";
    /// Kafka bootstrap servers, host:port[,host:port] (default 127.0.0.1:9092).
    KAFKA_BROKERS = "KVT_KAFKA_BROKERS";
    /// SASL password for Kafka (passed to librdkafka as sasl.password).
    KAFKA_SASL_PASSWORD = "KVT_KAFKA_SASL_PASSWORD", secret = true;
    /// Topics of `kvt ingest kafka`, comma-separated (default payments,orders).
    KAFKA_TOPICS = "KVT_KAFKA_TOPICS";
    /// Consumer group of `kvt ingest kafka` (default kvt-bronze).
    KAFKA_GROUP = "KVT_KAFKA_GROUP";
    /// `kvt ingest kafka` stops after this long without a new message (default 10s).
    IDLE_TIMEOUT = "KVT_IDLE_TIMEOUT";
    /// `kvt ingest kafka` keeps consuming past the end offsets seen at start, until idle.
    FOLLOW = "KVT_FOLLOW";
    /// `kvt ingest kafka` gives up when the brokers keep failing this long (default 30s).
    BROKER_TIMEOUT = "KVT_BROKER_TIMEOUT";
    /// Secret key of the pseudonymisation HMAC (CONTRACTS C6); the same for every source.
    PSEUDONYM_KEY = "KVT_PSEUDONYM_KEY", secret = true;
    /// Reprocess the bronze objects ingested on this day (YYYY-MM-DD).
    DATE = "KVT_DATE";
    /// Rebuild every partition of the silver table from all of bronze.
    FULL_REFRESH = "KVT_FULL_REFRESH";
    /// nginx log_format of the access logs: `auto` (default), `kvt`, `combined`, or a log_format string.
    NGINX_LOG_FORMAT = "KVT_NGINX_LOG_FORMAT";
    /// Kafka topic whose bronze objects `kvt silver payments|orders` reads.
    TOPIC = "KVT_TOPIC";
    /// The analytics PostgreSQL (`postgres://user@host:port/db`); may hold a password.
    WAREHOUSE_URL = "KVT_WAREHOUSE_URL", secret = true;
    /// The transactional PostgreSQL, only to refuse loading into it (WH-1).
    OLTP_URL = "KVT_OLTP_URL", secret = true;
    /// Schema of kvt's tables in the warehouse (default kvt).
    WAREHOUSE_SCHEMA = "KVT_WAREHOUSE_SCHEMA";
    /// Tables `kvt load` copies at the same time (default 2).
    LOAD_PARALLEL = "KVT_LOAD_PARALLEL";
    /// Attempts of `kvt load` after a transient failure (default 3).
    LOAD_RETRIES = "KVT_LOAD_RETRIES";
    /// Delay before the first retry of `kvt load`, doubled at each (default 5s).
    LOAD_RETRY_DELAY = "KVT_LOAD_RETRY_DELAY";
    /// Pass rate of `kvt check` below which it exits 1, as a share (default 0.8).
    CHECK_THRESHOLD = "KVT_CHECK_THRESHOLD";
    /// A check catalogue (TOML) replacing the built-in one.
    CHECK_CATALOGUE = "KVT_CHECK_CATALOGUE";
    /// `kvt check` prints its full report as JSON.
    CHECK_JSON = "KVT_CHECK_JSON";
    /// Gold domains to build, comma-separated (default all).
    GOLD_DOMAINS = "KVT_GOLD_DOMAINS";
    /// Gold tables `kvt gold` builds, comma-separated (default all; with KVT_GOLD_DOMAINS, both sets).
    GOLD_TABLES = "KVT_GOLD_TABLES";
    /// Reference date of `kvt gold` (YYYY-MM-DD; default the run's date in Europe/Paris).
    AS_OF = "KVT_AS_OF";
    /// `/metrics` and `/health` address of `kvt fraud run`, e.g. 127.0.0.1:9464 (default: none).
    FRAUD_METRICS_LISTEN = "KVT_FRAUD_METRICS_LISTEN";
    /// Checkpoint interval of `kvt fraud run`, e.g. 60s (default 60s).
    FRAUD_CHECKPOINT_INTERVAL = "KVT_FRAUD_CHECKPOINT_INTERVAL";
    /// Consumer group of `kvt fraud run` (default kvt-fraud-<job>).
    FRAUD_GROUP = "KVT_FRAUD_GROUP";
    /// `kvt fraud run` stops once caught up and idle this long (default: runs until SIGTERM).
    FRAUD_EXIT_WHEN_IDLE = "KVT_FRAUD_EXIT_WHEN_IDLE";
    /// Prefix of every topic `kvt fraud run` reads and writes (a namespace on a shared cluster).
    FRAUD_TOPIC_PREFIX = "KVT_FRAUD_TOPIC_PREFIX";
    /// `kvt fraud run` runs as one of several processes of its job (true/false; default false).
    FRAUD_SCALE_OUT = "KVT_FRAUD_SCALE_OUT";
    /// InfluxDB base URL of `kvt fraud run`'s supervision metrics, e.g. http://127.0.0.1:8086 (default: none).
    INFLUX_URL = "KVT_INFLUX_URL";
    /// InfluxDB database (1.x) or bucket mapped to it (2.x/3.x) (default kvt).
    INFLUX_DB = "KVT_INFLUX_DB";
    /// InfluxDB token (2.x/3.x; `user:password` for 1.x with auth), sent as `Authorization: Token …`.
    INFLUX_TOKEN = "KVT_INFLUX_TOKEN", secret = true;
    /// Confidence below which `kvt kyc` sends a document to human review (default 0.75).
    KYC_THRESHOLD = "KVT_KYC_THRESHOLD";
    /// Largest document `kvt kyc` accepts, e.g. 10MB (default 10MB).
    KYC_MAX_SIZE = "KVT_KYC_MAX_SIZE";
    /// Topic of the KYC decisions (default kyc_decisions).
    KYC_TOPIC = "KVT_KYC_TOPIC";
    /// Address of `kvt kyc serve` (default 127.0.0.1:8080).
    KYC_LISTEN = "KVT_KYC_LISTEN";
    /// OCR workers of `kvt kyc serve` (default: the number of cores).
    KYC_WORKERS = "KVT_KYC_WORKERS";
    /// Requests waiting for a worker before `kvt kyc serve` answers 503 (default 4 per worker).
    KYC_QUEUE = "KVT_KYC_QUEUE";
    /// Per-request time limit of `kvt kyc serve`, e.g. 10s (default 10s).
    KYC_TIMEOUT = "KVT_KYC_TIMEOUT";
    /// Retention of `kvt kyc purge`, e.g. 2190d (default 2190d, six years).
    KYC_RETENTION = "KVT_KYC_RETENTION";
    /// A stale run lock older than this is taken over, by every command, e.g. 6h (default 6h).
    LOCK_TTL = "KVT_LOCK_TTL";
    /// Days of run history `kvt status` reads (default 8).
    STATUS_DAYS = "KVT_STATUS_DAYS";
    /// `kvt status --json`: one JSON document instead of the table.
    STATUS_JSON = "KVT_STATUS_JSON";
    /// `kvt check --html`: also write the self-contained HTML quality report to this file.
    CHECK_HTML = "KVT_CHECK_HTML";
}

/// The standard variable Google client libraries use for the key file.
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// Value of a variable, treating an empty string as unset.
pub fn get(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_documented_and_prefixed() {
        for v in ALL {
            assert!(v.name.starts_with("KVT_"), "{}", v.name);
            assert!(!v.doc.trim().is_empty(), "{} has no doc", v.name);
        }
        let mut names: Vec<_> = ALL.iter().map(|v| v.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "a variable is declared twice");
    }

    #[test]
    fn api_key_is_secret() {
        let v = ALL.iter().find(|v| v.name == OPENLINEAGE_API_KEY).unwrap();
        assert!(v.secret);
    }
}
