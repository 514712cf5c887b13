//! One run at a time per command and name (INGEST-DRIVE-8, OPS-6).
//!
//! The lock is an object in the lake, created only if absent (`PutMode::Create`),
//! so it also holds between scheduler workers on different hosts sharing an S3
//! lake. A lock left by a crashed run is taken over when its process is gone
//! from this host, or when it is older than the TTL.
//!
//! Taking over is atomic on every backend, including local files (which have
//! no conditional update): the contenders race to *create* a marker named
//! after the stale holder (`<lock>.takeover/<holder hash>`); only the winner
//! replaces the lock, after checking it still holds the stale holder. A
//! contender that read the stale lock late finds the marker and backs off,
//! so it can never delete or overwrite the winner's lock.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{layout, Key, Store, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    pub acquired_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another `kvt {command}` run for `{name}` holds the lock {key} (run {}, pid {} on {}, since {}); at most one run at a time", .holder.run_id, .holder.pid, .holder.host, .holder.acquired_at)]
    Held {
        command: String,
        name: String,
        key: String,
        holder: LockInfo,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A held run lock. Call [`RunLock::release`] when done.
#[derive(Debug)]
pub struct RunLock {
    store: Store,
    key: Key,
    info: LockInfo,
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string())
}

fn process_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Is a lock held by `holder` stale at `now`?
pub fn is_stale(holder: &LockInfo, now: DateTime<Utc>, ttl: Duration, this_host: &str) -> bool {
    if holder.host == this_host && holder.pid != std::process::id() && !process_alive(holder.pid) {
        return true;
    }
    let age = now.signed_duration_since(holder.acquired_at);
    age.to_std().map(|a| a > ttl).unwrap_or(false)
}

/// A stable name for one holder (the takeover marker).
fn holder_id(h: &LockInfo) -> String {
    let text = serde_json::to_string(h).unwrap_or_default();
    hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())[..16])
}

impl RunLock {
    /// Take the lock of `command` on `name`, or fail with [`LockError::Held`].
    pub async fn acquire(
        store: &Store,
        command: &str,
        name: &str,
        run_id: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<RunLock, LockError> {
        let key = layout::lock(command, name);
        let info = LockInfo {
            run_id: run_id.to_string(),
            host: hostname(),
            pid: std::process::id(),
            acquired_at: now,
        };
        let body = Bytes::from(serde_json::to_vec(&info).unwrap_or_default());
        for _ in 0..3 {
            if store.create(&key, body.clone()).await? {
                return Ok(RunLock {
                    store: store.clone(),
                    key,
                    info,
                });
            }
            let holder = match store.get_opt(&key).await? {
                None => continue, // released meanwhile
                Some(b) => serde_json::from_slice::<LockInfo>(&b).unwrap_or(LockInfo {
                    run_id: "unreadable".into(),
                    host: String::new(),
                    pid: 0,
                    acquired_at: DateTime::<Utc>::MIN_UTC,
                }),
            };
            if is_stale(&holder, now, ttl, &info.host) {
                let marker = layout::lock_takeover(command, name, &holder_id(&holder));
                if store.create(&marker, body.clone()).await? {
                    // We won the takeover of this holder; replace it unless it left meanwhile.
                    let still = store
                        .get_opt(&key)
                        .await?
                        .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok());
                    if still.is_none() || still.as_ref() == Some(&holder) {
                        tracing::warn!(lock = %key, holder = ?holder, "taking over a stale run lock");
                        store.put(&key, body.clone(), &Default::default()).await?;
                        return Ok(RunLock {
                            store: store.clone(),
                            key,
                            info,
                        });
                    }
                }
                // Another run took it over first: it holds the lock now.
                continue;
            }
            return Err(LockError::Held {
                command: command.to_string(),
                name: name.to_string(),
                key: store.display_key(&key),
                holder,
            });
        }
        let holder = LockInfo {
            run_id: "unknown".into(),
            host: String::new(),
            pid: 0,
            acquired_at: now,
        };
        Err(LockError::Held {
            command: command.to_string(),
            name: name.to_string(),
            key: store.display_key(&key),
            holder,
        })
    }

    /// Release the lock (only if it is still ours).
    pub async fn release(self) {
        match self.store.get_opt(&self.key).await {
            Ok(Some(b))
                if serde_json::from_slice::<LockInfo>(&b).ok().as_ref() == Some(&self.info) =>
            {
                if let Err(e) = self.store.delete(&self.key).await {
                    tracing::warn!(lock = %self.key, error = %e, "could not release run lock");
                }
            }
            Ok(_) => tracing::warn!(lock = %self.key, "run lock was taken over by another run"),
            Err(e) => tracing::warn!(lock = %self.key, error = %e, "could not read run lock"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-03-17T06:00:00Z".parse().unwrap()
    }

    #[test]
    fn one_run_at_a_time_and_stale_takeover() {
        crate::testkit::block_on(async {
            let store = Store::open("memory://").unwrap();
            let ttl = Duration::from_secs(3600);
            let a = RunLock::acquire(&store, "ingest drive", "crm", "a", now(), ttl)
                .await
                .unwrap();
            let err = RunLock::acquire(&store, "ingest drive", "crm", "b", now(), ttl)
                .await
                .unwrap_err();
            assert!(err.to_string().contains("at most one run"), "{err}");
            // Another source is independent.
            let c = RunLock::acquire(&store, "ingest drive", "kyc", "c", now(), ttl)
                .await
                .unwrap();
            // After the TTL the lock is stale.
            let later = now() + chrono::Duration::hours(2);
            let d = RunLock::acquire(&store, "ingest drive", "crm", "d", later, ttl)
                .await
                .unwrap();
            a.release().await; // taken over: must not delete d's lock
            assert!(
                RunLock::acquire(&store, "ingest drive", "crm", "e", later, ttl)
                    .await
                    .is_err()
            );
            d.release().await;
            c.release().await;
            RunLock::acquire(&store, "ingest drive", "crm", "f", later, ttl)
                .await
                .unwrap();
        });
    }

    /// Regression (issue 7): two runs taking over one stale lock at once must
    /// not both end up holding it (delete-then-create let the slower one
    /// delete the winner's lock).
    #[test]
    fn stale_takeover_has_one_winner() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for round in 0..20 {
                let store = Store::open("memory://").unwrap();
                let ttl = Duration::from_secs(60);
                let old = RunLock::acquire(&store, "silver", "crm", "old", now(), ttl)
                    .await
                    .unwrap();
                std::mem::forget(old); // crashed: never released
                let later = now() + chrono::Duration::hours(1);
                let tasks: Vec<_> = (0..8)
                    .map(|i| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            RunLock::acquire(&store, "silver", "crm", &format!("r{i}"), later, ttl)
                                .await
                        })
                    })
                    .collect();
                let mut winners = Vec::new();
                for t in tasks {
                    if let Ok(l) = t.await.unwrap() {
                        winners.push(l);
                    }
                }
                assert_eq!(winners.len(), 1, "round {round}");
                // The winner's lock is the one in the lake.
                let held: LockInfo = serde_json::from_slice(
                    &store.get(&layout::lock("silver", "crm")).await.unwrap(),
                )
                .unwrap();
                assert_eq!(held, winners[0].info);
            }
        });
    }

    #[test]
    fn dead_process_on_this_host_is_stale() {
        let holder = LockInfo {
            run_id: "x".into(),
            host: "h".into(),
            pid: 999_999_999,
            acquired_at: now(),
        };
        assert!(is_stale(&holder, now(), Duration::from_secs(3600), "h"));
        assert!(!is_stale(
            &holder,
            now(),
            Duration::from_secs(3600),
            "other"
        ));
    }
}
