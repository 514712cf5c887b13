//! `fact_commande`: one row per order (GOLD-STAR-2).
//!
//! An order is its `created` event (the first one if it was redelivered);
//! `statut` is the type of its latest event by event time (`created`,
//! `shipped`, `delivered`, `cancelled`). `canal_id` is the customer's
//! acquisition channel from the CRM (dim_canal, GOLD-STAR-3); the channel the
//! order was placed on is `canal_commande` (web, ios, android). Amounts are
//! in euros (CONTRACTS C1).

use polars::prelude::*;

use super::common::{date_id, key};
use super::inputs::Silver;
use super::{dim_canal, Ctx};

/// Orders: one row per `order_id`, from its `created` event, with its latest status.
pub fn orders(s: &Silver) -> LazyFrame {
    let created = s
        .orders()
        .clone()
        .filter(col("event_type").eq(lit("created")))
        .sort(["order_id", "event_time"], SortMultipleOptions::default())
        .group_by_stable([col("order_id")])
        .agg([
            col("event_time").first().alias("date_commande"),
            col("customer_id").first(),
            col("total_amount").first(),
            col("subtotal").first(),
            col("discount").first(),
            col("shipping_fee").first(),
            col("items_count").first(),
            col("coupon_code").first(),
            col("delivery_country").first(),
            col("delivery_method").first(),
            col("channel").first(),
        ]);
    let last = s
        .orders()
        .clone()
        .sort(["order_id", "event_time"], SortMultipleOptions::default())
        .group_by_stable([col("order_id")])
        .agg([col("event_type").last().alias("statut")]);
    created.left_join(last, col("order_id"), col("order_id"))
}

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let channel = dim_canal::customer_channel(s);
    orders(s)
        .left_join(channel, col("customer_id"), col("customer_id"))
        .select([
            key(col("order_id"), "commande").alias("commande_id"),
            col("order_id"),
            key(col("customer_id"), "client").alias("client_id"),
            date_id(col("date_commande").dt().date(), ctx).alias("date_id"),
            col("date_commande"),
            super::dim_pays::pays_id(col("delivery_country")).alias("pays_id"),
            col("canal_id"),
            col("channel").alias("canal_commande"),
            col("total_amount").alias("montant_total_eur"),
            col("subtotal").alias("sous_total_eur"),
            col("discount").alias("remise_eur"),
            col("shipping_fee").alias("frais_livraison_eur"),
            col("items_count").alias("nb_articles"),
            col("coupon_code").is_not_null().alias("avec_coupon"),
            col("coupon_code").alias("code_coupon"),
            col("delivery_method").alias("mode_livraison"),
            col("statut"),
            col("statut").eq(lit("cancelled")).alias("annulee"),
        ])
        .sort(["commande_id"], SortMultipleOptions::default())
}

/// `order_id` of every order, with `commande_connue = true`: a fact left-joins
/// it to say whether its order reached the platform.
pub fn known(s: &Silver) -> LazyFrame {
    orders(s)
        .select([col("order_id")])
        .with_column(lit(true).alias("commande_connue"))
}
