//! `kvt status`: read the run history and the locks of the lake, judge them
//! against the schedules (`status.rs`), print a table or JSON. A query, not a
//! step: no lock, no lineage, no run record. Exit 1 when a step is late or
//! failed or a lock is stale, 0 otherwise, 2 when the lake cannot be read.

use std::io::IsTerminal as _;

use crate::cli::StatusArgs;
use crate::history;
use crate::lock::LockInfo;
use crate::run::{error_chain, print_line, ExitStatus, RunContext};
use crate::status::{self, HeldLock, Status};
use crate::store::{layout, Store};

pub async fn run(args: &StatusArgs, ctx: &RunContext) -> ExitStatus {
    match gather(args, ctx).await {
        Ok(s) => {
            if args.json {
                print_line(&serde_json::to_string(&s).unwrap_or_default());
            } else {
                let table = status::render_table(&s);
                let text = if std::io::stdout().is_terminal() {
                    colour(&table)
                } else {
                    table
                };
                print!("{text}");
            }
            if s.attention {
                ExitStatus::Rejected
            } else {
                ExitStatus::Success
            }
        }
        Err(e) => {
            tracing::error!("kvt status: {}", error_chain(&e));
            eprintln!("kvt status: {}", error_chain(&e));
            ExitStatus::Error
        }
    }
}

async fn gather(args: &StatusArgs, ctx: &RunContext) -> anyhow::Result<Status> {
    status::validate(&ctx.config).map_err(anyhow::Error::msg)?;
    let store = ctx.open_store()?;
    let now = ctx.clock.now();
    let records = history::read_recent(&store, now, args.days).await?;
    let locks = read_locks(&store, now, ctx.lock_ttl).await?;
    let grace = match &ctx.config.schedule.grace {
        Some(g) => {
            crate::config::parse_duration(g).map_err(|m| anyhow::anyhow!("schedule.grace: {m}"))?
        }
        None => status::DEFAULT_GRACE,
    };
    Ok(status::judge(
        &status::expected_steps(&ctx.config),
        &records,
        locks,
        now,
        grace,
    ))
}

/// Every run lock of the lake (`_locks/<command>/<name>.lock`).
async fn read_locks(
    store: &Store,
    now: chrono::DateTime<chrono::Utc>,
    ttl: std::time::Duration,
) -> anyhow::Result<Vec<HeldLock>> {
    let mut out = Vec::new();
    for obj in store.list(&layout::locks()).await? {
        let Some((command, name)) = layout::parse_lock(&obj.key) else {
            continue;
        };
        // Released between the listing and the read: not held any more.
        let Some(bytes) = store.get_opt(&obj.key).await? else {
            continue;
        };
        match serde_json::from_slice::<LockInfo>(&bytes) {
            Ok(info) => out.push(HeldLock::new(command, name, info, now, ttl)),
            Err(e) => tracing::warn!(key = obj.key.as_str(), error = %e, "unreadable lock"),
        }
    }
    Ok(out)
}

/// Colour the state column on a terminal.
fn colour(table: &str) -> String {
    let mut out = table.to_string();
    for (word, code) in [
        ("  FAILED  ", "31"),
        ("  LATE  ", "31"),
        ("  RUNNING  ", "36"),
        ("  PENDING  ", "33"),
        ("  OK  ", "32"),
    ] {
        let trimmed = word.trim();
        out = out.replace(word, &format!("  \x1b[{code}m{trimmed}\x1b[0m  "));
    }
    out
}
