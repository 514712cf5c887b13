//! `gold_web_quotidien`: one row per day of web logs (GOLD-WEB-1, OQ-19,
//! D-86):
//! - `disponibilite_pct` = requests not answered 5xx ÷ requests × 100 (the
//!   share of requests the site served; 4xx are the client's);
//! - `taux_2xx_pct` … `taux_5xx_pct`: each status family ÷ requests × 100;
//! - `taux_erreur_pct` = (4xx + 5xx) ÷ requests × 100;
//! - `latence_p95_ms` = `percentile_cont(0.95)` of `response_time_ms`,
//!   `latence_moyenne_ms` its mean; `nb_requetes_bots` for context (bots are
//!   included in every rate: the site serves them too).

use polars::prelude::*;

use super::common::{count_if, date_id, p95, pct};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let fam = |f: &str| count_if(col("status_family").eq(lit(f.to_string())));
    s.nginx()
        .clone()
        .group_by([col("log_date")])
        .agg([
            len().cast(DataType::Int64).alias("nb_requetes"),
            fam("2xx").alias("nb_2xx"),
            fam("3xx").alias("nb_3xx"),
            fam("4xx").alias("nb_4xx"),
            fam("5xx").alias("nb_5xx"),
            count_if(col("is_bot")).alias("nb_requetes_bots"),
            p95(col("response_time_ms")).alias("latence_p95_ms"),
            col("response_time_ms").mean().alias("latence_moyenne_ms"),
        ])
        .select([
            date_id(col("log_date"), ctx).alias("date_id"),
            col("log_date").alias("date"),
            col("nb_requetes"),
            pct(col("nb_requetes") - col("nb_5xx"), col("nb_requetes")).alias("disponibilite_pct"),
            pct(col("nb_2xx"), col("nb_requetes")).alias("taux_2xx_pct"),
            pct(col("nb_3xx"), col("nb_requetes")).alias("taux_3xx_pct"),
            pct(col("nb_4xx"), col("nb_requetes")).alias("taux_4xx_pct"),
            pct(col("nb_5xx"), col("nb_requetes")).alias("taux_5xx_pct"),
            pct(col("nb_4xx") + col("nb_5xx"), col("nb_requetes")).alias("taux_erreur_pct"),
            col("latence_p95_ms"),
            col("latence_moyenne_ms"),
            col("nb_requetes_bots"),
        ])
        // A day outside the calendar has no key (D-89).
        .filter(col("date_id").is_not_null())
        .sort(["date_id"], SortMultipleOptions::default())
}
