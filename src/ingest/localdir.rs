//! A local directory as a batch source: an SFTP drop or a mounted share.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;

use super::source::{FetchError, Refused, SourceFile};
use crate::store::layout::check_relative_path;

const CHUNK: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct LocalDir {
    pub dir: PathBuf,
}

impl LocalDir {
    /// `file://<absolute dir>`, the lineage namespace/origin of this source.
    pub fn origin(&self) -> String {
        let abs = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        format!("file://{}", abs.display())
    }

    /// List every regular file below the directory (recursively, symlinks not followed).
    pub async fn inventory(&self) -> Result<(Vec<SourceFile>, Vec<Refused>), FetchError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || inventory_blocking(&dir))
            .await
            .map_err(|e| FetchError::permanent(format!("listing task failed: {e}")))?
    }

    /// Stream the content of one file. A blocking reader thread fills 8 MiB
    /// chunks (no zeroing) ahead of the consumer, so reading overlaps with
    /// hashing and writing; two chunks in flight at most.
    pub async fn open(
        &self,
        file: &SourceFile,
    ) -> Result<BoxStream<'static, Result<Bytes, FetchError>>, FetchError> {
        use std::io::Read;
        let path = self.dir.join(&file.id);
        let mut f = std::fs::File::open(&path)
            .map_err(|e| FetchError::transient(format!("opening {}: {e}", path.display())))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, FetchError>>(2);
        tokio::task::spawn_blocking(move || loop {
            let mut buf = Vec::with_capacity(CHUNK);
            match (&mut f).take(CHUNK as u64).read_to_end(&mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break; // the consumer gave up
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(FetchError::transient(format!(
                        "reading {}: {e}",
                        path.display()
                    ))));
                    break;
                }
            }
        });
        Ok(tokio_stream_from(rx).boxed())
    }

    /// Check that the file did not change while it was read (a drop still being written).
    pub async fn still_same(&self, file: &SourceFile) -> Result<(), FetchError> {
        let path = self.dir.join(&file.id);
        let md = tokio::fs::metadata(&path)
            .await
            .map_err(|e| FetchError::transient(format!("{}: {e}", path.display())))?;
        let modified = mtime(&md);
        if Some(md.len()) != file.size || modified != Some(file.modified) {
            return Err(FetchError::transient(format!(
                "{} changed while it was read (still being written?)",
                path.display()
            )));
        }
        Ok(())
    }
}

fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

fn mtime(md: &std::fs::Metadata) -> Option<DateTime<Utc>> {
    md.modified().ok().map(|t| {
        let t: DateTime<Utc> = t.into();
        // Millisecond precision, as recorded in manifests and keys.
        DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
    })
}

fn inventory_blocking(root: &Path) -> Result<(Vec<SourceFile>, Vec<Refused>), FetchError> {
    let meta = std::fs::metadata(root)
        .map_err(|e| FetchError::permanent(format!("source directory {}: {e}", root.display())))?;
    if !meta.is_dir() {
        return Err(FetchError::permanent(format!(
            "source path {} is not a directory",
            root.display()
        )));
    }
    let mut files = Vec::new();
    let mut refused = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| FetchError::transient(format!("listing {}: {e}", dir.display())))?;
        for entry in rd {
            let entry = entry
                .map_err(|e| FetchError::transient(format!("listing {}: {e}", dir.display())))?;
            let name = entry.file_name();
            let child_rel = |n: &str| {
                if rel.is_empty() {
                    n.to_string()
                } else {
                    format!("{rel}/{n}")
                }
            };
            let Some(name) = name.to_str() else {
                refused.push(Refused {
                    path: child_rel(&name.to_string_lossy()),
                    reason: "file name is not valid UTF-8".into(),
                });
                continue;
            };
            let child = child_rel(name);
            if let Err(e) = check_relative_path(&child) {
                refused.push(Refused {
                    path: child,
                    reason: e.to_string(),
                });
                continue;
            }
            let ft = entry
                .file_type()
                .map_err(|e| FetchError::transient(format!("{}: {e}", entry.path().display())))?;
            if ft.is_symlink() {
                refused.push(Refused {
                    path: child,
                    reason: "symbolic link (not followed)".into(),
                });
            } else if ft.is_dir() {
                stack.push((entry.path(), child));
            } else if ft.is_file() {
                let md = entry.metadata().map_err(|e| {
                    FetchError::transient(format!("{}: {e}", entry.path().display()))
                })?;
                let Some(modified) = mtime(&md) else {
                    refused.push(Refused {
                        path: child,
                        reason: "no modification time".into(),
                    });
                    continue;
                };
                files.push(SourceFile {
                    id: child.clone(),
                    rel: child,
                    modified,
                    size: Some(md.len()),
                    md5: None,
                });
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    refused.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_recursively_and_refuses_unsafe_names() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("2026/03")).unwrap();
        std::fs::write(d.path().join("a.csv"), "x").unwrap();
        std::fs::write(d.path().join("2026/03/b.csv"), "yy").unwrap();
        std::fs::write(d.path().join("bad\nname.csv"), "z").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link.csv")).unwrap();
        let (files, refused) = inventory_blocking(d.path()).unwrap();
        let rels: Vec<_> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["2026/03/b.csv", "a.csv"]);
        assert_eq!(files[0].size, Some(2));
        let why: Vec<_> = refused.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            why,
            ["control character in name", "symbolic link (not followed)"]
        );
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let err = inventory_blocking(Path::new("/nonexistent/kvt")).unwrap_err();
        assert!(err.message.contains("/nonexistent/kvt"), "{}", err.message);
    }
}
