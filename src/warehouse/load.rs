//! `kvt load`: every gold table into the analytics PostgreSQL (LOAD-1..8).
//!
//! 1. Refuse the transactional database (WH-1): the warehouse and the OLTP
//!    database are compared by cluster system identifier and name.
//! 2. Apply the versioned schema (`sql/*.sql`).
//! 3. COPY each gold table into an unlogged staging table
//!    (`<schema>_staging.<table>`), several tables at a time over a small
//!    pool of connections (LOAD-3).
//! 4. One transaction switches everything (LOAD-4): the schema's foreign
//!    keys are dropped, every table truncated and refilled from its staging
//!    table (dimensions first), the foreign keys added back (validated in one
//!    pass each), and the load recorded in `<schema>.load_runs`. Dashboards
//!    see yesterday's tables until the commit, then today's: never a
//!    half-loaded or missing table; a failure anywhere leaves yesterday's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures::SinkExt;
use polars::prelude::DataFrame;
use tokio_postgres::Client;

use super::copy::{self, Cleaned};
use crate::secret::Secret;

/// Rows encoded and sent per COPY chunk.
const CHUNK_ROWS: usize = 64 * 1024;

/// A planned load.
pub struct Settings {
    pub warehouse: Secret,
    pub oltp: Option<Secret>,
    pub schema: String,
    /// Tables copied at the same time (connections).
    pub parallel: usize,
    pub retries: u32,
    pub retry_delay: Duration,
}

/// What a load did, per table and in total.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub tables: Vec<(String, u64)>,
    /// Milliseconds each table's COPY into staging took.
    pub table_copy_ms: Vec<(String, u64)>,
    pub rows: u64,
    pub cleaned: Cleaned,
    pub copy_ms: u64,
    pub swap_ms: u64,
    pub attempts: u32,
    pub migrations: Vec<String>,
}

/// COPY one frame into `<schema>_staging.<table>`.
async fn copy_table(
    client: &Client,
    schema: &str,
    table: &str,
    df: Arc<DataFrame>,
) -> anyhow::Result<Cleaned> {
    let staging = format!("{schema}_staging.{table}");
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {staging};
             CREATE UNLOGGED TABLE {staging} (LIKE {schema}.{table} INCLUDING DEFAULTS);"
        ))
        .await
        .with_context(|| format!("creating {staging} (does {schema}.{table} exist?)"))?;
    let columns: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect();
    let sink = client
        .copy_in(&format!(
            "COPY {staging} ({}) FROM STDIN",
            columns.join(", ")
        ))
        .await
        .with_context(|| format!("starting COPY into {staging}"))?;
    futures::pin_mut!(sink);
    let mut cleaned = Cleaned::default();
    let mut from = 0;
    while from < df.height() {
        let to = (from + CHUNK_ROWS).min(df.height());
        let frame = Arc::clone(&df);
        let (bytes, c) =
            tokio::task::spawn_blocking(move || copy::encode(&frame, from, to)).await??;
        cleaned += c;
        sink.send(Bytes::from(bytes))
            .await
            .with_context(|| format!("copying rows {from}..{to} into {staging}"))?;
        from = to;
    }
    sink.finish()
        .await
        .with_context(|| format!("finishing COPY into {staging}"))?;
    Ok(cleaned)
}

/// The switch: one transaction for every table.
async fn swap(
    client: &mut Client,
    schema: &str,
    tables: &[(String, Arc<DataFrame>)],
    run_id: &str,
    total_rows: u64,
    cleaned: Cleaned,
) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    let fks = tx
        .query(
            "SELECT c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid)
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE c.contype = 'f' AND n.nspname = $1
             ORDER BY 1, 2",
            &[&schema],
        )
        .await?;
    let fks: Vec<(String, String, String)> =
        fks.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    for (table, name, _) in &fks {
        tx.batch_execute(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
            .await?;
    }
    let names: Vec<String> = tables
        .iter()
        .map(|(t, _)| format!("{schema}.{t}"))
        .collect();
    tx.batch_execute(&format!("TRUNCATE {}", names.join(", ")))
        .await?;
    for (t, df) in tables {
        let cols: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect();
        let cols = cols.join(", ");
        tx.batch_execute(&format!(
            "INSERT INTO {schema}.{t} ({cols}) SELECT {cols} FROM {schema}_staging.{t}"
        ))
        .await
        .with_context(|| format!("filling {schema}.{t}"))?;
    }
    for (table, name, def) in &fks {
        tx.batch_execute(&format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"))
            .await
            .with_context(|| format!("checking foreign key {name} of {table}"))?;
    }
    tx.execute(
        &format!(
            "INSERT INTO {schema}.load_runs (run_id, loaded_at, tables, rows, nul_stripped, null_tokens)
             VALUES ($1, now(), $2, $3, $4, $5)
             ON CONFLICT (run_id) DO UPDATE SET loaded_at = now(), tables = EXCLUDED.tables,
               rows = EXCLUDED.rows, nul_stripped = EXCLUDED.nul_stripped, null_tokens = EXCLUDED.null_tokens"
        ),
        &[
            &run_id,
            &(tables.len() as i32),
            &(total_rows as i64),
            &(cleaned.nul_stripped as i64),
            &(cleaned.null_tokens as i64),
        ],
    )
    .await?;
    tx.commit().await.context("committing the load")?;
    Ok(())
}

/// One attempt: connect, check isolation, migrate, copy, swap.
pub async fn attempt(
    s: &Settings,
    tables: &[(String, Arc<DataFrame>)],
    run_id: &str,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::default();
    let mut main = super::connect(&s.warehouse, "warehouse").await?;
    super::ensure_isolated(&main, s.oltp.as_ref()).await?;
    out.migrations = super::migrate(&main, &s.schema).await?;
    main.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}_staging", s.schema))
        .await?;

    // Copy, `parallel` tables at a time.
    let started = Instant::now();
    let queue = Arc::new(tokio::sync::Mutex::new(tables.to_vec()));
    let mut workers = Vec::new();
    for _ in 0..s.parallel.max(1).min(tables.len().max(1)) {
        let queue = Arc::clone(&queue);
        let url = s.warehouse.clone();
        let schema = s.schema.clone();
        workers.push(tokio::spawn(async move {
            let client = super::connect(&url, "warehouse").await?;
            let mut cleaned = Cleaned::default();
            let mut timings = Vec::new();
            loop {
                let next = queue.lock().await.pop();
                let Some((t, df)) = next else { break };
                let table_started = Instant::now();
                cleaned += copy_table(&client, &schema, &t, df).await?;
                timings.push((t, table_started.elapsed().as_millis() as u64));
            }
            anyhow::Ok((cleaned, timings))
        }));
    }
    for w in workers {
        let (cleaned, timings) = w.await??;
        out.cleaned += cleaned;
        out.table_copy_ms.extend(timings);
    }
    out.table_copy_ms.sort();
    out.copy_ms = started.elapsed().as_millis() as u64;

    let started = Instant::now();
    out.rows = tables.iter().map(|(_, df)| df.height() as u64).sum();
    swap(&mut main, &s.schema, tables, run_id, out.rows, out.cleaned).await?;
    out.swap_ms = started.elapsed().as_millis() as u64;
    for (t, _) in tables {
        let _ = main
            .batch_execute(&format!("DROP TABLE IF EXISTS {}_staging.{t}", s.schema))
            .await;
    }
    out.tables = tables
        .iter()
        .map(|(t, df)| (t.clone(), df.height() as u64))
        .collect();
    Ok(out)
}
