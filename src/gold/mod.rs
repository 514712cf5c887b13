//! Gold: the star schema and the aggregate tables (SPEC §3.9), built from
//! silver with polars lazy expressions — one file per table, its formulas in
//! its module doc and in docs/gold.md.
//!
//! Every table is a pure function of the silver inputs and `--as-of` (the
//! only clock): the same silver gives the same bytes. Surrogate keys are
//! derived from the natural keys ([`common::key`]), so they are stable across
//! rebuilds without any stored state. Tables are written through the table
//! layer in the `gold/` zone: every part of every table first, then the
//! commit records, so a failed run leaves yesterday's gold.

pub mod commercial;
pub mod common;
pub mod countries;
pub mod customer_360;
pub mod dim_canal;
pub mod dim_client;
pub mod dim_date;
pub mod dim_pays;
pub mod dim_produit;
pub mod dim_transporteur;
pub mod fact_commande;
pub mod fact_commande_produit;
pub mod fact_evenement_mobile;
pub mod fact_evenement_web;
pub mod fact_kyc;
pub mod fact_livraison;
pub mod fact_paiement;
pub mod inputs;
pub mod kyc_compliance;
pub mod logistics_kpi;
pub mod product_funnel;
pub mod product_ranking;
pub mod web_daily;
pub mod web_endpoints;

use chrono::NaiveDate;
use polars::prelude::{DataFrame, LazyFrame, UniqueKeepStrategy};

use inputs::Silver;

/// What a gold run builds (`--domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Domain {
    /// Dimensions and facts of the star schema.
    Star,
    /// gold_customer_360.
    Customer,
    /// gold_product_funnel.
    Product,
    /// gold_kyc_compliance, gold_kyc_motifs_refus.
    Kyc,
    /// gold_logistics_kpi.
    Logistics,
    /// gold_commercial_mensuel, gold_classement_produits.
    Commercial,
    /// gold_web_quotidien, gold_web_endpoints.
    Web,
}

/// The run's parameters: the reference date (`--as-of`).
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub as_of: NaiveDate,
}

/// One gold table: its name, domain, primary key and definition.
pub struct TableDef {
    pub name: &'static str,
    pub domain: Domain,
    /// Primary key columns (unique, never null).
    pub key: &'static [&'static str],
    /// The natural key a single surrogate key is derived from (collision check).
    pub natural: Option<&'static str>,
    pub build: fn(&Silver, &Ctx) -> LazyFrame,
}

/// The silver tables a gold table is built from: recorded while its plan is
/// built (lazily, on empty inputs), so it is always what the code reads.
pub fn reads(t: &TableDef) -> Vec<&'static str> {
    let silver = inputs::assemble(Default::default(), Vec::new());
    let ctx = Ctx {
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
    };
    let _plan = (t.build)(&silver, &ctx);
    silver.take_used()
}

fn dim_pays(_: &Silver, _: &Ctx) -> LazyFrame {
    dim_pays::build()
}

/// Every gold table, dimensions first (the warehouse loads them in this order).
pub const TABLES: &[TableDef] = &[
    TableDef {
        name: "dim_date",
        domain: Domain::Star,
        key: &["date_id"],
        natural: None,
        build: dim_date::build,
    },
    TableDef {
        name: "dim_pays",
        domain: Domain::Star,
        key: &["pays_id"],
        natural: Some("code_iso"),
        build: dim_pays,
    },
    TableDef {
        name: "dim_canal",
        domain: Domain::Star,
        key: &["canal_id"],
        natural: Some("nom"),
        build: dim_canal::build,
    },
    TableDef {
        name: "dim_client",
        domain: Domain::Star,
        key: &["client_id"],
        natural: Some("customer_id"),
        build: dim_client::build,
    },
    TableDef {
        name: "dim_produit",
        domain: Domain::Star,
        key: &["produit_id"],
        natural: Some("code_produit"),
        build: dim_produit::build,
    },
    TableDef {
        name: "dim_transporteur",
        domain: Domain::Star,
        key: &["transporteur_id"],
        natural: Some("nom"),
        build: dim_transporteur::build,
    },
    TableDef {
        name: "fact_commande",
        domain: Domain::Star,
        key: &["commande_id"],
        natural: Some("order_id"),
        build: fact_commande::build,
    },
    TableDef {
        name: "fact_commande_produit",
        domain: Domain::Star,
        key: &["commande_id", "ligne"],
        natural: None,
        build: fact_commande_produit::build,
    },
    TableDef {
        name: "fact_paiement",
        domain: Domain::Star,
        key: &["paiement_id"],
        natural: Some("payment_id"),
        build: fact_paiement::build,
    },
    TableDef {
        name: "fact_livraison",
        domain: Domain::Star,
        key: &["livraison_id"],
        natural: Some("code_livraison"),
        build: fact_livraison::build,
    },
    TableDef {
        name: "fact_evenement_web",
        domain: Domain::Star,
        key: &["evenement_id"],
        natural: None,
        build: fact_evenement_web::build,
    },
    TableDef {
        name: "fact_evenement_mobile",
        domain: Domain::Star,
        key: &["evenement_id"],
        natural: None,
        build: fact_evenement_mobile::build,
    },
    TableDef {
        name: "fact_kyc",
        domain: Domain::Star,
        key: &["kyc_id"],
        natural: Some("kyc_ref"),
        build: fact_kyc::build,
    },
    TableDef {
        name: "gold_customer_360",
        domain: Domain::Customer,
        key: &["client_id"],
        natural: Some("customer_id"),
        build: customer_360::build,
    },
    TableDef {
        name: "gold_product_funnel",
        domain: Domain::Product,
        key: &["produit_id", "annee_mois"],
        natural: None,
        build: product_funnel::build,
    },
    TableDef {
        name: "gold_kyc_compliance",
        domain: Domain::Kyc,
        key: &["annee_mois", "type_document", "source"],
        natural: None,
        build: kyc_compliance::build,
    },
    TableDef {
        name: "gold_kyc_motifs_refus",
        domain: Domain::Kyc,
        key: &["annee_mois", "type_document", "source", "motif_refus"],
        natural: None,
        build: kyc_compliance::reasons,
    },
    TableDef {
        name: "gold_logistics_kpi",
        domain: Domain::Logistics,
        key: &["transporteur_id", "annee_mois"],
        natural: None,
        build: logistics_kpi::build,
    },
    TableDef {
        name: "gold_commercial_mensuel",
        domain: Domain::Commercial,
        key: &["categorie", "annee_mois"],
        natural: None,
        build: commercial::build,
    },
    TableDef {
        name: "gold_classement_produits",
        domain: Domain::Commercial,
        key: &["fenetre_jours", "produit_id"],
        natural: None,
        build: product_ranking::build,
    },
    TableDef {
        name: "gold_web_quotidien",
        domain: Domain::Web,
        key: &["date_id"],
        natural: None,
        build: web_daily::build,
    },
    TableDef {
        name: "gold_web_endpoints",
        domain: Domain::Web,
        key: &["endpoint_jour_id"],
        natural: None,
        build: web_endpoints::build,
    },
];

/// The definition of a table by name.
pub fn table(name: &str) -> Option<&'static TableDef> {
    TABLES.iter().find(|t| t.name == name)
}

/// Check a built table: its key columns unique and never null.
pub fn check_keys(t: &TableDef, df: &DataFrame) -> anyhow::Result<()> {
    for k in t.key {
        let nulls = df.column(k)?.null_count();
        anyhow::ensure!(
            nulls == 0,
            "{}: {nulls} null values in key column {k}",
            t.name
        );
    }
    let distinct = df
        .select(t.key.iter().copied())?
        .unique_stable(None, UniqueKeepStrategy::Any, None)?
        .height();
    anyhow::ensure!(
        distinct == df.height(),
        "{}: {} rows but {distinct} distinct keys ({})",
        t.name,
        df.height(),
        t.key.join(", ")
    );
    if let (Some(natural), [k]) = (t.natural, t.key) {
        common::check_unique(df, k, natural)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
