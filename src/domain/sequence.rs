//! Sequences: the touches a lead receives, parsed and validated from TOML.
//!
//! Everything that can be checked without a lead is checked at load: unknown
//! keys, bad delays, bad windows, template syntax and unknown template
//! variables. Errors name the file, line and field.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use chrono::{Duration, Weekday};
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Deserializer, Serialize};
use toml::Spanned;

use super::toml_pos::locate;

/// How a touch reaches the lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// SMTP email.
    Email,
    /// Text message.
    Sms,
    /// A phone call (a task for the human by default).
    Call,
    /// A manual task for the human (LinkedIn note, gift…).
    Task,
}

impl Channel {
    /// Whether lead-local quiet hours (08:00–21:00) apply.
    pub fn has_quiet_hours(self) -> bool {
        matches!(self, Channel::Sms | Channel::Call)
    }

    /// Lower-case name as used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Call => "call",
            Channel::Task => "task",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Minutes after local midnight, 0..=1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime(pub u16);

impl LocalTime {
    /// Builds from hours and minutes; `24:00` is allowed as an end.
    pub const fn hm(h: u16, m: u16) -> Self {
        LocalTime(h * 60 + m)
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bad = || {
            serde::de::Error::custom(format!("`{s}` is not a time of day; use HH:MM, e.g. 09:00"))
        };
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(LocalTime::hm(h, m))
    }
}

/// A set of weekdays as a bit mask (bit 0 = Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

impl Days {
    /// Monday to Friday.
    pub const WEEKDAYS: Days = Days(0b0001_1111);
    /// Every day.
    pub const ALL: Days = Days(0b0111_1111);

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// Whether no day is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Builds a set from bits, bit 0 = Monday (for tests and generators).
    pub fn from_bits(bits: u8) -> Days {
        Days(bits & 0b0111_1111)
    }
}

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut bits = 0u8;
        for name in &names {
            let day: Weekday = name.trim().parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{name}` is not a day of the week; use mon, tue, wed, thu, fri, sat, sun"
                ))
            })?;
            bits |= 1 << day.num_days_from_monday();
        }
        Ok(Days(bits))
    }
}

/// When touches may go out, in the lead's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Days on which sending is allowed.
    pub days: Days,
    /// First allowed minute.
    pub start: LocalTime,
    /// First minute no longer allowed.
    pub end: LocalTime,
}

/// SMS and calls only between these lead-local hours, whatever the sequence says.
pub const QUIET_HOURS_END: LocalTime = LocalTime::hm(8, 0);
/// See [`QUIET_HOURS_END`].
pub const QUIET_HOURS_START: LocalTime = LocalTime::hm(21, 0);

impl Window {
    /// Any hour of any day: a step with `window = "always"`.
    pub const ALWAYS: Window = Window {
        days: Days::ALL,
        start: LocalTime::hm(0, 0),
        end: LocalTime::hm(24, 0),
    };

    /// Whether this is the whole week, around the clock.
    pub fn is_always(self) -> bool {
        self == Window::ALWAYS
    }

    /// The window a channel actually uses: SMS and calls are clipped to 08:00–21:00.
    pub fn for_channel(self, channel: Channel) -> Window {
        if channel.has_quiet_hours() {
            Window {
                days: self.days,
                start: self.start.max(QUIET_HOURS_END),
                end: self.end.min(QUIET_HOURS_START),
            }
        } else {
            self
        }
    }

    /// Whether the window has any time in it at all.
    pub fn is_open_somewhere(self) -> bool {
        !self.days.is_empty() && self.start < self.end
    }
}

/// A delay such as `"2d"`, `"4h"` or `"0m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay(pub Duration);

/// The most steps a sequence may have; keeps every per-lead key range small
/// and bounded (erasure deletes touches by step without scanning).
pub const MAX_STEPS: usize = 20;

/// The longest gap a single step may wait; longer is almost certainly a typo.
const MAX_DELAY_DAYS: i64 = 90;

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let std = humantime::parse_duration(s.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not a delay ({e}); use e.g. \"0m\", \"4h\", \"2d\""
            ))
        })?;
        let dur = Duration::from_std(std)
            .ok()
            .filter(|d| *d <= Duration::days(MAX_DELAY_DAYS))
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "delay `{s}` is longer than {MAX_DELAY_DAYS} days"
                ))
            })?;
        Ok(Delay(dur))
    }
}

/// Variables a template may use. Missing lead values render as empty strings,
/// so `{{ company or "your team" }}` works.
pub const TEMPLATE_VARIABLES: &[&str] = &[
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "source",
    "fields",
    "sender_name",
    "sender_company",
    "booking_url",
];

/// Template source that has been compiled once and uses only known variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSource(pub String);

impl<'de> Deserialize<'de> for TemplateSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let src = String::deserialize(d)?;
        check_template(&src).map_err(serde::de::Error::custom)?;
        Ok(TemplateSource(src))
    }
}

/// Compiles a template and rejects variables that no lead will ever have.
fn check_template(src: &str) -> Result<(), String> {
    let env = Environment::new();
    let tmpl = env.template_from_str(src).map_err(|e| {
        format!(
            "template does not compile: {}",
            e.detail().unwrap_or("syntax error")
        )
    })?;
    let known: HashSet<&str> = TEMPLATE_VARIABLES.iter().copied().collect();
    let mut unknown: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !known.contains(v.as_str()))
        .collect();
    unknown.sort();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "undefined template variable{} `{}` (known: {})",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join("`, `"),
            TEMPLATE_VARIABLES.join(", ")
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequence {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    brief: Brief,
    window: Option<Spanned<RawWindow>>,
    email_footer: Option<TemplateSource>,
    rules: Option<Spanned<RawRules>>,
    steps: Spanned<Vec<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    nudge_after_open: Option<RawNudge>,
    clicked: Option<Spanned<String>>,
    on_cancel: Option<Spanned<String>>,
    #[serde(default)]
    hot: HotWeights,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNudge {
    step: Spanned<String>,
    after: Delay,
}

/// `[rules]`: how opens and clicks adapt the sequence (see the README).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// `nudge_after_open`: an engaged open activates this optional step.
    pub nudge_after_open: Option<NudgeRule>,
    /// `clicked = "pull-earlier"`: a click pulls the next touch to the next
    /// window start.
    pub pull_earlier_on_click: bool,
    /// `on_cancel = "step-id"`: a cancelled booking continues the sequence
    /// from this step (index); without it, from where the lead left off.
    pub on_cancel: Option<usize>,
    /// `[rules.hot]`: weights of the hot score.
    pub hot: HotWeights,
}

/// An open with no reply for `after` sends the optional step `step`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NudgeRule {
    /// Index of the optional step.
    pub step: usize,
    /// Wait after the open.
    pub after: Duration,
}

/// Points per engaged signal; the lead turns hot at `[engine] hot_threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotWeights {
    /// Per engaged open (machine opens never count).
    #[serde(default = "weight_opened")]
    pub opened: u32,
    /// Per engaged click.
    #[serde(default = "weight_clicked")]
    pub clicked: u32,
    /// Per reply.
    #[serde(default = "weight_replied")]
    pub replied: u32,
}

fn weight_opened() -> u32 {
    1
}

fn weight_clicked() -> u32 {
    3
}

fn weight_replied() -> u32 {
    10
}

impl Default for HotWeights {
    fn default() -> Self {
        HotWeights {
            opened: weight_opened(),
            clicked: weight_clicked(),
            replied: weight_replied(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    days: Spanned<Days>,
    start: LocalTime,
    end: Spanned<LocalTime>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    delay: Delay,
    channel: Channel,
    subject: Option<Spanned<TemplateSource>>,
    body: TemplateSource,
    #[serde(default)]
    ai: bool,
    #[serde(default)]
    optional: bool,
    html: Option<Spanned<bool>>,
    window: Option<Spanned<String>>,
    expires_after: Option<Delay>,
}

/// The voice and offer the AI personaliser writes in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    /// How the sender sounds.
    #[serde(default)]
    pub voice: String,
    /// What is on offer.
    #[serde(default)]
    pub offer: String,
}

/// One touch in a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique within the sequence.
    pub id: String,
    /// Wait after the previous step (after capture, for the first).
    pub delay: Duration,
    /// Channel.
    pub channel: Channel,
    /// Whether the LLM may rewrite the rendered text.
    pub ai: bool,
    /// Skipped unless a rule activates it (`[rules] nudge_after_open`).
    pub optional: bool,
    /// Send a text/html alternative next to the plain text (email only).
    pub html: bool,
    /// `window = "always"`: the step ignores the sequence's window and goes
    /// out at any hour (SMS and calls still keep 08:00–21:00 lead-local).
    pub any_hour: bool,
    /// Subject template source (email only).
    pub subject: Option<String>,
    /// Body template source.
    pub body: String,
    /// How long after it is due the touch is still worth sending
    /// (`expires_after = "2d"`); later it is skipped with a reason. `None`:
    /// no expiry, except SMS, which expires at the end of the same day's
    /// quiet-hours window.
    pub expires_after: Option<Duration>,
}

/// A validated sequence with its templates compiled.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// Name used by leads and on the command line.
    pub name: String,
    /// One line for `seq list`.
    pub description: String,
    /// AI brief.
    pub brief: Brief,
    /// Sending window in lead-local time.
    pub window: Window,
    /// Appended to every email body.
    pub email_footer: Option<String>,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Behaviour rules.
    pub rules: Rules,
    /// Compiled templates, shared so cloning a sequence is cheap.
    pub(crate) env: Arc<Environment<'static>>,
}

/// A sequence file problem, located precisely enough to fix without guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {field}: {message}")]
pub struct SequenceError {
    /// File path or label.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted field path, e.g. `steps[2].delay`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Sequence {
    /// Parses and validates sequence TOML. `file` labels errors; `default_name`
    /// (the file stem) is used when the file sets no `name`.
    pub fn parse(file: &str, src: &str, default_name: &str) -> Result<Sequence, SequenceError> {
        let err = |span: Option<Range<usize>>, message: String| {
            let (line, column, field) = locate(src, span);
            SequenceError {
                file: file.to_string(),
                line,
                column,
                field,
                message,
            }
        };
        let raw: RawSequence =
            toml::from_str(src).map_err(|e| err(e.span(), e.message().trim().to_string()))?;

        let window = match &raw.window {
            Some(w) => {
                let inner = w.get_ref();
                let window = Window {
                    days: *inner.days.get_ref(),
                    start: inner.start,
                    end: *inner.end.get_ref(),
                };
                if window.days.is_empty() {
                    return Err(err(Some(inner.days.span()), "no sending days".into()));
                }
                if window.start >= window.end {
                    return Err(err(
                        Some(inner.end.span()),
                        format!(
                            "window end {} must be after start {}",
                            window.end, window.start
                        ),
                    ));
                }
                window
            }
            None => Window {
                days: Days::WEEKDAYS,
                start: LocalTime::hm(9, 0),
                end: LocalTime::hm(17, 0),
            },
        };
        let window_span = raw
            .window
            .as_ref()
            .map(|w| w.get_ref().end.span())
            .or_else(|| Some(raw.steps.span()));

        if raw.steps.get_ref().is_empty() {
            return Err(err(
                Some(raw.steps.span()),
                "a sequence needs at least one step".into(),
            ));
        }
        if raw.steps.get_ref().len() > MAX_STEPS {
            return Err(err(
                Some(raw.steps.span()),
                format!(
                    "{} steps; a sequence may have at most {MAX_STEPS}",
                    raw.steps.get_ref().len()
                ),
            ));
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut seen = HashSet::new();
        let mut steps = Vec::new();
        let mut first_email_has_subject = None;
        for (i, raw_step) in raw.steps.get_ref().iter().enumerate() {
            let id = raw_step.id.get_ref().trim().to_string();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(
                    Some(raw_step.id.span()),
                    format!("step id `{id}` must be non-empty letters, digits, `-` or `_`"),
                ));
            }
            if !seen.insert(id.clone()) {
                return Err(err(
                    Some(raw_step.id.span()),
                    format!("duplicate step id `{id}`"),
                ));
            }
            if let Some(subject) = raw_step
                .subject
                .as_ref()
                .filter(|_| raw_step.channel != Channel::Email)
            {
                return Err(err(
                    Some(subject.span()),
                    format!(
                        "only email steps have a subject; this step is {}",
                        raw_step.channel
                    ),
                ));
            }
            if let Some(html) = raw_step
                .html
                .as_ref()
                .filter(|h| *h.get_ref() && raw_step.channel != Channel::Email)
            {
                return Err(err(
                    Some(html.span()),
                    format!(
                        "only email steps can have html; this step is {}",
                        raw_step.channel
                    ),
                ));
            }
            if raw_step.channel == Channel::Email && first_email_has_subject.is_none() {
                first_email_has_subject = Some(raw_step.subject.is_some());
                if raw_step.subject.is_none() {
                    return Err(err(
                        Some(raw_step.id.span()),
                        "the first email step needs a subject (later ones reply in its thread)"
                            .into(),
                    ));
                }
            }
            let any_hour = match raw_step.window.as_ref() {
                None => false,
                Some(w) => match w.get_ref().trim() {
                    "always" => true,
                    "sequence" => false,
                    other => {
                        return Err(err(
                            Some(w.span()),
                            format!(
                                "`{other}` is not a step window; use \"always\" (any hour, any day) or \"sequence\" (the [window] table)"
                            ),
                        ));
                    }
                },
            };
            if !any_hour && !window.for_channel(raw_step.channel).is_open_somewhere() {
                return Err(err(
                    window_span.clone(),
                    format!(
                        "the window {}–{} leaves no time for {} steps, which may only go out 08:00–21:00 lead-local",
                        window.start, window.end, raw_step.channel
                    ),
                ));
            }
            let subject = raw_step.subject.as_ref().map(|s| s.get_ref().0.clone());
            if let Some(subject) = &subject {
                env.add_template_owned(format!("{i}.subject"), subject.clone())
                    .map_err(|e| err(Some(raw_step.id.span()), e.to_string()))?;
            }
            env.add_template_owned(format!("{i}.body"), raw_step.body.0.clone())
                .map_err(|e| err(Some(raw_step.id.span()), e.to_string()))?;
            steps.push(Step {
                id,
                delay: raw_step.delay.0,
                channel: raw_step.channel,
                ai: raw_step.ai,
                optional: raw_step.optional,
                html: raw_step.html.as_ref().is_some_and(|h| *h.get_ref()),
                any_hour,
                subject,
                body: raw_step.body.0.clone(),
                expires_after: raw_step.expires_after.map(|d| d.0),
            });
        }
        let rules = match &raw.rules {
            Some(raw_rules) => parse_rules(raw_rules, &steps).map_err(|(span, m)| err(span, m))?,
            None => Rules::default(),
        };
        if let Some((step, raw_step)) = steps
            .iter()
            .zip(raw.steps.get_ref())
            .enumerate()
            .find(|(i, (s, _))| {
                s.optional
                    && rules.nudge_after_open.as_ref().map(|r| r.step) != Some(*i)
                    && rules.on_cancel != Some(*i)
            })
            .map(|(_, pair)| pair)
        {
            return Err(err(
                Some(raw_step.id.span()),
                format!(
                    "optional step `{}` is never sent: name it in [rules] nudge_after_open or on_cancel",
                    step.id
                ),
            ));
        }
        if let Some(footer) = &raw.email_footer {
            env.add_template_owned("footer", footer.0.clone())
                .map_err(|e| err(None, e.to_string()))?;
        }
        let name = raw
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_name.to_string());
        Ok(Sequence {
            name,
            description: raw.description.unwrap_or_default(),
            brief: raw.brief,
            window,
            email_footer: raw.email_footer.map(|f| f.0),
            steps,
            rules,
            env: Arc::new(env),
        })
    }

    /// Total time from capture to the last step, ignoring windows.
    pub fn span(&self) -> Duration {
        self.steps.iter().map(|s| s.delay).sum()
    }

    /// The window step `idx` actually goes out in: the sequence's, or any
    /// hour for a `window = "always"` step; SMS and calls clipped to
    /// 08:00–21:00 either way. An index past the end gets the sequence's.
    pub fn step_window(&self, idx: usize) -> Window {
        match self.steps.get(idx) {
            Some(step) if step.any_hour => Window::ALWAYS.for_channel(step.channel),
            Some(step) => self.window.for_channel(step.channel),
            None => self.window,
        }
    }

    /// Index of a step by id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

type Located = (Option<Range<usize>>, String);

/// Validates `[rules]` against the steps.
fn parse_rules(raw: &Spanned<RawRules>, steps: &[Step]) -> Result<Rules, Located> {
    let inner = raw.get_ref();
    let nudge_after_open = match &inner.nudge_after_open {
        Some(nudge) => {
            let id = nudge.step.get_ref().trim();
            let step = steps.iter().position(|s| s.id == id).ok_or_else(|| {
                (
                    Some(nudge.step.span()),
                    format!("no step has the id `{id}`"),
                )
            })?;
            if !steps[step].optional {
                return Err((
                    Some(nudge.step.span()),
                    format!(
                        "step `{id}` must be `optional = true`, or it would be sent to everyone anyway"
                    ),
                ));
            }
            Some(NudgeRule {
                step,
                after: nudge.after.0,
            })
        }
        None => None,
    };
    let pull_earlier_on_click = match &inner.clicked {
        Some(action) => match action.get_ref().trim() {
            "pull-earlier" => true,
            "none" => false,
            other => {
                return Err((
                    Some(action.span()),
                    format!("`{other}` is not a click rule; use \"pull-earlier\" or \"none\""),
                ));
            }
        },
        None => false,
    };
    let on_cancel = match &inner.on_cancel {
        Some(id) => {
            let name = id.get_ref().trim();
            Some(steps.iter().position(|s| s.id == name).ok_or_else(|| {
                (
                    Some(id.span()),
                    format!("no step has the id `{name}` (on_cancel names the step a cancelled booking continues from)"),
                )
            })?)
        }
        None => None,
    };
    Ok(Rules {
        nudge_after_open,
        pull_earlier_on_click,
        on_cancel,
        hot: inner.hot,
    })
}

#[cfg(test)]
mod tests;
