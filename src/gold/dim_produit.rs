//! `dim_produit`: every product a fact refers to — sold (order lines) or
//! named by any app event (`view_item`, `add_to_cart`, `remove_from_cart`…),
//! docs/contracts.md C8. `categorie` is the category most often given on its
//! order lines (ties: alphabetical); `prix_reference_eur` the median unit
//! price of its order lines, else the median price shown by `view_item`.

use polars::prelude::*;

use super::common::key;
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, _ctx: &Ctx) -> LazyFrame {
    let sold = super::fact_commande_produit::lines(s)
        .filter(col("product_id").is_not_null())
        .group_by([col("product_id")])
        .agg([
            col("unit_price").median().alias("prix_vente_median"),
            col("event_time").min().dt().date().alias("premiere_vente"),
        ]);
    let category = super::fact_commande_produit::lines(s)
        .filter(
            col("product_id")
                .is_not_null()
                .and(col("category").is_not_null()),
        )
        .group_by([col("product_id"), col("category")])
        .agg([len().alias("n")])
        .sort_by_exprs(
            [col("product_id"), col("n"), col("category")],
            SortMultipleOptions::default().with_order_descending_multi([false, true, false]),
        )
        .group_by_stable([col("product_id")])
        .agg([col("category").first().alias("categorie")]);
    let viewed = s
        .firebase()
        .clone()
        .filter(col("product_id").is_not_null())
        .group_by([col("product_id")])
        .agg([col("price_eur")
            .filter(col("event_name").eq(lit("view_item")))
            .median()
            .alias("prix_app_median")]);
    let all = sold.clone().select([col("product_id")]).join(
        viewed.clone().select([col("product_id")]),
        [col("product_id")],
        [col("product_id")],
        JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
    );
    all.left_join(sold, col("product_id"), col("product_id"))
        .left_join(viewed, col("product_id"), col("product_id"))
        .left_join(category, col("product_id"), col("product_id"))
        .select([
            key(col("product_id"), "produit").alias("produit_id"),
            col("product_id").alias("code_produit"),
            col("categorie"),
            col("prix_vente_median")
                .fill_null(col("prix_app_median"))
                .alias("prix_reference_eur"),
            col("premiere_vente"),
        ])
        .sort(["produit_id"], SortMultipleOptions::default())
}
