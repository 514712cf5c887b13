//! `gold_classement_produits`: products ranked by revenue and by volume over
//! the 30, 90 and 365 days ending at `--as-of` (GOLD-COM-2, OQ-20, D-88):
//! rolling windows `(as_of − N days, as_of]` on the order date, orders not
//! cancelled. Ranks as SQL `rank()` (1 = best, ties share the rank).

use polars::prelude::*;

use super::common::{key, rank_desc, sum_eur};
use super::inputs::Silver;
use super::Ctx;

pub const WINDOWS: [i32; 3] = [30, 90, 365];

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let as_of = crate::silver::epoch_days(ctx.as_of);
    let lines = super::commercial::sold_lines(s).filter(col("product_id").is_not_null());
    let windows: Vec<LazyFrame> = WINDOWS
        .iter()
        .map(|&n| {
            let from = lit(as_of - n).cast(DataType::Date);
            let to = lit(as_of).cast(DataType::Date);
            lines
                .clone()
                .filter(col("jour").gt(from).and(col("jour").lt_eq(to)))
                .group_by([col("product_id")])
                .agg([
                    sum_eur(col("line_amount")).alias("chiffre_affaires_eur"),
                    col("quantity")
                        .sum()
                        .cast(DataType::Int64)
                        .alias("quantite"),
                ])
                .with_columns([
                    rank_desc(col("chiffre_affaires_eur")).alias("rang_chiffre_affaires"),
                    rank_desc(col("quantite")).alias("rang_volume"),
                    lit(n).alias("fenetre_jours"),
                ])
        })
        .collect();
    concat(windows, UnionArgs::default())
        .unwrap_or_else(|_| lines.clone().limit(0))
        .select([
            col("fenetre_jours"),
            key(col("product_id"), "produit").alias("produit_id"),
            col("product_id").alias("code_produit"),
            col("chiffre_affaires_eur"),
            col("quantite"),
            col("rang_chiffre_affaires"),
            col("rang_volume"),
            lit(as_of).cast(DataType::Date).alias("date_fin"),
            super::common::date_id_of(ctx.as_of, ctx).alias("date_id"),
        ])
        .sort(
            ["fenetre_jours", "produit_id"],
            SortMultipleOptions::default(),
        )
}
