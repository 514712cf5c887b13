//! Silver: bronze → clean, typed, pseudonymised Parquet, one module per source.
//!
//! Each source module is pure (bytes in, columns and rejects out; "today" comes
//! in as a parameter). [`runner`] is the one I/O path they share: it picks the
//! bronze objects to read (new since the last run, `--date`, `--full-refresh`),
//! finds the partitions they touch, recomputes those partitions from every
//! bronze object that feeds them, writes them atomically ([`crate::table`]), writes
//! the rejects and the state, and reports.

pub mod columns;
pub mod crm;
pub mod csv;
pub mod dates;
pub mod events;
pub mod firebase;
pub mod intern;
pub mod kyc;
pub mod logformat;
pub mod logistics;
pub mod nginx;
pub mod patterns;
pub mod pseudo;
pub mod runner;
pub mod scrub;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A row that could not be read: where it is in bronze and why. Never the
/// row's content (it may hold personal data, which stays in bronze).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    pub bronze_key: String,
    /// 1-based line (or record) number in the bronze object.
    pub line: u64,
    pub field: String,
    pub reason: String,
}

/// Which bronze objects a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Objects landed since the last successful run (default).
    New,
    /// Objects ingested on this day, reprocessed even if seen before.
    Date(NaiveDate),
    /// Everything; partitions no longer produced are removed.
    Full,
}

/// One bronze object to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Input {
    pub key: String,
    /// Identity of the file at the source (a newer version supersedes an older one).
    pub source_id: String,
    pub ingested_at: DateTime<Utc>,
    pub size: u64,
}

/// What the last runs did with each bronze object (`silver/_state/<source>.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub objects: BTreeMap<String, ObjectState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ObjectState {
    pub source_id: String,
    pub partitions: BTreeSet<String>,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    /// A data verdict on the object (exit 1), repeated by every run until the
    /// object is superseded by a new version or accepted (OPS-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Who accepted the verdict (`--accept-rejects`): `run <id> at <time>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
    /// This version had no readable row: the previous version (this key) is
    /// kept in silver in its place until a newer version or an acceptance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keeps: Option<String>,
}

impl ObjectState {
    /// The verdict still standing (not accepted), if any.
    pub fn standing_verdict(&self) -> Option<&str> {
        self.verdict.as_deref().filter(|_| self.accepted.is_none())
    }
}

/// Counts of one object or one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Lines/records read.
    pub rows_in: u64,
    /// Rows kept (before deduplication across objects).
    pub rows_out: u64,
    /// Rows rejected (unreadable), with a reason in the rejects output.
    pub rejected: u64,
    /// Rows removed as duplicates.
    pub deduplicated: u64,
    /// Rows kept with a quality flag set.
    pub flagged: u64,
    /// Rows removed by a business filter (bots, test sessions).
    pub filtered: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.rows_in += o.rows_in;
        self.rows_out += o.rows_out;
        self.rejected += o.rejected;
        self.deduplicated += o.deduplicated;
        self.flagged += o.flagged;
        self.filtered += o.filtered;
    }
}

/// Days since 1970-01-01 (Parquet DATE).
pub fn epoch_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// The date of epoch days.
pub fn from_epoch_days(n: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::Duration::days(i64::from(n))
}

/// A string column holding the same value on every row, without materialising
/// `n` copies (`bronze_key` of a part, written once per row group by Parquet's
/// dictionary encoding).
pub fn const_str_column(name: &str, value: &str, n: usize) -> polars::prelude::Column {
    use polars::prelude::{AnyValue, Column, DataType, Scalar};
    Column::new_scalar(
        name.into(),
        Scalar::new(DataType::String, AnyValue::StringOwned(value.into())),
        n,
    )
}
