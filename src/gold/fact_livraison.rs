//! `fact_livraison`: one row per delivery (GOLD-STAR-2). Definitions (D-85):
//! `livree` = an actual delivery date; `a_l_heure` = delivered on or before
//! the promised date (null while in progress); `retournee` = the status
//! says `retour`; `delai_jours_ouvres` = French business days from shipping
//! to delivery (silver, docs/contracts.md C7), null when the dates are out of
//! order. `commande_id` is null when the order is not in `fact_commande`.

use polars::prelude::*;

use super::common::{date_id, key};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let known = super::fact_commande::known(s);
    s.logistics()
        .clone()
        .filter(col("livraison_id").is_not_null())
        .left_join(known, col("order_id"), col("order_id"))
        .select([
            key(col("livraison_id"), "livraison").alias("livraison_id"),
            col("livraison_id").alias("code_livraison"),
            when(col("commande_connue").fill_null(lit(false)))
                .then(key(col("order_id"), "commande"))
                .otherwise(lit(NULL).cast(DataType::Int64))
                .alias("commande_id"),
            col("order_id"),
            key(col("customer_id"), "client").alias("client_id"),
            key(col("transporteur"), "transporteur").alias("transporteur_id"),
            date_id(col("date_expedition"), ctx).alias("date_id"),
            col("date_expedition"),
            col("date_livraison_prevue"),
            col("date_livraison_reelle"),
            super::dim_pays::pays_id(col("pays_destination")).alias("pays_id"),
            col("statut_livraison").alias("statut"),
            col("date_livraison_reelle").is_not_null().alias("livree"),
            when(col("date_livraison_reelle").is_not_null())
                .then(col("date_livraison_reelle").lt_eq(col("date_livraison_prevue")))
                .otherwise(lit(NULL).cast(DataType::Boolean))
                .alias("a_l_heure"),
            col("statut_livraison")
                .str()
                .contains(lit("retour"), false)
                .fill_null(lit(false))
                .alias("retournee"),
            col("en_cours"),
            col("delai_livraison_jours_ouvres").alias("delai_jours_ouvres"),
            col("retard_jours"),
            col("frais_livraison_eur"),
            col("tentatives_livraison").alias("tentatives"),
            col("motif_echec_retour"),
        ])
        .sort(["livraison_id"], SortMultipleOptions::default())
}
