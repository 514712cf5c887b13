//! `gold_product_funnel`: per product per month (GOLD-PROD-1..3, D-84).
//!
//! The funnel `view_item` → `add_to_cart` → purchase. Views and cart adds
//! come from the app (Firebase); purchases from orders. Only orders placed in
//! the app (`channel` ios or android) enter the conversion rates, because web
//! visits have no `view_item`:
//! - `vues`, `ajouts_panier`: app events of the product in the month;
//! - `commandes_app`: app orders (not cancelled) with a line of the product;
//! - `taux_vue_panier_pct` = ajouts_panier ÷ vues × 100;
//! - `taux_vue_achat_pct` = commandes_app ÷ vues × 100;
//! - `abandons` = max(ajouts_panier − commandes_app, 0);
//!   `taux_abandon_pct` = abandons ÷ ajouts_panier × 100;
//! - `chiffre_affaires_eur`: Σ line amounts of the product in all orders
//!   (every channel) that are not cancelled; `quantite_vendue` likewise.

use polars::prelude::*;

use super::common::{count_if, key, month, month_date_id, pct, sum_eur};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let app = s
        .firebase()
        .clone()
        .filter(col("product_id").is_not_null())
        .group_by([
            col("product_id"),
            month(col("event_date")).alias("annee_mois"),
        ])
        .agg([
            count_if(col("event_name").eq(lit("view_item"))).alias("vues"),
            count_if(col("event_name").eq(lit("add_to_cart"))).alias("ajouts_panier"),
        ]);
    let orders = super::fact_commande::orders(s)
        .filter(col("statut").neq(lit("cancelled")))
        .select([col("order_id"), col("channel"), col("date_commande")]);
    let lines = super::fact_commande_produit::lines(s)
        .filter(col("product_id").is_not_null())
        .inner_join(orders, col("order_id"), col("order_id"))
        .group_by([
            col("product_id"),
            month(col("date_commande").dt().date()).alias("annee_mois"),
        ])
        .agg([
            sum_eur(col("line_amount")).alias("chiffre_affaires_eur"),
            col("quantity")
                .sum()
                .cast(DataType::Int64)
                .alias("quantite_vendue"),
            col("order_id")
                .filter(
                    col("channel")
                        .eq(lit("ios"))
                        .or(col("channel").eq(lit("android"))),
                )
                .n_unique()
                .cast(DataType::Int64)
                .alias("commandes_app"),
        ]);
    app.join(
        lines,
        [col("product_id"), col("annee_mois")],
        [col("product_id"), col("annee_mois")],
        JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
    )
    .with_columns([
        col("vues").fill_null(lit(0)),
        col("ajouts_panier").fill_null(lit(0)),
        col("commandes_app").fill_null(lit(0)),
        col("quantite_vendue").fill_null(lit(0)),
        col("chiffre_affaires_eur").fill_null(lit(0.0)),
    ])
    .with_column(
        when(col("ajouts_panier").gt(col("commandes_app")))
            .then(col("ajouts_panier") - col("commandes_app"))
            .otherwise(lit(0))
            .cast(DataType::Int64)
            .alias("abandons"),
    )
    .select([
        key(col("product_id"), "produit").alias("produit_id"),
        col("product_id").alias("code_produit"),
        col("annee_mois"),
        month_date_id(col("annee_mois"), ctx).alias("date_id"),
        col("vues"),
        col("ajouts_panier"),
        col("commandes_app"),
        pct(col("ajouts_panier"), col("vues")).alias("taux_vue_panier_pct"),
        pct(col("commandes_app"), col("vues")).alias("taux_vue_achat_pct"),
        col("abandons"),
        pct(col("abandons"), col("ajouts_panier")).alias("taux_abandon_pct"),
        col("quantite_vendue"),
        col("chiffre_affaires_eur"),
    ])
    .sort(["produit_id", "annee_mois"], SortMultipleOptions::default())
}
