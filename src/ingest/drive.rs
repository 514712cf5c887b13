//! `kvt ingest drive`: one code path for every batch source (INGEST-DRIVE-*).
//!
//! Four steps per attempt: **inventory** (recursive, paginated), **comparison**
//! with the bronze manifest, **download** (streamed into memory, never to local
//! disk) and **upload** with metadata. Only new or modified files move; a
//! modified file lands as a new version next to the old one. A failed attempt
//! is retried after a delay; files landed by earlier attempts are kept.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use md5::Md5;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::source::{FetchError, Refused, Source, SourceFile};
use crate::bronze::manifest::{Entry, Manifest};
use crate::config::{FileGlobs, SourceConfig};
use crate::store::{layout, Key, Store};

/// Why a file is transferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    New,
    Modified,
}

/// The comparison step's verdict for one inventory.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub transfer: Vec<(SourceFile, Change, Key)>,
    pub unchanged: usize,
    /// Present at the source but older than what bronze holds.
    pub older: usize,
    /// Left out by include/exclude patterns.
    pub filtered: usize,
    pub refused: Vec<Refused>,
}

/// Step 2, pure: compare an inventory with the manifest.
///
/// A file is identified by its path in the folder ([`Entry::identity`]): it is
/// transferred when the path is unknown (new) or when its modification time
/// is later than the latest landed version (modified, INGEST-DRIVE-5), even
/// if Drive gave it a new file id (deleted and uploaded again). Drive allows
/// several files with one path at once: the most recently modified is the
/// current version, the others count as older.
pub fn plan(
    files: Vec<SourceFile>,
    refused: Vec<Refused>,
    manifest: &Manifest,
    src: &SourceConfig,
    prefix: &str,
) -> Plan {
    let latest = manifest.latest();
    // Validated when the configuration was read.
    let globs = |p: &[String]| {
        FileGlobs::new(p).unwrap_or_else(|_| FileGlobs::new(&[]).expect("no pattern"))
    };
    let (include, exclude) = (globs(&src.include), globs(&src.exclude));
    let mut plan = Plan {
        refused,
        ..Default::default()
    };
    // One file per path: the most recently modified (then the greatest id).
    let mut by_rel: BTreeMap<String, SourceFile> = BTreeMap::new();
    for f in files {
        match by_rel.get(&f.rel) {
            Some(cur) if (&cur.modified, &cur.id) >= (&f.modified, &f.id) => plan.older += 1,
            Some(_) => {
                plan.older += 1;
                by_rel.insert(f.rel.clone(), f);
            }
            None => {
                by_rel.insert(f.rel.clone(), f);
            }
        }
    }
    for f in by_rel.into_values() {
        let included = include.is_empty() || include.is_match(&f.rel);
        let excluded = exclude.is_match(&f.rel);
        if !included || excluded {
            plan.filtered += 1;
            continue;
        }
        let change = match latest.get(f.rel.as_str()) {
            None => Change::New,
            Some(e) if f.modified > e.source_modified => Change::Modified,
            Some(e) if f.modified == e.source_modified => {
                plan.unchanged += 1;
                continue;
            }
            Some(_) => {
                plan.older += 1;
                continue;
            }
        };
        match layout::bronze_object(prefix, &f.rel, f.modified, None) {
            Ok(key) => plan.transfer.push((f, change, key)),
            Err(e) => plan.refused.push(Refused {
                path: f.rel,
                reason: e.to_string(),
            }),
        }
    }
    plan
}

/// A resolved `ingest drive` run.
pub struct Job {
    pub source_name: String,
    pub prefix: String,
    pub config: SourceConfig,
    pub source: Source,
    pub store: Store,
    pub retries: u32,
    pub retry_delay: Duration,
    pub dry_run: bool,
    pub run_id: String,
    pub concurrency: usize,
}

/// What the run did, across attempts.
#[derive(Debug, Default)]
pub struct Outcome {
    pub listed: usize,
    pub new: usize,
    pub modified: usize,
    pub unchanged: usize,
    pub older: usize,
    pub filtered: usize,
    pub refused: Vec<Refused>,
    pub transferred: usize,
    pub bytes: u64,
    pub attempts: u32,
    pub recovered: usize,
    pub error: Option<String>,
    pub landed: Vec<Key>,
    /// Path in the source folder and size of each file landed (lineage inputs).
    pub landed_files: Vec<(String, u64)>,
}

impl Outcome {
    pub fn summary_fields(&self, job: &Job) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("source".into(), job.source_name.clone().into());
        m.insert("origin".into(), job.source.origin().into());
        m.insert("dry_run".into(), job.dry_run.into());
        m.insert("files_listed".into(), self.listed.into());
        m.insert("files_new".into(), self.new.into());
        m.insert("files_modified".into(), self.modified.into());
        m.insert("files_skipped".into(), (self.unchanged + self.older).into());
        m.insert("files_filtered".into(), self.filtered.into());
        m.insert("files_refused".into(), self.refused.len().into());
        m.insert("files_transferred".into(), self.transferred.into());
        m.insert("files_recovered".into(), self.recovered.into());
        m.insert("bytes".into(), self.bytes.into());
        m.insert("attempts".into(), self.attempts.into());
        if !self.refused.is_empty() {
            let shown: Vec<_> = self.refused.iter().take(20).collect();
            m.insert("refused".into(), json!(shown));
        }
        m
    }
}

/// Progress callback: bytes added.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Run the job: attempts with retries, then the outcome.
pub async fn run(
    job: &Job,
    now: impl Fn() -> DateTime<Utc>,
    on_plan: impl Fn(&Plan),
    progress: Progress<'_>,
) -> Outcome {
    let mut out = Outcome::default();
    let total_attempts = job.retries + 1;
    for attempt in 1..=total_attempts {
        out.attempts = attempt;
        match attempt_once(job, &now, &on_plan, progress, &mut out).await {
            Ok(()) => {
                out.error = None;
                break;
            }
            Err(e) => {
                let final_attempt = attempt == total_attempts || !e.transient;
                out.error = Some(if final_attempt && attempt > 1 {
                    format!("{} (after {attempt} attempts)", e.message)
                } else {
                    e.message.clone()
                });
                if final_attempt {
                    if !e.transient {
                        tracing::error!("{}: not retrying (permanent error)", e.message);
                    }
                    break;
                }
                let delay = e
                    .retry_after
                    .map_or(job.retry_delay, |ra| ra.max(job.retry_delay));
                tracing::warn!(
                    attempt,
                    of = total_attempts,
                    "attempt failed: {}; retrying in {:?}",
                    e.message,
                    delay
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
    out
}

async fn attempt_once(
    job: &Job,
    now: &impl Fn() -> DateTime<Utc>,
    on_plan: &impl Fn(&Plan),
    progress: Progress<'_>,
    out: &mut Outcome,
) -> Result<(), FetchError> {
    // 1. Inventory.
    let (files, refused) = job.source.inventory().await?;
    let listed = files.len() + refused.len();
    // 2. Comparison.
    let mut manifest = Manifest::load(&job.store, &job.source_name)
        .await
        .map_err(|e| FetchError::permanent(e.to_string()))?;
    let plan = plan(files, refused, &manifest, &job.config, &job.prefix);
    on_plan(&plan);
    // Counts describe the latest inventory; transfers accumulate over attempts.
    out.listed = listed;
    out.unchanged = plan.unchanged;
    out.older = plan.older;
    out.filtered = plan.filtered;
    out.refused = plan.refused.clone();
    let new_now = plan.transfer.iter().filter(|t| t.1 == Change::New).count();
    let modified_now = plan.transfer.len() - new_now;
    if out.attempts == 1 {
        out.new = new_now;
        out.modified = modified_now;
    }
    for r in &plan.refused {
        tracing::warn!(path = %r.path, reason = %r.reason, "file refused");
    }
    if job.dry_run {
        for (f, change, key) in &plan.transfer {
            tracing::info!(path = %f.rel, ?change, key = %key, "would transfer");
        }
        return Ok(());
    }
    // 3 + 4. Download and upload, a few files at a time.
    let results: Vec<Result<(Entry, bool), FetchError>> = futures::stream::iter(
        plan.transfer
            .iter()
            .map(|(f, _, key)| transfer_one(job, f, key, now(), progress)),
    )
    .buffer_unordered(job.concurrency.max(1))
    .collect()
    .await;
    let mut landed = Vec::new();
    let mut first_err: Option<FetchError> = None;
    for r in results {
        match r {
            Ok((entry, recovered)) => {
                if recovered {
                    out.recovered += 1;
                } else {
                    out.transferred += 1;
                    out.bytes += entry.size;
                }
                out.landed.push(entry.key.clone());
                out.landed_files
                    .push((entry.source_path.clone(), entry.size));
                landed.push(entry);
            }
            Err(e) => {
                tracing::warn!("{}", e.message);
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    // Record what landed, even when some files failed: the next attempt skips them.
    manifest
        .append(&job.store, &job.source_name, landed)
        .await
        .map_err(|e| FetchError::transient(e.to_string()))?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Move one file. Returns its manifest entry, and whether it was already in
/// bronze (landed by a run that crashed before writing the manifest).
async fn transfer_one(
    job: &Job,
    f: &SourceFile,
    key: &Key,
    ingested_at: DateTime<Utc>,
    progress: Progress<'_>,
) -> Result<(Entry, bool), FetchError> {
    let mut entry = Entry {
        key: key.clone(),
        source: job.source_name.clone(),
        source_id: f.id.clone(),
        source_path: f.rel.clone(),
        source_modified: f.modified,
        origin: job.source.origin(),
        size: 0,
        sha256: String::new(),
        md5: f.md5.clone(),
        ingested_at,
        run_id: job.run_id.clone(),
        tracking: tracking(&job.config),
    };
    let store_err = |e: crate::store::StoreError| FetchError::transient(e.to_string());

    // An object already at this deterministic key with the expected size is a
    // previous landing whose manifest line was lost: record it, move nothing.
    if let Some((size, _)) = job.store.head(key).await.map_err(store_err)? {
        if Some(size) == f.size {
            let (size, sha) = job.store.sha256(key).await.map_err(store_err)?;
            entry.size = size;
            entry.sha256 = sha;
            tracing::info!(path = %f.rel, key = %key, "already in bronze, recorded");
            return Ok((entry, true));
        }
    }

    let mut stream = job.source.open(f).await?;
    let mut upload = job.store.upload(key, &entry.object_metadata());
    let mut sha = Sha256::new();
    let mut md5 = f.md5.as_ref().map(|_| Md5::new());
    let timeout = job.source.chunk_timeout();
    let result: Result<(), FetchError> = async {
        loop {
            let next = tokio::time::timeout(timeout, stream.next())
                .await
                .map_err(|_| {
                    FetchError::transient(format!(
                        "downloading {}: no data for {timeout:?}",
                        f.rel
                    ))
                })?;
            let Some(chunk) = next else { break };
            let chunk: Bytes = chunk?;
            sha.update(&chunk);
            if let Some(m) = md5.as_mut() {
                m.update(&chunk);
            }
            progress(chunk.len() as u64);
            upload.write(chunk).await.map_err(store_err)?;
        }
        let got = upload.written();
        if let Some(expected) = f.size {
            if got != expected {
                return Err(FetchError::transient(format!(
                    "downloading {}: got {got} bytes, the source announced {expected} (transfer cut short?)",
                    f.rel
                )));
            }
        }
        if let (Some(m), Some(expected)) = (md5.take(), &f.md5) {
            let got = hex::encode(m.finalize());
            if !got.eq_ignore_ascii_case(expected) {
                return Err(FetchError::transient(format!(
                    "downloading {}: MD5 {got} does not match the source's {expected}",
                    f.rel
                )));
            }
        }
        job.source.confirm(f).await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        upload.abort().await;
        return Err(e);
    }
    entry.size = upload.written();
    upload.finish().await.map_err(store_err)?;
    entry.sha256 = hex::encode(sha.finalize());
    tracing::info!(path = %f.rel, key = %key, bytes = entry.size, "landed");
    Ok((entry, false))
}

fn tracking(src: &SourceConfig) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("owner", &src.owner),
        ("description", &src.description),
        ("format", &src.format),
        ("schedule", &src.schedule),
    ] {
        if let Some(v) = v {
            m.insert(k.to_string(), v.clone());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, rel: &str, modified: &str) -> SourceFile {
        SourceFile {
            id: id.into(),
            rel: rel.into(),
            modified: modified.parse().unwrap(),
            size: Some(1),
            md5: None,
        }
    }

    fn src(include: &[&str], exclude: &[&str]) -> SourceConfig {
        SourceConfig {
            drive_folder_id: None,
            path: Some("/x".into()),
            prefix: None,
            schedule: None,
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            owner: None,
            description: None,
            format: None,
        }
    }

    fn landed(id: &str, modified: &str) -> Entry {
        Entry {
            key: Key::new(format!("bronze/p/{id}")),
            source: "s".into(),
            source_id: id.into(),
            source_path: id.into(),
            source_modified: modified.parse().unwrap(),
            origin: "o".into(),
            size: 1,
            sha256: String::new(),
            md5: None,
            ingested_at: modified.parse().unwrap(),
            run_id: "r".into(),
            tracking: BTreeMap::new(),
        }
    }

    #[test]
    fn only_new_and_more_recent_files_move() {
        let manifest = Manifest {
            entries: vec![
                landed("same.csv", "2026-03-16T06:00:00Z"),
                landed("changed.csv", "2026-03-16T06:00:00Z"),
                landed("rolled-back.csv", "2026-03-16T06:00:00Z"),
            ],
        };
        let files = vec![
            file("same.csv", "same.csv", "2026-03-16T06:00:00Z"),
            file("changed.csv", "changed.csv", "2026-03-17T06:00:00Z"),
            file("rolled-back.csv", "rolled-back.csv", "2026-03-15T06:00:00Z"),
            file("new.csv", "new.csv", "2026-03-17T06:00:00Z"),
            file("notes.txt", "notes.txt", "2026-03-17T06:00:00Z"),
        ];
        let p = plan(files, vec![], &manifest, &src(&["*.csv"], &[]), "p");
        let moved: Vec<_> = p
            .transfer
            .iter()
            .map(|(f, c, k)| (f.id.as_str(), *c, k.as_str()))
            .collect();
        assert_eq!(
            moved,
            [
                (
                    "changed.csv",
                    Change::Modified,
                    "bronze/p/changed.20260317T060000000Z.csv"
                ),
                (
                    "new.csv",
                    Change::New,
                    "bronze/p/new.20260317T060000000Z.csv"
                ),
            ]
        );
        assert_eq!((p.unchanged, p.older, p.filtered), (1, 1, 1));
    }

    /// Regression (issue 7): a file uploaded again under a new Drive id with
    /// the same path is a new version of the file, not a second file.
    #[test]
    fn same_path_new_drive_id_is_a_version_and_one_file_per_path_moves() {
        let manifest = Manifest {
            entries: vec![landed("a.csv", "2026-03-16T06:00:00Z")],
        };
        let files = vec![
            file("id-new", "a.csv", "2026-03-17T06:00:00Z"),
            file("id-b1", "b.csv", "2026-03-17T06:00:00Z"),
            file("id-b2", "b.csv", "2026-03-17T07:00:00Z"),
        ];
        let p = plan(files, vec![], &manifest, &src(&[], &[]), "p");
        let moved: Vec<_> = p
            .transfer
            .iter()
            .map(|(f, c, k)| (f.id.as_str(), *c, k.as_str()))
            .collect();
        assert_eq!(
            moved,
            [
                (
                    "id-new",
                    Change::Modified,
                    "bronze/p/a.20260317T060000000Z.csv"
                ),
                ("id-b2", Change::New, "bronze/p/b.20260317T070000000Z.csv"),
            ]
        );
        assert_eq!(p.older, 1);
    }
}
