//! What `ingest drive` needs from a batch source, whatever serves it.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use super::gdrive::Drive;
use super::localdir::LocalDir;

/// One file at the source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    /// Stable identity: Drive file id, or the relative path of a local file.
    pub id: String,
    /// Path relative to the source folder, `/`-separated.
    pub rel: String,
    pub modified: DateTime<Utc>,
    pub size: Option<u64>,
    /// MD5 announced by the source (Google Drive), checked after download.
    pub md5: Option<String>,
}

/// A file the inventory found but will not ingest, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Refused {
    pub path: String,
    pub reason: String,
}

/// A failure talking to the source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    pub message: String,
    /// Worth retrying (network, 429, 5xx, rate limits).
    pub transient: bool,
    /// Delay the source asked for (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl FetchError {
    pub fn transient(message: impl Into<String>) -> FetchError {
        FetchError {
            message: message.into(),
            transient: true,
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> FetchError {
        FetchError {
            message: message.into(),
            transient: false,
            retry_after: None,
        }
    }
}

/// A batch source: a Google Drive folder or a local directory.
pub enum Source {
    Drive(Box<Drive>),
    Local(LocalDir),
}

impl Source {
    /// Where the source lives, for manifests and lineage.
    pub fn origin(&self) -> String {
        match self {
            Source::Drive(d) => d.origin(),
            Source::Local(l) => l.origin(),
        }
    }

    /// Step 1: list every file of the folder and its subfolders.
    pub async fn inventory(&self) -> Result<(Vec<SourceFile>, Vec<Refused>), FetchError> {
        match self {
            Source::Drive(d) => d.inventory().await,
            Source::Local(l) => l.inventory().await,
        }
    }

    /// Step 3: stream one file's bytes (into memory, never to local disk).
    pub async fn open(
        &self,
        file: &SourceFile,
    ) -> Result<BoxStream<'static, Result<Bytes, FetchError>>, FetchError> {
        match self {
            Source::Drive(d) => d.open(file).await,
            Source::Local(l) => l.open(file).await,
        }
    }

    /// After a download: confirm the file did not change meanwhile.
    pub async fn confirm(&self, file: &SourceFile) -> Result<(), FetchError> {
        match self {
            Source::Drive(_) => Ok(()),
            Source::Local(l) => l.still_same(file).await,
        }
    }

    /// Idle timeout between two chunks of a download.
    pub fn chunk_timeout(&self) -> Duration {
        match self {
            Source::Drive(d) => d.timeout(),
            Source::Local(_) => Duration::from_secs(300),
        }
    }
}
