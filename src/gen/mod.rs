//! Deterministic synthetic data generator behind `kvt-gen` (see `docs/generator.md`).
//!
//! [`generate`] writes, for a date range, every source of the KiVendTout Drive folders
//! (`crm_data/`, `firebase_data/`, `kyc/`, `logistic_partner_data/`, `nginx_data/`), the
//! Kafka topics as JSONL (`events/`), `config/bin_blacklist.txt` and
//! `ground_truth.json`, which counts every injected anomaly and fraud pattern.
//!
//! Determinism: the same [`GenConfig`] gives byte-identical files. Nothing reads the
//! wall clock, no hash-map order reaches the output, and the PRNG is ours
//! ([`rng`]). Each source/day has its own random stream, so a sub-range of days or a
//! subset of sources reproduces exactly the same files (except the CRM snapshot dated
//! the range end and the KYC export of the range's last month, which depend on `--to`).

pub use crate::calendar;
#[cfg(test)]
mod check;
pub mod commerce;
pub mod crm;
pub mod events;
pub mod firebase;
pub mod fmt;
pub mod fraud;
pub mod idcard;
pub mod kyc;
pub mod logistics;
pub mod nginx;
pub mod produce;
pub mod rng;
pub mod stream;
pub mod world;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt as stdfmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{json, Value};

use self::world::World;

/// A source family that `kvt-gen` can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Crm,
    Firebase,
    Nginx,
    Logistics,
    Kyc,
    /// Kafka topics `payments`, `orders`, `kyc_decisions` + `config/bin_blacklist.txt`.
    Events,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Crm,
        Source::Firebase,
        Source::Nginx,
        Source::Logistics,
        Source::Kyc,
        Source::Events,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::Crm => "crm",
            Source::Firebase => "firebase",
            Source::Nginx => "nginx",
            Source::Logistics => "logistics",
            Source::Kyc => "kyc",
            Source::Events => "events",
        }
    }
}

impl stdfmt::Display for Source {
    fn fmt(&self, f: &mut stdfmt::Formatter<'_>) -> stdfmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Source::ALL
            .iter()
            .copied()
            .find(|x| x.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown source `{s}` (expected one of: crm, firebase, nginx, logistics, kyc, events)"
                )
            })
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    pub seed: u64,
    /// 1.0 = the seed's daily volumes (SPEC §1.3).
    pub scale: f64,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub sources: BTreeSet<Source>,
}

impl GenConfig {
    pub fn new(seed: u64, scale: f64, from: NaiveDate, to: NaiveDate) -> Self {
        GenConfig {
            seed,
            scale,
            from,
            to,
            sources: Source::ALL.into_iter().collect(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 10_000.0) {
            bail!("--scale must be a number in (0, 10000], got {}", self.scale);
        }
        if self.to < self.from {
            bail!("--to ({}) is before --from ({})", self.to, self.from);
        }
        if (self.to - self.from).num_days() > 3_660 {
            bail!("the date range is longer than ten years");
        }
        if self.sources.is_empty() {
            bail!("no source selected");
        }
        Ok(())
    }
}

/// Volumes derived from the scale. Anomaly counts never round to zero, so tiny
/// fixtures still contain every anomaly.
#[derive(Clone, Debug)]
pub struct Volumes {
    pub scale: f64,
    pub customers: u32,
    pub orders_per_day: f64,
    /// Multiplier (≤ 1) of the cancellation probabilities, keeping background
    /// cancellations near ≤ 2.5 per minute whatever the scale.
    pub cancel_scale: f64,
    pub firebase_per_day: u64,
    pub nginx_per_day: u64,
    pub kyc_per_month: f64,
    pub crm_dups: u32,
}

impl Volumes {
    pub fn new(scale: f64) -> Self {
        let orders_per_day = 3_600.0 * scale;
        let per_min = orders_per_day / 1_440.0;
        Volumes {
            scale,
            customers: ((500.0 * scale).round() as u32).max(20),
            orders_per_day,
            cancel_scale: (2.5 / per_min / 0.05).min(1.0),
            firebase_per_day: ((30_000.0 * scale).round() as u64).max(50),
            nginx_per_day: ((47_000.0 * scale).round() as u64).max(100),
            kyc_per_month: (130.0 * scale).max(4.0),
            crm_dups: ((20.0 * scale).round() as u32).max(2),
        }
    }

    /// `n × scale`, rounded, at least 1.
    pub fn scaled(&self, n: f64) -> u32 {
        ((n * self.scale).round() as u32).max(1)
    }
}

/// Shared state of one run.
pub struct Ctx {
    pub out: PathBuf,
    pub world: World,
    pub vol: Volumes,
    pub scale: f64,
    pub from: NaiveDate,
    pub to: NaiveDate,
    files: RefCell<Vec<(String, u64, u64)>>,
    tracer_seen: RefCell<BTreeSet<&'static str>>,
    pii: RefCell<BTreeMap<&'static str, BTreeSet<String>>>,
}

const PII_SAMPLE_MAX: usize = 40;

impl Ctx {
    pub fn new(cfg: &GenConfig, out: &Path) -> Self {
        let vol = Volumes::new(cfg.scale);
        Ctx {
            out: out.to_path_buf(),
            world: World::new(cfg.seed, vol.customers),
            vol,
            scale: cfg.scale,
            from: cfg.from,
            to: cfg.to,
            files: RefCell::new(Vec::new()),
            tracer_seen: RefCell::new(BTreeSet::new()),
            pii: RefCell::new(BTreeMap::new()),
        }
    }

    /// Records a written file `(relative path, bytes, lines)`.
    pub fn record(&self, f: (String, u64, u64)) {
        self.files.borrow_mut().push(f);
    }

    /// Notes that the tracer customer appears in `source`.
    pub fn seen_tracer(&self, source: &'static str) {
        self.tracer_seen.borrow_mut().insert(source);
    }

    /// Keeps a sample (at most 40 per kind) of a raw PII string written somewhere.
    pub fn pii_sample(&self, kind: &'static str, value: &str) {
        let mut m = self.pii.borrow_mut();
        let set = m.entry(kind).or_default();
        if set.len() < PII_SAMPLE_MAX && !value.is_empty() {
            set.insert(value.to_string());
        }
    }
}

/// The ground truth written to `ground_truth.json`.
#[derive(Clone, Debug)]
pub struct GroundTruth {
    pub json: Value,
}

impl GroundTruth {
    /// Looks up a value by JSON pointer (`/crm/files/0/rows`).
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.json.pointer(pointer)
    }
}

/// All days of the range.
pub fn days(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    let mut v = Vec::new();
    let mut d = from;
    while d <= to {
        v.push(d);
        d += Duration::days(1);
    }
    v
}

/// Generates every selected source into `out_dir` and writes `ground_truth.json`.
pub fn generate(cfg: &GenConfig, out_dir: &Path) -> Result<GroundTruth> {
    cfg.validate()?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("creating output directory {}", out_dir.display()))?;
    let ctx = Ctx::new(cfg, out_dir);
    let range = days(cfg.from, cfg.to);
    let mut truth = serde_json::Map::new();
    truth.insert(
        "generator".into(),
        json!({
            "name": "kvt-gen",
            "format_version": 1,
            "seed": cfg.seed,
            "scale": cfg.scale,
            "from": cfg.from.format("%Y-%m-%d").to_string(),
            "to": cfg.to.format("%Y-%m-%d").to_string(),
            "sources": cfg.sources.iter().map(|s| s.name()).collect::<Vec<_>>(),
        }),
    );
    let w = &ctx.world;
    truth.insert(
        "universe".into(),
        json!({
            "customers": w.customers.len(),
            "customer_id_format": "CUST-NNNNNN (background); fraud-pattern actors CUST-9YYMMDDkkkkk are not in the CRM",
            "products": w.products.len(),
            "categories": world::CATEGORIES.iter().map(|c| json!({"name": c.0, "regulated": c.3})).collect::<Vec<_>>(),
            "orders_per_day": ctx.vol.orders_per_day.round(),
            "carriers": world::CARRIERS,
        }),
    );
    let has = |s: Source| cfg.sources.contains(&s);
    if has(Source::Crm) {
        truth.insert("crm".into(), crm::generate(&ctx)?);
    }
    if has(Source::Firebase) {
        let mut v = Vec::new();
        for &d in &range {
            v.push(firebase::generate_day(&ctx, d)?);
        }
        truth.insert("firebase".into(), json!({ "days": v }));
    }
    if has(Source::Nginx) {
        let mut v = Vec::new();
        for &d in &range {
            v.push(nginx::generate_day(&ctx, d)?);
        }
        truth.insert("nginx".into(), json!({ "days": v }));
    }
    if has(Source::Logistics) {
        let mut v = Vec::new();
        for &d in &range {
            v.push(logistics::generate_day(&ctx, d)?);
        }
        truth.insert("logistics".into(), json!({ "days": v }));
    }
    if has(Source::Kyc) {
        truth.insert("kyc".into(), kyc::generate(&ctx)?);
    }
    if has(Source::Events) {
        events::write_blacklist(&ctx)?;
        let mut rules = fraud::RuleCounts::default();
        let mut v = Vec::new();
        for &d in &range {
            v.push(events::generate_day(&ctx, d, &mut rules)?);
        }
        let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
        let mut patterns = Vec::new();
        for day in &v {
            if let Some(Value::Array(ps)) = day.get("patterns") {
                for p in ps {
                    if let Some(t) = p.get("type").and_then(Value::as_str) {
                        *by_type.entry(t.to_string()).or_default() += 1;
                    }
                    patterns.push(p.clone());
                }
            }
        }
        let mut days_v = v;
        for d in days_v.iter_mut() {
            if let Value::Object(m) = d {
                m.remove("patterns");
            }
        }
        truth.insert(
            "events".into(),
            json!({
                "envelope": "{\"ts\":<kafka timestamp ms = event time>,\"key\":\"<customer_id>\",\"value\":{…C1…}} or {…,\"value_raw\":\"<not JSON>\"}",
                "watermark_ms": 10_000,
                "bin_blacklist": world::BLACKLISTED_BINS,
                "days": days_v,
                "rule_counts": rules.to_json(),
                "stateful_rules_background_alerts": 0,
                "patterns_by_type": by_type,
                "patterns": patterns,
            }),
        );
    }
    truth.insert("privacy".into(), privacy(&ctx));
    let files: Vec<Value> = ctx
        .files
        .borrow()
        .iter()
        .map(|(p, b, l)| json!({"path": p, "bytes": b, "lines": l}))
        .collect();
    truth.insert("files".into(), Value::Array(files));
    let json = Value::Object(truth);
    let mut bytes = serde_json::to_vec_pretty(&json).context("serialising ground truth")?;
    bytes.push(b'\n');
    let mut out = fmt::OutFile::create(out_dir, "ground_truth.json")?;
    out.write(&bytes)?;
    out.finish()?;
    Ok(GroundTruth { json })
}

fn privacy(ctx: &Ctx) -> Value {
    let w = &ctx.world;
    let t = w.tracer();
    let mut names = BTreeSet::new();
    let mut emails = BTreeSet::new();
    let mut phones = BTreeSet::new();
    let mut streets = BTreeSet::new();
    let mut ips = BTreeSet::new();
    let mut births = BTreeSet::new();
    let mut devices = BTreeSet::new();
    for c in w.customers.iter().take(PII_SAMPLE_MAX) {
        names.insert(format!("{} {}", c.first, c.last));
        emails.insert(c.email.clone());
        phones.insert(c.phone.clone());
        streets.insert(c.street.clone());
        ips.extend(c.ipv4.iter().cloned());
        if let Some(v6) = &c.ipv6 {
            ips.insert(v6.clone());
        }
        births.insert(format!(
            "{:02}/{:02}/{:04}",
            c.birth.day(),
            c.birth.month(),
            c.birth.year()
        ));
        devices.extend(c.app_devices.iter().cloned());
    }
    let samples: BTreeMap<&str, Vec<String>> = ctx
        .pii
        .borrow()
        .iter()
        .map(|(k, v)| (*k, v.iter().cloned().collect()))
        .collect();
    json!({
        "tracer": {
            "customer_id": t.id,
            "appears_in": ctx.tracer_seen.borrow().iter().copied().collect::<Vec<_>>(),
            "name": format!("{} {}", t.first, t.last),
            "email": t.email,
            "phone": t.phone,
            "street": t.street,
            "birth_date_raw": format!("{:02}/{:02}/{:04}", t.birth.day(), t.birth.month(), t.birth.year()),
            "birth_date_iso": t.birth.format("%Y-%m-%d").to_string(),
            "ipv4": t.ipv4,
            "ipv6": t.ipv6,
            "device_ids": t.app_devices,
            "device_fingerprints": t.fingerprints,
            "card_refs": t.cards.iter().map(|c| c.card_ref.clone()).collect::<Vec<_>>(),
            "prestataire_ref": t.prestataire_ref,
        },
        "pii": {
            "names": names,
            "emails": emails,
            "phones": phones,
            "streets": streets,
            "ips": ips,
            "birth_dates": births,
            "device_ids": devices,
            "sales_owners": world::SALES_OWNERS,
            "kyc_agents": world::KYC_AGENTS,
            "free_text_samples": samples,
        },
    })
}
