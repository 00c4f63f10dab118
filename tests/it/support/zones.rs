//! Picks a lead time zone whose local time right now is Saturday night (or,
//! on days when no zone is, as far outside business hours as any zone is), so
//! tests and benchmarks on the real clock exercise the first touch out of hours.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;

/// How a local time ranks as "out of hours": Saturday evening or night is
/// best, then any weekend hour, then a weekday night.
fn out_of_hours_rank(local: DateTime<Tz>) -> u8 {
    match (local.weekday(), local.hour()) {
        (Weekday::Sat, 18..) => 3,
        (Weekday::Sat | Weekday::Sun, _) => 2,
        (_, h) if !(8..18).contains(&h) => 1,
        _ => 0,
    }
}

/// The canonical zone (Area/City) whose local time at `now` ranks highest.
pub fn saturday_night_zone(now: DateTime<Utc>) -> Tz {
    chrono_tz::TZ_VARIANTS
        .iter()
        .copied()
        .filter(|tz| {
            let name = tz.name();
            name.contains('/') && !name.starts_with("Etc/") && !name.starts_with("US/")
        })
        .max_by_key(|tz| out_of_hours_rank(now.with_timezone(tz)))
        .unwrap_or(chrono_tz::UTC)
}
