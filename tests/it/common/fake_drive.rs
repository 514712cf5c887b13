//! A fake Google Drive v3 server on 127.0.0.1, speaking plain HTTP/1.1, so the
//! real google-drive3 + yup-oauth2 code path runs against it.
//!
//! Serves the token endpoint (`POST /token`), `files.list` (`q`, `pageToken`,
//! `pageSize`, `fields`) and `files.get?alt=media`, and can inject faults:
//! 403 `userRateLimitExceeded`, 429 with `Retry-After`, 500, a body cut
//! mid-way, a slow answer.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";

#[derive(Debug, Clone)]
pub struct FakeFile {
    pub id: String,
    pub name: String,
    pub parent: String,
    pub mime: String,
    pub modified: String,
    pub content: Vec<u8>,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Token,
    List,
    /// `files.get?alt=media` of this file id.
    Media(String),
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// 403 with Google's `userRateLimitExceeded` error body.
    RateLimit403,
    /// 429 with `Retry-After: secs`.
    TooMany429 { retry_after: u64 },
    /// 500 with a Google error body.
    Internal500,
    /// Send the headers (full Content-Length) and only `after` bytes of the body, then close.
    CutBody { after: usize },
    /// Wait before answering normally.
    Slow(Duration),
}

#[derive(Default)]
struct State {
    files: Vec<FakeFile>,
    faults: VecDeque<(Target, Fault)>,
    /// Faults applied to every matching request (never consumed).
    sticky: Vec<(Target, Fault)>,
    log: Vec<String>,
    page_size: usize,
}

#[derive(Clone)]
pub struct FakeDrive {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeDrive {
    pub fn start() -> FakeDrive {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake drive");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            page_size: 2,
            ..Default::default()
        }));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &st);
                });
            }
        });
        FakeDrive { url, state }
    }

    pub fn add_folder(&self, id: &str, name: &str, parent: &str) {
        self.state.lock().unwrap().files.push(FakeFile {
            id: id.into(),
            name: name.into(),
            parent: parent.into(),
            mime: FOLDER_MIME.into(),
            modified: "2026-03-01T00:00:00.000Z".into(),
            content: vec![],
        });
    }

    pub fn add_file(&self, id: &str, name: &str, parent: &str, modified: &str, content: &[u8]) {
        self.add_file_mime(id, name, parent, modified, content, "text/csv");
    }

    pub fn add_file_mime(
        &self,
        id: &str,
        name: &str,
        parent: &str,
        modified: &str,
        content: &[u8],
        mime: &str,
    ) {
        self.state.lock().unwrap().files.push(FakeFile {
            id: id.into(),
            name: name.into(),
            parent: parent.into(),
            mime: mime.into(),
            modified: modified.into(),
            content: content.to_vec(),
        });
    }

    /// Change a file's content and modification time.
    pub fn modify(&self, id: &str, modified: &str, content: &[u8]) {
        let mut st = self.state.lock().unwrap();
        let f = st.files.iter_mut().find(|f| f.id == id).expect("file");
        f.modified = modified.into();
        f.content = content.to_vec();
    }

    /// Delete a file (it disappears from listings).
    pub fn remove(&self, id: &str) {
        self.state.lock().unwrap().files.retain(|f| f.id != id);
    }

    /// Inject a fault on the next matching request.
    pub fn fault(&self, target: Target, fault: Fault) {
        self.state.lock().unwrap().faults.push_back((target, fault));
    }

    /// Inject a fault on every matching request.
    pub fn sticky_fault(&self, target: Target, fault: Fault) {
        self.state.lock().unwrap().sticky.push((target, fault));
    }

    pub fn clear_faults(&self) {
        let mut st = self.state.lock().unwrap();
        st.faults.clear();
        st.sticky.clear();
    }

    /// Requests seen so far, as `METHOD /path` (query stripped), in order.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Number of `alt=media` downloads seen.
    pub fn downloads(&self) -> usize {
        self.log()
            .iter()
            .filter(|l| l.starts_with("GET /drive/v3/files/"))
            .count()
    }

    /// A service-account key file whose `token_uri` points at this server.
    pub fn write_key_file(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let pem_path = dir.join("sa.pem");
        let status = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&pem_path)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (installed by the Makefile) to generate a test key");
        assert!(status.success());
        let pem = std::fs::read_to_string(&pem_path).unwrap();
        std::fs::remove_file(&pem_path).unwrap();
        let key = serde_json::json!({
            "type": "service_account",
            "project_id": "kvt-test",
            "private_key_id": "test",
            "private_key": pem,
            "client_email": "kvt-test@kvt-test.iam.gserviceaccount.com",
            "client_id": "1",
            "auth_uri": format!("{}/auth", self.url),
            "token_uri": format!("{}/token", self.url),
        });
        let path = dir.join("sa.key.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&key).unwrap()).unwrap();
        path
    }
}

fn take_fault(st: &mut State, target: &Target) -> Option<Fault> {
    if let Some(i) = st.faults.iter().position(|(t, _)| t == target) {
        return st.faults.remove(i).map(|(_, f)| f);
    }
    st.sticky
        .iter()
        .find(|(t, _)| t == target)
        .map(|(_, f)| f.clone())
}

fn handle(conn: TcpStream, st: &Arc<Mutex<State>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut content_length = 0usize;
    let mut authorized = false;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            if k.eq_ignore_ascii_case("authorization") && v.trim() == "Bearer fake-token" {
                authorized = true;
            }
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;

    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());

    let which = if path == "/token" {
        Target::Token
    } else if path == "/drive/v3/files" {
        Target::List
    } else if let Some(id) = path.strip_prefix("/drive/v3/files/") {
        Target::Media(id.to_string())
    } else {
        return respond(&mut out, 404, "application/json", b"{}", &[]);
    };
    let fault = {
        let mut s = st.lock().unwrap();
        s.log.push(format!("{method} {path}"));
        take_fault(&mut s, &which)
    };
    if which != Target::Token && !authorized {
        let b = google_error(401, "authError", "Invalid Credentials");
        return respond(&mut out, 401, "application/json", &b, &[]);
    }
    let mut cut = None;
    match fault {
        Some(Fault::RateLimit403) => {
            let b = google_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded");
            return respond(&mut out, 403, "application/json", &b, &[]);
        }
        Some(Fault::TooMany429 { retry_after }) => {
            let b = google_error(429, "rateLimitExceeded", "Too Many Requests");
            let ra = retry_after.to_string();
            return respond(
                &mut out,
                429,
                "application/json",
                &b,
                &[("Retry-After", &ra)],
            );
        }
        Some(Fault::Internal500) if which == Target::Token => {
            let b = br#"{"error":"internal_failure","error_description":"Backend Error"}"#;
            return respond(&mut out, 500, "application/json", b, &[]);
        }
        Some(Fault::Internal500) => {
            let b = google_error(500, "backendError", "Backend Error");
            return respond(&mut out, 500, "application/json", &b, &[]);
        }
        Some(Fault::Slow(d)) => std::thread::sleep(d),
        Some(Fault::CutBody { after }) => cut = Some(after),
        None => {}
    }

    match which {
        Target::Token => {
            let b = br#"{"access_token":"fake-token","token_type":"Bearer","expires_in":3600}"#;
            respond(&mut out, 200, "application/json", b, &[])
        }
        Target::List => {
            let q = param("q").unwrap_or_default();
            let folder = q.split('\'').nth(1).unwrap_or_default().to_string();
            let offset: usize = param("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
            let s = st.lock().unwrap();
            let page_size = param("pageSize")
                .and_then(|p| p.parse().ok())
                .unwrap_or(100usize)
                .min(s.page_size);
            let children: Vec<&FakeFile> = s.files.iter().filter(|f| f.parent == folder).collect();
            let page: Vec<serde_json::Value> = children
                .iter()
                .skip(offset)
                .take(page_size)
                .map(|f| {
                    let mut v = serde_json::json!({
                        "id": f.id, "name": f.name, "mimeType": f.mime, "modifiedTime": f.modified,
                    });
                    if f.mime != FOLDER_MIME && !f.mime.starts_with("application/vnd.google-apps.")
                    {
                        v["size"] = f.content.len().to_string().into();
                        v["md5Checksum"] = format!("{:032x}", md5_of(&f.content)).into();
                    }
                    v
                })
                .collect();
            let mut resp = serde_json::json!({"kind": "drive#fileList", "files": page});
            if offset + page_size < children.len() {
                resp["nextPageToken"] = (offset + page_size).to_string().into();
            }
            drop(s);
            respond(
                &mut out,
                200,
                "application/json",
                &serde_json::to_vec(&resp).unwrap(),
                &[],
            )
        }
        Target::Media(id) => {
            let content = {
                let s = st.lock().unwrap();
                s.files
                    .iter()
                    .find(|f| f.id == id)
                    .map(|f| f.content.clone())
            };
            let Some(content) = content else {
                let b = google_error(404, "notFound", "File not found");
                return respond(&mut out, 404, "application/json", &b, &[]);
            };
            if param("alt").as_deref() != Some("media") {
                return respond(&mut out, 400, "application/json", b"{}", &[]);
            }
            match cut {
                Some(after) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        content.len()
                    );
                    out.write_all(head.as_bytes())?;
                    out.write_all(&content[..after.min(content.len())])?;
                    out.flush()?;
                    let _ = out.shutdown(std::net::Shutdown::Both);
                    Ok(())
                }
                None => respond(&mut out, 200, "application/octet-stream", &content, &[]),
            }
        }
    }
}

fn google_error(code: u16, reason: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "error": {"code": code, "message": message, "errors": [{"domain": "usageLimits", "reason": reason, "message": message}]}
    }))
    .unwrap()
}

fn respond(
    out: &mut TcpStream,
    code: u16,
    ctype: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

fn md5_of(data: &[u8]) -> u128 {
    use md5::Digest;
    let d = md5::Md5::digest(data);
    u128::from_be_bytes(d.into())
}
