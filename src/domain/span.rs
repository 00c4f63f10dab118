//! How a sequence plays out on the real calendar: the nominal sum of delays
//! says nothing about weekends and closed hours, so this runs the scheduler
//! for a lead captured at every hour of a reference week and measures what
//! the lead actually lives (first touch to last, and the wait for the first).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};

use super::lint::sample_lead;
use super::schedule::calendar;
use super::sequence::Sequence;

/// One simulated capture: when the lead arrived, and when its first and last
/// touches go out (lead-local time is UTC here, so these read as local).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureRun {
    /// When the lead was captured.
    pub captured: DateTime<Utc>,
    /// When the first touch goes out.
    pub first: DateTime<Utc>,
    /// When the last touch goes out.
    pub last: DateTime<Utc>,
}

impl CaptureRun {
    /// First touch to last, as the lead lives it.
    pub fn span(&self) -> Duration {
        self.last - self.first
    }

    /// Capture to first touch.
    pub fn first_wait(&self) -> Duration {
        self.first - self.captured
    }
}

/// A Monday with no DST anywhere near it; the lead lives in UTC, so local
/// wall times are the UTC ones and windows apply exactly as written.
fn reference_monday() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 1, 5)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// The scheduler's calendar for a lead captured at each hour of a week
/// (168 runs, Monday 00:00 first). Captures whose calendar is empty are left out.
pub fn capture_runs(seq: &Sequence) -> Vec<CaptureRun> {
    let monday = reference_monday();
    (0..7 * 24)
        .filter_map(|hour| {
            let captured = monday + Duration::hours(hour);
            let lead = sample_lead(captured);
            let plan = calendar(&lead, seq, captured, chrono_tz::UTC);
            Some(CaptureRun {
                captured,
                first: plan.first()?.at,
                last: plan.last()?.at,
            })
        })
        .collect()
}

/// Per capture weekday, the run with the shortest and the longest span.
pub fn span_by_weekday(runs: &[CaptureRun]) -> Vec<(CaptureRun, CaptureRun)> {
    let mut out = Vec::new();
    for day in 0..7u32 {
        let of_day = runs
            .iter()
            .filter(|r| r.captured.weekday().num_days_from_monday() == day);
        let shortest = of_day.clone().min_by_key(|r| r.span());
        let longest = of_day.max_by_key(|r| r.span());
        if let (Some(s), Some(l)) = (shortest, longest) {
            out.push((*s, *l));
        }
    }
    out
}

/// "Friday 18:00": a weekday and wall time, as the lead reads it.
pub fn day_time(t: DateTime<Utc>) -> String {
    format!(
        "{} {:02}:{:02}",
        day_name(t.weekday()),
        t.hour(),
        t.minute()
    )
}

/// English name of a weekday.
pub fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Days with one decimal, for messages.
pub fn days(d: Duration) -> String {
    format!("{:.1}", d.num_minutes() as f64 / 1440.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFICE_FIRST: &str = r#"
[[steps]]
id = "a"
delay = "0m"
channel = "email"
subject = "Hi"
body = "Hello"
[[steps]]
id = "b"
delay = "2d"
channel = "email"
body = "Again"
"#;

    #[test]
    fn weekends_stretch_the_real_span() {
        let seq = Sequence::parse("t.toml", OFFICE_FIRST, "t").unwrap();
        let runs = capture_runs(&seq);
        assert_eq!(runs.len(), 168);
        let by_day = span_by_weekday(&runs);
        let (_, thu) = by_day[3];
        // Thursday 10:00 → a 10:00, b Saturday 10:00 → Monday 09:00.
        assert_eq!(day_name(thu.captured.weekday()), "Thursday");
        assert!(thu.span() > Duration::days(3), "{thu:?}");
        // Friday 18:00 waits for Monday 09:00.
        let friday_evening = runs
            .iter()
            .find(|r| day_time(r.captured) == "Friday 18:00")
            .unwrap();
        assert_eq!(day_time(friday_evening.first), "Monday 09:00");
        assert_eq!(friday_evening.first_wait(), Duration::hours(63));
    }

    #[test]
    fn an_any_hour_first_step_goes_at_capture() {
        let src = OFFICE_FIRST.replace("subject = \"Hi\"", "subject = \"Hi\"\nwindow = \"always\"");
        let seq = Sequence::parse("t.toml", &src, "t").unwrap();
        assert!(
            capture_runs(&seq)
                .iter()
                .all(|r| r.first_wait() == Duration::zero())
        );
    }

    #[test]
    fn the_shipped_default_stays_within_14_to_21_days_from_every_capture() {
        let seq =
            Sequence::parse("default.toml", crate::catalog::BUILTIN_DEFAULT, "default").unwrap();
        let runs = capture_runs(&seq);
        assert_eq!(runs.len(), 168);
        for run in &runs {
            assert_eq!(run.first_wait(), Duration::zero(), "{run:?}");
            assert!(
                (Duration::days(14)..=Duration::days(21)).contains(&run.span()),
                "captured {}: {} days",
                day_time(run.captured),
                days(run.span())
            );
        }
    }
}
