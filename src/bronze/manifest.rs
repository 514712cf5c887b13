//! The bronze manifest: one JSON line per landed object (`bronze/_manifests/<source>.jsonl`).
//!
//! It is what `ingest drive` compares the source with, what silver lists to
//! find new objects, and the audit trail of every landing (source id, source
//! modification time, checksum, size, ingestion time, run id).

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{layout, Key, Metadata, Store, StoreError};

/// One landed object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Bronze key of the object.
    pub key: Key,
    /// Source name (`crm`, `nginx`…).
    pub source: String,
    /// Identity of the file at the source: the Drive file id, or the relative path of a local file.
    pub source_id: String,
    /// Path of the file relative to the source folder.
    pub source_path: String,
    /// Modification time of the source file.
    pub source_modified: DateTime<Utc>,
    /// Where the source lives (`gdrive://folder/<id>`, `file:///srv/drop/crm`).
    pub origin: String,
    pub size: u64,
    pub sha256: String,
    /// MD5 reported by Google Drive, verified on download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    pub ingested_at: DateTime<Utc>,
    pub run_id: String,
    /// Tracking metadata of the source entry (owner, format, description).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tracking: BTreeMap<String, String>,
}

impl Entry {
    /// What makes two landings versions of one file: its path in the source
    /// folder. A file deleted and uploaded again under the same path (a new
    /// Drive file id) is a new version of the same file, not a second file.
    pub fn identity(&self) -> &str {
        &self.source_path
    }

    /// The object's user metadata (S3 `x-amz-meta-kvt-*`), mirroring the manifest.
    /// The checksum is not included: metadata is sent before a streamed body.
    pub fn object_metadata(&self) -> Metadata {
        let mut m = Metadata::new();
        m.insert("kvt-source".into(), self.source.clone());
        m.insert("kvt-source-id".into(), header_safe(&self.source_id));
        m.insert("kvt-source-path".into(), header_safe(&self.source_path));
        m.insert(
            "kvt-source-modified".into(),
            crate::run::ts(self.source_modified),
        );
        m.insert("kvt-ingested-at".into(), crate::run::ts(self.ingested_at));
        m.insert("kvt-run-id".into(), header_safe(&self.run_id));
        if let Some(md5) = &self.md5 {
            m.insert("kvt-source-md5".into(), md5.clone());
        }
        m
    }
}

/// Percent-encode what is not printable ASCII, so a value fits an HTTP header.
fn header_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("corrupt manifest {key} line {line}: {message}")]
    Corrupt {
        key: String,
        line: usize,
        message: String,
    },
}

/// The manifest of one source, as read from the lake.
#[derive(Debug, Default, Clone)]
pub struct Manifest {
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// Parse manifest text (JSON lines).
    pub fn parse(text: &[u8], key: &str) -> Result<Manifest, ManifestError> {
        let mut entries = Vec::new();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let e: Entry = serde_json::from_slice(line).map_err(|e| ManifestError::Corrupt {
                key: key.to_string(),
                line: i + 1,
                message: e.to_string(),
            })?;
            entries.push(e);
        }
        Ok(Manifest { entries })
    }

    /// Read the manifest of `source` (empty if none yet).
    pub async fn load(store: &Store, source: &str) -> Result<Manifest, ManifestError> {
        let key = layout::bronze_manifest(source);
        match store.get_opt(&key).await? {
            None => Ok(Manifest::default()),
            Some(b) => Manifest::parse(&b, &store.display_key(&key)),
        }
    }

    /// Latest landed version of each source file, by [`Entry::identity`]
    /// (ties: the later landing).
    pub fn latest(&self) -> BTreeMap<&str, &Entry> {
        let mut m: BTreeMap<&str, &Entry> = BTreeMap::new();
        for e in &self.entries {
            match m.get(e.identity()) {
                Some(prev)
                    if (prev.source_modified, prev.ingested_at)
                        > (e.source_modified, e.ingested_at) => {}
                _ => {
                    m.insert(e.identity(), e);
                }
            }
        }
        m
    }

    /// Append entries and write the whole manifest back atomically.
    /// Entries are appended in key order so a run's lines are deterministic.
    pub async fn append(
        &mut self,
        store: &Store,
        source: &str,
        mut new: Vec<Entry>,
    ) -> Result<(), ManifestError> {
        if new.is_empty() {
            return Ok(());
        }
        new.sort_by(|a, b| a.key.cmp(&b.key));
        // Re-landing an identical version (after a crash) replaces its line.
        self.entries.retain(|e| !new.iter().any(|n| n.key == e.key));
        self.entries.extend(new);
        put_jsonl(store, &layout::bronze_manifest(source), &self.entries).await?;
        Ok(())
    }
}

/// Write `items` as one JSON line each, replacing the object atomically.
pub async fn put_jsonl<T: Serialize>(
    store: &Store,
    key: &crate::store::Key,
    items: &[T],
) -> Result<(), StoreError> {
    let mut text = Vec::new();
    for item in items {
        // Plain structs of strings and numbers always serialise.
        if serde_json::to_writer(&mut text, item).is_ok() {
            text.push(b'\n');
        }
    }
    store.put(key, Bytes::from(text), &Metadata::new()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, modified: &str, key: &str) -> Entry {
        Entry {
            key: Key::new(key),
            source: "crm".into(),
            source_id: id.into(),
            source_path: format!("{id}.csv"),
            source_modified: modified.parse().unwrap(),
            origin: "file:///drop/crm".into(),
            size: 1,
            sha256: "00".into(),
            md5: None,
            ingested_at: "2026-03-17T06:00:00Z".parse().unwrap(),
            run_id: "r".into(),
            tracking: BTreeMap::new(),
        }
    }

    #[test]
    fn latest_version_wins() {
        let m = Manifest {
            entries: vec![
                entry("a", "2026-03-10T00:00:00Z", "k1"),
                entry("a", "2026-03-16T00:00:00Z", "k2"),
                entry("a", "2026-03-12T00:00:00Z", "k3"),
                entry("b", "2026-03-01T00:00:00Z", "k4"),
            ],
        };
        let l = m.latest();
        assert_eq!(l["a.csv"].key.as_str(), "k2");
        assert_eq!(l["b.csv"].key.as_str(), "k4");
    }

    /// Regression (issue 7): a Drive file re-uploaded under a new file id with
    /// the same path left both versions current (nginx counted the day twice).
    #[test]
    fn same_path_new_id_is_a_new_version() {
        let mut again = entry("drive-id-2", "2026-03-18T00:00:00Z", "k2");
        again.source_path = "a.csv".into();
        let m = Manifest {
            entries: vec![entry("a", "2026-03-17T00:00:00Z", "k1"), again],
        };
        let l = m.latest();
        assert_eq!(l.len(), 1);
        assert_eq!(l["a.csv"].key.as_str(), "k2");
    }

    #[test]
    fn round_trip_and_corruption() {
        crate::testkit::block_on(async {
            let store = Store::open("memory://").unwrap();
            let mut m = Manifest::load(&store, "crm").await.unwrap();
            assert!(m.entries.is_empty());
            m.append(
                &store,
                "crm",
                vec![
                    entry("b", "2026-03-01T00:00:00Z", "k2"),
                    entry("a", "2026-03-01T00:00:00Z", "k1"),
                ],
            )
            .await
            .unwrap();
            // Re-landing k1 replaces its line instead of duplicating it.
            m.append(
                &store,
                "crm",
                vec![entry("a", "2026-03-01T00:00:00Z", "k1")],
            )
            .await
            .unwrap();
            let back = Manifest::load(&store, "crm").await.unwrap();
            let keys: Vec<_> = back.entries.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, ["k2", "k1"]);
        });
        let err = Manifest::parse(b"{}\n", "m").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn metadata_is_header_safe() {
        let mut e = entry("a", "2026-03-01T00:00:00Z", "k");
        e.source_path = "été\n.csv".into();
        let m = e.object_metadata();
        assert_eq!(m["kvt-source-path"], "%C3%A9t%C3%A9%0A.csv");
        assert_eq!(m["kvt-source-modified"], "2026-03-01T00:00:00.000Z");
    }
}
