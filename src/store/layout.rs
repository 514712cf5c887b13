//! The only place that builds object keys. See `docs/data-layout.md`.
//!
//! ```text
//! bronze/<prefix>/<dir>/<stem>.<modified:%Y%m%dT%H%M%S%3fZ>.<ext>   one object per source file version
//! bronze/_manifests/<source>.jsonl                                one line per landed object
//! bronze/kafka/<topic>/event_date=YYYY-MM-DD/<topic>-<partition>-<first>-<last>.jsonl
//! _locks/<command>/<name>.lock                                    run locks (one run at a time)
//! _runs/date=YYYY-MM-DD/<job>/<HHMMSSmmm>-<run id>.json            run history (`kvt status`)
//! ```

use chrono::{DateTime, NaiveDate, Utc};

use super::Key;

/// Why a source file name cannot become a bronze key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeName {
    #[error("empty path")]
    Empty,
    #[error("absolute path")]
    Absolute,
    #[error("path segment `{0}` would escape the source prefix")]
    Escape(String),
    #[error("control character in name")]
    Control,
    #[error("backslash in name")]
    Backslash,
    #[error("empty path segment")]
    EmptySegment,
    #[error("name too long ({0} bytes)")]
    TooLong(usize),
    #[error("`#` in name (reserved for in-flight uploads)")]
    Hash,
}

/// Check that a source-relative path (`/`-separated) is safe to use under a prefix.
///
/// Refused: `..`/`.` segments, absolute paths, control characters (including
/// newline and NUL), backslashes, empty segments, `#` (the local store's staging
/// marker), and paths over 900 bytes.
pub fn check_relative_path(rel: &str) -> Result<(), UnsafeName> {
    if rel.is_empty() {
        return Err(UnsafeName::Empty);
    }
    if rel.len() > 900 {
        return Err(UnsafeName::TooLong(rel.len()));
    }
    if rel.starts_with('/') {
        return Err(UnsafeName::Absolute);
    }
    if rel.chars().any(char::is_control) {
        return Err(UnsafeName::Control);
    }
    if rel.contains('\\') {
        return Err(UnsafeName::Backslash);
    }
    if rel.contains('#') {
        return Err(UnsafeName::Hash);
    }
    // A drive letter (`C:`) is an absolute path on the machines that write these shares.
    if rel.len() >= 2 && rel.as_bytes()[1] == b':' && rel.as_bytes()[0].is_ascii_alphabetic() {
        return Err(UnsafeName::Absolute);
    }
    for seg in rel.split('/') {
        match seg {
            "" => return Err(UnsafeName::EmptySegment),
            "." | ".." => return Err(UnsafeName::Escape(seg.to_string())),
            _ => {}
        }
    }
    Ok(())
}

/// Version stamp of a source modification time, as used in bronze keys.
pub fn version_stamp(modified: DateTime<Utc>) -> String {
    modified.format("%Y%m%dT%H%M%S%3fZ").to_string()
}

/// Key of one version of a source file in bronze.
///
/// `bronze/<prefix>/<dir>/<stem>.<stamp>.<ext>`: every version of a file lands
/// next to the previous ones (full history), and the key depends only on the
/// file and its modification time, so re-landing the same version rewrites the
/// same object instead of creating a duplicate. `disambiguator` (a Drive file id)
/// is added when two distinct source files share one path.
pub fn bronze_object(
    prefix: &str,
    rel: &str,
    modified: DateTime<Utc>,
    disambiguator: Option<&str>,
) -> Result<Key, UnsafeName> {
    check_relative_path(rel)?;
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, rel),
    };
    // Split on the last dot, except for dot-files whose only dot is the first char.
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    };
    let mut file = stem.to_string();
    if let Some(d) = disambiguator {
        file.push('@');
        file.push_str(&sanitize_id(d));
    }
    file.push('.');
    file.push_str(&version_stamp(modified));
    if let Some(ext) = ext {
        file.push('.');
        file.push_str(ext);
    }
    let mut key = format!("bronze/{prefix}/");
    if let Some(d) = dir {
        key.push_str(d);
        key.push('/');
    }
    key.push_str(&file);
    Ok(Key::new(key))
}

/// The bronze prefix of a source (`bronze/<prefix>/`).
pub fn bronze_prefix(prefix: &str) -> Key {
    Key::new(format!("bronze/{prefix}"))
}

/// A silver table (`silver/<table>`), the dataset gold reads.
pub fn silver_table(name: &str) -> Key {
    table("silver", name)
}

/// A table of a zone: `<zone>/<table>`.
pub fn table(zone: &str, table: &str) -> Key {
    Key::new(format!("{zone}/{table}"))
}

/// A partition of a zone's table: `<zone>/<table>/<col>=<value>…` (the
/// partition path includes the table).
pub fn partition(zone: &str, path: &str) -> Key {
    Key::new(format!("{zone}/{path}"))
}

/// The commit record of a partition.
pub fn parts_file(zone: &str, path: &str) -> Key {
    Key::new(format!("{zone}/{path}/_parts.json"))
}

/// A Parquet part of a partition.
pub fn part(zone: &str, path: &str, name: &str) -> Key {
    Key::new(format!("{zone}/{path}/{name}"))
}

/// The state of a silver source (objects read, verdicts).
pub fn silver_state(source: &str) -> Key {
    Key::new(format!("silver/_state/{source}.json"))
}

/// The rejects of one bronze object read by a silver source.
pub fn silver_rejects(source: &str, bronze_key: &str) -> Key {
    Key::new(format!("silver/_rejects/{source}/{bronze_key}.jsonl"))
}

/// The manifest of a source: one JSON line per landed object.
pub fn bronze_manifest(source: &str) -> Key {
    Key::new(format!("bronze/_manifests/{source}.jsonl"))
}

/// The run records of one UTC day (`kvt status`, audit).
pub fn runs_day(day: NaiveDate) -> Key {
    Key::new(format!("_runs/date={day}"))
}

/// One run record: `_runs/date=YYYY-MM-DD/<job>/<HHMMSSmmm>-<run id>.json`
/// (the day and time the run ended, UTC).
pub fn run_record(ended: DateTime<Utc>, job: &str, run_id: &str) -> Key {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect::<String>()
    };
    Key::new(format!(
        "_runs/date={}/{}/{}-{}.json",
        ended.date_naive(),
        clean(job),
        ended.format("%H%M%S%3f"),
        clean(run_id)
    ))
}

/// The prefix of every run lock.
pub fn locks() -> Key {
    Key::new("_locks")
}

/// The command and name of a lock key (`_locks/silver-nginx/nginx.lock` →
/// `silver nginx`, `nginx`); `None` for anything else under `_locks/`.
pub fn parse_lock(key: &Key) -> Option<(String, String)> {
    let rest = key.as_str().strip_prefix("_locks/")?;
    let (command, file) = rest.split_once('/')?;
    let name = file.strip_suffix(".lock")?;
    if name.contains('/') {
        return None;
    }
    Some((command.replace('-', " "), name.to_string()))
}

/// The run lock of a command on one name (source, topic set…).
pub fn lock(command: &str, name: &str) -> Key {
    Key::new(format!("_locks/{}/{name}.lock", command.replace(' ', "-")))
}

/// The marker a run creates to take over the stale lock of `holder` (see `lock.rs`).
pub fn lock_takeover(command: &str, name: &str, holder: &str) -> Key {
    Key::new(format!(
        "_locks/{}/{name}.lock.takeover/{holder}",
        command.replace(' ', "-")
    ))
}

/// Prefix of the bronze objects of one Kafka topic.
pub fn kafka_topic_prefix(topic: &str) -> Key {
    Key::new(format!("bronze/kafka/{topic}"))
}

/// Bronze object holding the messages of one topic partition and event date,
/// offsets `first..=last` (offsets zero-padded to 20 digits so names sort).
pub fn kafka_object(topic: &str, date: NaiveDate, partition: i32, first: i64, last: i64) -> Key {
    Key::new(format!(
        "bronze/kafka/{topic}/event_date={date}/{topic}-{partition:03}-{first:020}-{last:020}.jsonl"
    ))
}

/// The parts of a Kafka object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaObject {
    pub topic: String,
    pub event_date: NaiveDate,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

/// Parse a key built by [`kafka_object`]; `None` for anything else.
pub fn parse_kafka_object(key: &Key) -> Option<KafkaObject> {
    let rest = key.as_str().strip_prefix("bronze/kafka/")?;
    let mut parts = rest.split('/');
    let topic = parts.next()?;
    let date = parts.next()?.strip_prefix("event_date=")?;
    let name = parts.next()?.strip_suffix(".jsonl")?;
    if parts.next().is_some() {
        return None;
    }
    let tail = name.strip_prefix(topic)?.strip_prefix('-')?;
    let mut nums = tail.split('-');
    let partition = nums.next()?.parse().ok()?;
    let first = nums.next()?.parse().ok()?;
    let last = nums.next()?.parse().ok()?;
    if nums.next().is_some() {
        return None;
    }
    Some(KafkaObject {
        topic: topic.to_string(),
        event_date: date.parse().ok()?,
        partition,
        first,
        last,
    })
}

fn sanitize_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 17, 6, 0, 5).unwrap() + chrono::Duration::milliseconds(42)
    }

    #[test]
    fn version_key_keeps_the_name_and_extension() {
        let k = bronze_object("crm_data", "exports/crm 2026-03-16.csv", t(), None).unwrap();
        assert_eq!(
            k.as_str(),
            "bronze/crm_data/exports/crm 2026-03-16.20260317T060005042Z.csv"
        );
        let k = bronze_object("nginx_data", "access.log.gz", t(), None).unwrap();
        assert_eq!(
            k.as_str(),
            "bronze/nginx_data/access.log.20260317T060005042Z.gz"
        );
        let k = bronze_object("x", "README", t(), Some("1Ab/c")).unwrap();
        assert_eq!(k.as_str(), "bronze/x/README@1Ab_c.20260317T060005042Z");
        let k = bronze_object("x", ".hidden", t(), None).unwrap();
        assert_eq!(k.as_str(), "bronze/x/.hidden.20260317T060005042Z");
    }

    #[test]
    fn unsafe_names_are_refused() {
        for (rel, want) in [
            ("../etc/passwd", UnsafeName::Escape("..".into())),
            ("a/../../b", UnsafeName::Escape("..".into())),
            ("./a", UnsafeName::Escape(".".into())),
            ("/etc/passwd", UnsafeName::Absolute),
            ("C:/x.csv", UnsafeName::Absolute),
            ("a\nb.csv", UnsafeName::Control),
            ("a\0b", UnsafeName::Control),
            ("a\u{1b}[31mred", UnsafeName::Control),
            ("a\\..\\b", UnsafeName::Backslash),
            ("a//b", UnsafeName::EmptySegment),
            ("a/", UnsafeName::EmptySegment),
            ("", UnsafeName::Empty),
            ("x#1", UnsafeName::Hash),
        ] {
            assert_eq!(check_relative_path(rel), Err(want), "{rel:?}");
            assert!(bronze_object("p", rel, t(), None).is_err());
        }
        assert!(check_relative_path("2026-03/événements été.ndjson").is_ok());
        assert!(check_relative_path("a..b/c...csv").is_ok());
    }

    #[test]
    fn kafka_keys_round_trip() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 17).unwrap();
        let k = kafka_object("payments", d, 3, 1000, 1999);
        assert_eq!(
            k.as_str(),
            "bronze/kafka/payments/event_date=2026-03-17/payments-003-00000000000000001000-00000000000000001999.jsonl"
        );
        let p = parse_kafka_object(&k).unwrap();
        assert_eq!(
            (p.topic.as_str(), p.event_date, p.partition, p.first, p.last),
            ("payments", d, 3, 1000, 1999)
        );
        // Topic names with dashes still parse.
        let k = kafka_object("kvt-it-1", d, 0, 5, 5);
        assert_eq!(parse_kafka_object(&k).unwrap().topic, "kvt-it-1");
        assert!(parse_kafka_object(&Key::new("bronze/kafka/payments/x.jsonl")).is_none());
        assert!(parse_kafka_object(&Key::new("bronze/crm_data/a.csv")).is_none());
    }

    #[test]
    fn manifest_and_lock_keys() {
        assert_eq!(
            bronze_manifest("crm").as_str(),
            "bronze/_manifests/crm.jsonl"
        );
        assert_eq!(
            lock("ingest drive", "crm").as_str(),
            "_locks/ingest-drive/crm.lock"
        );
    }
}
