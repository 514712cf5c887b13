//! `gold_logistics_kpi`: per carrier per month of shipping (GOLD-LOG-1..2,
//! D-85). From `fact_livraison`:
//! - `nb_livraisons`; `nb_livrees` (an actual delivery date); `nb_en_cours`
//!   (no actual date yet, SILVER-LOG-5: counted, out of the delay measures);
//! - `taux_a_l_heure_pct` = delivered on or before the promised date ÷
//!   delivered × 100;
//! - `taux_retour_pct` = returned ÷ all deliveries × 100;
//! - `delai_moyen_jours_ouvres`, `delai_p95_jours_ouvres`: mean and
//!   `percentile_cont(0.95)` of business days from shipping to delivery;
//! - `cout_moyen_eur`: mean delivery fee per parcel;
//! - `score_performance` (0–100) = 0.5 × taux_a_l_heure + 0.3 × (100 −
//!   taux_retour) + 0.2 × max(0, 100 − 10 × (delai_moyen − 1)): on time,
//!   rarely returned, and delivered the next business day scores 100.
//! - A parcel without a shipping date is in no month (it stays in
//!   `fact_livraison`); a parcel without a carrier counts under `inconnu`.

use polars::prelude::*;

use super::common::{clamp_0_100, count_if, mean_eur, p95, pct};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    super::fact_livraison::build(s, ctx)
        .join(
            s.logistics().clone().select([
                col("livraison_id").alias("code_livraison"),
                col("transporteur"),
            ]),
            [col("code_livraison")],
            [col("code_livraison")],
            JoinArgs::new(JoinType::Left),
        )
        // A parcel not shipped yet has no month; it stays in fact_livraison.
        .filter(col("date_expedition").is_not_null())
        .group_by([
            col("transporteur_id"),
            col("transporteur"),
            super::common::month(col("date_expedition")).alias("annee_mois"),
        ])
        .agg([
            len().cast(DataType::Int64).alias("nb_livraisons"),
            count_if(col("livree")).alias("nb_livrees"),
            count_if(col("en_cours").fill_null(lit(false))).alias("nb_en_cours"),
            count_if(col("a_l_heure").fill_null(lit(false))).alias("nb_a_l_heure"),
            count_if(col("retournee")).alias("nb_retours"),
            col("delai_jours_ouvres")
                .cast(DataType::Float64)
                .mean()
                .alias("delai_moyen_jours_ouvres"),
            p95(col("delai_jours_ouvres")).alias("delai_p95_jours_ouvres"),
            mean_eur(col("frais_livraison_eur")).alias("cout_moyen_eur"),
        ])
        .with_columns([
            pct(col("nb_a_l_heure"), col("nb_livrees")).alias("taux_a_l_heure_pct"),
            pct(col("nb_retours"), col("nb_livraisons")).alias("taux_retour_pct"),
        ])
        .with_column(
            (lit(0.5) * col("taux_a_l_heure_pct").fill_null(lit(0.0))
                + lit(0.3) * (lit(100.0) - col("taux_retour_pct").fill_null(lit(0.0)))
                + lit(0.2)
                    * when(col("delai_moyen_jours_ouvres").is_null())
                        .then(lit(0.0))
                        .otherwise(clamp_0_100(
                            lit(100.0) - lit(10.0) * (col("delai_moyen_jours_ouvres") - lit(1.0)),
                        )))
            .alias("score_performance"),
        )
        .select([
            col("transporteur_id"),
            col("transporteur"),
            col("annee_mois"),
            super::common::month_date_id(col("annee_mois"), ctx).alias("date_id"),
            col("nb_livraisons"),
            col("nb_livrees"),
            col("nb_en_cours"),
            col("nb_a_l_heure"),
            col("nb_retours"),
            col("taux_a_l_heure_pct"),
            col("taux_retour_pct"),
            col("delai_moyen_jours_ouvres"),
            col("delai_p95_jours_ouvres"),
            col("cout_moyen_eur"),
            col("score_performance"),
        ])
        .sort(
            ["transporteur_id", "annee_mois"],
            SortMultipleOptions::default(),
        )
}
