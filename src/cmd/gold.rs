//! `kvt gold`: silver → the star schema and aggregates, in the gold zone.

use std::collections::BTreeSet;

use polars::prelude::*;

use crate::cli::GoldArgs;
use crate::gold::{self, Ctx, TableDef};
use crate::lineage::Dataset;
use crate::run::{ChildRun, ExitStatus, Report, RunContext, Step};
use crate::store::{layout, Store};
use crate::table::{self, Writer, Zone};

const COMMAND: &str = "gold";

/// A planned gold run.
pub struct GoldStep {
    store: Store,
    ctx: Ctx,
    tables: Vec<&'static TableDef>,
    /// Empty for every table, else the selected tables (metrics, history).
    name: String,
}

pub fn plan(args: &GoldArgs, ctx: &RunContext) -> anyhow::Result<GoldStep> {
    let as_of = args.as_of.unwrap_or_else(|| crate::cmd::silver::today(ctx));
    let domains: BTreeSet<u8> = args.domains.iter().map(|d| *d as u8).collect();
    let named: BTreeSet<&str> = args.tables.iter().map(|t| t.trim()).collect();
    for t in &named {
        anyhow::ensure!(
            gold::TABLES.iter().any(|d| d.name == *t),
            "--table {t}: no such gold table (one of: {})",
            gold::TABLES
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let all = domains.is_empty() && named.is_empty();
    let tables: Vec<&'static TableDef> = gold::TABLES
        .iter()
        .filter(|t| all || domains.contains(&(t.domain as u8)) || named.contains(t.name))
        .collect();
    let name = if tables.len() == gold::TABLES.len() {
        String::new()
    } else {
        tables.iter().map(|t| t.name).collect::<Vec<_>>().join(",")
    };
    Ok(GoldStep {
        store: ctx.open_store()?,
        ctx: Ctx { as_of },
        tables,
        name,
    })
}

impl Step for GoldStep {
    fn command(&self) -> &str {
        COMMAND
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// One lock per table: workers building different tables run in
    /// parallel; two runs sharing a table never do.
    fn lock_names(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.name.to_string()).collect()
    }
    fn lock_store(&self) -> Option<&Store> {
        Some(&self.store)
    }
    fn outputs_by_child(&self) -> bool {
        true
    }
    fn datasets(&self) -> (Vec<Dataset>, Vec<Dataset>) {
        let inputs = gold::inputs::specs()
            .iter()
            .map(|s| self.store.dataset(&layout::silver_table(s.table)))
            .collect();
        let outputs = self
            .tables
            .iter()
            .map(|t| self.store.dataset(&layout::table("gold", t.name)))
            .collect();
        (inputs, outputs)
    }

    async fn run(&mut self, ctx: &RunContext) -> anyhow::Result<Report> {
        let silver = gold::inputs::read(&self.store).await?;
        let pb = ctx.progress_bar(self.tables.len() as u64, "gold");
        let mut writer = Writer::new(&self.store, Zone::Gold);
        let mut rows = serde_json::Map::new();
        let mut outputs = Vec::new();
        let mut children = Vec::new();
        for t in &self.tables {
            let started = std::time::Instant::now();
            // What this table reads, recorded while its plan is built (lineage).
            let _ = silver.take_used();
            let lf = (t.build)(&silver, &self.ctx);
            let reads = silver.take_used();
            let df = tokio::task::block_in_place(|| lf.collect())
                .map_err(|e| anyhow::anyhow!("building {}: {e}", t.name))?;
            gold::check_keys(t, &df)?;
            let n = df.height();
            let frames: Vec<(String, DataFrame)> = if n == 0 {
                vec![(t.name.to_string(), df)]
            } else {
                (0..n)
                    .step_by(table::PART_ROWS)
                    .map(|off| (t.name.to_string(), df.slice(off as i64, table::PART_ROWS)))
                    .collect()
            };
            let before = writer.bytes;
            if n == 0 {
                // An empty table is still a table (its schema): one empty part.
                let (name, mut empty) = frames.into_iter().next().unwrap_or_default();
                let bytes = table::to_parquet(&mut empty)?;
                writer
                    .store(
                        "",
                        vec![table::Encoded {
                            partition: name,
                            rows: 0,
                            bytes,
                        }],
                    )
                    .await?;
            } else {
                writer.write("", frames).await?;
            }
            tracing::info!(
                table = t.name,
                rows = n,
                ms = started.elapsed().as_millis() as u64,
                "built"
            );
            rows.insert(t.name.to_string(), n.into());
            let mut d = self.store.dataset(&layout::table("gold", t.name));
            d.rows = Some(n as u64);
            d.bytes = Some(writer.bytes - before);
            children.push(ChildRun {
                name: t.name.to_string(),
                inputs: reads
                    .into_iter()
                    .map(|s| self.store.dataset(&layout::silver_table(s)))
                    .collect(),
                outputs: vec![d.clone()],
            });
            outputs.push(d);
            pb.inc(1);
        }
        pb.finish_and_clear();
        // Every part is written: now switch every table.
        let affected: BTreeSet<String> = self.tables.iter().map(|t| t.name.to_string()).collect();
        let mut existing = BTreeSet::new();
        for t in &self.tables {
            existing.extend(table::list_partitions(&self.store, Zone::Gold, t.name).await?);
        }
        let (written, _) = writer.commit(&affected, &existing).await?;
        let mut report = Report::new(ExitStatus::Success);
        report
            .field("as_of", self.ctx.as_of.to_string())
            .field("tables_written", written.len())
            .field("rows", rows)
            .field(
                "missing_inputs",
                silver
                    .missing
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>(),
            )
            .field("bytes_written", writer.bytes);
        report.rows_out = writer.rows;
        report.bytes = writer.bytes;
        report.files = written.len() as u64;
        let (inputs, _) = self.datasets();
        report.inputs = inputs;
        report.outputs = outputs;
        report.children = children;
        Ok(report)
    }
}

pub async fn run(args: &GoldArgs, ctx: &RunContext) -> ExitStatus {
    ctx.execute(COMMAND, "", async { plan(args, ctx) }).await
}
