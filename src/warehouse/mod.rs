//! The analytics PostgreSQL (SPEC §2.4, §3.10–§3.11): connections, the
//! isolation rule (never the transactional database, WH-1, LOAD-2), the
//! versioned schema (`sql/*.sql`), and the two commands that use it:
//! [`load`] and [`check`].

pub mod check;
pub mod copy;
pub mod load;
pub mod report;

use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, NoTls};

use crate::secret::{redact_url, Secret};

/// The schema files, applied in this order (`{schema}` = the target schema).
pub const DDL: &[(&str, &str)] = &[
    ("001_star.sql", include_str!("sql/001_star.sql")),
    ("002_aggregates.sql", include_str!("sql/002_aggregates.sql")),
    ("003_quality.sql", include_str!("sql/003_quality.sql")),
    (
        "004_aggregate_dates.sql",
        include_str!("sql/004_aggregate_dates.sql"),
    ),
];

/// Default schema of kvt's tables.
pub const DEFAULT_SCHEMA: &str = "kvt";

/// A schema name kvt accepts: lower-case letters, digits, `_`.
pub fn check_schema(s: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !s.is_empty()
            && s.len() <= 48
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "invalid schema name `{s}` (lower-case letters, digits and `_`, starting with a letter)"
    );
    // `<schema>_staging` is kvt's own scratch schema: another deployment's
    // `kvt_staging` must never be taken for it.
    anyhow::ensure!(
        !s.ends_with("_staging"),
        "invalid schema name `{s}`: names ending in `_staging` are kvt's staging schemas"
    );
    Ok(())
}

/// Is a failure worth another attempt (the server restarting, a dropped
/// connection), rather than a permanent error (bad data, bad SQL, rights)?
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        if let Some(pg) = c.downcast_ref::<tokio_postgres::Error>() {
            if pg.is_closed() {
                return true;
            }
            if let Some(db) = pg.as_db_error() {
                let code = db.code().code();
                // 08: connection exception; 57P01-3: admin shutdown, crash
                // shutdown, cannot connect now; 40001/40P01: retry a
                // transaction; 55P03: lock not available (lock_timeout).
                return code.starts_with("08")
                    || matches!(
                        code,
                        "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "55P03"
                    );
            }
            // No server answer: worth retrying when the connection failed
            // or broke, not when the request itself was wrong (invalid
            // configuration, TLS required…). tokio-postgres exposes its error
            // kind only through the message.
            let m = pg.to_string();
            return m.starts_with("error connecting to server")
                || m.starts_with("error communicating with the server");
        }
        c.downcast_ref::<ConnectTimeout>().is_some() || c.downcast_ref::<std::io::Error>().is_some()
    })
}

/// The server did not answer a connection within the timeout (transient).
#[derive(Debug, thiserror::Error)]
#[error("connecting to the {what} database {url}: timed out after 30 s")]
pub struct ConnectTimeout {
    what: String,
    url: String,
}

/// Connect (the connection runs on its own task).
pub async fn connect(url: &Secret, what: &str) -> anyhow::Result<Client> {
    let (client, conn) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_postgres::connect(url.expose(), NoTls),
    )
    .await
    .map_err(|_| ConnectTimeout {
        what: what.to_string(),
        url: redact_url(url.expose()),
    })?
    .with_context(|| {
        format!(
            "connecting to the {what} database {}",
            redact_url(url.expose())
        )
    })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("database connection ended: {e}");
        }
    });
    Ok(client)
}

/// What identifies a database: the cluster's system identifier (unique per
/// `initdb`) and the database name — not the URL, which can differ for the
/// same database (host names, ports behind a proxy).
pub async fn identity(client: &Client) -> anyhow::Result<(String, String)> {
    let row = client
        .query_one(
            "SELECT (SELECT system_identifier FROM pg_control_system())::text, current_database()::text",
            &[],
        )
        .await
        .context("reading the database identity (pg_control_system)")?;
    Ok((row.get(0), row.get(1)))
}

/// Refuse to go on when the warehouse is the transactional database (WH-1).
pub async fn ensure_isolated(warehouse: &Client, oltp_url: Option<&Secret>) -> anyhow::Result<()> {
    let Some(oltp_url) = oltp_url else {
        return Ok(());
    };
    let oltp = connect(oltp_url, "transactional").await?;
    let (w, o) = (identity(warehouse).await?, identity(&oltp).await?);
    anyhow::ensure!(
        w != o,
        "refusing to run: the warehouse (KVT_WAREHOUSE_URL) is the transactional database (KVT_OLTP_URL): cluster {} database `{}`. Analytics must never run on the transactional PostgreSQL (WH-1)",
        w.0,
        w.1
    );
    Ok(())
}

/// Create the schema and apply the DDL files not yet applied (recorded in
/// `<schema>.schema_migrations` with their SHA-256). The files are
/// idempotent; a file changed since it was applied is applied again.
pub async fn migrate(client: &Client, schema: &str) -> anyhow::Result<Vec<String>> {
    check_schema(schema)?;
    // A reserved word (`user`, `order`…) would need quotes everywhere.
    let plain: bool = client
        .query_one("SELECT quote_ident($1) = $1", &[&schema])
        .await?
        .get(0);
    anyhow::ensure!(
        plain,
        "invalid schema name `{schema}`: an SQL keyword; choose another name"
    );
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                 name text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
             COMMENT ON TABLE {schema}.schema_migrations IS
                 'Fichiers de schéma de kvt appliqués (nom, SHA-256, date) : un fichier modifié est réappliqué.';"
        ))
        .await
        .with_context(|| format!("creating schema {schema}"))?;
    let mut applied = Vec::new();
    for (name, sql) in DDL {
        let sha = hex::encode(Sha256::digest(sql.as_bytes()));
        let done = client
            .query_opt(
                &format!("SELECT sha256 FROM {schema}.schema_migrations WHERE name = $1"),
                &[name],
            )
            .await?
            .map(|r| r.get::<_, String>(0));
        if done.as_deref() == Some(sha.as_str()) {
            continue;
        }
        client
            .batch_execute(&sql.replace("{schema}", schema))
            .await
            .with_context(|| format!("applying {name}"))?;
        client
            .execute(
                &format!(
                    "INSERT INTO {schema}.schema_migrations (name, sha256) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()"
                ),
                &[name, &sha],
            )
            .await?;
        applied.push((*name).to_string());
    }
    Ok(applied)
}

/// Run `f` up to `1 + retries` times while it fails with a transient error,
/// waiting `delay`, then twice as long, between attempts.
pub async fn with_retries<T, F, Fut>(
    retries: u32,
    delay: Duration,
    what: &str,
    mut f: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut wait = delay;
    for attempt in 0..=retries {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < retries && is_transient(&e) => {
                tracing::warn!(
                    attempt = attempt + 1,
                    "{what} failed ({}); retrying in {wait:?}",
                    crate::run::error_chain(&e)
                );
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last attempt returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_retried_and_mistakes_are_not() {
        let config = "host=127.0.0.1 port=notaport"
            .parse::<tokio_postgres::Config>()
            .unwrap_err();
        assert!(!is_transient(
            &anyhow::Error::new(config).context("connecting")
        ));
        let timeout = ConnectTimeout {
            what: "warehouse".into(),
            url: "postgres://x@h/db".into(),
        };
        assert!(is_transient(&anyhow::Error::new(timeout)));
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(is_transient(&anyhow::Error::new(io).context("copying")));
        assert!(!is_transient(&anyhow::anyhow!("bad SQL")));
    }

    #[test]
    fn schema_names() {
        assert!(check_schema("kvt").is_ok());
        assert!(check_schema("kvt_2026").is_ok());
        for bad in [
            "",
            "Kvt",
            "1kvt",
            "kvt; drop table x",
            "a-b",
            "kvt.x",
            "kvt_staging",
        ] {
            assert!(check_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ddl_uses_the_schema_placeholder_only() {
        for (name, sql) in DDL {
            assert!(sql.contains("{schema}."), "{name}");
            assert!(!sql.contains(" kvt."), "{name} hard-codes the schema");
        }
    }
}
