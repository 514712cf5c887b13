//! `dim_transporteur`: the carriers of the logistics files (docs/contracts.md
//! C8). `type_service` is the delivery method (`standard`, `express`,
//! `relay`) most often ordered for the parcels it carried (orders joined on
//! `order_id`; ties alphabetical); `zone_couverture`: `France` when it only
//! delivers in France, `UE` when only in EU countries, `International`
//! otherwise; `nb_pays_desservis` the destination countries seen.

use polars::prelude::*;

use super::common::key;
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, _ctx: &Ctx) -> LazyFrame {
    let parcels = s
        .logistics()
        .clone()
        .filter(col("transporteur").is_not_null());
    let methods = parcels
        .clone()
        .select([col("transporteur"), col("order_id")])
        .inner_join(
            super::fact_commande::orders(s).select([col("order_id"), col("delivery_method")]),
            col("order_id"),
            col("order_id"),
        )
        .filter(col("delivery_method").is_not_null())
        .group_by([col("transporteur"), col("delivery_method")])
        .agg([len().alias("n")])
        .sort_by_exprs(
            [col("transporteur"), col("n"), col("delivery_method")],
            SortMultipleOptions::default().with_order_descending_multi([false, true, false]),
        )
        .group_by_stable([col("transporteur")])
        .agg([col("delivery_method").first().alias("type_service")]);
    let countries = super::dim_pays::build().select([col("code_iso"), col("membre_ue")]);
    let coverage = parcels
        .clone()
        .filter(col("pays_destination").is_not_null())
        .group_by([col("transporteur"), col("pays_destination")])
        .agg([len().alias("n")])
        .left_join(countries, col("pays_destination"), col("code_iso"))
        .group_by([col("transporteur")])
        .agg([
            len().cast(DataType::Int32).alias("nb_pays_desservis"),
            col("pays_destination")
                .neq(lit("FR"))
                .any(true)
                .alias("hors_france"),
            col("membre_ue")
                .fill_null(lit(false))
                .not()
                .any(true)
                .alias("hors_ue"),
        ]);
    parcels
        .group_by([col("transporteur")])
        .agg([len().cast(DataType::Int64).alias("nb_colis")])
        .left_join(methods, col("transporteur"), col("transporteur"))
        .left_join(coverage, col("transporteur"), col("transporteur"))
        .select([
            key(col("transporteur"), "transporteur").alias("transporteur_id"),
            col("transporteur").alias("nom"),
            col("type_service"),
            when(col("hors_ue").fill_null(lit(false)))
                .then(lit("International"))
                .when(col("hors_france").fill_null(lit(false)))
                .then(lit("UE"))
                .otherwise(lit("France"))
                .alias("zone_couverture"),
            col("nb_pays_desservis").fill_null(lit(0)),
            col("nb_colis"),
        ])
        .sort(["transporteur_id"], SortMultipleOptions::default())
}
