//! French business-day calendar and Europe/Paris UTC offset (CONTRACTS C7).
//!
//! Pure functions with no dependency on the rest of the generator, so silver can reuse
//! them as they are. Business days are Monday–Friday minus the eleven French public
//! holidays of metropolitan France: 1 January, Easter Monday, 1 May, 8 May, Ascension
//! Thursday, Whit Monday, 14 July, 15 August, 1 November, 11 November, 25 December.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Easter Sunday (Gregorian calendar), by the anonymous Meeus/Jones/Butcher algorithm.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // The algorithm always yields a valid March/April date.
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or(NaiveDate::MIN)
}

/// The eleven French public holidays of `year`, sorted.
pub fn french_holidays(year: i32) -> Vec<NaiveDate> {
    let easter = easter_sunday(year);
    let fixed = [
        (1, 1),
        (5, 1),
        (5, 8),
        (7, 14),
        (8, 15),
        (11, 1),
        (11, 11),
        (12, 25),
    ];
    let mut v: Vec<NaiveDate> = fixed
        .iter()
        .filter_map(|&(m, d)| NaiveDate::from_ymd_opt(year, m, d))
        .collect();
    v.push(easter + Duration::days(1)); // lundi de Pâques
    v.push(easter + Duration::days(39)); // Ascension
    v.push(easter + Duration::days(50)); // lundi de Pentecôte
    v.sort();
    v
}

/// True for a French public holiday.
pub fn is_holiday(d: NaiveDate) -> bool {
    let (m, day) = (d.month(), d.day());
    if matches!(
        (m, day),
        (1, 1) | (5, 1) | (5, 8) | (7, 14) | (8, 15) | (11, 1) | (11, 11) | (12, 25)
    ) {
        return true;
    }
    let easter = easter_sunday(d.year());
    let off = (d - easter).num_days();
    off == 1 || off == 39 || off == 50
}

/// Monday–Friday and not a French public holiday.
pub fn is_business_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !is_holiday(d)
}

/// Number of business days `d` with `start < d <= end` (negative when `end < start`).
/// `business_days_between(fri, next_mon) == 1`; same day gives 0.
pub fn business_days_between(start: NaiveDate, end: NaiveDate) -> i64 {
    if end < start {
        return -business_days_between(end, start);
    }
    let mut n = 0;
    let mut d = start;
    while d < end {
        d += Duration::days(1);
        if is_business_day(d) {
            n += 1;
        }
    }
    n
}

/// The date `n` business days after `d` (`n >= 0`); `n == 0` returns `d` itself.
pub fn add_business_days(d: NaiveDate, n: u32) -> NaiveDate {
    let mut left = n;
    let mut x = d;
    while left > 0 {
        x += Duration::days(1);
        if is_business_day(x) {
            left -= 1;
        }
    }
    x
}

/// Unix seconds of the last Sunday of `month` at 01:00 UTC (EU summer-time switch).
fn eu_switch_utc_secs(year: i32, month: u32) -> i64 {
    let last = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .map(|d| d - Duration::days(1))
    .unwrap_or(NaiveDate::MIN);
    let back = i64::from(last.weekday().num_days_from_sunday());
    let sunday = last - Duration::days(back);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    (sunday - epoch).num_days() * 86_400 + 3_600
}

/// Europe/Paris offset from UTC in minutes (+60 winter, +120 summer) at `utc_ms`.
pub fn paris_offset_minutes(utc_ms: i64) -> i32 {
    let secs = utc_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let year = civil_year(days);
    let start = eu_switch_utc_secs(year, 3);
    let end = eu_switch_utc_secs(year, 10);
    if secs >= start && secs < end {
        120
    } else {
        60
    }
}

fn civil_year(days_since_epoch: i64) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    (epoch + Duration::days(days_since_epoch)).year()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).expect("valid test date")
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter_sunday(2024), d(2024, 3, 31));
        assert_eq!(easter_sunday(2025), d(2025, 4, 20));
        assert_eq!(easter_sunday(2026), d(2026, 4, 5));
        assert_eq!(easter_sunday(2027), d(2027, 3, 28));
        assert_eq!(easter_sunday(2038), d(2038, 4, 25));
    }

    #[test]
    fn french_holidays_2026() {
        let h = french_holidays(2026);
        assert_eq!(h.len(), 11);
        for x in [
            d(2026, 1, 1),
            d(2026, 4, 6), // lundi de Pâques
            d(2026, 5, 1),
            d(2026, 5, 8),
            d(2026, 5, 14), // Ascension
            d(2026, 5, 25), // lundi de Pentecôte
            d(2026, 7, 14),
            d(2026, 8, 15),
            d(2026, 11, 1),
            d(2026, 11, 11),
            d(2026, 12, 25),
        ] {
            assert!(h.contains(&x), "{x}");
            assert!(is_holiday(x), "{x}");
        }
        assert!(!is_holiday(d(2026, 4, 5)));
        assert!(!is_business_day(d(2026, 4, 6)));
        assert!(is_business_day(d(2026, 4, 7)));
        assert!(!is_business_day(d(2026, 3, 21))); // Saturday
    }

    #[test]
    fn business_day_arithmetic() {
        // Friday 3 April 2026 → Tuesday 7 April (Easter Monday skipped).
        assert_eq!(business_days_between(d(2026, 4, 3), d(2026, 4, 7)), 1);
        assert_eq!(add_business_days(d(2026, 4, 3), 1), d(2026, 4, 7));
        assert_eq!(business_days_between(d(2026, 3, 16), d(2026, 3, 16)), 0);
        assert_eq!(business_days_between(d(2026, 3, 16), d(2026, 3, 23)), 5);
        assert_eq!(business_days_between(d(2026, 3, 23), d(2026, 3, 16)), -5);
        // Ascension week 2026: Wed 13 → Mon 18 May = Fri 15, Mon 18.
        assert_eq!(business_days_between(d(2026, 5, 13), d(2026, 5, 18)), 2);
        assert_eq!(add_business_days(d(2026, 5, 22), 1), d(2026, 5, 26));
    }

    #[test]
    fn paris_offsets() {
        let ms = |y, m, dd, h: i64| {
            (d(y, m, dd) - d(1970, 1, 1)).num_days() * 86_400_000 + h * 3_600_000
        };
        assert_eq!(paris_offset_minutes(ms(2026, 3, 17, 12)), 60);
        // 29 March 2026: switch at 01:00 UTC.
        assert_eq!(paris_offset_minutes(ms(2026, 3, 29, 0)), 60);
        assert_eq!(paris_offset_minutes(ms(2026, 3, 29, 1)), 120);
        assert_eq!(paris_offset_minutes(ms(2026, 7, 1, 12)), 120);
        // 25 October 2026: back at 01:00 UTC.
        assert_eq!(paris_offset_minutes(ms(2026, 10, 25, 0)), 120);
        assert_eq!(paris_offset_minutes(ms(2026, 10, 25, 1)), 60);
    }
}
