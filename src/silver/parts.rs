//! Silver partitions: Parquet parts plus a `_parts.json` commit record.
//!
//! ```text
//! silver/<table>/<col>=<value>[/<col>=<value>]/part-<origin>-<sha256[..12]>.parquet
//! silver/<table>/<partition>/_parts.json      the list of current parts (the commit point)
//! ```
//!
//! A partition is named by its path under `silver/`: `<table>/<col>=<value>…`.
//!
//! Replacing a partition writes its new parts (names derived from their content,
//! so they never overwrite a current part), then `_parts.json` in one atomic PUT,
//! then deletes parts that are no longer listed. A reader that follows
//! `_parts.json` always sees a whole partition, old or new; the same input gives
//! the same parts, bytes and names.

use bytes::Bytes;
use polars::polars_utils::compression::ZstdLevel;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Key, Metadata, Store, StoreError};

/// Rows per Parquet part (memory bound of the writer).
pub const PART_ROWS: usize = 1_000_000;
/// Rows per row group inside a part.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

pub const PARTS_FILE: &str = "_parts.json";

/// Encode a DataFrame as Parquet (zstd level 1: faster than level 3 for the same size on dictionary-encoded columns; full statistics, fixed row groups).
pub fn to_parquet(df: &mut DataFrame) -> PolarsResult<Vec<u8>> {
    df.rechunk_mut();
    let mut buf = Vec::new();
    {
        let mut w = ParquetWriter::new(&mut buf)
            .with_compression(ParquetCompression::Zstd(Some(ZstdLevel::try_new(1)?)))
            .with_statistics(StatisticsOptions::full())
            .batched(df.schema())?;
        let mut off = 0;
        while off < df.height() {
            w.write_batch(&df.slice(off as i64, ROW_GROUP_ROWS))?;
            off += ROW_GROUP_ROWS;
        }
        w.finish()?;
    }
    Ok(buf)
}

/// Decode Parquet bytes.
pub fn from_parquet(bytes: Bytes) -> PolarsResult<DataFrame> {
    ParquetReader::new(std::io::Cursor::new(bytes))
        .set_rechunk(true)
        .finish()
}

/// One part of a committed partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Part {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// `_parts.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PartsFile {
    pub table: String,
    pub partition: String,
    pub rows: u64,
    pub parts: Vec<Part>,
}

/// `silver/<table>/<partition…>` of a partition path.
pub fn partition_prefix(path: &str) -> Key {
    Key::new(format!("silver/{path}"))
}

/// Write one part (before the commit); returns its description. The name
/// depends on the content and on the object it came from, never on the run.
pub async fn write_part(
    store: &Store,
    path: &str,
    origin: &str,
    seq: usize,
    rows: u64,
    bytes: Vec<u8>,
) -> Result<Part, StoreError> {
    let sha = hex::encode(Sha256::digest(&bytes));
    let tag = hex::encode(&Sha256::digest(format!("{origin}#{seq}").as_bytes())[..4]);
    let name = format!("part-{tag}-{}.parquet", &sha[..12]);
    let key = Key::new(format!("{}/{name}", partition_prefix(path)));
    let n = bytes.len() as u64;
    store
        .put(&key, Bytes::from(bytes), &Metadata::new())
        .await?;
    Ok(Part {
        name,
        rows,
        bytes: n,
        sha256: sha,
    })
}

/// Make `parts` the content of the partition: commit record, then cleanup.
pub async fn commit_partition(
    store: &Store,
    path: &str,
    parts: Vec<Part>,
) -> Result<PartsFile, StoreError> {
    let prefix = partition_prefix(path);
    let (table, partition) = path.split_once('/').unwrap_or((path, ""));
    let record = PartsFile {
        table: table.to_string(),
        partition: partition.to_string(),
        rows: parts.iter().map(|p| p.rows).sum(),
        parts,
    };
    let body = serde_json::to_vec_pretty(&record).unwrap_or_default();
    store
        .put(
            &Key::new(format!("{prefix}/{PARTS_FILE}")),
            Bytes::from(body),
            &Metadata::new(),
        )
        .await?;
    for obj in store.list(&prefix).await? {
        let name = obj.key.as_str().rsplit('/').next().unwrap_or_default();
        if name != PARTS_FILE && !record.parts.iter().any(|p| p.name == name) {
            store.delete(&obj.key).await?;
        }
    }
    Ok(record)
}

/// Remove a partition entirely (its commit record first).
pub async fn drop_partition(store: &Store, path: &str) -> Result<(), StoreError> {
    let prefix = partition_prefix(path);
    store
        .delete(&Key::new(format!("{prefix}/{PARTS_FILE}")))
        .await?;
    for obj in store.list(&prefix).await? {
        store.delete(&obj.key).await?;
    }
    Ok(())
}

/// The committed partitions of a table (those with a `_parts.json`), sorted.
pub async fn list_partitions(store: &Store, table: &str) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = store
        .list(&Key::new(format!("silver/{table}")))
        .await?
        .into_iter()
        .filter_map(|o| {
            let rel = o.key.as_str().strip_prefix("silver/")?;
            rel.strip_suffix(&format!("/{PARTS_FILE}"))
                .map(str::to_string)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Read a committed partition back (all parts, in order).
pub async fn read_partition(store: &Store, path: &str) -> anyhow::Result<Option<DataFrame>> {
    let prefix = partition_prefix(path);
    let Some(rec) = store
        .get_opt(&Key::new(format!("{prefix}/{PARTS_FILE}")))
        .await?
    else {
        return Ok(None);
    };
    let rec: PartsFile = serde_json::from_slice(&rec)?;
    let mut out: Option<DataFrame> = None;
    for p in rec.parts {
        let df = from_parquet(store.get(&Key::new(format!("{prefix}/{}", p.name))).await?)?;
        out = Some(match out {
            None => df,
            Some(mut acc) => {
                acc.vstack_mut(&df)?;
                acc
            }
        });
    }
    Ok(out)
}

/// Render a partition path from (column, value) pairs: `a=1/b=x`.
pub fn partition_path(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", sanitize_value(v)))
        .collect::<Vec<_>>()
        .join("/")
}

/// Partition values become path segments: keep them readable and safe.
fn sanitize_value(v: &str) -> String {
    if v.is_empty() {
        return "__null__".into();
    }
    v.chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
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

    fn df() -> DataFrame {
        DataFrame::new(
            3,
            vec![
                Column::new("a".into(), &[Some(1i64), None, Some(3)]),
                Column::new("s".into(), &[Some("x"), Some("y"), None]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn parquet_round_trip_is_deterministic() {
        let a = to_parquet(&mut df()).unwrap();
        let b = to_parquet(&mut df()).unwrap();
        assert_eq!(a, b, "same frame, same bytes");
        let back = from_parquet(Bytes::from(a)).unwrap();
        assert!(back.equals_missing(&df()));
    }

    #[test]
    fn replace_then_read_then_drop() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = Store::open("memory://").unwrap();
            let part = format!("t/{}", partition_path(&[("log_date", "2026-03-17")]));
            let pq = |mut d: DataFrame| to_parquet(&mut d).unwrap();
            let p1 = write_part(&store, &part, "a", 0, 3, pq(df()))
                .await
                .unwrap();
            commit_partition(&store, &part, vec![p1.clone()])
                .await
                .unwrap();
            // A new version with two parts replaces it; the old part is gone.
            let mut d2 = df();
            d2.vstack_mut(&df()).unwrap();
            let q1 = write_part(&store, &part, "a", 0, 6, pq(d2)).await.unwrap();
            let q2 = write_part(&store, &part, "b", 0, 3, pq(df()))
                .await
                .unwrap();
            let rec = commit_partition(&store, &part, vec![q1, q2]).await.unwrap();
            assert_eq!((rec.table.as_str(), rec.rows), ("t", 9));
            let names: Vec<String> = store
                .list(&partition_prefix(&part))
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.key.as_str().rsplit('/').next().unwrap().to_string())
                .collect();
            assert_eq!(names.len(), 3, "{names:?}");
            assert!(!names.contains(&p1.name), "{names:?}");
            let back = read_partition(&store, &part).await.unwrap().unwrap();
            assert_eq!(back.height(), 9);
            assert_eq!(
                list_partitions(&store, "t").await.unwrap(),
                vec![part.clone()]
            );
            drop_partition(&store, &part).await.unwrap();
            assert!(list_partitions(&store, "t").await.unwrap().is_empty());
        });
    }

    #[test]
    fn partition_paths() {
        assert_eq!(
            partition_path(&[("pays", "FR"), ("mois", "2026-03")]),
            "pays=FR/mois=2026-03"
        );
        assert_eq!(partition_path(&[("pays", "")]), "pays=__null__");
        assert_eq!(partition_path(&[("n", "a/b c")]), "n=a_b_c");
    }
}
