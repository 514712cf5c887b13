//! `dim_canal`: the customers' acquisition channels (CRM `canal_acquisition`,
//! docs/contracts.md C8) with their type (GOLD-STAR-1: organique, payant,
//! référent). The type comes from the channel's name (D-83): words of paid
//! acquisition (`ads`, `publicité`, `sponsor`, `payant`, `salon`,
//! `affiliation`) → `payant`; of recommendation (`parrain`, `partenaire`,
//! `référ`, `bouche`) → `référent`; anything else (site, app, social
//! networks, e-mail to own customers) → `organique`.

use polars::prelude::*;

use super::common::key;
use super::inputs::Silver;
use super::Ctx;

/// `type_canal` of a channel name.
pub fn channel_type(name: Expr) -> Expr {
    let n = name.str().to_lowercase();
    when(
        n.clone()
            .str()
            .contains(lit(r"ads|publicit|sponsor|payant|salon|affiliation"), false),
    )
    .then(lit("payant"))
    .when(
        n.str()
            .contains(lit(r"parrain|partenaire|r[ée]f[ée]r|bouche"), false),
    )
    .then(lit("référent"))
    .otherwise(lit("organique"))
}

/// Each CRM customer's channel key (`customer_id`, `canal_id`).
pub fn customer_channel(s: &Silver) -> LazyFrame {
    s.crm()
        .clone()
        .filter(col("customer_id").is_not_null())
        .select([
            col("customer_id"),
            key(col("canal_acquisition"), "canal").alias("canal_id"),
        ])
        .group_by_stable([col("customer_id")])
        .agg([col("canal_id").first()])
}

pub fn build(s: &Silver, _ctx: &Ctx) -> LazyFrame {
    s.crm()
        .clone()
        .filter(col("canal_acquisition").is_not_null())
        .group_by([col("canal_acquisition")])
        .agg([len().cast(DataType::Int64).alias("nb_clients_crm")])
        .select([
            key(col("canal_acquisition"), "canal").alias("canal_id"),
            col("canal_acquisition").alias("nom"),
            channel_type(col("canal_acquisition")).alias("type_canal"),
            col("nb_clients_crm"),
        ])
        .sort(["canal_id"], SortMultipleOptions::default())
}
