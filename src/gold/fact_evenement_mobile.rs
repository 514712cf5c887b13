//! `fact_evenement_mobile`: one row per Firebase event (GOLD-STAR-2).
//! `client_id` only for logged-in users (GOLD-STAR-6: anonymous visitors are
//! counted, never linked to a customer); `produit_id` for events about a
//! product (`view_item`, `add_to_cart`, `remove_from_cart`);
//! `duree_session_s` = last − first event time of the event's session;
//! `valeur_eur` = the purchase value, else the price shown.

use polars::prelude::*;

use super::common::{date_id, key};
use super::inputs::Silver;
use super::Ctx;

pub fn build(s: &Silver, ctx: &Ctx) -> LazyFrame {
    let duration = ((col("event_timestamp").max() - col("event_timestamp").min())
        .dt()
        .total_milliseconds(false)
        .cast(DataType::Float64)
        / lit(1000.0))
    .over([col("session_id")]);
    s.firebase()
        .clone()
        .filter(col("event_id").is_not_null())
        .with_column(
            match duration {
                Ok(d) => d,
                Err(_) => lit(NULL).cast(DataType::Float64),
            }
            .alias("duree_session_s"),
        )
        .select([
            key(
                // Silver's identity of an event (D-49): the same id under two
                // names on one day is two events.
                concat_str(
                    [
                        col("event_date").cast(DataType::String),
                        col("event_name"),
                        col("event_id"),
                    ],
                    "|",
                    true,
                ),
                "mobile",
            )
            .alias("evenement_id"),
            col("event_id").alias("code_evenement"),
            date_id(col("event_date"), ctx).alias("date_id"),
            col("event_timestamp").alias("horodatage"),
            super::dim_pays::pays_id(col("country")).alias("pays_id"),
            when(col("is_anonymous").not())
                .then(key(col("user_id"), "client"))
                .otherwise(lit(NULL).cast(DataType::Int64))
                .alias("client_id"),
            key(col("product_id"), "produit").alias("produit_id"),
            col("event_name").alias("type_evenement"),
            col("platform").alias("plateforme"),
            col("session_id"),
            col("duree_session_s"),
            col("value_eur")
                .fill_null(col("price_eur"))
                .alias("valeur_eur"),
            col("quantity").alias("quantite"),
        ])
        .sort(["evenement_id"], SortMultipleOptions::default())
}
