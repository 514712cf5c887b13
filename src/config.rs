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
    /// One entry per batch source; adding a source = adding an entry.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
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
                for src in cfg.sources.values_mut() {
                    if let Some(p) = &src.path {
                        if p.is_relative() && !base.as_os_str().is_empty() {
                            src.path = Some(base.join(p));
                        }
                    }
                }
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
        }
        for (key, value) in [
            ("ingest.retry_delay", &cfg.ingest.retry_delay),
            ("ingest.lock_ttl", &cfg.ingest.lock_ttl),
            ("lock_ttl", &cfg.lock_ttl),
            ("drive.timeout", &cfg.drive.timeout),
            ("kafka.idle_timeout", &cfg.kafka.idle_timeout),
            ("kafka.broker_timeout", &cfg.kafka.broker_timeout),
        ] {
            if let Some(v) = value {
                parse_duration(v).map_err(|message| ConfigError::Parse {
                    origin: origin.to_string(),
                    message: format!("{key}: {message}"),
                })?;
            }
        }
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

/// Parse a duration such as `5m`, `30s`, `200ms`, `6h`, `1d`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration `{s}` (expected e.g. 5m, 30s, 200ms)"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration `{s}`"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" | "" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86400),
            other => {
                return Err(format!(
                    "invalid duration unit `{other}` in `{s}` (use ms, s, m, h, d)"
                ))
            }
        };
        total += d;
    }
    Ok(total)
}

/// Does `path` (relative, `/`-separated) match the glob `pattern`?
///
/// `*` matches within one path segment, `**` across segments, `?` one character.
/// A pattern without `/` is matched against the file name only.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let target = if pattern.contains('/') {
        path
    } else {
        path.rsplit('/').next().unwrap_or(path)
    };
    glob_rec(pattern.as_bytes(), target.as_bytes())
}

fn glob_rec(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
            (0..=s.len()).any(|i| glob_rec(rest, &s[i..]))
        }
        Some(b'*') => {
            let mut i = 0;
            loop {
                if glob_rec(&p[1..], &s[i..]) {
                    return true;
                }
                if i == s.len() || s[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        Some(b'?') => !s.is_empty() && s[0] != b'/' && glob_rec(&p[1..], &s[1..]),
        Some(&c) => !s.is_empty() && s[0] == c && glob_rec(&p[1..], &s[1..]),
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
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.csv", "a/b/export.csv"));
        assert!(!glob_match("*.csv", "a/b/export.csv.tmp"));
        assert!(glob_match("2026-*/*.log", "2026-03/access.log"));
        assert!(!glob_match("2026-*/*.log", "x/2026-03/access.log"));
        assert!(glob_match("**/*.ndjson", "a/b/c/e.ndjson"));
        assert!(glob_match("**/*.ndjson", "e.ndjson"));
        assert!(glob_match("access-????-??-??.log", "access-2026-03-17.log"));
    }
}
