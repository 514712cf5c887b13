//! `kvt load`: every gold table into the analytics PostgreSQL (LOAD-1..8).
//!
//! 1. Refuse the transactional database (WH-1): the warehouse and the OLTP
//!    database are compared by cluster system identifier and name.
//! 2. Apply the versioned schema (`sql/*.sql`).
//! 3. Build each gold table complete in `<schema>_staging.<table>`: COPY,
//!    then its keys and indexes, then ANALYZE; several tables at a time over
//!    a small pool of connections (LOAD-3).
//!    The live schema's foreign keys are added between the staging tables
//!    (validated there, outside the switch).
//! 4. One transaction switches everything (LOAD-4): the schema's foreign
//!    keys are dropped, every live table replaced by its staging table
//!    (`DROP` + `ALTER TABLE … SET SCHEMA`, keeping the table's comment and
//!    privileges; its foreign keys move with it), and the load
//!    recorded in `<schema>.load_runs`. Dashboards see yesterday's tables
//!    until the commit, then today's: never a half-loaded or missing table;
//!    a failure anywhere leaves yesterday's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures::SinkExt;
use polars::prelude::LazyFrame;
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
    /// Milliseconds each table's COPY into staging took (rows only, before
    /// its keys and indexes are built).
    pub table_copy_ms: Vec<(String, u64)>,
    pub rows: u64,
    pub cleaned: Cleaned,
    pub copy_ms: u64,
    pub swap_ms: u64,
    pub attempts: u32,
    pub migrations: Vec<String>,
}

/// Build `<schema>_staging.<table>` complete: same columns, defaults, checks
/// and column comments as the live table, the rows (COPY), then its primary
/// key, unique constraints and indexes (built once, after the rows), then
/// statistics. Only foreign keys are left to the swap. One transaction from
/// `CREATE TABLE` to the last index: on a server with `wal_level = minimal`
/// the rows skip the write-ahead log.
async fn copy_table(
    client: &Client,
    schema: &str,
    table: &str,
    lf: LazyFrame,
) -> anyhow::Result<(Cleaned, Duration, u64)> {
    let df = Arc::new(
        tokio::task::spawn_blocking(move || lf.collect())
            .await?
            .with_context(|| format!("reading gold table {table}"))?,
    );
    let started = Instant::now();
    let live = format!("{schema}.{table}");
    let staging = format!("{schema}_staging.{table}");
    client
        .batch_execute(&format!(
            "BEGIN;
             DROP TABLE IF EXISTS {staging};
             CREATE TABLE {staging} (LIKE {live} INCLUDING DEFAULTS INCLUDING CONSTRAINTS
               INCLUDING COMMENTS INCLUDING STORAGE);"
        ))
        .await
        .with_context(|| format!("creating {staging} (does {live} exist?)"))?;
    // The target type of every column, in the frame's order.
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a WHERE a.attrelid = $1::text::regclass AND a.attnum > 0
               AND NOT a.attisdropped",
            &[&staging],
        )
        .await?;
    let pg_types: std::collections::HashMap<String, String> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut columns = Vec::new();
    let mut types = Vec::new();
    for c in df.get_column_names() {
        let ty = pg_types.get(c.as_str()).with_context(|| {
            format!("gold column {c} has no column in {live} (a migration is missing)")
        })?;
        types.push(
            copy::PgType::parse(ty).with_context(|| {
                format!("{live}.{c} has type {ty}, which kvt load does not write")
            })?,
        );
        columns.push(format!("\"{c}\""));
    }
    let types = Arc::new(types);
    let sink = client
        .copy_in(&format!(
            "COPY {staging} ({}) FROM STDIN (FORMAT binary)",
            columns.join(", ")
        ))
        .await
        .with_context(|| format!("starting COPY into {staging}"))?;
    futures::pin_mut!(sink);
    sink.send(Bytes::from_static(copy::HEADER))
        .await
        .with_context(|| format!("starting COPY into {staging}"))?;
    let mut cleaned = Cleaned::default();
    let mut from = 0;
    while from < df.height() {
        let to = (from + CHUNK_ROWS).min(df.height());
        let (frame, types) = (Arc::clone(&df), Arc::clone(&types));
        let (bytes, c) =
            tokio::task::spawn_blocking(move || copy::encode(&frame, &types, from, to))
                .await?
                .with_context(|| format!("encoding rows {from}..{to} of {table}"))?;
        cleaned += c;
        sink.send(Bytes::from(bytes))
            .await
            .with_context(|| format!("copying rows {from}..{to} into {staging}"))?;
        from = to;
    }
    sink.send(Bytes::from_static(copy::TRAILER))
        .await
        .with_context(|| format!("finishing COPY into {staging}"))?;
    sink.finish()
        .await
        .with_context(|| format!("finishing COPY into {staging}"))?;

    let copied = started.elapsed();
    // Keys and indexes of the live table, recreated on the staging one.
    let keys = client
        .query(
            "SELECT quote_ident(c.conname), pg_get_constraintdef(c.oid)
             FROM pg_constraint c WHERE c.conrelid = $1::text::regclass AND c.contype IN ('p', 'u')
             ORDER BY c.contype, c.conname",
            &[&live],
        )
        .await?;
    for k in &keys {
        let (name, def): (String, String) = (k.get(0), k.get(1));
        client
            .batch_execute(&format!(
                "ALTER TABLE {staging} ADD CONSTRAINT {name} {def}"
            ))
            .await
            .with_context(|| format!("key {name} of {live} on the new rows"))?;
    }
    let indexes = client
        .query(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
             WHERE i.indrelid = $1::text::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
             ORDER BY 1",
            &[&live],
        )
        .await?;
    for i in &indexes {
        let def: String = i.get(0);
        let def = def.replacen(&format!(" ON {live} "), &format!(" ON {staging} "), 1);
        client
            .batch_execute(&def)
            .await
            .with_context(|| format!("index on {staging}: {def}"))?;
    }
    client
        .batch_execute(&format!("COMMIT; ANALYZE {staging}"))
        .await
        .with_context(|| format!("committing {staging}"))?;
    Ok((cleaned, copied, df.height() as u64))
}

/// A foreign key of the live schema.
struct ForeignKey {
    /// Table, referenced table and constraint as SQL identifiers (quoted
    /// when needed), unqualified (both tables are in the schema).
    table: String,
    referenced: String,
    name: String,
    /// `FOREIGN KEY (…) REFERENCES <schema>.<table>(…)` (qualified: load
    /// connections run with `search_path = pg_catalog`).
    def: String,
}

/// The foreign keys of `schema` that touch a loaded table (from or to it);
/// keys between other tables (the quality history) are never touched.
async fn foreign_keys(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
    loaded: &[String],
) -> anyhow::Result<Vec<ForeignKey>> {
    Ok(client
        .query(
            "SELECT quote_ident(t.relname), quote_ident(r.relname), quote_ident(c.conname),
                    pg_get_constraintdef(c.oid)
             FROM pg_constraint c
             JOIN pg_namespace n ON n.oid = c.connamespace
             JOIN pg_class t ON t.oid = c.conrelid
             JOIN pg_class r ON r.oid = c.confrelid
             WHERE c.contype = 'f' AND n.nspname = $1
             ORDER BY 1, 3",
            &[&schema],
        )
        .await?
        .iter()
        .map(|r| ForeignKey {
            table: r.get(0),
            referenced: r.get(1),
            name: r.get(2),
            def: r.get(3),
        })
        .filter(|k| loaded.contains(&k.table) || loaded.contains(&k.referenced))
        .collect())
}

/// The live schema's foreign keys between loaded tables, added to their
/// staging tables and validated there — before the swap, so that the swap
/// holds its locks for milliseconds. A constraint belongs to its table and
/// points at its referenced table by identity: both move to the live schema
/// together.
async fn staging_foreign_keys(
    client: &Client,
    schema: &str,
    loaded: &[String],
) -> anyhow::Result<()> {
    let live_ref = format!("REFERENCES {schema}.");
    for k in foreign_keys(client, schema, loaded).await? {
        if !(loaded.contains(&k.table) && loaded.contains(&k.referenced)) {
            continue;
        }
        anyhow::ensure!(
            k.def.contains(&live_ref),
            "unexpected definition of foreign key {}: {}",
            k.name,
            k.def
        );
        let def = k
            .def
            .replacen(&live_ref, &format!("REFERENCES {schema}_staging."), 1);
        client
            .batch_execute(&format!(
                "ALTER TABLE {schema}_staging.{} ADD CONSTRAINT {} {def}",
                k.table, k.name
            ))
            .await
            .with_context(|| {
                format!(
                    "foreign key {} of {schema}.{} on the new rows",
                    k.name, k.table
                )
            })?;
    }
    Ok(())
}

/// A connection for the load: names always printed schema-qualified.
async fn connect(url: &Secret) -> anyhow::Result<Client> {
    let client = super::connect(url, "warehouse").await?;
    client.batch_execute("SET search_path = pg_catalog").await?;
    Ok(client)
}

/// The switch: one transaction for every table. The foreign keys touching
/// the loaded tables are dropped, each live table is replaced by its
/// complete staging table (`DROP` + `SET SCHEMA`: no row is copied again, its
/// foreign keys come validated), its table comment and privileges are
/// carried over, and any other key is added back (validated). Readers wait
/// on the locks for this transaction, then see the new tables; a failure
/// rolls everything back to yesterday's.
async fn swap(
    client: &mut Client,
    schema: &str,
    tables: &[String],
    run_id: &str,
    total_rows: u64,
    cleaned: Cleaned,
) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    // A long dashboard query must not hold the switch (and everyone queued
    // behind its locks) indefinitely: give up after a while, and retry.
    tx.batch_execute("SET LOCAL lock_timeout = '60s'").await?;
    let fks = foreign_keys(&tx, schema, tables).await?;
    for k in &fks {
        tx.batch_execute(&format!(
            "ALTER TABLE {schema}.{} DROP CONSTRAINT {}",
            k.table, k.name
        ))
        .await?;
    }
    for t in tables {
        let live = format!("{schema}.{t}");
        // What belongs to the live table rather than to its definition.
        let comment: String = tx
            .query_one(
                "SELECT format('COMMENT ON TABLE %s IS %L', $1::text,
                               obj_description($1::text::regclass, 'pg_class'))",
                &[&live],
            )
            .await?
            .get(0);
        let grants: Vec<String> = tx
            .query(
                "SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $1::text,
                        CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
                        CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
                 FROM pg_class c, aclexplode(c.relacl) a
                 LEFT JOIN pg_roles r ON r.oid = a.grantee
                 WHERE c.oid = $1::text::regclass AND a.grantee <> c.relowner",
                &[&live],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.batch_execute(&format!(
            "DROP TABLE {live}; ALTER TABLE {schema}_staging.{t} SET SCHEMA {schema};"
        ))
        .await
        .with_context(|| {
            format!("replacing {live} (a view or another object outside kvt depending on it blocks the swap)")
        })?;
        tx.batch_execute(&comment).await?;
        for g in grants {
            tx.batch_execute(&g).await?;
        }
    }
    // Keys the staging tables did not bring (from or to a table not loaded).
    let carried = foreign_keys(&tx, schema, tables).await?;
    for k in &fks {
        if carried
            .iter()
            .any(|c| c.table == k.table && c.name == k.name)
        {
            continue;
        }
        tx.batch_execute(&format!(
            "ALTER TABLE {schema}.{} ADD CONSTRAINT {} {}",
            k.table, k.name, k.def
        ))
        .await
        .with_context(|| format!("checking foreign key {} of {schema}.{}", k.name, k.table))?;
    }
    tx.execute(
        &format!(
            "INSERT INTO {schema}.load_runs (run_id, loaded_at, tables, rows, nul_stripped, null_tokens)
             VALUES ($1, clock_timestamp(), $2, $3, $4, $5)
             ON CONFLICT (run_id) DO UPDATE SET loaded_at = clock_timestamp(), tables = EXCLUDED.tables,
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
    tables: &[(String, LazyFrame)],
    run_id: &str,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::default();
    let main = connect(&s.warehouse).await?;
    super::ensure_isolated(&main, s.oltp.as_ref()).await?;
    out.migrations = super::migrate(&main, &s.schema).await?;
    // A fresh staging schema: nothing a failed attempt left (tables, their
    // foreign keys) can get in the way, and nobody else owns it.
    main.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {0}_staging CASCADE; CREATE SCHEMA {0}_staging",
        s.schema
    ))
    .await
    .with_context(|| format!("recreating the staging schema {}_staging", s.schema))?;
    drop(main);

    // Copy, `parallel` tables at a time.
    let started = Instant::now();
    let queue = Arc::new(tokio::sync::Mutex::new(tables.to_vec()));
    // A JoinSet: when one table fails, dropping the set aborts the others
    // (a retry must not race with workers of the failed attempt).
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..s.parallel.max(1).min(tables.len().max(1)) {
        let queue = Arc::clone(&queue);
        let url = s.warehouse.clone();
        let schema = s.schema.clone();
        workers.spawn(async move {
            let client = connect(&url).await?;
            let mut cleaned = Cleaned::default();
            let mut timings = Vec::new();
            loop {
                let next = queue.lock().await.pop();
                let Some((t, lf)) = next else { break };
                let (c, copied, rows) = copy_table(&client, &schema, &t, lf).await?;
                cleaned += c;
                timings.push((t, copied.as_millis() as u64, rows));
            }
            anyhow::Ok((cleaned, timings))
        });
    }
    while let Some(done) = workers.join_next().await {
        let (cleaned, timings) = done??;
        out.cleaned += cleaned;
        for (t, ms, rows) in timings {
            out.table_copy_ms.push((t.clone(), ms));
            out.tables.push((t, rows));
        }
    }
    // In the order of the input (dimensions first), whatever finished first.
    out.tables
        .sort_by_key(|(t, _)| tables.iter().position(|(n, _)| n == t));
    out.table_copy_ms.sort();
    let loaded: Vec<String> = tables.iter().map(|(t, _)| t.clone()).collect();
    // A new connection: the first one would have idled through the copy.
    let mut main = connect(&s.warehouse).await?;
    staging_foreign_keys(&main, &s.schema, &loaded).await?;
    out.copy_ms = started.elapsed().as_millis() as u64;

    let started = Instant::now();
    out.rows = out.tables.iter().map(|(_, n)| n).sum();
    swap(&mut main, &s.schema, &loaded, run_id, out.rows, out.cleaned).await?;
    out.swap_ms = started.elapsed().as_millis() as u64;
    Ok(out)
}
