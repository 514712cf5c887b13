//! `fact_evenement_web`: HTTP requests aggregated by day, endpoint and status
//! family (the grain of OQ-19, D-86): `nb_requetes`, `nb_erreurs` (4xx and
//! 5xx), `latence_moyenne_ms`, `nb_bots`. The endpoint is the request method
//! and the path with identifiers folded (`GET /produit/{id}`). Web logs carry
//! no country (IPs are truncated): `pays_id` is null.

use polars::prelude::*;

use super::common::{count_if, date_id, endpoint, key};
use super::inputs::Silver;
use super::Ctx;

/// The nginx rows with their endpoint.
pub fn requests(s: &Silver) -> LazyFrame {
    s.nginx().clone().with_column(
        concat_str(
            [
                col("method").fill_null(lit("-")),
                endpoint(col("path")).fill_null(lit("(requête invalide)")),
            ],
            " ",
            false,
        )
        .alias("endpoint"),
    )
}

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    requests(s)
        .group_by([col("log_date"), col("endpoint"), col("status_family")])
        .agg([
            len().cast(DataType::Int64).alias("nb_requetes"),
            count_if(col("status_code").gt_eq(lit(400))).alias("nb_erreurs"),
            col("response_time_ms").mean().alias("latence_moyenne_ms"),
            count_if(col("is_bot")).alias("nb_bots"),
        ])
        .select([
            key(
                concat_str(
                    [
                        col("log_date").cast(DataType::String),
                        col("endpoint"),
                        col("status_family"),
                    ],
                    "|",
                    true,
                ),
                "web",
            )
            .alias("evenement_id"),
            date_id(col("log_date"), ctx).alias("date_id"),
            lit(NULL).cast(DataType::Int32).alias("pays_id"),
            col("endpoint"),
            col("status_family").alias("famille_statut"),
            col("nb_requetes"),
            col("nb_erreurs"),
            col("latence_moyenne_ms"),
            col("nb_bots"),
        ])
        .sort(["evenement_id"], SortMultipleOptions::default())
}
