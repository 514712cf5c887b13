//! `fact_kyc`: one row per KYC file (GOLD-STAR-2). `source` says who decided:
//! `prestataire` for the provider's export; the decisions of `kvt kyc` will
//! join here as `automatique` (GOLD-KYC-4: the seam for issue 10).

use polars::prelude::*;

use super::common::{date_id, key};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    s.kyc()
        .clone()
        .filter(col("kyc_ref").is_not_null())
        .select([
            key(col("kyc_ref"), "kyc").alias("kyc_id"),
            col("kyc_ref"),
            key(col("customer_id"), "client").alias("client_id"),
            date_id(col("date_soumission"), ctx).alias("date_id"),
            col("date_soumission"),
            col("mois_soumission"),
            col("doc_type")
                .fill_null(lit("inconnu"))
                .alias("type_document"),
            col("statut_verification")
                .fill_null(lit("inconnu"))
                .alias("statut"),
            col("motif_refus"),
            col("delai_traitement_jours_ouvres"),
            col("delai_decision_jours_ouvres"),
            col("sla_depasse"),
            col("decision_tardive"),
            col("document_valide_a_la_soumission").alias("document_valide"),
            lit("prestataire").alias("source"),
        ])
        .sort(["kyc_id"], SortMultipleOptions::default())
}
