//! The run history kept in the lake: one small JSON object per finished run,
//! under `_runs/date=YYYY-MM-DD/<job>/` (the UTC date the run ended), read by
//! `kvt status` and kept for audit (OPS-7). Writing it never fails a run.

use bytes::Bytes;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::store::{layout, Metadata, Store};

/// One finished run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// The OpenLineage job (`silver_nginx.nginx`).
    pub job: String,
    /// The command words (`silver nginx`).
    pub command: String,
    /// What it worked on (source, group, schema, fraud job); may be empty.
    pub name: String,
    pub run_id: String,
    /// `ok`, `rejected` (exit 1) or `error` (exit 2).
    pub status: String,
    pub exit_code: u8,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The command's summary fields (the one-line JSON summary, minus the fixed ones).
    #[serde(default)]
    pub summary: Map<String, Value>,
}

/// Commands whose runs are recorded: the scheduled ones. `kyc verify` and
/// `kyc serve` run on demand, thousands of times a day, and are not steps.
pub fn keeps_history(command: &str) -> bool {
    !matches!(command, "kyc verify" | "kyc serve")
}

/// Write one record (create-if-absent: a record is never overwritten).
pub async fn write(store: &Store, rec: &RunRecord) -> anyhow::Result<()> {
    let key = layout::run_record(rec.ended_at, &rec.job, &rec.run_id);
    let body = serde_json::to_vec(rec)?;
    store
        .put(&key, Bytes::from(body), &Metadata::default())
        .await?;
    Ok(())
}

/// The records of the runs that ended in the last `days` UTC days (today
/// included), oldest first. Unreadable records are skipped with a warning.
pub async fn read_recent(
    store: &Store,
    now: DateTime<Utc>,
    days: u32,
) -> anyhow::Result<Vec<RunRecord>> {
    let today = now.date_naive();
    let mut out = Vec::new();
    for back in (0..days.max(1)).rev() {
        let Some(day) = today.checked_sub_days(Days::new(back.into())) else {
            continue;
        };
        out.extend(read_day(store, day).await?);
    }
    out.sort_by(|a, b| a.ended_at.cmp(&b.ended_at).then(a.job.cmp(&b.job)));
    Ok(out)
}

async fn read_day(store: &Store, day: NaiveDate) -> anyhow::Result<Vec<RunRecord>> {
    let mut out = Vec::new();
    for obj in store.list(&layout::runs_day(day)).await? {
        if !obj.key.as_str().ends_with(".json") {
            continue;
        }
        let bytes = store.get(&obj.key).await?;
        match serde_json::from_slice::<RunRecord>(&bytes) {
            Ok(r) => out.push(r),
            Err(e) => {
                tracing::warn!(key = obj.key.as_str(), error = %e, "unreadable run record skipped")
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(job: &str, ended: &str) -> RunRecord {
        let t = DateTime::parse_from_rfc3339(ended)
            .unwrap()
            .with_timezone(&Utc);
        RunRecord {
            job: job.into(),
            command: "gold".into(),
            name: String::new(),
            run_id: "scheduled__2026-03-17T00:00:00+00:00".into(),
            status: "ok".into(),
            exit_code: 0,
            started_at: t,
            ended_at: t,
            duration_ms: 5,
            host: "h".into(),
            error: None,
            summary: Map::new(),
        }
    }

    #[tokio::test]
    async fn records_round_trip_by_day() {
        let store = Store::open("memory://").unwrap();
        write(&store, &rec("gold", "2026-03-16T23:59:00Z"))
            .await
            .unwrap();
        write(&store, &rec("gold", "2026-03-18T06:30:00Z"))
            .await
            .unwrap();
        write(&store, &rec("load", "2026-03-18T06:00:00Z"))
            .await
            .unwrap();
        store
            .put(
                &layout::run_record(
                    DateTime::parse_from_rfc3339("2026-03-18T07:00:00Z")
                        .unwrap()
                        .with_timezone(&Utc),
                    "check",
                    "x",
                ),
                Bytes::from_static(b"{not json"),
                &Metadata::default(),
            )
            .await
            .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-03-18T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let two = read_recent(&store, now, 2).await.unwrap();
        assert_eq!(
            two.iter().map(|r| r.job.as_str()).collect::<Vec<_>>(),
            ["load", "gold"]
        );
        assert_eq!(read_recent(&store, now, 3).await.unwrap().len(), 3);
        assert!(keeps_history("silver nginx") && !keeps_history("kyc verify"));
    }
}
