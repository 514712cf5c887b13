//! InfluxDB line protocol over HTTP (FRAUD-MET-1): the high-frequency
//! supervision metrics go to a time-series database, not to Kafka.
//!
//! [`Line`] builds one point (pure, escaping per the line-protocol
//! reference); [`Writer`] batches points on a background task and POSTs them
//! to `KVT_INFLUX_URL` (`/write?db=…&precision=ns`, the 1.x API that InfluxDB
//! 2 and 3 also accept). A slow or absent database never slows the caller:
//! the queue is bounded, points that do not fit are counted as dropped, and
//! a failed batch is retried a few times, then dropped and counted.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::env;
use crate::secret::Secret;

pub const DEFAULT_DB: &str = "kvt";

/// Points held in memory before new ones are dropped.
const QUEUE: usize = 100_000;
/// Points per HTTP request (InfluxDB advises 5,000-10,000).
const BATCH: usize = 5_000;
/// A batch is sent at the latest this long after its first point.
const LINGER: Duration = Duration::from_millis(1_000);

fn escape(out: &mut String, s: &str, special: &[char]) {
    for c in s.chars() {
        if c == '\n' || c == '\r' {
            // A newline ends a point: never let one through.
            out.push(' ');
            continue;
        }
        if c == '\\' || special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// One point: `measurement,tag=v field=1i,other="s" <time ns>`.
#[derive(Debug, Clone)]
pub struct Line {
    head: String,
    fields: String,
    time_ns: i64,
}

impl Line {
    pub fn new(measurement: &str, time_ns: i64) -> Line {
        let mut head = String::new();
        escape(&mut head, measurement, &[',', ' ']);
        Line {
            head,
            fields: String::new(),
            time_ns,
        }
    }

    /// A tag (indexed; empty values are not allowed by the protocol and are
    /// left out).
    pub fn tag(mut self, key: &str, value: &str) -> Line {
        if !key.is_empty() && !value.is_empty() {
            self.head.push(',');
            escape(&mut self.head, key, &[',', '=', ' ']);
            self.head.push('=');
            escape(&mut self.head, value, &[',', '=', ' ']);
        }
        self
    }

    fn field_key(&mut self, key: &str) {
        if !self.fields.is_empty() {
            self.fields.push(',');
        }
        escape(&mut self.fields, key, &[',', '=', ' ']);
        self.fields.push('=');
    }

    pub fn int(mut self, key: &str, v: i64) -> Line {
        self.field_key(key);
        let _ = write!(self.fields, "{v}i");
        self
    }

    /// A float field; NaN and infinities (not representable) are left out.
    pub fn float(mut self, key: &str, v: f64) -> Line {
        if v.is_finite() {
            self.field_key(key);
            let _ = write!(self.fields, "{v:?}");
        }
        self
    }

    pub fn bool(mut self, key: &str, v: bool) -> Line {
        self.field_key(key);
        self.fields.push_str(if v { "true" } else { "false" });
        self
    }

    pub fn string(mut self, key: &str, v: &str) -> Line {
        self.field_key(key);
        self.fields.push('"');
        escape(&mut self.fields, v, &['"']);
        self.fields.push('"');
        self
    }

    /// Every number and boolean of a JSON object as fields, nested objects
    /// flattened with dots (`payment_methods.card`); strings, arrays and
    /// nulls are left out (they are not measures).
    pub fn json_fields(mut self, prefix: &str, v: &serde_json::Value) -> Line {
        use serde_json::Value;
        if let Value::Object(map) = v {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                self = match v {
                    Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                        (Some(i), _) => self.int(&key, i),
                        (None, Some(f)) => self.float(&key, f),
                        _ => self,
                    },
                    Value::Bool(b) => self.bool(&key, *b),
                    Value::Object(_) => self.json_fields(&key, v),
                    _ => self,
                };
            }
        }
        self
    }

    /// The point as one line of the protocol, or `None` without a field
    /// (a point needs at least one).
    pub fn render(&self) -> Option<String> {
        (!self.fields.is_empty()).then(|| format!("{} {} {}", self.head, self.fields, self.time_ns))
    }
}

/// Where to write, from the environment. `None` when `KVT_INFLUX_URL` is
/// not set.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    pub db: String,
    token: Option<Secret>,
}

impl Target {
    pub fn from_env() -> anyhow::Result<Option<Target>> {
        let Some(url) = env::get(env::INFLUX_URL) else {
            return Ok(None);
        };
        let shown = crate::secret::redact_url(url.trim());
        let parsed = url::Url::parse(url.trim())
            .with_context(|| format!("{}: `{shown}` is not a URL", env::INFLUX_URL))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!(
                "{}: `{shown}` must be an http:// or https:// URL",
                env::INFLUX_URL
            );
        }
        Ok(Some(Target {
            url: url.trim().trim_end_matches('/').to_string(),
            db: env::get(env::INFLUX_DB).unwrap_or_else(|| DEFAULT_DB.to_string()),
            token: Secret::from_env(env::INFLUX_TOKEN),
        }))
    }

    fn write_url(&self) -> String {
        let mut u = format!("{}/write", self.url);
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("precision", "ns")
            .append_pair("db", &self.db)
            .finish();
        u.push('?');
        u.push_str(&q);
        u
    }
}

/// What the writer did (for `/metrics`).
#[derive(Debug, Default)]
pub struct WriterStats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_requests: AtomicU64,
}

/// Batches points and POSTs them from a task of the given runtime.
pub struct Writer {
    tx: tokio::sync::mpsc::Sender<String>,
    pub stats: Arc<WriterStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    pub fn spawn(target: Target, rt: &tokio::runtime::Handle) -> anyhow::Result<Writer> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the InfluxDB HTTP client")?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(QUEUE);
        let stats = Arc::new(WriterStats::default());
        let st = Arc::clone(&stats);
        let task = rt.spawn(async move {
            let url = target.write_url();
            let token = target.token.as_ref().map(|t| t.expose().to_string());
            let mut batch: Vec<String> = Vec::with_capacity(BATCH);
            loop {
                // Wait for a first point, then gather for up to LINGER.
                match rx.recv().await {
                    Some(l) => batch.push(l),
                    None => break,
                }
                let deadline = tokio::time::Instant::now() + LINGER;
                let mut closed = false;
                while batch.len() < BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(l)) => batch.push(l),
                        Ok(None) => {
                            closed = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                post(&client, &url, token.as_deref(), &mut batch, &st).await;
                if closed {
                    break;
                }
            }
            if !batch.is_empty() {
                post(&client, &url, token.as_deref(), &mut batch, &st).await;
            }
        });
        Ok(Writer { tx, stats, task })
    }

    /// Queues a point; drops it (counted) when the queue is full.
    pub fn push(&self, line: &Line) {
        if let Some(l) = line.render() {
            if self.tx.try_send(l).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends what is queued and waits for it (at most `timeout`).
    pub fn close(self, rt: &tokio::runtime::Handle, timeout: Duration) {
        let Writer { tx, task, .. } = self;
        drop(tx);
        let _ = rt.block_on(async { tokio::time::timeout(timeout, task).await });
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    batch: &mut Vec<String>,
    stats: &WriterStats,
) {
    let body = batch.join("\n");
    let n = batch.len() as u64;
    batch.clear();
    for attempt in 0..3u32 {
        let mut req = client.post(url).body(body.clone());
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                stats.written.fetch_add(n, Ordering::Relaxed);
                return;
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                tracing::warn!(%status, body = %text.chars().take(200).collect::<String>(), "InfluxDB refused a batch");
                stats.failed_requests.fetch_add(1, Ordering::Relaxed);
                if status.is_client_error() {
                    // A malformed point or an unknown database: retrying
                    // the same body cannot help.
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "InfluxDB unreachable");
                stats.failed_requests.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
    }
    stats.dropped.fetch_add(n, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_escaped_per_the_protocol() {
        let l = Line::new("kvt fraud,alert", 1_700_000_000_123_000_000)
            .tag("type", "card testing")
            .tag("key", "a=b,c")
            .tag("empty", "")
            .int("count", 1)
            .float("rate", 0.25)
            .float("nan", f64::NAN)
            .bool("ok", true)
            .string("id", "say \"hi\"\nback\\slash");
        assert_eq!(
            l.render().unwrap(),
            "kvt\\ fraud\\,alert,type=card\\ testing,key=a\\=b\\,c \
             count=1i,rate=0.25,ok=true,id=\"say \\\"hi\\\" back\\\\slash\" 1700000000123000000"
        );
    }

    #[test]
    fn a_point_without_fields_is_not_written() {
        assert!(Line::new("m", 1).tag("a", "b").render().is_none());
    }

    #[test]
    fn json_objects_flatten_to_numeric_fields() {
        let v = serde_json::json!({
            "transactions": 3, "volume_eur": 12.5, "rate": null, "name": "x",
            "methods": {"card": 2, "paypal": 1}, "flag": false
        });
        let l = Line::new("m", 0).json_fields("", &v).render().unwrap();
        assert_eq!(
            l,
            "m transactions=3i,volume_eur=12.5,methods.card=2i,methods.paypal=1i,flag=false 0"
        );
    }

    #[test]
    fn target_comes_from_the_environment_and_hides_the_token() {
        let t = Target {
            url: "http://127.0.0.1:8086".into(),
            db: "kvt".into(),
            token: Some(Secret::new("s3cret")),
        };
        assert!(!format!("{t:?}").contains("s3cret"));
        assert_eq!(
            t.write_url(),
            "http://127.0.0.1:8086/write?precision=ns&db=kvt"
        );
    }
}
