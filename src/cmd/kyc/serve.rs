//! `kvt kyc serve` (KYC-10): `POST /kyc/verify` (multipart), `GET
//! /kyc/status/{kyc_ref}`, `/openapi.json`, `/health`, `/metrics`.
//!
//! A fixed pool of OCR worker threads (one Tesseract engine pair each,
//! created at start) takes requests from a bounded queue: a full queue is
//! 503 + `Retry-After` at once, not a slow death. Uploads are held in
//! memory only, limited in size; each request has a time limit; SIGTERM
//! stops accepting, finishes the requests in flight and exits 0.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::{Response, Service};
use crate::cli::KycServeArgs;
use crate::kyc::input::Refused;
use crate::kyc::read::Unreadable;
use crate::run::{ExitStatus, Report, RunContext};

type Outcome = anyhow::Result<Result<Response, Unreadable>>;

struct Job {
    bytes: Bytes,
    order_id: String,
    customer_id: Option<String>,
    reply: tokio::sync::oneshot::Sender<Outcome>,
}

/// Counters of `/metrics`.
#[derive(Default)]
struct Stats {
    majeur: AtomicU64,
    mineur: AtomicU64,
    en_attente: AtomicU64,
    unreadable: AtomicU64,
    rejected_busy: AtomicU64,
    timeouts: AtomicU64,
    failures: AtomicU64,
    queued: AtomicU64,
    /// Sum of processing time, milliseconds, and latency buckets.
    ms_sum: AtomicU64,
    buckets: [AtomicU64; 8],
}

const BUCKETS_S: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, f64::INFINITY];

struct App {
    service: Arc<Service>,
    /// Dropped with the app once the server stops: the workers then end.
    jobs: SyncSender<Job>,
    stats: Arc<Stats>,
    timeout: Duration,
    workers: usize,
    queue: usize,
}

/// Resolved settings of the service.
fn settings(
    a: &KycServeArgs,
    ctx: &RunContext,
) -> anyhow::Result<(String, usize, usize, Duration)> {
    let cfg = &ctx.config.kyc;
    let listen = a
        .listen
        .clone()
        .or(cfg.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = a.workers.or(cfg.workers).unwrap_or(cores).max(1);
    let queue = a.queue.or(cfg.queue).unwrap_or(workers * 4).max(1);
    let timeout = match a.timeout.as_ref().or(cfg.timeout.as_ref()) {
        Some(t) => crate::config::parse_duration(t)
            .map_err(anyhow::Error::msg)
            .context("--timeout")?,
        None => Duration::from_secs(10),
    };
    Ok((listen, workers, queue, timeout))
}

pub async fn run(a: &KycServeArgs, ctx: &RunContext) -> anyhow::Result<Report> {
    let (listen, workers, queue, timeout) = settings(a, ctx)?;
    let service = Service::open(&a.kyc, ctx).await?;
    let (tx, rx) = sync_channel::<Job>(queue);
    let rx = Arc::new(Mutex::new(rx));
    let (service, stats) = (Arc::new(service), Arc::new(Stats::default()));
    let app = Arc::new(App {
        service: Arc::clone(&service),
        jobs: tx,
        stats: Arc::clone(&stats),
        timeout,
        workers,
        queue,
    });
    // Workers: engines created now, so a missing language pack fails the start.
    let mut handles = Vec::new();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
    for i in 0..workers {
        let (service, stats) = (Arc::clone(&service), Arc::clone(&stats));
        let (rx, ready) = (Arc::clone(&rx), ready_tx.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("kyc-ocr-{i}"))
                .spawn(move || worker(&service, &stats, &rx, ready))
                .context("starting an OCR worker")?,
        );
    }
    drop(ready_tx);
    for r in ready_rx.iter().take(workers) {
        r?;
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(
        workers,
        queue,
        "kyc serve listening on http://{bound} (POST /kyc/verify, GET /kyc/status/{{kyc_ref}}, /openapi.json, /health, /metrics)"
    );
    let limit = app.service.max_bytes as usize + 64 * 1024;
    let router = Router::new()
        .route("/kyc/verify", post(verify))
        .route("/kyc/status/{kyc_ref}", get(status))
        .route("/openapi.json", get(openapi))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::clone(&app));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server stopped")?;
    tracing::info!("kyc serve: stopped accepting, finishing the requests in flight");
    // Requests in flight have been answered; let the workers drain and stop.
    drop(app);
    let stats = {
        let s = &stats;
        let decided = [&s.majeur, &s.mineur, &s.en_attente]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>();
        (
            decided,
            s.unreadable.load(Ordering::Relaxed),
            s.rejected_busy.load(Ordering::Relaxed),
        )
    };
    for h in handles {
        let _ = h.join();
    }
    let mut r = Report::new(ExitStatus::Success);
    r.field("decisions", stats.0)
        .field("unreadable", stats.1)
        .field("rejected_busy", stats.2);
    r.rows_out = stats.0;
    r.rows_rejected = stats.1;
    Ok(r)
}

fn worker(
    service: &Service,
    stats: &Stats,
    rx: &Mutex<Receiver<Job>>,
    ready: std::sync::mpsc::Sender<anyhow::Result<()>>,
) {
    let _ = ready.send(crate::kyc::ocr::with_engines(&service.ocr, |_| ()));
    drop(ready);
    loop {
        // Hold the lock only to take a job.
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        stats.queued.fetch_sub(1, Ordering::Relaxed);
        if job.reply.is_closed() {
            continue; // the client gave up (timeout): do not spend a core on it
        }
        let out = service.decide(&job.bytes, &job.order_id, job.customer_id.as_deref());
        drop(job.bytes);
        let _ = job.reply.send(out);
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn error(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Maps a refusal to its HTTP status.
fn unreadable(e: &Unreadable) -> HttpResponse {
    let status = match e {
        Unreadable::Refused(Refused::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
        Unreadable::Refused(Refused::Unsupported { .. }) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error(status, e.to_string())
}

async fn verify(State(app): State<Arc<App>>, mut form: Multipart) -> HttpResponse {
    let started = Instant::now();
    let (mut bytes, mut order_id, mut customer_id) = (None, None, None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return error(
                    e.status(),
                    format!("invalid multipart body: {}", e.body_text()),
                )
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let data = match field.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return error(
                    e.status(),
                    format!("invalid multipart body: {}", e.body_text()),
                )
            }
        };
        match name.as_str() {
            "image" | "file" | "document" => bytes = Some(data),
            "order_id" => order_id = Some(String::from_utf8_lossy(&data).trim().to_string()),
            "customer_id" => {
                customer_id = Some(String::from_utf8_lossy(&data).trim().to_string())
                    .filter(|s| !s.is_empty())
            }
            _ => {}
        }
    }
    let Some(bytes) = bytes else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing the `image` part (the document)",
        );
    };
    let Some(order_id) = order_id.filter(|o| !o.is_empty() && o.len() <= 200) else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing or invalid `order_id` part",
        );
    };
    if customer_id.as_ref().is_some_and(|c| c.len() > 200) {
        return error(StatusCode::BAD_REQUEST, "invalid `customer_id` part");
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    app.stats.queued.fetch_add(1, Ordering::Relaxed);
    match app.jobs.try_send(Job {
        bytes,
        order_id,
        customer_id,
        reply,
    }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            app.stats.queued.fetch_sub(1, Ordering::Relaxed);
            app.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "all OCR workers are busy and the queue is full; retry later",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
            return r;
        }
    }
    let out = match tokio::time::timeout(app.timeout, answer).await {
        Err(_) => {
            app.stats.timeouts.fetch_add(1, Ordering::Relaxed);
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the document was not decided within {:?}", app.timeout),
            );
        }
        Ok(Err(_)) => {
            app.stats.failures.fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::INTERNAL_SERVER_ERROR, "the OCR worker stopped");
        }
        Ok(Ok(out)) => out,
    };
    let r = match out {
        Err(e) => {
            app.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!("kyc: OCR failed: {e:#}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("OCR failed: {e}"),
            );
        }
        Ok(Err(e)) => {
            app.stats.unreadable.fetch_add(1, Ordering::Relaxed);
            return unreadable(&e);
        }
        Ok(Ok(r)) => r,
    };
    if let Err(e) = app.service.record(&r).await {
        app.stats.failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(kyc_ref = %r.kyc_ref, "kyc: recording the decision failed: {e:#}");
        let mut resp = error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the decision could not be recorded: {e}"),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return resp;
    }
    let s = &app.stats;
    match r.decision {
        crate::kyc::decide::Decision::Majeur => &s.majeur,
        crate::kyc::decide::Decision::Mineur => &s.mineur,
        crate::kyc::decide::Decision::EnAttente => &s.en_attente,
    }
    .fetch_add(1, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    s.ms_sum
        .fetch_add((secs * 1000.0) as u64, Ordering::Relaxed);
    for (i, b) in BUCKETS_S.iter().enumerate() {
        if secs <= *b {
            s.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut body = r;
    body.doc_fingerprint = None;
    (StatusCode::OK, Json(body)).into_response()
}

async fn status(State(app): State<Arc<App>>, Path(kyc_ref): Path<String>) -> HttpResponse {
    if !app.service.has_table() {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "status needs the transactional database (KVT_OLTP_URL)",
        );
    }
    if kyc_ref.len() > 64
        || !kyc_ref
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return error(StatusCode::BAD_REQUEST, "invalid kyc_ref");
    }
    match app.service.status(&kyc_ref).await {
        Ok(Some(mut r)) => {
            r.doc_fingerprint = None;
            (StatusCode::OK, Json(r)).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("unknown kyc_ref {kyc_ref}")),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("status lookup failed: {e}"),
        ),
    }
}

async fn health(State(app): State<Arc<App>>) -> HttpResponse {
    (
        StatusCode::OK,
        Json(json!({
            "status": "ok",
            "workers": app.workers,
            "queue_capacity": app.queue,
            "queued": app.stats.queued.load(Ordering::Relaxed),
        })),
    )
        .into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> HttpResponse {
    use std::fmt::Write as _;
    let s = &app.stats;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP kvt_kyc_decisions_total Decisions returned, by decision."
    );
    let _ = writeln!(out, "# TYPE kvt_kyc_decisions_total counter");
    for (d, c) in [
        ("majeur", &s.majeur),
        ("mineur", &s.mineur),
        ("en_attente", &s.en_attente),
    ] {
        let _ = writeln!(
            out,
            "kvt_kyc_decisions_total{{decision=\"{d}\"}} {}",
            load(c)
        );
    }
    let _ = writeln!(
        out,
        "# HELP kvt_kyc_rejected_total Requests not decided, by cause."
    );
    let _ = writeln!(out, "# TYPE kvt_kyc_rejected_total counter");
    for (r, c) in [
        ("unreadable", &s.unreadable),
        ("busy", &s.rejected_busy),
        ("timeout", &s.timeouts),
        ("failure", &s.failures),
    ] {
        let _ = writeln!(out, "kvt_kyc_rejected_total{{cause=\"{r}\"}} {}", load(c));
    }
    let _ = writeln!(
        out,
        "# HELP kvt_kyc_queued Requests waiting for an OCR worker."
    );
    let _ = writeln!(out, "# TYPE kvt_kyc_queued gauge");
    let _ = writeln!(out, "kvt_kyc_queued {}", load(&s.queued));
    let _ = writeln!(
        out,
        "# HELP kvt_kyc_request_seconds Time to a decision, upload to answer."
    );
    let _ = writeln!(out, "# TYPE kvt_kyc_request_seconds histogram");
    for (i, b) in BUCKETS_S.iter().enumerate() {
        let le = if b.is_infinite() {
            "+Inf".to_string()
        } else {
            b.to_string()
        };
        let _ = writeln!(
            out,
            "kvt_kyc_request_seconds_bucket{{le=\"{le}\"}} {}",
            load(&s.buckets[i])
        );
    }
    let count = load(&s.buckets[BUCKETS_S.len() - 1]);
    let _ = writeln!(
        out,
        "kvt_kyc_request_seconds_sum {}",
        load(&s.ms_sum) as f64 / 1000.0
    );
    let _ = writeln!(out, "kvt_kyc_request_seconds_count {count}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}

async fn openapi() -> HttpResponse {
    Json(openapi_document()).into_response()
}

/// The OpenAPI 3.1 description of the service.
pub fn openapi_document() -> serde_json::Value {
    let decision = json!({
        "type": "object",
        "required": ["kyc_ref", "order_id", "decision", "confidence_score", "processing_time_ms", "decided_at"],
        "properties": {
            "kyc_ref": {"type": "string", "example": "KYC-202612-5f0c2a9e71d3"},
            "order_id": {"type": "string"},
            "customer_id": {"type": ["string", "null"]},
            "decision": {"type": "string", "enum": ["majeur", "mineur", "en_attente"]},
            "reason": {"type": ["string", "null"], "enum": [null, "confiance_insuffisante", "mrz_invalide", "date_illisible", "document_expiré"]},
            "confidence_score": {"type": "number", "minimum": 0, "maximum": 1},
            "doc_type": {"type": ["string", "null"], "enum": [null, "CNI", "Passeport", "Titre de séjour", "Permis de conduire"]},
            "doc_expiration_valid": {"type": ["boolean", "null"]},
            "age_computed": {"type": ["integer", "null"]},
            "processing_time_ms": {"type": "integer"},
            "decided_at": {"type": "string", "format": "date-time"}
        }
    });
    let err = json!({"type": "object", "properties": {"error": {"type": "string"}}});
    let e = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kvt kyc serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Age verification from an identity document (ICAO 9303 MRZ by OCR). Images are processed in memory and never stored."
        },
        "paths": {
            "/kyc/verify": {"post": {
                "summary": "Decide majeur / mineur / en_attente from a document",
                "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {
                    "type": "object",
                    "required": ["image", "order_id"],
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "JPEG, PNG, TIFF, WebP or PDF"},
                        "order_id": {"type": "string"},
                        "customer_id": {"type": "string"}
                    }
                }}}},
                "responses": {
                    "200": {"description": "The decision", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}}},
                    "400": e("Missing image or order_id"),
                    "413": e("Document over the size limit"),
                    "415": e("Not an accepted format"),
                    "422": e("Empty, truncated or undecodable image"),
                    "503": e("Queue full or a dependency down; see Retry-After"),
                    "504": e("Not decided within the time limit")
                }
            }},
            "/kyc/status/{kyc_ref}": {"get": {
                "summary": "A recorded decision (from the transactional table)",
                "parameters": [{"name": "kyc_ref", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The decision", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}}},
                    "404": e("Unknown kyc_ref"),
                    "501": e("No transactional database configured")
                }
            }},
            "/health": {"get": {"summary": "Liveness and queue", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}}
        },
        "components": {"schemas": {"Decision": decision, "Error": err}}
    })
}
