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
#[derive(Debug, Parser)]
#[command(name = "kvt-gen", version, verbatim_doc_comment)]
struct GenArgs {
    /// Output directory (created if missing; existing files are overwritten).
    #[arg(long, env = "KVT_GEN_OUT")]
    out: PathBuf,

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

fn run(args: GenArgs) -> Result<()> {
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
    let truth = generate(&cfg, &args.out)
        .with_context(|| format!("generating into {}", args.out.display()))?;
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
            "out": args.out.display().to_string(),
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
