//! `dim_date`: the calendar (GOLD-STAR-1), generated, one row per day from
//! 2000-01-01 to the end of the year after `--as-of` (a fact dated outside it
//! has a null `date_id`, D-89). `date_id` is the date as
//! `YYYYMMDD`; `jour_ouvre` follows docs/contracts.md C7 (Monday–Friday minus
//! French public holidays, Easter Monday, Ascension and Whit Monday included).

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;

use super::Ctx;
use crate::calendar;

const JOURS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];
const MOIS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// First day of the calendar.
pub fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

/// Last day of the calendar: December 31 of the year after `as_of`.
pub fn last_day(as_of: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(as_of.year() + 1, 12, 31).unwrap_or(as_of)
}

pub fn build(_s: &super::inputs::Silver, ctx: &Ctx) -> LazyFrame {
    let last = last_day(ctx.as_of);
    let days: Vec<NaiveDate> = first_day().iter_days().take_while(|d| *d <= last).collect();
    let n = days.len();
    let ints = |f: &dyn Fn(&NaiveDate) -> i32| days.iter().map(f).collect::<Vec<i32>>();
    let date_col = Column::new(
        "date".into(),
        days.iter()
            .map(|d| crate::silver::epoch_days(*d))
            .collect::<Vec<i32>>(),
    )
    .cast(&DataType::Date)
    .unwrap_or_else(|_| Column::full_null("date".into(), n, &DataType::Date));
    let cols = vec![
        Column::new(
            "date_id".into(),
            ints(&|d| d.year() * 10_000 + d.month() as i32 * 100 + d.day() as i32),
        ),
        date_col,
        Column::new("jour".into(), ints(&|d| d.day() as i32)),
        Column::new(
            "jour_semaine".into(),
            ints(&|d| d.weekday().number_from_monday() as i32),
        ),
        Column::new(
            "nom_jour".into(),
            days.iter()
                .map(|d| JOURS[d.weekday().num_days_from_monday() as usize])
                .collect::<Vec<_>>(),
        ),
        Column::new("semaine_iso".into(), ints(&|d| d.iso_week().week() as i32)),
        Column::new("mois".into(), ints(&|d| d.month() as i32)),
        Column::new(
            "nom_mois".into(),
            days.iter()
                .map(|d| MOIS[d.month0() as usize])
                .collect::<Vec<_>>(),
        ),
        Column::new("trimestre".into(), ints(&|d| d.month0() as i32 / 3 + 1)),
        Column::new("annee".into(), ints(&|d| d.year())),
        Column::new(
            "annee_mois".into(),
            days.iter()
                .map(|d| format!("{:04}-{:02}", d.year(), d.month()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "jour_ferie".into(),
            days.iter()
                .map(|d| calendar::is_holiday(*d))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "jour_ouvre".into(),
            days.iter()
                .map(|d| calendar::is_business_day(*d))
                .collect::<Vec<_>>(),
        ),
    ];
    DataFrame::new(n, cols)
        .unwrap_or_else(|_| DataFrame::empty())
        .lazy()
}
