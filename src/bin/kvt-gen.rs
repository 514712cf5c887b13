//! `kvt-gen` — deterministic synthetic data for every kvt source (see docs/generator.md).
//!
//! A thin main over `kvt::gen`: parse the arguments, generate, print one JSON summary
//! line on stdout. Exit 0 on success, 2 on a usage or I/O error.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::Parser;
use kvt::gen::{generate, GenConfig, Source};

/// Generate deterministic synthetic KiVendTout data: the Drive folders of every source
/// (CRM, Firebase, Nginx, logistics, KYC), the Kafka topics as JSONL and a ground truth
/// that counts every injected anomaly and fraud pattern.
///
/// Examples:
///
///   kvt-gen --date 2026-03-17 --out demo-data
///
///   kvt-gen --from 2026-03-16 --to 2026-03-22 --scale 0.1 --seed 7 --out /tmp/week
///
///   kvt-gen --date 2026-03-17 --scale 0.01 --sources crm,nginx --out testdata/drive
///
///   kvt-gen topics --brokers 127.0.0.1:9092
///
///   kvt-gen produce --events demo-data/events --brokers 127.0.0.1:9092 --rate 500/s
#[derive(Debug, Parser)]
#[command(
    name = "kvt-gen",
    version,
    verbatim_doc_comment,
    args_conflicts_with_subcommands = true
)]
struct GenArgs {
    #[command(subcommand)]
    command: Option<GenCommand>,

    /// Output directory (created if missing; existing files are overwritten).
    #[arg(long, env = "KVT_GEN_OUT")]
    out: Option<PathBuf>,

    /// One day to generate (YYYY-MM-DD); same as --from D --to D.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    date: Option<NaiveDate>,

    /// First day of the range (YYYY-MM-DD).
    #[arg(long)]
    from: Option<NaiveDate>,

    /// Last day of the range, inclusive (YYYY-MM-DD); defaults to --from.
    #[arg(long, requires = "from")]
    to: Option<NaiveDate>,

    /// Random seed; the same seed and arguments give byte-identical output.
    #[arg(long, default_value_t = 42, env = "KVT_GEN_SEED")]
    seed: u64,

    /// Volume multiplier: 1 = the seed's daily volumes (47,000 Nginx lines, 30,000
    /// Firebase events, ~15,600 logistics rows…); 0.01 for tiny fixtures.
    #[arg(long, default_value_t = 1.0, env = "KVT_GEN_SCALE")]
    scale: f64,

    /// Comma-separated subset of: crm, firebase, nginx, logistics, kyc, events.
    #[arg(long, value_delimiter = ',')]
    sources: Vec<Source>,

    /// Do not print the summary line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, clap::Subcommand)]
enum GenCommand {
    /// Publish generated events (events/<topic>/*.jsonl) to a Kafka-protocol broker:
    /// key = customer_id, message timestamp = event time, in production order
    /// (so the planned out-of-order arrivals happen).
    Produce(ProduceArgs),
    /// Create the topics of CONTRACTS C2 (6 partitions, 7-day retention); existing
    /// topics are left alone.
    Topics(TopicsArgs),
    /// Render synthetic identity documents (passport, ID cards, residence permit,
    /// French card, driving licence) with known dates and degradations, for
    /// `kvt kyc verify`; writes the images and manifest.jsonl (expected decisions).
    /// Needs the fonts of Debian's fonts-ocr-b and fonts-dejavu-core.
    Documents(DocumentsArgs),
}

#[derive(Debug, clap::Args)]
struct DocumentsArgs {
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// The day the documents are checked on (ages and expiry are relative to it).
    #[arg(long)]
    today: NaiveDate,
    /// `demo`: a major, a minor, an expired and a blurred document; `test`: every
    /// layout × persona clean and each degradation twice (62); `full`: every
    /// layout × persona clean and every layout × degradation (142).
    #[arg(long, default_value = "demo")]
    set: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
struct ProduceArgs {
    /// The generator's events directory (OUT/events).
    #[arg(long, env = "KVT_GEN_EVENTS")]
    events: PathBuf,
    /// Bootstrap servers.
    #[arg(long, env = "KVT_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topics to publish (comma-separated): payments, orders, kyc_decisions.
    #[arg(long, value_delimiter = ',', default_value = "payments,orders")]
    topics: Vec<String>,
    /// Prefix of the topic names on the broker (e.g. a per-test namespace).
    #[arg(long, default_value = "")]
    topic_prefix: String,
    /// Messages per second over all topics, e.g. 500/s; default as fast as possible.
    #[arg(long)]
    rate: Option<String>,
    /// Stop after this many messages.
    #[arg(long)]
    limit: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct TopicsArgs {
    /// Bootstrap servers.
    #[arg(long, env = "KVT_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Prefix of the topic names (e.g. a per-test namespace).
    #[arg(long, default_value = "")]
    topic_prefix: String,
    /// Only these topics (default: every topic of CONTRACTS C2).
    #[arg(long, value_delimiter = ',')]
    topics: Vec<String>,
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Retention in days.
    #[arg(long, default_value_t = 7)]
    retention_days: u64,
}

fn run_produce(a: ProduceArgs) -> Result<()> {
    for t in &a.topics {
        if !kvt::gen::produce::EVENT_TOPICS.contains(&t.as_str()) {
            bail!("unknown topic `{t}` (generated topics: payments, orders, kyc_decisions)");
        }
    }
    let cfg = kvt::gen::produce::ProduceConfig {
        brokers: a.brokers,
        events_dir: a.events,
        topics: a.topics,
        topic_prefix: a.topic_prefix,
        rate: a
            .rate
            .as_deref()
            .map(kvt::gen::produce::parse_rate)
            .transpose()?,
        limit: a.limit,
    };
    let stats = kvt::gen::produce::produce(&cfg)?;
    let summary = serde_json::json!({
        "command": "kvt-gen produce",
        "status": "ok",
        "messages": stats.messages,
        "bytes": stats.bytes,
        "per_topic": stats.per_topic,
        "messages_per_sec": (stats.messages as f64 / stats.seconds.max(1e-9)).round(),
        "duration_ms": (stats.seconds * 1000.0) as u64,
    });
    println!("{summary}");
    Ok(())
}

fn run_topics(a: TopicsArgs) -> Result<()> {
    let names: Vec<String> = if a.topics.is_empty() {
        kvt::kafka::all_topics()
            .iter()
            .map(|t| t.to_string())
            .collect()
    } else {
        a.topics
    }
    .into_iter()
    .map(|t| format!("{}{t}", a.topic_prefix))
    .collect();
    let created = kvt::kafka::ClientSettings::new(a.brokers).create_topics(
        &names,
        a.partitions,
        std::time::Duration::from_secs(a.retention_days * 86_400),
    )?;
    let summary = serde_json::json!({
        "command": "kvt-gen topics", "status": "ok", "created": created, "requested": names,
    });
    println!("{summary}");
    Ok(())
}

fn run_documents(a: DocumentsArgs) -> Result<()> {
    use kvt::gen::idcard;
    let set = match a.set.as_str() {
        "full" => idcard::Set::Full,
        "test" => idcard::Set::Test,
        "demo" => idcard::Set::Demo,
        other => bail!("unknown --set `{other}` (demo, test or full)"),
    };
    let fonts = idcard::Fonts::load()?;
    std::fs::create_dir_all(&a.out)?;
    let cases = idcard::cases(a.today, a.seed, set);
    let mut manifest = String::new();
    for (i, c) in cases.iter().enumerate() {
        let bytes = idcard::render_case(c, &fonts, a.seed ^ (i as u64))?;
        std::fs::write(a.out.join(&c.file), bytes)?;
        manifest.push_str(&serde_json::to_string(c)?);
        manifest.push('\n');
    }
    std::fs::write(a.out.join("manifest.jsonl"), manifest)?;
    println!(
        "{}",
        serde_json::json!({"command": "kvt-gen documents", "status": "ok", "documents": cases.len(), "out": a.out})
    );
    Ok(())
}

fn run(args: GenArgs) -> Result<()> {
    match args.command {
        Some(GenCommand::Produce(a)) => return run_produce(a),
        Some(GenCommand::Topics(a)) => return run_topics(a),
        Some(GenCommand::Documents(a)) => return run_documents(a),
        None => {}
    }
    let Some(out) = args.out.clone() else {
        bail!("give --out DIR (or a subcommand: produce, topics)");
    };
    let (from, to) = match (args.date, args.from, args.to) {
        (Some(d), _, _) => (d, d),
        (None, Some(f), t) => (f, t.unwrap_or(f)),
        (None, None, _) => bail!("give --date YYYY-MM-DD or --from YYYY-MM-DD [--to YYYY-MM-DD]"),
    };
    let mut cfg = GenConfig::new(args.seed, args.scale, from, to);
    if !args.sources.is_empty() {
        cfg.sources = args.sources.iter().copied().collect::<BTreeSet<_>>();
    }
    let started = Instant::now();
    let truth =
        generate(&cfg, &out).with_context(|| format!("generating into {}", out.display()))?;
    let (mut files, mut bytes) = (0u64, 0u64);
    if let Some(list) = truth.get("/files").and_then(|v| v.as_array()) {
        for f in list {
            files += 1;
            bytes += f.get("bytes").and_then(|b| b.as_u64()).unwrap_or(0);
        }
    }
    if !args.quiet {
        let summary = serde_json::json!({
            "command": "kvt-gen",
            "status": "ok",
            "out": out.display().to_string(),
            "files": files,
            "bytes": bytes,
            "duration_ms": started.elapsed().as_millis() as u64,
        });
        println!("{summary}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match GenArgs::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvt-gen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
