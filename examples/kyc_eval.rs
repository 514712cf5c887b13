//! Accuracy and latency of the KYC reader over a `kvt-gen documents` set,
//! in process, one engine (one core): `cargo run --release --example
//! kyc_eval -- DIR TODAY [--tesseract-cli]`. With `--tesseract-cli` the same
//! images also go through the bare `tesseract` command (whole image, psm 6
//! then 11, MRZ alphabet) and the same MRZ parser, for comparison.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDate;
use kvt::kyc::{decide, mrz, ocr, read};

#[derive(Default)]
struct Tally {
    n: usize,
    birth_right: usize,
    review: usize,
    unacceptable: usize,
    minor_majeur: usize,
    ms: Vec<f64>,
}

impl Tally {
    fn add(
        &mut self,
        birth_right: bool,
        decision: &str,
        acceptable: &[String],
        minor: bool,
        ms: f64,
    ) {
        self.n += 1;
        self.birth_right += usize::from(birth_right);
        self.review += usize::from(decision == "en_attente");
        self.unacceptable += usize::from(!acceptable.iter().any(|a| a == decision));
        self.minor_majeur += usize::from(minor && decision == "majeur");
        self.ms.push(ms);
    }

    fn merge(&mut self, o: &Tally) {
        self.n += o.n;
        self.birth_right += o.birth_right;
        self.review += o.review;
        self.unacceptable += o.unacceptable;
        self.minor_majeur += o.minor_majeur;
        self.ms.extend(&o.ms);
    }

    fn row(&mut self, name: &str) -> String {
        format!(
            "  {name:12} | {:3} | {} | {} | {:3} | {} | {:6.0} | {:6.0}",
            self.n,
            pct(self.birth_right, self.n),
            pct(self.review, self.n),
            self.unacceptable,
            self.minor_majeur,
            quantile(&mut self.ms, 0.5),
            quantile(&mut self.ms, 0.95)
        )
    }
}

fn pct(a: usize, n: usize) -> String {
    format!("{:5.1}%", 100.0 * a as f64 / n.max(1) as f64)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let today: NaiveDate = args[2].parse()?;
    let cli = args.iter().any(|a| a == "--tesseract-cli");
    let verbose = args.iter().any(|a| a == "-v");
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl"))?;
    let mut engines = ocr::Engines::new(&ocr::OcrSettings::default())?;
    let mut kvt: BTreeMap<String, Tally> = BTreeMap::new();
    let mut bare: BTreeMap<String, Tally> = BTreeMap::new();
    for line in manifest.lines() {
        let c: serde_json::Value = serde_json::from_str(line)?;
        let file = c["file"].as_str().unwrap_or_default();
        let degradation = c["degradation"].as_str().unwrap_or_default().to_string();
        let birth: NaiveDate = c["birth"].as_str().unwrap_or_default().parse()?;
        let minor = c["minor"].as_bool().unwrap_or(true);
        let acceptable: Vec<String> = serde_json::from_value(c["acceptable"].clone())?;
        let bytes = std::fs::read(dir.join(file))?;
        // kvt: the whole pipeline.
        let t = Instant::now();
        let reading =
            read::read(&mut engines, &bytes, 50_000_000)?.map_err(|e| anyhow::anyhow!("{e}"))?;
        let ev = reading.evidence(today);
        let out = decide::decide(&ev, 0.75, today);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let decision = serde_json::to_value(out.decision)?
            .as_str()
            .unwrap_or("")
            .to_string();
        let entry = kvt.entry(degradation.clone()).or_default();
        entry.add(
            ev.birth == Some(birth) && ev.check_digits_ok,
            &decision,
            &acceptable,
            minor,
            ms,
        );
        if verbose
            && (!acceptable.contains(&decision) || decision == "en_attente" && acceptable.len() > 1)
        {
            eprintln!(
                "{file}: {decision} {:?} conf {} passes {:?}",
                out.reason, reading.confidence, reading.passes
            );
        }
        if cli {
            // The tesseract CLI on the same file, the same parser and decision.
            let t = Instant::now();
            let mut best: Option<mrz::Mrz> = None;
            for psm in ["6", "11"] {
                let o = std::process::Command::new("tesseract")
                    .args([
                        dir.join(file).to_str().unwrap_or_default(),
                        "-",
                        "--psm",
                        psm,
                        "-l",
                        "eng",
                        "-c",
                        "tessedit_char_whitelist=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<",
                    ])
                    .env("OMP_THREAD_LIMIT", "1")
                    .output()?;
                let text = String::from_utf8_lossy(&o.stdout).to_string();
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                if let Some(m) = mrz::find(&lines) {
                    let ok = m.checks.all();
                    best = Some(m);
                    if ok {
                        break;
                    }
                }
            }
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let ev = match &best {
                Some(m) => {
                    let ok = m.checks.all();
                    decide::Evidence {
                        confidence: if ok { 0.9 } else { 0.8 },
                        check_digits_ok: ok,
                        birth: m
                            .birth
                            .filter(|_| ok)
                            .and_then(|b| decide::birth_date(b, today)),
                        expiry: m.expiry.filter(|_| ok).and_then(decide::expiry_date),
                    }
                }
                None => decide::Evidence {
                    confidence: 0.0,
                    check_digits_ok: false,
                    birth: None,
                    expiry: None,
                },
            };
            let out = decide::decide(&ev, 0.75, today);
            let decision = serde_json::to_value(out.decision)?
                .as_str()
                .unwrap_or("")
                .to_string();
            let entry = bare.entry(degradation).or_default();
            entry.add(ev.birth == Some(birth), &decision, &acceptable, minor, ms);
        }
    }
    for (name, t) in [("kvt", &mut kvt), ("tesseract-cli", &mut bare)] {
        if t.is_empty() {
            continue;
        }
        println!("{name}: degradation | n | birth date right | review | unacceptable | minor→majeur | p50 ms | p95 ms");
        let mut all = Tally::default();
        for (d, x) in t.iter_mut() {
            println!("{}", x.row(d));
            all.merge(x);
        }
        println!("{}", all.row("ALL"));
    }
    Ok(())
}
