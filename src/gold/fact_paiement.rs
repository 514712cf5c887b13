//! `fact_paiement`: one row per payment attempt (GOLD-STAR-2). `commande_id`
//! links to `fact_commande` when the order is known there, else null (the
//! natural `order_id` is kept). `montant_eur` is `amount_eur`, or `amount`
//! for payments in euros (docs/contracts.md C1).

use polars::prelude::*;

use super::common::{date_id, key};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let known = super::fact_commande::known(s);
    s.payments()
        .clone()
        .filter(col("payment_id").is_not_null())
        .sort(["payment_id", "event_time"], SortMultipleOptions::default())
        .group_by_stable([col("payment_id")])
        .agg(
            [
                "order_id",
                "customer_id",
                "event_time",
                "amount",
                "currency",
                "amount_eur",
                "status",
                "payment_method",
                "psp",
                "risk_score",
                "fraud_flag",
                "billing_country",
                "ip_country",
            ]
            .map(|c| col(c).last()),
        )
        .left_join(known, col("order_id"), col("order_id"))
        .select([
            key(col("payment_id"), "paiement").alias("paiement_id"),
            col("payment_id"),
            when(col("commande_connue").fill_null(lit(false)))
                .then(key(col("order_id"), "commande"))
                .otherwise(lit(NULL).cast(DataType::Int64))
                .alias("commande_id"),
            col("order_id"),
            key(col("customer_id"), "client").alias("client_id"),
            date_id(col("event_time").dt().date(), ctx).alias("date_id"),
            col("event_time").alias("date_paiement"),
            col("amount").alias("montant"),
            col("currency").alias("devise"),
            col("amount_eur")
                .fill_null(
                    when(col("currency").eq(lit("EUR")))
                        .then(col("amount"))
                        .otherwise(lit(NULL).cast(DataType::Float64)),
                )
                .alias("montant_eur"),
            col("status").alias("statut"),
            col("payment_method").alias("methode"),
            col("psp"),
            col("risk_score").alias("score_risque"),
            col("fraud_flag").alias("fraude_signalee"),
            col("billing_country").alias("pays_facturation"),
            col("ip_country").alias("pays_ip"),
        ])
        .sort(["paiement_id"], SortMultipleOptions::default())
}
