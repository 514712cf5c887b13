//! `gold_customer_360`: one row per customer, CRM + orders + app behaviour
//! (GOLD-C360-1..8, decisions D-81, D-82). The customers are every id a fact
//! refers to (CRM, orders, payments, deliveries, KYC, logged-in app users).
//!
//! - Orders counted: every order of `fact_commande` except cancelled ones.
//!   `chiffre_affaires_eur` = Σ `montant_total_eur`; `panier_moyen_eur` =
//!   chiffre_affaires ÷ nb_commandes; `ltv_eur` = chiffre_affaires (orders seen
//!   by the platform); `ltv_crm_eur` = the CRM's own lifetime value (may be
//!   negative after refunds, CHECK-7).
//! - `recence_jours` = `--as-of` − the last order's date.
//! - R, F, M scores 1–5 among customers with at least one order:
//!   `score = 1 + floor(5 × below ÷ n)`, `below` = how many of those n
//!   customers have a strictly lower value (SQL `1 + floor(5.0 * (rank()
//!   over (order by v) - 1) / n)`), ascending on −recence (R: the most recent get
//!   5), nb_commandes (F), chiffre_affaires (M). Ties share the score, and the
//!   lowest value always scores 1 (so the many one-order customers get F=1);
//!   customers without an order have no scores.
//! - Segment, first rule that holds: `Champions` R≥4 F≥4 M≥4; `Clients
//!   fidèles` R≥3 F≥4; `Nouveaux clients` R=5 F=1; `Prometteurs` R≥4 F≤2;
//!   `À risque` R≤2 F≥3; `Hibernants` R≤2 F≤2; `À surveiller` otherwise;
//!   `Prospects` without an order.
//! - `risque_churn`: no order in the 90 days before `--as-of` (or none at all).
//! - `completude_crm_pct`: share of the 12 CRM profile fields that are filled.
//! - `score_sante` (0–100): (0.4 R + 0.3 F + 0.3 M) ÷ 5 × 100; 0 for prospects.

use polars::prelude::*;

use super::common::{count_if, key, sum_eur};
use super::inputs::Silver;
use super::Ctx;

/// CRM profile fields counted by the completeness score.
const PROFILE: [&str; 12] = [
    "civilite",
    "age",
    "departement",
    "pays",
    "statut",
    "segment_client",
    "lead_score",
    "canal_acquisition",
    "categorie_preferee",
    "newsletter_optin",
    "kyc_requis",
    "date_creation_crm",
];

/// `1 + floor(5 × below ÷ n)`: the share of customers with a strictly lower
/// value, in fifths, plus one (the lowest value scores 1, the highest 5).
fn score(value: Expr) -> Expr {
    let n = count_if(value.clone().is_not_null());
    let rank = value.rank(
        RankOptions {
            method: RankMethod::Min,
            descending: false,
        },
        None,
    );
    let below = rank.cast(DataType::Float64) - lit(1.0);
    (lit(1.0) + (below * lit(5.0) / n.cast(DataType::Float64)).floor())
        .clip_max(lit(5.0))
        .cast(DataType::Int32)
}

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let as_of = lit(crate::silver::epoch_days(ctx.as_of)).cast(DataType::Date);
    let orders = super::fact_commande::orders(s)
        .filter(col("statut").neq(lit("cancelled")))
        .group_by([col("customer_id")])
        .agg([
            len().cast(DataType::Int64).alias("nb_commandes"),
            sum_eur(col("total_amount")).alias("chiffre_affaires_eur"),
            col("date_commande")
                .dt()
                .date()
                .max()
                .alias("derniere_commande"),
            col("date_commande")
                .dt()
                .date()
                .min()
                .alias("premiere_commande"),
        ]);
    let app = s
        .firebase()
        .clone()
        .filter(col("is_anonymous").not().and(col("user_id").is_not_null()))
        .group_by([col("user_id")])
        .agg([
            len().cast(DataType::Int64).alias("nb_evenements_app"),
            col("session_id")
                .n_unique()
                .cast(DataType::Int64)
                .alias("nb_sessions_app"),
        ]);
    let crm = s
        .crm()
        .clone()
        .filter(col("customer_id").is_not_null())
        .group_by_stable([col("customer_id")])
        .agg(
            PROFILE
                .iter()
                .map(|c| col(*c).first())
                .chain([col("lifetime_value_eur").first()])
                .collect::<Vec<_>>(),
        )
        .with_column(lit(true).alias("dans_crm"));
    let filled = PROFILE
        .iter()
        .map(|c| col(*c).is_not_null().cast(DataType::Int32))
        .reduce(|a, b| a + b)
        .unwrap_or(lit(0));
    // Every customer any fact refers to: CRM, orders, payments, deliveries,
    // KYC files, logged-in app users (so every fact's client_id is in dim_client).
    let ids = |lf: &LazyFrame, c: &str| lf.clone().select([col(c).alias("customer_id")]);
    let customers = concat(
        [
            ids(s.crm(), "customer_id"),
            ids(s.orders(), "customer_id"),
            ids(s.payments(), "customer_id"),
            ids(s.logistics(), "customer_id"),
            ids(s.kyc(), "customer_id"),
            s.firebase()
                .clone()
                .filter(col("is_anonymous").not())
                .select([col("user_id").alias("customer_id")]),
        ],
        UnionArgs::default(),
    )
    .unwrap_or_else(|_| ids(s.crm(), "customer_id"))
    .filter(col("customer_id").is_not_null())
    .group_by([col("customer_id")])
    .agg([len().alias("_n")])
    .drop(cols(["_n"]));
    let recence = (as_of.clone() - col("derniere_commande"))
        .dt()
        .total_days(false)
        .cast(DataType::Int32);
    customers
        .left_join(crm, col("customer_id"), col("customer_id"))
        .left_join(orders, col("customer_id"), col("customer_id"))
        .left_join(app, col("customer_id"), col("user_id"))
        .with_columns([
            recence.alias("recence_jours"),
            col("nb_commandes").fill_null(lit(0)),
            col("chiffre_affaires_eur").fill_null(lit(0.0)),
        ])
        .with_columns([
            score(-col("recence_jours").cast(DataType::Float64)).alias("score_r"),
            score(
                when(col("nb_commandes").gt(lit(0)))
                    .then(col("nb_commandes").cast(DataType::Float64))
                    .otherwise(lit(NULL).cast(DataType::Float64)),
            )
            .alias("score_f"),
            score(
                when(col("nb_commandes").gt(lit(0)))
                    .then(col("chiffre_affaires_eur"))
                    .otherwise(lit(NULL).cast(DataType::Float64)),
            )
            .alias("score_m"),
        ])
        .with_columns([
            segment(col("score_r"), col("score_f"), col("score_m")).alias("segment_rfm"),
            concat_str(
                [
                    col("score_r").cast(DataType::String),
                    col("score_f").cast(DataType::String),
                    col("score_m").cast(DataType::String),
                ],
                "",
                false,
            )
            .alias("code_rfm"),
        ])
        .select([
            key(col("customer_id"), "client").alias("client_id"),
            col("customer_id"),
            col("dans_crm").fill_null(lit(false)),
            col("nb_commandes"),
            col("chiffre_affaires_eur"),
            when(col("nb_commandes").gt(lit(0)))
                .then(col("chiffre_affaires_eur") / col("nb_commandes").cast(DataType::Float64))
                .otherwise(lit(NULL).cast(DataType::Float64))
                .alias("panier_moyen_eur"),
            col("chiffre_affaires_eur").alias("ltv_eur"),
            col("lifetime_value_eur").alias("ltv_crm_eur"),
            col("premiere_commande"),
            col("derniere_commande"),
            col("recence_jours"),
            col("score_r"),
            col("score_f"),
            col("score_m"),
            col("code_rfm"),
            col("segment_rfm"),
            col("recence_jours")
                .gt(lit(90))
                .fill_null(lit(true))
                .alias("risque_churn"),
            when(col("dans_crm").fill_null(lit(false)))
                .then(filled.cast(DataType::Float64) * lit(100.0 / PROFILE.len() as f64))
                .otherwise(lit(NULL).cast(DataType::Float64))
                .alias("completude_crm_pct"),
            ((col("score_r").cast(DataType::Float64) * lit(0.4)
                + col("score_f").cast(DataType::Float64) * lit(0.3)
                + col("score_m").cast(DataType::Float64) * lit(0.3))
                / lit(5.0)
                * lit(100.0))
            .fill_null(lit(0.0))
            .alias("score_sante"),
            col("nb_evenements_app").fill_null(lit(0)),
            col("nb_sessions_app").fill_null(lit(0)),
        ])
        .sort(["client_id"], SortMultipleOptions::default())
}

/// The RFM segment of three scores (see the module doc).
pub fn segment(r: Expr, f: Expr, m: Expr) -> Expr {
    when(r.clone().is_null())
        .then(lit("Prospects"))
        .when(
            r.clone()
                .gt_eq(lit(4))
                .and(f.clone().gt_eq(lit(4)))
                .and(m.gt_eq(lit(4))),
        )
        .then(lit("Champions"))
        .when(r.clone().gt_eq(lit(3)).and(f.clone().gt_eq(lit(4))))
        .then(lit("Clients fidèles"))
        .when(r.clone().eq(lit(5)).and(f.clone().eq(lit(1))))
        .then(lit("Nouveaux clients"))
        .when(r.clone().gt_eq(lit(4)).and(f.clone().lt_eq(lit(2))))
        .then(lit("Prometteurs"))
        .when(r.clone().lt_eq(lit(2)).and(f.clone().gt_eq(lit(3))))
        .then(lit("À risque"))
        .when(r.lt_eq(lit(2)).and(f.lt_eq(lit(2))))
        .then(lit("Hibernants"))
        .otherwise(lit("À surveiller"))
}
