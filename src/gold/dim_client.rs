//! `dim_client`: one row per customer known from the CRM or from an order
//! (GOLD-STAR-1, -5). Pseudonymised ids only (C6): no name, contact, address
//! or birth date ever reaches silver, and the age is kept as a band. The RFM
//! segment comes from `gold_customer_360`; `statut_kyc` from the CRM's KYC
//! fields: `validé`, `à valider` (required, not validated), `non requis`,
//! `inconnu`.

use polars::prelude::*;

use super::common::key;
use super::inputs::Silver;
use super::Ctx;

fn age_band(age: Expr) -> Expr {
    when(age.clone().lt(lit(18)))
        .then(lit("moins de 18"))
        .when(age.clone().lt(lit(25)))
        .then(lit("18-24"))
        .when(age.clone().lt(lit(35)))
        .then(lit("25-34"))
        .when(age.clone().lt(lit(50)))
        .then(lit("35-49"))
        .when(age.clone().lt(lit(65)))
        .then(lit("50-64"))
        .when(age.is_not_null())
        .then(lit("65 et plus"))
        .otherwise(lit(NULL).cast(DataType::String))
}

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let crm = s
        .crm()
        .clone()
        .filter(col("customer_id").is_not_null())
        .group_by_stable([col("customer_id")])
        .agg([
            col("civilite").first(),
            col("age").first(),
            col("departement").first(),
            col("pays").first(),
            col("statut").first(),
            col("segment_client").first(),
            col("canal_acquisition").first(),
            col("categorie_preferee").first(),
            col("kyc_requis").first(),
            col("kyc_valide").first(),
            col("newsletter_optin").first(),
            col("date_creation_crm").first(),
        ]);
    let c360 = super::customer_360::build(s, ctx).select([
        col("client_id"),
        col("customer_id"),
        col("dans_crm"),
        col("segment_rfm"),
        col("risque_churn"),
    ]);
    c360.left_join(crm, col("customer_id"), col("customer_id"))
        .select([
            col("client_id"),
            col("customer_id"),
            col("dans_crm"),
            col("civilite"),
            age_band(col("age")).alias("tranche_age"),
            col("departement"),
            col("pays").alias("code_pays"),
            super::dim_pays::pays_id(col("pays")).alias("pays_id"),
            key(col("canal_acquisition"), "canal").alias("canal_id"),
            col("statut"),
            col("segment_client"),
            col("categorie_preferee"),
            when(col("kyc_valide").eq(lit(true)))
                .then(lit("validé"))
                .when(col("kyc_requis").eq(lit(true)))
                .then(lit("à valider"))
                .when(col("kyc_requis").eq(lit(false)))
                .then(lit("non requis"))
                .otherwise(lit("inconnu"))
                .alias("statut_kyc"),
            col("newsletter_optin"),
            col("date_creation_crm").dt().date().alias("date_creation"),
            col("segment_rfm"),
            col("risque_churn"),
        ])
        .sort(["client_id"], SortMultipleOptions::default())
}
