//! The one runner every silver source shares (DESIGN §6).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use bytes::Bytes;
use polars::prelude::DataFrame;

use super::{Counts, Input, Mode, ObjectState, Reject, State};
use crate::bronze::manifest::Manifest;
use crate::store::{Key, Metadata, Store};
use crate::table::{self, Encoded, Writer, Zone};
use polars::prelude::PolarsResult;

/// A silver source, seen by the runner.
pub trait Source: Send {
    /// CLI name and state name (`nginx`).
    fn name(&self) -> &'static str;
    /// Silver tables written (`["nginx"]`; `["orders", "order_items"]`).
    /// Partitions are named by their path `<table>/<col>=<value>…`.
    fn tables(&self) -> &'static [&'static str];
    /// Bronze manifest the inputs come from (`nginx`, or `kafka`).
    fn bronze_source(&self) -> &'static str;
    /// Keep only the bronze objects this source reads (e.g. one Kafka topic).
    fn accepts(&self, key: &str) -> bool {
        let _ = key;
        true
    }
    /// Read objects whole (`false`: in blocks of complete lines).
    fn whole_objects(&self) -> bool {
        false
    }
    /// Rows need no cross-object step (deduplication): the runner writes each
    /// object's rows as they come, as parts of their own (bounded memory).
    fn streaming(&self) -> bool {
        false
    }
    /// Parse a block. Rows go to the builders unless `keep` is given and their
    /// partition is not in it; every partition seen is added to `seen`.
    fn process(
        &mut self,
        input: &Input,
        first_line: u64,
        block: &[u8],
        keep: Option<&BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        rejects: &mut Vec<Reject>,
    ) -> anyhow::Result<Counts>;
    /// Frames ready to be written, by partition: only full builders, or
    /// what is left when `all` (deduplicated and sorted canonically), in one
    /// or more batches: the runner calls again until the answer is empty.
    fn take(&mut self, all: bool) -> anyhow::Result<Vec<(String, DataFrame)>>;
    /// Counts added by the final step (deduplication), if any.
    fn finish_counts(&mut self) -> Counts {
        Counts::default()
    }
    /// Source-specific fields of the run summary (e.g. rows filtered per rule).
    fn summary(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
    /// A data verdict on one object (e.g. too many discarded lines): `Some(reason)` = exit 1.
    fn verdict(&self, input: &Input, counts: &Counts) -> Option<String> {
        let _ = (input, counts);
        None
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub objects_new: usize,
    pub objects_read: usize,
    pub objects_superseded: usize,
    pub counts: Counts,
    pub partitions_written: Vec<String>,
    pub partitions_dropped: Vec<String>,
    pub rows_written: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
    /// Data verdicts (exit 1): objects above their tolerance.
    pub verdicts: Vec<String>,
    /// Source-specific summary fields.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn state_key(source: &str) -> Key {
    crate::store::layout::silver_state(source)
}

/// `silver/_rejects/<source>/<bronze key>.jsonl`
pub fn rejects_key(source: &str, bronze_key: &str) -> Key {
    crate::store::layout::silver_rejects(source, bronze_key)
}

async fn load_state(store: &Store, source: &str) -> anyhow::Result<State> {
    match store.get_opt(&state_key(source)).await? {
        None => Ok(State::default()),
        Some(b) => serde_json::from_slice(&b).with_context(|| {
            format!(
                "corrupt silver state {}",
                store.display_key(&state_key(source))
            )
        }),
    }
}

/// Every landed version of the source's files, and the latest one of each
/// (by the file's identity), from the bronze manifest. A missing manifest is
/// an error: nothing was ever ingested there (wrong lake, wrong source).
async fn bronze_inputs(
    store: &Store,
    src: &dyn Source,
) -> anyhow::Result<(Vec<Input>, Vec<Input>)> {
    let key = crate::store::layout::bronze_manifest(src.bronze_source());
    if store.head(&key).await?.is_none() {
        anyhow::bail!(
            "no bronze manifest {}: nothing was ever ingested for `{}` in this lake (run kvt ingest first, or check KVT_STORE)",
            store.display_key(&key),
            src.bronze_source()
        );
    }
    let (mut all, mut latest) = (Vec::new(), Vec::new());
    if src.bronze_source() == crate::bronze::kafka::MANIFEST_SOURCE {
        let m = crate::bronze::kafka::KafkaManifest::load(store)
            .await
            .map_err(anyhow::Error::msg)?;
        for e in m.entries {
            if src.accepts(e.key.as_str()) {
                latest.push(Input {
                    key: e.key.to_string(),
                    source_id: e.key.to_string(),
                    ingested_at: e.ingested_at,
                    size: e.size,
                });
            }
        }
        all.clone_from(&latest);
    } else {
        let m = Manifest::load(store, src.bronze_source()).await?;
        let input = |e: &crate::bronze::manifest::Entry| Input {
            key: e.key.to_string(),
            source_id: e.identity().to_string(),
            ingested_at: e.ingested_at,
            size: e.size,
        };
        for e in m.entries.iter().filter(|e| src.accepts(e.key.as_str())) {
            all.push(input(e));
        }
        for e in m.latest().values() {
            if src.accepts(e.key.as_str()) {
                latest.push(input(e));
            }
        }
    }
    all.sort();
    latest.sort();
    Ok((all, latest))
}

/// One bronze object as blocks of complete lines (or whole), read by ranges
/// of [`BLOCK`] bytes (memory bounded whatever the object's size).
struct Blocks<'s> {
    store: &'s Store,
    key: Key,
    size: u64,
    offset: u64,
    whole: bool,
    /// Bytes read but not yet handed out (the tail of an unfinished line).
    carry: Vec<u8>,
    line: u64,
    read: u64,
}

const BLOCK: u64 = 32 * 1024 * 1024;

impl<'s> Blocks<'s> {
    async fn open(store: &'s Store, input: &Input, whole: bool) -> anyhow::Result<Blocks<'s>> {
        let key = Key::new(input.key.clone());
        let size = match store.head(&key).await? {
            Some((size, _)) => size,
            None => anyhow::bail!(
                "bronze object {} is listed in the manifest but missing",
                store.display_key(&key)
            ),
        };
        Ok(Blocks {
            store,
            key,
            size,
            offset: 0,
            whole,
            carry: Vec::new(),
            line: 1,
            read: 0,
        })
    }

    /// The next block: (line number of its first line, bytes).
    async fn next(&mut self) -> anyhow::Result<Option<(u64, Vec<u8>)>> {
        let step = if self.whole { self.size.max(1) } else { BLOCK };
        loop {
            if self.offset >= self.size {
                if self.carry.is_empty() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.carry);
                return Ok(Some(self.hand_out(rest)));
            }
            let end = (self.offset + step).min(self.size);
            let bytes = self.store.get_range(&self.key, self.offset..end).await?;
            self.read += bytes.len() as u64;
            self.offset = end;
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(&bytes);
            if self.offset >= self.size {
                return Ok(Some(self.hand_out(buf)));
            }
            match memchr::memrchr(b'\n', &buf) {
                Some(cut) => {
                    self.carry = buf.split_off(cut + 1);
                    return Ok(Some(self.hand_out(buf)));
                }
                // A line longer than a block: read on.
                None => self.carry = buf,
            }
        }
    }

    fn hand_out(&mut self, block: Vec<u8>) -> (u64, Vec<u8>) {
        let first = self.line;
        self.line += memchr::memchr_iter(b'\n', &block).count() as u64;
        (first, block)
    }
}

/// Read one object through the source; write what it yields when streaming.
#[allow(clippy::too_many_arguments)]
async fn read_object(
    store: &Store,
    src: &mut dyn Source,
    writer: &mut Writer<'_>,
    input: &Input,
    keep: Option<&BTreeSet<String>>,
    seen: &mut BTreeSet<String>,
    rejects: &mut Vec<Reject>,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<(Counts, u64)> {
    let mut counts = Counts::default();
    let streaming = src.streaming();
    let (mut t_parse, mut t_write) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let ctx = || format!("reading {}", input.key);
    let mut blocks = Blocks::open(store, input, src.whole_objects())
        .await
        .with_context(ctx)?;
    // Streaming sources: the parts of one block are encoded on a blocking
    // thread while the next block is read and parsed (memory: one batch in
    // flight), then stored in order.
    let mut inflight: Option<tokio::task::JoinHandle<PolarsResult<Vec<Encoded>>>> = None;
    while let Some((first, block)) = blocks.next().await.with_context(ctx)? {
        let t = std::time::Instant::now();
        counts += src
            .process(input, first, &block, keep, seen, rejects)
            .with_context(ctx)?;
        t_parse += t.elapsed();
        progress(block.len() as u64);
        if streaming {
            let frames = src.take(false)?;
            let t = std::time::Instant::now();
            if let Some(h) = inflight.take() {
                writer.store(&input.key, h.await??).await?;
            }
            t_write += t.elapsed();
            if !frames.is_empty() {
                inflight = Some(tokio::task::spawn_blocking(move || table::encode(frames)));
            }
        }
    }
    if let Some(h) = inflight.take() {
        let t = std::time::Instant::now();
        writer.store(&input.key, h.await??).await?;
        t_write += t.elapsed();
    }
    if streaming {
        let t = std::time::Instant::now();
        writer.write(&input.key, src.take(true)?).await?;
        t_write += t.elapsed();
    }
    tracing::debug!(key = %input.key, parse_ms = t_parse.as_millis() as u64, write_ms = t_write.as_millis() as u64, "object read");
    Ok((counts, blocks.read))
}

/// How a run is asked to go.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// Bronze keys whose verdict an operator accepts (`--accept-rejects`).
    pub accept: Vec<String>,
    /// Recorded with an acceptance.
    pub run_id: String,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Options {
    pub fn new(mode: Mode) -> Options {
        Options {
            mode,
            accept: Vec::new(),
            run_id: String::new(),
            now: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        }
    }
}

/// Run one source.
///
/// Which bronze objects are current: the latest version of each file, except
/// a version that had no readable row while an earlier one had (an empty or
/// unreadable re-delivery): the earlier version stays current, and the run
/// exits 1 naming the file, until a newer version lands or an operator
/// accepts it. Verdicts are kept in the state and repeated by every run
/// until their object is superseded or accepted.
pub async fn run(
    store: &Store,
    src: &mut dyn Source,
    opts: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<Outcome> {
    let name = src.name();
    let mode = opts.mode;
    let mut out = Outcome::default();
    let mut state = load_state(store, name).await?;
    let (all, latest) = bronze_inputs(store, src).await?;
    let by_key: BTreeMap<&str, &Input> = all.iter().map(|i| (i.key.as_str(), i)).collect();

    // Acceptances first: they may release a held version.
    let mut state_changed = false;
    for k in &opts.accept {
        let Some(o) = state.objects.get_mut(k) else {
            anyhow::bail!(
                "--accept-rejects {k}: no such bronze object in the silver state of `{name}` (see silver/_state/{name}.json)"
            );
        };
        o.accepted = Some(format!(
            "run {} at {}",
            opts.run_id,
            crate::run::ts(opts.now)
        ));
        state_changed = true;
        tracing::warn!(key = %k, verdict = o.verdict.as_deref().unwrap_or("none"), "verdict accepted by the operator");
    }

    // The current objects: held versions replaced by the version they keep.
    let mut current: Vec<Input> = Vec::with_capacity(latest.len());
    let mut held: BTreeSet<String> = BTreeSet::new();
    for i in &latest {
        let kept = state
            .objects
            .get(&i.key)
            .filter(|o| o.accepted.is_none())
            .and_then(|o| o.keeps.as_deref())
            .and_then(|k| by_key.get(k));
        match kept {
            Some(prev) => {
                held.insert(i.key.clone());
                current.push((*prev).clone());
            }
            None => current.push(i.clone()),
        }
    }
    current.sort();
    let mut current_keys: BTreeSet<String> = current.iter().map(|i| i.key.clone()).collect();
    current_keys.extend(held.iter().cloned());

    // Which objects are new, and which processed ones a newer version replaced.
    let new: Vec<Input> = current
        .iter()
        .filter(|i| match mode {
            Mode::Full => true,
            Mode::Date(d) => i.ingested_at.date_naive() == d || !state.objects.contains_key(&i.key),
            Mode::New => !state.objects.contains_key(&i.key),
        })
        .cloned()
        .collect();
    let mut superseded: Vec<String> = state
        .objects
        .keys()
        .filter(|k| !current_keys.contains(k.as_str()))
        .cloned()
        .collect();
    if new.is_empty() && superseded.is_empty() && mode != Mode::Full {
        if state_changed {
            save_state(store, name, &state).await?;
        }
        out.verdicts = standing_verdicts(&state, &current_keys);
        return Ok(out);
    }
    let mut existing: BTreeSet<String> = BTreeSet::new();
    for table in src.tables() {
        existing.extend(table::list_partitions(store, Zone::Silver, table).await?);
    }

    let mut writer = Writer::new(store, Zone::Silver);
    let mut new_state: BTreeMap<String, ObjectState> = BTreeMap::new();
    let mut rejects_of: BTreeMap<String, Vec<Reject>> = BTreeMap::new();

    // 1. New objects, whole: the partitions they touch are affected.
    let mut affected: BTreeSet<String> = BTreeSet::new();
    for input in &new {
        let mut seen = BTreeSet::new();
        let mut rejects = Vec::new();
        let (counts, read) = read_object(
            store,
            src,
            &mut writer,
            input,
            None,
            &mut seen,
            &mut rejects,
            progress,
        )
        .await?;
        out.bytes_read += read;
        out.objects_read += 1;
        out.counts += counts;
        let mut st = object_state(input, seen, &counts);
        st.verdict = src.verdict(input, &counts);
        let before = state.objects.get(&input.key);
        st.accepted = before.and_then(|o| o.accepted.clone());
        // An empty or unreadable new version does not wipe the previous one.
        let previous = (counts.rows_out == 0 && counts.filtered == 0 && before.is_none())
            .then(|| {
                superseded.iter().find(|k| {
                    state
                        .objects
                        .get(*k)
                        .is_some_and(|o| o.source_id == input.source_id && o.keeps.is_none())
                })
            })
            .flatten()
            .cloned();
        if let Some(prev) = previous {
            superseded.retain(|k| *k != prev);
            current_keys.insert(prev.clone());
            if let Some(p) = by_key.get(prev.as_str()) {
                current.push((*p).clone());
            }
            st.verdict = Some(format!(
                "{}: this new version of {} has no readable row ({} read, {} rejected); the previous version {} stays in silver until a newer version lands or --accept-rejects {} is given",
                input.key, input.source_id, counts.rows_in, counts.rejected, prev, input.key
            ));
            st.keeps = Some(prev);
        }
        affected.extend(st.partitions.iter().cloned());
        new_state.insert(input.key.clone(), st);
        rejects_of.insert(input.key.clone(), rejects);
    }
    for k in &superseded {
        if let Some(o) = state.objects.get(k) {
            affected.extend(o.partitions.iter().cloned());
        }
    }
    if mode == Mode::Full {
        affected.extend(existing.iter().cloned());
    }

    // 2. Earlier objects that also feed an affected partition: only those rows.
    let others: Vec<&Input> = current
        .iter()
        .filter(|i| {
            !new_state.contains_key(&i.key)
                && state
                    .objects
                    .get(&i.key)
                    .is_some_and(|o| o.partitions.iter().any(|p| affected.contains(p)))
        })
        .collect();
    for input in others {
        let mut seen = BTreeSet::new();
        let mut rejects = Vec::new();
        let (_, read) = read_object(
            store,
            src,
            &mut writer,
            input,
            Some(&affected),
            &mut seen,
            &mut rejects,
            progress,
        )
        .await?;
        out.bytes_read += read;
        out.objects_read += 1;
    }
    // Sources that buffer the run hand their frames over in batches.
    loop {
        let frames = src.take(true)?;
        if frames.iter().all(|(_, df)| df.height() == 0) {
            break;
        }
        writer.write("", frames).await?;
    }
    out.counts += src.finish_counts();
    out.extra = src.summary();

    // 3. Commit: every affected partition is replaced whole, or dropped if nothing feeds it now.
    (out.partitions_written, out.partitions_dropped) = writer.commit(&affected, &existing).await?;
    out.rows_written = writer.rows;
    out.bytes_written = writer.bytes;

    // 4. Rejects of the objects read as new (each object's file rewritten whole).
    for (key, rejects) in &rejects_of {
        let rk = rejects_key(name, key);
        if rejects.is_empty() {
            store.delete(&rk).await?;
        } else {
            let mut body = Vec::new();
            for r in rejects {
                serde_json::to_writer(&mut body, r)?;
                body.push(b'\n');
            }
            store.put(&rk, Bytes::from(body), &Metadata::new()).await?;
        }
    }

    // 5. State: processed objects; replaced versions forgotten (their rejects too).
    for k in &superseded {
        state.objects.remove(k);
        store.delete(&rejects_key(name, k)).await?;
    }
    if mode == Mode::Full {
        state
            .objects
            .retain(|k, _| current_keys.contains(k.as_str()));
    }
    state.objects.extend(new_state);
    save_state(store, name, &state).await?;
    out.objects_new = new.len();
    out.objects_superseded = superseded.len();
    out.verdicts = standing_verdicts(&state, &current_keys);
    Ok(out)
}

/// The verdicts of current objects that no one accepted, in key order.
fn standing_verdicts(state: &State, current: &BTreeSet<String>) -> Vec<String> {
    state
        .objects
        .iter()
        .filter(|(k, _)| current.contains(k.as_str()))
        .filter_map(|(_, o)| o.standing_verdict().map(str::to_string))
        .collect()
}

async fn save_state(store: &Store, name: &str, state: &State) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(state)?;
    store
        .put(&state_key(name), Bytes::from(body), &Metadata::new())
        .await?;
    Ok(())
}

fn object_state(input: &Input, partitions: BTreeSet<String>, c: &Counts) -> ObjectState {
    ObjectState {
        source_id: input.source_id.clone(),
        partitions,
        rows_in: c.rows_in,
        rows_out: c.rows_out,
        rejected: c.rejected,
        ..Default::default()
    }
}

/// What the sources' unit tests share: feeding bronze objects to a source as
/// the runner does, without a store.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A bronze object named `key`, ingested 2026-03-17T16:00:00Z.
    pub fn input(key: &str) -> Input {
        Input {
            key: key.into(),
            source_id: key.into(),
            ingested_at: chrono::DateTime::from_timestamp(1_773_763_200, 0).unwrap_or_default(),
            size: 0,
        }
    }

    /// The output of [`feed`].
    pub struct Fed {
        pub frames: Vec<(String, DataFrame)>,
        pub counts: Counts,
        pub rejects: Vec<Reject>,
        /// Every partition some object fed.
        pub seen: BTreeSet<String>,
    }

    /// Each object whole, in order (a fresh partition set per object, as the
    /// runner does), then every frame.
    pub fn feed(src: &mut dyn Source, objects: &[(&str, String)]) -> Fed {
        let mut counts = Counts::default();
        let mut rejects = Vec::new();
        let mut all_seen = BTreeSet::new();
        for (key, body) in objects {
            assert!(src.accepts(key), "{key}");
            let mut seen = BTreeSet::new();
            counts += src
                .process(
                    &input(key),
                    1,
                    body.as_bytes(),
                    None,
                    &mut seen,
                    &mut rejects,
                )
                .unwrap();
            all_seen.append(&mut seen);
        }
        let mut frames = Vec::new();
        loop {
            let batch = src.take(true).unwrap();
            if batch.is_empty() {
                break;
            }
            frames.extend(batch);
        }
        counts += src.finish_counts();
        Fed {
            frames,
            counts,
            rejects,
            seen: all_seen,
        }
    }
}
