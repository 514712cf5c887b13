//! The lake: an object store chosen by URL, plus a root prefix.
//!
//! - `file://DIR` (or a plain path): a local directory, default `./lake`;
//! - `s3://bucket/prefix`: S3 or MinIO; endpoint, region, path-style and
//!   credentials from the standard `AWS_*` variables;
//! - `memory://`: in-process, for tests and dry runs.
//!
//! Every write is atomic per object: a single PUT, a multipart upload that only
//! becomes visible when completed, or (local files) a staging file renamed into
//! place. Keys are built only by [`layout`].

pub mod layout;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
};

/// A key relative to the lake root, e.g. `bronze/crm_data/export.20260317T060000000Z.csv`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Key(String);

impl Key {
    pub fn new(s: impl Into<String>) -> Key {
        Key(s.into().trim_matches('/').to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// User metadata of an object (S3 `x-amz-meta-*`). Only some back-ends keep it;
/// the bronze manifest always does.
pub type Metadata = BTreeMap<String, String>;

/// Failure of a store operation, naming the operation, the key and the store.
#[derive(Debug, thiserror::Error)]
#[error("{op} {key} in {store}: {source}")]
pub struct StoreError {
    pub op: &'static str,
    pub key: String,
    pub store: String,
    #[source]
    pub source: Box<object_store::Error>,
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(*self.source, object_store::Error::NotFound { .. })
    }
}

/// Which back-end serves the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
    Memory,
}

/// One listed object.
#[derive(Debug, Clone)]
pub struct Object {
    pub key: Key,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// The lake.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    root: String,
    url: String,
    backend: Backend,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL never carries credentials (they come from AWS_* variables).
        f.debug_struct("Store")
            .field("url", &self.url)
            .field("backend", &self.backend)
            .finish()
    }
}

/// Size of the parts of a streamed upload. Memory use of an upload is bounded
/// by about `PART_SIZE × (UPLOAD_CONCURRENCY + 1)`.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
const UPLOAD_CONCURRENCY: usize = 2;

impl Store {
    /// Open the store named by `url`.
    pub fn open(url: &str) -> anyhow::Result<Store> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("memory://") {
            anyhow::ensure!(
                rest.is_empty() || rest == "/",
                "memory:// takes no path (got {url})"
            );
            return Ok(Store {
                inner: Arc::new(InMemory::new()),
                root: String::new(),
                url: "memory://".into(),
                backend: Backend::Memory,
            });
        }
        if url.starts_with("s3://") || url.starts_with("s3a://") {
            let parsed = url::Url::parse(url)
                .map_err(|e| anyhow::anyhow!("invalid store URL {url}: {e}"))?;
            let bucket = parsed
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| anyhow::anyhow!("store URL {url} has no bucket"))?;
            let root = parsed.path().trim_matches('/').to_string();
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            // Path-style addressing is object_store's default (MinIO needs it);
            // AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true switches to virtual-hosted style.
            if std::env::var("AWS_ENDPOINT").is_err() {
                if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                    builder = builder.with_endpoint(endpoint);
                }
            }
            let s3 = builder
                .build()
                .map_err(|e| anyhow::anyhow!("cannot configure S3 store {url}: {e}"))?;
            return Ok(Store {
                inner: Arc::new(s3),
                root,
                url: format!("s3://{bucket}/{}", parsed.path().trim_start_matches('/'))
                    .trim_end_matches('/')
                    .to_string(),
                backend: Backend::S3,
            });
        }
        let dir = match url.strip_prefix("file://") {
            Some(p) => p,
            None if url.contains("://") => {
                anyhow::bail!("unsupported store URL {url} (use file://, s3:// or memory://)")
            }
            None => url,
        };
        anyhow::ensure!(!dir.is_empty(), "store URL {url} has no directory");
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create lake directory {dir}: {e}"))?;
        let local = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| anyhow::anyhow!("cannot open lake directory {dir}: {e}"))?;
        Ok(Store {
            inner: Arc::new(local),
            root: String::new(),
            url: format!("file://{dir}"),
            backend: Backend::Local,
        })
    }

    /// The store URL (never contains credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The file holding `key` when the lake is a local directory (for
    /// readers that scan files lazily, such as polars); `None` otherwise.
    pub fn local_file(&self, key: &Key) -> Option<std::path::PathBuf> {
        match self.backend {
            Backend::Local => {
                let dir = self.url.strip_prefix("file://").unwrap_or(&self.url);
                Some(std::path::Path::new(dir).join(key.as_str()))
            }
            _ => None,
        }
    }

    /// Does this back-end keep user metadata on objects?
    pub fn keeps_metadata(&self) -> bool {
        matches!(self.backend, Backend::S3 | Backend::Memory)
    }

    /// The OpenLineage dataset of a key or prefix, named as the OpenLineage
    /// naming conventions name object-store datasets, so that the dataset one
    /// command writes is the very one the next command reads:
    /// `s3://bucket/root/key` → (`s3://bucket`, `root/key`); a local lake →
    /// (`file`, `/absolute/path/key`); memory → (`memory`, `/key`).
    pub fn dataset(&self, key: &Key) -> crate::lineage::Dataset {
        let (namespace, name) = match self.backend {
            Backend::S3 => {
                let bucket = self.url.split('/').take(3).collect::<Vec<_>>().join("/");
                (bucket, self.path(key).to_string())
            }
            Backend::Local => {
                let dir = self.url.trim_start_matches("file://");
                let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.into());
                let name = format!("{}/{}", abs.display(), key.as_str());
                ("file".to_string(), name.replace("//", "/"))
            }
            Backend::Memory => ("memory".to_string(), format!("/{}", key.as_str())),
        };
        crate::lineage::Dataset::new(namespace, name)
    }

    /// Full name of a key for messages and lineage (`<root>/<key>`).
    pub fn display_key(&self, key: &Key) -> String {
        self.path(key).to_string()
    }

    fn path(&self, key: &Key) -> Path {
        if self.root.is_empty() {
            Path::from(key.as_str())
        } else {
            Path::from(format!("{}/{}", self.root, key.as_str()))
        }
    }

    fn key_of(&self, path: &Path) -> Key {
        let s = path.as_ref();
        let rel = if self.root.is_empty() {
            s
        } else {
            s.strip_prefix(&self.root)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(s)
        };
        Key::new(rel)
    }

    fn err(&self, op: &'static str, key: &Key, source: object_store::Error) -> StoreError {
        StoreError {
            op,
            key: key.to_string(),
            store: self.url.clone(),
            source: Box::new(source),
        }
    }

    fn attributes(&self, meta: &Metadata) -> Attributes {
        let mut attrs = Attributes::new();
        if self.keeps_metadata() {
            for (k, v) in meta {
                attrs.insert(
                    Attribute::Metadata(k.clone().into()),
                    AttributeValue::from(v.clone()),
                );
            }
        }
        attrs
    }

    /// Write a whole object atomically (replacing any previous one).
    pub async fn put(&self, key: &Key, bytes: Bytes, meta: &Metadata) -> Result<(), StoreError> {
        let opts = PutOptions {
            attributes: self.attributes(meta),
            ..Default::default()
        };
        self.inner
            .put_opts(&self.path(key), PutPayload::from(bytes), opts)
            .await
            .map(|_| ())
            .map_err(|e| self.err("writing", key, e))
    }

    /// Create an object only if it does not exist. `Ok(false)` when it exists.
    pub async fn create(&self, key: &Key, bytes: Bytes) -> Result<bool, StoreError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .inner
            .put_opts(&self.path(key), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.err("creating", key, e)),
        }
    }

    /// Read a whole object.
    pub async fn get(&self, key: &Key) -> Result<Bytes, StoreError> {
        let res = self
            .inner
            .get(&self.path(key))
            .await
            .map_err(|e| self.err("reading", key, e))?;
        res.bytes().await.map_err(|e| self.err("reading", key, e))
    }

    /// Read a whole object, `None` if it does not exist.
    pub async fn get_opt(&self, key: &Key) -> Result<Option<Bytes>, StoreError> {
        match self.get(key).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A byte range of an object (one ranged GET; one `pread` on local files).
    pub async fn get_range(
        &self,
        key: &Key,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, StoreError> {
        self.inner
            .get_range(&self.path(key), range)
            .await
            .map_err(|e| self.err("reading", key, e))
    }

    /// An object as a stream of chunks (bounded memory whatever its size).
    pub async fn get_stream(
        &self,
        key: &Key,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let res = self
            .inner
            .get(&self.path(key))
            .await
            .map_err(|e| self.err("reading", key, e))?;
        let (store, k) = (self.url.clone(), key.to_string());
        Ok(res
            .into_stream()
            .map_err(move |e| StoreError {
                op: "reading",
                key: k.clone(),
                store: store.clone(),
                source: Box::new(e),
            })
            .boxed())
    }

    /// Size and SHA-256 of an object, read as a stream (bounded memory).
    pub async fn sha256(&self, key: &Key) -> Result<(u64, String), StoreError> {
        use sha2::Digest;
        let res = self
            .inner
            .get(&self.path(key))
            .await
            .map_err(|e| self.err("reading", key, e))?;
        let mut stream = res.into_stream();
        let mut h = sha2::Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = stream
            .try_next()
            .await
            .map_err(|e| self.err("reading", key, e))?
        {
            n += chunk.len() as u64;
            h.update(&chunk);
        }
        Ok((n, hex::encode(h.finalize())))
    }

    /// Size and user metadata of an object, `None` if it does not exist.
    pub async fn head(&self, key: &Key) -> Result<Option<(u64, Metadata)>, StoreError> {
        let opts = GetOptions {
            head: true,
            ..Default::default()
        };
        match self.inner.get_opts(&self.path(key), opts).await {
            Ok(res) => {
                let mut meta = Metadata::new();
                for (k, v) in res.attributes.iter() {
                    if let Attribute::Metadata(name) = k {
                        meta.insert(name.to_string(), v.to_string());
                    }
                }
                Ok(Some((res.meta.size, meta)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("inspecting", key, e)),
        }
    }

    /// List every object under a prefix (recursively), sorted by key.
    pub async fn list(&self, prefix: &Key) -> Result<Vec<Object>, StoreError> {
        let p = self.path(prefix);
        let mut out: Vec<Object> = self
            .inner
            .list(Some(&p))
            .map_ok(|m| Object {
                key: self.key_of(&m.location),
                size: m.size,
                last_modified: m.last_modified,
            })
            .try_collect()
            .await
            .map_err(|e| self.err("listing", prefix, e))?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Delete an object (absent is fine).
    pub async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("deleting", key, e)),
        }
    }

    /// Start a streamed upload. Nothing is visible under `key` until
    /// [`Upload::finish`] succeeds; dropping or aborting leaves no object.
    pub fn upload(&self, key: &Key, meta: &Metadata) -> Upload {
        Upload {
            store: self.clone(),
            key: key.clone(),
            attributes: self.attributes(meta),
            buffer: Vec::new(),
            multipart: None,
            written: 0,
        }
    }
}

/// A streamed, atomic upload. Small objects are sent with one PUT; larger ones
/// as a multipart upload of [`PART_SIZE`] parts with bounded concurrency.
pub struct Upload {
    store: Store,
    key: Key,
    attributes: Attributes,
    buffer: Vec<Bytes>,
    multipart: Option<WriteMultipart>,
    written: u64,
}

impl Upload {
    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Add bytes to the object.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.written += chunk.len() as u64;
        if let Some(mp) = &mut self.multipart {
            mp.wait_for_capacity(UPLOAD_CONCURRENCY)
                .await
                .map_err(|e| self.store.err("uploading", &self.key, e))?;
            mp.put(chunk);
            return Ok(());
        }
        self.buffer.push(chunk);
        let buffered: usize = self.buffer.iter().map(Bytes::len).sum();
        if buffered >= PART_SIZE {
            let opts = PutMultipartOptions {
                attributes: self.attributes.clone(),
                ..Default::default()
            };
            let upload = self
                .store
                .inner
                .put_multipart_opts(&self.store.path(&self.key), opts)
                .await
                .map_err(|e| self.store.err("uploading", &self.key, e))?;
            let mut mp = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            for b in self.buffer.drain(..) {
                mp.put(b);
            }
            self.multipart = Some(mp);
        }
        Ok(())
    }

    /// Complete the upload: the object becomes visible, whole.
    pub async fn finish(mut self) -> Result<u64, StoreError> {
        match self.multipart.take() {
            Some(mp) => {
                mp.finish()
                    .await
                    .map_err(|e| self.store.err("completing upload of", &self.key, e))?;
            }
            None => {
                let payload: PutPayload = self.buffer.drain(..).collect();
                let opts = PutOptions {
                    attributes: std::mem::take(&mut self.attributes),
                    ..Default::default()
                };
                self.store
                    .inner
                    .put_opts(&self.store.path(&self.key), payload, opts)
                    .await
                    .map_err(|e| self.store.err("writing", &self.key, e))?;
            }
        }
        Ok(self.written)
    }

    /// Abandon the upload; no object becomes visible.
    pub async fn abort(mut self) {
        if let Some(mp) = self.multipart.take() {
            if let Err(e) = mp.abort().await {
                tracing::warn!(key = %self.key, error = %e, "could not abort multipart upload");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exercise(store: &Store) {
        let k = Key::new("bronze/x/a.csv");
        let mut meta = Metadata::new();
        meta.insert("kvt-source".into(), "x".into());
        store
            .put(&k, Bytes::from_static(b"hello"), &meta)
            .await
            .unwrap();
        assert_eq!(store.get(&k).await.unwrap(), Bytes::from_static(b"hello"));
        let (size, got) = store.head(&k).await.unwrap().unwrap();
        assert_eq!(size, 5);
        if store.keeps_metadata() {
            assert_eq!(got.get("kvt-source").map(String::as_str), Some("x"));
        }
        assert!(store.get_opt(&Key::new("nope")).await.unwrap().is_none());
        assert!(store.head(&Key::new("nope")).await.unwrap().is_none());

        // Streamed upload over several parts.
        let big = Key::new("bronze/x/big.bin");
        let mut up = store.upload(&big, &meta);
        let chunk = Bytes::from(vec![7u8; 3 * 1024 * 1024]);
        for _ in 0..4 {
            up.write(chunk.clone()).await.unwrap();
        }
        assert_eq!(up.finish().await.unwrap(), 12 * 1024 * 1024);
        assert_eq!(store.get(&big).await.unwrap().len(), 12 * 1024 * 1024);

        // An aborted upload leaves nothing visible.
        let gone = Key::new("bronze/x/gone.bin");
        let mut up = store.upload(&gone, &meta);
        for _ in 0..4 {
            up.write(chunk.clone()).await.unwrap();
        }
        up.abort().await;
        assert!(store.head(&gone).await.unwrap().is_none());
        let listed: Vec<_> = store.list(&Key::new("bronze")).await.unwrap();
        let keys: Vec<_> = listed.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, vec!["bronze/x/a.csv", "bronze/x/big.bin"]);

        // Create-if-absent.
        let lock = Key::new("_locks/t.lock");
        assert!(store.create(&lock, Bytes::from_static(b"1")).await.unwrap());
        assert!(!store.create(&lock, Bytes::from_static(b"2")).await.unwrap());
        store.delete(&lock).await.unwrap();
        store.delete(&lock).await.unwrap();
        assert!(store.create(&lock, Bytes::from_static(b"3")).await.unwrap());
    }

    #[test]
    fn memory_store() {
        crate::testkit::block_on(async {
            let s = Store::open("memory://").unwrap();
            exercise(&s).await;
        });
    }

    #[test]
    fn local_store() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        crate::testkit::block_on(async {
            let s = Store::open(&url).unwrap();
            exercise(&s).await;
        });
        // Plain paths are local stores too.
        let s = Store::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(s.backend(), Backend::Local);
    }

    #[test]
    fn bad_urls() {
        assert!(Store::open("ftp://x").is_err());
        assert!(Store::open("memory://x").is_err());
        assert!(Store::open("s3://").is_err());
    }
}
