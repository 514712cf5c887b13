//! `kvt.toml`: structural configuration (versioned), merged under flags and `KVT_*`.
//!
//! Precedence: CLI flag > `KVT_*` environment > this file > built-in default.
//! Secrets never live here: they come from the environment or `.env`.
//! When no file is given and `./kvt.toml` does not exist, the embedded
//! [`DEFAULT_TOML`] is used, so `kvt` runs out of the box on `./drop/*` folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The built-in configuration (also shipped, annotated, as `kvt.example.toml`).
pub const DEFAULT_TOML: &str = include_str!("../kvt.example.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid configuration {origin}: source `{source_name}`: {message}")]
    Source {
        origin: String,
        source_name: String,
        message: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Object store URL of the lake.
    pub store: Option<String>,
    /// A run lock older than this is stale, for every command (default 6h).
    pub lock_ttl: Option<String>,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub lineage: LineageConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub drive: DriveConfig,
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub silver: SilverConfig,
    #[serde(default)]
    pub warehouse: WarehouseConfig,
    #[serde(default)]
    pub check: CheckConfig,
    #[serde(default)]
    pub fraud: FraudConfig,
    #[serde(default)]
    pub kyc: KycConfig,
    /// One entry per batch source; adding a source = adding an entry.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// `[airflow]`: read by the DAG factory of `examples/airflow/`, not by kvt.
    pub airflow: Option<toml::Table>,
    /// Where this configuration came from (a path, or "built-in defaults").
    #[serde(skip)]
    pub origin: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Retries after a failed attempt (default 2).
    pub retries: Option<u32>,
    /// Delay between attempts (default 5m).
    pub retry_delay: Option<String>,
    /// Take over a run lock older than this (default 6h).
    pub lock_ttl: Option<String>,
    /// Files transferred at the same time (default 4).
    pub concurrency: Option<usize>,
}

/// `[schedule]`: when the steps without a `[sources.*]` entry are due (cron
/// expressions, UTC), for `kvt status`. Drive sources use their own
/// `schedule`; silver is due with its ingestion.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// `kvt ingest kafka` (default `0 0 * * *`; `"off"` at a site without Kafka).
    pub kafka: Option<String>,
    /// `kvt gold` (default `30 6 * * *`).
    pub gold: Option<String>,
    /// `kvt load` (default `30 6 * * *`).
    pub load: Option<String>,
    /// `kvt check` (default `30 6 * * *`).
    pub check: Option<String>,
    /// A step not run this long after it was due is late (default 1h).
    pub grace: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LineageConfig {
    pub url: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DriveConfig {
    /// Base URL of the Drive API (default https://www.googleapis.com/).
    pub api_url: Option<String>,
    /// Path of the service-account key file (prefer the environment).
    pub credentials: Option<PathBuf>,
    /// Timeout of each API call and of each gap in a download (default 60s).
    pub timeout: Option<String>,
}

/// `[silver]`: source-specific cleaning settings.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SilverConfig {
    /// nginx log_format: `kvt`, `combined` or a log_format string.
    pub nginx_log_format: Option<String>,
    /// Share of discarded nginx lines above which the step exits 1 (default 0.05).
    pub nginx_tolerance: Option<f64>,
    #[serde(default)]
    pub firebase: FirebaseSilverConfig,
}

/// `[warehouse]`: `kvt load` and `kvt check`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    /// Schema of kvt's tables (default kvt).
    pub schema: Option<String>,
    /// Tables copied at the same time (default 2).
    pub parallel: Option<usize>,
    /// Attempts after a transient failure (default 3).
    pub retries: Option<u32>,
}

/// `[check]`: the quality gate.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Lowest passing pass rate, as a share (default 0.8).
    pub threshold: Option<f64>,
    /// A catalogue replacing the built-in one.
    pub catalogue: Option<PathBuf>,
    /// Checks added to the catalogue.
    pub extra: Option<PathBuf>,
}

/// `[silver.firebase]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FirebaseSilverConfig {
    /// Bot and test-session rules; replaces the built-in list when given.
    pub bot_patterns: Option<Vec<crate::silver::patterns::PatternConfig>>,
    /// Rules added to `bot_patterns` (or to the built-in list).
    #[serde(default)]
    pub extra_bot_patterns: Vec<crate::silver::patterns::PatternConfig>,
}

/// `[kafka]`: the broker connection and `ingest kafka` defaults.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers (default 127.0.0.1:9092).
    pub brokers: Option<String>,
    /// Consumer group of `ingest kafka` (default kvt-bronze).
    pub group: Option<String>,
    /// Topics of `ingest kafka` (default payments, orders).
    pub topics: Option<Vec<String>>,
    pub idle_timeout: Option<String>,
    pub broker_timeout: Option<String>,
    /// Buffered MiB that trigger a flush to bronze (default 64).
    pub flush_mib: Option<usize>,
    /// Extra librdkafka properties: security.protocol, sasl.mechanisms, sasl.username…
    /// (the password comes from KVT_KAFKA_SASL_PASSWORD).
    #[serde(default)]
    pub client: BTreeMap<String, String>,
}

/// `[kyc]`: `kvt kyc verify|serve|purge` (docs/kyc.md).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KycConfig {
    /// Confidence below which a file goes to review (default 0.75, KYC-7).
    pub threshold: Option<f64>,
    /// Largest accepted document, e.g. "10MB" (default 10MB).
    pub max_size: Option<String>,
    /// Topic of the decisions (default kyc_decisions).
    pub topic: Option<String>,
    /// Languages of the visual zone, Tesseract style (default "fra+eng").
    pub languages: Option<String>,
    /// Tesseract's tessdata directory (default: Tesseract's own).
    pub tessdata: Option<String>,
    /// `kvt kyc serve` address (default 127.0.0.1:8080).
    pub listen: Option<String>,
    pub workers: Option<usize>,
    pub queue: Option<usize>,
    /// Per-request time limit of the service (default 10s).
    pub timeout: Option<String>,
    /// Retention of `kvt kyc purge` (default 2190d).
    pub retention: Option<String>,
}

/// `[fraud]`: the streaming jobs of `kvt fraud run` (docs/fraud.md). Every
/// threshold defaults to CONTRACTS C4; durations are text (`10s`, `5m`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FraudConfig {
    /// Checkpoint interval (default 60s, FRAUD-4).
    pub checkpoint_interval: Option<String>,
    /// Checkpoints kept per job (default 3).
    pub checkpoints_kept: Option<usize>,
    /// Tolerated out-of-orderness (default 10s, FRAUD-3).
    pub watermark_delay: Option<String>,
    /// A partition silent this long stops holding the watermark (default 60s).
    pub idle_partition: Option<String>,
    /// `/metrics` and `/health` address, e.g. 127.0.0.1:9464 (default: none).
    pub metrics_listen: Option<String>,
    /// Consumer groups are `<prefix>-<job>` (default kvt-fraud).
    pub group_prefix: Option<String>,
    /// Alert types not raised, e.g. ["geo_mismatch"].
    #[serde(default)]
    pub disabled: Vec<String>,
    pub risk_countries: Option<Vec<String>>,
    /// BINs (first six digits) of fraudulent issuers, inline…
    pub bin_blacklist: Option<Vec<String>>,
    /// …or one per line in a file (`#` comments), added to the inline list.
    pub bin_blacklist_file: Option<std::path::PathBuf>,
    pub high_risk_score: Option<i64>,
    /// Inclusive [low, high] "moderate" risk score of a failed payment.
    pub moderate_score: Option<(i64, i64)>,
    pub failure_statuses: Option<Vec<String>>,
    pub geo_mismatch_score: Option<i64>,
    /// Case-insensitive regular expression of bot user agents.
    pub bot_pattern: Option<String>,
    pub bot_max_processing_ms: Option<i64>,
    pub high_amount_eur: Option<f64>,
    /// Fallback rates to EUR when a payment has no `amount_eur`.
    pub eur_rates: Option<BTreeMap<String, f64>>,
    pub order_high_amount_eur: Option<f64>,
    pub discount_share: Option<f64>,
    pub cancellation_items: Option<i64>,
    pub psp_error_rate: Option<f64>,
    pub max_cancellations_per_minute: Option<u64>,
    pub express_share: Option<f64>,
    pub card_testing: Option<LookBackRule>,
    pub card_portfolio: Option<LookBackRule>,
    pub shared_device: Option<LookBackRule>,
    pub shared_ip: Option<LookBackRule>,
    pub cross_velocity: Option<VelocityRule>,
    pub amount_gap: Option<f64>,
    /// How long the crossed job keeps orders (default 7d).
    pub retention: Option<String>,
    pub kyc_documents: Option<KycDocumentsRule>,
    pub kyc_minor_rate: Option<KycMinorRule>,
}

/// A look-back rule: fire when the measure within `within` is above `above`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookBackRule {
    pub within: String,
    pub above: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VelocityRule {
    pub within: String,
    pub payments_above: usize,
    pub orders_above: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KycDocumentsRule {
    pub within: String,
    pub at_least: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KycMinorRule {
    pub within: String,
    pub min_decisions: usize,
    pub share_above: f64,
}

/// One batch source (`[sources.NAME]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Google Drive folder id (exclusive with `path`).
    pub drive_folder_id: Option<String>,
    /// Local directory: an SFTP drop or a mounted share (exclusive with `drive_folder_id`).
    pub path: Option<PathBuf>,
    /// Bronze prefix (Annex 2 of the seed: crm_data, firebase_data, …). Default: the source name.
    pub prefix: Option<String>,
    /// Desired update frequency, as a cron expression (documentation for the scheduler).
    pub schedule: Option<String>,
    /// Glob patterns (on the path relative to the folder) of files to ingest; default all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Glob patterns of files to leave alone.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Owning team (tracking metadata).
    pub owner: Option<String>,
    /// Free description (tracking metadata).
    pub description: Option<String>,
    /// Content format (tracking metadata: csv, ndjson, text…).
    pub format: Option<String>,
}

/// Where a source's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Drive { folder_id: String },
    Local { dir: PathBuf },
}

impl SourceConfig {
    pub fn origin(&self) -> Origin {
        match (&self.drive_folder_id, &self.path) {
            (Some(id), _) => Origin::Drive {
                folder_id: id.clone(),
            },
            (None, Some(p)) => Origin::Local { dir: p.clone() },
            (None, None) => unreachable!("validated at load"),
        }
    }
}

impl Config {
    /// Load the configuration: explicit file, else `./kvt.toml`, else the embedded defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let default_path = Path::new("kvt.toml");
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None if default_path.exists() => Some(default_path.to_path_buf()),
            None => None,
        };
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let mut cfg = Config::parse(&text, &path.display().to_string())?;
                // Relative source paths are relative to the configuration file.
                let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
                let relative = |p: &mut Option<PathBuf>| {
                    if let Some(q) = p.as_ref() {
                        if q.is_relative() && !base.as_os_str().is_empty() {
                            *p = Some(base.join(q));
                        }
                    }
                };
                for src in cfg.sources.values_mut() {
                    relative(&mut src.path);
                }
                // So are the check catalogues.
                relative(&mut cfg.check.catalogue);
                relative(&mut cfg.check.extra);
                relative(&mut cfg.fraud.bin_blacklist_file);
                Ok(cfg)
            }
            None => Config::parse(DEFAULT_TOML, "built-in defaults"),
        }
    }

    /// Parse and validate configuration text.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.origin = origin.to_string();
        for (name, src) in &cfg.sources {
            let err = |message: &str| ConfigError::Source {
                origin: origin.to_string(),
                source_name: name.clone(),
                message: message.to_string(),
            };
            if !is_valid_source_name(name) {
                return Err(err("source names use lower-case letters, digits, _ and -"));
            }
            match (&src.drive_folder_id, &src.path) {
                (Some(_), Some(_)) => {
                    return Err(err("set either drive_folder_id or path, not both"))
                }
                (None, None) => return Err(err("set drive_folder_id or path")),
                _ => {}
            }
            if let Some(prefix) = &src.prefix {
                if !is_valid_source_name(prefix) {
                    return Err(err("prefix uses lower-case letters, digits, _ and -"));
                }
            }
            for pat in src.include.iter().chain(&src.exclude) {
                if pat.is_empty() {
                    return Err(err("empty include/exclude pattern"));
                }
            }
            FileGlobs::new(&src.include).map_err(|m| err(&m))?;
            FileGlobs::new(&src.exclude).map_err(|m| err(&m))?;
        }
        for (key, value) in [
            ("ingest.retry_delay", &cfg.ingest.retry_delay),
            ("ingest.lock_ttl", &cfg.ingest.lock_ttl),
            ("lock_ttl", &cfg.lock_ttl),
            ("drive.timeout", &cfg.drive.timeout),
            ("kafka.idle_timeout", &cfg.kafka.idle_timeout),
            ("kafka.broker_timeout", &cfg.kafka.broker_timeout),
            ("schedule.grace", &cfg.schedule.grace),
        ] {
            if let Some(v) = value {
                parse_duration(v).map_err(|message| ConfigError::Parse {
                    origin: origin.to_string(),
                    message: format!("{key}: {message}"),
                })?;
            }
        }
        crate::status::validate(&cfg).map_err(|message| ConfigError::Parse {
            origin: origin.to_string(),
            message,
        })?;
        Ok(cfg)
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.get(name)
    }

    /// Names of the configured sources, sorted.
    pub fn source_names(&self) -> Vec<&str> {
        self.sources.keys().map(String::as_str).collect()
    }
}

fn is_valid_source_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Parse a duration such as `5m`, `30s`, `200ms`, `6h`, `1d`, `1h30m`
/// (humantime's syntax); a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("invalid duration `{s}`"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid duration `{s}` ({e}; e.g. 5m, 30s, 200ms, 1h30m)"))
}

/// Parse a size such as `10MB`, `512KB`, `8MiB`, `1GB`; a bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size `{s}` (e.g. 10MB, 512KB)"))?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "invalid size unit in `{s}` (B, KB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    let v = n * mult;
    if !v.is_finite() || !(1.0..=1e12).contains(&v) {
        return Err(format!("size `{s}` out of range"));
    }
    Ok(v as u64)
}

/// The include or exclude globs of a source, compiled once (globset):
/// `*` and `?` stay within a path segment, `**` crosses segments, and a
/// pattern without `/` is matched against the file name only.
#[derive(Debug, Clone)]
pub struct FileGlobs {
    by_path: globset::GlobSet,
    by_name: globset::GlobSet,
    empty: bool,
}

impl FileGlobs {
    pub fn new(patterns: &[String]) -> Result<FileGlobs, String> {
        let (mut by_path, mut by_name) = (
            globset::GlobSetBuilder::new(),
            globset::GlobSetBuilder::new(),
        );
        for p in patterns {
            let glob = globset::GlobBuilder::new(p)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("invalid pattern `{p}`: {e}"))?;
            if p.contains('/') {
                by_path.add(glob);
            } else {
                by_name.add(glob);
            }
        }
        let build = |b: globset::GlobSetBuilder| b.build().map_err(|e| e.to_string());
        Ok(FileGlobs {
            by_path: build(by_path)?,
            by_name: build(by_name)?,
            empty: patterns.is_empty(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// Does the relative path (`/`-separated) match one of the patterns?
    pub fn is_match(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.by_path.is_match(rel) || self.by_name.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_have_the_five_sources() {
        let cfg = Config::parse(DEFAULT_TOML, "built-in").unwrap();
        for s in ["crm", "firebase", "kyc", "logistics", "nginx"] {
            let src = cfg.source(s).unwrap_or_else(|| panic!("missing {s}"));
            assert!(src.schedule.is_some());
            assert!(src.prefix.is_some());
        }
        assert_eq!(
            cfg.source("nginx").unwrap().prefix.as_deref(),
            Some("nginx_data")
        );
    }

    #[test]
    fn adding_a_source_is_one_entry() {
        let cfg = Config::parse(
            "[sources.returns]\npath = \"/srv/drop/returns\"\ninclude = [\"*.csv\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            cfg.source("returns").unwrap().origin(),
            Origin::Local {
                dir: "/srv/drop/returns".into()
            }
        );
    }

    #[test]
    fn rejects_ambiguous_or_empty_sources() {
        let both = "[sources.x]\npath = \"a\"\ndrive_folder_id = \"b\"\n";
        assert!(Config::parse(both, "t")
            .unwrap_err()
            .to_string()
            .contains("not both"));
        let none = "[sources.x]\nschedule = \"@daily\"\n";
        assert!(Config::parse(none, "t").is_err());
        let bad_name = "[sources.\"../x\"]\npath = \"a\"\n";
        assert!(Config::parse(bad_name, "t").is_err());
        let unknown_key = "[sources.x]\npath = \"a\"\nfolder = \"b\"\n";
        assert!(Config::parse(unknown_key, "t").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2min").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn globs() {
        let g = |p: &str| FileGlobs::new(&[p.to_string()]).unwrap();
        assert!(g("*.csv").is_match("a/b/export.csv"));
        assert!(!g("*.csv").is_match("a/b/export.csv.tmp"));
        assert!(g("2026-*/*.log").is_match("2026-03/access.log"));
        assert!(!g("2026-*/*.log").is_match("x/2026-03/access.log"));
        assert!(!g("2026-*.log").is_match("2026-03/x.txt"));
        assert!(g("**/*.ndjson").is_match("a/b/c/e.ndjson"));
        assert!(g("**/*.ndjson").is_match("e.ndjson"));
        assert!(g("access-????-??-??.log").is_match("access-2026-03-17.log"));
        assert!(g("*.{csv,CSV}").is_match("x.CSV"));
        assert!(FileGlobs::new(&["a[".to_string()]).is_err());
        let bad = "[sources.x]\npath = \"a\"\ninclude = [\"a[\"]\n";
        assert!(Config::parse(bad, "t")
            .unwrap_err()
            .to_string()
            .contains("invalid pattern"));
    }
}
