//! OpenLineage RunEvents (START, COMPLETE, FAIL) for every command run.
//!
//! Destination: `http(s)://…` (JSON POST; `/api/v1/lineage` is appended when
//! the URL has no path, as Marquez expects) or `file:///path.jsonl` (one event
//! per line, appended). A lineage failure is logged and never fails the run.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::secret::Secret;

pub const PRODUCER: &str = concat!(
    "https://github.com/kivendtout/kvt/tree/v",
    env!("CARGO_PKG_VERSION")
);
const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// A dataset read or written by a run.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// `s3://bucket`, `file:///lake`, `gdrive://folder/<id>`, `kafka://host:port`…
    pub namespace: String,
    /// Path or table name within the namespace.
    pub name: String,
    /// Column names and types, when known.
    pub schema: Vec<(String, String)>,
    /// Rows and bytes, for outputs (and inputs, where known).
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
}

impl Dataset {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Dataset {
        Dataset {
            namespace: namespace.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn to_json(&self, output: bool) -> Value {
        let mut facets = serde_json::Map::new();
        if !self.schema.is_empty() {
            facets.insert(
                "schema".into(),
                json!({
                    "_producer": PRODUCER,
                    "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                    "fields": self.schema.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
                }),
            );
        }
        let mut v = json!({"namespace": self.namespace, "name": self.name, "facets": facets});
        if self.rows.is_some() || self.bytes.is_some() {
            let (key, url) = if output {
                ("outputStatistics", "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet")
            } else {
                ("inputStatistics", "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet")
            };
            let mut stats = json!({"_producer": PRODUCER, "_schemaURL": url});
            if let Some(r) = self.rows {
                stats["rowCount"] = json!(r);
            }
            if let Some(b) = self.bytes {
                stats["size"] = json!(b);
            }
            let facet_group = if output {
                "outputFacets"
            } else {
                "inputFacets"
            };
            v[facet_group] = json!({ key: stats });
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Start,
    Complete,
    Fail,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Complete => "COMPLETE",
            EventType::Fail => "FAIL",
        }
    }
}

/// Build one OpenLineage RunEvent.
#[allow(clippy::too_many_arguments)]
pub fn run_event(
    event: EventType,
    time: DateTime<Utc>,
    run_id: &str,
    namespace: &str,
    job: &str,
    inputs: &[Dataset],
    outputs: &[Dataset],
    error: Option<&str>,
) -> Value {
    let mut run_facets = serde_json::Map::new();
    if let Some(msg) = error {
        run_facets.insert(
            "errorMessage".into(),
            json!({
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
                "message": msg,
                "programmingLanguage": "Rust",
            }),
        );
    }
    json!({
        "eventType": event.as_str(),
        "eventTime": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "run": {"runId": run_id, "facets": run_facets},
        "job": {
            "namespace": namespace,
            "name": job,
            "facets": {
                "jobType": {
                    "_producer": PRODUCER,
                    "_schemaURL": "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                    "processingType": "BATCH",
                    "integration": "KVT",
                    "jobType": "COMMAND",
                }
            }
        },
        "inputs": inputs.iter().map(|d| d.to_json(false)).collect::<Vec<_>>(),
        "outputs": outputs.iter().map(|d| d.to_json(true)).collect::<Vec<_>>(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    })
}

/// Mark `event` as a child run of `run_id`/`job` (the ParentRunFacet): the
/// per-table runs of `kvt gold` and `kvt load` under the command's run.
pub fn with_parent(event: &mut Value, run_id: &str, namespace: &str, job: &str) {
    event["run"]["facets"]["parent"] = json!({
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet",
        "run": {"runId": run_id},
        "job": {"namespace": namespace, "name": job},
    });
}

/// Where events go.
#[derive(Debug, Clone)]
pub enum Sink {
    None,
    Http {
        url: String,
        api_key: Option<Secret>,
    },
    File(PathBuf),
}

impl Sink {
    /// Interpret a `KVT_OPENLINEAGE_URL` value.
    pub fn from_url(url: Option<&str>, api_key: Option<Secret>) -> Result<Sink, String> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Sink::None);
        };
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(Sink::File(PathBuf::from(path)));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            let parsed = url::Url::parse(url).map_err(|e| format!("invalid lineage URL: {e}"))?;
            let full = if parsed.path() == "/" || parsed.path().is_empty() {
                format!("{}/api/v1/lineage", url.trim_end_matches('/'))
            } else {
                url.to_string()
            };
            return Ok(Sink::Http { url: full, api_key });
        }
        Err(format!(
            "unsupported lineage URL `{url}` (use http(s)://… or file:///path.jsonl)"
        ))
    }

    /// Send one event. Errors are logged, never returned.
    pub async fn emit(&self, event: &Value) {
        let result = match self {
            Sink::None => Ok(()),
            Sink::File(path) => append_line(path, event),
            Sink::Http { url, api_key } => post(url, api_key.as_ref(), event).await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not emit OpenLineage event (the run goes on)");
        }
    }
}

fn append_line(path: &PathBuf, event: &Value) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut line = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    line.push(b'\n');
    f.write_all(&line)
        .map_err(|e| format!("{}: {e}", path.display()))
}

async fn post(url: &str, api_key: Option<&Secret>, event: &Value) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.post(url).json(event);
    if let Some(k) = api_key {
        req = req.bearer_auth(k.expose());
    }
    let resp = req.send().await.map_err(|e| format!("POST {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("POST {url}: HTTP {}", resp.status()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_shape() {
        let mut out = Dataset::new("file:///lake", "bronze/crm_data");
        out.rows = Some(3);
        out.bytes = Some(100);
        let e = run_event(
            EventType::Complete,
            DateTime::parse_from_rfc3339("2026-03-17T06:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            "0190c7a4-0000-7000-8000-000000000000",
            "kvt",
            "ingest_drive.crm",
            &[Dataset::new("file:///drop", "crm_data")],
            &[out],
            None,
        );
        assert_eq!(e["eventType"], "COMPLETE");
        assert_eq!(e["job"]["name"], "ingest_drive.crm");
        assert_eq!(
            e["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"],
            3
        );
        assert_eq!(e["eventTime"], "2026-03-17T06:00:00.000Z");
    }

    #[test]
    fn sinks() {
        assert!(matches!(Sink::from_url(None, None), Ok(Sink::None)));
        match Sink::from_url(Some("http://localhost:5000"), None).unwrap() {
            Sink::Http { url, .. } => assert_eq!(url, "http://localhost:5000/api/v1/lineage"),
            s => panic!("{s:?}"),
        }
        match Sink::from_url(Some("http://h:1/custom/endpoint"), None).unwrap() {
            Sink::Http { url, .. } => assert_eq!(url, "http://h:1/custom/endpoint"),
            s => panic!("{s:?}"),
        }
        assert!(matches!(
            Sink::from_url(Some("file:///tmp/l.jsonl"), None),
            Ok(Sink::File(_))
        ));
        assert!(Sink::from_url(Some("kafka://x"), None).is_err());
    }
}
