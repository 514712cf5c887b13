//! Partitioned Parquet tables of any zone (silver, gold, alerts): Parquet
//! parts plus a `_parts.json` commit record per partition.
//!
//! ```text
//! <zone>/<table>/<col>=<value>[/<col>=<value>]/part-<origin>-<sha256[..12]>.parquet
//! <zone>/<table>/<partition>/_parts.json      the list of current parts (the commit point)
//! <zone>/<table>/_parts.json                  the same, for an unpartitioned table
//! ```
//!
//! A partition is named by its path in its zone: `<table>/<col>=<value>…`
//! (or `<table>` alone). Keys are built by [`crate::store::layout`].
//!
//! Writing: [`Writer`] encodes frames as parts as they come (memory bounded
//! by one part), then [`Writer::commit`] makes each partition's parts its
//! content. Reading: [`scan`] gives a table as a polars `LazyFrame`, keeping
//! only the partitions a predicate on their `col=value` pairs accepts.
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

use std::collections::{BTreeMap, BTreeSet};

use crate::store::{layout, Metadata, Store, StoreError};

/// The zone a table lives in (the first segment of its keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Silver,
    Gold,
    Alerts,
}

impl Zone {
    pub fn prefix(self) -> &'static str {
        match self {
            Zone::Silver => "silver",
            Zone::Gold => "gold",
            Zone::Alerts => "alerts",
        }
    }
}

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

/// Write one part (before the commit); returns its description. The name
/// depends on the content and on the object it came from, never on the run.
pub async fn write_part(
    store: &Store,
    zone: Zone,
    path: &str,
    origin: &str,
    seq: usize,
    rows: u64,
    bytes: Vec<u8>,
) -> Result<Part, StoreError> {
    let sha = hex::encode(Sha256::digest(&bytes));
    let tag = hex::encode(&Sha256::digest(format!("{origin}#{seq}").as_bytes())[..4]);
    let name = format!("part-{tag}-{}.parquet", &sha[..12]);
    let key = layout::part(zone.prefix(), path, &name);
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
    zone: Zone,
    path: &str,
    parts: Vec<Part>,
) -> Result<PartsFile, StoreError> {
    let prefix = layout::partition(zone.prefix(), path);
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
            &layout::parts_file(zone.prefix(), path),
            Bytes::from(body),
            &Metadata::new(),
        )
        .await?;
    // Old parts of this partition only (not of partitions below it).
    for obj in store.list(&prefix).await? {
        let Some(name) = obj.key.as_str().strip_prefix(&format!("{prefix}/")) else {
            continue;
        };
        if !name.contains('/') && name != PARTS_FILE && !record.parts.iter().any(|p| p.name == name)
        {
            store.delete(&obj.key).await?;
        }
    }
    Ok(record)
}

/// Remove a partition entirely (its commit record first).
pub async fn drop_partition(store: &Store, zone: Zone, path: &str) -> Result<(), StoreError> {
    let prefix = layout::partition(zone.prefix(), path);
    store
        .delete(&layout::parts_file(zone.prefix(), path))
        .await?;
    for obj in store.list(&prefix).await? {
        let inside = obj
            .key
            .as_str()
            .strip_prefix(&format!("{prefix}/"))
            .is_some_and(|n| !n.contains('/'));
        if inside {
            store.delete(&obj.key).await?;
        }
    }
    Ok(())
}

/// The committed partitions of a table (those with a `_parts.json`), sorted.
pub async fn list_partitions(
    store: &Store,
    zone: Zone,
    table: &str,
) -> Result<Vec<String>, StoreError> {
    let zone_prefix = format!("{}/", zone.prefix());
    let mut out: Vec<String> = store
        .list(&layout::table(zone.prefix(), table))
        .await?
        .into_iter()
        .filter_map(|o| {
            let rel = o.key.as_str().strip_prefix(&zone_prefix)?;
            rel.strip_suffix(&format!("/{PARTS_FILE}"))
                .map(str::to_string)
        })
        .filter(|p| p == table || p.starts_with(&format!("{table}/")))
        .collect();
    out.sort();
    Ok(out)
}

/// Read a committed partition back (all parts, in order).
pub async fn read_partition(
    store: &Store,
    zone: Zone,
    path: &str,
) -> anyhow::Result<Option<DataFrame>> {
    read_partition_columns(store, zone, path, None).await
}

/// [`read_partition`], only the named columns (all when `None`).
pub async fn read_partition_columns(
    store: &Store,
    zone: Zone,
    path: &str,
    columns: Option<&[&str]>,
) -> anyhow::Result<Option<DataFrame>> {
    let record_key = layout::parts_file(zone.prefix(), path);
    let Some(rec) = store.get_opt(&record_key).await? else {
        return Ok(None);
    };
    let rec: PartsFile = serde_json::from_slice(&rec)
        .map_err(|e| anyhow::anyhow!("corrupt {}: {e}", store.display_key(&record_key)))?;
    let mut out: Option<DataFrame> = None;
    for p in rec.parts {
        let bytes = store
            .get(&layout::part(zone.prefix(), path, &p.name))
            .await?;
        let mut reader = ParquetReader::new(std::io::Cursor::new(bytes)).set_rechunk(true);
        if let Some(cols) = columns {
            reader = reader.with_columns(Some(cols.iter().map(|c| c.to_string()).collect()));
        }
        let df = reader.finish()?;
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

/// The `col=value` pairs of a partition path (`nginx/log_date=2026-03-17`).
pub fn partition_values(path: &str) -> BTreeMap<String, String> {
    path.split('/')
        .filter_map(|seg| seg.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A table as a `LazyFrame`: every committed partition whose `col=value`
/// pairs `keep` accepts (partition pruning), parts in commit order. `None`
/// when no partition is committed (the table was never written).
pub async fn scan(
    store: &Store,
    zone: Zone,
    table: &str,
    keep: impl Fn(&BTreeMap<String, String>) -> bool,
) -> anyhow::Result<Option<LazyFrame>> {
    scan_columns(store, zone, table, keep, None).await
}

/// [`scan`], reading only the named columns of each part (projection).
pub async fn scan_columns(
    store: &Store,
    zone: Zone,
    table: &str,
    keep: impl Fn(&BTreeMap<String, String>) -> bool,
    columns: Option<&[&str]>,
) -> anyhow::Result<Option<LazyFrame>> {
    let mut frames = Vec::new();
    for p in list_partitions(store, zone, table).await? {
        if !keep(&partition_values(&p)) {
            continue;
        }
        if let Some(df) = read_partition_columns(store, zone, &p, columns).await? {
            frames.push(df.lazy());
        }
    }
    if frames.is_empty() {
        return Ok(None);
    }
    Ok(Some(concat(
        frames,
        UnionArgs {
            rechunk: false,
            parallel: true,
            ..Default::default()
        },
    )?))
}

/// Like [`scan_columns`] (every partition, `columns` only), but on a local
/// lake the frame is a lazy Parquet scan: a query reads the columns and row
/// groups it needs when it runs and frees them after, so several queries
/// over the same tables never hold all of them at once. Other back-ends
/// read eagerly. A part removed by a concurrent writer between listing and
/// reading is an error, never a silent gap.
pub async fn scan_lazy(
    store: &Store,
    zone: Zone,
    table: &str,
    columns: Option<&[&str]>,
) -> anyhow::Result<Option<LazyFrame>> {
    let probe = layout::parts_file(zone.prefix(), table);
    if store.local_file(&probe).is_none() {
        return scan_columns(store, zone, table, |_| true, columns).await;
    }
    let mut paths = Vec::new();
    for p in list_partitions(store, zone, table).await? {
        let record_key = layout::parts_file(zone.prefix(), &p);
        let Some(rec) = store.get_opt(&record_key).await? else {
            continue;
        };
        let rec: PartsFile = serde_json::from_slice(&rec)
            .map_err(|e| anyhow::anyhow!("corrupt {}: {e}", store.display_key(&record_key)))?;
        for part in rec.parts {
            let key = layout::part(zone.prefix(), &p, &part.name);
            if let Some(file) = store.local_file(&key) {
                paths.push(PlRefPath::try_from_pathbuf(file)?);
            }
        }
    }
    if paths.is_empty() {
        return Ok(None);
    }
    let args = ScanArgsParquet {
        hive_options: HiveOptions::new_disabled(),
        glob: false,
        rechunk: false,
        ..Default::default()
    };
    let lf = LazyFrame::scan_parquet_files(paths.into(), args)?;
    Ok(Some(match columns {
        Some(columns) => lf.select(columns.iter().map(|c| col(*c)).collect::<Vec<_>>()),
        None => lf,
    }))
}

/// A frame encoded as a Parquet part, not yet stored.
pub struct Encoded {
    pub partition: String,
    pub rows: u64,
    pub bytes: Vec<u8>,
}

/// Encode frames (`(partition, frame)`) as Parquet parts; empty frames are
/// dropped. CPU only: callers may run it aside (`spawn_blocking`).
pub fn encode(frames: Vec<(String, DataFrame)>) -> PolarsResult<Vec<Encoded>> {
    let mut out = Vec::with_capacity(frames.len());
    for (partition, mut df) in frames {
        if df.height() == 0 {
            continue;
        }
        out.push(Encoded {
            partition,
            rows: df.height() as u64,
            bytes: to_parquet(&mut df)?,
        });
    }
    Ok(out)
}

/// Writes the partitions of one or more tables of a zone: frames become
/// parts as they come (each tagged with the input it came from, so a
/// partition's parts are listed in canonical order whatever the reading
/// order), and [`Writer::commit`] replaces each partition whole.
pub struct Writer<'s> {
    store: &'s Store,
    zone: Zone,
    parts: BTreeMap<String, Vec<(String, usize, Part)>>,
    pub rows: u64,
    pub bytes: u64,
}

impl<'s> Writer<'s> {
    pub fn new(store: &'s Store, zone: Zone) -> Writer<'s> {
        Writer {
            store,
            zone,
            parts: BTreeMap::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Encode and store frames (`(partition, frame)`) as parts of `origin`.
    pub async fn write(
        &mut self,
        origin: &str,
        frames: Vec<(String, DataFrame)>,
    ) -> anyhow::Result<()> {
        self.store(origin, encode(frames)?).await
    }

    /// Store parts already encoded (by [`encode`], possibly on another
    /// thread while the next input is parsed) as parts of `origin`.
    pub async fn store(&mut self, origin: &str, encoded: Vec<Encoded>) -> anyhow::Result<()> {
        for e in encoded {
            let list = self.parts.entry(e.partition.clone()).or_default();
            let seq = list.iter().filter(|(o, _, _)| o == origin).count();
            let part = write_part(
                self.store,
                self.zone,
                &e.partition,
                origin,
                seq,
                e.rows,
                e.bytes,
            )
            .await?;
            self.rows += e.rows;
            self.bytes += part.bytes;
            list.push((origin.to_string(), seq, part));
        }
        Ok(())
    }

    /// Partitions written so far.
    pub fn partitions(&self) -> BTreeSet<String> {
        self.parts.keys().cloned().collect()
    }

    fn take(&mut self, partition: &str) -> Option<Vec<Part>> {
        let mut list = self.parts.remove(partition)?;
        list.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        Some(list.into_iter().map(|(_, _, p)| p).collect())
    }

    /// Commit every partition of `affected`: replaced by what was written
    /// for it, or dropped if nothing was and it `existing`. Returns
    /// (written, dropped).
    pub async fn commit(
        &mut self,
        affected: &BTreeSet<String>,
        existing: &BTreeSet<String>,
    ) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let (mut written, mut dropped) = (Vec::new(), Vec::new());
        for p in affected {
            match self.take(p) {
                Some(list) => {
                    commit_partition(self.store, self.zone, p, list).await?;
                    written.push(p.clone());
                }
                None if existing.contains(p) => {
                    drop_partition(self.store, self.zone, p).await?;
                    dropped.push(p.clone());
                }
                None => {}
            }
        }
        Ok((written, dropped))
    }
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
        crate::testkit::block_on(async {
            let store = Store::open("memory://").unwrap();
            let part = format!("t/{}", partition_path(&[("log_date", "2026-03-17")]));
            let pq = |mut d: DataFrame| to_parquet(&mut d).unwrap();
            let z = Zone::Silver;
            let p1 = write_part(&store, z, &part, "a", 0, 3, pq(df()))
                .await
                .unwrap();
            commit_partition(&store, z, &part, vec![p1.clone()])
                .await
                .unwrap();
            // A new version with two parts replaces it; the old part is gone.
            let mut d2 = df();
            d2.vstack_mut(&df()).unwrap();
            let q1 = write_part(&store, z, &part, "a", 0, 6, pq(d2))
                .await
                .unwrap();
            let q2 = write_part(&store, z, &part, "b", 0, 3, pq(df()))
                .await
                .unwrap();
            let rec = commit_partition(&store, z, &part, vec![q1, q2])
                .await
                .unwrap();
            assert_eq!((rec.table.as_str(), rec.rows), ("t", 9));
            let names: Vec<String> = store
                .list(&layout::partition("silver", &part))
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.key.as_str().rsplit('/').next().unwrap().to_string())
                .collect();
            assert_eq!(names.len(), 3, "{names:?}");
            assert!(!names.contains(&p1.name), "{names:?}");
            let back = read_partition(&store, z, &part).await.unwrap().unwrap();
            assert_eq!(back.height(), 9);
            assert_eq!(
                list_partitions(&store, z, "t").await.unwrap(),
                vec![part.clone()]
            );
            drop_partition(&store, z, &part).await.unwrap();
            assert!(list_partitions(&store, z, "t").await.unwrap().is_empty());
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

    #[test]
    fn tables_of_any_zone_are_written_and_scanned_with_pruning() {
        crate::testkit::block_on(async {
            let store = Store::open("memory://").unwrap();
            let mut w = Writer::new(&store, Zone::Gold);
            let day = |d: &str| format!("fact/{}", partition_path(&[("jour", d)]));
            w.write(
                "x",
                vec![(day("2026-03-16"), df()), (day("2026-03-17"), df())],
            )
            .await
            .unwrap();
            w.write("", vec![("dim".to_string(), df())]).await.unwrap();
            let affected = w.partitions();
            let (written, dropped) = w.commit(&affected, &BTreeSet::new()).await.unwrap();
            assert_eq!(written.len(), 3);
            assert!(dropped.is_empty());
            // An unpartitioned table is its own partition; `dim` is not `fact`'s.
            assert_eq!(
                list_partitions(&store, Zone::Gold, "dim").await.unwrap(),
                ["dim"]
            );
            assert!(list_partitions(&store, Zone::Silver, "dim")
                .await
                .unwrap()
                .is_empty());
            let all = scan(&store, Zone::Gold, "fact", |_| true)
                .await
                .unwrap()
                .unwrap();
            let one = scan(&store, Zone::Gold, "fact", |v| v["jour"] == "2026-03-17")
                .await
                .unwrap()
                .unwrap();
            // Collected outside the async runtime (polars runs its own).
            let (all, one) = std::thread::spawn(move || {
                (
                    all.collect().unwrap().height(),
                    one.collect().unwrap().height(),
                )
            })
            .join()
            .unwrap();
            assert_eq!((all, one), (6, 3));
            assert!(scan(&store, Zone::Gold, "nothing", |_| true)
                .await
                .unwrap()
                .is_none());
            // Dropping a partition leaves the others alone.
            let mut w = Writer::new(&store, Zone::Gold);
            let existing: BTreeSet<String> = [day("2026-03-16")].into();
            let (_, dropped) = w.commit(&existing, &existing).await.unwrap();
            assert_eq!(dropped, [day("2026-03-16")]);
            assert_eq!(
                list_partitions(&store, Zone::Gold, "fact").await.unwrap(),
                [day("2026-03-17")]
            );
        });
    }
}
