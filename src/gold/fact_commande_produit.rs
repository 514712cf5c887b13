//! `fact_commande_produit`: one row per order line (the bridge of
//! GOLD-STAR-2, OQ-39): key (`commande_id`, `ligne`), the product, quantity,
//! unit price and line amount in euros, for orders of `fact_commande`.

use polars::prelude::*;

use super::common::{date_id, key};
use super::inputs::Silver;
use super::Ctx;

/// The order lines, once each: a line re-delivered (the same `created` event
/// in two silver partitions) is kept from its earliest event. Every gold
/// table that reads order lines reads them from here, so none counts a line
/// twice.
pub fn lines(s: &Silver) -> LazyFrame {
    s.order_items()
        .clone()
        .filter(col("line_number").is_not_null())
        .sort(
            ["order_id", "line_number", "event_time"],
            SortMultipleOptions::default(),
        )
        .group_by_stable([col("order_id"), col("line_number")])
        .agg([
            col("event_time").first(),
            col("product_id").first(),
            col("category").first(),
            col("quantity").first(),
            col("unit_price").first(),
            col("line_amount").first(),
        ])
}

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let orders = super::fact_commande::orders(s).select([col("order_id")]);
    lines(s)
        .semi_join(orders, col("order_id"), col("order_id"))
        .select([
            key(col("order_id"), "commande").alias("commande_id"),
            col("line_number").alias("ligne"),
            key(col("product_id"), "produit").alias("produit_id"),
            date_id(col("event_time").dt().date(), ctx).alias("date_id"),
            col("quantity").alias("quantite"),
            col("unit_price").alias("prix_unitaire_eur"),
            col("line_amount").alias("montant_ligne_eur"),
        ])
        .sort(["commande_id", "ligne"], SortMultipleOptions::default())
}
