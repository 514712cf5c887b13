//! `gold_kyc_compliance`: per document type per month of submission
//! (GOLD-KYC-1..3, D-87). From `fact_kyc`:
//! - `nb_dossiers`, `nb_valides`, `nb_refuses`, `nb_en_attente` (statut
//!   `validé`, `refusé`, `en_attente`; a file with an unknown status counts
//!   in `nb_dossiers` only);
//! - `taux_validation_pct` = valides ÷ dossiers × 100, `taux_refus_pct` =
//!   refusés ÷ dossiers × 100, `taux_traitement_pct` = (valides + refusés) ÷
//!   dossiers × 100;
//! - `delai_moyen_jours_ouvres`, `delai_p95_jours_ouvres`: mean and
//!   `percentile_cont(0.95)` of `delai_decision_jours_ouvres` of decided files;
//! - `nb_sla_depasse` (pending more than 5 business days),
//!   `taux_sla_respecte_pct` = (dossiers − sla_depassé − décisions tardives) ÷
//!   dossiers × 100;
//! - `score_conformite` (0–100) = 0.4 × taux_traitement + 0.4 ×
//!   taux_sla_respecte + 0.2 × max(0, 100 − 10 × delai_p95) — a p95 of 0
//!   business days (decided the day of submission) scores 100 on the last
//!   term, one day 90, ten days or more 0.
//!
//! `gold_kyc_motifs_refus` gives the distribution of refusal reasons
//! (GOLD-KYC-2): per month, type and reason, the count and its share of the
//! refusals of that month and type. `source` is kept for the decisions of
//! `kvt kyc` (issue 10).

use polars::prelude::*;

use super::common::{clamp_0_100, count_if, p95, pct};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let decided = col("statut")
        .eq(lit("validé"))
        .or(col("statut").eq(lit("refusé")));
    super::fact_kyc::build(s, ctx)
        .group_by([col("source"), col("mois_soumission"), col("type_document")])
        .agg([
            len().cast(DataType::Int64).alias("nb_dossiers"),
            count_if(col("statut").eq(lit("validé"))).alias("nb_valides"),
            count_if(col("statut").eq(lit("refusé"))).alias("nb_refuses"),
            count_if(col("statut").eq(lit("en_attente"))).alias("nb_en_attente"),
            col("delai_decision_jours_ouvres")
                .filter(decided.clone())
                .cast(DataType::Float64)
                .mean()
                .alias("delai_moyen_jours_ouvres"),
            p95(col("delai_decision_jours_ouvres").filter(decided)).alias("delai_p95_jours_ouvres"),
            count_if(col("sla_depasse").fill_null(lit(false))).alias("nb_sla_depasse"),
            count_if(col("decision_tardive").fill_null(lit(false))).alias("nb_decisions_tardives"),
        ])
        .with_columns([
            pct(col("nb_valides"), col("nb_dossiers")).alias("taux_validation_pct"),
            pct(col("nb_refuses"), col("nb_dossiers")).alias("taux_refus_pct"),
            pct(col("nb_valides") + col("nb_refuses"), col("nb_dossiers"))
                .alias("taux_traitement_pct"),
            pct(
                col("nb_dossiers") - col("nb_sla_depasse") - col("nb_decisions_tardives"),
                col("nb_dossiers"),
            )
            .alias("taux_sla_respecte_pct"),
        ])
        .with_column(
            (lit(0.4) * col("taux_traitement_pct").fill_null(lit(0.0))
                + lit(0.4) * col("taux_sla_respecte_pct").fill_null(lit(0.0))
                + lit(0.2)
                    * when(col("delai_p95_jours_ouvres").is_null())
                        .then(lit(0.0))
                        .otherwise(clamp_0_100(
                            lit(100.0) - lit(10.0) * col("delai_p95_jours_ouvres"),
                        )))
            .alias("score_conformite"),
        )
        .select([
            col("mois_soumission").alias("annee_mois"),
            super::common::month_date_id(col("mois_soumission"), ctx).alias("date_id"),
            col("type_document"),
            col("source"),
            col("nb_dossiers"),
            col("nb_valides"),
            col("nb_refuses"),
            col("nb_en_attente"),
            col("taux_validation_pct"),
            col("taux_refus_pct"),
            col("taux_traitement_pct"),
            col("delai_moyen_jours_ouvres"),
            col("delai_p95_jours_ouvres"),
            col("nb_sla_depasse"),
            col("nb_decisions_tardives"),
            col("taux_sla_respecte_pct"),
            col("score_conformite"),
        ])
        .sort(
            ["annee_mois", "type_document", "source"],
            SortMultipleOptions::default(),
        )
}

/// `gold_kyc_motifs_refus`: the distribution of refusal reasons.
pub fn reasons(s: &Silver, ctx: &Ctx) -> LazyFrame {
    super::fact_kyc::build(s, ctx)
        .filter(col("statut").eq(lit("refusé")))
        .with_column(col("motif_refus").fill_null(lit("non précisé")))
        .group_by([
            col("source"),
            col("mois_soumission"),
            col("type_document"),
            col("motif_refus"),
        ])
        .agg([len().cast(DataType::Int64).alias("nb_refus")])
        .with_column(
            pct(
                col("nb_refus"),
                col("nb_refus")
                    .sum()
                    .over([col("source"), col("mois_soumission"), col("type_document")])
                    .unwrap_or_else(|_| lit(NULL)),
            )
            .alias("part_pct"),
        )
        .select([
            col("mois_soumission").alias("annee_mois"),
            super::common::month_date_id(col("mois_soumission"), ctx).alias("date_id"),
            col("type_document"),
            col("source"),
            col("motif_refus"),
            col("nb_refus"),
            col("part_pct"),
        ])
        .sort(
            ["annee_mois", "type_document", "source", "motif_refus"],
            SortMultipleOptions::default(),
        )
}
