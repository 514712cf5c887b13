//! A Google Drive folder as a batch source, through `google-drive3` with a
//! service-account key.
//!
//! The key file comes from `KVT_DRIVE_CREDENTIALS` (or
//! `GOOGLE_APPLICATION_CREDENTIALS`) and is never versioned. The token endpoint
//! is the key's `token_uri`; the API base URL can be overridden
//! (`KVT_DRIVE_API_URL`) for proxies and for the fake Drive server of the tests.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use google_drive3::api::Scope;
use google_drive3::hyper_util::client::legacy::connect::HttpConnector;
use google_drive3::hyper_util::client::legacy::Client;
use google_drive3::hyper_util::rt::TokioExecutor;
use google_drive3::{common, hyper_rustls, yup_oauth2, DriveHub};
use http_body_util::BodyExt;

use super::source::{FetchError, Refused, SourceFile};
use crate::store::layout::check_relative_path;

type Conn = hyper_rustls::HttpsConnector<HttpConnector>;

const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
const LIST_FIELDS: &str = "nextPageToken,files(id,name,mimeType,modifiedTime,size,md5Checksum)";

/// A Drive folder.
pub struct Drive {
    hub: DriveHub<Conn>,
    auth: yup_oauth2::authenticator::Authenticator<Conn>,
    folder_id: String,
    timeout: Duration,
}

/// Settings of the Drive client.
#[derive(Debug, Clone)]
pub struct DriveSettings {
    pub folder_id: String,
    pub credentials: PathBuf,
    /// API root, e.g. `https://www.googleapis.com/` (the default) or `http://127.0.0.1:PORT/`.
    pub api_url: Option<String>,
    /// Timeout of each API call and of each gap between downloaded chunks.
    pub timeout: Duration,
}

impl Drive {
    pub async fn connect(s: &DriveSettings) -> Result<Drive, FetchError> {
        let conn: Conn = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| FetchError::permanent(format!("TLS roots for Google Drive: {e}")))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let key = read_key(&s.credentials).await?;
        let auth_http: Client<Conn, String> =
            Client::builder(TokioExecutor::new()).build(conn.clone());
        let auth = yup_oauth2::ServiceAccountAuthenticator::with_client(
            key,
            yup_oauth2::CustomHyperClientBuilder::from(auth_http),
        )
        .build()
        .await
        .map_err(|e| FetchError::permanent(format!("Google service-account authenticator: {e}")))?;
        let http: common::Client<Conn> = Client::builder(TokioExecutor::new()).build(conn);
        let mut hub = DriveHub::new(http, auth.clone());
        if let Some(root) = &s.api_url {
            let root = root.trim_end_matches('/');
            url::Url::parse(root)
                .map_err(|e| FetchError::permanent(format!("invalid Drive API URL {root}: {e}")))?;
            hub.base_url(format!("{root}/drive/v3/"));
            hub.root_url(format!("{root}/"));
        }
        Ok(Drive {
            hub,
            auth,
            folder_id: s.folder_id.clone(),
            timeout: s.timeout,
        })
    }

    pub fn origin(&self) -> String {
        format!("gdrive://folder/{}", self.folder_id)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Get an access token from the key's `token_uri` (cached until near expiry).
    ///
    /// Checked explicitly: an answer without `access_token` would otherwise make
    /// the client send unauthenticated requests.
    async fn ensure_token(&self) -> Result<(), FetchError> {
        let scope = [Scope::Readonly.as_ref()];
        let fut = self.auth.token(&scope);
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(FetchError::transient(format!(
                "getting a Google access token: no answer within {:?}",
                self.timeout
            ))),
            Ok(Err(e)) => Err(FetchError::transient(format!(
                "getting a Google access token: {e}"
            ))),
            Ok(Ok(t)) if t.token().is_none_or(str::is_empty) => Err(FetchError::transient(
                "getting a Google access token: the token endpoint answered without an access_token",
            )),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// List the folder and its subfolders (breadth first, every page).
    pub async fn inventory(&self) -> Result<(Vec<SourceFile>, Vec<Refused>), FetchError> {
        self.ensure_token().await?;
        let mut files = Vec::new();
        let mut refused = Vec::new();
        let mut folders = vec![(self.folder_id.clone(), String::new())];
        let mut seen = std::collections::BTreeSet::new();
        while let Some((folder, rel)) = folders.pop() {
            if !seen.insert(folder.clone()) {
                continue; // a folder reachable twice (multiple parents)
            }
            let mut page: Option<String> = None;
            loop {
                let q = format!(
                    "'{}' in parents and trashed = false",
                    folder.replace('\'', "\\'")
                );
                let mut capture = Capture::default();
                let mut call = self
                    .hub
                    .files()
                    .list()
                    .q(&q)
                    .page_size(1000)
                    .supports_all_drives(true)
                    .include_items_from_all_drives(true)
                    .param("fields", LIST_FIELDS)
                    .add_scope(Scope::Readonly)
                    .delegate(&mut capture);
                if let Some(t) = page.as_deref() {
                    call = call.page_token(t);
                }
                let what = format!("listing Drive folder {folder}");
                let res = tokio::time::timeout(self.timeout, call.doit()).await;
                let (_, list) = match res {
                    Err(_) => {
                        return Err(FetchError::transient(format!(
                            "{what}: no answer within {:?}",
                            self.timeout
                        )))
                    }
                    Ok(Err(e)) => return Err(classify(&what, e, &capture)),
                    Ok(Ok(v)) => v,
                };
                for f in list.files.unwrap_or_default() {
                    let name = f.name.clone().unwrap_or_default();
                    let child = if rel.is_empty() {
                        name.clone()
                    } else {
                        format!("{rel}/{name}")
                    };
                    let Some(id) = f.id.clone() else { continue };
                    let mime = f.mime_type.as_deref().unwrap_or("");
                    let unsafe_name = if name.contains('/') {
                        Some("`/` in a Drive file name".to_string())
                    } else {
                        check_relative_path(&child).err().map(|e| e.to_string())
                    };
                    if let Some(reason) = unsafe_name {
                        refused.push(Refused {
                            path: child,
                            reason,
                        });
                        continue;
                    }
                    if mime == FOLDER_MIME {
                        folders.push((id, child));
                    } else if mime.starts_with("application/vnd.google-apps.") {
                        refused.push(Refused {
                            path: child,
                            reason: format!(
                                "Google-native document ({mime}) has no raw bytes to ingest"
                            ),
                        });
                    } else {
                        let Some(modified) = f.modified_time else {
                            refused.push(Refused {
                                path: child,
                                reason: "no modifiedTime".into(),
                            });
                            continue;
                        };
                        let modified =
                            chrono::DateTime::from_timestamp_millis(modified.timestamp_millis())
                                .unwrap_or(modified);
                        files.push(SourceFile {
                            id,
                            rel: child,
                            modified,
                            size: f.size.and_then(|s| u64::try_from(s).ok()),
                            md5: f.md5_checksum.clone(),
                        });
                    }
                }
                page = list.next_page_token.filter(|t| !t.is_empty());
                if page.is_none() {
                    break;
                }
            }
        }
        files.sort_by(|a, b| a.rel.cmp(&b.rel).then(a.id.cmp(&b.id)));
        refused.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((files, refused))
    }

    /// Stream one file (`files.get?alt=media`).
    pub async fn open(
        &self,
        file: &SourceFile,
    ) -> Result<BoxStream<'static, Result<Bytes, FetchError>>, FetchError> {
        let mut capture = Capture::default();
        let call = self
            .hub
            .files()
            .get(&file.id)
            .supports_all_drives(true)
            .param("alt", "media")
            .add_scope(Scope::Readonly)
            .delegate(&mut capture);
        let what = format!("downloading {} (Drive file {})", file.rel, file.id);
        let (resp, _) = match tokio::time::timeout(self.timeout, call.doit()).await {
            Err(_) => {
                return Err(FetchError::transient(format!(
                    "{what}: no answer within {:?}",
                    self.timeout
                )))
            }
            Ok(Err(e)) => return Err(classify(&what, e, &capture)),
            Ok(Ok(v)) => v,
        };
        let body = resp.into_body();
        let stream = body.into_data_stream().map(move |r| {
            r.map_err(|e| FetchError::transient(format!("{what}: connection broken: {e}")))
        });
        Ok(Box::pin(stream) as Pin<Box<_>>)
    }
}

async fn read_key(path: &Path) -> Result<yup_oauth2::ServiceAccountKey, FetchError> {
    yup_oauth2::read_service_account_key(path)
        .await
        .map_err(|e| {
            FetchError::permanent(format!(
                "cannot read Google service-account key {}: {e}",
                path.display()
            ))
        })
}

/// Records the HTTP status and `Retry-After` of a failed call; never retries
/// by itself (kvt's attempt loop does).
#[derive(Default)]
struct Capture {
    status: Option<u16>,
    retry_after: Option<Duration>,
}

impl common::Delegate for Capture {
    fn http_failure(
        &mut self,
        resp: &common::Response,
        _err: Option<&serde_json::Value>,
    ) -> common::Retry {
        self.status = Some(resp.status().as_u16());
        self.retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        common::Retry::Abort
    }
}

/// Turn a client error into a message naming the status and Google's reason.
fn classify(what: &str, err: google_drive3::Error, capture: &Capture) -> FetchError {
    use google_drive3::Error as E;
    let status = capture.status;
    let (message, transient) = match &err {
        E::BadRequest(v) => {
            let code = v["error"]["code"].as_u64().map(|c| c as u16).or(status);
            let reason = v["error"]["errors"][0]["reason"]
                .as_str()
                .or(v["error"]["status"].as_str())
                .unwrap_or("");
            let msg = v["error"]["message"].as_str().unwrap_or("");
            let transient = match code {
                Some(401) | Some(408) | Some(429) | Some(500..=599) => true,
                Some(403) => reason.contains("RateLimit") || reason.contains("rateLimit"),
                _ => false,
            };
            (
                format!(
                    "{what}: HTTP {} {reason} {msg}",
                    code.map(|c| c.to_string())
                        .unwrap_or_else(|| "error".into())
                )
                .trim_end()
                .to_string(),
                transient,
            )
        }
        E::Failure(resp) => {
            let code = resp.status().as_u16();
            (
                format!("{what}: HTTP {code}"),
                matches!(code, 401 | 408 | 429) || code >= 500,
            )
        }
        E::HttpError(e) => (format!("{what}: {e}"), true),
        E::Io(e) => (format!("{what}: {e}"), true),
        E::MissingToken(e) => (format!("{what}: cannot get an access token: {e}"), true),
        E::JsonDecodeError(body, e) => (
            format!(
                "{what}: unexpected answer ({e}): {}",
                body.chars().take(200).collect::<String>()
            ),
            true,
        ),
        other => (format!("{what}: {other}"), false),
    };
    FetchError {
        message,
        transient,
        retry_after: capture.retry_after,
    }
}
