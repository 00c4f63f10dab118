//! The scheduler: a pure function from (lead, sequence, events, now) to the
//! next touch and its instant. No clock reads, no I/O; DST and time zones are
//! handled by converting candidate local times with `chrono-tz`.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

use super::event::{Event, EventKind};
use super::lead::Lead;
use super::sequence::{Channel, HotWeights, LocalTime, Sequence, Window};

/// The next touch a lead should receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTouch {
    /// Index into the sequence's steps.
    pub step: usize,
    /// The step's id.
    pub step_id: String,
    /// The channel it goes out on.
    pub channel: Channel,
    /// When it is due (inside the window, never before `now`).
    pub at: DateTime<Utc>,
    /// Steps passed over on the way, with the reason.
    pub skipped: Vec<SkippedStep>,
}

/// A step the lead cannot receive (no phone, no SMS consent, channel bounced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedStep {
    /// Step id.
    pub step_id: String,
    /// Why it was skipped.
    pub reason: &'static str,
}

/// Why a lead cannot receive a channel, or `None` if it can.
pub fn channel_blocker(lead: &Lead, channel: Channel, events: &[Event]) -> Option<&'static str> {
    let failed_for_good = events.iter().any(|e| {
        matches!(&e.kind, EventKind::TouchFailed { channel: c, permanent: true, .. } if *c == channel)
    });
    match channel {
        _ if failed_for_good => Some("channel failed permanently for this lead"),
        Channel::Email if lead.email.is_none() => Some("no email address"),
        Channel::Sms if lead.phone.is_none() => Some("no phone number"),
        Channel::Sms if lead.consent.sms.is_none() => Some("no SMS consent"),
        Channel::Call if lead.phone.is_none() => Some("no phone number"),
        _ => None,
    }
}

/// Where the lead is in its sequence: the index after the last finished step,
/// and when that step finished (capture time if none). A cancelled booking
/// with an `on_cancel` step moves the lead to that step, from the
/// cancellation; the flag says the next step is that jump's target.
fn progress(lead: &Lead, seq: &Sequence, events: &[Event]) -> (usize, DateTime<Utc>, bool) {
    let mut next = 0;
    let mut since = lead.created_at;
    let mut jumped = false;
    for event in events {
        if let EventKind::BookingCancelled { step: Some(step) } = &event.kind {
            if let Some(idx) = seq.step_index(step) {
                next = idx;
                since = event.at;
                jumped = true;
            }
            continue;
        }
        let step = match &event.kind {
            EventKind::TouchSent { step, .. } => step,
            EventKind::TouchFailed {
                step,
                permanent,
                gave_up,
                ..
            } if *permanent || *gave_up => step,
            _ => continue,
        };
        if let Some(idx) = seq.step_index(step).filter(|idx| idx + 1 >= next) {
            next = idx + 1;
            since = event.at;
            jumped = false;
        }
    }
    (next, since, jumped)
}

/// The latest snooze, if any: nothing goes out before it.
fn snoozed_until(events: &[Event]) -> Option<DateTime<Utc>> {
    events.iter().rev().find_map(|e| match e.kind {
        EventKind::Snoozed { until } => Some(until),
        _ => None,
    })
}

/// The next touch for `lead`, or `None` when the lead is not active or the
/// sequence has nothing left it can receive.
pub fn next_touch(
    lead: &Lead,
    seq: &Sequence,
    events: &[Event],
    now: DateTime<Utc>,
    default_tz: Tz,
) -> Option<PlannedTouch> {
    if !lead.status.is_sendable() {
        return None;
    }
    let (mut idx, since, jumped) = progress(lead, seq, events);
    let target = jumped.then_some(idx);
    let mut wait = Duration::zero();
    let mut skipped = Vec::new();
    while let Some(step) = seq.steps.get(idx) {
        let base = if step.optional && target != Some(idx) {
            match nudge_due(seq, idx, events, since) {
                Some(at) => at,
                None => {
                    skipped.push(SkippedStep {
                        step_id: step.id.clone(),
                        reason: "optional step not activated by a rule",
                    });
                    idx += 1;
                    continue;
                }
            }
        } else {
            wait += step.delay;
            since + wait
        };
        if let Some(reason) = channel_blocker(lead, step.channel, events) {
            skipped.push(SkippedStep {
                step_id: step.id.clone(),
                reason,
            });
            idx += 1;
            continue;
        }
        let earliest = base.max(now).max(snoozed_until(events).unwrap_or(now));
        let tz = lead.tz.unwrap_or(default_tz);
        let at = next_open(earliest, tz, seq.step_window(idx))?;
        return Some(PlannedTouch {
            step: idx,
            step_id: step.id.clone(),
            channel: step.channel,
            at,
            skipped,
        });
    }
    None
}

/// When the optional step `idx` is due because a rule activated it: the
/// `nudge_after_open` rule names it and the lead opened (an engaged open,
/// not a machine's) after the last finished step; due `after` that open.
fn nudge_due(
    seq: &Sequence,
    idx: usize,
    events: &[Event],
    since: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let rule = seq
        .rules
        .nudge_after_open
        .as_ref()
        .filter(|r| r.step == idx)?;
    events
        .iter()
        .find(|e| e.at >= since && matches!(e.kind, EventKind::Opened))
        .map(|open| open.at + rule.after)
}

/// Where a click pulls a touch planned for `planned`: the next window start
/// strictly after `now` (an opening, not "right now": a message seconds
/// after a click reads as surveillance), if that is earlier than planned.
pub fn pull_earlier(
    planned: DateTime<Utc>,
    now: DateTime<Utc>,
    tz: Tz,
    window: Window,
) -> Option<DateTime<Utc>> {
    next_opening_after(now, tz, window).filter(|&at| at < planned)
}

/// The hot score of a history: engaged opens, clicks and replies, weighted.
pub fn hot_score(events: &[Event], weights: &HotWeights) -> u32 {
    events
        .iter()
        .map(|e| match e.kind {
            EventKind::Opened => weights.opened,
            EventKind::Clicked { .. } => weights.clicked,
            EventKind::Replied => weights.replied,
            _ => 0,
        })
        .fold(0u32, u32::saturating_add)
}

/// The whole calendar a lead would get if every touch went out on time and
/// nobody answered; used by `seq preview` and `simulate`.
pub fn calendar(
    lead: &Lead,
    seq: &Sequence,
    start: DateTime<Utc>,
    default_tz: Tz,
) -> Vec<PlannedTouch> {
    let mut events = Vec::new();
    let mut now = start;
    let mut plan = Vec::new();
    while let Some(touch) = next_touch(lead, seq, &events, now, default_tz) {
        events.push(Event {
            at: touch.at,
            kind: EventKind::TouchSent {
                step: touch.step_id.clone(),
                channel: touch.channel,
                subject: None,
                body: String::new(),
                dry_run: true,
            },
        });
        now = touch.at;
        plan.push(touch);
        if plan.len() > seq.steps.len() {
            break;
        }
    }
    plan
}

/// Whether instant `t` falls inside `window` in zone `tz`.
pub fn in_window(t: DateTime<Utc>, tz: Tz, window: Window) -> bool {
    let local = t.with_timezone(&tz);
    let minute = LocalTime((local.hour() * 60 + local.minute()) as u16);
    window.days.contains(local.weekday()) && window.start <= minute && minute < window.end
}

/// Every instant whose local wall time is `naive`: none in a DST gap (then the
/// first instant after the gap), two in an overlap.
fn instants_at(tz: Tz, naive: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        LocalResult::None => {
            // Walk forward minute by minute to the end of the gap; gaps are at
            // most a few hours, so this is bounded.
            let mut probe = naive;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return vec![t.with_timezone(&Utc)];
                }
            }
            Vec::new()
        }
    }
}

fn local_naive(date: NaiveDate, at: LocalTime) -> Option<NaiveDateTime> {
    let time = NaiveTime::from_hms_opt(u32::from(at.0 / 60), u32::from(at.0 % 60), 0)?;
    Some(date.and_time(time))
}

/// The earliest instant at or after `t` that lies inside `window` in `tz`.
///
/// The set of allowed instants is a union of intervals; each begins at an
/// instant whose local time is the window start (or the end of a DST gap that
/// swallowed it). So the answer is either `t` itself or one of those openings.
pub fn next_open(t: DateTime<Utc>, tz: Tz, window: Window) -> Option<DateTime<Utc>> {
    if !window.is_open_somewhere() {
        return None;
    }
    // Inside the window, now means now: a new lead's first touch must not
    // wait for the next whole minute.
    if in_window(t, tz, window) {
        return Some(t);
    }
    next_opening_after(t, tz, window)
}

/// The earliest instant after `t` whose local time is the window start (or
/// the end of a DST gap that swallowed it) and that lies inside the window.
fn next_opening_after(t: DateTime<Utc>, tz: Tz, window: Window) -> Option<DateTime<Utc>> {
    if !window.is_open_somewhere() {
        return None;
    }
    let today = t.with_timezone(&tz).date_naive();
    // A week plus margin always contains an opening of a non-empty window.
    (-1..=15)
        .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
        .filter_map(|date| local_naive(date, window.start))
        .flat_map(|naive| instants_at(tz, naive))
        .filter(|&open| open > t && in_window(open, tz, window))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sequence::Days;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn office() -> Window {
        Window {
            days: Days::WEEKDAYS,
            start: LocalTime::hm(9, 0),
            end: LocalTime::hm(17, 0),
        }
    }

    #[test]
    fn inside_window_is_sent_now() {
        // Tuesday 10:00 in New York (UTC-4 in June).
        let t = utc("2026-06-02T14:00:00Z");
        assert_eq!(
            next_open(t, chrono_tz::America::New_York, office()),
            Some(t)
        );
    }

    #[test]
    fn window_that_opens_later_today() {
        // Tuesday 07:30 New York → 09:00 the same day.
        let t = utc("2026-06-02T11:30:00Z");
        assert_eq!(
            next_open(t, chrono_tz::America::New_York, office()),
            Some(utc("2026-06-02T13:00:00Z"))
        );
    }

    #[test]
    fn weekend_moves_to_monday() {
        // Saturday noon Berlin → Monday 09:00 CEST.
        let t = utc("2026-06-06T10:00:00Z");
        assert_eq!(
            next_open(t, chrono_tz::Europe::Berlin, office()),
            Some(utc("2026-06-08T07:00:00Z"))
        );
    }

    #[test]
    fn after_hours_moves_to_next_morning() {
        // Friday 18:00 Kathmandu (+05:45) → Monday 09:00 +05:45 = 03:15Z.
        let t = utc("2026-06-05T12:15:00Z");
        assert_eq!(
            next_open(t, chrono_tz::Asia::Kathmandu, office()),
            Some(utc("2026-06-08T03:15:00Z"))
        );
    }

    #[test]
    fn new_york_spring_forward_gap() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT. A window opening at 02:30
        // opens at 03:00 EDT (07:00Z), the first real instant after the gap.
        let w = Window {
            days: Days::ALL,
            start: LocalTime::hm(2, 30),
            end: LocalTime::hm(5, 0),
        };
        let t = utc("2026-03-08T05:00:00Z"); // 00:00 EST
        assert_eq!(
            next_open(t, chrono_tz::America::New_York, w),
            Some(utc("2026-03-08T07:00:00Z"))
        );
    }

    #[test]
    fn new_york_office_hours_shift_with_dst() {
        // Friday 2026-03-06 18:00 EST → Monday 09:00 EDT = 13:00Z (not 14:00Z).
        let t = utc("2026-03-06T23:00:00Z");
        assert_eq!(
            next_open(t, chrono_tz::America::New_York, office()),
            Some(utc("2026-03-09T13:00:00Z"))
        );
    }

    #[test]
    fn berlin_fall_back_overlap() {
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
        let w = Window {
            days: Days::ALL,
            start: LocalTime::hm(2, 30),
            end: LocalTime::hm(4, 0),
        };
        // First 02:30 (CEST) is 00:30Z.
        assert_eq!(
            next_open(utc("2026-10-25T00:00:00Z"), chrono_tz::Europe::Berlin, w),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        // 01:15Z is 02:15 CET (second pass), outside the window; the second
        // 02:30 (CET) is 01:30Z.
        assert_eq!(
            next_open(utc("2026-10-25T01:15:00Z"), chrono_tz::Europe::Berlin, w),
            Some(utc("2026-10-25T01:30:00Z"))
        );
    }

    #[test]
    fn berlin_spring_forward_keeps_local_nine() {
        // Sunday 2026-03-29 is the switch; Monday 09:00 is CEST = 07:00Z.
        let t = utc("2026-03-28T12:00:00Z");
        assert_eq!(
            next_open(t, chrono_tz::Europe::Berlin, office()),
            Some(utc("2026-03-30T07:00:00Z"))
        );
    }

    #[test]
    fn sms_window_is_clipped_to_quiet_hours() {
        let w = Window {
            days: Days::ALL,
            start: LocalTime::hm(6, 0),
            end: LocalTime::hm(23, 0),
        }
        .for_channel(Channel::Sms);
        // 06:30 Kathmandu → 08:00 Kathmandu.
        let got = next_open(utc("2026-06-02T00:45:00Z"), chrono_tz::Asia::Kathmandu, w).unwrap();
        let local = got.with_timezone(&chrono_tz::Asia::Kathmandu);
        assert_eq!((local.hour(), local.minute()), (8, 0));
    }

    #[test]
    fn inside_the_window_now_means_now_to_the_second() {
        let t = utc("2026-06-02T14:00:30.250Z");
        assert_eq!(
            next_open(t, chrono_tz::America::New_York, office()),
            Some(t)
        );
    }

    const RULED: &str = r#"
[rules]
nudge_after_open = { step = "nudge", after = "1d" }
clicked = "pull-earlier"

[[steps]]
id = "hello"
delay = "0m"
channel = "email"
subject = "Hi"
body = "Hello"

[[steps]]
id = "nudge"
delay = "0m"
channel = "email"
optional = true
body = "Saw you had a look"

[[steps]]
id = "later"
delay = "3d"
channel = "email"
body = "Later"
"#;

    fn at(at: DateTime<Utc>, kind: EventKind) -> Event {
        Event { at, kind }
    }

    fn sent(t: DateTime<Utc>, step: &str) -> Event {
        at(
            t,
            EventKind::TouchSent {
                step: step.into(),
                channel: Channel::Email,
                subject: None,
                body: String::new(),
                dry_run: true,
            },
        )
    }

    #[test]
    fn optional_step_waits_for_an_engaged_open() {
        let seq = Sequence::parse("r.toml", RULED, "r").unwrap();
        // Monday 2026-06-01 09:00 UTC; the lead is in UTC, window 09-17 weekdays.
        let t0 = utc("2026-06-01T09:00:00Z");
        let lead = crate::domain::lint::sample_lead(t0);
        let tz = chrono_tz::UTC;
        let mut events = vec![sent(t0, "hello")];
        // No open: the nudge is skipped and `later` comes 3 days on.
        let plan = next_touch(&lead, &seq, &events, t0, tz).unwrap();
        assert_eq!(plan.step_id, "later");
        assert_eq!(plan.at, utc("2026-06-04T09:00:00Z"));
        assert_eq!(plan.skipped[0].step_id, "nudge");
        // A machine's open changes nothing.
        let open = utc("2026-06-01T10:00:00Z");
        events.push(at(
            open,
            EventKind::Prefetched {
                signal: "opened".into(),
                url: None,
                reason: "proxy".into(),
            },
        ));
        assert_eq!(
            next_touch(&lead, &seq, &events, open, tz).unwrap().step_id,
            "later"
        );
        // An engaged open: the nudge is due a day after it.
        events.push(at(open, EventKind::Opened));
        let plan = next_touch(&lead, &seq, &events, open, tz).unwrap();
        assert_eq!(
            (plan.step_id.as_str(), plan.at),
            ("nudge", utc("2026-06-02T10:00:00Z"))
        );
        // Once it is sent, `later` counts its delay from the nudge.
        let nudged = utc("2026-06-02T10:00:00Z");
        events.push(sent(nudged, "nudge"));
        let plan = next_touch(&lead, &seq, &events, nudged, tz).unwrap();
        assert_eq!(
            (plan.step_id.as_str(), plan.at),
            ("later", utc("2026-06-05T10:00:00Z"))
        );
        // The plain calendar never includes the optional step.
        let ids: Vec<String> = calendar(&lead, &seq, t0, tz)
            .into_iter()
            .map(|p| p.step_id)
            .collect();
        assert_eq!(ids, ["hello", "later"]);
    }

    #[test]
    fn an_open_before_the_last_step_does_not_activate_the_nudge() {
        let mut seq = Sequence::parse("r.toml", RULED, "r").unwrap();
        let t0 = utc("2026-06-01T09:00:00Z");
        let lead = crate::domain::lint::sample_lead(t0);
        // An open recorded before `hello` was sent belongs to an older message.
        let events = vec![
            at(t0 - Duration::hours(1), EventKind::Opened),
            sent(t0, "hello"),
        ];
        assert_eq!(
            next_touch(&lead, &seq, &events, t0, chrono_tz::UTC)
                .unwrap()
                .step_id,
            "later"
        );
        seq.rules.nudge_after_open = None;
        let events = vec![sent(t0, "hello"), at(t0, EventKind::Opened)];
        assert_eq!(
            next_touch(&lead, &seq, &events, t0, chrono_tz::UTC)
                .unwrap()
                .step_id,
            "later"
        );
    }

    #[test]
    fn a_click_pulls_to_the_next_window_start() {
        let tz = chrono_tz::Europe::Berlin;
        // Tuesday 10:00 Berlin (08:00Z), touch planned for Friday 09:00.
        let now = utc("2026-06-02T08:00:00Z");
        let planned = utc("2026-06-05T07:00:00Z");
        assert_eq!(
            pull_earlier(planned, now, tz, office()),
            Some(utc("2026-06-03T07:00:00Z")),
            "inside the window: tomorrow's start, not right now"
        );
        // Saturday night: Monday's start.
        let now = utc("2026-06-06T20:00:00Z");
        assert_eq!(
            pull_earlier(utc("2026-06-10T07:00:00Z"), now, tz, office()),
            Some(utc("2026-06-08T07:00:00Z"))
        );
        // Already planned sooner than that: stays.
        assert_eq!(
            pull_earlier(utc("2026-06-07T07:00:00Z"), now, tz, office()),
            None
        );
    }

    const ANY_HOUR: &str = r#"
[[steps]]
id = "hello"
delay = "0m"
channel = "email"
window = "always"
subject = "Hi"
body = "Hello"

[[steps]]
id = "text"
delay = "0m"
channel = "sms"
window = "always"
body = "Hi"

[[steps]]
id = "later"
delay = "1d"
channel = "email"
body = "Later"
"#;

    #[test]
    fn an_any_hour_step_goes_now_but_sms_keeps_quiet_hours() {
        let seq = Sequence::parse("a.toml", ANY_HOUR, "a").unwrap();
        let tz = chrono_tz::America::New_York;
        // Saturday 23:30 New York.
        let now = utc("2026-12-06T04:30:00Z");
        let mut lead = crate::domain::lint::sample_lead(now);
        lead.tz = Some(tz);
        let plan = next_touch(&lead, &seq, &[], now, chrono_tz::UTC).unwrap();
        assert_eq!((plan.step_id.as_str(), plan.at), ("hello", now));
        // The any-hour SMS waits for 08:00 lead-local, on the Sunday.
        let events = vec![sent(now, "hello")];
        let plan = next_touch(&lead, &seq, &events, now, chrono_tz::UTC).unwrap();
        assert_eq!(
            (plan.step_id.as_str(), plan.at),
            ("text", utc("2026-12-06T13:00:00Z"))
        );
        // A windowed step still waits for Monday 09:00.
        let texted = utc("2026-12-06T13:00:00Z");
        let events = vec![sent(now, "hello"), sent(texted, "text")];
        let plan = next_touch(&lead, &seq, &events, texted, chrono_tz::UTC).unwrap();
        assert_eq!(
            (plan.step_id.as_str(), plan.at),
            ("later", utc("2026-12-07T14:00:00Z"))
        );
        let e = Sequence::parse(
            "a.toml",
            &ANY_HOUR.replacen("\"always\"", "\"never\"", 1),
            "a",
        )
        .unwrap_err();
        assert_eq!(e.field, "steps[0].window");
        assert!(e.message.contains("`never`"), "{e}");
    }

    #[test]
    fn hot_score_counts_engaged_signals_only() {
        let t = utc("2026-06-02T08:00:00Z");
        let weights = HotWeights {
            opened: 1,
            clicked: 3,
            replied: 10,
        };
        let events = vec![
            at(t, EventKind::Opened),
            at(t, EventKind::Opened),
            at(t, EventKind::Clicked { url: None }),
            at(
                t,
                EventKind::Prefetched {
                    signal: "clicked".into(),
                    url: None,
                    reason: "scanner".into(),
                },
            ),
            at(t, EventKind::Note { text: "x".into() }),
        ];
        assert_eq!(hot_score(&events, &weights), 5);
        let mut replied = events.clone();
        replied.push(at(t, EventKind::Replied));
        assert_eq!(hot_score(&replied, &weights), 15);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const ZONES: &[Tz] = &[
            chrono_tz::America::New_York,
            chrono_tz::Europe::Berlin,
            chrono_tz::Asia::Kathmandu,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Chatham,
            chrono_tz::America::Santiago,
            chrono_tz::UTC,
        ];

        fn window() -> impl Strategy<Value = Window> {
            (1u8..128, 0u16..96, 1u16..=96).prop_filter_map("start < end", |(days, a, b)| {
                let (start, end) = (a * 15, (a + b).min(96) * 15);
                (start < end).then(|| Window {
                    days: Days::from_bits(days),
                    start: LocalTime(start),
                    end: LocalTime(end),
                })
            })
        }

        fn channel() -> impl Strategy<Value = Channel> {
            prop_oneof![
                Just(Channel::Email),
                Just(Channel::Sms),
                Just(Channel::Call),
                Just(Channel::Task)
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// The chosen instant is never before now, never outside the
            /// window and never inside SMS/call quiet hours; and no earlier
            /// sampled instant would have qualified.
            #[test]
            fn next_open_is_allowed_and_earliest(
                secs in 1_700_000_000i64..1_900_000_000,
                zone in 0..ZONES.len(),
                window in window(),
                channel in channel(),
                probes in proptest::collection::vec(0.0f64..1.0, 32),
            ) {
                let now = DateTime::from_timestamp(secs, 0).unwrap();
                let tz = ZONES[zone];
                let effective = window.for_channel(channel);
                prop_assume!(effective.is_open_somewhere());
                let at = next_open(now, tz, effective).expect("a non-empty window always opens within a week");
                prop_assert!(at >= now);
                prop_assert!(in_window(at, tz, window), "outside the window: {at}");
                let local = at.with_timezone(&tz);
                let minute = local.hour() * 60 + local.minute();
                if channel.has_quiet_hours() {
                    prop_assert!((8 * 60..21 * 60).contains(&minute), "quiet hours: {local}");
                }
                let span = (at - now).num_minutes();
                for p in probes {
                    let earlier = now + Duration::minutes((p * span as f64) as i64);
                    if earlier < at {
                        prop_assert!(!in_window(earlier, tz, effective), "{earlier} was already open before {at}");
                    }
                }
            }
        }
    }
}
