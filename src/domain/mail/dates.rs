//! Return dates in auto-replies: "until Monday", "back on 5 January",
//! "5th Jan", "January 5", "05/01", "2025-01-05", "10-31 July" (the end),
//! in English, German, French, Spanish, Portuguese, Italian, Dutch and
//! Polish. A tested heuristic: no date crate reads free text in eight
//! languages, and chrono does the calendar arithmetic.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// A return date and the words it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnDate {
    /// The first day the person is back (the next touch goes the morning after).
    pub date: NaiveDate,
    /// The phrase, for the timeline.
    pub phrase: String,
}

/// Longest look-ahead: an auto-reply saying "back in 4 months" is not
/// worth waiting for; `ooo_delay_hours` applies instead.
pub const MAX_DAYS_AHEAD: i64 = 60;

/// How to read `05/07`: day first (Europe) or month first (US).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `05/07` is 5 July.
    DayFirst,
    /// `05/07` is May 7.
    MonthFirst,
}

impl Order {
    /// Month first only for English text from a US-looking domain (`.us`,
    /// `.com`, `.net`, `.org`, `.edu`, `.gov`); everyone else writes the day first.
    pub fn guess(english: bool, sender_domain: &str) -> Order {
        let tld = sender_domain.rsplit('.').next().unwrap_or_default();
        let us = matches!(tld, "us" | "com" | "net" | "org" | "edu" | "gov");
        if english && us {
            Order::MonthFirst
        } else {
            Order::DayFirst
        }
    }
}

/// Words after which a text names the return date (or the last day away).
const RETURN_WORDS: &[&str] = &[
    "until",
    "till",
    "til",
    "through",
    "thru",
    "back",
    "return",
    "returning",
    "returns",
    "return:",
    "bis",
    "zurück",
    "wieder",
    "ab",
    "jusqu'au",
    "jusqu'à",
    "jusqu'a",
    "jusqu'",
    "retour",
    "dès",
    "hasta",
    "regreso",
    "regresaré",
    "vuelta",
    "volveré",
    "até",
    "retorno",
    "regresso",
    "volto",
    "fino",
    "rientro",
    "tornerò",
    "sarò",
    "tot",
    "terug",
    "vanaf",
    "weer",
    "do",
    "powrót",
    "wracam",
    "od",
    "reachable",
    "available",
    "office",
];

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("januar", 1),
    ("jänner", 1),
    ("janvier", 1),
    ("janv", 1),
    ("enero", 1),
    ("janeiro", 1),
    ("gennaio", 1),
    ("januari", 1),
    ("styczeń", 1),
    ("stycznia", 1),
    ("jan", 1),
    ("ene", 1),
    ("february", 2),
    ("februar", 2),
    ("février", 2),
    ("fevrier", 2),
    ("févr", 2),
    ("febrero", 2),
    ("fevereiro", 2),
    ("febbraio", 2),
    ("februari", 2),
    ("luty", 2),
    ("lutego", 2),
    ("feb", 2),
    ("fev", 2),
    ("fév", 2),
    ("march", 3),
    ("märz", 3),
    ("mars", 3),
    ("marzo", 3),
    ("março", 3),
    ("maart", 3),
    ("marzec", 3),
    ("marca", 3),
    ("mar", 3),
    ("mär", 3),
    ("mrz", 3),
    ("mrt", 3),
    ("april", 4),
    ("avril", 4),
    ("abril", 4),
    ("aprile", 4),
    ("kwiecień", 4),
    ("kwietnia", 4),
    ("apr", 4),
    ("avr", 4),
    ("abr", 4),
    ("may", 5),
    ("mai", 5),
    ("mayo", 5),
    ("maio", 5),
    ("maggio", 5),
    ("mei", 5),
    ("maj", 5),
    ("maja", 5),
    ("june", 6),
    ("juni", 6),
    ("juin", 6),
    ("junio", 6),
    ("junho", 6),
    ("giugno", 6),
    ("czerwiec", 6),
    ("czerwca", 6),
    ("jun", 6),
    ("july", 7),
    ("juli", 7),
    ("juillet", 7),
    ("juil", 7),
    ("julio", 7),
    ("julho", 7),
    ("luglio", 7),
    ("lipiec", 7),
    ("lipca", 7),
    ("jul", 7),
    ("august", 8),
    ("août", 8),
    ("aout", 8),
    ("agosto", 8),
    ("augustus", 8),
    ("sierpień", 8),
    ("sierpnia", 8),
    ("aug", 8),
    ("september", 9),
    ("septembre", 9),
    ("septiembre", 9),
    ("setiembre", 9),
    ("setembro", 9),
    ("settembre", 9),
    ("wrzesień", 9),
    ("września", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oktober", 10),
    ("octobre", 10),
    ("octubre", 10),
    ("outubro", 10),
    ("ottobre", 10),
    ("październik", 10),
    ("października", 10),
    ("oct", 10),
    ("okt", 10),
    ("november", 11),
    ("novembre", 11),
    ("noviembre", 11),
    ("novembro", 11),
    ("listopad", 11),
    ("listopada", 11),
    ("nov", 11),
    ("december", 12),
    ("dezember", 12),
    ("décembre", 12),
    ("decembre", 12),
    ("diciembre", 12),
    ("dezembro", 12),
    ("dicembre", 12),
    ("grudzień", 12),
    ("grudnia", 12),
    ("dec", 12),
    ("dez", 12),
    ("déc", 12),
    ("dic", 12),
];

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Mon),
    ("montag", Weekday::Mon),
    ("lundi", Weekday::Mon),
    ("lunes", Weekday::Mon),
    ("segunda", Weekday::Mon),
    ("segunda-feira", Weekday::Mon),
    ("lunedì", Weekday::Mon),
    ("maandag", Weekday::Mon),
    ("poniedziałek", Weekday::Mon),
    ("poniedziałku", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("dienstag", Weekday::Tue),
    ("mardi", Weekday::Tue),
    ("martes", Weekday::Tue),
    ("terça", Weekday::Tue),
    ("terça-feira", Weekday::Tue),
    ("martedì", Weekday::Tue),
    ("dinsdag", Weekday::Tue),
    ("wtorek", Weekday::Tue),
    ("wtorku", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("mittwoch", Weekday::Wed),
    ("mercredi", Weekday::Wed),
    ("miércoles", Weekday::Wed),
    ("quarta", Weekday::Wed),
    ("quarta-feira", Weekday::Wed),
    ("mercoledì", Weekday::Wed),
    ("woensdag", Weekday::Wed),
    ("środa", Weekday::Wed),
    ("środy", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("donnerstag", Weekday::Thu),
    ("jeudi", Weekday::Thu),
    ("jueves", Weekday::Thu),
    ("quinta", Weekday::Thu),
    ("quinta-feira", Weekday::Thu),
    ("giovedì", Weekday::Thu),
    ("donderdag", Weekday::Thu),
    ("czwartek", Weekday::Thu),
    ("czwartku", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("freitag", Weekday::Fri),
    ("vendredi", Weekday::Fri),
    ("viernes", Weekday::Fri),
    ("sexta", Weekday::Fri),
    ("sexta-feira", Weekday::Fri),
    ("venerdì", Weekday::Fri),
    ("vrijdag", Weekday::Fri),
    ("piątek", Weekday::Fri),
    ("piątku", Weekday::Fri),
];

/// The return date `text` names, if it names one no earlier than the day
/// after `sent` and at most [`MAX_DAYS_AHEAD`] after `today`. Year-less
/// dates are the next such day after `sent` (the auto-reply's own date).
/// The first date within six words after a return word wins; otherwise the
/// latest date named (the end of "from 1 July to 10 July").
pub fn return_date(
    text: &str,
    sent: NaiveDate,
    today: NaiveDate,
    order: Order,
) -> Option<ReturnDate> {
    let lower = text.to_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '"' | '*'))
        .filter(|t| !t.is_empty())
        .collect();
    let anchor = sent.min(today);
    let plausible = |d: NaiveDate| {
        d > anchor && d > today - Duration::days(1) && d <= today + Duration::days(MAX_DAYS_AHEAD)
    };
    let mut after_word: Option<ReturnDate> = None;
    let mut latest: Option<ReturnDate> = None;
    let mut since_word: Option<usize> = None;
    for i in 0..tokens.len() {
        let word = tokens[i].trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
        if RETURN_WORDS.contains(&word) {
            since_word = Some(0);
        }
        let found = date_at(&tokens[i..], anchor, order).or_else(|| {
            // A weekday only counts right after a return word ("until Monday").
            since_word
                .filter(|n| *n <= 2)
                .and_then(|_| weekday(word))
                .map(|w| (next_weekday(anchor, w), 1))
        });
        if let Some((date, used)) = found.filter(|(d, _)| plausible(*d)) {
            let start = i.saturating_sub(since_word.unwrap_or(0).min(4));
            let phrase = tokens[start..(i + used).min(tokens.len())].join(" ");
            let found = ReturnDate { date, phrase };
            if after_word.is_none() && since_word.is_some_and(|n| n <= 6) {
                after_word = Some(found.clone());
            }
            if latest.as_ref().is_none_or(|l| l.date < found.date) {
                latest = Some(found);
            }
        }
        since_word = since_word.map(|n| n + 1);
    }
    after_word.or(latest)
}

/// A date starting at `tokens[0]` and how many tokens it took.
fn date_at(tokens: &[&str], anchor: NaiveDate, order: Order) -> Option<(NaiveDate, usize)> {
    let first = tokens
        .first()?
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .trim_end_matches(['.', ';', ':', '!', '?']);
    let year_at = |i: usize| {
        tokens
            .get(i)
            .map(|t| t.trim_matches(|c: char| !c.is_ascii_digit()))
            .filter(|t| t.len() == 4)
            .and_then(|t| t.parse::<i32>().ok())
    };
    if let Some(date) = numeric(first, anchor, order) {
        return Some((date, 1));
    }
    // "july 10-31", "january 5th[, 2025]", "julho 5"
    if let Some(month) = month(first)
        && let Some(day) = tokens.get(1).and_then(|t| day(t))
    {
        let year = year_at(2);
        return Some((
            resolve(day, month, year, anchor)?,
            if year.is_some() { 3 } else { 2 },
        ));
    }
    // "5 january [2025]", "10-31 july", "5. januar", "5 de enero", "5th of jan"
    if let Some(day) = day(first) {
        let mut i = 1;
        if tokens
            .get(i)
            .is_some_and(|t| matches!(*t, "de" | "of" | "di"))
        {
            i += 1;
        }
        if let Some(month) = tokens.get(i).and_then(|t| month(t)) {
            let mut y = i + 1;
            if tokens.get(y).is_some_and(|t| *t == "de") {
                y += 1;
            }
            let year = year_at(y);
            let used = if year.is_some() { y + 1 } else { i + 1 };
            return Some((resolve(day, month, year, anchor)?, used));
        }
    }
    None
}

/// `2025-01-05`, `05.01.2025`, `5.1.`, `05/01/2025`, `05/01`, `5-1-25`.
fn numeric(token: &str, anchor: NaiveDate, order: Order) -> Option<NaiveDate> {
    if !token.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let sep = ['-', '/', '.'].into_iter().find(|s| token.contains(*s))?;
    let parts: Vec<&str> = token.split(sep).filter(|p| !p.is_empty()).collect();
    let nums: Vec<u32> = parts
        .iter()
        .map(|p| p.parse::<u32>())
        .collect::<Result<_, _>>()
        .ok()?;
    match (nums.as_slice(), parts.first().map(|p| p.len())) {
        ([y, m, d], Some(4)) => NaiveDate::from_ymd_opt(i32::try_from(*y).ok()?, *m, *d),
        ([a, b, y], _) => {
            let year = match *y {
                y @ 1000..=9999 => i32::try_from(y).ok()?,
                y @ 0..=99 => 2000 + i32::try_from(y).ok()?,
                _ => return None,
            };
            let (d, m) = day_month(*a, *b, sep, order);
            NaiveDate::from_ymd_opt(year, m, d)
        }
        // A range like "10-31" is a day span, never a date on its own.
        ([a, b], _) if sep != '-' => {
            let (d, m) = day_month(*a, *b, sep, order);
            resolve(d, m, None, anchor)
        }
        _ => None,
    }
}

/// Which of two numbers is the day: dots are always day first; an
/// impossible month settles it; otherwise the guessed order.
fn day_month(a: u32, b: u32, sep: char, order: Order) -> (u32, u32) {
    if sep == '.' || a > 12 {
        (a, b)
    } else if b > 12 {
        (b, a)
    } else {
        match order {
            Order::DayFirst => (a, b),
            Order::MonthFirst => (b, a),
        }
    }
}

fn month(token: &str) -> Option<u32> {
    let word = token.trim_end_matches(|c: char| !c.is_alphabetic());
    MONTHS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, m)| *m)
}

fn weekday(word: &str) -> Option<Weekday> {
    WEEKDAYS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, w)| *w)
}

/// A day of the month, or the end of a span ("10-31" → 31, "5th" → 5).
fn day(token: &str) -> Option<u32> {
    let token = token.trim_end_matches(['.', ',', ';', ':']);
    let token = token.rsplit(['-', '–']).next().unwrap_or(token);
    let token = ["st", "nd", "rd", "th", "er", "º", "e"]
        .iter()
        .find_map(|s| token.strip_suffix(s))
        .unwrap_or(token);
    token.parse::<u32>().ok().filter(|d| (1..=31).contains(d))
}

/// The first `weekday` after `anchor`.
fn next_weekday(anchor: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() as i64
        - anchor.weekday().num_days_from_monday() as i64)
        % 7;
    anchor + Duration::days(if ahead == 0 { 7 } else { ahead })
}

/// A day and month in `year`, or else their next occurrence after `anchor`.
fn resolve(day: u32, month: u32, year: Option<i32>, anchor: NaiveDate) -> Option<NaiveDate> {
    match year {
        Some(y) => NaiveDate::from_ymd_opt(y, month, day),
        None => NaiveDate::from_ymd_opt(anchor.year(), month, day)
            .filter(|d| *d > anchor)
            .or_else(|| NaiveDate::from_ymd_opt(anchor.year() + 1, month, day)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn read(text: &str, order: Order) -> Option<NaiveDate> {
        let today = d(2026, 6, 1);
        return_date(text, today, today, order).map(|r| r.date)
    }

    #[test]
    fn shapes_the_issue_names() {
        let eu = Order::DayFirst;
        // 2026-06-01 is a Monday.
        assert_eq!(read("I am away until Monday.", eu), Some(d(2026, 6, 8)));
        assert_eq!(read("Back on 5 July.", eu), Some(d(2026, 7, 5)));
        assert_eq!(read("returning 5th Jul", eu), Some(d(2026, 7, 5)));
        assert_eq!(read("I return July 5.", eu), Some(d(2026, 7, 5)));
        assert_eq!(read("back 05/07", eu), Some(d(2026, 7, 5)));
        // May 7 has passed, so the next one is 11 months out: too far.
        assert_eq!(read("back 05/07", Order::MonthFirst), None);
        assert_eq!(read("back on 2026-07-05", eu), Some(d(2026, 7, 5)));
        assert_eq!(read("travelling 10-31 July", eu), Some(d(2026, 7, 31)));
        assert_eq!(read("travelling July 10-31", eu), Some(d(2026, 7, 31)));
        assert_eq!(
            read("away until 06/07/2026", Order::MonthFirst),
            Some(d(2026, 6, 7))
        );
        assert_eq!(
            read("away until 13/06/2026", Order::MonthFirst),
            Some(d(2026, 6, 13))
        );
    }

    #[test]
    fn other_languages() {
        let eu = Order::DayFirst;
        assert_eq!(
            read("Ab dem 15.06.2026 bin ich wieder erreichbar", eu),
            Some(d(2026, 6, 15))
        );
        assert_eq!(read("Bis 4. Juli abwesend", eu), Some(d(2026, 7, 4)));
        assert_eq!(
            read("Je serai de retour le 3 juillet.", eu),
            Some(d(2026, 7, 3))
        );
        assert_eq!(
            read("Estaré fuera hasta el 3 de julio de 2026.", eu),
            Some(d(2026, 7, 3))
        );
        assert_eq!(
            read("Estou ausente até 3 de julho.", eu),
            Some(d(2026, 7, 3))
        );
        assert_eq!(
            read("Sarò in ufficio dal 3 luglio.", eu),
            Some(d(2026, 7, 3))
        );
        assert_eq!(read("Ik ben terug op 3 juli.", eu), Some(d(2026, 7, 3)));
        assert_eq!(read("Wracam 3 lipca.", eu), Some(d(2026, 7, 3)));
        assert_eq!(
            read("Je suis absent jusqu'au vendredi.", eu),
            Some(d(2026, 6, 5))
        );
    }

    #[test]
    fn past_far_and_missing_dates_are_not_return_dates() {
        let eu = Order::DayFirst;
        assert_eq!(read("back on 2025-01-01", eu), None);
        assert_eq!(
            read("back on 2026-12-01", eu),
            None,
            "more than 60 days out"
        );
        assert_eq!(read("I am travelling, limited access", eu), None);
        // A year-less date is the next one after the message.
        let sent = d(2026, 12, 20);
        let r = return_date("back on 5 January", sent, sent, eu).map(|r| r.date);
        assert_eq!(r, Some(d(2027, 1, 5)));
    }

    #[test]
    fn the_phrase_is_kept() {
        let today = d(2026, 6, 1);
        let r = return_date(
            "I am out and back on 5 July, thanks",
            today,
            today,
            Order::DayFirst,
        )
        .unwrap();
        assert_eq!(r.phrase, "back on 5 july");
    }

    #[test]
    fn order_from_language_and_domain() {
        assert_eq!(Order::guess(true, "mail.example.com"), Order::MonthFirst);
        assert_eq!(Order::guess(true, "example.co.uk"), Order::DayFirst);
        assert_eq!(Order::guess(false, "example.com"), Order::DayFirst);
    }
}
