//! `gold_web_endpoints`: per day and endpoint (GOLD-WEB-2, INC-14, D-86): the
//! endpoint is the method and the path with identifiers folded
//! (`GET /produit/{id}`); `nb_requetes`, `taux_erreur_pct` ((4xx + 5xx) ÷
//! requests × 100), `latence_p95_ms` (`percentile_cont(0.95)`), and the day's
//! ranks by volume, by error rate and by p95 latency (1 = most requested,
//! most failing, slowest; SQL `rank()`).

use polars::prelude::*;

use super::common::{count_if, date_id, key, p95, pct, rank_desc};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let over_day = |e: Expr| e.over([col("log_date")]).unwrap_or_else(|_| lit(NULL));
    super::fact_evenement_web::requests(s)
        .group_by([col("log_date"), col("endpoint")])
        .agg([
            len().cast(DataType::Int64).alias("nb_requetes"),
            count_if(col("status_code").gt_eq(lit(400))).alias("nb_erreurs"),
            p95(col("response_time_ms")).alias("latence_p95_ms"),
        ])
        .with_column(pct(col("nb_erreurs"), col("nb_requetes")).alias("taux_erreur_pct"))
        .with_columns([
            over_day(rank_desc(col("nb_requetes"))).alias("rang_volume"),
            over_day(rank_desc(col("taux_erreur_pct"))).alias("rang_erreur"),
            over_day(rank_desc(col("latence_p95_ms"))).alias("rang_latence"),
        ])
        .select([
            key(
                concat_str(
                    [col("log_date").cast(DataType::String), col("endpoint")],
                    "|",
                    true,
                ),
                "endpoint",
            )
            .alias("endpoint_jour_id"),
            date_id(col("log_date"), ctx).alias("date_id"),
            col("endpoint"),
            col("nb_requetes"),
            col("nb_erreurs"),
            col("taux_erreur_pct"),
            col("latence_p95_ms"),
            col("rang_volume"),
            col("rang_erreur"),
            col("rang_latence"),
        ])
        .sort(
            ["date_id", "rang_volume", "endpoint"],
            SortMultipleOptions::default(),
        )
}
