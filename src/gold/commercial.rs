//! `gold_commercial_mensuel`: monthly revenue per product category
//! (GOLD-COM-1, -3, D-88). From the lines of orders that are not cancelled,
//! by the month of the order:
//! - `chiffre_affaires_eur` = Σ line amounts of the category;
//! - `nb_commandes` = orders with at least one line of the category;
//! - `panier_moyen_eur` = chiffre_affaires ÷ nb_commandes (the category's
//!   share of those baskets);
//! - `taux_coupon_pct` = those orders with a coupon ÷ nb_commandes × 100;
//! - `quantite`: items sold.

use polars::prelude::*;

use super::common::{month, pct, sum_eur};
use super::inputs::Silver;
use super::Ctx;

/// The lines of orders that are not cancelled, with their order's date and coupon.
pub fn sold_lines(s: &Silver) -> LazyFrame {
    let orders = super::fact_commande::orders(s)
        .filter(col("statut").neq(lit("cancelled")))
        .select([col("order_id"), col("date_commande"), col("coupon_code")]);
    super::fact_commande_produit::lines(s)
        .inner_join(orders, col("order_id"), col("order_id"))
        .with_column(col("date_commande").dt().date().alias("jour"))
}

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    sold_lines(s)
        .with_column(col("category").fill_null(lit("inconnue")))
        .group_by([col("category"), month(col("jour")).alias("annee_mois")])
        .agg([
            sum_eur(col("line_amount")).alias("chiffre_affaires_eur"),
            col("order_id")
                .n_unique()
                .cast(DataType::Int64)
                .alias("nb_commandes"),
            col("order_id")
                .filter(col("coupon_code").is_not_null())
                .n_unique()
                .cast(DataType::Int64)
                .alias("nb_commandes_coupon"),
            col("quantity")
                .sum()
                .cast(DataType::Int64)
                .alias("quantite"),
        ])
        .select([
            col("category").alias("categorie"),
            col("annee_mois"),
            super::common::month_date_id(col("annee_mois"), ctx).alias("date_id"),
            col("chiffre_affaires_eur"),
            col("nb_commandes"),
            (col("chiffre_affaires_eur") / col("nb_commandes").cast(DataType::Float64))
                .alias("panier_moyen_eur"),
            pct(col("nb_commandes_coupon"), col("nb_commandes")).alias("taux_coupon_pct"),
            col("quantite"),
        ])
        .sort(["categorie", "annee_mois"], SortMultipleOptions::default())
}
